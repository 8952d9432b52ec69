//! The code inside archives: the seed's own TorchScript and `.pt2` archives with one code entry
//! (a `code/**.py` file, or the program `models/model.json`) spliced with arbitrary bytes, so
//! that the lexer, the grouping into classes and functions, the comparison with the seed's code
//! and the graph's writing-out see text that is mostly the printer's and partly anything. Whatever
//! reads is resolved (with and without a kind), built into every model and run. Errors and
//! refusals are expected; a panic, an abort, a leak or a hang is a finding.

#![no_main]

use std::io::{Cursor, Read, Write};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use scriptless::{ModelKind, Weights};
use zip::write::SimpleFileOptions;
use zip::{ZipArchive, ZipWriter};

#[path = "common.rs"]
mod common;

/// The seed's archives, each with the code entries that may be spliced.
const ARCHIVES: [&[u8]; 5] = [
    include_bytes!("../../weights/sequence.pt"),
    include_bytes!("../../weights/two_input.pt"),
    include_bytes!("../../weights/categorical.pt"),
    include_bytes!("../../weights/two_input.pt2"),
    include_bytes!("../../weights/categorical.pt2"),
];

#[derive(Arbitrary, Debug)]
struct Input {
    archive: u8,
    /// Which code entry (modulo their number).
    entry: u8,
    /// Where the splice starts and how many bytes it replaces, as fractions of the entry.
    at: u16,
    len: u16,
    bytes: Vec<u8>,
}

fn is_code(name: &str) -> bool {
    (name.contains("/code/") && name.ends_with(".py")) || name.ends_with("models/model.json")
}

/// The archive `base` with its `entry`-th code entry spliced as `input` says.
fn spliced(base: &[u8], input: &Input) -> Option<Vec<u8>> {
    let mut zip = ZipArchive::new(Cursor::new(base)).ok()?;
    let code: Vec<String> = zip
        .file_names()
        .filter_map(|n| Some(n.ok()?.into_owned()))
        .filter(|n| is_code(n))
        .collect();
    let target = code.get(input.entry as usize % code.len().max(1))?.clone();
    let mut out = ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).ok()?;
        let name = entry.name().ok()?.to_string();
        let options = SimpleFileOptions::default().compression_method(entry.compression());
        let mut data = Vec::new();
        entry.read_to_end(&mut data).ok()?;
        if name == target {
            let at = data.len() * input.at as usize / (u16::MAX as usize + 1);
            let end = (at + input.len as usize % 64).min(data.len());
            data.splice(at..end, input.bytes.iter().copied());
        }
        out.start_file(name, options).ok()?;
        out.write_all(&data).ok()?;
    }
    Some(out.finish().ok()?.into_inner())
}

fuzz_target!(|input: Input| {
    let base = ARCHIVES[input.archive as usize % ARCHIVES.len()];
    let Some(bytes) = spliced(base, &input) else {
        return;
    };
    let Ok(weights) = Weights::from_bytes(&bytes, "fuzzed", &common::LIMITS) else {
        return;
    };
    let _ = weights.code();
    let _ = ModelKind::resolve(None, &weights, "--model");
    for kind in ModelKind::ALL {
        let _ = ModelKind::resolve(Some(kind), &weights, "--model");
    }
    common::build_and_run_every_model(&weights);
});
