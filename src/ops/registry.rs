//! The operator registry: every operator scriptless runs, keyed by its schema name with its
//! overload (`aten::add.Tensor`), each a schema and a function. A call by name
//! (`torch.add(x, 1)` in TorchScript code) is bound to the first overload, in registration
//! order, whose arguments it fits; a call by full name (a `.pt2` graph's
//! `torch.ops.aten.add.Tensor`) goes to that overload.

use std::sync::Arc;

use rustc_hash::FxHashMap as HashMap;
use std::sync::OnceLock;

use candle_core::Device;

use super::dtype::ScalarType;
use super::schema::{Schema, Ty};
use super::tensor::Tensor;
use super::value::Value;
use crate::error::{Error, Result};
use crate::limits::Limits;

/// What every operator may need besides its arguments.
pub struct Ctx<'a> {
    /// The limits every allocation is checked against.
    pub limits: &'a Limits,
    /// The device new tensors go to when the call names none.
    pub device: &'a Device,
    /// The program's constant tensors, for the work operators do once on them; `None` where
    /// an operator is called outside a program.
    pub constants: Option<&'a super::Constants>,
}

impl Ctx<'_> {
    /// Refuses an output of shape `dims` over `max_elements`, before it is allocated. `op`
    /// names the operator.
    pub fn check(&self, op: &str, dims: &[usize]) -> Result<()> {
        // Named only when refused: formatting on every call cost small models a tenth of
        // their time.
        self.limits.check_elements("", dims).map_err(|e| match e {
            Error::Limit { message, .. } => Error::Limit {
                what: format!("the output of {op}"),
                message,
            },
            other => other,
        })
    }
}

impl Ctx<'_> {
    /// Refuses a list or string of `n` items over a sixty-fourth of `max_elements` (each list
    /// item is a whole value, dozens of bytes), before it is built. `what` names it.
    pub fn check_items(&self, what: &str, n: usize) -> Result<()> {
        let max = self.limits.max_elements / 64;
        if n > max {
            return Err(Error::Limit {
                what: what.to_string(),
                message: format!(
                    "would hold {n} items, more than the limit of {max} (max_elements / 64)"
                ),
            });
        }
        Ok(())
    }
}

/// An operator's implementation: the bound arguments in schema order, defaults filled in.
pub type OpFn = fn(&Ctx, &Args) -> Result<Value>;

/// One registered overload.
pub struct Op {
    /// Its schema.
    pub schema: Schema,
    /// Its implementation.
    pub f: OpFn,
    /// Why it is refused, for an operator registered only to name what is refused (random
    /// creation): a model that can reach it is refused at load with this reason.
    pub refusal: Option<&'static str>,
}

/// Every operator, by name.
pub struct Registry {
    ops: Vec<Op>,
    by_name: HashMap<String, Vec<usize>>,
    by_full_name: HashMap<String, usize>,
}

/// What the operator families register into.
pub struct Builder {
    ops: Vec<Op>,
}

impl Builder {
    /// Registers `f` under `schema` (PyTorch's notation, namespace included). A schema that
    /// does not parse is a bug in the registry, caught by its tests.
    pub fn add(&mut self, schema: &str, f: OpFn) {
        match Schema::parse(schema) {
            Ok(schema) => self.ops.push(Op {
                schema,
                f,
                refusal: None,
            }),
            Err(e) => panic!("bad schema `{schema}`: {e}"),
        }
    }

    /// Registers an operator scriptless refuses, for `reason` (`f` returns the error a call
    /// gets); [`Registry::has`] does not count it, so a model that can reach it is refused at
    /// load, with the reason.
    pub fn refuse(&mut self, schema: &str, reason: &'static str, f: OpFn) {
        self.add(schema, f);
        if let Some(op) = self.ops.last_mut() {
            op.refusal = Some(reason);
        }
    }
}

impl Registry {
    /// The registry of every operator family.
    pub fn get() -> &'static Registry {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        REGISTRY.get_or_init(|| {
            let mut b = Builder { ops: Vec::new() };
            super::register_all(&mut b);
            let mut by_name: HashMap<String, Vec<usize>> = HashMap::default();
            let mut by_full_name = HashMap::default();
            for (i, op) in b.ops.iter().enumerate() {
                by_name.entry(op.schema.name.clone()).or_default().push(i);
                by_full_name.insert(op.schema.full_name(), i);
            }
            Registry {
                ops: b.ops,
                by_name,
                by_full_name,
            }
        })
    }

    /// Every registered overload, in registration order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Whether any overload called `name` (`aten::add`) is supported (registered, and not
    /// only to be refused).
    pub fn has(&self, name: &str) -> bool {
        self.overloads(name).any(|op| op.refusal.is_none())
    }

    /// Why `name` is refused, when every overload of it is registered only to be refused.
    pub fn refusal(&self, name: &str) -> Option<&'static str> {
        let mut overloads = self.overloads(name).peekable();
        overloads.peek()?;
        let mut reason = None;
        for op in overloads {
            reason = Some(op.refusal?);
        }
        reason
    }

    /// The overloads of `name`.
    pub fn overloads(&self, name: &str) -> impl Iterator<Item = &Op> {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .map(|&i| &self.ops[i])
    }

    /// The overload `full_name` (`aten::add.Tensor`; `aten::relu` for a default overload).
    pub fn op(&self, full_name: &str) -> Option<&Op> {
        self.by_full_name.get(full_name).map(|&i| &self.ops[i])
    }

    /// Binds a call of `name` to the first overload its arguments fit.
    pub fn resolve<K: AsRef<str>>(
        &self,
        name: &str,
        args: &[Value],
        kwargs: &[(K, Value)],
    ) -> Result<(&Op, Args)> {
        let mut tried = Vec::new();
        for op in self.overloads(name) {
            match bind(&op.schema, args, kwargs) {
                Ok(bound) => return Ok((op, bound)),
                Err(e) => tried.push(format!("{}: {e}", op.schema.full_name())),
            }
        }
        if tried.is_empty() {
            return Err(Error::Script(format!("{name} is not supported")));
        }
        let given: Vec<String> = args
            .iter()
            .map(Value::type_name)
            .chain(
                kwargs
                    .iter()
                    .map(|(k, v)| format!("{}={}", k.as_ref(), v.type_name())),
            )
            .collect();
        Err(Error::Script(format!(
            "{name} has no overload for ({}): {}",
            given.join(", "),
            tried.join("; ")
        )))
    }

    /// [`resolve`](Self::resolve), trying first the overload `hint` remembers (an index
    /// [`Self::ops`] has) and remembering the one that binds. A call site's arguments rarely
    /// change type, so this usually binds once instead of trying the overloads in turn.
    pub fn resolve_hinted<K: AsRef<str>>(
        &self,
        name: &str,
        args: &[Value],
        kwargs: &[(K, Value)],
        hint: &Hint,
    ) -> Result<(&Op, Args)> {
        if let Some(op) = self.ops.get(hint.get()) {
            if let Ok(bound) = bind(&op.schema, args, kwargs) {
                return Ok((op, bound));
            }
        }
        let (op, bound) = self.resolve(name, args, kwargs)?;
        // Ops are registered once and never move: the address gives the index.
        if let Some(i) = self.ops.iter().position(|o| std::ptr::eq(o, op)) {
            hint.set(i);
        }
        Ok((op, bound))
    }

    /// Calls `name` with `args` and `kwargs`, bound as [`resolve`](Self::resolve) binds them.
    pub fn call(
        &self,
        cx: &Ctx,
        name: &str,
        args: &[Value],
        kwargs: &[(String, Value)],
    ) -> Result<Value> {
        let (op, bound) = self.resolve(name, args, kwargs)?;
        super::profile::call(op, || (op.f)(cx, &bound)).map_err(|e| with_op(&op.schema, e))
    }
}

/// An overload index a call site remembers (see [`Registry::resolve_hinted`]); shared by the
/// threads that run the program.
#[derive(Debug)]
pub struct Hint(std::sync::atomic::AtomicUsize);

impl Default for Hint {
    fn default() -> Self {
        Self(std::sync::atomic::AtomicUsize::new(usize::MAX))
    }
}

impl Clone for Hint {
    fn clone(&self) -> Self {
        Self(std::sync::atomic::AtomicUsize::new(self.get()))
    }
}

impl Hint {
    /// The remembered index, `usize::MAX` if none.
    pub fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Remembers `index`.
    pub fn set(&self, index: usize) {
        self.0.store(index, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Names the operator in its error.
pub fn with_op(schema: &Schema, e: Error) -> Error {
    match e {
        Error::Script(m) => Error::Script(format!("{}: {m}", schema.full_name())),
        Error::Candle(c) => Error::Script(format!("{}: {c}", schema.full_name())),
        other => other,
    }
}

/// Binds positional and keyword arguments to `schema`'s, filling defaults and checking types.
pub fn bind<K: AsRef<str>>(
    schema: &Schema,
    args: &[Value],
    kwargs: &[(K, Value)],
) -> std::result::Result<Args, String> {
    if args.len() > schema.args.len() {
        return Err(format!(
            "{} arguments given, at most {} taken",
            args.len(),
            schema.args.len()
        ));
    }
    for (k, _) in kwargs {
        let k = k.as_ref();
        if !schema.args.iter().any(|a| a.name == k) {
            return Err(format!("no argument `{k}`"));
        }
    }
    let mut values = Vec::with_capacity(schema.args.len());
    for (i, arg) in schema.args.iter().enumerate() {
        let given = if i < args.len() {
            if arg.keyword_only {
                return Err(format!("`{}` is keyword-only", arg.name));
            }
            if kwargs.iter().any(|(k, _)| k.as_ref() == arg.name) {
                return Err(format!("`{}` given twice", arg.name));
            }
            Some(args[i].clone())
        } else {
            kwargs
                .iter()
                .find(|(k, _)| k.as_ref() == arg.name)
                .map(|(_, v)| v.clone())
        };
        let value = match given {
            Some(v) => v,
            None => match &arg.default {
                Some(d) => d.value(),
                None => return Err(format!("`{}` is missing", arg.name)),
            },
        };
        let value = coerce(&arg.ty, value)
            .map_err(|got| format!("`{}` takes {}, not {got}", arg.name, ty_name(&arg.ty)))?;
        values.push(value);
    }
    Ok(Args {
        names: schema.arg_names.clone(),
        values,
    })
}

/// `value` as type `ty` (an int where a float is taken, one int for an `int[N]`, a tuple for a
/// list), or the value's type name when it does not fit.
fn coerce(ty: &Ty, value: Value) -> std::result::Result<Value, String> {
    let ok = match (ty, &value) {
        (Ty::Any, _) => true,
        (Ty::Optional(_), Value::None) => true,
        (Ty::Optional(t), _) => return coerce(t, value),
        (Ty::Tensor, Value::Tensor(_)) => true,
        (Ty::Int, Value::Int(_)) => true,
        (Ty::Float, Value::Float(_)) => true,
        (Ty::Float, Value::Int(n)) => return Ok(Value::Float(*n as f64)),
        (Ty::Bool, Value::Bool(_)) => true,
        (Ty::Scalar, Value::Int(_) | Value::Float(_) | Value::Bool(_)) => true,
        (Ty::Str, Value::Str(_)) => true,
        (Ty::Code, Value::Int(_)) => true,
        (Ty::Device, Value::Device(_) | Value::Str(_)) => true,
        // A generic list (`t[]`) is the caller's own: `append` writes to it.
        (Ty::List(item, None), Value::List(_)) if **item == Ty::Any => true,
        // A 0-dim tensor where a number is taken converts, as TorchScript's implicit
        // conversion does (traced code passes `arange(0, size)` a tensor).
        (Ty::Scalar | Ty::Int | Ty::Float, Value::Tensor(t)) if t.rank() == 0 => {
            let number = if t.dtype().is_float() {
                if matches!(ty, Ty::Int) {
                    return Err(value.type_name());
                }
                t.scalar_f64().map(Value::Float)
            } else if matches!(ty, Ty::Float) {
                t.scalar_f64().map(Value::Float)
            } else if t.dtype() == super::ScalarType::Bool {
                t.scalar_f64().map(|x| Value::Bool(x != 0.0))
            } else {
                t.scalar_i64().map(Value::Int)
            };
            return number.map_err(|_| value.type_name());
        }
        (Ty::List(item, len), Value::List(_) | Value::Tuple(_)) => {
            let items = value.items().unwrap_or_default();
            let mut out = Vec::with_capacity(items.len());
            for v in items {
                out.push(coerce(item, v).map_err(|got| format!("a list holding {got}"))?);
            }
            // `int[2] kernel_size` given `[3]`: PyTorch expands a single value.
            if let (Some(n), 1) = (len, out.len()) {
                if *n > 1 {
                    let v = out[0].clone();
                    out = vec![v; *n];
                }
            }
            return Ok(Value::list(out));
        }
        (Ty::List(item, Some(n)), Value::Int(_)) if **item == Ty::Int => {
            return Ok(Value::list(vec![value.clone(); *n]));
        }
        _ => false,
    };
    if ok {
        Ok(value)
    } else {
        Err(value.type_name())
    }
}

fn ty_name(ty: &Ty) -> String {
    match ty {
        Ty::Tensor => "Tensor".into(),
        Ty::Int => "int".into(),
        Ty::Float => "float".into(),
        Ty::Bool => "bool".into(),
        Ty::Scalar => "Scalar".into(),
        Ty::Str => "str".into(),
        Ty::Code => "a dtype, layout or memory format code".into(),
        Ty::Device => "Device".into(),
        Ty::Any => "anything".into(),
        Ty::List(t, _) => format!("{}[]", ty_name(t)),
        Ty::Optional(t) => format!("{}?", ty_name(t)),
    }
}

/// A number argument (`Scalar`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    /// An int.
    Int(i64),
    /// A float.
    Float(f64),
    /// A bool.
    Bool(bool),
}

impl Scalar {
    /// Its value as f64.
    pub fn f64(self) -> f64 {
        match self {
            Scalar::Int(n) => n as f64,
            Scalar::Float(x) => x,
            Scalar::Bool(b) => b as i64 as f64,
        }
    }

    /// The tensor type PyTorch gives it alone (a wrapped number): int64, float32 (the default
    /// float type) or bool.
    pub fn dtype(self) -> ScalarType {
        match self {
            Scalar::Int(_) => ScalarType::Int64,
            Scalar::Float(_) => ScalarType::Float32,
            Scalar::Bool(_) => ScalarType::Bool,
        }
    }
}

/// The bound arguments of a call, in schema order.
#[derive(Debug, Clone)]
pub struct Args {
    names: Arc<[String]>,
    values: Vec<Value>,
}

impl Args {
    /// Arguments bound to nothing but themselves (for operators called from Rust).
    pub fn new(names: Vec<String>, values: Vec<Value>) -> Self {
        Self {
            names: names.into(),
            values,
        }
    }

    /// Arguments already bound to `schema` (what [`bind`] gave for a call like this one).
    pub(crate) fn bound(schema: &Schema, values: Vec<Value>) -> Self {
        Self {
            names: schema.arg_names.clone(),
            values,
        }
    }

    /// The values, in the schema's order.
    pub(crate) fn values(&self) -> &[Value] {
        &self.values
    }

    fn err(&self, i: usize, what: &str) -> Error {
        let name = self.names.get(i).map_or("?", String::as_str);
        let got = self
            .values
            .get(i)
            .map_or("nothing".into(), Value::type_name);
        Error::Script(format!("argument `{name}` must be {what}, not {got}"))
    }

    /// The `i`th value as bound.
    pub fn value(&self, i: usize) -> &Value {
        self.values.get(i).unwrap_or(&Value::None)
    }

    /// The number of arguments.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// A tensor argument.
    pub fn tensor(&self, i: usize) -> Result<&Tensor> {
        match self.value(i) {
            Value::Tensor(t) => Ok(t),
            _ => Err(self.err(i, "a Tensor")),
        }
    }

    /// An optional tensor argument.
    pub fn opt_tensor(&self, i: usize) -> Result<Option<&Tensor>> {
        match self.value(i) {
            Value::None => Ok(None),
            Value::Tensor(t) => Ok(Some(t)),
            _ => Err(self.err(i, "a Tensor or None")),
        }
    }

    /// An int argument.
    pub fn int(&self, i: usize) -> Result<i64> {
        match self.value(i) {
            Value::Int(n) => Ok(*n),
            _ => Err(self.err(i, "an int")),
        }
    }

    /// An optional int argument.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.value(i) {
            Value::None => Ok(None),
            Value::Int(n) => Ok(Some(*n)),
            _ => Err(self.err(i, "an int or None")),
        }
    }

    /// A float argument (an int converts).
    pub fn float(&self, i: usize) -> Result<f64> {
        match self.value(i) {
            Value::Float(x) => Ok(*x),
            Value::Int(n) => Ok(*n as f64),
            _ => Err(self.err(i, "a float")),
        }
    }

    /// An optional float argument.
    pub fn opt_float(&self, i: usize) -> Result<Option<f64>> {
        match self.value(i) {
            Value::None => Ok(None),
            _ => self.float(i).map(Some),
        }
    }

    /// A bool argument.
    pub fn bool(&self, i: usize) -> Result<bool> {
        match self.value(i) {
            Value::Bool(b) => Ok(*b),
            _ => Err(self.err(i, "a bool")),
        }
    }

    /// An optional bool argument.
    pub fn opt_bool(&self, i: usize) -> Result<Option<bool>> {
        match self.value(i) {
            Value::None => Ok(None),
            _ => self.bool(i).map(Some),
        }
    }

    /// A `Scalar` argument.
    pub fn scalar(&self, i: usize) -> Result<Scalar> {
        match self.value(i) {
            Value::Int(n) => Ok(Scalar::Int(*n)),
            Value::Float(x) => Ok(Scalar::Float(*x)),
            Value::Bool(b) => Ok(Scalar::Bool(*b)),
            _ => Err(self.err(i, "a number")),
        }
    }

    /// An optional `Scalar` argument.
    pub fn opt_scalar(&self, i: usize) -> Result<Option<Scalar>> {
        match self.value(i) {
            Value::None => Ok(None),
            _ => self.scalar(i).map(Some),
        }
    }

    /// A string argument.
    pub fn str(&self, i: usize) -> Result<&str> {
        match self.value(i) {
            Value::Str(s) => Ok(s),
            _ => Err(self.err(i, "a str")),
        }
    }

    /// An `int[]` argument.
    pub fn ints(&self, i: usize) -> Result<Vec<i64>> {
        let items = self
            .value(i)
            .items()
            .ok_or_else(|| self.err(i, "a list of ints"))?;
        items
            .iter()
            .map(|v| match v {
                Value::Int(n) => Ok(*n),
                _ => Err(self.err(i, "a list of ints")),
            })
            .collect()
    }

    /// An optional `int[]` argument.
    pub fn opt_ints(&self, i: usize) -> Result<Option<Vec<i64>>> {
        match self.value(i) {
            Value::None => Ok(None),
            _ => self.ints(i).map(Some),
        }
    }

    /// A `float[]` argument.
    pub fn floats(&self, i: usize) -> Result<Vec<f64>> {
        let items = self
            .value(i)
            .items()
            .ok_or_else(|| self.err(i, "a list of floats"))?;
        items
            .iter()
            .map(|v| match v {
                Value::Float(x) => Ok(*x),
                Value::Int(n) => Ok(*n as f64),
                _ => Err(self.err(i, "a list of floats")),
            })
            .collect()
    }

    /// A `Tensor[]` argument.
    pub fn tensors(&self, i: usize) -> Result<Vec<Tensor>> {
        let items = self
            .value(i)
            .items()
            .ok_or_else(|| self.err(i, "a list of tensors"))?;
        items
            .into_iter()
            .map(|v| match v {
                Value::Tensor(t) => Ok(t),
                _ => Err(self.err(i, "a list of tensors")),
            })
            .collect()
    }

    /// A `Tensor?[]` argument (`index`'s indices).
    pub fn opt_tensors(&self, i: usize) -> Result<Vec<Option<Tensor>>> {
        let items = self
            .value(i)
            .items()
            .ok_or_else(|| self.err(i, "a list of tensors"))?;
        items
            .into_iter()
            .map(|v| match v {
                Value::Tensor(t) => Ok(Some(t)),
                Value::None => Ok(None),
                _ => Err(self.err(i, "a list of tensors or None")),
            })
            .collect()
    }

    /// An optional `ScalarType` argument.
    pub fn opt_dtype(&self, i: usize) -> Result<Option<ScalarType>> {
        match self.value(i) {
            Value::None => Ok(None),
            Value::Int(code) => ScalarType::from_code(*code)
                .map(Some)
                .ok_or_else(|| Error::Script(format!("dtype code {code} is not supported"))),
            _ => Err(self.err(i, "a dtype")),
        }
    }

    /// An optional `Device` argument.
    pub fn opt_device(&self, i: usize) -> Result<Option<Device>> {
        match self.value(i) {
            Value::None => Ok(None),
            Value::Device(d) => Ok(Some(d.clone())),
            Value::Str(s) => crate::device::parse_device(s).map(Some),
            _ => Err(self.err(i, "a device")),
        }
    }
}

impl Registry {
    /// The supported-operator list of the guide (`docs/operators.md`): every overload's schema,
    /// sorted by name, as markdown.
    pub fn markdown(&self) -> String {
        let mut schemas: Vec<&Schema> = self
            .ops
            .iter()
            .filter(|o| o.refusal.is_none())
            .map(|o| &o.schema)
            .collect();
        // Stable: within a name, the order calls try the overloads in.
        schemas.sort_by(|a, b| a.name.cmp(&b.name));
        let mut names: Vec<&str> = schemas.iter().map(|s| s.name.as_str()).collect();
        names.dedup();
        let mut out = String::new();
        out.push_str("# Supported operators\n\n");
        out.push_str(
            "Generated from the operator registry (`src/ops/`) by `cargo test --release --test \
             operators_doc` with `SCRIPTLESS_BLESS=1`; the same test, without it, fails when this \
             page and the registry differ. Each schema is PyTorch's own \
             (`native_functions.yaml`); a call by name is bound to the first overload, in the \
             order below within a name, that its arguments fit.\n\n",
        );
        out.push_str(&format!(
            "{} operators, {} overloads.\n\n| operator | schema |\n|---|---|\n",
            names.len(),
            schemas.len()
        ));
        for s in &schemas {
            let text = s.text.replace('|', "\\|");
            out.push_str(&format!("| `{}` | `{}` |\n", s.full_name(), text));
        }
        let mut refused: Vec<(&str, &str)> = self
            .ops
            .iter()
            .filter_map(|o| Some((o.schema.name.as_str(), o.refusal?)))
            .collect();
        refused.sort();
        refused.dedup();
        out.push_str(
            "\n## Refused by name\n\nA model whose code can reach one of these is refused at load, \
             with the reason.\n\n| operator | why |\n|---|---|\n",
        );
        for (name, reason) in refused {
            out.push_str(&format!("| `{name}` | {reason} |\n"));
        }
        out
    }
}
