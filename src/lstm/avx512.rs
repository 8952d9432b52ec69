//! The recurrence for f32 on AVX-512 CPUs, for LSTMs without projection: the seed's model, the
//! benchmark's configurations and most real models.
//!
//! `[W_ih | W_hh]` is packed once, at load, so that the four gates of a block of 16 hidden units
//! are 64 contiguous floats per input feature and per hidden unit ([`PackedLayer`]). Each step,
//! a register tile of up to 6 sequences × 64 gate columns starts from the biases, accumulates
//! `x_t · W_ihᵀ` and `h · W_hhᵀ` and applies the cell on the spot: the input projection never
//! goes through memory, gates never leave registers, and the cell state is updated where it
//! lies. A hidden size that is not a multiple of 16 is padded to whole blocks: the extra units
//! have zero weights, are never read as input and never written out. With enough work per step, threads split the hidden-unit blocks (each keeps its
//! share of `W_hh` hot in its own cache) and meet at one spin barrier per step; `h` is
//! double-buffered across the barrier.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicUsize, Ordering};

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::packing::PackPlan;
#[cfg(target_arch = "x86_64")]
use crate::cpu::activation::avx512::{sigmoid, tanh};

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

/// Runs one layer (every direction) over the packed input `x` `(rows, input)`, writing the
/// packed output `(rows, directions * H)` and the sorted `h_n`, `c_n` `(directions, batch, H)`,
/// all zero on entry. Refuses buffers of the wrong size: the tiles index through raw pointers.
pub(super) fn run_layer(
    x: &[f32],
    w: &PackedLayer,
    plan: &PackPlan,
    threads: usize,
    out: &mut [f32],
    h_n: &mut [f32],
    c_n: &mut [f32],
) -> candle_core::Result<()> {
    let (hidden, batch, directions) = (w.hidden, plan.batch, w.directions);
    let plan_ok = plan.batch_sizes.iter().all(|&n| n <= batch)
        && plan
            .offsets
            .iter()
            .zip(&plan.batch_sizes)
            .all(|(&o, &n)| o + n <= plan.rows);
    if !plan_ok
        || x.len() != plan.rows * w.input
        || out.len() != plan.rows * directions * hidden
        || h_n.len() != directions * batch * hidden
        || c_n.len() != directions * batch * hidden
    {
        candle_core::bail!("scriptless-lstm-layer-avx512: buffers do not match the plan");
    }
    let stride = padded(hidden);
    let blocks = stride / UNITS;
    let macs = batch * 4 * stride * (w.input + hidden);
    let threads = if macs >= PARALLEL_MIN_MACS {
        threads.clamp(1, blocks)
    } else {
        1
    };
    let out_w = directions * hidden;
    for d in 0..directions {
        // The state, rows padded to whole blocks: `c`, then two `h` buffers.
        let mut state = vec![0.0f32; 3 * batch * stride];
        let shared = Shared {
            x: x.as_ptr(),
            out: out.as_mut_ptr(),
            c: state.as_mut_ptr(),
            // SAFETY: `state` holds 3 * batch * stride floats.
            h: unsafe { state.as_mut_ptr().add(batch * stride) },
        };
        let job = Job {
            w,
            plan,
            direction: d,
            directions,
            threads,
            barrier: SpinBarrier::new(threads),
            shared,
        };
        if threads == 1 {
            // SAFETY: one thread owns every block; the buffers outlive the call.
            unsafe { job.run(0) };
        } else {
            std::thread::scope(|s| {
                for tid in 1..threads {
                    let job = &job;
                    // SAFETY: each thread writes only its own blocks' columns of `c`, `h` and
                    // `out`; `h` is read after the barrier that ends the step writing it.
                    s.spawn(move || unsafe { job.run(tid) });
                }
                // SAFETY: as above, for block share 0.
                unsafe { job.run(0) };
            });
        }
        // h_n: each sequence's output at its last step in this direction; c_n: the state.
        for (s, &b) in plan.order.iter().enumerate() {
            let step = if d == 0 { plan.lengths[b] - 1 } else { 0 };
            let row = plan.offsets[step] + s;
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

struct Job<'a> {
    w: &'a PackedLayer,
    plan: &'a PackPlan,
    direction: usize,
    directions: usize,
    threads: usize,
    barrier: SpinBarrier,
    shared: Shared,
}

impl Job<'_> {
    /// Every step of this direction for thread `tid`'s share of the hidden-unit blocks.
    ///
    /// # Safety
    /// The pointers in `shared` must be valid for the plan's sizes, and every thread
    /// `0..threads` must run this concurrently (they meet at a barrier each step).
    unsafe fn run(&self, tid: usize) {
        let (plan, hidden, input, d) = (self.plan, self.w.hidden, self.w.input, self.direction);
        let (out_w, batch, stride) = (self.directions * hidden, plan.batch, padded(hidden));
        let blocks = stride / UNITS;
        let (b0, b1) = (
            blocks * tid / self.threads,
            blocks * (tid + 1) / self.threads,
        );
        let steps = plan.batch_sizes.len();
        for k in 0..steps {
            let t = if d == 0 { k } else { steps - 1 - k };
            let (n, row0) = (plan.batch_sizes[t], plan.offsets[t]);
            let h_prev = self.shared.h.add((k % 2) * batch * stride);
            let h_next = self.shared.h.add(((k + 1) % 2) * batch * stride);
            // Near-equal tiles of at most ROWS sequences: 32 rows run as 6+6+5+5+5+5, not 6×5+2.
            let tiles = n.div_ceil(ROWS);
            for u in b0..b1 {
                let (w, bias) = self.w.block(d, u);
                let mut r = 0;
                for i in 0..tiles {
                    let rows = (n - r) / (tiles - i);
                    let tile = Tile {
                        bias: bias.as_ptr(),
                        w: w.as_ptr(),
                        x: self.shared.x.add((row0 + r) * input),
                        input,
                        h_prev: h_prev.add(r * stride),
                        hidden,
                        stride,
                        c: self.shared.c.add(r * stride + u * UNITS),
                        h_next: h_next.add(r * stride + u * UNITS),
                        out: self
                            .shared
                            .out
                            .add((row0 + r) * out_w + d * hidden + u * UNITS),
                        out_stride: out_w,
                        out_units: (hidden - u * UNITS).min(UNITS),
                    };
                    match rows {
                        6 => tile.run::<6>(),
                        5 => tile.run::<5>(),
                        4 => tile.run::<4>(),
                        3 => tile.run::<3>(),
                        2 => tile.run::<2>(),
                        _ => tile.run::<1>(),
                    }
                    r += rows;
                }
            }
            if self.threads > 1 {
                self.barrier.wait();
            }
        }
    }
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
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn run<const R: usize>(&self) {
        let bias = [0, 1, 2, 3].map(|g| _mm512_loadu_ps(self.bias.add(g * UNITS)));
        let mut acc = [bias; R];
        let mut w = self.w;
        for (a, width, stride) in [
            (self.x, self.input, self.input),
            (self.h_prev, self.hidden, self.stride),
        ] {
            for k in 0..width {
                let b = [0, 1, 2, 3].map(|g| _mm512_loadu_ps(w.add(g * UNITS)));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let a = _mm512_set1_ps(*a.add(r * stride + k));
                    for (g, acc_g) in acc.iter_mut().enumerate() {
                        *acc_g = _mm512_fmadd_ps(a, b[g], *acc_g);
                    }
                }
                w = w.add(4 * UNITS);
            }
        }
        // The cell, gates straight from the accumulators.
        let mask = ((1u32 << self.out_units) - 1) as __mmask16;
        for (r, [i, f, g, o]) in acc.iter().enumerate() {
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

    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn run<const R: usize>(&self) {
        unreachable!("PackedLayer::new returns None off x86_64")
    }
}

/// Spins before a waiting thread starts yielding its time slice (about 100 µs here).
const SPIN_LIMIT: u32 = 1 << 14;

/// A sense-free spin barrier for a fixed number of threads: arrivals count up; the last one
/// resets the count and bumps the generation the others spin on.
struct SpinBarrier {
    threads: usize,
    count: AtomicUsize,
    generation: AtomicUsize,
}

impl SpinBarrier {
    fn new(threads: usize) -> Self {
        Self {
            threads,
            count: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
        }
    }

    fn wait(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.count.fetch_add(1, Ordering::AcqRel) + 1 == self.threads {
            self.count.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
        } else {
            let mut spins = 0u32;
            while self.generation.load(Ordering::Acquire) == generation {
                // Spin (a step takes microseconds), but yield if the other thread was
                // descheduled, so a busy machine does not turn waits into lost time slices.
                if spins < SPIN_LIMIT {
                    spins += 1;
                    spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
}
