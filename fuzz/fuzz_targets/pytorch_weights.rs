//! PyTorch weights files from arbitrary bytes: read as a `torch.save` or TorchScript zip
//! archive (the zip reader, the restricted pickle reader, storage views), then build and run
//! every model that builds, as the `weights` target does. Errors are expected; a panic, an
//! abort, a leak or an allocation past the limits is a finding.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scriptless::Weights;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(weights) = Weights::from_pytorch(data, "fuzz input", &common::LIMITS) else {
        return;
    };
    common::build_and_run_every_model(&weights);
});
