//! NumPy arrays in and out: an input array copied once into a model tensor (candle owns its
//! tensors' storage), in whatever layout it has; an output tensor handed to NumPy without a
//! copy (a program's read-only, as it may share the model's memory).

use candle_core::{CpuStorage, DType, Device, Storage, Tensor, WithDType};
use half::f16;
use numpy::ndarray::{ArrayD, ArrayViewD, IxDyn};
use numpy::{
    dtype, Element, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use scriptless_core::ops::{self, ScalarType};
use scriptless_core::{check_request_tensor, Limits, ModelKind};

use crate::errors::{to_py, type_name, Class};

/// The tensor for the input `name` of a `kind` model from `value`: a NumPy array, or anything
/// `numpy.asarray` takes (nested lists). Floats may be float16, float32 or float64 (the model
/// converts them to its dtype); indices and lengths int32 or int64. Any strides: a
/// non-contiguous array is gathered in the same one copy. Its dtype, role and size are checked
/// before its data is read.
pub(crate) fn input_tensor(
    value: &Bound<'_, PyAny>,
    kind: ModelKind,
    name: &str,
    limits: &Limits,
) -> PyResult<Tensor> {
    let py = value.py();
    let array = match value.cast::<PyUntypedArray>() {
        Ok(array) => array.clone(),
        Err(_) => {
            let numpy = py.import("numpy")?;
            let converted = numpy
                .call_method1("asarray", (value,))
                .and_then(|a| Ok(a.cast_into::<PyUntypedArray>()?));
            match converted {
                // Lists as JSON has them: integers for a float input are floats. Anything else
                // (booleans, strings, None) keeps the dtype NumPy gave it, which is refused.
                Ok(array)
                    if kind.takes_floats(name) && matches!(array.dtype().kind(), b'i' | b'u') =>
                {
                    array
                        .call_method1("astype", (numpy.getattr("float64")?,))?
                        .cast_into::<PyUntypedArray>()?
                }
                Ok(array) => array,
                // What NumPy refuses to make an array of (ragged lists, strings for floats);
                // anything else, a KeyboardInterrupt or a MemoryError, stays what it is.
                Err(e)
                    if e.is_instance_of::<PyValueError>(py)
                        || e.is_instance_of::<PyTypeError>(py) =>
                {
                    let type_name = type_name(value);
                    return Err(Class::Input.err(format!(
                        "input `{name}`: is not an array (got {type_name}): {}",
                        e.value(py)
                    )));
                }
                Err(e) => return Err(e),
            }
        }
    };
    let descr = array.dtype();
    // The seed's models read floats and integer indices and lengths.
    let scalar = scalar_type(&array)
        .filter(|s| {
            use ScalarType::*;
            matches!(s, Float32 | Float64 | Float16 | Int64 | Int32)
        })
        .ok_or_else(|| {
            Class::Input.err(format!(
                "input `{name}`: NumPy dtype {descr} is not read: floats are float16, float32 \
                 or float64 in native byte order, indices and lengths int32 or int64"
            ))
        })?;
    check_request_tensor(kind, name, scalar.candle(), array.shape(), limits).map_err(to_py)?;
    read(&readable(&array, name)?, scalar, name)
}

/// The tensor dtype of a NumPy array, where a tensor can have it (native byte order).
fn scalar_type(array: &Bound<'_, PyUntypedArray>) -> Option<ScalarType> {
    let py = array.py();
    let descr = array.dtype();
    let is = |d: Bound<'_, numpy::PyArrayDescr>| descr.is_equiv_to(&d);
    Some(if is(dtype::<f32>(py)) {
        ScalarType::Float32
    } else if is(dtype::<f64>(py)) {
        ScalarType::Float64
    } else if is(dtype::<f16>(py)) {
        ScalarType::Float16
    } else if is(dtype::<i64>(py)) {
        ScalarType::Int64
    } else if is(dtype::<i32>(py)) {
        ScalarType::Int32
    } else if is(dtype::<i16>(py)) {
        ScalarType::Int16
    } else if is(dtype::<u8>(py)) {
        ScalarType::UInt8
    } else if is(dtype::<bool>(py)) {
        ScalarType::Bool
    } else {
        return None;
    })
}

/// The elements of `array` (readable, of the dtype `scalar`) as a candle tensor of that
/// dtype. A bool array is read as its bytes (a view of the same memory), which NumPy keeps 0
/// or 1; any other byte is made 1, as `bool()` of it is.
fn read(array: &Bound<'_, PyUntypedArray>, scalar: ScalarType, name: &str) -> PyResult<Tensor> {
    match scalar {
        ScalarType::Float32 => tensor_of::<f32>(array, name),
        ScalarType::Float64 => tensor_of::<f64>(array, name),
        ScalarType::Float16 => tensor_of::<f16>(array, name),
        ScalarType::Int64 => tensor_of::<i64>(array, name),
        ScalarType::Int32 => tensor_of::<i32>(array, name),
        ScalarType::Int16 => tensor_of::<i16>(array, name),
        ScalarType::UInt8 => tensor_of::<u8>(array, name),
        ScalarType::Bool => {
            let bytes = array
                .call_method1("view", (dtype::<u8>(array.py()),))?
                .cast_into::<PyUntypedArray>()?;
            tensor_of::<u8>(&bytes, name)?.ne(0u8).map_err(candle)
        }
        _ => Err(internal("an input of a dtype no array has")),
    }
}

/// The tensor of the argument `name` of a model run by its own code, from a NumPy array of any
/// layout, in the array's own dtype: float16, float32, float64, int16, int32, int64, uint8 or
/// bool (what PyTorch and scriptless share; others are refused, naming the argument). One copy;
/// its size is checked against `max_elements` before its data is read.
pub(crate) fn array_tensor(
    array: &Bound<'_, PyUntypedArray>,
    name: &str,
    limits: &Limits,
) -> PyResult<ops::Tensor> {
    let scalar = scalar_type(array).ok_or_else(|| {
        Class::Input.err(format!(
            "input `{name}`: NumPy dtype {} is not read: a tensor is float16, float32, \
             float64, int16, int32, int64, uint8 or bool, in native byte order",
            array.dtype()
        ))
    })?;
    limits
        .check_elements(format!("input `{name}`"), array.shape())
        .map_err(to_py)?;
    let inner = read(&readable(array, name)?, scalar, name)?;
    if scalar == ScalarType::Bool {
        ops::Tensor::from_mask(inner)
    } else {
        ops::Tensor::new(inner)
    }
    .map_err(to_py)
}

/// `array` as ndarray can read it: at most [`MAX_DIMS`] dims, aligned, its strides whole
/// elements (an array that is not is first made an aligned C-order copy by NumPy).
fn readable<'py>(
    array: &Bound<'py, PyUntypedArray>,
    name: &str,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    // rust-numpy reads at most 32 dims (it panics past that; NumPy allows 64).
    if array.ndim() > MAX_DIMS {
        return Err(Class::Input.err(format!(
            "input `{name}`: has {} dims; at most {MAX_DIMS} are read",
            array.ndim()
        )));
    }
    let itemsize = isize::try_from(array.dtype().itemsize()).unwrap_or(isize::MAX);
    let aligned: bool = array.getattr("flags")?.getattr("aligned")?.extract()?;
    if aligned && array.strides().iter().all(|s| s % itemsize == 0) {
        return Ok(array.clone());
    }
    Ok(array
        .py()
        .import("numpy")?
        .call_method1("require", (array, array.py().None(), "CA"))?
        .cast_into::<PyUntypedArray>()?)
}

/// The most dims an input may have.
const MAX_DIMS: usize = 32;

/// `array`'s elements, of type `T` (checked by the caller), in C order, as a candle tensor.
/// `array` is [`readable`].
fn tensor_of<T: Element + WithDType>(
    array: &Bound<'_, PyUntypedArray>,
    name: &str,
) -> PyResult<Tensor> {
    let typed = array
        .cast::<PyArrayDyn<T>>()
        .map_err(|e| Class::Internal.err(format!("input `{name}`: {e}")))?;
    // Fails only while Rust code holds the array mutably, which nothing here does.
    let read = typed
        .try_readonly()
        .map_err(|e| Class::Input.err(format!("input `{name}`: cannot be read: {e}")))?;
    // `as_slice` also takes a Fortran-ordered array, in its memory order: only a C-ordered
    // one is copied as it lies; any other is gathered in C order.
    let values = match read.as_slice() {
        Ok(c_order) if array.is_c_contiguous() => c_order.to_vec(),
        _ => read.as_array().iter().copied().collect(),
    };
    Tensor::from_vec(values, read.shape(), &Device::Cpu).map_err(candle)
}

/// A candle error as the Python exception for it.
fn candle(e: candle_core::Error) -> PyErr {
    to_py(scriptless_core::Error::from(e))
}

/// Keeps an output tensor's storage alive for as long as the NumPy array viewing it lives (the
/// array's `base`).
#[pyclass(frozen, module = "scriptless._scriptless")]
struct OutputStorage {
    _tensor: Tensor,
}

/// `tensor` as a NumPy array: float32, float64 or float16 as the model computes, bf16 as
/// float32 (exact; NumPy has no bfloat16). The array views the tensor's own memory, which it
/// keeps alive: no copy. It is writable, as outputs are the caller's: nothing else reads that
/// memory (a model's output is a fresh tensor, or a disjoint slice of a batch's).
pub(crate) fn output_array<'py>(py: Python<'py>, tensor: Tensor) -> PyResult<Bound<'py, PyAny>> {
    let mut tensor = tensor.to_device(&Device::Cpu).map_err(candle)?;
    if tensor.dtype() == DType::BF16 {
        tensor = tensor.to_dtype(DType::F32).map_err(candle)?;
    }
    view_of(py, tensor, true)
}

/// The output tensor of a model run by its own code as a NumPy array of its dtype (float16,
/// float32, float64, int16, int32, int64, uint8; bool; bfloat16 as float32, exactly, as NumPy
/// has no bfloat16). A tensor of the first seven is not copied: the array views the tensor's
/// memory, which it keeps alive, and is read-only, since a program's output may share its
/// memory with the model's parameters or constants (`return self.weight`, a reshape of a
/// buffer): `.copy()` gives a writable one. bfloat16 and bool (whose bytes NumPy reads only
/// as 0 and 1) are copied once into memory NumPy owns.
pub(crate) fn tensor_array<'py>(
    py: Python<'py>,
    tensor: &ops::Tensor,
) -> PyResult<Bound<'py, PyAny>> {
    let inner = tensor.inner();
    let dims = inner.dims().to_vec();
    match tensor.dtype() {
        ScalarType::BFloat16 => {
            let wide = inner.flatten_all().and_then(|t| t.to_dtype(DType::F32));
            let values = wide.and_then(|t| t.to_vec1::<f32>()).map_err(candle)?;
            array_of(py, values, &dims)
        }
        ScalarType::Bool => {
            let bytes = inner
                .flatten_all()
                .and_then(|t| t.to_vec1::<u8>())
                .map_err(candle)?;
            array_of(py, bytes.into_iter().map(|b| b != 0).collect(), &dims)
        }
        _ => view_of(py, inner.to_device(&Device::Cpu).map_err(candle)?, false),
    }
}

/// A NumPy array over the memory of `tensor` (on the CPU), of its dtype, which the array keeps
/// alive (its `base`); read-only unless `writable`.
fn view_of<'py>(py: Python<'py>, tensor: Tensor, writable: bool) -> PyResult<Bound<'py, PyAny>> {
    let tensor = tensor.contiguous().map_err(candle)?;
    let dims = tensor.dims().to_vec();
    let (storage, layout) = tensor.storage_and_layout();
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| internal("a contiguous output without contiguous offsets"))?;
    let Storage::Cpu(cpu) = &*storage else {
        return Err(internal("an output on the CPU without CPU storage"));
    };
    let owner = Bound::new(
        py,
        OutputStorage {
            _tensor: tensor.clone(),
        },
    )?
    .into_any();
    /// The view of `v[start..end]`, its base `owner`.
    fn shared<'py, T: Element>(
        v: &[T],
        (start, end): (usize, usize),
        dims: &[usize],
        owner: Bound<'py, PyAny>,
        writable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let data = v
            .get(start..end)
            .filter(|d| d.len() == dims.iter().product::<usize>())
            .ok_or_else(|| internal("an output whose layout exceeds its storage"))?;
        // SAFETY: `data` is the tensor's `dims.product()` elements in C order, in the storage
        // of the tensor `owner` holds, which keeps them alive and in place while the array
        // (whose base it becomes) lives; candle never writes a tensor's storage after the op
        // that made it. A view that is not `writable` is made read-only before anyone sees
        // it, so that memory the model may share (a parameter it returned) is never written
        // through it; a writable one is of a seed model's output, which nothing else reads.
        unsafe {
            let array = view(data.as_ptr(), dims, owner);
            if !writable {
                let raw = array.as_ptr().cast::<numpy::npyffi::PyArrayObject>();
                (*raw).fields.flags &= !numpy::npyffi::NPY_ARRAY_WRITEABLE;
            }
            Ok(array)
        }
    }
    let at = (start, end);
    match cpu {
        CpuStorage::F32(v) => shared(v, at, &dims, owner, writable),
        CpuStorage::F64(v) => shared(v, at, &dims, owner, writable),
        CpuStorage::F16(v) => shared(v, at, &dims, owner, writable),
        CpuStorage::I64(v) => shared(v, at, &dims, owner, writable),
        CpuStorage::I32(v) => shared(v, at, &dims, owner, writable),
        CpuStorage::I16(v) => shared(v, at, &dims, owner, writable),
        CpuStorage::U8(v) => shared(v, at, &dims, owner, writable),
        _ => Err(internal("an output of a dtype no operator makes")),
    }
}

/// A NumPy array of `dims` over the C-order elements at `data`, its base `owner`.
///
/// # Safety
/// `data` points to `dims.product()` initialised `T`s that stay in place, unwritten by
/// anything else, for as long as `owner` lives.
unsafe fn view<'py, T: Element>(
    data: *const T,
    dims: &[usize],
    owner: Bound<'py, PyAny>,
) -> Bound<'py, PyAny> {
    // SAFETY: by the function's contract, `data` holds the elements of a C-order array of
    // `dims`, and they outlive `owner`, which the array keeps alive.
    unsafe {
        let array = ArrayViewD::from_shape_ptr(IxDyn(dims), data);
        PyArrayDyn::borrow_from_array(&array, owner).into_any()
    }
}

/// A NumPy array of `dims` owning `values` (C order; no copy).
fn array_of<'py, T: Element>(
    py: Python<'py>,
    values: Vec<T>,
    dims: &[usize],
) -> PyResult<Bound<'py, PyAny>> {
    let array = ArrayD::from_shape_vec(IxDyn(dims), values)
        .map_err(|e| internal(&format!("an output whose shape is not its size: {e}")))?;
    Ok(PyArrayDyn::from_owned_array(py, array).into_any())
}

/// A failure that would be a bug in scriptless.
fn internal(message: &str) -> PyErr {
    Class::Internal.err(message)
}
