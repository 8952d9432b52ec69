//! The syntax tree of TorchScript's printed code (`code/**.py`): what [`parse`](super::parse)
//! builds and the interpreter runs. The printer writes a small, regular subset of Python
//! (`torch/csrc/jit/serialization/python_print.cpp`); this tree holds that subset and no more.

use std::sync::Arc;

/// One code file: `code/__torch__/torch/nn/modules/rnn.py`.
#[derive(Debug, Clone)]
pub struct Module {
    /// The file's path in the archive, under `code/` (`__torch__/torch/nn/modules/rnn.py`).
    pub path: Arc<str>,
    /// The module's qualified name (`__torch__.torch.nn.modules.rnn`).
    pub name: String,
    /// Its classes and functions, in order.
    pub classes: Vec<Class>,
    /// Its top-level functions.
    pub functions: Vec<Function>,
}

/// A class: a module (`class LSTM(Module):`), a `NamedTuple`, a TorchScript class or an enum.
#[derive(Debug, Clone)]
pub struct Class {
    /// Its name in the file (`LSTM`); qualified, it is `<module>.<name>`.
    pub name: String,
    /// The base named in its header (`Module`, `NamedTuple`, `object`, `Enum[int]`), as written.
    pub base: String,
    /// `__parameters__ = ["weight", ...]`.
    pub parameters: Vec<String>,
    /// `__buffers__ = [...]`.
    pub buffers: Vec<String>,
    /// Attribute declarations in order (`hidden_size : Final[int] = 20` gives a value;
    /// `rnn : __torch__.torch.nn.modules.rnn.LSTM` none). A `NamedTuple`'s fields are these.
    pub attributes: Vec<Attribute>,
    /// Its methods.
    pub methods: Vec<Function>,
    /// The line of its header.
    pub line: usize,
}

/// An attribute declaration of a class.
#[derive(Debug, Clone)]
pub struct Attribute {
    /// Its name.
    pub name: String,
    /// Its type as written (`Final[int]`, `List[Tensor]`, `__torch__.foo.Bar`); a class-level
    /// assignment without one (an enum's `RED = 1`, `__forward_hooks__ = ["hook", ]`) has the
    /// type named `""`.
    pub ty: Type,
    /// The constant value of a `Final` attribute (`= 20`), or a class-level assignment's
    /// value.
    pub value: Option<Expr>,
}

/// A type as written in the code: `Tensor`, `int`, `List[int]`, `Optional[Tuple[Tensor,
/// Tensor]]`, `__torch__.torch.nn.utils.rnn.PackedSequence`, `NoneType`.
#[derive(Debug, Clone, PartialEq)]
pub struct Type {
    /// The name before any `[` (`List`, `Tensor`, `__torch__.foo.Bar`).
    pub name: String,
    /// The types inside the brackets, if any.
    pub args: Vec<Type>,
}

/// A function or method: `def forward(self: __torch__.M, x: Tensor, k: int=3) -> Tensor:`.
#[derive(Debug, Clone)]
pub struct Function {
    /// Its name (`forward`, `forward__1`, `_apply_permutation`).
    pub name: String,
    /// Its parameters, `self` included for methods.
    pub params: Vec<Param>,
    /// The return type, if written.
    pub returns: Option<Type>,
    /// Its body.
    pub body: Vec<Stmt>,
    /// The line of its `def`.
    pub line: usize,
}

/// A parameter: its name, type and default.
#[derive(Debug, Clone)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// Its type, if written (`self`'s is the class).
    pub ty: Option<Type>,
    /// Its default, if it has one.
    pub default: Option<Expr>,
}

/// A statement, with the line it starts on (for errors: `code/__torch__/m.py:12`).
#[derive(Debug, Clone)]
pub struct Stmt {
    /// The 1-based line in its file.
    pub line: usize,
    /// What it is.
    pub kind: StmtKind,
}

/// The statements the printer writes.
#[derive(Debug, Clone)]
pub enum StmtKind {
    /// `target = value` (`a, b, = value` unpacks; `x : T = value` keeps only the target).
    Assign {
        /// Where the value goes.
        target: Target,
        /// The value.
        value: Expr,
    },
    /// `target op= value`.
    AugAssign {
        /// Where the value goes.
        target: Target,
        /// The operator (`+` for `+=`).
        op: BinOp,
        /// The right-hand side.
        value: Expr,
    },
    /// An expression alone (a call whose result is dropped).
    Expr(Expr),
    /// `if test: body else: orelse` (`elif` is an `If` alone in `orelse`).
    If {
        /// The condition.
        test: Expr,
        /// The statements when true.
        body: Vec<Stmt>,
        /// The statements when false (empty without `else`).
        orelse: Vec<Stmt>,
    },
    /// `while test: body`.
    While {
        /// The condition.
        test: Expr,
        /// The loop body.
        body: Vec<Stmt>,
    },
    /// `for target in iter: body`.
    For {
        /// The loop variable(s).
        target: Target,
        /// What it iterates over.
        iter: Expr,
        /// The loop body.
        body: Vec<Stmt>,
    },
    /// `return` or `return value`.
    Return(Option<Expr>),
    /// `break`.
    Break,
    /// `continue`.
    Continue,
    /// `pass`.
    Pass,
    /// `raise value` (the printer writes `ops.prim.RaiseException(...)` instead; kept for
    /// hand-written code).
    Raise(Option<Expr>),
    /// `assert test, msg`.
    Assert {
        /// The condition.
        test: Expr,
        /// The message, if any.
        msg: Option<Expr>,
    },
    /// `del target`.
    Del(Vec<Target>),
    /// `with item: body` or `with item as target: body`: the printer writes it for a context
    /// manager (`with torch.no_grad():` is `_5 = ...no_grad.__new__(...)`, `with _5:`), whose
    /// `__enter__` runs before the body and `__exit__` after it.
    With {
        /// The context manager.
        item: Expr,
        /// Where `__enter__`'s result goes (`as x`), if anywhere.
        target: Option<Target>,
        /// The block's statements.
        body: Vec<Stmt>,
    },
    /// A function defined in a function body: the printer writes `def __forked_function():`
    /// (no parameters; it reads the enclosing function's variables) before
    /// `fut = fork(__forked_function)` for `torch.jit.fork`.
    Def(Box<Function>),
}

/// What an assignment writes to.
#[derive(Debug, Clone)]
pub enum Target {
    /// A variable.
    Name(String),
    /// `obj.attr`.
    Attr(Expr, String),
    /// `obj[index]`.
    Subscript(Expr, Expr),
    /// `a, b,` or `(a, b)` or `[a, b]`: unpacking.
    Tuple(Vec<Target>),
}

/// An expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A name (`x`, `torch`, `ops`, `CONSTANTS`, `__torch__`, `self`).
    Name(String),
    /// An int literal; a minus right before one is part of it (`-1`, `-9223372036854775808`).
    Int(i64),
    /// A float literal (`0.`, `1e-05`, `-1.5`; `inf` is `Name("inf")`).
    Float(f64),
    /// `True` or `False`.
    Bool(bool),
    /// A string literal, escapes decoded.
    Str(String),
    /// `None`.
    None,
    /// `...`.
    Ellipsis,
    /// `value.attr`.
    Attr(Box<Expr>, String),
    /// `func(args, name=value)`.
    Call {
        /// What is called (`Attr(Name("torch"), "add")`, `Attr(Name("self"), "forward")`).
        func: Box<Expr>,
        /// Positional arguments.
        args: Vec<Expr>,
        /// Keyword arguments, in order.
        kwargs: Vec<(String, Expr)>,
        /// What the interpreter works out about this call once, on its first run.
        site: CallSite,
    },
    /// `value[index]`; several comma-separated indices are a `Tuple` index.
    Subscript(Box<Expr>, Box<Expr>),
    /// `lower:upper:step` inside a subscript.
    Slice(Option<Box<Expr>>, Option<Box<Expr>>, Option<Box<Expr>>),
    /// `[a, b]`.
    List(Vec<Expr>),
    /// `(a, b)`, `(a,)`, `()`.
    Tuple(Vec<Expr>),
    /// `{k: v}`.
    Dict(Vec<(Expr, Expr)>),
    /// `-x`, `+x`, `not x`, `~x`.
    Unary(UnaryOp, Box<Expr>),
    /// `a op b`.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `a op b` for a comparison (`a < b < c` is `(a < b) and (b < c)`, each operand
    /// evaluated once as in Python: the parser only builds it when operands are simple).
    Compare(CmpOp, Box<Expr>, Box<Expr>),
    /// `a and b`, `a or b` (short-circuit).
    BoolOp(BoolOp, Box<Expr>, Box<Expr>),
    /// `body if test else orelse`.
    IfExp {
        /// The condition.
        test: Box<Expr>,
        /// The value when true.
        body: Box<Expr>,
        /// The value when false.
        orelse: Box<Expr>,
    },
}

/// A unary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-`.
    Neg,
    /// `+`.
    Pos,
    /// `not`.
    Not,
    /// `~`.
    Invert,
}

/// A binary arithmetic or bitwise operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `//`.
    FloorDiv,
    /// `%`.
    Mod,
    /// `**`.
    Pow,
    /// `@`.
    MatMul,
    /// `&`.
    BitAnd,
    /// `|`.
    BitOr,
    /// `^`.
    BitXor,
    /// `<<`.
    Shl,
    /// `>>`.
    Shr,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `is`.
    Is,
    /// `is not`.
    IsNot,
    /// `in`.
    In,
    /// `not in`.
    NotIn,
}

/// `and` or `or`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoolOp {
    /// `and`.
    And,
    /// `or`.
    Or,
}

/// What the interpreter works out about a call site once (the program's code never changes),
/// instead of on every call: the names it calls by and the overload its calls bind to.
#[derive(Debug, Default)]
pub struct CallSite {
    callee: std::sync::OnceLock<Callee>,
    /// The registry index of the overload this site's last operator call bound to (or
    /// `usize::MAX`), tried first next time.
    pub(crate) hint: crate::ops::Hint,
}

impl Clone for CallSite {
    fn clone(&self) -> Self {
        Self {
            callee: self.callee.clone(),
            hint: self.hint.clone(),
        }
    }
}

impl CallSite {
    /// The names `func`, this site's callee, calls by.
    pub(crate) fn callee(&self, func: &Expr) -> &Callee {
        self.callee.get_or_init(|| Callee::new(func))
    }
}

/// The names a call site's callee calls by.
#[derive(Debug, Clone)]
pub(crate) struct Callee {
    /// The callee as a dotted name (`torch.add`, `self.fc.forward`), if it is one.
    pub path: Option<String>,
    /// The dotted name's first part (`torch`, `self`): a local variable there makes it a
    /// method call.
    pub root: Option<String>,
    /// The operator the dotted name calls, if it names one (`torch.add` → `aten::add`).
    pub op: Option<String>,
    /// For a method call `x.view(...)` on a tensor: `aten::view`.
    pub method_op: Option<String>,
}

impl Callee {
    fn new(func: &Expr) -> Self {
        let path = dotted(func);
        Self {
            root: path
                .as_deref()
                .map(|p| p.split('.').next().unwrap_or(p).to_string()),
            op: path.as_deref().and_then(super::calls::operator_name),
            method_op: match func {
                Expr::Attr(_, method) => Some(format!("aten::{method}")),
                _ => None,
            },
            path,
        }
    }
}

/// `a.b.c` as a dotted name, if `e` is one.
pub(crate) fn dotted(e: &Expr) -> Option<String> {
    match e {
        Expr::Name(n) => Some(n.clone()),
        Expr::Attr(base, name) => dotted(base).map(|b| format!("{b}.{name}")),
        _ => None,
    }
}
