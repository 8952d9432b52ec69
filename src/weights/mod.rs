//! Weights: a PyTorch `state_dict`, validated before any model sees it.
//!
//! A file is read by content, whatever its name: safetensors (`safetensors.torch.save_file`),
//! a `torch.save(model.state_dict(), path)` file, a TorchScript archive (`torch.jit.save`) or a
//! `torch.export.save` archive (`.pt2`), the last three by the readers of `crate::pytorch`,
//! which run no code.
//! A [`Weights`] holds every tensor of the file (on the CPU, in the file's dtype) and the file's
//! `__metadata__` (safetensors only). Models infer their hyperparameters from the tensors' shapes, then
//! [`Weights::check_names`] reports missing *and* unexpected tensors before anything is built.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::error::{quoted, Error, Result};
use crate::kind::ModelKind;
use crate::limits::Limits;
use crate::pytorch::{self, export::ExportedProgram};
use crate::safetensors_stream::{self, NOT_SAFETENSORS};
use crate::source::Source;

mod lstm_config;
mod seed_code;

pub(crate) use lstm_config::direction_suffixes;
pub use lstm_config::LstmConfig;
pub use seed_code::ArchiveCode;

/// The [`Limits`] field that bounds a weights file, as errors name it.
const MAX_WEIGHTS_BYTES: &str = "max_weights_bytes";

/// Metadata key naming the model kind (`two-input`, `categorical` or `sequence`).
pub const META_MODEL: &str = "model";
/// Metadata key giving the categorical model's feature width (the seed hard-codes 10).
pub const META_FEATURE_WIDTH: &str = "feature_width";
/// Metadata key giving the PyTorch version that wrote the file (the exporter's safetensors, a
/// `.pt2`'s program).
const META_TORCH_VERSION: &str = "torch_version";

/// Which kind of file a [`Weights`] came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightsFormat {
    /// A safetensors file.
    Safetensors,
    /// A `torch.save(model.state_dict(), path)` file (a zip archive holding a pickle).
    TorchSave,
    /// A TorchScript archive from `torch.jit.save`; `class` is the root module's class
    /// without TorchScript's prefixes (`export.SequenceInputModule`).
    TorchScript {
        /// The root module's class, without TorchScript's prefixes.
        class: String,
    },
    /// A `torch.export.save` archive (`.pt2`); `program` is what its exported program says
    /// about the model (the program itself is not run; see [`Weights::code`]).
    TorchExport {
        /// The exported program's name, `forward` arguments and operators.
        program: ExportedProgram,
    },
    /// Tensors handed over in memory ([`Weights::from_tensors`]).
    InMemory,
}

impl WeightsFormat {
    /// A short name: `safetensors`, `torch.save`, `torchscript`, `torch.export` or `in-memory`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Safetensors => "safetensors",
            Self::TorchSave => "torch.save",
            Self::TorchScript { .. } => "torchscript",
            Self::TorchExport { .. } => "torch.export",
            Self::InMemory => "in-memory",
        }
    }
}

/// The tensors and metadata of one weights file.
#[derive(Debug, Clone)]
pub struct Weights {
    tensors: BTreeMap<String, Tensor>,
    metadata: BTreeMap<String, String>,
    format: WeightsFormat,
    code: Option<ArchiveCode>,
}

impl Weights {
    /// Reads a weights file of at most the default [`Limits::max_weights_bytes`]: safetensors,
    /// `torch.save(model.state_dict(), path)`, `torch.jit.save` or `torch.export.save`, told
    /// apart by content.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        Self::read_within(path, &Limits::default())
    }

    /// [`read`](Self::read) within `limits.max_weights_bytes`: a regular file over it is refused
    /// before it is read, any other source (a pipe, a device) once it is known to exceed it.
    /// Safetensors are read as a stream, each tensor's bytes straight into its tensor, so a
    /// file of another kind (say a stream of zeros) is refused from its first 8 bytes; a
    /// PyTorch zip archive is read whole first (its index is at the end).
    pub fn read_within(path: impl AsRef<Path>, limits: &Limits) -> Result<Self> {
        let path = path.as_ref();
        let what = format!("weights file {}", path.display());
        let mut source = Source::open(path, what, limits.max_weights_bytes, MAX_WEIGHTS_BYTES)?;
        Self::from_source(&mut source, limits)
    }

    /// Parses the bytes of any weights file [`read`](Self::read) accepts, by content: a zip
    /// archive is a PyTorch file ([`from_pytorch`](Self::from_pytorch)), anything else is
    /// safetensors. `what` names the source in error messages; bytes over
    /// `limits.max_weights_bytes` are refused.
    pub fn from_bytes(bytes: &[u8], what: &str, limits: &Limits) -> Result<Self> {
        let mut source = Source::from_slice(
            bytes,
            what.to_string(),
            limits.max_weights_bytes,
            MAX_WEIGHTS_BYTES,
        )?;
        Self::from_source(&mut source, limits)
    }

    /// Reads weights from a stream of unknown length (a socket, a pipe, a decompressor), as
    /// [`read_within`](Self::read_within) reads a file that is not a regular one: safetensors
    /// are read exactly and refused from their first bytes when they cannot be one, and no
    /// more than `limits.max_weights_bytes` is ever read. `what` names the source in errors.
    pub fn from_reader(reader: impl Read, what: &str, limits: &Limits) -> Result<Self> {
        let mut source = Source::stream(
            reader,
            what.to_string(),
            limits.max_weights_bytes,
            MAX_WEIGHTS_BYTES,
        );
        Self::from_source(&mut source, limits)
    }

    fn from_source<R: Read>(source: &mut Source<R>, limits: &Limits) -> Result<Self> {
        let magic = source.peek(10)?;
        if pytorch::is_zip(magic) {
            let bytes = source.read_to_end()?;
            let what = source.what().to_string();
            Self::from_pytorch(&bytes, &what, limits)
        } else if pytorch::is_legacy_torch_save(magic) {
            Err(source.format_error(
                "a torch.save file in the legacy format of PyTorch before 1.6, which is not \
                 read; save it again with a current PyTorch (the zip format is the default)",
            ))
        } else {
            Self::from_safetensors_source(
                source,
                "not a PyTorch zip archive (torch.save, torch.jit.save), and not a valid \
                 safetensors file",
            )
        }
    }

    /// Parses a PyTorch zip archive: `torch.save(model.state_dict(), path)`, a TorchScript
    /// module saved by `torch.jit.save`, or an exported program saved by `torch.export.save`
    /// (`.pt2`). The pickle of the first two is interpreted by a restricted reader that
    /// refuses any global other than PyTorch's tensor rebuilders, `OrderedDict` and TorchScript
    /// classes, and never runs code; a `.pt2` holds its weights as raw bytes, and anything
    /// pickled in it is refused. A TorchScript module's tensors get their `state_dict()` names
    /// (`rnn.weight_ih_l0`), as a `.pt2`'s have. The tensors together may be at most
    /// `limits.max_weights_bytes`, and at most twice the file.
    ///
    /// The code of a TorchScript archive and the graph of a `.pt2` are read, never run, and
    /// compared with the seed's ([`code`](Self::code)). When an archive's code is the seed's
    /// categorical model, its one-hot width gives [`META_FEATURE_WIDTH`] in the
    /// [`metadata`](Self::metadata); a `.pt2`'s metadata also has the `torch_version` its
    /// program records.
    pub fn from_pytorch(bytes: &[u8], what: &str, limits: &Limits) -> Result<Self> {
        let (archive, tensors) =
            pytorch::read_archive(bytes, limits).map_err(|e| Error::format(what, e))?;
        let mut weights = Self {
            tensors,
            metadata: BTreeMap::new(),
            format: WeightsFormat::TorchSave,
            code: None,
        };
        let recognised = match archive {
            pytorch::Archive::StateDict => return Ok(weights),
            pytorch::Archive::TorchScript { class, code } => {
                let recognised = seed_code::script(&code, &weights);
                weights.format = WeightsFormat::TorchScript { class };
                recognised
            }
            pytorch::Archive::Export(program) => {
                let recognised = seed_code::graph(&program, &weights);
                if let Some(version) = &program.torch_version {
                    weights
                        .metadata
                        .insert(META_TORCH_VERSION.to_string(), version.clone());
                }
                weights.format = WeightsFormat::TorchExport { program };
                recognised
            }
        };
        if let Some(width) = recognised.feature_width {
            weights
                .metadata
                .insert(META_FEATURE_WIDTH.to_string(), width.to_string());
        }
        weights.code = Some(match recognised.code {
            ArchiveCode::NotSeed { reason } => ArchiveCode::NotSeed {
                reason: format!("{what}: {reason}"),
            },
            seed => seed,
        });
        Ok(weights)
    }

    /// Parses safetensors bytes. `what` names the source in error messages.
    ///
    /// The header is fully validated first (offsets must tile the data exactly and match each
    /// tensor's shape and dtype, and every dtype must be a float), so no allocation is larger
    /// than the file itself.
    pub fn from_safetensors(bytes: &[u8], what: &str) -> Result<Self> {
        let mut source = Source::from_slice(bytes, what.to_string(), u64::MAX, MAX_WEIGHTS_BYTES)?;
        Self::from_safetensors_source(&mut source, NOT_SAFETENSORS)
    }

    /// Safetensors weights from `source`; `not_safetensors` starts the message for a source
    /// that is not safetensors.
    fn from_safetensors_source<R: Read>(
        source: &mut Source<R>,
        not_safetensors: &str,
    ) -> Result<Self> {
        let header = safetensors_stream::read_header(source, not_safetensors)?;
        for (name, info) in &header.tensors {
            let dtype = info.dtype;
            if !matches!(
                dtype,
                safetensors::Dtype::F16
                    | safetensors::Dtype::BF16
                    | safetensors::Dtype::F32
                    | safetensors::Dtype::F64
            ) {
                return Err(Error::weights(format!(
                    "tensor `{name}` has dtype {dtype:?}; weights must be F16, BF16, F32 or F64"
                )));
            }
        }
        let tensors = safetensors_stream::read_tensors(source, &header)?;
        Ok(Self {
            tensors,
            metadata: header.metadata,
            format: WeightsFormat::Safetensors,
            code: None,
        })
    }

    /// Wraps tensors already in memory (a `state_dict` built in Rust, say).
    pub fn from_tensors(
        tensors: HashMap<String, Tensor>,
        metadata: HashMap<String, String>,
    ) -> Self {
        Self {
            tensors: tensors.into_iter().collect(),
            metadata: metadata.into_iter().collect(),
            format: WeightsFormat::InMemory,
            code: None,
        }
    }

    /// The kind of file these weights came from.
    pub fn format(&self) -> &WeightsFormat {
        &self.format
    }

    /// The file's `__metadata__`: a safetensors header's, or, for a PyTorch archive, what its
    /// code says ([`from_pytorch`](Self::from_pytorch)); empty for `torch.save` files.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Sets metadata `key` to `value`, for what the file does not record: a `torch.save` file
    /// cannot say the categorical model's [`META_FEATURE_WIDTH`]. Refuses to change a value the
    /// file already holds.
    pub fn set_metadata(&mut self, key: &str, value: &str) -> Result<()> {
        match self.metadata.get(key) {
            Some(old) if old != value => Err(Error::weights(format!(
                "metadata `{key}` is `{old}` in the file, which contradicts `{value}`"
            ))),
            _ => {
                self.metadata.insert(key.to_string(), value.to_string());
                Ok(())
            }
        }
    }

    /// What the code inside a TorchScript or `torch.export` archive is: the seed's model of
    /// some kind, or not the seed's (with where it departs). `None` for files without code
    /// (safetensors, `torch.save` state_dicts, tensors in memory).
    pub fn code(&self) -> Option<&ArchiveCode> {
        self.code.as_ref()
    }

    /// The model kind the file names: the metadata key `model` (safetensors), or the seed model
    /// whose code a TorchScript or `torch.export` archive holds ([`code`](Self::code)). `None`
    /// when the file does not say, and for an archive whose code is not one of the seed's
    /// models: [`ModelKind::resolve`] refuses that one unless a kind is asked for.
    pub fn model_kind(&self) -> Result<Option<ModelKind>> {
        if let Some(s) = self.metadata.get(META_MODEL) {
            return s
                .parse::<ModelKind>()
                .map(Some)
                .map_err(|e| Error::weights(format!("metadata `{META_MODEL}`: {e}")));
        }
        Ok(match &self.code {
            Some(ArchiveCode::Seed(kind)) => Some(*kind),
            _ => None,
        })
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Whether the file holds a tensor of that name.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The shape of tensor `name`, or an error naming the missing tensor.
    pub fn shape(&self, name: &str) -> Result<&[usize]> {
        Ok(self.tensor(name)?.dims())
    }

    /// Tensor `name` as stored in the file (on the CPU, in the file's dtype).
    pub fn tensor(&self, name: &str) -> Result<&Tensor> {
        self.tensors
            .get(name)
            .ok_or_else(|| Error::weights(format!("missing tensor `{name}`")))
    }

    /// Checks that tensor `name` exists and has exactly `expected` as its shape.
    pub fn expect_shape(&self, name: &str, expected: &[usize]) -> Result<()> {
        let got = self.shape(name)?;
        if got != expected {
            return Err(Error::weights(format!(
                "tensor `{name}` has shape {got:?}, expected {expected:?}"
            )));
        }
        Ok(())
    }

    /// Checks that the file holds exactly the tensors `expected`: reports every missing tensor
    /// and every unexpected one in a single error.
    pub fn check_names<S: AsRef<str>>(&self, expected: &[S]) -> Result<()> {
        let expected: BTreeSet<&str> = expected.iter().map(AsRef::as_ref).collect();
        let present: BTreeSet<&str> = self.names().collect();
        let missing: Vec<&str> = expected.difference(&present).copied().collect();
        let unexpected: Vec<&str> = present.difference(&expected).copied().collect();
        let list = |what: &str, names: &[&str]| {
            let plural = if names.len() == 1 { "" } else { "s" };
            format!("{what} tensor{plural} {}", quoted(names))
        };
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(list("missing", &missing));
        }
        if !unexpected.is_empty() {
            problems.push(list("unexpected", &unexpected));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::weights(problems.join("; ")))
        }
    }

    /// A candle `VarBuilder` over these tensors, converting each to `dtype` on `device` when read.
    pub fn var_builder(&self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        let tensors: HashMap<String, Tensor> = self
            .tensors
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        VarBuilder::from_tensors(tensors, dtype, device)
    }
}
