//! [`Limits`]: how much a weights file or a request may make the library read or allocate.
//!
//! Files are measured before they are read; tensors are measured before they are allocated.
//! Weights and request files come from elsewhere, so a small file must never be able to ask
//! for a huge allocation (which would abort the process rather than return an error). The
//! defaults are fractions of the memory this process may use, so that they are limits on
//! every machine.

use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The most [`Limits::max_elements`] defaults to: 2^27 elements, 512 MiB of f32.
pub const MAX_ELEMENTS: usize = 1 << 27;

/// The most [`Limits::max_weights_bytes`] defaults to: 16 GiB.
const MAX_WEIGHTS_BYTES: u64 = 16 << 30;

/// The most [`Limits::max_input_bytes`] defaults to: 1 GiB.
const MAX_INPUT_BYTES: u64 = 1 << 30;

/// The memory assumed where it cannot be read (not Linux): 8 GiB.
const UNKNOWN_MEMORY: u64 = 8 << 30;

/// Limits on what one load or one forward call may read or allocate. Every check runs before
/// the read or allocation it guards, and a refusal is an [`Error::Limit`] that names the file
/// or tensor, its size and the limit.
///
/// The defaults ([`Limits::default`], [`Limits::for_memory`]) are fractions of the memory
/// this process may use, chosen so that everything they allow at once fits in it: weights at
/// a sixteenth, which a model holds up to about four times over while it is built (the
/// tensors, the LSTM's transposed and packed layouts for its two kernels); a JSON request at a
/// sixteenth, held about three times while decoded; and a handful of f64 tensors at the
/// element limit (a sixteenth each) in the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest weights file read, in bytes. Default: a sixteenth of the memory this
    /// process may use, at most 16 GiB.
    pub max_weights_bytes: u64,
    /// The largest request (input) file read, in bytes, and the longest line of a batch file;
    /// for an `.npz`, also the most its arrays may declare uncompressed, in all. Default: a
    /// sixteenth of the memory this process may use, at most 1 GiB. Decoding holds the file
    /// and its tensors at once: about 3 times the file's size for JSON (numbers are read
    /// straight into tensors, no document tree), about 2 times for safetensors, and for an
    /// `.npz` the file and its arrays' uncompressed size (int32 arrays widened to int64).
    pub max_input_bytes: u64,
    /// The most elements of any tensor built from a request or allocated while running a model
    /// on it: a decoded input, the padded batch of ragged sequences, the broadcast of
    /// `tensor1 + tensor2`, the one-hot and concatenated features, the LSTM's gates over every
    /// packed row (`sum(lengths) × directions × 4·hidden_size`) and each output. Default: the
    /// memory this process may use divided by 128 bytes, at most [`MAX_ELEMENTS`] (2^27,
    /// 512 MiB of f32).
    pub max_elements: usize,
}

impl Default for Limits {
    /// [`Limits::for_memory`] of [`available_memory`], or of 8 GiB where that is unknown.
    /// Read once per process.
    fn default() -> Self {
        static DEFAULT: OnceLock<Limits> = OnceLock::new();
        *DEFAULT.get_or_init(|| Limits::for_memory(available_memory().unwrap_or(UNKNOWN_MEMORY)))
    }
}

impl Limits {
    /// The default limits for a process that may use `memory` bytes: weights a sixteenth of it
    /// (at most 16 GiB), a request a sixteenth (at most 1 GiB), `memory / 128` elements per
    /// tensor (at most [`MAX_ELEMENTS`]).
    pub fn for_memory(memory: u64) -> Self {
        let elements = usize::try_from(memory / 128).unwrap_or(usize::MAX);
        Self {
            max_weights_bytes: (memory / 16).min(MAX_WEIGHTS_BYTES),
            max_input_bytes: (memory / 16).min(MAX_INPUT_BYTES),
            max_elements: elements.min(MAX_ELEMENTS),
        }
    }

    /// Refuses a list of more than [`max_elements`](Self::max_elements) items (an argument's
    /// `List[...]`), naming it by `what`: every door checks a list this way before it reads
    /// the items.
    pub fn check_items(&self, what: impl Into<String>, items: usize) -> Result<()> {
        if items <= self.max_elements {
            return Ok(());
        }
        Err(Error::Limit {
            what: what.into(),
            message: format!(
                "is a list of {items} items, more than the limit of {} elements (max_elements)",
                self.max_elements
            ),
        })
    }

    /// Refuses a tensor of shape `dims` with more than [`max_elements`](Self::max_elements)
    /// elements, or whose size overflows. Zero dimensions are counted as ones: an empty tensor's
    /// other dimensions still make its strides, and the sizes computed from them. `what` names
    /// the tensor in the error.
    pub fn check_elements(&self, what: impl Into<String>, dims: &[usize]) -> Result<()> {
        match nonzero_product(dims) {
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

/// The memory this process may use, in bytes: the least of the machine's physical memory,
/// its control group's limit (a container's `memory.max`) and its address-space limit
/// (`ulimit -v`). `None` where none of them can be read (every system but Linux, for now).
pub fn available_memory() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let physical = read("/proc/meminfo").and_then(|s| meminfo_total(&s));
        let cgroup = read("/sys/fs/cgroup/memory.max")
            .or_else(|| read("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
            .and_then(|s| s.trim().parse::<u64>().ok());
        let address_space = read("/proc/self/limits").and_then(|s| address_space_limit(&s));
        [physical, cgroup, address_space]
            .into_iter()
            .flatten()
            .min()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn meminfo_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The soft `Max address space` of `/proc/self/limits`, in bytes (`None` when unlimited).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn address_space_limit(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The product of the nonzero dimensions of a shape, `None` if it overflows: what its strides
/// (and any size computed from its other dimensions) reach, however many elements a zero
/// dimension leaves it. A zero first must not hide an overflow after it.
pub(crate) fn nonzero_product(dims: &[usize]) -> Option<usize> {
    dims.iter()
        .filter(|&&d| d != 0)
        .try_fold(1usize, |n, &d| n.checked_mul(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_fractions_of_memory_with_caps() {
        let small = Limits::for_memory(4 << 30);
        assert_eq!(small.max_weights_bytes, 256 << 20);
        assert_eq!(small.max_input_bytes, 256 << 20);
        assert_eq!(small.max_elements, 32 << 20);
        let large = Limits::for_memory(1 << 40);
        assert_eq!(large.max_weights_bytes, 16 << 30);
        assert_eq!(large.max_input_bytes, 1 << 30);
        assert_eq!(large.max_elements, MAX_ELEMENTS);
        // The defaults never exceed the memory this process may use.
        if let Some(memory) = available_memory() {
            let defaults = Limits::default();
            assert!(defaults.max_weights_bytes <= memory / 16);
            assert!(defaults.max_input_bytes <= memory / 16);
        }
    }

    #[test]
    fn memory_is_read_from_procfs_formats() {
        let meminfo = "MemTotal:       24576000 kB\nMemFree:         1000 kB\n";
        assert_eq!(meminfo_total(meminfo), Some(24576000 * 1024));
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max address space         4294967296           unlimited            bytes     \n";
        assert_eq!(address_space_limit(limits), Some(4294967296));
        let unlimited =
            "Max address space         unlimited            unlimited            bytes\n";
        assert_eq!(address_space_limit(unlimited), None);
    }

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
