#!/usr/bin/env bash
# Training steps per second of the reference interpreter on the MLP of
# examples/mlp_digits.tfg (64-64-10, adam, batch 64): the baseline that the
# compiled backends are measured against. Not a test.
#
# Usage: bench/interp_train.sh [STEPS] [RUNS]   (defaults: 1000 steps, best of 3 runs)
# It builds tfg in release mode and reports the rate `tfg train` measures
# around its training loop (parsing, loading data and the final run excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-1000}
runs=${2:-3}

cargo build --release --quiet --bin tfg
best=0
for run in $(seq "$runs"); do
    # stderr ends with: trained N steps in S s (R steps/s)
    line=$(target/release/tfg train examples/mlp_digits.tfg --backend interp --steps "$steps" \
        2>&1 >/dev/null | tail -n 1)
    rate=$(sed -E 's/.*\(([0-9.]+) steps\/s\)$/\1/' <<<"$line")
    echo "run $run: $line"
    best=$(awk -v a="$best" -v b="$rate" 'BEGIN { print (b > a) ? b : a }')
done
echo "interp mlp_digits training: $best steps/s (best of $runs runs of $steps steps)"
