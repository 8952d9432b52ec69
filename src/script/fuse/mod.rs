//! Fusions of a recorded trace (`super::trace`): runs of operator calls that one kernel does in
//! one pass, where each intermediate result is used by the next call alone.
//!
//! - `add.Tensor(a, b, alpha=1)` then `linear` of the sum: the narrow Linear kernel adds the
//!   rows as it reads them ([`crate::ops::sum_linear`]).
//! - `one_hot(c, n)`, `to.dtype(float32)`, `cat([x, hot], -1)` then `linear`: the kernel adds
//!   each row's weight column for its category instead of multiplying by the one-hot columns
//!   ([`crate::ops::one_hot_linear`]).
//!
//! - `linear` of the program's weight and bias: the layer is kept in the step rather than
//!   looked up on each call.
//! - `pack_padded_sequence`, an LSTM from zero states and `pad_packed_sequence`, seventeen
//!   operators: one pass on the seed's LSTM kernel ([`lstm`], [`crate::ops::padded_lstm`]).
//!
//! These are the seed's three models (`self.linear(tensor1 + tensor2)`, the categorical input
//! and the LSTM over variable-length sequences), and the same code in any model. A fused step
//! keeps the steps it replaces and runs them where its fast path does not apply (another type
//! or device, a category out of range, whose error the operators then give).

mod lstm;
mod pattern;

use rustc_hash::FxHashMap as HashMap;

use super::trace::{Call, Slots, Step, Tmpl};
use crate::error::Result;
use crate::ops::{self, Ctx, LayerCache, LstmCache, PaddedLstm, ScalarType, Tensor};

/// A fused step's results, in the order of the slots it fills (`None` for one the code never
/// reads, and past the last).
pub(super) type Results = [Option<Tensor>; 4];

fn one(t: Tensor) -> Results {
    [Some(t), None, None, None]
}

/// The most steps a fusion stands for.
const LONGEST: usize = 22;

/// A fused run of steps, its operands by slot; `layer` keeps the Linear layer where its weight
/// and bias are the trace's constants.
pub(crate) enum Fused {
    /// `linear(a + b, weight, bias)`.
    SumLinear {
        a: usize,
        b: usize,
        weight: usize,
        bias: Option<usize>,
        layer: Option<LayerCache>,
    },
    /// `linear(cat([x, one_hot(categories, classes).float()], -1), weight, bias)`.
    OneHotLinear {
        x: usize,
        categories: usize,
        classes: i64,
        weight: usize,
        bias: Option<usize>,
        layer: Option<LayerCache>,
    },
    /// `linear(x, weight, bias)` of constant `weight` and `bias`.
    Linear {
        x: usize,
        weight: usize,
        bias: Option<usize>,
        layer: LayerCache,
    },
    /// `pad_packed_sequence(lstm(pack_padded_sequence(x, lengths, True, False)), True)`: the
    /// padded output, `h_n`, `c_n` and the lengths, in the caller's order; `wanted` says
    /// which the code reads.
    PaddedLstm {
        x: usize,
        lengths: usize,
        params: Vec<usize>,
        spec: PaddedLstm,
        wanted: [bool; 4],
        cache: Option<LstmCache>,
    },
}

impl Fused {
    /// The fused results, one per slot the step fills (`None` for one the code never reads),
    /// or `None` where the fast path does not apply.
    pub(super) fn run(&self, cx: &Ctx, slots: &Slots) -> Result<Option<Results>> {
        ops::profile::call_fused(self.name(), || self.run_here(cx, slots))
    }

    /// The operators it stands for, as `bench --profile` names the run.
    fn name(&self) -> &'static str {
        match self {
            Fused::SumLinear { .. } => "fused: aten::add.Tensor + aten::linear",
            Fused::OneHotLinear { .. } => {
                "fused: aten::one_hot + aten::to.dtype + aten::cat + aten::linear"
            }
            Fused::Linear { .. } => "fused: aten::linear",
            Fused::PaddedLstm { .. } => {
                "fused: aten::_pack_padded_sequence + aten::lstm.data + aten::_pad_packed_sequence"
            }
        }
    }

    fn run_here(&self, cx: &Ctx, slots: &Slots) -> Result<Option<Results>> {
        let get = |s: usize| slots.get(s);
        // `None`: a slot is empty; `Some(None)`: no bias.
        let bias = |s: Option<usize>| match s {
            None => Some(None),
            Some(s) => get(s).map(Some),
        };
        Ok(match self {
            Fused::SumLinear {
                a,
                b,
                weight,
                bias: bs,
                layer,
            } => match (get(*a), get(*b), get(*weight), bias(*bs)) {
                (Some(a), Some(b), Some(w), Some(bias)) => {
                    ops::sum_linear(cx, a, b, w, bias, layer.as_ref())?.map(one)
                }
                _ => None,
            },
            Fused::OneHotLinear {
                x,
                categories,
                classes,
                weight,
                bias: bs,
                layer,
            } => match (get(*x), get(*categories), get(*weight), bias(*bs)) {
                (Some(x), Some(c), Some(w), Some(bias)) => {
                    ops::one_hot_linear(cx, x, c, *classes, w, bias, layer.as_ref())?.map(one)
                }
                _ => None,
            },
            Fused::Linear {
                x,
                weight,
                bias: bs,
                layer,
            } => match (get(*x), get(*weight), bias(*bs)) {
                (Some(x), Some(w), Some(bias)) => ops::linear(cx, x, w, bias, layer)?.map(one),
                _ => None,
            },
            Fused::PaddedLstm {
                x,
                lengths,
                params,
                spec,
                wanted,
                cache,
            } => {
                let params: Option<Vec<Tensor>> = params.iter().map(|&s| get(s).cloned()).collect();
                match (get(*x), get(*lengths), params) {
                    (Some(x), Some(l), Some(p)) => {
                        ops::padded_lstm(cx, x, l, &p, spec, *wanted, cache.as_ref())?
                    }
                    _ => None,
                }
            }
        })
    }
}

/// `steps` with the runs this module knows fused; `output` is the trace's result, `specs` its
/// results' types and shapes, and `constant` says which slots hold the program's tensors.
pub(super) fn fuse(
    steps: Vec<Step>,
    output: &Tmpl,
    specs: &HashMap<usize, (ScalarType, Vec<usize>)>,
    constant: &dyn Fn(usize) -> bool,
) -> Vec<Step> {
    let mut uses: HashMap<usize, usize> = HashMap::default();
    count(output, &mut uses);
    for step in &steps {
        count_step(step, &mut uses);
    }
    let once = |s: usize| uses.get(&s) == Some(&1);
    let mut steps: Vec<Option<Step>> = steps.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(steps.len());
    for i in 0..steps.len() {
        // Those before `i` are taken already.
        let window: Vec<&Step> = steps[i..(i + LONGEST).min(steps.len())]
            .iter()
            .map_while(Option::as_ref)
            .collect();
        if window.is_empty() {
            continue;
        }
        let found = sum_linear(&window, &once, constant)
            .or_else(|| one_hot_linear(&window, &once, specs, constant))
            .or_else(|| lstm::padded_lstm(&window, &uses, constant))
            .or_else(|| linear(&window, constant));
        match found {
            Some((fused, outs, n)) => {
                let original = steps[i..i + n]
                    .iter_mut()
                    .filter_map(Option::take)
                    .collect();
                out.push(Step::Fused {
                    fused,
                    outs,
                    original,
                });
            }
            None => out.extend(steps[i].take()),
        }
    }
    out
}

/// Counts the slots `step` reads.
fn count_step(step: &Step, uses: &mut HashMap<usize, usize>) {
    match step {
        Step::Op { args, .. } => match args {
            Call::Bound(values) => values.iter().for_each(|t| count(t, uses)),
            Call::Given(args, kwargs) => {
                args.iter().for_each(|t| count(t, uses));
                kwargs.iter().for_each(|(_, t)| count(t, uses));
            }
        },
        Step::Read { slot, .. } => *uses.entry(*slot).or_default() += 1,
        Step::Fused { .. } => {}
    }
}

/// Counts the slots `t` names.
fn count(t: &Tmpl, uses: &mut HashMap<usize, usize>) {
    match t {
        Tmpl::Slot(s) => *uses.entry(*s).or_default() += 1,
        Tmpl::List(items) | Tmpl::Tuple(items) => items.iter().for_each(|i| count(i, uses)),
        Tmpl::Dict(items) => items.iter().for_each(|(k, v)| {
            count(k, uses);
            count(v, uses);
        }),
        _ => {}
    }
}

/// A step's operator (`aten::add.Tensor`), bound arguments and result slot.
fn op_step<'a>(step: &'a Step, name: &str) -> Option<(&'a [Tmpl], usize)> {
    match step {
        Step::Op {
            op,
            args: Call::Bound(values),
            out: Tmpl::Slot(out),
        } if op.schema.full_name() == name => Some((values, *out)),
        _ => None,
    }
}

fn slot(t: Option<&Tmpl>) -> Option<usize> {
    match t {
        Some(Tmpl::Slot(s)) => Some(*s),
        _ => None,
    }
}

/// `linear`'s step reading slot `input`: its weight and bias slots and its result.
fn linear_of(step: &Step, input: usize) -> Option<(usize, Option<usize>, usize)> {
    let (args, out) = op_step(step, "aten::linear")?;
    if slot(args.first())? != input {
        return None;
    }
    let weight = slot(args.get(1))?;
    let bias = match args.get(2) {
        Some(Tmpl::None) | None => None,
        Some(Tmpl::Slot(s)) => Some(*s),
        Some(_) => return None,
    };
    Some((weight, bias, out))
}

/// A cache for the layer of `weight` and `bias` where both are constants.
fn cache(
    weight: usize,
    bias: Option<usize>,
    constant: &dyn Fn(usize) -> bool,
) -> Option<LayerCache> {
    (constant(weight) && bias.is_none_or(constant)).then(LayerCache::new)
}

/// `linear(x, weight, bias)` where `weight` and `bias` are the program's.
fn linear(
    window: &[&Step],
    constant: &dyn Fn(usize) -> bool,
) -> Option<(Fused, Vec<usize>, usize)> {
    let (args, _) = op_step(window.first()?, "aten::linear")?;
    let x = slot(args.first())?;
    let (weight, bias, out) = linear_of(window.first()?, x)?;
    let layer = cache(weight, bias, constant)?;
    Some((
        Fused::Linear {
            x,
            weight,
            bias,
            layer,
        },
        vec![out],
        1,
    ))
}

/// `add.Tensor(a, b, 1)` then `linear` of the sum.
fn sum_linear(
    window: &[&Step],
    once: &dyn Fn(usize) -> bool,
    constant: &dyn Fn(usize) -> bool,
) -> Option<(Fused, Vec<usize>, usize)> {
    let (args, sum) = op_step(window.first()?, "aten::add.Tensor")?;
    let alpha_one = matches!(args.get(2), Some(Tmpl::Int(1)));
    let (a, b) = (slot(args.first())?, slot(args.get(1))?);
    if !alpha_one || !once(sum) {
        return None;
    }
    let (weight, bias, out) = linear_of(window.get(1)?, sum)?;
    let layer = cache(weight, bias, constant);
    Some((
        Fused::SumLinear {
            a,
            b,
            weight,
            bias,
            layer,
        },
        vec![out],
        2,
    ))
}

/// `one_hot(c, n)`, `to.dtype(float32)`, `cat([x, hot], -1)` then `linear` of that.
fn one_hot_linear(
    window: &[&Step],
    once: &dyn Fn(usize) -> bool,
    specs: &HashMap<usize, (ScalarType, Vec<usize>)>,
    constant: &dyn Fn(usize) -> bool,
) -> Option<(Fused, Vec<usize>, usize)> {
    let (args, hot) = op_step(window.first()?, "aten::one_hot")?;
    let categories = slot(args.first())?;
    let Some(Tmpl::Int(classes)) = args.get(1) else {
        return None;
    };
    let (args, float) = op_step(window.get(1)?, "aten::to.dtype")?;
    let to_f32 = slot(args.first())? == hot
        && matches!(args.get(1), Some(Tmpl::Int(code)) if *code == ScalarType::Float32.code());
    let (args, cat) = op_step(window.get(2)?, "aten::cat")?;
    let rank = specs.get(&cat)?.1.len() as i64;
    let last = matches!(args.get(1), Some(Tmpl::Int(d)) if *d == -1 || *d == rank - 1);
    let x = match args.first()? {
        Tmpl::List(items) if items.len() == 2 && slot(items.get(1))? == float => {
            slot(items.first())?
        }
        _ => return None,
    };
    if !(to_f32 && last && once(hot) && once(float) && once(cat)) {
        return None;
    }
    let (weight, bias, out) = linear_of(window.get(3)?, cat)?;
    Some((
        Fused::OneHotLinear {
            x,
            categories,
            classes: *classes,
            weight,
            bias,
            layer: cache(weight, bias, constant),
        },
        vec![out],
        4,
    ))
}
