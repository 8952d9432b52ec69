//! `scriptless inspect`: what a weights file holds, and which model it is.

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use scriptless::{ArchiveCode, ExportedProgram, ModelKind, Weights, WeightsFormat};
use serde_json::{json, Value};

use super::InspectArgs;

pub(crate) fn run(args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let default = scriptless::Limits::default();
    let limits = scriptless::Limits {
        max_weights_bytes: args.max_weights_bytes.unwrap_or(default.max_weights_bytes),
        ..default
    };
    let weights = match Weights::read_within(&args.file, &limits) {
        Ok(w) => w,
        // An archive whose buffers weights cannot hold (a BatchNorm's int64 counter) still
        // runs by its own code.
        Err(e) => match script_json(args, limits) {
            Some(script) if script.get("error").is_none() => {
                return report_script_only(args, script);
            }
            _ => return Err(e.into()),
        },
    };
    // --feature-width informs the model's config; the report shows the file's own metadata.
    let mut configured = weights.clone();
    if let Some(width) = args.feature_width {
        configured.set_metadata(scriptless::META_FEATURE_WIDTH, &width.to_string())?;
    }
    let model = describe_model(&configured, args.model.map(ModelKind::from));
    let report = json!({
        "file": args.file.display().to_string(),
        "format": weights.format().name(),
        "class": match weights.format() {
            WeightsFormat::TorchScript { class } => Value::from(class.as_str()),
            _ => Value::Null,
        },
        "program": match weights.format() {
            WeightsFormat::TorchExport { program } => program_json(program),
            _ => Value::Null,
        },
        "code": match weights.code() {
            None => Value::Null,
            Some(ArchiveCode::Seed(kind)) => json!({"seed": kind.name()}),
            Some(ArchiveCode::NotSeed { reason }) => json!({"seed": null, "reason": reason}),
        },
        "metadata": weights.metadata(),
        "tensors": weights.names().filter_map(|name| {
            let t = weights.tensor(name).ok()?;
            Some(json!({"name": name, "dtype": format!("{:?}", t.dtype()), "shape": t.dims()}))
        }).collect::<Vec<_>>(),
        "model": model,
        "script": match weights.format() {
            WeightsFormat::TorchScript { .. } | WeightsFormat::TorchExport { .. } => {
                script_json(args, limits).unwrap_or(Value::Null)
            }
            _ => Value::Null,
        },
    });
    let mut stdout = std::io::stdout().lock();
    if args.json {
        writeln!(stdout, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        write!(stdout, "{}", text(&report))?;
    }
    match report["model"]["error"].as_str() {
        Some(e) => bail!("{e}"),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// The model section: the kind (from `--model`, the file, or the tensor names), where it came
/// from, and its hyperparameters; or the kinds the tensors fit when the file does not say. An
/// archive whose code is not the seed's has no kind unless `--model` gives one, whatever its
/// tensors are named.
fn describe_model(weights: &Weights, forced: Option<ModelKind>) -> Value {
    let not_seed = matches!(weights.code(), Some(ArchiveCode::NotSeed { .. }));
    let (kind, source) = match (forced, weights.model_kind()) {
        (_, Err(e)) => return json!({"kind": null, "error": e.to_string()}),
        (Some(kind), _) if not_seed => (kind, "--model, ignoring the archive's code"),
        (Some(kind), _) => (kind, "--model"),
        // A kind comes from the metadata `model` or from the archive's code.
        (None, Ok(Some(kind))) => match weights.code() {
            Some(_) => (kind, "archive's code"),
            None => (kind, "metadata"),
        },
        (None, Ok(None)) if not_seed => return json!({"kind": null, "candidates": []}),
        (None, Ok(None)) => match candidates(weights)[..] {
            [kind] => (kind, "tensor names"),
            ref several => {
                let names: Vec<&str> = several.iter().map(|k| k.name()).collect();
                return json!({"kind": null, "candidates": names});
            }
        },
    };
    match kind.config_json(weights) {
        Ok(config) => json!({"kind": kind.name(), "source": source, "config": config}),
        Err(e) => json!({"kind": kind.name(), "source": source, "error": e.to_string()}),
    }
}

/// What a `.pt2`'s exported program says: its name, the PyTorch that exported it, `forward`'s
/// arguments with their example shapes (`null` for a dynamic dimension), and its operators.
fn program_json(program: &ExportedProgram) -> Value {
    json!({
        "name": program.name,
        "torch_version": program.torch_version,
        "inputs": program
            .inputs
            .iter()
            .map(|i| json!({"name": i.name, "shape": i.shape}))
            .collect::<Vec<_>>(),
        "outputs": program.outputs,
        "operators": program.operators,
    })
}

/// The kinds whose tensor names `weights` has: `rnn.*` only fits the sequence model; a lone
/// `linear` fits both others, which its shapes cannot tell apart.
fn candidates(weights: &Weights) -> Vec<ModelKind> {
    let names: Vec<&str> = weights.names().collect();
    if names.iter().any(|n| n.starts_with("rnn.")) {
        vec![ModelKind::Sequence]
    } else if names == ["linear.bias", "linear.weight"] {
        vec![ModelKind::TwoInput, ModelKind::Categorical]
    } else {
        Vec::new()
    }
}

/// The report for people: aligned key/value lines, then the tensors.
fn text(report: &Value) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<10} {v}\n"));
    line("file", report["file"].as_str().unwrap_or_default().into());
    let format = report["format"].as_str().unwrap_or_default();
    match report["class"].as_str() {
        Some(class) => line("format", format!("{format} (root module class {class})")),
        None => line("format", format.into()),
    }
    if let Some(program) = report["program"].as_object() {
        line("program", program_text(program));
    }
    let code = &report["code"];
    let not_seed = code.get("reason").is_some();
    if let Some(kind) = code["seed"].as_str() {
        line("code", format!("the seed's {kind} model"));
    } else if let Some(reason) = code["reason"].as_str() {
        line("code", format!("not the seed's: {reason}"));
    }
    if let Some(meta) = report["metadata"].as_object().filter(|m| !m.is_empty()) {
        let pairs: Vec<String> = meta
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect();
        line("metadata", pairs.join(", "));
    }
    let model = &report["model"];
    match (model["kind"].as_str(), model["source"].as_str()) {
        (Some(kind), Some(source)) if source.starts_with("--") => {
            line("model", format!("{kind} (from {source})"))
        }
        (Some(kind), Some(source)) => line("model", format!("{kind} (from the {source})")),
        _ => {
            let names: Vec<&str> = model["candidates"]
                .as_array()
                .map(|c| c.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let guess = match &names[..] {
                [] if not_seed => "none of the seed's: the archive runs by its own code \
                                   (--model KIND loads its tensors into the seed's KIND model \
                                   and ignores its code)"
                    .to_string(),
                [] => "none of the seed's models".to_string(),
                names => format!(
                    "{} (the file does not say; pass --model)",
                    names.join(" or ")
                ),
            };
            line("model", guess);
        }
    }
    if let Some(config) = model["config"].as_object() {
        let pairs: Vec<String> = config
            .iter()
            .filter(|(k, _)| *k != "feature_width_recorded")
            .map(|(k, v)| {
                let note = if k == "feature_width" && config["feature_width_recorded"] == false {
                    " (the seed's; not recorded in the file)"
                } else {
                    ""
                };
                format!("{k} {v}{note}")
            })
            .collect();
        line("config", pairs.join(", "));
    }
    if let Some(error) = model["error"].as_str() {
        line("error", error.into());
    }
    if report["script"].is_object() {
        out.push_str(&script_text(&report["script"]));
    }
    let tensors = report["tensors"].as_array().cloned().unwrap_or_default();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<10} {v}\n"));
    line("tensors", tensors.len().to_string());
    let width = tensors
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::len))
        .max()
        .unwrap_or(0);
    for t in &tensors {
        let name = t["name"].as_str().unwrap_or_default();
        let dtype = t["dtype"].as_str().unwrap_or_default();
        out.push_str(&format!("  {name:<width$}  {dtype:<4}  {}\n", t["shape"]));
    }
    out
}

/// One line for an exported program: `model: forward(tensor1 [1, 10], tensor2 [1, 10]) -> 1
/// output; 2 operators: aten.add.Tensor, aten.linear.default`.
fn program_text(program: &serde_json::Map<String, Value>) -> String {
    let shape = |s: &Value| match s.as_array() {
        Some(dims) => {
            let dims: Vec<String> = dims
                .iter()
                .map(|d| d.as_u64().map_or("?".to_string(), |d| d.to_string()))
                .collect();
            format!(" [{}]", dims.join(", "))
        }
        None => String::new(),
    };
    let inputs: Vec<String> = program["inputs"]
        .as_array()
        .map(|inputs| {
            inputs
                .iter()
                .map(|i| {
                    format!(
                        "{}{}",
                        i["name"].as_str().unwrap_or_default(),
                        shape(&i["shape"])
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let operators: Vec<&str> = program["operators"]
        .as_array()
        .map(|ops| {
            ops.iter()
                .filter_map(Value::as_str)
                .map(|op| op.strip_prefix("torch.ops.").unwrap_or(op))
                .collect()
        })
        .unwrap_or_default();
    let outputs = program["outputs"].as_u64().unwrap_or_default();
    format!(
        "`{}`: forward({}) -> {outputs} output{}; {} operator{}: {}",
        program["name"].as_str().unwrap_or_default(),
        inputs.join(", "),
        if outputs == 1 { "" } else { "s" },
        operators.len(),
        if operators.len() == 1 { "" } else { "s" },
        operators.join(", ")
    )
}

/// What the archive's own code says: `forward`'s signature, the module tree, every operator
/// it names with whether it is supported and reached; `None` for a file that is not a
/// TorchScript archive.
fn script_json(args: &InspectArgs, limits: scriptless::Limits) -> Option<Value> {
    use scriptless::script::{Options, Program, ProgramKind};
    let options = Options {
        limits,
        ..Options::default()
    };
    let program = match Program::inspect(&args.file, &options) {
        Ok(p) => p,
        Err(e) if e.to_string().contains("not a TorchScript archive") => return None,
        Err(e) => return Some(json!({"error": e.to_string()})),
    };
    let sig = program.signature();
    Some(json!({
        "kind": match program.kind() {
            ProgramKind::TorchScript => "torchscript",
            ProgramKind::Export => "torch.export",
        },
        "class": program.class(),
        "signature": sig.to_json(),
        "modules": program.modules().into_iter().map(|(path, class)| json!({"path": path, "class": class})).collect::<Vec<_>>(),
        "operators": program.operators().iter().map(|o| json!({
            "name": o.name, "supported": o.supported, "reached": o.reached,
        })).collect::<Vec<_>>(),
        "notice": program.notice(),
        "refusal": program.refusal(),
    }))
}

/// A declared tensor as text: `float32[s77 in 1..=8, 12]`.
fn tensor_spec_text(t: &Value) -> String {
    let dims: Vec<String> = t["dims"]
        .as_array()
        .map(|ds| {
            ds.iter()
                .map(|d| match d {
                    Value::Number(n) => n.to_string(),
                    Value::Object(o) if o.contains_key("symbol") => format!(
                        "{} in {}..{}",
                        o["symbol"].as_str().unwrap_or_default(),
                        o["min"],
                        o["max"].as_i64().map_or(String::new(), |m| format!("={m}"))
                    ),
                    other => other["expr"].as_str().unwrap_or_default().to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "{}[{}]",
        t["dtype"].as_str().unwrap_or_default(),
        dims.join(", ")
    )
}

/// The report of an archive only its own code can run.
fn report_script_only(args: &InspectArgs, script: Value) -> anyhow::Result<ExitCode> {
    let format = match script["kind"].as_str() {
        Some("torch.export") => "torch.export",
        _ => "torchscript",
    };
    let report = json!({
        "file": args.file.display().to_string(),
        "format": format,
        "script": script,
    });
    let mut stdout = std::io::stdout().lock();
    if args.json {
        writeln!(stdout, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        writeln!(stdout, "{:<10} {}", "file", args.file.display())?;
        writeln!(stdout, "{:<10} {format}", "format")?;
        write!(stdout, "{}", script_text(&report["script"]))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The script section as text: `forward(x: Tensor, k: int=...) -> Tensor`, the modules, the
/// operators with their status.
fn script_text(script: &Value) -> String {
    let mut out = String::new();
    if let Some(e) = script["error"].as_str() {
        out.push_str(&format!("{:<10} {e}\n", "script"));
        return out;
    }
    let params: Vec<String> = script["signature"]["params"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let default = match &p["baked"] {
                        Value::Null if p["default"] == true => match p.get("default_value") {
                            Some(Value::Null) => "=None".to_string(),
                            Some(v) => format!("={v}"),
                            None => "=...".to_string(),
                        },
                        Value::Null => String::new(),
                        baked => format!(" = {baked} (baked in by torch.export)"),
                    };
                    let tensors: Vec<String> = p["tensors"]
                        .as_array()
                        .map(|ts| ts.iter().map(tensor_spec_text).collect())
                        .unwrap_or_default();
                    let declared = if tensors.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", tensors.join(" "))
                    };
                    format!(
                        "{}: {}{declared}{default}",
                        p["name"].as_str().unwrap_or_default(),
                        p["type"].as_str().unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let returns = script["signature"]["returns"].as_str().unwrap_or("?");
    out.push_str(&format!(
        "{:<10} forward({}) -> {returns}\n",
        "signature",
        params.join(", ")
    ));
    let modules = script["modules"].as_array().cloned().unwrap_or_default();
    // A .pt2 graph keeps no module tree.
    if script["kind"] != "torch.export" {
        out.push_str(&format!("{:<10} {}\n", "modules", modules.len()));
    }
    for m in &modules {
        let path = m["path"].as_str().unwrap_or_default();
        let path = if path.is_empty() { "(root)" } else { path };
        out.push_str(&format!(
            "  {path}  {}\n",
            m["class"].as_str().unwrap_or_default()
        ));
    }
    let ops = script["operators"].as_array().cloned().unwrap_or_default();
    out.push_str(&format!("{:<10} {}\n", "operators", ops.len()));
    for o in &ops {
        let status = match (o["supported"] == true, o["reached"] == true) {
            (true, true) => "supported",
            (true, false) => "supported, not reached",
            (false, true) => "NOT SUPPORTED",
            (false, false) => "not supported, not reached (the constants rule it out)",
        };
        out.push_str(&format!(
            "  {}  {status}\n",
            o["name"].as_str().unwrap_or_default()
        ));
    }
    if let Some(r) = script["refusal"].as_str() {
        out.push_str(&format!("{:<10} cannot run: {r}\n", "script"));
    }
    if let Some(n) = script["notice"].as_str() {
        out.push_str(&format!("{:<10} {n}\n", "notice"));
    }
    out
}
