//! The recurrence for f32 on AVX-512 CPUs, for LSTMs without projection whose `hidden_size` is
//! a multiple of 16: the case the benchmark's large configurations and most real models hit.
//!
//! `[W_ih | W_hh]` is packed once, at load, so that the four gates of a block of 16 hidden units
//! are 64 contiguous floats per input feature and per hidden unit ([`PackedLayer`]). Each step,
//! a register tile of up to 6 sequences × 64 gate columns starts from the biases, accumulates
//! `x_t · W_ihᵀ` and `h · W_hhᵀ` and applies the cell on the spot: the input projection never
//! goes through memory, gates never leave registers, and the cell state is updated where it
//! lies. With enough work per step, threads split the hidden-unit blocks (each keeps its
//! share of `W_hh` hot in its own cache) and meet at one spin barrier per step; `h` is
//! double-buffered across the barrier.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicUsize, Ordering};

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::packing::PackPlan;

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
/// and `b_ih + b_hh` in the same gate order.
#[derive(Debug, Clone)]
pub(crate) struct PackedLayer {
    weights: Vec<f32>,
    bias: Vec<f32>,
    directions: usize,
    input: usize,
    hidden: usize,
}

impl PackedLayer {
    /// Packs a layer given `W_ih` `(D * 4H, input)`, `W_hh` `(D * 4H, H)` (PyTorch's layout,
    /// directions stacked) and the summed biases `(D * 4H)`, if this CPU and this configuration
    /// can use the kernel (f32, no projection, `H` a multiple of 16).
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
            || !hidden.is_multiple_of(UNITS)
            || w_ih.len() != directions * g4 * input
            || w_hh.len() != directions * g4 * hidden
            || bias.is_some_and(|b| b.len() != directions * g4)
        {
            return None;
        }
        let blocks = hidden / UNITS;
        let mut weights = Vec::with_capacity(directions * g4 * (input + hidden));
        let mut packed_bias = Vec::with_capacity(directions * g4);
        for d in 0..directions {
            // Row `g * H + j` of direction d's matrices is gate g of hidden unit j.
            let row = |g: usize, j: usize| d * g4 + g * hidden + j;
            for u in 0..blocks {
                for (w, width) in [(w_ih, input), (w_hh, hidden)] {
                    for k in 0..width {
                        for g in 0..4 {
                            weights
                                .extend((0..UNITS).map(|j| w[row(g, u * UNITS + j) * width + k]));
                        }
                    }
                }
                for g in 0..4 {
                    packed_bias
                        .extend((0..UNITS).map(|j| bias.map_or(0.0, |b| b[row(g, u * UNITS + j)])));
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
        let index = d * self.hidden / UNITS + u;
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
    let blocks = hidden / UNITS;
    let macs = batch * 4 * hidden * (w.input + hidden);
    let threads = if macs >= PARALLEL_MIN_MACS {
        threads.clamp(1, blocks)
    } else {
        1
    };
    let out_w = directions * hidden;
    for d in 0..directions {
        let c = &mut c_n[d * batch * hidden..(d + 1) * batch * hidden];
        let mut h_buf = vec![0.0f32; 2 * batch * hidden];
        let shared = Shared {
            x: x.as_ptr(),
            out: out.as_mut_ptr(),
            c: c.as_mut_ptr(),
            h: h_buf.as_mut_ptr(),
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
        // h_n: each sequence's output at its last step in this direction.
        for (s, &b) in plan.order.iter().enumerate() {
            let step = if d == 0 { plan.lengths[b] - 1 } else { 0 };
            let row = plan.offsets[step] + s;
            let src = row * out_w + d * hidden;
            h_n[(d * batch + s) * hidden..(d * batch + s + 1) * hidden]
                .copy_from_slice(&out[src..src + hidden]);
        }
    }
    Ok(())
}

/// Raw pointers to the buffers the threads share; each thread writes disjoint columns.
struct Shared {
    /// The packed layer input, `(rows, input)`.
    x: *const f32,
    out: *mut f32,
    c: *mut f32,
    /// Two `(batch, H)` buffers: step `k` reads buffer `k % 2` and writes the other.
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
        let (out_w, batch) = (self.directions * hidden, plan.batch);
        let blocks = hidden / UNITS;
        let (b0, b1) = (
            blocks * tid / self.threads,
            blocks * (tid + 1) / self.threads,
        );
        let steps = plan.batch_sizes.len();
        for k in 0..steps {
            let t = if d == 0 { k } else { steps - 1 - k };
            let (n, row0) = (plan.batch_sizes[t], plan.offsets[t]);
            let h_prev = self.shared.h.add((k % 2) * batch * hidden);
            let h_next = self.shared.h.add(((k + 1) % 2) * batch * hidden);
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
                        h_prev: h_prev.add(r * hidden),
                        hidden,
                        c: self.shared.c.add(r * hidden + u * UNITS),
                        h_next: h_next.add(r * hidden + u * UNITS),
                        out: self
                            .shared
                            .out
                            .add((row0 + r) * out_w + d * hidden + u * UNITS),
                        out_stride: out_w,
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
    /// The tile's first row of the previous `h`; rows (and those of `c`, `h_next`) are
    /// `hidden` apart.
    h_prev: *const f32,
    hidden: usize,
    c: *mut f32,
    h_next: *mut f32,
    out: *mut f32,
    out_stride: usize,
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
        for (a, width) in [(self.x, self.input), (self.h_prev, self.hidden)] {
            for k in 0..width {
                let b = [0, 1, 2, 3].map(|g| _mm512_loadu_ps(w.add(g * UNITS)));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let a = _mm512_set1_ps(*a.add(r * width + k));
                    for (g, acc_g) in acc.iter_mut().enumerate() {
                        *acc_g = _mm512_fmadd_ps(a, b[g], *acc_g);
                    }
                }
                w = w.add(4 * UNITS);
            }
        }
        let mut gates = [0.0f32; 4 * UNITS];
        let mut h = [0.0f32; UNITS];
        for (r, acc) in acc.iter().enumerate() {
            for (g, a) in acc.iter().enumerate() {
                _mm512_storeu_ps(gates.as_mut_ptr().add(g * UNITS), *a);
            }
            let c = std::slice::from_raw_parts_mut(self.c.add(r * self.hidden), UNITS);
            crate::cpu::activation::lstm_cell_f32(&gates, c, &mut h, UNITS);
            std::ptr::copy_nonoverlapping(h.as_ptr(), self.h_next.add(r * self.hidden), UNITS);
            std::ptr::copy_nonoverlapping(h.as_ptr(), self.out.add(r * self.out_stride), UNITS);
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
