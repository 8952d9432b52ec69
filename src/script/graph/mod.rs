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

/// The operator page's section on `.pt2` graphs: how node targets map onto the registry, the
/// targets the executor runs itself, what is refused, and which of `core_aten` (the Core ATen
/// overloads a decomposed graph calls, by schema name) the registry supports.
pub fn export_markdown(core_aten: &[&str]) -> String {
    let registry = crate::ops::Registry::get();
    let mut out = String::from(
        "\n## In `torch.export` graphs (`.pt2`)\n\n\
         A graph node's target `torch.ops.aten.NAME.OVERLOAD` runs the registry's \
         `aten::NAME.OVERLOAD` above (`.default` is the default overload), in both flavours: \
         the default export (`aten.linear`, `aten.lstm.input`, \
         `aten.scaled_dot_product_attention`, ...) and Core ATen after \
         `ep.run_decompositions()`. A Python number where the overload takes a Tensor \
         (`aten.mul.Tensor(x, 0.5)`) runs the overload it fits, as PyTorch's wrapping does. \
         The executor runs these targets itself: ",
    );
    let own: Vec<String> = node::EXECUTOR_TARGETS
        .iter()
        .map(|t| format!("`{t}`"))
        .collect();
    out.push_str(&own.join(", "));
    out.push_str(
        ". Refused by name at load: higher-order operators (`torch.ops.higher_order.cond`, \
         `while_loop`, `map`, ...), operators outside `torch.ops.aten`, custom objects, and \
         training programs (gradient and loss outputs).\n",
    );
    let by_executor = |name: &str| {
        let rest = name.strip_prefix("aten::").unwrap_or(name);
        let target = match rest.split_once('.') {
            Some((op, overload)) => format!("torch.ops.aten.{op}.{overload}"),
            None => format!("torch.ops.aten.{rest}.default"),
        };
        !matches!(
            node::target(&target),
            node::Target::Op(_) | node::Target::Unsupported(_)
        )
    };
    let supported = core_aten
        .iter()
        .filter(|n| registry.op(n).is_some_and(|op| op.refusal.is_none()) || by_executor(n))
        .count();
    out.push_str(&format!(
        "\n### Core ATen\n\n{supported} of the {} Core ATen overloads (`torch.Tag.core` in \
         torch 2.15.0, backward operators left out; `tests/fixtures/core_aten.txt`, written by \
         `python/core_aten.py`) are supported.\n\n| overload | supported |\n|---|---|\n",
        core_aten.len()
    ));
    for name in core_aten {
        let yes = match registry.op(name) {
            Some(op) if op.refusal.is_none() => "yes",
            Some(_) => "refused",
            None if by_executor(name) => "yes (the executor)",
            None => "no",
        };
        out.push_str(&format!("| `{name}` | {yes} |\n"));
    }
    out
}
