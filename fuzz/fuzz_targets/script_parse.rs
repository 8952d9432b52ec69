//! The TorchScript parser on arbitrary text: the bytes, as lossy UTF-8, parsed as a code file.
//! Errors are expected; a panic, a stack overflow, a leak or a hang is a finding. The corpus
//! starts from the seed's code files (see scripts/fuzz.sh), so that mutations stay close to
//! the printer's code.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    let _ = scriptless::script::parse("code/__torch__/fuzzed.py", &text);
});
