//! Walks the syntax tree for what `inspect` lists: every name a call is made through.

use super::ast::dotted;
use super::ast::{Expr, Stmt, StmtKind, Target};

/// The dotted names of the builtins the interpreter handles itself (not operators).
const BUILTINS: &[&str] = &[
    "torch.format",
    "torch.warn",
    "torch.device",
    "torch.is_grad_enabled",
    "torch.is_autocast_enabled",
    "torch.is_autocast_cpu_enabled",
    "torch.jit.is_scripting",
    "torch.jit.is_tracing",
    "torch._C._get_tracing_state",
    "ops.prim.RaiseException",
    "ops.prim.dtype",
    "ops.prim.device",
    "ops.prim.is_cuda",
    "ops.prim.requires_grad",
    "ops.prim.is_nested",
    "ops.prim.layout",
    "ops.prim.type",
    "ops.prim.data",
    "ops.prim.unchecked_unwrap_optional",
    "ops.prim.unchecked_cast",
    "ops.prim.NumToTensor",
    "ops.prim.min",
    "ops.prim.max",
];

/// Whether `path` is a builtin the interpreter runs rather than an operator.
pub(crate) fn is_builtin(path: &str) -> bool {
    BUILTINS.contains(&path)
}

/// Calls `f` with the dotted name of every call in `body`.
pub(crate) fn calls(body: &[Stmt], f: &mut dyn FnMut(&str)) {
    for stmt in body {
        match &stmt.kind {
            StmtKind::Assign { target, value } | StmtKind::AugAssign { target, value, .. } => {
                target_calls(target, f);
                expr_calls(value, f);
            }
            StmtKind::Expr(e) => expr_calls(e, f),
            StmtKind::If { test, body, orelse } => {
                expr_calls(test, f);
                calls(body, f);
                calls(orelse, f);
            }
            StmtKind::While { test, body } => {
                expr_calls(test, f);
                calls(body, f);
            }
            StmtKind::For { target, iter, body } => {
                target_calls(target, f);
                expr_calls(iter, f);
                calls(body, f);
            }
            StmtKind::Return(Some(e)) | StmtKind::Raise(Some(e)) => expr_calls(e, f),
            StmtKind::Assert { test, msg } => {
                expr_calls(test, f);
                if let Some(m) = msg {
                    expr_calls(m, f);
                }
            }
            StmtKind::Del(targets) => targets.iter().for_each(|t| target_calls(t, f)),
            StmtKind::With { item, body, .. } => {
                expr_calls(item, f);
                calls(body, f);
            }
            StmtKind::Def(def) => calls(&def.body, f),
            _ => {}
        }
    }
}

fn target_calls(t: &Target, f: &mut dyn FnMut(&str)) {
    match t {
        Target::Name(_) => {}
        Target::Attr(e, _) => expr_calls(e, f),
        Target::Subscript(a, b) => {
            expr_calls(a, f);
            expr_calls(b, f);
        }
        Target::Tuple(ts) => ts.iter().for_each(|t| target_calls(t, f)),
    }
}

fn expr_calls(e: &Expr, f: &mut dyn FnMut(&str)) {
    match e {
        Expr::Call {
            func, args, kwargs, ..
        } => {
            match dotted(func) {
                Some(path) => f(&path),
                None => expr_calls(func, f),
            }
            args.iter().for_each(|a| expr_calls(a, f));
            kwargs.iter().for_each(|(_, a)| expr_calls(a, f));
        }
        Expr::Attr(b, _) => expr_calls(b, f),
        Expr::Subscript(a, b)
        | Expr::Binary(_, a, b)
        | Expr::Compare(_, a, b)
        | Expr::BoolOp(_, a, b) => {
            expr_calls(a, f);
            expr_calls(b, f);
        }
        Expr::Slice(a, b, c) => {
            for x in [a, b, c].into_iter().flatten() {
                expr_calls(x, f);
            }
        }
        Expr::List(items) | Expr::Tuple(items) => items.iter().for_each(|i| expr_calls(i, f)),
        Expr::Dict(items) => items.iter().for_each(|(k, v)| {
            expr_calls(k, f);
            expr_calls(v, f);
        }),
        Expr::Unary(_, x) => expr_calls(x, f),
        Expr::IfExp { test, body, orelse } => {
            expr_calls(test, f);
            expr_calls(body, f);
            expr_calls(orelse, f);
        }
        _ => {}
    }
}
