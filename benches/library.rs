//! criterion benchmarks of the library API: each model's forward call on the benchmark table's
//! small configurations, and the masked LSTM alone with its fused and composed kernels.
//!
//! `cargo bench --bench library`. For the whole table against PyTorch, use
//! `python python/compare_bench.py` (see the README); `scriptless bench` times the same
//! configurations from the command line.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use scriptless::bench::{bench_lengths, select, Prepared};
use scriptless::{LstmConfig, MaskedLstm, StepKernel, Weights};

fn models(c: &mut Criterion) {
    let mut group = c.benchmark_group("model");
    for config in select(&Device::Cpu, None) {
        if config.name.starts_with("seq_med") || config.name.starts_with("seq_large") {
            continue; // seconds per sample: `scriptless bench` covers them
        }
        let prepared = Prepared::new(&config, &Device::Cpu, None).expect("prepare");
        group.bench_function(config.name, |b| {
            b.iter(|| prepared.call().expect("forward"))
        });
    }
    group.finish();
}

/// A one-layer LSTM with random weights, over a random padded batch with the table's lengths.
fn lstm(
    input: usize,
    hidden: usize,
    batch: usize,
    tmax: usize,
) -> (MaskedLstm, Tensor, Vec<usize>) {
    let config = LstmConfig {
        input_size: input,
        hidden_size: hidden,
        proj_size: 0,
        num_layers: 1,
        bidirectional: false,
        bias: true,
    };
    let k = 1.0 / (hidden as f32).sqrt();
    let tensors: HashMap<String, Tensor> = config
        .tensor_shapes("")
        .into_iter()
        .map(|(name, shape)| {
            (
                name,
                Tensor::rand(-k, k, shape, &Device::Cpu).expect("rand"),
            )
        })
        .collect();
    let vb = Weights::from_tensors(tensors, HashMap::new()).var_builder(DType::F32, &Device::Cpu);
    let lstm = MaskedLstm::load(vb, &config).expect("load");
    let padded = Tensor::rand(-1f32, 1., (batch, tmax, input), &Device::Cpu).expect("rand");
    (lstm, padded, bench_lengths(batch, tmax))
}

fn masked_lstm(c: &mut Criterion) {
    let mut group = c.benchmark_group("masked_lstm");
    group.sample_size(20);
    for (name, input, hidden, batch, tmax) in [
        ("i10_h20_b64_t50", 10, 20, 64, 50),
        ("i64_h64_b32_t50", 64, 64, 32, 50),
    ] {
        let (lstm, padded, lengths) = lstm(input, hidden, batch, tmax);
        for kernel in [StepKernel::Fused, StepKernel::Composed] {
            let lstm = lstm.clone().with_kernel(kernel).expect("kernel");
            group.bench_with_input(
                BenchmarkId::new(format!("{kernel:?}"), name),
                &(),
                |b, _| b.iter(|| lstm.forward(&padded, &lengths).expect("forward")),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, models, masked_lstm);
criterion_main!(benches);
