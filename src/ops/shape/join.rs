//! Joining and splitting: `cat` (and its names `concat`, `concatenate`), `stack`, `hstack`,
//! `vstack`, `repeat`, `repeat_interleave`, `chunk`, `split`, `split_with_sizes`, `unbind`.
//! Joins promote their inputs to one type as PyTorch does; lists of tensors are returned as
//! `Value::list`.

use super::{err, int_values, tensor_list, type_name, wrap_dim};
use crate::error::Result;
use crate::ops::creation::{from_i64s, zeros_of};
use crate::ops::dtype::ScalarType;
use crate::ops::registry::{Args, Builder, Ctx};
use crate::ops::tensor::Tensor;
use crate::ops::value::Value;

/// Registers the joins and splits. `repeat_interleave`'s overloads taking `self` come first:
/// the one taking only `repeats` would bind a second positional argument to `output_size`.
pub(super) fn register(b: &mut Builder) {
    b.add("aten::cat(Tensor[] tensors, int dim=0) -> Tensor", cat);
    b.add("aten::concat(Tensor[] tensors, int dim=0) -> Tensor", cat);
    b.add(
        "aten::concatenate(Tensor[] tensors, int dim=0) -> Tensor",
        cat,
    );
    b.add("aten::stack(Tensor[] tensors, int dim=0) -> Tensor", stack);
    b.add("aten::hstack(Tensor[] tensors) -> Tensor", hstack);
    b.add("aten::vstack(Tensor[] tensors) -> Tensor", vstack);
    b.add(
        "aten::repeat(Tensor self, SymInt[] repeats) -> Tensor",
        repeat,
    );
    b.add(
        "aten::repeat_interleave.self_Tensor(Tensor self, Tensor repeats, int? dim=None, *, \
         SymInt? output_size=None) -> Tensor",
        repeat_interleave_tensor,
    );
    b.add(
        "aten::repeat_interleave.self_int(Tensor self, SymInt repeats, int? dim=None, *, \
         SymInt? output_size=None) -> Tensor",
        repeat_interleave_int,
    );
    b.add(
        "aten::repeat_interleave.Tensor(Tensor repeats, *, SymInt? output_size=None) -> Tensor",
        repeat_interleave_indices,
    );
    b.add(
        "aten::chunk(Tensor(a -> *) self, int chunks, int dim=0) -> Tensor(a)[]",
        chunk,
    );
    b.add(
        "aten::split.Tensor(Tensor(a -> *) self, SymInt split_size, int dim=0) -> Tensor(a)[]",
        split,
    );
    b.add(
        "aten::split.sizes(Tensor(a -> *) self, SymInt[] split_size, int dim=0) -> Tensor(a)[]",
        split_sizes,
    );
    b.add(
        "aten::split(Tensor(a -> *) self, int[] split_sizes, int dim=0) -> Tensor(a)[]",
        split_sizes,
    );
    b.add(
        "aten::split_with_sizes(Tensor(a -> *) self, SymInt[] split_sizes, int dim=0) -> Tensor(a)[]",
        split_sizes,
    );
    b.add(
        "aten::unbind.int(Tensor(a -> *) self, int dim=0) -> Tensor(a)[]",
        unbind,
    );
}

/// The tensors converted to the type they promote to, refusing tensors on other devices.
fn promoted(tensors: &[Tensor]) -> Result<Vec<Tensor>> {
    let Some(first) = tensors.first() else {
        return Ok(Vec::new());
    };
    let dtype = tensors
        .iter()
        .fold(first.dtype(), |d, t| d.promote(t.dtype()));
    tensors
        .iter()
        .map(|t| {
            if !t.device().same_device(first.device()) {
                return Err(err(format!(
                    "Expected all tensors to be on the same device, but found at least two devices, \
                     {:?} and {:?}!",
                    first.device(),
                    t.device()
                )));
            }
            t.to_dtype(dtype)
        })
        .collect()
}

/// `torch.cat(tensors, dim)` with PyTorch's checks. 1-D empty tensors are skipped, as PyTorch
/// still allows for old code.
pub(in crate::ops) fn cat_tensors(
    cx: &Ctx,
    op: &str,
    tensors: &[Tensor],
    dim: i64,
) -> Result<Tensor> {
    if tensors.is_empty() {
        return Err(err("torch.cat(): expected a non-empty list of Tensors"));
    }
    let tensors = promoted(tensors)?;
    if let Some(i) = tensors.iter().position(|t| t.rank() == 0) {
        return Err(err(format!(
            "zero-dimensional tensor (at position {i}) cannot be concatenated"
        )));
    }
    let legacy = |t: &Tensor| t.dims() == [0];
    let Some(first) = tensors.iter().find(|t| !legacy(t)) else {
        return Ok(tensors[0].clone());
    };
    let d = wrap_dim(dim, first.rank())?;
    let mut dims = first.dims().to_vec();
    dims[d] = 0;
    for (i, t) in tensors.iter().enumerate().filter(|(_, t)| !legacy(t)) {
        if t.rank() != first.rank() {
            return Err(err(format!(
                "Tensors must have same number of dimensions: got {} and {}",
                first.rank(),
                t.rank()
            )));
        }
        for (axis, (&want, &got)) in first.dims().iter().zip(t.dims()).enumerate() {
            if axis != d && want != got {
                return Err(err(format!(
                    "Sizes of tensors must match except in dimension {d}. Expected size {want} but got \
                     size {got} for tensor number {i} in the list."
                )));
            }
        }
        dims[d] = dims[d]
            .checked_add(t.dims()[d])
            .ok_or_else(|| err("cat: size overflow"))?;
    }
    cx.check(op, &dims)?;
    let parts: Vec<&candle_core::Tensor> = tensors
        .iter()
        .filter(|t| !legacy(t))
        .map(Tensor::inner)
        .collect();
    Tensor::with_type(candle_core::Tensor::cat(&parts, d)?, first.dtype())
}

fn cat(cx: &Ctx, args: &Args) -> Result<Value> {
    Ok(Value::Tensor(cat_tensors(
        cx,
        "aten::cat",
        &args.tensors(0)?,
        args.int(1)?,
    )?))
}

fn stack(cx: &Ctx, args: &Args) -> Result<Value> {
    let tensors = args.tensors(0)?;
    let Some(first) = tensors.first() else {
        return Err(err("stack expects a non-empty TensorList"));
    };
    if let Some((i, t)) = tensors
        .iter()
        .enumerate()
        .find(|(_, t)| t.dims() != first.dims())
    {
        return Err(err(format!(
            "stack expects each tensor to be equal size, but got {:?} at entry 0 and {:?} at entry {i}",
            first.dims(),
            t.dims()
        )));
    }
    let d = wrap_dim(args.int(1)?, first.rank() + 1)?;
    let parts = tensors
        .iter()
        .map(|t| Tensor::with_type(t.inner().unsqueeze(d)?, t.dtype()))
        .collect::<Result<Vec<_>>>()?;
    Ok(Value::Tensor(cat_tensors(
        cx,
        "aten::stack",
        &parts,
        d as i64,
    )?))
}

/// `t` with leading dims of size 1 added up to `rank` dims.
fn at_least(t: &Tensor, rank: usize) -> Result<Tensor> {
    if t.rank() >= rank {
        return Ok(t.clone());
    }
    let mut dims = vec![1; rank - t.rank()];
    dims.extend_from_slice(t.dims());
    Tensor::with_type(t.inner().reshape(dims)?, t.dtype())
}

fn hstack(cx: &Ctx, args: &Args) -> Result<Value> {
    let tensors = args.tensors(0)?;
    if tensors.is_empty() {
        return Err(err("hstack expects a non-empty TensorList"));
    }
    let parts = tensors
        .iter()
        .map(|t| at_least(t, 1))
        .collect::<Result<Vec<_>>>()?;
    let dim = if parts[0].rank() == 1 { 0 } else { 1 };
    Ok(Value::Tensor(cat_tensors(cx, "aten::hstack", &parts, dim)?))
}

fn vstack(cx: &Ctx, args: &Args) -> Result<Value> {
    let tensors = args.tensors(0)?;
    if tensors.is_empty() {
        return Err(err("vstack expects a non-empty TensorList"));
    }
    let parts = tensors
        .iter()
        .map(|t| at_least(t, 2))
        .collect::<Result<Vec<_>>>()?;
    Ok(Value::Tensor(cat_tensors(cx, "aten::vstack", &parts, 0)?))
}

fn repeat(cx: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let repeats = args.ints(1)?;
    if repeats.len() < t.rank() {
        return Err(err(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor",
        ));
    }
    let x = at_least(t, repeats.len())?;
    let sizes: Vec<i128> = x
        .dims()
        .iter()
        .zip(&repeats)
        .map(|(&d, &r)| d as i128 * i128::from(r))
        .collect();
    let mut dims = Vec::with_capacity(sizes.len());
    for &s in &sizes {
        let d = usize::try_from(s).map_err(|_| {
            err(format!(
                "Trying to create tensor with negative dimension {s}: {sizes:?}"
            ))
        })?;
        dims.push(d);
    }
    cx.check("aten::repeat", &dims)?;
    if dims.contains(&0) {
        return Ok(Value::Tensor(zeros_of(&dims, t.dtype(), t.device())?));
    }
    let counts: Vec<usize> = repeats.iter().map(|&r| r as usize).collect();
    Ok(Value::Tensor(Tensor::with_type(
        x.inner().repeat(counts)?,
        t.dtype(),
    )?))
}

/// `t` with element `i` along `dim` (all of `t` flattened when `dim` is `None`) repeated
/// `counts[i]` times.
fn interleave(
    cx: &Ctx,
    t: &Tensor,
    counts: &[usize],
    dim: Option<i64>,
    output_size: Option<i64>,
) -> Result<Value> {
    let (x, d) = match dim {
        None => (Tensor::with_type(t.inner().flatten_all()?, t.dtype())?, 0),
        Some(d) => (t.clone(), wrap_dim(d, t.rank())?),
    };
    let x = at_least(&x, 1)?;
    let total = counts
        .iter()
        .try_fold(0usize, |a, &c| a.checked_add(c))
        .ok_or_else(|| err("repeats overflow"))?;
    if let Some(n) = output_size {
        if n != total as i64 {
            return Err(err(format!(
                "allocated size does not match required size: {n} and {total}"
            )));
        }
    }
    let mut dims = x.dims().to_vec();
    dims[d] = total;
    cx.check("aten::repeat_interleave", &dims)?;
    if total == 0 || dims.contains(&0) {
        return Ok(Value::Tensor(zeros_of(&dims, t.dtype(), t.device())?));
    }
    let ids: Vec<i64> = counts
        .iter()
        .enumerate()
        .flat_map(|(i, &c)| std::iter::repeat_n(i as i64, c))
        .collect();
    let ids = candle_core::Tensor::from_vec(ids, total, t.device())?;
    let out = x.inner().contiguous()?.index_select(&ids, d)?;
    Ok(Value::Tensor(Tensor::with_type(out, t.dtype())?))
}

fn repeat_interleave_int(cx: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let r = args.int(1)?;
    let r = usize::try_from(r).map_err(|_| err("Repeats must be non-negative"))?;
    let dim = args.opt_int(2)?;
    let n = match dim {
        None => t.elem_count(),
        Some(d) => t.dims().get(wrap_dim(d, t.rank())?).copied().unwrap_or(1),
    };
    interleave(cx, t, &vec![r; n], dim, args.opt_int(3)?)
}

/// The counts of a `repeats` tensor: integers, not negative, 0-dim or 1-D.
fn repeat_counts(repeats: &Tensor) -> Result<Vec<usize>> {
    if repeats.rank() > 1 {
        return Err(err("repeats must be 0-dim or 1-dim tensor"));
    }
    if !repeats.dtype().is_integer() {
        return Err(err(format!(
            "\"repeat_interleave_cpu\" not implemented for '{}'",
            type_name(repeats.dtype())
        )));
    }
    int_values(repeats)?
        .into_iter()
        .map(|r| usize::try_from(r).map_err(|_| err("repeats can not be negative")))
        .collect()
}

fn repeat_interleave_tensor(cx: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let mut counts = repeat_counts(args.tensor(1)?)?;
    let dim = args.opt_int(2)?;
    let n = match dim {
        None => t.elem_count(),
        Some(d) => t.dims().get(wrap_dim(d, t.rank())?).copied().unwrap_or(1),
    };
    if counts.len() == 1 {
        counts = vec![counts[0]; n];
    } else if counts.len() != n {
        return Err(err(format!(
            "repeats must have the same size as input along dim, but got repeats.size(0) = {} and \
             input.size(0) = {n}",
            counts.len()
        )));
    }
    interleave(cx, t, &counts, dim, args.opt_int(3)?)
}

/// `torch.repeat_interleave(repeats)`: each index `i` repeated `repeats[i]` times (int64).
fn repeat_interleave_indices(cx: &Ctx, args: &Args) -> Result<Value> {
    let repeats = args.tensor(0)?;
    if repeats.rank() != 1 {
        return Err(err("repeat_interleave only accept 1D vector as repeat"));
    }
    let counts = repeat_counts(repeats)?;
    let n = counts.len() as i64;
    let index = from_i64s(
        (0..n).collect(),
        &[counts.len()],
        ScalarType::Int64,
        repeats.device(),
    )?;
    interleave(cx, &index, &counts, Some(0), args.opt_int(1)?)
}

/// `t` cut along `dim` into pieces of `sizes` (which sum to its size there).
fn pieces(t: &Tensor, dim: usize, sizes: &[usize]) -> Result<Value> {
    let mut start = 0;
    let mut out = Vec::with_capacity(sizes.len());
    for &len in sizes {
        out.push(Tensor::with_type(
            t.inner().narrow(dim, start, len)?,
            t.dtype(),
        )?);
        start += len;
    }
    Ok(tensor_list(out))
}

/// The dim a split cuts, refusing 0-dim tensors as PyTorch does.
fn split_dim(t: &Tensor, dim: i64) -> Result<usize> {
    if t.rank() == 0 {
        return Err(err("split expects at least a 1-dimensional tensor"));
    }
    wrap_dim(dim, t.rank())
}

/// The sizes `split(split_size)` cuts `size` into: full pieces, the last one shorter.
fn split_lengths(size: usize, split_size: i64) -> Result<Vec<usize>> {
    let s = usize::try_from(split_size).map_err(|_| {
        err(format!(
            "split expects split_size be non-negative, but got split_size={split_size}"
        ))
    })?;
    if s == 0 {
        if size != 0 {
            return Err(err(format!(
                "split_size can only be 0 if dimension size is 0, but got dimension size of {size}"
            )));
        }
        return Ok(vec![0]);
    }
    let n = size.div_ceil(s).max(1);
    Ok((0..n).map(|i| s.min(size - (i * s).min(size))).collect())
}

fn split(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let d = split_dim(t, args.int(2)?)?;
    pieces(t, d, &split_lengths(t.dims()[d], args.int(1)?)?)
}

fn split_sizes(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let d = split_dim(t, args.int(2)?)?;
    let given = args.ints(1)?;
    let sizes: Option<Vec<usize>> = given.iter().map(|&s| usize::try_from(s).ok()).collect();
    let Some(sizes) = sizes else {
        return Err(err(format!(
            "split_with_sizes expects split_sizes have only non-negative entries, but got \
             split_sizes={given:?}"
        )));
    };
    let size = t.dims()[d];
    if sizes.iter().try_fold(0usize, |a, &s| a.checked_add(s)) != Some(size) {
        return Err(err(format!(
            "split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's size at \
             dimension {d}), but got split_sizes={given:?}"
        )));
    }
    pieces(t, d, &sizes)
}

fn chunk(cx: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let chunks = args.int(1)?;
    if chunks <= 0 {
        return Err(err(format!(
            "chunk expects `chunks` to be greater than 0, got: {chunks}"
        )));
    }
    let d = split_dim(t, args.int(2)?)?;
    let size = t.dims()[d];
    let chunks = usize::try_from(chunks).unwrap_or(usize::MAX);
    let split_size = size.div_ceil(chunks);
    if split_size == 0 && size == 0 {
        // As many empty pieces as asked for: a list bounded by the limits too.
        cx.check("aten::chunk", &[chunks])?;
        return pieces(t, d, &vec![0; chunks]);
    }
    pieces(t, d, &split_lengths(size, split_size as i64)?)
}

fn unbind(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let dim = args.int(1)?;
    if t.rank() == 0 {
        return Err(err(format!(
            "Dimension specified as {dim} but tensor has no dimensions"
        )));
    }
    let d = wrap_dim(dim, t.rank())?;
    let out = (0..t.dims()[d])
        .map(|i| Tensor::with_type(t.inner().narrow(d, i, 1)?.squeeze(d)?, t.dtype()))
        .collect::<Result<Vec<_>>>()?;
    Ok(tensor_list(out))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{arange, fails, ints, out, outs, shaped, t};
    use crate::ops::dtype::ScalarType;
    use crate::ops::value::Value;

    fn list(items: &[Value]) -> Value {
        Value::list(items.to_vec())
    }

    #[test]
    fn cat_promotes_skips_legacy_empties_and_checks_shapes() {
        let x = arange(&[2, 3]);
        let ones = t(&[1.0, 1.0], &[2, 1], ScalarType::Int64);
        let y = out(
            "aten::cat",
            &[list(&[x.clone(), ones.clone()]), Value::Int(-1)],
        );
        assert_eq!(y.dtype(), ScalarType::Float32);
        assert_eq!(
            shaped(&y),
            (vec![2, 4], vec![0.0, 1.0, 2.0, 1.0, 3.0, 4.0, 5.0, 1.0])
        );
        let int32 = t(&[1.0, 2.0], &[2, 1], ScalarType::Int32);
        let flags = t(&[1.0, 0.0], &[2, 1], ScalarType::Bool);
        assert_eq!(
            out("aten::cat", &[list(&[int32, flags]), Value::Int(1)]).dtype(),
            ScalarType::Int32
        );
        let empty = t(&[], &[0], ScalarType::Float32);
        assert_eq!(
            out("aten::cat", &[list(&[x.clone(), empty.clone()])]).dims(),
            &[2, 3]
        );
        assert_eq!(
            out("aten::concat", &[list(&[empty.clone(), empty])]).dims(),
            &[0]
        );
        // Messages from torch 2.15.0.
        assert!(fails("aten::cat", &[list(&[])])
            .ends_with("torch.cat(): expected a non-empty list of Tensors"));
        assert!(fails("aten::cat", &[list(&[x.clone(), arange(&[3, 2])]), Value::Int(1)]).ends_with(
            "Sizes of tensors must match except in dimension 1. Expected size 2 but got size 3 for tensor number 1 in the list."
        ));
        assert!(fails(
            "aten::cat",
            &[list(&[x.clone(), arange(&[2, 2, 2])]), Value::Int(1)]
        )
        .ends_with("Tensors must have same number of dimensions: got 2 and 3"));
        assert!(fails("aten::cat", &[list(&[arange(&[]), arange(&[])])])
            .ends_with("zero-dimensional tensor (at position 0) cannot be concatenated"));
        let big = arange(&[20, 30]);
        assert!(fails("aten::cat", &[list(&[big.clone(), big])]).contains("max_elements"));
    }

    #[test]
    fn stack_hstack_vstack() {
        let x = arange(&[2, 3]);
        let y = out(
            "aten::stack",
            &[list(&[x.clone(), x.clone()]), Value::Int(-1)],
        );
        assert_eq!(y.dims(), &[2, 3, 2]);
        let y = out(
            "aten::stack",
            &[list(&[
                t(&[1.0], &[1], ScalarType::Int32),
                t(&[2.5], &[1], ScalarType::Float64),
            ])],
        );
        assert_eq!(
            (y.dtype(), shaped(&y)),
            (ScalarType::Float64, (vec![2, 1], vec![1.0, 2.5]))
        );
        assert!(fails("aten::stack", &[list(&[x.clone(), arange(&[3, 2])])]).ends_with(
            "stack expects each tensor to be equal size, but got [2, 3] at entry 0 and [3, 2] at entry 1"
        ));
        assert!(
            fails("aten::stack", &[list(&[])]).ends_with("stack expects a non-empty TensorList")
        );
        assert!(fails(
            "aten::stack",
            &[list(&[x.clone(), x.clone()]), Value::Int(3)]
        )
        .ends_with("Dimension out of range (expected to be in range of [-3, 2], but got 3)"));
        // torch.hstack([torch.tensor(1.), torch.ones(2)]) -> [1., 1., 1.].
        let y = out(
            "aten::hstack",
            &[list(&[
                t(&[1.0], &[], ScalarType::Float32),
                t(&[1.0, 1.0], &[2], ScalarType::Float32),
            ])],
        );
        assert_eq!(y.dims(), &[3]);
        assert_eq!(
            out("aten::hstack", &[list(&[x.clone(), x.clone()])]).dims(),
            &[2, 6]
        );
        let y = out(
            "aten::vstack",
            &[list(&[
                t(&[1.0], &[], ScalarType::Float32),
                t(&[2.0], &[], ScalarType::Float32),
            ])],
        );
        assert_eq!(shaped(&y), (vec![2, 1], vec![1.0, 2.0]));
    }

    #[test]
    fn repeat_and_repeat_interleave() {
        let x = arange(&[2, 1]);
        let y = out("aten::repeat", &[x.clone(), ints(&[2, 3])]);
        assert_eq!(
            shaped(&y),
            (
                vec![4, 3],
                vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
            )
        );
        assert_eq!(
            out("aten::repeat", &[x.clone(), ints(&[2, 0, 3])]).dims(),
            &[2, 0, 3]
        );
        assert!(fails("aten::repeat", &[x.clone(), ints(&[2])])
            .ends_with("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor"));
        assert!(fails("aten::repeat", &[x.clone(), ints(&[2, -1])])
            .ends_with("Trying to create tensor with negative dimension -1: [4, -1]"));
        assert!(
            fails("aten::repeat", &[x.clone(), ints(&[1 << 40, 1 << 40])]).contains("max_elements")
        );
        let x = arange(&[2, 3]);
        let y = out("aten::repeat_interleave", &[x.clone(), Value::Int(2)]);
        assert_eq!(
            shaped(&y),
            (
                vec![12],
                vec![0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 5.0, 5.0]
            )
        );
        let y = out(
            "aten::repeat_interleave",
            &[x.clone(), Value::Int(2), Value::Int(1)],
        );
        assert_eq!(shaped(&y).1[..6], [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]);
        let reps = t(&[1.0, 2.0], &[2], ScalarType::Int64);
        let y = out("aten::repeat_interleave", &[x.clone(), reps, Value::Int(0)]);
        assert_eq!(
            shaped(&y),
            (
                vec![3, 3],
                vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 3.0, 4.0, 5.0]
            )
        );
        // torch.repeat_interleave(torch.tensor([1, 0, 2])) -> [0, 2, 2].
        let y = out(
            "aten::repeat_interleave",
            &[t(&[1.0, 0.0, 2.0], &[3], ScalarType::Int64)],
        );
        assert_eq!(
            (y.dtype(), shaped(&y).1),
            (ScalarType::Int64, vec![0.0, 2.0, 2.0])
        );
        // Messages from torch 2.15.0.
        assert!(
            fails("aten::repeat_interleave", &[x.clone(), Value::Int(-1)])
                .ends_with("Repeats must be non-negative")
        );
        let three = t(&[1.0, 2.0, 3.0], &[3], ScalarType::Int64);
        assert!(fails("aten::repeat_interleave", &[x.clone(), three, Value::Int(0)]).ends_with(
            "repeats must have the same size as input along dim, but got repeats.size(0) = 3 and input.size(0) = 2"
        ));
        let negative = t(&[1.0, -2.0], &[2], ScalarType::Int64);
        assert!(fails(
            "aten::repeat_interleave",
            &[x.clone(), negative, Value::Int(0)]
        )
        .ends_with("repeats can not be negative"));
        let floats = t(&[1.0, 2.0], &[2], ScalarType::Float32);
        assert!(fails(
            "aten::repeat_interleave",
            &[x.clone(), floats, Value::Int(0)]
        )
        .ends_with("\"repeat_interleave_cpu\" not implemented for 'Float'"));
        assert!(fails("aten::repeat_interleave", &[x, Value::Int(1000)]).contains("max_elements"));
    }

    #[test]
    fn chunk_split_unbind() {
        let x = arange(&[2, 3]);
        let parts = outs("aten::chunk", &[x.clone(), Value::Int(4), Value::Int(1)]);
        assert_eq!(
            parts.iter().map(|p| p.dims().to_vec()).collect::<Vec<_>>(),
            vec![vec![2, 1]; 3]
        );
        let parts = outs("aten::chunk", &[arange(&[5]), Value::Int(3)]);
        assert_eq!(
            parts.iter().map(|p| p.dims()[0]).collect::<Vec<_>>(),
            vec![2, 2, 1]
        );
        let parts = outs("aten::chunk", &[arange(&[6]), Value::Int(4)]);
        assert_eq!(
            parts.iter().map(|p| p.dims()[0]).collect::<Vec<_>>(),
            vec![2, 2, 2]
        );
        assert_eq!(outs("aten::chunk", &[arange(&[0]), Value::Int(2)]).len(), 2);
        assert!(fails("aten::chunk", &[x.clone(), Value::Int(0)])
            .ends_with("chunk expects `chunks` to be greater than 0, got: 0"));
        let parts = outs("aten::split", &[x.clone(), Value::Int(2), Value::Int(1)]);
        assert_eq!(shaped(&parts[1]), (vec![2, 1], vec![2.0, 5.0]));
        let parts = outs("aten::split", &[x.clone(), ints(&[1, 2]), Value::Int(1)]);
        assert_eq!(shaped(&parts[0]), (vec![2, 1], vec![0.0, 3.0]));
        let parts = outs(
            "aten::split_with_sizes",
            &[x.clone(), ints(&[1, 1]), Value::Int(0)],
        );
        assert_eq!(parts.len(), 2);
        assert_eq!(outs("aten::split", &[arange(&[0]), Value::Int(0)]).len(), 1);
        // Messages from torch 2.15.0.
        assert!(
            fails("aten::split", &[x.clone(), Value::Int(0), Value::Int(1)]).ends_with(
                "split_size can only be 0 if dimension size is 0, but got dimension size of 3"
            )
        );
        assert!(
            fails("aten::split", &[x.clone(), Value::Int(-1), Value::Int(1)])
                .ends_with("split expects split_size be non-negative, but got split_size=-1")
        );
        assert!(fails("aten::split", &[x.clone(), ints(&[1, 1]), Value::Int(1)]).ends_with(
            "split_with_sizes expects split_sizes to sum exactly to 3 (input tensor's size at dimension 1), but got split_sizes=[1, 1]"
        ));
        assert!(fails("aten::split", &[x.clone(), ints(&[1, -1, 3]), Value::Int(1)]).ends_with(
            "split_with_sizes expects split_sizes have only non-negative entries, but got split_sizes=[1, -1, 3]"
        ));
        assert!(fails("aten::split", &[arange(&[]), Value::Int(1)])
            .ends_with("split expects at least a 1-dimensional tensor"));
        let rows = outs("aten::unbind", &[x.clone(), Value::Int(-1)]);
        assert_eq!(
            rows.iter().map(shaped).collect::<Vec<_>>()[2],
            (vec![2], vec![2.0, 5.0])
        );
        assert!(fails("aten::unbind", &[arange(&[])])
            .ends_with("Dimension specified as 0 but tensor has no dimensions"));
    }
}
