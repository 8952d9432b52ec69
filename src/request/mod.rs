//! Request files: the inputs of one forward call, decoded from JSON or safetensors into
//! [`ModelInputs`], keyed by the seed's `forward` argument names.
//!
//! - JSON: an object whose values are (nested) lists of numbers, e.g.
//!   `{"padded_seq": [[[...]]], "seq_lengths": [5, 3, 7]}`. The sequence model also takes
//!   `{"sequences": [[[f, ...], ...], ...]}`: ragged sequences that are padded and measured here.
//!   Float inputs become F32 (as `torch.tensor` would make them), or F64 for an f64 run (see
//!   [`request_from_json`]); a number out of the range of the float type is refused. JSON
//!   cannot write NaN or infinity (safetensors can). Index and length inputs must be integer
//!   literals in the i64 range.
//! - safetensors: one tensor per argument; float inputs in F16, BF16, F32 or F64, index and
//!   length inputs in I64 or I32.
//! - npz: one `.npy` array per argument, as `np.savez(path, padded_seq=a, seq_lengths=b)` or
//!   `np.savez_compressed` writes it; float inputs `<f2`, `<f4` or `<f8`, index and length
//!   inputs `<i4` or `<i8`, in C order ([`npz`]).
//!
//! Unknown keys and keys given twice are refused, so a misspelt or repeated input never goes
//! unnoticed. JSON numbers are read straight into tensors ([`nested`]), without a document tree.

mod lines;
mod nested;
mod npz;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use safetensors::Dtype;
use serde_json::value::RawValue;

use crate::error::{quoted, Error, Result};
use crate::inputs::ModelInputs;
use crate::kind::ModelKind;
use crate::limits::Limits;
use crate::safetensors_stream;
use crate::source::Source;
pub use lines::JsonLines;
use nested::{nested_numbers, Number, Refusal};

/// The key of the ragged-sequences form of a sequence-model JSON request.
pub const SEQUENCES_KEY: &str = "sequences";

/// Reads a request file for a `kind` model running in `dtype`; the format follows the
/// extension (`.json`, `.safetensors` or `.npz`; a `.npy`, which holds one array, is refused
/// with advice). JSON floats are decoded as [`request_from_json`] says (f64 for an F64 run,
/// else f32); safetensors and npz arrays keep their own dtype. Tensors are created on the CPU.
/// A regular file over `limits.max_input_bytes` is refused before it is read, any other source
/// (a pipe, a device) as soon as it is known to exceed it or not to be a request, and any
/// tensor over `limits.max_elements` before it is built.
pub fn read_request(
    path: &Path,
    kind: ModelKind,
    dtype: DType,
    limits: &Limits,
) -> Result<ModelInputs> {
    let what = format!("input file {}", path.display());
    let format = RequestFormat::from_path(path).ok_or_else(|| {
        if path.extension().is_some_and(|e| e == "npy") {
            let [a, b] = kind.input_names();
            Error::format(
                &what,
                format!(
                    "a .npy file holds one array, and the {kind} model takes two, `{a}` and \
                     `{b}`: save both in one .npz, np.savez(path, {a}=..., {b}=...)"
                ),
            )
        } else {
            Error::format(&what, "expected a .json, .safetensors or .npz file")
        }
    })?;
    let mut source = Source::open(path, what.clone(), limits.max_input_bytes, MAX_INPUT_BYTES)?;
    match format {
        RequestFormat::Json => {
            // A request is an object: anything else is refused from its first byte.
            let head = source.peek(JSON_SNIFF)?;
            let first = head.iter().find(|b| !b.is_ascii_whitespace());
            if let Some(message) = first.and_then(|&b| non_request_start(b)) {
                return Err(source.format_error(message));
            }
            let bytes = source.read_to_end()?;
            let text = std::str::from_utf8(&bytes)
                .map_err(|e| Error::format(&what, format!("not UTF-8 text: {e}")))?;
            request_from_json(text, kind, dtype, &what, limits)
        }
        RequestFormat::Safetensors => safetensors_request(&mut source, kind, limits),
        // A zip archive is read from its end: the whole file, within the limit.
        RequestFormat::Npz => request_from_npz(&source.read_to_end()?, kind, &what, limits),
    }
}

/// The leading bytes a JSON request's first byte is looked for in, before it is read whole.
const JSON_SNIFF: usize = 4096;

/// The [`Limits`] field that bounds a request, as errors name it.
const MAX_INPUT_BYTES: &str = "max_input_bytes";

/// Why a JSON text whose first non-blank byte is `b` cannot be a request (which is an
/// object), or `None` when it can.
fn non_request_start(b: u8) -> Option<String> {
    if b == b'{' {
        return None;
    }
    let byte = if b.is_ascii_graphic() {
        format!("`{}`", b as char)
    } else {
        format!("byte 0x{b:02x}")
    };
    Some(format!(
        "not a JSON request: a request is an object, starting with `{{`, and this starts with \
         {byte}"
    ))
}

/// A request's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFormat {
    /// A `.json` object of nested lists.
    Json,
    /// A `.safetensors` file of named tensors.
    Safetensors,
    /// A `.npz` file of named `.npy` arrays (NumPy's `np.savez`, `np.savez_compressed`).
    Npz,
}

impl RequestFormat {
    /// The format named by `path`'s extension, if it is `.json`, `.safetensors` or `.npz`.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "json" => Some(Self::Json),
            "safetensors" => Some(Self::Safetensors),
            "npz" => Some(Self::Npz),
            _ => None,
        }
    }
}

/// Decodes a JSON request for a `kind` model. `what` names the source in error messages;
/// tensors over `limits.max_elements` are refused.
///
/// Float inputs are decoded into `dtype`'s precision: F64 when `dtype` is `DType::F64` (so
/// `0.1` is the f64 nearest 0.1, not the f32 nearest it widened), F32 for any other dtype. An
/// F16 or BF16 run reads f32, as `torch.tensor` does, and the model converts. A number out of
/// the range of the float type is refused, naming the element (serde_json already refuses
/// numbers beyond f64's range); NaN and infinity cannot be written in JSON at all, and a
/// request that tries is refused with that advice.
pub fn request_from_json(
    text: &str,
    kind: ModelKind,
    dtype: DType,
    what: &str,
    limits: &Limits,
) -> Result<ModelInputs> {
    // The numbers are read straight into tensors (`nested`): no document tree is built.
    let malformed = |e: serde_json::Error| Error::format(what, format!("malformed JSON: {e}"));
    let doc: &RawValue = serde_json::from_str(text).map_err(|e| {
        let hint = non_finite_hint(text, &e);
        Error::format(what, format!("malformed JSON: {e}{hint}"))
    })?;
    if !doc.get().starts_with('{') {
        return Err(Error::format(
            what,
            format!("expected a JSON object with keys {}", key_list(kind)),
        ));
    }
    let map = serde_json::from_str::<UniqueKeys>(doc.get())
        .map_err(malformed)?
        .0;
    let keys: BTreeSet<&str> = map.keys().map(String::as_str).collect();
    let field = |name: &str| -> Result<&RawValue> {
        map.get(name)
            .copied()
            .ok_or_else(|| Error::input(name, "missing"))
    };
    // A float input, in `dtype`'s precision.
    let floats = |raw: &RawValue, name: &str| -> Result<Tensor> {
        Ok(if dtype == DType::F64 {
            let (shape, values) = nested_numbers(raw, name, &f64_leaf, limits)?;
            Tensor::from_vec(values, shape, &Device::Cpu)?
        } else {
            let (shape, values) = nested_numbers(raw, name, &f32_leaf, limits)?;
            Tensor::from_vec(values, shape, &Device::Cpu)?
        })
    };
    let float = |name: &str| -> Result<Tensor> { floats(field(name)?, name) };
    let integer = |name: &str| -> Result<Tensor> {
        let (shape, values) = nested_numbers(field(name)?, name, &integer_leaf, limits)?;
        Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
    };
    if kind == ModelKind::Sequence && keys.contains(SEQUENCES_KEY) {
        check_keys(&keys, &[SEQUENCES_KEY], what)?;
        let items: Vec<&RawValue> = serde_json::from_str(field(SEQUENCES_KEY)?.get())
            .map_err(|_| Error::input(SEQUENCES_KEY, "must be a list of sequences"))?;
        let sequences = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let name = format!("{SEQUENCES_KEY}[{i}]");
                let sequence = floats(item, &name)?;
                let shape = sequence.dims();
                if shape.first() == Some(&0) {
                    return Err(Error::input(name, "is empty; every sequence needs at least one step"));
                }
                if shape.len() != 2 {
                    return Err(Error::input(
                        name,
                        format!("has shape {shape:?}, expected a list of steps, each a list of features"),
                    ));
                }
                Ok(sequence)
            })
            .collect::<Result<Vec<_>>>()?;
        return ModelInputs::from_sequences(&sequences, limits);
    }
    check_keys(&keys, &kind.input_names(), what)?;
    assemble(kind, float, integer)
}

/// Advice for a JSON syntax error at a `NaN`, `Infinity` or `-Infinity` (what Python's
/// `json.dumps` writes for them, and what other writers spell `nan` or `inf`): JSON has no such
/// numbers. Empty for any other error.
fn non_finite_hint(text: &str, e: &serde_json::Error) -> String {
    match word_at(text, e.line(), e.column()) {
        Some(word)
            if ["nan", "inf", "infinity"]
                .iter()
                .any(|w| word.trim_start_matches(['-', '+']).eq_ignore_ascii_case(w)) =>
        {
            format!(
                "; `{word}` is not a JSON number: JSON has no NaN or infinity, so pass such \
                 values in a .safetensors input"
            )
        }
        _ => String::new(),
    }
}

/// The word of ASCII letters, with its sign, around the byte at 1-based `line` and `column` of
/// `text` (where serde_json reports a syntax error).
fn word_at(text: &str, line: usize, column: usize) -> Option<&str> {
    let line_start: usize = text
        .split('\n')
        .take(line.checked_sub(1)?)
        .map(|l| l.len() + 1)
        .sum();
    let bytes = text.as_bytes();
    let at = line_start.checked_add(column.checked_sub(1)?)?;
    let letter = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_alphabetic);
    if !letter(at) {
        return None;
    }
    let mut start = at;
    while start > 0 && letter(start - 1) {
        start -= 1;
    }
    if start > 0 && matches!(bytes.get(start - 1), Some(b'-' | b'+')) {
        start -= 1;
    }
    let mut end = at;
    while letter(end) {
        end += 1;
    }
    text.get(start..end)
}

/// Decodes a safetensors request for a `kind` model. `what` names the source in error messages;
/// tensors over `limits.max_elements` are refused.
pub fn request_from_safetensors(
    bytes: &[u8],
    kind: ModelKind,
    what: &str,
    limits: &Limits,
) -> Result<ModelInputs> {
    let mut source = Source::from_slice(bytes, what.to_string(), u64::MAX, MAX_INPUT_BYTES)?;
    safetensors_request(&mut source, kind, limits)
}

/// Decodes an `.npz` request for a `kind` model: one `NAME.npy` array per input, stored
/// (`np.savez`) or deflated (`np.savez_compressed`). `what` names the source in error
/// messages.
///
/// Float inputs may be `<f2`, `<f4` or `<f8` and keep that dtype; index and length inputs
/// `<i4` or `<i8`, read as I64 (as from safetensors). Arrays must be little-endian and in C
/// order; object arrays (pickles) are never read. Every name, npy header and size is checked
/// before any array's data is read: each shape within `limits.max_elements`, the uncompressed
/// sizes the archive declares within `limits.max_input_bytes` in all, and each entry exactly
/// as large as its header says; an entry that inflates to more or less than it declares, or
/// fails its CRC, is refused.
pub fn request_from_npz(
    bytes: &[u8],
    kind: ModelKind,
    what: &str,
    limits: &Limits,
) -> Result<ModelInputs> {
    npz::decode(bytes, kind, what, limits)
}

/// The arrays of an `.npz` request by name, in the archive's order, for a model that runs by
/// its own code (whose signature then types them): every check of [`request_from_npz`] but the
/// names and dtypes a seed model takes.
pub fn tensors_from_npz(
    bytes: &[u8],
    what: &str,
    limits: &Limits,
) -> Result<Vec<(String, Tensor)>> {
    npz::arrays(bytes, None, what, limits)
}

/// A safetensors request read as a stream: names, dtypes and sizes are all checked from the
/// header, before any tensor's bytes are read.
fn safetensors_request<R: Read>(
    source: &mut Source<R>,
    kind: ModelKind,
    limits: &Limits,
) -> Result<ModelInputs> {
    let header = safetensors_stream::read_header(source, safetensors_stream::NOT_SAFETENSORS)?;
    check_request_names(
        kind,
        header.tensors.iter().map(|(n, _)| n.as_str()),
        source.what(),
    )?;
    for (name, info) in &header.tensors {
        match safetensors_dtype(info.dtype) {
            Some(dtype) => check_request_tensor(kind, name, dtype, &info.shape, limits)?,
            None => {
                limits.check_elements(format!("input `{name}`"), &info.shape)?;
                return Err(wrong_dtype(kind, name, info.dtype));
            }
        }
    }
    let tensors = safetensors_stream::read_tensors(source, &header)?;
    assemble_named(kind, &tensors)
}

/// Checks a request's input names for a `kind` model, before any tensor is read: each of
/// [`ModelKind::input_names`] exactly once, and nothing else. `what` names the request in the
/// error (`input file r.safetensors`).
pub fn check_request_names<'a>(
    kind: ModelKind,
    names: impl IntoIterator<Item = &'a str>,
    what: &str,
) -> Result<()> {
    let mut present = BTreeSet::new();
    for name in names {
        if !present.insert(name) {
            return Err(Error::input(name, format!("is given twice in {what}")));
        }
    }
    check_keys(&present, &kind.input_names(), what)
}

/// Checks one input tensor of a request for a `kind` model from its dtype and shape alone,
/// before its data is read: float inputs must be F16, BF16, F32 or F64, index and length
/// inputs (the categorical model's `category_index`, the sequence model's `seq_lengths`) I64
/// or I32, and no tensor may exceed `limits.max_elements`. `name` must be one of the model's
/// inputs ([`check_request_names`]).
pub fn check_request_tensor(
    kind: ModelKind,
    name: &str,
    dtype: DType,
    shape: &[usize],
    limits: &Limits,
) -> Result<()> {
    limits.check_elements(format!("input `{name}`"), shape)?;
    let fits = matches!(
        (kind.takes_floats(name), dtype),
        (true, DType::F16 | DType::BF16 | DType::F32 | DType::F64)
            | (false, DType::I64 | DType::I32)
    );
    if fits {
        Ok(())
    } else {
        Err(wrong_dtype(kind, name, dtype))
    }
}

/// The error for an input `name` of dtype `got`, which its role does not take.
fn wrong_dtype(kind: ModelKind, name: &str, got: impl std::fmt::Debug) -> Error {
    if kind.takes_floats(name) {
        Error::input(
            name,
            format!("must be a float tensor (F16, BF16, F32 or F64), got {got:?}"),
        )
    } else {
        Error::input(
            name,
            format!("must hold integers (I64 or I32), got {got:?}"),
        )
    }
}

/// The candle dtype a safetensors request tensor of dtype `dtype` is read as, if any.
fn safetensors_dtype(dtype: Dtype) -> Option<DType> {
    Some(match dtype {
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        Dtype::I32 => DType::I32,
        Dtype::I64 => DType::I64,
        _ => return None,
    })
}

/// The inputs of a `kind` model, each read by `float` or `integer` according to its role.
fn assemble(
    kind: ModelKind,
    float: impl Fn(&str) -> Result<Tensor>,
    integer: impl Fn(&str) -> Result<Tensor>,
) -> Result<ModelInputs> {
    let [first, second] = kind.input_names();
    let first = float(first)?;
    let second = if kind.takes_floats(second) {
        float(second)?
    } else {
        integer(second)?
    };
    Ok(ModelInputs::new(kind, [first, second]))
}

/// The inputs of a `kind` model from tensors already read by name, each of the right dtype.
fn assemble_named<K: std::borrow::Borrow<str> + Ord>(
    kind: ModelKind,
    tensors: &BTreeMap<K, Tensor>,
) -> Result<ModelInputs> {
    let take = |name: &str| -> Result<Tensor> {
        tensors
            .get(name)
            .cloned()
            .ok_or_else(|| Error::input(name, "missing"))
    };
    assemble(kind, take, take)
}

fn key_list(kind: ModelKind) -> String {
    let [a, b] = kind.input_names();
    let mut list = format!("`{a}` and `{b}`");
    if kind == ModelKind::Sequence {
        list.push_str(&format!(" (or `{SEQUENCES_KEY}`)"));
    }
    list
}

/// Refuses unknown and missing keys, naming them: an unknown key first, as it is often a
/// misspelling of the missing one, and its message lists the expected keys.
fn check_keys(present: &BTreeSet<&str>, expected: &[&str], what: &str) -> Result<()> {
    if let Some(unknown) = present.iter().find(|k| !expected.contains(k)) {
        return Err(Error::input(
            *unknown,
            format!(
                "is not an input of this model (expected {})",
                quoted(expected)
            ),
        ));
    }
    if let Some(missing) = expected.iter().find(|k| !present.contains(**k)) {
        return Err(Error::input(*missing, format!("missing from {what}")));
    }
    Ok(())
}

/// A JSON object's members, refusing a key given twice (serde_json would keep the last one
/// silently).
struct UniqueKeys<'a>(BTreeMap<String, &'a RawValue>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for UniqueKeys<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = UniqueKeys<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut map = BTreeMap::new();
                while let Some((key, value)) = access.next_entry::<String, &RawValue>()? {
                    if map.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!(
                            "key `{key}` is given twice"
                        )));
                    }
                    map.insert(key, value);
                }
                Ok(UniqueKeys(map))
            }
        }
        d.deserialize_map(Members)
    }
}

/// A float input's element for an f32 (or f16, bf16) run, as f32: what `torch.tensor` makes
/// of a list of floats. A number f32 cannot hold, which would become infinity, is refused.
fn f32_leaf(n: Number) -> std::result::Result<f32, Refusal> {
    Ok(match n {
        Number::I64(v) => v as f32,
        Number::U64(v) => v as f32,
        Number::F64(v) => {
            let x = v as f32;
            if x.is_infinite() {
                return Err(outside_f32);
            }
            x
        }
    })
}

fn outside_f32(_literal: &str) -> String {
    "outside the range of f32 (largest magnitude 3.4028235e38)".to_string()
}

/// A float input's element for an f64 run, as f64.
fn f64_leaf(n: Number) -> std::result::Result<f64, Refusal> {
    Ok(match n {
        Number::I64(v) => v as f64,
        Number::U64(v) => v as f64,
        Number::F64(v) => v,
    })
}

/// An index or length input's element: an integer literal in the i64 range.
fn integer_leaf(n: Number) -> std::result::Result<i64, Refusal> {
    match n {
        Number::I64(v) => Ok(v),
        Number::U64(v) => i64::try_from(v).map_err(|_| out_of_i64 as Refusal),
        // serde_json reads an integer literal beyond u64 (or below i64) as an f64.
        Number::F64(_) => Err(not_an_integer),
    }
}

fn out_of_i64(_literal: &str) -> String {
    "out of the range of a 64-bit integer (-2^63 to 2^63 - 1)".to_string()
}

fn not_an_integer(literal: &str) -> String {
    let digits = literal.strip_prefix('-').unwrap_or(literal);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        out_of_i64(literal)
    } else {
        "expected an integer".to_string()
    }
}
