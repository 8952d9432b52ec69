//! `ScriptlessTensor`: a forward call's output, owned by the caller until
//! `scriptless_tensor_destroy`.

use std::ffi::c_void;

use candle_core::{CpuStorage, Device, Storage, Tensor};
use scriptless_core::ops::{self, ScalarType};

use crate::args;
use crate::dtype::{dtype_size, scalar_to_c, ScriptlessDType};
use crate::status::{guard, Failure, ScriptlessStatus, SCRIPTLESS_ERROR_INTERNAL};

/// An output tensor, on the CPU: a seed model's, in the model's dtype, or a model's run by its
/// own code, in the dtype its code gave it. Freed by `scriptless_tensor_destroy`; never
/// written, so it may be read from any thread.
pub struct ScriptlessTensor {
    /// Keeps the storage `view.data` points into alive.
    _tensor: Tensor,
    shape: Vec<usize>,
    view: ScriptlessTensorView,
}

/// What a `ScriptlessTensor` holds, from `scriptless_tensor_view` (or an output of
/// `scriptless_model_run`, from `scriptless_outputs_get`). Its pointers belong to the tensor
/// (or the outputs) and live as long as it does.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ScriptlessTensorView {
    /// The element type (`SCRIPTLESS_DTYPE_*`): a seed model's dtype; for a model run by its own
    /// code, the output's own (`SCRIPTLESS_DTYPE_I64` for an `argmax`, `_BOOL` for a mask).
    pub dtype: ScriptlessDType,
    /// The number of dims: 0 for a scalar (an `int`, `float` or `bool` a model returns is a
    /// 0-dim `I64`, `F64` or `BOOL` tensor of one element).
    pub rank: usize,
    /// The `rank` dims.
    pub shape: *const usize,
    /// The elements, in C (row-major) order, aligned for their type: `float *` for
    /// `SCRIPTLESS_DTYPE_F32`, `double *` for `_F64`, 16-bit words for `_F16` and `_BF16`,
    /// `int64_t *` for `_I64`, `int32_t *` for `_I32`, `int16_t *` for `_I16`, bytes for
    /// `_U8` and `_BOOL` (0 or 1).
    pub data: *const c_void,
    /// The number of elements, the product of the dims.
    pub len: usize,
}

impl ScriptlessTensor {
    /// Wraps a seed model's output, moved to the CPU and made contiguous if it is not already
    /// (neither copies otherwise).
    pub(crate) fn new(tensor: Tensor) -> Result<Self, Failure> {
        let dtype = ScalarType::from_candle(tensor.dtype())
            .ok_or_else(|| internal("an output whose dtype has no C name"))?;
        Self::with_type(tensor, dtype)
    }

    /// Wraps an output of a model run by its own code, with its PyTorch type (a `bool` tensor
    /// is held as `u8`).
    pub(crate) fn from_op(tensor: ops::Tensor) -> Result<Self, Failure> {
        let dtype = tensor.dtype();
        Self::with_type(tensor.into_inner(), dtype)
    }

    fn with_type(tensor: Tensor, dtype: ScalarType) -> Result<Self, Failure> {
        let tensor = tensor.to_device(&Device::Cpu)?.contiguous()?;
        if tensor.dtype() != dtype.candle() {
            return Err(internal("an output held in another type than its own"));
        }
        let dtype = scalar_to_c(dtype);
        let shape = tensor.dims().to_vec();
        let data = {
            let (storage, layout) = tensor.storage_and_layout();
            let (start, end) = layout
                .contiguous_offsets()
                .ok_or_else(|| internal("a contiguous output without contiguous offsets"))?;
            let Storage::Cpu(cpu) = &*storage else {
                return Err(internal("an output on the CPU without CPU storage"));
            };
            // The storage is shared with `_tensor`, which keeps it alive; nothing writes it.
            data_ptr(cpu, start, end)?
        };
        let view = ScriptlessTensorView {
            dtype,
            rank: shape.len(),
            shape: shape.as_ptr(),
            data,
            len: shape.iter().product(),
        };
        Ok(Self {
            _tensor: tensor,
            shape,
            view,
        })
    }

    /// Copies the tensor's elements into `out`, which holds at least `self.view.len` elements
    /// of its dtype.
    ///
    /// # Safety
    /// `out` is valid for writing `self.view.len` elements of the tensor's dtype.
    pub(crate) unsafe fn copy_to(&self, out: *mut c_void) {
        let bytes = self.view.len * dtype_size(self.view.dtype);
        // SAFETY: the tensor's data holds `len` elements; `out` has room for them by the
        // caller's contract; the two cannot overlap, as the tensor's storage is its own.
        unsafe {
            std::ptr::copy_nonoverlapping(self.view.data.cast::<u8>(), out.cast::<u8>(), bytes)
        };
    }

    /// What the tensor holds.
    pub(crate) fn view(&self) -> ScriptlessTensorView {
        self.view
    }

    /// The tensor's dims.
    pub(crate) fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The tensor's `SCRIPTLESS_DTYPE_*`.
    pub(crate) fn dtype(&self) -> ScriptlessDType {
        self.view.dtype
    }
}

/// Where the elements `start..end` of a CPU storage begin.
fn data_ptr(cpu: &CpuStorage, start: usize, end: usize) -> Result<*const c_void, Failure> {
    fn at<T>(v: &[T], start: usize, end: usize) -> Result<*const c_void, Failure> {
        v.get(start..end)
            .map(|s| s.as_ptr().cast())
            .ok_or_else(|| internal("an output whose layout exceeds its storage"))
    }
    match cpu {
        CpuStorage::F32(v) => at(v, start, end),
        CpuStorage::F64(v) => at(v, start, end),
        CpuStorage::F16(v) => at(v, start, end),
        CpuStorage::BF16(v) => at(v, start, end),
        CpuStorage::I64(v) => at(v, start, end),
        CpuStorage::I32(v) => at(v, start, end),
        CpuStorage::I16(v) => at(v, start, end),
        CpuStorage::U8(v) => at(v, start, end),
        _ => Err(internal("an output of a dtype no model returns")),
    }
}

/// A failure that would be a bug in scriptless.
fn internal(message: &str) -> Failure {
    Failure::new(SCRIPTLESS_ERROR_INTERNAL, message)
}

/// What `tensor` holds, in `*view`: dtype, shape and data, pointers valid until the tensor is
/// destroyed.
///
/// # Safety
/// `tensor` is NULL or a live tensor; `view` is NULL or a place for a `ScriptlessTensorView`.
#[no_mangle]
pub unsafe extern "C" fn scriptless_tensor_view(
    tensor: *const ScriptlessTensor,
    view: *mut ScriptlessTensorView,
) -> ScriptlessStatus {
    guard(|| {
        // SAFETY: NULL or a live tensor by the caller's contract.
        let tensor = unsafe { args::value(tensor, "tensor") }?;
        // SAFETY: NULL or a place for the value by the caller's contract.
        unsafe { args::put(view, "view", tensor.view) }
    })
}

/// Frees `*tensor` and sets it to NULL. Nothing happens when `*tensor` is already NULL.
///
/// # Safety
/// `tensor` is NULL or points to a `ScriptlessTensor *` that is NULL or came from a forward
/// call and was not freed since.
#[no_mangle]
pub unsafe extern "C" fn scriptless_tensor_destroy(
    tensor: *mut *mut ScriptlessTensor,
) -> ScriptlessStatus {
    // SAFETY: NULL, or a slot holding NULL or a live tensor, by the caller's contract.
    guard(|| unsafe { args::free(tensor, "tensor") })
}
