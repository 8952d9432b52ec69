//! `ScriptlessInput`: a caller-owned tensor given to a model, and its conversion into the
//! model's inputs, checked from its name, dtype and shape before its data is read.

use std::ffi::{c_char, c_void};
use std::fmt::Display;

use candle_core::{DType, Device, Tensor, WithDType};
use half::{bf16, f16};
use scriptless_core::ops::{self, ScalarType};
use scriptless_core::{
    check_request_names, check_request_tensor, Error, Limits, ModelInputs, ModelKind,
};

use crate::args::{self, At, Named};
use crate::dtype::{c_dtype_label, dtype_from_c, dtype_name, scalar_from_c, ScriptlessDType};
use crate::status::{Failure, SCRIPTLESS_ERROR_INTERNAL, SCRIPTLESS_ERROR_INVALID_ARGUMENT};

/// The most dims an input may have.
pub const SCRIPTLESS_MAX_RANK: usize = 16;

/// One input tensor of a forward call, owned by the caller: its data is read during the call
/// and never kept. For the seed's models, floats may be in any float dtype (they are converted
/// to the model's dtype), indices and lengths in `SCRIPTLESS_DTYPE_I64` or `_I32`. For a model
/// run by its own code, a tensor keeps the dtype it is given (any `SCRIPTLESS_DTYPE_*`), as a
/// NumPy array does through Python: its code converts it as PyTorch would (a `.pt2` converts it
/// to the dtype it declares where that is exact, else refuses it).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ScriptlessInput {
    /// The `forward` argument's name (`"padded_seq"`, `"seq_lengths"`; see
    /// `scriptless_model_input_info`). Not read where a `ScriptlessArg` holds the input: the
    /// argument's name is.
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
    /// Where its fields are, for messages (`inputs[1]`, `args[1].tensor`).
    at: String,
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
    /// Reads `count` inputs from `inputs` and checks them for a `kind` model within `limits`:
    /// every input named once, dtypes its role takes, ranks and element counts within the
    /// limits. `what` names the array in messages (`inputs`, `requests[3].inputs`).
    ///
    /// # Safety
    /// A non-NULL `inputs` points to `count` live `ScriptlessInput`s whose `name` pointers are
    /// NULL or NUL-terminated strings and whose `shape` pointers are NULL or point to `rank`
    /// dims, all unchanged for `'a`.
    pub unsafe fn read(
        kind: ModelKind,
        limits: &Limits,
        inputs: *const ScriptlessInput,
        count: usize,
        what: &str,
    ) -> Result<Self, Failure> {
        // SAFETY: `count` live inputs by the caller's contract.
        let inputs = unsafe { args::slice(inputs, count, what) }?;
        // SAFETY: forwarded from the caller's contract.
        unsafe { Self::from_slice(kind, limits, inputs, what, "") }
    }

    /// [`CheckedInputs::read`] on inputs already in a slice; `field` is the path from an
    /// element of the array to the input's dtype, rank, shape and data in messages (`""`, or
    /// `".tensor"` for a `ScriptlessArg`'s).
    ///
    /// # Safety
    /// Each input's `name` is NULL or a NUL-terminated string and its `shape` NULL or `rank`
    /// dims, unchanged for `'a`.
    pub unsafe fn from_slice(
        kind: ModelKind,
        limits: &Limits,
        inputs: &[ScriptlessInput],
        what: &str,
        field: &str,
    ) -> Result<Self, Failure> {
        let mut described = Vec::new();
        for (index, input) in inputs.iter().enumerate() {
            let at = format!("{what}[{index}]");
            // SAFETY: NULL or a NUL-terminated string by the caller's contract.
            let name = unsafe { args::string(input.name, format_args!("{at}.name")) }?;
            let at = format!("{at}{field}");
            let dtype =
                dtype_from_c(input.dtype).ok_or_else(|| match scalar_from_c(input.dtype) {
                    // A dtype only a model run by its own code takes: the input's fault.
                    Some(_) => Error::Input {
                        name: name.to_string(),
                        message: format!(
                        "is {}: the seed's models take F32, F64, F16 or BF16 floats and I64 or \
                         I32 indices",
                        c_dtype_label(input.dtype)
                    ),
                    }
                    .into(),
                    None => Failure::new(
                        SCRIPTLESS_ERROR_INVALID_ARGUMENT,
                        format!("{at}.dtype (`{name}`) is {}", c_dtype_label(input.dtype)),
                    ),
                })?;
            // SAFETY: forwarded from the caller's contract.
            let dims = unsafe { dims(input, &at, name) }?;
            described.push(Described {
                at,
                name,
                dtype,
                dims,
                data: input.data,
            });
        }
        // Named as the caller's array is: a ScriptlessArg array's are `args`.
        let names_in = if field.is_empty() {
            "the inputs"
        } else {
            "the args"
        };
        check_request_names(kind, described.iter().map(|d| d.name), names_in)?;
        for d in &described {
            check_request_tensor(kind, d.name, d.dtype, &d.dims, limits)?;
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
    pub unsafe fn to_model_inputs(&self) -> Result<ModelInputs, Failure> {
        let [a, b] = &self.inputs;
        // SAFETY: forwarded from the caller's contract.
        let tensors = unsafe { [a.tensor()?, b.tensor()?] };
        Ok(ModelInputs::new(self.kind, tensors))
    }
}

impl Described<'_> {
    /// # Safety
    /// See [`CheckedInputs::to_model_inputs`].
    unsafe fn tensor(&self) -> Result<Tensor, Failure> {
        let data = format!("{}.data (`{}`)", self.at, self.name);
        // SAFETY: forwarded from the caller's contract; `candle_tensor` dispatches on the dtype
        // the caller declared for `data`.
        unsafe { candle_tensor(self.dtype, self.data, &self.dims, &data) }
    }
}

/// The dims of `input`, checked: at most `SCRIPTLESS_MAX_RANK`, `shape` not NULL when there
/// are any. `at` names the input's fields in messages (`args[0].tensor`).
///
/// # Safety
/// `input.shape` is NULL or points to `input.rank` dims.
unsafe fn dims(
    input: &ScriptlessInput,
    at: impl Display,
    name: impl Display,
) -> Result<Vec<usize>, Failure> {
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
    let dims = unsafe { args::slice(input.shape, input.rank, format_args!("{at}.shape")) }?;
    Ok(dims.to_vec())
}

/// The tensor `input` describes, for a model run by its own code: any `SCRIPTLESS_DTYPE_*`,
/// kept as given (`SCRIPTLESS_DTYPE_BOOL` as PyTorch's `bool`, any byte other than 0 true), at
/// most `limits.max_elements` elements, on the CPU. `at` names the input's fields in messages
/// (`inputs[0]`, `args[2].tensor`, `args[1].tensors[3]`), `name` the argument it is for.
/// Messages are formatted only on failure: a call that succeeds formats none.
///
/// # Safety
/// `input.shape` is NULL or points to `input.rank` dims; `input.data` is NULL or points to the
/// product of the dims of elements of `input.dtype`, live during the call.
pub(crate) unsafe fn read_tensor(
    input: &ScriptlessInput,
    at: At<'_>,
    name: Named<'_>,
    limits: &Limits,
) -> Result<ops::Tensor, Failure> {
    let scalar = scalar_from_c(input.dtype).ok_or_else(|| {
        Failure::new(
            SCRIPTLESS_ERROR_INVALID_ARGUMENT,
            format!("{at}.dtype (`{name}`) is {}", c_dtype_label(input.dtype)),
        )
    })?;
    // SAFETY: forwarded from the caller's contract.
    let dims = unsafe { dims(input, at, name) }?;
    // The check names the input only when it fails.
    if limits.check_elements(String::new(), &dims).is_err() {
        limits.check_elements(format!("input `{name}`"), &dims)?;
    }
    let what = format_args!("{at}.data (`{name}`)");
    if scalar == ScalarType::Bool {
        // SAFETY: forwarded from the caller's contract: bytes, as many as elements.
        let bytes = unsafe { copy_in::<u8>(input.data, &dims, what) }?;
        let bits: Vec<u8> = bytes.into_iter().map(|b| u8::from(b != 0)).collect();
        let mask = Tensor::from_vec(bits, dims.as_slice(), &Device::Cpu)?;
        return Ok(ops::Tensor::from_mask(mask)?);
    }
    // SAFETY: forwarded from the caller's contract.
    let tensor = unsafe { candle_tensor(scalar.candle(), input.data, &dims, what) }?;
    Ok(ops::Tensor::with_type(tensor, scalar)?)
}

/// A CPU tensor of `dtype` and `dims` from the caller's `data`; `what` names `data` in
/// messages. The element count passed the limit check, so it neither overflows nor is huge.
///
/// # Safety
/// `data` is NULL or points to the product of `dims` of elements of `dtype`, live during the
/// call; it need not be aligned.
unsafe fn candle_tensor(
    dtype: DType,
    data: *const c_void,
    dims: &[usize],
    what: impl Display,
) -> Result<Tensor, Failure> {
    // SAFETY: forwarded from the caller's contract, for the dtype the caller declared.
    unsafe {
        match dtype {
            DType::F32 => tensor_of::<f32>(data, dims, what),
            DType::F64 => tensor_of::<f64>(data, dims, what),
            DType::F16 => tensor_of::<f16>(data, dims, what),
            DType::BF16 => tensor_of::<bf16>(data, dims, what),
            DType::I32 => tensor_of::<i32>(data, dims, what),
            DType::I64 => tensor_of::<i64>(data, dims, what),
            DType::I16 => tensor_of::<i16>(data, dims, what),
            DType::U8 => tensor_of::<u8>(data, dims, what),
            other => Err(Failure::new(
                SCRIPTLESS_ERROR_INVALID_ARGUMENT,
                format!("{what}: dtype {} is not read", dtype_name(other)),
            )),
        }
    }
}

/// # Safety
/// As for [`candle_tensor`], with `T` the elements' type.
unsafe fn tensor_of<T: WithDType>(
    data: *const c_void,
    dims: &[usize],
    what: impl Display,
) -> Result<Tensor, Failure> {
    // SAFETY: forwarded from the caller's contract.
    let values = unsafe { copy_in::<T>(data, dims, what) }?;
    Ok(Tensor::from_vec(values, dims, &Device::Cpu)?)
}

/// The product of `dims` of `T`s at `data`, copied; `data` may be NULL when there are none.
///
/// # Safety
/// `data` is NULL or points to the product of `dims` of `T`s, live during the call; it need not
/// be aligned. Every bit pattern is a valid `T` (a float or an integer). The product of the
/// dims passed the limit check, so it does not overflow.
unsafe fn copy_in<T: Copy>(
    data: *const c_void,
    dims: &[usize],
    what: impl Display,
) -> Result<Vec<T>, Failure> {
    let len: usize = dims.iter().product();
    let mut values: Vec<T> = Vec::with_capacity(len);
    if len > 0 {
        if data.is_null() {
            return Err(args::null(what));
        }
        // SAFETY: the source holds `len` `T`s (caller's contract), read as bytes so that it
        // need not be aligned; the destination has capacity for `len` `T`s, and every bit
        // pattern is a valid `T` (floats and integers), so all `len` are initialised.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.cast::<u8>(),
                values.as_mut_ptr().cast::<u8>(),
                len * size_of::<T>(),
            );
            values.set_len(len);
        }
    }
    Ok(values)
}
