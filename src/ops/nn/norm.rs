//! Normalizations and distances: `batch_norm` (running statistics, or the batch's own where
//! PyTorch passes none), `_native_batch_norm_legit_no_training`, `layer_norm` and
//! `native_layer_norm`, `group_norm` and `native_group_norm`, `instance_norm`,
//! `cosine_similarity` and `pairwise_distance`.
//!
//! Statistics are the mean and the biased variance, computed in f32 for f16/bf16 (PyTorch's
//! accumulation type) and in the input's type otherwise, and applied in PyTorch's form:
//! `x · rstd − mean · rstd`, then the affine weight and bias.

use candle_core::{DType, Tensor as CTensor};

use super::{compute_dtype, numel, script, to_usize, value, wrap_dim};
use crate::error::Result;
use crate::ops::dtype::ScalarType;
use crate::ops::elementwise::fast::{Elem, Read};
use crate::ops::elementwise::promote::c10_name;
use crate::ops::registry::{Args, Builder, Ctx};
use crate::ops::tensor::Tensor;
use crate::ops::value::Value;

/// Registers the normalizations.
pub(super) fn register(b: &mut Builder) {
    b.add(
        "aten::batch_norm(Tensor input, Tensor? weight, Tensor? bias, Tensor? running_mean, Tensor? running_var, bool training, float momentum, float eps, bool cudnn_enabled) -> Tensor",
        batch_norm_op,
    );
    b.add(
        "aten::_native_batch_norm_legit_no_training(Tensor input, Tensor? weight, Tensor? bias, Tensor running_mean, Tensor running_var, float momentum, float eps) -> (Tensor, Tensor, Tensor)",
        batch_norm_no_training_op,
    );
    b.add(
        "aten::layer_norm(Tensor input, SymInt[] normalized_shape, Tensor? weight=None, Tensor? bias=None, float eps=1.0000000000000001e-05, bool cudnn_enable=True) -> Tensor",
        |_, a| {
            let (y, _, _) = layer_norm(a.tensor(0)?, &a.ints(1)?, a.opt_tensor(2)?, a.opt_tensor(3)?, a.float(4)?)?;
            value(y)
        },
    );
    b.add(
        "aten::native_layer_norm(Tensor input, SymInt[] normalized_shape, Tensor? weight, Tensor? bias, float eps) -> (Tensor, Tensor, Tensor)",
        |_, a| {
            let (y, mean, rstd) = layer_norm(a.tensor(0)?, &a.ints(1)?, a.opt_tensor(2)?, a.opt_tensor(3)?, a.float(4)?)?;
            Ok(Value::tuple(vec![value(y)?, value(mean)?, value(rstd)?]))
        },
    );
    b.add(
        "aten::group_norm(Tensor input, int num_groups, Tensor? weight=None, Tensor? bias=None, float eps=1.0000000000000001e-05, bool cudnn_enabled=True) -> Tensor",
        group_norm_op,
    );
    b.add(
        "aten::native_group_norm(Tensor input, Tensor? weight, Tensor? bias, SymInt N, SymInt C, SymInt HxW, int group, float eps) -> (Tensor, Tensor, Tensor)",
        native_group_norm_op,
    );
    b.add(
        "aten::instance_norm(Tensor input, Tensor? weight, Tensor? bias, Tensor? running_mean, Tensor? running_var, bool use_input_stats, float momentum, float eps, bool cudnn_enabled) -> Tensor",
        instance_norm_op,
    );
    b.add(
        "aten::cosine_similarity(Tensor x1, Tensor x2, int dim=1, float eps=1e-08) -> Tensor",
        cosine_similarity_op,
    );
    b.add(
        "aten::pairwise_distance(Tensor x1, Tensor x2, float p=2., float eps=9.9999999999999995e-07, bool keepdim=False) -> Tensor",
        pairwise_distance_op,
    );
}

/// Refuses a non-float input, and a parameter of another type or size than `len`.
fn check_param(input: &Tensor, t: Option<&Tensor>, what: &str, len: usize) -> Result<()> {
    if let Some(t) = t {
        if t.dtype() != input.dtype() {
            return Err(script(format!(
                "expected {what} to have type {}, but got {}",
                input.dtype().name(),
                t.dtype().name()
            )));
        }
        if t.elem_count() != len {
            return Err(script(format!(
                "{what} should contain {len} elements not {}",
                t.elem_count()
            )));
        }
    }
    Ok(())
}

fn require_float(t: &Tensor, op: &str) -> Result<()> {
    if t.dtype().is_float() {
        Ok(())
    } else {
        Err(script(format!(
            "\"{op}\" is not implemented for '{}'",
            t.dtype().name()
        )))
    }
}

/// A per-channel parameter (channel dim 1) shaped to broadcast over `rank` dims, in `work`.
fn per_channel(t: &Tensor, rank: usize, work: DType) -> Result<CTensor> {
    let mut shape = vec![1; rank];
    shape[1] = t.elem_count();
    Ok(t.inner().to_dtype(work)?.reshape(shape)?)
}

/// `(mean, rstd)` of each row of `x` `(rows, n)`: `rstd = 1 / sqrt(var + eps)`, the variance
/// biased.
fn row_stats(x: &CTensor, eps: f64) -> Result<(CTensor, CTensor)> {
    let mean = x.mean_keepdim(1)?;
    let centered = x.broadcast_sub(&mean)?;
    let var = centered.sqr()?.mean_keepdim(1)?;
    let rstd = (var + eps)?.sqrt()?.recip()?;
    Ok((mean, rstd))
}

/// `x · rstd − mean · rstd` per row of `x` `(rows, n)`.
fn normalize_rows(x: &CTensor, mean: &CTensor, rstd: &CTensor) -> Result<CTensor> {
    let shift = (mean * rstd)?.neg()?;
    Ok(x.broadcast_mul(rstd)?.broadcast_add(&shift)?)
}

/// `y · weight + bias`, each optional.
fn affine(y: CTensor, weight: Option<CTensor>, bias: Option<CTensor>) -> Result<CTensor> {
    let y = match weight {
        Some(w) => y.broadcast_mul(&w)?,
        None => y,
    };
    Ok(match bias {
        Some(b) => y.broadcast_add(&b)?,
        None => y,
    })
}

fn batch_norm_op(_: &Ctx, a: &Args) -> Result<Value> {
    let (input, weight, bias) = (a.tensor(0)?, a.opt_tensor(1)?, a.opt_tensor(2)?);
    let (mean, var) = (a.opt_tensor(3)?, a.opt_tensor(4)?);
    let (training, eps) = (a.bool(5)?, a.float(7)?);
    match (training, mean, var) {
        (false, Some(m), Some(v)) => value(batch_norm_eval(input, weight, bias, m, v, eps)?),
        (false, _, _) => Err(script(
            "batch_norm without training needs running_mean and running_var",
        )),
        (true, None, None) => value(batch_norm_batch_stats(input, weight, bias, eps)?),
        (true, _, _) => Err(script(
            "batch_norm in training mode updates its running statistics; only inference \
             (training=False, or no running statistics) is supported",
        )),
    }
}

fn batch_norm_no_training_op(_: &Ctx, a: &Args) -> Result<Value> {
    let input = a.tensor(0)?;
    let y = batch_norm_eval(
        input,
        a.opt_tensor(1)?,
        a.opt_tensor(2)?,
        a.tensor(3)?,
        a.tensor(4)?,
        a.float(6)?,
    )?;
    let empty = || CTensor::zeros(0, input.dtype().candle(), input.device());
    Ok(Value::tuple(vec![
        value(y)?,
        value(empty()?)?,
        value(empty()?)?,
    ]))
}

/// The channel count of a `(N, C, *)` input.
fn channels(input: &Tensor, op: &str) -> Result<usize> {
    if input.rank() < 2 {
        return Err(script(format!(
            "{op}: expected an input with at least 2 dims (N, C, *), got shape {:?}",
            input.dims()
        )));
    }
    Ok(input.dims()[1])
}

/// Batch norm with running statistics: `x · α + β`, `α = w / sqrt(var + eps)`,
/// `β = b − mean · α`, as PyTorch's inference kernel computes it.
fn batch_norm_eval(
    input: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    mean: &Tensor,
    var: &Tensor,
    eps: f64,
) -> Result<CTensor> {
    require_float(input, "batch_norm")?;
    let c = channels(input, "batch_norm")?;
    check_param(input, weight, "weight", c)?;
    check_param(input, bias, "bias", c)?;
    check_param(input, Some(mean), "running_mean", c)?;
    check_param(input, Some(var), "running_var", c)?;
    let (rank, work) = (input.rank(), compute_dtype(input.dtype()));
    let invstd = (per_channel(var, rank, work)? + eps)?.sqrt()?.recip()?;
    let alpha = match weight {
        Some(w) => (per_channel(w, rank, work)? * invstd)?,
        None => invstd,
    };
    let shift = (per_channel(mean, rank, work)? * &alpha)?.neg()?;
    let beta = match bias {
        Some(b) => (per_channel(b, rank, work)? + shift)?,
        None => shift,
    };
    let y = input
        .inner()
        .to_dtype(work)?
        .broadcast_mul(&alpha)?
        .broadcast_add(&beta)?;
    Ok(y.to_dtype(input.dtype().candle())?)
}

/// Batch norm on the batch's own statistics per channel (what PyTorch runs for a module
/// without running statistics).
fn batch_norm_batch_stats(
    input: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<CTensor> {
    require_float(input, "batch_norm")?;
    let c = channels(input, "batch_norm")?;
    check_param(input, weight, "weight", c)?;
    check_param(input, bias, "bias", c)?;
    let per_channel_values = input.elem_count() / c.max(1);
    if per_channel_values <= 1 {
        return Err(script(format!(
            "Expected more than 1 value per channel when training, got input size {:?}",
            input.dims()
        )));
    }
    let work = compute_dtype(input.dtype());
    let x = input.inner().to_dtype(work)?;
    // (N, C, *) → (C, N·*), statistics per row.
    let rows = x
        .transpose(0, 1)?
        .contiguous()?
        .reshape((c, per_channel_values))?;
    let (mean, rstd) = row_stats(&rows, eps)?;
    let shape: Vec<usize> = (0..input.rank())
        .map(|d| if d == 1 { c } else { 1 })
        .collect();
    let (mean, rstd) = (
        mean.reshape(shape.as_slice())?,
        rstd.reshape(shape.as_slice())?,
    );
    let y = x
        .broadcast_mul(&rstd)?
        .broadcast_add(&(mean * &rstd)?.neg()?)?;
    let rank = input.rank();
    let w = weight.map(|w| per_channel(w, rank, work)).transpose()?;
    let b = bias.map(|b| per_channel(b, rank, work)).transpose()?;
    Ok(affine(y, w, b)?.to_dtype(input.dtype().candle())?)
}

/// `layer_norm` over the last `normalized_shape.len()` dims: the output, and the mean and
/// rstd (`native_layer_norm`'s, shaped `input.shape[:axis] + [1] * len(normalized_shape)`).
fn layer_norm(
    input: &Tensor,
    normalized: &[i64],
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<(CTensor, CTensor, CTensor)> {
    require_float(input, "layer_norm")?;
    let k = normalized.len();
    let dims = input.dims();
    let fits = k >= 1
        && k <= dims.len()
        && dims[dims.len() - k..]
            .iter()
            .zip(normalized)
            .all(|(&d, &n)| d as i64 == n);
    if !fits {
        return Err(script(format!(
            "Given normalized_shape={normalized:?}, expected input with shape [*, {}], but got \
             input of size{dims:?}",
            normalized
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let inner_dims = &dims[dims.len() - k..];
    for (t, what) in [(weight, "weight"), (bias, "bias")] {
        if let Some(t) = t {
            if t.dims() != inner_dims {
                return Err(script(format!(
                    "Expected {what} to be of same shape as normalized_shape, but got {what} of \
                     shape {:?} and normalized_shape = {normalized:?}",
                    t.dims()
                )));
            }
            check_param(input, Some(t), what, t.elem_count())?;
        }
    }
    let work = compute_dtype(input.dtype());
    let n = numel(inner_dims)?;
    let rows = numel(&dims[..dims.len() - k])?;
    let mut stat_dims = dims[..dims.len() - k].to_vec();
    stat_dims.extend(vec![1; k]);
    let fast = match input.dtype() {
        ScalarType::Float32 => fast_layer_norm::<f32>(input, weight, bias, eps, &stat_dims),
        ScalarType::Float64 => fast_layer_norm::<f64>(input, weight, bias, eps, &stat_dims),
        _ => None,
    };
    if let Some(done) = fast {
        return done;
    }
    let x = input.inner().to_dtype(work)?.reshape((rows, n))?;
    let (mean, rstd) = row_stats(&x, eps)?;
    let y = normalize_rows(&x, &mean, &rstd)?;
    let flat = |t: Option<&Tensor>| -> Result<Option<CTensor>> {
        t.map(|t| Ok(t.inner().to_dtype(work)?.reshape((1, n))?))
            .transpose()
    };
    let y = affine(y, flat(weight)?, flat(bias)?)?
        .reshape(dims)?
        .to_dtype(input.dtype().candle())?;
    let stat = |t: CTensor| -> Result<CTensor> { Ok(t.reshape(stat_dims.as_slice())?) };
    Ok((y, stat(mean)?, stat(rstd)?))
}

/// [`layer_norm`] by plain loops, for an input of `T` (f32 or f64) and parameters of `T`,
/// contiguous on the CPU (`None` otherwise): per row of `n = Π normalized_shape` elements, the
/// mean and the biased variance accumulated in f64 (scaled by `1/n`, as candle's `mean`),
/// `rstd = 1 / sqrt(var + eps)`, then `(x · rstd − mean · rstd) · weight + bias` in `T`. For
/// f64 these are the candle path's operations in its order; for f32 the statistics are
/// more precise than its f32 sums.
fn fast_layer_norm<T: Elem>(
    input: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
    stat_dims: &[usize],
) -> Option<Result<(CTensor, CTensor, CTensor)>> {
    let held = Read::new(input.inner());
    let x = held.slice::<T>()?;
    let (wh, bh) = (
        weight.map(|w| Read::new(w.inner())),
        bias.map(|b| Read::new(b.inner())),
    );
    let w = match &wh {
        Some(h) => Some(h.slice::<T>()?),
        None => None,
    };
    let b = match &bh {
        Some(h) => Some(h.slice::<T>()?),
        None => None,
    };
    let rows: usize = stat_dims.iter().product();
    if rows == 0 || x.len() % rows != 0 {
        return None;
    }
    let n = x.len() / rows;
    if w.is_some_and(|w| w.len() != n) || b.is_some_and(|b| b.len() != n) {
        return None;
    }
    let inv_n = 1.0 / n as f64;
    let mut y = vec![T::from_f64(0.0); x.len()];
    let (mut means, mut rstds) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    for (row, out) in x.chunks_exact(n).zip(y.chunks_exact_mut(n)) {
        let sum = row.iter().fold(0.0, |s, v| s + v.to_f64());
        let mean = sum * inv_n + 0.0;
        let mean_t = T::from_f64(mean);
        let squares = row.iter().fold(0.0, |s, v| {
            let d = v.to_f64() - mean;
            s + d * d
        });
        let var = squares * inv_n + 0.0;
        let rstd = T::from_f64(1.0 / (var + eps).sqrt());
        let shift = -(mean_t * rstd);
        for (o, &v) in out.iter_mut().zip(row) {
            *o = v * rstd + shift;
        }
        if let Some(w) = w {
            out.iter_mut().zip(w).for_each(|(o, &w)| *o *= w);
        }
        if let Some(b) = b {
            out.iter_mut().zip(b).for_each(|(o, &b)| *o += b);
        }
        means.push(mean_t);
        rstds.push(rstd);
    }
    let make = || -> Result<(CTensor, CTensor, CTensor)> {
        let cpu = &candle_core::Device::Cpu;
        Ok((
            CTensor::from_vec(y, input.dims(), cpu)?,
            CTensor::from_vec(means, stat_dims, cpu)?,
            CTensor::from_vec(rstds, stat_dims, cpu)?,
        ))
    };
    Some(make())
}

/// Layer norm over the last dim of a candle tensor with weight and bias of its width, for
/// the transformer operators.
pub(in crate::ops) fn layer_norm_last(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    let width = *x.dims().last().unwrap_or(&0) as i64;
    let (y, _, _) = layer_norm(x, &[width], Some(weight), Some(bias), eps)?;
    Tensor::new(y)
}

fn group_norm_op(_: &Ctx, a: &Args) -> Result<Value> {
    let input = a.tensor(0)?;
    let (weight, bias, eps) = (a.opt_tensor(2)?, a.opt_tensor(3)?, a.float(4)?);
    require_float(input, "group_norm")?;
    let c = channels(input, "group_norm")?;
    let groups = a.int(1)?;
    if groups <= 0 || c % to_usize(groups, "num_groups")? != 0 {
        return Err(script(format!(
            "Expected number of channels in input to be divisible by num_groups, but got input \
             of shape {:?} and num_groups={groups}",
            input.dims()
        )));
    }
    let groups = groups as usize;
    check_param(input, weight, "weight", c)?;
    check_param(input, bias, "bias", c)?;
    let n = input.dims()[0];
    let hxw = numel(&input.dims()[2..])?;
    let shape = Grouped { n, c, hxw, groups };
    let (y, _, _) = group_norm(input, weight, bias, shape, eps, input.dtype().candle())?;
    value(y)
}

/// An input seen as `(n, c, hxw)`, its channels in `groups` groups.
#[derive(Debug, Clone, Copy)]
struct Grouped {
    n: usize,
    c: usize,
    hxw: usize,
    groups: usize,
}

/// Group norm of `input` seen as `shape`: the output (the input's shape and type) and each
/// sample's and group's mean and rstd, `(n, groups)`, as `stat`. The caller has checked the
/// shapes.
fn group_norm(
    input: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    shape: Grouped,
    eps: f64,
    stat: DType,
) -> Result<(CTensor, CTensor, CTensor)> {
    let Grouped { n, c, hxw, groups } = shape;
    let work = compute_dtype(input.dtype());
    let (rows, total) = (n * groups, input.elem_count());
    if rows == 0 || total == 0 {
        let none = CTensor::zeros((n, groups), stat, input.device())?;
        return Ok((input.inner().clone(), none.clone(), none));
    }
    let x = input
        .inner()
        .to_dtype(work)?
        .reshape((rows, total / rows))?;
    let (mean, rstd) = row_stats(&x, eps)?;
    let y = normalize_rows(&x, &mean, &rstd)?.reshape((n, c, hxw))?;
    let w = weight.map(|w| per_channel(w, 3, work)).transpose()?;
    let b = bias.map(|b| per_channel(b, 3, work)).transpose()?;
    let y = affine(y, w, b)?
        .reshape(input.dims())?
        .to_dtype(input.dtype().candle())?;
    let stat_of = |t: CTensor| -> Result<CTensor> { Ok(t.reshape((n, groups))?.to_dtype(stat)?) };
    Ok((y, stat_of(mean)?, stat_of(rstd)?))
}

/// `native_group_norm` (Core ATen's group norm): `input` seen as `(N, C, HxW)`, with
/// PyTorch's checks and messages; the mean and rstd are float32 for a float16 or bfloat16
/// input with float32 parameters (PyTorch's mixed type), else the input's type.
fn native_group_norm_op(_: &Ctx, a: &Args) -> Result<Value> {
    let input = a.tensor(0)?;
    let (weight, bias) = (a.opt_tensor(1)?, a.opt_tensor(2)?);
    let (n, c, hxw, groups, eps) = (a.int(3)?, a.int(4)?, a.int(5)?, a.int(6)?, a.float(7)?);
    if groups <= 0 {
        return Err(script(format!(
            "Expected num groups to be greater than 0, got {groups}"
        )));
    }
    if c % groups != 0 {
        return Err(script(format!(
            "Expected number of channels in input to be divisible by num_groups, but got input \
             of shape {:?} and num_groups={groups}",
            input.dims()
        )));
    }
    for (t, what) in [(weight, "weight"), (bias, "bias")] {
        if let Some(t) = t.filter(|t| t.rank() != 1 || t.elem_count() as i64 != c) {
            return Err(script(format!(
                "Expected {what} to be a vector of size equal to the number of channels in \
                 input, but got {what} of shape {:?} and input of shape {:?}",
                t.dims(),
                input.dims()
            )));
        }
    }
    if hxw <= 0 {
        return Err(script(format!(
            "Expected HxW to be greater than 0, got {hxw}"
        )));
    }
    let shape = Grouped {
        n: to_usize(n, "N")?,
        c: to_usize(c, "C")?,
        hxw: to_usize(hxw, "HxW")?,
        groups: groups as usize,
    };
    if numel(&[shape.n, shape.c, shape.hxw])? != input.elem_count() {
        return Err(script(
            "Expected X.numel() == N * C * HxW to be true, but got false.",
        ));
    }
    let dtype = input.dtype();
    if !dtype.is_float() {
        return Err(script(format!(
            "\"GroupNormKernelImpl\" not implemented for '{}'",
            c10_name(dtype)
        )));
    }
    let reduced = matches!(dtype, ScalarType::Float16 | ScalarType::BFloat16);
    let mut mixed = false;
    for t in [weight, bias].into_iter().flatten() {
        if t.dtype() == ScalarType::Float32 && reduced {
            mixed = true;
        } else if t.dtype() != dtype {
            return Err(script(format!(
                "mixed dtype (CPU): expect parameter to have scalar type of {}",
                c10_name(dtype)
            )));
        }
    }
    let stat = if mixed { DType::F32 } else { dtype.candle() };
    let (y, mean, rstd) = group_norm(input, weight, bias, shape, eps, stat)?;
    Ok(Value::tuple(vec![value(y)?, value(mean)?, value(rstd)?]))
}

/// `input` normalized over each of `rows` equal consecutive blocks (per sample and group, or
/// per sample and channel), in the compute type and the input's shape.
fn per_group(input: &Tensor, rows: usize, eps: f64) -> Result<CTensor> {
    let work = compute_dtype(input.dtype());
    let total = input.elem_count();
    if rows == 0 || total == 0 {
        return Ok(input.inner().to_dtype(work)?);
    }
    let x = input
        .inner()
        .to_dtype(work)?
        .reshape((rows, total / rows))?;
    let (mean, rstd) = row_stats(&x, eps)?;
    Ok(normalize_rows(&x, &mean, &rstd)?.reshape(input.dims())?)
}

fn instance_norm_op(_: &Ctx, a: &Args) -> Result<Value> {
    let input = a.tensor(0)?;
    let (weight, bias) = (a.opt_tensor(1)?, a.opt_tensor(2)?);
    let (mean, var) = (a.opt_tensor(3)?, a.opt_tensor(4)?);
    let (use_input_stats, eps) = (a.bool(5)?, a.float(7)?);
    require_float(input, "instance_norm")?;
    let c = channels(input, "instance_norm")?;
    if !use_input_stats {
        return match (mean, var) {
            (Some(m), Some(v)) => value(batch_norm_eval(input, weight, bias, m, v, eps)?),
            _ => Err(script(
                "Expected running_mean and running_var to be defined when use_input_stats is \
                 false",
            )),
        };
    }
    if mean.is_some() || var.is_some() {
        return Err(script(
            "instance_norm with use_input_stats updates running statistics it is given; only \
             inference without them is supported",
        ));
    }
    if input.rank() < 3 || input.elem_count() / (input.dims()[0] * c).max(1) <= 1 {
        return Err(script(format!(
            "Expected more than 1 spatial element when training, got input size {:?}",
            input.dims()
        )));
    }
    check_param(input, weight, "weight", c)?;
    check_param(input, bias, "bias", c)?;
    let y = per_group(input, input.dims()[0] * c, eps)?;
    let (rank, work) = (input.rank(), compute_dtype(input.dtype()));
    let w = weight.map(|w| per_channel(w, rank, work)).transpose()?;
    let b = bias.map(|b| per_channel(b, rank, work)).transpose()?;
    value(affine(y, w, b)?.to_dtype(input.dtype().candle())?)
}

/// Two float tensors broadcast to one shape, in their compute type; the result's type.
fn broadcast_pair(x1: &Tensor, x2: &Tensor, op: &str) -> Result<(CTensor, CTensor, DType)> {
    require_float(x1, op)?;
    require_float(x2, op)?;
    let dtype = x1.dtype().promote(x2.dtype());
    let work = compute_dtype(dtype);
    let dims = super::linalg::broadcast_dims(x1.dims(), x2.dims())?;
    let a = x1.inner().to_dtype(work)?.broadcast_as(dims.as_slice())?;
    let b = x2.inner().to_dtype(work)?.broadcast_as(dims.as_slice())?;
    Ok((a, b, dtype.candle()))
}

/// `sum(x1/‖x1‖ · x2/‖x2‖)` along `dim`, each norm clamped to at least `eps`, as PyTorch
/// computes it.
fn cosine_similarity_op(_: &Ctx, a: &Args) -> Result<Value> {
    let (x1, x2) = (a.tensor(0)?, a.tensor(1)?);
    let eps = a.float(3)?;
    let (u, v, dtype) = broadcast_pair(x1, x2, "cosine_similarity")?;
    let dim = wrap_dim(a.int(2)?, u.rank())?;
    if u.rank() == 0 {
        return Err(script(
            "cosine_similarity needs tensors with at least one dim",
        ));
    }
    let norm =
        |t: &CTensor| -> Result<CTensor> { Ok(t.sqr()?.sum_keepdim(dim)?.sqrt()?.maximum(eps)?) };
    let y = (u.broadcast_div(&norm(&u)?)? * v.broadcast_div(&norm(&v)?)?)?.sum(dim)?;
    value(y.to_dtype(dtype)?)
}

/// `‖x1 − x2 + eps‖_p` along the last dim.
fn pairwise_distance_op(_: &Ctx, a: &Args) -> Result<Value> {
    let (x1, x2) = (a.tensor(0)?, a.tensor(1)?);
    let (p, eps, keepdim) = (a.float(2)?, a.float(3)?, a.bool(4)?);
    let (u, v, dtype) = broadcast_pair(x1, x2, "pairwise_distance")?;
    if u.rank() == 0 {
        return Err(script(
            "pairwise_distance needs tensors with at least one dim",
        ));
    }
    if p < 0.0 {
        return Err(script(format!(
            "pairwise_distance: p must be non-negative, got {p}"
        )));
    }
    let dim = u.rank() - 1;
    let d = ((u - v)? + eps)?.abs()?;
    let y = if p == 0.0 {
        d.ne(0.0)?.to_dtype(d.dtype())?.sum_keepdim(dim)?
    } else if p == 1.0 {
        d.sum_keepdim(dim)?
    } else if p == 2.0 {
        d.sqr()?.sum_keepdim(dim)?.sqrt()?
    } else if p.is_infinite() {
        d.max_keepdim(dim)?
    } else {
        d.powf(p)?.sum_keepdim(dim)?.powf(1.0 / p)?
    };
    let y = if keepdim { y } else { y.squeeze(dim)? };
    value(y.to_dtype(dtype)?)
}

#[cfg(test)]
#[rustfmt::skip]
mod tests {
    use crate::ops::nn::testing::*;
    use crate::ops::ScalarType;
    use crate::ops::Value;

    #[test]
    fn batch_norms_match_torch() {
        // torch.nn.functional.batch_norm on wave() inputs (torch 2.15.0); running_var is
        // wave(3, 4).abs() + 0.5.
        let (x, w, b, rm) = (
            wave(&[2, 3, 4], 0.),
            wave(&[3], 1.),
            wave(&[3], 2.),
            wave(&[3], 3.),
        );
        let rv = t_f32(&[1.2568026, 1.4999232, 1.2727644], &[3]);
        let eval = |training: bool, m: Value, v: Value| {
            let args = [
                x.clone(),
                w.clone(),
                b.clone(),
                m,
                v,
                Value::Bool(training),
                f(0.1),
                f(1e-5),
                Value::Bool(true),
            ];
            try_call_kw("aten::batch_norm", &args, &[])
        };
        let y = eval(false, rm.clone(), rv.clone()).unwrap();
        assert_eq!(dims(&y), [2, 3, 4]);
        close(
            &f64s(&y),
            &[
                0.8033738732337952, 1.2869184017181396, 1.5430444478988647, 1.4512919187545776,
                1.1276358366012573, 0.5723605751991272, 0.15067021548748016, 0.06089222803711891,
                -0.06374893337488174, 0.3242717981338501, 0.7075579166412354, 0.90584397315979,
                1.4448288679122925, 1.04288649559021, 0.5282976031303406, 0.14308132231235504,
                0.06354396045207977, 0.3558817505836487, 0.8836178183555603, 1.3985495567321777,
                0.9073043465614319, 0.8205729722976685, 0.49568885564804077, 0.08544999361038208,
            ],
            1e-5,
        );
        let y = eval(true, Value::None, Value::None).unwrap();
        assert_eq!(dims(&y), [2, 3, 4]);
        close(
            &f64s(&y),
            &[
                0.5028923749923706, 1.3682481050491333, 1.8266136646270752, 1.6624122858047485,
                1.568910002708435, 0.4185056686401367, -0.4551411271095276, -0.6411407589912415,
                -1.3802924156188965, -0.6363194584846497, 0.09857549518346786, 0.4787599742412567,
                1.6508461236953735, 0.9315263628959656, 0.010613374412059784, -0.6787731647491455,
                -0.6356469988822937, -0.029989365488290787, 1.0633599758148193, 2.1301817893981934,
                0.48156002163887024, 0.31526535749435425, -0.30765238404273987, -1.094225287437439,
            ],
            1e-5,
        );
        let e = eval(true, rm, rv).unwrap_err();
        assert!(e.contains("training mode"), "{e}");
    }

    #[test]
    fn layer_group_and_instance_norms_match_torch() {
        // torch.nn.functional.layer_norm/group_norm/instance_norm (torch 2.15.0).
        let x = wave(&[2, 3, 4], 0.);
        let y = call(
            "aten::layer_norm",
            &[
                x.clone(),
                ints(&[3, 4]),
                wave(&[3, 4], 1.),
                wave(&[3, 4], 2.),
            ],
        );
        assert_eq!(dims(&y), [2, 3, 4]);
        close(
            &f64s(&y),
            &[
                0.7405993938446045, 1.1579186916351318, 0.5773575305938721, -0.7743990421295166,
                -1.171667218208313, -0.010738523676991463, 1.2141597270965576, 1.1877381801605225,
                0.6193675398826599, 0.752477765083313, 1.159335732460022, 0.548353910446167,
                1.8974336385726929, 0.8012253046035767, -0.6903847455978394, -0.8768185973167419,
                -0.04410156235098839, 0.2900403141975403, -0.04063280299305916, 0.2423972636461258,
                1.3968496322631836, 1.8896276950836182, 0.7615548372268677, -0.7139520645141602,
            ],
            1e-5,
        );
        let y = call_kw(
            "aten::layer_norm",
            &[x.clone(), ints(&[4])],
            &[("eps", f(1e-3))],
        );
        assert_eq!(dims(&y), [2, 3, 4]);
        close(
            &f64s(&y),
            &[
                -1.634331464767456, 0.05506645888090134, 0.9499142169952393, 0.6293508410453796,
                1.5371590852737427, 0.22349771857261658, -0.7741307616233826, -0.9865261316299438,
                -1.4302003383636475, -0.38751721382141113, 0.6424431800842285, 1.17527437210083,
                1.3220648765563965, 0.5108449459075928, -0.5277236700057983, -1.3051860332489014,
                -1.1968520879745483, -0.6250082850456238, 0.4072994589805603, 1.4145606756210327,
                1.0208746194839478, 0.7526069283485413, -0.2522883713245392, -1.521193504333496,
            ],
            1e-5,
        );
        let y = call(
            "aten::group_norm",
            &[wave(&[2, 6, 5], 0.), i(3), wave(&[6], 1.), wave(&[6], 2.)],
        );
        assert_eq!(dims(&y), [2, 6, 5]);
        close(
            &f64s(&y),
            &[
                0.9082173705101013, 1.7171945571899414, 2.1456971168518066, 1.9921936988830566,
                1.3288792371749878, -0.09301352500915527, -0.8637292385101318, -1.0278148651123047,
                -0.5080981850624084, 0.45098984241485596, 0.3133554458618164, 0.6331622004508972,
                0.5041804909706116, -0.012927548959851265, -0.6749579310417175,
                -0.8746037483215332, -0.8805174231529236, -0.8590555191040039, -0.8203120231628418,
                -0.7825085520744324, -1.7371721267700195, -1.6164475679397583, -1.1642295122146606,
                -0.5932031273841858, -0.1719309538602829, 0.7285364866256714, 0.23484383523464203,
                -0.6375962495803833, -1.4784616231918335, -1.8922799825668335, 1.792780876159668,
                1.1466875076293945, 0.34188660979270935, -0.2431112676858902, -0.33317244052886963,
                -0.509799063205719, 0.4025711715221405, 1.2711505889892578, 1.6874327659606934,
                1.4556336402893066, -0.011276058852672577, -0.6957930326461792, -1.185909628868103,
                -1.251116156578064, -0.8607452511787415, -0.8147592544555664, -0.7764194011688232,
                -0.7585450410842896, -0.7695428133010864, -0.8042401671409607, -0.6524834632873535,
                -0.22110897302627563, -0.17303931713104248, -0.5308823585510254,
                -1.1263389587402344, -1.79703688621521, -2.197223663330078, -1.925858497619629,
                -1.110568881034851, -0.13479816913604736,
            ],
            1e-5,
        );
        let args = [
            x.clone(),
            wave(&[3], 1.),
            wave(&[3], 2.),
            Value::None,
            Value::None,
            Value::Bool(true),
            f(0.1),
            f(1e-5),
            Value::Bool(true),
        ];
        let y = call("aten::instance_norm", &args);
        assert_eq!(dims(&y), [2, 3, 4]);
        close(
            &f64s(&y),
            &[
                -0.47065073251724243, 0.9557927846908569, 1.7113577127456665, 1.4406899213790894,
                1.954503059387207, 0.6494184136390686, -0.3416966497898102, -0.5527052879333496,
                -1.222828984260559, -0.5176307559013367, 0.17896272242069244, 0.5393326282501221,
                2.0230424404144287, 1.339647650718689, 0.4647279977798462, -0.1902284175157547,
                -0.7609729170799255, -0.19318996369838715, 0.8317870497703552, 1.831895351409912,
                0.4351958930492401, 0.2536824941635132, -0.4262426495552063, -1.2848001718521118,
            ],
            1e-5,
        );
        let e = call_err("aten::layer_norm", &[x.clone(), ints(&[3])]);
        assert!(
            e.contains("expected input with shape [*, 3], but got input of size[2, 3, 4]"),
            "{e}"
        );
        let e = call_err("aten::group_norm", &[x, i(2)]);
        assert!(e.contains("divisible by num_groups"), "{e}");
    }

    #[test]
    fn native_group_norm_returns_mean_and_rstd_per_group() {
        // torch.ops.aten.native_group_norm (torch 2.15.0), x of shape (2, 4, 2).
        let x = t_f32(
            &[1., 2., 3., 5., 0., -1., 4., 4., 2., 2., 1., 0., 7., 1., 3., 9.],
            &[2, 4, 2],
        );
        let w = t_f32(&[1., 2., 0.5, -1.], &[4]);
        let b = t_f32(&[0., 1., -1., 0.5], &[4]);
        let args = |w: Value, b: Value, n: i64, c: i64, hxw: i64, g: i64| {
            vec![x.clone(), w, b, i(n), i(c), i(hxw), i(g), f(1e-5)]
        };
        let r = call("aten::native_group_norm", &args(w.clone(), b.clone(), 2, 4, 2, 2));
        let (y, mean, rstd) = (item(&r, 0), item(&r, 1), item(&r, 2));
        assert_eq!((dims(&y), dims(&mean), dims(&rstd)), (vec![2, 4, 2], vec![2, 2], vec![2, 2]));
        close(
            &f64s(&y),
            &[
                -1.183213233947754, -0.5070914030075073, 1.3380608558654785, 4.042548179626465,
                -1.3841745853424072, -1.6037029027938843, -0.48787736892700195,
                -0.48787736892700195, 0.9045274257659912, 0.9045274257659912, 0.39698171615600586,
                -2.0150914192199707, -0.6837724447250366, -1.6324552297592163, 1.1324553489685059,
                -0.7649103999137878,
            ],
            1e-5,
        );
        close(&f64s(&mean), &[2.75, 1.75, 1.25, 5.0], 1e-6);
        close(
            &f64s(&rstd),
            &[0.6761218309402466, 0.4390566051006317, 1.2060365676879883, 0.31622761487960815],
            1e-5,
        );
        let r = call("aten::native_group_norm", &args(Value::None, Value::None, 2, 4, 2, 4));
        close(
            &f64s(&item(&r, 0)),
            &[
                -0.9999799728393555, 0.9999799728393555, -0.9999949932098389, 0.9999949932098389,
                0.9999799728393555, -0.9999799728393555, 0.0, 0.0, 0.0, 0.0, 0.9999799728393555,
                -0.9999799728393555, 0.9999994039535522, -0.9999994039535522, -0.9999994039535522,
                0.9999994039535522,
            ],
            1e-5,
        );
        close(
            &f64s(&item(&r, 1)),
            &[1.5, 4.0, -0.5, 4.0, 2.0, 0.5, 4.0, 6.0],
            1e-6,
        );
        close(
            &f64s(&item(&r, 2)),
            &[
                1.999959945678711, 0.9999949932098389, 1.999959945678711, 316.2277526855469,
                316.2277526855469, 1.999959945678711, 0.3333331346511841, 0.3333331346511841,
            ],
            1e-5,
        );
        // The same numbers as group_norm's.
        let g = call("aten::group_norm", &[x.clone(), i(2), w.clone(), b.clone()]);
        let r = call("aten::native_group_norm", &args(w.clone(), b.clone(), 2, 4, 2, 2));
        close(&f64s(&g), &f64s(&item(&r, 0)), 1e-6);
        // float16 keeps its type in all three; float16 with float32 parameters gives float32
        // statistics (PyTorch's mixed type).
        let h = cast(&x, 5);
        let hargs = |w: Value| vec![h.clone(), w, Value::None, i(2), i(4), i(2), i(2), f(1e-5)];
        let r = call("aten::native_group_norm", &hargs(Value::None));
        let types = |r: &Value| (dtype(&item(r, 0)), dtype(&item(r, 1)), dtype(&item(r, 2)));
        assert_eq!(types(&r), (ScalarType::Float16, ScalarType::Float16, ScalarType::Float16));
        let r = call("aten::native_group_norm", &hargs(w.clone()));
        assert_eq!(types(&r), (ScalarType::Float16, ScalarType::Float32, ScalarType::Float32));
        // An empty batch.
        let empty = t_f32(&[], &[0, 4, 2]);
        let r = call(
            "aten::native_group_norm",
            &[empty, Value::None, Value::None, i(0), i(4), i(2), i(2), f(1e-5)],
        );
        assert_eq!((dims(&item(&r, 0)), dims(&item(&r, 1))), (vec![0, 4, 2], vec![0, 2]));

        // Messages from torch 2.15.0.
        let e = call_err("aten::native_group_norm", &args(Value::None, Value::None, 2, 4, 2, 3));
        assert!(e.contains("Expected number of channels in input to be divisible by num_groups, but got input of shape [2, 4, 2] and num_groups=3"), "{e}");
        let e = call_err("aten::native_group_norm", &args(Value::None, Value::None, 2, 4, 2, 0));
        assert!(e.contains("Expected num groups to be greater than 0, got 0"), "{e}");
        let e = call_err("aten::native_group_norm", &args(Value::None, Value::None, 2, 4, 3, 2));
        assert!(e.contains("Expected X.numel() == N * C * HxW to be true, but got false."), "{e}");
        let e = call_err("aten::native_group_norm", &args(Value::None, Value::None, 2, 4, 0, 2));
        assert!(e.contains("Expected HxW to be greater than 0, got 0"), "{e}");
        let e = call_err("aten::native_group_norm", &args(Value::None, Value::None, -2, 4, 2, 2));
        assert!(e.contains("must be non-negative"), "{e}");
        let short = t_f32(&[1., 2., 3.], &[3]);
        let e = call_err("aten::native_group_norm", &args(short, Value::None, 2, 4, 2, 2));
        assert!(e.contains("Expected weight to be a vector of size equal to the number of channels in input, but got weight of shape [3] and input of shape [2, 4, 2]"), "{e}");
        let square = t_f32(&[1.; 4], &[2, 2]);
        let e = call_err("aten::native_group_norm", &args(Value::None, square, 2, 4, 2, 2));
        assert!(e.contains("but got bias of shape [2, 2]"), "{e}");
        let e = call_err("aten::native_group_norm", &args(cast(&w, 7), Value::None, 2, 4, 2, 2));
        assert!(e.contains("mixed dtype (CPU): expect parameter to have scalar type of Float"), "{e}");
        let long = vec![cast(&x, 4), Value::None, Value::None, i(2), i(4), i(2), i(2), f(1e-5)];
        let e = call_err("aten::native_group_norm", &long);
        assert!(e.contains("\"GroupNormKernelImpl\" not implemented for 'Long'"), "{e}");
    }

    #[test]
    fn distances_match_torch() {
        // torch.nn.functional.cosine_similarity/pairwise_distance (torch 2.15.0).
        let y = call(
            "aten::cosine_similarity",
            &[wave(&[2, 3, 4], 0.), wave(&[3, 1], 1.)],
        );
        assert_eq!(dims(&y), [2, 4]);
        close(
            &f64s(&y),
            &[
                -0.08994543552398682, 0.19119544327259064, 0.18964198231697083,
                0.17466232180595398, 0.17421609163284302, 0.14131993055343628,
                -0.10060250759124756, -0.19503381848335266,
            ],
            1e-5,
        );
        let y = call(
            "aten::pairwise_distance",
            &[wave(&[3, 4], 0.), wave(&[4], 1.)],
        );
        assert_eq!(dims(&y), [3]);
        close(
            &f64s(&y),
            &[1.2648944854736328, 2.3453478813171387, 2.0039103031158447],
            1e-5,
        );
        let y = call_kw(
            "aten::pairwise_distance",
            &[wave(&[3, 4], 0.), wave(&[4], 1.)],
            &[("p", f(3.)), ("keepdim", Value::Bool(true))],
        );
        assert_eq!(dims(&y), [3, 1]);
        close(
            &f64s(&y),
            &[1.0691756010055542, 1.9421465396881104, 1.7064238786697388],
            1e-5,
        );
    }

    /// `v` through a transposed view of a copy with its last two dims swapped: the same
    /// values, not contiguous, so `layer_norm` takes its candle path.
    fn strided(v: &Value) -> Value {
        let t = v.as_tensor().unwrap();
        let r = t.rank();
        let view = t.inner().transpose(r - 2, r - 1).unwrap().contiguous().unwrap();
        let view = view.transpose(r - 2, r - 1).unwrap();
        assert!(!view.is_contiguous());
        Value::Tensor(crate::ops::Tensor::with_type(view, t.dtype()).unwrap())
    }

    #[test]
    fn layer_norm_loops_match_the_candle_path() {
        // Rows: ordinary values, a constant row (variance 0), one with NaN, one with inf.
        let mut data: Vec<f64> = (0..4 * 6).map(|i| (i as f64 * 0.9).sin() * 3.0 + 0.25).collect();
        data[6..12].iter_mut().for_each(|x| *x = -1.5);
        data[14] = f64::NAN;
        data[20] = f64::INFINITY;
        for code in [6, 7] {
            let x = cast(&t_f64(&data, &[2, 2, 6]), code);
            let (w, b) = (cast(&wave(&[6], 1.0), code), cast(&wave(&[6], 2.0), code));
            let w2 = cast(&wave(&[2, 6], 3.0), code);
            let cases: [(Value, Value, Value); 4] = [
                (ints(&[6]), w.clone(), b.clone()),
                (ints(&[6]), Value::None, Value::None),
                (ints(&[6]), w, Value::None),
                (ints(&[2, 6]), w2, Value::None),
            ];
            for (shape, weight, bias) in cases {
                let args = |x: Value| vec![x, shape.clone(), weight.clone(), bias.clone(), f(1e-5)];
                let fast = call("aten::native_layer_norm", &args(x.clone()));
                let slow = call("aten::native_layer_norm", &args(strided(&x)));
                for k in 0..3 {
                    let (got, want) = (item(&fast, k), item(&slow, k));
                    assert_eq!((dims(&got), dtype(&got)), (dims(&want), dtype(&want)));
                    let (got, want) = (f64s(&got), f64s(&want));
                    if code == 7 {
                        // f64: the candle path's operations in its order, the same bits.
                        for (g, w) in got.iter().zip(&want) {
                            assert!(g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()), "{g} vs {w}");
                        }
                    } else {
                        // f32: statistics accumulated in f64, a little more precise.
                        for (g, w) in got.iter().zip(&want) {
                            let near = (g - w).abs() <= 1e-6 * (1.0 + w.abs());
                            assert!(g == w || near || (g.is_nan() && w.is_nan()), "{g} vs {w}");
                        }
                    }
                }
                let y = f64s(&item(&fast, 0));
                assert!(y[12..18].iter().all(|v| v.is_nan()) && y[18..24].iter().all(|v| v.is_nan()));
            }
        }
    }
}
