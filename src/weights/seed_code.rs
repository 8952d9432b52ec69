//! Whether the code inside an archive is one of the seed's models ([`ArchiveCode`]): a
//! TorchScript archive's `forward` and everything it reaches, or a `.pt2`'s graph, compared with
//! the seed's as torch 2.15.0 writes them (`seed_code/torchscript.txt`, `seed_code/graphs.txt`).
//! The literals that depend on the model's sizes (an LSTM's layers, the one-hot width) are
//! checked against the archive's tensors; the one-hot width gives the categorical model's
//! feature width, which a file's shapes alone cannot.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use super::{LstmConfig, Weights};
use crate::kind::ModelKind;
use crate::pytorch::code::{compare, lex, Bindings, File, ScriptCode, Token, Unit};
use crate::pytorch::export::ExportedProgram;

/// What the code inside a TorchScript (`.pt`) or `torch.export` (`.pt2`) archive is. scriptless
/// runs an archive without being told the model only when its code is one of the seed's;
/// `--model` (or an explicit [`ModelKind`]) loads the archive's tensors into the seed's model
/// and ignores its code. Files without code (safetensors, `torch.save` state_dicts) have none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveCode {
    /// The seed model's own code: for a `.pt`, its `forward` and every function and method that
    /// reaches, line by line as torch 2.15.0 prints them, up to the names of local variables
    /// and the literals that follow from the tensors' shapes; for a `.pt2`, its graph, node by
    /// node.
    Seed(ModelKind),
    /// Code that is not one of the seed's models: `reason` names the weights file, and the
    /// code file and line (or the graph's node) where it first departs from the seed's, or why
    /// it cannot be compared.
    NotSeed {
        /// Where the code departs from the seed's.
        reason: String,
    },
}

/// What the code says about the model beyond its kind.
pub(crate) struct Recognised {
    pub code: ArchiveCode,
    /// The categorical model's feature width: `linear.in_features` less the one-hot width.
    pub feature_width: Option<usize>,
}

impl Recognised {
    fn not_seed(reason: String) -> Self {
        Self {
            code: ArchiveCode::NotSeed { reason },
            feature_width: None,
        }
    }
}

/// The templates of `text`, by section name.
fn templates(text: &str) -> Result<HashMap<String, Unit>, String> {
    let mut out = HashMap::new();
    for section in text.split("\n#### ").skip(1) {
        let (key, body) = section.split_once('\n').unwrap_or((section, ""));
        let lines = lex(body, true).map_err(|e| format!("template {key}: {e}"))?;
        let file = File::parse(lines);
        let unit = match (file.functions.first(), file.classes.first()) {
            (Some(f), _) => f.clone(),
            (None, Some(c)) => c.declaration(),
            (None, None) => return Err(format!("template {key} is empty")),
        };
        out.insert(key.trim().to_string(), unit);
    }
    Ok(out)
}

fn script_templates() -> &'static Result<HashMap<String, Unit>, String> {
    static TEMPLATES: OnceLock<Result<HashMap<String, Unit>, String>> = OnceLock::new();
    TEMPLATES.get_or_init(|| templates(include_str!("seed_code/torchscript.txt")))
}

fn graph_templates() -> &'static Result<HashMap<String, Unit>, String> {
    static TEMPLATES: OnceLock<Result<HashMap<String, Unit>, String>> = OnceLock::new();
    TEMPLATES.get_or_init(|| templates(include_str!("seed_code/graphs.txt")))
}

/// The seed model whose `forward` takes `arguments`.
fn kind_taking(arguments: &[String]) -> Option<ModelKind> {
    ModelKind::ALL
        .into_iter()
        .find(|k| k.input_names()[..] == arguments[..])
}

/// `(a, b)`.
fn signature(arguments: &[String]) -> String {
    format!("({})", arguments.join(", "))
}

/// The seed models' arguments, for messages.
fn seed_signatures() -> String {
    let all: Vec<String> = ModelKind::ALL
        .iter()
        .map(|k| {
            format!(
                "{} {}",
                k.name(),
                signature(&k.input_names().map(String::from))
            )
        })
        .collect();
    all.join(", ")
}

/// What the code of a TorchScript archive is, its tensors `weights`.
pub(crate) fn script(code: &ScriptCode, weights: &Weights) -> Recognised {
    let templates = match script_templates() {
        Ok(t) => t,
        Err(e) => return Recognised::not_seed(format!("scriptless's own {e}")),
    };
    let root = match code.root() {
        Ok(root) => root,
        Err(e) => return Recognised::not_seed(e),
    };
    let arguments = root.arguments();
    let Some(kind) = kind_taking(&arguments) else {
        return Recognised::not_seed(format!(
            "{} takes {}, which are not the arguments of one of the seed's models ({})",
            root.place(),
            signature(&arguments),
            seed_signatures()
        ));
    };
    let Some(template) = templates.get(kind.name()) else {
        return Recognised::not_seed(format!("scriptless has no template for {kind}"));
    };
    let rnn_training = code.training.get("rnn").copied();
    match root
        .check(template, templates, kind.seed_class())
        .and_then(|bindings| verify(kind, &bindings, weights, rnn_training))
    {
        Ok(feature_width) => Recognised {
            code: ArchiveCode::Seed(kind),
            feature_width,
        },
        Err(reason) => Recognised::not_seed(reason),
    }
}

/// What the graph of a `.pt2`'s program is, its tensors `weights`.
pub(crate) fn graph(program: &ExportedProgram, weights: &Weights) -> Recognised {
    let file = format!("models/{}.json", program.name);
    let arguments: Vec<String> = program.inputs.iter().map(|i| i.name.clone()).collect();
    let Some(kind) = kind_taking(&arguments) else {
        return Recognised::not_seed(format!(
            "{file}: its forward takes {}, which are not the arguments of one of the seed's \
             models ({})",
            signature(&arguments),
            seed_signatures()
        ));
    };
    let graph = match program.graph() {
        Ok(graph) => graph,
        Err(e) => return Recognised::not_seed(format!("{file}: {e}")),
    };
    let unit = match lex(graph, false) {
        Ok(lines) => File::parse(lines).functions.into_iter().next(),
        Err(e) => return Recognised::not_seed(format!("{file}: the graph as code: {e}")),
    };
    let Some(unit) = unit else {
        return Recognised::not_seed(format!("{file}: the graph is empty"));
    };
    if kind == ModelKind::Sequence {
        return Recognised::not_seed(no_sequence_graph(&file, program, &unit, &arguments));
    }
    let templates = match graph_templates() {
        Ok(t) => t,
        Err(e) => return Recognised::not_seed(format!("scriptless's own {e}")),
    };
    let Some(template) = templates.get(kind.name()) else {
        return Recognised::not_seed(format!("scriptless has no graph template for {kind}"));
    };
    let checked = compare(&unit, template, None)
        .map_err(|m| {
            // The graph's text has the header on line 1, node i on line i + 1, then the return.
            let at = |line: usize, text: &str| match text.strip_prefix("return ") {
                Some(result) => format!("it returns `{result}`"),
                None => format!("node {} is `{text}`", line.saturating_sub(1)),
            };
            let seed = kind.seed_class();
            match (m.actual, m.expected) {
                (Some((line, got)), Some(want)) => format!(
                    "{file}: the graph is not the seed's {seed}: {}, where the seed's is `{want}`",
                    at(line, &got)
                ),
                (Some((line, got)), None) => format!(
                    "{file}: the graph is not the seed's {seed}: {}, past the end of the seed's",
                    at(line, &got)
                ),
                (None, want) => format!(
                    "{file}: the graph is not the seed's {seed}: it ends where the seed's goes \
                     on with `{}`",
                    want.unwrap_or_default()
                ),
            }
        })
        .and_then(|bindings| verify(kind, &bindings, weights, None));
    match checked {
        Ok(feature_width) => Recognised {
            code: ArchiveCode::Seed(kind),
            feature_width,
        },
        Err(reason) => Recognised::not_seed(reason),
    }
}

/// Why a `.pt2` taking the sequence model's arguments is not it: no graph can be, as
/// `torch.export` cannot trace the packing; what this one calls, and the arguments it never
/// reads (a variant over the padding ignores `seq_lengths`).
fn no_sequence_graph(
    file: &str,
    program: &ExportedProgram,
    unit: &Unit,
    arguments: &[String],
) -> String {
    let unused: Vec<&str> = arguments
        .iter()
        .filter(|a| {
            !unit
                .lines
                .iter()
                .skip(1)
                .any(|l| l.tokens.iter().any(|t| t.ident() == Some(a.as_str())))
        })
        .map(String::as_str)
        .collect();
    let ignored = match &unused[..] {
        [] => String::new(),
        [one] => format!("; this graph never reads `{one}`"),
        several => format!("; this graph never reads `{}`", several.join("`, `")),
    };
    let operators: Vec<&str> = program
        .operators
        .iter()
        .map(|op| op.strip_prefix("torch.ops.").unwrap_or(op))
        .collect();
    format!(
        "{file}: no torch.export graph is the seed's sequence model, which packs its \
         sequences (pack_padded_sequence), and torch.export cannot trace that; this one \
         calls {}{ignored}",
        operators.join(", ")
    )
}

/// Checks the literals the seed's code was found with against the tensors; the categorical
/// model's feature width. When the tensors do not make the model's Linear (or LSTM) at all,
/// nothing is checked: loading the model reports what is wrong with them.
fn verify(
    kind: ModelKind,
    bindings: &Bindings,
    weights: &Weights,
    rnn_training: Option<bool>,
) -> Result<Option<usize>, String> {
    let int = |name: &str| match bindings.get(name) {
        Some(Token::Int(n)) => Ok(*n),
        other => Err(format!(
            "the code's {name} is {}, not an integer",
            other.map_or("missing".into(), ToString::to_string)
        )),
    };
    let boolean = |name: &str| match bindings.get(name) {
        Some(Token::Bool(b)) => Ok(*b),
        other => Err(format!(
            "the code's {name} is {}, not True or False",
            other.map_or("missing".into(), ToString::to_string)
        )),
    };
    match kind {
        ModelKind::TwoInput => Ok(None),
        ModelKind::Categorical => {
            let classes = int("num_classes")?;
            let Ok(&[_, in_features]) = weights.shape("linear.weight") else {
                return Ok(None);
            };
            match usize::try_from(classes) {
                Ok(c) if c >= 1 && in_features > c => Ok(Some(in_features - c)),
                _ => Err(format!(
                    "the code's one_hot makes {classes} columns, which leaves no room for \
                     features in the {in_features} inputs of `linear.weight`: PyTorch fails on \
                     every call"
                )),
            }
        }
        ModelKind::Sequence => {
            let Ok(l) = LstmConfig::from_weights(weights, "rnn") else {
                return Ok(None);
            };
            let directions = if l.bidirectional { 2 } else { 1 };
            let h_size = if l.proj_size > 0 {
                l.proj_size
            } else {
                l.hidden_size
            };
            let found: BTreeMap<&str, (String, String)> = [
                (
                    "num_layers",
                    int("num_layers")?.to_string(),
                    l.num_layers.to_string(),
                ),
                (
                    "bidirectional",
                    boolean("bidirectional")?.to_string(),
                    l.bidirectional.to_string(),
                ),
                ("bias", boolean("bias")?.to_string(), l.bias.to_string()),
                (
                    "hidden_size",
                    int("hidden_size")?.to_string(),
                    l.hidden_size.to_string(),
                ),
                ("h_size", int("h_size")?.to_string(), h_size.to_string()),
                (
                    "layers_dirs",
                    int("layers_dirs")?.to_string(),
                    (l.num_layers * directions).to_string(),
                ),
            ]
            .into_iter()
            .map(|(k, code, tensors)| (k, (code, tensors)))
            .collect();
            if let Some((name, (code, tensors))) = found.iter().find(|(_, (c, t))| c != t) {
                return Err(format!(
                    "the code's LSTM has {name} {code}, but its tensors make {tensors}"
                ));
            }
            let dropout = match bindings.get("dropout") {
                Some(Token::Float(x)) => *x,
                Some(Token::Int(n)) => *n as f64,
                _ => return Err("the code's LSTM dropout is not a number".into()),
            };
            if dropout != 0.0 && l.num_layers > 1 && rnn_training != Some(false) {
                return Err(format!(
                    "the LSTM `rnn` was saved in training mode with dropout {dropout} between \
                     its layers, which PyTorch applies at random on every call: call \
                     model.eval() before saving it"
                ));
            }
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_parse() {
        let script = script_templates().as_ref().unwrap();
        for kind in ModelKind::ALL {
            assert!(script.contains_key(kind.name()), "{kind}");
        }
        assert_eq!(script.len(), 14);
        let graphs = graph_templates().as_ref().unwrap();
        assert_eq!(graphs.len(), 2);
    }

    #[test]
    fn a_dropout_between_layers_counts_in_training_mode_only() {
        // Two layers of 12 units, one direction, with biases.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/sequence_2layer/weights.safetensors"
        );
        let weights = Weights::read(path).unwrap();
        let bindings = |dropout: f64| -> Bindings {
            [
                ("num_layers", Token::Int(2)),
                ("bidirectional", Token::Bool(false)),
                ("bias", Token::Bool(true)),
                ("hidden_size", Token::Int(12)),
                ("h_size", Token::Int(12)),
                ("layers_dirs", Token::Int(2)),
                ("dropout", Token::Float(dropout)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
        };
        let check =
            |dropout, training| verify(ModelKind::Sequence, &bindings(dropout), &weights, training);
        assert_eq!(check(0.5, Some(false)), Ok(None));
        assert_eq!(check(0.0, Some(true)), Ok(None));
        let e = check(0.5, Some(true)).unwrap_err();
        assert!(e.contains("saved in training mode with dropout 0.5"), "{e}");
        // Sizes the tensors do not have.
        let mut wrong = bindings(0.0);
        wrong.insert("hidden_size".into(), Token::Int(13));
        let e = verify(ModelKind::Sequence, &wrong, &weights, Some(false)).unwrap_err();
        assert_eq!(
            e,
            "the code's LSTM has hidden_size 13, but its tensors make 12"
        );
    }
}
