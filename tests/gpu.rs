//! Parity with PyTorch on the GPUs: every fixture written by `python/export.py`, run on each
//! GPU device this build and machine have (CUDA with `--features cuda`, Metal with
//! `--features metal`). Where there is none the test prints why and passes: the default build
//! has no GPU support, and CI has no GPU. `scripts/build-cuda.sh` builds and runs it with CUDA.

mod common;

use candle_core::{DType, Device};
use common::{cases, compare, fixtures, load, ATOL, RTOL};
use scriptless::{
    parse_device, request_from_safetensors, Limits, Model, ModelKind, Pooling, Weights,
};

#[test]
fn every_fixture_matches_pytorch_on_each_gpu_present() {
    for spec in ["cuda", "metal"] {
        let device = match parse_device(spec) {
            Ok(device) => device,
            Err(reason) => {
                println!("gpu: {spec} skipped: {reason}");
                continue;
            }
        };
        let failures: Vec<String> = cases()
            .iter()
            .filter_map(|(name, kind, _)| {
                run_case(name, kind, &device)
                    .err()
                    .map(|e| format!("{name} on {spec}: {e}"))
            })
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        println!("gpu: {spec}: {} fixtures match PyTorch", cases().len());
    }
}

/// One fixture on `device` in f32, from its safetensors weights (which name the model and the
/// categorical feature width), both poolings for the sequence model.
fn run_case(name: &str, kind: &str, device: &Device) -> Result<(), String> {
    let dir = fixtures().join(name);
    let kind: ModelKind = kind.parse().map_err(|e| format!("{e}"))?;
    let weights = Weights::read(dir.join("weights.safetensors")).map_err(|e| e.to_string())?;
    let model =
        Model::from_weights(&weights, kind, DType::F32, device).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(dir.join("input.safetensors")).map_err(|e| e.to_string())?;
    let inputs = request_from_safetensors(&bytes, kind, name, &Limits::default())
        .map_err(|e| e.to_string())?;
    let expected = load(&dir.join("expected.safetensors"));
    let mut poolings = vec![("output", Pooling::PaddedLast)];
    if kind == ModelKind::Sequence {
        poolings.push(("output_last_valid", Pooling::LastValid));
    }
    for (what, pooling) in poolings {
        let got = model.forward(&inputs, pooling).map_err(|e| e.to_string())?;
        if !got.device().same_device(device) {
            return Err(format!("{what} came back on {:?}", got.device()));
        }
        let want = expected
            .get(what)
            .ok_or_else(|| format!("fixture lacks `{what}`"))?;
        compare(&got, want, ATOL, RTOL).map_err(|e| format!("{what}: {e}"))?;
    }
    Ok(())
}
