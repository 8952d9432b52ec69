//! PyTorch's rules for operators that combine operands, shared by every family: the result type
//! of tensors and numbers ([`result_type`], with the wrapped-number and 0-dim rules), the
//! broadcast of shapes ([`broadcast_shapes`]), a dimension wrapped into its range
//! ([`wrap_dim`]), and whether an in-place operator may write a type into its tensor
//! ([`can_cast`]).

use candle_core::DType;

use crate::error::{Error, Result};
use crate::ops::{Scalar, ScalarType, Tensor};

/// An operand of an elementwise operator: a tensor, or a number the call passed (what PyTorch
/// calls a wrapped number).
#[derive(Debug, Clone, Copy)]
pub(in crate::ops) enum Operand<'a> {
    /// A tensor (0-dim or not).
    Tensor(&'a Tensor),
    /// A Python number.
    Scalar(Scalar),
}

impl Operand<'_> {
    /// Its shape (a number has none).
    pub(in crate::ops) fn dims(&self) -> &[usize] {
        match self {
            Operand::Tensor(t) => t.dims(),
            Operand::Scalar(_) => &[],
        }
    }
}

/// `c10::combine_categories`: the type of `higher`'s group unless `lower`'s is of a higher
/// category (bool < integer < float), in which case the two promote.
fn combine(higher: Option<ScalarType>, lower: Option<ScalarType>) -> Option<ScalarType> {
    match (higher, lower) {
        (None, l) => l,
        (Some(h), None) => Some(h),
        (Some(h), Some(l)) => {
            if h.is_float() {
                Some(h)
            } else if h == ScalarType::Bool || l.is_float() {
                Some(h.promote(l))
            } else {
                Some(h)
            }
        }
    }
}

fn promote_opt(a: Option<ScalarType>, b: ScalarType) -> Option<ScalarType> {
    Some(a.map_or(b, |a| a.promote(b)))
}

/// `torch.result_type` of the operands: tensors with dimensions decide unless a 0-dim tensor or
/// a number is of a higher category; numbers count as int64, float32 (the default float type)
/// or bool. `int64 tensor + 2.5` is float32, `float16 tensor + 0-dim float64` is float16,
/// `int64 tensor + 0-dim float64` is float64, `int32 tensor + 0-dim int64` is int32.
pub(in crate::ops) fn result_type(operands: &[Operand]) -> ScalarType {
    let (mut dim, mut zero, mut wrapped) = (None, None, None);
    for op in operands {
        match op {
            Operand::Tensor(t) if t.rank() > 0 => dim = promote_opt(dim, t.dtype()),
            Operand::Tensor(t) => zero = promote_opt(zero, t.dtype()),
            Operand::Scalar(s) => wrapped = promote_opt(wrapped, s.dtype()),
        }
    }
    combine(dim, combine(zero, wrapped)).unwrap_or(ScalarType::Float32)
}

/// The type PyTorch computes a float result of type `dtype` in on the CPU (its `opmath` type):
/// float32 for float16, bfloat16 and float32, float64 for float64.
pub(in crate::ops) fn compute_dtype(dtype: ScalarType) -> DType {
    match dtype {
        ScalarType::Float64 => DType::F64,
        _ => DType::F32,
    }
}

/// The broadcast of two shapes, as `torch.broadcast_shapes`; the error names the first
/// dimension (counted in the result) where neither size is 1 and they differ.
pub(in crate::ops) fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in (0..rank).rev() {
        let offset = rank - 1 - i;
        let size_a = if offset < a.len() {
            a[a.len() - 1 - offset]
        } else {
            1
        };
        let size_b = if offset < b.len() {
            b[b.len() - 1 - offset]
        } else {
            1
        };
        if size_a != size_b && size_a != 1 && size_b != 1 {
            return Err(Error::Script(format!(
                "The size of tensor a ({size_a}) must match the size of tensor b ({size_b}) at \
                 non-singleton dimension {i}"
            )));
        }
        out[i] = if size_a == 1 { size_b } else { size_a };
    }
    Ok(out)
}

/// The broadcast of every operand's shape.
pub(in crate::ops) fn broadcast_all(operands: &[Operand]) -> Result<Vec<usize>> {
    operands
        .iter()
        .try_fold(Vec::new(), |acc, op| broadcast_shapes(&acc, op.dims()))
}

/// `dim` (negative counts from the end) as an index into `rank` dimensions; a 0-dim tensor
/// takes 0 and -1, as PyTorch's `maybe_wrap_dim`.
pub(in crate::ops) fn wrap_dim(dim: i64, rank: usize) -> Result<usize> {
    let n = i64::try_from(rank.max(1)).unwrap_or(i64::MAX);
    let wrapped = if dim < 0 {
        dim.checked_add(n)
    } else {
        Some(dim)
    };
    match wrapped {
        Some(d) if (0..n).contains(&d) => Ok(d as usize),
        _ => Err(Error::Script(format!(
            "Dimension out of range (expected to be in range of [{}, {}], but got {dim})",
            -n,
            n - 1
        ))),
    }
}

/// Whether an in-place operator may write a result of type `from` into a tensor of type `to`
/// (`c10::canCast`): not float into integer, not anything but bool into bool.
pub(in crate::ops) fn can_cast(from: ScalarType, to: ScalarType) -> bool {
    !(from.is_float() && !to.is_float() || from != ScalarType::Bool && to == ScalarType::Bool)
}

/// PyTorch's C++ name of a type (`Float`, `Long`), as its error messages write it.
pub(in crate::ops) fn c10_name(dtype: ScalarType) -> &'static str {
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

/// A number as C++'s default stream output writes it (`%g`, six significant digits), as
/// PyTorch's messages show numbers: `-1`, `0.5`, `1.09951e+12`.
pub(in crate::ops) fn fmt_g(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "nan".into()
        } else if x > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    if x == 0.0 {
        return "0".into();
    }
    let sci = format!("{x:.5e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.unsigned_abs())
    } else {
        trim(&format!("{x:.*}", (5 - exp) as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use ScalarType::*;

    fn tensor(dtype: ScalarType, dims: &[usize]) -> Tensor {
        let t = candle_core::Tensor::zeros(dims, dtype.candle(), &Device::Cpu).unwrap();
        Tensor::with_type(t, dtype).unwrap()
    }

    #[test]
    fn result_types_follow_pytorch() {
        // Each expected type is what torch 2.15 gives for the same operands.
        let (i64v, f16v, i32v, boolv) = (
            tensor(Int64, &[3]),
            tensor(Float16, &[3]),
            tensor(Int32, &[3]),
            tensor(Bool, &[3]),
        );
        let (f64z, i64z, f32z, i32z) = (
            tensor(Float64, &[]),
            tensor(Int64, &[]),
            tensor(Float32, &[]),
            tensor(Int32, &[]),
        );
        let t = Operand::Tensor;
        let s = Operand::Scalar;
        assert_eq!(result_type(&[t(&i64v), t(&f64z)]), Float64);
        assert_eq!(result_type(&[t(&i64v), s(Scalar::Float(2.5))]), Float32);
        assert_eq!(result_type(&[t(&f16v), t(&f64z)]), Float16);
        assert_eq!(result_type(&[t(&i32v), t(&i64z)]), Int32);
        assert_eq!(result_type(&[t(&i32z), t(&i64z)]), Int64);
        assert_eq!(result_type(&[t(&f32z), t(&i64v)]), Float32);
        assert_eq!(result_type(&[t(&boolv), s(Scalar::Int(1))]), Int64);
        assert_eq!(result_type(&[t(&boolv), s(Scalar::Bool(true))]), Bool);
        assert_eq!(
            result_type(&[s(Scalar::Int(1)), s(Scalar::Float(0.5))]),
            Float32
        );
        assert_eq!(result_type(&[t(&f16v), s(Scalar::Float(0.1))]), Float16);
    }

    #[test]
    fn shapes_broadcast_or_name_the_dimension() {
        assert_eq!(broadcast_shapes(&[2, 1], &[3]).unwrap(), vec![2, 3]);
        assert_eq!(broadcast_shapes(&[], &[0]).unwrap(), vec![0]);
        assert_eq!(broadcast_shapes(&[1], &[0]).unwrap(), vec![0]);
        let e = broadcast_shapes(&[2, 3], &[4]).unwrap_err().to_string();
        assert_eq!(
            e,
            "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1"
        );
    }

    #[test]
    fn dims_wrap_like_pytorch() {
        assert_eq!(wrap_dim(-1, 2).unwrap(), 1);
        assert_eq!(wrap_dim(0, 0).unwrap(), 0);
        assert_eq!(wrap_dim(-1, 0).unwrap(), 0);
        assert_eq!(
            wrap_dim(2, 2).unwrap_err().to_string(),
            "Dimension out of range (expected to be in range of [-2, 1], but got 2)"
        );
        assert!(wrap_dim(i64::MIN, 2).is_err());
        assert!(wrap_dim(1, 0).is_err());
    }

    #[test]
    fn numbers_print_as_cpp_prints_them() {
        assert_eq!(fmt_g(-1.0), "-1");
        assert_eq!(fmt_g(0.5), "0.5");
        assert_eq!(fmt_g(1099511627776.0), "1.09951e+12");
        assert_eq!(fmt_g(1e-7), "1e-07");
        assert_eq!(fmt_g(123456.0), "123456");
        assert_eq!(fmt_g(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn casts_refused_as_pytorch_refuses_them() {
        assert!(!can_cast(Float32, Int64));
        assert!(!can_cast(Int64, Bool));
        assert!(can_cast(Bool, Int64));
        assert!(can_cast(Float32, Float16));
        assert!(can_cast(Int64, UInt8));
    }
}
