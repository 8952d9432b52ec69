//! The library's error type: every failure a caller can cause is one of these, never a panic.

/// Errors returned by the library. Each message names the file, tensor or field at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened or read.
    #[error("{what}: {error}")]
    Io {
        /// The file and its role: `weights file w.safetensors`, `input file x.json`.
        what: String,
        /// What went wrong. It is part of the message, not a separate `source()`, so that a
        /// report of the error chain does not say it twice.
        error: std::io::Error,
    },

    /// A file is not in the format it claims to be (bad safetensors header, malformed JSON, ...).
    #[error("{what}: {message}")]
    Format {
        /// The file or entry at fault (`input r.json`, `archive/data.pkl`, ...).
        what: String,
        /// What is wrong with it.
        message: String,
    },

    /// A weights file does not describe the requested model: missing, unexpected or misshapen
    /// tensors, or tensors of a type that cannot be weights.
    #[error("weights: {0}")]
    Weights(String),

    /// A model input is missing, misshapen or out of range. `name` is the input's name
    /// (`padded_seq`, `seq_lengths[2]`, ...).
    #[error("input `{name}`: {message}")]
    Input {
        /// The input's name, with an index where one element is at fault.
        name: String,
        /// What is wrong with it.
        message: String,
    },

    /// A file or tensor exceeds one of the [`Limits`](crate::Limits). `what` names it
    /// (`weights file w.safetensors`, `input `sequences``, ...).
    #[error("{what}: {message}")]
    Limit {
        /// The file or tensor over the limit.
        what: String,
        /// Which limit, and by how much.
        message: String,
    },

    /// The request cannot be served by this model or build (unknown model kind, device missing, ...).
    #[error("{0}")]
    Unsupported(String),

    /// A model's own code failed or cannot run: an operator's error (with the operator), code
    /// outside the supported language, each with its place in the code where it is known
    /// (`code/__torch__/m.py:12: ...`). An exception the model raises is [`Error::Raised`].
    #[error("{0}")]
    Script(String),

    /// An exception the model's own code raised (`raise ValueError("...")`, a failed
    /// `assert`): PyTorch's exception class and message, and where in the code it was raised
    /// (`code/__torch__/m.py:12`, empty where unknown). Its message is
    /// `{place}: {class}: {message}`, as PyTorch's traceback ends.
    #[error("{}{class}: {message}", if place.is_empty() { String::new() } else { format!("{place}: ") })]
    Raised {
        /// Where it was raised, when known.
        place: String,
        /// PyTorch's exception class, without `builtins.` (`ValueError`, `AssertionError`).
        class: String,
        /// The exception's message.
        message: String,
    },

    /// An error inside candle. With validated inputs this means a bug or an exhausted device.
    #[error(transparent)]
    Candle(candle_core::Error),
}

impl From<candle_core::Error> for Error {
    /// Keeps candle's message and drops the backtrace candle attaches when `RUST_BACKTRACE` is
    /// set, so that errors stay one line.
    fn from(mut err: candle_core::Error) -> Self {
        while let candle_core::Error::WithBacktrace { inner, .. } = err {
            err = *inner;
        }
        Error::Candle(err)
    }
}

impl Error {
    pub(crate) fn input(name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Input {
            name: name.into(),
            message: message.into(),
        }
    }

    pub(crate) fn raised(class: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Raised {
            place: String::new(),
            class: class.into(),
            message: message.into(),
        }
    }

    pub(crate) fn weights(message: impl Into<String>) -> Self {
        Error::Weights(message.into())
    }

    pub(crate) fn io(what: impl Into<String>, error: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            error,
        }
    }

    pub(crate) fn format(what: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Format {
            what: what.into(),
            message: message.to_string(),
        }
    }
}

/// The library's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// Names as a list for messages: `` `a`, `b` ``.
pub(crate) fn quoted<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|n| format!("`{}`", n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}
