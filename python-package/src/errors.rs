//! Errors as Python exceptions: each of the library's errors becomes one of the classes in
//! `scriptless/_errors.py`, with the message the command line prints, and a panic becomes an
//! `InternalError` rather than reaching Python.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use scriptless_core::Error;

/// The exception classes, as `scriptless/_errors.py` defines them.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Class {
    /// A file could not be opened or read (also an `OSError`).
    File,
    /// Weights or a request are not in the format they claim (also a `ValueError`).
    Format,
    /// Weights do not describe the model (also a `ValueError`).
    Weights,
    /// An input is missing, unknown, of the wrong dtype, misshapen or out of range (also a
    /// `ValueError`).
    Input,
    /// A file or tensor exceeds a limit (also a `MemoryError`).
    Limit,
    /// A request this model or build cannot serve: an unknown option value, an option for
    /// another kind of model, a missing device (also a `ValueError`).
    Unsupported,
    /// The model's own code failed or raised (also a `RuntimeError`).
    Model,
    /// A bug in scriptless, or a failure inside candle.
    Internal,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::File => "FileError",
            Class::Format => "FormatError",
            Class::Weights => "WeightsError",
            Class::Input => "InputError",
            Class::Limit => "LimitError",
            Class::Unsupported => "UnsupportedError",
            Class::Model => "ModelError",
            Class::Internal => "InternalError",
        }
    }

    fn cell(self) -> &'static PyOnceLock<Py<PyType>> {
        static CELLS: [PyOnceLock<Py<PyType>>; 8] = [const { PyOnceLock::new() }; 8];
        &CELLS[self as usize]
    }

    /// This class's exception saying `message` (one line, as the command line prints it).
    pub fn err(self, message: impl Into<String>) -> PyErr {
        let message = one_line(&message.into());
        Python::attach(|py| {
            match self.cell().import(py, "scriptless._errors", self.name()) {
                Ok(class) => PyErr::from_type(class.clone(), message),
                // Only a broken installation lacks the module; say so with the message.
                Err(e) => e,
            }
        })
    }
}

/// The Python exception for `err`: its class from its kind, its message the command line's.
pub(crate) fn to_py(err: Error) -> PyErr {
    to_py_in(err, None)
}

/// [`to_py`], with `context: ` before the message when there is one (`loading the sequence
/// model from w.pt`).
fn to_py_in(err: Error, context: Option<&str>) -> PyErr {
    let class = match &err {
        Error::Io { .. } => Class::File,
        Error::Format { .. } => Class::Format,
        Error::Weights(_) => Class::Weights,
        Error::Input { .. } => Class::Input,
        Error::Limit { .. } => Class::Limit,
        Error::Unsupported(_) => Class::Unsupported,
        Error::Script(_) | Error::Raised { .. } => Class::Model,
        Error::Candle(_) => Class::Internal,
    };
    // The exception a model's own code raised: PyTorch's class and its message.
    let raised = match &err {
        Error::Raised { class, message, .. } => Some((class.clone(), message.clone())),
        _ => None,
    };
    let errno = match &err {
        Error::Io { error, .. } => error.raw_os_error().or_else(|| errno_of(error.kind())),
        _ => None,
    };
    let py_err = class.err(match context {
        Some(context) => format!("{context}: {err}"),
        None => err.to_string(),
    });
    if let Some((class, message)) = raised {
        // Only attributes are added: `str()` stays the one-line message.
        Python::attach(|py| {
            let value = py_err.value(py);
            let _ = value.setattr("exception_class", class);
            let _ = value.setattr("exception_message", message);
        });
    }
    if let Some(errno) = errno {
        // `FileError` is an `OSError`: its `errno` says which (ENOENT, EACCES, ...). Only
        // `errno` is set, so that `str()` stays the one-line message.
        Python::attach(|py| {
            let _ = py_err.value(py).setattr("errno", errno);
        });
    }
    py_err
}

/// A failure in code that ran without the GIL, made a Python exception once it is held again.
pub(crate) enum Failure {
    /// One of the library's errors, with what was being done.
    Error {
        error: Error,
        context: Option<String>,
    },
    /// A caught panic's message.
    Panic(String),
}

impl Failure {
    /// `error`, while doing `context`.
    pub fn in_context(error: Error, context: String) -> Self {
        Failure::Error {
            error,
            context: Some(context),
        }
    }

    /// The Python exception.
    pub fn into_py(self) -> PyErr {
        match self {
            Failure::Error { error, context } => to_py_in(error, context.as_deref()),
            Failure::Panic(message) => Class::Internal.err(format!(
                "internal error (a bug in scriptless, please report it): {message}"
            )),
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Error {
            error,
            context: None,
        }
    }
}

/// The errno of an I/O error the library made itself (not from the OS): a directory given for a
/// file.
fn errno_of(kind: std::io::ErrorKind) -> Option<i32> {
    (kind == std::io::ErrorKind::IsADirectory).then(|| {
        Python::attach(|py| {
            py.import("errno")
                .and_then(|m| m.getattr("EISDIR"))
                .and_then(|v| v.extract())
                .ok()
        })
    })?
}

/// Runs `body` with the GIL released, so that other Python threads run meanwhile (a model
/// shared by threads computes on all of them at once), and makes its failure, or a panic
/// inside it, a Python exception: no Rust panic reaches Python (PyO3 would raise its
/// `PanicException`, a `BaseException` that `except Exception` does not catch).
pub(crate) fn detached<T: Send>(
    py: Python<'_>,
    body: impl FnOnce() -> Result<T, Failure> + Send,
) -> PyResult<T> {
    py.detach(|| {
        catch_unwind(AssertUnwindSafe(body))
            .unwrap_or_else(|payload| Err(Failure::Panic(panic_message(payload))))
    })
    .map_err(Failure::into_py)
}

/// Runs `body`, which holds the GIL, making a panic inside it an `InternalError`, as
/// [`detached`] does.
pub(crate) fn guarded<T>(body: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(body))
        .unwrap_or_else(|payload| Err(Failure::Panic(panic_message(payload)).into_py()))
}

/// A panic's message.
fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// `message` on one line, as the command line prints it.
fn one_line(message: &str) -> String {
    message.replace(['\n', '\r'], " ")
}

/// Whether `err` is one of scriptless's exceptions (rather than, say, a `KeyboardInterrupt`
/// raised while converting an input).
pub(crate) fn is_scriptless(py: Python<'_>, err: &PyErr) -> bool {
    py.import("scriptless._errors")
        .and_then(|m| m.getattr("ScriptlessError"))
        .and_then(|base| Ok(base.cast_into::<PyType>()?))
        .is_ok_and(|base| err.get_type(py).is_subclass(&base).unwrap_or(false))
}

/// The name of `value`'s type, for messages (`list`, `int`).
pub(crate) fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "?".to_string(), |n| n.to_string())
}
