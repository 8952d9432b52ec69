//! `.npz` requests, decoded for each model kind, and a forward call on the seed's weights for
//! every request that decodes. Mutated raw bytes rarely get past a zip's CRCs to the npy
//! reader, so an input that does not start like a zip archive (`PK`) is structured: entries
//! (names from the seeds' inputs, `arr_N` or any text; stored or deflated; sizes and CRCs true
//! or lying) holding npy arrays (any version; a header dict of known or any dtypes, either
//! order and any shape, an unknown key, or any text; data sized to the shape or not; cut or
//! flipped), written into a zip archive here. An input that starts like one (the fixtures'
//! `input*.npz` seeds and their mutations) is read as it is. Errors are expected; a panic, an
//! abort, a leak or an allocation past the limits is a finding.

#![no_main]

use std::io::Write;

use arbitrary::{Arbitrary, Unstructured};
use flate2::write::DeflateEncoder;
use flate2::{Compression, Crc};
use libfuzzer_sys::fuzz_target;
use scriptless::request_from_npz;

#[path = "common.rs"]
mod common;
#[path = "seed_models.rs"]
mod seed_models;

#[derive(Arbitrary, Debug)]
struct Archive {
    entries: Vec<Entry>,
}

#[derive(Arbitrary, Debug)]
struct Entry {
    name: Name,
    body: Body,
    deflated: bool,
    /// A CRC or uncompressed size recorded instead of the true one.
    lie: Option<Lie>,
}

#[derive(Arbitrary, Debug)]
enum Name {
    /// `<input>.npy` for one of the seed models' inputs.
    Input(u8),
    /// `arr_<n>.npy`, as `np.savez` names arrays given by position.
    Positional(u8),
    Text(String),
}

#[derive(Arbitrary, Debug)]
enum Lie {
    Crc(u32),
    Size(u32),
}

#[derive(Arbitrary, Debug)]
enum Body {
    Npy(Npy),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Npy {
    /// 1.0, 2.0 or 3.0 for 0 to 2, else this major version.
    version: u8,
    header: Header,
    data: Vec<u8>,
    /// Repeat `data` to exactly the bytes the header describes (when it describes at most
    /// 1 MiB), or keep it as it is.
    fit: bool,
    /// Cut the file at this byte, when set.
    cut: Option<u16>,
    /// Flip bits of this byte, when set.
    flip: Option<(u16, u8)>,
}

#[derive(Arbitrary, Debug)]
enum Header {
    Dict {
        descr: Descr,
        fortran_order: bool,
        shape: Vec<Dim>,
        /// An extra key, with this text as its value.
        extra: Option<String>,
        /// Write `shape` first.
        reordered: bool,
    },
    Text(String),
}

#[derive(Arbitrary, Debug)]
enum Descr {
    Known(u8),
    Text(String),
}

#[derive(Arbitrary, Debug)]
enum Dim {
    Small(u8),
    Any(u64),
}

const INPUTS: [&str; 6] = [
    "tensor1",
    "tensor2",
    "tensor_input",
    "category_index",
    "padded_seq",
    "seq_lengths",
];

/// Dtypes that read, and some that must be refused, with their sizes.
const DESCRS: [(&str, usize); 12] = [
    ("<f4", 4),
    ("<i8", 8),
    ("<f2", 2),
    ("<f8", 8),
    ("<i4", 4),
    (">f4", 4),
    (">i8", 8),
    ("|O", 8),
    ("|b1", 1),
    ("|u1", 1),
    ("<c8", 8),
    ("<U2", 8),
];

impl Npy {
    fn bytes(&self) -> Vec<u8> {
        let (dict, described) = match &self.header {
            Header::Text(text) => (text.clone(), None),
            Header::Dict {
                descr,
                fortran_order,
                shape,
                extra,
                reordered,
            } => {
                let (descr, size) = match descr {
                    Descr::Known(i) => {
                        let (d, s) = DESCRS[*i as usize % DESCRS.len()];
                        (d.to_string(), Some(s))
                    }
                    Descr::Text(t) => (t.clone(), None),
                };
                let dims: Vec<u64> = shape
                    .iter()
                    .map(|d| match d {
                        Dim::Small(n) => u64::from(*n % 8),
                        Dim::Any(n) => *n,
                    })
                    .collect();
                let tuple = match dims.as_slice() {
                    [one] => format!("({one},)"),
                    _ => format!(
                        "({})",
                        dims.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
                    ),
                };
                let order = if *fortran_order { "True" } else { "False" };
                let mut dict = if *reordered {
                    format!("{{'shape': {tuple}, 'fortran_order': {order}, 'descr': '{descr}', ")
                } else {
                    format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {tuple}, ")
                };
                if let Some(extra) = extra {
                    dict.push_str(&format!("'extra': '{extra}', "));
                }
                dict.push('}');
                let described = size.and_then(|s| {
                    dims.iter()
                        .try_fold(s as u64, |n, &d| n.checked_mul(d))
                        .filter(|&n| n <= 1 << 20)
                });
                (dict, described)
            }
        };
        let (major, length_bytes) = match self.version {
            0 => (1, 2),
            1 => (2, 4),
            2 => (3, 4),
            v => (v, 4),
        };
        let mut out = b"\x93NUMPY".to_vec();
        out.extend_from_slice(&[major, 0]);
        let len = dict.len() as u32 + 1;
        out.extend_from_slice(&len.to_le_bytes()[..length_bytes]);
        out.extend_from_slice(dict.as_bytes());
        out.push(b'\n');
        match described {
            Some(n) if self.fit => {
                let pattern = if self.data.is_empty() { &[0u8][..] } else { &self.data };
                out.extend(pattern.iter().cycle().take(n as usize));
            }
            _ => out.extend_from_slice(&self.data),
        }
        if let Some(cut) = self.cut {
            out.truncate(cut as usize);
        }
        if let Some((at, bits)) = self.flip {
            if let Some(b) = out.get_mut(at as usize) {
                *b ^= bits;
            }
        }
        out
    }
}

impl Entry {
    fn name(&self) -> String {
        match &self.name {
            Name::Input(i) => format!("{}.npy", INPUTS[*i as usize % INPUTS.len()]),
            Name::Positional(n) => format!("arr_{}.npy", n % 3),
            Name::Text(t) => t.clone(),
        }
    }
}

/// A zip archive of the entries, written as they say (a name may come twice).
fn zip(archive: &Archive) -> Vec<u8> {
    let mut out = Vec::new();
    let mut directory = Vec::new();
    for entry in archive.entries.iter().take(8) {
        let data = match &entry.body {
            Body::Npy(npy) => npy.bytes(),
            Body::Raw(raw) => raw.clone(),
        };
        let mut crc = Crc::new();
        crc.update(&data);
        let (mut crc, mut size) = (crc.sum(), data.len() as u32);
        match entry.lie {
            Some(Lie::Crc(c)) => crc = c,
            Some(Lie::Size(s)) => size = s,
            None => {}
        }
        let (method, payload) = if entry.deflated {
            let mut encoder = DeflateEncoder::new(Vec::new(), Compression::fast());
            let _ = encoder.write_all(&data);
            (8u16, encoder.finish().unwrap_or_default())
        } else {
            (0u16, data)
        };
        let name = entry.name();
        let mut fields = Vec::new();
        fields.extend_from_slice(&20u16.to_le_bytes());
        fields.extend_from_slice(&[0, 0]);
        fields.extend_from_slice(&method.to_le_bytes());
        fields.extend_from_slice(&[0; 4]);
        fields.extend_from_slice(&crc.to_le_bytes());
        fields.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        fields.extend_from_slice(&size.to_le_bytes());
        fields.extend_from_slice(&(name.len() as u16).to_le_bytes());
        fields.extend_from_slice(&[0, 0]);
        let offset = out.len() as u32;
        out.extend_from_slice(b"PK\x03\x04");
        out.extend_from_slice(&fields);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&payload);
        directory.extend_from_slice(b"PK\x01\x02\x14\x00");
        directory.extend_from_slice(&fields);
        directory.extend_from_slice(&[0; 10]);
        directory.extend_from_slice(&offset.to_le_bytes());
        directory.extend_from_slice(name.as_bytes());
    }
    let count = archive.entries.len().min(8) as u16;
    let start = out.len() as u32;
    out.extend_from_slice(&directory);
    out.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00");
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(directory.len() as u32).to_le_bytes());
    out.extend_from_slice(&start.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

fuzz_target!(|data: &[u8]| {
    let built;
    let bytes = if data.starts_with(b"PK") {
        data
    } else {
        let Ok(archive) = Archive::arbitrary_take_rest(Unstructured::new(data)) else {
            return;
        };
        built = zip(&archive);
        &built[..]
    };
    for model in seed_models::models() {
        if let Ok(inputs) = request_from_npz(bytes, model.kind(), "fuzz input", &common::LIMITS) {
            common::run(model, &inputs);
        }
    }
});
