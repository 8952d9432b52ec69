//! The GRU stack on the CPU in f32 through the project's fused kernel ([`crate::cpu::gru`]),
//! which reads the input, the initial states and the weights where their tensors hold them and
//! runs every layer, direction and step in one call.

use candle_core::{Device, Tensor as CTensor};

use super::packed::Packing;
use super::{contiguous_operands, f32_slices, Run, Stack};
use crate::cpu::gru::{self, GruCell, GruLayer};
use crate::cpu::simd::Isa;
use crate::error::Result;
use crate::ops::registry::Ctx;

/// Whether the kernel's own buffers for `stack` over `packing` on `isa` (each running row's
/// gates and two `h`, rows padded to whole vectors) fit the limits: the recurrent layer's
/// checked gates and output bound the rest. Past them the caller steps the cells instead.
pub(super) fn fits(cx: &Ctx, stack: &Stack, packing: &Packing, isa: Isa) -> bool {
    gru::padded_state_len(packing.batch(), stack.hidden, isa)
        .is_some_and(|n| cx.check("the GRU's padded state", &[n]).is_ok())
}

/// Runs the GRU `stack` (f32 weights on the CPU) over packed rows `x` `(rows, input_size)`
/// from `h0` `(layers · directions, batch, hidden)`, on `isa`.
pub(super) fn gru(
    stack: &Stack,
    packing: &Packing,
    x: &CTensor,
    h0: &CTensor,
    isa: Isa,
) -> Result<Run> {
    // Every tensor the kernel reads, contiguous: `x`, `h0`, then each cell's `w_ih`, `w_hh`
    // and biases.
    let tensors = contiguous_operands(stack, &[x, h0])?;
    let guards: Vec<_> = tensors.iter().map(CTensor::storage_and_layout).collect();
    let floats = f32_slices(&guards, "the fused GRU")?;
    let (x, h0, mut weights) = (floats[0], floats[1], floats[2..].iter().copied());
    let mut next = || weights.next().unwrap_or_default();
    let cells: Vec<GruCell> = (0..stack.weights.len())
        .map(|_| {
            let (w_ih, w_hh) = (next(), next());
            let (b_ih, b_hh) = if stack.has_biases {
                (Some(next()), Some(next()))
            } else {
                (None, None)
            };
            GruCell {
                w_ih,
                w_hh,
                b_ih,
                b_hh,
            }
        })
        .collect();
    let layers = cells
        .chunks(stack.directions)
        .enumerate()
        .map(|(l, cells)| {
            let input = if l == 0 {
                stack.input_size
            } else {
                stack.directions * stack.hidden
            };
            GruLayer::new(cells, input, stack.hidden, isa)
                .ok_or_else(|| super::script("the GRU's weights do not match its sizes"))
        })
        .collect::<Result<Vec<_>>>()?;
    let (rows, batch) = (packing.rows(), packing.batch());
    let out_w = stack.directions * stack.hidden;
    let mut output = vec![0.0f32; rows * out_w];
    let mut h_n = vec![0.0f32; h0.len()];
    gru::run(&layers, packing.batch_sizes(), x, h0, &mut output, &mut h_n)?;
    let states = (stack.layers * stack.directions, batch, stack.hidden);
    Ok(Run {
        output: CTensor::from_vec(output, (rows, out_w), &Device::Cpu)?,
        h_n: CTensor::from_vec(h_n, states, &Device::Cpu)?,
        c_n: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::rnn::steps::{self, Cell};
    use crate::ops::rnn::Common;
    use crate::ops::tensor::Tensor;

    /// Deterministic values in `[-scale, scale)`.
    fn values(n: usize, seed: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 + seed * 104_729) % 2003) as f32 / 2003.0 * 2.0 - 1.0)
            .map(|v| v * scale)
            .collect()
    }

    fn tensor(data: Vec<f32>, dims: &[usize]) -> Tensor {
        Tensor::new(CTensor::from_vec(data, dims, &Device::Cpu).unwrap()).unwrap()
    }

    /// Largest absolute difference.
    fn distance(a: &CTensor, b: &CTensor) -> f32 {
        assert_eq!(a.dims(), b.dims());
        let (a, b) = (
            a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            b.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        a.iter()
            .zip(&b)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    }

    /// The kernel against the candle-op cells every other device and dtype steps (PyTorch's
    /// order of operations in both): they differ only in the summation order of the products
    /// and in the activations' last bits, a few ulps after several layers and steps.
    #[test]
    fn the_fused_gru_matches_the_stepped_cells_on_every_tier() {
        // (layers, bidirectional, biases, nonzero h0), (input, hidden), batch_sizes
        type Flags = (usize, bool, bool, bool);
        let cases: [(Flags, (usize, usize), &[usize]); 6] = [
            ((1, false, true, false), (3, 1), &[1]),
            ((1, true, true, true), (4, 3), &[3, 2, 2, 1]),
            ((2, true, false, true), (2, 10), &[4, 4, 1]),
            ((3, false, true, true), (5, 17), &[2, 2, 2, 2]),
            ((2, true, true, true), (6, 64), &[11, 9, 9, 4, 1]),
            ((1, false, false, false), (1, 16), &[1, 1, 1, 1, 1, 1, 1]),
        ];
        for (k, ((layers, bidirectional, biases, nonzero), (input, hidden), sizes)) in
            cases.into_iter().enumerate()
        {
            let directions = if bidirectional { 2 } else { 1 };
            // PyTorch's initialisation: uniform in ±1/√H.
            let scale = 1.0 / (hidden as f32).sqrt();
            let mut params = Vec::new();
            for cell in 0..layers * directions {
                let layer_in = if cell < directions {
                    input
                } else {
                    directions * hidden
                };
                let seed = 10 * (k * 8 + cell);
                params.push(tensor(
                    values(3 * hidden * layer_in, seed, scale),
                    &[3 * hidden, layer_in],
                ));
                params.push(tensor(
                    values(3 * hidden * hidden, seed + 1, scale),
                    &[3 * hidden, hidden],
                ));
                if biases {
                    params.push(tensor(values(3 * hidden, seed + 2, scale), &[3 * hidden]));
                    params.push(tensor(values(3 * hidden, seed + 3, scale), &[3 * hidden]));
                }
            }
            let (rows, batch) = (sizes.iter().sum::<usize>(), sizes[0]);
            let x = tensor(values(rows * input, k, 1.0), &[rows, input]);
            let h0_len = layers * directions * batch * hidden;
            let h0 = if nonzero {
                values(h0_len, k + 7, 0.9)
            } else {
                vec![0.0; h0_len]
            };
            let h0 = tensor(h0, &[layers * directions, batch, hidden]);
            let common = Common {
                has_biases: biases,
                layers,
                bidirectional,
            };
            let stack = Stack::new(Cell::Gru, &params, &common, &x, hidden, hidden).unwrap();
            let sizes: Vec<i64> = sizes.iter().map(|&n| n as i64).collect();
            let sizes = Tensor::new(CTensor::new(sizes, &Device::Cpu).unwrap()).unwrap();
            let packing = Packing::from_batch_sizes(&sizes, rows).unwrap();
            let stepped = steps::run(&stack, &packing, x.inner(), h0.inner(), None).unwrap();
            for tier in crate::cpu::tier::tested_tiers() {
                let fused =
                    gru(&stack, &packing, x.inner(), h0.inner(), tier.isa().unwrap()).unwrap();
                for (what, a, b) in [
                    ("output", &fused.output, &stepped.output),
                    ("h_n", &fused.h_n, &stepped.h_n),
                ] {
                    let distance = distance(a, b);
                    assert!(distance < 1e-6, "case {k}, {tier}: {what} {distance}");
                }
            }
        }
    }
}
