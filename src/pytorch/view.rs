//! Tensors as PyTorch stores them: a strided view (offset, sizes, strides, in elements) of a
//! storage's bytes, turned into a contiguous candle tensor after every element the view can
//! address is checked to lie inside the storage, and within a budget on the bytes built.

use candle_core::{DType, Device, Tensor};

use crate::limits::{nonzero_product, Limits};

/// A strided view of a storage, in elements.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    pub offset: usize,
    pub size: &'a [usize],
    pub stride: &'a [usize],
}

impl View<'_> {
    /// How many elements the view has; an error if the product of its nonzero sizes, which
    /// its strides are, overflows ([`nonzero_product`]).
    pub(crate) fn numel(&self) -> Result<usize, String> {
        match nonzero_product(self.size) {
            Some(_) if self.size.contains(&0) => Ok(0),
            Some(n) => Ok(n),
            None => Err("its size overflows".to_string()),
        }
    }
}

/// The bytes all the tensors of one file may add up to: `limits.max_weights_bytes`, and at most
/// twice the file, so that a small file never expands into a huge allocation (views may
/// overlap, as when two names share a storage).
pub(crate) struct Budget {
    left: u64,
    cap: u64,
}

impl Budget {
    pub(crate) fn new(limits: &Limits, file_len: usize) -> Self {
        let cap = limits.max_weights_bytes.min(2 * file_len as u64);
        Self { left: cap, cap }
    }

    /// Takes `bytes` from the budget, or refuses them.
    fn take(&mut self, bytes: usize) -> Result<(), String> {
        self.left = self.left.checked_sub(bytes as u64).ok_or_else(|| {
            format!(
                "the tensors add up to more than {} bytes (twice the file, or max_weights_bytes \
                 if smaller)",
                self.cap
            )
        })?;
        Ok(())
    }
}

/// View `view` of `storage` (elements of `dtype`) as a contiguous CPU tensor. Its size is
/// checked against the storage and taken from `budget` before anything is allocated.
pub(crate) fn tensor(
    storage: &[u8],
    dtype: DType,
    view: View,
    budget: &mut Budget,
) -> Result<Tensor, String> {
    if view.size.len() != view.stride.len() {
        return Err(format!(
            "its view has {} sizes but {} strides",
            view.size.len(),
            view.stride.len()
        ));
    }
    let elem = dtype.size_in_bytes();
    let numel = view.numel()?;
    let storage_numel = storage.len() / elem;
    if numel > storage_numel {
        return Err(format!(
            "its view has {numel} elements, more than its storage's {storage_numel}: it is \
             expanded or reaches past its storage, and is not read (save it .contiguous())"
        ));
    }
    budget.take(numel * elem)?;
    let data = view_bytes(storage, elem, view)?;
    Tensor::from_raw_buffer(&data, dtype, view.size, &Device::Cpu).map_err(|e| e.to_string())
}

/// The elements of `view` of a storage of `elem`-byte elements, in C order, as bytes.
fn view_bytes(storage: &[u8], elem: usize, view: View) -> Result<Vec<u8>, String> {
    if view.size.contains(&0) {
        return Ok(Vec::new());
    }
    let numel = storage.len() / elem;
    let last = view
        .size
        .iter()
        .zip(view.stride)
        .try_fold(view.offset, |acc, (&n, &s)| {
            acc.checked_add((n - 1).checked_mul(s)?)
        })
        .filter(|&last| last < numel)
        .ok_or_else(|| {
            format!(
                "its view (offset {}, size {:?}, stride {:?}) reaches past its storage of {numel} \
                 elements",
                view.offset, view.size, view.stride
            )
        })?;
    let contiguous = {
        let mut expect = 1;
        let mut ok = true;
        for (&n, &s) in view.size.iter().zip(view.stride).rev() {
            ok &= n == 1 || s == expect;
            expect *= n;
        }
        ok
    };
    if contiguous {
        return Ok(storage[view.offset * elem..(last + 1) * elem].to_vec());
    }
    // A general strided view: walk its indices in C order.
    let count: usize = view.size.iter().product();
    let mut out = Vec::with_capacity(count * elem);
    let mut index = vec![0usize; view.size.len()];
    for _ in 0..count {
        let at = view.offset
            + index
                .iter()
                .zip(view.stride)
                .map(|(i, s)| i * s)
                .sum::<usize>();
        out.extend_from_slice(&storage[at * elem..(at + 1) * elem]);
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < view.size[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(out)
}
