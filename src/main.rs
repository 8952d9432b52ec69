//! The `scriptless` command: a dispatcher over the subcommands in `cli/`.

mod cli;

use std::process::ExitCode;

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
