//! [`Value`]: what a [`Program`](super::Program) takes and returns, owned and thread-safe;
//! its checks against `forward`'s signature, and its conversions to and from the values the
//! interpreter computes with.

use std::cell::RefCell;
use std::rc::Rc;

use super::ast::Type;
use super::program::{Options, Signature};
use crate::error::{Error, Result};
use crate::ops::{self, ScalarType, Tensor};
use crate::pytorch::script_archive::Obj;

/// An argument or result of a model's `forward`.
#[derive(Debug, Clone)]
pub enum Value {
    /// `None`.
    None,
    /// A `bool`.
    Bool(bool),
    /// An `int`.
    Int(i64),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `Tensor`.
    Tensor(Tensor),
    /// A `List[T]`.
    List(Vec<Value>),
    /// A `Tuple[...]` (a `NamedTuple` too).
    Tuple(Vec<Value>),
    /// A `Dict[str, T]` (other keys are written as strings), in insertion order.
    Dict(Vec<(String, Value)>),
}

impl Value {
    /// The value's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Tensor(_) => "Tensor",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
        }
    }
}

impl Type {
    /// The type as the code writes it: `Optional[List[Tensor]]`.
    pub fn display(&self) -> String {
        if self.args.is_empty() {
            self.name.clone()
        } else {
            let args: Vec<String> = self.args.iter().map(Type::display).collect();
            format!("{}[{}]", self.name, args.join(", "))
        }
    }
}

/// The runtime value of `v`.
pub(crate) fn to_runtime(v: &Value) -> ops::Value {
    match v {
        Value::None => ops::Value::None,
        Value::Bool(b) => ops::Value::Bool(*b),
        Value::Int(n) => ops::Value::Int(*n),
        Value::Float(x) => ops::Value::Float(*x),
        Value::Str(s) => ops::Value::Str(s.as_str().into()),
        Value::Tensor(t) => ops::Value::Tensor(t.clone()),
        Value::List(items) => ops::Value::list(items.iter().map(to_runtime).collect()),
        Value::Tuple(items) => ops::Value::tuple(items.iter().map(to_runtime).collect()),
        Value::Dict(items) => ops::Value::Dict(Rc::new(RefCell::new(
            items
                .iter()
                .map(|(k, v)| (ops::Value::Str(k.as_str().into()), to_runtime(v)))
                .collect(),
        ))),
    }
}

/// The runtime value of an archive's object (each call gets its own objects).
pub(crate) fn obj_to_runtime(o: &Obj) -> ops::Value {
    match o {
        Obj::None => ops::Value::None,
        Obj::Bool(b) => ops::Value::Bool(*b),
        Obj::Int(n) => ops::Value::Int(*n),
        Obj::Float(x) => ops::Value::Float(*x),
        Obj::Str(s) => ops::Value::Str(s.as_str().into()),
        Obj::Tensor { tensor, bool } => {
            // The archive reader made these from PyTorch's own storage types.
            let t = if *bool {
                Tensor::from_mask(tensor.clone())
            } else {
                Tensor::new(tensor.clone())
            };
            match t {
                Ok(t) => ops::Value::Tensor(t),
                Err(_) => ops::Value::None,
            }
        }
        Obj::List(items) => ops::Value::list(items.iter().map(obj_to_runtime).collect()),
        Obj::Tuple(items) => ops::Value::tuple(items.iter().map(obj_to_runtime).collect()),
        Obj::Dict(items) => ops::Value::Dict(Rc::new(RefCell::new(
            items
                .iter()
                .map(|(k, v)| (obj_to_runtime(k), obj_to_runtime(v)))
                .collect(),
        ))),
        Obj::Object { class, fields } => ops::Value::Object(Rc::new(RefCell::new(ops::Object {
            class: class.as_str().into(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.as_str().into(), obj_to_runtime(v)))
                .collect(),
        }))),
    }
}

/// What `forward` returned, as a [`Value`]; refused for what a caller cannot be given
/// (modules, functions).
pub(crate) fn from_obj(v: ops::Value) -> Result<Value> {
    Ok(match v {
        ops::Value::None => Value::None,
        ops::Value::Bool(b) => Value::Bool(b),
        ops::Value::Int(n) => Value::Int(n),
        ops::Value::Float(x) => Value::Float(x),
        ops::Value::Str(s) => Value::Str(s.to_string()),
        ops::Value::Tensor(t) => Value::Tensor(t),
        ops::Value::List(l) => {
            let items = l.borrow().clone();
            Value::List(items.into_iter().map(from_obj).collect::<Result<_>>()?)
        }
        ops::Value::Tuple(t) => {
            Value::Tuple(t.iter().cloned().map(from_obj).collect::<Result<_>>()?)
        }
        ops::Value::Dict(d) => {
            let items = d.borrow().clone();
            let mut out = Vec::with_capacity(items.len());
            for (k, v) in items {
                let key = match k {
                    ops::Value::Str(s) => s.to_string(),
                    ops::Value::Int(n) => n.to_string(),
                    ops::Value::Bool(b) => if b { "True" } else { "False" }.to_string(),
                    ops::Value::Float(x) => x.to_string(),
                    other => {
                        return Err(Error::Script(format!(
                            "forward returned a dict with a {} key",
                            other.type_name()
                        )))
                    }
                };
                out.push((key, from_obj(v)?));
            }
            Value::Dict(out)
        }
        ops::Value::Object(o) => {
            // A NamedTuple is returned as the tuple of its fields.
            let fields: Vec<ops::Value> =
                o.borrow().fields.iter().map(|(_, v)| v.clone()).collect();
            Value::Tuple(fields.into_iter().map(from_obj).collect::<Result<_>>()?)
        }
        other => {
            return Err(Error::Script(format!(
                "forward returned a {}, which has no value outside the model",
                other.type_name()
            )))
        }
    })
}

/// The arguments in `forward`'s order, each checked against its type (and converted: an int
/// for a float, a float tensor to the options' dtype, every tensor to the device); left-out
/// arguments with defaults are not passed.
pub(crate) fn check_args(
    signature: &Signature,
    args: Vec<(String, Value)>,
    options: &Options,
) -> Result<Vec<(String, Value)>> {
    for (name, _) in &args {
        if !signature.params.iter().any(|p| &p.name == name) {
            let names: Vec<&str> = signature.params.iter().map(|p| p.name.as_str()).collect();
            return Err(Error::input(
                name,
                format!(
                    "forward takes no such argument (it takes {})",
                    quoted(&names)
                ),
            ));
        }
    }
    let mut out = Vec::with_capacity(args.len());
    let mut given = args;
    for p in &signature.params {
        match given.iter().position(|(n, _)| *n == p.name) {
            Some(i) => {
                let (name, v) = given.swap_remove(i);
                let v = check(&name, &p.ty, v, options)?;
                out.push((name, v));
            }
            None if p.has_default => {}
            None if is_optional(&p.ty) => {
                out.push((p.name.clone(), Value::None));
            }
            None => {
                return Err(Error::input(
                    &p.name,
                    format!("is missing (forward takes it as {})", p.ty.display()),
                ))
            }
        }
    }
    Ok(out)
}

/// A value's type with its article, for messages: `an int`, `a list`, `None`.
fn a(v: &Value) -> String {
    match v.type_name() {
        "None" => "None".into(),
        name if name.starts_with(['a', 'e', 'i', 'o', 'u']) => format!("an {name}"),
        name => format!("a {name}"),
    }
}

fn quoted(names: &[&str]) -> String {
    crate::error::quoted(names)
}

fn is_optional(ty: &Type) -> bool {
    ty.name == "Optional"
}

/// `v` checked against `ty`.
fn check(name: &str, ty: &Type, v: Value, options: &Options) -> Result<Value> {
    let wrong = |v: &Value| {
        Error::input(
            name,
            format!("forward takes it as {}, not {}", ty.display(), a(v)),
        )
    };
    Ok(match (ty.name.as_str(), v) {
        ("Optional" | "NoneType", Value::None) => Value::None,
        ("Optional", v) => match ty.args.first() {
            Some(inner) => check(name, inner, v, options)?,
            None => v,
        },
        ("Union", v) => {
            for t in &ty.args {
                if let Ok(ok) = check(name, t, v.clone(), options) {
                    return Ok(ok);
                }
            }
            return Err(wrong(&v));
        }
        ("Any", v) => v,
        ("Tensor", Value::Tensor(t)) => {
            let t = match options.dtype {
                Some(dtype) if t.dtype().is_float() => {
                    let st = ScalarType::from_candle(dtype)
                        .ok_or_else(|| wrong(&Value::Tensor(t.clone())))?;
                    t.to_dtype(st)?
                }
                _ => t,
            };
            Value::Tensor(t.to_device(&options.device)?)
        }
        ("int", Value::Int(n)) => Value::Int(n),
        ("float", Value::Float(x)) => Value::Float(x),
        ("float", Value::Int(n)) => Value::Float(n as f64),
        ("bool", Value::Bool(b)) => Value::Bool(b),
        ("str", Value::Str(s)) => Value::Str(s),
        ("List", Value::List(items) | Value::Tuple(items)) => {
            let inner = ty.args.first();
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                out.push(match inner {
                    Some(t) => check(&format!("{name}[{i}]"), t, item, options)?,
                    None => item,
                });
            }
            Value::List(out)
        }
        ("Tuple", Value::Tuple(items) | Value::List(items)) => {
            if ty.args.len() != items.len() {
                return Err(Error::input(
                    name,
                    format!(
                        "forward takes it as {}, not a tuple of {}",
                        ty.display(),
                        items.len()
                    ),
                ));
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, (item, t)) in items.into_iter().zip(&ty.args).enumerate() {
                out.push(check(&format!("{name}[{i}]"), t, item, options)?);
            }
            Value::Tuple(out)
        }
        ("Dict", Value::Dict(items)) => {
            let inner = ty.args.get(1);
            let mut out = Vec::with_capacity(items.len());
            for (k, item) in items {
                let item = match inner {
                    Some(t) => check(&format!("{name}[{k:?}]"), t, item, options)?,
                    None => item,
                };
                out.push((k, item));
            }
            Value::Dict(out)
        }
        (_, v) => return Err(wrong(&v)),
    })
}
