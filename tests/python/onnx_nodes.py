"""The ONNX backend node tests (regenerated from the installed `onnx`
package) through `tfg run MODEL.onnx`, checked against each test's expected
outputs. Prints, per operator, how many tests pass, fail, or use something
tfg refuses at import (an operator or dtype it does not support).

With --check, exits 1 when a test fails that KNOWN does not list, or one it
lists passes (so the list stays true); tests/onnx.rs runs it so.

usage: python3 tests/python/onnx_nodes.py TFG_BINARY SCRATCH_DIR [--backend B] [--failures] [--check]
"""

import collections
import concurrent.futures
import json
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.case import node

# Tests that fail, and why (docs/onnx.md, "Conformance").
KNOWN: dict[str, str] = {}

tfg, scratch = sys.argv[1], sys.argv[2]
backend = sys.argv[sys.argv.index("--backend") + 1] if "--backend" in sys.argv else "cpu"
REFUSED = ("does not support", "tfg has no dtype", "not supported")


def run(case):
    """(operator key, outcome, reason) of one test case."""
    model = case.model
    ops = sorted({n.op_type for n in model.graph.node})
    key = ops[0] if len(ops) == 1 else "+".join(ops[:3])
    inputs, outputs = case.data_sets[0]
    d = os.path.join(scratch, case.name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    args = [tfg, "run", path, "--json", "--backend", backend]
    for j, value in enumerate(inputs):
        # A scalar or a TensorProto is a tensor too; a list or None is not.
        if isinstance(value, np.generic):
            value = np.asarray(value)
        elif isinstance(value, onnx.TensorProto):
            value = numpy_helper.to_array(value)
        if not isinstance(value, np.ndarray):
            return key, "refused", "a sequence or optional input"
        p = os.path.join(d, f"in{j}.npy")
        np.save(p, value)
        args += ["--feed", f"{model.graph.input[j].name}={p}"]
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return key, "failed", "timeout"
    if r.returncode != 0:
        first = r.stderr.strip().splitlines()[0][:200] if r.stderr.strip() else f"exit {r.returncode}"
        return key, "refused" if any(s in r.stderr for s in REFUSED) else "failed", first
    got = json.loads(r.stdout)["outputs"]
    for o, want in zip(model.graph.output, outputs):
        g = got.get(o.name)
        want = numpy_helper.to_array(want) if isinstance(want, onnx.TensorProto) else np.asarray(want)
        if g is None or list(want.shape) != g["shape"]:
            return key, "failed", "wrong shape"
        data = np.array(g["data"], dtype=np.float64).reshape(want.shape)
        if not np.allclose(data, want.astype(np.float64), rtol=1e-3, atol=1e-5, equal_nan=True):
            return key, "failed", "wrong values"
    return key, "passed", ""


cases = [c for c in node.collect_testcases(None) if c.data_sets]
with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
    results = list(pool.map(run, cases))

stats = collections.defaultdict(collections.Counter)
failures = []
for case, (key, outcome, why) in zip(cases, results):
    stats[key][outcome] += 1
    if outcome == "failed":
        failures.append((case.name, why))

total = collections.Counter()
for k in sorted(stats):
    total.update(stats[k])
print(f"{'operator':<28} passed failed refused")
for k in sorted(stats):
    s = stats[k]
    if s["passed"] or s["failed"]:
        print(f"{k:<28} {s['passed']:>6} {s['failed']:>6} {s['refused']:>7}")
print(f"{'all node tests':<28} {total['passed']:>6} {total['failed']:>6} {total['refused']:>7}")
if "--failures" in sys.argv or "--check" in sys.argv:
    for name, why in failures:
        print(f"  {name}: {why}{'' if name in KNOWN else '  (NEW)'}")
if "--check" in sys.argv:
    failed = {name for name, _ in failures}
    new = sorted(failed - set(KNOWN))
    fixed = sorted(set(KNOWN) - failed)
    if new or fixed:
        why = dict(failures)
        for name in new:
            print(f"failed: {name}: {why[name]}", file=sys.stderr)
        for name in fixed:
            print(f"listed as failing, but did not fail: {name}", file=sys.stderr)
        sys.exit(1)
