//! The entries of a PyTorch zip archive, read with the checks every PyTorch file gets: stored
//! (uncompressed) entries only, as PyTorch writes them, so no entry can inflate past the file;
//! each entry's bytes exactly its declared size, and its CRC checked.

use std::io::{Cursor, Read};

use zip::read::{ArchiveOffset, Config};
use zip::{CompressionMethod, ZipArchive};

/// A PyTorch zip archive in memory.
pub(crate) struct Entries<'b> {
    zip: ZipArchive<Cursor<&'b [u8]>>,
    /// The entries' names that are UTF-8, in the archive's order.
    names: Vec<String>,
    file_len: usize,
}

impl<'b> Entries<'b> {
    /// Opens `bytes` as a zip archive that starts at its first byte, as PyTorch's do. (The
    /// `zip` crate's default, detecting the offset of an archive with data before it, fails on
    /// some archives that hold another zip, as a `.pt2` does: `data/sample_inputs/model.pt`.)
    pub(crate) fn open(bytes: &'b [u8]) -> Result<Self, String> {
        let config = Config {
            archive_offset: ArchiveOffset::Known(0),
        };
        let zip = ZipArchive::with_config(config, Cursor::new(bytes))
            .map_err(|e| format!("not a readable zip archive: {e}"))?;
        let names = zip
            .file_names()
            .filter_map(|n| Some(n.ok()?.into_owned()))
            .collect();
        Ok(Self {
            zip,
            names,
            file_len: bytes.len(),
        })
    }

    /// The length of the whole file, in bytes.
    pub(crate) fn file_len(&self) -> usize {
        self.file_len
    }

    /// The names of the entries, skipping any that is not valid UTF-8.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// Whether the archive has an entry named `name`.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.zip.index_for_name(name).is_some()
    }

    /// The bytes of entry `name`, checked against its declared size and CRC.
    pub(crate) fn read(&mut self, name: &str) -> Result<Vec<u8>, String> {
        let file_len = self.file_len;
        let entry = self.zip.by_name(name).map_err(|e| format!("{name}: {e}"))?;
        if entry.compression() != CompressionMethod::Stored {
            return Err(format!(
                "{name} is compressed ({}); PyTorch stores its entries uncompressed",
                entry.compression()
            ));
        }
        let size = entry.size();
        if size > file_len as u64 {
            return Err(format!(
                "{name}: declares {size} bytes, more than the whole file ({file_len} bytes)"
            ));
        }
        let mut out = Vec::with_capacity(size as usize);
        // Read to the end (the CRC is checked there), but never past one byte more than declared.
        entry
            .take(size + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("{name}: {e}"))?;
        if out.len() as u64 != size {
            return Err(format!(
                "{name}: holds {} bytes, declares {size}",
                out.len()
            ));
        }
        Ok(out)
    }
}
