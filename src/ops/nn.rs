//! Neural-network operators: matrix products and `linear` ([`linalg`]), convolutions
//! ([`conv`]), pooling ([`pool`]), normalizations ([`norm`]), embeddings ([`embedding`]) and
//! resampling ([`resample`]). This file holds what they share: argument checks and the
//! conversions between the operators' tensors and candle's.

mod conv;
mod embedding;
mod linalg;
mod norm;
mod pool;
mod resample;
#[cfg(test)]
pub(super) mod testing;

use candle_core::DType;

use super::dtype::ScalarType;
use super::registry::Builder;
use super::tensor::Tensor;
use super::value::Value;
use crate::error::{Error, Result};

pub(super) use linalg::{broadcast_dims, linear, matmul, prepared_linear};
pub(super) use norm::layer_norm_last;

/// Registers this family's operators.
pub(super) fn register(b: &mut Builder) {
    linalg::register(b);
    conv::register(b);
    pool::register(b);
    norm::register(b);
    embedding::register(b);
    resample::register(b);
}

/// An operator error.
pub(super) fn script(message: impl Into<String>) -> Error {
    Error::Script(message.into())
}

/// A candle tensor as an operator's tensor value.
pub(super) fn value(t: candle_core::Tensor) -> Result<Value> {
    Ok(Value::Tensor(Tensor::new(t)?))
}

/// Refuses `b` unless it has `a`'s type, as PyTorch's kernels do (`"expected scalar type
/// Float but found Double"`).
pub(super) fn same_dtype(a: &Tensor, b: &Tensor, what: &str) -> Result<()> {
    if a.dtype() == b.dtype() {
        Ok(())
    } else {
        Err(script(format!(
            "expected {what} to have type {}, but got {}",
            a.dtype().name(),
            b.dtype().name()
        )))
    }
}

/// `dim` (negative counts from the end) as an index into `rank` dims, with PyTorch's message.
pub(super) fn wrap_dim(dim: i64, rank: usize) -> Result<usize> {
    let r = rank.max(1) as i64;
    if dim < -r || dim >= r {
        return Err(script(format!(
            "Dimension out of range (expected to be in range of [{}, {}], but got {dim})",
            -r,
            r - 1
        )));
    }
    Ok(if dim < 0 { dim + r } else { dim } as usize)
}

/// A non-negative size argument as `usize`; `what` names it in the message.
pub(super) fn to_usize(n: i64, what: &str) -> Result<usize> {
    usize::try_from(n).map_err(|_| script(format!("{what} must be non-negative, but got {n}")))
}

/// The product of `dims`, or an error if it overflows.
pub(super) fn numel(dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| script(format!("the size {dims:?} overflows")))
}

/// The elements of an integer tensor as i64, in row-major order (copied to the CPU).
pub(super) fn ints_of(t: &Tensor) -> Result<Vec<i64>> {
    Ok(t.inner()
        .flatten_all()?
        .to_dtype(DType::I64)?
        .to_device(&candle_core::Device::Cpu)?
        .to_vec1::<i64>()?)
}

/// The compute type of a floating tensor: f16 and bf16 compute in f32 (as PyTorch's CPU
/// kernels accumulate them), f32 and f64 in themselves.
pub(super) fn compute_dtype(dtype: ScalarType) -> DType {
    match dtype {
        ScalarType::Float16 | ScalarType::BFloat16 => DType::F32,
        other => other.candle(),
    }
}
