//! Median time of one forward call of each shipped model on its example input (CPU, f32).
//!
//! `cargo bench` prints one line per model. A baseline for the performance work, not a
//! comparison with PyTorch.

use std::path::Path;
use std::time::{Duration, Instant};

use candle_core::{DType, Device};
use scriptless::{read_request, Model, ModelKind, Pooling, Weights};

fn main() -> scriptless::Result<()> {
    for (kind, weights, input) in [
        (
            ModelKind::TwoInput,
            "weights/two_input.safetensors",
            "examples/two_input.json",
        ),
        (
            ModelKind::Categorical,
            "weights/categorical.safetensors",
            "examples/categorical.json",
        ),
        (
            ModelKind::Sequence,
            "weights/sequence.safetensors",
            "examples/sequence.json",
        ),
    ] {
        let model = Model::from_weights(&Weights::read(weights)?, kind, DType::F32, &Device::Cpu)?;
        let inputs = read_request(Path::new(input), kind)?;
        for _ in 0..20 {
            model.forward(&inputs, Pooling::PaddedLast)?;
        }
        let mut times = Vec::new();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(1) {
            let t = Instant::now();
            model.forward(&inputs, Pooling::PaddedLast)?;
            times.push(t.elapsed());
        }
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "{kind:<12} median {:>9.1} us over {} runs",
            median.as_secs_f64() * 1e6,
            times.len()
        );
    }
    Ok(())
}
