//! [`Value`]: what TorchScript code computes with, and what operators take and return.
//!
//! Values are made and used within one call of a model (lists and objects are shared and
//! mutable, as in Python, so they are reference-counted, not thread-safe); a loaded model
//! keeps its own, thread-safe form and builds these per call.

use std::cell::RefCell;
use std::rc::Rc;

use candle_core::Device;

use super::tensor::Tensor;

/// A list, shared and mutable as in Python.
pub type List = Rc<RefCell<Vec<Value>>>;
/// A dict's items in insertion order, shared and mutable.
pub type Dict = Rc<RefCell<Vec<(Value, Value)>>>;

/// A value of TorchScript code.
#[derive(Debug, Clone)]
pub enum Value {
    /// `None`.
    None,
    /// A `bool`.
    Bool(bool),
    /// An `int` (also a dtype, layout or memory format, which the code passes as codes).
    Int(i64),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Str(Rc<str>),
    /// A `Tensor`.
    Tensor(Tensor),
    /// A `List[T]`.
    List(List),
    /// A `Tuple[...]`.
    Tuple(Rc<[Value]>),
    /// A `Dict[K, V]`.
    Dict(Dict),
    /// A module or an instance of a TorchScript class (a `NamedTuple` too).
    Object(Rc<RefCell<Object>>),
    /// A `Device`.
    Device(Device),
    /// A function or method named in the code, taken as a value (`_0 = __torch__.f`), with the
    /// object it is bound to, if any.
    Function(Rc<str>, Option<Rc<RefCell<Object>>>),
}

/// A module or class instance: its class's qualified name and its attributes, in order (a
/// `NamedTuple`'s fields in their declared order).
#[derive(Debug, Clone)]
pub struct Object {
    /// The qualified class name, `__torch__.torch.nn.modules.linear.Linear`.
    pub class: Rc<str>,
    /// Its attributes.
    pub fields: Vec<(Rc<str>, Value)>,
}

impl Object {
    /// The attribute `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v)
    }

    /// Sets the attribute `name`, adding it if it is new.
    pub fn set(&mut self, name: &str, value: Value) {
        match self.fields.iter_mut().find(|(n, _)| &**n == name) {
            Some((_, v)) => *v = value,
            None => self.fields.push((name.into(), value)),
        }
    }
}

impl Value {
    /// A new list.
    pub fn list(items: Vec<Value>) -> Self {
        Value::List(Rc::new(RefCell::new(items)))
    }

    /// A new tuple.
    pub fn tuple(items: Vec<Value>) -> Self {
        Value::Tuple(items.into())
    }

    /// A string value.
    pub fn str(s: &str) -> Self {
        Value::Str(s.into())
    }

    /// The value's type as TorchScript names it, for messages.
    pub fn type_name(&self) -> String {
        match self {
            Value::None => "NoneType".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Float(_) => "float".into(),
            Value::Str(_) => "str".into(),
            Value::Tensor(_) => "Tensor".into(),
            Value::List(_) => "List".into(),
            Value::Tuple(_) => "Tuple".into(),
            Value::Dict(_) => "Dict".into(),
            Value::Object(o) => o.borrow().class.to_string(),
            Value::Device(_) => "Device".into(),
            Value::Function(..) => "function".into(),
        }
    }

    /// The tensor, if it is one.
    pub fn as_tensor(&self) -> Option<&Tensor> {
        match self {
            Value::Tensor(t) => Some(t),
            _ => None,
        }
    }

    /// Python's `==` of two plain values: numbers by value (an int equals the same float),
    /// strings, devices, lists and tuples item by item; anything else only when it is the
    /// same object.
    pub fn equals(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::None, Value::None) => true,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Float(x), Value::Float(y)) => x == y,
            (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => *x as f64 == *y,
            (Value::Str(x), Value::Str(y)) => x == y,
            (Value::Device(x), Value::Device(y)) => x.same_device(y),
            (a, b) => match (a.items(), b.items()) {
                (Some(x), Some(y)) => {
                    x.len() == y.len() && x.iter().zip(&y).all(|(p, q)| p.equals(q))
                }
                _ => a.is(b),
            },
        }
    }

    /// Python's `is`: the same object for shared values (lists, dicts, objects, tensors),
    /// equality for `None`, bools and ints.
    pub fn is(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::None, Value::None) => true,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::List(x), Value::List(y)) => Rc::ptr_eq(x, y),
            (Value::Dict(x), Value::Dict(y)) => Rc::ptr_eq(x, y),
            (Value::Object(x), Value::Object(y)) => Rc::ptr_eq(x, y),
            (Value::Tensor(x), Value::Tensor(y)) => x.inner().id() == y.inner().id(),
            _ => false,
        }
    }

    /// The items of a list or tuple, copied out.
    pub fn items(&self) -> Option<Vec<Value>> {
        match self {
            Value::List(l) => Some(l.borrow().clone()),
            Value::Tuple(t) => Some(t.to_vec()),
            _ => None,
        }
    }
}
