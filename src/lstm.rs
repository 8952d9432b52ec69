//! A length-masked LSTM that reproduces PyTorch's packed-sequence semantics exactly.
//!
//! [`MaskedLstm::forward`] computes what this PyTorch code computes, for any number of layers,
//! either direction count, and an optional projection (`proj_size`):
//!
//! ```python
//! packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
//! out, (h_n, c_n) = lstm(packed)          # nn.LSTM(..., batch_first=True), zero initial state
//! output, _ = pad_packed_sequence(out, batch_first=True)
//! ```
//!
//! Like PyTorch's `PackedLayer`, rows are sorted by length (longest first) and only the rows still
//! active at step `t` are stepped, so padding is never read. The forward direction of sequence `b`
//! ends at its own last step `len_b - 1`; the reverse direction starts there from a zero state.
//! Outputs past each length are zero, `h_n`/`c_n` hold each sequence's state at its own last step,
//! and all results come back in the caller's batch order. Time steps past `max(lengths)` are
//! dropped, as packing drops them.
//!
//! The input projection `x·W_ihᵀ + b_ih + b_hh` is one matmul over all time steps; the recurrence
//! is [`MaskedLstm::cell`], the one place a fused kernel replaces.

use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarBuilder;

use crate::error::{quoted, Error, Result};
use crate::inputs::check_lengths;
use crate::weights::Weights;

/// Hyperparameters of an `nn.LSTM`, as read from its `state_dict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LstmConfig {
    /// Features per time step of the input (`input_size`).
    pub input_size: usize,
    /// Size of the cell state `c` and of `h` before projection (`hidden_size`).
    pub hidden_size: usize,
    /// Size `h` is projected to by `weight_hr_l{k}` (`proj_size`); 0 means no projection.
    pub proj_size: usize,
    /// Stacked layers (`num_layers`).
    pub num_layers: usize,
    /// Whether each layer also runs in reverse (`bidirectional`).
    pub bidirectional: bool,
    /// Whether the `bias_ih_l{k}` / `bias_hh_l{k}` tensors exist (`bias`).
    pub bias: bool,
}

impl LstmConfig {
    /// Infers the configuration from the tensors under `prefix` (e.g. `"rnn"`) and checks that
    /// every tensor it implies exists with the right shape. Unexpected tensors are the caller's
    /// to report ([`Weights::check_names`]), since the file holds other modules too.
    pub fn from_weights(weights: &Weights, prefix: &str) -> Result<Self> {
        let config = Self::infer(weights, prefix)?;
        config.check_shapes(weights, prefix)?;
        Ok(config)
    }

    /// Checks that `weights` holds every tensor of this configuration under `prefix`, with its
    /// shape. All missing tensors are named at once.
    pub fn check_shapes(&self, weights: &Weights, prefix: &str) -> Result<()> {
        let shapes = self.tensor_shapes(prefix);
        let missing: Vec<&str> = shapes
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| !weights.contains(name))
            .collect();
        if !missing.is_empty() {
            return Err(Error::weights(format!(
                "missing tensors {}",
                quoted(&missing)
            )));
        }
        for (name, shape) in &shapes {
            weights.expect_shape(name, shape)?;
        }
        Ok(())
    }

    /// Infers the configuration from the tensors under `prefix` without checking the rest:
    /// sizes from `weight_ih_l0`, layers from `weight_ih_l{k}`, directions from the `_reverse`
    /// keys, projection from `weight_hr_l0`, bias from `bias_ih_l0`.
    pub fn infer(weights: &Weights, prefix: &str) -> Result<Self> {
        let name = |s: &str| qualified(prefix, s);
        let w0_name = name("weight_ih_l0");
        let w0 = weights.shape(&w0_name)?;
        let (input_size, hidden_size) = match *w0 {
            [rows, cols] if rows > 0 && rows % 4 == 0 && cols > 0 => (cols, rows / 4),
            _ => {
                return Err(Error::weights(format!(
                    "tensor `{w0_name}` has shape {w0:?}, expected [4 * hidden_size, input_size]"
                )))
            }
        };
        let num_layers = (0..)
            .take_while(|k| weights.contains(&name(&format!("weight_ih_l{k}"))))
            .count();
        let proj_size = if weights.contains(&name("weight_hr_l0")) {
            let shape = weights.shape(&name("weight_hr_l0"))?;
            match *shape {
                [p, h] if p > 0 && p < hidden_size && h == hidden_size => p,
                _ => {
                    return Err(Error::weights(format!(
                        "tensor `{}` has shape {shape:?}, expected [proj_size, {hidden_size}] \
                         with 0 < proj_size < hidden_size",
                        name("weight_hr_l0")
                    )))
                }
            }
        } else {
            0
        };
        Ok(Self {
            input_size,
            hidden_size,
            proj_size,
            num_layers,
            bidirectional: weights.contains(&name("weight_ih_l0_reverse")),
            bias: weights.contains(&name("bias_ih_l0")),
        })
    }

    /// 2 when bidirectional, else 1.
    pub fn num_directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }

    /// Size of `h` as it leaves the cell: `proj_size` if set, else `hidden_size`.
    pub fn h_out(&self) -> usize {
        if self.proj_size > 0 {
            self.proj_size
        } else {
            self.hidden_size
        }
    }

    /// Width of the output features: `num_directions * h_out`.
    pub fn output_size(&self) -> usize {
        self.num_directions() * self.h_out()
    }

    fn layer_input_size(&self, layer: usize) -> usize {
        if layer == 0 {
            self.input_size
        } else {
            self.output_size()
        }
    }

    /// Every tensor of the `state_dict` under `prefix`, with its shape, in PyTorch's order.
    pub fn tensor_shapes(&self, prefix: &str) -> Vec<(String, Vec<usize>)> {
        let gates = 4 * self.hidden_size;
        let mut out = Vec::new();
        for layer in 0..self.num_layers {
            for suffix in direction_suffixes(self.bidirectional) {
                let n = |s: &str| qualified(prefix, &format!("{s}_l{layer}{suffix}"));
                out.push((n("weight_ih"), vec![gates, self.layer_input_size(layer)]));
                out.push((n("weight_hh"), vec![gates, self.h_out()]));
                if self.bias {
                    out.push((n("bias_ih"), vec![gates]));
                    out.push((n("bias_hh"), vec![gates]));
                }
                if self.proj_size > 0 {
                    out.push((n("weight_hr"), vec![self.proj_size, self.hidden_size]));
                }
            }
        }
        out
    }
}

fn qualified(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn direction_suffixes(bidirectional: bool) -> &'static [&'static str] {
    if bidirectional {
        &["", "_reverse"]
    } else {
        &[""]
    }
}

/// The weights of one layer in one direction, laid out for row-vector products.
#[derive(Debug, Clone)]
struct DirectionParams {
    /// `W_ihᵀ`: (layer input, 4H).
    w_ih_t: Tensor,
    /// `W_hhᵀ`: (h_out, 4H).
    w_hh_t: Tensor,
    /// `b_ih + b_hh`: (4H), if the LSTM has biases.
    bias: Option<Tensor>,
    /// `W_hrᵀ`: (H, proj_size), if the LSTM projects.
    w_hr_t: Option<Tensor>,
}

/// Result of [`MaskedLstm::forward`], in the caller's batch order.
#[derive(Debug, Clone)]
pub struct LstmOutput {
    /// `(batch, max(lengths), num_directions * h_out)`: `pad_packed_sequence`'s output, with
    /// zeros at every step past a sequence's length.
    pub output: Tensor,
    /// `(num_layers * num_directions, batch, h_out)`: each sequence's final `h`, index
    /// `layer * num_directions + direction`.
    pub h_n: Tensor,
    /// `(num_layers * num_directions, batch, hidden_size)`: each sequence's final `c`.
    pub c_n: Tensor,
}

/// An `nn.LSTM` (`batch_first=True`) run over a padded batch as if it had been packed.
#[derive(Debug, Clone)]
pub struct MaskedLstm {
    config: LstmConfig,
    /// `layers[k][d]`: layer `k`, direction `d` (0 forward, 1 reverse).
    layers: Vec<Vec<DirectionParams>>,
    dtype: DType,
    device: Device,
}

impl MaskedLstm {
    /// Builds the LSTM from `vb` holding PyTorch's names (`weight_ih_l0`, `bias_hh_l1_reverse`, ...).
    pub fn load(vb: VarBuilder, config: &LstmConfig) -> Result<Self> {
        let gates = 4 * config.hidden_size;
        let mut layers = Vec::with_capacity(config.num_layers);
        for layer in 0..config.num_layers {
            let mut directions = Vec::new();
            for suffix in direction_suffixes(config.bidirectional) {
                let n = |s: &str| format!("{s}_l{layer}{suffix}");
                let w_ih = vb.get((gates, config.layer_input_size(layer)), &n("weight_ih"))?;
                let w_hh = vb.get((gates, config.h_out()), &n("weight_hh"))?;
                let bias = if config.bias {
                    let b_ih = vb.get(gates, &n("bias_ih"))?;
                    let b_hh = vb.get(gates, &n("bias_hh"))?;
                    Some((b_ih + b_hh)?)
                } else {
                    None
                };
                let w_hr_t = if config.proj_size > 0 {
                    let w_hr = vb.get((config.proj_size, config.hidden_size), &n("weight_hr"))?;
                    Some(w_hr.t()?.contiguous()?)
                } else {
                    None
                };
                directions.push(DirectionParams {
                    w_ih_t: w_ih.t()?.contiguous()?,
                    w_hh_t: w_hh.t()?.contiguous()?,
                    bias,
                    w_hr_t,
                });
            }
            layers.push(directions);
        }
        Ok(Self {
            config: *config,
            layers,
            dtype: vb.dtype(),
            device: vb.device().clone(),
        })
    }

    /// The hyperparameters this LSTM was built with.
    pub fn config(&self) -> &LstmConfig {
        &self.config
    }

    /// Runs the LSTM over `padded` `(batch, time, input_size)` with per-row `lengths`
    /// (`1 <= len <= time`), from a zero initial state. The input is converted to the weights'
    /// dtype and device. See the module docs for the exact semantics.
    pub fn forward(&self, padded: &Tensor, lengths: &[usize]) -> Result<LstmOutput> {
        let (batch, time, features) = match *padded.dims() {
            [b, t, f] => (b, t, f),
            _ => {
                return Err(Error::input(
                    "padded_seq",
                    format!(
                        "expected 3 dims (batch, time, features), got shape {:?}",
                        padded.dims()
                    ),
                ))
            }
        };
        if features != self.config.input_size {
            return Err(Error::input(
                "padded_seq",
                format!(
                    "has {features} features per step, the LSTM expects input_size {}",
                    self.config.input_size
                ),
            ));
        }
        check_lengths(lengths, batch, time)?;
        let max_len = lengths.iter().copied().max().unwrap_or(0);

        // Sort rows by length, longest first (stable), as `enforce_sorted=False` packing does.
        let mut order: Vec<usize> = (0..batch).collect();
        order.sort_by_key(|&b| std::cmp::Reverse(lengths[b]));
        let mut inverse = vec![0u32; batch];
        for (sorted_pos, &b) in order.iter().enumerate() {
            inverse[b] = sorted_pos as u32;
        }
        let batch_sizes: Vec<usize> = (0..max_len)
            .map(|t| lengths.iter().filter(|&&len| len > t).count())
            .collect();
        let order_t = index_tensor(order.iter().map(|&b| b as u32).collect(), &self.device)?;
        let unsort_t = index_tensor(inverse, &self.device)?;

        // Time-major, sorted, truncated to max(lengths): (T, B, I).
        let mut layer_input = padded
            .to_device(&self.device)?
            .to_dtype(self.dtype)?
            .contiguous()?
            .index_select(&order_t, 0)?
            .narrow(1, 0, max_len)?
            .transpose(0, 1)?
            .contiguous()?;
        let mut h_n = Vec::new();
        let mut c_n = Vec::new();
        for directions in &self.layers {
            let mut outputs = Vec::with_capacity(directions.len());
            for (d, params) in directions.iter().enumerate() {
                let run = self.run_direction(params, &layer_input, &batch_sizes, d == 1)?;
                outputs.push(run.output);
                h_n.push(run.h_n);
                c_n.push(run.c_n);
            }
            layer_input = Tensor::cat(&outputs, D::Minus1)?;
        }
        Ok(LstmOutput {
            output: layer_input
                .transpose(0, 1)?
                .contiguous()?
                .index_select(&unsort_t, 0)?,
            h_n: Tensor::stack(&h_n, 0)?.index_select(&unsort_t, 1)?,
            c_n: Tensor::stack(&c_n, 0)?.index_select(&unsort_t, 1)?,
        })
    }

    /// One direction of one layer over a sorted, time-major batch `x` `(T, B, in)`.
    /// `batch_sizes[t]` rows (a prefix, since rows are sorted) are active at step `t`.
    fn run_direction(
        &self,
        params: &DirectionParams,
        x: &Tensor,
        batch_sizes: &[usize],
        reverse: bool,
    ) -> Result<DirectionRun> {
        let (time, batch, input) = x.dims3()?;
        let (hidden, h_out) = (self.config.hidden_size, self.config.h_out());
        // The input projection for every step at once: (T, B, 4H).
        let mut xp = x.reshape((time * batch, input))?.matmul(&params.w_ih_t)?;
        if let Some(bias) = &params.bias {
            xp = xp.broadcast_add(bias)?;
        }
        let xp = xp.reshape((time, batch, 4 * hidden))?;
        let zeros =
            |rows: usize, cols: usize| Tensor::zeros((rows, cols), self.dtype, &self.device);
        let mut steps: Vec<Tensor> = Vec::with_capacity(time);

        if !reverse {
            let mut h = zeros(batch, h_out)?;
            let mut c = zeros(batch, hidden)?;
            // Final states, in the order rows finish (last rows first).
            let mut finished: Vec<(Tensor, Tensor)> = Vec::new();
            for (t, &active) in batch_sizes.iter().enumerate() {
                let rows = h.dim(0)?;
                if active < rows {
                    finished.push((
                        h.narrow(0, active, rows - active)?,
                        c.narrow(0, active, rows - active)?,
                    ));
                    h = h.narrow(0, 0, active)?;
                    c = c.narrow(0, 0, active)?;
                }
                (h, c) = self.cell(params, &xp.get(t)?.narrow(0, 0, active)?, &h, &c)?;
                steps.push(pad_rows(&h, batch)?);
            }
            finished.push((h, c));
            finished.reverse();
            let (hs, cs): (Vec<Tensor>, Vec<Tensor>) = finished.into_iter().unzip();
            Ok(DirectionRun {
                output: Tensor::stack(&steps, 0)?,
                h_n: Tensor::cat(&hs, 0)?,
                c_n: Tensor::cat(&cs, 0)?,
            })
        } else {
            let mut h = zeros(0, h_out)?;
            let mut c = zeros(0, hidden)?;
            for (t, &active) in batch_sizes.iter().enumerate().rev() {
                // Rows whose last valid step is `t` join here with a zero state.
                let rows = h.dim(0)?;
                if active > rows {
                    h = Tensor::cat(&[&h, &zeros(active - rows, h_out)?], 0)?;
                    c = Tensor::cat(&[&c, &zeros(active - rows, hidden)?], 0)?;
                }
                (h, c) = self.cell(params, &xp.get(t)?.narrow(0, 0, active)?, &h, &c)?;
                steps.push(pad_rows(&h, batch)?);
            }
            steps.reverse();
            Ok(DirectionRun {
                output: Tensor::stack(&steps, 0)?,
                h_n: h,
                c_n: c,
            })
        }
    }

    /// One LSTM step for `n` active rows: `xp` `(n, 4H)` is the precomputed input projection
    /// (biases included), `h` `(n, h_out)` and `c` `(n, H)` the previous state. Gate order is
    /// PyTorch's `i, f, g, o`.
    fn cell(
        &self,
        params: &DirectionParams,
        xp: &Tensor,
        h: &Tensor,
        c: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let hidden = self.config.hidden_size;
        let gates = h.matmul(&params.w_hh_t)?.add(xp)?;
        let gate = |k: usize| gates.narrow(1, k * hidden, hidden);
        let i = candle_nn::ops::sigmoid(&gate(0)?)?;
        let f = candle_nn::ops::sigmoid(&gate(1)?)?;
        let g = gate(2)?.tanh()?;
        let o = candle_nn::ops::sigmoid(&gate(3)?)?;
        let c = ((f * c)? + (i * g)?)?;
        let mut h = (o * c.tanh()?)?;
        if let Some(w_hr_t) = &params.w_hr_t {
            h = h.matmul(w_hr_t)?;
        }
        Ok((h, c))
    }
}

struct DirectionRun {
    /// `(T, B, h_out)`, zero past each row's length.
    output: Tensor,
    h_n: Tensor,
    c_n: Tensor,
}

/// Pads `(n, k)` with zero rows to `(rows, k)`.
fn pad_rows(t: &Tensor, rows: usize) -> Result<Tensor> {
    let (n, k) = t.dims2()?;
    if n == rows {
        return Ok(t.clone());
    }
    let zeros = Tensor::zeros((rows - n, k), t.dtype(), t.device())?;
    Ok(Tensor::cat(&[t, &zeros], 0)?)
}

fn index_tensor(indices: Vec<u32>, device: &Device) -> Result<Tensor> {
    let n = indices.len();
    Ok(Tensor::from_vec(indices, n, device)?)
}
