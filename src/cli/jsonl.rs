//! `scriptless run --input requests.jsonl`: one JSON request per line, one result per line,
//! in order, run in batches (`Model::forward_many`).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use scriptless::{request_from_json, JsonLines, Limits, Model, ModelInputs, Pooling};
use serde_json::json;

use super::output::{write_atomically, Json, OutputTarget};
use super::progress::Progress;

/// How one batch file is run.
pub(crate) struct Batching {
    /// Requests per `forward_many` call.
    pub batch_size: usize,
    /// Write an error object for a bad line and go on, instead of stopping.
    pub keep_going: bool,
    pub pooling: Pooling,
    pub limits: Limits,
}

/// Runs every line of `input` through `model`, writing one line per request to `target`.
pub(crate) fn run(
    model: &Model,
    input: &Path,
    target: &OutputTarget,
    batching: &Batching,
) -> anyhow::Result<ExitCode> {
    let mut lines = JsonLines::open(input, &batching.limits, !batching.keep_going)?;
    let name = format!("input file {}", input.display());
    let size = lines.file_size().unwrap_or(0);
    let mut progress = Progress::new(size);
    let summary = match target {
        OutputTarget::Stdout => {
            let mut out = std::io::stdout().lock();
            run_lines(model, &mut lines, &mut out, batching, &name, &mut progress)
                .and_then(|summary| Ok(out.flush().map(|_| summary)?))
        }
        OutputTarget::Jsonl(path) => {
            // A failed run discards the file; its error is reported as it is, not as a
            // failure to write.
            let (mut summary, mut failure) = (Summary::default(), None);
            let written = write_atomically(path, |file| {
                let mut out = std::io::BufWriter::new(file);
                match run_lines(model, &mut lines, &mut out, batching, &name, &mut progress) {
                    Ok(s) => summary = s,
                    Err(e) => {
                        failure = Some(e);
                        bail!("the run failed");
                    }
                }
                Ok(out.flush()?)
            });
            match failure {
                Some(e) => Err(e),
                None => written.map(|_| summary),
            }
        }
        _ => Err(anyhow::anyhow!(
            "--output for a .jsonl input must be a .jsonl file (or omitted for stdout)"
        )),
    };
    progress.finish();
    let summary = summary?;
    if summary.failed > 0 {
        bail!(
            "{} of {} requests in {name} failed (the first on line {}); each has an error object \
             in the output",
            summary.failed,
            summary.requests,
            summary.first_failure
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What a run did.
#[derive(Default)]
struct Summary {
    requests: usize,
    failed: usize,
    first_failure: usize,
}

fn run_lines(
    model: &Model,
    lines: &mut JsonLines,
    out: &mut impl Write,
    batching: &Batching,
    name: &str,
    progress: &mut Progress,
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    let limits = &batching.limits;
    // A request decoded but left for the next batch.
    let mut carried: Option<Decoded> = None;
    loop {
        // A batch of requests, each decoded or its error: at most `batch_size`, and, unless
        // one alone is larger, at most `max_input_bytes` of text and `max_elements` of output
        // in all, so that a batch takes no more memory than one request may.
        let mut batch: Vec<(usize, Result<ModelInputs, String>)> = Vec::new();
        let (mut text_bytes, mut output_elements) = (0u64, 0usize);
        while batch.len() < batching.batch_size {
            let decoded = match carried.take() {
                Some(decoded) => decoded,
                None => match lines.next_line()? {
                    Some((number, line)) => Decoded::new(model, number, line, limits),
                    None => break,
                },
            };
            let text = text_bytes + decoded.text_bytes;
            let output = output_elements.saturating_add(decoded.output_elements);
            if !batch.is_empty() && (text > limits.max_input_bytes || output > limits.max_elements)
            {
                carried = Some(decoded);
                break;
            }
            (text_bytes, output_elements) = (text, output);
            batch.push((decoded.number, decoded.request));
        }
        if batch.is_empty() {
            return Ok(summary);
        }
        let mut valid: Vec<ModelInputs> = Vec::new();
        let slots: Vec<(usize, Result<usize, String>)> = batch
            .into_iter()
            .map(|(number, request)| {
                let slot = request.map(|r| {
                    valid.push(r);
                    valid.len() - 1
                });
                (number, slot)
            })
            .collect();
        let outputs = model.forward_many(&valid, batching.pooling);
        for (number, slot) in slots {
            let result = slot.and_then(|i| match outputs.get(i) {
                Some(Ok(output)) => Json::new(output).map_err(|e| e.to_string()),
                Some(Err(e)) => Err(e.to_string()),
                None => Err("no result".into()),
            });
            summary.requests += 1;
            let e = match result {
                Ok(json) => {
                    json.write_line(out)?;
                    continue;
                }
                Err(e) => e,
            };
            // Decoding errors name the line already; the output says it once.
            let e = e.strip_prefix(&format!("line {number}: ")).unwrap_or(&e);
            if !batching.keep_going {
                bail!("{name} line {number}: {e}");
            }
            summary.failed += 1;
            if summary.first_failure == 0 {
                summary.first_failure = number;
            }
            writeln!(out, "{}", json!({"error": e, "line": number}))?;
        }
        progress.update(summary.requests, lines.bytes_read());
    }
}

/// One line of a batch file, decoded, with what it weighs in a batch.
struct Decoded {
    number: usize,
    request: Result<ModelInputs, String>,
    /// The line's length.
    text_bytes: u64,
    /// The elements of its output, if it has one.
    output_elements: usize,
}

impl Decoded {
    fn new(model: &Model, number: usize, line: Result<String, String>, limits: &Limits) -> Self {
        let text_bytes = line.as_ref().map_or(0, |text| text.len() as u64);
        let request = line.and_then(|text| {
            let what = format!("line {number}");
            request_from_json(&text, model.kind(), model.dtype(), &what, limits)
                .map_err(|e| e.to_string())
        });
        let output_elements = request
            .as_ref()
            .ok()
            .and_then(|r| model.output_shape(r))
            .map_or(0, |shape| {
                let elements = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
                elements.unwrap_or(usize::MAX)
            });
        Self {
            number,
            request,
            text_bytes,
            output_elements,
        }
    }
}
