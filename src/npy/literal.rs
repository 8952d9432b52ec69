//! The Python literal an npy header holds, `{'descr': '<f4', 'fortran_order': False, 'shape':
//! (3, 10), }`, parsed strictly: ASCII strings without escapes, `True`, `False`, `None`, decimal
//! integers, tuples, lists, and one dict at the top. Anything else Python's `ast.literal_eval`
//! would take (escapes, other number forms, sets, expressions) is refused, as is a key given
//! twice (Python would keep the last silently).

/// How deep tuples and lists may nest (a structured dtype's sub-arrays nest three levels).
const MAX_DEPTH: usize = 16;

/// A parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Literal {
    Str(String),
    Bool(bool),
    None,
    /// A decimal integer, as written (an optional `-`, then digits).
    Int(String),
    Tuple(Vec<Literal>),
    List(Vec<Literal>),
}

impl Literal {
    /// What kind of value this is, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Literal::Str(_) => "a string",
            Literal::Bool(_) => "a bool",
            Literal::None => "None",
            Literal::Int(_) => "an integer",
            Literal::Tuple(_) => "a tuple",
            Literal::List(_) => "a list",
        }
    }
}

/// Parses `text` as a dict with string keys, followed by nothing but blanks (the padding
/// and the newline numpy writes). The error says what is wrong and at which byte.
pub(crate) fn parse_dict(text: &[u8]) -> Result<Vec<(String, Literal)>, String> {
    let mut parser = Parser { text, at: 0 };
    parser.expect(b'{')?;
    let mut entries: Vec<(String, Literal)> = Vec::new();
    loop {
        parser.blanks();
        if parser.eat(b'}') {
            break;
        }
        let key = match parser.value(0)? {
            Literal::Str(key) => key,
            other => return Err(format!("a dict key is {}, not a string", other.kind())),
        };
        if entries.iter().any(|(k, _)| *k == key) {
            return Err(format!("key '{key}' is given twice"));
        }
        parser.blanks();
        parser.expect(b':')?;
        let value = parser.value(0)?;
        entries.push((key, value));
        parser.blanks();
        if !parser.eat(b',') {
            parser.expect(b'}')?;
            break;
        }
    }
    let rest = &text[parser.at..];
    if let Some(i) = rest.iter().position(|b| !b" \t\r\n".contains(b)) {
        return Err(format!(
            "{} after the dict, at byte {}",
            parser.describe(rest[i]),
            parser.at + i
        ));
    }
    Ok(entries)
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        if self.eat(byte) {
            return Ok(());
        }
        Err(self.unexpected(&format!("`{}`", byte as char)))
    }

    /// An error for the byte at the current position, where `wanted` was expected.
    fn unexpected(&self, wanted: &str) -> String {
        match self.peek() {
            None => format!("ends at byte {} where {wanted} was expected", self.at),
            Some(b) => format!(
                "expected {wanted} at byte {}, found {}",
                self.at,
                self.describe(b)
            ),
        }
    }

    fn describe(&self, b: u8) -> String {
        if b.is_ascii_graphic() {
            format!("`{}`", b as char)
        } else {
            format!("byte 0x{b:02x}")
        }
    }

    /// One value, after any blanks; `depth` is how many tuples and lists enclose it.
    fn value(&mut self, depth: usize) -> Result<Literal, String> {
        self.blanks();
        match self.peek() {
            Some(quote @ (b'\'' | b'"')) => self.string(quote),
            Some(b'(') | Some(b'[') if depth >= MAX_DEPTH => Err(format!(
                "nests tuples and lists deeper than {MAX_DEPTH} levels, at byte {}",
                self.at
            )),
            Some(b'(') => self.sequence(b')', depth),
            Some(b'[') => self.sequence(b']', depth),
            Some(b'-' | b'0'..=b'9') => self.integer(),
            Some(b) if b.is_ascii_alphabetic() => self.word(),
            _ => Err(self.unexpected("a value")),
        }
    }

    /// A string: ASCII, without escapes (the keys and dtypes of a header need neither).
    fn string(&mut self, quote: u8) -> Result<Literal, String> {
        let start = self.at;
        self.at += 1;
        let body_start = self.at;
        loop {
            match self.peek() {
                Some(b) if b == quote => break,
                Some(b'\\') => {
                    return Err(format!(
                        "the string at byte {start} holds an escape (`\\`), which no npy \
                         header needs"
                    ))
                }
                Some(b'\n' | b'\r') | None => {
                    return Err(format!("the string at byte {start} is not closed"))
                }
                Some(b) if !b.is_ascii() => {
                    return Err(format!(
                        "the string at byte {start} holds a non-ASCII byte, which no npy header \
                         needs"
                    ))
                }
                Some(_) => self.at += 1,
            }
        }
        // ASCII, checked above.
        let body = String::from_utf8_lossy(&self.text[body_start..self.at]).into_owned();
        self.at += 1;
        Ok(Literal::Str(body))
    }

    fn integer(&mut self) -> Result<Literal, String> {
        let start = self.at;
        self.eat(b'-');
        let digits = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        let text = &self.text[digits..self.at];
        let trailing = self
            .peek()
            .filter(|b| b.is_ascii_alphanumeric() || *b == b'_');
        if text.is_empty() || (text.len() > 1 && text[0] == b'0') || trailing.is_some() {
            return Err(format!("malformed integer at byte {start}"));
        }
        // Digits and a sign are ASCII.
        let literal = String::from_utf8_lossy(&self.text[start..self.at]).into_owned();
        Ok(Literal::Int(literal))
    }

    fn word(&mut self) -> Result<Literal, String> {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            self.at += 1;
        }
        match &self.text[start..self.at] {
            b"True" => Ok(Literal::Bool(true)),
            b"False" => Ok(Literal::Bool(false)),
            b"None" => Ok(Literal::None),
            word => Err(format!(
                "`{}` at byte {start} is not a literal (True, False, None, a number, a string, \
                 a tuple or a list)",
                String::from_utf8_lossy(word)
            )),
        }
    }

    /// A tuple or list, from its opening bracket to `close`. As in Python, `(x)` without a
    /// comma is `x` itself, not a tuple.
    fn sequence(&mut self, close: u8, depth: usize) -> Result<Literal, String> {
        self.at += 1;
        let mut items = Vec::new();
        let mut trailing_comma = false;
        loop {
            self.blanks();
            if self.eat(close) {
                break;
            }
            items.push(self.value(depth + 1)?);
            self.blanks();
            trailing_comma = self.eat(b',');
            if !trailing_comma {
                self.expect(close)?;
                break;
            }
        }
        Ok(match close {
            b']' => Literal::List(items),
            _ if items.len() == 1 && !trailing_comma => items.remove(0),
            _ => Literal::Tuple(items),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(s: &str) -> Literal {
        Literal::Int(s.into())
    }

    #[test]
    fn numpy_headers_parse() {
        let dict = parse_dict(
            b"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 10), }            \n",
        )
        .unwrap();
        assert_eq!(
            dict,
            [
                ("descr".into(), Literal::Str("<f4".into())),
                ("fortran_order".into(), Literal::Bool(false)),
                ("shape".into(), Literal::Tuple(vec![int("3"), int("10")])),
            ]
        );
        let dict = parse_dict(b"{\"shape\":(7,),\"descr\":[('a','<i4',(2,))]}").unwrap();
        assert_eq!(dict[0].1, Literal::Tuple(vec![int("7")]));
        let field = Literal::Tuple(vec![
            Literal::Str("a".into()),
            Literal::Str("<i4".into()),
            Literal::Tuple(vec![int("2")]),
        ]);
        assert_eq!(dict[1].1, Literal::List(vec![field]));
        assert_eq!(
            parse_dict(b"{'s': ()}").unwrap()[0].1,
            Literal::Tuple(vec![])
        );
        // `(3)` is 3, not a tuple.
        assert_eq!(parse_dict(b"{'s': (3)}").unwrap()[0].1, int("3"));
        assert_eq!(parse_dict(b"{}").unwrap(), []);
    }

    #[test]
    fn anything_else_is_refused_with_its_place() {
        let cases: [(&[u8], &str); 15] = [
            (b"", "ends at byte 0 where `{` was expected"),
            (b" {}", "expected `{` at byte 0, found byte 0x20"),
            (b"{'a': 1", "ends at byte 7 where `}` was expected"),
            (b"{'a': 1}x", "`x` after the dict, at byte 8"),
            (b"{'a': 1, 'a': 2}", "key 'a' is given twice"),
            (b"{1: 2}", "a dict key is an integer, not a string"),
            (b"{'a': 01}", "malformed integer at byte 6"),
            (b"{'a': 1L}", "malformed integer at byte 6"),
            (b"{'a': -}", "malformed integer at byte 6"),
            (b"{'a': 'x\\'}", "holds an escape"),
            (b"{'a': 'x}", "the string at byte 6 is not closed"),
            (
                b"{'a': '\xc3\xa9'}",
                "the string at byte 6 holds a non-ASCII byte",
            ),
            (b"{'a': true}", "`true` at byte 6 is not a literal"),
            (b"{'a': {}}", "expected a value at byte 6, found `{`"),
            (b"{'a': 1 2}", "expected `}` at byte 8, found `2`"),
        ];
        for (text, message) in cases {
            let err = parse_dict(text).unwrap_err();
            assert!(
                err.contains(message),
                "{:?}: {err}",
                String::from_utf8_lossy(text)
            );
        }
        let deep = format!("{{'a': {}{}}}", "(".repeat(100), ")".repeat(100));
        let err = parse_dict(deep.as_bytes()).unwrap_err();
        assert!(err.contains("deeper than 16 levels"), "{err}");
    }
}
