//! `.npz` requests: a zip archive of one `NAME.npy` array per input, as `np.savez` (entries
//! stored) and `np.savez_compressed` (entries deflated) write it.
//!
//! Everything that can be checked before data is read is: the archive's entries (each a
//! stored or deflated `.npy`, no name twice), the input names, the uncompressed size the
//! entries declare in all (within `max_input_bytes`), then each array's npy header (its dtype,
//! order and shape, within `max_elements`) and that its entry declares exactly the header's
//! bytes plus the shape's. Only then are the arrays read, each into the tensor it becomes, and
//! an entry is read to its declared end and no further: one that inflates to more (a zip
//! bomb) or to less is refused, and its CRC is checked.

use std::collections::BTreeMap;
use std::io::{self, Read};

use bytemuck::Pod;
use candle_core::{Device, Tensor};
use half::f16;
use zip::CompressionMethod;

use super::{assemble_named, check_request_names, check_request_tensor};
use crate::archive::{self, Archive, Refusal};
use crate::error::{quoted, Error, Result};
use crate::inputs::ModelInputs;
use crate::kind::ModelKind;
use crate::limits::Limits;
use crate::npy::{describe_descr, Descr, Header, NpyDtype, Version, MAGIC_AND_VERSION};

/// One entry of the archive: an array named for an input.
struct Entry {
    /// Its index in the archive.
    index: usize,
    /// The array's name: the entry's, without `.npy`.
    name: String,
    /// The uncompressed size its entry declares.
    size: u64,
}

/// An entry whose npy header was read and checked.
struct Array {
    entry: Entry,
    dtype: NpyDtype,
    shape: Vec<usize>,
    /// Bytes before the data: magic, version, header length and header.
    data_start: u64,
}

/// Decodes an `.npz` request for a `kind` model; `what` names it in errors.
pub(super) fn decode(
    bytes: &[u8],
    kind: ModelKind,
    what: &str,
    limits: &Limits,
) -> Result<ModelInputs> {
    let tensors: BTreeMap<String, Tensor> = arrays(bytes, Some(kind), what, limits)?
        .into_iter()
        .collect();
    assemble_named(kind, &tensors)
}

/// The arrays of an `.npz` by name, in the archive's order: for a `kind` model's request,
/// checked against its inputs; for `None` (a model run by its own code, whose signature is
/// checked later), any names, each within the limits.
pub(super) fn arrays(
    bytes: &[u8],
    kind: Option<ModelKind>,
    what: &str,
    limits: &Limits,
) -> Result<Vec<(String, Tensor)>> {
    let mut zip = archive::open(bytes).map_err(|refusal| match refusal {
        Refusal::Unreadable(e) => Error::format(
            what,
            format!("not a readable .npz file (a zip archive of .npy arrays): {e}"),
        ),
        Refusal::Duplicate(Some(entry)) => match entry.strip_suffix(".npy") {
            Some(name) => Error::input(name, format!("is given twice in {what}")),
            None => Error::format(what, format!("holds entry `{entry}` twice")),
        },
        other => Error::format(what, other.message()),
    })?;
    let entries = entries(&zip, kind, what)?;
    let declared = entries
        .iter()
        .fold(0u64, |total, e| total.saturating_add(e.size));
    if declared > limits.max_input_bytes {
        return Err(Error::Limit {
            what: what.to_string(),
            message: format!(
                "its arrays declare {declared} bytes uncompressed, over the limit of {} bytes \
                 (max_input_bytes)",
                limits.max_input_bytes
            ),
        });
    }
    let arrays = entries
        .into_iter()
        .map(|entry| read_header(&mut zip, entry, kind, what, limits))
        .collect::<Result<Vec<_>>>()?;
    let mut tensors = Vec::with_capacity(arrays.len());
    for array in &arrays {
        tensors.push((array.entry.name.clone(), read_data(&mut zip, array, what)?));
    }
    Ok(tensors)
}

/// The archive's entries, checked from its directory alone: each a stored or deflated
/// `NAME.npy`, unencrypted, no name twice, and the names exactly the inputs of a `kind` model.
fn entries(zip: &Archive, kind: Option<ModelKind>, what: &str) -> Result<Vec<Entry>> {
    let mut entries = Vec::with_capacity(zip.len());
    for index in 0..zip.len() {
        let file = zip
            .by_index_data(index)
            .map_err(|e| Error::format(what, format!("entry {index}: {e}")))?;
        let entry = file
            .name()
            .map_err(|e| Error::format(what, format!("entry {index}: {e}")))?;
        let Some(name) = entry.strip_suffix(".npy") else {
            return Err(Error::format(
                what,
                match kind {
                    Some(kind) => format!(
                        "holds `{entry}`, which is not an .npy array: an .npz request holds \
                         one NAME.npy per input, for {}",
                        quoted(&kind.input_names())
                    ),
                    None => format!(
                        "holds `{entry}`, which is not an .npy array: an .npz request holds \
                         one NAME.npy per tensor argument"
                    ),
                },
            ));
        };
        if file.encrypted() {
            return Err(Error::format(what, format!("array `{name}` is encrypted")));
        }
        match file.compression() {
            CompressionMethod::Stored | CompressionMethod::Deflated => {}
            other => {
                return Err(Error::format(
                    what,
                    format!(
                        "array `{name}` is compressed with {other}; only stored (np.savez) and \
                         deflated (np.savez_compressed) entries are read"
                    ),
                ))
            }
        }
        entries.push(Entry {
            index,
            name: name.to_string(),
            size: file.size(),
        });
    }
    if let Some(kind) = kind {
        check_request_names(kind, entries.iter().map(|e| e.name.as_str()), what)
            .map_err(|e| positional_hint(e, kind))?;
    }
    Ok(entries)
}

/// Adds advice to an error naming `arr_0`, `arr_1`, ...: the names `np.savez` gives arrays
/// passed by position.
fn positional_hint(err: Error, kind: ModelKind) -> Error {
    match err {
        Error::Input { name, message } if is_positional(&name) => {
            let [a, b] = kind.input_names();
            Error::Input {
                message: format!(
                    "{message}; np.savez names the arrays it is given by position arr_0, arr_1, \
                     ...: name them, np.savez(path, {a}=..., {b}=...)"
                ),
                name,
            }
        }
        other => other,
    }
}

fn is_positional(name: &str) -> bool {
    name.strip_prefix("arr_")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Reads and checks an entry's npy header: its version and length, the dict, a dtype the
/// input's role takes, C order, a shape within `limits`, and an entry of exactly the size
/// the header describes.
fn read_header(
    zip: &mut Archive,
    entry: Entry,
    kind: Option<ModelKind>,
    what: &str,
    limits: &Limits,
) -> Result<Array> {
    let name = entry.name.as_str();
    let format = |message: String| Error::format(what, format!("array `{name}` {message}"));
    let mut file = zip
        .by_index(entry.index)
        .map_err(|e| format(format!("cannot be read: {e}")))?;
    let reader = Reader {
        name,
        what,
        size: entry.size,
    };
    let mut start = [0u8; MAGIC_AND_VERSION];
    reader.fill(&mut file, &mut start, "its npy header")?;
    let version = Version::read(&start).map_err(format)?;
    let mut len = [0u8; 4];
    let len = &mut len[..version.length_bytes()];
    reader.fill(&mut file, len, "its npy header")?;
    let header_len = version.header_len(len).map_err(format)?;
    let mut text = vec![0u8; header_len];
    reader.fill(&mut file, &mut text, "its npy header")?;
    let header =
        Header::parse(&text).map_err(|m| format(format!("has a malformed npy header: {m}")))?;
    let dtype = request_dtype(kind, name, &header.descr)?;
    if header.fortran_order {
        return Err(Error::input(
            name,
            "is stored in Fortran order (column-major); save it in C order: \
             np.ascontiguousarray(a)",
        ));
    }
    match kind {
        Some(kind) => check_request_tensor(kind, name, dtype.dtype(), &header.shape, limits)?,
        None => limits.check_elements(format!("input `{name}`"), &header.shape)?,
    }
    // Within `max_elements` (just checked), so the product does not overflow.
    let elements = header.shape.iter().product::<usize>() as u64;
    let data = elements.saturating_mul(dtype.size() as u64);
    let data_start = (MAGIC_AND_VERSION + version.length_bytes() + header_len) as u64;
    let described = data_start.saturating_add(data);
    if described != entry.size {
        return Err(format(format!(
            "has an entry of {} bytes, but its npy header describes {described}: {data_start} \
             bytes of header and {data} of data (shape {:?} of {}-byte elements)",
            entry.size,
            header.shape,
            dtype.size()
        )));
    }
    Ok(Array {
        entry,
        dtype,
        shape: header.shape,
        data_start,
    })
}

/// The dtype of input `name` from its `descr`: one its role takes in an npy array, or an
/// error that says what it is and how to convert it.
fn request_dtype(kind: Option<ModelKind>, name: &str, descr: &Descr) -> Result<NpyDtype> {
    let descr = match descr {
        Descr::Simple(descr) => descr,
        Descr::Structured => {
            return Err(Error::input(
                name,
                "is a structured array (a record of named fields); save each input as a plain \
                 array of numbers",
            ))
        }
    };
    if let Some(dtype) = NpyDtype::from_descr(descr) {
        return Ok(dtype);
    }
    let (wanted, convert) = if kind.is_none_or(|k| k.takes_floats(name)) {
        ("float16, float32 or float64 (<f2, <f4, <f8)", "np.float32")
    } else {
        ("int32 or int64 (<i4, <i8)", "np.int64")
    };
    let message = match descr.as_str() {
        "|O" | "O" => format!(
            "holds Python objects (dtype object, `{descr}`), which are pickled and never read \
             here; save an array of numbers, a.astype({convert})"
        ),
        _ => match descr.strip_prefix('>') {
            Some(little) if NpyDtype::from_descr(&format!("<{little}")).is_some() => {
                format!("is big-endian (`{descr}`); save it little-endian: a.astype('<{little}')")
            }
            _ => format!(
                "holds {} (`{descr}`), which is not read: expected {wanted}; convert it, \
                 a.astype({convert})",
                describe_descr(descr)
            ),
        },
    };
    Err(Error::input(name, message))
}

/// Reads an array's data into the tensor it becomes (I32 widened to I64, as from
/// safetensors), then its entry to the end, which checks the CRC and that nothing follows.
fn read_data(zip: &mut Archive, array: &Array, what: &str) -> Result<Tensor> {
    let name = array.entry.name.as_str();
    let mut file = zip
        .by_index(array.entry.index)
        .map_err(|e| Error::format(what, format!("array `{name}` cannot be read: {e}")))?;
    let reader = Reader {
        name,
        what,
        size: array.entry.size,
    };
    let skipped = io::copy(&mut (&mut file).take(array.data_start), &mut io::sink())
        .map_err(|e| reader.damaged(e))?;
    if skipped != array.data_start {
        return Err(reader.short("its npy header"));
    }
    let n: usize = array.shape.iter().product();
    let shape = array.shape.as_slice();
    let tensor = match array.dtype {
        NpyDtype::F16 => Tensor::from_vec(reader.values::<f16>(&mut file, n)?, shape, &Device::Cpu),
        NpyDtype::F32 => Tensor::from_vec(reader.values::<f32>(&mut file, n)?, shape, &Device::Cpu),
        NpyDtype::F64 => Tensor::from_vec(reader.values::<f64>(&mut file, n)?, shape, &Device::Cpu),
        NpyDtype::I64 => Tensor::from_vec(reader.values::<i64>(&mut file, n)?, shape, &Device::Cpu),
        NpyDtype::I32 => {
            let values = reader.values::<i32>(&mut file, n)?;
            let values: Vec<i64> = values.into_iter().map(i64::from).collect();
            Tensor::from_vec(values, shape, &Device::Cpu)
        }
    }
    .map_err(|e| Error::format(what, format!("array `{name}`: {e}")))?;
    let mut probe = [0u8; 1];
    match file.read(&mut probe) {
        Ok(0) => Ok(tensor),
        Ok(_) => Err(reader.damaged_by(reader.oversized())),
        Err(e) => Err(reader.damaged(e)),
    }
}

/// Reads one entry's bytes, naming its array in errors.
struct Reader<'a> {
    name: &'a str,
    what: &'a str,
    /// The uncompressed size the entry declares.
    size: u64,
}

impl Reader<'_> {
    /// Fills `buf` from `file`; `part` names what is read, should the entry end first.
    fn fill(&self, file: &mut impl Read, buf: &mut [u8], part: &str) -> Result<()> {
        file.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => self.short(part),
            _ => self.damaged(e),
        })
    }

    /// `n` little-endian elements, read straight into the buffer a tensor will keep.
    fn values<T: Pod + Default>(&self, file: &mut impl Read, n: usize) -> Result<Vec<T>> {
        let mut values: Vec<T> = Vec::new();
        if values.try_reserve_exact(n).is_err() {
            return Err(Error::Limit {
                what: self.what.to_string(),
                message: format!(
                    "out of memory: array `{}` ({} bytes) could not be allocated",
                    self.name,
                    n.saturating_mul(std::mem::size_of::<T>())
                ),
            });
        }
        values.resize(n, T::default());
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut values);
        self.fill(file, bytes, "its data")?;
        if cfg!(target_endian = "big") {
            for element in bytes.chunks_exact_mut(std::mem::size_of::<T>()) {
                element.reverse();
            }
        }
        Ok(values)
    }

    /// The error for an entry that ends in the middle of `part`.
    fn short(&self, part: &str) -> Error {
        Error::format(
            self.what,
            format!(
                "array `{}` ends in the middle of {part} (its entry declares {} bytes)",
                self.name, self.size
            ),
        )
    }

    /// The error for an entry the zip reader refused while reading it, in words for the two
    /// refusals its messages leave terse (the zip crate's own texts).
    fn damaged(&self, e: io::Error) -> Error {
        self.damaged_by(match e.to_string().as_str() {
            "Invalid checksum" => "its bytes do not match the CRC-32 its entry records".to_string(),
            "File is larger than its declared uncompressed size" => self.oversized(),
            other => other.to_string(),
        })
    }

    fn damaged_by(&self, why: String) -> Error {
        Error::format(
            self.what,
            format!("array `{}` is damaged: {why}", self.name),
        )
    }

    fn oversized(&self) -> String {
        format!(
            "it holds more than the {} bytes its entry declares",
            self.size
        )
    }
}
