"""numpy references for the builtins added for real models (elementwise,
reductions, shape, indexing). Writes into DIR: cases.tfg (one graph whose
outputs are the cases), one .npy file an input, and expected.json mapping
each output to numpy's float64 result and the tolerance it is held to
(SPEC: 1e-5 relative for elementwise work, 1e-4 for reductions).

usage: breadth_cases.py DIR SEED
"""

import json
import math
import os
import sys

import numpy as np

out_dir, seed = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(seed)

inputs = {
    "a": rng.standard_normal((3, 5)).astype(np.float32) * 2,
    "p": rng.uniform(0.01, 3.0, (3, 5)).astype(np.float32),
    "t": rng.uniform(-1e-4, 1e-4, (3, 5)).astype(np.float32),
    "c": rng.standard_normal(6).astype(np.float32),
    "ib": rng.integers(0, 2, (3, 5)).astype(bool),
    "ii": rng.integers(-9, 10, (3, 5)).astype(np.int32),
    "idx": np.array([[0, 4, 2], [7, -3, 1]], dtype=np.int32),
}
types = {"float32": "f32", "int32": "i32", "bool": "bool"}
for name, v in inputs.items():
    np.save(os.path.join(out_dir, f"{name}.npy"), v)

a, p, t, c = (inputs[k].astype(np.float64) for k in "aptc")
ib, ii, idx = inputs["ib"], inputs["ii"], inputs["idx"]
erf = np.vectorize(math.erf)

ELEMENTWISE, REDUCTION = 1e-5, 1e-4
# (tfg expression, numpy result, relative tolerance)
cases = [
    ("log1p(p)", np.log1p(p), ELEMENTWISE),
    ("log1p(t)", np.log1p(t), ELEMENTWISE),
    ("log1p(a)", np.log1p(np.where(a > -1, a, np.nan)), ELEMENTWISE),
    ("expm1(a)", np.expm1(a), ELEMENTWISE),
    ("expm1(t)", np.expm1(t), ELEMENTWISE),
    ("erf(a)", erf(a), ELEMENTWISE),
    ("erf(t)", erf(t), ELEMENTWISE),
    ("softplus(a)", np.logaddexp(0, a), ELEMENTWISE),
    ("softplus(a * 30.0)", np.logaddexp(0, a * 30), ELEMENTWISE),
    ("silu(a)", a / (1 + np.exp(-a)), ELEMENTWISE),
    ("elu(a)", np.where(a > 0, a, np.expm1(a)), ELEMENTWISE),
    ("leaky_relu(a)", np.where(a > 0, a, 0.2 * a), ELEMENTWISE),
    ("leaky_relu(a, alpha = 0.01)", np.where(a > 0, a, 0.01 * a), ELEMENTWISE),
    ("gelu(a)", 0.5 * a * (1 + erf(a / math.sqrt(2))), ELEMENTWISE),
    ("gelu(a * 3.0)", 0.5 * 3 * a * (1 + erf(3 * a / math.sqrt(2))), ELEMENTWISE),
    ("gelu(a, approximate = true)",
     0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a ** 3))), ELEMENTWISE),
    ("clip(a, -0.5, 0.7)", np.clip(a, -0.5, 0.7), ELEMENTWISE),
    ("clip(ii, -2, 3)", np.clip(ii, -2, 3), 0.0),
    ("a % 0.7", np.mod(a, 0.7), ELEMENTWISE),
    ("a % -1.3", np.mod(a, -1.3), ELEMENTWISE),
    ("ii % 4", np.mod(ii, 4), 0.0),
    ("ii % -3", np.mod(ii, -3), 0.0),
    ("logical_and(ib, a > 0)", np.logical_and(ib, a > 0), 0.0),
    ("logical_or(ib, a > 0)", np.logical_or(ib, a > 0), 0.0),
    ("logsumexp(a, axis = 1)", np.log(np.exp(a).sum(1)), REDUCTION),
    ("logsumexp(a * 100.0)", np.log(np.exp(a * 100 - (a * 100).max()).sum()) + (a * 100).max(),
     REDUCTION),
    ("logsumexp(a, 0, keepdims = true)", np.log(np.exp(a).sum(0, keepdims=True)), REDUCTION),
    ("var(a, 0)", a.var(0), REDUCTION),
    ("var(a, axis = 1, keepdims = true)", a.var(1, keepdims=True), REDUCTION),
    ("std(a)", a.std(), REDUCTION),
    ("std(a, [0, 1])", a.std(), REDUCTION),
    ("cumsum(a, axis = 1)", np.cumsum(a, 1), REDUCTION),
    ("cumsum(a, 0)", np.cumsum(a, 0), REDUCTION),
    ("cumsum(ii, -1)", np.cumsum(ii, -1), 0.0),
    ("cumsum(c)", np.cumsum(c), REDUCTION),
    ("cumsum(a)", np.cumsum(a), REDUCTION),
    ("stack([a, p], axis = 1)", np.stack([a, p], 1), 0.0),
    ("stack([c, c * 2.0])", np.stack([c, c * 2]), 0.0),
    ("stack([a, p], axis = -1)", np.stack([a, p], -1), 0.0),
    ("pad(a, [[1, 0], [2, 1]], value = -1)", np.pad(a, [(1, 0), (2, 1)], constant_values=-1), 0.0),
    ("pad(a, [1, 2])", np.pad(a, [1, 2]), 0.0),
    ("pad(ii, [[0, 2], [0, 0]], value = 7)", np.pad(ii, [(0, 2), (0, 0)], constant_values=7), 0.0),
    ("tile(a, [2, 1])", np.tile(a, [2, 1]), 0.0),
    ("tile(c, [2, 2, 1])", np.tile(c, [2, 2, 1]), 0.0),
    ("tile(a, 3)", np.tile(a, 3), 0.0),
    ("take(a, idx, axis = 1)", np.take(a, idx, axis=1, mode="clip"), 0.0),
    ("take(c, idx)", np.take(c, idx, mode="clip"), 0.0),
    ("take(a, [2, 0])", np.take(a, [2, 0], axis=0), 0.0),
    ("take(ib, idx, axis = 1)", np.take(ib, idx, axis=1, mode="clip"), 0.0),
    ("a[1]", a[1], 0.0),
    ("a[-1, 1:4]", a[-1, 1:4], 0.0),
    ("a[:, ::-2]", a[:, ::-2], 0.0),
    ("a[..., 0]", a[..., 0], 0.0),
    ("a[1:100, -3:]", a[1:100, -3:], 0.0),
    ("a[::-1, ::2]", a[::-1, ::2], 0.0),
    ("a[1, ...]", a[1, ...], 0.0),
    ("a[-2:, 3:0:-2]", a[-2:, 3:0:-2], 0.0),
    ("c[4:0:-1]", c[4:0:-1], 0.0),
    ("c[::-3]", c[::-3], 0.0),
    ("c[-100:2]", c[-100:2], 0.0),
    ("c[1::4]", c[1::4], 0.0),
    ("ii[:, 1]", ii[:, 1], 0.0),
    ("ib[0, ::-1]", ib[0, ::-1], 0.0),
    ("(a * 2.0)[1:, 2]", (a * 2)[1:, 2], 0.0),
    ("stop_gradient(a)", a, 0.0),
]

lines = ["graph cases {"]
for name, v in inputs.items():
    dims = ", ".join(str(d) for d in v.shape)
    lines.append(f"    input {name}: {types[str(v.dtype)]}[{dims}]")
expected = {}
for k, (expr, value, rtol) in enumerate(cases):
    lines.append(f"    output y{k} = {expr}")
    value = np.asarray(value)
    if value.dtype == bool:
        data = [bool(x) for x in value.reshape(-1)]
    else:
        data = [None if math.isnan(x) else float(x) for x in value.reshape(-1).astype(np.float64)]
    expected[f"y{k}"] = {"expr": expr, "shape": list(value.shape), "data": data, "rtol": rtol}
lines.append("}")
with open(os.path.join(out_dir, "cases.tfg"), "w") as f:
    f.write("\n".join(lines) + "\n")
with open(os.path.join(out_dir, "expected.json"), "w") as f:
    json.dump(expected, f)
print(len(cases))
