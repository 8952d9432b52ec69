//! The GRU (`nn.GRU`, `aten::gru`) for f32 on the CPU: every layer, direction and step of a
//! stack over packed rows in one call, with no allocation or tensor op per step, written once
//! over [`Simd`] and run on the caller's CPU tier.
//!
//! `W_ih` and `W_hh` are packed so that the three gates of a block of hidden units (one
//! vector's worth: 16 on AVX-512, 8 on AVX2, 4 on NEON and the generic tier) are contiguous
//! per input feature and per hidden unit ([`GruLayer`]). Per direction and step `t`, for the
//! `n = batch_sizes[t]` running rows (a prefix of the rows, sorted by length), a register tile
//! of a few rows × one block accumulates the input gates `gi = x_t · W_ihᵀ + b_ih`, then the
//! hidden gates `gh = h · W_hhᵀ + b_hh`, and applies the cell on the spot, in the order of
//! operations of PyTorch's CPU cell (`GRUCell` in `aten/src/ATen/native/RNN.cpp`):
//!
//! ```text
//! r = σ(gh_r + gi_r)    z = σ(gh_z + gi_z)    n = tanh(gi_n + gh_n · r)    h' = (h - n) · z + n
//! ```
//!
//! with the vector `exp`, `sigmoid` and `tanh` of the LSTM kernels ([`super::activation`]).
//! Each row's sums run over its own features in order, whatever tile it is in, so a row's
//! results do not depend on the other rows of the batch. `h` is double-buffered across the step
//! (every block reads the whole previous `h`). The forward direction ends each sequence at its
//! own last step; the reverse direction starts each there, from its initial state. A hidden size
//! that is not a multiple of the block is padded to whole blocks: the extra units have zero
//! weights, are never read as input and never written out.
//!
//! The kernel indexes checked slices; its only `unsafe` code is the vector load and store of a
//! slice known to hold a whole vector.

use std::ops::Range;

use super::activation::{sigmoid, tanh};
use super::simd::{Isa, Simd, SimdFn};

/// The most rows per register tile on `S`: `R × 3` accumulators, 3 weight vectors, a
/// broadcast and a spare fit the registers (9 with 32 registers, 3 with 16).
const fn tile_rows<S: Simd>() -> usize {
    (S::REGISTERS - 5) / 3
}

/// One cell's weights (one layer, one direction) in PyTorch's layout, gates `r, z, n`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GruCell<'a> {
    /// `W_ih` `(3H, input)`.
    pub w_ih: &'a [f32],
    /// `W_hh` `(3H, H)`.
    pub w_hh: &'a [f32],
    /// `b_ih` `(3H)`, if the layer has biases.
    pub b_ih: Option<&'a [f32]>,
    /// `b_hh` `(3H)`, if the layer has biases.
    pub b_hh: Option<&'a [f32]>,
}

/// One layer's weights for the kernel, every direction, in blocks of `units` hidden units.
#[derive(Debug, Clone)]
pub(crate) struct GruLayer {
    /// `W_ih` ([`pack`]ed): per direction and block, `input` rows of 3 gates × `units`.
    w_ih: Vec<f32>,
    /// `b_ih` ([`pack`]ed): per direction and block, 3 gates × `units`.
    b_ih: Vec<f32>,
    /// `W_hh` ([`pack`]ed): per direction and block, `hidden` rows of 3 gates × `units`.
    w_hh: Vec<f32>,
    /// `b_hh` ([`pack`]ed): per direction and block, 3 gates × `units`.
    b_hh: Vec<f32>,
    directions: usize,
    input: usize,
    hidden: usize,
    /// Hidden units per block: the lanes of `isa`'s vectors.
    units: usize,
    isa: Isa,
}

impl GruLayer {
    /// Packs a layer for `isa` from one [`GruCell`] per direction (1 or 2) over inputs of
    /// `input` features; `None` if a length does not match, or only some of the weights have
    /// biases.
    pub fn new(cells: &[GruCell], input: usize, hidden: usize, isa: Isa) -> Option<Self> {
        let (g3, units, directions) = (3 * hidden, isa.lanes(), cells.len());
        let biased = cells.first()?.b_ih.is_some();
        if hidden == 0
            || input == 0
            || directions > 2
            || cells.iter().any(|c| {
                c.w_ih.len() != g3 * input
                    || c.w_hh.len() != g3 * hidden
                    || [c.b_ih, c.b_hh]
                        .iter()
                        .any(|b| b.is_some() != biased || b.is_some_and(|b| b.len() != g3))
            })
        {
            return None;
        }
        let blocks = hidden.div_ceil(units);
        let mut layer = Self {
            w_ih: vec![0.0; directions * blocks * input * 3 * units],
            b_ih: vec![0.0; directions * blocks * 3 * units],
            w_hh: vec![0.0; directions * blocks * hidden * 3 * units],
            b_hh: vec![0.0; directions * blocks * 3 * units],
            directions,
            input,
            hidden,
            units,
            isa,
        };
        for (d, cell) in cells.iter().enumerate() {
            let part = |len: usize| len / directions * d..len / directions * (d + 1);
            let (wi, bi, wh, bh) = (
                part(layer.w_ih.len()),
                part(layer.b_ih.len()),
                part(layer.w_hh.len()),
                part(layer.b_hh.len()),
            );
            pack(
                cell.w_ih,
                cell.b_ih,
                hidden,
                units,
                &mut layer.w_ih[wi],
                &mut layer.b_ih[bi],
            );
            pack(
                cell.w_hh,
                cell.b_hh,
                hidden,
                units,
                &mut layer.w_hh[wh],
                &mut layer.b_hh[bh],
            );
        }
        Some(layer)
    }

    /// `hidden` rounded up to whole blocks: the row stride of the kernel's state buffers.
    fn stride(&self) -> usize {
        self.hidden.div_ceil(self.units) * self.units
    }
}

/// Lays out `w` `(3H, width)` (PyTorch's layout) in `weights` as blocks of `units` hidden units,
/// each `width` rows of the three gates × `units`: row `g·H + j` of `w` (gate `g` of unit `j`)
/// goes to lane `j mod units` of gate `g` in each row of block `j / units`. `b` `(3H)` goes to
/// `biases` the same way, 3 gates × `units` per block. Units past `H` keep the zeros they hold.
fn pack(
    w: &[f32],
    b: Option<&[f32]>,
    hidden: usize,
    units: usize,
    weights: &mut [f32],
    biases: &mut [f32],
) {
    let width = w.len() / (3 * hidden);
    for (i, row) in w.chunks_exact(width).enumerate() {
        let (g, j) = (i / hidden, i % hidden);
        let (u, lane) = (j / units, j % units);
        let start = u * width * 3 * units + g * units + lane;
        for (k, &v) in row.iter().enumerate() {
            weights[start + k * 3 * units] = v;
        }
        if let Some(b) = b {
            biases[(u * 3 + g) * units + lane] = b[i];
        }
    }
}

/// Floats of the buffers a stack of `hidden` units run over `batch` sequences on `isa`
/// allocates beside its input, output and states: the input gates of each running row and two
/// `h`, rows padded to whole blocks. The caller checks them against its limits.
pub(crate) fn padded_state_len(batch: usize, hidden: usize, isa: Isa) -> Option<usize> {
    let units = isa.lanes();
    hidden
        .div_ceil(units)
        .checked_mul(units)?
        .checked_mul(batch)?
        .checked_mul(5)
}

/// The packed rows' layout: step `t` holds `sizes[t]` rows from `offsets[t]`; the running
/// sequences are a prefix of the batch.
struct Plan<'a> {
    sizes: &'a [usize],
    offsets: Vec<usize>,
    rows: usize,
    batch: usize,
}

impl<'a> Plan<'a> {
    /// `None` unless `sizes` is non-empty, positive and never increasing.
    fn new(sizes: &'a [usize]) -> Option<Self> {
        let batch = *sizes.first()?;
        if sizes.contains(&0) || sizes.windows(2).any(|w| w[1] > w[0]) {
            return None;
        }
        let mut offsets = Vec::with_capacity(sizes.len());
        let mut rows = 0usize;
        for &n in sizes {
            offsets.push(rows);
            rows = rows.checked_add(n)?;
        }
        Some(Self {
            sizes,
            offsets,
            rows,
            batch,
        })
    }

    /// Step `t`'s rows.
    fn step(&self, t: usize) -> Range<usize> {
        self.offsets[t]..self.offsets[t] + self.sizes[t]
    }
}

/// Runs a GRU stack over packed rows: `x` `(rows, input)` where step `t` holds
/// `batch_sizes[t]` rows (positive, never increasing), from `h0`
/// `(layers · directions, batch, H)`; writes the last layer's output `out`
/// `(rows, directions · H)` and `h_n` `(layers · directions, batch, H)`, both in the rows'
/// order. Every layer must have been packed for the same ISA, with the same directions and
/// hidden size, the first for `x`'s features and the others for `directions · H`. Refuses
/// buffers that do not match.
pub(crate) fn run(
    layers: &[GruLayer],
    batch_sizes: &[usize],
    x: &[f32],
    h0: &[f32],
    out: &mut [f32],
    h_n: &mut [f32],
) -> candle_core::Result<()> {
    let bail = || candle_core::bail!("scriptless-gru: buffers do not match the layers");
    let (Some(first), Some(plan)) = (layers.first(), Plan::new(batch_sizes)) else {
        return bail();
    };
    let (directions, hidden) = (first.directions, first.hidden);
    let size = |dims: &[usize]| dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    let state = size(&[layers.len(), directions, plan.batch, hidden]);
    if layers.iter().enumerate().any(|(l, layer)| {
        layer.directions != directions
            || layer.hidden != hidden
            || layer.isa.lanes() != layer.units
            || (l > 0 && layer.input != directions * hidden)
    }) || size(&[plan.rows, first.input]) != Some(x.len())
        || size(&[plan.rows, directions, hidden]) != Some(out.len())
        || state != Some(h0.len())
        || state != Some(h_n.len())
        || padded_state_len(plan.batch, hidden, first.isa).is_none()
    {
        return bail();
    }
    let per_layer = directions * plan.batch * hidden;
    // The output of the layer before, the next one's input.
    let mut below = Vec::new();
    for (l, layer) in layers.iter().enumerate() {
        let input = if l == 0 { x } else { &below };
        let (h0, h_n) = (
            &h0[l * per_layer..][..per_layer],
            &mut h_n[l * per_layer..][..per_layer],
        );
        if l + 1 == layers.len() {
            run_layer(layer, &plan, input, h0, out, h_n);
        } else {
            let mut output = vec![0.0f32; out.len()];
            run_layer(layer, &plan, input, h0, &mut output, h_n);
            below = output;
        }
    }
    Ok(())
}

/// One layer, every direction (sizes checked by [`run`]).
fn run_layer(
    layer: &GruLayer,
    plan: &Plan,
    x: &[f32],
    h0: &[f32],
    out: &mut [f32],
    h_n: &mut [f32],
) {
    let (hidden, stride, batch) = (layer.hidden, layer.stride(), plan.batch);
    // Reused by each direction: the running rows' input gates and two `h`, rows padded to
    // whole blocks. Padding lanes are never read as input nor written out.
    let mut gi = vec![0.0f32; batch * 3 * stride];
    let mut state = vec![0.0f32; 2 * batch * stride];
    let out_w = layer.directions * hidden;
    for d in 0..layer.directions {
        let h0 = &h0[d * batch * hidden..][..batch * hidden];
        layer.isa.run(Direction {
            layer,
            plan,
            d,
            x,
            h0,
            gi: &mut gi,
            state: &mut state,
            out,
        });
        // h_n: each sequence's output at its last step in this direction (the forward
        // direction's ends at its length, the reverse one's at step 0).
        let mut step = plan.sizes.len();
        for s in 0..batch {
            while d == 0 && plan.sizes[step - 1] <= s {
                step -= 1;
            }
            let t = if d == 0 { step - 1 } else { 0 };
            let row = plan.offsets[t] + s;
            h_n[(d * batch + s) * hidden..][..hidden]
                .copy_from_slice(&out[row * out_w + d * hidden..][..hidden]);
        }
    }
}

/// Every step of one direction of one layer.
struct Direction<'a> {
    layer: &'a GruLayer,
    plan: &'a Plan<'a>,
    d: usize,
    /// The layer's input, `(rows, input)`.
    x: &'a [f32],
    /// This direction's initial states, `(batch, H)`.
    h0: &'a [f32],
    /// `(batch, 3 · stride)`.
    gi: &'a mut [f32],
    /// `(2, batch, stride)`.
    state: &'a mut [f32],
    /// `(rows, D · H)`.
    out: &'a mut [f32],
}

impl SimdFn for Direction<'_> {
    type Output = ();

    #[inline(always)]
    fn call<S: Simd>(self, s: S) {
        let Self {
            layer,
            plan,
            d,
            x,
            h0,
            gi,
            state,
            out,
        } = self;
        let (input, hidden, stride, units) = (layer.input, layer.hidden, layer.stride(), S::LANES);
        debug_assert_eq!(units, layer.units);
        let (batch, blocks, steps) = (plan.batch, stride / units, plan.sizes.len());
        let out_w = layer.directions * hidden;
        let dirs = layer.directions;
        let (w_ih, b_ih, w_hh, b_hh) = (
            part(&layer.w_ih, d, dirs),
            part(&layer.b_ih, d, dirs),
            part(&layer.w_hh, d, dirs),
            part(&layer.b_hh, d, dirs),
        );
        let (block_ih, block_hh, block_b) = (input * 3 * units, hidden * 3 * units, 3 * units);
        let (mut cur, mut next) = state.split_at_mut(batch * stride);
        // Rows whose initial state is in `cur`: all of them forward, each as it joins in
        // reverse.
        let mut joined = 0;
        for k in 0..steps {
            let t = if d == 0 { k } else { steps - 1 - k };
            let rows = plan.step(t);
            let n = rows.len();
            let start = if d == 0 { batch } else { n };
            for (r, h0) in h0.chunks_exact(hidden).enumerate().take(start).skip(joined) {
                cur[r * stride..][..hidden].copy_from_slice(h0);
            }
            joined = joined.max(start);
            let x = &x[rows.start * input..rows.end * input];
            for u in 0..blocks {
                let tile = Tile {
                    w_ih: &w_ih[u * block_ih..][..block_ih],
                    b_ih: &b_ih[u * block_b..][..block_b],
                    w_hh: &w_hh[u * block_hh..][..block_hh],
                    b_hh: &b_hh[u * block_b..][..block_b],
                    input,
                    hidden,
                    stride,
                    column: u * units,
                };
                for (first, rows) in tiles(n, tile_rows::<S>()) {
                    match rows {
                        1 => tile.run::<S, 1>(s, first, x, gi, cur, next),
                        2 => tile.run::<S, 2>(s, first, x, gi, cur, next),
                        3 => tile.run::<S, 3>(s, first, x, gi, cur, next),
                        4 => tile.run::<S, 4>(s, first, x, gi, cur, next),
                        5 => tile.run::<S, 5>(s, first, x, gi, cur, next),
                        6 => tile.run::<S, 6>(s, first, x, gi, cur, next),
                        7 => tile.run::<S, 7>(s, first, x, gi, cur, next),
                        8 => tile.run::<S, 8>(s, first, x, gi, cur, next),
                        9 => tile.run::<S, 9>(s, first, x, gi, cur, next),
                        _ => unreachable!("tiles() yields 1 to tile_rows() <= 9 rows"),
                    }
                }
            }
            for (dst, h) in out[rows.start * out_w..rows.end * out_w]
                .chunks_exact_mut(out_w)
                .zip(next.chunks_exact(stride))
            {
                dst[d * hidden..][..hidden].copy_from_slice(&h[..hidden]);
            }
            std::mem::swap(&mut cur, &mut next);
        }
    }
}

/// `0..n` as near-equal tiles of at most `most` rows, `(first row, rows)`: 20 rows in tiles
/// of 9 run as 7+7+6, not 9+9+2. Every tile has 1 to `most` rows.
fn tiles(n: usize, most: usize) -> impl Iterator<Item = (usize, usize)> {
    let count = n.div_ceil(most);
    (0..count).map(move |i| {
        let (first, end) = (n * i / count, n * (i + 1) / count);
        (first, end - first)
    })
}

/// One block of hidden units of one direction, for register tiles of rows.
struct Tile<'a> {
    /// The block's `input × 3·units` input weights and `3·units` input biases.
    w_ih: &'a [f32],
    b_ih: &'a [f32],
    /// The block's `hidden × 3·units` hidden weights and `3·units` hidden biases.
    w_hh: &'a [f32],
    b_hh: &'a [f32],
    input: usize,
    hidden: usize,
    /// Row stride of `h` (and, times 3, of the input gates).
    stride: usize,
    /// The block's first unit.
    column: usize,
}

impl Tile<'_> {
    /// Rows `first..first + R` of the step: their input gates `gi = x · W_ihᵀ + b_ih` for this
    /// block from `x` (the step's rows) into `gi`, then `gh = h · W_hhᵀ + b_hh` from `h` (the
    /// previous states) and the cell; writes this block of `h_next`.
    #[inline(always)]
    fn run<S: Simd, const R: usize>(
        &self,
        s: S,
        first: usize,
        x: &[f32],
        gi: &mut [f32],
        h: &[f32],
        h_next: &mut [f32],
    ) {
        // No closures here: they would not inherit the tier's target features.
        let (stride, column) = (self.stride, self.column);
        let mut rows: [&[f32]; R] = [&[]; R];
        for (r, row) in rows.iter_mut().enumerate() {
            *row = &x[(first + r) * self.input..][..self.input];
        }
        let bias = gate_vectors(s, self.b_ih);
        for (r, acc) in accumulate::<S, R>(s, self.w_ih, &rows)
            .into_iter()
            .enumerate()
        {
            let gi = &mut gi[(first + r) * 3 * stride + column..];
            store(s, gi, s.add(acc[0], bias[0]));
            store(s, &mut gi[stride..], s.add(acc[1], bias[1]));
            store(s, &mut gi[2 * stride..], s.add(acc[2], bias[2]));
        }
        for (r, row) in rows.iter_mut().enumerate() {
            *row = &h[(first + r) * stride..][..self.hidden];
        }
        let bias = gate_vectors(s, self.b_hh);
        for (r, [hr, hz, hn]) in accumulate::<S, R>(s, self.w_hh, &rows)
            .into_iter()
            .enumerate()
        {
            let row = first + r;
            let gi = &gi[row * 3 * stride + column..];
            let (xr, xz, xn) = (
                load(s, gi),
                load(s, &gi[stride..]),
                load(s, &gi[2 * stride..]),
            );
            let (hr, hz, hn) = (s.add(hr, bias[0]), s.add(hz, bias[1]), s.add(hn, bias[2]));
            let at = row * stride + column;
            let h = load(s, &h[at..]);
            let r = sigmoid(s, s.add(hr, xr));
            let z = sigmoid(s, s.add(hz, xz));
            let n = tanh(s, s.add(xn, s.mul(hn, r)));
            store(s, &mut h_next[at..], s.add(s.mul(s.sub(h, n), z), n));
        }
    }
}

/// `Σ_k rows[r][k] · w[k]` for each of the `R` rows and the 3 gates, `w` holding a row of 3
/// gate vectors per `k`: one multiply-add per row, gate and `k`, in `k`'s order.
#[inline(always)]
fn accumulate<S: Simd, const R: usize>(s: S, w: &[f32], rows: &[&[f32]; R]) -> [[S::V; 3]; R] {
    let lanes = S::LANES;
    let zero = s.splat(0.0);
    let mut acc = [[zero; 3]; R];
    for (k, w) in w.chunks_exact(3 * lanes).enumerate() {
        let (wr, wz, wn) = (load(s, w), load(s, &w[lanes..]), load(s, &w[2 * lanes..]));
        for (acc, row) in acc.iter_mut().zip(rows) {
            let a = s.splat(row[k]);
            acc[0] = s.mul_add(a, wr, acc[0]);
            acc[1] = s.mul_add(a, wz, acc[1]);
            acc[2] = s.mul_add(a, wn, acc[2]);
        }
    }
    acc
}

/// Direction `d`'s part of `w`, which holds `directions` equal parts.
fn part(w: &[f32], d: usize, directions: usize) -> &[f32] {
    let len = w.len() / directions;
    &w[d * len..][..len]
}

/// The 3 gate vectors of a block's biases.
#[inline(always)]
fn gate_vectors<S: Simd>(s: S, b: &[f32]) -> [S::V; 3] {
    let lanes = S::LANES;
    [load(s, b), load(s, &b[lanes..]), load(s, &b[2 * lanes..])]
}

/// The first `LANES` floats of `v`.
#[inline(always)]
fn load<S: Simd>(s: S, v: &[f32]) -> S::V {
    let v = &v[..S::LANES];
    // SAFETY: `v` holds LANES floats.
    unsafe { s.load(v.as_ptr()) }
}

/// `x` to the first `LANES` floats of `v`.
#[inline(always)]
fn store<S: Simd>(s: S, v: &mut [f32], x: S::V) {
    let v = &mut v[..S::LANES];
    // SAFETY: `v` holds LANES floats.
    unsafe { s.store(v.as_mut_ptr(), x) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::tier::tested_tiers;

    /// Deterministic values in `[-scale, scale)`.
    fn values(n: usize, seed: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let v = (i * 7919 + seed * 104_729) % 2003;
                (v as f32 / 2003.0 * 2.0 - 1.0) * scale
            })
            .collect()
    }

    /// A GRU stack in PyTorch's layout, sequences of any lengths (in any order) and their
    /// initial states.
    struct Case {
        directions: usize,
        input: usize,
        hidden: usize,
        lengths: Vec<usize>,
        /// Per layer and direction: `W_ih`, `W_hh`, then `b_ih`, `b_hh` if biased.
        weights: Vec<Vec<Vec<f32>>>,
        /// `(layers · directions, batch, H)`, the sequences in the given order.
        h0: Vec<f32>,
        /// Per sequence, `(length, input)`.
        x: Vec<Vec<f32>>,
    }

    impl Case {
        #[allow(clippy::too_many_arguments)]
        fn new(
            layers: usize,
            directions: usize,
            input: usize,
            hidden: usize,
            biased: bool,
            h0: bool,
            lengths: &[usize],
        ) -> Self {
            // PyTorch's initialisation: uniform in ±1/√H.
            let (g3, scale) = (3 * hidden, 1.0 / (hidden as f32).sqrt());
            let weights = (0..layers * directions)
                .map(|k| {
                    let layer_in = if k < directions {
                        input
                    } else {
                        directions * hidden
                    };
                    let mut w = vec![
                        values(g3 * layer_in, 10 * k + 1, scale),
                        values(g3 * hidden, 10 * k + 2, scale),
                    ];
                    if biased {
                        w.push(values(g3, 10 * k + 3, scale));
                        w.push(values(g3, 10 * k + 4, scale));
                    }
                    w
                })
                .collect();
            let batch = lengths.len();
            let h0 = if h0 {
                values(layers * directions * batch * hidden, 5, 0.9)
            } else {
                vec![0.0; layers * directions * batch * hidden]
            };
            let x = lengths
                .iter()
                .enumerate()
                .map(|(b, &len)| values(len * input, 100 + b, 1.0))
                .collect();
            Self {
                directions,
                input,
                hidden,
                lengths: lengths.to_vec(),
                weights,
                h0,
                x,
            }
        }

        fn layers(&self) -> usize {
            self.weights.len() / self.directions
        }

        /// The sequences by decreasing length (PyTorch's `sorted_indices`) and `batch_sizes`.
        fn packing(&self) -> (Vec<usize>, Vec<usize>) {
            let mut order: Vec<usize> = (0..self.lengths.len()).collect();
            order.sort_by_key(|&b| std::cmp::Reverse(self.lengths[b]));
            let steps = self.lengths[order[0]];
            let sizes = (0..steps)
                .map(|t| self.lengths.iter().filter(|&&l| l > t).count())
                .collect();
            (order, sizes)
        }

        /// The kernel on `isa`: `(out, h_n)` in the packed rows' order.
        fn run(&self, isa: Isa) -> (Vec<f32>, Vec<f32>) {
            let (d, h) = (self.directions, self.hidden);
            let layers: Vec<GruLayer> = self
                .weights
                .chunks(d)
                .enumerate()
                .map(|(l, cells)| {
                    let cells: Vec<GruCell> = cells
                        .iter()
                        .map(|w| GruCell {
                            w_ih: &w[0],
                            w_hh: &w[1],
                            b_ih: w.get(2).map(Vec::as_slice),
                            b_hh: w.get(3).map(Vec::as_slice),
                        })
                        .collect();
                    let input = if l == 0 { self.input } else { d * h };
                    GruLayer::new(&cells, input, h, isa).unwrap()
                })
                .collect();
            let (order, sizes) = self.packing();
            let batch = order.len();
            let mut x = Vec::new();
            for (t, &n) in sizes.iter().enumerate() {
                for &b in &order[..n] {
                    x.extend_from_slice(&self.x[b][t * self.input..][..self.input]);
                }
            }
            let mut h0 = Vec::new();
            for k in 0..self.layers() * d {
                for &b in &order {
                    h0.extend_from_slice(&self.h0[(k * batch + b) * h..][..h]);
                }
            }
            let rows: usize = sizes.iter().sum();
            let mut out = vec![f32::NAN; rows * d * h];
            let mut h_n = vec![f32::NAN; h0.len()];
            run(&layers, &sizes, &x, &h0, &mut out, &mut h_n).unwrap();
            (out, h_n)
        }

        /// The stack in f64, sequence `b` alone: its last layer's output `(length, D · H)` and
        /// `h_n` `(layers · directions, H)`.
        fn reference(&self, b: usize) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
            let (d, h) = (self.directions, self.hidden);
            let batch = self.lengths.len();
            let wide = |v: &[f32]| -> Vec<f64> { v.iter().map(|&v| f64::from(v)).collect() };
            let mut x: Vec<Vec<f64>> = self.x[b].chunks(self.input).map(wide).collect();
            let mut h_n = Vec::new();
            for l in 0..self.layers() {
                let mut outputs = vec![Vec::new(); x.len()];
                for dir in 0..d {
                    let k = l * d + dir;
                    let w: Vec<Vec<f64>> = self.weights[k].iter().map(|w| wide(w)).collect();
                    let zero = vec![0.0; 3 * h];
                    let (b_ih, b_hh) = (w.get(2).unwrap_or(&zero), w.get(3).unwrap_or(&zero));
                    let mut state = wide(&self.h0[(k * batch + b) * h..][..h]);
                    let times: Vec<usize> = if dir == 0 {
                        (0..x.len()).collect()
                    } else {
                        (0..x.len()).rev().collect()
                    };
                    for t in times {
                        let dot = |m: &[f64], v: &[f64], row: usize| -> f64 {
                            v.iter().zip(&m[row * v.len()..]).map(|(a, b)| a * b).sum()
                        };
                        let gi: Vec<f64> =
                            (0..3 * h).map(|i| dot(&w[0], &x[t], i) + b_ih[i]).collect();
                        let gh: Vec<f64> = (0..3 * h)
                            .map(|i| dot(&w[1], &state, i) + b_hh[i])
                            .collect();
                        let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
                        state = (0..h)
                            .map(|j| {
                                let r = sigmoid(gi[j] + gh[j]);
                                let z = sigmoid(gi[h + j] + gh[h + j]);
                                let n = (gi[2 * h + j] + r * gh[2 * h + j]).tanh();
                                (1.0 - z) * n + z * state[j]
                            })
                            .collect();
                        outputs[t].extend_from_slice(&state);
                    }
                    h_n.push(state);
                }
                x = outputs;
            }
            (x, h_n)
        }

        /// The kernel on every tested tier against [`reference`](Self::reference).
        fn check(&self) {
            let (d, h) = (self.directions, self.hidden);
            let (order, sizes) = self.packing();
            let batch = order.len();
            let references: Vec<_> = (0..batch).map(|b| self.reference(b)).collect();
            for tier in tested_tiers() {
                let (out, h_n) = self.run(tier.isa().unwrap());
                let close = |a: f32, e: f64, what: &dyn Fn() -> String| {
                    assert!(
                        (f64::from(a) - e).abs() < 1e-5,
                        "{tier}: {}: {a}, not {e}",
                        what()
                    );
                };
                let mut row = 0;
                for (t, &n) in sizes.iter().enumerate() {
                    for &b in &order[..n] {
                        for (j, &e) in references[b].0[t].iter().enumerate() {
                            close(out[row * d * h + j], e, &|| {
                                format!("output of sequence {b}, step {t}, unit {j}")
                            });
                        }
                        row += 1;
                    }
                }
                for (s, &b) in order.iter().enumerate() {
                    for (k, expected) in references[b].1.iter().enumerate() {
                        for (j, &e) in expected.iter().enumerate() {
                            close(h_n[(k * batch + s) * h + j], e, &|| {
                                format!("h_n[{k}] of sequence {b}, unit {j}")
                            });
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn tiles_hold_one_to_most_rows_and_cover_the_step() {
        for most in 1..=9 {
            for n in 0..if cfg!(miri) { 40 } else { 500 } {
                let mut next = 0;
                for (first, rows) in tiles(n, most) {
                    assert_eq!(first, next);
                    assert!((1..=most).contains(&rows), "{n} rows: a tile of {rows}");
                    next += rows;
                }
                assert_eq!(next, n);
            }
        }
    }

    #[test]
    fn one_layer_matches_an_f64_gru_on_every_tier() {
        // Hidden sizes below, at and past one vector of every tier (4, 8 or 16 lanes), from zero
        // and given states; sequences of one step, of equal lengths and in any order.
        for (hidden, lengths) in [
            (1, &[1][..]),
            (3, &[3, 1, 2][..]),
            (10, &[2, 2, 2][..]),
            (17, &[1, 3, 2, 1][..]),
        ] {
            for h0 in [false, true] {
                Case::new(1, 1, 3, hidden, true, h0, lengths).check();
            }
        }
    }

    #[test]
    fn stacks_match_an_f64_gru_on_every_tier() {
        // Two layers, both directions, with and without biases; more sequences than a tile
        // holds on 16 registers, each step's rows cut into several tiles.
        Case::new(2, 2, 2, 3, true, true, &[2, 1, 3, 1, 2]).check();
        Case::new(2, 2, 3, 5, false, true, &[1, 2]).check();
        Case::new(2, 1, 2, 4, true, false, &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]).check();
    }

    #[test]
    #[cfg_attr(miri, ignore = "64 hidden units over 20 sequences are slow under Miri")]
    fn wide_stacks_match_an_f64_gru_on_every_tier() {
        let lengths = [4, 7, 1, 7, 3, 5, 2, 6, 1, 4, 7, 2, 3, 5, 6, 1, 2, 7, 3, 4];
        for (hidden, biased) in [(64, true), (17, false), (10, true)] {
            Case::new(3, 2, 6, hidden, biased, true, &lengths).check();
        }
        Case::new(1, 1, 16, 64, true, false, &[5, 5, 5]).check();
    }

    #[test]
    fn refuses_weights_and_buffers_that_do_not_match() {
        for tier in tested_tiers() {
            let isa = tier.isa().unwrap();
            let (w_ih, w_hh, b) = (vec![0.5; 12 * 2], vec![0.25; 12 * 4], vec![0.1; 12]);
            let cell = GruCell {
                w_ih: &w_ih,
                w_hh: &w_hh,
                b_ih: Some(&b),
                b_hh: Some(&b),
            };
            assert!(GruLayer::new(&[cell], 3, 4, isa).is_none());
            assert!(GruLayer::new(&[cell], 2, 5, isa).is_none());
            assert!(GruLayer::new(&[GruCell { b_hh: None, ..cell }], 2, 4, isa).is_none());
            assert!(GruLayer::new(&[cell; 3], 2, 4, isa).is_none());
            let layer = GruLayer::new(&[cell], 2, 4, isa).unwrap();
            let layers = [layer];
            let (sizes, x, h0) = ([2, 1], vec![0.0; 6], vec![0.0; 8]);
            let (mut out, mut h_n) = (vec![0.0; 12], vec![0.0; 8]);
            assert!(run(&layers, &sizes, &x, &h0, &mut out, &mut h_n).is_ok());
            assert!(run(&layers, &[1, 2], &x, &h0, &mut out, &mut h_n).is_err());
            assert!(run(&layers, &[2, 0, 1], &x, &h0, &mut out, &mut h_n).is_err());
            assert!(run(&layers, &[], &x, &h0, &mut out, &mut h_n).is_err());
            assert!(run(&layers, &[3], &x, &h0, &mut out, &mut h_n).is_err());
            assert!(run(&layers, &sizes, &x[..5], &h0, &mut out, &mut h_n).is_err());
            assert!(run(&layers, &sizes, &x, &h0[..7], &mut out, &mut h_n).is_err());
            assert!(run(&layers, &sizes, &x, &h0, &mut out[..11], &mut h_n).is_err());
            assert!(run(&layers, &sizes, &x, &h0, &mut out, &mut h_n[..7]).is_err());
            assert!(run(&[], &sizes, &x, &h0, &mut out, &mut h_n).is_err());
        }
    }
}
