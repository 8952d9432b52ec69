//! The seed's three models, from the weights shipped in `weights/`, loaded once per process.

use std::sync::OnceLock;

use candle_core::{DType, Device};
use scriptless::{Model, ModelKind, Weights};

static MODELS: OnceLock<Vec<Model>> = OnceLock::new();

const FILES: [(ModelKind, &[u8]); 3] = [
    (
        ModelKind::TwoInput,
        include_bytes!("../../weights/two_input.safetensors"),
    ),
    (
        ModelKind::Categorical,
        include_bytes!("../../weights/categorical.safetensors"),
    ),
    (
        ModelKind::Sequence,
        include_bytes!("../../weights/sequence.safetensors"),
    ),
];

/// The seed's models, with the fuzzing limits.
pub fn models() -> &'static [Model] {
    MODELS.get_or_init(|| {
        FILES
            .iter()
            .map(|&(kind, bytes)| {
                let weights = Weights::from_safetensors(bytes, kind.name())
                    .unwrap_or_else(|e| panic!("shipped weights: {e}"));
                Model::from_weights(&weights, kind, DType::F32, &Device::Cpu)
                    .unwrap_or_else(|e| panic!("shipped weights: {e}"))
                    .with_limits(crate::common::LIMITS)
            })
            .collect()
    })
}
