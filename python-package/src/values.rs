//! The arguments and results of a model run by its own code: Python objects as the library's
//! [`Given`] (typed by `forward`'s signature in the library, as every door's are), and its
//! [`Value`]s back as Python objects.

use numpy::PyUntypedArray;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use scriptless_core::script::{Given, Value};
use scriptless_core::{Error, Limits};

use crate::arrays::{array_tensor, tensor_array};
use crate::errors::{to_py, type_name, Class};

/// How deep lists, tuples and dicts may nest in an argument: as deep as a JSON request may
/// (serde_json's limit), and far deeper than any tensor's dims.
const MAX_NESTING: usize = 128;

/// `value`, the argument `name`, as given:
///
/// - a NumPy array: a tensor of its dtype (any layout; [`array_tensor`] says which dtypes);
///   an object with `__array__` (a CPU torch tensor) through `numpy.asarray`;
/// - `bool` and NumPy's bool: a bool; `int` and NumPy's integers: an int (past int64's range,
///   refused); `float` and NumPy's floats: a float; `str`; `None`;
/// - a `list`, a `tuple` (items given the same way: a list of arrays is a list of tensors), a
///   `dict` with `str` keys.
///
/// Anything else is refused, naming the argument (`xs[2]` for an item).
pub(crate) fn given(value: &Bound<'_, PyAny>, name: &str, limits: &Limits) -> PyResult<Given> {
    given_at(value, name, name, limits, 0)
}

/// [`given`] for `value`, named `name` (`xs[2]`), within the argument `arg` (`xs`: an integer
/// past int64's range is refused naming the argument, as a JSON request's is), `depth` levels
/// down.
fn given_at(
    value: &Bound<'_, PyAny>,
    name: &str,
    arg: &str,
    limits: &Limits,
    depth: usize,
) -> PyResult<Given> {
    if let Ok(array) = value.cast::<PyUntypedArray>() {
        return Ok(Given::Tensor(array_tensor(array, name, limits)?));
    }
    // bool before int: Python's bool is an int.
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(Given::Bool(b.is_true()));
    }
    if value.is_instance_of::<PyInt>() {
        return int(value, arg);
    }
    if let Ok(x) = value.cast::<PyFloat>() {
        return Ok(Given::Float(x.value()));
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Given::Str(s.to_cow()?.into_owned()));
    }
    if value.is_none() {
        return Ok(Given::None);
    }
    let nested = |what: &str| {
        if depth >= MAX_NESTING {
            Err(input(
                name,
                format!("is a {what} nested deeper than {MAX_NESTING} levels"),
            ))
        } else {
            Ok(())
        }
    };
    if let Ok(list) = value.cast::<PyList>() {
        nested("list")?;
        return Ok(Given::List(items(list.iter(), name, arg, limits, depth)?));
    }
    if let Ok(tuple) = value.cast::<PyTuple>() {
        nested("tuple")?;
        return Ok(Given::Tuple(items(tuple.iter(), name, arg, limits, depth)?));
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        nested("dict")?;
        let mut entries = Vec::with_capacity(dict.len());
        for (key, item) in dict.iter() {
            let key: String = key.extract().map_err(|_| {
                let type_name = type_name(&key);
                input(name, format!("dict keys are str, got {type_name} `{key}`"))
            })?;
            let item = given_at(&item, &format!("{name}[{key:?}]"), arg, limits, depth + 1)?;
            entries.push((key, item));
        }
        return Ok(Given::Dict(entries));
    }
    let numpy = value.py().import("numpy")?;
    if value.is_instance(&numpy.getattr("generic")?)? {
        return numpy_scalar(value, name, arg, &numpy);
    }
    if value.hasattr("__array__")? {
        let array = numpy.call_method1("asarray", (value,))?;
        if let Ok(array) = array.cast::<PyUntypedArray>() {
            return Ok(Given::Tensor(array_tensor(array, name, limits)?));
        }
    }
    let type_name = type_name(value);
    Err(input(
        name,
        format!(
            "type {type_name} is not read: give a NumPy array, a number, a str, None, or a \
             list, tuple or dict of these"
        ),
    ))
}

/// The items of a list or tuple, `name[i]` each.
fn items<'py>(
    iter: impl Iterator<Item = Bound<'py, PyAny>>,
    name: &str,
    arg: &str,
    limits: &Limits,
    depth: usize,
) -> PyResult<Vec<Given>> {
    iter.enumerate()
        .map(|(i, item)| given_at(&item, &format!("{name}[{i}]"), arg, limits, depth + 1))
        .collect()
}

/// A Python int (or NumPy integer) in the argument `arg`, as an int64.
fn int(value: &Bound<'_, PyAny>, arg: &str) -> PyResult<Given> {
    value
        .extract::<i64>()
        .map(Given::Int)
        .map_err(|_| input(arg, format!("{value} is out of int64's range")))
}

/// A NumPy scalar (`np.float32(1.5)`, `np.int64(3)`, `np.bool_(True)`) as the Python value it
/// stands for.
fn numpy_scalar(
    value: &Bound<'_, PyAny>,
    name: &str,
    arg: &str,
    numpy: &Bound<'_, PyModule>,
) -> PyResult<Given> {
    if value.is_instance(&numpy.getattr("bool_")?)? {
        return Ok(Given::Bool(value.is_truthy()?));
    }
    if value.is_instance(&numpy.getattr("integer")?)? {
        return int(&value.call_method0("__index__")?, arg);
    }
    if value.is_instance(&numpy.getattr("floating")?)? {
        return Ok(Given::Float(value.call_method0("__float__")?.extract()?));
    }
    let type_name = type_name(value);
    Err(input(
        name,
        format!("NumPy scalar {type_name} is not read: give a bool, an integer or a float"),
    ))
}

/// An `InputError` naming the argument, as the library words one.
fn input(name: &str, message: impl Into<String>) -> PyErr {
    to_py(Error::Input {
        name: name.to_string(),
        message: message.into(),
    })
}

/// What `forward` returned, as Python objects: a tensor as a NumPy array of its dtype
/// ([`tensor_array`]), `int`, `float`, `bool`, `str`, `None`, and lists, tuples and dicts of
/// them.
pub(crate) fn to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    to_python_at(py, value, 0)
}

/// How deep an output's lists, tuples and dicts may nest (a model may build any nesting; Python
/// could not even print one much deeper).
const MAX_OUTPUT_NESTING: usize = 1000;

fn to_python_at<'py>(py: Python<'py>, value: &Value, depth: usize) -> PyResult<Bound<'py, PyAny>> {
    if depth > MAX_OUTPUT_NESTING {
        return Err(Class::Unsupported.err(format!(
            "the output nests lists, tuples or dicts deeper than {MAX_OUTPUT_NESTING} levels"
        )));
    }
    let to_python = |item| to_python_at(py, item, depth + 1);
    Ok(match value {
        Value::Tensor(t) => tensor_array(py, t)?,
        Value::None => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Int(n) => n.into_pyobject(py)?.into_any(),
        Value::Float(x) => PyFloat::new(py, *x).into_any(),
        Value::Str(s) => PyString::new(py, s).into_any(),
        Value::List(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_python(item)?)?;
            }
            list.into_any()
        }
        Value::Tuple(items) => {
            let items = items.iter().map(to_python).collect::<PyResult<Vec<_>>>()?;
            PyTuple::new(py, items)?.into_any()
        }
        Value::Dict(items) => {
            let dict = PyDict::new(py);
            for (k, item) in items {
                dict.set_item(k, to_python(item)?)?;
            }
            dict.into_any()
        }
    })
}
