//! Recurrent layers and packed sequences: `lstm`, `gru`, `rnn_tanh` and `rnn_relu`, each on a
//! padded input (`.input`, time-major or `batch_first`) or packed rows (`.data` with
//! `batch_sizes`), with initial states, layers, both directions and (LSTM) projections; and
//! `_pack_padded_sequence` / `_pad_packed_sequence`.
//!
//! `params` is the module's `_flat_weights`: per layer, per direction, `w_ih, w_hh` then
//! `b_ih, b_hh` when `has_biases`, then `w_hr` for an LSTM with projections (which PyTorch
//! tells from `h0` being narrower than `c0`). The `.data` overloads see the rows already sorted
//! by length (the caller sorts and permutes `hx`), so their results are in that order too.
//!
//! An LSTM starting from zero states in f32 or f64 runs the project's [`MaskedLstm`] (the
//! seed's kernel, fused per CPU tier); a GRU computing in f32 on the CPU (an f16 or bf16 input
//! too) runs the fused GRU kernel ([`crate::cpu::gru`], [`fused`]) on the current CPU tier,
//! from any initial state; the tanh and relu cells, and an LSTM from given states, computing
//! in f32 on the CPU (an f16 or bf16 input too) run [`cells`] over plain slices; every other
//! case steps the packed rows with candle ops ([`steps`]), PyTorch's cells written as
//! PyTorch's CPU code writes them (the GRU's fused kernel and [`cells`] follow the same order
//! of operations). Dropout between layers is refused in training mode and ignored otherwise.

mod cells;
mod fused;
mod packed;
mod padded;
mod steps;
#[cfg(test)]
#[rustfmt::skip]
mod tests;

use candle_core::{DType, Tensor as CTensor};

use super::registry::{Args, Builder, Ctx};
use super::tensor::Tensor;
use super::value::Value;
use crate::cpu::simd::Isa;
use crate::cpu::tier;
use crate::error::{Error, Result};

use packed::Packing;
pub(crate) use padded::{padded_lstm, LstmCache, PaddedLstm};
use steps::Cell;

/// Registers this family's operators.
pub(super) fn register(b: &mut Builder) {
    b.add(
        "aten::lstm.input(Tensor input, Tensor[] hx, Tensor[] params, bool has_biases, int num_layers, float dropout, bool train, bool bidirectional, bool batch_first) -> (Tensor, Tensor, Tensor)",
        |cx, a| rnn_input(cx, a, Cell::Lstm),
    );
    b.add(
        "aten::lstm.data(Tensor data, Tensor batch_sizes, Tensor[] hx, Tensor[] params, bool has_biases, int num_layers, float dropout, bool train, bool bidirectional) -> (Tensor, Tensor, Tensor)",
        |cx, a| rnn_data(cx, a, Cell::Lstm),
    );
    for (name, cell) in [
        ("gru", Cell::Gru),
        ("rnn_tanh", Cell::Tanh),
        ("rnn_relu", Cell::Relu),
    ] {
        let input = format!(
            "aten::{name}.input(Tensor input, Tensor hx, Tensor[] params, bool has_biases, int num_layers, float dropout, bool train, bool bidirectional, bool batch_first) -> (Tensor, Tensor)"
        );
        let data = format!(
            "aten::{name}.data(Tensor data, Tensor batch_sizes, Tensor hx, Tensor[] params, bool has_biases, int num_layers, float dropout, bool train, bool bidirectional) -> (Tensor, Tensor)"
        );
        let (f_input, f_data): (super::OpFn, super::OpFn) = match cell {
            Cell::Gru => (
                |cx, a| rnn_input(cx, a, Cell::Gru),
                |cx, a| rnn_data(cx, a, Cell::Gru),
            ),
            Cell::Tanh => (
                |cx, a| rnn_input(cx, a, Cell::Tanh),
                |cx, a| rnn_data(cx, a, Cell::Tanh),
            ),
            _ => (
                |cx, a| rnn_input(cx, a, Cell::Relu),
                |cx, a| rnn_data(cx, a, Cell::Relu),
            ),
        };
        b.add(&input, f_input);
        b.add(&data, f_data);
    }
    b.add(
        "aten::_pack_padded_sequence(Tensor input, Tensor lengths, bool batch_first) -> (Tensor, Tensor)",
        packed::pack_padded_op,
    );
    b.add(
        "aten::_pad_packed_sequence(Tensor data, Tensor batch_sizes, bool batch_first, Scalar padding_value, int total_length) -> (Tensor, Tensor)",
        packed::pad_packed_op,
    );
}

/// `leading` (the input rows and initial states), then every cell's weights in
/// `_flat_weights` order (`w_ih`, `w_hh`, the biases, `w_hr`), each contiguous: what the
/// CPU loops ([`cells`], [`fused`]) read.
fn contiguous_operands(stack: &Stack, leading: &[&CTensor]) -> Result<Vec<CTensor>> {
    let mut tensors = Vec::with_capacity(leading.len() + 5 * stack.weights.len());
    for t in leading {
        tensors.push(t.contiguous()?);
    }
    for w in &stack.weights {
        let weights = [
            Some(&w.w_ih),
            Some(&w.w_hh),
            w.b_ih.as_ref(),
            w.b_hh.as_ref(),
            w.w_hr.as_ref(),
        ];
        for t in weights.into_iter().flatten() {
            tensors.push(t.contiguous()?);
        }
    }
    Ok(tensors)
}

/// The f32 elements of each storage in `guards` (what `storage_and_layout` gave for
/// contiguous f32 tensors); an error naming `who` for a tensor off the CPU.
fn f32_slices<'a, G: std::ops::Deref<Target = candle_core::Storage>>(
    guards: &'a [(G, &candle_core::Layout)],
    who: &str,
) -> Result<Vec<&'a [f32]>> {
    guards
        .iter()
        .map(|(storage, layout)| match &**storage {
            candle_core::Storage::Cpu(s) => Ok(crate::cpu::contiguous::<f32>(s, layout)?),
            _ => Err(script(format!("{who} was given a tensor off the CPU"))),
        })
        .collect()
}

pub(super) fn script(message: impl Into<String>) -> Error {
    Error::Script(message.into())
}

/// One cell's weights (one layer, one direction), in the compute type.
#[derive(Debug, Clone)]
pub(super) struct CellWeights {
    w_ih: CTensor,
    w_hh: CTensor,
    b_ih: Option<CTensor>,
    b_hh: Option<CTensor>,
    w_hr: Option<CTensor>,
}

/// A recurrent layer stack's hyperparameters and weights, checked against each other.
#[derive(Debug, Clone)]
pub(super) struct Stack {
    cell: Cell,
    layers: usize,
    directions: usize,
    input_size: usize,
    hidden: usize,
    /// Width of `h`: `proj_size` for an LSTM with projections, else `hidden`.
    h_out: usize,
    has_biases: bool,
    /// `weights[layer * directions + direction]`.
    weights: Vec<CellWeights>,
}

/// The arguments every overload shares, by their positions after the input ones.
struct Common {
    has_biases: bool,
    layers: usize,
    bidirectional: bool,
}

fn common(a: &Args, first: usize) -> Result<Common> {
    let (dropout, train) = (a.float(first + 2)?, a.bool(first + 3)?);
    let layers = a.int(first + 1)?;
    if layers < 1 {
        return Err(script(format!(
            "num_layers must be at least 1, got {layers}"
        )));
    }
    if train && dropout > 0.0 && layers > 1 {
        return Err(script(
            "dropout between recurrent layers in training mode is not supported (inference \
             only: call the model in eval mode)",
        ));
    }
    Ok(Common {
        has_biases: a.bool(first)?,
        layers: layers as usize,
        bidirectional: a.bool(first + 4)?,
    })
}

impl Stack {
    /// Reads `params` for `cell` over inputs of `input_size` features; `h_out` and `hidden`
    /// come from the initial states.
    fn new(
        cell: Cell,
        params: &[Tensor],
        c: &Common,
        input: &Tensor,
        hidden: usize,
        h_out: usize,
    ) -> Result<Self> {
        if hidden == 0 || h_out == 0 {
            return Err(script(format!(
                "the hidden states must not be empty (hidden size {hidden}, output size {h_out})"
            )));
        }
        let directions = if c.bidirectional { 2 } else { 1 };
        let proj = h_out != hidden;
        let per_cell = 2 + 2 * usize::from(c.has_biases) + usize::from(proj);
        let cells = c.layers * directions;
        if params.len() != cells * per_cell {
            return Err(script(format!(
                "got an incorrect number of RNN parameters: {} for {} layers, {} directions, \
                 {per_cell} per cell",
                params.len(),
                c.layers,
                directions
            )));
        }
        let input_size = *input.dims().last().unwrap_or(&0);
        let work = work_dtype(input)?;
        let gates = cell.gates() * hidden;
        let mut weights = Vec::with_capacity(cells);
        for (k, chunk) in params.chunks(per_cell).enumerate() {
            let layer_in = if k < directions {
                input_size
            } else {
                directions * h_out
            };
            let get = |i: usize, dims: &[usize], what: &str| -> Result<CTensor> {
                let t = &chunk[i];
                if t.dtype() != input.dtype() {
                    return Err(script(format!(
                        "{what} of layer {} has type {}, the input {}",
                        k / directions,
                        t.dtype().name(),
                        input.dtype().name()
                    )));
                }
                if t.dims() != dims {
                    return Err(script(format!(
                        "{what} of layer {} has shape {:?}, expected {dims:?}",
                        k / directions,
                        t.dims()
                    )));
                }
                Ok(t.inner().to_device(input.device())?.to_dtype(work)?)
            };
            let mut next = 2;
            let mut bias = |what: &str| -> Result<Option<CTensor>> {
                if !c.has_biases {
                    return Ok(None);
                }
                next += 1;
                get(next - 1, &[gates], what).map(Some)
            };
            let (b_ih, b_hh) = (bias("bias_ih")?, bias("bias_hh")?);
            weights.push(CellWeights {
                w_ih: get(0, &[gates, layer_in], "weight_ih")?,
                w_hh: get(1, &[gates, h_out], "weight_hh")?,
                b_ih,
                b_hh,
                w_hr: if proj {
                    Some(get(per_cell - 1, &[h_out, hidden], "weight_hr")?)
                } else {
                    None
                },
            });
        }
        Ok(Self {
            cell,
            layers: c.layers,
            directions,
            input_size,
            hidden,
            h_out,
            has_biases: c.has_biases,
            weights,
        })
    }
}

/// The type the layers compute in: the input's, f32 for f16/bf16; integers are refused.
fn work_dtype(input: &Tensor) -> Result<DType> {
    if !input.dtype().is_float() {
        return Err(script(format!(
            "recurrent layers need a floating-point input, not {}",
            input.dtype().name()
        )));
    }
    Ok(super::nn::compute_dtype(input.dtype()))
}

/// The initial states: `(h0, c0)` for an LSTM (`hx` a list of two), `(hx, None)` otherwise;
/// each checked to be `(layers · directions, batch, width)` with the input's type.
fn states(
    a: &Args,
    i: usize,
    cell: Cell,
    input: &Tensor,
    c: &Common,
    batch: usize,
) -> Result<(Tensor, Option<Tensor>)> {
    let (h0, c0) = if cell == Cell::Lstm {
        let hx = a.tensors(i)?;
        let [h0, c0] =
            <[Tensor; 2]>::try_from(hx).map_err(|_| script("lstm expects two hidden states"))?;
        (h0, Some(c0))
    } else {
        (a.tensor(i)?.clone(), None)
    };
    let cells = c.layers * if c.bidirectional { 2 } else { 1 };
    for (t, what) in std::iter::once((&h0, "hx[0]")).chain(c0.as_ref().map(|t| (t, "hx[1]"))) {
        if t.rank() != 3 || t.dims()[0] != cells || t.dims()[1] != batch {
            return Err(script(format!(
                "Expected {what} of size ({cells}, {batch}, *), got {:?}",
                t.dims()
            )));
        }
        if t.dtype() != input.dtype() {
            return Err(script(format!(
                "{what} has type {}, the input {}",
                t.dtype().name(),
                input.dtype().name()
            )));
        }
    }
    if let Some(c0) = &c0 {
        if c0.dims()[2] < h0.dims()[2] {
            return Err(script(format!(
                "proj_size ({}) must be smaller than hidden_size ({})",
                h0.dims()[2],
                c0.dims()[2]
            )));
        }
    }
    Ok((h0, c0))
}

/// `lstm.input` and the others' `.input`: a padded `(time, batch, features)` input
/// (`(batch, time, features)` with `batch_first`).
fn rnn_input(cx: &Ctx, a: &Args, cell: Cell) -> Result<Value> {
    let input = a.tensor(0)?;
    if input.rank() != 3 {
        return Err(script(format!(
            "the input must have 3 dims (time, batch, features), got shape {:?}",
            input.dims()
        )));
    }
    let c = common(a, 3)?;
    let batch_first = a.bool(8)?;
    let (time, batch) = if batch_first {
        (input.dims()[1], input.dims()[0])
    } else {
        (input.dims()[0], input.dims()[1])
    };
    if time == 0 || batch == 0 {
        return Err(script(format!(
            "the input needs at least one step and one sequence, got shape {:?}",
            input.dims()
        )));
    }
    let (h0, c0) = states(a, 1, cell, input, &c, batch)?;
    let hidden = c0.as_ref().map_or(h0.dims()[2], |c0| c0.dims()[2]);
    let stack = Stack::new(cell, &a.tensors(2)?, &c, input, hidden, h0.dims()[2])?;
    // Time-major rows: every sequence is as long as the input.
    let x = if batch_first {
        input.inner().transpose(0, 1)?
    } else {
        input.inner().clone()
    };
    let packing = Packing::uniform(time, batch);
    let x = x.contiguous()?.reshape((time * batch, stack.input_size))?;
    let run = run(cx, &stack, &packing, &x, &h0, c0.as_ref())?;
    let out = run
        .output
        .reshape((time, batch, stack.directions * stack.h_out))?;
    let out = if batch_first {
        out.transpose(0, 1)?.contiguous()?
    } else {
        out
    };
    finish(input, out, run.h_n, run.c_n)
}

/// `lstm.data` and the others' `.data`: packed rows and their `batch_sizes`.
fn rnn_data(cx: &Ctx, a: &Args, cell: Cell) -> Result<Value> {
    let (data, batch_sizes) = (a.tensor(0)?, a.tensor(1)?);
    if data.rank() != 2 {
        return Err(script(format!(
            "packed data must have 2 dims (rows, features), got shape {:?}",
            data.dims()
        )));
    }
    let packing = Packing::from_batch_sizes(batch_sizes, data.dims()[0])?;
    let c = common(a, 4)?;
    let (h0, c0) = states(a, 2, cell, data, &c, packing.batch())?;
    let hidden = c0.as_ref().map_or(h0.dims()[2], |c0| c0.dims()[2]);
    let stack = Stack::new(cell, &a.tensors(3)?, &c, data, hidden, h0.dims()[2])?;
    let run = run(cx, &stack, &packing, data.inner(), &h0, c0.as_ref())?;
    finish(data, run.output, run.h_n, run.c_n)
}

/// The results in the input's type: `(output, h_n[, c_n])`.
fn finish(input: &Tensor, out: CTensor, h_n: CTensor, c_n: Option<CTensor>) -> Result<Value> {
    let dtype = input.dtype().candle();
    let wrap =
        |t: CTensor| -> Result<Value> { Ok(Value::Tensor(Tensor::new(t.to_dtype(dtype)?)?)) };
    let mut items = vec![wrap(out)?, wrap(h_n)?];
    if let Some(c_n) = c_n {
        items.push(wrap(c_n)?);
    }
    Ok(Value::tuple(items))
}

/// A stack's results over packed rows, in the compute type.
pub(super) struct Run {
    /// `(rows, directions · h_out)`, packed as the input.
    output: CTensor,
    /// `(layers · directions, batch, h_out)`.
    h_n: CTensor,
    /// `(layers · directions, batch, hidden)`, for an LSTM.
    c_n: Option<CTensor>,
}

/// Runs the stack over packed rows `x`, from the initial states: the project's
/// [`MaskedLstm`](crate::lstm::MaskedLstm) for an LSTM from zero states in f32/f64, the fused
/// GRU ([`fused::gru`]) for a GRU in f32 on the CPU, [`cells::run`] for the other cells in f32
/// on the CPU, else [`steps::run`].
fn run(
    cx: &Ctx,
    stack: &Stack,
    packing: &Packing,
    x: &CTensor,
    h0: &Tensor,
    c0: Option<&Tensor>,
) -> Result<Run> {
    let rows = packing.rows();
    cx.check(
        "the recurrent layer's gates",
        &[rows, stack.directions * stack.cell.gates() * stack.hidden],
    )?;
    cx.check(
        "the recurrent layer's output",
        &[rows, stack.directions * stack.h_out],
    )?;
    let work = stack.weights[0].w_ih.dtype();
    let x = x.to_dtype(work)?;
    if let Some(c0) = c0 {
        if matches!(work, DType::F32 | DType::F64) && is_zero(h0)? && is_zero(c0)? {
            return packed::masked_lstm(cx, stack, packing, &x);
        }
    }
    let h0 = h0.inner().to_dtype(work)?;
    if stack.cell == Cell::Gru && work == DType::F32 && x.device().is_cpu() {
        let isa = gru_isa()?;
        if fused::fits(cx, stack, packing, isa) {
            return fused::gru(stack, packing, &x, &h0, isa);
        }
    }
    let c0 = c0.map(|c| c.inner().to_dtype(work)).transpose()?;
    if cells::fits(stack, &x) {
        return cells::run(stack, packing, &x, &h0, c0.as_ref());
    }
    steps::run(stack, packing, &x, &h0, c0.as_ref())
}

#[cfg(test)]
thread_local! {
    /// The tests' choice of CPU tier for the fused GRU on this thread, in place of the current
    /// one ([`tests::on_every_tier`]).
    static GRU_TIER: std::cell::Cell<Option<tier::CpuTier>> = const { std::cell::Cell::new(None) };
}

/// The ISA the fused GRU runs on: the [current](tier::CpuTier::current) tier's (in tests, the
/// one a test picked for its thread).
fn gru_isa() -> Result<Isa> {
    #[cfg(test)]
    if let Some(tier) = GRU_TIER.get() {
        return tier::isa_for(tier);
    }
    tier::current_isa()
}

/// Whether every element is zero (NaN is not): read in place for an f32 tensor on the CPU,
/// else with candle ops.
fn is_zero(t: &Tensor) -> Result<bool> {
    let inner = t.inner();
    if inner.dtype() == DType::F32 {
        let (storage, layout) = inner.storage_and_layout();
        if let (candle_core::Storage::Cpu(s), Some((start, end))) =
            (&*storage, layout.contiguous_offsets())
        {
            return Ok(s.as_slice::<f32>()?[start..end].iter().all(|&v| v == 0.0));
        }
    }
    let nonzero = t
        .inner()
        .ne(0.0)?
        .flatten_all()?
        .max(0)?
        .to_scalar::<u8>()?;
    Ok(nonzero == 0)
}
