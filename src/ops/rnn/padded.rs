//! An LSTM from zero states over padded sequences of any lengths, in one pass: what
//! `pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)`, `nn.LSTM` and
//! `pad_packed_sequence(..., batch_first=True)` compute through seventeen operators (sort,
//! `index_select`, `_pack_padded_sequence`, the inverse order, the zero states, `lstm.data`,
//! `_pad_packed_sequence` and three more `index_select`s), for the TorchScript traces'
//! fusion (`crate::script`).
//!
//! The sequences are sorted by length as `aten::sort` sorts them (stably, longest first),
//! their rows packed as `_pack_padded_sequence` packs them, and run on the same
//! [`MaskedLstm`] `lstm.data` runs; the output and states are then copied straight into the
//! caller's order. Every step moves the bits the operators move, so the results are theirs.

use std::sync::{Arc, OnceLock};

use candle_core::{DType, Device, Tensor as CTensor};

use super::packed::masked_kernel;
use super::steps::Cell;
use super::{Common, Stack};
use crate::error::Result;
use crate::lstm::MaskedLstm;
use crate::ops::registry::Ctx;
use crate::ops::shape::host::{self, FILL};
use crate::ops::tensor::Tensor;
use crate::ops::ScalarType;

/// Where a fused step keeps its LSTM kernel: set on its first run where the weights are the
/// program's constants.
pub(crate) type LstmCache = OnceLock<Arc<MaskedLstm>>;

/// What the recorded code fixed: `lstm.data`'s arguments other than tensors, the zero states'
/// shapes and type, and `_pad_packed_sequence`'s.
#[derive(Debug, Clone)]
pub(crate) struct PaddedLstm {
    pub(crate) has_biases: bool,
    pub(crate) layers: i64,
    pub(crate) dropout: f64,
    pub(crate) train: bool,
    pub(crate) bidirectional: bool,
    /// The states' first dim (layers × directions).
    pub(crate) cells: i64,
    /// `c0`'s last dim.
    pub(crate) hidden: i64,
    /// `h0`'s last dim (the projection's size, else `hidden`).
    pub(crate) h_out: i64,
    /// The states' type, as a PyTorch dtype code.
    pub(crate) state_dtype: i64,
    /// `padding_value`.
    pub(crate) fill: f64,
    /// `total_length`.
    pub(crate) total: i64,
    /// Whether the output is the padded output's last step alone (`[:, -1, :]`).
    pub(crate) last: bool,
}

/// `[output, h_n, c_n, lengths]`, those `wanted`, for an f32 `x` `[batch, time, features]` and int64
/// `lengths` `[batch]`, both contiguous on the CPU, every length in `1..=time`: `output`
/// `[batch, max(lengths) or total, directions · h_out]` (or its last step, `[batch,
/// directions · h_out]`, where `spec.last`), the states `[cells, batch, *]`, all in the
/// caller's order. `None` where that does not hold (the operators then run one by one,
/// and give their errors).
pub(crate) fn padded_lstm(
    cx: &Ctx,
    x: &Tensor,
    lengths: &Tensor,
    params: &[Tensor],
    spec: &PaddedLstm,
    wanted: [bool; 4],
    cache: Option<&LstmCache>,
) -> Result<Option<[Option<Tensor>; 4]>> {
    let f32_code = ScalarType::Float32.code();
    let &[batch, time, features] = x.dims() else {
        return Ok(None);
    };
    let directions = if spec.bidirectional { 2 } else { 1 };
    let fits = x.dtype() == ScalarType::Float32
        && x.device().is_cpu()
        && batch * time * features > 0
        && lengths.dtype() == ScalarType::Int64
        && lengths.dims() == [batch]
        && spec.state_dtype == f32_code
        && spec.layers >= 1
        && spec.cells == spec.layers * directions as i64
        && 0 < spec.h_out
        && spec.h_out <= spec.hidden
        && !(spec.train && spec.dropout > 0.0 && spec.layers > 1);
    if !fits {
        return Ok(None);
    }
    let Some(lens) = host::ints(lengths.inner()) else {
        return Ok(None);
    };
    if lens.iter().any(|&l| l < 1 || l > time as i64) {
        return Ok(None);
    }
    let lens: Vec<usize> = lens.iter().map(|&l| l as usize).collect();
    // `sort(lengths, descending=True)`: stable, longest first.
    let mut order: Vec<usize> = (0..batch).collect();
    order.sort_by(|&a, &b| lens[b].cmp(&lens[a]));
    let mut rank = vec![0; batch];
    for (i, &b) in order.iter().enumerate() {
        rank[b] = i;
    }
    let sorted: Vec<usize> = order.iter().map(|&b| lens[b]).collect();
    let steps = sorted[0];
    let (mut offsets, mut rows) = (Vec::with_capacity(steps), 0);
    for t in 0..steps {
        offsets.push(rows);
        rows += sorted.iter().take_while(|&&l| l > t).count();
    }
    let out_time = match usize::try_from(spec.total) {
        Ok(total) if total > 0 && total < steps => return Ok(None),
        Ok(total) if total > 0 => total,
        _ => steps,
    };
    let (hidden, h_out) = (spec.hidden as usize, spec.h_out as usize);
    let width = directions * h_out;
    cx.check("aten::_pack_padded_sequence", &[rows, features])?;
    cx.check(
        "the recurrent layer's gates",
        &[rows, directions * 4 * hidden],
    )?;
    cx.check("the recurrent layer's output", &[rows, width])?;
    cx.check("aten::_pad_packed_sequence", &[batch, out_time, width])?;
    // `_pack_padded_sequence` of the sorted batch: step by step, each sequence still running.
    let picked = offsets.iter().enumerate().flat_map(|(t, &o)| {
        let running = offsets.get(t + 1).unwrap_or(&rows) - o;
        order[..running].iter().map(move |&b| b * time + t)
    });
    let Some(data) = host::gather_rows(x.inner(), features, picked, 0.0, &[rows, features]) else {
        return Ok(None);
    };
    let data = data?;
    let lstm = match cache.and_then(OnceLock::get) {
        Some(lstm) => lstm.clone(),
        None => {
            let common = Common {
                has_biases: spec.has_biases,
                layers: spec.layers as usize,
                bidirectional: spec.bidirectional,
            };
            let stack = Stack::new(Cell::Lstm, params, &common, x, hidden, h_out)?;
            let lstm = masked_kernel(cx, &stack, DType::F32, &Device::Cpu)?;
            if let Some(cache) = cache {
                let _ = cache.set(lstm.clone());
            }
            lstm
        }
    };
    let (packed, h_n, c_n) = lstm.forward_rows(&data, &sorted)?;
    // `_pad_packed_sequence`, then `index_select` of the caller's order, in one copy.
    let (offsets, rank) = (&offsets, &rank);
    let output = if wanted[0] {
        let steps = if spec.last {
            out_time - 1..out_time
        } else {
            0..out_time
        };
        let padded = (0..batch).flat_map(|b| {
            let (r, l) = (rank[b], lens[b]);
            steps
                .clone()
                .map(move |t| if t < l { offsets[t] + r } else { FILL })
        });
        let dims: &[usize] = if spec.last {
            &[batch, width]
        } else {
            &[batch, out_time, width]
        };
        match host::gather_rows(&packed, width, padded, spec.fill, dims) {
            Some(t) => Some(Tensor::new(t?)?),
            None => return Ok(None),
        }
    } else {
        None
    };
    let cells = spec.cells as usize;
    let state = |want: bool, t: &CTensor, size: usize| -> Result<Option<Option<Tensor>>> {
        if !want {
            return Ok(Some(None));
        }
        let rows = (0..cells).flat_map(|l| rank.iter().map(move |&r| l * batch + r));
        Ok(
            match host::gather_rows(t, size, rows, 0.0, &[cells, batch, size]) {
                Some(t) => Some(Some(Tensor::new(t?)?)),
                None => None,
            },
        )
    };
    let (Some(h_n), Some(c_n)) = (
        state(wanted[1], &h_n, h_out)?,
        state(wanted[2], &c_n, hidden)?,
    ) else {
        return Ok(None);
    };
    let lengths = if wanted[3] {
        let lens: Vec<i64> = lens.iter().map(|&l| l as i64).collect();
        Some(Tensor::new(CTensor::from_vec(lens, batch, &Device::Cpu)?)?)
    } else {
        None
    };
    Ok(Some([output, h_n, c_n, lengths]))
}
