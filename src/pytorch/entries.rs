//! The entries of a PyTorch zip archive, read with the checks every PyTorch file gets: the
//! archive opened as [`crate::archive`] opens every zip (from its first byte, each name once,
//! no shared data); stored (uncompressed) entries only, as PyTorch writes them, so no entry can
//! inflate past the file (but a TorchScript archive's code, which PyTorch deflates, read within
//! a bound of its own); each entry exactly its declared size, with its CRC checked; each
//! storage read once.

use std::collections::HashMap;
use std::io::Read;
use std::rc::Rc;

use zip::CompressionMethod;

use crate::archive::{self, Archive};

/// A PyTorch zip archive in memory.
pub(crate) struct Entries<'b> {
    zip: Archive<'b>,
    /// The entries' names that are UTF-8, in the archive's order.
    names: Vec<String>,
    file_len: usize,
    /// The storages read so far, by entry name.
    storages: HashMap<String, Rc<Vec<u8>>>,
}

impl<'b> Entries<'b> {
    /// Opens `bytes` as a zip archive.
    pub(crate) fn open(bytes: &'b [u8]) -> Result<Self, String> {
        let zip = archive::open(bytes).map_err(|refusal| refusal.message())?;
        let names = zip
            .file_names()
            .filter_map(|n| Some(n.ok()?.into_owned()))
            .collect();
        Ok(Self {
            zip,
            names,
            file_len: bytes.len(),
            storages: HashMap::new(),
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
        let file_len = self.file_len as u64;
        self.read_entry(name, false, file_len)
    }

    /// The bytes of entry `name`, stored or deflated (PyTorch deflates the code of a TorchScript
    /// archive), at most `max` bytes once inflated, checked against its declared size and CRC.
    pub(crate) fn read_inflated(&mut self, name: &str, max: u64) -> Result<Vec<u8>, String> {
        self.read_entry(name, true, max)
    }

    /// The size entry `name` declares, inflated.
    pub(crate) fn declared_size(&mut self, name: &str) -> Result<u64, String> {
        let entry = self.zip.by_name(name).map_err(|e| format!("{name}: {e}"))?;
        Ok(entry.size())
    }

    fn read_entry(&mut self, name: &str, deflated: bool, max: u64) -> Result<Vec<u8>, String> {
        let file_len = self.file_len;
        let entry = self.zip.by_name(name).map_err(|e| format!("{name}: {e}"))?;
        match entry.compression() {
            CompressionMethod::Stored => {}
            CompressionMethod::Deflated if deflated => {}
            other => {
                return Err(format!(
                    "{name} is compressed ({other}); PyTorch stores its entries uncompressed"
                ))
            }
        }
        let size = entry.size();
        if size > max {
            return Err(match deflated {
                false => format!(
                    "{name}: declares {size} bytes, more than the whole file ({file_len} bytes)"
                ),
                true => format!("{name}: declares {size} bytes, more than the {max} read"),
            });
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

    /// The bytes of storage entry `name`, [read](Self::read) the first time it is asked for.
    pub(crate) fn storage(&mut self, name: &str) -> Result<Rc<Vec<u8>>, String> {
        if let Some(bytes) = self.storages.get(name) {
            return Ok(bytes.clone());
        }
        let bytes = Rc::new(self.read(name)?);
        self.storages.insert(name.to_string(), bytes.clone());
        Ok(bytes)
    }
}
