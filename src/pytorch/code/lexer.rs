//! Tokens of the Python subset PyTorch's printer writes (`torch/csrc/jit/serialization/
//! python_print.cpp`): identifiers, numbers, strings, operators, grouped into logical lines,
//! each with its indentation. Brackets join physical lines, as in Python; comments and blank
//! lines are dropped.

use std::fmt;

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    /// A name or keyword (`torch`, `def`, `None`).
    Ident(String),
    /// An integer literal.
    Int(i64),
    /// A float literal (`0.`, `1e-05`).
    Float(f64),
    /// `True` or `False`.
    Bool(bool),
    /// A string literal, as written between its quotes (escapes kept).
    Str(String),
    /// An operator or bracket.
    Op(&'static str),
    /// A template's literal hole, `$name`: matches any number or bool (see `compare`).
    Hole(String),
}

impl Token {
    /// Whether this is the operator `op`.
    pub(crate) fn is_op(&self, op: &str) -> bool {
        matches!(self, Token::Op(o) if *o == op)
    }

    /// The identifier's name, if it is one.
    pub(crate) fn ident(&self) -> Option<&str> {
        match self {
            Token::Ident(name) => Some(name),
            _ => None,
        }
    }

    /// Whether this is a number or bool literal (what a hole matches).
    pub(crate) fn is_literal(&self) -> bool {
        matches!(self, Token::Int(_) | Token::Float(_) | Token::Bool(_))
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Ident(name) => f.write_str(name),
            Token::Int(n) => write!(f, "{n}"),
            Token::Float(x) => write!(f, "{x:?}"),
            Token::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
            Token::Str(s) => write!(f, "\"{s}\""),
            Token::Op(op) => f.write_str(op),
            Token::Hole(name) => write!(f, "${name}"),
        }
    }
}

/// A logical line: its tokens, where it starts and how far it is indented.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    /// The 1-based physical line it starts on.
    pub number: usize,
    /// Columns of indentation.
    pub indent: usize,
    pub tokens: Vec<Token>,
    /// The source text, its physical lines joined by single spaces.
    pub text: String,
}

/// Operators, longest first so that the first match is the longest.
const OPERATORS: &[&str] = &[
    "**=", "//=", ">>=", "<<=", "...", "->", "==", "!=", "<=", ">=", "**", "//", "<<", ">>", "+=",
    "-=", "*=", "/=", "%=", "&=", "|=", "^=", "@=", ":=", "(", ")", "[", "]", "{", "}", ",", ":",
    ".", ";", "=", "+", "-", "*", "/", "%", "<", ">", "&", "|", "^", "~", "@",
];

/// Splits `source` into logical lines. `holes` lets `$name` stand for a literal (templates
/// only). The error names the line.
pub(crate) fn lex(source: &str, holes: bool) -> Result<Vec<Line>, String> {
    let bytes = source.as_bytes();
    // Every index this function slices at is an ASCII byte's, or the end.
    let piece = |from: usize, to: usize| source.get(from..to.min(bytes.len())).unwrap_or("");
    let mut lines = Vec::new();
    let mut i = 0;
    let mut number = 1;
    while i < bytes.len() {
        // The start of a physical line: its indentation.
        let start = i;
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
            i += 1;
        }
        let indent = i - start;
        if i >= bytes.len() {
            break;
        }
        if matches!(bytes[i], b'\n' | b'\r' | b'#') {
            // A blank or comment-only line.
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            i += 1;
            number += 1;
            continue;
        }
        let first = number;
        let mut tokens = Vec::new();
        let mut text = String::new();
        let mut depth = 0usize;
        let mut segment = i;
        loop {
            let Some(&c) = bytes.get(i) else {
                text.push_str(piece(segment, i).trim_end());
                break;
            };
            match c {
                b'\n' | b'\r' if depth == 0 => {
                    text.push_str(piece(segment, i).trim_end());
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                    i += 1;
                    number += 1;
                    break;
                }
                b'\n' | b'\r' => {
                    text.push_str(piece(segment, i).trim_end());
                    text.push(' ');
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                    i += 1;
                    number += 1;
                    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
                        i += 1;
                    }
                    segment = i;
                }
                b'\\' if matches!(bytes.get(i + 1), Some(b'\n')) => {
                    text.push_str(piece(segment, i).trim_end());
                    text.push(' ');
                    i += 2;
                    number += 1;
                    segment = i;
                }
                b' ' | b'\t' => i += 1,
                b'#' => {
                    text.push_str(piece(segment, i).trim_end());
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                    segment = i;
                }
                b'"' | b'\'' => {
                    let (token, end) =
                        string(source, i).map_err(|e| format!("line {number}: {e}"))?;
                    tokens.push(token);
                    // A backslash-newline continues a string on the next line.
                    number += bytes[i..end].iter().filter(|&&b| b == b'\n').count();
                    i = end;
                }
                b'0'..=b'9' => {
                    let (token, end) =
                        self::number(source, i).map_err(|e| format!("line {number}: {e}"))?;
                    tokens.push(token);
                    i = end;
                }
                b'.' if matches!(bytes.get(i + 1), Some(b'0'..=b'9')) => {
                    let (token, end) =
                        self::number(source, i).map_err(|e| format!("line {number}: {e}"))?;
                    tokens.push(token);
                    i = end;
                }
                b'$' if holes => {
                    let end = identifier_end(bytes, i + 1);
                    tokens.push(Token::Hole(source[i + 1..end].to_string()));
                    i = end;
                }
                c if c == b'_' || c.is_ascii_alphabetic() => {
                    let end = identifier_end(bytes, i);
                    tokens.push(match &source[i..end] {
                        "True" => Token::Bool(true),
                        "False" => Token::Bool(false),
                        name => Token::Ident(name.to_string()),
                    });
                    i = end;
                }
                _ => {
                    let rest = piece(i, bytes.len());
                    let Some(op) = OPERATORS.iter().find(|op| rest.starts_with(**op)) else {
                        let c = rest.chars().next().unwrap_or_default();
                        return Err(format!("line {number}: unexpected character `{c}`"));
                    };
                    match *op {
                        "(" | "[" | "{" => depth += 1,
                        ")" | "]" | "}" => {
                            depth = depth
                                .checked_sub(1)
                                .ok_or_else(|| format!("line {number}: `{op}` closes nothing"))?
                        }
                        _ => {}
                    }
                    tokens.push(Token::Op(op));
                    i += op.len();
                }
            }
        }
        if depth != 0 {
            return Err(format!("line {first}: a bracket is never closed"));
        }
        if !tokens.is_empty() {
            lines.push(Line {
                number: first,
                indent,
                tokens,
                text,
            });
        }
    }
    Ok(lines)
}

fn identifier_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && (bytes[i] == b'_' || bytes[i].is_ascii_alphanumeric()) {
        i += 1;
    }
    i
}

/// The magnitude of `i64::MIN`, which the printer writes as `-9223372036854775808`: the lexer
/// gives it as `Token::Int(i64::MIN)`, the only negative `Int` it makes.
pub(crate) const I64_MIN_MAGNITUDE: &str = "9223372036854775808";

/// The number starting at `start`: an `Int` unless it has a point or an exponent.
fn number(source: &str, start: usize) -> Result<(Token, usize), String> {
    let bytes = source.as_bytes();
    let mut i = start;
    let digits = |i: &mut usize| {
        while *i < bytes.len() && bytes[*i].is_ascii_digit() {
            *i += 1;
        }
    };
    digits(&mut i);
    let mut float = false;
    if bytes.get(i) == Some(&b'.') {
        float = true;
        i += 1;
        digits(&mut i);
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(bytes.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if matches!(bytes.get(j), Some(b'0'..=b'9')) {
            float = true;
            i = j;
            digits(&mut i);
        }
    }
    let text = &source[start..i];
    let token = if float {
        Token::Float(
            text.parse()
                .map_err(|_| format!("`{text}` is not a number"))?,
        )
    } else if text.trim_start_matches('0') == I64_MIN_MAGNITUDE {
        // Only a unary minus makes it an `i64`; the parser checks that one precedes it.
        Token::Int(i64::MIN)
    } else {
        Token::Int(
            text.parse()
                .map_err(|_| format!("`{text}` is not a 64-bit integer"))?,
        )
    };
    Ok((token, i))
}

/// The string literal starting at `start` (its opening quote), ended on its line.
fn string(source: &str, start: usize) -> Result<(Token, usize), String> {
    let bytes = source.as_bytes();
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' => break,
            c if c == quote => {
                return Ok((Token::Str(source[start + 1..i].to_string()), i + 1));
            }
            _ => i += 1,
        }
    }
    Err("a string is never closed".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(source: &str) -> Vec<Vec<String>> {
        lex(source, true)
            .unwrap()
            .iter()
            .map(|l| l.tokens.iter().map(|t| t.to_string()).collect())
            .collect()
    }

    #[test]
    fn lines_join_inside_brackets_and_keep_their_indentation() {
        let source = "class A(Module):\n  def forward(self: A,\n    x: Tensor) -> Tensor:\n    \
                      # a comment\n\n    return torch.add(x, 1.)  # trailing\n";
        let lines = lex(source, false).unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!((lines[1].number, lines[1].indent), (2, 2));
        assert_eq!(lines[1].text, "def forward(self: A, x: Tensor) -> Tensor:");
        assert_eq!((lines[2].number, lines[2].indent), (6, 4));
        assert_eq!(lines[2].text, "return torch.add(x, 1.)");
        assert_eq!(lines[2].tokens[7], Token::Float(1.0));
    }

    #[test]
    fn literals_operators_and_holes() {
        assert_eq!(
            tokens("x = [$n, -1, 1e-05, 0., True, \"a\\\"b\"] != y->z\n"),
            [[
                "x",
                "=",
                "[",
                "$n",
                ",",
                "-",
                "1",
                ",",
                "1e-5",
                ",",
                "0.0",
                ",",
                "True",
                ",",
                "\"a\\\"b\"",
                "]",
                "!=",
                "y",
                "->",
                "z"
            ]]
        );
    }

    #[test]
    fn the_magnitude_of_i64_min_lexes_as_i64_min() {
        let lines = lex("k = -9223372036854775808\n", false).unwrap();
        assert_eq!(lines[0].tokens[3], Token::Int(i64::MIN));
        assert!(lex("k = 9223372036854775809\n", false).is_err());
    }

    #[test]
    fn malformed_source_is_refused_with_its_line() {
        for (source, message) in [
            ("x = (1,\n", "line 1: a bracket is never closed"),
            ("x = 1\ny = )\n", "line 2: `)` closes nothing"),
            ("x = \"abc\n", "line 1: a string is never closed"),
            ("x = $n\n", "line 1: unexpected character `$`"),
            (
                "x = 99999999999999999999\n",
                "line 1: `99999999999999999999` is not a 64-bit integer",
            ),
        ] {
            assert_eq!(lex(source, false).unwrap_err(), message, "{source}");
        }
    }
}
