//! `nn.Linear`: `y = x · Wᵀ + b` on the last dim, as one fused CPU kernel (bias rows, then a
//! size-aware matrix product) or, on other devices and dtypes, candle's matmul and add.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use candle_nn::VarBuilder;

use crate::cpu::{self, gemm, Float};
use crate::error::{Error, Result};

/// A PyTorch `nn.Linear` with its weight kept transposed, `(in_features, out_features)`.
#[derive(Debug, Clone)]
pub struct Linear {
    /// `Wᵀ`, contiguous `(in_features, out_features)`.
    weight_t: Tensor,
    /// `(out_features)`; zeros when the layer has no bias (adding them changes nothing).
    bias: Tensor,
}

impl Linear {
    /// Reads `weight` `(out_features, in_features)` and `bias` `(out_features)` from `vb`
    /// (PyTorch's names, e.g. `vb.pp("linear")`).
    pub fn load(vb: VarBuilder, in_features: usize, out_features: usize) -> Result<Self> {
        let weight = vb.get((out_features, in_features), "weight")?;
        let bias = vb.get(out_features, "bias")?;
        Self::new(&weight, Some(bias))
    }

    /// From a weight `(out_features, in_features)` and an optional bias `(out_features)`.
    pub fn new(weight: &Tensor, bias: Option<Tensor>) -> Result<Self> {
        let (out_features, _) = weight.dims2()?;
        let bias = match bias {
            Some(b) => b,
            None => Tensor::zeros(out_features, weight.dtype(), weight.device())?,
        };
        Ok(Self {
            weight_t: weight.t()?.contiguous()?,
            bias,
        })
    }

    /// `in_features`.
    pub fn in_features(&self) -> usize {
        self.weight_t.dims()[0]
    }

    /// `out_features`.
    pub fn out_features(&self) -> usize {
        self.weight_t.dims()[1]
    }

    /// `x · Wᵀ + b` for `x` `(*, in_features)` with at least one dim; returns
    /// `(*, out_features)`. `x` must already have the layer's dtype and device.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims();
        let Some((&features, leading)) = dims.split_last() else {
            return Err(Error::Unsupported(
                "nn.Linear needs an input with at least one dim".to_string(),
            ));
        };
        let rows = leading.iter().product::<usize>();
        let x2 = x.reshape((rows, features))?;
        let y = if cpu::supports(x.device(), x.dtype()) {
            x2.contiguous()?
                .apply_op3_no_bwd(&self.weight_t, &self.bias, &LinearOp)?
        } else {
            x2.matmul(&self.weight_t)?.broadcast_add(&self.bias)?
        };
        let mut out_dims = leading.to_vec();
        out_dims.push(self.out_features());
        Ok(y.reshape(out_dims)?)
    }
}

/// `(x, Wᵀ, b) → x · Wᵀ + b` on the CPU.
struct LinearOp;

impl LinearOp {
    fn run<T: Float>(
        x: (&CpuStorage, &Layout),
        w_t: (&CpuStorage, &Layout),
        bias: (&CpuStorage, &Layout),
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, in_features) = x.1.shape().dims2()?;
        let (_, out_features) = w_t.1.shape().dims2()?;
        let (x, w_t, bias) = (
            cpu::contiguous::<T>(x.0, x.1)?,
            cpu::contiguous::<T>(w_t.0, w_t.1)?,
            cpu::contiguous::<T>(bias.0, bias.1)?,
        );
        let mut y = Vec::with_capacity(rows * out_features);
        for _ in 0..rows {
            y.extend_from_slice(bias);
        }
        gemm::matmul(
            &mut y,
            out_features,
            gemm::Mat::row_major(x, rows, in_features),
            gemm::Mat::row_major(w_t, in_features, out_features),
            true,
            T::ONE,
        );
        Ok((
            T::to_cpu_storage_owned(y),
            Shape::from((rows, out_features)),
        ))
    }
}

impl CustomOp3 for LinearOp {
    fn name(&self) -> &'static str {
        "scriptless-linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        match s1 {
            CpuStorage::F32(_) => Self::run::<f32>((s1, l1), (s2, l2), (s3, l3)),
            CpuStorage::F64(_) => Self::run::<f64>((s1, l1), (s2, l2), (s3, l3)),
            _ => candle_core::bail!("scriptless-linear: only f32 and f64"),
        }
    }
}
