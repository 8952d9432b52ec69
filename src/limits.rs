//! [`Limits`]: how much a weights file or a request may make the library read or allocate.
//!
//! Files are measured before they are read; tensors are measured before they are allocated.
//! Weights and request files come from elsewhere, so a small file must never be able to ask
//! for a huge allocation (which would abort the process rather than return an error).

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// The default for [`Limits::max_elements`]: 2^27 elements, 512 MiB of f32.
pub const MAX_ELEMENTS: usize = 1 << 27;

/// Limits on what one load or one forward call may read or allocate. Every check runs before
/// the read or allocation it guards, and a refusal is an [`Error::Limit`] that names the file
/// or tensor, its size and the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest weights file read, in bytes. Default 16 GiB.
    pub max_weights_bytes: u64,
    /// The largest request (input) file read, in bytes. Default 1 GiB. Decoding holds the
    /// file and its tensors at once: about 3 times the file's size for JSON (numbers are read
    /// straight into tensors, no document tree), about 2 times for safetensors.
    pub max_input_bytes: u64,
    /// The most elements of any tensor built from a request or allocated while running a model
    /// on it: a decoded input, the padded batch of ragged sequences, the broadcast of
    /// `tensor1 + tensor2`, the one-hot and concatenated features, the LSTM's gates over every
    /// packed row (`sum(lengths) × directions × 4·hidden_size`) and each output. Default
    /// [`MAX_ELEMENTS`] (2^27, 512 MiB of f32).
    pub max_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_weights_bytes: 16 << 30,
            max_input_bytes: 1 << 30,
            max_elements: MAX_ELEMENTS,
        }
    }
}

impl Limits {
    /// Reads a file of at most `max` bytes. A regular file's size is checked before anything
    /// is read; whatever the file is (a pipe, `/dev/zero`, a file still growing), reading stops
    /// after `max + 1` bytes. `what` names the file in the error and `limit` the field that
    /// sets `max`.
    pub(crate) fn read_file(path: &Path, max: u64, what: &str, limit: &str) -> Result<Vec<u8>> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let too_large = |message: String| Error::Limit {
            what: what.to_string(),
            message,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len > max {
            return Err(too_large(format!(
                "is {len} bytes, over the limit of {max} bytes ({limit})"
            )));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        file.take(max.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > max {
            return Err(too_large(format!(
                "holds more than the limit of {max} bytes ({limit})"
            )));
        }
        Ok(bytes)
    }

    /// Refuses a tensor of shape `dims` with more than [`max_elements`](Self::max_elements)
    /// elements (or whose size overflows). `what` names the tensor in the error.
    pub fn check_elements(&self, what: impl Into<String>, dims: &[usize]) -> Result<()> {
        let elements = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        match elements {
            Some(n) if n <= self.max_elements => Ok(()),
            _ => Err(Error::Limit {
                what: what.into(),
                message: format!(
                    "would be a tensor of shape {dims:?}, more than the limit of {} elements \
                     (max_elements)",
                    self.max_elements
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_counted_without_overflow() {
        let limits = Limits {
            max_elements: 100,
            ..Limits::default()
        };
        assert!(limits.check_elements("x", &[10, 10]).is_ok());
        assert!(limits.check_elements("x", &[10, 11]).is_err());
        let err = limits
            .check_elements("input `x`", &[usize::MAX, 2])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("input `x`: would be a tensor of shape"),
            "{err}"
        );
    }
}
