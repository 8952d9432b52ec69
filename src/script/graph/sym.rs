//! The symbolic sizes of a `.pt2` program: sympy expressions as the export schema writes them
//! (`Symbol('s77', positive=True, integer=True)`, `Mul(Integer(2), Symbol('s77', ...))`), read
//! into a small tree and evaluated once the symbols are bound.

use std::collections::HashMap;

/// A symbolic integer expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    Int(i64),
    Symbol(String),
    Add(Vec<Expr>),
    Mul(Vec<Expr>),
    FloorDiv(Box<Expr>, Box<Expr>),
    Mod(Box<Expr>, Box<Expr>),
    Max(Vec<Expr>),
    Min(Vec<Expr>),
    /// A form scriptless does not evaluate (the sizes it describes are not checked).
    Other(String),
}

impl Expr {
    /// Reads sympy's `srepr` form; a form it does not know becomes [`Expr::Other`].
    pub(crate) fn parse(text: &str) -> Expr {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
            depth: 0,
        };
        match p.expr() {
            Some(e) if p.rest_is_empty() => e,
            _ => Expr::Other(text.to_string()),
        }
    }

    /// The value under `symbols`, or `None` where a symbol is unbound, the form unknown or the
    /// arithmetic overflows.
    pub(crate) fn eval(&self, symbols: &HashMap<String, i64>) -> Option<i64> {
        let all = |items: &[Expr]| -> Option<Vec<i64>> {
            items.iter().map(|e| e.eval(symbols)).collect()
        };
        match self {
            Expr::Int(n) => Some(*n),
            Expr::Symbol(s) => symbols.get(s).copied(),
            Expr::Add(items) => all(items)?.into_iter().try_fold(0i64, i64::checked_add),
            Expr::Mul(items) => all(items)?.into_iter().try_fold(1i64, i64::checked_mul),
            Expr::FloorDiv(a, b) => {
                let (a, b) = (a.eval(symbols)?, b.eval(symbols)?);
                (b != 0).then(|| a.div_euclid(b))
            }
            Expr::Mod(a, b) => {
                let (a, b) = (a.eval(symbols)?, b.eval(symbols)?);
                (b != 0).then(|| a.rem_euclid(b))
            }
            Expr::Max(items) => all(items)?.into_iter().max(),
            Expr::Min(items) => all(items)?.into_iter().min(),
            Expr::Other(_) => None,
        }
    }

    /// The expression as PyTorch prints a size (`s77`, `2*s77`).
    pub(crate) fn display(&self) -> String {
        let join = |items: &[Expr], sep: &str| {
            items
                .iter()
                .map(Expr::display)
                .collect::<Vec<_>>()
                .join(sep)
        };
        match self {
            Expr::Int(n) => n.to_string(),
            Expr::Symbol(s) => s.clone(),
            Expr::Add(items) => join(items, " + "),
            Expr::Mul(items) => join(items, "*"),
            Expr::FloorDiv(a, b) => format!("({}//{})", a.display(), b.display()),
            Expr::Mod(a, b) => format!("({} % {})", a.display(), b.display()),
            Expr::Max(items) => format!("max({})", join(items, ", ")),
            Expr::Min(items) => format!("min({})", join(items, ", ")),
            Expr::Other(s) => s.clone(),
        }
    }
}

/// How deeply expressions may nest.
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn rest_is_empty(&mut self) -> bool {
        self.skip_space();
        self.i == self.s.len()
    }

    fn skip_space(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_space();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Option<&str> {
        self.skip_space();
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()
            .filter(|s| !s.is_empty())
    }

    fn quoted(&mut self) -> Option<String> {
        self.skip_space();
        let quote = *self.s.get(self.i)?;
        if quote != b'\'' && quote != b'"' {
            return None;
        }
        let start = self.i + 1;
        let end = start + self.s[start..].iter().position(|&c| c == quote)?;
        self.i = end + 1;
        String::from_utf8(self.s[start..end].to_vec()).ok()
    }

    fn integer(&mut self) -> Option<i64> {
        self.skip_space();
        let start = self.i;
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()?
            .parse()
            .ok()
    }

    /// `Name(args)`, a bare integer, or a bare name (`True`).
    fn expr(&mut self) -> Option<Expr> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let e = self.expr_inner();
        self.depth -= 1;
        e
    }

    fn expr_inner(&mut self) -> Option<Expr> {
        self.skip_space();
        if self
            .s
            .get(self.i)
            .is_some_and(|c| c.is_ascii_digit() || *c == b'-')
        {
            return self.integer().map(Expr::Int);
        }
        let name = self.ident()?.to_string();
        if !self.eat(b'(') {
            return Some(Expr::Other(name));
        }
        if name == "Symbol" {
            let symbol = self.quoted()?;
            // Assumptions follow: `, positive=True, integer=True`.
            while self.eat(b',') {
                self.ident()?;
                if !self.eat(b'=') {
                    return None;
                }
                self.ident()?;
            }
            return self.eat(b')').then_some(Expr::Symbol(symbol));
        }
        let mut args = Vec::new();
        if !self.eat(b')') {
            loop {
                args.push(self.expr()?);
                if self.eat(b')') {
                    break;
                }
                if !self.eat(b',') {
                    return None;
                }
            }
        }
        let two = |mut args: Vec<Expr>| -> Option<(Box<Expr>, Box<Expr>)> {
            (args.len() == 2).then(|| {
                let b = args.pop().unwrap_or(Expr::Int(0));
                let a = args.pop().unwrap_or(Expr::Int(0));
                (Box::new(a), Box::new(b))
            })
        };
        Some(match name.as_str() {
            "Integer" => match args[..] {
                [Expr::Int(n)] => Expr::Int(n),
                _ => return None,
            },
            "Add" => Expr::Add(args),
            "Mul" => Expr::Mul(args),
            "FloorDiv" => {
                let (a, b) = two(args)?;
                Expr::FloorDiv(a, b)
            }
            "Mod" | "PythonMod" => {
                let (a, b) = two(args)?;
                Expr::Mod(a, b)
            }
            "Max" => Expr::Max(args),
            "Min" => Expr::Min(args),
            _ => Expr::Other(name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_evaluates_the_forms_export_writes() {
        let s = "Symbol('s77', positive=True, integer=True)";
        assert_eq!(Expr::parse(s), Expr::Symbol("s77".into()));
        let e = Expr::parse("Mul(Integer(3), Symbol('s77', positive=True, integer=True))");
        let symbols = HashMap::from([("s77".to_string(), 5)]);
        assert_eq!(e.eval(&symbols), Some(15));
        assert_eq!(e.display(), "3*s77");
        let e = Expr::parse("FloorDiv(Add(Symbol('s1', integer=True), Integer(-1)), Integer(2))");
        let symbols = HashMap::from([("s1".to_string(), 8)]);
        assert_eq!(e.eval(&symbols), Some(3));
        assert!(matches!(Expr::parse("Pow(Symbol('s1'), 2"), Expr::Other(_)));
        assert_eq!(Expr::parse("Sqrt(Integer(4))").eval(&symbols), None);
        let deep = "Add(".repeat(1000) + "Integer(1)" + &")".repeat(1000);
        assert!(matches!(Expr::parse(&deep), Expr::Other(_)));
    }
}
