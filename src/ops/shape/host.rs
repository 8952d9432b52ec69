//! Host loops for small CPU tensors: rows copied out of a contiguous CPU tensor's slice into
//! one new buffer (`index_select`, `index`, packing and padding sequences), elements written
//! into a copy (`scatter`), and the int64 values of an index tensor read in place.
//!
//! candle's `index_select` and `scatter` take an index tensor, a contiguous copy and a layout
//! walk per call, which costs more than the copy itself on the few hundred elements small
//! models pass, and a row-by-row `memcpy` is what their large calls need. Each function here
//! returns `None` where it does not apply (another device, a strided view, a type it does not
//! hold), and the caller then takes its candle path; where it applies it moves the same bits.

use candle_core::{CpuStorage, Device, Storage, Tensor as CT, WithDType};

use crate::error::{Error, Result};
use crate::limits::nonzero_product;

/// In a row plan, a row of the fill value rather than a row of the source.
pub(in crate::ops) const FILL: usize = usize::MAX;

/// `body` on the contiguous elements (a slice named `$s`) of a CPU storage of any type
/// candle's CPU tensors hold in PyTorch's types; `None` for the others.
macro_rules! on_elements {
    ($cpu:expr, $range:expr, |$s:ident| $body:expr) => {
        match $cpu {
            candle_core::CpuStorage::U8(v) => v.get($range).map(|$s| $body),
            candle_core::CpuStorage::U32(v) => v.get($range).map(|$s| $body),
            candle_core::CpuStorage::I16(v) => v.get($range).map(|$s| $body),
            candle_core::CpuStorage::I32(v) => v.get($range).map(|$s| $body),
            candle_core::CpuStorage::I64(v) => v.get($range).map(|$s| $body),
            candle_core::CpuStorage::BF16(v) => v.get($range).map(|$s| $body),
            candle_core::CpuStorage::F16(v) => v.get($range).map(|$s| $body),
            candle_core::CpuStorage::F32(v) => v.get($range).map(|$s| $body),
            candle_core::CpuStorage::F64(v) => v.get($range).map(|$s| $body),
            _ => None,
        }
    };
}
pub(in crate::ops) use on_elements;

/// The range of a CPU tensor's elements in its storage, if they are contiguous.
pub(in crate::ops) fn cpu_range(t: &CT) -> Option<std::ops::Range<usize>> {
    if !t.device().is_cpu() {
        return None;
    }
    let (start, end) = t.layout().contiguous_offsets()?;
    Some(start..end)
}

/// The values of a contiguous int64 or int32 CPU tensor, in row-major order.
pub(in crate::ops) fn ints(t: &CT) -> Option<Vec<i64>> {
    let range = cpu_range(t)?;
    let (storage, _) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        return None;
    };
    match cpu {
        CpuStorage::I64(v) => v.get(range).map(<[i64]>::to_vec),
        CpuStorage::I32(v) => v
            .get(range)
            .map(|s| s.iter().map(|&x| i64::from(x)).collect()),
        _ => None,
    }
}

/// The values of a contiguous int64 CPU tensor as `u32`s, each checked to be in `0..classes`
/// (`Some(None)` where one is not); `None` where `t` is not such a tensor.
pub(in crate::ops) fn categories(t: &CT, classes: i64) -> Option<Option<Vec<u32>>> {
    let range = cpu_range(t)?;
    let (storage, _) = t.storage_and_layout();
    let Storage::Cpu(CpuStorage::I64(v)) = &*storage else {
        return None;
    };
    let v = v.get(range)?;
    // Two plain passes, which vectorise (one collecting `Option`s does not).
    if v.iter().any(|&c| c < 0 || c >= classes) {
        return Some(None);
    }
    Some(Some(v.iter().map(|&c| c as u32).collect()))
}

/// A new CPU tensor of shape `dims` made of rows of `width` elements: row `r` of `t` (its
/// elements `r · width ..`) for each `r` of `rows`, a row of `fill` (converted to `t`'s type;
/// the caller checks that it converts exactly) for [`FILL`]. `None` where `t` is not a
/// contiguous CPU tensor; an error for a row past `t`'s end, or rows that do not make `dims`.
pub(in crate::ops) fn gather_rows(
    t: &CT,
    width: usize,
    rows: impl IntoIterator<Item = usize>,
    fill: f64,
    dims: &[usize],
) -> Option<Result<CT>> {
    let range = cpu_range(t)?;
    let (storage, _) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        return None;
    };
    on_elements!(cpu, range, |s| copy_rows(s, width, rows, fill, dims))
}

fn copy_rows<T: WithDType>(
    src: &[T],
    width: usize,
    rows: impl IntoIterator<Item = usize>,
    fill: f64,
    dims: &[usize],
) -> Result<CT> {
    let fill = T::from_f64(fill);
    // The caller has checked `dims` against the limits.
    let mut out = Vec::with_capacity(nonzero_product(dims).unwrap_or(0));
    for r in rows {
        if r == FILL {
            out.resize(out.len() + width, fill);
            continue;
        }
        let row = r
            .checked_mul(width)
            .and_then(|a| src.get(a..a.checked_add(width)?))
            .ok_or_else(|| Error::Script(format!("row {r} is past the tensor's end")))?;
        out.extend_from_slice(row);
    }
    Ok(CT::from_vec(out, dims, &Device::Cpu)?)
}

/// A copy of `t` (contiguous, on the CPU) with element `positions[i]` set to element
/// `from[i]` of `src` (contiguous, on the CPU, of `t`'s type), in order: the last write to a
/// position wins. `None` where it does not apply; an error for a position out of range.
pub(in crate::ops) fn scatter_elements(
    t: &CT,
    positions: &[i64],
    src: &CT,
    from: &[i64],
) -> Option<Result<CT>> {
    if t.dtype() != src.dtype() {
        return None;
    }
    let (range, src_range) = (cpu_range(t)?, cpu_range(src)?);
    let (storage, _) = t.storage_and_layout();
    let (src_storage, _) = src.storage_and_layout();
    let (Storage::Cpu(cpu), Storage::Cpu(src_cpu)) = (&*storage, &*src_storage) else {
        return None;
    };
    macro_rules! pair {
        ($($v:ident),*) => {
            match (cpu, src_cpu) {
                $((CpuStorage::$v(a), CpuStorage::$v(b)) => {
                    let (a, b) = (a.get(range)?, b.get(src_range)?);
                    Some(write_elements(a, positions, b, from, t.dims()))
                })*
                _ => None,
            }
        };
    }
    pair!(U8, U32, I16, I32, I64, BF16, F16, F32, F64)
}

fn write_elements<T: WithDType>(
    t: &[T],
    positions: &[i64],
    src: &[T],
    from: &[i64],
    dims: &[usize],
) -> Result<CT> {
    let mut out = t.to_vec();
    for (&p, &q) in positions.iter().zip(from) {
        let v = usize::try_from(q).ok().and_then(|q| src.get(q));
        let slot = usize::try_from(p).ok().and_then(|p| out.get_mut(p));
        match (slot, v) {
            (Some(slot), Some(&v)) => *slot = v,
            _ => return Err(Error::Script(format!("scatter position {p} out of range"))),
        }
    }
    Ok(CT::from_vec(out, dims, &Device::Cpu)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_copied_and_filled() {
        let t = CT::arange(0i64, 6, &Device::Cpu).unwrap();
        let out = gather_rows(&t, 2, [2, FILL, 0], 9.0, &[3, 2])
            .unwrap()
            .unwrap();
        assert_eq!(
            out.to_vec2::<i64>().unwrap(),
            vec![vec![4, 5], vec![9, 9], vec![0, 1]]
        );
        assert!(gather_rows(&t, 2, [3], 0.0, &[1, 2]).unwrap().is_err());
        // A strided view is not handled.
        let m = t.reshape((2, 3)).unwrap().t().unwrap();
        assert!(gather_rows(&m, 1, [0], 0.0, &[1]).is_none());
        assert_eq!(ints(&t).unwrap(), vec![0, 1, 2, 3, 4, 5]);
        assert!(ints(&m).is_none());
    }

    #[test]
    fn categories_are_read_in_place_and_checked() {
        let t = CT::new(&[2i64, 0, 1], &Device::Cpu).unwrap();
        assert_eq!(categories(&t, 3), Some(Some(vec![2, 0, 1])));
        assert_eq!(categories(&t, 2), Some(None));
        let negative = CT::new(&[-1i64], &Device::Cpu).unwrap();
        assert_eq!(categories(&negative, 3), Some(None));
        // Another type, or a strided view, is not handled.
        let narrow = CT::new(&[1u32], &Device::Cpu).unwrap();
        assert_eq!(categories(&narrow, 3), None);
        let m = CT::arange(0i64, 6, &Device::Cpu)
            .unwrap()
            .reshape((2, 3))
            .unwrap();
        assert_eq!(categories(&m.t().unwrap(), 6), None);
    }

    #[test]
    fn scattered_elements_last_write_wins() {
        let t = CT::zeros(4, candle_core::DType::F32, &Device::Cpu).unwrap();
        let src = CT::new(&[1f32, 2., 3.], &Device::Cpu).unwrap();
        let out = scatter_elements(&t, &[3, 0, 3], &src, &[0, 1, 2])
            .unwrap()
            .unwrap();
        assert_eq!(out.to_vec1::<f32>().unwrap(), vec![2., 0., 0., 3.]);
        assert!(scatter_elements(&t, &[4], &src, &[0]).unwrap().is_err());
        let ints = CT::zeros(4, candle_core::DType::I64, &Device::Cpu).unwrap();
        assert!(scatter_elements(&ints, &[0], &src, &[0]).is_none());
    }
}
