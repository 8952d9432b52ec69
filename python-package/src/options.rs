//! The keyword arguments of `load` and `from_bytes`, read and checked, and the model they build:
//! one of the seed's from its weights, or a program run by its own code, with the same checks,
//! in the same order and words, as `scriptless run`.

use candle_core::{DType, Device};
use pyo3::prelude::*;
use scriptless_core::script::{self, DEFAULT_MAX_DEPTH, DEFAULT_MAX_STEPS};
use scriptless_core::{
    parse_device, Error, Limits, Model, ModelKind, Pooling, Weights, META_FEATURE_WIDTH,
};

use crate::errors::{to_py, Class, Failure};

/// What `load` is told beside the weights.
pub(crate) struct LoadOptions {
    /// The model asked for, if any: given, the file is read as the seed's weights whatever
    /// code it holds (as `--model` does).
    pub kind: Option<ModelKind>,
    /// The dtype asked for: a seed model computes in it (default f32); a program converts its
    /// floating-point parameters and inputs to it (default: the archive's own dtypes).
    pub dtype: Option<DType>,
    /// The sequence model's pooling, if given.
    pub pooling: Option<Pooling>,
    /// The categorical model's feature width, if given.
    pub feature_width: Option<usize>,
    /// The device to run on.
    pub device: Device,
    /// The limits, defaults filled in.
    pub limits: Limits,
    /// A program's step budget per call.
    pub max_steps: u64,
    /// A program's deepest call nesting.
    pub max_depth: usize,
}

/// The keyword arguments as Python passed them.
pub(crate) struct RawOptions<'a, 'py> {
    pub model: Option<&'a str>,
    pub dtype: Option<&'a Bound<'py, PyAny>>,
    pub pool: Option<&'a str>,
    pub feature_width: Option<usize>,
    pub device: &'a str,
    pub max_weights_bytes: Option<u64>,
    pub max_elements: Option<usize>,
    pub max_steps: Option<u64>,
    pub max_depth: Option<usize>,
}

impl LoadOptions {
    /// Reads and checks `raw`.
    pub fn read(raw: RawOptions<'_, '_>) -> PyResult<Self> {
        let kind = raw
            .model
            .map(|m| m.parse::<ModelKind>())
            .transpose()
            .map_err(to_py)?;
        let dtype = raw.dtype.map(read_dtype).transpose()?;
        let pooling = raw.pool.map(read_pooling).transpose()?;
        let device = parse_device(raw.device).map_err(to_py)?;
        let default = Limits::default();
        Ok(Self {
            kind,
            dtype,
            pooling,
            feature_width: raw.feature_width,
            device,
            limits: Limits {
                max_weights_bytes: raw.max_weights_bytes.unwrap_or(default.max_weights_bytes),
                max_elements: raw.max_elements.unwrap_or(default.max_elements),
                ..default
            },
            max_steps: raw.max_steps.unwrap_or(DEFAULT_MAX_STEPS),
            max_depth: raw.max_depth.unwrap_or(DEFAULT_MAX_DEPTH),
        })
    }

    /// Whether the file is to be read as the seed's weights whatever code it holds.
    pub fn seed(&self) -> bool {
        self.kind.is_some()
    }

    /// How a program is loaded with these options.
    pub fn script_options(&self) -> script::Options {
        script::Options {
            device: self.device.clone(),
            dtype: self.dtype,
            limits: self.limits,
            max_steps: self.max_steps,
            max_depth: self.max_depth,
        }
    }

    /// Refuses the options that apply to the seed's models only, for a program, as `scriptless
    /// run` refuses `--pool` and `--feature-width`.
    pub fn check_program(&self) -> Result<(), Failure> {
        let seed_only = |option: &str| {
            Failure::from(Error::Unsupported(format!(
                "{option} applies to the seed's models only, not to a model run by its own code"
            )))
        };
        if self.pooling.is_some() {
            return Err(seed_only("pool"));
        }
        if self.feature_width.is_some() {
            return Err(seed_only("feature_width"));
        }
        Ok(())
    }

    /// The sequence model's pooling: the one given, else the seed's.
    pub fn pooling(&self) -> Pooling {
        self.pooling.unwrap_or(Pooling::PaddedLast)
    }

    /// The model these options ask for, from `weights` read from `what` (a path, or `weights
    /// buffer`), with its configuration as JSON (`scriptless inspect --json`'s
    /// `model.config`). Runs without the GIL.
    pub fn build(&self, mut weights: Weights, what: &str) -> Result<(Model, String), Failure> {
        let kind = ModelKind::resolve(self.kind, &weights, "model")?;
        if let Some(width) = self.feature_width {
            if kind != ModelKind::Categorical {
                return Err(Error::Unsupported(format!(
                    "feature_width applies to the categorical model only, not {kind}"
                ))
                .into());
            }
            weights.set_metadata(META_FEATURE_WIDTH, &width.to_string())?;
        }
        // The default, padded-last, is taken by every model (as the C API's zeroed options).
        if self.pooling() != Pooling::PaddedLast && kind != ModelKind::Sequence {
            return Err(Error::Unsupported(format!(
                "pool applies to the sequence model only, not {kind}"
            ))
            .into());
        }
        let context = || format!("loading the {kind} model from {what}");
        let dtype = self.dtype.unwrap_or(DType::F32);
        let model = Model::from_weights(&weights, kind, dtype, &self.device)
            .map_err(|e| Failure::in_context(e, context()))?
            .with_limits(self.limits);
        let config = kind
            .config_json(&weights)
            .map_err(|e| Failure::in_context(e, context()))?;
        Ok((model, config.to_string()))
    }
}

/// The dtype a model computes in: `"f32"`, `"f64"`, `"f16"` or `"bf16"`, NumPy's names for
/// them (`"float32"`, ...), or anything `numpy.dtype` takes (`np.float64`).
fn read_dtype(value: &Bound<'_, PyAny>) -> PyResult<DType> {
    let name = match value.extract::<String>() {
        Ok(name) => name,
        Err(_) => value
            .py()
            .import("numpy")?
            .call_method1("dtype", (value,))
            .and_then(|d| d.getattr("name"))
            .and_then(|n| n.extract::<String>())
            .map_err(|_| Class::Unsupported.err(format!("dtype {value} is not a dtype")))?,
    };
    match name.as_str() {
        "f32" | "float32" => Ok(DType::F32),
        "f64" | "float64" => Ok(DType::F64),
        "f16" | "float16" => Ok(DType::F16),
        "bf16" | "bfloat16" => Ok(DType::BF16),
        _ => Err(Class::Unsupported.err(format!(
            "dtype `{name}`: a model computes in f32, f64, f16 or bf16"
        ))),
    }
}

/// The sequence model's pooling, by its command-line name.
fn read_pooling(name: &str) -> PyResult<Pooling> {
    match name {
        "padded-last" => Ok(Pooling::PaddedLast),
        "last-valid" => Ok(Pooling::LastValid),
        _ => Err(Class::Unsupported.err(format!(
            "pool `{name}`: expected padded-last (the seed's) or last-valid"
        ))),
    }
}

/// A dtype's name in this module: `"f32"`, `"f64"`, `"f16"`, `"bf16"`.
pub(crate) fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "f32",
        DType::F64 => "f64",
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        _ => "unknown",
    }
}

/// A pooling's command-line name.
pub(crate) fn pooling_name(pooling: Pooling) -> &'static str {
    match pooling {
        Pooling::PaddedLast => "padded-last",
        Pooling::LastValid => "last-valid",
    }
}
