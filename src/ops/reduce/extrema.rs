//! `max`, `min` (of everything, along a dim with indices, and of two tensors), `amax`, `amin`,
//! `argmax` and `argmin`, on the CPU: NaN wins (the first NaN), ties go to the first index, as
//! PyTorch's CPU kernels decide.

use super::{float_tensor, index_tensor, int_tensor, is_nan, reduce_dims, reduced_shape, Data};
use crate::error::{Error, Result};
use crate::ops::elementwise::bounds::{maximum, minimum};
use crate::ops::elementwise::promote::{wrap_dim, Operand};
use crate::ops::{Builder, ScalarType, Tensor, Value};

/// The index and value of the first maximum (`max`) or minimum of `row`; a NaN wins, the
/// first one. `None` for an empty row.
fn extreme<T: Copy + PartialOrd>(row: &[T], max: bool) -> Option<(usize, T)> {
    let mut best = (0, *row.first()?);
    for (i, &v) in row.iter().enumerate().skip(1) {
        if is_nan(best.1) {
            break;
        }
        if is_nan(v) || (max && v > best.1) || (!max && v < best.1) {
            best = (i, v);
        }
    }
    Some(best)
}

/// The extremes of every row of `data`: their indices and values (as a tensor of `t`'s type
/// and shape `shape`).
fn extremes(t: &Tensor, dims: &[usize], shape: &[usize], max: bool) -> Result<(Vec<i64>, Tensor)> {
    fn rows<T: Copy + PartialOrd>(
        rows: impl Iterator<Item = impl AsRef<[T]>>,
        max: bool,
    ) -> Result<(Vec<i64>, Vec<T>)> {
        let mut idx = Vec::new();
        let mut vals = Vec::new();
        for r in rows {
            let (i, v) = extreme(r.as_ref(), max)
                .ok_or_else(|| Error::Script("cannot reduce an empty dimension".into()))?;
            idx.push(i as i64);
            vals.push(v);
        }
        Ok((idx, vals))
    }
    match Data::new(t, dims)? {
        Data::Float(r) => {
            let (idx, vals) = rows(r.iter(), max)?;
            Ok((idx, float_tensor(vals, shape, t.dtype(), t.device())?))
        }
        Data::Int(r) => {
            let (idx, vals) = rows(r.iter(), max)?;
            Ok((idx, int_tensor(vals, shape, t.dtype(), t.device())?))
        }
    }
}

fn op_name(max: bool) -> &'static str {
    if max {
        "max"
    } else {
        "min"
    }
}

/// Refuses a reduction over a dim of size 0, as PyTorch does (naming the dims as `given`:
/// `amax` names them as the call gave them, `max` and `argmax` wrapped).
fn check_nonempty(t: &Tensor, given: &[i64], name: &str) -> Result<()> {
    if t.rank() == 0 {
        return Ok(());
    }
    for &g in given {
        if t.dims()[wrap_dim(g, t.rank())?] == 0 {
            return Err(Error::Script(format!(
                "{name}(): Expected reduction dim {g} to have non-zero size."
            )));
        }
    }
    Ok(())
}

/// Refuses a reduction of every element of an empty tensor, as PyTorch does.
fn check_numel(t: &Tensor, name: &str) -> Result<()> {
    if t.elem_count() == 0 {
        return Err(Error::Script(format!(
            "{name}(): Expected reduction dim to be specified for input.numel() == 0. Specify \
             the reduction dim with the 'dim' argument."
        )));
    }
    Ok(())
}

/// `max(t)` or `min(t)`: the extreme of every element, 0-dim.
fn extreme_all(t: &Tensor, max: bool) -> Result<Tensor> {
    check_numel(t, op_name(max))?;
    let dims: Vec<usize> = (0..t.rank()).collect();
    Ok(extremes(t, &dims, &[], max)?.1)
}

/// `max(t, dim, keepdim)` or `min`: the values and their int64 indices.
fn extreme_dim(t: &Tensor, dim: i64, keepdim: bool, max: bool) -> Result<Value> {
    let d = wrap_dim(dim, t.rank())?;
    let dims = if t.rank() == 0 { vec![] } else { vec![d] };
    check_nonempty(t, &[d as i64], op_name(max))?;
    let shape = reduced_shape(t.dims(), &dims, keepdim);
    let (idx, values) = extremes(t, &dims, &shape, max)?;
    let indices = index_tensor(idx, &shape, t.device())?;
    Ok(Value::tuple(vec![
        Value::Tensor(values),
        Value::Tensor(indices),
    ]))
}

/// `amax(t, dims, keepdim)` or `amin`.
fn amax(t: &Tensor, dims: &[i64], keepdim: bool, max: bool) -> Result<Tensor> {
    let name = if max { "amax" } else { "amin" };
    if dims.is_empty() {
        check_numel(t, name)?;
    }
    let rd = reduce_dims(Some(dims), t.rank())?;
    check_nonempty(t, dims, name)?;
    let shape = reduced_shape(t.dims(), &rd, keepdim);
    Ok(extremes(t, &rd, &shape, max)?.1)
}

/// `argmax(t, dim, keepdim)` or `argmin`; without a dim, the index into the flattened tensor.
fn argmax(t: &Tensor, dim: Option<i64>, keepdim: bool, max: bool) -> Result<Tensor> {
    let name = if max { "argmax" } else { "argmin" };
    if t.dtype() == ScalarType::Bool {
        return Err(Error::Script(format!(
            "{name}(): does not support bool input"
        )));
    }
    let Some(dim) = dim else {
        if t.elem_count() == 0 {
            return Err(Error::Script(format!(
                "{name}(): Expected reduction dim to be specified for input.numel() == 0."
            )));
        }
        let flat = Tensor::with_type(t.inner().flatten_all()?, t.dtype())?;
        let (idx, _) = extremes(&flat, &[0], &[], max)?;
        let shape = if keepdim { vec![1; t.rank()] } else { vec![] };
        return index_tensor(idx, &shape, t.device());
    };
    let d = wrap_dim(dim, t.rank())?;
    let dims = if t.rank() == 0 { vec![] } else { vec![d] };
    check_nonempty(t, &[d as i64], name)?;
    let shape = reduced_shape(t.dims(), &dims, keepdim);
    let (idx, _) = extremes(t, &dims, &shape, max)?;
    index_tensor(idx, &shape, t.device())
}

fn out(t: Result<Tensor>) -> Result<Value> {
    t.map(Value::Tensor)
}

fn register_one(b: &mut Builder, max: bool) {
    let fns: [crate::ops::OpFn; 5] = if max {
        [
            |cx, a| {
                out(maximum(
                    cx,
                    Operand::Tensor(a.tensor(0)?),
                    Operand::Tensor(a.tensor(1)?),
                ))
            },
            |_, a| out(extreme_all(a.tensor(0)?, true)),
            |_, a| extreme_dim(a.tensor(0)?, a.int(1)?, a.bool(2)?, true),
            |_, a| out(amax(a.tensor(0)?, &a.ints(1)?, a.bool(2)?, true)),
            |_, a| out(argmax(a.tensor(0)?, a.opt_int(1)?, a.bool(2)?, true)),
        ]
    } else {
        [
            |cx, a| {
                out(minimum(
                    cx,
                    Operand::Tensor(a.tensor(0)?),
                    Operand::Tensor(a.tensor(1)?),
                ))
            },
            |_, a| out(extreme_all(a.tensor(0)?, false)),
            |_, a| extreme_dim(a.tensor(0)?, a.int(1)?, a.bool(2)?, false),
            |_, a| out(amax(a.tensor(0)?, &a.ints(1)?, a.bool(2)?, false)),
            |_, a| out(argmax(a.tensor(0)?, a.opt_int(1)?, a.bool(2)?, false)),
        ]
    };
    let (n, an) = if max {
        ("max", "amax")
    } else {
        ("min", "amin")
    };
    b.add(
        &format!("aten::{n}.other(Tensor self, Tensor other) -> Tensor"),
        fns[0],
    );
    b.add(&format!("aten::{n}(Tensor self) -> Tensor"), fns[1]);
    b.add(
        &format!("aten::{n}.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)"),
        fns[2],
    );
    b.add(
        &format!("aten::{an}(Tensor self, int[1] dim=[], bool keepdim=False) -> Tensor"),
        fns[3],
    );
    b.add(
        &format!("aten::arg{n}(Tensor self, int? dim=None, bool keepdim=False) -> Tensor"),
        fns[4],
    );
}

/// Registers the extrema.
pub(super) fn register(b: &mut Builder) {
    register_one(b, true);
    register_one(b, false);
}

#[cfg(test)]
mod tests {
    //! Expected values are torch 2.15's for the same calls.
    use crate::ops::elementwise::testing::{bools, call, check, error, f32s, items};
    use crate::ops::ScalarType::*;
    use crate::ops::Value;

    const NAN: f64 = f64::NAN;

    #[test]
    fn extremes_along_a_dim_take_the_first_nan_or_tie() {
        let x = f32s(&[2, 3], &[1.0, 3.0, 3.0, NAN, 2.0, NAN]);
        let r = items(&call("aten::max", &[x, Value::Int(1)]).unwrap());
        check(&r[0], Float32, &[2], &[3.0, NAN]);
        check(&r[1], Int64, &[2], &[1.0, 0.0]);
        let x = f32s(&[2, 3], &[3.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
        let r = items(&call("aten::min", &[x, Value::Int(1), Value::Bool(true)]).unwrap());
        check(&r[0], Float32, &[2, 1], &[1.0, 2.0]);
        check(&r[1], Int64, &[2, 1], &[1.0, 0.0]);
        let r = items(
            &call(
                "aten::max",
                &[bools(&[3], &[true, false, true]), Value::Int(0)],
            )
            .unwrap(),
        );
        check(&r[0], Bool, &[], &[1.0]);
        check(&r[1], Int64, &[], &[0.0]);
        assert!(error("aten::max", &[f32s(&[2, 0], &[]), Value::Int(1)])
            .contains("max(): Expected reduction dim 1 to have non-zero size."));
    }

    #[test]
    fn extremes_of_everything_and_arg_extremes() {
        let x = f32s(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        check(
            &call("aten::max", std::slice::from_ref(&x)).unwrap(),
            Float32,
            &[],
            &[6.0],
        );
        assert!(error("aten::min", &[f32s(&[0], &[])])
            .contains("Specify the reduction dim with the 'dim' argument."));
        check(
            &call("aten::argmax", &[x.clone(), Value::None, Value::Bool(true)]).unwrap(),
            Int64,
            &[1, 1],
            &[5.0],
        );
        check(
            &call("aten::argmax", &[f32s(&[4], &[1.0, NAN, 3.0, NAN])]).unwrap(),
            Int64,
            &[],
            &[1.0],
        );
        check(
            &call("aten::argmin", &[f32s(&[3], &[3.0, 1.0, 1.0])]).unwrap(),
            Int64,
            &[],
            &[1.0],
        );
        assert!(error("aten::argmax", &[bools(&[2], &[true, false])])
            .contains("argmax(): does not support bool input"));
        let r = call(
            "aten::amax",
            &[
                f32s(&[2, 2], &[1.0, NAN, 2.0, 3.0]),
                Value::list(vec![Value::Int(1)]),
            ],
        )
        .unwrap();
        check(&r, Float32, &[2], &[NAN, 3.0]);
        check(
            &call(
                "aten::amax",
                &[f32s(&[0, 2], &[]), Value::list(vec![Value::Int(1)])],
            )
            .unwrap(),
            Float32,
            &[0],
            &[],
        );
        let r = call(
            "aten::max",
            &[f32s(&[2], &[1.0, NAN]), f32s(&[2], &[2.0, 0.0])],
        )
        .unwrap();
        check(&r, Float32, &[2], &[2.0, NAN]);
    }
}
