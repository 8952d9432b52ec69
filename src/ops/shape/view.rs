//! Views: `view` and `reshape` (one `-1` inferred), `flatten`, `unflatten`, `transpose`, `t`,
//! `permute`, `movedim`, `unsqueeze`, `squeeze` and `expand`. A view here is a new tensor
//! (candle copies where its layout needs it); `view` accepts every shape `reshape` does,
//! which only differs from PyTorch for code that PyTorch itself refuses.

use super::{err, wrap_dim};
use crate::error::Result;
use crate::ops::dtype::ScalarType;
use crate::ops::registry::{Args, Builder, Ctx};
use crate::ops::tensor::Tensor;
use crate::ops::value::Value;

/// Registers the views.
pub(super) fn register(b: &mut Builder) {
    b.add(
        "aten::view(Tensor(a) self, SymInt[] size) -> Tensor(a)",
        view,
    );
    b.add(
        "aten::reshape(Tensor(a) self, SymInt[] shape) -> Tensor(a)",
        view,
    );
    b.add(
        "aten::view_as(Tensor(a) self, Tensor other) -> Tensor(a)",
        view_as,
    );
    b.add(
        "aten::reshape_as(Tensor(a) self, Tensor other) -> Tensor(a)",
        view_as,
    );
    b.add(
        "aten::flatten.using_ints(Tensor(a) self, int start_dim=0, int end_dim=-1) -> Tensor(a)",
        flatten,
    );
    b.add(
        "aten::unflatten.int(Tensor(a) self, int dim, SymInt[] sizes) -> Tensor(a)",
        unflatten,
    );
    b.add(
        "aten::transpose.int(Tensor(a) self, int dim0, int dim1) -> Tensor(a)",
        transpose,
    );
    b.add(
        "aten::swapaxes(Tensor(a) self, int axis0, int axis1) -> Tensor(a)",
        transpose,
    );
    b.add(
        "aten::swapdims(Tensor(a) self, int dim0, int dim1) -> Tensor(a)",
        transpose,
    );
    b.add("aten::t(Tensor(a) self) -> Tensor(a)", t);
    b.add(
        "aten::permute(Tensor(a) self, int[] dims) -> Tensor(a)",
        permute,
    );
    b.add(
        "aten::movedim.intlist(Tensor(a) self, int[] source, int[] destination) -> Tensor(a)",
        movedim,
    );
    b.add(
        "aten::movedim.int(Tensor(a) self, int source, int destination) -> Tensor(a)",
        movedim,
    );
    b.add(
        "aten::unsqueeze(Tensor(a) self, int dim) -> Tensor(a)",
        unsqueeze,
    );
    b.add("aten::squeeze(Tensor(a) self) -> Tensor(a)", squeeze_all);
    b.add(
        "aten::squeeze.dim(Tensor(a) self, int dim) -> Tensor(a)",
        squeeze_dims,
    );
    b.add(
        "aten::squeeze.dims(Tensor(a) self, int[] dim) -> Tensor(a)",
        squeeze_dims,
    );
    b.add(
        "aten::expand(Tensor(a) self, SymInt[] size, *, bool implicit=False) -> Tensor(a)",
        expand,
    );
    b.add(
        "aten::expand_as(Tensor(a) self, Tensor other) -> Tensor(a)",
        expand_as,
    );
}

/// `t` reshaped to `dims` (of its element count).
pub(in crate::ops) fn reshaped(t: &Tensor, dims: &[usize]) -> Result<Tensor> {
    Tensor::with_type(t.inner().reshape(dims)?, t.dtype())
}

/// The dims `shape` gives `numel` elements, its one `-1` inferred, with PyTorch's messages.
pub(in crate::ops) fn infer_size(shape: &[i64], numel: usize) -> Result<Vec<usize>> {
    let invalid = || {
        err(format!(
            "shape '{shape:?}' is invalid for input of size {numel}"
        ))
    };
    let mut inferred = None;
    let mut product = 1usize;
    let mut dims = Vec::with_capacity(shape.len());
    for (i, &d) in shape.iter().enumerate() {
        if d == -1 {
            if inferred.is_some() {
                return Err(err("only one dimension can be inferred"));
            }
            inferred = Some(i);
            dims.push(0);
        } else if d < 0 {
            return Err(err(format!(
                "invalid shape dimension {d} at index {i} of shape {shape:?}"
            )));
        } else {
            let d = usize::try_from(d).map_err(|_| invalid())?;
            product = product.checked_mul(d).ok_or_else(invalid)?;
            dims.push(d);
        }
    }
    match inferred {
        Some(i) => {
            if product == 0 {
                if numel == 0 {
                    return Err(err(format!(
                        "cannot reshape tensor of 0 elements into shape {shape:?} because the \
                         unspecified dimension size -1 can be any value and is ambiguous"
                    )));
                }
                return Err(invalid());
            }
            if !numel.is_multiple_of(product) {
                return Err(invalid());
            }
            dims[i] = numel / product;
        }
        None if product != numel => return Err(invalid()),
        None => {}
    }
    Ok(dims)
}

fn view(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let dims = infer_size(&args.ints(1)?, t.elem_count())?;
    Ok(Value::Tensor(reshaped(t, &dims)?))
}

fn view_as(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let shape: Vec<i64> = args.tensor(1)?.dims().iter().map(|&d| d as i64).collect();
    let dims = infer_size(&shape, t.elem_count())?;
    Ok(Value::Tensor(reshaped(t, &dims)?))
}

fn flatten(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let start = wrap_dim(args.int(1)?, t.rank())?;
    let end = wrap_dim(args.int(2)?, t.rank())?;
    if start > end {
        return Err(err(
            "flatten() has invalid args: start_dim cannot come after end_dim",
        ));
    }
    if t.rank() == 0 {
        return Ok(Value::Tensor(reshaped(t, &[1])?));
    }
    let d = t.dims();
    let middle: usize = d[start..=end].iter().product();
    let dims: Vec<usize> = d[..start]
        .iter()
        .copied()
        .chain([middle])
        .chain(d[end + 1..].iter().copied())
        .collect();
    Ok(Value::Tensor(reshaped(t, &dims)?))
}

fn unflatten(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let dim = wrap_dim(args.int(1)?, t.rank())?;
    let sizes = args.ints(2)?;
    if sizes.is_empty() {
        return Err(err("unflatten: sizes must be non-empty"));
    }
    let size = t.dims().get(dim).copied().unwrap_or(1);
    let inner = infer_size(&sizes, size).map_err(|e| match sizes.iter().filter(|&&s| s == -1).count() {
        n if n > 1 => e,
        _ => err(format!(
            "unflatten: Provided sizes {sizes:?} don't multiply up to the size of dim {dim} ({size}) \
             in the input tensor"
        )),
    })?;
    let d = t.dims();
    let dims: Vec<usize> = d[..dim]
        .iter()
        .chain(&inner)
        .chain(d.get(dim + 1..).unwrap_or(&[]))
        .copied()
        .collect();
    Ok(Value::Tensor(reshaped(t, &dims)?))
}

fn transpose(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let a = wrap_dim(args.int(1)?, t.rank())?;
    let b = wrap_dim(args.int(2)?, t.rank())?;
    if t.rank() < 2 || a == b {
        return Ok(Value::Tensor(t.clone()));
    }
    Ok(Value::Tensor(Tensor::with_type(
        t.inner().transpose(a, b)?,
        t.dtype(),
    )?))
}

fn t(_: &Ctx, args: &Args) -> Result<Value> {
    let x = args.tensor(0)?;
    match x.rank() {
        0 | 1 => Ok(Value::Tensor(x.clone())),
        2 => Ok(Value::Tensor(Tensor::with_type(x.inner().t()?, x.dtype())?)),
        r => Err(err(format!(
            "t() expects a tensor with <= 2 dimensions, but self is {r}D"
        ))),
    }
}

/// `t` with its dims in the order `order` (a permutation of its dims).
fn permuted(t: &Tensor, order: &[usize]) -> Result<Tensor> {
    if order.iter().enumerate().all(|(i, &d)| i == d) {
        return Ok(t.clone());
    }
    Tensor::with_type(t.inner().permute(order)?, t.dtype())
}

fn permute(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let dims = args.ints(1)?;
    if dims.len() != t.rank() {
        return Err(err(format!(
            "permute(sparse_coo): number of dimensions in the tensor input does not match the length \
             of the desired ordering of dimensions i.e. input.dim() = {} is not equal to len(dims) = {}",
            t.rank(),
            dims.len()
        )));
    }
    let order = dims
        .iter()
        .map(|&d| wrap_dim(d, t.rank()))
        .collect::<Result<Vec<_>>>()?;
    if has_duplicates(&order) {
        return Err(err("permute(): duplicate dims are not allowed."));
    }
    Ok(Value::Tensor(permuted(t, &order)?))
}

fn has_duplicates(dims: &[usize]) -> bool {
    dims.iter().enumerate().any(|(i, d)| dims[..i].contains(d))
}

/// The dims of an `int` or `int[]` argument.
fn int_or_ints(args: &Args, i: usize) -> Result<Vec<i64>> {
    match args.value(i) {
        Value::Int(n) => Ok(vec![*n]),
        _ => args.ints(i),
    }
}

fn movedim(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let (source, destination) = (int_or_ints(args, 1)?, int_or_ints(args, 2)?);
    if source.len() != destination.len() {
        return Err(err(format!(
            "movedim: Invalid source or destination dims: source ({source:?} dims) should contain the \
             same number of dims as destination ({destination:?} dims)"
        )));
    }
    let rank = t.rank();
    let src = source
        .iter()
        .map(|&d| wrap_dim(d, rank))
        .collect::<Result<Vec<_>>>()?;
    let dst = destination
        .iter()
        .map(|&d| wrap_dim(d, rank))
        .collect::<Result<Vec<_>>>()?;
    for (name, dims, given) in [
        ("source", &src, &source),
        ("destination", &dst, &destination),
    ] {
        if has_duplicates(dims) {
            return Err(err(format!(
                "movedim: repeated dim in `{name}` ({given:?})"
            )));
        }
    }
    if rank == 0 {
        return Ok(Value::Tensor(t.clone()));
    }
    // The moved dims go to their destinations; the others fill the rest in order.
    let mut order = vec![usize::MAX; rank];
    for (&s, &d) in src.iter().zip(&dst) {
        order[d] = s;
    }
    let mut rest = (0..rank).filter(|d| !src.contains(d));
    for slot in order.iter_mut().filter(|s| **s == usize::MAX) {
        *slot = rest.next().unwrap_or(0);
    }
    Ok(Value::Tensor(permuted(t, &order)?))
}

fn unsqueeze(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let dim = wrap_dim(args.int(1)?, t.rank() + 1)?;
    Ok(Value::Tensor(Tensor::with_type(
        t.inner().unsqueeze(dim)?,
        t.dtype(),
    )?))
}

/// `t` without the dims `drop` of size 1 (other dims named are kept, as PyTorch keeps them).
fn squeezed(t: &Tensor, drop: &[usize]) -> Result<Tensor> {
    let dims: Vec<usize> = t
        .dims()
        .iter()
        .enumerate()
        .filter(|&(i, &d)| !(d == 1 && drop.contains(&i)))
        .map(|(_, &d)| d)
        .collect();
    reshaped(t, &dims)
}

fn squeeze_all(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let all: Vec<usize> = (0..t.rank()).collect();
    Ok(Value::Tensor(squeezed(t, &all)?))
}

fn squeeze_dims(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let dims = int_or_ints(args, 1)?;
    let dims = dims
        .iter()
        .map(|&d| wrap_dim(d, t.rank()))
        .collect::<Result<Vec<_>>>()?;
    Ok(Value::Tensor(squeezed(t, &dims)?))
}

/// PyTorch's legacy name for a CPU tensor of `dtype`, as `expand`'s message says it.
fn legacy_name(dtype: ScalarType) -> &'static str {
    match dtype {
        ScalarType::UInt8 => "torch.ByteTensor",
        ScalarType::Int16 => "torch.ShortTensor",
        ScalarType::Int32 => "torch.IntTensor",
        ScalarType::Int64 => "torch.LongTensor",
        ScalarType::Float16 => "torch.HalfTensor",
        ScalarType::Float32 => "torch.FloatTensor",
        ScalarType::Float64 => "torch.DoubleTensor",
        ScalarType::Bool => "torch.BoolTensor",
        ScalarType::BFloat16 => "torch.BFloat16Tensor",
    }
}

/// The shape `expand(size)` gives `t`: `-1` keeps a dim, a dim of size 1 takes any size, new
/// leading dims are added; PyTorch's messages otherwise.
pub(in crate::ops) fn expanded_dims(t: &Tensor, size: &[i64]) -> Result<Vec<usize>> {
    let (n, rank) = (size.len(), t.rank());
    if n < rank {
        return Err(err(format!(
            "expand({}{{{:?}}}, size={size:?}): the number of sizes provided ({n}) must be greater or \
             equal to the number of dimensions in the tensor ({rank})",
            legacy_name(t.dtype()),
            t.dims()
        )));
    }
    let lead = n - rank;
    let mut dims = Vec::with_capacity(n);
    for (i, &s) in size.iter().enumerate() {
        let d = if i < lead {
            if s == -1 {
                return Err(err(format!(
                    "The expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension {i}"
                )));
            }
            s
        } else {
            let cur = t.dims()[i - lead];
            if s == -1 {
                cur as i64
            } else if cur != 1 && s != cur as i64 {
                return Err(err(format!(
                    "The expanded size of the tensor ({s}) must match the existing size ({cur}) at \
                     non-singleton dimension {i}.  Target sizes: {size:?}.  Tensor sizes: {:?}",
                    t.dims()
                )));
            } else {
                s
            }
        };
        let d = usize::try_from(d).map_err(|_| {
            err(format!(
                "Trying to create tensor with negative dimension {d}: {size:?}"
            ))
        })?;
        dims.push(d);
    }
    Ok(dims)
}

/// `t` expanded to `dims` (from [`expanded_dims`]), checked against the limits.
fn expand_to(cx: &Ctx, t: &Tensor, dims: &[usize]) -> Result<Value> {
    cx.check("aten::expand", dims)?;
    if dims == t.dims() {
        return Ok(Value::Tensor(t.clone()));
    }
    Ok(Value::Tensor(Tensor::with_type(
        t.inner().broadcast_as(dims)?,
        t.dtype(),
    )?))
}

fn expand(cx: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let dims = expanded_dims(t, &args.ints(1)?)?;
    expand_to(cx, t, &dims)
}

fn expand_as(cx: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let size: Vec<i64> = args.tensor(1)?.dims().iter().map(|&d| d as i64).collect();
    let dims = expanded_dims(t, &size)?;
    expand_to(cx, t, &dims)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{arange, fails, ints, out, shaped, values};
    use crate::ops::value::Value;

    #[test]
    fn view_and_reshape_infer_one_dim() {
        let x = arange(&[2, 3]);
        assert_eq!(
            out("aten::view", &[x.clone(), ints(&[3, -1])]).dims(),
            &[3, 2]
        );
        assert_eq!(out("aten::reshape", &[x.clone(), ints(&[-1])]).dims(), &[6]);
        assert_eq!(
            out("aten::reshape", &[x.clone(), ints(&[1, 6, 1])]).dims(),
            &[1, 6, 1]
        );
        // Messages from torch 2.15.0.
        assert!(fails("aten::view", &[x.clone(), ints(&[-1, -1])])
            .ends_with("only one dimension can be inferred"));
        assert!(fails("aten::view", &[x.clone(), ints(&[4, -1])])
            .ends_with("shape '[4, -1]' is invalid for input of size 6"));
        assert!(fails("aten::view", &[x.clone(), ints(&[-2, 3])])
            .ends_with("invalid shape dimension -2 at index 0 of shape [-2, 3]"));
        assert!(fails("aten::view", &[x.clone(), ints(&[0, -1])])
            .ends_with("shape '[0, -1]' is invalid for input of size 6"));
        assert!(fails("aten::reshape", &[arange(&[0, 3]), ints(&[-1, 0])]).ends_with(
            "cannot reshape tensor of 0 elements into shape [-1, 0] because the unspecified dimension size -1 can be any value and is ambiguous"
        ));
        assert!(fails("aten::view", &[x.clone(), ints(&[1 << 62, 1 << 62])])
            .contains("is invalid for input of size 6"));
        assert_eq!(
            out("aten::view_as", &[x.clone(), arange(&[3, 2])]).dims(),
            &[3, 2]
        );
    }

    #[test]
    fn flatten_and_unflatten() {
        let x = arange(&[2, 3, 4]);
        assert_eq!(out("aten::flatten", std::slice::from_ref(&x)).dims(), &[24]);
        assert_eq!(
            out("aten::flatten", &[x.clone(), Value::Int(1)]).dims(),
            &[2, 12]
        );
        assert_eq!(
            out("aten::flatten", &[x.clone(), Value::Int(0), Value::Int(-2)]).dims(),
            &[6, 4]
        );
        assert_eq!(out("aten::flatten", &[arange(&[])]).dims(), &[1]);
        assert!(
            fails("aten::flatten", &[x.clone(), Value::Int(2), Value::Int(1)])
                .ends_with("flatten() has invalid args: start_dim cannot come after end_dim")
        );
        assert_eq!(
            out(
                "aten::unflatten",
                &[x.clone(), Value::Int(-1), ints(&[2, -1])]
            )
            .dims(),
            &[2, 3, 2, 2]
        );
        assert!(fails("aten::unflatten", &[x.clone(), Value::Int(1), ints(&[2, -1])]).ends_with(
            "unflatten: Provided sizes [2, -1] don't multiply up to the size of dim 1 (3) in the input tensor"
        ));
        assert!(fails("aten::unflatten", &[x, Value::Int(1), ints(&[])])
            .ends_with("unflatten: sizes must be non-empty"));
    }

    #[test]
    fn transpose_permute_movedim() {
        let x = arange(&[2, 3]);
        let y = out(
            "aten::transpose",
            &[x.clone(), Value::Int(0), Value::Int(-1)],
        );
        assert_eq!(shaped(&y), (vec![3, 2], vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]));
        assert_eq!(
            shaped(&out("aten::t", std::slice::from_ref(&x))),
            shaped(&y)
        );
        assert!(fails("aten::t", &[arange(&[1, 1, 1])])
            .ends_with("t() expects a tensor with <= 2 dimensions, but self is 3D"));
        assert!(fails(
            "aten::transpose",
            &[x.clone(), Value::Int(0), Value::Int(5)]
        )
        .ends_with("Dimension out of range (expected to be in range of [-2, 1], but got 5)"));
        let y = out("aten::permute", &[arange(&[2, 3, 4]), ints(&[2, 0, 1])]);
        assert_eq!(y.dims(), &[4, 2, 3]);
        assert_eq!(values(&y)[..4], [0.0, 4.0, 8.0, 12.0]);
        assert!(fails("aten::permute", &[x.clone(), ints(&[0, 0])])
            .ends_with("permute(): duplicate dims are not allowed."));
        assert!(fails("aten::permute", &[x.clone(), ints(&[0])])
            .contains("input.dim() = 2 is not equal to len(dims) = 1"));
        // torch.ones(2, 3, 4).movedim([0, 1], [2, 0]).shape == [3, 4, 2].
        let y = out(
            "aten::movedim",
            &[arange(&[2, 3, 4]), ints(&[0, 1]), ints(&[2, 0])],
        );
        assert_eq!(y.dims(), &[3, 4, 2]);
        assert_eq!(
            out(
                "aten::movedim",
                &[arange(&[2, 3, 4]), Value::Int(0), Value::Int(-1)]
            )
            .dims(),
            &[3, 4, 2]
        );
        assert!(
            fails("aten::movedim", &[x.clone(), ints(&[0, 0]), ints(&[1, 0])])
                .ends_with("movedim: repeated dim in `source` ([0, 0])")
        );
        assert_eq!(
            out("aten::swapaxes", &[x, Value::Int(0), Value::Int(1)]).dims(),
            &[3, 2]
        );
    }

    #[test]
    fn squeeze_and_unsqueeze() {
        let x = arange(&[2, 1, 3, 1]);
        assert_eq!(
            out("aten::squeeze", std::slice::from_ref(&x)).dims(),
            &[2, 3]
        );
        assert_eq!(
            out("aten::squeeze", &[x.clone(), Value::Int(-1)]).dims(),
            &[2, 1, 3]
        );
        assert_eq!(
            out("aten::squeeze", &[x.clone(), Value::Int(0)]).dims(),
            &[2, 1, 3, 1]
        );
        assert_eq!(
            out("aten::squeeze", &[x.clone(), ints(&[1, 3])]).dims(),
            &[2, 3]
        );
        assert_eq!(
            out("aten::squeeze", &[arange(&[]), Value::Int(-1)]).dims(),
            &[] as &[usize]
        );
        assert!(fails("aten::squeeze", &[x.clone(), Value::Int(4)]).contains("[-4, 3], but got 4"));
        assert_eq!(
            out("aten::unsqueeze", &[arange(&[2, 3]), Value::Int(-1)]).dims(),
            &[2, 3, 1]
        );
        assert_eq!(
            out("aten::unsqueeze", &[arange(&[]), Value::Int(0)]).dims(),
            &[1]
        );
        assert!(fails("aten::unsqueeze", &[arange(&[2, 3]), Value::Int(3)])
            .ends_with("Dimension out of range (expected to be in range of [-3, 2], but got 3)"));
    }

    #[test]
    fn expand_keeps_minus_one_and_checks_sizes() {
        let x = arange(&[2, 1]);
        let y = out("aten::expand", &[x.clone(), ints(&[3, -1, 4])]);
        assert_eq!(shaped(&y).0, vec![3, 2, 4]);
        assert_eq!(values(&y)[..8], [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        assert_eq!(
            out("aten::expand", &[x.clone(), ints(&[2, 0])]).dims(),
            &[2, 0]
        );
        // Messages from torch 2.15.0.
        assert!(fails("aten::expand", &[arange(&[2, 3]), ints(&[3, 3])]).ends_with(
            "The expanded size of the tensor (3) must match the existing size (2) at non-singleton dimension 0.  Target sizes: [3, 3].  Tensor sizes: [2, 3]"
        ));
        assert!(fails("aten::expand", &[arange(&[2, 3]), ints(&[3])]).ends_with(
            "expand(torch.FloatTensor{[2, 3]}, size=[3]): the number of sizes provided (1) must be greater or equal to the number of dimensions in the tensor (2)"
        ));
        assert!(fails("aten::expand", &[x.clone(), ints(&[-1, 2, 4])])
            .ends_with("The expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension 0"));
        assert!(fails("aten::expand", &[x.clone(), ints(&[2, 1001])]).contains("max_elements"));
        assert!(
            fails("aten::expand", &[x.clone(), ints(&[2, -3])]).contains("negative dimension -3")
        );
        assert_eq!(
            out("aten::expand_as", &[x, arange(&[5, 2, 3])]).dims(),
            &[5, 2, 3]
        );
    }
}
