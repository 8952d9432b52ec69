//! Resampling: `upsample_nearest1d/2d` and `upsample_bilinear2d` (sizes or scale factors,
//! `align_corners` both ways, and their `.vec` forms), `pixel_shuffle` and
//! `pixel_unshuffle`.
//!
//! Source indices and interpolation weights are computed on the host exactly as PyTorch's CPU
//! kernels compute them (in f32 for f32 tensors: `floorf(dst · scale)` for nearest, the
//! `area_pixel_compute_source_index` rule and its clamped lambdas for bilinear), then the
//! output is gathered (`index_select`) and, for bilinear, combined in PyTorch's order:
//! `(x[h0,w0]·λw0 + x[h0,w1]·λw1)·λh0 + (x[h1,w0]·λw0 + x[h1,w1]·λw1)·λh1`. f32 and f64
//! bilinear on the CPU computes that same expression by direct loops over the planes.

use candle_core::{DType, Device, Tensor as CTensor};

use super::linalg::cpu_storage;
use super::{compute_dtype, script, to_usize, value};
use crate::cpu::Float;
use crate::error::Result;
use crate::ops::registry::{Args, Builder, Ctx};
use crate::ops::tensor::Tensor;
use crate::ops::value::Value;
use crate::ops::ScalarType;

/// Registers the resampling operators.
pub(super) fn register(b: &mut Builder) {
    b.add(
        "aten::upsample_nearest1d(Tensor self, SymInt[1] output_size, float? scales=None) -> Tensor",
        |cx, a| nearest(cx, a.tensor(0)?, Some(a.ints(1)?), vec![a.opt_float(2)?], None),
    );
    b.add(
        "aten::upsample_nearest1d.vec(Tensor input, SymInt[]? output_size, float[]? scale_factors) -> Tensor",
        |cx, a| nearest(cx, a.tensor(0)?, a.opt_ints(1)?, vec![], opt_floats(a, 2)?),
    );
    b.add(
        "aten::upsample_nearest2d(Tensor self, SymInt[2] output_size, float? scales_h=None, float? scales_w=None) -> Tensor",
        |cx, a| {
            let scales = vec![a.opt_float(2)?, a.opt_float(3)?];
            nearest(cx, a.tensor(0)?, Some(a.ints(1)?), scales, None)
        },
    );
    b.add(
        "aten::upsample_nearest2d.vec(Tensor input, SymInt[]? output_size, float[]? scale_factors) -> Tensor",
        |cx, a| nearest(cx, a.tensor(0)?, a.opt_ints(1)?, vec![], opt_floats(a, 2)?),
    );
    b.add(
        "aten::upsample_bilinear2d(Tensor self, SymInt[2] output_size, bool align_corners, float? scales_h=None, float? scales_w=None) -> Tensor",
        |cx, a| {
            let scales = vec![a.opt_float(3)?, a.opt_float(4)?];
            bilinear(cx, a.tensor(0)?, Some(a.ints(1)?), a.bool(2)?, scales, None)
        },
    );
    b.add(
        "aten::upsample_bilinear2d.vec(Tensor input, SymInt[]? output_size, bool align_corners, float[]? scale_factors) -> Tensor",
        |cx, a| bilinear(cx, a.tensor(0)?, a.opt_ints(1)?, a.bool(2)?, vec![], opt_floats(a, 3)?),
    );
    b.add(
        "aten::pixel_shuffle(Tensor self, int upscale_factor) -> Tensor",
        |cx, a| shuffle(cx, a.tensor(0)?, a.int(1)?, true),
    );
    b.add(
        "aten::pixel_unshuffle(Tensor self, int downscale_factor) -> Tensor",
        |cx, a| shuffle(cx, a.tensor(0)?, a.int(1)?, false),
    );
}

fn opt_floats(a: &Args, i: usize) -> Result<Option<Vec<f64>>> {
    match a.value(i) {
        Value::None => Ok(None),
        _ => a.floats(i).map(Some),
    }
}

/// The output sizes and the scales the kernels use, from `output_size` (with optional
/// per-dim `scales`) or `scale_factors` (`.vec`: the output is `floor(size · factor)`, and the
/// factors are the scales). `n` spatial dims.
fn sizes(
    input: &Tensor,
    n: usize,
    op: &str,
    output_size: Option<Vec<i64>>,
    scales: Vec<Option<f64>>,
    factors: Option<Vec<f64>>,
) -> Result<(Vec<usize>, Vec<Option<f64>>)> {
    if input.rank() != n + 2 || input.dims()[1..].contains(&0) {
        return Err(script(format!(
            "{op}: Non-empty {}D data tensor expected but got a tensor with sizes {:?}",
            n + 2,
            input.dims()
        )));
    }
    let spatial = &input.dims()[2..];
    match (output_size, factors) {
        (Some(out), None) => {
            if out.len() != n {
                return Err(script(format!(
                    "{op}: It is expected output_size equals to {n}, but got size {}",
                    out.len()
                )));
            }
            let out = out
                .iter()
                .map(|&s| to_usize(s, "output_size"))
                .collect::<Result<Vec<_>>>()?;
            if out.contains(&0) {
                return Err(script(format!(
                    "{op}: Input and output sizes should be greater than 0, but got input {spatial:?} \
                     and output {out:?}"
                )));
            }
            let scales = if scales.len() == n {
                scales
            } else {
                vec![None; n]
            };
            Ok((out, scales))
        }
        (None, Some(f)) => {
            if f.len() != n {
                return Err(script(format!(
                    "{op}: It is expected scale_factors equals to {n}, but got size {}",
                    f.len()
                )));
            }
            let mut out = Vec::with_capacity(n);
            for (&len, &s) in spatial.iter().zip(&f) {
                let size = (len as f64 * s).floor();
                if !(1.0..1e15).contains(&size) {
                    return Err(script(format!(
                        "{op}: the scale factor {s} gives an output size of {size} for an input \
                         of {len}"
                    )));
                }
                out.push(size as usize);
            }
            Ok((out, f.into_iter().map(Some).collect()))
        }
        _ => Err(script(
            "Must specify exactly one of output_size and scale_factors",
        )),
    }
}

/// PyTorch's `compute_scales_value`: `1 / scale` where a positive scale is given, else
/// `in / out`, in f32 (`single`) or f64.
fn scale_value(scale: Option<f64>, input: usize, output: usize, single: bool) -> f64 {
    match (scale.filter(|&s| s > 0.0), single) {
        (Some(s), true) => f64::from((1.0 / s) as f32),
        (Some(s), false) => 1.0 / s,
        (None, true) => f64::from(input as f32 / output as f32),
        (None, false) => input as f64 / output as f64,
    }
}

/// PyTorch's `nearest_idx` for every output index.
fn nearest_index(input: usize, output: usize, scale: Option<f64>) -> Vec<u32> {
    (0..output)
        .map(|o| {
            if output == input {
                o
            } else if output == 2 * input {
                o >> 1
            } else {
                let s = scale_value(scale, input, output, true) as f32;
                ((o as f32 * s).floor() as usize).min(input - 1)
            }
        } as u32)
        .collect()
}

fn index(v: Vec<u32>, device: &Device) -> Result<CTensor> {
    let n = v.len();
    Ok(CTensor::from_vec(v, n, device)?)
}

fn nearest(
    cx: &Ctx,
    input: &Tensor,
    output_size: Option<Vec<i64>>,
    scales: Vec<Option<f64>>,
    factors: Option<Vec<f64>>,
) -> Result<Value> {
    let n = input.rank().saturating_sub(2).clamp(1, 2);
    let op = if n == 1 {
        "upsample_nearest1d"
    } else {
        "upsample_nearest2d"
    };
    let (out, scales) = sizes(input, n, op, output_size, scales, factors)?;
    let mut dims = input.dims()[..2].to_vec();
    dims.extend(&out);
    cx.check(&format!("aten::{op}"), &dims)?;
    let x = input.inner();
    let sources: Vec<Vec<u32>> = (0..n)
        .map(|i| nearest_index(input.dims()[2 + i], out[i], scales[i]))
        .collect();
    if x.device().is_cpu() {
        // A 1-D input is one row per plane.
        let (rows, cols) = match sources.as_slice() {
            [r, c] => (r.as_slice(), c.as_slice()),
            [c] => (&[0u32][..], c.as_slice()),
            _ => (&[][..], &[][..]),
        };
        let y = match x.dtype() {
            DType::F32 => Some(nearest_fast::<f32>(x, rows, cols)?),
            DType::F64 => Some(nearest_fast::<f64>(x, rows, cols)?),
            _ => None,
        };
        if let Some(y) = y {
            return Ok(Value::Tensor(Tensor::with_type(
                y.reshape(dims)?,
                input.dtype(),
            )?));
        }
    }
    let mut y = x.clone();
    for i in 0..n {
        let len = input.dims()[2 + i];
        let idx = index(nearest_index(len, out[i], scales[i]), y.device())?;
        y = y.index_select(&idx, 2 + i)?;
    }
    Ok(Value::Tensor(Tensor::with_type(y, input.dtype())?))
}

/// The two source indices and their weights for each output index of one dim.
struct Linear1d {
    i0: Vec<u32>,
    i1: Vec<u32>,
    l0: Vec<f64>,
    l1: Vec<f64>,
}

/// PyTorch's `compute_indices_weights_linear` for one dim, in f32 (`single`) or f64.
fn linear_taps(
    input: usize,
    output: usize,
    align: bool,
    scale: Option<f64>,
    single: bool,
) -> Linear1d {
    let round = |x: f64| if single { f64::from(x as f32) } else { x };
    let scale = if align {
        if output > 1 {
            round((input as f64 - 1.0) / (output as f64 - 1.0))
        } else {
            0.0
        }
    } else {
        scale_value(scale, input, output, single)
    };
    let mut taps = Linear1d {
        i0: Vec::with_capacity(output),
        i1: Vec::with_capacity(output),
        l0: Vec::with_capacity(output),
        l1: Vec::with_capacity(output),
    };
    for o in 0..output {
        let real = if align {
            round(scale * o as f64)
        } else {
            let src = round(round(scale * round(o as f64 + 0.5)) - 0.5);
            if src < 0.0 {
                0.0
            } else {
                src
            }
        };
        let i0 = (real as usize).min(input - 1);
        let lambda = round((real - i0 as f64).clamp(0.0, 1.0));
        let i1 = if i0 < input - 1 { i0 + 1 } else { i0 };
        taps.i0.push(i0 as u32);
        taps.i1.push(i1 as u32);
        taps.l0.push(round(1.0 - lambda));
        taps.l1.push(lambda);
    }
    taps
}

fn bilinear(
    cx: &Ctx,
    input: &Tensor,
    output_size: Option<Vec<i64>>,
    align: bool,
    scales: Vec<Option<f64>>,
    factors: Option<Vec<f64>>,
) -> Result<Value> {
    let op = "upsample_bilinear2d";
    let (out, scales) = sizes(input, 2, op, output_size, scales, factors)?;
    let mut dims = input.dims()[..2].to_vec();
    dims.extend(&out);
    cx.check("aten::upsample_bilinear2d", &dims)?;
    if !input.dtype().is_float() {
        return Err(script(format!(
            "\"{op}\" not implemented for '{}'",
            input.dtype().name()
        )));
    }
    let work = compute_dtype(input.dtype());
    let single = input.dtype() != ScalarType::Float64;
    let (h, w) = (input.dims()[2], input.dims()[3]);
    let th = linear_taps(h, out[0], align, scales[0], single);
    let tw = linear_taps(w, out[1], align, scales[1], single);
    let x = input.inner().to_dtype(work)?;
    let y = match (x.device().is_cpu(), x.dtype()) {
        (true, DType::F32) => bilinear_fast::<f32>(&x, &th, &tw)?,
        (true, DType::F64) => bilinear_fast::<f64>(&x, &th, &tw)?,
        _ => bilinear_composed(&x, th, tw)?,
    };
    value(y.to_dtype(input.dtype().candle())?)
}

/// [`bilinear`] on candle's ops: gathered rows and columns, weighted and summed.
fn bilinear_composed(x: &CTensor, th: Linear1d, tw: Linear1d) -> Result<CTensor> {
    let (device, work) = (x.device(), x.dtype());
    let weights = |v: &[f64], shape: (usize, usize)| -> Result<CTensor> {
        Ok(CTensor::from_slice(v, shape, &Device::Cpu)?
            .to_dtype(work)?
            .to_device(device)?)
    };
    let (oh, ow) = (th.i0.len(), tw.i0.len());
    let (ww0, ww1) = (weights(&tw.l0, (1, ow))?, weights(&tw.l1, (1, ow))?);
    let (wh0, wh1) = (weights(&th.l0, (oh, 1))?, weights(&th.l1, (oh, 1))?);
    let (c0, c1) = (index(tw.i0, device)?, index(tw.i1, device)?);
    let row = |rows: Vec<u32>| -> Result<CTensor> {
        let r = x.index_select(&index(rows, device)?, 2)?;
        let a = r.index_select(&c0, 3)?.broadcast_mul(&ww0)?;
        let b = r.index_select(&c1, 3)?.broadcast_mul(&ww1)?;
        Ok((a + b)?)
    };
    Ok(row(th.i0)?
        .broadcast_mul(&wh0)?
        .add(&row(th.i1)?.broadcast_mul(&wh1)?)?)
}

/// [`nearest`]'s gather by direct loops: output `(oy, ox)` of each `(H, W)` plane of `x` (a
/// 1-D input's `(1, L)`) is input `(rows[oy], cols[ox])`; returned as `(N, C, oh · ow)`.
fn nearest_fast<T: Float>(x: &CTensor, rows: &[u32], cols: &[u32]) -> Result<CTensor> {
    let x = x.contiguous()?;
    let d = x.dims();
    let (planes, w) = (d[0] * d[1], d[d.len() - 1]);
    let (storage, layout) = x.storage_and_layout();
    let data = crate::cpu::contiguous::<T>(cpu_storage(&storage)?, layout)?;
    let mut out = Vec::with_capacity(planes * rows.len() * cols.len());
    let plane_len = (data.len() / planes.max(1)).max(1);
    for plane in data.chunks_exact(plane_len) {
        for &r in rows {
            let line = &plane[r as usize * w..][..w];
            out.extend(cols.iter().map(|&c| line[c as usize]));
        }
    }
    Ok(CTensor::from_vec(
        out,
        (d[0], d[1], rows.len() * cols.len()),
        &Device::Cpu,
    )?)
}

/// [`bilinear`]'s expression by direct loops over `x` `(N, C, H, W)` in `T` (f32 or f64 on
/// the CPU, as `x` is): each input row the output reads is first combined across columns
/// (`x[h,w0]·λw0 + x[h,w1]·λw1`), once, then each output row from its two such rows, in
/// the same operations as the expression, so with the same bits.
fn bilinear_fast<T: Float>(x: &CTensor, th: &Linear1d, tw: &Linear1d) -> Result<CTensor> {
    let x = x.contiguous()?;
    let d = x.dims();
    let (h, w, oh, ow) = (d[2], d[3], th.i0.len(), tw.i0.len());
    let (storage, layout) = x.storage_and_layout();
    let data = crate::cpu::contiguous::<T>(cpu_storage(&storage)?, layout)?;
    let t = |v: &[f64]| -> Vec<T> { v.iter().map(|&l| T::from_f64(l)).collect() };
    let (lh0, lh1) = (t(&th.l0), t(&th.l1));
    let across: Vec<(usize, usize, T, T)> = (0..ow)
        .map(|o| {
            let (c0, c1) = (tw.i0[o] as usize, tw.i1[o] as usize);
            (c0, c1, T::from_f64(tw.l0[o]), T::from_f64(tw.l1[o]))
        })
        .collect();
    let mut used = vec![false; h];
    for &r in th.i0.iter().chain(&th.i1) {
        used[r as usize] = true;
    }
    let mut rows = vec![T::ZERO; h * ow];
    let mut out = Vec::with_capacity(d[0] * d[1] * oh * ow);
    for plane in data.chunks_exact((h * w).max(1)) {
        for ((line, dst), _) in plane
            .chunks_exact(w)
            .zip(rows.chunks_exact_mut(ow))
            .zip(&used)
            .filter(|(_, &u)| u)
        {
            for (y, &(c0, c1, l0, l1)) in dst.iter_mut().zip(&across) {
                *y = line[c0] * l0 + line[c1] * l1;
            }
        }
        for oy in 0..oh {
            let top = &rows[th.i0[oy] as usize * ow..][..ow];
            let bottom = &rows[th.i1[oy] as usize * ow..][..ow];
            let (l0, l1) = (lh0[oy], lh1[oy]);
            out.extend(top.iter().zip(bottom).map(|(&a, &b)| a * l0 + b * l1));
        }
    }
    Ok(CTensor::from_vec(out, (d[0], d[1], oh, ow), &Device::Cpu)?)
}

/// `pixel_shuffle` (`up`) or `pixel_unshuffle`: `(*, C·r², H, W)` ↔ `(*, C, H·r, W·r)`.
fn shuffle(cx: &Ctx, input: &Tensor, factor: i64, up: bool) -> Result<Value> {
    let op = if up {
        "pixel_shuffle"
    } else {
        "pixel_unshuffle"
    };
    let what = if up {
        "upscale_factor"
    } else {
        "downscale_factor"
    };
    if input.rank() < 3 {
        return Err(script(format!(
            "{op} expects input to have at least 3 dimensions, but got input with {} \
             dimension(s)",
            input.rank()
        )));
    }
    if factor <= 0 {
        return Err(script(format!(
            "{op} expects a positive {what}, but got {factor}"
        )));
    }
    let r = factor as usize;
    let dims = input.dims();
    let rank = dims.len();
    let lead: usize = dims[..rank - 3].iter().product();
    let (c, h, w) = (dims[rank - 3], dims[rank - 2], dims[rank - 1]);
    let rr = r
        .checked_mul(r)
        .ok_or_else(|| script(format!("{what} too large")))?;
    let (x, out) = if up {
        if c % rr != 0 {
            return Err(script(format!(
                "pixel_shuffle expects its input's 'channel' dimension to be divisible by the \
                 square of upscale_factor, but input.size(-3)={c} is not divisible by {rr}"
            )));
        }
        let oc = c / rr;
        let x = input
            .inner()
            .reshape(vec![lead, oc, r, r, h, w])?
            .permute([0, 1, 4, 2, 5, 3])?;
        let (oh, ow) = (h.checked_mul(r), w.checked_mul(r));
        let (Some(oh), Some(ow)) = (oh, ow) else {
            return Err(script(format!("{what} too large")));
        };
        (x, [oc, oh, ow])
    } else {
        if h % r != 0 || w % r != 0 {
            return Err(script(format!(
                "pixel_unshuffle expects height and width to be divisible by downscale_factor, \
                 but got height={h}, width={w} and downscale_factor={r}"
            )));
        }
        let x = input
            .inner()
            .reshape(vec![lead, c, h / r, r, w / r, r])?
            .permute([0, 1, 3, 5, 2, 4])?;
        (x, [c * rr, h / r, w / r])
    };
    let mut shape = dims[..rank - 3].to_vec();
    shape.extend(out);
    cx.check(&format!("aten::{op}"), &shape)?;
    let y = x.contiguous()?.reshape(shape)?;
    Ok(Value::Tensor(Tensor::with_type(y, input.dtype())?))
}

#[cfg(test)]
#[rustfmt::skip]
mod tests {
    use crate::ops::nn::testing::*;
    use crate::ops::Value;

    #[test]
    fn upsampling_matches_torch() {
        // torch.nn.functional.interpolate and the aten calls it makes (torch 2.15.0).
        let x = wave(&[1, 2, 3, 5], 0.);
        let y = call("aten::upsample_nearest2d", &[x.clone(), ints(&[7, 4])]);
        assert_eq!(dims(&y), [1, 2, 7, 4]);
        close(
            &f64s(&y),
            &[
                0.0, 0.6442176699638367, 0.9854497313499451, 0.8632093667984009, 0.0,
                0.6442176699638367, 0.9854497313499451, 0.8632093667984009, 0.0,
                0.6442176699638367, 0.9854497313499451, 0.8632093667984009, -0.35078322887420654,
                -0.8715757727622986, -0.9824526309967041, -0.6312666535377502,
                -0.35078322887420654, -0.8715757727622986, -0.9824526309967041,
                -0.6312666535377502, 0.6569865942001343, 0.9881682395935059, 0.854598879814148,
                0.3190983533859253, 0.6569865942001343, 0.9881682395935059, 0.854598879814148,
                0.3190983533859253, -0.8796957731246948, -0.979177713394165, -0.6181371212005615,
                0.033623047173023224, -0.8796957731246948, -0.979177713394165, -0.6181371212005615,
                0.033623047173023224, -0.8796957731246948, -0.979177713394165, -0.6181371212005615,
                0.033623047173023224, 0.9906073808670044, 0.8457468152046204, 0.30311834812164307,
                -0.3820714056491852, 0.9906073808670044, 0.8457468152046204, 0.30311834812164307,
                -0.3820714056491852, -0.9756259918212891, -0.6048328280448914, 0.05042268708348274,
                0.6819636225700378, -0.9756259918212891, -0.6048328280448914, 0.05042268708348274,
                0.6819636225700378,
            ],
            1e-6,
        );
        let y = call(
            "aten::upsample_nearest2d.vec",
            &[x.clone(), Value::None, Value::list(vec![f(1.7), f(2.5)])],
        );
        assert_eq!(dims(&y), [1, 2, 5, 12]);
        close(
            &f64s(&y),
            &[
                0.0, 0.0, 0.0, 0.6442176699638367, 0.6442176699638367, 0.9854497313499451,
                0.9854497313499451, 0.9854497313499451, 0.8632093667984009, 0.8632093667984009,
                0.33498814702033997, 0.33498814702033997, 0.0, 0.0, 0.0, 0.6442176699638367,
                0.6442176699638367, 0.9854497313499451, 0.9854497313499451, 0.9854497313499451,
                0.8632093667984009, 0.8632093667984009, 0.33498814702033997, 0.33498814702033997,
                -0.35078322887420654, -0.35078322887420654, -0.35078322887420654,
                -0.8715757727622986, -0.8715757727622986, -0.9824526309967041, -0.9824526309967041,
                -0.9824526309967041, -0.6312666535377502, -0.6312666535377502, 0.01681390032172203,
                0.01681390032172203, -0.35078322887420654, -0.35078322887420654,
                -0.35078322887420654, -0.8715757727622986, -0.8715757727622986,
                -0.9824526309967041, -0.9824526309967041, -0.9824526309967041, -0.6312666535377502,
                -0.6312666535377502, 0.01681390032172203, 0.01681390032172203, 0.6569865942001343,
                0.6569865942001343, 0.6569865942001343, 0.9881682395935059, 0.9881682395935059,
                0.854598879814148, 0.854598879814148, 0.854598879814148, 0.3190983533859253,
                0.3190983533859253, -0.36647912859916687, -0.36647912859916687,
                -0.8796957731246948, -0.8796957731246948, -0.8796957731246948, -0.979177713394165,
                -0.979177713394165, -0.6181371212005615, -0.6181371212005615, -0.6181371212005615,
                0.033623047173023224, 0.033623047173023224, 0.6695697903633118, 0.6695697903633118,
                -0.8796957731246948, -0.8796957731246948, -0.8796957731246948, -0.979177713394165,
                -0.979177713394165, -0.6181371212005615, -0.6181371212005615, -0.6181371212005615,
                0.033623047173023224, 0.033623047173023224, 0.6695697903633118, 0.6695697903633118,
                0.9906073808670044, 0.9906073808670044, 0.9906073808670044, 0.8457468152046204,
                0.8457468152046204, 0.30311834812164307, 0.30311834812164307, 0.30311834812164307,
                -0.3820714056491852, -0.3820714056491852, -0.8875670433044434, -0.8875670433044434,
                0.9906073808670044, 0.9906073808670044, 0.9906073808670044, 0.8457468152046204,
                0.8457468152046204, 0.30311834812164307, 0.30311834812164307, 0.30311834812164307,
                -0.3820714056491852, -0.3820714056491852, -0.8875670433044434, -0.8875670433044434,
                -0.9756259918212891, -0.9756259918212891, -0.9756259918212891, -0.6048328280448914,
                -0.6048328280448914, 0.05042268708348274, 0.05042268708348274, 0.05042268708348274,
                0.6819636225700378, 0.6819636225700378, 0.9927663803100586, 0.9927663803100586,
            ],
            1e-6,
        );
        let y = call(
            "aten::upsample_nearest1d",
            &[wave(&[2, 2, 5], 1.), ints(&[8])],
        );
        assert_eq!(dims(&y), [2, 2, 8]);
        close(
            &f64s(&y),
            &[
                0.8414709568023682, 0.8414709568023682, 0.9916648268699646, 0.9916648268699646,
                0.6754631996154785, 0.04158066213130951, 0.04158066213130951, -0.6118578910827637,
                -0.9775301218032837, -0.9775301218032837, -0.8834546804428101, -0.8834546804428101,
                -0.3738766610622406, 0.311541348695755, 0.311541348695755, 0.8504366278648376,
                0.9893582463264465, 0.9893582463264465, 0.6629692316055298, 0.6629692316055298,
                0.024775424972176552, -0.6250706315040588, -0.6250706315040588,
                -0.9809362292289734, -0.8754521608352661, -0.8754521608352661,
                -0.35822927951812744, -0.35822927951812744, 0.327474445104599, 0.8591617941856384,
                0.8591617941856384, 0.9867719411849976,
            ],
            1e-6,
        );
        let y = call(
            "aten::upsample_bilinear2d",
            &[x.clone(), ints(&[7, 4]), Value::Bool(false)],
        );
        assert_eq!(dims(&y), [1, 2, 7, 4]);
        close(
            &f64s(&y),
            &[
                0.08052720874547958, 0.7721796631813049, 0.9090495109558105, 0.4010158181190491,
                0.009611568413674831, 0.5314176082611084, 0.6701908111572266, 0.3345569670200348,
                -0.20313537120819092, -0.19086851179599762, -0.046385351568460464,
                0.13518036901950836, -0.41588228940963745, -0.9131546020507812,
                -0.7629613876342773, -0.06419616937637329, 0.06166056916117668,
                -0.11976838856935501, -0.21315886080265045, -0.15701864659786224,
                0.5392034649848938, 0.6736178398132324, 0.33664363622665405, -0.2498411387205124,
                0.6983842849731445, 0.9380797147750854, 0.5199110507965088, -0.28078192472457886,
                -0.8921310305595398, -0.8437874913215637, -0.21078701317310333, 0.5900764465332031,
                -0.6257551908493042, -0.6314947605133057, -0.19854962825775146,
                0.38801121711730957, 0.17337234318256378, 0.005383180920034647,
                -0.16183742880821228, -0.2181844711303711, 0.9724997878074646, 0.6422611474990845,
                -0.1251252442598343, -0.824380099773407, 0.15745259821414948, 0.21310120820999146,
                0.11927235871553421, -0.06225311756134033, -0.657594621181488,
                -0.21605877578258514, 0.3636699616909027, 0.6998738646507263, -0.9292768239974976,
                -0.3591119945049286, 0.44513580203056335, 0.9539159536361694,
            ],
            1e-6,
        );
        let y = call(
            "aten::upsample_bilinear2d",
            &[x.clone(), ints(&[7, 4]), Value::Bool(true)],
        );
        assert_eq!(dims(&y), [1, 2, 7, 4]);
        close(
            &f64s(&y),
            &[
                0.0, 0.7579616904258728, 0.9039561152458191, 0.33498814702033997,
                -0.11692774295806885, 0.20246286690235138, 0.35319453477859497, 0.2289300560951233,
                -0.2338554859161377, -0.35303592681884766, -0.19756704568862915,
                0.12287197262048721, -0.35078322887420654, -0.9085347056388855,
                -0.7483286261558533, 0.01681390032172203, -0.014859913848340511,
                -0.2911413609981537, -0.33301952481269836, -0.11095045506954193,
                0.32106339931488037, 0.3262519836425781, 0.08228955417871475, -0.2387148141860962,
                0.6569865942001343, 0.9436451196670532, 0.49759846925735474, -0.36647912859916687,
                -0.8796957731246948, -0.8588308095932007, -0.18363028764724731, 0.6695697903633118,
                -0.25626134872436523, -0.3509303331375122, -0.17364513874053955,
                0.15052415430545807, 0.36717304587364197, 0.15697015821933746,
                -0.16366000473499298, -0.36852145195007324, 0.9906073808670044, 0.6648706197738647,
                -0.1536748856306076, -0.8875670433044434, 0.3351961672306061, 0.3144422769546509,
                0.05470011755824089, -0.2607891857624054, -0.32021504640579224,
                -0.03598606958985329, 0.2630751132965088, 0.36598873138427734, -0.9756259918212891,
                -0.3864142894744873, 0.4714500308036804, 0.9927663803100586,
            ],
            1e-6,
        );
        let y = call(
            "aten::upsample_bilinear2d.vec",
            &[
                x.clone(),
                Value::None,
                Value::Bool(false),
                Value::list(vec![f(1.7), f(2.5)]),
            ],
        );
        assert_eq!(dims(&y), [1, 2, 5, 12]);
        close(
            &f64s(&y),
            &[
                0.0, 0.06442177295684814, 0.32210883498191833, 0.5797958970069885,
                0.746587336063385, 0.8830801248550415, 0.9732256531715393, 0.9243295192718506,
                0.8754333853721619, 0.7047430276870728, 0.4934544861316681, 0.33498814702033997,
                -0.13412301242351532, -0.11424575001001358, -0.034736718982458115,
                0.04477231577038765, 0.11515963077545166, 0.18250636756420135, 0.2388940304517746,
                0.26240426301956177, 0.28591445088386536, 0.2682543992996216, 0.2368709295988083,
                0.21333327889442444, -0.34046611189842224, -0.38911888003349304,
                -0.5837299227714539, -0.7783410549163818, -0.8562676310539246, -0.8952994346618652,
                -0.8908471465110779, -0.7559424638748169, -0.6210377812385559, -0.403266578912735,
                -0.15787309408187866, 0.026171937584877014, 0.21238231658935547,
                0.2079133838415146, 0.19003769755363464, 0.1721620112657547, 0.1306256353855133,
                0.0812024399638176, 0.0297035314142704, -0.028022583574056625,
                -0.08574876189231873, -0.12933999300003052, -0.16821958124637604,
                -0.19737927615642548, 0.6569865942001343, 0.6901047229766846, 0.8225774168968201,
                0.9550500512123108, 0.9480974078178406, 0.8946695923805237, 0.8010486960411072,
                0.5868486166000366, 0.37264835834503174, 0.11342515051364899, -0.16080591082572937,
                -0.36647912859916687, -0.8796957731246948, -0.8896439671516418,
                -0.9294367432594299, -0.969229519367218, -0.870865523815155, -0.7264493107795715,
                -0.552960991859436, -0.29225704073905945, -0.03155290707945824,
                0.22440703213214874, 0.47878581285476685, 0.6695697903633118, -0.164579838514328,
                -0.17626309394836426, -0.2229960709810257, -0.2697291672229767,
                -0.2767564058303833, -0.27054840326309204, -0.25183501839637756,
                -0.19560566544532776, -0.13937629759311676, -0.06546510756015778,
                0.01434004120528698, 0.07419387996196747, 0.935598611831665, 0.9212460517883301,
                0.8638356924057007, 0.8064253330230713, 0.6372576951980591, 0.4308376610279083,
                0.21143580973148346, -0.046911220997571945, -0.3052584230899811,
                -0.5114222764968872, -0.7001919150352478, -0.8417690396308899,
                -0.10817020386457443, -0.09384030848741531, -0.03652075305581093,
                0.020798826590180397, 0.07316193729639053, 0.12387285381555557,
                0.16696910560131073, 0.18722125887870789, 0.20747341215610504, 0.19773779809474945,
                0.17800624668598175, 0.16320759057998657, -0.9756259918212891, -0.9385466575622559,
                -0.7902294397354126, -0.6419121026992798, -0.4082561433315277,
                -0.14615392684936523, 0.11357686668634415, 0.36619314551353455, 0.6188095808029175,
                0.7752044796943665, 0.89952552318573, 0.9927663803100586,
            ],
            1e-6,
        );
    }

    #[test]
    fn bilinear_loops_give_the_composed_bits() {
        use super::*;
        use candle_core::{DType, Device, Tensor as CTensor};
        let v: Vec<f64> = (0..2 * 3 * 5 * 4).map(|i| (i as f64 * 0.7).sin()).collect();
        for dtype in [DType::F32, DType::F64] {
            let x = CTensor::from_vec(v.clone(), (2, 3, 5, 4), &Device::Cpu).unwrap().to_dtype(dtype).unwrap();
            for (out, align, scale) in [((9, 7), false, None), ((3, 2), true, None), ((1, 1), true, None), ((10, 8), false, Some(2.0))] {
                let single = dtype == DType::F32;
                let taps = || (linear_taps(5, out.0, align, scale, single), linear_taps(4, out.1, align, scale, single));
                let (th, tw) = taps();
                let fast = match dtype {
                    DType::F32 => bilinear_fast::<f32>(&x, &th, &tw).unwrap(),
                    _ => bilinear_fast::<f64>(&x, &th, &tw).unwrap(),
                };
                let composed = bilinear_composed(&x, th, tw).unwrap();
                let bits = |t: &CTensor| t.flatten_all().unwrap().to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap();
                assert_eq!(fast.dims(), [2, 3, out.0, out.1]);
                assert_eq!(bits(&fast), bits(&composed), "{dtype:?} {out:?} {align}");
            }
        }
        // Nearest: the loops gather what index_select gathers, 2-D and 1-D, up and down.
        let x = CTensor::from_vec(v.clone(), (2, 3, 5, 4), &Device::Cpu).unwrap();
        for (oh, ow) in [(9, 7), (2, 3), (5, 8)] {
            let (rows, cols) = (nearest_index(5, oh, None), nearest_index(4, ow, None));
            let fast = nearest_fast::<f64>(&x, &rows, &cols).unwrap().reshape((2, 3, oh, ow)).unwrap();
            let ri = CTensor::new(rows.as_slice(), &Device::Cpu).unwrap();
            let ci = CTensor::new(cols.as_slice(), &Device::Cpu).unwrap();
            let want = x.index_select(&ri, 2).unwrap().index_select(&ci, 3).unwrap();
            assert_eq!(fast.flatten_all().unwrap().to_vec1::<f64>().unwrap(), want.flatten_all().unwrap().to_vec1::<f64>().unwrap());
        }
        let x1 = x.reshape((2, 3, 20)).unwrap();
        let cols = nearest_index(20, 7, Some(0.35));
        let fast = nearest_fast::<f64>(&x1, &[0], &cols).unwrap();
        let want = x1.index_select(&CTensor::new(cols.as_slice(), &Device::Cpu).unwrap(), 2).unwrap();
        assert_eq!(fast.flatten_all().unwrap().to_vec1::<f64>().unwrap(), want.flatten_all().unwrap().to_vec1::<f64>().unwrap());
        // f16 computes in f32 and rounds once, on either path.
        let y = call("aten::upsample_bilinear2d", &[cast(&wave(&[1, 1, 2, 3], 0.), 5), ints(&[4, 5]), Value::Bool(false)]);
        assert_eq!(dtype(&y), crate::ops::ScalarType::Float16);
    }

    #[test]
    fn pixel_shuffles_match_torch() {
        // torch.nn.functional.pixel_shuffle(x, 2) and pixel_unshuffle back (torch 2.15.0)
        let x = wave(&[1, 8, 2, 3], 0.);
        let y = call("aten::pixel_shuffle", &[x.clone(), i(2)]);
        assert_eq!(dims(&y), [1, 2, 4, 6]);
        close(
            &f64s(&y),
            &[
                0.0, -0.8715757727622986, 0.6442176699638367, -0.9824526309967041,
                0.9854497313499451, -0.6312666535377502, 0.854598879814148, 0.033623047173023224,
                0.3190983533859253, 0.6695697903633118, -0.36647912859916687, 0.9906073808670044,
                0.8632093667984009, 0.01681390032172203, 0.33498814702033997, 0.6569865942001343,
                -0.35078322887420654, 0.9881682395935059, -0.8796957731246948, 0.8457468152046204,
                -0.979177713394165, 0.30311834812164307, -0.6181371212005615, -0.3820714056491852,
                -0.8875670433044434, 0.8366556167602539, -0.9756259918212891, 0.2870526611804962,
                -0.6048328280448914, -0.3975556790828705, 0.06720807403326035, -0.9025546312332153,
                0.6941646933555603, -0.9676961302757263, 0.9946447610855103, -0.5777150392532349,
                0.05042268708348274, -0.8951873779296875, 0.6819636225700378, -0.9717984199523926,
                0.9927663803100586, -0.5913575291633606, 0.8273279070854187, 0.0839744582772255,
                0.2709057927131653, 0.7061694860458374, -0.4129275381565094, 0.9962419271469116,
            ],
            0.0,
        );
        let back = call("aten::pixel_unshuffle", &[y, i(2)]);
        assert_eq!(f32s(&back), f32s(&x));
        let e = call_err("aten::pixel_shuffle", &[wave(&[1, 5, 2, 2], 0.), i(2)]);
        assert!(e.contains("input.size(-3)=5 is not divisible by 4"), "{e}");
        let e = call_err(
            "aten::upsample_nearest2d.vec",
            &[x, Value::None, Value::None],
        );
        assert!(
            e.contains("Must specify exactly one of output_size and scale_factors"),
            "{e}"
        );
    }
}
