//! `ScriptlessOutputs`: every output of a `scriptless_model_run` call, by name, owned by the
//! caller until `scriptless_outputs_destroy`.

use std::ffi::{c_char, CString};

use scriptless_core::script::{self, Value};

use crate::args;
use crate::model::c_string;
use crate::status::{guard, Failure, ScriptlessStatus, SCRIPTLESS_ERROR_INVALID_ARGUMENT};
use crate::tensor::{ScriptlessTensor, ScriptlessTensorView};

/// Every output of a `scriptless_model_run` call: named tensors, in the order `forward`
/// returned them, on the CPU. Freed by `scriptless_outputs_destroy`; never written, so it may
/// be read from any thread.
pub struct ScriptlessOutputs {
    items: Vec<(CString, ScriptlessTensor)>,
}

impl ScriptlessOutputs {
    /// The outputs of `value`, named as the command line names them.
    pub(crate) fn new(value: &Value) -> Result<Self, Failure> {
        let items = script::output_tensors(value)?
            .into_iter()
            .map(|(name, t)| Ok((c_string(&name)?, ScriptlessTensor::from_op(t)?)))
            .collect::<Result<_, Failure>>()?;
        Ok(Self { items })
    }

    /// One output, `name`.
    pub(crate) fn one(name: &str, tensor: ScriptlessTensor) -> Result<Self, Failure> {
        Ok(Self {
            items: vec![(c_string(name)?, tensor)],
        })
    }
}

/// The outputs of an `outputs` argument.
///
/// # Safety
/// `outputs` is NULL or points to live outputs.
unsafe fn outputs_ref<'a>(
    outputs: *const ScriptlessOutputs,
) -> Result<&'a ScriptlessOutputs, Failure> {
    // SAFETY: forwarded from the caller's contract.
    unsafe { args::value(outputs, "outputs") }
}

/// The number of outputs in `outputs`, in `*count`.
///
/// # Safety
/// `outputs` is NULL or live outputs; `count` is NULL or a place for a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn scriptless_outputs_count(
    outputs: *const ScriptlessOutputs,
    count: *mut usize,
) -> ScriptlessStatus {
    guard(|| {
        // SAFETY: by the function's contract.
        let outputs = unsafe { outputs_ref(outputs) }?;
        // SAFETY: NULL or a place for the value by the caller's contract.
        unsafe { args::put(count, "count", outputs.items.len()) }
    })
}

/// Output number `index` of `outputs` (from 0, in the order `forward` returned them): what it
/// holds in `*view`, and its name (`"output.logits"`) in `*name` unless `name` is NULL. The
/// view's pointers and the name belong to `outputs` and live as long as it does. An index past
/// the last output is `SCRIPTLESS_ERROR_INVALID_ARGUMENT`.
///
/// # Safety
/// `outputs` is NULL or live outputs; `view` is NULL or a place for a `ScriptlessTensorView`;
/// `name` is NULL or a place for a `const char *`.
#[no_mangle]
pub unsafe extern "C" fn scriptless_outputs_get(
    outputs: *const ScriptlessOutputs,
    index: usize,
    view: *mut ScriptlessTensorView,
    name: *mut *const c_char,
) -> ScriptlessStatus {
    guard(|| {
        // SAFETY: by the function's contract.
        let outputs = unsafe { outputs_ref(outputs) }?;
        let view = args::out(view, "view")?;
        let (output_name, tensor) = outputs.items.get(index).ok_or_else(|| {
            Failure::new(
                SCRIPTLESS_ERROR_INVALID_ARGUMENT,
                format!(
                    "index is {index}, but there are {} outputs",
                    outputs.items.len()
                ),
            )
        })?;
        if !name.is_null() {
            // SAFETY: not NULL, a place for a pointer by the caller's contract.
            unsafe { args::put(name, "name", output_name.as_ptr()) }?;
        }
        // SAFETY: not NULL and aligned (checked), a place for a view by the caller's contract.
        unsafe { view.write(tensor.view()) };
        Ok(())
    })
}

/// The output of `outputs` named `name` (`"output"`, `"output.logits"`), in `*view`; its
/// pointers belong to `outputs` and live as long as it does. A name that is none of the
/// outputs' is `SCRIPTLESS_ERROR_INVALID_ARGUMENT`, listing them.
///
/// # Safety
/// `outputs` is NULL or live outputs; `name` is NULL or a NUL-terminated string; `view` is NULL
/// or a place for a `ScriptlessTensorView`.
#[no_mangle]
pub unsafe extern "C" fn scriptless_outputs_find(
    outputs: *const ScriptlessOutputs,
    name: *const c_char,
    view: *mut ScriptlessTensorView,
) -> ScriptlessStatus {
    guard(|| {
        // SAFETY: by the function's contract.
        let outputs = unsafe { outputs_ref(outputs) }?;
        // SAFETY: NULL or a NUL-terminated string by the caller's contract.
        let wanted = unsafe { args::string(name, "name") }?;
        let view = args::out(view, "view")?;
        let (_, tensor) = outputs
            .items
            .iter()
            .find(|(n, _)| n.as_bytes() == wanted.as_bytes())
            .ok_or_else(|| {
                let names: Vec<String> = outputs
                    .items
                    .iter()
                    .map(|(n, _)| format!("`{}`", n.to_string_lossy()))
                    .collect();
                Failure::new(
                    SCRIPTLESS_ERROR_INVALID_ARGUMENT,
                    format!(
                        "`name` is `{wanted}`, which no output is (the outputs are {})",
                        names.join(", ")
                    ),
                )
            })?;
        // SAFETY: not NULL and aligned (checked), a place for a view by the caller's contract.
        unsafe { view.write(tensor.view()) };
        Ok(())
    })
}

/// Frees `*outputs` and sets it to NULL. Nothing happens when `*outputs` is already NULL.
///
/// # Safety
/// `outputs` is NULL or points to a `ScriptlessOutputs *` that is NULL or came from
/// `scriptless_model_run` and was not freed since.
#[no_mangle]
pub unsafe extern "C" fn scriptless_outputs_destroy(
    outputs: *mut *mut ScriptlessOutputs,
) -> ScriptlessStatus {
    // SAFETY: NULL, or a slot holding NULL or live outputs, by the caller's contract.
    guard(|| unsafe { args::free(outputs, "outputs") })
}

#[cfg(test)]
mod tests {
    use scriptless_core::ops;

    use super::*;
    use crate::status::SCRIPTLESS_ERROR_UNSUPPORTED;

    fn tensor() -> Value {
        let t = candle_core::Tensor::new(&[1.5f32, 2.5], &candle_core::Device::Cpu).unwrap();
        Value::Tensor(ops::Tensor::new(t).unwrap())
    }

    #[test]
    fn outputs_are_named_as_the_command_line_names_them_scalars_as_0_dim_tensors() {
        let value = Value::Tuple(vec![
            tensor(),
            Value::Dict(vec![
                ("n".into(), Value::Int(7)),
                ("ok".into(), Value::Bool(true)),
            ]),
            Value::Float(0.25),
        ]);
        let outputs = ScriptlessOutputs::new(&value).unwrap();
        let names: Vec<&str> = outputs
            .items
            .iter()
            .map(|(n, _)| n.to_str().unwrap())
            .collect();
        assert_eq!(names, ["output.0", "output.1.n", "output.1.ok", "output.2"]);
        let views: Vec<ScriptlessTensorView> =
            outputs.items.iter().map(|(_, t)| t.view()).collect();
        assert_eq!(views[0].dtype, crate::dtype::SCRIPTLESS_DTYPE_F32);
        assert_eq!((views[0].rank, views[0].len), (1, 2));
        assert_eq!(views[1].dtype, crate::dtype::SCRIPTLESS_DTYPE_I64);
        assert_eq!((views[1].rank, views[1].len), (0, 1));
        // SAFETY: a 0-dim I64 output holds one int64.
        assert_eq!(unsafe { *views[1].data.cast::<i64>() }, 7);
        assert_eq!(views[2].dtype, crate::dtype::SCRIPTLESS_DTYPE_BOOL);
        // SAFETY: a 0-dim BOOL output holds one byte.
        assert_eq!(unsafe { *views[2].data.cast::<u8>() }, 1);
        assert_eq!(views[3].dtype, crate::dtype::SCRIPTLESS_DTYPE_F64);
        // SAFETY: a 0-dim F64 output holds one double.
        assert_eq!(unsafe { *views[3].data.cast::<f64>() }, 0.25);
    }

    #[test]
    fn a_str_or_none_output_is_unsupported_naming_it() {
        for (value, name) in [
            (
                Value::Tuple(vec![tensor(), Value::Str("a".into())]),
                "`output.1`",
            ),
            (
                Value::Dict(vec![("mask".into(), Value::None)]),
                "`output.mask`",
            ),
            (Value::None, "`output`"),
        ] {
            let failure = ScriptlessOutputs::new(&value).err().unwrap();
            assert_eq!(failure.status, SCRIPTLESS_ERROR_UNSUPPORTED);
            assert!(failure.message.contains(name), "{}", failure.message);
        }
    }
}
