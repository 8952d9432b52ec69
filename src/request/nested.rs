//! Nested JSON lists of numbers read straight into a flat `Vec`, without building a document
//! tree: a number costs its element's 4 or 8 bytes, not the ~50 of a `serde_json::Value`, so
//! a request file can take no more memory than a small multiple of its size.
//!
//! The lists must be rectangular; anything else is refused with the path of the first bad
//! element (`padded_seq[1][2]`), as is any element past `max_elements`.

use std::fmt;

use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::{Error, Result};
use crate::inputs::element_path;
use crate::limits::Limits;

/// A number as the JSON text wrote it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Number {
    I64(i64),
    U64(u64),
    F64(f64),
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Number::I64(v) => write!(f, "{v}"),
            Number::U64(v) => write!(f, "{v}"),
            // As JSON wrote it: `2.0` stays `2.0`.
            Number::F64(v) => match serde_json::Number::from_f64(v) {
                Some(n) => write!(f, "{n}"),
                None => write!(f, "{v}"),
            },
        }
    }
}

/// Why a number is refused, given its literal as the JSON text wrote it
/// (`99999999999999999999999`, not the `1e23` serde_json parses it to). The error reads
/// `is <literal>, <reason>`.
pub(super) type Refusal = fn(&str) -> String;

/// Reads one number, or refuses it.
pub(super) type Leaf<T> = dyn Fn(Number) -> std::result::Result<T, Refusal>;

/// The shape and row-major values of the rectangular nested list `raw`, each number read by
/// `leaf`. `name` names the input in errors.
pub(super) fn nested_numbers<T>(
    raw: &RawValue,
    name: &str,
    leaf: &Leaf<T>,
    limits: &Limits,
) -> Result<(Vec<usize>, Vec<T>)> {
    let mut state = State {
        leaf,
        max_elements: limits.max_elements,
        dims: Vec::new(),
        leaf_depth: None,
        index: Vec::new(),
        values: Vec::new(),
        failure: None,
    };
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let parsed = Node {
        state: &mut state,
        depth: 0,
    }
    .deserialize(&mut de);
    match (parsed, state.failure) {
        (_, Some(Failure::Element(message))) => {
            Err(Error::input(element_path(name, &state.index), message))
        }
        (_, Some(Failure::Refused(number, refusal))) => {
            // Only on failure: the literal is found again by its path, to be shown as written.
            let literal = literal_at(raw.get(), &state.index)
                .map(str::to_string)
                .unwrap_or_else(|| number.to_string());
            let reason = refusal(&literal);
            Err(Error::input(
                element_path(name, &state.index),
                format!("is {}, {reason}", shortened(&literal)),
            ))
        }
        (_, Some(Failure::TooMany)) => Err(Error::Limit {
            what: format!("input `{name}`"),
            message: format!(
                "has more than the limit of {} elements (max_elements)",
                limits.max_elements
            ),
        }),
        // What the syntax check of the whole document let through: numbers out of f64's
        // range, nesting deeper than serde_json's limit. The position would be relative to
        // this value, so it is left out.
        (Err(e), None) => {
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message);
            Err(Error::input(name, format!("malformed JSON: {message}")))
        }
        (Ok(()), None) => {
            let depth = state.leaf_depth.unwrap_or(state.dims.len());
            let shape = state.dims[..depth]
                .iter()
                .map(|d| d.unwrap_or(0))
                .collect::<Vec<_>>();
            // Rectangular, so the shape holds exactly the values counted against the limit.
            Ok((shape, state.values))
        }
    }
}

enum Failure {
    /// What is wrong with the element at `State::index`.
    Element(String),
    /// The number at `State::index`, refused by the leaf.
    Refused(Number, Refusal),
    /// More than `max_elements` numbers.
    TooMany,
}

struct State<'a, T> {
    leaf: &'a Leaf<T>,
    max_elements: usize,
    /// The length of the lists at each depth, once the first one has ended.
    dims: Vec<Option<usize>>,
    /// The depth of the numbers, once the first one has been read.
    leaf_depth: Option<usize>,
    /// The path of the element being read; left at the bad element on failure.
    index: Vec<usize>,
    values: Vec<T>,
    failure: Option<Failure>,
}

/// The element at `depth` (0 is the input itself).
struct Node<'s, 'a, T> {
    state: &'s mut State<'a, T>,
    depth: usize,
}

impl<T> Node<'_, '_, T> {
    fn fail<E: de::Error>(self, failure: Failure) -> std::result::Result<(), E> {
        self.state.failure = Some(failure);
        Err(E::custom("invalid element"))
    }

    fn number<E: de::Error>(self, n: Number) -> std::result::Result<(), E> {
        let state = &mut *self.state;
        match state.leaf_depth {
            None => state.leaf_depth = Some(self.depth),
            Some(d) if d != self.depth => {
                let len = state.dims.get(self.depth).copied().flatten().unwrap_or(0);
                let message =
                    format!("is a number where a list of {len} was expected (ragged lists)");
                return self.fail(Failure::Element(message));
            }
            Some(_) => {}
        }
        if state.values.len() >= state.max_elements {
            return self.fail(Failure::TooMany);
        }
        match (state.leaf)(n) {
            Ok(v) => {
                state.values.push(v);
                Ok(())
            }
            Err(refusal) => self.fail(Failure::Refused(n, refusal)),
        }
    }

    fn not_a_number<E: de::Error>(self, what: &str) -> std::result::Result<(), E> {
        self.fail(Failure::Element(format!("is {what}, expected a number")))
    }
}

impl<'de, T> DeserializeSeed<'de> for Node<'_, '_, T> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T> Visitor<'de> for Node<'_, '_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or a list")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<(), E> {
        self.number(Number::I64(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<(), E> {
        self.number(Number::U64(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<(), E> {
        self.number(Number::F64(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        let depth = self.depth;
        if self.state.leaf_depth.is_some_and(|d| depth >= d) {
            let message = "is a list where its siblings are numbers (ragged lists)".to_string();
            return self.fail(Failure::Element(message));
        }
        let mut len = 0;
        loop {
            self.state.index.push(len);
            let child = Node {
                state: &mut *self.state,
                depth: depth + 1,
            };
            if seq.next_element_seed(child)?.is_none() {
                self.state.index.pop();
                break;
            }
            self.state.index.pop();
            len += 1;
        }
        let dims = &mut self.state.dims;
        if dims.len() <= depth {
            dims.resize(depth + 1, None);
        }
        match dims[depth] {
            None => dims[depth] = Some(len),
            Some(expected) if expected != len => {
                let message = format!(
                    "has {len} elements, expected {expected} like its siblings (ragged lists)"
                );
                return self.fail(Failure::Element(message));
            }
            Some(_) => {}
        }
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<(), E> {
        self.not_a_number("a boolean")
    }

    fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<(), E> {
        self.not_a_number("a string")
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<(), E> {
        self.not_a_number("null")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> std::result::Result<(), A::Error> {
        self.not_a_number("an object")
    }
}

/// The text of the element at `path` inside the JSON value `text` (`None` if there is none).
/// Each level is skipped through without being kept, so this takes no memory per element.
fn literal_at<'t>(text: &'t str, path: &[usize]) -> Option<&'t str> {
    let mut value = text;
    for &i in path {
        let mut de = serde_json::Deserializer::from_str(value);
        value = Nth(i).deserialize(&mut de).ok()??.get();
    }
    Some(value.trim())
}

/// A literal short enough for a one-line message: a 5,000-digit number is cut.
fn shortened(literal: &str) -> String {
    const KEEP: usize = 32;
    match literal.get(..KEEP) {
        Some(head) if literal.len() > KEEP + 8 => {
            format!("{head}... ({} characters)", literal.len())
        }
        _ => literal.to_string(),
    }
}

/// The raw text of a JSON list's element `.0`, or `None` when the list is shorter.
struct Nth(usize);

impl<'de> DeserializeSeed<'de> for Nth {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Nth {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        for _ in 0..self.0 {
            if seq.next_element::<de::IgnoredAny>()?.is_none() {
                return Ok(None);
            }
        }
        let found = seq.next_element::<&'de RawValue>()?;
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(found)
    }
}
