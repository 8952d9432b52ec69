//! The evaluator: runs a function's statements on [`Value`]s, calling operators through the
//! registry, methods and functions of the archive's code, and the few builtins of TorchScript's
//! language (`builtins`). Every statement and loop turn spends a step of a budget, every call a
//! level of a depth limit, so that no code can hang or exhaust the machine.

use rustc_hash::FxHashMap as HashMap;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::ast::{dotted, BinOp, BoolOp, CmpOp, Expr, Function, Stmt, StmtKind, Target, UnaryOp};
use super::code::Code;
use super::trace::{Read, Recorder};
use crate::error::{Error, Result};
use crate::ops::{with_op, Args, Ctx, Object, Op, Registry, Value};

/// How a block ended.
pub(crate) enum Flow {
    Normal,
    Return(Value),
    Break,
    Continue,
}

/// The limits on one call of a model.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub steps: u64,
    pub depth: usize,
}

/// One call's interpreter state.
pub(crate) struct Interp<'a> {
    pub code: &'a Code,
    pub constants: Vec<Value>,
    pub cx: Ctx<'a>,
    pub registry: &'static Registry,
    /// Records the call's operators for a trace, where one is being made.
    pub recorder: Option<Recorder>,
    steps_left: u64,
    max_steps: u64,
    depth: usize,
    max_depth: usize,
}

/// A function's local variables and where it is.
pub(crate) struct Frame {
    vars: HashMap<String, Value>,
    pub file: Arc<str>,
}

impl Frame {
    /// Whether `name` is a local variable.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.vars.contains_key(name)
    }

    /// A frame with no variables, in `file`.
    pub(crate) fn empty(file: Arc<str>) -> Self {
        Self {
            vars: HashMap::default(),
            file,
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.vars.get(name)
    }
}

/// Adds the place in the code to an error that has none yet.
pub(crate) fn at(file: &str, line: usize, e: Error) -> Error {
    match e {
        Error::Script(m) if m.starts_with("code/") => Error::Script(m),
        Error::Script(m) => Error::Script(format!("{file}:{line}: {m}")),
        Error::Candle(c) => Error::Script(format!("{file}:{line}: {c}")),
        Error::Raised {
            place,
            class,
            message,
        } if place.is_empty() => Error::Raised {
            place: format!("{file}:{line}"),
            class,
            message,
        },
        Error::Limit { what, message } => Error::Limit {
            what: format!("{file}:{line}: {what}"),
            message,
        },
        other => other,
    }
}

pub(crate) fn script_err(message: impl Into<String>) -> Error {
    Error::Script(message.into())
}

impl<'a> Interp<'a> {
    pub(crate) fn new(code: &'a Code, constants: Vec<Value>, cx: Ctx<'a>, budget: Budget) -> Self {
        Self {
            code,
            constants,
            cx,
            registry: Registry::get(),
            recorder: None,
            steps_left: budget.steps,
            max_steps: budget.steps,
            depth: 0,
            max_depth: budget.depth,
        }
    }

    fn step(&mut self) -> Result<()> {
        self.steps_left = self.steps_left.checked_sub(1).ok_or_else(|| {
            script_err(format!(
                "the model ran over {} steps (statements and loop turns); raise max_steps \
                 (--max-steps) if it is meant to",
                self.max_steps
            ))
        })?;
        Ok(())
    }

    /// Calls `function` (of file `file`) with `args` and `kwargs`, `self` among `args` for a
    /// method.
    pub(crate) fn call_function(
        &mut self,
        function: &Function,
        file: &Arc<str>,
        args: Vec<Value>,
        kwargs: Vec<(String, Value)>,
    ) -> Result<Value> {
        if self.depth >= self.max_depth {
            return Err(script_err(format!(
                "calls nest deeper than {} (TorchScript has no recursion); raise max_depth \
                 (--max-depth) if the model is meant to",
                self.max_depth
            )));
        }
        let mut frame = Frame {
            // Room for a typical function's locals without growing.
            vars: HashMap::with_capacity_and_hasher(16, Default::default()),
            file: file.clone(),
        };
        if args.len() > function.params.len() {
            return Err(script_err(format!(
                "{}:{}: {}() takes {} arguments but {} were given",
                file,
                function.line,
                function.name,
                function.params.len(),
                args.len()
            )));
        }
        let mut args = args.into_iter();
        for param in &function.params {
            let value = match args.next() {
                Some(v) => v,
                None => match kwargs.iter().find(|(k, _)| *k == param.name) {
                    Some((_, v)) => v.clone(),
                    None => match &param.default {
                        Some(d) => {
                            let mut empty = Frame::empty(file.clone());
                            self.eval(d, &mut empty)?
                        }
                        None => {
                            return Err(script_err(format!(
                                "{}:{}: {}() is missing the argument `{}`",
                                file, function.line, function.name, param.name
                            )))
                        }
                    },
                },
            };
            frame.vars.insert(param.name.clone(), value);
        }
        self.depth += 1;
        let flow = self.exec_block(&function.body, &mut frame);
        self.depth -= 1;
        match flow? {
            Flow::Return(v) => Ok(v),
            _ => Ok(Value::None),
        }
    }

    fn exec_block(&mut self, body: &[Stmt], frame: &mut Frame) -> Result<Flow> {
        for stmt in body {
            let flow = self
                .exec(stmt, frame)
                .map_err(|e| at(&frame.file, stmt.line, e))?;
            if !matches!(flow, Flow::Normal) {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    /// Runs a statement, on a fresh stack segment when this one is nearly spent.
    fn exec(&mut self, stmt: &Stmt, frame: &mut Frame) -> Result<Flow> {
        super::stack::guarded(|| self.exec_here(stmt, frame))
    }

    fn exec_here(&mut self, stmt: &Stmt, frame: &mut Frame) -> Result<Flow> {
        self.step()?;
        match &stmt.kind {
            StmtKind::Assign { target, value } => {
                let v = self.eval(value, frame)?;
                self.assign(target, v, frame)?;
            }
            StmtKind::AugAssign { target, op, value } => {
                let current = match target {
                    Target::Name(n) => self.eval(&Expr::Name(n.clone()), frame)?,
                    Target::Attr(o, n) => {
                        self.eval(&Expr::Attr(Box::new(o.clone()), n.clone()), frame)?
                    }
                    Target::Subscript(o, i) => self.eval(
                        &Expr::Subscript(Box::new(o.clone()), Box::new(i.clone())),
                        frame,
                    )?,
                    Target::Tuple(_) => return Err(script_err("augmented assignment to a tuple")),
                };
                let rhs = self.eval(value, frame)?;
                let v = self.binary(*op, current, rhs)?;
                self.assign(target, v, frame)?;
            }
            StmtKind::Expr(e) => {
                self.eval(e, frame)?;
            }
            StmtKind::If { test, body, orelse } => {
                let c = self.eval(test, frame)?;
                let block = if self.truth(&c)? { body } else { orelse };
                return self.exec_block(block, frame);
            }
            StmtKind::While { test, body } => loop {
                self.step()?;
                let c = self.eval(test, frame)?;
                if !self.truth(&c)? {
                    break;
                }
                match self.exec_block(body, frame)? {
                    Flow::Break => break,
                    Flow::Return(v) => return Ok(Flow::Return(v)),
                    _ => {}
                }
            },
            StmtKind::For { target, iter, body } => {
                let it = self.eval(iter, frame)?;
                let mut items = self.iterate(it)?;
                while let Some(item) = items.next(self)? {
                    self.step()?;
                    self.assign(target, item, frame)?;
                    match self.exec_block(body, frame)? {
                        Flow::Break => break,
                        Flow::Return(v) => return Ok(Flow::Return(v)),
                        _ => {}
                    }
                }
            }
            StmtKind::Return(e) => {
                let v = match e {
                    Some(e) => self.eval(e, frame)?,
                    None => Value::None,
                };
                return Ok(Flow::Return(v));
            }
            StmtKind::Break => return Ok(Flow::Break),
            StmtKind::Continue => return Ok(Flow::Continue),
            StmtKind::Pass => {}
            StmtKind::Raise(e) => {
                let message = match e {
                    Some(e) => {
                        let v = self.eval(e, frame)?;
                        super::builtins::display(&v)
                    }
                    None => "Exception".into(),
                };
                return Err(Error::raised("Exception", message));
            }
            StmtKind::Assert { test, msg } => {
                let c = self.eval(test, frame)?;
                if !self.truth(&c)? {
                    let message = match msg {
                        Some(m) => {
                            let v = self.eval(m, frame)?;
                            super::builtins::display(&v)
                        }
                        None => String::new(),
                    };
                    return Err(Error::raised("AssertionError", message));
                }
            }
            StmtKind::With { item, target, body } => {
                // Context managers the printer writes (`torch.no_grad()`) change nothing in
                // inference; a class of the code gets its `__enter__` and `__exit__` called.
                let manager = self.eval(item, frame)?;
                let entered = match &manager {
                    Value::Object(o)
                        if self.code.method(&o.borrow().class, "__enter__").is_some() =>
                    {
                        super::calls::call_method(
                            self,
                            manager.clone(),
                            "__enter__",
                            Vec::new(),
                            Vec::new(),
                        )?
                    }
                    _ => manager.clone(),
                };
                if let Some(t) = target {
                    self.assign(t, entered, frame)?;
                }
                let flow = self.exec_block(body, frame)?;
                if let Value::Object(o) = &manager {
                    if self.code.method(&o.borrow().class, "__exit__").is_some() {
                        let none = vec![Value::None, Value::None, Value::None];
                        super::calls::call_method(
                            self,
                            manager.clone(),
                            "__exit__",
                            none,
                            Vec::new(),
                        )?;
                    }
                }
                return Ok(flow);
            }
            StmtKind::Def(f) => {
                return Err(script_err(format!(
                    "a function defined inside a function (`def {}`, what torch.jit.fork \
                     prints) is not supported",
                    f.name
                )))
            }
            StmtKind::Del(targets) => {
                for t in targets {
                    match t {
                        Target::Name(n) => {
                            frame.vars.remove(n);
                        }
                        Target::Subscript(o, i) => {
                            let container = self.eval(o, frame)?;
                            let index = self.eval(i, frame)?;
                            super::builtins::delete_item(&container, &index)?;
                        }
                        _ => return Err(script_err("`del` of an attribute or a tuple")),
                    }
                }
            }
        }
        Ok(Flow::Normal)
    }

    /// Stores `v` in `target`, unpacking tuples.
    pub(crate) fn assign(&mut self, target: &Target, v: Value, frame: &mut Frame) -> Result<()> {
        match target {
            Target::Name(n) => {
                frame.vars.insert(n.clone(), v);
            }
            Target::Attr(o, name) => match self.eval(o, frame)? {
                Value::Object(obj) => obj.borrow_mut().set(name, v),
                other => {
                    return Err(script_err(format!(
                        "cannot set attribute `{name}` of a {}",
                        other.type_name()
                    )))
                }
            },
            Target::Subscript(o, i) => {
                let container = self.eval(o, frame)?;
                let index = self.eval(i, frame)?;
                super::builtins::set_item(self, &container, index, v)?;
            }
            Target::Tuple(targets) => {
                let items = super::builtins::unpack(&v, targets.len())?;
                for (t, item) in targets.iter().zip(items) {
                    self.assign(t, item, frame)?;
                }
            }
        }
        Ok(())
    }

    /// Python's truth of a condition (a one-element tensor's value too).
    pub(crate) fn truth(&mut self, v: &Value) -> Result<bool> {
        Ok(match v {
            Value::Bool(b) => *b,
            Value::Int(n) => *n != 0,
            Value::Float(x) => *x != 0.0,
            Value::None => false,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.borrow().is_empty(),
            Value::Tuple(t) => !t.is_empty(),
            Value::Dict(d) => !d.borrow().is_empty(),
            Value::Tensor(t) => {
                if t.elem_count() != 1 {
                    return Err(script_err(format!(
                        "Boolean value of Tensor with more than one value is ambiguous (shape \
                         {:?})",
                        t.dims()
                    )));
                }
                let truth = t.scalar_f64()? != 0.0;
                self.read(t, Read::Truth(truth));
                truth
            }
            Value::Object(_) | Value::Device(_) | Value::Function(..) => true,
        })
    }

    /// Evaluates an expression, on a fresh stack segment when this one is nearly spent.
    pub(crate) fn eval(&mut self, e: &Expr, frame: &mut Frame) -> Result<Value> {
        super::stack::guarded(|| self.eval_here(e, frame))
    }

    fn eval_here(&mut self, e: &Expr, frame: &mut Frame) -> Result<Value> {
        Ok(match e {
            Expr::Int(n) => Value::Int(*n),
            Expr::Float(x) => Value::Float(*x),
            Expr::Bool(b) => Value::Bool(*b),
            Expr::Str(s) => Value::Str(s.as_str().into()),
            Expr::None => Value::None,
            Expr::Ellipsis => Value::Str("...".into()),
            Expr::Name(n) => match frame.get(n) {
                Some(v) => v.clone(),
                None => self.global(n)?,
            },
            Expr::Attr(base, name) => {
                // `self.fc` reads a local's attribute; `torch.float32` names a global.
                if root_name(e).is_some_and(|root| !frame.has(root)) {
                    if let Some(path) = dotted(e) {
                        return self.global(&path);
                    }
                }
                let v = self.eval(base, frame)?;
                self.attribute(&v, name)?
            }
            Expr::Call {
                func,
                args,
                kwargs,
                site,
            } => {
                // The builtins that take a type, which is not a value.
                if let Expr::Name(n) = &**func {
                    if !frame.vars.contains_key(n) {
                        match (n.as_str(), &args[..]) {
                            ("annotate" | "unchecked_cast", [ty, value]) => {
                                let v = self.eval(value, frame)?;
                                // `annotate(int, t)` of a tensor is its value (TorchScript's
                                // implicit conversion in `[1, annotate(int, n), 20]`).
                                return match (ty, v) {
                                    (Expr::Name(t), Value::Tensor(x)) if t == "int" => {
                                        let n = x.scalar_i64()?;
                                        self.read(&x, Read::Int(n));
                                        Ok(Value::Int(n))
                                    }
                                    (Expr::Name(t), Value::Tensor(x)) if t == "float" => {
                                        let f = x.scalar_f64()?;
                                        self.read(&x, Read::Float(f.to_bits()));
                                        Ok(Value::Float(f))
                                    }
                                    (_, v) => Ok(v),
                                };
                            }
                            ("uninitialized", [_]) => return Ok(Value::None),
                            ("isinstance", [value, ty]) => {
                                let v = self.eval(value, frame)?;
                                return Ok(Value::Bool(super::builtins::isinstance(&v, ty)));
                            }
                            _ => {}
                        }
                    }
                }
                let mut values = Vec::with_capacity(args.len());
                for a in args {
                    values.push(self.eval(a, frame)?);
                }
                let mut named = Vec::with_capacity(kwargs.len());
                for (k, a) in kwargs {
                    named.push((k.clone(), self.eval(a, frame)?));
                }
                return super::calls::call(self, func, site, args, values, named, frame);
            }
            Expr::Subscript(base, index) => {
                let v = self.eval(base, frame)?;
                let i = match &**index {
                    Expr::Tuple(items) => {
                        let mut out = Vec::with_capacity(items.len());
                        for item in items {
                            out.push(self.index_item(item, frame)?);
                        }
                        super::builtins::Index::Many(out)
                    }
                    other => super::builtins::Index::One(self.index_item(other, frame)?),
                };
                super::builtins::subscript(self, v, i)?
            }
            Expr::Slice(..) => return Err(script_err("a slice outside a subscript")),
            Expr::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.eval(i, frame)?);
                }
                Value::list(out)
            }
            Expr::Tuple(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.eval(i, frame)?);
                }
                Value::tuple(out)
            }
            Expr::Dict(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (k, v) in items {
                    let k = self.eval(k, frame)?;
                    let v = self.eval(v, frame)?;
                    super::builtins::dict_insert(&mut out, k, v)?;
                }
                Value::Dict(Rc::new(RefCell::new(out)))
            }
            Expr::Unary(op, x) => {
                let v = self.eval(x, frame)?;
                match op {
                    UnaryOp::Not => Value::Bool(!self.truth(&v)?),
                    UnaryOp::Pos => v,
                    UnaryOp::Neg => self.op("aten::neg", vec![v])?,
                    UnaryOp::Invert => self.op("aten::bitwise_not", vec![v])?,
                }
            }
            Expr::Binary(op, a, b) => {
                let a = self.eval(a, frame)?;
                let b = self.eval(b, frame)?;
                self.binary(*op, a, b)?
            }
            Expr::Compare(op, a, b) => {
                let a = self.eval(a, frame)?;
                let b = self.eval(b, frame)?;
                self.compare(*op, a, b)?
            }
            Expr::BoolOp(op, a, b) => {
                let a = self.eval(a, frame)?;
                let t = self.truth(&a)?;
                match (op, t) {
                    (BoolOp::And, false) | (BoolOp::Or, true) => a,
                    _ => self.eval(b, frame)?,
                }
            }
            Expr::IfExp { test, body, orelse } => {
                let c = self.eval(test, frame)?;
                if self.truth(&c)? {
                    self.eval(body, frame)?
                } else {
                    self.eval(orelse, frame)?
                }
            }
        })
    }

    fn index_item(&mut self, e: &Expr, frame: &mut Frame) -> Result<super::builtins::Item> {
        use super::builtins::Item;
        Ok(match e {
            Expr::Slice(a, b, c) => {
                let mut part = |x: &Option<Box<Expr>>, me: &mut Self| -> Result<Option<Value>> {
                    match x {
                        Some(x) => me.eval(x, frame).map(Some),
                        None => Ok(None),
                    }
                };
                let a = part(a, self)?;
                let b = part(b, self)?;
                let c = part(c, self)?;
                Item::Slice(a, b, c)
            }
            Expr::Ellipsis => Item::Ellipsis,
            Expr::None => Item::NewAxis,
            other => Item::Value(self.eval(other, frame)?),
        })
    }

    /// A name that is not a local: `CONSTANTS.c0`, a function or class of the code, or a
    /// namespace (`torch`, `ops.prim`) as a function value.
    fn global(&mut self, path: &str) -> Result<Value> {
        if let Some(c) = path.strip_prefix("CONSTANTS.c") {
            let i: usize = c
                .parse()
                .map_err(|_| script_err(format!("`{path}` is not a constant")))?;
            return self.constants.get(i).cloned().ok_or_else(|| {
                script_err(format!(
                    "`{path}`: constants.pkl has {} values",
                    self.constants.len()
                ))
            });
        }
        match path {
            "inf" => return Ok(Value::Float(f64::INFINITY)),
            "nan" => return Ok(Value::Float(f64::NAN)),
            "math.pi" => return Ok(Value::Float(std::f64::consts::PI)),
            "math.e" => return Ok(Value::Float(std::f64::consts::E)),
            "math.inf" => return Ok(Value::Float(f64::INFINITY)),
            "math.nan" => return Ok(Value::Float(f64::NAN)),
            _ => {}
        }
        if let Some(n) = path.strip_prefix("torch.") {
            if let Some(code) = super::builtins::dtype_name(n) {
                return Ok(Value::Int(code));
            }
        }
        if self.code.functions.contains_key(path) || self.code.classes.contains_key(path) {
            return Ok(Value::Function(path.into(), None));
        }
        if path.starts_with("torch.") || path.starts_with("ops.") || path.starts_with("math.") {
            return Ok(Value::Function(path.into(), None));
        }
        Err(script_err(format!("`{path}` is not defined")))
    }

    /// `value.name`: an object's attribute, its class's constant, or a bound method.
    pub(crate) fn attribute(&mut self, v: &Value, name: &str) -> Result<Value> {
        match v {
            Value::Object(o) => {
                if let Some(x) = o.borrow().get(name) {
                    return Ok(x.clone());
                }
                let class = o.borrow().class.clone();
                if let Some(c) = self.code.classes.get(&*class) {
                    if let Some(a) = c.item.attributes.iter().find(|a| a.name == name) {
                        if let Some(value) = &a.value {
                            let mut empty = Frame::empty(c.file.clone());
                            return self.eval(value, &mut empty);
                        }
                    }
                    if c.item.methods.iter().any(|m| m.name == name) {
                        return Ok(Value::Function(name.into(), Some(o.clone())));
                    }
                }
                Err(script_err(format!("`{class}` has no attribute `{name}`")))
            }
            Value::Tensor(t) => super::builtins::tensor_attribute(self, t, name),
            Value::Device(d) => match name {
                "type" => Ok(Value::str(super::builtins::device_type(d))),
                "index" => Ok(match d {
                    candle_core::Device::Cpu => Value::None,
                    _ => Value::Int(0),
                }),
                _ => Err(script_err(format!("a Device has no attribute `{name}`"))),
            },
            other => Err(script_err(format!(
                "a {} has no attribute `{name}`",
                other.type_name()
            ))),
        }
    }

    /// Calls operator `name` with positional arguments.
    pub(crate) fn op(&mut self, name: &str, args: Vec<Value>) -> Result<Value> {
        let none: &[(String, Value)] = &[];
        let (op, bound) = self.registry.resolve(name, &args, none)?;
        self.invoke(op, &bound, &args, none)
    }

    /// Runs `op` on `bound` (`args` and `kwargs` bound to its schema), for the recorder too.
    pub(crate) fn invoke<K: AsRef<str>>(
        &mut self,
        op: &'static Op,
        bound: &Args,
        args: &[Value],
        kwargs: &[(K, Value)],
    ) -> Result<Value> {
        let before = match &mut self.recorder {
            Some(r) => r.before(bound, args, kwargs),
            None => None,
        };
        let out = crate::ops::profile::call(op, || (op.f)(&self.cx, bound))
            .map_err(|e| with_op(&op.schema, e))?;
        if let Some(r) = &mut self.recorder {
            r.after(op, before, bound, args, kwargs, &out);
        }
        Ok(out)
    }

    /// Notes, for the recorder, that the code made tensor `t` from numbers alone.
    pub(crate) fn made(&mut self, t: &crate::ops::Tensor) {
        if let Some(r) = &mut self.recorder {
            r.made(t);
        }
    }

    /// Notes, for the recorder, that the code read `read` from `t`'s data.
    pub(crate) fn read(&mut self, t: &crate::ops::Tensor, read: Read) {
        if let Some(r) = &mut self.recorder {
            r.read(t, read);
        }
    }

    /// `a op b`.
    pub(crate) fn binary(&mut self, op: BinOp, a: Value, b: Value) -> Result<Value> {
        // Python's sequence operators, which no operator schema covers.
        match (op, &a, &b) {
            (BinOp::Add, Value::List(x), Value::List(y)) => {
                let mut out = x.borrow().clone();
                out.extend(y.borrow().iter().cloned());
                super::builtins::check_len(self, out.len())?;
                return Ok(Value::list(out));
            }
            (BinOp::Add, Value::Tuple(x), Value::Tuple(y)) => {
                let mut out = x.to_vec();
                out.extend(y.iter().cloned());
                return Ok(Value::tuple(out));
            }
            (BinOp::Add, Value::Str(x), Value::Str(y)) => {
                super::builtins::check_len(self, x.len() + y.len())?;
                return Ok(Value::Str(format!("{x}{y}").into()));
            }
            _ => {}
        }
        let scalar_left = !matches!(a, Value::Tensor(_)) && matches!(b, Value::Tensor(_));
        let name = match op {
            BinOp::Add => "aten::add",
            BinOp::Sub => "aten::sub",
            BinOp::Mul => "aten::mul",
            BinOp::Div => "aten::div",
            BinOp::FloorDiv => "aten::floordiv",
            BinOp::Mod => "aten::remainder",
            BinOp::Pow => "aten::pow",
            BinOp::MatMul => "aten::matmul",
            BinOp::BitAnd => "aten::__and__",
            BinOp::BitOr => "aten::__or__",
            BinOp::BitXor => "aten::__xor__",
            BinOp::Shl => "aten::__lshift__",
            BinOp::Shr => "aten::__rshift__",
        };
        if scalar_left {
            // `2 * x`, `1 - x`: Python's reflected operators.
            return match op {
                BinOp::Add | BinOp::Mul | BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor => {
                    self.op(name, vec![b, a])
                }
                BinOp::Sub => self.op("aten::rsub", vec![b, a]),
                BinOp::Div => {
                    let r = self.op("aten::reciprocal", vec![b])?;
                    self.op("aten::mul", vec![r, a])
                }
                BinOp::Pow => self.op("aten::pow", vec![a, b]),
                _ => Err(script_err(format!(
                    "{op:?} of a {} and a Tensor is not supported",
                    a.type_name()
                ))),
            };
        }
        let name = if op == BinOp::FloorDiv && matches!(a, Value::Tensor(_)) {
            "aten::floor_divide"
        } else {
            name
        };
        self.op(name, vec![a, b])
    }

    /// `a op b` for comparisons.
    pub(crate) fn compare(&mut self, op: CmpOp, a: Value, b: Value) -> Result<Value> {
        let name = match op {
            CmpOp::Is => return Ok(Value::Bool(a.is(&b))),
            CmpOp::IsNot => return Ok(Value::Bool(!a.is(&b))),
            CmpOp::In => return super::builtins::contains(self, &b, &a).map(Value::Bool),
            CmpOp::NotIn => {
                return super::builtins::contains(self, &b, &a).map(|c| Value::Bool(!c))
            }
            CmpOp::Eq => "aten::eq",
            CmpOp::Ne => "aten::ne",
            CmpOp::Lt => "aten::lt",
            CmpOp::Le => "aten::le",
            CmpOp::Gt => "aten::gt",
            CmpOp::Ge => "aten::ge",
        };
        if !matches!(a, Value::Tensor(_)) && matches!(b, Value::Tensor(_)) {
            let flipped = match op {
                CmpOp::Lt => "aten::gt",
                CmpOp::Le => "aten::ge",
                CmpOp::Gt => "aten::lt",
                CmpOp::Ge => "aten::le",
                _ => name,
            };
            return self.op(flipped, vec![b, a]);
        }
        self.op(name, vec![a, b])
    }

    /// An iterator over a `for` loop's value.
    fn iterate(&mut self, v: Value) -> Result<Iter> {
        Ok(match v {
            Value::List(l) => Iter::Items(l.borrow().clone().into_iter()),
            Value::Tuple(t) => Iter::Items(t.iter().cloned().collect::<Vec<_>>().into_iter()),
            Value::Dict(d) => Iter::Items(
                d.borrow()
                    .iter()
                    .map(|(k, _)| k.clone())
                    .collect::<Vec<_>>()
                    .into_iter(),
            ),
            Value::Str(s) => Iter::Items(
                s.chars()
                    .map(|c| Value::Str(c.to_string().into()))
                    .collect::<Vec<_>>()
                    .into_iter(),
            ),
            Value::Tensor(t) => {
                if t.rank() == 0 {
                    return Err(script_err("iteration over a 0-d tensor"));
                }
                Iter::Tensor(t, 0)
            }
            Value::Object(o) if &*o.borrow().class == super::builtins::RANGE => {
                let o = o.borrow();
                let get = |n: &str| match o.get(n) {
                    Some(Value::Int(x)) => *x,
                    _ => 0,
                };
                Iter::Range {
                    next: get("start"),
                    stop: get("stop"),
                    step: get("step"),
                }
            }
            other => {
                return Err(script_err(format!(
                    "a {} cannot be iterated over",
                    other.type_name()
                )))
            }
        })
    }
}

/// What a `for` loop walks.
enum Iter {
    Items(std::vec::IntoIter<Value>),
    Range { next: i64, stop: i64, step: i64 },
    Tensor(crate::ops::Tensor, usize),
}

impl Iter {
    fn next(&mut self, interp: &mut Interp) -> Result<Option<Value>> {
        Ok(match self {
            Iter::Items(it) => it.next(),
            Iter::Range { next, stop, step } => {
                let more = if *step > 0 {
                    *next < *stop
                } else {
                    *next > *stop
                };
                if !more {
                    return Ok(None);
                }
                let v = *next;
                *next = next.saturating_add(*step);
                if *next == v {
                    *next = *stop; // saturated: stop after this turn
                }
                Some(Value::Int(v))
            }
            Iter::Tensor(t, i) => {
                if *i >= t.dims()[0] {
                    return Ok(None);
                }
                let v = interp.op(
                    "aten::select",
                    vec![
                        Value::Tensor(t.clone()),
                        Value::Int(0),
                        Value::Int(*i as i64),
                    ],
                )?;
                *i += 1;
                Some(v)
            }
        })
    }
}

/// The name a chain of attributes starts at: `self` for `self.fc.weight`.
fn root_name(e: &Expr) -> Option<&str> {
    match e {
        Expr::Name(n) => Some(n),
        Expr::Attr(base, _) => root_name(base),
        _ => None,
    }
}

/// A new object of class `class` with `fields`.
pub(crate) fn object(class: &str, fields: Vec<(Rc<str>, Value)>) -> Value {
    Value::Object(Rc::new(RefCell::new(Object {
        class: class.into(),
        fields,
    })))
}
