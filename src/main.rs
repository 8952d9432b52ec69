//! The `scriptless` command: a dispatcher over the subcommands in `cli/`.

mod cli;

use std::process::ExitCode;

/// mimalloc keeps freed pages for reuse: with the system allocator every large output tensor
/// came back as fresh pages, and page faults were 17% of a batch-4096 forward call.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(err) => {
            // One line on stderr, whatever the cause: scripts read the first line.
            let message = format!("{err:#}").replace('\n', " ");
            eprintln!("scriptless: error: {message}");
            ExitCode::FAILURE
        }
    }
}
