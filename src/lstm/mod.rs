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
//! The padded input is gathered into PyTorch's packed layout ([`packing`]). On the CPU each
//! layer is then one fused kernel ([`fused`]): for f32 without projection, the input projection
//! is folded into the per-step register tiles ([`tiled`], on the model's CPU tier); otherwise
//! `x·W_ihᵀ + b_ih + b_hh` is one matrix product over every packed row of both directions and
//! the kernel steps over it. Other devices and dtypes run the same
//! layout as composed candle ops ([`composed`]); see [`StepKernel`].

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::cpu;
use crate::cpu::simd::Isa;
use crate::cpu::tier::{self, CpuTier};
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::linear::Linear;
use crate::weights::{direction_suffixes, LstmConfig};

mod composed;
mod fused;
mod packing;
/// The integration tests' f64 reference LSTM, which the kernels' unit tests check against too.
#[cfg(test)]
#[path = "../../tests/common/reference.rs"]
mod reference;
mod tiled;

use packing::{index_tensor, PackPlan};

/// How [`MaskedLstm`] runs its time loop. Both give the same results (to rounding; the
/// parity tests run both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKernel {
    /// One hand-written kernel per layer: every step in place, active rows only, no
    /// allocation per step. CPU only, f32 or f64; the default there.
    Fused,
    /// About 15 candle tensor ops per step: runs on every device and dtype; the default
    /// elsewhere.
    Composed,
}

impl StepKernel {
    /// The fastest kernel that runs on `device` in `dtype`.
    pub fn best_for(device: &Device, dtype: DType) -> Self {
        if cpu::supports(device, dtype) {
            Self::Fused
        } else {
            Self::Composed
        }
    }
}

/// One layer's weights, both directions stacked (`D` = number of directions).
#[derive(Debug, Clone)]
struct LayerParams {
    /// `x · W_ihᵀ + b_ih + b_hh` for all directions at once: `in → D * 4H`.
    input: Linear,
    /// `W_hhᵀ` per direction: `(D, h_out, 4H)`, so each step's recurrent product reads rows.
    w_hh_t: Tensor,
    /// `W_hrᵀ` per direction: `(D, H, proj_size)`, if the LSTM projects.
    w_hr_t: Option<Tensor>,
    /// `[W_ih | W_hh]` packed for the tiled kernel on the model's CPU tier, when it applies
    /// (f32 on the CPU, no projection).
    packed: Option<tiled::PackedLayer>,
}

impl LayerParams {
    /// The layer's weights packed for the tiled kernel on `isa`, if it applies: f32 on the
    /// CPU, no projection.
    fn pack(&self, isa: Isa) -> Result<Option<tiled::PackedLayer>> {
        let w_ih_t = self.input.weight_t();
        if !w_ih_t.device().is_cpu() || w_ih_t.dtype() != DType::F32 || self.w_hr_t.is_some() {
            return Ok(None);
        }
        let (directions, hidden, _) = self.w_hh_t.dims3()?;
        let flat = |t: &Tensor| t.contiguous()?.flatten_all()?.to_vec1::<f32>();
        Ok(tiled::PackedLayer::new(
            // `W_ih` (D·4H, input) and `W_hh` (D·4H, H), directions stacked; a layer without
            // bias has zeros there, which change nothing.
            &flat(&w_ih_t.t()?)?,
            &flat(&self.w_hh_t.transpose(1, 2)?)?,
            Some(&flat(self.input.bias())?),
            directions,
            w_ih_t.dims()[0],
            hidden,
            isa,
        ))
    }
}

/// The packing and sizes a layer run works with.
#[derive(Debug, Clone, Copy)]
struct LayerShape<'a> {
    plan: &'a PackPlan,
    hidden: usize,
    /// Width of `h`: `proj_size` if set, else `hidden`.
    h_out: usize,
    directions: usize,
    /// The CPU tier the kernels run on.
    isa: Isa,
}

/// One layer's results over the packed rows, sequences in sorted order.
struct LayerRun {
    /// `(rows, D * h_out)`, packed.
    output: Tensor,
    /// `(D, batch, h_out)`.
    h_n: Tensor,
    /// `(D, batch, hidden_size)`.
    c_n: Tensor,
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

/// Result of [`MaskedLstm::forward_packed`]: the output still packed, so that callers needing
/// a few steps (the seed's model needs one) never build the padded tensor.
#[derive(Debug, Clone)]
pub struct PackedLstmOutput {
    /// `(sum(lengths), num_directions * h_out)` in PyTorch's packed order.
    packed: Tensor,
    plan: PackPlan,
    /// As [`LstmOutput::h_n`], in the caller's order.
    pub h_n: Tensor,
    /// As [`LstmOutput::c_n`], in the caller's order.
    pub c_n: Tensor,
}

impl PackedLstmOutput {
    /// `(batch, num_directions * h_out)`: row `b` is the output at step `steps[b]`, or zeros if
    /// that step is past the row's length (as in the padded output). `steps` has one entry per
    /// row.
    pub fn at_steps(&self, steps: &[usize]) -> Result<Tensor> {
        if steps.len() != self.plan.batch() {
            return Err(Error::Unsupported(format!(
                "at_steps needs one step per row ({}), got {}",
                self.plan.batch(),
                steps.len()
            )));
        }
        let rows: Vec<Option<usize>> = steps
            .iter()
            .enumerate()
            .map(|(b, &t)| self.plan.packed_row(b, t))
            .collect();
        self.gather(&rows, &[self.plan.batch()])
    }

    /// The padded output, `(batch, max(lengths), num_directions * h_out)`, zero past each
    /// length: `pad_packed_sequence(out, batch_first=True)[0]`.
    pub fn padded(&self) -> Result<Tensor> {
        let max_len = self.plan.max_len();
        let rows: Vec<Option<usize>> = (0..self.plan.batch())
            .flat_map(|b| (0..max_len).map(move |t| (b, t)))
            .map(|(b, t)| self.plan.packed_row(b, t))
            .collect();
        self.gather(&rows, &[self.plan.batch(), max_len])
    }

    /// The padded output with `h_n` and `c_n`.
    pub fn into_padded(self) -> Result<LstmOutput> {
        Ok(LstmOutput {
            output: self.padded()?,
            h_n: self.h_n,
            c_n: self.c_n,
        })
    }

    /// Packed rows `rows[k]` (zeros for `None`), shaped `leading × features`. Padding is an
    /// exact zero even where the output holds NaN or infinity, as in PyTorch.
    fn gather(&self, rows: &[Option<usize>], leading: &[usize]) -> Result<Tensor> {
        let features = self.packed.dim(1)?;
        let device = self.packed.device();
        let index = rows.iter().map(|r| r.unwrap_or(0) as u32).collect();
        let valid: Vec<u8> = rows.iter().map(|r| u8::from(r.is_some())).collect();
        let selected = self.packed.index_select(&index_tensor(index, device)?, 0)?;
        let out = if valid.iter().all(|&v| v == 1) {
            selected
        } else {
            let mask =
                Tensor::from_vec(valid, (rows.len(), 1), device)?.broadcast_as(selected.shape())?;
            mask.where_cond(&selected, &selected.zeros_like()?)?
        };
        let mut dims = leading.to_vec();
        dims.push(features);
        Ok(out.reshape(dims)?)
    }
}

/// An `nn.LSTM` (`batch_first=True`) run over a padded batch as if it had been packed.
#[derive(Debug, Clone)]
pub struct MaskedLstm {
    config: LstmConfig,
    layers: Vec<LayerParams>,
    kernel: StepKernel,
    limits: Limits,
    dtype: DType,
    device: Device,
    /// The CPU tier the fused kernels run on.
    isa: Isa,
}

impl MaskedLstm {
    /// Builds the LSTM from `vb` holding PyTorch's names (`weight_ih_l0`, `bias_hh_l1_reverse`,
    /// ...), with the best [`StepKernel`] for `vb`'s device and dtype, on the
    /// [current](CpuTier::current) CPU tier.
    pub fn load(vb: VarBuilder, config: &LstmConfig) -> Result<Self> {
        let isa = tier::current_isa()?;
        let gates = 4 * config.hidden_size;
        let mut layers = Vec::with_capacity(config.num_layers);
        for layer in 0..config.num_layers {
            let (mut w_ih, mut bias, mut w_hh_t, mut w_hr_t) = (vec![], vec![], vec![], vec![]);
            for suffix in direction_suffixes(config.bidirectional) {
                let n = |s: &str| format!("{s}_l{layer}{suffix}");
                w_ih.push(vb.get((gates, config.layer_input_size(layer)), &n("weight_ih"))?);
                let w_hh = vb.get((gates, config.h_out()), &n("weight_hh"))?;
                w_hh_t.push(w_hh.t()?.contiguous()?);
                if config.bias {
                    let b_ih = vb.get(gates, &n("bias_ih"))?;
                    let b_hh = vb.get(gates, &n("bias_hh"))?;
                    bias.push((b_ih + b_hh)?);
                }
                if config.proj_size > 0 {
                    let w_hr = vb.get((config.proj_size, config.hidden_size), &n("weight_hr"))?;
                    w_hr_t.push(w_hr.t()?.contiguous()?);
                }
            }
            let w_ih = Tensor::cat(&w_ih, 0)?;
            let bias = if config.bias {
                Some(Tensor::cat(&bias, 0)?)
            } else {
                None
            };
            let mut params = LayerParams {
                input: Linear::new(&w_ih, bias)?,
                w_hh_t: Tensor::stack(&w_hh_t, 0)?,
                packed: None,
                w_hr_t: if w_hr_t.is_empty() {
                    None
                } else {
                    Some(Tensor::stack(&w_hr_t, 0)?)
                },
            };
            params.packed = params.pack(isa)?;
            layers.push(params);
        }
        Ok(Self {
            config: *config,
            layers,
            kernel: StepKernel::best_for(vb.device(), vb.dtype()),
            limits: Limits::default(),
            dtype: vb.dtype(),
            device: vb.device().clone(),
            isa,
        })
    }

    /// The same LSTM running its CPU kernels on `tier` (its weights repacked for the tier's
    /// vector width); an error if this CPU lacks it.
    pub fn with_cpu_tier(mut self, tier: CpuTier) -> Result<Self> {
        let isa = tier::isa_for(tier)?;
        for layer in &mut self.layers {
            layer.input = layer.input.clone().with_cpu_tier(tier)?;
            layer.packed = layer.pack(isa)?;
        }
        self.isa = isa;
        Ok(self)
    }

    /// The CPU tier the fused kernels run on.
    pub fn cpu_tier(&self) -> CpuTier {
        self.isa.tier()
    }

    /// The same LSTM running its time loop with `kernel`. [`StepKernel::Fused`] needs the CPU
    /// and f32 or f64.
    pub fn with_kernel(mut self, kernel: StepKernel) -> Result<Self> {
        if kernel == StepKernel::Fused && !cpu::supports(&self.device, self.dtype) {
            return Err(Error::Unsupported(format!(
                "the fused LSTM kernel runs on the CPU in f32 or f64, this LSTM is {:?} on {:?}",
                self.dtype, self.device
            )));
        }
        self.kernel = kernel;
        Ok(self)
    }

    /// The same LSTM refusing calls whose working tensors would exceed `limits.max_elements`
    /// (the default is [`Limits::default`]): the gates over every packed row,
    /// `(sum(lengths), directions × 4·hidden_size)`, and the padded output.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The kernel running the time loop.
    pub fn kernel(&self) -> StepKernel {
        self.kernel
    }

    /// The hyperparameters this LSTM was built with.
    pub fn config(&self) -> &LstmConfig {
        &self.config
    }

    /// Runs the LSTM over `padded` `(batch, time, input_size)` with per-row `lengths`
    /// (`1 <= len <= time`), from a zero initial state. The input is converted to the weights'
    /// dtype and device. See the module docs for the exact semantics.
    pub fn forward(&self, padded: &Tensor, lengths: &[usize]) -> Result<LstmOutput> {
        self.forward_packed(padded, lengths)?.into_padded()
    }

    /// `(batch, time, features)` of a padded input of shape `dims`, which must have 3 dims and
    /// `input_size` features.
    pub(crate) fn check_input_shape(&self, dims: &[usize]) -> Result<(usize, usize, usize)> {
        let [batch, time, features] = *dims else {
            return Err(Error::input(
                "padded_seq",
                format!("expected 3 dims (batch, time, features), got shape {dims:?}"),
            ));
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
        Ok((batch, time, features))
    }

    /// The stack over rows already in PyTorch's packed order (`pack_padded_sequence`'s
    /// `data`): `rows` is `(sum(lengths), input_size)`, `lengths` never increasing. Returns the
    /// packed output `(sum(lengths), num_directions * h_out)`, `h_n` and `c_n` (as in
    /// [`LstmOutput`], in the order of `lengths`).
    pub(crate) fn forward_rows(
        &self,
        rows: &Tensor,
        lengths: &[usize],
    ) -> Result<(Tensor, Tensor, Tensor)> {
        if lengths.windows(2).any(|w| w[0] < w[1]) {
            return Err(Error::Unsupported(
                "forward_rows needs lengths in decreasing order".into(),
            ));
        }
        let (total, features) = rows.dims2()?;
        let time = lengths.first().copied().unwrap_or(0);
        self.check_input_shape(&[lengths.len(), time, features])?;
        let plan = PackPlan::new(lengths, lengths.len(), time)?;
        if plan.rows() != total {
            return Err(Error::Unsupported(format!(
                "forward_rows: {total} rows given for lengths summing to {}",
                plan.rows()
            )));
        }
        let gates = self.config.num_directions() * 4 * self.config.hidden_size;
        self.limits
            .check_elements("the LSTM's gates", &[plan.rows(), gates])?;
        let mut x = rows.to_device(&self.device)?.to_dtype(self.dtype)?;
        let shape = LayerShape {
            plan: &plan,
            hidden: self.config.hidden_size,
            h_out: self.config.h_out(),
            directions: self.config.num_directions(),
            isa: self.isa,
        };
        let (mut h_n, mut c_n) = (Vec::new(), Vec::new());
        for layer in &self.layers {
            let run = match self.kernel {
                StepKernel::Fused => fused::run_layer(&x, layer, shape)?,
                StepKernel::Composed => composed::run_layer(&x, layer, shape)?,
            };
            x = run.output;
            h_n.push(run.h_n);
            c_n.push(run.c_n);
        }
        // Sorted already: the plan's order is the identity.
        Ok((x, Tensor::cat(&h_n, 0)?, Tensor::cat(&c_n, 0)?))
    }

    /// [`forward`](Self::forward), leaving the output packed.
    pub fn forward_packed(&self, padded: &Tensor, lengths: &[usize]) -> Result<PackedLstmOutput> {
        let (batch, time, features) = self.check_input_shape(padded.dims())?;
        let plan = PackPlan::new(lengths, batch, time)?;
        // The largest working tensors: every packed row's gates for all directions, and the
        // output padded back to (batch, max(lengths), directions × h_out).
        let gates = self.config.num_directions() * 4 * self.config.hidden_size;
        let limits = &self.limits;
        limits.check_elements(
            "input `padded_seq`: the LSTM's gates",
            &[plan.rows(), gates],
        )?;
        limits.check_elements(
            "input `padded_seq`: the LSTM's padded output",
            &[batch, plan.max_len(), self.config.output_size()],
        )?;

        let mut x = padded
            .to_device(&self.device)?
            .to_dtype(self.dtype)?
            .reshape((batch * time, features))?
            .index_select(&plan.gather_index(&self.device)?, 0)?;
        let shape = LayerShape {
            plan: &plan,
            hidden: self.config.hidden_size,
            h_out: self.config.h_out(),
            directions: self.config.num_directions(),
            isa: self.isa,
        };
        let (mut h_n, mut c_n) = (Vec::new(), Vec::new());
        for layer in &self.layers {
            let run = match self.kernel {
                StepKernel::Fused => fused::run_layer(&x, layer, shape)?,
                StepKernel::Composed => composed::run_layer(&x, layer, shape)?,
            };
            x = run.output;
            h_n.push(run.h_n);
            c_n.push(run.c_n);
        }
        let unsort = plan.unsort_index(&self.device)?;
        Ok(PackedLstmOutput {
            packed: x,
            h_n: Tensor::cat(&h_n, 0)?.index_select(&unsort, 1)?,
            c_n: Tensor::cat(&c_n, 0)?.index_select(&unsort, 1)?,
            plan,
        })
    }
}
