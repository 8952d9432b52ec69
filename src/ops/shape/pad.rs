//! Reflection and replication padding: `reflection_pad1d`, `reflection_pad2d`,
//! `reflection_pad3d`, `replication_pad1d`, `replication_pad2d`, `replication_pad3d` (and
//! `pad` in its `"reflect"` and `"replicate"` modes, in [`super::misc`]), with PyTorch's checks
//! and messages.
//!
//! PyTorch's kernels find each output element's input element one padded dim at a time, so
//! each padded dim here is a map from output to input positions (PyTorch's formula, negative
//! padding cropping), applied with candle's `index_select`: it runs on every device.

use super::err;
use crate::error::Result;
use crate::ops::creation::zeros_of;
use crate::ops::dtype::ScalarType;
use crate::ops::registry::{Args, Builder, Ctx};
use crate::ops::tensor::Tensor;
use crate::ops::value::Value;

/// Registers the padding operators.
pub(super) fn register(b: &mut Builder) {
    b.add(
        "aten::reflection_pad1d(Tensor self, SymInt[2] padding) -> Tensor",
        |cx, a| op(cx, a, 1, Mode::Reflect),
    );
    b.add(
        "aten::reflection_pad2d(Tensor self, SymInt[4] padding) -> Tensor",
        |cx, a| op(cx, a, 2, Mode::Reflect),
    );
    b.add(
        "aten::reflection_pad3d(Tensor self, SymInt[6] padding) -> Tensor",
        |cx, a| op(cx, a, 3, Mode::Reflect),
    );
    b.add(
        "aten::replication_pad1d(Tensor self, SymInt[2] padding) -> Tensor",
        |cx, a| op(cx, a, 1, Mode::Replicate),
    );
    b.add(
        "aten::replication_pad2d(Tensor self, SymInt[4] padding) -> Tensor",
        |cx, a| op(cx, a, 2, Mode::Replicate),
    );
    b.add(
        "aten::replication_pad3d(Tensor self, SymInt[6] padding) -> Tensor",
        |cx, a| op(cx, a, 3, Mode::Replicate),
    );
}

/// How the border is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Mirrored about the edge element, which is not repeated.
    Reflect,
    /// The edge element repeated.
    Replicate,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Reflect => "reflection",
            Mode::Replicate => "replication",
        }
    }
}

fn op(cx: &Ctx, a: &Args, k: usize, mode: Mode) -> Result<Value> {
    Ok(Value::Tensor(padded(
        cx,
        a.tensor(0)?,
        &a.ints(1)?,
        k,
        mode,
    )?))
}

/// The input position each of the `out` output positions of a dim of `size` reads, padded by
/// `left` and `right` (PyTorch's formula: positions in the output, then shifted back by the
/// cropped start).
fn source_map(size: i64, left: i64, right: i64, out: usize, mode: Mode) -> Result<Vec<i64>> {
    let (i_start, o_start) = (i128::from((-left).max(0)), i128::from(left.max(0)));
    let (n, l) = (i128::from(size), i128::from(left));
    let mut map = Vec::with_capacity(out);
    for j in 0..out as i128 {
        let p = match mode {
            Mode::Reflect if j < l => 2 * l - j,
            Mode::Reflect if j < n + l => j,
            Mode::Reflect => 2 * (n + l - 1) - j,
            Mode::Replicate if j < l => l,
            Mode::Replicate if j < n + l => j,
            Mode::Replicate => n + l - 1,
        } - o_start
            + i_start;
        match i64::try_from(p) {
            Ok(i) if (0..size).contains(&i) => map.push(i),
            _ => {
                return Err(err(format!(
                    "padding ({left}, {right}) of a dim of size {size} reads outside it"
                )))
            }
        }
    }
    Ok(map)
}

/// PyTorch's message for an output dim under 1, the dims listed D, H, W.
fn too_small(input: &[i64], output: &[i128]) -> String {
    const NAMES: [&str; 3] = ["D", "H", "W"];
    let names = &NAMES[3 - input.len()..];
    if input.len() == 1 {
        return format!(
            "input (W: {}) is too small. Calculated output W: {}",
            input[0], output[0]
        );
    }
    let out: Vec<String> = names
        .iter()
        .zip(output)
        .map(|(n, o)| format!("{n}: {o}"))
        .collect();
    let inp: Vec<String> = names
        .iter()
        .zip(input)
        .map(|(n, i)| format!("{n}: {i}"))
        .collect();
    format!(
        "Calculated output {} must be >= 1 in every dimension (input {})",
        out.join(" "),
        inp.join(", ")
    )
}

/// `t` padded over its last `k` dims (`k` of 1, 2, 3) by `pad` (pairs from the last dim
/// backward: W, then H, then D), its other dims `(C)` or `(N, C)`.
pub(super) fn padded(cx: &Ctx, t: &Tensor, pad: &[i64], k: usize, mode: Mode) -> Result<Tensor> {
    let name = format!("{}_pad{k}d", mode.name());
    if pad.len() != 2 * k {
        return Err(err(format!(
            "padding size is expected to be {}, but got: {}",
            2 * k,
            pad.len()
        )));
    }
    let (rank, dims) = (t.rank(), t.dims());
    let valid = (rank == k + 1 && dims.iter().all(|&d| d != 0))
        || (rank == k + 2 && dims[1..].iter().all(|&d| d != 0));
    if !valid {
        return Err(err(format!(
            "Expected {}D or {}D (batch mode) tensor with possibly 0 batch size and other non-zero \
             dimensions for input, but got: {dims:?}",
            k + 1,
            k + 2
        )));
    }
    // (dim, left, right), W first.
    let sides: Vec<(usize, i64, i64)> = (0..k)
        .map(|i| (rank - 1 - i, pad[2 * i], pad[2 * i + 1]))
        .collect();
    if mode == Mode::Reflect {
        for (i, &(d, l, r)) in sides.iter().enumerate() {
            let size = dims[d] as i64;
            if l >= size || r >= size {
                return Err(err(format!(
                    "Argument #{}: Padding size should be less than the corresponding input \
                     dimension, but got: padding ({l}, {r}) at dimension {d} of input {dims:?}",
                    4 + 2 * i
                )));
            }
        }
    }
    let outs: Vec<i128> = sides
        .iter()
        .map(|&(d, l, r)| dims[d] as i128 + i128::from(l) + i128::from(r))
        .collect();
    if outs.iter().any(|&o| o < 1) {
        let input: Vec<i64> = sides
            .iter()
            .rev()
            .map(|&(d, _, _)| dims[d] as i64)
            .collect();
        let output: Vec<i128> = outs.iter().rev().copied().collect();
        return Err(err(too_small(&input, &output)));
    }
    if t.dtype() == ScalarType::Bool {
        return Err(err(format!("\"{name}\" not implemented for 'Bool'")));
    }
    let mut out_dims = dims.to_vec();
    for (&(d, _, _), &o) in sides.iter().zip(&outs) {
        let o = usize::try_from(o).map_err(|_| err(format!("{name}: output size overflow")))?;
        // The map of each dim is allocated too, even where the output is empty.
        cx.check(&format!("aten::{name}"), &[o])?;
        out_dims[d] = o;
    }
    cx.check(&format!("aten::{name}"), &out_dims)?;
    if t.elem_count() == 0 {
        return zeros_of(&out_dims, t.dtype(), t.device());
    }
    let mut x = t.inner().clone();
    for &(d, l, r) in &sides {
        let map = source_map(dims[d] as i64, l, r, out_dims[d], mode)?;
        let ids = candle_core::Tensor::from_vec(map, out_dims[d], t.device())?;
        x = x.contiguous()?.index_select(&ids, d)?;
    }
    Tensor::with_type(x, t.dtype())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{arange, fails, ints, out, shaped, t, values};
    use crate::ops::dtype::ScalarType;

    #[test]
    fn reflection_pads_match_torch() {
        // Values and messages from torch 2.15.0.
        let x = arange(&[1, 2, 3]);
        let y = out("aten::reflection_pad1d", &[x.clone(), ints(&[2, 1])]);
        assert_eq!(
            shaped(&y),
            (
                vec![1, 2, 6],
                vec![2.0, 1.0, 0.0, 1.0, 2.0, 1.0, 5.0, 4.0, 3.0, 4.0, 5.0, 4.0]
            )
        );
        let unbatched = arange(&[2, 3]);
        let y = out("aten::reflection_pad1d", &[unbatched, ints(&[1, 2])]);
        assert_eq!(
            shaped(&y),
            (
                vec![2, 6],
                vec![1.0, 0.0, 1.0, 2.0, 1.0, 0.0, 4.0, 3.0, 4.0, 5.0, 4.0, 3.0]
            )
        );
        // Negative padding crops first.
        let y = out("aten::reflection_pad1d", &[x.clone(), ints(&[-1, 2])]);
        assert_eq!(
            shaped(&y),
            (vec![1, 2, 4], vec![1.0, 2.0, 1.0, 0.0, 4.0, 5.0, 4.0, 3.0])
        );
        let y = arange(&[1, 3, 4]);
        let r = out("aten::reflection_pad2d", &[y.clone(), ints(&[1, 2, 2, 1])]);
        let row = |a: f64, b: f64, c: f64, d: f64| [b, a, b, c, d, c, b];
        let mut want = Vec::new();
        for (a, b, c, d) in [(8., 9., 10., 11.), (4., 5., 6., 7.), (0., 1., 2., 3.)] {
            want.extend(row(a, b, c, d));
        }
        for (a, b, c, d) in [(4., 5., 6., 7.), (8., 9., 10., 11.), (4., 5., 6., 7.)] {
            want.extend(row(a, b, c, d));
        }
        assert_eq!(shaped(&r), (vec![1, 6, 7], want));
        let r = out(
            "aten::reflection_pad2d",
            &[y.clone(), ints(&[-1, 2, -1, 2])],
        );
        assert_eq!(
            values(&r),
            vec![
                5.0, 6.0, 7.0, 6.0, 5.0, 9.0, 10.0, 11.0, 10.0, 9.0, 5.0, 6.0, 7.0, 6.0, 5.0, 1.0,
                2.0, 3.0, 2.0, 1.0
            ]
        );
        let ints2 = t(&[0.0, 1.0, 2.0, 3.0], &[1, 2, 2], ScalarType::Int64);
        let r = out("aten::reflection_pad2d", &[ints2, ints(&[1, 1, 1, 1])]);
        assert_eq!(
            (r.dtype(), values(&r)),
            (
                ScalarType::Int64,
                vec![3., 2., 3., 2., 1., 0., 1., 0., 3., 2., 3., 2., 1., 0., 1., 0.]
            )
        );
        let z = arange(&[1, 2, 2, 2]);
        let r = out(
            "aten::reflection_pad3d",
            &[z.clone(), ints(&[1, 0, 0, 1, 1, 0])],
        );
        assert_eq!(r.dims(), &[1, 3, 3, 3]);

        assert!(fails("aten::reflection_pad1d", &[x.clone(), ints(&[3, 0])]).ends_with(
            "Argument #4: Padding size should be less than the corresponding input dimension, but \
             got: padding (3, 0) at dimension 2 of input [1, 2, 3]"
        ));
        assert!(fails("aten::reflection_pad2d", &[y.clone(), ints(&[1, 1, 3, 1])]).ends_with(
            "Argument #6: Padding size should be less than the corresponding input dimension, but \
             got: padding (3, 1) at dimension 1 of input [1, 3, 4]"
        ));
        assert!(fails("aten::reflection_pad3d", &[z.clone(), ints(&[0, 0, 0, 0, 2, 0])])
            .ends_with("Argument #8: Padding size should be less than the corresponding input dimension, but got: padding (2, 0) at dimension 1 of input [1, 2, 2, 2]"));
        assert!(
            fails("aten::reflection_pad1d", &[x.clone(), ints(&[-2, -1])])
                .ends_with("input (W: 3) is too small. Calculated output W: 0")
        );
        assert!(fails(
            "aten::reflection_pad2d",
            &[y.clone(), ints(&[-3, -3, 1, 1])]
        )
        .ends_with(
            "Calculated output H: 5 W: -2 must be >= 1 in every dimension (input H: 3, W: 4)"
        ));
        assert!(fails("aten::reflection_pad3d", &[z, ints(&[-1; 6])]).ends_with(
            "Calculated output D: 0 H: 0 W: 0 must be >= 1 in every dimension (input D: 2, H: 2, \
             W: 2)"
        ));
        let expected = "Expected 2D or 3D (batch mode) tensor with possibly 0 batch size and \
                        other non-zero dimensions for input, but got: ";
        let flat = arange(&[3]);
        assert!(fails("aten::reflection_pad1d", &[flat, ints(&[1, 1])])
            .ends_with(&format!("{expected}[3]")));
        let four = arange(&[1, 1, 2, 3]);
        assert!(fails("aten::reflection_pad1d", &[four, ints(&[1, 1])])
            .ends_with(&format!("{expected}[1, 1, 2, 3]")));
        let no_width = t(&[], &[1, 2, 0], ScalarType::Float32);
        assert!(fails("aten::reflection_pad1d", &[no_width, ints(&[1, 1])])
            .ends_with(&format!("{expected}[1, 2, 0]")));
        assert!(
            fails("aten::reflection_pad1d", &[x.clone(), ints(&[1, 1, 1])])
                .ends_with("padding size is expected to be 2, but got: 3")
        );
        let flags = t(&[1.0, 0.0], &[1, 2], ScalarType::Bool);
        assert!(fails("aten::reflection_pad1d", &[flags, ints(&[1, 1])])
            .ends_with("\"reflection_pad1d\" not implemented for 'Bool'"));
        // An empty batch pads to an empty batch.
        let empty = t(&[], &[0, 2, 3], ScalarType::Float32);
        let r = out("aten::reflection_pad1d", &[empty, ints(&[1, 1])]);
        assert_eq!(r.dims(), &[0, 2, 5]);
    }

    #[test]
    fn replication_pads_match_torch() {
        // Values and messages from torch 2.15.0.
        let x = arange(&[1, 2, 3]);
        let y = out("aten::replication_pad1d", &[x.clone(), ints(&[2, 1])]);
        assert_eq!(
            values(&y),
            vec![0.0, 0.0, 0.0, 1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0, 5.0, 5.0]
        );
        // Replication takes padding larger than the input.
        let y = out("aten::replication_pad1d", &[x.clone(), ints(&[4, 4])]);
        assert_eq!(y.dims(), &[1, 2, 11]);
        let row = t(&[0.0, 1.0, 2.0], &[1, 3], ScalarType::Float32);
        let y = out("aten::replication_pad1d", &[row, ints(&[-1, 2])]);
        assert_eq!(shaped(&y), (vec![1, 4], vec![1.0, 2.0, 2.0, 2.0]));
        let g = arange(&[1, 3, 4]);
        let y = out("aten::replication_pad2d", &[g.clone(), ints(&[1, 2, 2, 1])]);
        let row = |a: f64| [a, a, a + 1.0, a + 2.0, a + 3.0, a + 3.0, a + 3.0];
        let mut want = Vec::new();
        for a in [0.0, 0.0, 0.0, 4.0, 8.0, 8.0] {
            want.extend(row(a));
        }
        assert_eq!(shaped(&y), (vec![1, 6, 7], want));
        let y = out(
            "aten::replication_pad2d",
            &[g.clone(), ints(&[-1, 2, -1, 2])],
        );
        assert_eq!(
            values(&y),
            vec![
                5.0, 6.0, 7.0, 7.0, 7.0, 9.0, 10.0, 11.0, 11.0, 11.0, 9.0, 10.0, 11.0, 11.0, 11.0,
                9.0, 10.0, 11.0, 11.0, 11.0
            ]
        );
        let z = arange(&[1, 2, 2, 2]);
        let y = out("aten::replication_pad3d", &[z.clone(), ints(&[1; 6])]);
        assert_eq!(y.dims(), &[1, 4, 4, 4]);
        assert_eq!(
            values(&y)[..10],
            [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 2.0, 2.0]
        );

        assert!(
            fails("aten::replication_pad1d", &[x.clone(), ints(&[-4, 0])])
                .ends_with("input (W: 3) is too small. Calculated output W: -1")
        );
        assert!(fails(
            "aten::replication_pad2d",
            &[g.clone(), ints(&[-3, -1, -2, -1])]
        )
        .ends_with(
            "Calculated output H: 0 W: 0 must be >= 1 in every dimension (input H: 3, W: 4)"
        ));
        assert!(fails("aten::replication_pad2d", &[arange(&[2, 3]), ints(&[1; 4])]).ends_with(
            "Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other non-zero \
             dimensions for input, but got: [2, 3]"
        ));
        assert!(fails("aten::replication_pad3d", &[z, ints(&[1, 1, 1])])
            .ends_with("padding size is expected to be 6, but got: 3"));
        let flags = t(&[1.0, 0.0], &[1, 1, 2], ScalarType::Bool);
        assert!(
            fails("aten::replication_pad2d", &[flags, ints(&[1, 1, 0, 0])])
                .ends_with("\"replication_pad2d\" not implemented for 'Bool'")
        );
        // Sizes past the limits are refused before anything is allocated, even for an
        // empty batch.
        assert!(
            fails("aten::replication_pad1d", &[x, ints(&[1 << 40, 0])]).contains("max_elements")
        );
        let empty = t(&[], &[0, 2, 3], ScalarType::Float32);
        assert!(
            fails("aten::replication_pad1d", &[empty, ints(&[1 << 40, 0])])
                .contains("max_elements")
        );
    }
}
