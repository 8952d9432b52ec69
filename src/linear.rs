//! `nn.Linear`: `y = x · Wᵀ + b` on the last dim. On the CPU in f32 with at most 16 outputs (the
//! seed's layers) it runs [`NarrowWeights`], which also fuses the two-input model's sum and the
//! categorical model's one-hot into the same pass; otherwise one kernel writes the bias rows and
//! adds a size-aware matrix product; on other devices and dtypes, candle's matmul and add.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor, D};
use candle_nn::VarBuilder;

use crate::cpu::narrow::NarrowWeights;
use crate::cpu::simd::Isa;
use crate::cpu::tier::{self, CpuTier};
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
    /// The CPU tier the narrow kernel runs on.
    isa: Isa,
}

impl Linear {
    /// Reads `weight` `(out_features, in_features)` and `bias` `(out_features)` from `vb`
    /// (PyTorch's names, e.g. `vb.pp("linear")`).
    pub fn load(vb: VarBuilder, in_features: usize, out_features: usize) -> Result<Self> {
        let weight = vb.get((out_features, in_features), "weight")?;
        let bias = vb.get(out_features, "bias")?;
        Self::new(&weight, Some(bias))
    }

    /// From a weight `(out_features, in_features)` and an optional bias `(out_features)`, on the
    /// [current](CpuTier::current) CPU tier.
    pub fn new(weight: &Tensor, bias: Option<Tensor>) -> Result<Self> {
        let isa = tier::current_isa()?;
        let (out, input) = weight.dims2()?;
        let bias = match bias {
            Some(b) => b,
            None => Tensor::zeros(out, weight.dtype(), weight.device())?,
        };
        let narrow = if weight.device().is_cpu() && weight.dtype() == DType::F32 {
            NarrowWeights::new(
                &weight.flatten_all()?.to_vec1::<f32>()?,
                &bias.to_vec1::<f32>()?,
                out,
                input,
                isa,
            )
        } else {
            None
        };
        Ok(Self {
            weight_t: weight.t()?.contiguous()?,
            bias,
            narrow,
            isa,
        })
    }

    /// The same layer running its CPU kernels on `tier`; an error if this CPU lacks it.
    pub fn with_cpu_tier(mut self, tier: CpuTier) -> Result<Self> {
        let isa = tier::isa_for(tier)?;
        self.narrow = self.narrow.map(|n| n.with_isa(isa));
        self.isa = isa;
        Ok(self)
    }

    /// The CPU tier the layer's kernels run on.
    pub fn cpu_tier(&self) -> CpuTier {
        self.isa.tier()
    }

    /// `Wᵀ`, `(in_features, out_features)`.
    pub(crate) fn weight_t(&self) -> &Tensor {
        &self.weight_t
    }

    /// The bias, `(out_features)` (zeros for a layer without one).
    pub(crate) fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// `in_features`.
    pub fn in_features(&self) -> usize {
        self.weight_t.dims()[0]
    }

    /// `out_features`.
    pub fn out_features(&self) -> usize {
        self.weight_t.dims()[1]
    }

    /// The dtype of the weights, which inputs must have.
    pub fn dtype(&self) -> DType {
        self.weight_t.dtype()
    }

    /// `x · Wᵀ + b` for `x` `(*, in_features)` with at least one dim; returns
    /// `(*, out_features)`. `x` must already have the layer's dtype and device.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (rows, leading) = rows_of(x, self.in_features())?;
        let x2 = x.reshape((rows, self.in_features()))?.contiguous()?;
        let y = if let Some(weights) = self.narrow_for(x) {
            x2.apply_op1_no_bwd(&NarrowOp {
                weights,
                mode: Mode::Plain,
            })?
        } else if cpu::supports(x.device(), x.dtype()) {
            x2.apply_op3_no_bwd(&self.weight_t, &self.bias, &LinearOp)?
        } else {
            row_stable_matmul(&x2, &self.weight_t)?.broadcast_add(&self.bias)?
        };
        self.unflatten(&y, leading)
    }

    /// `forward(a + b)` for `a`, `b` of the same shape, in one pass where the narrow kernel
    /// applies.
    pub(crate) fn forward_sum(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        match self.narrow_for(a) {
            Some(weights) if a.dims() == b.dims() && b.dtype() == DType::F32 => {
                let (rows, leading) = rows_of(a, self.in_features())?;
                let shape = (rows, self.in_features());
                let y = a.reshape(shape)?.contiguous()?.apply_op2_no_bwd(
                    &b.reshape(shape)?.contiguous()?,
                    &NarrowOp {
                        weights,
                        mode: Mode::Sum,
                    },
                )?;
                self.unflatten(&y, leading)
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
        let features = self.in_features().saturating_sub(num_classes);
        let (rows, leading) = rows_of(x, features)?;
        match self.narrow_for(x) {
            Some(weights) if rows == categories.len() => {
                let y = x
                    .reshape((rows, features))?
                    .contiguous()?
                    .apply_op1_no_bwd(&NarrowOp {
                        weights,
                        mode: Mode::OneHot {
                            features,
                            categories,
                        },
                    })?;
                self.unflatten(&y, leading)
            }
            _ => {
                let hot = one_hot_rows(categories, &leading, num_classes, x.dtype(), x.device())?;
                self.forward(&Tensor::cat(&[x, &hot], D::Minus1)?)
            }
        }
    }

    /// The narrow kernel's weights, if they apply to `x`.
    fn narrow_for(&self, x: &Tensor) -> Option<&NarrowWeights> {
        self.narrow
            .as_ref()
            .filter(|_| x.device().is_cpu() && x.dtype() == DType::F32)
    }

    /// `(rows, out_features)` back to `(*leading, out_features)`.
    fn unflatten(&self, y: &Tensor, mut leading: Vec<usize>) -> Result<Tensor> {
        leading.push(self.out_features());
        Ok(y.reshape(leading)?)
    }
}

/// The number of rows of `x` `(*, width)` and its leading dims; refuses any other last dim.
fn rows_of(x: &Tensor, width: usize) -> Result<(usize, Vec<usize>)> {
    match x.dims().split_last() {
        Some((&w, leading)) if w == width => Ok((leading.iter().product(), leading.to_vec())),
        _ => Err(Error::input(
            "nn.Linear input",
            format!("has shape {:?}, expected (*, {width})", x.dims()),
        )),
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

/// `a · b` for a 2-D `a`, each row's result the same bits whatever rows `a` has beside it:
/// candle's products (through `gemm` on the CPU) compute a one-row `a` in another summation
/// order than the rows of a larger one, so a one-row `a` is computed as two rows. What keeps a
/// request's result the same alone and in a batch (`Model::forward_many`) for the dtypes
/// candle computes (f16, bf16, and every dtype off the CPU); `cpu::gemm::matmul` does the same
/// for the CPU's own kernels.
pub(crate) fn row_stable_matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.dim(0)? == 1 && b.dim(1)? > 1 {
        let two = Tensor::cat(&[a, a], 0)?;
        Ok(two.matmul(b)?.narrow(0, 0, 1)?)
    } else {
        Ok(a.matmul(b)?)
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

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        let d = (a.to_dtype(DType::F64).unwrap() - b.to_dtype(DType::F64).unwrap()).unwrap();
        d.abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    }

    #[test]
    fn every_path_agrees_with_a_plain_product() {
        let cpu = &Device::Cpu;
        // 10 outputs take the narrow kernel in f32, 20 the matrix-product kernel; f64 takes the
        // generic kernel either way.
        for out in [10, 20] {
            let weight = Tensor::rand(-1f32, 1., (out, 13), cpu).unwrap();
            let bias = Tensor::rand(-1f32, 1., out, cpu).unwrap();
            let x = Tensor::rand(-1f32, 1., (2, 3, 13), cpu).unwrap();
            let reference = x
                .to_dtype(DType::F64)
                .unwrap()
                .broadcast_matmul(&weight.to_dtype(DType::F64).unwrap().t().unwrap())
                .unwrap()
                .broadcast_add(&bias.to_dtype(DType::F64).unwrap())
                .unwrap();
            for dtype in [DType::F32, DType::F64] {
                let cast = |t: &Tensor| t.to_dtype(dtype).unwrap();
                let layer = Linear::new(&cast(&weight), Some(cast(&bias))).unwrap();
                let y = layer.forward(&cast(&x)).unwrap();
                assert_eq!(y.dims(), &[2, 3, out]);
                assert!(max_diff(&y, &reference) < 1e-5, "{out} outputs, {dtype:?}");

                let half = (cast(&x) * 0.5).unwrap();
                let sum = layer.forward_sum(&half, &half).unwrap();
                assert!(max_diff(&sum, &y) < 1e-5, "sum, {out} outputs, {dtype:?}");

                let features = cast(&x.narrow(2, 0, 10).unwrap());
                let categories = [0u32, 2, 1, 1, 0, 2];
                let hot = one_hot_rows(&categories, &[2, 3], 3, dtype, cpu).unwrap();
                let joined = Tensor::cat(&[&features, &hot], D::Minus1).unwrap();
                let fused = layer.forward_one_hot(&features, &categories, 3).unwrap();
                let plain = layer.forward(&joined).unwrap();
                assert!(
                    max_diff(&fused, &plain) < 1e-5,
                    "one-hot, {out} outputs, {dtype:?}"
                );
            }
        }
    }

    #[test]
    fn a_wrong_input_width_is_an_error() {
        let layer = Linear::new(
            &Tensor::ones((4, 3), DType::F32, &Device::Cpu).unwrap(),
            None,
        );
        let x = Tensor::ones((2, 5), DType::F32, &Device::Cpu).unwrap();
        let err = layer.unwrap().forward(&x).unwrap_err().to_string();
        assert!(err.contains("has shape [2, 5], expected (*, 3)"), "{err}");
    }
}
