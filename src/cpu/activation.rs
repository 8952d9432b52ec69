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

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in two, so that `n · ln 2` subtracts exactly.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 · 2^23: adding it rounds to an integer, which then sits in the low mantissa bits.
const ROUND: f32 = 12_582_912.0;
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

/// `e^x` for f32, branch-free: Cephes' `expf` range reduction and degree-6 polynomial.
/// Inputs are clamped to `[-87.3, 88.3]` so `2^n` stays a normal number; NaN stays NaN. No
/// float-to-int cast (Rust's saturating `as i32` does not vectorise): `n` is read from the bits
/// of the rounding sum itself.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    // `clamp` keeps NaN as NaN.
    let x = x.clamp(EXP_MIN, EXP_MAX);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = EXP_POLY[0];
    for c in &EXP_POLY[1..] {
        p = p * r + c;
    }
    let y = p * r * r + r + 1.0;
    // n in [-126, 127] is the integer difference of the two bit patterns; 2^n has biased
    // exponent n + 127 in [1, 254].
    let n_int = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let scale = f32::from_bits(n_int.wrapping_add(127) << 23);
    y * scale
}

/// The same activations on 16 lanes of AVX-512, for kernels that keep the gates in registers.
/// Divisions are a reciprocal estimate refined by one Newton step (`vdivps` would cost more
/// than the rest of the cell). Under Miri, which lacks some of these instructions, the same
/// functions run lane by lane on the scalar ones ([`lanes`]), so that Miri can check the
/// kernels' real loads and stores around them.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use std::arch::x86_64::*;

    #[cfg(not(miri))]
    use super::{EXP_MAX, EXP_MIN, EXP_POLY, LN2_HI, LN2_LO, LOG2E, ROUND};

    /// `e^x` lane by lane, as [`super::exp`].
    #[cfg(not(miri))]
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn exp(x: __m512) -> __m512 {
        // max/min return their second operand when either is NaN: NaN stays NaN.
        let x = _mm512_min_ps(
            _mm512_set1_ps(EXP_MAX),
            _mm512_max_ps(_mm512_set1_ps(EXP_MIN), x),
        );
        let shifted = _mm512_fmadd_ps(x, _mm512_set1_ps(LOG2E), _mm512_set1_ps(ROUND));
        let n = _mm512_sub_ps(shifted, _mm512_set1_ps(ROUND));
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
        let mut p = _mm512_set1_ps(EXP_POLY[0]);
        for &c in &EXP_POLY[1..] {
            p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
        }
        let y = _mm512_add_ps(
            _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r),
            _mm512_set1_ps(1.0),
        );
        let n_int = _mm512_sub_epi32(
            _mm512_castps_si512(shifted),
            _mm512_set1_epi32(ROUND.to_bits() as i32),
        );
        let scale = _mm512_slli_epi32::<23>(_mm512_add_epi32(n_int, _mm512_set1_epi32(127)));
        _mm512_mul_ps(y, _mm512_castsi512_ps(scale))
    }

    /// `1 / x` to about 1 ulp.
    #[cfg(not(miri))]
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn recip(x: __m512) -> __m512 {
        let r = _mm512_rcp14_ps(x);
        _mm512_mul_ps(r, _mm512_fnmadd_ps(x, r, _mm512_set1_ps(2.0)))
    }

    #[cfg(not(miri))]
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn sigmoid(x: __m512) -> __m512 {
        let one = _mm512_set1_ps(1.0);
        recip(_mm512_add_ps(
            one,
            exp(_mm512_sub_ps(_mm512_setzero_ps(), x)),
        ))
    }

    #[cfg(not(miri))]
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn tanh(x: __m512) -> __m512 {
        let one = _mm512_set1_ps(1.0);
        let e = exp(_mm512_add_ps(x, x));
        _mm512_fnmadd_ps(_mm512_set1_ps(2.0), recip(_mm512_add_ps(e, one)), one)
    }

    /// `f` on each of the 16 lanes: the activations under Miri.
    #[cfg(miri)]
    #[target_feature(enable = "avx512f")]
    fn lanes(x: __m512, f: fn(f32) -> f32) -> __m512 {
        let mut v = [0.0f32; 16];
        // SAFETY: `v` holds 16 floats.
        unsafe { _mm512_storeu_ps(v.as_mut_ptr(), x) };
        let v = v.map(f);
        // SAFETY: as above.
        unsafe { _mm512_loadu_ps(v.as_ptr()) }
    }

    #[cfg(miri)]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn exp(x: __m512) -> __m512 {
        lanes(x, super::exp)
    }

    #[cfg(miri)]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn sigmoid(x: __m512) -> __m512 {
        lanes(x, super::sigmoid)
    }

    #[cfg(miri)]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn tanh(x: __m512) -> __m512 {
        lanes(x, super::tanh)
    }
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

    #[cfg(target_arch = "x86_64")]
    #[test]
    #[cfg_attr(miri, ignore = "Miri runs the scalar activations in their place")]
    fn avx512_activations_match_the_scalar_ones() {
        use std::arch::x86_64::*;
        if !std::arch::is_x86_feature_detected!("avx512f") {
            return;
        }
        let xs: Vec<f32> = (-4000..4000)
            .map(|i| i as f32 * 0.0113)
            .chain([f32::NAN, 1e3, -1e3])
            .collect();
        for chunk in xs.chunks(16) {
            let mut lanes = [0.0f32; 16];
            lanes[..chunk.len()].copy_from_slice(chunk);
            let (mut e, mut s, mut t) = ([0.0f32; 16], [0.0f32; 16], [0.0f32; 16]);
            // SAFETY: AVX-512F was detected above.
            unsafe {
                let v = _mm512_loadu_ps(lanes.as_ptr());
                _mm512_storeu_ps(e.as_mut_ptr(), avx512::exp(v));
                _mm512_storeu_ps(s.as_mut_ptr(), avx512::sigmoid(v));
                _mm512_storeu_ps(t.as_mut_ptr(), avx512::tanh(v));
            }
            for (j, &x) in chunk.iter().enumerate() {
                if x.is_nan() {
                    assert!(e[j].is_nan() && s[j].is_nan() && t[j].is_nan());
                    continue;
                }
                assert!((e[j] - exp(x)).abs() <= 2e-7 * exp(x), "exp({x})");
                assert!(
                    (s[j] - sigmoid(x)).abs() < 2e-7,
                    "sigmoid({x}): {} {}",
                    s[j],
                    sigmoid(x)
                );
                assert!(
                    (t[j] - tanh(x)).abs() < 3e-7,
                    "tanh({x}): {} {}",
                    t[j],
                    tanh(x)
                );
            }
        }
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
