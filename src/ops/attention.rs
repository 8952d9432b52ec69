//! Attention: `scaled_dot_product_attention`, and the fused inference paths scripted
//! `nn.MultiheadAttention` and `nn.TransformerEncoderLayer` take when grad is off
//! (`_native_multi_head_attention`, `_transformer_encoder_layer_fwd`), each computed as
//! PyTorch's CPU kernels compute it.
//!
//! The two differ on masks, as in PyTorch: `scaled_dot_product_attention` takes a bool mask
//! where true means "attend" or a float mask that is added, and gives zeros for a query that
//! attends to nothing; the fused paths take a mask where nonzero means "masked out" (a float
//! mask is converted to bool), shaped by `mask_type` (0: `(L, S)` attention mask, 1: `(B, S)`
//! key padding mask, 2: the scores' own `(B, H, L, S)`), and give NaN for a fully masked
//! query. Padded positions of a key padding mask get ordinary outputs (PyTorch's layer does not
//! zero them; only `nn.TransformerEncoder`'s nested-tensor path does).

use candle_core::{DType, Tensor as CTensor, D};

use super::elementwise::fast;
use super::elementwise::promote::Operand;
use super::nn::{compute_dtype, layer_norm_last, linear, matmul};
use super::registry::{Args, Builder, Ctx};
use super::tensor::Tensor;
use super::value::Value;
use super::ScalarType;
use crate::error::{Error, Result};

mod fused;
#[cfg(test)]
#[rustfmt::skip]
mod tests;

/// Registers this family's operators.
pub(super) fn register(b: &mut Builder) {
    b.add(
        "aten::scaled_dot_product_attention(Tensor query, Tensor key, Tensor value, Tensor? attn_mask=None, float dropout_p=0., bool is_causal=False, *, float? scale=None, bool enable_gqa=False) -> Tensor",
        sdpa_op,
    );
    b.add(
        "aten::_native_multi_head_attention(Tensor query, Tensor key, Tensor value, int embed_dim, int num_head, Tensor qkv_weight, Tensor qkv_bias, Tensor proj_weight, Tensor proj_bias, Tensor? mask=None, bool need_weights=True, bool average_attn_weights=True, int? mask_type=None) -> (Tensor, Tensor)",
        native_mha_op,
    );
    b.add(
        "aten::_transformer_encoder_layer_fwd(Tensor src, int embed_dim, int num_heads, Tensor qkv_weight, Tensor qkv_bias, Tensor proj_weight, Tensor proj_bias, bool use_gelu, bool norm_first, float eps, Tensor norm_weight_1, Tensor norm_bias_1, Tensor norm_weight_2, Tensor norm_bias_2, Tensor ffn_weight_1, Tensor ffn_bias_1, Tensor ffn_weight_2, Tensor ffn_bias_2, Tensor? mask=None, int? mask_type=None) -> Tensor",
        encoder_layer_op,
    );
}

fn script(message: impl Into<String>) -> Error {
    Error::Script(message.into())
}

fn wrap(t: CTensor, dtype: ScalarType) -> Result<Tensor> {
    Tensor::with_type(t.to_dtype(dtype.candle())?, dtype)
}

/// Softmax over the last dim in the compute type: f32 and f64 on the CPU by direct loops
/// (candle's op hands every call's rows to rayon's threads, which costs more than these
/// rows), candle's op elsewhere. Both compute `exp(x - max) / Σ exp(x - max)` per row.
fn softmax(scores: &CTensor) -> Result<CTensor> {
    let scores = scores.contiguous()?;
    if scores.device().is_cpu() {
        match scores.dtype() {
            DType::F32 => return softmax_rows::<f32>(&scores),
            DType::F64 => return softmax_rows::<f64>(&scores),
            _ => {}
        }
    }
    Ok(candle_nn::ops::softmax_last_dim(&scores)?)
}

/// `exp` for the CPU types the softmax loops take.
trait Exp: crate::cpu::Float {
    fn exp(self) -> Self;
}

impl Exp for f32 {
    fn exp(self) -> Self {
        f32::exp(self)
    }
}

impl Exp for f64 {
    fn exp(self) -> Self {
        f64::exp(self)
    }
}

/// [`softmax`] of a contiguous CPU tensor in `T`. A row of `-inf` is NaN, as candle's is.
fn softmax_rows<T: Exp>(x: &CTensor) -> Result<CTensor> {
    let n = x.dims().last().copied().unwrap_or(1).max(1);
    let (storage, layout) = x.storage_and_layout();
    let candle_core::Storage::Cpu(cpu) = &*storage else {
        return Err(script("softmax: expected a CPU tensor"));
    };
    let src = crate::cpu::contiguous::<T>(cpu, layout)?;
    let mut out = vec![T::ZERO; src.len()];
    for (row, dst) in src.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        let max = row.iter().fold(
            T::from_f64(f64::NEG_INFINITY),
            |m, &v| if v > m { v } else { m },
        );
        let mut sum = T::ZERO;
        for (d, &v) in dst.iter_mut().zip(row) {
            *d = (v - max).exp();
            sum += *d;
        }
        dst.iter_mut().for_each(|d| *d /= sum);
    }
    Ok(CTensor::from_vec(out, x.dims(), &candle_core::Device::Cpu)?)
}

fn neg_inf_like(t: &CTensor) -> Result<CTensor> {
    Ok(CTensor::full(f64::NEG_INFINITY, t.dims(), t.device())?.to_dtype(t.dtype())?)
}

fn sdpa_op(cx: &Ctx, a: &Args) -> Result<Value> {
    let (q, k, v) = (a.tensor(0)?, a.tensor(1)?, a.tensor(2)?);
    let mask = a.opt_tensor(3)?;
    let (dropout, causal, scale, gqa) = (a.float(4)?, a.bool(5)?, a.opt_float(6)?, a.bool(7)?);
    if dropout != 0.0 {
        return Err(script(format!(
            "scaled_dot_product_attention with dropout_p={dropout} is random; only dropout_p=0 \
             (inference) is supported"
        )));
    }
    if q.dtype() != k.dtype() || q.dtype() != v.dtype() {
        return Err(script(format!(
            "Expected query, key, and value to have the same dtype, but got query.dtype: {} \
             key.dtype: {} and value.dtype: {} instead.",
            q.dtype().name(),
            k.dtype().name(),
            v.dtype().name()
        )));
    }
    if !q.dtype().is_float() {
        return Err(script(format!(
            "scaled_dot_product_attention needs floating-point tensors, not {}",
            q.dtype().name()
        )));
    }
    if q.rank() < 2 || k.rank() < 2 || v.rank() < 2 {
        return Err(script(format!(
            "Expected query, key, and value to all be  at least 2 dimensional, but got query.dim: \
             {} key.dim: {} and value.dim: {} instead.",
            q.rank(),
            k.rank(),
            v.rank()
        )));
    }
    if let Some(m) = mask {
        if m.dtype() != ScalarType::Bool && m.dtype() != q.dtype() {
            return Err(script(format!(
                "Expected attn_mask dtype to be bool or float or to match query dtype, but got \
                 attn_mask.dtype: {} and  query.dtype: {} instead.",
                m.dtype().name(),
                q.dtype().name()
            )));
        }
        if causal {
            return Err(script(
                "_scaled_dot_product_attention: Explicit attn_mask should not be set when \
                 is_causal=True",
            ));
        }
    }
    let (k, v) = if gqa {
        repeat_heads(q, k, v)?
    } else {
        (k.clone(), v.clone())
    };
    let out = sdpa(cx, q, &k, &v, mask, causal, scale)?;
    Ok(Value::Tensor(out))
}

/// `enable_gqa`: key and value heads (dim -3) repeated to the query's, each head
/// `q_heads / kv_heads` times in a row.
fn repeat_heads(q: &Tensor, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
    if q.rank() < 3 || k.rank() < 3 || v.rank() < 3 {
        return Ok((k.clone(), v.clone()));
    }
    let heads = |t: &Tensor| t.dims()[t.rank() - 3];
    let (hq, hk, hv) = (heads(q), heads(k), heads(v));
    if hk == 0 || hv == 0 || hq % hk != 0 || hq % hv != 0 {
        return Err(script(format!(
            "enable_gqa: the query's {hq} heads must be a multiple of the key's {hk} and the \
             value's {hv}"
        )));
    }
    let repeat = |t: &Tensor, h: usize| -> Result<Tensor> {
        let n = hq / h;
        if n == 1 {
            return Ok(t.clone());
        }
        let index: Vec<u32> = (0..hq).map(|i| (i / n) as u32).collect();
        let index = CTensor::from_vec(index, hq, t.device())?;
        Tensor::with_type(t.inner().index_select(&index, t.rank() - 3)?, t.dtype())
    };
    Ok((repeat(k, hk)?, repeat(v, hv)?))
}

/// `softmax(q·kᵀ·scale + mask)·v`, batch dims broadcast; a query attending to nothing gives
/// zeros.
fn sdpa(
    cx: &Ctx,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    causal: bool,
    scale: Option<f64>,
) -> Result<Tensor> {
    let dtype = q.dtype();
    let work = compute_dtype(dtype);
    let e = q.dims()[q.rank() - 1];
    let scale = scale.unwrap_or(1.0 / (e as f64).sqrt());
    let up = |t: &Tensor| -> Result<Tensor> { Tensor::new(t.inner().to_dtype(work)?) };
    let kt = Tensor::new(k.inner().to_dtype(work)?.transpose(D::Minus1, D::Minus2)?)?;
    let scores = matmul(cx, &up(q)?, &kt)?.into_inner().affine(scale, 0.0)?;
    let (l, s) = (scores.dim(D::Minus2)?, scores.dim(D::Minus1)?);
    let scores = match (mask, causal) {
        (Some(m), _) if m.dtype() == ScalarType::Bool => {
            let dims = super::nn::broadcast_dims(scores.dims(), m.dims())?;
            let scores = scores.broadcast_as(dims.as_slice())?;
            let m = m.inner().broadcast_as(dims.as_slice())?;
            m.where_cond(&scores, &neg_inf_like(&scores)?)?
        }
        (Some(m), _) => {
            super::nn::broadcast_dims(scores.dims(), m.dims())?;
            scores.broadcast_add(&m.inner().to_dtype(work)?)?
        }
        (None, true) => {
            let keep: Vec<u8> = (0..l)
                .flat_map(|i| (0..s).map(move |j| u8::from(j <= i)))
                .collect();
            let keep =
                CTensor::from_vec(keep, (l, s), scores.device())?.broadcast_as(scores.dims())?;
            keep.where_cond(&scores, &neg_inf_like(&scores)?)?
        }
        (None, false) => scores,
    };
    let weights = softmax(&scores)?;
    // PyTorch's safe softmax: a row of -inf scores attends to nothing.
    let dead = scores.max_keepdim(D::Minus1)?.eq(f64::NEG_INFINITY)?;
    let weights = dead
        .broadcast_as(weights.dims())?
        .where_cond(&weights.zeros_like()?, &weights)?;
    let out = matmul(cx, &Tensor::new(weights)?, &up(v)?)?;
    wrap(out.into_inner(), dtype)
}

/// The checked sizes of a fused attention call: `(batch, query length, key length)`.
fn mha_sizes(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    embed: usize,
    heads: usize,
) -> Result<(usize, usize, usize)> {
    for (t, name) in [(q, "query"), (k, "key"), (v, "value")] {
        if t.rank() != 3 {
            return Err(script(format!(
                "expected 3-D `{name}`, got {}-D tensor",
                t.rank()
            )));
        }
        if t.dims()[2] != embed {
            return Err(script(format!(
                "passed-in embed_dim {embed} didn't match last dim of {name} {}",
                t.dims()[2]
            )));
        }
        if t.dtype() != q.dtype() {
            return Err(script(format!(
                "{name} has type {}, the query {}",
                t.dtype().name(),
                q.dtype().name()
            )));
        }
    }
    if !q.dtype().is_float() {
        return Err(script(format!(
            "attention needs floating-point tensors, not {}",
            q.dtype().name()
        )));
    }
    if heads == 0 || !embed.is_multiple_of(heads) {
        return Err(script(format!(
            "embed_dim must be divisible by num_heads, got embed_dim={embed} and num_heads={heads}"
        )));
    }
    if q.dims() != k.dims() || k.dims() != v.dims() {
        return Err(script(format!(
            "expected `query`/`key`/`value` shapes to match, got {:?}, {:?} and {:?}",
            q.dims(),
            k.dims(),
            v.dims()
        )));
    }
    let (b, l, s) = (q.dims()[0], q.dims()[1], k.dims()[1]);
    Ok((b, l, s))
}

/// The fused multi-head attention's weights, checked.
struct MhaWeights<'a> {
    qkv_weight: &'a Tensor,
    qkv_bias: &'a Tensor,
    proj_weight: &'a Tensor,
    proj_bias: &'a Tensor,
}

fn native_mha_op(cx: &Ctx, a: &Args) -> Result<Value> {
    let (q, k, v) = (a.tensor(0)?, a.tensor(1)?, a.tensor(2)?);
    let embed = super::nn::to_usize(a.int(3)?, "embed_dim")?;
    let heads = super::nn::to_usize(a.int(4)?, "num_head")?;
    let weights = MhaWeights {
        qkv_weight: a.tensor(5)?,
        qkv_bias: a.tensor(6)?,
        proj_weight: a.tensor(7)?,
        proj_bias: a.tensor(8)?,
    };
    let (mask, need, average, mask_type) =
        (a.opt_tensor(9)?, a.bool(10)?, a.bool(11)?, a.opt_int(12)?);
    let (out, attn) = native_mha(
        cx,
        (q, k, v),
        embed,
        heads,
        &weights,
        mask,
        mask_type,
        need.then_some(average),
    )?;
    let attn = match attn {
        Some(t) => Value::Tensor(t),
        None => Value::None,
    };
    Ok(Value::tuple(vec![Value::Tensor(out), attn]))
}

/// PyTorch's `native_multi_head_attention_cpu`: project, add biases and scale the queries by
/// `1/√head_dim`, masked softmax of `q·kᵀ`, weights times values, output projection. Returns
/// the output and, where `weights` is `Some(average)`, the attention weights (averaged over
/// heads if asked).
#[allow(clippy::too_many_arguments)]
fn native_mha(
    cx: &Ctx,
    (q, k, v): (&Tensor, &Tensor, &Tensor),
    embed: usize,
    heads: usize,
    w: &MhaWeights,
    mask: Option<&Tensor>,
    mask_type: Option<i64>,
    weights: Option<bool>,
) -> Result<(Tensor, Option<Tensor>)> {
    let (b, l, s) = mha_sizes(q, k, v, embed, heads)?;
    if w.qkv_weight.dims() != [3 * embed, embed] || w.qkv_bias.dims() != [3 * embed] {
        return Err(script(format!(
            "qkv_weight must be [{}, {embed}] and qkv_bias [{}], got {:?} and {:?}",
            3 * embed,
            3 * embed,
            w.qkv_weight.dims(),
            w.qkv_bias.dims()
        )));
    }
    cx.check("aten::_native_multi_head_attention", &[b, heads, l, s])?;
    let sizes = fused::Sizes {
        b,
        l,
        s,
        embed,
        heads,
    };
    if let Some(done) = fused::native_mha(cx, (q, k, v), sizes, w, mask, mask_type, weights) {
        return done;
    }
    let dtype = q.dtype();
    let dh = embed / heads;
    let part = |t: &Tensor, i: usize| -> Result<Tensor> {
        Tensor::with_type(t.inner().narrow(0, i * embed, embed)?, t.dtype())
    };
    // The projections, without their biases; then `(x + b)` per head, queries scaled.
    let project = |x: &Tensor, i: usize, len: usize| -> Result<CTensor> {
        let y = linear(cx, x, &part(w.qkv_weight, i)?, None)?;
        let work = compute_dtype(dtype);
        let y = y
            .inner()
            .to_dtype(work)?
            .broadcast_add(&part(w.qkv_bias, i)?.inner().to_dtype(work)?)?;
        Ok(y.reshape((b, len, heads, dh))?.transpose(1, 2)?)
    };
    let inv = if dtype == ScalarType::Float64 {
        1.0 / (dh as f64).sqrt()
    } else {
        f64::from(1.0 / (dh as f32).sqrt())
    };
    let qh = project(q, 0, l)?.affine(inv, 0.0)?;
    let kh = project(k, 1, s)?;
    let vh = project(v, 2, s)?;
    // The products read the heads' transposed views in place.
    let product = |x: CTensor, y: CTensor| -> Result<CTensor> {
        Ok(matmul(cx, &Tensor::new(x)?, &Tensor::new(y)?)?.into_inner())
    };
    let scores = product(qh, kh.transpose(2, 3)?)?;
    let probs = masked_softmax(&scores, mask, mask_type)?;
    let ctx = product(probs.clone(), vh)?
        .transpose(1, 2)?
        .reshape((b, l, embed))?;
    let ctx = wrap(ctx, dtype)?;
    let out = linear(cx, &ctx, w.proj_weight, Some(w.proj_bias))?;
    let attn = match weights {
        Some(true) => Some(wrap((probs.sum(1)? / heads as f64)?, dtype)?),
        Some(false) => Some(wrap(probs, dtype)?),
        None => None,
    };
    Ok((out, attn))
}

/// PyTorch's `_masked_softmax` over `(B, H, L, S)` scores: nonzero mask entries are left
/// out; a row with nothing left is NaN.
fn masked_softmax(
    scores: &CTensor,
    mask: Option<&Tensor>,
    mask_type: Option<i64>,
) -> Result<CTensor> {
    let Some(mask) = mask else {
        return softmax(scores);
    };
    let m = if mask.dtype() == ScalarType::Bool {
        mask.inner().clone()
    } else {
        mask.inner().ne(0.0)?
    };
    let (b, _, l, s) = scores.dims4()?;
    let dims = scores.dims();
    let m = match mask_type {
        Some(0) if m.dims() == [l, s] => m.reshape((1, 1, l, s))?,
        Some(0) => {
            return Err(script(format!(
                "for mask_type 0 (src_mask) the mask must be [{l}, {s}], got {:?}",
                m.dims()
            )))
        }
        Some(1) if m.dims() == [b, s] => m.reshape((b, 1, 1, s))?,
        Some(1) => {
            return Err(script(format!(
                "for mask_type 1 (src_key_padding_mask) the mask must be [{b}, {s}], got {:?}",
                m.dims()
            )))
        }
        Some(2) | None if m.dims() == dims => m,
        Some(2) => {
            return Err(script(
                "For mask_type == 2 mask shape should match input shape",
            ))
        }
        None => return Err(script("Mask Type should be defined")),
        Some(t) => {
            return Err(script(format!(
                "Mask Type should be 0 (src_mask), 1 (src_key_padding_mask), or 2 (default \
                 mask), got {t}"
            )))
        }
    };
    let m = m.broadcast_as(dims)?;
    let kept = m.where_cond(&neg_inf_like(scores)?, scores)?;
    softmax(&kept)
}

/// `f` on `t` by [`fast::map`] where it applies, else `slow` by candle.
fn activate(
    t: &Tensor,
    f: &impl fast::Map1,
    slow: impl Fn(&CTensor) -> candle_core::Result<CTensor>,
) -> Result<Tensor> {
    match fast::map(t, f) {
        Some(done) => done,
        None => Tensor::with_type(slow(t.inner())?, t.dtype()),
    }
}

fn encoder_layer_op(cx: &Ctx, a: &Args) -> Result<Value> {
    let src = a.tensor(0)?;
    let embed = super::nn::to_usize(a.int(1)?, "embed_dim")?;
    let heads = super::nn::to_usize(a.int(2)?, "num_heads")?;
    let attn = MhaWeights {
        qkv_weight: a.tensor(3)?,
        qkv_bias: a.tensor(4)?,
        proj_weight: a.tensor(5)?,
        proj_bias: a.tensor(6)?,
    };
    let (use_gelu, norm_first, eps) = (a.bool(7)?, a.bool(8)?, a.float(9)?);
    let norm1 = |x: &Tensor| layer_norm_last(x, a.tensor(10)?, a.tensor(11)?, eps);
    let norm2 = |x: &Tensor| layer_norm_last(x, a.tensor(12)?, a.tensor(13)?, eps);
    let (mask, mask_type) = (a.opt_tensor(18)?, a.opt_int(19)?);
    if src.elem_count() == 0 {
        return Ok(Value::Tensor(src.clone()));
    }
    let add = |x: &Tensor, y: &Tensor| -> Result<Tensor> {
        let (a, b) = (Operand::Tensor(x), Operand::Tensor(y));
        if let Some(sum) = fast::binary(&a, &b, x.dims(), x.dtype(), &fast::Sum) {
            return sum;
        }
        Tensor::with_type((x.inner() + y.inner())?, x.dtype())
    };
    let mut x = if norm_first { norm1(src)? } else { src.clone() };
    x = native_mha(cx, (&x, &x, &x), embed, heads, &attn, mask, mask_type, None)?.0;
    x = add(&x, src)?;
    if !norm_first {
        x = norm1(&x)?;
    }
    let residual = x.clone();
    if norm_first {
        x = norm2(&x)?;
    }
    let hidden = linear(cx, &x, a.tensor(14)?, Some(a.tensor(15)?))?;
    let hidden = if use_gelu {
        activate(&hidden, &fast::Gelu { tanh: false }, |h| h.gelu_erf())?
    } else {
        // `x <= 0 ? 0 : x`: NaN stays NaN, as in PyTorch (candle's `relu` makes it 0).
        activate(&hidden, &fast::Relu, |h| {
            h.le(0.0)?.where_cond(&h.zeros_like()?, h)
        })?
    };
    x = linear(cx, &hidden, a.tensor(16)?, Some(a.tensor(17)?))?;
    x = add(&x, &residual)?;
    if !norm_first {
        x = norm2(&x)?;
    }
    Ok(Value::Tensor(x))
}
