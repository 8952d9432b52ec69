//! `sort`, `argsort` and `topk` along a dim, NaN the largest value.
//!
//! `sort` is stable (equal values keep their order); along the last dim of a contiguous CPU
//! tensor it sorts the rows on the tensor's slice, in its own type. PyTorch's CPU `sort` with `stable=False`
//! leaves equal values in an order its vectorized sort decides (it differs by CPU); the stable
//! order is one PyTorch may give, and the one it gives with `stable=True`. `topk` reproduces
//! PyTorch's CPU kernel exactly, ties included: libstdc++'s `partial_sort` when `k * 64 <= n`,
//! else `nth_element` then `sort` of the first `k - 1` ([`super::stl`]).

use std::cmp::Ordering;

use candle_core::Device;

use super::stl;
use super::{index_tensor, is_nan, moved_shape, unmove, Data, Rows};
use crate::error::{Error, Result};
use crate::ops::elementwise::kernel::{finish, CT};
use crate::ops::elementwise::promote::wrap_dim;
use crate::ops::shape::host::{cpu_range, on_elements};
use crate::ops::{Builder, ScalarType, Tensor, Value};

/// The order of two values with NaN the largest (NaNs equal).
fn nan_last<T: PartialOrd>(a: &T, b: &T) -> Ordering {
    match (is_nan(a), is_nan(b)) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    }
}

/// The stable sorting order of each row (indices into the row), one after the other.
fn orders<T: PartialOrd>(rows: &Rows<T>, descending: bool) -> Vec<usize> {
    let mut out = Vec::with_capacity(rows.values.len());
    for r in rows.iter() {
        let mut idx: Vec<usize> = (0..r.len()).collect();
        idx.sort_by(|&a, &b| {
            let o = nan_last(&r[a], &r[b]);
            if descending {
                o.reverse()
            } else {
                o
            }
        });
        out.extend(idx);
    }
    out
}

/// Values picked from each row of `rows` by `picks` (`per_row` indices a row), as a tensor of
/// `t`'s type with the permuted shape `moved`, put back with `dim` in place.
fn gather_rows<T: Copy + candle_core::WithDType>(
    rows: &Rows<T>,
    picks: &[usize],
    per_row: usize,
    moved: &[usize],
    dim: usize,
    t: &Tensor,
) -> Result<Tensor> {
    let values: Vec<T> = picks
        .iter()
        .enumerate()
        .map(|(i, &j)| rows.values[(i / per_row.max(1)) * rows.len + j])
        .collect();
    let v = unmove(CT::from_vec(values, moved, &Device::Cpu)?, dim)?;
    finish(v, t.dtype())?.to_device(t.device())
}

/// Int64 indices with the permuted shape `moved`, put back with `dim` in place.
fn index_rows(picks: Vec<usize>, moved: &[usize], dim: usize, device: &Device) -> Result<Tensor> {
    let idx: Vec<i64> = picks.into_iter().map(|i| i as i64).collect();
    let t = unmove(CT::from_vec(idx, moved, &Device::Cpu)?, dim)?;
    index_tensor(t.flatten_all()?.to_vec1::<i64>()?, t.dims(), device)
}

/// `sort(t, dim, descending)`: the sorted values and their int64 indices.
fn sort(t: &Tensor, dim: i64, descending: bool) -> Result<(Tensor, Tensor)> {
    let d = wrap_dim(dim, t.rank())?;
    if t.rank() > 0 && d + 1 == t.rank() {
        if let Some(sorted) = host_sort(t, descending) {
            return sorted;
        }
    }
    let dims = if t.rank() == 0 { vec![] } else { vec![d] };
    let moved = moved_shape(t.dims(), d);
    let len = dims.first().map_or(1, |&d| t.dims()[d]);
    let (values, picks) = match Data::new(t, &dims)? {
        Data::Float(r) => {
            let picks = orders(&r, descending);
            (gather_rows(&r, &picks, len, &moved, d, t)?, picks)
        }
        Data::Int(r) => {
            let picks = orders(&r, descending);
            (gather_rows(&r, &picks, len, &moved, d, t)?, picks)
        }
    };
    Ok((values, index_rows(picks, &moved, d, t.device())?))
}

/// `sort` along the last dim of a contiguous CPU tensor, row by row on its slice in its own
/// type (every type here converts to f64 and i64 exactly and in order, so the order is the
/// one [`orders`] gives); `None` where it does not apply.
fn host_sort(t: &Tensor, descending: bool) -> Option<Result<(Tensor, Tensor)>> {
    let inner = t.inner();
    let range = cpu_range(inner)?;
    let (storage, _) = inner.storage_and_layout();
    let candle_core::Storage::Cpu(cpu) = &*storage else {
        return None;
    };
    let len = *t.dims().last()?;
    on_elements!(cpu, range, |s| sort_rows(s, len, descending, t))
}

/// Each row of `len` values of `values` sorted stably (NaN the largest), as [`sort`] returns
/// them.
fn sort_rows<T: candle_core::WithDType>(
    values: &[T],
    len: usize,
    descending: bool,
    t: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let mut sorted = Vec::with_capacity(values.len());
    let mut indices = Vec::with_capacity(values.len());
    let mut order: Vec<usize> = Vec::with_capacity(len);
    for row in values.chunks(len.max(1)) {
        order.clear();
        order.extend(0..row.len());
        order.sort_by(|&a, &b| {
            let o = nan_last(&row[a], &row[b]);
            if descending {
                o.reverse()
            } else {
                o
            }
        });
        sorted.extend(order.iter().map(|&i| row[i]));
        indices.extend(order.iter().map(|&i| i as i64));
    }
    let values = Tensor::with_type(CT::from_vec(sorted, t.dims(), &Device::Cpu)?, t.dtype())?;
    let indices = index_tensor(indices, t.dims(), &Device::Cpu)?;
    Ok((values, indices))
}

/// PyTorch's `topk_impl_loop` on one row: the `k` largest (or smallest) values with their
/// indices, NaN the largest.
fn topk_row<T: Copy + PartialOrd>(
    row: &[T],
    k: usize,
    largest: bool,
    sorted: bool,
) -> Vec<(T, usize)> {
    if k == 0 {
        return Vec::new();
    }
    let mut q: Vec<(T, usize)> = row.iter().copied().zip(0..).collect();
    let comp = |x: &(T, usize), y: &(T, usize)| {
        if largest {
            (is_nan(x.0) && !is_nan(y.0)) || x.0 > y.0
        } else {
            (!is_nan(x.0) && is_nan(y.0)) || x.0 < y.0
        }
    };
    if k.checked_mul(64).is_some_and(|m| m <= q.len()) {
        stl::partial_sort(&mut q, k, &comp);
    } else {
        stl::nth_element(&mut q, k - 1, &comp);
        if sorted {
            stl::sort(&mut q[..k - 1], &comp);
        }
    }
    q.truncate(k);
    q
}

/// The picks of `topk` for every row.
fn topk_picks<T: Copy + PartialOrd>(
    rows: &Rows<T>,
    k: usize,
    largest: bool,
    sorted: bool,
) -> Vec<usize> {
    rows.iter()
        .flat_map(|r| topk_row(r, k, largest, sorted).into_iter().map(|(_, i)| i))
        .collect()
}

/// `topk(t, k, dim, largest, sorted)`: the values and their int64 indices.
fn topk(t: &Tensor, k: i64, dim: i64, largest: bool, sorted: bool) -> Result<(Tensor, Tensor)> {
    let d = wrap_dim(dim, t.rank())?;
    let size = if t.rank() == 0 { 1 } else { t.dims()[d] };
    let k = match usize::try_from(k) {
        Ok(k) if k <= size => k,
        _ => return Err(Error::Script("selected index k out of range".into())),
    };
    if t.dtype() == ScalarType::Bool {
        return Err(Error::Script(
            "topk does not support bool dtypes on CPU".into(),
        ));
    }
    if t.rank() == 0 {
        // PyTorch copies a 0-dim tensor whatever `k` (0 or 1).
        return Ok((t.clone(), index_tensor(vec![0], &[], t.device())?));
    }
    let dims = vec![d];
    let mut moved = moved_shape(t.dims(), d);
    if let Some(last) = moved.last_mut() {
        *last = k;
    }
    let (values, picks) = match Data::new(t, &dims)? {
        Data::Float(r) => {
            let picks = topk_picks(&r, k, largest, sorted);
            (gather_rows(&r, &picks, k, &moved, d, t)?, picks)
        }
        Data::Int(r) => {
            let picks = topk_picks(&r, k, largest, sorted);
            (gather_rows(&r, &picks, k, &moved, d, t)?, picks)
        }
    };
    Ok((values, index_rows(picks, &moved, d, t.device())?))
}

fn pair(r: Result<(Tensor, Tensor)>) -> Result<Value> {
    let (v, i) = r?;
    Ok(Value::tuple(vec![Value::Tensor(v), Value::Tensor(i)]))
}

/// Registers `sort`, `argsort` and `topk`.
pub(super) fn register(b: &mut Builder) {
    b.add(
        "aten::sort(Tensor self, int dim=-1, bool descending=False) -> (Tensor values, Tensor indices)",
        |_, a| pair(sort(a.tensor(0)?, a.int(1)?, a.bool(2)?)),
    );
    b.add(
        "aten::sort.stable(Tensor self, *, bool? stable, int dim=-1, bool descending=False) -> (Tensor values, Tensor indices)",
        |_, a| pair(sort(a.tensor(0)?, a.int(2)?, a.bool(3)?)),
    );
    b.add(
        "aten::argsort(Tensor self, int dim=-1, bool descending=False) -> Tensor",
        |_, a| Ok(Value::Tensor(sort(a.tensor(0)?, a.int(1)?, a.bool(2)?)?.1)),
    );
    b.add(
        "aten::argsort.stable(Tensor self, *, bool stable, int dim=-1, bool descending=False) -> Tensor",
        |_, a| Ok(Value::Tensor(sort(a.tensor(0)?, a.int(2)?, a.bool(3)?)?.1)),
    );
    b.add(
        "aten::topk(Tensor self, SymInt k, int dim=-1, bool largest=True, bool sorted=True) -> (Tensor values, Tensor indices)",
        |_, a| pair(topk(a.tensor(0)?, a.int(1)?, a.int(2)?, a.bool(3)?, a.bool(4)?)),
    );
}

#[cfg(test)]
mod tests {
    //! Expected values are torch 2.15's for the same calls.
    use crate::ops::elementwise::testing::{
        bools, call, call_kw, check, error, f32s, i64s, items, tensor,
    };
    use crate::ops::ScalarType::*;
    use crate::ops::Value;

    const NAN: f64 = f64::NAN;
    const INF: f64 = f64::INFINITY;

    #[test]
    fn topk_orders_ties_as_pytorch() {
        let x = f32s(&[6], &[1.0, 3.0, 3.0, NAN, 2.0, 3.0]);
        let r = items(&call("aten::topk", &[x.clone(), Value::Int(3)]).unwrap());
        check(&r[0], Float32, &[3], &[NAN, 3.0, 3.0]);
        check(&r[1], Int64, &[3], &[3.0, 5.0, 1.0]);
        let r = items(
            &call_kw(
                "aten::topk",
                &[x, Value::Int(3)],
                &[("largest", Value::Bool(false))],
            )
            .unwrap(),
        );
        check(&r[0], Float32, &[3], &[1.0, 2.0, 3.0]);
        check(&r[1], Int64, &[3], &[0.0, 4.0, 5.0]);
        let x = f32s(&[8], &[5.0, 1.0, 3.0, 4.0, 2.0, 6.0, 0.0, 9.0]);
        let r = items(
            &call_kw(
                "aten::topk",
                &[x, Value::Int(4)],
                &[("sorted", Value::Bool(false))],
            )
            .unwrap(),
        );
        check(&r[0], Float32, &[4], &[6.0, 9.0, 5.0, 4.0]);
        check(&r[1], Int64, &[4], &[5.0, 7.0, 0.0, 3.0]);
        let x = f32s(&[2, 3], &[1.0, 5.0, 3.0, 4.0, 2.0, 6.0]);
        let r = items(&call("aten::topk", &[x, Value::Int(2), Value::Int(0)]).unwrap());
        check(&r[0], Float32, &[2, 3], &[4.0, 5.0, 6.0, 1.0, 2.0, 3.0]);
        check(&r[1], Int64, &[2, 3], &[1.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn topk_refuses_what_pytorch_refuses() {
        assert!(
            error("aten::topk", &[f32s(&[2], &[1.0, 3.0]), Value::Int(3)])
                .contains("selected index k out of range")
        );
        assert!(
            error("aten::topk", &[bools(&[2], &[true, false]), Value::Int(1)])
                .contains("topk does not support bool dtypes on CPU")
        );
        let r = items(&call("aten::topk", &[f32s(&[], &[3.0]), Value::Int(1)]).unwrap());
        check(&r[0], Float32, &[], &[3.0]);
        check(&r[1], Int64, &[], &[0.0]);
        let r = items(&call("aten::topk", &[i64s(&[3], &[5.0, 1.0, 3.0]), Value::Int(2)]).unwrap());
        check(&r[0], Int64, &[2], &[5.0, 3.0]);
        check(&r[1], Int64, &[2], &[0.0, 2.0]);
    }

    #[test]
    fn sort_puts_nan_last_and_keeps_ties_in_order() {
        let x = f32s(&[6], &[3.0, NAN, 1.0, 3.0, -INF, 1.0]);
        let r = items(&call("aten::sort", std::slice::from_ref(&x)).unwrap());
        check(&r[0], Float32, &[6], &[-INF, 1.0, 1.0, 3.0, 3.0, NAN]);
        check(&r[1], Int64, &[6], &[4.0, 2.0, 5.0, 0.0, 3.0, 1.0]);
        let r = items(
            &call_kw(
                "aten::sort",
                &[x],
                &[
                    ("stable", Value::Bool(true)),
                    ("descending", Value::Bool(true)),
                ],
            )
            .unwrap(),
        );
        check(&r[0], Float32, &[6], &[NAN, 3.0, 3.0, 1.0, 1.0, -INF]);
        check(&r[1], Int64, &[6], &[1.0, 0.0, 3.0, 2.0, 5.0, 4.0]);
        let x = i64s(&[2, 3], &[3.0, 1.0, 2.0, 1.0, 1.0, 0.0]);
        let r = call("aten::argsort", &[x, Value::Int(1), Value::Bool(true)]).unwrap();
        check(&r, Int64, &[2, 3], &[0.0, 2.0, 1.0, 0.0, 1.0, 2.0]);
        let s = tensor(Int16, &[3], &[3.0, 1.0, 2.0]);
        let r = items(&call_kw("aten::sort", &[s], &[("descending", Value::Bool(true))]).unwrap());
        check(&r[0], Int16, &[3], &[3.0, 2.0, 1.0]);
        check(&r[1], Int64, &[3], &[0.0, 2.0, 1.0]);
        let r = items(&call("aten::sort", &[f32s(&[0, 3], &[]), Value::Int(0)]).unwrap());
        check(&r[0], Float32, &[0, 3], &[]);
    }
}
