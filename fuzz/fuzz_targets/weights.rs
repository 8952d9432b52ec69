//! Weights loading from arbitrary bytes: parse as safetensors, build each of the three models
//! from whatever parsed (in f32, f64 and f16), and run every model that builds on a small valid
//! input. Errors are expected; a panic, an abort or a leak is a finding.

#![no_main]

use candle_core::{DType, Device, Tensor};
use libfuzzer_sys::fuzz_target;
use scriptless::{Model, ModelInputs, ModelKind, Weights};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(weights) = Weights::from_safetensors(data, "fuzz input") else {
        return;
    };
    let _ = weights.model_kind();
    for kind in ModelKind::ALL {
        for dtype in [DType::F32, DType::F64, DType::F16] {
            let Ok(model) = Model::from_weights(&weights, kind, dtype, &Device::Cpu) else {
                continue;
            };
            let model = model.with_limits(common::LIMITS);
            if let Ok(inputs) = inputs_for(&model) {
                common::run(&model, &inputs);
            }
        }
    }
});

/// A small valid input for `model`, whatever its sizes, so that a model built from fuzzed
/// weights is also run.
fn inputs_for(model: &Model) -> candle_core::Result<ModelInputs> {
    let cpu = &Device::Cpu;
    Ok(match model {
        Model::TwoInput(m) => {
            let n = m.config().in_features;
            ModelInputs::TwoInput {
                tensor1: Tensor::ones((2, n), DType::F32, cpu)?,
                tensor2: Tensor::ones(n, DType::F32, cpu)?.affine(0.5, -1.0)?,
            }
        }
        Model::Categorical(m) => {
            let c = m.config();
            let last = c.num_categories as i64 - 1;
            ModelInputs::Categorical {
                tensor_input: Tensor::ones((2, c.feature_width), DType::F32, cpu)?,
                category_index: Tensor::new(&[0i64, last], cpu)?,
            }
        }
        Model::Sequence(m) => {
            let i = m.config().lstm.input_size;
            ModelInputs::Sequence {
                padded_seq: Tensor::ones((2, 3, i), DType::F32, cpu)?,
                seq_lengths: Tensor::new(&[3i64, 1], cpu)?,
            }
        }
    })
}
