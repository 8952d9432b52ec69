//! `maximum`, `minimum` (NaN propagating) and `clamp` (with numbers or tensors, and its
//! aliases and one-sided forms).

use super::arith::{out, scalar_int, ten, Binary};
use super::fast::{self, Clamp};
use super::kernel::{in_place, CT};
use super::promote::{broadcast_all, c10_name, fmt_g, result_type, Operand};
use crate::error::{Error, Result};
use crate::ops::{Builder, Ctx, OpFn, Scalar, ScalarType, Tensor};

/// NaN where either operand is NaN, else `m` (candle's `maximum` and `minimum` drop NaN).
fn nan_propagating(x: &CT, y: &CT, m: CT) -> candle_core::Result<CT> {
    let m = y.ne(y)?.where_cond(y, &m)?;
    x.ne(x)?.where_cond(x, &m)
}

/// `torch.maximum` (and `max.other`): NaN propagates.
pub(in crate::ops) fn maximum(cx: &Ctx, a: Operand, b: Operand) -> Result<Tensor> {
    let p = Binary::new(cx, "aten::maximum", a, b)?;
    if p.rt.is_float() {
        p.candle(|x, y| nan_propagating(x, y, x.maximum(y)?))
    } else {
        p.ints(|x, y| Ok(x.max(y)))
    }
}

/// `torch.minimum` (and `min.other`): NaN propagates.
pub(in crate::ops) fn minimum(cx: &Ctx, a: Operand, b: Operand) -> Result<Tensor> {
    let p = Binary::new(cx, "aten::minimum", a, b)?;
    if p.rt.is_float() {
        p.candle(|x, y| nan_propagating(x, y, x.minimum(y)?))
    } else {
        p.ints(|x, y| Ok(x.min(y)))
    }
}

/// `clamp(t, min, max)` with numbers: `min(max(t, min), max)` in the result type of `t` and
/// the bounds (an integer tensor with a float bound is float32), NaN propagating. For an
/// integer result, a bound beyond the type's range is refused where it would leave nothing
/// (a minimum above the largest value, a maximum below the smallest) and saturates otherwise.
fn clamp(cx: &Ctx, t: &Tensor, min: Option<Scalar>, max: Option<Scalar>) -> Result<Tensor> {
    if min.is_none() && max.is_none() {
        return Err(Error::Script(
            "torch.clamp: At least one of 'min' or 'max' must not be None".into(),
        ));
    }
    let mut operands = vec![Operand::Tensor(t)];
    operands.extend(min.map(Operand::Scalar));
    operands.extend(max.map(Operand::Scalar));
    let rt = result_type(&operands);
    let bound = |s: Option<Scalar>, which: &str| -> Result<Option<Scalar>> {
        let Some(s) = s else { return Ok(None) };
        let Some((lo, hi)) = int_range(rt) else {
            return Ok(Some(s));
        };
        let v = s.f64();
        if (which == "min" && v > hi as f64) || (which == "max" && v < lo as f64) {
            return Err(Error::Script(format!(
                "Clamp {which} value {} is outside the representable range of {}",
                fmt_g(v),
                c10_name(rt)
            )));
        }
        Ok(Some(Scalar::Int(scalar_int(s).clamp(lo, hi))))
    };
    let (min, max) = (bound(min, "min")?, bound(max, "max")?);
    if rt == t.dtype() && rt.is_float() {
        let clamp = Clamp {
            lo: min.map(Scalar::f64),
            hi: max.map(Scalar::f64),
        };
        if let Some(r) = fast::map(t, &clamp) {
            return r;
        }
    }
    let mut out = t.to_dtype(rt)?;
    if let Some(m) = min {
        out = maximum(cx, Operand::Tensor(&out), Operand::Scalar(m))?;
    }
    if let Some(m) = max {
        out = minimum(cx, Operand::Tensor(&out), Operand::Scalar(m))?;
    }
    out.to_dtype(rt)
}

/// The smallest and largest value of integer type `dtype` (`None` for float and bool).
fn int_range(dtype: ScalarType) -> Option<(i64, i64)> {
    Some(match dtype {
        ScalarType::UInt8 => (0, 255),
        ScalarType::Int16 => (i16::MIN.into(), i16::MAX.into()),
        ScalarType::Int32 => (i32::MIN.into(), i32::MAX.into()),
        ScalarType::Int64 => (i64::MIN, i64::MAX),
        _ => return None,
    })
}

/// `clamp(t, min, max)` with tensor bounds, broadcast together.
fn clamp_tensor(
    cx: &Ctx,
    t: &Tensor,
    min: Option<&Tensor>,
    max: Option<&Tensor>,
) -> Result<Tensor> {
    if min.is_none() && max.is_none() {
        return Err(Error::Script(
            "torch.clamp: At least one of 'min' or 'max' must not be None".into(),
        ));
    }
    let mut operands = vec![Operand::Tensor(t)];
    operands.extend(min.map(Operand::Tensor));
    operands.extend(max.map(Operand::Tensor));
    let rt = result_type(&operands);
    cx.check("aten::clamp", &broadcast_all(&operands)?)?;
    let mut out = t.to_dtype(rt)?;
    if let Some(m) = min {
        out = maximum(cx, Operand::Tensor(&out), Operand::Tensor(m))?;
    }
    if let Some(m) = max {
        out = minimum(cx, Operand::Tensor(&out), Operand::Tensor(m))?;
    }
    out.to_dtype(rt)
}

/// Registers `maximum`, `minimum`, `clamp`, `clip`, `clamp_min`, `clamp_max`.
pub(super) fn register(b: &mut Builder) {
    b.add(
        "aten::maximum(Tensor self, Tensor other) -> Tensor",
        |cx, a| out(maximum(cx, ten(a, 0)?, ten(a, 1)?)),
    );
    b.add(
        "aten::minimum(Tensor self, Tensor other) -> Tensor",
        |cx, a| out(minimum(cx, ten(a, 0)?, ten(a, 1)?)),
    );
    for name in ["clamp", "clip"] {
        register_clamp(b, name);
    }
    b.add(
        "aten::clamp_min.Tensor(Tensor self, Tensor min) -> Tensor",
        |cx, a| out(clamp_tensor(cx, a.tensor(0)?, Some(a.tensor(1)?), None)),
    );
    b.add(
        "aten::clamp_min(Tensor self, Scalar min) -> Tensor",
        |cx, a| out(clamp(cx, a.tensor(0)?, Some(a.scalar(1)?), None)),
    );
    b.add(
        "aten::clamp_max.Tensor(Tensor self, Tensor max) -> Tensor",
        |cx, a| out(clamp_tensor(cx, a.tensor(0)?, None, Some(a.tensor(1)?))),
    );
    b.add(
        "aten::clamp_max(Tensor self, Scalar max) -> Tensor",
        |cx, a| out(clamp(cx, a.tensor(0)?, None, Some(a.scalar(1)?))),
    );
    b.add(
        "aten::clamp_min_.Tensor(Tensor(a!) self, Tensor min) -> Tensor(a!)",
        |cx, a| {
            in_place(
                a.tensor(0)?,
                clamp_tensor(cx, a.tensor(0)?, Some(a.tensor(1)?), None)?,
            )
        },
    );
    b.add(
        "aten::clamp_min_(Tensor(a!) self, Scalar min) -> Tensor(a!)",
        |cx, a| {
            in_place(
                a.tensor(0)?,
                clamp(cx, a.tensor(0)?, Some(a.scalar(1)?), None)?,
            )
        },
    );
    b.add(
        "aten::clamp_max_.Tensor(Tensor(a!) self, Tensor max) -> Tensor(a!)",
        |cx, a| {
            in_place(
                a.tensor(0)?,
                clamp_tensor(cx, a.tensor(0)?, None, Some(a.tensor(1)?))?,
            )
        },
    );
    b.add(
        "aten::clamp_max_(Tensor(a!) self, Scalar max) -> Tensor(a!)",
        |cx, a| {
            in_place(
                a.tensor(0)?,
                clamp(cx, a.tensor(0)?, None, Some(a.scalar(1)?))?,
            )
        },
    );
}

/// `clamp` and its alias `clip`, out of place and in place, tensor bounds first (a call with
/// a number fails there and binds the overload with numbers).
fn register_clamp(b: &mut Builder, name: &str) {
    let schemas = [
        format!("aten::{name}.Tensor(Tensor self, Tensor? min=None, Tensor? max=None) -> Tensor"),
        format!("aten::{name}(Tensor self, Scalar? min=None, Scalar? max=None) -> Tensor"),
        format!("aten::{name}_.Tensor(Tensor(a!) self, Tensor? min=None, Tensor? max=None) -> Tensor(a!)"),
        format!("aten::{name}_(Tensor(a!) self, Scalar? min=None, Scalar? max=None) -> Tensor(a!)"),
    ];
    let fns: [OpFn; 4] = [
        |cx, a| {
            out(clamp_tensor(
                cx,
                a.tensor(0)?,
                a.opt_tensor(1)?,
                a.opt_tensor(2)?,
            ))
        },
        |cx, a| out(clamp(cx, a.tensor(0)?, a.opt_scalar(1)?, a.opt_scalar(2)?)),
        |cx, a| {
            let t = a.tensor(0)?;
            in_place(t, clamp_tensor(cx, t, a.opt_tensor(1)?, a.opt_tensor(2)?)?)
        },
        |cx, a| {
            let t = a.tensor(0)?;
            in_place(t, clamp(cx, t, a.opt_scalar(1)?, a.opt_scalar(2)?)?)
        },
    ];
    for (schema, f) in schemas.iter().zip(fns) {
        b.add(schema, f);
    }
}

#[cfg(test)]
mod tests {
    //! Expected values are torch 2.15's for the same calls.
    use super::super::testing::{call, check, error, f32s, i64s, tensor};
    use crate::ops::ScalarType::*;
    use crate::ops::Value;

    const NAN: f64 = f64::NAN;

    #[test]
    fn maximum_minimum_and_clamp_propagate_nan() {
        let a = f32s(&[2], &[NAN, 1.0]);
        let b = f32s(&[2], &[0.0, NAN]);
        check(
            &call("aten::maximum", &[a.clone(), b.clone()]).unwrap(),
            Float32,
            &[2],
            &[NAN, NAN],
        );
        check(
            &call("aten::minimum", &[a, b]).unwrap(),
            Float32,
            &[2],
            &[NAN, NAN],
        );
        let x = i64s(&[3], &[1.0, 2.0, 3.0]);
        let r = call(
            "aten::clamp",
            &[x.clone(), Value::Float(1.5), Value::Float(2.5)],
        )
        .unwrap();
        check(&r, Float32, &[3], &[1.5, 2.0, 2.5]);
        check(
            &call("aten::clamp", &[x.clone(), Value::Int(3), Value::Int(1)]).unwrap(),
            Int64,
            &[3],
            &[1.0, 1.0, 1.0],
        );
        let r = call(
            "aten::clamp",
            &[
                f32s(&[2], &[NAN, 1.0]),
                Value::Float(0.0),
                Value::Float(0.5),
            ],
        )
        .unwrap();
        check(&r, Float32, &[2], &[NAN, 0.5]);
        assert!(error("aten::clamp", &[x.clone(), Value::None, Value::None])
            .contains("At least one of 'min' or 'max'"));
        let u8s = tensor(UInt8, &[2], &[1.0, 2.0]);
        assert!(
            error("aten::clamp", &[u8s.clone(), Value::None, Value::Int(-1)])
                .contains("Clamp max value -1 is outside the representable range of Byte")
        );
        check(
            &call("aten::clamp", &[u8s, Value::Int(-1), Value::Int(5)]).unwrap(),
            UInt8,
            &[2],
            &[1.0, 2.0],
        );
        let r = call("aten::clamp", &[x, Value::None, f32s(&[1], &[6.5])]).unwrap();
        check(&r, Float32, &[3], &[1.0, 2.0, 3.0]);
        let r = call(
            "aten::clamp",
            &[f32s(&[2], &[1.0, 5.0]), f32s(&[2, 1], &[2.0, 3.0])],
        )
        .unwrap();
        check(&r, Float32, &[2, 2], &[2.0, 5.0, 3.0, 5.0]);
    }
}
