#!/usr/bin/env bash
# Builds, on any machine with Rust and LLVM 19, what bench/gpu/run.sh needs
# on a GPU machine (which has neither), with the final command line:
#
#   bin/gpu_test    backends/ptx/tests/gpu.rs (run it with TFG_REQUIRE_GPU=1)
#   bin/gpu_bench   the tfg-ptx example: test programs vs the interpreter,
#                   kernel times (`time_launches`), device-to-device copy bandwidth
#   bin/tfg         tfg with LLVM (and MPI where FEATURES="llvm mpi"):
#                   `--backend cuda` from .tfg files
#   bin/tfg-nollvm  tfg built with --no-default-features: runs modules only
#   modules/NAME/   `tfg compile --target ptx` of every example (the default
#                   feeds' dims), with NAME.feeds (the --feed arguments that
#                   run it) and NAME.interp.json (`tfg run --backend interp
#                   --json`, the outputs the GPU must give)
#   modules/elementwise_26/  examples/elementwise.tfg over 2^26 f32
#   modules/mlp_step_B/      the mlp_digits training step at batch B (64, 4096)
#
# Binaries are stripped release builds: LLVM is linked statically and CUDA is
# loaded at run time, so they run as they are on the GPU machine.
# SM=sm_80 compiles the modules for an A100 (default sm_90: H100, H200).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/install.sh
ensure_rust
ensure_llvm
sm=${SM:-sm_90}
out=bench/gpu/bin
modules=bench/gpu/modules
mkdir -p "$out"

cargo build --release --quiet -p tfg-ptx --example gpu_bench
cp target/release/examples/gpu_bench "$out/gpu_bench"
# The crate's GPU tests (backends/ptx/tests/gpu.rs), as one program.
test=$(cargo test --release --quiet -p tfg-ptx --test gpu --no-run --message-format=json \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
cp "$test" "$out/gpu_test"
cargo build --release --quiet --bin tfg --no-default-features
cp target/release/tfg "$out/tfg-nollvm"
# Without MPI unless FEATURES says: a GPU machine need not have Open MPI.
cargo build --release --quiet --bin tfg --no-default-features --features "${FEATURES:-llvm}"
cp target/release/tfg "$out/tfg"
strip "$out"/*

rm -rf "$modules"
mkdir -p "$modules"
tfg=$out/tfg
# example NAME FILE DIM… -- FEED…: the dims and feeds are the file's default feeds.
example() {
    local name=$1 file=$2 dims=()
    shift 2
    while [ "$1" != -- ]; do dims+=("$1"); shift; done
    shift
    "$tfg" compile "$file" --target ptx --sm "$sm" "${dims[@]}" -o "$modules/$name"
    "$tfg" run "$file" --backend interp --json >"$modules/$name.interp.json"
    printf '%s\n' "$@" >"$modules/$name.feeds"   # one argument a line
}
example hello examples/hello.tfg -- --feed x=1.0
example elementwise examples/elementwise.tfg --dim N=8 -- \
    --feed 'x=[-3.0, -1.5, -0.5, 0.0, 0.25, 1.0, 2.0, 4.0]'
example linear_regression examples/linear_regression.tfg --dim N=256 -- \
    --feed x=examples/data/linear_x.npy --feed y=examples/data/linear_y.npy
example mlp_digits examples/mlp_digits.tfg --dim N=1437 --dim T=360 -- \
    --feed x=examples/data/digits_train_x.npy --feed labels=examples/data/digits_train_y.npy \
    --feed x_test=examples/data/digits_test_x.npy --feed labels_test=examples/data/digits_test_y.npy
example cnn_digits examples/cnn_digits.tfg --dim N=1437 --dim T=360 -- \
    --feed x=examples/data/digits_train_x.npy --feed labels=examples/data/digits_train_y.npy \
    --feed x_test=examples/data/digits_test_x.npy --feed labels_test=examples/data/digits_test_y.npy
example digits_serving examples/digits_serving.tfg --dim N=1437 -- \
    --feed x=examples/data/digits_train_x.npy --feed labels=examples/data/digits_train_y.npy
example embedding examples/embedding.tfg -- \
    --feed 'tokens=[[5, 1, 4, 2], [4, 5, 0, 1], [0, 5, 1, 4], [4, 2, 3, 5], [5, 4, 0, 0], [1, 4, 5, 2], [2, 5, 3, 4], [4, 0, 0, 5]]' \
    --feed 'labels=[1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]'

"$tfg" compile examples/elementwise.tfg --target ptx --sm "$sm" --dim N=$((1 << 26)) -o "$modules/elementwise_26"
for b in 64 4096; do
    "$tfg" compile examples/mlp_digits.tfg --target ptx --sm "$sm" --train \
        --dim N=$b --dim T=$b -o "$modules/mlp_step_$b"
done
ls -l "$out"
du -sh "$modules"/*/
