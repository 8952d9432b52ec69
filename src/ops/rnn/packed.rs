//! Packed sequences: [`Packing`] (a batch's `batch_sizes` and where each step's rows start),
//! `_pack_padded_sequence` and `_pad_packed_sequence`, and the LSTM run through the project's
//! [`MaskedLstm`], which takes a padded batch with lengths: packed rows are gathered into it
//! and its output gathered back, moves that change no value.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor as CTensor};
use candle_nn::VarBuilder;

use super::{script, Run, Stack};
use crate::error::Result;
use crate::lstm::MaskedLstm;
use crate::ops::registry::{Args, Ctx};
use crate::ops::shape::host;
use crate::ops::tensor::Tensor;
use crate::ops::value::Value;
use crate::ops::ScalarType;
use crate::weights::LstmConfig;

/// The layout of packed rows: step `t` holds `batch_sizes[t]` rows (never increasing), from
/// `offsets[t]`. The sequences running at a step are a prefix of the batch.
#[derive(Debug, Clone)]
pub(super) struct Packing {
    batch_sizes: Vec<usize>,
    offsets: Vec<usize>,
    rows: usize,
}

impl Packing {
    /// `batch` sequences of `time` steps each.
    pub(super) fn uniform(time: usize, batch: usize) -> Self {
        Self::from_sizes(vec![batch; time])
    }

    fn from_sizes(batch_sizes: Vec<usize>) -> Self {
        let mut offsets = Vec::with_capacity(batch_sizes.len());
        let mut rows = 0;
        for &n in &batch_sizes {
            offsets.push(rows);
            rows += n;
        }
        Self {
            batch_sizes,
            offsets,
            rows,
        }
    }

    /// From a `batch_sizes` tensor (int64, on the CPU, positive, never increasing) that must
    /// account for `rows` packed rows.
    pub(super) fn from_batch_sizes(t: &Tensor, rows: usize) -> Result<Self> {
        if t.dtype() != ScalarType::Int64 || t.rank() != 1 || !t.device().is_cpu() {
            return Err(script(format!(
                "batch_sizes must be a 1-D int64 tensor on the CPU, got {} of shape {:?} on \
                 {:?}",
                t.dtype().name(),
                t.dims(),
                t.device()
            )));
        }
        let sizes = ints(t)?;
        if sizes.is_empty()
            || sizes.iter().any(|&n| n <= 0)
            || sizes.windows(2).any(|w| w[1] > w[0])
        {
            return Err(script(format!(
                "batch_sizes must be positive and never increasing, got {sizes:?}"
            )));
        }
        let sizes: Vec<usize> = sizes.into_iter().map(|n| n as usize).collect();
        let packing = Self::from_sizes(sizes);
        if packing.rows != rows {
            return Err(script(format!(
                "batch_sizes account for {} packed rows, the data has {rows}",
                packing.rows
            )));
        }
        Ok(packing)
    }

    pub(super) fn batch_sizes(&self) -> &[usize] {
        &self.batch_sizes
    }

    pub(super) fn offsets(&self) -> &[usize] {
        &self.offsets
    }

    /// Packed rows in all.
    pub(super) fn rows(&self) -> usize {
        self.rows
    }

    /// Steps: the longest sequence's length.
    pub(super) fn steps(&self) -> usize {
        self.batch_sizes.len()
    }

    /// Sequences: the rows of the first step.
    pub(super) fn batch(&self) -> usize {
        self.batch_sizes[0]
    }

    /// Each sequence's length (never increasing).
    fn lengths(&self) -> Vec<usize> {
        (0..self.batch())
            .map(|b| self.batch_sizes.iter().take_while(|&&n| n > b).count())
            .collect()
    }

    /// For each `(b, t)` of the padded `(batch, time)` grid (`(time, batch)` when
    /// `time_major`; `time` at least the steps), its packed row, or [`host::FILL`] past the
    /// sequence's end.
    fn padded_rows(&self, time: usize, time_major: bool) -> impl Iterator<Item = usize> + '_ {
        let batch = self.batch();
        (0..time * batch).map(move |k| {
            let (b, t) = if time_major {
                (k % batch, k / batch)
            } else {
                (k / time, k % time)
            };
            match (self.batch_sizes.get(t), self.offsets.get(t)) {
                (Some(&n), Some(&o)) if b < n => o + b,
                _ => host::FILL,
            }
        })
    }

    /// For each `(b, t)` of the padded `(batch, steps)` grid, its packed row, or `rows` (one
    /// past the last: a zero or padding row appended by the caller) past the sequence's end.
    fn padded_index(&self, time_major: bool) -> Vec<u32> {
        let (batch, steps) = (self.batch(), self.steps());
        let at = |b: usize, t: usize| {
            if b < self.batch_sizes[t] {
                (self.offsets[t] + b) as u32
            } else {
                self.rows as u32
            }
        };
        if time_major {
            (0..steps)
                .flat_map(|t| (0..batch).map(move |b| at(b, t)))
                .collect()
        } else {
            (0..batch)
                .flat_map(|b| (0..steps).map(move |t| at(b, t)))
                .collect()
        }
    }
}

/// The values of an integer tensor, read in place when it is contiguous on the CPU.
fn ints(t: &Tensor) -> Result<Vec<i64>> {
    match host::ints(t.inner()) {
        Some(v) => Ok(v),
        None => super::super::nn::ints_of(t),
    }
}

/// Whether `fill` converts to `dtype` exactly (for a float type, whatever it is: it is
/// rounded as candle rounds it), so that a host copy fills with what the candle path fills.
fn fills_exactly(fill: f64, dtype: ScalarType) -> bool {
    match dtype {
        d if d.is_float() => true,
        ScalarType::Bool => fill == 0.0 || fill == 1.0,
        ScalarType::UInt8 => fill == f64::from(fill as u8),
        ScalarType::Int16 => fill == f64::from(fill as i16),
        ScalarType::Int32 => fill == f64::from(fill as i32),
        _ => fill == (fill as i64) as f64 && fill.abs() < 9.0e18,
    }
}

fn index(v: Vec<u32>, device: &Device) -> Result<CTensor> {
    let n = v.len();
    Ok(CTensor::from_vec(v, n, device)?)
}

/// Packed rows `x` `(rows, F)` as a padded `(batch, steps, F)` batch (or time-major), each
/// sequence's steps past its end filled with `fill`.
fn pad(x: &CTensor, packing: &Packing, time_major: bool, fill: f64) -> Result<CTensor> {
    let features = x.dim(1)?;
    let extra = CTensor::full(fill, (1, features), x.device())?.to_dtype(x.dtype())?;
    let rows = CTensor::cat(&[x, &extra], 0)?;
    let picked = rows.index_select(&index(packing.padded_index(time_major), x.device())?, 0)?;
    let (b, t) = (packing.batch(), packing.steps());
    let dims = if time_major {
        (t, b, features)
    } else {
        (b, t, features)
    };
    Ok(picked.reshape(dims)?)
}

/// `stack`'s config and weights named as a `state_dict` names them, for [`MaskedLstm::load`].
fn lstm_weights(stack: &Stack) -> (LstmConfig, HashMap<String, CTensor>) {
    let config = LstmConfig {
        input_size: stack.input_size,
        hidden_size: stack.hidden,
        proj_size: if stack.h_out != stack.hidden {
            stack.h_out
        } else {
            0
        },
        num_layers: stack.layers,
        bidirectional: stack.directions == 2,
        bias: stack.has_biases,
    };
    let mut tensors = HashMap::new();
    for (k, w) in stack.weights.iter().enumerate() {
        let suffix = if k % stack.directions == 1 {
            "_reverse"
        } else {
            ""
        };
        let name = |s: &str| format!("{s}_l{}{suffix}", k / stack.directions);
        tensors.insert(name("weight_ih"), w.w_ih.clone());
        tensors.insert(name("weight_hh"), w.w_hh.clone());
        for (t, s) in [
            (&w.b_ih, "bias_ih"),
            (&w.b_hh, "bias_hh"),
            (&w.w_hr, "weight_hr"),
        ] {
            if let Some(t) = t {
                tensors.insert(name(s), t.clone());
            }
        }
    }
    (config, tensors)
}

/// The project's [`MaskedLstm`] of `stack`'s weights, computing in `dtype` on `device`.
pub(super) fn masked_kernel(
    cx: &Ctx,
    stack: &Stack,
    dtype: DType,
    device: &Device,
) -> Result<std::sync::Arc<MaskedLstm>> {
    // The weights by name and the config are built only when the kernel is (once per program
    // when its weights are constants).
    let make = || -> Result<MaskedLstm> {
        let (config, tensors) = lstm_weights(stack);
        let vb = VarBuilder::from_tensors(tensors, dtype, device);
        Ok(MaskedLstm::load(vb, &config)?.with_limits(*cx.limits))
    };
    // The kernel's weights are laid out once per program when they are its constants.
    Ok(match cx.constants {
        Some(c) => {
            let op = match dtype {
                DType::F64 => "aten::lstm (f64)",
                _ => "aten::lstm (f32)",
            };
            let weights: Vec<Option<&CTensor>> = stack
                .weights
                .iter()
                .flat_map(|w| {
                    [Some(&w.w_ih), Some(&w.w_hh)].into_iter().chain([
                        w.b_ih.as_ref(),
                        w.b_hh.as_ref(),
                        w.w_hr.as_ref(),
                    ])
                })
                .collect();
            c.prepared(op, &weights, make)?
        }
        None => std::sync::Arc::new(make()?),
    })
}

/// The LSTM of `stack` (zero initial states) on the project's [`MaskedLstm`].
pub(super) fn masked_lstm(cx: &Ctx, stack: &Stack, packing: &Packing, x: &CTensor) -> Result<Run> {
    let lstm = masked_kernel(cx, stack, x.dtype(), x.device())?;
    // The rows are packed already, sorted by length: the kernel steps them as they are.
    let (output, h_n, c_n) = lstm.forward_rows(x, &packing.lengths())?;
    Ok(Run {
        output,
        h_n,
        c_n: Some(c_n),
    })
}

/// `_pack_padded_sequence(input, lengths, batch_first)`: the rows of each step, sequences
/// sorted by length (the caller sorts), and `batch_sizes`.
pub(super) fn pack_padded_op(cx: &Ctx, a: &Args) -> Result<Value> {
    let (input, lengths, batch_first) = (a.tensor(0)?, a.tensor(1)?, a.bool(2)?);
    if lengths.dtype() != ScalarType::Int64 || lengths.rank() != 1 || !lengths.device().is_cpu() {
        return Err(script(format!(
            "'lengths' argument should be a 1D CPU int64 tensor, but got {}D {:?} {} tensor",
            lengths.rank(),
            lengths.device(),
            lengths.dtype().name()
        )));
    }
    if input.rank() < 2 {
        return Err(script(format!(
            "the padded input must have at least 2 dims, got shape {:?}",
            input.dims()
        )));
    }
    let x = if batch_first {
        input.inner().transpose(0, 1)?
    } else {
        input.inner().clone()
    };
    let (time, batch) = (x.dim(0)?, x.dim(1)?);
    let lengths = ints(lengths)?;
    if lengths.len() != batch {
        return Err(script(format!(
            "Expected `len(lengths)` to be equal to batch_size, but got {} (batch_size={batch})",
            lengths.len()
        )));
    }
    if lengths.iter().any(|&l| l <= 0) {
        return Err(script(
            "Length of all samples has to be greater than 0, but found an element in 'lengths' \
             that is <= 0",
        ));
    }
    if lengths.windows(2).any(|w| w[1] > w[0]) {
        return Err(script(
            "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. \
             You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to \
             sidestep this requirement if you do not need ONNX exportability.",
        ));
    }
    if lengths[0] as u64 > time as u64 {
        return Err(script(format!(
            "a length ({}) is longer than the padded input's {time} steps",
            lengths[0]
        )));
    }
    let sizes: Vec<usize> = (0..lengths[0] as usize)
        .map(|t| lengths.iter().take_while(|&&l| l as usize > t).count())
        .collect();
    let packing = Packing::from_sizes(sizes.clone());
    let mut dims = x.dims().to_vec();
    let features: usize = dims[2..].iter().product();
    dims.splice(0..2, [packing.rows]);
    cx.check("aten::_pack_padded_sequence", &dims)?;
    // Row `t · batch + b` of the time-major input (`b · time + t` of a batch-first one).
    let row = |t: usize, b: usize| {
        if batch_first {
            b * time + t
        } else {
            t * batch + b
        }
    };
    let picked = sizes
        .iter()
        .enumerate()
        .flat_map(|(t, &n)| (0..n).map(move |b| row(t, b)));
    let data = match host::gather_rows(input.inner(), features, picked, 0.0, &dims) {
        Some(data) => data?,
        None => {
            let rows = x.contiguous()?.reshape((time * batch, features))?;
            let picked: Vec<u32> = sizes
                .iter()
                .enumerate()
                .flat_map(|(t, &n)| (0..n).map(move |b| (t * batch + b) as u32))
                .collect();
            rows.index_select(&index(picked, x.device())?, 0)?
                .reshape(dims)?
        }
    };
    let sizes: Vec<i64> = sizes.iter().map(|&n| n as i64).collect();
    let n = sizes.len();
    Ok(Value::tuple(vec![
        Value::Tensor(Tensor::with_type(data, input.dtype())?),
        Value::Tensor(Tensor::new(CTensor::from_vec(sizes, n, &Device::Cpu)?)?),
    ]))
}

/// `_pad_packed_sequence(data, batch_sizes, batch_first, padding_value, total_length)`: the
/// padded batch (at least `total_length` steps) and each sequence's length (int64).
pub(super) fn pad_packed_op(cx: &Ctx, a: &Args) -> Result<Value> {
    let (data, sizes) = (a.tensor(0)?, a.tensor(1)?);
    let (batch_first, fill, total) = (a.bool(2)?, a.scalar(3)?, a.int(4)?);
    if data.rank() < 1 {
        return Err(script("packed data must have at least 1 dim"));
    }
    let packing = Packing::from_batch_sizes(sizes, data.dims()[0])?;
    let steps = packing.steps();
    if total > 0 && (total as u64) < steps as u64 {
        return Err(script(format!(
            "Expected total_length to be at least the length of the longest sequence in input, \
             but got total_length={total} and max sequence length being {steps}"
        )));
    }
    let time = if total > 0 { total as usize } else { steps };
    let trailing = data.dims()[1..].to_vec();
    let features: usize = trailing.iter().product();
    let batch = packing.batch();
    let mut dims = if batch_first {
        vec![batch, time]
    } else {
        vec![time, batch]
    };
    dims.extend(&trailing);
    cx.check("aten::_pad_packed_sequence", &dims)?;
    let dtype = data.dtype();
    let lengths: Vec<i64> = packing.lengths().iter().map(|&l| l as i64).collect();
    let lengths = Tensor::new(CTensor::from_vec(lengths, batch, &Device::Cpu)?)?;
    if fills_exactly(fill.f64(), dtype) {
        let rows = packing.padded_rows(time, !batch_first);
        if let Some(out) = host::gather_rows(data.inner(), features, rows, fill.f64(), &dims) {
            let out = Tensor::with_type(out?, dtype)?;
            return Ok(Value::tuple(vec![
                Value::Tensor(out),
                Value::Tensor(lengths),
            ]));
        }
    }
    // Pad integers and bools in i64, which holds them and an integral fill exactly.
    let work = if dtype.is_float() {
        dtype.candle()
    } else {
        DType::I64
    };
    let x = data
        .inner()
        .to_dtype(work)?
        .reshape((packing.rows, features))?;
    let mut padded = pad(&x, &packing, !batch_first, fill.f64())?;
    if time > steps {
        let axis = if batch_first { 1 } else { 0 };
        let mut extra = padded.dims().to_vec();
        extra[axis] = time - steps;
        let more = CTensor::full(fill.f64(), extra.as_slice(), x.device())?.to_dtype(work)?;
        padded = CTensor::cat(&[&padded, &more], axis)?;
    }
    let out = padded.reshape(dims)?;
    let out = Tensor::new(out)?.to_dtype(dtype)?;
    Ok(Value::tuple(vec![
        Value::Tensor(out),
        Value::Tensor(lengths),
    ]))
}
