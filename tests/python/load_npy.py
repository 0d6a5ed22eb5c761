"""Prints, as JSON, every .npy file of a directory as numpy reads it.

    python3 load_npy.py DIR

Output: {"NAME": {"dtype": "f32", "shape": [...], "data": [...], "fortran_order": false}, …}
with floats as repr() writes them and NaN/Infinity as strings, like `tfg run --json`.
"""
import json
import os
import sys

import numpy as np

TFG = {"float32": "f32", "float64": "f64", "int32": "i32", "int64": "i64", "bool": "bool"}


def value(x):
    if isinstance(x, float) and not np.isfinite(x):
        return "NaN" if np.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    return x


out = {}
directory = sys.argv[1]
for entry in sorted(os.listdir(directory)):
    if entry.endswith(".npy"):
        a = np.load(os.path.join(directory, entry))
        out[entry[:-4]] = {
            "dtype": TFG[str(a.dtype)],
            "shape": list(a.shape),
            "data": [value(x) for x in a.ravel().tolist()],
            "fortran_order": bool(a.flags.f_contiguous and not a.flags.c_contiguous),
        }
print(json.dumps(out))
