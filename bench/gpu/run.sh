#!/usr/bin/env bash
# The GPU half of issue 6's checks, on a machine with an NVIDIA GPU and
# driver (no Rust or LLVM needed there): run bench/gpu/build.sh elsewhere,
# bring the checkout with bench/gpu/bin/, then run this from the checkout.
#
#   0. the tests of backends/ptx/tests/gpu.rs, with a GPU required;
#   1. every test program (each op, each launch mapping, the examples'
#      forward and training graphs) on the GPU against the Kernel IR
#      interpreter, within SPEC §1.6's tolerances;
#   2. every example with `tfg run --backend cuda` (from its .tfg file) and
#      its module with the LLVM-free `tfg-nollvm run MODULE --backend cuda`
#      against the interpreter outputs build.sh saved, and
#      `tfg train examples/hello.tfg --backend cuda` to SPEC's y = 0.8 · 0.95^100;
#   3. the module of examples/elementwise.tfg over 2^26 f32 against a
#      device-to-device copy of the same bytes (the bar: 80% of it);
#   4. the modules of the mlp_digits training step against PyTorch's on the
#      same GPU;
#   5. where mpirun is, mlp_digits trained by 2 MPI ranks on the GPU(s)
#      against one process (bin/tfg must then be built with MPI: build.sh
#      with FEATURES="llvm mpi").
#
# Usage: bench/gpu/run.sh   (set TFG_GPU_BIN to use binaries elsewhere)
# Prints one line a result and ends with a summary; exits 1 if a check fails.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${TFG_GPU_BIN:-bench/gpu/bin}
python=${PYTHON:-python3}
status=0
fail() { echo "FAIL: $*"; status=1; }

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || fail "nvidia-smi"

echo "== 0. the crate's GPU tests (backends/ptx/tests/gpu.rs)"
TFG_REQUIRE_GPU=1 "$bin/gpu_test" --test-threads 1 || fail "the crate's GPU tests"

echo "== 1. test programs vs the interpreter"
"$bin/gpu_bench" check || fail "test programs differ from the interpreter"

echo "== 2. examples with --backend cuda vs the saved interpreter outputs"
modules=bench/gpu/modules
for f in examples/*.tfg; do
    name=$(basename "$f" .tfg)
    want=$modules/$name.interp.json
    [ -f "$want" ] || { fail "$want is missing: run bench/gpu/build.sh"; continue; }
    "$bin/tfg" run "$f" --backend cuda --json >/tmp/tfg_cuda.json \
        && "$python" bench/gpu/compare.py "$want" /tmp/tfg_cuda.json \
        && echo "ok: $f" || fail "$f (tfg run --backend cuda)"
    mapfile -t feeds <"$modules/$name.feeds"
    "$bin/tfg-nollvm" run "$modules/$name" --backend cuda "${feeds[@]}" --json >/tmp/tfg_module.json \
        && "$python" bench/gpu/compare.py "$want" /tmp/tfg_module.json \
        && echo "ok: $modules/$name (tfg-nollvm)" || fail "$modules/$name (tfg-nollvm run MODULE)"
done
"$bin/tfg" train examples/hello.tfg --backend cuda --json >/tmp/tfg_train.json \
    && "$python" bench/gpu/compare.py --hello /tmp/tfg_train.json \
    && echo "ok: hello trains to 0.8*0.95^100" || fail "hello training (cuda)"

echo "== 3. elementwise kernel vs copy bandwidth"
line=$("$bin/gpu_bench" elementwise 26 --module "$modules/elementwise_26") || fail "elementwise bench"
echo "$line"
"$python" -c 'import json,sys; r=json.loads(sys.argv[1]); sys.exit(r["fraction_of_copy"] < 0.8)' "$line" \
    || fail "the elementwise kernel reaches less than 80% of the copy bandwidth"

echo "== 4. mlp_digits training step vs PyTorch"
ours=$(for b in 64 4096; do "$bin/gpu_bench" mlp $b --module "$modules/mlp_step_$b"; done) || fail "mlp bench"
echo "$ours"
theirs=$("$python" bench/gpu/mlp_torch.py 64 4096) || fail "PyTorch bench (is torch installed?)"
echo "$theirs"
"$python" - "$ours" "$theirs" <<'PY'
import json, sys
ours = {r["batch"]: r for r in map(json.loads, sys.argv[1].splitlines())}
theirs = {r["batch"]: r for r in map(json.loads, sys.argv[2].splitlines())}
for b in sorted(ours.keys() & theirs.keys()):
    o, t = ours[b]["step_ms"], theirs[b]["step_ms"]
    print(f"mlp step, batch {b}: tfg {o:.4f} ms, PyTorch {t:.4f} ms, tfg/PyTorch time ratio {o / t:.2f}")
PY

echo "== 5. data-parallel training on the GPU: 2 MPI ranks against one process"
if command -v mpirun >/dev/null; then
    train=(train examples/mlp_digits.tfg --backend cuda --steps 40 --seed 5 --json)
    "$bin/tfg" "${train[@]}" >/tmp/tfg_alone.json 2>/tmp/tfg_alone.err \
        || { cat /tmp/tfg_alone.err; fail "one process on cuda"; }
    mpirun --allow-run-as-root --oversubscribe -np 2 "$bin/tfg" "${train[@]}" \
        >/tmp/tfg_ranks.json 2>/tmp/tfg_ranks.err || fail "2 ranks on cuda"
    cat /tmp/tfg_ranks.err
    # The text report says which engine averaged the gradients, and why.
    mpirun --allow-run-as-root --oversubscribe -np 2 "$bin/tfg" train examples/mlp_digits.tfg \
        --backend cuda --steps 5 2>&1 | grep -E "ranks|averaged" || fail "no report of the all-reduce"
    "$python" bench/gpu/compare.py --params /tmp/tfg_alone.json /tmp/tfg_ranks.json \
        && echo "ok: 2 ranks on cuda train as one process does" || fail "2 ranks on cuda differ from one process"
else
    echo "skipped: no mpirun here"
fi

[ $status -eq 0 ] && echo "summary: all GPU checks passed" || echo "summary: some GPU checks failed"
exit $status
