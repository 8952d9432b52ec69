//! A small SIMD abstraction: each fused kernel is written once over [`Simd`] and compiled
//! once per [`CpuTier`](super::tier::CpuTier), as rten's `rten-simd` and pulp do.
//!
//! A [`Simd`] value is a token that exists only on a CPU with the instructions its methods use
//! (its constructor checks), so the methods are safe to call; a kernel body is an
//! `#[inline(always)]` [`SimdFn`], and [`Simd::vectorize`] runs it inside a function compiled
//! with the tier's target features, where every method inlines to single instructions.
//! [`Isa`] holds one token of whichever tier a model uses.
//!
//! - [`generic`]: 4-lane arrays in plain Rust, for any CPU.
//! - `x86`: AVX-512F (16 lanes) and AVX2 + FMA (8 lanes).
//! - `neon`: aarch64's Advanced SIMD (4 lanes).

pub(crate) mod generic;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;

use super::tier::CpuTier;

/// `1.5 · 2^23`: adding it to a float of magnitude below 2^22 rounds it to an integer `n`,
/// which then sits in the low mantissa bits (see [`Simd::pow2`]).
pub(crate) const ROUND: f32 = 12_582_912.0;

/// The vector operations the kernels use, on [`LANES`](Self::LANES) f32 lanes.
pub(crate) trait Simd: Copy + Send + Sync + 'static {
    /// A vector of `LANES` floats.
    type V: Copy;
    /// Lanes per vector.
    const LANES: usize;
    /// Vector registers the ISA has, for sizing register tiles.
    const REGISTERS: usize;
    /// Whether a [`blend_at`](Self::blend_at) at a constant lane issues beside the
    /// multiply-adds, on an execution port they leave free (AVX2's `vblendps` on Intel's port 5
    /// and AMD's extra vector pipes), so that kernels may trade multiply-adds for blends.
    const BLEND_BESIDE_FMA: bool;

    /// Every lane `x`.
    fn splat(self, x: f32) -> Self::V;
    /// `LANES` floats from `p`.
    ///
    /// # Safety
    /// `p` is valid for reading `LANES` floats (no alignment needed).
    unsafe fn load(self, p: *const f32) -> Self::V;
    /// `v` to `LANES` floats at `p`.
    ///
    /// # Safety
    /// `p` is valid for writing `LANES` floats (no alignment needed).
    unsafe fn store(self, p: *mut f32, v: Self::V);
    /// The first `n` lanes of `v` to `p`; nothing past them is touched.
    ///
    /// # Safety
    /// `n <= LANES`, and `p` is valid for writing `n` floats.
    unsafe fn store_first(self, p: *mut f32, v: Self::V, n: usize);
    /// `a + b`.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a - b`.
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a · b`.
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a · b + c`, fused where the ISA has FMA.
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `c - a · b`, fused where the ISA has FMA.
    fn neg_mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// Lanes `0..n` of `a`, then lanes `n..` of `b` (`n <= LANES`). With `n` known at compile
    /// time this is a single immediate blend.
    fn blend_at(self, a: Self::V, b: Self::V, n: usize) -> Self::V;
    /// `x` clamped to `[lo, hi]`, NaN staying NaN.
    fn clamp(self, x: Self::V, lo: Self::V, hi: Self::V) -> Self::V;
    /// `1 / x` to within about 1 ulp (an estimate refined by Newton steps where that is
    /// cheaper than a division). Only called on finite `x ≥ 1` or NaN.
    fn recip(self, x: Self::V) -> Self::V;
    /// `2^n` for `shifted = n + ROUND` with integer `n` in `[-126, 127]`: the float whose
    /// exponent field is `n + 127`, built from the bits of `shifted` (no float-to-int
    /// conversion).
    fn pow2(self, shifted: Self::V) -> Self::V;
    /// Runs `f` in a function compiled for this ISA's target features.
    fn vectorize<F: SimdFn>(self, f: F) -> F::Output;
}

/// A kernel body generic over the ISA; implement `call` with `#[inline(always)]` so that it
/// compiles into [`Simd::vectorize`]'s target-feature function.
pub(crate) trait SimdFn {
    /// What the kernel returns.
    type Output;
    /// Runs the kernel on `s`'s instructions.
    fn call<S: Simd>(self, s: S) -> Self::Output;
}

/// A token of one tier's ISA: what a model keeps to run its kernels.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Isa {
    /// AVX-512F.
    #[cfg(target_arch = "x86_64")]
    Avx512(x86::Avx512),
    /// AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2(x86::Avx2),
    /// aarch64 NEON.
    #[cfg(target_arch = "aarch64")]
    Neon(neon::Neon),
    /// Plain Rust.
    Generic(generic::Generic),
}

impl Isa {
    /// The token for `tier`, if this CPU has its instructions.
    pub fn new(tier: CpuTier) -> Option<Self> {
        match tier {
            #[cfg(target_arch = "x86_64")]
            CpuTier::Avx512 => x86::Avx512::new().map(Self::Avx512),
            #[cfg(target_arch = "x86_64")]
            CpuTier::Avx2 => x86::Avx2::new().map(Self::Avx2),
            #[cfg(target_arch = "aarch64")]
            CpuTier::Neon => neon::Neon::new().map(Self::Neon),
            CpuTier::Generic => Some(Self::Generic(generic::Generic)),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// The tier this token is for.
    pub fn tier(self) -> CpuTier {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::Avx512(_) => CpuTier::Avx512,
            #[cfg(target_arch = "x86_64")]
            Self::Avx2(_) => CpuTier::Avx2,
            #[cfg(target_arch = "aarch64")]
            Self::Neon(_) => CpuTier::Neon,
            Self::Generic(_) => CpuTier::Generic,
        }
    }

    /// Runs `f` on this ISA.
    #[inline]
    pub fn run<F: SimdFn>(self, f: F) -> F::Output {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::Avx512(s) => s.vectorize(f),
            #[cfg(target_arch = "x86_64")]
            Self::Avx2(s) => s.vectorize(f),
            #[cfg(target_arch = "aarch64")]
            Self::Neon(s) => s.vectorize(f),
            Self::Generic(s) => s.vectorize(f),
        }
    }

    /// [`Simd::LANES`] of this ISA.
    pub fn lanes(self) -> usize {
        struct Lanes;
        impl SimdFn for Lanes {
            type Output = usize;
            fn call<S: Simd>(self, _: S) -> usize {
                S::LANES
            }
        }
        self.run(Lanes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every primitive on every tier this CPU has, against plain scalar arithmetic.
    #[test]
    fn primitives_match_scalar_arithmetic_on_every_tier() {
        struct Check;
        impl SimdFn for Check {
            type Output = ();
            #[inline(always)]
            fn call<S: Simd>(self, s: S) {
                let n = S::LANES;
                let a: Vec<f32> = (0..n).map(|i| i as f32 * 1.5 - 3.0).collect();
                let b: Vec<f32> = (0..n).map(|i| 2.0 - i as f32 * 0.25).collect();
                // SAFETY: `a` and `b` hold LANES floats.
                let (va, vb) = unsafe { (s.load(a.as_ptr()), s.load(b.as_ptr())) };
                let out = |v: S::V| {
                    let mut o = vec![0.0f32; n];
                    // SAFETY: `o` holds LANES floats.
                    unsafe { s.store(o.as_mut_ptr(), v) };
                    o
                };
                let each = |f: &dyn Fn(f32, f32) -> f32| -> Vec<f32> {
                    a.iter().zip(&b).map(|(&x, &y)| f(x, y)).collect()
                };
                assert_eq!(out(s.add(va, vb)), each(&|x, y| x + y));
                assert_eq!(out(s.sub(va, vb)), each(&|x, y| x - y));
                assert_eq!(out(s.mul(va, vb)), each(&|x, y| x * y));
                assert_eq!(out(s.mul_add(va, vb, va)), each(&|x, y| x * y + x));
                assert_eq!(out(s.neg_mul_add(va, vb, va)), each(&|x, y| x - x * y));
                assert_eq!(out(s.splat(2.5)), vec![2.5; n]);
                for at in 0..=n {
                    let blended: Vec<f32> =
                        (0..n).map(|i| if i < at { a[i] } else { b[i] }).collect();
                    assert_eq!(out(s.blend_at(va, vb, at)), blended, "blend at {at}");
                }
                let clamped = out(s.clamp(va, s.splat(-1.0), s.splat(1.0)));
                assert_eq!(clamped, each(&|x, _| x.clamp(-1.0, 1.0)));
                let nan = s.clamp(s.splat(f32::NAN), s.splat(-1.0), s.splat(1.0));
                assert!(out(nan).iter().all(|x| x.is_nan()));
                for x in [1.0f32, 1.5, 3.0, 1e3, 7.7e37] {
                    let r = out(s.recip(s.splat(x)));
                    assert!(
                        r.iter().all(|&r| (r - 1.0 / x).abs() <= 2.5e-7 / x),
                        "1/{x}"
                    );
                }
                for n in [-126i32, -1, 0, 1, 127] {
                    let p = out(s.pow2(s.splat(n as f32 + ROUND)));
                    // Exact: a power of two from an integer shift (Miri perturbs `powi`).
                    let two_n = if n >= 0 {
                        (1u128 << n) as f32
                    } else {
                        1.0 / (1u128 << -n) as f32
                    };
                    assert!(p.iter().all(|&p| p == two_n), "2^{n}");
                }
                for k in 0..=n {
                    let mut o = vec![-9.0f32; n + 1];
                    // SAFETY: `o` holds LANES + 1 floats, k <= LANES.
                    unsafe { s.store_first(o.as_mut_ptr(), va, k) };
                    assert_eq!(&o[..k], &a[..k]);
                    assert!(o[k..].iter().all(|&x| x == -9.0), "store_first({k})");
                }
            }
        }
        for tier in crate::cpu::tier::tested_tiers() {
            tier.isa().unwrap().run(Check);
        }
    }
}
