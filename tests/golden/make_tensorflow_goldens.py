"""Goldens from TensorFlow itself for the ops tfg follows it on: convolution,
depthwise convolution, pooling, and the tf.compat.v1.train optimizers with
exponential_decay and clip_by_global_norm.

Run once with TensorFlow installed (the goldens were made with 2.21):

    python3 -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu
    /tmp/tf/bin/python tests/golden/make_tensorflow_goldens.py

It writes tests/golden/tensorflow.json, which tests/breadth.rs reads, so the
tests themselves need no TensorFlow. Inputs are float32 and stored in the
file with the results.
"""

import json
import os

import numpy as np
import tensorflow as tf

rng = np.random.default_rng(2026)


def tensor(a):
    a = np.asarray(a)
    return {"shape": list(a.shape), "data": [float(v) for v in a.reshape(-1)]}


def conv_cases():
    # (x shape, w shape, tfg keyword arguments, how TensorFlow computes it)
    specs = [
        ((2, 7, 6, 3), (3, 3, 3, 4), 'stride = 1, padding = "valid"',
         lambda x, w: tf.nn.conv2d(x, w, 1, "VALID")),
        ((1, 8, 8, 2), (3, 2, 2, 5), 'stride = 2, padding = "same"',
         lambda x, w: tf.nn.conv2d(x, w, 2, "SAME")),
        ((2, 9, 7, 3), (2, 3, 3, 4), 'stride = [2, 1], padding = "same"',
         lambda x, w: tf.nn.conv2d(x, w, [1, 2, 1, 1], "SAME")),
        ((1, 9, 9, 2), (3, 3, 2, 3), 'padding = [[1, 2], [0, 1]], dilation = 2',
         lambda x, w: tf.nn.conv2d(x, w, 1, [[0, 0], [1, 2], [0, 1], [0, 0]], dilations=2)),
        ((1, 7, 7, 2), (3, 3, 2, 2), 'padding = "same", dilation = [2, 1]',
         lambda x, w: tf.nn.conv2d(x, w, 1, "SAME", dilations=[1, 2, 1, 1])),
        # Depthwise: groups = C, one filter a channel (tf.nn.depthwise_conv2d
        # takes the filter as [KH, KW, C, 1]).
        ((2, 6, 6, 4), (3, 3, 1, 4), 'padding = "same", groups = 4',
         lambda x, w: tf.nn.depthwise_conv2d(
             x, tf.transpose(w, [0, 1, 3, 2]), [1, 1, 1, 1], "SAME")),
        ((1, 8, 7, 3), (3, 3, 1, 3), 'stride = 2, padding = "valid", groups = 3',
         lambda x, w: tf.nn.depthwise_conv2d(
             x, tf.transpose(w, [0, 1, 3, 2]), [1, 2, 2, 1], "VALID")),
        # Grouped: two groups of two channels, three filters each.
        ((1, 6, 5, 4), (2, 2, 2, 6), 'padding = "same", groups = 2',
         lambda x, w: tf.nn.conv2d(x, w, 1, "SAME")),
    ]
    out = []
    for xs, ws, kwargs, f in specs:
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal(ws).astype(np.float32)
        y = f(tf.constant(x), tf.constant(w)).numpy()
        out.append({"x": tensor(x), "w": tensor(w), "kwargs": kwargs, "y": tensor(y)})
    return out


def pool_cases():
    specs = [
        ("max_pool", "2", lambda x: tf.nn.max_pool2d(x, 2, 2, "VALID")),
        ("max_pool", '3, stride = 2, padding = "same"', lambda x: tf.nn.max_pool2d(x, 3, 2, "SAME")),
        ("max_pool", '[2, 3], stride = [1, 2], padding = "same"',
         lambda x: tf.nn.max_pool2d(x, [2, 3], [1, 2], "SAME")),
        ("avg_pool", "2", lambda x: tf.nn.avg_pool2d(x, 2, 2, "VALID")),
        ("avg_pool", '3, stride = 2, padding = "same"', lambda x: tf.nn.avg_pool2d(x, 3, 2, "SAME")),
        ("avg_pool", '[3, 2], stride = 1, padding = "same"',
         lambda x: tf.nn.avg_pool2d(x, [3, 2], 1, "SAME")),
    ]
    out = []
    for name, args, f in specs:
        x = rng.standard_normal((2, 7, 6, 3)).astype(np.float32)
        y = f(tf.constant(x)).numpy()
        out.append({"x": tensor(x), "call": f"{name}(x, {args})", "y": tensor(y)})
    return out


def optimizer_cases():
    tf1 = tf.compat.v1
    tf1.disable_eager_execution()
    x = rng.standard_normal((4, 3)).astype(np.float32)
    y = rng.standard_normal((4,)).astype(np.float32)
    w0 = rng.standard_normal((3,)).astype(np.float32)
    b0 = np.float32(0.3)
    # (tfg optimizer text, clip_norm or None, TensorFlow optimizer from a learning rate)
    specs = [
        ("rmsprop(lr = 0.01)", None, lambda lr: tf1.train.RMSPropOptimizer(lr)),
        ("rmsprop(lr = 0.05, decay = 0.8, momentum = 0.5, eps = 1e-6)", None,
         lambda lr: tf1.train.RMSPropOptimizer(lr, decay=0.8, momentum=0.5, epsilon=1e-6)),
        ("adagrad(lr = 0.1)", None, lambda lr: tf1.train.AdagradOptimizer(lr)),
        ("adagrad(lr = 0.3, initial_accumulator_value = 0.5)", None,
         lambda lr: tf1.train.AdagradOptimizer(lr, initial_accumulator_value=0.5)),
        ("sgd(lr = exponential_decay(0.1, 3, 0.5))", None,
         lambda lr: tf1.train.GradientDescentOptimizer(lr)),
        ("momentum(lr = exponential_decay(0.1, 2, 0.7, staircase = true))", None,
         lambda lr: tf1.train.MomentumOptimizer(lr, 0.9)),
        ("sgd(lr = 0.1)", 0.5, lambda lr: tf1.train.GradientDescentOptimizer(lr)),
        ("adam(lr = exponential_decay(0.05, 4, 0.9))", 1.0,
         lambda lr: tf1.train.AdamOptimizer(lr)),
    ]
    steps = 8
    out = []
    for text, clip, make in specs:
        graph = tf.Graph()
        with graph.as_default():
            w = tf1.Variable(w0, name="w")
            b = tf1.Variable(b0, name="b")
            loss = tf.reduce_mean(tf.square(tf.linalg.matvec(x, w) + b - y))
            step = tf1.train.get_or_create_global_step()
            if "exponential_decay" in text:
                args = text.split("exponential_decay(")[1].split(")")[0].split(", ")
                lr = tf1.train.exponential_decay(
                    float(args[0]), step, int(args[1]), float(args[2]),
                    staircase=len(args) > 3)
            else:
                lr = float(text.split("lr = ")[1].split(",")[0].rstrip(")"))
            opt = make(lr)
            grads = opt.compute_gradients(loss, [w, b])
            if clip is not None:
                clipped, _ = tf.clip_by_global_norm([g for g, _ in grads], clip)
                grads = list(zip(clipped, [v for _, v in grads]))
            train = opt.apply_gradients(grads, global_step=step)
            with tf1.Session() as sess:
                sess.run(tf1.global_variables_initializer())
                for _ in range(steps):
                    sess.run(train)
                wv, bv = sess.run([w, b])
        out.append({
            "optimizer": text,
            "clip_norm": clip,
            "steps": steps,
            "w": tensor(wv),
            "b": tensor(bv),
        })
    return {"x": tensor(x), "y": tensor(y), "w0": tensor(w0), "b0": float(b0),
            "cases": out}


goldens = {
    "tensorflow": tf.__version__,
    "conv2d": conv_cases(),
    "pool": pool_cases(),
    "optimizers": optimizer_cases(),
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tensorflow.json")
with open(path, "w") as f:
    json.dump(goldens, f, indent=None, separators=(",", ":"))
    f.write("\n")
print(f"wrote {path}")
