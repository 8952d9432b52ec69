//! [`Given`]: an argument as a door received it (a JSON request, a Python call, a C call),
//! before `forward`'s signature types it. Every door builds these and calls [`args_from_given`],
//! so that one rule types them all, and the same mistake gets the same message through every
//! door: a number or nested lists of numbers where a `Tensor` is declared become a tensor as
//! `torch.tensor` makes one (all integers int64, any float float32, all booleans bool);
//! everything else is checked against the declared type when `forward` is called.

use candle_core::Device;

use super::ast::Type;
use super::program::Signature;
use super::value::Value;
use crate::error::{quoted, Error, Result};
use crate::limits::Limits;
use crate::ops::Tensor;

/// An argument as given, untyped.
#[derive(Debug, Clone)]
pub enum Given {
    /// `None` (`null`).
    None,
    /// A bool.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A tensor, as the caller made it (a NumPy array, a C buffer, a safetensors entry).
    Tensor(Tensor),
    /// A list (a JSON array, a Python list).
    List(Vec<Given>),
    /// A tuple (a Python tuple); where a `Tensor` is declared it is read as a list.
    Tuple(Vec<Given>),
    /// A dict with string keys, in order.
    Dict(Vec<(String, Given)>),
}

/// Where a value sits in an argument (`xs`, `xs[1]`, `d["k"]`), written out only for a
/// message.
#[derive(Clone, Copy)]
enum Name<'a> {
    /// The argument itself.
    Arg(&'a str),
    /// An item of a list or tuple.
    Index(&'a Name<'a>, usize),
    /// A dict's entry.
    Key(&'a Name<'a>, &'a str),
}

impl std::fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Name::Arg(name) => f.write_str(name),
            Name::Index(outer, i) => write!(f, "{outer}[{i}]"),
            Name::Key(outer, key) => write!(f, "{outer}[{key:?}]"),
        }
    }
}

/// The arguments of one call, typed by `signature`: every name must be one of `forward`'s
/// arguments; each value is typed by `typed`. What is missing, and what does not match its
/// declared type, is refused when `forward` is called, naming the argument.
pub fn args_from_given(
    signature: &Signature,
    args: Vec<(String, Given)>,
    limits: &Limits,
) -> Result<Vec<(String, Value)>> {
    let mut out = Vec::with_capacity(args.len());
    for (name, given) in args {
        let Some(param) = signature.param(&name) else {
            return Err(no_such_argument(signature, &name));
        };
        let value = typed(Name::Arg(&name), &param.ty, given, limits)?;
        out.push((name, value));
    }
    Ok(out)
}

/// The error for an argument `forward` does not take.
pub(crate) fn no_such_argument(signature: &Signature, name: &str) -> Error {
    let names: Vec<&str> = signature.params.iter().map(|p| p.name.as_str()).collect();
    Error::input(
        name,
        format!(
            "forward takes no such argument (it takes {})",
            quoted(&names)
        ),
    )
}

/// `given` as a value of type `ty` where it can be one (nested lists of numbers for a
/// `Tensor`, items of a `List[T]` or `Dict[str, T]` by `T`); anything else as it is.
fn typed(name: Name<'_>, ty: &Type, given: Given, limits: &Limits) -> Result<Value> {
    Ok(match (ty.name.as_str(), given) {
        (_, Given::None) => Value::None,
        ("Optional", given) => match ty.args.first() {
            Some(inner) => typed(name, inner, given, limits)?,
            None => plain(given),
        },
        ("Union", given) => {
            // The first member the value reads as, as PyTorch tries them in order; a member
            // it cannot be read as (a ragged list for a `Tensor`) leaves the next to try.
            let mut first = None;
            let mut error = None;
            for t in &ty.args {
                match typed(name, t, given.clone(), limits) {
                    Ok(v) if conforms(&v, t) => return Ok(v),
                    Ok(v) => first = first.or(Some(v)),
                    Err(e) => error = error.or(Some(e)),
                }
            }
            match (first, error) {
                (Some(v), _) => v,
                (None, Some(e)) => return Err(e),
                (None, None) => plain(given),
            }
        }
        // A number or bool too, a 0-dim tensor as `torch.tensor(3.0)` makes.
        (
            "Tensor",
            given @ (Given::List(_)
            | Given::Tuple(_)
            | Given::Int(_)
            | Given::Float(_)
            | Given::Bool(_)),
        ) => Value::Tensor(tensor_from_given(name, &given, limits)?),
        ("List", Given::List(items) | Given::Tuple(items)) => match ty.args.first() {
            _ if items.len() > limits.max_elements => {
                return Err(too_many(name, items.len(), limits));
            }
            Some(inner) => Value::List(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| typed(Name::Index(&name, i), inner, item, limits))
                    .collect::<Result<_>>()?,
            ),
            None => Value::List(items.into_iter().map(plain).collect()),
        },
        ("Tuple", Given::List(items) | Given::Tuple(items)) if items.len() == ty.args.len() => {
            Value::Tuple(
                items
                    .into_iter()
                    .zip(&ty.args)
                    .enumerate()
                    .map(|(i, (item, t))| typed(Name::Index(&name, i), t, item, limits))
                    .collect::<Result<_>>()?,
            )
        }
        ("Dict", Given::Dict(items)) => match ty.args.get(1) {
            Some(inner) => Value::Dict(
                items
                    .into_iter()
                    .map(|(k, item)| {
                        let v = typed(Name::Key(&name, &k), inner, item, limits)?;
                        Ok((k, v))
                    })
                    .collect::<Result<_>>()?,
            ),
            None => plain(Given::Dict(items)),
        },
        (_, given) => plain(given),
    })
}

/// The error for a list of `items` items past the limit (formatted only when one is).
fn too_many(name: Name<'_>, items: usize, limits: &Limits) -> Error {
    match limits.check_items(format!("input `{name}`"), items) {
        Err(e) => e,
        Ok(()) => Error::input(name.to_string(), format!("is a list of {items} items")),
    }
}

/// Whether `v` is of the plain type `ty` (for choosing a `Union`'s member).
fn conforms(v: &Value, ty: &Type) -> bool {
    matches!(
        (ty.name.as_str(), v),
        ("Tensor", Value::Tensor(_))
            | ("int", Value::Int(_))
            | ("float", Value::Float(_))
            | ("bool", Value::Bool(_))
            | ("str", Value::Str(_))
            | ("List", Value::List(_))
            | ("Tuple", Value::Tuple(_))
            | ("Dict", Value::Dict(_))
    )
}

/// `given` as the value it plainly is.
fn plain(given: Given) -> Value {
    match given {
        Given::None => Value::None,
        Given::Bool(b) => Value::Bool(b),
        Given::Int(n) => Value::Int(n),
        Given::Float(x) => Value::Float(x),
        Given::Str(s) => Value::Str(s),
        Given::Tensor(t) => Value::Tensor(t),
        Given::List(items) => Value::List(items.into_iter().map(plain).collect()),
        Given::Tuple(items) => Value::Tuple(items.into_iter().map(plain).collect()),
        Given::Dict(items) => Value::Dict(items.into_iter().map(|(k, v)| (k, plain(v))).collect()),
    }
}

/// The leaves of nested lists, and their shape.
fn leaves<'g>(
    name: Name<'_>,
    g: &'g Given,
    shape: &mut Vec<usize>,
    out: &mut Vec<&'g Given>,
    depth: usize,
) -> Result<()> {
    match g {
        Given::List(items) | Given::Tuple(items) => {
            if shape.len() == depth {
                if !out.is_empty() {
                    // A number came first at this depth: `[1, [2]]`.
                    return Err(Error::input(
                        name.to_string(),
                        "is ragged: numbers and lists at one depth",
                    ));
                }
                shape.push(items.len());
            } else if shape.get(depth) != Some(&items.len()) {
                return Err(Error::input(
                    name.to_string(),
                    "is ragged: its nested lists differ in length at one depth",
                ));
            }
            for item in items {
                leaves(name, item, shape, out, depth + 1)?;
            }
            if items.is_empty() && shape.len() > depth + 1 {
                return Err(Error::input(name.to_string(), "is ragged"));
            }
        }
        leaf => {
            if shape.len() != depth {
                return Err(Error::input(
                    name.to_string(),
                    "is ragged: numbers and lists at one depth",
                ));
            }
            out.push(leaf);
        }
    }
    Ok(())
}

/// A tensor from nested lists, typed as `torch.tensor` types them.
fn tensor_from_given(name: Name<'_>, g: &Given, limits: &Limits) -> Result<Tensor> {
    let mut shape = Vec::new();
    let mut flat = Vec::new();
    leaves(name, g, &mut shape, &mut flat, 0)?;
    // Every leaf at the innermost depth, and as many as the shape holds (`[[1], []]` has
    // fewer).
    if flat.len() != shape.iter().product::<usize>() {
        return Err(Error::input(name.to_string(), "is ragged"));
    }
    // The argument is named only when the check fails.
    if limits.check_elements("", &shape).is_err() {
        limits.check_elements(format!("input `{name}`"), &shape)?;
    }
    let device = Device::Cpu;
    if !flat.is_empty() && flat.iter().all(|x| matches!(x, Given::Bool(_))) {
        let data: Vec<u8> = flat
            .iter()
            .map(|x| u8::from(matches!(x, Given::Bool(true))))
            .collect();
        return Tensor::from_mask(candle_core::Tensor::from_vec(data, shape, &device)?);
    }
    let mut any_float = false;
    for x in &flat {
        match x {
            Given::Float(_) => any_float = true,
            Given::Int(_) => {}
            Given::Bool(_) => {
                return Err(Error::input(name.to_string(), "mixes booleans and numbers"))
            }
            Given::Tensor(_) => {
                return Err(Error::input(
                    name.to_string(),
                    "forward takes it as Tensor, not a list of tensors",
                ))
            }
            _ => {
                return Err(Error::input(
                    name.to_string(),
                    "holds something other than numbers",
                ))
            }
        }
    }
    // No numbers at all (`[]`, `[[]]`) is float32, as torch.tensor makes it.
    if any_float || flat.is_empty() {
        let mut data = Vec::with_capacity(flat.len());
        for (i, x) in flat.iter().enumerate() {
            let wide = match x {
                Given::Float(f) => *f,
                Given::Int(n) => *n as f64,
                _ => f64::NAN,
            };
            // NaN and infinities stay (as torch.tensor keeps them); a finite number past
            // float32's range does not become one.
            if wide.is_finite() && !(wide as f32).is_finite() {
                return Err(Error::input(
                    name.to_string(),
                    format!("element {i} is out of float32's range"),
                ));
            }
            data.push(wide as f32);
        }
        Tensor::new(candle_core::Tensor::from_vec(data, shape, &device)?)
    } else {
        let data: Vec<i64> = flat
            .iter()
            .map(|x| match x {
                Given::Int(n) => *n,
                _ => 0,
            })
            .collect();
        Tensor::new(candle_core::Tensor::from_vec(data, shape, &device)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::ScalarType;
    use crate::script::parse;

    /// The signature of `forward(self, x: Tensor, xs: List[Tensor], k: int, s: Optional[float])`.
    fn signature() -> Signature {
        let code = "def forward(self, x: Tensor, xs: List[Tensor], k: int, s: Optional[float]=None) -> Tensor:\n    return x\n";
        let module = parse("code/m.py", code).expect("the test's code parses");
        let function = module.functions.first().expect("one function");
        crate::script::program::signature_of(function)
    }

    fn given(args: Vec<(&str, Given)>) -> Result<Vec<(String, Value)>> {
        let args = args.into_iter().map(|(n, g)| (n.to_string(), g)).collect();
        args_from_given(&signature(), args, &Limits::default())
    }

    fn ints(v: &[i64]) -> Given {
        Given::List(v.iter().map(|&n| Given::Int(n)).collect())
    }

    #[test]
    fn nested_lists_become_tensors_by_torch_tensors_rule() {
        let cases = [
            (
                Given::List(vec![ints(&[1, 2]), ints(&[3, 4])]),
                ScalarType::Int64,
            ),
            (
                Given::List(vec![Given::Int(1), Given::Float(2.5)]),
                ScalarType::Float32,
            ),
            (
                Given::Tuple(vec![Given::Bool(true), Given::Bool(false)]),
                ScalarType::Bool,
            ),
        ];
        for (g, dtype) in cases {
            let args = given(vec![("x", g)]).expect("a tensor");
            let Value::Tensor(t) = &args[0].1 else {
                panic!("not a tensor: {:?}", args[0].1);
            };
            assert_eq!(t.dtype(), dtype);
        }
        // NaN stays, as torch.tensor keeps it; a finite number past float32's range does not
        // become infinity.
        assert!(given(vec![("x", Given::List(vec![Given::Float(f64::NAN)]))]).is_ok());
        let e = given(vec![("x", Given::List(vec![Given::Float(1e39)]))]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "input `x`: element 0 is out of float32's range"
        );
    }

    #[test]
    fn lists_are_typed_item_by_item_and_other_values_are_left_to_forward() {
        let args = given(vec![
            ("xs", Given::List(vec![ints(&[1]), ints(&[2])])),
            ("k", Given::Str("three".into())),
        ])
        .expect("typed");
        assert!(matches!(&args[0].1, Value::List(items) if items.len() == 2
            && items.iter().all(|i| matches!(i, Value::Tensor(_)))));
        // Not refused here: forward's check names it, as for every door.
        assert!(matches!(&args[1].1, Value::Str(s) if s == "three"));
    }

    #[test]
    fn a_list_past_the_limit_is_refused_before_its_items_are_read() {
        let limits = Limits {
            max_elements: 3,
            ..Limits::default()
        };
        let args = vec![("xs".to_string(), Given::List(vec![ints(&[1]); 4]))];
        let e = args_from_given(&signature(), args, &limits).unwrap_err();
        assert_eq!(
            e.to_string(),
            "input `xs`: is a list of 4 items, more than the limit of 3 elements (max_elements)"
        );
    }

    #[test]
    fn a_union_takes_the_first_member_the_value_reads_as() {
        let plain = |name: &str| Type {
            name: name.into(),
            args: vec![],
        };
        let list = |item: Type| Type {
            name: "List".into(),
            args: vec![item],
        };
        let ty = Type {
            name: "Union".into(),
            args: vec![plain("Tensor"), list(list(plain("int")))],
        };
        let limits = Limits::default();
        // Rectangular: a tensor.
        let v = typed(
            Name::Arg("u"),
            &ty,
            Given::List(vec![ints(&[1, 2])]),
            &limits,
        )
        .expect("typed");
        assert!(matches!(v, Value::Tensor(_)));
        // Ragged: not a tensor, but a List[List[int]].
        let v = typed(
            Name::Arg("u"),
            &ty,
            Given::List(vec![ints(&[1]), ints(&[2, 3])]),
            &limits,
        )
        .expect("typed");
        assert!(matches!(&v, Value::List(rows) if rows.len() == 2));
    }

    #[test]
    fn mistakes_name_the_argument() {
        let cases = [
            (
                vec![("y", Given::Int(1))],
                "input `y`: forward takes no such argument (it takes `x`, `xs`, `k`, `s`)",
            ),
            (
                vec![("x", Given::List(vec![ints(&[1, 2]), ints(&[3])]))],
                "input `x`: is ragged: its nested lists differ in length at one depth",
            ),
            (
                vec![("x", Given::List(vec![Given::Bool(true), Given::Int(1)]))],
                "input `x`: mixes booleans and numbers",
            ),
            (
                vec![(
                    "xs",
                    Given::List(vec![Given::List(vec![Given::Str("a".into())])]),
                )],
                "input `xs[0]`: holds something other than numbers",
            ),
            // A number before a list at one depth is ragged too, whatever follows.
            (
                vec![("x", Given::List(vec![Given::Int(1), ints(&[2])]))],
                "input `x`: is ragged: numbers and lists at one depth",
            ),
            (
                vec![("x", Given::List(vec![Given::Int(1), ints(&[2, 3])]))],
                "input `x`: is ragged: numbers and lists at one depth",
            ),
            (
                vec![("x", Given::List(vec![ints(&[]), ints(&[1])]))],
                "input `x`: is ragged: its nested lists differ in length at one depth",
            ),
        ];
        for (args, message) in cases {
            assert_eq!(given(args).unwrap_err().to_string(), message);
        }
    }
}
