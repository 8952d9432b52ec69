#!/usr/bin/env bash
# The seed's libtorch snippet (torch::jit::load + module.forward, C++) against the same program
# on scriptless's C API (C), side by side on this machine: both load weights/sequence.pt, the
# TorchScript archive, run it once on the same inputs and print the output. Reports each
# program's outputs (they must agree within the parity tolerance), the shared libraries it
# loads and their size, and its wall time and peak memory (median of RUNS runs, interleaved).
#
# Needs PyTorch for libtorch's headers and libraries (pip install -r python/requirements.txt;
# PYTHON names the interpreter, default python3) and a C++20 compiler.
# Usage: scripts/capi-vs-libtorch.sh [RUNS]   (default 10)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-10}"
python="${PYTHON:-python3}"
torch_dir="$("$python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
torch_version="$("$python" -c 'import torch; print(torch.__version__)')"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cat > "$work/libtorch.cpp" <<'EOF'
#include <torch/script.h>
#include <cstdio>
int main() {
    torch::NoGradGuard no_grad;
    torch::Tensor padded_seq = torch::arange(210, torch::kFloat32).reshape({3, 7, 10}).div(100).sin();
    torch::Tensor seq_lengths = torch::tensor({5, 3, 7}, torch::kInt64);
    torch::jit::script::Module module = torch::jit::load("weights/sequence.pt");
    std::vector<torch::jit::IValue> inputs{padded_seq, seq_lengths};
    at::Tensor out = module.forward(inputs).toTensor().contiguous();
    for (int64_t i = 0; i < out.numel(); i++) std::printf("%.9g\n", out.data_ptr<float>()[i]);
}
EOF
cat > "$work/scriptless.c" <<'EOF'
#include <math.h>
#include <stdio.h>
#include "scriptless.h"
int main(void) {
    float padded[210];
    for (int i = 0; i < 210; i++) padded[i] = sinf((float)i / 100.0f);
    const int64_t lengths[3] = {5, 3, 7};
    const size_t padded_shape[3] = {3, 7, 10}, lengths_shape[1] = {3};
    ScriptlessModel *model = NULL;
    ScriptlessTensor *out = NULL;
    ScriptlessInput inputs[2] = {
        {"padded_seq", SCRIPTLESS_DTYPE_F32, 3, padded_shape, padded},
        {"seq_lengths", SCRIPTLESS_DTYPE_I64, 1, lengths_shape, lengths},
    };
    ScriptlessTensorView view;
    if (scriptless_model_load("weights/sequence.pt", NULL, &model) != SCRIPTLESS_OK ||
        scriptless_model_forward(model, inputs, 2, &out) != SCRIPTLESS_OK ||
        scriptless_tensor_view(out, &view) != SCRIPTLESS_OK) {
        fprintf(stderr, "%s\n", scriptless_last_error());
        return 1;
    }
    for (size_t i = 0; i < view.len; i++) printf("%.9g\n", ((const float *)view.data)[i]);
    scriptless_tensor_destroy(&out);
    scriptless_model_destroy(&model);
    return 0;
}
EOF

echo "building (libtorch from torch $torch_version at $torch_dir)"
g++ -std=c++20 -O2 "$work/libtorch.cpp" -I"$torch_dir/include" \
    -I"$torch_dir/include/torch/csrc/api/include" -L"$torch_dir/lib" -ltorch -ltorch_cpu -lc10 \
    -Wl,-rpath,"$torch_dir/lib" -o "$work/libtorch"
(cd "$root" && cargo build --release --locked -p scriptless-capi)
lib="${CARGO_TARGET_DIR:-$root/target}/release"
cc -std=c11 -O2 "$work/scriptless.c" -I"$root/capi/include" -L"$lib" -lscriptless \
    -Wl,-rpath,"$lib" -lm -o "$work/scriptless"

cd "$root"
"$work/libtorch" > "$work/libtorch.out"
"$work/scriptless" > "$work/scriptless.out"
paste "$work/libtorch.out" "$work/scriptless.out" | awk '
    { d = $1 - $2; if (d < 0) d = -d; a = $1 < 0 ? -$1 : $1; if (d > 2e-5 + 1e-4 * a) bad++ }
    END { if (bad) { print bad " outputs differ beyond atol 2e-5, rtol 1e-4"; exit 1 }
          print NR " outputs agree within atol 2e-5, rtol 1e-4" }'

for program in libtorch scriptless; do
    : > "$work/$program.times"
done
for _ in $(seq "$runs"); do
    for program in libtorch scriptless; do
        start="$(date +%s%N)"
        /usr/bin/time -f "%M" -o "$work/t" "$work/$program" > /dev/null
        end="$(date +%s%N)"
        echo "$(( (end - start) / 1000 )) $(cat "$work/t")" >> "$work/$program.times"
    done
done
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '\n%-11s %12s %14s %10s %14s\n' program "libraries" "main library" "wall (ms)" "peak RSS (MB)"
for program in libtorch scriptless; do
    # Every shared library the program loads, outside the system's own folders.
    libs="$(ldd "$work/$program" | awk '$3 ~ /^\// && $3 !~ /^\/(usr\/)?lib/ { print $3 }')"
    size="$(echo "$libs" | xargs -r stat -L -c %s | awk '{ s += $1 } END { printf "%.1f MB", s / 1e6 }')"
    main="$(echo "$libs" | grep -E 'libtorch_cpu|libscriptless' | xargs -r stat -L -c %s | awk '{ printf "%.1f MB", $1 / 1e6 }')"
    wall="$(awk '{ print $1 / 1000 }' "$work/$program.times" | median | awk '{ printf "%.1f", $1 }')"
    rss="$(awk '{ print $2 }' "$work/$program.times" | median | awk '{ printf "%.0f", $1 / 1024 }')"
    printf '%-11s %12s %14s %10s %14s\n' "$program" "$size" "$main" "$wall" "$rss"
done
echo "(libraries: every shared library loaded from outside /lib and /usr/lib; main library:"
echo " libtorch_cpu.so or libscriptless.so; wall: load, one forward call, exit, median of $runs)"
