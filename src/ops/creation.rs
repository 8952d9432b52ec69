//! Creation operators: tensors made from sizes and fill values (`zeros`, `full`, `new_ones`,
//! `zeros_like`, `empty_strided`, ...), from TorchScript values (`tensor`, `as_tensor`, `scalar_tensor`) and
//! from ranges (`arange`, `linspace`, `eye`, in [`range`]). Random creation is refused by
//! name: randomness is not reproducible outside PyTorch.
//!
//! Every size comes from the model, so each is checked (negative sizes refused with PyTorch's
//! message, the element count against the limits) before anything is allocated. Fill values
//! are converted as PyTorch converts them, refusing the ones its type cannot hold.

mod range;

use candle_core::Device;
use half::{bf16, f16};

use super::dtype::ScalarType;
use super::registry::{Args, Builder, Ctx, Scalar};
use super::tensor::Tensor;
use super::value::Value;
use crate::error::{Error, Result};

/// Registers this family's operators.
pub(super) fn register(b: &mut Builder) {
    const OPTS: &str = "ScalarType? dtype=None, Layout? layout=None, Device? device=None, \
                        bool? pin_memory=None";
    const LIKE: &str = "ScalarType? dtype=None, Layout? layout=None, Device? device=None, \
                        bool? pin_memory=None, MemoryFormat? memory_format=None";
    let mut add = |head: &str, opts: &str, f| b.add(&format!("{head}, *, {opts}) -> Tensor"), f);
    add("aten::zeros(SymInt[] size", OPTS, zeros);
    add("aten::ones(SymInt[] size", OPTS, ones);
    add("aten::full(SymInt[] size, Scalar fill_value", OPTS, full);
    add("aten::empty.memory_format(SymInt[] size", LIKE, zeros);
    add(
        "aten::empty_strided(SymInt[] size, SymInt[] stride",
        OPTS,
        empty_strided,
    );
    add("aten::zeros_like(Tensor self", LIKE, zeros_like);
    add("aten::ones_like(Tensor self", LIKE, ones_like);
    add(
        "aten::full_like(Tensor self, Scalar fill_value",
        LIKE,
        full_like,
    );
    add("aten::empty_like(Tensor self", LIKE, zeros_like);
    add(
        "aten::new_zeros(Tensor self, SymInt[] size",
        OPTS,
        new_zeros,
    );
    add("aten::new_ones(Tensor self, SymInt[] size", OPTS, new_ones);
    add(
        "aten::new_full(Tensor self, SymInt[] size, Scalar fill_value",
        OPTS,
        new_full,
    );
    add(
        "aten::new_empty(Tensor self, SymInt[] size",
        OPTS,
        new_zeros,
    );
    add("aten::scalar_tensor(Scalar s", OPTS, scalar_tensor);
    range::register(b);
    register_from_values(b);
    register_random(b);
}

/// `tensor` and `as_tensor`: from a TorchScript number or (nested) list, or a tensor.
/// The int overloads come before the float ones, which would take an int too.
fn register_from_values(b: &mut Builder) {
    const T: &str = "*, ScalarType? dtype=None, Device? device=None, bool requires_grad=False) \
                     -> Tensor";
    const AS: &str = "*, ScalarType? dtype=None, Device? device=None) -> Tensor";
    b.add(&format!("aten::tensor.bool(bool t, {T}"), tensor_scalar);
    b.add(&format!("aten::tensor.int(int t, {T}"), tensor_scalar);
    b.add(&format!("aten::tensor.float(float t, {T}"), tensor_scalar);
    b.add(&format!("aten::tensor(t[] data, {T}"), tensor_list);
    b.add(
        &format!("aten::as_tensor(Tensor(a) data, {AS}").replace("-> Tensor", "-> Tensor(b|a)"),
        as_tensor,
    );
    b.add(&format!("aten::as_tensor.bool(bool t, {AS}"), tensor_scalar);
    b.add(&format!("aten::as_tensor.int(int t, {AS}"), tensor_scalar);
    b.add(
        &format!("aten::as_tensor.float(float t, {AS}"),
        tensor_scalar,
    );
    b.add(&format!("aten::as_tensor.list(t[] data, {AS}"), tensor_list);
}

/// The random operators, registered so that a call names what is refused.
fn register_random(b: &mut Builder) {
    const OPTS: &str = "ScalarType? dtype=None, Layout? layout=None, Device? device=None, \
                        bool? pin_memory=None";
    const LIKE: &str = "ScalarType? dtype=None, Layout? layout=None, Device? device=None, \
                        bool? pin_memory=None, MemoryFormat? memory_format=None";
    const INT: &str = "ScalarType? dtype=4, Layout? layout=None, Device? device=None, \
                       bool? pin_memory=None";
    let schemas = [
        format!("aten::rand(SymInt[] size, *, {OPTS}) -> Tensor"),
        format!("aten::rand.generator(SymInt[] size, *, Generator? generator, {OPTS}) -> Tensor"),
        format!("aten::randn(SymInt[] size, *, {OPTS}) -> Tensor"),
        format!("aten::randn.generator(SymInt[] size, *, Generator? generator, {OPTS}) -> Tensor"),
        format!("aten::randint.low(SymInt low, SymInt high, SymInt[] size, *, {INT}) -> Tensor"),
        format!("aten::randint(SymInt high, SymInt[] size, *, {INT}) -> Tensor"),
        format!("aten::rand_like(Tensor self, *, {LIKE}) -> Tensor"),
        format!("aten::randn_like(Tensor self, *, {LIKE}) -> Tensor"),
        format!("aten::randint_like.low_dtype(Tensor self, SymInt low, SymInt high, *, {LIKE}) -> Tensor"),
        format!("aten::randint_like(Tensor self, SymInt high, *, {LIKE}) -> Tensor"),
        "aten::normal.Tensor_Tensor(Tensor mean, Tensor std, *, Generator? generator=None) -> Tensor".into(),
        "aten::normal.Tensor_float(Tensor mean, float std=1., *, Generator? generator=None) -> Tensor".into(),
        "aten::normal.float_Tensor(float mean, Tensor std, *, Generator? generator=None) -> Tensor".into(),
        format!("aten::normal.float_float(float mean, float std, SymInt[] size, *, Generator? generator=None, {OPTS}) -> Tensor"),
        "aten::bernoulli(Tensor self, *, Generator? generator=None) -> Tensor".into(),
        "aten::bernoulli.p(Tensor self, float p, *, Generator? generator=None) -> Tensor".into(),
        "aten::bernoulli.Tensor(Tensor self, Tensor p, *, Generator? generator=None) -> Tensor".into(),
    ];
    for s in &schemas {
        b.refuse(s, RANDOMNESS, random);
    }
}

fn err(message: impl Into<String>) -> Error {
    Error::Script(message.into())
}

/// Why random creation is refused.
const RANDOMNESS: &str = "randomness is not reproducible outside PyTorch";

fn random(_: &Ctx, _: &Args) -> Result<Value> {
    Err(err(RANDOMNESS))
}

/// The dims of a new tensor of `size`, refusing negative sizes with PyTorch's message and
/// sizes over the limits, before anything is allocated.
pub(in crate::ops) fn new_dims(cx: &Ctx, op: &str, size: &[i64]) -> Result<Vec<usize>> {
    let mut dims = Vec::with_capacity(size.len());
    for &d in size {
        let d = usize::try_from(d).map_err(|_| {
            err(format!(
                "Trying to create tensor with negative dimension {d}: {size:?}"
            ))
        })?;
        dims.push(d);
    }
    cx.check(op, &dims)?;
    Ok(dims)
}

/// PyTorch's C++ name for a type, as its conversion errors say it.
fn c_name(dtype: ScalarType) -> &'static str {
    match dtype {
        ScalarType::UInt8 => "uint8_t",
        ScalarType::Int16 => "int16_t",
        ScalarType::Int32 => "int",
        ScalarType::Int64 => "int64_t",
        ScalarType::Float16 => "c10::Half",
        ScalarType::Float32 => "float",
        ScalarType::Float64 => "double",
        ScalarType::Bool => "bool",
        ScalarType::BFloat16 => "c10::BFloat16",
    }
}

/// Refuses a fill value that `dtype` cannot hold, as PyTorch's checked conversion does: an
/// integer type takes the ints in its range (an unsigned one also their negatives down to
/// `-max`, which wrap) and the finite floats in its range; float32 refuses finite floats past
/// its largest; float16, bfloat16, float64 and bool take every value.
pub(in crate::ops) fn check_fill(value: Scalar, dtype: ScalarType) -> Result<()> {
    let (lowest, max) = match dtype {
        ScalarType::UInt8 => (0.0, 255.0),
        ScalarType::Int16 => (i16::MIN as f64, i16::MAX as f64),
        ScalarType::Int32 => (i32::MIN as f64, i32::MAX as f64),
        ScalarType::Int64 => (i64::MIN as f64, i64::MAX as f64),
        ScalarType::Float32 => (f32::MIN as f64, f32::MAX as f64),
        _ => return Ok(()),
    };
    let fits = match value {
        Scalar::Bool(_) => true,
        Scalar::Int(n) if dtype == ScalarType::UInt8 => (-255..=255).contains(&n),
        Scalar::Int(n) => dtype == ScalarType::Float32 || (lowest..=max).contains(&(n as f64)),
        Scalar::Float(x) if x.is_infinite() => dtype == ScalarType::Float32,
        Scalar::Float(x) => (lowest..=max).contains(&x),
    };
    if fits {
        Ok(())
    } else {
        Err(err(format!(
            "value cannot be converted to type {} without overflow",
            c_name(dtype)
        )))
    }
}

/// How one kind of host value converts to each kind of element.
struct Convert<V> {
    to_bool: fn(V) -> bool,
    to_int: fn(V) -> i64,
    to_f32: fn(V) -> f32,
    to_f64: fn(V) -> f64,
}

/// A candle tensor of shape `dims` from `values`, each converted by `f`.
fn host<V: Copy, T: candle_core::WithDType>(
    values: &[V],
    f: impl Fn(V) -> T,
    dims: &[usize],
    device: &Device,
) -> Result<candle_core::Tensor> {
    let v: Vec<T> = values.iter().map(|&x| f(x)).collect();
    Ok(candle_core::Tensor::from_vec(v, dims, device)?)
}

/// A tensor of `dtype` and shape `dims` from `values`, converted by `c` (integers wrapped
/// into narrower integer types; float16 and bfloat16 through float32).
fn build<V: Copy>(
    values: &[V],
    c: Convert<V>,
    dims: &[usize],
    dtype: ScalarType,
    device: &Device,
) -> Result<Tensor> {
    let t = match dtype {
        ScalarType::Bool => host(values, |v| u8::from((c.to_bool)(v)), dims, device)?,
        ScalarType::UInt8 => host(values, |v| (c.to_int)(v) as u8, dims, device)?,
        ScalarType::Int16 => host(values, |v| (c.to_int)(v) as i16, dims, device)?,
        ScalarType::Int32 => host(values, |v| (c.to_int)(v) as i32, dims, device)?,
        ScalarType::Int64 => host(values, c.to_int, dims, device)?,
        ScalarType::Float16 => host(values, |v| f16::from_f32((c.to_f32)(v)), dims, device)?,
        ScalarType::BFloat16 => host(values, |v| bf16::from_f32((c.to_f32)(v)), dims, device)?,
        ScalarType::Float32 => host(values, c.to_f32, dims, device)?,
        ScalarType::Float64 => host(values, c.to_f64, dims, device)?,
    };
    Tensor::with_type(t, dtype)
}

/// A tensor of `dtype` holding `values` (in row-major order, one per element of `dims`):
/// integers wrap into narrower integer types, and go to float16 and bfloat16 through float32,
/// as C++'s conversions in PyTorch do.
pub(in crate::ops) fn from_i64s(
    values: Vec<i64>,
    dims: &[usize],
    dtype: ScalarType,
    device: &Device,
) -> Result<Tensor> {
    let c = Convert {
        to_bool: |v| v != 0,
        to_int: |v| v,
        to_f32: |v| v as f32,
        to_f64: |v| v as f64,
    };
    build(&values, c, dims, dtype, device)
}

/// A tensor of `dtype` holding `values` (in row-major order, one per element of `dims`):
/// floats truncate toward zero into integer types, and go to float16 and bfloat16 through
/// float32, as C++'s conversions in PyTorch do. The values must fit the type (see
/// [`check_fill`]).
pub(in crate::ops) fn from_f64s(
    values: Vec<f64>,
    dims: &[usize],
    dtype: ScalarType,
    device: &Device,
) -> Result<Tensor> {
    let c = Convert {
        to_bool: |v| v != 0.0,
        to_int: |v| v as i64,
        to_f32: |v| v as f32,
        to_f64: |v| v,
    };
    build(&values, c, dims, dtype, device)
}

/// A tensor of `dims` filled with `value` as type `dtype`, after [`check_fill`]. The caller
/// has checked `dims` against the limits.
pub(in crate::ops) fn filled(
    value: Scalar,
    dims: &[usize],
    dtype: ScalarType,
    device: &Device,
) -> Result<Tensor> {
    check_fill(value, dtype)?;
    let one = match value {
        Scalar::Int(n) => from_i64s(vec![n], &[], dtype, device)?,
        Scalar::Bool(b) => from_i64s(vec![i64::from(b)], &[], dtype, device)?,
        Scalar::Float(x) => from_f64s(vec![x], &[], dtype, device)?,
    };
    let inner = one.inner().broadcast_as(dims)?.contiguous()?;
    Tensor::with_type(inner, dtype)
}

/// A tensor of zeros.
pub(in crate::ops) fn zeros_of(
    dims: &[usize],
    dtype: ScalarType,
    device: &Device,
) -> Result<Tensor> {
    Tensor::with_type(
        candle_core::Tensor::zeros(dims, dtype.candle(), device)?,
        dtype,
    )
}

/// The type PyTorch gives a tensor filled with `value` when the call names none.
fn fill_dtype(value: Scalar) -> ScalarType {
    value.dtype()
}

/// The `dtype` and `device` keyword arguments at `i` and `i + 2` (`layout` between them).
fn options(cx: &Ctx, args: &Args, i: usize) -> Result<(Option<ScalarType>, Device)> {
    let device = args.opt_device(i + 2)?.unwrap_or_else(|| cx.device.clone());
    Ok((args.opt_dtype(i)?, device))
}

/// The `dtype` and `device` keyword arguments of a `*_like` or `new_*` operator, defaulting
/// to `like`'s.
fn like_options(args: &Args, i: usize, like: &Tensor) -> Result<(ScalarType, Device)> {
    let dtype = args.opt_dtype(i)?.unwrap_or(like.dtype());
    let device = args
        .opt_device(i + 2)?
        .unwrap_or_else(|| like.device().clone());
    Ok((dtype, device))
}

fn make(
    cx: &Ctx,
    op: &str,
    size: &[i64],
    value: Scalar,
    dtype: ScalarType,
    device: &Device,
) -> Result<Value> {
    let dims = new_dims(cx, op, size)?;
    Ok(Value::Tensor(filled(value, &dims, dtype, device)?))
}

/// `empty_strided`: zeros (PyTorch leaves the contents undefined) in a contiguous tensor;
/// tensors here have no strides of their own, so `stride` is only checked, as PyTorch checks
/// it: one per dim, and none negative where there are elements (its storage size overflows).
fn empty_strided(cx: &Ctx, args: &Args) -> Result<Value> {
    let (size, stride) = (args.ints(0)?, args.ints(1)?);
    if size.len() != stride.len() {
        return Err(err(format!(
            "dimensionality of sizes ({}) must match dimensionality of strides ({})",
            size.len(),
            stride.len()
        )));
    }
    let (dtype, device) = options(cx, args, 2)?;
    let dims = new_dims(cx, "aten::empty_strided", &size)?;
    if dims.iter().all(|&d| d > 0) && stride.iter().any(|&s| s < 0) {
        return Err(err(format!(
            "Storage size calculation overflowed with sizes={size:?} and strides={stride:?}"
        )));
    }
    Ok(Value::Tensor(zeros_of(
        &dims,
        dtype.unwrap_or(ScalarType::Float32),
        &device,
    )?))
}

fn zeros(cx: &Ctx, args: &Args) -> Result<Value> {
    let (dtype, device) = options(cx, args, 1)?;
    let dims = new_dims(cx, "aten::zeros", &args.ints(0)?)?;
    Ok(Value::Tensor(zeros_of(
        &dims,
        dtype.unwrap_or(ScalarType::Float32),
        &device,
    )?))
}

fn ones(cx: &Ctx, args: &Args) -> Result<Value> {
    let (dtype, device) = options(cx, args, 1)?;
    make(
        cx,
        "aten::ones",
        &args.ints(0)?,
        Scalar::Int(1),
        dtype.unwrap_or(ScalarType::Float32),
        &device,
    )
}

fn full(cx: &Ctx, args: &Args) -> Result<Value> {
    let value = args.scalar(1)?;
    let (dtype, device) = options(cx, args, 2)?;
    make(
        cx,
        "aten::full",
        &args.ints(0)?,
        value,
        dtype.unwrap_or(fill_dtype(value)),
        &device,
    )
}

fn sizes_of(t: &Tensor) -> Vec<i64> {
    t.dims().iter().map(|&d| d as i64).collect()
}

fn zeros_like(cx: &Ctx, args: &Args) -> Result<Value> {
    let like = args.tensor(0)?;
    let (dtype, device) = like_options(args, 1, like)?;
    let dims = new_dims(cx, "aten::zeros_like", &sizes_of(like))?;
    Ok(Value::Tensor(zeros_of(&dims, dtype, &device)?))
}

fn ones_like(cx: &Ctx, args: &Args) -> Result<Value> {
    let like = args.tensor(0)?;
    let (dtype, device) = like_options(args, 1, like)?;
    make(
        cx,
        "aten::ones_like",
        &sizes_of(like),
        Scalar::Int(1),
        dtype,
        &device,
    )
}

fn full_like(cx: &Ctx, args: &Args) -> Result<Value> {
    let like = args.tensor(0)?;
    let (dtype, device) = like_options(args, 2, like)?;
    make(
        cx,
        "aten::full_like",
        &sizes_of(like),
        args.scalar(1)?,
        dtype,
        &device,
    )
}

fn new_zeros(cx: &Ctx, args: &Args) -> Result<Value> {
    let like = args.tensor(0)?;
    let (dtype, device) = like_options(args, 2, like)?;
    let dims = new_dims(cx, "aten::new_zeros", &args.ints(1)?)?;
    Ok(Value::Tensor(zeros_of(&dims, dtype, &device)?))
}

fn new_ones(cx: &Ctx, args: &Args) -> Result<Value> {
    let like = args.tensor(0)?;
    let (dtype, device) = like_options(args, 2, like)?;
    make(
        cx,
        "aten::new_ones",
        &args.ints(1)?,
        Scalar::Int(1),
        dtype,
        &device,
    )
}

fn new_full(cx: &Ctx, args: &Args) -> Result<Value> {
    let like = args.tensor(0)?;
    let (dtype, device) = like_options(args, 3, like)?;
    make(
        cx,
        "aten::new_full",
        &args.ints(1)?,
        args.scalar(2)?,
        dtype,
        &device,
    )
}

fn scalar_tensor(cx: &Ctx, args: &Args) -> Result<Value> {
    let value = args.scalar(0)?;
    let (dtype, device) = options(cx, args, 1)?;
    // `scalar_tensor` makes the default float type unless told otherwise, whatever the value.
    make(
        cx,
        "aten::scalar_tensor",
        &[],
        value,
        dtype.unwrap_or(ScalarType::Float32),
        &device,
    )
}

/// `tensor.int(5)` and the like: PyTorch makes the number's own tensor (a float as float32, the
/// default type) and then converts it to `dtype`, so `torch.tensor(0.1, dtype=torch.float64)`
/// holds 0.1 rounded to float32 first.
fn tensor_scalar(cx: &Ctx, args: &Args) -> Result<Value> {
    let value = args.scalar(0)?;
    let t = filled(value, &[], fill_dtype(value), cx.device)?;
    cast_to(t, args.opt_dtype(1)?, args.opt_device(2)?).map(Value::Tensor)
}

/// `t.to(dtype).to(device)` where they are given.
fn cast_to(t: Tensor, dtype: Option<ScalarType>, device: Option<Device>) -> Result<Tensor> {
    let t = match dtype {
        Some(d) => t.to_dtype(d)?,
        None => t,
    };
    match device {
        Some(d) => t.to_device(&d),
        None => Ok(t),
    }
}

fn as_tensor(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?.clone();
    cast_to(t, args.opt_dtype(1)?, args.opt_device(2)?).map(Value::Tensor)
}

/// The deepest nesting `tensor` takes from a list (its number of dims).
const MAX_NESTING: usize = 64;

/// `torch.tensor([[1, 2], [3, 4]])`: the (nested, not ragged) list's shape and numbers. As in
/// TorchScript, the tensor is made with the numbers' own type (all bools: bool; all ints:
/// int64; otherwise float32, the default type; an empty list: float32) and then converted to
/// `dtype`.
fn tensor_list(cx: &Ctx, args: &Args) -> Result<Value> {
    let data = args.value(0);
    let mut dims = Vec::new();
    let mut level = data.clone();
    while let Some(items) = level.items() {
        dims.push(items.len());
        match items.into_iter().next() {
            Some(first) => level = first,
            None => break,
        }
    }
    if dims.len() > MAX_NESTING {
        return Err(err(format!(
            "a list nested {} deep has too many dimensions for a tensor",
            dims.len()
        )));
    }
    cx.check("aten::tensor", &dims)?;
    let mut numbers = Vec::new();
    collect_numbers(data, &dims, 0, &mut numbers)?;
    let t = tensor_of_numbers(numbers, &dims, cx.device)?;
    cast_to(t, args.opt_dtype(1)?, args.opt_device(2)?).map(Value::Tensor)
}

/// Appends the numbers of `value`, a list at depth `depth` of a nested list of shape `dims`,
/// refusing ragged lists with PyTorch's message.
fn collect_numbers(
    value: &Value,
    dims: &[usize],
    depth: usize,
    out: &mut Vec<Scalar>,
) -> Result<()> {
    let Some(&len) = dims.get(depth) else {
        out.push(match value {
            Value::Int(n) => Scalar::Int(*n),
            Value::Float(x) => Scalar::Float(*x),
            Value::Bool(b) => Scalar::Bool(*b),
            other => {
                return Err(err(format!(
                    "Input list to torch.tensor must be of ints, floats, or bools, got {}",
                    other.type_name()
                )))
            }
        });
        return Ok(());
    };
    let items = value.items().ok_or_else(|| {
        err(format!(
            "Expected sequence of length {len} at dim {depth} (got {})",
            value.type_name()
        ))
    })?;
    if items.len() != len {
        return Err(err(format!(
            "Expected sequence of length {len} at dim {depth} (got {})",
            items.len()
        )));
    }
    items
        .iter()
        .try_for_each(|item| collect_numbers(item, dims, depth + 1, out))
}

/// A tensor of the numbers' own type (see [`tensor_list`]).
fn tensor_of_numbers(numbers: Vec<Scalar>, dims: &[usize], device: &Device) -> Result<Tensor> {
    let all_bool = !numbers.is_empty() && numbers.iter().all(|s| matches!(s, Scalar::Bool(_)));
    let all_int = !numbers.is_empty()
        && numbers
            .iter()
            .all(|s| matches!(s, Scalar::Int(_) | Scalar::Bool(_)));
    if all_bool || all_int {
        let dtype = if all_bool {
            ScalarType::Bool
        } else {
            ScalarType::Int64
        };
        let values = numbers.iter().map(|s| match s {
            Scalar::Int(n) => *n,
            Scalar::Bool(b) => i64::from(*b),
            Scalar::Float(x) => *x as i64,
        });
        return from_i64s(values.collect(), dims, dtype, device);
    }
    let values = numbers.iter().map(|s| match s {
        Scalar::Int(n) => *n as f32 as f64,
        other => other.f64(),
    });
    from_f64s(values.collect(), dims, ScalarType::Float32, device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;
    use crate::ops::Registry;
    use candle_core::DType;

    pub(super) fn call(name: &str, args: &[Value], kwargs: &[(&str, Value)]) -> Result<Value> {
        let limits = Limits {
            max_elements: 1000,
            ..Limits::default()
        };
        let cx = Ctx {
            limits: &limits,
            device: &Device::Cpu,
            constants: None,
        };
        let kwargs: Vec<(String, Value)> = kwargs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        Registry::get().call(&cx, name, args, &kwargs)
    }

    pub(super) fn ints(v: &[i64]) -> Value {
        Value::list(v.iter().map(|&n| Value::Int(n)).collect())
    }

    pub(super) fn tensor(v: Value) -> Tensor {
        v.as_tensor().expect("a tensor").clone()
    }

    pub(super) fn f64s(t: &Tensor) -> Vec<f64> {
        t.inner()
            .flatten_all()
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .to_vec1::<f64>()
            .unwrap()
    }

    pub(super) fn err_of(r: Result<Value>) -> String {
        match r {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn dtype_kw(t: ScalarType) -> (&'static str, Value) {
        ("dtype", Value::Int(t.code()))
    }

    #[test]
    fn zeros_ones_full_take_their_types_from_the_call() {
        let t = tensor(call("aten::zeros", &[ints(&[2, 3])], &[]).unwrap());
        assert_eq!((t.dims(), t.dtype()), (&[2, 3][..], ScalarType::Float32));
        let t = tensor(call("aten::ones", &[ints(&[2])], &[dtype_kw(ScalarType::Int32)]).unwrap());
        assert_eq!((f64s(&t), t.dtype()), (vec![1.0, 1.0], ScalarType::Int32));
        // torch.full([2], 2) is int64, torch.full([2], 2.5) float32, torch.full([2], True) bool.
        let t = tensor(call("aten::full", &[ints(&[2]), Value::Int(2)], &[]).unwrap());
        assert_eq!(t.dtype(), ScalarType::Int64);
        let t = tensor(call("aten::full", &[ints(&[2]), Value::Float(2.5)], &[]).unwrap());
        assert_eq!((f64s(&t), t.dtype()), (vec![2.5, 2.5], ScalarType::Float32));
        let t = tensor(call("aten::full", &[ints(&[1]), Value::Bool(true)], &[]).unwrap());
        assert_eq!(t.dtype(), ScalarType::Bool);
        // torch.full([2], -3.7, dtype=torch.int64) -> [-3, -3]; -129 as uint8 -> 127.
        let t = tensor(
            call(
                "aten::full",
                &[ints(&[2]), Value::Float(-3.7)],
                &[dtype_kw(ScalarType::Int64)],
            )
            .unwrap(),
        );
        assert_eq!(f64s(&t), vec![-3.0, -3.0]);
        let t = tensor(
            call(
                "aten::full",
                &[ints(&[1]), Value::Int(-129)],
                &[dtype_kw(ScalarType::UInt8)],
            )
            .unwrap(),
        );
        assert_eq!(f64s(&t), vec![127.0]);
        // float16 takes 70000.0 as inf.
        let t = tensor(
            call(
                "aten::full",
                &[ints(&[1]), Value::Float(7e4)],
                &[dtype_kw(ScalarType::Float16)],
            )
            .unwrap(),
        );
        assert_eq!(f64s(&t), vec![f64::INFINITY]);
        let t = tensor(call("aten::empty", &[ints(&[0, 4])], &[]).unwrap());
        assert_eq!(t.dims(), &[0, 4]);
    }

    #[test]
    fn fill_values_a_type_cannot_hold_are_refused() {
        // Messages from torch 2.15.0.
        for (value, dtype, name) in [
            (Value::Int(300), ScalarType::UInt8, "uint8_t"),
            (Value::Int(-256), ScalarType::UInt8, "uint8_t"),
            (Value::Int(70000), ScalarType::Int16, "int16_t"),
            (Value::Float(1e10), ScalarType::Int32, "int"),
            (Value::Float(f64::NAN), ScalarType::Int64, "int64_t"),
            (Value::Float(1e300), ScalarType::Float32, "float"),
            (Value::Float(-1.0), ScalarType::UInt8, "uint8_t"),
        ] {
            let e = err_of(call("aten::full", &[ints(&[1]), value], &[dtype_kw(dtype)]));
            assert!(
                e.ends_with(&format!(
                    "value cannot be converted to type {name} without overflow"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn sizes_are_checked_before_allocation() {
        let e = err_of(call("aten::zeros", &[ints(&[2, -1])], &[]));
        assert!(
            e.contains("Trying to create tensor with negative dimension -1: [2, -1]"),
            "{e}"
        );
        let e = err_of(call("aten::ones", &[ints(&[1 << 40, 1 << 40])], &[]));
        assert!(e.contains("max_elements"), "{e}");
        let e = err_of(call("aten::full", &[ints(&[1001]), Value::Int(1)], &[]));
        assert!(e.contains("aten::full"), "{e}");
    }

    #[test]
    fn empty_strided_checks_its_strides_and_the_limits() {
        // Types and messages from torch 2.15.0 (contents are undefined there; zeros here).
        let t = tensor(call("aten::empty_strided", &[ints(&[2, 3]), ints(&[3, 1])], &[]).unwrap());
        assert_eq!((t.dims(), t.dtype()), (&[2, 3][..], ScalarType::Float32));
        assert_eq!(f64s(&t), vec![0.0; 6]);
        let args = [ints(&[2, 3]), ints(&[1, 2])];
        let t = tensor(call("aten::empty_strided", &args, &[dtype_kw(ScalarType::Int32)]).unwrap());
        assert_eq!((t.dims(), t.dtype()), (&[2, 3][..], ScalarType::Int32));
        let t = tensor(call("aten::empty_strided", &[ints(&[0, 3]), ints(&[-1, 1])], &[]).unwrap());
        assert_eq!(t.dims(), &[0, 3]);
        let e = err_of(call(
            "aten::empty_strided",
            &[ints(&[2, 3]), ints(&[1])],
            &[],
        ));
        assert!(
            e.ends_with("dimensionality of sizes (2) must match dimensionality of strides (1)"),
            "{e}"
        );
        let e = err_of(call(
            "aten::empty_strided",
            &[ints(&[2, 3]), ints(&[-1, 1])],
            &[],
        ));
        assert!(
            e.ends_with(
                "Storage size calculation overflowed with sizes=[2, 3] and strides=[-1, 1]"
            ),
            "{e}"
        );
        let e = err_of(call(
            "aten::empty_strided",
            &[ints(&[-2, 3]), ints(&[3, 1])],
            &[],
        ));
        assert!(
            e.contains("Trying to create tensor with negative dimension -2: [-2, 3]"),
            "{e}"
        );
        let e = err_of(call(
            "aten::empty_strided",
            &[ints(&[1 << 40, 2]), ints(&[2, 1])],
            &[],
        ));
        assert!(e.contains("max_elements"), "{e}");
    }

    #[test]
    fn like_and_new_keep_the_source_type_unless_told() {
        let x = tensor(
            call(
                "aten::full",
                &[ints(&[2, 2]), Value::Int(7)],
                &[dtype_kw(ScalarType::Int32)],
            )
            .unwrap(),
        );
        let x = Value::Tensor(x);
        let t = tensor(call("aten::zeros_like", std::slice::from_ref(&x), &[]).unwrap());
        assert_eq!((t.dims(), t.dtype()), (&[2, 2][..], ScalarType::Int32));
        let t = tensor(
            call(
                "aten::ones_like",
                std::slice::from_ref(&x),
                &[dtype_kw(ScalarType::Float64)],
            )
            .unwrap(),
        );
        assert_eq!((f64s(&t), t.dtype()), (vec![1.0; 4], ScalarType::Float64));
        // full_like(int tensor, 2.7) -> 2 (truncated to the tensor's type).
        let t = tensor(call("aten::full_like", &[x.clone(), Value::Float(2.7)], &[]).unwrap());
        assert_eq!(f64s(&t), vec![2.0; 4]);
        let t = tensor(
            call(
                "aten::new_full",
                &[x.clone(), ints(&[3]), Value::Int(5)],
                &[],
            )
            .unwrap(),
        );
        assert_eq!((f64s(&t), t.dtype()), (vec![5.0; 3], ScalarType::Int32));
        let t = tensor(call("aten::new_zeros", &[x.clone(), ints(&[1, 2])], &[]).unwrap());
        assert_eq!((t.dims(), t.dtype()), (&[1, 2][..], ScalarType::Int32));
        let t = tensor(call("aten::new_ones", &[x.clone(), ints(&[])], &[]).unwrap());
        assert_eq!((t.dims(), f64s(&t)), (&[][..], vec![1.0]));
        let e = err_of(call("aten::new_empty", &[x, ints(&[-2])], &[]));
        assert!(e.contains("negative dimension -2"), "{e}");
    }

    #[test]
    fn tensor_from_values_follows_torchscript() {
        let t = tensor(call("aten::tensor", &[Value::Int(3)], &[]).unwrap());
        assert_eq!((t.dims(), t.dtype()), (&[][..], ScalarType::Int64));
        let t = tensor(call("aten::tensor", &[Value::Bool(true)], &[]).unwrap());
        assert_eq!(t.dtype(), ScalarType::Bool);
        // In TorchScript, torch.tensor(0.1, dtype=torch.float64).item() is
        // 0.10000000149011612: the float32 value converted (torch 2.15.0).
        let t = tensor(
            call(
                "aten::tensor",
                &[Value::Float(0.1)],
                &[dtype_kw(ScalarType::Float64)],
            )
            .unwrap(),
        );
        assert_eq!(f64s(&t), vec![0.10000000149011612]);
        let nested = Value::list(vec![ints(&[1, 2]), ints(&[3, 4])]);
        let t = tensor(call("aten::tensor", &[nested], &[]).unwrap());
        assert_eq!(
            (t.dims(), t.dtype(), f64s(&t)),
            (&[2, 2][..], ScalarType::Int64, vec![1.0, 2.0, 3.0, 4.0])
        );
        let floats = Value::list(vec![Value::Float(1.5), Value::Float(-2.0)]);
        let t = tensor(call("aten::tensor", &[floats], &[]).unwrap());
        assert_eq!(
            (t.dtype(), f64s(&t)),
            (ScalarType::Float32, vec![1.5, -2.0])
        );
        let bools = Value::list(vec![Value::Bool(true), Value::Bool(false)]);
        assert_eq!(
            tensor(call("aten::tensor", &[bools], &[]).unwrap()).dtype(),
            ScalarType::Bool
        );
        // [300, -1] with dtype=torch.uint8 in TorchScript: [44, 255] (converted, wrapping).
        let t = tensor(
            call(
                "aten::tensor",
                &[ints(&[300, -1])],
                &[dtype_kw(ScalarType::UInt8)],
            )
            .unwrap(),
        );
        assert_eq!(f64s(&t), vec![44.0, 255.0]);
        let t = tensor(call("aten::tensor", &[ints(&[])], &[]).unwrap());
        assert_eq!((t.dims(), t.dtype()), (&[0][..], ScalarType::Float32));
        let ragged = Value::list(vec![ints(&[1, 2]), ints(&[3])]);
        let e = err_of(call("aten::tensor", &[ragged], &[]));
        assert!(
            e.ends_with("Expected sequence of length 2 at dim 1 (got 1)"),
            "{e}"
        );
        let t = tensor(
            call(
                "aten::as_tensor",
                &[ints(&[1, 2])],
                &[dtype_kw(ScalarType::Float32)],
            )
            .unwrap(),
        );
        assert_eq!((t.dtype(), f64s(&t)), (ScalarType::Float32, vec![1.0, 2.0]));
        let t = tensor(
            call(
                "aten::as_tensor",
                &[Value::Tensor(t)],
                &[dtype_kw(ScalarType::Int64)],
            )
            .unwrap(),
        );
        assert_eq!(t.dtype(), ScalarType::Int64);
        let t = tensor(call("aten::scalar_tensor", &[Value::Int(4)], &[]).unwrap());
        assert_eq!((t.dims(), t.dtype()), (&[][..], ScalarType::Float32));
    }

    #[test]
    fn random_creation_is_refused_by_name() {
        for (name, args) in [
            ("aten::rand", vec![ints(&[2])]),
            ("aten::randn", vec![ints(&[2])]),
            ("aten::randint", vec![Value::Int(5), ints(&[2])]),
            (
                "aten::randint",
                vec![Value::Int(1), Value::Int(5), ints(&[2])],
            ),
        ] {
            let e = err_of(call(name, &args, &[]));
            assert!(
                e.starts_with(name)
                    && e.ends_with("randomness is not reproducible outside PyTorch"),
                "{e}"
            );
        }
    }
}
