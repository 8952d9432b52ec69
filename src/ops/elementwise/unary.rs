//! Operators of one tensor: `neg`, `abs`, `sign`, the floating functions (`exp`, `log`,
//! `sqrt`, `sigmoid`, the inverse trigonometric and hyperbolic functions, `log10`, ...:
//! integer and bool inputs give float32, as in PyTorch), rounding
//! (`floor`, `ceil`, `round` with ties to even and with `decimals`, `trunc`: integers are
//! returned as they are), `isnan`, `isinf`, `isfinite`, `nan_to_num` and `bitwise_not`.

use super::arith::{not_implemented, out};
use super::fast::{self, Floating};
use super::kernel::{float_type, float_unary, in_place, int_map1, real_map1, Real, RealFn1, CT};
use crate::error::{Error, Result};
use crate::ops::{Args, Builder, Ctx, ScalarType, Tensor};

/// `-t`; bool is refused as PyTorch refuses it.
pub(in crate::ops) fn neg(t: &Tensor) -> Result<Tensor> {
    match t.dtype() {
        ScalarType::Bool => Err(Error::Script(
            "Negation, the `-` operator, on a bool tensor is not supported. If you are trying \
             to invert a mask, use the `~` or `logical_not()` operator instead."
                .into(),
        )),
        d if d.is_float() => Tensor::with_type(t.inner().neg()?, d),
        d => int_map1(t, d, |x| Ok(x.wrapping_neg())),
    }
}

fn abs(t: &Tensor) -> Result<Tensor> {
    match t.dtype() {
        ScalarType::Bool => Err(not_implemented("abs_cpu", ScalarType::Bool)),
        d if d.is_float() => Tensor::with_type(t.inner().abs()?, d),
        d => int_map1(t, d, |x| Ok(x.wrapping_abs())),
    }
}

fn sign(t: &Tensor) -> Result<Tensor> {
    match t.dtype() {
        d if d.is_float() => Tensor::with_type(t.inner().sign()?, d),
        ScalarType::Bool => Ok(t.clone()),
        d => int_map1(t, d, |x| Ok(x.signum())),
    }
}

/// `1 / (1 + exp(-x))`, as PyTorch's CPU kernel computes it.
pub(in crate::ops) fn sigmoid_of(x: &CT) -> candle_core::Result<CT> {
    x.neg()?.exp()?.affine(1.0, 1.0)?.recip()
}

/// The floating functions candle computes, by name.
fn candle_fn(name: &str) -> Option<fn(&CT) -> candle_core::Result<CT>> {
    Some(match name {
        "exp" => CT::exp,
        "log" => CT::log,
        "sqrt" => CT::sqrt,
        "rsqrt" => |x| x.sqrt()?.recip(),
        "reciprocal" => CT::recip,
        "sin" => CT::sin,
        "cos" => CT::cos,
        "tanh" => CT::tanh,
        "sigmoid" => sigmoid_of,
        "erf" => CT::erf,
        _ => return None,
    })
}

/// The floating functions candle lacks, computed on the CPU with Rust's (correctly rounded or
/// nearly) implementations.
#[derive(Clone, Copy)]
enum CpuFn {
    Log1p,
    Expm1,
    Log2,
    Tan,
    Acos,
    Acosh,
    Asin,
    Asinh,
    Atan,
    Atanh,
    Cosh,
    Sinh,
    Log10,
}

impl RealFn1 for CpuFn {
    fn call<T: Real>(&self, x: T) -> T {
        match self {
            CpuFn::Log1p => x.ln_1p(),
            CpuFn::Expm1 => x.exp_m1(),
            CpuFn::Log2 => x.log2(),
            CpuFn::Tan => x.tan(),
            CpuFn::Acos => x.acos(),
            CpuFn::Acosh => x.acosh(),
            CpuFn::Asin => x.asin(),
            CpuFn::Asinh => x.asinh(),
            CpuFn::Atan => x.atan(),
            CpuFn::Atanh => x.atanh(),
            CpuFn::Cosh => x.cosh(),
            CpuFn::Sinh => x.sinh(),
            CpuFn::Log10 => x.log10(),
        }
    }
}

fn cpu_fn(name: &str) -> Option<CpuFn> {
    Some(match name {
        "log1p" => CpuFn::Log1p,
        "expm1" => CpuFn::Expm1,
        "log2" => CpuFn::Log2,
        "tan" => CpuFn::Tan,
        "acos" => CpuFn::Acos,
        "acosh" => CpuFn::Acosh,
        "asin" => CpuFn::Asin,
        "asinh" => CpuFn::Asinh,
        "atan" => CpuFn::Atan,
        "atanh" => CpuFn::Atanh,
        "cosh" => CpuFn::Cosh,
        "sinh" => CpuFn::Sinh,
        "log10" => CpuFn::Log10,
        _ => return None,
    })
}

/// The floating function `name` of `t`.
fn floating(name: &str, t: &Tensor) -> Result<Tensor> {
    if let Some(r) = Floating::named(name).and_then(|f| fast::map(t, &f)) {
        return r;
    }
    if let Some(f) = candle_fn(name) {
        return float_unary(t, f);
    }
    match cpu_fn(name) {
        Some(f) => real_map1(t, float_type(t.dtype()), &f),
        None => Err(Error::Script(format!("no floating function {name}"))),
    }
}

/// `nearbyint`: ties to even.
struct RoundEven;
impl RealFn1 for RoundEven {
    fn call<T: Real>(&self, x: T) -> T {
        x.round_even()
    }
}

/// `round(x, decimals)` as PyTorch computes it: scaled by `10^|decimals|`, rounded to even,
/// scaled back.
struct RoundDecimals {
    scale: f64,
    negative: bool,
}
impl RealFn1 for RoundDecimals {
    fn call<T: Real>(&self, x: T) -> T {
        let s = T::from_f64(self.scale);
        if self.negative {
            (x / s).round_even() * s
        } else {
            (x * s).round_even() / s
        }
    }
}

/// `floor`, `ceil`, `round` and `trunc`: integers as they are, bool refused.
fn rounding(name: &str, t: &Tensor) -> Result<Tensor> {
    let d = t.dtype();
    if d == ScalarType::Bool {
        return Err(not_implemented(&format!("{name}_vml_cpu"), d));
    }
    if !d.is_float() {
        return Ok(t.clone());
    }
    let x = t.inner();
    match name {
        "floor" => Tensor::with_type(x.floor()?, d),
        "ceil" => Tensor::with_type(x.ceil()?, d),
        "trunc" => Tensor::with_type(x.lt(0.0)?.where_cond(&x.ceil()?, &x.floor()?)?, d),
        _ => real_map1(t, d, &RoundEven),
    }
}

fn round_decimals(t: &Tensor, decimals: i64) -> Result<Tensor> {
    let d = t.dtype();
    if !d.is_float() {
        return Err(not_implemented("round_cpu", d));
    }
    let exponent = i32::try_from(decimals.unsigned_abs()).unwrap_or(i32::MAX);
    let f = RoundDecimals {
        scale: 10f64.powi(exponent),
        negative: decimals < 0,
    };
    real_map1(t, d, &f)
}

fn mask(t: CT) -> Result<Tensor> {
    Tensor::from_mask(t)
}

fn constant_mask(t: &Tensor, value: bool) -> Result<Tensor> {
    let m = CT::full(u8::from(value), t.dims(), t.device())?;
    mask(m)
}

fn isnan(t: &Tensor) -> Result<Tensor> {
    if !t.dtype().is_float() {
        return constant_mask(t, false);
    }
    mask(t.inner().ne(t.inner())?)
}

fn isinf(t: &Tensor) -> Result<Tensor> {
    if !t.dtype().is_float() {
        return constant_mask(t, false);
    }
    mask(t.inner().abs()?.eq(f64::INFINITY)?)
}

fn isfinite(t: &Tensor) -> Result<Tensor> {
    if !t.dtype().is_float() {
        return constant_mask(t, true);
    }
    // x - x is 0 for every finite x, NaN for infinities and NaN.
    mask(t.inner().sub(t.inner())?.eq(0.0)?)
}

/// The largest finite value of float type `dtype`.
fn max_finite(dtype: ScalarType) -> f64 {
    match dtype {
        ScalarType::Float16 => half::f16::MAX.to_f64(),
        ScalarType::BFloat16 => half::bf16::MAX.to_f64(),
        ScalarType::Float32 => f64::from(f32::MAX),
        _ => f64::MAX,
    }
}

/// A value as a 0-dim tensor of float type `dtype` (through f32 for the narrower types, so
/// that out-of-range values become infinities as PyTorch's conversion makes them).
fn float_constant(value: f64, dtype: ScalarType, like: &CT) -> Result<CT> {
    let c = match dtype {
        ScalarType::Float64 => CT::new(value, like.device())?,
        _ => CT::new(value as f32, like.device())?.to_dtype(dtype.candle())?,
    };
    Ok(c.broadcast_as(like.dims())?)
}

fn nan_to_num(
    t: &Tensor,
    nan: Option<f64>,
    posinf: Option<f64>,
    neginf: Option<f64>,
) -> Result<Tensor> {
    let d = t.dtype();
    if !d.is_float() {
        return Ok(t.clone());
    }
    let big = max_finite(d);
    let x = t.inner();
    let nan_v = float_constant(nan.unwrap_or(0.0), d, x)?;
    let pos_v = float_constant(posinf.unwrap_or(big), d, x)?;
    let neg_v = float_constant(neginf.unwrap_or(-big), d, x)?;
    let y = x.ne(x)?.where_cond(&nan_v, x)?;
    let y = x.eq(f64::INFINITY)?.where_cond(&pos_v, &y)?;
    let y = x.eq(f64::NEG_INFINITY)?.where_cond(&neg_v, &y)?;
    Tensor::with_type(y, d)
}

/// `~t`: logical not for bool, bitwise for integers.
fn bitwise_not(t: &Tensor) -> Result<Tensor> {
    match t.dtype() {
        ScalarType::Bool => mask(t.inner().eq(0u8)?),
        d if d.is_float() => Err(not_implemented("bitwise_not_cpu", d)),
        d => int_map1(t, d, |x| Ok(!x)),
    }
}

/// Registers each floating function (`aten::exp`) with its in-place form (`aten::exp_`).
macro_rules! register_floating {
    ($b:expr, $($name:literal),* $(,)?) => {
        $(
            $b.add(
                concat!("aten::", $name, "(Tensor self) -> Tensor"),
                |_: &Ctx, a: &Args| out(floating($name, a.tensor(0)?)),
            );
            $b.add(
                concat!("aten::", $name, "_(Tensor(a!) self) -> Tensor(a!)"),
                |_: &Ctx, a: &Args| {
                    let t = a.tensor(0)?;
                    in_place(t, floating($name, t)?)
                },
            );
        )*
    };
}

/// Registers the operators of one tensor.
pub(super) fn register(b: &mut Builder) {
    b.add("aten::neg(Tensor self) -> Tensor", |_, a| {
        out(neg(a.tensor(0)?))
    });
    b.add("aten::neg_(Tensor(a!) self) -> Tensor(a!)", |_, a| {
        let t = a.tensor(0)?;
        in_place(t, neg(t)?)
    });
    b.add("aten::abs(Tensor self) -> Tensor", |_, a| {
        out(abs(a.tensor(0)?))
    });
    b.add("aten::abs_(Tensor(a!) self) -> Tensor(a!)", |_, a| {
        let t = a.tensor(0)?;
        in_place(t, abs(t)?)
    });
    b.add("aten::sign(Tensor self) -> Tensor", |_, a| {
        out(sign(a.tensor(0)?))
    });
    b.add("aten::sign_(Tensor(a!) self) -> Tensor(a!)", |_, a| {
        let t = a.tensor(0)?;
        in_place(t, sign(t)?)
    });
    register_floating!(
        b,
        "exp",
        "log",
        "log1p",
        "log2",
        "expm1",
        "sqrt",
        "rsqrt",
        "reciprocal",
        "sin",
        "cos",
        "tan",
        "tanh",
        "sigmoid",
        "erf",
        "acos",
        "acosh",
        "asin",
        "asinh",
        "atan",
        "atanh",
        "cosh",
        "sinh",
        "log10",
    );
    register_rounding(b);
    b.add("aten::isnan(Tensor self) -> Tensor", |_, a| {
        out(isnan(a.tensor(0)?))
    });
    b.add("aten::isinf(Tensor self) -> Tensor", |_, a| {
        out(isinf(a.tensor(0)?))
    });
    b.add("aten::isfinite(Tensor self) -> Tensor", |_, a| {
        out(isfinite(a.tensor(0)?))
    });
    b.add(
        "aten::nan_to_num(Tensor self, float? nan=None, float? posinf=None, float? neginf=None) -> Tensor",
        |_, a| out(nan_to_num(a.tensor(0)?, a.opt_float(1)?, a.opt_float(2)?, a.opt_float(3)?)),
    );
    b.add(
        "aten::nan_to_num_(Tensor(a!) self, float? nan=None, float? posinf=None, float? neginf=None) -> Tensor(a!)",
        |_, a| {
            let t = a.tensor(0)?;
            in_place(t, nan_to_num(t, a.opt_float(1)?, a.opt_float(2)?, a.opt_float(3)?)?)
        },
    );
    b.add("aten::bitwise_not(Tensor self) -> Tensor", |_, a| {
        out(bitwise_not(a.tensor(0)?))
    });
    b.add(
        "aten::bitwise_not_(Tensor(a!) self) -> Tensor(a!)",
        |_, a| {
            let t = a.tensor(0)?;
            in_place(t, bitwise_not(t)?)
        },
    );
}

fn register_rounding(b: &mut Builder) {
    macro_rules! rounding_ops {
        ($($n:literal),*) => {$(
            b.add(concat!("aten::", $n, "(Tensor self) -> Tensor"), |_, a| {
                out(rounding($n, a.tensor(0)?))
            });
            b.add(concat!("aten::", $n, "_(Tensor(a!) self) -> Tensor(a!)"), |_, a| {
                let t = a.tensor(0)?;
                in_place(t, rounding($n, t)?)
            });
        )*};
    }
    rounding_ops!("floor", "ceil", "trunc", "round");
    b.add(
        "aten::round.decimals(Tensor self, *, int decimals) -> Tensor",
        |_, a| out(round_decimals(a.tensor(0)?, a.int(1)?)),
    );
    b.add(
        "aten::round_.decimals(Tensor(a!) self, *, int decimals) -> Tensor(a!)",
        |_, a| {
            let t = a.tensor(0)?;
            in_place(t, round_decimals(t, a.int(1)?)?)
        },
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
    fn signs_follow_pytorch() {
        let b = bools(&[2], &[true, false]);
        assert!(error("aten::neg", std::slice::from_ref(&b))
            .contains("Negation, the `-` operator, on a bool tensor"));
        assert!(error("aten::abs", std::slice::from_ref(&b))
            .contains("\"abs_cpu\" not implemented for 'Bool'"));
        check(&call("aten::sign", &[b]).unwrap(), Bool, &[2], &[1.0, 0.0]);
        let s = tensor(Int16, &[2], &[-32768.0, -3.0]);
        check(
            &call("aten::abs", &[s]).unwrap(),
            Int16,
            &[2],
            &[-32768.0, 3.0],
        );
        check(
            &call("aten::neg", &[tensor(UInt8, &[2], &[1.0, 0.0])]).unwrap(),
            UInt8,
            &[2],
            &[255.0, 0.0],
        );
        check(
            &call("aten::sign", &[f32s(&[3], &[NAN, -0.0, 2.0])]).unwrap(),
            Float32,
            &[3],
            &[0.0, 0.0, 1.0],
        );
    }

    #[test]
    fn floating_functions_make_integers_float32() {
        let x = i64s(&[3], &[1.0, 2.0, 3.0]);
        check(
            &call("aten::exp", std::slice::from_ref(&x)).unwrap(),
            Float32,
            &[3],
            &[2.7182817459106445, 7.389056205749512, 20.08553695678711],
        );
        check(
            &call("aten::sigmoid", &[x]).unwrap(),
            Float32,
            &[3],
            &[0.7310585975646973, 0.8807970285415649, 0.9525741338729858],
        );
        let r = call("aten::log2", &[f32s(&[5], &[8.0, 0.5, 0.0, -1.0, 10.0])]).unwrap();
        check(
            &r,
            Float32,
            &[5],
            &[3.0, -1.0, -INF, NAN, 3.321928024291992],
        );
        let b = bools(&[2], &[true, false]);
        check(
            &call("aten::log1p", std::slice::from_ref(&b)).unwrap(),
            Float32,
            &[2],
            &[0.6931471824645996, 0.0],
        );
        check(
            &call("aten::rsqrt", &[b]).unwrap(),
            Float32,
            &[2],
            &[1.0, INF],
        );
        let h = tensor(Float16, &[1], &[3.0]);
        check(
            &call("aten::reciprocal", &[h]).unwrap(),
            Float16,
            &[1],
            &[0.333251953125],
        );
        assert!(error("aten::tanh_", &[i64s(&[1], &[1.0])])
            .contains("can't be cast to the desired output type Long"));
    }

    #[test]
    fn inverse_and_hyperbolic_functions_follow_pytorch() {
        // torch 2.15.0 on float32 [-0.5, 0, 0.5, 1, 2].
        let x = f32s(&[5], &[-0.5, 0.0, 0.5, 1.0, 2.0]);
        let want: [(&str, [f64; 5]); 7] = [
            (
                "acos",
                [
                    2.094395160675049,
                    1.5707963705062866,
                    1.0471975803375244,
                    0.0,
                    NAN,
                ],
            ),
            (
                "asin",
                [
                    -0.5235987901687622,
                    0.0,
                    0.5235987901687622,
                    1.5707963705062866,
                    NAN,
                ],
            ),
            (
                "atan",
                [
                    -0.46364760398864746,
                    0.0,
                    0.46364760398864746,
                    0.7853981852531433,
                    1.1071487665176392,
                ],
            ),
            (
                "atanh",
                [-0.5493061542510986, 0.0, 0.5493061542510986, INF, NAN],
            ),
            (
                "sinh",
                [
                    -0.5210952758789062,
                    0.0,
                    0.5210952758789062,
                    1.175201177597046,
                    3.6268603801727295,
                ],
            ),
            (
                "cosh",
                [
                    1.1276259422302246,
                    1.0,
                    1.1276259422302246,
                    1.5430805683135986,
                    3.7621958255767822,
                ],
            ),
            (
                "log10",
                [NAN, -INF, -0.3010300099849701, 0.0, 0.3010300099849701],
            ),
        ];
        for (name, values) in want {
            let r = call(&format!("aten::{name}"), std::slice::from_ref(&x)).unwrap();
            check(&r, Float32, &[5], &values);
        }
        let y = f32s(&[5], &[1.0, 2.0, 10.0, 0.5, -1.0]);
        check(
            &call("aten::acosh", std::slice::from_ref(&y)).unwrap(),
            Float32,
            &[5],
            &[0.0, 1.316957950592041, 2.993222951889038, NAN, NAN],
        );
        check(
            &call("aten::asinh", &[y]).unwrap(),
            Float32,
            &[5],
            &[
                0.8813735842704773,
                1.4436354637145996,
                2.998222827911377,
                0.4812118411064148,
                -0.8813735842704773,
            ],
        );
        // Integers and bool give float32; float16 and float64 keep their type.
        let i = i64s(&[3], &[0.0, 1.0, 2.0]);
        check(
            &call("aten::acos", std::slice::from_ref(&i)).unwrap(),
            Float32,
            &[3],
            &[1.5707963705062866, 0.0, NAN],
        );
        check(
            &call("aten::log10", std::slice::from_ref(&i)).unwrap(),
            Float32,
            &[3],
            &[-INF, 0.0, 0.3010300099849701],
        );
        check(
            &call("aten::asin", &[bools(&[2], &[true, false])]).unwrap(),
            Float32,
            &[2],
            &[1.5707963705062866, 0.0],
        );
        let h = tensor(Float16, &[2], &[0.3, 100.0]);
        check(
            &call("aten::cosh", std::slice::from_ref(&h)).unwrap(),
            Float16,
            &[2],
            &[1.044921875, INF],
        );
        check(
            &call("aten::log10", &[h]).unwrap(),
            Float16,
            &[2],
            &[-0.52294921875, 2.0],
        );
        check(
            &call("aten::atan", &[tensor(Float64, &[1], &[0.3])]).unwrap(),
            Float64,
            &[1],
            &[0.2914567944778671],
        );
        check(
            &call("aten::sinh_", &[f32s(&[1], &[1.0])]).unwrap(),
            Float32,
            &[1],
            &[1.175201177597046],
        );
        assert!(error("aten::acos_", &[i])
            .contains("result type Float can't be cast to the desired output type Long"));
    }

    #[test]
    fn rounding_ties_to_even_and_keeps_integers() {
        let x = f32s(&[6], &[0.5, 1.5, 2.5, -0.5, -1.5, 2.4999]);
        check(
            &call("aten::round", &[x]).unwrap(),
            Float32,
            &[6],
            &[0.0, 2.0, 2.0, -0.0, -2.0, 2.0],
        );
        let x = f32s(&[3], &[1.2345, 2.5, 125.0]);
        let r = call_kw("aten::round", &[x], &[("decimals", Value::Int(2))]).unwrap();
        check(&r, Float32, &[3], &[1.2300000190734863, 2.5, 125.0]);
        let x = f32s(&[3], &[1.2345, 25.0, 135.0]);
        let r = call_kw("aten::round", &[x], &[("decimals", Value::Int(-1))]).unwrap();
        check(&r, Float32, &[3], &[0.0, 20.0, 140.0]);
        check(
            &call("aten::trunc", &[f32s(&[3], &[-0.5, 2.7, -2.7])]).unwrap(),
            Float32,
            &[3],
            &[-0.0, 2.0, -2.0],
        );
        check(
            &call("aten::floor", &[i64s(&[2], &[1.0, 2.0])]).unwrap(),
            Int64,
            &[2],
            &[1.0, 2.0],
        );
        assert!(error("aten::ceil", &[bools(&[1], &[true])])
            .contains("\"ceil_vml_cpu\" not implemented for 'Bool'"));
        let e = call_kw(
            "aten::round",
            &[i64s(&[1], &[1.0])],
            &[("decimals", Value::Int(1))],
        )
        .unwrap_err();
        assert!(e
            .to_string()
            .contains("\"round_cpu\" not implemented for 'Long'"));
    }

    #[test]
    fn special_values_are_found_and_replaced() {
        let x = f32s(&[4], &[INF, -INF, NAN, 1.0]);
        check(
            &call("aten::isinf", std::slice::from_ref(&x)).unwrap(),
            Bool,
            &[4],
            &[1.0, 1.0, 0.0, 0.0],
        );
        check(
            &call("aten::isfinite", std::slice::from_ref(&x)).unwrap(),
            Bool,
            &[4],
            &[0.0, 0.0, 0.0, 1.0],
        );
        check(
            &call("aten::isnan", std::slice::from_ref(&x)).unwrap(),
            Bool,
            &[4],
            &[0.0, 0.0, 1.0, 0.0],
        );
        let max = f64::from(f32::MAX);
        check(
            &call("aten::nan_to_num", std::slice::from_ref(&x)).unwrap(),
            Float32,
            &[4],
            &[max, -max, 0.0, 1.0],
        );
        let h = tensor(Float16, &[4], &[INF, -INF, NAN, 1.0]);
        check(
            &call("aten::nan_to_num", std::slice::from_ref(&h)).unwrap(),
            Float16,
            &[4],
            &[65504.0, -65504.0, 0.0, 1.0],
        );
        let args = [h, Value::Float(1.5), Value::Float(1e10), Value::Int(-3)];
        check(
            &call("aten::nan_to_num", &args).unwrap(),
            Float16,
            &[4],
            &[INF, -3.0, 1.5, 1.0],
        );
        check(
            &call("aten::isnan", &[i64s(&[1], &[1.0])]).unwrap(),
            Bool,
            &[1],
            &[0.0],
        );
    }

    #[test]
    fn bitwise_not_is_logical_for_bool() {
        check(
            &call("aten::bitwise_not", &[bools(&[2], &[true, false])]).unwrap(),
            Bool,
            &[2],
            &[0.0, 1.0],
        );
        check(
            &call("aten::bitwise_not", &[tensor(Int16, &[1], &[5.0])]).unwrap(),
            Int16,
            &[1],
            &[-6.0],
        );
        assert!(error("aten::bitwise_not", &[f32s(&[1], &[1.0])]).contains("'Float'"));
    }
}
