//! Indexing by dim: `slice`, `select`, `narrow` (and their writing forms `slice_scatter`,
//! `select_scatter`), `index_select`, `gather`, `scatter` and `scatter_add`.
//!
//! Element positions are computed on the host (indices are validated there, with PyTorch's
//! messages) and elements are moved with candle's `index_select` and `scatter`, or, for
//! contiguous CPU tensors, copied by plain loops ([`host`]).

use super::{err, host, int_values, offsets, put, strides, take, wrap_dim, wrap_index};
use crate::error::Result;
use crate::ops::creation::{filled, from_i64s};
use crate::ops::dtype::ScalarType;
use crate::ops::registry::{Args, Builder, Ctx};
use crate::ops::tensor::Tensor;
use crate::ops::value::Value;

/// Registers the indexing operators.
pub(super) fn register(b: &mut Builder) {
    b.add(
        "aten::slice.Tensor(Tensor(a) self, int dim=0, SymInt? start=None, SymInt? end=None, SymInt step=1) \
         -> Tensor(a)",
        slice,
    );
    b.add(
        "aten::select.int(Tensor(a) self, int dim, SymInt index) -> Tensor(a)",
        select,
    );
    b.add(
        "aten::narrow(Tensor(a) self, int dim, SymInt start, SymInt length) -> Tensor(a)",
        narrow,
    );
    b.add(
        "aten::narrow.Tensor(Tensor(a) self, int dim, Tensor start, SymInt length) -> Tensor(a)",
        narrow,
    );
    b.add(
        "aten::slice_scatter(Tensor self, Tensor src, int dim=0, SymInt? start=None, SymInt? end=None, \
         SymInt step=1) -> Tensor",
        slice_scatter,
    );
    b.add(
        "aten::select_scatter(Tensor self, Tensor src, int dim, SymInt index) -> Tensor",
        select_scatter,
    );
    b.add(
        "aten::index_select(Tensor self, int dim, Tensor index) -> Tensor",
        index_select,
    );
    b.add(
        "aten::gather(Tensor self, int dim, Tensor index, *, bool sparse_grad=False) -> Tensor",
        gather,
    );
    b.add(
        "aten::scatter.src(Tensor self, int dim, Tensor index, Tensor src) -> Tensor",
        scatter,
    );
    b.add(
        "aten::scatter.value(Tensor self, int dim, Tensor index, Scalar value) -> Tensor",
        scatter,
    );
    b.add(
        "aten::scatter_.src(Tensor(a!) self, int dim, Tensor index, Tensor src) -> Tensor(a!)",
        scatter,
    );
    b.add(
        "aten::scatter_.value(Tensor(a!) self, int dim, Tensor index, Scalar value) -> Tensor(a!)",
        scatter,
    );
    b.add(
        "aten::scatter_add(Tensor self, int dim, Tensor index, Tensor src) -> Tensor",
        scatter_add,
    );
    b.add(
        "aten::scatter_add_(Tensor(a!) self, int dim, Tensor index, Tensor src) -> Tensor(a!)",
        scatter_add,
    );
}

/// `slice`'s range along a dim of `size` as `(start, length)` in steps of `step`, clamped as
/// Python clamps (`end` is `i64::MAX` for `:`).
fn slice_range(
    size: usize,
    start: Option<i64>,
    end: Option<i64>,
    step: i64,
) -> Result<(usize, usize)> {
    if step <= 0 {
        return Err(err("slice step must be positive"));
    }
    let n = size as i64;
    let (mut s, mut e) = (start.unwrap_or(0), end.unwrap_or(i64::MAX));
    if s < 0 {
        s += n;
    }
    if e < 0 {
        e += n;
    }
    let s = s.clamp(0, n);
    let e = e.clamp(s, n);
    let len = if e == s { 0 } else { (e - s - 1) / step + 1 };
    Ok((s as usize, len as usize))
}

/// `t`'s elements `start, start + step, ...` (`len` of them) along `dim`.
fn strided(t: &Tensor, dim: usize, start: usize, len: usize, step: usize) -> Result<Tensor> {
    if step == 1 || len <= 1 {
        return Tensor::with_type(t.inner().narrow(dim, start, len)?, t.dtype());
    }
    let ids: Vec<i64> = (0..len).map(|k| (start + k * step) as i64).collect();
    let ids = candle_core::Tensor::from_vec(ids, len, t.device())?;
    Tensor::with_type(t.inner().contiguous()?.index_select(&ids, dim)?, t.dtype())
}

/// The dim, start, length and step of `slice`'s and `slice_scatter`'s arguments from `i`.
fn slice_args(t: &Tensor, args: &Args, i: usize) -> Result<(usize, usize, usize, usize)> {
    if t.rank() == 0 {
        return Err(err("slice() cannot be applied to a 0-dim tensor."));
    }
    let d = wrap_dim(args.int(i)?, t.rank())?;
    let step = args.int(i + 3)?;
    let (start, len) = slice_range(
        t.dims()[d],
        args.opt_int(i + 1)?,
        args.opt_int(i + 2)?,
        step,
    )?;
    Ok((d, start, len, step as usize))
}

fn slice(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let (d, start, len, step) = slice_args(t, args, 1)?;
    Ok(Value::Tensor(strided(t, d, start, len, step)?))
}

/// `select`'s dim and position, with PyTorch's messages.
fn select_args(t: &Tensor, dim: i64, index: i64) -> Result<(usize, usize)> {
    if t.rank() == 0 {
        return Err(err("select() cannot be applied to a 0-dim tensor."));
    }
    let d = wrap_dim(dim, t.rank())?;
    let i = wrap_index(index, t.dims()[d]).ok_or_else(|| {
        err(format!(
            "select(): index {index} out of range for tensor of size {:?} at dimension {d}",
            t.dims()
        ))
    })?;
    Ok((d, i))
}

fn select(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let (d, i) = select_args(t, args.int(1)?, args.int(2)?)?;
    Ok(Value::Tensor(Tensor::with_type(
        t.inner().narrow(d, i, 1)?.squeeze(d)?,
        t.dtype(),
    )?))
}

fn narrow(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let start = match args.value(2) {
        Value::Tensor(s) if s.rank() == 0 && s.dtype().is_integer() => s.scalar_i64()?,
        Value::Tensor(_) => return Err(err("start must be an 0-dim integral Tensor.")),
        _ => args.int(2)?,
    };
    let length = args.int(3)?;
    if t.rank() == 0 {
        return Err(err("narrow() cannot be applied to a 0-dim tensor."));
    }
    if length < 0 {
        return Err(err("narrow(): length must be non-negative."));
    }
    let d = wrap_dim(args.int(1)?, t.rank())?;
    let size = t.dims()[d] as i64;
    if start < -size || start > size {
        return Err(err(format!(
            "start out of range (expected to be in range of [{}, {size}], but got {start})",
            -size
        )));
    }
    let start = if start < 0 { start + size } else { start };
    if length > size - start {
        return Err(err(format!(
            "start ({start}) + length ({length}) exceeds dimension size ({size})."
        )));
    }
    let out = t.inner().narrow(d, start as usize, length as usize)?;
    Ok(Value::Tensor(Tensor::with_type(out, t.dtype())?))
}

/// `t` with the elements at `positions` replaced by `src`'s (whose shape must be `dims`),
/// converted to `t`'s type: what writing into a view of `t` does.
fn write_view(t: &Tensor, positions: Vec<i64>, dims: &[usize], src: &Tensor) -> Result<Value> {
    if src.dims() != dims {
        return Err(err(format!(
            "expected src to have a size equal to the slice of self. src size = {:?}, slice size = {dims:?}",
            src.dims()
        )));
    }
    let values = src.to_dtype(t.dtype())?.to_device(t.device())?;
    Ok(Value::Tensor(put(
        t,
        positions,
        &values.inner().flatten_all()?,
        false,
    )?))
}

fn slice_scatter(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let (d, start, len, step) = slice_args(t, args, 2)?;
    let mut dims = t.dims().to_vec();
    dims[d] = len;
    let mut step_of = strides(t.dims());
    let base = (start * step_of[d]) as i64;
    step_of[d] *= step;
    let positions = offsets(&dims, &step_of)
        .into_iter()
        .map(|o| o + base)
        .collect();
    write_view(t, positions, &dims, args.tensor(1)?)
}

fn select_scatter(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let (d, i) = select_args(t, args.int(2)?, args.int(3)?)?;
    let mut dims = t.dims().to_vec();
    let mut step = strides(t.dims());
    let base = (i * step[d]) as i64;
    dims.remove(d);
    step.remove(d);
    let positions = offsets(&dims, &step)
        .into_iter()
        .map(|o| o + base)
        .collect();
    write_view(t, positions, &dims, args.tensor(1)?)
}

fn index_select(cx: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let index = args.tensor(2)?;
    if !matches!(index.dtype(), ScalarType::Int64 | ScalarType::Int32) {
        return Err(err(
            "index_select(): Expected dtype int32 or int64 for index",
        ));
    }
    if index.rank() > 1 {
        return Err(err("index_select(): Index is supposed to be a vector"));
    }
    let d = wrap_dim(args.int(1)?, t.rank())?;
    let size = t.dims().get(d).copied().unwrap_or(1);
    let ids = int_values(index)?;
    if let Some(&v) = ids.iter().find(|&&v| v < 0 || v >= size as i64) {
        return Err(err(format!(
            "INDICES element is out of DATA bounds, id={v} axis_dim={size}"
        )));
    }
    if t.rank() == 0 {
        if ids.len() != 1 {
            return Err(err(format!(
                "index_select(): Index to scalar can have only 1 value, got {} value(s)",
                ids.len()
            )));
        }
        return Ok(Value::Tensor(t.clone()));
    }
    let mut dims = t.dims().to_vec();
    dims[d] = ids.len();
    cx.check("aten::index_select", &dims)?;
    if let Some(out) = select_rows(t, d, &ids, &dims) {
        return Ok(Value::Tensor(out?));
    }
    let n = ids.len();
    let out = if n == 0 || t.elem_count() == 0 {
        candle_core::Tensor::zeros(dims, t.inner().dtype(), t.device())?
    } else {
        let ids = candle_core::Tensor::from_vec(ids, n, t.device())?;
        t.inner().contiguous()?.index_select(&ids, d)?
    };
    Ok(Value::Tensor(Tensor::with_type(out, t.dtype())?))
}

/// `t`'s rows `ids` (in range) along `d` as a tensor of shape `dims`, copied on the host when
/// `t` is a contiguous CPU tensor ([`host::gather_rows`]); `None` otherwise.
pub(super) fn select_rows(
    t: &Tensor,
    d: usize,
    ids: &[i64],
    dims: &[usize],
) -> Option<Result<Tensor>> {
    host::cpu_range(t.inner())?;
    let (outer, size, width) = split_at_dim(t.dims(), d);
    if ids.iter().any(|&i| i < 0) {
        return None;
    }
    let rows = (0..outer).flat_map(|o| ids.iter().map(move |&i| o * size + i as usize));
    let out = host::gather_rows(t.inner(), width, rows, 0.0, dims)?;
    Some(out.and_then(|out| Tensor::with_type(out, t.dtype())))
}

/// The elements before dim `d` (its rows' count), `d`'s size and the elements after it.
fn split_at_dim(dims: &[usize], d: usize) -> (usize, usize, usize) {
    let outer = dims[..d].iter().product();
    let width = dims[d + 1..].iter().product();
    (outer, dims[d], width)
}

/// A tensor's dims, a 0-dim tensor's as `[1]` (as `gather` and `scatter` see them).
fn dims_1d(t: &Tensor) -> Vec<usize> {
    if t.rank() == 0 {
        vec![1]
    } else {
        t.dims().to_vec()
    }
}

/// For `gather` and `scatter`: the position in `t` of each element of `index` (row-major),
/// `index`'s value standing for the position along `dim`, bounds checked.
fn positions_along(t: &Tensor, dim: usize, index: &Tensor) -> Result<Vec<i64>> {
    let (td, id) = (dims_1d(t), dims_1d(index));
    let st = strides(&td);
    let step: Vec<usize> = (0..id.len())
        .map(|k| if k == dim { 0 } else { st[k] })
        .collect();
    let base = offsets(&id, &step);
    let size = td[dim];
    int_values(index)?
        .into_iter()
        .zip(base)
        .map(|(v, b)| match v {
            v if v >= 0 && v < size as i64 => Ok(b + v * st[dim] as i64),
            v => Err(err(format!(
                "index {v} is out of bounds for dimension {dim} with size {size}"
            ))),
        })
        .collect()
}

fn gather(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let index = args.tensor(2)?;
    if !matches!(index.dtype(), ScalarType::Int64 | ScalarType::Int32) {
        return Err(err("gather(): Expected dtype int32/int64 for index"));
    }
    if index.rank() != t.rank() {
        return Err(err(
            "Index tensor must have the same number of dimensions as input tensor",
        ));
    }
    let d = wrap_dim(args.int(1)?, t.rank())?;
    let (td, id) = (dims_1d(t), dims_1d(index));
    if let Some(k) = (0..id.len()).find(|&k| k != d && id[k] > td[k]) {
        return Err(err(format!(
            "Size does not match at dimension {k} expected index {:?} to be no larger than self {:?} apart \
             from dimension {d}",
            index.dims(),
            t.dims()
        )));
    }
    let positions = positions_along(t, d, index)?;
    Ok(Value::Tensor(take(t, positions, index.dims())?))
}

fn scatter(_: &Ctx, args: &Args) -> Result<Value> {
    scattered(args, false)
}

fn scatter_add(_: &Ctx, args: &Args) -> Result<Value> {
    scattered(args, true)
}

/// `scatter` (`accumulate` false: the last write wins) and `scatter_add` (each value added in
/// index order: floats in their own type as PyTorch's CPU kernel adds them, integers wrapping,
/// bool as logical or).
fn scattered(args: &Args, accumulate: bool) -> Result<Value> {
    let t = args.tensor(0)?;
    let index = args.tensor(2)?;
    let src = args.opt_tensor(3).ok().flatten();
    if !matches!(index.dtype(), ScalarType::Int64 | ScalarType::Int32) {
        return Err(err("scatter(): Expected dtype int32/int64 for index"));
    }
    if index.rank() != t.rank() {
        return Err(err(
            "Index tensor must have the same number of dimensions as self tensor",
        ));
    }
    let d = wrap_dim(args.int(1)?, t.rank())?;
    let (td, id) = (dims_1d(t), dims_1d(index));
    let too_big_for_self = (0..id.len()).any(|k| k != d && id[k] > td[k]);
    if let Some(src) = src {
        if src.rank() != t.rank() {
            return Err(err(
                "Index tensor must have the same number of dimensions as src tensor",
            ));
        }
        if src.dtype() != t.dtype() {
            return Err(err(
                "scatter(): Expected self.dtype to be equal to src.dtype",
            ));
        }
        let sd = dims_1d(src);
        if too_big_for_self || id.iter().zip(&sd).any(|(i, s)| i > s) {
            return Err(err(format!(
                "Expected index {:?} to be no larger than self {:?} apart from dimension {d} and to be no \
                 larger size than src {:?}",
                index.dims(),
                t.dims(),
                src.dims()
            )));
        }
    } else if too_big_for_self {
        return Err(err(format!(
            "Expected index {:?} to be no larger than self {:?} apart from dimension {d}",
            index.dims(),
            t.dims()
        )));
    }
    let positions = positions_along(t, d, index)?;
    let n = positions.len();
    let values = match src {
        Some(src) => {
            let from = offsets(&id, &strides(&dims_1d(src)));
            if !accumulate {
                if let Some(out) = host::scatter_elements(t.inner(), &positions, src.inner(), &from)
                {
                    return Ok(Value::Tensor(Tensor::with_type(out?, t.dtype())?));
                }
            }
            take(&src.to_device(t.device())?, from, &[n])?
        }
        None => filled(args.scalar(3)?, &[n], t.dtype(), t.device())?,
    };
    if accumulate && !t.dtype().is_float() {
        let mut sums = int_values(t)?;
        for (p, v) in positions.into_iter().zip(int_values(&values)?) {
            if let Some(s) = usize::try_from(p).ok().and_then(|p| sums.get_mut(p)) {
                *s = s.wrapping_add(v);
            }
        }
        return Ok(Value::Tensor(from_i64s(
            sums,
            t.dims(),
            t.dtype(),
            t.device(),
        )?));
    }
    Ok(Value::Tensor(put(
        t,
        positions,
        values.inner(),
        accumulate,
    )?))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{arange, fails, out, shaped, t, values};
    use crate::ops::dtype::ScalarType;
    use crate::ops::value::Value;

    fn longs(v: &[f64], dims: &[usize]) -> Value {
        t(v, dims, ScalarType::Int64)
    }

    #[test]
    fn slice_select_narrow_clamp_like_python() {
        let x = arange(&[2, 3]);
        let all = [
            x.clone(),
            Value::Int(1),
            Value::Int(-100),
            Value::Int(100),
            Value::Int(2),
        ];
        assert_eq!(
            shaped(&out("aten::slice", &all)),
            (vec![2, 2], vec![0.0, 2.0, 3.0, 5.0])
        );
        let colon = [x.clone(), Value::Int(0), Value::None, Value::Int(i64::MAX)];
        assert_eq!(out("aten::slice", &colon).dims(), &[2, 3]);
        let empty = [x.clone(), Value::Int(1), Value::Int(2), Value::Int(1)];
        assert_eq!(out("aten::slice", &empty).dims(), &[2, 0]);
        let last = [x.clone(), Value::Int(-1), Value::Int(-1)];
        assert_eq!(
            shaped(&out("aten::slice", &last)),
            (vec![2, 1], vec![2.0, 5.0])
        );
        // Messages from torch 2.15.0.
        let back = [
            x.clone(),
            Value::Int(1),
            Value::Int(0),
            Value::Int(3),
            Value::Int(-1),
        ];
        assert!(fails("aten::slice", &back).ends_with("slice step must be positive"));
        assert!(fails("aten::slice", &[arange(&[])])
            .ends_with("slice() cannot be applied to a 0-dim tensor."));
        assert_eq!(
            shaped(&out(
                "aten::select",
                &[x.clone(), Value::Int(1), Value::Int(-3)]
            )),
            (vec![2], vec![0.0, 3.0])
        );
        assert!(
            fails("aten::select", &[x.clone(), Value::Int(1), Value::Int(3)]).ends_with(
                "select(): index 3 out of range for tensor of size [2, 3] at dimension 1"
            )
        );
        assert!(
            fails("aten::select", &[arange(&[]), Value::Int(0), Value::Int(0)])
                .ends_with("select() cannot be applied to a 0-dim tensor.")
        );
        let y = out(
            "aten::narrow",
            &[x.clone(), Value::Int(1), Value::Int(-1), Value::Int(1)],
        );
        assert_eq!(shaped(&y), (vec![2, 1], vec![2.0, 5.0]));
        let y = out(
            "aten::narrow",
            &[x.clone(), Value::Int(0), longs(&[1.0], &[]), Value::Int(1)],
        );
        assert_eq!(shaped(&y), (vec![1, 3], vec![3.0, 4.0, 5.0]));
        assert!(fails(
            "aten::narrow",
            &[x.clone(), Value::Int(1), Value::Int(2), Value::Int(2)]
        )
        .ends_with("start (2) + length (2) exceeds dimension size (3)."));
        assert!(fails(
            "aten::narrow",
            &[x.clone(), Value::Int(1), Value::Int(-4), Value::Int(1)]
        )
        .ends_with("start out of range (expected to be in range of [-3, 3], but got -4)"));
        assert!(fails(
            "aten::narrow",
            &[x, Value::Int(1), Value::Int(1), Value::Int(-1)]
        )
        .ends_with("narrow(): length must be non-negative."));
    }

    #[test]
    fn slice_and_select_scatter_write_views_back() {
        let x = arange(&[2, 3]);
        // torch.slice_scatter(x, torch.ones(2, 2), 1, 0, 3, 2) -> [[1, 1, 1], [1, 4, 1]].
        let args = [
            x.clone(),
            t(&[1.0; 4], &[2, 2], ScalarType::Int64),
            Value::Int(1),
            Value::Int(0),
            Value::Int(3),
            Value::Int(2),
        ];
        let y = out("aten::slice_scatter", &args);
        assert_eq!(
            (y.dtype(), values(&y)),
            (ScalarType::Float32, vec![1.0, 1.0, 1.0, 1.0, 4.0, 1.0])
        );
        let y = out(
            "aten::select_scatter",
            &[
                x.clone(),
                t(&[1.0; 3], &[3], ScalarType::Float32),
                Value::Int(0),
                Value::Int(-1),
            ],
        );
        assert_eq!(values(&y), vec![0.0, 1.0, 2.0, 1.0, 1.0, 1.0]);
        assert!(fails("aten::select_scatter", &[x, t(&[1.0; 2], &[2], ScalarType::Float32), Value::Int(0), Value::Int(-1)])
            .ends_with("expected src to have a size equal to the slice of self. src size = [2], slice size = [3]"));
    }

    #[test]
    fn index_select_gather_scatter() {
        let x = arange(&[2, 3]);
        let y = out(
            "aten::index_select",
            &[x.clone(), Value::Int(1), longs(&[2.0, 0.0], &[2])],
        );
        assert_eq!(shaped(&y), (vec![2, 2], vec![2.0, 0.0, 5.0, 3.0]));
        let y = out(
            "aten::index_select",
            &[x.clone(), Value::Int(1), t(&[1.0], &[], ScalarType::Int32)],
        );
        assert_eq!(shaped(&y), (vec![2, 1], vec![1.0, 4.0]));
        // Messages from torch 2.15.0.
        assert!(fails(
            "aten::index_select",
            &[x.clone(), Value::Int(1), longs(&[-1.0], &[1])]
        )
        .ends_with("INDICES element is out of DATA bounds, id=-1 axis_dim=3"));
        assert!(fails(
            "aten::index_select",
            &[
                x.clone(),
                Value::Int(1),
                t(&[1.0], &[1], ScalarType::Float32)
            ]
        )
        .ends_with("index_select(): Expected dtype int32 or int64 for index"));
        let y = out(
            "aten::gather",
            &[
                x.clone(),
                Value::Int(1),
                longs(&[2.0, 0.0, 1.0, 1.0], &[2, 2]),
            ],
        );
        assert_eq!(shaped(&y), (vec![2, 2], vec![2.0, 0.0, 4.0, 4.0]));
        assert!(fails(
            "aten::gather",
            &[x.clone(), Value::Int(1), longs(&[3.0], &[1, 1])]
        )
        .ends_with("index 3 is out of bounds for dimension 1 with size 3"));
        assert!(fails("aten::gather", &[x.clone(), Value::Int(0), longs(&[1.0; 4], &[1, 4])]).ends_with(
            "Size does not match at dimension 1 expected index [1, 4] to be no larger than self [2, 3] apart from dimension 0"
        ));
        assert!(fails(
            "aten::gather",
            &[x.clone(), Value::Int(1), longs(&[1.0], &[1])]
        )
        .ends_with("Index tensor must have the same number of dimensions as input tensor"));
        // x.scatter(1, [[2, 0]], ones(1, 2) * 9) -> [[9, 1, 9], [3, 4, 5]].
        let src = t(&[9.0, 9.0], &[1, 2], ScalarType::Float32);
        let y = out(
            "aten::scatter",
            &[x.clone(), Value::Int(1), longs(&[2.0, 0.0], &[1, 2]), src],
        );
        assert_eq!(values(&y), vec![9.0, 1.0, 9.0, 3.0, 4.0, 5.0]);
        // x.long().scatter(1, [[2, 0]], 7.5) -> [[7, 1, 7], [3, 4, 5]].
        let xl = t(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[2, 3], ScalarType::Int64);
        let y = out(
            "aten::scatter",
            &[
                xl,
                Value::Int(1),
                longs(&[2.0, 0.0], &[1, 2]),
                Value::Float(7.5),
            ],
        );
        assert_eq!(
            (y.dtype(), values(&y)),
            (ScalarType::Int64, vec![7.0, 1.0, 7.0, 3.0, 4.0, 5.0])
        );
        let wide = longs(&[0.0, 1.0, 2.0, 0.0], &[1, 4]);
        assert_eq!(
            values(&out(
                "aten::scatter",
                &[x.clone(), Value::Int(1), wide.clone(), Value::Float(1.0)]
            ))[..3],
            [1.0; 3]
        );
        assert!(fails("aten::scatter", &[x.clone(), Value::Int(1), wide, t(&[1.0; 3], &[1, 3], ScalarType::Float32)]).ends_with(
            "Expected index [1, 4] to be no larger than self [2, 3] apart from dimension 1 and to be no larger size than src [1, 3]"
        ));
        let ints = t(&[1.0, 1.0], &[1, 2], ScalarType::Int64);
        assert!(fails(
            "aten::scatter",
            &[x.clone(), Value::Int(1), longs(&[2.0, 0.0], &[1, 2]), ints]
        )
        .ends_with("scatter(): Expected self.dtype to be equal to src.dtype"));
        assert!(fails(
            "aten::scatter",
            &[x, Value::Int(1), longs(&[5.0], &[1, 1]), Value::Float(1.0)]
        )
        .ends_with("index 5 is out of bounds for dimension 1 with size 3"));
    }

    /// `dims` elements counting from 1 as `dtype`, contiguous and as a strided view holding
    /// the same values (a permuted tensor, which the host paths leave to candle).
    fn both(dims: &[usize], dtype: ScalarType) -> (Value, Value) {
        use crate::ops::tensor::Tensor;
        let n: usize = dims.iter().product();
        let rev: Vec<usize> = dims.iter().rev().copied().collect();
        let perm: Vec<usize> = (0..dims.len()).rev().collect();
        let v: Vec<f64> = (0..n).map(|i| ((i * 7) % 11) as f64).collect();
        let base = candle_core::Tensor::from_vec(v, rev.as_slice(), &candle_core::Device::Cpu)
            .unwrap()
            .permute(perm)
            .unwrap();
        let view = Tensor::new(base.clone()).unwrap().to_dtype(dtype).unwrap();
        let view = if view.inner().is_contiguous() {
            // A cast copies: permute the cast values back into a strided view.
            let p: Vec<usize> = (0..dims.len()).rev().collect();
            let c = view
                .inner()
                .permute(p.clone())
                .unwrap()
                .contiguous()
                .unwrap();
            Tensor::with_type(c.permute(p).unwrap(), dtype).unwrap()
        } else {
            view
        };
        assert!(dims.len() < 2 || !view.inner().is_contiguous());
        let flat = Tensor::with_type(view.inner().contiguous().unwrap(), dtype).unwrap();
        (Value::Tensor(flat), Value::Tensor(view))
    }

    #[test]
    fn host_paths_match_candle_paths() {
        use super::super::tests::call;
        let dtypes = [
            ScalarType::Float32,
            ScalarType::Float64,
            ScalarType::Int64,
            ScalarType::Int32,
            ScalarType::UInt8,
            ScalarType::Bool,
            ScalarType::Float16,
        ];
        let same = |name: &str, a: &[Value], b: &[Value]| {
            let (x, y) = (call(name, a, &[]), call(name, b, &[]));
            match (x, y) {
                (Ok(Value::Tensor(x)), Ok(Value::Tensor(y))) => {
                    assert_eq!(x.dtype(), y.dtype(), "{name}");
                    assert_eq!(shaped(&x), shaped(&y), "{name}");
                }
                (Err(x), Err(y)) => assert_eq!(x.to_string(), y.to_string(), "{name}"),
                (x, y) => panic!("{name}: {x:?} against {y:?}"),
            }
        };
        for dtype in dtypes {
            let (flat, view) = both(&[2, 3, 4], dtype);
            for (d, ids) in [
                (0, vec![1.0, 0.0, 1.0]),
                (1, vec![2.0, 0.0]),
                (2, vec![3.0, 3.0, 0.0, 1.0]),
                (-1, vec![]),
                (1, vec![3.0]),
                (1, vec![-1.0]),
            ] {
                let idx = longs(&ids, &[ids.len()]);
                let args = |x: &Value| [x.clone(), Value::Int(d), idx.clone()];
                same("aten::index_select", &args(&flat), &args(&view));
                let lead = vec![Value::None; (d.rem_euclid(3)) as usize];
                let list = |x: &Value| {
                    let mut l = lead.clone();
                    l.push(idx.clone());
                    [x.clone(), Value::list(l)]
                };
                same("aten::index", &list(&flat), &list(&view));
            }
            // Negative indices wrap in `index`; out of range is refused with the same message.
            let idx = longs(&[-1.0, -3.0], &[2]);
            let list = |x: &Value| [x.clone(), Value::list(vec![Value::None, idx.clone()])];
            same("aten::index", &list(&flat), &list(&view));
            let y = out("aten::index", &list(&flat));
            assert_eq!(y.dims(), &[2, 2, 4]);
            // scatter: a permutation of a 1-D tensor, and rows of a 2-D one.
            let (f1, v1) = both(&[4, 3], dtype);
            let (s1, w1) = both(&[4, 3], dtype);
            let index = longs(&[2.0, 0.0, 1.0, 1.0, 3.0, 0.0], &[2, 3]);
            let args = |x: &Value, s: &Value| [x.clone(), Value::Int(0), index.clone(), s.clone()];
            same("aten::scatter", &args(&f1, &s1), &args(&v1, &w1));
            // sort along every dim, ascending and descending, of the view and the copy.
            for d in [0, 1, 2, -1] {
                for desc in [false, true] {
                    let a = |x: &Value| [x.clone(), Value::Int(d), Value::Bool(desc)];
                    let (x, y) = (
                        call("aten::sort", &a(&flat), &[]).unwrap(),
                        call("aten::sort", &a(&view), &[]).unwrap(),
                    );
                    for (x, y) in x.items().unwrap().iter().zip(y.items().unwrap()) {
                        let (x, y) = (x.as_tensor().unwrap(), y.as_tensor().unwrap());
                        assert_eq!(shaped(x), shaped(y));
                    }
                }
            }
        }
    }

    #[test]
    fn scatter_add_sums_in_index_order() {
        // Values and messages from torch 2.15.0:
        // torch.zeros(3, 4).scatter_add(0, [[0, 1, 2, 0], [0, 0, 0, 0]], arange(1., 9.).view(2, 4)).
        let x = t(&[0.0; 12], &[3, 4], ScalarType::Float32);
        let idx = longs(&[0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0], &[2, 4]);
        let src = t(
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            &[2, 4],
            ScalarType::Float32,
        );
        let y = out(
            "aten::scatter_add",
            &[x.clone(), Value::Int(0), idx.clone(), src.clone()],
        );
        assert_eq!(
            shaped(&y),
            (
                vec![3, 4],
                vec![6.0, 6.0, 7.0, 12.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0]
            )
        );
        let idx32 = t(
            &[0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            &[2, 4],
            ScalarType::Int32,
        );
        let y = out(
            "aten::scatter_add",
            &[x.clone(), Value::Int(0), idx32, src.clone()],
        );
        assert_eq!(values(&y)[..4], [6.0, 6.0, 7.0, 12.0]);
        // torch.ones(2, 3, dtype=torch.int64).scatter_add(1, [[2, 2], [0, 1]], [[5, 6], [7, 8]]).
        let ones = t(&[1.0; 6], &[2, 3], ScalarType::Int64);
        let args = [
            ones,
            Value::Int(1),
            longs(&[2.0, 2.0, 0.0, 1.0], &[2, 2]),
            t(&[5.0, 6.0, 7.0, 8.0], &[2, 2], ScalarType::Int64),
        ];
        let y = out("aten::scatter_add", &args);
        assert_eq!(
            (y.dtype(), values(&y)),
            (ScalarType::Int64, vec![1.0, 1.0, 12.0, 8.0, 9.0, 1.0])
        );
        // uint8 wraps: [1, 2] + 200 + 100 at index 1 -> [1, 46]; bool adds as or.
        let bytes = |v: &[f64]| t(v, &[v.len()], ScalarType::UInt8);
        let args = [
            bytes(&[1.0, 2.0]),
            Value::Int(0),
            longs(&[1.0, 1.0], &[2]),
            bytes(&[200.0, 100.0]),
        ];
        assert_eq!(values(&out("aten::scatter_add", &args)), vec![1.0, 46.0]);
        let flags = |v: &[f64]| t(v, &[v.len()], ScalarType::Bool);
        let args = [
            flags(&[1.0, 0.0]),
            Value::Int(0),
            longs(&[1.0, 1.0], &[2]),
            flags(&[1.0, 1.0]),
        ];
        let y = out("aten::scatter_add", &args);
        assert_eq!((y.dtype(), values(&y)), (ScalarType::Bool, vec![1.0, 1.0]));
        // 0-dim: torch.tensor(1.).scatter_add(0, torch.tensor(0), torch.tensor(5.)) -> 6.
        let scalar = |v: f64, d| t(&[v], &[], d);
        let args = [
            scalar(1.0, ScalarType::Float32),
            Value::Int(0),
            scalar(0.0, ScalarType::Int64),
            scalar(5.0, ScalarType::Float32),
        ];
        assert_eq!(
            shaped(&out("aten::scatter_add", &args)),
            (vec![], vec![6.0])
        );

        let fail = |index: Value, src: Value, dim: i64| {
            fails(
                "aten::scatter_add",
                &[x.clone(), Value::Int(dim), index, src],
            )
        };
        let row = |v: f64| longs(&[v, 0.0, 0.0, 0.0], &[1, 4]);
        assert!(fail(row(3.0), src.clone(), 0)
            .ends_with("index 3 is out of bounds for dimension 0 with size 3"));
        assert!(fail(row(-1.0), src.clone(), 0)
            .ends_with("index -1 is out of bounds for dimension 0 with size 3"));
        let float_index = t(&[0.0; 8], &[2, 4], ScalarType::Float32);
        assert!(fail(float_index, src.clone(), 0)
            .ends_with("scatter(): Expected dtype int32/int64 for index"));
        let doubles = t(&[1.0; 8], &[2, 4], ScalarType::Float64);
        assert!(fail(idx.clone(), doubles, 0)
            .ends_with("scatter(): Expected self.dtype to be equal to src.dtype"));
        assert!(fail(idx.clone(), src.clone(), 2)
            .ends_with("Dimension out of range (expected to be in range of [-2, 1], but got 2)"));
        assert!(fail(longs(&[0.0; 4], &[4]), src.clone(), 0)
            .ends_with("Index tensor must have the same number of dimensions as self tensor"));
        assert!(fail(longs(&[0.0; 16], &[4, 4]), src.clone(), 0).ends_with(
            "Expected index [4, 4] to be no larger than self [3, 4] apart from dimension 0 and to be no \
             larger size than src [2, 4]"
        ));
        let narrow_src = t(&[1.0; 6], &[2, 3], ScalarType::Float32);
        assert!(fail(idx, narrow_src, 0).ends_with(
            "Expected index [2, 4] to be no larger than self [3, 4] apart from dimension 0 and to be no \
             larger size than src [2, 3]"
        ));
    }
}
