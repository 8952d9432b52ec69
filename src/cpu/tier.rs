//! CPU tiers: which SIMD instruction set the fused kernels use, detected once at run time, and
//! capped by the `SCRIPTLESS_CPU` environment variable.
//!
//! One binary, built for the baseline target, carries every kernel once per tier
//! ([`super::simd`]); a model picks its tier when it is built ([`CpuTier::current`]) and can be
//! moved to another the CPU has (`with_cpu_tier` on every model), which is how the tests run
//! every kernel on every tier of one machine.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use super::simd::Isa;
use crate::error::{Error, Result};

/// The environment variable that caps the tier: it may lower it, never raise it past what the
/// CPU has.
pub const CPU_TIER_VAR: &str = "SCRIPTLESS_CPU";

/// A set of SIMD instructions the CPU kernels are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CpuTier {
    /// x86-64 with AVX-512F: 16 lanes of f32, 32 vector registers.
    Avx512,
    /// x86-64-v3, AVX2 with FMA: 8 lanes, 16 registers (Intel since Haswell, AMD since Zen).
    Avx2,
    /// aarch64's Advanced SIMD: 4 lanes, 32 registers (every 64-bit ARM CPU).
    Neon,
    /// Plain Rust on 4-lane arrays, which the compiler vectorises for whatever the build
    /// targets: runs everywhere, including WebAssembly.
    Generic,
}

impl CpuTier {
    /// Every tier, best first within each architecture.
    pub const ALL: [CpuTier; 4] = [Self::Avx512, Self::Avx2, Self::Neon, Self::Generic];

    /// The tier's name, as `SCRIPTLESS_CPU` and `bench --json` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512 => "avx512",
            Self::Avx2 => "avx2",
            Self::Neon => "neon",
            Self::Generic => "generic",
        }
    }

    /// The CPU features the tier needs, for messages.
    fn needs(self) -> &'static str {
        match self {
            Self::Avx512 => "an x86-64 CPU with AVX-512F",
            Self::Avx2 => "an x86-64 CPU with AVX2 and FMA",
            Self::Neon => "an aarch64 CPU",
            Self::Generic => "nothing",
        }
    }

    /// Whether this CPU can run the tier's kernels.
    pub fn is_supported(self) -> bool {
        self.isa().is_some()
    }

    /// The best tier this CPU has, whatever `SCRIPTLESS_CPU` says.
    pub fn detected() -> CpuTier {
        Self::ALL
            .into_iter()
            .find(|t| t.is_supported())
            .unwrap_or(Self::Generic)
    }

    /// The tier models use unless told otherwise: [`detected`](Self::detected), lowered to the
    /// tier named by `SCRIPTLESS_CPU` when that is set (and not empty). An unknown name, or a
    /// tier this CPU lacks, is an error naming the variable, not a silent fallback. Read once
    /// per process.
    pub fn current() -> Result<CpuTier> {
        static CURRENT: OnceLock<std::result::Result<CpuTier, String>> = OnceLock::new();
        CURRENT
            .get_or_init(|| {
                let value = std::env::var_os(CPU_TIER_VAR).unwrap_or_default();
                Self::capped(&value.to_string_lossy())
            })
            .clone()
            .map_err(Error::Unsupported)
    }

    /// [`detected`](Self::detected) capped by a `SCRIPTLESS_CPU` value (`""`: no cap).
    fn capped(value: &str) -> std::result::Result<CpuTier, String> {
        if value.is_empty() {
            return Ok(Self::detected());
        }
        let tier: CpuTier = value
            .parse()
            .map_err(|e: Error| format!("{CPU_TIER_VAR}={value}: {e}"))?;
        isa_for(tier).map_err(|e| format!("{CPU_TIER_VAR}={value}: {e}"))?;
        Ok(tier)
    }

    /// Every tier this CPU can run at or below [`current`](Self::current), best first: the
    /// tiers the tests run each kernel on.
    pub fn usable() -> Result<Vec<CpuTier>> {
        let current = Self::current()?;
        Ok(Self::ALL
            .into_iter()
            .filter(|t| t.is_supported() && t.rank() <= current.rank())
            .collect())
    }

    /// Order within an architecture: a cap may only move down it.
    fn rank(self) -> u8 {
        match self {
            Self::Generic => 0,
            Self::Avx2 | Self::Neon => 1,
            Self::Avx512 => 2,
        }
    }

    /// The tier's kernel entry point, if this CPU runs it.
    pub(crate) fn isa(self) -> Option<Isa> {
        Isa::new(self)
    }
}

impl fmt::Display for CpuTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// As its [name](CpuTier::name), the way `bench --json` reports it.
impl serde::Serialize for CpuTier {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl FromStr for CpuTier {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "unknown CPU tier `{s}`; expected avx512, avx2, neon or generic"
                ))
            })
    }
}

/// The ISA of the [current](CpuTier::current) tier.
pub(crate) fn current_isa() -> Result<Isa> {
    isa_for(CpuTier::current()?)
}

/// The ISA of `tier`, or an error saying what the tier needs and what this CPU has.
pub(crate) fn isa_for(tier: CpuTier) -> Result<Isa> {
    tier.isa().ok_or_else(|| {
        Error::Unsupported(format!(
            "the {tier} CPU tier needs {}; this CPU's best is {}",
            tier.needs(),
            CpuTier::detected()
        ))
    })
}

/// The tiers the kernels' unit tests run on: every usable one; under Miri only the current
/// one, since `scripts/sanitize.sh` runs Miri once per tier (with that tier's target features)
/// and interpreting every tier in every run would take an hour.
#[cfg(test)]
pub(crate) fn tested_tiers() -> Vec<CpuTier> {
    if cfg!(miri) {
        vec![CpuTier::current().unwrap()]
    } else {
        CpuTier::usable().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_lowers_the_tier_and_never_raises_it() {
        assert_eq!(CpuTier::capped(""), Ok(CpuTier::detected()));
        assert_eq!(CpuTier::capped("generic"), Ok(CpuTier::Generic));
        let best = CpuTier::detected();
        assert_eq!(CpuTier::capped(best.name()), Ok(best));
        for tier in CpuTier::ALL {
            let capped = CpuTier::capped(tier.name());
            if tier.is_supported() {
                assert_eq!(capped, Ok(tier));
            } else {
                let message = capped.unwrap_err();
                assert!(
                    message
                        .starts_with(&format!("SCRIPTLESS_CPU={tier}: the {tier} CPU tier needs")),
                    "{message}"
                );
            }
        }
        assert_eq!(
            CpuTier::capped("sse4").unwrap_err(),
            "SCRIPTLESS_CPU=sse4: unknown CPU tier `sse4`; expected avx512, avx2, neon or generic"
        );
        // Exactly one of the architecture tiers exists on any CPU but generic.
        assert!(CpuTier::Generic.is_supported());
        assert!(!(CpuTier::Neon.is_supported() && CpuTier::Avx2.is_supported()));
    }

    #[test]
    fn usable_tiers_are_supported_best_first_and_end_with_generic() {
        let usable = CpuTier::usable().unwrap();
        assert_eq!(usable.first(), Some(&CpuTier::current().unwrap()));
        assert_eq!(usable.last(), Some(&CpuTier::Generic));
        assert!(usable.iter().all(|t| t.is_supported()));
        assert!(usable.windows(2).all(|w| w[0].rank() > w[1].rank()));
    }
}
