//! The LSTM cell's pointwise update, `c = σ(f)·c + σ(i)·tanh(g)`, `h = σ(o)·tanh(c)`, and its
//! vector activations, written once over [`Simd`] for every tier.
//!
//! `f64` uses the standard library's `exp`/`tanh`. `f32` uses a branch-free `exp` (Cephes'
//! `expf` range reduction and polynomial, within 2 ulp) and divisions through [`Simd::recip`].
//! NaN propagates as in PyTorch.

use super::simd::{Isa, Simd, SimdFn, ROUND};
use super::Float;

impl Float for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;

    fn lstm_cell(_: Isa, gates: &[f64], c: &mut [f64], h: &mut [f64], hidden: usize) {
        let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
        for ((g, c), h) in gates
            .chunks_exact(4 * hidden)
            .zip(c.chunks_exact_mut(hidden))
            .zip(h.chunks_exact_mut(hidden))
        {
            for (j, (c, h)) in c.iter_mut().zip(h.iter_mut()).enumerate() {
                let [i, f, g, o] = [0, 1, 2, 3].map(|k| g[k * hidden + j]);
                *c = sigmoid(f) * *c + sigmoid(i) * g.tanh();
                *h = sigmoid(o) * c.tanh();
            }
        }
    }
}

impl Float for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;

    fn lstm_cell(isa: Isa, gates: &[f32], c: &mut [f32], h: &mut [f32], hidden: usize) {
        isa.run(CellRows {
            gates,
            c,
            h,
            hidden,
        })
    }
}

/// The f32 cell over rows of `gates` `(rows, 4H)`, `c` and `h` `(rows, H)`.
struct CellRows<'a> {
    gates: &'a [f32],
    c: &'a mut [f32],
    h: &'a mut [f32],
    hidden: usize,
}

impl SimdFn for CellRows<'_> {
    type Output = ();

    #[inline(always)]
    fn call<S: Simd>(self, s: S) {
        let Self {
            gates,
            c,
            h,
            hidden,
        } = self;
        let n = S::LANES;
        for ((g, c), h) in gates
            .chunks_exact(4 * hidden)
            .zip(c.chunks_exact_mut(hidden))
            .zip(h.chunks_exact_mut(hidden))
        {
            let mut j = 0;
            while j + n <= hidden {
                // SAFETY: units j..j + LANES of each gate, of `c` and of `h` lie inside their
                // rows (4H, H and H floats).
                unsafe {
                    let [i, f, gg, o] =
                        [0, 1, 2, 3].map(|k| s.load(g.as_ptr().add(k * hidden + j)));
                    let (c_new, h_new) = cell(s, [i, f, gg, o], s.load(c.as_ptr().add(j)));
                    s.store(c.as_mut_ptr().add(j), c_new);
                    s.store(h.as_mut_ptr().add(j), h_new);
                }
                j += n;
            }
            if j < hidden {
                // The last units, through full-width buffers.
                let rest = hidden - j;
                let mut lanes = [[0.0f32; 16]; 5];
                for (k, lane) in lanes[..4].iter_mut().enumerate() {
                    lane[..rest].copy_from_slice(&g[k * hidden + j..k * hidden + hidden]);
                }
                lanes[4][..rest].copy_from_slice(&c[j..]);
                // SAFETY: each buffer holds 16 floats, at least LANES.
                let (c_new, h_new) = unsafe {
                    let [i, f, gg, o, c0] = [0, 1, 2, 3, 4].map(|k| s.load(lanes[k].as_ptr()));
                    cell(s, [i, f, gg, o], c0)
                };
                let mut out = [[0.0f32; 16]; 2];
                // SAFETY: as above.
                unsafe {
                    s.store(out[0].as_mut_ptr(), c_new);
                    s.store(out[1].as_mut_ptr(), h_new);
                }
                c[j..].copy_from_slice(&out[0][..rest]);
                h[j..].copy_from_slice(&out[1][..rest]);
            }
        }
    }
}

/// The cell on one vector of units: gates `[i, f, g, o]` (pre-activation) and the previous
/// `c`; returns the new `(c, h)`.
#[inline(always)]
pub(crate) fn cell<S: Simd>(s: S, [i, f, g, o]: [S::V; 4], c: S::V) -> (S::V, S::V) {
    let c = s.mul_add(sigmoid(s, f), c, s.mul(sigmoid(s, i), tanh(s, g)));
    (c, s.mul(sigmoid(s, o), tanh(s, c)))
}

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in two, so that `n · ln 2` subtracts exactly.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// The clamp keeping `2^n` a normal number.
const EXP_MIN: f32 = -87.3;
const EXP_MAX: f32 = 88.3;
/// Cephes' `expf` polynomial for `(e^r - 1 - r) / r²`, highest degree first.
const EXP_POLY: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    0.166_666_65,
    0.5,
];

/// `e^x` lane by lane: Cephes' `expf` range reduction and degree-6 polynomial, branch-free.
/// Inputs are clamped to `[-87.3, 88.3]` so `2^n` stays a normal number; NaN stays NaN.
#[inline(always)]
pub(crate) fn exp<S: Simd>(s: S, x: S::V) -> S::V {
    let x = s.clamp(x, s.splat(EXP_MIN), s.splat(EXP_MAX));
    // Adding ROUND rounds x·log2(e) to the integer n; `pow2` reads n from the sum's bits.
    let shifted = s.mul_add(x, s.splat(LOG2E), s.splat(ROUND));
    let n = s.sub(shifted, s.splat(ROUND));
    let r = s.neg_mul_add(n, s.splat(LN2_HI), x);
    let r = s.neg_mul_add(n, s.splat(LN2_LO), r);
    let mut p = s.splat(EXP_POLY[0]);
    for &c in &EXP_POLY[1..] {
        p = s.mul_add(p, r, s.splat(c));
    }
    let y = s.add(s.mul_add(s.mul(p, r), r, r), s.splat(1.0));
    s.mul(y, s.pow2(shifted))
}

/// `1 / (1 + e^{-x})`.
#[inline(always)]
pub(crate) fn sigmoid<S: Simd>(s: S, x: S::V) -> S::V {
    let e = exp(s, s.sub(s.splat(0.0), x));
    s.recip(s.add(s.splat(1.0), e))
}

/// `1 - 2 / (e^{2x} + 1)`: absolute error ~1e-7 everywhere, exact ±1 in the tails.
#[inline(always)]
pub(crate) fn tanh<S: Simd>(s: S, x: S::V) -> S::V {
    let one = s.splat(1.0);
    let e = exp(s, s.add(x, x));
    s.neg_mul_add(s.splat(2.0), s.recip(s.add(e, one)), one)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::tier::CpuTier;

    /// `(exp, sigmoid, tanh)` of each of `xs` on `isa`.
    fn activations(isa: Isa, xs: &[f32]) -> Vec<[f32; 3]> {
        struct Lanes<'a>(&'a [f32]);
        impl SimdFn for Lanes<'_> {
            type Output = Vec<[f32; 3]>;
            #[inline(always)]
            fn call<S: Simd>(self, s: S) -> Vec<[f32; 3]> {
                let mut out = Vec::new();
                for chunk in self.0.chunks(S::LANES) {
                    let mut lanes = [0.0f32; 16];
                    lanes[..chunk.len()].copy_from_slice(chunk);
                    let mut results = [[0.0f32; 16]; 3];
                    // SAFETY: every buffer holds 16 floats, at least LANES.
                    unsafe {
                        let v = s.load(lanes.as_ptr());
                        s.store(results[0].as_mut_ptr(), exp(s, v));
                        s.store(results[1].as_mut_ptr(), sigmoid(s, v));
                        s.store(results[2].as_mut_ptr(), tanh(s, v));
                    }
                    out.extend((0..chunk.len()).map(|j| results.map(|r| r[j])));
                }
                out
            }
        }
        isa.run(Lanes(xs))
    }

    #[test]
    fn activations_match_std_on_every_tier_and_keep_nan() {
        // Under Miri, every 97th point: it interprets each lane's arithmetic.
        let step = if cfg!(miri) { 97 } else { 1 };
        let mut xs: Vec<f32> = (-8700..8800)
            .step_by(step)
            .map(|i| i as f32 * 0.01)
            .collect();
        xs.extend([f32::NAN, 1e3, -1e3, 100.0, -100.0]);
        for tier in crate::cpu::tier::tested_tiers() {
            let results = activations(tier.isa().unwrap(), &xs);
            for (&x, &[e, s, t]) in xs.iter().zip(&results) {
                if x.is_nan() {
                    assert!(e.is_nan() && s.is_nan() && t.is_nan(), "{tier}: NaN");
                    continue;
                }
                let x64 = f64::from(x.clamp(EXP_MIN, EXP_MAX));
                let (e64, s64) = (x64.exp(), 1.0 / (1.0 + (-f64::from(x)).exp()));
                assert!(
                    ((f64::from(e) - e64) / e64).abs() < 2.5e-7,
                    "{tier}: exp({x}) = {e}, not {e64}"
                );
                assert!(
                    (f64::from(s) - s64).abs() < 2e-7,
                    "{tier}: sigmoid({x}) = {s}"
                );
                let t64 = f64::from(x).tanh();
                assert!((f64::from(t) - t64).abs() < 3e-7, "{tier}: tanh({x}) = {t}");
            }
            // NaN, 1e3, -1e3, 100, -100.
            let tail = &results[results.len() - 5..];
            assert!(tail[1][0] > 1e38, "{tier}: exp(1000)");
            assert!(tail[2][0] < 1e-37, "{tier}: exp(-1000)");
            assert_eq!(
                [tail[3][2], tail[4][2]],
                [1.0, -1.0],
                "{tier}: tanh's tails"
            );
        }
    }

    #[test]
    fn the_cell_matches_f64_on_every_tier() {
        // 37 units: whole vectors and a tail on every tier.
        let (hidden, rows) = (37, 3);
        let gates: Vec<f32> = (0..rows * 4 * hidden)
            .map(|k| ((k * 7919) % 2001) as f32 / 200.0 - 5.0)
            .collect();
        let c0: Vec<f32> = (0..rows * hidden)
            .map(|k| (k % 13) as f32 / 4.0 - 1.5)
            .collect();
        let g64: Vec<f64> = gates.iter().map(|&v| v as f64).collect();
        let (mut c64, mut h64): (Vec<f64>, _) = (
            c0.iter().map(|&v| v as f64).collect(),
            vec![0.0; rows * hidden],
        );
        let generic = Isa::new(CpuTier::Generic).unwrap();
        f64::lstm_cell(generic, &g64, &mut c64, &mut h64, hidden);
        for tier in crate::cpu::tier::tested_tiers() {
            let (mut c, mut h) = (c0.clone(), vec![0.0f32; rows * hidden]);
            f32::lstm_cell(tier.isa().unwrap(), &gates, &mut c, &mut h, hidden);
            for k in 0..rows * hidden {
                assert!((c[k] as f64 - c64[k]).abs() < 1e-6, "{tier}: c[{k}]");
                assert!((h[k] as f64 - h64[k]).abs() < 1e-6, "{tier}: h[{k}]");
            }
        }
    }
}
