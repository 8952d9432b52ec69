//! `SequenceInputModule`: packed LSTM over a padded batch, then `linear` on one time step.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use super::linear_shape;
use crate::cpu::tier::CpuTier;
use crate::error::Result;
use crate::inputs::{check_lengths, check_lengths_count, check_lengths_shape, lengths_from_tensor};
use crate::limits::Limits;
use crate::linear::Linear;
use crate::lstm::{MaskedLstm, StepKernel};
use crate::weights::LstmConfig;
use crate::weights::Weights;

/// Which time step of the unpacked LSTM output feeds the final Linear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pooling {
    /// Exactly the seed: `unpacked_seq[:, -1, :]`, the step `max(lengths) - 1` for every row.
    /// Rows shorter than the longest see the zero padding there, so their output is
    /// `linear.bias`, whatever the sequence held.
    #[default]
    PaddedLast,
    /// Each row's own last valid step, `unpacked_seq[b, len_b - 1, :]`: what most users mean.
    /// For a bidirectional LSTM the reverse half of that step is the reverse direction after
    /// one step, as in PyTorch's output tensor (not `h_n`).
    LastValid,
}

/// Hyperparameters of [`SequenceInputModule`] (the seed: input 10, hidden 20, 1 layer, 10 out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceConfig {
    /// The `rnn` LSTM's configuration.
    pub lstm: LstmConfig,
    /// `linear.out_features`.
    pub out_features: usize,
}

impl SequenceConfig {
    /// Infers the LSTM's configuration from the `rnn.*` tensors and the output width from
    /// `linear.weight`, whose `in_features` must equal the LSTM's output width. Refuses missing
    /// and unexpected tensors.
    pub fn from_weights(weights: &Weights) -> Result<Self> {
        let lstm = LstmConfig::infer(weights, "rnn")?;
        let (_, out_features) = linear_shape(
            weights,
            "linear",
            Some((lstm.output_size(), "the LSTM's output width")),
        )?;
        let mut names: Vec<String> = lstm
            .tensor_shapes("rnn")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        names.extend(["linear.weight".to_string(), "linear.bias".to_string()]);
        weights.check_names(&names)?;
        lstm.check_shapes(weights, "rnn")?;
        Ok(Self { lstm, out_features })
    }
}

/// The seed's third model: `pack_padded_sequence` → `nn.LSTM` → `pad_packed_sequence` →
/// `linear` on one time step (see [`Pooling`]).
#[derive(Debug, Clone)]
pub struct SequenceInputModule {
    rnn: MaskedLstm,
    linear: Linear,
    config: SequenceConfig,
    limits: Limits,
}

impl SequenceInputModule {
    /// Builds the model from `vb` holding `rnn.*` and `linear.*`.
    pub fn load(vb: VarBuilder, config: &SequenceConfig) -> Result<Self> {
        Ok(Self {
            rnn: MaskedLstm::load(vb.pp("rnn"), &config.lstm)?,
            linear: Linear::load(
                vb.pp("linear"),
                config.lstm.output_size(),
                config.out_features,
            )?,
            config: *config,
            limits: Limits::default(),
        })
    }

    /// Infers the config from `weights` and builds the model in `dtype` on `device`.
    pub fn from_weights(weights: &Weights, dtype: DType, device: &Device) -> Result<Self> {
        Self::load(
            weights.var_builder(dtype, device),
            &SequenceConfig::from_weights(weights)?,
        )
    }

    /// The model's hyperparameters.
    pub fn config(&self) -> &SequenceConfig {
        &self.config
    }

    /// The dtype the model computes in.
    pub fn dtype(&self) -> DType {
        self.linear.dtype()
    }

    /// The LSTM alone, for callers that want its `output`, `h_n` and `c_n`.
    pub fn rnn(&self) -> &MaskedLstm {
        &self.rnn
    }

    /// The same model refusing calls whose tensors would exceed `limits.max_elements` (the
    /// default is [`Limits::default`]); see [`MaskedLstm::with_limits`].
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.rnn = self.rnn.with_limits(limits);
        self.limits = limits;
        self
    }

    /// The same model running its CPU kernels on `tier` (see [`CpuTier`]); an error if this
    /// CPU lacks it.
    pub fn with_cpu_tier(mut self, tier: CpuTier) -> Result<Self> {
        self.rnn = self.rnn.with_cpu_tier(tier)?;
        self.linear = self.linear.with_cpu_tier(tier)?;
        Ok(self)
    }

    /// The CPU tier the model's kernels run on.
    pub fn cpu_tier(&self) -> CpuTier {
        self.rnn.cpu_tier()
    }

    /// The same model with the LSTM's time loop run by `kernel` (see [`MaskedLstm::with_kernel`]).
    pub fn with_kernel(mut self, kernel: StepKernel) -> Result<Self> {
        self.rnn = self.rnn.with_kernel(kernel)?;
        Ok(self)
    }

    /// The seed's `forward(padded_seq, seq_lengths)`: `padded_seq` is `(batch, time, input_size)`,
    /// `seq_lengths` an integer `(batch,)` tensor with values in `1..=time`. Returns
    /// `(batch, out_features)`.
    pub fn forward(
        &self,
        padded_seq: &Tensor,
        seq_lengths: &Tensor,
        pooling: Pooling,
    ) -> Result<Tensor> {
        // The shapes first, as `output_shape` checks them, then the lengths' values.
        self.output_shape(padded_seq.dims(), seq_lengths.dims())?;
        self.forward_lengths(padded_seq, &lengths_from_tensor(seq_lengths)?, pooling)
    }

    /// The shape [`forward`](Self::forward) returns for inputs of shapes `padded_seq` and
    /// `seq_lengths`, `(B, out_features)`, or the error it gives for them; only the lengths'
    /// values, and the limits that depend on them, are left to `forward`.
    pub fn output_shape(&self, padded_seq: &[usize], seq_lengths: &[usize]) -> Result<Vec<usize>> {
        let count = check_lengths_shape(seq_lengths)?;
        let out = vec![count, self.config.out_features];
        self.limits.check_elements("the output", &out)?;
        let (batch, _, _) = self.rnn.check_input_shape(padded_seq)?;
        check_lengths_count(count, batch)?;
        Ok(out)
    }

    /// [`forward`](Self::forward) with the lengths as a slice.
    pub fn forward_lengths(
        &self,
        padded_seq: &Tensor,
        lengths: &[usize],
        pooling: Pooling,
    ) -> Result<Tensor> {
        self.limits
            .check_elements("the output", &[lengths.len(), self.config.out_features])?;
        let out = self.rnn.forward_packed(padded_seq, lengths)?;
        let steps: Vec<usize> = match pooling {
            // `unpacked_seq[:, -1, :]`: the last step of the unpacked output, max(lengths) - 1.
            Pooling::PaddedLast => {
                let last = lengths.iter().copied().max().unwrap_or(1) - 1;
                vec![last; lengths.len()]
            }
            Pooling::LastValid => lengths.iter().map(|&len| len - 1).collect(),
        };
        self.linear.forward(&out.at_steps(&steps)?)
    }

    /// Several batches in one LSTM call, with the same results as
    /// [`forward_lengths`](Self::forward_lengths) on each: every `(padded_seq, lengths)` is
    /// trimmed to its own `max(lengths)` steps, zero-padded to the longest, and stacked along
    /// the batch; `Pooling::PaddedLast` pools each batch at its own `max(lengths) - 1`.
    /// Returns one `(batch_i, out_features)` output per batch. Fails as a whole if any batch
    /// would fail alone, or if the stacked batch exceeds the limits.
    pub fn forward_lengths_many(
        &self,
        batches: &[(&Tensor, &[usize])],
        pooling: Pooling,
    ) -> Result<Vec<Tensor>> {
        let longest = batches
            .iter()
            .flat_map(|(_, lengths)| lengths.iter().copied())
            .max()
            .unwrap_or(0);
        let (mut parts, mut all_lengths, mut steps) = (Vec::new(), Vec::new(), Vec::new());
        for (padded, lengths) in batches {
            let (batch, time, features) = self.rnn.check_input_shape(padded.dims())?;
            check_lengths(lengths, batch, time)?;
            let own = lengths.iter().copied().max().unwrap_or(1);
            let mut part = padded.narrow(1, 0, own)?;
            if own < longest {
                let zeros = Tensor::zeros(
                    (batch, longest - own, features),
                    padded.dtype(),
                    padded.device(),
                )?;
                part = Tensor::cat(&[&part, &zeros], 1)?;
            }
            parts.push(part);
            all_lengths.extend_from_slice(lengths);
            steps.extend(lengths.iter().map(|&len| match pooling {
                Pooling::PaddedLast => own - 1,
                Pooling::LastValid => len - 1,
            }));
        }
        self.limits
            .check_elements("the output", &[all_lengths.len(), self.config.out_features])?;
        let padded = Tensor::cat(&parts, 0)?;
        let out = self.rnn.forward_packed(&padded, &all_lengths)?;
        let pooled = self.linear.forward(&out.at_steps(&steps)?)?;
        let mut outputs = Vec::with_capacity(batches.len());
        let mut row = 0;
        for (_, lengths) in batches {
            outputs.push(pooled.narrow(0, row, lengths.len())?);
            row += lengths.len();
        }
        Ok(outputs)
    }
}
