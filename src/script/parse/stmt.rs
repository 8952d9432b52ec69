//! Statements and blocks: a compound statement's header is one logical line ending in `:`,
//! followed by its indented block or by one simple statement on the same line.

use super::cursor::Cursor;
use super::Parser;
use crate::error::Result;
use crate::pytorch::code::{Line, Token};
use crate::script::ast::{BinOp, Stmt, StmtKind, Target};

/// The augmented assignment operators.
const AUGMENTED: &[(&str, BinOp)] = &[
    ("+=", BinOp::Add),
    ("-=", BinOp::Sub),
    ("*=", BinOp::Mul),
    ("/=", BinOp::Div),
    ("//=", BinOp::FloorDiv),
    ("%=", BinOp::Mod),
    ("**=", BinOp::Pow),
    ("@=", BinOp::MatMul),
    ("&=", BinOp::BitAnd),
    ("|=", BinOp::BitOr),
    ("^=", BinOp::BitXor),
    ("<<=", BinOp::Shl),
    (">>=", BinOp::Shr),
];

impl<'a> Parser<'a> {
    /// The body of a compound statement whose header `c` has read up to its `:`: the simple
    /// statement after the `:`, or the block indented under `header`.
    pub(super) fn suite(&mut self, header: &'a Line, mut c: Cursor<'a>) -> Result<Vec<Stmt>> {
        c.expect_op(":", "at the end of the statement's header")?;
        if !c.at_end() {
            let kind = simple(&mut c)?;
            c.end()?;
            return Ok(vec![Stmt {
                line: header.number,
                kind,
            }]);
        }
        let mut body = Vec::new();
        self.indented(header, |p| {
            body.push(p.statement()?);
            Ok(())
        })?;
        Ok(body)
    }

    /// The statement starting at the next line, with its block and `else` clauses.
    fn statement(&mut self) -> Result<Stmt> {
        let Some((line, mut c)) = self.take_line() else {
            return Err(super::error(self.path, 0, "expected a statement"));
        };
        let keyword = c.peek().and_then(Token::ident);
        if keyword.is_some_and(|k| ["if", "while", "for", "with", "def"].contains(&k)) {
            c.skip(1);
        }
        let kind = match keyword {
            Some("if") => self.if_statement(line, c)?,
            Some("while") => {
                let test = c.test()?;
                let body = self.suite(line, c)?;
                StmtKind::While { test, body }
            }
            Some("for") => {
                let target = c.for_targets()?;
                c.expect_word("in", "after the loop's variables")?;
                let iter = c.exprlist()?;
                let body = self.suite(line, c)?;
                StmtKind::For { target, iter, body }
            }
            Some("with") => {
                let item = c.test()?;
                let target = if c.eat_word("as") {
                    let target = c.binary(0)?;
                    Some(c.target(target)?)
                } else {
                    None
                };
                if c.at_op(",") {
                    return Err(c.error("a `with` of several context managers is not supported"));
                }
                let body = self.suite(line, c)?;
                StmtKind::With { item, target, body }
            }
            Some("def") => {
                // `function` reads the header again from its `def`.
                self.pos -= 1;
                StmtKind::Def(Box::new(self.function()?))
            }
            Some(word @ ("elif" | "else")) => {
                return Err(c.error(&format!("`{word}` without a matching `if`")));
            }
            Some(
                word @ ("class" | "try" | "except" | "finally" | "global" | "nonlocal" | "import"
                | "from" | "async" | "await" | "yield"),
            ) => {
                return Err(c.error(&format!("`{word}` is not supported in a function")));
            }
            _ => {
                let kind = simple(&mut c)?;
                c.end()?;
                kind
            }
        };
        Ok(Stmt {
            line: line.number,
            kind,
        })
    }

    /// `if test: body` with its `elif` and `else` clauses, after the `if`.
    fn if_statement(&mut self, line: &'a Line, mut c: Cursor<'a>) -> Result<StmtKind> {
        let test = c.test()?;
        let body = self.suite(line, c)?;
        let orelse = self.else_clause(line)?;
        Ok(StmtKind::If { test, body, orelse })
    }

    /// The `elif` or `else` clause that follows the `if` on line `header`, if any.
    fn else_clause(&mut self, header: &'a Line) -> Result<Vec<Stmt>> {
        let Some(next) = self.lines.get(self.pos) else {
            return Ok(Vec::new());
        };
        if next.indent != header.indent {
            return Ok(Vec::new());
        }
        match next.tokens.first().and_then(Token::ident) {
            Some("elif") => {
                let Some((line, mut c)) = self.take_line() else {
                    return Ok(Vec::new());
                };
                c.skip(1);
                // Each `elif` is an `if` nested in the one before: a level deeper.
                c.deeper()?;
                self.depth += 1;
                let kind = self.if_statement(line, c);
                self.depth -= 1;
                Ok(vec![Stmt {
                    line: line.number,
                    kind: kind?,
                }])
            }
            Some("else") => {
                let Some((line, mut c)) = self.take_line() else {
                    return Ok(Vec::new());
                };
                c.skip(1);
                self.suite(line, c)
            }
            _ => Ok(Vec::new()),
        }
    }
}

/// The statements that start with a keyword of their own.
const SIMPLE: &[&str] = &[
    "pass", "break", "continue", "return", "raise", "assert", "del",
];

/// A simple statement: an assignment, `return`, `pass`, ... or an expression.
fn simple(c: &mut Cursor<'_>) -> Result<StmtKind> {
    let Some(keyword) = c
        .peek()
        .and_then(Token::ident)
        .filter(|w| SIMPLE.contains(w))
    else {
        return assignment(c);
    };
    c.skip(1);
    Ok(match keyword {
        "pass" => StmtKind::Pass,
        "break" => StmtKind::Break,
        "continue" => StmtKind::Continue,
        "return" => StmtKind::Return(optional(c, Cursor::exprlist)?),
        "raise" => {
            let value = optional(c, Cursor::test)?;
            if c.at_word("from") {
                return Err(c.error("`raise ... from` is not supported"));
            }
            StmtKind::Raise(value)
        }
        "assert" => {
            let test = c.test()?;
            let msg = if c.eat_op(",") { Some(c.test()?) } else { None };
            StmtKind::Assert { test, msg }
        }
        _ => {
            let mut targets = Vec::new();
            loop {
                let target = c.test()?;
                targets.push(c.target(target)?);
                if !c.eat_op(",") || c.at_end() {
                    break;
                }
            }
            StmtKind::Del(targets)
        }
    })
}

/// `f(x)`, `a = b`, `a, b, = c`, `x : T = v`, `x += 1`.
fn assignment(c: &mut Cursor<'_>) -> Result<StmtKind> {
    let first = c.exprlist()?;
    if c.eat_op("=") {
        let value = c.exprlist()?;
        if c.at_op("=") {
            return Err(c.error("chained assignment (`a = b = c`) is not supported"));
        }
        let target = c.target(first)?;
        return Ok(StmtKind::Assign { target, value });
    }
    if c.eat_op(":") {
        let target = single(c, first, "an annotated assignment")?;
        c.parse_type()?;
        c.expect_op("=", "after the annotation (a declaration needs a value)")?;
        let value = c.exprlist()?;
        return Ok(StmtKind::Assign { target, value });
    }
    if let Some(&(_, op)) = AUGMENTED.iter().find(|(text, _)| c.at_op(text)) {
        c.skip(1);
        let target = single(c, first, "an augmented assignment")?;
        let value = c.exprlist()?;
        return Ok(StmtKind::AugAssign { target, op, value });
    }
    Ok(StmtKind::Expr(first))
}

/// The one target of `what`: a name, attribute or subscript, not a tuple.
fn single(c: &Cursor<'_>, expr: crate::script::ast::Expr, what: &str) -> Result<Target> {
    match c.target(expr)? {
        Target::Tuple(_) => Err(c.error(&format!("{what} has one target, not several"))),
        target => Ok(target),
    }
}

/// What `parse` reads, or `None` at the end of the line.
fn optional<'a, T>(
    c: &mut Cursor<'a>,
    parse: impl FnOnce(&mut Cursor<'a>) -> Result<T>,
) -> Result<Option<T>> {
    if c.at_end() {
        return Ok(None);
    }
    parse(c).map(Some)
}
