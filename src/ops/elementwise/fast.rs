//! Fast paths for small tensors: f32 and f64 tensors on the CPU whose elements are contiguous,
//! computed by plain loops over their slices into one new buffer. candle's ops allocate a
//! tensor per step and some hand their work to rayon, which costs more than the arithmetic of
//! the tensors small models pass (a few hundred elements).
//!
//! Each function here returns `None` where it does not apply (another device or type, a
//! strided view, a broadcast it does not cover), and the caller then takes its candle path.
//! Each computes exactly what that candle path computes, operation by operation in the same
//! type (candle's CPU loops are the same scalar expressions), so that both give the same bits.

use candle_core::{Device, Layout, Storage, StorageRef, WithDType};

use super::kernel::{Real, CT};
use super::promote::Operand;
use crate::error::Result;
use crate::ops::{ScalarType, Tensor};

/// f32 and f64, with the functions the fast paths compute (as candle's CPU kernels compute
/// them: Rust's `exp` and `tanh`, candle's `erf`).
pub(in crate::ops) trait Elem: Real {
    /// `exp`.
    fn exp(self) -> Self;
    /// `tanh`.
    fn tanh(self) -> Self;
    /// candle's `erf`.
    fn erf(self) -> Self;
    /// Whether it is NaN.
    fn is_nan(self) -> bool;
    /// candle's `gelu_erf` (`(erf(x / √2) + 1) · 0.5 · x`).
    fn gelu_erf(self) -> Self;
    /// candle's `gelu` (the tanh approximation).
    fn gelu_tanh(self) -> Self;
}

impl Elem for f32 {
    fn exp(self) -> Self {
        f32::exp(self)
    }
    fn tanh(self) -> Self {
        f32::tanh(self)
    }
    fn erf(self) -> Self {
        candle_core::cpu::erf::erf_f32(self)
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn gelu_erf(self) -> Self {
        (candle_core::cpu::erf::erf_f32(self * std::f32::consts::FRAC_1_SQRT_2) + 1.) * 0.5 * self
    }
    fn gelu_tanh(self) -> Self {
        const SQRT_TWO_OVER_PI: f32 = 0.797_884_6;
        0.5 * self * (1.0 + f32::tanh(SQRT_TWO_OVER_PI * self * (1.0 + 0.044715 * self * self)))
    }
}

impl Elem for f64 {
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn tanh(self) -> Self {
        f64::tanh(self)
    }
    fn erf(self) -> Self {
        candle_core::cpu::erf::erf_f64(self)
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn gelu_erf(self) -> Self {
        (candle_core::cpu::erf::erf_f64(self * std::f64::consts::FRAC_1_SQRT_2) + 1.) * 0.5 * self
    }
    fn gelu_tanh(self) -> Self {
        const SQRT_TWO_OVER_PI: f64 = 0.797_884_560_802_865_4;
        0.5 * self * (1.0 + f64::tanh(SQRT_TWO_OVER_PI * self * (1.0 + 0.044715 * self * self)))
    }
}

/// A function of one element, for [`map`]: `kernel` gives the loop's body in `T`, its
/// constants converted once.
pub(in crate::ops) trait Map1 {
    /// The function in `T`.
    fn kernel<T: Elem>(&self) -> impl Fn(T) -> T;
}

/// A function of two elements, for [`binary`].
pub(in crate::ops) trait Map2 {
    /// The function in `T`.
    fn kernel<T: Elem>(&self) -> impl Fn(T, T) -> T;
}

/// `relu` on floats, as the candle path computes it: `x <= 0 ? 0 : x` (NaN stays NaN).
pub(in crate::ops) struct Relu;
impl Map1 for Relu {
    fn kernel<T: Elem>(&self) -> impl Fn(T) -> T {
        let zero = T::from_f64(0.0);
        move |x| if x <= zero { zero } else { x }
    }
}

/// `silu`: `x / (exp(-x) + 1)`.
pub(in crate::ops) struct Silu;
impl Map1 for Silu {
    fn kernel<T: Elem>(&self) -> impl Fn(T) -> T {
        let one = T::from_f64(1.0);
        move |x| x / ((-x).exp() + one)
    }
}

/// `gelu`, exact (`erf`) or with the tanh approximation.
pub(in crate::ops) struct Gelu {
    /// The tanh approximation.
    pub tanh: bool,
}
impl Map1 for Gelu {
    fn kernel<T: Elem>(&self) -> impl Fn(T) -> T {
        let tanh = self.tanh;
        move |x: T| if tanh { x.gelu_tanh() } else { x.gelu_erf() }
    }
}

/// The floating functions of one tensor with a fast path, by PyTorch's name.
#[derive(Clone, Copy)]
pub(in crate::ops) enum Floating {
    Exp,
    Sqrt,
    Rsqrt,
    Reciprocal,
    Tanh,
    Sigmoid,
    Erf,
}

impl Floating {
    /// The function called `name`, if it has a fast path.
    pub(in crate::ops) fn named(name: &str) -> Option<Self> {
        Some(match name {
            "exp" => Self::Exp,
            "sqrt" => Self::Sqrt,
            "rsqrt" => Self::Rsqrt,
            "reciprocal" => Self::Reciprocal,
            "tanh" => Self::Tanh,
            "sigmoid" => Self::Sigmoid,
            "erf" => Self::Erf,
            _ => return None,
        })
    }
}

impl Map1 for Floating {
    fn kernel<T: Elem>(&self) -> impl Fn(T) -> T {
        let f = *self;
        let one = T::from_f64(1.0);
        move |x: T| match f {
            Self::Exp => x.exp(),
            Self::Sqrt => x.sqrt(),
            Self::Rsqrt => one / x.sqrt(),
            Self::Reciprocal => one / x,
            Self::Tanh => x.tanh(),
            Self::Sigmoid => one / ((-x).exp() + one),
            Self::Erf => x.erf(),
        }
    }
}

/// `min(max(x, lo), hi)` with number bounds (either may be absent), NaN propagating from `x`
/// and from the bounds, as the candle path's `maximum` then `minimum`: a minimum above the
/// maximum gives the maximum.
pub(in crate::ops) struct Clamp {
    /// The lower bound.
    pub lo: Option<f64>,
    /// The upper bound.
    pub hi: Option<f64>,
}
impl Map1 for Clamp {
    fn kernel<T: Elem>(&self) -> impl Fn(T) -> T {
        let lo = self.lo.map(T::from_f64);
        let hi = self.hi.map(T::from_f64);
        move |x: T| {
            let mut y = x;
            if let Some(lo) = lo {
                y = if y.is_nan() {
                    y
                } else if lo.is_nan() || y < lo {
                    lo
                } else {
                    y
                };
            }
            if let Some(hi) = hi {
                y = if y.is_nan() {
                    y
                } else if hi.is_nan() || y > hi {
                    hi
                } else {
                    y
                };
            }
            y
        }
    }
}

/// A tensor's storage held for reading, and its layout.
type Held<'a> = (StorageRef<'a>, &'a Layout);

/// The contiguous elements of a held CPU storage of `T`.
fn elements<'a, T: WithDType>(held: &'a Held<'_>) -> Option<&'a [T]> {
    let Storage::Cpu(cpu) = &*held.0 else {
        return None;
    };
    let (start, end) = held.1.contiguous_offsets()?;
    cpu.as_slice::<T>().ok()?.get(start..end)
}

/// `x + y`.
pub(in crate::ops) struct Sum;
impl Map2 for Sum {
    fn kernel<T: Elem>(&self) -> impl Fn(T, T) -> T {
        |x, y| x + y
    }
}

/// A tensor's storage held for reading, for a kernel that reads several tensors' slices.
pub(in crate::ops) struct Read<'a>(Held<'a>);

impl<'a> Read<'a> {
    /// Holds `t`'s storage.
    pub(in crate::ops) fn new(t: &'a CT) -> Self {
        Self(t.storage_and_layout())
    }

    /// Its contiguous elements, if it is a CPU tensor of `T`.
    pub(in crate::ops) fn slice<T: WithDType>(&self) -> Option<&[T]> {
        elements(&self.0)
    }
}

/// `f` on the contiguous elements of `t` if it is a CPU tensor of `T`, else `None`.
pub(in crate::ops) fn with_slice<T: Elem, R>(t: &CT, f: impl FnOnce(&[T]) -> R) -> Option<R> {
    if t.dtype() != T::DTYPE {
        return None;
    }
    let held = t.storage_and_layout();
    elements(&held).map(f)
}

/// `values` of shape `dims` as a CPU tensor of PyTorch type `dtype` (`T`'s own).
pub(in crate::ops) fn tensor_of<T: Elem>(
    values: Vec<T>,
    dims: &[usize],
    dtype: ScalarType,
) -> Result<Tensor> {
    Tensor::with_type(CT::from_vec(values, dims, &Device::Cpu)?, dtype)
}

/// `f` on each element of `t`, for an f32 or f64 contiguous CPU tensor: a tensor of its
/// shape and type.
pub(in crate::ops) fn map(t: &Tensor, f: &impl Map1) -> Option<Result<Tensor>> {
    fn go<T: Elem>(t: &Tensor, f: &impl Map1) -> Option<Result<Tensor>> {
        let k = f.kernel::<T>();
        let out = with_slice::<T, _>(t.inner(), |x| x.iter().map(|&v| k(v)).collect())?;
        Some(tensor_of::<T>(out, t.dims(), t.dtype()))
    }
    match t.dtype() {
        ScalarType::Float32 => go::<f32>(t, f),
        ScalarType::Float64 => go::<f64>(t, f),
        _ => None,
    }
}

/// How a binary operand's elements cover the output.
enum Side<'a, T> {
    /// One element per output element.
    Each(&'a [T]),
    /// The output's trailing dims, repeated over its leading ones.
    Rows(&'a [T]),
    /// One value for every element.
    One(T),
}

/// An operand's storage held, where it is a tensor.
fn hold<'a>(op: &'a Operand) -> Option<Held<'a>> {
    match op {
        Operand::Tensor(t) => Some(t.inner().storage_and_layout()),
        Operand::Scalar(_) => None,
    }
}

/// How `op` (held in `held`) covers an output of `shape`, in `T` (a number converted as
/// candle's scalar tensors are: through `T::from_f64`); `None` for a tensor of another type, a
/// strided one, or one that broadcasts other than as one value or the output's trailing dims.
fn side<'a, T: Elem>(
    op: &Operand,
    held: &'a Option<Held<'_>>,
    shape: &[usize],
) -> Option<Side<'a, T>> {
    let t = match op {
        Operand::Scalar(s) => return Some(Side::One(T::from_f64(s.f64()))),
        Operand::Tensor(t) => t,
    };
    if t.inner().dtype() != T::DTYPE {
        return None;
    }
    let x = elements::<T>(held.as_ref()?)?;
    let dims = t.dims();
    let lead = dims.iter().take_while(|&&d| d == 1).count();
    let own = &dims[lead..];
    if x.len() == 1 {
        Some(Side::One(x[0]))
    } else if dims == shape {
        Some(Side::Each(x))
    } else if own.len() <= shape.len() && shape[shape.len() - own.len()..] == *own {
        Some(Side::Rows(x))
    } else {
        None
    }
}

/// `f(a, b)` elementwise over `shape` (the operands' broadcast shape) in float type `rt`
/// (f32 or f64), for operands that are numbers or contiguous CPU tensors of type `rt` that
/// are the output's shape, one element, or its trailing dims; `None` otherwise.
pub(in crate::ops) fn binary(
    a: &Operand,
    b: &Operand,
    shape: &[usize],
    rt: ScalarType,
    f: &impl Map2,
) -> Option<Result<Tensor>> {
    fn go<T: Elem>(
        a: &Operand,
        b: &Operand,
        shape: &[usize],
        rt: ScalarType,
        f: &impl Map2,
    ) -> Option<Result<Tensor>> {
        let (ha, hb) = (hold(a), hold(b));
        let (x, y) = (side::<T>(a, &ha, shape)?, side::<T>(b, &hb, shape)?);
        let total: usize = shape.iter().product();
        let k = f.kernel::<T>();
        let out: Vec<T> = match (x, y) {
            (Side::Each(x), Side::Each(y)) => x.iter().zip(y).map(|(&p, &q)| k(p, q)).collect(),
            (Side::Each(x), Side::One(q)) => x.iter().map(|&p| k(p, q)).collect(),
            (Side::One(p), Side::Each(y)) => y.iter().map(|&q| k(p, q)).collect(),
            (Side::One(p), Side::One(q)) => vec![k(p, q); total],
            (Side::Each(x), Side::Rows(y)) => x
                .chunks_exact(y.len())
                .flat_map(|row| row.iter().zip(y).map(|(&p, &q)| k(p, q)))
                .collect(),
            (Side::Rows(x), Side::Each(y)) => y
                .chunks_exact(x.len())
                .flat_map(|row| x.iter().zip(row).map(|(&p, &q)| k(p, q)))
                .collect(),
            _ => return None,
        };
        if out.len() != total {
            return None;
        }
        Some(tensor_of(out, shape, rt))
    }
    match rt {
        ScalarType::Float32 => go::<f32>(a, b, shape, rt, f),
        ScalarType::Float64 => go::<f64>(a, b, shape, rt, f),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    //! The fast paths against the candle paths they replace: the same bits, NaN where NaN.
    use super::super::testing::{as_tensor, call, call_kw, check, read, tensor};
    use super::*;
    use crate::ops::Value;
    use candle_core::DType;

    /// Values with the special cases every path must keep.
    const SPECIAL: [f64; 12] = [
        0.0,
        -0.0,
        1.5,
        -2.25,
        1e-7,
        -30.0,
        30.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        100.0,
        -0.5,
    ];

    fn same_bits(a: &CT, b: &CT) {
        assert_eq!(a.dims(), b.dims());
        assert_eq!(a.dtype(), b.dtype());
        let (x, y) = (
            a.to_dtype(DType::F64)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap(),
            b.to_dtype(DType::F64)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap(),
        );
        for (i, (p, q)) in x.iter().zip(&y).enumerate() {
            assert!(
                p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan()),
                "element {i}: {p} vs {q}"
            );
        }
    }

    /// `v` read through a transposed view of a copy with its last two dims swapped: the same
    /// values, not contiguous, so every operator takes its candle path.
    fn strided(v: &Value) -> Value {
        let t = as_tensor(v);
        let r = t.rank();
        let view = t
            .inner()
            .transpose(r - 2, r - 1)
            .unwrap()
            .contiguous()
            .unwrap();
        let view = view.transpose(r - 2, r - 1).unwrap();
        assert!(!view.is_contiguous());
        Value::Tensor(Tensor::with_type(view, t.dtype()).unwrap())
    }

    /// Both values' types, shapes and bits are the same (any NaN equal to any NaN).
    fn same(got: &Value, want: &Value, what: &str) {
        let ((dg, sg, g), (dw, sw, w)) = (read(got), read(want));
        assert_eq!((dg, sg), (dw, sw), "{what}: type and shape");
        for (i, (p, q)) in g.iter().zip(&w).enumerate() {
            assert!(
                p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan()),
                "{what}: element {i}: {p} (fast) vs {q} (candle)"
            );
        }
    }

    /// Both calls give the same value ([`same`]) or the same error.
    fn same_result(fast: Result<Value>, slow: Result<Value>, what: &str) {
        match (fast, slow) {
            (Ok(a), Ok(b)) => same(&a, &b, what),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{what}"),
            (a, b) => panic!("{what}: {a:?} (fast) vs {b:?} (candle)"),
        }
    }

    /// `name(x, rest..)` gives the same bits with `x` contiguous (the fast path) and strided
    /// (the candle path), for f32 and f64.
    fn same_as_candle(name: &str, rest: &[Value]) {
        for dtype in [ScalarType::Float32, ScalarType::Float64] {
            let x = tensor(dtype, &[3, 4], &SPECIAL);
            let args = |x: Value| [vec![x], rest.to_vec()].concat();
            let fast = call(name, &args(x.clone())).unwrap();
            let slow = call(name, &args(strided(&x))).unwrap();
            same(&fast, &slow, &format!("{name} {dtype:?} {rest:?}"));
        }
    }

    #[test]
    fn activations_and_floating_functions_match_the_candle_path() {
        for name in [
            "relu",
            "relu_",
            "silu",
            "silu_",
            "sigmoid",
            "sigmoid_",
            "tanh",
            "tanh_",
            "exp",
            "sqrt",
            "rsqrt",
            "reciprocal",
            "erf",
            "relu6",
            "hardtanh",
        ] {
            same_as_candle(&format!("aten::{name}"), &[]);
        }
        for approximate in ["none", "tanh"] {
            let a = Value::Str(approximate.into());
            for name in ["aten::gelu", "aten::gelu_"] {
                for dtype in [ScalarType::Float32, ScalarType::Float64] {
                    let x = tensor(dtype, &[3, 4], &SPECIAL);
                    let kw = [("approximate", a.clone())];
                    let fast = call_kw(name, std::slice::from_ref(&x), &kw).unwrap();
                    let slow = call_kw(name, &[strided(&x)], &kw).unwrap();
                    same(&fast, &slow, &format!("{name} {approximate} {dtype:?}"));
                }
            }
        }
        let h = Value::Float(-0.5);
        same_as_candle("aten::hardtanh", &[h, Value::Float(0.25)]);
        // Integer inputs keep their own paths: relu keeps the type, sigmoid gives float32.
        let ints = tensor(ScalarType::Int64, &[3], &[-2.0, 0.0, 3.0]);
        check(
            &call("aten::relu", std::slice::from_ref(&ints)).unwrap(),
            ScalarType::Int64,
            &[3],
            &[0.0, 0.0, 3.0],
        );
        let (dtype, _, _) = read(&call("aten::sigmoid", &[ints]).unwrap());
        assert_eq!(dtype, ScalarType::Float32);
    }

    #[test]
    fn clamp_matches_the_candle_path() {
        let (n, f, i) = (Value::None, Value::Float, Value::Int);
        let bounds = [
            (f(-1.0), f(1.0)),
            (f(1.0), f(-1.0)), // min above max: everything is max
            (n.clone(), f(0.5)),
            (f(0.5), n.clone()),
            (f(f64::NAN), n.clone()),
            (n.clone(), f(f64::NAN)),
            (i(0), i(6)),
            (f(-0.0), f(0.0)),
            (f(f64::NEG_INFINITY), f(f64::INFINITY)),
        ];
        for (lo, hi) in bounds {
            for name in ["aten::clamp", "aten::clamp_", "aten::clip"] {
                same_as_candle(name, &[lo.clone(), hi.clone()]);
            }
        }
        same_as_candle("aten::clamp_min", &[f(0.1)]);
        same_as_candle("aten::clamp_max", &[i(-1)]);
        // An integer tensor keeps its type and path; with a float bound it is float32.
        let ints = tensor(ScalarType::Int64, &[3], &[-2.0, 0.0, 3.0]);
        let r = call("aten::clamp", &[ints.clone(), i(-1), i(1)]).unwrap();
        check(&r, ScalarType::Int64, &[3], &[-1.0, 0.0, 1.0]);
        let r = call("aten::clamp", &[ints, f(-1.5), n]).unwrap();
        check(&r, ScalarType::Float32, &[3], &[-1.5, 0.0, 3.0]);
    }

    #[test]
    fn arithmetic_matches_the_candle_path() {
        let ops: [(&str, Option<Value>); 6] = [
            ("aten::add", None),
            ("aten::add", Some(Value::Float(2.5))),
            ("aten::sub", None),
            ("aten::sub", Some(Value::Int(-3))),
            ("aten::mul", None),
            ("aten::div", None),
        ];
        let others = |dtype: ScalarType| {
            vec![
                tensor(dtype, &[3, 4], &SPECIAL.map(|x| x * 0.5 - 1.0)),
                tensor(dtype, &[4], &[2.0, -0.0, f64::NAN, 0.5]),
                tensor(dtype, &[1, 1], &[-1.5]),
                tensor(dtype, &[], &[3.0]),
                tensor(dtype, &[3, 1], &[1.0, 2.0, 3.0]), // broadcast along rows: candle
                tensor(ScalarType::Float64, &[3, 4], &SPECIAL), // promotes: candle
                tensor(
                    ScalarType::Int64,
                    &[3, 4],
                    &SPECIAL.map(|x| if x.is_finite() { x.trunc() } else { 0.0 }),
                ),
                Value::Float(0.1),
                Value::Int(7),
                Value::Bool(true),
            ]
        };
        for dtype in [ScalarType::Float32, ScalarType::Float64] {
            let x = tensor(dtype, &[3, 4], &SPECIAL);
            for (name, alpha) in &ops {
                for y in others(dtype) {
                    let kw: Vec<(&str, Value)> =
                        alpha.iter().map(|a| ("alpha", a.clone())).collect();
                    let what = format!("{name} {dtype:?} {y:?} {alpha:?}");
                    let fast = call_kw(name, &[x.clone(), y.clone()], &kw);
                    let slow = call_kw(name, &[strided(&x), y.clone()], &kw);
                    same_result(fast, slow, &what);
                    if y.as_tensor().is_some_and(|t| t.dims() == [3, 4]) {
                        // The other way round, and with the other operand strided too.
                        let fast = call_kw(name, &[y.clone(), x.clone()], &kw);
                        let slow = call_kw(name, &[strided(&y), strided(&x)], &kw);
                        same_result(fast, slow, &what);
                    }
                }
            }
        }
    }

    #[test]
    fn a_strided_or_other_typed_tensor_takes_no_fast_path() {
        struct Id;
        impl Map1 for Id {
            fn kernel<T: Elem>(&self) -> impl Fn(T) -> T {
                |x| x
            }
        }
        let t = CT::arange(0f32, 6.0, &Device::Cpu)
            .unwrap()
            .reshape((2, 3))
            .unwrap();
        let strided = Tensor::new(t.t().unwrap()).unwrap();
        assert!(map(&strided, &Id).is_none());
        let ints = Tensor::new(t.to_dtype(DType::I64).unwrap()).unwrap();
        assert!(map(&ints, &Id).is_none());
        let plain = Tensor::new(t.clone()).unwrap();
        same_bits(map(&plain, &Id).unwrap().unwrap().inner(), &t);
    }

    #[test]
    fn binary_covers_rows_and_numbers_and_refuses_other_broadcasts() {
        struct Sub;
        impl Map2 for Sub {
            fn kernel<T: Elem>(&self) -> impl Fn(T, T) -> T {
                |x, y| x - y
            }
        }
        let x = CT::from_vec(SPECIAL.to_vec(), (3, 4), &Device::Cpu).unwrap();
        let x = Tensor::new(x.to_dtype(DType::F32).unwrap()).unwrap();
        let row = Tensor::new(
            CT::from_vec(vec![1f32, -2.0, f32::NAN, 0.5], (1, 4), &Device::Cpu).unwrap(),
        )
        .unwrap();
        let col =
            Tensor::new(CT::from_vec(vec![1f32, 2.0, 3.0], (3, 1), &Device::Cpu).unwrap()).unwrap();
        let (a, b) = (Operand::Tensor(&x), Operand::Tensor(&row));
        let got = binary(&a, &b, &[3, 4], ScalarType::Float32, &Sub)
            .unwrap()
            .unwrap();
        same_bits(got.inner(), &x.inner().broadcast_sub(row.inner()).unwrap());
        let got = binary(&b, &a, &[3, 4], ScalarType::Float32, &Sub)
            .unwrap()
            .unwrap();
        same_bits(got.inner(), &row.inner().broadcast_sub(x.inner()).unwrap());
        let c = Operand::Tensor(&col);
        assert!(binary(&a, &c, &[3, 4], ScalarType::Float32, &Sub).is_none());
        let n = Operand::Scalar(crate::ops::Scalar::Float(0.1));
        let got = binary(&n, &a, &[3, 4], ScalarType::Float32, &Sub)
            .unwrap()
            .unwrap();
        let tenth = CT::new(0.1f64 as f32, &Device::Cpu)
            .unwrap()
            .broadcast_as((3, 4))
            .unwrap();
        same_bits(got.inner(), &tenth.sub(x.inner()).unwrap());
        assert!(binary(&a, &n, &[3, 4], ScalarType::Int64, &Sub).is_none());
    }
}
