//! Running any model by its arguments' names: `ScriptlessArg`, `scriptless_model_run`, and the
//! one path every call of a model run by its own code takes (C values to the library's
//! `Given`s, typed by `forward`'s signature as every door types them).

use std::collections::BTreeSet;
use std::ffi::c_char;

use scriptless_core::script::{self, Given, Program, Signature, Value};
use scriptless_core::{Error, Limits};

use crate::args::{self, At, Named};
use crate::inputs::{read_tensor, CheckedInputs, ScriptlessInput};
use crate::model::{model_ref, Body, ScriptlessModel};
use crate::outputs::ScriptlessOutputs;
use crate::signature::{
    ScriptlessArgKind, SCRIPTLESS_ARG_BOOL, SCRIPTLESS_ARG_BOOL_LIST, SCRIPTLESS_ARG_FLOAT,
    SCRIPTLESS_ARG_FLOAT_LIST, SCRIPTLESS_ARG_INT, SCRIPTLESS_ARG_INT_LIST, SCRIPTLESS_ARG_NONE,
    SCRIPTLESS_ARG_OTHER, SCRIPTLESS_ARG_STR, SCRIPTLESS_ARG_TENSOR, SCRIPTLESS_ARG_TENSOR_LIST,
};
use crate::status::{
    guard, Failure, ScriptlessStatus, SCRIPTLESS_ERROR_INVALID_ARGUMENT,
    SCRIPTLESS_ERROR_UNSUPPORTED,
};
use crate::tensor::ScriptlessTensor;

/// One argument of `scriptless_model_run`, owned by the caller: read during the call, never
/// kept. `kind` says which field holds its value; the others are not read. A zeroed struct
/// with `name`, `kind` and that field set is one:
///
/// ```c
/// ScriptlessArg k = {0};
/// k.name = "k"; k.kind = SCRIPTLESS_ARG_INT; k.int_value = 3;
/// ```
///
/// The value is typed by the argument's declared type as every door types it: a float where
/// an `int` is declared is refused, an `int` where a `float` is declared is taken, an
/// `INT_LIST` or `FLOAT_LIST` where a `Tensor` is declared becomes a tensor as `torch.tensor`
/// makes one (int64, float32).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ScriptlessArg {
    /// The `forward` argument's name (`scriptless_model_arg_info`), UTF-8.
    pub name: *const c_char,
    /// Which value it gives: `SCRIPTLESS_ARG_*` (`SCRIPTLESS_ARG_NONE` for `None`; not
    /// `SCRIPTLESS_ARG_OTHER`, which C cannot give).
    pub kind: ScriptlessArgKind,
    /// `SCRIPTLESS_ARG_TENSOR`: the tensor (its `name` is not read).
    pub tensor: ScriptlessInput,
    /// `SCRIPTLESS_ARG_TENSOR_LIST`: `count` tensors (their names are not read); may be NULL
    /// when `count` is 0.
    pub tensors: *const ScriptlessInput,
    /// `SCRIPTLESS_ARG_INT_LIST`: `count` integers; may be NULL when `count` is 0.
    pub ints: *const i64,
    /// `SCRIPTLESS_ARG_FLOAT_LIST`: `count` floats; may be NULL when `count` is 0.
    pub floats: *const f64,
    /// `SCRIPTLESS_ARG_BOOL_LIST`: `count` bools; may be NULL when `count` is 0.
    pub bools: *const bool,
    /// The number of items of a list (`SCRIPTLESS_ARG_*_LIST`).
    pub count: usize,
    /// `SCRIPTLESS_ARG_INT`: the integer.
    pub int_value: i64,
    /// `SCRIPTLESS_ARG_FLOAT`: the float.
    pub float_value: f64,
    /// `SCRIPTLESS_ARG_BOOL`: the bool, 0 for false and any other value for true (a byte,
    /// not C's `bool`, so that any value in it is valid).
    pub bool_value: u8,
    /// `SCRIPTLESS_ARG_STR`: a NUL-terminated UTF-8 string.
    pub str_value: *const c_char,
}

/// The name of a `SCRIPTLESS_ARG_*` value, for messages.
fn kind_label(kind: ScriptlessArgKind) -> String {
    let name = match kind {
        SCRIPTLESS_ARG_TENSOR => "TENSOR",
        SCRIPTLESS_ARG_TENSOR_LIST => "TENSOR_LIST",
        SCRIPTLESS_ARG_INT => "INT",
        SCRIPTLESS_ARG_FLOAT => "FLOAT",
        SCRIPTLESS_ARG_BOOL => "BOOL",
        SCRIPTLESS_ARG_STR => "STR",
        SCRIPTLESS_ARG_INT_LIST => "INT_LIST",
        SCRIPTLESS_ARG_FLOAT_LIST => "FLOAT_LIST",
        SCRIPTLESS_ARG_BOOL_LIST => "BOOL_LIST",
        SCRIPTLESS_ARG_OTHER => "OTHER",
        SCRIPTLESS_ARG_NONE => "NONE",
        other => return format!("{other}, not a SCRIPTLESS_ARG_* value"),
    };
    format!("SCRIPTLESS_ARG_{name}")
}

/// The error for an argument given twice.
fn twice(name: &str, what: &str) -> Failure {
    Error::Input {
        name: name.to_string(),
        message: format!("is given twice in the {what}"),
    }
    .into()
}

/// Whether `name` is among the names of `out` already: a scan while there are few, a set once
/// there are many (`many` holds it between calls).
fn given_twice(out: &[(String, Given)], many: &mut Option<BTreeSet<String>>, name: &str) -> bool {
    const FEW: usize = 32;
    if out.len() < FEW {
        return out.iter().any(|(n, _)| n == name);
    }
    let set = many.get_or_insert_with(|| out.iter().map(|(n, _)| n.clone()).collect());
    !set.insert(name.to_string())
}

/// The arguments `args` give, as the library's `Given`s. Messages are formatted only on
/// failure: a call that succeeds formats none.
///
/// # Safety
/// Each argument's pointers are NULL or valid as `ScriptlessArg` says, for its `kind`.
unsafe fn givens(
    args: &[ScriptlessArg],
    signature: &Signature,
    limits: &Limits,
) -> Result<Vec<(String, Given)>, Failure> {
    let mut out = Vec::with_capacity(args.len());
    let mut many = None;
    for (i, arg) in args.iter().enumerate() {
        let at = At::new("args", i);
        // SAFETY: NULL or a NUL-terminated string by the caller's contract.
        let name = unsafe { args::string(arg.name, format_args!("{at}.name")) }?;
        // A name forward does not take is refused before its value is read, as every door
        // refuses it.
        signature.check_name(name)?;
        if given_twice(&out, &mut many, name) {
            return Err(twice(name, "args"));
        }
        // SAFETY: forwarded from the caller's contract.
        let given = unsafe { given(arg, at, name, limits) }?;
        out.push((name.to_string(), given));
    }
    Ok(out)
}

/// The value one argument gives.
///
/// # Safety
/// As for [`givens`].
unsafe fn given(
    arg: &ScriptlessArg,
    at: At<'_>,
    name: &str,
    limits: &Limits,
) -> Result<Given, Failure> {
    // A list's items are within the limit on elements, checked (as the library checks every
    // door's lists) before they are read; the check names the argument only when it fails.
    let list_len = || -> Result<(), Failure> {
        if arg.count > limits.max_elements {
            limits.check_items(format!("input `{name}`"), arg.count)?;
        }
        Ok(())
    };
    let whole = Named { name, item: None };
    Ok(match arg.kind {
        SCRIPTLESS_ARG_TENSOR => {
            // SAFETY: a valid tensor description by the caller's contract.
            let t = unsafe { read_tensor(&arg.tensor, at.field(".tensor"), whole, limits) }?;
            Given::Tensor(t)
        }
        SCRIPTLESS_ARG_TENSOR_LIST => {
            list_len()?;
            let at = at.field(".tensors");
            // SAFETY: NULL or `count` tensors by the caller's contract.
            let tensors = unsafe { args::slice(arg.tensors, arg.count, at) }?;
            let mut items = Vec::with_capacity(tensors.len());
            for (j, t) in tensors.iter().enumerate() {
                let item = Named {
                    name,
                    item: Some(j),
                };
                // SAFETY: a valid tensor description by the caller's contract.
                let t = unsafe { read_tensor(t, at.item(j), item, limits) }?;
                items.push(Given::Tensor(t));
            }
            Given::List(items)
        }
        SCRIPTLESS_ARG_INT => Given::Int(arg.int_value),
        SCRIPTLESS_ARG_FLOAT => Given::Float(arg.float_value),
        SCRIPTLESS_ARG_BOOL => Given::Bool(arg.bool_value != 0),
        SCRIPTLESS_ARG_STR => {
            // SAFETY: NULL or a NUL-terminated string by the caller's contract.
            let s = unsafe { args::string(arg.str_value, at.field(".str_value")) }?;
            Given::Str(s.to_string())
        }
        SCRIPTLESS_ARG_INT_LIST => {
            list_len()?;
            // SAFETY: NULL or `count` integers by the caller's contract.
            let v = unsafe { args::slice(arg.ints, arg.count, at.field(".ints")) }?;
            Given::List(v.iter().map(|n| Given::Int(*n)).collect())
        }
        SCRIPTLESS_ARG_FLOAT_LIST => {
            list_len()?;
            // SAFETY: NULL or `count` floats by the caller's contract.
            let v = unsafe { args::slice(arg.floats, arg.count, at.field(".floats")) }?;
            Given::List(v.iter().map(|x| Given::Float(*x)).collect())
        }
        SCRIPTLESS_ARG_BOOL_LIST => {
            list_len()?;
            // Read as bytes, so that a byte other than 0 or 1 is true rather than undefined
            // behaviour in Rust.
            // SAFETY: NULL or `count` bools, one byte each, by the caller's contract.
            let v = unsafe { args::slice(arg.bools.cast::<u8>(), arg.count, at.field(".bools")) }?;
            Given::List(v.iter().map(|b| Given::Bool(*b != 0)).collect())
        }
        SCRIPTLESS_ARG_NONE => Given::None,
        SCRIPTLESS_ARG_OTHER => {
            return Err(Failure::new(
                SCRIPTLESS_ERROR_INVALID_ARGUMENT,
                format!(
                    "{at}.kind (`{name}`) is SCRIPTLESS_ARG_OTHER, which an argument info says \
                     of a tuple, dict or nested list; C cannot give one (a JSON request or \
                     Python can)"
                ),
            ))
        }
        other => {
            return Err(Failure::new(
                SCRIPTLESS_ERROR_INVALID_ARGUMENT,
                format!("{at}.kind (`{name}`) is {}", kind_label(other)),
            ))
        }
    })
}

/// The tensors `inputs` give, by name, as `Given`s for a model run by its own code; `what`
/// names the array in messages (`inputs`, `requests[2].inputs`).
///
/// # Safety
/// A non-NULL `inputs` points to `count` inputs valid as `ScriptlessInput` says.
pub(crate) unsafe fn given_tensors(
    inputs: *const ScriptlessInput,
    count: usize,
    what: &str,
    limits: &Limits,
) -> Result<Vec<(String, Given)>, Failure> {
    // SAFETY: `count` live inputs by the caller's contract.
    let inputs = unsafe { args::slice(inputs, count, what) }?;
    let mut out = Vec::with_capacity(inputs.len());
    let mut many = None;
    for (i, input) in inputs.iter().enumerate() {
        let at = At::new(what, i);
        // SAFETY: NULL or a NUL-terminated string by the caller's contract.
        let name = unsafe { args::string(input.name, format_args!("{at}.name")) }?;
        if given_twice(&out, &mut many, name) {
            return Err(twice(name, "inputs"));
        }
        let named = Named { name, item: None };
        // SAFETY: a valid tensor description by the caller's contract.
        let t = unsafe { read_tensor(input, at, named, limits) }?;
        out.push((name.to_string(), Given::Tensor(t)));
    }
    Ok(out)
}

/// Runs `program` on `args`, typed by its signature as every door types them.
pub(crate) fn run_program(program: &Program, args: Vec<(String, Given)>) -> Result<Value, Failure> {
    let typed = script::args_from_given(program.signature(), args, &program.options().limits)?;
    Ok(program.forward(typed)?)
}

/// The output of a model run by its own code as the one tensor `call` returns, or its refusal
/// naming what `forward` returned and `scriptless_model_run`.
pub(crate) fn one_tensor(value: Value, call: &str) -> Result<ScriptlessTensor, Failure> {
    match value {
        Value::Tensor(t) => ScriptlessTensor::from_op(t),
        other => {
            let names = script::output_tensors(&other).map_or_else(
                |_| String::new(),
                |named| {
                    let names: Vec<String> = named.iter().map(|(n, _)| format!("`{n}`")).collect();
                    format!(" (outputs {})", names.join(", "))
                },
            );
            Err(Failure::new(
                SCRIPTLESS_ERROR_UNSUPPORTED,
                format!(
                    "{call} returns one tensor, and this model's forward returned a {}{names}: \
                     call scriptless_model_run, which returns every output by name",
                    other.type_name()
                ),
            ))
        }
    }
}

/// Runs `model` on `count` arguments `args`, each named (any order; those with defaults may
/// be left out), returning every output in `*outputs`, to free with
/// `scriptless_outputs_destroy`; NULL on failure. It runs any model: a user's model by its own
/// code, and the seed's models, whose two arguments are tensors (`SCRIPTLESS_ARG_TENSOR`).
///
/// The outputs are what `forward` returned, flattened and named as the command line names them
/// (`output` for a tensor; `output.0`, `output.1` for a tuple or list; `output.logits` for a
/// dict's key; nested as `output.0.h`): a tensor as it is, an `int`, `float` or `bool` as a
/// 0-dim `I64`, `F64` or `BOOL` tensor. A `str` or `None` anywhere in it is
/// `SCRIPTLESS_ERROR_UNSUPPORTED`, naming it.
///
/// Errors: an argument `forward` does not take, one given twice, one missing or of the wrong
/// type is `SCRIPTLESS_ERROR_INPUT`, naming it, with the command line's message (a name given
/// twice, which a JSON request cannot say, with this API's own); the model's own
/// exception or failed `assert` is `SCRIPTLESS_ERROR_MODEL`, with PyTorch's class and message.
///
/// # Safety
/// `model` is NULL or a live model; `args` is NULL or points to `count` arguments valid as
/// `ScriptlessArg` says; `outputs` is NULL or a place for a `ScriptlessOutputs *`.
#[no_mangle]
pub unsafe extern "C" fn scriptless_model_run(
    model: *const ScriptlessModel,
    args: *const ScriptlessArg,
    count: usize,
    outputs: *mut *mut ScriptlessOutputs,
) -> ScriptlessStatus {
    guard(|| {
        // SAFETY: NULL or a place for a pointer by the caller's contract.
        let outputs = unsafe { args::clear(outputs, "outputs") }?;
        // SAFETY: by the function's contract.
        let model = unsafe { model_ref(model) }?;
        // SAFETY: `count` live arguments by the caller's contract.
        let args = unsafe { args::slice(args, count, "args") }?;
        let result = match &model.body {
            Body::Program(program) => {
                // SAFETY: by the function's contract.
                let given =
                    unsafe { givens(args, program.signature(), &program.options().limits) }?;
                ScriptlessOutputs::new(&run_program(program, given)?)?
            }
            Body::Seed {
                model: seed,
                pooling,
            } => {
                // The seed's arguments are tensors: the forward call's inputs, named by the
                // arguments.
                let mut inputs = Vec::with_capacity(args.len());
                for (i, arg) in args.iter().enumerate() {
                    if arg.kind != SCRIPTLESS_ARG_TENSOR {
                        // SAFETY: NULL or a NUL-terminated string by the caller's contract.
                        let name =
                            unsafe { args::string(arg.name, format_args!("args[{i}].name")) }?;
                        return Err(Error::Input {
                            name: name.to_string(),
                            message: format!(
                                "the {} model takes tensors (SCRIPTLESS_ARG_TENSOR), not {}",
                                seed.kind(),
                                kind_label(arg.kind)
                            ),
                        }
                        .into());
                    }
                    inputs.push(ScriptlessInput {
                        name: arg.name,
                        ..arg.tensor
                    });
                }
                // SAFETY: names, shapes and data valid by the caller's contract.
                let checked = unsafe {
                    CheckedInputs::from_slice(
                        seed.kind(),
                        &model.limits,
                        &inputs,
                        "args",
                        ".tensor",
                    )
                }?;
                // SAFETY: as above.
                let tensors = unsafe { checked.to_model_inputs() }?;
                let output = seed.forward(&tensors, *pooling)?;
                ScriptlessOutputs::one("output", ScriptlessTensor::new(output)?)?
            }
        };
        // SAFETY: the slot came from `args::clear`.
        unsafe { args::hand_over(outputs, result) };
        Ok(())
    })
}
