//! [`Opened`]: how a file runs, decided the same way by every door (the command line, the Rust
//! API, Python, C): as one of the seed's models from its weights, or by its own code.

use std::path::Path;

use crate::error::{Error, Result};
use crate::script::{Options, Program};
use crate::weights::{ArchiveCode, Weights};

/// A file opened to run.
#[derive(Debug)]
pub enum Opened {
    /// Weights for one of the seed's models: a safetensors or `torch.save` file, or an archive
    /// whose code is the seed's (or that the caller runs as a seed model).
    Seed(Weights),
    /// A TorchScript or `torch.export` archive whose code is not one of the seed's, loaded to
    /// run by that code.
    Program(Box<Program>),
}

impl Opened {
    /// Opens the file at `path`. With `seed` (the caller names one of the seed's models) it is
    /// read as weights whatever code it holds; otherwise an archive whose code is not the
    /// seed's, or whose tensors weights cannot hold (a BatchNorm's int64 counter), is loaded
    /// as a [`Program`] with `options`.
    pub fn open(path: impl AsRef<Path>, seed: bool, options: &Options) -> Result<Self> {
        let path = path.as_ref();
        let own_code = || Program::load_with(path, options).map(|p| Opened::Program(Box::new(p)));
        match Weights::read_within(path, &options.limits) {
            Ok(weights) if seed || !holds_other_code(&weights) => Ok(Opened::Seed(weights)),
            Ok(weights) => {
                // The program reads the file again: free the tensors first.
                drop(weights);
                own_code()
            }
            Err(e) if seed || !starts_as_zip(path) => Err(e),
            Err(e) => own_code_or(own_code(), e),
        }
    }

    /// [`Opened::open`] on a file's bytes; `what` names them in errors (`weights buffer`).
    pub fn from_bytes(bytes: &[u8], what: &str, seed: bool, options: &Options) -> Result<Self> {
        let own_code =
            || Program::from_bytes(bytes, what, options).map(|p| Opened::Program(Box::new(p)));
        match Weights::from_bytes(bytes, what, &options.limits) {
            Ok(weights) if seed || !holds_other_code(&weights) => Ok(Opened::Seed(weights)),
            Ok(weights) => {
                drop(weights);
                own_code()
            }
            Err(e) if seed || !bytes.starts_with(ZIP_MAGIC) => Err(e),
            Err(e) => own_code_or(own_code(), e),
        }
    }
}

/// The first bytes of a zip file, as every PyTorch archive is.
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// Whether an archive holds code that is not one of the seed's models'.
fn holds_other_code(weights: &Weights) -> bool {
    matches!(weights.code(), Some(ArchiveCode::NotSeed { .. }))
}

/// Whether the file at `path` starts as a zip archive.
fn starts_as_zip(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && magic == ZIP_MAGIC
}

/// The program, or the weights reader's error where the archive is not one a program reads
/// either (a zip that is not a TorchScript archive says most as weights).
fn own_code_or(program: Result<Opened>, weights_error: Error) -> Result<Opened> {
    match program {
        Err(e) if e.to_string().contains("not a TorchScript archive") => Err(weights_error),
        other => other,
    }
}
