//! The items of one code file as PyTorch's printer lays them out: top-level functions, and
//! classes with their attribute declarations and methods. Each function or method is a
//! [`Unit`]: its `def` line and its body.

use std::collections::BTreeMap;

use super::lexer::{Line, Token};

/// A function or method: its header line (`def name(...) -> T:`) and the lines of its body.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    pub name: String,
    pub lines: Vec<Line>,
}

impl Unit {
    /// The names of the parameters, `self` included, from the header.
    pub(crate) fn params(&self) -> Vec<String> {
        let Some(header) = self.lines.first() else {
            return Vec::new();
        };
        let tokens = &header.tokens;
        let mut params = Vec::new();
        let mut depth = 0usize;
        for (i, token) in tokens.iter().enumerate() {
            match token {
                Token::Op("(" | "[" | "{") => depth += 1,
                Token::Op(")" | "]" | "}") => depth = depth.saturating_sub(1),
                Token::Ident(name)
                    if depth == 1
                        && i > 0
                        && (tokens[i - 1].is_op("(") || tokens[i - 1].is_op(","))
                        && tokens.get(i + 1).is_some_and(|t| {
                            t.is_op(":") || t.is_op(",") || t.is_op("=") || t.is_op(")")
                        }) =>
                {
                    params.push(name.clone())
                }
                _ => {}
            }
        }
        params
    }
}

/// A class: its header (`class Name(Base):`), the types its attributes are declared with (the
/// `__torch__` ones: submodules and TorchScript classes), and its methods.
#[derive(Debug, Clone)]
pub(crate) struct Class {
    pub name: String,
    pub header: Line,
    /// Its non-method lines (attribute declarations, `__parameters__ = [...]`).
    pub attributes: Vec<Line>,
    /// Attribute name → the qualified class it is declared with (`rnn` →
    /// `__torch__.torch.nn.modules.rnn.LSTM`).
    pub attribute_types: BTreeMap<String, String>,
    pub methods: Vec<Unit>,
}

impl Class {
    /// Whether it is a `NamedTuple` (a record type, with fields and no methods).
    pub(crate) fn is_named_tuple(&self) -> bool {
        self.header
            .tokens
            .windows(3)
            .any(|w| w[0].is_op("(") && w[1].ident() == Some("NamedTuple") && w[2].is_op(")"))
    }

    /// Its declaration without its methods, as a unit: the header and the attribute lines (a
    /// `NamedTuple`'s fields).
    pub(crate) fn declaration(&self) -> Unit {
        let mut lines = vec![self.header.clone()];
        lines.extend(self.attributes.iter().cloned());
        Unit {
            name: self.name.clone(),
            lines,
        }
    }

    pub(crate) fn method(&self, name: &str) -> Option<&Unit> {
        self.methods.iter().find(|m| m.name == name)
    }
}

/// The items of one file.
#[derive(Debug, Clone, Default)]
pub(crate) struct File {
    pub functions: Vec<Unit>,
    pub classes: Vec<Class>,
}

impl File {
    /// Groups `lines` into top-level functions and classes; other top-level lines are ignored.
    pub(crate) fn parse(lines: Vec<Line>) -> Self {
        let mut file = File::default();
        let mut lines = lines.into_iter().peekable();
        while let Some(line) = lines.next() {
            if line.indent != 0 {
                continue;
            }
            let mut body = Vec::new();
            while let Some(next) = lines.next_if(|l| l.indent > 0) {
                body.push(next);
            }
            match (
                line.tokens.first().and_then(Token::ident),
                line.tokens.get(1),
            ) {
                (Some("def"), Some(Token::Ident(name))) => {
                    let name = name.clone();
                    let mut unit = vec![line];
                    unit.extend(body);
                    file.functions.push(Unit { name, lines: unit });
                }
                (Some("class"), Some(Token::Ident(name))) => {
                    file.classes.push(class(name.clone(), line, body));
                }
                _ => {}
            }
        }
        file
    }

    pub(crate) fn class(&self, name: &str) -> Option<&Class> {
        self.classes.iter().find(|c| c.name == name)
    }

    pub(crate) fn function(&self, name: &str) -> Option<&Unit> {
        self.functions.iter().find(|f| f.name == name)
    }
}

fn class(name: String, header: Line, body: Vec<Line>) -> Class {
    let member_indent = body.first().map_or(0, |l| l.indent);
    let mut attributes = Vec::new();
    let mut methods = Vec::new();
    let mut body = body.into_iter().peekable();
    while let Some(line) = body.next() {
        let def = (line.indent == member_indent)
            .then(|| match (line.tokens.first(), line.tokens.get(1)) {
                (Some(Token::Ident(def)), Some(Token::Ident(name))) if def == "def" => {
                    Some(name.clone())
                }
                _ => None,
            })
            .flatten();
        match def {
            Some(method) => {
                let mut unit = vec![line];
                while let Some(next) = body.next_if(|l| l.indent > member_indent) {
                    unit.push(next);
                }
                methods.push(Unit {
                    name: method,
                    lines: unit,
                });
            }
            None => attributes.push(line),
        }
    }
    let attribute_types = attributes
        .iter()
        .filter_map(|line| match &line.tokens[..] {
            [Token::Ident(attr), colon, rest @ ..] if colon.is_op(":") => {
                Some((attr.clone(), qualified_name(rest)?))
            }
            _ => None,
        })
        .collect();
    Class {
        name,
        header,
        attributes,
        attribute_types,
        methods,
    }
}

/// The dotted name `tokens` start with when it is a `__torch__` one.
pub(crate) fn qualified_name(tokens: &[Token]) -> Option<String> {
    if tokens.first()?.ident()? != "__torch__" {
        return None;
    }
    let mut name = String::from("__torch__");
    let mut rest = &tokens[1..];
    while let [dot, Token::Ident(part), tail @ ..] = rest {
        if !dot.is_op(".") {
            break;
        }
        name.push('.');
        name.push_str(part);
        rest = tail;
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::super::lexer::lex;
    use super::*;

    #[test]
    fn classes_methods_and_functions() {
        let source = "class M(Module):\n  __parameters__ = []\n  rnn : __torch__.torch.nn.modules.rnn.___torch_mangle_0.LSTM\n  \
                      def forward(self: __torch__.M,\n    x: Tensor,\n    y: Optional[int]=None) -> Tensor:\n    \
                      if True:\n      z = x\n    else:\n      z = x\n    return z\n  def other(self: __torch__.M) -> NoneType:\n    \
                      return None\ndef f(a: Tensor) -> Tensor:\n  return a\nclass P(NamedTuple):\n  data : Tensor\n";
        let file = File::parse(lex(source, false).unwrap());
        let m = file.class("M").unwrap();
        assert!(!m.is_named_tuple());
        assert_eq!(m.attributes.len(), 2);
        assert_eq!(
            m.attribute_types["rnn"],
            "__torch__.torch.nn.modules.rnn.___torch_mangle_0.LSTM"
        );
        let forward = m.method("forward").unwrap();
        assert_eq!(forward.lines.len(), 6);
        assert_eq!(forward.params(), ["self", "x", "y"]);
        assert_eq!(m.method("other").unwrap().lines.len(), 2);
        assert_eq!(file.function("f").unwrap().params(), ["a"]);
        assert!(file.class("P").unwrap().is_named_tuple());
    }
}
