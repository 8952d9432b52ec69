//! Test helpers for the operator families: tensors from values, calls through the registry
//! (so that schemas and binding are tested too), results read back.

use candle_core::{DType, Device};

use crate::error::Result;
use crate::limits::Limits;
use crate::ops::{Ctx, Registry, ScalarType, Tensor, Value};

/// A tensor of type `dtype` and shape `dims` from f64 values (exact for the values used).
pub(in crate::ops) fn tensor(dtype: ScalarType, dims: &[usize], values: &[f64]) -> Value {
    let t = candle_core::Tensor::from_vec(values.to_vec(), dims, &Device::Cpu).unwrap();
    let t = if dtype == ScalarType::Bool {
        Tensor::from_mask(t.ne(0.0).unwrap()).unwrap()
    } else if dtype.is_float() {
        Tensor::with_type(t.to_dtype(dtype.candle()).unwrap(), dtype).unwrap()
    } else {
        let t = t
            .to_dtype(DType::I64)
            .unwrap()
            .to_dtype(dtype.candle())
            .unwrap();
        Tensor::with_type(t, dtype).unwrap()
    };
    Value::Tensor(t)
}

/// A float32 tensor.
pub(in crate::ops) fn f32s(dims: &[usize], values: &[f64]) -> Value {
    tensor(ScalarType::Float32, dims, values)
}

/// An int64 tensor.
pub(in crate::ops) fn i64s(dims: &[usize], values: &[f64]) -> Value {
    tensor(ScalarType::Int64, dims, values)
}

/// A bool tensor.
pub(in crate::ops) fn bools(dims: &[usize], values: &[bool]) -> Value {
    let v: Vec<f64> = values.iter().map(|&b| f64::from(u8::from(b))).collect();
    tensor(ScalarType::Bool, dims, &v)
}

/// Calls `name` with `args` and keyword arguments, with generous limits on the CPU.
pub(in crate::ops) fn call_kw(
    name: &str,
    args: &[Value],
    kwargs: &[(&str, Value)],
) -> Result<Value> {
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
    Registry::get().call(&cx, name, args, &kwargs)
}

/// Calls `name` with `args`.
pub(in crate::ops) fn call(name: &str, args: &[Value]) -> Result<Value> {
    call_kw(name, args, &[])
}

/// The message of the error `name(args)` gives (it must fail).
pub(in crate::ops) fn error(name: &str, args: &[Value]) -> String {
    match call(name, args) {
        Ok(v) => panic!("{name} should fail, gave {v:?}"),
        Err(e) => e.to_string(),
    }
}

/// The tensor a value holds.
pub(in crate::ops) fn as_tensor(v: &Value) -> &Tensor {
    v.as_tensor()
        .unwrap_or_else(|| panic!("not a tensor: {}", v.type_name()))
}

/// A tensor value's type, shape and values as f64.
pub(in crate::ops) fn read(v: &Value) -> (ScalarType, Vec<usize>, Vec<f64>) {
    let t = as_tensor(v);
    let values = t
        .inner()
        .to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    (t.dtype(), t.dims().to_vec(), values)
}

/// Checks a tensor value's type, shape and values (NaN equal to NaN, floats within 1e-6
/// relative).
pub(in crate::ops) fn check(v: &Value, dtype: ScalarType, dims: &[usize], want: &[f64]) {
    let (d, s, got) = read(v);
    assert_eq!((d, s.as_slice()), (dtype, dims), "type and shape");
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = if w.is_nan() {
            g.is_nan()
        } else if w.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= 1e-6 * w.abs().max(1.0)
        };
        assert!(ok, "element {i}: got {g}, want {w} (got {got:?})");
    }
}

/// The items of a tuple or list value.
pub(in crate::ops) fn items(v: &Value) -> Vec<Value> {
    v.items()
        .unwrap_or_else(|| panic!("not a tuple: {}", v.type_name()))
}
