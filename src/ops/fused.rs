//! Runs of operator calls done in one pass, for the TorchScript traces
//! (`crate::script`'s trace fusions): `linear(a + b)` and `linear(cat([x,
//! one_hot(c, n).float()], -1))`, on the narrow Linear kernel the seed's dedicated models use,
//! and a `linear` of the program's weights with its layer kept.
//! Each returns `None` where its fast path does not apply (another type, shape or device, a
//! category out of range); the caller then runs the operators one by one, which also gives
//! their errors.
//!
//! A [`LayerCache`] belongs to one fused step of one trace, whose operands have the same types
//! and shapes on every run (the trace checks them): once it holds a layer, the checks that
//! depend on no more than those have passed, and are not made again.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use super::nn::prepared_linear;
use super::{Ctx, ScalarType, Tensor};
use crate::error::Result;
use crate::linear::Linear;

/// Where a fused step keeps its Linear layer: set on its first run where the weight and bias
/// are the program's constants, so later runs skip the look-up.
pub(crate) type LayerCache = OnceLock<Arc<Linear>>;

/// The layer of `weight` and `bias`, from `cache` where it holds one.
fn layer<'c>(
    cx: &Ctx,
    weight: &Tensor,
    bias: Option<&Tensor>,
    cache: Option<&'c LayerCache>,
) -> Result<Cow<'c, Arc<Linear>>> {
    if let Some(layer) = cache.and_then(OnceLock::get) {
        return Ok(Cow::Borrowed(layer));
    }
    let layer = prepared_linear(cx, weight, bias)?;
    if let Some(cache) = cache {
        let _ = cache.set(layer.clone());
    }
    Ok(Cow::Owned(layer))
}

/// The weight and bias `linear` takes, checked: an f32 `[out, in]` weight, a bias of `[out]`
/// or none.
fn layer_parts<'a>(
    weight: &'a Tensor,
    bias: Option<&'a Tensor>,
    inputs: usize,
) -> Option<(&'a Tensor, Option<&'a Tensor>)> {
    let [out, k] = *weight.dims() else {
        return None;
    };
    let bias_fits = bias.is_none_or(|b| b.dims() == [out] && b.dtype() == ScalarType::Float32);
    (weight.dtype() == ScalarType::Float32 && k == inputs && bias_fits).then_some((weight, bias))
}

/// The layer of `weight` and `bias`, once `linear`'s output for an input of `dims` is checked
/// against the limits.
fn checked_layer<'c>(
    cx: &Ctx,
    dims: &[usize],
    weight: &Tensor,
    bias: Option<&Tensor>,
    cache: Option<&'c LayerCache>,
) -> Result<Cow<'c, Arc<Linear>>> {
    // The output's element count is the input's rows times the layer's outputs.
    let rows = dims.split_last().map_or(Some(1), |(_, leading)| {
        leading.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
    });
    match rows {
        Some(rows) => cx.check("aten::linear", &[rows, weight.dims()[0]])?,
        None => {
            let mut out = dims.to_vec();
            if let Some(last) = out.last_mut() {
                *last = weight.dims()[0];
            }
            cx.check("aten::linear", &out)?
        }
    }
    layer(cx, weight, bias, cache)
}

/// `linear(x, weight, bias)` for an f32 `x` on the CPU, its layer from `cache`: the operator's
/// own path ([`super::nn`]'s `linear` on a [`Linear`]) without looking the layer up.
pub(crate) fn linear(
    cx: &Ctx,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    cache: &LayerCache,
) -> Result<Option<Tensor>> {
    if let Some(layer) = cache.get() {
        return Ok(Some(Tensor::new(layer.forward(x.inner())?)?));
    }
    let Some(&k) = x.dims().last() else {
        return Ok(None);
    };
    if x.dtype() != ScalarType::Float32 || !x.device().is_cpu() || x.elem_count() == 0 {
        return Ok(None);
    }
    let Some((weight, bias)) = layer_parts(weight, bias, k) else {
        return Ok(None);
    };
    let layer = checked_layer(cx, x.dims(), weight, bias, Some(cache))?;
    Ok(Some(Tensor::new(layer.forward(x.inner())?)?))
}

/// `linear(a + b, weight, bias)` for f32 `a` and `b` of one shape on the CPU; `cache` keeps
/// the layer where `weight` and `bias` never change.
pub(crate) fn sum_linear(
    cx: &Ctx,
    a: &Tensor,
    b: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    cache: Option<&LayerCache>,
) -> Result<Option<Tensor>> {
    if let Some(layer) = cache.and_then(OnceLock::get) {
        return Ok(Some(Tensor::new(layer.forward_sum(a.inner(), b.inner())?)?));
    }
    let f32_cpu = |t: &Tensor| t.dtype() == ScalarType::Float32 && t.device().is_cpu();
    let Some(&k) = a.dims().last() else {
        return Ok(None);
    };
    if !(f32_cpu(a) && f32_cpu(b) && a.dims() == b.dims() && a.elem_count() > 0) {
        return Ok(None);
    }
    let Some((weight, bias)) = layer_parts(weight, bias, k) else {
        return Ok(None);
    };
    let layer = checked_layer(cx, a.dims(), weight, bias, cache)?;
    Ok(Some(Tensor::new(layer.forward_sum(a.inner(), b.inner())?)?))
}

/// `linear(cat([x, one_hot(categories, classes).float()], -1), weight, bias)` for f32 `x`
/// `[*, features]` on the CPU and int64 `categories` `[*]`, each in `0..classes`; `cache` as
/// for [`sum_linear`].
pub(crate) fn one_hot_linear(
    cx: &Ctx,
    x: &Tensor,
    categories: &Tensor,
    classes: i64,
    weight: &Tensor,
    bias: Option<&Tensor>,
    cache: Option<&LayerCache>,
) -> Result<Option<Tensor>> {
    let Some((&features, leading)) = x.dims().split_last() else {
        return Ok(None);
    };
    let kept = cache.and_then(OnceLock::get);
    let fits = x.dtype() == ScalarType::Float32
        && x.device().is_cpu()
        && x.elem_count() > 0
        && categories.dtype() == ScalarType::Int64
        && categories.dims() == leading
        && classes > 0;
    if kept.is_none() && !fits {
        return Ok(None);
    }
    // Read in place where the categories are contiguous on the CPU.
    let cats = match super::shape::host::categories(categories.inner(), classes) {
        Some(cats) => cats,
        None => {
            let cats = categories.inner().flatten_all()?.to_vec1::<i64>()?;
            let fit = cats.iter().all(|&c| 0 <= c && c < classes);
            fit.then(|| cats.iter().map(|&c| c as u32).collect())
        }
    };
    let Some(cats) = cats else {
        return Ok(None);
    };
    let layer = match kept {
        Some(layer) => Cow::Borrowed(layer),
        None => match layer_parts(weight, bias, features + classes as usize) {
            Some((weight, bias)) => checked_layer(cx, x.dims(), weight, bias, cache)?,
            None => return Ok(None),
        },
    };
    let y = layer.forward_one_hot(x.inner(), &cats, classes as usize)?;
    Ok(Some(Tensor::new(y)?))
}
