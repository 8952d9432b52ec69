//! `.npz` and `.npy` files built byte by byte, for the tests of hostile files: a zip writer
//! that writes whatever it is told (sizes and CRCs that lie, a name twice, any compression
//! method), and npy arrays with any header text.

use std::io::Write;

use candle_core::Tensor;
use flate2::write::DeflateEncoder;
use flate2::{Compression, Crc};

/// One zip entry, as its headers will describe it.
#[derive(Clone)]
pub struct Entry {
    pub name: String,
    /// 0 stored, 8 deflated.
    pub method: u16,
    /// General-purpose flags (bit 0: encrypted).
    pub flags: u16,
    /// The entry's bytes as stored in the archive (compressed for method 8).
    pub payload: Vec<u8>,
    /// The CRC-32 and uncompressed size the headers record.
    pub crc: u32,
    pub size: u32,
}

impl Entry {
    /// `bytes` stored, with their true CRC and size.
    pub fn stored(name: &str, bytes: &[u8]) -> Self {
        Entry {
            name: name.to_string(),
            method: 0,
            flags: 0,
            payload: bytes.to_vec(),
            crc: crc(bytes),
            size: bytes.len() as u32,
        }
    }

    /// `bytes` deflated, with their true CRC and size.
    pub fn deflated(name: &str, bytes: &[u8]) -> Self {
        Entry {
            method: 8,
            payload: deflate(bytes),
            ..Entry::stored(name, bytes)
        }
    }

    /// `bytes`, deflated if `compressed`.
    pub fn new(name: &str, bytes: &[u8], compressed: bool) -> Self {
        if compressed {
            Entry::deflated(name, bytes)
        } else {
            Entry::stored(name, bytes)
        }
    }
}

pub fn crc(bytes: &[u8]) -> u32 {
    let mut crc = Crc::new();
    crc.update(bytes);
    crc.sum()
}

pub fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A zip archive of `entries`, in order: local headers and payloads, the central directory,
/// its end record. Returns the archive and where each payload starts.
pub fn zip_with_offsets(entries: &[Entry]) -> (Vec<u8>, Vec<usize>) {
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    let mut payloads = Vec::new();
    for e in entries {
        offsets.push(out.len());
        out.extend_from_slice(b"PK\x03\x04");
        common_fields(&mut out, e);
        out.extend_from_slice(&0u16.to_le_bytes()); // extra length
        out.extend_from_slice(e.name.as_bytes());
        payloads.push(out.len());
        out.extend_from_slice(&e.payload);
    }
    let directory = out.len();
    for (e, offset) in entries.iter().zip(&offsets) {
        out.extend_from_slice(b"PK\x01\x02");
        out.extend_from_slice(&20u16.to_le_bytes()); // version made by
        common_fields(&mut out, e);
        out.extend_from_slice(&[0; 2]); // extra length
        out.extend_from_slice(&[0; 2]); // comment length
        out.extend_from_slice(&[0; 2]); // disk
        out.extend_from_slice(&[0; 2]); // internal attributes
        out.extend_from_slice(&[0; 4]); // external attributes
        out.extend_from_slice(&(*offset as u32).to_le_bytes());
        out.extend_from_slice(e.name.as_bytes());
    }
    let directory_len = out.len() - directory;
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0; 4]); // disks
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(directory_len as u32).to_le_bytes());
    out.extend_from_slice(&(directory as u32).to_le_bytes());
    out.extend_from_slice(&[0; 2]); // comment length
    (out, payloads)
}

/// The fields local and central headers share, from `version needed` to the name's length.
fn common_fields(out: &mut Vec<u8>, e: &Entry) {
    out.extend_from_slice(&20u16.to_le_bytes()); // version needed
    out.extend_from_slice(&e.flags.to_le_bytes());
    out.extend_from_slice(&e.method.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // time, date
    out.extend_from_slice(&e.crc.to_le_bytes());
    out.extend_from_slice(&(e.payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&e.size.to_le_bytes());
    out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
}

pub fn zip(entries: &[Entry]) -> Vec<u8> {
    zip_with_offsets(entries).0
}

/// An `.npz` of `NAME.npy` entries, each holding the npy bytes given, deflated if
/// `compressed`.
pub fn npz(arrays: &[(&str, &[u8])], compressed: bool) -> Vec<u8> {
    let entries: Vec<Entry> = arrays
        .iter()
        .map(|(name, bytes)| Entry::new(&format!("{name}.npy"), bytes, compressed))
        .collect();
    zip(&entries)
}

/// An npy file of version 1.0 whose header is `dict`, padded to 64 bytes and ending in a
/// newline as numpy writes it, followed by `data`.
pub fn npy(dict: &str, data: &[u8]) -> Vec<u8> {
    npy_version((1, 0), dict, data)
}

/// [`npy`] in another format version (the length takes 4 bytes after 1.0).
pub fn npy_version((major, minor): (u8, u8), dict: &str, data: &[u8]) -> Vec<u8> {
    let length_bytes = if major == 1 { 2 } else { 4 };
    let prefix = 8 + length_bytes;
    let unpadded = dict.len() + 1;
    let len = unpadded + (64 - (prefix + unpadded) % 64) % 64;
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[major, minor]);
    out.extend_from_slice(&(len as u32).to_le_bytes()[..length_bytes]);
    out.extend_from_slice(dict.as_bytes());
    out.resize(prefix + len - 1, b' ');
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

/// The header dict numpy writes for a C-order array.
pub fn dict(descr: &str, shape: &str) -> String {
    format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}")
}

/// The `.npy` bytes of a tensor, as the library writes them.
pub fn npy_of(t: &Tensor) -> Vec<u8> {
    scriptless::npy_bytes(t).unwrap()
}
