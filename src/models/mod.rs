//! The seed's three models, named after its classes, and [`Model`], which picks one by kind.
//!
//! Each model is a plain struct built by `load(vb, &config)` from PyTorch's `state_dict` names
//! (`linear.weight`, `rnn.weight_ih_l0`, ...). Each config is inferred from a [`Weights`]'s shapes
//! by `from_weights`, which also refuses missing and unexpected tensors.

mod batch;
mod categorical;
mod sequence;
mod two_input;

pub use categorical::{CategoricalConfig, CategoricalInputModule, SEED_FEATURE_WIDTH};
pub use sequence::{Pooling, SequenceConfig, SequenceInputModule};
pub use two_input::{TwoInputConfig, TwoInputModule};

use candle_core::{DType, Device, Tensor};

use crate::cpu::tier::CpuTier;
use crate::error::{Error, Result};
use crate::inputs::ModelInputs;
pub use crate::kind::ModelKind;
use crate::limits::Limits;
use crate::lstm::StepKernel;
use crate::weights::{ArchiveCode, Weights, WeightsFormat, META_FEATURE_WIDTH};

/// What a kind means for a weights file: the kind to build, and the config it holds. The kind
/// itself, its names and its inputs' names are in `kind.rs`, below every layer that uses them.
impl ModelKind {
    /// The kind to build from `weights`: `asked`, or else the kind the weights name (metadata
    /// `model`, or the seed model whose code an archive holds). Without `asked`, an archive
    /// whose code is not one of the seed's models is refused, naming where it departs; with it,
    /// the archive's tensors go into the seed's `asked` model and its code is ignored. Refuses
    /// `asked` contradicting the seed model an archive's code is or its metadata names, and
    /// neither existing, with an [`Error::Unsupported`] whose message names `asked_by`, where
    /// `asked` comes from (`--model`, `options.model`).
    pub fn resolve(asked: Option<Self>, weights: &Weights, asked_by: &str) -> Result<Self> {
        if let (None, Some(ArchiveCode::NotSeed { reason })) = (asked, weights.code()) {
            let own = match weights.format() {
                WeightsFormat::TorchScript { .. } => {
                    "the seed's models cannot run it; it runs by its own code \
                     (scriptless::script::Program, or `scriptless run` without --model)"
                }
                _ => "scriptless cannot run a .pt2's own graph yet, only the seed's three models",
            };
            return Err(Error::Unsupported(format!(
                "{reason}; {own} ({asked_by} KIND loads the archive's tensors into the seed's \
                 KIND model and ignores its code)"
            )));
        }
        match (asked, weights.model_kind()?) {
            (Some(asked), Some(named)) if asked != named => {
                Err(Error::Unsupported(match weights.code() {
                    Some(ArchiveCode::Seed(_)) => format!(
                        "{asked_by} {asked} contradicts the archive, whose code is the seed's \
                         {named} model"
                    ),
                    _ => format!(
                        "{asked_by} {asked} contradicts the weights, which name the {named} model"
                    ),
                }))
            }
            (Some(kind), _) | (None, Some(kind)) => Ok(kind),
            (None, None) => Err(Error::Unsupported(format!(
                "{asked_by} is required: the weights do not name the model (two-input, \
                 categorical or sequence)"
            ))),
        }
    }

    /// The hyperparameters of the `self` model that `weights` hold, as one JSON object: what
    /// `scriptless inspect --json` reports as `model.config`, and the Python module as
    /// `Model.config`. Two-input: `in_features`, `out_features`. Categorical:
    /// `feature_width`, `feature_width_recorded` (whether the weights' metadata gives it, or it
    /// is the seed's), `num_categories`, `out_features`. Sequence: `input_size`, `hidden_size`,
    /// `num_layers`, `bidirectional`, `proj_size`, `bias`, `out_features`. Refuses weights that
    /// do not hold a `self` model, as `from_weights` does.
    pub fn config_json(self, weights: &Weights) -> Result<serde_json::Value> {
        use serde_json::json;
        Ok(match self {
            Self::TwoInput => {
                let c = TwoInputConfig::from_weights(weights)?;
                json!({"in_features": c.in_features, "out_features": c.out_features})
            }
            Self::Categorical => {
                let c = CategoricalConfig::from_weights(weights)?;
                json!({
                    "feature_width": c.feature_width,
                    "feature_width_recorded": weights.metadata().contains_key(META_FEATURE_WIDTH),
                    "num_categories": c.num_categories,
                    "out_features": c.out_features,
                })
            }
            Self::Sequence => {
                let c = SequenceConfig::from_weights(weights)?;
                let l = c.lstm;
                json!({
                    "input_size": l.input_size,
                    "hidden_size": l.hidden_size,
                    "num_layers": l.num_layers,
                    "bidirectional": l.bidirectional,
                    "proj_size": l.proj_size,
                    "bias": l.bias,
                    "out_features": c.out_features,
                })
            }
        })
    }
}

/// One of the three models, for callers that choose the kind at run time (the CLI does).
#[derive(Debug, Clone)]
pub enum Model {
    /// The seed's `TwoInputModule`.
    TwoInput(TwoInputModule),
    /// The seed's `CategoricalInputModule`.
    Categorical(CategoricalInputModule),
    /// The seed's `SequenceInputModule`.
    Sequence(SequenceInputModule),
}

impl Model {
    /// Builds a model of `kind` from `weights`, computing in `dtype` on `device`. This runs the
    /// seed's `forward` for `kind` whatever code the file holds: use [`ModelKind::resolve`]
    /// first to honour an archive's code. When the tensors do not make a `kind` model, the
    /// error says what else the file is: a file without code loads only into the seed's
    /// models, and an archive's code that is not the seed's is named.
    pub fn from_weights(
        weights: &Weights,
        kind: ModelKind,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        Self::build(weights, kind, dtype, device).map_err(|e| match e {
            Error::Weights(message) => Error::Weights(match weights.code() {
                None if *weights.format() == WeightsFormat::InMemory => message,
                None => format!(
                    "{message}; a file without code (safetensors, a torch.save state_dict) \
                     loads only into the seed's three models: a model of your own is saved \
                     with its code (torch.jit.save(torch.jit.script(model)) or \
                     torch.export.save), which scriptless cannot run yet"
                ),
                Some(ArchiveCode::NotSeed { reason }) => {
                    format!("{message}; the archive's own code is not the seed's either: {reason}")
                }
                Some(ArchiveCode::Seed(_)) => message,
            }),
            other => other,
        })
    }

    fn build(weights: &Weights, kind: ModelKind, dtype: DType, device: &Device) -> Result<Self> {
        Ok(match kind {
            ModelKind::TwoInput => {
                Self::TwoInput(TwoInputModule::from_weights(weights, dtype, device)?)
            }
            ModelKind::Categorical => Self::Categorical(CategoricalInputModule::from_weights(
                weights, dtype, device,
            )?),
            ModelKind::Sequence => {
                Self::Sequence(SequenceInputModule::from_weights(weights, dtype, device)?)
            }
        })
    }

    /// The same model with its LSTM's time loop run by `kernel`; the other kinds have no
    /// LSTM and come back unchanged.
    pub fn with_kernel(self, kernel: StepKernel) -> Result<Self> {
        Ok(match self {
            Self::Sequence(m) => Self::Sequence(m.with_kernel(kernel)?),
            other => other,
        })
    }

    /// The same model running its CPU kernels on `tier` (see [`CpuTier`]); an error if this
    /// CPU lacks it.
    pub fn with_cpu_tier(self, tier: CpuTier) -> Result<Self> {
        Ok(match self {
            Self::TwoInput(m) => Self::TwoInput(m.with_cpu_tier(tier)?),
            Self::Categorical(m) => Self::Categorical(m.with_cpu_tier(tier)?),
            Self::Sequence(m) => Self::Sequence(m.with_cpu_tier(tier)?),
        })
    }

    /// The CPU tier the model's kernels run on.
    pub fn cpu_tier(&self) -> CpuTier {
        match self {
            Self::TwoInput(m) => m.cpu_tier(),
            Self::Categorical(m) => m.cpu_tier(),
            Self::Sequence(m) => m.cpu_tier(),
        }
    }

    /// The same model refusing calls whose tensors would exceed `limits.max_elements`.
    pub fn with_limits(self, limits: Limits) -> Self {
        match self {
            Self::TwoInput(m) => Self::TwoInput(m.with_limits(limits)),
            Self::Categorical(m) => Self::Categorical(m.with_limits(limits)),
            Self::Sequence(m) => Self::Sequence(m.with_limits(limits)),
        }
    }

    /// The dtype the model computes in (and the precision [`request_from_json`] should
    /// decode its float inputs in).
    ///
    /// [`request_from_json`]: crate::request_from_json
    pub fn dtype(&self) -> DType {
        match self {
            Self::TwoInput(m) => m.dtype(),
            Self::Categorical(m) => m.dtype(),
            Self::Sequence(m) => m.dtype(),
        }
    }

    /// The model's kind.
    pub fn kind(&self) -> ModelKind {
        match self {
            Self::TwoInput(_) => ModelKind::TwoInput,
            Self::Categorical(_) => ModelKind::Categorical,
            Self::Sequence(_) => ModelKind::Sequence,
        }
    }

    /// The shape [`forward`](Self::forward) would return for `inputs`, from their shapes
    /// alone, without running anything. `None` when the inputs are of another model's kind or
    /// [`output_shape_of`](Self::output_shape_of) refuses their shapes; `forward` then fails.
    pub fn output_shape(&self, inputs: &ModelInputs) -> Option<Vec<usize>> {
        let [a, b] = inputs.tensors();
        (inputs.kind() == self.kind())
            .then(|| self.output_shape_of([a.dims(), b.dims()]).ok())
            .flatten()
    }

    /// The shape [`forward`](Self::forward) would return for inputs of shapes `dims`, in the
    /// order of [`ModelKind::input_names`], after every check `forward` makes from shapes
    /// alone, with the same errors: `(*, out)` for the Linear models (the broadcast of
    /// `tensor1` and `tensor2`, or `tensor_input`'s leading dims), `(B, out)` for the sequence
    /// model. Only the checks of the inputs' values (indices, lengths) are left to `forward`.
    pub fn output_shape_of(&self, dims: [&[usize]; 2]) -> Result<Vec<usize>> {
        let [first, second] = dims;
        match self {
            Self::TwoInput(m) => m.output_shape(first, second),
            Self::Categorical(m) => m.output_shape(first, second),
            Self::Sequence(m) => m.output_shape(first, second),
        }
    }

    /// Runs the model on `inputs`, which must be of the model's kind. `pooling` applies to the
    /// sequence model only.
    pub fn forward(&self, inputs: &ModelInputs, pooling: Pooling) -> Result<Tensor> {
        match (self, inputs) {
            (Self::TwoInput(m), ModelInputs::TwoInput { tensor1, tensor2 }) => {
                m.forward(tensor1, tensor2)
            }
            (
                Self::Categorical(m),
                ModelInputs::Categorical {
                    tensor_input,
                    category_index,
                },
            ) => m.forward(tensor_input, category_index),
            (
                Self::Sequence(m),
                ModelInputs::Sequence {
                    padded_seq,
                    seq_lengths,
                },
            ) => m.forward(padded_seq, seq_lengths, pooling),
            _ => Err(Error::Unsupported(format!(
                "the {} model cannot take these inputs",
                self.kind()
            ))),
        }
    }
}

/// `(in_features, out_features)` of the `nn.Linear` named `prefix`, with its shapes checked:
/// `bias` `[out_features]`, `weight` `[out_features, in_features]`. `input` is the layer's
/// input width when the model fixes it, with where it comes from (`the LSTM's output width`).
///
/// The tensor at fault is the one named: a weight that does not take `input`, or that is
/// transposed, is the weight's fault, even though its first dim then disagrees with the bias;
/// when the two disagree otherwise, both are named.
fn linear_shape(
    weights: &Weights,
    prefix: &str,
    input: Option<(usize, &str)>,
) -> Result<(usize, usize)> {
    let weight_name = format!("{prefix}.weight");
    let bias_name = format!("{prefix}.bias");
    let weight = weights.shape(&weight_name)?;
    let bias = weights.shape(&bias_name)?;
    let (rows, cols) = match *weight {
        [rows, cols] if rows > 0 && cols > 0 => (rows, cols),
        _ => {
            return Err(Error::weights(format!(
                "tensor `{weight_name}` has shape {weight:?}, expected [out_features, in_features]"
            )))
        }
    };
    let out_features = match *bias {
        [n] if n > 0 => n,
        _ => {
            return Err(Error::weights(format!(
                "tensor `{bias_name}` has shape {bias:?}, expected [out_features]"
            )))
        }
    };
    let transposed = |expected: [usize; 2]| {
        if [cols, rows] == expected {
            " (it is transposed)"
        } else {
            ""
        }
    };
    if let Some((width, source)) = input {
        if cols != width {
            let expected = [out_features, width];
            return Err(Error::weights(format!(
                "tensor `{weight_name}` has shape {weight:?}, expected {expected:?}{}: \
                 [out_features, in_features], out_features from `{bias_name}` and in_features \
                 {source}",
                transposed(expected)
            )));
        }
    }
    if rows != out_features {
        if input.is_none() && cols == out_features {
            let expected = [out_features, rows];
            return Err(Error::weights(format!(
                "tensor `{weight_name}` has shape {weight:?}, expected {expected:?}{}: \
                 [out_features, in_features], out_features from `{bias_name}`",
                transposed(expected)
            )));
        }
        return Err(Error::weights(format!(
            "tensors `{weight_name}` (shape {weight:?}) and `{bias_name}` (shape {bias:?}) \
             disagree on out_features: {rows} and {out_features}"
        )));
    }
    Ok((cols, rows))
}

/// Refuses a tensor with a zero-size dim: PyTorch would return an empty result, which no
/// caller of these models wants; an empty batch is almost always a bug upstream.
fn check_not_empty(t: &Tensor, name: &str) -> Result<()> {
    check_dims_not_empty(t.dims(), name)
}

/// [`check_not_empty`] from a shape alone.
fn check_dims_not_empty(dims: &[usize], name: &str) -> Result<()> {
    if dims.contains(&0) {
        return Err(Error::input(name, format!("is empty (shape {dims:?})")));
    }
    Ok(())
}
