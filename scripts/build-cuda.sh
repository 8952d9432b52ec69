#!/usr/bin/env bash
# Compile-checks the CUDA build on a machine without a GPU or a system CUDA toolkit: installs
# CUDA 13.0's compiler and libraries from PyPI into .cuda/ (ignored by git), then runs
#
#   cargo build --release --features cuda
#   cargo build --release --features cuda -p scriptless-capi    (libscriptless.so with CUDA)
#   cargo test  --release --features cuda --no-run
#
# and, unless --no-run is given, runs the GPU parity test (tests/parity.rs) and `scriptless run
# --device cuda` against a stand-in for the driver library, so that the binaries are shown to
# load and to fail cleanly without a GPU: the test prints why it skips, the CLI prints one
# error line.
#
#   scripts/build-cuda.sh            # about 10 minutes on 2 cores the first time
#   scripts/build-cuda.sh --no-run   # build only
#
# The recipe, and why each pin, is in the project notes on building candle with CUDA here:
# - cudarc links libcuda, libcudart, libcublas, libcublasLt, libcurand and libnvrtc at build
#   time; the binaries will not start without them (on a GPU machine, the driver's libcuda and
#   the CUDA 13 libraries, e.g. from the nvidia-* wheels PyTorch installs, on LD_LIBRARY_PATH);
# - libcuda comes with the driver, not with a toolkit: a stub of the functions cudarc declares
#   (every one returns CUDA_ERROR_STUB_LIBRARY) stands in for it, to link and to run here;
# - CUDA_COMPUTE_CAP=90 (H100/H200: there is no GPU to ask) and CUDA 13.0.x, whose PTX the
#   13.0 drivers accept (nvcc 13.5's is refused); nvidia-nvvm pinned with nvcc for that reason.
# Builds go to target/cuda, apart from the normal build (the features differ).
set -euo pipefail
cd "$(dirname "$0")/.."

run_tests=1
[[ ${1:-} == --no-run ]] && run_tests=

cuda=$PWD/.cuda
if [[ ! -x $cuda/venv/bin/python ]]; then
    python3 -m venv "$cuda/venv"
fi
echo "build-cuda.sh: installing CUDA 13.0 from PyPI into $cuda/venv" >&2
"$cuda/venv/bin/pip" install -q --disable-pip-version-check \
    nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88 \
    nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85 nvidia-cuda-nvrtc==13.0.88 \
    nvidia-cublas==13.0.2.14 nvidia-curand==10.4.0.35
cu13=$("$cuda/venv/bin/python" -c \
    'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')

# A CUDA_HOME for the linker: unversioned names of the libraries, and the driver stub.
mkdir -p "$cuda/root/lib/stubs"
for lib in cudart.so.13 cublas.so.13 cublasLt.so.13 nvrtc.so.13 curand.so.10; do
    ln -sf "$cu13/lib/lib$lib" "$cuda/root/lib/lib${lib%%.so*}.so"
done
cargo fetch --locked --quiet
cudarc=$(cargo metadata --locked --format-version 1 --features cuda |
    python3 -c 'import json, sys, os
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "cudarc":
        print(os.path.dirname(p["manifest_path"]))')
[[ -n $cudarc ]] || { echo "build-cuda.sh: cudarc is not in the dependency graph" >&2; exit 1; }
grep -oE "pub unsafe fn cu[A-Za-z0-9_]+\(" "$cudarc/src/driver/sys/mod.rs" |
    sed -E 's/pub unsafe fn //; s/\(//' | sort -u |
    awk '{print "int " $1 "(void) { return 34; /* CUDA_ERROR_STUB_LIBRARY */ }"}' \
        >"$cuda/root/libcuda_stub.c"
gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$cuda/root/lib/stubs/libcuda.so" \
    "$cuda/root/libcuda_stub.c"
ln -sf libcuda.so "$cuda/root/lib/stubs/libcuda.so.1"

export PATH=$cu13/bin:$PATH NVCC=$cu13/bin/nvcc CUDA_HOME=$cuda/root CUDA_COMPUTE_CAP=90 \
    CUDARC_CUDA_VERSION=13000
export LIBRARY_PATH=$cuda/root/lib:$cuda/root/lib/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}
cargo=(--release --locked --features cuda --target-dir target/cuda)
echo "build-cuda.sh: cargo build ${cargo[*]}" >&2
cargo build "${cargo[@]}"
echo "build-cuda.sh: cargo build ${cargo[*]} -p scriptless-capi" >&2
cargo build "${cargo[@]}" -p scriptless-capi
echo "build-cuda.sh: cargo test ${cargo[*]} --no-run" >&2
cargo test "${cargo[@]}" --no-run

if [[ -n $run_tests ]]; then
    # The stub as libcuda.so.1: every driver call fails, as on a machine without a GPU.
    export LD_LIBRARY_PATH=$cuda/root/lib/stubs:$cu13/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    echo "build-cuda.sh: the GPU parity test against the driver stub" >&2
    cargo test "${cargo[@]}" --test parity every_fixture_matches_pytorch_on_each_gpu_present \
        -- --nocapture
    echo "build-cuda.sh: scriptless run --device cuda against the driver stub" >&2
    status=0
    # One line even with RUST_BACKTRACE set (candle attaches a backtrace then).
    message=$(RUST_BACKTRACE=1 target/cuda/release/scriptless run --device cuda \
        --weights weights/sequence.safetensors --input examples/sequence.json 2>&1) || status=$?
    echo "$message" >&2
    if [[ $status -ne 1 || $message != "scriptless: error: cannot open CUDA device 0"* ||
        $(wc -l <<<"$message") -ne 1 ]]; then
        echo "build-cuda.sh: expected one error line naming the CUDA device, exit status 1" >&2
        exit 1
    fi
fi
echo "build-cuda.sh: the CUDA build compiles and links" >&2
