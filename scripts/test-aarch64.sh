#!/usr/bin/env bash
# Cross-builds the crate for aarch64-unknown-linux-gnu and runs the whole test suite there,
# under qemu-aarch64 user-mode emulation, on a Debian x86-64 machine; exits non-zero on any
# failure. It runs `cargo test --release --locked --target aarch64-unknown-linux-gnu`:
# the library's unit tests, the CLI's, every integration test in tests/ and the doc tests
# (cargo 1.89 and later cross-compile doc tests and run them through the same runner).
#
#   scripts/test-aarch64.sh                # everything (6 minutes on a fresh clone, 2 cores)
#   scripts/test-aarch64.sh --test cli     # extra arguments go to cargo test
#
# Installs what it needs when missing, quietly: the Rust target through rustup, and Debian's
# gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user through apt-get (with sudo when
# not root). Everything is configured here through environment variables, nothing in
# .cargo/config, so other builds are unaffected; the build goes to target/aarch64, apart from
# the normal one.
#
# The tests spawn the CLI binary, which cargo's runner does not wrap: tests/common/command.rs
# starts it through SCRIPTLESS_TEST_RUNNER, set below, so no binfmt_misc registration is
# needed. Emulated code runs slower than native code, and not in proportion to what a real
# aarch64 CPU does: test durations here are no speed measurement. (The suite's deadlines, 30 s
# per run in tests/streams.rs and 5 s for src/source.rs's linear-reading check, hold with room
# to spare under qemu; none is relaxed here.)
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-unknown-linux-gnu
sysroot=/usr/aarch64-linux-gnu

# shellcheck source=scripts/lib/setup.sh
source scripts/lib/setup.sh
ensure_rust_targets "$target"
ensure_debian_packages gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user

runner="qemu-aarch64 -L $sysroot"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=$runner
# The binary the CLI tests spawn runs through the same emulator (tests/common/command.rs).
export SCRIPTLESS_TEST_RUNNER=$runner

cargo test --release --locked --target "$target" --target-dir target/aarch64 "$@"
