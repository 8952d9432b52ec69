//! Parity with PyTorch: every fixture written by `python/export.py`, run through the library.

mod common;

use candle_core::{DType, Device};
use common::{cases, compare, fixtures, load, ATOL, RTOL};
use scriptless::{
    lengths_from_tensor, request_from_safetensors, CpuTier, Limits, Model, ModelInputs, ModelKind,
    Pooling, StepKernel, Weights, WeightsFormat, META_FEATURE_WIDTH,
};

/// Where a case runs: the CPU on one tier, or a GPU device.
enum On {
    Cpu(CpuTier),
    Gpu(&'static str, Device),
}

impl On {
    fn device(&self) -> &Device {
        match self {
            On::Cpu(_) => &Device::Cpu,
            On::Gpu(_, device) => device,
        }
    }
}

impl std::fmt::Display for On {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            On::Cpu(tier) => write!(f, "{tier}"),
            On::Gpu(spec, _) => f.write_str(spec),
        }
    }
}

/// Runs every case in `dtype` with the LSTM on `kernel`, on every CPU tier this machine has,
/// its weights read from `weights_file` (`weights.safetensors`, `weights.pth` or `weights.pt`);
/// fails listing every mismatch with its worst element.
fn assert_all_match(dtype: DType, kernel: StepKernel, weights_file: &str) {
    let failures: Vec<String> = CpuTier::usable()
        .unwrap()
        .into_iter()
        .flat_map(|tier| run_all(dtype, kernel, &On::Cpu(tier), weights_file))
        .collect();
    assert_none(&failures);
}

fn assert_none(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs every case and returns one line per mismatch.
fn run_all(dtype: DType, kernel: StepKernel, on: &On, weights_file: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let cases = cases();
    assert!(
        cases.len() >= 20,
        "the manifest lists only {} cases",
        cases.len()
    );
    for (name, kind, config) in &cases {
        if let Err(e) = run_case(name, kind, config, dtype, kernel, on, weights_file) {
            failures.push(format!(
                "{name}/{weights_file} ({dtype:?}, {kernel:?}, {on}): {e}"
            ));
        }
    }
    failures
}

fn run_case(
    name: &str,
    kind: &str,
    config: &serde_json::Value,
    dtype: DType,
    kernel: StepKernel,
    on: &On,
    weights_file: &str,
) -> Result<(), String> {
    let dir = fixtures().join(name);
    let kind: ModelKind = kind.parse().map_err(|e| format!("{e}"))?;
    let mut weights = Weights::read(dir.join(weights_file)).map_err(|e| e.to_string())?;
    match weights.format() {
        WeightsFormat::Safetensors => {
            assert_eq!(weights.model_kind().map_err(|e| e.to_string())?, Some(kind));
        }
        _ if kind == ModelKind::Categorical => {
            // PyTorch's files cannot record the split of the Linear's inputs.
            let width = config["feature_width"].to_string();
            weights
                .set_metadata(META_FEATURE_WIDTH, &width)
                .map_err(|e| e.to_string())?;
        }
        _ => {}
    }
    let model = match Model::from_weights(&weights, kind, dtype, on.device()) {
        Ok(Model::Sequence(m)) => m.with_kernel(kernel).map(Model::Sequence),
        other => other,
    }
    .map_err(|e| e.to_string())?;
    let model = match on {
        On::Cpu(tier) => {
            let model = model.with_cpu_tier(*tier).map_err(|e| e.to_string())?;
            if model.cpu_tier() != *tier {
                return Err(format!("the model runs on {}", model.cpu_tier()));
            }
            model
        }
        On::Gpu(..) => model,
    };
    let bytes = std::fs::read(dir.join("input.safetensors")).map_err(|e| e.to_string())?;
    let inputs = request_from_safetensors(&bytes, kind, name, &Limits::default())
        .map_err(|e| e.to_string())?;
    let expected = load(&dir.join("expected.safetensors"));
    let check = |what: &str, got: &candle_core::Tensor| -> Result<(), String> {
        let want = expected
            .get(what)
            .ok_or_else(|| format!("fixture lacks `{what}`"))?;
        compare(got, want, ATOL, RTOL)
            .map(|_| ())
            .map_err(|e| format!("{what}: {e}"))
    };

    let output = model
        .forward(&inputs, Pooling::PaddedLast)
        .map_err(|e| e.to_string())?;
    if !output.device().same_device(on.device()) {
        return Err(format!("the output came back on {:?}", output.device()));
    }
    check("output", &output)?;
    if let (
        Model::Sequence(m),
        ModelInputs::Sequence {
            padded_seq,
            seq_lengths,
        },
    ) = (&model, &inputs)
    {
        let last = model
            .forward(&inputs, Pooling::LastValid)
            .map_err(|e| e.to_string())?;
        check("output_last_valid", &last)?;
        let lengths = lengths_from_tensor(seq_lengths).map_err(|e| e.to_string())?;
        let lstm = m
            .rnn()
            .forward(padded_seq, &lengths)
            .map_err(|e| e.to_string())?;
        check("lstm_output", &lstm.output)?;
        check("h_n", &lstm.h_n)?;
        check("c_n", &lstm.c_n)?;
    }
    Ok(())
}

#[test]
fn every_fixture_matches_pytorch_in_f32() {
    assert_all_match(DType::F32, StepKernel::Fused, "weights.safetensors");
}

#[test]
fn every_fixture_matches_pytorch_from_its_torch_save_and_torchscript_files() {
    // The same weights as `torch.save(model.state_dict())` and `torch.jit.save(scripted)`.
    assert_all_match(DType::F32, StepKernel::Fused, "weights.pth");
    assert_all_match(DType::F32, StepKernel::Fused, "weights.pt");
}

#[test]
fn every_fixture_matches_pytorch_from_its_torch_export_archive() {
    // The sequence cases' archives come from export.py's ExportableSequence (torch.export
    // cannot trace the packing): the same weights, run here with the packed semantics.
    assert_all_match(DType::F32, StepKernel::Fused, "weights.pt2");
}

#[test]
fn every_fixture_matches_pytorch_in_f64() {
    // Computing in f64 must land at least as close to PyTorch's f32 results.
    assert_all_match(DType::F64, StepKernel::Fused, "weights.safetensors");
}

#[test]
fn every_fixture_matches_pytorch_on_the_composed_fallback() {
    // The path other devices take, run here on the CPU.
    assert_all_match(DType::F32, StepKernel::Composed, "weights.safetensors");
    assert_all_match(DType::F64, StepKernel::Composed, "weights.safetensors");
}

#[test]
fn every_fixture_matches_pytorch_on_each_gpu_present() {
    // CUDA with `--features cuda`, Metal with `--features metal` (scripts/build-cuda.sh). The
    // default build has no GPU support and CI no GPU: then this prints why and passes.
    for spec in ["cuda", "metal"] {
        match scriptless::parse_device(spec) {
            Ok(device) => {
                let on = On::Gpu(spec, device);
                assert_none(&run_all(
                    DType::F32,
                    StepKernel::Composed,
                    &on,
                    "weights.safetensors",
                ));
                println!("gpu: {spec}: every fixture matches PyTorch");
            }
            Err(reason) => println!("gpu: {spec} skipped: {reason}"),
        }
    }
}

#[test]
fn padded_last_pools_zeros_so_shorter_rows_output_the_bias_exactly() {
    // The seed's surprise, reproduced bit for bit: `unpacked_seq[:, -1, :]` is zero padding for
    // every row shorter than the longest, and `linear(0) == bias`.
    let dir = fixtures().join("sequence_seed");
    let weights = Weights::read(dir.join("weights.safetensors")).unwrap();
    let model =
        Model::from_weights(&weights, ModelKind::Sequence, DType::F32, &Device::Cpu).unwrap();
    let bytes = std::fs::read(dir.join("input.safetensors")).unwrap();
    let inputs =
        request_from_safetensors(&bytes, ModelKind::Sequence, "seed", &Limits::default()).unwrap();
    let out = model.forward(&inputs, Pooling::PaddedLast).unwrap();
    let bias = weights
        .tensor("linear.bias")
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    // Lengths are [5, 3, 7]: rows 0 and 1 are shorter than 7.
    for row in [0, 1] {
        assert_eq!(
            out.get(row).unwrap().to_vec1::<f32>().unwrap(),
            bias,
            "row {row}"
        );
    }
    assert_ne!(out.get(2).unwrap().to_vec1::<f32>().unwrap(), bias);
    let expected = load(&dir.join("expected.safetensors"));
    for row in [0, 1] {
        let want = expected["output"]
            .get(row)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(want, bias, "PyTorch's row {row} is the bias too");
    }
}

#[test]
fn shipped_weights_are_the_seed_fixtures_weights() {
    // weights/ and the seed cases come from the same exporter run: the shipped files are the
    // ones the parity tests cover.
    for (file, case) in [
        ("two_input", "two_input_seed"),
        ("categorical", "categorical_seed"),
        ("sequence", "sequence_seed"),
    ] {
        let shipped = load(&common::root().join(format!("weights/{file}.safetensors")));
        let fixture = load(&fixtures().join(case).join("weights.safetensors"));
        assert_eq!(shipped.len(), fixture.len(), "{file}");
        for (name, t) in &shipped {
            let f = &fixture[name];
            assert_eq!(common::flat_f64(t), common::flat_f64(f), "{file}: {name}");
        }
    }
}
