//! `scriptless._scriptless`: the extension module behind the Python package `scriptless`
//! (`python/scriptless/`), which re-exports it. A user's TorchScript or `torch.export` model,
//! run by its own code, or one of the seed's models, on NumPy arrays and Python values, through
//! the `scriptless` crate, with its outputs bit for bit and its one-line error messages.
//!
//! - [`model`]: `load`, `from_bytes` and the `Model` class.
//! - [`options`]: their keyword arguments, checked as `scriptless run` checks its flags.
//! - [`values`]: a program's arguments from Python objects, and its results back.
//! - [`arrays`]: NumPy arrays into model tensors (one copy) and outputs back (a seed model's
//!   without a copy).
//! - [`errors`]: the library's errors as the exception classes of `scriptless/_errors.py`;
//!   no panic reaches Python.

// Every unsafe operation sits in its own `unsafe` block with a `// SAFETY:` comment.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod arrays;
mod errors;
mod model;
mod options;
mod values;

use pyo3::prelude::*;

#[pymodule]
fn _scriptless(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(model::load, m)?)?;
    m.add_function(wrap_pyfunction!(model::from_bytes, m)?)?;
    m.add_class::<model::PyModel>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
