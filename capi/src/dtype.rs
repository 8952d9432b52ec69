//! `ScriptlessDType`: the element types of inputs, models and outputs, and their candle
//! counterparts and names in messages.

use candle_core::DType;

/// An element type: `SCRIPTLESS_DTYPE_*`.
pub type ScriptlessDType = u32;
/// `float`, IEEE 754 binary32.
pub const SCRIPTLESS_DTYPE_F32: ScriptlessDType = 0;
/// `double`, IEEE 754 binary64.
pub const SCRIPTLESS_DTYPE_F64: ScriptlessDType = 1;
/// IEEE 754 binary16 (`_Float16`), as 16-bit words.
pub const SCRIPTLESS_DTYPE_F16: ScriptlessDType = 2;
/// bfloat16, as 16-bit words: the high half of an f32.
pub const SCRIPTLESS_DTYPE_BF16: ScriptlessDType = 3;
/// `int32_t`.
pub const SCRIPTLESS_DTYPE_I32: ScriptlessDType = 4;
/// `int64_t`.
pub const SCRIPTLESS_DTYPE_I64: ScriptlessDType = 5;

/// The candle dtype of a `SCRIPTLESS_DTYPE_*` value, if it is one.
pub(crate) fn dtype_from_c(dtype: ScriptlessDType) -> Option<DType> {
    Some(match dtype {
        SCRIPTLESS_DTYPE_F32 => DType::F32,
        SCRIPTLESS_DTYPE_F64 => DType::F64,
        SCRIPTLESS_DTYPE_F16 => DType::F16,
        SCRIPTLESS_DTYPE_BF16 => DType::BF16,
        SCRIPTLESS_DTYPE_I32 => DType::I32,
        SCRIPTLESS_DTYPE_I64 => DType::I64,
        _ => return None,
    })
}

/// The `SCRIPTLESS_DTYPE_*` value of a dtype the library returns or takes.
pub(crate) fn dtype_to_c(dtype: DType) -> Option<ScriptlessDType> {
    Some(match dtype {
        DType::F32 => SCRIPTLESS_DTYPE_F32,
        DType::F64 => SCRIPTLESS_DTYPE_F64,
        DType::F16 => SCRIPTLESS_DTYPE_F16,
        DType::BF16 => SCRIPTLESS_DTYPE_BF16,
        DType::I32 => SCRIPTLESS_DTYPE_I32,
        DType::I64 => SCRIPTLESS_DTYPE_I64,
        _ => return None,
    })
}

/// A `SCRIPTLESS_DTYPE_*` value as messages name it: `SCRIPTLESS_DTYPE_F64`, or the number
/// with what is wrong with it.
pub(crate) fn c_dtype_label(dtype: ScriptlessDType) -> String {
    dtype_from_c(dtype).map_or_else(
        || format!("{dtype}, not a SCRIPTLESS_DTYPE_* value"),
        |d| format!("SCRIPTLESS_DTYPE_{}", dtype_name(d)),
    )
}

/// The size in bytes of an element of a `SCRIPTLESS_DTYPE_*`; 0 for a value that is none.
pub(crate) fn dtype_size(dtype: ScriptlessDType) -> usize {
    dtype_from_c(dtype).map_or(0, |d| d.size_in_bytes())
}

/// A dtype as messages name it (`F32`), as the library's own messages do.
pub(crate) fn dtype_name(dtype: DType) -> String {
    format!("{dtype:?}")
}
