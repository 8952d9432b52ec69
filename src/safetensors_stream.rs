//! A safetensors file read as a stream: the header first, then each tensor's bytes straight
//! into the tensor it becomes.
//!
//! The first 8 bytes give the header's length and the header gives the length of everything
//! after it, so a source that is not safetensors (a stream of zeros, random bytes) is refused
//! from its first bytes, and a valid file is read exactly: no copy of the whole file is made,
//! a pipe is read the same way as a regular file, and nothing past the described end is read.

use std::collections::BTreeMap;
use std::io::Read;

use bytemuck::Pod;
use candle_core::{Device, Tensor, WithDType};
use half::{bf16, f16};
use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::Dtype;

use crate::error::Result;
use crate::source::Source;

/// The most bytes a safetensors header may take (the `safetensors` crate's own bound).
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// How a source that is not safetensors is described, for callers that ruled out nothing
/// else.
pub(crate) const NOT_SAFETENSORS: &str = "not a valid safetensors file";

/// A validated safetensors header.
pub(crate) struct Header {
    /// The `__metadata__` map (empty when absent).
    pub metadata: BTreeMap<String, String>,
    /// Every tensor, in the order of its bytes in the file.
    pub tensors: Vec<(String, TensorInfo)>,
}

/// Reads and validates the header: its length, its JSON, and offsets that tile the data
/// exactly, each tensor's extent matching its shape and dtype. The whole file's size must be
/// within the source's limit (and equal to a regular file's size) before the header itself
/// is read. A source that is not safetensors is a format error whose message starts with
/// `not_safetensors` (`not a valid safetensors file`, or what else the caller ruled out).
pub(crate) fn read_header<R: Read>(
    source: &mut Source<R>,
    not_safetensors: &str,
) -> Result<Header> {
    let invalid = |source: &Source<R>, message: String| {
        source.format_error(format!("{not_safetensors}: {message}"))
    };
    let prefix = source.peek(8)?;
    if prefix.len() < 8 {
        let message = format!(
            "it is {} bytes long, shorter than the 8 bytes that give a header's length",
            prefix.len()
        );
        return Err(invalid(source, message));
    }
    let mut n = [0u8; 8];
    n.copy_from_slice(prefix);
    let n = u64::from_le_bytes(n);
    if !(2..=MAX_HEADER_BYTES).contains(&n) {
        let message = format!(
            "its first 8 bytes give a header length of {n} bytes, which no safetensors file \
             has (2 to {MAX_HEADER_BYTES})"
        );
        return Err(invalid(source, message));
    }
    source.check_within(8 + n, "its header alone takes")?;
    if let Some(len) = source.len() {
        if 8 + n > len {
            let message = format!(
                "its first 8 bytes give a header length of {n} bytes, but the file is {len} bytes"
            );
            return Err(invalid(source, message));
        }
    }
    source.read_exact(8, "the header length")?;
    let text = source.read_exact(n, "the header")?;
    let metadata: Metadata = serde_json::from_slice(&text)
        .map_err(|e| invalid(source, format!("its header is not valid: {e}")))?;
    let total = 8 + n + metadata.data_len() as u64;
    source.check_within(total, "its header describes")?;
    if let Some(len) = source.len() {
        if total != len {
            let message = format!("its header describes {total} bytes, but the file is {len}");
            return Err(invalid(source, message));
        }
    }
    let tensors = metadata
        .offset_keys()
        .into_iter()
        .filter_map(|name| {
            let info = metadata.info(&name)?.clone();
            Some((name, info))
        })
        .collect();
    let metadata = metadata
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Ok(Header { metadata, tensors })
}

/// Reads every tensor's bytes, in file order, into CPU tensors: floats in their own dtype,
/// I64 and I32 as I64. The caller has checked the dtypes; any other is an error here. Then
/// refuses a source that goes on past the data.
pub(crate) fn read_tensors<R: Read>(
    source: &mut Source<R>,
    header: &Header,
) -> Result<BTreeMap<String, Tensor>> {
    let mut tensors = BTreeMap::new();
    for (name, info) in &header.tensors {
        let part = format!("tensor `{name}`");
        let tensor = match info.dtype {
            Dtype::F16 => read_tensor::<f16, R>(source, info, &part)?,
            Dtype::BF16 => read_tensor::<bf16, R>(source, info, &part)?,
            Dtype::F32 => read_tensor::<f32, R>(source, info, &part)?,
            Dtype::F64 => read_tensor::<f64, R>(source, info, &part)?,
            Dtype::I64 => read_tensor::<i64, R>(source, info, &part)?,
            Dtype::I32 => {
                let values: Vec<i32> = read_values(source, info, &part)?;
                let values: Vec<i64> = values.into_iter().map(i64::from).collect();
                Tensor::from_vec(values, info.shape.as_slice(), &Device::Cpu)?
            }
            other => {
                return Err(
                    source.format_error(format!("{part} has dtype {other:?}, which is not read"))
                )
            }
        };
        tensors.insert(name.clone(), tensor);
    }
    source.expect_end("its header describes")?;
    Ok(tensors)
}

/// One tensor whose elements are `T`, read straight into the buffer the tensor keeps.
fn read_tensor<T: Pod + Default + WithDType, R: Read>(
    source: &mut Source<R>,
    info: &TensorInfo,
    part: &str,
) -> Result<Tensor> {
    let values: Vec<T> = read_values(source, info, part)?;
    Ok(Tensor::from_vec(
        values,
        info.shape.as_slice(),
        &Device::Cpu,
    )?)
}

/// A tensor's little-endian elements as `T`s. The header was validated: its extent is exactly
/// the shape's element count times the size of `T`.
fn read_values<T: Pod + Default, R: Read>(
    source: &mut Source<R>,
    info: &TensorInfo,
    part: &str,
) -> Result<Vec<T>> {
    let (start, end) = info.data_offsets;
    let n = (end - start) / std::mem::size_of::<T>();
    let mut values: Vec<T> = source.zeroed(n)?;
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut values);
    source.read_into(bytes, part)?;
    if cfg!(target_endian = "big") {
        for element in bytes.chunks_exact_mut(std::mem::size_of::<T>()) {
            element.reverse();
        }
    }
    Ok(values)
}
