//! The generic tier: 4-lane arrays and plain Rust arithmetic, which the compiler vectorises
//! for whatever the build targets (SSE2 on baseline x86-64, NEON on aarch64, scalar code
//! where there is nothing better).

use super::{Simd, SimdFn};

/// The token of the generic tier: every CPU has it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Generic;

/// Lanes of the generic vector.
const N: usize = 4;

#[inline(always)]
fn map(f: impl Fn(usize) -> f32) -> [f32; N] {
    std::array::from_fn(f)
}

impl Simd for Generic {
    type V = [f32; N];
    const LANES: usize = N;
    const REGISTERS: usize = 16;
    const BLEND_BESIDE_FMA: bool = false;

    #[inline(always)]
    fn splat(self, x: f32) -> [f32; N] {
        [x; N]
    }

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> [f32; N] {
        // SAFETY: the caller guarantees N readable floats at `p`.
        unsafe { p.cast::<[f32; N]>().read_unaligned() }
    }

    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: [f32; N]) {
        // SAFETY: the caller guarantees N writable floats at `p`.
        unsafe { p.cast::<[f32; N]>().write_unaligned(v) }
    }

    #[inline(always)]
    unsafe fn store_first(self, p: *mut f32, v: [f32; N], n: usize) {
        for (i, &x) in v.iter().enumerate().take(n) {
            // SAFETY: the caller guarantees `n` writable floats at `p`.
            unsafe { p.add(i).write_unaligned(x) };
        }
    }

    #[inline(always)]
    fn blend_at(self, a: [f32; N], b: [f32; N], n: usize) -> [f32; N] {
        map(|i| if i < n { a[i] } else { b[i] })
    }

    #[inline(always)]
    fn add(self, a: [f32; N], b: [f32; N]) -> [f32; N] {
        map(|i| a[i] + b[i])
    }

    #[inline(always)]
    fn sub(self, a: [f32; N], b: [f32; N]) -> [f32; N] {
        map(|i| a[i] - b[i])
    }

    #[inline(always)]
    fn mul(self, a: [f32; N], b: [f32; N]) -> [f32; N] {
        map(|i| a[i] * b[i])
    }

    /// Not fused: without FMA in the target, `f32::mul_add` is a slow library call.
    #[inline(always)]
    fn mul_add(self, a: [f32; N], b: [f32; N], c: [f32; N]) -> [f32; N] {
        map(|i| a[i] * b[i] + c[i])
    }

    #[inline(always)]
    fn neg_mul_add(self, a: [f32; N], b: [f32; N], c: [f32; N]) -> [f32; N] {
        map(|i| c[i] - a[i] * b[i])
    }

    #[inline(always)]
    fn clamp(self, x: [f32; N], lo: [f32; N], hi: [f32; N]) -> [f32; N] {
        // `clamp` keeps NaN as NaN.
        map(|i| x[i].clamp(lo[i], hi[i]))
    }

    #[inline(always)]
    fn recip(self, x: [f32; N]) -> [f32; N] {
        map(|i| 1.0 / x[i])
    }

    #[inline(always)]
    fn pow2(self, shifted: [f32; N]) -> [f32; N] {
        map(|i| f32::from_bits(pow2_bits(shifted[i].to_bits())))
    }

    #[inline(always)]
    fn vectorize<F: SimdFn>(self, f: F) -> F::Output {
        f.call(self)
    }
}

/// The bits of `2^n` from those of `n + ROUND` (see [`Simd::pow2`]): `n` is their integer
/// difference, and `n + 127` the exponent field.
#[inline(always)]
pub(crate) fn pow2_bits(shifted: u32) -> u32 {
    shifted
        .wrapping_sub(super::ROUND.to_bits())
        .wrapping_add(127)
        << 23
}
