//! The one description of `forward`'s signature that every door gives: `inspect --json`,
//! Python's `model.signature` and C's `scriptless_model_signature_json` print
//! [`Signature::to_json`]; C's argument queries read [`Param::kind`]. Its fields are defined in
//! the guide (`docs/own-models.md#the-signature`).

use serde_json::{json, Value as Json};

use super::ast::Type;
use super::program::{Dim, Param, Signature, TensorSpec};
use super::value::Value;

/// What an argument of `forward` takes, with `Optional[...]` unwrapped ([`Param::optional`]
/// says whether `None` is taken too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// `Tensor`.
    Tensor,
    /// `List[Tensor]`.
    TensorList,
    /// `int`.
    Int,
    /// `float`.
    Float,
    /// `bool`.
    Bool,
    /// `str`.
    Str,
    /// `List[int]`.
    IntList,
    /// `List[float]`.
    FloatList,
    /// `List[bool]`.
    BoolList,
    /// Anything else (a tuple, a dict, a nested list): JSON requests and Python take it.
    Other,
}

impl ArgKind {
    /// Its name in the signature's JSON: `tensor`, `tensor_list`, `int`, ..., `other`.
    pub fn name(self) -> &'static str {
        match self {
            ArgKind::Tensor => "tensor",
            ArgKind::TensorList => "tensor_list",
            ArgKind::Int => "int",
            ArgKind::Float => "float",
            ArgKind::Bool => "bool",
            ArgKind::Str => "str",
            ArgKind::IntList => "int_list",
            ArgKind::FloatList => "float_list",
            ArgKind::BoolList => "bool_list",
            ArgKind::Other => "other",
        }
    }

    fn of(ty: &Type) -> Self {
        let plain = |t: &Type| t.args.is_empty();
        match (ty.name.as_str(), ty.args.as_slice()) {
            ("Tensor", []) => ArgKind::Tensor,
            ("int", []) => ArgKind::Int,
            ("float", []) => ArgKind::Float,
            ("bool", []) => ArgKind::Bool,
            ("str", []) => ArgKind::Str,
            ("List", [item]) if plain(item) => match item.name.as_str() {
                "Tensor" => ArgKind::TensorList,
                "int" => ArgKind::IntList,
                "float" => ArgKind::FloatList,
                "bool" => ArgKind::BoolList,
                _ => ArgKind::Other,
            },
            _ => ArgKind::Other,
        }
    }
}

/// `Optional[T]` as `T`.
fn unwrapped(ty: &Type) -> &Type {
    match (ty.name.as_str(), ty.args.as_slice()) {
        ("Optional", [inner]) => inner,
        _ => ty,
    }
}

impl Param {
    /// What it takes, `Optional` unwrapped.
    pub fn kind(&self) -> ArgKind {
        ArgKind::of(unwrapped(&self.ty))
    }

    /// Whether it takes `None` (`Optional[...]`).
    pub fn optional(&self) -> bool {
        self.ty.name == "Optional"
    }

    /// Its description in the signature's JSON. `default_value` is there only where the
    /// default is a literal (`null` for `None`).
    pub fn to_json(&self) -> Json {
        let mut out = json!({
            "name": self.name,
            "type": self.ty.display(),
            "kind": self.kind().name(),
            "optional": self.optional(),
            "default": self.has_default,
            "baked": self.baked.as_ref().and_then(literal_json),
            "tensors": self.tensors.iter().map(TensorSpec::to_json).collect::<Vec<_>>(),
        });
        if let (Some(value), Json::Object(map)) =
            (self.default.as_ref().and_then(literal_json), &mut out)
        {
            map.insert("default_value".into(), value);
        }
        out
    }
}

impl Signature {
    /// The signature as JSON: `{"params": [...], "returns": "Tuple[Tensor, Tensor]"}`, each
    /// param as [`Param::to_json`] describes it.
    pub fn to_json(&self) -> Json {
        json!({
            "params": self.params.iter().map(Param::to_json).collect::<Vec<_>>(),
            "returns": self.returns.as_ref().map(Type::display),
        })
    }

    /// The argument named `name`.
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Refuses `name` unless `forward` takes an argument of that name, with the message every
    /// door gives (a door checks a name before it reads the value given for it).
    pub fn check_name(&self, name: &str) -> crate::error::Result<()> {
        match self.param(name) {
            Some(_) => Ok(()),
            None => Err(super::given::no_such_argument(self, name)),
        }
    }
}

impl TensorSpec {
    /// Its description:
    /// `{"dtype": "float32", "dims": [{"symbol": "s77", "min": 1, "max": 8}, 12]}`.
    pub fn to_json(&self) -> Json {
        json!({
            "dtype": self.dtype.name(),
            "dims": self.dims.iter().map(|d| match d {
                Dim::Static(n) => json!(n),
                Dim::Dynamic { symbol, min, max } => json!({"symbol": symbol, "min": min, "max": max}),
                Dim::Derived(expr) => json!({"expr": expr}),
            }).collect::<Vec<_>>(),
        })
    }
}

/// A scalar, string, `None` or list of them as JSON; `None` for anything holding a tensor.
fn literal_json(v: &Value) -> Option<Json> {
    Some(match v {
        Value::None => Json::Null,
        Value::Bool(b) => json!(b),
        Value::Int(n) => json!(n),
        Value::Float(x) if x.is_finite() => json!(x),
        Value::Float(x) => json!(x.to_string()),
        Value::Str(s) => json!(s),
        Value::List(items) | Value::Tuple(items) => {
            Json::Array(items.iter().map(literal_json).collect::<Option<_>>()?)
        }
        _ => return None,
    })
}
