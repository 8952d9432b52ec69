//! NumPy's `.npy` format: a header read strictly, before any data ([`Header`]), and a tensor
//! written as `np.save` writes it ([`npy_bytes`]).
//!
//! An npy file is the magic `\x93NUMPY`, a version (1.0, 2.0 or 3.0), the header's length (2
//! bytes in 1.0, 4 after), the header (a Python dict literal, [`literal`]) and the array's
//! bytes. candle's own `read_npy` and `read_npz` allocate whatever a header's shape asks for
//! before any limit could be checked (a 100-byte file can ask for terabytes), so requests are
//! read with this instead.

mod literal;

use bytemuck::Pod;
use candle_core::{DType, Tensor, WithDType};
use half::f16;

use crate::error::{Error, Result};
use literal::{parse_dict, Literal};

/// The bytes every npy file starts with.
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The longest header read: numpy's own default `max_header_size`.
const MAX_HEADER_BYTES: usize = 10_000;

/// numpy aligns the data of what it writes to this many bytes.
const ALIGN: usize = 64;

/// numpy pads a header with room for the first dimension to grow to this many digits.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;

/// The bytes before the header: magic, version and the header's length.
pub(crate) const MAGIC_AND_VERSION: usize = 8;

/// An npy format version this reader takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    /// 1.0: the header's length in 2 bytes.
    V1,
    /// 2.0 and 3.0 (a UTF-8 header, where 2.0's is Latin-1): its length in 4 bytes.
    V2,
}

impl Version {
    /// The version of the npy file that starts with `start`, the magic and version bytes.
    pub(crate) fn read(start: &[u8; MAGIC_AND_VERSION]) -> std::result::Result<Self, String> {
        if &start[..6] != MAGIC {
            return Err("does not start with the npy magic `\\x93NUMPY`: not an npy array".into());
        }
        match (start[6], start[7]) {
            (1, 0) => Ok(Version::V1),
            (2, 0) | (3, 0) => Ok(Version::V2),
            (major, minor) => Err(format!(
                "is in npy format version {major}.{minor}; versions 1.0, 2.0 and 3.0 are read"
            )),
        }
    }

    /// How many bytes give the header's length, after the magic and version.
    pub(crate) fn length_bytes(self) -> usize {
        match self {
            Version::V1 => 2,
            Version::V2 => 4,
        }
    }

    /// The header's length from its `length_bytes` little-endian bytes, refused over
    /// [`MAX_HEADER_BYTES`].
    pub(crate) fn header_len(self, bytes: &[u8]) -> std::result::Result<usize, String> {
        let len = bytes
            .iter()
            .rev()
            .fold(0u64, |n, &b| (n << 8) | u64::from(b));
        match usize::try_from(len) {
            Ok(len) if len <= MAX_HEADER_BYTES => Ok(len),
            _ => Err(format!(
                "has an npy header of {len} bytes, over numpy's own limit of {MAX_HEADER_BYTES} \
                 (max_header_size)"
            )),
        }
    }
}

/// An npy header: what its dict says, every key checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub descr: Descr,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
}

/// A header's `descr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Descr {
    /// A plain dtype, `<f4`.
    Simple(String),
    /// A list of fields: a structured (record) dtype.
    Structured,
}

impl Header {
    /// Parses a header's text: a dict of exactly `descr` (a string, or a list for a structured
    /// dtype), `fortran_order` (a bool) and `shape` (a tuple of dimensions).
    pub(crate) fn parse(text: &[u8]) -> std::result::Result<Self, String> {
        let (mut descr, mut fortran_order, mut shape) = (None, None, None);
        for (key, value) in parse_dict(text)? {
            let wrong = |wanted: &str| format!("'{key}' is {}, not {wanted}", value.kind());
            match key.as_str() {
                "descr" => {
                    descr = Some(match value {
                        Literal::Str(s) => Descr::Simple(s),
                        Literal::List(_) => Descr::Structured,
                        _ => return Err(wrong("a string")),
                    })
                }
                "fortran_order" => match value {
                    Literal::Bool(b) => fortran_order = Some(b),
                    _ => return Err(wrong("True or False")),
                },
                "shape" => match &value {
                    Literal::Tuple(dims) => shape = Some(dims_of(dims)?),
                    _ => return Err(wrong("a tuple")),
                },
                _ => {
                    return Err(format!(
                        "has an unknown key '{key}' (an npy header has 'descr', \
                         'fortran_order' and 'shape', and nothing else)"
                    ))
                }
            }
        }
        let missing = |key: &str| format!("has no '{key}'");
        Ok(Header {
            descr: descr.ok_or_else(|| missing("descr"))?,
            fortran_order: fortran_order.ok_or_else(|| missing("fortran_order"))?,
            shape: shape.ok_or_else(|| missing("shape"))?,
        })
    }
}

/// A shape tuple's dimensions, each a non-negative integer that fits a `usize`.
fn dims_of(items: &[Literal]) -> std::result::Result<Vec<usize>, String> {
    items
        .iter()
        .map(|item| match item {
            Literal::Int(text) if text.starts_with('-') => {
                Err(format!("'shape' has a negative dimension, {text}"))
            }
            Literal::Int(text) => text
                .parse::<usize>()
                .map_err(|_| format!("'shape' has a dimension too large to address, {text}")),
            other => Err(format!("'shape' holds {}, not only integers", other.kind())),
        })
        .collect()
}

/// The dtypes a request's arrays may have: little-endian floats and integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NpyDtype {
    F16,
    F32,
    F64,
    I32,
    I64,
}

impl NpyDtype {
    /// The dtype a plain `descr` names, if it is one of these.
    pub(crate) fn from_descr(descr: &str) -> Option<Self> {
        Some(match descr {
            "<f2" => NpyDtype::F16,
            "<f4" => NpyDtype::F32,
            "<f8" => NpyDtype::F64,
            "<i4" => NpyDtype::I32,
            "<i8" => NpyDtype::I64,
            _ => return None,
        })
    }

    /// The candle dtype of the array's elements.
    pub(crate) fn dtype(self) -> DType {
        match self {
            NpyDtype::F16 => DType::F16,
            NpyDtype::F32 => DType::F32,
            NpyDtype::F64 => DType::F64,
            NpyDtype::I32 => DType::I32,
            NpyDtype::I64 => DType::I64,
        }
    }

    /// Bytes per element.
    pub(crate) fn size(self) -> usize {
        match self {
            NpyDtype::F16 => 2,
            NpyDtype::F32 | NpyDtype::I32 => 4,
            NpyDtype::F64 | NpyDtype::I64 => 8,
        }
    }
}

/// What a plain `descr` other than an [`NpyDtype`] holds, in numpy's words (`bool`, `uint8`,
/// `big-endian float32`), for messages.
pub(crate) fn describe_descr(descr: &str) -> String {
    let (order, rest) = match descr.as_bytes().first() {
        Some(b'<' | b'>' | b'|' | b'=') => descr.split_at(1),
        _ => ("", descr),
    };
    let (kind, size) = rest.split_at(rest.chars().next().map_or(0, char::len_utf8));
    let bits = size.parse::<usize>().ok().and_then(|n| n.checked_mul(8));
    let name = match (kind, bits) {
        ("b", Some(8)) => "bool".to_string(),
        ("i", Some(bits)) => format!("int{bits}"),
        ("u", Some(bits)) => format!("uint{bits}"),
        ("f", Some(bits)) => format!("float{bits}"),
        ("c", Some(bits)) => format!("complex{bits}"),
        ("O", _) => "Python objects".to_string(),
        ("U", _) => "Unicode strings".to_string(),
        ("S", _) => "byte strings".to_string(),
        ("V", _) => "raw bytes (void)".to_string(),
        ("M", _) => "datetime64".to_string(),
        ("m", _) => "timedelta64".to_string(),
        _ => return format!("an unknown type `{descr}`"),
    };
    if order == ">" {
        format!("big-endian {name}")
    } else {
        name
    }
}

/// The tensor as `np.save` writes it, byte for byte: a version 1.0 header (2.0 only if it
/// does not fit), the dict `{'descr': '<f4', 'fortran_order': False, 'shape': (1, 10), }`
/// padded with spaces to numpy's 64-byte alignment and a newline, then the elements in C
/// order, little-endian.
///
/// F16, F32 and F64 are written as `<f2`, `<f4` and `<f8`, I32 and I64 as `<i4` and `<i8`.
/// numpy has no bfloat16: BF16 is written as `<f4`, which holds every bfloat16 value exactly.
/// Other dtypes are refused ([`Error::Unsupported`]).
pub fn npy_bytes(tensor: &Tensor) -> Result<Vec<u8>> {
    let (descr, data) = match tensor.dtype() {
        DType::F16 => ("<f2", le_bytes::<f16>(tensor)?),
        DType::F32 => ("<f4", le_bytes::<f32>(tensor)?),
        DType::BF16 => ("<f4", le_bytes::<f32>(&tensor.to_dtype(DType::F32)?)?),
        DType::F64 => ("<f8", le_bytes::<f64>(tensor)?),
        DType::I32 => ("<i4", le_bytes::<i32>(tensor)?),
        DType::I64 => ("<i8", le_bytes::<i64>(tensor)?),
        other => {
            return Err(Error::Unsupported(format!(
                "a {other:?} tensor cannot be written as .npy"
            )))
        }
    };
    let mut bytes = header_bytes(descr, tensor.dims());
    bytes.extend_from_slice(&data);
    Ok(bytes)
}

/// A tensor's elements in C order as little-endian bytes.
fn le_bytes<T: WithDType + Pod>(tensor: &Tensor) -> Result<Vec<u8>> {
    let values = tensor.flatten_all()?.to_vec1::<T>()?;
    let mut bytes: Vec<u8> = bytemuck::cast_slice(&values).to_vec();
    if cfg!(target_endian = "big") {
        for element in bytes.chunks_exact_mut(std::mem::size_of::<T>()) {
            element.reverse();
        }
    }
    Ok(bytes)
}

/// The magic, version, length and header `np.save` writes for a C-order array of `descr` and
/// `shape` (numpy's `_write_array_header` and `_wrap_header`).
pub(crate) fn header_bytes(descr: &str, shape: &[usize]) -> Vec<u8> {
    let mut dict = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': {}, }}",
        tuple(shape)
    );
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        dict.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    // The dict, then spaces up to the next multiple of ALIGN (a whole ALIGN when already
    // there, as numpy does), then a newline.
    let wrap = |version: Version| {
        let prefix = MAGIC_AND_VERSION + version.length_bytes();
        let unpadded = dict.len() + 1;
        let pad = ALIGN - (prefix + unpadded) % ALIGN;
        (prefix, unpadded + pad)
    };
    let (version, (prefix, len)) = match wrap(Version::V1) {
        (prefix, len) if len <= usize::from(u16::MAX) => (Version::V1, (prefix, len)),
        _ => (Version::V2, wrap(Version::V2)),
    };
    let mut bytes = Vec::with_capacity(prefix + len);
    bytes.extend_from_slice(MAGIC);
    match version {
        Version::V1 => {
            bytes.extend_from_slice(&[1, 0]);
            bytes.extend_from_slice(&(len as u16).to_le_bytes());
        }
        Version::V2 => {
            bytes.extend_from_slice(&[2, 0]);
            bytes.extend_from_slice(&(len as u32).to_le_bytes());
        }
    }
    bytes.extend_from_slice(dict.as_bytes());
    bytes.resize(prefix + len - 1, b' ');
    bytes.push(b'\n');
    bytes
}

/// A shape as Python writes a tuple: `()`, `(3,)`, `(3, 10)`.
fn tuple(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    match dims.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", dims.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_numpys() {
        let header = header_bytes("<f4", &[3, 10]);
        assert_eq!(header.len(), 128);
        assert_eq!(&header[..10], b"\x93NUMPY\x01\x00\x76\x00");
        let text = std::str::from_utf8(&header[10..]).unwrap();
        assert!(text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 10), }"));
        assert!(text.ends_with(" \n"));
        assert_eq!(
            Header::parse(text.as_bytes()),
            Ok(Header {
                descr: Descr::Simple("<f4".into()),
                fortran_order: false,
                shape: vec![3, 10],
            })
        );
        assert_eq!(tuple(&[]), "()");
        assert_eq!(tuple(&[7]), "(7,)");
        // A header that does not fit 1.0's two length bytes is written as 2.0.
        let header = header_bytes("<f4", &[1; 30_000]);
        assert_eq!(&header[6..8], &[2, 0]);
        assert_eq!(header.len() % ALIGN, 0);
    }

    #[test]
    fn header_keys_and_values_are_checked() {
        let parse = |text: &str| Header::parse(text.as_bytes()).unwrap_err();
        let base = "'descr': '<f4', 'fortran_order': False";
        assert!(parse(&format!("{{{base}}}")).contains("has no 'shape'"));
        let e = parse(&format!("{{{base}, 'shape': (2,), 'extra': 1}}"));
        assert!(e.contains("unknown key 'extra'"), "{e}");
        let e = parse(&format!("{{{base}, 'shape': [2]}}"));
        assert!(e.contains("'shape' is a list, not a tuple"), "{e}");
        let e = parse(&format!("{{{base}, 'shape': (2, -1)}}"));
        assert!(e.contains("negative dimension, -1"), "{e}");
        let e = parse(&format!("{{{base}, 'shape': (99999999999999999999999,)}}"));
        assert!(e.contains("too large"), "{e}");
        let e = parse("{'descr': '<f4', 'fortran_order': 0, 'shape': ()}");
        assert!(e.contains("'fortran_order' is an integer"), "{e}");
        let structured =
            Header::parse(b"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}");
        assert_eq!(structured.unwrap().descr, Descr::Structured);
    }

    #[test]
    fn versions_and_lengths() {
        assert_eq!(Version::read(b"\x93NUMPY\x03\x00"), Ok(Version::V2));
        assert!(Version::read(b"\x93NUMPY\x01\x01")
            .unwrap_err()
            .contains("version 1.1"));
        assert!(Version::read(b"PK\x03\x04\x00\x00\x00\x00").is_err());
        assert_eq!(Version::V1.header_len(&[0x10, 0x27]), Ok(10_000));
        assert!(Version::V1.header_len(&[0x11, 0x27]).is_err());
        assert!(Version::V2.header_len(&[0xff; 4]).is_err());
    }

    #[test]
    fn descrs_are_described() {
        assert_eq!(describe_descr("|b1"), "bool");
        assert_eq!(describe_descr(">f4"), "big-endian float32");
        assert_eq!(describe_descr("<c16"), "complex128");
        assert_eq!(describe_descr("|O"), "Python objects");
        assert_eq!(describe_descr("<U5"), "Unicode strings");
        assert_eq!(describe_descr("what"), "an unknown type `what`");
        // A size whose bits overflow is no known type, not a wrapped number.
        assert_eq!(
            describe_descr("<f3000000000000000000"),
            "an unknown type `<f3000000000000000000`"
        );
    }
}
