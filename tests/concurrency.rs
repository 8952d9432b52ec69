//! Models are `Send + Sync`: one loaded model serves 8 threads at once, each on its own inputs,
//! and every thread gets exactly what a sequential call gives.

mod common;

use std::collections::HashMap;
use std::sync::Barrier;

use candle_core::{DType, Device, Tensor};
use common::{compare, fixtures, uniform};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use scriptless::{
    CategoricalInputModule, Linear, LstmConfig, MaskedLstm, Model, ModelInputs, ModelKind, Pooling,
    SequenceInputModule, TwoInputModule, Weights,
};

const THREADS: usize = 8;
const CALLS_PER_THREAD: usize = 4;

#[test]
fn models_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Model>();
    send_sync::<TwoInputModule>();
    send_sync::<CategoricalInputModule>();
    send_sync::<SequenceInputModule>();
    send_sync::<MaskedLstm>();
    send_sync::<Linear>();
    send_sync::<Weights>();
}

/// Random inputs for `model`, different for every `seed`, with ragged lengths for sequences.
fn inputs(model: &Model, seed: u64) -> ModelInputs {
    let mut rng = StdRng::seed_from_u64(seed);
    let rows = rng.random_range(1..80);
    match model {
        Model::TwoInput(m) => {
            let n = m.config().in_features;
            ModelInputs::TwoInput {
                tensor1: uniform(&mut rng, &[rows, n], 2.0),
                tensor2: uniform(&mut rng, &[rows, n], 2.0),
            }
        }
        Model::Categorical(m) => {
            let c = m.config();
            let index: Vec<i64> = (0..rows)
                .map(|_| rng.random_range(0..c.num_categories as i64))
                .collect();
            ModelInputs::Categorical {
                tensor_input: uniform(&mut rng, &[rows, c.feature_width], 2.0),
                category_index: Tensor::from_vec(index, rows, &Device::Cpu).unwrap(),
            }
        }
        Model::Sequence(m) => {
            let lengths: Vec<i64> = (0..rows).map(|_| rng.random_range(1..16)).collect();
            let time = *lengths.iter().max().unwrap() as usize;
            ModelInputs::Sequence {
                padded_seq: uniform(&mut rng, &[rows, time, m.config().lstm.input_size], 2.0),
                seq_lengths: Tensor::from_vec(lengths, rows, &Device::Cpu).unwrap(),
            }
        }
    }
}

/// Runs `model` from 8 threads at once, released together, each on its own inputs several
/// times, and checks every result against the sequential one, bit for bit.
fn serves_threads(name: &str, model: &Model) {
    let requests: Vec<ModelInputs> = (0..THREADS as u64).map(|s| inputs(model, s)).collect();
    let sequential: Vec<Tensor> = requests
        .iter()
        .map(|r| model.forward(r, Pooling::LastValid).unwrap())
        .collect();
    let start = Barrier::new(THREADS);
    std::thread::scope(|scope| {
        let handles: Vec<_> = requests
            .iter()
            .map(|request| {
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    (0..CALLS_PER_THREAD)
                        .map(|_| model.forward(request, Pooling::LastValid).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for (t, handle) in handles.into_iter().enumerate() {
            for (call, got) in handle.join().unwrap().iter().enumerate() {
                compare(got, &sequential[t], 0.0, 0.0)
                    .unwrap_or_else(|e| panic!("{name}, thread {t}, call {call}: {e}"));
            }
        }
    });
}

#[test]
fn one_model_serves_eight_threads_with_sequential_results() {
    for (name, kind) in [
        ("two_input_sizes", ModelKind::TwoInput),
        ("categorical_7", ModelKind::Categorical),
        ("sequence_trained", ModelKind::Sequence),
        ("sequence_proj", ModelKind::Sequence),
    ] {
        let weights = Weights::read(fixtures().join(name).join("weights.safetensors")).unwrap();
        let model = Model::from_weights(&weights, kind, DType::F32, &Device::Cpu).unwrap();
        serves_threads(name, &model);
    }
}

#[test]
fn a_threaded_lstm_layer_serves_eight_threads() {
    // Hidden 64 with up to 80 rows: large enough that each call itself splits its layers over
    // the cores (on AVX-512), so threads of callers and of the kernel run together.
    let mut rng = StdRng::seed_from_u64(0xc0c0);
    let config = LstmConfig {
        input_size: 6,
        hidden_size: 64,
        proj_size: 0,
        num_layers: 2,
        bidirectional: true,
        bias: true,
    };
    let mut tensors: HashMap<String, Tensor> = config
        .tensor_shapes("rnn")
        .into_iter()
        .map(|(name, shape)| {
            (
                name,
                uniform(&mut rng, &shape, 2.0).affine(0.125, 0.0).unwrap(),
            )
        })
        .collect();
    tensors.insert("linear.weight".into(), uniform(&mut rng, &[3, 128], 2.0));
    tensors.insert("linear.bias".into(), uniform(&mut rng, &[3], 2.0));
    let weights = Weights::from_tensors(tensors, HashMap::new());
    let model =
        Model::from_weights(&weights, ModelKind::Sequence, DType::F32, &Device::Cpu).unwrap();
    serves_threads("hidden 64", &model);
}
