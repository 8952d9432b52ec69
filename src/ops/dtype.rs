//! PyTorch's scalar types as TorchScript code names them (`dtype=6`), and how each is held in a
//! candle tensor. Bool has no candle dtype: it is held as `u8` and tagged (see
//! [`Tensor`](super::Tensor)).

use candle_core::DType;

/// A tensor's element type, with PyTorch's `c10::ScalarType` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarType {
    /// `torch.uint8` (0).
    UInt8,
    /// `torch.int16` (2).
    Int16,
    /// `torch.int32` (3).
    Int32,
    /// `torch.int64` (4).
    Int64,
    /// `torch.float16` (5).
    Float16,
    /// `torch.float32` (6).
    Float32,
    /// `torch.float64` (7).
    Float64,
    /// `torch.bool` (11).
    Bool,
    /// `torch.bfloat16` (15).
    BFloat16,
}

impl ScalarType {
    /// The type of PyTorch's code `code`, if scriptless holds it.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => Self::UInt8,
            2 => Self::Int16,
            3 => Self::Int32,
            4 => Self::Int64,
            5 => Self::Float16,
            6 => Self::Float32,
            7 => Self::Float64,
            11 => Self::Bool,
            15 => Self::BFloat16,
            _ => return None,
        })
    }

    /// PyTorch's code for this type.
    pub fn code(self) -> i64 {
        match self {
            Self::UInt8 => 0,
            Self::Int16 => 2,
            Self::Int32 => 3,
            Self::Int64 => 4,
            Self::Float16 => 5,
            Self::Float32 => 6,
            Self::Float64 => 7,
            Self::Bool => 11,
            Self::BFloat16 => 15,
        }
    }

    /// PyTorch's name without `torch.` (`float32`), as in safetensors-like listings.
    pub fn name(self) -> &'static str {
        match self {
            Self::UInt8 => "uint8",
            Self::Int16 => "int16",
            Self::Int32 => "int32",
            Self::Int64 => "int64",
            Self::Float16 => "float16",
            Self::Float32 => "float32",
            Self::Float64 => "float64",
            Self::Bool => "bool",
            Self::BFloat16 => "bfloat16",
        }
    }

    /// The candle dtype that holds it.
    pub fn candle(self) -> DType {
        match self {
            Self::UInt8 | Self::Bool => DType::U8,
            Self::Int16 => DType::I16,
            Self::Int32 => DType::I32,
            Self::Int64 => DType::I64,
            Self::Float16 => DType::F16,
            Self::Float32 => DType::F32,
            Self::Float64 => DType::F64,
            Self::BFloat16 => DType::BF16,
        }
    }

    /// The type a candle dtype holds (`u8` as `uint8`); `None` for the types PyTorch lacks.
    pub fn from_candle(dtype: DType) -> Option<Self> {
        Some(match dtype {
            DType::U8 => Self::UInt8,
            DType::I16 => Self::Int16,
            DType::I32 => Self::Int32,
            DType::I64 => Self::Int64,
            DType::F16 => Self::Float16,
            DType::F32 => Self::Float32,
            DType::F64 => Self::Float64,
            DType::BF16 => Self::BFloat16,
            _ => return None,
        })
    }

    /// Whether it is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(
            self,
            Self::Float16 | Self::Float32 | Self::Float64 | Self::BFloat16
        )
    }

    /// Whether it is an integer type (bool excluded).
    pub fn is_integer(self) -> bool {
        matches!(self, Self::UInt8 | Self::Int16 | Self::Int32 | Self::Int64)
    }

    /// The category PyTorch's type promotion ranks: bool < integer < float.
    fn category(self) -> u8 {
        if self == Self::Bool {
            0
        } else if self.is_float() {
            2
        } else {
            1
        }
    }

    /// `torch.promote_types(self, other)`: the type both promote to.
    pub fn promote(self, other: Self) -> Self {
        use ScalarType::*;
        if self == other {
            return self;
        }
        match (self.category(), other.category()) {
            (a, b) if a > b => self,
            (a, b) if a < b => other,
            _ => match (self, other) {
                // Two float types: the wider; f16 with bf16 gives f32.
                (Float16, BFloat16) | (BFloat16, Float16) => Float32,
                _ if self.is_float() => {
                    if self.float_rank() >= other.float_rank() {
                        self
                    } else {
                        other
                    }
                }
                // Two integer types: the wider signed one (uint8 with int8/16 gives int16).
                (UInt8, t) | (t, UInt8) => {
                    if t == Int16 || t == Int32 || t == Int64 {
                        t
                    } else {
                        Int16
                    }
                }
                _ => {
                    if self.int_rank() >= other.int_rank() {
                        self
                    } else {
                        other
                    }
                }
            },
        }
    }

    fn float_rank(self) -> u8 {
        match self {
            Self::Float16 | Self::BFloat16 => 1,
            Self::Float32 => 2,
            _ => 3,
        }
    }

    fn int_rank(self) -> u8 {
        match self {
            Self::UInt8 => 0,
            Self::Int16 => 1,
            Self::Int32 => 2,
            _ => 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ScalarType::*;

    #[test]
    fn promotion_follows_pytorch() {
        assert_eq!(Int64.promote(Float32), Float32);
        assert_eq!(Bool.promote(Int64), Int64);
        assert_eq!(Float16.promote(BFloat16), Float32);
        assert_eq!(Float32.promote(Float64), Float64);
        assert_eq!(UInt8.promote(Int32), Int32);
        assert_eq!(Bool.promote(Bool), Bool);
    }
}
