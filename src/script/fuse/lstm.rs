//! The LSTM over padded sequences of any lengths, as `torch.nn.utils.rnn` writes it:
//! `pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)`, an `nn.LSTM`
//! from zero states on the packed sequence, then `pad_packed_sequence(..., batch_first=True)`.
//! TorchScript records that as seventeen operators and two reads of the batch size (sort the
//! lengths, gather the sequences in that order, pack, invert the order, make the zero states,
//! the LSTM, put the states and the padded output back in the caller's order); one pass does
//! it on the seed's LSTM kernel
//! ([`crate::ops::padded_lstm`]). Where the code then takes the last step of every sequence
//! (`output[:, -1, :]`, as the seed's model does), the pass makes that step alone.

use rustc_hash::FxHashMap as HashMap;

use super::pattern::{matches, P, S};
use super::Fused;
use crate::ops::{LstmCache, PaddedLstm};
use crate::script::trace::Step;

/// `[:, -1, :]` of the padded output, as the seed's model pools it: the slices of every
/// step and every feature leave it as it is.
fn last_step() -> Vec<S> {
    use P::*;
    let op = S::Op;
    vec![
        op(
            "aten::slice.Tensor",
            vec![Slot("output"), Int(0), None, None, Int(1)],
            Slot("all"),
        ),
        op(
            "aten::select.int",
            vec![Slot("all"), Int(1), Int(-1)],
            Slot("picked"),
        ),
        op(
            "aten::slice.Tensor",
            vec![Slot("picked"), Int(1), None, None, Int(1)],
            Slot("last"),
        ),
    ]
}

/// `torch.zeros(cells, batch, size)`, a zero state, into slot `state`.
fn zeros(size: &'static str, state: &'static str) -> S {
    use P::*;
    S::Op(
        "aten::zeros",
        vec![
            List(vec![IntIs("cells"), IntIs("batch"), IntIs(size)]),
            IntIs("dtype"),
            None,
            Cpu,
            None,
        ],
        Slot(state),
    )
}

/// The steps, as `torch.nn.utils.rnn` and `nn.LSTM.forward` record them once the steps that
/// only read shapes are left out (`super::super::prune`).
fn pattern() -> Vec<S> {
    use P::*;
    let op = S::Op;
    vec![
        op(
            "aten::sort",
            vec![Slot("lengths"), Int(-1), Bool(true)],
            Tuple(vec![Slot("sorted_lengths"), Slot("order")]),
        ),
        op(
            "aten::to.prim_Device",
            vec![Slot("order"), Cpu, None, Bool(false), Bool(false)],
            Slot("order_here"),
        ),
        op(
            "aten::index_select",
            vec![Slot("x"), Int(0), Slot("order_here")],
            Slot("sorted_x"),
        ),
        op(
            "aten::_pack_padded_sequence",
            vec![Slot("sorted_x"), Slot("sorted_lengths"), Bool(true)],
            Tuple(vec![Slot("data"), Slot("batch_sizes")]),
        ),
        op(
            "aten::empty_like",
            vec![Slot("order_here"), None, None, None, None, IntIs("format")],
            Slot("empty"),
        ),
        op(
            "aten::arange.start_step",
            vec![Int(0), IntIs("batch"), Int(1), None, None, Cpu, None],
            Slot("range"),
        ),
        op(
            "aten::scatter_.src",
            vec![Slot("empty"), Int(0), Slot("order_here"), Slot("range")],
            Slot("unorder"),
        ),
        op(
            "aten::select.int",
            vec![Slot("batch_sizes"), Int(0), Int(0)],
            Slot("max_batch"),
        ),
        S::ReadInt("max_batch", "batch"),
        zeros("h_out", "h0"),
        S::ReadInt("max_batch", "batch"),
        zeros("hidden", "c0"),
        op(
            "aten::lstm.data",
            vec![
                Slot("data"),
                Slot("batch_sizes"),
                List(vec![Slot("h0"), Slot("c0")]),
                Slots("params"),
                BoolIs("has_biases"),
                IntIs("layers"),
                FloatIs("dropout"),
                BoolIs("train"),
                BoolIs("bidirectional"),
            ],
            Tuple(vec![Slot("packed"), Slot("sorted_h"), Slot("sorted_c")]),
        ),
        op(
            "aten::index_select",
            vec![Slot("sorted_h"), Int(1), Slot("unorder")],
            Slot("h_n"),
        ),
        op(
            "aten::index_select",
            vec![Slot("sorted_c"), Int(1), Slot("unorder")],
            Slot("c_n"),
        ),
        op(
            "aten::_pad_packed_sequence",
            vec![
                Slot("packed"),
                Slot("batch_sizes"),
                Bool(true),
                FloatIs("fill"),
                IntIs("total"),
            ],
            Tuple(vec![Slot("sorted_padded"), Slot("padded_lengths")]),
        ),
        op(
            "aten::index_select",
            vec![Slot("sorted_padded"), Int(0), Slot("unorder")],
            Slot("output"),
        ),
        op("aten::cpu", vec![Slot("unorder")], Slot("unorder_here")),
        op(
            "aten::index.Tensor",
            vec![Slot("padded_lengths"), List(vec![Slot("unorder_here")])],
            Slot("output_lengths"),
        ),
    ]
}

/// The slots the fused pass reads, besides `params`.
const INPUTS: [&str; 2] = ["x", "lengths"];

/// The fused pass where the first of `window` are the pattern (with `[:, -1, :]` of the
/// output, or without) and no step after them reads a slot in between: the pass, the slots it
/// fills and the steps it stands for.
pub(super) fn padded_lstm(
    window: &[&Step],
    uses: &HashMap<usize, usize>,
    constant: &dyn Fn(usize) -> bool,
) -> Option<(Fused, Vec<usize>, usize)> {
    let mut pattern = pattern();
    pattern.extend(last_step());
    let (b, last) = match matches(&pattern, window) {
        Some(b) => (b, true),
        None => {
            pattern.truncate(pattern.len() - last_step().len());
            (matches(&pattern, window)?, false)
        }
    };
    // In the order [`crate::ops::padded_lstm`] returns them.
    let first = if last { "last" } else { "output" };
    let outputs = [first, "h_n", "c_n", "output_lengths"];
    // A slot made inside the run may be read inside it only.
    let mut inside: HashMap<usize, usize> = HashMap::default();
    for step in &window[..pattern.len()] {
        super::count_step(step, &mut inside);
    }
    let params = b.slots("params")?;
    let made_inside = |name: &str| !INPUTS.contains(&name) && name != "params";
    for (name, s) in b.all_slots() {
        if made_inside(name)
            && !outputs.contains(&name)
            && uses.get(&s).copied().unwrap_or(0) != inside.get(&s).copied().unwrap_or(0)
        {
            return None;
        }
    }
    let cache = params.iter().all(|&s| constant(s)).then(LstmCache::new);
    let spec = PaddedLstm {
        has_biases: b.bool("has_biases")?,
        layers: b.int("layers")?,
        dropout: b.float("dropout")?,
        train: b.bool("train")?,
        bidirectional: b.bool("bidirectional")?,
        cells: b.int("cells")?,
        hidden: b.int("hidden")?,
        h_out: b.int("h_out")?,
        state_dtype: b.int("dtype")?,
        fill: b.float("fill")?,
        total: b.int("total")?,
        last,
    };
    let outs = outputs
        .iter()
        .map(|n| b.slot(n))
        .collect::<Option<Vec<_>>>()?;
    let read = |i: usize| uses.get(&outs[i]).is_some_and(|&n| n > 0);
    let wanted = [read(0), read(1), read(2), read(3)];
    Some((
        Fused::PaddedLstm {
            x: b.slot("x")?,
            lengths: b.slot("lengths")?,
            params,
            spec,
            wanted,
            cache,
        },
        outs,
        pattern.len(),
    ))
}
