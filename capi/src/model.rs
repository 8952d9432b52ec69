//! `ScriptlessModel`: loading a model from a file or a buffer, what it says about itself, and
//! its destruction.

use std::ffi::{c_char, c_void, CString};
use std::path::Path;

use scriptless_core::script::{self, Program};
use scriptless_core::{
    Error, Limits, Model, ModelKind, Opened, Pooling, Weights, META_FEATURE_WIDTH,
};

use crate::args;
use crate::dtype::{dtype_to_c, scalar_to_c, ScriptlessDType};
use crate::options::{
    Options, Requested, ScriptlessLoadOptions, ScriptlessModelKind, SCRIPTLESS_MODEL_CATEGORICAL,
    SCRIPTLESS_MODEL_PROGRAM, SCRIPTLESS_MODEL_SEQUENCE, SCRIPTLESS_MODEL_TWO_INPUT,
};
use crate::signature::Described;
use crate::status::{
    guard, Failure, ScriptlessStatus, SCRIPTLESS_ERROR_INTERNAL, SCRIPTLESS_ERROR_INVALID_ARGUMENT,
    SCRIPTLESS_ERROR_UNSUPPORTED,
};

/// A loaded model: one of the seed's, or a user's run by its own code. Immutable once loaded:
/// one model may run on many threads at once. Freed by `scriptless_model_destroy`.
pub struct ScriptlessModel {
    pub(crate) body: Body,
    /// The limits its calls run within.
    pub(crate) limits: Limits,
    /// What `scriptless_model_input_info` says of each input.
    inputs: Vec<InputDescription>,
    /// Its signature, what `scriptless_model_signature_json` and `_arg_info` say.
    pub(crate) described: Described,
}

/// What runs a model.
// One per model, which lives behind its handle's Box: boxing a variant would save nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Body {
    /// One of the seed's models.
    Seed {
        /// The model.
        model: Model,
        /// The sequence model's pooling.
        pooling: Pooling,
    },
    /// A user's model, run by its own code.
    Program(Program),
}

impl ScriptlessModel {
    /// The seed model, or the refusal of `call` for a model run by its own code, naming what
    /// to call instead (`instead`).
    pub(crate) fn seed(&self, call: &str, instead: &str) -> Result<(&Model, Pooling), Failure> {
        match &self.body {
            Body::Seed { model, pooling } => Ok((model, *pooling)),
            Body::Program(_) => Err(Failure::new(
                SCRIPTLESS_ERROR_UNSUPPORTED,
                format!(
                    "{call} serves the seed's models only; for a model run by its own code \
                     {instead}"
                ),
            )),
        }
    }
}

// One model serves many threads at once: everything in it is `Send + Sync`, and nothing in it
// is written after load.
const _: () = {
    const fn shared_across_threads<T: Send + Sync>() {}
    shared_across_threads::<ScriptlessModel>();
};

/// What a model expects of one input, with the strings a `ScriptlessInputInfo` points into.
struct InputDescription {
    /// The forward argument's name.
    name: CString,
    /// An index or length input, rather than floats.
    integer: bool,
    /// Its rank, or -1 for any.
    rank: i64,
    /// Its last dim, or -1 for any.
    last_dim: i64,
    /// Its shape in words.
    shape: CString,
}

/// What a model expects of one input, from `scriptless_model_input_info`. Its strings belong to
/// the model and live as long as it does.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ScriptlessInputInfo {
    /// The input's name, as `ScriptlessInput.name` must give it (`"padded_seq"`).
    pub name: *const c_char,
    /// true for index and length inputs (`SCRIPTLESS_DTYPE_I64` or `_I32`), false for float
    /// inputs (`SCRIPTLESS_DTYPE_F32`, `_F64`, `_F16` or `_BF16`, converted to the model's
    /// dtype).
    pub integer: bool,
    /// The number of dims it must have, or -1 when any number of leading dims is taken.
    pub rank: i64,
    /// The size its last dim must have (after broadcasting, for the two-input model), or -1
    /// when it is free.
    pub last_dim: i64,
    /// Its shape as the documentation writes it: `"(B, T, 10)"`, `"(*, 10)"`, with what
    /// constrains its values (`"(B,), each in 1..=T"`).
    pub shape: *const c_char,
}

impl ScriptlessModel {
    /// The model `options` ask for from what `opened` holds, read from `what` (a path, or
    /// `weights buffer`).
    fn build(opened: Opened, options: &Options, what: &str) -> Result<Self, Failure> {
        match opened {
            Opened::Seed(weights) => Self::seed_model(weights, options, what),
            Opened::Program(program) => Self::program(*program, options),
        }
    }

    /// One of the seed's models from `weights`.
    fn seed_model(mut weights: Weights, options: &Options, what: &str) -> Result<Self, Failure> {
        let asked = match options.requested {
            Requested::Seed(kind) => Some(kind),
            Requested::Detect | Requested::Program => None,
        };
        // A contradiction between the options and the weights is the options' fault here.
        let kind = ModelKind::resolve(asked, &weights, "options.model").map_err(|e| match e {
            Error::Unsupported(message) => Failure::new(SCRIPTLESS_ERROR_INVALID_ARGUMENT, message),
            other => other.into(),
        })?;
        if let Some(width) = options.feature_width {
            if kind != ModelKind::Categorical {
                return Err(Failure::new(
                    SCRIPTLESS_ERROR_INVALID_ARGUMENT,
                    format!(
                        "options.feature_width applies to the categorical model only, not {kind}"
                    ),
                ));
            }
            weights.set_metadata(META_FEATURE_WIDTH, &width.to_string())?;
        }
        if options.pooling != Pooling::PaddedLast && kind != ModelKind::Sequence {
            return Err(Failure::new(
                SCRIPTLESS_ERROR_INVALID_ARGUMENT,
                format!("options.pooling applies to the sequence model only, not {kind}"),
            ));
        }
        let model = Model::from_weights(&weights, kind, options.dtype, &options.device)
            .map_err(|e| Failure::from(e).context(format!("loading the {kind} model from {what}")))?
            .with_limits(options.limits);
        let inputs = describe_inputs(&model)?;
        let described =
            Described::seed(&model, &inputs.iter().map(|i| i.rank).collect::<Vec<_>>())?;
        Ok(Self {
            body: Body::Seed {
                model,
                pooling: options.pooling,
            },
            limits: options.limits,
            inputs,
            described,
        })
    }

    /// A user's model, run by its own code.
    fn program(program: Program, options: &Options) -> Result<Self, Failure> {
        let seed_only = |option: &str| {
            Failure::new(
                SCRIPTLESS_ERROR_INVALID_ARGUMENT,
                format!(
                    "options.{option} applies to the seed's models only, not to a model run by \
                     its own code"
                ),
            )
        };
        if options.feature_width.is_some() {
            return Err(seed_only("feature_width"));
        }
        if options.pooling != Pooling::PaddedLast {
            return Err(seed_only("pooling"));
        }
        let described = Described::program(&program)?;
        let inputs = program_inputs(&program)?;
        Ok(Self {
            limits: program.options().limits,
            body: Body::Program(program),
            inputs,
            described,
        })
    }
}

/// What each of `model`'s inputs must be, in the order of its forward arguments.
fn describe_inputs(model: &Model) -> Result<Vec<InputDescription>, Failure> {
    let [first, second] = model.kind().input_names();
    // (integer, rank, last dim, shape)
    let specs: [(bool, i64, Option<usize>, String); 2] = match model {
        Model::TwoInput(m) => {
            let n = m.config().in_features;
            [
                (
                    false,
                    -1,
                    Some(n),
                    format!("(*, {n}) after broadcasting with `tensor2`"),
                ),
                (
                    false,
                    -1,
                    Some(n),
                    format!("(*, {n}) after broadcasting with `tensor1`"),
                ),
            ]
        }
        Model::Categorical(m) => {
            let c = m.config();
            [
                (
                    false,
                    -1,
                    Some(c.feature_width),
                    format!("(*, {})", c.feature_width),
                ),
                (
                    true,
                    -1,
                    None,
                    format!(
                        "(*), `tensor_input`'s leading dims, each in 0..{}",
                        c.num_categories
                    ),
                ),
            ]
        }
        Model::Sequence(m) => {
            let i = m.config().lstm.input_size;
            [
                (false, 3, Some(i), format!("(B, T, {i})")),
                (true, 1, None, "(B,), each in 1..=T".to_string()),
            ]
        }
    };
    [first, second]
        .into_iter()
        .zip(specs)
        .map(|(name, (integer, rank, last_dim, shape))| {
            Ok(InputDescription {
                name: c_string(name)?,
                integer,
                rank,
                last_dim: last_dim.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX)),
                shape: c_string(&shape)?,
            })
        })
        .collect()
}

/// What `scriptless_model_input_info` says of a program's arguments: each name; integer where
/// a `.pt2` declares an integer or bool tensor; a `.pt2`'s declared rank and static last dim,
/// else -1; and the type as the code writes it, with a `.pt2`'s declared dims and dtype.
fn program_inputs(program: &Program) -> Result<Vec<InputDescription>, Failure> {
    program
        .signature()
        .params
        .iter()
        .map(|p| {
            let spec = match p.tensors.as_slice() {
                [spec] if p.kind() == script::ArgKind::Tensor => Some(spec),
                _ => None,
            };
            let mut shape = p.ty.display();
            if let Some(spec) = spec {
                let dims: Vec<String> = spec.dims.iter().map(dim_words).collect();
                shape = format!("{shape} ({}), {}", dims.join(", "), spec.dtype.name());
            }
            let last_dim = match spec.and_then(|s| s.dims.last()) {
                Some(script::Dim::Static(n)) => i64::try_from(*n).unwrap_or(i64::MAX),
                _ => -1,
            };
            Ok(InputDescription {
                name: c_string(&p.name)?,
                integer: spec.is_some_and(|s| !s.dtype.is_float()),
                rank: spec.map_or(-1, |s| i64::try_from(s.dims.len()).unwrap_or(i64::MAX)),
                last_dim,
                shape: c_string(&shape)?,
            })
        })
        .collect()
}

/// One declared dim in words: `10`, `s77`, `2*s77`.
fn dim_words(dim: &script::Dim) -> String {
    match dim {
        script::Dim::Static(n) => n.to_string(),
        script::Dim::Dynamic { symbol, .. } => symbol.clone(),
        script::Dim::Derived(expr) => expr.clone(),
    }
}

/// `s` as a C string. An output's name may hold a NUL (a dict key the model made): C cannot
/// name it, so it is unsupported, named.
pub(crate) fn c_string(s: &str) -> Result<CString, Failure> {
    CString::new(s).map_err(|_| {
        Failure::new(
            SCRIPTLESS_ERROR_UNSUPPORTED,
            format!(
                "`{}` holds a NUL, which a C string cannot",
                s.escape_debug()
            ),
        )
    })
}

/// Loads a model from the weights file at `path` (UTF-8): safetensors, `torch.save(state_dict)`, a
/// TorchScript archive (`torch.jit.save`) or a `torch.export.save` archive (`.pt2`), told apart
/// by content. `options` may be NULL for
/// every default. On success `*model` is the new model, to free with
/// `scriptless_model_destroy`; on failure it is NULL.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `options` is NULL or points to a
/// `ScriptlessLoadOptions`; `model` is NULL or points to a `ScriptlessModel *`.
#[no_mangle]
pub unsafe extern "C" fn scriptless_model_load(
    path: *const c_char,
    options: *const ScriptlessLoadOptions,
    model: *mut *mut ScriptlessModel,
) -> ScriptlessStatus {
    let read = |options: &Options| {
        // SAFETY: NULL or a NUL-terminated string by the caller's contract.
        let path = unsafe { args::string(path, "path") }?;
        let opened = match options.requested {
            Requested::Program => Opened::Program(Box::new(Program::load_with(
                Path::new(path),
                &program_options(options),
            )?)),
            Requested::Seed(_) => Opened::open(Path::new(path), true, &program_options(options))?,
            Requested::Detect => Opened::open(Path::new(path), false, &program_options(options))?,
        };
        Ok((opened, path.to_string()))
    };
    // SAFETY: by the function's contract.
    unsafe { load(model, options, read) }
}

/// Loads a model from weights in memory, `len` bytes at `data`, in any format
/// `scriptless_model_load` reads. The bytes are read during the call and not kept.
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes; `options` and `model` as for
/// `scriptless_model_load`.
#[no_mangle]
pub unsafe extern "C" fn scriptless_model_load_from_memory(
    data: *const c_void,
    len: usize,
    options: *const ScriptlessLoadOptions,
    model: *mut *mut ScriptlessModel,
) -> ScriptlessStatus {
    let read = |options: &Options| {
        if data.is_null() {
            return Err(args::null("data"));
        }
        // SAFETY: `len` readable bytes at `data` by the caller's contract.
        let bytes = unsafe { args::slice(data.cast::<u8>(), len, "data") }?;
        let what = "weights buffer";
        let program = program_options(options);
        let opened = match options.requested {
            Requested::Program => {
                Opened::Program(Box::new(Program::from_bytes(bytes, what, &program)?))
            }
            Requested::Seed(_) => Opened::from_bytes(bytes, what, true, &program)?,
            Requested::Detect => Opened::from_bytes(bytes, what, false, &program)?,
        };
        Ok((opened, what.to_string()))
    };
    // SAFETY: by the function's contract.
    unsafe { load(model, options, read) }
}

/// How a program is loaded with `options`: on their device, within their limits, in their
/// dtype where they name one (`options.dtype` other than the default), else in the archive's.
fn program_options(options: &Options) -> script::Options {
    script::Options {
        device: options.device.clone(),
        dtype: options.program_dtype,
        limits: options.limits,
        ..script::Options::default()
    }
}

/// What both load functions do around opening the file: `*model` NULL first, the options
/// read, the file opened by `read` within their limits, as every door opens one (with what it
/// is read from, for messages), the model built and handed over.
///
/// # Safety
/// `options` and `model` as for `scriptless_model_load`.
unsafe fn load(
    model: *mut *mut ScriptlessModel,
    options: *const ScriptlessLoadOptions,
    read: impl FnOnce(&Options) -> Result<(Opened, String), Failure>,
) -> ScriptlessStatus {
    guard(|| {
        // SAFETY: NULL or a place for a pointer by the caller's contract.
        let model = unsafe { args::clear(model, "model") }?;
        // SAFETY: NULL or a live options struct by the caller's contract.
        let options = unsafe { Options::read(options) }?;
        let (opened, what) = read(&options)?;
        let handle = ScriptlessModel::build(opened, &options, &what)?;
        // SAFETY: the slot came from `args::clear`.
        unsafe { args::hand_over(model, handle) };
        Ok(())
    })
}

/// Frees `*model` and sets it to NULL. Nothing happens when `*model` is already NULL. No other
/// call may be using the model.
///
/// # Safety
/// `model` is NULL or points to a `ScriptlessModel *` that is NULL or came from a
/// `scriptless_model_load*` call and was not freed since.
#[no_mangle]
pub unsafe extern "C" fn scriptless_model_destroy(
    model: *mut *mut ScriptlessModel,
) -> ScriptlessStatus {
    // SAFETY: NULL, or a slot holding NULL or a live model, by the caller's contract.
    guard(|| unsafe { args::free(model, "model") })
}

/// The model of a `const ScriptlessModel *` argument.
///
/// # Safety
/// `model` is NULL or points to a live model.
pub(crate) unsafe fn model_ref<'a>(
    model: *const ScriptlessModel,
) -> Result<&'a ScriptlessModel, Failure> {
    // SAFETY: forwarded from the caller's contract.
    unsafe { args::value(model, "model") }
}

/// The kind of `model` in `*kind`: `SCRIPTLESS_MODEL_TWO_INPUT`, `_CATEGORICAL` or `_SEQUENCE`
/// for the seed's models, `SCRIPTLESS_MODEL_PROGRAM` for a model run by its own code.
///
/// # Safety
/// `model` is NULL or a live model; `kind` is NULL or a place for a `ScriptlessModelKind`.
#[no_mangle]
pub unsafe extern "C" fn scriptless_model_kind(
    model: *const ScriptlessModel,
    kind: *mut ScriptlessModelKind,
) -> ScriptlessStatus {
    guard(|| {
        // SAFETY: by the function's contract.
        let model = unsafe { model_ref(model) }?;
        let value = match &model.body {
            Body::Program(_) => SCRIPTLESS_MODEL_PROGRAM,
            Body::Seed { model, .. } => match model.kind() {
                ModelKind::TwoInput => SCRIPTLESS_MODEL_TWO_INPUT,
                ModelKind::Categorical => SCRIPTLESS_MODEL_CATEGORICAL,
                ModelKind::Sequence => SCRIPTLESS_MODEL_SEQUENCE,
            },
        };
        // SAFETY: NULL or a place for the value by the caller's contract.
        unsafe { args::put(kind, "kind", value) }
    })
}

/// The dtype `model` computes in and returns its outputs in (`SCRIPTLESS_DTYPE_F32`, ...), in
/// `*dtype`. For a model run by its own code: the dtype `options.dtype` converted it to; loaded
/// in its archive's dtypes (the default), it has no one dtype (each output's view says its
/// own), and this is `SCRIPTLESS_ERROR_UNSUPPORTED`.
///
/// # Safety
/// `model` is NULL or a live model; `dtype` is NULL or a place for a `ScriptlessDType`.
#[no_mangle]
pub unsafe extern "C" fn scriptless_model_dtype(
    model: *const ScriptlessModel,
    dtype: *mut ScriptlessDType,
) -> ScriptlessStatus {
    guard(|| {
        // SAFETY: by the function's contract.
        let model = unsafe { model_ref(model) }?;
        let value = match &model.body {
            Body::Seed { model, .. } => dtype_to_c(model.dtype()).ok_or_else(|| {
                Failure::new(SCRIPTLESS_ERROR_INTERNAL, "the model's dtype has no C name")
            })?,
            Body::Program(program) => {
                let dtype = program.options().dtype.ok_or_else(|| {
                    Failure::new(
                        SCRIPTLESS_ERROR_UNSUPPORTED,
                        "a model run by its own code keeps its archive's dtypes unless \
                         options.dtype names one; each output's ScriptlessTensorView gives \
                         its dtype",
                    )
                })?;
                scriptless_core::ops::ScalarType::from_candle(dtype)
                    .map(scalar_to_c)
                    .ok_or_else(|| {
                        Failure::new(SCRIPTLESS_ERROR_INTERNAL, "the model's dtype has no C name")
                    })?
            }
        };
        // SAFETY: NULL or a place for the value by the caller's contract.
        unsafe { args::put(dtype, "dtype", value) }
    })
}

/// The number of inputs `model`'s forward call takes (2 for each of the seed's models), in
/// `*count`. For a model run by its own code: the number of its `forward` arguments, tensors
/// or not (`scriptless_model_arg_count`).
///
/// # Safety
/// `model` is NULL or a live model; `count` is NULL or a place for a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn scriptless_model_input_count(
    model: *const ScriptlessModel,
    count: *mut usize,
) -> ScriptlessStatus {
    guard(|| {
        // SAFETY: by the function's contract.
        let model = unsafe { model_ref(model) }?;
        // SAFETY: NULL or a place for the value by the caller's contract.
        unsafe { args::put(count, "count", model.inputs.len()) }
    })
}

/// What `model` expects of its input number `index` (from 0, in the seed's argument order),
/// in `*info`: its name, integer or float, rank and last dim, and its shape in words. For a
/// model run by its own code, its `forward` argument number `index`: its name; `integer` true
/// only for a tensor a `.pt2` declares of an integer or bool dtype; `rank` and `last_dim` as a
/// `.pt2` declares them, else -1; `shape` the type as the code writes it (`Optional[Tensor]`,
/// `int`), with a `.pt2`'s declared dims and dtype (`Tensor (s77, 10), float32`).
/// `scriptless_model_arg_info` says more (the kind, optional, default).
///
/// # Safety
/// `model` is NULL or a live model; `info` is NULL or a place for a `ScriptlessInputInfo`.
#[no_mangle]
pub unsafe extern "C" fn scriptless_model_input_info(
    model: *const ScriptlessModel,
    index: usize,
    info: *mut ScriptlessInputInfo,
) -> ScriptlessStatus {
    guard(|| {
        // SAFETY: by the function's contract.
        let model = unsafe { model_ref(model) }?;
        let input = model.inputs.get(index).ok_or_else(|| {
            Failure::new(
                SCRIPTLESS_ERROR_INVALID_ARGUMENT,
                match &model.body {
                    Body::Seed { model: seed, .. } => format!(
                        "index is {index}, but the {} model has {} inputs",
                        seed.kind(),
                        model.inputs.len()
                    ),
                    Body::Program(_) => format!(
                        "index is {index}, but forward takes {} arguments",
                        model.inputs.len()
                    ),
                },
            )
        })?;
        let value = ScriptlessInputInfo {
            name: input.name.as_ptr(),
            integer: input.integer,
            rank: input.rank,
            last_dim: input.last_dim,
            shape: input.shape.as_ptr(),
        };
        // SAFETY: NULL or a place for the value by the caller's contract.
        unsafe { args::put(info, "info", value) }
    })
}
