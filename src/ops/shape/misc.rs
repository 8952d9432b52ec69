//! `flip`, `roll`, `tril`, `triu`, `one_hot`, padding (`constant_pad_nd`, and `pad` in its
//! `"constant"` mode here, its `"reflect"` and `"replicate"` modes in [`super::pad`];
//! `"circular"` is refused by name), `diag` and `diagonal`.

use candle_core::DType;

use super::pad::{padded as edge_padded, Mode};
use super::{err, int_values, offsets, put, strides, take, wrap_dim};
use crate::error::Result;
use crate::ops::creation::{filled, from_i64s, new_dims, zeros_of};
use crate::ops::dtype::ScalarType;
use crate::ops::registry::{Args, Builder, Ctx, Scalar};
use crate::ops::tensor::Tensor;
use crate::ops::value::Value;

/// Registers the operators of this module.
pub(super) fn register(b: &mut Builder) {
    b.add("aten::flip(Tensor self, int[] dims) -> Tensor", flip);
    b.add(
        "aten::roll(Tensor self, SymInt[1] shifts, int[1] dims=[]) -> Tensor",
        roll,
    );
    b.add("aten::tril(Tensor self, SymInt diagonal=0) -> Tensor", tril);
    b.add("aten::triu(Tensor self, SymInt diagonal=0) -> Tensor", triu);
    b.add(
        "aten::one_hot(Tensor self, int num_classes=-1) -> Tensor",
        one_hot,
    );
    b.add(
        "aten::constant_pad_nd(Tensor self, SymInt[] pad, Scalar value=0) -> Tensor",
        constant_pad_nd,
    );
    b.add(
        "aten::pad(Tensor self, SymInt[] pad, str mode=\"constant\", float? value=None) -> Tensor",
        pad,
    );
    b.add("aten::diag(Tensor self, int diagonal=0) -> Tensor", diag);
    b.add(
        "aten::diagonal(Tensor(a) self, int offset=0, int dim1=0, int dim2=1) -> Tensor(a)",
        diagonal,
    );
}

fn with_type(inner: candle_core::Tensor, like: &Tensor) -> Result<Tensor> {
    Tensor::with_type(inner, like.dtype())
}

fn flip(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let mut dims = Vec::new();
    for d in args.ints(1)? {
        let w = wrap_dim(d, t.rank())?;
        if dims.contains(&w) {
            return Err(err(format!(
                "dim {w} appears multiple times in the list of dims"
            )));
        }
        dims.push(w);
    }
    let mut x = t.clone();
    for d in dims {
        let n = x.dims().get(d).copied().unwrap_or(1);
        if n > 1 {
            let ids: Vec<i64> = (0..n as i64).rev().collect();
            let ids = candle_core::Tensor::from_vec(ids, n, x.device())?;
            x = with_type(x.inner().contiguous()?.index_select(&ids, d)?, t)?;
        }
    }
    Ok(Value::Tensor(x))
}

/// `t` rolled by `shift` along `dim`: element `i` moves to `i + shift` (modulo the size).
fn rolled(t: &Tensor, shift: i64, dim: usize) -> Result<Tensor> {
    let n = t.dims()[dim];
    if n == 0 {
        return Ok(t.clone());
    }
    let s = shift.rem_euclid(n as i64) as usize;
    if s == 0 {
        return Ok(t.clone());
    }
    let tail = t.inner().narrow(dim, n - s, s)?;
    let head = t.inner().narrow(dim, 0, n - s)?;
    with_type(candle_core::Tensor::cat(&[&tail, &head], dim)?, t)
}

fn roll(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let shifts = args.ints(1)?;
    let dims = args.ints(2)?;
    if shifts.is_empty() {
        return Err(err("`shifts` required"));
    }
    if dims.is_empty() && shifts.len() == 1 {
        let flat = with_type(t.inner().flatten_all()?, t)?;
        let out = rolled(&flat, shifts[0], 0)?;
        return Ok(Value::Tensor(with_type(out.inner().reshape(t.dims())?, t)?));
    }
    if shifts.len() != dims.len() {
        return Err(err(format!(
            "shifts and dimensions must align. shifts: {}, dims:{}",
            shifts.len(),
            dims.len()
        )));
    }
    let mut x = t.clone();
    for (&s, &d) in shifts.iter().zip(&dims) {
        let d = wrap_dim(d, t.rank())?;
        if t.rank() > 0 {
            x = rolled(&x, s, d)?;
        }
    }
    Ok(Value::Tensor(x))
}

/// `t` with the elements zeroed where `keep(col - row)` fails, over its last two dims.
fn triangle(t: &Tensor, name: &str, keep: impl Fn(i64) -> bool) -> Result<Value> {
    let r = t.rank();
    if r < 2 {
        return Err(err(format!(
            "{name}: input tensor must have at least 2 dimensions"
        )));
    }
    let (rows, cols) = (t.dims()[r - 2], t.dims()[r - 1]);
    let mask: Vec<i64> = (0..rows * cols)
        .map(|k| i64::from(keep((k % cols) as i64 - (k / cols) as i64)))
        .collect();
    let mask = from_i64s(mask, &[rows, cols], ScalarType::Bool, t.device())?;
    let mask = mask.inner().broadcast_as(t.dims())?;
    let zeros = t.inner().zeros_like()?;
    Ok(Value::Tensor(with_type(
        mask.where_cond(t.inner(), &zeros)?,
        t,
    )?))
}

fn tril(_: &Ctx, args: &Args) -> Result<Value> {
    let k = args.int(1)?;
    triangle(args.tensor(0)?, "tril", |offset| offset <= k)
}

fn triu(_: &Ctx, args: &Args) -> Result<Value> {
    let k = args.int(1)?;
    triangle(args.tensor(0)?, "triu", |offset| offset >= k)
}

fn one_hot(cx: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let mut classes = args.int(1)?;
    if t.dtype() != ScalarType::Int64 {
        return Err(err(
            "one_hot is only applicable to index tensor of type LongTensor.",
        ));
    }
    let values = int_values(t)?;
    let shape = |c: i64| {
        t.dims()
            .iter()
            .map(|&d| d as i64)
            .chain([c])
            .collect::<Vec<_>>()
    };
    if values.is_empty() {
        if classes == -1 {
            return Err(err(
                "Can not infer total number of classes from empty tensor.",
            ));
        }
        let dims = new_dims(cx, "aten::one_hot", &shape(classes))?;
        return Ok(Value::Tensor(zeros_of(
            &dims,
            ScalarType::Int64,
            t.device(),
        )?));
    }
    let (min, max) = values
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if min < 0 {
        return Err(err("Class values must be non-negative."));
    }
    if classes == -1 {
        classes = max.saturating_add(1);
    } else if max >= classes {
        return Err(err("Class values must be smaller than num_classes."));
    }
    let dims = new_dims(cx, "aten::one_hot", &shape(classes))?;
    let c = dims[dims.len() - 1];
    let range = from_i64s((0..c as i64).collect(), &[c], ScalarType::Int64, t.device())?;
    let hot = t
        .inner()
        .unsqueeze(t.rank())?
        .broadcast_eq(range.inner())?
        .to_dtype(DType::I64)?;
    Ok(Value::Tensor(Tensor::with_type(hot, ScalarType::Int64)?))
}

/// `t` padded by `pad` (pairs from the last dim backward; negative amounts crop) with
/// `value`, converted to `t`'s type as a fill is.
fn padded(cx: &Ctx, t: &Tensor, pad: &[i64], value: Scalar) -> Result<Tensor> {
    if !pad.len().is_multiple_of(2) {
        return Err(err(format!(
            "Length of pad must be even but instead it equals {}",
            pad.len()
        )));
    }
    if pad.len() / 2 > t.rank() {
        return Err(err(format!(
            "Length of pad should be no more than twice the number of dimensions of the input. Pad length \
             is {}while the input has {}dimensions.",
            pad.len(),
            t.rank()
        )));
    }
    // The output's dims first, so that it is checked before anything is built.
    let mut dims = t.dims().to_vec();
    let mut crops = Vec::new();
    for (i, pair) in pad.chunks(2).enumerate() {
        let d = t.rank() - 1 - i;
        let (l, r) = (pair[0], pair[1]);
        let (l, r) = (i128::from(l), i128::from(r));
        let kept = dims[d] as i128 + l.min(0) + r.min(0);
        if kept < 0 {
            return Err(err("narrow(): length must be non-negative."));
        }
        let size = |n: i128| usize::try_from(n).map_err(|_| err("pad: size overflow"));
        dims[d] = size(kept + l.max(0) + r.max(0))?;
        crops.push((
            d,
            size((-l).max(0))?,
            size(kept)?,
            size(l.max(0))?,
            size(r.max(0))?,
        ));
    }
    cx.check("aten::constant_pad_nd", &dims)?;
    let mut x = t.clone();
    for (d, start, kept, left, right) in crops {
        x = with_type(x.inner().narrow(d, start, kept)?, t)?;
        let mut parts = Vec::new();
        for (n, is_fill) in [(left, true), (0, false), (right, true)] {
            if !is_fill {
                parts.push(x.inner().clone());
            } else if n > 0 {
                let mut fill_dims = x.dims().to_vec();
                fill_dims[d] = n;
                parts.push(filled(value, &fill_dims, t.dtype(), t.device())?.into_inner());
            }
        }
        if parts.len() > 1 {
            x = with_type(candle_core::Tensor::cat(&parts, d)?, t)?;
        }
    }
    Ok(x)
}

fn constant_pad_nd(cx: &Ctx, args: &Args) -> Result<Value> {
    Ok(Value::Tensor(padded(
        cx,
        args.tensor(0)?,
        &args.ints(1)?,
        args.scalar(2)?,
    )?))
}

fn pad(cx: &Ctx, args: &Args) -> Result<Value> {
    let mode = match args.str(2)? {
        "constant" => {
            let value = Scalar::Float(args.opt_float(3)?.unwrap_or(0.0));
            return Ok(Value::Tensor(padded(
                cx,
                args.tensor(0)?,
                &args.ints(1)?,
                value,
            )?));
        }
        "reflect" => Mode::Reflect,
        "replicate" => Mode::Replicate,
        "circular" => {
            return Err(err(
                "padding mode 'circular' is not supported (only 'constant', 'reflect' and \
                 'replicate' are)",
            ))
        }
        mode => return Err(err(format!("Unrecognised padding mode {mode}"))),
    };
    let (t, p) = (args.tensor(0)?, args.ints(1)?);
    if !p.len().is_multiple_of(2) {
        return Err(err("Padding length must be divisible by 2"));
    }
    if p.len() > 2 * t.rank() {
        return Err(err(format!(
            "Padding length should be less than or equal to two times the input dimension but \
             got padding length {} and input of dimension {}",
            p.len(),
            t.rank()
        )));
    }
    if args.opt_float(3)?.is_some_and(|v| v != 0.0) {
        let name = args.str(2)?;
        return Err(err(format!(
            "Padding mode \"{name}\" doesn't take in value argument"
        )));
    }
    // `reflection_pad{k}d` or `replication_pad{k}d` for an input of `k + 1` or `k + 2` dims.
    let k = p.len() / 2;
    if !(1..=3).contains(&k) || !(t.rank() == k + 1 || t.rank() == k + 2) {
        return Err(err(format!(
            "Padding size {} is not supported for {}D input tensor.",
            p.len(),
            t.rank()
        )));
    }
    Ok(Value::Tensor(edge_padded(cx, t, &p, k, mode)?))
}

fn diag(cx: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let k = args.int(1)?;
    let (up, down) = (
        k.max(0).unsigned_abs() as usize,
        k.min(0).unsigned_abs() as usize,
    );
    match t.rank() {
        1 => {
            let n = t.dims()[0];
            let m = n
                .checked_add(up.max(down))
                .ok_or_else(|| err("diag: size overflow"))?;
            cx.check("aten::diag", &[m, m])?;
            let positions: Vec<i64> = (0..n).map(|i| ((i + down) * m + i + up) as i64).collect();
            let out = zeros_of(&[m, m], t.dtype(), t.device())?;
            Ok(Value::Tensor(put(
                &out,
                positions,
                &t.inner().contiguous()?,
                false,
            )?))
        }
        2 => {
            let (rows, cols) = (t.dims()[0], t.dims()[1]);
            let n = rows.saturating_sub(down).min(cols.saturating_sub(up));
            let positions: Vec<i64> = (0..n)
                .map(|i| ((i + down) * cols + i + up) as i64)
                .collect();
            Ok(Value::Tensor(take(t, positions, &[n])?))
        }
        r => Err(err(format!("diag(): Supports 1D or 2D tensors. Got {r}D"))),
    }
}

/// `diagonal`: the elements `(i + max(-offset, 0), i + max(offset, 0))` of dims `dim1` and
/// `dim2`, those two dims removed and the diagonal appended as the last dim.
fn diagonal(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let (offset, dim1, dim2) = (args.int(1)?, args.int(2)?, args.int(3)?);
    let (d1, d2) = (wrap_dim(dim1, t.rank())?, wrap_dim(dim2, t.rank())?);
    if d1 == d2 {
        return Err(err(format!(
            "diagonal dimensions cannot be identical {dim1}, {dim2}"
        )));
    }
    let dims = t.dims();
    let (rows, cols) = (dims[d1] as i128, dims[d2] as i128);
    let k = i128::from(offset);
    let n = if k >= 0 {
        rows.min(cols - k)
    } else {
        (rows + k).min(cols)
    }
    .max(0) as usize;
    // Where the diagonal starts, as a row and a column; only read when it is not empty.
    let (row0, col0) = if n == 0 {
        (0, 0)
    } else {
        (
            offset.min(0).unsigned_abs() as usize,
            offset.max(0).unsigned_abs() as usize,
        )
    };
    let st = strides(dims);
    let rest: Vec<usize> = (0..t.rank()).filter(|&d| d != d1 && d != d2).collect();
    let rest_dims: Vec<usize> = rest.iter().map(|&d| dims[d]).collect();
    let rest_steps: Vec<usize> = rest.iter().map(|&d| st[d]).collect();
    let start = (row0 * st[d1] + col0 * st[d2]) as i64;
    let step = (st[d1] + st[d2]) as i64;
    let mut positions = Vec::with_capacity(rest_dims.iter().product::<usize>() * n);
    for base in offsets(&rest_dims, &rest_steps) {
        positions.extend((0..n as i64).map(|i| base + start + i * step));
    }
    let mut out_dims = rest_dims;
    out_dims.push(n);
    Ok(Value::Tensor(take(t, positions, &out_dims)?))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{arange, fails, ints, out, shaped, t, values};
    use crate::ops::dtype::ScalarType;
    use crate::ops::value::Value;

    #[test]
    fn flip_and_roll() {
        let x = arange(&[2, 3]);
        assert_eq!(
            values(&out("aten::flip", &[x.clone(), ints(&[0, 1])])),
            vec![5.0, 4.0, 3.0, 2.0, 1.0, 0.0]
        );
        assert!(fails("aten::flip", &[x.clone(), ints(&[1, -1])])
            .ends_with("dim 1 appears multiple times in the list of dims"));
        // Values from torch 2.15.0.
        assert_eq!(
            values(&out("aten::roll", &[x.clone(), Value::Int(1)])),
            vec![5.0, 0.0, 1.0, 2.0, 3.0, 4.0]
        );
        assert_eq!(
            values(&out(
                "aten::roll",
                &[x.clone(), Value::Int(-1), Value::Int(1)]
            )),
            vec![1.0, 2.0, 0.0, 4.0, 5.0, 3.0]
        );
        assert_eq!(
            values(&out(
                "aten::roll",
                &[x.clone(), ints(&[1, 1]), ints(&[0, 1])]
            )),
            vec![5.0, 3.0, 4.0, 2.0, 0.0, 1.0]
        );
        assert_eq!(
            values(&out(
                "aten::roll",
                &[x.clone(), Value::Int(7), Value::Int(1)]
            )),
            vec![2.0, 0.0, 1.0, 5.0, 3.0, 4.0]
        );
        assert!(fails("aten::roll", &[x.clone(), ints(&[1, 1]), ints(&[0])])
            .ends_with("shifts and dimensions must align. shifts: 2, dims:1"));
        assert_eq!(
            out(
                "aten::roll",
                &[arange(&[0, 3]), Value::Int(1), Value::Int(0)]
            )
            .dims(),
            &[0, 3]
        );
    }

    #[test]
    fn tril_and_triu() {
        let x = arange(&[2, 3]);
        assert_eq!(
            values(&out("aten::tril", std::slice::from_ref(&x))),
            vec![0.0, 0.0, 0.0, 3.0, 4.0, 0.0]
        );
        assert_eq!(
            values(&out("aten::triu", &[x.clone(), Value::Int(1)])),
            vec![0.0, 1.0, 2.0, 0.0, 0.0, 5.0]
        );
        assert_eq!(
            values(&out("aten::tril", &[x, Value::Int(-1)])),
            vec![0.0, 0.0, 0.0, 3.0, 0.0, 0.0]
        );
        let y = out("aten::triu", &[arange(&[2, 2, 3]), Value::Int(-1)]);
        assert_eq!(values(&y), (0..12).map(f64::from).collect::<Vec<_>>());
        let flags = t(&[1.0; 4], &[2, 2], ScalarType::Bool);
        let y = out("aten::tril", &[flags]);
        assert_eq!(
            (y.dtype(), values(&y)),
            (ScalarType::Bool, vec![1.0, 0.0, 1.0, 1.0])
        );
        assert!(fails("aten::tril", &[arange(&[3])])
            .ends_with("tril: input tensor must have at least 2 dimensions"));
    }

    #[test]
    fn one_hot_infers_or_checks_the_classes() {
        let idx = t(&[0.0, 2.0], &[2], ScalarType::Int64);
        let y = out("aten::one_hot", std::slice::from_ref(&idx));
        assert_eq!(
            (y.dtype(), shaped(&y)),
            (
                ScalarType::Int64,
                (vec![2, 3], vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0])
            )
        );
        assert_eq!(
            out("aten::one_hot", &[idx.clone(), Value::Int(4)]).dims(),
            &[2, 4]
        );
        assert_eq!(
            shaped(&out(
                "aten::one_hot",
                &[t(&[1.0], &[], ScalarType::Int64), Value::Int(3)]
            )),
            (vec![3], vec![0.0, 1.0, 0.0])
        );
        let empty = t(&[], &[0], ScalarType::Int64);
        assert_eq!(
            out("aten::one_hot", &[empty.clone(), Value::Int(3)]).dims(),
            &[0, 3]
        );
        // Messages from torch 2.15.0.
        assert!(fails("aten::one_hot", &[empty])
            .ends_with("Can not infer total number of classes from empty tensor."));
        assert!(
            fails("aten::one_hot", &[t(&[0.0, -1.0], &[2], ScalarType::Int64)])
                .ends_with("Class values must be non-negative.")
        );
        assert!(fails("aten::one_hot", &[idx.clone(), Value::Int(2)])
            .ends_with("Class values must be smaller than num_classes."));
        assert!(fails("aten::one_hot", &[idx.clone(), Value::Int(-2)])
            .ends_with("Class values must be smaller than num_classes."));
        assert!(
            fails("aten::one_hot", &[t(&[1.0], &[1], ScalarType::Int32)])
                .ends_with("one_hot is only applicable to index tensor of type LongTensor.")
        );
        assert!(
            fails("aten::one_hot", &[t(&[1e6], &[1], ScalarType::Int64)]).contains("max_elements")
        );
    }

    #[test]
    fn constant_padding_grows_and_crops() {
        let x = arange(&[2, 3]);
        let y = out("aten::constant_pad_nd", &[x.clone(), ints(&[1, 2])]);
        assert_eq!(
            shaped(&y),
            (
                vec![2, 6],
                vec![0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 3.0, 4.0, 5.0, 0.0, 0.0]
            )
        );
        let y = out(
            "aten::constant_pad_nd",
            &[x.clone(), ints(&[1, 2, 1, 0]), Value::Int(9)],
        );
        assert_eq!(y.dims(), &[3, 6]);
        assert_eq!(values(&y)[6..12], [9.0, 0.0, 1.0, 2.0, 9.0, 9.0]);
        assert_eq!(
            shaped(&out("aten::constant_pad_nd", &[x.clone(), ints(&[-1, 0])])),
            (vec![2, 2], vec![1.0, 2.0, 4.0, 5.0])
        );
        // An int64 tensor padded with 2.5 takes 2 (torch 2.15.0).
        let xl = t(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[2, 3], ScalarType::Int64);
        let y = out(
            "aten::constant_pad_nd",
            &[xl.clone(), ints(&[1, 1]), Value::Float(2.5)],
        );
        assert_eq!(values(&y)[..5], [2.0, 0.0, 1.0, 2.0, 2.0]);
        assert!(fails(
            "aten::constant_pad_nd",
            &[xl, ints(&[1, 1]), Value::Float(1e30)]
        )
        .ends_with("value cannot be converted to type int64_t without overflow"));
        assert!(fails("aten::constant_pad_nd", &[x.clone(), ints(&[1])])
            .ends_with("Length of pad must be even but instead it equals 1"));
        assert!(fails("aten::constant_pad_nd", &[x.clone(), ints(&[1; 6])]).ends_with(
            "Length of pad should be no more than twice the number of dimensions of the input. Pad length is 6while the input has 2dimensions."
        ));
        assert!(
            fails("aten::constant_pad_nd", &[x.clone(), ints(&[-2, -2])])
                .ends_with("narrow(): length must be non-negative.")
        );
        assert!(
            fails("aten::constant_pad_nd", &[x.clone(), ints(&[1 << 40, 0])])
                .contains("max_elements")
        );
        assert!(fails(
            "aten::constant_pad_nd",
            &[x.clone(), ints(&[i64::MIN, i64::MIN])]
        )
        .contains("narrow()"));
        assert!(fails(
            "aten::constant_pad_nd",
            &[x.clone(), ints(&[i64::MAX, i64::MAX])]
        )
        .contains("overflow"));
        let y = out(
            "aten::pad",
            &[
                x.clone(),
                ints(&[1, 1]),
                Value::str("constant"),
                Value::Float(3.0),
            ],
        );
        assert_eq!(values(&y)[..5], [3.0, 0.0, 1.0, 2.0, 3.0]);
        assert_eq!(
            values(&out("aten::pad", &[x.clone(), ints(&[1, 1])]))[0],
            0.0
        );
        assert!(fails(
            "aten::pad",
            &[x.clone(), ints(&[1, 1]), Value::str("circular")]
        )
        .contains("'circular' is not supported"));
        assert!(fails("aten::pad", &[x, ints(&[1, 1]), Value::str("bogus")])
            .ends_with("Unrecognised padding mode bogus"));
    }

    #[test]
    fn pad_reflects_and_replicates_through_the_pad_operators() {
        // Values and messages from torch 2.15.0 (torch.ops.aten.pad).
        let x = arange(&[2, 3]);
        let pad = |mode: &str, p: &[i64]| vec![x.clone(), ints(p), Value::str(mode)];
        assert_eq!(
            shaped(&out("aten::pad", &pad("reflect", &[1, 1]))),
            (
                vec![2, 5],
                vec![1.0, 0.0, 1.0, 2.0, 1.0, 4.0, 3.0, 4.0, 5.0, 4.0]
            )
        );
        assert_eq!(
            values(&out("aten::pad", &pad("replicate", &[1, 1]))),
            vec![0.0, 0.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 5.0, 5.0]
        );
        let mut zero = pad("replicate", &[1, 1]);
        zero.push(Value::Float(0.0));
        assert_eq!(out("aten::pad", &zero).dims(), &[2, 5]);
        let mut valued = pad("reflect", &[1, 1]);
        valued.push(Value::Float(1.0));
        assert!(fails("aten::pad", &valued)
            .ends_with("Padding mode \"reflect\" doesn't take in value argument"));
        assert!(fails("aten::pad", &pad("reflect", &[1, 1, 1]))
            .ends_with("Padding length must be divisible by 2"));
        assert!(fails("aten::pad", &pad("reflect", &[1; 6])).ends_with(
            "Padding length should be less than or equal to two times the input dimension but \
             got padding length 6 and input of dimension 2"
        ));
        let y = arange(&[1, 3, 4]);
        assert!(
            fails("aten::pad", &[y, ints(&[1; 6]), Value::str("reflect")])
                .ends_with("Padding size 6 is not supported for 3D input tensor.")
        );
        assert!(fails(
            "aten::pad",
            &[arange(&[3]), ints(&[1, 1]), Value::str("replicate")]
        )
        .ends_with("Padding size 2 is not supported for 1D input tensor."));
        assert!(fails("aten::pad", &pad("reflect", &[3, 0])).ends_with(
            "Argument #4: Padding size should be less than the corresponding input dimension, but \
             got: padding (3, 0) at dimension 1 of input [2, 3]"
        ));
    }

    #[test]
    fn diagonal_reads_any_two_dims() {
        // Values and messages from torch 2.15.0 (torch.arange(24.).reshape(2, 3, 4)).
        let x = arange(&[2, 3, 4]);
        let diagonal = |args: &[i64]| {
            let mut a = vec![x.clone()];
            a.extend(args.iter().map(|&n| Value::Int(n)));
            shaped(&out("aten::diagonal", &a))
        };
        assert_eq!(
            diagonal(&[]),
            (vec![4, 2], vec![0.0, 16.0, 1.0, 17.0, 2.0, 18.0, 3.0, 19.0])
        );
        assert_eq!(
            diagonal(&[1]),
            (vec![4, 2], vec![4.0, 20.0, 5.0, 21.0, 6.0, 22.0, 7.0, 23.0])
        );
        assert_eq!(diagonal(&[-1, 0, 2]), (vec![3, 1], vec![12.0, 16.0, 20.0]));
        assert_eq!(
            diagonal(&[0, 2, 0]),
            (vec![3, 2], vec![0.0, 13.0, 4.0, 17.0, 8.0, 21.0])
        );
        assert_eq!(
            diagonal(&[1, -1, -2]),
            (vec![2, 2], vec![4.0, 9.0, 16.0, 21.0])
        );
        assert_eq!(diagonal(&[5]).0, vec![4, 0]);
        assert_eq!(diagonal(&[-7]).0, vec![4, 0]);
        assert_eq!(diagonal(&[i64::MIN]).0, vec![4, 0]);
        let m = t(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[2, 3], ScalarType::Int64);
        let y = out("aten::diagonal", &[m, Value::Int(1)]);
        assert_eq!(
            (y.dtype(), shaped(&y)),
            (ScalarType::Int64, (vec![2], vec![1.0, 5.0]))
        );
        let e = fails(
            "aten::diagonal",
            &[x.clone(), Value::Int(0), Value::Int(1), Value::Int(1)],
        );
        assert!(
            e.ends_with("diagonal dimensions cannot be identical 1, 1"),
            "{e}"
        );
        let e = fails(
            "aten::diagonal",
            &[x, Value::Int(0), Value::Int(0), Value::Int(3)],
        );
        assert!(
            e.ends_with("Dimension out of range (expected to be in range of [-3, 2], but got 3)")
        );
        let v = t(&[1.0, 2.0], &[2], ScalarType::Float32);
        assert!(fails("aten::diagonal", &[v])
            .ends_with("Dimension out of range (expected to be in range of [-1, 0], but got 1)"));
        let s = t(&[1.0], &[], ScalarType::Float32);
        assert!(fails("aten::diagonal", &[s])
            .ends_with("Dimension out of range (expected to be in range of [-1, 0], but got 1)"));
    }

    #[test]
    fn diag_builds_or_reads_a_diagonal() {
        let x = arange(&[2, 3]);
        assert_eq!(
            shaped(&out("aten::diag", std::slice::from_ref(&x))),
            (vec![2], vec![0.0, 4.0])
        );
        assert_eq!(
            shaped(&out("aten::diag", &[x.clone(), Value::Int(1)])),
            (vec![2], vec![1.0, 5.0])
        );
        assert_eq!(
            shaped(&out("aten::diag", &[x.clone(), Value::Int(-1)])),
            (vec![1], vec![3.0])
        );
        assert_eq!(out("aten::diag", &[x, Value::Int(5)]).dims(), &[0]);
        let v = t(&[1.0, 2.0], &[2], ScalarType::Float32);
        assert_eq!(
            shaped(&out("aten::diag", std::slice::from_ref(&v))),
            (vec![2, 2], vec![1.0, 0.0, 0.0, 2.0])
        );
        let y = out("aten::diag", &[v, Value::Int(-1)]);
        assert_eq!(
            shaped(&y),
            (
                vec![3, 3],
                vec![0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 2.0, 0.0]
            )
        );
        assert!(fails("aten::diag", &[arange(&[2, 2, 2])])
            .ends_with("diag(): Supports 1D or 2D tensors. Got 3D"));
    }
}
