//! Linear layers at most 16 outputs wide (the seed's are 10), f32: `y_r = start_r + x_r · Wᵀ`
//! with each row's outputs in one to four vectors (16 lanes: one AVX-512 vector, two AVX2,
//! four NEON) and a group of rows in flight, written once over [`Simd`].
//!
//! A general matrix product tiles its output in blocks this shape fills badly (the `gemm` crate
//! ran a 4096×10·10×10 product at ~13 GMAC/s); here each row is `in_features` vector FMAs per
//! output vector, each broadcasting one input value. The input can be a sum computed on the fly
//! (`tensor1 + tensor2`) and the start can carry more than the bias (a one-hot category's
//! weight column), which fuses each of the seed's first two models into one pass.
//!
//! Where a row's outputs would leave much of their last vector empty and blends are cheap
//! (AVX2, 9 to 12 outputs: the seed's 10 take two 8-lane vectors, 6 lanes idle), `LANES` rows
//! are packed into `out` whole vectors instead, each lane's input blended from the two rows its
//! vector spans: a quarter to three eighths fewer multiply-adds, and no overlapping stores.

use std::mem::MaybeUninit;

use super::helpers;
use super::simd::{Isa, Simd, SimdFn};

/// Outputs at most: each weight row is padded to this many floats.
const WIDTH: usize = 16;

/// Multiply-adds per chunk of rows handed to the [`helpers`] (about a microsecond's work): a
/// call of several chunks shares them with idle helper threads.
const CHUNK_MACS: usize = 32 * 1024;

/// `Wᵀ` with each row padded to 16 lanes, the bias, and the tier the kernel runs on.
#[derive(Debug, Clone)]
pub(crate) struct NarrowWeights {
    /// `w[k]`: the weights of input feature `k` for every output (zero past `out`).
    w: Vec<[f32; WIDTH]>,
    bias: [f32; WIDTH],
    out: usize,
    isa: Isa,
    /// Where `isa` packs rows ([`packs`]): the bias, then each `w[k]`, each laid out for packed
    /// rows: [`period`]`(out, LANES)` floats, float `p` holding output `p mod out` (the lanes'
    /// outputs repeat with that period). Empty elsewhere.
    packed: Vec<f32>,
}

/// The rows' input.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// `x` `(rows, k)`.
    Rows(&'a [f32]),
    /// `a + b`, both `(rows, k)`.
    Sum(&'a [f32], &'a [f32]),
}

impl<'a> Source<'a> {
    /// Rows `rows` of `k` inputs each.
    fn rows(self, rows: &std::ops::Range<usize>, k: usize) -> Self {
        let part = |x: &'a [f32]| &x[rows.start * k..rows.end * k];
        match self {
            Self::Rows(x) => Self::Rows(part(x)),
            Self::Sum(a, b) => Self::Sum(part(a), part(b)),
        }
    }
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

impl Start<'_> {
    /// The starts of rows `rows`.
    fn rows(self, rows: &std::ops::Range<usize>) -> Self {
        match self {
            Self::Bias => Self::Bias,
            Self::BiasPlusRow { offset, categories } => Self::BiasPlusRow {
                offset,
                categories: &categories[rows.clone()],
            },
        }
    }
}

/// `y`'s elements, shared by the chunks that write disjoint rows of it.
struct Shared(*mut MaybeUninit<f32>);

// SAFETY: the pointer is only turned into slices of disjoint rows, one per chunk (`run`).
unsafe impl Sync for Shared {}

impl Shared {
    /// Rows `rows` of `out` elements each.
    ///
    /// # Safety
    /// The rows lie inside the slice the pointer came from, and no other live slice from it
    /// overlaps them.
    #[allow(clippy::mut_from_ref)]
    unsafe fn rows(&self, rows: &std::ops::Range<usize>, out: usize) -> &mut [MaybeUninit<f32>] {
        // SAFETY: the caller's.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(rows.start * out), rows.len() * out) }
    }
}

impl NarrowWeights {
    /// From PyTorch's `weight` `(out, in)` row-major and `bias` `(out)`, to run on `isa`;
    /// `None` if `out > 16`.
    pub fn new(weight: &[f32], bias: &[f32], out: usize, input: usize, isa: Isa) -> Option<Self> {
        if out == 0 || out > WIDTH || weight.len() != out * input || bias.len() != out {
            return None;
        }
        let w = (0..input)
            .map(|k| std::array::from_fn(|j| if j < out { weight[j * input + k] } else { 0.0 }))
            .collect();
        let bias = std::array::from_fn(|j| if j < out { bias[j] } else { 0.0 });
        let weights = Self {
            w,
            bias,
            out,
            isa,
            packed: Vec::new(),
        };
        Some(weights.with_isa(isa))
    }

    /// The same weights, run on `isa`.
    pub fn with_isa(mut self, isa: Isa) -> Self {
        self.isa = isa;
        self.packed = match packed_lanes(isa, self.out) {
            Some(lanes) => std::iter::once(&self.bias)
                .chain(&self.w)
                .flat_map(|src| (0..period(self.out, lanes)).map(move |p| src[p % self.out]))
                .collect(),
            None => Vec::new(),
        };
        self
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
    /// kernel indexes without bounds checks.
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
        // Chunks of whole 16-row groups (one at least, however wide the rows), shared with
        // idle helper threads.
        let chunk = (CHUNK_MACS / (k.max(1) * self.out))
            .max(1)
            .next_multiple_of(16);
        if rows <= chunk {
            self.isa.run(Rows {
                w: self,
                k,
                source,
                start,
                y,
            });
            return Ok(());
        }
        let (out, shared) = (self.out, Shared(y.as_mut_ptr()));
        helpers::for_each_chunk(rows.div_ceil(chunk), &|c| {
            let part = c * chunk..((c + 1) * chunk).min(rows);
            // SAFETY: `y` holds `rows * out` elements; each chunk `c` runs once, on its own
            // rows.
            let y = unsafe { shared.rows(&part, out) };
            self.isa.run(Rows {
                w: self,
                k,
                source: source.rows(&part, k),
                start: start.rows(&part),
                y,
            });
        })
    }
}

/// Whether `S` packs rows of `out` outputs: blends issue beside the multiply-adds, a vector
/// spans two rows at most (`LANES < out`), a row of the remainder fits two vectors, and packing
/// saves at least a quarter of the multiply-adds (`out / LANES <= 1.5` against 2 per row).
fn packs<S: Simd>(out: usize) -> bool {
    S::BLEND_BESIDE_FMA && S::LANES < out && 2 * out <= 3 * S::LANES
}

/// The period of packed rows' outputs, in lanes: `lcm(out, lanes)`.
const fn period(out: usize, lanes: usize) -> usize {
    let (mut a, mut b) = (out, lanes);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    out / a * lanes
}

/// `isa`'s lanes, if it packs rows of `out` outputs.
fn packed_lanes(isa: Isa, out: usize) -> Option<usize> {
    struct Packed(usize);
    impl SimdFn for Packed {
        type Output = Option<usize>;
        fn call<S: Simd>(self, _: S) -> Option<usize> {
            packs::<S>(self.0).then_some(S::LANES)
        }
    }
    isa.run(Packed(out))
}

/// The kernel: every row of `y`, with [`NarrowWeights::run`]'s lengths checked.
struct Rows<'a, 'b> {
    w: &'a NarrowWeights,
    k: usize,
    source: Source<'a>,
    start: Start<'a>,
    y: &'b mut [MaybeUninit<f32>],
}

impl SimdFn for Rows<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn call<S: Simd>(self, s: S) {
        // Vectors per row, and rows per group: as many accumulators as the registers hold
        // beside one row of weights and the broadcast input (at most 16 rows).
        let vectors = self.w.out.div_ceil(S::LANES);
        let rows = (S::REGISTERS - vectors - 1) / vectors;
        let packed = matches!(self.start, Start::Bias)
            && packs::<S>(self.w.out)
            && self.w.packed.len() == (self.k + 1) * period(self.w.out, S::LANES);
        // SAFETY: `run` checked every length and category; `vectors * LANES <= 16` floats of
        // each weight row are read; the packed table has the length `packed_group` reads.
        unsafe {
            // Instantiated for the widths AVX2 packs (other tiers and widths never pack).
            match self.w.out {
                9 if packed => return self.packed::<S, 9>(s),
                10 if packed => return self.packed::<S, 10>(s),
                11 if packed => return self.packed::<S, 11>(s),
                12 if packed => return self.packed::<S, 12>(s),
                _ => {}
            }
            match (vectors, rows) {
                (1, 16..) => self.rows::<S, 1, 16>(s),
                (1, 12..) => self.rows::<S, 1, 12>(s),
                (1, _) => self.rows::<S, 1, 8>(s),
                (2, 12..) => self.rows::<S, 2, 12>(s),
                (2, 6..) => self.rows::<S, 2, 6>(s),
                (2, _) => self.rows::<S, 2, 4>(s),
                (3, 8..) => self.rows::<S, 3, 8>(s),
                (3, _) => self.rows::<S, 3, 4>(s),
                (_, 6..) => self.rows::<S, 4, 6>(s),
                _ => self.rows::<S, 4, 2>(s),
            }
        }
    }
}

impl Rows<'_, '_> {
    /// Every row, `G` at a time (then one at a time), `V` vectors each.
    ///
    /// # Safety
    /// The lengths are those [`NarrowWeights::run`] checks, and `V * LANES` is at least `out`
    /// and at most 16.
    #[inline(always)]
    unsafe fn rows<S: Simd, const V: usize, const G: usize>(self, s: S) {
        let (w, k, start) = (self.w, self.k, self.start);
        self.groups(G, |x, r0, g, y| {
            // SAFETY: the group's `g` rows of `k` inputs start at `x`, and rows `r0..r0 + g`
            // of `y` and `categories` exist (`groups`, and the lengths `run` checked).
            unsafe {
                if g == G {
                    group::<S, V, G>(s, w, k, x, start, r0, y);
                } else {
                    for i in 0..g {
                        group::<S, V, 1>(s, w, k, x.add(i * k), start, r0 + i, y);
                    }
                }
            }
        });
    }

    /// Every row, `LANES` packed at a time (then one at a time in two vectors each), for
    /// `OUT` outputs.
    ///
    /// # Safety
    /// The lengths are those [`NarrowWeights::run`] checks, the start is the bias, `packs::<S>`
    /// holds for `OUT` and the packed table is `(k + 1) * period(OUT, LANES)` floats.
    #[inline(always)]
    unsafe fn packed<S: Simd, const OUT: usize>(self, s: S) {
        let (w, k) = (self.w, self.k);
        self.groups(S::LANES, |x, r0, g, y| {
            // SAFETY: as for `rows`; a row of `OUT <= 2 * LANES` outputs fits two vectors.
            unsafe {
                if g == S::LANES {
                    packed_group::<S, OUT>(s, w, k, x, r0, y);
                } else {
                    for i in 0..g {
                        group::<S, 2, 1>(s, w, k, x.add(i * k), Start::Bias, r0 + i, y);
                    }
                }
            }
        });
    }

    /// Calls `f(x, r0, g, y)` for each group of `size` rows (the last may be shorter): rows
    /// `r0..r0 + g`, whose `g * k` inputs start at `x`. Sums are formed per group, in a
    /// scratch buffer, so that the multiply-adds broadcast straight from memory.
    #[inline(always)]
    fn groups(
        self,
        size: usize,
        mut f: impl FnMut(*const f32, usize, usize, &mut [MaybeUninit<f32>]),
    ) {
        let Self {
            w, k, source, y, ..
        } = self;
        let rows = y.len() / w.out;
        let mut scratch = match source {
            Source::Sum(..) => vec![0.0f32; size * k],
            Source::Rows(_) => Vec::new(),
        };
        let mut r0 = 0;
        while r0 < rows {
            let g = (rows - r0).min(size);
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
            f(x, r0, g, y);
            r0 += g;
        }
    }
}

/// Rows `r0 .. r0 + LANES`, packed: their `LANES * OUT` outputs are `OUT` whole vectors, lane
/// `i` of vector `v` holding output `(v * LANES + i) mod OUT` of row `(v * LANES + i) / OUT`.
/// A vector spans two rows at most, so its input is the first row's broadcast blended with
/// the second's at a lane that is a constant once the loop over vectors unrolls. Vectors a
/// period apart share their weights (one load for both, where registers allow).
///
/// # Safety
/// `LANES` rows of `k` inputs at `x` and rows `r0..r0 + LANES` of `y` exist, `LANES < OUT`,
/// and the packed table is `(k + 1) * period(OUT, LANES)` floats.
#[inline(always)]
unsafe fn packed_group<S: Simd, const OUT: usize>(
    s: S,
    w: &NarrowWeights,
    k: usize,
    x: *const f32,
    r0: usize,
    y: &mut [MaybeUninit<f32>],
) {
    let lanes = S::LANES;
    let period = const { period(OUT, S::LANES) };
    let table = w.packed.as_ptr();
    // Every read and write below stays within what the caller guarantees: rows `first` and
    // `first + 1` are below `LANES` whenever read, and vector `v`'s weights start
    // `v * lanes mod period` floats into a block of `period`, a multiple of `lanes`.
    // SAFETY: as just said.
    let mut acc: [S::V; OUT] =
        std::array::from_fn(|v| unsafe { s.load(table.add(v * lanes % period)) });
    for j in 0..k {
        // SAFETY: as above.
        let wj = unsafe { table.add((j + 1) * period) };
        for (v, acc) in acc.iter_mut().enumerate() {
            let first = v * lanes / OUT;
            // Lanes of the vector in row `first`; the rest are in row `first + 1`.
            let split = (first + 1) * OUT - v * lanes;
            // SAFETY: as above.
            let xv = s.splat(unsafe { *x.add(first * k + j) });
            let xv = if split >= lanes {
                xv
            } else {
                // SAFETY: as above.
                let next = s.splat(unsafe { *x.add((first + 1) * k + j) });
                s.blend_at(xv, next, split)
            };
            // SAFETY: as above.
            *acc = s.mul_add(xv, unsafe { s.load(wj.add(v * lanes % period)) }, *acc);
        }
    }
    for (v, &acc) in acc.iter().enumerate() {
        // SAFETY: as above; the `OUT` vectors are rows `r0..r0 + LANES` of `y` exactly.
        unsafe { s.store(y.as_mut_ptr().add(r0 * OUT + v * lanes).cast(), acc) };
    }
}

/// Rows `r0 .. r0 + G`, whose inputs start at `x` (`k` apart), each row's outputs in `V`
/// vectors.
///
/// # Safety
/// `G` rows of `k` inputs at `x`, rows `r0..r0 + G` of `y` and `categories` exist, categories
/// lie inside the weights, and `out <= V * LANES <= 16`.
#[inline(always)]
unsafe fn group<S: Simd, const V: usize, const G: usize>(
    s: S,
    w: &NarrowWeights,
    k: usize,
    x: *const f32,
    start: Start,
    r0: usize,
    y: &mut [MaybeUninit<f32>],
) {
    let lanes = S::LANES;
    // Every load, store and `add` below stays within what the caller guarantees; each weight
    // row is 16 floats, of which `V * LANES` are read, and the stores write only `out` lanes.
    // SAFETY: as just said; `bias` is 16 floats.
    let bias: [S::V; V] =
        std::array::from_fn(|v| unsafe { s.load(w.bias.as_ptr().add(v * lanes)) });
    let mut acc = [bias; G];
    if let Start::BiasPlusRow { offset, categories } = start {
        for (g, acc) in acc.iter_mut().enumerate() {
            // SAFETY: as above.
            let row = unsafe {
                let category = *categories.get_unchecked(r0 + g) as usize;
                w.w.as_ptr().add(offset + category).cast::<f32>()
            };
            for (v, acc) in acc.iter_mut().enumerate() {
                // SAFETY: as above.
                *acc = s.add(*acc, unsafe { s.load(row.add(v * lanes)) });
            }
        }
    }
    for j in 0..k {
        // SAFETY: as above.
        let wj: [S::V; V] = std::array::from_fn(|v| unsafe {
            s.load(w.w.as_ptr().add(j).cast::<f32>().add(v * lanes))
        });
        for (g, acc) in acc.iter_mut().enumerate() {
            // SAFETY: as above.
            let xv = s.splat(unsafe { *x.add(g * k + j) });
            for (acc, &wv) in acc.iter_mut().zip(&wj) {
                *acc = s.mul_add(xv, wv, *acc);
            }
        }
    }
    // Rows are stored in order, in whole vectors: a vector reaching past its row's `out`
    // lanes writes the start of the next row, which that row's own stores then overwrite (no
    // masked stores, slow on some CPUs). Only the rows at the end of `y` go through a buffer.
    // Both loops index `acc` by constants only, so that it stays in registers.
    let out = w.out;
    if (r0 + G - 1) * out + V * lanes <= y.len() {
        for (g, acc) in acc.iter().enumerate() {
            for (v, &acc) in acc.iter().enumerate() {
                // SAFETY: as above; the check above keeps every whole vector inside `y`.
                unsafe { s.store(y.as_mut_ptr().add((r0 + g) * out + v * lanes).cast(), acc) };
            }
        }
    } else {
        let mut rows = [[0.0f32; WIDTH]; G];
        for (row, acc) in rows.iter_mut().zip(&acc) {
            for (v, &acc) in acc.iter().enumerate() {
                // SAFETY: `V * LANES <= 16` floats of the row buffer.
                unsafe { s.store(row.as_mut_ptr().add(v * lanes), acc) };
            }
        }
        for (g, row) in rows.iter().enumerate() {
            let start = (r0 + g) * out;
            for (y, &value) in y[start..start + out].iter_mut().zip(&row[..out]) {
                y.write(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_match_a_plain_loop_on_every_tier_and_width() {
        let (input, features) = (13, 10);
        for tier in crate::cpu::tier::tested_tiers() {
            let isa = tier.isa().unwrap();
            // One to four vectors per row on every tier, whole groups and a tail of rows.
            // 9 to 12 outputs are packed on AVX2; 300 rows of 9 outputs or more are split
            // into chunks for the helper threads. Under Miri, which interprets every
            // multiply-add (the generic tier's lane by lane), 17 rows (still whole groups and a
            // tail on every tier: groups of 2 to 16 rows) and one chunked width: 12, packed on
            // AVX2, whose `one_hot_linear` rows are split too.
            let outs = [1, 3, 8, 9, 10, 11, 12, 13, 16];
            let (small, chunked): (usize, &[usize]) =
                if cfg!(miri) { (17, &[12]) } else { (37, &outs) };
            let cases = outs.iter().map(|&out| (small, out));
            for (rows, out) in cases.chain(chunked.iter().map(|&out| (300, out))) {
                // Under Miri, the chunked cases leave out `sum_linear` (its chunks' inputs are
                // summed through checked slices, then it runs the kernel as `linear` does) and
                // check a sample of rows: the first and last of every 16 (chunks are whole
                // 16-row groups) and the last 16.
                let miri_chunked = cfg!(miri) && rows > small;
                let checked = |r: usize| {
                    !miri_chunked || r.is_multiple_of(16) || r % 16 == 15 || r + 16 >= rows
                };
                let weight: Vec<f32> = (0..out * input)
                    .map(|i| (i % 7) as f32 * 0.25 - 0.7)
                    .collect();
                let bias: Vec<f32> = (0..out).map(|i| i as f32 * 0.1).collect();
                let w = NarrowWeights::new(&weight, &bias, out, input, isa).unwrap();
                let packs = tier == crate::cpu::tier::CpuTier::Avx2 && (9..=12).contains(&out);
                assert_eq!(
                    !w.packed.is_empty(),
                    packs,
                    "{tier}, {out} outputs: packing"
                );
                let x: Vec<f32> = (0..rows * input)
                    .map(|i| (i % 11) as f32 * 0.3 - 1.0)
                    .collect();
                let xf: Vec<f32> = (0..rows * features).map(|i| (i % 5) as f32 - 2.0).collect();
                let cats: Vec<u32> = (0..rows as u32).map(|r| r % 3).collect();
                // Row `r` of `x` (`rows` rows of `k` values) times the first `k` weights of
                // output `o`, plus its bias. Over slices, which Miri interprets faster than a
                // closure call per element.
                let reference = |x: &[f32], r: usize, o: usize| {
                    let k = x.len() / rows;
                    let (x, w) = (&x[r * k..][..k], &weight[o * input..][..k]);
                    bias[o] + x.iter().zip(w).map(|(x, w)| x * w).sum::<f32>()
                };
                let twice: Vec<f32> = x.iter().map(|x| 2.0 * x).collect();
                let run = |f: &dyn Fn(&mut [MaybeUninit<f32>])| {
                    // One guard element past the end: the kernel must not write it.
                    let mut y = vec![MaybeUninit::new(f32::NAN); rows * out + 1];
                    y[rows * out] = MaybeUninit::new(-7.0);
                    f(&mut y[..rows * out]);
                    y.iter()
                        // SAFETY: every element was initialised (to NaN, then by the kernel).
                        .map(|v| unsafe { v.assume_init() })
                        .collect::<Vec<f32>>()
                };
                let y = run(&|y| w.linear(&x, y).unwrap());
                let sum = (!miri_chunked).then(|| run(&|y| w.sum_linear(&x, &x, y).unwrap()));
                let hot = run(&|y| w.one_hot_linear(&xf, features, &cats, y).unwrap());
                for result in [Some(&y), sum.as_ref(), Some(&hot)].into_iter().flatten() {
                    assert_eq!(
                        result[rows * out],
                        -7.0,
                        "{tier}, {out} outputs: wrote past y"
                    );
                }
                for r in (0..rows).filter(|&r| checked(r)) {
                    for o in 0..out {
                        let close = |a: f32, b: f32| (a - b).abs() < 1e-5;
                        let at = r * out + o;
                        // Formatted on failure only (for every element, it was over a third of
                        // the test's time under Miri).
                        let what =
                            || format!("{tier}, {out} outputs, row {r} of {rows}, output {o}");
                        assert!(close(y[at], reference(&x, r, o)), "{}", what());
                        if let Some(sum) = &sum {
                            assert!(close(sum[at], reference(&twice, r, o)), "{}", what());
                        }
                        let hot_ref =
                            reference(&xf, r, o) + weight[o * input + features + cats[r] as usize];
                        assert!(close(hot[at], hot_ref), "{}", what());
                    }
                }
                // A category past the weights is refused, not read out of bounds.
                let mut y = vec![MaybeUninit::new(0.0); out];
                assert!(w
                    .one_hot_linear(&xf[..features], features, &[3], &mut y)
                    .is_err());
            }
            assert!(NarrowWeights::new(&[0.0; 17], &[0.0; 17], 17, 1, isa).is_none());
            // Rows wider than a chunk's multiply-adds (3300 · 10 > 32K): one 16-row group per
            // chunk, two chunks. (Not under Miri: it interprets it in minutes, and the 300-row
            // cases take the same chunked path.)
            if cfg!(miri) {
                continue;
            }
            let (input, out, rows) = (3300, 10, 20);
            let weight: Vec<f32> = (0..out * input).map(|i| (i % 3) as f32 - 1.0).collect();
            let w = NarrowWeights::new(&weight, &[0.5; 10], out, input, isa).unwrap();
            let x: Vec<f32> = (0..rows * input).map(|i| (i % 5) as f32 * 0.5).collect();
            let mut y = vec![MaybeUninit::new(f32::NAN); rows * out];
            w.linear(&x, &mut y).unwrap();
            for (at, y) in y.iter().enumerate() {
                let (r, o) = (at / out, at % out);
                let terms = (0..input).map(|j| x[r * input + j] * weight[o * input + j]);
                let (dot, scale) = terms.fold((0.0f32, 0.0f32), |(d, s), t| (d + t, s + t.abs()));
                // SAFETY: initialised (to NaN, then by the kernel).
                let y = unsafe { y.assume_init() };
                let what = format!("{tier}, wide rows: row {r}, output {o}");
                assert!((y - 0.5 - dot).abs() <= 1e-5 * scale, "{what}");
            }
        }
    }
}
