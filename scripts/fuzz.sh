#!/usr/bin/env bash
# Fuzzes every target in fuzz/ for SECONDS each (default 60) and exits non-zero if any target
# reports a crash, a panic (which includes a differential mismatch), a leak, a timeout or an
# out-of-memory. Targets are built with debug assertions, so an integer overflow panics too.
# Installs cargo-fuzz when it is missing; needs the nightly toolchain.
#
#   scripts/fuzz.sh 600                 # every target, 10 minutes each
#   scripts/fuzz.sh 60 lstm_differential
#
# Corpora start from the small fixture files and grow in fuzz/corpus/ (ignored by git);
# a failing input is saved in fuzz/artifacts/<target>/ and printed with its reproduction command.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(weights weights_stream pytorch_weights pt2_weights pt2_program archive_code script_parse request_json request_safetensors request_npz lstm_differential)
[[ $seconds =~ ^[0-9]+$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2; }

rustup run nightly rustc --version >/dev/null 2>&1 || {
    echo "fuzz.sh: cargo-fuzz needs the nightly toolchain (rustup toolchain install nightly)" >&2
    exit 1
}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

# Seed corpora: the shipped weights and the fixtures' small files, and the example requests.
seed() { # seed TARGET FILE...: copy each file under 64 KiB into the target's corpus
    local dir=fuzz/corpus/$1
    shift
    mkdir -p "$dir"
    for f in "$@"; do
        if [[ $(stat -c %s "$f") -lt 65536 ]]; then
            cp "$f" "$dir/seed-$(echo "$f" | tr / _)"
        fi
    done
}
seed weights weights/*.safetensors tests/fixtures/*/weights.safetensors
seed weights_stream weights/* tests/fixtures/*/weights.safetensors
seed pytorch_weights weights/*.pt weights/*.pth tests/fixtures/*/weights.pt tests/fixtures/*/weights.pth
seed pt2_weights weights/*.pt2 tests/fixtures/*/weights.pt2
seed request_json examples/*.json
seed request_safetensors tests/fixtures/*/input.safetensors
seed request_npz tests/fixtures/*/input*.npz
mkdir -p fuzz/corpus/lstm_differential fuzz/corpus/archive_code
# The parser's corpus: the code files of the fixtures' archives.
code_seed=$(mktemp -d)
for f in weights/*.pt tests/fixtures/*/weights.pt tests/fixtures/not_seed/*/weights.pt; do
    [[ -f $f ]] || continue
    dir=$code_seed/$(echo "$f" | tr / _)
    mkdir -p "$dir"
    unzip -qo "$f" '*/code/*.py' -d "$dir" 2>/dev/null || true
done
mapfile -t code_files < <(find "$code_seed" -name '*.py')
seed script_parse "${code_files[@]}"
rm -rf "$code_seed"
# The graph executor's corpus: the programs of the corpus models' .pt2 archives.
graph_seed=$(mktemp -d)
for f in tests/fixtures/corpus/*/exported*.pt2 tests/fixtures/*/weights.pt2; do
    [[ -f $f ]] || continue
    unzip -p "$f" '*/models/model.json' > "$graph_seed/$(echo "$f" | tr / _).json" 2>/dev/null || true
done
seed pt2_program "$graph_seed"/*.json
rm -rf "$graph_seed"

# The committed fuzz/Cargo.lock is used as it is: fetching with --locked fails if it would change.
(cd fuzz && cargo +nightly fetch --locked && cargo +nightly fuzz build --debug-assertions)

failed=()
for target in "${targets[@]}"; do
    echo "== fuzz.sh: $target for ${seconds}s"
    if ! (cd fuzz && cargo +nightly fuzz run --debug-assertions "$target" -- \
        -max_total_time="$seconds" -timeout=60 -rss_limit_mb=2048 -print_final_stats=1); then
        failed+=("$target")
    fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz.sh: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz.sh: every target ran ${seconds}s without a finding: ${targets[*]}"
