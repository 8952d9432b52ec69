//! [`Tensor`]: a candle tensor with PyTorch's element type, so that `bool` (held as `u8`) stays
//! `bool` through the operators.

use candle_core::{DType, Device};

use super::dtype::ScalarType;
use crate::error::{Error, Result};

/// A tensor as the operators see it: candle's tensor and the PyTorch type it holds.
#[derive(Debug, Clone)]
pub struct Tensor {
    inner: candle_core::Tensor,
    dtype: ScalarType,
}

impl Tensor {
    /// Wraps a candle tensor of a type PyTorch has (`u8` is `uint8`; see [`Tensor::from_mask`]).
    pub fn new(inner: candle_core::Tensor) -> Result<Self> {
        let dtype = ScalarType::from_candle(inner.dtype()).ok_or_else(|| {
            Error::Script(format!(
                "candle type {:?} has no PyTorch type",
                inner.dtype()
            ))
        })?;
        Ok(Self { inner, dtype })
    }

    /// A bool tensor from a `u8` tensor of zeros and ones (what candle's comparisons return).
    pub fn from_mask(inner: candle_core::Tensor) -> Result<Self> {
        if inner.dtype() != DType::U8 {
            return Err(Error::Script(format!(
                "a bool tensor is held as u8, not {:?}",
                inner.dtype()
            )));
        }
        Ok(Self {
            inner,
            dtype: ScalarType::Bool,
        })
    }

    /// A tensor of type `dtype` whose candle tensor already has `dtype.candle()`.
    pub fn with_type(inner: candle_core::Tensor, dtype: ScalarType) -> Result<Self> {
        if inner.dtype() != dtype.candle() {
            return Err(Error::Script(format!(
                "a {} tensor is held as {:?}, not {:?}",
                dtype.name(),
                dtype.candle(),
                inner.dtype()
            )));
        }
        Ok(Self { inner, dtype })
    }

    /// The candle tensor.
    pub fn inner(&self) -> &candle_core::Tensor {
        &self.inner
    }

    /// The candle tensor, by value.
    pub fn into_inner(self) -> candle_core::Tensor {
        self.inner
    }

    /// Its PyTorch type.
    pub fn dtype(&self) -> ScalarType {
        self.dtype
    }

    /// Its shape.
    pub fn dims(&self) -> &[usize] {
        self.inner.dims()
    }

    /// Its number of dimensions.
    pub fn rank(&self) -> usize {
        self.inner.rank()
    }

    /// Its number of elements.
    pub fn elem_count(&self) -> usize {
        self.inner.elem_count()
    }

    /// The device it lives on.
    pub fn device(&self) -> &Device {
        self.inner.device()
    }

    /// `self.to(dtype)`: values converted as PyTorch converts them (to bool: nonzero is true;
    /// from bool: 0 or 1; float to integer truncates toward zero).
    pub fn to_dtype(&self, dtype: ScalarType) -> Result<Self> {
        if dtype == self.dtype {
            return Ok(self.clone());
        }
        let inner = if dtype == ScalarType::Bool {
            self.inner.ne(&self.inner.zeros_like()?)?
        } else if self.dtype.is_float() && dtype.is_integer() {
            // candle's float-to-integer casts saturate or wrap by backend; PyTorch truncates.
            // Truncate in f64 first so that every backend gives the same integer.
            let t = self.inner.to_dtype(DType::F64)?;
            let truncated = (t.clone().floor()? * t.ge(0.0)?.to_dtype(DType::F64)?)?
                .add(&(t.ceil()? * t.lt(0.0)?.to_dtype(DType::F64)?)?)?;
            truncated.to_dtype(dtype.candle())?
        } else {
            self.inner.to_dtype(dtype.candle())?
        };
        Ok(Self { inner, dtype })
    }

    /// The same values, on `device`.
    pub fn to_device(&self, device: &Device) -> Result<Self> {
        Ok(Self {
            inner: self.inner.to_device(device)?,
            dtype: self.dtype,
        })
    }

    /// The single element of a one-element tensor, as f64 (bool as 0 or 1).
    pub fn scalar_f64(&self) -> Result<f64> {
        if self.elem_count() != 1 {
            return Err(Error::Script(format!(
                "a tensor of shape {:?} is not a single value",
                self.dims()
            )));
        }
        let flat = self.inner.flatten_all()?.to_dtype(DType::F64)?;
        Ok(flat.to_vec1::<f64>()?[0])
    }

    /// The single element of a one-element tensor, as i64 (floats truncated toward zero).
    pub fn scalar_i64(&self) -> Result<i64> {
        if self.dtype.is_float() {
            return Ok(self.scalar_f64()?.trunc() as i64);
        }
        if self.elem_count() != 1 {
            return Err(Error::Script(format!(
                "a tensor of shape {:?} is not a single value",
                self.dims()
            )));
        }
        let flat = self.inner.flatten_all()?.to_dtype(DType::I64)?;
        Ok(flat.to_vec1::<i64>()?[0])
    }
}
