//! What `forward` takes, for any model: its signature as JSON (the JSON `scriptless inspect
//! --json` prints) and each argument's name, kind and declared tensor, from
//! `scriptless_model_signature_json`, `scriptless_model_arg_count` and
//! `scriptless_model_arg_info`.

use std::ffi::{c_char, CString};

use scriptless_core::script::ast::Type;
use scriptless_core::script::{ArgKind, Param, Program, Signature};
use scriptless_core::Model;

use crate::args;
use crate::dtype::{scalar_to_c, ScriptlessDType, SCRIPTLESS_DTYPE_F32};
use crate::model::{c_string, model_ref, ScriptlessModel};
use crate::status::{guard, Failure, ScriptlessStatus, SCRIPTLESS_ERROR_INVALID_ARGUMENT};

/// What a `forward` argument takes, or what a `ScriptlessArg` gives: `SCRIPTLESS_ARG_*`.
pub type ScriptlessArgKind = u32;
/// A `Tensor` (`ScriptlessArg.tensor`).
pub const SCRIPTLESS_ARG_TENSOR: ScriptlessArgKind = 1;
/// A `List[Tensor]` (`ScriptlessArg.tensors`, `count` of them).
pub const SCRIPTLESS_ARG_TENSOR_LIST: ScriptlessArgKind = 2;
/// An `int` (`ScriptlessArg.int_value`).
pub const SCRIPTLESS_ARG_INT: ScriptlessArgKind = 3;
/// A `float` (`ScriptlessArg.float_value`).
pub const SCRIPTLESS_ARG_FLOAT: ScriptlessArgKind = 4;
/// A `bool` (`ScriptlessArg.bool_value`).
pub const SCRIPTLESS_ARG_BOOL: ScriptlessArgKind = 5;
/// A `str` (`ScriptlessArg.str_value`, UTF-8).
pub const SCRIPTLESS_ARG_STR: ScriptlessArgKind = 6;
/// A `List[int]` (`ScriptlessArg.ints`, `count` of them).
pub const SCRIPTLESS_ARG_INT_LIST: ScriptlessArgKind = 7;
/// A `List[float]` (`ScriptlessArg.floats`, `count` of them).
pub const SCRIPTLESS_ARG_FLOAT_LIST: ScriptlessArgKind = 8;
/// A `List[bool]` (`ScriptlessArg.bools`, `count` of them).
pub const SCRIPTLESS_ARG_BOOL_LIST: ScriptlessArgKind = 9;
/// Any other type (a tuple, a dict, a nested list): an argument info says it; C cannot give
/// one (JSON requests and Python can), unless it has a default or takes `None`.
pub const SCRIPTLESS_ARG_OTHER: ScriptlessArgKind = 10;
/// `None`, for an argument that takes it (`Optional[...]`): no value field is read. Only a
/// `ScriptlessArg` gives it; an argument info's `optional` says an argument takes it.
pub const SCRIPTLESS_ARG_NONE: ScriptlessArgKind = 11;

/// One `forward` argument of a model, from `scriptless_model_arg_info`. Its strings belong to
/// the model and live as long as it does.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ScriptlessArgInfo {
    /// The argument's name, as `ScriptlessArg.name` gives it (`"x"`).
    pub name: *const c_char,
    /// Its type as the code writes it (`"Optional[Tensor]"`, `"List[int]"`).
    pub type_name: *const c_char,
    /// What it takes, `Optional[...]` unwrapped: `SCRIPTLESS_ARG_TENSOR` ...
    /// `SCRIPTLESS_ARG_OTHER` (never `SCRIPTLESS_ARG_NONE`).
    pub kind: ScriptlessArgKind,
    /// Whether it takes `None` too (`Optional[...]`).
    pub optional: bool,
    /// Whether it has a default, and may be left out.
    pub has_default: bool,
    /// Whether `dtype` is the tensor's declared dtype: a `.pt2` declares each tensor argument's
    /// (a tensor of another dtype is converted where that is exact, else refused). false for a
    /// TorchScript model's arguments and the seed's (whose float inputs take any float dtype),
    /// and for arguments that are not one tensor.
    pub has_dtype: bool,
    /// The declared dtype where `has_dtype`, else `SCRIPTLESS_DTYPE_F32` (0).
    pub dtype: ScriptlessDType,
    /// The number of dims the tensor must have where that is known (a `.pt2`'s declared tensor,
    /// the seed's sequence model), else -1.
    pub rank: i64,
}

/// A model's signature, described once at load: the JSON and each argument's info, with the
/// strings they point to.
pub(crate) struct Described {
    /// The signature as JSON.
    json: CString,
    /// Each argument, in order.
    args: Vec<ArgDescription>,
}

/// One argument, with the strings a `ScriptlessArgInfo` points into.
struct ArgDescription {
    name: CString,
    type_name: CString,
    kind: ScriptlessArgKind,
    optional: bool,
    has_default: bool,
    dtype: Option<ScriptlessDType>,
    rank: i64,
}

impl Described {
    /// A user's model's signature.
    pub fn program(program: &Program) -> Result<Self, Failure> {
        let signature = program.signature();
        let args = signature
            .params
            .iter()
            .map(|p| {
                let spec = match p.tensors.as_slice() {
                    [spec] if p.kind() == ArgKind::Tensor => Some(spec),
                    _ => None,
                };
                ArgDescription::new(
                    p,
                    spec.map(|s| scalar_to_c(s.dtype)),
                    spec.map_or(-1, |s| i64::try_from(s.dims.len()).unwrap_or(i64::MAX)),
                )
            })
            .collect::<Result<_, _>>()?;
        Self::new(signature, args)
    }

    /// A seed model's signature: its two tensor arguments, returning a tensor. `ranks` are the
    /// inputs' ranks (-1 for any), in the order of its arguments.
    pub fn seed(model: &Model, ranks: &[i64]) -> Result<Self, Failure> {
        let tensor = Type {
            name: "Tensor".into(),
            args: Vec::new(),
        };
        let signature = Signature {
            params: model
                .kind()
                .input_names()
                .iter()
                .map(|name| Param {
                    name: (*name).to_string(),
                    ty: tensor.clone(),
                    has_default: false,
                    default: None,
                    baked: None,
                    tensors: Vec::new(),
                })
                .collect(),
            returns: Some(tensor),
        };
        let args = signature
            .params
            .iter()
            .zip(ranks)
            .map(|(p, rank)| ArgDescription::new(p, None, *rank))
            .collect::<Result<_, _>>()?;
        Self::new(&signature, args)
    }

    fn new(signature: &Signature, args: Vec<ArgDescription>) -> Result<Self, Failure> {
        Ok(Self {
            json: c_string(&signature.to_json().to_string())?,
            args,
        })
    }

    /// The number of arguments.
    pub fn len(&self) -> usize {
        self.args.len()
    }
}

impl ArgDescription {
    fn new(p: &Param, dtype: Option<ScriptlessDType>, rank: i64) -> Result<Self, Failure> {
        Ok(Self {
            name: c_string(&p.name)?,
            type_name: c_string(&p.ty.display())?,
            kind: arg_kind_to_c(p.kind()),
            optional: p.optional(),
            has_default: p.has_default,
            dtype,
            rank,
        })
    }
}

/// The `SCRIPTLESS_ARG_*` value of an argument's kind.
pub(crate) fn arg_kind_to_c(kind: ArgKind) -> ScriptlessArgKind {
    match kind {
        ArgKind::Tensor => SCRIPTLESS_ARG_TENSOR,
        ArgKind::TensorList => SCRIPTLESS_ARG_TENSOR_LIST,
        ArgKind::Int => SCRIPTLESS_ARG_INT,
        ArgKind::Float => SCRIPTLESS_ARG_FLOAT,
        ArgKind::Bool => SCRIPTLESS_ARG_BOOL,
        ArgKind::Str => SCRIPTLESS_ARG_STR,
        ArgKind::IntList => SCRIPTLESS_ARG_INT_LIST,
        ArgKind::FloatList => SCRIPTLESS_ARG_FLOAT_LIST,
        ArgKind::BoolList => SCRIPTLESS_ARG_BOOL_LIST,
        ArgKind::Other => SCRIPTLESS_ARG_OTHER,
    }
}

/// `model`'s `forward` signature as JSON, in `*json`: a NUL-terminated string that belongs to
/// the model and lives as long as it does. It is the `signature` `scriptless inspect --json`
/// prints: `{"params": [{"name": "x", "type": "Tensor", "kind": "tensor", "optional": false,
/// "default": false, "baked": null, "tensors": [...]}, ...], "returns": "Dict[str, Tensor]"}`
/// (`default_value` is there only for a literal default; the fields are defined in
/// docs/own-models.md#the-signature). For one
/// of the seed's models, its two tensor arguments, returning a `"Tensor"`.
///
/// # Safety
/// `model` is NULL or a live model; `json` is NULL or a place for a `const char *`.
#[no_mangle]
pub unsafe extern "C" fn scriptless_model_signature_json(
    model: *const ScriptlessModel,
    json: *mut *const c_char,
) -> ScriptlessStatus {
    guard(|| {
        // SAFETY: by the function's contract.
        let model = unsafe { model_ref(model) }?;
        // SAFETY: NULL or a place for the value by the caller's contract.
        unsafe { args::put(json, "json", model.described.json.as_ptr()) }
    })
}

/// The number of `forward` arguments `model` takes, in `*count` (2 for each of the seed's
/// models).
///
/// # Safety
/// `model` is NULL or a live model; `count` is NULL or a place for a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn scriptless_model_arg_count(
    model: *const ScriptlessModel,
    count: *mut usize,
) -> ScriptlessStatus {
    guard(|| {
        // SAFETY: by the function's contract.
        let model = unsafe { model_ref(model) }?;
        // SAFETY: NULL or a place for the value by the caller's contract.
        unsafe { args::put(count, "count", model.described.len()) }
    })
}

/// What `model`'s `forward` argument number `index` (from 0, in `forward`'s order) takes, in
/// `*info`: its name, type, kind, whether it takes `None` or has a default, and a declared
/// tensor's dtype and rank. An index past the last argument is
/// `SCRIPTLESS_ERROR_INVALID_ARGUMENT`.
///
/// # Safety
/// `model` is NULL or a live model; `info` is NULL or a place for a `ScriptlessArgInfo`.
#[no_mangle]
pub unsafe extern "C" fn scriptless_model_arg_info(
    model: *const ScriptlessModel,
    index: usize,
    info: *mut ScriptlessArgInfo,
) -> ScriptlessStatus {
    guard(|| {
        // SAFETY: by the function's contract.
        let model = unsafe { model_ref(model) }?;
        let arg = model.described.args.get(index).ok_or_else(|| {
            Failure::new(
                SCRIPTLESS_ERROR_INVALID_ARGUMENT,
                format!(
                    "index is {index}, but forward takes {} arguments",
                    model.described.len()
                ),
            )
        })?;
        let value = ScriptlessArgInfo {
            name: arg.name.as_ptr(),
            type_name: arg.type_name.as_ptr(),
            kind: arg.kind,
            optional: arg.optional,
            has_default: arg.has_default,
            has_dtype: arg.dtype.is_some(),
            dtype: arg.dtype.unwrap_or(SCRIPTLESS_DTYPE_F32),
            rank: arg.rank,
        };
        // SAFETY: NULL or a place for the value by the caller's contract.
        unsafe { args::put(info, "info", value) }
    })
}
