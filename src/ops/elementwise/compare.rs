//! Comparisons (`eq`, `ne`, `lt`, `le`, `gt`, `ge`: bool results, computed in the operands'
//! common type), the logical operators, `where`, `masked_fill`, and the blends `lerp`,
//! `addcmul` and `addcdiv`.

use candle_core::op::CmpOp;

use super::arith::{add, mul, not_implemented, num, out, ten, Binary};
use super::kernel::{checked, device_of, finish, in_place, operand_as, scalar_tensor, CT};
use super::promote::{
    broadcast_all, broadcast_shapes, c10_name, compute_dtype, result_type, Operand,
};
use crate::error::{Error, Result};
use crate::ops::{Args, Builder, Ctx, OpFn, Scalar, ScalarType, Tensor, Value};

/// `a op b`, elementwise, in the operands' common type (both rounded to it: a float16 tensor
/// equals the number 0.1 where it holds float16's 0.1).
fn compare(cx: &Ctx, op: CmpOp, a: Operand, b: Operand) -> Result<Tensor> {
    let p = Binary::new(cx, "aten::compare", a, b)?;
    let (x, y) = p.pair()?;
    Tensor::from_mask(x.cmp(&y, op)?)
}

/// Whether each element is nonzero (NaN is), as a `u8` mask broadcast to `shape`.
fn truth(t: &Tensor, shape: &[usize]) -> Result<CT> {
    Ok(t.inner()
        .ne(&t.inner().zeros_like()?)?
        .broadcast_as(shape)?)
}

/// The logical operators.
#[derive(Clone, Copy)]
enum Logic {
    And,
    Or,
    Xor,
}

fn logical(cx: &Ctx, op: Logic, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let shape = checked(
        cx,
        "aten::logical",
        broadcast_all(&[Operand::Tensor(a), Operand::Tensor(b)])?,
    )?;
    let (x, y) = (truth(a, &shape)?, truth(b, &shape)?);
    let m = match op {
        Logic::And => x.minimum(&y)?,
        Logic::Or => x.maximum(&y)?,
        Logic::Xor => x.ne(&y)?,
    };
    Tensor::from_mask(m)
}

fn logical_not(t: &Tensor) -> Result<Tensor> {
    Tensor::from_mask(t.inner().eq(&t.inner().zeros_like()?)?)
}

/// The C++ name PyTorch's `masked_fill` and `where` messages give a type.
fn cpp_name(dtype: ScalarType) -> &'static str {
    match dtype {
        ScalarType::UInt8 => "unsigned char",
        ScalarType::Int16 => "short int",
        ScalarType::Int32 => "int",
        ScalarType::Int64 => "long int",
        ScalarType::Float16 => "c10::Half",
        ScalarType::Float32 => "float",
        ScalarType::Float64 => "double",
        ScalarType::Bool => "bool",
        ScalarType::BFloat16 => "c10::BFloat16",
    }
}

/// `where(condition, a, b)`: `a` where the condition holds, else `b`, in their result type.
fn where_(cx: &Ctx, cond: &Tensor, a: Operand, b: Operand) -> Result<Tensor> {
    if !matches!(cond.dtype(), ScalarType::Bool | ScalarType::UInt8) {
        return Err(Error::Script(format!(
            "where expected condition to be a boolean tensor, but got a tensor with dtype {}",
            c10_name(cond.dtype())
        )));
    }
    let shape = checked(
        cx,
        "aten::where",
        broadcast_all(&[Operand::Tensor(cond), a, b])?,
    )?;
    let rt = result_type(&[a, b]);
    let device = device_of(cx, &[a, b]);
    let x = operand_as(&a, rt.candle(), &shape, &device)?;
    let y = operand_as(&b, rt.candle(), &shape, &device)?;
    let c = truth(cond, &shape)?;
    Tensor::with_type(c.where_cond(&x, &y)?, rt)
}

/// `where(condition)`: the indices of the nonzero elements, one int64 tensor per dimension
/// (one for a 0-dim tensor).
fn nonzero_tuple(t: &Tensor) -> Result<Value> {
    let flags = t
        .inner()
        .ne(&t.inner().zeros_like()?)?
        .flatten_all()?
        .to_vec1::<u8>()?;
    let dims: Vec<usize> = if t.rank() == 0 {
        vec![1]
    } else {
        t.dims().to_vec()
    };
    let mut per_dim: Vec<Vec<i64>> = vec![Vec::new(); dims.len()];
    for (flat, _) in flags.iter().enumerate().filter(|(_, &f)| f != 0) {
        let mut rest = flat;
        for (d, &size) in dims.iter().enumerate().rev() {
            per_dim[d].push((rest % size) as i64);
            rest /= size;
        }
    }
    let mut out = Vec::with_capacity(dims.len());
    for idx in per_dim {
        let n = idx.len();
        out.push(Value::Tensor(Tensor::new(CT::from_vec(
            idx,
            n,
            t.device(),
        )?)?));
    }
    Ok(Value::list(out))
}

/// `masked_fill(t, mask, value)` with the value already a 0-dim tensor of `t`'s type.
fn masked_fill_with(cx: &Ctx, t: &Tensor, mask: &Tensor, value: &Tensor) -> Result<Tensor> {
    if mask.dtype() != ScalarType::Bool {
        return Err(Error::Script(format!(
            "masked_fill_ only supports boolean masks, but got mask with dtype {}",
            cpp_name(mask.dtype())
        )));
    }
    let shape = checked(
        cx,
        "aten::masked_fill",
        broadcast_all(&[Operand::Tensor(mask), Operand::Tensor(t)])?,
    )?;
    let v = value.inner().broadcast_as(shape.as_slice())?;
    let x = t.inner().broadcast_as(shape.as_slice())?;
    let r = mask
        .inner()
        .broadcast_as(shape.as_slice())?
        .where_cond(&v, &x)?;
    Tensor::with_type(r, t.dtype())
}

fn masked_fill(cx: &Ctx, t: &Tensor, mask: &Tensor, value: Scalar) -> Result<Tensor> {
    let value = match (t.dtype(), value) {
        (ScalarType::Bool, v) => Scalar::Bool(v.f64() != 0.0),
        (_, v) => v,
    };
    let v = scalar_tensor(value, t.dtype().candle(), t.device())?;
    masked_fill_with(cx, t, mask, &Tensor::with_type(v, t.dtype())?)
}

fn masked_fill_tensor(cx: &Ctx, t: &Tensor, mask: &Tensor, value: &Tensor) -> Result<Tensor> {
    if value.rank() != 0 {
        return Err(Error::Script(format!(
            "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with {} \
             dimension(s).",
            value.rank()
        )));
    }
    masked_fill_with(cx, t, mask, &value.to_dtype(t.dtype())?)
}

/// Refuses an operand of another type than `self`, as `lerp` does.
fn same_float_type(t: &Tensor, other: &Tensor, name: &str) -> Result<()> {
    if !t.dtype().is_float() {
        return Err(not_implemented("lerp_kernel_scalar", t.dtype()));
    }
    if other.dtype() != t.dtype() {
        return Err(Error::Script(format!(
            "expected dtype {} for `{name}` but got dtype {}",
            cpp_name(t.dtype()),
            cpp_name(other.dtype())
        )));
    }
    Ok(())
}

/// `start + weight * (end - start)` where `|weight| < 0.5`, else
/// `end - (end - start) * (1 - weight)`, as PyTorch's `lerp`.
fn lerp(cx: &Ctx, start: &Tensor, end: &Tensor, weight: Operand) -> Result<Tensor> {
    same_float_type(start, end, "end")?;
    if let Operand::Tensor(w) = weight {
        same_float_type(start, w, "weight")?;
    }
    let operands = [Operand::Tensor(start), Operand::Tensor(end), weight];
    let shape = checked(cx, "aten::lerp", broadcast_all(&operands)?)?;
    let (dt, device) = (compute_dtype(start.dtype()), start.device());
    let s = operand_as(&operands[0], dt, &shape, device)?;
    let e = operand_as(&operands[1], dt, &shape, device)?;
    let w = operand_as(&weight, dt, &shape, device)?;
    let diff = e.sub(&s)?;
    let small = s.add(&w.mul(&diff)?)?;
    let large = e.sub(&diff.mul(&w.affine(-1.0, 1.0)?)?)?;
    let r = w.abs()?.lt(0.5)?.where_cond(&small, &large)?;
    finish(r, start.dtype())
}

/// `addcmul` (`self + value * t1 * t2`) and `addcdiv` (`self + value * t1 / t2`).
fn addc(
    cx: &Ctx,
    divide: bool,
    t: &Tensor,
    t1: &Tensor,
    t2: &Tensor,
    value: Scalar,
) -> Result<Tensor> {
    if divide && !t1.dtype().is_float() && !t2.dtype().is_float() {
        return Err(Error::Script(
            "Integer division with addcdiv is no longer supported, and in a future release \
             addcdiv will perform a true division of tensor1 and tensor2. The historic addcdiv \
             behavior can be implemented as (input + value * torch.trunc(tensor1 / \
             tensor2)).to(input.dtype) for integer inputs and as (input + value * tensor1 / \
             tensor2) for float inputs. The future addcdiv behavior is just the latter \
             implementation: (input + value * tensor1 / tensor2), for all dtypes."
                .into(),
        ));
    }
    let operands = [Operand::Tensor(t), Operand::Tensor(t1), Operand::Tensor(t2)];
    let shape = checked(cx, "aten::addcmul", broadcast_all(&operands)?)?;
    let rt = result_type(&operands);
    if !rt.is_float() {
        // Integers: the value truncated, everything in the result type.
        let v = Scalar::Int(match value {
            Scalar::Int(n) => n,
            Scalar::Bool(b) => i64::from(b),
            Scalar::Float(x) => x as i64,
        });
        let (t, t1, t2) = (t.to_dtype(rt)?, t1.to_dtype(rt)?, t2.to_dtype(rt)?);
        let prod = mul(cx, Operand::Tensor(&t1), Operand::Tensor(&t2))?;
        let scaled = mul(cx, Operand::Tensor(&prod), Operand::Scalar(v))?;
        return add(
            cx,
            Operand::Tensor(&t),
            Operand::Tensor(&scaled),
            Scalar::Int(1),
        );
    }
    let (dt, device) = (compute_dtype(rt), t.device());
    let s = operand_as(&operands[0], dt, &shape, device)?;
    let a = operand_as(&operands[1], dt, &shape, device)?.affine(value.f64(), 0.0)?;
    let b = operand_as(&operands[2], dt, &shape, device)?;
    let r = if divide { a.div(&b)? } else { a.mul(&b)? };
    finish(s.add(&r)?, rt)
}

/// The op functions of comparison `name`: tensor and number overloads.
fn comparison_ops(name: &str) -> [OpFn; 2] {
    macro_rules! ops {
        ($($n:literal => $op:expr),*) => {
            match name {
                $($n => [
                    |cx: &Ctx, a: &Args| out(compare(cx, $op, ten(a, 0)?, ten(a, 1)?)),
                    |cx: &Ctx, a: &Args| out(compare(cx, $op, ten(a, 0)?, num(a, 1)?)),
                ],)*
                _ => [|_: &Ctx, _: &Args| Err(Error::Script("no such comparison".into())); 2],
            }
        };
    }
    ops!("eq" => CmpOp::Eq, "ne" => CmpOp::Ne, "lt" => CmpOp::Lt, "le" => CmpOp::Le,
         "gt" => CmpOp::Gt, "ge" => CmpOp::Ge)
}

/// Registers the comparisons, logical operators, `where`, `masked_fill` and the blends.
pub(super) fn register(b: &mut Builder) {
    for name in ["eq", "ne", "lt", "le", "gt", "ge"] {
        let [t, s] = comparison_ops(name);
        b.add(
            &format!("aten::{name}.Tensor(Tensor self, Tensor other) -> Tensor"),
            t,
        );
        b.add(
            &format!("aten::{name}.Scalar(Tensor self, Scalar other) -> Tensor"),
            s,
        );
    }
    b.add(
        "aten::logical_and(Tensor self, Tensor other) -> Tensor",
        |cx, a| out(logical(cx, Logic::And, a.tensor(0)?, a.tensor(1)?)),
    );
    b.add(
        "aten::logical_or(Tensor self, Tensor other) -> Tensor",
        |cx, a| out(logical(cx, Logic::Or, a.tensor(0)?, a.tensor(1)?)),
    );
    b.add(
        "aten::logical_xor(Tensor self, Tensor other) -> Tensor",
        |cx, a| out(logical(cx, Logic::Xor, a.tensor(0)?, a.tensor(1)?)),
    );
    b.add("aten::logical_not(Tensor self) -> Tensor", |_, a| {
        out(logical_not(a.tensor(0)?))
    });
    b.add(
        "aten::logical_not_(Tensor(a!) self) -> Tensor(a!)",
        |_, a| {
            let t = a.tensor(0)?;
            in_place(t, logical_not(t)?)
        },
    );
    register_where(b);
    register_blends(b);
}

fn register_where(b: &mut Builder) {
    b.add(
        "aten::where.self(Tensor condition, Tensor self, Tensor other) -> Tensor",
        |cx, a| out(where_(cx, a.tensor(0)?, ten(a, 1)?, ten(a, 2)?)),
    );
    b.add(
        "aten::where.ScalarOther(Tensor condition, Tensor self, Scalar other) -> Tensor",
        |cx, a| out(where_(cx, a.tensor(0)?, ten(a, 1)?, num(a, 2)?)),
    );
    b.add(
        "aten::where.ScalarSelf(Tensor condition, Scalar self, Tensor other) -> Tensor",
        |cx, a| out(where_(cx, a.tensor(0)?, num(a, 1)?, ten(a, 2)?)),
    );
    b.add(
        "aten::where.Scalar(Tensor condition, Scalar self, Scalar other) -> Tensor",
        |cx, a| out(where_(cx, a.tensor(0)?, num(a, 1)?, num(a, 2)?)),
    );
    b.add("aten::where(Tensor condition) -> Tensor[]", |_, a| {
        nonzero_tuple(a.tensor(0)?)
    });
    b.add(
        "aten::masked_fill.Tensor(Tensor self, Tensor mask, Tensor value) -> Tensor",
        |cx, a| {
            out(masked_fill_tensor(
                cx,
                a.tensor(0)?,
                a.tensor(1)?,
                a.tensor(2)?,
            ))
        },
    );
    b.add(
        "aten::masked_fill.Scalar(Tensor self, Tensor mask, Scalar value) -> Tensor",
        |cx, a| out(masked_fill(cx, a.tensor(0)?, a.tensor(1)?, a.scalar(2)?)),
    );
    b.add(
        "aten::masked_fill_.Tensor(Tensor(a!) self, Tensor mask, Tensor value) -> Tensor(a!)",
        |cx, a| {
            let (t, mask) = (a.tensor(0)?, a.tensor(1)?);
            broadcast_shapes(t.dims(), mask.dims())?;
            in_place(t, masked_fill_tensor(cx, t, mask, a.tensor(2)?)?)
        },
    );
    b.add(
        "aten::masked_fill_.Scalar(Tensor(a!) self, Tensor mask, Scalar value) -> Tensor(a!)",
        |cx, a| {
            let (t, mask) = (a.tensor(0)?, a.tensor(1)?);
            broadcast_shapes(t.dims(), mask.dims())?;
            in_place(t, masked_fill(cx, t, mask, a.scalar(2)?)?)
        },
    );
}

fn register_blends(b: &mut Builder) {
    b.add(
        "aten::lerp.Tensor(Tensor self, Tensor end, Tensor weight) -> Tensor",
        |cx, a| out(lerp(cx, a.tensor(0)?, a.tensor(1)?, ten(a, 2)?)),
    );
    b.add(
        "aten::lerp.Scalar(Tensor self, Tensor end, Scalar weight) -> Tensor",
        |cx, a| out(lerp(cx, a.tensor(0)?, a.tensor(1)?, num(a, 2)?)),
    );
    b.add(
        "aten::addcmul(Tensor self, Tensor tensor1, Tensor tensor2, *, Scalar value=1) -> Tensor",
        |cx, a| {
            out(addc(
                cx,
                false,
                a.tensor(0)?,
                a.tensor(1)?,
                a.tensor(2)?,
                a.scalar(3)?,
            ))
        },
    );
    b.add(
        "aten::addcdiv(Tensor self, Tensor tensor1, Tensor tensor2, *, Scalar value=1) -> Tensor",
        |cx, a| {
            out(addc(
                cx,
                true,
                a.tensor(0)?,
                a.tensor(1)?,
                a.tensor(2)?,
                a.scalar(3)?,
            ))
        },
    );
    b.add(
        "aten::lerp_.Tensor(Tensor(a!) self, Tensor end, Tensor weight) -> Tensor(a!)",
        |cx, a| {
            let t = a.tensor(0)?;
            in_place(t, lerp(cx, t, a.tensor(1)?, ten(a, 2)?)?)
        },
    );
    b.add(
        "aten::lerp_.Scalar(Tensor(a!) self, Tensor end, Scalar weight) -> Tensor(a!)",
        |cx, a| {
            let t = a.tensor(0)?;
            in_place(t, lerp(cx, t, a.tensor(1)?, num(a, 2)?)?)
        },
    );
    b.add(
        "aten::addcmul_(Tensor(a!) self, Tensor tensor1, Tensor tensor2, *, Scalar value=1) -> Tensor(a!)",
        |cx, a| {
            let t = a.tensor(0)?;
            in_place(t, addc(cx, false, t, a.tensor(1)?, a.tensor(2)?, a.scalar(3)?)?)
        },
    );
    b.add(
        "aten::addcdiv_(Tensor(a!) self, Tensor tensor1, Tensor tensor2, *, Scalar value=1) -> Tensor(a!)",
        |cx, a| {
            let t = a.tensor(0)?;
            in_place(t, addc(cx, true, t, a.tensor(1)?, a.tensor(2)?, a.scalar(3)?)?)
        },
    );
}

#[cfg(test)]
mod tests {
    //! Expected values are torch 2.15's for the same calls.
    use super::super::testing::{
        as_tensor, bools, call, call_kw, check, error, f32s, i64s, items, tensor,
    };
    use crate::ops::ScalarType::*;
    use crate::ops::Value;

    const NAN: f64 = f64::NAN;

    #[test]
    fn comparisons_use_the_common_type() {
        let h = tensor(Float16, &[1], &[0.1]);
        check(
            &call("aten::eq", &[h.clone(), Value::Float(0.1)]).unwrap(),
            Bool,
            &[1],
            &[1.0],
        );
        check(
            &call("aten::eq", &[h, f32s(&[1], &[0.1])]).unwrap(),
            Bool,
            &[1],
            &[0.0],
        );
        let u8s = tensor(UInt8, &[2], &[44.0, 200.0]);
        check(
            &call("aten::eq", &[u8s, Value::Int(300)]).unwrap(),
            Bool,
            &[2],
            &[1.0, 0.0],
        );
        check(
            &call(
                "aten::lt",
                &[i64s(&[3], &[1.0, 2.0, 3.0]), Value::Float(1.5)],
            )
            .unwrap(),
            Bool,
            &[3],
            &[1.0, 0.0, 0.0],
        );
        let x = f32s(&[2], &[NAN, 1.0]);
        check(
            &call("aten::ge", &[x.clone(), Value::Float(1.0)]).unwrap(),
            Bool,
            &[2],
            &[0.0, 1.0],
        );
        check(
            &call("aten::ne", &[x, Value::Float(f64::NAN)]).unwrap(),
            Bool,
            &[2],
            &[1.0, 1.0],
        );
        let r = call(
            "aten::eq",
            &[i64s(&[2, 1], &[1.0, 2.0]), i64s(&[3], &[1.0, 2.0, 3.0])],
        )
        .unwrap();
        check(&r, Bool, &[2, 3], &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn logical_operators_test_nonzero() {
        let r = call(
            "aten::logical_and",
            &[f32s(&[3], &[1.0, 2.0, 3.0]), f32s(&[3], &[0.0, 1.0, NAN])],
        )
        .unwrap();
        check(&r, Bool, &[3], &[0.0, 1.0, 1.0]);
        let r = call(
            "aten::logical_xor",
            &[i64s(&[2], &[0.0, 2.0]), f32s(&[2], &[1.0, 2.0])],
        )
        .unwrap();
        check(&r, Bool, &[2], &[1.0, 0.0]);
        check(
            &call("aten::logical_not", &[f32s(&[3], &[0.0, 2.0, NAN])]).unwrap(),
            Bool,
            &[3],
            &[1.0, 0.0, 0.0],
        );
    }

    #[test]
    fn where_promotes_its_values() {
        let c = bools(&[3], &[true, false, true]);
        check(
            &call(
                "aten::where",
                &[c.clone(), Value::Float(1.0), Value::Float(0.0)],
            )
            .unwrap(),
            Float32,
            &[3],
            &[1.0, 0.0, 1.0],
        );
        check(
            &call("aten::where", &[c.clone(), Value::Int(1), Value::Int(0)]).unwrap(),
            Int64,
            &[3],
            &[1.0, 0.0, 1.0],
        );
        check(
            &call(
                "aten::where",
                &[c.clone(), Value::Int(1), Value::Float(0.5)],
            )
            .unwrap(),
            Float32,
            &[3],
            &[1.0, 0.5, 1.0],
        );
        check(
            &call(
                "aten::where",
                &[c.clone(), Value::Bool(true), Value::Bool(false)],
            )
            .unwrap(),
            Bool,
            &[3],
            &[1.0, 0.0, 1.0],
        );
        let x = i64s(&[3], &[1.0, 2.0, 3.0]);
        check(
            &call("aten::where", &[c.clone(), x.clone(), Value::Float(2.5)]).unwrap(),
            Float32,
            &[3],
            &[1.0, 2.5, 3.0],
        );
        let i32s = tensor(Int32, &[3], &[1.0, 2.0, 3.0]);
        check(
            &call("aten::where", &[c, i32s, i64s(&[], &[2.0])]).unwrap(),
            Int32,
            &[3],
            &[1.0, 2.0, 3.0],
        );
        let e = error("aten::where", &[f32s(&[1], &[1.0]), x.clone(), x]);
        assert!(e.contains(
            "where expected condition to be a boolean tensor, but got a tensor with dtype Float"
        ));
        let r = call(
            "aten::where",
            &[
                bools(&[2, 1], &[true, false]),
                f32s(&[2], &[1.0, 2.0]),
                Value::Float(0.0),
            ],
        )
        .unwrap();
        check(&r, Float32, &[2, 2], &[1.0, 2.0, 0.0, 0.0]);
    }

    #[test]
    fn where_of_a_condition_gives_the_indices() {
        let r = call(
            "aten::where",
            &[bools(&[2, 2], &[true, false, false, true])],
        )
        .unwrap();
        let idx = items(&r);
        assert_eq!(idx.len(), 2);
        check(&idx[0], Int64, &[2], &[0.0, 1.0]);
        check(&idx[1], Int64, &[2], &[0.0, 1.0]);
        let r = call("aten::where", &[f32s(&[], &[0.0])]).unwrap();
        check(&items(&r)[0], Int64, &[0], &[]);
    }

    #[test]
    fn masked_fill_converts_the_value_and_broadcasts() {
        let m = bools(&[3], &[true, false, true]);
        let x = i64s(&[3], &[1.0, 2.0, 3.0]);
        check(
            &call(
                "aten::masked_fill",
                &[x.clone(), m.clone(), Value::Float(1.7)],
            )
            .unwrap(),
            Int64,
            &[3],
            &[1.0, 2.0, 1.0],
        );
        let b = bools(&[3], &[true, false, true]);
        check(
            &call("aten::masked_fill", &[b, m.clone(), Value::Int(2)]).unwrap(),
            Bool,
            &[3],
            &[1.0, 0.0, 1.0],
        );
        let v = tensor(Float64, &[], &[2.7]);
        check(
            &call("aten::masked_fill", &[x.clone(), m.clone(), v]).unwrap(),
            Int64,
            &[3],
            &[2.0, 2.0, 2.0],
        );
        let all = bools(&[2, 3], &[true; 6]);
        let r = call(
            "aten::masked_fill",
            &[f32s(&[3], &[0.0; 3]), all.clone(), Value::Float(1.0)],
        )
        .unwrap();
        check(&r, Float32, &[2, 3], &[1.0; 6]);
        let e = error(
            "aten::masked_fill_",
            &[f32s(&[3], &[0.0; 3]), all, Value::Float(1.0)],
        );
        assert!(e.contains("output with shape [3] doesn't match the broadcast shape [2, 3]"));
        let e = error(
            "aten::masked_fill",
            &[x.clone(), i64s(&[3], &[1.0, 0.0, 1.0]), Value::Int(1)],
        );
        assert!(e.contains(
            "masked_fill_ only supports boolean masks, but got mask with dtype long int"
        ));
        let e = error("aten::masked_fill", &[x, m, f32s(&[1], &[1.0])]);
        assert!(e.contains(
            "only supports a 0-dimensional value tensor, but got tensor with 1 dimension(s)."
        ));
    }

    #[test]
    fn blends_follow_pytorch() {
        let r = call(
            "aten::lerp",
            &[
                f32s(&[2], &[0.0, 1.0]),
                f32s(&[2], &[10.0, 11.0]),
                Value::Float(0.3),
            ],
        )
        .unwrap();
        check(&r, Float32, &[2], &[3.0, 4.0]);
        let w = f32s(&[2], &[0.3, 0.9]);
        let r = call(
            "aten::lerp",
            &[f32s(&[2], &[0.0, 1.0]), f32s(&[2], &[10.0, 11.0]), w],
        )
        .unwrap();
        check(&r, Float32, &[2], &[3.0, 10.0]);
        let e = error(
            "aten::lerp",
            &[
                f32s(&[2], &[0.0, 1.0]),
                tensor(Float64, &[2], &[1.0, 2.0]),
                Value::Float(0.3),
            ],
        );
        assert!(e.contains("expected dtype float for `end` but got dtype double"));
        let (a, b, c) = (
            i64s(&[2], &[1.0, 2.0]),
            i64s(&[2], &[1.0, 2.0]),
            i64s(&[2], &[3.0, 4.0]),
        );
        let r = call_kw(
            "aten::addcmul",
            &[a.clone(), b.clone(), c.clone()],
            &[("value", Value::Float(2.5))],
        )
        .unwrap();
        check(&r, Int64, &[2], &[7.0, 18.0]);
        assert!(error("aten::addcdiv", &[a, b, c.clone()])
            .contains("Integer division with addcdiv is no longer supported"));
        let r = call(
            "aten::addcdiv",
            &[i64s(&[2], &[1.0, 2.0]), f32s(&[2], &[1.0, 2.0]), c],
        )
        .unwrap();
        check(&r, Float32, &[2], &[1.3333333730697632, 2.5]);
        assert_eq!(as_tensor(&r).dims(), &[2]);
    }
}
