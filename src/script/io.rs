//! Requests and outputs of a [`Program`](super::Program) as files: a JSON request typed by
//! `forward`'s signature (tensors by `torch.tensor`'s rule), a safetensors request of tensors
//! by argument name (list items `name.0`, `name.1`), and the output as JSON (`{"output": ...}`
//! mirroring what `forward` returns) or as named tensors (`output`, `output.0`, `output.key`).

use candle_core::{DType, Device};
use serde::ser::{Error as _, Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value as Json;

use super::ast::Type;
use super::given::{args_from_given, Given};
use super::program::Signature;
use super::value::Value;
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::ops::{ScalarType, Tensor};

/// The arguments of a JSON request: an object keyed by `forward`'s argument names, each typed
/// by its declared type as [`args_from_given`] types it (a `Tensor` is nested arrays typed as
/// `torch.tensor` types them: all integers int64, any float literal float32, booleans bool).
pub fn args_from_json(
    signature: &Signature,
    text: &str,
    limits: &Limits,
) -> Result<Vec<(String, Value)>> {
    let doc: Json = serde_json::from_str(text).map_err(|e| Error::format("request", e))?;
    let Json::Object(map) = doc else {
        return Err(Error::format(
            "request",
            "expected a JSON object keyed by forward's argument names",
        ));
    };
    let mut wide = false;
    let args = map
        .into_iter()
        .map(|(k, v)| (k, given(v, &mut wide)))
        .collect();
    // serde_json reads an integer literal past int64's range as a float: refused instead, as
    // `torch.tensor` refuses it (and Python's door does). Only a request with a number that
    // may have been one is scanned for it.
    if let Some((name, literal)) = wide.then(|| wide_integer(text)).flatten() {
        return Err(Error::input(
            name,
            format!("{literal} is out of int64's range"),
        ));
    }
    args_from_given(signature, args, limits)
}

/// A JSON value as given: an integer literal an int, any other number a float. `wide` is set
/// where a number outside int64 is a whole number of int64's magnitude or more, which an
/// integer literal past int64's range reads as.
fn given(v: Json, wide: &mut bool) -> Given {
    match v {
        Json::Null => Given::None,
        Json::Bool(b) => Given::Bool(b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Given::Int(i),
            None => {
                let x = n.as_f64().unwrap_or(f64::NAN);
                *wide |= x.abs() >= 9.2e18 && x.fract() == 0.0;
                Given::Float(x)
            }
        },
        Json::String(s) => Given::Str(s),
        Json::Array(items) => Given::List(items.into_iter().map(|v| given(v, wide)).collect()),
        Json::Object(map) => {
            Given::Dict(map.into_iter().map(|(k, v)| (k, given(v, wide))).collect())
        }
    }
}

/// The first integer literal (no `.`, `e` or `E`) past int64's range in `text`, a JSON object
/// that parsed, with the key of the top-level entry that holds it.
fn wide_integer(text: &str) -> Option<(String, &str)> {
    let bytes = text.as_bytes();
    let (mut i, mut depth) = (0, 0usize);
    // The last string at depth 1 (a key, once a `:` follows it), and the current key.
    let (mut last, mut key) = (None, String::new());
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                let start = i;
                i += 1;
                while let Some(&c) = bytes.get(i) {
                    match c {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
                if depth == 1 {
                    last = text.get(start..=i);
                }
            }
            b':' if depth == 1 => {
                key = last
                    .and_then(|k| serde_json::from_str::<String>(k).ok())
                    .unwrap_or_default();
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'-' | b'0'..=b'9' => {
                let start = i;
                while bytes
                    .get(i + 1)
                    .is_some_and(|c| c.is_ascii_digit() || b"+-.eE".contains(c))
                {
                    i += 1;
                }
                let literal = text.get(start..=i).unwrap_or_default();
                if !literal.contains(['.', 'e', 'E']) && literal.parse::<i64>().is_err() {
                    return Some((key, literal));
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The arguments of a request of named tensors (safetensors, `.npz`): each tensor argument by
/// its name, a `List[Tensor]`'s items as `name.0`, `name.1`, ... An argument of another type
/// cannot be given this way: refused unless it has a default or is optional.
pub fn args_from_tensors(
    signature: &Signature,
    mut tensors: Vec<(String, Tensor)>,
) -> Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for p in &signature.params {
        let base = strip_optional(&p.ty);
        match base.name.as_str() {
            "Tensor" => {
                if let Some(i) = tensors.iter().position(|(n, _)| *n == p.name) {
                    let (_, t) = tensors.swap_remove(i);
                    out.push((p.name.clone(), Value::Tensor(t)));
                }
            }
            "List" | "Tuple" if base.args.iter().all(|a| a.name == "Tensor") => {
                let mut items = Vec::new();
                while let Some(i) = tensors
                    .iter()
                    .position(|(n, _)| *n == format!("{}.{}", p.name, items.len()))
                {
                    items.push(Value::Tensor(tensors.swap_remove(i).1));
                }
                if !items.is_empty() {
                    out.push((
                        p.name.clone(),
                        if base.name == "List" {
                            Value::List(items)
                        } else {
                            Value::Tuple(items)
                        },
                    ));
                }
            }
            _ if p.has_default || p.ty.name == "Optional" => {}
            _ => {
                return Err(Error::input(
                    &p.name,
                    format!(
                        "is a {}, which a request of tensors cannot hold: give it in a JSON \
                         request",
                        p.ty.display()
                    ),
                ))
            }
        }
    }
    if let Some((name, _)) = tensors.first() {
        return Err(Error::input(name, "forward takes no such argument"));
    }
    Ok(out)
}

fn strip_optional(ty: &Type) -> &Type {
    match (ty.name.as_str(), ty.args.first()) {
        ("Optional", Some(inner)) => inner,
        _ => ty,
    }
}

/// The output as named tensors: `output` for a lone tensor, `output.0`, `output.1` for a
/// tuple's or list's items, `output.key` for a dict's entries, joined by `.` when nested;
/// numbers become 0-dim tensors (int64, float64, bool). Strings and `None` have no tensor:
/// refused, naming where they are.
pub fn output_tensors(v: &Value) -> Result<Vec<(String, Tensor)>> {
    let mut out = Vec::new();
    named(v, "output".into(), &mut out)?;
    Ok(out)
}

fn named(v: &Value, name: String, out: &mut Vec<(String, Tensor)>) -> Result<()> {
    let cpu = Device::Cpu;
    match v {
        Value::Tensor(t) => out.push((name, t.to_device(&cpu)?)),
        Value::Int(n) => out.push((name, Tensor::new(candle_core::Tensor::new(*n, &cpu)?)?)),
        Value::Float(x) => out.push((name, Tensor::new(candle_core::Tensor::new(*x, &cpu)?)?)),
        Value::Bool(b) => out.push((
            name,
            Tensor::from_mask(candle_core::Tensor::new(u8::from(*b), &cpu)?)?,
        )),
        Value::List(items) | Value::Tuple(items) => {
            for (i, item) in items.iter().enumerate() {
                named(item, format!("{name}.{i}"), out)?;
            }
        }
        Value::Dict(items) => {
            for (k, item) in items {
                named(item, format!("{name}.{k}"), out)?;
            }
        }
        Value::Str(_) | Value::None => {
            return Err(Error::Unsupported(format!(
                "`{name}` is a {}, which only a JSON output can hold",
                v.type_name()
            )))
        }
    }
    Ok(())
}

/// The output as one line of JSON: `{"output": ...}` mirroring the value (a tensor as nested
/// arrays; a lone tensor also gets `"shape"`). Refused for a NaN or infinity, which JSON
/// cannot hold, naming the element.
pub fn output_json(v: &Value) -> Result<String> {
    check_finite(v, "output")?;
    let doc = Doc(v);
    serde_json::to_string(&doc).map_err(|e| Error::Script(e.to_string()))
}

fn check_finite(v: &Value, name: &str) -> Result<()> {
    match v {
        Value::Float(x) if !x.is_finite() => Err(Error::Unsupported(format!(
            "`{name}` is {x}, which JSON cannot represent; write the output as safetensors"
        ))),
        Value::Tensor(t) if t.dtype().is_float() => {
            let flat = t
                .inner()
                .flatten_all()?
                .to_dtype(DType::F64)?
                .to_vec1::<f64>()?;
            match flat.iter().position(|x| !x.is_finite()) {
                Some(i) => Err(Error::Unsupported(format!(
                    "element {i} of `{name}` (flattened) is {}, which JSON cannot represent; \
                     write the output as safetensors: --output FILE.safetensors",
                    flat[i]
                ))),
                None => Ok(()),
            }
        }
        Value::List(items) | Value::Tuple(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_finite(item, &format!("{name}.{i}"))),
        Value::Dict(items) => items
            .iter()
            .try_for_each(|(k, item)| check_finite(item, &format!("{name}.{k}"))),
        _ => Ok(()),
    }
}

struct Doc<'a>(&'a Value);

impl Serialize for Doc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("output", &Out(self.0))?;
        if let Value::Tensor(t) = self.0 {
            map.serialize_entry("shape", t.dims())?;
        }
        map.end()
    }
}

struct Out<'a>(&'a Value);

impl Serialize for Out<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            Value::None => s.serialize_none(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(n) => s.serialize_i64(*n),
            Value::Float(x) => s.serialize_f64(*x),
            Value::Str(x) => s.serialize_str(x),
            Value::List(items) | Value::Tuple(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Out(item))?;
                }
                seq.end()
            }
            Value::Dict(items) => {
                let mut map = s.serialize_map(Some(items.len()))?;
                for (k, item) in items {
                    map.serialize_entry(k, &Out(item))?;
                }
                map.end()
            }
            Value::Tensor(t) => {
                let data = TensorData::of(t).map_err(S::Error::custom)?;
                Nested {
                    data: &data,
                    shape: t.dims(),
                    offset: 0,
                }
                .serialize(s)
            }
        }
    }
}

/// A tensor's elements on the CPU, in the JSON type that holds them.
enum TensorData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
    Bool(Vec<u8>),
}

impl TensorData {
    fn of(t: &Tensor) -> Result<Self> {
        let flat = t.inner().flatten_all()?;
        Ok(match t.dtype() {
            ScalarType::Float64 => Self::F64(flat.to_vec1()?),
            ScalarType::Float32 | ScalarType::Float16 | ScalarType::BFloat16 => {
                Self::F32(flat.to_dtype(DType::F32)?.to_vec1()?)
            }
            ScalarType::Bool => Self::Bool(flat.to_vec1()?),
            _ => Self::I64(flat.to_dtype(DType::I64)?.to_vec1()?),
        })
    }
}

struct Nested<'a> {
    data: &'a TensorData,
    shape: &'a [usize],
    offset: usize,
}

impl Serialize for Nested<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let Some((&len, rest)) = self.shape.split_first() else {
            let i = self.offset;
            return match self.data {
                TensorData::F32(v) => s.serialize_f32(v[i]),
                TensorData::F64(v) => s.serialize_f64(v[i]),
                TensorData::I64(v) => s.serialize_i64(v[i]),
                TensorData::Bool(v) => s.serialize_bool(v[i] != 0),
            };
        };
        let stride: usize = rest.iter().product();
        let mut seq = s.serialize_seq(Some(len))?;
        for i in 0..len {
            seq.serialize_element(&Nested {
                data: self.data,
                shape: rest,
                offset: self.offset + i * stride,
            })?;
        }
        seq.end()
    }
}

/// The tensors of a safetensors request, by name, in the file's order.
pub fn tensors_from_safetensors(bytes: &[u8], what: &str) -> Result<Vec<(String, Tensor)>> {
    use safetensors::Dtype;
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| Error::format(what, e))?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        let (dtype, bool) = match view.dtype() {
            Dtype::F32 => (DType::F32, false),
            Dtype::F64 => (DType::F64, false),
            Dtype::F16 => (DType::F16, false),
            Dtype::BF16 => (DType::BF16, false),
            Dtype::I64 => (DType::I64, false),
            Dtype::I32 => (DType::I32, false),
            Dtype::I16 => (DType::I16, false),
            Dtype::U8 => (DType::U8, false),
            Dtype::BOOL => (DType::U8, true),
            other => {
                return Err(Error::input(
                    &name,
                    format!("is {other:?}, a type scriptless does not hold"),
                ))
            }
        };
        let t =
            candle_core::Tensor::from_raw_buffer(view.data(), dtype, view.shape(), &Device::Cpu)?;
        let t = if bool {
            Tensor::from_mask(t)?
        } else {
            Tensor::new(t)?
        };
        out.push((name, t));
    }
    Ok(out)
}

/// The output's tensors ([`output_tensors`]) as a safetensors file.
pub fn output_safetensors(v: &Value) -> Result<Vec<u8>> {
    use safetensors::Dtype;
    let tensors = output_tensors(v)?;
    let mut owned = Vec::with_capacity(tensors.len());
    for (name, t) in &tensors {
        let dtype = match t.dtype() {
            ScalarType::Float32 => Dtype::F32,
            ScalarType::Float64 => Dtype::F64,
            ScalarType::Float16 => Dtype::F16,
            ScalarType::BFloat16 => Dtype::BF16,
            ScalarType::Int64 => Dtype::I64,
            ScalarType::Int32 => Dtype::I32,
            ScalarType::Int16 => Dtype::I16,
            ScalarType::UInt8 => Dtype::U8,
            ScalarType::Bool => Dtype::BOOL,
        };
        let flat = t.inner().flatten_all()?;
        let bytes: Vec<u8> = match t.dtype() {
            ScalarType::Float32 => bytemuck::cast_slice(&flat.to_vec1::<f32>()?).to_vec(),
            ScalarType::Float64 => bytemuck::cast_slice(&flat.to_vec1::<f64>()?).to_vec(),
            ScalarType::Float16 => bytemuck::cast_slice(&flat.to_vec1::<half::f16>()?).to_vec(),
            ScalarType::BFloat16 => bytemuck::cast_slice(&flat.to_vec1::<half::bf16>()?).to_vec(),
            ScalarType::Int64 => bytemuck::cast_slice(&flat.to_vec1::<i64>()?).to_vec(),
            ScalarType::Int32 => bytemuck::cast_slice(&flat.to_vec1::<i32>()?).to_vec(),
            ScalarType::Int16 => bytemuck::cast_slice(&flat.to_vec1::<i16>()?).to_vec(),
            ScalarType::UInt8 | ScalarType::Bool => flat.to_vec1::<u8>()?,
        };
        owned.push((name.clone(), dtype, t.dims().to_vec(), bytes));
    }
    let views = owned
        .iter()
        .map(|(n, d, s, b)| {
            safetensors::tensor::TensorView::new(*d, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| Error::Script(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, None).map_err(|e| Error::Script(e.to_string()))
}

/// The output's tensors ([`output_tensors`]) as an `.npz` archive (stored entries, as
/// `np.savez` writes them): `output.npy`, `output.0.npy`, ...; bool as `|b1`, bfloat16 as
/// float32 (NumPy has no bfloat16).
pub fn output_npz(v: &Value) -> Result<Vec<u8>> {
    use std::io::Write;
    let tensors = output_tensors(v)?;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let io = |e: std::io::Error| Error::Script(format!("writing the .npz: {e}"));
    for (name, t) in &tensors {
        let (descr, data): (&str, Vec<u8>) = match t.dtype() {
            ScalarType::Bool => ("|b1", t.inner().flatten_all()?.to_vec1::<u8>()?),
            ScalarType::UInt8 => ("|u1", t.inner().flatten_all()?.to_vec1::<u8>()?),
            _ => {
                let inner = match t.dtype() {
                    ScalarType::BFloat16 => t.inner().to_dtype(DType::F32)?,
                    ScalarType::Int16 | ScalarType::Int32 => t.inner().to_dtype(DType::I64)?,
                    _ => t.inner().clone(),
                };
                let bytes = crate::npy::npy_bytes(&inner)?;
                zip.start_file(format!("{name}.npy"), stored)
                    .map_err(|e| Error::Script(format!("writing the .npz: {e}")))?;
                zip.write_all(&bytes).map_err(io)?;
                continue;
            }
        };
        let mut bytes = crate::npy::header_bytes(descr, t.dims());
        bytes.extend_from_slice(&data);
        zip.start_file(format!("{name}.npy"), stored)
            .map_err(|e| Error::Script(format!("writing the .npz: {e}")))?;
        zip.write_all(&bytes).map_err(io)?;
    }
    let cursor = zip
        .finish()
        .map_err(|e| Error::Script(format!("writing the .npz: {e}")))?;
    Ok(cursor.into_inner())
}

#[cfg(test)]
mod wide_integer_tests {
    use super::{args_from_json, wide_integer};
    use crate::limits::Limits;

    #[test]
    fn a_request_with_an_integer_past_int64_is_refused_naming_its_argument() {
        let code = "def forward(self, x: Tensor, k: int) -> Tensor:\n    return x\n";
        let module = crate::script::parse("code/m.py", code).expect("the test's code parses");
        let function = module.functions.first().expect("one function");
        let signature = crate::script::program::signature_of(function);
        let limits = Limits::default();
        for (text, message) in [
            (
                r#"{"x": [1.5, 2.5], "k": 9223372036854775808}"#,
                "input `k`: 9223372036854775808 is out of int64's range",
            ),
            (
                r#"{"x": [[1, -100000000000000000000]], "k": 1}"#,
                "input `x`: -100000000000000000000 is out of int64's range",
            ),
        ] {
            let e = args_from_json(&signature, text, &limits).unwrap_err();
            assert_eq!(e.to_string(), message, "{text}");
        }
        // A float of that size is a float.
        assert!(args_from_json(&signature, r#"{"x": [1e19, 2.0], "k": 1}"#, &limits).is_ok());
    }

    #[test]
    fn integers_past_int64_are_found_with_their_argument_and_nothing_else_is() {
        let found = |text: &str| wide_integer(text).map(|(k, l)| (k, l.to_string()));
        let wide = |k: &str, l: &str| Some((k.to_string(), l.to_string()));
        assert_eq!(
            found(r#"{"a": 1, "x": [[1, -9223372036854775809]]}"#),
            wide("x", "-9223372036854775809")
        );
        assert_eq!(
            found(r#"{"k\"1": {"y": 18446744073709551616}}"#),
            wide("k\"1", "18446744073709551616")
        );
        // Floats, int64's own extremes and digits inside strings are not.
        for text in [
            r#"{"x": [1e30, 1.5, -0.0, 9223372036854775807, -9223372036854775808]}"#,
            r#"{"s": "99999999999999999999", "t": "\"123456789012345678901\""}"#,
        ] {
            assert_eq!(found(text), None, "{text}");
        }
    }
}
