//! `CategoricalInputModule`: `self.linear(cat(tensor_input, one_hot(category_index)))`.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use super::{check_dims_not_empty, linear_shape};
use crate::cpu::tier::CpuTier;
use crate::error::{Error, Result};
use crate::inputs::category_values;
use crate::limits::Limits;
use crate::linear::Linear;
use crate::weights::{Weights, META_FEATURE_WIDTH};

/// The seed's feature width: `nn.Linear(num_categories + 10, 10)`, "+10 for other tensor input".
pub const SEED_FEATURE_WIDTH: usize = 10;

/// Hyperparameters of [`CategoricalInputModule`] (the seed: 10 features, 3 categories, 10 out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CategoricalConfig {
    /// Width of `tensor_input`'s last dim.
    pub feature_width: usize,
    /// Number of categories, the width of the one-hot rows: `linear.in_features - feature_width`.
    pub num_categories: usize,
    /// `linear.out_features`.
    pub out_features: usize,
}

impl CategoricalConfig {
    /// Reads the sizes from `linear.weight`. The split of `in_features` between features and
    /// categories is not in the shapes: the feature width comes from the metadata key
    /// `feature_width` when present, else the seed's 10. The file must hold exactly
    /// `linear.weight` and `linear.bias`.
    pub fn from_weights(weights: &Weights) -> Result<Self> {
        let (in_features, out_features) = linear_shape(weights, "linear", None)?;
        weights.check_names(&["linear.weight", "linear.bias"])?;
        let recorded = weights.metadata().get(META_FEATURE_WIDTH);
        let feature_width = match recorded {
            Some(s) => s.parse::<usize>().map_err(|_| {
                Error::weights(format!(
                    "metadata `{META_FEATURE_WIDTH}` is `{s}`, expected a positive integer"
                ))
            })?,
            None => SEED_FEATURE_WIDTH,
        };
        if feature_width == 0 {
            return Err(Error::weights(format!(
                "the feature width (metadata `{META_FEATURE_WIDTH}`) is 0, but it must be at least 1"
            )));
        }
        if in_features <= feature_width {
            let source = match recorded {
                Some(_) => format!("metadata `{META_FEATURE_WIDTH}`"),
                None => format!(
                    "the seed's default, as the weights have no metadata `{META_FEATURE_WIDTH}`"
                ),
            };
            let allowed = match in_features {
                1 => "a categorical model needs at least 2, 1 feature and 1 category".to_string(),
                2 => "the feature width must be 1".to_string(),
                n => format!("the feature width must be 1 to {}", n - 1),
            };
            let plural = |n: usize| if n == 1 { "" } else { "s" };
            return Err(Error::weights(format!(
                "`linear.weight` has {in_features} input feature{}, which leaves no room for \
                 categories after {feature_width} feature{} ({source}); {allowed}",
                plural(in_features),
                plural(feature_width),
            )));
        }
        Ok(Self {
            feature_width,
            num_categories: in_features - feature_width,
            out_features,
        })
    }
}

/// The seed's second model: features concatenated with a one-hot category, then a Linear.
///
/// The seed calls `F.one_hot(category_index, num_classes=3)`; here the one-hot width is the
/// model's `num_categories`, which is 3 for the seed's weights and generalises to any count.
#[derive(Debug, Clone)]
pub struct CategoricalInputModule {
    linear: Linear,
    config: CategoricalConfig,
    limits: Limits,
    dtype: DType,
    device: Device,
}

impl CategoricalInputModule {
    /// Builds the model from `vb` holding `linear.weight` and `linear.bias`.
    pub fn load(vb: VarBuilder, config: &CategoricalConfig) -> Result<Self> {
        let linear = Linear::load(
            vb.pp("linear"),
            config.feature_width + config.num_categories,
            config.out_features,
        )?;
        Ok(Self {
            linear,
            config: *config,
            limits: Limits::default(),
            dtype: vb.dtype(),
            device: vb.device().clone(),
        })
    }

    /// Infers the config from `weights` and builds the model in `dtype` on `device`.
    pub fn from_weights(weights: &Weights, dtype: DType, device: &Device) -> Result<Self> {
        Self::load(
            weights.var_builder(dtype, device),
            &CategoricalConfig::from_weights(weights)?,
        )
    }

    /// The model's hyperparameters.
    pub fn config(&self) -> &CategoricalConfig {
        &self.config
    }

    /// The dtype the model computes in.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The same model running its CPU kernels on `tier` (see [`CpuTier`]); an error if this
    /// CPU lacks it.
    pub fn with_cpu_tier(mut self, tier: CpuTier) -> Result<Self> {
        self.linear = self.linear.with_cpu_tier(tier)?;
        Ok(self)
    }

    /// The CPU tier the model's kernels run on.
    pub fn cpu_tier(&self) -> CpuTier {
        self.linear.cpu_tier()
    }

    /// The same model refusing calls whose tensors would exceed `limits.max_elements`
    /// (the default is [`Limits::default`]).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The shape [`forward`](Self::forward) returns for inputs of shapes `dims`
    /// (`tensor_input`) and `index_dims` (`category_index`), `(*, out_features)`, or the error
    /// it gives for them; only the indices' values are left to `forward`.
    pub fn output_shape(&self, dims: &[usize], index_dims: &[usize]) -> Result<Vec<usize>> {
        check_dims_not_empty(dims, "tensor_input")?;
        let Some((&width, leading)) = dims.split_last() else {
            return Err(Error::input(
                "tensor_input",
                format!(
                    "is a scalar, expected shape (*, {})",
                    self.config.feature_width
                ),
            ));
        };
        if width != self.config.feature_width {
            return Err(Error::input(
                "tensor_input",
                format!(
                    "has {width} features (shape {dims:?}), expected {}",
                    self.config.feature_width
                ),
            ));
        }
        if index_dims != leading {
            return Err(Error::input(
                "category_index",
                format!(
                    "has shape {index_dims:?}, expected {leading:?}: one index per row of \
                     tensor_input"
                ),
            ));
        }
        let row = |width: usize| [leading, &[width]].concat();
        let combined = self.config.feature_width + self.config.num_categories;
        self.limits.check_elements(
            "input `tensor_input` with its one-hot categories",
            &row(combined),
        )?;
        let out = row(self.config.out_features);
        self.limits.check_elements("the output", &out)?;
        Ok(out)
    }

    /// `linear(cat(tensor_input, one_hot(category_index)))`: `tensor_input` is
    /// `(*, feature_width)`, `category_index` integer `(*)` with the same leading dims and values
    /// in `0..num_categories`; the output is `(*, out_features)`.
    pub fn forward(&self, tensor_input: &Tensor, category_index: &Tensor) -> Result<Tensor> {
        self.output_shape(tensor_input.dims(), category_index.dims())?;
        let categories = category_values(category_index, self.config.num_categories)?;
        let features = tensor_input.to_device(&self.device)?.to_dtype(self.dtype)?;
        self.linear
            .forward_one_hot(&features, &categories, self.config.num_categories)
    }
}
