//! The TorchScript interpreter: runs a `.pt` archive by its own code. [`Program::load`] reads
//! the archive (the module tree of `data.pkl`, `constants.pkl`, every `code/**.py` file,
//! parsed by [`parse()`]); [`Program::forward`] runs the root module's `forward` on
//! [`Value`]s, calling the operator library ([`crate::ops`]) for every operator.
//!
//! ```no_run
//! use scriptless::script::{Program, Value};
//!
//! # fn main() -> scriptless::Result<()> {
//! let model = Program::load("model.pt")?;
//! let out = model.forward(vec![("x".into(), Value::Int(3))])?;
//! # Ok(())
//! # }
//! ```

pub mod ast;
mod builtins;
mod calls;
mod check;
mod code;
mod fuse;
mod given;
mod graph;
mod interp;
mod io;
mod parse;
mod program;
mod prune;
mod signature;
mod stack;
mod trace;
mod value;
mod walk;

pub use given::{args_from_given, Given};
pub use graph::export_markdown;
pub use io::{
    args_from_json, args_from_tensors, output_json, output_npz, output_safetensors, output_tensors,
    tensors_from_safetensors,
};
pub use parse::parse;
pub use program::{
    Dim, Operator, Options, Param, Program, ProgramKind, Signature, TensorSpec, DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_STEPS,
};
pub use signature::ArgKind;
pub use value::Value;
