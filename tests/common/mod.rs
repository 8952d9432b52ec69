//! Helpers shared by the integration tests: fixtures and `torch.allclose`-style comparison.
#![allow(dead_code)] // each test binary uses its own subset

pub mod command;
pub mod npz;
pub mod reference;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::Value;

/// PyTorch parity tolerances for f32 outputs.
pub const ATOL: f64 = 2e-5;
pub const RTOL: f64 = 1e-4;

/// The documented tolerances (docs/parity.md, "Precision") of a model computing in f16 or bf16
/// against PyTorch's f32 outputs, `(atol, rtol)` as in `torch.allclose`: 16 units of roundoff
/// of the format (2^-11 for f16, 2^-8 for bf16), for both.
pub const F16_TOLERANCE: (f64, f64) = (16.0 / 2048.0, 16.0 / 2048.0);
pub const BF16_TOLERANCE: (f64, f64) = (16.0 / 256.0, 16.0 / 256.0);

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    root().join("tests/fixtures")
}

/// The fixture manifest written by `python/export.py`.
pub fn manifest() -> Value {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest.json is JSON")
}

/// Every case of the manifest: (name, model kind, config).
pub fn cases() -> Vec<(String, String, Value)> {
    manifest()["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().expect("name").to_string(),
                c["model"].as_str().expect("model").to_string(),
                c["config"].clone(),
            )
        })
        .collect()
}

pub fn load(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Like `torch.allclose(got, expected, rtol, atol)`, but returns a description of the worst
/// element when they are not close.
pub fn compare(got: &Tensor, expected: &Tensor, atol: f64, rtol: f64) -> Result<f64, String> {
    if got.dims() != expected.dims() {
        return Err(format!(
            "shape {:?}, expected {:?}",
            got.dims(),
            expected.dims()
        ));
    }
    let g = flat_f64(got);
    let e = flat_f64(expected);
    let mut worst: Option<(usize, f64)> = None; // (index, excess over the allowed difference)
    let mut max_abs = 0f64;
    for (i, (a, b)) in g.iter().zip(&e).enumerate() {
        let diff = (a - b).abs();
        max_abs = max_abs.max(diff);
        let excess = diff - (atol + rtol * b.abs());
        let outside = excess > 0.0 || excess.is_nan(); // NaN never counts as close
        if outside && worst.is_none_or(|(_, w)| excess > w) {
            worst = Some((i, excess));
        }
    }
    match worst {
        None => Ok(max_abs),
        Some((i, _)) => Err(format!(
            "not close (atol {atol:e}, rtol {rtol:e}): worst element {} got {} expected {} (|diff| {:e}); max |diff| {max_abs:e}",
            index(got.dims(), i),
            g[i],
            e[i],
            (g[i] - e[i]).abs()
        )),
    }
}

/// Panics with the worst element unless `got` and `expected` are close.
pub fn assert_close(what: &str, got: &Tensor, expected: &Tensor) {
    if let Err(msg) = compare(got, expected, ATOL, RTOL) {
        panic!("{what}: {msg}");
    }
}

pub fn flat_f64(t: &Tensor) -> Vec<f64> {
    t.to_device(&Device::Cpu)
        .and_then(|t| t.to_dtype(DType::F64))
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f64>())
        .expect("tensor to f64")
}

fn index(dims: &[usize], mut flat: usize) -> String {
    let mut idx = vec![0; dims.len()];
    for (k, &d) in dims.iter().enumerate().rev() {
        idx[k] = flat % d.max(1);
        flat /= d.max(1);
    }
    format!("{idx:?}")
}

/// A tensor of `shape` drawn from U(-k, k).
pub fn uniform(rng: &mut StdRng, shape: &[usize], k: f32) -> Tensor {
    let n = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| rng.random_range(-k..k)).collect();
    Tensor::from_vec(data, shape, &Device::Cpu).expect("tensor from random values")
}

/// A random LSTM configuration: 1–3 layers, either direction, a projection 30% of the time, no
/// bias 20% of the time. In f32 without projection the AVX-512 kernel (when the CPU has it) runs
/// 16-unit blocks, padding the last: hidden sizes are drawn below one block, at whole blocks
/// and just past them.
pub fn random_lstm_config(rng: &mut StdRng) -> scriptless::LstmConfig {
    let hidden_size = match rng.random_range(0..4) {
        0 => 16 * rng.random_range(1..3),
        1 => 16 * rng.random_range(1..3) + rng.random_range(1..4),
        _ => rng.random_range(1..12),
    };
    scriptless::LstmConfig {
        input_size: rng.random_range(1..8),
        hidden_size,
        proj_size: if hidden_size > 1 && rng.random_bool(0.3) {
            rng.random_range(1..hidden_size)
        } else {
            0
        },
        num_layers: rng.random_range(1..4),
        bidirectional: rng.random_bool(0.5),
        bias: rng.random_bool(0.8),
    }
}
