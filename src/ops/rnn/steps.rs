//! The recurrent cells stepped over packed rows with candle ops, on every device and dtype:
//! each step computes only the sequences still running (a prefix of the rows, sorted by
//! length), the forward direction ending each at its own last step and the reverse direction
//! starting each there from its initial state. The cells are PyTorch's CPU cells, written in
//! their order of operations.

use candle_core::{Tensor as CTensor, D};

use super::packed::Packing;
use super::{CellWeights, Run, Stack};
use crate::error::Result;
use crate::linear::{row_stable_matmul, Linear};

/// A recurrent cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::ops) enum Cell {
    /// `nn.LSTM`: gates `i, f, g, o`.
    Lstm,
    /// `nn.GRU`: gates `r, z, n`.
    Gru,
    /// `nn.RNN(nonlinearity="tanh")`.
    Tanh,
    /// `nn.RNN(nonlinearity="relu")`.
    Relu,
}

impl Cell {
    /// Gates per hidden unit.
    pub(super) fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
            Cell::Tanh | Cell::Relu => 1,
        }
    }
}

/// A cell's weights ready for stepping: `W_hhᵀ` and `W_hrᵀ` contiguous.
struct Prepared<'a> {
    w: &'a CellWeights,
    w_hh_t: CTensor,
    w_hr_t: Option<CTensor>,
    cell: Cell,
    hidden: usize,
}

impl Prepared<'_> {
    /// One step for the `n` running rows: `xp` `(n, G·H)` is `x·W_ihᵀ + b_ih`, `h` the
    /// previous `h` (and `c` for an LSTM). Returns the new `h` and `c`.
    fn step(
        &self,
        xp: &CTensor,
        h: &CTensor,
        c: Option<&CTensor>,
    ) -> Result<(CTensor, Option<CTensor>)> {
        let mut gh = row_stable_matmul(h, &self.w_hh_t)?;
        if let Some(b) = &self.w.b_hh {
            gh = gh.broadcast_add(b)?;
        }
        let hs = self.hidden;
        let sigmoid = |t: &CTensor| candle_nn::ops::sigmoid(t);
        match (self.cell, c) {
            (Cell::Lstm, Some(c)) => {
                let gates = (gh + xp)?;
                let gate = |k: usize| gates.narrow(1, k * hs, hs);
                let i = sigmoid(&gate(0)?)?;
                let f = sigmoid(&gate(1)?)?;
                let g = gate(2)?.tanh()?;
                let o = sigmoid(&gate(3)?)?;
                let c = ((f * c)? + (i * g)?)?;
                let mut h = (o * c.tanh()?)?;
                if let Some(w_hr_t) = &self.w_hr_t {
                    h = row_stable_matmul(&h, w_hr_t)?;
                }
                Ok((h, Some(c)))
            }
            (Cell::Gru, _) => {
                let (gi, gh) = (
                    |k: usize| xp.narrow(1, k * hs, hs),
                    |k: usize| gh.narrow(1, k * hs, hs),
                );
                let r = sigmoid(&(gh(0)? + gi(0)?)?)?;
                let z = sigmoid(&(gh(1)? + gi(1)?)?)?;
                let n = (gi(2)? + (gh(2)? * r)?)?.tanh()?;
                Ok((((h - &n)? * z)?.add(&n)?, None))
            }
            (Cell::Tanh, _) => Ok(((gh + xp)?.tanh()?, None)),
            (Cell::Relu, _) => Ok(((gh + xp)?.relu()?, None)),
            (Cell::Lstm, None) => Err(super::script("an LSTM step needs its cell state")),
        }
    }
}

/// The input projection `x·W_ihᵀ + b_ih` of every packed row: the project's [`Linear`].
fn project(x: &CTensor, w: &CellWeights) -> Result<CTensor> {
    let layer = Linear::new(&w.w_ih, w.b_ih.clone())?;
    layer.forward(x)
}

/// Runs `stack` over packed rows `x` `(rows, input_size)` from `h0` (and `c0`).
pub(super) fn run(
    stack: &Stack,
    packing: &Packing,
    x: &CTensor,
    h0: &CTensor,
    c0: Option<&CTensor>,
) -> Result<Run> {
    let mut x = x.clone();
    let (mut h_n, mut c_n) = (Vec::new(), Vec::new());
    for layer in 0..stack.layers {
        let mut outputs = Vec::with_capacity(stack.directions);
        for d in 0..stack.directions {
            let k = layer * stack.directions + d;
            let w = &stack.weights[k];
            let prepared = Prepared {
                w,
                w_hh_t: w.w_hh.t()?.contiguous()?,
                w_hr_t: w.w_hr.as_ref().map(|t| t.t()?.contiguous()).transpose()?,
                cell: stack.cell,
                hidden: stack.hidden,
            };
            let xp = project(&x, w)?;
            let h = h0.get(k)?;
            let c = c0.map(|c| c.get(k)).transpose()?;
            let (out, h_last, c_last) = if d == 0 {
                forward(&prepared, packing, &xp, h, c)?
            } else {
                reverse(&prepared, packing, &xp, h, c)?
            };
            outputs.push(out);
            h_n.push(h_last);
            c_n.extend(c_last);
        }
        x = CTensor::cat(&outputs, D::Minus1)?;
    }
    Ok(Run {
        output: x,
        h_n: CTensor::stack(&h_n, 0)?,
        c_n: if c_n.is_empty() {
            None
        } else {
            Some(CTensor::stack(&c_n, 0)?)
        },
    })
}

type Direction = (CTensor, CTensor, Option<CTensor>);

/// The forward direction: rows leave as their sequences end, keeping their last state.
fn forward(
    p: &Prepared,
    packing: &Packing,
    xp: &CTensor,
    mut h: CTensor,
    mut c: Option<CTensor>,
) -> Result<Direction> {
    let mut steps = Vec::with_capacity(packing.steps());
    // Final states of the rows that ended, last rows first.
    let (mut done_h, mut done_c) = (Vec::new(), Vec::new());
    for (t, &n) in packing.batch_sizes().iter().enumerate() {
        let rows = h.dim(0)?;
        if n < rows {
            done_h.push(h.narrow(0, n, rows - n)?);
            h = h.narrow(0, 0, n)?;
            if let Some(cc) = &c {
                done_c.push(cc.narrow(0, n, rows - n)?);
                c = Some(cc.narrow(0, 0, n)?);
            }
        }
        let rows_t = xp.narrow(0, packing.offsets()[t], n)?;
        (h, c) = p.step(&rows_t, &h, c.as_ref())?;
        steps.push(h.clone());
    }
    done_h.push(h);
    done_h.reverse();
    let c_last = match c {
        Some(cc) => {
            done_c.push(cc);
            done_c.reverse();
            Some(CTensor::cat(&done_c, 0)?)
        }
        None => None,
    };
    Ok((CTensor::cat(&steps, 0)?, CTensor::cat(&done_h, 0)?, c_last))
}

/// The reverse direction: rows join, from their initial state, at their last step.
fn reverse(
    p: &Prepared,
    packing: &Packing,
    xp: &CTensor,
    h0: CTensor,
    c0: Option<CTensor>,
) -> Result<Direction> {
    let sizes = packing.batch_sizes();
    let first = sizes[sizes.len() - 1];
    let mut h = h0.narrow(0, 0, first)?;
    let mut c = c0.as_ref().map(|c| c.narrow(0, 0, first)).transpose()?;
    let mut steps = Vec::with_capacity(sizes.len());
    for t in (0..sizes.len()).rev() {
        let (n, rows) = (sizes[t], h.dim(0)?);
        if n > rows {
            h = CTensor::cat(&[&h, &h0.narrow(0, rows, n - rows)?], 0)?;
            if let (Some(cc), Some(c0)) = (&c, &c0) {
                c = Some(CTensor::cat(&[cc, &c0.narrow(0, rows, n - rows)?], 0)?);
            }
        }
        let rows_t = xp.narrow(0, packing.offsets()[t], n)?;
        (h, c) = p.step(&rows_t, &h, c.as_ref())?;
        steps.push(h.clone());
    }
    steps.reverse();
    Ok((CTensor::cat(&steps, 0)?, h, c))
}
