//! Sums and means (candle, in the compute type), products, `logsumexp`, `any`, `all`,
//! `count_nonzero`, `cumsum` and `cumprod`.

use candle_core::Device;

use super::{int_tensor, moved_shape, reduce_dims, reduced_shape, unmove, Rows};
use crate::error::{Error, Result};
use crate::ops::elementwise::kernel::{finish, scalar_tensor, Real, CT};
use crate::ops::elementwise::promote::{c10_name, compute_dtype, wrap_dim};
use crate::ops::{Builder, Scalar, ScalarType, Tensor, Value};

/// `t` converted to `dtype` where the call names one (PyTorch converts before reducing).
fn convert(t: &Tensor, dtype: Option<ScalarType>) -> Result<Tensor> {
    match dtype {
        Some(d) => t.to_dtype(d),
        None => Ok(t.clone()),
    }
}

/// The type of a sum or product of `t` (already converted): int64 for integers and bool.
fn accumulated(t: &Tensor) -> ScalarType {
    if t.dtype().is_float() {
        t.dtype()
    } else {
        ScalarType::Int64
    }
}

/// `x` summed over `dims` (sorted), keeping them.
fn sum_keep(x: &CT, dims: &[usize]) -> Result<CT> {
    if dims.is_empty() {
        return Ok(x.clone());
    }
    Ok(x.sum_keepdim(dims.to_vec())?)
}

/// `sum(t, dims, keepdim, dtype)`.
fn sum(
    t: &Tensor,
    dims: Option<&[i64]>,
    keepdim: bool,
    dtype: Option<ScalarType>,
) -> Result<Tensor> {
    let t = convert(t, dtype)?;
    let rt = dtype.unwrap_or_else(|| accumulated(&t));
    let rd = reduce_dims(dims, t.rank())?;
    let shape = reduced_shape(t.dims(), &rd, keepdim);
    if t.dtype().is_float() {
        let x = t.inner().to_dtype(compute_dtype(t.dtype()))?;
        return finish(sum_keep(&x, &rd)?.reshape(shape)?, rt);
    }
    let rows = Rows::<i64>::new(t.inner(), &rd)?;
    let v = rows
        .iter()
        .map(|r| r.iter().fold(0i64, |a, &b| a.wrapping_add(b)))
        .collect();
    int_tensor(v, &shape, rt, t.device())
}

/// The number of elements a reduction over `dims` takes per output element.
fn reduced_count(t: &Tensor, dims: &[usize]) -> usize {
    dims.iter().map(|&d| t.dims()[d]).product()
}

/// `mean(t, dims, keepdim, dtype)`: the sum divided by the count, for float types only.
fn mean(
    t: &Tensor,
    dims: Option<&[i64]>,
    keepdim: bool,
    dtype: Option<ScalarType>,
) -> Result<Tensor> {
    let t = convert(t, dtype)?;
    if !t.dtype().is_float() {
        return Err(Error::Script(format!(
            "mean(): could not infer output dtype. Input dtype must be either a floating point \
             or complex dtype. Got: {}",
            c10_name(t.dtype())
        )));
    }
    let rd = reduce_dims(dims, t.rank())?;
    let shape = reduced_shape(t.dims(), &rd, keepdim);
    let dt = compute_dtype(t.dtype());
    let x = t.inner().to_dtype(dt)?;
    let n = scalar_tensor(Scalar::Float(reduced_count(&t, &rd) as f64), dt, t.device())?;
    finish(
        sum_keep(&x, &rd)?.broadcast_div(&n)?.reshape(shape)?,
        t.dtype(),
    )
}

fn product<T: Real>(t: &Tensor, dims: &[usize], shape: &[usize], rt: ScalarType) -> Result<Tensor> {
    let rows = Rows::<T>::new(t.inner(), dims)?;
    let v: Vec<T> = rows
        .iter()
        .map(|r| r.iter().fold(T::from_f64(1.0), |a, &b| a * b))
        .collect();
    finish(CT::from_vec(v, shape, t.device())?, rt)
}

/// `prod(t, dims, keepdim, dtype)`, multiplied in order in the compute type.
fn prod(
    t: &Tensor,
    dims: Option<&[i64]>,
    keepdim: bool,
    dtype: Option<ScalarType>,
) -> Result<Tensor> {
    let t = convert(t, dtype)?;
    let rt = dtype.unwrap_or_else(|| accumulated(&t));
    let rd = reduce_dims(dims, t.rank())?;
    let shape = reduced_shape(t.dims(), &rd, keepdim);
    match t.dtype() {
        ScalarType::Float64 => product::<f64>(&t, &rd, &shape, rt),
        d if d.is_float() => product::<f32>(&t, &rd, &shape, rt),
        _ => {
            let rows = Rows::<i64>::new(t.inner(), &rd)?;
            let v = rows
                .iter()
                .map(|r| r.iter().fold(1i64, |a, &b| a.wrapping_mul(b)))
                .collect();
            int_tensor(v, &shape, rt, t.device())
        }
    }
}

/// `log(sum(exp(x - m))) + m` with `m` the maximum (0 where it is infinite), as PyTorch;
/// integers are reduced as float32.
fn logsumexp(t: &Tensor, dims: &[i64], keepdim: bool) -> Result<Tensor> {
    if dims.is_empty() {
        return Err(Error::Script(
            "logsumexp needs at least one dim to reduce".into(),
        ));
    }
    let t = if t.dtype().is_float() {
        t.clone()
    } else {
        t.to_dtype(ScalarType::Float32)?
    };
    let rd = reduce_dims(Some(dims), t.rank())?;
    let shape = reduced_shape(t.dims(), &rd, keepdim);
    let x = t.inner().to_dtype(compute_dtype(t.dtype()))?;
    if t.elem_count() == 0 {
        return finish(sum_keep(&x.exp()?, &rd)?.log()?.reshape(shape)?, t.dtype());
    }
    let mut m = x.clone();
    for &d in &rd {
        m = m.max_keepdim(d)?;
    }
    let m = m
        .abs()?
        .eq(f64::INFINITY)?
        .where_cond(&m.zeros_like()?, &m)?;
    let s = sum_keep(&x.broadcast_sub(&m)?.exp()?, &rd)?
        .log()?
        .add(&m)?;
    finish(s.reshape(shape)?, t.dtype())
}

/// Whether each element of `t` is nonzero (NaN is), as `u8`.
fn nonzero(t: &Tensor) -> Result<CT> {
    Ok(t.inner().ne(&t.inner().zeros_like()?)?)
}

/// `any` (`all == false`) or `all` over `dims`: bool, or uint8 for a uint8 input.
fn any_all(t: &Tensor, dims: Option<&[i64]>, keepdim: bool, all: bool) -> Result<Tensor> {
    let rd = reduce_dims(dims, t.rank())?;
    let shape = reduced_shape(t.dims(), &rd, keepdim);
    let rows = Rows::<u8>::new(&nonzero(t)?, &rd)?;
    let v = rows
        .iter()
        .map(|r| {
            i64::from(if all {
                r.iter().all(|&x| x != 0)
            } else {
                r.iter().any(|&x| x != 0)
            })
        })
        .collect();
    let rt = if t.dtype() == ScalarType::UInt8 {
        ScalarType::UInt8
    } else {
        ScalarType::Bool
    };
    int_tensor(v, &shape, rt, t.device())
}

fn count_nonzero(t: &Tensor, dims: Option<&[i64]>) -> Result<Tensor> {
    let rd = reduce_dims(dims, t.rank())?;
    let shape = reduced_shape(t.dims(), &rd, false);
    let rows = Rows::<u8>::new(&nonzero(t)?, &rd)?;
    let v = rows
        .iter()
        .map(|r| r.iter().filter(|&&x| x != 0).count() as i64)
        .collect();
    int_tensor(v, &shape, ScalarType::Int64, t.device())
}

/// Running sums or products of each row, accumulated in `A` and stored in `T` at each step.
fn running<T: Real, A: Real>(rows: &Rows<T>, prod: bool) -> Vec<T> {
    let mut out = Vec::with_capacity(rows.values.len());
    for r in rows.iter() {
        let mut acc = A::from_f64(if prod { 1.0 } else { 0.0 });
        for &v in r {
            let v = A::from_f64(v.to_f64());
            acc = if prod { acc * v } else { acc + v };
            out.push(T::from_f64(acc.to_f64()));
        }
    }
    out
}

/// Running sums or products as PyTorch's CPU kernel accumulates them: float32 in float64,
/// float16 and bfloat16 in float32, integers in wrapping int64.
fn cumulative(t: &Tensor, dim: i64, dtype: Option<ScalarType>, prod: bool) -> Result<Tensor> {
    let t = convert(t, dtype)?;
    let rt = dtype.unwrap_or_else(|| accumulated(&t));
    let d = wrap_dim(dim, t.rank())?;
    if t.rank() == 0 {
        return t.to_dtype(rt);
    }
    let moved = moved_shape(t.dims(), d);
    let values = match t.dtype() {
        ScalarType::Float32 | ScalarType::Float64 => CT::from_vec(
            running::<f64, f64>(&Rows::new(t.inner(), &[d])?, prod),
            moved,
            &Device::Cpu,
        )?,
        x if x.is_float() => CT::from_vec(
            running::<f32, f32>(&Rows::new(t.inner(), &[d])?, prod),
            moved,
            &Device::Cpu,
        )?,
        _ => {
            let rows = Rows::<i64>::new(t.inner(), &[d])?;
            let mut out = Vec::with_capacity(rows.values.len());
            for r in rows.iter() {
                let mut acc: i64 = i64::from(prod);
                for &v in r {
                    acc = if prod {
                        acc.wrapping_mul(v)
                    } else {
                        acc.wrapping_add(v)
                    };
                    out.push(acc);
                }
            }
            CT::from_vec(out, moved, &Device::Cpu)?
        }
    };
    finish(unmove(values, d)?, rt)?.to_device(t.device())
}

fn out(t: Result<Tensor>) -> Result<Value> {
    t.map(Value::Tensor)
}

/// Registers the sums, means, products and the logical reductions; the overloads with a `dim`
/// go first, so that a positional dim does not bind to a keyword-only dtype.
pub(super) fn register(b: &mut Builder) {
    b.add(
        "aten::sum.dim_IntList(Tensor self, int[1]? dim, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",
        |_, a| out(sum(a.tensor(0)?, a.opt_ints(1)?.as_deref(), a.bool(2)?, a.opt_dtype(3)?)),
    );
    b.add(
        "aten::sum(Tensor self, *, ScalarType? dtype=None) -> Tensor",
        |_, a| out(sum(a.tensor(0)?, None, false, a.opt_dtype(1)?)),
    );
    b.add(
        "aten::mean.dim(Tensor self, int[1]? dim, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",
        |_, a| out(mean(a.tensor(0)?, a.opt_ints(1)?.as_deref(), a.bool(2)?, a.opt_dtype(3)?)),
    );
    b.add(
        "aten::mean(Tensor self, *, ScalarType? dtype=None) -> Tensor",
        |_, a| out(mean(a.tensor(0)?, None, false, a.opt_dtype(1)?)),
    );
    b.add(
        "aten::prod.dim_int(Tensor self, int dim, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",
        |_, a| out(prod(a.tensor(0)?, Some(&[a.int(1)?]), a.bool(2)?, a.opt_dtype(3)?)),
    );
    b.add(
        "aten::prod(Tensor self, *, ScalarType? dtype=None) -> Tensor",
        |_, a| out(prod(a.tensor(0)?, None, false, a.opt_dtype(1)?)),
    );
    b.add(
        "aten::logsumexp(Tensor self, int[1] dim, bool keepdim=False) -> Tensor",
        |_, a| out(logsumexp(a.tensor(0)?, &a.ints(1)?, a.bool(2)?)),
    );
    register_logical(b);
    b.add(
        "aten::cumsum(Tensor self, int dim, *, ScalarType? dtype=None) -> Tensor",
        |_, a| out(cumulative(a.tensor(0)?, a.int(1)?, a.opt_dtype(2)?, false)),
    );
    b.add(
        "aten::cumprod(Tensor self, int dim, *, ScalarType? dtype=None) -> Tensor",
        |_, a| out(cumulative(a.tensor(0)?, a.int(1)?, a.opt_dtype(2)?, true)),
    );
}

fn register_logical(b: &mut Builder) {
    b.add(
        "aten::any.dim(Tensor self, int dim, bool keepdim=False) -> Tensor",
        |_, a| out(any_all(a.tensor(0)?, Some(&[a.int(1)?]), a.bool(2)?, false)),
    );
    b.add(
        "aten::any.dims(Tensor self, int[]? dim=None, bool keepdim=False) -> Tensor",
        |_, a| {
            out(any_all(
                a.tensor(0)?,
                a.opt_ints(1)?.as_deref(),
                a.bool(2)?,
                false,
            ))
        },
    );
    b.add("aten::any(Tensor self) -> Tensor", |_, a| {
        out(any_all(a.tensor(0)?, None, false, false))
    });
    b.add(
        "aten::all.dim(Tensor self, int dim, bool keepdim=False) -> Tensor",
        |_, a| out(any_all(a.tensor(0)?, Some(&[a.int(1)?]), a.bool(2)?, true)),
    );
    b.add(
        "aten::all.dims(Tensor self, int[]? dim=None, bool keepdim=False) -> Tensor",
        |_, a| {
            out(any_all(
                a.tensor(0)?,
                a.opt_ints(1)?.as_deref(),
                a.bool(2)?,
                true,
            ))
        },
    );
    b.add("aten::all(Tensor self) -> Tensor", |_, a| {
        out(any_all(a.tensor(0)?, None, false, true))
    });
    b.add(
        "aten::count_nonzero.dim_IntList(Tensor self, int[] dim) -> Tensor",
        |_, a| out(count_nonzero(a.tensor(0)?, Some(&a.ints(1)?))),
    );
    b.add(
        "aten::count_nonzero(Tensor self, int? dim=None) -> Tensor",
        |_, a| {
            let dim = a.opt_int(1)?;
            out(count_nonzero(
                a.tensor(0)?,
                dim.as_ref().map(std::slice::from_ref),
            ))
        },
    );
}

#[cfg(test)]
mod tests {
    //! Expected values are torch 2.15's for the same calls.
    use crate::ops::elementwise::testing::{
        bools, call, call_kw, check, error, f32s, i64s, tensor,
    };
    use crate::ops::ScalarType::*;
    use crate::ops::Value;

    const NAN: f64 = f64::NAN;
    const INF: f64 = f64::INFINITY;

    fn ints23() -> Value {
        i64s(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    }

    fn dims(d: &[i64]) -> Value {
        Value::list(d.iter().map(|&x| Value::Int(x)).collect())
    }

    #[test]
    fn sums_of_integers_are_int64() {
        check(
            &call("aten::sum", &[ints23()]).unwrap(),
            Int64,
            &[],
            &[21.0],
        );
        check(
            &call("aten::sum", &[bools(&[3], &[true, false, true])]).unwrap(),
            Int64,
            &[],
            &[2.0],
        );
        let i32s = tensor(Int32, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        check(
            &call("aten::sum", &[i32s, Value::Int(1)]).unwrap(),
            Int64,
            &[2],
            &[6.0, 15.0],
        );
        let r = call_kw(
            "aten::sum",
            &[ints23(), Value::Int(1)],
            &[("dtype", Value::Int(6))],
        )
        .unwrap();
        check(&r, Float32, &[2], &[6.0, 15.0]);
        check(
            &call("aten::sum", &[ints23(), dims(&[])]).unwrap(),
            Int64,
            &[],
            &[21.0],
        );
        check(
            &call(
                "aten::sum",
                &[f32s(&[], &[3.0]), Value::Int(-1), Value::Bool(true)],
            )
            .unwrap(),
            Float32,
            &[],
            &[3.0],
        );
        check(
            &call("aten::sum", &[f32s(&[0, 3], &[]), Value::Int(0)]).unwrap(),
            Float32,
            &[3],
            &[0.0; 3],
        );
    }

    #[test]
    fn reduction_dims_are_checked() {
        assert!(error("aten::sum", &[ints23(), dims(&[0, -2])])
            .contains("dim 0 appears multiple times in the list of dims"));
        let e = error("aten::sum", &[ints23(), Value::Int(2)]);
        assert!(
            e.contains("Dimension out of range (expected to be in range of [-2, 1], but got 2)")
        );
    }

    #[test]
    fn means_are_for_floats() {
        assert!(error("aten::mean", &[ints23()])
            .contains("Input dtype must be either a floating point or complex dtype. Got: Long"));
        let r = call_kw("aten::mean", &[ints23()], &[("dtype", Value::Int(6))]).unwrap();
        check(&r, Float32, &[], &[3.5]);
        let x = f32s(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        check(
            &call("aten::mean", &[x, dims(&[0, 1]), Value::Bool(true)]).unwrap(),
            Float32,
            &[1, 1],
            &[3.5],
        );
        check(
            &call("aten::mean", &[f32s(&[0], &[])]).unwrap(),
            Float32,
            &[],
            &[NAN],
        );
    }

    #[test]
    fn products_and_logsumexp_follow_pytorch() {
        check(
            &call("aten::prod", &[ints23()]).unwrap(),
            Int64,
            &[],
            &[720.0],
        );
        let b = bools(&[1, 2], &[true, false]);
        check(
            &call("aten::prod", &[b, Value::Int(1)]).unwrap(),
            Int64,
            &[1],
            &[0.0],
        );
        check(
            &call("aten::prod", &[f32s(&[0], &[])]).unwrap(),
            Float32,
            &[],
            &[1.0],
        );
        let x = f32s(&[3, 2], &[1.0, 2.0, -INF, -INF, INF, 1.0]);
        check(
            &call("aten::logsumexp", &[x, dims(&[1])]).unwrap(),
            Float32,
            &[3],
            &[2.3132617473602295, -INF, INF],
        );
        let r = call("aten::logsumexp", &[ints23(), dims(&[1])]).unwrap();
        check(&r, Float32, &[2], &[3.4076058864593506, 6.40760612487793]);
    }

    #[test]
    fn any_and_all_keep_uint8() {
        check(
            &call("aten::any", &[f32s(&[2], &[0.0, NAN])]).unwrap(),
            Bool,
            &[],
            &[1.0],
        );
        check(
            &call("aten::all", &[tensor(UInt8, &[2], &[1.0, 2.0])]).unwrap(),
            UInt8,
            &[],
            &[1.0],
        );
        let u = tensor(UInt8, &[2, 2], &[1.0, 0.0, 0.0, 0.0]);
        check(
            &call("aten::any", &[u, Value::Int(1)]).unwrap(),
            UInt8,
            &[2],
            &[1.0, 0.0],
        );
        let x = f32s(&[2, 2], &[1.0, 0.0, 2.0, 3.0]);
        check(
            &call("aten::all", &[x.clone(), Value::Int(1), Value::Bool(true)]).unwrap(),
            Bool,
            &[2, 1],
            &[0.0, 1.0],
        );
        check(
            &call("aten::all", &[f32s(&[0], &[])]).unwrap(),
            Bool,
            &[],
            &[1.0],
        );
        check(
            &call("aten::any", &[x, dims(&[0, 1])]).unwrap(),
            Bool,
            &[],
            &[1.0],
        );
        let z = f32s(&[2, 2], &[0.0, NAN, 1.0, 0.0]);
        check(
            &call("aten::count_nonzero", std::slice::from_ref(&z)).unwrap(),
            Int64,
            &[],
            &[2.0],
        );
        check(
            &call("aten::count_nonzero", &[z, Value::Int(0)]).unwrap(),
            Int64,
            &[2],
            &[1.0, 1.0],
        );
    }

    #[test]
    fn cumulative_sums_accumulate_as_pytorch() {
        let i32s = tensor(Int32, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        check(
            &call("aten::cumsum", &[i32s, Value::Int(1)]).unwrap(),
            Int64,
            &[2, 3],
            &[1.0, 3.0, 6.0, 4.0, 9.0, 15.0],
        );
        check(
            &call(
                "aten::cumsum",
                &[bools(&[3], &[true, false, true]), Value::Int(0)],
            )
            .unwrap(),
            Int64,
            &[3],
            &[1.0, 1.0, 2.0],
        );
        let x = f32s(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        check(
            &call("aten::cumprod", &[x.clone(), Value::Int(1)]).unwrap(),
            Float32,
            &[2, 3],
            &[1.0, 2.0, 6.0, 4.0, 20.0, 120.0],
        );
        check(
            &call("aten::cumsum", &[x, Value::Int(0)]).unwrap(),
            Float32,
            &[2, 3],
            &[1.0, 2.0, 3.0, 5.0, 7.0, 9.0],
        );
        check(
            &call("aten::cumsum", &[f32s(&[], &[3.0]), Value::Int(0)]).unwrap(),
            Float32,
            &[],
            &[3.0],
        );
    }
}
