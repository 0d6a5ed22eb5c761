#!/usr/bin/env python3
"""W3 training steps alone and on 2 MPI ranks, A B A B, in one run (called by
bench/distributed/run with TFG, ROUNDS and STEPS set). Each run is
`tfg train --bench STEPS --json`: one warm-up step, then STEPS timed ones;
its median step time and, on 2 ranks, the all-reduce bytes and median time."""
import json, os, statistics, subprocess, sys, tempfile
import numpy as np

TFG, ROUNDS, STEPS = os.environ["TFG"], int(os.environ["ROUNDS"]), os.environ["STEPS"]
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "2"]


def timing(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return json.loads(out.stdout)["timing"]


def main():
    data = tempfile.mkdtemp(prefix="tfg-dp-bench-")
    rng = np.random.default_rng(0)
    x, y = os.path.join(data, "x.npy"), os.path.join(data, "labels.npy")
    np.save(x, rng.standard_normal((1024, 784)).astype(np.float32))
    np.save(y, rng.integers(0, 10, 1024).astype(np.int32))
    # The W3 workload, its inputs cut into minibatches of 128 rows.
    source = open("bench/workloads/w3_mlp_step.tfg").read()
    model = os.path.join(data, "w3_batched.tfg")
    open(model, "w").write(source.replace("steps 1", "steps 1\n    batch 128"))
    args = ["train", model, "--feed", f"x={x}", "--feed", f"labels={y}", "--bench", STEPS, "--json"]
    alone, ranks, reduce_ms, wait_ms, reduce_bytes = [], [], [], [], 0
    for _ in range(ROUNDS):
        alone.append(timing([TFG, *args])["run_ms"]["median"])
        t = timing([*MPIRUN, TFG, *args])
        ranks.append(t["run_ms"]["median"])
        reduce_ms.append(t["all_reduce"]["median_ms"])
        wait_ms.append(t["all_reduce"]["wait_median_ms"])
        reduce_bytes = t["all_reduce"]["bytes"]
    ratios = [b / a for a, b in zip(alone, ranks)]
    mb = reduce_bytes / 1e6
    print(f"W3 MLP sgd step, batch 128 ({ROUNDS} rounds of {STEPS} steps, alternating)\n")
    print("| | median ms/step | spread |")
    print("|---|---|---|")
    print(f"| 1 process | {statistics.median(alone):.3f} | {min(alone):.3f}–{max(alone):.3f} |")
    print(f"| 2 ranks (64 rows each) | {statistics.median(ranks):.3f} | {min(ranks):.3f}–{max(ranks):.3f} |")
    print(f"| 2 ranks / 1 process | {statistics.median(ratios):.2f} | {min(ratios):.2f}–{max(ratios):.2f} |")
    print(f"\nall-reduce per step: {reduce_bytes} bytes a rank ({mb:.3f} MB), "
          f"median {statistics.median(reduce_ms):.3f} ms "
          f"({statistics.median(reduce_ms) / mb:.3f} ms/MB); before it, median "
          f"{statistics.median(wait_ms):.3f} ms waiting for the slower rank")


if __name__ == "__main__":
    main()
