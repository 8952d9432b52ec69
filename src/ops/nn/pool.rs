//! Pooling, 1-D and 2-D: `max_pool` (with indices where asked), `avg_pool`, and the adaptive
//! forms, with PyTorch's padding, dilation, `ceil_mode`, `count_include_pad`,
//! `divisor_override` and adaptive window bounds (`floor(o·L/O)` to `ceil((o+1)·L/O)`).
//!
//! Each is computed the same way on every device and type: for each kernel offset, the input
//! element it reads at every output position is gathered (`index_select`; positions outside
//! the input read one extra element of a neutral value appended to each spatial dim), and the
//! offsets are folded in PyTorch's order, rows then columns. Max keeps PyTorch's rule
//! (`val > max || isnan(val)`, so NaN wins and a later NaN moves the index) and its index
//! (`h · W + w` in the unpadded input); averages sum in PyTorch's order and divide as it does.
//!
//! f32 and f64 on the CPU fold the same taps in the same order by direct loops over the
//! contiguous planes instead of gathering them.

use candle_core::{DType, Device, Tensor as CTensor};

use super::linalg::cpu_storage;
use super::{compute_dtype, script, to_usize, value};
use crate::cpu::Float;
use crate::error::Result;
use crate::ops::registry::{Args, Builder, Ctx};
use crate::ops::tensor::Tensor;
use crate::ops::value::Value;
use crate::ops::ScalarType;

/// Registers the pooling operators.
pub(super) fn register(b: &mut Builder) {
    b.add(
        "aten::max_pool1d(Tensor self, int[1] kernel_size, int[1] stride=[], int[1] padding=[0], int[1] dilation=[1], bool ceil_mode=False) -> Tensor",
        |cx, a| max_pool(cx, a, 1, false),
    );
    b.add(
        "aten::max_pool1d_with_indices(Tensor self, int[1] kernel_size, int[1] stride=[], int[1] padding=[0], int[1] dilation=[1], bool ceil_mode=False) -> (Tensor, Tensor)",
        |cx, a| max_pool(cx, a, 1, true),
    );
    b.add(
        "aten::max_pool2d(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, int[2] dilation=1, bool ceil_mode=False) -> Tensor",
        |cx, a| max_pool(cx, a, 2, false),
    );
    b.add(
        "aten::max_pool2d_with_indices(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, int[2] dilation=1, bool ceil_mode=False) -> (Tensor, Tensor)",
        |cx, a| max_pool(cx, a, 2, true),
    );
    b.add(
        "aten::avg_pool1d(Tensor self, int[1] kernel_size, int[1] stride=[], int[1] padding=[0], bool ceil_mode=False, bool count_include_pad=True) -> Tensor",
        |cx, a| avg_pool(cx, a, 1),
    );
    b.add(
        "aten::avg_pool2d(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, bool ceil_mode=False, bool count_include_pad=True, int? divisor_override=None) -> Tensor",
        |cx, a| avg_pool(cx, a, 2),
    );
    b.add(
        "aten::adaptive_avg_pool1d(Tensor self, int[1] output_size) -> Tensor",
        |cx, a| adaptive(cx, a, 1, false),
    );
    b.add(
        "aten::adaptive_avg_pool2d(Tensor self, SymInt[2] output_size) -> Tensor",
        |cx, a| adaptive(cx, a, 2, false),
    );
    // Core ATen's form of `adaptive_avg_pool2d`: the same pooling.
    b.add(
        "aten::_adaptive_avg_pool2d(Tensor self, SymInt[2] output_size) -> Tensor",
        |cx, a| adaptive(cx, a, 2, false),
    );
    b.add(
        "aten::adaptive_max_pool1d(Tensor self, int[1] output_size) -> (Tensor, Tensor)",
        |cx, a| adaptive(cx, a, 1, true),
    );
    b.add(
        "aten::adaptive_max_pool2d(Tensor self, int[2] output_size) -> (Tensor, Tensor)",
        |cx, a| adaptive(cx, a, 2, true),
    );
}

/// Which input element each kernel offset reads along one dim, at each output position.
#[derive(Debug, Clone)]
struct Taps {
    /// `index[j][o]`: the input index offset `j` reads for output `o`, or the input length
    /// (the appended neutral element) where it falls outside the input or window.
    index: Vec<Vec<u32>>,
    /// The first input index inside output `o`'s window (where max's index starts).
    first: Vec<usize>,
    /// The divisor of output `o`'s average along this dim.
    divisor: Vec<usize>,
}

impl Taps {
    fn outputs(&self) -> usize {
        self.first.len()
    }

    /// The taps of a dim of length 1 read whole (a 1-D pool's unit height).
    fn unit() -> Self {
        Self {
            index: vec![vec![0]],
            first: vec![0],
            divisor: vec![1],
        }
    }
}

/// One dim of a (max or average) pooling window.
#[derive(Debug, Clone, Copy)]
struct Window {
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
    ceil: bool,
}

impl Window {
    /// PyTorch's `pooling_output_shape`: the output length for an input of `len`, 0 when
    /// it would be empty.
    fn output_len(&self, len: usize) -> usize {
        let span = self.dilation * (self.kernel - 1) + 1;
        let padded = len + 2 * self.padding;
        let extra = if self.ceil { self.stride - 1 } else { 0 };
        if padded + extra < span {
            return 0;
        }
        let mut out = (padded + extra - span) / self.stride + 1;
        // The last window must start inside the input or its left padding.
        if self.ceil && (out - 1) * self.stride >= len + self.padding {
            out -= 1;
        }
        out
    }

    /// The taps for `out` outputs over an input of `len`; `count_pad` counts the padding (but
    /// not what lies past it) in the divisor, as `count_include_pad` does.
    fn taps(&self, len: usize, out: usize, count_pad: bool) -> Taps {
        let mut index = vec![Vec::with_capacity(out); self.kernel];
        let (mut first, mut divisor) = (Vec::with_capacity(out), Vec::with_capacity(out));
        let (len_i, pad) = (len as i64, self.padding as i64);
        for o in 0..out {
            let start = (o * self.stride) as i64 - pad;
            for (j, taps) in index.iter_mut().enumerate() {
                let at = start + (j * self.dilation) as i64;
                taps.push(if (0..len_i).contains(&at) {
                    at as u32
                } else {
                    len as u32
                });
            }
            let end = (start + self.kernel as i64).min(len_i + pad);
            let (lo, hi) = (start.max(0), end.min(len_i));
            let valid = (0..self.kernel as i64)
                .map(|j| start + j * self.dilation as i64)
                .find(|at| (0..len_i).contains(at));
            first.push(valid.unwrap_or(0) as usize);
            divisor.push(if count_pad {
                end - start
            } else {
                (hi - lo).max(0)
            } as usize);
        }
        Taps {
            index,
            first,
            divisor,
        }
    }
}

/// PyTorch's adaptive windows: output `o` of `out` reads `floor(o·len/out)` up to
/// `ceil((o+1)·len/out)`.
fn adaptive_taps(len: usize, out: usize) -> Taps {
    let bounds: Vec<(usize, usize)> = (0..out)
        .map(|o| (o * len / out, ((o + 1) * len).div_ceil(out)))
        .collect();
    let widest = bounds.iter().map(|(s, e)| e - s).max().unwrap_or(0);
    let index = (0..widest)
        .map(|j| {
            bounds
                .iter()
                .map(|&(s, e)| {
                    if s + j < e {
                        (s + j) as u32
                    } else {
                        len as u32
                    }
                })
                .collect()
        })
        .collect();
    Taps {
        index,
        first: bounds.iter().map(|b| b.0).collect(),
        divisor: bounds.iter().map(|(s, e)| e - s).collect(),
    }
}

/// The pooled input as `(N, C, H, W)` and how to give the result its caller's rank.
struct Planes {
    x: CTensor,
    /// 1-D pools run with a unit height.
    one_d: bool,
    /// An unbatched input gets a unit batch.
    batched: bool,
}

impl Planes {
    /// Checks `self`'s rank (`n + 1` unbatched or `n + 2`) and that no dim but the batch is
    /// empty; `op` names the operator in messages.
    fn new(t: &Tensor, n: usize, op: &str) -> Result<Self> {
        let r = t.rank();
        if r != n + 1 && r != n + 2 {
            return Err(script(format!(
                "{op}: Expected {}D or {}D (batch mode) tensor with optional 0 dim batch size \
                 for input, but got:{:?}",
                n + 1,
                n + 2,
                t.dims()
            )));
        }
        if t.dims()[r - n - 1..].contains(&0) {
            return Err(script(format!(
                "{op}: Expected {}D or {}D (batch mode) tensor with optional 0 dim batch size \
                 for input, but got:{:?}",
                n + 1,
                n + 2,
                t.dims()
            )));
        }
        let batched = r == n + 2;
        let mut x = t.inner().clone();
        if !batched {
            x = x.unsqueeze(0)?;
        }
        if n == 1 {
            x = x.unsqueeze(2)?;
        }
        Ok(Self {
            x,
            one_d: n == 1,
            batched,
        })
    }

    /// `(H, W)`.
    fn hw(&self) -> (usize, usize) {
        let d = self.x.dims();
        (d[2], d[3])
    }

    /// The output dims for `(oh, ow)`, in the caller's rank.
    fn out_dims(&self, oh: usize, ow: usize) -> Vec<usize> {
        let d = self.x.dims();
        let mut dims = Vec::with_capacity(4);
        if self.batched {
            dims.push(d[0]);
        }
        dims.push(d[1]);
        if !self.one_d {
            dims.push(oh);
        }
        dims.push(ow);
        dims
    }

    /// A `(N, C, oh, ow)` result back in the caller's rank.
    fn finish(&self, y: CTensor) -> Result<CTensor> {
        let (oh, ow) = (y.dim(2)?, y.dim(3)?);
        Ok(y.reshape(self.out_dims(oh, ow))?)
    }
}

/// The per-dim windows of a max or average pool, from `kernel_size`, `stride` (empty: the
/// kernel), `padding` and `dilation`, with PyTorch's checks.
fn windows(
    a: &Args,
    n: usize,
    op: &str,
    dilation: Option<usize>,
    ceil: bool,
) -> Result<Vec<Window>> {
    let list = |i: usize, what: &str, default: Option<&[i64]>| -> Result<Vec<i64>> {
        let v = a.ints(i)?;
        match (v.len(), default) {
            (0, Some(d)) => Ok(d.to_vec()),
            (1, _) => Ok(vec![v[0]; n]),
            (len, _) if len == n => Ok(v),
            _ => Err(script(format!(
                "{op}: {what} must either be a single int, or a tuple of {n} ints"
            ))),
        }
    };
    let kernel = list(1, "kernel_size", None)?;
    let stride = list(2, "stride", Some(&kernel))?;
    let padding = list(3, "padding", None)?;
    let dilation = match dilation {
        Some(i) => list(i, "dilation", None)?,
        None => vec![1; n],
    };
    if kernel.iter().any(|&k| k <= 0) {
        return Err(script(format!(
            "{op}: kernel_size must be greater than zero, but got {kernel:?}"
        )));
    }
    if stride.iter().any(|&s| s <= 0) {
        return Err(script(format!(
            "{op}: stride should not be zero, got {stride:?}"
        )));
    }
    if dilation.iter().any(|&d| d <= 0) {
        return Err(script(format!(
            "{op}: dilation should be greater than zero, but got {dilation:?}"
        )));
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let w = Window {
            kernel: to_usize(kernel[i], "kernel_size")?,
            stride: to_usize(stride[i], "stride")?,
            padding: to_usize(padding[i], "padding")?,
            dilation: to_usize(dilation[i], "dilation")?,
            ceil,
        };
        let span = w
            .kernel
            .checked_sub(1)
            .and_then(|k| k.checked_mul(w.dilation))
            .and_then(|k| k.checked_add(1))
            .filter(|&s| (s as u64) < 1 << 40)
            .ok_or_else(|| script(format!("{op}: the kernel size overflows")))?;
        if w.padding > span / 2 {
            return Err(script(format!(
                "pad should be at most half of effective kernel size, but got pad={}, \
                 kernel_size={} and dilation={}",
                w.padding, w.kernel, w.dilation
            )));
        }
        out.push(w);
    }
    Ok(out)
}

/// The output lengths of `windows` over `(h, w)`, refusing an empty output as PyTorch does.
fn pooled_sizes(windows: &[Window], planes: &Planes) -> Result<(usize, usize)> {
    let (h, w) = planes.hw();
    let (oh, ow) = if planes.one_d {
        (1, windows[0].output_len(w))
    } else {
        (windows[0].output_len(h), windows[1].output_len(w))
    };
    if oh == 0 || ow == 0 {
        let d = planes.x.dims();
        return Err(script(format!(
            "Given input size: ({}x{h}x{w}). Calculated output size: ({}x{oh}x{ow}). Output \
             size is too small",
            d[1], d[1]
        )));
    }
    Ok((oh, ow))
}

fn max_pool(cx: &Ctx, a: &Args, n: usize, with_indices: bool) -> Result<Value> {
    let op = if n == 1 { "max_pool1d" } else { "max_pool2d" };
    let input = a.tensor(0)?;
    let planes = Planes::new(input, n, op)?;
    let windows = windows(a, n, op, Some(4), a.bool(5)?)?;
    let (oh, ow) = pooled_sizes(&windows, &planes)?;
    cx.check(&format!("aten::{op}"), &planes.out_dims(oh, ow))?;
    let (h, w) = planes.hw();
    let th = if n == 1 {
        Taps::unit()
    } else {
        windows[0].taps(h, oh, false)
    };
    let tw = windows[n - 1].taps(w, ow, false);
    let (values, indices) = max_reduce(input.dtype(), &planes.x, &th, &tw)?;
    let values = value(planes.finish(values)?)?;
    if with_indices {
        Ok(Value::tuple(vec![values, value(planes.finish(indices)?)?]))
    } else {
        Ok(values)
    }
}

fn avg_pool(cx: &Ctx, a: &Args, n: usize) -> Result<Value> {
    let op = if n == 1 { "avg_pool1d" } else { "avg_pool2d" };
    let input = a.tensor(0)?;
    let planes = Planes::new(input, n, op)?;
    let windows = windows(a, n, op, None, a.bool(4)?)?;
    let count_pad = a.bool(5)?;
    let divisor = if n == 2 { a.opt_int(6)? } else { None };
    if divisor == Some(0) {
        return Err(script("divisor must be not zero"));
    }
    let (oh, ow) = pooled_sizes(&windows, &planes)?;
    cx.check(&format!("aten::{op}"), &planes.out_dims(oh, ow))?;
    let (h, w) = planes.hw();
    let th = if n == 1 {
        Taps::unit()
    } else {
        windows[0].taps(h, oh, count_pad)
    };
    let tw = windows[n - 1].taps(w, ow, count_pad);
    let dtype = input.dtype();
    let work = work_dtype(dtype, op)?;
    if fast_dtype(&planes.x).is_some() {
        let divide = match divisor {
            Some(d) => Divide::By(d),
            None => Divide::Area(&th.divisor, &tw.divisor),
        };
        return value(planes.finish(sum_fast(&planes.x, &th, &tw, divide)?)?);
    }
    let sum = sum_reduce(&planes.x.to_dtype(work)?, &th, &tw)?;
    // One divisor per output position, as PyTorch computes it.
    let divisors: Vec<f64> = match divisor {
        Some(d) => vec![d as f64; oh * ow],
        None => {
            let mut v = Vec::with_capacity(oh * ow);
            for &dh in &th.divisor {
                for &dw in &tw.divisor {
                    v.push((dh * dw) as f64);
                }
            }
            v
        }
    };
    let div = CTensor::from_vec(divisors, (oh, ow), &Device::Cpu)?
        .to_dtype(work)?
        .to_device(sum.device())?;
    let avg = sum.broadcast_div(&div)?;
    value(planes.finish(avg.to_dtype(dtype.candle())?)?)
}

fn adaptive(cx: &Ctx, a: &Args, n: usize, max: bool) -> Result<Value> {
    let op = match (n, max) {
        (1, false) => "adaptive_avg_pool1d",
        (1, true) => "adaptive_max_pool1d",
        (_, false) => "adaptive_avg_pool2d",
        (_, true) => "adaptive_max_pool2d",
    };
    let input = a.tensor(0)?;
    let size = a.ints(1)?;
    if size.len() != n {
        return Err(script(format!("{op}: output_size must be {n}")));
    }
    if size.iter().any(|&s| s < 0) {
        return Err(script(format!(
            "{op}: elements of output_size must be greater than or equal to 0 but received \
             {size:?}"
        )));
    }
    let planes = Planes::new(input, n, op)?;
    let (h, w) = planes.hw();
    let (oh, ow) = if n == 1 {
        (1, to_usize(size[0], "output_size")?)
    } else {
        (
            to_usize(size[0], "output_size")?,
            to_usize(size[1], "output_size")?,
        )
    };
    let dims = planes.out_dims(oh, ow);
    cx.check(&format!("aten::{op}"), &dims)?;
    if !input.dtype().is_float() {
        return Err(script(format!(
            "\"{op}\" not implemented for '{}'",
            input.dtype().name()
        )));
    }
    let th = if n == 1 {
        Taps::unit()
    } else {
        adaptive_taps(h, oh)
    };
    let tw = adaptive_taps(w, ow);
    if oh == 0 || ow == 0 {
        let empty = |dtype: DType| CTensor::zeros(dims.as_slice(), dtype, input.device());
        let values = value(empty(input.dtype().candle())?)?;
        return Ok(if max {
            Value::tuple(vec![values, value(empty(DType::I64)?)?])
        } else {
            values
        });
    }
    if max {
        let (values, indices) = max_reduce(input.dtype(), &planes.x, &th, &tw)?;
        return Ok(Value::tuple(vec![
            value(planes.finish(values)?)?,
            value(planes.finish(indices)?)?,
        ]));
    }
    let dtype = input.dtype();
    if fast_dtype(&planes.x).is_some() {
        let divide = Divide::Twice(&th.divisor, &tw.divisor);
        return value(planes.finish(sum_fast(&planes.x, &th, &tw, divide)?)?);
    }
    let work = compute_dtype(dtype);
    let sum = sum_reduce(&planes.x.to_dtype(work)?, &th, &tw)?;
    // `sum / kh / kw`, as PyTorch's kernel divides.
    let per = |d: &[usize], shape: (usize, usize)| -> Result<CTensor> {
        let v: Vec<f64> = d.iter().map(|&x| x as f64).collect();
        Ok(CTensor::from_vec(v, shape, &Device::Cpu)?
            .to_dtype(work)?
            .to_device(sum.device())?)
    };
    let avg = sum
        .broadcast_div(&per(&th.divisor, (oh, 1))?)?
        .broadcast_div(&per(&tw.divisor, (1, ow))?)?;
    value(planes.finish(avg.to_dtype(dtype.candle())?)?)
}

/// The type an average is computed in: f32 for f16/bf16, i64 for integers (which divide
/// truncating, as PyTorch's integer average does); bool is refused.
fn work_dtype(dtype: ScalarType, op: &str) -> Result<DType> {
    match dtype {
        ScalarType::Bool => Err(script(format!("\"{op}\" not implemented for 'Bool'"))),
        t if t.is_float() => Ok(compute_dtype(t)),
        _ => Ok(DType::I64),
    }
}

/// `x` `(N, C, H, W)` with one more element of `fill` at the end of H and of W.
fn with_neutral(x: &CTensor, fill: f64) -> Result<CTensor> {
    let d = x.dims();
    let row = CTensor::full(fill, (d[0], d[1], 1, d[3]), x.device())?.to_dtype(x.dtype())?;
    let x = CTensor::cat(&[x, &row], 2)?;
    let col = CTensor::full(fill, (d[0], d[1], d[2] + 1, 1), x.device())?.to_dtype(x.dtype())?;
    Ok(CTensor::cat(&[&x, &col], 3)?)
}

fn index(v: &[u32], device: &Device) -> Result<CTensor> {
    Ok(CTensor::from_slice(v, v.len(), device)?)
}

/// Calls `f` with the `(N, C, oh, ow)` values each pair of kernel offsets reads, rows
/// outer, columns inner, and the pair's offsets.
fn for_each_tap(
    x: &CTensor,
    th: &Taps,
    tw: &Taps,
    mut f: impl FnMut(CTensor, usize, usize) -> Result<()>,
) -> Result<()> {
    let device = x.device();
    let cols: Vec<CTensor> = tw
        .index
        .iter()
        .map(|v| index(v, device))
        .collect::<Result<_>>()?;
    for (jh, rows) in th.index.iter().enumerate() {
        let picked = x.index_select(&index(rows, device)?, 2)?;
        for (jw, col) in cols.iter().enumerate() {
            f(picked.index_select(col, 3)?, jh, jw)?;
        }
    }
    Ok(())
}

/// The sum of every tap, in PyTorch's order, zeros standing for what lies outside.
fn sum_reduce(x: &CTensor, th: &Taps, tw: &Taps) -> Result<CTensor> {
    let padded = with_neutral(x, 0.0)?;
    let mut sum: Option<CTensor> = None;
    for_each_tap(&padded, th, tw, |v, _, _| {
        sum = Some(match sum.take() {
            Some(s) => (s + v)?,
            None => v,
        });
        Ok(())
    })?;
    sum.ok_or_else(|| script("an empty pooling window"))
}

/// The max of every tap and its flat index `h · W + w` in the input, by PyTorch's rule.
fn max_reduce(dtype: ScalarType, x: &CTensor, th: &Taps, tw: &Taps) -> Result<(CTensor, CTensor)> {
    match fast_dtype(x) {
        Some(DType::F32) => max_fast::<f32>(x, th, tw),
        Some(_) => max_fast::<f64>(x, th, tw),
        None => max_composed(dtype, x, th, tw),
    }
}

/// [`max_reduce`] on candle's ops, for every device and type.
fn max_composed(
    dtype: ScalarType,
    x: &CTensor,
    th: &Taps,
    tw: &Taps,
) -> Result<(CTensor, CTensor)> {
    let (work, lowest) = match dtype {
        ScalarType::Bool => return Err(script("max pooling is not implemented for 'Bool'")),
        t if t.is_float() => (compute_dtype(t), f64::NEG_INFINITY),
        _ => (DType::I64, i64::MIN as f64),
    };
    let width = x.dim(3)?;
    let x = x.to_dtype(work)?;
    let padded = with_neutral(&x, 0.0)?;
    // The neutral element must be the lowest value: fill it where the appended row and
    // column lie (an integer minimum is not exact through f64, so set it by mask).
    let padded = set_neutral(&padded, lowest)?;
    let (oh, ow) = (th.outputs(), tw.outputs());
    let device = x.device();
    let d = x.dims();
    let shape = (d[0], d[1], oh, ow);
    let first: Vec<i64> = th
        .first
        .iter()
        .flat_map(|&h| tw.first.iter().map(move |&w| (h * width + w) as i64))
        .collect();
    let mut idx = CTensor::from_vec(first, (1, 1, oh, ow), device)?.broadcast_as(shape)?;
    let mut best = lowest_tensor(work, lowest, shape, device)?;
    for_each_tap(&padded, th, tw, |v, jh, jw| {
        let mut better = v.gt(&best)?;
        if work != DType::I64 {
            better = better.maximum(&v.ne(&v)?)?;
        }
        let at: Vec<i64> = th.index[jh]
            .iter()
            .flat_map(|&h| {
                tw.index[jw]
                    .iter()
                    .map(move |&w| h as i64 * width as i64 + w as i64)
            })
            .collect();
        let at = CTensor::from_vec(at, (1, 1, oh, ow), device)?.broadcast_as(shape)?;
        best = better.where_cond(&v, &best)?;
        idx = better.where_cond(&at, &idx)?;
        Ok(())
    })?;
    Ok((best.to_dtype(dtype.candle())?, idx))
}

/// `x`'s type where the direct loops take it: f32 or f64 on the CPU.
fn fast_dtype(x: &CTensor) -> Option<DType> {
    (x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64)).then_some(x.dtype())
}

/// Calls `f` with each contiguous `(H, W)` plane of `x` `(N, C, H, W)`, in order.
fn planes<T: Float>(x: &CTensor, mut f: impl FnMut(&[T])) -> Result<()> {
    let x = x.contiguous()?;
    let (storage, layout) = x.storage_and_layout();
    let data = crate::cpu::contiguous::<T>(cpu_storage(&storage)?, layout)?;
    let d = x.dims();
    data.chunks_exact((d[2] * d[3]).max(1)).for_each(&mut f);
    Ok(())
}

/// The valid taps of each output along one dim, in tap order: `scale · i` for each input index
/// `i` a tap reads (`scale` is the row length for rows, 1 for columns), those outside the
/// input or window left out.
fn valid_taps(taps: &Taps, len: usize, scale: usize) -> Vec<Vec<usize>> {
    (0..taps.outputs())
        .map(|o| {
            taps.index
                .iter()
                .map(|t| t[o] as usize)
                .filter(|&i| i < len)
                .map(|i| i * scale)
                .collect()
        })
        .collect()
}

/// [`max_reduce`] by direct loops in `T`.
fn max_fast<T: Float>(x: &CTensor, th: &Taps, tw: &Taps) -> Result<(CTensor, CTensor)> {
    let d = x.dims();
    let (hw, (oh, ow)) = ((d[2], d[3]), (th.outputs(), tw.outputs()));
    let shape = (d[0], d[1], oh, ow);
    let count = d[0] * d[1] * oh * ow;
    let (mut best, mut index) = (Vec::with_capacity(count), Vec::with_capacity(count));
    let lowest = T::from_f64(f64::NEG_INFINITY);
    let (rows, cols) = (valid_taps(th, hw.0, hw.1), valid_taps(tw, hw.1, 1));
    planes::<T>(x, |plane| {
        for (oy, rows) in rows.iter().enumerate() {
            for (ox, cols) in cols.iter().enumerate() {
                let (mut m, mut at) = (lowest, th.first[oy] * hw.1 + tw.first[ox]);
                for &r in rows {
                    for &c in cols {
                        let v = plane[r + c];
                        // PyTorch's `val > max || isnan(val)`.
                        if v > m || v.partial_cmp(&v).is_none() {
                            (m, at) = (v, r + c);
                        }
                    }
                }
                best.push(m);
                index.push(at as i64);
            }
        }
    })?;
    Ok((
        CTensor::from_vec(best, shape, &Device::Cpu)?,
        CTensor::from_vec(index, shape, &Device::Cpu)?,
    ))
}

/// How an average divides its sum, in the tensor's type.
#[derive(Clone, Copy)]
enum Divide<'a> {
    /// `divisor_override`: one divisor everywhere.
    By(i64),
    /// `sum / (kh · kw)`, the window sizes per output row and column.
    Area(&'a [usize], &'a [usize]),
    /// `sum / kh / kw`, as the adaptive average divides.
    Twice(&'a [usize], &'a [usize]),
}

/// Each output's sum of its taps in PyTorch's order, divided as `divide` says, by direct
/// loops over `x` `(N, C, H, W)` (f32 or f64 on the CPU).
fn sum_fast(x: &CTensor, th: &Taps, tw: &Taps, divide: Divide) -> Result<CTensor> {
    fn run<T: Float>(x: &CTensor, th: &Taps, tw: &Taps, divide: Divide) -> Result<CTensor> {
        let d = x.dims();
        let (hw, (oh, ow)) = ((d[2], d[3]), (th.outputs(), tw.outputs()));
        let mut out = Vec::with_capacity(d[0] * d[1] * oh * ow);
        let t = |n: usize| T::from_f64(n as f64);
        let (rows, cols) = (valid_taps(th, hw.0, hw.1), valid_taps(tw, hw.1, 1));
        planes::<T>(x, |plane| {
            for (oy, rows) in rows.iter().enumerate() {
                for (ox, cols) in cols.iter().enumerate() {
                    let mut sum = T::ZERO;
                    for &r in rows {
                        for &c in cols {
                            sum += plane[r + c];
                        }
                    }
                    out.push(match divide {
                        Divide::By(n) => sum / T::from_f64(n as f64),
                        Divide::Area(h, w) => sum / t(h[oy] * w[ox]),
                        Divide::Twice(h, w) => sum / t(h[oy]) / t(w[ox]),
                    });
                }
            }
        })?;
        Ok(CTensor::from_vec(out, (d[0], d[1], oh, ow), &Device::Cpu)?)
    }
    match x.dtype() {
        DType::F32 => run::<f32>(x, th, tw, divide),
        _ => run::<f64>(x, th, tw, divide),
    }
}

/// A tensor of `shape` filled with the lowest value of `work`.
fn lowest_tensor(
    work: DType,
    lowest: f64,
    shape: (usize, usize, usize, usize),
    device: &Device,
) -> Result<CTensor> {
    if work == DType::I64 {
        Ok(CTensor::full(i64::MIN, shape, device)?)
    } else {
        Ok(CTensor::full(lowest, shape, device)?.to_dtype(work)?)
    }
}

/// `padded` with its appended last row and column set to the lowest value.
fn set_neutral(padded: &CTensor, lowest: f64) -> Result<CTensor> {
    let d = padded.dims();
    let (h, w) = (d[2], d[3]);
    let mask: Vec<u8> = (0..h)
        .flat_map(|r| (0..w).map(move |c| u8::from(r == h - 1 || c == w - 1)))
        .collect();
    let mask = CTensor::from_vec(mask, (1, 1, h, w), padded.device())?.broadcast_as(d)?;
    let low = lowest_tensor(padded.dtype(), lowest, (d[0], d[1], h, w), padded.device())?;
    Ok(mask.where_cond(&low, padded)?)
}

#[cfg(test)]
#[rustfmt::skip]
mod tests {
    use crate::ops::nn::testing::*;
    use crate::ops::Value;

    #[test]
    fn max_pools_match_torch() {
        // torch.nn.functional.max_pool2d/max_pool1d on wave() inputs (torch 2.15.0).
        let x = wave(&[2, 3, 7, 6], 0.);
        let r = call_kw(
            "aten::max_pool2d_with_indices",
            &[x.clone(), ints(&[3])],
            &[
                ("stride", ints(&[2])),
                ("padding", ints(&[1])),
                ("ceil_mode", Value::Bool(true)),
            ],
        );
        let (y, idx) = (item(&r, 0), item(&r, 1));
        assert_eq!(dims(&y), [2, 3, 4, 4]);
        close(
            &f64s(&y),
            &[
                0.6442176699638367, 0.9854497313499451, 0.9881682395935059, 0.9881682395935059,
                0.854598879814148, 0.9906073808670044, 0.9881682395935059, 0.9881682395935059,
                0.8366556167602539, 0.9906073808670044, 0.9927663803100586, 0.9927663803100586,
                0.8366556167602539, 0.9946447610855103, 0.8273279070854187, -0.4129275381565094,
                0.8177662491798401, 0.254682332277298, 0.9962419271469116, 0.9962419271469116,
                0.8177662491798401, 0.9975574016571045, 0.998590886592865, 0.998590886592865,
                0.7979521155357361, 0.9993420243263245, 0.998590886592865, 0.998590886592865,
                0.740972638130188, 0.9993420243263245, 0.9998105764389038, 0.9998105764389038,
                0.7772356271743774, 0.9999964833259583, 0.7665463089942932, -0.5025573372840881,
                0.7631326913833618, 0.9999964833259583, 0.999899685382843, 0.999899685382843,
                0.7844298481941223, 0.9995201826095581, 0.9988580346107483, 0.9988580346107483,
                0.7331902980804443, 0.21685437858104706, 0.9988580346107483, 0.9988580346107483,
                0.8048399090766907, 0.9979135394096375, 0.9966868758201599, 0.9966868758201599,
                0.8243398666381836, 0.9951784610748291, 0.9966868758201599, 0.9966868758201599,
                0.8243398666381836, 0.9951784610748291, 0.9933886528015137, 0.9933886528015137,
                0.8429076075553894, 0.9913179874420166, 0.6734960079193115, -0.3869628310203552,
                0.6609721183776855, 0.3140721321105957, 0.9889670610427856, 0.9889670610427856,
                0.8605222105979919, 0.9863365292549133, 0.983427107334137, 0.983427107334137,
                0.8771636486053467, 0.9802396297454834, 0.983427107334137, 0.983427107334137,
                0.8771636486053467, 0.9802396297454834, 0.976775050163269, 0.976775050163269,
                0.8928132057189941, 0.9730343222618103, 0.595622181892395, -0.2921243906021118,
                0.8928132057189941, 0.9730343222618103, 0.9690184593200684, 0.9690184593200684,
                0.9074531197547913, 0.9647286534309387, 0.9601660966873169, 0.9601660966873169,
                0.5543618202209473, 0.4385608732700348, 0.9601660966873169, 0.9601660966873169,
            ],
            0.0,
        );
        assert_eq!(
            i64s(&idx),
            &[
                1, 2, 11, 11, 12, 20, 11, 11, 30, 20, 29, 29, 30, 38, 39, 41, 6, 7, 5, 5, 6, 14,
                23, 23, 24, 32, 23, 23, 31, 32, 41, 41, 0, 8, 9, 11, 7, 8, 17, 17, 25, 26, 35, 35,
                36, 33, 35, 35, 1, 2, 11, 11, 19, 20, 11, 11, 19, 20, 29, 29, 37, 38, 39, 35, 6, 3,
                5, 5, 13, 14, 23, 23, 31, 32, 23, 23, 31, 32, 41, 41, 7, 8, 9, 5, 7, 8, 17, 17, 25,
                26, 35, 35, 36, 33, 35, 35
            ]
        );
        let y = call_kw(
            "aten::max_pool2d",
            &[x, ints(&[2, 3])],
            &[("stride", ints(&[1, 2])), ("dilation", ints(&[2, 1]))],
        );
        assert_eq!(dims(&y), [2, 3, 5, 2]);
        close(
            &f64s(&y),
            &[
                0.9854497313499451, 0.9854497313499451, 0.9906073808670044, 0.9906073808670044,
                0.854598879814148, 0.6819636225700378, 0.9906073808670044, 0.9906073808670044,
                0.9946447610855103, 0.9946447610855103, 0.9975574016571045, 0.9975574016571045,
                0.8177662491798401, 0.7295767664909363, 0.9975574016571045, 0.9975574016571045,
                0.9993420243263245, 0.9993420243263245, 0.7979521155357361, 0.7521589994430542,
                0.7772356271743774, 0.7738906741142273, 0.9999964833259583, 0.9999964833259583,
                0.9995201826095581, 0.9995201826095581, 0.7556402087211609, 0.7947472333908081,
                0.9995201826095581, 0.9995201826095581, 0.9979135394096375, 0.9979135394096375,
                0.9951784610748291, 0.9951784610748291, 0.7099112868309021, 0.8337416052818298,
                0.9951784610748291, 0.9951784610748291, 0.9913179874420166, 0.9913179874420166,
                0.9863365292549133, 0.9863365292549133, 0.6609721183776855, 0.868965744972229,
                0.9863365292549133, 0.9863365292549133, 0.9802396297454834, 0.9802396297454834,
                0.6353673338890076, 0.885113537311554, 0.6090440154075623, 0.9002603888511658,
                0.9730343222618103, 0.9730343222618103, 0.9647286534309387, 0.9647286534309387,
                0.5820320248603821, 0.9143892526626587, 0.9647286534309387, 0.9647286534309387,
            ],
            0.0,
        );
        let r = call_kw(
            "aten::max_pool1d_with_indices",
            &[wave(&[3, 10], 1.), ints(&[3])],
            &[
                ("stride", ints(&[2])),
                ("padding", ints(&[1])),
                ("ceil_mode", Value::Bool(true)),
            ],
        );
        let (y, idx) = (item(&r, 0), item(&r, 1));
        assert_eq!(dims(&y), [3, 6]);
        close(
            &f64s(&y),
            &[
                0.9916648268699646, 0.9916648268699646, 0.04158066213130951, -0.3738766610622406,
                0.8504366278648376, 0.8504366278648376, 0.9893582463264465, 0.6629692316055298,
                -0.6250706315040588, 0.327474445104599, 0.9867719411849976, 0.9867719411849976,
                0.6502878665924072, 0.007963183335959911, -0.3424806296825409, 0.8676440715789795,
                0.9839066863059998, 0.6374226212501526,
            ],
            0.0,
        );
        assert_eq!(
            i64s(&idx),
            &[1, 1, 3, 7, 9, 9, 0, 1, 3, 7, 9, 9, 0, 1, 5, 7, 8, 9]
        );
    }

    #[test]
    fn average_pools_match_torch() {
        // torch.nn.functional.avg_pool2d/avg_pool1d (torch 2.15.0); sums in PyTorch's order.
        let x = wave(&[2, 3, 7, 6], 0.);
        let kw = |include: bool| {
            vec![
                ("stride", ints(&[2])),
                ("padding", ints(&[1])),
                ("ceil_mode", Value::Bool(true)),
                ("count_include_pad", Value::Bool(include)),
            ]
        };
        let y = call_kw("aten::avg_pool2d", &[x.clone(), ints(&[3])], &kw(true));
        assert_eq!(dims(&y), [2, 3, 4, 4]);
        close(
            &f64s(&y),
            &[
                -0.1344234198331833, 0.09955237060785294, 0.27882033586502075, 0.10623083263635635,
                0.0025401776656508446, -0.0020064578857272863, -0.005360904615372419,
                -0.002006714465096593, -0.004032436292618513, -0.0033113956451416016,
                0.003733681282028556, 0.003222912549972534, 0.20945344865322113,
                0.16782744228839874, -0.19700412452220917, -0.16738085448741913,
                -0.08864469081163406, -0.2827337682247162, -0.07227890938520432,
                0.07205545157194138, 0.0017718540038913488, 0.005461518187075853,
                0.0013051562709733844, -0.0014391839504241943, 0.0022074978332966566,
                -0.0025092761497944593, -0.00522168492898345, -0.0017394870519638062,
                -0.11143676191568375, 0.13429561257362366, 0.26920264959335327,
                0.08776766061782837, 0.21075984835624695, 0.14392401278018951,
                -0.21657729148864746, -0.1682814359664917, -0.004066030029207468,
                -0.002696746028959751, 0.004236963111907244, 0.0032460689544677734,
                0.002131442306563258, 0.005472287535667419, 0.0007629857864230871,
                -0.0017249485244974494, -0.11348959058523178, -0.28347620368003845,
                -0.03481994569301605, 0.09179964661598206, -0.09285132586956024,
                0.15879344940185547, 0.25878462195396423, 0.0728602483868599, 0.001729600946418941,
                -0.0031391913071274757, -0.004953814670443535, -0.0013561745872721076,
                -0.004042983055114746, -0.0022031532134860754, 0.004564662929624319,
                0.0032249290961772203, 0.20916840434074402, 0.10982014983892441,
                -0.23921744525432587, -0.16682100296020508, -0.13080085813999176,
                -0.28066912293434143, -0.006275322753936052, 0.1055377796292305,
                0.002576589584350586, 0.00540009792894125, 2.9014216124778613e-05,
                -0.00207819533534348, 0.001350190956145525, -0.003575013717636466,
                -0.004693839233368635, -0.0010522007942199707, -0.06663596630096436,
                0.18890447914600372, 0.2408222109079361, 0.05185839533805847, 0.2054905891418457,
                0.08290497958660126, -0.2533806562423706, -0.16374419629573822,
                -0.003948424477130175, -0.0015110969543457031, 0.004928817506879568,
                0.003145818831399083, 0.0028802885208278894, 0.00528179295361042,
                -0.0005225472850725055, -0.002318819286301732, -0.15178480744361877,
                -0.27249541878700256, 0.03183315694332123, 0.12216311693191528,
            ],
            1e-6,
        );
        let y = call_kw("aten::avg_pool2d", &[x.clone(), ints(&[3])], &kw(false));
        assert_eq!(dims(&y), [2, 3, 4, 4]);
        close(
            &f64s(&y),
            &[
                -0.3024526834487915, 0.1493285596370697, 0.41823050379753113, 0.31869250535964966,
                0.0038102667313069105, -0.0020064578857272863, -0.005360904615372419,
                -0.004013428930193186, -0.006048654671758413, -0.0033113956451416016,
                0.003733681282028556, 0.006445825099945068, 0.47127026319503784,
                0.2517411708831787, -0.29550617933273315, -0.5021425485610962, -0.1994505524635315,
                -0.4241006374359131, -0.10841836780309677, 0.21616634726524353,
                0.002657781122252345, 0.005461518187075853, 0.0013051562709733844,
                -0.0028783679008483887, 0.003311246633529663, -0.0025092761497944593,
                -0.00522168492898345, -0.0034789741039276123, -0.2507327198982239,
                0.20144341886043549, 0.4038039743900299, 0.2633029818534851, 0.47420966625213623,
                0.21588601171970367, -0.3248659372329712, -0.5048443078994751,
                -0.006099045276641846, -0.002696746028959751, 0.004236963111907244,
                0.006492137908935547, 0.0031971633434295654, 0.005472287535667419,
                0.0007629857864230871, -0.003449897048994899, -0.25535157322883606,
                -0.4252142906188965, -0.05222992226481438, 0.27539893984794617,
                -0.20891548693180084, 0.2381901741027832, 0.38817691802978516, 0.21858075261116028,
                0.0025944013614207506, -0.0031391913071274757, -0.004953814670443535,
                -0.002712349174544215, -0.006064474582672119, -0.0022031532134860754,
                0.004564662929624319, 0.006449858192354441, 0.47062891721725464,
                0.1647302210330963, -0.3588261604309082, -0.5004630088806152, -0.29430192708969116,
                -0.42100369930267334, -0.009412984363734722, 0.3166133463382721,
                0.003864884376525879, 0.00540009792894125, 2.9014216124778613e-05,
                -0.00415639067068696, 0.0020252864342182875, -0.003575013717636466,
                -0.004693839233368635, -0.0021044015884399414, -0.1499309241771698,
                0.2833567261695862, 0.36123332381248474, 0.15557518601417542, 0.46235382556915283,
                0.12435746937990189, -0.3800709545612335, -0.49123257398605347,
                -0.005922636482864618, -0.0015110969543457031, 0.004928817506879568,
                0.006291637662798166, 0.004320432897657156, 0.00528179295361042,
                -0.0005225472850725055, -0.004637638572603464, -0.34151580929756165,
                -0.40874314308166504, 0.04774973914027214, 0.36648935079574585,
            ],
            1e-6,
        );
        let y = call_kw(
            "aten::avg_pool2d",
            &[x, ints(&[2, 3])],
            &[
                ("stride", ints(&[2, 2])),
                ("padding", ints(&[1, 1])),
                ("divisor_override", i(4)),
            ],
        );
        assert_eq!(dims(&y), [2, 3, 4, 3]);
        close(
            &f64s(&y),
            &[
                0.16105441749095917, 0.6232191920280457, 0.21185356378555298, -0.17008280754089355,
                -0.630995512008667, -0.20376047492027283, -0.2900000512599945, 0.24397195875644684,
                0.6229866147041321, 0.47127026319503784, 0.37761175632476807, -0.44325926899909973,
                -0.4675626754760742, -0.3653591573238373, 0.4465964734554291, 0.4727850556373596,
                0.360084593296051, -0.4584631323814392, -0.21380434930324554, -0.6376508474349976,
                -0.1417735517024994, -0.2507327198982239, 0.30216512084007263, 0.605705976486206,
                0.2415875643491745, -0.3085898458957672, -0.5964404940605164, -0.23705646395683289,
                0.3209083378314972, 0.5985663533210754, 0.47411781549453735, 0.3051416277885437,
                -0.5008981823921204, -0.25535157322883606, -0.6378214359283447,
                -0.07834488153457642, 0.2595193684101105, 0.6311015486717224, 0.06702873110771179,
                -0.26864370703697205, -0.6364350318908691, -0.05699276924133301,
                -0.19448259472846985, 0.3748779594898224, 0.573122501373291, 0.47062891721725464,
                0.24709533154964447, -0.5382392406463623, -0.4650728702545166,
                -0.23488378524780273, 0.538718581199646, 0.4683992266654968, 0.22715826332569122,
                -0.5494869947433472, -0.3066389560699463, -0.6279680132865906,
                0.0073533207178115845, -0.1499309241771698, 0.4250350892543793, 0.5418499708175659,
                0.14097851514816284, -0.42883121967315674, -0.5309467315673828, -0.134718656539917,
                0.44081753492355347, 0.5301839113235474, 0.4585450291633606, 0.16589725017547607,
                -0.579454779624939, -0.34151580929756165, -0.6131147146224976, 0.07162460684776306,
            ],
            1e-6,
        );
        let y = call_kw(
            "aten::avg_pool1d",
            &[wave(&[3, 10], 1.), ints(&[4])],
            &[
                ("stride", ints(&[3])),
                ("padding", ints(&[2])),
                ("ceil_mode", Value::Bool(true)),
                ("count_include_pad", Value::Bool(false)),
            ],
        );
        assert_eq!(dims(&y), [3, 4]);
        close(
            &f64s(&y),
            &[
                0.9165679216384888, 0.27421271800994873, -0.7116798162460327, 0.2627004384994507,
                0.8261637687683105, -0.2295655459165573, -0.4717858135700226, 0.7244693636894226,
                0.3291255235671997, -0.6203526258468628, 0.0003190338611602783, 0.829657793045044,
            ],
            1e-6,
        );
    }

    #[test]
    fn adaptive_pools_match_torch() {
        // torch.nn.functional.adaptive_{avg,max}_pool{1,2}d (torch 2.15.0): uneven windows.
        let x = wave(&[2, 3, 7, 6], 0.);
        let y = call("aten::adaptive_avg_pool2d", &[x.clone(), ints(&[3, 4])]);
        assert_eq!(dims(&y), [2, 3, 3, 4]);
        close(
            &f64s(&y),
            &[
                -0.0060189166106283665, -0.005238776560872793, 0.00218741106800735,
                0.0053408145904541016, 0.002282857894897461, 0.005389600992202759,
                0.0037296712398529053, -0.00025630989694036543, 0.0036479930859059095,
                -0.0003587504324968904, -0.006060957908630371, -0.005074605345726013,
                0.003481576917693019, -0.0005632241372950375, -0.00608042860403657,
                -0.004957979079335928, -0.0060876235365867615, -0.004897554870694876,
                0.002749721286818385, 0.005610307212918997, 0.002840876579284668,
                0.005649765487760305, 0.0032246510963886976, -0.0008687575464136899,
                0.003020733594894409, 0.005723804235458374, 0.0030487477779388428,
                -0.001071244478225708, 0.002959519624710083, -0.0011720458278432488,
                -0.006097587291151285, -0.004575014114379883, -0.006094409618526697,
                -0.004506528377532959, 0.003284056903794408, 0.005822738166898489,
                -0.0060828872956335545, -0.004365821834653616, 0.0034549932461231947,
                0.0058804950676858425, 0.0035390257835388184, 0.0059068650007247925,
                0.002501239301636815, -0.0016705194720998406, 0.0024073421955108643,
                -0.001768946647644043, -0.0060527268797159195, -0.0041454932652413845,
                0.0022175610065460205, -0.001964171649888158, -0.006024056579917669,
                -0.003992726560682058, -0.006007148418575525, -0.003914644476026297,
                0.003943671938031912, 0.006013602018356323, 0.004021326545625925,
                0.006029864307492971, 0.0019282797584310174, -0.002252827165648341,
                0.004173239227384329, 0.006057267542928457, 0.0017326176166534424,
                -0.002442131517454982, 0.0016340315341949463, -0.0025357604026794434,
                -0.005897294729948044, -0.00350807118229568, -0.0058703175745904446,
                -0.0034236807841807604, 0.00439220666885376, 0.006085552275180817,
            ],
            1e-6,
        );
        let r = call("aten::adaptive_max_pool2d", &[x, ints(&[4, 5])]);
        let (y, idx) = (item(&r, 0), item(&r, 1));
        assert_eq!(dims(&y), [2, 3, 4, 5]);
        close(
            &f64s(&y),
            &[
                0.6442176699638367, 0.9854497313499451, 0.9854497313499451, 0.8632093667984009,
                0.9881682395935059, 0.854598879814148, 0.9906073808670044, 0.9906073808670044,
                0.8457468152046204, 0.9881682395935059, 0.8366556167602539, 0.9906073808670044,
                0.9906073808670044, 0.8457468152046204, 0.9927663803100586, 0.8366556167602539,
                0.9946447610855103, 0.9946447610855103, 0.8273279070854187, 0.2709057927131653,
                0.8177662491798401, 0.254682332277298, 0.0839744582772255, 0.7061694860458374,
                0.9962419271469116, 0.8177662491798401, 0.9975574016571045, 0.9975574016571045,
                0.8079733848571777, 0.998590886592865, 0.7979521155357361, 0.9993420243263245,
                0.9993420243263245, 0.7877052426338196, 0.998590886592865, 0.740972638130188,
                0.9993420243263245, 0.9993420243263245, 0.7877052426338196, 0.9998105764389038,
                0.7772356271743774, 0.9999964833259583, 0.9999964833259583, 0.7665463089942932,
                0.1725773960351944, 0.7631326913833618, 0.9999964833259583, 0.9999964833259583,
                0.7738906741142273, 0.999899685382843, 0.7844298481941223, 0.9995201826095581,
                0.9995201826095581, 0.7947472333908081, 0.9988580346107483, 0.7331902980804443,
                0.12269172817468643, 0.21685437858104706, 0.7947472333908081, 0.9988580346107483,
                0.8048399090766907, 0.9979135394096375, 0.9979135394096375, 0.8147050738334656,
                0.9966868758201599, 0.8243398666381836, 0.9951784610748291, 0.9951784610748291,
                0.8147050738334656, 0.9966868758201599, 0.8243398666381836, 0.9951784610748291,
                0.9951784610748291, 0.8337416052818298, 0.9933886528015137, 0.8429076075553894,
                0.9913179874420166, 0.9913179874420166, 0.6734960079193115, 0.038918349891901016,
                0.6609721183776855, 0.022111687809228897, 0.3140721321105957, 0.851835310459137,
                0.9889670610427856, 0.8605222105979919, 0.9863365292549133, 0.9863365292549133,
                0.868965744972229, 0.983427107334137, 0.8771636486053467, 0.9802396297454834,
                0.9802396297454834, 0.868965744972229, 0.983427107334137, 0.8771636486053467,
                0.9802396297454834, 0.9802396297454834, 0.885113537311554, 0.976775050163269,
                0.8928132057189941, 0.9730343222618103, 0.9730343222618103, 0.595622181892395,
                -0.06192033737897873, 0.8928132057189941, 0.9730343222618103, 0.9730343222618103,
                0.9002603888511658, 0.9690184593200684, 0.9074531197547913, 0.9647286534309387,
                0.9647286534309387, 0.9143892526626587, 0.9601660966873169, 0.5543618202209473,
                -0.11216750741004944, 0.4385608732700348, 0.9143892526626587, 0.9601660966873169,
            ],
            0.0,
        );
        assert_eq!(
            i64s(&idx),
            &[
                1, 2, 2, 3, 11, 12, 20, 20, 21, 11, 30, 20, 20, 21, 29, 30, 38, 38, 39, 40, 6, 7,
                3, 4, 5, 6, 14, 14, 15, 23, 24, 32, 32, 33, 23, 31, 32, 32, 33, 41, 0, 8, 8, 9, 10,
                7, 8, 8, 16, 17, 25, 26, 26, 34, 35, 36, 37, 33, 34, 35, 1, 2, 2, 10, 11, 19, 20,
                20, 10, 11, 19, 20, 20, 28, 29, 37, 38, 38, 39, 40, 6, 7, 3, 4, 5, 13, 14, 14, 22,
                23, 31, 32, 32, 22, 23, 31, 32, 32, 40, 41, 7, 8, 8, 9, 10, 7, 8, 8, 16, 17, 25,
                26, 26, 34, 35, 36, 37, 33, 34, 35
            ]
        );
        let y = call(
            "aten::adaptive_avg_pool1d",
            &[wave(&[3, 10], 1.), ints(&[4])],
        );
        assert_eq!(dims(&y), [3, 4]);
        close(
            &f64s(&y),
            &[
                0.8361997008323669, 0.035061996430158615, -0.7449538111686707, 0.2627004384994507,
                0.5590342879295349, -0.5270771384239197, -0.3020689785480499, 0.7244693636894226,
                0.006714781280606985, -0.829791247844696, 0.28949278593063354, 0.829657793045044,
            ],
            1e-6,
        );
        let r = call(
            "aten::adaptive_max_pool1d",
            &[wave(&[3, 10], 1.), ints(&[3])],
        );
        let (y, idx) = (item(&r, 0), item(&r, 1));
        assert_eq!(dims(&y), [3, 3]);
        close(
            &f64s(&y),
            &[
                0.9916648268699646, 0.04158066213130951, 0.8504366278648376, 0.9893582463264465,
                -0.35822927951812744, 0.9867719411849976, 0.6502878665924072, 0.34331491589546204,
                0.9839066863059998,
            ],
            0.0,
        );
        assert_eq!(i64s(&idx), &[1, 3, 9, 0, 6, 9, 0, 6, 8]);
    }

    #[test]
    fn direct_loops_fold_as_the_composed_path_does() {
        use super::*;
        use candle_core::{Device, Tensor as CTensor};
        // Padding, dilation, ceil mode, count_include_pad, NaN and infinities, two planes.
        let (h, w) = (7, 6);
        let mut v: Vec<f32> = (0..2 * h * w).map(|i| ((i * 37 % 23) as f32 - 11.0) / 4.0).collect();
        v[9] = f32::NAN;
        v[50] = f32::NAN;
        v[20] = f32::NEG_INFINITY;
        let x = CTensor::from_vec(v, (1, 2, h, w), &Device::Cpu).unwrap();
        let windows = [
            (Window { kernel: 3, stride: 2, padding: 1, dilation: 1, ceil: true }, Window { kernel: 2, stride: 1, padding: 1, dilation: 2, ceil: false }),
            (Window { kernel: 2, stride: 2, padding: 0, dilation: 1, ceil: false }, Window { kernel: 3, stride: 3, padding: 1, dilation: 1, ceil: true }),
        ];
        for (wh, ww) in windows {
            for count_pad in [false, true] {
                let (oh, ow) = (wh.output_len(h), ww.output_len(w));
                let (th, tw) = (wh.taps(h, oh, count_pad), ww.taps(w, ow, count_pad));
                for x in [x.clone(), x.to_dtype(candle_core::DType::F64).unwrap()] {
                    let dtype = ScalarType::from_candle(x.dtype()).unwrap();
                    let (fv, fi) = max_reduce(dtype, &x, &th, &tw).unwrap();
                    let (cv, ci) = max_composed(dtype, &x, &th, &tw).unwrap();
                    let bits = |t: &CTensor| t.flatten_all().unwrap().to_dtype(candle_core::DType::F64).unwrap().to_vec1::<f64>().unwrap();
                    let same = |a: Vec<f64>, b: Vec<f64>| a.iter().zip(&b).all(|(p, q)| p == q || (p.is_nan() && q.is_nan()));
                    assert!(same(bits(&fv), bits(&cv)));
                    assert_eq!(fi.flatten_all().unwrap().to_vec1::<i64>().unwrap(), ci.flatten_all().unwrap().to_vec1::<i64>().unwrap());
                    let sum = sum_fast(&x, &th, &tw, Divide::Area(&th.divisor, &tw.divisor)).unwrap();
                    let composed = sum_reduce(&x, &th, &tw).unwrap();
                    let div: Vec<f64> = th.divisor.iter().flat_map(|&a| tw.divisor.iter().map(move |&b| (a * b) as f64)).collect();
                    let div = CTensor::from_vec(div, (oh, ow), &Device::Cpu).unwrap().to_dtype(x.dtype()).unwrap();
                    assert!(same(bits(&sum), bits(&composed.broadcast_div(&div).unwrap())));
                }
            }
        }
    }

    #[test]
    fn nan_wins_and_moves_the_index() {
        // torch: F.max_pool1d(torch.tensor([[1., nan, 3., nan, 2.]]), 2, 1, return_indices=True)
        // == ([[nan, nan, nan, nan]], [[1, 1, 3, 3]])
        let x = t_f32(&[1., f32::NAN, 3., f32::NAN, 2.], &[1, 5]);
        let r = call_kw(
            "aten::max_pool1d_with_indices",
            &[x, ints(&[2])],
            &[("stride", ints(&[1]))],
        );
        assert!(f64s(&item(&r, 0)).iter().all(|v| v.is_nan()));
        assert_eq!(i64s(&item(&r, 1)), [1, 1, 3, 3]);
    }

    #[test]
    fn integer_max_and_average_pools() {
        // torch: F.max_pool2d(torch.arange(16).view(1,4,4), 2) == [[[5, 7], [13, 15]]];
        // F.avg_pool2d(...) == [[[2, 4], [10, 12]]] (integer division)
        let x = t_i64(&(0..16).collect::<Vec<_>>(), &[1, 4, 4]);
        let y = call("aten::max_pool2d", &[x.clone(), ints(&[2])]);
        assert_eq!(
            (i64s(&y), dtype(&y)),
            (vec![5, 7, 13, 15], crate::ops::ScalarType::Int64)
        );
        let y = call("aten::avg_pool2d", &[x, ints(&[2])]);
        assert_eq!(i64s(&y), [2, 4, 10, 12]);
    }

    #[test]
    fn pooling_errors_are_pytorchs() {
        let x = arange_f32(&[1, 4, 4]);
        let e = call_err_kw(
            "aten::max_pool2d",
            &[x.clone(), ints(&[3])],
            &[("padding", ints(&[2]))],
        );
        assert!(
            e.contains("pad should be at most half of effective kernel size"),
            "{e}"
        );
        let e = call_err("aten::max_pool2d", &[arange_f32(&[1, 1, 2, 2]), ints(&[3])]);
        assert!(e.contains("Output size is too small"), "{e}");
        let e = call_err("aten::max_pool2d", &[arange_f32(&[4, 4]), ints(&[1])]);
        assert!(e.contains("Expected 3D or 4D"), "{e}");
        let e = call_err("aten::max_pool2d", &[x.clone(), ints(&[2, 2, 2])]);
        assert!(
            e.contains("kernel_size must either be a single int, or a tuple of 2 ints"),
            "{e}"
        );
        let e = call_err_kw(
            "aten::max_pool2d",
            &[x.clone(), ints(&[2])],
            &[("stride", ints(&[0]))],
        );
        assert!(e.contains("stride should not be zero"), "{e}");
        let e = call_err_kw(
            "aten::avg_pool2d",
            &[x.clone(), ints(&[2])],
            &[("divisor_override", i(0))],
        );
        assert!(e.contains("divisor must be not zero"), "{e}");
        let e = call_err("aten::adaptive_avg_pool2d", &[x.clone(), ints(&[-1, 2])]);
        assert!(e.contains("greater than or equal to 0"), "{e}");
        let y = call("aten::adaptive_avg_pool2d", &[x, ints(&[0, 2])]);
        assert_eq!(dims(&y), [1, 0, 2]);
        let y = call("aten::max_pool2d", &[arange_f32(&[0, 1, 4, 4]), ints(&[2])]);
        assert_eq!(dims(&y), [0, 1, 2, 2]);
    }

    #[test]
    fn core_aten_adaptive_avg_pool2d_is_adaptive_avg_pool2d() {
        // torch.ops.aten._adaptive_avg_pool2d(torch.arange(15.).reshape(1, 3, 5), ...) (torch 2.15.0).
        let x = arange_f32(&[1, 3, 5]);
        let y = call("aten::_adaptive_avg_pool2d", &[x.clone(), ints(&[2, 3])]);
        assert_eq!(dims(&y), [1, 2, 3]);
        close(&f64s(&y), &[3.0, 4.5, 6.0, 8.0, 9.5, 11.0], 1e-6);
        let y = call("aten::_adaptive_avg_pool2d", &[x.clone(), ints(&[1, 1])]);
        close(&f64s(&y), &[7.0], 1e-6);
        let e = call_err("aten::_adaptive_avg_pool2d", &[x.clone(), ints(&[-1, 2])]);
        assert!(e.contains("greater than or equal to 0"), "{e}");
        let e = call_err("aten::_adaptive_avg_pool2d", &[arange_f32(&[5]), ints(&[1, 2])]);
        assert!(e.contains("[5]"), "{e}");
        let e = call_err("aten::_adaptive_avg_pool2d", &[cast(&x, 4), ints(&[1, 2])]);
        assert!(e.contains("not implemented for"), "{e}");
    }
}
