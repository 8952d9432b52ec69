//! The parser's tests: each construct's tree (shown as fully parenthesized text), the code
//! PyTorch's printer writes (pasted from archives saved by torch 2.15.0), errors with their
//! lines, hostile input, and every code file of every archive under `tests/fixtures`.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::parse;
use crate::script::ast::{
    BinOp, BoolOp, CmpOp, Expr, Function, Module, Stmt, StmtKind, Target, Type, UnaryOp,
};

const PATH: &str = "code/__torch__/m.py";

fn module(source: &str) -> Module {
    parse(PATH, source).unwrap_or_else(|e| panic!("{e}\n{source}"))
}

fn error(source: &str) -> String {
    match parse(PATH, source) {
        Ok(module) => panic!("parsed: {module:?}\n{source}"),
        Err(e) => e.to_string(),
    }
}

/// The body of `def f():` with `body` indented under it.
fn body(body: &str) -> Vec<Stmt> {
    let source: String = body.lines().map(|l| format!("  {l}\n")).collect();
    let mut module = module(&format!("def f():\n{source}"));
    module.functions.remove(0).body
}

/// The expression `text`, as the value of `x = text`.
fn expr(text: &str) -> Expr {
    match body(&format!("x = {text}")).remove(0).kind {
        StmtKind::Assign { value, .. } => value,
        other => panic!("{other:?}"),
    }
}

/// `text` parsed and shown fully parenthesized.
fn shown(text: &str) -> String {
    show(&expr(text))
}

fn bin(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::FloorDiv => "//",
        BinOp::Mod => "%",
        BinOp::Pow => "**",
        BinOp::MatMul => "@",
        BinOp::BitAnd => "&",
        BinOp::BitOr => "|",
        BinOp::BitXor => "^",
        BinOp::Shl => "<<",
        BinOp::Shr => ">>",
    }
}

fn cmp(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "==",
        CmpOp::Ne => "!=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
        CmpOp::Is => "is",
        CmpOp::IsNot => "is not",
        CmpOp::In => "in",
        CmpOp::NotIn => "not in",
    }
}

fn list(items: &[Expr]) -> String {
    items.iter().map(show).collect::<Vec<_>>().join(", ")
}

/// An expression as text, every operator's operands in parentheses.
fn show(e: &Expr) -> String {
    let opt = |e: &Option<Box<Expr>>| e.as_deref().map(show).unwrap_or_default();
    match e {
        Expr::Name(n) => n.clone(),
        Expr::Int(i) => i.to_string(),
        Expr::Float(x) => format!("{x:?}"),
        Expr::Bool(b) => if *b { "True" } else { "False" }.into(),
        Expr::Str(s) => format!("{s:?}"),
        Expr::None => "None".into(),
        Expr::Ellipsis => "...".into(),
        Expr::Attr(v, n) => format!("{}.{n}", show(v)),
        Expr::Call {
            func, args, kwargs, ..
        } => {
            let mut all: Vec<String> = args.iter().map(show).collect();
            all.extend(kwargs.iter().map(|(k, v)| format!("{k}={}", show(v))));
            format!("{}({})", show(func), all.join(", "))
        }
        Expr::Subscript(v, i) => format!("{}[{}]", show(v), show(i)),
        Expr::Slice(a, b, c) => format!("{}:{}:{}", opt(a), opt(b), opt(c)),
        Expr::List(items) => format!("[{}]", list(items)),
        Expr::Tuple(items) if items.len() == 1 => format!("({},)", list(items)),
        Expr::Tuple(items) => format!("({})", list(items)),
        Expr::Dict(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|(k, v)| format!("{}: {}", show(k), show(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Expr::Unary(op, x) => {
            let op = match op {
                UnaryOp::Neg => "-",
                UnaryOp::Pos => "+",
                UnaryOp::Not => "not ",
                UnaryOp::Invert => "~",
            };
            format!("({op}{})", show(x))
        }
        Expr::Binary(op, a, b) => format!("({} {} {})", show(a), bin(*op), show(b)),
        Expr::Compare(op, a, b) => format!("({} {} {})", show(a), cmp(*op), show(b)),
        Expr::BoolOp(op, a, b) => {
            let op = if *op == BoolOp::And { "and" } else { "or" };
            format!("({} {op} {})", show(a), show(b))
        }
        Expr::IfExp { test, body, orelse } => {
            format!("({} if {} else {})", show(body), show(test), show(orelse))
        }
    }
}

fn show_target(t: &Target) -> String {
    match t {
        Target::Name(n) => n.clone(),
        Target::Attr(v, n) => format!("{}.{n}", show(v)),
        Target::Subscript(v, i) => format!("{}[{}]", show(v), show(i)),
        Target::Tuple(items) => {
            let items: Vec<String> = items.iter().map(show_target).collect();
            format!("<{}>", items.join(", "))
        }
    }
}

fn show_type(t: &Type) -> String {
    super::type_text(t)
}

/// Statements as indented text, one per line, each with its line number.
fn show_body(stmts: &[Stmt], indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    let block = |stmts: &[Stmt]| show_body(stmts, indent + 2);
    for s in stmts {
        let head = format!("{pad}{}: ", s.line);
        let text = match &s.kind {
            StmtKind::Assign { target, value } => {
                format!("{} = {}", show_target(target), show(value))
            }
            StmtKind::AugAssign { target, op, value } => {
                format!("{} {}= {}", show_target(target), bin(*op), show(value))
            }
            StmtKind::Expr(e) => show(e),
            StmtKind::If { test, body, orelse } => {
                format!(
                    "if {}\n{}{pad}else\n{}",
                    show(test),
                    block(body),
                    block(orelse)
                )
            }
            StmtKind::While { test, body } => format!("while {}\n{}", show(test), block(body)),
            StmtKind::For { target, iter, body } => format!(
                "for {} in {}\n{}",
                show_target(target),
                show(iter),
                block(body)
            ),
            StmtKind::Return(v) => format!("return {}", v.as_ref().map(show).unwrap_or_default()),
            StmtKind::Break => "break".into(),
            StmtKind::Continue => "continue".into(),
            StmtKind::Pass => "pass".into(),
            StmtKind::Raise(v) => format!("raise {}", v.as_ref().map(show).unwrap_or_default()),
            StmtKind::Assert { test, msg } => {
                format!(
                    "assert {}, {}",
                    show(test),
                    msg.as_ref().map(show).unwrap_or_default()
                )
            }
            StmtKind::Del(targets) => {
                let targets: Vec<String> = targets.iter().map(show_target).collect();
                format!("del {}", targets.join(", "))
            }
            StmtKind::With { item, target, body } => format!(
                "with {} as {}\n{}",
                show(item),
                target.as_ref().map(show_target).unwrap_or_default(),
                block(body)
            ),
            StmtKind::Def(f) => format!("def {}\n{}", f.name, block(&f.body)),
        };
        out.push_str(&head);
        out.push_str(&text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

fn show_function(f: &Function) -> String {
    let params: Vec<String> = f
        .params
        .iter()
        .map(|p| {
            let ty = p.ty.as_ref().map(|t| format!(": {}", show_type(t)));
            let default = p.default.as_ref().map(|d| format!("={}", show(d)));
            format!(
                "{}{}{}",
                p.name,
                ty.unwrap_or_default(),
                default.unwrap_or_default()
            )
        })
        .collect();
    let returns = f.returns.as_ref().map(|t| format!(" -> {}", show_type(t)));
    format!(
        "{}({}){} @{}",
        f.name,
        params.join(", "),
        returns.unwrap_or_default(),
        f.line
    )
}

#[test]
fn the_module_is_named_by_its_path() {
    for (path, name) in [
        (
            "code/__torch__/torch/nn/modules/rnn.py",
            "__torch__.torch.nn.modules.rnn",
        ),
        ("code/__torch__.py", "__torch__"),
        ("archive/code/__torch__/a.py", "__torch__.a"),
        ("__torch__/b/c.py", "__torch__.b.c"),
    ] {
        let module = parse(path, "def f():\n  pass\n").unwrap();
        assert_eq!(&*module.path, path);
        assert_eq!(module.name, name);
    }
    let empty = parse(PATH, "").unwrap();
    assert!(empty.classes.is_empty() && empty.functions.is_empty());
}

#[test]
fn a_module_class_declares_its_parameters_attributes_constants_and_methods() {
    // From a scripted nn.LSTM and nn.Linear (torch 2.15.0).
    let source = r#"class LSTM(Module):
  __parameters__ = ["weight_ih_l0", "bias_ih_l0", ]
  __buffers__ = ["running_mean", ]
  weight_ih_l0 : Tensor
  training : bool
  _is_full_backward_hook : Optional[bool]
  rnn : __torch__.torch.nn.modules.rnn.___torch_mangle_28.LSTM
  _all_weights : List[List[str]]
  dropout : Final[float] = 0.
  mode : Final[str] = "LSTM"
  hidden_size : Final[int] = 16
  T : Final[Tuple[int, int]] = (1, -2)
  F2 : Final[float] = -1.5
  def forward__0(self: __torch__.torch.nn.modules.rnn.___torch_mangle_28.LSTM,
    input: Tensor,
    hx: Optional[Tuple[Tensor, Tensor]]=None) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
    _0 = "LSTM: Expected input to be 2D or 3D, got {}D instead"
    return (input, hx)
  def _update_flat_weights(self: __torch__.torch.nn.modules.rnn.___torch_mangle_28.LSTM) -> NoneType:
    return None
"#;
    let module = module(source);
    assert!(module.functions.is_empty());
    let class = &module.classes[0];
    assert_eq!(
        (class.name.as_str(), class.base.as_str(), class.line),
        ("LSTM", "Module", 1)
    );
    assert_eq!(class.parameters, ["weight_ih_l0", "bias_ih_l0"]);
    assert_eq!(class.buffers, ["running_mean"]);
    let attributes: Vec<String> = class
        .attributes
        .iter()
        .map(|a| {
            let value = a.value.as_ref().map(|v| format!(" = {}", show(v)));
            format!(
                "{} : {}{}",
                a.name,
                show_type(&a.ty),
                value.unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        attributes,
        [
            "weight_ih_l0 : Tensor",
            "training : bool",
            "_is_full_backward_hook : Optional[bool]",
            "rnn : __torch__.torch.nn.modules.rnn.___torch_mangle_28.LSTM",
            "_all_weights : List[List[str]]",
            "dropout : Final[float] = 0.0",
            "mode : Final[str] = \"LSTM\"",
            "hidden_size : Final[int] = 16",
            "T : Final[Tuple[int, int]] = (1, -2)",
            "F2 : Final[float] = -1.5",
        ]
    );
    let methods: Vec<String> = class.methods.iter().map(show_function).collect();
    assert_eq!(
        methods,
        [
            "forward__0(self: __torch__.torch.nn.modules.rnn.___torch_mangle_28.LSTM, \
             input: Tensor, hx: Optional[Tuple[Tensor, Tensor]]=None) -> Tuple[Tensor, \
             Tuple[Tensor, Tensor]] @14",
            "_update_flat_weights(self: __torch__.torch.nn.modules.rnn.___torch_mangle_28.LSTM) \
             -> NoneType @19"
        ]
    );
    assert_eq!(
        show_body(&class.methods[0].body, 0),
        "17: _0 = \"LSTM: Expected input to be 2D or 3D, got {}D instead\"\n18: return (input, hx)\n"
    );
}

#[test]
fn named_tuples_enums_interfaces_hooks_and_annotations() {
    // As torch 2.15.0 prints them (the defaulted NamedTuple field and the interface as
    // python_print.cpp writes them).
    let source = r#"class PackedSequence(NamedTuple):
  data : Tensor
  sorted_indices : Optional[Tensor]
  k : int = 3
class Color(Enum):
  RED = 1
  GREEN = 2
class Mode(Enum):
  A = "a"
class ModuleList(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  __annotations__ = []
  __annotations__["0"] = __torch__.torch.nn.modules.linear.___torch_mangle_51.Linear
  def __len__(self: __torch__.torch.nn.modules.container.ModuleList) -> int:
    return 2
class Hooked(Module):
  __parameters__ = []
  __buffers__ = []
  __forward_pre_hooks__ = ["pre", ]
  __forward_hooks__ = ["post", ]
  def pre(m: __torch__.Hooked,
    inp: Tuple[Tensor]) -> Tuple[Tensor]:
    return (torch.mul((inp)[0], 2),)
class OneForward(Interface):
  def forward(self, x: Tensor) -> Tensor:
    pass
class Counter:
  count : int
class Plain(object):
  pass
class Empty: pass
"#;
    let module = module(source);
    let summary: Vec<String> = module
        .classes
        .iter()
        .map(|c| {
            let attributes: Vec<String> = c
                .attributes
                .iter()
                .map(|a| {
                    let value = a.value.as_ref().map(|v| format!("={}", show(v)));
                    format!(
                        "{}:{}{}",
                        a.name,
                        show_type(&a.ty),
                        value.unwrap_or_default()
                    )
                })
                .collect();
            let methods: Vec<&str> = c.methods.iter().map(|m| m.name.as_str()).collect();
            format!("{}({}) {attributes:?} {methods:?}", c.name, c.base)
        })
        .collect();
    assert_eq!(
        summary,
        [
            "PackedSequence(NamedTuple) [\"data:Tensor\", \"sorted_indices:Optional[Tensor]\", \
             \"k:int=3\"] []",
            "Color(Enum) [\"RED:=1\", \"GREEN:=2\"] []",
            "Mode(Enum) [\"A:=\\\"a\\\"\"] []",
            "ModuleList(Module) [\"training:bool\", \
             \"0:__torch__.torch.nn.modules.linear.___torch_mangle_51.Linear\"] [\"__len__\"]",
            "Hooked(Module) [\"__forward_pre_hooks__:=[\\\"pre\\\"]\", \
             \"__forward_hooks__:=[\\\"post\\\"]\"] [\"pre\"]",
            "OneForward(Interface) [] [\"forward\"]",
            "Counter() [\"count:int\"] []",
            "Plain(object) [] []",
            "Empty() [] []",
        ]
    );
    let interface = &module.classes[5].methods[0];
    assert_eq!(
        show_function(interface),
        "forward(self, x: Tensor) -> Tensor @27"
    );
}

#[test]
fn top_level_functions_old_headers_and_imports() {
    let source = "op_version_set = 1\nimport __torch__.a\ndef _apply_permutation(tensor: \
                  Tensor,\n    permutation: Tensor,\n    dim: int=1) -> Tensor:\n  _0 = \
                  torch.index_select(tensor, dim, permutation)\n  return _0\ndef \
                  g(k: int=-9223372036854775808, s: str=CONSTANTS.c1, d=[1, 1], t: \
                  Tuple[()]=()):\n  return\n";
    let module = module(source);
    let functions: Vec<String> = module.functions.iter().map(show_function).collect();
    assert_eq!(
        functions,
        [
            "_apply_permutation(tensor: Tensor, permutation: Tensor, dim: int=1) -> Tensor @3",
            "g(k: int=-9223372036854775808, s: str=CONSTANTS.c1, d=[1, 1], t: Tuple=()) @8",
        ]
    );
    assert_eq!(
        module.functions[1].params[3].ty,
        Some(Type {
            name: "Tuple".into(),
            args: vec![]
        })
    );
    assert_eq!(
        show_body(&module.functions[0].body, 0),
        "6: _0 = torch.index_select(tensor, dim, permutation)\n7: return _0\n"
    );
}

#[test]
fn types_nest() {
    let module = module(
        "def f(a: Optional[Tuple[Tensor, Tensor]], b: Union[Tensor, List[int]], c: Dict[str, \
         Tensor], d: Final[int], e: NoneType, f: __torch__.a.b.C, g: Tuple[()], h: \
         List[Optional[__torch__.P]], i: Tuple[int,]) -> None:\n  pass\n",
    );
    let types: Vec<String> = module.functions[0]
        .params
        .iter()
        .map(|p| show_type(p.ty.as_ref().unwrap()))
        .collect();
    assert_eq!(
        types,
        [
            "Optional[Tuple[Tensor, Tensor]]",
            "Union[Tensor, List[int]]",
            "Dict[str, Tensor]",
            "Final[int]",
            "NoneType",
            "__torch__.a.b.C",
            "Tuple",
            "List[Optional[__torch__.P]]",
            "Tuple[int]",
        ]
    );
    assert_eq!(module.functions[0].returns.as_ref().unwrap().name, "None");
}

#[test]
fn assignments_unpack_and_write_attributes_and_items() {
    let code = "output, _3, = _2\n(a, b) = x\n[c, d] = y\na, = t\nself.x = y\nl[0] = y\nd[\"k\"], \
                e.f = 1, 2\nhidden0, output = hidden1, output0\nx : int = 3\n_20 : \
                Optional[Tensor] = None\nx += 1\nself.n -= 2\nl[i] **= 2\nx //= 3\nx @= m\nx |= \
                1\nx >>= 1\nf(x)\n(rnn).forward__1(packed_seq, None, )\n";
    assert_eq!(
        show_body(&body(code), 0),
        "2: <output, _3> = _2\n3: <a, b> = x\n4: <c, d> = y\n5: <a> = t\n6: self.x = y\n7: \
         l[0] = y\n8: <d[\"k\"], e.f> = (1, 2)\n9: <hidden0, output> = (hidden1, output0)\n10: x = \
         3\n11: _20 = None\n12: x += 1\n13: self.n -= 2\n14: l[i] **= 2\n15: x //= 3\n16: x @= \
         m\n17: x |= 1\n18: x >>= 1\n19: f(x)\n20: rnn.forward__1(packed_seq, None)\n"
    );
}

#[test]
fn control_flow_nests_by_indentation() {
    let code = "if torch.__is__(hx, None):\n  a = 1\nelif b:\n  a = 2\nelif c:\n  pass\nelse:\n  \
                a = 3\nwhile _5:\n  if x: break\n  else: continue\nfor _1 in range(torch.len(_0)):\n  \
                k = _0[_1]\nfor k, t in zip(a, b):\n  pass\nfor (i, j) in x, y:\n  pass\nwith \
                _5:\n  x4 = torch.add(x3, 1)\nwith m as (a, b):\n  pass\nreturn\n";
    assert_eq!(
        show_body(&body(code), 0),
        "2: if torch.__is__(hx, None)\n  3: a = 1\nelse\n  4: if b\n    5: a = 2\n  else\n    \
         6: if c\n      7: pass\n    else\n      9: a = 3\n10: while _5\n  11: if x\n    11: \
         break\n  else\n    12: continue\n13: for _1 in range(torch.len(_0))\n  14: k = \
         _0[_1]\n15: for <k, t> in zip(a, b)\n  16: pass\n17: for <i, j> in (x, y)\n  18: \
         pass\n19: with _5 as \n  20: x4 = torch.add(x3, 1)\n21: with m as <a, b>\n  22: \
         pass\n23: return \n"
    );
}

#[test]
fn simple_statements() {
    let code = "pass\nraise\nraise ValueError(\"bad\")\nassert x > 0, \"need x: {}\".format(x)\n\
                assert ok\ndel d[\"a\"], x, self.y\nreturn a, b\nreturn (a,)\n\
                ops.prim.RaiseException(_6, \"builtins.ValueError\")\n";
    assert_eq!(
        show_body(&body(code), 0),
        "2: pass\n3: raise \n4: raise ValueError(\"bad\")\n5: assert (x > 0), \"need x: \
         {}\".format(x)\n6: assert ok, \n7: del d[\"a\"], x, self.y\n8: return (a, b)\n9: return \
         (a,)\n10: ops.prim.RaiseException(_6, \"builtins.ValueError\")\n"
    );
}

#[test]
fn nested_definitions_and_forks() {
    // From a scripted `torch.jit.fork` (torch 2.15.0).
    let source = "class Forky(Module):\n  __parameters__ = []\n  __buffers__ = []\n  def \
                  forward(self: __torch__.Forky,\n    x: Tensor) -> Tensor:\n    def \
                  __forked_function():\n      return __torch__.fwork(x, )\n    fut = \
                  fork(__forked_function)\n    return torch.add(torch.wait(fut), 1)\n";
    let module = module(source);
    assert_eq!(
        show_body(&module.classes[0].methods[0].body, 0),
        "6: def __forked_function\n  7: return __torch__.fwork(x)\n8: fut = \
         fork(__forked_function)\n9: return torch.add(torch.wait(fut), 1)\n"
    );
}

#[test]
fn precedence_is_pythons() {
    for (text, tree) in [
        ("a + b * c", "(a + (b * c))"),
        ("a - b - c", "((a - b) - c)"),
        ("a * b / c // d % e @ f", "(((((a * b) / c) // d) % e) @ f)"),
        ("a | b ^ c & d << e + f", "(a | (b ^ (c & (d << (e + f)))))"),
        ("a >> b << c", "((a >> b) << c)"),
        ("-a ** b", "(-(a ** b))"),
        ("a ** b ** c", "(a ** (b ** c))"),
        ("a ** -b", "(a ** (-b))"),
        ("2 ** -1", "(2 ** -1)"),
        ("-2 ** 2", "(-(2 ** 2))"),
        ("- - a", "(-(-a))"),
        ("~a + +b", "((~a) + (+b))"),
        ("not a and b or c", "(((not a) and b) or c)"),
        ("a or b and not c", "(a or (b and (not c)))"),
        ("a and b and c", "((a and b) and c)"),
        ("not a == b", "(not (a == b))"),
        ("a < b == c", "((a < b) and (b == c))"),
        ("1 < x <= 3 < y", "(((1 < x) and (x <= 3)) and (3 < y))"),
        ("a is None", "(a is None)"),
        ("a is not None", "(a is not None)"),
        ("k in d", "(k in d)"),
        ("k not in d", "(k not in d)"),
        ("a + 1 if c else b", "((a + 1) if c else b)"),
        ("a if b else c if d else e", "(a if b else (c if d else e))"),
        (
            "(a if b else c) if d else e",
            "((a if b else c) if d else e)",
        ),
        ("lambda_ + 1", "(lambda_ + 1)"),
        ("a & b == c", "((a & b) == c)"),
    ] {
        assert_eq!(shown(text), tree, "{text}");
    }
}

#[test]
fn literals() {
    for (text, tree) in [
        ("0", "0"),
        ("9223372036854775807", "9223372036854775807"),
        ("-9223372036854775808", "-9223372036854775808"),
        ("-1", "-1"),
        ("0.", "0.0"),
        ("-0.", "-0.0"),
        ("1e-05", "1e-5"),
        ("1.0000000000000001e-05", "1e-5"),
        ("1e+20", "1e20"),
        ("inf", "inf"),
        ("-inf", "(-inf)"),
        ("True", "True"),
        ("False", "False"),
        ("None", "None"),
        ("...", "..."),
        (
            "\"a\\\"b\" 'c\\'d' \"\\n\\t\\001\"",
            "\"a\\\"bc'd\\n\\t\\u{1}\"",
        ),
        ("()", "()"),
        ("(a,)", "(a,)"),
        ("(a, b, )", "(a, b)"),
        ("(a)", "a"),
        ("[]", "[]"),
        ("[1, 2, ]", "[1, 2]"),
        ("{}", "{}"),
        (
            "{\"out\": d[\"a\"], \"sum\": 2, }",
            "{\"out\": d[\"a\"], \"sum\": 2}",
        ),
        ("-x", "(-x)"),
        ("-1 .real", "(-1.real)"),
    ] {
        assert_eq!(shown(text), tree, "{text}");
    }
    assert!(matches!(expr("-9223372036854775808"), Expr::Int(i64::MIN)));
    assert!(matches!(
        expr("-9223372036854775807"),
        Expr::Int(-9223372036854775807)
    ));
}

#[test]
fn calls_attributes_and_subscripts() {
    for (text, tree) in [
        (
            "torch.zeros([4, b, 6], dtype=_7, layout=None, device=_8)",
            "torch.zeros([4, b, 6], dtype=_7, layout=None, device=_8)",
        ),
        (
            "(rnn).forward__1(packed_seq, None, )",
            "rnn.forward__1(packed_seq, None)",
        ),
        (
            "__torch__.torch.nn.utils.rnn.pack_padded_sequence",
            "__torch__.torch.nn.utils.rnn.pack_padded_sequence",
        ),
        (
            "ops.prim.RaiseException(msg)",
            "ops.prim.RaiseException(msg)",
        ),
        ("CONSTANTS.c0", "CONSTANTS.c0"),
        ("f()", "f()"),
        ("f(a)(b)[c].d", "f(a)(b)[c].d"),
        ("x[1:, None, ...]", "x[(1::, None, ...)]"),
        ("x[::-1]", "x[::-1]"),
        ("x[a:b:c]", "x[a:b:c]"),
        ("x[:2]", "x[:2:]"),
        ("x[:]", "x[::]"),
        ("x[a,]", "x[(a,)]"),
        ("x[a, b]", "x[(a, b)]"),
        ("(hx)[0]", "hx[0]"),
        ("(sequence)[1:3]", "sequence[1:3:]"),
        ("annotate(List[int], [])", "annotate(List[int], [])"),
        (
            "unchecked_cast(Tuple[Tensor, Tensor], hx)",
            "unchecked_cast(Tuple[(Tensor, Tensor)], hx)",
        ),
        ("uninitialized(Tuple[()])", "uninitialized(Tuple[()])"),
        ("isinstance(x, (str, int))", "isinstance(x, (str, int))"),
        ("getattr(layers, \"0\")", "getattr(layers, \"0\")"),
        ("(col).value", "col.value"),
        ("f(a, k=1, )", "f(a, k=1)"),
        ("f(x == 1, y=x == 2)", "f((x == 1), y=(x == 2))"),
    ] {
        assert_eq!(shown(text), tree, "{text}");
    }
}

#[test]
fn every_line_of_a_printed_method_parses() {
    // torch.nn.utils.rnn's printed code (torch 2.15.0), which uses most of the grammar.
    let source = r#"def _packed_sequence_init_args(data: Tensor,
    batch_sizes: Optional[Tensor]=None,
    sorted_indices: Optional[Tensor]=None,
    unsorted_indices: Optional[Tensor]=None) -> Tuple[Tensor, Tensor, Optional[Tensor], Optional[Tensor]]:
  _13 = __torch__.torch.nn.utils.rnn.invert_permutation
  _15 = "AssertionError: Expected data to be a list or tuple of length 2"
  _16 = uninitialized(Tuple[Tensor, Tensor, Optional[Tensor], Optional[Tensor]])
  if torch.__is__(unsorted_indices, None):
    unsorted_indices2 : Optional[Tensor] = _13(sorted_indices, )
  else:
    unsorted_indices3 = unchecked_cast(Tensor, unsorted_indices)
    unsorted_indices2 = unsorted_indices3
  if torch.__isnot__(batch_sizes, None):
    batch_sizes1 = unchecked_cast(Tensor, batch_sizes)
    _18 = ops.prim.type(ops.prim.device(batch_sizes1))
    if torch.ne(_18, "cpu"):
      ops.prim.RaiseException(_14, "builtins.ValueError")
    else:
      pass
    _19 = (data, batch_sizes1, sorted_indices, unsorted_indices2)
    _17 = _19
  else:
    ops.prim.RaiseException(_15)
    _17 = _16
  return _17
"#;
    let module = module(source);
    assert_eq!(
        show_body(&module.functions[0].body, 0),
        r#"5: _13 = __torch__.torch.nn.utils.rnn.invert_permutation
6: _15 = "AssertionError: Expected data to be a list or tuple of length 2"
7: _16 = uninitialized(Tuple[(Tensor, Tensor, Optional[Tensor], Optional[Tensor])])
8: if torch.__is__(unsorted_indices, None)
  9: unsorted_indices2 = _13(sorted_indices)
else
  11: unsorted_indices3 = unchecked_cast(Tensor, unsorted_indices)
  12: unsorted_indices2 = unsorted_indices3
13: if torch.__isnot__(batch_sizes, None)
  14: batch_sizes1 = unchecked_cast(Tensor, batch_sizes)
  15: _18 = ops.prim.type(ops.prim.device(batch_sizes1))
  16: if torch.ne(_18, "cpu")
    17: ops.prim.RaiseException(_14, "builtins.ValueError")
  else
    19: pass
  20: _19 = (data, batch_sizes1, sorted_indices, unsorted_indices2)
  21: _17 = _19
else
  23: ops.prim.RaiseException(_15)
  24: _17 = _16
25: return _17
"#
    );
}

#[test]
fn errors_name_the_file_and_line() {
    for (source, message) in [
        ("def f(:):\n  pass\n", "code/__torch__/m.py:1: expected a parameter name, found `:`"),
        ("def f():\nx = 1\n", "code/__torch__/m.py:1: expected an indented block after this line"),
        ("def f():\n  x = 1\n    y = 2\n", "code/__torch__/m.py:3: unexpected indent"),
        ("def f():\n    x = 1\n  y = 2\n", "code/__torch__/m.py:3: unindent does not match any outer indentation level"),
        ("x = 1\n", "code/__torch__/m.py:1: expected `class` or `def` at the top level, found `x`"),
        ("  def f():\n    pass\n", "code/__torch__/m.py:1: unexpected indent"),
        ("def f():\n  x = (1,\n", "code/__torch__/m.py:2: a bracket is never closed"),
        ("def f():\n\n  x = 99999999999999999999\n", "code/__torch__/m.py:3: `99999999999999999999` is not a 64-bit integer"),
        ("def f():\n  x = 9223372036854775808\n", "code/__torch__/m.py:2: the integer 9223372036854775808 is out of range (only its negation is a 64-bit integer)"),
        ("def f():\n  x = -9223372036854775808 ** 2\n", "code/__torch__/m.py:2: the integer 9223372036854775808 is out of range (only its negation is a 64-bit integer)"),
        ("def f():\n  x = [i for i in y]\n", "code/__torch__/m.py:2: list comprehensions are not supported (the printer writes them as loops)"),
        ("def f():\n  x = {a}\n", "code/__torch__/m.py:2: expected `:` after a dict key, found `}` (set literals and comprehensions are not supported)"),
        ("def f():\n  a = b = c\n", "code/__torch__/m.py:2: chained assignment (`a = b = c`) is not supported"),
        ("def f():\n  f(x) = 1\n", "code/__torch__/m.py:2: cannot assign to a call"),
        ("def f():\n  a, b += 1\n", "code/__torch__/m.py:2: an augmented assignment has one target, not several"),
        ("def f():\n  x : int\n", "code/__torch__/m.py:2: expected `=` after the annotation (a declaration needs a value), found the end of the line"),
        ("def f():\n  x = 1; y = 2\n", "code/__torch__/m.py:2: unexpected `;`"),
        ("def f():\n  else:\n    pass\n", "code/__torch__/m.py:2: `else` without a matching `if`"),
        ("def f():\n  while x:\n    pass\n  else:\n    pass\n", "code/__torch__/m.py:4: `else` without a matching `if`"),
        ("def f():\n  try:\n    pass\n", "code/__torch__/m.py:2: `try` is not supported in a function"),
        ("def f():\n  x = lambda: 1\n", "code/__torch__/m.py:2: `lambda` is not supported"),
        ("def f():\n  x = f(*a)\n", "code/__torch__/m.py:2: `*` and `**` arguments are not supported"),
        ("def f():\n  x = f(k=1, a)\n", "code/__torch__/m.py:2: a positional argument follows a keyword argument"),
        ("def f():\n  x = a < f(b) < c\n", "code/__torch__/m.py:2: a comparison chain (`a < b < c`) whose middle operand is not a name or a literal is not supported"),
        ("def f():\n  x = y[]\n", "code/__torch__/m.py:2: an empty subscript `[]`"),
        ("def f():\n  x = a.\n", "code/__torch__/m.py:2: expected an attribute name after `.`"),
        ("def f():\n  x = \"\\N{DASH}\"\n", "code/__torch__/m.py:2: `\\N{...}` escapes are not supported"),
        ("def f():\n  x = 1 +\n", "code/__torch__/m.py:2: expected an expression, found the end of the line"),
        ("def f():\n  if x\n    pass\n", "code/__torch__/m.py:2: expected `:` at the end of the statement's header, found the end of the line"),
        ("def f():\n  raise E from e\n", "code/__torch__/m.py:2: `raise ... from` is not supported"),
        ("def f(a, a):\n  pass\n", "code/__torch__/m.py:1: duplicate parameter `a`"),
        ("def f(*args):\n  pass\n", "code/__torch__/m.py:1: `*` parameters are not supported"),
        ("def f(a: List[]):\n  pass\n", "code/__torch__/m.py:1: expected a type, found `]`"),
        ("class A(B, C):\n  pass\n", "code/__torch__/m.py:1: expected `)` after the class's base (one base only), found `,`"),
        ("class A:\n  x = 1 if\n", "code/__torch__/m.py:2: expected an expression, found the end of the line"),
        ("class A:\n  __parameters__ = [1]\n", "code/__torch__/m.py:2: `__parameters__` must be a list of strings"),
        ("class A:\n  return 1\n", "code/__torch__/m.py:2: expected an attribute declaration or a method, found `return`"),
        ("class A:\n  x\n", "code/__torch__/m.py:2: expected `=` or `:` after `x` in a class body, found the end of the line"),
        ("@torch.jit.script\ndef f():\n  pass\n", "code/__torch__/m.py:1: expected `class` or `def` at the top level, found `@`"),
        ("def f():\n  x = ^f(a)\n", "code/__torch__/m.py:2: expected an expression, found `^`"),
        ("def f():\n  c = torch.tensor(1.+2.j)\n", "code/__torch__/m.py:2: complex numbers (`2.j`) are not supported"),
        ("def f():\n  c = -2.j\n", "code/__torch__/m.py:2: complex numbers (`2.j`) are not supported"),
        ("def f():\n  x = $\n", "code/__torch__/m.py:2: unexpected character `$`"),
    ] {
        assert_eq!(error(source), message, "{source}");
    }
}

/// The source `def f():` whose body is `depth` nested `if x:`.
fn nested_ifs(depth: usize) -> String {
    let mut source = String::from("def f():\n");
    for level in 1..=depth {
        source.push_str(&" ".repeat(level));
        source.push_str("if x:\n");
    }
    source.push_str(&" ".repeat(depth + 1));
    source.push_str("pass\n");
    source
}

#[test]
fn deep_nesting_is_refused_with_an_error_not_a_stack_overflow() {
    let deep = [
        format!(
            "def f():\n  x = {}1{}\n",
            "(".repeat(100_000),
            ")".repeat(100_000)
        ),
        format!(
            "def f():\n  x = {}1{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
        format!(
            "def f():\n  x = {}1{}\n",
            "{1: ".repeat(100_000),
            "}".repeat(100_000)
        ),
        format!("def f():\n  x = {}1\n", "-".repeat(100_000)),
        format!("def f():\n  x = {}1\n", "not ".repeat(100_000)),
        format!("def f():\n  x = 1{}\n", " ** 1".repeat(100_000)),
        format!("def f():\n  x = 1{}\n", " + 1".repeat(100_000)),
        format!("def f():\n  x = 1{}\n", " and 1".repeat(100_000)),
        format!("def f():\n  x = 1{}\n", " if 1 else 1".repeat(100_000)),
        format!("def f():\n  x = a{}\n", " < a".repeat(100_000)),
        format!("def f():\n  x = a{}\n", ".a".repeat(100_000)),
        format!("def f():\n  x = a{}\n", "()".repeat(100_000)),
        format!("def f():\n  x = a{}\n", "[0]".repeat(100_000)),
        format!(
            "def f(a: {}int{}):\n  pass\n",
            "List[".repeat(100_000),
            "]".repeat(100_000)
        ),
        nested_ifs(10_000),
        format!(
            "def f():\n  if x:\n    pass\n{}",
            "  elif x:\n    pass\n".repeat(10_000)
        ),
    ];
    for source in &deep {
        let message = error(source);
        assert!(message.contains("nested too deeply"), "{message}");
        assert!(message.starts_with("code/__torch__/m.py:"), "{message}");
    }
    assert_eq!(
        error(&nested_ifs(200)),
        "code/__torch__/m.py:101: the code is nested too deeply (over 100 levels of blocks, brackets \
         and operators)"
    );
    // Well within the limit, all parse.
    for source in [
        format!("def f():\n  x = {}1{}\n", "(".repeat(40), ")".repeat(40)),
        format!("def f():\n  x = 1{}\n", " + 1".repeat(60)),
        format!("def f():\n  x = a{}\n", ".a".repeat(60)),
        nested_ifs(60),
    ] {
        module(&source);
    }
}

#[test]
fn long_flat_code_parses_in_linear_time() {
    // 100 000 statements, a list of 100 000 items, a call with 100 000 arguments.
    let mut source = String::from("def f():\n");
    for i in 0..100_000 {
        source.push_str(&format!("  _{i} = torch.add(x, {i})\n"));
    }
    source.push_str(&format!("  l = [{}]\n", "1, ".repeat(100_000)));
    source.push_str(&format!("  g({})\n", "a, ".repeat(100_000)));
    let started = std::time::Instant::now();
    let module = module(&source);
    assert_eq!(module.functions[0].body.len(), 100_002);
    assert!(started.elapsed().as_secs() < 10);
}

/// A small deterministic generator of pseudo-random numbers (xorshift).
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn arbitrary_bytes_and_mangled_code_give_errors_not_panics() {
    let seed =
        "class M(Module):\n  __parameters__ = [\"w\", ]\n  w : Tensor\n  k : Final[int] = 3\n  \
                def forward(self: __torch__.M,\n    x: Tensor) -> Tensor:\n    if \
                torch.__is__(x, None):\n      _0 = (x)[1:, None]\n    else:\n      _0 = -x ** \
                2 if a else {\"a\": [1., \"s\\n\"]}\n    for i in range(3):\n      a, b, = \
                f(x, k=1, )\n    return _0\n";
    module(seed);
    let alphabet: Vec<char> = "()[]{}:,.=+-*/%@&|^~<>!'\"\\#\n \tabcdefifelsenotinisNone0123456789\
                               é\u{0}\r"
        .chars()
        .collect();
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        // Mangle the seed: replace, insert or delete a few characters.
        let mut chars: Vec<char> = seed.chars().collect();
        for _ in 0..1 + random.below(4) {
            let at = random.below(chars.len());
            let c = alphabet[random.below(alphabet.len())];
            match random.below(3) {
                0 => chars[at] = c,
                1 => chars.insert(at, c),
                _ => {
                    chars.remove(at);
                }
            }
        }
        let text: String = chars.into_iter().collect();
        let _ = parse(PATH, &text);
    }
    for _ in 0..5_000 {
        let len = random.below(200);
        let bytes: Vec<u8> = (0..len).map(|_| random.next() as u8).collect();
        let _ = parse(PATH, &String::from_utf8_lossy(&bytes));
        let text: String = (0..len)
            .map(|_| alphabet[random.below(alphabet.len())])
            .collect();
        let _ = parse(PATH, &text);
    }
}

/// Every `.pt` file under `dir`, recursively.
fn archives(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            archives(&path, out);
        } else if path.extension().is_some_and(|e| e == "pt") {
            out.push(path);
        }
    }
}

/// Parses every code file (`<folder>/code/**.py`) of the archive at `path`; returns how many.
/// An entry that is not UTF-8 text is skipped.
fn parse_archive(path: &Path) -> usize {
    let bytes = std::fs::read(path).unwrap();
    // Not a zip archive (a legacy `torch.save` file, or a deliberately broken one): no code.
    let Ok(mut zip) = zip::ZipArchive::new(std::io::Cursor::new(bytes)) else {
        eprintln!("{}: not a zip archive, skipped", path.display());
        return 0;
    };
    let mut parsed = 0;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        let Some((_, under)) = name.split_once('/') else {
            continue;
        };
        if !(under.starts_with("code/") && under.ends_with(".py")) {
            continue;
        }
        let mut text = String::new();
        if entry.read_to_string(&mut text).is_err() {
            continue;
        }
        if let Err(e) = parse(under, &text) {
            panic!("{}: {e}", path.display());
        }
        parsed += 1;
    }
    parsed
}

/// Every code file of every archive in the fixtures (and in the folder `SCRIPT_PARSE_ARCHIVES`
/// names, if set: a place for more archives to try) parses.
#[test]
fn every_code_file_of_every_fixture_archive_parses() {
    let mut paths = Vec::new();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    archives(&fixtures, &mut paths);
    assert!(paths.len() >= 25, "{paths:?}");
    // The seed's fixtures have code files each (a plain `torch.save` file has none).
    let files: usize = paths.iter().map(|p| parse_archive(p)).sum();
    assert!(
        files >= 50,
        "{files} code files in {} archives",
        paths.len()
    );
    if let Some(extra) = std::env::var_os("SCRIPT_PARSE_ARCHIVES") {
        let mut extra_paths = Vec::new();
        archives(Path::new(&extra), &mut extra_paths);
        let files: usize = extra_paths.iter().map(|p| parse_archive(p)).sum();
        eprintln!("{files} code files in {} more archives", extra_paths.len());
    }
}

#[test]
fn a_string_continued_on_the_next_line_keeps_the_line_numbers() {
    // `body` indents the continued line too: its two spaces are in the string.
    let stmts = body("s = \"a\\\nb\"\nt = 1");
    assert_eq!(show_body(&stmts, 0), "2: s = \"a  b\"\n4: t = 1\n");
}

#[test]
fn the_deepest_code_accepted_parses_on_a_small_stack() {
    // Just under the limit, each way of nesting, parsed on a 1 MiB stack (a test thread has
    // 2 MiB, the main thread 8 MiB).
    let sources = [
        format!("def f():\n  x = {}1{}\n", "(".repeat(97), ")".repeat(97)),
        format!("def f():\n  x = {}1{}\n", "[".repeat(97), "]".repeat(97)),
        format!("def f():\n  x = {}x\n", "-".repeat(97)),
        format!("def f():\n  x = {}x\n", "not ".repeat(97)),
        format!("def f():\n  x = 1{}\n", " ** x".repeat(97)),
        format!("def f():\n  x = a{}\n", "(b".repeat(48) + &")".repeat(48)),
        nested_ifs(97),
    ];
    let parsed = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || sources.iter().all(|s| parse(PATH, s).is_ok()))
        .unwrap()
        .join()
        .unwrap();
    assert!(parsed);
}
