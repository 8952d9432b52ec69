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
//! Unknown keys are refused, so a misspelt input never goes unnoticed.

use std::collections::BTreeSet;
use std::path::Path;

use candle_core::safetensors::Load;
use candle_core::{Device, Tensor};
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

use crate::error::{quoted, Error, Result};
use crate::inputs::{pad_sequences, ModelInputs};
use crate::models::ModelKind;

/// The key of the ragged-sequences form of a sequence-model JSON request.
pub const SEQUENCES_KEY: &str = "sequences";

/// Reads a request file for a `kind` model; the format follows the extension (`.json` or
/// `.safetensors`). Tensors are created on the CPU.
pub fn read_request(path: &Path, kind: ModelKind) -> Result<ModelInputs> {
    let what = format!("input file {}", path.display());
    let format = RequestFormat::from_path(path)
        .ok_or_else(|| Error::format(&what, "expected a .json or .safetensors file"))?;
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    match format {
        RequestFormat::Json => {
            let text = std::str::from_utf8(&bytes)
                .map_err(|e| Error::format(&what, format!("not UTF-8 text: {e}")))?;
            request_from_json(text, kind, &what)
        }
        RequestFormat::Safetensors => request_from_safetensors(&bytes, kind, &what),
    }
}

/// A request's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFormat {
    Json,
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

/// Decodes a JSON request for a `kind` model. `what` names the source in error messages.
pub fn request_from_json(text: &str, kind: ModelKind, what: &str) -> Result<ModelInputs> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Error::format(what, format!("malformed JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(Error::format(
            what,
            format!("expected a JSON object with keys {}", key_list(kind)),
        ));
    };
    let keys: BTreeSet<&str> = map.keys().map(String::as_str).collect();
    let float = |name: &str| -> Result<Tensor> {
        let (shape, values) = nested_numbers(field(&map, name)?, name, Number::Float)?;
        let values: Vec<f32> = values.into_iter().map(|v| v.as_f64() as f32).collect();
        Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
    };
    let integer = |name: &str| -> Result<Tensor> {
        let (shape, values) = nested_numbers(field(&map, name)?, name, Number::Integer)?;
        let values: Vec<i64> = values.into_iter().map(|v| v.as_i64()).collect();
        Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
    };
    if kind == ModelKind::Sequence && keys.contains(SEQUENCES_KEY) {
        check_keys(&keys, &[SEQUENCES_KEY], what)?;
        let Value::Array(items) = field(&map, SEQUENCES_KEY)? else {
            return Err(Error::input(SEQUENCES_KEY, "must be a list of sequences"));
        };
        let sequences = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let name = format!("{SEQUENCES_KEY}[{i}]");
                let (shape, values) = nested_numbers(item, &name, Number::Float)?;
                if shape.first() == Some(&0) {
                    return Err(Error::input(name, "is empty; every sequence needs at least one step"));
                }
                if shape.len() != 2 {
                    return Err(Error::input(
                        name,
                        format!("has shape {shape:?}, expected a list of steps, each a list of features"),
                    ));
                }
                let values: Vec<f32> = values.into_iter().map(|v| v.as_f64() as f32).collect();
                Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
            })
            .collect::<Result<Vec<_>>>()?;
        let (padded_seq, lengths) = pad_sequences(&sequences)?;
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

/// Decodes a safetensors request for a `kind` model. `what` names the source in error messages.
pub fn request_from_safetensors(bytes: &[u8], kind: ModelKind, what: &str) -> Result<ModelInputs> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| Error::format(what, format!("not a valid safetensors file: {e}")))?;
    let names: BTreeSet<&str> = st.names().into_iter().collect();
    check_keys(&names, &kind.input_names(), what)?;
    let float = |name: &str| -> Result<Tensor> {
        let view = st
            .tensor(name)
            .map_err(|e| Error::input(name, e.to_string()))?;
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

fn field<'a>(map: &'a serde_json::Map<String, Value>, name: &str) -> Result<&'a Value> {
    map.get(name).ok_or_else(|| Error::input(name, "missing"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Number {
    Float,
    Integer,
}

#[derive(Debug, Clone, Copy)]
enum Scalar {
    F(f64),
    I(i64),
}

impl Scalar {
    fn as_f64(self) -> f64 {
        match self {
            Scalar::F(v) => v,
            Scalar::I(v) => v as f64,
        }
    }

    fn as_i64(self) -> i64 {
        match self {
            Scalar::I(v) => v,
            Scalar::F(v) => v as i64,
        }
    }
}

/// A rectangular nested list of numbers: its shape and its values in row-major order. Ragged
/// lists, non-numbers and (for `Number::Integer`) non-integers are refused with the element's
/// path, e.g. `padded_seq[1][2]`.
fn nested_numbers(value: &Value, name: &str, kind: Number) -> Result<(Vec<usize>, Vec<Scalar>)> {
    let mut shape = Vec::new();
    let mut probe = value;
    while let Value::Array(items) = probe {
        shape.push(items.len());
        match items.first() {
            Some(first) => probe = first,
            None => break,
        }
    }
    let mut values = Vec::new();
    collect(value, &shape, name.to_string(), kind, &mut values)?;
    Ok((shape, values))
}

fn collect(
    value: &Value,
    shape: &[usize],
    path: String,
    kind: Number,
    out: &mut Vec<Scalar>,
) -> Result<()> {
    match (value, shape.split_first()) {
        (Value::Array(items), Some((&len, rest))) => {
            if items.len() != len {
                return Err(Error::input(
                    path,
                    format!(
                        "has {} elements, expected {len} like its siblings (ragged lists)",
                        items.len()
                    ),
                ));
            }
            for (i, item) in items.iter().enumerate() {
                collect(item, rest, format!("{path}[{i}]"), kind, out)?;
            }
            Ok(())
        }
        (Value::Array(_), None) => Err(Error::input(
            path,
            "is a list where its siblings are numbers (ragged lists)",
        )),
        (Value::Number(n), None) => {
            let scalar =
                match kind {
                    Number::Integer => Scalar::I(n.as_i64().ok_or_else(|| {
                        Error::input(&path, format!("is {n}, expected an integer"))
                    })?),
                    Number::Float => Scalar::F(n.as_f64().ok_or_else(|| {
                        Error::input(&path, format!("is {n}, not representable as a number"))
                    })?),
                };
            out.push(scalar);
            Ok(())
        }
        (Value::Number(_), Some((&len, _))) => Err(Error::input(
            path,
            format!("is a number where a list of {len} was expected (ragged lists)"),
        )),
        (other, _) => Err(Error::input(
            path,
            format!("is {}, expected a number", json_type(other)),
        )),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
