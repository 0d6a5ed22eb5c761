#!/usr/bin/env python3
"""Writes a small linear-regression data set for examples/linear_regression.tfg.

256 points x ~ U(-1, 1)^3 and y = x . w + b + noise, noise ~ N(0, 0.05^2),
with the true w and b in linear_truth.json, so a test can check that
training recovers them. Seeded: running it again writes the same files.
Usage: pip install numpy && python3 make_linear.py
"""
import json
import os
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(42)
w = np.array([2.0, -3.5, 0.5])
b = 1.25
x = rng.uniform(-1.0, 1.0, size=(256, 3))
y = x @ w + b + rng.normal(0.0, 0.05, size=256)
np.save(os.path.join(here, "linear_x.npy"), x.astype(np.float32))
np.save(os.path.join(here, "linear_y.npy"), y.astype(np.float32))
with open(os.path.join(here, "linear_truth.json"), "w") as f:
    json.dump({"w": w.tolist(), "b": b, "noise_std": 0.05}, f)
    f.write("\n")
print("linear_x", x.shape, "linear_y", y.shape)
