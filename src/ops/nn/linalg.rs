//! Matrix products: `linear` (through the project's [`Linear`] kernel in f32 and f64),
//! `matmul` in every rank case, `mm`, `bmm`, `addmm` and `baddbmm`. Operands must share their
//! type, as in PyTorch; f16 and bf16 products accumulate in f32 and round once, as PyTorch's
//! CPU kernels do; integer products wrap, computed on the CPU.

use candle_core::DType;

use super::{numel, same_dtype, script};
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
    let product = batched(cx, "aten::addmm", x, y)?;
    scaled_sum(bias, &product, a.scalar(3)?, a.scalar(4)?).map(Value::Tensor)
}

fn baddbmm_op(cx: &Ctx, a: &Args) -> Result<Value> {
    let (bias, x, y) = (a.tensor(0)?, a.tensor(1)?, a.tensor(2)?);
    check_batches(x, y)?;
    same_dtype(x, y, "batch2")?;
    same_dtype(x, bias, "self")?;
    let product = batched(cx, "aten::baddbmm", x, y)?;
    scaled_sum(bias, &product, a.scalar(3)?, a.scalar(4)?).map(Value::Tensor)
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
        let make = || Linear::new(weight.inner(), plain_bias.map(|b| b.inner().clone()));
        let layer = match cx.constants {
            Some(c) => c.prepared(
                "aten::linear",
                &[Some(weight.inner()), plain_bias.map(Tensor::inner)],
                make,
            )?,
            None => std::sync::Arc::new(make()?),
        };
        return Tensor::new(layer.forward(input.inner())?);
    }
    let wt = Tensor::with_type(weight.inner().t()?, weight.dtype())?;
    let product = matmul(cx, input, &wt)?;
    match bias {
        Some(b) => add(cx, &product, b),
        None => Ok(product),
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
    let target = product.dims();
    let expanded = bias.inner().broadcast_as(target).map_err(|_| {
        script(format!(
            "The expanded size of the tensor must match the existing size: target sizes \
             {target:?}, tensor sizes {:?}",
            bias.dims()
        ))
    })?;
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
