//! Which operators a program can reach, found at load: `forward` is walked with what is
//! constant at load folded (literals, module attributes that are not tensors, `Final`
//! constants, `self.training` (False), `torch.is_grad_enabled()` (False),
//! `torch.jit.is_scripting()` (True), and the constant arguments a call passes on), so that a
//! branch that cannot run (the modes `F.interpolate` carries that a constant `mode` never
//! reaches) does not count. An unsupported operator on a path that can still run refuses the
//! program at load, naming the operator and the code line.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::ast::dotted;
use super::ast::{BoolOp, CmpOp, Expr, Function, Stmt, StmtKind, Target, UnaryOp};
use super::calls::operator_name;
use super::code::Code;
use super::walk::is_builtin;
use crate::ops::Registry;
use crate::pytorch::script_archive::Obj;

/// The most function analyses one load runs; past it, the rest of the code is taken as
/// reachable without folding.
const MAX_ANALYSES: usize = 10_000;
/// The deepest calls are followed.
const MAX_DEPTH: usize = 100;

/// What is known of a value at load.
#[derive(Debug, Clone)]
enum Abs<'o> {
    Unknown,
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A module of the tree.
    Module(&'o Obj),
    /// A function of the code, by qualified name.
    Function(String),
}

impl PartialEq for Abs<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Abs::Unknown, Abs::Unknown) | (Abs::None, Abs::None) => true,
            (Abs::Bool(a), Abs::Bool(b)) => a == b,
            (Abs::Int(a), Abs::Int(b)) => a == b,
            (Abs::Float(a), Abs::Float(b)) => a == b,
            (Abs::Str(a), Abs::Str(b)) => a == b,
            (Abs::Module(a), Abs::Module(b)) => std::ptr::eq(*a, *b),
            (Abs::Function(a), Abs::Function(b)) => a == b,
            _ => false,
        }
    }
}

impl Abs<'_> {
    fn key(&self) -> String {
        match self {
            Abs::Module(Obj::Object { class, .. }) => format!("module {class}"),
            other => format!("{other:?}"),
        }
    }
}

/// Where an operator is called.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Site {
    pub file: String,
    pub line: usize,
}

/// The operators the code names, each with the places it can be reached from (empty when no
/// call of it can run).
#[derive(Debug, Default)]
pub(crate) struct Reach {
    pub reached: BTreeMap<String, Vec<Site>>,
}

/// Walks `forward` of the root module.
pub(crate) fn reach(code: &Code, root: &Obj, class: &str) -> Reach {
    let mut walker = Walker {
        code,
        reach: Reach::default(),
        done: HashSet::new(),
        analyses: 0,
        depth: 0,
    };
    if let Some((f, file)) = code.method(class, "forward") {
        let mut args = vec![Abs::Module(root)];
        args.extend(f.params.iter().skip(1).map(|_| Abs::Unknown));
        walker.function(f, file, args);
    }
    walker.reach
}

/// The first unsupported operator that can be reached, as an error message.
pub(crate) fn unsupported(reach: &Reach) -> Option<String> {
    let registry = Registry::get();
    for (op, sites) in &reach.reached {
        if !registry.has(op) {
            if let Some(site) = sites.first() {
                return Some(format!(
                    "{}:{}: {op} is not supported",
                    site.file, site.line
                ));
            }
        }
    }
    None
}

struct Walker<'c> {
    code: &'c Code,
    reach: Reach,
    done: HashSet<String>,
    analyses: usize,
    depth: usize,
}

type Env<'o> = HashMap<String, Abs<'o>>;

impl<'c> Walker<'c> {
    fn function<'o>(&mut self, f: &'c Function, file: &str, args: Vec<Abs<'o>>) -> Abs<'o>
    where
        'c: 'o,
    {
        let key = format!(
            "{file}:{}:{}({})",
            f.line,
            f.name,
            args.iter().map(Abs::key).collect::<Vec<_>>().join(",")
        );
        if !self.done.insert(key) || self.depth >= MAX_DEPTH || self.analyses >= MAX_ANALYSES {
            return Abs::Unknown;
        }
        self.analyses += 1;
        let mut env: Env = HashMap::new();
        for (i, p) in f.params.iter().enumerate() {
            let v = match args.get(i) {
                Some(v) => v.clone(),
                None => p.default.as_ref().map(literal).unwrap_or(Abs::Unknown),
            };
            env.insert(p.name.clone(), v);
        }
        self.depth += 1;
        let mut returned = None;
        self.block(&f.body, file, &mut env, &mut returned);
        self.depth -= 1;
        returned.flatten().unwrap_or(Abs::Unknown)
    }

    /// Walks a block; `returned` collects what `return` gives (`Some(None)` once two returns
    /// differ).
    fn block<'o>(
        &mut self,
        body: &'c [Stmt],
        file: &str,
        env: &mut Env<'o>,
        returned: &mut Option<Option<Abs<'o>>>,
    ) where
        'c: 'o,
    {
        for stmt in body {
            match &stmt.kind {
                StmtKind::Assign { target, value } => {
                    let v = self.expr(value, file, stmt.line, env);
                    bind(target, v, env);
                }
                StmtKind::AugAssign { target, value, .. } => {
                    self.expr(value, file, stmt.line, env);
                    bind(target, Abs::Unknown, env);
                }
                StmtKind::Expr(e) => {
                    self.expr(e, file, stmt.line, env);
                }
                StmtKind::If { test, body, orelse } => {
                    match self.expr(test, file, stmt.line, env) {
                        Abs::Bool(true) => self.block(body, file, env, returned),
                        Abs::Bool(false) => self.block(orelse, file, env, returned),
                        _ => {
                            let mut a = env.clone();
                            let mut b = env.clone();
                            self.block(body, file, &mut a, returned);
                            self.block(orelse, file, &mut b, returned);
                            merge(env, &a, &b);
                        }
                    }
                }
                StmtKind::While { test, body } => {
                    forget_assigned(body, env);
                    self.expr(test, file, stmt.line, env);
                    let mut inner = env.clone();
                    self.block(body, file, &mut inner, returned);
                    forget_assigned(body, env);
                }
                StmtKind::For { target, iter, body } => {
                    self.expr(iter, file, stmt.line, env);
                    forget_assigned(body, env);
                    bind(target, Abs::Unknown, env);
                    let mut inner = env.clone();
                    self.block(body, file, &mut inner, returned);
                    forget_assigned(body, env);
                }
                StmtKind::With { item, body, .. } => {
                    self.expr(item, file, stmt.line, env);
                    self.block(body, file, env, returned);
                }
                StmtKind::Return(e) => {
                    let v = e
                        .as_ref()
                        .map(|e| self.expr(e, file, stmt.line, env))
                        .unwrap_or(Abs::None);
                    *returned = match returned.take() {
                        None => Some(Some(v)),
                        Some(Some(prev)) if prev == v => Some(Some(prev)),
                        _ => Some(None),
                    };
                    return;
                }
                StmtKind::Raise(Some(e)) => {
                    self.expr(e, file, stmt.line, env);
                    return;
                }
                StmtKind::Assert { test, msg } => {
                    self.expr(test, file, stmt.line, env);
                    if let Some(m) = msg {
                        self.expr(m, file, stmt.line, env);
                    }
                }
                StmtKind::Def(f) => {
                    let mut inner = env.clone();
                    self.block(&f.body, file, &mut inner, &mut None);
                }
                _ => {}
            }
        }
    }

    fn expr<'o>(&mut self, e: &'c Expr, file: &str, line: usize, env: &mut Env<'o>) -> Abs<'o>
    where
        'c: 'o,
    {
        match e {
            Expr::Int(n) => Abs::Int(*n),
            Expr::Float(x) => Abs::Float(*x),
            Expr::Bool(b) => Abs::Bool(*b),
            Expr::Str(s) => Abs::Str(s.clone()),
            Expr::None => Abs::None,
            Expr::Name(n) => env.get(n).cloned().unwrap_or_else(|| self.global(n)),
            Expr::Attr(base, name) => {
                if let Some(path) = dotted(e) {
                    let first = path.split('.').next().unwrap_or("");
                    if !env.contains_key(first) {
                        return self.global(&path);
                    }
                }
                let b = self.expr(base, file, line, env);
                self.attribute(&b, name)
            }
            Expr::Call {
                func, args, kwargs, ..
            } => self.call(func, args, kwargs, file, line, env),
            Expr::Unary(UnaryOp::Not, x) => match self.expr(x, file, line, env) {
                Abs::Bool(b) => Abs::Bool(!b),
                _ => Abs::Unknown,
            },
            Expr::BoolOp(op, a, b) => {
                let a = self.expr(a, file, line, env);
                match (op, &a) {
                    (BoolOp::And, Abs::Bool(false)) | (BoolOp::Or, Abs::Bool(true)) => a,
                    _ => {
                        let b = self.expr(b, file, line, env);
                        match (&a, &b) {
                            (Abs::Bool(_), Abs::Bool(_)) => b,
                            _ => Abs::Unknown,
                        }
                    }
                }
            }
            Expr::Compare(op, a, b) => {
                let a = self.expr(a, file, line, env);
                let b = self.expr(b, file, line, env);
                compare(*op, &a, &b)
            }
            Expr::IfExp { test, body, orelse } => match self.expr(test, file, line, env) {
                Abs::Bool(true) => self.expr(body, file, line, env),
                Abs::Bool(false) => self.expr(orelse, file, line, env),
                _ => {
                    self.expr(body, file, line, env);
                    self.expr(orelse, file, line, env);
                    Abs::Unknown
                }
            },
            Expr::Subscript(a, b) | Expr::Binary(_, a, b) => {
                self.expr(a, file, line, env);
                self.expr(b, file, line, env);
                Abs::Unknown
            }
            Expr::Slice(a, b, c) => {
                for x in [a, b, c].into_iter().flatten() {
                    self.expr(x, file, line, env);
                }
                Abs::Unknown
            }
            Expr::List(items) | Expr::Tuple(items) => {
                for i in items {
                    self.expr(i, file, line, env);
                }
                Abs::Unknown
            }
            Expr::Dict(items) => {
                for (k, v) in items {
                    self.expr(k, file, line, env);
                    self.expr(v, file, line, env);
                }
                Abs::Unknown
            }
            Expr::Unary(_, x) => {
                self.expr(x, file, line, env);
                Abs::Unknown
            }
            Expr::Ellipsis => Abs::Unknown,
        }
    }

    /// Records a call of `path` at `file:line` when it is an operator.
    fn record(&mut self, path: &str, file: &str, line: usize) {
        if !is_builtin(path) {
            if let Some(op) = operator_name(path) {
                self.reach.reached.entry(op).or_default().push(Site {
                    file: file.to_string(),
                    line,
                });
            }
        }
    }

    fn global<'o>(&self, path: &str) -> Abs<'o> {
        if self.code.functions.contains_key(path) || self.code.classes.contains_key(path) {
            Abs::Function(path.to_string())
        } else {
            Abs::Unknown
        }
    }

    fn attribute<'o>(&self, base: &Abs<'o>, name: &str) -> Abs<'o> {
        let Abs::Module(Obj::Object { class, fields }) = base else {
            return Abs::Unknown;
        };
        if let Some((_, v)) = fields.iter().find(|(n, _)| n == name) {
            return match v {
                Obj::None => Abs::None,
                // Modules run as after `model.eval()`.
                Obj::Bool(_) if name == "training" => Abs::Bool(false),
                Obj::Bool(b) => Abs::Bool(*b),
                Obj::Int(n) => Abs::Int(*n),
                Obj::Float(x) => Abs::Float(*x),
                Obj::Str(s) => Abs::Str(s.clone()),
                Obj::Object { .. } => Abs::Module(v),
                _ => Abs::Unknown,
            };
        }
        if let Some(c) = self.code.classes.get(class) {
            if let Some(a) = c.item.attributes.iter().find(|a| a.name == name) {
                return a.value.as_ref().map(literal).unwrap_or(Abs::Unknown);
            }
        }
        Abs::Unknown
    }

    fn call<'o>(
        &mut self,
        func: &'c Expr,
        args: &'c [Expr],
        kwargs: &'c [(String, Expr)],
        file: &str,
        line: usize,
        env: &mut Env<'o>,
    ) -> Abs<'o>
    where
        'c: 'o,
    {
        let values: Vec<Abs> = args.iter().map(|a| self.expr(a, file, line, env)).collect();
        for (_, a) in kwargs {
            self.expr(a, file, line, env);
        }
        let path = dotted(func).filter(|p| {
            let first = p.split('.').next().unwrap_or("");
            !env.contains_key(first)
        });
        if let Some(path) = path {
            let is_code =
                self.code.functions.contains_key(&path) || self.code.classes.contains_key(&path);
            if !is_code {
                self.record(&path, file, line);
            }
            match path.as_str() {
                "torch.is_grad_enabled" | "torch.is_autocast_enabled" | "torch.jit.is_tracing" => {
                    return Abs::Bool(false)
                }
                "torch.jit.is_scripting" => return Abs::Bool(true),
                "torch.__not__" => {
                    return match values.first() {
                        Some(Abs::Bool(b)) => Abs::Bool(!b),
                        _ => Abs::Unknown,
                    }
                }
                "torch.__is__" | "torch.__isnot__" => {
                    let is = match (values.first(), values.get(1)) {
                        (Some(Abs::None), Some(Abs::None)) => Some(true),
                        (Some(Abs::None), Some(Abs::Unknown)) | (Some(Abs::Unknown), _) => None,
                        (Some(_), Some(Abs::None)) | (Some(Abs::None), Some(_)) => Some(false),
                        _ => None,
                    };
                    return match is {
                        Some(is) => Abs::Bool(is == (path == "torch.__is__")),
                        None => Abs::Unknown,
                    };
                }
                "torch.eq" | "torch.ne" => {
                    let op = if path == "torch.eq" {
                        CmpOp::Eq
                    } else {
                        CmpOp::Ne
                    };
                    if let (Some(a), Some(b)) = (values.first(), values.get(1)) {
                        return compare(op, a, b);
                    }
                    return Abs::Unknown;
                }
                "getattr" => {
                    return match (values.first(), values.get(1)) {
                        (Some(m @ Abs::Module(_)), Some(Abs::Str(name))) => self.attribute(m, name),
                        _ => Abs::Unknown,
                    }
                }
                "annotate" | "unchecked_cast" => {
                    return values.get(1).cloned().unwrap_or(Abs::Unknown)
                }
                _ => {}
            }
            if let Some(f) = self.code.functions.get(&path) {
                return self.function(&f.item, &f.file, values);
            }
            if self.code.classes.contains_key(&path) {
                if let Some((init, f)) = self.code.method(&path, "__init__") {
                    let mut all = vec![Abs::Unknown];
                    all.extend(values);
                    self.function(init, f, all);
                }
                return Abs::Unknown;
            }
            return Abs::Unknown;
        }
        // A method of a module, or a function value.
        if let Expr::Attr(base, method) = func {
            let receiver = self.expr(base, file, line, env);
            if let Abs::Module(Obj::Object { class, .. }) = &receiver {
                if let Some((f, mfile)) = self.code.method(class, method) {
                    let mut all = vec![receiver.clone()];
                    all.extend(values);
                    return self.function(f, mfile, all);
                }
            }
            return Abs::Unknown;
        }
        if let Abs::Function(path) = self.expr(func, file, line, env) {
            if let Some(f) = self.code.functions.get(&path) {
                return self.function(&f.item, &f.file, values);
            }
        }
        Abs::Unknown
    }
}

/// A literal default or constant.
fn literal<'o>(e: &Expr) -> Abs<'o> {
    match e {
        Expr::Int(n) => Abs::Int(*n),
        Expr::Float(x) => Abs::Float(*x),
        Expr::Bool(b) => Abs::Bool(*b),
        Expr::Str(s) => Abs::Str(s.clone()),
        Expr::None => Abs::None,
        Expr::Unary(UnaryOp::Neg, x) => match literal(x) {
            Abs::Int(n) => Abs::Int(n.wrapping_neg()),
            Abs::Float(x) => Abs::Float(-x),
            _ => Abs::Unknown,
        },
        _ => Abs::Unknown,
    }
}

fn compare<'o>(op: CmpOp, a: &Abs<'o>, b: &Abs<'o>) -> Abs<'o> {
    let known = |x: &Abs| {
        matches!(
            x,
            Abs::None | Abs::Bool(_) | Abs::Int(_) | Abs::Float(_) | Abs::Str(_)
        )
    };
    if !known(a) || !known(b) {
        return match (op, a, b) {
            (CmpOp::Is, Abs::Module(_), Abs::None) | (CmpOp::Is, Abs::None, Abs::Module(_)) => {
                Abs::Bool(false)
            }
            (CmpOp::IsNot, Abs::Module(_), Abs::None)
            | (CmpOp::IsNot, Abs::None, Abs::Module(_)) => Abs::Bool(true),
            _ => Abs::Unknown,
        };
    }
    let num = |x: &Abs| match x {
        Abs::Int(n) => Some(*n as f64),
        Abs::Float(f) => Some(*f),
        Abs::Bool(b) => Some(*b as i64 as f64),
        _ => None,
    };
    let eq = match (num(a), num(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    };
    match op {
        CmpOp::Eq | CmpOp::Is => Abs::Bool(eq),
        CmpOp::Ne | CmpOp::IsNot => Abs::Bool(!eq),
        CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => match (num(a), num(b)) {
            (Some(x), Some(y)) => Abs::Bool(match op {
                CmpOp::Lt => x < y,
                CmpOp::Le => x <= y,
                CmpOp::Gt => x > y,
                _ => x >= y,
            }),
            _ => Abs::Unknown,
        },
        CmpOp::In | CmpOp::NotIn => Abs::Unknown,
    }
}

fn bind<'o>(target: &Target, v: Abs<'o>, env: &mut Env<'o>) {
    match target {
        Target::Name(n) => {
            env.insert(n.clone(), v);
        }
        Target::Tuple(ts) => ts.iter().for_each(|t| bind(t, Abs::Unknown, env)),
        _ => {}
    }
}

/// After two branches: what both agree on stays known.
fn merge<'o>(env: &mut Env<'o>, a: &Env<'o>, b: &Env<'o>) {
    let names: HashSet<&String> = a.keys().chain(b.keys()).collect();
    for n in names {
        let v = match (a.get(n), b.get(n)) {
            (Some(x), Some(y)) if x == y => x.clone(),
            _ => Abs::Unknown,
        };
        env.insert(n.clone(), v);
    }
}

/// Forgets every variable a loop body assigns (its value after a turn is not known).
fn forget_assigned(body: &[Stmt], env: &mut Env) {
    fn names(t: &Target, out: &mut Vec<String>) {
        match t {
            Target::Name(n) => out.push(n.clone()),
            Target::Tuple(ts) => ts.iter().for_each(|t| names(t, out)),
            _ => {}
        }
    }
    fn walk(body: &[Stmt], out: &mut Vec<String>) {
        for s in body {
            match &s.kind {
                StmtKind::Assign { target, .. } | StmtKind::AugAssign { target, .. } => {
                    names(target, out)
                }
                StmtKind::For { target, body, .. } => {
                    names(target, out);
                    walk(body, out);
                }
                StmtKind::If { body, orelse, .. } => {
                    walk(body, out);
                    walk(orelse, out);
                }
                StmtKind::While { body, .. } | StmtKind::With { body, .. } => walk(body, out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(body, &mut out);
    for n in out {
        env.insert(n, Abs::Unknown);
    }
}
