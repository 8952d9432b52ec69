#!/usr/bin/env bash
# Checks the unsafe code of the CPU kernels with the tools that see what tests cannot, and exits
# non-zero on any report:
#
#   miri  Miri interprets the kernels' unit tests (the tiled LSTM and narrow Linear kernels, the
#         SIMD primitives, the thread team and the helper threads, the activations, the packing
#         plan) and reports undefined behaviour: out-of-bounds or misaligned accesses, reads of
#         uninitialised memory, data races. It emulates the CPU features it is given, so every
#         x86 tier in MIRI_TIERS is checked here whatever this machine has, one run per tier
#         (the last run, with none of those features, checks the generic tier). Miri lacks three
#         AVX-512 operations the primitives use (max/min, the reciprocal estimate, integer
#         shifts); under Miri those run lane by lane (`cfg(miri)` in src/cpu/simd/x86.rs), every
#         load and store of the kernels stays the real one.
#   tsan  ThreadSanitizer on the library's unit tests (teams of 1 to 4 threads on the LSTM
#         kernel, injected panics and refused spawns, the helper threads shared by short calls),
#         tests/concurrency.rs and tests/lstm_property.rs: data races between threads.
#   asan  AddressSanitizer and LeakSanitizer on the whole test suite (library, CLI and
#         integration tests): out-of-bounds accesses, use after free, leaks.
#
#   scripts/sanitize.sh              # miri, tsan and asan (21 minutes on a fresh clone, 2 cores)
#   scripts/sanitize.sh tsan         # one of them
#
# Needs the nightly toolchain; installs its miri and rust-src components when missing. Builds
# go to target/sanitize/<check>, apart from the normal build.
set -euo pipefail
cd "$(dirname "$0")/.."

checks=("$@")
[[ ${#checks[@]} -gt 0 ]] || checks=(miri tsan asan)
for check in "${checks[@]}"; do
    [[ $check =~ ^(miri|tsan|asan)$ ]] || { echo "usage: scripts/sanitize.sh [miri|tsan|asan]..." >&2; exit 2; }
done

# The CPU tiers Miri checks the kernels in, as target features: each run's unit tests take the
# best tier the features allow (`tested_tiers` in src/cpu/tier.rs).
MIRI_TIERS=("+avx512f" "+avx2,+fma" "-avx2,-fma,-avx512f")
# The unit tests that reach the kernels (the others go through candle and gemm, whose own
# intrinsics are not ours to check and are far too slow under Miri).
MIRI_TESTS=(cpu::activation cpu::helpers cpu::narrow cpu::simd cpu::team lstm::tiled lstm::packing)

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
installed=$(rustup component list --installed --toolchain nightly)
for component in miri rust-src; do
    grep -q "^$component" <<<"$installed" || rustup component add "$component" --toolchain nightly
done
host=$(rustc +nightly -vV | sed -n 's/^host: //p')

failed=()
run() { # run CHECK COMMAND...: runs the command, records CHECK as failed if it fails
    local check=$1
    shift
    echo "== sanitize.sh: $check: $*"
    if ! "$@"; then
        failed+=("$check")
    fi
}

for check in "${checks[@]}"; do
    case $check in
    miri)
        for tier in "${MIRI_TIERS[@]}"; do
            # The helper threads live as long as the process, which Miri counts as a leak;
            # leaks are LeakSanitizer's to find (asan, below), undefined behaviour Miri's.
            run "miri ($tier)" env RUSTFLAGS="-C target-feature=$tier" \
                MIRIFLAGS="-Zmiri-ignore-leaks" \
                cargo +nightly miri test --locked --lib --target-dir target/sanitize/miri \
                -- "${MIRI_TESTS[@]}"
        done
        ;;
    tsan)
        # halt_on_error: the first race fails the run, with its report.
        run tsan env RUSTFLAGS="-Zsanitizer=thread" TSAN_OPTIONS="halt_on_error=1" \
            cargo +nightly test --locked -Zbuild-std --target "$host" \
            --target-dir target/sanitize/tsan --lib --test concurrency --test lstm_property
        ;;
    asan)
        run asan env RUSTFLAGS="-Zsanitizer=address" ASAN_OPTIONS="detect_leaks=1" \
            cargo +nightly test --locked -Zbuild-std --target "$host" \
            --target-dir target/sanitize/asan --lib --bins --tests
        ;;
    esac
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "sanitize.sh: reports from: ${failed[*]}" >&2
    exit 1
fi
echo "sanitize.sh: ${checks[*]}: no reports"
