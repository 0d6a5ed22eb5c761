"""The ONNX backend node tests (regenerated from the installed `onnx`
package) through `tfg run MODEL.onnx`, checked against each test's expected
outputs. Prints, per operator, how many tests pass, fail, or use something
tfg refuses at import (an operator or dtype it does not support).

usage: python3 bench/onnx/node_tests.py TFG_BINARY [SCRATCH_DIR] [--backend B]
"""

import collections
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx.backend.test.case import node

tfg = sys.argv[1]
scratch = sys.argv[2] if len(sys.argv) > 2 and not sys.argv[2].startswith("--") else tempfile.mkdtemp()
backend = sys.argv[sys.argv.index("--backend") + 1] if "--backend" in sys.argv else "cpu"

stats = collections.defaultdict(collections.Counter)
failures = []
for case in node.collect_testcases(None):
    model = case.model
    ops = sorted({n.op_type for n in model.graph.node})
    key = ops[0] if len(ops) == 1 else "+".join(ops[:3])
    if not case.data_sets:
        continue
    inputs, outputs = case.data_sets[0]
    d = os.path.join(scratch, case.name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    args = [tfg, "run", path, "--json", "--backend", backend]
    ok_inputs = True
    for j, value in enumerate(inputs):
        if not isinstance(value, np.ndarray):
            ok_inputs = False
            break
        p = os.path.join(d, f"in{j}.npy")
        np.save(p, value)
        args += ["--feed", f"{model.graph.input[j].name}={p}"]
    if not ok_inputs:
        stats[key]["refused"] += 1
        continue
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        stats[key]["failed"] += 1
        failures.append((case.name, "timeout"))
        continue
    if r.returncode != 0:
        refused = "does not support" in r.stderr or "tfg has no dtype" in r.stderr or "not supported" in r.stderr
        stats[key]["refused" if refused else "failed"] += 1
        if not refused:
            failures.append((case.name, r.stderr.strip().splitlines()[0][:200] if r.stderr.strip() else f"exit {r.returncode}"))
        continue
    got = json.loads(r.stdout)["outputs"]
    good = True
    for o, want in zip(model.graph.output, outputs):
        g = got.get(o.name)
        want = np.asarray(want)
        if g is None or list(want.shape) != g["shape"]:
            good = False
            break
        data = np.array(g["data"], dtype=np.float64).reshape(want.shape)
        w = want.astype(np.float64)
        if not np.allclose(data, w, rtol=1e-3, atol=1e-5, equal_nan=True):
            good = False
            break
    stats[key]["passed" if good else "failed"] += 1
    if not good:
        failures.append((case.name, "wrong values or shape"))

total = collections.Counter()
for k in sorted(stats):
    total.update(stats[k])
print(f"{'operator':<28} passed failed refused")
for k in sorted(stats):
    s = stats[k]
    if s["passed"] or s["failed"]:
        print(f"{k:<28} {s['passed']:>6} {s['failed']:>6} {s['refused']:>7}")
print(f"{'all node tests':<28} {total['passed']:>6} {total['failed']:>6} {total['refused']:>7}")
if "--failures" in sys.argv:
    for name, why in failures:
        print(f"  {name}: {why}")
