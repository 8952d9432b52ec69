//! `ScriptlessModel`: loading a model from a file or a buffer, what it says about itself, and
//! its destruction.

use std::ffi::{c_char, c_void, CString};
use std::path::Path;

use scriptless_core::{Error, Limits, Model, ModelKind, Pooling, Weights, META_FEATURE_WIDTH};

use crate::args;
use crate::dtype::{dtype_to_c, ScriptlessDType};
use crate::options::{
    Options, ScriptlessLoadOptions, ScriptlessModelKind, SCRIPTLESS_MODEL_CATEGORICAL,
    SCRIPTLESS_MODEL_SEQUENCE, SCRIPTLESS_MODEL_TWO_INPUT,
};
use crate::status::{
    guard, Failure, ScriptlessStatus, SCRIPTLESS_ERROR_INTERNAL, SCRIPTLESS_ERROR_INVALID_ARGUMENT,
};

/// A loaded model. Immutable once loaded: one model may run on many threads at once. Freed by
/// `scriptless_model_destroy`.
pub struct ScriptlessModel {
    pub(crate) model: Model,
    pub(crate) pooling: Pooling,
    pub(crate) limits: Limits,
    /// What `scriptless_model_input_info` says of each input.
    inputs: Vec<InputDescription>,
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
    /// Builds the model `options` ask for from `weights`, read from `what` (a path, or `weights
    /// buffer`).
    fn build(mut weights: Weights, options: &Options, what: &str) -> Result<Self, Failure> {
        // A contradiction between the options and the weights is the options' fault here.
        let kind =
            ModelKind::resolve(options.kind, &weights, "options.model").map_err(|e| match e {
                Error::Unsupported(message) => {
                    Failure::new(SCRIPTLESS_ERROR_INVALID_ARGUMENT, message)
                }
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
        Ok(Self {
            model,
            pooling: options.pooling,
            limits: options.limits,
            inputs,
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

/// `s` as a C string; names and shapes hold no NUL.
fn c_string(s: &str) -> Result<CString, Failure> {
    CString::new(s).map_err(|_| Failure::new(SCRIPTLESS_ERROR_INTERNAL, "a NUL in a name"))
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
    let read = |limits: &Limits| {
        // SAFETY: NULL or a NUL-terminated string by the caller's contract.
        let path = unsafe { args::string(path, "path") }?;
        Ok((
            Weights::read_within(Path::new(path), limits)?,
            path.to_string(),
        ))
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
    let read = |limits: &Limits| {
        if data.is_null() {
            return Err(args::null("data"));
        }
        // SAFETY: `len` readable bytes at `data` by the caller's contract.
        let bytes = unsafe { args::slice(data.cast::<u8>(), len, "data") }?;
        let what = "weights buffer";
        Ok((Weights::from_bytes(bytes, what, limits)?, what.to_string()))
    };
    // SAFETY: by the function's contract.
    unsafe { load(model, options, read) }
}

/// What both load functions do around reading the weights: `*model` NULL first, the options
/// read, the weights read by `read` within their limits (with what they are read from, for
/// messages), the model built and handed over.
///
/// # Safety
/// `options` and `model` as for `scriptless_model_load`.
unsafe fn load(
    model: *mut *mut ScriptlessModel,
    options: *const ScriptlessLoadOptions,
    read: impl FnOnce(&Limits) -> Result<(Weights, String), Failure>,
) -> ScriptlessStatus {
    guard(|| {
        // SAFETY: NULL or a place for a pointer by the caller's contract.
        let model = unsafe { args::clear(model, "model") }?;
        // SAFETY: NULL or a live options struct by the caller's contract.
        let options = unsafe { Options::read(options) }?;
        let (weights, what) = read(&options.limits)?;
        let handle = ScriptlessModel::build(weights, &options, &what)?;
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

/// The kind of `model` (`SCRIPTLESS_MODEL_TWO_INPUT`, `_CATEGORICAL` or `_SEQUENCE`), in
/// `*kind`.
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
        let value = match model.model.kind() {
            ModelKind::TwoInput => SCRIPTLESS_MODEL_TWO_INPUT,
            ModelKind::Categorical => SCRIPTLESS_MODEL_CATEGORICAL,
            ModelKind::Sequence => SCRIPTLESS_MODEL_SEQUENCE,
        };
        // SAFETY: NULL or a place for the value by the caller's contract.
        unsafe { args::put(kind, "kind", value) }
    })
}

/// The dtype `model` computes in and returns its outputs in (`SCRIPTLESS_DTYPE_F32`, ...), in
/// `*dtype`.
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
        let value = dtype_to_c(model.model.dtype()).ok_or_else(|| {
            Failure::new(SCRIPTLESS_ERROR_INTERNAL, "the model's dtype has no C name")
        })?;
        // SAFETY: NULL or a place for the value by the caller's contract.
        unsafe { args::put(dtype, "dtype", value) }
    })
}

/// The number of inputs `model`'s forward call takes (2 for each of the seed's models), in
/// `*count`.
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
/// in `*info`: its name, integer or float, rank and last dim, and its shape in words.
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
                format!(
                    "index is {index}, but the {} model has {} inputs",
                    model.model.kind(),
                    model.inputs.len()
                ),
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
