#!/usr/bin/env python3
"""Writes the small .npy files the tests in tests/train.rs feed.
Usage: pip install numpy && python3 make_data.py
"""
import os
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
np.save(os.path.join(here, "eight.npy"), np.arange(8, dtype=np.float32))
np.save(os.path.join(here, "five.npy"), np.arange(1, 6, dtype=np.float32))
np.save(os.path.join(here, "three.npy"), np.arange(1, 4, dtype=np.float32))
