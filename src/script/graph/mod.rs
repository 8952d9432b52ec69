//! `torch.export` programs (`.pt2`): the graph of ATen operator calls inside the archive, run
//! node by node on the operator library ([`crate::ops`]), the same operators the TorchScript
//! interpreter calls. [`Graph::load`] reads the program (schema version 8): its nodes, the
//! graph signature (which inputs are parameters, buffers, constants, the user's), the pytree
//! specs that rebuild `forward`'s arguments and result, the symbolic sizes and their ranges.
//! [`Graph::run`](run) binds a call's arguments and runs the nodes in order.

mod load;
mod node;
mod run;
mod spec;
mod sym;

pub(crate) use load::{Graph, Leaf};
pub(crate) use node::Const;
pub(crate) use spec::Tree;
pub(crate) use sym::Expr;

use super::value::Value;

/// The type a baked constant has in `forward`'s signature.
pub(crate) fn const_type(c: &Const) -> &'static str {
    match c {
        Const::None => "NoneType",
        Const::Bool(_) => "bool",
        Const::Int(_) => "int",
        Const::Float(_) => "float",
        Const::Str(_) => "str",
        Const::Ints(_) => "List[int]",
        Const::Floats(_) => "List[float]",
        Const::Bools(_) => "List[bool]",
        Const::Strs(_) => "List[str]",
    }
}

/// A baked constant as an argument value.
pub(crate) fn const_value(c: &Const) -> Value {
    match c {
        Const::None => Value::None,
        Const::Bool(b) => Value::Bool(*b),
        Const::Int(n) => Value::Int(*n),
        Const::Float(x) => Value::Float(*x),
        Const::Str(s) => Value::Str(s.clone()),
        Const::Ints(v) => Value::List(v.iter().map(|&n| Value::Int(n)).collect()),
        Const::Floats(v) => Value::List(v.iter().map(|&x| Value::Float(x)).collect()),
        Const::Bools(v) => Value::List(v.iter().map(|&b| Value::Bool(b)).collect()),
        Const::Strs(v) => Value::List(v.iter().map(|s| Value::Str(s.clone())).collect()),
    }
}
