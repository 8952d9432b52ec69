//! A cursor over one logical line's tokens: looking ahead, consuming, and the errors that name
//! the file and line. It also counts how deeply the code being read is nested, so that hostile
//! input cannot overflow the stack (here, in the interpreter's walk of the tree, or in its drop).

use crate::error::{Error, Result};
use crate::pytorch::code::Token;

/// The deepest nesting read, counting blocks, brackets, unary and binary operators, calls,
/// attributes and subscripts together: deeper code is refused with an error naming its line.
/// The printer's code nests a dozen levels at most.
pub(super) const MAX_DEPTH: usize = 100;

/// Python's keywords, which are never names (`True` and `False` are tokens of their own; `None`
/// is a literal).
const KEYWORDS: &[&str] = &[
    "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif",
    "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda",
    "None", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

/// Whether `name` is a keyword (or `None`).
pub(super) fn is_keyword(name: &str) -> bool {
    KEYWORDS.contains(&name)
}

/// The message of an error for code nested deeper than [`MAX_DEPTH`].
pub(super) fn too_deep() -> String {
    format!(
        "the code is nested too deeply (over {MAX_DEPTH} levels of blocks, brackets and operators)"
    )
}

/// The error `{path}:{line}: {what}`.
pub(super) fn error(path: &str, line: usize, what: &str) -> Error {
    Error::Script(format!("{path}:{line}: {what}"))
}

/// The tokens of one logical line, a position in them and the nesting depth reached.
pub(super) struct Cursor<'a> {
    path: &'a str,
    tokens: &'a [Token],
    pos: usize,
    line: usize,
    depth: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `tokens`, which start on `line`, already `depth` levels deep.
    pub(super) fn new(path: &'a str, tokens: &'a [Token], line: usize, depth: usize) -> Self {
        Self {
            path,
            tokens,
            pos: 0,
            line,
            depth,
        }
    }

    /// The current token.
    pub(super) fn peek(&self) -> Option<&'a Token> {
        self.tokens.get(self.pos)
    }

    /// The token `k` places after the current one.
    pub(super) fn peek_at(&self, k: usize) -> Option<&'a Token> {
        self.tokens.get(self.pos.checked_add(k)?)
    }

    /// Consumes and returns the current token.
    pub(super) fn next(&mut self) -> Option<&'a Token> {
        let token = self.tokens.get(self.pos)?;
        self.pos += 1;
        Some(token)
    }

    /// Skips `n` tokens (ones already looked at).
    pub(super) fn skip(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.tokens.len());
    }

    /// Whether every token was consumed.
    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    /// Whether the current token is the operator `op`.
    pub(super) fn at_op(&self, op: &str) -> bool {
        self.peek().is_some_and(|t| t.is_op(op))
    }

    /// Whether the current token is the keyword (or name) `word`.
    pub(super) fn at_word(&self, word: &str) -> bool {
        self.peek().and_then(Token::ident) == Some(word)
    }

    /// Consumes the operator `op` if it is next.
    pub(super) fn eat_op(&mut self, op: &str) -> bool {
        let at = self.at_op(op);
        if at {
            self.pos += 1;
        }
        at
    }

    /// Consumes the keyword `word` if it is next.
    pub(super) fn eat_word(&mut self, word: &str) -> bool {
        let at = self.at_word(word);
        if at {
            self.pos += 1;
        }
        at
    }

    /// Consumes the operator `op`, or fails saying it was expected `context` (`after the
    /// condition`).
    pub(super) fn expect_op(&mut self, op: &str, context: &str) -> Result<()> {
        if self.eat_op(op) {
            return Ok(());
        }
        Err(self.error(&format!(
            "expected `{op}` {context}, found {}",
            self.found()
        )))
    }

    /// Consumes the keyword `word`, or fails saying it was expected `context`.
    pub(super) fn expect_word(&mut self, word: &str, context: &str) -> Result<()> {
        if self.eat_word(word) {
            return Ok(());
        }
        Err(self.error(&format!(
            "expected `{word}` {context}, found {}",
            self.found()
        )))
    }

    /// Consumes a name that is not a keyword: `what` says which (`a parameter name`).
    pub(super) fn name(&mut self, what: &str) -> Result<String> {
        match self.peek() {
            Some(Token::Ident(name)) if !is_keyword(name) => {
                self.pos += 1;
                Ok(name.clone())
            }
            _ => Err(self.error(&format!("expected {what}, found {}", self.found()))),
        }
    }

    /// Fails unless every token was consumed.
    pub(super) fn end(&self) -> Result<()> {
        if self.at_end() {
            return Ok(());
        }
        Err(self.error(&format!("unexpected {}", self.found())))
    }

    /// The current token as an error message shows it.
    pub(super) fn found(&self) -> String {
        let Some(token) = self.peek() else {
            return "the end of the line".into();
        };
        let text = token.to_string();
        match text.char_indices().nth(40) {
            Some((cut, _)) => format!("`{}...`", &text[..cut]),
            None => format!("`{text}`"),
        }
    }

    /// An error on this line.
    pub(super) fn error(&self, what: &str) -> Error {
        error(self.path, self.line, what)
    }

    /// Runs `f` one level deeper, failing if that is over [`MAX_DEPTH`].
    pub(super) fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let saved = self.depth;
        self.deeper()?;
        let result = f(self);
        self.depth = saved;
        result
    }

    /// Goes one level deeper (for each link of a chain `a + b + c`, `x.a.b`), failing if that
    /// is over [`MAX_DEPTH`]. The caller restores [`depth`](Self::depth) when the chain ends.
    pub(super) fn deeper(&mut self) -> Result<()> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(&too_deep()));
        }
        self.depth += 1;
        Ok(())
    }

    /// The nesting depth reached.
    pub(super) fn depth(&self) -> usize {
        self.depth
    }

    /// Sets the nesting depth back to `depth` (the end of a chain).
    pub(super) fn set_depth(&mut self, depth: usize) {
        self.depth = depth;
    }
}
