//! The aarch64 tier: Advanced SIMD (NEON), 4 lanes and 32 registers. Every 64-bit ARM CPU has
//! it; division is exact and fast enough here that `recip` divides.

use std::arch::aarch64::*;

use super::{Simd, SimdFn, ROUND};

/// `ROUND`'s bits less the exponent bias: `bits(n + ROUND) - POW2_OFFSET = n + 127`.
const POW2_OFFSET: i32 = ROUND.to_bits() as i32 - 127;

/// The NEON tier's token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Neon(());

impl Neon {
    /// The token, if this CPU has NEON (every aarch64 CPU Linux runs on does).
    pub fn new() -> Option<Self> {
        std::arch::is_aarch64_feature_detected!("neon").then_some(Self(()))
    }
}

// Every `unsafe` block in this impl is sound because a `Neon` exists only on a CPU with NEON
// (`Neon::new`), the only feature these intrinsics need; pointer arguments are valid as the
// trait's contract requires of the caller.
impl Simd for Neon {
    type V = float32x4_t;
    const LANES: usize = 4;
    const REGISTERS: usize = 32;
    const BLEND_BESIDE_FMA: bool = false;

    #[inline(always)]
    fn splat(self, x: f32) -> float32x4_t {
        // SAFETY: the token proves NEON; see the impl's header.
        unsafe { vdupq_n_f32(x) }
    }

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> float32x4_t {
        // SAFETY: the caller guarantees 4 readable floats at `p`.
        unsafe { vld1q_f32(p) }
    }

    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: float32x4_t) {
        // SAFETY: the caller guarantees 4 writable floats at `p`.
        unsafe { vst1q_f32(p, v) }
    }

    #[inline(always)]
    unsafe fn store_first(self, p: *mut f32, v: float32x4_t, n: usize) {
        let mut lanes = [0.0f32; 4];
        // SAFETY: `lanes` holds 4 floats.
        unsafe { vst1q_f32(lanes.as_mut_ptr(), v) };
        for (i, &x) in lanes.iter().enumerate().take(n) {
            // SAFETY: the caller guarantees `n` writable floats at `p`.
            unsafe { p.add(i).write_unaligned(x) };
        }
    }

    #[inline(always)]
    fn add(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: the token proves NEON; see the impl's header.
        unsafe { vaddq_f32(a, b) }
    }

    #[inline(always)]
    fn sub(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: the token proves NEON; see the impl's header.
        unsafe { vsubq_f32(a, b) }
    }

    #[inline(always)]
    fn mul(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: the token proves NEON; see the impl's header.
        unsafe { vmulq_f32(a, b) }
    }

    #[inline(always)]
    fn mul_add(self, a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        // SAFETY: the token proves NEON; see the impl's header.
        unsafe { vfmaq_f32(c, a, b) }
    }

    #[inline(always)]
    fn neg_mul_add(self, a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        // SAFETY: the token proves NEON; see the impl's header.
        unsafe { vfmsq_f32(c, a, b) }
    }

    #[inline(always)]
    fn blend_at(self, a: float32x4_t, b: float32x4_t, n: usize) -> float32x4_t {
        const LANE: [u32; 4] = [0, 1, 2, 3];
        // SAFETY: the token proves NEON; see the impl's header. `LANE` holds 4 integers.
        unsafe {
            let from_b = vcgeq_u32(vld1q_u32(LANE.as_ptr()), vdupq_n_u32(n as u32));
            vbslq_f32(from_b, b, a)
        }
    }

    #[inline(always)]
    fn clamp(self, x: float32x4_t, lo: float32x4_t, hi: float32x4_t) -> float32x4_t {
        // NEON's max and min return NaN when either operand is NaN.
        // SAFETY: the token proves NEON; see the impl's header.
        unsafe { vminq_f32(vmaxq_f32(x, lo), hi) }
    }

    #[inline(always)]
    fn recip(self, x: float32x4_t) -> float32x4_t {
        // SAFETY: the token proves NEON; see the impl's header.
        unsafe { vdivq_f32(vdupq_n_f32(1.0), x) }
    }

    #[inline(always)]
    fn pow2(self, shifted: float32x4_t) -> float32x4_t {
        // SAFETY: the token proves NEON; see the impl's header.
        let e = unsafe { vsubq_s32(vreinterpretq_s32_f32(shifted), vdupq_n_s32(POW2_OFFSET)) };
        // SAFETY: the token proves NEON; see the impl's header.
        unsafe { vreinterpretq_f32_s32(vshlq_n_s32::<23>(e)) }
    }

    #[inline(always)]
    fn vectorize<F: SimdFn>(self, f: F) -> F::Output {
        #[target_feature(enable = "neon")]
        fn inner<F: SimdFn>(s: Neon, f: F) -> F::Output {
            f.call(s)
        }
        // SAFETY: the token proves NEON; see the impl's header.
        unsafe { inner(self, f) }
    }
}
