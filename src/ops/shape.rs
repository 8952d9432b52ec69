//! Shape operators: what TorchScript code asks of a tensor (`dim`, `size`, `item`, ...) and
//! conversions (`to`, `type_as`, `copy_`, `fill_`) in [`facts`]; views (`view`, `permute`,
//! `expand`, ...) in [`view`]; joining and splitting (`cat`, `stack`, `repeat`, `split`, ...)
//! in [`join`]; indexing by dim (`slice`, `select`, `gather`, ...) in [`index`] and advanced
//! indexing (`index`, `index_put_`, `masked_select`) in [`advanced`]; and `flip`, `roll`,
//! `tril`, `one_hot`, constant padding, `diag` and `diagonal` in [`misc`]; reflection and
//! replication padding in [`pad`].
//!
//! Dims, sizes and indices come from the model and its inputs: each is validated with
//! PyTorch's message, and every output that can grow is checked against the limits before it
//! is allocated. Indexing computes its element positions on the host and moves elements with
//! candle's `index_select` and `scatter`, so it runs on every device; contiguous CPU tensors
//! are copied by plain loops over their slices instead ([`host`]).

mod advanced;
mod facts;
pub(in crate::ops) mod host;
mod index;
mod join;
mod misc;
mod pad;
mod view;

use candle_core::DType;

use super::dtype::ScalarType;
use super::registry::Builder;
use super::tensor::Tensor;
use super::value::Value;
use crate::error::{Error, Result};

/// Registers this family's operators.
pub(super) fn register(b: &mut Builder) {
    facts::register(b);
    view::register(b);
    join::register(b);
    index::register(b);
    advanced::register(b);
    misc::register(b);
    pad::register(b);
}

/// An operator's error.
fn err(message: impl Into<String>) -> Error {
    Error::Script(message.into())
}

/// `dim` of a tensor of rank `rank` as an index, a negative dim counting from the end. A
/// 0-dim tensor takes -1 and 0, as in PyTorch.
pub(in crate::ops) fn wrap_dim(dim: i64, rank: usize) -> Result<usize> {
    let r = rank.max(1) as i64;
    if dim < -r || dim >= r {
        return Err(err(format!(
            "Dimension out of range (expected to be in range of [{}, {}], but got {dim})",
            -r,
            r - 1
        )));
    }
    Ok(if dim < 0 { dim + r } else { dim } as usize)
}

/// The row-major strides of `dims`, in elements.
fn strides(dims: &[usize]) -> Vec<usize> {
    let mut out = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        out[i] = out[i + 1] * dims[i + 1];
    }
    out
}

/// The shape two shapes broadcast to, if they do.
pub(in crate::ops) fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let at = |s: &[usize], i: usize| {
        if i + s.len() >= n {
            s[i + s.len() - n]
        } else {
            1
        }
    };
    (0..n)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y || y == 1 => Some(x),
            (1, y) => Some(y),
            _ => None,
        })
        .collect()
}

/// PyTorch's error for shapes `a` and `b` that do not broadcast together.
fn broadcast_error(a: &[usize], b: &[usize]) -> Error {
    let n = a.len().max(b.len());
    let at = |s: &[usize], i: usize| {
        if i + s.len() >= n {
            s[i + s.len() - n]
        } else {
            1
        }
    };
    let i = (0..n)
        .rev()
        .find(|&i| at(a, i) != at(b, i) && at(a, i) != 1 && at(b, i) != 1)
        .unwrap_or(0);
    err(format!(
        "The size of tensor a ({}) must match the size of tensor b ({}) at non-singleton dimension {i}",
        at(a, i),
        at(b, i)
    ))
}

/// For each element of a tensor of shape `out` (row-major), the element of a tensor of shape
/// `src` that broadcasts to it (`src` is right-aligned; its dims are 1 or `out`'s).
fn broadcast_source(src: &[usize], out: &[usize]) -> Vec<usize> {
    let lead = out.len() - src.len();
    let src_strides = strides(src);
    // The stride in `src` of each dim of `out`: 0 where it is broadcast.
    let step: Vec<usize> = (0..out.len())
        .map(|i| {
            if i < lead || src[i - lead] == 1 {
                0
            } else {
                src_strides[i - lead]
            }
        })
        .collect();
    offsets(out, &step)
        .into_iter()
        .map(|o| o as usize)
        .collect()
}

/// `Σ coord[i] * step[i]` for every coordinate of `dims`, in row-major order.
fn offsets(dims: &[usize], step: &[usize]) -> Vec<i64> {
    let mut out = vec![0i64];
    for (&d, &s) in dims.iter().zip(step) {
        let mut next = Vec::with_capacity(out.len() * d);
        for &o in &out {
            next.extend((0..d).map(|c| o + (c * s) as i64));
        }
        out = next;
    }
    out
}

/// The elements of `t` at the row-major positions `flat`, as a tensor of shape `dims` (whose
/// element count is `flat.len()`), on `t`'s device.
fn take(t: &Tensor, flat: Vec<i64>, dims: &[usize]) -> Result<Tensor> {
    if host::cpu_range(t.inner()).is_some() {
        let rows: Option<Vec<usize>> = flat.iter().map(|&p| usize::try_from(p).ok()).collect();
        if let Some(out) = rows.and_then(|r| host::gather_rows(t.inner(), 1, r, 0.0, dims)) {
            return Tensor::with_type(out?, t.dtype());
        }
    }
    let out = if flat.is_empty() {
        candle_core::Tensor::zeros(dims, t.inner().dtype(), t.device())?
    } else {
        let n = flat.len();
        let ids = candle_core::Tensor::from_vec(flat, n, t.device())?;
        t.inner()
            .flatten_all()?
            .contiguous()?
            .index_select(&ids, 0)?
            .reshape(dims)?
    };
    Tensor::with_type(out, t.dtype())
}

/// `t` with the elements at the row-major positions `flat` replaced by `values` (a 1-D tensor
/// of `t`'s candle type and of `flat`'s length), or increased by them when `accumulate`.
fn put(
    t: &Tensor,
    flat: Vec<i64>,
    values: &candle_core::Tensor,
    accumulate: bool,
) -> Result<Tensor> {
    if flat.is_empty() {
        return Ok(t.clone());
    }
    if !accumulate {
        let from: Vec<i64> = (0..flat.len() as i64).collect();
        if let Some(out) = host::scatter_elements(t.inner(), &flat, values, &from) {
            return Tensor::with_type(out?, t.dtype());
        }
    }
    let n = flat.len();
    let ids = candle_core::Tensor::from_vec(flat, n, t.device())?;
    let src = t.inner().flatten_all()?.contiguous()?;
    let values = values.contiguous()?;
    let out = if accumulate {
        src.scatter_add(&ids, &values, 0)?
    } else {
        src.scatter(&ids, &values, 0)?
    };
    Tensor::with_type(out.reshape(t.dims())?, t.dtype())
}

/// The values of an integer tensor, as i64, in row-major order.
fn int_values(t: &Tensor) -> Result<Vec<i64>> {
    if let Some(v) = host::ints(t.inner()) {
        return Ok(v);
    }
    Ok(t.inner()
        .flatten_all()?
        .to_dtype(DType::I64)?
        .to_vec1::<i64>()?)
}

/// `index` as a position in a dim of `size`, a negative index counting from the end; `None`
/// when it is out of range.
fn wrap_index(index: i64, size: usize) -> Option<usize> {
    let size = i64::try_from(size).ok()?;
    let i = if index < 0 {
        index.checked_add(size)?
    } else {
        index
    };
    (0..size).contains(&i).then_some(i as usize)
}

/// PyTorch's C++ name of a type in its messages (`Float`, `Long`).
fn type_name(dtype: ScalarType) -> &'static str {
    match dtype {
        ScalarType::UInt8 => "Byte",
        ScalarType::Int16 => "Short",
        ScalarType::Int32 => "Int",
        ScalarType::Int64 => "Long",
        ScalarType::Float16 => "Half",
        ScalarType::Float32 => "Float",
        ScalarType::Float64 => "Double",
        ScalarType::Bool => "Bool",
        ScalarType::BFloat16 => "BFloat16",
    }
}

/// A list of tensors as TorchScript holds one.
fn tensor_list(tensors: Vec<Tensor>) -> Value {
    Value::list(tensors.into_iter().map(Value::Tensor).collect())
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};

    use crate::error::Result;
    use crate::limits::Limits;
    use crate::ops::{Ctx, Registry, ScalarType, Tensor, Value};

    /// Calls `name` as TorchScript code would, on the CPU, with a limit of 1000 elements.
    pub(super) fn call(name: &str, args: &[Value], kwargs: &[(&str, Value)]) -> Result<Value> {
        let limits = Limits {
            max_elements: 1000,
            ..Limits::default()
        };
        let cx = Ctx {
            limits: &limits,
            device: &Device::Cpu,
            constants: None,
        };
        let kwargs: Vec<(String, Value)> = kwargs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        Registry::get().call(&cx, name, args, &kwargs)
    }

    /// The tensor `call` returned.
    pub(super) fn out(name: &str, args: &[Value]) -> Tensor {
        match call(name, args, &[]) {
            Ok(Value::Tensor(t)) => t,
            other => panic!("{name}: expected a tensor, got {other:?}"),
        }
    }

    /// The tensors of the list `call` returned.
    pub(super) fn outs(name: &str, args: &[Value]) -> Vec<Tensor> {
        match call(name, args, &[]) {
            Ok(v) => v
                .items()
                .expect("a list")
                .into_iter()
                .map(|t| t.as_tensor().expect("a tensor").clone())
                .collect(),
            Err(e) => panic!("{name}: {e}"),
        }
    }

    /// The message of the error `call` returned.
    pub(super) fn fails(name: &str, args: &[Value]) -> String {
        match call(name, args, &[]) {
            Ok(v) => panic!("{name}: expected an error, got {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// An int list.
    pub(super) fn ints(v: &[i64]) -> Value {
        Value::list(v.iter().map(|&n| Value::Int(n)).collect())
    }

    /// A tensor of `dims` holding `values`, as `dtype`.
    pub(super) fn t(values: &[f64], dims: &[usize], dtype: ScalarType) -> Value {
        let x = candle_core::Tensor::from_vec(values.to_vec(), dims, &Device::Cpu).unwrap();
        Value::Tensor(Tensor::new(x).unwrap().to_dtype(dtype).unwrap())
    }

    /// `torch.arange(n).reshape(dims)` as float32.
    pub(super) fn arange(dims: &[usize]) -> Value {
        let n: usize = dims.iter().product();
        let v: Vec<f64> = (0..n).map(|i| i as f64).collect();
        t(&v, dims, ScalarType::Float32)
    }

    /// A tensor's values as f64, row-major.
    pub(super) fn values(t: &Tensor) -> Vec<f64> {
        t.inner()
            .flatten_all()
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .to_vec1::<f64>()
            .unwrap()
    }

    /// A tensor's shape and values.
    pub(super) fn shaped(t: &Tensor) -> (Vec<usize>, Vec<f64>) {
        (t.dims().to_vec(), values(t))
    }

    #[test]
    fn broadcast_shapes_follow_numpy_rules() {
        assert_eq!(super::broadcast_shapes(&[2, 1], &[3]), Some(vec![2, 3]));
        assert_eq!(super::broadcast_shapes(&[], &[4]), Some(vec![4]));
        assert_eq!(super::broadcast_shapes(&[2], &[3]), None);
        assert_eq!(super::broadcast_shapes(&[0], &[1]), Some(vec![0]));
    }

    #[test]
    fn wrapped_dims_and_indices() {
        assert_eq!(super::wrap_dim(-1, 3).unwrap(), 2);
        assert_eq!(super::wrap_dim(0, 0).unwrap(), 0);
        let e = super::wrap_dim(3, 2).unwrap_err().to_string();
        assert_eq!(
            e,
            "Dimension out of range (expected to be in range of [-2, 1], but got 3)"
        );
        assert_eq!(super::wrap_index(-1, 3), Some(2));
        assert_eq!(super::wrap_index(3, 3), None);
        assert_eq!(super::wrap_index(i64::MIN, 3), None);
    }
}
