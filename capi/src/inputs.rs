//! `ScriptlessInput`: a caller-owned tensor given to a model, and its conversion into the
//! model's inputs, checked from its name, dtype and shape before its data is read.

use std::ffi::{c_char, c_void};

use candle_core::{DType, Device, Tensor, WithDType};
use half::{bf16, f16};
use scriptless_core::{check_request_names, check_request_tensor, ModelInputs, ModelKind};

use crate::args;
use crate::dtype::{c_dtype_label, dtype_from_c, dtype_name, ScriptlessDType};
use crate::model::ScriptlessModel;
use crate::status::{Failure, SCRIPTLESS_ERROR_INTERNAL, SCRIPTLESS_ERROR_INVALID_ARGUMENT};

/// The most dims an input may have.
pub const SCRIPTLESS_MAX_RANK: usize = 16;

/// One input tensor of a forward call, owned by the caller: its data is read during the call
/// and never kept. Floats may be in any float dtype (they are converted to the model's dtype);
/// indices and lengths in `SCRIPTLESS_DTYPE_I64` or `_I32`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ScriptlessInput {
    /// The `forward` argument's name, as in the seed (`"padded_seq"`, `"seq_lengths"`; see
    /// `scriptless_model_input_info`).
    pub name: *const c_char,
    /// The element type of `data` (`SCRIPTLESS_DTYPE_*`).
    pub dtype: ScriptlessDType,
    /// The number of dims, at most `SCRIPTLESS_MAX_RANK`.
    pub rank: usize,
    /// The `rank` dims; may be NULL when `rank` is 0.
    pub shape: *const usize,
    /// The elements, in C (row-major) order: the product of the dims of them. It need not be
    /// aligned. May be NULL when that product is 0.
    pub data: *const c_void,
}

/// One input read from its `ScriptlessInput`, before its data is.
struct Described<'a> {
    /// Its place in the caller's array, for messages.
    index: usize,
    /// Its name, borrowed from the caller.
    name: &'a str,
    /// The dtype of its data.
    dtype: DType,
    /// Its shape.
    dims: Vec<usize>,
    /// The caller's data, read only by `to_model_inputs`.
    data: *const c_void,
}

/// The inputs of a call, named, typed, shaped and checked for `model`, their data unread.
pub(crate) struct CheckedInputs<'a> {
    kind: ModelKind,
    /// In the order of `ModelKind::input_names`.
    inputs: [Described<'a>; 2],
}

impl<'a> CheckedInputs<'a> {
    /// Reads `count` inputs from `inputs` and checks them for `model`: every input named once,
    /// dtypes its role takes, ranks and element counts within the limits. `what` names the
    /// array in messages (`inputs`, `requests[3].inputs`).
    ///
    /// # Safety
    /// A non-NULL `inputs` points to `count` live `ScriptlessInput`s whose `name` pointers are
    /// NULL or NUL-terminated strings and whose `shape` pointers are NULL or point to `rank`
    /// dims, all unchanged for `'a`.
    pub unsafe fn read(
        model: &ScriptlessModel,
        inputs: *const ScriptlessInput,
        count: usize,
        what: &str,
    ) -> Result<Self, Failure> {
        let kind = model.model.kind();
        // SAFETY: `count` live inputs by the caller's contract.
        let inputs = unsafe { args::slice(inputs, count, what) }?;
        let mut described = Vec::new();
        for (index, input) in inputs.iter().enumerate() {
            let at = format!("{what}[{index}]");
            // SAFETY: NULL or a NUL-terminated string by the caller's contract.
            let name = unsafe { args::string(input.name, &format!("{at}.name")) }?;
            let dtype = dtype_from_c(input.dtype).ok_or_else(|| {
                Failure::new(
                    SCRIPTLESS_ERROR_INVALID_ARGUMENT,
                    format!("{at}.dtype (`{name}`) is {}", c_dtype_label(input.dtype)),
                )
            })?;
            if input.rank > SCRIPTLESS_MAX_RANK {
                return Err(Failure::new(
                    SCRIPTLESS_ERROR_INVALID_ARGUMENT,
                    format!(
                        "{at}.rank (`{name}`) is {}, more than SCRIPTLESS_MAX_RANK ({})",
                        input.rank, SCRIPTLESS_MAX_RANK
                    ),
                ));
            }
            // SAFETY: NULL or `rank` dims by the caller's contract.
            let dims = unsafe { args::slice(input.shape, input.rank, &format!("{at}.shape")) }?;
            described.push(Described {
                index,
                name,
                dtype,
                dims: dims.to_vec(),
                data: input.data,
            });
        }
        check_request_names(kind, described.iter().map(|d| d.name), "the inputs")?;
        for d in &described {
            check_request_tensor(kind, d.name, d.dtype, &d.dims, &model.limits)?;
        }
        // Every input name is present exactly once (checked), so there are two, in some order.
        let [first_name, _] = kind.input_names();
        let inputs: [Described; 2] = described.try_into().map_err(|_| {
            Failure::new(
                SCRIPTLESS_ERROR_INTERNAL,
                "inputs that passed the name check are not two",
            )
        })?;
        let inputs = match inputs {
            [a, b] if a.name == first_name => [a, b],
            [a, b] => [b, a],
        };
        Ok(Self { kind, inputs })
    }

    /// The inputs' dims, in the order of `ModelKind::input_names`.
    pub fn dims(&self) -> [&[usize]; 2] {
        [&self.inputs[0].dims, &self.inputs[1].dims]
    }

    /// Copies the inputs' data into the model's input tensors, on the CPU: the one copy of the
    /// caller's data the computation needs, as candle owns its tensors' storage.
    ///
    /// # Safety
    /// Each input's `data` is NULL or points to the product of its dims of elements of its
    /// dtype, live and unchanged during the call.
    pub unsafe fn to_model_inputs(&self, what: &str) -> Result<ModelInputs, Failure> {
        let [a, b] = &self.inputs;
        // SAFETY: forwarded from the caller's contract.
        let tensors = unsafe { [a.tensor(what)?, b.tensor(what)?] };
        Ok(ModelInputs::new(self.kind, tensors))
    }
}

impl Described<'_> {
    /// # Safety
    /// See [`CheckedInputs::to_model_inputs`].
    unsafe fn tensor(&self, what: &str) -> Result<Tensor, Failure> {
        let data = format!("{what}[{}].data (`{}`)", self.index, self.name);
        // SAFETY: forwarded from the caller's contract; `read` dispatches on the dtype the
        // caller declared for `data`.
        unsafe {
            match self.dtype {
                DType::F32 => self.read::<f32>(&data),
                DType::F64 => self.read::<f64>(&data),
                DType::F16 => self.read::<f16>(&data),
                DType::BF16 => self.read::<bf16>(&data),
                DType::I32 => self.read::<i32>(&data),
                DType::I64 => self.read::<i64>(&data),
                other => Err(Failure::new(
                    SCRIPTLESS_ERROR_INVALID_ARGUMENT,
                    format!("{data}: dtype {} is not read", dtype_name(other)),
                )),
            }
        }
    }

    /// # Safety
    /// `self.data` is NULL or points to the product of `self.dims` of `T`s, live during the
    /// call; it need not be aligned.
    unsafe fn read<T: WithDType>(&self, what: &str) -> Result<Tensor, Failure> {
        // The element count passed the limit check, so it neither overflows nor is huge.
        let len: usize = self.dims.iter().product();
        let mut values: Vec<T> = Vec::with_capacity(len);
        if len > 0 {
            if self.data.is_null() {
                return Err(args::null(what));
            }
            // SAFETY: the source holds `len` `T`s (caller's contract), read as bytes so that
            // it need not be aligned; the destination has capacity for `len` `T`s, and every
            // bit pattern is a valid `T` (floats and integers), so all `len` are initialised.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.data.cast::<u8>(),
                    values.as_mut_ptr().cast::<u8>(),
                    len * size_of::<T>(),
                );
                values.set_len(len);
            }
        }
        Ok(Tensor::from_vec(
            values,
            self.dims.as_slice(),
            &Device::Cpu,
        )?)
    }
}
