//! Running a [`Graph`]: a call's arguments bound to the graph's inputs (list lengths, baked
//! scalars, dtypes and symbolic sizes checked), then every node in order.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use candle_core::DType;

use super::load::{Graph, Input, Leaf};
use super::node::{Arg, Const, Item, Node, Out, Python, Target};
use super::spec::Tree;
use super::sym::Expr;
use crate::error::{Error, Result};
use crate::ops::{bind, with_op, Ctx, Registry, ScalarType, Tensor, Value};
use crate::script::value::{self as script_value, Value as UserValue};

/// A call's values, by slot.
type Slots = Vec<Option<Value>>;

/// The symbols a call's sizes bound, each with the first size that bound it (`x.shape[0]`).
type Symbols = HashMap<String, (i64, String)>;

impl Graph {
    /// Runs the program on `args`, `forward`'s arguments by name (already checked against the
    /// signature's types), and returns what `forward` returns.
    pub(crate) fn run(&self, cx: &Ctx, args: &[(String, UserValue)]) -> Result<UserValue> {
        let mut slots: Slots = vec![None; self.slots];
        for (slot, tensor) in &self.stored {
            slots[*slot] = Some(Value::Tensor(tensor.clone()));
        }
        let mut binder = Binder {
            graph: self,
            slots: &mut slots,
            symbols: HashMap::new(),
            pending: Vec::new(),
        };
        for input in &self.inputs {
            let given = args.iter().find(|(n, _)| *n == input.name).map(|(_, v)| v);
            binder.input(input, given)?;
        }
        binder.check_pending()?;
        for (i, node) in self.nodes.iter().enumerate() {
            let value = call(cx, node, &slots).map_err(|e| at_node(i, node, e))?;
            assign(node, value, &mut slots).map_err(|e| at_node(i, node, e))?;
        }
        let mut outputs = Vec::with_capacity(self.outputs.len());
        for arg in &self.outputs {
            outputs.push(eval(cx, arg, &slots)?);
        }
        let mut leaves = outputs.into_iter();
        script_value::from_obj(rebuild(&self.out_tree, &mut leaves))
    }
}

/// Names the node in an operator's error.
fn at_node(i: usize, node: &Node, e: Error) -> Error {
    match e {
        Error::Script(m) => Error::Script(format!("node {i} ({}): {m}", node.name)),
        Error::Candle(c) => Error::Script(format!("node {i} ({}): {c}", node.name)),
        other => other,
    }
}

/// Binds one call's arguments.
struct Binder<'g, 's> {
    graph: &'g Graph,
    slots: &'s mut Slots,
    symbols: Symbols,
    /// Sizes given by expressions of other symbols, checked once every symbol is bound:
    /// (argument, dim, size, expression).
    pending: Vec<(String, usize, i64, &'g Expr)>,
}

impl<'g> Binder<'g, '_> {
    fn input(&mut self, input: &'g Input, given: Option<&UserValue>) -> Result<()> {
        let mut leaves = input.leaves.iter();
        self.tree(&input.name, &input.tree, given, &mut leaves)
    }

    fn tree(
        &mut self,
        name: &str,
        tree: &'g Tree,
        given: Option<&UserValue>,
        leaves: &mut std::slice::Iter<'g, Leaf>,
    ) -> Result<()> {
        let wrong = |what: &str| {
            Error::input(
                name,
                format!(
                    "the program takes {what} here, not a {}",
                    given.map_or("None", UserValue::type_name)
                ),
            )
        };
        match tree {
            Tree::Leaf => {
                let Some(leaf) = leaves.next() else {
                    return Err(Error::Script("the program's inputs ran out".into()));
                };
                self.leaf(name, leaf, given)
            }
            Tree::None => match given {
                None | Some(UserValue::None) => Ok(()),
                Some(_) => Err(wrong("None (it was exported with None)")),
            },
            Tree::List(items) | Tree::Tuple(items) => {
                let values = match given {
                    Some(UserValue::List(v) | UserValue::Tuple(v)) => Some(v),
                    None => None,
                    Some(_) => return Err(wrong("a list")),
                };
                if let Some(values) = values {
                    if values.len() != items.len() {
                        return Err(Error::input(
                            name,
                            format!(
                                "is a list of {}; the program was exported with a list of {} \
                                 (torch.export fixes a list's length)",
                                values.len(),
                                items.len()
                            ),
                        ));
                    }
                }
                for (i, item) in items.iter().enumerate() {
                    let v = values.map(|v| &v[i]);
                    self.tree(&format!("{name}[{i}]"), item, v, leaves)?;
                }
                Ok(())
            }
            Tree::Dict(items) => {
                let values = match given {
                    Some(UserValue::Dict(v)) => Some(v),
                    None => None,
                    Some(_) => return Err(wrong("a dict")),
                };
                if let Some(values) = values {
                    if let Some((k, _)) = values
                        .iter()
                        .find(|(k, _)| !items.iter().any(|(i, _)| i == k))
                    {
                        return Err(Error::input(
                            name,
                            format!("has the key {k:?}, which the program was not exported with"),
                        ));
                    }
                }
                for (key, item) in items {
                    let v = match values {
                        Some(values) => Some(
                            values
                                .iter()
                                .find(|(k, _)| k == key)
                                .map(|(_, v)| v)
                                .ok_or_else(|| Error::input(name, format!("has no key {key:?}")))?,
                        ),
                        None => None,
                    };
                    self.tree(&format!("{name}[{key:?}]"), item, v, leaves)?;
                }
                Ok(())
            }
        }
    }

    fn leaf(&mut self, name: &str, leaf: &'g Leaf, given: Option<&UserValue>) -> Result<()> {
        match leaf {
            Leaf::Constant(c) => match given {
                None => Ok(()),
                Some(v) if same(v, c) => Ok(()),
                Some(v) => Err(Error::input(
                    name,
                    format!(
                        "is {}, but the program was exported with {name} = {} (torch.export \
                         bakes int, float and bool arguments in): leave it out, or export \
                         again with the value you need",
                        show(v),
                        show(&super::const_value(c))
                    ),
                )),
            },
            Leaf::Scalar { slot, kind } => {
                let v = match (given, *kind) {
                    (Some(UserValue::Int(n)), "int") => Value::Int(*n),
                    (Some(UserValue::Float(x)), "float") => Value::Float(*x),
                    (Some(UserValue::Int(n)), "float") => Value::Float(*n as f64),
                    (Some(UserValue::Bool(b)), "bool") => Value::Bool(*b),
                    _ => {
                        return Err(Error::input(
                            name,
                            format!("the program takes an {kind} here"),
                        ))
                    }
                };
                self.slots[*slot] = Some(v);
                Ok(())
            }
            Leaf::Tensor { slot, dtype, dims } => {
                let Some(UserValue::Tensor(t)) = given else {
                    return Err(Error::input(
                        name,
                        format!(
                            "the program takes a Tensor here, not a {}",
                            given.map_or("None", UserValue::type_name)
                        ),
                    ));
                };
                let t = to_declared(name, t, *dtype)?;
                self.dims(name, t.dims(), dims)?;
                self.slots[*slot] = Some(Value::Tensor(t));
                Ok(())
            }
        }
    }

    /// Checks a tensor's sizes against the exported ones, binding symbols.
    fn dims(&mut self, name: &str, got: &[usize], want: &'g [Expr]) -> Result<()> {
        if got.len() != want.len() {
            return Err(Error::input(
                name,
                format!(
                    "has {} dims {got:?}; the program was exported with {} ({})",
                    got.len(),
                    want.len(),
                    want.iter()
                        .map(Expr::display)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        for (d, (&size, expr)) in got.iter().zip(want).enumerate() {
            let size = size as i64;
            let at = format!("{name}.shape[{d}]");
            match expr {
                Expr::Int(n) if *n != size => {
                    return Err(Error::input(
                        name,
                        format!(
                            "{at} = {size}, but the program was exported with {n} there (a \
                             static size)"
                        ),
                    ))
                }
                Expr::Int(_) => {}
                Expr::Symbol(s) => match self.symbols.get(s) {
                    Some((v, first)) if *v != size => {
                        return Err(Error::input(
                            name,
                            format!("{at} = {size}, but {first} = {v}, and both are {s}"),
                        ))
                    }
                    Some(_) => {}
                    None => {
                        let (min, max) = self.graph.ranges.get(s).copied().unwrap_or((0, None));
                        if size < min || max.is_some_and(|m| size > m) {
                            let range = match max {
                                Some(max) => format!("{min}..={max}"),
                                None => format!("{min}.."),
                            };
                            return Err(Error::input(
                                name,
                                format!("{at} = {size} is outside {range} ({s})"),
                            ));
                        }
                        self.symbols.insert(s.clone(), (size, at));
                    }
                },
                other => self.pending.push((name.to_string(), d, size, other)),
            }
        }
        Ok(())
    }

    fn check_pending(&self) -> Result<()> {
        let values: HashMap<String, i64> = self
            .symbols
            .iter()
            .map(|(k, (v, _))| (k.clone(), *v))
            .collect();
        for (name, d, size, expr) in &self.pending {
            if let Some(v) = expr.eval(&values) {
                if v != *size {
                    return Err(Error::input(
                        name,
                        format!(
                            "{name}.shape[{d}] = {size}, but the program computes it as {} = {v}",
                            expr.display()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Whether a given argument equals a baked one (an int for a float counts).
fn same(v: &UserValue, c: &Const) -> bool {
    match (v, c) {
        (UserValue::None, Const::None) => true,
        (UserValue::Bool(a), Const::Bool(b)) => a == b,
        (UserValue::Int(a), Const::Int(b)) => a == b,
        (UserValue::Float(a), Const::Float(b)) => a == b,
        (UserValue::Int(a), Const::Float(b)) => (*a as f64) == *b,
        (UserValue::Str(a), Const::Str(b)) => a == b,
        _ => false,
    }
}

fn show(v: &UserValue) -> String {
    match v {
        UserValue::None => "None".into(),
        UserValue::Bool(b) => if *b { "True" } else { "False" }.into(),
        UserValue::Int(n) => n.to_string(),
        UserValue::Float(x) => format!("{x:?}"),
        UserValue::Str(s) => format!("{s:?}"),
        other => format!("a {}", other.type_name()),
    }
}

/// `t` in the dtype the program declares for it, where converting is exact (int64 of small
/// integers to float32); refused, naming the argument, where it is not.
fn to_declared(name: &str, t: &Tensor, want: ScalarType) -> Result<Tensor> {
    let have = t.dtype();
    if have == want {
        return Ok(t.clone());
    }
    let converted = t.to_dtype(want)?;
    let back = converted.to_dtype(have)?;
    let a = t.inner().to_dtype(DType::F64)?;
    let b = back.inner().to_dtype(DType::F64)?;
    let differ = a.ne(&b)?.to_dtype(DType::F64)?;
    let both_nan = a
        .ne(&a)?
        .to_dtype(DType::F64)?
        .mul(&b.ne(&b)?.to_dtype(DType::F64)?)?;
    let changed = (differ - both_nan)?.sum_all()?.to_scalar::<f64>()?;
    if changed > 0.0 {
        return Err(Error::input(
            name,
            format!(
                "is {}, and the program takes {} here; converting would change {changed} \
                 value{}: give it as {}",
                have.name(),
                want.name(),
                if changed == 1.0 { "" } else { "s" },
                want.name()
            ),
        ));
    }
    Ok(converted)
}

/// The value of `arg` in a call.
fn eval(cx: &Ctx, arg: &Arg, slots: &Slots) -> Result<Value> {
    Ok(match arg {
        Arg::Const(c) => constant(c),
        Arg::Slot(s) => slot(slots, *s)?,
        Arg::List(items) => Value::list(
            items
                .iter()
                .map(|i| {
                    Ok(match i {
                        Item::Slot(s) => slot(slots, *s)?,
                        Item::None => Value::None,
                        Item::Int(n) => Value::Int(*n),
                        Item::Float(x) => Value::Float(*x),
                        Item::Bool(b) => Value::Bool(*b),
                    })
                })
                .collect::<Result<_>>()?,
        ),
        Arg::Device => Value::Device(cx.device.clone()),
    })
}

fn slot(slots: &Slots, s: usize) -> Result<Value> {
    slots
        .get(s)
        .cloned()
        .flatten()
        .ok_or_else(|| Error::Script("a value is used before the graph computes it".into()))
}

fn constant(c: &Const) -> Value {
    match c {
        Const::None => Value::None,
        Const::Bool(b) => Value::Bool(*b),
        Const::Int(n) => Value::Int(*n),
        Const::Float(x) => Value::Float(*x),
        Const::Str(s) => Value::str(s),
        Const::Ints(v) => Value::list(v.iter().map(|&n| Value::Int(n)).collect()),
        Const::Floats(v) => Value::list(v.iter().map(|&x| Value::Float(x)).collect()),
        Const::Bools(v) => Value::list(v.iter().map(|&b| Value::Bool(b)).collect()),
        Const::Strs(v) => Value::list(v.iter().map(|s| Value::str(s)).collect()),
    }
}

/// Runs one node.
fn call(cx: &Ctx, node: &Node, slots: &Slots) -> Result<Value> {
    let mut args = Vec::with_capacity(node.args.len());
    for (name, arg) in &node.args {
        args.push((name.as_str(), eval(cx, arg, slots)?));
    }
    let arg = |name: &str, i: usize| -> Result<&Value> {
        args.iter()
            .find(|(n, _)| *n == name)
            .or_else(|| args.get(i))
            .map(|(_, v)| v)
            .ok_or_else(|| Error::Script(format!("no argument `{name}`")))
    };
    match &node.target {
        Target::Op(op) => {
            let (op, bound) = match bind(&op.schema, &[], &args) {
                Ok(bound) => (*op, bound),
                // A Python number where the overload takes a Tensor (`mul.Tensor(x, 0.5)`):
                // PyTorch wraps it, which computes what the Scalar overload does.
                Err(e) => Registry::get()
                    .resolve_hinted(&op.schema.name, &[], &args, &node.hint)
                    .map_err(|_| Error::Script(format!("{}: {e}", op.schema.full_name())))?,
            };
            crate::ops::profile::call(op, || (op.f)(cx, &bound)).map_err(|e| with_op(&op.schema, e))
        }
        Target::SymSize => {
            let t = tensor(arg("self", 0)?)?;
            let dim = int(arg("dim", 1)?)?;
            let d = wrap_dim(dim, t.rank())?;
            Ok(Value::Int(t.dims()[d] as i64))
        }
        Target::SymNumel => Ok(Value::Int(tensor(arg("self", 0)?)?.elem_count() as i64)),
        Target::AssertMetadata => {
            let t = tensor(arg("a", 0)?)?;
            if let Ok(Value::Int(code)) = arg("dtype", 3) {
                let want = ScalarType::from_code(*code)
                    .ok_or_else(|| Error::Script(format!("dtype code {code}")))?;
                if t.dtype() != want {
                    return Err(Error::Script(format!(
                        "the graph asserts a tensor of {}, and it is {}",
                        want.name(),
                        t.dtype().name()
                    )));
                }
            }
            if let Ok(size @ Value::List(_)) = arg("size", 1) {
                let want: Vec<i64> = size
                    .items()
                    .unwrap_or_default()
                    .iter()
                    .map(int)
                    .collect::<Result<_>>()?;
                let got: Vec<i64> = t.dims().iter().map(|&d| d as i64).collect();
                if want != got {
                    return Err(Error::Script(format!(
                        "the graph asserts a tensor of sizes {want:?}, and it has {got:?}"
                    )));
                }
            }
            Ok(Value::None)
        }
        Target::AssertScalar => {
            let ok = match arg("self", 0)? {
                Value::Bool(b) => *b,
                Value::Int(n) => *n != 0,
                Value::Float(x) => *x != 0.0,
                other => {
                    return Err(Error::Script(format!(
                        "asserts a {}, not a bool",
                        other.type_name()
                    )))
                }
            };
            if ok {
                Ok(Value::None)
            } else {
                let msg = match arg("assert_msg", 1) {
                    Ok(Value::Str(s)) => s.to_string(),
                    _ => "a runtime assertion of the program failed".into(),
                };
                Err(Error::Script(msg))
            }
        }
        Target::ConstrainRange => {
            let v = int(arg("size", 0)?)?;
            let min = arg("min", 1).ok().and_then(|v| int(v).ok());
            let max = arg("max", 2).ok().and_then(|v| int(v).ok());
            if min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m) {
                return Err(Error::Script(format!(
                    "the value {v} is outside the range the program was exported with ({}..={})",
                    min.map_or(String::new(), |m| m.to_string()),
                    max.map_or(String::new(), |m| m.to_string())
                )));
            }
            Ok(Value::None)
        }
        Target::GetItem => {
            let items = arg("a", 0)?
                .items()
                .ok_or_else(|| Error::Script("getitem on a value that is not a list".into()))?;
            let i = int(arg("b", 1)?)?;
            let n = items.len() as i64;
            let at = if i < 0 { i + n } else { i };
            usize::try_from(at)
                .ok()
                .and_then(|at| items.get(at).cloned())
                .ok_or_else(|| Error::Script(format!("index {i} of a list of {n}")))
        }
        Target::Python(p) => {
            let values: Vec<&Value> = args.iter().map(|(_, v)| v).collect();
            python(*p, &values)
        }
        Target::Unsupported(why) => Err(Error::Script(why.clone())),
    }
}

fn tensor(v: &Value) -> Result<&Tensor> {
    v.as_tensor()
        .ok_or_else(|| Error::Script(format!("a {} where a Tensor is taken", v.type_name())))
}

fn int(v: &Value) -> Result<i64> {
    match v {
        Value::Int(n) => Ok(*n),
        Value::Bool(b) => Ok(i64::from(*b)),
        other => Err(Error::Script(format!(
            "a {} where an int is taken",
            other.type_name()
        ))),
    }
}

fn wrap_dim(dim: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let d = if dim < 0 { dim + r } else { dim };
    if (0..r).contains(&d) {
        Ok(d as usize)
    } else {
        Err(Error::Script(format!(
            "dim {dim} is out of range for a tensor of {rank} dims"
        )))
    }
}

/// A number of Python's arithmetic: an int or a float.
#[derive(Clone, Copy)]
enum Num {
    I(i64),
    F(f64),
}

fn num(v: &Value) -> Result<Num> {
    match v {
        Value::Int(n) => Ok(Num::I(*n)),
        Value::Bool(b) => Ok(Num::I(i64::from(*b))),
        Value::Float(x) => Ok(Num::F(*x)),
        other => Err(Error::Script(format!(
            "a {} where a number is taken",
            other.type_name()
        ))),
    }
}

fn f(n: Num) -> f64 {
    match n {
        Num::I(i) => i as f64,
        Num::F(x) => x,
    }
}

fn overflow() -> Error {
    Error::Script("integer overflow in the program's size arithmetic".into())
}

/// Python's operators on the graph's symbolic values.
fn python(p: Python, args: &[&Value]) -> Result<Value> {
    let one = || -> Result<Num> {
        args.first()
            .map(|v| num(v))
            .unwrap_or_else(|| Err(Error::Script("an operator without its operand".into())))
    };
    let two = || -> Result<(Num, Num)> {
        match args {
            [a, b] => Ok((num(a)?, num(b)?)),
            _ => Err(Error::Script(format!(
                "a binary operator given {} operands",
                args.len()
            ))),
        }
    };
    let int_or_float =
        |a: Num, b: Num, i: fn(i64, i64) -> Option<i64>, x: fn(f64, f64) -> f64| -> Result<Value> {
            match (a, b) {
                (Num::I(a), Num::I(b)) => i(a, b).map(Value::Int).ok_or_else(overflow),
                (a, b) => Ok(Value::Float(x(f(a), f(b)))),
            }
        };
    let compare = |op: fn(f64, f64) -> bool, iop: fn(i64, i64) -> bool| -> Result<Value> {
        let (a, b) = two()?;
        Ok(Value::Bool(match (a, b) {
            (Num::I(a), Num::I(b)) => iop(a, b),
            (a, b) => op(f(a), f(b)),
        }))
    };
    match p {
        Python::Add => {
            let (a, b) = two()?;
            int_or_float(a, b, i64::checked_add, |a, b| a + b)
        }
        Python::Sub => {
            let (a, b) = two()?;
            int_or_float(a, b, i64::checked_sub, |a, b| a - b)
        }
        Python::Mul => {
            let (a, b) = two()?;
            int_or_float(a, b, i64::checked_mul, |a, b| a * b)
        }
        Python::FloorDiv => {
            let (a, b) = two()?;
            if f(b) == 0.0 {
                return Err(Error::Script("integer division by zero".into()));
            }
            int_or_float(
                a,
                b,
                |a, b| {
                    let q = a.checked_div(b)?;
                    Some(if a % b != 0 && ((a < 0) != (b < 0)) {
                        q - 1
                    } else {
                        q
                    })
                },
                |a, b| (a / b).floor(),
            )
        }
        Python::Mod => {
            let (a, b) = two()?;
            if f(b) == 0.0 {
                return Err(Error::Script("modulo by zero".into()));
            }
            int_or_float(
                a,
                b,
                |a, b| {
                    let r = a.checked_rem(b)?;
                    Some(if r != 0 && ((r < 0) != (b < 0)) {
                        r + b
                    } else {
                        r
                    })
                },
                |a, b| a - b * (a / b).floor(),
            )
        }
        Python::TrueDiv => {
            let (a, b) = two()?;
            Ok(Value::Float(f(a) / f(b)))
        }
        Python::Pow => {
            let (a, b) = two()?;
            match (a, b) {
                (Num::I(a), Num::I(b)) if b >= 0 => u32::try_from(b)
                    .ok()
                    .and_then(|b| a.checked_pow(b))
                    .map(Value::Int)
                    .ok_or_else(overflow),
                (a, b) => Ok(Value::Float(f(a).powf(f(b)))),
            }
        }
        Python::Neg => match one()? {
            Num::I(n) => n.checked_neg().map(Value::Int).ok_or_else(overflow),
            Num::F(x) => Ok(Value::Float(-x)),
        },
        Python::Eq => compare(|a, b| a == b, |a, b| a == b),
        Python::Ne => compare(|a, b| a != b, |a, b| a != b),
        Python::Lt => compare(|a, b| a < b, |a, b| a < b),
        Python::Le => compare(|a, b| a <= b, |a, b| a <= b),
        Python::Gt => compare(|a, b| a > b, |a, b| a > b),
        Python::Ge => compare(|a, b| a >= b, |a, b| a >= b),
        Python::And | Python::Or => {
            let (a, b) = two()?;
            let (a, b) = (f(a) != 0.0, f(b) != 0.0);
            Ok(Value::Bool(if p == Python::And { a && b } else { a || b }))
        }
        Python::Not => Ok(Value::Bool(f(one()?) == 0.0)),
        Python::Max | Python::Min => {
            let (a, b) = two()?;
            let max = p == Python::Max;
            Ok(match (a, b) {
                (Num::I(a), Num::I(b)) => Value::Int(if max { a.max(b) } else { a.min(b) }),
                (a, b) => Value::Float(if max { f(a).max(f(b)) } else { f(a).min(f(b)) }),
            })
        }
        Python::ToFloat => Ok(Value::Float(f(one()?))),
        Python::ToInt | Python::Floor | Python::Ceil => match one()? {
            Num::I(n) => Ok(Value::Int(n)),
            Num::F(x) => {
                let y = match p {
                    Python::Ceil => x.ceil(),
                    Python::Floor => x.floor(),
                    _ => x.trunc(),
                };
                if y.is_finite() && y.abs() < 9.0e18 {
                    Ok(Value::Int(y as i64))
                } else {
                    Err(Error::Script(format!("{x} does not convert to an int")))
                }
            }
        },
    }
}

/// Stores a node's result in its output slots.
fn assign(node: &Node, value: Value, slots: &mut Slots) -> Result<()> {
    let mismatch = |what: &str| {
        Error::Script(format!(
            "the operator returned {what}, and the graph expects {} outputs",
            node.outputs.len()
        ))
    };
    let put_list = |items: &[Option<usize>], value: &Value, slots: &mut Slots| -> Result<()> {
        let values = value
            .items()
            .ok_or_else(|| mismatch(&format!("a {}", value.type_name())))?;
        if values.len() != items.len() {
            return Err(mismatch(&format!("a list of {}", values.len())));
        }
        for (slot, v) in items.iter().zip(values) {
            if let Some(s) = slot {
                slots[*s] = Some(v);
            }
        }
        Ok(())
    };
    match &node.outputs[..] {
        [] | [Out::Skip] => Ok(()),
        [Out::Slot(s)] => {
            slots[*s] = Some(value);
            Ok(())
        }
        [Out::List(items)] => put_list(items, &value, slots),
        outs => {
            let values = match &value {
                Value::Tuple(items) => items.to_vec(),
                other => return Err(mismatch(&format!("a {}", other.type_name()))),
            };
            if values.len() != outs.len() {
                return Err(mismatch(&format!("a tuple of {}", values.len())));
            }
            for (out, v) in outs.iter().zip(values) {
                match out {
                    Out::Slot(s) => slots[*s] = Some(v),
                    Out::List(items) => put_list(items, &v, slots)?,
                    Out::Skip => {}
                }
            }
            Ok(())
        }
    }
}

/// `forward`'s result from the user outputs, in `tree`'s structure.
fn rebuild(tree: &Tree, leaves: &mut std::vec::IntoIter<Value>) -> Value {
    match tree {
        Tree::Leaf => leaves.next().unwrap_or(Value::None),
        Tree::None => Value::None,
        Tree::Tuple(items) => Value::tuple(items.iter().map(|t| rebuild(t, leaves)).collect()),
        Tree::List(items) => Value::list(items.iter().map(|t| rebuild(t, leaves)).collect()),
        Tree::Dict(items) => Value::Dict(Rc::new(RefCell::new(
            items
                .iter()
                .map(|(k, t)| (Value::str(k), rebuild(t, leaves)))
                .collect(),
        ))),
    }
}
