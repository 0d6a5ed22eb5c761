"""numpy references for the 3 x 3 convolutions tfg computes by Winograd's
F(2x2, 3x3) (at least 32 input and output channels, 36 output tiles).
Writes into DIR, for each case k: conv{k}.tfg (one conv2d), x{k}.npy and
w{k}.npy (f32 inputs), and cases.json: the output's float64 value by a
direct sum over the 9 taps, with the case's padding.

usage: winograd_cases.py DIR SEED
"""

import json
import os
import sys

import numpy as np

out_dir, seed = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(seed)

# (x shape NHWC, output channels, padding as tfg writes it, [(top, bottom), (left, right)])
CASES = [
    ([1, 12, 12, 32], 32, '"same"', [(1, 1), (1, 1)]),
    ([2, 13, 14, 32], 40, '"same"', [(1, 1), (1, 1)]),  # odd rows: a half tile
    ([1, 14, 15, 48], 32, '"valid"', [(0, 0), (0, 0)]),
    ([1, 15, 12, 33], 35, "[[2, 0], [1, 3]]", [(2, 0), (1, 3)]),
]


def conv(x, w, pads):
    (t, b), (l, r) = pads
    xp = np.pad(x, [(0, 0), (t, b), (l, r), (0, 0)])
    oh, ow = xp.shape[1] - 2, xp.shape[2] - 2
    y = np.zeros((x.shape[0], oh, ow, w.shape[3]))
    for i in range(3):
        for j in range(3):
            y += np.tensordot(xp[:, i:i + oh, j:j + ow, :], w[i, j], axes=([3], [0]))
    return y


cases = []
for k, (xs, kout, padding, pads) in enumerate(CASES):
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal([3, 3, xs[3], kout]) / np.sqrt(9 * xs[3])).astype(np.float32)
    np.save(os.path.join(out_dir, f"x{k}.npy"), x)
    np.save(os.path.join(out_dir, f"w{k}.npy"), w)
    y = conv(x.astype(np.float64), w.astype(np.float64), pads)
    dims = lambda s: ", ".join(map(str, s))
    with open(os.path.join(out_dir, f"conv{k}.tfg"), "w") as f:
        f.write(f"graph conv {{\n    input x: f32[{dims(xs)}]\n    input w: f32[{dims(w.shape)}]\n"
                f"    output y = conv2d(x, w, padding = {padding})\n}}\n")
    cases.append({"shape": list(y.shape), "data": y.ravel().tolist()})
with open(os.path.join(out_dir, "cases.json"), "w") as f:
    json.dump(cases, f)
