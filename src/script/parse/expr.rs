//! Expressions, with Python's precedence (loosest first): `a if c else b`, `or`, `and`, `not`,
//! comparisons, `|`, `^`, `&`, shifts, `+ -`, `* / // % @`, unary `- + ~`, `**`, then calls,
//! attributes and subscripts on atoms. Also the types written in annotations and the targets
//! of assignments. Every recursion and every link of a chain goes one level deeper (see
//! [`MAX_DEPTH`](super::cursor::MAX_DEPTH)).

use super::cursor::{is_keyword, Cursor};
use super::string::decode;
use crate::error::Result;
use crate::pytorch::code::{Token, I64_MIN_MAGNITUDE};
use crate::script::ast::{BinOp, BoolOp, CmpOp, Expr, Target, Type, UnaryOp};

/// The binary operators from `|` to `* / // % @`, loosest first.
const BINARY: &[&[(&str, BinOp)]] = &[
    &[("|", BinOp::BitOr)],
    &[("^", BinOp::BitXor)],
    &[("&", BinOp::BitAnd)],
    &[("<<", BinOp::Shl), (">>", BinOp::Shr)],
    &[("+", BinOp::Add), ("-", BinOp::Sub)],
    &[
        ("*", BinOp::Mul),
        ("/", BinOp::Div),
        ("//", BinOp::FloorDiv),
        ("%", BinOp::Mod),
        ("@", BinOp::MatMul),
    ],
];

/// The comparison operators written as one operator token.
const COMPARISONS: &[(&str, CmpOp)] = &[
    ("==", CmpOp::Eq),
    ("!=", CmpOp::Ne),
    ("<", CmpOp::Lt),
    ("<=", CmpOp::Le),
    (">", CmpOp::Gt),
    (">=", CmpOp::Ge),
];

impl Cursor<'_> {
    /// `test, test, ...`: one expression, or a tuple where a comma follows one (`a, b = b, a`,
    /// `return x,`).
    pub(super) fn exprlist(&mut self) -> Result<Expr> {
        let first = self.test()?;
        if !self.at_op(",") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat_op(",") {
            if self.ends_exprlist() {
                break;
            }
            items.push(self.test()?);
        }
        Ok(Expr::Tuple(items))
    }

    /// Whether nothing more of an expression list follows (a trailing comma).
    fn ends_exprlist(&self) -> bool {
        self.at_end() || ["=", ":", ")", "]", "}"].iter().any(|op| self.at_op(op))
    }

    /// An expression: `body if test else orelse`, or anything tighter.
    pub(super) fn test(&mut self) -> Result<Expr> {
        self.nested(|c| {
            if c.at_word("lambda") {
                return Err(c.error("`lambda` is not supported"));
            }
            let body = c.bool_op(BoolOp::Or)?;
            if !c.eat_word("if") {
                return Ok(body);
            }
            let test = c.bool_op(BoolOp::Or)?;
            c.expect_word("else", "in a conditional expression")?;
            let orelse = c.test()?;
            Ok(Expr::IfExp {
                test: Box::new(test),
                body: Box::new(body),
                orelse: Box::new(orelse),
            })
        })
    }

    /// `a or b or ...` (`op` is `Or`) or `a and b and ...` (`And`), left to right.
    fn bool_op(&mut self, op: BoolOp) -> Result<Expr> {
        let (word, operand): (_, fn(&mut Self) -> Result<Expr>) = match op {
            BoolOp::Or => ("or", |c| c.bool_op(BoolOp::And)),
            BoolOp::And => ("and", Self::not_test),
        };
        let mut left = operand(self)?;
        let depth = self.depth();
        while self.eat_word(word) {
            self.deeper()?;
            let right = operand(self)?;
            left = Expr::BoolOp(op, Box::new(left), Box::new(right));
        }
        self.set_depth(depth);
        Ok(left)
    }

    /// `not x`, or a comparison.
    fn not_test(&mut self) -> Result<Expr> {
        if self.eat_word("not") {
            let operand = self.nested(Self::not_test)?;
            return Ok(Expr::Unary(UnaryOp::Not, Box::new(operand)));
        }
        self.comparison()
    }

    /// `a < b`, `a is not None`, `k not in d`; a chain `a < b <= c` is `a < b and b <= c`
    /// where its middle operands are names or literals (evaluated twice, which only they
    /// allow), and refused otherwise.
    fn comparison(&mut self) -> Result<Expr> {
        let first = self.binary(0)?;
        let mut links = Vec::new();
        while let Some((op, len)) = self.comparison_op() {
            self.skip(len);
            links.push((op, self.binary(0)?));
        }
        if links.is_empty() {
            return Ok(first);
        }
        let count = links.len();
        let depth = self.depth();
        let mut left = first;
        let mut chain: Option<Expr> = None;
        for (i, (op, right)) in links.into_iter().enumerate() {
            let last = i + 1 == count;
            if !last && !is_simple(&right) {
                return Err(self.error(
                    "a comparison chain (`a < b < c`) whose middle operand is not a name or a \
                     literal is not supported",
                ));
            }
            // A middle operand is also the next link's left: a name or literal, cheap to copy.
            let next_left = (!last).then(|| right.clone());
            let link = Expr::Compare(op, Box::new(left), Box::new(right));
            chain = Some(match chain {
                None => link,
                Some(chain) => {
                    self.deeper()?;
                    Expr::BoolOp(BoolOp::And, Box::new(chain), Box::new(link))
                }
            });
            match next_left {
                Some(next) => left = next,
                None => break,
            }
        }
        self.set_depth(depth);
        chain.ok_or_else(|| self.error("a comparison without operands"))
    }

    /// The comparison operator at the cursor and how many tokens it takes.
    fn comparison_op(&self) -> Option<(CmpOp, usize)> {
        match self.peek()? {
            Token::Op(op) => COMPARISONS
                .iter()
                .find(|(text, _)| text == op)
                .map(|&(_, cmp)| (cmp, 1)),
            Token::Ident(word) => match (word.as_str(), self.peek_at(1).and_then(Token::ident)) {
                ("in", _) => Some((CmpOp::In, 1)),
                ("not", Some("in")) => Some((CmpOp::NotIn, 2)),
                ("is", Some("not")) => Some((CmpOp::IsNot, 2)),
                ("is", _) => Some((CmpOp::Is, 1)),
                _ => None,
            },
            _ => None,
        }
    }

    /// The binary operators of [`BINARY`]`[level..]`, each level left to right.
    pub(super) fn binary(&mut self, level: usize) -> Result<Expr> {
        let Some(ops) = BINARY.get(level) else {
            return self.factor();
        };
        let mut left = self.binary(level + 1)?;
        let depth = self.depth();
        while let Some(op) = ops
            .iter()
            .find(|(text, _)| self.at_op(text))
            .map(|(_, op)| *op)
        {
            self.skip(1);
            self.deeper()?;
            let right = self.binary(level + 1)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
        self.set_depth(depth);
        Ok(left)
    }

    /// `-x`, `+x`, `~x` or a power. A minus right before a number literal (that no `**` or
    /// trailer binds first) gives the negative literal: `-1` is `Int(-1)` and
    /// `-9223372036854775808` is `Int(i64::MIN)`.
    fn factor(&mut self) -> Result<Expr> {
        let op = match self.peek() {
            Some(Token::Op("-")) => UnaryOp::Neg,
            Some(Token::Op("+")) => UnaryOp::Pos,
            Some(Token::Op("~")) => UnaryOp::Invert,
            _ => return self.power(),
        };
        self.skip(1);
        if op == UnaryOp::Neg {
            if let Some(literal) = self.negative_literal() {
                return Ok(literal);
            }
        }
        let operand = self.nested(Self::factor)?;
        Ok(Expr::Unary(op, Box::new(operand)))
    }

    /// The negated number literal at the cursor, consumed, if nothing binds it first.
    fn negative_literal(&mut self) -> Option<Expr> {
        let bound = self
            .peek_at(1)
            .is_some_and(|t| ["**", ".", "(", "["].iter().any(|op| t.is_op(op)));
        if bound || self.imaginary() {
            return None;
        }
        let literal = match self.peek()? {
            Token::Int(n) => Expr::Int(n.wrapping_neg()),
            Token::Float(x) => Expr::Float(-x),
            _ => return None,
        };
        self.skip(1);
        Some(literal)
    }

    /// `base ** exponent` (right-associative; the exponent may be unary: `2 ** -1`), or a
    /// primary.
    fn power(&mut self) -> Result<Expr> {
        let base = self.primary()?;
        if !self.eat_op("**") {
            return Ok(base);
        }
        let exponent = self.nested(Self::factor)?;
        Ok(Expr::Binary(BinOp::Pow, Box::new(base), Box::new(exponent)))
    }

    /// An atom followed by attributes, calls and subscripts.
    fn primary(&mut self) -> Result<Expr> {
        let mut value = self.atom()?;
        let depth = self.depth();
        loop {
            if self.eat_op(".") {
                self.deeper()?;
                let Some(Token::Ident(name)) = self.next() else {
                    return Err(self.error("expected an attribute name after `.`"));
                };
                value = Expr::Attr(Box::new(value), name.clone());
            } else if self.eat_op("(") {
                self.deeper()?;
                value = self.call(value)?;
            } else if self.eat_op("[") {
                self.deeper()?;
                let index = self.subscript()?;
                value = Expr::Subscript(Box::new(value), Box::new(index));
            } else {
                break;
            }
        }
        self.set_depth(depth);
        Ok(value)
    }

    /// The arguments of a call, after its `(`: positional ones, then `name=value` ones.
    fn call(&mut self, func: Expr) -> Result<Expr> {
        let mut args = Vec::new();
        let mut kwargs = Vec::new();
        while !self.eat_op(")") {
            if self.at_op("*") || self.at_op("**") {
                return Err(self.error("`*` and `**` arguments are not supported"));
            }
            if let (Some(Token::Ident(name)), Some(eq)) = (self.peek(), self.peek_at(1)) {
                if eq.is_op("=") {
                    self.skip(2);
                    kwargs.push((name.clone(), self.test()?));
                    self.list_separator(")", "between arguments")?;
                    continue;
                }
            }
            if !kwargs.is_empty() {
                return Err(self.error("a positional argument follows a keyword argument"));
            }
            args.push(self.test()?);
            self.list_separator(")", "between arguments")?;
        }
        Ok(Expr::Call {
            func: Box::new(func),
            args,
            kwargs,
            site: Default::default(),
        })
    }

    /// After an item of a bracketed list: its `,`, or the closing bracket `close` (left for
    /// the caller's loop to consume).
    fn list_separator(&mut self, close: &str, context: &str) -> Result<()> {
        if self.eat_op(",") || self.at_op(close) {
            return Ok(());
        }
        Err(self.error(&format!(
            "expected `,` or `{close}` {context}, found {}",
            self.found()
        )))
    }

    /// A subscript's index, after its `[`: one item, or a tuple of them (`x[1:, None, ...]`).
    fn subscript(&mut self) -> Result<Expr> {
        let mut items = Vec::new();
        let mut tuple = false;
        while !self.eat_op("]") {
            items.push(self.slice_item()?);
            tuple |= self.at_op(",");
            self.list_separator("]", "in a subscript")?;
        }
        if items.is_empty() {
            return Err(self.error("an empty subscript `[]`"));
        }
        if !tuple {
            if let Some(item) = items.pop() {
                return Ok(item);
            }
        }
        Ok(Expr::Tuple(items))
    }

    /// `lower:upper:step` (each part optional) or an expression, inside a subscript.
    fn slice_item(&mut self) -> Result<Expr> {
        let lower = if self.at_op(":") {
            None
        } else {
            let value = self.test()?;
            if !self.at_op(":") {
                return Ok(value);
            }
            Some(Box::new(value))
        };
        self.skip(1);
        let upper = self.slice_part()?;
        let step = if self.eat_op(":") {
            self.slice_part()?
        } else {
            None
        };
        Ok(Expr::Slice(lower, upper, step))
    }

    /// One optional part of a slice.
    fn slice_part(&mut self) -> Result<Option<Box<Expr>>> {
        if self.at_op(":") || self.at_op(",") || self.at_op("]") {
            return Ok(None);
        }
        Ok(Some(Box::new(self.test()?)))
    }

    /// A name, literal, or bracketed expression.
    fn atom(&mut self) -> Result<Expr> {
        let Some(token) = self.peek() else {
            return Err(self.error("expected an expression, found the end of the line"));
        };
        let expr = match token {
            Token::Ident(name) if name == "None" => Expr::None,
            Token::Ident(name) if is_keyword(name) => {
                return Err(self.error(&format!("expected an expression, found `{name}`")));
            }
            Token::Ident(name) => Expr::Name(name.clone()),
            Token::Int(i64::MIN) => {
                return Err(self.error(&format!(
                    "the integer {I64_MIN_MAGNITUDE} is out of range (only its negation is a \
                     64-bit integer)"
                )));
            }
            Token::Int(_) | Token::Float(_) if self.imaginary() => {
                return Err(self.error("complex numbers (`2.j`) are not supported"));
            }
            &Token::Int(n) => Expr::Int(n),
            &Token::Float(x) => Expr::Float(x),
            &Token::Bool(b) => Expr::Bool(b),
            Token::Str(_) => return self.strings(),
            Token::Op("...") => Expr::Ellipsis,
            Token::Op("(") => {
                self.skip(1);
                return self.parenthesized();
            }
            Token::Op("[") => {
                self.skip(1);
                return self.list();
            }
            Token::Op("{") => {
                self.skip(1);
                return self.dict();
            }
            _ => return Err(self.error(&format!("expected an expression, found {}", self.found()))),
        };
        self.skip(1);
        Ok(expr)
    }

    /// Whether the number at the cursor is followed by `j`: an imaginary literal (`2.j`).
    fn imaginary(&self) -> bool {
        matches!(self.peek_at(1).and_then(Token::ident), Some("j" | "J"))
    }

    /// Adjacent string literals, decoded and joined (`"ab" "cd"` is `"abcd"`).
    fn strings(&mut self) -> Result<Expr> {
        let mut text = String::new();
        while let Some(Token::Str(raw)) = self.peek() {
            text.push_str(&decode(raw).map_err(|e| self.error(&e))?);
            self.skip(1);
        }
        Ok(Expr::Str(text))
    }

    /// After `(`: `()`, `(x)`, `(x,)`, `(a, b)`.
    fn parenthesized(&mut self) -> Result<Expr> {
        if self.eat_op(")") {
            return Ok(Expr::Tuple(Vec::new()));
        }
        let first = self.test()?;
        if self.at_word("for") {
            return Err(self.error("generator expressions are not supported"));
        }
        if self.eat_op(")") {
            return Ok(first);
        }
        self.list_separator(")", "in a tuple")?;
        let mut items = vec![first];
        while !self.eat_op(")") {
            items.push(self.test()?);
            self.list_separator(")", "in a tuple")?;
        }
        Ok(Expr::Tuple(items))
    }

    /// After `[`: a list literal.
    fn list(&mut self) -> Result<Expr> {
        let mut items = Vec::new();
        while !self.eat_op("]") {
            items.push(self.test()?);
            if self.at_word("for") {
                return Err(self.error(
                    "list comprehensions are not supported (the printer writes them as loops)",
                ));
            }
            self.list_separator("]", "in a list")?;
        }
        Ok(Expr::List(items))
    }

    /// After `{`: a dict literal.
    fn dict(&mut self) -> Result<Expr> {
        let mut items = Vec::new();
        while !self.eat_op("}") {
            if self.at_op("**") {
                return Err(self.error("`**` in a dict literal is not supported"));
            }
            let key = self.test()?;
            if !self.eat_op(":") {
                return Err(self.error(&format!(
                    "expected `:` after a dict key, found {} (set literals and comprehensions \
                     are not supported)",
                    self.found()
                )));
            }
            let value = self.test()?;
            if self.at_word("for") {
                return Err(self.error("dict comprehensions are not supported"));
            }
            items.push((key, value));
            self.list_separator("}", "in a dict")?;
        }
        Ok(Expr::Dict(items))
    }

    /// A type: `Tensor`, `List[int]`, `__torch__.m.C`, `Dict[str, Optional[Tensor]]`,
    /// `Tuple[()]` (no arguments).
    pub(super) fn parse_type(&mut self) -> Result<Type> {
        self.nested(|c| {
            let mut name = match c.peek() {
                Some(Token::Ident(name)) if name == "None" || !is_keyword(name) => name.clone(),
                _ => return Err(c.error(&format!("expected a type, found {}", c.found()))),
            };
            c.skip(1);
            while c.eat_op(".") {
                name.push('.');
                name.push_str(&c.name("a name after `.` in a type")?);
            }
            let mut args = Vec::new();
            if c.eat_op("[") {
                if c.at_op("(") && c.peek_at(1).is_some_and(|t| t.is_op(")")) {
                    // `Tuple[()]`, the empty tuple's type.
                    c.skip(2);
                    c.expect_op("]", "after `()` in a type")?;
                    return Ok(Type { name, args });
                }
                loop {
                    args.push(c.parse_type()?);
                    if c.eat_op("]") {
                        break;
                    }
                    c.expect_op(",", "between a type's arguments")?;
                    if c.eat_op("]") {
                        break;
                    }
                }
            }
            Ok(Type { name, args })
        })
    }

    /// The targets of a `for` loop, up to its `in`: `x`, `a, b`, `(a, b)`.
    pub(super) fn for_targets(&mut self) -> Result<Target> {
        let first = self.binary(0)?;
        if !self.at_op(",") {
            return self.target(first);
        }
        let mut items = vec![self.target(first)?];
        while self.eat_op(",") {
            if self.at_word("in") {
                break;
            }
            let item = self.binary(0)?;
            items.push(self.target(item)?);
        }
        Ok(Target::Tuple(items))
    }

    /// What `expr` (the left of an `=`) assigns to.
    pub(super) fn target(&self, expr: Expr) -> Result<Target> {
        match expr {
            Expr::Name(name) => Ok(Target::Name(name)),
            Expr::Attr(value, name) => Ok(Target::Attr(*value, name)),
            Expr::Subscript(value, index) => Ok(Target::Subscript(*value, *index)),
            Expr::Tuple(items) | Expr::List(items) => Ok(Target::Tuple(
                items
                    .into_iter()
                    .map(|item| self.target(item))
                    .collect::<Result<_>>()?,
            )),
            other => Err(self.error(&format!("cannot assign to {}", describe(&other)))),
        }
    }
}

/// Whether `expr` may be evaluated twice in a comparison chain: a name or a literal.
fn is_simple(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::Name(_) | Expr::Int(_) | Expr::Float(_) | Expr::Bool(_) | Expr::Str(_) | Expr::None
    )
}

/// What an expression is, for an error message.
fn describe(expr: &Expr) -> &'static str {
    match expr {
        Expr::Call { .. } => "a call",
        Expr::Int(_) | Expr::Float(_) | Expr::Bool(_) | Expr::Str(_) | Expr::None => "a literal",
        Expr::Ellipsis => "`...`",
        Expr::Slice(..) => "a slice",
        Expr::Dict(_) => "a dict",
        Expr::Unary(..) | Expr::Binary(..) | Expr::BoolOp(..) => "an operator's result",
        Expr::Compare(..) => "a comparison",
        Expr::IfExp { .. } => "a conditional expression",
        _ => "this expression",
    }
}
