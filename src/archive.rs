//! Zip archives as every reader here opens them (PyTorch's weights archives, NumPy's `.npz`
//! requests): from the file's first byte, every entry name once, and no byte of data shared by
//! two entries.
//!
//! - PyTorch and numpy both write an archive from the file's first byte. Told so, the `zip`
//!   crate takes the offsets the archive's end record gives as they are; its default, searching
//!   the bytes for where an archive with data before it might start, misreads some valid
//!   archives that hold another zip, as every `.pt2` does (`data/sample_inputs/model.pt`).
//! - The `zip` crate keeps the last of two entries of one name, where PyTorch reads the first:
//!   the same file would give two different models. Such an archive is refused, naming the
//!   entry.
//! - Entries whose data overlap let a small file hold many large entries (each read in full);
//!   they are refused.

use std::collections::BTreeSet;
use std::io::Cursor;

use zip::read::{ArchiveOffset, Config};
use zip::ZipArchive;

/// A zip archive in memory.
pub(crate) type Archive<'b> = ZipArchive<Cursor<&'b [u8]>>;

/// Why an archive was not opened.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The zip reader's own error.
    Unreadable(String),
    /// Two entries have this name (`None` when the directory cannot be walked to find it).
    Duplicate(Option<String>),
    /// Two entries share bytes of data.
    Overlapping,
}

impl Refusal {
    /// The refusal in words, for a file that should be a zip archive.
    pub(crate) fn message(&self) -> String {
        match self {
            Refusal::Unreadable(e) => format!("not a readable zip archive: {e}"),
            Refusal::Duplicate(Some(name)) => format!("the archive holds entry `{name}` twice"),
            Refusal::Duplicate(None) => "the archive holds two entries of one name".into(),
            Refusal::Overlapping => "two of the archive's entries share their data".into(),
        }
    }
}

/// Opens `bytes` as a zip archive that starts at its first byte, refusing duplicate names and
/// overlapping entries.
pub(crate) fn open(bytes: &[u8]) -> Result<Archive<'_>, Refusal> {
    let config = Config {
        archive_offset: ArchiveOffset::Known(0),
    };
    let unreadable = |e: zip::result::ZipError| Refusal::Unreadable(e.to_string());
    let mut zip = ZipArchive::with_config(config, Cursor::new(bytes)).map_err(unreadable)?;
    if zip.has_duplicate_names() {
        return Err(Refusal::Duplicate(duplicated_name(
            bytes,
            zip.central_directory_start(),
        )));
    }
    if zip.has_overlapping_files().map_err(unreadable)? {
        return Err(Refusal::Overlapping);
    }
    Ok(zip)
}

/// The first name the archive's central directory, starting at `start`, holds twice (the zip
/// reader keeps one entry per name). `None` if the directory cannot be walked.
fn duplicated_name(bytes: &[u8], start: u64) -> Option<String> {
    const SIGNATURE: &[u8] = b"PK\x01\x02";
    const FIXED: usize = 46;
    let mut at = usize::try_from(start).ok()?;
    let mut seen = BTreeSet::new();
    while bytes.get(at..at.checked_add(4)?)? == SIGNATURE {
        let field = |offset: usize| -> Option<usize> {
            let b = bytes.get(at + offset..at + offset + 2)?;
            Some(usize::from(u16::from_le_bytes([b[0], b[1]])))
        };
        let (name_len, extra_len, comment_len) = (field(28)?, field(30)?, field(32)?);
        let name = bytes.get(at + FIXED..at + FIXED + name_len)?;
        if !seen.insert(name) {
            return Some(String::from_utf8_lossy(name).into_owned());
        }
        at += FIXED + name_len + extra_len + comment_len;
    }
    None
}
