"""numpy's float `%` (np.mod) on pairs of special and ordinary values: signed
zeros, infinities, NaN, tiny and huge magnitudes. Pairs of finite values whose
quotient exceeds 2^20 are left out: tfg computes `a - floor(a / b) * b`,
which loses the exact remainder numpy's fmod keeps there (docs/language.md).
Writes into DIR, per dtype (f32, f64), a_DT.npy and b_DT.npy (the pairs) and
want_DT.npy (np.mod's result). tests/breadth.rs holds tfg to it: special results
exactly, ordinary ones up to the rounding of `floor(a / b) * b`.

usage: remainder_cases.py DIR
"""

import os
import sys

import numpy as np

out_dir = sys.argv[1]
values = [0.0, -0.0, 1.0, -1.0, 3.0, -3.0, 2.5, -0.7, 1e30, -1e30, 1e-30, -1e-30,
          np.inf, -np.inf, np.nan]


def small_quotient(a, b):
    return not (np.isfinite(a) and np.isfinite(b) and b != 0 and abs(a / b) > 2.0**20)


pairs = [(a, b) for a in values for b in values if small_quotient(a, b)]
for dtype, name in [(np.float32, "f32"), (np.float64, "f64")]:
    a = np.array([p[0] for p in pairs], dtype=dtype)
    b = np.array([p[1] for p in pairs], dtype=dtype)
    with np.errstate(all="ignore"):
        want = np.mod(a, b)
    np.save(os.path.join(out_dir, f"a_{name}.npy"), a)
    np.save(os.path.join(out_dir, f"b_{name}.npy"), b)
    np.save(os.path.join(out_dir, f"want_{name}.npy"), want)
