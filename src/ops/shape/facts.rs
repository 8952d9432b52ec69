//! What TorchScript code asks of a tensor (`dim`, `size`, `numel`, `len`, `item` and Core
//! ATen's `_local_scalar_dense`, ...), the identities (`contiguous`, `detach`, `clone`,
//! `alias`), and conversions: `to` (type, device, another tensor's) and Core ATen's
//! `_to_copy`, `type_as`, the in-place `copy_`, `fill_` and `zero_`, which return the result
//! for the interpreter to rebind, and their functional forms `copy` and `fill.Scalar`.

use candle_core::Device;

use super::{broadcast_error, broadcast_shapes, err, wrap_dim};
use crate::error::Result;
use crate::ops::creation::{filled, zeros_of};
use crate::ops::dtype::ScalarType;
use crate::ops::registry::{Args, Builder, Ctx};
use crate::ops::tensor::Tensor;
use crate::ops::value::Value;

/// Registers the facts, identities and conversions.
pub(super) fn register(b: &mut Builder) {
    b.add("aten::dim(Tensor self) -> int", dim);
    b.add("aten::size.int(Tensor self, int dim) -> int", size_int);
    b.add("aten::size(Tensor self) -> int[]", size);
    b.add("aten::numel(Tensor self) -> int", numel);
    b.add("aten::len.Tensor(Tensor t) -> int", len);
    b.add(
        "aten::is_floating_point(Tensor self) -> bool",
        is_floating_point,
    );
    b.add("aten::item(Tensor self) -> Scalar", item);
    b.add("aten::_local_scalar_dense(Tensor self) -> Scalar", item);
    b.add(
        "aten::contiguous(Tensor(a) self, *, MemoryFormat memory_format=0) -> Tensor(a)",
        identity,
    );
    b.add("aten::detach(Tensor(a) self) -> Tensor(a)", identity);
    b.add("aten::alias(Tensor(a) self) -> Tensor(a)", identity);
    b.add(
        "aten::clone(Tensor self, *, MemoryFormat? memory_format=None) -> Tensor",
        identity,
    );
    register_to(b);
    b.add(
        "aten::type_as(Tensor self, Tensor other) -> Tensor",
        to_other,
    );
    b.add(
        "aten::copy_(Tensor(a!) self, Tensor src, bool non_blocking=False) -> Tensor(a!)",
        copy,
    );
    b.add(
        "aten::copy_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)",
        copy,
    );
    b.add(
        "aten::copy(Tensor self, Tensor src, bool non_blocking=False) -> Tensor",
        copy,
    );
    b.add(
        "aten::copy_.int(Tensor(a!) self, int other) -> Tensor(a!)",
        fill_scalar,
    );
    b.add(
        "aten::copy_.float(Tensor(a!) self, float other) -> Tensor(a!)",
        fill_scalar,
    );
    b.add(
        "aten::fill_.Tensor(Tensor(a!) self, Tensor value) -> Tensor(a!)",
        fill_tensor,
    );
    b.add(
        "aten::fill_.Scalar(Tensor(a!) self, Scalar value) -> Tensor(a!)",
        fill_scalar,
    );
    b.add(
        "aten::fill.Scalar(Tensor self, Scalar value) -> Tensor",
        fill_scalar,
    );
    b.add("aten::zero_(Tensor(a!) self) -> Tensor(a!)", zero);
}

/// The overloads of `to`, in the order calls by name try them: a dtype, a device and dtype,
/// another tensor, keywords only, then TorchScript's own (optional device, optional dtype).
fn register_to(b: &mut Builder) {
    const TAIL: &str = "bool non_blocking=False, bool copy=False, MemoryFormat? memory_format=None";
    b.add(
        &format!("aten::to.dtype(Tensor(a) self, ScalarType dtype, {TAIL}) -> Tensor(a)"),
        to_dtype,
    );
    b.add(
        &format!(
            "aten::to.device(Tensor(a) self, Device device, ScalarType dtype, {TAIL}) -> Tensor(a)"
        ),
        to_device,
    );
    b.add(
        &format!("aten::to.other(Tensor(a) self, Tensor other, {TAIL}) -> Tensor(a)"),
        to_other,
    );
    b.add(
        &format!(
            "aten::to.dtype_layout(Tensor(a) self, *, ScalarType? dtype=None, Layout? layout=None, \
             Device? device=None, bool? pin_memory=None, {TAIL}) -> Tensor(a)"
        ),
        to_dtype_layout,
    );
    b.add(
        "aten::to.prim_Device(Tensor(a) self, Device? device, int? dtype=None, bool non_blocking=False, \
         bool copy=False) -> Tensor(b|a)",
        to_prim_device,
    );
    b.add(
        "aten::to.prim_dtype(Tensor(a) self, int? dtype=None, bool non_blocking=False, bool copy=False) \
         -> Tensor(b|a)",
        to_prim_dtype,
    );
    b.add(
        "aten::to.prim_other(Tensor(a) self, bool non_blocking=False, bool copy=False) -> Tensor(b|a)",
        identity,
    );
    // Core ATen's form of every `to`: a copy (tensors are values here, so `to`'s conversion).
    b.add(
        "aten::_to_copy(Tensor self, *, ScalarType? dtype=None, Layout? layout=None, \
         Device? device=None, bool? pin_memory=None, bool non_blocking=False, \
         MemoryFormat? memory_format=None) -> Tensor",
        to_dtype_layout,
    );
}

fn dim(_: &Ctx, args: &Args) -> Result<Value> {
    Ok(Value::Int(args.tensor(0)?.rank() as i64))
}

fn size_int(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let d = args.int(1)?;
    if t.rank() == 0 {
        return Err(err(format!(
            "Dimension specified as {d} but tensor has no dimensions"
        )));
    }
    Ok(Value::Int(t.dims()[wrap_dim(d, t.rank())?] as i64))
}

fn size(_: &Ctx, args: &Args) -> Result<Value> {
    let dims = args.tensor(0)?.dims();
    Ok(Value::list(
        dims.iter().map(|&d| Value::Int(d as i64)).collect(),
    ))
}

fn numel(_: &Ctx, args: &Args) -> Result<Value> {
    Ok(Value::Int(args.tensor(0)?.elem_count() as i64))
}

fn len(_: &Ctx, args: &Args) -> Result<Value> {
    match args.tensor(0)?.dims().first() {
        Some(&n) => Ok(Value::Int(n as i64)),
        None => Err(err("len() of a 0-d tensor")),
    }
}

fn is_floating_point(_: &Ctx, args: &Args) -> Result<Value> {
    Ok(Value::Bool(args.tensor(0)?.dtype().is_float()))
}

/// The one element, as an int, a float or a bool by the tensor's type (`item` and
/// `_local_scalar_dense`).
fn item(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    if t.elem_count() != 1 {
        return Err(err(format!(
            "a Tensor with {} elements cannot be converted to Scalar",
            t.elem_count()
        )));
    }
    Ok(match t.dtype() {
        ScalarType::Bool => Value::Bool(t.scalar_i64()? != 0),
        d if d.is_float() => Value::Float(t.scalar_f64()?),
        _ => Value::Int(t.scalar_i64()?),
    })
}

/// `contiguous`, `detach`, `clone`, `alias`: tensors are values here (in-place operators return new
/// ones), so each is the tensor itself.
fn identity(_: &Ctx, args: &Args) -> Result<Value> {
    Ok(Value::Tensor(args.tensor(0)?.clone()))
}

/// `t` as `dtype` on `device`, where given.
fn convert(t: &Tensor, dtype: Option<ScalarType>, device: Option<&Device>) -> Result<Value> {
    let t = match dtype {
        Some(d) => t.to_dtype(d)?,
        None => t.clone(),
    };
    let t = match device {
        Some(d) if !d.same_device(t.device()) => t.to_device(d)?,
        _ => t,
    };
    Ok(Value::Tensor(t))
}

fn to_dtype(_: &Ctx, args: &Args) -> Result<Value> {
    convert(args.tensor(0)?, args.opt_dtype(1)?, None)
}

fn to_device(_: &Ctx, args: &Args) -> Result<Value> {
    let device = args.opt_device(1)?;
    convert(args.tensor(0)?, args.opt_dtype(2)?, device.as_ref())
}

/// `to(other)` and `type_as(other)`: `other`'s type and device.
fn to_other(_: &Ctx, args: &Args) -> Result<Value> {
    let other = args.tensor(1)?;
    convert(args.tensor(0)?, Some(other.dtype()), Some(other.device()))
}

fn to_dtype_layout(_: &Ctx, args: &Args) -> Result<Value> {
    let device = args.opt_device(3)?;
    convert(args.tensor(0)?, args.opt_dtype(1)?, device.as_ref())
}

fn to_prim_device(_: &Ctx, args: &Args) -> Result<Value> {
    let device = args.opt_device(1)?;
    convert(args.tensor(0)?, args.opt_dtype(2)?, device.as_ref())
}

fn to_prim_dtype(_: &Ctx, args: &Args) -> Result<Value> {
    convert(args.tensor(0)?, args.opt_dtype(1)?, None)
}

/// `src` broadcast to `shape` as `copy_` broadcasts it, with PyTorch's messages.
fn broadcast_to(src: &Tensor, shape: &[usize]) -> Result<candle_core::Tensor> {
    match broadcast_shapes(shape, src.dims()) {
        Some(b) if b == shape => Ok(src.inner().broadcast_as(shape)?),
        Some(b) => Err(err(format!(
            "output with shape {shape:?} doesn't match the broadcast shape {b:?}"
        ))),
        None => Err(broadcast_error(shape, src.dims())),
    }
}

/// `self.copy_(src)` and `copy(self, src)`: `src` broadcast to `self`'s shape, converted to its type, on its device.
fn copy(_: &Ctx, args: &Args) -> Result<Value> {
    let dst = args.tensor(0)?;
    let src = args
        .tensor(1)?
        .to_dtype(dst.dtype())?
        .to_device(dst.device())?;
    let inner = broadcast_to(&src, dst.dims())?.contiguous()?;
    Ok(Value::Tensor(Tensor::with_type(inner, dst.dtype())?))
}

fn fill_scalar(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    Ok(Value::Tensor(filled(
        args.scalar(1)?,
        t.dims(),
        t.dtype(),
        t.device(),
    )?))
}

/// `fill_` with a 0-dim tensor: its value converted to `self`'s type.
fn fill_tensor(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    let v = args.tensor(1)?;
    if v.rank() != 0 {
        return Err(err(format!(
            "fill_ only supports 0-dimension value tensor but got tensor with {} dimensions.",
            v.rank()
        )));
    }
    let v = v.to_dtype(t.dtype())?.to_device(t.device())?;
    let inner = v.inner().broadcast_as(t.dims())?.contiguous()?;
    Ok(Value::Tensor(Tensor::with_type(inner, t.dtype())?))
}

fn zero(_: &Ctx, args: &Args) -> Result<Value> {
    let t = args.tensor(0)?;
    Ok(Value::Tensor(zeros_of(t.dims(), t.dtype(), t.device())?))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{arange, call, fails, out, t, values};
    use crate::ops::dtype::ScalarType;
    use crate::ops::value::Value;

    #[test]
    fn facts_return_ints_lists_and_bools() {
        let x = arange(&[2, 3]);
        let int = |name: &str, args: &[Value]| match call(name, args, &[]).unwrap() {
            Value::Int(n) => n,
            v => panic!("{v:?}"),
        };
        assert_eq!(int("aten::dim", std::slice::from_ref(&x)), 2);
        assert_eq!(int("aten::size", &[x.clone(), Value::Int(-1)]), 3);
        assert_eq!(int("aten::numel", std::slice::from_ref(&x)), 6);
        assert_eq!(int("aten::len", std::slice::from_ref(&x)), 2);
        let sizes = call("aten::size", std::slice::from_ref(&x), &[])
            .unwrap()
            .items()
            .unwrap();
        assert!(matches!(sizes[..], [Value::Int(2), Value::Int(3)]));
        assert!(matches!(
            call("aten::is_floating_point", std::slice::from_ref(&x), &[]).unwrap(),
            Value::Bool(true)
        ));
        // Messages from torch 2.15.0.
        let scalar = t(&[2.5], &[], ScalarType::Float16);
        assert!(fails("aten::size", &[scalar.clone(), Value::Int(0)])
            .ends_with("Dimension specified as 0 but tensor has no dimensions"));
        assert!(fails("aten::size", &[x.clone(), Value::Int(2)])
            .ends_with("Dimension out of range (expected to be in range of [-2, 1], but got 2)"));
        assert!(
            fails("aten::len", std::slice::from_ref(&scalar)).ends_with("len() of a 0-d tensor")
        );
        assert!(matches!(call("aten::item", &[scalar], &[]).unwrap(), Value::Float(x) if x == 2.5));
        let int16 = t(&[3.0], &[1], ScalarType::Int16);
        assert!(matches!(
            call("aten::item", &[int16], &[]).unwrap(),
            Value::Int(3)
        ));
        let flag = t(&[1.0], &[], ScalarType::Bool);
        assert!(matches!(
            call("aten::item", &[flag], &[]).unwrap(),
            Value::Bool(true)
        ));
        assert!(fails("aten::item", &[x])
            .ends_with("a Tensor with 6 elements cannot be converted to Scalar"));
    }

    #[test]
    fn to_takes_a_dtype_a_device_or_another_tensor() {
        let x = t(&[1.7, -2.7], &[2], ScalarType::Float32);
        let y = out("aten::to", &[x.clone(), Value::Int(4)]);
        assert_eq!(
            (y.dtype(), values(&y)),
            (ScalarType::Int64, vec![1.0, -2.0])
        );
        let cpu = Value::Device(candle_core::Device::Cpu);
        let y = out("aten::to", &[x.clone(), cpu.clone(), Value::Int(7)]);
        assert_eq!(y.dtype(), ScalarType::Float64);
        let y = out("aten::to", &[x.clone(), cpu.clone()]);
        assert_eq!(y.dtype(), ScalarType::Float32);
        let y = out("aten::to", &[x.clone(), Value::str("cpu")]);
        assert_eq!(y.dtype(), ScalarType::Float32);
        let other = t(&[0.0], &[1], ScalarType::Bool);
        let y = out("aten::to", &[x.clone(), other.clone()]);
        assert_eq!((y.dtype(), values(&y)), (ScalarType::Bool, vec![1.0, 1.0]));
        let y = out(
            "aten::type_as",
            &[x.clone(), t(&[0.0], &[1], ScalarType::Float16)],
        );
        assert_eq!(y.dtype(), ScalarType::Float16);
        let kw = [("dtype", Value::Int(5)), ("copy", Value::Bool(true))];
        let Value::Tensor(y) = call("aten::to", &[x], &kw).unwrap() else {
            panic!()
        };
        assert_eq!(y.dtype(), ScalarType::Float16);
    }

    #[test]
    fn in_place_fills_and_copies_return_the_result() {
        let x = t(&[0.0; 6], &[2, 3], ScalarType::Int64);
        // torch: x.copy_(torch.tensor([1.7, -2.7, 3.])) on int64 [2, 3] -> [[1, -2, 3], [1, -2, 3]].
        let y = out(
            "aten::copy_",
            &[x.clone(), t(&[1.7, -2.7, 3.0], &[3], ScalarType::Float32)],
        );
        assert_eq!(
            (y.dims(), values(&y)),
            (&[2, 3][..], vec![1.0, -2.0, 3.0, 1.0, -2.0, 3.0])
        );
        assert!(fails("aten::copy_", &[x.clone(), t(&[1.0, 2.0], &[2], ScalarType::Int64)])
            .ends_with("The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1"));
        assert!(fails(
            "aten::copy_",
            &[x.clone(), t(&[0.0; 6], &[2, 1, 3], ScalarType::Int64)]
        )
        .ends_with("output with shape [2, 3] doesn't match the broadcast shape [2, 2, 3]"));
        let y = out("aten::fill_", &[x.clone(), Value::Float(2.7)]);
        assert_eq!(values(&y), vec![2.0; 6]);
        let y = out(
            "aten::fill_",
            &[x.clone(), t(&[5.0], &[], ScalarType::Float32)],
        );
        assert_eq!((y.dtype(), values(&y)), (ScalarType::Int64, vec![5.0; 6]));
        assert!(fails(
            "aten::fill_",
            &[x.clone(), t(&[5.0], &[1], ScalarType::Float32)]
        )
        .ends_with(
            "fill_ only supports 0-dimension value tensor but got tensor with 1 dimensions."
        ));
        let y = out("aten::zero_", &[t(&[3.0, 4.0], &[2], ScalarType::Float32)]);
        assert_eq!(values(&y), vec![0.0, 0.0]);
        let y = out("aten::copy_", &[x, Value::Int(7)]);
        assert_eq!(values(&y), vec![7.0; 6]);
    }

    #[test]
    fn core_aten_copies_fills_and_scalars() {
        // Values and messages from torch 2.15.0.
        let x = t(&[1.5, -2.7], &[2], ScalarType::Float32);
        let long = [("dtype", Value::Int(4))];
        let Value::Tensor(y) = call("aten::_to_copy", std::slice::from_ref(&x), &long).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (y.dtype(), values(&y)),
            (ScalarType::Int64, vec![1.0, -2.0])
        );
        let kw = [("dtype", Value::Int(11)), ("device", Value::str("cpu"))];
        let ints = t(&[1.0, 0.0, 2.0], &[3], ScalarType::Int64);
        let Value::Tensor(y) = call("aten::_to_copy", &[ints], &kw).unwrap() else {
            panic!()
        };
        assert_eq!(
            (y.dtype(), values(&y)),
            (ScalarType::Bool, vec![1.0, 0.0, 1.0])
        );
        let y = out("aten::_to_copy", std::slice::from_ref(&x));
        assert_eq!(
            (y.dtype(), values(&y)),
            (ScalarType::Float32, vec![1.5, -2.7f32 as f64])
        );
        assert!(call("aten::_to_copy", &[x.clone(), Value::Int(4)], &[]).is_err());
        let y = out("aten::alias", std::slice::from_ref(&x));
        assert_eq!(
            (y.dtype(), values(&y)),
            (ScalarType::Float32, vec![1.5, -2.7f32 as f64])
        );

        // torch.ops.aten.copy(torch.zeros(2, 3, dtype=torch.int32), torch.tensor([1.7, -2.5, 3.]))
        let dst = t(&[0.0; 6], &[2, 3], ScalarType::Int32);
        let src = t(&[1.7, -2.5, 3.0], &[3], ScalarType::Float32);
        let y = out("aten::copy", &[dst.clone(), src]);
        assert_eq!(
            (y.dtype(), y.dims(), values(&y)),
            (
                ScalarType::Int32,
                &[2, 3][..],
                vec![1.0, -2.0, 3.0, 1.0, -2.0, 3.0]
            )
        );
        assert!(fails("aten::copy", &[dst.clone(), t(&[0.0; 2], &[2], ScalarType::Float32)])
            .ends_with("The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1"));
        assert!(fails(
            "aten::copy",
            &[t(&[0.0; 3], &[3], ScalarType::Float32), dst.clone()]
        )
        .ends_with("output with shape [3] doesn't match the broadcast shape [2, 3]"));

        let y = out("aten::fill", &[dst.clone(), Value::Float(2.7)]);
        assert_eq!((y.dtype(), values(&y)), (ScalarType::Int32, vec![2.0; 6]));
        let y = out("aten::fill", &[x.clone(), Value::Bool(true)]);
        assert_eq!(
            (y.dtype(), values(&y)),
            (ScalarType::Float32, vec![1.0, 1.0])
        );
        let bytes = t(&[0.0, 0.0], &[2], ScalarType::UInt8);
        assert!(fails("aten::fill", &[bytes, Value::Int(300)])
            .ends_with("value cannot be converted to type uint8_t without overflow"));

        let scalar = |v: Value| call("aten::_local_scalar_dense", &[v], &[]).unwrap();
        assert!(
            matches!(scalar(t(&[2.5], &[1], ScalarType::Float32)), Value::Float(v) if v == 2.5)
        );
        assert!(matches!(
            scalar(t(&[3.0], &[], ScalarType::Int16)),
            Value::Int(3)
        ));
        assert!(matches!(
            scalar(t(&[1.0], &[], ScalarType::Bool)),
            Value::Bool(true)
        ));
        assert!(fails("aten::_local_scalar_dense", &[x])
            .ends_with("a Tensor with 2 elements cannot be converted to Scalar"));
    }
}
