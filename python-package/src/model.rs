//! `scriptless.Model`, and `load` / `from_bytes`, which build it: one of the seed's models, or
//! a user's TorchScript or `torch.export` model run by its own code ([`Program`]), decided as
//! every door decides it ([`Opened`]).

use std::path::PathBuf;
use std::time::Instant;

use pyo3::exceptions::{PyTypeError, PyUserWarning, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict, PyList, PyMapping, PyMemoryView, PyTuple};
use scriptless_core::script::{
    self, args_from_given, ast::Type, Given, Param, Program, ProgramKind, Signature, Value,
};
use scriptless_core::{
    check_request_names, ops, request_from_json, Error, Limits, Model, ModelInputs, ModelKind,
    Opened, Pooling, SEQUENCES_KEY,
};

use crate::arrays::{input_tensor, output_array};
use crate::errors::{detached, guarded, is_scriptless, to_py, type_name, Class};
use crate::options::{dtype_name, pooling_name, LoadOptions, RawOptions};
use crate::values::{given, to_python};

/// A model loaded by `scriptless.load` or `scriptless.from_bytes`: a user's TorchScript or
/// `torch.export` model run by its own code, or one of the seed's three models. Call it as its
/// `forward` is called. Immutable: one model may run on many threads at once, and each call
/// releases the GIL while it computes.
#[pyclass(frozen, name = "Model", module = "scriptless")]
pub(crate) struct PyModel {
    inner: Inner,
    /// `signature` as JSON.
    signature: String,
    /// Where the file came from: a path, or `weights buffer`.
    source: String,
}

/// What runs.
enum Inner {
    /// One of the seed's models, by its dedicated implementation.
    Seed(Box<Seed>),
    /// A model run by its own code.
    Program(Box<Program>),
}

/// One of the seed's models and how it was asked to run.
struct Seed {
    model: Model,
    pooling: Pooling,
    limits: Limits,
    /// `config` as JSON.
    config: String,
}

// One model serves many threads at once (`frozen`: nothing in it is written after load).
const _: () = {
    const fn shared_across_threads<T: Send + Sync>() {}
    shared_across_threads::<PyModel>();
};

/// Loads a model from the file at `path`: a TorchScript archive (`torch.jit.save`) or a
/// `torch.export.save` archive (`.pt2`), run by its own code, or the seed's weights
/// (safetensors, `torch.save(state_dict)`, or an archive whose code is the seed's), told apart
/// by content. See `help(scriptless)` for the keyword arguments.
#[pyfunction]
#[pyo3(
    signature = (path, *, model=None, dtype=None, pool=None, feature_width=None, device="cpu",
                 max_weights_bytes=None, max_elements=None, max_steps=None, max_depth=None),
    text_signature = "(path, *, model=None, dtype=None, pool=None, feature_width=None, \
                      device='cpu', max_weights_bytes=None, max_elements=None, max_steps=None, \
                      max_depth=None)"
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
    max_steps: Option<u64>,
    max_depth: Option<usize>,
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
            max_steps,
            max_depth,
        })?;
        let source = path.display().to_string();
        PyModel::build(py, options, source, |seed, options| {
            Opened::open(&path, seed, options)
        })
    })
}

/// Loads a model from a file's bytes (`bytes`, `bytearray`, or any object with the buffer
/// protocol: a `memoryview`, an `mmap`, a uint8 NumPy array), in any format `load` reads. The
/// bytes are read during the call and not kept.
#[pyfunction]
#[pyo3(
    signature = (data, *, model=None, dtype=None, pool=None, feature_width=None, device="cpu",
                 max_weights_bytes=None, max_elements=None, max_steps=None, max_depth=None),
    text_signature = "(data, *, model=None, dtype=None, pool=None, feature_width=None, \
                      device='cpu', max_weights_bytes=None, max_elements=None, max_steps=None, \
                      max_depth=None)"
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
    max_steps: Option<u64>,
    max_depth: Option<usize>,
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
            max_steps,
            max_depth,
        })?;
        let source = "weights buffer".to_string();
        let data = weights_bytes(data, &source, options.limits.max_weights_bytes)?;
        PyModel::build(py, options, source, |seed, options| {
            Opened::from_bytes(&data, "weights buffer", seed, options)
        })
    })
}

#[pymethods]
impl PyModel {
    /// What runs: `"torchscript"` or `"torch.export"` for a model run by its own code (a
    /// TorchScript `.pt`, a `torch.export` `.pt2`); `"two-input"`, `"categorical"` or
    /// `"sequence"` for one of the seed's models.
    #[getter]
    fn kind(&self) -> &'static str {
        match &self.inner {
            Inner::Seed(seed) => seed.model.kind().name(),
            Inner::Program(program) => match program.kind() {
                ProgramKind::TorchScript => "torchscript",
                ProgramKind::Export => "torch.export",
            },
        }
    }

    /// What `forward` takes and returns, as a dict: `{"params": [...], "returns": "Tensor"}`,
    /// each param `{"name", "type", "kind", "optional", "default", "default_value", "baked",
    /// "tensors"}`, as `scriptless inspect --json` reports it under `script.signature` (a new
    /// dict on each access). A seed model's two tensor arguments are described the same way.
    #[getter]
    fn signature<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("json")?.call_method1("loads", (&self.signature,))
    }

    /// Every operator a model run by its own code names: a list of dicts `{"name":
    /// "aten::linear", "supported": True, "reached": True}` (`reached` is False where every
    /// call sits on a branch that cannot run); `None` for a seed model.
    #[getter]
    fn operators<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        let Inner::Program(program) = &self.inner else {
            return Ok(None);
        };
        let list = PyList::empty(py);
        for op in program.operators() {
            let dict = PyDict::new(py);
            dict.set_item("name", &op.name)?;
            dict.set_item("supported", op.supported)?;
            dict.set_item("reached", op.reached)?;
            list.append(dict)?;
        }
        Ok(Some(list))
    }

    /// A seed model's argument names, in the seed's order: `("tensor1", "tensor2")`,
    /// `("tensor_input", "category_index")` or `("padded_seq", "seq_lengths")`. A model run by
    /// its own code raises `UnsupportedError`: its arguments are in `signature`.
    #[getter]
    fn input_names(&self) -> PyResult<(&'static str, &'static str)> {
        let [a, b] = self.seed("input_names")?.model.kind().input_names();
        Ok((a, b))
    }

    /// A seed model's hyperparameters, as `scriptless inspect --json` reports them under
    /// `model.config` (a new dict on each access). A model run by its own code raises
    /// `UnsupportedError`.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let config = &self.seed("config")?.config;
        py.import("json")?.call_method1("loads", (config,))
    }

    /// The dtype the model computes in. A seed model: `"f32"`, `"f64"`, `"f16"` or `"bf16"`,
    /// with float32, float64, float16 and (bf16, exactly widened) float32 outputs. A model run
    /// by its own code: the dtype `load` was given, or `None` where it keeps the archive's own
    /// dtypes.
    #[getter]
    fn dtype(&self) -> Option<&'static str> {
        match &self.inner {
            Inner::Seed(seed) => Some(dtype_name(seed.model.dtype())),
            Inner::Program(program) => program.options().dtype.map(dtype_name),
        }
    }

    /// The sequence model's pooling, `"padded-last"` (the seed's `[:, -1, :]`) or
    /// `"last-valid"`; `None` for the seed's other models. A model run by its own code raises
    /// `UnsupportedError`.
    #[getter]
    fn pool(&self) -> PyResult<Option<&'static str>> {
        let seed = self.seed("pool")?;
        Ok((seed.model.kind() == ModelKind::Sequence).then(|| pooling_name(seed.pooling)))
    }

    /// Runs the model on one request and returns its output.
    ///
    /// A model run by its own code takes `forward`'s arguments, by position in its order, then
    /// by name: NumPy arrays (any dtype a tensor has: float16/32/64, int16/32/64, uint8, bool),
    /// numbers, strings, `None`, and lists, tuples and dicts of them (nested lists of numbers
    /// where a `Tensor` is declared read as `torch.tensor` reads them). It returns what
    /// `forward` returns: tensors as read-only NumPy arrays of their dtype (views of the
    /// tensors' memory), numbers, strings, `None`, lists, tuples and dicts.
    ///
    /// A seed model takes its inputs named as the seed's `forward` arguments (`padded_seq=`,
    /// `seq_lengths=`), or in that order; the sequence model also takes `sequences=`, a list of
    /// `(length, features)` arrays it pads itself. It returns a NumPy array.
    #[pyo3(signature = (*args, **kwargs))]
    fn forward<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        guarded(|| match &self.inner {
            Inner::Seed(seed) => {
                let inputs = seed.inputs(args, kwargs)?;
                let output = detached(py, || Ok(seed.model.forward(&inputs, seed.pooling)?))?;
                output_array(py, output)
            }
            Inner::Program(program) => {
                let givens = program_args(program, args, kwargs)?;
                let output = detached(py, || {
                    let args = args_from_given(program.signature(), givens, limits(program))?;
                    Ok(program.forward(args)?)
                })?;
                to_python(py, &output)
            }
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

    /// Runs many requests, each a mapping of arguments by name as `forward` takes them, and
    /// returns their outputs in order. A seed model runs them in few model calls (requests of
    /// compatible shapes as one batch), each output what `forward` returns for that request
    /// alone, bit for bit (on aarch64, bf16 excepted), a view of its batch's output, which it
    /// keeps alive; a model run by its own code runs them one by one. A request that fails
    /// raises its error, prefixed `request N: ` and with `N` as its `request` attribute; with
    /// `return_exceptions=True` the exception takes its place in the list instead and the
    /// others still run.
    #[pyo3(signature = (requests, *, return_exceptions=false))]
    fn forward_many<'py>(
        &self,
        py: Python<'py>,
        requests: &Bound<'py, PyAny>,
        return_exceptions: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        guarded(|| match &self.inner {
            Inner::Seed(seed) => {
                let read = read_requests(py, requests, return_exceptions, |dict| {
                    seed.inputs(&PyTuple::empty(py), Some(dict))
                })?;
                let outcomes = detached(py, || {
                    Ok(seed.model.forward_many(&read.runnable, seed.pooling))
                })?;
                read.results(py, outcomes, return_exceptions, |py, tensor| {
                    output_array(py, tensor)
                })
            }
            Inner::Program(program) => {
                let mut read = read_requests(py, requests, return_exceptions, |dict| {
                    program_args(program, &PyTuple::empty(py), Some(dict))
                })?;
                let runnable = std::mem::take(&mut read.runnable);
                let outcomes = detached(py, || {
                    Ok(runnable
                        .into_iter()
                        .map(|givens| {
                            let args =
                                args_from_given(program.signature(), givens, limits(program))?;
                            program.forward(args)
                        })
                        .collect::<Vec<_>>())
                })?;
                read.results(py, outcomes, return_exceptions, |py, value| {
                    to_python(py, &value)
                })
            }
        })
    }

    /// Runs one JSON request, as `scriptless run` runs each line of a `.jsonl` file, and
    /// returns the line it prints for it (without the newline): `{"output": ...}`, byte for
    /// byte the command line's. The request is an object keyed by `forward`'s argument names
    /// (for a seed model, by its input names, or `sequences`). A request or call that fails
    /// raises, with the message the command line's `--keep-going` writes for that line.
    #[pyo3(signature = (request))]
    fn forward_json(&self, py: Python<'_>, request: String) -> PyResult<String> {
        guarded(|| {
            let limits = match &self.inner {
                Inner::Seed(seed) => seed.limits,
                Inner::Program(program) => *limits(program),
            };
            if request.len() as u64 > limits.max_input_bytes {
                return Err(to_py(Error::Limit {
                    what: "request".to_string(),
                    message: format!(
                        "is {} bytes, over the limit of {} bytes (max_input_bytes)",
                        request.len(),
                        limits.max_input_bytes
                    ),
                }));
            }
            detached(py, || match &self.inner {
                Inner::Seed(seed) => {
                    let kind = seed.model.kind();
                    let inputs =
                        request_from_json(&request, kind, seed.model.dtype(), "request", &limits)?;
                    let output = seed.model.forward(&inputs, seed.pooling)?;
                    let output = Value::Tensor(ops::Tensor::new(output)?);
                    Ok(script::output_json(&output)?)
                }
                Inner::Program(program) => {
                    let args = script::args_from_json(program.signature(), &request, &limits)?;
                    let output = program.forward(args)?;
                    Ok(script::output_json(&output)?)
                }
            })
        })
    }

    /// For timing the module's own cost: converts the arguments once, as `forward` does, then
    /// runs the Rust model `n` times on them with the GIL released (after one call that is
    /// not timed) and returns the mean seconds per call. Not part of the API.
    #[pyo3(signature = (n, *args, **kwargs))]
    fn _time_rust_forward<'py>(
        &self,
        py: Python<'py>,
        n: u32,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<f64> {
        if n == 0 {
            return Err(PyValueError::new_err("n must be at least 1"));
        }
        guarded(|| match &self.inner {
            Inner::Seed(seed) => {
                let inputs = seed.inputs(args, kwargs)?;
                detached(py, || {
                    seed.model.forward(&inputs, seed.pooling)?;
                    let start = Instant::now();
                    for _ in 0..n {
                        seed.model.forward(&inputs, seed.pooling)?;
                    }
                    Ok(start.elapsed().as_secs_f64() / f64::from(n))
                })
            }
            Inner::Program(program) => {
                let givens = program_args(program, args, kwargs)?;
                detached(py, || {
                    let args = args_from_given(program.signature(), givens, limits(program))?;
                    program.forward_ref(&args)?;
                    let start = Instant::now();
                    for _ in 0..n {
                        program.forward_ref(&args)?;
                    }
                    Ok(start.elapsed().as_secs_f64() / f64::from(n))
                })
            }
        })
    }

    fn __repr__(&self) -> String {
        match &self.inner {
            Inner::Seed(seed) => {
                let pool = match seed.model.kind() {
                    ModelKind::Sequence => format!(", pool='{}'", pooling_name(seed.pooling)),
                    _ => String::new(),
                };
                format!(
                    "<scriptless.Model {} from {}: dtype='{}'{pool}, config={}>",
                    self.kind(),
                    self.source,
                    dtype_name(seed.model.dtype()),
                    seed.config
                )
            }
            Inner::Program(program) => {
                let signature = program.signature();
                let params: Vec<String> = signature
                    .params
                    .iter()
                    .map(|p| {
                        let default = match (&p.default, p.has_default) {
                            (Some(v), _) => format!(" = {}", literal(v)),
                            (None, true) => " = ...".to_string(),
                            (None, false) => String::new(),
                        };
                        format!("{}: {}{default}", p.name, p.ty.display())
                    })
                    .collect();
                let returns = signature
                    .returns
                    .as_ref()
                    .map_or_else(String::new, |t| format!(" -> {}", t.display()));
                format!(
                    "<scriptless.Model {} from {}: forward({}){returns}>",
                    self.kind(),
                    self.source,
                    params.join(", ")
                )
            }
        }
    }
}

impl PyModel {
    /// The model `options` ask for, from the file `open` opens with the program options and
    /// whether a seed model was named (`source` names where the file comes from), read and
    /// built with the GIL released. A program's notice (saved in training mode) is a
    /// `UserWarning`.
    fn build(
        py: Python<'_>,
        options: LoadOptions,
        source: String,
        open: impl FnOnce(bool, &script::Options) -> scriptless_core::Result<Opened> + Send,
    ) -> PyResult<Self> {
        let inner = detached(py, || {
            match open(options.seed(), &options.script_options())? {
                Opened::Seed(weights) => {
                    let (model, config) = options.build(weights, &source)?;
                    Ok(Inner::Seed(Box::new(Seed {
                        model,
                        pooling: options.pooling(),
                        limits: options.limits,
                        config,
                    })))
                }
                Opened::Program(program) => {
                    options.check_program()?;
                    Ok(Inner::Program(program))
                }
            }
        })?;
        let signature = match &inner {
            Inner::Seed(seed) => seed_signature(seed.model.kind()),
            Inner::Program(program) => program.signature().to_json().to_string(),
        };
        if let Inner::Program(program) = &inner {
            if let Some(notice) = program.notice() {
                py.import("warnings")?.call_method1(
                    "warn",
                    (
                        format!("{source}: {notice}"),
                        py.get_type::<PyUserWarning>(),
                        1,
                    ),
                )?;
            }
        }
        Ok(PyModel {
            inner,
            signature,
            source,
        })
    }

    /// The seed model, for the attribute `what` that only a seed model has.
    fn seed(&self, what: &str) -> PyResult<&Seed> {
        match &self.inner {
            Inner::Seed(seed) => Ok(seed),
            Inner::Program(_) => Err(Class::Unsupported.err(format!(
                "{what} describes the seed's models only, not a model run by its own code ({}): \
                 its arguments are in model.signature",
                self.kind()
            ))),
        }
    }
}

impl Seed {
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
                named.push((key_name(&key)?, value));
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

/// A default value as the code writes it (`3`, `None`, `"mean"`), `...` for anything else.
fn literal(v: &Value) -> String {
    match v {
        Value::None => "None".to_string(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        Value::Int(n) => n.to_string(),
        Value::Float(x) => format!("{x:?}"),
        Value::Str(s) => format!("{s:?}"),
        _ => "...".to_string(),
    }
}

/// A program's limits.
fn limits(program: &Program) -> &Limits {
    &program.options().limits
}

/// The arguments of a call of `program`, as given: positional ones in `forward`'s order, then
/// those by name. Too many positional arguments, a name given twice and a name `forward` does
/// not take are refused here; types, and what is missing, when `forward` is called.
fn program_args(
    program: &Program,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<Vec<(String, Given)>> {
    let signature = program.signature();
    let limits = limits(program);
    let params = &signature.params;
    if args.len() > params.len() {
        let names: Vec<String> = params.iter().map(|p| format!("`{}`", p.name)).collect();
        let takes = match params.len() {
            1 => "1 argument".to_string(),
            n => format!("{n} arguments"),
        };
        let given = match args.len() {
            1 => "1 was".to_string(),
            n => format!("{n} were"),
        };
        return Err(Class::Input.err(format!(
            "forward takes {takes} ({}); {given} given by position",
            names.join(", ")
        )));
    }
    let mut out = Vec::with_capacity(args.len() + kwargs.map_or(0, |k| k.len()));
    for (param, value) in params.iter().zip(args.iter()) {
        out.push((param.name.clone(), given(&value, &param.name, limits)?));
    }
    if let Some(kwargs) = kwargs {
        for (key, value) in kwargs.iter() {
            let name = key_name(&key)?;
            if out.iter().any(|(n, _)| *n == name) {
                return Err(to_py(Error::Input {
                    name,
                    message: "is given twice, by position and by name".to_string(),
                }));
            }
            if signature.param(&name).is_none() {
                return Err(no_such_argument(signature, name));
            }
            let value = given(&value, &name, limits)?;
            out.push((name, value));
        }
    }
    Ok(out)
}

/// The library's error for an argument `forward` does not take (refused before its value is
/// read, so that a misspelt name is reported as such).
fn no_such_argument(signature: &Signature, name: String) -> PyErr {
    match signature.check_name(&name) {
        Err(e) => to_py(e),
        Ok(()) => Class::Internal.err("an unknown argument was taken"),
    }
}

/// An argument's name from a call's keyword or a request's key.
fn key_name(key: &Bound<'_, PyAny>) -> PyResult<String> {
    key.extract().map_err(|_| {
        let type_name = type_name(key);
        Class::Input.err(format!("input names are strings, got {type_name} `{key}`"))
    })
}

/// A seed model's signature as JSON, in the shape a program's takes: its two tensor
/// arguments, returning a tensor.
fn seed_signature(kind: ModelKind) -> String {
    let tensor = || Type {
        name: "Tensor".to_string(),
        args: Vec::new(),
    };
    let signature = Signature {
        params: kind
            .input_names()
            .iter()
            .map(|name| Param {
                name: (*name).to_string(),
                ty: tensor(),
                has_default: false,
                default: None,
                baked: None,
                tensors: Vec::new(),
            })
            .collect(),
        returns: Some(tensor()),
    };
    signature.to_json().to_string()
}

/// The requests of a `forward_many` call, each read (with the GIL) into what runs it.
struct ReadRequests<'py, T> {
    /// The requests that were read, in order.
    runnable: Vec<T>,
    /// Where each of them sits among all the requests.
    positions: Vec<usize>,
    /// The requests that could not be read, with their exceptions.
    failed: Vec<(usize, PyErr)>,
    /// How many requests there were.
    count: usize,
    _py: std::marker::PhantomData<Python<'py>>,
}

/// Reads each of `requests`, a mapping of arguments, with `read`. A request that fails to read
/// raises, prefixed `request N: `, unless `return_exceptions`, which keeps its exception.
fn read_requests<'py, T>(
    py: Python<'py>,
    requests: &Bound<'py, PyAny>,
    return_exceptions: bool,
    read: impl Fn(&Bound<'py, PyDict>) -> PyResult<T>,
) -> PyResult<ReadRequests<'py, T>> {
    let mut out = ReadRequests {
        runnable: Vec::new(),
        positions: Vec::new(),
        failed: Vec::new(),
        count: 0,
        _py: std::marker::PhantomData,
    };
    for (i, request) in requests.try_iter()?.enumerate() {
        out.count += 1;
        let request = request?;
        let result = match (request.cast::<PyDict>(), request.cast::<PyMapping>()) {
            (Ok(dict), _) => read(dict),
            // Another mapping (a MappingProxyType, say) is read through a dict.
            (_, Ok(mapping)) => {
                let dict = PyDict::new(py);
                dict.update(mapping)?;
                read(&dict)
            }
            _ => Err(Class::Input.err(format!(
                "expected a dict of inputs, got {}",
                type_name(&request)
            ))),
        };
        match result {
            Ok(value) => {
                out.positions.push(i);
                out.runnable.push(value);
            }
            Err(e) if is_scriptless(py, &e) => {
                let e = in_request(py, e, i);
                if !return_exceptions {
                    return Err(e);
                }
                out.failed.push((i, e));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

impl<'py, T> ReadRequests<'py, T> {
    /// The list `forward_many` returns: each request's output, made by `convert` from its
    /// outcome, or its exception.
    fn results<O>(
        self,
        py: Python<'py>,
        outcomes: Vec<scriptless_core::Result<O>>,
        return_exceptions: bool,
        convert: impl Fn(Python<'py>, O) -> PyResult<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut results: Vec<Option<PyResult<Bound<'py, PyAny>>>> =
            (0..self.count).map(|_| None).collect();
        for (i, e) in self.failed {
            results[i] = Some(Err(e));
        }
        for (i, outcome) in self.positions.into_iter().zip(outcomes) {
            results[i] = Some(match outcome {
                Ok(output) => convert(py, output).map_err(|e| in_request(py, e, i)),
                Err(e) => Err(in_request(py, to_py(e), i)),
            });
        }
        let list = PyList::empty(py);
        for result in results {
            match result {
                Some(Ok(output)) => list.append(output)?,
                Some(Err(e)) if return_exceptions => list.append(e.into_value(py))?,
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(
                        Class::Internal.err("forward_many returned fewer results than requests")
                    )
                }
            }
        }
        Ok(list)
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
