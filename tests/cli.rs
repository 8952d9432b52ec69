//! The command-line contract. `scriptless run`: inputs and outputs in JSON and safetensors,
//! exit codes, one line on stderr for every failure, and no partial or clobbered output file.
//! `scriptless bench`: the JSON report's shape and its errors.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use candle_core::Tensor;
use common::{assert_close, fixtures, load, root};
use serde_json::Value;

fn scriptless(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scriptless"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run scriptless")
}

/// `scriptless run --weights WEIGHTS --input INPUT EXTRA...`
fn run(weights: &str, input: &str, extra: &[&str]) -> Output {
    let mut args = vec!["run", "--weights", weights, "--input", input];
    args.extend_from_slice(extra);
    scriptless(&args)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The `output` of a JSON document as a tensor, checking `shape` against the nesting.
fn json_output(text: &str) -> Tensor {
    let doc: Value = serde_json::from_str(text).expect("stdout is one JSON object");
    let shape: Vec<usize> = doc["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let mut values = Vec::new();
    fn flatten(v: &Value, out: &mut Vec<f32>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
            Value::Number(n) => out.push(n.as_f64().unwrap() as f32),
            other => panic!("unexpected {other}"),
        }
    }
    flatten(&doc["output"], &mut values);
    Tensor::from_vec(values, shape, &candle_core::Device::Cpu).unwrap()
}

fn expected(case: &str, what: &str) -> Tensor {
    load(&fixtures().join(case).join("expected.safetensors"))[what].clone()
}

/// Asserts a failure: a non-zero exit, nothing on stdout, exactly one line on stderr holding
/// every one of `parts`.
fn assert_fails(out: &Output, parts: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected failure, got success; stderr: {stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "stdout should be empty, got {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "stderr should be one line, got:\n{stderr}"
    );
    for part in parts {
        assert!(
            stderr.contains(part),
            "stderr `{}` does not mention `{part}`",
            stderr.trim_end()
        );
    }
}

#[test]
fn readme_command_runs_the_seed_sequence_example() {
    // The README's first command, on the shipped weights and example.
    let out = run(
        "weights/sequence.safetensors",
        "examples/sequence.json",
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = json_output(&String::from_utf8(out.stdout).unwrap());
    assert_close(
        "sequence example",
        &got,
        &expected("sequence_seed", "output"),
    );
}

#[test]
fn json_examples_for_every_model() {
    for (model, weights, example, case) in [
        (
            "two-input",
            "weights/two_input.safetensors",
            "examples/two_input.json",
            "two_input_seed",
        ),
        (
            "categorical",
            "weights/categorical.safetensors",
            "examples/categorical.json",
            "categorical_seed",
        ),
        (
            "sequence",
            "weights/sequence.safetensors",
            "examples/sequence.json",
            "sequence_seed",
        ),
    ] {
        let out = run(weights, example, &["--model", model]);
        assert!(
            out.status.success(),
            "{model}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_close(
            model,
            &json_output(&String::from_utf8(out.stdout).unwrap()),
            &expected(case, "output"),
        );
    }
}

#[test]
fn safetensors_in_and_out_for_every_fixture_case_kind() {
    let dir = tempfile::tempdir().unwrap();
    for case in [
        "two_input_broadcast",
        "categorical_nd",
        "sequence_3layer_bidir",
        "sequence_padding_beyond",
    ] {
        let out_file = dir.path().join(format!("{case}.safetensors"));
        let case_dir = fixtures().join(case);
        let out = run(
            path(&case_dir.join("weights.safetensors")),
            path(&case_dir.join("input.safetensors")),
            &["--output", path(&out_file)],
        );
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty());
        let written = load(&out_file);
        assert_eq!(written.len(), 1, "only `output` is written");
        assert_close(case, &written["output"], &expected(case, "output"));

        // The same run to stdout: JSON numbers read back as f32 are the very same values.
        let out = run(
            path(&case_dir.join("weights.safetensors")),
            path(&case_dir.join("input.safetensors")),
            &[],
        );
        let from_json = json_output(&String::from_utf8(out.stdout).unwrap());
        assert_eq!(
            from_json.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            written["output"]
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap(),
            "{case}: JSON output loses precision"
        );
    }
}

#[test]
fn json_output_file_and_last_valid_pooling() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("out.json");
    let case_dir = fixtures().join("sequence_bidir");
    let out = run(
        path(&case_dir.join("weights.safetensors")),
        path(&case_dir.join("input.safetensors")),
        &[
            "--model",
            "sequence",
            "--output",
            path(&out_file),
            "--pool",
            "last-valid",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert_close(
        "last-valid",
        &json_output(&text),
        &expected("sequence_bidir", "output_last_valid"),
    );
    let no_temp_left = std::fs::read_dir(dir.path()).unwrap().count() == 1;
    assert!(
        no_temp_left,
        "only out.json should be in the output directory"
    );
}

#[test]
fn dtypes_run() {
    for dtype in ["f64", "f16", "bf16"] {
        let out = run(
            "weights/sequence.safetensors",
            "examples/sequence.json",
            &["--dtype", dtype],
        );
        assert!(
            out.status.success(),
            "{dtype}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = json_output(&String::from_utf8(out.stdout).unwrap());
        // f64 is held to the f32 tolerance; half precisions to their documented ones.
        let (atol, rtol) = match dtype {
            "f64" => (common::ATOL, common::RTOL),
            "f16" => common::F16_TOLERANCE,
            _ => common::BF16_TOLERANCE,
        };
        common::compare(&got, &expected("sequence_seed", "output"), atol, rtol)
            .unwrap_or_else(|e| panic!("{dtype}: {e}"));
    }
}

#[test]
fn model_is_taken_from_metadata_or_must_agree_with_it() {
    let out = run(
        "weights/sequence.safetensors",
        "examples/sequence.json",
        &["--model", "categorical"],
    );
    assert_fails(&out, &["--model categorical", "sequence"]);
}

#[test]
fn model_required_without_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("bare.safetensors");
    let tensors = load(&root().join("weights/two_input.safetensors"));
    candle_core::safetensors::save(&tensors, &bare).unwrap();
    let out = run(path(&bare), "examples/two_input.json", &[]);
    assert_fails(&out, &["--model is required"]);
    let out = run(
        path(&bare),
        "examples/two_input.json",
        &["--model", "two-input"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_inputs_fail_with_one_line_naming_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let bad_lengths = write(
        "lengths.json",
        r#"{"sequences": [[[1,2,3,4,5,6,7,8,9,10]]], "extra": 1}"#,
    );
    let out = run("weights/sequence.safetensors", path(&bad_lengths), &[]);
    assert_fails(&out, &["extra"]);
    let malformed = write("bad.json", "{\"tensor1\": [");
    let out = run("weights/two_input.safetensors", path(&malformed), &[]);
    assert_fails(&out, &["bad.json", "malformed JSON"]);
    let category = write(
        "cat.json",
        &format!(
            r#"{{"tensor_input": [[{}]], "category_index": [7]}}"#,
            ["0.5"; 10].join(",")
        ),
    );
    let out = run("weights/categorical.safetensors", path(&category), &[]);
    assert_fails(&out, &["category_index[0]", "is 7"]);
    let out = run(
        "weights/sequence.safetensors",
        path(&dir.path().join("missing.json")),
        &[],
    );
    assert_fails(&out, &["missing.json"]);
    let out = run("examples/sequence.json", "examples/sequence.json", &[]);
    assert_fails(&out, &["weights file", "not a valid safetensors file"]);
    let out = run("weights/sequence.safetensors", "README.md", &[]);
    assert_fails(&out, &["README.md", ".json or .safetensors"]);
    let out = run(
        "weights/two_input.safetensors",
        "examples/two_input.json",
        &["--pool", "last-valid"],
    );
    assert_fails(&out, &["--pool", "sequence model only"]);
    let out = run(
        "weights/two_input.safetensors",
        "examples/two_input.json",
        &["--device", "cuda"],
    );
    if !candle_core::utils::cuda_is_available() {
        assert_fails(&out, &["CUDA"]);
    }
}

#[test]
fn usage_errors_are_one_line_and_exit_2() {
    let out = scriptless(&["run", "--weights", "weights/sequence.safetensors"]);
    assert_fails(&out, &["--input"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run("w", "i", &["--model", "lstm"]);
    assert_fails(&out, &["lstm"]);
    let out = scriptless(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("run"));
}

#[test]
fn failed_run_leaves_an_existing_output_untouched_and_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("out.json");
    std::fs::write(&out_file, "previous result\n").unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"sequences": [[[1]]]}"#).unwrap();
    let out = run(
        "weights/sequence.safetensors",
        path(&bad),
        &["--output", path(&out_file)],
    );
    assert_fails(&out, &["padded_seq", "1 features"]);
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "previous result\n"
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names.len(),
        2,
        "nothing but out.json and bad.json: {names:?}"
    );
    // A bad --output extension is refused before any work, and creates nothing.
    let other = dir.path().join("out.txt");
    let out = run(
        "weights/sequence.safetensors",
        "examples/sequence.json",
        &["--output", path(&other)],
    );
    assert_fails(&out, &["--output", ".json or .safetensors"]);
    assert!(!other.exists());
    let nowhere = dir.path().join("no/such/dir/out.json");
    let out = run(
        "weights/sequence.safetensors",
        "examples/sequence.json",
        &["--output", path(&nowhere)],
    );
    assert_fails(&out, &["--output", "does not exist"]);
}

#[test]
fn successful_run_replaces_an_existing_output() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("out.json");
    std::fs::write(&out_file, "previous result\n").unwrap();
    let out = run(
        "weights/two_input.safetensors",
        "examples/two_input.json",
        &["--output", path(&out_file)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert_close(
        "two-input",
        &json_output(&text),
        &expected("two_input_seed", "output"),
    );
}

#[test]
fn bench_json_reports_each_selected_configuration() {
    let out = scriptless(&[
        "bench",
        "--only",
        "two_input",
        "--seconds",
        "0.05",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(doc["device"], "cpu");
    let rows = doc["rows"].as_array().expect("rows");
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["two_input_b1", "two_input_b4096"]);
    for row in rows {
        assert!(row["median_us"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row["runs"].as_u64().unwrap() >= 1, "{row}");
    }
}

#[test]
fn bench_refuses_unknown_prefixes_and_bad_budgets() {
    assert_fails(
        &scriptless(&["bench", "--only", "seq_gpu"]),
        &["no benchmark configuration on cpu starts with `seq_gpu`"],
    );
    assert_fails(
        &scriptless(&["bench", "--seconds", "0"]),
        &["--seconds must be in (0, 600]"],
    );
}

#[test]
fn runs_over_a_limit_are_refused_and_leave_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("out.safetensors");
    let seed = ["weights/sequence.safetensors", "examples/sequence.json"];
    for (extra, parts) in [
        // The seed example pads to (3, 7, 10) = 210 elements; its LSTM gates are (15, 80).
        (
            ["--max-elements", "209"],
            &["sequences", "209 elements"][..],
        ),
        (["--max-elements", "1199"], &["gates", "[15, 80]"][..]),
        (
            ["--max-input-bytes", "1K"],
            &["sequence.json", "max_input_bytes"][..],
        ),
        (
            ["--max-weights-bytes", "100"],
            &["sequence.safetensors", "max_weights_bytes"][..],
        ),
    ] {
        let mut args = vec!["--output", path(&out_file)];
        args.extend_from_slice(&extra);
        let out = run(seed[0], seed[1], &args);
        assert_fails(&out, parts);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{extra:?} left files behind: {left:?}");
    }
    // At the limit the same run succeeds.
    let out = run(
        seed[0],
        seed[1],
        &["--max-elements", "1200", "--max-input-bytes", "1M"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn limit_sizes_must_be_numbers_with_an_optional_unit() {
    let out = run(
        "weights/sequence.safetensors",
        "examples/sequence.json",
        &["--max-input-bytes", "12X"],
    );
    assert_fails(&out, &["--max-input-bytes", "12X"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn weights_stored_in_half_and_double_precision_run() {
    let dir = common::fixtures().join("sequence_seed");
    let input = dir.join("input.safetensors");
    for tag in ["f16", "bf16", "f64"] {
        let weights = dir.join(format!("weights_{tag}.safetensors"));
        let out = run(path(&weights), path(&input), &[]);
        assert!(
            out.status.success(),
            "{tag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = json_output(&String::from_utf8(out.stdout).unwrap());
        // f64 weights round to the f32 fixture's weights exactly.
        let file = if tag == "f64" {
            "expected.safetensors".to_string()
        } else {
            format!("expected_{tag}.safetensors")
        };
        let expected = &common::load(&dir.join(file))["output"];
        common::compare(&got, expected, common::ATOL, common::RTOL)
            .unwrap_or_else(|e| panic!("{tag}: {e}"));
    }
}
