//! Elementwise operators with PyTorch's semantics: arithmetic, comparisons and logic on
//! tensors and numbers, the floating functions, the activations and softmaxes.
//!
//! Shared with the other families: [`promote`] (result types with PyTorch's wrapped-number
//! and 0-dim rules, broadcasting, dimension wrapping, in-place casting rules) and [`kernel`]
//! (operands as candle tensors in PyTorch's compute type, the CPU loops, in-place results).

mod activation;
pub(super) mod arith;
mod bits;
pub(super) mod bounds;
mod compare;
pub(super) mod fast;
pub(super) mod kernel;
mod pow;
pub(super) mod promote;
#[cfg(test)]
pub(super) mod testing;
pub(super) mod unary;

use super::registry::Builder;

/// Registers this family's operators.
pub(super) fn register(b: &mut Builder) {
    arith::register(b);
    pow::register(b);
    bounds::register(b);
    bits::register(b);
    unary::register(b);
    compare::register(b);
    activation::register(b);
}
