//! The pytree specs of a `.pt2` program (`in_spec`, `out_spec`): how `forward`'s arguments
//! flatten into the graph's inputs and how its outputs rebuild what `forward` returns. PyTorch
//! writes them as JSON strings (`torch/utils/_pytree.py`, `treespec_dumps`, protocol 1).

use serde_json::Value as Json;

/// A pytree's structure; its leaves are the graph's inputs or outputs, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tree {
    Leaf,
    None,
    Tuple(Vec<Tree>),
    List(Vec<Tree>),
    /// A dict with string keys, in insertion order.
    Dict(Vec<(String, Tree)>),
}

/// How deeply specs may nest.
const MAX_DEPTH: usize = 32;

impl Tree {
    /// Reads a spec string (`[1, {"type": ..., "context": ..., "children_spec": [...]}]`).
    pub(crate) fn parse(text: &str) -> Result<Tree, String> {
        let json: Json = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        match json.as_array().map(Vec::as_slice) {
            Some([version, node]) if version.as_i64() == Some(1) => Self::node(node, 0),
            Some([version, _]) => Err(format!(
                "pytree protocol {version}; scriptless reads protocol 1"
            )),
            _ => Err("not a [protocol, spec] pair".into()),
        }
    }

    fn node(json: &Json, depth: usize) -> Result<Tree, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH}"));
        }
        let children = || -> Result<Vec<Tree>, String> {
            json.get("children_spec")
                .and_then(Json::as_array)
                .ok_or("a node without children_spec")?
                .iter()
                .map(|c| Self::node(c, depth + 1))
                .collect()
        };
        let ty = match json.get("type") {
            None | Some(Json::Null) => return Ok(Tree::Leaf),
            Some(Json::String(s)) => s.as_str(),
            Some(other) => return Err(format!("a node of type {other}")),
        };
        Ok(match ty {
            "builtins.tuple" | "collections.namedtuple" | "torch.return_types" => {
                Tree::Tuple(children()?)
            }
            "builtins.list" => Tree::List(children()?),
            "builtins.NoneType" => Tree::None,
            "builtins.dict" | "collections.OrderedDict" => {
                let context = json
                    .get("context")
                    .and_then(Json::as_str)
                    .ok_or("a dict without its keys (context)")?;
                let keys: Vec<Json> = serde_json::from_str(context)
                    .map_err(|e| format!("a dict's keys are not a JSON list: {e}"))?;
                let children = children()?;
                if keys.len() != children.len() {
                    return Err(format!(
                        "a dict of {} keys and {} values",
                        keys.len(),
                        children.len()
                    ));
                }
                let keys = keys.into_iter().map(|k| match k {
                    Json::String(s) => s,
                    other => other.to_string(),
                });
                Tree::Dict(keys.zip(children).collect())
            }
            other => {
                return Err(format!(
                    "a value of type {other}, which scriptless does not rebuild (tuples, \
                     lists, dicts, named tuples and None are)"
                ))
            }
        })
    }

    /// How many leaves it has.
    pub(crate) fn leaves(&self) -> usize {
        match self {
            Tree::Leaf => 1,
            Tree::None => 0,
            Tree::Tuple(items) | Tree::List(items) => items.iter().map(Tree::leaves).sum(),
            Tree::Dict(items) => items.iter().map(|(_, t)| t.leaves()).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_specs_export_writes() {
        let leaf = r#"{"type": null, "context": null, "children_spec": []}"#;
        let list = format!(
            r#"{{"type": "builtins.list", "context": "null", "children_spec": [{leaf}, {leaf}]}}"#
        );
        let args = format!(
            r#"[1, {{"type": "builtins.tuple", "context": "null", "children_spec": [{{"type": "builtins.tuple", "context": "null", "children_spec": [{list}]}}, {{"type": "builtins.dict", "context": "[]", "children_spec": []}}]}}]"#
        );
        let tree = Tree::parse(&args).unwrap();
        assert_eq!(tree.leaves(), 2);
        let Tree::Tuple(parts) = &tree else {
            panic!("{tree:?}")
        };
        assert_eq!(
            parts[0],
            Tree::Tuple(vec![Tree::List(vec![Tree::Leaf, Tree::Leaf])])
        );
        let dict = format!(
            r#"[1, {{"type": "builtins.dict", "context": "[\"logits\", \"label\"]", "children_spec": [{leaf}, {leaf}]}}]"#
        );
        assert_eq!(
            Tree::parse(&dict).unwrap(),
            Tree::Dict(vec![
                ("logits".into(), Tree::Leaf),
                ("label".into(), Tree::Leaf)
            ])
        );
        let custom = r#"[1, {"type": "mymodule.Pair", "context": "null", "children_spec": []}]"#;
        assert!(Tree::parse(custom).unwrap_err().contains("mymodule.Pair"));
        assert!(Tree::parse("[2, {}]").unwrap_err().contains("protocol"));
    }
}
