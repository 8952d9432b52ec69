//! The x86-64 tiers: AVX-512F (16 lanes, 32 registers) and AVX2 + FMA (8 lanes, 16 registers).
//!
//! Every method calls intrinsics of its tier, which is sound because a token exists only on a
//! CPU that has them ([`Avx512::new`], [`Avx2::new`]). Divisions are a reciprocal estimate
//! refined by Newton steps (`vdivps` costs more than the rest of an LSTM cell).

use std::arch::x86_64::*;

use super::{Simd, SimdFn, ROUND};

/// `ROUND`'s bits less the exponent bias: `bits(n + ROUND) - POW2_OFFSET = n + 127`.
const POW2_OFFSET: i32 = ROUND.to_bits() as i32 - 127;

/// The AVX-512F tier's token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Avx512(());

impl Avx512 {
    /// The token, if this CPU has AVX-512F.
    pub fn new() -> Option<Self> {
        std::arch::is_x86_feature_detected!("avx512f").then_some(Self(()))
    }
}

// Every `unsafe` block in this impl is sound because an `Avx512` exists only on a CPU with AVX-512F
// (`Avx512::new`), the only feature these intrinsics need; pointer arguments are valid as the
// trait's contract requires of the caller.
impl Simd for Avx512 {
    type V = __m512;
    const LANES: usize = 16;
    const REGISTERS: usize = 32;
    // Port 5 runs 512-bit multiply-adds too.
    const BLEND_BESIDE_FMA: bool = false;

    #[inline(always)]
    fn splat(self, x: f32) -> __m512 {
        // SAFETY: the token proves AVX-512F; see the impl's header.
        unsafe { _mm512_set1_ps(x) }
    }

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> __m512 {
        // SAFETY: the token proves AVX-512F; see the impl's header.
        unsafe { _mm512_loadu_ps(p) }
    }

    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: __m512) {
        // SAFETY: the token proves AVX-512F; see the impl's header.
        unsafe { _mm512_storeu_ps(p, v) }
    }

    #[inline(always)]
    unsafe fn store_first(self, p: *mut f32, v: __m512, n: usize) {
        let mask = ((1u32 << n) - 1) as __mmask16;
        // SAFETY: the token proves AVX-512F; see the impl's header.
        unsafe { _mm512_mask_storeu_ps(p, mask, v) }
    }

    #[inline(always)]
    fn blend_at(self, a: __m512, b: __m512, n: usize) -> __m512 {
        let from_b = (0xffff_u32 << n) as __mmask16;
        // SAFETY: the token proves AVX-512F; see the impl's header.
        unsafe { _mm512_mask_blend_ps(from_b, a, b) }
    }

    #[inline(always)]
    fn add(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: the token proves AVX-512F; see the impl's header.
        unsafe { _mm512_add_ps(a, b) }
    }

    #[inline(always)]
    fn sub(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: the token proves AVX-512F; see the impl's header.
        unsafe { _mm512_sub_ps(a, b) }
    }

    #[inline(always)]
    fn mul(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: the token proves AVX-512F; see the impl's header.
        unsafe { _mm512_mul_ps(a, b) }
    }

    #[inline(always)]
    fn mul_add(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: the token proves AVX-512F; see the impl's header.
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }

    #[inline(always)]
    fn neg_mul_add(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: the token proves AVX-512F; see the impl's header.
        unsafe { _mm512_fnmadd_ps(a, b, c) }
    }

    #[cfg(not(miri))]
    #[inline(always)]
    fn clamp(self, x: __m512, lo: __m512, hi: __m512) -> __m512 {
        // max/min return their second operand when either is NaN: NaN stays NaN.
        // SAFETY: the token proves AVX-512F; see the impl's header.
        unsafe { _mm512_min_ps(hi, _mm512_max_ps(lo, x)) }
    }

    /// Miri lacks the 512-bit `vmaxps`/`vminps`: lane by lane (the bounds are splats).
    #[cfg(miri)]
    fn clamp(self, x: __m512, lo: __m512, hi: __m512) -> __m512 {
        let [lo, hi] = [lo, hi].map(|v| {
            let mut lanes = [0.0f32; 16];
            // SAFETY: `lanes` holds 16 floats.
            unsafe { self.store(lanes.as_mut_ptr(), v) };
            lanes[0]
        });
        lanes(self, x, |x| x.clamp(lo, hi))
    }

    #[cfg(not(miri))]
    #[inline(always)]
    fn recip(self, x: __m512) -> __m512 {
        // SAFETY: the token proves AVX-512F; see the impl's header.
        unsafe {
            let r = _mm512_rcp14_ps(x);
            _mm512_mul_ps(r, _mm512_fnmadd_ps(x, r, _mm512_set1_ps(2.0)))
        }
    }

    #[cfg(not(miri))]
    #[inline(always)]
    fn pow2(self, shifted: __m512) -> __m512 {
        // SAFETY: the token proves AVX-512F; see the impl's header.
        unsafe {
            let e = _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(POW2_OFFSET));
            _mm512_castsi512_ps(_mm512_slli_epi32::<23>(e))
        }
    }

    /// Miri lacks `vrcp14ps`: lane by lane, through memory it can check. (Under Miri the
    /// AVX-512 activations are exact divisions, not the estimate; their loads and stores, and
    /// every kernel's, are the real ones.)
    #[cfg(miri)]
    fn recip(self, x: __m512) -> __m512 {
        lanes(self, x, |x| 1.0 / x)
    }

    /// Miri lacks the 512-bit integer shifts: lane by lane.
    #[cfg(miri)]
    fn pow2(self, shifted: __m512) -> __m512 {
        lanes(self, shifted, |s| {
            f32::from_bits(super::generic::pow2_bits(s.to_bits()))
        })
    }

    #[inline(always)]
    fn vectorize<F: SimdFn>(self, f: F) -> F::Output {
        #[target_feature(enable = "avx512f")]
        fn inner<F: SimdFn>(s: Avx512, f: F) -> F::Output {
            f.call(s)
        }
        // SAFETY: the token proves AVX-512F; see the impl's header.
        unsafe { inner(self, f) }
    }
}

/// The AVX2 + FMA tier's token (x86-64-v3).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// The token, if this CPU has AVX2 and FMA.
    pub fn new() -> Option<Self> {
        (std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"))
            .then_some(Self(()))
    }
}

// Every `unsafe` block in this impl is sound because an `Avx2` exists only on a CPU with AVX2 and FMA
// (`Avx2::new`), which these intrinsics need; pointer arguments are valid as the trait's
// contract requires of the caller.
impl Simd for Avx2 {
    type V = __m256;
    const LANES: usize = 8;
    const REGISTERS: usize = 16;
    const BLEND_BESIDE_FMA: bool = true;

    #[inline(always)]
    fn splat(self, x: f32) -> __m256 {
        // SAFETY: the token proves AVX2 and FMA; see the impl's header.
        unsafe { _mm256_set1_ps(x) }
    }

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> __m256 {
        // SAFETY: the token proves AVX2 and FMA; see the impl's header.
        unsafe { _mm256_loadu_ps(p) }
    }

    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: __m256) {
        // SAFETY: the token proves AVX2 and FMA; see the impl's header.
        unsafe { _mm256_storeu_ps(p, v) }
    }

    #[inline(always)]
    unsafe fn store_first(self, p: *mut f32, v: __m256, n: usize) {
        // SAFETY: the token proves AVX2 and FMA; see the impl's header.
        unsafe {
            // Lane i is stored when i < n: its mask element has the sign bit set.
            let mask = _mm256_cmpgt_epi32(
                _mm256_set1_epi32(n as i32),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            );
            _mm256_maskstore_ps(p, mask, v)
        }
    }

    #[inline(always)]
    fn blend_at(self, a: __m256, b: __m256, n: usize) -> __m256 {
        // SAFETY: the token proves AVX2 and FMA; see the impl's header.
        unsafe {
            // Lane i comes from `b` when i >= n: its mask element has the sign bit set.
            let from_b = _mm256_cmpgt_epi32(
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                _mm256_set1_epi32(n as i32 - 1),
            );
            _mm256_blendv_ps(a, b, _mm256_castsi256_ps(from_b))
        }
    }

    #[inline(always)]
    fn add(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: the token proves AVX2 and FMA; see the impl's header.
        unsafe { _mm256_add_ps(a, b) }
    }

    #[inline(always)]
    fn sub(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: the token proves AVX2 and FMA; see the impl's header.
        unsafe { _mm256_sub_ps(a, b) }
    }

    #[inline(always)]
    fn mul(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: the token proves AVX2 and FMA; see the impl's header.
        unsafe { _mm256_mul_ps(a, b) }
    }

    #[inline(always)]
    fn mul_add(self, a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: the token proves AVX2 and FMA; see the impl's header.
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }

    #[inline(always)]
    fn neg_mul_add(self, a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: the token proves AVX2 and FMA; see the impl's header.
        unsafe { _mm256_fnmadd_ps(a, b, c) }
    }

    #[inline(always)]
    fn clamp(self, x: __m256, lo: __m256, hi: __m256) -> __m256 {
        // max/min return their second operand when either is NaN: NaN stays NaN.
        // SAFETY: the token proves AVX2 and FMA; see the impl's header.
        unsafe { _mm256_min_ps(hi, _mm256_max_ps(lo, x)) }
    }

    /// `vrcpps` gives 12 bits; two Newton steps bring it to rounding. Each step is
    /// `r + r·(1 - x·r)`, whose small correction rounds well: `r·(2 - x·r)` would leave
    /// `1/1` one ulp short, and `tanh` of large inputs short of ±1.
    #[inline(always)]
    fn recip(self, x: __m256) -> __m256 {
        // SAFETY: the token proves AVX2 and FMA; see the impl's header.
        unsafe {
            let one = _mm256_set1_ps(1.0);
            let r = _mm256_rcp_ps(x);
            let r = _mm256_fmadd_ps(r, _mm256_fnmadd_ps(x, r, one), r);
            _mm256_fmadd_ps(r, _mm256_fnmadd_ps(x, r, one), r)
        }
    }

    #[inline(always)]
    fn pow2(self, shifted: __m256) -> __m256 {
        // SAFETY: the token proves AVX2 and FMA; see the impl's header.
        unsafe {
            let e = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(POW2_OFFSET));
            _mm256_castsi256_ps(_mm256_slli_epi32::<23>(e))
        }
    }

    #[inline(always)]
    fn vectorize<F: SimdFn>(self, f: F) -> F::Output {
        #[target_feature(enable = "avx2,fma")]
        fn inner<F: SimdFn>(s: Avx2, f: F) -> F::Output {
            f.call(s)
        }
        // SAFETY: the token proves AVX2 and FMA; see the impl's header.
        unsafe { inner(self, f) }
    }
}

/// `f` on each lane of `x`, through memory: the operations Miri lacks.
#[cfg(miri)]
fn lanes<S: Simd>(s: S, x: S::V, f: impl Fn(f32) -> f32) -> S::V {
    let mut v = [0.0f32; 16];
    // SAFETY: `v` holds 16 floats, at least LANES.
    unsafe { s.store(v.as_mut_ptr(), x) };
    let v = v.map(f);
    // SAFETY: as above.
    unsafe { s.load(v.as_ptr()) }
}
