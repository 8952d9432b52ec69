//! `scriptless bench`: the fixed benchmark table (see `scriptless::bench`), as a text table or
//! one JSON object.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use scriptless::bench::{fma_peak, kernel_threads, select, time, Prepared};
use scriptless::{parse_device, CpuTier};
use serde::Serialize;

use super::BenchArgs;

#[derive(Serialize)]
struct Report<'a> {
    device: &'a str,
    /// The CPU tier the kernels ran on.
    cpu: CpuTier,
    rows: Vec<Row>,
}

#[derive(Serialize)]
struct Row {
    name: &'static str,
    median_us: f64,
    runs: usize,
    /// Multiply-adds per call, for GFLOP/s.
    macs: u64,
}

#[derive(Serialize)]
struct PeakReport {
    cpu: CpuTier,
    peak: Vec<PeakRow>,
}

#[derive(Serialize)]
struct PeakRow {
    tier: CpuTier,
    threads: usize,
    gflops: f64,
}

pub(crate) fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let cpu = CpuTier::current()?;
    if !(args.seconds > 0.0 && args.seconds <= 600.0) {
        bail!("--seconds must be in (0, 600], got {}", args.seconds);
    }
    if args.peak {
        return peak(args, cpu);
    }
    if let (Some(weights), Some(input)) = (&args.weights, &args.input) {
        return super::bench_file::run(args, weights, input);
    }
    let device = parse_device(&args.device)?;
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
    if !args.json {
        writeln!(std::io::stdout().lock(), "cpu tier: {cpu}")?;
    }
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
            median_us: tenths(row.median_us),
            runs: row.runs,
            macs: config.macs(),
        });
    }
    if args.json {
        let report = Report {
            device: &args.device,
            cpu,
            rows,
        };
        print_json(&report)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `bench --peak`: every usable tier's f32 FMA throughput, on one thread and on the kernels'
/// thread count.
fn peak(args: &BenchArgs, cpu: CpuTier) -> anyhow::Result<ExitCode> {
    let budget = Duration::from_secs_f64(args.seconds);
    let mut threads = vec![1, kernel_threads()];
    threads.dedup();
    let mut rows = Vec::new();
    for tier in CpuTier::usable()? {
        for &threads in &threads {
            let gflops = significant(fma_peak(tier, threads, budget)?);
            if !args.json {
                writeln!(
                    std::io::stdout().lock(),
                    "{tier:<8} {threads:>2} thread(s) {gflops:>9} GFLOP/s"
                )?;
            }
            rows.push(PeakRow {
                tier,
                threads,
                gflops,
            });
        }
    }
    if args.json {
        let report = PeakReport { cpu, peak: rows };
        print_json(&report)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `value` rounded to one decimal, as the reports give it.
pub(super) fn tenths(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// `value` rounded to three significant digits, so that a slow rate (the generic tier under a
/// sanitizer: hundredths of a GFLOP/s) is still reported, not rounded to zero, and a call of
/// under a microsecond (`bench --weights`) keeps the digits a ratio needs.
pub(super) fn significant(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return value;
    }
    let scale = 10f64.powi(2 - value.log10().floor() as i32);
    (value * scale).round() / scale
}

/// `report` as one line of JSON on stdout.
fn print_json(report: &impl Serialize) -> anyhow::Result<()> {
    writeln!(
        std::io::stdout().lock(),
        "{}",
        serde_json::to_string(report)?
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::significant;

    #[test]
    fn slow_rates_keep_three_significant_digits() {
        assert_eq!(significant(0.012_345), 0.0123);
        assert_eq!(significant(123.456), 123.0);
        assert_eq!(significant(98_765.4), 98_800.0);
        assert_eq!(significant(0.0), 0.0);
    }
}
