//! Embedding lookups: `embedding` (rows gathered on the weight's device) and `embedding_bag`
//! with its `padding_idx` overload and `_embedding_bag` (bags reduced on the CPU in PyTorch's order: sums and means
//! accumulate in the weight's type, f32 for f16/bf16, one index after another).
//!
//! `embedding_bag` returns PyTorch's four tensors: the bags, `offset2bag`, `bag_size` and
//! `max_indices`, with the shapes and values PyTorch's CPU kernel gives (for mode `sum` the
//! last three are an empty tensor and zeros; for `mean` `max_indices` repeats `bag_size`).

use candle_core::{DType, Device, Tensor as CTensor};

use super::{ints_of, numel, script, value};
use crate::error::Result;
use crate::ops::registry::{Args, Builder, Ctx};
use crate::ops::tensor::Tensor;
use crate::ops::value::Value;
use crate::ops::ScalarType;

/// Registers the embedding operators.
pub(super) fn register(b: &mut Builder) {
    b.add(
        "aten::embedding(Tensor weight, Tensor indices, SymInt padding_idx=-1, bool scale_grad_by_freq=False, bool sparse=False) -> Tensor",
        embedding_op,
    );
    b.add(
        "aten::embedding_bag(Tensor weight, Tensor indices, Tensor offsets, bool scale_grad_by_freq=False, int mode=0, bool sparse=False, Tensor? per_sample_weights=None, bool include_last_offset=False) -> (Tensor, Tensor, Tensor, Tensor)",
        |cx, a| embedding_bag(cx, a, None),
    );
    b.add(
        "aten::embedding_bag.padding_idx(Tensor weight, Tensor indices, Tensor offsets, bool scale_grad_by_freq, int mode, bool sparse, Tensor? per_sample_weights, bool include_last_offset, int? padding_idx) -> (Tensor, Tensor, Tensor, Tensor)",
        |cx, a| embedding_bag(cx, a, a.opt_int(8)?),
    );
    // What the two above call (and what a Core ATen graph names): a negative padding_idx
    // here means none, not a row counted from the end.
    b.add(
        "aten::_embedding_bag(Tensor weight, Tensor indices, Tensor offsets, bool scale_grad_by_freq=False, int mode=0, bool sparse=False, Tensor? per_sample_weights=None, bool include_last_offset=False, int padding_idx=-1) -> (Tensor, Tensor, Tensor, Tensor)",
        |cx, a| {
            let padding_idx = a.int(8)?;
            embedding_bag(cx, a, (padding_idx >= 0).then_some(padding_idx))
        },
    );
}

/// The indices of `t` (int64 or int32), each checked to be a row of a table of `rows`.
fn checked_indices(t: &Tensor, rows: usize, op: &str) -> Result<Vec<i64>> {
    if !matches!(t.dtype(), ScalarType::Int64 | ScalarType::Int32) {
        return Err(script(format!(
            "Expected tensor for argument #1 'indices' to have one of the following scalar \
             types: Long, Int; but got {} instead (while checking arguments for {op})",
            t.dtype().name()
        )));
    }
    let indices = ints_of(t)?;
    if let Some((k, &bad)) = indices
        .iter()
        .enumerate()
        .find(|(_, &i)| i < 0 || i as u64 >= rows as u64)
    {
        return Err(script(format!(
            "index out of range in self: index {k} of the input takes value {bad}, which is not \
             in the valid range [0, {rows}) of the embedding table"
        )));
    }
    Ok(indices)
}

fn table(weight: &Tensor) -> Result<(usize, usize)> {
    match *weight.dims() {
        [rows, dim] => Ok((rows, dim)),
        _ => Err(script(format!(
            "'weight' must be 2-D, got shape {:?}",
            weight.dims()
        ))),
    }
}

fn embedding_op(cx: &Ctx, a: &Args) -> Result<Value> {
    let (weight, indices) = (a.tensor(0)?, a.tensor(1)?);
    let (rows, dim) = table(weight)?;
    let mut dims = indices.dims().to_vec();
    dims.push(dim);
    cx.check("aten::embedding", &dims)?;
    let ids = checked_indices(indices, rows, "embedding")?;
    let index = CTensor::from_vec(ids, indices.elem_count(), weight.device())?;
    let out = weight.inner().index_select(&index, 0)?.reshape(dims)?;
    Ok(Value::Tensor(Tensor::with_type(out, weight.dtype())?))
}

/// How a bag is reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Sum,
    Mean,
    Max,
}

/// The bags of an `embedding_bag` call: `bags[b] = (start, end)` into the indices, and the
/// bag each index belongs to.
struct Bags {
    ranges: Vec<(usize, usize)>,
    offset2bag: Vec<i64>,
}

/// PyTorch's bags from `offsets`: bag `b` runs from `offsets[b]` to `offsets[b + 1]` (the
/// last to the end of the indices, or, with `include_last_offset`, the last offset closing
/// the last bag).
fn bags(offsets: &[i64], len: usize, include_last: bool) -> Result<Bags> {
    if offsets.first().is_some_and(|&o| o != 0) {
        return Err(script(format!(
            "offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start \
             from position 0. However, got {}",
            offsets[0]
        )));
    }
    if let Some(&last) = offsets.last() {
        if last < 0 || last as u64 > len as u64 {
            return Err(script(format!(
                "offsets[-1] can not be greater than input's length {len} but got offsets[-1] \
                 of {last}"
            )));
        }
    }
    if offsets.windows(2).any(|w| w[1] < w[0]) {
        return Err(script(format!(
            "offsets must be non-decreasing, got {offsets:?}"
        )));
    }
    let count = if include_last {
        offsets.len().saturating_sub(1)
    } else {
        offsets.len()
    };
    let mut ranges = Vec::with_capacity(count);
    for b in 0..count {
        let start = offsets[b] as usize;
        let end = offsets.get(b + 1).map_or(len, |&o| o as usize);
        ranges.push((start, end));
    }
    // Every index belongs to the last bag starting at or before it (those past the last
    // offset with `include_last_offset` too, as in PyTorch).
    let mut offset2bag = vec![0i64; len];
    for (b, &(start, _)) in ranges.iter().enumerate() {
        for slot in offset2bag.iter_mut().skip(start) {
            *slot = b as i64;
        }
    }
    Ok(Bags { ranges, offset2bag })
}

fn embedding_bag(cx: &Ctx, a: &Args, padding_idx: Option<i64>) -> Result<Value> {
    let (weight, indices, offsets) = (a.tensor(0)?, a.tensor(1)?, a.tensor(2)?);
    let mode = match a.int(4)? {
        0 => Mode::Sum,
        1 => Mode::Mean,
        2 => Mode::Max,
        m => return Err(script(format!("embedding_bag: unknown mode {m}"))),
    };
    let (per_sample, include_last) = (a.opt_tensor(6)?, a.bool(7)?);
    let (rows, dim) = table(weight)?;
    if !weight.dtype().is_float() {
        return Err(script(format!(
            "embedding_bag: the weight must be floating-point, not {}",
            weight.dtype().name()
        )));
    }
    if indices.rank() != 1 || offsets.rank() != 1 {
        return Err(script(format!(
            "embedding_bag: expected 1-D indices and offsets, got shapes {:?} and {:?}",
            indices.dims(),
            offsets.dims()
        )));
    }
    let padding = match padding_idx {
        Some(p) if p < 0 => p.checked_add(rows as i64).filter(|&p| p >= 0),
        p => p,
    };
    let ids = checked_indices(indices, rows, "embedding_bag")?;
    let bags = bags(&ints_of(offsets)?, ids.len(), include_last)?;
    let count = bags.ranges.len();
    cx.check("aten::embedding_bag", &[count, dim])?;
    let weights = match per_sample {
        Some(_) if mode != Mode::Sum => {
            return Err(script(
                "embedding_bag: per_sample_weights only supported with mode='sum'",
            ))
        }
        Some(w) if w.dims() != [ids.len()] || w.dtype() != weight.dtype() => {
            return Err(script(format!(
                "embedding_bag: per_sample_weights must be a 1-D {} tensor of {} values, got \
                 {} of shape {:?}",
                weight.dtype().name(),
                ids.len(),
                w.dtype().name(),
                w.dims()
            )))
        }
        Some(w) => Some(floats(w)?),
        None => None,
    };
    let table = floats(weight)?;
    // f32 accumulates in f32, as do f16 and bf16 (PyTorch's accumulation type); f64 in f64.
    let single = weight.dtype() != ScalarType::Float64;
    let round = |x: f64| if single { x as f32 as f64 } else { x };
    let mut out = vec![0f64; numel(&[count, dim])?];
    let mut sizes = vec![0i64; count];
    let mut argmax = vec![0i64; if mode == Mode::Max { count * dim } else { 0 }];
    for (b, &(start, end)) in bags.ranges.iter().enumerate() {
        let row = &mut out[b * dim..(b + 1) * dim];
        for (k, &id) in ids.iter().enumerate().take(end).skip(start) {
            if Some(id) == padding {
                continue;
            }
            let src = &table[id as usize * dim..(id as usize + 1) * dim];
            let scale = weights.as_ref().map(|w| w[k]);
            for (j, (acc, &v)) in row.iter_mut().zip(src).enumerate() {
                match mode {
                    Mode::Max => {
                        if sizes[b] == 0 || v > *acc {
                            *acc = v;
                            argmax[b * dim + j] = id;
                        }
                    }
                    _ => *acc = round(*acc + round(scale.map_or(v, |s| round(s * v)))),
                }
            }
            sizes[b] += 1;
        }
    }
    if mode == Mode::Mean {
        // PyTorch counts the indices past the last offset into the last bag's size.
        if let (true, Some(last)) = (include_last, bags.ranges.last()) {
            let b = count - 1;
            let skipped = ids[last.1..]
                .iter()
                .filter(|&&id| Some(id) != padding)
                .count();
            sizes[b] += skipped as i64;
        }
        for (b, &n) in sizes.iter().enumerate() {
            if n > 0 {
                for v in &mut out[b * dim..(b + 1) * dim] {
                    *v = round(*v / n as f64);
                }
            }
        }
    }
    let device = weight.device();
    let bags_out = CTensor::from_vec(out, (count, dim), &Device::Cpu)?
        .to_dtype(weight.dtype().candle())?
        .to_device(device)?;
    let long = |v: Vec<i64>, shape: &[usize]| -> Result<Value> {
        value(CTensor::from_vec(v, shape, device)?)
    };
    let (offset2bag, bag_size, max_indices) = match mode {
        Mode::Sum => (
            long(vec![], &[0])?,
            long(vec![0; count], &[count])?,
            long(vec![0; count], &[count])?,
        ),
        Mode::Mean => (
            long(bags.offset2bag.clone(), &[ids.len()])?,
            long(sizes.clone(), &[count])?,
            long(sizes, &[count])?,
        ),
        Mode::Max => (
            long(bags.offset2bag.clone(), &[ids.len()])?,
            long(sizes, &[count])?,
            long(argmax, &[count, dim])?,
        ),
    };
    Ok(Value::tuple(vec![
        value(bags_out)?,
        offset2bag,
        bag_size,
        max_indices,
    ]))
}

/// A float tensor's elements as f64, on the CPU.
fn floats(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.inner()
        .flatten_all()?
        .to_dtype(DType::F64)?
        .to_device(&Device::Cpu)?
        .to_vec1::<f64>()?)
}

#[cfg(test)]
#[rustfmt::skip]
mod tests {
    use crate::ops::nn::testing::*;
    use crate::ops::Value;

    fn bag(mode: i64, include_last: bool, weights: Value, padding: Option<i64>) -> Vec<Value> {
        // torch.arange(12.).view(6, 2), indices [1, 2, 4, 5, 4, 3, 2, 0], offsets [0, 2, 2, 5]
        let w = arange_f32(&[6, 2]);
        let idx = t_i64(&[1, 2, 4, 5, 4, 3, 2, 0], &[8]);
        let off = t_i64(&[0, 2, 2, 5], &[4]);
        let mut args = vec![
            w,
            idx,
            off,
            Value::Bool(false),
            i(mode),
            Value::Bool(false),
            weights,
        ];
        args.push(Value::Bool(include_last));
        let r = match padding {
            Some(p) => {
                args.push(i(p));
                call("aten::embedding_bag.padding_idx", &args)
            }
            None => call("aten::embedding_bag", &args),
        };
        r.items().unwrap()
    }

    #[test]
    fn embedding_gathers_rows_and_names_a_bad_index() {
        let w = arange_f32(&[6, 2]);
        let y = call(
            "aten::embedding",
            &[w.clone(), t_i64(&[5, 0, 2, 2], &[2, 2])],
        );
        assert_eq!(dims(&y), [2, 2, 2]);
        assert_eq!(f32s(&y), [10., 11., 0., 1., 4., 5., 4., 5.]);
        let e = call_err("aten::embedding", &[w.clone(), t_i64(&[1, 7], &[2])]);
        assert!(
            e.contains("index out of range in self")
                && e.contains("value 7")
                && e.contains("[0, 6)"),
            "{e}"
        );
        let e = call_err("aten::embedding", &[w.clone(), t_i64(&[-1], &[1])]);
        assert!(e.contains("index out of range"), "{e}");
        let e = call_err("aten::embedding", &[w, t_f32(&[1.], &[1])]);
        assert!(e.contains("Long, Int"), "{e}");
    }

    #[test]
    fn embedding_bags_match_torch() {
        // Values from torch.embedding_bag (torch 2.15.0) on the inputs of `bag`.
        let r = bag(0, false, Value::None, None);
        assert_eq!(f32s(&r[0]), [6., 8., 0., 0., 26., 29., 10., 13.]);
        assert_eq!(
            (dims(&r[1]), i64s(&r[2]), i64s(&r[3])),
            (vec![0], vec![0; 4], vec![0; 4])
        );
        let r = bag(1, false, Value::None, None);
        close(
            &f32s(&r[0]),
            &[
                3., 4., 0., 0., 8.666666984558105, 9.666666984558105, 3.3333332538604736,
                4.333333492279053,
            ],
            0.0,
        );
        assert_eq!(i64s(&r[1]), [0, 0, 2, 2, 2, 3, 3, 3]);
        assert_eq!(
            (i64s(&r[2]), i64s(&r[3])),
            (vec![2, 0, 3, 3], vec![2, 0, 3, 3])
        );
        // include_last_offset: PyTorch divides the last bag by every index from its start.
        let r = bag(1, true, Value::None, None);
        close(
            &f32s(&r[0]),
            &[3., 4., 0., 0., 4.333333492279053, 4.833333492279053],
            0.0,
        );
        assert_eq!(
            (i64s(&r[1]), i64s(&r[2])),
            (vec![0, 0, 2, 2, 2, 2, 2, 2], vec![2, 0, 6])
        );
        let r = bag(2, false, Value::None, None);
        assert_eq!(f32s(&r[0]), [4., 5., 0., 0., 10., 11., 6., 7.]);
        assert_eq!(i64s(&r[3]), [2, 2, 0, 0, 5, 5, 3, 3]);
        assert_eq!(dims(&r[3]), [4, 2]);
        let weights = scale_f32(&arange_f32(&[8]), 0.25);
        let r = bag(0, false, weights, None);
        assert_eq!(f32s(&r[0]), [1., 1.25, 0., 0., 19.5, 21.75, 13.5, 18.]);
        // padding_idx=4 leaves its entries out of the bags and their sizes.
        let r = bag(1, false, Value::None, Some(4));
        close(
            &f32s(&r[0]),
            &[
                3., 4., 0., 0., 10., 11., 3.3333332538604736, 4.333333492279053,
            ],
            0.0,
        );
        assert_eq!(i64s(&r[2]), [2, 0, 1, 3]);
        let r = bag(2, false, Value::None, Some(4));
        assert_eq!(f32s(&r[0]), [4., 5., 0., 0., 10., 11., 6., 7.]);
    }

    #[test]
    fn embedding_bag_errors_are_pytorchs() {
        let w = arange_f32(&[6, 2]);
        let idx = t_i64(&[1, 2, 4, 5, 4, 3, 2, 0], &[8]);
        let e = call_err(
            "aten::embedding_bag",
            &[w.clone(), idx.clone(), t_i64(&[1, 2], &[2])],
        );
        assert!(e.contains("offsets[0] has to be 0"), "{e}");
        let e = call_err(
            "aten::embedding_bag",
            &[w.clone(), idx.clone(), t_i64(&[0, 9], &[2])],
        );
        assert!(
            e.contains("offsets[-1] can not be greater than input's length 8"),
            "{e}"
        );
        let e = call_err_kw(
            "aten::embedding_bag",
            &[w, idx, t_i64(&[0], &[1])],
            &[
                ("mode", i(1)),
                ("per_sample_weights", t_f32(&[1.; 8], &[8])),
            ],
        );
        assert!(
            e.contains("per_sample_weights only supported with mode='sum'"),
            "{e}"
        );
    }
}
