//! Powers: `pow` of two tensors, of a tensor and a number (PyTorch's special cases for 0, 1,
//! 0.5, 2, 3, -0.5, -1, -2, and its float16 and bfloat16 rounding of the exponent), of a
//! number and a tensor; integer powers as `c10::powi`.

use super::arith::{out, round_to, scalar_int, ten, Binary};
use super::kernel::{in_place, Real, RealFn2, CT};
use super::promote::{result_type, Operand};
use crate::error::{Error, Result};
use crate::ops::{Builder, Ctx, Scalar, ScalarType, Tensor};

/// `a ** b` on integers (`c10::powi`): negative exponents give 0 except for bases 1 and -1.
fn powi(mut a: i64, mut b: i64) -> i64 {
    if b < 0 {
        return match a {
            1 => 1,
            -1 if b % 2 != 0 => -1,
            -1 => 1,
            _ => 0,
        };
    }
    let mut r: i64 = 1;
    while b != 0 {
        if b & 1 == 1 {
            r = r.wrapping_mul(a);
        }
        b /= 2;
        a = a.wrapping_mul(a);
    }
    r
}

struct Pow;
impl RealFn2 for Pow {
    fn call<T: Real>(&self, a: T, b: T) -> T {
        a.powf(b)
    }
}

/// `a ** b` for tensors and numbers in the result type.
fn pow(cx: &Ctx, a: Operand, b: Operand) -> Result<Tensor> {
    let p = Binary::new(cx, "aten::pow", a, b)?;
    p.no_bool("pow")?;
    if p.rt.is_float() {
        p.real(&Pow)
    } else {
        p.ints(|x, y| Ok(powi(x, y)))
    }
}

/// `tensor ** exponent` for a number exponent, as PyTorch's `pow.Tensor_Scalar`: exponent 0
/// gives ones and 1 a copy; 0.5, 2, 3, -0.5, -1, -2 use `sqrt`, products and reciprocals
/// (float16: `std::pow` with the exponent rounded to float16; bfloat16 rounds it after the
/// `sqrt` and reciprocal cases).
fn pow_scalar(cx: &Ctx, t: &Tensor, e: Scalar) -> Result<Tensor> {
    let rt = result_type(&[Operand::Tensor(t), Operand::Scalar(e)]);
    if !rt.is_float() && !matches!(e, Scalar::Float(_)) && scalar_int(e) < 0 {
        return Err(Error::Script(
            "Integers to negative integer powers are not allowed.".into(),
        ));
    }
    let x = e.f64();
    if x == 0.0 {
        let ones = CT::ones(t.dims(), rt.candle(), t.device())?;
        return Tensor::with_type(ones, rt);
    }
    if x == 1.0 {
        return t.to_dtype(rt);
    }
    if !rt.is_float() {
        check_fits(e, rt)?;
        let p = Binary::new(cx, "aten::pow", Operand::Tensor(t), Operand::Scalar(e))?;
        p.no_bool("pow")?;
        return p.ints(|a, b| Ok(powi(a, b)));
    }
    let p = Binary::new(cx, "aten::pow", Operand::Tensor(t), Operand::Scalar(e))?;
    if rt == ScalarType::Float16 {
        // PyTorch's float16 kernel: `std::pow` with the exponent rounded to float16.
        let e = Scalar::Float(round_to(x, rt));
        return Binary::new(cx, "aten::pow", Operand::Tensor(t), Operand::Scalar(e))?.real(&Pow);
    }
    if x == 0.5 {
        return p.candle(|a, _| a.sqrt());
    } else if x == -0.5 {
        return p.candle(|a, _| a.sqrt()?.recip());
    } else if x == -1.0 {
        return p.candle(|a, _| a.recip());
    }
    // bfloat16 rounds the exponent before the remaining special cases.
    let x = round_to(
        x,
        if rt == ScalarType::BFloat16 {
            rt
        } else {
            ScalarType::Float64
        },
    );
    if x == 2.0 {
        p.candle(|a, _| a.mul(a))
    } else if x == 3.0 {
        p.candle(|a, _| a.mul(a)?.mul(a))
    } else if x == -2.0 {
        p.candle(|a, _| a.mul(a)?.recip())
    } else {
        let e = Scalar::Float(x);
        Binary::new(cx, "aten::pow", Operand::Tensor(t), Operand::Scalar(e))?.real(&Pow)
    }
}

/// Refuses an integer exponent the integer type `dtype` cannot hold, as PyTorch's checked
/// conversion does.
fn check_fits(e: Scalar, dtype: ScalarType) -> Result<()> {
    let n = scalar_int(e);
    let (cpp, fits) = match dtype {
        ScalarType::UInt8 => ("uint8_t", u8::try_from(n).is_ok()),
        ScalarType::Int16 => ("int16_t", i16::try_from(n).is_ok()),
        ScalarType::Int32 => ("int32_t", i32::try_from(n).is_ok()),
        _ => ("int64_t", true),
    };
    if fits {
        Ok(())
    } else {
        Err(Error::Script(format!(
            "value cannot be converted to type {cpp} without overflow"
        )))
    }
}

/// `number ** tensor`; base 1 gives ones whatever the exponent.
fn pow_base(cx: &Ctx, base: Scalar, e: &Tensor) -> Result<Tensor> {
    if base.f64() == 1.0 {
        let rt = result_type(&[Operand::Scalar(base), Operand::Tensor(e)]);
        return Tensor::with_type(CT::ones(e.dims(), rt.candle(), e.device())?, rt);
    }
    pow(cx, Operand::Scalar(base), Operand::Tensor(e))
}

/// Registers `pow` and `pow_`.
pub(super) fn register(b: &mut Builder) {
    b.add(
        "aten::pow.Tensor_Tensor(Tensor self, Tensor exponent) -> Tensor",
        |cx, a| out(pow(cx, ten(a, 0)?, ten(a, 1)?)),
    );
    b.add(
        "aten::pow.Tensor_Scalar(Tensor self, Scalar exponent) -> Tensor",
        |cx, a| out(pow_scalar(cx, a.tensor(0)?, a.scalar(1)?)),
    );
    b.add(
        "aten::pow.Scalar(Scalar self, Tensor exponent) -> Tensor",
        |cx, a| out(pow_base(cx, a.scalar(0)?, a.tensor(1)?)),
    );
    b.add(
        "aten::pow_.Tensor(Tensor(a!) self, Tensor exponent) -> Tensor(a!)",
        |cx, a| in_place(a.tensor(0)?, pow(cx, ten(a, 0)?, ten(a, 1)?)?),
    );
    b.add(
        "aten::pow_.Scalar(Tensor(a!) self, Scalar exponent) -> Tensor(a!)",
        |cx, a| in_place(a.tensor(0)?, pow_scalar(cx, a.tensor(0)?, a.scalar(1)?)?),
    );
}

#[cfg(test)]
mod tests {
    //! Expected values are torch 2.15's for the same calls.
    use super::super::testing::{call, check, error, f32s, i64s, tensor};
    use crate::ops::ScalarType::*;
    use crate::ops::Value;

    const NAN: f64 = f64::NAN;
    const INF: f64 = f64::INFINITY;

    #[test]
    fn powers_follow_pytorch() {
        let x = i64s(&[3], &[1.0, 2.0, 3.0]);
        assert!(
            error("aten::pow", &[x.clone(), Value::Int(-1)]).contains("negative integer powers")
        );
        let base = i64s(&[4], &[1.0, -1.0, 2.0, 0.0]);
        let r = call("aten::pow", &[base, i64s(&[4], &[-1.0; 4])]).unwrap();
        check(&r, Int64, &[4], &[1.0, -1.0, 0.0, 0.0]);
        check(
            &call("aten::pow", &[tensor(UInt8, &[1], &[3.0]), Value::Int(7)]).unwrap(),
            UInt8,
            &[1],
            &[139.0],
        );
        check(
            &call("aten::pow", &[Value::Int(2), x.clone()]).unwrap(),
            Int64,
            &[3],
            &[2.0, 4.0, 8.0],
        );
        check(
            &call("aten::pow", &[x, Value::Float(2.5)]).unwrap(),
            Float32,
            &[3],
            &[1.0, 5.656854152679443, 15.588457107543945],
        );
        let r = call("aten::pow", &[f32s(&[2], &[-0.0, -INF]), Value::Float(0.5)]).unwrap();
        check(&r, Float32, &[2], &[-0.0, NAN]);
        let r = call(
            "aten::pow",
            &[f32s(&[2], &[-2.0, -8.0]), f32s(&[2], &[2.0, 1.0 / 3.0])],
        )
        .unwrap();
        check(&r, Float32, &[2], &[4.0, NAN]);
        check(
            &call("aten::pow", &[Value::Int(1), f32s(&[1], &[NAN])]).unwrap(),
            Float32,
            &[1],
            &[1.0],
        );
        check(
            &call("aten::pow", &[f32s(&[1], &[NAN]), Value::Int(0)]).unwrap(),
            Float32,
            &[1],
            &[1.0],
        );
        let h = tensor(Float16, &[1], &[3.3]);
        check(
            &call("aten::pow", &[h, Value::Float(2.7)]).unwrap(),
            Float16,
            &[1],
            &[25.109375],
        );
    }
}
