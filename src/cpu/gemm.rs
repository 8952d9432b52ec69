//! `dst (+)= a · b` on strided row-major slices through the `gemm` crate, with threads only
//! when the product is big enough to repay waking them.
//!
//! candle's CPU matmul asks `gemm` for a rayon-parallel product of every size, and looks up the
//! thread count on every call (on Linux, by reading `/proc/cpuinfo`: ~35 µs here, 20× the seed
//! Linear's arithmetic). This module looks it up once and threads only large products.

use gemm::Parallelism;

/// Products with fewer multiply-adds than this run on the calling thread. Measured on 2 cores
/// (AVX-512): a 32×256·256×1024 step (8.4 M) gains from 2 threads, a 64×20·20×80 step (0.1 M)
/// loses ~20 µs to the dispatch.
const PARALLEL_MIN_MACS: usize = 1 << 21;

fn parallelism(m: usize, n: usize, k: usize) -> Parallelism {
    let threads = super::threads();
    if threads > 1 && m.saturating_mul(n).saturating_mul(k) >= PARALLEL_MIN_MACS {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    }
}

/// A matrix view: element `(r, c)` is `data[r * row_stride + c * col_stride]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a, T> {
    pub data: &'a [T],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a, T> Mat<'a, T> {
    /// A contiguous row-major `rows × cols` matrix at the start of `data`.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// Whether every element lies inside `data`.
    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride
                < self.data.len()
    }
}

/// `dst = a · b`, or `dst += a · b` when `accumulate`. `dst` is row-major `(a.rows, b.cols)`
/// with row stride `dst_stride`. Refuses shapes that disagree and views that reach past their
/// slices (a bug in the caller: the callers size every buffer from the same dims).
pub(crate) fn matmul<T: 'static + Copy>(
    dst: &mut [T],
    dst_stride: usize,
    a: Mat<T>,
    b: Mat<T>,
    accumulate: bool,
    one: T,
) -> candle_core::Result<()> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let dst_view = Mat {
        data: &*dst,
        rows: m,
        cols: n,
        row_stride: dst_stride,
        col_stride: 1,
    };
    if b.rows != k || !(a.in_bounds() && b.in_bounds() && dst_view.in_bounds()) {
        candle_core::bail!("scriptless matmul: operands do not match");
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    // SAFETY: the three views were checked to lie inside their slices, `dst` is borrowed
    // mutably so it aliases neither input, and gemm reads/writes exactly those elements.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_stride as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            one,
            one,
            false,
            false,
            false,
            parallelism(m, n, k),
        )
    }
    Ok(())
}
