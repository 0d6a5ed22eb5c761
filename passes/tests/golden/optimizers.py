"""Expected training trajectories for passes/tests/train_step.rs.

A numpy float64 re-implementation of TensorFlow's tf.compat.v1.train
GradientDescentOptimizer, MomentumOptimizer and AdamOptimizer, written from
their documented update rules, on a small linear regression:

    pred = x @ w + b,  loss = mean((pred - y)**2)

with hand-derived gradients. Writes optimizers.json next to this file.
Run: python3 passes/tests/golden/optimizers.py
"""

import json
import os

import numpy as np

STEPS = 40


def f32(a):
    # The Rust test feeds f32 tensors; start from the same rounded values.
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def problem(rng):
    n, d, k = 16, 3, 2
    x = f32(rng.normal(size=(n, d)))
    true_w = rng.normal(size=(d, k))
    y = f32(x @ true_w + 0.5 + 0.1 * rng.normal(size=(n, k)))
    w = f32(0.1 * rng.normal(size=(d, k)))
    b = f32(np.zeros(k) + 0.2)
    return x, y, w, b


def loss_and_grads(x, y, w, b):
    r = x @ w + b - y
    loss = np.mean(r**2)
    scale = 2.0 / r.size
    return loss, scale * x.T @ r, scale * r.sum(axis=0)


def train(x, y, w, b, optimizer):
    kind = optimizer["kind"]
    params = [w.copy(), b.copy()]
    slots = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    losses, ws, bs = [], [], []
    for t in range(1, STEPS + 1):
        loss, *grads = loss_and_grads(x, y, *params)
        for p, g, s in zip(params, grads, slots):
            if kind == "sgd":
                p -= optimizer["lr"] * g
            elif kind == "momentum":
                s[0][...] = optimizer["beta"] * s[0] + g
                p -= optimizer["lr"] * s[0]
            elif kind == "adam":
                b1, b2 = optimizer["beta1"], optimizer["beta2"]
                lr_t = optimizer["lr"] * np.sqrt(1 - b2**t) / (1 - b1**t)
                s[0][...] = b1 * s[0] + (1 - b1) * g
                s[1][...] = b2 * s[1] + (1 - b2) * g * g
                p -= lr_t * s[0] / (np.sqrt(s[1]) + optimizer["eps"])
        losses.append(loss)
        ws.append(params[0].ravel().tolist())
        bs.append(params[1].ravel().tolist())
    return {"optimizer": optimizer, "loss": losses, "w": ws, "b": bs}


def main():
    rng = np.random.default_rng(20240613)
    x, y, w, b = problem(rng)
    optimizers = [
        {"kind": "sgd", "lr": 0.05},
        {"kind": "momentum", "lr": 0.02, "beta": 0.9},
        {"kind": "adam", "lr": 0.05, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
        {"kind": "adam", "lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-3},
    ]
    golden = {
        "x": {"shape": list(x.shape), "data": x.ravel().tolist()},
        "y": {"shape": list(y.shape), "data": y.ravel().tolist()},
        "w": {"shape": list(w.shape), "data": w.ravel().tolist()},
        "b": {"shape": list(b.shape), "data": b.ravel().tolist()},
        "steps": STEPS,
        "runs": [train(x, y, w, b, o) for o in optimizers],
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optimizers.json")
    with open(path, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
