//! Shared by the fuzz targets: small limits, so that an input the library accepts never asks
//! the fuzzer for more memory than it allows.

use candle_core::{DType, Device, Tensor};
use scriptless::{Limits, Model, ModelInputs, ModelKind, Pooling, Weights};

/// Limits small enough for libFuzzer's 2 GiB memory cap: every accepted input and every
/// tensor a model builds from it stays under 16 MiB of f32.
pub const LIMITS: Limits = Limits {
    max_weights_bytes: 1 << 20,
    max_input_bytes: 1 << 20,
    max_elements: 1 << 22,
};

/// Runs `model` on `inputs` with both poolings; any error is fine, a panic is a finding.
pub fn run(model: &Model, inputs: &ModelInputs) {
    for pooling in [Pooling::PaddedLast, Pooling::LastValid] {
        let _ = model.forward(inputs, pooling);
    }
}

/// Builds each of the three models from `weights` (in f32, f64 and f16) and runs every one
/// that builds on a small valid input.
#[allow(dead_code)] // used by the weights targets only
pub fn build_and_run_every_model(weights: &Weights) {
    let _ = weights.model_kind();
    for kind in ModelKind::ALL {
        for dtype in [DType::F32, DType::F64, DType::F16] {
            let Ok(model) = Model::from_weights(weights, kind, dtype, &Device::Cpu) else {
                continue;
            };
            let model = model.with_limits(LIMITS);
            if let Ok(inputs) = inputs_for(&model) {
                run(&model, &inputs);
            }
        }
    }
}

/// A small valid input for `model`, whatever its sizes, so that a model built from fuzzed
/// weights is also run.
#[allow(dead_code)] // used by the weights targets only
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
