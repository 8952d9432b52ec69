//! [`ModelKind`]: which of the seed's models, with the names the command line, weights metadata
//! and requests use. A leaf: the readers, the kernels' input checks and the models all name a
//! kind, so it sits below all of them. What a kind means for a weights file
//! ([`ModelKind::resolve`], [`ModelKind::config_json`]) is implemented in `models/`.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Which of the seed's models a weights file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// [`TwoInputModule`](crate::TwoInputModule): `linear(tensor1 + tensor2)`.
    TwoInput,
    /// [`CategoricalInputModule`](crate::CategoricalInputModule): `linear(cat(tensor_input, one_hot(category_index)))`.
    Categorical,
    /// [`SequenceInputModule`](crate::SequenceInputModule): packed LSTM, then `linear` on one time step.
    Sequence,
}

impl ModelKind {
    /// All kinds, in the seed's order.
    pub const ALL: [ModelKind; 3] = [Self::TwoInput, Self::Categorical, Self::Sequence];

    /// The kind's name on the command line and in weights metadata.
    pub fn name(self) -> &'static str {
        match self {
            Self::TwoInput => "two-input",
            Self::Categorical => "categorical",
            Self::Sequence => "sequence",
        }
    }

    /// The seed's class name for this kind (`TwoInputModule`, ...).
    pub fn seed_class(self) -> &'static str {
        match self {
            Self::TwoInput => "TwoInputModule",
            Self::Categorical => "CategoricalInputModule",
            Self::Sequence => "SequenceInputModule",
        }
    }

    /// Whether the input `name` of this model holds floats: every input but the categorical
    /// model's indices and the sequence model's lengths (the second argument of each), and the
    /// sequence model's `sequences[i]`.
    pub fn takes_floats(self, name: &str) -> bool {
        let [_, second] = self.input_names();
        self == Self::TwoInput || name != second
    }

    /// The names of `forward`'s arguments, as in the seed.
    pub fn input_names(self) -> [&'static str; 2] {
        match self {
            Self::TwoInput => ["tensor1", "tensor2"],
            Self::Categorical => ["tensor_input", "category_index"],
            Self::Sequence => ["padded_seq", "seq_lengths"],
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for ModelKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "unknown model `{s}`; expected two-input, categorical or sequence"
                ))
            })
    }
}
