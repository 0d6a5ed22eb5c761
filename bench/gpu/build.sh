#!/usr/bin/env bash
# Builds, on any machine with Rust and LLVM 19, what bench/gpu/run.sh needs
# on a GPU machine (which has neither) and puts it in bench/gpu/bin/:
#   gpu_bench   the tfg-ptx example that checks and times the generated PTX
#   tfg         the tfg binary (with LLVM: --backend cuda from .tfg files)
#   tfg-nollvm  tfg built without LLVM, and bench/gpu/modules/ for it to run
# Both are stripped release builds: LLVM is linked in statically, CUDA is
# loaded at run time, so they run as they are on the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/install.sh
ensure_rust
ensure_llvm
out=bench/gpu/bin
mkdir -p "$out"

cargo build --release --quiet -p tfg-ptx --example gpu_bench
cp target/release/examples/gpu_bench "$out/gpu_bench"
cargo build --release --quiet --bin tfg
cp target/release/tfg "$out/tfg"
# The build a GPU machine would carry: no LLVM, runs compiled modules.
cargo build --release --quiet --bin tfg --no-default-features
cp target/release/tfg "$out/tfg-nollvm"
strip "$out"/*
# Modules for it, compiled here (sm_90: an H100).
modules=bench/gpu/modules
rm -rf "$modules"
"$out/tfg" compile examples/hello.tfg --target ptx --sm sm_90 -o "$modules/hello"
"$out/tfg" compile examples/elementwise.tfg --target ptx --sm sm_90 --dim N=8 -o "$modules/elementwise"
ls -l "$out" "$modules"
