//! Users' own models, run by their own code: every model of the corpus `python/corpus.py`
//! writes (`tests/fixtures/corpus/`), scripted and traced (`.pt`) and exported in both flavours
//! (`.pt2`: the default graph and the Core ATen one), on every request of its fixture, through
//! the library, the command line with a JSON request and the command line with a safetensors
//! request and output, against the outputs PyTorch gave (the manifest's tolerance; integer and
//! bool outputs exactly).

mod common;

use std::path::{Path, PathBuf};

use scriptless::script::{self, Options, Program, Value};
use serde_json::Value as Json;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus")
}

fn manifest() -> Json {
    let text = std::fs::read_to_string(corpus().join("manifest.json")).expect("corpus manifest");
    serde_json::from_str(&text).expect("manifest is JSON")
}

/// One golden tensor (or number), flattened, by its output name (`output`, `output.0`).
#[derive(Debug)]
struct Golden {
    dtype: String,
    shape: Vec<usize>,
    data: Vec<f64>,
}

/// The golden `expected_<i>.json` output as named tensors, named as scriptless names its
/// outputs' tensors; numbers as 0-dim tensors of int64, float64 or bool.
fn golden_tensors(typed: &Json, name: &str, out: &mut Vec<(String, Golden)>) {
    match typed {
        Json::Object(map) if map.contains_key("dtype") => {
            let data = map["data"].as_array().unwrap().iter().map(number).collect();
            let shape = map["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            out.push((
                name.to_string(),
                Golden {
                    dtype: map["dtype"].as_str().unwrap().to_string(),
                    shape,
                    data,
                },
            ));
        }
        Json::Object(map) if map.contains_key("dict") => {
            for (k, v) in map["dict"].as_object().unwrap() {
                golden_tensors(v, &format!("{name}.{k}"), out);
            }
        }
        Json::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                golden_tensors(v, &format!("{name}.{i}"), out);
            }
        }
        Json::Bool(b) => out.push((name.into(), scalar("bool", *b as i64 as f64))),
        Json::Number(n) if n.is_f64() => {
            out.push((name.into(), scalar("float64", n.as_f64().unwrap())))
        }
        Json::Number(n) => out.push((name.into(), scalar("int64", n.as_f64().unwrap()))),
        other => panic!("{name}: a golden output of {other} has no tensor"),
    }
}

fn scalar(dtype: &str, x: f64) -> Golden {
    Golden {
        dtype: dtype.into(),
        shape: Vec::new(),
        data: vec![x],
    }
}

fn number(v: &Json) -> f64 {
    match v {
        Json::Bool(b) => *b as i64 as f64,
        Json::Number(n) => n.as_f64().unwrap(),
        other => panic!("{other} is not a number"),
    }
}

/// Compares `got` (dtype, shape, data) with `want` under the tolerance, as `torch.allclose`
/// does, naming the worst element.
fn compare(
    what: &str,
    dtype: &str,
    shape: &[usize],
    data: &[f64],
    want: &Golden,
    atol: f64,
    rtol: f64,
) -> Result<(), String> {
    if dtype != want.dtype {
        return Err(format!(
            "{what}: dtype {dtype}, PyTorch's is {}",
            want.dtype
        ));
    }
    if shape != want.shape.as_slice() {
        return Err(format!(
            "{what}: shape {shape:?}, PyTorch's is {:?}",
            want.shape
        ));
    }
    let exact = !dtype.starts_with("float") && !dtype.starts_with("bfloat");
    let mut worst: Option<(usize, f64)> = None;
    for (i, (&g, &w)) in data.iter().zip(&want.data).enumerate() {
        let excess = if exact {
            if g == w {
                0.0
            } else {
                1.0
            }
        } else {
            (g - w).abs() - (atol + rtol * w.abs())
        };
        if excess > 0.0 && worst.is_none_or(|(_, e)| excess > e) {
            worst = Some((i, excess));
        }
    }
    match worst {
        None => Ok(()),
        Some((i, _)) => Err(format!(
            "{what}: element {i} is {}, PyTorch's is {} (atol {atol}, rtol {rtol})",
            data[i], want.data[i]
        )),
    }
}

/// Our output's tensors, flattened, by name.
fn ours(v: &Value) -> Vec<(String, String, Vec<usize>, Vec<f64>)> {
    script::output_tensors(v)
        .expect("output tensors")
        .into_iter()
        .map(|(name, t)| {
            let data = t
                .inner()
                .flatten_all()
                .unwrap()
                .to_dtype(candle_core::DType::F64)
                .unwrap()
                .to_vec1::<f64>()
                .unwrap();
            (name, t.dtype().name().to_string(), t.dims().to_vec(), data)
        })
        .collect()
}

fn check_tensors(
    what: &str,
    got: Vec<(String, String, Vec<usize>, Vec<f64>)>,
    want: &[(String, Golden)],
    atol: f64,
    rtol: f64,
) -> Result<(), String> {
    let names: Vec<&String> = got.iter().map(|g| &g.0).collect();
    let want_names: Vec<&String> = want.iter().map(|w| &w.0).collect();
    if names != want_names {
        return Err(format!(
            "{what}: outputs {names:?}, PyTorch's are {want_names:?}"
        ));
    }
    for ((name, dtype, shape, data), (_, w)) in got.iter().zip(want) {
        compare(&format!("{what} {name}"), dtype, shape, data, w, atol, rtol)?;
    }
    Ok(())
}

/// One archive of a corpus model and the requests it runs.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    /// `scripted`, `traced`, `exported`, `exported_core`.
    variant: String,
    /// The archive's file name.
    file: String,
    /// What its request and expected files start with: `` for `.pt`, `pt2_` for `.pt2`.
    prefix: &'static str,
    requests: usize,
    atol: f64,
    rtol: f64,
}

impl Case {
    fn weights(&self) -> PathBuf {
        corpus().join(&self.name).join(&self.file)
    }

    fn request(&self, i: usize, ext: &str) -> PathBuf {
        corpus()
            .join(&self.name)
            .join(format!("{}request_{i}.{ext}", self.prefix))
    }

    fn expected(&self, i: usize) -> Vec<(String, Golden)> {
        let path = corpus()
            .join(&self.name)
            .join(format!("{}expected_{i}.json", self.prefix));
        let doc: Json = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut out = Vec::new();
        golden_tensors(&doc["output"], "output", &mut out);
        out
    }
}

/// The models' archives (`scripted.pt`, `traced.pt`, `exported.pt2`, `exported_core.pt2`),
/// requests and tolerances.
fn cases() -> Vec<Case> {
    let m = manifest();
    let mut out = Vec::new();
    for (name, model) in m["models"].as_object().unwrap() {
        let requests = model["requests"].as_u64().unwrap() as usize;
        let atol = model["atol"].as_f64().unwrap();
        let rtol = model["rtol"].as_f64().unwrap();
        let case = |variant: &str, ext: &str, prefix: &'static str, requests: usize| Case {
            name: name.clone(),
            variant: variant.into(),
            file: format!("{variant}.{ext}"),
            prefix,
            requests,
            atol,
            rtol,
        };
        out.push(case("scripted", "pt", "", requests));
        if model["traced"].as_bool() == Some(true) {
            out.push(case("traced", "pt", "", requests));
        }
        if model["exported"].as_bool() == Some(true) {
            let requests = model["pt2_requests"].as_u64().unwrap() as usize;
            out.push(case("exported", "pt2", "pt2_", requests));
            out.push(case("exported_core", "pt2", "pt2_", requests));
        }
    }
    out
}

/// Every model on every request through the library, on the device `options` names; the
/// failures.
fn library_failures(options: &Options) -> Vec<String> {
    let mut failures = Vec::new();
    for case in cases() {
        let (name, variant) = (&case.name, &case.variant);
        let program = match Program::load_with(case.weights(), options) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{name}/{variant}: load: {e}"));
                continue;
            }
        };
        for i in 0..case.requests {
            let what = format!("{name}/{variant} request {i}");
            let text = std::fs::read_to_string(case.request(i, "json")).unwrap();
            let result = script::args_from_json(program.signature(), &text, &options.limits)
                .and_then(|args| program.forward(args));
            match result {
                Ok(out) => {
                    let want = case.expected(i);
                    if let Err(e) = check_tensors(&what, ours(&out), &want, case.atol, case.rtol) {
                        failures.push(e);
                    }
                }
                Err(e) => failures.push(format!("{what}: {e}")),
            }
        }
    }
    failures
}

#[test]
fn every_corpus_model_matches_pytorch_through_the_library() {
    let failures = library_failures(&Options::default());
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_corpus_model_matches_pytorch_on_each_gpu() {
    let mut ran = false;
    for name in ["cuda", "metal"] {
        let device = match scriptless::parse_device(name) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("corpus on {name}: skipped, no such device here ({e})");
                continue;
            }
        };
        ran = true;
        let options = Options {
            device,
            ..Options::default()
        };
        let failures = library_failures(&options);
        assert!(
            failures.is_empty(),
            "{name}: {} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
    if !ran {
        eprintln!("corpus on a GPU: skipped, this build or machine has none");
    }
}

#[test]
fn every_corpus_model_matches_pytorch_through_the_command_line() {
    let mut failures = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest();
    for case in cases() {
        let (name, variant, atol, rtol) = (&case.name, &case.variant, case.atol, case.rtol);
        let weights = case.weights();
        let safetensors_requests =
            manifest["models"][name]["safetensors_requests"].as_bool() == Some(true);
        for i in 0..case.requests {
            let what = format!("{name}/{variant} request {i}");
            let want = case.expected(i);
            // A JSON request, the output on stdout.
            let request = case.request(i, "json");
            let out = common::command::scriptless()
                .args(["run", "--weights"])
                .arg(&weights)
                .arg("--input")
                .arg(&request)
                .output()
                .unwrap();
            if !out.status.success() {
                failures.push(format!(
                    "{what} (json): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
                continue;
            }
            let doc: Json = serde_json::from_slice(&out.stdout).unwrap();
            if let Err(e) = check_json(&what, &doc["output"], &want, atol, rtol) {
                failures.push(e);
            }
            // A safetensors request, the output as safetensors.
            if !safetensors_requests {
                continue;
            }
            let request = case.request(i, "safetensors");
            let output = dir.path().join(format!("{name}_{variant}_{i}.safetensors"));
            let out = common::command::scriptless()
                .args(["run", "--weights"])
                .arg(&weights)
                .arg("--input")
                .arg(&request)
                .arg("--output")
                .arg(&output)
                .output()
                .unwrap();
            if !out.status.success() {
                failures.push(format!(
                    "{what} (safetensors): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
                continue;
            }
            let bytes = std::fs::read(&output).unwrap();
            let got: Vec<_> = script::tensors_from_safetensors(&bytes, "output")
                .unwrap()
                .into_iter()
                .map(|(n, t)| {
                    let data = t
                        .inner()
                        .flatten_all()
                        .unwrap()
                        .to_dtype(candle_core::DType::F64)
                        .unwrap()
                        .to_vec1::<f64>()
                        .unwrap();
                    (n, t.dtype().name().to_string(), t.dims().to_vec(), data)
                })
                .collect();
            let mut got = got;
            let order: Vec<&String> = want.iter().map(|w| &w.0).collect();
            got.sort_by_key(|g| order.iter().position(|n| **n == g.0));
            if let Err(e) = check_tensors(&format!("{what} (safetensors)"), got, &want, atol, rtol)
            {
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Compares the command line's JSON output (untyped) with the golden tensors: the same
/// structure, every number within the tolerance.
fn check_json(
    what: &str,
    got: &Json,
    want: &[(String, Golden)],
    atol: f64,
    rtol: f64,
) -> Result<(), String> {
    for (name, w) in want {
        let mut node = got;
        for part in name.split('.').skip(1) {
            node = match node {
                Json::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
                Json::Object(map) => map.get(part),
                _ => None,
            }
            .ok_or_else(|| format!("{what}: the JSON output has no {name}"))?;
        }
        let mut shape = Vec::new();
        let mut data = Vec::new();
        flatten_json(node, &mut shape, &mut data, 0);
        let dtype = w.dtype.clone(); // JSON carries no dtype: the values are compared
        compare(
            &format!("{what} {name}"),
            &dtype,
            &shape,
            &data,
            w,
            atol,
            rtol,
        )?;
    }
    Ok(())
}

fn flatten_json(v: &Json, shape: &mut Vec<usize>, data: &mut Vec<f64>, depth: usize) {
    match v {
        Json::Array(items) => {
            if shape.len() == depth {
                shape.push(items.len());
            }
            for item in items {
                flatten_json(item, shape, data, depth + 1);
            }
        }
        other => data.push(number(other)),
    }
}

/// The safetensors request `i` of `case` as an `.npz` (what `np.savez` writes), or `None`
/// when an array is bool (`.npz` requests hold numbers).
fn npz_request(case: &Case, i: usize) -> Option<Vec<u8>> {
    use std::io::Write;
    let bytes = std::fs::read(case.request(i, "safetensors")).ok()?;
    let tensors = script::tensors_from_safetensors(&bytes, "request").unwrap();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (n, t) in tensors {
        if t.dtype() == scriptless::ops::ScalarType::Bool {
            return None;
        }
        zip.start_file(format!("{n}.npy"), stored).unwrap();
        zip.write_all(&scriptless::npy_bytes(t.inner()).unwrap())
            .unwrap();
    }
    Some(zip.finish().unwrap().into_inner())
}

#[test]
fn corpus_models_take_and_write_npz() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for case in cases() {
        let (name, variant) = (&case.name, &case.variant);
        for i in 0..case.requests {
            let Some(bytes) = npz_request(&case, i) else {
                continue;
            };
            let what = format!("{name}/{variant} request {i} (npz)");
            let request = dir.path().join(format!("{name}_{variant}_{i}.npz"));
            std::fs::write(&request, bytes).unwrap();
            let output = dir.path().join(format!("{name}_{variant}_{i}_out.npz"));
            let out = common::command::scriptless()
                .args(["run", "--weights"])
                .arg(case.weights())
                .arg("--input")
                .arg(&request)
                .arg("--output")
                .arg(&output)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{what}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let got = scriptless::tensors_from_npz(
                &std::fs::read(&output).unwrap(),
                "output",
                &Default::default(),
            )
            .unwrap()
            .into_iter()
            .map(|(n, t)| {
                let t = scriptless::ops::Tensor::new(t).unwrap();
                let data = t
                    .inner()
                    .flatten_all()
                    .unwrap()
                    .to_dtype(candle_core::DType::F64)
                    .unwrap()
                    .to_vec1::<f64>()
                    .unwrap();
                (n, t.dtype().name().to_string(), t.dims().to_vec(), data)
            })
            .collect();
            check_tensors(&what, got, &case.expected(i), case.atol, case.rtol).unwrap();
            checked += 1;
        }
    }
    assert!(checked > 30, "{checked}");
}

/// `args` with every float tensor's values changed (negated, scaled, shifted), its shapes,
/// types and every other argument kept: the same trace key, other data.
fn perturbed(args: &[(String, Value)]) -> Vec<(String, Value)> {
    fn change(v: &Value) -> Value {
        match v {
            Value::Tensor(t) if t.dtype().is_float() => {
                let x = t.inner().affine(-1.5, 0.25).unwrap();
                Value::Tensor(scriptless::ops::Tensor::new(x).unwrap())
            }
            Value::List(items) => Value::List(items.iter().map(change).collect()),
            Value::Tuple(items) => Value::Tuple(items.iter().map(change).collect()),
            Value::Dict(items) => {
                Value::Dict(items.iter().map(|(k, v)| (k.clone(), change(v))).collect())
            }
            other => other.clone(),
        }
    }
    args.iter().map(|(n, v)| (n.clone(), change(v))).collect()
}

#[test]
fn replayed_calls_are_the_interpreted_ones_bit_for_bit() {
    // Every TorchScript archive on every request: the first call records a trace, the
    // second replays it and must be the first bit for bit, and PyTorch's. Then the same
    // shapes with other data: the replay (or, where a guard fails, the interpreter) must give
    // what a fresh program interprets.
    let limits = scriptless::Limits::default();
    let (mut traced, mut untraced) = (0, Vec::new());
    for case in cases().into_iter().filter(|c| c.prefix.is_empty()) {
        let program = Program::load(case.weights()).unwrap();
        for i in 0..case.requests {
            let what = format!("{}/{} request {i}", case.name, case.variant);
            let text = std::fs::read_to_string(case.request(i, "json")).unwrap();
            let args = script::args_from_json(program.signature(), &text, &limits).unwrap();
            let first = ours(&program.forward(args.clone()).unwrap());
            let again = ours(&program.forward(args.clone()).unwrap());
            assert_eq!(again, first, "{what}: replayed");
            check_tensors(&what, again, &case.expected(i), case.atol, case.rtol).unwrap();
            let other = perturbed(&args);
            let fresh = Program::load(case.weights()).unwrap();
            let want = fresh.forward(other.clone()).map(|v| ours(&v));
            let got = program.forward(other).map(|v| ours(&v));
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{what}, other data"),
                (Err(got), Err(want)) => {
                    assert_eq!(got.to_string(), want.to_string(), "{what}, other data")
                }
                (got, want) => panic!("{what}, other data: {got:?} vs {want:?}"),
            }
        }
        match program.traced_keys() {
            0 => untraced.push(format!("{}/{}", case.name, case.variant)),
            _ => traced += 1,
        }
    }
    eprintln!("traced: {traced} archives; not traced: {untraced:?}");
    assert!(
        traced >= 20,
        "only {traced} archives traced; not: {untraced:?}"
    );
}

#[test]
fn one_loaded_program_serves_many_threads() {
    let program = Program::load(corpus().join("text_lstm/scripted.pt")).unwrap();
    let limits = scriptless::Limits::default();
    let requests: Vec<String> = (0..3)
        .map(|i| {
            std::fs::read_to_string(corpus().join(format!("text_lstm/request_{i}.json"))).unwrap()
        })
        .collect();
    let alone: Vec<_> = requests
        .iter()
        .map(|r| {
            ours(
                &program
                    .forward(script::args_from_json(program.signature(), r, &limits).unwrap())
                    .unwrap(),
            )
        })
        .collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let (program, requests, alone, limits) = (&program, &requests, &alone, &limits);
                s.spawn(move || {
                    for round in 0..5 {
                        let i = (t + round) % requests.len();
                        let args =
                            script::args_from_json(program.signature(), &requests[i], limits)
                                .unwrap();
                        let got = ours(&program.forward(args).unwrap());
                        assert_eq!(got, alone[i], "thread {t}, round {round}");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
}

/// A `.pt2` request's argument from its JSON request, by name.
fn pt2_args(name: &str, i: usize) -> (Program, Vec<(String, Value)>) {
    let program = Program::load(corpus().join(name).join("exported.pt2")).unwrap();
    let text =
        std::fs::read_to_string(corpus().join(name).join(format!("pt2_request_{i}.json"))).unwrap();
    let args = script::args_from_json(program.signature(), &text, &Default::default()).unwrap();
    (program, args)
}

fn float_tensor(dims: &[usize], value: f64) -> Value {
    let t = candle_core::Tensor::full(value as f32, dims, &candle_core::Device::Cpu).unwrap();
    Value::Tensor(scriptless::ops::Tensor::new(t).unwrap())
}

/// The error of a call, which must fail, holding every one of `parts`.
fn refused(program: &Program, args: Vec<(String, Value)>, parts: &[&str]) {
    match program.forward(args) {
        Ok(v) => panic!(
            "returned a {}; expected an error with {parts:?}",
            v.type_name()
        ),
        Err(e) => {
            let e = e.to_string();
            for part in parts {
                assert!(e.contains(part), "`{e}` does not mention `{part}`");
            }
        }
    }
}

#[test]
fn pt2_calls_outside_the_exported_program_are_refused() {
    // A batch outside the exported range (1..=8), naming the input, dim, range and symbol.
    let (mlp, _) = pt2_args("mlp", 0);
    let symbol = match &mlp.signature().params[0].tensors[0].dims[0] {
        script::Dim::Dynamic { symbol, min, max } => {
            assert_eq!((*min, *max), (1, Some(8)));
            symbol.clone()
        }
        other => panic!("mlp's batch is {other:?}"),
    };
    refused(
        &mlp,
        vec![("x".into(), float_tensor(&[9, 12], 0.5))],
        &["input `x`", "x.shape[0] = 9 is outside 1..=8", &symbol],
    );
    // A static size other than the exported one.
    refused(
        &mlp,
        vec![("x".into(), float_tensor(&[2, 11], 0.5))],
        &["x.shape[1] = 11", "exported with 12"],
    );
    refused(
        &mlp,
        vec![("x".into(), float_tensor(&[2, 3, 12], 0.5))],
        &["input `x`", "has 3 dims"],
    );
    // Two inputs that share a symbolic size must agree on it.
    let (attention, args) = pt2_args("attention", 0);
    let mut args = args;
    let mask = args.iter().position(|(n, _)| n == "mask").unwrap();
    let Value::Tensor(t) = &args[mask].1 else {
        panic!()
    };
    let dims = t.dims().to_vec();
    let narrower = t.inner().narrow(0, 0, dims[0] - 1).unwrap();
    args[mask].1 = Value::Tensor(scriptless::ops::Tensor::from_mask(narrower).unwrap());
    refused(
        &attention,
        args,
        &["input `mask`", "mask.shape[0]", "x.shape[0]", "both are"],
    );
    // A list of another length than the exported one.
    let (list_input, args) = pt2_args("list_input", 0);
    let Value::List(mut xs) = args[0].1.clone() else {
        panic!()
    };
    xs.pop();
    refused(
        &list_input,
        vec![("xs".into(), Value::List(xs))],
        &["input `xs`", "a list of 2", "exported with a list of 3"],
    );
    // Baked scalars: left out or equal, they run; another value is refused.
    let (scalar_args, args) = pt2_args("scalar_args", 0);
    let x = args.iter().find(|(n, _)| n == "x").unwrap().clone();
    let baked = scalar_args.signature().params[1].baked.clone().unwrap();
    assert!(scalar_args.forward(vec![x.clone()]).is_ok());
    assert!(scalar_args
        .forward(vec![x.clone(), ("scale".into(), baked)])
        .is_ok());
    refused(
        &scalar_args,
        vec![x.clone(), ("scale".into(), Value::Float(0.25))],
        &["input `scale`", "is 0.25", "exported with scale = 0.5"],
    );
    refused(
        &scalar_args,
        vec![x, ("k".into(), Value::Int(1))],
        &["input `k`", "is 1", "exported with k = 3"],
    );
}

#[test]
fn pt2_inputs_convert_to_the_declared_dtype_only_where_exact() {
    let (mlp, args) = pt2_args("mlp", 0);
    let Value::Tensor(x) = &args[0].1 else {
        panic!()
    };
    // Small integers as int64 are exact in float32: the same output as the float request.
    let rounded = x.inner().round().unwrap();
    let as_float = scriptless::ops::Tensor::new(rounded.clone()).unwrap();
    let as_int =
        scriptless::ops::Tensor::new(rounded.to_dtype(candle_core::DType::I64).unwrap()).unwrap();
    let a = ours(
        &mlp.forward(vec![("x".into(), Value::Tensor(as_float))])
            .unwrap(),
    );
    let b = ours(
        &mlp.forward(vec![("x".into(), Value::Tensor(as_int))])
            .unwrap(),
    );
    assert_eq!(a, b);
    // float64 values that float32 cannot hold are refused, naming the input and the dtypes.
    let precise = (x.inner().to_dtype(candle_core::DType::F64).unwrap() + 1e-12).unwrap();
    refused(
        &mlp,
        vec![(
            "x".into(),
            Value::Tensor(scriptless::ops::Tensor::new(precise).unwrap()),
        )],
        &[
            "input `x`",
            "is float64",
            "takes float32",
            "give it as float32",
        ],
    );
    // float64 values float32 holds exactly convert.
    let exact = x.inner().to_dtype(candle_core::DType::F64).unwrap();
    let c = ours(
        &mlp.forward(vec![(
            "x".into(),
            Value::Tensor(scriptless::ops::Tensor::new(exact).unwrap()),
        )])
        .unwrap(),
    );
    let d = ours(&mlp.forward(args.clone()).unwrap());
    assert_eq!(c, d);
}

#[test]
fn a_pt2_program_refuses_another_dtype_and_names_the_way_out() {
    let options = Options {
        dtype: Some(candle_core::DType::F64),
        ..Options::default()
    };
    let e = Program::load_with(corpus().join("mlp/exported.pt2"), &options).unwrap_err();
    let e = e.to_string();
    assert!(
        e.contains("float32") && e.contains("not float64") && e.contains("model.to(torch.float64)"),
        "{e}"
    );
    // Its own dtype is accepted.
    let options = Options {
        dtype: Some(candle_core::DType::F32),
        ..Options::default()
    };
    assert!(Program::load_with(corpus().join("mlp/exported.pt2"), &options).is_ok());
}
