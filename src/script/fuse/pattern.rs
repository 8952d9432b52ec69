//! Patterns of recorded steps, for the fusions that span many: each step's operator, its
//! arguments and its results, written with names that bind slots and values and must bind the
//! same each time they recur.

use super::super::trace::{Call, Read, Step, Tmpl};

/// One recorded step, as a pattern.
pub(super) enum S {
    /// An operator call: its name (`aten::sort`), its bound arguments and its result.
    Op(&'static str, Vec<P>, P),
    /// `int(t)` read from the slot named first, giving the int named second.
    ReadInt(&'static str, &'static str),
}

/// An argument or result, as a pattern.
pub(super) enum P {
    /// A slot, bound to the name.
    Slot(&'static str),
    /// A list of slots, bound to the name.
    Slots(&'static str),
    Int(i64),
    /// An int, bound to the name.
    IntIs(&'static str),
    Bool(bool),
    /// A bool, bound to the name.
    BoolIs(&'static str),
    /// A float, bound to the name.
    FloatIs(&'static str),
    None,
    /// The CPU device.
    Cpu,
    List(Vec<P>),
    Tuple(Vec<P>),
}

/// What a match bound: a name's slot, slots or value.
#[derive(Default)]
pub(super) struct Bound {
    slots: Vec<(&'static str, usize)>,
    lists: Vec<(&'static str, Vec<usize>)>,
    ints: Vec<(&'static str, i64)>,
    bools: Vec<(&'static str, bool)>,
    floats: Vec<(&'static str, f64)>,
}

/// Binds `name` to `v` in `list`: false where it is bound to another value already.
fn bind<T: PartialEq>(list: &mut Vec<(&'static str, T)>, name: &'static str, v: T) -> bool {
    match list.iter().find(|(n, _)| *n == name) {
        Some((_, old)) => *old == v,
        None => {
            list.push((name, v));
            true
        }
    }
}

fn get<T: Clone>(list: &[(&'static str, T)], name: &str) -> Option<T> {
    list.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.clone())
}

impl Bound {
    pub(super) fn slot(&self, name: &str) -> Option<usize> {
        get(&self.slots, name)
    }

    pub(super) fn slots(&self, name: &str) -> Option<Vec<usize>> {
        get(&self.lists, name)
    }

    pub(super) fn int(&self, name: &str) -> Option<i64> {
        get(&self.ints, name)
    }

    pub(super) fn bool(&self, name: &str) -> Option<bool> {
        get(&self.bools, name)
    }

    pub(super) fn float(&self, name: &str) -> Option<f64> {
        get(&self.floats, name)
    }

    /// Every slot bound, with its name (a list's slots under the list's name).
    pub(super) fn all_slots(&self) -> impl Iterator<Item = (&'static str, usize)> + '_ {
        self.slots.iter().copied().chain(
            self.lists
                .iter()
                .flat_map(|(n, s)| s.iter().map(move |&s| (*n, s))),
        )
    }

    /// Whether `t` is `p`, binding `p`'s names.
    fn is(&mut self, p: &P, t: &Tmpl) -> bool {
        match (p, t) {
            (P::Slot(n), Tmpl::Slot(s)) => bind(&mut self.slots, n, *s),
            (P::Slots(n), Tmpl::List(items)) => {
                let slots: Option<Vec<usize>> = items
                    .iter()
                    .map(|t| match t {
                        Tmpl::Slot(s) => Some(*s),
                        _ => None,
                    })
                    .collect();
                slots.is_some_and(|s| bind(&mut self.lists, n, s))
            }
            (P::Int(a), Tmpl::Int(b)) => a == b,
            (P::IntIs(n), Tmpl::Int(v)) => bind(&mut self.ints, n, *v),
            (P::Bool(a), Tmpl::Bool(b)) => a == b,
            (P::BoolIs(n), Tmpl::Bool(v)) => bind(&mut self.bools, n, *v),
            (P::FloatIs(n), Tmpl::Float(v)) => bind(&mut self.floats, n, *v),
            (P::None, Tmpl::None) => true,
            (P::Cpu, Tmpl::Device(d)) => d.is_cpu(),
            (P::List(ps), Tmpl::List(ts)) | (P::Tuple(ps), Tmpl::Tuple(ts)) => {
                ps.len() == ts.len() && ps.iter().zip(ts).all(|(p, t)| self.is(p, t))
            }
            _ => false,
        }
    }
}

/// The names `pattern` binds where the first of `steps` are it, step for step.
pub(super) fn matches(pattern: &[S], steps: &[&Step]) -> Option<Bound> {
    if steps.len() < pattern.len() {
        return None;
    }
    let mut bound = Bound::default();
    for (p, step) in pattern.iter().zip(steps) {
        let ok = match (p, step) {
            (
                S::Op(name, args, out),
                Step::Op {
                    op,
                    args: Call::Bound(values),
                    out: result,
                },
            ) => {
                op.schema.full_name() == *name
                    && args.len() == values.len()
                    && args.iter().zip(values).all(|(p, t)| bound.is(p, t))
                    && bound.is(out, result)
            }
            (
                S::ReadInt(slot, value),
                Step::Read {
                    slot: s,
                    read: Read::Int(v),
                },
            ) => bind(&mut bound.slots, slot, *s) && bind(&mut bound.ints, value, *v),
            _ => false,
        };
        if !ok {
            return None;
        }
    }
    Some(bound)
}
