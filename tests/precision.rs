//! Lower precision: weights stored as F16, BF16 or F64 load and match PyTorch; models computing
//! in f16 or bf16 (`--dtype f16|bf16`) stay within the documented tolerances of PyTorch's f32
//! outputs on every fixture.

mod common;

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use common::{cases, compare, fixtures, load, manifest, ATOL, BF16_TOLERANCE, F16_TOLERANCE, RTOL};
use scriptless::{
    request_from_safetensors, Limits, Model, ModelInputs, ModelKind, Pooling, Weights,
};

/// f64 weights computing in f64 against PyTorch's `model.double()`: only the order of
/// summation and the libm differ.
const F64_TOLERANCE: (f64, f64) = (1e-10, 1e-9);

fn inputs(dir: &Path, kind: ModelKind) -> ModelInputs {
    let bytes = std::fs::read(dir.join("input.safetensors")).unwrap();
    request_from_safetensors(&bytes, kind, "input", &Limits::default()).unwrap()
}

fn run(weights_file: &Path, kind: ModelKind, dtype: DType, inputs: &ModelInputs) -> Tensor {
    let weights = Weights::read(weights_file).unwrap();
    let model = Model::from_weights(&weights, kind, dtype, &Device::Cpu)
        .unwrap_or_else(|e| panic!("{}: {e}", weights_file.display()));
    model.forward(inputs, Pooling::PaddedLast).unwrap()
}

#[test]
fn weights_stored_in_f16_bf16_and_f64_load_and_match_pytorch() {
    let stored = manifest()["stored_precision"].clone();
    let stored = stored
        .as_object()
        .expect("manifest lists stored_precision cases");
    assert!(
        stored.len() >= 5,
        "only {} stored-precision cases",
        stored.len()
    );
    let kinds: std::collections::HashMap<String, String> =
        cases().into_iter().map(|(n, k, _)| (n, k)).collect();
    let mut failures = Vec::new();
    for (name, tags) in stored {
        let dir = fixtures().join(name);
        let kind: ModelKind = kinds[name].parse().unwrap();
        let inputs = inputs(&dir, kind);
        for tag in tags.as_array().unwrap() {
            let tag = tag.as_str().unwrap();
            let file = dir.join(format!("weights_{tag}.safetensors"));
            let stored_dtype = Weights::read(&file)
                .unwrap()
                .tensor("linear.weight")
                .unwrap()
                .dtype();
            let want_dtype = match tag {
                "f16" => DType::F16,
                "bf16" => DType::BF16,
                _ => DType::F64,
            };
            assert_eq!(stored_dtype, want_dtype, "{name}: {tag} file");
            // Loaded into an f32 model: PyTorch's f32 model on the same (rounded) weights; for
            // f64 weights, the rounding to f32 gives back the f32 fixture exactly.
            let expected = if tag == "f64" {
                load(&dir.join("expected.safetensors"))
            } else {
                load(&dir.join(format!("expected_{tag}.safetensors")))
            };
            let got = run(&file, kind, DType::F32, &inputs);
            if let Err(e) = compare(&got, &expected["output"], ATOL, RTOL) {
                failures.push(format!("{name}, {tag} weights in f32: {e}"));
            }
            if tag == "f64" {
                let expected = load(&dir.join("expected_f64.safetensors"));
                let got = run(&file, kind, DType::F64, &inputs);
                let (atol, rtol) = F64_TOLERANCE;
                if let Err(e) = compare(&got, &expected["output"], atol, rtol) {
                    failures.push(format!("{name}, f64 weights in f64: {e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn half_precision_stays_within_the_documented_tolerance_on_every_fixture() {
    let mut failures = Vec::new();
    for (dtype, (atol, rtol)) in [(DType::F16, F16_TOLERANCE), (DType::BF16, BF16_TOLERANCE)] {
        let mut worst = (0f64, String::new());
        for (name, kind, _) in cases() {
            let dir = fixtures().join(&name);
            let kind: ModelKind = kind.parse().unwrap();
            let got = run(
                &dir.join("weights.safetensors"),
                kind,
                dtype,
                &inputs(&dir, kind),
            );
            assert_eq!(got.dtype(), dtype, "{name}");
            let expected = &load(&dir.join("expected.safetensors"))["output"];
            match compare(&got, expected, atol, rtol) {
                Ok(max_abs) if max_abs > worst.0 => worst = (max_abs, name),
                Ok(_) => {}
                Err(e) => failures.push(format!("{name} in {dtype:?}: {e}")),
            }
        }
        println!("{dtype:?}: worst |diff| {:e} ({})", worst.0, worst.1);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
