//! Operator schemas in PyTorch's own notation (`native_functions.yaml`):
//! `aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor`. Each registry
//! entry is written as one, and calls are bound to its arguments by position, by keyword and
//! by default, as PyTorch binds them.

use std::rc::Rc;

use super::value::Value;

/// An argument's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    /// `Tensor` (and `Tensor(a!)` and the like: aliasing marks are dropped).
    Tensor,
    /// `int`, `SymInt`.
    Int,
    /// `float`.
    Float,
    /// `bool`.
    Bool,
    /// `Scalar`: an int, float or bool.
    Scalar,
    /// `str`.
    Str,
    /// `ScalarType`, `Layout`, `MemoryFormat`: codes, passed as ints.
    Code,
    /// `Device`: a device or its name.
    Device,
    /// `Any`, `Generator` and other types passed through as they are.
    Any,
    /// `T[]` or `T[N]` (a fixed length, where a single value stands for N copies).
    List(Box<Ty>, Option<usize>),
    /// `T?`.
    Optional(Box<Ty>),
}

/// One argument: its name, type and default.
#[derive(Debug, Clone)]
pub struct Arg {
    /// The name (`self`, `other`, `dim`).
    pub name: String,
    /// The type.
    pub ty: Ty,
    /// The default, where it has one.
    pub default: Option<Default>,
    /// Whether it comes after `*` (keyword only).
    pub keyword_only: bool,
    /// Whether the operator writes to it (`Tensor(a!) self`): the caller's variable then holds
    /// the result.
    pub mutated: bool,
}

/// An argument's default, as the schema writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Default {
    /// `None`.
    None,
    /// `True`, `False`.
    Bool(bool),
    /// An int (also a code: `contiguous_format` is 0).
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A list of ints (`[]`, `[0, 0]`, or one int for an `int[N]`, repeated).
    Ints(Vec<i64>),
}

impl Default {
    /// The default as a value.
    pub fn value(&self) -> Value {
        match self {
            Default::None => Value::None,
            Default::Bool(b) => Value::Bool(*b),
            Default::Int(n) => Value::Int(*n),
            Default::Float(x) => Value::Float(*x),
            Default::Str(s) => Value::Str(Rc::from(s.as_str())),
            Default::Ints(v) => Value::list(v.iter().map(|&n| Value::Int(n)).collect()),
        }
    }
}

/// A parsed schema.
#[derive(Debug, Clone)]
pub struct Schema {
    /// The qualified name without the overload: `aten::add`.
    pub name: String,
    /// The overload name (`Tensor`; empty for the default overload).
    pub overload: String,
    /// The arguments in order.
    pub args: Vec<Arg>,
    /// The text after `->`.
    pub returns: String,
    /// The schema as written.
    pub text: String,
    /// The arguments' names, shared by every call's bound [`Args`](super::Args).
    pub arg_names: std::sync::Arc<[String]>,
}

impl Schema {
    /// `aten::add.Tensor` (or `aten::relu` for a default overload).
    pub fn full_name(&self) -> String {
        if self.overload.is_empty() {
            self.name.clone()
        } else {
            format!("{}.{}", self.name, self.overload)
        }
    }

    /// Parses a schema; the error says what is wrong with it (only the registry's own schemas
    /// are parsed, so an error is a bug in an entry).
    pub fn parse(text: &str) -> Result<Self, String> {
        let open = text.find('(').ok_or("no `(`")?;
        // The `)` that closes the arguments (the return type may hold parentheses too).
        let mut depth = 0usize;
        let mut close = None;
        for (i, c) in text.char_indices().skip_while(|&(i, _)| i < open) {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let close = close.ok_or("no `)`")?;
        let head = text[..open].trim();
        let (name, overload) = match head.split_once('.') {
            Some((n, o)) => (n.to_string(), o.to_string()),
            None => (head.to_string(), String::new()),
        };
        if !name.contains("::") {
            return Err(format!("`{head}` has no namespace"));
        }
        let returns = text[close + 1..]
            .trim()
            .strip_prefix("->")
            .ok_or("no `->`")?
            .trim()
            .to_string();
        let mut args = Vec::new();
        let mut keyword_only = false;
        for piece in split_top(&text[open + 1..close]) {
            let piece = piece.trim();
            if piece.is_empty() {
                continue;
            }
            if piece == "*" {
                keyword_only = true;
                continue;
            }
            let (decl, default) = match piece.split_once('=') {
                Some((d, v)) => (d.trim(), Some(v.trim())),
                None => (piece, None),
            };
            let (ty, arg_name) = decl.rsplit_once(' ').ok_or(format!("argument `{decl}`"))?;
            let mutated = ty.contains('!');
            let ty = parse_ty(ty.trim())?;
            let default = default.map(|d| parse_default(d, &ty)).transpose()?;
            args.push(Arg {
                name: arg_name.to_string(),
                ty,
                default,
                keyword_only,
                mutated,
            });
        }
        Ok(Self {
            name,
            overload,
            arg_names: args.iter().map(|a| a.name.clone()).collect(),
            args,
            returns,
            text: text.to_string(),
        })
    }
}

/// Splits at the commas outside brackets.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn parse_ty(s: &str) -> Result<Ty, String> {
    // Aliasing annotations: `Tensor(a!)`, `Tensor(a)[]`.
    let mut s = s.to_string();
    while let (Some(a), Some(b)) = (s.find('('), s.find(')')) {
        if b < a {
            break;
        }
        s.replace_range(a..=b, "");
    }
    let s = s.trim();
    if let Some(inner) = s.strip_suffix('?') {
        return Ok(Ty::Optional(Box::new(parse_ty(inner)?)));
    }
    if let Some(open) = s.rfind('[') {
        if s.ends_with(']') {
            let n = &s[open + 1..s.len() - 1];
            let len = if n.is_empty() {
                None
            } else {
                Some(n.parse().map_err(|_| format!("list length in `{s}`"))?)
            };
            return Ok(Ty::List(Box::new(parse_ty(&s[..open])?), len));
        }
    }
    Ok(match s {
        "Tensor" => Ty::Tensor,
        "int" | "SymInt" => Ty::Int,
        "float" => Ty::Float,
        "bool" => Ty::Bool,
        "Scalar" => Ty::Scalar,
        "str" => Ty::Str,
        "ScalarType" | "Layout" | "MemoryFormat" => Ty::Code,
        "Device" => Ty::Device,
        "Any" | "Generator" | "Dict" | "AnyClassType" => Ty::Any,
        t if t.starts_with('t') && t[1..].chars().all(|c| c.is_ascii_digit()) => Ty::Any,
        other => return Err(format!("unknown type `{other}`")),
    })
}

fn parse_default(s: &str, ty: &Ty) -> Result<Default, String> {
    let base = match ty {
        Ty::Optional(t) => &**t,
        t => t,
    };
    let float = matches!(base, Ty::Float);
    Ok(match s {
        "None" => Default::None,
        "True" => Default::Bool(true),
        "False" => Default::Bool(false),
        "contiguous_format" => Default::Int(0),
        "long" => Default::Int(4),
        "Mean" => Default::Int(1),
        _ if s.starts_with('"') || s.starts_with('\'') => {
            Default::Str(s[1..s.len() - 1].to_string())
        }
        _ if s.starts_with('[') => Default::Ints(
            s[1..s.len() - 1]
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| p.parse::<i64>().map_err(|_| format!("default `{s}`")))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        _ => match (s.parse::<i64>(), base) {
            (Ok(n), Ty::List(_, Some(len))) => Default::Ints(vec![n; *len]),
            (Ok(n), _) if !float => Default::Int(n),
            _ => Default::Float(s.parse::<f64>().map_err(|_| format!("default `{s}`"))?),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_parse_with_overloads_defaults_and_keywords() {
        let s = Schema::parse(
            "aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor",
        )
        .unwrap();
        assert_eq!(s.full_name(), "aten::add.Tensor");
        assert_eq!(s.args.len(), 3);
        assert!(s.args[2].keyword_only);
        assert_eq!(s.args[2].default, Some(Default::Int(1)));
        let s = Schema::parse(
            "aten::max_pool2d(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, \
             int[2] dilation=1, bool ceil_mode=False) -> Tensor",
        )
        .unwrap();
        assert_eq!(s.args[1].ty, Ty::List(Box::new(Ty::Int), Some(2)));
        assert_eq!(s.args[3].default, Some(Default::Ints(vec![0, 0])));
        let s = Schema::parse("aten::relu_(Tensor(a!) self) -> Tensor(a!)").unwrap();
        assert_eq!(s.args[0].ty, Ty::Tensor);
        assert!(s.args[0].mutated);
        let s = Schema::parse("aten::sum.dim_IntList(Tensor self, int[1]? dim, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor").unwrap();
        assert!(matches!(s.args[1].ty, Ty::Optional(_)));
    }
}
