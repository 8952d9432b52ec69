//! Status codes, the per-thread last error, and [`guard`], which every exported function runs
//! its body in.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use scriptless_core::Error;

/// What a call did: `SCRIPTLESS_OK`, or why it failed. Every function but
/// `scriptless_last_error`, `scriptless_status_name` and `scriptless_version` returns one; on
/// failure `scriptless_last_error()` says what went wrong.
pub type ScriptlessStatus = i32;

/// The call succeeded.
pub const SCRIPTLESS_OK: ScriptlessStatus = 0;
/// A pointer argument that must not be NULL was NULL; the message names it.
pub const SCRIPTLESS_ERROR_NULL_ARGUMENT: ScriptlessStatus = 1;
/// An argument has a value the function does not take: an unknown `SCRIPTLESS_*` constant, a
/// string that is not UTF-8, an option for another kind of model.
pub const SCRIPTLESS_ERROR_INVALID_ARGUMENT: ScriptlessStatus = 2;
/// A file could not be opened or read.
pub const SCRIPTLESS_ERROR_IO: ScriptlessStatus = 3;
/// Weights are not in a format they claim to be (a truncated buffer, a bad safetensors
/// header, a malformed PyTorch archive).
pub const SCRIPTLESS_ERROR_FORMAT: ScriptlessStatus = 4;
/// Weights do not describe the model: missing, unexpected or misshapen tensors.
pub const SCRIPTLESS_ERROR_WEIGHTS: ScriptlessStatus = 5;
/// An input is missing, unknown, given twice, of the wrong dtype, misshapen or out of range;
/// the message names it (`seq_lengths[2]`).
pub const SCRIPTLESS_ERROR_INPUT: ScriptlessStatus = 6;
/// A file or tensor exceeds a limit (`max_weights_bytes`, `max_elements`); the message names
/// the limit.
pub const SCRIPTLESS_ERROR_LIMIT: ScriptlessStatus = 7;
/// The request cannot be served by this model or build: a device this build lacks, a format
/// not read, an operator scriptless lacks in a model's code, an output C cannot hold (a `str`,
/// `None`), a call a model run by its own code cannot answer (the message names the call to
/// make instead).
pub const SCRIPTLESS_ERROR_UNSUPPORTED: ScriptlessStatus = 8;
/// A caller-provided output buffer is too small; the message says how many elements it needs.
pub const SCRIPTLESS_ERROR_BUFFER_TOO_SMALL: ScriptlessStatus = 9;
/// A bug in scriptless (a caught panic) or a failure inside candle.
pub const SCRIPTLESS_ERROR_INTERNAL: ScriptlessStatus = 10;
/// A model run by its own code failed in that code: an exception it raised or an `assert` that
/// failed (the message is `place: ValueError: message`, as PyTorch's traceback ends), an
/// operator's error on the values it was given (`code/__torch__.py:12: aten::cat: ...`), or
/// code that cannot run (found at load or when reached).
pub const SCRIPTLESS_ERROR_MODEL: ScriptlessStatus = 11;

/// A failed call: its status and its one-line message.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The `SCRIPTLESS_ERROR_*` code.
    pub status: ScriptlessStatus,
    /// The message, one line.
    pub message: String,
}

impl Failure {
    /// A failure of `status` saying `message`.
    pub fn new(status: ScriptlessStatus, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// The same failure with `context: ` before its message.
    pub fn context(self, context: impl std::fmt::Display) -> Self {
        Self::new(self.status, format!("{context}: {}", self.message))
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        let status = match &err {
            Error::Io { .. } => SCRIPTLESS_ERROR_IO,
            Error::Format { .. } => SCRIPTLESS_ERROR_FORMAT,
            Error::Weights(_) => SCRIPTLESS_ERROR_WEIGHTS,
            Error::Input { .. } => SCRIPTLESS_ERROR_INPUT,
            Error::Limit { .. } => SCRIPTLESS_ERROR_LIMIT,
            Error::Unsupported(_) => SCRIPTLESS_ERROR_UNSUPPORTED,
            // A model's own code failed: its own exception, or an operator on what it was given.
            Error::Script(_) | Error::Raised { .. } => SCRIPTLESS_ERROR_MODEL,
            Error::Candle(_) => SCRIPTLESS_ERROR_INTERNAL,
        };
        Self::new(status, err.to_string())
    }
}

impl From<candle_core::Error> for Failure {
    fn from(err: candle_core::Error) -> Self {
        Error::from(err).into()
    }
}

thread_local! {
    /// The message of the last call on this thread that failed.
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Makes `message` one C string: one line, no NUL inside.
pub(crate) fn c_message(message: &str) -> CString {
    let line: String = message
        .chars()
        .map(|c| {
            if c == '\n' || c == '\r' || c == '\0' {
                ' '
            } else {
                c
            }
        })
        .collect();
    // No NUL is left, so this cannot fail; an empty string stands in if it somehow did.
    CString::new(line).unwrap_or_default()
}

/// Makes `message` this thread's last error.
fn set_last_error(message: &str) {
    let message = c_message(message);
    // During thread teardown the slot may be gone: the message is then dropped.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = Some(message));
}

/// Runs an exported function's body: its error, or a panic inside it, becomes a status code
/// and this thread's last error.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Failure>) -> ScriptlessStatus {
    let failure = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return SCRIPTLESS_OK,
        Ok(Err(failure)) => failure,
        Err(payload) => Failure::new(
            SCRIPTLESS_ERROR_INTERNAL,
            format!(
                "internal error (a bug in scriptless, please report it): {}",
                panic_message(payload)
            ),
        ),
    };
    set_last_error(&failure.message);
    failure.status
}

/// A panic's message, and the payload dropped where its own drop cannot unwind out of here.
fn panic_message(payload: Box<dyn Any + Send>) -> String {
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    };
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    message
}

/// The message of the last call on this thread that failed, or NULL if none has. It stays
/// valid until the next failing call on this thread; copy it to keep it longer. Calls that
/// succeed leave it as it is.
#[no_mangle]
pub extern "C" fn scriptless_last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|slot| {
            slot.borrow()
                .as_ref()
                .map_or(std::ptr::null(), |m| m.as_ptr())
        })
        .unwrap_or(std::ptr::null())
}

/// The name of `status` (`"SCRIPTLESS_ERROR_INPUT"`), a static string; `"unknown status"`
/// for a value that is not a status.
#[no_mangle]
pub extern "C" fn scriptless_status_name(status: ScriptlessStatus) -> *const c_char {
    let name: &'static [u8] = match status {
        SCRIPTLESS_OK => b"SCRIPTLESS_OK\0",
        SCRIPTLESS_ERROR_NULL_ARGUMENT => b"SCRIPTLESS_ERROR_NULL_ARGUMENT\0",
        SCRIPTLESS_ERROR_INVALID_ARGUMENT => b"SCRIPTLESS_ERROR_INVALID_ARGUMENT\0",
        SCRIPTLESS_ERROR_IO => b"SCRIPTLESS_ERROR_IO\0",
        SCRIPTLESS_ERROR_FORMAT => b"SCRIPTLESS_ERROR_FORMAT\0",
        SCRIPTLESS_ERROR_WEIGHTS => b"SCRIPTLESS_ERROR_WEIGHTS\0",
        SCRIPTLESS_ERROR_INPUT => b"SCRIPTLESS_ERROR_INPUT\0",
        SCRIPTLESS_ERROR_LIMIT => b"SCRIPTLESS_ERROR_LIMIT\0",
        SCRIPTLESS_ERROR_UNSUPPORTED => b"SCRIPTLESS_ERROR_UNSUPPORTED\0",
        SCRIPTLESS_ERROR_BUFFER_TOO_SMALL => b"SCRIPTLESS_ERROR_BUFFER_TOO_SMALL\0",
        SCRIPTLESS_ERROR_INTERNAL => b"SCRIPTLESS_ERROR_INTERNAL\0",
        SCRIPTLESS_ERROR_MODEL => b"SCRIPTLESS_ERROR_MODEL\0",
        _ => b"unknown status\0",
    };
    name.as_ptr().cast()
}

/// The library's version (`"0.1.0"`), a static string.
#[no_mangle]
pub extern "C" fn scriptless_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    fn last_error() -> String {
        let p = scriptless_last_error();
        assert!(!p.is_null());
        // SAFETY: a non-NULL last error is a live NUL-terminated string of this thread.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    #[test]
    fn a_panic_becomes_an_internal_error_with_its_message() {
        let status = guard(|| panic!("planted panic"));
        assert_eq!(status, SCRIPTLESS_ERROR_INTERNAL);
        let message = last_error();
        assert!(message.contains("planted panic"), "{message}");
        assert!(message.starts_with("internal error"), "{message}");
    }

    #[test]
    fn an_error_sets_the_status_and_one_line_and_success_keeps_it() {
        let status = guard(|| Err(Failure::new(SCRIPTLESS_ERROR_INPUT, "two\nlines\0x")));
        assert_eq!(status, SCRIPTLESS_ERROR_INPUT);
        assert_eq!(last_error(), "two lines x");
        assert_eq!(guard(|| Ok(())), SCRIPTLESS_OK);
        assert_eq!(last_error(), "two lines x");
    }

    #[test]
    fn the_last_error_is_per_thread() {
        guard(|| Err(Failure::new(SCRIPTLESS_ERROR_IO, "this thread")));
        let other = std::thread::spawn(|| scriptless_last_error().is_null())
            .join()
            .unwrap();
        assert!(other, "a new thread starts with no last error");
        assert_eq!(last_error(), "this thread");
    }

    #[test]
    fn every_status_has_its_name() {
        for status in SCRIPTLESS_OK..=SCRIPTLESS_ERROR_MODEL {
            // SAFETY: names are static NUL-terminated strings.
            let name = unsafe { CStr::from_ptr(scriptless_status_name(status)) };
            assert!(
                name.to_str().unwrap().starts_with("SCRIPTLESS_"),
                "{status}"
            );
        }
        // SAFETY: as above.
        let past = unsafe { CStr::from_ptr(scriptless_status_name(SCRIPTLESS_ERROR_MODEL + 1)) };
        assert_eq!(past.to_str().unwrap(), "unknown status");
    }

    #[test]
    fn a_models_own_failure_is_a_model_error_and_an_unsupported_operator_is_not() {
        let raised = Failure::from(Error::Raised {
            place: "code/__torch__.py:9".into(),
            class: "ValueError".into(),
            message: "x must be (batch, 4)".into(),
        });
        assert_eq!(raised.status, SCRIPTLESS_ERROR_MODEL);
        assert_eq!(
            raised.message,
            "code/__torch__.py:9: ValueError: x must be (batch, 4)"
        );
        assert_eq!(
            Failure::from(Error::Script("aten::cat: ...".into())).status,
            SCRIPTLESS_ERROR_MODEL
        );
        assert_eq!(
            Failure::from(Error::Unsupported("aten::foo".into())).status,
            SCRIPTLESS_ERROR_UNSUPPORTED
        );
    }
}
