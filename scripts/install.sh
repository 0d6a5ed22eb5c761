# Installs what tfg's scripts need, only where it is missing; quiet when all is there.
# Sourced by scripts/demo and scripts/test (not run on its own).

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=
# apt_install PACKAGE…: installs Debian packages that are not installed yet.
apt_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing ${missing[*]} (apt)"
    if [ -z "$apt_updated" ]; then
        as_root apt-get update -qq
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Rust itself is a prerequisite (see README); a C linker is what a fresh Debian may lack.
ensure_rust() {
    if ! command -v cargo >/dev/null; then
        echo "error: cargo not found; install Rust (https://rustup.rs) and run this again" >&2
        exit 1
    fi
    command -v cc >/dev/null || apt_install gcc libc6-dev
}

ensure_clippy() {
    cargo clippy --version >/dev/null 2>&1 && return 0
    echo "installing clippy (rustup)"
    rustup component add clippy >/dev/null
}

ensure_rustfmt() {
    cargo fmt --version >/dev/null 2>&1 && return 0
    echo "installing rustfmt (rustup)"
    rustup component add rustfmt >/dev/null
}

# pip_install ARG…: pip into .venv without keeping the downloaded wheels: the
# cache would hold a second copy of every wheel (TensorFlow's alone is
# 270 MB), and CI machines are short of disk.
pip_install() {
    "$TFG_PYTHON" -m pip install -q --disable-pip-version-check --no-cache-dir "$@"
}

# The tests compare against numpy; it lives in a virtual environment in .venv.
# Exports TFG_PYTHON, the interpreter the tests use.
ensure_numpy() {
    local venv="$PWD/.venv"
    export TFG_PYTHON="$venv/bin/python"
    "$TFG_PYTHON" -c 'import numpy, sys; sys.exit(tuple(map(int, numpy.__version__.split(".")[:2])) < (2, 3))' \
        2>/dev/null && return 0
    command -v python3 >/dev/null || apt_install python3
    if ! "$TFG_PYTHON" -m pip --version >/dev/null 2>&1; then
        rm -rf "$venv"
        # Debian keeps venv's pip bootstrap in a package of its own.
        python3 -m venv "$venv" >/dev/null 2>&1 || { rm -rf "$venv"; apt_install python3-venv; python3 -m venv "$venv"; }
    fi
    echo "installing numpy into .venv (pip)"
    pip_install "numpy>=2.3"
}

# The TensorBoard test reads tfg's event files back with the tensorboard
# package itself; it goes into the same .venv (after ensure_numpy).
ensure_tensorboard() {
    "$TFG_PYTHON" -c 'import tensorboard.backend.event_processing.event_accumulator' \
        2>/dev/null && return 0
    echo "installing tensorboard into .venv (pip)"
    pip_install "tensorboard>=2.16"
}

# The ONNX import tests build models with the onnx package and check tfg
# against ONNX Runtime; both go into the same .venv (after ensure_numpy).
# onnx is pinned: its backend node tests are a conformance suite whose
# expected failures tests/python/onnx_nodes.py lists by name.
ensure_onnx() {
    "$TFG_PYTHON" -c 'import onnx, onnxruntime, sys; sys.exit(onnx.__version__ != "1.23.2")' \
        2>/dev/null && return 0
    echo "installing onnx and onnxruntime into .venv (pip)"
    pip_install "onnx==1.23.2" "onnxruntime>=1.18"
}

# The REPL's terminal test drives `tfg repl` through tmux.
# Data-parallel training (the default build's `mpi` feature) links Open MPI;
# rsmpi generates its bindings with libclang. The tests run `mpirun`.
ensure_mpi() {
    apt_install openmpi-bin libopenmpi-dev libclang-dev
}

# The fuzz smoke of scripts/test builds the targets of tests/fuzz with cargo-fuzz.
ensure_cargo_fuzz() {
    cargo fuzz --version >/dev/null 2>&1 && return 0
    echo "installing cargo-fuzz (cargo install)"
    cargo install --quiet --locked cargo-fuzz
}

ensure_tmux() {
    command -v tmux >/dev/null || apt_install tmux
}

# The PTX backend links LLVM 19 statically (inkwell's llvm19-1);
# .cargo/config.toml points LLVM_SYS_191_PREFIX at /usr/lib/llvm-19.
ensure_llvm() {
    [ -e /usr/lib/llvm-19/lib/libLLVMCore.a ] && return 0
    apt_install llvm-19-dev libpolly-19-dev zlib1g-dev libzstd-dev
}

# The PTX tests assemble the generated code with NVIDIA's ptxas, which the
# pip package nvidia-cuda-nvcc-cu12 ships; it goes into the same .venv
# (after ensure_numpy). Exports TFG_PTXAS, the assembler the tests use.
ensure_ptxas() {
    local found
    # `|| true`: no match is the normal first-run case, not a failure.
    found=$(ls "$PWD"/.venv/lib/python3*/site-packages/nvidia/cuda_nvcc/bin/ptxas 2>/dev/null | head -n 1 || true)
    if [ -z "$found" ]; then
        echo "installing ptxas into .venv (pip nvidia-cuda-nvcc-cu12)"
        pip_install nvidia-cuda-nvcc-cu12
        found=$(ls "$PWD"/.venv/lib/python3*/site-packages/nvidia/cuda_nvcc/bin/ptxas | head -n 1)
    fi
    export TFG_PTXAS="$found"
}

# The official serving clients the tests of `tfg serve` try (tests/serve.rs):
# requests, tritonclient[http] and tensorflow-serving-api (which needs
# TensorFlow's protos), into .venv. Needs ensure_numpy first.
ensure_serve_clients() {
    "$TFG_PYTHON" -c 'import requests, tritonclient.http, tensorflow_serving.apis.prediction_service_pb2_grpc' \
        2>/dev/null && return 0
    echo "installing requests, tritonclient[http], tensorflow-serving-api into .venv (pip)"
    pip_install requests "tritonclient[http]" tensorflow-cpu
    # The client package asks for `tensorflow`, GPU kernels included (1.9 GB
    # installed); the CPU build provides the same `tensorflow` module and the
    # protos the client imports in two thirds of the space.
    pip_install --no-deps tensorflow-serving-api
}
