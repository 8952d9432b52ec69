//! `scriptless run` for a model that runs by its own code (a TorchScript or `torch.export`
//! archive whose code is not one of the seed's, or any archive with `--interpret`): a request
//! typed by `forward`'s signature, the output mirroring what it returns.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::{bail, Context};
use scriptless::script::{self, Options, Program, Value};

use super::output::{write_atomically, OutputTarget};
use super::RunArgs;

/// How `run`'s flags load a program.
pub(crate) fn options(args: &RunArgs) -> anyhow::Result<Options> {
    Ok(Options {
        device: scriptless::parse_device(&args.device)?,
        dtype: args.dtype.map(Into::into),
        limits: args.limits(),
        max_steps: args.max_steps,
        max_depth: args.max_depth,
    })
}

/// Loads the archive as a program.
pub(crate) fn load(args: &RunArgs) -> anyhow::Result<Program> {
    let program = Program::load_with(&args.weights, &options(args)?)?;
    announce(args, &program);
    Ok(program)
}

/// Prints the program's notice, if it has one.
pub(crate) fn announce(args: &RunArgs, program: &Program) {
    if let Some(notice) = program.notice() {
        eprintln!("scriptless: {}: {notice}", args.weights.display());
    }
}

/// Runs the program on the request file, writing the output.
pub(crate) fn run(args: &RunArgs, program: &Program) -> anyhow::Result<ExitCode> {
    if args.feature_width.is_some() || args.pool.is_some() {
        bail!("--feature-width and --pool apply to the seed's models only, not to a model run by its own code");
    }
    let target = OutputTarget::from_arg(args.output.as_deref())?;
    if args.input.extension().is_some_and(|e| e == "jsonl") {
        return run_lines(args, program, &target);
    }
    if args.keep_going || args.batch_size.is_some() {
        bail!("--keep-going and --batch-size apply to a .jsonl input only");
    }
    let request = read_args(args, program)?;
    let output = program.forward(request)?;
    write(&output, &target)?;
    Ok(ExitCode::SUCCESS)
}

/// The request file `--input` (not a `.jsonl` file), typed by `forward`'s signature.
pub(crate) fn read_args(args: &RunArgs, program: &Program) -> anyhow::Result<Vec<(String, Value)>> {
    let limits = args.limits();
    let input = &args.input;
    let ext = input.extension().and_then(|e| e.to_str()).unwrap_or("");
    let what = format!("input file {}", input.display());
    let bytes = read_limited(input, &what, limits.max_input_bytes)?;
    let request = match ext {
        "json" => {
            let text = std::str::from_utf8(&bytes).with_context(|| format!("{what}: not UTF-8"))?;
            // The file is named where its JSON is at fault; a mistake in an argument is
            // named by the argument, in the words every door uses.
            script::args_from_json(program.signature(), text, &limits).map_err(|e| match e {
                scriptless::Error::Format { .. } => anyhow::Error::new(e).context(what.clone()),
                e => e.into(),
            })?
        }
        "safetensors" => {
            let tensors = script::tensors_from_safetensors(&bytes, &what)?;
            script::args_from_tensors(program.signature(), tensors)?
        }
        "npz" => {
            let tensors = scriptless::tensors_from_npz(&bytes, &what, &limits)?
                .into_iter()
                .map(|(name, t)| Ok((name, scriptless::ops::Tensor::new(t)?)))
                .collect::<scriptless::Result<Vec<_>>>()?;
            script::args_from_tensors(program.signature(), tensors)?
        }
        _ => bail!(
            "{what}: expected a .json, .safetensors, .npz or .jsonl file for a model run by its own \
             code"
        ),
    };
    Ok(request)
}

/// Reads a file of at most `max` bytes.
fn read_limited(path: &std::path::Path, what: &str, max: u64) -> anyhow::Result<Vec<u8>> {
    let meta = std::fs::metadata(path).with_context(|| what.to_string())?;
    if meta.is_dir() {
        bail!("{what}: is a directory");
    }
    if meta.len() > max {
        bail!(
            "{what}: is {} bytes, over the limit of {max} bytes (max_input_bytes)",
            meta.len()
        );
    }
    std::fs::read(path).with_context(|| what.to_string())
}

/// Writes the output where `target` says.
fn write(output: &Value, target: &OutputTarget) -> anyhow::Result<()> {
    match target {
        OutputTarget::Stdout => {
            let line = script::output_json(output)?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{line}")?;
            out.flush()?;
        }
        OutputTarget::Json(path) => {
            let line = script::output_json(output)?;
            write_atomically(path, |f| {
                writeln!(f, "{line}")?;
                Ok(())
            })?;
        }
        OutputTarget::Safetensors(path) => {
            let bytes = script::output_safetensors(output)?;
            write_atomically(path, |f| Ok(f.write_all(&bytes)?))?;
        }
        OutputTarget::Npy(path) => {
            let Value::Tensor(t) = output else {
                bail!(
                    "--output {}: .npy holds one tensor, and forward returned a {}; write .safetensors or .json",
                    path.display(),
                    output.type_name()
                );
            };
            let bytes = scriptless::npy_bytes(t.inner())?;
            write_atomically(path, |f| Ok(f.write_all(&bytes)?))?;
        }
        OutputTarget::Npz(path) => {
            let bytes = script::output_npz(output)?;
            write_atomically(path, |f| Ok(f.write_all(&bytes)?))?;
        }
        OutputTarget::Jsonl(path) => bail!(
            "--output {}: a .jsonl output is for a .jsonl input",
            path.display()
        ),
    }
    Ok(())
}

/// A `.jsonl` input: one request per line, one call each, one output line each.
fn run_lines(args: &RunArgs, program: &Program, target: &OutputTarget) -> anyhow::Result<ExitCode> {
    let limits = args.limits();
    let what = format!("input file {}", args.input.display());
    let file = std::fs::File::open(&args.input).with_context(|| what.clone())?;
    let mut lines_out = Vec::new();
    let mut failed = false;
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| what.clone())?;
        if line.trim().is_empty() {
            continue;
        }
        if line.len() as u64 > limits.max_input_bytes {
            bail!(
                "{what}: line {} is over the limit of {} bytes (max_input_bytes)",
                i + 1,
                limits.max_input_bytes
            );
        }
        let result = script::args_from_json(program.signature(), &line, &limits)
            .and_then(|request| program.forward(request))
            .and_then(|output| script::output_json(&output));
        match result {
            Ok(json) => lines_out.push(json),
            Err(e) if args.keep_going => {
                failed = true;
                lines_out
                    .push(serde_json::json!({"error": e.to_string(), "line": i + 1}).to_string());
            }
            Err(e) => bail!("{what}: line {}: {e}", i + 1),
        }
    }
    let text: String = lines_out.iter().map(|l| format!("{l}\n")).collect();
    match target {
        OutputTarget::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
        OutputTarget::Jsonl(path) | OutputTarget::Json(path) => {
            write_atomically(path, |f| Ok(f.write_all(text.as_bytes())?))?;
        }
        _ => bail!("a .jsonl input writes .jsonl output (or stdout)"),
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
