//! Properties of the masked LSTM on random configurations: a ragged batch gives, row for row,
//! what each sequence gives alone and unpadded; and both agree with the plain f64 reference of
//! `common/reference.rs`, written independently of the library from PyTorch's equations. Both
//! kernels run on every CPU tier this machine has.

mod common;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use common::{compare, flat_f64, reference};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use scriptless::{CpuTier, LstmConfig, MaskedLstm, StepKernel, Weights};

/// Random LSTM weights under PyTorch's names, drawn from U(-k, k) with k = 1/sqrt(H) like
/// PyTorch's init, scaled by `scale`.
fn random_weights(config: &LstmConfig, rng: &mut StdRng, scale: f32) -> HashMap<String, Tensor> {
    let k = scale / (config.hidden_size as f32).sqrt();
    config
        .tensor_shapes("")
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n).map(|_| rng.random_range(-k..k)).collect();
            (name, Tensor::from_vec(data, shape, &Device::Cpu).unwrap())
        })
        .collect()
}

fn rows(t: &Tensor) -> Vec<f64> {
    flat_f64(t)
}

#[test]
fn ragged_batch_equals_each_sequence_alone_and_the_reference() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    for trial in 0..40 {
        let config = common::random_lstm_config(&mut rng);
        let weights = random_weights(&config, &mut rng, if trial % 4 == 3 { 3.0 } else { 1.0 });
        let vb = Weights::from_tensors(weights.clone(), HashMap::new())
            .var_builder(DType::F32, &Device::Cpu);
        for kernel in [StepKernel::Fused, StepKernel::Composed] {
            let batch = rng.random_range(1..7);
            let lengths: Vec<usize> = (0..batch).map(|_| rng.random_range(1..12)).collect();
            let max_len = *lengths.iter().max().unwrap();
            let time = max_len + rng.random_range(0..3); // sometimes longer than any sequence
            let data: Vec<f32> = (0..batch * time * config.input_size)
                .map(|_| rng.random_range(-2.0..2.0))
                .collect();
            let padded =
                Tensor::from_vec(data, (batch, time, config.input_size), &Device::Cpu).unwrap();
            for tier in CpuTier::usable().unwrap() {
                let lstm = MaskedLstm::load(vb.clone(), &config)
                    .unwrap()
                    .with_kernel(kernel)
                    .unwrap()
                    .with_cpu_tier(tier)
                    .unwrap();
                let out = lstm.forward(&padded, &lengths).unwrap();
                let width = config.output_size();
                assert_eq!(
                    out.output.dims(),
                    &[batch, max_len, width],
                    "trial {trial}: {config:?}"
                );

                for (b, &len) in lengths.iter().enumerate() {
                    let ctx = format!(
                    "{kernel:?}, {tier}, trial {trial}, row {b} of lengths {lengths:?}, {config:?}"
                );
                    // Alone and unpadded, through the library.
                    let single = padded.narrow(0, b, 1).unwrap().narrow(1, 0, len).unwrap();
                    let alone = lstm.forward(&single, &[len]).unwrap();
                    let row = out.output.get(b).unwrap();
                    let valid = row.narrow(0, 0, len).unwrap();
                    compare(&valid, &alone.output.get(0).unwrap(), 1e-6, 0.0)
                        .unwrap_or_else(|e| panic!("{ctx}: output {e}"));
                    if len < max_len {
                        let pad = rows(&row.narrow(0, len, max_len - len).unwrap());
                        assert!(
                            pad.iter().all(|&v| v == 0.0),
                            "{ctx}: output past the length is not zero"
                        );
                    }
                    let h_b = out.h_n.narrow(1, b, 1).unwrap();
                    let c_b = out.c_n.narrow(1, b, 1).unwrap();
                    compare(&h_b, &alone.h_n, 1e-6, 0.0)
                        .unwrap_or_else(|e| panic!("{ctx}: h_n {e}"));
                    compare(&c_b, &alone.c_n, 1e-6, 0.0)
                        .unwrap_or_else(|e| panic!("{ctx}: c_n {e}"));

                    // Against the f64 reference.
                    let x: Vec<Vec<f64>> = (0..len)
                        .map(|t| rows(&single.get(0).unwrap().get(t).unwrap()))
                        .collect();
                    let weight = |name: &str| flat_f64(&weights[name]);
                    let (ref_out, ref_h, ref_c) = reference::lstm(&weight, &config, &x);
                    let flat: Vec<f64> = ref_out.concat();
                    let got = rows(&valid);
                    let worst = got
                        .iter()
                        .zip(&flat)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0, f64::max);
                    assert!(
                        worst < 1e-5,
                        "{ctx}: output differs from the f64 reference by {worst:e}"
                    );
                    let got_h = rows(&h_b);
                    let got_c = rows(&c_b);
                    let worst_h = got_h
                        .iter()
                        .zip(ref_h.concat())
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0, f64::max);
                    let worst_c = got_c
                        .iter()
                        .zip(ref_c.concat())
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0, f64::max);
                    assert!(
                        worst_h < 1e-5 && worst_c < 1e-5,
                        "{ctx}: h_n/c_n differ from the reference by {worst_h:e}/{worst_c:e}"
                    );
                }
            }
        }
    }
}

#[test]
fn wide_layers_match_the_composed_path() {
    // hidden 64 × batch 70 is over the tiled kernel's threading threshold (4H·(I+H)·B ≥ 2^20
    // multiply-adds per step), so on a multi-core machine this runs the threaded tiles on every
    // tier; the batch is not a multiple of any tier's tile rows (2 or 6), and two layers both ways cover every
    // direction and a layer input wider than the first.
    let mut rng = StdRng::seed_from_u64(0x71de);
    let config = LstmConfig {
        input_size: 5,
        hidden_size: 64,
        proj_size: 0,
        num_layers: 2,
        bidirectional: true,
        bias: true,
    };
    let weights = random_weights(&config, &mut rng, 1.0);
    let vb = Weights::from_tensors(weights, HashMap::new()).var_builder(DType::F32, &Device::Cpu);
    let composed = MaskedLstm::load(vb.clone(), &config)
        .unwrap()
        .with_kernel(StepKernel::Composed)
        .unwrap();
    let batch = 70;
    let lengths: Vec<usize> = (0..batch).map(|b| 1 + (b * 7) % 9).collect();
    let data: Vec<f32> = (0..batch * 9 * 5)
        .map(|_| rng.random_range(-2.0..2.0))
        .collect();
    let padded = Tensor::from_vec(data, (batch, 9, 5), &Device::Cpu).unwrap();
    let b = composed.forward(&padded, &lengths).unwrap();
    for tier in CpuTier::usable().unwrap() {
        let fused = MaskedLstm::load(vb.clone(), &config)
            .unwrap()
            .with_cpu_tier(tier)
            .unwrap();
        let a = fused.forward(&padded, &lengths).unwrap();
        compare(&a.output, &b.output, 1e-5, 1e-4).unwrap_or_else(|e| panic!("{tier}: output: {e}"));
        compare(&a.h_n, &b.h_n, 1e-5, 1e-4).unwrap_or_else(|e| panic!("{tier}: h_n: {e}"));
        compare(&a.c_n, &b.c_n, 1e-5, 1e-4).unwrap_or_else(|e| panic!("{tier}: c_n: {e}"));
    }
}

#[test]
fn fused_kernel_is_refused_where_it_does_not_run() {
    let mut rng = StdRng::seed_from_u64(7);
    let config = common::random_lstm_config(&mut rng);
    let weights = Weights::from_tensors(random_weights(&config, &mut rng, 1.0), HashMap::new());
    let lstm = MaskedLstm::load(weights.var_builder(DType::F16, &Device::Cpu), &config).unwrap();
    assert_eq!(lstm.kernel(), StepKernel::Composed);
    let err = lstm.with_kernel(StepKernel::Fused).unwrap_err().to_string();
    assert!(
        err.contains("fused LSTM kernel runs on the CPU in f32 or f64"),
        "{err}"
    );
}
