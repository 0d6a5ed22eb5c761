#!/usr/bin/env python3
"""A/B of two tfg binaries on the workloads W1, W3, W4 (run time) and W5 (compile
time): runs A and B alternately ROUNDS times each (A B A B …, since this machine
drifts by tens of percent from minute to minute) and prints, per measure, the
median of B / A over the rounds and its spread. Below 1: B is faster.

    bench/ab.py OLD_TFG NEW_TFG [ROUNDS]      (needs numpy; default 5 rounds)

Each measurement is `tfg run|train --bench 20 --json`'s median run time (200
steps for W3: see W3_STEPS in bench/compare.py), or its compile time. Use it
before and after a change that should not change speed."""
import json, os, statistics, subprocess, sys, tempfile
import numpy as np

W = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workloads")


def timing(tfg, args):
    """`tfg ARGS --bench 20 --json`'s timing member (200 for training; parsed
    alone: W1's outputs are 2^24 numbers)."""
    runs = "200" if args[0] == "train" else "20"
    cmd = [tfg, *args, "--bench", runs, "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    at = out.stdout.rindex('"timing": ')
    return json.loads(out.stdout[at + len('"timing": '):].rstrip()[:-1])


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    a, b = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    data = tempfile.mkdtemp(prefix="tfg-ab-")

    def npy(name, arr):
        path = os.path.join(data, name + ".npy")
        np.save(path, arr)
        return path

    rng = np.random.default_rng(0)
    x1 = npy("w1_x", rng.standard_normal(1 << 24).astype(np.float32))
    x3 = npy("w3_x", rng.standard_normal((128, 784)).astype(np.float32))
    y3 = npy("w3_y", rng.integers(0, 10, 128).astype(np.int32))
    x4 = npy("w4_x", rng.standard_normal((4096, 1024)).astype(np.float32))
    workloads = {
        "W1": ["run", f"{W}/w1_elementwise.tfg", "--feed", f"x={x1}"],
        "W3": ["train", f"{W}/w3_mlp_step.tfg", "--feed", f"x={x3}", "--feed", f"labels={y3}"],
        "W4": ["run", f"{W}/w4_softmax.tfg", "--feed", f"x={x4}"],
    }
    ratios = {}
    for _ in range(rounds):
        for name, args in workloads.items():
            ta, tb = timing(a, args), timing(b, args)
            ratios.setdefault(f"{name} run", []).append(tb["run_ms"]["median"] / ta["run_ms"]["median"])
            ratios.setdefault(f"W5 compile {name}", []).append(tb["compile_ms"] / ta["compile_ms"])
    print(f"B / A over {rounds} alternating rounds (A = {a}, B = {b}); < 1: B faster\n")
    print("| measure | median B/A | min | max |")
    print("|---|---|---|---|")
    for name, r in ratios.items():
        print(f"| {name} | {statistics.median(r):.3f} | {min(r):.3f} | {max(r):.3f} |")


if __name__ == "__main__":
    main()
