//! The command that starts the `scriptless` binary the tests were built with.
//!
//! When cargo cross-tests (scripts/test-aarch64.sh runs the suite for aarch64 under
//! qemu-aarch64), it starts each test binary through `target.<triple>.runner`, but the
//! binaries a test spawns start directly: on an x86-64 host without qemu registered in
//! binfmt_misc, an aarch64 `scriptless` fails with "Exec format error". When the environment
//! variable `SCRIPTLESS_TEST_RUNNER` holds a command line (words split on whitespace, e.g.
//! `qemu-aarch64 -L /usr/aarch64-linux-gnu`), the binary runs through it; unset or empty, as in
//! a native `cargo test`, the binary runs as itself.

use std::process::{Command, Output};

/// `scriptless`, through `SCRIPTLESS_TEST_RUNNER` when that is set; add arguments, streams and
/// the working directory as to any `Command`.
pub fn scriptless() -> Command {
    let binary = env!("CARGO_BIN_EXE_scriptless");
    let runner = std::env::var("SCRIPTLESS_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(program) => {
            let mut command = Command::new(program);
            command.args(words).arg(binary);
            command
        }
        None => Command::new(binary),
    }
}

/// Runs [`scriptless`] with `args` in the repository root and returns what it did.
pub fn run(args: &[&str]) -> Output {
    scriptless()
        .args(args)
        .current_dir(super::root())
        .output()
        .expect("run scriptless")
}
