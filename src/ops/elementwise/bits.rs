//! The bitwise operators (`bitwise_and` and `__and__`, `or`, `xor`) on integer and bool tensors,
//! and the shifts `__lshift__` and `__rshift__` with PyTorch's rules for out-of-range shifts.

use super::arith::{not_implemented, num, out, ten, Binary};
use super::promote::Operand;
use crate::error::Result;
use crate::ops::{Builder, Ctx, OpFn, ScalarType, Tensor};

/// The bitwise operators on integer and bool tensors.
#[derive(Clone, Copy)]
enum Bits {
    And,
    Or,
    Xor,
}

fn bitwise(cx: &Ctx, op: Bits, a: Operand, b: Operand) -> Result<Tensor> {
    let p = Binary::new(cx, "aten::bitwise", a, b)?;
    if p.rt.is_float() {
        let kernel = match op {
            Bits::And => "bitwise_and_cpu",
            Bits::Or => "bitwise_or_cpu",
            Bits::Xor => "bitwise_xor_cpu",
        };
        return Err(not_implemented(kernel, p.rt));
    }
    p.ints(|x, y| {
        Ok(match op {
            Bits::And => x & y,
            Bits::Or => x | y,
            Bits::Xor => x ^ y,
        })
    })
}

/// The number of bits of integer type `dtype`.
fn bits(dtype: ScalarType) -> i64 {
    match dtype {
        ScalarType::UInt8 => 8,
        ScalarType::Int16 => 16,
        ScalarType::Int32 => 32,
        _ => 64,
    }
}

/// `a << b` as PyTorch shifts: a negative or too large shift gives 0.
fn lshift(cx: &Ctx, a: Operand, b: Operand) -> Result<Tensor> {
    let p = Binary::new(cx, "aten::__lshift__", a, b)?;
    if p.rt.is_float() || p.rt == ScalarType::Bool {
        return Err(not_implemented("lshift_cpu", p.rt));
    }
    let (n, signed) = (bits(p.rt), p.rt != ScalarType::UInt8);
    p.ints(|x, y| {
        let negative = signed && y < 0 || !signed && y >= 128;
        Ok(if negative || y >= n {
            0
        } else {
            ((x as u64) << y) as i64
        })
    })
}

/// `a >> b` as PyTorch shifts: a negative or too large shift keeps only the sign.
fn rshift(cx: &Ctx, a: Operand, b: Operand) -> Result<Tensor> {
    let p = Binary::new(cx, "aten::__rshift__", a, b)?;
    if p.rt.is_float() || p.rt == ScalarType::Bool {
        return Err(not_implemented("rshift_cpu", p.rt));
    }
    let signed = p.rt != ScalarType::UInt8;
    let max_shift = bits(p.rt) - i64::from(signed);
    p.ints(|x, y| {
        let negative = signed && y < 0 || !signed && y >= 128;
        Ok(if negative || y >= max_shift {
            x >> max_shift.min(63)
        } else {
            x >> y
        })
    })
}

/// Registers the bitwise operators (named and `__and__`-style) and the shifts.
pub(super) fn register(b: &mut Builder) {
    for (name, op) in [
        ("bitwise_and", Bits::And),
        ("bitwise_or", Bits::Or),
        ("bitwise_xor", Bits::Xor),
    ] {
        let fns: [OpFn; 3] = match op {
            Bits::And => [
                |cx, a| out(bitwise(cx, Bits::And, ten(a, 0)?, ten(a, 1)?)),
                |cx, a| out(bitwise(cx, Bits::And, ten(a, 0)?, num(a, 1)?)),
                |cx, a| out(bitwise(cx, Bits::And, num(a, 0)?, ten(a, 1)?)),
            ],
            Bits::Or => [
                |cx, a| out(bitwise(cx, Bits::Or, ten(a, 0)?, ten(a, 1)?)),
                |cx, a| out(bitwise(cx, Bits::Or, ten(a, 0)?, num(a, 1)?)),
                |cx, a| out(bitwise(cx, Bits::Or, num(a, 0)?, ten(a, 1)?)),
            ],
            Bits::Xor => [
                |cx, a| out(bitwise(cx, Bits::Xor, ten(a, 0)?, ten(a, 1)?)),
                |cx, a| out(bitwise(cx, Bits::Xor, ten(a, 0)?, num(a, 1)?)),
                |cx, a| out(bitwise(cx, Bits::Xor, num(a, 0)?, ten(a, 1)?)),
            ],
        };
        let dunder = format!("__{}__", &name[8..]);
        b.add(
            &format!("aten::{name}.Tensor(Tensor self, Tensor other) -> Tensor"),
            fns[0],
        );
        b.add(
            &format!("aten::{name}.Scalar(Tensor self, Scalar other) -> Tensor"),
            fns[1],
        );
        b.add(
            &format!("aten::{name}.Scalar_Tensor(Scalar self, Tensor other) -> Tensor"),
            fns[2],
        );
        b.add(
            &format!("aten::{dunder}.Tensor(Tensor self, Tensor other) -> Tensor"),
            fns[0],
        );
        b.add(
            &format!("aten::{dunder}.Scalar(Tensor self, Scalar other) -> Tensor"),
            fns[1],
        );
    }
    b.add(
        "aten::__lshift__.Tensor(Tensor self, Tensor other) -> Tensor",
        |cx, a| out(lshift(cx, ten(a, 0)?, ten(a, 1)?)),
    );
    b.add(
        "aten::__lshift__.Scalar(Tensor self, Scalar other) -> Tensor",
        |cx, a| out(lshift(cx, ten(a, 0)?, num(a, 1)?)),
    );
    b.add(
        "aten::__rshift__.Tensor(Tensor self, Tensor other) -> Tensor",
        |cx, a| out(rshift(cx, ten(a, 0)?, ten(a, 1)?)),
    );
    b.add(
        "aten::__rshift__.Scalar(Tensor self, Scalar other) -> Tensor",
        |cx, a| out(rshift(cx, ten(a, 0)?, num(a, 1)?)),
    );
}

#[cfg(test)]
mod tests {
    //! Expected values are torch 2.15's for the same calls.
    use super::super::testing::{bools, call, check, error, f32s, i64s, tensor};
    use crate::ops::ScalarType::*;
    use crate::ops::Value;

    #[test]
    fn bitwise_operators_and_shifts_follow_pytorch() {
        let b = bools(&[3], &[true, false, true]);
        let r = call("aten::__and__", &[b.clone(), i64s(&[3], &[3.0, 2.0, 1.0])]).unwrap();
        check(&r, Int64, &[3], &[1.0, 0.0, 1.0]);
        check(
            &call("aten::bitwise_xor", &[b.clone(), Value::Bool(true)]).unwrap(),
            Bool,
            &[3],
            &[0.0, 1.0, 0.0],
        );
        let x = i64s(&[3], &[1.0, 2.0, 3.0]);
        check(
            &call("aten::__lshift__", &[x.clone(), Value::Int(64)]).unwrap(),
            Int64,
            &[3],
            &[0.0; 3],
        );
        check(
            &call("aten::__rshift__", &[i64s(&[1], &[-8.0]), Value::Int(1)]).unwrap(),
            Int64,
            &[1],
            &[-4.0],
        );
        let a = tensor(Int16, &[2], &[-128.0, 64.0]);
        let r = call("aten::__rshift__", &[a, tensor(Int16, &[2], &[20.0, 3.0])]).unwrap();
        check(&r, Int16, &[2], &[-1.0, 8.0]);
        let i = tensor(Int32, &[1], &[3.0]);
        check(
            &call("aten::__lshift__", &[i, Value::Int(31)]).unwrap(),
            Int32,
            &[1],
            &[-2147483648.0],
        );
        assert!(
            error("aten::__lshift__", &[f32s(&[1], &[1.0]), Value::Int(1)])
                .contains("\"lshift_cpu\" not implemented for 'Float'")
        );
        assert!(error(
            "aten::bitwise_and",
            &[f32s(&[1], &[1.0]), f32s(&[1], &[1.0])]
        )
        .contains("'Float'"));
    }
}
