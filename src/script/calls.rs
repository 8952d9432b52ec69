//! Where a call goes: an operator of the registry (`torch.add` is `aten::add`, `ops.prim.min`
//! is `prim::min`), a function, method or class of the archive's code, or one of the language's
//! builtins (`builtins`). An operator that writes to an argument (`relu_`, schema
//! `Tensor(a!) self`) leaves its result in the caller's variable or attribute.

use std::sync::Arc;

use super::ast::{dotted, CallSite, Expr};
use super::builtins;
use super::interp::{object, script_err, Frame, Interp};
use crate::error::Result;
use crate::ops::{Hint, Value};

/// The operator a dotted name calls: `torch.add` → `aten::add`, `ops.prim.min` → `prim::min`.
pub(crate) fn operator_name(path: &str) -> Option<String> {
    for (prefix, ns) in [
        ("torch._C._nn.", "aten"),
        ("torch._C._fft.", "aten"),
        ("torch._C._linalg.", "aten"),
        ("torch._C._special.", "aten"),
        ("torch.nn.functional.", "aten"),
        ("torch.linalg.", "aten"),
        ("torch.", "aten"),
        ("ops.aten.", "aten"),
        ("ops.prim.", "prim"),
    ] {
        if let Some(name) = path.strip_prefix(prefix) {
            if !name.contains('.') {
                return Some(format!("{ns}::{name}"));
            }
        }
    }
    None
}

/// Calls `func` (as written: `arg_exprs` are the positional arguments' expressions, for the
/// operators that write to them) with evaluated `args` and `kwargs`.
pub(crate) fn call(
    interp: &mut Interp,
    func: &Expr,
    site: &CallSite,
    arg_exprs: &[Expr],
    args: Vec<Value>,
    kwargs: Vec<(String, Value)>,
    frame: &mut Frame,
) -> Result<Value> {
    let callee = site.callee(func);
    if let (Some(path), Some(root)) = (&callee.path, &callee.root) {
        if !frame.has(root) {
            let op = callee.op.as_deref().map(|name| (name, &site.hint));
            return call_path(interp, path, op, arg_exprs, args, kwargs, frame);
        }
    }
    // A method of a value: `(rnn).forward__1(x)`, `s.format(...)`, `d.keys()`.
    if let Expr::Attr(base, method) = func {
        let receiver = interp.eval(base, frame)?;
        let op = callee.method_op.as_deref().map(|name| (name, &site.hint));
        return method_at(interp, receiver, method, op, args, kwargs);
    }
    let f = interp.eval(func, frame)?;
    call_value(interp, f, args, kwargs)
}

/// Calls a function value (`_0 = __torch__.f` ... `_0(x)`).
pub(crate) fn call_value(
    interp: &mut Interp,
    f: Value,
    args: Vec<Value>,
    kwargs: Vec<(String, Value)>,
) -> Result<Value> {
    match f {
        Value::Function(name, Some(obj)) => {
            call_method(interp, Value::Object(obj), &name, args, kwargs)
        }
        Value::Function(name, None) => {
            let mut frame = Frame::empty(Arc::from(""));
            call_path(interp, &name, None, &[], args, kwargs, &mut frame)
        }
        other => Err(script_err(format!(
            "a {} is not callable",
            other.type_name()
        ))),
    }
}

/// Calls `receiver.method(args)`.
pub(crate) fn call_method(
    interp: &mut Interp,
    receiver: Value,
    method: &str,
    args: Vec<Value>,
    kwargs: Vec<(String, Value)>,
) -> Result<Value> {
    method_at(interp, receiver, method, None, args, kwargs)
}

/// [`call_method`] from a call site that knows the operator a tensor's method is (`aten::view`
/// for `x.view`) and the overload it bound to last.
fn method_at(
    interp: &mut Interp,
    receiver: Value,
    method: &str,
    op: Option<(&str, &Hint)>,
    mut args: Vec<Value>,
    kwargs: Vec<(String, Value)>,
) -> Result<Value> {
    if let Value::Object(o) = &receiver {
        let class = o.borrow().class.clone();
        if let Some((f, file)) = interp.code.method(&class, method) {
            args.insert(0, receiver.clone());
            return interp.call_function(f, file, args, kwargs);
        }
        let attr = interp.attribute(&receiver, method)?;
        return call_value(interp, attr, args, kwargs);
    }
    if let Some(v) = builtins::method(interp, &receiver, method, &args, &kwargs)? {
        return Ok(v);
    }
    args.insert(0, receiver);
    match op {
        Some((name, hint)) => call_op(interp, name, hint, &args, &kwargs),
        None => {
            let (op, bound) =
                interp
                    .registry
                    .resolve(&format!("aten::{method}"), &args, &kwargs)?;
            interp.invoke(op, &bound, &args, &kwargs)
        }
    }
}

/// Calls operator `name`, trying the overload `hint` remembers first.
fn call_op(
    interp: &mut Interp,
    name: &str,
    hint: &Hint,
    args: &[Value],
    kwargs: &[(String, Value)],
) -> Result<Value> {
    let (op, bound) = interp.registry.resolve_hinted(name, args, kwargs, hint)?;
    interp.invoke(op, &bound, args, kwargs)
}

/// Calls a dotted name: a builtin, an operator, or the code's function or class.
fn call_path(
    interp: &mut Interp,
    path: &str,
    op: Option<(&str, &Hint)>,
    arg_exprs: &[Expr],
    args: Vec<Value>,
    kwargs: Vec<(String, Value)>,
    frame: &mut Frame,
) -> Result<Value> {
    if let Some(v) = builtins::call(interp, path, &args, &kwargs)? {
        return Ok(v);
    }
    if let Some(f) = interp.code.functions.get(path) {
        return interp.call_function(&f.item, &f.file.clone(), args, kwargs);
    }
    if interp.code.classes.contains_key(path) {
        return construct(interp, path, args, kwargs);
    }
    let (op, bound) = match op {
        Some((name, hint)) => interp.registry.resolve_hinted(name, &args, &kwargs, hint)?,
        None => {
            let Some(name) = operator_name(path) else {
                return Err(script_err(format!("`{path}` is not defined")));
            };
            interp.registry.resolve(&name, &args, &kwargs)?
        }
    };
    let result = interp.invoke(op, &bound, &args, &kwargs)?;
    // In-place operators: the variable or attribute passed holds the result.
    for (i, arg) in op.schema.args.iter().enumerate() {
        if arg.mutated && matches!(result, Value::Tensor(_)) {
            if let Some(e) = arg_exprs.get(i) {
                write_back(interp, e, result.clone(), frame)?;
            }
        }
    }
    Ok(result)
}

/// Leaves `value` where `e` reads from: a variable or attribute is rebound; a `select` or
/// `slice` of one (what `x[1:, i] = v` compiles to: `copy_(select(slice(x, ...), ...), v)`)
/// has `value` scattered back into its base, which is written back in turn.
fn write_back(interp: &mut Interp, e: &Expr, value: Value, frame: &mut Frame) -> Result<()> {
    if let Some(target) = target_of(e) {
        return interp.assign(&target, value, frame);
    }
    let Expr::Call {
        func, args, kwargs, ..
    } = e
    else {
        return Ok(());
    };
    let scatter = match dotted(func).as_deref() {
        Some("torch.select") => "aten::select_scatter",
        Some("torch.slice") => "aten::slice_scatter",
        _ => return Ok(()),
    };
    if !kwargs.is_empty() {
        return Ok(());
    }
    let Some((base, rest)) = args.split_first() else {
        return Ok(());
    };
    let mut values = vec![interp.eval(base, frame)?, value];
    for a in rest {
        values.push(interp.eval(a, frame)?);
    }
    let new_base = interp.op(scatter, values)?;
    write_back(interp, base, new_base, frame)
}

/// The assignment target an argument expression names, if it names one.
fn target_of(e: &Expr) -> Option<super::ast::Target> {
    match e {
        Expr::Name(n) => Some(super::ast::Target::Name(n.clone())),
        Expr::Attr(o, n) => Some(super::ast::Target::Attr((**o).clone(), n.clone())),
        _ => None,
    }
}

/// `Class(args)`: a `NamedTuple` from its fields, or a TorchScript class through `__init__`.
fn construct(
    interp: &mut Interp,
    class: &str,
    args: Vec<Value>,
    kwargs: Vec<(String, Value)>,
) -> Result<Value> {
    let Some(c) = interp.code.classes.get(class) else {
        return Err(script_err(format!("`{class}` is not defined")));
    };
    if c.item.base == "NamedTuple" {
        let mut fields = Vec::with_capacity(c.item.attributes.len());
        let mut args = args.into_iter();
        for a in &c.item.attributes {
            let v = match args.next() {
                Some(v) => v,
                None => match kwargs.iter().find(|(k, _)| *k == a.name) {
                    Some((_, v)) => v.clone(),
                    None => Value::None,
                },
            };
            fields.push((a.name.as_str().into(), v));
        }
        return Ok(object(class, fields));
    }
    let obj = object(class, Vec::new());
    if let Some((init, file)) = interp.code.method(class, "__init__") {
        let mut all = vec![obj.clone()];
        all.extend(args);
        interp.call_function(init, file, all, kwargs)?;
    }
    Ok(obj)
}
