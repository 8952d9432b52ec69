//! `scriptless run --input requests.jsonl`: one JSON request per line, one result per line,
//! in order, run in batches (`Model::forward_many`).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};
use scriptless::{request_from_json, Limits, Model, ModelInputs, Pooling};
use serde_json::json;

use super::output::{to_json, write_atomically, OutputTarget};
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
    let file = File::open(input).with_context(|| format!("{}", input.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut lines = Lines {
        reader: BufReader::new(file),
        number: 0,
        read: 0,
        max: batching.limits.max_input_bytes,
    };
    let name = input.display().to_string();
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
    lines: &mut Lines<impl BufRead>,
    out: &mut impl Write,
    batching: &Batching,
    name: &str,
    progress: &mut Progress,
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    let kind = model.kind();
    loop {
        // A batch of lines: each decoded, or its error.
        let mut batch: Vec<(usize, Result<ModelInputs, String>)> = Vec::new();
        while batch.len() < batching.batch_size {
            let Some((number, line)) = lines.next_line()? else {
                break;
            };
            let request = line.and_then(|text| {
                request_from_json(
                    &text,
                    kind,
                    model.dtype(),
                    &format!("line {number}"),
                    &batching.limits,
                )
                .map_err(|e| e.to_string())
            });
            batch.push((number, request));
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
                Some(Ok(output)) => to_json(output).map_err(|e| e.to_string()),
                Some(Err(e)) => Err(e.to_string()),
                None => Err("no result".into()),
            });
            summary.requests += 1;
            let e = match result {
                Ok(json) => {
                    writeln!(out, "{json}")?;
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
        progress.update(summary.requests, lines.read);
    }
}

/// The lines of a batch file, each at most `max` bytes.
struct Lines<R> {
    reader: R,
    /// The last line's number, from 1.
    number: usize,
    /// Bytes read so far.
    read: u64,
    max: u64,
}

impl<R: BufRead> Lines<R> {
    /// The next line's number and text (or why it is not a request), or `None` at the end.
    fn next_line(&mut self) -> anyhow::Result<Option<(usize, Result<String, String>)>> {
        let mut bytes = Vec::new();
        let n = (&mut self.reader)
            .take(self.max.saturating_add(1))
            .read_until(b'\n', &mut bytes)?;
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        self.read += n as u64;
        if bytes.last() != Some(&b'\n') && bytes.len() as u64 > self.max {
            self.skip_rest_of_line()?;
            let e = format!(
                "longer than the limit of {} bytes (max_input_bytes)",
                self.max
            );
            return Ok(Some((self.number, Err(e))));
        }
        while matches!(bytes.last(), Some(b'\n' | b'\r')) {
            bytes.pop();
        }
        let line = match String::from_utf8(bytes) {
            Ok(s) if s.trim().is_empty() => Err("empty line".to_string()),
            Ok(s) => Ok(s),
            Err(_) => Err("not UTF-8".to_string()),
        };
        Ok(Some((self.number, line)))
    }

    /// Reads past the next newline without keeping what it reads.
    fn skip_rest_of_line(&mut self) -> anyhow::Result<()> {
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                return Ok(());
            }
            let (used, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            self.reader.consume(used);
            self.read += used as u64;
            if done {
                return Ok(());
            }
        }
    }
}
