//! Invariances of the three models on random configurations and batches: permuting the batch
//! permutes the outputs; what lies past each sequence's length (any values, NaN included, and
//! extra time steps) changes nothing; and a batch gives, row for row, what each row gives
//! alone. The sequence model runs on both LSTM kernels and, where the property holds, both
//! poolings; every model runs on every CPU tier this machine has (the same random
//! configurations on each).

mod common;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use common::{compare, uniform};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use scriptless::{
    CategoricalInputModule, CpuTier, Pooling, SequenceInputModule, StepKernel, TwoInputModule,
    Weights, META_FEATURE_WIDTH,
};

const TRIALS: usize = 24;

fn linear_weights(inp: usize, out: usize, rng: &mut StdRng) -> HashMap<String, Tensor> {
    let k = 1.0 / (inp as f32).sqrt();
    HashMap::from([
        ("linear.weight".to_string(), uniform(rng, &[out, inp], k)),
        ("linear.bias".to_string(), uniform(rng, &[out], k)),
    ])
}

/// Every CPU tier the tests run on.
fn tiers() -> Vec<CpuTier> {
    CpuTier::usable().unwrap()
}

/// A random sequence model on `tier`: any layers, directions, projection, bias; hidden sizes on
/// both sides of the tiled kernel's blocks (4, 8 or 16 units).
fn random_sequence_model(
    rng: &mut StdRng,
    kernel: StepKernel,
    tier: CpuTier,
) -> SequenceInputModule {
    let config = common::random_lstm_config(rng);
    let k = 1.0 / (config.hidden_size as f32).sqrt();
    let mut tensors: HashMap<String, Tensor> = config
        .tensor_shapes("rnn")
        .into_iter()
        .map(|(name, shape)| (name, uniform(rng, &shape, k)))
        .collect();
    tensors.extend(linear_weights(
        config.output_size(),
        rng.random_range(1..6),
        rng,
    ));
    let weights = Weights::from_tensors(tensors, HashMap::new());
    SequenceInputModule::from_weights(&weights, DType::F32, &Device::Cpu)
        .unwrap()
        .with_kernel(kernel)
        .unwrap()
        .with_cpu_tier(tier)
        .unwrap()
}

/// A padded batch of `lengths` with `extra` steps past the longest, and `fill` in every
/// position past a row's length.
fn padded(
    rng: &mut StdRng,
    lengths: &[usize],
    extra: usize,
    width: usize,
    fill: &mut dyn FnMut() -> f32,
) -> Tensor {
    let time = lengths.iter().max().unwrap() + extra;
    let mut data = Vec::with_capacity(lengths.len() * time * width);
    for &len in lengths {
        for t in 0..time {
            for _ in 0..width {
                data.push(if t < len {
                    rng.random_range(-2.0..2.0)
                } else {
                    fill()
                });
            }
        }
    }
    Tensor::from_vec(data, (lengths.len(), time, width), &Device::Cpu).unwrap()
}

fn lengths(rng: &mut StdRng) -> Vec<usize> {
    (0..rng.random_range(1..9))
        .map(|_| rng.random_range(1..10))
        .collect()
}

fn permute(t: &Tensor, order: &[usize], dim: usize) -> Tensor {
    let index: Vec<u32> = order.iter().map(|&i| i as u32).collect();
    let index = Tensor::new(index.as_slice(), t.device()).unwrap();
    t.index_select(&index, dim).unwrap()
}

/// Exactly equal, element for element: each row is computed by the same operations wherever it
/// sits in the batch and whatever lies in the padding.
fn assert_same(what: &str, got: &Tensor, want: &Tensor) {
    compare(got, want, 0.0, 0.0).unwrap_or_else(|e| panic!("{what}: {e}"));
}

#[test]
fn permuting_the_batch_permutes_every_output() {
    for tier in tiers() {
        let mut rng = StdRng::seed_from_u64(0xba7c4);
        for trial in 0..TRIALS {
            for kernel in [StepKernel::Fused, StepKernel::Composed] {
                let model = random_sequence_model(&mut rng, kernel, tier);
                let lstm = model.rnn();
                let lengths = lengths(&mut rng);
                let x = padded(&mut rng, &lengths, 0, lstm.config().input_size, &mut || 0.0);
                let mut order: Vec<usize> = (0..lengths.len()).collect();
                order.shuffle(&mut rng);
                let x_perm = permute(&x, &order, 0);
                let len_perm: Vec<usize> = order.iter().map(|&i| lengths[i]).collect();
                let ctx = format!(
                    "{tier}, trial {trial}, {kernel:?}, {:?}, lengths {lengths:?}, order {order:?}",
                    lstm.config()
                );
                for pooling in [Pooling::PaddedLast, Pooling::LastValid] {
                    let out = model.forward_lengths(&x, &lengths, pooling).unwrap();
                    let out_perm = model.forward_lengths(&x_perm, &len_perm, pooling).unwrap();
                    assert_same(
                        &format!("{ctx}, {pooling:?}"),
                        &out_perm,
                        &permute(&out, &order, 0),
                    );
                }
                let (a, b) = (
                    lstm.forward(&x, &lengths).unwrap(),
                    lstm.forward(&x_perm, &len_perm).unwrap(),
                );
                assert_same(
                    &format!("{ctx}: output"),
                    &b.output,
                    &permute(&a.output, &order, 0),
                );
                assert_same(&format!("{ctx}: h_n"), &b.h_n, &permute(&a.h_n, &order, 1));
                assert_same(&format!("{ctx}: c_n"), &b.c_n, &permute(&a.c_n, &order, 1));
            }

            // The two Linear models: rows are independent.
            let (inp, out, rows) = (
                rng.random_range(1..40),
                rng.random_range(1..20),
                rng.random_range(1..70),
            );
            let two = random_two_input(&mut rng, inp, out, tier);
            let (t1, t2) = (
                uniform(&mut rng, &[rows, inp], 2.0),
                uniform(&mut rng, &[rows, inp], 2.0),
            );
            let mut order: Vec<usize> = (0..rows).collect();
            order.shuffle(&mut rng);
            assert_same(
                &format!("{tier}, two-input, trial {trial}, in {inp}, out {out}, rows {rows}"),
                &two.forward(&permute(&t1, &order, 0), &permute(&t2, &order, 0))
                    .unwrap(),
                &permute(&two.forward(&t1, &t2).unwrap(), &order, 0),
            );
            let (cat, features, index) = random_categorical(&mut rng, rows, tier);
            assert_same(
                &format!("{tier}, categorical, trial {trial}, rows {rows}"),
                &cat.forward(&permute(&features, &order, 0), &permute(&index, &order, 0))
                    .unwrap(),
                &permute(&cat.forward(&features, &index).unwrap(), &order, 0),
            );
        }
    }
}

/// A categorical model of random sizes, and `rows` random inputs for it.
/// A two-input model `inp → out` with random weights, on `tier`.
fn random_two_input(rng: &mut StdRng, inp: usize, out: usize, tier: CpuTier) -> TwoInputModule {
    let weights = Weights::from_tensors(linear_weights(inp, out, rng), HashMap::new());
    TwoInputModule::from_weights(&weights, DType::F32, &Device::Cpu)
        .unwrap()
        .with_cpu_tier(tier)
        .unwrap()
}

fn random_categorical(
    rng: &mut StdRng,
    rows: usize,
    tier: CpuTier,
) -> (CategoricalInputModule, Tensor, Tensor) {
    let (features, categories) = (rng.random_range(1..30), rng.random_range(1..9));
    let weights = Weights::from_tensors(
        linear_weights(features + categories, rng.random_range(1..20), rng),
        HashMap::from([(META_FEATURE_WIDTH.to_string(), features.to_string())]),
    );
    let model = CategoricalInputModule::from_weights(&weights, DType::F32, &Device::Cpu)
        .unwrap()
        .with_cpu_tier(tier)
        .unwrap();
    let index: Vec<i64> = (0..rows)
        .map(|_| rng.random_range(0..categories as i64))
        .collect();
    (
        model,
        uniform(rng, &[rows, features], 2.0),
        Tensor::from_vec(index, rows, &Device::Cpu).unwrap(),
    )
}

#[test]
fn padding_values_and_extra_steps_change_nothing() {
    for tier in tiers() {
        let mut rng = StdRng::seed_from_u64(0x9add);
        for trial in 0..TRIALS {
            for kernel in [StepKernel::Fused, StepKernel::Composed] {
                let model = random_sequence_model(&mut rng, kernel, tier);
                let lstm = model.rnn();
                let width = lstm.config().input_size;
                let lengths = lengths(&mut rng);
                // The same valid values (same seed), zeros past each length versus poison and up to
                // three extra steps of it.
                let seed: u64 = rng.random();
                let clean = padded(
                    &mut StdRng::seed_from_u64(seed),
                    &lengths,
                    0,
                    width,
                    &mut || 0.0,
                );
                let poison = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 3e38, -1e5];
                let mut pick = StdRng::seed_from_u64(seed ^ 1);
                let extra = rng.random_range(0..4);
                let dirty = padded(
                    &mut StdRng::seed_from_u64(seed),
                    &lengths,
                    extra,
                    width,
                    &mut || poison[pick.random_range(0..poison.len())],
                );
                let ctx = format!(
                    "{tier}, trial {trial}, {kernel:?}, {:?}, lengths {lengths:?}, +{extra} steps",
                    lstm.config()
                );
                for pooling in [Pooling::PaddedLast, Pooling::LastValid] {
                    assert_same(
                        &format!("{ctx}, {pooling:?}"),
                        &model.forward_lengths(&dirty, &lengths, pooling).unwrap(),
                        &model.forward_lengths(&clean, &lengths, pooling).unwrap(),
                    );
                }
                let (a, b) = (
                    lstm.forward(&clean, &lengths).unwrap(),
                    lstm.forward(&dirty, &lengths).unwrap(),
                );
                assert_same(&format!("{ctx}: output"), &b.output, &a.output);
                assert_same(&format!("{ctx}: h_n"), &b.h_n, &a.h_n);
                assert_same(&format!("{ctx}: c_n"), &b.c_n, &a.c_n);
            }
        }
    }
}

#[test]
fn a_batch_gives_what_each_row_gives_alone() {
    for tier in tiers() {
        let mut rng = StdRng::seed_from_u64(0x5111);
        for trial in 0..TRIALS {
            for kernel in [StepKernel::Fused, StepKernel::Composed] {
                // Each row's own last step (the seed's pooling reads padding in a batch, by design).
                let model = random_sequence_model(&mut rng, kernel, tier);
                let lengths = lengths(&mut rng);
                let x = padded(
                    &mut rng,
                    &lengths,
                    0,
                    model.rnn().config().input_size,
                    &mut || 0.0,
                );
                let batch = model
                    .forward_lengths(&x, &lengths, Pooling::LastValid)
                    .unwrap();
                for (b, &len) in lengths.iter().enumerate() {
                    let alone = x.narrow(0, b, 1).unwrap().narrow(1, 0, len).unwrap();
                    let ctx = format!(
                        "{tier}, trial {trial}, {kernel:?}, row {b} of {lengths:?}, {:?}",
                        model.rnn().config()
                    );
                    for pooling in [Pooling::PaddedLast, Pooling::LastValid] {
                        // Alone, the two poolings agree: the longest row is the row itself.
                        let got = model.forward_lengths(&alone, &[len], pooling).unwrap();
                        compare(&batch.narrow(0, b, 1).unwrap(), &got, 1e-6, 0.0)
                            .unwrap_or_else(|e| panic!("{ctx}, {pooling:?}: {e}"));
                    }
                }
            }

            let rows = rng.random_range(1..40);
            let (cat, features, index) = random_categorical(&mut rng, rows, tier);
            let all = cat.forward(&features, &index).unwrap();
            let (inp, out) = (rng.random_range(1..40), rng.random_range(1..20));
            let two = random_two_input(&mut rng, inp, out, tier);
            // tensor2 is one row, broadcast over the batch.
            let (t1, t2) = (
                uniform(&mut rng, &[rows, inp], 2.0),
                uniform(&mut rng, &[inp], 2.0),
            );
            let all_two = two.forward(&t1, &t2).unwrap();
            for r in 0..rows {
                let row = |t: &Tensor| t.narrow(0, r, 1).unwrap();
                compare(
                    &row(&all),
                    &cat.forward(&row(&features), &row(&index)).unwrap(),
                    1e-6,
                    0.0,
                )
                .unwrap_or_else(|e| {
                    panic!("{tier}, categorical, trial {trial}, row {r} of {rows}: {e}")
                });
                compare(
                    &row(&all_two),
                    &two.forward(&row(&t1), &t2).unwrap(),
                    1e-6,
                    0.0,
                )
                .unwrap_or_else(|e| {
                    panic!("{tier}, two-input, trial {trial}, row {r} of {rows}: {e}")
                });
            }
        }
    }
}
