//! The interpreter's stack: code nests calls and expressions as deep as the limits allow, far
//! deeper than a caller's thread may have room for. Each recursive step runs through
//! [`guarded`], which continues on a fresh segment of the heap when less than [`RED_ZONE`] of
//! the current stack is left, so a call runs on the caller's own thread (no thread per call)
//! and still cannot overflow. WebAssembly has no way to switch stacks: there the limits alone
//! bound the depth, as before.

/// The stack each recursive step needs left before it starts: the deepest operator or
/// builtin a step calls fits in it.
const RED_ZONE: usize = 256 << 10;
/// The size of each new segment.
const SEGMENT: usize = 4 << 20;

/// Runs `f` with at least [`RED_ZONE`] bytes of stack.
#[inline]
pub(crate) fn guarded<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(not(target_family = "wasm"))]
    {
        stacker::maybe_grow(RED_ZONE, SEGMENT, f)
    }
    #[cfg(target_family = "wasm")]
    {
        f()
    }
}
