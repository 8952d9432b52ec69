//! Helpers for the tests of the nn, rnn and attention families: tensors from literals, calls
//! through the registry (so schemas and binding are tested too), and comparisons.

use candle_core::{DType, Device};

use crate::limits::Limits;
use crate::ops::registry::{bind, with_op, Ctx, Registry};
use crate::ops::tensor::Tensor;
use crate::ops::value::Value;
use crate::ops::ScalarType;

/// Calls `name` with keyword arguments; the error as text.
pub fn try_call_kw(name: &str, args: &[Value], kwargs: &[(&str, Value)]) -> Result<Value, String> {
    let limits = Limits::default();
    let cx = Ctx {
        limits: &limits,
        device: &Device::Cpu,
        constants: None,
    };
    let kwargs: Vec<(String, Value)> = kwargs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let registry = Registry::get();
    // A full name (`aten::embedding_bag.padding_idx`) calls that overload, as a `.pt2` graph does.
    match registry.op(name).filter(|_| name.contains('.')) {
        Some(op) => {
            let bound = bind(&op.schema, args, &kwargs)?;
            (op.f)(&cx, &bound).map_err(|e| with_op(&op.schema, e).to_string())
        }
        None => registry
            .call(&cx, name, args, &kwargs)
            .map_err(|e| e.to_string()),
    }
}

/// Calls `name` with keyword arguments, which must succeed.
pub fn call_kw(name: &str, args: &[Value], kwargs: &[(&str, Value)]) -> Value {
    try_call_kw(name, args, kwargs).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Calls `name`, which must succeed.
pub fn call(name: &str, args: &[Value]) -> Value {
    call_kw(name, args, &[])
}

/// Calls `name`, which must fail; its message.
pub fn call_err(name: &str, args: &[Value]) -> String {
    call_err_kw(name, args, &[])
}

/// Calls `name` with keyword arguments, which must fail; its message.
pub fn call_err_kw(name: &str, args: &[Value], kwargs: &[(&str, Value)]) -> String {
    match try_call_kw(name, args, kwargs) {
        Ok(v) => panic!("{name} succeeded: {v:?}"),
        Err(e) => e,
    }
}

fn tensor<T: candle_core::WithDType>(data: &[T], dims: &[usize]) -> Value {
    let t = candle_core::Tensor::from_slice(data, dims, &Device::Cpu).unwrap();
    Value::Tensor(Tensor::new(t).unwrap())
}

/// An f32 tensor.
pub fn t_f32(data: &[f32], dims: &[usize]) -> Value {
    tensor(data, dims)
}

/// An f64 tensor.
pub fn t_f64(data: &[f64], dims: &[usize]) -> Value {
    tensor(data, dims)
}

/// An int64 tensor.
pub fn t_i64(data: &[i64], dims: &[usize]) -> Value {
    tensor(data, dims)
}

/// A bool tensor.
pub fn bool_t(data: &[bool], dims: &[usize]) -> Value {
    let bytes: Vec<u8> = data.iter().map(|&b| u8::from(b)).collect();
    let t = candle_core::Tensor::from_slice(&bytes, dims, &Device::Cpu).unwrap();
    Value::Tensor(Tensor::from_mask(t).unwrap())
}

/// `torch.arange(n, dtype=torch.float32).view(dims)`.
pub fn arange_f32(dims: &[usize]) -> Value {
    let n: usize = dims.iter().product();
    let data: Vec<f32> = (0..n).map(|i| i as f32).collect();
    t_f32(&data, dims)
}

/// `torch.arange(n, dtype=torch.float64).view(dims)`.
pub fn arange_f64(dims: &[usize]) -> Value {
    cast(&arange_f32(dims), 7)
}

/// Values `sin(i * 0.7 + seed)` for tests that want unstructured numbers (Python:
/// `torch.sin(torch.arange(n) * 0.7 + seed)` in float64, then cast).
pub fn wave(dims: &[usize], seed: f64) -> Value {
    let n: usize = dims.iter().product();
    let data: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7 + seed).sin()).collect();
    cast(&t_f64(&data, dims), 6)
}

/// `v * k` for an f32 tensor.
pub fn scale_f32(v: &Value, k: f64) -> Value {
    let t = v.as_tensor().unwrap().inner().affine(k, 0.0).unwrap();
    Value::Tensor(Tensor::new(t).unwrap())
}

/// The tensor converted to the type of PyTorch code `code`.
pub fn cast(v: &Value, code: i64) -> Value {
    let t = v.as_tensor().unwrap();
    Value::Tensor(t.to_dtype(ScalarType::from_code(code).unwrap()).unwrap())
}

/// A float argument.
pub fn f(x: f64) -> Value {
    Value::Float(x)
}

/// An int argument.
pub fn i(n: i64) -> Value {
    Value::Int(n)
}

/// An int list argument.
pub fn ints(v: &[i64]) -> Value {
    Value::list(v.iter().map(|&n| Value::Int(n)).collect())
}

/// A list of tensors.
pub fn tensors(v: &[Value]) -> Value {
    Value::list(v.to_vec())
}

/// Item `k` of a tuple result.
pub fn item(v: &Value, k: usize) -> Value {
    v.items().expect("a tuple")[k].clone()
}

/// The tensor's shape.
pub fn dims(v: &Value) -> Vec<usize> {
    v.as_tensor().expect("a tensor").dims().to_vec()
}

/// The tensor's type.
pub fn dtype(v: &Value) -> ScalarType {
    v.as_tensor().expect("a tensor").dtype()
}

/// The elements as f64, row-major.
pub fn f64s(v: &Value) -> Vec<f64> {
    let t = v.as_tensor().expect("a tensor").inner();
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// The elements of an f32 tensor, row-major.
pub fn f32s(v: &Value) -> Vec<f32> {
    assert_eq!(dtype(v), ScalarType::Float32);
    let t = v.as_tensor().unwrap().inner();
    t.flatten_all().unwrap().to_vec1().unwrap()
}

/// The elements as i64, row-major.
pub fn i64s(v: &Value) -> Vec<i64> {
    let t = v.as_tensor().expect("a tensor").inner();
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::I64)
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// Asserts `|a - b| <= tol * (1 + |b|)` elementwise (NaN only against NaN).
pub fn close<T: Into<f64> + Copy>(a: &[T], b: &[f64], tol: f64) {
    assert_eq!(
        a.len(),
        b.len(),
        "lengths differ: {} vs {}",
        a.len(),
        b.len()
    );
    for (k, (&x, &y)) in a.iter().zip(b).enumerate() {
        let x: f64 = x.into();
        let ok = (x.is_nan() && y.is_nan()) || (x - y).abs() <= tol * (1.0 + y.abs());
        assert!(ok, "element {k}: {x} vs {y} (tolerance {tol})");
    }
}
