//! The LSTM cell's pointwise update, `c = σ(f)·c + σ(i)·tanh(g)`, `h = σ(o)·tanh(c)`, over
//! whole rows at once.
//!
//! `f64` uses the standard library's `exp`/`tanh`. `f32` uses a branch-free `exp` (Cephes'
//! `expf` polynomial, within 2 ulp) that the compiler vectorises; it is compiled three times
//! (AVX-512, AVX2+FMA, baseline) and the best one the CPU supports is picked at run time.
//! NaN propagates as in PyTorch.

use super::Float;

impl Float for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;

    fn lstm_cell(gates: &[f64], c: &mut [f64], h: &mut [f64], hidden: usize) {
        cell_rows(gates, c, h, hidden, |x| 1.0 / (1.0 + (-x).exp()), f64::tanh)
    }
}

impl Float for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;

    fn lstm_cell(gates: &[f32], c: &mut [f32], h: &mut [f32], hidden: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports AVX-512F, checked just above.
                return unsafe { lstm_cell_avx512(gates, c, h, hidden) };
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                return unsafe { lstm_cell_avx2(gates, c, h, hidden) };
            }
        }
        lstm_cell_f32(gates, c, h, hidden)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn lstm_cell_avx512(gates: &[f32], c: &mut [f32], h: &mut [f32], hidden: usize) {
    lstm_cell_f32(gates, c, h, hidden)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn lstm_cell_avx2(gates: &[f32], c: &mut [f32], h: &mut [f32], hidden: usize) {
    lstm_cell_f32(gates, c, h, hidden)
}

/// The f32 cell, inlined into whatever vector width its caller was compiled for.
#[inline(always)]
pub(crate) fn lstm_cell_f32(gates: &[f32], c: &mut [f32], h: &mut [f32], hidden: usize) {
    cell_rows(gates, c, h, hidden, sigmoid, tanh)
}

/// The cell over rows of `gates` `(rows, 4H)`, `c` and `h` `(rows, H)`, with the given
/// activations. Iterators, not indices, so that no bounds check stops vectorisation.
#[inline(always)]
fn cell_rows<T>(
    gates: &[T],
    c: &mut [T],
    h: &mut [T],
    hidden: usize,
    sigmoid: impl Fn(T) -> T,
    tanh: impl Fn(T) -> T,
) where
    T: Copy + std::ops::Add<Output = T> + std::ops::Mul<Output = T>,
{
    for ((g, c), h) in gates
        .chunks_exact(4 * hidden)
        .zip(c.chunks_exact_mut(hidden))
        .zip(h.chunks_exact_mut(hidden))
    {
        let (i, rest) = g.split_at(hidden);
        let (f, rest) = rest.split_at(hidden);
        let (g, o) = rest.split_at(hidden);
        for ((((i, f), g), o), (c, h)) in i
            .iter()
            .zip(f)
            .zip(g)
            .zip(o)
            .zip(c.iter_mut().zip(h.iter_mut()))
        {
            let cn = sigmoid(*f) * *c + sigmoid(*i) * tanh(*g);
            *c = cn;
            *h = sigmoid(*o) * tanh(cn);
        }
    }
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `1 - 2 / (e^{2x} + 1)`: absolute error ~1e-7 everywhere, exact ±1 in the tails.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

/// `e^x` for f32, branch-free: Cephes' `expf` range reduction and degree-6 polynomial.
/// Inputs are clamped to `[-87.3, 88.3]` so `2^n` stays a normal number; NaN stays NaN. No
/// float-to-int cast (Rust's saturating `as i32` does not vectorise): `n` is read from the bits
/// of the rounding sum itself.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 · 2^23: adding it rounds to an integer, which then sits in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    // `clamp` keeps NaN as NaN.
    let x = x.clamp(-87.3, 88.3);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // n in [-126, 127] is the integer difference of the two bit patterns; 2^n has biased
    // exponent n + 127 in [1, 254].
    let n_int = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let scale = f32::from_bits(n_int.wrapping_add(127) << 23);
    y * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_2_ulp_of_std() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (ours, std) = (exp(x) as f64, (x as f64).exp());
            worst = worst.max(((ours - std) / std).abs());
            x += 0.0137;
        }
        assert!(worst < 2.5e-7, "worst relative error {worst:e}");
    }

    #[test]
    fn activations_match_std_and_keep_nan() {
        for i in -4000..=4000 {
            let x = i as f32 * 0.01;
            let sig = 1.0 / (1.0 + (-(x as f64)).exp());
            assert!((sigmoid(x) as f64 - sig).abs() < 2e-7, "sigmoid({x})");
            assert!(
                (tanh(x) as f64 - (x as f64).tanh()).abs() < 2e-7,
                "tanh({x})"
            );
        }
        assert_eq!(tanh(100.0), 1.0);
        assert_eq!(tanh(-100.0), -1.0);
        assert!(exp(f32::NAN).is_nan() && sigmoid(f32::NAN).is_nan() && tanh(f32::NAN).is_nan());
        assert!(exp(-1000.0) < 1e-37 && exp(1000.0) > 1e38);
    }

    #[test]
    fn dispatched_cell_matches_f64() {
        let hidden = 37;
        let rows = 3;
        let gates: Vec<f32> = (0..rows * 4 * hidden)
            .map(|k| ((k * 7919) % 2001) as f32 / 200.0 - 5.0)
            .collect();
        let c0: Vec<f32> = (0..rows * hidden)
            .map(|k| (k % 13) as f32 / 4.0 - 1.5)
            .collect();
        let (mut c, mut h) = (c0.clone(), vec![0.0f32; rows * hidden]);
        f32::lstm_cell(&gates, &mut c, &mut h, hidden);
        let g64: Vec<f64> = gates.iter().map(|&v| v as f64).collect();
        let (mut c64, mut h64): (Vec<f64>, _) = (
            c0.iter().map(|&v| v as f64).collect(),
            vec![0.0; rows * hidden],
        );
        f64::lstm_cell(&g64, &mut c64, &mut h64, hidden);
        for k in 0..rows * hidden {
            assert!((c[k] as f64 - c64[k]).abs() < 1e-6, "c[{k}]");
            assert!((h[k] as f64 - h64[k]).abs() < 1e-6, "h[{k}]");
        }
    }
}
