//! [`Model::forward_many`]: many requests in few calls, for throughput.
//!
//! Requests are flattened to rows and stacked (two-input, categorical) or stacked along the
//! batch after grouping by similar length (sequence), run together, and split back. Each
//! request still gets exactly its own result: a group in which any request fails, or which
//! exceeds the limits as a whole, is split in halves and run again, down to single requests,
//! so every error is the one that request gives alone.

use candle_core::Tensor;

use super::{check_not_empty, Model, Pooling};
use crate::error::{Error, Result};
use crate::inputs::{broadcast_shape, lengths_from_tensor, ModelInputs};

/// The most sequences stacked in one LSTM call.
const GROUP_ROWS: usize = 256;

impl Model {
    /// Runs the model on each request, in order: the same results as
    /// [`forward`](Self::forward) on each, from fewer and larger calls. Sequence requests are
    /// grouped by their longest sequence (each group spans at most a factor of 2 in length and
    /// 256 sequences), so that little padding is added.
    pub fn forward_many(&self, requests: &[ModelInputs], pooling: Pooling) -> Vec<Result<Tensor>> {
        let all: Vec<usize> = (0..requests.len()).collect();
        let groups = match self {
            Model::Sequence(_) => sequence_groups(requests),
            _ => vec![all],
        };
        let mut results: Vec<(usize, Result<Tensor>)> = Vec::with_capacity(requests.len());
        for group in groups {
            self.run_group(requests, group, pooling, &mut results);
        }
        // Every request is in exactly one group.
        results.sort_unstable_by_key(|(i, _)| *i);
        results.into_iter().map(|(_, r)| r).collect()
    }

    /// Runs `group` together; if that fails, each half again, down to single requests, so
    /// that the requests beside a bad one are still run together.
    fn run_group(
        &self,
        requests: &[ModelInputs],
        group: Vec<usize>,
        pooling: Pooling,
        results: &mut Vec<(usize, Result<Tensor>)>,
    ) {
        match group[..] {
            [] => return,
            [i] => return results.push((i, self.forward(&requests[i], pooling))),
            _ => {}
        }
        match self.forward_together(requests, &group, pooling) {
            Ok(outputs) => results.extend(group.into_iter().zip(outputs.into_iter().map(Ok))),
            Err(_) => {
                let mut first = group;
                let second = first.split_off(first.len() / 2);
                self.run_group(requests, first, pooling, results);
                self.run_group(requests, second, pooling, results);
            }
        }
    }

    /// The requests `group` of `requests` in one call.
    fn forward_together(
        &self,
        requests: &[ModelInputs],
        group: &[usize],
        pooling: Pooling,
    ) -> Result<Vec<Tensor>> {
        let mismatch = || {
            Error::Unsupported(format!(
                "the {} model cannot take these inputs",
                self.kind()
            ))
        };
        match self {
            Model::TwoInput(m) => {
                let mut rows = Rows::default();
                for &i in group {
                    let ModelInputs::TwoInput { tensor1, tensor2 } = &requests[i] else {
                        return Err(mismatch());
                    };
                    check_not_empty(tensor1, "tensor1")?;
                    check_not_empty(tensor2, "tensor2")?;
                    let shape =
                        broadcast_shape(tensor1.dims(), tensor2.dims()).ok_or_else(mismatch)?;
                    let (n, width) = rows.push(&shape)?;
                    rows.a.push(
                        tensor1
                            .broadcast_as(shape.as_slice())?
                            .reshape((n, width))?,
                    );
                    rows.b.push(
                        tensor2
                            .broadcast_as(shape.as_slice())?
                            .reshape((n, width))?,
                    );
                }
                let out = m.forward(&Tensor::cat(&rows.a, 0)?, &Tensor::cat(&rows.b, 0)?)?;
                rows.split(&out)
            }
            Model::Categorical(m) => {
                let mut rows = Rows::default();
                for &i in group {
                    let ModelInputs::Categorical {
                        tensor_input,
                        category_index,
                    } = &requests[i]
                    else {
                        return Err(mismatch());
                    };
                    check_not_empty(tensor_input, "tensor_input")?;
                    let dims = tensor_input.dims();
                    if category_index.dims() != &dims[..dims.len().saturating_sub(1)] {
                        return Err(mismatch());
                    }
                    let (n, width) = rows.push(dims)?;
                    rows.a.push(tensor_input.reshape((n, width))?);
                    rows.b.push(category_index.reshape(n)?);
                }
                let out = m.forward(&Tensor::cat(&rows.a, 0)?, &Tensor::cat(&rows.b, 0)?)?;
                rows.split(&out)
            }
            Model::Sequence(m) => {
                let mut batches = Vec::with_capacity(group.len());
                for &i in group {
                    let ModelInputs::Sequence {
                        padded_seq,
                        seq_lengths,
                    } = &requests[i]
                    else {
                        return Err(mismatch());
                    };
                    batches.push((padded_seq, lengths_from_tensor(seq_lengths)?));
                }
                let batches: Vec<(&Tensor, &[usize])> =
                    batches.iter().map(|(p, l)| (*p, l.as_slice())).collect();
                m.forward_lengths_many(&batches, pooling)
            }
        }
    }
}

/// Requests flattened to rows: `a` and `b` hold each request's two inputs as
/// `(rows, width)` and `(rows,)` or `(rows, width)`; `shapes` their leading dims.
#[derive(Default)]
struct Rows {
    a: Vec<Tensor>,
    b: Vec<Tensor>,
    shapes: Vec<Vec<usize>>,
}

impl Rows {
    /// Records a request whose (broadcast) input has shape `dims`; returns `(rows, width)`.
    fn push(&mut self, dims: &[usize]) -> Result<(usize, usize)> {
        let Some((&width, leading)) = dims.split_last() else {
            return Err(Error::Unsupported("a scalar input".into()));
        };
        self.shapes.push(leading.to_vec());
        Ok((leading.iter().product(), width))
    }

    /// Splits the stacked output `(rows, out)` back into each request's `(*leading, out)`.
    fn split(&self, out: &Tensor) -> Result<Vec<Tensor>> {
        let width = out.dim(1)?;
        let mut row = 0;
        self.shapes
            .iter()
            .map(|leading| {
                let n: usize = leading.iter().product();
                let part = out.narrow(0, row, n)?;
                row += n;
                Ok(part.reshape([leading.as_slice(), &[width]].concat())?)
            })
            .collect()
    }
}

/// Sequence requests grouped by their longest sequence: sorted, then cut wherever a group
/// would exceed [`GROUP_ROWS`] sequences or span more than a factor of 2 in length. Requests
/// whose lengths cannot be read form groups of one (they will fail alone).
fn sequence_groups(requests: &[ModelInputs]) -> Vec<Vec<usize>> {
    let mut keyed = Vec::new();
    let mut groups = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        let lengths = match r {
            ModelInputs::Sequence { seq_lengths, .. } => lengths_from_tensor(seq_lengths).ok(),
            _ => None,
        };
        match lengths {
            Some(l) if !l.is_empty() => {
                keyed.push((l.iter().copied().max().unwrap_or(0), l.len(), i))
            }
            _ => groups.push(vec![i]),
        }
    }
    keyed.sort_unstable();
    let mut current: Vec<usize> = Vec::new();
    let (mut shortest, mut rows) = (0, 0);
    for (longest, batch, i) in keyed {
        if !current.is_empty() && (rows + batch > GROUP_ROWS || longest > 2 * shortest) {
            groups.push(std::mem::take(&mut current));
        }
        if current.is_empty() {
            shortest = longest;
            rows = 0;
        }
        current.push(i);
        rows += batch;
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}
