#!/usr/bin/env python3
"""Time from pressing Enter to the printed value in `tfg repl`, on the MLP
forward graph of examples/mlp_digits.tfg. Not a test.

The REPL runs on a pseudo-terminal, as a user's would. Each timed entry is a
new statement (a fresh name, so it is lowered, compiled and run from
scratch); the clock starts when Enter is written and stops when the next
prompt appears after the printed value.

Usage: bench/repl_latency.py [ROUNDS] [BACKEND]   (default: 10 rounds of 5 statements, cpu)
Build first: `cargo build --release --bin tfg`.
"""

import os
import pty
import re
import select
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TFG = os.path.join(ROOT, "target", "release", "tfg")
PROMPT = b">>> "

# One forward layer on the test set, the logits, the predictions and the
# accuracy, and the whole forward pass on the 1437 training images: what a
# user pokes at on the MLP.
STATEMENTS = [
    "h{i} = relu(x_test @ w1 + b1)",
    "logits{i} = h{i} @ w2 + b2",
    "pred{i} = argmax(logits{i}, 1)",
    "acc{i} = mean(cast(pred{i} == labels_test, f32))",
    "train_logits{i} = mlp(x, w1, b1, w2, b2)",
]


def read_until(fd, pattern, timeout=30.0):
    """Reads from fd until `pattern` (a regex over bytes) matches what was read."""
    out = b""
    deadline = time.monotonic() + timeout
    while not re.search(pattern, out, re.S):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {pattern!r} in {out[-2000:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            out += os.read(fd, 65536)
    return out


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    backend = sys.argv[2] if len(sys.argv) > 2 else "cpu"
    env = dict(os.environ, NO_COLOR="1", XDG_DATA_HOME=os.path.join(ROOT, "target", "bench-repl"))
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(ROOT)
        os.execve(TFG, [TFG, "repl", "examples/mlp_digits.tfg", "--backend", backend], env)
    read_until(fd, re.escape(PROMPT))
    times = {s: [] for s in STATEMENTS}
    for i in range(rounds):
        for template in STATEMENTS:
            line = template.format(i=i)
            name = line.split(" = ")[0]
            os.write(fd, line.encode())
            read_until(fd, re.escape(line.encode()))  # the echo of what was typed
            started = time.perf_counter()
            os.write(fd, b"\r")
            out = read_until(fd, re.escape(name.encode()) + rb" = .*" + re.escape(PROMPT))
            took = time.perf_counter() - started
            if b"error" in out:
                raise RuntimeError(out.decode(errors="replace"))
            times[template].append(took)
    os.write(fd, b"\x04")
    os.waitpid(pid, 0)
    everything = [t for ts in times.values() for t in ts]
    for template, ts in times.items():
        print(f"{template.format(i='N'):45} median {statistics.median(ts) * 1e3:7.2f} ms  max {max(ts) * 1e3:7.2f} ms")
    print(f"{'all (' + backend + ')':45} median {statistics.median(everything) * 1e3:7.2f} ms  max {max(everything) * 1e3:7.2f} ms"
          f"  ({len(everything)} entries)")


if __name__ == "__main__":
    main()
