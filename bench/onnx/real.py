#!/usr/bin/env python3
"""W8: ResNet-50 and SqueezeNet, batch 1, forward: tfg against ONNX Runtime
(its default CPU provider, every core) in one run, alternating A B A B.

usage: bench/onnx/real.py [ROUNDS] [RUNS]   (defaults 5 and 20), from the
repository root with the .venv python (numpy, onnx, onnxruntime) after
`cargo build --release`. The models are the onnx wheel's ImageNet topologies
with random weights (tests/python/onnx_real.py). tfg's figure is the median
`run_ms` of `tfg run MODEL.onnx --bench RUNS --json`; ONNX Runtime's the median
of RUNS `session.run` calls after one warm-up, both per round."""
import json, os, statistics, subprocess, sys, tempfile, time
import numpy as np
import onnxruntime as ort

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 20
TFG = os.environ.get("TFG", "target/release/tfg")


def tfg_ms(model, feed, x):
    cmd = [TFG, "run", model, f"--feed={feed}={x}", "--bench", str(RUNS), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    at = out.stdout.rindex('"timing": ')
    return json.loads(out.stdout[at + len('"timing": '):].rstrip()[:-1])["run_ms"]["median"]


def ort_ms(session, feed, x):
    session.run(None, {feed: x})
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        session.run(None, {feed: x})
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main():
    root = tempfile.mkdtemp(prefix="tfg-w8-")
    print(f"W8: batch-1 forward, {ROUNDS} rounds of {RUNS} runs, alternating\n")
    print("| model | tfg ms | ONNX Runtime ms | tfg / ORT (median, spread) |")
    print("|---|---|---|---|")
    for name in ["resnet50", "squeezenet"]:
        d = os.path.join(root, name)
        feed, _ = subprocess.run([sys.executable, "tests/python/onnx_real.py", name, d],
                                 capture_output=True, text=True, check=True).stdout.split()
        model, x = os.path.join(d, "model.onnx"), os.path.join(d, "input.npy")
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        data = np.load(x)
        t, o = [], []
        for _ in range(ROUNDS):
            t.append(tfg_ms(model, feed, x))
            o.append(ort_ms(session, feed, data))
        r = [a / b for a, b in zip(t, o)]
        print(f"| {name} | {statistics.median(t):.2f} | {statistics.median(o):.2f} | "
              f"{statistics.median(r):.2f} ({min(r):.2f}–{max(r):.2f}) |")


if __name__ == "__main__":
    main()
