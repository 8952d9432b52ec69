//! The benchmark contract behind `scriptless bench`, fixed so that runs compare across versions
//! and against `python/bench_torch.py`, which implements the same table.
//!
//! Each [`BenchConfig`] gets random weights (PyTorch's default init ranges) and random inputs,
//! prepared on the device before timing. A timed call starts from those input tensors (the
//! sequence model's lengths stay on the host, as PyTorch requires) and ends when the output is
//! materialised on the device. [`time`] warms up, then times calls for a budget (a second by
//! default) and reports the median.
//!
//! Lengths, except the seed's `[5, 3, 7]`: `len_b = tmax − (37·b mod (tmax/2 + 1))` with integer
//! division, so `len_0 = tmax` ([`bench_lengths`]).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor};

use crate::cpu::tier::{self, CpuTier};
use crate::error::Result;
use crate::inputs::ModelInputs;
use crate::kind::ModelKind;
use crate::limits::Limits;
use crate::lstm::StepKernel;
use crate::models::{Model, Pooling};
use crate::weights::Weights;

/// Output width of every benchmark model's final Linear, as in the seed.
const OUT_FEATURES: usize = 10;
/// Feature width of the two-input and categorical models, as in the seed.
const WIDTH: usize = 10;
/// Categories of the categorical model, as in the seed.
const CATEGORIES: usize = 3;

/// The model and shapes of one benchmark configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchShape {
    /// `linear(tensor1 + tensor2)`, both `(batch, 10)`, Linear 10 → 10.
    TwoInput {
        /// Rows.
        batch: usize,
    },
    /// Features `(batch, 10)` and a category in `0..3` per row, Linear 13 → 10.
    Categorical {
        /// Rows.
        batch: usize,
    },
    /// One-layer unidirectional LSTM, then Linear hidden → 10 on the seed's `[:, -1, :]`.
    Sequence {
        /// Features per step.
        input: usize,
        /// The LSTM's hidden size.
        hidden: usize,
        /// Sequences.
        batch: usize,
        /// Steps of the longest sequence; the others follow [`bench_lengths`].
        tmax: usize,
    },
    /// The seed's own batch: input 10, hidden 20, lengths `[5, 3, 7]`.
    SeedSequence,
}

/// One named configuration of the benchmark table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchConfig {
    /// The configuration's name in the table (`seq_seed_b3`, ...).
    pub name: &'static str,
    /// The model and its shapes.
    pub shape: BenchShape,
    /// Too slow for a CPU run; benchmarked on GPUs only.
    pub gpu_only: bool,
}

const fn seq(
    name: &'static str,
    input: usize,
    hidden: usize,
    batch: usize,
    tmax: usize,
    gpu_only: bool,
) -> BenchConfig {
    BenchConfig {
        name,
        shape: BenchShape::Sequence {
            input,
            hidden,
            batch,
            tmax,
        },
        gpu_only,
    }
}

/// The benchmark table, in report order.
pub const CONFIGS: &[BenchConfig] = &[
    BenchConfig {
        name: "two_input_b1",
        shape: BenchShape::TwoInput { batch: 1 },
        gpu_only: false,
    },
    BenchConfig {
        name: "two_input_b4096",
        shape: BenchShape::TwoInput { batch: 4096 },
        gpu_only: false,
    },
    BenchConfig {
        name: "categorical_b1",
        shape: BenchShape::Categorical { batch: 1 },
        gpu_only: false,
    },
    BenchConfig {
        name: "categorical_b4096",
        shape: BenchShape::Categorical { batch: 4096 },
        gpu_only: false,
    },
    BenchConfig {
        name: "seq_seed_b3",
        shape: BenchShape::SeedSequence,
        gpu_only: false,
    },
    seq("seq_small_b64_t50", 10, 20, 64, 50, false),
    seq("seq_med_b32_t100_h256", 64, 256, 32, 100, false),
    seq("seq_large_b64_t200_h512", 128, 512, 64, 200, false),
    seq("seq_gpu_b64_t1000_h256", 256, 256, 64, 1000, true),
    seq("seq_gpu_b256_t1000_h1024", 1024, 1024, 256, 1000, true),
];

impl BenchConfig {
    /// Multiply-adds of one forward pass's matrix products: the LSTM's over every packed step
    /// (`Σ lengths × 4·hidden × (input + hidden)`) and the final Linear's.
    pub fn macs(&self) -> u64 {
        let (rows, linear_in) = match self.shape {
            BenchShape::TwoInput { batch } => (0, batch * WIDTH),
            BenchShape::Categorical { batch } => (0, batch * (WIDTH + CATEGORIES)),
            BenchShape::SeedSequence => (15 * 4 * 20 * (10 + 20), 3 * 20),
            BenchShape::Sequence {
                input,
                hidden,
                batch,
                tmax,
            } => {
                let steps: usize = bench_lengths(batch, tmax).iter().sum();
                (steps * 4 * hidden * (input + hidden), batch * hidden)
            }
        };
        (rows + linear_in * OUT_FEATURES) as u64
    }
}

/// The peak f32 multiply-add throughput of `tier` on this CPU, in GFLOP/s (two flops per
/// multiply-add), with `threads` threads: the best of repeated rounds of independent vector FMA
/// chains for `budget` (at least one round). An error if this CPU lacks the tier.
pub fn fma_peak(tier: CpuTier, threads: usize, budget: Duration) -> Result<f64> {
    Ok(crate::cpu::peak::gflops(
        tier::isa_for(tier)?,
        threads.max(1),
        budget,
    ))
}

/// The threads the CPU kernels use: `RAYON_NUM_THREADS`, else the physical cores.
pub fn kernel_threads() -> usize {
    crate::cpu::threads()
}

/// The configurations to run on `device` whose names start with `only` (all when `None`).
pub fn select(device: &Device, only: Option<&str>) -> Vec<BenchConfig> {
    CONFIGS
        .iter()
        .filter(|c| !c.gpu_only || !device.is_cpu())
        .filter(|c| only.is_none_or(|p| c.name.starts_with(p)))
        .copied()
        .collect()
}

/// `len_b = tmax − (37·b mod (tmax/2 + 1))` for `b` in `0..batch`.
pub fn bench_lengths(batch: usize, tmax: usize) -> Vec<usize> {
    (0..batch)
        .map(|b| tmax - (37 * b) % (tmax / 2 + 1))
        .collect()
}

/// A model and its inputs, ready on the device.
#[derive(Debug, Clone)]
pub struct Prepared {
    model: Model,
    inputs: ModelInputs,
}

impl Prepared {
    /// Random f32 weights and inputs for `config` on `device`, from a fixed seed; the LSTM runs
    /// on `kernel` (None: the best for the device).
    pub fn new(config: &BenchConfig, device: &Device, kernel: Option<StepKernel>) -> Result<Self> {
        let mut rng = SplitMix64(0x5c1e_7715);
        let mut tensors = HashMap::new();
        let (kind, inputs) = match config.shape {
            BenchShape::TwoInput { batch } => {
                linear(&mut rng, &mut tensors, WIDTH)?;
                let inputs = ModelInputs::TwoInput {
                    tensor1: rng.uniform((batch, WIDTH), 1.0)?.to_device(device)?,
                    tensor2: rng.uniform((batch, WIDTH), 1.0)?.to_device(device)?,
                };
                (ModelKind::TwoInput, inputs)
            }
            BenchShape::Categorical { batch } => {
                linear(&mut rng, &mut tensors, WIDTH + CATEGORIES)?;
                let categories: Vec<i64> = (0..batch).map(|b| (b % CATEGORIES) as i64).collect();
                let inputs = ModelInputs::Categorical {
                    tensor_input: rng.uniform((batch, WIDTH), 1.0)?.to_device(device)?,
                    category_index: Tensor::from_vec(categories, batch, device)?,
                };
                (ModelKind::Categorical, inputs)
            }
            BenchShape::SeedSequence | BenchShape::Sequence { .. } => {
                let (input, hidden, lengths) = match config.shape {
                    BenchShape::Sequence {
                        input,
                        hidden,
                        batch,
                        tmax,
                    } => (input, hidden, bench_lengths(batch, tmax)),
                    _ => (10, 20, vec![5, 3, 7]),
                };
                let bound = 1.0 / (hidden as f32).sqrt();
                for (name, shape) in [
                    ("rnn.weight_ih_l0", vec![4 * hidden, input]),
                    ("rnn.weight_hh_l0", vec![4 * hidden, hidden]),
                    ("rnn.bias_ih_l0", vec![4 * hidden]),
                    ("rnn.bias_hh_l0", vec![4 * hidden]),
                ] {
                    tensors.insert(name.to_string(), rng.uniform(shape, bound)?);
                }
                linear(&mut rng, &mut tensors, hidden)?;
                let (batch, tmax) = (lengths.len(), lengths.iter().copied().max().unwrap_or(0));
                let inputs = ModelInputs::Sequence {
                    padded_seq: rng.uniform((batch, tmax, input), 1.0)?.to_device(device)?,
                    // Lengths stay on the host, as PyTorch requires.
                    seq_lengths: Tensor::from_vec(
                        lengths.iter().map(|&l| l as i64).collect::<Vec<_>>(),
                        batch,
                        &Device::Cpu,
                    )?,
                };
                (ModelKind::Sequence, inputs)
            }
        };
        let weights = Weights::from_tensors(tensors, HashMap::new());
        // The inputs are generated here, not read from a file, and the GPU-only rows are larger
        // than the default element limit (seq_gpu_b256_t1000_h1024's gates: ~8e8 elements).
        let no_limit = Limits {
            max_elements: usize::MAX,
            ..Limits::default()
        };
        let mut model =
            Model::from_weights(&weights, kind, DType::F32, device)?.with_limits(no_limit);
        if let Some(kernel) = kernel {
            model = model.with_kernel(kernel)?;
        }
        Ok(Self { model, inputs })
    }

    /// One timed call: the forward pass, waiting for the device to finish.
    pub fn call(&self) -> Result<Tensor> {
        let out = self.model.forward(&self.inputs, Pooling::PaddedLast)?;
        out.device().synchronize()?;
        Ok(out)
    }
}

/// `linear.weight` `(10, fan_in)` and `linear.bias`, uniform in `±1/√fan_in` like PyTorch's init.
fn linear(
    rng: &mut SplitMix64,
    tensors: &mut HashMap<String, Tensor>,
    fan_in: usize,
) -> Result<()> {
    let bound = 1.0 / (fan_in as f32).sqrt();
    let weight = rng.uniform((OUT_FEATURES, fan_in), bound)?;
    tensors.insert("linear.weight".to_string(), weight);
    tensors.insert("linear.bias".to_string(), rng.uniform(OUT_FEATURES, bound)?);
    Ok(())
}

/// The median time of one call of a configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    /// The configuration's name.
    pub name: &'static str,
    /// Median microseconds per call.
    pub median_us: f64,
    /// Timed calls.
    pub runs: usize,
}

/// Times a configuration's calls as [`time_calls`] does.
pub fn time(name: &'static str, prepared: &Prepared, budget: Duration) -> Result<BenchRow> {
    let (median_us, runs) = time_calls(budget, || prepared.call().map(drop))?;
    Ok(BenchRow {
        name,
        median_us,
        runs,
    })
}

/// Times `call`: a warm-up of a tenth of `budget` (at least one call), then calls until
/// `budget` has passed (at least one). Returns the median call in microseconds and the number
/// of timed calls.
pub fn time_calls(budget: Duration, mut call: impl FnMut() -> Result<()>) -> Result<(f64, usize)> {
    let start = Instant::now();
    call()?;
    while start.elapsed() < budget / 10 {
        call()?;
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while times.is_empty() || start.elapsed() < budget {
        let t = Instant::now();
        call()?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    let mid = times.len() / 2;
    let median_us = if times.len() % 2 == 1 {
        times[mid]
    } else {
        (times[mid - 1] + times[mid]) / 2.0
    };
    Ok((median_us, times.len()))
}

struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A CPU f32 tensor of `shape` with values uniform in `[-bound, bound)`.
    fn uniform(&mut self, shape: impl Into<candle_core::Shape>, bound: f32) -> Result<Tensor> {
        let shape = shape.into();
        let data: Vec<f32> = (0..shape.elem_count())
            .map(|_| ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * bound)
            .collect();
        Ok(Tensor::from_vec(data, shape, &Device::Cpu)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_follow_the_rule() {
        assert_eq!(bench_lengths(4, 50), [50, 39, 28, 43]);
        let l = bench_lengths(64, 200);
        assert_eq!(l[0], 200);
        assert!(l.iter().all(|&x| (100..=200).contains(&x)));
    }

    #[test]
    fn macs_count_every_packed_step() {
        let large = CONFIGS
            .iter()
            .find(|c| c.name.starts_with("seq_large"))
            .unwrap();
        let steps: usize = bench_lengths(64, 200).iter().sum();
        assert_eq!(large.macs(), (steps * 2048 * 640 + 64 * 512 * 10) as u64);
        assert_eq!(CONFIGS[0].macs(), 100);
    }

    #[test]
    fn cpu_runs_skip_gpu_only_configs() {
        let cpu = select(&Device::Cpu, None);
        assert_eq!(cpu.len(), 8);
        assert!(cpu.iter().all(|c| !c.gpu_only));
        assert_eq!(select(&Device::Cpu, Some("seq_s")).len(), 2);
        assert!(select(&Device::Cpu, Some("seq_gpu")).is_empty());
    }

    #[test]
    fn every_cpu_config_prepares_and_runs() {
        for config in select(&Device::Cpu, None) {
            if config.name.starts_with("seq_large") || config.name.starts_with("seq_med") {
                continue; // seconds in a debug build; the bench command covers them
            }
            let out = Prepared::new(&config, &Device::Cpu, None)
                .and_then(|p| p.call())
                .unwrap_or_else(|e| panic!("{}: {e}", config.name));
            assert_eq!(out.dim(1).ok(), Some(OUT_FEATURES), "{}", config.name);
        }
    }
}
