//! `scriptless bench`: the fixed benchmark table (see `scriptless::bench`), as a text table or
//! one JSON object.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use scriptless::bench::{select, time, Prepared};
use scriptless::parse_device;
use serde::Serialize;

use super::BenchArgs;

#[derive(Serialize)]
struct Report<'a> {
    device: &'a str,
    rows: Vec<Row>,
}

#[derive(Serialize)]
struct Row {
    name: &'static str,
    median_us: f64,
    runs: usize,
}

pub(crate) fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let device = parse_device(&args.device)?;
    if !(args.seconds > 0.0 && args.seconds <= 600.0) {
        bail!("--seconds must be in (0, 600], got {}", args.seconds);
    }
    let configs = select(&device, args.only.as_deref());
    if configs.is_empty() {
        bail!(
            "no benchmark configuration on {} starts with `{}`",
            args.device,
            args.only.as_deref().unwrap_or("")
        );
    }
    let budget = Duration::from_secs_f64(args.seconds);
    let kernel = args.kernel.map(Into::into);
    let mut rows = Vec::new();
    for config in &configs {
        let prepared = Prepared::new(config, &device, kernel)
            .with_context(|| format!("preparing {}", config.name))?;
        let row = time(config.name, &prepared, budget)
            .with_context(|| format!("running {}", config.name))?;
        if !args.json {
            writeln!(
                std::io::stdout().lock(),
                "{:<26} {:>12.1} us {:>8} runs",
                row.name,
                row.median_us,
                row.runs
            )?;
        }
        rows.push(Row {
            name: row.name,
            median_us: (row.median_us * 10.0).round() / 10.0,
            runs: row.runs,
        });
    }
    if args.json {
        let report = Report {
            device: &args.device,
            rows,
        };
        writeln!(
            std::io::stdout().lock(),
            "{}",
            serde_json::to_string(&report)?
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
