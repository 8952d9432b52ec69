//! Advanced indexing: `index.Tensor` with a `Tensor?[]` list (integer tensors broadcast
//! together, bool masks standing for the positions of their true elements, `None` for `:`),
//! `index_put_` (with PyTorch's masked-fill shortcut for `x[mask] = v`) and `masked_select`.
//! Positions are computed on the host; elements move with candle's `index_select` and
//! `scatter`, or by plain loops on contiguous CPU tensors (one index tensor: whole rows).

use super::index::select_rows;
use super::{
    broadcast_error, broadcast_shapes, broadcast_source, err, int_values, offsets, put, strides,
    take, type_name, wrap_index,
};
use crate::error::Result;
use crate::ops::creation::filled;
use crate::ops::dtype::ScalarType;
use crate::ops::registry::{Args, Builder, Ctx, Scalar};
use crate::ops::tensor::Tensor;
use crate::ops::value::Value;

/// Registers `index`, `index_put_`, `index_put` (each with its `Tensor[]` twin) and
/// `masked_select`.
pub(super) fn register(b: &mut Builder) {
    b.add(
        "aten::index.Tensor(Tensor self, Tensor?[] indices) -> Tensor",
        index,
    );
    b.add(
        "aten::index.Tensor_hacked_twin(Tensor self, Tensor[] indices) -> Tensor",
        index,
    );
    const PUT: &str = "Tensor values, bool accumulate=False) -> Tensor";
    b.add(
        &format!("aten::index_put_(Tensor(a!) self, Tensor?[] indices, {PUT}(a!)"),
        index_put,
    );
    b.add(
        &format!("aten::index_put_.hacked_twin(Tensor(a!) self, Tensor[] indices, {PUT}(a!)"),
        index_put,
    );
    b.add(
        &format!("aten::index_put(Tensor self, Tensor?[] indices, {PUT}"),
        index_put,
    );
    b.add(
        &format!("aten::index_put.hacked_twin(Tensor self, Tensor[] indices, {PUT}"),
        index_put,
    );
    b.add(
        "aten::masked_select(Tensor self, Tensor mask) -> Tensor",
        masked_select,
    );
}

/// One entry of an index list after masks are expanded: a whole dim, or index values (of
/// the given shape) for one dim.
enum Slot {
    Full,
    Index(Vec<i64>, Vec<usize>),
}

/// Where `t[indices]` reads: its shape and, for each of its elements (row-major), the
/// position in `t`.
struct Plan {
    dims: Vec<usize>,
    positions: Vec<i64>,
}

/// The index list of `index` and `index_put_` (`Tensor?[]` or `Tensor[]`).
fn index_list(args: &Args, i: usize) -> Result<Vec<Option<Tensor>>> {
    args.opt_tensors(i)
}

fn is_mask(t: &Tensor) -> bool {
    matches!(t.dtype(), ScalarType::Bool | ScalarType::UInt8)
}

/// The slots of `indices` for `t`: masks become one index per dim they cover (the positions
/// of their true elements), with PyTorch's checks and messages.
fn slots(t: &Tensor, indices: &[Option<Tensor>]) -> Result<Vec<Slot>> {
    if indices.is_empty() {
        return Err(err("at least one index must be provided"));
    }
    let consumed: usize = indices
        .iter()
        .map(|i| i.as_ref().filter(|t| is_mask(t)).map_or(1, Tensor::rank))
        .sum();
    if consumed > t.rank() {
        return Err(err(format!(
            "too many indices for tensor of dimension {} (got {consumed})",
            t.rank()
        )));
    }
    let mut out = Vec::with_capacity(t.rank());
    for index in indices {
        let Some(ix) = index else {
            out.push(Slot::Full);
            continue;
        };
        match ix.dtype() {
            ScalarType::Int64 | ScalarType::Int32 => {
                out.push(Slot::Index(int_values(ix)?, ix.dims().to_vec()))
            }
            ScalarType::Bool | ScalarType::UInt8 => {
                if ix.rank() == 0 {
                    return Err(err("indexing with a 0-dim bool tensor is not supported"));
                }
                let p = out.len();
                for (j, &m) in ix.dims().iter().enumerate() {
                    if m != t.dims()[p + j] {
                        return Err(err(format!(
                            "The shape of the mask {:?} at index {j} does not match the shape of the indexed \
                             tensor {:?} at index {}",
                            ix.dims(),
                            t.dims(),
                            p + j
                        )));
                    }
                }
                out.extend(nonzero(ix)?);
            }
            _ => {
                return Err(err(
                    "tensors used as indices must be long, int, byte or bool tensors",
                ))
            }
        }
    }
    while out.len() < t.rank() {
        out.push(Slot::Full);
    }
    Ok(out)
}

/// The coordinates of a mask's true elements, one index slot per dim.
fn nonzero(mask: &Tensor) -> Result<Vec<Slot>> {
    let dims = mask.dims();
    let st = strides(dims);
    let hits: Vec<usize> = int_values(mask)?
        .iter()
        .enumerate()
        .filter(|(_, &v)| v != 0)
        .map(|(i, _)| i)
        .collect();
    Ok((0..dims.len())
        .map(|d| {
            let coords = hits
                .iter()
                .map(|&h| ((h / st[d]) % dims[d]) as i64)
                .collect();
            Slot::Index(coords, vec![hits.len()])
        })
        .collect())
}

/// PyTorch's advanced indexing: the indexed dims' values broadcast together; their result
/// dims replace them where they are adjacent, and go first otherwise.
fn plan(cx: &Ctx, op: &str, t: &Tensor, indices: &[Option<Tensor>]) -> Result<Plan> {
    let slots = slots(t, indices)?;
    let shapes: Vec<&Vec<usize>> = slots
        .iter()
        .filter_map(|s| {
            if let Slot::Index(_, d) = s {
                Some(d)
            } else {
                None
            }
        })
        .collect();
    let indexed: Vec<usize> = (0..slots.len())
        .filter(|&d| matches!(slots[d], Slot::Index(..)))
        .collect();
    let Some(b) = shapes
        .iter()
        .try_fold(Vec::new(), |acc, s| broadcast_shapes(&acc, s))
    else {
        let listed: Vec<String> = shapes.iter().map(|s| format!("{s:?}")).collect();
        return Err(err(format!(
            "shape mismatch: indexing tensors could not be broadcast together with shapes {}",
            listed.join(", ")
        )));
    };
    let adjacent = indexed.windows(2).all(|w| w[1] == w[0] + 1);
    let full: Vec<usize> = (0..slots.len()).filter(|d| !indexed.contains(d)).collect();
    let first = indexed.first().copied().unwrap_or(0);
    let (pre, post): (Vec<usize>, Vec<usize>) = if adjacent {
        full.iter().partition(|&&d| d < first)
    } else {
        (Vec::new(), full)
    };
    let size_of = |ds: &[usize]| ds.iter().map(|&d| t.dims()[d]).collect::<Vec<_>>();
    let dims: Vec<usize> = size_of(&pre)
        .into_iter()
        .chain(b.iter().copied())
        .chain(size_of(&post))
        .collect();
    cx.check(op, &dims)?;
    let st = strides(t.dims());
    let b_count: usize = b.iter().product();
    let mut at_b = vec![0i64; b_count];
    for &d in &indexed {
        let Slot::Index(values, shape) = &slots[d] else {
            continue;
        };
        let size = t.dims()[d];
        for (slot, src) in at_b.iter_mut().zip(broadcast_source(shape, &b)) {
            let v = values[src];
            let w = wrap_index(v, size).ok_or_else(|| {
                err(format!(
                    "index {v} is out of bounds for dimension {d} with size {size}"
                ))
            })?;
            *slot += (w * st[d]) as i64;
        }
    }
    let step_of = |ds: &[usize]| ds.iter().map(|&d| st[d]).collect::<Vec<_>>();
    let pre_off = offsets(&size_of(&pre), &step_of(&pre));
    let post_off = offsets(&size_of(&post), &step_of(&post));
    let mut positions = Vec::with_capacity(pre_off.len() * b_count * post_off.len());
    for &a in &pre_off {
        for &m in &at_b {
            positions.extend(post_off.iter().map(|&c| a + m + c));
        }
    }
    Ok(Plan { dims, positions })
}

fn index(cx: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let indices = index_list(args, 1)?;
    if let Some(out) = one_index(cx, t, &indices) {
        return Ok(Value::Tensor(out?));
    }
    let p = plan(cx, "aten::index", t, &indices)?;
    Ok(Value::Tensor(take(t, p.positions, &p.dims)?))
}

/// `t[:, ..., i]`: one int64 or int32 index tensor `i` after `None`s, on a contiguous CPU
/// tensor, its rows copied on the host ([`select_rows`]) with [`plan`]'s checks and messages;
/// `None` for every other case.
fn one_index(cx: &Ctx, t: &Tensor, indices: &[Option<Tensor>]) -> Option<Result<Tensor>> {
    let p = indices.iter().position(Option::is_some)?;
    let ix = indices[p].as_ref()?;
    if indices.len() > t.rank()
        || indices[p + 1..].iter().any(Option::is_some)
        || !matches!(ix.dtype(), ScalarType::Int64 | ScalarType::Int32)
    {
        return None;
    }
    super::host::cpu_range(t.inner())?;
    let ids = super::host::ints(ix.inner())?;
    let mut dims = t.dims()[..p].to_vec();
    dims.extend_from_slice(ix.dims());
    dims.extend_from_slice(&t.dims()[p + 1..]);
    if let Err(e) = cx.check("aten::index", &dims) {
        return Some(Err(e));
    }
    let size = t.dims()[p];
    let mut wrapped = Vec::with_capacity(ids.len());
    for v in ids {
        match wrap_index(v, size) {
            Some(w) => wrapped.push(w as i64),
            None => {
                return Some(Err(err(format!(
                    "index {v} is out of bounds for dimension {p} with size {size}"
                ))))
            }
        }
    }
    select_rows(t, p, &wrapped, &dims)
}

/// The number a one-element tensor holds, as a fill value.
fn scalar_of(t: &Tensor) -> Result<Scalar> {
    Ok(match t.dtype() {
        ScalarType::Bool => Scalar::Bool(t.scalar_i64()? != 0),
        d if d.is_float() => Scalar::Float(t.scalar_f64()?),
        _ => Scalar::Int(t.scalar_i64()?),
    })
}

/// PyTorch's shortcut for `x[mask] = v`: one mask (after `None`s), a one-element value on the
/// CPU, no accumulation: a masked fill, which converts the value to `self`'s type.
fn masked_fill_put(
    cx: &Ctx,
    t: &Tensor,
    indices: &[Option<Tensor>],
    value: &Tensor,
) -> Result<Option<Value>> {
    let given: Vec<&Tensor> = indices.iter().flatten().collect();
    let [mask] = given[..] else { return Ok(None) };
    if !is_mask(mask)
        || value.elem_count() != 1
        || !value.device().is_cpu()
        || !mask.device().same_device(t.device())
    {
        return Ok(None);
    }
    let fill = scalar_of(value)?;
    if mask.rank() == 0 {
        let leading = indices.iter().take_while(|i| i.is_none()).count();
        if leading > t.rank() {
            return Err(err(format!(
                "too many indices for tensor of dimension {} (got {leading})",
                t.rank()
            )));
        }
        let out = if mask.scalar_i64()? != 0 {
            filled(fill, t.dims(), t.dtype(), t.device())?
        } else {
            t.clone()
        };
        return Ok(Some(Value::Tensor(out)));
    }
    let p = plan(cx, "aten::index_put_", t, indices)?;
    let values = filled(fill, &[p.positions.len()], t.dtype(), t.device())?;
    Ok(Some(Value::Tensor(put(
        t,
        p.positions,
        values.inner(),
        false,
    )?)))
}

fn index_put(cx: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let indices = index_list(args, 1)?;
    let values = args.tensor(2)?;
    let accumulate = args.bool(3)?;
    if !accumulate {
        if let Some(done) = masked_fill_put(cx, t, &indices, values)? {
            return Ok(done);
        }
    }
    if values.dtype() != t.dtype() {
        return Err(err(format!(
            "Index put requires the source and destination dtypes match, got {} for the destination and {} for \
             the source.",
            type_name(t.dtype()),
            type_name(values.dtype())
        )));
    }
    let p = plan(cx, "aten::index_put_", t, &indices)?;
    if broadcast_shapes(&p.dims, values.dims()).as_deref() != Some(&p.dims[..]) {
        return Err(err(format!(
            "shape mismatch: value tensor of shape {:?} cannot be broadcast to indexing result of shape {:?}",
            values.dims(),
            p.dims
        )));
    }
    let flat = values
        .to_device(t.device())?
        .inner()
        .broadcast_as(p.dims.as_slice())?
        .flatten_all()?;
    let out = put(t, p.positions, &flat, accumulate)?;
    if accumulate && t.dtype() == ScalarType::Bool {
        // Sums of bools are true where they are not zero.
        let inner = out.inner().ne(0u8)?;
        return Ok(Value::Tensor(Tensor::from_mask(inner)?));
    }
    Ok(Value::Tensor(out))
}

fn masked_select(cx: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let mask = args.tensor(1)?;
    if mask.dtype() != ScalarType::Bool {
        return Err(err("masked_select: expected BoolTensor for mask"));
    }
    let b = broadcast_shapes(mask.dims(), t.dims())
        .ok_or_else(|| broadcast_error(mask.dims(), t.dims()))?;
    cx.check("aten::masked_select", &b)?;
    let keep = int_values(mask)?;
    let positions: Vec<i64> = broadcast_source(mask.dims(), &b)
        .into_iter()
        .zip(broadcast_source(t.dims(), &b))
        .filter(|&(m, _)| keep[m] != 0)
        .map(|(_, s)| s as i64)
        .collect();
    let n = positions.len();
    Ok(Value::Tensor(take(t, positions, &[n])?))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{arange, call, fails, out, shaped, t, values};
    use crate::ops::dtype::ScalarType;
    use crate::ops::value::Value;

    fn list(items: &[Value]) -> Value {
        Value::list(items.to_vec())
    }

    fn longs(v: &[f64], dims: &[usize]) -> Value {
        t(v, dims, ScalarType::Int64)
    }

    fn bools(v: &[f64], dims: &[usize]) -> Value {
        t(v, dims, ScalarType::Bool)
    }

    #[test]
    fn advanced_indexing_follows_pytorch() {
        let x = arange(&[2, 3]);
        let index = |x: &Value, ix: &[Value]| out("aten::index", &[x.clone(), list(ix)]);
        assert_eq!(
            shaped(&index(&x, &[bools(&[1.0, 0.0], &[2])])),
            (vec![1, 3], vec![0.0, 1.0, 2.0])
        );
        let y = index(&x, &[Value::None, bools(&[1.0, 0.0, 1.0], &[3])]);
        assert_eq!(shaped(&y), (vec![2, 2], vec![0.0, 2.0, 3.0, 5.0]));
        let y = index(&x, &[longs(&[1.0, 0.0], &[2]), longs(&[2.0, 2.0], &[2])]);
        assert_eq!(shaped(&y), (vec![2], vec![5.0, 2.0]));
        let y = index(&x, &[longs(&[1.0, 0.0], &[2, 1]), longs(&[2.0, 1.0], &[2])]);
        assert_eq!(shaped(&y), (vec![2, 2], vec![5.0, 4.0, 2.0, 1.0]));
        assert_eq!(
            shaped(&index(&x, &[longs(&[-2.0], &[1])])),
            (vec![1, 3], vec![0.0, 1.0, 2.0])
        );
        let mask2 = bools(&[1.0, 0.0, 1.0, 0.0, 1.0, 1.0], &[2, 3]);
        assert_eq!(
            shaped(&index(&x, &[mask2])),
            (vec![4], vec![0.0, 2.0, 4.0, 5.0])
        );
        assert_eq!(
            shaped(&index(&x, &[longs(&[1.0], &[])])),
            (vec![3], vec![3.0, 4.0, 5.0])
        );
        // torch.arange(24).view(2, 3, 4)[[0, 1], :, [1, 2]]: the indexed dims are apart, so
        // their result goes first: [[1, 5, 9], [14, 18, 22]].
        let y = index(
            &arange(&[2, 3, 4]),
            &[
                longs(&[0.0, 1.0], &[2]),
                Value::None,
                longs(&[1.0, 2.0], &[2]),
            ],
        );
        assert_eq!(
            shaped(&y),
            (vec![2, 3], vec![1.0, 5.0, 9.0, 14.0, 18.0, 22.0])
        );
        let y = index(
            &arange(&[2, 3, 4]),
            &[
                Value::None,
                longs(&[0.0, 1.0], &[2]),
                longs(&[1.0, 2.0], &[2]),
            ],
        );
        assert_eq!(shaped(&y), (vec![2, 2], vec![1.0, 6.0, 13.0, 18.0]));
        let y = index(&x, &[t(&[1.0], &[1], ScalarType::Int32)]);
        assert_eq!(y.dims(), &[1, 3]);
        // Messages from torch 2.15.0.
        let fails_with = |ix: &[Value]| fails("aten::index", &[x.clone(), list(ix)]);
        assert!(fails_with(&[bools(&[1.0, 0.0, 1.0], &[3])]).ends_with(
            "The shape of the mask [3] at index 0 does not match the shape of the indexed tensor [2, 3] at index 0"
        ));
        assert!(fails_with(&[longs(&[1.0, 0.0], &[2]), longs(&[2.0, 2.0, 1.0], &[3])])
            .ends_with("shape mismatch: indexing tensors could not be broadcast together with shapes [2], [3]"));
        assert!(fails_with(&[longs(&[3.0], &[1])])
            .ends_with("index 3 is out of bounds for dimension 0 with size 2"));
        assert!(fails_with(&[t(&[1.0], &[1], ScalarType::Float32)])
            .ends_with("tensors used as indices must be long, int, byte or bool tensors"));
        assert!(fails_with(&[Value::None, Value::None, Value::None])
            .ends_with("too many indices for tensor of dimension 2 (got 3)"));
        assert!(fails_with(&[]).ends_with("at least one index must be provided"));
        let big = longs(&[0.0; 400], &[400]);
        assert!(fails_with(&[big]).contains("max_elements"));
    }

    #[test]
    fn index_put_writes_accumulates_and_masks() {
        let x = arange(&[2, 3]);
        let put = |ix: &[Value], v: Value, acc: bool| {
            call(
                "aten::index_put_",
                &[x.clone(), list(ix), v, Value::Bool(acc)],
                &[],
            )
        };
        let get = |r: crate::error::Result<Value>| values(r.unwrap().as_tensor().unwrap());
        let ix = [longs(&[0.0, 0.0], &[2]), longs(&[1.0, 2.0], &[2])];
        assert_eq!(
            get(put(&ix, t(&[7.0, 8.0], &[2], ScalarType::Float32), false)),
            vec![0.0, 7.0, 8.0, 3.0, 4.0, 5.0]
        );
        // Accumulated duplicates add up: [[0, 16, 2], [3, 4, 5]] in torch 2.15.0.
        let dup = [longs(&[0.0, 0.0], &[2]), longs(&[1.0, 1.0], &[2])];
        assert_eq!(
            get(put(&dup, t(&[7.0, 8.0], &[2], ScalarType::Float32), true)),
            vec![0.0, 16.0, 2.0, 3.0, 4.0, 5.0]
        );
        let row = [longs(&[0.0], &[1])];
        assert_eq!(
            get(put(
                &row,
                t(&[7.0, 8.0, 9.0], &[3], ScalarType::Float32),
                false
            ))[..3],
            [7.0, 8.0, 9.0]
        );
        // A mask and a one-element value is a masked fill, which converts the value.
        let mask = [bools(&[1.0, 0.0], &[2])];
        assert_eq!(
            get(put(&mask, longs(&[1.0], &[]), false)),
            vec![1.0, 1.0, 1.0, 3.0, 4.0, 5.0]
        );
        let mask = [bools(&[1.0, 0.0, 1.0, 0.0, 0.0, 0.0], &[2, 3])];
        assert_eq!(
            get(put(&mask, t(&[5.0, 6.0], &[2], ScalarType::Float32), false))[..3],
            [5.0, 1.0, 6.0]
        );
        assert_eq!(
            get(put(
                &[bools(&[1.0], &[])],
                t(&[5.0], &[], ScalarType::Float32),
                false
            )),
            vec![5.0; 6]
        );
        let y = put(
            &[Value::None, longs(&[1.0], &[1])],
            t(&[5.0, 6.0], &[2, 1], ScalarType::Float32),
            false,
        );
        assert_eq!(get(y), vec![0.0, 5.0, 2.0, 3.0, 6.0, 5.0]);
        // Messages from torch 2.15.0.
        let e = match put(&row, longs(&[1.0, 2.0, 3.0], &[3]), false) {
            Err(e) => e.to_string(),
            Ok(_) => panic!(),
        };
        assert!(e.ends_with("Index put requires the source and destination dtypes match, got Float for the destination and Long for the source."), "{e}");
        let e = match put(&row, t(&[7.0, 8.0], &[2], ScalarType::Float32), false) {
            Err(e) => e.to_string(),
            Ok(_) => panic!(),
        };
        assert!(e.ends_with("shape mismatch: value tensor of shape [2] cannot be broadcast to indexing result of shape [1, 3]"), "{e}");
        let flags = t(&[0.0, 1.0, 1.0, 1.0, 1.0, 1.0], &[2, 3], ScalarType::Bool);
        let args = [
            flags,
            list(&dup),
            bools(&[1.0, 1.0], &[2]),
            Value::Bool(true),
        ];
        let y = out("aten::index_put", &args);
        assert_eq!(
            (y.dtype(), values(&y)[..3].to_vec()),
            (ScalarType::Bool, vec![0.0, 1.0, 1.0])
        );
    }

    #[test]
    fn masked_select_broadcasts() {
        let x = arange(&[2, 3]);
        let y = out(
            "aten::masked_select",
            &[x.clone(), bools(&[1.0, 0.0, 1.0], &[3])],
        );
        assert_eq!(shaped(&y), (vec![4], vec![0.0, 2.0, 3.0, 5.0]));
        let y = out(
            "aten::masked_select",
            &[x.clone(), bools(&[1.0, 0.0], &[2, 1])],
        );
        assert_eq!(shaped(&y), (vec![3], vec![0.0, 1.0, 2.0]));
        assert!(fails(
            "aten::masked_select",
            &[x.clone(), longs(&[1.0, 0.0, 1.0], &[3])]
        )
        .ends_with("masked_select: expected BoolTensor for mask"));
        assert!(fails("aten::masked_select", &[x, bools(&[1.0, 0.0], &[2])])
            .ends_with("The size of tensor a (2) must match the size of tensor b (3) at non-singleton dimension 1"));
    }
}
