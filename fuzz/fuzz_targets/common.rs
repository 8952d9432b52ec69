//! Shared by the fuzz targets: small limits, so that an input the library accepts never asks
//! the fuzzer for more memory than it allows.

use scriptless::{Limits, Model, ModelInputs, Pooling};

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
