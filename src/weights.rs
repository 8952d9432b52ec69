//! Weights: a PyTorch `state_dict` exported as safetensors, validated before any model sees it.
//!
//! A [`Weights`] holds every tensor of the file (on the CPU, in the file's dtype) and the file's
//! `__metadata__`. Models infer their hyperparameters from the tensors' shapes, then
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

/// Metadata key naming the model kind (`two-input`, `categorical` or `sequence`).
pub const META_MODEL: &str = "model";
/// Metadata key giving the categorical model's feature width (the seed hard-codes 10).
pub const META_FEATURE_WIDTH: &str = "feature_width";

/// The tensors and metadata of one weights file.
#[derive(Debug, Clone)]
pub struct Weights {
    tensors: BTreeMap<String, Tensor>,
    metadata: BTreeMap<String, String>,
}

impl Weights {
    /// Reads a file written by `safetensors.torch.save_file(model.state_dict(), path)`, of at
    /// most the default [`Limits::max_weights_bytes`].
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        Self::read_within(path, &Limits::default())
    }

    /// [`read`](Self::read), refusing a file over `limits.max_weights_bytes` before reading it.
    pub fn read_within(path: impl AsRef<Path>, limits: &Limits) -> Result<Self> {
        let path = path.as_ref();
        let what = format!("weights file {}", path.display());
        let bytes = Limits::read_file(path, limits.max_weights_bytes, &what, "max_weights_bytes")?;
        Self::from_safetensors(&bytes, &what)
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
        Ok(Self { tensors, metadata })
    }

    /// Wraps tensors already in memory (a `state_dict` built in Rust, say).
    pub fn from_tensors(
        tensors: HashMap<String, Tensor>,
        metadata: HashMap<String, String>,
    ) -> Self {
        Self {
            tensors: tensors.into_iter().collect(),
            metadata: metadata.into_iter().collect(),
        }
    }

    /// The file's `__metadata__` (empty when it has none).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// The model kind named by the metadata key `model`, if any.
    pub fn model_kind(&self) -> Result<Option<ModelKind>> {
        self.metadata
            .get(META_MODEL)
            .map(|s| {
                s.parse::<ModelKind>()
                    .map_err(|e| Error::weights(format!("metadata `{META_MODEL}`: {e}")))
            })
            .transpose()
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
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!("missing tensors {}", quoted(&missing)));
        }
        if !unexpected.is_empty() {
            problems.push(format!("unexpected tensors {}", quoted(&unexpected)));
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
