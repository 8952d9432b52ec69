//! Request files: the inputs of one forward call, decoded from JSON or safetensors into
//! [`ModelInputs`], keyed by the seed's `forward` argument names.
//!
//! - JSON: an object whose values are (nested) lists of numbers, e.g.
//!   `{"padded_seq": [[[...]]], "seq_lengths": [5, 3, 7]}`. The sequence model also takes
//!   `{"sequences": [[[f, ...], ...], ...]}`: ragged sequences that are padded and measured here.
//!   Float inputs become F32 (as `torch.tensor` would make them); index and length inputs must be
//!   integer literals.
//! - safetensors: one tensor per argument; float inputs in F16, BF16, F32 or F64, index and
//!   length inputs in I64 or I32.
//!
//! Unknown keys and keys given twice are refused, so a misspelt or repeated input never goes
//! unnoticed. JSON numbers are read straight into tensors ([`nested`]), without a document tree.

mod nested;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use candle_core::safetensors::Load;
use candle_core::{Device, Tensor};
use safetensors::{Dtype, SafeTensors};
use serde_json::value::RawValue;

use crate::error::{quoted, Error, Result};
use crate::inputs::{pad_sequences_within, ModelInputs};
use crate::limits::Limits;
use crate::models::ModelKind;
use nested::{nested_numbers, Number};

/// The key of the ragged-sequences form of a sequence-model JSON request.
pub const SEQUENCES_KEY: &str = "sequences";

/// Reads a request file for a `kind` model; the format follows the extension (`.json` or
/// `.safetensors`). Tensors are created on the CPU. A file over `limits.max_input_bytes` is
/// refused before it is read, and any tensor over `limits.max_elements` before it is built.
pub fn read_request(path: &Path, kind: ModelKind, limits: &Limits) -> Result<ModelInputs> {
    let what = format!("input file {}", path.display());
    let format = RequestFormat::from_path(path)
        .ok_or_else(|| Error::format(&what, "expected a .json or .safetensors file"))?;
    let bytes = Limits::read_file(path, limits.max_input_bytes, &what, "max_input_bytes")?;
    match format {
        RequestFormat::Json => {
            let text = std::str::from_utf8(&bytes)
                .map_err(|e| Error::format(&what, format!("not UTF-8 text: {e}")))?;
            request_from_json(text, kind, &what, limits)
        }
        RequestFormat::Safetensors => request_from_safetensors(&bytes, kind, &what, limits),
    }
}

/// A request's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFormat {
    /// A `.json` object of nested lists.
    Json,
    /// A `.safetensors` file of named tensors.
    Safetensors,
}

impl RequestFormat {
    /// The format named by `path`'s extension, if it is `.json` or `.safetensors`.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "json" => Some(Self::Json),
            "safetensors" => Some(Self::Safetensors),
            _ => None,
        }
    }
}

/// Decodes a JSON request for a `kind` model. `what` names the source in error messages;
/// tensors over `limits.max_elements` are refused.
pub fn request_from_json(
    text: &str,
    kind: ModelKind,
    what: &str,
    limits: &Limits,
) -> Result<ModelInputs> {
    // The numbers are read straight into tensors (`nested`): no document tree is built.
    let malformed = |e: serde_json::Error| Error::format(what, format!("malformed JSON: {e}"));
    let doc: &RawValue = serde_json::from_str(text).map_err(malformed)?;
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
    let float = |name: &str| -> Result<Tensor> {
        let (shape, values) = nested_numbers(field(name)?, name, &float_leaf, limits)?;
        Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
    };
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
                let (shape, values) = nested_numbers(item, &name, &float_leaf, limits)?;
                if shape.first() == Some(&0) {
                    return Err(Error::input(name, "is empty; every sequence needs at least one step"));
                }
                if shape.len() != 2 {
                    return Err(Error::input(
                        name,
                        format!("has shape {shape:?}, expected a list of steps, each a list of features"),
                    ));
                }
                Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
            })
            .collect::<Result<Vec<_>>>()?;
        let (padded_seq, lengths) = pad_sequences_within(&sequences, limits)?;
        let lengths: Vec<i64> = lengths.into_iter().map(|l| l as i64).collect();
        let batch = lengths.len();
        return Ok(ModelInputs::Sequence {
            padded_seq,
            seq_lengths: Tensor::from_vec(lengths, batch, &Device::Cpu)?,
        });
    }
    check_keys(&keys, &kind.input_names(), what)?;
    assemble(kind, float, integer)
}

/// Decodes a safetensors request for a `kind` model. `what` names the source in error messages;
/// tensors over `limits.max_elements` are refused.
pub fn request_from_safetensors(
    bytes: &[u8],
    kind: ModelKind,
    what: &str,
    limits: &Limits,
) -> Result<ModelInputs> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| Error::format(what, format!("not a valid safetensors file: {e}")))?;
    let names: BTreeSet<&str> = st.names().into_iter().collect();
    check_keys(&names, &kind.input_names(), what)?;
    let float = |name: &str| -> Result<Tensor> {
        let view = st
            .tensor(name)
            .map_err(|e| Error::input(name, e.to_string()))?;
        limits.check_elements(format!("input `{name}`"), view.shape())?;
        match view.dtype() {
            Dtype::F16 | Dtype::BF16 | Dtype::F32 | Dtype::F64 => Ok(view.load(&Device::Cpu)?),
            other => Err(Error::input(
                name,
                format!("must be a float tensor (F16, BF16, F32 or F64), got {other:?}"),
            )),
        }
    };
    let integer = |name: &str| -> Result<Tensor> {
        let view = st
            .tensor(name)
            .map_err(|e| Error::input(name, e.to_string()))?;
        limits.check_elements(format!("input `{name}`"), view.shape())?;
        let values: Vec<i64> = match view.dtype() {
            Dtype::I64 => view
                .data()
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                .collect(),
            Dtype::I32 => view
                .data()
                .chunks_exact(4)
                .map(|b| i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect(),
            other => {
                return Err(Error::input(
                    name,
                    format!("must hold integers (I64 or I32), got {other:?}"),
                ))
            }
        };
        Ok(Tensor::from_vec(values, view.shape(), &Device::Cpu)?)
    };
    assemble(kind, float, integer)
}

/// The inputs of a `kind` model, each read by `float` or `integer` according to its role.
fn assemble(
    kind: ModelKind,
    float: impl Fn(&str) -> Result<Tensor>,
    integer: impl Fn(&str) -> Result<Tensor>,
) -> Result<ModelInputs> {
    Ok(match kind {
        ModelKind::TwoInput => ModelInputs::TwoInput {
            tensor1: float("tensor1")?,
            tensor2: float("tensor2")?,
        },
        ModelKind::Categorical => ModelInputs::Categorical {
            tensor_input: float("tensor_input")?,
            category_index: integer("category_index")?,
        },
        ModelKind::Sequence => ModelInputs::Sequence {
            padded_seq: float("padded_seq")?,
            seq_lengths: integer("seq_lengths")?,
        },
    })
}

fn key_list(kind: ModelKind) -> String {
    let [a, b] = kind.input_names();
    let mut list = format!("`{a}` and `{b}`");
    if kind == ModelKind::Sequence {
        list.push_str(&format!(" (or `{SEQUENCES_KEY}`)"));
    }
    list
}

/// Refuses missing and unknown keys, naming them.
fn check_keys(present: &BTreeSet<&str>, expected: &[&str], what: &str) -> Result<()> {
    if let Some(missing) = expected.iter().find(|k| !present.contains(**k)) {
        return Err(Error::input(*missing, format!("missing from {what}")));
    }
    if let Some(unknown) = present.iter().find(|k| !expected.contains(k)) {
        return Err(Error::input(
            *unknown,
            format!(
                "is not an input of this model (expected {})",
                quoted(expected)
            ),
        ));
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

/// A float input's element, as f32 (what `torch.tensor` makes of a list of floats).
fn float_leaf(n: Number) -> std::result::Result<f32, String> {
    Ok(match n {
        Number::I64(v) => v as f32,
        Number::U64(v) => v as f32,
        Number::F64(v) => v as f32,
    })
}

/// An index or length input's element: an integer literal in the i64 range.
fn integer_leaf(n: Number) -> std::result::Result<i64, String> {
    match n {
        Number::I64(v) => Ok(v),
        Number::U64(v) => {
            i64::try_from(v).map_err(|_| format!("is {n}, expected an integer below 2^63"))
        }
        Number::F64(_) => Err(format!("is {n}, expected an integer")),
    }
}
