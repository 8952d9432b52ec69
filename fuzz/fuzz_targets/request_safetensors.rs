//! Request decoding from arbitrary bytes as a safetensors request, for each model kind, and a
//! forward call on the seed's weights for every request that decodes. Errors are expected; a
//! panic, an abort or a leak is a finding.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scriptless::request_from_safetensors;

#[path = "common.rs"]
mod common;
#[path = "seed_models.rs"]
mod seed_models;

fuzz_target!(|data: &[u8]| {
    for model in seed_models::models() {
        if let Ok(inputs) =
            request_from_safetensors(data, model.kind(), "fuzz input", &common::LIMITS)
        {
            common::run(model, &inputs);
        }
    }
});
