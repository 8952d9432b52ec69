//! CPU building blocks of the fused kernels: the CPU tiers ([`tier`]) and the SIMD abstraction
//! every kernel is written over once ([`simd`]), a matrix product that only uses threads when
//! the work pays for them ([`gemm`]), the LSTM cell's pointwise update with vectorised
//! activations ([`activation`]), the narrow Linear ([`narrow`]), the GRU's time loop
//! ([`gru`], for `aten::gru`), the thread team ([`team`]) and the helper threads that short
//! calls share ([`helpers`]). The LSTM's own kernel lives
//! with it ([`crate::lstm`]); every kernel has a composed candle-op fallback for other devices
//! and dtypes.

pub(crate) mod activation;
pub(crate) mod gemm;
pub(crate) mod gru;
pub(crate) mod helpers;
pub(crate) mod narrow;
pub(crate) mod peak;
pub(crate) mod simd;
pub(crate) mod team;
pub(crate) mod tier;

use std::sync::OnceLock;

use candle_core::{CpuStorage, DType, Device, Layout, WithDType};

use simd::Isa;

/// candle's thread count (`RAYON_NUM_THREADS`, else the physical cores), looked up once:
/// candle looks it up on every matmul, by reading `/proc/cpuinfo` on Linux. One on WebAssembly
/// without threads (`wasm32-wasip1`), whatever the environment says, so that no kernel tries
/// to spawn a thread there.
pub(crate) fn threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        if cfg!(all(target_family = "wasm", not(target_feature = "atomics"))) {
            1
        } else {
            candle_core::utils::get_num_threads()
        }
    })
}

/// Whether the fused CPU kernels handle tensors of `dtype` on `device`.
pub(crate) fn supports(device: &Device, dtype: DType) -> bool {
    device.is_cpu() && matches!(dtype, DType::F32 | DType::F64)
}

/// The elements of a contiguous tensor's storage.
pub(crate) fn contiguous<'a, T: WithDType>(
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<&'a [T]> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("fused kernel: input not contiguous".into()))?;
    Ok(&storage.as_slice::<T>()?[start..end])
}

/// The element types the CPU kernels handle: `f32` (the product) and `f64` (reference runs).
/// Other dtypes take the composed fallback.
pub(crate) trait Float: WithDType {
    const ZERO: Self;
    const ONE: Self;
    /// The LSTM cell for `rows` rows: `gates` `(rows, 4H)` in PyTorch's `i, f, g, o` order
    /// (pre-activation), `c` `(rows, H)` updated in place, `h` `(rows, H)` written; f32 on
    /// `isa`'s vector instructions.
    fn lstm_cell(isa: Isa, gates: &[Self], c: &mut [Self], h: &mut [Self], hidden: usize);
}
