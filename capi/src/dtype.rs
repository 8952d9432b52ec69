//! `ScriptlessDType`: the element types of inputs, models and outputs, and their candle and
//! PyTorch counterparts and names in messages.

use candle_core::DType;
use scriptless_core::ops::ScalarType;

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
/// `bool` (PyTorch's `torch.bool`), one byte each: 0 or 1 in an output; in an input any byte
/// other than 0 is true. Models run by their own code only.
pub const SCRIPTLESS_DTYPE_BOOL: ScriptlessDType = 6;
/// `uint8_t` (`torch.uint8`). Models run by their own code only.
pub const SCRIPTLESS_DTYPE_U8: ScriptlessDType = 7;
/// `int16_t` (`torch.int16`). Models run by their own code only.
pub const SCRIPTLESS_DTYPE_I16: ScriptlessDType = 8;

/// The PyTorch type of a `SCRIPTLESS_DTYPE_*` value, if it is one.
pub(crate) fn scalar_from_c(dtype: ScriptlessDType) -> Option<ScalarType> {
    Some(match dtype {
        SCRIPTLESS_DTYPE_F32 => ScalarType::Float32,
        SCRIPTLESS_DTYPE_F64 => ScalarType::Float64,
        SCRIPTLESS_DTYPE_F16 => ScalarType::Float16,
        SCRIPTLESS_DTYPE_BF16 => ScalarType::BFloat16,
        SCRIPTLESS_DTYPE_I32 => ScalarType::Int32,
        SCRIPTLESS_DTYPE_I64 => ScalarType::Int64,
        SCRIPTLESS_DTYPE_BOOL => ScalarType::Bool,
        SCRIPTLESS_DTYPE_U8 => ScalarType::UInt8,
        SCRIPTLESS_DTYPE_I16 => ScalarType::Int16,
        _ => return None,
    })
}

/// The `SCRIPTLESS_DTYPE_*` value of a PyTorch type: every type scriptless holds has one.
pub(crate) fn scalar_to_c(dtype: ScalarType) -> ScriptlessDType {
    match dtype {
        ScalarType::Float32 => SCRIPTLESS_DTYPE_F32,
        ScalarType::Float64 => SCRIPTLESS_DTYPE_F64,
        ScalarType::Float16 => SCRIPTLESS_DTYPE_F16,
        ScalarType::BFloat16 => SCRIPTLESS_DTYPE_BF16,
        ScalarType::Int32 => SCRIPTLESS_DTYPE_I32,
        ScalarType::Int64 => SCRIPTLESS_DTYPE_I64,
        ScalarType::Bool => SCRIPTLESS_DTYPE_BOOL,
        ScalarType::UInt8 => SCRIPTLESS_DTYPE_U8,
        ScalarType::Int16 => SCRIPTLESS_DTYPE_I16,
    }
}

/// The candle dtype of a `SCRIPTLESS_DTYPE_*` value the seed's models take or compute in (the
/// float and index types), if it is one of those.
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

/// The `SCRIPTLESS_DTYPE_*` value of a candle dtype a seed model returns or takes.
pub(crate) fn dtype_to_c(dtype: DType) -> Option<ScriptlessDType> {
    ScalarType::from_candle(dtype)
        .filter(|s| *s != ScalarType::UInt8 && *s != ScalarType::Int16)
        .map(scalar_to_c)
}

/// The name of a `SCRIPTLESS_DTYPE_*` value after `SCRIPTLESS_DTYPE_` (`F32`, `BOOL`).
fn c_name(dtype: ScriptlessDType) -> Option<&'static str> {
    Some(match dtype {
        SCRIPTLESS_DTYPE_F32 => "F32",
        SCRIPTLESS_DTYPE_F64 => "F64",
        SCRIPTLESS_DTYPE_F16 => "F16",
        SCRIPTLESS_DTYPE_BF16 => "BF16",
        SCRIPTLESS_DTYPE_I32 => "I32",
        SCRIPTLESS_DTYPE_I64 => "I64",
        SCRIPTLESS_DTYPE_BOOL => "BOOL",
        SCRIPTLESS_DTYPE_U8 => "U8",
        SCRIPTLESS_DTYPE_I16 => "I16",
        _ => return None,
    })
}

/// A `SCRIPTLESS_DTYPE_*` value as messages name it: `SCRIPTLESS_DTYPE_F64`, or the number
/// with what is wrong with it.
pub(crate) fn c_dtype_label(dtype: ScriptlessDType) -> String {
    c_name(dtype).map_or_else(
        || format!("{dtype}, not a SCRIPTLESS_DTYPE_* value"),
        |name| format!("SCRIPTLESS_DTYPE_{name}"),
    )
}

/// The size in bytes of an element of a `SCRIPTLESS_DTYPE_*`; 0 for a value that is none.
pub(crate) fn dtype_size(dtype: ScriptlessDType) -> usize {
    scalar_from_c(dtype).map_or(0, |d| d.candle().size_in_bytes())
}

/// A dtype as messages name it (`F32`), as the library's own messages do.
pub(crate) fn dtype_name(dtype: DType) -> String {
    format!("{dtype:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dtype_value_reads_back_and_has_a_name_and_a_size() {
        for value in 0..=SCRIPTLESS_DTYPE_I16 {
            let scalar = scalar_from_c(value).unwrap();
            assert_eq!(scalar_to_c(scalar), value);
            assert!(c_dtype_label(value).starts_with("SCRIPTLESS_DTYPE_"));
            assert!(dtype_size(value) > 0);
        }
        assert_eq!(scalar_from_c(SCRIPTLESS_DTYPE_I16 + 1), None);
        assert_eq!(dtype_size(99), 0);
        assert_eq!(c_dtype_label(99), "99, not a SCRIPTLESS_DTYPE_* value");
        assert_eq!(
            c_dtype_label(SCRIPTLESS_DTYPE_BOOL),
            "SCRIPTLESS_DTYPE_BOOL"
        );
    }

    #[test]
    fn the_seeds_dtypes_are_the_first_six() {
        for value in 0..=SCRIPTLESS_DTYPE_I64 {
            let dtype = dtype_from_c(value).unwrap();
            assert_eq!(dtype_to_c(dtype), Some(value));
        }
        assert_eq!(dtype_from_c(SCRIPTLESS_DTYPE_BOOL), None);
        assert_eq!(dtype_to_c(DType::U8), None);
    }
}
