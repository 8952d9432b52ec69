//! A `.pt2` graph's nodes: each node's target resolved to an operator of the registry (or one
//! of the few the executor runs itself), its arguments read from the export schema's
//! `Argument` union into slots and constants.

use std::collections::HashMap;

use serde_json::Value as Json;

use crate::ops::{Op, Registry, ScalarType};

/// A value known when the program is loaded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Const {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    Bools(Vec<bool>),
    Strs(Vec<String>),
}

/// One item of a list argument.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    Slot(usize),
    None,
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// A node's argument.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Const(Const),
    /// A value the graph computes (a tensor, a symbolic int).
    Slot(usize),
    /// A list of computed values and constants (`as_tensors`, `as_sym_ints`).
    List(Vec<Item>),
    /// The device the program runs on (every `as_device` of the graph).
    Device,
}

/// Where a node's results go.
#[derive(Debug, Clone)]
pub(crate) enum Out {
    Slot(usize),
    List(Vec<Option<usize>>),
    Skip,
}

/// What a node runs.
#[derive(Clone)]
pub(crate) enum Target {
    /// An operator of the registry.
    Op(&'static Op),
    /// `aten.sym_size.int`, `aten.sym_numel.default`: sizes of a tensor as ints.
    SymSize,
    SymNumel,
    /// `aten._assert_tensor_metadata.default`: the dtype and sizes checked.
    AssertMetadata,
    /// `aten._assert_scalar.default`: a condition the shapes must meet.
    AssertScalar,
    /// `aten.sym_constrain_range_for_size.default`, `aten.sym_constrain_range.default`.
    ConstrainRange,
    /// Python's own operators on ints (`_operator.mul`, `torch.sym_max`).
    Python(Python),
    /// `_operator.getitem` on a list or tuple.
    GetItem,
    /// A target scriptless does not run: why.
    Unsupported(String),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Op(op) => write!(f, "Op({})", op.schema.full_name()),
            Target::Python(p) => write!(f, "Python({p:?})"),
            Target::Unsupported(why) => write!(f, "Unsupported({why})"),
            Target::SymSize => f.write_str("SymSize"),
            Target::SymNumel => f.write_str("SymNumel"),
            Target::AssertMetadata => f.write_str("AssertMetadata"),
            Target::AssertScalar => f.write_str("AssertScalar"),
            Target::ConstrainRange => f.write_str("ConstrainRange"),
            Target::GetItem => f.write_str("GetItem"),
        }
    }
}

/// Python's operators on symbolic ints, floats and bools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Python {
    Add,
    Sub,
    Mul,
    FloorDiv,
    TrueDiv,
    Mod,
    Pow,
    Neg,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Not,
    Max,
    Min,
    ToFloat,
    ToInt,
    Ceil,
    Floor,
}

/// A node of the graph.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// Its target as the graph names it (`torch.ops.aten.linear.default`).
    pub name: String,
    pub target: Target,
    /// Its arguments by name.
    pub args: Vec<(String, Arg)>,
    pub outputs: Vec<Out>,
    /// The overload a call binds to when the target's own does not take its arguments (a
    /// Python number where it takes a Tensor), remembered from the first call.
    pub hint: crate::ops::Hint,
}

/// The registry's name for a graph target (`aten::linear` for
/// `torch.ops.aten.linear.default`, `aten::add.Tensor`), or `None` for a target that is not an
/// ATen operator.
pub(crate) fn aten_name(target: &str) -> Option<String> {
    let rest = target.strip_prefix("torch.ops.aten.")?;
    let (name, overload) = rest.split_once('.')?;
    Some(if overload == "default" {
        format!("aten::{name}")
    } else {
        format!("aten::{name}.{overload}")
    })
}

/// The targets the executor runs itself rather than through the registry.
pub(crate) const EXECUTOR_TARGETS: &[&str] = &[
    "torch.ops.aten.sym_size.int",
    "torch.ops.aten.sym_numel.default",
    "torch.ops.aten._assert_tensor_metadata.default",
    "torch.ops.aten._assert_scalar.default",
    "torch.ops.aten.sym_constrain_range_for_size.default",
    "torch.ops.aten.sym_constrain_range.default",
    "_operator.getitem",
    "_operator.add",
    "_operator.sub",
    "_operator.mul",
    "_operator.floordiv",
    "_operator.truediv",
    "_operator.mod",
    "_operator.pow",
    "_operator.neg",
    "_operator.eq",
    "_operator.ne",
    "_operator.lt",
    "_operator.le",
    "_operator.gt",
    "_operator.ge",
    "_operator.and_",
    "_operator.or_",
    "_operator.not_",
    "torch.sym_not",
    "torch.sym_max",
    "torch.sym_min",
    "torch.sym_float",
    "torch.sym_int",
    "math.ceil",
    "math.floor",
];

/// What `target` runs.
pub(crate) fn target(target: &str) -> Target {
    let python = |p| Target::Python(p);
    match target {
        "torch.ops.aten.sym_size.int" => return Target::SymSize,
        "torch.ops.aten.sym_numel.default" => return Target::SymNumel,
        "torch.ops.aten._assert_tensor_metadata.default" => return Target::AssertMetadata,
        "torch.ops.aten._assert_scalar.default" => return Target::AssertScalar,
        "torch.ops.aten.sym_constrain_range_for_size.default"
        | "torch.ops.aten.sym_constrain_range.default" => return Target::ConstrainRange,
        "_operator.getitem" => return Target::GetItem,
        "_operator.add" => return python(Python::Add),
        "_operator.sub" => return python(Python::Sub),
        "_operator.mul" => return python(Python::Mul),
        "_operator.floordiv" => return python(Python::FloorDiv),
        "_operator.truediv" => return python(Python::TrueDiv),
        "_operator.mod" => return python(Python::Mod),
        "_operator.pow" => return python(Python::Pow),
        "_operator.neg" => return python(Python::Neg),
        "_operator.eq" => return python(Python::Eq),
        "_operator.ne" => return python(Python::Ne),
        "_operator.lt" => return python(Python::Lt),
        "_operator.le" => return python(Python::Le),
        "_operator.gt" => return python(Python::Gt),
        "_operator.ge" => return python(Python::Ge),
        "_operator.and_" => return python(Python::And),
        "_operator.or_" => return python(Python::Or),
        "_operator.not_" | "torch.sym_not" => return python(Python::Not),
        "torch.sym_max" => return python(Python::Max),
        "torch.sym_min" => return python(Python::Min),
        "torch.sym_float" => return python(Python::ToFloat),
        "torch.sym_int" => return python(Python::ToInt),
        "math.ceil" => return python(Python::Ceil),
        "math.floor" => return python(Python::Floor),
        _ => {}
    }
    if let Some(hop) = target.strip_prefix("torch.ops.higher_order.") {
        return Target::Unsupported(format!(
            "the higher-order operator {target} (torch.{hop}) is not supported: export the \
             model without it"
        ));
    }
    let Some(name) = aten_name(target) else {
        return Target::Unsupported(format!(
            "{target} is not supported: scriptless runs ATen operators (torch.ops.aten.*)"
        ));
    };
    let registry = Registry::get();
    match registry.op(&name) {
        Some(op) if op.refusal.is_none() => Target::Op(op),
        Some(op) => Target::Unsupported(format!(
            "{target} ({name}) is not supported: {}",
            op.refusal.unwrap_or_default()
        )),
        None => Target::Unsupported(match registry.refusal(&name) {
            Some(reason) => format!("{target} ({name}) is not supported: {reason}"),
            None => format!("{target} ({name}) is not supported"),
        }),
    }
}

/// The graph's values by name, each given a slot when it is first defined.
#[derive(Debug, Default)]
pub(crate) struct Slots {
    pub by_name: HashMap<String, usize>,
}

impl Slots {
    /// A new slot for `name`; a name defined twice is refused.
    pub(crate) fn define(&mut self, name: &str) -> Result<usize, String> {
        let next = self.by_name.len();
        match self.by_name.insert(name.to_string(), next) {
            None => Ok(next),
            Some(_) => Err(format!("the value `{name}` is defined twice")),
        }
    }

    /// The slot of `name`, which must be defined already.
    pub(crate) fn get(&self, name: &str) -> Result<usize, String> {
        self.by_name
            .get(name)
            .copied()
            .ok_or_else(|| format!("the value `{name}` is used before it is defined"))
    }

    pub(crate) fn len(&self) -> usize {
        self.by_name.len()
    }
}

/// The one key and its value of an export-schema union (`{"as_tensor": {...}}`).
pub(crate) fn union(json: &Json) -> Result<(&str, &Json), String> {
    match json.as_object() {
        Some(map) if map.len() == 1 => {
            let (k, v) = map.iter().next().ok_or("an empty union")?;
            Ok((k.as_str(), v))
        }
        _ => Err(format!("not a one-key union: {}", short(json))),
    }
}

/// `json` cut to a length fit for a message.
pub(crate) fn short(json: &Json) -> String {
    let s = json.to_string();
    if s.len() > 80 {
        let mut end = 80;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s
    }
}

fn name_of(json: &Json) -> Result<&str, String> {
    json.get("name")
        .and_then(Json::as_str)
        .ok_or_else(|| format!("a tensor reference without a name: {}", short(json)))
}

fn int(json: &Json) -> Result<i64, String> {
    json.as_i64()
        .ok_or_else(|| format!("not an integer: {}", short(json)))
}

/// A float as the export schema writes one: a number, or `"Infinity"`, `"-Infinity"`, `"NaN"`.
pub(crate) fn float(json: &Json) -> Result<f64, String> {
    match json {
        Json::Number(n) => n.as_f64().ok_or_else(|| format!("not a float: {n}")),
        Json::String(s) => match s.as_str() {
            "Infinity" | "inf" => Ok(f64::INFINITY),
            "-Infinity" | "-inf" => Ok(f64::NEG_INFINITY),
            "NaN" | "nan" => Ok(f64::NAN),
            other => Err(format!("not a float: {other:?}")),
        },
        other => Err(format!("not a float: {}", short(other))),
    }
}

fn list(json: &Json) -> Result<&Vec<Json>, String> {
    json.as_array()
        .ok_or_else(|| format!("not a list: {}", short(json)))
}

/// The export schema's `ScalarType` code `code` as TorchScript's dtype code.
pub(crate) fn scalar_type(code: i64) -> Result<ScalarType, String> {
    Ok(match code {
        1 => ScalarType::UInt8,
        3 => ScalarType::Int16,
        4 => ScalarType::Int32,
        5 => ScalarType::Int64,
        6 => ScalarType::Float16,
        7 => ScalarType::Float32,
        8 => ScalarType::Float64,
        12 => ScalarType::Bool,
        13 => ScalarType::BFloat16,
        2 => return Err("dtype int8 is not supported".into()),
        9..=11 => return Err("complex dtypes are not supported".into()),
        other => return Err(format!("dtype code {other} is not supported")),
    })
}

/// An `as_sym_int`/`as_sym_float`/`as_sym_bool` payload: a name or a constant.
fn sym_item(json: &Json, slots: &Slots) -> Result<Item, String> {
    let (kind, v) = union(json)?;
    Ok(match kind {
        "as_name" => Item::Slot(slots.get(v.as_str().ok_or("a symbol without a name")?)?),
        "as_int" => Item::Int(int(v)?),
        "as_float" => Item::Float(float(v)?),
        "as_bool" => Item::Bool(v.as_bool().ok_or("as_bool is not a bool")?),
        other => return Err(format!("a symbolic value of kind {other}")),
    })
}

fn item_arg(item: Item) -> Arg {
    match item {
        Item::Slot(s) => Arg::Slot(s),
        Item::None => Arg::Const(Const::None),
        Item::Int(n) => Arg::Const(Const::Int(n)),
        Item::Float(x) => Arg::Const(Const::Float(x)),
        Item::Bool(b) => Arg::Const(Const::Bool(b)),
    }
}

/// An input argument (`Argument` of the export schema).
pub(crate) fn arg(json: &Json, slots: &Slots) -> Result<Arg, String> {
    let (kind, v) = union(json)?;
    let consts = |f: &dyn Fn(&Json) -> Result<Const, String>| -> Result<Vec<Const>, String> {
        list(v)?.iter().map(f).collect()
    };
    Ok(match kind {
        "as_none" => Arg::Const(Const::None),
        "as_tensor" => Arg::Slot(slots.get(name_of(v)?)?),
        "as_tensors" => Arg::List(
            list(v)?
                .iter()
                .map(|t| Ok(Item::Slot(slots.get(name_of(t)?)?)))
                .collect::<Result<_, String>>()?,
        ),
        "as_optional_tensor" => match union(v)? {
            ("as_tensor", t) => Arg::Slot(slots.get(name_of(t)?)?),
            ("as_none", _) => Arg::Const(Const::None),
            (other, _) => return Err(format!("an optional tensor of kind {other}")),
        },
        "as_optional_tensors" => Arg::List(
            list(v)?
                .iter()
                .map(|t| match union(t)? {
                    ("as_tensor", t) => Ok(Item::Slot(slots.get(name_of(t)?)?)),
                    ("as_none", _) => Ok(Item::None),
                    (other, _) => Err(format!("an optional tensor of kind {other}")),
                })
                .collect::<Result<_, String>>()?,
        ),
        "as_int" => Arg::Const(Const::Int(int(v)?)),
        "as_ints" => Arg::Const(Const::Ints(
            list(v)?.iter().map(int).collect::<Result<_, _>>()?,
        )),
        "as_float" => Arg::Const(Const::Float(float(v)?)),
        "as_floats" => Arg::Const(Const::Floats(
            list(v)?.iter().map(float).collect::<Result<_, _>>()?,
        )),
        "as_bool" => Arg::Const(Const::Bool(v.as_bool().ok_or("as_bool is not a bool")?)),
        "as_bools" => Arg::Const(Const::Bools(
            consts(&|b| b.as_bool().map(Const::Bool).ok_or("not a bool".into()))?
                .into_iter()
                .map(|c| c == Const::Bool(true))
                .collect(),
        )),
        "as_string" => Arg::Const(Const::Str(
            v.as_str().ok_or("as_string is not a string")?.to_string(),
        )),
        "as_strings" => Arg::Const(Const::Strs(
            list(v)?
                .iter()
                .map(|s| s.as_str().map(str::to_string).ok_or("not a string"))
                .collect::<Result<_, _>>()?,
        )),
        "as_sym_int" | "as_sym_float" | "as_sym_bool" => item_arg(sym_item(v, slots)?),
        "as_sym_ints" | "as_sym_floats" | "as_sym_bools" => Arg::List(
            list(v)?
                .iter()
                .map(|s| sym_item(s, slots))
                .collect::<Result<_, _>>()?,
        ),
        "as_scalar_type" => Arg::Const(Const::Int(scalar_type(int(v)?)?.code())),
        "as_memory_format" => Arg::Const(Const::Int(match int(v)? {
            // The schema's ContiguousFormat, ChannelsLast, ChannelsLast3d, PreserveFormat as
            // TorchScript's codes (torch.contiguous_format is 0, torch.preserve_format 1).
            1 => 0,
            2 => 2,
            3 => 3,
            4 => 1,
            other => return Err(format!("memory format {other} is not supported")),
        })),
        "as_layout" => match int(v)? {
            7 => Arg::Const(Const::Int(0)), // torch.strided
            other => {
                return Err(format!(
                    "layout {other} is not supported: scriptless runs dense (strided) tensors"
                ))
            }
        },
        "as_device" => Arg::Device,
        other => {
            return Err(format!(
                "an argument of kind {other}, which scriptless does not run"
            ))
        }
    })
}

/// A node's output (`Argument`), given a new slot.
pub(crate) fn output(json: &Json, slots: &mut Slots) -> Result<Out, String> {
    let (kind, v) = union(json)?;
    Ok(match kind {
        "as_tensor" => Out::Slot(slots.define(name_of(v)?)?),
        "as_tensors" => Out::List(
            list(v)?
                .iter()
                .map(|t| Ok(Some(slots.define(name_of(t)?)?)))
                .collect::<Result<_, String>>()?,
        ),
        "as_optional_tensors" => Out::List(
            list(v)?
                .iter()
                .map(|t| match union(t)? {
                    ("as_tensor", t) => Ok(Some(slots.define(name_of(t)?)?)),
                    ("as_none", _) => Ok(None),
                    (other, _) => Err(format!("an optional tensor of kind {other}")),
                })
                .collect::<Result<_, String>>()?,
        ),
        "as_sym_int" | "as_sym_float" | "as_sym_bool" => match union(v)? {
            ("as_name", name) => {
                Out::Slot(slots.define(name.as_str().ok_or("a symbol without a name")?)?)
            }
            _ => Out::Skip,
        },
        "as_none" | "as_int" | "as_float" | "as_bool" => Out::Skip,
        other => {
            return Err(format!(
                "an output of kind {other}, which scriptless does not run"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_executors_own_targets_are_the_listed_ones() {
        for t in EXECUTOR_TARGETS {
            assert!(
                !matches!(target(t), Target::Op(_) | Target::Unsupported(_)),
                "{t}"
            );
        }
        assert!(matches!(
            target("torch.ops.aten.linear.default"),
            Target::Op(_)
        ));
        assert!(matches!(
            target("torch.ops.higher_order.while_loop"),
            Target::Unsupported(_)
        ));
    }
}
