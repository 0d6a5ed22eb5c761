#!/usr/bin/env python3
"""W6: peak resident memory of a whole `tfg` process, for one or more binaries
measured alternately (A B A B …).

    bench/memory.py TFG [TFG …] [--rounds N]      (default 5 rounds)

Each round runs, per binary, `tfg train examples/hello.tfg` (100 scalar steps)
and `tfg --version`, and reads its peak RSS from GNU time (Debian package
`time`). How much of a 60 MB executable becomes resident depends on how its
pages came into the page cache (the kernel maps a fault's whole
neighbourhood of cached pages): the same binary measured about 5 MB more
just after `cp` wrote it than after its pages were dropped. So each run
starts cold: the binary's cached pages are dropped first (posix_fadvise
DONTNEED), as after a reboot or on a user's first run."""
import os, statistics, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIME = "/usr/bin/time"  # GNU time (Debian package `time`)


def peak_kb(tfg, args):
    fd = os.open(tfg, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    # GNU time's %M, not this process's wait4: a child that Python spawns
    # inherits Python's own peak RSS (~14 MB) as the floor of its ru_maxrss.
    out = subprocess.run([TIME, "-f", "%M", tfg, *args], cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        sys.exit(f"{tfg} {' '.join(args)} exited {out.returncode}:\n{out.stderr}")
    return int(out.stderr.split()[-1])  # KiB


def main():
    args = sys.argv[1:]
    rounds = 5
    if "--rounds" in args:
        i = args.index("--rounds")
        rounds = int(args[i + 1])
        del args[i:i + 2]
    if not args:
        sys.exit(__doc__)
    cases = {"train examples/hello.tfg": ["train", "examples/hello.tfg"], "--version": ["--version"]}
    peaks = {(b, c): [] for b in args for c in cases}
    for _ in range(rounds):
        for b in args:
            for c, a in cases.items():
                peaks[(b, c)].append(peak_kb(b, a) / 1024)
    print(f"W6: peak RSS in MB (1 MB = 2^20 bytes), {rounds} cold runs each, alternating\n")
    print("| binary | " + " | ".join(f"`{c}` median (min–max)" for c in cases) + " |")
    print("|---|" + "---|" * len(cases))
    for b in args:
        cells = [f"{statistics.median(p):.1f} ({min(p):.1f}–{max(p):.1f})"
                 for p in (peaks[(b, c)] for c in cases)]
        print(f"| {b} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
