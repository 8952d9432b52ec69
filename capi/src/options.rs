//! `ScriptlessLoadOptions`: what `scriptless_model_load` is told beside the weights.

use std::ffi::c_char;

use candle_core::{DType, Device};
use scriptless_core::{parse_device, Limits, ModelKind, Pooling};

use crate::args;
use crate::dtype::{c_dtype_label, dtype_from_c, ScriptlessDType, SCRIPTLESS_DTYPE_F32};
use crate::status::{Failure, SCRIPTLESS_ERROR_INVALID_ARGUMENT};

/// Which model to load, or which a loaded model is: `SCRIPTLESS_MODEL_*`.
pub type ScriptlessModelKind = u32;
/// Whatever the file holds: one of the seed's models when the weights' metadata names one
/// (`model` in safetensors) or an archive's code is the seed's; a model run by its own code
/// (`SCRIPTLESS_MODEL_PROGRAM`) when a TorchScript or `torch.export` archive holds any other
/// code. A plain `torch.save` state_dict names no model, and must be told.
pub const SCRIPTLESS_MODEL_DETECT: ScriptlessModelKind = 0;
/// The seed's `TwoInputModule`: `linear(tensor1 + tensor2)`.
pub const SCRIPTLESS_MODEL_TWO_INPUT: ScriptlessModelKind = 1;
/// The seed's `CategoricalInputModule`: `linear(cat(tensor_input, one_hot(category_index)))`.
pub const SCRIPTLESS_MODEL_CATEGORICAL: ScriptlessModelKind = 2;
/// The seed's `SequenceInputModule`: packed LSTM, then `linear` on one time step.
pub const SCRIPTLESS_MODEL_SEQUENCE: ScriptlessModelKind = 3;
/// A user's model, run by its own code: a TorchScript archive's code (`torch.jit.save`) or a
/// `torch.export` archive's graph (`.pt2`). `scriptless_model_kind` says it of every such
/// model; as `options.model` it runs an archive by its own code even when that code is the
/// seed's (the command line's `--interpret`), and a file without code (safetensors, a
/// state_dict) is refused.
pub const SCRIPTLESS_MODEL_PROGRAM: ScriptlessModelKind = 4;

/// Which time step of the sequence model feeds its final Linear: `SCRIPTLESS_POOL_*`.
pub type ScriptlessPooling = u32;
/// The seed's `unpacked_seq[:, -1, :]`: the padded batch's last step, so every row shorter
/// than the longest outputs `linear.bias` (PyTorch's behaviour, reproduced).
pub const SCRIPTLESS_POOL_PADDED_LAST: ScriptlessPooling = 0;
/// Each row's own last step, `unpacked_seq[i, seq_lengths[i] - 1, :]`.
pub const SCRIPTLESS_POOL_LAST_VALID: ScriptlessPooling = 1;

/// How to load a model. A zeroed struct (`ScriptlessLoadOptions options = {0};`), or a NULL
/// pointer in its place, asks for every default.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ScriptlessLoadOptions {
    /// Which model to run (`SCRIPTLESS_MODEL_*`). Default (`SCRIPTLESS_MODEL_DETECT`): the
    /// seed model the weights' metadata names or whose code a TorchScript or `.pt2` archive
    /// holds, else, for an archive holding other code, that code (`SCRIPTLESS_MODEL_PROGRAM`).
    /// A seed model named here takes the file's tensors and ignores any code in the file; it
    /// must agree with the metadata, or the seed's code, the file holds.
    /// `SCRIPTLESS_MODEL_PROGRAM` runs an archive by its own code, even the seed's.
    pub model: ScriptlessModelKind,
    /// The precision the model computes in: `SCRIPTLESS_DTYPE_F32` (the default, 0), `_F64`,
    /// `_F16` or `_BF16`. A seed model computes in it and returns it. A model run by its own
    /// code keeps its archive's dtypes with the default 0 (as the command line does without
    /// `--dtype`); `_F64`, `_F16` or `_BF16` convert its floating-point parameters, buffers and
    /// float inputs, as PyTorch's `model.to(dtype)` (a `.pt2` loads only in the dtype it was
    /// exported in). An archive's other dtype cannot be converted to F32 through this field,
    /// whose F32 is its default.
    pub dtype: ScriptlessDType,
    /// Sequence model only: `SCRIPTLESS_POOL_PADDED_LAST` (the default, 0, the seed's) or
    /// `SCRIPTLESS_POOL_LAST_VALID`. Given for any other model, it is
    /// `SCRIPTLESS_ERROR_INVALID_ARGUMENT`.
    pub pooling: ScriptlessPooling,
    /// Categorical model only: the width of `tensor_input` (the rest of `linear.in_features`
    /// is categories). 0: the weights' metadata `feature_width` or an archive's code, else the
    /// seed's 10. A width the weights contradict is `SCRIPTLESS_ERROR_WEIGHTS`; given for any
    /// other model, it is `SCRIPTLESS_ERROR_INVALID_ARGUMENT`.
    pub feature_width: usize,
    /// The device to run on, `"cpu"`, `"cuda"`, `"cuda:N"` or `"metal"` (GPU devices only in
    /// a library built with that feature). NULL: the CPU. A device this build or machine
    /// lacks, or a name that is none of these, is `SCRIPTLESS_ERROR_UNSUPPORTED`, as on the
    /// command line.
    pub device: *const c_char,
    /// Refuse weights larger than this many bytes. 0: a sixteenth of the memory this
    /// process may use, at most 16 GiB.
    pub max_weights_bytes: u64,
    /// Refuse a call that would build any tensor of more elements than this: an input, the
    /// padded batch, a broadcast, the LSTM's gates, the output. 0: the memory this process
    /// may use / 128 bytes, at most 2^27.
    pub max_elements: usize,
}

/// Which model the options ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Requested {
    /// Whatever the file holds.
    Detect,
    /// One of the seed's models.
    Seed(ModelKind),
    /// The archive's own code.
    Program,
}

/// Load options read and checked.
pub(crate) struct Options {
    /// The model asked for.
    pub requested: Requested,
    /// The dtype a seed model computes in.
    pub dtype: DType,
    /// The dtype a program is converted to: none for the default.
    pub program_dtype: Option<DType>,
    /// The sequence model's pooling.
    pub pooling: Pooling,
    /// The categorical model's feature width, if given.
    pub feature_width: Option<usize>,
    /// The device to run on.
    pub device: Device,
    /// The limits, defaults filled in.
    pub limits: Limits,
}

impl Options {
    /// The options `options` points to, or the defaults for NULL.
    ///
    /// # Safety
    /// A non-NULL `options` points to a live `ScriptlessLoadOptions` whose `device` is NULL or
    /// a NUL-terminated string.
    pub unsafe fn read(options: *const ScriptlessLoadOptions) -> Result<Self, Failure> {
        let default_limits = Limits::default();
        if options.is_null() {
            return Ok(Self {
                requested: Requested::Detect,
                dtype: DType::F32,
                program_dtype: None,
                pooling: Pooling::PaddedLast,
                feature_width: None,
                device: Device::Cpu,
                limits: default_limits,
            });
        }
        // SAFETY: not NULL, and a live struct by the caller's contract.
        let o = unsafe { args::value(options, "options") }?;
        let invalid = |message: String| Failure::new(SCRIPTLESS_ERROR_INVALID_ARGUMENT, message);
        let requested = match o.model {
            SCRIPTLESS_MODEL_DETECT => Requested::Detect,
            SCRIPTLESS_MODEL_TWO_INPUT => Requested::Seed(ModelKind::TwoInput),
            SCRIPTLESS_MODEL_CATEGORICAL => Requested::Seed(ModelKind::Categorical),
            SCRIPTLESS_MODEL_SEQUENCE => Requested::Seed(ModelKind::Sequence),
            SCRIPTLESS_MODEL_PROGRAM => Requested::Program,
            other => {
                return Err(invalid(format!(
                    "options.model is {other}, not a SCRIPTLESS_MODEL_* value"
                )))
            }
        };
        let dtype = match dtype_from_c(o.dtype) {
            Some(d @ (DType::F32 | DType::F64 | DType::F16 | DType::BF16)) => d,
            _ => {
                return Err(invalid(format!(
                    "options.dtype is {}: a model computes in F32, F64, F16 or BF16",
                    c_dtype_label(o.dtype)
                )))
            }
        };
        let pooling = match o.pooling {
            SCRIPTLESS_POOL_PADDED_LAST => Pooling::PaddedLast,
            SCRIPTLESS_POOL_LAST_VALID => Pooling::LastValid,
            other => {
                return Err(invalid(format!(
                    "options.pooling is {other}, not a SCRIPTLESS_POOL_* value"
                )))
            }
        };
        let device = if o.device.is_null() {
            Device::Cpu
        } else {
            // SAFETY: not NULL, and a NUL-terminated string by the caller's contract.
            let name = unsafe { args::string(o.device, "options.device") }?;
            parse_device(name).map_err(Failure::from)?
        };
        Ok(Self {
            requested,
            dtype,
            program_dtype: (o.dtype != SCRIPTLESS_DTYPE_F32).then_some(dtype),
            pooling,
            feature_width: (o.feature_width != 0).then_some(o.feature_width),
            device,
            limits: Limits {
                max_weights_bytes: match o.max_weights_bytes {
                    0 => default_limits.max_weights_bytes,
                    n => n,
                },
                max_elements: match o.max_elements {
                    0 => default_limits.max_elements,
                    n => n,
                },
                ..default_limits
            },
        })
    }
}
