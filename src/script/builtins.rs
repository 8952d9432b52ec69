//! The builtins of TorchScript's language that are not operators: `isinstance`, `range`,
//! `getattr`, `torch.format`, `ops.prim.RaiseException`, `ops.prim.dtype`, subscripts and
//! unpacking, the methods of strings, lists and dicts, and Python's `str()` of a value.

use std::cell::RefCell;
use std::rc::Rc;

use candle_core::Device;

use super::ast::Expr;
use super::interp::{object, script_err, Interp};
use crate::error::{Error, Result};
use crate::ops::{Tensor, Value};

/// The class of `range(...)` values.
pub(crate) const RANGE: &str = "builtins.range";

/// One item of a subscript.
pub(crate) enum Item {
    Value(Value),
    Slice(Option<Value>, Option<Value>, Option<Value>),
    Ellipsis,
    NewAxis,
}

/// A subscript: one item, or several (`x[:, 0]`).
pub(crate) enum Index {
    One(Item),
    Many(Vec<Item>),
}

/// `torch.float32` and the other dtype names as codes.
pub(crate) fn dtype_name(name: &str) -> Option<i64> {
    Some(match name {
        "uint8" => 0,
        "int8" => 1,
        "int16" | "short" => 2,
        "int32" | "int" => 3,
        "int64" | "long" => 4,
        "float16" | "half" => 5,
        "float32" | "float" => 6,
        "float64" | "double" => 7,
        "bool" => 11,
        "bfloat16" => 15,
        _ => return None,
    })
}

/// `cpu`, `cuda` or `mps`.
pub(crate) fn device_type(d: &Device) -> &'static str {
    match d {
        Device::Cpu => "cpu",
        Device::Cuda(_) => "cuda",
        Device::Metal(_) => "mps",
    }
}

/// Refuses a list or string of `n` items over the limit ([`Ctx::check_items`]).
///
/// [`Ctx::check_items`]: crate::ops::Ctx::check_items
pub(crate) fn check_len(interp: &Interp, n: usize) -> Result<()> {
    interp.cx.check_items("a list or string", n)
}

/// Python's `str(v)`, as TorchScript prints values in messages.
/// Whether `name` reads as a Python exception class (`AssertionError`, `StopIteration`).
fn is_exception_class(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric())
        && (name.ends_with("Error") || name.ends_with("Exception") || name == "StopIteration")
}

pub(crate) fn display(v: &Value) -> String {
    match v {
        Value::None => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Int(n) => n.to_string(),
        Value::Float(x) => float(*x),
        Value::Str(s) => s.to_string(),
        Value::List(l) => format!(
            "[{}]",
            l.borrow().iter().map(repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Tuple(t) => {
            let items: Vec<String> = t.iter().map(repr).collect();
            if items.len() == 1 {
                format!("({},)", items[0])
            } else {
                format!("({})", items.join(", "))
            }
        }
        Value::Dict(d) => format!(
            "{{{}}}",
            d.borrow()
                .iter()
                .map(|(k, v)| format!("{}: {}", repr(k), repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Tensor(t) => format!("tensor of shape {:?} ({})", t.dims(), t.dtype().name()),
        Value::Device(d) => device_type(d).into(),
        Value::Object(o) => format!("<{} object>", o.borrow().class),
        Value::Function(n, _) => format!("<function {n}>"),
    }
}

fn repr(v: &Value) -> String {
    match v {
        Value::Str(s) => format!("'{s}'"),
        other => display(other),
    }
}

/// Python's float formatting (`1.0`, `0.5`, `1e-05`, `inf`).
fn float(x: f64) -> String {
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    if x.is_nan() {
        return "nan".into();
    }
    let s = format!("{x:?}");
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ("-", d),
                None => ("+", e),
            };
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// `fmt.format(args)`: each `{}` replaced by the next argument's `str()`.
fn format(fmt: &str, args: &[Value]) -> Result<String> {
    let mut out = String::new();
    let mut next = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                }
                match next.next() {
                    Some(v) => out.push_str(&display(v)),
                    None => out.push_str("{}"),
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// `item in container`.
pub(crate) fn contains(interp: &mut Interp, container: &Value, item: &Value) -> Result<bool> {
    Ok(match container {
        Value::List(_) | Value::Tuple(_) => container
            .items()
            .unwrap_or_default()
            .iter()
            .any(|x| x.equals(item)),
        Value::Dict(d) => d.borrow().iter().any(|(k, _)| k.equals(item)),
        Value::Str(s) => match item {
            Value::Str(sub) => s.contains(&**sub),
            _ => false,
        },
        Value::Tensor(_) => {
            let eq = interp.op("aten::eq", vec![container.clone(), item.clone()])?;
            let any = interp.op("aten::any", vec![eq])?;
            interp.truth(&any)?
        }
        other => {
            return Err(script_err(format!(
                "`in` needs a container, not a {}",
                other.type_name()
            )))
        }
    })
}

/// Inserts or replaces `k` in a dict's items.
pub(crate) fn dict_insert(items: &mut Vec<(Value, Value)>, k: Value, v: Value) -> Result<()> {
    if matches!(k, Value::Tensor(_) | Value::List(_) | Value::Dict(_)) {
        return Err(script_err(format!(
            "a {} cannot be a dict key",
            k.type_name()
        )));
    }
    match items.iter_mut().find(|(x, _)| x.equals(&k)) {
        Some((_, old)) => *old = v,
        None => items.push((k, v)),
    }
    Ok(())
}

/// `a, b = v`.
pub(crate) fn unpack(v: &Value, n: usize) -> Result<Vec<Value>> {
    let items = match v {
        Value::Object(o) => o.borrow().fields.iter().map(|(_, v)| v.clone()).collect(),
        other => other.items().ok_or_else(|| {
            script_err(format!(
                "cannot unpack a {} into {n} values",
                other.type_name()
            ))
        })?,
    };
    if items.len() != n {
        return Err(script_err(format!(
            "cannot unpack {} values into {n}",
            items.len()
        )));
    }
    Ok(items)
}

/// A Python index into a sequence of `len` items, negative from the end.
fn position(i: i64, len: usize) -> Result<usize> {
    let len_i = len as i64;
    let j = if i < 0 { i + len_i } else { i };
    if j < 0 || j >= len_i {
        return Err(script_err(format!(
            "index {i} is out of range for a sequence of {len}"
        )));
    }
    Ok(j as usize)
}

/// Python's slice of `len` items: the positions taken.
fn slice_positions(
    start: Option<i64>,
    stop: Option<i64>,
    step: Option<i64>,
    len: usize,
) -> Result<Vec<usize>> {
    let step = step.unwrap_or(1);
    if step == 0 {
        return Err(script_err("slice step cannot be zero"));
    }
    let len = len as i64;
    let clamp = |i: i64, lo: i64, hi: i64| {
        let i = if i < 0 { i.saturating_add(len) } else { i };
        i.clamp(lo, hi)
    };
    let mut out = Vec::new();
    if step > 0 {
        let a = start.map_or(0, |s| clamp(s, 0, len));
        let b = stop.map_or(len, |s| clamp(s, 0, len));
        let mut i = a;
        while i < b {
            out.push(i as usize);
            i = i.saturating_add(step);
        }
    } else {
        let a = start.map_or(len - 1, |s| clamp(s, -1, len - 1));
        let b = stop.map_or(-1, |s| clamp(s, -1, len - 1));
        let mut i = a;
        while i > b {
            out.push(i as usize);
            i = i.saturating_add(step);
        }
    }
    Ok(out)
}

fn opt_int(v: &Option<Value>) -> Result<Option<i64>> {
    match v {
        None | Some(Value::None) => Ok(None),
        Some(Value::Int(n)) => Ok(Some(*n)),
        Some(other) => Err(script_err(format!(
            "a slice bound must be an int, not {}",
            other.type_name()
        ))),
    }
}

/// `v[index]`.
pub(crate) fn subscript(interp: &mut Interp, v: Value, index: Index) -> Result<Value> {
    if let Value::Tensor(t) = &v {
        let items = match index {
            Index::One(i) => vec![i],
            Index::Many(items) => items,
        };
        return tensor_subscript(interp, t.clone(), items);
    }
    let item = match index {
        Index::One(i) => i,
        Index::Many(_) => return Err(script_err(format!("a {} takes one index", v.type_name()))),
    };
    match (&v, item) {
        (Value::Dict(d), Item::Value(k)) => d
            .borrow()
            .iter()
            .find(|(x, _)| x.equals(&k))
            .map(|(_, v)| v.clone())
            .ok_or_else(|| script_err(format!("KeyError: {}", repr(&k)))),
        (Value::Str(s), Item::Value(Value::Int(i))) => {
            let chars: Vec<char> = s.chars().collect();
            Ok(Value::Str(
                chars[position(i, chars.len())?].to_string().into(),
            ))
        }
        (Value::Object(o), Item::Value(Value::Int(i))) => {
            let o = o.borrow();
            Ok(o.fields[position(i, o.fields.len())?].1.clone())
        }
        (_, Item::Value(Value::Int(i))) => {
            let items = v
                .items()
                .ok_or_else(|| script_err(format!("a {} cannot be indexed", v.type_name())))?;
            Ok(items[position(i, items.len())?].clone())
        }
        (_, Item::Slice(a, b, c)) => {
            let picks = |len| slice_positions(opt_int(&a)?, opt_int(&b)?, opt_int(&c)?, len);
            match &v {
                Value::Str(s) => {
                    let chars: Vec<char> = s.chars().collect();
                    let out: String = picks(chars.len())?.into_iter().map(|i| chars[i]).collect();
                    Ok(Value::Str(out.into()))
                }
                Value::List(l) => {
                    let l = l.borrow();
                    Ok(Value::list(
                        picks(l.len())?.into_iter().map(|i| l[i].clone()).collect(),
                    ))
                }
                Value::Tuple(t) => Ok(Value::tuple(
                    picks(t.len())?.into_iter().map(|i| t[i].clone()).collect(),
                )),
                other => Err(script_err(format!(
                    "a {} cannot be sliced",
                    other.type_name()
                ))),
            }
        }
        (other, _) => Err(script_err(format!(
            "a {} cannot be indexed that way",
            other.type_name()
        ))),
    }
}

/// `t[...]` as PyTorch's indexing: ints select, slices slice, `None` adds a dim, `...` skips
/// dims, tensors index (advanced indexing).
fn tensor_subscript(interp: &mut Interp, t: Tensor, items: Vec<Item>) -> Result<Value> {
    let consumed = items
        .iter()
        .filter(|i| !matches!(i, Item::NewAxis | Item::Ellipsis))
        .count();
    let mut v = Value::Tensor(t.clone());
    let mut dim: i64 = 0;
    let mut advanced: Vec<Value> = Vec::new();
    let mut has_advanced = false;
    for item in items {
        match item {
            Item::Value(Value::Int(i)) => {
                v = interp.op("aten::select", vec![v, Value::Int(dim), Value::Int(i)])?;
            }
            Item::Value(Value::Bool(b)) => {
                v = interp.op("aten::unsqueeze", vec![v, Value::Int(dim)])?;
                if !b {
                    v = interp.op(
                        "aten::slice",
                        vec![
                            v,
                            Value::Int(dim),
                            Value::Int(0),
                            Value::Int(0),
                            Value::Int(1),
                        ],
                    )?;
                }
                dim += 1;
            }
            Item::Value(Value::Tensor(index)) => {
                while advanced.len() < dim as usize {
                    advanced.push(Value::None);
                }
                advanced.push(Value::Tensor(index));
                has_advanced = true;
                dim += 1;
            }
            Item::Value(other) => {
                return Err(script_err(format!(
                    "a tensor cannot be indexed by a {}",
                    other.type_name()
                )))
            }
            Item::Slice(a, b, c) => {
                let start = opt_int(&a)?.map_or(Value::None, Value::Int);
                let end = opt_int(&b)?.map_or(Value::None, Value::Int);
                let step = Value::Int(opt_int(&c)?.unwrap_or(1));
                v = interp.op("aten::slice", vec![v, Value::Int(dim), start, end, step])?;
                dim += 1;
            }
            Item::NewAxis => {
                v = interp.op("aten::unsqueeze", vec![v, Value::Int(dim)])?;
                dim += 1;
            }
            Item::Ellipsis => {
                let rank = match &v {
                    Value::Tensor(x) => x.rank() as i64,
                    _ => 0,
                };
                // The dims left for the items after the ellipsis.
                dim = (rank - (consumed as i64 - dim)).max(dim);
            }
        }
    }
    if has_advanced {
        v = interp.op("aten::index", vec![v, Value::list(advanced)])?;
    }
    Ok(v)
}

/// `container[index] = v`.
pub(crate) fn set_item(
    interp: &mut Interp,
    container: &Value,
    index: Value,
    v: Value,
) -> Result<()> {
    match container {
        Value::List(l) => {
            let Value::Int(i) = index else {
                return Err(script_err("a list index must be an int"));
            };
            let mut l = l.borrow_mut();
            let p = position(i, l.len())?;
            l[p] = v;
            Ok(())
        }
        Value::Dict(d) => dict_insert(&mut d.borrow_mut(), index, v),
        Value::Tensor(_) => Err(script_err(
            "assignment into a tensor (`x[i] = v`) is not supported: it writes to a view",
        )),
        other => {
            let _ = interp;
            Err(script_err(format!(
                "a {} does not support item assignment",
                other.type_name()
            )))
        }
    }
}

/// `del container[index]`.
pub(crate) fn delete_item(container: &Value, index: &Value) -> Result<()> {
    match (container, index) {
        (Value::List(l), Value::Int(i)) => {
            let mut l = l.borrow_mut();
            let p = position(*i, l.len())?;
            l.remove(p);
            Ok(())
        }
        (Value::Dict(d), k) => {
            let mut d = d.borrow_mut();
            let before = d.len();
            d.retain(|(x, _)| !x.equals(k));
            if d.len() == before {
                return Err(script_err(format!("KeyError: {}", repr(k))));
            }
            Ok(())
        }
        (other, _) => Err(script_err(format!(
            "a {} does not support item deletion",
            other.type_name()
        ))),
    }
}

/// `tensor.name` for the attributes TorchScript code reads.
pub(crate) fn tensor_attribute(interp: &mut Interp, t: &Tensor, name: &str) -> Result<Value> {
    Ok(match name {
        "shape" => Value::list(t.dims().iter().map(|&d| Value::Int(d as i64)).collect()),
        "dtype" => Value::Int(t.dtype().code()),
        "device" => Value::Device(t.device().clone()),
        "is_cuda" => Value::Bool(t.device().is_cuda()),
        "ndim" => Value::Int(t.rank() as i64),
        "requires_grad" | "is_sparse" | "is_quantized" | "is_nested" | "is_mkldnn" => {
            Value::Bool(false)
        }
        "T" => {
            let dims = (0..t.rank() as i64).rev().map(Value::Int).collect();
            interp.op(
                "aten::permute",
                vec![Value::Tensor(t.clone()), Value::list(dims)],
            )?
        }
        "data" => Value::Tensor(t.clone()),
        other => return Err(script_err(format!("a Tensor has no attribute `{other}`"))),
    })
}

/// Whether `v` is of the type written as `ty`.
pub(crate) fn isinstance(v: &Value, ty: &Expr) -> bool {
    match ty {
        Expr::Tuple(types) => types.iter().any(|t| isinstance(v, t)),
        Expr::Subscript(base, inner) => {
            let Some(name) = super::ast::dotted(base) else {
                return false;
            };
            match name.as_str() {
                "List" => {
                    matches!(v, Value::List(_)) && {
                        let items = v.items().unwrap_or_default();
                        items.iter().all(|i| isinstance(i, inner))
                    }
                }
                "Tuple" => matches!(v, Value::Tuple(_)),
                "Dict" => matches!(v, Value::Dict(_)),
                "Optional" => matches!(v, Value::None) || isinstance(v, inner),
                _ => false,
            }
        }
        other => {
            let Some(name) = super::ast::dotted(other) else {
                return false;
            };
            match (name.as_str(), v) {
                ("Tensor", Value::Tensor(_))
                | ("int", Value::Int(_))
                | ("float", Value::Float(_))
                | ("bool", Value::Bool(_))
                | ("str", Value::Str(_))
                | ("NoneType", Value::None)
                | ("Device", Value::Device(_)) => true,
                (class, Value::Object(o)) => &*o.borrow().class == class,
                _ => false,
            }
        }
    }
}

fn arg<'v>(args: &'v [Value], i: usize, what: &str) -> Result<&'v Value> {
    args.get(i)
        .ok_or_else(|| script_err(format!("{what} is missing an argument")))
}

fn int_arg(args: &[Value], i: usize, what: &str) -> Result<i64> {
    match arg(args, i, what)? {
        Value::Int(n) => Ok(*n),
        Value::Bool(b) => Ok(*b as i64),
        other => Err(script_err(format!(
            "{what} takes an int, not a {}",
            other.type_name()
        ))),
    }
}

/// The builtins called by name; `None` when `path` is none of them.
pub(crate) fn call(
    interp: &mut Interp,
    path: &str,
    args: &[Value],
    kwargs: &[(String, Value)],
) -> Result<Option<Value>> {
    let _ = kwargs;
    Ok(Some(match path {
        "range" => {
            let (start, stop, step) = match args.len() {
                1 => (0, int_arg(args, 0, "range")?, 1),
                2 => (int_arg(args, 0, "range")?, int_arg(args, 1, "range")?, 1),
                3 => (
                    int_arg(args, 0, "range")?,
                    int_arg(args, 1, "range")?,
                    int_arg(args, 2, "range")?,
                ),
                _ => return Err(script_err("range() takes 1 to 3 arguments")),
            };
            if step == 0 {
                return Err(script_err("range() arg 3 must not be zero"));
            }
            object(
                RANGE,
                vec![
                    ("start".into(), Value::Int(start)),
                    ("stop".into(), Value::Int(stop)),
                    ("step".into(), Value::Int(step)),
                ],
            )
        }
        "getattr" => {
            let obj = arg(args, 0, "getattr")?.clone();
            let Value::Str(name) = arg(args, 1, "getattr")? else {
                return Err(script_err("getattr() takes an attribute name"));
            };
            let name = name.clone();
            interp.attribute(&obj, &name)?
        }
        "hasattr" => {
            let obj = arg(args, 0, "hasattr")?.clone();
            let Value::Str(name) = arg(args, 1, "hasattr")? else {
                return Err(script_err("hasattr() takes an attribute name"));
            };
            let name = name.clone();
            Value::Bool(interp.attribute(&obj, &name).is_ok())
        }
        "print" => Value::None,
        "torch.warn" | "warnings.warn" => Value::None,
        "torch.format" => {
            let Value::Str(fmt) = arg(args, 0, "format")? else {
                return Err(script_err("format() takes a format string"));
            };
            Value::Str(format(fmt, &args[1..])?.into())
        }
        "torch.is_grad_enabled"
        | "torch.is_autocast_enabled"
        | "torch.is_autocast_cpu_enabled"
        | "torch.jit.is_tracing"
        | "torch._C._is_any_autocast_enabled"
        | "torch.jit._is_tracing"
        | "torch._jit_internal.is_scripting" => Value::Bool(false),
        "torch.jit.is_scripting" => Value::Bool(true),
        "torch._C._get_tracing_state" => Value::None,
        "torch.device" => match arg(args, 0, "device")? {
            Value::Str(s) => Value::Device(crate::device::parse_device(s)?),
            Value::Device(d) => Value::Device(d.clone()),
            other => {
                return Err(script_err(format!(
                    "torch.device() takes a name, not a {}",
                    other.type_name()
                )))
            }
        },
        "ops.prim.RaiseException" => {
            let message = display(arg(args, 0, "RaiseException")?);
            return Err(match args.get(1) {
                Some(Value::Str(c)) => {
                    Error::raised(c.strip_prefix("builtins.").unwrap_or(c), message)
                }
                // Without a class, the printer writes it into the message (`assert` gives
                // `"AssertionError: ..."`).
                _ => match message.split_once(": ") {
                    Some((class, rest)) if is_exception_class(class) => Error::raised(class, rest),
                    _ => Error::raised("Exception", message),
                },
            });
        }
        "ops.prim.dtype" => match arg(args, 0, "dtype")? {
            Value::Tensor(t) => Value::Int(t.dtype().code()),
            other => return Err(script_err(format!("dtype of a {}", other.type_name()))),
        },
        "ops.prim.device" => match arg(args, 0, "device")? {
            Value::Tensor(t) => Value::Device(t.device().clone()),
            other => return Err(script_err(format!("device of a {}", other.type_name()))),
        },
        "ops.prim.is_cuda" => match arg(args, 0, "is_cuda")? {
            Value::Tensor(t) => Value::Bool(t.device().is_cuda()),
            _ => Value::Bool(false),
        },
        "ops.prim.requires_grad"
        | "ops.prim.is_nested"
        | "ops.prim.is_sparse"
        | "ops.prim.is_quantized"
        | "ops.prim.is_mkldnn" => Value::Bool(false),
        "ops.prim.layout" => Value::Int(0),
        "ops.prim.type" => match arg(args, 0, "type")? {
            Value::Device(d) => Value::str(device_type(d)),
            other => return Err(script_err(format!("type of a {}", other.type_name()))),
        },
        "ops.prim.data" => arg(args, 0, "data")?.clone(),
        "ops.prim.unchecked_unwrap_optional" | "ops.prim.unchecked_cast" => {
            arg(args, 0, "unwrap")?.clone()
        }
        "ops.prim.NumToTensor" => {
            let device = interp.cx.device.clone();
            let t = match arg(args, 0, "NumToTensor")? {
                Value::Int(n) => candle_core::Tensor::new(*n, &device)?,
                Value::Float(x) => candle_core::Tensor::new(*x, &device)?,
                Value::Bool(b) => {
                    let t = Tensor::from_mask(candle_core::Tensor::new(*b as u8, &device)?)?;
                    interp.made(&t);
                    return Ok(Some(Value::Tensor(t)));
                }
                other => {
                    return Err(script_err(format!(
                        "NumToTensor of a {}",
                        other.type_name()
                    )))
                }
            };
            let t = Tensor::new(t)?;
            interp.made(&t);
            Value::Tensor(t)
        }
        "ops.prim.tolist" => {
            return Err(script_err("tolist() is not supported"));
        }
        "len" => match arg(args, 0, "len")? {
            Value::Str(s) => Value::Int(s.chars().count() as i64),
            Value::List(l) => Value::Int(l.borrow().len() as i64),
            Value::Tuple(t) => Value::Int(t.len() as i64),
            Value::Dict(d) => Value::Int(d.borrow().len() as i64),
            Value::Tensor(t) => match t.dims().first() {
                Some(&n) => Value::Int(n as i64),
                None => return Err(script_err("len() of a 0-d tensor")),
            },
            other => return Err(script_err(format!("len() of a {}", other.type_name()))),
        },
        "int" | "float" | "bool" => {
            let v = arg(args, 0, path)?.clone();
            convert(interp, path, v)?
        }
        "str" => Value::Str(display(arg(args, 0, "str")?).into()),
        "list" => match args.first() {
            None => Value::list(Vec::new()),
            Some(v) => Value::list(
                v.items()
                    .ok_or_else(|| script_err(format!("list() of a {}", v.type_name())))?,
            ),
        },
        "tuple" => Value::tuple(arg(args, 0, "tuple")?.items().unwrap_or_default()),
        "dict" => Value::Dict(Rc::new(RefCell::new(Vec::new()))),
        "abs" => match arg(args, 0, "abs")? {
            Value::Int(n) => Value::Int(n.wrapping_abs()),
            Value::Float(x) => Value::Float(x.abs()),
            other => interp.op("aten::abs", vec![other.clone()])?,
        },
        "min" | "max" | "ops.prim.min" | "ops.prim.max" => {
            let max = path.ends_with("max");
            let items = if args.len() == 1 {
                args[0].items().unwrap_or_default()
            } else {
                args.to_vec()
            };
            if items.iter().any(|v| matches!(v, Value::Tensor(_))) {
                return Ok(None);
            }
            let mut best: Option<Value> = None;
            for v in items {
                let x = number(&v)?;
                best = match best {
                    Some(b) if (max && number(&b)? >= x) || (!max && number(&b)? <= x) => Some(b),
                    _ => Some(v),
                };
            }
            best.ok_or_else(|| script_err(format!("{path}() of an empty sequence")))?
        }
        "round" => Value::Float(round_half_even(number(arg(args, 0, "round")?)?)),
        "math.sqrt" => Value::Float(number(arg(args, 0, path)?)?.sqrt()),
        "math.exp" => Value::Float(number(arg(args, 0, path)?)?.exp()),
        "math.log" => Value::Float(number(arg(args, 0, path)?)?.ln()),
        "math.floor" => Value::Int(number(arg(args, 0, path)?)?.floor() as i64),
        "math.ceil" => Value::Int(number(arg(args, 0, path)?)?.ceil() as i64),
        "math.isnan" => Value::Bool(number(arg(args, 0, path)?)?.is_nan()),
        "math.isinf" => Value::Bool(number(arg(args, 0, path)?)?.is_infinite()),
        "enumerate" => {
            let items = arg(args, 0, "enumerate")?.items().unwrap_or_default();
            Value::list(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| Value::tuple(vec![Value::Int(i as i64), v]))
                    .collect(),
            )
        }
        "zip" => {
            let lists: Vec<Vec<Value>> =
                args.iter().map(|a| a.items().unwrap_or_default()).collect();
            let n = lists.iter().map(Vec::len).min().unwrap_or(0);
            Value::list(
                (0..n)
                    .map(|i| Value::tuple(lists.iter().map(|l| l[i].clone()).collect()))
                    .collect(),
            )
        }
        _ => return Ok(None),
    }))
}

/// A number's value as f64.
fn number(v: &Value) -> Result<f64> {
    match v {
        Value::Int(n) => Ok(*n as f64),
        Value::Float(x) => Ok(*x),
        Value::Bool(b) => Ok(*b as i64 as f64),
        other => Err(script_err(format!("a number, not a {}", other.type_name()))),
    }
}

/// Python's `round()`: halves to even.
fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    }
}

/// `int(v)`, `float(v)`, `bool(v)`.
fn convert(interp: &mut Interp, to: &str, v: Value) -> Result<Value> {
    Ok(match (to, v) {
        ("int", Value::Int(n)) => Value::Int(n),
        ("int", Value::Bool(b)) => Value::Int(b as i64),
        ("int", Value::Float(x)) => {
            if !x.is_finite() {
                return Err(script_err(format!(
                    "cannot convert float {} to integer",
                    float(x)
                )));
            }
            Value::Int(x.trunc() as i64)
        }
        ("int", Value::Str(s)) => Value::Int(
            s.trim()
                .parse()
                .map_err(|_| script_err(format!("invalid literal for int(): '{s}'")))?,
        ),
        ("int", Value::Tensor(t)) => {
            let n = t.scalar_i64()?;
            interp.read(&t, super::trace::Read::Int(n));
            Value::Int(n)
        }
        ("float", Value::Int(n)) => Value::Float(n as f64),
        ("float", Value::Float(x)) => Value::Float(x),
        ("float", Value::Bool(b)) => Value::Float(b as i64 as f64),
        ("float", Value::Str(s)) => Value::Float(match s.trim() {
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            "nan" => f64::NAN,
            other => other
                .parse()
                .map_err(|_| script_err(format!("could not convert string to float: '{s}'")))?,
        }),
        ("float", Value::Tensor(t)) => {
            let f = t.scalar_f64()?;
            interp.read(&t, super::trace::Read::Float(f.to_bits()));
            Value::Float(f)
        }
        ("bool", v) => Value::Bool(interp.truth(&v)?),
        (to, v) => return Err(script_err(format!("{to}() of a {}", v.type_name()))),
    })
}

/// The methods of strings, lists and dicts; `None` for others (tensor methods are operators).
pub(crate) fn method(
    interp: &mut Interp,
    receiver: &Value,
    method: &str,
    args: &[Value],
    kwargs: &[(String, Value)],
) -> Result<Option<Value>> {
    let _ = kwargs;
    Ok(Some(match (receiver, method) {
        (Value::Str(s), "format") => Value::Str(format(s, args)?.into()),
        (Value::Str(s), "startswith") => match args.first() {
            Some(Value::Str(p)) => Value::Bool(s.starts_with(&**p)),
            _ => return Err(script_err("startswith() takes a string")),
        },
        (Value::Str(s), "endswith") => match args.first() {
            Some(Value::Str(p)) => Value::Bool(s.ends_with(&**p)),
            _ => return Err(script_err("endswith() takes a string")),
        },
        (Value::Str(s), "lower") => Value::Str(s.to_lowercase().into()),
        (Value::Str(s), "upper") => Value::Str(s.to_uppercase().into()),
        (Value::Str(s), "strip") => Value::Str(s.trim().into()),
        (Value::Str(s), "join") => {
            let items = args.first().and_then(Value::items).unwrap_or_default();
            let parts: Vec<String> = items.iter().map(display).collect();
            let total: usize = parts.iter().map(String::len).sum();
            check_len(interp, total)?;
            Value::Str(parts.join(s).into())
        }
        (Value::List(l), "append") => {
            check_len(interp, l.borrow().len() + 1)?;
            l.borrow_mut().push(arg(args, 0, "append")?.clone());
            Value::None
        }
        (Value::List(l), "extend") => {
            let more = arg(args, 0, "extend")?.items().unwrap_or_default();
            check_len(interp, l.borrow().len() + more.len())?;
            l.borrow_mut().extend(more);
            Value::None
        }
        (Value::List(l), "insert") => {
            let i = int_arg(args, 0, "insert")?;
            let v = arg(args, 1, "insert")?.clone();
            check_len(interp, l.borrow().len() + 1)?;
            let mut l = l.borrow_mut();
            let len = l.len() as i64;
            let p = if i < 0 { (i + len).max(0) } else { i.min(len) };
            l.insert(p as usize, v);
            Value::None
        }
        (Value::List(l), "pop") => {
            let mut l = l.borrow_mut();
            let i = match args.first() {
                Some(Value::Int(i)) => *i,
                _ => -1,
            };
            let p = position(i, l.len())?;
            l.remove(p)
        }
        (Value::List(l), "clear") => {
            l.borrow_mut().clear();
            Value::None
        }
        (Value::List(l), "reverse") => {
            l.borrow_mut().reverse();
            Value::None
        }
        (Value::List(l), "copy") => Value::list(l.borrow().clone()),
        (Value::List(l), "index") => {
            let x = arg(args, 0, "index")?;
            let p = l.borrow().iter().position(|v| v.equals(x));
            Value::Int(p.ok_or_else(|| script_err("list.index(x): x not in list"))? as i64)
        }
        (Value::List(l), "count") => {
            let x = arg(args, 0, "count")?;
            Value::Int(l.borrow().iter().filter(|v| v.equals(x)).count() as i64)
        }
        (Value::Dict(d), "keys") => {
            Value::list(d.borrow().iter().map(|(k, _)| k.clone()).collect())
        }
        (Value::Dict(d), "values") => {
            Value::list(d.borrow().iter().map(|(_, v)| v.clone()).collect())
        }
        (Value::Dict(d), "items") => Value::list(
            d.borrow()
                .iter()
                .map(|(k, v)| Value::tuple(vec![k.clone(), v.clone()]))
                .collect(),
        ),
        (Value::Dict(d), "get") => {
            let k = arg(args, 0, "get")?;
            let found = d
                .borrow()
                .iter()
                .find(|(x, _)| x.equals(k))
                .map(|(_, v)| v.clone());
            found.unwrap_or_else(|| args.get(1).cloned().unwrap_or(Value::None))
        }
        (Value::Dict(d), "pop") => {
            let k = arg(args, 0, "pop")?.clone();
            let mut d = d.borrow_mut();
            match d.iter().position(|(x, _)| x.equals(&k)) {
                Some(p) => d.remove(p).1,
                None => match args.get(1) {
                    Some(v) => v.clone(),
                    None => return Err(script_err(format!("KeyError: {}", repr(&k)))),
                },
            }
        }
        (Value::Dict(d), "update") => {
            let other = match arg(args, 0, "update")? {
                Value::Dict(o) => o.borrow().clone(),
                _ => return Err(script_err("update() takes a dict")),
            };
            let mut d = d.borrow_mut();
            for (k, v) in other {
                dict_insert(&mut d, k, v)?;
            }
            Value::None
        }
        (Value::Dict(d), "setdefault") => {
            let k = arg(args, 0, "setdefault")?.clone();
            let default = args.get(1).cloned().unwrap_or(Value::None);
            let mut d = d.borrow_mut();
            match d.iter().find(|(x, _)| x.equals(&k)) {
                Some((_, v)) => v.clone(),
                None => {
                    dict_insert(&mut d, k, default.clone())?;
                    default
                }
            }
        }
        _ => return Ok(None),
    }))
}
