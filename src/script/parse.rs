//! The parser of TorchScript's printed code (`code/**.py`, as `torch/csrc/jit/serialization/
//! python_print.cpp` writes it) into the [syntax tree](super::ast). It reads the subset of
//! Python the printer writes and TorchScript's importer reads back
//! (`torch/csrc/jit/serialization/import_source.cpp`):
//!
//! - at the top level, `class`es and `def`s (and the `op_version_set = N` and `import` lines of
//!   old archives, skipped);
//! - in a class: `__parameters__ = [...]`, `__buffers__ = [...]`, attribute declarations
//!   (`name : Type`, `name : Final[int] = 3`, `__annotations__["0"] = Type`), other
//!   assignments (an enum's members, `__forward_hooks__ = [...]`), and methods;
//! - statements: assignments (with unpacking, annotations, attribute and subscript targets),
//!   augmented assignments, `if`/`elif`/`else`, `while`, `for`, `with`, nested `def`s (a
//!   forked function), `return`, `break`, `continue`, `pass`, `raise`, `assert`, `del` and
//!   expressions;
//! - expressions with Python's precedence (see [`expr`]).
//!
//! The input is untrusted: nothing here panics, nesting is bounded (see
//! [`MAX_DEPTH`](cursor::MAX_DEPTH)), time is linear in the input, and every error names the
//! file and line (`code/__torch__/m.py:12: ...`).

mod cursor;
mod expr;
mod stmt;
mod string;
#[cfg(test)]
mod tests;

use std::collections::HashSet;

use super::ast::{Attribute, Class, Function, Module, Param, Type};
use crate::error::Result;
use crate::pytorch::code::{lex, Line, Token};
use cursor::{error, too_deep, Cursor, MAX_DEPTH};
use string::decode;

/// Parses the code file at `path` (its path under the archive's folder,
/// `code/__torch__/torch/nn/modules/rnn.py`) whose text is `source`.
pub fn parse(path: &str, source: &str) -> Result<Module> {
    // The parser recurses once per nesting level (at most `MAX_DEPTH`): run it on a stack
    // sized for that in any build (unoptimised and sanitised builds use far larger frames),
    // or here where no thread can be made (WebAssembly).
    std::thread::scope(|s| {
        match std::thread::Builder::new()
            .name("scriptless-parse".into())
            .stack_size(PARSE_STACK_BYTES)
            .spawn_scoped(s, || parse_here(path, source))
        {
            Ok(handle) => handle.join().unwrap_or_else(|_| {
                Err(crate::error::Error::Script(format!(
                    "{path}: the parser panicked"
                )))
            }),
            Err(_) => parse_here(path, source),
        }
    })
}

/// The stack the parser runs on: 64 MiB, reserved rather than committed.
const PARSE_STACK_BYTES: usize = 64 << 20;

fn parse_here(path: &str, source: &str) -> Result<Module> {
    let lines = lex(source, false).map_err(|e| lex_error(path, &e))?;
    let mut parser = Parser {
        path,
        lines: &lines,
        pos: 0,
        depth: 0,
    };
    let mut module = Module {
        path: path.into(),
        name: module_name(path),
        classes: Vec::new(),
        functions: Vec::new(),
    };
    parser.skip_version();
    while let Some(line) = parser.lines.get(parser.pos) {
        if line.indent != 0 {
            return Err(error(path, line.number, "unexpected indent"));
        }
        match line.tokens.first().and_then(Token::ident) {
            Some("class") => module.classes.push(parser.class()?),
            Some("def") => module.functions.push(parser.function()?),
            Some("import") => parser.pos += 1,
            _ => {
                let cursor = parser.cursor(line);
                return Err(cursor.error(&format!(
                    "expected `class` or `def` at the top level, found {}",
                    cursor.found()
                )));
            }
        }
    }
    Ok(module)
}

/// The qualified name of the module in file `path`: `code/__torch__/a/b.py` is
/// `__torch__.a.b`.
fn module_name(path: &str) -> String {
    let under = match path.strip_prefix("code/") {
        Some(rest) => rest,
        None => path.split_once("/code/").map_or(path, |(_, rest)| rest),
    };
    under.strip_suffix(".py").unwrap_or(under).replace('/', ".")
}

/// The lexer's error `line N: what` as `{path}:N: what`.
fn lex_error(path: &str, message: &str) -> crate::error::Error {
    match message
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
        .and_then(|(line, what)| Some((line.parse().ok()?, what)))
    {
        Some((line, what)) => error(path, line, what),
        None => crate::error::Error::Script(format!("{path}: {message}")),
    }
}

/// The logical lines of one file, the next one to read and the depth of blocks reached.
struct Parser<'a> {
    path: &'a str,
    lines: &'a [Line],
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    /// A cursor over `line`'s tokens at the current depth.
    fn cursor(&self, line: &'a Line) -> Cursor<'a> {
        Cursor::new(self.path, &line.tokens, line.number, self.depth)
    }

    /// The next line, which the caller has seen exists, and a cursor over it; both consumed.
    fn take_line(&mut self) -> Option<(&'a Line, Cursor<'a>)> {
        let line = self.lines.get(self.pos)?;
        self.pos += 1;
        Some((line, self.cursor(line)))
    }

    /// Skips the first line if it is `op_version_set = N` (older archives).
    fn skip_version(&mut self) {
        if let Some(line) = self.lines.first() {
            if let [Token::Ident(name), eq, Token::Int(_)] = &line.tokens[..] {
                if name == "op_version_set" && eq.is_op("=") {
                    self.pos = 1;
                }
            }
        }
    }

    /// Calls `item` for each line of the block indented under `header` (each call consumes
    /// one or more lines), one level deeper.
    fn indented(
        &mut self,
        header: &Line,
        mut item: impl FnMut(&mut Self) -> Result<()>,
    ) -> Result<()> {
        if self.depth >= MAX_DEPTH {
            return Err(error(self.path, header.number, &too_deep()));
        }
        let Some(inner) = self
            .lines
            .get(self.pos)
            .map(|l| l.indent)
            .filter(|&indent| indent > header.indent)
        else {
            return Err(error(
                self.path,
                header.number,
                "expected an indented block after this line",
            ));
        };
        self.depth += 1;
        while let Some(line) = self.lines.get(self.pos) {
            if line.indent > inner {
                return Err(error(self.path, line.number, "unexpected indent"));
            }
            if line.indent < inner {
                if line.indent > header.indent {
                    return Err(error(
                        self.path,
                        line.number,
                        "unindent does not match any outer indentation level",
                    ));
                }
                break;
            }
            item(self)?;
        }
        self.depth -= 1;
        Ok(())
    }

    /// The class whose header is the next line.
    fn class(&mut self) -> Result<Class> {
        let Some((line, mut c)) = self.take_line() else {
            return Err(error(self.path, 0, "expected a class"));
        };
        c.skip(1);
        let name = c.name("a class name")?;
        let mut base = String::new();
        if c.eat_op("(") && !c.eat_op(")") {
            base = type_text(&c.parse_type()?);
            c.expect_op(")", "after the class's base (one base only)")?;
        }
        c.expect_op(":", "after the class header")?;
        let mut class = Class {
            name,
            base,
            parameters: Vec::new(),
            buffers: Vec::new(),
            attributes: Vec::new(),
            methods: Vec::new(),
            line: line.number,
        };
        if c.eat_word("pass") {
            c.end()?;
            return Ok(class);
        }
        c.end()?;
        self.indented(line, |p| p.class_item(&mut class))?;
        Ok(class)
    }

    /// One item of a class body: a method, `pass`, or an assignment or declaration.
    fn class_item(&mut self, class: &mut Class) -> Result<()> {
        let Some(line) = self.lines.get(self.pos) else {
            return Ok(());
        };
        match line.tokens.first().and_then(Token::ident) {
            Some("def") => class.methods.push(self.function()?),
            Some("pass") if line.tokens.len() == 1 => self.pos += 1,
            _ => {
                let Some((_, mut c)) = self.take_line() else {
                    return Ok(());
                };
                class_assignment(&mut c, class)?;
                c.end()?;
            }
        }
        Ok(())
    }

    /// The function whose `def` is the next line, with its body.
    fn function(&mut self) -> Result<Function> {
        let Some((line, mut c)) = self.take_line() else {
            return Err(error(self.path, 0, "expected a function"));
        };
        c.skip(1);
        let name = c.name("a function name")?;
        c.expect_op("(", "after the function's name")?;
        let params = params(&mut c)?;
        let returns = if c.eat_op("->") {
            Some(c.parse_type()?)
        } else {
            None
        };
        let body = self.suite(line, c)?;
        Ok(Function {
            name,
            params,
            returns,
            body,
            line: line.number,
        })
    }
}

/// A function's parameters, after its `(` and up to its `)`: `name: Type=default`, the type and
/// default each optional.
fn params(c: &mut Cursor<'_>) -> Result<Vec<Param>> {
    let mut params = Vec::new();
    let mut seen = HashSet::new();
    while !c.eat_op(")") {
        if c.at_op("*") || c.at_op("**") || c.at_op("/") {
            return Err(c.error(&format!("{} parameters are not supported", c.found())));
        }
        let name = c.name("a parameter name")?;
        if !seen.insert(name.clone()) {
            return Err(c.error(&format!("duplicate parameter `{name}`")));
        }
        let ty = if c.eat_op(":") {
            Some(c.parse_type()?)
        } else {
            None
        };
        let default = if c.eat_op("=") { Some(c.test()?) } else { None };
        params.push(Param { name, ty, default });
        if !c.eat_op(",") && !c.at_op(")") {
            return Err(c.error(&format!(
                "expected `,` or `)` after a parameter, found {}",
                c.found()
            )));
        }
    }
    Ok(params)
}

/// One line of a class body other than a method, into `class`.
fn class_assignment(c: &mut Cursor<'_>, class: &mut Class) -> Result<()> {
    let name = c.name("an attribute declaration or a method")?;
    if name == "__annotations__" && c.eat_op("[") {
        // An attribute whose name is not an identifier: `__annotations__["0"] = Type`.
        let Some(Token::Str(raw)) = c.next() else {
            return Err(c.error("expected a string in `__annotations__[...]`"));
        };
        let name = decode(raw).map_err(|e| c.error(&e))?;
        c.expect_op("]", "after the attribute's name")?;
        c.expect_op("=", "after `__annotations__[...]`")?;
        let ty = c.parse_type()?;
        class.attributes.push(Attribute {
            name,
            ty,
            value: None,
        });
        return Ok(());
    }
    if c.eat_op(":") {
        let ty = c.parse_type()?;
        let value = if c.eat_op("=") {
            Some(c.exprlist()?)
        } else {
            None
        };
        class.attributes.push(Attribute { name, ty, value });
        return Ok(());
    }
    c.expect_op("=", &format!("or `:` after `{name}` in a class body"))?;
    let value = c.exprlist()?;
    match name.as_str() {
        "__parameters__" => class.parameters = strings(c, &name, value)?,
        "__buffers__" => class.buffers = strings(c, &name, value)?,
        // `__annotations__ = []` starts the declarations above; nothing to keep.
        "__annotations__" => {}
        _ => class.attributes.push(Attribute {
            name,
            ty: Type {
                name: String::new(),
                args: Vec::new(),
            },
            value: Some(value),
        }),
    }
    Ok(())
}

/// The strings of `value`, the list literal assigned to `name` (`__parameters__`).
fn strings(c: &Cursor<'_>, name: &str, value: super::ast::Expr) -> Result<Vec<String>> {
    use super::ast::Expr;
    let Expr::List(items) = value else {
        return Err(c.error(&format!("`{name}` must be a list of strings")));
    };
    items
        .into_iter()
        .map(|item| match item {
            Expr::Str(s) => Ok(s),
            _ => Err(c.error(&format!("`{name}` must be a list of strings"))),
        })
        .collect()
}

/// A type as written: `Optional[Tuple[Tensor, Tensor]]`.
fn type_text(ty: &Type) -> String {
    if ty.args.is_empty() {
        return ty.name.clone();
    }
    let args: Vec<String> = ty.args.iter().map(type_text).collect();
    format!("{}[{}]", ty.name, args.join(", "))
}
