//! `scriptless.Model`, and `load` / `from_bytes`, which build it.

use std::path::PathBuf;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict, PyList, PyMapping, PyMemoryView, PyTuple};
use scriptless_core::{
    check_request_names, Error, Limits, Model, ModelInputs, ModelKind, Pooling, Weights,
    SEQUENCES_KEY,
};

use crate::arrays::{input_tensor, output_array};
use crate::errors::{detached, guarded, is_scriptless, to_py, type_name, Class};
use crate::options::{dtype_name, pooling_name, LoadOptions, RawOptions};

/// One of the seed's models, loaded by `scriptless.load` or `scriptless.from_bytes`. Call it
/// on NumPy arrays named as the seed's `forward` arguments. Immutable: one model may run on
/// many threads at once, and each call releases the GIL while it computes.
#[pyclass(frozen, name = "Model", module = "scriptless")]
pub(crate) struct PyModel {
    model: Model,
    pooling: Pooling,
    limits: Limits,
    /// `config` as JSON.
    config: String,
    /// Where the weights came from: a path, or `weights buffer`.
    source: String,
}

// One model serves many threads at once (`frozen`: nothing in it is written after load).
const _: () = {
    const fn shared_across_threads<T: Send + Sync>() {}
    shared_across_threads::<PyModel>();
};

/// Loads a model from the weights file at `path`: safetensors, `torch.save(state_dict)`, a
/// TorchScript archive (`torch.jit.save`) or a `torch.export.save` archive (`.pt2`), told apart
/// by content. See `help(scriptless)` for the keyword arguments.
#[pyfunction]
#[pyo3(
    signature = (path, *, model=None, dtype=None, pool=None, feature_width=None, device="cpu",
                 max_weights_bytes=None, max_elements=None),
    text_signature = "(path, *, model=None, dtype='f32', pool='padded-last', \
                      feature_width=None, device='cpu', max_weights_bytes=None, \
                      max_elements=None)"
)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn load(
    py: Python<'_>,
    path: PathBuf,
    model: Option<&str>,
    dtype: Option<&Bound<'_, PyAny>>,
    pool: Option<&str>,
    feature_width: Option<usize>,
    device: &str,
    max_weights_bytes: Option<u64>,
    max_elements: Option<usize>,
) -> PyResult<PyModel> {
    guarded(|| {
        let options = LoadOptions::read(RawOptions {
            model,
            dtype,
            pool,
            feature_width,
            device,
            max_weights_bytes,
            max_elements,
        })?;
        let source = path.display().to_string();
        PyModel::build(py, options, source, |limits| {
            Weights::read_within(&path, limits)
        })
    })
}

/// Loads a model from weights in memory (`bytes`, `bytearray`, or any object with the buffer
/// protocol: a `memoryview`, an `mmap`, a uint8 NumPy array), in any format `load` reads. The
/// bytes are read during the call and not kept.
#[pyfunction]
#[pyo3(
    signature = (data, *, model=None, dtype=None, pool=None, feature_width=None, device="cpu",
                 max_weights_bytes=None, max_elements=None),
    text_signature = "(data, *, model=None, dtype='f32', pool='padded-last', \
                      feature_width=None, device='cpu', max_weights_bytes=None, \
                      max_elements=None)"
)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn from_bytes(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    model: Option<&str>,
    dtype: Option<&Bound<'_, PyAny>>,
    pool: Option<&str>,
    feature_width: Option<usize>,
    device: &str,
    max_weights_bytes: Option<u64>,
    max_elements: Option<usize>,
) -> PyResult<PyModel> {
    guarded(|| {
        let options = LoadOptions::read(RawOptions {
            model,
            dtype,
            pool,
            feature_width,
            device,
            max_weights_bytes,
            max_elements,
        })?;
        let source = "weights buffer".to_string();
        let data = weights_bytes(data, &source, options.limits.max_weights_bytes)?;
        PyModel::build(py, options, source, |limits| {
            Weights::from_bytes(&data, "weights buffer", limits)
        })
    })
}

#[pymethods]
impl PyModel {
    /// The seed model: `"two-input"`, `"categorical"` or `"sequence"`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.model.kind().name()
    }

    /// The names of `forward`'s arguments, in the seed's order: `("tensor1", "tensor2")`,
    /// `("tensor_input", "category_index")` or `("padded_seq", "seq_lengths")`.
    #[getter]
    fn input_names(&self) -> (&'static str, &'static str) {
        let [a, b] = self.model.kind().input_names();
        (a, b)
    }

    /// The model's hyperparameters, as `scriptless inspect --json` reports them under
    /// `model.config` (a new dict on each access).
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("json")?.call_method1("loads", (&self.config,))
    }

    /// The dtype the model computes in: `"f32"`, `"f64"`, `"f16"` or `"bf16"`. Outputs are
    /// float32, float64, float16 and (for bf16, exactly widened) float32 arrays.
    #[getter]
    fn dtype(&self) -> &'static str {
        dtype_name(self.model.dtype())
    }

    /// The sequence model's pooling, `"padded-last"` (the seed's `[:, -1, :]`) or
    /// `"last-valid"`; `None` for the other models.
    #[getter]
    fn pool(&self) -> Option<&'static str> {
        (self.model.kind() == ModelKind::Sequence).then(|| pooling_name(self.pooling))
    }

    /// Runs the model on one request and returns its output as a NumPy array. Inputs are
    /// named as the seed's `forward` arguments (`padded_seq=`, `seq_lengths=`), or given in
    /// that order; the sequence model also takes `sequences=`, a list of `(length, features)`
    /// arrays it pads itself.
    #[pyo3(signature = (*args, **kwargs))]
    fn forward<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        guarded(|| {
            let inputs = self.inputs(args, kwargs)?;
            let output = detached(py, || Ok(self.model.forward(&inputs, self.pooling)?))?;
            output_array(py, output)
        })
    }

    /// `model(...)` is `model.forward(...)`.
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.forward(py, args, kwargs)
    }

    /// Runs many requests, each a dict of inputs as `forward` takes them, in few model calls
    /// (requests of compatible shapes run as one batch), and returns their outputs in order.
    /// Each output is what `forward` returns for that request alone, bit for bit (on aarch64,
    /// bf16 excepted), a view of its batch's output, which it keeps alive. Requests may be any mappings.
    /// A request that
    /// fails raises its error, prefixed `request N: ` and with `N` as its `request`
    /// attribute; with `return_exceptions=True` the exception takes its place in the list
    /// instead and the others still run.
    #[pyo3(signature = (requests, *, return_exceptions=false))]
    fn forward_many<'py>(
        &self,
        py: Python<'py>,
        requests: &Bound<'py, PyAny>,
        return_exceptions: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        guarded(|| {
            let empty = PyTuple::empty(py);
            // Each request's inputs are read on their own; those that pass run together.
            let mut failed: Vec<(usize, PyErr)> = Vec::new();
            let mut runnable = Vec::new();
            let mut positions = Vec::new();
            let mut count = 0;
            for (i, request) in requests.try_iter()?.enumerate() {
                count += 1;
                let request = request?;
                let read = match (request.cast::<PyDict>(), request.cast::<PyMapping>()) {
                    (Ok(dict), _) => self.inputs(&empty, Some(dict)),
                    // Another mapping (a MappingProxyType, say) is read through a dict.
                    (_, Ok(mapping)) => {
                        let dict = PyDict::new(py);
                        dict.update(mapping)?;
                        self.inputs(&empty, Some(&dict))
                    }
                    _ => Err(Class::Input.err(format!(
                        "expected a dict of inputs, got {}",
                        type_name(&request)
                    ))),
                };
                match read {
                    Ok(inputs) => {
                        positions.push(i);
                        runnable.push(inputs);
                    }
                    Err(e) if is_scriptless(py, &e) => {
                        let e = in_request(py, e, i);
                        if !return_exceptions {
                            return Err(e);
                        }
                        failed.push((i, e));
                    }
                    Err(e) => return Err(e),
                }
            }
            let outcomes = detached(py, || Ok(self.model.forward_many(&runnable, self.pooling)))?;
            let mut results: Vec<Option<PyResult<Bound<'py, PyAny>>>> =
                (0..count).map(|_| None).collect();
            for (i, e) in failed {
                results[i] = Some(Err(e));
            }
            for (i, outcome) in positions.into_iter().zip(outcomes) {
                results[i] = Some(match outcome {
                    Ok(tensor) => output_array(py, tensor),
                    Err(e) => Err(in_request(py, to_py(e), i)),
                });
            }
            let list = PyList::empty(py);
            for result in results {
                match result {
                    Some(Ok(array)) => list.append(array)?,
                    Some(Err(e)) if return_exceptions => list.append(e.into_value(py))?,
                    Some(Err(e)) => return Err(e),
                    None => {
                        return Err(Class::Internal
                            .err("forward_many returned fewer results than requests"))
                    }
                }
            }
            Ok(list)
        })
    }

    fn __repr__(&self) -> String {
        let pool = match self.pool() {
            Some(pool) => format!(", pool='{pool}'"),
            None => String::new(),
        };
        format!(
            "<scriptless.Model {} from {}: dtype='{}'{pool}, config={}>",
            self.kind(),
            self.source,
            self.dtype(),
            self.config
        )
    }
}

impl PyModel {
    /// The model `options` ask for, from the weights `read` gives within their limits (`source`
    /// names where they come from), read and built with the GIL released.
    fn build(
        py: Python<'_>,
        options: LoadOptions,
        source: String,
        read: impl FnOnce(&Limits) -> scriptless_core::Result<Weights> + Send,
    ) -> PyResult<Self> {
        let (model, config) = detached(py, || {
            let weights = read(&options.limits)?;
            options.build(weights, &source)
        })?;
        Ok(PyModel {
            model,
            pooling: options.pooling,
            limits: options.limits,
            config,
            source,
        })
    }

    /// The model's inputs from a call's arguments: positional in the seed's order, then by
    /// name; or, for the sequence model, `sequences=` alone.
    fn inputs(
        &self,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<ModelInputs> {
        let kind = self.model.kind();
        let input_names = kind.input_names();
        if args.len() > input_names.len() {
            return Err(Class::Input.err(format!(
                "the {kind} model takes {} inputs, `{}` and `{}`; {} were given",
                input_names.len(),
                input_names[0],
                input_names[1],
                args.len()
            )));
        }
        let mut named: Vec<(String, Bound<'_, PyAny>)> = input_names
            .iter()
            .zip(args.iter())
            .map(|(name, value)| (name.to_string(), value))
            .collect();
        if let Some(kwargs) = kwargs {
            for (key, value) in kwargs.iter() {
                let key: String = key.extract().map_err(|_| {
                    let type_name = type_name(&key);
                    Class::Input.err(format!("input names are strings, got {type_name} `{key}`"))
                })?;
                named.push((key, value));
            }
        }
        if kind == ModelKind::Sequence && named.iter().any(|(n, _)| n == SEQUENCES_KEY) {
            if let Some((other, _)) = named.iter().find(|(n, _)| n != SEQUENCES_KEY) {
                return Err(to_py(Error::Input {
                    name: other.clone(),
                    message: format!(
                        "is given with `{SEQUENCES_KEY}`, which replaces `padded_seq` and \
                         `seq_lengths`"
                    ),
                }));
            }
            return self.sequences(&named[0].1);
        }
        check_request_names(kind, named.iter().map(|(n, _)| n.as_str()), "the call")
            .map_err(to_py)?;
        // Every name is present exactly once (checked): put them in the seed's order.
        let mut tensors = Vec::with_capacity(2);
        for name in input_names {
            let value = named
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v)
                .ok_or_else(|| Class::Internal.err(format!("input `{name}` vanished")))?;
            tensors.push(input_tensor(value, kind, name, &self.limits)?);
        }
        let [first, second]: [_; 2] = tensors
            .try_into()
            .map_err(|_| Class::Internal.err("the inputs are not two"))?;
        Ok(ModelInputs::new(kind, [first, second]))
    }

    /// The sequence model's inputs from `sequences=`: a list of `(length, features)` arrays,
    /// padded as the seed's `pad_sequence` does.
    fn sequences(&self, value: &Bound<'_, PyAny>) -> PyResult<ModelInputs> {
        let not_a_list = || {
            to_py(Error::Input {
                name: SEQUENCES_KEY.to_string(),
                message: "must be a list of sequences".to_string(),
            })
        };
        if value.is_instance_of::<pyo3::types::PyString>() {
            return Err(not_a_list());
        }
        let mut tensors = Vec::new();
        for (i, item) in value.try_iter().map_err(|_| not_a_list())?.enumerate() {
            let name = format!("{SEQUENCES_KEY}[{i}]");
            tensors.push(input_tensor(
                &item?,
                ModelKind::Sequence,
                &name,
                &self.limits,
            )?);
        }
        ModelInputs::from_sequences(&tensors, &self.limits).map_err(to_py)
    }
}

/// The bytes of `data`: a `bytes` as it is, any other object with the buffer protocol copied
/// out of it (an int, which `bytes()` would take as a length, or a str is a `TypeError`). Its
/// size is checked against `max_weights_bytes` before anything is copied.
fn weights_bytes(
    data: &Bound<'_, PyAny>,
    what: &str,
    max_weights_bytes: u64,
) -> PyResult<PyBackedBytes> {
    let py = data.py();
    let view = py.get_type::<PyMemoryView>().call1((data,)).map_err(|_| {
        let type_name = type_name(data);
        PyTypeError::new_err(format!(
            "data must be bytes, bytearray or another buffer of bytes, not {type_name}"
        ))
    })?;
    let len: u64 = view.getattr("nbytes")?.extract()?;
    if len > max_weights_bytes {
        // As `Weights::from_bytes` words it.
        return Err(to_py(Error::Limit {
            what: what.to_string(),
            message: format!(
                "is {len} bytes, over the limit of {max_weights_bytes} bytes (max_weights_bytes)"
            ),
        }));
    }
    if data.is_instance_of::<PyBytes>() {
        return Ok(data.extract::<PyBackedBytes>()?);
    }
    Ok(py
        .get_type::<PyBytes>()
        .call1((view,))?
        .extract::<PyBackedBytes>()?)
}

/// `err` with `request {i}: ` before its message (the same exception, its `args` rewritten),
/// and `i` as its `request` attribute.
fn in_request(py: Python<'_>, err: PyErr, i: usize) -> PyErr {
    let value = err.value(py);
    let message = value
        .str()
        .map_or_else(|_| String::new(), |s| s.to_string());
    // Only the message and the attribute change; should that fail, the exception goes as it
    // came.
    let _ = value.setattr("args", (format!("request {i}: {message}"),));
    let _ = value.setattr("request", i);
    err
}
