//! Convolutions, 1-D and 2-D, plain and transposed: `conv1d`, `conv2d` (with their
//! `padding="same"`/`"valid"` overloads), `conv_transpose1d`, `conv_transpose2d.input`, and
//! the `_convolution`/`convolution` forms traced code calls. f32 and f64 on the CPU run the
//! project's matrix product (below); other devices and types run candle's kernels.
//!
//! candle takes one stride, padding and dilation for every spatial dim; PyTorch's per-dim
//! values are reproduced exactly around it: uneven or asymmetric padding as explicit zero
//! padding, uneven strides as a stride-1 convolution subsampled, uneven 2-D dilations as one
//! convolution per kernel row. A transposed convolution runs unpadded and is cropped (and
//! extended by `output_padding`) afterwards, which is what its padding means. f16 and bf16
//! compute in f32 and round once; integer convolutions are refused.
//!
//! f32 and f64 convolutions on the CPU skip candle: each batch item and group is one
//! [`crate::cpu::gemm`] product, the weight `(C_out/g, C_in/g·kh·kw)` times the input's
//! im2col `(C_in/g·kh·kw, OH·OW)` (a 1×1 kernel reads the input in place), with every
//! stride, padding and dilation per dim. A transposed one is the transposed weight times the
//! input, scattered back (col2im) onto the cropped output, as PyTorch's CPU kernel does. A 1-D
//! convolution is a 2-D one of unit height. The transposed weight (or a non-contiguous
//! weight's copy) is built once per program for a constant weight.

use std::ops::Range;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor as CTensor};

use super::linalg::{cpu_storage, strided_vec};
use super::{compute_dtype, script, to_usize, value};
use crate::cpu::gemm::{self as cpu_gemm, Mat};
use crate::cpu::Float;
use crate::error::Result;
use crate::ops::registry::{Args, Builder, Ctx};
use crate::ops::tensor::Tensor;
use crate::ops::value::Value;

/// Registers the convolutions.
pub(super) fn register(b: &mut Builder) {
    b.add(
        "aten::conv1d(Tensor input, Tensor weight, Tensor? bias=None, SymInt[1] stride=[1], SymInt[1] padding=[0], SymInt[1] dilation=[1], SymInt groups=1) -> Tensor",
        |cx, a| conv_nd(cx, a, 1),
    );
    b.add(
        "aten::conv1d.padding(Tensor input, Tensor weight, Tensor? bias=None, SymInt[1] stride=[1], str padding=\"valid\", SymInt[1] dilation=[1], SymInt groups=1) -> Tensor",
        |cx, a| conv_nd(cx, a, 1),
    );
    b.add(
        "aten::conv2d(Tensor input, Tensor weight, Tensor? bias=None, SymInt[2] stride=[1, 1], SymInt[2] padding=[0, 0], SymInt[2] dilation=[1, 1], SymInt groups=1) -> Tensor",
        |cx, a| conv_nd(cx, a, 2),
    );
    b.add(
        "aten::conv2d.padding(Tensor input, Tensor weight, Tensor? bias=None, SymInt[2] stride=[1, 1], str padding=\"valid\", SymInt[2] dilation=[1, 1], SymInt groups=1) -> Tensor",
        |cx, a| conv_nd(cx, a, 2),
    );
    b.add(
        "aten::conv_transpose1d(Tensor input, Tensor weight, Tensor? bias=None, SymInt[1] stride=[1], SymInt[1] padding=[0], SymInt[1] output_padding=[0], SymInt groups=1, SymInt[1] dilation=[1]) -> Tensor",
        |cx, a| conv_transpose_nd(cx, a, 1),
    );
    b.add(
        "aten::conv_transpose2d.input(Tensor input, Tensor weight, Tensor? bias=None, SymInt[2] stride=[1, 1], SymInt[2] padding=[0, 0], SymInt[2] output_padding=[0, 0], SymInt groups=1, SymInt[2] dilation=[1, 1]) -> Tensor",
        |cx, a| conv_transpose_nd(cx, a, 2),
    );
    b.add(
        "aten::_convolution(Tensor input, Tensor weight, Tensor? bias, SymInt[] stride, SymInt[] padding, SymInt[] dilation, bool transposed, SymInt[] output_padding, SymInt groups, bool benchmark, bool deterministic, bool cudnn_enabled, bool allow_tf32) -> Tensor",
        convolution_op,
    );
    b.add(
        "aten::_convolution.deprecated(Tensor input, Tensor weight, Tensor? bias, SymInt[] stride, SymInt[] padding, SymInt[] dilation, bool transposed, int[] output_padding, SymInt groups, bool benchmark, bool deterministic, bool cudnn_enabled) -> Tensor",
        convolution_op,
    );
    b.add(
        "aten::convolution(Tensor input, Tensor weight, Tensor? bias, SymInt[] stride, SymInt[] padding, SymInt[] dilation, bool transposed, SymInt[] output_padding, SymInt groups) -> Tensor",
        convolution_op,
    );
}

/// Padding as given: per-dim amounts, or PyTorch's `"same"` (output as long as the input,
/// any odd total on the right).
#[derive(Debug, Clone)]
enum Padding {
    Explicit(Vec<usize>),
    Same,
}

/// A convolution's hyperparameters, checked, one entry per spatial dim.
#[derive(Debug, Clone)]
struct Conv {
    stride: Vec<usize>,
    padding: Padding,
    dilation: Vec<usize>,
    output_padding: Vec<usize>,
    groups: usize,
    transposed: bool,
}

/// `conv1d`/`conv2d` and their `padding` string overloads.
fn conv_nd(cx: &Ctx, a: &Args, n: usize) -> Result<Value> {
    let padding = match a.value(4) {
        Value::Str(s) => match &**s {
            "same" => Padding::Same,
            "valid" => Padding::Explicit(vec![0; n]),
            other => return Err(script(format!("Invalid padding string: '{other}'"))),
        },
        _ => Padding::Explicit(sizes(&a.ints(4)?, n, "padding", 0)?),
    };
    let conv = Conv {
        stride: sizes(&a.ints(3)?, n, "stride", 1)?,
        padding,
        dilation: sizes(&a.ints(5)?, n, "dilation", 1)?,
        output_padding: vec![0; n],
        groups: groups(a.int(6)?)?,
        transposed: false,
    };
    let name = if n == 1 { "conv1d" } else { "conv2d" };
    run(cx, a, name, n, &conv)
}

/// `conv_transpose1d`/`conv_transpose2d.input`.
fn conv_transpose_nd(cx: &Ctx, a: &Args, n: usize) -> Result<Value> {
    let conv = Conv {
        stride: sizes(&a.ints(3)?, n, "stride", 1)?,
        padding: Padding::Explicit(sizes(&a.ints(4)?, n, "padding", 0)?),
        output_padding: sizes(&a.ints(5)?, n, "output_padding", 0)?,
        groups: groups(a.int(6)?)?,
        dilation: sizes(&a.ints(7)?, n, "dilation", 1)?,
        transposed: true,
    };
    let name = if n == 1 {
        "conv_transpose1d"
    } else {
        "conv_transpose2d"
    };
    run(cx, a, name, n, &conv)
}

/// `_convolution`, `_convolution.deprecated` and `convolution`: the spatial rank is the
/// weight's.
fn convolution_op(cx: &Ctx, a: &Args) -> Result<Value> {
    let weight = a.tensor(1)?;
    let n = weight.rank().saturating_sub(2);
    if !(1..=2).contains(&n) {
        return Err(script(format!(
            "only 1-D and 2-D convolutions are supported, got a weight of shape {:?}",
            weight.dims()
        )));
    }
    let transposed = a.bool(6)?;
    let conv = Conv {
        stride: sizes(&a.ints(3)?, n, "stride", 1)?,
        padding: Padding::Explicit(sizes(&a.ints(4)?, n, "padding", 0)?),
        dilation: sizes(&a.ints(5)?, n, "dilation", 1)?,
        output_padding: if transposed {
            sizes(&a.ints(7)?, n, "output_padding", 0)?
        } else {
            vec![0; n]
        },
        groups: groups(a.int(8)?)?,
        transposed,
    };
    run(cx, a, "convolution", n, &conv)
}

/// One value per spatial dim (a single value stands for all), each at least `min`.
fn sizes(v: &[i64], n: usize, what: &str, min: i64) -> Result<Vec<usize>> {
    let v = match v.len() {
        1 => vec![v[0]; n],
        len if len == n => v.to_vec(),
        _ => {
            return Err(script(format!(
                "expected {what} to be a single integer value or a list of {n} values to match \
                 the convolution dimensions, but got {what}={v:?}"
            )))
        }
    };
    if let Some(&bad) = v.iter().find(|&&x| x < min) {
        return Err(script(match (what, min) {
            ("padding" | "output_padding", _) => format!("negative {what} is not supported"),
            _ => format!("non-positive {what} is not supported (got {bad})"),
        }));
    }
    v.iter().map(|&x| to_usize(x, what)).collect()
}

fn groups(g: i64) -> Result<usize> {
    if g <= 0 {
        return Err(script("non-positive groups is not supported"));
    }
    to_usize(g, "groups")
}

/// Checks the tensors, computes and returns the convolution.
fn run(cx: &Ctx, a: &Args, name: &str, n: usize, conv: &Conv) -> Result<Value> {
    let (input, weight, bias) = (a.tensor(0)?, a.tensor(1)?, a.opt_tensor(2)?);
    let out = convolve(cx, name, input, weight, bias, n, conv)?;
    value(out)
}

fn convolve(
    cx: &Ctx,
    name: &str,
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    n: usize,
    conv: &Conv,
) -> Result<CTensor> {
    if weight.rank() != n + 2 {
        return Err(script(format!(
            "{name}: expected a {}-D weight, got shape {:?}",
            n + 2,
            weight.dims()
        )));
    }
    let batched = match input.rank() {
        r if r == n + 2 => true,
        r if r == n + 1 => false,
        _ => {
            return Err(script(format!(
                "Expected {}D (unbatched) or {}D (batched) input to {name}, but got input of \
                 size: {:?}",
                n + 1,
                n + 2,
                input.dims()
            )))
        }
    };
    if input.dtype() != weight.dtype() {
        return Err(script(format!(
            "Input type ({}) and weight type ({}) should be the same",
            input.dtype().name(),
            weight.dtype().name()
        )));
    }
    if let Some(b) = bias {
        if b.dtype() != input.dtype() {
            return Err(script(format!(
                "Input type ({}) and bias type ({}) should be the same",
                input.dtype().name(),
                b.dtype().name()
            )));
        }
    }
    if !input.dtype().is_float() {
        return Err(script(format!(
            "{name} is supported for floating-point tensors only, not {}",
            input.dtype().name()
        )));
    }
    let x = if batched {
        input.inner().clone()
    } else {
        input.inner().unsqueeze(0)?
    };
    let c_out = check_channels(x.dims(), weight.dims(), conv)?;
    if let Some(b) = bias {
        if b.dims() != [c_out] {
            return Err(script(format!(
                "Given weight of size {:?}, expected bias to be 1-dimensional with {c_out} \
                 elements, but got bias of size {:?} instead",
                weight.dims(),
                b.dims()
            )));
        }
    }
    let kernel = &weight.dims()[2..];
    if kernel.contains(&0) {
        return Err(script(format!(
            "{name}: the kernel has a zero size: {:?}",
            weight.dims()
        )));
    }
    let spatial = &x.dims()[2..];
    let out_spatial = if conv.transposed {
        transposed_sizes(spatial, kernel, conv)?
    } else {
        output_sizes(spatial, kernel, conv)?
    };
    let mut out_dims = vec![x.dims()[0], c_out];
    out_dims.extend(&out_spatial);
    cx.check(&format!("aten::{name}"), &out_dims)?;

    if let Some(y) = fast_convolve(cx, &x, weight, bias, conv, &out_dims)? {
        return Ok(if batched { y } else { y.squeeze(0)? });
    }
    let work = compute_dtype(input.dtype());
    let x = x.to_dtype(work)?.contiguous()?;
    let w = weight.inner().to_dtype(work)?.contiguous()?;
    let y = if x.elem_count() == 0 {
        CTensor::zeros(out_dims.as_slice(), work, x.device())?
    } else if conv.transposed {
        transposed(&x, &w, conv, &out_spatial)?
    } else {
        forward(&x, &w, conv)?
    };
    let mut y = match bias {
        Some(b) => {
            let mut shape = vec![1, c_out];
            shape.extend(vec![1; n]);
            y.broadcast_add(&b.inner().to_dtype(work)?.reshape(shape)?)?
        }
        None => y,
    };
    if !batched {
        y = y.squeeze(0)?;
    }
    Ok(y.to_dtype(input.dtype().candle())?)
}

/// Checks the input's channels against the weight's and groups; returns the output channels.
fn check_channels(x: &[usize], w: &[usize], conv: &Conv) -> Result<usize> {
    let g = conv.groups;
    if conv.transposed {
        if x[1] != w[0] {
            return Err(script(format!(
                "Given transposed=1, weight of size {w:?}, expected input{x:?} to have {} \
                 channels, but got {} channels instead",
                w[0], x[1]
            )));
        }
        if !w[0].is_multiple_of(g) {
            return Err(script(format!(
                "Given groups={g}, expected weight to be divisible by {g} at dimension 0, but \
                 got weight of size {w:?} instead"
            )));
        }
        w[1].checked_mul(g)
            .ok_or_else(|| script("the output channels overflow"))
    } else {
        if !w[0].is_multiple_of(g) {
            return Err(script(format!(
                "Given groups={g}, expected weight to be divisible by {g} at dimension 0, but \
                 got weight of size {w:?} instead"
            )));
        }
        if w[1].checked_mul(g) != Some(x[1]) {
            return Err(script(format!(
                "Given groups={g}, weight of size {w:?}, expected input{x:?} to have {} \
                 channels, but got {} channels instead",
                w[1].saturating_mul(g),
                x[1]
            )));
        }
        if x[1] == 0 {
            return Err(script(
                "convolutions over zero input channels are not supported",
            ));
        }
        Ok(w[0])
    }
}

/// The (left, right) zero padding of each spatial dim.
fn pads(conv: &Conv, kernel: &[usize]) -> Result<Vec<(usize, usize)>> {
    match &conv.padding {
        Padding::Explicit(p) => Ok(p.iter().map(|&p| (p, p)).collect()),
        Padding::Same => {
            if conv.stride.iter().any(|&s| s != 1) {
                return Err(script(
                    "padding='same' is not supported for strided convolutions",
                ));
            }
            Ok(kernel
                .iter()
                .zip(&conv.dilation)
                .map(|(&k, &d)| {
                    let total = d * (k - 1);
                    (total / 2, total - total / 2)
                })
                .collect())
        }
    }
}

/// A plain convolution's output sizes, with PyTorch's message for a kernel larger than the
/// padded input.
fn output_sizes(spatial: &[usize], kernel: &[usize], conv: &Conv) -> Result<Vec<usize>> {
    let pads = pads(conv, kernel)?;
    let mut out = Vec::with_capacity(spatial.len());
    for i in 0..spatial.len() {
        let padded = spatial[i]
            .checked_add(pads[i].0 + pads[i].1)
            .ok_or_else(|| script("the padded input size overflows"))?;
        let reach = conv.dilation[i]
            .checked_mul(kernel[i] - 1)
            .and_then(|r| r.checked_add(1))
            .ok_or_else(|| script("the dilated kernel size overflows"))?;
        if padded < reach {
            let fmt = |v: Vec<usize>| {
                v.iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(" x ")
            };
            let padded_all: Vec<usize> = (0..spatial.len())
                .map(|j| spatial[j] + pads[j].0 + pads[j].1)
                .collect();
            let reach_all: Vec<usize> = (0..spatial.len())
                .map(|j| conv.dilation[j] * (kernel[j] - 1) + 1)
                .collect();
            return Err(script(format!(
                "Calculated padded input size per channel: ({}). Kernel size: ({}). Kernel size \
                 can't be greater than actual input size",
                fmt(padded_all),
                fmt(reach_all)
            )));
        }
        out.push((padded - reach) / conv.stride[i] + 1);
    }
    Ok(out)
}

/// A transposed convolution's output sizes: `(L - 1)·s - 2p + d·(k - 1) + output_padding + 1`.
fn transposed_sizes(spatial: &[usize], kernel: &[usize], conv: &Conv) -> Result<Vec<usize>> {
    let Padding::Explicit(pads) = &conv.padding else {
        return Err(script(
            "padding='same' is not supported for transposed convolutions",
        ));
    };
    let (s, d, op) = (&conv.stride, &conv.dilation, &conv.output_padding);
    if (0..spatial.len()).any(|i| op[i] >= s[i] && op[i] >= d[i]) {
        return Err(script(format!(
            "output padding must be smaller than either stride or dilation, but got \
             output_padding {op:?}, stride {s:?}, dilation {d:?}"
        )));
    }
    let mut out = Vec::with_capacity(spatial.len());
    for i in 0..spatial.len() {
        let full = full_transposed(spatial[i], kernel[i], s[i], d[i])?;
        match (full + op[i]).checked_sub(2 * pads[i]) {
            Some(len) if len > 0 => out.push(len),
            _ => {
                return Err(script(format!(
                    "the transposed convolution's output would be empty: input {spatial:?}, \
                     kernel {kernel:?}, padding {pads:?}"
                )))
            }
        }
    }
    Ok(out)
}

/// The unpadded transposed output length `(L - 1)·s + d·(k - 1) + 1`.
fn full_transposed(len: usize, k: usize, s: usize, d: usize) -> Result<usize> {
    len.saturating_sub(1)
        .checked_mul(s)
        .and_then(|a| d.checked_mul(k - 1).and_then(|b| a.checked_add(b)))
        .and_then(|a| a.checked_add(1))
        .ok_or_else(|| script("the transposed convolution's output size overflows"))
}

/// A convolution in 2-D terms (a 1-D one has a unit height, kernel and stride).
#[derive(Debug, Clone, Copy)]
struct Geometry {
    batch: usize,
    c_in: usize,
    c_out: usize,
    groups: usize,
    /// The input's `(height, width)`.
    input: (usize, usize),
    /// The output's.
    output: (usize, usize),
    kernel: (usize, usize),
    stride: (usize, usize),
    /// The padding before each dim (after it, the output size says what is read).
    pad: (usize, usize),
    dilation: (usize, usize),
}

impl Geometry {
    fn new(x: &[usize], w: &[usize], out: &[usize], conv: &Conv, pad: &[usize]) -> Self {
        // A 1-D convolution's unit height: a size, stride and dilation of 1, no padding.
        let with = |v: &[usize], unit: usize| match v {
            [h, w] => (*h, *w),
            [len] => (unit, *len),
            _ => (unit, unit),
        };
        let hw = |v: &[usize]| with(v, 1);
        Geometry {
            batch: x[0],
            c_in: x[1],
            c_out: out[1],
            groups: conv.groups,
            input: hw(&x[2..]),
            output: hw(&out[2..]),
            kernel: hw(&w[2..]),
            stride: hw(&conv.stride),
            pad: with(pad, 0),
            dilation: hw(&conv.dilation),
        }
    }
}

/// The outputs `t` in `0..count` whose position `t·stride + offset - pad` lies in
/// `0..limit`: the input an im2col column reads, or the output a col2im row adds to.
fn valid(count: usize, stride: usize, offset: usize, pad: usize, limit: usize) -> Range<usize> {
    let first = pad.saturating_sub(offset).div_ceil(stride);
    let end = (limit + pad)
        .checked_sub(offset)
        .map_or(0, |room| room.div_ceil(stride));
    let end = end.min(count);
    first.min(end)..end
}

/// `slice[start..start + len]`, or an error (a bug: every length comes from the same dims).
fn part<T>(slice: &[T], start: usize, len: usize) -> Result<&[T]> {
    start
        .checked_add(len)
        .and_then(|end| slice.get(start..end))
        .ok_or_else(|| script("convolution: a buffer is shorter than its dims"))
}

fn part_mut<T>(slice: &mut [T], start: usize, len: usize) -> Result<&mut [T]> {
    start
        .checked_add(len)
        .and_then(|end| slice.get_mut(start..end))
        .ok_or_else(|| script("convolution: a buffer is shorter than its dims"))
}

/// A weight laid out for the products: the transposed convolution's `(C_out/g·kh·kw, C_in/g)`
/// per group, or a plain convolution's weight made contiguous. `groups` is the layout's.
struct Packed<T> {
    groups: usize,
    data: Vec<T>,
}

/// The convolution on the CPU through [`crate::cpu::gemm`] for f32 and f64, `None` for other
/// types and devices. `x` is `(N, C, *)`, `out` the checked output dims.
fn fast_convolve(
    cx: &Ctx,
    x: &CTensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    conv: &Conv,
    out: &[usize],
) -> Result<Option<CTensor>> {
    let dtype = x.dtype();
    let cpu = |t: &CTensor| t.device().is_cpu() && t.dtype() == dtype;
    if !cpu(x) || !cpu(weight.inner()) || !bias.is_none_or(|b| cpu(b.inner())) {
        return Ok(None);
    }
    let kernel = &weight.dims()[2..];
    let pad: Vec<usize> = match &conv.padding {
        Padding::Explicit(p) => p.clone(),
        Padding::Same => pads(conv, kernel)?.iter().map(|p| p.0).collect(),
    };
    let geometry = Geometry::new(x.dims(), weight.dims(), out, conv, &pad);
    let bias = bias.map(|b| b.inner());
    let y = match dtype {
        DType::F32 => convolve_cpu::<f32>(cx, x, weight.inner(), bias, conv, &geometry, out)?,
        DType::F64 => convolve_cpu::<f64>(cx, x, weight.inner(), bias, conv, &geometry, out)?,
        _ => return Ok(None),
    };
    Ok(Some(y))
}

/// [`fast_convolve`] in `T`.
fn convolve_cpu<T: Float>(
    cx: &Ctx,
    x: &CTensor,
    w: &CTensor,
    bias: Option<&CTensor>,
    conv: &Conv,
    g: &Geometry,
    dims: &[usize],
) -> Result<CTensor> {
    // The product's other operand, per batch item and group: the im2col, or the transposed
    // convolution's columns, within the limits as the output is.
    let (cg, og) = (g.c_in / g.groups, g.c_out / g.groups);
    let (kernel, input, output) = (
        g.kernel.0 * g.kernel.1,
        g.input.0 * g.input.1,
        g.output.0 * g.output.1,
    );
    let buffer = if conv.transposed {
        [og, kernel, input]
    } else {
        [cg, kernel, output]
    };
    cx.limits
        .check_elements("a convolution's im2col buffer", &buffer)?;
    let packed = if conv.transposed || !w.is_contiguous() {
        Some(packed_weight::<T>(cx, w, conv)?)
    } else {
        None
    };
    let x = x.contiguous()?;
    let (xs, xl) = x.storage_and_layout();
    let xd = crate::cpu::contiguous::<T>(cpu_storage(&xs)?, xl)?;
    let (ws, wl) = w.storage_and_layout();
    let wd: &[T] = match &packed {
        Some(p) => &p.data,
        None => crate::cpu::contiguous::<T>(cpu_storage(&ws)?, wl)?,
    };
    let bias: Option<Vec<T>> = bias.map(strided_vec).transpose()?;
    let (oh, ow) = g.output;
    let plane = oh * ow;
    let mut out = vec![T::ZERO; g.batch * g.c_out * plane];
    if conv.transposed {
        transposed_cpu(xd, wd, g, &mut out)?;
        if let Some(b) = &bias {
            for (channel, &v) in out.chunks_mut(plane).zip(b.iter().cycle()) {
                channel.iter_mut().for_each(|y| *y += v);
            }
        }
    } else {
        if let Some(b) = &bias {
            for (channel, &v) in out.chunks_mut(plane).zip(b.iter().cycle()) {
                channel.fill(v);
            }
        }
        forward_cpu(xd, wd, g, &mut out, bias.is_some())?;
    }
    Ok(CTensor::from_vec(out, dims, &Device::Cpu)?)
}

/// The weight as [`Packed`] (see there), built once per program for a constant weight.
fn packed_weight<T: Float>(cx: &Ctx, w: &CTensor, conv: &Conv) -> Result<Arc<Packed<T>>> {
    let make = || -> Result<Packed<T>> {
        let data = strided_vec::<T>(w)?;
        if !conv.transposed {
            return Ok(Packed {
                groups: conv.groups,
                data,
            });
        }
        // (C_in, C_out/g, kh, kw): group `i`'s block `(C_in/g, okk)` transposed.
        let c_in = w.dims()[0];
        if data.is_empty() {
            return Ok(Packed {
                groups: conv.groups,
                data,
            });
        }
        let (cg, okk) = (c_in / conv.groups, w.elem_count() / c_in.max(1));
        let mut t = Vec::with_capacity(data.len());
        for block in data.chunks(cg * okk) {
            for r in 0..okk {
                t.extend(block.iter().skip(r).step_by(okk.max(1)));
            }
        }
        Ok(Packed {
            groups: conv.groups,
            data: t,
        })
    };
    let op = if conv.transposed {
        "aten::conv_transpose (packed weight)"
    } else {
        "aten::convolution (contiguous weight)"
    };
    let found = match cx.constants {
        Some(c) => c.prepared(op, &[Some(w)], make)?,
        None => Arc::new(make()?),
    };
    // The same weight transposed with other groups: laid out anew.
    if !conv.transposed || found.groups == conv.groups {
        Ok(found)
    } else {
        Ok(Arc::new(make()?))
    }
}

/// A plain convolution: `out` `(N, C_out, OH·OW)` (holding the bias where `accumulate`)
/// gets each group's weight times its im2col.
fn forward_cpu<T: Float>(
    x: &[T],
    w: &[T],
    g: &Geometry,
    out: &mut [T],
    accumulate: bool,
) -> Result<()> {
    let (cg, og) = (g.c_in / g.groups, g.c_out / g.groups);
    let ((h, wd), (oh, ow), (kh, kw)) = (g.input, g.output, g.kernel);
    let (in_plane, plane, kk) = (h * wd, oh * ow, cg * kh * kw);
    // A 1×1 kernel with unit strides and no padding reads the input as it lies.
    let direct = (kh, kw) == (1, 1) && g.stride == (1, 1) && g.pad == (0, 0);
    let mut col = if direct {
        Vec::new()
    } else {
        vec![T::ZERO; kk * plane]
    };
    for b in 0..g.batch {
        for group in 0..g.groups {
            let xg = part(x, (b * g.c_in + group * cg) * in_plane, cg * in_plane)?;
            let rhs = if direct {
                Mat::row_major(xg, cg, in_plane)
            } else {
                im2col(xg, g, &mut col);
                Mat::row_major(&col, kk, plane)
            };
            let lhs = Mat::row_major(part(w, group * og * kk, og * kk)?, og, kk);
            let dst = part_mut(out, (b * g.c_out + group * og) * plane, og * plane)?;
            cpu_gemm::matmul(dst, plane, lhs, rhs, accumulate, T::ONE)?;
        }
    }
    Ok(())
}

/// The im2col of one group's input `(C_in/g, H, W)`: row `(c, i, j)` holds what kernel
/// offset `(i, j)` of channel `c` reads at each output position, zero in the padding.
fn im2col<T: Float>(x: &[T], g: &Geometry, col: &mut [T]) {
    let ((h, w), (oh, ow), (kh, kw)) = (g.input, g.output, g.kernel);
    let ((sh, sw), (ph, pw), (dh, dw)) = (g.stride, g.pad, g.dilation);
    // Unit strides and rows as wide as the input's (a "same" convolution): each kernel
    // offset's row is the plane shifted, one copy, then its padding zeroed.
    let shifted = (sh, sw) == (1, 1) && ow == w;
    let mut rows = col.chunks_exact_mut(oh * ow);
    for src in x.chunks_exact(h * w) {
        for i in 0..kh {
            let ys = valid(oh, sh, i * dh, ph, h);
            for j in 0..kw {
                let Some(row) = rows.next() else {
                    return;
                };
                let xs = valid(ow, sw, j * dw, pw, w);
                if shifted {
                    let dy = (i * dh) as isize - ph as isize;
                    let dx = (j * dw) as isize - pw as isize;
                    shifted_copy(src, row, (ys.clone(), xs), dy * w as isize + dx, w);
                    continue;
                }
                for (oy, dst) in row.chunks_exact_mut(ow).enumerate() {
                    if !ys.contains(&oy) || xs.is_empty() {
                        dst.fill(T::ZERO);
                        continue;
                    }
                    let line = &src[(oy * sh + i * dh - ph) * w..][..w];
                    dst[..xs.start].fill(T::ZERO);
                    dst[xs.end..].fill(T::ZERO);
                    let first = xs.start * sw + j * dw - pw;
                    if sw == 1 {
                        dst[xs.clone()].copy_from_slice(&line[first..first + xs.len()]);
                    } else {
                        for (d, &v) in dst[xs.clone()]
                            .iter_mut()
                            .zip(line[first..].iter().step_by(sw))
                        {
                            *d = v;
                        }
                    }
                }
            }
        }
    }
}

/// One im2col row of a unit-stride convolution whose output rows are as wide as the input's:
/// output position `k` (flat) reads input `k + shift`, zero outside rows `ys` and columns
/// `xs`. The one copy also reads across row ends, into what the zeroing then overwrites.
fn shifted_copy<T: Float>(
    src: &[T],
    row: &mut [T],
    (ys, xs): (Range<usize>, Range<usize>),
    shift: isize,
    w: usize,
) {
    let (lo, hi) = (ys.start * w, ys.end * w);
    let from = lo.max(usize::try_from(-shift).unwrap_or(0));
    let to = hi.min(usize::try_from(src.len() as isize - shift).unwrap_or(0));
    if from < to {
        let at = from.saturating_add_signed(shift);
        row[from..to].copy_from_slice(&src[at..at + (to - from)]);
    }
    row[..lo].fill(T::ZERO);
    row[hi..].fill(T::ZERO);
    for line in row[lo..hi].chunks_exact_mut(w) {
        line[..xs.start].fill(T::ZERO);
        line[xs.end..].fill(T::ZERO);
    }
}

/// A transposed convolution, unbiased: per batch item and group, the packed weight
/// `(C_out/g·kh·kw, C_in/g)` times the input `(C_in/g, H·W)`, scattered onto `out`
/// `(N, C_out, OH·OW)` (col2im), cropped by the padding.
fn transposed_cpu<T: Float>(x: &[T], w: &[T], g: &Geometry, out: &mut [T]) -> Result<()> {
    let (cg, og) = (g.c_in / g.groups, g.c_out / g.groups);
    let ((h, wd), (oh, ow), (kh, kw)) = (g.input, g.output, g.kernel);
    let (in_plane, plane, okk) = (h * wd, oh * ow, og * kh * kw);
    let mut cols = vec![T::ZERO; okk * in_plane];
    for b in 0..g.batch {
        for group in 0..g.groups {
            let xg = part(x, (b * g.c_in + group * cg) * in_plane, cg * in_plane)?;
            let lhs = Mat::row_major(part(w, group * okk * cg, okk * cg)?, okk, cg);
            cpu_gemm::matmul(
                &mut cols,
                in_plane,
                lhs,
                Mat::row_major(xg, cg, in_plane),
                false,
                T::ONE,
            )?;
            let dst = part_mut(out, (b * g.c_out + group * og) * plane, og * plane)?;
            col2im(&cols, g, dst);
        }
    }
    Ok(())
}

/// Adds each row `(c, i, j)` of `cols` (one value per input position) to the output
/// positions kernel offset `(i, j)` of channel `c` reaches; positions cropped by the
/// padding are dropped.
fn col2im<T: Float>(cols: &[T], g: &Geometry, out: &mut [T]) {
    let ((h, w), (oh, ow), (kh, kw)) = (g.input, g.output, g.kernel);
    let ((sh, sw), (ph, pw), (dh, dw)) = (g.stride, g.pad, g.dilation);
    let mut rows = cols.chunks_exact(h * w);
    for dst in out.chunks_exact_mut(oh * ow) {
        for i in 0..kh {
            let ys = valid(h, sh, i * dh, ph, oh);
            for j in 0..kw {
                let Some(row) = rows.next() else {
                    return;
                };
                let xs = valid(w, sw, j * dw, pw, ow);
                if xs.is_empty() {
                    continue;
                }
                for iy in ys.clone() {
                    let line = &mut dst[(iy * sh + i * dh - ph) * ow..][..ow];
                    let src = &row[iy * w..][..w];
                    let first = xs.start * sw + j * dw - pw;
                    for (d, &v) in line[first..].iter_mut().step_by(sw).zip(&src[xs.clone()]) {
                        *d += v;
                    }
                }
            }
        }
    }
}

/// A plain convolution of `x` `(N, C, *)` by `w` (same compute type), without bias.
fn forward(x: &CTensor, w: &CTensor, conv: &Conv) -> Result<CTensor> {
    let n = x.rank() - 2;
    let kernel = &w.dims()[2..];
    let pads = pads(conv, kernel)?;
    // Uneven or asymmetric padding: explicit zeros; candle then pads nothing.
    let symmetric = pads.iter().all(|&(l, r)| l == r && l == pads[0].0);
    let mut x = x.clone();
    let mut pad = pads[0].0;
    if !symmetric {
        for (i, &(l, r)) in pads.iter().enumerate() {
            x = x.pad_with_zeros(2 + i, l, r)?;
        }
        pad = 0;
    }
    let even_stride = conv.stride.iter().all(|&s| s == conv.stride[0]);
    let stride = if even_stride { conv.stride[0] } else { 1 };
    let g = conv.groups;
    let y = if n == 1 {
        x.conv1d(w, pad, stride, conv.dilation[0], g)?
    } else if conv.dilation[0] == conv.dilation[1] || kernel[0] == 1 || kernel[1] == 1 {
        let d = if kernel[0] == 1 {
            conv.dilation[1]
        } else {
            conv.dilation[0]
        };
        x.conv2d(w, pad, stride, d, g)?
    } else {
        uneven_dilation(&x, w, pad, stride, conv)?
    };
    if even_stride {
        return Ok(y);
    }
    let mut y = y;
    for (i, &s) in conv.stride.iter().enumerate() {
        y = subsample(&y, 2 + i, s)?;
    }
    Ok(y)
}

/// A 2-D convolution whose two dilations differ: one convolution per kernel row (its height
/// then does not matter, so candle's single dilation is the width's), summed.
fn uneven_dilation(
    x: &CTensor,
    w: &CTensor,
    pad: usize,
    stride: usize,
    conv: &Conv,
) -> Result<CTensor> {
    let x = if pad > 0 {
        x.pad_with_zeros(2, pad, pad)?.pad_with_zeros(3, pad, pad)?
    } else {
        x.clone()
    };
    let (kh, dh) = (w.dim(2)?, conv.dilation[0]);
    let rows = x.dim(2)? - dh * (kh - 1);
    let mut sum: Option<CTensor> = None;
    for r in 0..kh {
        let part = x.narrow(2, r * dh, rows)?.contiguous()?;
        let y = part.conv2d(
            &w.narrow(2, r, 1)?.contiguous()?,
            0,
            stride,
            conv.dilation[1],
            conv.groups,
        )?;
        sum = Some(match sum {
            Some(s) => (s + y)?,
            None => y,
        });
    }
    sum.ok_or_else(|| script("empty kernel"))
}

/// Every `step`th index of `dim`, from 0.
fn subsample(t: &CTensor, dim: usize, step: usize) -> Result<CTensor> {
    if step == 1 {
        return Ok(t.clone());
    }
    let len = t.dim(dim)?;
    let index: Vec<u32> = (0..len).step_by(step).map(|i| i as u32).collect();
    let index = CTensor::from_vec(index.clone(), index.len(), t.device())?;
    Ok(t.index_select(&index, dim)?)
}

/// A transposed convolution, unpadded on candle's kernels, then cropped to `out` per dim
/// (its padding) with zeros past the computed end (its output padding).
fn transposed(x: &CTensor, w: &CTensor, conv: &Conv, out: &[usize]) -> Result<CTensor> {
    let n = x.rank() - 2;
    let (s, d) = (&conv.stride, &conv.dilation);
    if s.iter().any(|&v| v != s[0]) || d.iter().any(|&v| v != d[0]) {
        return Err(script(format!(
            "transposed convolutions with different strides or dilations per dimension are \
             not supported (stride {s:?}, dilation {d:?})"
        )));
    }
    let g = conv.groups;
    let full = if n == 1 {
        x.conv_transpose1d(w, 0, 0, s[0], d[0], g)?
    } else if g == 1 {
        x.conv_transpose2d(w, 0, 0, s[0], d[0])?
    } else {
        let xs = x.chunk(g, 1)?;
        let ws = w.chunk(g, 0)?;
        let parts = xs
            .iter()
            .zip(&ws)
            .map(|(xi, wi)| {
                xi.contiguous()?
                    .conv_transpose2d(&wi.contiguous()?, 0, 0, s[0], d[0])
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        CTensor::cat(&parts, 1)?
    };
    let Padding::Explicit(pads) = &conv.padding else {
        return Err(script(
            "padding='same' is not supported for transposed convolutions",
        ));
    };
    let mut y = full;
    for i in 0..n {
        let dim = 2 + i;
        let have = y.dim(dim)?;
        let start = pads[i].min(have);
        let take = out[i].min(have - start);
        y = y.narrow(dim, start, take)?;
        if take < out[i] {
            y = y.pad_with_zeros(dim, 0, out[i] - take)?;
        }
    }
    Ok(y)
}

#[cfg(test)]
#[rustfmt::skip]
mod tests {
    use crate::ops::nn::testing::*;
    use crate::ops::Value;

    #[test]
    fn convolutions_match_torch() {
        // torch.nn.functional.conv1d/conv2d on wave() inputs (values from torch 2.15.0).
        let y = call_kw(
            "aten::conv1d",
            &[wave(&[2, 4, 7], 0.), wave(&[6, 2, 3], 1.), wave(&[6], 2.)],
            &[
                ("stride", ints(&[2])),
                ("padding", ints(&[1])),
                ("groups", i(2)),
            ],
        );
        assert_eq!(dims(&y), [2, 6, 4]);
        close(
            &f64s(&y),
            &[
                2.5626461505889893, 2.3329293727874756, 0.3182210922241211, -0.40989571809768677,
                -0.7624276876449585, -0.325923889875412, 1.5331963300704956, 2.1056275367736816,
                -0.7422579526901245, -0.9405425786972046, -0.748741865158081, -0.5819063186645508,
                -2.58992862701416, -1.822630524635315, 0.329914927482605, 0.6975038051605225,
                -0.14731484651565552, -0.7888359427452087, -2.3573081493377686, -2.391249179840088,
                0.23379582166671753, 0.09552282094955444, -0.519101619720459, -0.853410542011261,
                2.5522828102111816, 1.3740260601043701, -0.5777319073677063, -0.5437576174736023,
                -0.05881017446517944, 0.7302911877632141, 1.8875389099121094, 1.4034250974655151,
                -1.4218065738677979, -1.0172810554504395, -0.20022937655448914,
                0.24048057198524475, -2.0793285369873047, -0.6401257514953613, 0.8515938520431519,
                0.38726234436035156, -1.0416313409805298, -1.8108699321746826, -2.2952659130096436,
                -1.3463702201843262, 0.6000922918319702, -0.08485549688339233, -1.101614236831665,
                -1.5676954984664917,
            ],
            1e-5,
        );
        // uneven stride, padding and dilation
        let y = call_kw(
            "aten::conv2d",
            &[
                wave(&[1, 2, 6, 5], 0.),
                wave(&[3, 2, 3, 2], 1.),
                wave(&[3], 2.),
            ],
            &[
                ("stride", ints(&[2, 1])),
                ("padding", ints(&[1, 0])),
                ("dilation", ints(&[1, 2])),
            ],
        );
        assert_eq!(dims(&y), [1, 3, 3, 3]);
        close(
            &f64s(&y),
            &[
                1.9229819774627686, 2.5847387313842773, 2.4585092067718506, 1.5849583148956299,
                0.6548268795013428, -0.15562313795089722, 0.6321486234664917, -0.17008917033672333,
                -0.4646742045879364, -0.3962543308734894, -1.6968975067138672, -1.998459815979004,
                -0.9351837635040283, -0.5788761973381042, 0.2506895363330841, -0.5632585287094116,
                0.27345022559165955, 1.1825544834136963, -0.41381776332855225, 0.27524396777153015,
                0.7146692872047424, 0.4839257299900055, 1.0440040826797485, 0.9928860664367676,
                1.050462245941162, 0.9837131500244141, 0.3341231942176819,
            ],
            1e-5,
        );
        // padding="same" with an even kernel: the odd pad goes to the right
        let y = call_kw(
            "aten::conv2d",
            &[wave(&[1, 1, 4, 5], 0.), wave(&[2, 1, 4, 3], 1.)],
            &[("padding", Value::str("same"))],
        );
        assert_eq!(dims(&y), [1, 2, 4, 5]);
        close(
            &f64s(&y),
            &[
                0.5349957942962646, 1.075162410736084, 1.418097972869873, 1.0940799713134766,
                0.2911306321620941, 0.044490814208984375, -0.026762306690216064,
                0.7692546844482422, 1.2034790515899658, 1.5681731700897217, -2.2806801795959473,
                -2.285104751586914, -1.8211586475372314, -0.5006928443908691, -0.5570583343505859,
                2.814406394958496, 3.276803493499756, 2.199159622192383, 0.0872158408164978,
                -0.5031959414482117, -2.0936026573181152, -3.1746768951416016, -3.6145758628845215,
                -2.354483127593994, -1.1650760173797607, 2.0241098403930664, 2.249636173248291,
                1.7148233652114868, 0.3735021948814392, -0.15584775805473328, -0.3423338532447815,
                -1.2734559774398804, -1.2843666076660156, -0.6912194490432739, 0.5153787136077881,
                -1.3855160474777222, -0.5212273001670837, 0.2669513523578644, 0.929578423500061,
                -0.03231373429298401,
            ],
            1e-5,
        );
    }

    #[test]
    fn transposed_convolutions_match_torch() {
        // torch.nn.functional.conv_transpose1d/2d (values from torch 2.15.0).
        let y = call_kw(
            "aten::conv_transpose1d",
            &[wave(&[2, 4, 5], 0.), wave(&[4, 3, 3], 1.), wave(&[6], 2.)],
            &[
                ("stride", ints(&[2])),
                ("padding", ints(&[1])),
                ("output_padding", ints(&[1])),
                ("groups", i(2)),
            ],
        );
        assert_eq!(dims(&y), [2, 6, 10]);
        close(
            &f64s(&y),
            &[
                0.5622471570968628, 0.47760942578315735, 0.6858447194099426, 0.7603284120559692,
                0.914535641670227, 1.1131099462509155, 1.1407629251480103, 1.370035171508789,
                1.2581284046173096, 1.1467167139053345, 0.6466441750526428, 0.7766691446304321,
                0.5780066251754761, 0.6692329049110413, 0.4385269284248352, 0.448049396276474,
                0.2938046455383301, 0.21714462339878082, 0.2119048535823822, 0.08342552185058594,
                -0.12988029420375824, -0.17652785778045654, -0.18417510390281677,
                -0.3507693409919739, -0.27203449606895447, -0.48022353649139404,
                -0.3521367609500885, -0.504006028175354, -0.3868085741996765, -0.14567233622074127,
                -1.0355197191238403, -0.9523659944534302, -0.8065999150276184, -0.6019176840782166,
                -0.5831721425056458, -0.3532264828681946, -0.47031787037849426,
                -0.32325583696365356, -0.5211142301559448, -0.6297951340675354,
                -0.8427433967590332, -0.7579607367515564, -0.9893136024475098, -0.9899440407752991,
                -1.1391059160232544, -1.2248529195785522, -1.2216707468032837, -1.3522061109542847,
                -1.1981765031814575, -1.296334147453308, -0.6432059407234192, -0.8119639754295349,
                -0.7241349220275879, -0.9281806349754333, -0.7963185906410217, -0.9396861791610718,
                -0.8258077502250671, -0.841069221496582, -0.7987332940101624, -0.5909433960914612,
                0.9264042377471924, 1.1289055347442627, 1.149598479270935, 1.377529263496399,
                1.2597752809524536, 1.4059362411499023, 1.2051169872283936, 1.2007660865783691,
                1.011330008506775, 0.9679520726203918, 0.4311040937900543, 0.43623992800712585,
                0.287966251373291, 0.20779240131378174, 0.21039678156375885, 0.08262026309967041,
                0.23487785458564758, 0.11959394812583923, 0.3498956561088562, 0.3211628794670105,
                -0.276408314704895, -0.4840953052043915, -0.35507726669311523, -0.5020573139190674,
                -0.3869328796863556, -0.4040788412094116, -0.3569928705692291, -0.2362406998872757,
                -0.2793385088443756, -0.20694933831691742, -0.5745294690132141,
                -0.34621739387512207, -0.4688951373100281, -0.32804709672927856,
                -0.5275806188583374, -0.5404396653175354, -0.7229852676391602, -0.8835034370422363,
                -0.9632070660591125, -0.9228683114051819, -1.145088791847229, -1.2341772317886353,
                -1.223084807395935, -1.3542819023132324, -1.1943566799163818, -1.3059583902359009,
                -1.072415828704834, -1.111933946609497, -0.9146127700805664, -0.8563545346260071,
                -0.7989205121994019, -0.937280535697937, -0.8258028030395508, -0.8341821432113647,
                -0.796123743057251, -0.6705814599990845, -0.7238419055938721, -0.5234225988388062,
                -0.6429525017738342, -0.7421141862869263,
            ],
            1e-5,
        );
        let y = call_kw(
            "aten::conv_transpose2d",
            &[wave(&[1, 2, 3, 4], 0.), wave(&[2, 3, 3, 3], 1.)],
            &[
                ("stride", ints(&[2])),
                ("padding", ints(&[1, 0])),
                ("output_padding", ints(&[1, 0])),
            ],
        );
        assert_eq!(dims(&y), [1, 3, 6, 9]);
        close(
            &f64s(&y),
            &[
                -0.007564318832010031, -0.5563116669654846, -0.8194543719291687,
                -0.6018906831741333, -0.900445818901062, -0.36439111828804016, -0.5579435229301453,
                0.04448731243610382, 0.024372238665819168, -1.3015450239181519,
                -0.9103655815124512, -1.7656729221343994, -1.3011353015899658, -1.575815200805664,
                -1.079960823059082, -0.6448267698287964, -0.35086384415626526, -0.2837483584880829,
                0.022596033290028572, 0.43244263529777527, 0.629790186882019, 0.6170134544372559,
                0.9164119958877563, 0.511393129825592, 0.7720308899879456, 0.16525667905807495,
                0.29956820607185364, 0.8731819987297058, 0.5432498455047607, 1.5464742183685303,
                1.1818647384643555, 1.7761839628219604, 1.2646300792694092, 1.1705265045166016,
                0.7526201605796814, 0.3582703471183777, -0.035016655921936035, -0.2586025595664978,
                -0.3673504590988159, -0.5608370304107666, -0.826481819152832, -0.5993010401725769,
                -0.8969058394432068, -0.3559044599533081, -0.5888919830322266, -0.2929459810256958,
                -0.0875512883067131, -0.5820828676223755, -0.28253695368766785,
                -0.5317970514297485, -0.3446410596370697, -0.2313988208770752,
                -0.24465510249137878, 0.1706693470478058, -0.021931827068328857,
                -0.5671407580375671, -0.8378428816795349, -0.6144460439682007, -0.9138601422309875,
                -0.37276771664619446, -0.5600746870040894, 0.04422910511493683,
                0.023694271221756935, -1.2991396188735962, -0.8944398164749146,
                -1.7440098524093628, -1.2832170724868774, -1.550966501235962, -1.0684772729873657,
                -0.6284792423248291, -0.3512159585952759, -0.2802150547504425, 0.03342840448021889,
                0.44042426347732544, 0.6474543809890747, 0.6294810175895691, 0.9332781434059143,
                0.5224829912185669, 0.7801666259765625, 0.16975310444831848, 0.30119267106056213,
                0.8698065876960754, 0.5312277674674988, 1.5303683280944824, 1.1638267040252686,
                1.7513887882232666, 1.249059796333313, 1.148703932762146, 0.7468405365943909,
                0.34572833776474, -0.04106215387582779, -0.26281437277793884, -0.3822489380836487,
                -0.5717760920524597, -0.8448507785797119, -0.6118226647377014, -0.9101061224937439,
                -0.36411941051483154, -0.5912752747535706, -0.2893418073654175, -0.08164082467556,
                -0.569121241569519, -0.2687944769859314, -0.5103938579559326, -0.32952988147735596,
                -0.2116202712059021, -0.23528224229812622, 0.1804375797510147,
                -0.03629313409328461, -0.5778095722198486, -0.8559945821762085,
                -0.6268277168273926, -0.9270160794258118, -0.381039023399353, -0.5620474815368652,
                0.043958310037851334, 0.023009557276964188, -1.2963669300079346,
                -0.8782610893249512, -1.7218537330627441, -1.2649359703063965, -1.525679349899292,
                -1.0566917657852173, -0.6119539737701416, -0.3514688014984131,
                -0.27660250663757324, 0.044251322746276855, 0.44828131794929504,
                0.6649353504180908, 0.6417706608772278, 0.9498804211616516, 0.5334252119064331,
                0.7880818247795105, 0.17420153319835663, 0.30273208022117615, 0.8661853671073914,
                0.5190553665161133, 1.5138297080993652, 1.1454596519470215, 1.7260987758636475,
                1.2331364154815674, 1.1265565156936646, 0.7408498525619507, 0.33308863639831543,
                -0.04709604009985924, -0.2669518291950226, -0.39703935384750366,
                -0.5825535655021667, -0.8629809021949768, -0.624171257019043, -0.9230490922927856,
                -0.37223148345947266, -0.5934914350509644, -0.2856558561325073,
                -0.07570725679397583, -0.5559987425804138, -0.2549760043621063,
                -0.4888463616371155, -0.3143255412578583, -0.19178205728530884,
                -0.22584287822246552, 0.1901547908782959,
            ],
            1e-5,
        );
    }

    #[test]
    fn convolution_forms_and_unbatched_inputs() {
        // torch._convolution(x[None], w, None, [1], [1], [2], False, [0], 1, ...)[0] in f64,
        // the same as conv1d(x, w, padding=1, dilation=2) on the unbatched x.
        let (x, w) = (cast(&wave(&[3, 6], 0.), 7), cast(&wave(&[2, 3, 2], 1.), 7));
        let flags = [
            Value::Bool(false),
            Value::Bool(false),
            Value::Bool(true),
            Value::Bool(true),
        ];
        let mut args = vec![
            x.clone(),
            w.clone(),
            Value::None,
            ints(&[1]),
            ints(&[1]),
            ints(&[2]),
        ];
        args.extend([Value::Bool(false), ints(&[0]), i(1)]);
        args.extend(flags);
        let y = call("aten::_convolution", &args);
        assert_eq!(dims(&y), [2, 6]);
        close(
            &f64s(&y),
            &[
                0.2860687209891992, 0.19762131050845344, 1.39987963261856, 1.9437526913189558,
                1.5734485383957573, 1.3247706743261531, -0.8648192638342937, -0.5742807682982587,
                -1.451155056052851, -1.6455284725517556, -1.0659841619745283, -1.060025902111434,
            ],
            1e-12,
        );
        let y = call_kw(
            "aten::conv1d",
            &[x, w],
            &[("padding", ints(&[1])), ("dilation", ints(&[2]))],
        );
        assert_eq!(dims(&y), [2, 6]);
        close(
            &f64s(&y),
            &[
                0.2860687209891992, 0.19762131050845344, 1.39987963261856, 1.9437526913189558,
                1.5734485383957573, 1.3247706743261531, -0.8648192638342937, -0.5742807682982587,
                -1.451155056052851, -1.6455284725517556, -1.0659841619745283, -1.060025902111434,
            ],
            1e-12,
        );
    }

    #[test]
    fn convolution_errors_are_pytorchs() {
        let e = call_err(
            "aten::conv1d",
            &[wave(&[2, 5, 10], 0.), wave(&[4, 3, 3], 1.)],
        );
        assert!(
            e.contains("expected input[2, 5, 10] to have 3 channels, but got 5 channels"),
            "{e}"
        );
        let e = call_err(
            "aten::conv1d",
            &[wave(&[2, 3, 2], 0.), wave(&[4, 3, 3], 1.)],
        );
        assert!(
            e.contains("Kernel size can't be greater than actual input size"),
            "{e}"
        );
        let e = call_err("aten::conv1d", &[wave(&[3], 0.), wave(&[4, 3, 3], 1.)]);
        assert!(
            e.contains("Expected 2D (unbatched) or 3D (batched) input to conv1d"),
            "{e}"
        );
        let e = call_err_kw(
            "aten::conv1d",
            &[wave(&[2, 3, 10], 0.), wave(&[4, 3, 3], 1.)],
            &[("padding", Value::str("same")), ("stride", ints(&[2]))],
        );
        assert!(
            e.contains("padding='same' is not supported for strided convolutions"),
            "{e}"
        );
        let e = call_err_kw(
            "aten::conv1d",
            &[wave(&[2, 3, 10], 0.), wave(&[4, 3, 3], 1.)],
            &[("padding", Value::str("foo"))],
        );
        assert!(e.contains("Invalid padding string: 'foo'"), "{e}");
        let e = call_err(
            "aten::conv1d",
            &[wave(&[2, 3, 10], 0.), cast(&wave(&[4, 3, 3], 1.), 7)],
        );
        assert!(e.contains("should be the same"), "{e}");
        let e = call_err(
            "aten::conv1d",
            &[wave(&[2, 3, 10], 0.), wave(&[4, 3, 3], 1.), wave(&[5], 0.)],
        );
        assert!(
            e.contains("expected bias to be 1-dimensional with 4 elements"),
            "{e}"
        );
        let e = call_err_kw(
            "aten::conv_transpose1d",
            &[wave(&[2, 4, 10], 0.), wave(&[4, 3, 3], 1.)],
            &[("output_padding", ints(&[1]))],
        );
        assert!(
            e.contains("output padding must be smaller than either stride or dilation"),
            "{e}"
        );
        let e = call_err(
            "aten::conv1d",
            &[
                cast(&wave(&[2, 3, 10], 0.), 4),
                cast(&wave(&[4, 3, 3], 1.), 4),
            ],
        );
        assert!(e.contains("floating-point"), "{e}");
    }

    /// A convolution by its definition, in f64: `x` `(N, C, H, W)` by `w` (`(C_out, C/g, kh,
    /// kw)`, or `(C, C_out/g, kh, kw)` transposed) into `(N, C_out, oh, ow)`; `pad` is the
    /// padding before each dim, positions outside the input read zero.
    struct Naive {
        x: [usize; 4],
        w: [usize; 4],
        stride: [usize; 2],
        pad: [usize; 2],
        dilation: [usize; 2],
        groups: usize,
        transposed: bool,
        out: [usize; 2],
    }

    impl Naive {
        fn run(&self, x: &[f64], w: &[f64], bias: Option<&[f64]>) -> Vec<f64> {
            let [n, c, h, wd] = self.x;
            let [w0, w1, kh, kw] = self.w;
            let g = self.groups;
            let c_out = if self.transposed { w1 * g } else { w0 };
            let (cg, og) = (c / g, c_out / g);
            let [oh, ow] = self.out;
            let mut y = vec![0.0; n * c_out * oh * ow];
            let at = |dims: [usize; 4], i: [usize; 4]| ((i[0] * dims[1] + i[1]) * dims[2] + i[2]) * dims[3] + i[3];
            for b in 0..n {
                for grp in 0..g {
                    for co in 0..og {
                        for ci in 0..cg {
                            for i in 0..kh {
                                for j in 0..kw {
                                    let (ic, oc) = (grp * cg + ci, grp * og + co);
                                    let wv = if self.transposed {
                                        w[at(self.w, [ic, co, i, j])]
                                    } else {
                                        w[at(self.w, [oc, ci, i, j])]
                                    };
                                    let off = |k: usize, d: usize| (k * self.dilation[d]) as i64 - self.pad[d] as i64;
                                    if self.transposed {
                                        for iy in 0..h {
                                            for ix in 0..wd {
                                                let oy = (iy * self.stride[0]) as i64 + off(i, 0);
                                                let ox = (ix * self.stride[1]) as i64 + off(j, 1);
                                                if (0..oh as i64).contains(&oy) && (0..ow as i64).contains(&ox) {
                                                    y[at([n, c_out, oh, ow], [b, oc, oy as usize, ox as usize])] +=
                                                        x[at(self.x, [b, ic, iy, ix])] * wv;
                                                }
                                            }
                                        }
                                    } else {
                                        for oy in 0..oh {
                                            for ox in 0..ow {
                                                let iy = (oy * self.stride[0]) as i64 + off(i, 0);
                                                let ix = (ox * self.stride[1]) as i64 + off(j, 1);
                                                if (0..h as i64).contains(&iy) && (0..wd as i64).contains(&ix) {
                                                    y[at([n, c_out, oh, ow], [b, oc, oy, ox])] +=
                                                        x[at(self.x, [b, ic, iy as usize, ix as usize])] * wv;
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if let Some(bias) = bias {
                for (k, v) in y.iter_mut().enumerate() {
                    *v += bias[(k / (oh * ow)) % c_out];
                }
            }
            y
        }
    }

    /// `kwargs` with int-list values.
    fn kw<'a>(pairs: &[(&'a str, &[i64])]) -> Vec<(&'a str, Value)> {
        pairs.iter().map(|(k, v)| (*k, ints(v))).collect()
    }

    #[test]
    fn convolutions_match_their_definition() {
        // f64, so that the CPU path's products are checked to the last bits against a direct
        // sum: groups, uneven strides, paddings and dilations, batch 1, 1×1 kernels.
        // (input, weight, stride, padding, dilation, groups, bias)
        type Case = ([usize; 4], [usize; 4], [usize; 2], [usize; 2], [usize; 2], usize, bool);
        let cases: &[Case] = &[
            ([2, 6, 7, 5], [4, 3, 3, 2], [2, 1], [1, 0], [1, 2], 2, true),
            ([1, 3, 6, 6], [3, 1, 3, 3], [1, 1], [2, 1], [2, 1], 3, false),
            ([1, 3, 5, 4], [6, 1, 2, 3], [1, 2], [0, 2], [3, 1], 3, true),
            ([2, 4, 3, 5], [5, 4, 1, 1], [1, 1], [0, 0], [1, 1], 1, true),
            ([2, 4, 5, 5], [5, 4, 1, 1], [2, 3], [1, 0], [1, 1], 1, false),
            ([1, 2, 9, 8], [3, 2, 4, 4], [3, 2], [2, 2], [1, 1], 1, true),
        ];
        for &(xd, wd, stride, pad, dilation, groups, with_bias) in cases {
            let (x, w, b) = (cast(&wave(&xd, 0.), 7), cast(&wave(&wd, 1.), 7), cast(&wave(&[wd[0]], 2.), 7));
            let out = |d: usize| (xd[2 + d] + 2 * pad[d] - dilation[d] * (wd[2 + d] - 1) - 1) / stride[d] + 1;
            let naive = Naive { x: xd, w: wd, stride, pad, dilation, groups, transposed: false, out: [out(0), out(1)] };
            let want = naive.run(&f64s(&x), &f64s(&w), with_bias.then(|| f64s(&b)).as_deref());
            let mut kwargs = kw(&[("stride", &[stride[0] as i64, stride[1] as i64]), ("padding", &[pad[0] as i64, pad[1] as i64]), ("dilation", &[dilation[0] as i64, dilation[1] as i64])]);
            kwargs.push(("groups", i(groups as i64)));
            let args = if with_bias { vec![x, w, b] } else { vec![x, w] };
            let y = call_kw("aten::conv2d", &args, &kwargs);
            assert_eq!(dims(&y), [xd[0], wd[0], out(0), out(1)]);
            close(&f64s(&y), &want, 1e-12);
        }
        // conv1d: a unit height.
        let (x, w, b) = (cast(&wave(&[2, 4, 9], 0.), 7), cast(&wave(&[6, 2, 3], 1.), 7), cast(&wave(&[6], 2.), 7));
        let naive = Naive { x: [2, 4, 1, 9], w: [6, 2, 1, 3], stride: [1, 3], pad: [0, 2], dilation: [1, 2], groups: 2, transposed: false, out: [1, 3] };
        let want = naive.run(&f64s(&x), &f64s(&w), Some(&f64s(&b)));
        let mut kwargs = kw(&[("stride", &[3]), ("padding", &[2]), ("dilation", &[2])]);
        kwargs.push(("groups", i(2)));
        let y = call_kw("aten::conv1d", &[x, w, b], &kwargs);
        assert_eq!(dims(&y), [2, 6, 3]);
        close(&f64s(&y), &want, 1e-12);
        // padding="same" with even kernels and a dilation: one more zero after than before.
        let (x, w) = (cast(&wave(&[1, 2, 5, 6], 0.), 7), cast(&wave(&[3, 2, 4, 2], 1.), 7));
        let naive = Naive { x: [1, 2, 5, 6], w: [3, 2, 4, 2], stride: [1, 1], pad: [1, 1], dilation: [1, 3], groups: 1, transposed: false, out: [5, 6] };
        let want = naive.run(&f64s(&x), &f64s(&w), None);
        let y = call_kw("aten::conv2d", &[x, w], &[("padding", Value::str("same")), ("dilation", ints(&[1, 3]))]);
        assert_eq!(dims(&y), [1, 3, 5, 6]);
        close(&f64s(&y), &want, 1e-12);
    }

    #[test]
    fn transposed_convolutions_match_their_definition() {
        // Groups, uneven strides and dilations, output padding, batch 1.
        let (x, w, b) = (cast(&wave(&[2, 4, 3, 5], 0.), 7), cast(&wave(&[4, 3, 2, 3], 1.), 7), cast(&wave(&[6], 2.), 7));
        // (L - 1)·s - 2p + d·(k - 1) + output_padding + 1
        let out = [2 * 2 - 2 + 1 + 1 + 1, 4 * 3 + 2 * 2 + 1 + 1];
        let naive = Naive { x: [2, 4, 3, 5], w: [4, 3, 2, 3], stride: [2, 3], pad: [1, 0], dilation: [1, 2], groups: 2, transposed: true, out };
        let want = naive.run(&f64s(&x), &f64s(&w), Some(&f64s(&b)));
        let mut kwargs = kw(&[("stride", &[2, 3]), ("padding", &[1, 0]), ("output_padding", &[1, 1]), ("dilation", &[1, 2])]);
        kwargs.push(("groups", i(2)));
        let y = call_kw("aten::conv_transpose2d", &[x, w, b], &kwargs);
        assert_eq!(dims(&y), [2, 6, out[0], out[1]]);
        close(&f64s(&y), &want, 1e-12);
        // 1-D, unbatched: (6 - 1)·2 - 2 + 2·2 + 1 + 1 = 14.
        let (x, w) = (cast(&wave(&[2, 6], 0.), 7), cast(&wave(&[2, 3, 3], 1.), 7));
        let naive = Naive { x: [1, 2, 1, 6], w: [2, 3, 1, 3], stride: [1, 2], pad: [0, 1], dilation: [1, 2], groups: 1, transposed: true, out: [1, 14] };
        let want = naive.run(&f64s(&x), &f64s(&w), None);
        let y = call_kw("aten::conv_transpose1d", &[x, w], &kw(&[("stride", &[2]), ("padding", &[1]), ("output_padding", &[1]), ("dilation", &[2])]));
        assert_eq!(dims(&y), [3, 14]);
        close(&f64s(&y), &want, 1e-12);
    }

    #[test]
    fn strided_operands_and_constant_weights() {
        use crate::limits::Limits;
        use crate::ops::constants::Constants;
        use crate::ops::registry::Ctx;
        use crate::ops::tensor::Tensor;
        use candle_core::Device;
        // An input and a weight read through transposed views give what their copies give.
        let (x, w) = (wave(&[2, 3, 5, 6], 0.), wave(&[4, 3, 3, 2], 1.));
        let view = |v: &Value| {
            let t = v.as_tensor().unwrap().inner().transpose(2, 3).unwrap().contiguous().unwrap();
            Value::Tensor(Tensor::new(t.transpose(2, 3).unwrap()).unwrap())
        };
        let (xv, wv) = (view(&x), view(&w));
        assert!(!xv.as_tensor().unwrap().inner().is_contiguous());
        let want = call_kw("aten::conv2d", &[x.clone(), w.clone()], &[("padding", ints(&[1]))]);
        let y = call_kw("aten::conv2d", &[xv, wv], &[("padding", ints(&[1]))]);
        assert_eq!(f32s(&y), f32s(&want));
        // A constant weight packed once serves every call, and the same weight with other
        // groups is laid out anew.
        let wt = wave(&[4, 2, 3, 3], 1.);
        let inner = wt.as_tensor().unwrap().inner().clone();
        let constants = Constants::new([inner.clone()]);
        let limits = Limits::default();
        let cx = Ctx { limits: &limits, device: &Device::Cpu, constants: Some(&constants) };
        let registry = crate::ops::registry::Registry::get();
        let run = |x: &Value, groups: i64| {
            let kwargs = vec![("stride".to_string(), ints(&[2])), ("groups".to_string(), i(groups))];
            registry.call(&cx, "aten::conv_transpose2d", &[x.clone(), wt.clone()], &kwargs).unwrap()
        };
        let xt = wave(&[1, 4, 3, 3], 0.);
        for groups in [1, 2, 1, 2] {
            let want = call_kw("aten::conv_transpose2d", &[xt.clone(), wt.clone()], &[("stride", ints(&[2])), ("groups", i(groups))]);
            assert_eq!(f32s(&run(&xt, groups)), f32s(&want));
        }
    }

    #[test]
    fn the_im2col_buffer_is_held_to_the_limits() {
        use crate::limits::Limits;
        use crate::ops::registry::{Ctx, Registry};
        use candle_core::Device;
        // A small output (1 × 1 × 25 × 25) whose im2col (64·8·8 × 625) is over the limit.
        let limits = Limits { max_elements: 1 << 20, ..Limits::default() };
        let cx = Ctx { limits: &limits, device: &Device::Cpu, constants: None };
        let args = [wave(&[1, 64, 32, 32], 0.), wave(&[1, 64, 8, 8], 1.)];
        let e = Registry::get().call(&cx, "aten::conv2d", &args, &[] as &[(String, Value)]).unwrap_err();
        assert!(e.to_string().contains("im2col"), "{e}");
        let small = [wave(&[1, 4, 32, 32], 0.), wave(&[1, 4, 8, 8], 1.)];
        assert!(Registry::get().call(&cx, "aten::conv2d", &small, &[] as &[(String, Value)]).is_ok());
    }

    #[test]
    fn an_empty_batch_gives_an_empty_output() {
        let y = call(
            "aten::conv1d",
            &[wave(&[0, 3, 10], 0.), wave(&[4, 3, 3], 1.)],
        );
        assert_eq!(dims(&y), [0, 4, 8]);
        // No output channels.
        let y = call("aten::conv2d", &[wave(&[1, 3, 4, 4], 0.), wave(&[0, 3, 3, 3], 1.)]);
        assert_eq!(dims(&y), [1, 0, 2, 2]);
        let y = call("aten::conv_transpose2d", &[wave(&[1, 3, 4, 4], 0.), wave(&[3, 0, 3, 3], 1.)]);
        assert_eq!(dims(&y), [1, 0, 6, 6]);
    }
}
