//! The recurrence for f32 on AVX-512 CPUs, for LSTMs without projection: the seed's model, the
//! benchmark's configurations and most real models.
//!
//! `[W_ih | W_hh]` is packed once, at load, so that the four gates of a block of 16 hidden units
//! are 64 contiguous floats per input feature and per hidden unit ([`PackedLayer`]). Each step,
//! a register tile of up to 6 sequences × 64 gate columns starts from the biases, accumulates
//! `x_t · W_ihᵀ` and `h · W_hhᵀ` and applies the cell on the spot: the input projection never
//! goes through memory, gates never leave registers, and the cell state is updated where it
//! lies. A hidden size that is not a multiple of 16 is padded to whole blocks: the extra units
//! have zero weights, are never read as input and never written out.
//!
//! With enough work per step, a [`team`] of threads splits the hidden-unit blocks (each keeps
//! its share of `W_hh` hot in its own cache) and meets at one barrier per step; `h` is
//! double-buffered across it. A thread that panics or cannot be spawned never hangs the
//! others: the team turns it into an error, or into fewer threads.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::packing::PackPlan;
#[cfg(target_arch = "x86_64")]
use crate::cpu::activation::avx512::{sigmoid, tanh};
use crate::cpu::team::{self, Abandoned, Member};

/// Hidden units per block: one 512-bit register of f32 per gate.
const UNITS: usize = 16;
/// Sequences per register tile: 6 × 4 accumulators + 4 weight vectors + 1 broadcast fit the
/// 32 vector registers.
const ROWS: usize = 6;
/// Multiply-adds per step below which one thread runs the layer (waking and synchronising a
/// second costs a few µs per step).
const PARALLEL_MIN_MACS: usize = 1 << 20;

/// One layer's weights for this kernel: per direction and per block of 16 hidden units, the
/// rows of `[W_ihᵀ; W_hhᵀ]` (`input + hidden` of them), each the block's 4 gates × 16 units;
/// and `b_ih + b_hh` in the same gate order. Units past `hidden` in the last block are zero.
#[derive(Debug, Clone)]
pub(crate) struct PackedLayer {
    weights: Vec<f32>,
    bias: Vec<f32>,
    directions: usize,
    input: usize,
    hidden: usize,
}

/// `hidden` rounded up to whole blocks: the row stride of the kernel's `h` and `c` buffers.
fn padded(hidden: usize) -> usize {
    hidden.div_ceil(UNITS) * UNITS
}

impl PackedLayer {
    /// Packs a layer given `W_ih` `(D * 4H, input)`, `W_hh` `(D * 4H, H)` (PyTorch's layout,
    /// directions stacked) and the summed biases `(D * 4H)`, if this CPU can use the kernel
    /// (the caller checks f32 and no projection).
    pub fn new(
        w_ih: &[f32],
        w_hh: &[f32],
        bias: Option<&[f32]>,
        directions: usize,
        input: usize,
        hidden: usize,
    ) -> Option<Self> {
        let g4 = 4 * hidden;
        if !available()
            || hidden == 0
            || w_ih.len() != directions * g4 * input
            || w_hh.len() != directions * g4 * hidden
            || bias.is_some_and(|b| b.len() != directions * g4)
        {
            return None;
        }
        let blocks = padded(hidden) / UNITS;
        let mut weights = Vec::with_capacity(directions * 4 * padded(hidden) * (input + hidden));
        let mut packed_bias = Vec::with_capacity(directions * 4 * padded(hidden));
        for d in 0..directions {
            // Row `g * H + j` of direction d's matrices is gate g of hidden unit j; units past
            // H (padding) get zeros.
            let row = |g: usize, j: usize| (j < hidden).then(|| d * g4 + g * hidden + j);
            for u in 0..blocks {
                for (w, width) in [(w_ih, input), (w_hh, hidden)] {
                    for k in 0..width {
                        for g in 0..4 {
                            weights.extend((0..UNITS).map(|j| {
                                row(g, u * UNITS + j).map_or(0.0, |row| w[row * width + k])
                            }));
                        }
                    }
                }
                for g in 0..4 {
                    packed_bias.extend((0..UNITS).map(|j| {
                        row(g, u * UNITS + j)
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

    /// Direction `d`, block `u`: its `(input + hidden) × 64` weights and 64 biases.
    fn block(&self, d: usize, u: usize) -> (&[f32], &[f32]) {
        let index = d * padded(self.hidden) / UNITS + u;
        let size = (self.input + self.hidden) * 4 * UNITS;
        (
            &self.weights[index * size..(index + 1) * size],
            &self.bias[index * 4 * UNITS..(index + 1) * 4 * UNITS],
        )
    }
}

fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The threads worth using for a layer run over `plan`, of `threads` available: one unless
/// each step has enough work to repay waking and synchronising the others.
pub(super) fn threads_for(w: &PackedLayer, plan: &PackPlan, threads: usize) -> usize {
    let macs = [4 * padded(w.hidden), w.input + w.hidden]
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
    let (hidden, batch, directions) = (w.hidden, plan.batch(), w.directions);
    let stride = padded(hidden);
    // Every row index the tiles form is below `plan.rows()` (PackPlan's invariants); what is
    // left to check is that the buffers hold what the plan and the weights say.
    let size = |dims: &[usize]| dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if size(&[plan.rows(), w.input]) != Some(x.len())
        || size(&[plan.rows(), directions, hidden]) != Some(out.len())
        || size(&[directions, batch, hidden]) != Some(h_n.len())
        || size(&[directions, batch, hidden]) != Some(c_n.len())
        || size(&[3, batch, stride]).is_none()
    {
        candle_core::bail!("scriptless-lstm-layer-avx512: buffers do not match the plan");
    }
    let threads = threads.clamp(1, stride / UNITS);
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
        team::run(threads, |member| {
            // SAFETY: the buffers match the plan (checked above) and outlive the team; each
            // member writes only its own blocks' columns of `c`, `h` and `out`, and `h` is
            // read after the sync that ends the step writing it.
            unsafe { job.run(member) }
        })?;
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

impl Job<'_> {
    /// Every step of this direction for `member`'s share of the hidden-unit blocks, meeting
    /// the other members after each step.
    ///
    /// # Safety
    /// The pointers in `shared` must be valid for the plan's sizes (as [`run_layer`] checks),
    /// and every member of the team must run this (they meet at each step's sync).
    unsafe fn run(&self, member: &Member) -> Result<(), Abandoned> {
        let (plan, hidden, input, d) = (self.plan, self.w.hidden, self.w.input, self.direction);
        let (out_w, batch, stride) = (self.directions * hidden, plan.batch(), padded(hidden));
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
            for u in member.share(stride / UNITS) {
                let (w, bias) = self.w.block(d, u);
                for (r, rows) in tiles(n) {
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
                            c: c.add(r * stride + u * UNITS),
                            h_next: h_next.add(r * stride + u * UNITS),
                            out: out.add((row0 + r) * out_w + d * hidden + u * UNITS),
                            out_stride: out_w,
                            out_units: (hidden - u * UNITS).min(UNITS),
                        }
                    };
                    // SAFETY: the tile's `rows` rows lie inside the buffers (above), and
                    // `PackedLayer::new` returned weights only on a CPU with AVX-512F.
                    unsafe {
                        match rows {
                            1 => tile.run::<1>(),
                            2 => tile.run::<2>(),
                            3 => tile.run::<3>(),
                            4 => tile.run::<4>(),
                            5 => tile.run::<5>(),
                            6 => tile.run::<6>(),
                            _ => unreachable!("tiles() yields 1..=ROWS rows"),
                        }
                    }
                }
            }
            member.sync()?;
        }
        Ok(())
    }
}

/// `0..n` as near-equal tiles of at most [`ROWS`] rows, `(first row, rows)`: 32 rows run as
/// 6+6+5+5+5+5, not 6×5+2. Every tile has 1 to `ROWS` rows.
fn tiles(n: usize) -> impl Iterator<Item = (usize, usize)> {
    let count = n.div_ceil(ROWS);
    (0..count).map(move |i| {
        let (first, end) = (n * i / count, n * (i + 1) / count);
        (first, end - first)
    })
}

/// One register tile: `R` sequences × one block of 16 hidden units (64 gate columns).
struct Tile {
    /// The block's 64 biases.
    bias: *const f32,
    /// The block's `(input + hidden) × 64` weights.
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
    /// Units of this block that exist (16, or fewer in a padded last block): written to `out`.
    out_units: usize,
}

impl Tile {
    /// gates = b + x_t · W_ihᵀ + h_prev · W_hhᵀ for this block, then the cell; writes `c`,
    /// `h_next` and `out`.
    ///
    /// # Safety
    /// The CPU has AVX-512F. The tile's pointers are valid for its `R` rows: 64 biases,
    /// `(input + hidden) × 64` weights, `input` floats per row of `x`, `hidden` of `h_prev`,
    /// 16 of `c` and `h_next`, `out_units` of `out`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn run<const R: usize>(&self) {
        // Every load, store and `add` below stays within the extents the caller guarantees;
        // the masked store writes only `out_units` lanes.
        // SAFETY: as just said.
        let bias = [0, 1, 2, 3].map(|g| unsafe { _mm512_loadu_ps(self.bias.add(g * UNITS)) });
        let mut acc = [bias; R];
        let mut w = self.w;
        for (a, width, stride) in [
            (self.x, self.input, self.input),
            (self.h_prev, self.hidden, self.stride),
        ] {
            for k in 0..width {
                // SAFETY: as above.
                let b = [0, 1, 2, 3].map(|g| unsafe { _mm512_loadu_ps(w.add(g * UNITS)) });
                for (r, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: as above.
                    let a = _mm512_set1_ps(unsafe { *a.add(r * stride + k) });
                    for (g, acc_g) in acc.iter_mut().enumerate() {
                        *acc_g = _mm512_fmadd_ps(a, b[g], *acc_g);
                    }
                }
                // SAFETY: as above (one past the end at most, after the last row).
                w = unsafe { w.add(4 * UNITS) };
            }
        }
        // The cell, gates straight from the accumulators.
        let mask = ((1u32 << self.out_units) - 1) as __mmask16;
        for (r, [i, f, g, o]) in acc.iter().enumerate() {
            // SAFETY: as above.
            unsafe {
                let c_ptr = self.c.add(r * self.stride);
                let c = _mm512_fmadd_ps(
                    sigmoid(*f),
                    _mm512_loadu_ps(c_ptr),
                    _mm512_mul_ps(sigmoid(*i), tanh(*g)),
                );
                _mm512_storeu_ps(c_ptr, c);
                let h = _mm512_mul_ps(sigmoid(*o), tanh(c));
                _mm512_storeu_ps(self.h_next.add(r * self.stride), h);
                _mm512_mask_storeu_ps(self.out.add(r * self.out_stride), mask, h);
            }
        }
    }

    /// # Safety
    /// Never called: [`PackedLayer::new`] returns `None` off x86-64.
    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn run<const R: usize>(&self) {
        unreachable!("PackedLayer::new returns None off x86_64")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::team::fault::{bounded, Faults};
    use crate::lstm::reference;
    use crate::LstmConfig;

    /// A layer's weights in PyTorch's layout, and an input batch.
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

        /// Runs the kernel on a team of `threads`: `(out, h_n, c_n)` as `run_layer` writes them.
        fn run(&self, threads: usize) -> candle_core::Result<[Vec<f32>; 3]> {
            let w = PackedLayer::new(
                &self.w_ih,
                &self.w_hh,
                Some(&self.bias),
                self.directions,
                self.input,
                self.hidden,
            )
            .expect("AVX-512F");
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
            run_layer(&x, &w, &plan, threads, &mut out, &mut h_n, &mut c_n)?;
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
            // bias as `bias_ih`, with a zero `bias_hh`.
            let weight = |name: &str| -> Vec<f64> {
                let d = usize::from(name.ends_with("_reverse"));
                let rows = |w: &[f32], width: usize| {
                    w[d * 4 * h * width..(d + 1) * 4 * h * width]
                        .iter()
                        .map(|&v| f64::from(v))
                        .collect()
                };
                match &name[..9] {
                    "weight_ih" => rows(&self.w_ih, i),
                    "weight_hh" => rows(&self.w_hh, h),
                    "bias_ih_l" => rows(&self.bias, 1),
                    _ => vec![0.0; 4 * h],
                }
            };
            let plan = self.plan();
            let time = plan.max_len();
            let close = |a: f32, b: f64, what: &str| {
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
                            &format!("out of row {b} step {t}"),
                        );
                    }
                }
                for d in 0..dirs {
                    for j in 0..h {
                        close(h_n[(d * plan.batch() + s) * h + j], hs[d][j], "h_n");
                        close(c_n[(d * plan.batch() + s) * h + j], cs[d][j], "c_n");
                    }
                }
            }
        }
    }

    fn avx512() -> bool {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512F");
        }
        available()
    }

    #[test]
    fn tiles_hold_one_to_six_rows_and_cover_the_step() {
        for n in 0..if cfg!(miri) { 100 } else { 2000 } {
            let mut next = 0;
            for (first, rows) in tiles(n) {
                assert_eq!(first, next);
                assert!((1..=ROWS).contains(&rows), "{n} rows: a tile of {rows}");
                next += rows;
            }
            assert_eq!(next, n);
        }
    }

    #[test]
    fn every_team_size_matches_an_f64_lstm() {
        if !avx512() {
            return;
        }
        // Hidden sizes below, at and past one 16-unit block; ragged batches, both directions.
        for (directions, input, hidden, lengths) in [
            (1, 3, 5, &[3, 1, 2][..]),
            (2, 2, 16, &[2, 4, 4, 1, 3, 2, 4][..]),
            (2, 4, 37, &[1, 3, 2][..]),
        ] {
            let case = Case::new(directions, input, hidden, lengths);
            let one = case.run(1).unwrap();
            case.check(&one);
            for threads in 2..=4 {
                // Blocks are computed the same way whichever thread runs them.
                assert_eq!(case.run(threads).unwrap(), one, "{threads} threads");
            }
        }
    }

    #[test]
    fn a_panicking_thread_is_an_error_and_the_next_run_works() {
        if !avx512() {
            return;
        }
        // Three blocks, so a team of three; the second member (a spawned thread) or the
        // calling thread panics in the middle of the second step.
        for member in [1, 0] {
            let faults = Faults {
                panic_at: Some((member, 1)),
                ..Faults::default()
            };
            let result = bounded(faults, || Case::new(2, 3, 40, &[4, 2, 3]).run(3));
            let message = result.unwrap_err().to_string();
            assert!(message.contains("panicked (injected"), "{message}");
        }
        let case = Case::new(2, 3, 40, &[4, 2, 3]);
        case.check(&case.run(3).unwrap());
    }

    #[test]
    #[cfg_attr(miri, ignore = "a layer big enough to be threaded is slow under Miri")]
    fn a_kernel_that_panics_in_one_thread_fails_the_run_in_every_thread() {
        if !avx512() {
            return;
        }
        // No hook: a layer big enough that `threads_for` spreads it over 3 threads, whose last
        // block's weights are cut short, so that slicing them panics in the member owning that
        // block (a spawned thread) while the others wait for it.
        let result = bounded(Faults::default(), || {
            let (input, hidden, lengths) = (16, 256, [4, 2, 3, 4, 1, 2, 3, 4]);
            let case = Case::new(1, input, hidden, &lengths);
            let mut w = PackedLayer::new(&case.w_ih, &case.w_hh, None, 1, input, hidden).unwrap();
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

    #[test]
    fn threads_that_cannot_spawn_leave_fewer_threads_and_the_same_results() {
        if !avx512() {
            return;
        }
        let case = Case::new(1, 3, 64, &[5, 3, 4, 1]);
        let one = case.run(1).unwrap();
        for at in 1..4 {
            let faults = Faults {
                spawn_fails_at: Some(at),
                ..Faults::default()
            };
            let run = bounded(faults, || Case::new(1, 3, 64, &[5, 3, 4, 1]).run(4));
            assert_eq!(run.unwrap(), one, "spawning member {at} failed");
        }
    }

    #[test]
    fn refuses_buffers_that_do_not_match_the_plan() {
        if !avx512() {
            return;
        }
        let case = Case::new(1, 2, 4, &[2, 1]);
        let w = PackedLayer::new(&case.w_ih, &case.w_hh, None, 1, 2, 4).unwrap();
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
