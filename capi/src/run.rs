//! Running a model: one forward call to an owned tensor or into the caller's buffer, the output
//! shape beforehand, and many requests in one call.

use std::cell::RefCell;
use std::ffi::{c_char, c_void, CString};

use crate::args;
use crate::call::{given_tensors, one_tensor, run_program};
use crate::dtype::{c_dtype_label, dtype_from_c, dtype_name, scalar_from_c, ScriptlessDType};
use crate::inputs::{CheckedInputs, ScriptlessInput};
use crate::model::{model_ref, Body, ScriptlessModel};
use crate::status::{
    c_message, guard, Failure, ScriptlessStatus, SCRIPTLESS_ERROR_BUFFER_TOO_SMALL,
    SCRIPTLESS_ERROR_INTERNAL, SCRIPTLESS_ERROR_INVALID_ARGUMENT, SCRIPTLESS_OK,
};
use crate::tensor::ScriptlessTensor;

/// One request of `scriptless_model_forward_many`: its inputs, set by the caller, and its
/// result, set by the call.
#[repr(C)]
#[derive(Debug)]
pub struct ScriptlessRequest {
    /// In: the request's inputs, as for `scriptless_model_forward`.
    pub inputs: *const ScriptlessInput,
    /// In: the number of inputs.
    pub num_inputs: usize,
    /// Out: the request's output, to free with `scriptless_tensor_destroy`; NULL if it failed.
    pub output: *mut ScriptlessTensor,
    /// Out: `SCRIPTLESS_OK`, or why this request failed.
    pub status: ScriptlessStatus,
    /// Out: NULL, or why this request failed. Valid until the next
    /// `scriptless_model_forward_many` call on this thread.
    pub error: *const c_char,
}

/// Runs `model` on the inputs, returning its output; `call` names the function for a model
/// run by its own code that does not return one tensor.
///
/// # Safety
/// `model` is a live model; `inputs` as for [`CheckedInputs::read`], with each `data` as for
/// [`CheckedInputs::to_model_inputs`].
unsafe fn forward(
    model: &ScriptlessModel,
    inputs: *const ScriptlessInput,
    count: usize,
    what: &str,
    call: &str,
) -> Result<ScriptlessTensor, Failure> {
    match &model.body {
        Body::Seed {
            model: seed,
            pooling,
        } => {
            // SAFETY: forwarded from the caller's contract.
            let checked =
                unsafe { CheckedInputs::read(seed.kind(), &model.limits, inputs, count, what) }?;
            // SAFETY: forwarded from the caller's contract.
            let inputs = unsafe { checked.to_model_inputs() }?;
            ScriptlessTensor::new(seed.forward(&inputs, *pooling)?)
        }
        Body::Program(program) => {
            // SAFETY: forwarded from the caller's contract.
            let given = unsafe { given_tensors(inputs, count, what, &program.options().limits) }?;
            one_tensor(run_program(program, given)?, call)
        }
    }
}

/// The shape `scriptless_model_forward` would return for `inputs`, from their names, dtypes and
/// shapes alone (their `data` is not read and may be NULL), without running the model: its
/// rank in `*rank` and its dims in `shape[0..rank]`. `shape` has room for `capacity` dims; a
/// rank above that is `SCRIPTLESS_ERROR_BUFFER_TOO_SMALL`, with `*rank` still set. Inputs the
/// model would refuse for their names, dtypes or sizes are refused here too; their values (a
/// length beyond the padded batch) are only checked by the forward call.
///
/// A model run by its own code has no output shape before it runs: for one, this is
/// `SCRIPTLESS_ERROR_UNSUPPORTED` (run it, with `scriptless_model_run` or
/// `scriptless_model_forward`, and read the shapes of its outputs).
///
/// # Safety
/// `model` is NULL or a live model; `inputs` is NULL or points to `num_inputs` inputs whose
/// `name` and `shape` are valid; `shape` is NULL or has room for `capacity` `size_t`s; `rank`
/// is NULL or a place for a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn scriptless_model_output_shape(
    model: *const ScriptlessModel,
    inputs: *const ScriptlessInput,
    num_inputs: usize,
    shape: *mut usize,
    capacity: usize,
    rank: *mut usize,
) -> ScriptlessStatus {
    guard(|| {
        // SAFETY: by the function's contract.
        let model = unsafe { model_ref(model) }?;
        let (seed, _) = model.seed(
            "scriptless_model_output_shape",
            "the output's shape is known once it runs: call scriptless_model_run (or \
             scriptless_model_forward) and read the shapes of its outputs",
        )?;
        let rank = args::out(rank, "rank")?;
        // SAFETY: by the function's contract.
        let checked = unsafe {
            CheckedInputs::read(seed.kind(), &model.limits, inputs, num_inputs, "inputs")
        }?;
        let dims = seed.output_shape_of(checked.dims())?;
        // SAFETY: not NULL (checked), a place for a `size_t` by the caller's contract.
        unsafe { rank.write(dims.len()) };
        if dims.len() > capacity {
            return Err(Failure::new(
                SCRIPTLESS_ERROR_BUFFER_TOO_SMALL,
                format!(
                    "`shape` has room for {capacity} dims; the output has {}",
                    dims.len()
                ),
            ));
        }
        if !dims.is_empty() {
            let shape = args::out(shape, "shape")?;
            // SAFETY: `shape` has room for `capacity` >= `dims.len()` dims (caller's contract).
            unsafe { std::ptr::copy_nonoverlapping(dims.as_ptr(), shape, dims.len()) };
        }
        Ok(())
    })
}

/// Runs `model` on `inputs` (`num_inputs` of them, each named once, in any order) and returns
/// its output in `*output`, to free with `scriptless_tensor_destroy`; NULL on failure. The
/// inputs' data is copied once into the model's tensors and not kept.
///
/// A model run by its own code runs here when every argument it needs is a tensor and its
/// `forward` returns one `Tensor`; one returning anything else (a tuple, a dict, a number) is
/// `SCRIPTLESS_ERROR_UNSUPPORTED`, naming its outputs, and one needing other arguments is
/// `SCRIPTLESS_ERROR_INPUT`: `scriptless_model_run` takes any argument and returns every
/// output.
///
/// # Safety
/// `model` is NULL or a live model; `inputs` is NULL or points to `num_inputs` inputs whose
/// pointers are valid as `ScriptlessInput` says; `output` is NULL or a place for a
/// `ScriptlessTensor *`.
#[no_mangle]
pub unsafe extern "C" fn scriptless_model_forward(
    model: *const ScriptlessModel,
    inputs: *const ScriptlessInput,
    num_inputs: usize,
    output: *mut *mut ScriptlessTensor,
) -> ScriptlessStatus {
    guard(|| {
        // SAFETY: NULL or a place for a pointer by the caller's contract.
        let output = unsafe { args::clear(output, "output") }?;
        // SAFETY: by the function's contract.
        let model = unsafe { model_ref(model) }?;
        // SAFETY: by the function's contract.
        let tensor = unsafe {
            forward(
                model,
                inputs,
                num_inputs,
                "inputs",
                "scriptless_model_forward",
            )
        }?;
        // SAFETY: the slot came from `args::clear`.
        unsafe { args::hand_over(output, tensor) };
        Ok(())
    })
}

/// Runs `model` on `inputs` like `scriptless_model_forward`, writing the output's elements
/// into the caller's buffer `data`, which holds `capacity` elements of `dtype`; the number
/// written goes to `*len`. `dtype` must be the model's (`scriptless_model_dtype`); the
/// output's shape is `scriptless_model_output_shape`'s. A buffer too small for the output is
/// `SCRIPTLESS_ERROR_BUFFER_TOO_SMALL`, found before the model runs, with `*len` set to the
/// number of elements needed.
///
/// For a model run by its own code (which `scriptless_model_forward` runs), `dtype` must be the
/// output's own, and the buffer's size is checked once it has run, as its output's shape is
/// not known before: too small, it is `SCRIPTLESS_ERROR_BUFFER_TOO_SMALL` with `*len` set, and
/// nothing written.
///
/// # Safety
/// `model` and `inputs` as for `scriptless_model_forward`; `data` is NULL or valid for writing
/// `capacity` elements of `dtype`; `len` is NULL or a place for a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn scriptless_model_forward_into(
    model: *const ScriptlessModel,
    inputs: *const ScriptlessInput,
    num_inputs: usize,
    dtype: ScriptlessDType,
    data: *mut c_void,
    capacity: usize,
    len: *mut usize,
) -> ScriptlessStatus {
    guard(|| {
        // SAFETY: by the function's contract.
        let model = unsafe { model_ref(model) }?;
        let len = args::out(len, "len")?;
        let too_small = |needed: usize| {
            // SAFETY: not NULL (checked), a place for a `size_t` by the caller's contract.
            unsafe { len.write(needed) };
            Failure::new(
                SCRIPTLESS_ERROR_BUFFER_TOO_SMALL,
                format!("`data` holds {capacity} elements; the output has {needed}"),
            )
        };
        let (seed, pooling) = match &model.body {
            Body::Seed {
                model: seed,
                pooling,
            } => (seed, *pooling),
            Body::Program(program) => {
                if scalar_from_c(dtype).is_none() {
                    return Err(Failure::new(
                        SCRIPTLESS_ERROR_INVALID_ARGUMENT,
                        format!("dtype is {}", c_dtype_label(dtype)),
                    ));
                }
                let limits = &program.options().limits;
                // SAFETY: by the function's contract.
                let given = unsafe { given_tensors(inputs, num_inputs, "inputs", limits) }?;
                let tensor = one_tensor(
                    run_program(program, given)?,
                    "scriptless_model_forward_into",
                )?;
                if tensor.dtype() != dtype {
                    return Err(Failure::new(
                        SCRIPTLESS_ERROR_INVALID_ARGUMENT,
                        format!(
                            "dtype is {}, but the output is {}",
                            c_dtype_label(dtype),
                            c_dtype_label(tensor.dtype())
                        ),
                    ));
                }
                let written = tensor.shape().iter().product();
                if written > capacity {
                    return Err(too_small(written));
                }
                if written > 0 {
                    let data = args::out(data, "data")?;
                    // SAFETY: `data` holds `capacity` >= `written` elements of `dtype`, the
                    // tensor's (checked), by the caller's contract.
                    unsafe { tensor.copy_to(data) };
                }
                // SAFETY: not NULL (checked), a place for a `size_t` by the caller's contract.
                unsafe { len.write(written) };
                return Ok(());
            }
        };
        let model_dtype = seed.dtype();
        if dtype_from_c(dtype) != Some(model_dtype) {
            let message = match dtype_from_c(dtype) {
                None => format!("dtype is {}", c_dtype_label(dtype)),
                Some(_) => format!(
                    "dtype is {}, but the model computes in {}",
                    c_dtype_label(dtype),
                    dtype_name(model_dtype)
                ),
            };
            return Err(Failure::new(SCRIPTLESS_ERROR_INVALID_ARGUMENT, message));
        }
        // SAFETY: by the function's contract.
        let checked = unsafe {
            CheckedInputs::read(seed.kind(), &model.limits, inputs, num_inputs, "inputs")
        }?;
        let needed: usize = seed.output_shape_of(checked.dims())?.iter().product();
        if needed > capacity {
            return Err(too_small(needed));
        }
        let data = args::out(data, "data")?;
        // SAFETY: by the function's contract.
        let inputs = unsafe { checked.to_model_inputs() }?;
        let tensor = ScriptlessTensor::new(seed.forward(&inputs, pooling)?)?;
        let written = tensor.shape().iter().product();
        if tensor.dtype() != dtype {
            return Err(Failure::new(
                SCRIPTLESS_ERROR_INTERNAL,
                "the model returned an output in another dtype than its own",
            ));
        }
        if written > capacity {
            return Err(too_small(written));
        }
        // SAFETY: `data` holds `capacity` >= `written` elements of the tensor's dtype (checked
        // equal to `dtype`), by the caller's contract.
        unsafe {
            tensor.copy_to(data);
            len.write(written);
        }
        Ok(())
    })
}

thread_local! {
    /// The messages the last `scriptless_model_forward_many` call on this thread pointed its
    /// failed requests' `error` to.
    static BATCH_ERRORS: RefCell<Vec<CString>> = const { RefCell::new(Vec::new()) };
}

/// Runs `count` requests on `model` in few model calls (requests of compatible shapes are
/// batched), each getting exactly its own result: its `output`, `status` and `error` are set
/// whatever happens to the others. Returns `SCRIPTLESS_OK` when every request succeeded, else
/// the first failed request's status (the last error then names that request). Outputs of
/// the requests that succeeded are set either way, and are the caller's to free.
///
/// A model run by its own code runs each request as `scriptless_model_forward` would, one
/// model call per request, with the same results.
///
/// # Safety
/// `model` is NULL or a live model; `requests` is NULL or points to `count` requests whose
/// `inputs` are valid as for `scriptless_model_forward`.
#[no_mangle]
pub unsafe extern "C" fn scriptless_model_forward_many(
    model: *const ScriptlessModel,
    requests: *mut ScriptlessRequest,
    count: usize,
) -> ScriptlessStatus {
    guard(|| {
        // SAFETY: `count` live requests by the caller's contract; every field of a request is a
        // pointer or an integer, for which any bits are valid.
        let requests = unsafe { args::slice_mut(requests, count, "requests") }?;
        // Every request's result is set before anything else can fail: to no output, and to
        // the call's own failure should one come (a panic stays SCRIPTLESS_ERROR_INTERNAL).
        for request in requests.iter_mut() {
            request.output = std::ptr::null_mut();
            request.status = SCRIPTLESS_ERROR_INTERNAL;
            request.error = std::ptr::null();
        }
        // SAFETY: by the function's contract.
        let model = unsafe { model_ref(model) }.inspect_err(|failure| {
            for request in requests.iter_mut() {
                request.status = failure.status;
            }
        })?;
        let mut results: Vec<Option<Result<ScriptlessTensor, Failure>>> = Vec::with_capacity(count);
        match &model.body {
            Body::Program(_) => {
                // One call per request.
                for (i, request) in requests.iter().enumerate() {
                    let what = format!("requests[{i}].inputs");
                    // SAFETY: by the function's contract.
                    let result = unsafe {
                        forward(
                            model,
                            request.inputs,
                            request.num_inputs,
                            &what,
                            "scriptless_model_forward_many",
                        )
                    };
                    results.push(Some(result));
                }
            }
            Body::Seed {
                model: seed,
                pooling,
            } => {
                // Each request's inputs are read and checked on their own; those that pass run
                // together.
                let mut runnable = Vec::new();
                let mut positions = Vec::new();
                for (i, request) in requests.iter().enumerate() {
                    let what = format!("requests[{i}].inputs");
                    // SAFETY: by the function's contract.
                    let read = unsafe {
                        CheckedInputs::read(
                            seed.kind(),
                            &model.limits,
                            request.inputs,
                            request.num_inputs,
                            &what,
                        )
                        .and_then(|c| c.to_model_inputs())
                    };
                    match read {
                        Ok(inputs) => {
                            positions.push(i);
                            runnable.push(inputs);
                            results.push(None);
                        }
                        Err(failure) => results.push(Some(Err(failure))),
                    }
                }
                let outcomes = seed.forward_many(&runnable, *pooling);
                for (position, outcome) in positions.into_iter().zip(outcomes) {
                    results[position] = Some(
                        outcome
                            .map_err(Failure::from)
                            .and_then(ScriptlessTensor::new),
                    );
                }
            }
        }
        let mut errors = Vec::new();
        let mut first_failure = None;
        for (i, (request, result)) in requests.iter_mut().zip(results).enumerate() {
            let result = result.unwrap_or_else(|| {
                Err(Failure::new(
                    SCRIPTLESS_ERROR_INTERNAL,
                    "forward_many returned fewer results than requests",
                ))
            });
            match result {
                Ok(tensor) => {
                    request.output = Box::into_raw(Box::new(tensor));
                    request.status = SCRIPTLESS_OK;
                    request.error = std::ptr::null();
                }
                Err(failure) => {
                    let message = c_message(&failure.message);
                    request.output = std::ptr::null_mut();
                    request.status = failure.status;
                    // A CString's buffer stays where it is when the CString moves.
                    request.error = message.as_ptr();
                    errors.push(message);
                    first_failure.get_or_insert_with(|| failure.context(format!("request {i}")));
                }
            }
        }
        // The messages live in this thread's slot until the next call; during thread teardown,
        // when the slot is gone, they are leaked rather than left dangling.
        let mut errors = Some(errors);
        let _ =
            BATCH_ERRORS.try_with(|slot| *slot.borrow_mut() = errors.take().unwrap_or_default());
        std::mem::forget(errors);
        first_failure.map_or(Ok(()), Err)
    })
}
