//! Activations (`relu`, `gelu`, `silu`, `elu`, `hardtanh`, `softplus`, `prelu`, `glu`, ...),
//! `softmax` and `log_softmax`, and the dropouts (the identity when not training, and Core
//! ATen's `native_dropout` with its mask), with the in-place forms models use.
//!
//! Each computes as PyTorch's CPU kernel does, on candle in the compute type (float16 and
//! bfloat16 in float32); the activations PyTorch has only for floats refuse integers with its
//! message.

use super::arith::{mul, not_implemented, out};
use super::bounds::{maximum, minimum};
use super::fast::{self, Clamp, Gelu, Relu, Silu};
use super::kernel::{finish, in_place, CT};
use super::promote::{c10_name, compute_dtype, wrap_dim, Operand};
use super::unary::sigmoid_of;
use crate::error::{Error, Result};
use crate::ops::{Args, Builder, Ctx, OpFn, Scalar, ScalarType, Tensor, Value};

/// `f` on `t` in its compute type, for the activations PyTorch has only for float types
/// (`kernel` names its kernel in the refusal).
fn float_only(
    t: &Tensor,
    kernel: &str,
    f: impl Fn(&CT) -> candle_core::Result<CT>,
) -> Result<Tensor> {
    if !t.dtype().is_float() {
        return Err(not_implemented(kernel, t.dtype()));
    }
    let x = t.inner().to_dtype(compute_dtype(t.dtype()))?;
    finish(f(&x)?, t.dtype())
}

/// NaN where `x` is NaN, else `r` (candle's `maximum` and `minimum` may drop NaN).
fn keep_nan(x: &CT, r: &CT) -> candle_core::Result<CT> {
    x.ne(x)?.where_cond(x, r)
}

/// `log1p(y)` for `y >= 0` by candle, accurate for small `y` (Kahan's formula).
fn log1p_of(y: &CT) -> candle_core::Result<CT> {
    let u = y.affine(1.0, 1.0)?;
    let ratio = u.log()?.mul(y)?.div(&u.affine(1.0, -1.0)?)?;
    let r = u.eq(1.0)?.where_cond(y, &ratio)?;
    u.eq(f64::INFINITY)?.where_cond(&u, &r)
}

fn relu(cx: &Ctx, t: &Tensor) -> Result<Tensor> {
    match t.dtype() {
        ScalarType::Bool => Err(Error::Script(
            "Boolean inputs not supported for relu".into(),
        )),
        d if d.is_float() => {
            if let Some(r) = fast::map(t, &Relu) {
                return r;
            }
            let x = t.inner();
            Tensor::with_type(x.le(0.0)?.where_cond(&x.zeros_like()?, x)?, d)
        }
        _ => maximum(cx, Operand::Tensor(t), Operand::Scalar(Scalar::Int(0))),
    }
}

/// `hardtanh(t, min, max)`: `clamp` with the bounds converted to `t`'s type.
fn hardtanh(cx: &Ctx, t: &Tensor, min: Scalar, max: Scalar) -> Result<Tensor> {
    let d = t.dtype();
    if d == ScalarType::Bool {
        return Err(Error::Script(
            "Bool inputs not supported for hardtanh".into(),
        ));
    }
    if d.is_float() {
        let clamp = Clamp {
            lo: Some(min.f64()),
            hi: Some(max.f64()),
        };
        if let Some(r) = fast::map(t, &clamp) {
            return r;
        }
    }
    let bound = |s: Scalar| {
        if d.is_float() {
            Scalar::Float(s.f64())
        } else {
            Scalar::Int(s.f64() as i64)
        }
    };
    let lower = maximum(cx, Operand::Tensor(t), Operand::Scalar(bound(min)))?;
    minimum(cx, Operand::Tensor(&lower), Operand::Scalar(bound(max)))?.to_dtype(d)
}

fn leaky_relu(t: &Tensor, slope: f64) -> Result<Tensor> {
    float_only(t, "leaky_relu_cpu", |x| {
        x.gt(0.0)?.where_cond(x, &x.affine(slope, 0.0)?)
    })
}

/// `x <= 0 ? (exp(x * input_scale) - 1) * alpha * scale : x * scale`.
fn elu(t: &Tensor, alpha: f64, scale: f64, input_scale: f64) -> Result<Tensor> {
    float_only(t, "elu_cpu", |x| {
        let neg = x
            .affine(input_scale, 0.0)?
            .exp()?
            .affine(1.0, -1.0)?
            .affine(alpha * scale, 0.0)?;
        x.le(0.0)?.where_cond(&neg, &x.affine(scale, 0.0)?)
    })
}

const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

fn celu(t: &Tensor, alpha: f64) -> Result<Tensor> {
    if alpha == 0.0 {
        return Err(Error::Script(
            "ZeroDivisionError: alpha cannot be 0 for CELU".into(),
        ));
    }
    elu(t, alpha, 1.0, 1.0 / alpha)
}

fn gelu(t: &Tensor, approximate: &str) -> Result<Tensor> {
    let tanh = match approximate {
        "none" => false,
        "tanh" => true,
        _ => {
            return Err(Error::Script(
                "approximate argument must be either none or tanh.".into(),
            ))
        }
    };
    if let Some(r) = fast::map(t, &Gelu { tanh }) {
        return r;
    }
    float_only(t, "GeluKernelImpl", |x| {
        if tanh {
            x.gelu()
        } else {
            x.gelu_erf()
        }
    })
}

fn silu(t: &Tensor) -> Result<Tensor> {
    if let Some(r) = fast::map(t, &Silu) {
        return r;
    }
    float_only(t, "silu_cpu", |x| x.div(&x.neg()?.exp()?.affine(1.0, 1.0)?))
}

/// `x * tanh(log1p(exp(x)))`.
fn mish(t: &Tensor) -> Result<Tensor> {
    float_only(t, "mish_cpu", |x| x.mul(&log1p_of(&x.exp()?)?.tanh()?))
}

/// `min(max(x + 3, 0), 6)`, NaN kept.
fn relu6_shifted(x: &CT) -> candle_core::Result<CT> {
    let y = x.affine(1.0, 3.0)?;
    let r = y.maximum(0.0)?.minimum(6.0)?;
    keep_nan(&y, &r)
}

fn hardsigmoid(t: &Tensor) -> Result<Tensor> {
    float_only(t, "hardsigmoid_cpu", |x| {
        relu6_shifted(x)?.affine(1.0 / 6.0, 0.0)
    })
}

fn hardswish(t: &Tensor) -> Result<Tensor> {
    float_only(t, "hardswish_cpu", |x| {
        let six = x.ones_like()?.affine(6.0, 0.0)?;
        x.mul(&relu6_shifted(x)?)?.div(&six)
    })
}

/// `x * beta > threshold ? x : log1p(exp(x * beta)) / beta`.
fn softplus(t: &Tensor, beta: f64, threshold: f64) -> Result<Tensor> {
    float_only(t, "softplus_cpu", |x| {
        let bx = x.affine(beta, 0.0)?;
        let soft = log1p_of(&bx.exp()?)?.affine(1.0 / beta, 0.0)?;
        bx.gt(threshold)?.where_cond(x, &soft)
    })
}

/// `min(x, 0) - log1p(exp(-|x|))`.
fn log_sigmoid(t: &Tensor) -> Result<Tensor> {
    float_only(t, "log_sigmoid_cpu", |x| {
        let low = keep_nan(x, &x.minimum(0.0)?)?;
        low.sub(&log1p_of(&x.abs()?.neg()?.exp()?)?)
    })
}

/// `x <= threshold ? value : x`, compared in `t`'s own type (the numbers converted to it).
fn threshold(t: &Tensor, th: Scalar, value: Scalar) -> Result<Tensor> {
    let d = t.dtype();
    if d == ScalarType::Bool {
        return Err(not_implemented("threshold_cpu", d));
    }
    let x = t.inner();
    let th = super::kernel::scalar_tensor(th, d.candle(), t.device())?.broadcast_as(x.shape())?;
    let v = super::kernel::scalar_tensor(value, d.candle(), t.device())?.broadcast_as(x.shape())?;
    Tensor::with_type(x.le(&th)?.where_cond(&v, x)?, d)
}

/// `a * sigmoid(b)` for the two halves `a`, `b` of `t` along `dim`.
fn glu(t: &Tensor, dim: i64) -> Result<Tensor> {
    if t.rank() == 0 {
        return Err(Error::Script(
            "glu does not support 0-dimensional tensors".into(),
        ));
    }
    let d = wrap_dim(dim, t.rank())?;
    let size = t.dims()[d];
    if !size.is_multiple_of(2) {
        return Err(Error::Script(format!(
            "Halving dimension must be even, but dimension {d} is size {size}"
        )));
    }
    float_only(t, "glu_cpu", |x| {
        let (a, b) = (x.narrow(d, 0, size / 2)?, x.narrow(d, size / 2, size / 2)?);
        a.mul(&sigmoid_of(&b)?)
    })
}

/// `x > 0 ? x : weight * x`, the weight one value or one per channel (dimension 1).
fn prelu(t: &Tensor, w: &Tensor) -> Result<Tensor> {
    if t.dtype() != w.dtype() {
        return Err(Error::Script(format!(
            "prelu: Type promoting not supported. Got {} and {}",
            c10_name(t.dtype()),
            c10_name(w.dtype())
        )));
    }
    let n = w.elem_count();
    if n != 1 {
        if t.rank() == 0 {
            return Err(Error::Script("Not allow zero-dim input tensor.".into()));
        }
        let channels = if t.rank() > 1 { t.dims()[1] } else { 1 };
        if channels != n {
            return Err(Error::Script(format!(
                "Mismatch of parameter numbers and input channel size. Found parameter numbers \
                 = {n} and channel size = {channels}."
            )));
        }
    }
    if w.rank() > 1 {
        return Err(Error::Script(format!(
            "prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {}",
            w.rank()
        )));
    }
    let mut wshape = vec![1; t.rank()];
    if n != 1 {
        wshape[1] = n;
    }
    let wt = w
        .inner()
        .to_dtype(compute_dtype(t.dtype()))?
        .reshape(wshape)?;
    float_only(t, "prelu_cpu", |x| {
        let scaled = x.broadcast_mul(&wt)?;
        x.gt(0.0)?.where_cond(x, &scaled)
    })
}

/// The dropouts at inference: `p` checked, the input itself unless training with `0 < p`;
/// `p == 1` while training gives `input * 0`, as PyTorch; other training calls are refused.
fn dropout(cx: &Ctx, t: &Tensor, p: f64, train: bool) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::Script(format!(
            "dropout probability has to be between 0 and 1, but got {p}"
        )));
    }
    if p == 0.0 || !train || t.elem_count() == 0 {
        return Ok(t.clone());
    }
    if p == 1.0 {
        let zero = Scalar::Int(0);
        return mul(cx, Operand::Tensor(t), Operand::Scalar(zero))?.to_dtype(t.dtype());
    }
    Err(Error::Script(
        "dropout with train=True is random; only inference (train=False) is supported".into(),
    ))
}

/// `native_dropout`: the output and the mask of the elements kept (bool). Not training, the
/// input and an all-true mask; training (PyTorch takes `train=None` as training) keeps
/// everything for `p == 0` and drops everything for `p == 1` (`input * 0`, as PyTorch), and is
/// random, so refused, for any other `p`. An empty input comes back with an empty tensor of
/// its type for a mask, as in PyTorch.
fn native_dropout(cx: &Ctx, t: &Tensor, p: f64, train: Option<bool>) -> Result<Value> {
    if t.elem_count() == 0 {
        let empty = Tensor::with_type(t.inner().zeros_like()?, t.dtype())?;
        return Ok(Value::tuple(vec![
            Value::Tensor(t.clone()),
            Value::Tensor(empty),
        ]));
    }
    let keep = if !train.unwrap_or(true) {
        true
    } else if !(0.0..=1.0).contains(&p) {
        return Err(Error::Script(format!(
            "dropout probability has to be between 0 and 1, but got {p}"
        )));
    } else if p == 0.0 || p == 1.0 {
        p == 0.0
    } else {
        return Err(Error::Script(format!(
            "native_dropout with train={} and p={p} is random (randomness is not reproducible \
             outside PyTorch); only inference (train=False) is supported",
            if train.is_some() { "True" } else { "None" }
        )));
    };
    let mask = Tensor::from_mask(CT::full(u8::from(keep), t.dims(), t.device())?)?;
    let y = if keep {
        t.clone()
    } else {
        let zero = Scalar::Int(0);
        mul(cx, Operand::Tensor(t), Operand::Scalar(zero))?.to_dtype(t.dtype())?
    };
    Ok(Value::tuple(vec![Value::Tensor(y), Value::Tensor(mask)]))
}

/// `softmax` (`log == false`) or `log_softmax` along `dim`: the maximum subtracted, the sum of
/// exponentials taken in float32 for float16 and bfloat16.
fn softmax(t: &Tensor, dim: i64, dtype: Option<ScalarType>, log: bool) -> Result<Tensor> {
    let t = match dtype {
        Some(d) => t.to_dtype(d)?,
        None => t.clone(),
    };
    let d = wrap_dim(dim, t.rank())?;
    if !t.dtype().is_float() {
        let last = t.rank() <= 1 || d + 1 == t.rank();
        let kernel = match (log, last) {
            (false, true) => "softmax_lastdim_kernel_impl",
            (false, false) => "softmax_kernel_impl",
            (true, true) => "log_softmax_lastdim_kernel_impl",
            (true, false) => "log_softmax_kernel_impl",
        };
        return Err(not_implemented(kernel, t.dtype()));
    }
    if t.rank() == 0 {
        let x = t.inner().to_dtype(compute_dtype(t.dtype()))?;
        let shifted = x.sub(&x)?;
        let r = if log { shifted } else { shifted.exp()? };
        return finish(r, t.dtype());
    }
    if t.elem_count() == 0 {
        return Ok(t.clone());
    }
    let x = t.inner().to_dtype(compute_dtype(t.dtype()))?;
    let shifted = x.broadcast_sub(&x.max_keepdim(d)?)?;
    let e = shifted.exp()?;
    let sum = e.sum_keepdim(d)?;
    let r = if log {
        shifted.broadcast_sub(&sum.log()?)?
    } else {
        e.broadcast_mul(&sum.recip()?)?
    };
    finish(r, t.dtype())
}

/// `_softmax` and `_log_softmax`: `half_to_float` is refused on the CPU, as PyTorch refuses it.
fn softmax_internal(t: &Tensor, dim: i64, half_to_float: bool, log: bool) -> Result<Tensor> {
    if half_to_float {
        return Err(Error::Script(
            "softmax with half to float conversion is not supported on CPU".into(),
        ));
    }
    softmax(t, dim, None, log)
}

/// An activation of one tensor and its arguments, registered out of place and in place.
struct Activation {
    schema: &'static str,
    f: OpFn,
    inplace: Option<OpFn>,
}

/// An out-of-place op function and its in-place form, from one expression of the context
/// `cx`, the tensor `t` and the arguments `a`.
macro_rules! both {
    (|$cx:ident, $t:ident, $a:ident| $e:expr) => {
        (
            |$cx: &Ctx, $a: &Args| {
                let _ = $cx;
                let $t = $a.tensor(0)?;
                out($e)
            },
            Some(
                (|$cx: &Ctx, $a: &Args| {
                    let _ = $cx;
                    let $t = $a.tensor(0)?;
                    in_place($t, $e?)
                }) as OpFn,
            ),
        )
    };
}

fn activations() -> Vec<Activation> {
    let list: Vec<(&'static str, (OpFn, Option<OpFn>))> = vec![
        ("relu(Tensor self)", both!(|cx, t, a| relu(cx, t))),
        (
            "relu6(Tensor self)",
            both!(|cx, t, a| hardtanh(cx, t, Scalar::Int(0), Scalar::Int(6))),
        ),
        (
            "leaky_relu(Tensor self, Scalar negative_slope=0.01)",
            both!(|cx, t, a| leaky_relu(t, a.scalar(1)?.f64())),
        ),
        (
            "elu(Tensor self, Scalar alpha=1, Scalar scale=1, Scalar input_scale=1)",
            both!(|cx, t, a| elu(
                t,
                a.scalar(1)?.f64(),
                a.scalar(2)?.f64(),
                a.scalar(3)?.f64()
            )),
        ),
        (
            "selu(Tensor self)",
            both!(|cx, t, a| elu(t, SELU_ALPHA, SELU_SCALE, 1.0)),
        ),
        (
            "celu(Tensor self, Scalar alpha=1.)",
            both!(|cx, t, a| celu(t, a.scalar(1)?.f64())),
        ),
        (
            "gelu(Tensor self, *, str approximate=\"none\")",
            both!(|cx, t, a| gelu(t, a.str(1)?)),
        ),
        ("silu(Tensor self)", both!(|cx, t, a| silu(t))),
        ("mish(Tensor self)", both!(|cx, t, a| mish(t))),
        (
            "hardtanh(Tensor self, Scalar min_val=-1, Scalar max_val=1)",
            both!(|cx, t, a| hardtanh(cx, t, a.scalar(1)?, a.scalar(2)?)),
        ),
        ("hardsigmoid(Tensor self)", both!(|cx, t, a| hardsigmoid(t))),
        ("hardswish(Tensor self)", both!(|cx, t, a| hardswish(t))),
        (
            "threshold(Tensor self, Scalar threshold, Scalar value)",
            both!(|cx, t, a| threshold(t, a.scalar(1)?, a.scalar(2)?)),
        ),
        (
            "dropout(Tensor input, float p, bool train)",
            both!(|cx, t, a| dropout(cx, t, a.float(1)?, a.bool(2)?)),
        ),
        (
            "feature_dropout(Tensor input, float p, bool train)",
            both!(|cx, t, a| dropout(cx, t, a.float(1)?, a.bool(2)?)),
        ),
        (
            "alpha_dropout(Tensor input, float p, bool train)",
            both!(|cx, t, a| dropout(cx, t, a.float(1)?, a.bool(2)?)),
        ),
        (
            "feature_alpha_dropout(Tensor input, float p, bool train)",
            both!(|cx, t, a| dropout(cx, t, a.float(1)?, a.bool(2)?)),
        ),
    ];
    let mut acts: Vec<Activation> = list
        .into_iter()
        .map(|(schema, (f, inplace))| Activation { schema, f, inplace })
        .collect();
    let plain: [(&'static str, OpFn); 4] = [
        (
            "softplus(Tensor self, Scalar beta=1, Scalar threshold=20)",
            |_, a| {
                out(softplus(
                    a.tensor(0)?,
                    a.scalar(1)?.f64(),
                    a.scalar(2)?.f64(),
                ))
            },
        ),
        ("log_sigmoid(Tensor self)", |_, a| {
            out(log_sigmoid(a.tensor(0)?))
        }),
        ("glu(Tensor self, int dim=-1)", |_, a| {
            out(glu(a.tensor(0)?, a.int(1)?))
        }),
        ("prelu(Tensor self, Tensor weight)", |_, a| {
            out(prelu(a.tensor(0)?, a.tensor(1)?))
        }),
    ];
    acts.extend(plain.into_iter().map(|(schema, f)| Activation {
        schema,
        f,
        inplace: None,
    }));
    acts
}

/// `aten::name(args) -> Tensor` and, for an in-place form, `aten::name_(Tensor(a!) self,
/// ...) -> Tensor(a!)`, from `name(Tensor self, ...)`.
fn schemas(decl: &str) -> (String, String) {
    let open = decl.find('(').unwrap_or(decl.len());
    let (name, rest) = decl.split_at(open);
    let rest = rest.replacen("Tensor self", "Tensor(a!) self", 1).replacen(
        "Tensor input",
        "Tensor(a!) self",
        1,
    );
    (
        format!("aten::{decl} -> Tensor"),
        format!("aten::{name}_{rest} -> Tensor(a!)"),
    )
}

/// Registers the activations, softmaxes and dropouts.
pub(super) fn register(b: &mut Builder) {
    for act in activations() {
        let (plain, inplace) = schemas(act.schema);
        b.add(&plain, act.f);
        if let Some(f) = act.inplace {
            b.add(&inplace, f);
        }
    }
    b.add(
        "aten::softmax.int(Tensor self, int dim, ScalarType? dtype=None) -> Tensor",
        |_, a| out(softmax(a.tensor(0)?, a.int(1)?, a.opt_dtype(2)?, false)),
    );
    b.add(
        "aten::log_softmax.int(Tensor self, int dim, ScalarType? dtype=None) -> Tensor",
        |_, a| out(softmax(a.tensor(0)?, a.int(1)?, a.opt_dtype(2)?, true)),
    );
    b.add(
        "aten::_softmax(Tensor self, int dim, bool half_to_float) -> Tensor",
        |_, a| out(softmax_internal(a.tensor(0)?, a.int(1)?, a.bool(2)?, false)),
    );
    b.add(
        "aten::_log_softmax(Tensor self, int dim, bool half_to_float) -> Tensor",
        |_, a| out(softmax_internal(a.tensor(0)?, a.int(1)?, a.bool(2)?, true)),
    );
    b.add(
        "aten::native_dropout(Tensor input, float p, bool? train) -> (Tensor, Tensor)",
        |cx, a| native_dropout(cx, a.tensor(0)?, a.float(1)?, a.opt_bool(2)?),
    );
}

#[cfg(test)]
mod tests {
    //! Expected values are torch 2.15's for the same calls.
    use super::super::testing::{bools, call, call_kw, check, error, f32s, i64s, tensor};
    use crate::ops::ScalarType::*;
    use crate::ops::Value;

    const NAN: f64 = f64::NAN;
    const INF: f64 = f64::INFINITY;

    #[test]
    fn relu_family_keeps_nan_and_integers() {
        let x = f32s(&[6], &[-2.0, -0.5, 0.0, 0.5, 2.0, NAN]);
        check(
            &call("aten::relu", std::slice::from_ref(&x)).unwrap(),
            Float32,
            &[6],
            &[0.0, 0.0, 0.0, 0.5, 2.0, NAN],
        );
        check(
            &call("aten::relu", &[i64s(&[3], &[-2.0, 0.0, 3.0])]).unwrap(),
            Int64,
            &[3],
            &[0.0, 0.0, 3.0],
        );
        assert!(error("aten::relu", &[bools(&[1], &[true])])
            .contains("Boolean inputs not supported for relu"));
        let r = call("aten::relu6", &[f32s(&[4], &[-1.0, 3.0, 7.0, NAN])]).unwrap();
        check(&r, Float32, &[4], &[0.0, 3.0, 6.0, NAN]);
        let r = call(
            "aten::hardtanh",
            &[
                i64s(&[3], &[-2.0, 0.0, 3.0]),
                Value::Float(-1.5),
                Value::Float(1.5),
            ],
        )
        .unwrap();
        check(&r, Int64, &[3], &[-1.0, 0.0, 1.0]);
        let r = call(
            "aten::leaky_relu",
            &[f32s(&[4], &[-4.0, 0.0, 2.0, NAN]), Value::Float(0.2)],
        )
        .unwrap();
        check(&r, Float32, &[4], &[-0.800000011920929, 0.0, 2.0, NAN]);
        assert!(error("aten::leaky_relu", &[i64s(&[1], &[1.0])])
            .contains("\"leaky_relu_cpu\" not implemented for 'Long'"));
        let r = call(
            "aten::threshold",
            &[
                i64s(&[3], &[-2.0, 0.0, 3.0]),
                Value::Float(1.5),
                Value::Int(7),
            ],
        )
        .unwrap();
        check(&r, Int64, &[3], &[7.0, 7.0, 3.0]);
        let h = tensor(Float16, &[2], &[0.1, 0.2]);
        let r = call(
            "aten::threshold",
            &[h, Value::Float(0.1), Value::Float(5.0)],
        )
        .unwrap();
        check(&r, Float16, &[2], &[5.0, 0.199951171875]);
    }

    #[test]
    fn smooth_activations_follow_pytorch() {
        let x = f32s(&[5], &[-3.0, -0.5, 0.0, 0.5, 3.0]);
        let r = call("aten::gelu", std::slice::from_ref(&x)).unwrap();
        check(
            &r,
            Float32,
            &[5],
            &[
                -0.004050225019454956,
                -0.1542687714099884,
                0.0,
                0.3457312285900116,
                2.9959497451782227,
            ],
        );
        let r = call_kw(
            "aten::gelu",
            std::slice::from_ref(&x),
            &[("approximate", Value::str("tanh"))],
        )
        .unwrap();
        check(
            &r,
            Float32,
            &[5],
            &[
                -0.0036374330520629883,
                -0.1542859971523285,
                0.0,
                0.3457140028476715,
                2.9963626861572266,
            ],
        );
        let e = call_kw(
            "aten::gelu",
            std::slice::from_ref(&x),
            &[("approximate", Value::str("x"))],
        )
        .unwrap_err();
        assert!(e
            .to_string()
            .contains("approximate argument must be either none or tanh."));
        let r = call("aten::silu", &[x]).unwrap();
        check(
            &r,
            Float32,
            &[5],
            &[
                -0.14227761328220367,
                -0.1887703388929367,
                0.0,
                0.3112296760082245,
                2.857722520828247,
            ],
        );
        let x = f32s(&[5], &[-100.0, -1.0, 0.0, 1.0, 100.0]);
        let r = call("aten::log_sigmoid", &[x]).unwrap();
        check(
            &r,
            Float32,
            &[5],
            &[
                -100.0,
                -1.3132617473602295,
                -0.6931471824645996,
                -0.3132616877555847,
                -3.923635700109488e-44,
            ],
        );
        let r = call(
            "aten::softplus",
            &[
                f32s(&[3], &[1.0, 30.0, -30.0]),
                Value::Float(0.5),
                Value::Int(10),
            ],
        )
        .unwrap();
        check(
            &r,
            Float32,
            &[3],
            &[1.9481539726257324, 30.0, 6.118045234870806e-07],
        );
        let r = call("aten::mish", &[f32s(&[5], &[-1.0, 0.0, 1.0, 15.0, NAN])]).unwrap();
        check(
            &r,
            Float32,
            &[5],
            &[-0.3034014403820038, 0.0, 0.8650983572006226, 15.0, NAN],
        );
        let x = f32s(&[6], &[-4.0, -1.5, 0.0, 1.5, 4.0, NAN]);
        check(
            &call("aten::hardsigmoid", std::slice::from_ref(&x)).unwrap(),
            Float32,
            &[6],
            &[0.0, 0.25, 0.5, 0.75, 1.0, NAN],
        );
        check(
            &call("aten::hardswish", &[x]).unwrap(),
            Float32,
            &[6],
            &[-0.0, -0.375, 0.0, 1.125, 4.0, NAN],
        );
    }

    #[test]
    fn exponential_units_follow_pytorch() {
        let x = f32s(&[6], &[-2.0, -0.5, 0.0, 0.5, 2.0, NAN]);
        let r = call(
            "aten::elu",
            &[
                x.clone(),
                Value::Float(2.0),
                Value::Float(1.5),
                Value::Float(0.5),
            ],
        )
        .unwrap();
        check(
            &r,
            Float32,
            &[6],
            &[
                -1.8963615894317627,
                -0.6635976433753967,
                0.0,
                0.75,
                3.0,
                NAN,
            ],
        );
        let r = call("aten::selu", std::slice::from_ref(&x)).unwrap();
        check(
            &r,
            Float32,
            &[6],
            &[
                -1.5201665163040161,
                -0.6917581558227539,
                0.0,
                0.5253505110740662,
                2.1014020442962646,
                NAN,
            ],
        );
        let r = call("aten::celu", &[x.clone(), Value::Float(2.0)]).unwrap();
        check(
            &r,
            Float32,
            &[6],
            &[-1.264241099357605, -0.44239842891693115, 0.0, 0.5, 2.0, NAN],
        );
        assert!(error("aten::celu", &[x, Value::Float(0.0)]).contains("alpha cannot be 0 for CELU"));
    }

    #[test]
    fn glu_and_prelu_check_their_shapes() {
        let r = call(
            "aten::glu",
            &[f32s(&[1, 4], &[1.0, 2.0, -3.0, 4.0]), Value::Int(-1)],
        )
        .unwrap();
        check(
            &r,
            Float32,
            &[1, 2],
            &[0.04742587357759476, 1.9640275239944458],
        );
        let e = error("aten::glu", &[f32s(&[2, 3], &[1.0; 6])]);
        assert!(e.contains("Halving dimension must be even, but dimension 1 is size 3"));
        let x = f32s(&[2, 2], &[-1.0, 2.0, -3.0, -4.0]);
        let r = call("aten::prelu", &[x.clone(), f32s(&[2], &[0.1, 0.2])]).unwrap();
        check(
            &r,
            Float32,
            &[2, 2],
            &[
                -0.10000000149011612,
                2.0,
                -0.30000001192092896,
                -0.800000011920929,
            ],
        );
        let e = error(
            "aten::prelu",
            &[f32s(&[2, 3], &[1.0; 6]), f32s(&[2], &[0.1, 0.2])],
        );
        assert!(e.contains("Found parameter numbers = 2 and channel size = 3."));
        let e = error(
            "aten::prelu",
            &[tensor(Float64, &[2], &[1.0, 2.0]), f32s(&[1], &[0.1])],
        );
        assert!(e.contains("prelu: Type promoting not supported. Got Double and Float"));
    }

    #[test]
    fn softmax_subtracts_the_maximum() {
        let x = f32s(&[2, 3], &[1.0, 2.0, 3.0, 0.0, -1.0, 5.0]);
        let r = call("aten::softmax", &[x.clone(), Value::Int(1)]).unwrap();
        let want = [
            0.09003057330846786,
            0.2447284758090973,
            0.6652409434318542,
            0.006676412653177977,
            0.0024561150930821896,
            0.9908674955368042,
        ];
        check(&r, Float32, &[2, 3], &want);
        let r = call("aten::log_softmax", &[x, Value::Int(0)]).unwrap();
        let want = [
            -0.31326165795326233,
            -0.04858732968568802,
            -2.1269280910491943,
            -1.31326162815094,
            -3.0485873222351074,
            -0.12692804634571075,
        ];
        check(&r, Float32, &[2, 3], &want);
        let rows = f32s(&[3, 2], &[-INF, -INF, INF, 1.0, -INF, 0.0]);
        check(
            &call("aten::softmax", &[rows.clone(), Value::Int(1)]).unwrap(),
            Float32,
            &[3, 2],
            &[NAN, NAN, NAN, NAN, 0.0, 1.0],
        );
        check(
            &call("aten::log_softmax", &[rows, Value::Int(1)]).unwrap(),
            Float32,
            &[3, 2],
            &[NAN, NAN, NAN, NAN, -INF, 0.0],
        );
        let ints = i64s(&[3], &[-2.0, 0.0, 3.0]);
        assert!(error("aten::softmax", &[ints.clone(), Value::Int(0)])
            .contains("\"softmax_lastdim_kernel_impl\" not implemented for 'Long'"));
        let r = call("aten::softmax", &[ints, Value::Int(0), Value::Int(7)]).unwrap();
        check(
            &r,
            Float64,
            &[3],
            &[
                0.006377460922442297,
                0.04712341652466415,
                0.9464991225528936,
            ],
        );
        let e = error(
            "aten::_softmax",
            &[f32s(&[2], &[1.0, 2.0]), Value::Int(0), Value::Bool(true)],
        );
        assert!(e.contains("softmax with half to float conversion is not supported on CPU"));
        check(
            &call("aten::softmax", &[f32s(&[], &[2.0]), Value::Int(0)]).unwrap(),
            Float32,
            &[],
            &[1.0],
        );
    }

    #[test]
    fn dropout_is_the_identity_at_inference() {
        let x = f32s(&[2], &[1.0, NAN]);
        check(
            &call(
                "aten::dropout",
                &[x.clone(), Value::Float(0.5), Value::Bool(false)],
            )
            .unwrap(),
            Float32,
            &[2],
            &[1.0, NAN],
        );
        check(
            &call(
                "aten::feature_dropout_",
                &[x.clone(), Value::Float(0.0), Value::Bool(true)],
            )
            .unwrap(),
            Float32,
            &[2],
            &[1.0, NAN],
        );
        check(
            &call(
                "aten::alpha_dropout",
                &[x.clone(), Value::Float(1.0), Value::Bool(true)],
            )
            .unwrap(),
            Float32,
            &[2],
            &[0.0, NAN],
        );
        assert!(error(
            "aten::dropout",
            &[x.clone(), Value::Float(0.5), Value::Bool(true)]
        )
        .contains("train=True"));
        let e = error("aten::dropout", &[x, Value::Float(1.5), Value::Bool(false)]);
        assert!(e.contains("dropout probability has to be between 0 and 1, but got 1.5"));
    }

    #[test]
    fn native_dropout_returns_the_input_and_its_mask_at_inference() {
        // torch.ops.aten.native_dropout (torch 2.15.0).
        let x = f32s(&[3], &[1.0, 2.0, NAN]);
        let run = |p: f64, train: Value| {
            let r = call("aten::native_dropout", &[x.clone(), Value::Float(p), train]).unwrap();
            let items = r.items().unwrap();
            (items[0].clone(), items[1].clone())
        };
        for (p, train) in [(0.5, Value::Bool(false)), (1.0, Value::Bool(false))] {
            let (y, mask) = run(p, train);
            check(&y, Float32, &[3], &[1.0, 2.0, NAN]);
            check(&mask, Bool, &[3], &[1.0, 1.0, 1.0]);
        }
        // Training with p = 0 keeps everything; p = 1 drops everything (NaN * 0 stays NaN).
        let (y, mask) = run(0.0, Value::None);
        check(&y, Float32, &[3], &[1.0, 2.0, NAN]);
        check(&mask, Bool, &[3], &[1.0, 1.0, 1.0]);
        let (y, mask) = run(1.0, Value::Bool(true));
        check(&y, Float32, &[3], &[0.0, 0.0, NAN]);
        check(&mask, Bool, &[3], &[0.0, 0.0, 0.0]);
        let ints = i64s(&[2], &[1.0, 2.0]);
        let r = call(
            "aten::native_dropout",
            &[ints, Value::Float(0.5), Value::Bool(false)],
        );
        let items = r.unwrap().items().unwrap();
        check(&items[0], Int64, &[2], &[1.0, 2.0]);
        check(&items[1], Bool, &[2], &[1.0, 1.0]);
        let empty = f32s(&[0], &[]);
        let r = call(
            "aten::native_dropout",
            &[empty, Value::Float(0.5), Value::None],
        );
        let items = r.unwrap().items().unwrap();
        check(&items[0], Float32, &[0], &[]);
        check(&items[1], Float32, &[0], &[]);
        // Random dropout is refused, whether train is True or None (PyTorch's default).
        for train in [Value::Bool(true), Value::None] {
            let e = error(
                "aten::native_dropout",
                &[x.clone(), Value::Float(0.5), train],
            );
            assert!(e.contains("is random"), "{e}");
            assert!(
                e.contains("only inference (train=False) is supported"),
                "{e}"
            );
        }
        let e = error(
            "aten::native_dropout",
            &[x, Value::Float(1.5), Value::Bool(true)],
        );
        assert!(e.contains("dropout probability has to be between 0 and 1, but got 1.5"));
    }
}
