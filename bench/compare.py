#!/usr/bin/env python3
"""Runs W1-W5 with tfg (`tfg run/train --bench N --json` on bench/workloads/*.tfg)
and with numpy and jax.jit (bench/peers.py), plus the STREAM-like copy, in one
run, and prints one Markdown table of times, ratios (tfg / peer) and limits.
Called by bench/run, which sets TFG, PEERS, STREAM and RUNS."""
import json, os, subprocess, sys, tempfile
import numpy as np

TFG, PEERS, STREAM = os.environ["TFG"], os.environ["PEERS"], os.environ["STREAM"]
RUNS = os.environ.get("RUNS", "20")
# W3's steps are about a millisecond, and on this machine the first ~50 ms
# after an idle pause (such as the LLVM tier-up's compile, before the warm-up
# step) run at about half speed (measured with Cranelift's code and a 300 ms
# sleep in its place: 1.06 -> 1.94 ms a step), so W3 times at least 200 steps.
W3_STEPS = str(max(int(RUNS), 200))
W = "bench/workloads"


def tfg(*args, runs=RUNS):
    """`tfg ARGS --bench RUNS --json`'s timing member (the last one, parsed alone:
    the outputs of W1 are 2^24 numbers)."""
    cmd = [TFG, *args, "--bench", runs, "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    at = out.stdout.rindex('"timing": ')
    return json.loads(out.stdout[at + len('"timing": '):].rstrip()[:-1])


def peers(*workloads):
    """peers.py's JSON lines. numpy runs without OPENBLAS_CORETYPE/L2_SIZE, which
    this machine sets for old OpenBLAS builds and which slow a current one."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    out = subprocess.run([sys.executable, PEERS, *workloads], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"peers.py {' '.join(workloads)} failed:\n{out.stderr}")
    return [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]


def pick(rows, who, **match):
    return next(r for r in rows if r["who"].startswith(who) and all(r.get(k) == v for k, v in match.items()))


def main():
    data = tempfile.mkdtemp(prefix="tfg-bench-")
    def npy(name, a):
        path = os.path.join(data, name + ".npy"); np.save(path, a); return path
    rng = np.random.default_rng(0)
    x1 = npy("w1_x", rng.standard_normal(1 << 24).astype(np.float32))
    x4 = npy("w4_x", rng.standard_normal((4096, 1024)).astype(np.float32))
    x3 = npy("w3_x", rng.standard_normal((128, 784)).astype(np.float32))
    y3 = npy("w3_y", rng.integers(0, 10, 128).astype(np.int32))

    stream = json.loads(subprocess.run([STREAM], capture_output=True, text=True,
                                       env={**os.environ, "OMP_NUM_THREADS": str(os.cpu_count())}).stdout)
    gbps = stream["copy_gbps"]
    rows = []  # (workload, tfg ms, numpy ms, jax ms, limit text)

    t1 = tfg("run", f"{W}/w1_elementwise.tfg", "--feed", f"x={x1}")
    p1 = peers("W1")
    floor1 = 2 * 4 * (1 << 24) / gbps / 1e6
    rows.append(("W1 elementwise 2^24 f32", t1["run_ms"]["median"], pick(p1, "numpy")["ms"],
                 pick(p1, "jax")["ms"], f"memory floor {floor1:.1f} ms ({gbps:.1f} GB/s copy); "
                 f"tfg at {floor1 / t1['run_ms']['median']:.0%} of bandwidth"))

    p2 = peers("W2")
    best_gflops = max(r["gflops"] for r in p2)
    for n in (1024, 2048):
        a = npy(f"w2_{n}", rng.standard_normal((n, n)).astype(np.float32))
        t2 = tfg("run", f"{W}/w2_matmul.tfg", "--feed", f"a={a}", "--feed", f"b={a}")
        ms = t2["run_ms"]["median"]
        gf = 2 * n**3 / ms / 1e6
        best_gflops = max(best_gflops, gf)
        rows.append((f"W2 matmul {n}³ f32", ms, pick(p2, "numpy", n=n)["ms"], pick(p2, "jax", n=n)["ms"],
                     f"tfg {gf:.0f} GFLOP/s; numpy {pick(p2, 'numpy', n=n)['gflops']:.0f}"))

    t3 = tfg("train", f"{W}/w3_mlp_step.tfg", "--feed", f"x={x3}", "--feed", f"labels={y3}", runs=W3_STEPS)
    p3 = peers("W3")
    rows.append(("W3 MLP train step, batch 128", t3["run_ms"]["median"], None, pick(p3, "jax")["ms"], "–"))

    t4 = tfg("run", f"{W}/w4_softmax.tfg", "--feed", f"x={x4}")
    p4 = peers("W4")
    floor4 = 2 * 4 * 4096 * 1024 / gbps / 1e6
    rows.append(("W4 softmax f32[4096, 1024]", t4["run_ms"]["median"], pick(p4, "numpy")["ms"],
                 pick(p4, "jax")["ms"], f"memory floor {floor4:.1f} ms"))

    p5 = peers("W5")
    jax_w3_compile = pick(p3, "jax")["first_call_ms"] - pick(p3, "jax")["ms"]
    rows.append(("W5 compile W1 (.tfg text → code)", t1["compile_ms"], None, pick(p5, "jax")["ms"],
                 "jax: first call minus steady"))
    rows.append(("W5 compile W3 train step", t3["compile_ms"], None, jax_w3_compile,
                 "jax: first call minus steady"))

    def ms(v): return "–" if v is None else f"{v:.3f}" if v < 1 else f"{v:.2f}"
    def ratio(a, b): return "–" if b is None else f"{a / b:.2f}"
    print(f"\ntfg: median of {RUNS} runs ({W3_STEPS} steps for W3) after one warm-up; peers: peers.py's medians. Ratios are tfg / peer (< 1: tfg faster).\n")
    print("| workload | tfg ms | numpy ms | jax.jit ms | tfg/numpy | tfg/jax | limit |")
    print("|---|---|---|---|---|---|---|")
    for name, t, n, j, limit in rows:
        print(f"| {name} | {ms(t)} | {ms(n)} | {ms(j)} | {ratio(t, n)} | {ratio(t, j)} | {limit} |")
    print(f"\nLimits: copy bandwidth {gbps:.1f} GB/s (triad {stream['triad_gbps']:.1f}); "
          f"best GEMM {best_gflops:.0f} GFLOP/s (of every GEMM measured, numpy's 4096³ included).")


main()
