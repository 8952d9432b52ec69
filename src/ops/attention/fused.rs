//! The fused multi-head attention by plain loops, for f32 and f64 tensors on the CPU whose
//! elements are contiguous: one projection of the queries, keys and values (one product with
//! the whole `qkv_weight` when they are one tensor, as PyTorch's self-attention), their biases
//! and the queries' scale in one pass, then per batch and head the scores, the masked softmax
//! and the weighted values written straight into the heads' columns, and the output
//! projection. The candle path stays for other devices and types and for what this one does
//! not read (a strided or other-typed operand, a mask of an unexpected shape: the candle path
//! then gives PyTorch's message).

use candle_core::{Device, Tensor as CTensor};

use super::super::elementwise::fast::{Elem, Read};
use super::super::nn::linear;
use super::{Ctx, MhaWeights, Result, ScalarType, Tensor};

/// The sizes of one fused attention call.
#[derive(Clone, Copy)]
pub(super) struct Sizes {
    /// Batch, query length, key length.
    pub(super) b: usize,
    pub(super) l: usize,
    pub(super) s: usize,
    /// Embedding width and head count.
    pub(super) embed: usize,
    pub(super) heads: usize,
}

/// Which mask entries leave a score out: `(batch, head, query, key)` to an index into the
/// mask's elements.
#[derive(Clone, Copy)]
enum MaskShape {
    /// `(L, S)`.
    Attention,
    /// `(B, S)`.
    KeyPadding,
    /// `(B, H, L, S)`.
    Full,
}

/// A mask's entries as "left out" flags, with how they index; `None` where the candle path
/// should handle it (its shape does not fit its type: that path refuses it).
fn mask_flags(mask: &Tensor, mask_type: Option<i64>, z: Sizes) -> Option<(Vec<bool>, MaskShape)> {
    let (dims, Sizes { b, l, s, heads, .. }) = (mask.dims(), z);
    let shape = match mask_type {
        Some(0) if dims == [l, s] => MaskShape::Attention,
        Some(1) if dims == [b, s] => MaskShape::KeyPadding,
        Some(2) | None if dims == [b, heads, l, s] => MaskShape::Full,
        _ => return None,
    };
    let held = Read::new(mask.inner());
    let flags = match mask.dtype() {
        ScalarType::Bool => held.slice::<u8>()?.iter().map(|&m| m != 0).collect(),
        ScalarType::Float32 => held.slice::<f32>()?.iter().map(|&m| m != 0.0).collect(),
        ScalarType::Float64 => held.slice::<f64>()?.iter().map(|&m| m != 0.0).collect(),
        _ => return None,
    };
    Some((flags, shape))
}

/// `_native_multi_head_attention` (see [`super::native_mha`]) by plain loops, for f32 and
/// f64 CPU tensors; `None` where it does not apply. The caller has checked the sizes.
pub(super) fn native_mha(
    cx: &Ctx,
    (q, k, v): (&Tensor, &Tensor, &Tensor),
    z: Sizes,
    w: &MhaWeights,
    mask: Option<&Tensor>,
    mask_type: Option<i64>,
    weights: Option<bool>,
) -> Option<Result<(Tensor, Option<Tensor>)>> {
    match q.dtype() {
        ScalarType::Float32 => run::<f32>(cx, (q, k, v), z, w, mask, mask_type, weights),
        ScalarType::Float64 => run::<f64>(cx, (q, k, v), z, w, mask, mask_type, weights),
        _ => None,
    }
}

/// A projection's output rows and where the queries', keys' and values' columns start in them.
struct Projected {
    /// `(rows, width)` tensors: one for all three, or one each.
    parts: Vec<Tensor>,
    width: usize,
}

/// The products `x · W_iᵀ` without their biases: one with the whole weight where the three
/// inputs are one tensor.
fn project(
    cx: &Ctx,
    (q, k, v): (&Tensor, &Tensor, &Tensor),
    w: &MhaWeights,
    embed: usize,
) -> Result<Projected> {
    let same = q.inner().id() == k.inner().id() && k.inner().id() == v.inner().id();
    if same {
        let y = linear(cx, q, w.qkv_weight, None)?;
        return Ok(Projected {
            parts: vec![y],
            width: 3 * embed,
        });
    }
    let part = |i: usize| -> Result<Tensor> {
        Tensor::with_type(
            w.qkv_weight.inner().narrow(0, i * embed, embed)?,
            w.qkv_weight.dtype(),
        )
    };
    let parts = [q, k, v]
        .iter()
        .enumerate()
        .map(|(i, x)| linear(cx, x, &part(i)?, None))
        .collect::<Result<Vec<_>>>()?;
    Ok(Projected {
        parts,
        width: embed,
    })
}

#[allow(clippy::too_many_arguments)]
fn run<T: Elem>(
    cx: &Ctx,
    qkv: (&Tensor, &Tensor, &Tensor),
    z: Sizes,
    w: &MhaWeights,
    mask: Option<&Tensor>,
    mask_type: Option<i64>,
    weights: Option<bool>,
) -> Option<Result<(Tensor, Option<Tensor>)>> {
    let cpu = |t: &Tensor| Read::new(t.inner()).slice::<T>().is_some();
    if !(cpu(qkv.0) && cpu(qkv.1) && cpu(qkv.2) && cpu(w.qkv_bias)) {
        return None;
    }
    let mask = match mask {
        Some(m) => Some(mask_flags(m, mask_type, z)?),
        None => None,
    };
    let heads = match attend::<T>(cx, qkv, z, w, mask.as_ref()) {
        Ok(Some(h)) => h,
        Ok(None) => return None,
        Err(e) => return Some(Err(e)),
    };
    Some(finish(cx, heads, z, w, qkv.0.dtype(), weights))
}

/// The heads' outputs `(B·L, E)` and the attention weights `(B, H, L, S)`.
struct Heads<T> {
    ctx: Vec<T>,
    probs: Vec<T>,
}

/// Projections, scores, masked softmax and weighted values; `Ok(None)` where a projection's
/// output cannot be read as slices (not expected: [`linear`] returns contiguous CPU tensors).
fn attend<T: Elem>(
    cx: &Ctx,
    qkv: (&Tensor, &Tensor, &Tensor),
    z: Sizes,
    w: &MhaWeights,
    mask: Option<&(Vec<bool>, MaskShape)>,
) -> Result<Option<Heads<T>>> {
    let Sizes {
        b,
        l,
        s,
        embed,
        heads,
    } = z;
    let dh = embed / heads;
    let projected = project(cx, qkv, w, embed)?;
    let bias_held = Read::new(w.qkv_bias.inner());
    let held: Vec<Read> = projected
        .parts
        .iter()
        .map(|t| Read::new(t.inner()))
        .collect();
    let (Some(bias), Some(slices)) = (
        bias_held.slice::<T>(),
        held.iter()
            .map(Read::slice::<T>)
            .collect::<Option<Vec<&[T]>>>(),
    ) else {
        return Ok(None);
    };
    let width = projected.width;
    // Column `c` of part `i` (queries, keys, values) of row `r`.
    let at = |i: usize, r: usize, c: usize| -> T {
        match slices.len() {
            1 => slices[0][r * width + i * embed + c],
            _ => slices[i][r * width + c],
        }
    };
    // PyTorch's transform_bias_rescale_qkv: `(x + b)`, the queries then scaled by 1/√dh.
    let inv = if T::DTYPE == candle_core::DType::F64 {
        T::from_f64(1.0 / (dh as f64).sqrt())
    } else {
        T::from_f64(f64::from(1.0 / (dh as f32).sqrt()))
    };
    let zero = T::from_f64(0.0);
    let biased = |i: usize, rows: usize, scale: bool| -> Vec<T> {
        let mut out = Vec::with_capacity(rows * embed);
        for r in 0..rows {
            for c in 0..embed {
                let y = at(i, r, c) + bias[i * embed + c];
                out.push(if scale { y * inv + zero } else { y });
            }
        }
        out
    };
    let (qs, ks, vs) = (
        biased(0, b * l, true),
        biased(1, b * s, false),
        biased(2, b * s, false),
    );
    let mut ctx = vec![zero; b * l * embed];
    let mut probs = vec![zero; b * heads * l * s];
    let neg_inf = T::from_f64(f64::NEG_INFINITY);
    for bi in 0..b {
        for h in 0..heads {
            let block = &mut probs[(bi * heads + h) * l * s..][..l * s];
            for (i, row) in block.chunks_exact_mut(s).enumerate() {
                let qrow = &qs[(bi * l + i) * embed + h * dh..][..dh];
                for (j, p) in row.iter_mut().enumerate() {
                    let krow = &ks[(bi * s + j) * embed + h * dh..][..dh];
                    let dot = qrow
                        .iter()
                        .zip(krow)
                        .fold(zero, |acc, (&x, &y)| acc + x * y);
                    let out = match mask {
                        Some((flags, shape)) => {
                            flags[match shape {
                                MaskShape::Attention => i * s + j,
                                MaskShape::KeyPadding => bi * s + j,
                                MaskShape::Full => ((bi * heads + h) * l + i) * s + j,
                            }]
                        }
                        None => false,
                    };
                    *p = if out { neg_inf } else { dot };
                }
                softmax_row(row);
                let dst = &mut ctx[(bi * l + i) * embed + h * dh..][..dh];
                for (j, &p) in row.iter().enumerate() {
                    let vrow = &vs[(bi * s + j) * embed + h * dh..][..dh];
                    dst.iter_mut().zip(vrow).for_each(|(d, &x)| *d += p * x);
                }
            }
        }
    }
    Ok(Some(Heads { ctx, probs }))
}

/// `exp(x − max) / Σ exp(x − max)` in place, as the candle path's softmax loop: a row of
/// `-inf` is NaN, NaN scores are skipped by the maximum and make the row NaN.
pub(super) fn softmax_row<T: Elem>(row: &mut [T]) {
    let max = row.iter().fold(
        T::from_f64(f64::NEG_INFINITY),
        |m, &v| if v > m { v } else { m },
    );
    let mut sum = T::from_f64(0.0);
    for d in row.iter_mut() {
        *d = (*d - max).exp();
        sum += *d;
    }
    row.iter_mut().for_each(|d| *d /= sum);
}

/// The output projection, and the attention weights as asked (averaged over heads: summed in
/// head order and scaled by `1/H`, as the candle path's `sum(1) / H`).
fn finish<T: Elem>(
    cx: &Ctx,
    h: Heads<T>,
    z: Sizes,
    w: &MhaWeights,
    dtype: ScalarType,
    weights: Option<bool>,
) -> Result<(Tensor, Option<Tensor>)> {
    let Sizes {
        b,
        l,
        s,
        embed,
        heads,
    } = z;
    let cpu = &Device::Cpu;
    let ctx = Tensor::with_type(CTensor::from_vec(h.ctx, (b, l, embed), cpu)?, dtype)?;
    let out = linear(cx, &ctx, w.proj_weight, Some(w.proj_bias))?;
    let attn = match weights {
        None => None,
        Some(false) => Some(Tensor::with_type(
            CTensor::from_vec(h.probs, (b, heads, l, s), cpu)?,
            dtype,
        )?),
        Some(true) => {
            let scale = T::from_f64(1.0 / heads as f64);
            let zero = T::from_f64(0.0);
            let mut avg = vec![zero; b * l * s];
            for (bi, dst) in avg.chunks_exact_mut(l * s).enumerate() {
                for hi in 0..heads {
                    let src = &h.probs[(bi * heads + hi) * l * s..][..l * s];
                    dst.iter_mut().zip(src).for_each(|(d, &p)| *d += p);
                }
                dst.iter_mut().for_each(|d| *d = *d * scale + zero);
            }
            Some(Tensor::with_type(
                CTensor::from_vec(avg, (b, l, s), cpu)?,
                dtype,
            )?)
        }
    };
    Ok((out, attn))
}
