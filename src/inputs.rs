//! Input encoding, the seed's subject: variable-length sequences to a padded tensor plus lengths,
//! category indices to one-hot rows, and the checks every model input goes through.
//!
//! Every function here validates before it allocates, and names the offending input in its
//! error (`seq_lengths[2]`, `category_index`, ...).

use candle_core::{DType, Device, Tensor, D};

use crate::error::{Error, Result};
use crate::kind::ModelKind;
use crate::limits::Limits;

/// The tensors one forward call takes, keyed as the seed's `forward` arguments.
#[derive(Debug, Clone)]
pub enum ModelInputs {
    /// `TwoInputModule.forward(tensor1, tensor2)`.
    TwoInput {
        /// The first float tensor, `(*, in)` after broadcasting with `tensor2`.
        tensor1: Tensor,
        /// The second float tensor, added to `tensor1`.
        tensor2: Tensor,
    },
    /// `CategoricalInputModule.forward(tensor_input, category_index)`.
    Categorical {
        /// Float features, `(*, F)`.
        tensor_input: Tensor,
        /// Integer categories, `(*)`, each in `0..C`.
        category_index: Tensor,
    },
    /// `SequenceInputModule.forward(padded_seq, seq_lengths)`.
    Sequence {
        /// Float sequences padded to `(B, T, I)`.
        padded_seq: Tensor,
        /// Integer lengths, `(B,)`, each in `1..=T`.
        seq_lengths: Tensor,
    },
}

impl ModelInputs {
    /// A `kind` model's inputs from its two tensors, in the order of
    /// [`ModelKind::input_names`].
    pub fn new(kind: ModelKind, [first, second]: [Tensor; 2]) -> Self {
        match kind {
            ModelKind::TwoInput => Self::TwoInput {
                tensor1: first,
                tensor2: second,
            },
            ModelKind::Categorical => Self::Categorical {
                tensor_input: first,
                category_index: second,
            },
            ModelKind::Sequence => Self::Sequence {
                padded_seq: first,
                seq_lengths: second,
            },
        }
    }

    /// The kind of model these inputs are for.
    pub fn kind(&self) -> ModelKind {
        match self {
            Self::TwoInput { .. } => ModelKind::TwoInput,
            Self::Categorical { .. } => ModelKind::Categorical,
            Self::Sequence { .. } => ModelKind::Sequence,
        }
    }

    /// The sequence model's inputs from variable-length sequences, each `(len_i, features)`:
    /// padded as [`pad_sequences`] pads them (under `limits`), with their lengths as an I64
    /// `seq_lengths`. What a request's `sequences` key gives.
    pub fn from_sequences(sequences: &[Tensor], limits: &Limits) -> Result<Self> {
        let (padded_seq, lengths) = pad_sequences_within(sequences, limits)?;
        let lengths: Vec<i64> = lengths.into_iter().map(|l| l as i64).collect();
        let batch = lengths.len();
        Ok(Self::Sequence {
            padded_seq,
            seq_lengths: Tensor::from_vec(lengths, batch, &Device::Cpu)?,
        })
    }

    /// The two tensors, in the order of [`ModelKind::input_names`].
    pub fn tensors(&self) -> [&Tensor; 2] {
        match self {
            Self::TwoInput { tensor1, tensor2 } => [tensor1, tensor2],
            Self::Categorical {
                tensor_input,
                category_index,
            } => [tensor_input, category_index],
            Self::Sequence {
                padded_seq,
                seq_lengths,
            } => [padded_seq, seq_lengths],
        }
    }
}

/// Pads variable-length sequences, each `(len_i, features)`, into one `(batch, max len,
/// features)` tensor with zeros after each sequence, like
/// `torch.nn.utils.rnn.pad_sequence(sequences, batch_first=True)`, and returns their lengths.
///
/// Every sequence takes the first one's dtype, as in PyTorch. Refuses an empty batch, an empty
/// sequence, sequences whose feature widths differ, and a padded batch over the default
/// [`Limits::max_elements`] (one long sequence among many short ones pads to far more than
/// their sum).
pub fn pad_sequences(sequences: &[Tensor]) -> Result<(Tensor, Vec<usize>)> {
    pad_sequences_within(sequences, &Limits::default())
}

/// [`pad_sequences`] under `limits`.
pub(crate) fn pad_sequences_within(
    sequences: &[Tensor],
    limits: &Limits,
) -> Result<(Tensor, Vec<usize>)> {
    let first = sequences.first().ok_or_else(|| {
        Error::input("sequences", "is empty; a batch needs at least one sequence")
    })?;
    // An empty sequence is named as such, whatever its rank (`[]` in JSON has shape [0]).
    let mut width = None;
    let mut lengths = Vec::with_capacity(sequences.len());
    for (i, seq) in sequences.iter().enumerate() {
        let name = format!("sequences[{i}]");
        match (seq.dims(), width) {
            ([0, ..], _) => {
                return Err(Error::input(
                    name,
                    "is empty; every sequence needs at least one step",
                ))
            }
            (&[len, w], None) => {
                width = Some(w);
                lengths.push(len);
            }
            (&[len, w], Some(width)) if w == width => lengths.push(len),
            (&[_, w], Some(width)) => {
                return Err(Error::input(
                    name,
                    format!("has {w} features per step, expected {width} (as sequences[0])"),
                ))
            }
            _ => {
                return Err(Error::input(
                    name,
                    format!("has shape {:?}, expected (length, features)", seq.dims()),
                ))
            }
        }
    }
    let width = width.unwrap_or(0);
    if width == 0 {
        return Err(Error::input("sequences", "have 0 features per step"));
    }
    let max_len = lengths.iter().copied().max().unwrap_or(0);
    limits.check_elements(
        "input `sequences` padded",
        &[sequences.len(), max_len, width],
    )?;
    let dtype = first.dtype();
    let device = first.device();
    let padded = sequences
        .iter()
        .zip(&lengths)
        .map(|(seq, &len)| {
            let seq = seq.to_dtype(dtype)?.to_device(device)?;
            if len == max_len {
                Ok(seq)
            } else {
                let pad = Tensor::zeros((max_len - len, width), dtype, device)?;
                Tensor::cat(&[&seq, &pad], 0)
            }
        })
        .collect::<candle_core::Result<Vec<_>>>()?;
    Ok((Tensor::stack(&padded, 0)?, lengths))
}

/// Checks per-row sequence lengths against a padded batch of `batch` rows and `time` steps:
/// one length per row, each in `1..=time`.
pub fn check_lengths(lengths: &[usize], batch: usize, time: usize) -> Result<()> {
    check_lengths_count(lengths.len(), batch)?;
    for (i, &len) in lengths.iter().enumerate() {
        if len == 0 {
            return Err(Error::input(
                format!("seq_lengths[{i}]"),
                "is 0; every length must be at least 1",
            ));
        }
        if len > time {
            return Err(Error::input(
                format!("seq_lengths[{i}]"),
                format!("is {len}, longer than padded_seq's time axis ({time})"),
            ));
        }
    }
    Ok(())
}

/// Refuses an empty batch, and a number of lengths other than one per row of the batch.
pub(crate) fn check_lengths_count(count: usize, batch: usize) -> Result<()> {
    if batch == 0 {
        return Err(Error::input("padded_seq", "has an empty batch (0 rows)"));
    }
    if count != batch {
        return Err(Error::input(
            "seq_lengths",
            format!("has {count} entries, expected one per row of padded_seq ({batch})"),
        ));
    }
    Ok(())
}

/// The number of lengths a `seq_lengths` of shape `dims` holds; it must have 1 dim.
pub(crate) fn check_lengths_shape(dims: &[usize]) -> Result<usize> {
    match *dims {
        [count] => Ok(count),
        _ => Err(Error::input(
            "seq_lengths",
            format!("has shape {dims:?}, expected 1 dim (batch)"),
        )),
    }
}

/// Reads a 1-D integer tensor of sequence lengths. Lengths below 1 are refused here; the upper
/// bound is checked against the padded batch by [`check_lengths`].
pub fn lengths_from_tensor(seq_lengths: &Tensor) -> Result<Vec<usize>> {
    check_lengths_shape(seq_lengths.dims())?;
    integer_values(seq_lengths, "seq_lengths")?
        .into_iter()
        .enumerate()
        .map(|(i, len)| {
            usize::try_from(len).ok().filter(|&l| l > 0).ok_or_else(|| {
                Error::input(
                    format!("seq_lengths[{i}]"),
                    format!("is {len}; every length must be at least 1"),
                )
            })
        })
        .collect()
}

/// The values of an integer tensor as `i64`; a float tensor is refused (PyTorch's `one_hot`
/// and packing need integer indices too).
pub fn integer_values(t: &Tensor, name: &str) -> Result<Vec<i64>> {
    match t.dtype() {
        DType::U8 | DType::U32 | DType::I16 | DType::I32 | DType::I64 => {
            Ok(t.to_dtype(DType::I64)?.flatten_all()?.to_vec1::<i64>()?)
        }
        other => Err(Error::input(
            name,
            format!("must hold integers (I64 or I32), got {other:?}"),
        )),
    }
}

/// One-hot encodes integer `indices` of any shape into `(*indices.shape, num_classes)` of
/// `dtype`, like `F.one_hot(indices, num_classes).to(dtype)`. Every index must lie in
/// `0..num_classes`.
pub fn one_hot(indices: &Tensor, num_classes: usize, dtype: DType) -> Result<Tensor> {
    let values = category_values(indices, num_classes)?;
    one_hot_rows(
        &values,
        indices.dims(),
        num_classes,
        dtype,
        indices.device(),
    )
}

/// The values of integer `indices` (the model's `category_index`), each checked to lie in
/// `0..num_classes`; errors name the first bad element.
pub(crate) fn category_values(indices: &Tensor, num_classes: usize) -> Result<Vec<u32>> {
    let name = "category_index";
    let values = integer_values(indices, name)?;
    // Two plain passes (both vectorise): find the first bad value, then narrow.
    let bad = values
        .iter()
        .position(|&v| v < 0 || v as u64 >= num_classes as u64);
    if let Some(flat) = bad {
        return Err(Error::input(
            element_name(name, indices.dims(), flat),
            format!(
                "is {}, expected a category in 0..{num_classes}",
                values[flat]
            ),
        ));
    }
    Ok(values.iter().map(|&v| v as u32).collect())
}

/// One-hot rows `(*dims, num_classes)` of `dtype` for checked category `values` of shape `dims`.
pub(crate) fn one_hot_rows(
    values: &[u32],
    dims: &[usize],
    num_classes: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let classes = Tensor::arange(0u32, num_classes as u32, device)?;
    let hot = Tensor::from_vec(values.to_vec(), dims, device)?
        .unsqueeze(D::Minus1)?
        .broadcast_eq(&classes)?;
    Ok(hot.to_dtype(dtype)?)
}

/// The shape two tensors broadcast to under PyTorch's rules, or `None` if they do not.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| (i + s.len()).checked_sub(rank).map_or(1, |j| s[j]);
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// `name[i][j]...` for element `flat` of a tensor of shape `dims`.
pub(crate) fn element_name(name: &str, dims: &[usize], flat: usize) -> String {
    let mut index = vec![0; dims.len()];
    let mut rest = flat;
    for (i, &d) in index.iter_mut().zip(dims).rev() {
        *i = rest % d.max(1);
        rest /= d.max(1);
    }
    element_path(name, &index)
}

/// `name[i][j]...` for the element at `index`.
pub(crate) fn element_path(name: &str, index: &[usize]) -> String {
    index
        .iter()
        .fold(name.to_string(), |path, i| format!("{path}[{i}]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_follows_pytorch() {
        assert_eq!(broadcast_shape(&[4, 1, 10], &[3, 10]), Some(vec![4, 3, 10]));
        assert_eq!(broadcast_shape(&[1, 10], &[10]), Some(vec![1, 10]));
        assert_eq!(broadcast_shape(&[], &[2, 10]), Some(vec![2, 10]));
        assert_eq!(broadcast_shape(&[2, 10], &[3, 10]), None);
        assert_eq!(broadcast_shape(&[0, 10], &[1, 10]), Some(vec![0, 10]));
    }

    #[test]
    fn element_names_unravel_row_major() {
        assert_eq!(element_name("x", &[2, 3], 4), "x[1][1]");
        assert_eq!(element_name("x", &[5], 0), "x[0]");
        assert_eq!(element_name("x", &[], 0), "x");
    }
}
