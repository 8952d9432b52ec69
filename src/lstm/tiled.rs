//! The recurrence for f32 on the CPU, for LSTMs without projection (the seed's model, the
//! benchmark's configurations and most real models), written once over [`Simd`] and run on
//! the model's CPU tier.
//!
//! `[W_ih | W_hh]` is packed once, at load, so that the four gates of a block of hidden units
//! (one vector's worth: 16 on AVX-512, 8 on AVX2, 4 on NEON and the generic tier) are
//! contiguous per input feature and per hidden unit ([`PackedLayer`]). Each step, a register
//! tile of a few sequences × the block's 4 gate vectors starts from the biases, accumulates
//! `x_t · W_ihᵀ` and `h · W_hhᵀ` and applies the cell on the spot: the input projection never
//! goes through memory, gates never leave registers, and the cell state is updated where it
//! lies. A hidden size that is not a multiple of the block is padded to whole blocks: the extra
//! units have zero weights, are never read as input and never written out.
//!
//! With enough work per step, a [`team`] of threads splits the hidden-unit blocks (each keeps
//! its share of `W_hh` hot in its own cache) and meets at one barrier per step; `h` is
//! double-buffered across it. A thread that panics or cannot be spawned never hangs the
//! others: the team turns it into an error, or into fewer threads.

use super::packing::PackPlan;
use crate::cpu::activation::cell;
use crate::cpu::simd::{Isa, Simd, SimdFn};
use crate::cpu::team::{self, Abandoned, Member};

/// Multiply-adds per step below which one thread runs the layer (waking and synchronising a
/// second costs a few µs per step).
const PARALLEL_MIN_MACS: usize = 1 << 20;

/// Sequences per register tile on `S`: `R × 4` accumulators, 4 weight vectors and a broadcast
/// fit the registers (6 with 32 registers, 2 with 16).
const fn tile_rows<S: Simd>() -> usize {
    (S::REGISTERS - 5) / 4
}

/// One layer's weights for this kernel: per direction and per block of `units` hidden units,
/// the rows of `[W_ihᵀ; W_hhᵀ]` (`input + hidden` of them), each the block's 4 gates × `units`;
/// and `b_ih + b_hh` in the same gate order. Units past `hidden` in the last block are zero.
#[derive(Debug, Clone)]
pub(crate) struct PackedLayer {
    weights: Vec<f32>,
    bias: Vec<f32>,
    directions: usize,
    input: usize,
    hidden: usize,
    /// Hidden units per block: the lanes of `isa`'s vectors.
    units: usize,
    isa: Isa,
}

impl PackedLayer {
    /// Packs a layer for `isa` given `W_ih` `(D * 4H, input)`, `W_hh` `(D * 4H, H)` (PyTorch's
    /// layout, directions stacked) and the summed biases `(D * 4H)`; `None` if the lengths do
    /// not match (the caller checks f32 and no projection).
    pub fn new(
        w_ih: &[f32],
        w_hh: &[f32],
        bias: Option<&[f32]>,
        directions: usize,
        input: usize,
        hidden: usize,
        isa: Isa,
    ) -> Option<Self> {
        let (g4, units) = (4 * hidden, isa.lanes());
        if hidden == 0
            || w_ih.len() != directions * g4 * input
            || w_hh.len() != directions * g4 * hidden
            || bias.is_some_and(|b| b.len() != directions * g4)
        {
            return None;
        }
        let blocks = hidden.div_ceil(units);
        let mut weights = Vec::with_capacity(directions * 4 * blocks * units * (input + hidden));
        let mut packed_bias = Vec::with_capacity(directions * 4 * blocks * units);
        for d in 0..directions {
            // Row `g * H + j` of direction d's matrices is gate g of hidden unit j; units past
            // H (padding) get zeros.
            let row = |g: usize, j: usize| (j < hidden).then(|| d * g4 + g * hidden + j);
            for u in 0..blocks {
                for (w, width) in [(w_ih, input), (w_hh, hidden)] {
                    for k in 0..width {
                        for g in 0..4 {
                            weights.extend((0..units).map(|j| {
                                row(g, u * units + j).map_or(0.0, |row| w[row * width + k])
                            }));
                        }
                    }
                }
                for g in 0..4 {
                    packed_bias.extend((0..units).map(|j| {
                        row(g, u * units + j)
                            .and_then(|row| bias.map(|b| b[row]))
                            .unwrap_or(0.0)
                    }));
                }
            }
        }
        Some(Self {
            weights,
            bias: packed_bias,
            directions,
            input,
            hidden,
            units,
            isa,
        })
    }

    /// Directions packed.
    pub fn directions(&self) -> usize {
        self.directions
    }

    /// Features per step of the layer's input.
    pub fn input(&self) -> usize {
        self.input
    }

    /// `hidden` rounded up to whole blocks: the row stride of the kernel's `h` and `c` buffers.
    fn stride(&self) -> usize {
        self.hidden.div_ceil(self.units) * self.units
    }

    /// Direction `d`, block `u`: its `(input + hidden) × 4·units` weights and `4·units` biases.
    fn block(&self, d: usize, u: usize) -> (&[f32], &[f32]) {
        let index = d * self.stride() / self.units + u;
        let (size, bias) = ((self.input + self.hidden) * 4 * self.units, 4 * self.units);
        (
            &self.weights[index * size..(index + 1) * size],
            &self.bias[index * bias..(index + 1) * bias],
        )
    }
}

/// The threads worth using for a layer run over `plan`, of `threads` available: one unless
/// each step has enough work to repay waking and synchronising the others.
pub(super) fn threads_for(w: &PackedLayer, plan: &PackPlan, threads: usize) -> usize {
    let macs = [4 * w.stride(), w.input + w.hidden]
        .iter()
        .fold(plan.batch(), |n, &d| n.saturating_mul(d));
    if macs >= PARALLEL_MIN_MACS {
        threads
    } else {
        1
    }
}

/// Runs one layer (every direction) over the packed input `x` `(rows, input)`, writing the
/// packed output `(rows, directions * H)` and the sorted `h_n`, `c_n` `(directions, batch, H)`,
/// all zero on entry, on a [`team`] of up to `threads` threads (at most one per block).
/// Refuses buffers of the wrong size (the tiles index through raw pointers), and returns an
/// error, never hangs, if a thread fails.
pub(super) fn run_layer(
    x: &[f32],
    w: &PackedLayer,
    plan: &PackPlan,
    threads: usize,
    out: &mut [f32],
    h_n: &mut [f32],
    c_n: &mut [f32],
) -> candle_core::Result<()> {
    let (hidden, batch, directions, stride) = (w.hidden, plan.batch(), w.directions, w.stride());
    // Every row index the tiles form is below `plan.rows()` (PackPlan's invariants); what is
    // left to check is that the buffers hold what the plan and the weights say.
    let size = |dims: &[usize]| dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if size(&[plan.rows(), w.input]) != Some(x.len())
        || size(&[plan.rows(), directions, hidden]) != Some(out.len())
        || size(&[directions, batch, hidden]) != Some(h_n.len())
        || size(&[directions, batch, hidden]) != Some(c_n.len())
        || size(&[3, batch, stride]).is_none()
    {
        candle_core::bail!("scriptless-lstm-layer-tiled: buffers do not match the plan");
    }
    let threads = threads.clamp(1, stride / w.units);
    let out_w = directions * hidden;
    for d in 0..directions {
        // The state, rows padded to whole blocks: `c`, then two `h` buffers.
        let mut state = vec![0.0f32; 3 * batch * stride];
        let job = Job {
            w,
            plan,
            direction: d,
            directions,
            shared: Shared {
                x: x.as_ptr(),
                out: out.as_mut_ptr(),
                c: state.as_mut_ptr(),
                // SAFETY: `state` holds 3 * batch * stride floats.
                h: unsafe { state.as_mut_ptr().add(batch * stride) },
            },
        };
        team::run(threads, |member| w.isa.run(Steps { job: &job, member }))?;
        // h_n: each sequence's output at its last step in this direction; c_n: the state.
        for (s, &b) in plan.order().iter().enumerate() {
            let step = if d == 0 { plan.lengths()[b] - 1 } else { 0 };
            let row = plan.offsets()[step] + s;
            let src = row * out_w + d * hidden;
            let dst = (d * batch + s) * hidden;
            h_n[dst..dst + hidden].copy_from_slice(&out[src..src + hidden]);
            c_n[dst..dst + hidden].copy_from_slice(&state[s * stride..s * stride + hidden]);
        }
    }
    Ok(())
}

/// Raw pointers to the buffers the threads share; each thread writes disjoint columns.
struct Shared {
    /// The packed layer input, `(rows, input)`.
    x: *const f32,
    out: *mut f32,
    /// `(batch, stride)`: the cell state, rows padded to whole blocks.
    c: *mut f32,
    /// Two `(batch, stride)` buffers: step `k` reads buffer `k % 2` and writes the other.
    h: *mut f32,
}

// SAFETY: the pointers are only dereferenced inside `Job::run`, whose callers guarantee the
// disjoint-writes discipline described there.
unsafe impl Sync for Shared {}

/// One direction of one layer, for a team to run.
struct Job<'a> {
    w: &'a PackedLayer,
    plan: &'a PackPlan,
    direction: usize,
    directions: usize,
    shared: Shared,
}

/// One team member's run of a [`Job`], on the layer's ISA.
struct Steps<'a> {
    job: &'a Job<'a>,
    member: &'a Member<'a>,
}

impl SimdFn for Steps<'_> {
    type Output = Result<(), Abandoned>;

    #[inline(always)]
    fn call<S: Simd>(self, s: S) -> Result<(), Abandoned> {
        // SAFETY: `run_layer` checked the buffers against the plan and they outlive the team;
        // each member writes only its own blocks' columns of `c`, `h` and `out`, and `h` is
        // read after the sync that ends the step writing it; the layer was packed for this
        // ISA's lanes.
        unsafe { self.job.run(s, self.member) }
    }
}

impl Job<'_> {
    /// Every step of this direction for `member`'s share of the hidden-unit blocks, meeting
    /// the other members after each step.
    ///
    /// # Safety
    /// The pointers in `shared` must be valid for the plan's sizes (as [`run_layer`] checks),
    /// the layer packed for `S::LANES` units per block, and every member of the team must run
    /// this (they meet at each step's sync).
    #[inline(always)]
    unsafe fn run<S: Simd>(&self, s: S, member: &Member) -> Result<(), Abandoned> {
        let (plan, hidden, input, d) = (self.plan, self.w.hidden, self.w.input, self.direction);
        let (out_w, batch, stride) = (self.directions * hidden, plan.batch(), self.w.stride());
        let units = S::LANES;
        debug_assert_eq!(units, self.w.units);
        let Shared { x, out, c, h } = self.shared;
        let steps = plan.batch_sizes().len();
        for k in 0..steps {
            let t = if d == 0 { k } else { steps - 1 - k };
            let (n, row0) = (plan.batch_sizes()[t], plan.offsets()[t]);
            // Every `add` below stays inside the buffer `run_layer` checked: rows `row0 + r` are
            // below `plan.rows()` and `r` below `batch` (PackPlan's invariants), columns within
            // the row widths.
            // SAFETY: as just said.
            let (h_prev, h_next) = unsafe {
                (
                    h.add((k % 2) * batch * stride),
                    h.add(((k + 1) % 2) * batch * stride),
                )
            };
            for u in member.share(stride / units) {
                let (w, bias) = self.w.block(d, u);
                for (r, rows) in tiles(n, tile_rows::<S>()) {
                    // SAFETY: as above.
                    let tile = unsafe {
                        Tile {
                            bias: bias.as_ptr(),
                            w: w.as_ptr(),
                            x: x.add((row0 + r) * input),
                            input,
                            h_prev: h_prev.add(r * stride),
                            hidden,
                            stride,
                            c: c.add(r * stride + u * units),
                            h_next: h_next.add(r * stride + u * units),
                            out: out.add((row0 + r) * out_w + d * hidden + u * units),
                            out_stride: out_w,
                            out_units: (hidden - u * units).min(units),
                        }
                    };
                    // SAFETY: the tile's `rows` rows lie inside the buffers (above), and the
                    // block holds `S::LANES` units.
                    unsafe {
                        match rows {
                            1 => tile.run::<S, 1>(s),
                            2 => tile.run::<S, 2>(s),
                            3 => tile.run::<S, 3>(s),
                            4 => tile.run::<S, 4>(s),
                            5 => tile.run::<S, 5>(s),
                            6 => tile.run::<S, 6>(s),
                            _ => unreachable!("tiles() yields 1..=6 rows"),
                        }
                    }
                }
            }
            member.sync()?;
        }
        Ok(())
    }
}

/// `0..n` as near-equal tiles of at most `most` rows, `(first row, rows)`: 32 rows in tiles
/// of 6 run as 6+6+5+5+5+5, not 6×5+2. Every tile has 1 to `most` rows.
fn tiles(n: usize, most: usize) -> impl Iterator<Item = (usize, usize)> {
    let count = n.div_ceil(most);
    (0..count).map(move |i| {
        let (first, end) = (n * i / count, n * (i + 1) / count);
        (first, end - first)
    })
}

/// One register tile: `R` sequences × one block of hidden units (4 gate vectors).
struct Tile {
    /// The block's 4·units biases.
    bias: *const f32,
    /// The block's `(input + hidden) × 4·units` weights.
    w: *const f32,
    /// The tile's first input row; rows are `input` apart.
    x: *const f32,
    input: usize,
    /// The tile's first row of the previous `h`, whose first `hidden` units are read; rows
    /// (and those of `c`, `h_next`) are `stride` apart.
    h_prev: *const f32,
    hidden: usize,
    stride: usize,
    c: *mut f32,
    h_next: *mut f32,
    out: *mut f32,
    out_stride: usize,
    /// Units of this block that exist (all, or fewer in a padded last block): written to `out`.
    out_units: usize,
}

impl Tile {
    /// gates = b + x_t · W_ihᵀ + h_prev · W_hhᵀ for this block, then the cell; writes `c`,
    /// `h_next` and `out`.
    ///
    /// # Safety
    /// The tile's pointers are valid for its `R` rows: `4·LANES` biases,
    /// `(input + hidden) × 4·LANES` weights, `input` floats per row of `x`, `hidden` of
    /// `h_prev`, `LANES` of `c` and `h_next`, `out_units` of `out`.
    #[inline(always)]
    unsafe fn run<S: Simd, const R: usize>(&self, s: S) {
        let lanes = S::LANES;
        // Every load, store and `add` below stays within the extents the caller guarantees;
        // the partial store writes only `out_units` lanes.
        // SAFETY: as just said.
        let bias = [0, 1, 2, 3].map(|g| unsafe { s.load(self.bias.add(g * lanes)) });
        let mut acc = [bias; R];
        let mut w = self.w;
        for (a, width, stride) in [
            (self.x, self.input, self.input),
            (self.h_prev, self.hidden, self.stride),
        ] {
            for k in 0..width {
                // SAFETY: as above.
                let b = [0, 1, 2, 3].map(|g| unsafe { s.load(w.add(g * lanes)) });
                for (r, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: as above.
                    let a = s.splat(unsafe { *a.add(r * stride + k) });
                    for (g, acc_g) in acc.iter_mut().enumerate() {
                        *acc_g = s.mul_add(a, b[g], *acc_g);
                    }
                }
                // SAFETY: as above (one past the end at most, after the last row).
                w = unsafe { w.add(4 * lanes) };
            }
        }
        // The cell, gates straight from the accumulators.
        for (r, gates) in acc.into_iter().enumerate() {
            // SAFETY: as above.
            unsafe {
                let c_ptr = self.c.add(r * self.stride);
                let (c, h) = cell(s, gates, s.load(c_ptr));
                s.store(c_ptr, c);
                s.store(self.h_next.add(r * self.stride), h);
                let out = self.out.add(r * self.out_stride);
                if self.out_units == lanes {
                    s.store(out, h);
                } else {
                    s.store_first(out, h, self.out_units);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::team::fault::{bounded, Faults};
    use crate::cpu::tier::tested_tiers;
    use crate::lstm::reference;
    use crate::weights::LstmConfig;

    /// A layer's weights in PyTorch's layout, and an input batch.
    #[derive(Clone)]
    struct Case {
        directions: usize,
        input: usize,
        hidden: usize,
        lengths: Vec<usize>,
        w_ih: Vec<f32>,
        w_hh: Vec<f32>,
        bias: Vec<f32>,
        /// `(batch, time, input)`, `time = max(lengths)`.
        x: Vec<f32>,
    }

    /// Deterministic values in `[-scale, scale)`.
    fn values(n: usize, seed: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let v = (i * 7919 + seed * 104_729) % 2003;
                (v as f32 / 2003.0 * 2.0 - 1.0) * scale
            })
            .collect()
    }

    impl Case {
        fn new(directions: usize, input: usize, hidden: usize, lengths: &[usize]) -> Self {
            let (g, time) = (directions * 4 * hidden, lengths.iter().max().unwrap());
            Self {
                directions,
                input,
                hidden,
                lengths: lengths.to_vec(),
                w_ih: values(g * input, 1, 0.5),
                w_hh: values(g * hidden, 2, 0.5),
                bias: values(g, 3, 0.5),
                x: values(lengths.len() * time * input, 4, 1.0),
            }
        }

        fn plan(&self) -> PackPlan {
            let time = *self.lengths.iter().max().unwrap();
            PackPlan::new(&self.lengths, self.lengths.len(), time).unwrap()
        }

        /// The layer packed for `isa`, once per case: under Miri, packing takes half as long as
        /// a run.
        fn pack(&self, isa: Isa) -> PackedLayer {
            PackedLayer::new(
                &self.w_ih,
                &self.w_hh,
                Some(&self.bias),
                self.directions,
                self.input,
                self.hidden,
                isa,
            )
            .unwrap()
        }

        /// Runs the kernel with the layer `w` (this case's, [`pack`](Self::pack)ed) on a team
        /// of `threads`: `(out, h_n, c_n)` as `run_layer` writes them.
        fn run(&self, w: &PackedLayer, threads: usize) -> candle_core::Result<[Vec<f32>; 3]> {
            let plan = self.plan();
            let time = plan.max_len();
            let mut x = vec![0.0; plan.rows() * self.input];
            for b in 0..plan.batch() {
                for t in 0..self.lengths[b] {
                    let row = plan.packed_row(b, t).unwrap();
                    let src = (b * time + t) * self.input;
                    x[row * self.input..][..self.input]
                        .copy_from_slice(&self.x[src..src + self.input]);
                }
            }
            let state = self.directions * plan.batch() * self.hidden;
            let mut out = vec![0.0; plan.rows() * self.directions * self.hidden];
            let (mut h_n, mut c_n) = (vec![0.0; state], vec![0.0; state]);
            run_layer(&x, w, &plan, threads, &mut out, &mut h_n, &mut c_n)?;
            Ok([out, h_n, c_n])
        }

        /// Checks `run`'s results against the project's f64 reference LSTM
        /// (`tests/common/reference.rs`), sequence by sequence.
        fn check(&self, [out, h_n, c_n]: &[Vec<f32>; 3]) {
            let (h, i, dirs) = (self.hidden, self.input, self.directions);
            let config = LstmConfig {
                input_size: i,
                hidden_size: h,
                proj_size: 0,
                num_layers: 1,
                bidirectional: dirs == 2,
                bias: true,
            };
            // Direction `d`'s rows of the stacked weights, under PyTorch's names; the summed
            // bias as `bias_ih`, with a zero `bias_hh`. Converted once, not for every sequence:
            // Miri interprets every conversion.
            let f64s = |w: &[f32]| -> Vec<f64> { w.iter().map(|&v| f64::from(v)).collect() };
            let (w_ih, w_hh, bias) = (f64s(&self.w_ih), f64s(&self.w_hh), f64s(&self.bias));
            let weight = |name: &str| -> Vec<f64> {
                let d = usize::from(name.ends_with("_reverse"));
                let rows =
                    |w: &[f64], width: usize| w[d * 4 * h * width..][..4 * h * width].to_vec();
                match &name[..9] {
                    "weight_ih" => rows(&w_ih, i),
                    "weight_hh" => rows(&w_hh, h),
                    "bias_ih_l" => rows(&bias, 1),
                    _ => vec![0.0; 4 * h],
                }
            };
            let plan = self.plan();
            let time = plan.max_len();
            // `what` is formatted on failure only (Miri interprets every formatting).
            let close = |a: f32, b: f64, what: std::fmt::Arguments| {
                assert!((f64::from(a) - b).abs() < 2e-5, "{what}: {a} vs {b}");
            };
            for (s, &b) in plan.order().iter().enumerate() {
                let x: Vec<Vec<f64>> = (0..self.lengths[b])
                    .map(|t| {
                        let row = &self.x[(b * time + t) * i..][..i];
                        row.iter().map(|&v| f64::from(v)).collect()
                    })
                    .collect();
                let (outputs, hs, cs) = reference::lstm(&weight, &config, &x);
                for (t, expected) in outputs.iter().enumerate() {
                    let row = plan.packed_row(b, t).unwrap();
                    for (j, &e) in expected.iter().enumerate() {
                        close(
                            out[row * dirs * h + j],
                            e,
                            format_args!("out of row {b} step {t}"),
                        );
                    }
                }
                for d in 0..dirs {
                    for j in 0..h {
                        let at = (d * plan.batch() + s) * h + j;
                        close(h_n[at], hs[d][j], format_args!("h_n"));
                        close(c_n[at], cs[d][j], format_args!("c_n"));
                    }
                }
            }
        }
    }

    /// Every ISA the tests run the kernel on.
    fn isas() -> Vec<Isa> {
        tested_tiers()
            .into_iter()
            .map(|t| t.isa().unwrap())
            .collect()
    }

    #[test]
    fn tiles_hold_one_to_most_rows_and_cover_the_step() {
        for most in 1..=6 {
            for n in 0..if cfg!(miri) { 100 } else { 2000 } {
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
    fn every_team_size_matches_an_f64_lstm() {
        // Hidden sizes below, at and past one block of every tier (4, 8 or 16 units); ragged
        // batches, both directions; more rows than one tile holds (steps of 7, 6, 5 and 3
        // rows: tiles of every size but 1 and 2 on AVX-512, which the other cases have). Under
        // Miri, smaller: at one block is the tier's block, past it a block and a unit, and the
        // team is of 2, where there are two blocks (the next tests run teams of 1 to 3).
        for isa in isas() {
            let lanes = isa.lanes();
            let (at, past, teams) = if cfg!(miri) {
                (lanes, lanes + 1, 2..=2)
            } else {
                (16, 37, 2..=4)
            };
            for (directions, input, hidden, lengths) in [
                (1, 3, 5, &[3, 1, 2][..]),
                (2, 2, at, &[2, 4, 4, 1, 3, 3, 4][..]),
                (2, 4, past, &[1, 3, 2][..]),
            ] {
                let case = Case::new(directions, input, hidden, lengths);
                let w = case.pack(isa);
                let one = case.run(&w, 1).unwrap();
                case.check(&one);
                if cfg!(miri) && hidden <= lanes {
                    continue;
                }
                for threads in teams.clone() {
                    // Blocks are computed the same way whichever thread runs them.
                    let run = case.run(&w, threads).unwrap();
                    assert_eq!(run, one, "{:?}, {threads} threads", isa.tier());
                }
            }
        }
    }

    #[test]
    fn a_panicking_thread_is_an_error_and_the_next_run_works() {
        // At least three blocks, so a team of three; the second member (a spawned thread) or the
        // calling thread panics in the middle of the second step. Under Miri, a smaller layer:
        // three blocks (the last of one unit) on every tier, one direction, two sequences.
        for isa in isas() {
            let case = if cfg!(miri) {
                Case::new(1, 3, 2 * isa.lanes() + 1, &[3, 2])
            } else {
                Case::new(2, 3, 40, &[4, 2, 3])
            };
            let w = case.pack(isa);
            for member in [1, 0] {
                let faults = Faults {
                    panic_at: Some((member, 1)),
                    ..Faults::default()
                };
                let (case, w) = (case.clone(), w.clone());
                let result = bounded(faults, move || case.run(&w, 3));
                let message = result.unwrap_err().to_string();
                assert!(message.contains("panicked (injected"), "{message}");
            }
            case.check(&case.run(&w, 3).unwrap());
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "a layer big enough to be threaded is slow under Miri")]
    fn a_kernel_that_panics_in_one_thread_fails_the_run_in_every_thread() {
        // No hook: a layer big enough that `threads_for` spreads it over 3 threads, whose last
        // block's weights are cut short, so that slicing them panics in the member owning that
        // block (a spawned thread) while the others wait for it.
        for isa in isas() {
            let result = bounded(Faults::default(), move || {
                let (input, hidden, lengths) = (16, 256, [4, 2, 3, 4, 1, 2, 3, 4]);
                let case = Case::new(1, input, hidden, &lengths);
                let mut w =
                    PackedLayer::new(&case.w_ih, &case.w_hh, None, 1, input, hidden, isa).unwrap();
                w.weights.truncate(w.weights.len() - 1);
                let plan = case.plan();
                assert_eq!(threads_for(&w, &plan, 3), 3);
                let x = vec![0.5; plan.rows() * input];
                let state = lengths.len() * hidden;
                let (mut out, mut h_n, mut c_n) = (
                    vec![0.0; plan.rows() * hidden],
                    vec![0.0; state],
                    vec![0.0; state],
                );
                run_layer(&x, &w, &plan, 3, &mut out, &mut h_n, &mut c_n)
            });
            let message = result.unwrap_err().to_string();
            assert!(
                message.contains("a kernel thread panicked (range end index"),
                "{message}"
            );
        }
    }

    #[test]
    fn threads_that_cannot_spawn_leave_fewer_threads_and_the_same_results() {
        // Four blocks at least on every tier, so a team of four: under Miri, three blocks and
        // a unit, and three rows.
        for isa in isas() {
            let case = if cfg!(miri) {
                Case::new(1, 3, 3 * isa.lanes() + 1, &[2, 1])
            } else {
                Case::new(1, 3, 64, &[5, 3, 4, 1])
            };
            let w = case.pack(isa);
            let one = case.run(&w, 1).unwrap();
            for at in 1..4 {
                let faults = Faults {
                    spawn_fails_at: Some(at),
                    ..Faults::default()
                };
                let (case, w) = (case.clone(), w.clone());
                let run = bounded(faults, move || case.run(&w, 4));
                assert_eq!(run.unwrap(), one, "spawning member {at} failed");
            }
        }
    }

    #[test]
    fn refuses_buffers_that_do_not_match_the_plan() {
        for isa in isas() {
            let case = Case::new(1, 2, 4, &[2, 1]);
            let w = PackedLayer::new(&case.w_ih, &case.w_hh, None, 1, 2, 4, isa).unwrap();
            let plan = case.plan();
            let (x, mut out, mut h_n, mut c_n) =
                (vec![0.0; 6], vec![0.0; 12], vec![0.0; 8], vec![0.0; 8]);
            assert!(run_layer(&x, &w, &plan, 1, &mut out, &mut h_n, &mut c_n).is_ok());
            assert!(run_layer(&x[..5], &w, &plan, 1, &mut out, &mut h_n, &mut c_n).is_err());
            assert!(run_layer(&x, &w, &plan, 1, &mut out[..11], &mut h_n, &mut c_n).is_err());
            assert!(run_layer(&x, &w, &plan, 1, &mut out, &mut h_n[..7], &mut c_n).is_err());
            assert!(run_layer(&x, &w, &plan, 1, &mut out, &mut h_n, &mut c_n[..7]).is_err());
        }
    }
}
