//! `scriptless bench --weights W --input I`: one model, opened as `run` opens it, timed on one
//! request; with `--profile`, where a call's time goes, per operator.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use scriptless::bench::time_calls;
use scriptless::ops::profile;
use scriptless::CpuTier;
use serde::Serialize;

use super::run::{self, Opened};
use super::{program, BenchArgs, RunArgs};

#[derive(Serialize)]
struct Report<'a> {
    device: &'a str,
    cpu: CpuTier,
    rows: [Row; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<Profile>,
}

#[derive(Serialize)]
struct Row {
    name: String,
    median_us: f64,
    runs: usize,
    /// Not known for a model run by its own code.
    macs: Option<u64>,
}

/// Where a forward call's time goes, averaged over the profiled calls.
#[derive(Serialize)]
struct Profile {
    /// Forward calls profiled.
    calls: usize,
    /// Mean microseconds per forward call while profiling.
    total_us: f64,
    /// Per operator overload, most time first.
    ops: Vec<OpRow>,
    /// The rest of a call: the interpreter's or graph executor's own work.
    other_us: f64,
}

#[derive(Serialize)]
struct OpRow {
    op: String,
    /// Calls per forward call.
    calls: f64,
    /// Microseconds per forward call.
    us: f64,
}

pub(crate) fn run(args: &BenchArgs, weights: &Path, input: &Path) -> anyhow::Result<ExitCode> {
    let run_args = RunArgs {
        model: args.model,
        weights: weights.to_path_buf(),
        feature_width: None,
        input: input.to_path_buf(),
        output: None,
        batch_size: None,
        keep_going: false,
        device: args.device.clone(),
        dtype: args.dtype,
        pool: None,
        max_weights_bytes: None,
        max_input_bytes: None,
        max_elements: None,
        interpret: args.interpret,
        max_steps: scriptless::script::DEFAULT_MAX_STEPS,
        max_depth: scriptless::script::DEFAULT_MAX_DEPTH,
    };
    if input.extension().is_some_and(|e| e == "jsonl") {
        anyhow::bail!(
            "input file {}: bench takes one request (.json, .safetensors or .npz), not a .jsonl batch",
            input.display()
        );
    }
    let cpu = CpuTier::current()?;
    let mut call: Box<dyn FnMut() -> scriptless::Result<()>> = match run::open(&run_args)? {
        Opened::Seed {
            model,
            kind,
            pooling,
        } => {
            let inputs = run::read_seed_request(&run_args, &model, kind)?;
            Box::new(move || {
                let out = model.forward(&inputs, pooling)?;
                out.device().synchronize()?;
                Ok(())
            })
        }
        Opened::Program(program) => {
            let request = program::read_args(&run_args, &program)?;
            Box::new(move || program.forward_ref(&request).map(drop))
        }
    };
    let budget = Duration::from_secs_f64(args.seconds);
    let what = || format!("running {}", weights.display());
    let (median_us, runs) = time_calls(budget, &mut call).with_context(what)?;
    let name = weights
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let row = Row {
        name,
        median_us: super::bench::significant(median_us),
        runs,
        macs: None,
    };
    let profile = if args.profile {
        Some(profiled(&mut call, budget).with_context(what)?)
    } else {
        None
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let report = Report {
            device: &args.device,
            cpu,
            rows: [row],
            profile,
        };
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "cpu tier: {cpu}")?;
    writeln!(
        out,
        "{:<26} {:>12} us {:>8} runs",
        row.name, row.median_us, row.runs
    )?;
    if let Some(p) = profile {
        writeln!(
            out,
            "profile: {} calls, {:.1} us each while profiled",
            p.calls, p.total_us
        )?;
        for op in &p.ops {
            writeln!(
                out,
                "  {:<44} {:>7.1} calls {:>10.2} us {:>5.1}%",
                op.op,
                op.calls,
                op.us,
                100.0 * op.us / p.total_us
            )?;
        }
        writeln!(
            out,
            "  {:<44} {:>13} {:>10.2} us {:>5.1}%",
            "(interpreter or executor)",
            "",
            p.other_us,
            100.0 * p.other_us / p.total_us
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Calls `call` for `budget` (at least once) with every operator call timed.
fn profiled(
    call: &mut dyn FnMut() -> scriptless::Result<()>,
    budget: Duration,
) -> scriptless::Result<Profile> {
    profile::start();
    let start = Instant::now();
    let mut calls = 0usize;
    let result = loop {
        if let Err(e) = call() {
            break Err(e);
        }
        calls += 1;
        if start.elapsed() >= budget {
            break Ok(());
        }
    };
    let total = start.elapsed();
    let rows = profile::stop();
    result?;
    let per_call = |d: Duration| d.as_secs_f64() * 1e6 / calls as f64;
    let ops: Vec<OpRow> = rows
        .into_iter()
        .map(|r| OpRow {
            op: r.name,
            calls: r.calls as f64 / calls as f64,
            us: per_call(r.total),
        })
        .collect();
    let total_us = per_call(total);
    let other_us = total_us - ops.iter().map(|o| o.us).sum::<f64>();
    Ok(Profile {
        calls,
        total_us,
        ops,
        other_us,
    })
}
