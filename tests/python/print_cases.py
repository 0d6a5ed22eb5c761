"""Random arrays for comparing `tfg run`'s text output with numpy's printing.

    python3 print_cases.py OUTDIR SEED COUNT

Writes OUTDIR/cases.tfg (a graph whose outputs are its inputs v0, v1, …),
OUTDIR/vK.npy (the feeds) and OUTDIR/expected.txt (what `tfg run` must print:
`NAME = ` + numpy's `array2string` with that prefix, or `str` of a scalar,
then ` : TYPE`).
"""
import os
import sys

import numpy as np

out, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(seed)
TFG = {np.float32: "f32", np.float64: "f64", np.int32: "i32", np.int64: "i64", np.bool_: "bool"}


def floats(n):
    kind = rng.integers(0, 7)
    if kind == 0:
        x = rng.standard_normal(n)
    elif kind == 1:
        x = rng.standard_normal(n) * 10.0 ** rng.integers(-12, 12)
    elif kind == 2:
        x = rng.integers(-100, 100, n).astype(float)
    elif kind == 3:
        x = np.exp(rng.uniform(-30, 30, n)) * rng.choice([-1, 1], n)
    elif kind == 4:
        x = rng.integers(-5, 5, n) / 4
    elif kind == 5:
        x = rng.uniform(0, 1e-3, n)
    else:
        x = rng.standard_normal(n)
        x[rng.random(n) < 0.3] = rng.choice([np.nan, np.inf, -np.inf, 0.0, -0.0])
    return x


decls, expected = [], []
for k in range(count):
    rank = int(rng.integers(0, 4))
    shape = tuple(int(s) for s in rng.integers(1, 6 if rank > 1 else 30, rank))
    if k % 25 == 0 and rank:
        shape = (1100,) + shape[1:]  # past numpy's threshold: summarised with `...`
    n = int(np.prod(shape))
    dtype = [np.float32, np.float64, np.int32, np.int64, np.bool_][k % 5]
    if dtype in (np.float32, np.float64):
        a = floats(n).astype(dtype)
    elif dtype is np.bool_:
        a = rng.random(n) < 0.5
    else:
        bound = 10 ** int(rng.integers(1, 9))
        a = rng.integers(-bound, bound, n).astype(dtype)
    a = a.reshape(shape)
    name = f"v{k}"
    np.save(os.path.join(out, name + ".npy"), a)
    dims = ", ".join(map(str, shape))
    ty = TFG[dtype] + (f"[{dims}]" if shape else "")
    decls.append(f"    input {name}: {ty}")
    text = str(a[()]) if a.shape == () else np.array2string(a, prefix=f"{name} = ")
    expected.append(f"{name} = {text} : {ty}")

names = ", ".join(f"v{k}" for k in range(count))
with open(os.path.join(out, "cases.tfg"), "w") as f:
    f.write("graph cases {\n" + "\n".join(decls) + f"\n    output {names}\n}}\n")
with open(os.path.join(out, "expected.txt"), "w") as f:
    f.write("\n".join(expected) + "\n")
