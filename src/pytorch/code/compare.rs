//! Whether a unit of code is a template's, line by line, up to what does not change what it
//! computes: TorchScript's name mangling (`___torch_mangle_3.`), the names of local variables,
//! and, where the template has a hole (`$num_classes`), the value of a literal, which is bound
//! to the hole's name for the caller to check.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::lexer::Token;
use super::units::Unit;

/// The identifier the root module's class is replaced by before comparing, in both the code
/// and the template (the seed's class may have any name).
pub(crate) const ROOT: &str = "__root__";

/// The literal each hole was bound to.
pub(crate) type Bindings = BTreeMap<String, Token>;

/// Where a unit first departs from its template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mismatch {
    /// The code's line there (its number and text); `None` when the code ends first.
    pub actual: Option<(usize, String)>,
    /// The template's line there; `None` when the template ends first.
    pub expected: Option<String>,
}

/// Compares `actual` with `template`, each with the qualified class `root` (when given)
/// replaced by [`ROOT`]; the holes' bindings, or where they first differ.
pub(crate) fn compare(
    actual: &Unit,
    template: &Unit,
    root: Option<&str>,
) -> Result<Bindings, Mismatch> {
    let got = normalize(actual, root);
    let want = normalize(template, None);
    let mut bindings = Bindings::new();
    for i in 0..got.len().max(want.len()) {
        let same = match (got.get(i), want.get(i)) {
            (Some((d1, a)), Some((d2, e))) => {
                d1 == d2
                    && a.len() == e.len()
                    && a.iter().zip(e).all(|(a, e)| bind(a, e, &mut bindings))
            }
            _ => false,
        };
        if !same {
            return Err(Mismatch {
                actual: actual.lines.get(i).map(|l| (l.number, l.text.clone())),
                expected: template.lines.get(i).map(|l| l.text.clone()),
            });
        }
    }
    Ok(bindings)
}

/// Whether `actual` matches `expected`, binding a hole to the first literal it meets.
fn bind(actual: &Token, expected: &Token, bindings: &mut Bindings) -> bool {
    match expected {
        Token::Hole(name) if actual.is_literal() => match bindings.get(name) {
            Some(bound) => bound == actual,
            None => {
                bindings.insert(name.clone(), actual.clone());
                true
            }
        },
        _ => actual == expected,
    }
}

/// `name` without TorchScript's mangling: `a.___torch_mangle_3.B` → `a.B`.
pub(crate) fn demangle(name: &str) -> String {
    name.split('.')
        .filter(|part| !is_mangle(part))
        .collect::<Vec<_>>()
        .join(".")
}

fn is_mangle(part: &str) -> bool {
    part.strip_prefix("___torch_mangle_")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The lines of `unit` as compared: each one's indentation relative to the header, and its
/// tokens demangled, the root class replaced and the locals renamed `%0`, `%1`, ... in order
/// of first use.
fn normalize(unit: &Unit, root: Option<&str>) -> Vec<(usize, Vec<Token>)> {
    let base = unit.lines.first().map_or(0, |l| l.indent);
    let root: Option<Vec<Token>> = root.map(|r| dotted(&demangle(r)));
    let lines: Vec<Vec<Token>> = unit
        .lines
        .iter()
        .map(|l| {
            let tokens = without_mangling(&l.tokens);
            match &root {
                Some(root) => replace_root(tokens, root),
                None => tokens,
            }
        })
        .collect();
    let params: HashSet<String> = unit.params().into_iter().collect();
    let locals: HashSet<&str> = lines
        .iter()
        .flat_map(|tokens| assignment_targets(tokens))
        .filter(|name| !params.contains(*name))
        .collect();
    let mut canonical: HashMap<String, String> = HashMap::new();
    let renamed = lines
        .iter()
        .map(|tokens| {
            let mut depth = 0usize;
            let mut out = Vec::with_capacity(tokens.len());
            for (i, token) in tokens.iter().enumerate() {
                match token {
                    Token::Op("(" | "[" | "{") => depth += 1,
                    Token::Op(")" | "]" | "}") => depth = depth.saturating_sub(1),
                    _ => {}
                }
                let local = match token {
                    Token::Ident(name) if locals.contains(name.as_str()) => {
                        let attribute = i > 0 && tokens[i - 1].is_op(".");
                        let keyword = depth > 0 && tokens.get(i + 1).is_some_and(|t| t.is_op("="));
                        (!attribute && !keyword).then_some(name)
                    }
                    _ => None,
                };
                out.push(match local {
                    Some(name) => {
                        let next = canonical.len();
                        let new = canonical
                            .entry(name.clone())
                            .or_insert_with(|| format!("%{next}"));
                        Token::Ident(new.clone())
                    }
                    None => token.clone(),
                });
            }
            out
        })
        .collect::<Vec<_>>();
    unit.lines
        .iter()
        .zip(renamed)
        .map(|(line, tokens)| (line.indent.saturating_sub(base), tokens))
        .collect()
}

/// `a.b.C` as tokens.
fn dotted(name: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    for (i, part) in name.split('.').enumerate() {
        if i > 0 {
            tokens.push(Token::Op("."));
        }
        tokens.push(Token::Ident(part.to_string()));
    }
    tokens
}

/// `tokens` without any `___torch_mangle_N .` pair.
fn without_mangling(tokens: &[Token]) -> Vec<Token> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let mangle = matches!(&tokens[i], Token::Ident(name) if is_mangle(name));
        if mangle && tokens.get(i + 1).is_some_and(|t| t.is_op(".")) {
            i += 2;
            continue;
        }
        out.push(tokens[i].clone());
        i += 1;
    }
    out
}

/// `tokens` with each whole occurrence of the dotted name `root` replaced by [`ROOT`].
fn replace_root(tokens: Vec<Token>, root: &[Token]) -> Vec<Token> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let whole = tokens[i..].starts_with(root)
            && (i == 0 || !tokens[i - 1].is_op("."))
            && !tokens.get(i + root.len()).is_some_and(|t| t.is_op("."));
        if whole {
            out.push(Token::Ident(ROOT.to_string()));
            i += root.len();
        } else {
            out.push(tokens[i].clone());
            i += 1;
        }
    }
    out
}

/// The names a line assigns: those before its first `=` outside brackets (and before any
/// annotation), that are neither attributes nor subscripted; a `for` loop's variables.
fn assignment_targets(tokens: &[Token]) -> Vec<&str> {
    let mut depth = 0usize;
    let end = if tokens.first().and_then(Token::ident) == Some("for") {
        tokens.iter().position(|t| t.ident() == Some("in"))
    } else {
        tokens.iter().position(|t| {
            match t {
                Token::Op("(" | "[" | "{") => depth += 1,
                Token::Op(")" | "]" | "}") => depth = depth.saturating_sub(1),
                _ => {}
            }
            depth == 0 && t.is_op("=")
        })
    };
    let Some(end) = end else {
        return Vec::new();
    };
    let mut targets = Vec::new();
    let mut depth = 0usize;
    for (i, token) in tokens[..end].iter().enumerate() {
        match token {
            Token::Op("(" | "[" | "{") => depth += 1,
            Token::Op(")" | "]" | "}") => depth = depth.saturating_sub(1),
            Token::Op(":") if depth == 0 => break,
            Token::Ident(name) if depth == 0 => {
                let attribute = i > 0 && tokens[i - 1].is_op(".");
                let object = tokens
                    .get(i + 1)
                    .is_some_and(|t| t.is_op(".") || t.is_op("["));
                if !attribute && !object && name != "for" {
                    targets.push(name.as_str());
                }
            }
            _ => {}
        }
    }
    targets
}

#[cfg(test)]
mod tests {
    use super::super::lexer::lex;
    use super::super::units::File;
    use super::*;

    fn unit(source: &str, holes: bool) -> Unit {
        let file = File::parse(lex(source, holes).unwrap());
        file.functions.into_iter().next().unwrap()
    }

    const TEMPLATE: &str = "def f(x: Tensor) -> Tensor:\n  _0 = __torch__.a.g\n  y = _0(x, $n)\n  \
                            y0, _1, = torch.max(y, dtype=$n)\n  return torch.add(y0, 1)\n";

    #[test]
    fn locals_mangling_and_holes_do_not_count() {
        let template = unit(TEMPLATE, true);
        let same = "def f(x: Tensor) -> Tensor:\n  _7 = __torch__.___torch_mangle_2.a.g\n  \
                    z = _7(x, 3)\n  dtype, _8, = torch.max(z, dtype=3)\n  return torch.add(dtype, 1)\n";
        let bindings = compare(&unit(same, false), &template, None).unwrap();
        assert_eq!(bindings["n"], Token::Int(3));
    }

    #[test]
    fn the_first_difference_is_reported() {
        let template = unit(TEMPLATE, true);
        for (source, line, expected) in [
            // Another operator.
            (
                "def f(x: Tensor) -> Tensor:\n  _0 = __torch__.a.g\n  y = _0(x, 3)\n  \
                 y0, _1, = torch.min(y, dtype=3)\n  return torch.add(y0, 1)\n",
                Some(4),
                Some("y0, _1, = torch.max(y, dtype=$n)"),
            ),
            // A hole bound twice to different values.
            (
                "def f(x: Tensor) -> Tensor:\n  _0 = __torch__.a.g\n  y = _0(x, 3)\n  \
                 y0, _1, = torch.max(y, dtype=4)\n  return torch.add(y0, 1)\n",
                Some(4),
                Some("y0, _1, = torch.max(y, dtype=$n)"),
            ),
            // A parameter is not a local: its name counts.
            (
                "def f(z: Tensor) -> Tensor:\n  _0 = __torch__.a.g\n  y = _0(z, 3)\n  \
                 y0, _1, = torch.max(y, dtype=3)\n  return torch.add(y0, 1)\n",
                Some(1),
                Some("def f(x: Tensor) -> Tensor:"),
            ),
            // Two locals that the template keeps apart, merged.
            (
                "def f(x: Tensor) -> Tensor:\n  _0 = __torch__.a.g\n  y = _0(x, 3)\n  \
                 y, _1, = torch.max(y, dtype=3)\n  return torch.add(y, 1)\n",
                Some(4),
                Some("y0, _1, = torch.max(y, dtype=$n)"),
            ),
            // One line more.
            (
                "def f(x: Tensor) -> Tensor:\n  _0 = __torch__.a.g\n  y = _0(x, 3)\n  \
                 y0, _1, = torch.max(y, dtype=3)\n  return torch.add(y0, 1)\n  return x\n",
                Some(6),
                None,
            ),
            // One line less.
            (
                "def f(x: Tensor) -> Tensor:\n  _0 = __torch__.a.g\n  y = _0(x, 3)\n  \
                 y0, _1, = torch.max(y, dtype=3)\n",
                None,
                Some("return torch.add(y0, 1)"),
            ),
            // Another indentation.
            (
                "def f(x: Tensor) -> Tensor:\n  _0 = __torch__.a.g\n  y = _0(x, 3)\n  \
                 y0, _1, = torch.max(y, dtype=3)\n    return torch.add(y0, 1)\n",
                Some(5),
                Some("return torch.add(y0, 1)"),
            ),
        ] {
            let mismatch = compare(&unit(source, false), &template, None).unwrap_err();
            assert_eq!(mismatch.actual.map(|(n, _)| n), line, "{source}");
            assert_eq!(mismatch.expected.as_deref(), expected, "{source}");
        }
    }

    #[test]
    fn the_root_class_is_replaced_whole() {
        let template = unit(
            "def forward(self: __root__) -> Tensor:\n  return self.w\n",
            false,
        );
        let code =
            "def forward(self: __torch__.m.___torch_mangle_1.Model) -> Tensor:\n  return self.w\n";
        assert!(compare(&unit(code, false), &template, Some("__torch__.m.Model")).is_ok());
        assert!(compare(&unit(code, false), &template, Some("__torch__.m")).is_err());
        assert_eq!(
            demangle("__torch__.m.___torch_mangle_12.Model"),
            "__torch__.m.Model"
        );
    }
}
