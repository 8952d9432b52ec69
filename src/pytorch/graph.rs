//! A `.pt2`'s graph as code: each node of `models/<name>.json` (`schema.Graph`) written as one
//! line of the Python subset [`code`](super::code) reads, so that it is compared with the seed's
//! graphs as TorchScript code is with the seed's code:
//!
//! ```text
//! def forward(self, tensor1, tensor2):
//!   add = torch.ops.aten.add.Tensor(self=tensor1, other=tensor2)
//!   linear = torch.ops.aten.linear.default(input=add, weight=self.linear.weight, bias=self.linear.bias)
//!   return linear
//! ```
//!
//! The user's inputs are named by `forward`'s arguments, parameters and buffers `self.<name>`,
//! tensor constants `CONSTANTS.<name>`; every argument is written `name=value`. What has no
//! such form (a symbolic int, a subgraph) is written as a call to `unsupported`, which no seed
//! graph has.

use std::collections::HashMap;
use std::fmt::Write;

use serde::Deserialize;
use serde_json::Value;

/// The largest program written out: a seed graph's is a few kilobytes, and a larger one cannot
/// be one, so a large program is not read twice.
const MAX_PROGRAM_BYTES: usize = 1 << 20;
/// The most nodes written out, for the same reason.
const MAX_NODES: usize = 64;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Program {
    graph_module: GraphModule,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GraphModule {
    graph: Graph,
    signature: Signature,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Graph {
    nodes: Vec<Node>,
    outputs: Vec<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Node {
    target: String,
    inputs: Vec<NamedArgument>,
    outputs: Vec<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NamedArgument {
    name: String,
    arg: Value,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Signature {
    input_specs: Vec<Value>,
    output_specs: Vec<Value>,
}

/// The graph of the program `json` as code, its `forward` taking `arguments`; or why it is not
/// written out.
pub(crate) fn render(json: &[u8], arguments: &[String]) -> Result<String, String> {
    if json.len() > MAX_PROGRAM_BYTES {
        return Err(format!(
            "the program is {} bytes, larger than any of the seed's",
            json.len()
        ));
    }
    let program: Program = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let module = program.graph_module;
    if module.graph.nodes.len() > MAX_NODES {
        return Err(format!(
            "the graph has {} nodes, more than any of the seed's",
            module.graph.nodes.len()
        ));
    }
    let mut names = HashMap::new();
    let mut user = arguments.iter();
    let mut out = format!("def forward(self, {}):\n", arguments.join(", "));
    for spec in &module.signature.input_specs {
        let Some((kind, spec)) = only_entry(spec) else {
            continue;
        };
        let graph_name = spec["arg"]["name"]
            .as_str()
            .or_else(|| spec["arg"]["as_tensor"]["name"].as_str());
        let name = match kind {
            "user_input" => user.next().cloned(),
            "parameter" => spec["parameter_name"].as_str().map(|n| format!("self.{n}")),
            "buffer" => spec["buffer_name"].as_str().map(|n| format!("self.{n}")),
            "tensor_constant" => spec["tensor_constant_name"]
                .as_str()
                .map(|n| format!("CONSTANTS.{n}")),
            _ => None,
        };
        if let (Some(graph_name), Some(name)) = (graph_name, name) {
            names.insert(graph_name.to_string(), name);
        }
    }
    let name = |n: &str| match names.get(n) {
        Some(mapped) => mapped.clone(),
        None if is_identifier(n) => n.to_string(),
        None => format!("unsupported({})", quoted(n)),
    };
    for node in &module.graph.nodes {
        let targets: Vec<String> = node
            .outputs
            .iter()
            .flat_map(|o| outputs(o, &name))
            .collect();
        out.push_str("  ");
        match &targets[..] {
            [] => {}
            [one] => write!(out, "{one} = ").unwrap_or_default(),
            several => write!(out, "{}, = ", several.join(", ")).unwrap_or_default(),
        }
        let target = if node.target.split('.').all(is_identifier) {
            node.target.clone()
        } else {
            format!("unsupported({})", quoted(&node.target))
        };
        let args: Vec<String> = node
            .inputs
            .iter()
            .map(|a| {
                let key = if is_identifier(&a.name) {
                    a.name.as_str()
                } else {
                    "unsupported"
                };
                format!("{key}={}", argument(&a.arg, &name))
            })
            .collect();
        writeln!(out, "{target}({})", args.join(", ")).unwrap_or_default();
    }
    for spec in &module.signature.output_specs {
        match only_entry(spec) {
            Some(("user_output", _)) => {}
            Some((kind, _)) => writeln!(out, "  unsupported({})", quoted(kind)).unwrap_or_default(),
            None => out.push_str("  unsupported()\n"),
        }
    }
    let results: Vec<String> = module
        .graph
        .outputs
        .iter()
        .map(|o| argument(o, &name))
        .collect();
    match &results[..] {
        [one] => writeln!(out, "  return {one}").unwrap_or_default(),
        several => writeln!(out, "  return ({})", several.join(", ")).unwrap_or_default(),
    }
    Ok(out)
}

/// The names a node's output binds: one per tensor (`_` for none).
fn outputs(output: &Value, name: &dyn Fn(&str) -> String) -> Vec<String> {
    match only_entry(output) {
        Some(("as_tensor", t)) => vec![tensor(t, name)],
        Some(("as_tensors", Value::Array(ts))) => ts.iter().map(|t| tensor(t, name)).collect(),
        Some(("as_none", _)) => vec!["_".into()],
        _ => vec!["unsupported()".into()],
    }
}

fn tensor(t: &Value, name: &dyn Fn(&str) -> String) -> String {
    match t["name"].as_str() {
        Some(n) => name(n),
        None => "unsupported()".into(),
    }
}

/// An argument (`schema.Argument`, one of its fields set) as an expression.
fn argument(arg: &Value, name: &dyn Fn(&str) -> String) -> String {
    let list = |items: &Value, each: &dyn Fn(&Value) -> Option<String>| match items {
        Value::Array(items) => {
            let items: Option<Vec<String>> = items.iter().map(each).collect();
            items.map_or("unsupported()".into(), |i| format!("[{}]", i.join(", ")))
        }
        _ => "unsupported()".into(),
    };
    let int = |v: &Value| v.as_i64().map(|n| n.to_string());
    let float = |v: &Value| v.as_f64().map(|x| format!("{x:?}"));
    let boolean = |v: &Value| {
        v.as_bool()
            .map(|b| if b { "True" } else { "False" }.to_string())
    };
    let Some((kind, value)) = only_entry(arg) else {
        return "unsupported()".into();
    };
    let written = match kind {
        "as_none" => Some("None".to_string()),
        "as_tensor" => Some(tensor(value, name)),
        "as_tensors" => Some(list(value, &|t| Some(tensor(t, name)))),
        "as_optional_tensors" => Some(list(value, &|t| match only_entry(t) {
            Some(("as_tensor", t)) => Some(tensor(t, name)),
            Some(("as_none", _)) => Some("None".into()),
            _ => None,
        })),
        "as_int" => int(value),
        "as_ints" => Some(list(value, &int)),
        "as_float" => float(value),
        "as_floats" => Some(list(value, &float)),
        "as_bool" => boolean(value),
        "as_bools" => Some(list(value, &boolean)),
        "as_string" => value.as_str().map(quoted),
        "as_scalar_type" => value.as_i64().map(scalar_type),
        "as_layout" => value.as_i64().map(|l| match l {
            7 => "torch.strided".to_string(),
            l => format!("torch.layout({l})"),
        }),
        "as_memory_format" => value.as_i64().map(|m| format!("torch.memory_format({m})")),
        "as_device" => value["type"]
            .as_str()
            .map(|t| match value["index"].as_i64() {
                Some(i) => format!("torch.device({}, {i})", quoted(t)),
                None => format!("torch.device({})", quoted(t)),
            }),
        _ => None,
    };
    written.unwrap_or_else(|| format!("unsupported({})", quoted(kind)))
}

/// `torch.float32` for export-schema `ScalarType` 7, and so on.
fn scalar_type(code: i64) -> String {
    let name = match code {
        1 => "uint8",
        2 => "int8",
        3 => "int16",
        4 => "int32",
        5 => "int64",
        6 => "float16",
        7 => "float32",
        8 => "float64",
        12 => "bool",
        13 => "bfloat16",
        code => return format!("torch.dtype({code})"),
    };
    format!("torch.{name}")
}

/// The one key of a `{"kind": value}` object, and its value.
fn only_entry(v: &Value) -> Option<(&str, &Value)> {
    let map = v.as_object()?;
    let mut entries = map.iter().filter(|(_, v)| !v.is_null());
    let (k, v) = entries.next()?;
    entries.next().is_none().then_some((k.as_str(), v))
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// `s` as a string literal.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_graph_is_written_as_code() {
        let json = br#"{"graph_module": {"graph": {
            "nodes": [
                {"target": "torch.ops.aten.add.Tensor", "inputs": [
                    {"name": "self", "arg": {"as_tensor": {"name": "tensor1"}}},
                    {"name": "other", "arg": {"as_tensor": {"name": "t2"}}}],
                 "outputs": [{"as_tensor": {"name": "add"}}]},
                {"target": "torch.ops.aten._assert_tensor_metadata.default", "inputs": [
                    {"name": "a", "arg": {"as_tensor": {"name": "add"}}},
                    {"name": "dtype", "arg": {"as_scalar_type": 5}},
                    {"name": "device", "arg": {"as_device": {"type": "cpu", "index": null}}},
                    {"name": "layout", "arg": {"as_layout": 7}},
                    {"name": "x", "arg": {"as_sym_int": {"as_name": "s0"}}}],
                 "outputs": []},
                {"target": "<built-in function getitem>", "inputs": [
                    {"name": "l", "arg": {"as_ints": [1, -2]}},
                    {"name": "f", "arg": {"as_float": 0.5}},
                    {"name": "t", "arg": {"as_tensors": [{"name": "add"}, {"name": "p_w"}]}},
                    {"name": "s", "arg": {"as_string": "a\"b"}}],
                 "outputs": [{"as_tensor": {"name": "a"}}, {"as_tensor": {"name": "b"}}]}],
            "outputs": [{"as_tensor": {"name": "a"}}]},
            "signature": {"input_specs": [
                {"parameter": {"arg": {"name": "p_w"}, "parameter_name": "linear.weight"}},
                {"user_input": {"arg": {"as_tensor": {"name": "tensor1"}}}},
                {"user_input": {"arg": {"as_tensor": {"name": "t2"}}}}],
              "output_specs": [{"user_output": {"arg": {"as_tensor": {"name": "a"}}}},
                               {"buffer_mutation": {}}]}}}"#;
        let text = render(json, &["tensor1".into(), "tensor2".into()]).unwrap();
        assert_eq!(
            text,
            "def forward(self, tensor1, tensor2):\n  \
             add = torch.ops.aten.add.Tensor(self=tensor1, other=tensor2)\n  \
             torch.ops.aten._assert_tensor_metadata.default(a=add, dtype=torch.int64, \
             device=torch.device(\"cpu\"), layout=torch.strided, x=unsupported(\"as_sym_int\"))\n  \
             a, b, = unsupported(\"<built-in function getitem>\")(l=[1, -2], f=0.5, \
             t=[add, self.linear.weight], s=\"a\\\"b\")\n  \
             unsupported(\"buffer_mutation\")\n  \
             return a\n"
        );
        // It reads as code.
        super::super::code::lex(&text, false).unwrap();
    }

    #[test]
    fn large_programs_are_not_written() {
        let nodes = vec![r#"{"target": "t"}"#; MAX_NODES + 1].join(",");
        let json = format!(r#"{{"graph_module": {{"graph": {{"nodes": [{nodes}]}}}}}}"#);
        assert_eq!(
            render(json.as_bytes(), &[]).unwrap_err(),
            "the graph has 65 nodes, more than any of the seed's"
        );
    }
}
