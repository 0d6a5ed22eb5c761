"""Compares two `tfg run --json` results within SPEC §1.6's tolerances
(relative 1e-4, since the examples reduce and multiply matrices; NaN
matches NaN, integers and bools exactly), or, with --hello, checks that a
`tfg train examples/hello.tfg --json` result ends with y = 0.8 * 0.95**100,
or, with --params, that two `tfg train --json` results hold the same params
within SPEC §7's 1e-5 (relative to each param's largest element).

Usage: compare.py WANT.json GOT.json | compare.py --hello TRAIN.json
       compare.py --params WANT.json GOT.json
"""
import json
import math
import sys


def close(want, got, tol=1e-4):
    if want["shape"] != got["shape"] or want["dtype"] != got["dtype"]:
        return f"{want['dtype']}{want['shape']} vs {got['dtype']}{got['shape']}"
    for i, (a, b) in enumerate(zip(want["data"], got["data"])):
        if want["dtype"] in ("f32", "f64"):
            a, b = float(a), float(b)
            ok = (math.isnan(a) and math.isnan(b)) or a == b or abs(a - b) <= tol * max(abs(a), abs(b)) + 1e-30
        else:
            ok = a == b
        if not ok:
            return f"element {i}: want {a}, got {b}"
    return None


def main(args):
    if args[0] == "--hello":
        y = json.load(open(args[1]))["outputs"]["y"]["data"][0]
        want = 0.8 * 0.95**100
        if abs(y - want) > 1e-6:
            print(f"y = {y}, want {want}")
            return 1
        return 0
    if args[0] == "--params":
        want, got = (json.load(open(a))["params"] for a in args[1:3])
        errors = []
        for name, w in want.items():
            g = got.get(name, {"data": []})["data"]
            scale = max((abs(float(v)) for v in w["data"]), default=0.0)
            bad = [i for i, (a, b) in enumerate(zip(w["data"], g)) if abs(float(a) - float(b)) > 1e-5 * scale]
            if len(g) != len(w["data"]) or bad:
                errors.append(f"{name}: {len(bad)} elements differ, first {bad[:1]}")
        print("\n".join(errors))
        return 1 if errors else 0
    want, got = (json.load(open(a))["outputs"] for a in args[:2])
    if list(want) != list(got):
        print(f"outputs {list(want)} vs {list(got)}")
        return 1
    errors = [f"{name}: {e}" for name in want if (e := close(want[name], got[name]))]
    print("\n".join(errors))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
