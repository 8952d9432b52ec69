//! [`PackPlan`]: where each `(row, step)` of a padded batch lives in PyTorch's packed layout.
//!
//! Packed rows are time-major: step 0 of every sequence, then step 1 of those still running,
//! and so on; within a step, sequences are sorted by length, longest first (stable), as
//! `pack_padded_sequence(..., enforce_sorted=False)` sorts them. The rows of step `t` are then
//! `offsets[t] .. offsets[t] + batch_sizes[t]`, and the sequences active at `t` are always a
//! prefix of the sorted order, which is what lets a kernel step only the active rows.

use candle_core::{Device, Tensor};

use crate::error::Result;
use crate::inputs::check_lengths;

/// The packing of one batch: its lengths, sort order and per-step row ranges.
///
/// Built only by [`PackPlan::new`] from checked lengths, so the kernels can rely on its
/// invariants: `batch >= 1`; every length in `1..=time`; `batch_sizes` has one entry per step
/// up to `max(lengths)`, each in `1..=batch` and never increasing; `offsets` has as many
/// entries, `offsets[t] + batch_sizes[t] <= rows`; `rows` is the sum of the lengths.
#[derive(Debug, Clone)]
pub(crate) struct PackPlan {
    /// Rows of the padded batch.
    batch: usize,
    /// Steps of the padded batch (`>= max(lengths)`).
    time: usize,
    /// `lengths[b]` in the caller's order.
    lengths: Vec<usize>,
    /// `order[s]`: the caller's row at sorted position `s`.
    order: Vec<usize>,
    /// `position[b]`: the sorted position of the caller's row `b`.
    position: Vec<usize>,
    /// `batch_sizes[t]`: sequences longer than `t`, for `t < max(lengths)`.
    batch_sizes: Vec<usize>,
    /// `offsets[t]`: the first packed row of step `t`.
    offsets: Vec<usize>,
    /// Packed rows in all: the sum of the lengths.
    rows: usize,
}

impl PackPlan {
    /// The plan for a padded batch of `batch` rows and `time` steps with per-row `lengths`.
    /// Refuses lengths that [`check_lengths`] refuses.
    pub fn new(lengths: &[usize], batch: usize, time: usize) -> Result<Self> {
        check_lengths(lengths, batch, time)?;
        let mut order: Vec<usize> = (0..batch).collect();
        order.sort_by_key(|&b| std::cmp::Reverse(lengths[b]));
        let mut position = vec![0; batch];
        for (s, &b) in order.iter().enumerate() {
            position[b] = s;
        }
        let max_len = lengths[order[0]];
        // Sorted descending, so the sequences longer than t are a prefix of `order`.
        let mut batch_sizes = Vec::with_capacity(max_len);
        let mut active = batch;
        for t in 0..max_len {
            while lengths[order[active - 1]] <= t {
                active -= 1;
            }
            batch_sizes.push(active);
        }
        let mut offsets = Vec::with_capacity(max_len);
        let mut rows = 0;
        for &n in &batch_sizes {
            offsets.push(rows);
            rows += n;
        }
        Ok(Self {
            batch,
            time,
            lengths: lengths.to_vec(),
            order,
            position,
            batch_sizes,
            offsets,
            rows,
        })
    }

    /// Rows of the padded batch, at least 1.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// `lengths[b]` in the caller's order, each in `1..=time`.
    pub fn lengths(&self) -> &[usize] {
        &self.lengths
    }

    /// `order()[s]`: the caller's row at sorted position `s` (longest first, ties in the
    /// caller's order).
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// `batch_sizes()[t]`: the sequences longer than `t` (a prefix of the sorted order), for
    /// each step `t < max(lengths)`; each in `1..=batch`, never increasing.
    pub fn batch_sizes(&self) -> &[usize] {
        &self.batch_sizes
    }

    /// `offsets()[t]`: the first packed row of step `t`, one per entry of `batch_sizes()`.
    pub fn offsets(&self) -> &[usize] {
        &self.offsets
    }

    /// Packed rows in all: the sum of the lengths.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// `max(lengths)`: the time axis of the unpacked output.
    pub fn max_len(&self) -> usize {
        self.batch_sizes.len()
    }

    /// The packed row holding step `t` of the caller's row `b`, if `t < lengths[b]`.
    pub fn packed_row(&self, b: usize, t: usize) -> Option<usize> {
        (t < self.lengths[b]).then(|| self.offsets[t] + self.position[b])
    }

    /// For each packed row, its row in the padded batch flattened to `(batch * time, ·)`.
    pub fn gather_index(&self, device: &Device) -> Result<Tensor> {
        let mut index = Vec::with_capacity(self.rows);
        for (t, &n) in self.batch_sizes.iter().enumerate() {
            index.extend(self.order[..n].iter().map(|&b| (b * self.time + t) as u32));
        }
        index_tensor(index, device)
    }

    /// The sorted position of each caller row, to put sorted per-row results back in order.
    pub fn unsort_index(&self, device: &Device) -> Result<Tensor> {
        index_tensor(self.position.iter().map(|&s| s as u32).collect(), device)
    }
}

pub(crate) fn index_tensor(indices: Vec<u32>, device: &Device) -> Result<Tensor> {
    let n = indices.len();
    Ok(Tensor::from_vec(indices, n, device)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_matches_pytorch_packing() {
        // pack_padded_sequence(lengths=[5, 3, 7], enforce_sorted=False): sorted_indices
        // [2, 0, 1], batch_sizes [3, 3, 3, 2, 2, 1, 1].
        let plan = PackPlan::new(&[5, 3, 7], 3, 7).unwrap();
        assert_eq!(plan.order, [2, 0, 1]);
        assert_eq!(plan.batch_sizes, [3, 3, 3, 2, 2, 1, 1]);
        assert_eq!(plan.offsets, [0, 3, 6, 9, 11, 13, 14]);
        assert_eq!(plan.rows, 15);
        assert_eq!(plan.packed_row(0, 4), Some(12));
        assert_eq!(plan.packed_row(1, 3), None);
        assert_eq!(plan.packed_row(2, 6), Some(14));
    }

    #[test]
    fn ties_keep_caller_order() {
        let plan = PackPlan::new(&[2, 4, 2, 4], 4, 6).unwrap();
        assert_eq!(plan.order, [1, 3, 0, 2]);
        assert_eq!(plan.batch_sizes, [4, 4, 2, 2]);
        assert_eq!(plan.max_len(), 4);
    }

    #[test]
    fn refuses_lengths_that_break_its_invariants() {
        for (lengths, batch, time) in [
            (&[][..], 0, 3),
            (&[0, 2][..], 2, 3),
            (&[4, 2][..], 2, 3),
            (&[1, 2][..], 3, 3),
        ] {
            assert!(PackPlan::new(lengths, batch, time).is_err(), "{lengths:?}");
        }
    }

    #[test]
    fn invariants_hold_for_every_small_batch() {
        // Every batch of up to 4 rows with lengths in 1..=4. A code whose digits past the
        // batch's are not all 0 repeats an earlier batch: Miri, which interprets each, skips it.
        for code in 0..(4usize.pow(4) * 4) {
            let batch = 1 + code % 4;
            if cfg!(miri) && code / 4 >= 4usize.pow(batch as u32) {
                continue;
            }
            let lengths: Vec<usize> = (0..batch)
                .map(|b| 1 + (code / 4 / 4usize.pow(b as u32)) % 4)
                .collect();
            let plan = PackPlan::new(&lengths, batch, 4).unwrap();
            let (sizes, offsets) = (plan.batch_sizes(), plan.offsets());
            assert_eq!(sizes.len(), *lengths.iter().max().unwrap());
            assert_eq!(offsets.len(), sizes.len());
            assert!(sizes.iter().all(|&n| (1..=batch).contains(&n)));
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]));
            assert!(offsets
                .iter()
                .zip(sizes)
                .all(|(&o, &n)| o + n <= plan.rows()));
            assert_eq!(plan.rows(), lengths.iter().sum::<usize>());
        }
    }
}
