#!/usr/bin/env bash
# Compile-checks the macOS build (Apple silicon) from Linux: `cargo check` of the library, the
# CLI and the C API (`capi/`) for aarch64-apple-darwin, without and with `--features metal`. It cannot link or run
# them: linking needs Apple's SDK, which only macOS has. Nor can it check the tests and
# benchmarks: a dev-dependency (criterion's `alloca`) compiles C for the target, which needs
# that SDK too. On a Mac, `cargo build --release [--features metal]` and
# `cargo test --release` are the commands (the C API's tests are Linux-only).
#
#   scripts/check-macos.sh      # about 4 minutes on 2 cores the first time
#
# Installs the Rust target through rustup when missing. Builds go to target/check-macos.
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-apple-darwin
# shellcheck source=scripts/lib/setup.sh
source scripts/lib/setup.sh
ensure_rust_targets "$target"
for features in "" metal; do
    echo "check-macos.sh: cargo check --target $target ${features:+--features $features}" >&2
    cargo check --locked --lib --bins --target "$target" --target-dir target/check-macos \
        ${features:+--features "$features"}
    cargo check --locked -p scriptless-capi --lib --target "$target" \
        --target-dir target/check-macos ${features:+--features "$features"}
done
echo "check-macos.sh: the macOS build compiles, with and without Metal" >&2
