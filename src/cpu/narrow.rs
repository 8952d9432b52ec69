//! Linear layers at most 16 outputs wide (the seed's are 10), f32: `y_r = start_r + x_r · Wᵀ`
//! with one 16-lane vector per input feature, sixteen rows in flight.
//!
//! A general matrix product tiles its output in blocks this shape fills badly (the `gemm` crate
//! ran a 4096×10·10×10 product at ~13 GMAC/s); here each row is `in_features` vector FMAs,
//! each broadcasting one input value. The input can be a sum computed on the fly
//! (`tensor1 + tensor2`) and the start can carry more than the bias (a one-hot category's
//! weight column), which fuses each of the seed's first two models into one pass.

use std::mem::MaybeUninit;

/// Output lanes: one 512-bit vector of f32.
const LANES: usize = 16;
/// Rows accumulated together: their FMA chains overlap, and the loop overhead is shared.
const GROUP: usize = 16;

/// `Wᵀ` with each row padded to 16 lanes, and the bias.
#[derive(Debug, Clone)]
pub(crate) struct NarrowWeights {
    /// `w[k]`: the weights of input feature `k` for every output (zero past `out`).
    w: Vec<[f32; LANES]>,
    bias: [f32; LANES],
    out: usize,
}

/// The rows' input.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// `x` `(rows, k)`.
    Rows(&'a [f32]),
    /// `a + b`, both `(rows, k)`.
    Sum(&'a [f32], &'a [f32]),
}

/// Each row's starting value.
#[derive(Clone, Copy)]
enum Start<'a> {
    /// The bias.
    Bias,
    /// The bias plus row `offset + categories[r]` of `w`: the one-hot part of the product.
    BiasPlusRow {
        offset: usize,
        categories: &'a [u32],
    },
}

impl NarrowWeights {
    /// From PyTorch's `weight` `(out, in)` row-major and `bias` `(out)`; `None` if `out > 16`.
    pub fn new(weight: &[f32], bias: &[f32], out: usize, input: usize) -> Option<Self> {
        if out == 0 || out > LANES || weight.len() != out * input || bias.len() != out {
            return None;
        }
        let w = (0..input)
            .map(|k| std::array::from_fn(|j| if j < out { weight[j * input + k] } else { 0.0 }))
            .collect();
        let bias = std::array::from_fn(|j| if j < out { bias[j] } else { 0.0 });
        Some(Self { w, bias, out })
    }

    /// Outputs.
    pub fn out(&self) -> usize {
        self.out
    }

    /// Input features.
    pub fn input(&self) -> usize {
        self.w.len()
    }

    /// `y = x · Wᵀ + b` for `x` `(rows, in)`, `y` `(rows, out)`. Every element of `y` is
    /// written, so it may start uninitialised.
    pub fn linear(&self, x: &[f32], y: &mut [MaybeUninit<f32>]) -> candle_core::Result<()> {
        self.run(self.input(), Source::Rows(x), Start::Bias, y)
    }

    /// `y = (a + b) · Wᵀ + bias` for same-shape `a`, `b` `(rows, in)`.
    pub fn sum_linear(
        &self,
        a: &[f32],
        b: &[f32],
        y: &mut [MaybeUninit<f32>],
    ) -> candle_core::Result<()> {
        self.run(self.input(), Source::Sum(a, b), Start::Bias, y)
    }

    /// `y = [x, one_hot(categories)] · Wᵀ + b` for `x` `(rows, features)` and one category per
    /// row, each `< in - features`.
    pub fn one_hot_linear(
        &self,
        x: &[f32],
        features: usize,
        categories: &[u32],
        y: &mut [MaybeUninit<f32>],
    ) -> candle_core::Result<()> {
        let start = Start::BiasPlusRow {
            offset: features,
            categories,
        };
        self.run(features, Source::Rows(x), start, y)
    }

    /// `y_r = start_r + Σ_{j<k} x_r[j] · w[j]`. Checks every length (and category) first: the
    /// kernels index without bounds checks.
    fn run(
        &self,
        k: usize,
        source: Source,
        start: Start,
        y: &mut [MaybeUninit<f32>],
    ) -> candle_core::Result<()> {
        let rows = y.len() / self.out;
        let lengths_ok = y.len() == rows * self.out
            && k <= self.input()
            && match source {
                Source::Rows(x) => x.len() == rows * k,
                Source::Sum(a, b) => a.len() == rows * k && b.len() == rows * k,
            }
            && match start {
                Start::Bias => true,
                Start::BiasPlusRow { offset, categories } => {
                    categories.len() == rows
                        && categories
                            .iter()
                            .all(|&c| offset + (c as usize) < self.input())
                }
            };
        if !lengths_ok {
            candle_core::bail!("scriptless narrow linear: operands do not match");
        }
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: AVX-512F is present, and every length was checked above.
                unsafe { avx512::rows(self, k, source, start, y) };
                return Ok(());
            }
        }
        self.rows_portable(k, source, start, y);
        Ok(())
    }

    /// The same computation without explicit vectors, for CPUs without AVX-512.
    fn rows_portable(&self, k: usize, source: Source, start: Start, y: &mut [MaybeUninit<f32>]) {
        let out = self.out;
        for (r, y) in y.chunks_exact_mut(out).enumerate() {
            let mut acc = self.start(start, r);
            for (j, wj) in self.w[..k].iter().enumerate() {
                let xv = match source {
                    Source::Rows(x) => x[r * k + j],
                    Source::Sum(a, b) => a[r * k + j] + b[r * k + j],
                };
                for (a, &wv) in acc.iter_mut().zip(wj) {
                    *a += xv * wv;
                }
            }
            for (y, &a) in y.iter_mut().zip(&acc[..out]) {
                y.write(a);
            }
        }
    }

    fn start(&self, start: Start, r: usize) -> [f32; LANES] {
        match start {
            Start::Bias => self.bias,
            Start::BiasPlusRow { offset, categories } => {
                let row = &self.w[offset + categories[r] as usize];
                std::array::from_fn(|j| self.bias[j] + row[j])
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    use super::{NarrowWeights, Source, Start, GROUP, LANES};

    /// # Safety
    /// AVX-512F must be present and the lengths must match, as [`NarrowWeights::run`] checks.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn rows(
        w: &NarrowWeights,
        k: usize,
        source: Source,
        start: Start,
        y: &mut [MaybeUninit<f32>],
    ) {
        let rows = y.len() / w.out;
        // Sums are formed per group, so that the FMAs broadcast straight from memory.
        let mut scratch = match source {
            Source::Sum(..) => vec![0.0f32; GROUP * k],
            Source::Rows(_) => Vec::new(),
        };
        let mut r0 = 0;
        while r0 < rows {
            let g = (rows - r0).min(GROUP);
            let x = match source {
                // SAFETY: `x` holds `rows * k` floats (checked by `run`).
                Source::Rows(x) => unsafe { x.as_ptr().add(r0 * k) },
                Source::Sum(a, b) => {
                    let (a, b) = (&a[r0 * k..(r0 + g) * k], &b[r0 * k..(r0 + g) * k]);
                    for ((s, a), b) in scratch.iter_mut().zip(a).zip(b) {
                        *s = a + b;
                    }
                    scratch.as_ptr()
                }
            };
            // SAFETY: the group's `g` rows of `k` inputs start at `x`, and rows `r0..r0 + g`
            // of `y` and `categories` exist (checked by `run`); AVX-512F is present.
            unsafe {
                if g == GROUP {
                    group::<GROUP>(w, k, x, start, r0, y);
                } else {
                    for i in 0..g {
                        group::<1>(w, k, x.add(i * k), start, r0 + i, y);
                    }
                }
            }
            r0 += g;
        }
    }

    /// Rows `r0 .. r0 + G`, whose inputs start at `x` (`k` apart), each row's 16 lanes in one
    /// register.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn group<const G: usize>(
        w: &NarrowWeights,
        k: usize,
        x: *const f32,
        start: Start,
        r0: usize,
        y: &mut [MaybeUninit<f32>],
    ) {
        // Every load, store and `add` below stays within what the caller guarantees: `G` rows
        // of `k` inputs at `x`, rows `r0..r0 + G` of `y` and `categories`, and categories
        // inside the weights; each weight row is 16 floats, and the masked store writes only
        // `out` lanes.
        // SAFETY: as just said; `bias` is 16 floats.
        let bias = unsafe { _mm512_loadu_ps(w.bias.as_ptr()) };
        let mut acc = [bias; G];
        if let Start::BiasPlusRow { offset, categories } = start {
            for (g, acc) in acc.iter_mut().enumerate() {
                // SAFETY: as above.
                let row = unsafe {
                    let category = *categories.get_unchecked(r0 + g) as usize;
                    _mm512_loadu_ps(w.w.as_ptr().add(offset + category).cast())
                };
                *acc = _mm512_add_ps(*acc, row);
            }
        }
        for j in 0..k {
            // SAFETY: as above.
            let wj = unsafe { _mm512_loadu_ps(w.w.as_ptr().add(j).cast()) };
            for (g, acc) in acc.iter_mut().enumerate() {
                // SAFETY: as above.
                let xv = unsafe { *x.add(g * k + j) };
                *acc = _mm512_fmadd_ps(_mm512_set1_ps(xv), wj, *acc);
            }
        }
        let mask = ((1u32 << w.out) - 1) as __mmask16;
        debug_assert!(w.out <= LANES);
        for (g, acc) in acc.iter().enumerate() {
            // SAFETY: as above.
            unsafe {
                _mm512_mask_storeu_ps(y.as_mut_ptr().add((r0 + g) * w.out).cast(), mask, *acc)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_match_a_plain_loop() {
        let (out, input, rows) = (10, 13, 19);
        let weight: Vec<f32> = (0..out * input)
            .map(|i| (i % 7) as f32 * 0.25 - 0.7)
            .collect();
        let bias: Vec<f32> = (0..out).map(|i| i as f32 * 0.1).collect();
        let w = NarrowWeights::new(&weight, &bias, out, input).unwrap();
        let x: Vec<f32> = (0..rows * input)
            .map(|i| (i % 11) as f32 * 0.3 - 1.0)
            .collect();
        let xf: Vec<f32> = (0..rows * 10).map(|i| (i % 5) as f32 - 2.0).collect();
        let cats: Vec<u32> = (0..rows as u32).map(|r| r % 3).collect();
        let reference = |x: &dyn Fn(usize, usize) -> f32, k: usize, r: usize, o: usize| {
            bias[o] + (0..k).map(|j| x(r, j) * weight[o * input + j]).sum::<f32>()
        };
        let run = |f: &dyn Fn(&mut [MaybeUninit<f32>])| {
            let mut y = vec![MaybeUninit::new(f32::NAN); rows * out];
            f(&mut y);
            y.iter()
                // SAFETY: every element was initialised (to NaN, then by the kernel).
                .map(|v| unsafe { v.assume_init() })
                .collect::<Vec<f32>>()
        };
        let y = run(&|y| w.linear(&x, y).unwrap());
        let sum = run(&|y| w.sum_linear(&x, &x, y).unwrap());
        let hot = run(&|y| w.one_hot_linear(&xf, 10, &cats, y).unwrap());
        let portable = run(&|y| w.rows_portable(input, Source::Sum(&x, &x), Start::Bias, y));
        for r in 0..rows {
            for o in 0..out {
                let close = |a: f32, b: f32| (a - b).abs() < 1e-5;
                let at = r * out + o;
                assert!(close(
                    y[at],
                    reference(&|r, j| x[r * input + j], input, r, o)
                ));
                let twice = |r: usize, j: usize| 2.0 * x[r * input + j];
                assert!(close(sum[at], reference(&twice, input, r, o)));
                assert!(close(portable[at], sum[at]));
                let hot_ref = reference(&|r, j| xf[r * 10 + j], 10, r, o)
                    + weight[o * input + 10 + cats[r] as usize];
                assert!(close(hot[at], hot_ref), "row {r} out {o}");
            }
        }
        assert!(NarrowWeights::new(&[0.0; 17], &[0.0; 17], 17, 1).is_none());
        // A category past the weights is refused, not read out of bounds.
        let mut y = vec![MaybeUninit::new(0.0); out];
        assert!(w.one_hot_linear(&xf[..10], 10, &[3], &mut y).is_err());
    }
}
