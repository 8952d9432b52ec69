//! Arithmetic on tensors and numbers: `add`, `sub`, `rsub`, `mul`, `div` (true, `trunc`,
//! `floor`), `floor_divide`, `remainder`, `fmod` and `atan2` with their in-place forms, and what every
//! binary operator shares ([`Binary`]: result type, checked broadcast shape, device; operands
//! converted as PyTorch converts them).
//!
//! Floats compute on candle in the compute type; integers and bool on the CPU with C++'s
//! wrapping (operands are first converted to the result type, as PyTorch converts them:
//! `uint8 + 300` adds 44), division by an integer zero refused as PyTorch's
//! `ZeroDivisionError`.

use candle_core::{DType, Device};

use super::fast::{self, Elem, Map2};
use super::kernel::{
    checked, device_of, float_binary, in_place, int_map2, operand_as, real_map2, Real, RealFn2, CT,
};
use super::promote::{broadcast_all, c10_name, compute_dtype, result_type, Operand};
use crate::error::{Error, Result};
use crate::ops::{Args, Builder, Ctx, Scalar, ScalarType, Tensor, Value};

/// Two operands with their result type, broadcast shape (checked against the element limit)
/// and device.
pub(in crate::ops) struct Binary<'a> {
    a: Operand<'a>,
    b: Operand<'a>,
    /// The result type.
    pub(in crate::ops) rt: ScalarType,
    shape: Vec<usize>,
    device: Device,
}

impl<'a> Binary<'a> {
    /// Prepares `op(a, b)`.
    pub(in crate::ops) fn new(cx: &Ctx, op: &str, a: Operand<'a>, b: Operand<'a>) -> Result<Self> {
        let shape = checked(cx, op, broadcast_all(&[a, b])?)?;
        Ok(Self {
            a,
            b,
            rt: result_type(&[a, b]),
            device: device_of(cx, &[a, b]),
            shape,
        })
    }

    /// The same operands with another result type (`div` of integers is float32).
    fn with_type(mut self, rt: ScalarType) -> Self {
        self.rt = rt;
        self
    }

    /// `f` by candle in the compute type of the (float) result type.
    pub(in crate::ops) fn candle(
        &self,
        f: impl Fn(&CT, &CT) -> candle_core::Result<CT>,
    ) -> Result<Tensor> {
        float_binary(&self.a, &self.b, &self.shape, self.rt, &self.device, f)
    }

    /// `f` by a plain loop ([`fast::binary`]) for an f32 or f64 result on the CPU whose
    /// operands it covers; `None` otherwise.
    pub(in crate::ops) fn fast(&self, f: &impl Map2) -> Option<Result<Tensor>> {
        if !self.device.is_cpu() {
            return None;
        }
        fast::binary(&self.a, &self.b, &self.shape, self.rt, f)
    }

    /// `f` on the CPU in the compute type of the (float) result type.
    pub(super) fn real(&self, f: &impl RealFn2) -> Result<Tensor> {
        real_map2(&self.a, &self.b, &self.shape, self.rt, &self.device, f)
    }

    /// `f` on the CPU after both operands are rounded to the (float) result type, as the
    /// kernels without a float32 path for numbers (`remainder`, `fmod`) take float16 and
    /// bfloat16 operands.
    fn real_rounded(&self, f: &impl RealFn2) -> Result<Tensor> {
        if compute_dtype(self.rt) == self.rt.candle() {
            return self.real(f);
        }
        let a = Rounded::new(self.a, self.rt)?;
        let b = Rounded::new(self.b, self.rt)?;
        real_map2(
            &a.operand(),
            &b.operand(),
            &self.shape,
            self.rt,
            &self.device,
            f,
        )
    }

    /// `f` on the i64 values of the operands converted to the (integer or bool) result type.
    pub(in crate::ops) fn ints(&self, f: impl Fn(i64, i64) -> Result<i64>) -> Result<Tensor> {
        let a = Converted::new(self.a, self.rt)?;
        let b = Converted::new(self.b, self.rt)?;
        int_map2(
            &a.operand(),
            &b.operand(),
            &self.shape,
            self.rt,
            &self.device,
            f,
        )
    }

    /// Both operands as candle tensors broadcast to the output shape, rounded to a float result
    /// type (held in its compute type), else as i64 (converted to the result type first).
    pub(in crate::ops) fn pair(&self) -> Result<(CT, CT)> {
        if self.rt.is_float() {
            let (held, dt) = (self.rt.candle(), compute_dtype(self.rt));
            return Ok((
                operand_as(&self.a, held, &self.shape, &self.device)?.to_dtype(dt)?,
                operand_as(&self.b, held, &self.shape, &self.device)?.to_dtype(dt)?,
            ));
        }
        let a = Converted::new(self.a, self.rt)?;
        let b = Converted::new(self.b, self.rt)?;
        Ok((
            operand_as(&a.operand(), DType::I64, &self.shape, &self.device)?,
            operand_as(&b.operand(), DType::I64, &self.shape, &self.device)?,
        ))
    }

    /// Refuses a bool result, as PyTorch's kernels without a bool version (`"name" not
    /// implemented for 'Bool'`).
    pub(super) fn no_bool(&self, kernel: &str) -> Result<()> {
        if self.rt == ScalarType::Bool {
            return Err(not_implemented(kernel, self.rt));
        }
        Ok(())
    }
}

/// PyTorch's message for a kernel without a version for `dtype`.
pub(in crate::ops) fn not_implemented(kernel: &str, dtype: ScalarType) -> Error {
    Error::Script(format!(
        "\"{kernel}\" not implemented for '{}'",
        c10_name(dtype)
    ))
}

/// An operand rounded to a float16 or bfloat16 result type.
enum Rounded<'a> {
    Scalar(Scalar),
    Tensor(&'a Tensor),
    Owned(Tensor),
}

impl<'a> Rounded<'a> {
    fn new(op: Operand<'a>, rt: ScalarType) -> Result<Self> {
        Ok(match op {
            Operand::Scalar(s) => Rounded::Scalar(Scalar::Float(round_to(s.f64(), rt))),
            Operand::Tensor(t) if t.dtype() == rt => Rounded::Tensor(t),
            Operand::Tensor(t) => Rounded::Owned(t.to_dtype(rt)?),
        })
    }

    fn operand(&self) -> Operand<'_> {
        match self {
            Rounded::Scalar(s) => Operand::Scalar(*s),
            Rounded::Tensor(t) => Operand::Tensor(t),
            Rounded::Owned(t) => Operand::Tensor(t),
        }
    }
}

/// `x` rounded to float type `dtype` (through f32, as PyTorch converts numbers).
pub(super) fn round_to(x: f64, dtype: ScalarType) -> f64 {
    match dtype {
        ScalarType::Float16 => half::f16::from_f32(x as f32).to_f64(),
        ScalarType::BFloat16 => half::bf16::from_f32(x as f32).to_f64(),
        ScalarType::Float32 => f64::from(x as f32),
        _ => x,
    }
}

/// An operand converted to the integer or bool result type as PyTorch converts its inputs to
/// the common type (wrapping, as C++ casts: `uint8 tensor <= 0-dim int64 -11` compares with
/// 245; nonzero is true for bool).
enum Converted<'a> {
    As(Operand<'a>),
    Tensor(Tensor),
}

impl<'a> Converted<'a> {
    fn new(op: Operand<'a>, rt: ScalarType) -> Result<Self> {
        Ok(match op {
            Operand::Scalar(s) => {
                let n = match s {
                    Scalar::Int(n) => n,
                    Scalar::Bool(b) => i64::from(b),
                    Scalar::Float(x) => x as i64,
                };
                Converted::As(Operand::Scalar(Scalar::Int(wrap_int(n, rt))))
            }
            Operand::Tensor(t) if t.dtype() != rt => Converted::Tensor(t.to_dtype(rt)?),
            other => Converted::As(other),
        })
    }

    fn operand(&self) -> Operand<'_> {
        match self {
            Converted::As(op) => *op,
            Converted::Tensor(t) => Operand::Tensor(t),
        }
    }
}

/// `n` converted to integer or bool type `dtype` as a C++ cast converts it, back in an i64.
pub(in crate::ops) fn wrap_int(n: i64, dtype: ScalarType) -> i64 {
    match dtype {
        ScalarType::Bool => i64::from(n != 0),
        ScalarType::UInt8 => i64::from(n as u8),
        ScalarType::Int16 => i64::from(n as i16),
        ScalarType::Int32 => i64::from(n as i32),
        _ => n,
    }
}

fn zero_division() -> Error {
    Error::Script("ZeroDivisionError".into())
}

/// PyTorch's `alpha_check`.
fn check_alpha(rt: ScalarType, alpha: Scalar) -> Result<()> {
    if matches!(alpha, Scalar::Bool(_)) && rt != ScalarType::Bool {
        return Err(Error::Script(
            "Boolean alpha only supported for Boolean results.".into(),
        ));
    }
    if !rt.is_float() && matches!(alpha, Scalar::Float(_)) {
        return Err(Error::Script(
            "For integral input tensors, argument alpha must not be a floating point number."
                .into(),
        ));
    }
    Ok(())
}

/// A number as an int (floats truncated, saturating).
pub(super) fn scalar_int(s: Scalar) -> i64 {
    match s {
        Scalar::Int(n) => n,
        Scalar::Bool(b) => i64::from(b),
        Scalar::Float(x) => x as i64,
    }
}

/// `x ± alpha · y` as the candle path computes it: `x ± y` for `alpha == 1`, else
/// `x ± (y · alpha + 0)` (candle's `affine`).
struct Scaled {
    alpha: f64,
    negate: bool,
}

impl Scaled {
    fn add(alpha: f64) -> Self {
        Self {
            alpha,
            negate: false,
        }
    }

    fn sub(alpha: f64) -> Self {
        Self {
            alpha,
            negate: true,
        }
    }
}

impl Map2 for Scaled {
    fn kernel<T: Elem>(&self) -> impl Fn(T, T) -> T {
        let (plain, negate) = (self.alpha == 1.0, self.negate);
        let (al, zero) = (T::from_f64(self.alpha), T::from_f64(0.0));
        move |x, y| {
            let y = if plain { y } else { y * al + zero };
            if negate {
                x - y
            } else {
                x + y
            }
        }
    }
}

/// `x · y`.
struct Mul;
impl Map2 for Mul {
    fn kernel<T: Elem>(&self) -> impl Fn(T, T) -> T {
        |x, y| x * y
    }
}

/// `x / y`.
struct Div;
impl Map2 for Div {
    fn kernel<T: Elem>(&self) -> impl Fn(T, T) -> T {
        |x, y| x / y
    }
}

/// `a + alpha * b`.
pub(in crate::ops) fn add(cx: &Ctx, a: Operand, b: Operand, alpha: Scalar) -> Result<Tensor> {
    let p = Binary::new(cx, "aten::add", a, b)?;
    check_alpha(p.rt, alpha)?;
    if p.rt.is_float() {
        let al = alpha.f64();
        if let Some(t) = p.fast(&Scaled::add(al)) {
            return t;
        }
        p.candle(|x, y| {
            if al == 1.0 {
                x.add(y)
            } else {
                x.add(&y.affine(al, 0.0)?)
            }
        })
    } else {
        let al = scalar_int(alpha);
        p.ints(|x, y| Ok(x.wrapping_add(y.wrapping_mul(al))))
    }
}

fn operand_dtype(op: &Operand) -> ScalarType {
    match op {
        Operand::Tensor(t) => t.dtype(),
        Operand::Scalar(s) => s.dtype(),
    }
}

/// `a - alpha * b`; bool operands are refused, as PyTorch refuses them.
pub(in crate::ops) fn sub(cx: &Ctx, a: Operand, b: Operand, alpha: Scalar) -> Result<Tensor> {
    let (da, db) = (operand_dtype(&a), operand_dtype(&b));
    if da == ScalarType::Bool && db == ScalarType::Bool {
        return Err(Error::Script(
            "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` \
             or `logical_xor()` operator instead."
                .into(),
        ));
    }
    if da == ScalarType::Bool || db == ScalarType::Bool {
        return Err(Error::Script(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are \
             trying to invert a mask, use the `~` or `logical_not()` operator instead."
                .into(),
        ));
    }
    let p = Binary::new(cx, "aten::sub", a, b)?;
    check_alpha(p.rt, alpha)?;
    if p.rt.is_float() {
        let al = alpha.f64();
        if let Some(t) = p.fast(&Scaled::sub(al)) {
            return t;
        }
        p.candle(|x, y| {
            if al == 1.0 {
                x.sub(y)
            } else {
                x.sub(&y.affine(al, 0.0)?)
            }
        })
    } else {
        let al = scalar_int(alpha);
        p.ints(|x, y| Ok(x.wrapping_sub(y.wrapping_mul(al))))
    }
}

/// `a * b`.
pub(in crate::ops) fn mul(cx: &Ctx, a: Operand, b: Operand) -> Result<Tensor> {
    let p = Binary::new(cx, "aten::mul", a, b)?;
    if p.rt.is_float() {
        if let Some(t) = p.fast(&Mul) {
            return t;
        }
        p.candle(|x, y| x.mul(y))
    } else {
        p.ints(|x, y| Ok(x.wrapping_mul(y)))
    }
}

/// `a / b`, rounded as `rounding_mode` says (`None`: true division, float32 for integers;
/// `"trunc"`, `"floor"`: in the result type).
pub(in crate::ops) fn div(cx: &Ctx, a: Operand, b: Operand, mode: Option<&str>) -> Result<Tensor> {
    let p = Binary::new(cx, "aten::div", a, b)?;
    match mode {
        None => {
            let rt = if p.rt.is_float() {
                p.rt
            } else {
                ScalarType::Float32
            };
            let p = p.with_type(rt);
            if let Some(t) = p.fast(&Div) {
                return t;
            }
            p.candle(|x, y| x.div(y))
        }
        Some("trunc") => {
            p.no_bool("div_trunc_cpu")?;
            if p.rt.is_float() {
                p.real(&DivTrunc)
            } else {
                p.ints(|x, y| {
                    if y == 0 {
                        Err(zero_division())
                    } else {
                        Ok(x.wrapping_div(y))
                    }
                })
            }
        }
        Some("floor") => floor_divide(p),
        Some(other) => Err(Error::Script(format!(
            "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{other}'"
        ))),
    }
}

struct DivTrunc;
impl RealFn2 for DivTrunc {
    fn call<T: Real>(&self, a: T, b: T) -> T {
        (a / b).trunc()
    }
}

/// PyTorch's `div_floor_floating`: Python's `//` on floats.
struct DivFloor;
impl RealFn2 for DivFloor {
    fn call<T: Real>(&self, a: T, b: T) -> T {
        let zero = T::from_f64(0.0);
        let one = T::from_f64(1.0);
        if b == zero {
            return a / b;
        }
        let m = a % b;
        let mut d = (a - m) / b;
        if m != zero && (b < zero) != (m < zero) {
            d -= one;
        }
        if d != zero {
            let mut f = d.floor();
            if d - f > T::from_f64(0.5) {
                f += one;
            }
            f
        } else {
            zero.copysign(a / b)
        }
    }
}

fn floor_divide(p: Binary) -> Result<Tensor> {
    p.no_bool("div_floor_cpu")?;
    if p.rt.is_float() {
        p.real(&DivFloor)
    } else {
        p.ints(|x, y| {
            if y == 0 {
                return Err(zero_division());
            }
            let q = x.wrapping_div(y);
            Ok(if (x < 0) != (y < 0) && x.wrapping_rem(y) != 0 {
                q - 1
            } else {
                q
            })
        })
    }
}

/// Python's `%`: the remainder with the divisor's sign.
struct Remainder;
impl RealFn2 for Remainder {
    fn call<T: Real>(&self, a: T, b: T) -> T {
        let zero = T::from_f64(0.0);
        let m = a % b;
        if m != zero && (b < zero) != (m < zero) {
            m + b
        } else {
            m
        }
    }
}

/// C's `fmod`: the remainder with the dividend's sign.
struct Fmod;
impl RealFn2 for Fmod {
    fn call<T: Real>(&self, a: T, b: T) -> T {
        a % b
    }
}

fn remainder(cx: &Ctx, a: Operand, b: Operand) -> Result<Tensor> {
    let p = Binary::new(cx, "aten::remainder", a, b)?;
    p.no_bool("remainder_cpu")?;
    if p.rt.is_float() {
        p.real_rounded(&Remainder)
    } else {
        p.ints(|x, y| {
            if y == 0 {
                return Err(zero_division());
            }
            let r = x.wrapping_rem(y);
            Ok(if r != 0 && (r < 0) != (y < 0) {
                r + y
            } else {
                r
            })
        })
    }
}

fn fmod(cx: &Ctx, a: Operand, b: Operand) -> Result<Tensor> {
    let p = Binary::new(cx, "aten::fmod", a, b)?;
    p.no_bool("fmod_cpu")?;
    if p.rt.is_float() {
        p.real_rounded(&Fmod)
    } else {
        p.ints(|x, y| {
            if y == 0 {
                Err(zero_division())
            } else {
                Ok(x.wrapping_rem(y))
            }
        })
    }
}

struct Atan2;
impl RealFn2 for Atan2 {
    fn call<T: Real>(&self, a: T, b: T) -> T {
        a.atan2(b)
    }
}

/// `atan2(a, b)`, the angle of the point `(b, a)`: a binary float operator, so integer and
/// bool operands give float32; float16 and bfloat16 operands are rounded to the result type
/// first, as PyTorch's kernel takes them.
fn atan2(cx: &Ctx, a: Operand, b: Operand) -> Result<Tensor> {
    let p = Binary::new(cx, "aten::atan2", a, b)?;
    let rt = if p.rt.is_float() {
        p.rt
    } else {
        ScalarType::Float32
    };
    p.with_type(rt).real_rounded(&Atan2)
}

/// The tensor argument `i` as an operand.
pub(super) fn ten(a: &Args, i: usize) -> Result<Operand<'_>> {
    Ok(Operand::Tensor(a.tensor(i)?))
}

/// The number argument `i` as an operand.
pub(super) fn num(a: &Args, i: usize) -> Result<Operand<'_>> {
    Ok(Operand::Scalar(a.scalar(i)?))
}

/// A tensor result as a value.
pub(super) fn out(t: Result<Tensor>) -> Result<Value> {
    t.map(Value::Tensor)
}

fn mode(a: &Args, i: usize) -> Result<Option<&str>> {
    match a.value(i) {
        Value::None => Ok(None),
        _ => a.str(i).map(Some),
    }
}

/// Registers the arithmetic operators, tensor overloads first.
pub(super) fn register(b: &mut Builder) {
    register_add_sub(b);
    register_mul_div(b);
    register_remainders(b);
}

fn register_add_sub(b: &mut Builder) {
    b.add(
        "aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor",
        |cx, a| out(add(cx, ten(a, 0)?, ten(a, 1)?, a.scalar(2)?)),
    );
    b.add(
        "aten::add.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor",
        |cx, a| out(add(cx, ten(a, 0)?, num(a, 1)?, a.scalar(2)?)),
    );
    b.add(
        "aten::add_.Tensor(Tensor(a!) self, Tensor other, *, Scalar alpha=1) -> Tensor(a!)",
        |cx, a| in_place(a.tensor(0)?, add(cx, ten(a, 0)?, ten(a, 1)?, a.scalar(2)?)?),
    );
    b.add(
        "aten::add_.Scalar(Tensor(a!) self, Scalar other, Scalar alpha=1) -> Tensor(a!)",
        |cx, a| in_place(a.tensor(0)?, add(cx, ten(a, 0)?, num(a, 1)?, a.scalar(2)?)?),
    );
    b.add(
        "aten::sub.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor",
        |cx, a| out(sub(cx, ten(a, 0)?, ten(a, 1)?, a.scalar(2)?)),
    );
    b.add(
        "aten::sub.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor",
        |cx, a| out(sub(cx, ten(a, 0)?, num(a, 1)?, a.scalar(2)?)),
    );
    b.add(
        "aten::sub_.Tensor(Tensor(a!) self, Tensor other, *, Scalar alpha=1) -> Tensor(a!)",
        |cx, a| in_place(a.tensor(0)?, sub(cx, ten(a, 0)?, ten(a, 1)?, a.scalar(2)?)?),
    );
    b.add(
        "aten::sub_.Scalar(Tensor(a!) self, Scalar other, Scalar alpha=1) -> Tensor(a!)",
        |cx, a| in_place(a.tensor(0)?, sub(cx, ten(a, 0)?, num(a, 1)?, a.scalar(2)?)?),
    );
    b.add(
        "aten::rsub.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor",
        |cx, a| out(sub(cx, ten(a, 1)?, ten(a, 0)?, a.scalar(2)?)),
    );
    b.add(
        "aten::rsub.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor",
        |cx, a| out(sub(cx, num(a, 1)?, ten(a, 0)?, a.scalar(2)?)),
    );
}

fn register_mul_div(b: &mut Builder) {
    b.add(
        "aten::mul.Tensor(Tensor self, Tensor other) -> Tensor",
        |cx, a| out(mul(cx, ten(a, 0)?, ten(a, 1)?)),
    );
    b.add(
        "aten::mul.Scalar(Tensor self, Scalar other) -> Tensor",
        |cx, a| out(mul(cx, ten(a, 0)?, num(a, 1)?)),
    );
    b.add(
        "aten::mul_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)",
        |cx, a| in_place(a.tensor(0)?, mul(cx, ten(a, 0)?, ten(a, 1)?)?),
    );
    b.add(
        "aten::mul_.Scalar(Tensor(a!) self, Scalar other) -> Tensor(a!)",
        |cx, a| in_place(a.tensor(0)?, mul(cx, ten(a, 0)?, num(a, 1)?)?),
    );
    b.add(
        "aten::div.Tensor(Tensor self, Tensor other) -> Tensor",
        |cx, a| out(div(cx, ten(a, 0)?, ten(a, 1)?, None)),
    );
    b.add(
        "aten::div.Tensor_mode(Tensor self, Tensor other, *, str? rounding_mode) -> Tensor",
        |cx, a| out(div(cx, ten(a, 0)?, ten(a, 1)?, mode(a, 2)?)),
    );
    b.add(
        "aten::div.Scalar(Tensor self, Scalar other) -> Tensor",
        |cx, a| out(div(cx, ten(a, 0)?, num(a, 1)?, None)),
    );
    b.add(
        "aten::div.Scalar_mode(Tensor self, Scalar other, *, str? rounding_mode) -> Tensor",
        |cx, a| out(div(cx, ten(a, 0)?, num(a, 1)?, mode(a, 2)?)),
    );
    b.add(
        "aten::div_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)",
        |cx, a| in_place(a.tensor(0)?, div(cx, ten(a, 0)?, ten(a, 1)?, None)?),
    );
    b.add("aten::div_.Tensor_mode(Tensor(a!) self, Tensor other, *, str? rounding_mode) -> Tensor(a!)", |cx, a| {
        in_place(a.tensor(0)?, div(cx, ten(a, 0)?, ten(a, 1)?, mode(a, 2)?)?)
    });
    b.add(
        "aten::div_.Scalar(Tensor(a!) self, Scalar other) -> Tensor(a!)",
        |cx, a| in_place(a.tensor(0)?, div(cx, ten(a, 0)?, num(a, 1)?, None)?),
    );
    b.add("aten::div_.Scalar_mode(Tensor(a!) self, Scalar other, *, str? rounding_mode) -> Tensor(a!)", |cx, a| {
        in_place(a.tensor(0)?, div(cx, ten(a, 0)?, num(a, 1)?, mode(a, 2)?)?)
    });
    b.add(
        "aten::floor_divide(Tensor self, Tensor other) -> Tensor",
        |cx, a| out(div(cx, ten(a, 0)?, ten(a, 1)?, Some("floor"))),
    );
    b.add(
        "aten::floor_divide.Scalar(Tensor self, Scalar other) -> Tensor",
        |cx, a| out(div(cx, ten(a, 0)?, num(a, 1)?, Some("floor"))),
    );
    b.add(
        "aten::floor_divide_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)",
        |cx, a| {
            in_place(
                a.tensor(0)?,
                div(cx, ten(a, 0)?, ten(a, 1)?, Some("floor"))?,
            )
        },
    );
    b.add(
        "aten::floor_divide_.Scalar(Tensor(a!) self, Scalar other) -> Tensor(a!)",
        |cx, a| {
            in_place(
                a.tensor(0)?,
                div(cx, ten(a, 0)?, num(a, 1)?, Some("floor"))?,
            )
        },
    );
}

fn register_remainders(b: &mut Builder) {
    b.add(
        "aten::remainder.Tensor(Tensor self, Tensor other) -> Tensor",
        |cx, a| out(remainder(cx, ten(a, 0)?, ten(a, 1)?)),
    );
    b.add(
        "aten::remainder.Scalar(Tensor self, Scalar other) -> Tensor",
        |cx, a| out(remainder(cx, ten(a, 0)?, num(a, 1)?)),
    );
    b.add(
        "aten::remainder.Scalar_Tensor(Scalar self, Tensor other) -> Tensor",
        |cx, a| out(remainder(cx, num(a, 0)?, ten(a, 1)?)),
    );
    b.add(
        "aten::fmod.Tensor(Tensor self, Tensor other) -> Tensor",
        |cx, a| out(fmod(cx, ten(a, 0)?, ten(a, 1)?)),
    );
    b.add(
        "aten::fmod.Scalar(Tensor self, Scalar other) -> Tensor",
        |cx, a| out(fmod(cx, ten(a, 0)?, num(a, 1)?)),
    );
    b.add(
        "aten::remainder_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)",
        |cx, a| in_place(a.tensor(0)?, remainder(cx, ten(a, 0)?, ten(a, 1)?)?),
    );
    b.add(
        "aten::remainder_.Scalar(Tensor(a!) self, Scalar other) -> Tensor(a!)",
        |cx, a| in_place(a.tensor(0)?, remainder(cx, ten(a, 0)?, num(a, 1)?)?),
    );
    b.add(
        "aten::fmod_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)",
        |cx, a| in_place(a.tensor(0)?, fmod(cx, ten(a, 0)?, ten(a, 1)?)?),
    );
    b.add(
        "aten::fmod_.Scalar(Tensor(a!) self, Scalar other) -> Tensor(a!)",
        |cx, a| in_place(a.tensor(0)?, fmod(cx, ten(a, 0)?, num(a, 1)?)?),
    );
    b.add(
        "aten::atan2(Tensor self, Tensor other) -> Tensor",
        |cx, a| out(atan2(cx, ten(a, 0)?, ten(a, 1)?)),
    );
    b.add(
        "aten::atan2_(Tensor(a!) self, Tensor other) -> Tensor(a!)",
        |cx, a| in_place(a.tensor(0)?, atan2(cx, ten(a, 0)?, ten(a, 1)?)?),
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
    fn numbers_and_0_dim_tensors_promote_as_pytorch() {
        let x = i64s(&[3], &[1.0, 2.0, 3.0]);
        check(
            &call("aten::add", &[x.clone(), Value::Float(2.5)]).unwrap(),
            Float32,
            &[3],
            &[3.5, 4.5, 5.5],
        );
        let f64_0 = tensor(Float64, &[], &[1.5]);
        check(
            &call("aten::add", &[x.clone(), f64_0]).unwrap(),
            Float64,
            &[3],
            &[2.5, 3.5, 4.5],
        );
        let u8s = tensor(UInt8, &[2], &[1.0, 2.0]);
        check(
            &call("aten::add", &[u8s.clone(), Value::Int(300)]).unwrap(),
            UInt8,
            &[2],
            &[45.0, 46.0],
        );
        check(
            &call("aten::sub", &[u8s, Value::Int(5)]).unwrap(),
            UInt8,
            &[2],
            &[252.0, 253.0],
        );
        let h = tensor(Float16, &[1], &[1.0]);
        check(
            &call("aten::add", &[h, Value::Float(0.1)]).unwrap(),
            Float16,
            &[1],
            &[1.099609375],
        );
        check(
            &call("aten::div", &[x, Value::Int(2)]).unwrap(),
            Float32,
            &[3],
            &[0.5, 1.0, 1.5],
        );
    }

    #[test]
    fn bool_arithmetic_and_alpha_follow_pytorch() {
        let b = bools(&[3], &[true, false, true]);
        check(
            &call("aten::add", &[b.clone(), b.clone()]).unwrap(),
            Bool,
            &[3],
            &[1.0, 0.0, 1.0],
        );
        check(
            &call("aten::add", &[b.clone(), Value::Int(1)]).unwrap(),
            Int64,
            &[3],
            &[2.0, 1.0, 2.0],
        );
        assert!(error("aten::sub", &[b.clone(), b.clone()]).contains("with two bool tensors"));
        assert!(error("aten::sub", &[f32s(&[3], &[1.0; 3]), b]).contains("with a bool tensor"));
        let x = i64s(&[3], &[1.0, 2.0, 3.0]);
        let e = call_kw(
            "aten::add",
            &[x.clone(), x.clone()],
            &[("alpha", Value::Float(1.5))],
        )
        .unwrap_err();
        assert!(e
            .to_string()
            .contains("alpha must not be a floating point number"));
        let r = call_kw(
            "aten::sub",
            &[f32s(&[2], &[1.0, 2.0]), f32s(&[2], &[1.0, 2.0])],
            &[("alpha", Value::Float(0.5))],
        );
        check(&r.unwrap(), Float32, &[2], &[0.5, 1.0]);
        check(
            &call("aten::rsub", &[x, Value::Int(10), Value::Int(2)]).unwrap(),
            Int64,
            &[3],
            &[8.0, 6.0, 4.0],
        );
    }

    #[test]
    fn integer_division_keeps_python_signs_and_refuses_zero() {
        let a = i64s(&[4], &[-7.0, 7.0, -7.0, 7.0]);
        let b = i64s(&[4], &[2.0, -2.0, -2.0, 2.0]);
        check(
            &call("aten::floor_divide", &[a.clone(), b.clone()]).unwrap(),
            Int64,
            &[4],
            &[-4.0, -4.0, 3.0, 3.0],
        );
        check(
            &call("aten::remainder", &[a.clone(), b.clone()]).unwrap(),
            Int64,
            &[4],
            &[1.0, -1.0, -1.0, 1.0],
        );
        check(
            &call("aten::fmod", &[a.clone(), b]).unwrap(),
            Int64,
            &[4],
            &[-1.0, 1.0, -1.0, 1.0],
        );
        assert!(
            error("aten::floor_divide", &[a.clone(), Value::Int(0)]).ends_with("ZeroDivisionError")
        );
        assert!(error("aten::remainder", &[a, Value::Int(0)]).ends_with("ZeroDivisionError"));
        let u8s = tensor(UInt8, &[2], &[44.0, 200.0]);
        check(
            &call("aten::remainder", &[u8s, Value::Int(-1)]).unwrap(),
            UInt8,
            &[2],
            &[44.0, 200.0],
        );
        let bb = bools(&[1], &[true]);
        assert!(error("aten::floor_divide", &[bb.clone(), bb])
            .contains("\"div_floor_cpu\" not implemented for 'Bool'"));
    }

    #[test]
    fn float_division_modes_follow_pytorch() {
        let a = f32s(&[7], &[-7.5, 7.5, -7.5, 7.5, 1.0, -1.0, 0.0]);
        let b = f32s(&[7], &[2.0, -2.0, -2.0, 2.0, 0.0, 0.0, 0.0]);
        check(
            &call("aten::floor_divide", &[a.clone(), b.clone()]).unwrap(),
            Float32,
            &[7],
            &[-4.0, -4.0, 3.0, 3.0, INF, -INF, NAN],
        );
        let r = call("aten::remainder", &[a.clone(), b.clone()]).unwrap();
        check(&r, Float32, &[7], &[0.5, -0.5, -1.5, 1.5, NAN, NAN, NAN]);
        let r = call_kw(
            "aten::div",
            &[a.clone(), b.clone()],
            &[("rounding_mode", Value::str("trunc"))],
        )
        .unwrap();
        check(&r, Float32, &[7], &[-3.0, -3.0, 3.0, 3.0, INF, -INF, NAN]);
        let e = call_kw(
            "aten::div",
            &[a, b],
            &[("rounding_mode", Value::str("bad"))],
        )
        .unwrap_err();
        assert!(e.to_string().contains("but found 'bad'"));
        let x = f32s(&[1], &[0.3]);
        check(
            &call("aten::floor_divide", &[x, Value::Float(0.1)]).unwrap(),
            Float32,
            &[1],
            &[3.0],
        );
    }

    #[test]
    fn shapes_broadcast_within_the_limit() {
        let r = call(
            "aten::mul",
            &[f32s(&[2, 1], &[1.0, 2.0]), f32s(&[3], &[1.0, 2.0, 3.0])],
        )
        .unwrap();
        check(&r, Float32, &[2, 3], &[1.0, 2.0, 3.0, 2.0, 4.0, 6.0]);
        let e = error(
            "aten::add",
            &[f32s(&[2, 3], &[0.0; 6]), f32s(&[4], &[0.0; 4])],
        );
        assert!(e.contains("The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1"));
        let limits = crate::limits::Limits {
            max_elements: 4,
            ..Default::default()
        };
        let cx = crate::ops::Ctx {
            limits: &limits,
            device: &candle_core::Device::Cpu,
            constants: None,
        };
        let args = [f32s(&[3, 1], &[0.0; 3]), f32s(&[3], &[0.0; 3])];
        let e = crate::ops::Registry::get()
            .call(&cx, "aten::add", &args, &[])
            .unwrap_err();
        assert!(e.to_string().contains("max_elements"), "{e}");
    }

    #[test]
    fn in_place_forms_keep_the_tensor_type_and_shape() {
        let x = i64s(&[2], &[1.0, 2.0]);
        assert!(error("aten::add_", &[x.clone(), Value::Float(1.5)])
            .contains("result type Float can't be cast to the desired output type Long"));
        let e = error(
            "aten::add_",
            &[f32s(&[2], &[1.0, 2.0]), f32s(&[2, 2], &[1.0; 4])],
        );
        assert!(e.contains("output with shape [2] doesn't match the broadcast shape [2, 2]"));
        let h = tensor(Float16, &[2], &[1.0, 2.0]);
        let r = call("aten::add_", &[h, f32s(&[2], &[0.1, 0.1])]).unwrap();
        check(&r, Float16, &[2], &[1.099609375, 2.099609375]);
        let r = call_kw(
            "aten::div_",
            &[x, Value::Int(2)],
            &[("rounding_mode", Value::str("floor"))],
        )
        .unwrap();
        check(&r, Int64, &[2], &[0.0, 1.0]);
    }

    #[test]
    fn atan2_is_a_binary_float_operator() {
        // torch 2.15.0.
        let a = f32s(&[2, 2], &[1.0, -1.0, 0.0, 0.0]);
        let b = f32s(&[2], &[2.0, -3.0]);
        check(
            &call("aten::atan2", &[a.clone(), b.clone()]).unwrap(),
            Float32,
            &[2, 2],
            &[
                0.46364760398864746,
                -2.8198421001434326,
                0.0,
                3.1415927410125732,
            ],
        );
        let signed = call(
            "aten::atan2",
            &[
                f32s(&[4], &[0.0, -0.0, 0.0, -0.0]),
                f32s(&[4], &[0.0, 0.0, -0.0, -0.0]),
            ],
        )
        .unwrap();
        check(
            &signed,
            Float32,
            &[4],
            &[0.0, -0.0, 3.1415927410125732, -3.1415927410125732],
        );
        let (_, _, v) = super::super::testing::read(&signed);
        assert!(v[1].is_sign_negative());
        check(
            &call(
                "aten::atan2",
                &[i64s(&[2], &[1.0, -2.0]), i64s(&[2], &[3.0, 1.0])],
            )
            .unwrap(),
            Float32,
            &[2],
            &[0.32175055146217346, -1.1071487665176392],
        );
        // A 0-dim float64 operand decides the type against an integer tensor.
        check(
            &call(
                "aten::atan2",
                &[i64s(&[2], &[1.0, -2.0]), tensor(Float64, &[], &[2.0])],
            )
            .unwrap(),
            Float64,
            &[2],
            &[0.4636476090008061, -std::f64::consts::FRAC_PI_4],
        );
        check(
            &call(
                "aten::atan2",
                &[tensor(Float16, &[2], &[1.0, 2.0]), f32s(&[2], &[3.0, 1.0])],
            )
            .unwrap(),
            Float32,
            &[2],
            &[0.32175055146217346, 1.1071487665176392],
        );
        check(
            &call("aten::atan2", &[bools(&[1], &[true]), bools(&[1], &[true])]).unwrap(),
            Float32,
            &[1],
            &[0.7853981852531433],
        );
        check(
            &call(
                "aten::atan2_",
                &[f32s(&[2], &[1.0, 2.0]), i64s(&[2], &[1.0, 2.0])],
            )
            .unwrap(),
            Float32,
            &[2],
            &[0.7853981852531433, 0.7853981852531433],
        );
        assert!(error("aten::atan2", &[f32s(&[2], &[0.0; 2]), f32s(&[3], &[0.0; 3])]).contains(
            "The size of tensor a (2) must match the size of tensor b (3) at non-singleton dimension 0"
        ));
        assert!(error(
            "aten::atan2_",
            &[i64s(&[2], &[1.0, 2.0]), f32s(&[2], &[1.0, 2.0])]
        )
        .contains("result type Float can't be cast to the desired output type Long"));
        assert!(error(
            "aten::atan2_",
            &[f32s(&[2], &[1.0, 2.0]), f32s(&[1, 2], &[1.0, 2.0])]
        )
        .contains("output with shape [2] doesn't match the broadcast shape [1, 2]"));
    }
}
