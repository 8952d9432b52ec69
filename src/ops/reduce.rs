//! Reductions with PyTorch's semantics: sums and means, products, extrema with their indices,
//! variances and norms, `any` and `all`, cumulative sums, `sort`, `argsort` and `topk`.
//!
//! Float sums and means run on candle in PyTorch's compute type (float16 and bfloat16 in
//! float32); integer sums wrap in int64. What depends on order or on NaN (extrema and their
//! indices, sorting, `topk` with PyTorch's tie order) and what PyTorch accumulates in float64
//! (variances, cumulative sums of float32) runs on the CPU and moves back to the input's device.

mod extrema;
mod sort;
mod stats;
mod stl;
mod sum;

use candle_core::{Device, WithDType};

use super::elementwise::kernel::CT;
use super::elementwise::promote::wrap_dim;
use super::registry::Builder;
use super::{ScalarType, Tensor};
use crate::error::{Error, Result};

/// Registers this family's operators.
pub(super) fn register(b: &mut Builder) {
    sum::register(b);
    extrema::register(b);
    stats::register(b);
    sort::register(b);
}

/// The dims a reduction over `dims` reduces, sorted, each once: all of them where `dims` is
/// `None` or empty; none for a 0-dim tensor (whose dim 0 and -1 are the tensor itself).
fn reduce_dims(dims: Option<&[i64]>, rank: usize) -> Result<Vec<usize>> {
    let dims = match dims {
        Some(d) if !d.is_empty() => d,
        _ => return Ok((0..rank).collect()),
    };
    let mut seen = vec![false; rank.max(1)];
    for &d in dims {
        let w = wrap_dim(d, rank)?;
        if seen[w] {
            return Err(Error::Script(format!(
                "dim {w} appears multiple times in the list of dims"
            )));
        }
        seen[w] = true;
    }
    if rank == 0 {
        return Ok(Vec::new());
    }
    Ok((0..rank).filter(|&d| seen[d]).collect())
}

/// The shape of a reduction of `shape` over `dims`: those dims 1 with `keepdim`, gone without.
fn reduced_shape(shape: &[usize], dims: &[usize], keepdim: bool) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .filter_map(|(i, &s)| match (dims.contains(&i), keepdim) {
            (false, _) => Some(s),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

/// A tensor's values on the CPU with the reduced dims last: one row of `len` values per output
/// element, rows in row-major order of the kept dims.
struct Rows<T> {
    values: Vec<T>,
    len: usize,
    count: usize,
}

impl<T: WithDType> Rows<T> {
    /// The values of `t` (converted to `T`) with `dims` (sorted) moved last.
    fn new(t: &CT, dims: &[usize]) -> Result<Self> {
        let sizes = t.dims();
        let kept: Vec<usize> = (0..sizes.len()).filter(|d| !dims.contains(d)).collect();
        let len = dims.iter().map(|&d| sizes[d]).product();
        let count = kept.iter().map(|&d| sizes[d]).product();
        let mut perm = kept;
        perm.extend_from_slice(dims);
        let x = t.to_dtype(T::DTYPE)?;
        let x = if sizes.is_empty() {
            x
        } else {
            x.permute(perm)?
        };
        let values = x.flatten_all()?.to_vec1::<T>()?;
        Ok(Self { values, len, count })
    }
}

impl<T> Rows<T> {
    /// The rows, in order.
    fn iter(&self) -> impl Iterator<Item = &[T]> {
        (0..self.count).map(move |i| &self.values[i * self.len..(i + 1) * self.len])
    }
}

/// A tensor's values as f64 (floats) or i64 (integers and bool), for the CPU reductions whose
/// results are elements of the input.
enum Data {
    Float(Rows<f64>),
    Int(Rows<i64>),
}

impl Data {
    fn new(t: &Tensor, dims: &[usize]) -> Result<Self> {
        Ok(if t.dtype().is_float() {
            Data::Float(Rows::new(t.inner(), dims)?)
        } else {
            Data::Int(Rows::new(t.inner(), dims)?)
        })
    }
}

/// f64 values (elements of a float tensor, or results computed in f64) as a tensor of type
/// `dtype` on `device`, converted on the CPU (not every device holds f64).
fn float_tensor(
    values: Vec<f64>,
    shape: &[usize],
    dtype: ScalarType,
    device: &Device,
) -> Result<Tensor> {
    let t = CT::from_vec(values, shape, &Device::Cpu)?.to_dtype(dtype.candle())?;
    Tensor::with_type(t.to_device(device)?, dtype)
}

/// i64 values as a tensor of integer or bool type `dtype` on `device`.
fn int_tensor(
    values: Vec<i64>,
    shape: &[usize],
    dtype: ScalarType,
    device: &Device,
) -> Result<Tensor> {
    super::elementwise::kernel::from_i64(values, shape, dtype, device)
}

/// Int64 indices as a tensor.
fn index_tensor(values: Vec<i64>, shape: &[usize], device: &Device) -> Result<Tensor> {
    Tensor::new(CT::from_vec(values, shape, device)?)
}

/// A tensor whose `dim` was moved last (`Rows` of one dim), put back: `values` has the
/// permuted shape `moved` (the other dims, then `dim`).
fn unmove(values: CT, dim: usize) -> Result<CT> {
    let rank = values.rank();
    if rank == 0 {
        return Ok(values);
    }
    let perm: Vec<usize> = (0..rank)
        .map(|i| match i.cmp(&dim) {
            std::cmp::Ordering::Less => i,
            std::cmp::Ordering::Equal => rank - 1,
            std::cmp::Ordering::Greater => i - 1,
        })
        .collect();
    Ok(values.permute(perm)?.contiguous()?)
}

/// The shape of `shape` with `dim` moved last.
fn moved_shape(shape: &[usize], dim: usize) -> Vec<usize> {
    let mut out: Vec<usize> = shape
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != dim)
        .map(|(_, &s)| s)
        .collect();
    if !shape.is_empty() {
        out.push(shape[dim]);
    }
    out
}

/// Whether `x` is NaN (only floats can be).
#[allow(clippy::eq_op)]
fn is_nan<T: PartialEq>(x: T) -> bool {
    x != x
}
