//! Steps a trace (`super::trace`) need not replay: those whose result the replay's own checks
//! already fix.
//!
//! A replay starts from arguments of the recorded types and shapes (the key), and checks each
//! result's type and shape as it goes; so every tensor a step reads has the type and shape it
//! had when recorded. A step that reads no more than those (`x.size(0)`, `x.dim()`,
//! `x.numel()`, `len(x)`, `x.is_floating_point()`, `x is None`) returns what it returned
//! then, which the trace holds already; so does `len(xs)` of a list of tensors, which a replay
//! builds with the recorded number of items. Such a step cannot fail where it did not, and
//! changes nothing, so it is left out. (`a is b` of two tensors asks which object each is, not their
//! shapes, and is kept.)

use super::trace::{Call, Step, Tmpl};

/// Operators whose result, for tensors of a given type and shape and given other arguments,
/// is fixed.
const FIXED_BY_SHAPES: [&str; 6] = [
    "aten::size.int",
    "aten::size",
    "aten::dim",
    "aten::numel",
    "aten::len.Tensor",
    "aten::is_floating_point",
];

/// `steps` without those whose result their arguments' types and shapes fix.
pub(super) fn prune(steps: Vec<Step>) -> Vec<Step> {
    steps.into_iter().filter(|s| !fixed(s)).collect()
}

fn fixed(step: &Step) -> bool {
    let Step::Op {
        op,
        args: Call::Bound(args),
        out,
    } = step
    else {
        return false;
    };
    if holds_slot(out) {
        return false;
    }
    let name = op.schema.full_name();
    match name.as_str() {
        // `x is None`, `x is not None`: one side is not a tensor, so it is never the other.
        "aten::__is__" | "aten::__isnot__" => args.iter().filter(|a| holds_slot(a)).count() == 1,
        // `len(xs)` of a list the step holds as a template: a replay builds it with as many
        // items.
        "aten::len.t" => matches!(args.first(), Some(Tmpl::List(_))),
        _ => FIXED_BY_SHAPES.contains(&name.as_str()),
    }
}

fn holds_slot(t: &Tmpl) -> bool {
    match t {
        Tmpl::Slot(_) => true,
        Tmpl::List(items) | Tmpl::Tuple(items) => items.iter().any(holds_slot),
        Tmpl::Dict(items) => items.iter().any(|(k, v)| holds_slot(k) || holds_slot(v)),
        _ => false,
    }
}
