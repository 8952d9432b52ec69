//! [`Graph::load`]: a `.pt2` program read into nodes, slots and the shape of `forward`.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value as Json;

use super::node::{self, short, union, Arg, Const, Node, Slots, Target};
use super::spec::Tree;
use super::sym::Expr;
use crate::ops::{ScalarType, Tensor};

/// The export schema's major version scriptless reads (any minor).
const SCHEMA_MAJOR: i64 = 8;

/// A `.pt2` program, loaded to run. Thread-safe: every call binds its own values.
#[derive(Debug)]
pub(crate) struct Graph {
    /// The program's name in the archive (`model`).
    pub name: String,
    /// The PyTorch that exported it, where the program says.
    pub torch_version: Option<String>,
    pub(super) nodes: Vec<Node>,
    pub(super) slots: usize,
    /// Parameters, buffers and tensor constants, by slot.
    pub(super) stored: Vec<(usize, Tensor)>,
    /// `forward`'s arguments.
    pub inputs: Vec<Input>,
    /// The user's outputs, in order, and the structure they rebuild.
    pub(super) outputs: Vec<Arg>,
    pub(super) out_tree: Tree,
    /// The range of each symbolic size (`s77`: min, max; `None` for no upper bound).
    pub ranges: BTreeMap<String, (i64, Option<i64>)>,
    /// Every node's target, each once, in order of first use (`aten::linear`, `_operator.mul`).
    pub operators: Vec<(String, bool)>,
    /// Why it cannot run (the first target or argument it does not support).
    pub refusal: Option<String>,
}

/// One argument of `forward`: its name, its structure and its leaves.
#[derive(Debug, Clone)]
pub(crate) struct Input {
    pub name: String,
    pub tree: Tree,
    pub leaves: Vec<Leaf>,
}

/// One graph input that comes from the user.
#[derive(Debug, Clone)]
pub(crate) enum Leaf {
    /// A tensor, with the dtype and sizes the program was exported with.
    Tensor {
        slot: usize,
        dtype: ScalarType,
        dims: Vec<Expr>,
    },
    /// A symbolic `int`, `float` or `bool` (what `kind` names).
    Scalar { slot: usize, kind: &'static str },
    /// A value `torch.export` baked in (`constant_input`).
    Constant(Const),
}

impl Graph {
    /// The parameters, buffers and tensor constants it holds.
    pub(crate) fn stored_tensors(&self) -> Vec<candle_core::Tensor> {
        self.stored.iter().map(|(_, t)| t.inner().clone()).collect()
    }

    /// The structure `forward`'s result rebuilds.
    pub(crate) fn out_tree(&self) -> &Tree {
        &self.out_tree
    }

    /// Reads the program `name` from its JSON and the archive's tensors (by `state_dict` or
    /// constant name). The error is a message for the archive.
    pub(crate) fn load(
        name: &str,
        json: &[u8],
        tensors: &BTreeMap<String, Tensor>,
    ) -> Result<Graph, String> {
        let program: Json = serde_json::from_slice(json).map_err(|e| e.to_string())?;
        check_version(&program)?;
        let module = field(&program, "graph_module")?;
        let graph = field(module, "graph")?;
        let signature = field(module, "signature")?;
        let tensor_values = graph.get("tensor_values").and_then(Json::as_object);
        let mut slots = Slots::default();
        let mut stored = Vec::new();
        let mut user = Vec::new();
        let mut refusal = None;
        for spec in array(signature, "input_specs")? {
            let (kind, v) = union(spec).map_err(|e| format!("an input spec: {e}"))?;
            match kind {
                "parameter" | "buffer" | "tensor_constant" => {
                    let key = match kind {
                        "parameter" => "parameter_name",
                        "buffer" => "buffer_name",
                        _ => "tensor_constant_name",
                    };
                    let fqn = str_field(v, key)?;
                    let arg = str_field(field(v, "arg")?, "name")?;
                    let tensor = tensors.get(fqn).ok_or_else(|| {
                        format!("the {kind} `{fqn}` is not among the archive's tensors")
                    })?;
                    stored.push((slots.define(arg)?, tensor.clone()));
                }
                "user_input" => {
                    let arg = field(v, "arg")?;
                    user.push(user_leaf(arg, &mut slots, tensor_values)?);
                }
                "constant_input" => {
                    let value = node::arg(field(v, "value")?, &slots)
                        .map_err(|e| format!("constant input: {e}"))?;
                    match value {
                        Arg::Const(c) => user.push(Leaf::Constant(c)),
                        _ => return Err("a constant input that is not a constant".into()),
                    }
                }
                other => {
                    refusal.get_or_insert(format!(
                        "the program has an input of kind {other} (a custom object or an \
                         effect token), which scriptless does not run"
                    ));
                }
            }
        }
        let inputs = forward_inputs(module, user)?;
        let mut nodes = Vec::new();
        let mut operators: Vec<(String, bool)> = Vec::new();
        let mut seen = HashSet::new();
        for (i, n) in array(graph, "nodes")?.iter().enumerate() {
            let target_name = str_field(n, "target")?;
            let target = node::target(target_name);
            let shown = node::aten_name(target_name).unwrap_or_else(|| target_name.to_string());
            let supported = !matches!(target, Target::Unsupported(_));
            if seen.insert(shown.clone()) {
                operators.push((shown, supported));
            }
            if let Target::Unsupported(why) = &target {
                refusal.get_or_insert(format!("node {i}: {why}"));
            }
            let mut args = Vec::new();
            for input in array(n, "inputs")? {
                let name = str_field(input, "name")?.to_string();
                match node::arg(field(input, "arg")?, &slots) {
                    Ok(a) => args.push((name, a)),
                    Err(e) => {
                        refusal.get_or_insert(format!(
                            "node {i} ({target_name}), argument `{name}`: {e}"
                        ));
                    }
                }
            }
            let outputs = array(n, "outputs")?
                .iter()
                .map(|o| node::output(o, &mut slots))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("node {i} ({target_name}): {e}"))?;
            nodes.push(Node {
                name: target_name.to_string(),
                target,
                args,
                outputs,
                hint: Default::default(),
            });
        }
        let mut outputs = Vec::new();
        for spec in array(signature, "output_specs")? {
            let (kind, v) = union(spec).map_err(|e| format!("an output spec: {e}"))?;
            match kind {
                "user_output" => outputs.push(
                    node::arg(field(v, "arg")?, &slots)
                        .map_err(|e| format!("a user output: {e}"))?,
                ),
                // The graph's new value of a buffer or input it writes: the call's own copy,
                // not returned.
                "buffer_mutation" | "user_input_mutation" => {}
                other => {
                    refusal.get_or_insert(format!(
                        "the program has an output of kind {other} (a training program), which \
                         scriptless does not run"
                    ));
                }
            }
        }
        let out_tree = root_signature(module)
            .and_then(|sig| str_field(sig, "out_spec"))
            .and_then(|s| Tree::parse(s).map_err(|e| format!("out_spec: {e}")))?;
        if out_tree.leaves() != outputs.len() {
            return Err(format!(
                "out_spec has {} leaves for {} user outputs",
                out_tree.leaves(),
                outputs.len()
            ));
        }
        let ranges = ranges(&program)?;
        Ok(Graph {
            name: name.to_string(),
            torch_version: program
                .get("torch_version")
                .and_then(Json::as_str)
                .map(str::to_string),
            nodes,
            slots: slots.len(),
            stored,
            inputs,
            outputs,
            out_tree,
            ranges,
            operators,
            refusal,
        })
    }
}

fn field<'a>(json: &'a Json, name: &str) -> Result<&'a Json, String> {
    json.get(name)
        .ok_or_else(|| format!("no `{name}` in {}", short(json)))
}

fn str_field<'a>(json: &'a Json, name: &str) -> Result<&'a str, String> {
    field(json, name)?
        .as_str()
        .ok_or_else(|| format!("`{name}` is not a string in {}", short(json)))
}

fn array<'a>(json: &'a Json, name: &str) -> Result<&'a Vec<Json>, String> {
    field(json, name)?
        .as_array()
        .ok_or_else(|| format!("`{name}` is not a list"))
}

/// Refuses a schema version other than 8.x.
fn check_version(program: &Json) -> Result<(), String> {
    let version = field(program, "schema_version")?;
    let major = field(version, "major")?.as_i64();
    let minor = version.get("minor").and_then(Json::as_i64).unwrap_or(0);
    match major {
        Some(SCHEMA_MAJOR) => Ok(()),
        Some(major) => Err(format!(
            "the program's export schema is version {major}.{minor}; scriptless reads version \
             {SCHEMA_MAJOR} (PyTorch 2.9 to 2.15)"
        )),
        None => Err("schema_version.major is not an integer".into()),
    }
}

/// The root module's call signature (`module_call_graph`, `fqn` empty).
fn root_signature(module: &Json) -> Result<&Json, String> {
    array(module, "module_call_graph")?
        .iter()
        .find(|c| c.get("fqn").and_then(Json::as_str) == Some(""))
        .and_then(|c| c.get("signature"))
        .filter(|s| !s.is_null())
        .ok_or_else(|| "the program records no signature for forward (module_call_graph)".into())
}

/// A user input of the graph: a tensor with its exported dtype and sizes, or a symbolic scalar.
fn user_leaf(
    arg: &Json,
    slots: &mut Slots,
    tensor_values: Option<&serde_json::Map<String, Json>>,
) -> Result<Leaf, String> {
    let (kind, v) = union(arg).map_err(|e| format!("a user input: {e}"))?;
    let name = |v: &Json, key: &str| -> Result<String, String> {
        v.get(key)
            .and_then(Json::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("a user input without a name: {}", short(v)))
    };
    match kind {
        "as_tensor" => {
            let graph_name = name(v, "name")?;
            let meta = tensor_values
                .and_then(|t| t.get(&graph_name))
                .ok_or_else(|| format!("the input `{graph_name}` has no tensor_values entry"))?;
            let dtype = node::scalar_type(
                field(meta, "dtype")?
                    .as_i64()
                    .ok_or("a dtype that is not an integer")?,
            )
            .map_err(|e| format!("the input `{graph_name}`: {e}"))?;
            let dims = array(meta, "sizes")?
                .iter()
                .map(|s| match union(s)? {
                    ("as_int", n) => n
                        .as_i64()
                        .map(Expr::Int)
                        .ok_or_else(|| "a size that is not an integer".to_string()),
                    ("as_expr", e) => Ok(Expr::parse(str_field(e, "expr_str")?)),
                    (other, _) => Err(format!("a size of kind {other}")),
                })
                .collect::<Result<_, String>>()?;
            Ok(Leaf::Tensor {
                slot: slots.define(&graph_name)?,
                dtype,
                dims,
            })
        }
        "as_sym_int" | "as_sym_float" | "as_sym_bool" => {
            let slot = slots.define(&name(v, "as_name")?)?;
            let kind = match kind {
                "as_sym_int" => "int",
                "as_sym_float" => "float",
                _ => "bool",
            };
            Ok(Leaf::Scalar { slot, kind })
        }
        _ => match node::arg(arg, slots)? {
            Arg::Const(c) => Ok(Leaf::Constant(c)),
            _ => Err(format!("a user input of kind {kind}")),
        },
    }
}

/// `forward`'s arguments: names from `forward_arg_names`, structures from `in_spec` (a tuple
/// of the positional arguments and a dict of keyword ones), leaves from the user inputs in
/// order.
fn forward_inputs(module: &Json, user: Vec<Leaf>) -> Result<Vec<Input>, String> {
    let sig = root_signature(module)?;
    let names: Vec<String> = array(sig, "forward_arg_names")?
        .iter()
        .map(|n| {
            n.as_str()
                .map(str::to_string)
                .ok_or("an argument name that is not a string")
        })
        .collect::<Result<_, _>>()?;
    let tree = Tree::parse(str_field(sig, "in_spec")?).map_err(|e| format!("in_spec: {e}"))?;
    let (positional, keyword) = match tree {
        Tree::Tuple(parts) if parts.len() == 2 => {
            let mut parts = parts.into_iter();
            match (parts.next(), parts.next()) {
                (Some(Tree::Tuple(p)), Some(Tree::Dict(k))) => (p, k),
                _ => return Err("in_spec is not (args, kwargs)".into()),
            }
        }
        _ => return Err("in_spec is not (args, kwargs)".into()),
    };
    let mut trees = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let tree = match positional.get(i) {
            Some(t) => t.clone(),
            None => keyword
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, t)| t.clone())
                .ok_or_else(|| format!("in_spec has no argument `{name}`"))?,
        };
        trees.push(tree);
    }
    let total: usize = trees.iter().map(Tree::leaves).sum();
    if total != user.len() || positional.len() + keyword.len() != names.len() {
        return Err(format!(
            "forward's {} arguments flatten to {total} values, and the graph has {} user inputs",
            names.len(),
            user.len()
        ));
    }
    let mut leaves = user.into_iter();
    Ok(names
        .into_iter()
        .zip(trees)
        .map(|(name, tree)| {
            let leaves = leaves.by_ref().take(tree.leaves()).collect();
            Input { name, tree, leaves }
        })
        .collect())
}

/// `range_constraints`: each symbol's min and max (no max for an unbounded one).
fn ranges(program: &Json) -> Result<BTreeMap<String, (i64, Option<i64>)>, String> {
    let mut out = BTreeMap::new();
    let Some(map) = program.get("range_constraints").and_then(Json::as_object) else {
        return Ok(out);
    };
    for (symbol, range) in map {
        let bound = |key: &str| -> Option<i64> {
            match range.get(key)? {
                Json::Number(n) => n.as_i64(),
                _ => None,
            }
        };
        let min = bound("min_val").unwrap_or(0);
        // PyTorch writes an unbounded max as a huge integer (int_oo) or not at all.
        let max = bound("max_val").filter(|&m| m < i64::MAX / 2);
        out.insert(symbol.clone(), (min, max));
    }
    Ok(out)
}
