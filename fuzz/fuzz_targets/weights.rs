//! Weights loading from arbitrary bytes: parse as safetensors, build each of the three models
//! from whatever parsed (in f32, f64 and f16), and run every model that builds on a small valid
//! input. Errors are expected; a panic, an abort or a leak is a finding. (`pytorch_weights`
//! does the same for PyTorch's zip archives.)

#![no_main]

use libfuzzer_sys::fuzz_target;
use scriptless::Weights;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(weights) = Weights::from_safetensors(data, "fuzz input") else {
        return;
    };
    common::build_and_run_every_model(&weights);
});
