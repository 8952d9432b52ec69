//! The CPU's peak f32 multiply-add throughput on one tier: independent FMA chains over
//! [`Simd`], enough of them to hide the instruction's latency, on every thread at once. The
//! ceiling the kernels' GFLOP/s are compared with (`scriptless bench --peak`).

use std::time::{Duration, Instant};

use super::simd::{Isa, Simd, SimdFn};

/// Multiply-adds per chain between clock reads.
const ITERATIONS: usize = 1 << 20;

/// `iterations` multiply-adds on each of `N` independent vector chains; returns the flops
/// done and a value that depends on every chain (so nothing is optimised away).
struct Chains {
    iterations: usize,
}

impl SimdFn for Chains {
    type Output = (f64, f32);

    #[inline(always)]
    fn call<S: Simd>(self, s: S) -> (f64, f32) {
        // Chains in registers, leaving a few for the constants: 24 with 32 registers, 12 with 16.
        if S::REGISTERS >= 32 {
            chains::<S, 24>(s, self.iterations)
        } else {
            chains::<S, 12>(s, self.iterations)
        }
    }
}

#[inline(always)]
fn chains<S: Simd, const N: usize>(s: S, iterations: usize) -> (f64, f32) {
    let (m, a) = (s.splat(0.999_9), s.splat(1e-4));
    let mut acc: [S::V; N] = std::array::from_fn(|i| s.splat(1.0 + i as f32 * 1e-3));
    for _ in 0..std::hint::black_box(iterations) {
        for acc in &mut acc {
            *acc = s.mul_add(*acc, m, a);
        }
    }
    let sum = acc.into_iter().fold(s.splat(0.0), |x, y| s.add(x, y));
    let mut lanes = [0.0f32; 16];
    // SAFETY: `lanes` holds 16 floats, at least LANES.
    unsafe { s.store(lanes.as_mut_ptr(), sum) };
    let flops = 2.0 * (iterations * N * S::LANES) as f64;
    (flops, lanes.iter().sum())
}

/// GFLOP/s of f32 multiply-adds on `isa` with `threads` threads each running chains, the best
/// of repeated rounds until `budget` has passed (at least one round).
pub(crate) fn gflops(isa: Isa, threads: usize, budget: Duration) -> f64 {
    let start = Instant::now();
    let mut best = 0.0f64;
    while best == 0.0 || start.elapsed() < budget {
        let round = Instant::now();
        let flops: f64 = std::thread::scope(|scope| {
            let others: Vec<_> = (1..threads)
                .map(|_| {
                    scope.spawn(move || {
                        isa.run(Chains {
                            iterations: ITERATIONS,
                        })
                    })
                })
                .collect();
            let mine = isa.run(Chains {
                iterations: ITERATIONS,
            });
            // A thread that failed to run (it cannot panic) adds nothing.
            let theirs = others.into_iter().filter_map(|t| t.join().ok());
            std::iter::once(mine)
                .chain(theirs)
                .map(|(flops, value)| {
                    std::hint::black_box(value);
                    flops
                })
                .sum()
        });
        best = best.max(flops / round.elapsed().as_secs_f64() / 1e9);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tier_reports_a_positive_rate() {
        for tier in crate::cpu::tier::tested_tiers() {
            let rate = gflops(tier.isa().unwrap(), 2, Duration::ZERO);
            assert!(rate.is_finite() && rate > 0.0, "{tier}: {rate}");
        }
    }
}
