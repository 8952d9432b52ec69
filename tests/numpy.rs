//! NumPy's own files: every fixture's `input.npz` (`np.savez`, entries stored) and
//! `input_compressed.npz` (`np.savez_compressed`, deflated) decode to exactly the tensors of
//! its `input.safetensors` and give bit-identical outputs; the `.npy` writer writes the bytes
//! numpy wrote; and `scriptless run` reads `.npz` and writes `.npy`, failing on one line with
//! no output file.

mod common;

use std::io::{Cursor, Read};
use std::path::Path;
use std::process::Output;

use candle_core::{DType, Device, Tensor};
use common::command::run as scriptless;
use common::{cases, fixtures, load};
use scriptless::{
    npy_bytes, request_from_npz, request_from_safetensors, Limits, Model, ModelInputs, ModelKind,
    Pooling, Weights,
};
use zip::{CompressionMethod, ZipArchive};

/// The numpy files of each fixture, and how `np.savez` or `np.savez_compressed` stores their
/// entries.
const NPZ_FILES: [(&str, CompressionMethod); 2] = [
    ("input.npz", CompressionMethod::Stored),
    ("input_compressed.npz", CompressionMethod::Deflated),
];

/// A tensor's dtype, shape and bytes, for bit-for-bit comparisons.
fn bits(t: &Tensor) -> (DType, Vec<usize>, Vec<u8>) {
    (t.dtype(), t.dims().to_vec(), npy_bytes(t).unwrap())
}

fn request(dir: &Path, file: &str, kind: ModelKind) -> ModelInputs {
    let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let limits = Limits::default();
    let decoded = if file.ends_with(".npz") {
        request_from_npz(&bytes, kind, file, &limits)
    } else {
        request_from_safetensors(&bytes, kind, file, &limits)
    };
    decoded.unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()))
}

/// Each entry of the archive `bytes`: its name, compression and bytes.
fn entries(bytes: &[u8]) -> Vec<(String, CompressionMethod, Vec<u8>)> {
    let mut zip = ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut entry = zip.by_index(i).unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            (entry.name().unwrap().to_string(), entry.compression(), data)
        })
        .collect()
}

#[test]
fn every_fixtures_npz_files_give_its_safetensors_request_and_outputs_bit_for_bit() {
    let cases = cases();
    assert!(cases.len() >= 20);
    for (name, kind, _) in &cases {
        let kind: ModelKind = kind.parse().unwrap();
        let dir = fixtures().join(name);
        let reference = request(&dir, "input.safetensors", kind);
        let weights = Weights::read(dir.join("weights.safetensors")).unwrap();
        let models: Vec<(DType, Model)> = [DType::F32, DType::F64]
            .into_iter()
            .map(|dtype| {
                let model = Model::from_weights(&weights, kind, dtype, &Device::Cpu).unwrap();
                (dtype, model)
            })
            .collect();
        let poolings: &[Pooling] = match kind {
            ModelKind::Sequence => &[Pooling::PaddedLast, Pooling::LastValid],
            _ => &[Pooling::PaddedLast],
        };
        for (file, method) in NPZ_FILES {
            let what = format!("{name}/{file}");
            let bytes = std::fs::read(dir.join(file)).unwrap();
            for (entry, compression, _) in entries(&bytes) {
                assert_eq!(compression, method, "{what}: {entry}");
            }
            let inputs = request(&dir, file, kind);
            for (got, want) in inputs.tensors().iter().zip(reference.tensors()) {
                assert_eq!(bits(got), bits(want), "{what}");
            }
            for (dtype, model) in &models {
                for &pooling in poolings {
                    let got = model.forward(&inputs, pooling).unwrap();
                    let want = model.forward(&reference, pooling).unwrap();
                    assert_eq!(bits(&got), bits(&want), "{what}: {dtype:?} {pooling:?}");
                }
            }
        }
    }
}

#[test]
fn the_npy_writer_writes_the_bytes_numpy_wrote_for_every_fixture_array() {
    for (name, kind, _) in &cases() {
        let kind: ModelKind = kind.parse().unwrap();
        let dir = fixtures().join(name);
        let inputs = request(&dir, "input.npz", kind);
        let bytes = std::fs::read(dir.join("input.npz")).unwrap();
        let entries = entries(&bytes);
        assert_eq!(entries.len(), 2, "{name}");
        for (entry, _, numpys) in entries {
            let array = entry.strip_suffix(".npy").unwrap();
            let index = kind.input_names().iter().position(|n| *n == array).unwrap();
            let ours = npy_bytes(inputs.tensors()[index]).unwrap();
            assert!(
                ours == numpys,
                "{name}/{entry}: ours\n{:?}\nnumpy's\n{:?}",
                String::from_utf8_lossy(&ours[..ours.len().min(160)]),
                String::from_utf8_lossy(&numpys[..numpys.len().min(160)])
            );
        }
    }
}

#[test]
fn npy_outputs_hold_every_dtype_numpy_has() {
    let values = [1.5f32, -0.1, 3.0e-5, 65504.0, 1.0e30, -0.0];
    let t = Tensor::new(&values, &Device::Cpu).unwrap();
    for dtype in [DType::F16, DType::F32, DType::F64] {
        let bytes = npy_bytes(&t.to_dtype(dtype).unwrap()).unwrap();
        let descr = match dtype {
            DType::F16 => "'<f2'",
            DType::F32 => "'<f4'",
            _ => "'<f8'",
        };
        assert!(String::from_utf8_lossy(&bytes[..128]).contains(descr));
    }
    // numpy has no bfloat16: float32 holds every bfloat16 exactly.
    let bf16 = t.to_dtype(DType::BF16).unwrap();
    let widened = bf16.to_dtype(DType::F32).unwrap();
    assert_eq!(npy_bytes(&bf16).unwrap(), npy_bytes(&widened).unwrap());
    // Types numpy cannot be given as requests' outputs are refused.
    let bytes = Tensor::new(&[1u8, 2], &Device::Cpu).unwrap();
    assert!(npy_bytes(&bytes).is_err());
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn succeeded(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

/// Asserts a failure: a non-zero exit, nothing on stdout, one line on stderr holding every
/// one of `parts`.
fn failed(out: &Output, parts: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "succeeded: {stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    for part in parts {
        assert!(stderr.contains(part), "`{part}` not in: {stderr}");
    }
}

#[test]
fn the_cli_reads_npz_and_writes_npy_holding_what_safetensors_holds() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("y.npy");
    let safetensors = dir.path().join("y.safetensors");
    for (weights, case) in [
        ("weights/sequence.safetensors", "sequence_seed"),
        ("weights/categorical.safetensors", "categorical_seed"),
        ("weights/two_input.safetensors", "two_input_seed"),
    ] {
        let inputs = fixtures().join(case);
        let reference = inputs.join("input.safetensors");
        for dtype in ["f32", "f64", "f16", "bf16"] {
            let run = |input: &Path, output: &Path| {
                scriptless(&[
                    "run",
                    "--weights",
                    weights,
                    "--input",
                    path(input),
                    "--dtype",
                    dtype,
                    "--output",
                    path(output),
                ])
            };
            succeeded(&run(&reference, &safetensors));
            let want = load(&safetensors)["output"].clone();
            for (file, _) in NPZ_FILES {
                succeeded(&run(&inputs.join(file), &npy));
                let got = std::fs::read(&npy).unwrap();
                assert!(
                    got == npy_bytes(&want).unwrap(),
                    "{case}/{file} --dtype {dtype}"
                );
            }
        }
    }
    // The seed's output, as numpy will read it.
    let header = std::fs::read(&npy).unwrap();
    let text = String::from_utf8_lossy(&header[10..128]);
    assert!(
        text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 10), }"),
        "{text}"
    );
}

#[test]
fn the_cli_refuses_a_bad_npz_on_one_line_leaving_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixtures().join("sequence_seed/input.npz")).unwrap();
    // The archive's first array stored big-endian: its descr `<f4` becomes `>f4`.
    let at = bytes.windows(5).position(|w| w == b"'<f4'").unwrap();
    let mut big_endian = bytes.clone();
    big_endian[at + 1] = b'>';
    let bad = dir.path().join("bad.npz");
    std::fs::write(&bad, &big_endian).unwrap();
    let output = dir.path().join("y.npy");
    let out = scriptless(&[
        "run",
        "--weights",
        "weights/sequence.safetensors",
        "--input",
        path(&bad),
        "--output",
        path(&output),
    ]);
    failed(&out, &["input `padded_seq`", "big-endian", "astype('<f4')"]);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["bad.npz"], "nothing but the input: {names:?}");

    // Arrays that take more than --max-input-bytes uncompressed, in a file that takes less.
    let compressed = fixtures().join("sequence_seed/input_compressed.npz");
    let bytes = std::fs::read(&compressed).unwrap();
    let declared: usize = entries(&bytes).iter().map(|(_, _, data)| data.len()).sum();
    assert!(declared > bytes.len());
    let limit = bytes.len().to_string();
    let out = scriptless(&[
        "run",
        "--weights",
        "weights/sequence.safetensors",
        "--input",
        path(&compressed),
        "--max-input-bytes",
        &limit,
        "--output",
        path(&output),
    ]);
    failed(
        &out,
        &[
            &format!("declare {declared} bytes uncompressed"),
            &format!("limit of {limit} bytes (--max-input-bytes)"),
        ],
    );
    assert!(!output.exists());
    // A .npy holds one array; the models take two.
    let one = dir.path().join("x.npy");
    std::fs::write(
        &one,
        npy_bytes(&Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap()).unwrap(),
    )
    .unwrap();
    let out = scriptless(&[
        "run",
        "--weights",
        "weights/sequence.safetensors",
        "--input",
        path(&one),
    ]);
    failed(
        &out,
        &[
            "x.npy",
            "holds one array",
            "np.savez(path, padded_seq=..., seq_lengths=...)",
        ],
    );
    // A .jsonl batch writes .jsonl, not .npy.
    let out = scriptless(&[
        "run",
        "--weights",
        "weights/sequence.safetensors",
        "--input",
        "examples/requests.jsonl",
        "--output",
        path(&output),
    ]);
    failed(&out, &["--output", ".jsonl"]);
    assert!(!output.exists());
}

#[test]
fn the_cli_help_names_npz_inputs_and_npy_outputs() {
    let out = scriptless(&["run", "--help"]);
    let help = String::from_utf8(out.stdout).unwrap();
    for part in [".npz", "`np.savez`", ".npy", "`np.save`"] {
        assert!(help.contains(part), "`{part}` not in:\n{help}");
    }
}
