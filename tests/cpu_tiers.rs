//! The CPU tier on the command line: `SCRIPTLESS_CPU` picks any tier this machine has and
//! `bench` says which one ran; an unknown or impossible value is one clear line and a failed
//! run, never a silent fallback; and every tier gives the seed's outputs within PyTorch's
//! tolerance. (The library's kernels run on every tier in the parity and property tests.)

mod common;

use std::process::Output;

use common::{root, ATOL, RTOL};
use scriptless::CpuTier;
use serde_json::Value;

/// `scriptless ARGS...` with `SCRIPTLESS_CPU` set to `tier`.
fn scriptless(tier: &str, args: &[&str]) -> Output {
    common::command::scriptless()
        .args(args)
        .env("SCRIPTLESS_CPU", tier)
        .current_dir(root())
        .output()
        .expect("run scriptless")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bench_reports_the_tier_it_ran_on() {
    for tier in CpuTier::usable().unwrap() {
        let out = scriptless(
            tier.name(),
            &["bench", "--json", "--only", "seq_seed", "--seconds", "0.01"],
        );
        assert!(out.status.success(), "{tier}: {}", stderr(&out));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["cpu"], tier.name());
        assert_eq!(
            report["rows"][0]["macs"], 36_600,
            "{tier}: the seed's multiply-adds"
        );

        let text = scriptless(
            tier.name(),
            &["bench", "--only", "two_input_b1", "--seconds", "0.01"],
        );
        let first = String::from_utf8_lossy(&text.stdout)
            .lines()
            .next()
            .map(String::from);
        assert_eq!(first, Some(format!("cpu tier: {tier}")));
    }
    // Unset or empty: the best tier the CPU has.
    let out = scriptless(
        "",
        &["bench", "--json", "--only", "seq_seed", "--seconds", "0.01"],
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["cpu"], CpuTier::detected().name());
}

#[test]
fn bench_peak_measures_every_usable_tier() {
    let out = scriptless("", &["bench", "--peak", "--json", "--seconds", "0.001"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["peak"].as_array().unwrap();
    for tier in CpuTier::usable().unwrap() {
        let one = rows
            .iter()
            .find(|r| r["tier"] == tier.name() && r["threads"] == 1)
            .unwrap_or_else(|| panic!("no single-thread row for {tier}"));
        assert!(one["gflops"].as_f64().unwrap() > 0.0, "{tier}");
    }
}

#[test]
fn an_unknown_or_impossible_tier_is_one_line_naming_the_variable() {
    let impossible = CpuTier::ALL
        .into_iter()
        .find(|t| !t.is_supported())
        .expect("no CPU has both avx2 and neon");
    for (value, says) in [
        (
            "sse4",
            "SCRIPTLESS_CPU=sse4: unknown CPU tier `sse4`; expected avx512, avx2, neon or generic",
        ),
        (impossible.name(), "CPU tier needs"),
    ] {
        for args in [
            &["bench", "--only", "seq_seed", "--seconds", "0.01"][..],
            &[
                "run",
                "--weights",
                "weights/sequence.safetensors",
                "--input",
                "examples/sequence.json",
            ],
        ] {
            let out = scriptless(value, args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{value} {args:?}: {err}");
            assert!(out.stdout.is_empty(), "{value} {args:?}: wrote output");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(
                err.contains(&format!("SCRIPTLESS_CPU={value}")) && err.contains(says),
                "{err}"
            );
        }
    }
}

#[test]
fn every_tier_gives_the_seed_outputs() {
    let run = |tier: &str, weights: &str, input: &str| -> Vec<f64> {
        let out = scriptless(tier, &["run", "--weights", weights, "--input", input]);
        assert!(out.status.success(), "{tier} {weights}: {}", stderr(&out));
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut values = Vec::new();
        for row in doc["output"].as_array().unwrap() {
            values.extend(row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()));
        }
        values
    };
    for (weights, input) in [
        ("weights/two_input.safetensors", "examples/two_input.json"),
        (
            "weights/categorical.safetensors",
            "examples/categorical.json",
        ),
        ("weights/sequence.safetensors", "examples/sequence.json"),
    ] {
        let generic = run("generic", weights, input);
        for tier in CpuTier::usable().unwrap() {
            let got = run(tier.name(), weights, input);
            assert_eq!(got.len(), generic.len());
            for (a, b) in got.iter().zip(&generic) {
                assert!(
                    (a - b).abs() <= ATOL + RTOL * b.abs(),
                    "{tier} {weights}: {a} vs {b}"
                );
            }
        }
    }
}
