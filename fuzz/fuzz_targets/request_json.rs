//! Request decoding from arbitrary JSON text, for each model kind, and a forward call on the
//! seed's weights for every request that decodes. Errors are expected; a panic, an abort or a
//! leak is a finding.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scriptless::request_from_json;

#[path = "common.rs"]
mod common;
#[path = "seed_models.rs"]
mod seed_models;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for model in seed_models::models() {
        if let Ok(inputs) = request_from_json(
            text,
            model.kind(),
            model.dtype(),
            "fuzz input",
            &common::LIMITS,
        ) {
            common::run(model, &inputs);
        }
    }
});
