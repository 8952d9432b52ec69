//! The building blocks of the elementwise and reduction operators: operands as candle tensors
//! of a compute type, CPU loops for what candle lacks or does not do as PyTorch does (integer
//! arithmetic, which wraps and raises `ZeroDivisionError`; float functions candle has not),
//! and results converted back to PyTorch's type on the operands' device.
//!
//! Float arithmetic runs on candle in PyTorch's compute type ([`compute_dtype`]): float16 and
//! bfloat16 compute in float32 and round once, as PyTorch's CPU kernels do. Integer and bool
//! arithmetic runs on the CPU in i64 with wrapping, then converts as C++ casts do (an int32
//! result wraps like PyTorch's int32 arithmetic).

use std::ops::Neg;

use candle_core::{DType, Device, WithDType};

use super::promote::{c10_name, can_cast, compute_dtype, Operand};
use crate::error::{Error, Result};
use crate::ops::{Ctx, Scalar, ScalarType, Tensor, Value};

/// candle's tensor.
pub(in crate::ops) type CT = candle_core::Tensor;

/// The device of the first tensor operand, else the call's.
pub(in crate::ops) fn device_of(cx: &Ctx, operands: &[Operand]) -> Device {
    operands
        .iter()
        .find_map(|op| match op {
            Operand::Tensor(t) => Some(t.device().clone()),
            Operand::Scalar(_) => None,
        })
        .unwrap_or_else(|| cx.device.clone())
}

/// A number as a 0-dim candle tensor of type `dtype`: floats convert through f32 for the
/// float types narrower than f64 (as PyTorch's scalar conversion does), integers wrap.
pub(in crate::ops) fn scalar_tensor(value: Scalar, dtype: DType, device: &Device) -> Result<CT> {
    let int = match value {
        Scalar::Int(n) => n,
        Scalar::Bool(b) => i64::from(b),
        Scalar::Float(x) => x as i64,
    };
    let x = value.f64();
    Ok(match dtype {
        DType::F64 => CT::new(x, device)?,
        DType::F32 => CT::new(x as f32, device)?,
        DType::F16 => CT::new(half::f16::from_f32(x as f32), device)?,
        DType::BF16 => CT::new(half::bf16::from_f32(x as f32), device)?,
        DType::U8 => CT::new(int as u8, device)?,
        DType::I16 => CT::new(int as i16, device)?,
        DType::I32 => CT::new(int as i32, device)?,
        DType::I64 => CT::new(int, device)?,
        other => return Err(Error::Script(format!("no number of candle type {other:?}"))),
    })
}

/// An operand as a candle tensor of type `dtype` broadcast to `shape`.
pub(in crate::ops) fn operand_as(
    op: &Operand,
    dtype: DType,
    shape: &[usize],
    device: &Device,
) -> Result<CT> {
    let t = match op {
        Operand::Tensor(t) => t.inner().to_dtype(dtype)?,
        Operand::Scalar(s) => scalar_tensor(*s, dtype, device)?,
    };
    Ok(t.broadcast_as(shape)?)
}

/// A candle result as a tensor of PyTorch type `dtype` (a float or integer type; candle's
/// conversions between floats round to nearest even, as PyTorch's do).
pub(in crate::ops) fn finish(t: CT, dtype: ScalarType) -> Result<Tensor> {
    if dtype == ScalarType::Bool {
        return Tensor::from_mask(t.ne(&t.zeros_like()?)?);
    }
    Tensor::with_type(t.to_dtype(dtype.candle())?, dtype)
}

/// The float type a floating unary operator returns for an input of type `dtype`: the same
/// float type, or float32 (the default) for integers and bool.
pub(in crate::ops) fn float_type(dtype: ScalarType) -> ScalarType {
    if dtype.is_float() {
        dtype
    } else {
        ScalarType::Float32
    }
}

/// `f` applied by candle to `t` converted to the compute type of its float result type
/// ([`float_type`]); the result has that type.
pub(in crate::ops) fn float_unary(
    t: &Tensor,
    f: impl Fn(&CT) -> candle_core::Result<CT>,
) -> Result<Tensor> {
    let rt = float_type(t.dtype());
    let x = t.inner().to_dtype(compute_dtype(rt))?;
    finish(f(&x)?, rt)
}

/// `f` applied by candle to two operands converted to the compute type of the float type `rt`
/// and broadcast to `shape`; the result has type `rt`.
pub(in crate::ops) fn float_binary(
    a: &Operand,
    b: &Operand,
    shape: &[usize],
    rt: ScalarType,
    device: &Device,
    f: impl Fn(&CT, &CT) -> candle_core::Result<CT>,
) -> Result<Tensor> {
    let dt = compute_dtype(rt);
    let x = operand_as(a, dt, shape, device)?;
    let y = operand_as(b, dt, shape, device)?;
    finish(f(&x, &y)?, rt)
}

/// An operand's values as i64, broadcast to `shape`, in row-major order (floats truncate).
pub(in crate::ops) fn int_values(op: &Operand, shape: &[usize]) -> Result<Vec<i64>> {
    match op {
        Operand::Tensor(t) => {
            let t = if t.dtype().is_float() {
                t.to_dtype(ScalarType::Int64)?.into_inner()
            } else {
                t.inner().to_dtype(DType::I64)?
            };
            Ok(t.broadcast_as(shape)?.flatten_all()?.to_vec1::<i64>()?)
        }
        Operand::Scalar(s) => {
            let n = match s {
                Scalar::Int(n) => *n,
                Scalar::Bool(b) => i64::from(*b),
                Scalar::Float(x) => *x as i64,
            };
            Ok(vec![n; shape.iter().product()])
        }
    }
}

/// i64 values as a tensor of integer or bool type `dtype` and shape `shape`, converted as C++
/// casts convert (wrapping; nonzero is true).
pub(in crate::ops) fn from_i64(
    values: Vec<i64>,
    shape: &[usize],
    dtype: ScalarType,
    device: &Device,
) -> Result<Tensor> {
    let t = match dtype {
        ScalarType::Bool => {
            let v: Vec<u8> = values.iter().map(|&x| u8::from(x != 0)).collect();
            return Tensor::from_mask(CT::from_vec(v, shape, device)?);
        }
        ScalarType::UInt8 => CT::from_vec(
            values.iter().map(|&x| x as u8).collect::<Vec<_>>(),
            shape,
            device,
        )?,
        ScalarType::Int16 => CT::from_vec(
            values.iter().map(|&x| x as i16).collect::<Vec<_>>(),
            shape,
            device,
        )?,
        ScalarType::Int32 => CT::from_vec(
            values.iter().map(|&x| x as i32).collect::<Vec<_>>(),
            shape,
            device,
        )?,
        ScalarType::Int64 => CT::from_vec(values, shape, device)?,
        float => CT::from_vec(values, shape, device)?.to_dtype(float.candle())?,
    };
    Tensor::with_type(t, dtype)
}

/// `f` on the i64 values of two operands broadcast to `shape`; the result, of integer or bool
/// type `rt`, converts as [`from_i64`].
pub(in crate::ops) fn int_map2(
    a: &Operand,
    b: &Operand,
    shape: &[usize],
    rt: ScalarType,
    device: &Device,
    f: impl Fn(i64, i64) -> Result<i64>,
) -> Result<Tensor> {
    let x = int_values(a, shape)?;
    let y = int_values(b, shape)?;
    let out = x
        .iter()
        .zip(&y)
        .map(|(&p, &q)| f(p, q))
        .collect::<Result<Vec<_>>>()?;
    from_i64(out, shape, rt, device)
}

/// `f` on the i64 values of `t`; the result has type `rt`.
pub(in crate::ops) fn int_map1(
    t: &Tensor,
    rt: ScalarType,
    f: impl Fn(i64) -> Result<i64>,
) -> Result<Tensor> {
    let x = int_values(&Operand::Tensor(t), t.dims())?;
    let out = x.into_iter().map(f).collect::<Result<Vec<_>>>()?;
    from_i64(out, t.dims(), rt, t.device())
}

/// f32 and f64, for the CPU loops that compute in PyTorch's compute type.
pub(in crate::ops) trait Real: WithDType + Neg<Output = Self> {
    /// `floor`.
    fn floor(self) -> Self;
    /// `trunc`.
    fn trunc(self) -> Self;
    /// `abs`.
    fn abs(self) -> Self;
    /// `sqrt`.
    fn sqrt(self) -> Self;
    /// `log1p`.
    fn ln_1p(self) -> Self;
    /// `expm1`.
    fn exp_m1(self) -> Self;
    /// `log2`.
    fn log2(self) -> Self;
    /// `tan`.
    fn tan(self) -> Self;
    /// `acos`.
    fn acos(self) -> Self;
    /// `acosh`.
    fn acosh(self) -> Self;
    /// `asin`.
    fn asin(self) -> Self;
    /// `asinh`.
    fn asinh(self) -> Self;
    /// `atan`.
    fn atan(self) -> Self;
    /// `atanh`.
    fn atanh(self) -> Self;
    /// `cosh`.
    fn cosh(self) -> Self;
    /// `sinh`.
    fn sinh(self) -> Self;
    /// `log10`.
    fn log10(self) -> Self;
    /// `atan2(self, x)`: the angle of the point `(x, self)`.
    fn atan2(self, x: Self) -> Self;
    /// `pow`.
    fn powf(self, e: Self) -> Self;
    /// `nearbyint`: to the nearest integer, ties to even.
    fn round_even(self) -> Self;
    /// `copysign`.
    fn copysign(self, sign: Self) -> Self;
}

macro_rules! real {
    ($t:ident) => {
        impl Real for $t {
            fn floor(self) -> Self {
                $t::floor(self)
            }
            fn trunc(self) -> Self {
                $t::trunc(self)
            }
            fn abs(self) -> Self {
                $t::abs(self)
            }
            fn sqrt(self) -> Self {
                $t::sqrt(self)
            }
            fn ln_1p(self) -> Self {
                $t::ln_1p(self)
            }
            fn exp_m1(self) -> Self {
                $t::exp_m1(self)
            }
            fn log2(self) -> Self {
                $t::log2(self)
            }
            fn tan(self) -> Self {
                $t::tan(self)
            }
            fn acos(self) -> Self {
                $t::acos(self)
            }
            fn acosh(self) -> Self {
                $t::acosh(self)
            }
            fn asin(self) -> Self {
                $t::asin(self)
            }
            fn asinh(self) -> Self {
                $t::asinh(self)
            }
            fn atan(self) -> Self {
                $t::atan(self)
            }
            fn atanh(self) -> Self {
                $t::atanh(self)
            }
            fn cosh(self) -> Self {
                $t::cosh(self)
            }
            fn sinh(self) -> Self {
                $t::sinh(self)
            }
            fn log10(self) -> Self {
                $t::log10(self)
            }
            fn atan2(self, x: Self) -> Self {
                $t::atan2(self, x)
            }
            fn powf(self, e: Self) -> Self {
                $t::powf(self, e)
            }
            fn round_even(self) -> Self {
                $t::round_ties_even(self)
            }
            fn copysign(self, sign: Self) -> Self {
                $t::copysign(self, sign)
            }
        }
    };
}
real!(f32);
real!(f64);

/// A function of one real, for [`real_map1`].
pub(in crate::ops) trait RealFn1 {
    /// Its value at `x`.
    fn call<T: Real>(&self, x: T) -> T;
}

/// A function of two reals, for [`real_map2`].
pub(in crate::ops) trait RealFn2 {
    /// Its value at `(a, b)`.
    fn call<T: Real>(&self, a: T, b: T) -> T;
}

/// An operand's values as `T`, broadcast to `shape`, in row-major order.
pub(in crate::ops) fn real_values<T: Real>(op: &Operand, shape: &[usize]) -> Result<Vec<T>> {
    match op {
        Operand::Tensor(t) => Ok(t
            .inner()
            .to_dtype(T::DTYPE)?
            .broadcast_as(shape)?
            .flatten_all()?
            .to_vec1::<T>()?),
        Operand::Scalar(s) => Ok(vec![T::from_f64(s.f64()); shape.iter().product()]),
    }
}

/// `T` values as a tensor of float type `dtype`.
pub(in crate::ops) fn from_real<T: Real>(
    values: Vec<T>,
    shape: &[usize],
    dtype: ScalarType,
    device: &Device,
) -> Result<Tensor> {
    finish(CT::from_vec(values, shape, device)?, dtype)
}

fn map1<T: Real>(t: &Tensor, rt: ScalarType, f: &impl RealFn1) -> Result<Tensor> {
    let x = real_values::<T>(&Operand::Tensor(t), t.dims())?;
    let out = x.into_iter().map(|v| f.call(v)).collect();
    from_real(out, t.dims(), rt, t.device())
}

/// `f` on the CPU, elementwise on `t` in the compute type of float type `rt`; the result has
/// type `rt`.
pub(in crate::ops) fn real_map1(t: &Tensor, rt: ScalarType, f: &impl RealFn1) -> Result<Tensor> {
    match compute_dtype(rt) {
        DType::F64 => map1::<f64>(t, rt, f),
        _ => map1::<f32>(t, rt, f),
    }
}

fn map2<T: Real>(
    a: &Operand,
    b: &Operand,
    shape: &[usize],
    rt: ScalarType,
    device: &Device,
    f: &impl RealFn2,
) -> Result<Tensor> {
    let x = real_values::<T>(a, shape)?;
    let y = real_values::<T>(b, shape)?;
    let out = x.into_iter().zip(y).map(|(p, q)| f.call(p, q)).collect();
    from_real(out, shape, rt, device)
}

/// `f` on the CPU, elementwise on two operands broadcast to `shape`, in the compute type of
/// float type `rt`; the result has type `rt`.
pub(in crate::ops) fn real_map2(
    a: &Operand,
    b: &Operand,
    shape: &[usize],
    rt: ScalarType,
    device: &Device,
    f: &impl RealFn2,
) -> Result<Tensor> {
    match compute_dtype(rt) {
        DType::F64 => map2::<f64>(a, b, shape, rt, device, f),
        _ => map2::<f32>(a, b, shape, rt, device, f),
    }
}

/// The result of an in-place operator on `target`: `result` (computed out of place) converted
/// to `target`'s type, which must be able to hold it, and of `target`'s shape.
pub(in crate::ops) fn in_place(target: &Tensor, result: Tensor) -> Result<Value> {
    if result.dims() != target.dims() {
        return Err(Error::Script(format!(
            "output with shape {:?} doesn't match the broadcast shape {:?}",
            target.dims(),
            result.dims()
        )));
    }
    if !can_cast(result.dtype(), target.dtype()) {
        return Err(Error::Script(format!(
            "result type {} can't be cast to the desired output type {}",
            c10_name(result.dtype()),
            c10_name(target.dtype())
        )));
    }
    Ok(Value::Tensor(result.to_dtype(target.dtype())?))
}

/// A shape checked against the element limit, for operator `op`'s output.
pub(in crate::ops) fn checked(cx: &Ctx, op: &str, shape: Vec<usize>) -> Result<Vec<usize>> {
    cx.check(op, &shape)?;
    Ok(shape)
}
