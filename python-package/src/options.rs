//! The keyword arguments of `load` and `from_bytes`, read and checked, and the model they build
//! from weights: the same checks, in the same order and words, as `scriptless run`.

use candle_core::{DType, Device};
use pyo3::prelude::*;
use scriptless_core::{
    parse_device, Error, Limits, Model, ModelKind, Pooling, Weights, META_FEATURE_WIDTH,
};

use crate::errors::{to_py, Class, Failure};

/// What `load` is told beside the weights.
pub(crate) struct LoadOptions {
    /// The model asked for, if any.
    pub kind: Option<ModelKind>,
    /// The dtype to compute in.
    pub dtype: DType,
    /// The sequence model's pooling.
    pub pooling: Pooling,
    /// The categorical model's feature width, if given.
    pub feature_width: Option<usize>,
    /// The device to run on.
    pub device: Device,
    /// The limits, defaults filled in.
    pub limits: Limits,
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
}

impl LoadOptions {
    /// Reads and checks `raw`.
    pub fn read(raw: RawOptions<'_, '_>) -> PyResult<Self> {
        let kind = raw
            .model
            .map(|m| m.parse::<ModelKind>())
            .transpose()
            .map_err(to_py)?;
        let dtype = match raw.dtype {
            None => DType::F32,
            Some(d) => read_dtype(d)?,
        };
        let pooling = raw.pool.map_or(Ok(Pooling::PaddedLast), read_pooling)?;
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
        })
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
        if self.pooling != Pooling::PaddedLast && kind != ModelKind::Sequence {
            return Err(Error::Unsupported(format!(
                "pool applies to the sequence model only, not {kind}"
            ))
            .into());
        }
        let context = || format!("loading the {kind} model from {what}");
        let model = Model::from_weights(&weights, kind, self.dtype, &self.device)
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
