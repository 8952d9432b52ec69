//! # scriptless's C API
//!
//! `libscriptless.so` (`.dylib`, `.dll`) and `libscriptless.a`, declared by
//! `include/scriptless.h`, which cbindgen generates from this crate (the test
//! `tests/header.rs` fails when the committed header is stale). It replaces
//! `torch::jit::load` + `module.forward` for C and C++ programs, and for anything with a C
//! FFI: a user's TorchScript `.pt` or `torch.export` `.pt2` runs by its own code, the seed's
//! models by their own implementations.
//!
//! ```c
//! ScriptlessModel *model = NULL;
//! if (scriptless_model_load("examples/dict_output.pt", NULL, &model) != SCRIPTLESS_OK) {
//!     fprintf(stderr, "%s\n", scriptless_last_error());
//!     return 1;
//! }
//! ScriptlessArg x = {0};
//! x.name = "x";
//! x.kind = SCRIPTLESS_ARG_TENSOR;
//! x.tensor = (ScriptlessInput){NULL, SCRIPTLESS_DTYPE_F32, 2, shape, data};
//! ScriptlessOutputs *out = NULL;
//! scriptless_model_run(model, &x, 1, &out);   /* out: `output.logits`, `output.label` */
//! ```
//!
//! The conventions, the same for every function (the header says them again):
//!
//! - Every function returns a [`ScriptlessStatus`]; on failure, [`scriptless_last_error`]
//!   returns the message, the one line the command line prints after `scriptless: error:`.
//!   Only `scriptless_last_error`, `scriptless_status_name` and `scriptless_version` return
//!   something else.
//! - Every pointer argument is checked: a NULL where one is needed is
//!   `SCRIPTLESS_ERROR_NULL_ARGUMENT`, never a crash. A pointer that is not NULL must point
//!   where the header says; that, C cannot check.
//! - No Rust panic crosses the boundary: one is caught and returned as
//!   `SCRIPTLESS_ERROR_INTERNAL`.
//! - Handles (model, tensor, outputs) are opaque and freed by their `*_destroy(&handle)`, which
//!   sets `handle` to NULL.
//!   A model is immutable once loaded, so one handle may run on many threads at once.
//! - Enumerations are integer types with `#define`d values, not C `enum`s, so that a value
//!   outside the list is an error the library returns rather than undefined behaviour.

// Every unsafe operation sits in its own `unsafe` block with a `// SAFETY:` comment saying why
// it is sound (clippy checks the comments).
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(missing_docs)]

mod args;
mod call;
mod dtype;
mod inputs;
mod model;
mod options;
mod outputs;
mod run;
mod signature;
mod status;
mod tensor;

pub use call::{scriptless_model_run, ScriptlessArg};
pub use dtype::{
    ScriptlessDType, SCRIPTLESS_DTYPE_BF16, SCRIPTLESS_DTYPE_BOOL, SCRIPTLESS_DTYPE_F16,
    SCRIPTLESS_DTYPE_F32, SCRIPTLESS_DTYPE_F64, SCRIPTLESS_DTYPE_I16, SCRIPTLESS_DTYPE_I32,
    SCRIPTLESS_DTYPE_I64, SCRIPTLESS_DTYPE_U8,
};
pub use inputs::{ScriptlessInput, SCRIPTLESS_MAX_RANK};
pub use model::{
    scriptless_model_destroy, scriptless_model_dtype, scriptless_model_input_count,
    scriptless_model_input_info, scriptless_model_kind, scriptless_model_load,
    scriptless_model_load_from_memory, ScriptlessInputInfo, ScriptlessModel,
};
pub use options::{
    ScriptlessLoadOptions, ScriptlessModelKind, ScriptlessPooling, SCRIPTLESS_MODEL_CATEGORICAL,
    SCRIPTLESS_MODEL_DETECT, SCRIPTLESS_MODEL_PROGRAM, SCRIPTLESS_MODEL_SEQUENCE,
    SCRIPTLESS_MODEL_TWO_INPUT, SCRIPTLESS_POOL_LAST_VALID, SCRIPTLESS_POOL_PADDED_LAST,
};
pub use outputs::{
    scriptless_outputs_count, scriptless_outputs_destroy, scriptless_outputs_find,
    scriptless_outputs_get, ScriptlessOutputs,
};
pub use run::{
    scriptless_model_forward, scriptless_model_forward_into, scriptless_model_forward_many,
    scriptless_model_output_shape, ScriptlessRequest,
};
pub use signature::{
    scriptless_model_arg_count, scriptless_model_arg_info, scriptless_model_signature_json,
    ScriptlessArgInfo, ScriptlessArgKind, SCRIPTLESS_ARG_BOOL, SCRIPTLESS_ARG_BOOL_LIST,
    SCRIPTLESS_ARG_FLOAT, SCRIPTLESS_ARG_FLOAT_LIST, SCRIPTLESS_ARG_INT, SCRIPTLESS_ARG_INT_LIST,
    SCRIPTLESS_ARG_NONE, SCRIPTLESS_ARG_OTHER, SCRIPTLESS_ARG_STR, SCRIPTLESS_ARG_TENSOR,
    SCRIPTLESS_ARG_TENSOR_LIST,
};
pub use status::{
    scriptless_last_error, scriptless_status_name, scriptless_version, ScriptlessStatus,
    SCRIPTLESS_ERROR_BUFFER_TOO_SMALL, SCRIPTLESS_ERROR_FORMAT, SCRIPTLESS_ERROR_INPUT,
    SCRIPTLESS_ERROR_INTERNAL, SCRIPTLESS_ERROR_INVALID_ARGUMENT, SCRIPTLESS_ERROR_IO,
    SCRIPTLESS_ERROR_LIMIT, SCRIPTLESS_ERROR_MODEL, SCRIPTLESS_ERROR_NULL_ARGUMENT,
    SCRIPTLESS_ERROR_UNSUPPORTED, SCRIPTLESS_ERROR_WEIGHTS, SCRIPTLESS_OK,
};
pub use tensor::{
    scriptless_tensor_destroy, scriptless_tensor_view, ScriptlessTensor, ScriptlessTensorView,
};
