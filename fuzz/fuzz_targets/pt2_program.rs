//! `.pt2` programs run by their graphs: the bytes are a program's JSON (`models/model.json`),
//! written into a real archive (`tests/fixtures/not_seed/two_input_product/weights.pt2`, whose
//! parameters the graph may name), loaded with `Program::from_bytes` and, when it loads, called
//! with a tensor of the declared dtype and the smallest allowed sizes for every tensor argument.
//! The corpus starts from the corpus models' graphs, both flavours (see scripts/fuzz.sh), so
//! that mutations stay close to what torch.export writes. Errors are expected; a panic, an
//! abort, a leak or an allocation past the limits is a finding.

#![no_main]

use std::io::{Read, Write};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use scriptless::script::{Dim, Options, Program, Value};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

#[path = "common.rs"]
mod common;

const ARCHIVE: &[u8] = include_bytes!("../../tests/fixtures/not_seed/two_input_product/weights.pt2");

/// The archive's entries but its program.
fn entries() -> &'static Vec<(String, Vec<u8>)> {
    static ENTRIES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        let mut zip = ZipArchive::new(std::io::Cursor::new(ARCHIVE)).expect("the fixture");
        (0..zip.len())
            .filter_map(|i| {
                let mut e = zip.by_index(i).ok()?;
                let name = e.name().ok()?.to_string();
                let mut data = Vec::new();
                e.read_to_end(&mut data).ok()?;
                (!name.ends_with("models/model.json")).then_some((name, data))
            })
            .collect()
    })
}

fn archive(program: &[u8]) -> Vec<u8> {
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    let program_entry = ("weights/models/model.json".to_string(), program.to_vec());
    for (name, bytes) in entries().iter().chain(std::iter::once(&program_entry)) {
        if zip.start_file(name.as_str(), options).is_err() || zip.write_all(bytes).is_err() {
            return Vec::new();
        }
    }
    zip.finish().map(|c| c.into_inner()).unwrap_or_default()
}

fuzz_target!(|bytes: &[u8]| {
    let options = Options {
        limits: common::LIMITS,
        ..Options::default()
    };
    let Ok(program) = Program::from_bytes(&archive(bytes), "fuzz input", &options) else {
        return;
    };
    let mut args = Vec::new();
    for p in &program.signature().params {
        let mut tensors = Vec::new();
        for spec in &p.tensors {
            let dims: Vec<usize> = spec
                .dims
                .iter()
                .map(|d| match d {
                    Dim::Static(n) => (*n).min(64),
                    Dim::Dynamic { min, .. } => (*min).clamp(0, 64) as usize,
                    Dim::Derived(_) => 1,
                })
                .collect();
            let Ok(t) = candle_core::Tensor::zeros(dims, spec.dtype.candle(), &candle_core::Device::Cpu)
            else {
                return;
            };
            let Ok(t) = scriptless::ops::Tensor::with_type(t, spec.dtype) else {
                return;
            };
            tensors.push(Value::Tensor(t));
        }
        let value = match (p.ty.name.as_str(), tensors.len()) {
            (_, 0) => continue,
            ("Tensor", 1) => tensors.remove(0),
            _ => Value::List(tensors),
        };
        args.push((p.name.clone(), value));
    }
    let _ = program.forward(args);
});
