//! The `scriptless` command: a dispatcher over the subcommands in `cli/`.

mod cli;

use std::process::ExitCode;

/// mimalloc keeps freed pages for reuse: with the system allocator every large output tensor
/// came back as fresh pages, and page faults were 17% of a batch-4096 forward call. Linux only
/// (docs/platforms-and-devices.md, "The allocator"): it is C compiled for the target, which needs Apple's SDK on macOS
/// and a WASI C toolchain for WebAssembly, and on Windows its gain was never measured.
/// `RUSTFLAGS="--cfg scriptless_system_allocator"` builds without it, to measure what it gains.
#[cfg(all(target_os = "linux", not(scriptless_system_allocator)))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(err) => {
            // One line on stderr, whatever the cause: scripts read the first line.
            let mut message = format!("{err:#}").replace('\n', " ");
            if is_limit(&err) {
                // The library names the `Limits` field; the command line sets it with a flag.
                for (field, flag) in LIMIT_FLAGS {
                    message = message.replace(field, flag);
                }
            }
            eprintln!("scriptless: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Each `Limits` field and the `run` flag that sets it.
const LIMIT_FLAGS: [(&str, &str); 3] = [
    ("max_weights_bytes", "--max-weights-bytes"),
    ("max_input_bytes", "--max-input-bytes"),
    ("max_elements", "--max-elements"),
];

/// Whether a limit refused the run.
fn is_limit(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        matches!(
            e.downcast_ref::<scriptless::Error>(),
            Some(scriptless::Error::Limit { .. })
        )
    })
}
