#!/usr/bin/env python3
"""W7 (conv2d forward, x f32[32, 28, 28, 32], w f32[3, 3, 32, 64], "same") and the
digits CNN's training step at batch 128: tfg against jax.jit, alternating A B A B in
one run. tfg's figure is the median `run_ms` of `--bench`; jax's the median of its
steady-state calls.

usage: bench/conv.py TFG_BINARY PYTHON_WITH_JAX [ROUNDS]
"""
import json, os, subprocess, sys, tempfile
import numpy as np

tfg, jax_python = sys.argv[1], sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
tmp = tempfile.mkdtemp()
rng = np.random.default_rng(0)
np.save(f"{tmp}/x.npy", rng.standard_normal((32, 28, 28, 32)).astype(np.float32))
np.save(f"{tmp}/w.npy", rng.standard_normal((3, 3, 32, 64)).astype(np.float32) * 0.1)

def timing(out):
    at = out.rindex('"timing": ')
    return json.loads(out[at + len('"timing": '):].rstrip()[:-1])

def tfg_w7():
    r = subprocess.run([tfg, "run", f"{root}/bench/workloads/w7_conv2d.tfg", "--feed", f"x={tmp}/x.npy",
                        "--feed", f"w={tmp}/w.npy", "--bench", "10", "--json"], capture_output=True, text=True, check=True)
    return timing(r.stdout)["run_ms"]["median"]

def tfg_cnn():
    r = subprocess.run([tfg, "train", f"{root}/bench/workloads/w7_cnn_step.tfg", "--bench", "20", "--json"],
                       capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr)
    return timing(r.stdout)["run_ms"]["median"]

JAX = r'''
import json, sys, time, numpy as np, jax, jax.numpy as jnp
def med(f, n):
    f(); ts = []
    for _ in range(n):
        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    ts.sort(); return ts[len(ts) // 2] * 1e3
x = jnp.asarray(np.load(sys.argv[1])); w = jnp.asarray(np.load(sys.argv[2]))
conv = jax.jit(lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")))
w7 = med(lambda: conv(x, w).block_until_ready(), 10)
r = np.random.default_rng(1)
p = dict(k1=jnp.asarray(r.normal(0, .3, (3, 3, 1, 16)), jnp.float32), c1=jnp.zeros(16), k2=jnp.asarray(r.normal(0, .1, (3, 3, 16, 32)), jnp.float32),
         c2=jnp.zeros(32), w=jnp.asarray(r.normal(0, .1, (128, 10)), jnp.float32), b=jnp.zeros(10))
xb = jnp.asarray(r.random((128, 64)), jnp.float32); yb = jnp.asarray(r.integers(0, 10, 128))
def pool(h): return jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
def cv(h, k): return jax.lax.conv_general_dilated(h, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
def loss(p, x, y):
    h = x.reshape(-1, 8, 8, 1)
    h = pool(jax.nn.relu(cv(h, p["k1"]) + p["c1"])); h = pool(jax.nn.relu(cv(h, p["k2"]) + p["c2"]))
    logits = h.reshape(-1, 128) @ p["w"] + p["b"]
    return -jnp.mean(jnp.sum(jax.nn.one_hot(y, 10) * jax.nn.log_softmax(logits), 1))
@jax.jit
def step(p, x, y):
    g = jax.grad(loss)(p, x, y); return jax.tree_util.tree_map(lambda a, b: a - 0.01 * b, p, g)
cnn = med(lambda: jax.tree_util.tree_map(lambda a: a.block_until_ready(), step(p, xb, yb)), 20)
print(json.dumps({"w7": w7, "cnn": cnn}))
'''
with open(f"{tmp}/peer.py", "w") as f:
    f.write(JAX)

rows = {"w7": ([], []), "cnn": ([], [])}
for _ in range(rounds):
    rows["w7"][0].append(tfg_w7())
    rows["cnn"][0].append(tfg_cnn())
    out = subprocess.run([jax_python, f"{tmp}/peer.py", f"{tmp}/x.npy", f"{tmp}/w.npy"], capture_output=True, text=True, check=True)
    j = json.loads(out.stdout.strip().splitlines()[-1])
    rows["w7"][1].append(j["w7"]); rows["cnn"][1].append(j["cnn"])
print(f"{'workload':<44} {'tfg ms':>8} {'jax.jit ms':>10} {'tfg/jax':>8}")
for name, label in [("w7", "W7 conv2d 32x28x28x32 * 3x3x32x64, same"), ("cnn", "digits CNN sgd train step, batch 128")]:
    a, b = np.median(rows[name][0]), np.median(rows[name][1])
    print(f"{label:<44} {a:>8.2f} {b:>10.2f} {a / b:>8.2f}")
