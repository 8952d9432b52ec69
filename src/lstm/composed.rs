//! The LSTM layer as composed candle tensor ops (~15 per step): runs on every device and
//! dtype, and is the reference the fused kernel is tested against. Same packed layout and
//! results as [`super::fused`].

use candle_core::{Tensor, D};

use super::{LayerParams, LayerRun, LayerShape};
use crate::error::Result;
use crate::linear::row_stable_matmul;

/// Runs one layer (both directions) over the packed input `x` `(rows, layer input)`.
pub(super) fn run_layer(x: &Tensor, params: &LayerParams, shape: LayerShape) -> Result<LayerRun> {
    let LayerShape {
        plan,
        hidden,
        h_out,
        directions,
        ..
    } = shape;
    // The input projection of every step and direction at once: (rows, D * 4H).
    let xp = params.input.forward(x)?;
    let mut outputs = Vec::with_capacity(directions);
    let (mut h_n, mut c_n) = (Vec::new(), Vec::new());
    for d in 0..directions {
        let xp_d = xp.narrow(1, d * 4 * hidden, 4 * hidden)?;
        let w_hh_t = params.w_hh_t.get(d)?;
        let w_hr_t = params.w_hr_t.as_ref().map(|w| w.get(d)).transpose()?;
        let cell =
            |x: &Tensor, h: &Tensor, c: &Tensor| cell(x, h, c, &w_hh_t, w_hr_t.as_ref(), hidden);
        let zeros = |rows: usize, cols: usize| Tensor::zeros((rows, cols), xp.dtype(), xp.device());
        let step_rows = |t: usize| xp_d.narrow(0, plan.offsets()[t], plan.batch_sizes()[t]);
        let mut steps: Vec<Tensor> = Vec::with_capacity(plan.max_len());
        if d == 0 {
            let mut h = zeros(plan.batch(), h_out)?;
            let mut c = zeros(plan.batch(), hidden)?;
            // Final states, in the order rows finish (last rows first).
            let mut finished: Vec<(Tensor, Tensor)> = Vec::new();
            for (t, &active) in plan.batch_sizes().iter().enumerate() {
                let rows = h.dim(0)?;
                if active < rows {
                    finished.push((
                        h.narrow(0, active, rows - active)?,
                        c.narrow(0, active, rows - active)?,
                    ));
                    h = h.narrow(0, 0, active)?;
                    c = c.narrow(0, 0, active)?;
                }
                (h, c) = cell(&step_rows(t)?, &h, &c)?;
                steps.push(h.clone());
            }
            finished.push((h, c));
            finished.reverse();
            let (hs, cs): (Vec<Tensor>, Vec<Tensor>) = finished.into_iter().unzip();
            h_n.push(Tensor::cat(&hs, 0)?);
            c_n.push(Tensor::cat(&cs, 0)?);
        } else {
            let mut h = zeros(0, h_out)?;
            let mut c = zeros(0, hidden)?;
            for (t, &active) in plan.batch_sizes().iter().enumerate().rev() {
                // Rows whose last valid step is `t` join here with a zero state.
                let rows = h.dim(0)?;
                if active > rows {
                    h = Tensor::cat(&[&h, &zeros(active - rows, h_out)?], 0)?;
                    c = Tensor::cat(&[&c, &zeros(active - rows, hidden)?], 0)?;
                }
                (h, c) = cell(&step_rows(t)?, &h, &c)?;
                steps.push(h.clone());
            }
            steps.reverse();
            h_n.push(h);
            c_n.push(c);
        }
        // Steps in time order, each its active rows: exactly the packed layout.
        outputs.push(Tensor::cat(&steps, 0)?);
    }
    Ok(LayerRun {
        output: Tensor::cat(&outputs, D::Minus1)?,
        h_n: Tensor::stack(&h_n, 0)?,
        c_n: Tensor::stack(&c_n, 0)?,
    })
}

/// One LSTM step for `n` active rows: `xp` `(n, 4H)` is the input projection (biases
/// included), `h` `(n, h_out)` and `c` `(n, H)` the previous state. Gate order `i, f, g, o`.
fn cell(
    xp: &Tensor,
    h: &Tensor,
    c: &Tensor,
    w_hh_t: &Tensor,
    w_hr_t: Option<&Tensor>,
    hidden: usize,
) -> Result<(Tensor, Tensor)> {
    let gates = row_stable_matmul(h, w_hh_t)?.add(xp)?;
    let gate = |k: usize| gates.narrow(1, k * hidden, hidden);
    let i = candle_nn::ops::sigmoid(&gate(0)?)?;
    let f = candle_nn::ops::sigmoid(&gate(1)?)?;
    let g = gate(2)?.tanh()?;
    let o = candle_nn::ops::sigmoid(&gate(3)?)?;
    let c = ((f * c)? + (i * g)?)?;
    let mut h = (o * c.tanh()?)?;
    if let Some(w_hr_t) = w_hr_t {
        h = row_stable_matmul(&h, w_hr_t)?;
    }
    Ok((h, c))
}
