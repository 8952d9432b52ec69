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

    /// The strides as `gemm` takes them, `(column, row)`, if both fit in an `isize` and every
    /// element lies inside `data`. Checked arithmetic: a view whose extent overflows is
    /// refused, not wrapped around into range.
    fn checked_strides(&self) -> Option<(isize, isize)> {
        let strides = (
            isize::try_from(self.col_stride).ok()?,
            isize::try_from(self.row_stride).ok()?,
        );
        if self.rows == 0 || self.cols == 0 {
            return Some(strides);
        }
        let last = (self.rows - 1)
            .checked_mul(self.row_stride)?
            .checked_add((self.cols - 1).checked_mul(self.col_stride)?)?;
        (last < self.data.len()).then_some(strides)
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
    let (Some(a_strides), Some(b_strides), Some(dst_strides), true) = (
        a.checked_strides(),
        b.checked_strides(),
        dst_view.checked_strides(),
        b.rows == k,
    ) else {
        candle_core::bail!("scriptless matmul: operands do not match");
    };
    if m == 0 || n == 0 {
        return Ok(());
    }
    if m == 1 && n > 1 {
        return one_row(dst, a, b, accumulate, one);
    }
    // SAFETY: the three views were checked to lie inside their slices (with strides that
    // fit an `isize`), `dst` is borrowed mutably so it aliases neither input, and gemm
    // reads/writes exactly those elements.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_strides.0,
            dst_strides.1,
            accumulate,
            a.data.as_ptr(),
            a_strides.0,
            a_strides.1,
            b.data.as_ptr(),
            b_strides.0,
            b_strides.1,
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

/// [`matmul`] of one row of `a`, computed as a row of a two-row product. `gemm` computes a
/// one-row product (a vector times a matrix) in another summation order than the rows of a
/// larger one, so a row's result would depend on how many rows it is computed with: a request
/// run alone and in a batch (`Model::forward_many`), or an LSTM step with one sequence left,
/// would differ in the last bits. As two rows it is the bits every larger product gives it, at
/// the price of `gemm`'s packed path where its one-row path would do (f64 LSTM steps of a
/// single sequence: 1.6× slower with 256 units). The views were checked by `matmul`.
fn one_row<T: 'static + Copy>(
    dst: &mut [T],
    a: Mat<T>,
    b: Mat<T>,
    accumulate: bool,
    one: T,
) -> candle_core::Result<()> {
    let (k, n) = (a.cols, b.cols);
    let (Some(row), Some(dst_row)) = (
        (0..2 * k)
            .map(|c| a.data.get((c % k) * a.col_stride).copied())
            .collect::<Option<Vec<T>>>(),
        dst.get(..n),
    ) else {
        candle_core::bail!("scriptless matmul: operands do not match");
    };
    let mut two: Vec<T> = dst_row.iter().chain(dst_row).copied().collect();
    matmul(&mut two, n, Mat::row_major(&row, 2, k), b, accumulate, one)?;
    dst[..n].copy_from_slice(&two[..n]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplies_strided_views() {
        // a = [[1, 2], [3, 4]] read transposed through its strides; b = [[1], [1]].
        let (a, b) = ([1.0f32, 2.0, 3.0, 4.0], [1.0f32, 1.0]);
        let at = Mat {
            data: &a,
            rows: 2,
            cols: 2,
            row_stride: 1,
            col_stride: 2,
        };
        let mut dst = [0.0f32; 2];
        matmul(&mut dst, 1, at, Mat::row_major(&b, 2, 1), false, 1.0).unwrap();
        assert_eq!(dst, [4.0, 6.0]);
    }

    #[test]
    fn refuses_views_whose_extent_overflows_or_reaches_past_the_slice() {
        let data = [0.0f32; 4];
        let b = Mat::row_major(&data, 2, 2);
        let mut dst = [0.0f32; 4];
        // (rows - 1) * row_stride + (cols - 1) * col_stride wraps around to 1 in unchecked
        // arithmetic, which would pass a bounds check.
        let wrapping = Mat {
            data: &data,
            rows: 2,
            cols: 2,
            row_stride: usize::MAX,
            col_stride: 2,
        };
        let past_end = Mat {
            row_stride: 3,
            ..Mat::row_major(&data, 2, 2)
        };
        let huge_stride = Mat {
            row_stride: usize::MAX,
            ..Mat::row_major(&data, 1, 2)
        };
        for a in [wrapping, past_end, huge_stride] {
            assert!(matmul(&mut dst, 2, a, b, false, 1.0).is_err());
        }
        // A mismatched inner dimension, and a destination too small.
        assert!(matmul(&mut dst, 2, Mat::row_major(&data, 4, 1), b, false, 1.0).is_err());
        assert!(matmul(&mut dst[..3], 2, b, b, false, 1.0).is_err());
    }
}
