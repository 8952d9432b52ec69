//! # scriptless
//!
//! PyTorch models run in pure Rust on [candle](https://github.com/huggingface/candle), with no
//! libtorch: your own TorchScript (`.pt`) and `torch.export` (`.pt2`) models, and the three
//! models of the seed document.
//!
//! ## Your own model
//!
//! [`script::Program`] loads a `.pt` (run by the TorchScript code inside it) or a `.pt2` (run by
//! its graph) and calls its `forward` on arguments named as in its signature. This one is
//! `forward(x: Tensor) -> Dict[str, Tensor]`, returning `"logits"` and the int64 `"label"`:
//!
//! ```
//! use candle_core::{DType, Device};
//! use scriptless::ops::{ScalarType, Tensor};
//! use scriptless::script::{output_tensors, Program, Value};
//!
//! # fn main() -> scriptless::Result<()> {
//! let model = Program::load("examples/dict_output.pt")?; // or examples/dict_output.pt2
//! println!("{}", model.signature().to_json()); // {"params":[{"name":"x","type":"Tensor",...
//! let x = Tensor::new(candle_core::Tensor::ones((2, 10), DType::F32, &Device::Cpu)?)?;
//! let out = model.forward(vec![("x".into(), Value::Tensor(x))])?; // Value::Dict
//! let outputs = output_tensors(&out)?; // output.logits (float32 [2, 4]), output.label
//! let (name, label) = &outputs[1];
//! assert_eq!(name, "output.label");
//! assert_eq!((label.dtype(), label.dims()), (ScalarType::Int64, &[2][..]));
//! # Ok(())
//! # }
//! ```
//!
//! [`script::Program::forward`] returns a [`script::Value`] that mirrors what `forward`
//! returns (tensors, numbers, strings, `None`, lists, tuples, dicts);
//! [`script::output_tensors`] flattens it to named tensors. A JSON request becomes arguments
//! with [`script::args_from_json`], typed by the signature as every door types them
//! ([`script::args_from_given`]); [`script::Signature::to_json`] is the signature's
//! description that every door shows; [`Opened`] opens a file as the command line does, as the
//! seed's weights or as a program. A model's own exception is [`Error::Raised`], with PyTorch's
//! class and message; its code failing otherwise is [`Error::Script`]. The operators it calls
//! are [`ops`], an operator library with PyTorch's semantics in one registry keyed by schema
//! name and overload (`aten::add.Tensor`).
//!
//! ## The seed's models
//!
//! The three models of the seed document, *How can I provide inputs to a PyTorch Script
//! Module's forward method?*, also have their own implementations: they load PyTorch's own
//! `state_dict`, read straight from a `torch.save` file, a TorchScript archive
//! (`torch.jit.save`), a `torch.export.save` archive (`.pt2`) or safetensors
//! ([`Weights::read`]), and return PyTorch's outputs.
//!
//! - [`TwoInputModule`]: `linear(tensor1 + tensor2)`.
//! - [`CategoricalInputModule`]: `linear(cat(tensor_input, one_hot(category_index)))`.
//! - [`SequenceInputModule`]: `pack_padded_sequence` → `nn.LSTM` → `pad_packed_sequence` →
//!   `linear` on the last step, over a [`MaskedLstm`] that reproduces packed-sequence semantics
//!   exactly for any number of layers and directions.
//!
//! The seed's sequence model reads `unpacked_seq[:, -1, :]`, which for every row shorter than the
//! longest is zero padding, so those rows output `linear.bias`. [`Pooling::PaddedLast`] (the
//! default) reproduces that; [`Pooling::LastValid`] reads each row's own last step.
//!
//! [`Model::forward_many`] runs many requests in few calls (for batch files), each getting
//! exactly its own result or error.
//!
//! On the CPU the fused kernels run on the best SIMD tier the processor has, picked at run time
//! from one binary ([`CpuTier`]: AVX-512, AVX2 + FMA, NEON or generic); the `SCRIPTLESS_CPU`
//! environment variable caps it, and `with_cpu_tier` moves a model to any tier the CPU has.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use scriptless::{pad_sequences, Pooling, SequenceInputModule, Weights};
//!
//! # fn main() -> scriptless::Result<()> {
//! let weights = Weights::read("weights/sequence.safetensors")?;
//! let model = SequenceInputModule::from_weights(&weights, DType::F32, &Device::Cpu)?;
//!
//! // Three sequences of 10 features, 5, 3 and 7 steps long, as in the seed.
//! let sequences = [5, 3, 7]
//!     .map(|len| Tensor::ones((len, 10), DType::F32, &Device::Cpu))
//!     .into_iter()
//!     .collect::<candle_core::Result<Vec<_>>>()?;
//! let (padded, lengths) = pad_sequences(&sequences)?;
//!
//! let seed = model.forward_lengths(&padded, &lengths, Pooling::PaddedLast)?;
//! let last = model.forward_lengths(&padded, &lengths, Pooling::LastValid)?;
//! assert_eq!(seed.dims(), &[3, 10]);
//! // The two shorter rows pooled padding: their output is the bias. The longest row agrees.
//! let bias = weights.tensor("linear.bias")?.to_vec1::<f32>()?;
//! assert_eq!(seed.get(0)?.to_vec1::<f32>()?, bias);
//! assert_eq!(seed.get(2)?.to_vec1::<f32>()?, last.get(2)?.to_vec1::<f32>()?);
//! # Ok(())
//! # }
//! ```

// Every unsafe operation sits in its own `unsafe` block with a `// SAFETY:` comment saying why
// it is sound (clippy checks the comments).
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
// Every public item is documented, and every doc link resolves to a public item.
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links, rustdoc::private_intra_doc_links)]

// The f64 reference LSTM of `tests/common/reference.rs`, which the kernels' unit tests share
// with the integration tests, names the crate `scriptless`.
#[cfg(test)]
extern crate self as scriptless;

mod archive;
pub mod bench;
mod cpu;
mod device;
mod error;
mod inputs;
mod kind;
mod limits;
mod linear;
mod lstm;
mod models;
mod npy;
mod opened;
pub mod ops;
mod pytorch;
mod request;
mod safetensors_stream;
pub mod script;
mod source;
mod weights;

pub use cpu::tier::{CpuTier, CPU_TIER_VAR};
pub use device::parse_device;
pub use error::{Error, Result};
pub use inputs::{
    broadcast_shape, check_lengths, integer_values, lengths_from_tensor, one_hot, pad_sequences,
    ModelInputs,
};
pub use kind::ModelKind;
pub use limits::{available_memory, Limits, MAX_ELEMENTS};
pub use linear::Linear;
pub use lstm::{LstmOutput, MaskedLstm, PackedLstmOutput, StepKernel};
pub use models::{
    CategoricalConfig, CategoricalInputModule, Model, Pooling, SequenceConfig, SequenceInputModule,
    TwoInputConfig, TwoInputModule, SEED_FEATURE_WIDTH,
};
pub use npy::npy_bytes;
pub use opened::Opened;
pub use pytorch::export::{ExportedProgram, ProgramInput};
pub use request::{
    check_request_names, check_request_tensor, read_request, request_from_json, request_from_npz,
    request_from_safetensors, tensors_from_npz, JsonLines, RequestFormat, SEQUENCES_KEY,
};
pub use weights::{
    ArchiveCode, LstmConfig, Weights, WeightsFormat, META_FEATURE_WIDTH, META_MODEL,
};
