//! Embedding the seed's sequence model in a Rust program: `cargo run --example embed`.

use candle_core::{DType, Device, Tensor};
use scriptless::{pad_sequences, Pooling, SequenceInputModule, Weights};

fn main() -> scriptless::Result<()> {
    let weights = Weights::read("weights/sequence.safetensors")?;
    let model = SequenceInputModule::from_weights(&weights, DType::F32, &Device::Cpu)?;

    let sequences = vec![
        Tensor::randn(0f32, 1.0, (5, 10), &Device::Cpu)?,
        Tensor::randn(0f32, 1.0, (3, 10), &Device::Cpu)?,
    ];
    let (padded, lengths) = pad_sequences(&sequences)?; // (2, 5, 10), [5, 3]
    let out = model.forward_lengths(&padded, &lengths, Pooling::LastValid)?; // (2, 10)

    // The LSTM alone: output (B, max len, D·H), h_n and c_n (layers·D, B, H).
    let lstm = model.rnn().forward(&padded, &lengths)?;
    println!("output {:?}:\n{out}", out.dims());
    println!("h_n {:?}:\n{}", lstm.h_n.dims(), lstm.h_n);
    Ok(())
}
