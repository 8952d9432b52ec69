//! The command-line contract. `scriptless run`: weights in safetensors, torch.save, TorchScript
//! and torch.export files; inputs and outputs in JSON and safetensors, and `.jsonl` batch files;
//! exit codes, one line on stderr for every failure, and no partial or clobbered output file.
//! `scriptless inspect`: what a weights file holds. `scriptless bench`: the JSON report's
//! shape and its errors.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use candle_core::Tensor;
use common::command::run as scriptless;
use common::{assert_close, fixtures, load, root};
use serde_json::Value;

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
fn the_seed_sequence_example_runs() {
    // The seed's sequence model on the shipped weights and example, as the guide's first runs.
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
    assert_fails(&out, &["README.md", ".json, .safetensors, .npz or .jsonl"]);
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
    assert_fails(
        &out,
        &["--output", ".json, .safetensors, .npy, .npz or .jsonl"],
    );
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
fn bench_times_one_file_on_one_request_with_a_profile() {
    // A user's model by both routes, and the seed's archive (dedicated, and interpreted).
    for (weights, input, extra) in [
        ("examples/attention.pt", "examples/attention.json", &[][..]),
        ("examples/attention.pt2", "examples/attention.json", &[][..]),
        ("weights/two_input.pt", "examples/two_input.json", &[][..]),
        (
            "weights/two_input.pt",
            "examples/two_input.json",
            &["--interpret"][..],
        ),
    ] {
        let mut args = vec![
            "bench",
            "--weights",
            weights,
            "--input",
            input,
            "--seconds",
            "0.05",
            "--json",
            "--profile",
        ];
        args.extend(extra);
        let out = scriptless(&args);
        assert!(
            out.status.success(),
            "{weights} {extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        let row = &doc["rows"][0];
        assert_eq!(
            row["name"],
            Path::new(weights).file_stem().unwrap().to_str().unwrap()
        );
        assert!(row["median_us"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row["macs"].is_null(), "{row}");
        let profile = &doc["profile"];
        assert!(profile["calls"].as_u64().unwrap() >= 1, "{profile}");
        let ops = profile["ops"].as_array().unwrap();
        // The dedicated model calls no operator of the library; the others do.
        let dedicated = weights.starts_with("weights/") && extra.is_empty();
        assert_eq!(ops.is_empty(), dedicated, "{weights} {extra:?}: {profile}");
        if !dedicated {
            let names: Vec<&str> = ops.iter().map(|o| o["op"].as_str().unwrap()).collect();
            // A replay of the seed's two-input code runs `linear(a + b)` fused, a row of its
            // own.
            assert!(
                names.iter().any(|n| n.contains("aten::linear")),
                "{names:?}"
            );
        }
    }
}

#[test]
fn bench_of_a_file_refuses_what_it_cannot_time() {
    assert_fails(
        &scriptless(&["bench", "--weights", "weights/two_input.pt"]),
        &["--input"],
    );
    assert_fails(
        &scriptless(&[
            "bench",
            "--weights",
            "weights/two_input.pt",
            "--input",
            "examples/requests.jsonl",
        ]),
        &["bench takes one request"],
    );
    assert_fails(
        &scriptless(&[
            "bench",
            "--weights",
            "examples/attention.pt",
            "--input",
            "examples/two_input.json",
        ]),
        // Another model's request: its first argument is named, in every door's words.
        &["input `tensor1`", "forward takes no such argument"],
    );
}

#[test]
fn a_closed_stdout_is_an_error_line_not_a_panic() {
    // `scriptless bench | head -0`: the reader is gone before the first row is printed.
    let mut child = common::command::scriptless()
        .args(["bench", "--only", "seq_small", "--seconds", "0.2"])
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("Broken pipe"), "{stderr}");
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
        // Each message names the flag that raises the limit.
        (
            ["--max-elements", "209"],
            &["sequences", "209 elements (--max-elements)"][..],
        ),
        (
            ["--max-elements", "1199"],
            &["gates", "[15, 80]", "(--max-elements)"][..],
        ),
        (
            ["--max-input-bytes", "1K"],
            &["input file examples/sequence.json", "(--max-input-bytes)"][..],
        ),
        (
            ["--max-weights-bytes", "100"],
            &[
                "weights file weights/sequence.safetensors",
                "(--max-weights-bytes)",
            ][..],
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

fn succeeded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn torch_save_and_torchscript_weights_run() {
    // The seed's TorchScript class names the model; a state_dict file cannot.
    let out = run("weights/sequence.pt", "examples/sequence.json", &[]);
    let got = json_output(&succeeded(&out));
    assert_close("sequence.pt", &got, &expected("sequence_seed", "output"));
    let out = run("weights/sequence.pth", "examples/sequence.json", &[]);
    assert_fails(&out, &["--model is required"]);
    let out = run(
        "weights/sequence.pth",
        "examples/sequence.json",
        &["--model", "sequence"],
    );
    let got = json_output(&succeeded(&out));
    assert_close("sequence.pth", &got, &expected("sequence_seed", "output"));
    let out = run(
        "weights/sequence.pt",
        "examples/sequence.json",
        &["--model", "two-input"],
    );
    assert_fails(&out, &["--model two-input contradicts", "sequence"]);

    // A categorical model whose feature width is not the seed's needs --feature-width from a
    // state_dict; a TorchScript archive's code says it (the one-hot width), as a .pt2's does.
    let dir = fixtures().join("categorical_nd");
    let input = dir.join("input.safetensors");
    let pth = dir.join("weights.pth");
    let base = ["--model", "categorical"];
    let out = run(path(&pth), path(&input), &base);
    assert_fails(&out, &["no room for categories after 10 features"]);
    let out = run(
        path(&pth),
        path(&input),
        &[&base[..], &["--feature-width", "5"]].concat(),
    );
    let got = json_output(&succeeded(&out));
    assert_close("weights.pth", &got, &expected("categorical_nd", "output"));
    let pt = dir.join("weights.pt");
    let got = json_output(&succeeded(&run(path(&pt), path(&input), &[])));
    assert_close("weights.pt", &got, &expected("categorical_nd", "output"));
    let out = run(path(&pt), path(&input), &["--feature-width", "4"]);
    assert_fails(&out, &["feature_width", "`5`", "`4`"]);
    // --feature-width must agree with the metadata, and applies to the categorical model only.
    let weights = dir.join("weights.safetensors");
    let out = run(path(&weights), path(&input), &["--feature-width", "4"]);
    assert_fails(&out, &["feature_width", "`5`", "`4`"]);
    let out = run(
        "weights/sequence.pt",
        "examples/sequence.json",
        &["--feature-width", "4"],
    );
    assert_fails(
        &out,
        &["--feature-width applies to the categorical model only"],
    );
}

#[test]
fn torch_export_archives_run_and_say_what_they_hold() {
    // The Linear models' graphs are the seed's: they name the model, and the one-hot width the
    // feature width. The sequence model's graph cannot be (torch.export cannot trace the
    // packing): its archive runs the seed's model only when asked to, with --model, and by its
    // own graph otherwise.
    for (file, input, case, flags) in [
        (
            "weights/two_input.pt2",
            "examples/two_input.json",
            "two_input_seed",
            &[][..],
        ),
        (
            "weights/categorical.pt2",
            "examples/categorical.json",
            "categorical_seed",
            &[],
        ),
        (
            "weights/sequence.pt2",
            "examples/sequence.json",
            "sequence_seed",
            &["--model", "sequence"],
        ),
    ] {
        let got = json_output(&succeeded(&run(file, input, flags)));
        assert_close(file, &got, &expected(case, "output"));
    }
    // Without --model, the sequence archive runs by its own graph (the LSTM over the padding),
    // whose forward takes padded_seq and seq_lengths: the seed's ragged form is not its request.
    let out = run("weights/sequence.pt2", "examples/sequence.json", &[]);
    assert_fails(
        &out,
        &[
            "input `sequences`",
            "forward takes no such argument",
            "`padded_seq`, `seq_lengths`",
        ],
    );
    let input = fixtures().join("sequence_seed/input.safetensors");
    let got = json_output(&succeeded(&run("weights/sequence.pt2", path(&input), &[])));
    assert_eq!(got.dims(), expected("sequence_seed", "output").dims());
    let dir = fixtures().join("categorical_nd");
    let (weights, input) = (dir.join("weights.pt2"), dir.join("input.safetensors"));
    let got = json_output(&succeeded(&run(path(&weights), path(&input), &[])));
    assert_close(
        "categorical_nd",
        &got,
        &expected("categorical_nd", "output"),
    );
    let out = run(path(&weights), path(&input), &["--feature-width", "4"]);
    assert_fails(&out, &["feature_width", "`5`", "`4`"]);

    let out = scriptless(&["inspect", "weights/sequence.pt2"]);
    let text = succeeded(&out);
    assert!(text.contains("format     torch.export"), "{text}");
    assert!(
        text.contains("`model`: forward(padded_seq [3, 7, 10], seq_lengths [3]) -> 1 output"),
        "{text}"
    );
    assert!(text.contains("aten.lstm.input"), "{text}");
    assert!(
        text.contains(
            "code       not the seed's: weights file weights/sequence.pt2: models/model.json: \
             no torch.export graph"
        ),
        "{text}"
    );
    assert!(
        text.contains("model      none of the seed's: the archive runs by its own code"),
        "{text}"
    );
    let out = scriptless(&["inspect", "--json", path(&weights)]);
    let doc: Value = serde_json::from_str(&succeeded(&out)).unwrap();
    assert_eq!(doc["format"], "torch.export");
    assert_eq!(doc["program"]["inputs"][0]["name"], "tensor_input");
    assert_eq!(
        doc["program"]["inputs"][0]["shape"],
        serde_json::json!([2, 3, 5])
    );
    assert_eq!(doc["model"]["config"]["feature_width"], 5);
    assert_eq!(doc["model"]["config"]["feature_width_recorded"], true);
}

#[test]
fn hostile_weights_files_fail_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let pt = std::fs::read(root().join("weights/sequence.pt")).unwrap();
    let truncated = dir.path().join("truncated.pt");
    std::fs::write(&truncated, &pt[..pt.len() / 2]).unwrap();
    let out = run(path(&truncated), "examples/sequence.json", &[]);
    assert_fails(&out, &["truncated.pt", "not a readable zip archive"]);
    let out = scriptless(&["inspect", path(&truncated)]);
    assert_fails(&out, &["truncated.pt", "not a readable zip archive"]);
    // A .pt2 one byte of whose weights config was changed: its CRC fails.
    let mut pt2 = std::fs::read(root().join("weights/two_input.pt2")).unwrap();
    let at = pt2
        .windows(b"\"use_pickle\"".len())
        .position(|w| w == b"\"use_pickle\"")
        .unwrap();
    pt2[at + 1] = b'X';
    let corrupt = dir.path().join("corrupt.pt2");
    std::fs::write(&corrupt, &pt2).unwrap();
    let out = run(path(&corrupt), "examples/two_input.json", &[]);
    assert_fails(&out, &["corrupt.pt2", "model_weights_config.json"]);
}

#[test]
fn inspect_reports_format_model_sizes_and_tensors() {
    let out = scriptless(&["inspect", "--json", "weights/sequence.pt"]);
    let doc: Value = serde_json::from_str(&succeeded(&out)).unwrap();
    assert_eq!(doc["format"], "torchscript");
    assert_eq!(doc["class"], "SequenceInputModule");
    assert_eq!(doc["model"]["kind"], "sequence");
    assert_eq!(doc["model"]["source"], "archive's code");
    assert_eq!(doc["code"], serde_json::json!({"seed": "sequence"}));
    let config = &doc["model"]["config"];
    assert_eq!(
        (
            config["input_size"].as_u64(),
            config["hidden_size"].as_u64()
        ),
        (Some(10), Some(20))
    );
    assert_eq!(config["bidirectional"], false);
    let tensors = doc["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 6);
    assert_eq!(tensors[5]["name"], "rnn.weight_ih_l0");
    assert_eq!(tensors[5]["shape"], serde_json::json!([80, 10]));
    assert_eq!(tensors[5]["dtype"], "F32");

    let out = scriptless(&[
        "inspect",
        "tests/fixtures/sequence_3layer_bidir/weights.pth",
    ]);
    let text = succeeded(&out);
    assert!(text.contains("torch.save"), "{text}");
    assert!(text.contains("sequence (from the tensor names)"), "{text}");
    assert!(text.contains("num_layers 3"), "{text}");
    assert!(text.contains("bidirectional true"), "{text}");

    // A lone Linear fits two models; the file cannot say which.
    let out = scriptless(&["inspect", "weights/categorical.pth"]);
    let text = succeeded(&out);
    assert!(text.contains("two-input or categorical"), "{text}");
    let out = scriptless(&[
        "inspect",
        "--json",
        "--model",
        "categorical",
        "--feature-width",
        "5",
        "tests/fixtures/categorical_nd/weights.pt",
    ]);
    let doc: Value = serde_json::from_str(&succeeded(&out)).unwrap();
    assert_eq!(doc["model"]["config"]["num_categories"], 4);
    assert_eq!(doc["model"]["config"]["feature_width_recorded"], true);

    // A file that is not any of the models: the tensors are listed, and the run fails.
    let out = scriptless(&[
        "inspect",
        "--model",
        "sequence",
        "weights/two_input.safetensors",
    ]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("linear.weight"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("rnn"));
}

/// A `.jsonl` file of the given lines in `dir`.
fn jsonl(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    file
}

/// One-line JSON requests: the sequence example, and each of the sequence_seed fixture's
/// sequences as its own request.
fn sequence_requests() -> Vec<String> {
    let example: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("examples/sequence.json")).unwrap(),
    )
    .unwrap();
    let mut lines = vec![example.to_string()];
    let inputs = load(&fixtures().join("sequence_seed/input.safetensors"));
    let (padded, lengths) = (&inputs["padded_seq"], &inputs["seq_lengths"]);
    for b in 0..padded.dim(0).unwrap() {
        let len = lengths.get(b).unwrap().to_scalar::<i64>().unwrap() as usize;
        let seq = padded.get(b).unwrap().narrow(0, 0, len).unwrap();
        let seq: Vec<Vec<f32>> = seq.to_vec2().unwrap();
        lines.push(serde_json::json!({"sequences": [seq]}).to_string());
    }
    lines
}

#[test]
fn jsonl_requests_give_one_result_per_line_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let lines = sequence_requests();
    let input = jsonl(dir.path(), "requests.jsonl", &lines);
    let output = dir.path().join("results.jsonl");
    for batch_size in ["1", "2", "256"] {
        let out = run(
            "weights/sequence.safetensors",
            path(&input),
            &[
                "--pool",
                "last-valid",
                "--output",
                path(&output),
                "--batch-size",
                batch_size,
            ],
        );
        succeeded(&out);
        let results = std::fs::read_to_string(&output).unwrap();
        assert_eq!(results.lines().count(), lines.len());
        // Each line equals that request run alone.
        for (i, (result, line)) in results.lines().zip(&lines).enumerate() {
            let single = dir.path().join("one.json");
            std::fs::write(&single, line).unwrap();
            let out = run(
                "weights/sequence.safetensors",
                path(&single),
                &["--pool", "last-valid"],
            );
            let want = json_output(&succeeded(&out));
            common::compare(&json_output(result), &want, 1e-6, 1e-6)
                .unwrap_or_else(|e| panic!("batch {batch_size}, line {}: {e}", i + 1));
        }
    }
    // The seed's three sequences against PyTorch's last-valid output.
    let results = std::fs::read_to_string(&output).unwrap();
    let first = json_output(results.lines().next().unwrap());
    assert_close(
        "line 1",
        &first,
        &expected("sequence_seed", "output_last_valid"),
    );
}

#[test]
fn a_non_finite_output_is_named_and_written_as_safetensors() {
    // Both inputs are finite f32, their sum is not: the output holds infinities or NaN, which
    // JSON cannot hold; the error names the element, and safetensors takes it.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("huge.json");
    let row = |x: f64| {
        (0..10)
            .map(|j| if j == 0 { x } else { 1.0 })
            .collect::<Vec<_>>()
    };
    let request = serde_json::json!({"tensor1": [row(3e38)], "tensor2": [row(3e38)]});
    std::fs::write(&input, request.to_string()).unwrap();
    let out = run("weights/two_input.safetensors", path(&input), &[]);
    assert_fails(
        &out,
        &[
            "output[0][",
            "which JSON cannot represent",
            "--output FILE.safetensors",
        ],
    );
    let output = dir.path().join("out.safetensors");
    let out = run(
        "weights/two_input.safetensors",
        path(&input),
        &["--output", path(&output)],
    );
    succeeded(&out);
    let written = load(&output)["output"].flatten_all().unwrap();
    assert!(written
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .any(|x| !x.is_finite()));
}

#[test]
fn jsonl_batches_cut_by_output_size_and_text_keep_every_request_in_order() {
    // Each request broadcasts (k, 1, 10) + (1, 5, 10) to a (k, 5, 10) output of 50·k elements:
    // under --max-elements 500 a batch holds a few of them, and under --max-input-bytes a few
    // lines, so requests are carried to the next batch; none may be lost, repeated or moved.
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (1..=9)
        .map(|k| {
            let t1: Vec<Vec<Vec<f32>>> = (0..k)
                .map(|i| vec![(0..10).map(|j| (i * 10 + j + k) as f32 / 7.0).collect()])
                .collect();
            let t2: Vec<Vec<Vec<f32>>> = vec![(0..5)
                .map(|i| (0..10).map(|j| (i + j) as f32 / -3.0).collect())
                .collect()];
            serde_json::json!({"tensor1": t1, "tensor2": t2}).to_string()
        })
        .collect();
    let longest = lines.iter().map(String::len).max().unwrap();
    let input = jsonl(dir.path(), "requests.jsonl", &lines);
    let results = |extra: &[&str]| {
        let mut args = vec!["--max-elements", "500"];
        args.extend_from_slice(extra);
        succeeded(&run("weights/two_input.safetensors", path(&input), &args))
    };
    let alone = results(&["--batch-size", "1"]);
    assert_eq!(alone.lines().count(), lines.len());
    let max_text = (2 * longest).to_string();
    assert_eq!(results(&[]), alone);
    assert_eq!(results(&["--max-input-bytes", &max_text]), alone);
}

#[test]
fn a_bad_jsonl_line_stops_the_run_or_with_keep_going_becomes_an_error_object() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = sequence_requests();
    lines.insert(
        1,
        r#"{"padded_seq": [[[1.0]]], "seq_lengths": [1]}"#.to_string(),
    );
    lines.insert(3, "{not json".to_string());
    lines.insert(4, String::new());
    let input = jsonl(dir.path(), "requests.jsonl", &lines);
    let output = dir.path().join("results.jsonl");

    let out = run(
        "weights/sequence.safetensors",
        path(&input),
        &["--output", path(&output)],
    );
    assert_fails(
        &out,
        &[
            "requests.jsonl line 2",
            "input `padded_seq`",
            "input_size 10",
        ],
    );
    assert!(!output.exists(), "a failed run leaves no output file");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary files"
    );

    let out = run(
        "weights/sequence.safetensors",
        path(&input),
        &["--output", path(&output), "--keep-going"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("3 of 7 requests") && stderr.contains("line 2"),
        "{stderr}"
    );
    let results: Vec<Value> = std::fs::read_to_string(&output)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len(), lines.len());
    let errors: Vec<(u64, String)> = results
        .iter()
        .filter(|r| r.get("error").is_some())
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["error"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(errors.iter().map(|e| e.0).collect::<Vec<_>>(), [2, 4, 5]);
    assert!(errors[0].1.contains("input_size 10"), "{errors:?}");
    assert!(errors[1].1.contains("malformed JSON"), "{errors:?}");
    assert_eq!(errors[2].1, "empty line");
    assert!(results[0].get("output").is_some() && results[6].get("output").is_some());
}

#[test]
fn jsonl_options_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        "weights/sequence.safetensors",
        "examples/sequence.json",
        &["--output", path(&dir.path().join("x.jsonl"))],
    );
    assert_fails(&out, &["a .jsonl output needs a .jsonl input"]);
    let out = run(
        "weights/sequence.safetensors",
        "examples/sequence.json",
        &["--keep-going"],
    );
    assert_fails(
        &out,
        &["--keep-going and --batch-size apply to a .jsonl input only"],
    );
    let out = run(
        "weights/sequence.safetensors",
        "examples/sequence.json",
        &["--batch-size", "8"],
    );
    assert_fails(&out, &["--batch-size apply to a .jsonl input only"]);
    let input = jsonl(dir.path(), "r.jsonl", &sequence_requests());
    let out = run(
        "weights/sequence.safetensors",
        path(&input),
        &["--output", path(&dir.path().join("x.json"))],
    );
    assert_fails(&out, &["must be a .jsonl file"]);
    let out = run(
        "weights/sequence.safetensors",
        path(&input),
        &["--batch-size", "0"],
    );
    assert_fails(&out, &["--batch-size"]);
    // Results stream to stdout, one line each.
    let out = run("weights/sequence.safetensors", path(&input), &[]);
    assert_eq!(succeeded(&out).lines().count(), 4);
    // An empty file has no results.
    let empty = jsonl(dir.path(), "empty.jsonl", &[]);
    std::fs::write(&empty, "").unwrap();
    let out = run("weights/sequence.safetensors", path(&empty), &[]);
    assert_eq!(succeeded(&out), "");
}

#[test]
fn bare_invocation_prints_the_full_help_and_exits_2() {
    let out = scriptless(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Usage:"), "{stderr}");
    // The list of subcommands, one per line: `  run   Run a model ...`.
    for command in ["run", "inspect", "bench"] {
        assert!(
            stderr
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{command} "))),
            "bare `scriptless` does not list `{command}`:\n{stderr}"
        );
    }
    // A subcommand without its arguments is still a one-line usage error.
    let out = scriptless(&["run"]);
    assert_fails(&out, &["--weights", "--input"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_guides_batch_example_gives_one_result_per_request() {
    // The batch command of docs/requests-and-outputs.md, on the shipped requests; the output
    // goes to a temporary directory instead of the repository root. (scripts/check-docs.py
    // runs the page's block itself; this checks what each result is.)
    let command = "scriptless run --weights weights/sequence.pt --input examples/requests.jsonl \
                   --output results.jsonl";
    let page = std::fs::read_to_string(root().join("docs/requests-and-outputs.md")).unwrap();
    assert!(
        page.contains(command),
        "docs/requests-and-outputs.md no longer shows `{command}`"
    );
    let requests = std::fs::read_to_string(root().join("examples/requests.jsonl")).unwrap();
    let requests: Vec<Value> = requests
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON request"))
        .collect();
    assert!(requests.iter().any(|r| r.get("sequences").is_some()));
    assert!(requests.iter().any(|r| r.get("padded_seq").is_some()));
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("results.jsonl");
    let out = run(
        "weights/sequence.pt",
        "examples/requests.jsonl",
        &["--output", path(&output)],
    );
    succeeded(&out);
    let results = std::fs::read_to_string(&output).unwrap();
    assert_eq!(results.lines().count(), requests.len());
    for (i, (result, request)) in results.lines().zip(&requests).enumerate() {
        let batch = request
            .get("sequences")
            .or_else(|| request.get("seq_lengths"))
            .and_then(Value::as_array)
            .unwrap()
            .len();
        assert_eq!(json_output(result).dims(), &[batch, 10], "line {}", i + 1);
    }
}

#[test]
fn archives_whose_code_is_not_the_seeds_run_by_it_or_as_the_model_asked_for() {
    let dir = fixtures().join("not_seed/sequence_relu");
    let (weights, input) = (dir.join("weights.pt"), dir.join("input.safetensors"));
    // Not the seed's code: it runs by its own code, with PyTorch's output for the archive.
    let out = run(path(&weights), path(&input), &[]);
    let got = json_output(&succeeded(&out));
    let own = load(&dir.join("expected.safetensors"))["output"].clone();
    assert_close("its own code", &got, &own);
    // Asked for, the seed's model runs on the archive's tensors, ignoring its code.
    let out = run(path(&weights), path(&input), &["--model", "sequence"]);
    let got = json_output(&succeeded(&out));
    let seed = load(&dir.join("expected.safetensors"))["seed_output"].clone();
    assert_close("--model sequence", &got, &seed);
    // inspect describes the archive as it is, and succeeds.
    let text = succeeded(&scriptless(&["inspect", path(&weights)]));
    assert!(
        text.contains("\ncode       not the seed's: weights file "),
        "{text}"
    );
    assert!(
        text.contains("\nmodel      none of the seed's: the archive runs by its own code"),
        "{text}"
    );
    assert!(
        text.contains("\nsignature  forward(padded_seq: Tensor, seq_lengths: Tensor) -> Tensor"),
        "{text}"
    );
    assert!(text.contains("\n  aten::relu  supported\n"), "{text}");
    let doc: Value = serde_json::from_str(&succeeded(&scriptless(&[
        "inspect",
        "--json",
        path(&weights),
    ])))
    .unwrap();
    assert_eq!(doc["code"]["seed"], Value::Null);
    assert!(doc["code"]["reason"]
        .as_str()
        .unwrap()
        .contains("torch.relu"));
    assert_eq!(
        doc["model"],
        serde_json::json!({"kind": null, "candidates": []})
    );
    let out = scriptless(&["inspect", "--json", "--model", "sequence", path(&weights)]);
    let doc: Value = serde_json::from_str(&succeeded(&out)).unwrap();
    assert_eq!(doc["model"]["kind"], "sequence");
    assert_eq!(
        doc["model"]["source"],
        "--model, ignoring the archive's code"
    );
}

#[test]
fn a_file_without_code_that_is_not_a_seed_model_is_told_so() {
    let out = run(
        "weights/two_input.pth",
        "examples/sequence.json",
        &["--model", "sequence"],
    );
    assert_fails(
        &out,
        &[
            "missing tensor",
            "a file without code (safetensors, a torch.save state_dict) loads only into the \
             seed's three models",
            "torch.jit.save(torch.jit.script(model))",
        ],
    );
    // An archive with other code, forced into another model, says what its code is.
    let out = run(
        path(&fixtures().join("not_seed/two_input_product/weights.pt2")),
        "examples/sequence.json",
        &["--model", "sequence"],
    );
    assert_fails(
        &out,
        &[
            "missing tensor",
            "the archive's own code is not the seed's either",
            "aten.mul.Tensor",
        ],
    );
}
