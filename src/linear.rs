//! `nn.Linear`: `y = x · Wᵀ + b` on the last dim. On the CPU in f32 with at most 16 outputs (the
//! seed's layers) it runs [`NarrowWeights`], which also fuses the two-input model's sum and the
//! categorical model's one-hot into the same pass; otherwise one kernel writes the bias rows and
//! adds a size-aware matrix product; on other devices and dtypes, candle's matmul and add.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor, D};
use candle_nn::VarBuilder;

use crate::cpu::narrow::NarrowWeights;
use crate::cpu::{self, gemm, Float};
use crate::error::{Error, Result};
use crate::inputs::one_hot_rows;

/// A PyTorch `nn.Linear` with its weight kept transposed, `(in_features, out_features)`.
#[derive(Debug, Clone)]
pub struct Linear {
    /// `Wᵀ`, contiguous `(in_features, out_features)`.
    weight_t: Tensor,
    /// `(out_features)`; zeros when the layer has no bias (adding them changes nothing).
    bias: Tensor,
    /// The weights for the narrow kernel, when it applies (CPU, f32, at most 16 outputs).
    narrow: Option<NarrowWeights>,
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
        let (out, input) = weight.dims2()?;
        let narrow = if cpu::supports(weight.device(), DType::F32) && weight.dtype() == DType::F32 {
            NarrowWeights::new(
                &weight.flatten_all()?.to_vec1::<f32>()?,
                &bias.to_vec1::<f32>()?,
                out,
                input,
            )
        } else {
            None
        };
        Ok(Self {
            weight_t: weight.t()?.contiguous()?,
            bias,
            narrow,
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
        let y = if let Some(narrow) = self.narrow_for(x) {
            x2.contiguous()?.apply_op1_no_bwd(&NarrowOp {
                weights: narrow,
                mode: Mode::Plain,
            })?
        } else if cpu::supports(x.device(), x.dtype()) {
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

impl Linear {
    /// The narrow kernel's weights, if they apply to `x`.
    fn narrow_for(&self, x: &Tensor) -> Option<&NarrowWeights> {
        self.narrow
            .as_ref()
            .filter(|_| x.device().is_cpu() && x.dtype() == DType::F32)
    }

    /// `forward(a + b)` for `a`, `b` of the same shape, in one pass where the narrow kernel
    /// applies.
    pub(crate) fn forward_sum(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        match self.narrow_for(a) {
            Some(narrow) if a.dims() == b.dims() && b.dtype() == DType::F32 => {
                let dims = a.dims();
                let rows = dims[..dims.len() - 1].iter().product::<usize>();
                let shape = (rows, self.in_features());
                let y = a.reshape(shape)?.contiguous()?.apply_op2_no_bwd(
                    &b.reshape(shape)?.contiguous()?,
                    &NarrowOp {
                        weights: narrow,
                        mode: Mode::Sum,
                    },
                )?;
                let mut out_dims = dims.to_vec();
                *out_dims.last_mut().unwrap_or(&mut 0) = self.out_features();
                Ok(y.reshape(out_dims)?)
            }
            _ => self.forward(&a.broadcast_add(b)?),
        }
    }

    /// `forward(cat(x, one_hot(categories, num_classes)))` for `x` `(*, features)` with one
    /// category (already checked to be `< num_classes`) per row, in one pass where the narrow
    /// kernel applies.
    pub(crate) fn forward_one_hot(
        &self,
        x: &Tensor,
        categories: &[u32],
        num_classes: usize,
    ) -> Result<Tensor> {
        let dims = x.dims();
        let features = dims.last().copied().unwrap_or(0);
        match self.narrow_for(x) {
            Some(narrow) if features + num_classes == self.in_features() => {
                let rows = categories.len();
                let y = x
                    .reshape((rows, features))?
                    .contiguous()?
                    .apply_op1_no_bwd(&NarrowOp {
                        weights: narrow,
                        mode: Mode::OneHot {
                            features,
                            categories,
                        },
                    })?;
                let mut out_dims = dims.to_vec();
                *out_dims.last_mut().unwrap_or(&mut 0) = self.out_features();
                Ok(y.reshape(out_dims)?)
            }
            _ => {
                let leading = &dims[..dims.len().saturating_sub(1)];
                let hot = one_hot_rows(categories, leading, num_classes, x.dtype(), x.device())?;
                self.forward(&Tensor::cat(&[x, &hot], D::Minus1)?)
            }
        }
    }
}

/// What the narrow kernel computes for each row.
enum Mode<'a> {
    /// `x · Wᵀ + b`.
    Plain,
    /// `(a + b) · Wᵀ + b`.
    Sum,
    /// `[x, one_hot(category)] · Wᵀ + b`.
    OneHot {
        features: usize,
        categories: &'a [u32],
    },
}

/// The narrow kernel as a candle op: `x` (and `b` for [`Mode::Sum`]) `(rows, ·)` → `(rows, out)`.
struct NarrowOp<'a> {
    weights: &'a NarrowWeights,
    mode: Mode<'a>,
}

impl NarrowOp<'_> {
    fn run(
        &self,
        x: (&CpuStorage, &Layout),
        other: Option<(&CpuStorage, &Layout)>,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, width) = x.1.shape().dims2()?;
        let x = cpu::contiguous::<f32>(x.0, x.1)?;
        let out = self.weights.out();
        // The kernels write every element: no need to zero the output first.
        let mut y: Vec<f32> = Vec::with_capacity(rows * out);
        let spare = &mut y.spare_capacity_mut()[..rows * out];
        match (&self.mode, other) {
            (Mode::Plain, None) if width == self.weights.input() => {
                self.weights.linear(x, spare)?
            }
            (Mode::Sum, Some(b)) if width == self.weights.input() => {
                let b = cpu::contiguous::<f32>(b.0, b.1)?;
                if b.len() != x.len() {
                    candle_core::bail!("scriptless-narrow-linear: operands differ in size");
                }
                self.weights.sum_linear(x, b, spare)?
            }
            (
                Mode::OneHot {
                    features,
                    categories,
                },
                None,
            ) if width == *features && categories.len() == rows => self
                .weights
                .one_hot_linear(x, *features, categories, spare)?,
            _ => candle_core::bail!("scriptless-narrow-linear: inputs do not match the layer"),
        }
        // SAFETY: the kernel returned normally, having written all `rows * out` elements.
        unsafe { y.set_len(rows * out) };
        Ok((CpuStorage::F32(y), Shape::from((rows, out))))
    }
}

impl CustomOp1 for NarrowOp<'_> {
    fn name(&self) -> &'static str {
        "scriptless-narrow-linear"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        self.run((s, l), None)
    }
}

impl CustomOp2 for NarrowOp<'_> {
    fn name(&self) -> &'static str {
        "scriptless-narrow-linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.run((s1, l1), Some((s2, l2)))
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
        )?;
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
