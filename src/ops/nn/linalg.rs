//! Matrix products: `linear` (through the project's [`Linear`] kernel in f32 and f64),
//! `matmul` in every rank case, `mm`, `bmm`, `addmm` and `baddbmm`. Operands must share their
//! type, as in PyTorch; f16 and bf16 products accumulate in f32 and round once, as PyTorch's
//! CPU kernels do; integer products wrap, computed on the CPU.
//!
//! f32 and f64 products on the CPU run [`crate::cpu::gemm`] once per matrix of the batch,
//! straight on the operands' strides (a transposed or broadcast operand is read in place), on
//! the calling thread unless the product is big. Other devices and types take candle's
//! `matmul`.

use candle_core::{DType, Device, Layout, Storage, Tensor as CTensor, WithDType};

use super::{numel, same_dtype, script};
use crate::cpu::gemm::{self as cpu_gemm, Mat};
use crate::cpu::Float;
use crate::error::Result;
use crate::linear::{row_stable_matmul, Linear};
use crate::ops::registry::{Args, Builder, Ctx, Scalar};
use crate::ops::tensor::Tensor;
use crate::ops::value::Value;
use crate::ops::ScalarType;

/// Registers the matrix products.
pub(super) fn register(b: &mut Builder) {
    b.add(
        "aten::linear(Tensor input, Tensor weight, Tensor? bias=None) -> Tensor",
        linear_op,
    );
    b.add(
        "aten::matmul(Tensor self, Tensor other) -> Tensor",
        matmul_op,
    );
    b.add("aten::mm(Tensor self, Tensor mat2) -> Tensor", mm_op);
    b.add("aten::bmm(Tensor self, Tensor mat2) -> Tensor", bmm_op);
    b.add(
        "aten::addmm(Tensor self, Tensor mat1, Tensor mat2, *, Scalar beta=1, Scalar alpha=1) -> Tensor",
        addmm_op,
    );
    b.add(
        "aten::baddbmm(Tensor self, Tensor batch1, Tensor batch2, *, Scalar beta=1, Scalar alpha=1) -> Tensor",
        baddbmm_op,
    );
}

fn linear_op(cx: &Ctx, a: &Args) -> Result<Value> {
    let out = linear(cx, a.tensor(0)?, a.tensor(1)?, a.opt_tensor(2)?)?;
    Ok(Value::Tensor(out))
}

fn matmul_op(cx: &Ctx, a: &Args) -> Result<Value> {
    Ok(Value::Tensor(matmul(cx, a.tensor(0)?, a.tensor(1)?)?))
}

fn mm_op(cx: &Ctx, a: &Args) -> Result<Value> {
    let (x, y) = (a.tensor(0)?, a.tensor(1)?);
    check_matrix(x, "mm: mat1")?;
    check_matrix(y, "mm: mat2")?;
    check_inner(x, y, "mm: ")?;
    same_dtype(x, y, "mat2")?;
    Ok(Value::Tensor(batched(cx, "aten::mm", x, y)?))
}

fn bmm_op(cx: &Ctx, a: &Args) -> Result<Value> {
    let (x, y) = (a.tensor(0)?, a.tensor(1)?);
    check_batches(x, y)?;
    same_dtype(x, y, "batch2")?;
    Ok(Value::Tensor(batched(cx, "aten::bmm", x, y)?))
}

fn addmm_op(cx: &Ctx, a: &Args) -> Result<Value> {
    let (bias, x, y) = (a.tensor(0)?, a.tensor(1)?, a.tensor(2)?);
    check_matrix(x, "mat1")?;
    check_matrix(y, "mat2")?;
    check_inner(x, y, "mm: ")?;
    same_dtype(x, y, "mat2")?;
    same_dtype(x, bias, "self")?;
    biased(cx, "aten::addmm", bias, x, y, a.scalar(3)?, a.scalar(4)?).map(Value::Tensor)
}

fn baddbmm_op(cx: &Ctx, a: &Args) -> Result<Value> {
    let (bias, x, y) = (a.tensor(0)?, a.tensor(1)?, a.tensor(2)?);
    check_batches(x, y)?;
    same_dtype(x, y, "batch2")?;
    same_dtype(x, bias, "self")?;
    biased(cx, "aten::baddbmm", bias, x, y, a.scalar(3)?, a.scalar(4)?).map(Value::Tensor)
}

/// `beta * bias + alpha * (x · y)` for `addmm` and `baddbmm`. With `beta = alpha = 1` in f32
/// or f64 on the CPU, the product accumulates onto the broadcast bias (as PyTorch's BLAS call
/// with `beta = 1` does); otherwise the product is scaled and summed.
fn biased(
    cx: &Ctx,
    op: &str,
    bias: &Tensor,
    x: &Tensor,
    y: &Tensor,
    beta: Scalar,
    alpha: Scalar,
) -> Result<Tensor> {
    let float = matches!(x.dtype(), ScalarType::Float32 | ScalarType::Float64);
    if float && beta.f64() == 1.0 && alpha.f64() == 1.0 {
        let mut dims = x.dims().to_vec();
        let rank = dims.len();
        dims[rank - 1] = y.dims()[rank - 1];
        cx.check(op, &dims)?;
        let init = expand_bias(bias, &dims)?;
        if let Some(out) = fast_product(x.inner(), y.inner(), Some(&init))? {
            return Tensor::with_type(out, x.dtype());
        }
    }
    let product = batched(cx, op, x, y)?;
    scaled_sum(bias, &product, beta, alpha)
}

/// `bias` broadcast to `target`, with PyTorch's message when it does not broadcast.
fn expand_bias(bias: &Tensor, target: &[usize]) -> Result<CTensor> {
    bias.inner().broadcast_as(target).map_err(|_| {
        script(format!(
            "The expanded size of the tensor must match the existing size: target sizes \
             {target:?}, tensor sizes {:?}",
            bias.dims()
        ))
    })
}

/// `torch.nn.functional.linear(input, weight, bias)`: `input · weightᵀ + bias` on the last
/// dim; a 1-D weight gives a product without the last dim. f32 and f64 with a 2-D weight run
/// the project's [`Linear`] kernel (the seed models' own).
pub(in crate::ops) fn linear(
    cx: &Ctx,
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    if weight.rank() > 2 {
        return Err(script(format!(
            "t() expects a tensor with <= 2 dimensions, but self is {}D",
            weight.rank()
        )));
    }
    if input.rank() == 0 || weight.rank() == 0 {
        return Err(script(format!(
            "both arguments to linear need to be at least 1D, but they are {}D and {}D",
            input.rank(),
            weight.rank()
        )));
    }
    same_dtype(input, weight, "weight")?;
    if let Some(b) = bias {
        same_dtype(input, b, "bias")?;
    }
    if weight.rank() == 1 {
        let product = matmul(cx, input, weight)?;
        return match bias {
            Some(b) => add(cx, &product, b),
            None => Ok(product),
        };
    }
    let (out, inp) = (weight.dims()[0], weight.dims()[1]);
    let k = *input.dims().last().unwrap_or(&0);
    if k != inp {
        let rows = numel(&input.dims()[..input.rank() - 1])?;
        return Err(script(format!(
            "mm: mat1 and mat2 shapes cannot be multiplied ({rows}x{k} and {inp}x{out})"
        )));
    }
    let mut dims = input.dims().to_vec();
    *dims.last_mut().unwrap_or(&mut 0) = out;
    cx.check("aten::linear", &dims)?;
    let plain_bias = bias.filter(|b| b.dims() == [out]);
    if matches!(input.dtype(), ScalarType::Float32 | ScalarType::Float64)
        && (bias.is_none() || plain_bias.is_some())
        && input.elem_count() > 0
    {
        let layer = prepared_linear(cx, weight, plain_bias)?;
        return Tensor::new(layer.forward(input.inner())?);
    }
    let wt = Tensor::with_type(weight.inner().t()?, weight.dtype())?;
    let product = matmul(cx, input, &wt)?;
    match bias {
        Some(b) => add(cx, &product, b),
        None => Ok(product),
    }
}

/// The [`Linear`] layer of `weight` (2-D, f32 or f64) and `bias` (of its output size), built
/// once per program where both are its constants.
pub(in crate::ops) fn prepared_linear(
    cx: &Ctx,
    weight: &Tensor,
    bias: Option<&Tensor>,
) -> Result<std::sync::Arc<Linear>> {
    let make = || Linear::new(weight.inner(), bias.map(|b| b.inner().clone()));
    match cx.constants {
        Some(c) => c.prepared(
            "aten::linear",
            &[Some(weight.inner()), bias.map(Tensor::inner)],
            make,
        ),
        None => Ok(std::sync::Arc::new(make()?)),
    }
}

/// `a + b` broadcast, in their common type (integers wrap).
fn add(cx: &Ctx, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let dims = broadcast_dims(a.dims(), b.dims())?;
    cx.check("aten::add", &dims)?;
    let dtype = a.dtype();
    let work = work_dtype(dtype);
    let sum = a
        .inner()
        .to_dtype(work)?
        .broadcast_add(&b.inner().to_dtype(work)?)?;
    Tensor::with_type(sum.to_dtype(dtype.candle())?, dtype)
}

/// The type a product or sum of `dtype` is computed in: f32 for f16 and bf16, i64 for every
/// integer type (narrower integers then wrap when cast back, as PyTorch's do).
fn work_dtype(dtype: ScalarType) -> DType {
    match dtype {
        ScalarType::Float16 | ScalarType::BFloat16 => DType::F32,
        ScalarType::Float32 | ScalarType::Float64 => dtype.candle(),
        _ => DType::I64,
    }
}

/// The shape `a` and `b` broadcast to, with PyTorch's message when they do not.
pub(in crate::ops) fn broadcast_dims(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let x = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let y = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        out[i] = match (x, y) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(script(format!(
                    "The size of tensor a ({x}) must match the size of tensor b ({y}) at \
                     non-singleton dimension {i}"
                )))
            }
        };
    }
    Ok(out)
}

/// `torch.matmul(a, b)`: a dot product for two vectors, a matrix-vector product, a matrix
/// product, or a batched product whose batch dims broadcast.
pub(in crate::ops) fn matmul(cx: &Ctx, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (ra, rb) = (a.rank(), b.rank());
    if ra == 0 || rb == 0 {
        return Err(script(format!(
            "both arguments to matmul need to be at least 1D, but they are {ra}D and {rb}D"
        )));
    }
    same_dtype(a, b, "other")?;
    if ra == 1 && rb == 1 && a.dims()[0] != b.dims()[0] {
        return Err(script(format!(
            "inconsistent tensor size, expected tensor [{}] and src [{}] to have the same \
             number of elements, but got {} and {} elements respectively",
            a.dims()[0],
            b.dims()[0],
            a.dims()[0],
            b.dims()[0]
        )));
    }
    // Vectors become matrices: a row on the left, a column on the right; their unit dims are
    // dropped from the result.
    let a2 = if ra == 1 {
        reshape(a, &[1, a.dims()[0]])?
    } else {
        a.clone()
    };
    let b2 = if rb == 1 {
        reshape(b, &[b.dims()[0], 1])?
    } else {
        b.clone()
    };
    let (n, k) = last2(a2.dims());
    let (k2, m) = last2(b2.dims());
    if k != k2 {
        return Err(script(format!(
            "mat1 and mat2 shapes cannot be multiplied ({}x{k} and {k2}x{m})",
            numel(&a2.dims()[..a2.rank() - 1])?
        )));
    }
    let batch = broadcast_dims(&a2.dims()[..a2.rank() - 2], &b2.dims()[..b2.rank() - 2])?;
    let mut full = batch.clone();
    full.extend([n, m]);
    cx.check("aten::matmul", &full)?;
    let expand = |t: &Tensor, r: usize, c: usize| -> Result<Tensor> {
        let mut dims = batch.clone();
        dims.extend([r, c]);
        let t = t.inner().broadcast_as(dims)?;
        Tensor::with_type(t, a.dtype())
    };
    let product = batched(cx, "aten::matmul", &expand(&a2, n, k)?, &expand(&b2, k, m)?)?;
    let mut dims = batch;
    if ra > 1 {
        dims.push(n);
    }
    if rb > 1 {
        dims.push(m);
    }
    reshape(&product, &dims)
}

/// The last two dims of a tensor of rank 2 or more.
fn last2(dims: &[usize]) -> (usize, usize) {
    (dims[dims.len() - 2], dims[dims.len() - 1])
}

fn reshape(t: &Tensor, dims: &[usize]) -> Result<Tensor> {
    Tensor::with_type(t.inner().reshape(dims)?, t.dtype())
}

fn check_matrix(t: &Tensor, what: &str) -> Result<()> {
    if t.rank() != 2 {
        return Err(script(format!(
            "{what} must be a matrix, got {}-D tensor",
            t.rank()
        )));
    }
    Ok(())
}

fn check_inner(x: &Tensor, y: &Tensor, prefix: &str) -> Result<()> {
    let (n, k) = (x.dims()[0], x.dims()[1]);
    let (k2, m) = (y.dims()[0], y.dims()[1]);
    if k != k2 {
        return Err(script(format!(
            "{prefix}mat1 and mat2 shapes cannot be multiplied ({n}x{k} and {k2}x{m})"
        )));
    }
    Ok(())
}

/// `bmm`'s checks: two 3-D tensors, `(b, n, k)` and `(b, k, m)`.
fn check_batches(x: &Tensor, y: &Tensor) -> Result<()> {
    for (t, name) in [(x, "batch1"), (y, "batch2")] {
        if t.rank() != 3 {
            return Err(script(format!("{name} must be a 3D tensor")));
        }
    }
    let (b, k) = (x.dims()[0], x.dims()[2]);
    if y.dims()[0] != b || y.dims()[1] != k {
        return Err(script(format!(
            "Expected size for first two dimensions of batch2 tensor to be: [{b}, {k}] but got: \
             [{}, {}].",
            y.dims()[0],
            y.dims()[1]
        )));
    }
    Ok(())
}

/// The product of `a` `(*, n, k)` and `b` `(*, k, m)` with the same leading dims.
fn batched(cx: &Ctx, op: &str, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let rank = a.rank();
    let (n, k) = last2(a.dims());
    let m = b.dims()[rank - 1];
    let lead = &a.dims()[..rank - 2];
    let mut dims = lead.to_vec();
    dims.extend([n, m]);
    cx.check(op, &dims)?;
    let count = numel(lead)?;
    let dtype = a.dtype();
    if dtype == ScalarType::Bool {
        return Err(script("matrix products are not implemented for 'Bool'"));
    }
    let work = work_dtype(dtype);
    let out = if work == DType::I64 {
        int_product(a, b, count, (n, k, m))?
    } else if let Some(out) = fast_product(a.inner(), b.inner(), None)? {
        out
    } else {
        let a3 = a
            .inner()
            .to_dtype(work)?
            .reshape((count, n, k))?
            .contiguous()?;
        let b3 = b
            .inner()
            .to_dtype(work)?
            .reshape((count, k, m))?
            .contiguous()?;
        if count == 1 {
            row_stable_matmul(&a3.get(0)?, &b3.get(0)?)?
        } else {
            a3.matmul(&b3)?
        }
    };
    let out = out.reshape(dims)?.to_dtype(dtype.candle())?;
    Tensor::with_type(out, dtype)
}

/// `a` `(*, n, k)` times `b` `(*, k, m)` (the same leading dims), plus `init` (already
/// broadcast to the result's dims) where given, through [`crate::cpu::gemm`] for f32 and f64
/// tensors on the CPU; `None` for other types and devices.
pub(super) fn fast_product(
    a: &CTensor,
    b: &CTensor,
    init: Option<&CTensor>,
) -> Result<Option<CTensor>> {
    let cpu = |t: &CTensor| t.device().is_cpu() && t.dtype() == a.dtype();
    if !cpu(a) || !cpu(b) || !init.is_none_or(cpu) {
        return Ok(None);
    }
    match a.dtype() {
        DType::F32 => gemm_product::<f32>(a, b, init).map(Some),
        DType::F64 => gemm_product::<f64>(a, b, init).map(Some),
        _ => Ok(None),
    }
}

/// [`fast_product`] in `T`.
fn gemm_product<T: Float>(a: &CTensor, b: &CTensor, init: Option<&CTensor>) -> Result<CTensor> {
    let rank = a.rank();
    if rank < 2
        || b.rank() != rank
        || a.dims()[..rank - 2] != b.dims()[..rank - 2]
        || a.dims()[rank - 1] != b.dims()[rank - 2]
    {
        return Err(script(format!(
            "matrix product of shapes {:?} and {:?}",
            a.dims(),
            b.dims()
        )));
    }
    let n = a.dims()[rank - 2];
    let m = b.dims()[rank - 1];
    let mut dims = a.dims()[..rank - 2].to_vec();
    dims.extend([n, m]);
    let total = numel(&dims)?;
    let mut out: Vec<T> = match init {
        Some(t) => strided_vec(&t.broadcast_as(dims.as_slice())?)?,
        None => vec![T::ZERO; total],
    };
    if total > 0 {
        let (sa, la) = a.storage_and_layout();
        let (sb, lb) = b.storage_and_layout();
        let (da, db) = (cpu_slice::<T>(&sa)?, cpu_slice::<T>(&sb)?);
        let items = out
            .chunks_mut(n * m)
            .zip(matrix_offsets(la))
            .zip(matrix_offsets(lb));
        for ((dst, oa), ob) in items {
            let (x, y) = (matrix(da, la, oa)?, matrix(db, lb, ob)?);
            cpu_gemm::matmul(dst, m, x, y, init.is_some(), T::ONE)?;
        }
    }
    Ok(CTensor::from_vec(out, dims, &Device::Cpu)?)
}

/// The elements of a CPU storage as `T` (from the storage's start: index them by a layout).
pub(super) fn cpu_slice<T: WithDType>(storage: &Storage) -> Result<&[T]> {
    Ok(cpu_storage(storage)?.as_slice::<T>()?)
}

/// A CPU tensor's elements in row-major order, as `T`.
pub(super) fn strided_vec<T: WithDType>(t: &CTensor) -> Result<Vec<T>> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    Ok(crate::cpu::contiguous::<T>(cpu_storage(&storage)?, layout)?.to_vec())
}

/// A storage on the CPU.
pub(super) fn cpu_storage(storage: &Storage) -> Result<&candle_core::CpuStorage> {
    match storage {
        Storage::Cpu(s) => Ok(s),
        _ => Err(script("a CPU kernel was given a tensor on another device")),
    }
}

/// The storage offset of each matrix of a `(*, r, c)` layout, the leading dims in row-major
/// order (a broadcast dim repeats its offsets).
fn matrix_offsets(layout: &Layout) -> Vec<usize> {
    let (dims, strides) = (layout.dims(), layout.stride());
    let mut offsets = vec![layout.start_offset()];
    for (&len, &stride) in dims.iter().zip(strides).take(dims.len().saturating_sub(2)) {
        offsets = offsets
            .iter()
            .flat_map(|&o| (0..len).map(move |i| o + i * stride))
            .collect();
    }
    offsets
}

/// The matrix of a `(*, r, c)` layout at storage offset `at`, read through its strides.
fn matrix<'a, T>(data: &'a [T], layout: &Layout, at: usize) -> Result<Mat<'a, T>> {
    let (dims, strides) = (layout.dims(), layout.stride());
    let rank = dims.len();
    let data = data
        .get(at..)
        .ok_or_else(|| script("a tensor's layout lies outside its storage"))?;
    Ok(Mat {
        data,
        rows: dims[rank - 2],
        cols: dims[rank - 1],
        row_stride: strides[rank - 2],
        col_stride: strides[rank - 1],
    })
}

/// An integer product on the CPU, wrapping in i64: `(count, n, k) · (count, k, m)`.
fn int_product(
    a: &Tensor,
    b: &Tensor,
    count: usize,
    (n, k, m): (usize, usize, usize),
) -> Result<candle_core::Tensor> {
    let x = super::ints_of(a)?;
    let y = super::ints_of(b)?;
    let mut out = vec![0i64; numel(&[count, n, m])?];
    for (s, chunk) in out.chunks_mut((n * m).max(1)).enumerate().take(count) {
        let (xa, yb) = (
            &x[s * n * k..(s + 1) * n * k],
            &y[s * k * m..(s + 1) * k * m],
        );
        for i in 0..n {
            for p in 0..k {
                let v = xa[i * k + p];
                for j in 0..m {
                    chunk[i * m + j] = chunk[i * m + j].wrapping_add(v.wrapping_mul(yb[p * m + j]));
                }
            }
        }
    }
    Ok(candle_core::Tensor::from_vec(
        out,
        (count, n, m),
        a.device(),
    )?)
}

/// `beta * bias + alpha * product`, `bias` broadcast to the product's shape (and ignored when
/// `beta` is 0, as PyTorch ignores it, NaN included).
fn scaled_sum(bias: &Tensor, product: &Tensor, beta: Scalar, alpha: Scalar) -> Result<Tensor> {
    let dtype = product.dtype();
    let (beta, alpha) = (beta.f64(), alpha.f64());
    if !dtype.is_float() && (beta.fract() != 0.0 || alpha.fract() != 0.0) {
        return Err(script(format!(
            "beta and alpha must be integers for an integer product, got {beta} and {alpha}"
        )));
    }
    let expanded = expand_bias(bias, product.dims())?;
    let work = work_dtype(dtype);
    let mut out = product.inner().to_dtype(work)?;
    if alpha != 1.0 {
        out = scale(&out, alpha)?;
    }
    if beta != 0.0 {
        let mut b = expanded.to_dtype(work)?;
        if beta != 1.0 {
            b = scale(&b, beta)?;
        }
        out = (b + out)?;
    }
    Tensor::with_type(out.to_dtype(dtype.candle())?, dtype)
}

/// `t * factor`, exact for integers (i64) as for floats.
fn scale(t: &candle_core::Tensor, factor: f64) -> Result<candle_core::Tensor> {
    if t.dtype() == DType::I64 {
        let f = candle_core::Tensor::new(factor as i64, t.device())?;
        Ok(t.broadcast_mul(&f)?)
    } else {
        Ok(t.affine(factor, 0.0)?)
    }
}

#[cfg(test)]
#[rustfmt::skip]
mod tests {
    use crate::ops::nn::testing::*;
    use crate::ops::Value;

    #[test]
    fn matmul_covers_every_rank_case() {
        // torch.matmul on arange-based inputs (values from torch 2.15.0).
        let v = t_f32(&[1., 2., 3.], &[3]);
        let m = t_f32(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
        assert_eq!(f32s(&call("aten::matmul", &[v.clone(), v.clone()])), [14.]);
        assert_eq!(
            dims(&call("aten::matmul", &[v.clone(), v.clone()])),
            Vec::<usize>::new()
        );
        assert_eq!(
            f32s(&call("aten::matmul", &[m.clone(), v.clone()])),
            [14., 32.]
        );
        let w = t_f32(&[1., 2.], &[2]);
        assert_eq!(f32s(&call("aten::matmul", &[w, m.clone()])), [9., 12., 15.]);
        // (2, 1, 2, 3) @ (3, 3, 2) broadcast to (2, 3, 2, 2).
        let a = arange_f32(&[2, 1, 2, 3]);
        let b = arange_f32(&[3, 3, 2]);
        let y = call("aten::matmul", &[a, b]);
        assert_eq!(dims(&y), [2, 3, 2, 2]);
        // torch: (torch.arange(12.).view(2,1,2,3) @ torch.arange(18.).view(3,3,2))[1, 2]
        assert_eq!(&f32s(&y)[20..], [298., 319., 424., 454.]);
        // batched @ vector
        let y = call("aten::matmul", &[arange_f32(&[2, 2, 3]), v]);
        assert_eq!(f32s(&y), [8., 26., 44., 62.]);
    }

    #[test]
    fn matmul_errors_are_pytorchs() {
        let e = call_err("aten::matmul", &[arange_f32(&[3]), arange_f32(&[4])]);
        assert!(e.contains("inconsistent tensor size"), "{e}");
        let e = call_err("aten::matmul", &[arange_f32(&[2, 3]), arange_f32(&[4, 5])]);
        assert!(
            e.contains("shapes cannot be multiplied (2x3 and 4x5)"),
            "{e}"
        );
        let e = call_err("aten::mm", &[arange_f32(&[2, 3]), arange_f32(&[3])]);
        assert!(e.contains("mat2 must be a matrix, got 1-D tensor"), "{e}");
        let e = call_err("aten::matmul", &[arange_f32(&[2, 3]), arange_f64(&[3])]);
        assert!(e.contains("float64"), "{e}");
        let e = call_err(
            "aten::bmm",
            &[arange_f32(&[2, 2, 3]), arange_f32(&[3, 3, 2])],
        );
        assert!(e.contains("[2, 3] but got: [3, 3]"), "{e}");
    }

    #[test]
    fn integer_products_wrap_and_keep_their_type() {
        let a = t_i64(&[1, 2, 3, 4], &[2, 2]);
        let y = call("aten::mm", &[a.clone(), a.clone()]);
        assert_eq!(i64s(&y), [7, 10, 15, 22]);
        let big = t_i64(&[i64::MAX, 2], &[1, 2]);
        let col = t_i64(&[2, 1], &[2, 1]);
        // torch: torch.tensor([[2**63-1, 2]]) @ torch.tensor([[2], [1]]) == [[0]]
        assert_eq!(i64s(&call("aten::matmul", &[big, col])), [0]);
        let e = call_err(
            "aten::matmul",
            &[bool_t(&[true], &[1, 1]), bool_t(&[true], &[1, 1])],
        );
        assert!(e.contains("Bool"), "{e}");
    }

    #[test]
    fn linear_matches_torch_with_and_without_bias() {
        // torch.nn.functional.linear(torch.arange(6.).view(2,3), torch.arange(12.).view(4,3)
        // / 10, torch.tensor([1., -1., 0.5, 0.]))
        let x = arange_f32(&[2, 3]);
        let w = scale_f32(&arange_f32(&[4, 3]), 0.1);
        let b = t_f32(&[1., -1., 0.5, 0.], &[4]);
        let y = call("aten::linear", &[x.clone(), w.clone(), b]);
        close(&f32s(&y), &[1.5, 0.4, 2.8, 3.2, 2.4, 4.0, 9.1, 12.2], 1e-6);
        let y = call("aten::linear", &[x.clone(), w.clone()]);
        close(&f32s(&y), &[0.5, 1.4, 2.3, 3.2, 1.4, 5.0, 8.6, 12.2], 1e-6);
        // f64 and an unbatched input.
        let y = call("aten::linear", &[arange_f64(&[3]), cast(&w, 7)]);
        // The weights are f32 tenths widened, so the products are those of torch's f64 run.
        close(
            &f64s(&y),
            &[
                0.5000000074505806, 1.4000000059604645, 2.300000011920929, 3.200000047683716,
            ],
            1e-15,
        );
        // a 1-D weight
        let y = call("aten::linear", &[x.clone(), t_f32(&[1., 1., 1.], &[3])]);
        assert_eq!(f32s(&y), [3., 12.]);
        let e = call_err("aten::linear", &[arange_f32(&[2, 4]), w.clone()]);
        assert!(
            e.contains("mat1 and mat2 shapes cannot be multiplied (2x4 and 3x4)"),
            "{e}"
        );
        let e = call_err("aten::linear", &[arange_f64(&[2, 3]), w]);
        assert!(e.contains("float32"), "{e}");
        // integers
        let y = call(
            "aten::linear",
            &[t_i64(&[1, 2], &[1, 2]), t_i64(&[3, 4, 5, 6], &[2, 2])],
        );
        assert_eq!(i64s(&y), [11, 17]);
    }

    /// `v` with dims `d0` and `d1` swapped: a strided view, not a copy.
    fn swapped(v: &Value, d0: usize, d1: usize) -> Value {
        let t = v.as_tensor().unwrap().inner().transpose(d0, d1).unwrap();
        assert!(!t.is_contiguous());
        Value::Tensor(crate::ops::tensor::Tensor::new(t).unwrap())
    }

    /// `a · b` by the definition, `(count, n, k) · (count, k, m)` row-major.
    fn naive(a: &[f64], b: &[f64], count: usize, (n, k, m): (usize, usize, usize)) -> Vec<f64> {
        let mut y = vec![0.0; count * n * m];
        for s in 0..count {
            for i in 0..n {
                for j in 0..m {
                    y[(s * n + i) * m + j] = (0..k).map(|p| a[(s * n + i) * k + p] * b[(s * k + p) * m + j]).sum();
                }
            }
        }
        y
    }

    #[test]
    fn products_read_strided_and_broadcast_operands() {
        // f64: the CPU path's products against the definition.
        let (a, b) = (cast(&wave(&[4, 3], 0.), 7), cast(&wave(&[3, 5], 1.), 7));
        let want = naive(&f64s(&a), &f64s(&b), 1, (4, 3, 5));
        // Operands transposed in place (a transposed weight is read through its strides).
        let at = swapped(&cast(&wave(&[3, 4], 0.), 7), 0, 1);
        let bt = swapped(&cast(&wave(&[5, 3], 1.), 7), 0, 1);
        let want_t = naive(&f64s(&at), &f64s(&bt), 1, (4, 3, 5));
        close(&f64s(&call("aten::mm", &[a.clone(), b.clone()])), &want, 1e-14);
        close(&f64s(&call("aten::mm", &[at.clone(), bt.clone()])), &want_t, 1e-14);
        close(&f64s(&call("aten::matmul", &[at.clone(), b.clone()])), &naive(&f64s(&at), &f64s(&b), 1, (4, 3, 5)), 1e-14);
        // bmm of a batch transposed in its last two dims and in its first two.
        let x = cast(&wave(&[2, 4, 3], 0.), 7);
        let y = swapped(&cast(&wave(&[2, 5, 3], 1.), 7), 1, 2);
        let got = call("aten::bmm", &[x.clone(), y.clone()]);
        assert_eq!(dims(&got), [2, 4, 5]);
        close(&f64s(&got), &naive(&f64s(&x), &f64s(&y), 2, (4, 3, 5)), 1e-14);
        let xs = swapped(&cast(&wave(&[4, 2, 3], 0.), 7), 0, 1);
        close(&f64s(&call("aten::bmm", &[xs.clone(), y.clone()])), &naive(&f64s(&xs), &f64s(&y), 2, (4, 3, 5)), 1e-14);
        // Broadcast batch dims: (2, 1, 4, 3) @ (3, 3, 5) reads each operand in place.
        let a4 = cast(&wave(&[2, 1, 4, 3], 0.), 7);
        let b3 = cast(&wave(&[3, 3, 5], 1.), 7);
        let got = call("aten::matmul", &[a4.clone(), b3.clone()]);
        assert_eq!(dims(&got), [2, 3, 4, 5]);
        let (av, bv) = (f64s(&a4), f64s(&b3));
        let mut want = Vec::new();
        for i in 0..2 {
            for j in 0..3 {
                want.extend(naive(&av[i * 12..(i + 1) * 12], &bv[j * 15..(j + 1) * 15], 1, (4, 3, 5)));
            }
        }
        close(&f64s(&got), &want, 1e-14);
        // A vector on either side.
        let v = cast(&wave(&[3], 2.), 7);
        let vv = [f64s(&v), f64s(&v)].concat();
        close(&f64s(&call("aten::matmul", &[x.clone(), v.clone()])), &naive(&f64s(&x), &vv, 2, (4, 3, 1)), 1e-14);
        assert_eq!(dims(&call("aten::matmul", &[v.clone(), y.clone()])), [2, 5]);
    }

    #[test]
    fn a_row_gets_the_same_bits_alone_and_in_a_batch() {
        let (a, b) = (wave(&[6, 40], 0.), wave(&[40, 24], 1.));
        let all = f32s(&call("aten::mm", &[a.clone(), b.clone()]));
        let first = crate::ops::tensor::Tensor::new(a.as_tensor().unwrap().inner().narrow(0, 0, 1).unwrap()).unwrap();
        let one = f32s(&call("aten::mm", &[Value::Tensor(first), b.clone()]));
        assert_eq!(one, all[..24]);
        // A batch of single rows: each as the batched product's row.
        let rows = call("aten::matmul", &[wave(&[6, 1, 40], 0.), b]);
        assert_eq!(f32s(&rows), all);
    }

    #[test]
    fn empty_products() {
        let y = call("aten::mm", &[arange_f32(&[0, 3]), arange_f32(&[3, 4])]);
        assert_eq!(dims(&y), [0, 4]);
        // An empty inner dim: zeros, and addmm's bias alone.
        let y = call("aten::mm", &[arange_f32(&[2, 0]), arange_f32(&[0, 3])]);
        assert_eq!(f32s(&y), [0.; 6]);
        let y = call("aten::addmm", &[t_f32(&[1., 2., 3.], &[3]), arange_f32(&[2, 0]), arange_f32(&[0, 3])]);
        assert_eq!(f32s(&y), [1., 2., 3., 1., 2., 3.]);
        let y = call("aten::bmm", &[arange_f64(&[0, 2, 3]), arange_f64(&[0, 3, 4])]);
        assert_eq!(dims(&y), [0, 2, 4]);
        let y = call("aten::matmul", &[arange_f32(&[3, 2, 0]), arange_f32(&[0, 5])]);
        assert_eq!(dims(&y), [3, 2, 5]);
        assert_eq!(f32s(&y), [0.; 30]);
    }

    #[test]
    fn biased_products_broadcast_the_bias() {
        // addmm with beta = alpha = 1 accumulates onto the broadcast bias: every bias shape.
        let (a, w) = (cast(&wave(&[3, 4], 0.), 7), cast(&wave(&[5, 4], 1.), 7));
        let wt = swapped(&w, 0, 1);
        let product = naive(&f64s(&a), &f64s(&wt), 1, (3, 4, 5));
        for shape in [vec![5], vec![1, 5], vec![3, 1], vec![3, 5], vec![1]] {
            let n: usize = shape.iter().product();
            let bias = cast(&wave(&shape, 2.), 7);
            let bv = f64s(&bias);
            let want: Vec<f64> = (0..15)
                .map(|e| {
                    let (i, j) = (e / 5, e % 5);
                    let at = match shape.as_slice() {
                        [5] | [1, 5] => j,
                        [3, 1] => i,
                        [1] => 0,
                        _ => e,
                    };
                    product[e] + bv[at % n]
                })
                .collect();
            let y = call("aten::addmm", &[bias, a.clone(), wt.clone()]);
            close(&f64s(&y), &want, 1e-14);
        }
        // baddbmm with a bias broadcast over the batch.
        let (x, y) = (cast(&wave(&[2, 3, 4], 0.), 7), cast(&wave(&[2, 4, 2], 1.), 7));
        let bias = cast(&wave(&[1, 2], 2.), 7);
        let (p, bv) = (naive(&f64s(&x), &f64s(&y), 2, (3, 4, 2)), f64s(&bias));
        let want: Vec<f64> = p.iter().enumerate().map(|(e, v)| v + bv[e % 2]).collect();
        close(&f64s(&call("aten::baddbmm", &[bias, x, y])), &want, 1e-14);
    }

    #[test]
    fn addmm_and_baddbmm_scale_and_broadcast() {
        // torch.addmm(torch.tensor([1., 2.]), arange(6).view(2,3), arange(6).view(3,2),
        // beta=0.5, alpha=2) == [[20.5, 27.], [56.5, 81.]]
        let y = call_kw(
            "aten::addmm",
            &[
                t_f32(&[1., 2.], &[2]),
                arange_f32(&[2, 3]),
                arange_f32(&[3, 2]),
            ],
            &[("beta", f(0.5)), ("alpha", f(2.0))],
        );
        assert_eq!(f32s(&y), [20.5, 27., 56.5, 81.]);
        // beta=0 ignores NaN in self.
        let y = call_kw(
            "aten::addmm",
            &[
                t_f32(&[f32::NAN, 1.], &[1, 2]),
                t_f32(&[1., 1.], &[1, 2]),
                t_f32(&[1.; 4], &[2, 2]),
            ],
            &[("beta", f(0.0))],
        );
        assert_eq!(f32s(&y), [2., 2.]);
        let y = call(
            "aten::baddbmm",
            &[
                t_f32(&[1.], &[1]),
                arange_f32(&[2, 1, 2]),
                arange_f32(&[2, 2, 1]),
            ],
        );
        // torch: [[[2.]], [[14.]]]
        assert_eq!(f32s(&y), [2., 14.]);
        let e = call_err(
            "aten::addmm",
            &[
                t_f32(&[1.; 4], &[4]),
                arange_f32(&[2, 3]),
                arange_f32(&[3, 3]),
            ],
        );
        assert!(e.contains("expanded size"), "{e}");
    }
}
