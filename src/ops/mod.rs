//! The operator library: PyTorch's operators with PyTorch's semantics, on candle tensors, in
//! one [`Registry`] keyed by schema name and overload (`aten::add.Tensor`). TorchScript code
//! and `.pt2` graphs both call into it. One module per operator family; each registers its
//! overloads in `register_all`'s order, which is the order calls by name try them in.
//!
//! Every operator checks the size of its output against [`Limits::max_elements`] before it is
//! allocated, where the output can be larger than an input.
//!
//! [`Limits::max_elements`]: crate::Limits::max_elements

mod constants;
mod dtype;
pub mod profile;
mod registry;
mod schema;
mod tensor;
mod value;

mod attention;
mod creation;
mod elementwise;
mod fused;
mod nn;
mod prim;
mod reduce;
mod rnn;
mod shape;

pub use constants::Constants;
pub use dtype::ScalarType;
pub(crate) use fused::{linear, one_hot_linear, sum_linear, LayerCache};
pub use registry::{bind, with_op, Args, Builder, Ctx, Hint, Op, OpFn, Registry, Scalar};
pub(crate) use rnn::{padded_lstm, LstmCache, PaddedLstm};
pub use schema::{Arg, Default, Schema, Ty};
pub use tensor::Tensor;
pub use value::{Dict, List, Object, Value};

/// Registers every family's operators, tensor overloads before the scalar ones of `prim`.
fn register_all(b: &mut Builder) {
    elementwise::register(b);
    reduce::register(b);
    shape::register(b);
    creation::register(b);
    nn::register(b);
    rnn::register(b);
    attention::register(b);
    prim::register(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_parses_and_full_names_are_unique() {
        let registry = Registry::get();
        let mut seen = std::collections::HashSet::new();
        for op in registry.ops() {
            assert!(
                seen.insert(op.schema.full_name()),
                "{} is registered twice",
                op.schema.full_name()
            );
        }
    }
}
