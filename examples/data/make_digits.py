#!/usr/bin/env python3
"""Writes the UCI hand-written digits (as bundled with scikit-learn: 1797 8x8
images) as .npy files for examples/mlp_digits.tfg.

Pixels are scaled from 0..16 to 0..1 and flattened to 64 features; labels are
i32. A seeded shuffle splits 1437 training and 360 test images (80/20).
Usage: pip install numpy scikit-learn && python3 make_digits.py
"""
import os
import numpy as np
from sklearn.datasets import load_digits

here = os.path.dirname(os.path.abspath(__file__))
d = load_digits()
x = (d.data / 16.0).astype(np.float32)
y = d.target.astype(np.int32)
order = np.random.default_rng(0).permutation(len(y))
x, y = x[order], y[order]
n_train = 1437
for name, arr in [("digits_train_x", x[:n_train]), ("digits_train_y", y[:n_train]),
                  ("digits_test_x", x[n_train:]), ("digits_test_y", y[n_train:])]:
    np.save(os.path.join(here, name + ".npy"), arr)
    print(name, arr.dtype, arr.shape)
