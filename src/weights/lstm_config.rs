//! [`LstmConfig`]: an `nn.LSTM`'s hyperparameters, inferred from its `state_dict`.

use super::Weights;
use crate::error::{quoted, Error, Result};

/// Hyperparameters of an `nn.LSTM`, as read from its `state_dict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LstmConfig {
    /// Features per time step of the input (`input_size`).
    pub input_size: usize,
    /// Size of the cell state `c` and of `h` before projection (`hidden_size`).
    pub hidden_size: usize,
    /// Size `h` is projected to by `weight_hr_l{k}` (`proj_size`); 0 means no projection.
    pub proj_size: usize,
    /// Stacked layers (`num_layers`).
    pub num_layers: usize,
    /// Whether each layer also runs in reverse (`bidirectional`).
    pub bidirectional: bool,
    /// Whether the `bias_ih_l{k}` / `bias_hh_l{k}` tensors exist (`bias`).
    pub bias: bool,
}

impl LstmConfig {
    /// Infers the configuration from the tensors under `prefix` (e.g. `"rnn"`) and checks that
    /// every tensor it implies exists with the right shape. Unexpected tensors are the caller's
    /// to report ([`Weights::check_names`]), since the file holds other modules too.
    pub fn from_weights(weights: &Weights, prefix: &str) -> Result<Self> {
        let config = Self::infer(weights, prefix)?;
        config.check_shapes(weights, prefix)?;
        Ok(config)
    }

    /// Checks that `weights` holds every tensor of this configuration under `prefix`, with its
    /// shape. All missing tensors are named at once.
    pub fn check_shapes(&self, weights: &Weights, prefix: &str) -> Result<()> {
        let shapes = self.tensor_shapes(prefix);
        let missing: Vec<&str> = shapes
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| !weights.contains(name))
            .collect();
        if !missing.is_empty() {
            let plural = if missing.len() == 1 { "" } else { "s" };
            return Err(Error::weights(format!(
                "missing tensor{plural} {}",
                quoted(&missing)
            )));
        }
        for (name, shape) in &shapes {
            weights.expect_shape(name, shape)?;
        }
        Ok(())
    }

    /// Infers the configuration from the tensors under `prefix` without checking the rest:
    /// sizes from `weight_ih_l0`, layers from `weight_ih_l{k}`, directions from the `_reverse`
    /// keys, projection from `weight_hr_l0`, bias from `bias_ih_l0`.
    ///
    /// A top layer holding fewer of its tensors than it lacks is not counted: a stray
    /// `weight_ih_l1` in a 1-layer LSTM's file is then an unexpected tensor (which
    /// [`Weights::check_names`] names) rather than a second layer missing three.
    pub fn infer(weights: &Weights, prefix: &str) -> Result<Self> {
        let name = |s: &str| qualified(prefix, s);
        let w0_name = name("weight_ih_l0");
        let w0 = weights.shape(&w0_name)?;
        let (input_size, hidden_size) = match *w0 {
            [rows, cols] if rows > 0 && rows % 4 == 0 && cols > 0 => (cols, rows / 4),
            _ => {
                return Err(Error::weights(format!(
                    "tensor `{w0_name}` has shape {w0:?}, expected [4 * hidden_size, input_size]"
                )))
            }
        };
        let num_layers = (0..)
            .take_while(|k| weights.contains(&name(&format!("weight_ih_l{k}"))))
            .count();
        let proj_size = if weights.contains(&name("weight_hr_l0")) {
            let shape = weights.shape(&name("weight_hr_l0"))?;
            match *shape {
                [p, h] if p > 0 && p < hidden_size && h == hidden_size => p,
                _ => {
                    return Err(Error::weights(format!(
                        "tensor `{}` has shape {shape:?}, expected [proj_size, {hidden_size}] \
                         with 0 < proj_size < hidden_size",
                        name("weight_hr_l0")
                    )))
                }
            }
        } else {
            0
        };
        let mut config = Self {
            input_size,
            hidden_size,
            proj_size,
            num_layers,
            bidirectional: weights.contains(&name("weight_ih_l0_reverse")),
            bias: weights.contains(&name("bias_ih_l0")),
        };
        while config.num_layers > 1 {
            let top = config.num_layers - 1;
            let (own, reverse) = (format!("_l{top}"), format!("_l{top}_reverse"));
            let (present, missing) = config
                .tensor_shapes(prefix)
                .iter()
                .filter(|(n, _)| n.ends_with(&own) || n.ends_with(&reverse))
                .fold((0, 0), |(present, missing), (n, _)| {
                    if weights.contains(n) {
                        (present + 1, missing)
                    } else {
                        (present, missing + 1)
                    }
                });
            if present >= missing {
                break;
            }
            config.num_layers = top;
        }
        Ok(config)
    }

    /// 2 when bidirectional, else 1.
    pub fn num_directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }

    /// Size of `h` as it leaves the cell: `proj_size` if set, else `hidden_size`.
    pub fn h_out(&self) -> usize {
        if self.proj_size > 0 {
            self.proj_size
        } else {
            self.hidden_size
        }
    }

    /// Width of the output features: `num_directions * h_out`.
    pub fn output_size(&self) -> usize {
        self.num_directions() * self.h_out()
    }

    pub(crate) fn layer_input_size(&self, layer: usize) -> usize {
        if layer == 0 {
            self.input_size
        } else {
            self.output_size()
        }
    }

    /// Every tensor of the `state_dict` under `prefix`, with its shape, in PyTorch's order.
    pub fn tensor_shapes(&self, prefix: &str) -> Vec<(String, Vec<usize>)> {
        let gates = 4 * self.hidden_size;
        let mut out = Vec::new();
        for layer in 0..self.num_layers {
            for suffix in direction_suffixes(self.bidirectional) {
                let n = |s: &str| qualified(prefix, &format!("{s}_l{layer}{suffix}"));
                out.push((n("weight_ih"), vec![gates, self.layer_input_size(layer)]));
                out.push((n("weight_hh"), vec![gates, self.h_out()]));
                if self.bias {
                    out.push((n("bias_ih"), vec![gates]));
                    out.push((n("bias_hh"), vec![gates]));
                }
                if self.proj_size > 0 {
                    out.push((n("weight_hr"), vec![self.proj_size, self.hidden_size]));
                }
            }
        }
        out
    }
}

pub(crate) fn qualified(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

pub(crate) fn direction_suffixes(bidirectional: bool) -> &'static [&'static str] {
    if bidirectional {
        &["", "_reverse"]
    } else {
        &[""]
    }
}
