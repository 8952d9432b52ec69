//! `var`, `std` (and with the mean), computed in float64 as PyTorch's CPU kernel accumulates
//! them, and the vector norms (`norm`, `linalg_vector_norm`).

use candle_core::Device;

use super::{float_tensor, is_nan, reduce_dims, reduced_shape, Rows};
use crate::error::{Error, Result};
use crate::ops::elementwise::kernel::{finish, Real, CT};
use crate::ops::elementwise::promote::{c10_name, compute_dtype, fmt_g, wrap_dim};
use crate::ops::{Args, Builder, OpFn, Scalar, ScalarType, Tensor, Value};

/// The variance (divided by `max(0, n - correction)`) and the mean of each row, accumulated in
/// f64 with Welford's update as PyTorch's `WelfordOps` does (so that an infinity makes the mean
/// NaN, as in PyTorch).
fn moments(rows: &Rows<f64>, correction: f64) -> (Vec<f64>, Vec<f64>) {
    let mut vars = Vec::with_capacity(rows.count);
    let mut means = Vec::with_capacity(rows.count);
    for r in rows.iter() {
        let (mut mean, mut m2) = (0.0, 0.0);
        for (i, &x) in r.iter().enumerate() {
            let delta = x - mean;
            mean += delta / (i + 1) as f64;
            m2 += delta * (x - mean);
        }
        let n = r.len() as f64;
        if r.is_empty() {
            mean = f64::NAN;
        }
        vars.push(m2 / (n - correction).max(0.0));
        means.push(mean);
    }
    (vars, means)
}

/// `var` or `std` (`sqrt`) over `dims`, with the mean when `with_mean` (`var_mean`,
/// `std_mean` return both as a tuple).
fn var_std(
    t: &Tensor,
    dims: Option<&[i64]>,
    correction: f64,
    keepdim: bool,
    sqrt: bool,
    with_mean: bool,
) -> Result<Value> {
    if !t.dtype().is_float() {
        let name = if with_mean {
            if sqrt {
                "std_mean"
            } else {
                "var_mean"
            }
        } else {
            "std and var"
        };
        return Err(Error::Script(format!(
            "{name} only support floating point and complex dtypes"
        )));
    }
    let rd = reduce_dims(dims, t.rank())?;
    let shape = reduced_shape(t.dims(), &rd, keepdim);
    let (vars, means) = moments(&Rows::new(t.inner(), &rd)?, correction);
    let vars = if sqrt {
        vars.into_iter().map(f64::sqrt).collect()
    } else {
        vars
    };
    let v = Value::Tensor(float_tensor(vars, &shape, t.dtype(), t.device())?);
    if !with_mean {
        return Ok(v);
    }
    let m = Value::Tensor(float_tensor(means, &shape, t.dtype(), t.device())?);
    Ok(Value::tuple(vec![v, m]))
}

/// The norm of order `ord` of each row, in the compute type: `max |x|` for infinity, `min |x|`
/// for minus infinity (NaN propagating), the count of nonzeros for 0, `(sum |x|^p)^(1/p)`
/// otherwise.
fn row_norms<T: Real>(rows: &Rows<T>, ord: f64) -> Vec<T> {
    let p = T::from_f64(ord);
    let zero = T::from_f64(0.0);
    rows.iter()
        .map(|r| {
            let abs = r.iter().map(|&x| x.abs());
            if ord.is_infinite() {
                abs.fold(None, |acc: Option<T>, x| match acc {
                    Some(a) if is_nan(a) => Some(a),
                    Some(a) if !is_nan(x) && ((ord > 0.0 && a >= x) || (ord < 0.0 && a <= x)) => {
                        Some(a)
                    }
                    _ => Some(x),
                })
                .unwrap_or(zero)
            } else if ord == 0.0 {
                T::from_f64(r.iter().filter(|&&x| x != zero).count() as f64)
            } else if ord == 1.0 {
                abs.fold(zero, |a, x| a + x)
            } else if ord == 2.0 {
                r.iter().fold(zero, |a, &x| a + x * x).sqrt()
            } else {
                abs.fold(zero, |a, x| a + x.powf(p))
                    .powf(T::from_f64(1.0) / p)
            }
        })
        .collect()
}

/// `linalg.vector_norm(t, ord, dims, keepdim, dtype)`, for float tensors; `norm` says whether
/// `aten::norm` without a dtype called it (its refusal of integers has another message).
fn vector_norm(
    t: &Tensor,
    ord: f64,
    dims: Option<&[i64]>,
    keepdim: bool,
    dtype: Option<ScalarType>,
    norm: bool,
) -> Result<Tensor> {
    if !t.dtype().is_float() {
        return Err(Error::Script(if norm {
            format!(
                "norm(): input dtype should be either floating point or complex. Got {} instead.",
                c10_name(t.dtype())
            )
        } else {
            format!(
                "linalg.vector_norm: Expected a floating point or complex tensor as input. Got {}",
                c10_name(t.dtype())
            )
        }));
    }
    let t = match dtype {
        Some(d) if t.dtype().promote(d) != d => {
            return Err(Error::Script(format!(
                "linalg.vector_norm: the dtype of the input ({}) should be convertible without \
                 narrowing to the specified dtype ({})",
                c10_name(t.dtype()),
                c10_name(d)
            )))
        }
        Some(d) => t.to_dtype(d)?,
        None => t.clone(),
    };
    let rd = reduce_dims(dims, t.rank())?;
    check_identity(&t, ord, dims)?;
    let shape = reduced_shape(t.dims(), &rd, keepdim);
    let x = t.inner();
    let r = match compute_dtype(t.dtype()) {
        candle_core::DType::F64 => CT::from_vec(
            row_norms(&Rows::<f64>::new(x, &rd)?, ord),
            shape,
            &Device::Cpu,
        )?,
        _ => CT::from_vec(
            row_norms(&Rows::<f32>::new(x, &rd)?, ord),
            shape,
            &Device::Cpu,
        )?,
    };
    finish(r, t.dtype())?.to_device(t.device())
}

/// Refuses the norms without an identity (negative orders and infinity) over an empty tensor.
fn check_identity(t: &Tensor, ord: f64, dims: Option<&[i64]>) -> Result<()> {
    if t.elem_count() != 0 || !(ord < 0.0 || ord == f64::INFINITY) {
        return Ok(());
    }
    if dims.is_none_or(|d| d.is_empty()) {
        return Err(Error::Script(format!(
            "linalg.vector_norm cannot compute the {} norm on an empty tensor because the \
             operation does not have an identity",
            fmt_g(ord)
        )));
    }
    for &d in dims.unwrap_or_default() {
        if t.dims()[wrap_dim(d, t.rank())?] == 0 {
            // PyTorch's message, without a space before "because".
            return Err(Error::Script(format!(
                "linalg.vector_norm cannot compute the {} norm on the dimension {d}because this \
                 dimension is empty and the operation does not have an identity",
                fmt_g(ord)
            )));
        }
    }
    Ok(())
}

fn p(a: &Args, i: usize) -> Result<f64> {
    Ok(a.opt_scalar(i)?.map_or(2.0, Scalar::f64))
}

fn out(t: Result<Tensor>) -> Result<Value> {
    t.map(Value::Tensor)
}

/// The correction of `unbiased`.
fn unbiased(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Registers `var`, `std`, `var_mean`, `std_mean` (each plain, with dims, with a correction).
fn register_moments(b: &mut Builder, name: &str, sqrt: bool, with_mean: bool) {
    let ret = if with_mean {
        "(Tensor, Tensor)"
    } else {
        "Tensor"
    };
    macro_rules! fns {
        ($sqrt:literal, $mean:literal) => {
            [
                |_, a| {
                    var_std(
                        a.tensor(0)?,
                        None,
                        unbiased(a.bool(1)?),
                        false,
                        $sqrt,
                        $mean,
                    )
                },
                |_, a| {
                    let dims = a.opt_ints(1)?;
                    var_std(
                        a.tensor(0)?,
                        dims.as_deref(),
                        unbiased(a.bool(2)?),
                        a.bool(3)?,
                        $sqrt,
                        $mean,
                    )
                },
                |_, a| {
                    let dims = a.opt_ints(1)?;
                    let c = a.opt_scalar(2)?.map_or(1.0, Scalar::f64);
                    var_std(a.tensor(0)?, dims.as_deref(), c, a.bool(3)?, $sqrt, $mean)
                },
            ]
        };
    }
    let fns: [OpFn; 3] = match (sqrt, with_mean) {
        (false, false) => fns!(false, false),
        (true, false) => fns!(true, false),
        (false, true) => fns!(false, true),
        (true, true) => fns!(true, true),
    };
    b.add(
        &format!("aten::{name}(Tensor self, bool unbiased=True) -> {ret}"),
        fns[0],
    );
    b.add(
        &format!("aten::{name}.dim(Tensor self, int[1]? dim, bool unbiased=True, bool keepdim=False) -> {ret}"),
        fns[1],
    );
    b.add(
        &format!(
            "aten::{name}.correction(Tensor self, int[1]? dim=None, *, Scalar? correction=None, bool keepdim=False) -> {ret}"
        ),
        fns[2],
    );
}

/// Registers the variances and norms.
pub(super) fn register(b: &mut Builder) {
    register_moments(b, "var", false, false);
    register_moments(b, "std", true, false);
    register_moments(b, "var_mean", false, true);
    register_moments(b, "std_mean", true, true);
    b.add(
        "aten::norm.ScalarOpt_dim(Tensor self, Scalar? p, int[1] dim, bool keepdim=False) -> Tensor",
        |_, a| out(vector_norm(a.tensor(0)?, p(a, 1)?, Some(&a.ints(2)?), a.bool(3)?, None, true)),
    );
    b.add(
        "aten::norm.ScalarOpt_dim_dtype(Tensor self, Scalar? p, int[1] dim, bool keepdim, *, ScalarType dtype) -> Tensor",
        |_, a| out(vector_norm(a.tensor(0)?, p(a, 1)?, Some(&a.ints(2)?), a.bool(3)?, a.opt_dtype(4)?, false)),
    );
    b.add(
        "aten::norm.Scalar(Tensor self, Scalar p=2) -> Tensor",
        |_, a| out(vector_norm(a.tensor(0)?, p(a, 1)?, None, false, None, true)),
    );
    b.add(
        "aten::norm.ScalarOpt_dtype(Tensor self, Scalar? p, *, ScalarType dtype) -> Tensor",
        |_, a| {
            out(vector_norm(
                a.tensor(0)?,
                p(a, 1)?,
                None,
                false,
                a.opt_dtype(2)?,
                false,
            ))
        },
    );
    b.add(
        "aten::linalg_vector_norm(Tensor self, Scalar ord=2, int[1]? dim=None, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",
        |_, a| {
            let dims = a.opt_ints(2)?;
            out(vector_norm(a.tensor(0)?, a.scalar(1)?.f64(), dims.as_deref(), a.bool(3)?, a.opt_dtype(4)?, false))
        },
    );
}

#[cfg(test)]
mod tests {
    //! Expected values are torch 2.15's for the same calls.
    use crate::ops::elementwise::testing::{
        call, call_kw, check, error, f32s, i64s, items, tensor,
    };
    use crate::ops::ScalarType::*;
    use crate::ops::Value;

    const NAN: f64 = f64::NAN;
    const INF: f64 = f64::INFINITY;

    fn x() -> Value {
        f32s(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    }

    fn dims(d: &[i64]) -> Value {
        Value::list(d.iter().map(|&x| Value::Int(x)).collect())
    }

    #[test]
    fn variances_follow_the_correction() {
        check(
            &call("aten::std", &[x()]).unwrap(),
            Float32,
            &[],
            &[1.8708287477493286],
        );
        let r = call(
            "aten::var",
            &[x(), Value::Int(1), Value::Bool(false), Value::Bool(true)],
        )
        .unwrap();
        check(
            &r,
            Float32,
            &[2, 1],
            &[0.6666666865348816, 0.6666666865348816],
        );
        let r = call_kw(
            "aten::var",
            &[x(), Value::Int(1)],
            &[("correction", Value::Float(2.5))],
        )
        .unwrap();
        check(&r, Float32, &[2], &[4.0, 4.0]);
        check(
            &call("aten::var", &[f32s(&[1], &[1.0])]).unwrap(),
            Float32,
            &[],
            &[NAN],
        );
        let r = call_kw(
            "aten::var",
            &[f32s(&[2], &[1.0, 2.0])],
            &[("correction", Value::Int(3))],
        )
        .unwrap();
        check(&r, Float32, &[], &[INF]);
        let r = items(&call("aten::std_mean", &[x(), Value::Int(1)]).unwrap());
        check(&r[0], Float32, &[2], &[1.0, 1.0]);
        check(&r[1], Float32, &[2], &[2.0, 5.0]);
        assert!(error("aten::std", &[i64s(&[2], &[1.0, 2.0])])
            .contains("std and var only support floating point"));
    }

    #[test]
    fn norms_follow_pytorch() {
        check(
            &call("aten::norm", &[x()]).unwrap(),
            Float32,
            &[],
            &[9.539392471313477],
        );
        check(
            &call("aten::norm", &[x(), Value::Int(1), dims(&[1])]).unwrap(),
            Float32,
            &[2],
            &[6.0, 15.0],
        );
        check(
            &call("aten::norm", &[x(), Value::Float(INF), dims(&[1])]).unwrap(),
            Float32,
            &[2],
            &[3.0, 6.0],
        );
        check(
            &call("aten::norm", &[f32s(&[3], &[0.0, 1.0, 2.0]), Value::Int(0)]).unwrap(),
            Float32,
            &[],
            &[2.0],
        );
        check(
            &call("aten::norm", &[x(), Value::Int(3)]).unwrap(),
            Float32,
            &[],
            &[7.611662864685059],
        );
        check(
            &call("aten::linalg_vector_norm", &[x(), Value::Int(-1)]).unwrap(),
            Float32,
            &[],
            &[0.4081632196903229],
        );
        check(
            &call("aten::norm", &[x(), Value::None, dims(&[1])]).unwrap(),
            Float32,
            &[2],
            &[3.7416574954986572, 8.774964332580566],
        );
        let h = tensor(Float16, &[2], &[300.0, 400.0]);
        check(
            &call("aten::linalg_vector_norm", &[h]).unwrap(),
            Float16,
            &[],
            &[500.0],
        );
        check(
            &call(
                "aten::linalg_vector_norm",
                &[f32s(&[2], &[1.0, NAN]), Value::Float(INF)],
            )
            .unwrap(),
            Float32,
            &[],
            &[NAN],
        );
        let e = call_kw(
            "aten::linalg_vector_norm",
            &[x()],
            &[("dtype", Value::Int(5))],
        )
        .unwrap_err();
        assert!(e
            .to_string()
            .contains("should be convertible without narrowing to the specified dtype (Half)"));
        let e = error(
            "aten::linalg_vector_norm",
            &[f32s(&[0], &[]), Value::Int(-1)],
        );
        assert!(e.contains("cannot compute the -1 norm on an empty tensor"));
        assert!(error("aten::norm", &[i64s(&[1], &[1.0])]).contains(
            "norm(): input dtype should be either floating point or complex. Got Long instead."
        ));
    }
}
