//! PyTorch's own files as weights, all zip archives: a `torch.save(model.state_dict(), path)`
//! file and a TorchScript archive from `torch.jit.save` ([`pickled`]: a pickle and its
//! storages), and a `torch.export.save` archive (`.pt2`, [`export`]: a JSON program and raw
//! storages). Which one an archive is follows from its entries, whatever the file is called.
//! A TorchScript archive's code ([`code`]) and a `.pt2`'s graph ([`graph`], written out as the
//! same kind of code) are read as text, never run, for `crate::weights`'s `seed_code` to compare
//! with the seed's.
//!
//! Every archive gets the same checks ([`entries`], [`view`]): entries stored uncompressed, as
//! PyTorch writes them (but for a TorchScript archive's deflated code), each exactly its
//! declared size with its CRC checked; every tensor a
//! view checked to lie inside its storage; all tensors together within `max_weights_bytes`
//! and at most twice the file, all before anything is allocated.

pub(crate) mod code;
mod entries;
pub(crate) mod export;
mod graph;
mod pickle;
mod pickled;
pub(crate) mod script_archive;
mod view;

use std::collections::BTreeMap;

use candle_core::Tensor;

use crate::limits::Limits;
use code::ScriptCode;
use entries::Entries;
use export::ExportedProgram;

/// What kind of PyTorch file an archive is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Archive {
    /// `torch.save(state_dict)`.
    StateDict,
    /// `torch.jit.save(scripted)`, whose root module has this class and this code.
    TorchScript { class: String, code: ScriptCode },
    /// `torch.export.save(exported_program)`.
    Export(ExportedProgram),
}

/// Whether `bytes` start like a zip archive (what `torch.save`, `torch.jit.save` and
/// `torch.export.save` write).
pub(crate) fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// The folders (`""` for the root, else `name/`) that hold `file` at their top: where each kind
/// keeps its files, `archive/` for torch.save, the file's stem for the others.
pub(crate) fn top(entries: &Entries, file: &str) -> Vec<String> {
    entries
        .names()
        .filter_map(|n| {
            let prefix = n.strip_suffix(file)?;
            (prefix.is_empty() || (prefix.ends_with('/') && prefix.matches('/').count() == 1))
                .then(|| prefix.to_string())
        })
        .collect()
}

/// Whether `bytes` are a zip archive with an `archive_format` entry at its root or in one
/// folder: a `torch.export` archive (`.pt2`).
pub(crate) fn is_export_archive(bytes: &[u8]) -> bool {
    is_zip(bytes)
        && Entries::open(bytes).is_ok_and(|entries| !top(&entries, "archive_format").is_empty())
}

/// Whether `bytes` start like the pre-1.6 `torch.save` format (a bare pickle whose first value
/// is the magic number 0x1950a86a20f9469cfc6c).
pub(crate) fn is_legacy_torch_save(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20])
}

/// Reads the tensors of a PyTorch zip archive. The error is a message for [`Error::format`];
/// the tensors, however strided in the file, come back contiguous, and their total size is at
/// most `limits.max_weights_bytes`.
///
/// [`Error::format`]: crate::Error
pub(crate) fn read_archive(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(Archive, BTreeMap<String, Tensor>), String> {
    let mut entries = Entries::open(bytes)?;
    let exported = top(&entries, "archive_format");
    let pickled = top(&entries, "data.pkl");
    match (&exported[..], &pickled[..]) {
        ([root], _) => export::read(&mut entries, root, limits),
        ([], [prefix]) => pickled::read(&mut entries, prefix, limits),
        ([], []) if !top(&entries, "serialized_exported_program.json").is_empty() => Err(
            "a torch.export archive in the layout of PyTorch before 2.8 \
             (serialized_exported_program.json, its weights pickled in \
             serialized_state_dict.pt), which is not read: load it with torch.export.load and \
             save it again with PyTorch 2.9 or later, or save its state_dict with safetensors"
                .into(),
        ),
        ([], []) => Err(
            "a zip archive without data.pkl or archive_format: not a file written by \
             torch.save, torch.jit.save or torch.export.save"
                .into(),
        ),
        ([], _) => Err("the archive holds more than one data.pkl".into()),
        _ => Err("the archive holds more than one archive_format".into()),
    }
}

/// Refuses a `byteorder` entry other than `little`.
fn check_byteorder(order: &[u8]) -> Result<(), String> {
    if order == b"little" {
        Ok(())
    } else {
        Err(format!(
            "the archive's byte order is `{}`; only little-endian archives are read",
            String::from_utf8_lossy(order)
        ))
    }
}
