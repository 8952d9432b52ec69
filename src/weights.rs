//! Weights: a PyTorch `state_dict`, validated before any model sees it.
//!
//! A file is read by content, whatever its name: safetensors (`safetensors.torch.save_file`),
//! a `torch.save(model.state_dict(), path)` file, or a TorchScript archive (`torch.jit.save`),
//! the last two by the restricted reader of `crate::pytorch`, which runs no code.
//! A [`Weights`] holds every tensor of the file (on the CPU, in the file's dtype) and the file's
//! `__metadata__` (safetensors only). Models infer their hyperparameters from the tensors' shapes, then
//! [`Weights::check_names`] reports missing *and* unexpected tensors before anything is built.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use candle_core::safetensors::Load;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use safetensors::SafeTensors;

use crate::error::{quoted, Error, Result};
use crate::limits::Limits;
use crate::models::ModelKind;
use crate::pytorch;

/// Metadata key naming the model kind (`two-input`, `categorical` or `sequence`).
pub const META_MODEL: &str = "model";
/// Metadata key giving the categorical model's feature width (the seed hard-codes 10).
pub const META_FEATURE_WIDTH: &str = "feature_width";

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
    /// Tensors handed over in memory ([`Weights::from_tensors`]).
    InMemory,
}

impl WeightsFormat {
    /// A short name: `safetensors`, `torch.save`, `torchscript` or `in-memory`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Safetensors => "safetensors",
            Self::TorchSave => "torch.save",
            Self::TorchScript { .. } => "torchscript",
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
}

impl Weights {
    /// Reads a weights file of at most the default [`Limits::max_weights_bytes`]: safetensors,
    /// `torch.save(model.state_dict(), path)` or `torch.jit.save`, told apart by content.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        Self::read_within(path, &Limits::default())
    }

    /// [`read`](Self::read), refusing a file over `limits.max_weights_bytes` before reading it.
    pub fn read_within(path: impl AsRef<Path>, limits: &Limits) -> Result<Self> {
        let path = path.as_ref();
        let what = format!("weights file {}", path.display());
        let bytes = Limits::read_file(path, limits.max_weights_bytes, &what, "max_weights_bytes")?;
        Self::from_bytes(&bytes, &what, limits)
    }

    /// Parses the bytes of any weights file [`read`](Self::read) accepts, by content: a zip
    /// archive is a PyTorch file ([`from_pytorch`](Self::from_pytorch)), anything else is
    /// safetensors. `what` names the source in error messages.
    pub fn from_bytes(bytes: &[u8], what: &str, limits: &Limits) -> Result<Self> {
        if pytorch::is_zip(bytes) {
            Self::from_pytorch(bytes, what, limits)
        } else if pytorch::is_legacy_torch_save(bytes) {
            Err(Error::format(
                what,
                "a torch.save file in the legacy format of PyTorch before 1.6, which is not \
                 read; save it again with a current PyTorch (the zip format is the default)",
            ))
        } else {
            Self::from_safetensors(bytes, what).map_err(|e| match e {
                Error::Format { what, message } => Error::Format {
                    what,
                    message: format!(
                        "not a PyTorch zip archive (torch.save, torch.jit.save), and {message}"
                    ),
                },
                other => other,
            })
        }
    }

    /// Parses a PyTorch zip archive: `torch.save(model.state_dict(), path)` or a TorchScript
    /// module saved by `torch.jit.save`. Only tensors are read; the pickle inside is
    /// interpreted by a restricted reader that refuses any global other than PyTorch's tensor
    /// rebuilders, `OrderedDict` and TorchScript classes, and never runs code. A TorchScript
    /// module's tensors get their `state_dict()` names (`rnn.weight_ih_l0`). The tensors
    /// together may be at most `limits.max_weights_bytes`, and at most twice the file.
    pub fn from_pytorch(bytes: &[u8], what: &str, limits: &Limits) -> Result<Self> {
        let (archive, tensors) =
            pytorch::read_archive(bytes, limits).map_err(|e| Error::format(what, e))?;
        let format = match archive {
            pytorch::Archive::StateDict => WeightsFormat::TorchSave,
            pytorch::Archive::TorchScript { class } => WeightsFormat::TorchScript { class },
        };
        Ok(Self {
            tensors,
            metadata: BTreeMap::new(),
            format,
        })
    }

    /// Parses safetensors bytes. `what` names the source in error messages.
    ///
    /// The header is fully validated first (offsets must tile the data exactly and match each
    /// tensor's shape and dtype), so no allocation is larger than the file itself.
    pub fn from_safetensors(bytes: &[u8], what: &str) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::format(what, format!("not a valid safetensors file: {e}")))?;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| Error::format(what, format!("not a valid safetensors file: {e}")))?;
        let metadata = header
            .metadata()
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let dtype = view.dtype();
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
            let tensor = view.load(&Device::Cpu)?;
            tensors.insert(name, tensor);
        }
        Ok(Self {
            tensors,
            metadata,
            format: WeightsFormat::Safetensors,
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
        }
    }

    /// The kind of file these weights came from.
    pub fn format(&self) -> &WeightsFormat {
        &self.format
    }

    /// The file's `__metadata__` (empty when it has none: PyTorch files have none).
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

    /// The model kind the file names: the metadata key `model`, else, for a TorchScript
    /// archive, a root class named like one of the seed's (`TwoInputModule`,
    /// `CategoricalInputModule`, `SequenceInputModule`). `None` when the file does not say.
    pub fn model_kind(&self) -> Result<Option<ModelKind>> {
        if let Some(s) = self.metadata.get(META_MODEL) {
            return s
                .parse::<ModelKind>()
                .map(Some)
                .map_err(|e| Error::weights(format!("metadata `{META_MODEL}`: {e}")));
        }
        Ok(match &self.format {
            WeightsFormat::TorchScript { class } => ModelKind::from_seed_class(class),
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
