//! Differential: a random LSTM configuration (layers, directions, sizes, projection, bias) and
//! a ragged batch, drawn from the fuzzer's bytes, through the masked LSTM, on both kernels and
//! every CPU tier this machine has, in f32 and f64, against the plain per-sequence f64 loop of
//! `tests/common/reference.rs` (written independently of the library). The padding past each
//! length is filled with NaN and infinities, which must never reach a result. Any mismatch
//! panics.

#![no_main]

use std::collections::HashMap;

use arbitrary::Arbitrary;
use candle_core::{DType, Device, Tensor};
use libfuzzer_sys::fuzz_target;
use scriptless::{CpuTier, LstmConfig, MaskedLstm, StepKernel, Weights};

#[path = "../../tests/common/reference.rs"]
mod reference;

#[derive(Debug, Arbitrary)]
struct Case {
    input_size: u8,
    hidden_size: u8,
    proj: u8,
    num_layers: u8,
    bidirectional: bool,
    bias: bool,
    lengths: Vec<u8>,
    extra_steps: u8,
    weight_scale: u8,
    seed: u64,
}

/// SplitMix64: the weights and inputs from the case's seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [-k, k).
    fn uniform(&mut self, k: f64) -> f64 {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * k
    }
}

fn config(case: &Case) -> LstmConfig {
    let hidden_size = 1 + case.hidden_size as usize % 40;
    LstmConfig {
        input_size: 1 + case.input_size as usize % 9,
        hidden_size,
        // A third of the configurations project, to any size below hidden_size.
        proj_size: if hidden_size > 1 && case.proj % 3 == 0 {
            1 + (case.proj as usize / 3) % (hidden_size - 1)
        } else {
            0
        },
        num_layers: 1 + case.num_layers as usize % 3,
        bidirectional: case.bidirectional,
        bias: case.bias,
    }
}

fuzz_target!(|case: Case| {
    let config = config(&case);
    let lengths: Vec<usize> = case
        .lengths
        .iter()
        .take(8)
        .map(|&l| 1 + l as usize % 12)
        .collect();
    let Some(&max_len) = lengths.iter().max() else {
        return;
    };
    let (batch, time) = (lengths.len(), max_len + case.extra_steps as usize % 3);
    let mut rng = Rng(case.seed);

    // PyTorch's init range 1/sqrt(H), scaled by 1, 2 or 4.
    let k = f64::from(1u8 << (case.weight_scale % 3)) / (config.hidden_size as f64).sqrt();
    let mut flat: HashMap<String, Vec<f64>> = HashMap::new();
    let mut tensors = HashMap::new();
    for (name, shape) in config.tensor_shapes("") {
        let n: usize = shape.iter().product();
        // Rounded to f32 so that the f32 model and the f64 reference hold the same weights.
        let values: Vec<f64> = (0..n).map(|_| rng.uniform(k) as f32 as f64).collect();
        let t = Tensor::from_vec(values.clone(), shape, &Device::Cpu).expect("weights tensor");
        flat.insert(name.clone(), values);
        tensors.insert(name, t);
    }
    let weights = Weights::from_tensors(tensors, HashMap::new());

    let width = config.input_size;
    let poison = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e30];
    let mut data = vec![0.0; batch * time * width];
    for (b, &len) in lengths.iter().enumerate() {
        for t in 0..time {
            for j in 0..width {
                data[(b * time + t) * width + j] = if t < len {
                    rng.uniform(2.0) as f32 as f64
                } else {
                    poison[(rng.next() % 4) as usize]
                };
            }
        }
    }
    let padded = Tensor::from_vec(data.clone(), (batch, time, width), &Device::Cpu).expect("input");

    // The reference, one unpadded sequence at a time.
    let weight = |name: &str| flat[name].clone();
    let expected: Vec<_> = lengths
        .iter()
        .enumerate()
        .map(|(b, &len)| {
            let x: Vec<Vec<f64>> = (0..len)
                .map(|t| data[(b * time + t) * width..][..width].to_vec())
                .collect();
            reference::lstm(&weight, &config, &x)
        })
        .collect();

    for dtype in [DType::F32, DType::F64] {
        // f64 must agree with the f64 reference to rounding; f32 to its own resolution.
        let tol = if dtype == DType::F64 { 1e-9 } else { 2e-4 };
        let tiers = CpuTier::usable().expect("SCRIPTLESS_CPU");
        let runs = [StepKernel::Fused, StepKernel::Composed]
            .into_iter()
            .flat_map(|kernel| tiers.iter().map(move |&tier| (kernel, tier)));
        for (kernel, tier) in runs {
            let ctx =
                format!("{dtype:?} {kernel:?} {tier} {config:?} lengths {lengths:?} time {time}");
            let lstm = MaskedLstm::load(weights.var_builder(dtype, &Device::Cpu), &config)
                .and_then(|l| l.with_kernel(kernel))
                .and_then(|l| l.with_cpu_tier(tier))
                .unwrap_or_else(|e| panic!("{ctx}: load: {e}"));
            let out = lstm
                .forward(&padded, &lengths)
                .unwrap_or_else(|e| panic!("{ctx}: forward: {e}"));
            let d = config.num_directions();
            let (w_out, h_out, hidden) = (config.output_size(), config.h_out(), config.hidden_size);
            assert_eq!(out.output.dims(), &[batch, max_len, w_out], "{ctx}");
            assert_eq!(
                out.h_n.dims(),
                &[config.num_layers * d, batch, h_out],
                "{ctx}"
            );
            assert_eq!(
                out.c_n.dims(),
                &[config.num_layers * d, batch, hidden],
                "{ctx}"
            );
            let values = |t: &Tensor| -> Vec<f64> {
                t.to_dtype(DType::F64)
                    .and_then(|t| t.flatten_all())
                    .and_then(|t| t.to_vec1::<f64>())
                    .expect("to f64")
            };
            let (output, h_n, c_n) = (values(&out.output), values(&out.h_n), values(&out.c_n));
            let close = |got: f64, want: f64| (got - want).abs() <= tol * (1.0 + want.abs());
            for (b, (&len, (ref_out, ref_h, ref_c))) in lengths.iter().zip(&expected).enumerate() {
                for t in 0..max_len {
                    for j in 0..w_out {
                        let got = output[(b * max_len + t) * w_out + j];
                        let want = if t < len { ref_out[t][j] } else { 0.0 };
                        assert!(
                            close(got, want),
                            "{ctx}: output[{b}][{t}][{j}] = {got}, reference {want}"
                        );
                    }
                }
                for (s, (rh, rc)) in ref_h.iter().zip(ref_c).enumerate() {
                    for j in 0..h_out {
                        let got = h_n[(s * batch + b) * h_out + j];
                        assert!(
                            close(got, rh[j]),
                            "{ctx}: h_n[{s}][{b}][{j}] = {got}, reference {}",
                            rh[j]
                        );
                    }
                    for j in 0..hidden {
                        let got = c_n[(s * batch + b) * hidden + j];
                        assert!(
                            close(got, rc[j]),
                            "{ctx}: c_n[{s}][{b}][{j}] = {got}, reference {}",
                            rc[j]
                        );
                    }
                }
            }
        }
    }
});
