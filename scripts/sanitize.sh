#!/usr/bin/env bash
# Checks the unsafe code of the CPU kernels with the tools that see what tests cannot, and exits
# non-zero on any report:
#
#   miri  Miri interprets the kernels' unit tests (the tiled LSTM and narrow Linear kernels, the
#         SIMD primitives, the thread team and the helper threads, the activations, the packing
#         plan) and reports undefined behaviour: out-of-bounds or misaligned accesses, reads of
#         uninitialised memory, data races. It emulates the CPU features it is given, so every x86
#         tier in MIRI_TIERS is checked here whatever this machine has, one run per tier, all at
#         once (the last run, with none of those features, checks the generic tier). The tests'
#         cases are smaller under Miri (`cfg(miri)`), which interprets every operation, but take
#         the same paths: every tile and row-group shape, tail and team. Miri lacks three AVX-512
#         operations the primitives use (max/min, the reciprocal estimate, integer shifts); under
#         Miri those run lane by lane (`cfg(miri)` in src/cpu/simd/x86.rs), every load and store of
#         the kernels stays the real one.
#   tsan  ThreadSanitizer on the library's unit tests (teams of 1 to 4 threads on the LSTM
#         kernel, injected panics and refused spawns, the helper threads shared by short calls),
#         tests/concurrency.rs and tests/lstm_property.rs: data races between threads.
#   asan  AddressSanitizer and LeakSanitizer on the whole test suite (library, CLI and
#         integration tests): out-of-bounds accesses, use after free, leaks.
#
#   scripts/sanitize.sh              # miri, tsan and asan (26 minutes on a fresh clone, 2 cores)
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

# The CPU tiers Miri checks the kernels in, as `name:target features`: each run's unit tests
# take the best tier the features allow (`tested_tiers` in src/cpu/tier.rs).
MIRI_TIERS=("avx512:+avx512f" "avx2:+avx2,+fma" "generic:-avx2,-fma,-avx512f")
# The unit tests that reach the kernels (the others go through candle and gemm, whose own
# intrinsics are not ours to check and are far too slow under Miri).
MIRI_TESTS=(cpu::activation cpu::gru cpu::helpers cpu::narrow cpu::simd cpu::team lstm::tiled lstm::packing)

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
installed=$(rustup component list --installed --toolchain nightly)
for component in miri rust-src; do
    grep -q "^$component" <<<"$installed" || rustup component add "$component" --toolchain nightly
done
host=$(rustc +nightly -vV | sed -n 's/^host: //p')
# The sanitizers' builds keep line tables only: their reports still name every frame's file and
# line, and the build (dependencies at opt-level 3, with std) takes less time.
debug=line-tables-only

failed=()
run() { # run CHECK COMMAND...: runs the command, records CHECK as failed if it fails
    local check=$1 start=$SECONDS
    shift
    echo "== sanitize.sh: $check: $*"
    if ! "$@"; then
        failed+=("$check")
    fi
    echo "== sanitize.sh: $check: $((SECONDS - start)) s"
}

for check in "${checks[@]}"; do
    case $check in
    miri)
        # Every tier at once: Miri interprets on one thread, so two tiers take the time of one
        # on two cores; each prefixes its output with its name. The target features go to
        # this crate only (a profile's rustflags): the dependencies, none of whose code these
        # tests run, are built once for all tiers, and the first run to take the build
        # directory's lock builds them. The sysroot is built first, once for all.
        start=$SECONDS
        echo "== sanitize.sh: miri: the ${#MIRI_TIERS[@]} tiers at once"
        cargo +nightly miri setup
        pids=()
        for tier in "${MIRI_TIERS[@]}"; do
            name=${tier%%:*} features=${tier#*:}
            profile="profile.dev.package.scriptless.rustflags = ['-Ctarget-feature=$features']"
            (
                # The helper threads live as long as the process, which Miri counts as a
                # leak; leaks are LeakSanitizer's to find (asan, below), undefined behaviour
                # Miri's.
                status=0
                MIRIFLAGS="-Zmiri-ignore-leaks" cargo +nightly miri test --locked --lib \
                    -Zprofile-rustflags --config "$profile" --target-dir target/sanitize/miri \
                    -- "${MIRI_TESTS[@]}" 2>&1 | sed -u "s/^/[miri $name] /" || status=$?
                echo "== sanitize.sh: miri ($name: $features): $((SECONDS - start)) s"
                exit "$status"
            ) &
            pids+=($!)
        done
        for i in "${!pids[@]}"; do
            wait "${pids[$i]}" || failed+=("miri (${MIRI_TIERS[$i]%%:*})")
        done
        echo "== sanitize.sh: miri: $((SECONDS - start)) s"
        ;;
    tsan)
        # halt_on_error: the first race fails the run, with its report. The parser's test of
        # linear time gives its one thread 10 s, which ThreadSanitizer's slowdown outruns.
        run tsan env RUSTFLAGS="-Zsanitizer=thread" TSAN_OPTIONS="halt_on_error=1" \
            CARGO_PROFILE_DEV_DEBUG="$debug" cargo +nightly test --locked -Zbuild-std \
            --target "$host" --target-dir target/sanitize/tsan \
            --lib --test concurrency --test lstm_property \
            -- --skip script::parse::tests::long_flat_code_parses_in_linear_time
        ;;
    asan)
        run asan env RUSTFLAGS="-Zsanitizer=address" ASAN_OPTIONS="detect_leaks=1" \
            CARGO_PROFILE_DEV_DEBUG="$debug" cargo +nightly test --locked -Zbuild-std \
            --target "$host" --target-dir target/sanitize/asan --lib --bins --tests
        ;;
    esac
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "sanitize.sh: reports from: ${failed[*]} ($SECONDS s)" >&2
    exit 1
fi
echo "sanitize.sh: ${checks[*]}: no reports ($SECONDS s)"
