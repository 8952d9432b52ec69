//! `TwoInputModule`: `self.linear(tensor1 + tensor2)`.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use super::{check_dims_not_empty, linear_shape};
use crate::cpu::tier::CpuTier;
use crate::error::{Error, Result};
use crate::inputs::broadcast_shape;
use crate::limits::Limits;
use crate::linear::Linear;
use crate::weights::Weights;

/// Hyperparameters of [`TwoInputModule`] (the seed: 10 and 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwoInputConfig {
    /// `linear.in_features`: the width of `tensor1 + tensor2`'s last dim.
    pub in_features: usize,
    /// `linear.out_features`.
    pub out_features: usize,
}

impl TwoInputConfig {
    /// Reads the sizes from `linear.weight`, checking that the file holds exactly
    /// `linear.weight` and `linear.bias`.
    pub fn from_weights(weights: &Weights) -> Result<Self> {
        let (in_features, out_features) = linear_shape(weights, "linear", None)?;
        weights.check_names(&["linear.weight", "linear.bias"])?;
        Ok(Self {
            in_features,
            out_features,
        })
    }
}

/// The seed's first model: two tensors added (with PyTorch broadcasting), then a Linear.
#[derive(Debug, Clone)]
pub struct TwoInputModule {
    linear: Linear,
    config: TwoInputConfig,
    limits: Limits,
    dtype: DType,
    device: Device,
}

impl TwoInputModule {
    /// Builds the model from `vb` holding `linear.weight` and `linear.bias`.
    pub fn load(vb: VarBuilder, config: &TwoInputConfig) -> Result<Self> {
        let linear = Linear::load(vb.pp("linear"), config.in_features, config.out_features)?;
        Ok(Self {
            linear,
            config: *config,
            limits: Limits::default(),
            dtype: vb.dtype(),
            device: vb.device().clone(),
        })
    }

    /// Infers the config from `weights` and builds the model in `dtype` on `device`.
    pub fn from_weights(weights: &Weights, dtype: DType, device: &Device) -> Result<Self> {
        Self::load(
            weights.var_builder(dtype, device),
            &TwoInputConfig::from_weights(weights)?,
        )
    }

    /// The model's hyperparameters.
    pub fn config(&self) -> &TwoInputConfig {
        &self.config
    }

    /// The dtype the model computes in.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The same model running its CPU kernels on `tier` (see [`CpuTier`]); an error if this
    /// CPU lacks it.
    pub fn with_cpu_tier(mut self, tier: CpuTier) -> Result<Self> {
        self.linear = self.linear.with_cpu_tier(tier)?;
        Ok(self)
    }

    /// The CPU tier the model's kernels run on.
    pub fn cpu_tier(&self) -> CpuTier {
        self.linear.cpu_tier()
    }

    /// The same model refusing calls whose tensors would exceed `limits.max_elements`
    /// (the default is [`Limits::default`]).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The shape [`forward`](Self::forward) returns for inputs of shapes `a` and `b`, `(*,
    /// out_features)`, or the error it gives for them: empty inputs, shapes that do not
    /// broadcast or not to `(*, in_features)`, tensors over the limits.
    pub fn output_shape(&self, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
        check_dims_not_empty(a, "tensor1")?;
        check_dims_not_empty(b, "tensor2")?;
        let shape = broadcast_shape(a, b).ok_or_else(|| {
            Error::input(
                "tensor1 + tensor2",
                format!("shapes {a:?} and {b:?} do not broadcast"),
            )
        })?;
        self.limits
            .check_elements("input `tensor1 + tensor2` (broadcast)", &shape)?;
        if shape.last() != Some(&self.config.in_features) {
            return Err(Error::input(
                "tensor1 + tensor2",
                format!(
                    "broadcast shape is {shape:?}, its last dim must be in_features ({})",
                    self.config.in_features
                ),
            ));
        }
        let mut out_shape = shape;
        if let Some(last) = out_shape.last_mut() {
            *last = self.config.out_features;
        }
        self.limits.check_elements("the output", &out_shape)?;
        Ok(out_shape)
    }

    /// `linear(tensor1 + tensor2)`. The two shapes must broadcast (PyTorch's rules) to
    /// `(*, in_features)`; the output is `(*, out_features)`. Inputs are converted to the
    /// model's dtype and device.
    pub fn forward(&self, tensor1: &Tensor, tensor2: &Tensor) -> Result<Tensor> {
        self.output_shape(tensor1.dims(), tensor2.dims())?;
        let t1 = tensor1.to_device(&self.device)?.to_dtype(self.dtype)?;
        let t2 = tensor2.to_device(&self.device)?.to_dtype(self.dtype)?;
        self.linear.forward_sum(&t1, &t2)
    }
}
