//! The tanh and relu RNN cells, and the LSTM from given states or with projections, on the CPU
//! in f32 over plain slices: per layer and direction, the input projection `x·W_ihᵀ + b_ih` of
//! every packed row is one matrix product ([`crate::cpu::gemm`]); each step then multiplies
//! the running rows' `h` by `W_hhᵀ` (a plain loop over small weights, the product above
//! [`GEMM_MIN_WEIGHTS`]) and applies the cell in place, with no allocation per step. The
//! cells are PyTorch's CPU cells in their order of operations, as [`super::steps`] writes them
//! with candle ops (which every other dtype and device still runs).

use candle_core::{DType, Device, Tensor as CTensor};

use super::packed::Packing;
use super::steps::Cell;
use super::{contiguous_operands, f32_slices, script, Run, Stack};
use crate::cpu::gemm::{self, Mat};
use crate::error::Result;

/// Recurrent weights (`W_hhᵀ`, `W_hrᵀ`) with at least this many elements are multiplied by
/// the project's matrix product each step; smaller ones by a plain loop, which saves the
/// product's packing and dispatch on the small layers where a step costs a few hundred
/// multiply-adds. Either way a row's result does not depend on the other rows.
const GEMM_MIN_WEIGHTS: usize = 64 * 64;

/// Whether [`run`] takes `stack` over `x`: a tanh, relu or LSTM cell computing in f32 on the
/// CPU. (An LSTM from zero states runs the project's `MaskedLstm` before this is asked.)
pub(super) fn fits(stack: &Stack, x: &CTensor) -> bool {
    matches!(stack.cell, Cell::Tanh | Cell::Relu | Cell::Lstm)
        && x.dtype() == DType::F32
        && x.device().is_cpu()
}

/// One cell's weights as slices: `W_ih` as stored, `W_hhᵀ` and `W_hrᵀ` transposed for the
/// per-step products.
struct Weights<'a> {
    w_ih: &'a [f32],
    w_hh_t: Vec<f32>,
    b_ih: Option<&'a [f32]>,
    b_hh: Option<&'a [f32]>,
    w_hr_t: Option<Vec<f32>>,
}

/// `(rows, cols)` row-major `m` transposed, as `(cols, rows)` row-major.
fn transposed(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; rows * cols];
    for (r, row) in m.chunks_exact(cols).take(rows).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            t[c * rows + r] = v;
        }
    }
    t
}

/// `dst[..n·cols] = a[..n·k] · wt` for `wt` `(k, cols)` row-major: each element summed over
/// `k` in order.
fn product(dst: &mut [f32], a: &[f32], wt: &[f32], n: usize, k: usize, cols: usize) -> Result<()> {
    if k * cols >= GEMM_MIN_WEIGHTS {
        gemm::matmul(
            &mut dst[..n * cols],
            cols,
            Mat::row_major(a, n, k),
            Mat::row_major(wt, k, cols),
            false,
            1.0,
        )?;
        return Ok(());
    }
    for (row, a_row) in dst.chunks_exact_mut(cols).zip(a.chunks_exact(k)).take(n) {
        row.fill(0.0);
        for (&ak, w) in a_row.iter().zip(wt.chunks_exact(cols)) {
            for (d, &wv) in row.iter_mut().zip(w) {
                *d += ak * wv;
            }
        }
    }
    Ok(())
}

/// PyTorch's sigmoid as candle computes it on the CPU.
fn sigmoid(v: f32) -> f32 {
    1.0 / ((-v).exp() + 1.0)
}

/// The sizes one direction of one layer steps with.
#[derive(Clone, Copy)]
struct Dims {
    /// Features of the layer's input rows.
    input: usize,
    /// `gates · hidden`.
    gates: usize,
    hidden: usize,
    h_out: usize,
    /// Width of an output row: `directions · h_out`.
    out_w: usize,
}

/// One direction of one layer over the packed rows `x` (`(rows, dims.input)`): writes its
/// `h` of every row into `output` (`(rows, out_w)`, from column `column`) and leaves each
/// sequence's last state in `h` (`(batch, h_out)`) and `c` (`(batch, hidden)`, LSTM), which
/// hold the initial states on entry.
#[allow(clippy::too_many_arguments)]
fn direction(
    cell: Cell,
    w: &Weights,
    dims: Dims,
    packing: &Packing,
    reverse: bool,
    x: &[f32],
    h: &mut [f32],
    c: &mut [f32],
    output: &mut [f32],
    column: usize,
) -> Result<()> {
    let Dims {
        input,
        gates: g_w,
        hidden,
        h_out,
        out_w,
    } = dims;
    let (rows, batch) = (packing.rows(), packing.batch());
    // x·W_ihᵀ + b_ih for every row: the bias, then the product added to it.
    let mut xp = match w.b_ih {
        Some(b) => b.repeat(rows),
        None => vec![0.0; rows * g_w],
    };
    let w_ih_t = Mat {
        data: w.w_ih,
        rows: input,
        cols: g_w,
        row_stride: 1,
        col_stride: input,
    };
    gemm::matmul(
        &mut xp,
        g_w,
        Mat::row_major(x, rows, input),
        w_ih_t,
        true,
        1.0,
    )?;
    let mut gates = vec![0.0f32; batch * g_w];
    // The LSTM's `o · tanh(c)` before its projection.
    let mut full = vec![
        0.0f32;
        if w.w_hr_t.is_some() {
            batch * hidden
        } else {
            0
        }
    ];
    let steps = packing.steps();
    for s in 0..steps {
        let t = if reverse { steps - 1 - s } else { s };
        let (n, offset) = (packing.batch_sizes()[t], packing.offsets()[t]);
        let gates = &mut gates[..n * g_w];
        product(gates, h, &w.w_hh_t, n, h_out, g_w)?;
        let xp = &xp[offset * g_w..(offset + n) * g_w];
        match w.b_hh {
            Some(b) => {
                for (row, xp) in gates.chunks_exact_mut(g_w).zip(xp.chunks_exact(g_w)) {
                    for ((g, &b), &x) in row.iter_mut().zip(b).zip(xp) {
                        *g = (*g + b) + x;
                    }
                }
            }
            None => {
                for (g, &x) in gates.iter_mut().zip(xp) {
                    *g += x;
                }
            }
        }
        match cell {
            Cell::Tanh => {
                for (h, &g) in h.iter_mut().zip(gates.iter()) {
                    *h = g.tanh();
                }
            }
            Cell::Relu => {
                for (h, &g) in h.iter_mut().zip(gates.iter()) {
                    *h = g.max(0.0);
                }
            }
            Cell::Lstm => {
                let target: &mut [f32] = if w.w_hr_t.is_some() {
                    &mut full
                } else {
                    &mut *h
                };
                for ((g, c), h) in gates
                    .chunks_exact(g_w)
                    .zip(c.chunks_exact_mut(hidden))
                    .zip(target.chunks_exact_mut(hidden))
                {
                    let (i, rest) = g.split_at(hidden);
                    let (f, rest) = rest.split_at(hidden);
                    let (gg, o) = rest.split_at(hidden);
                    for ((((c, h), &i), &f), (&gg, &o)) in c
                        .iter_mut()
                        .zip(h.iter_mut())
                        .zip(i)
                        .zip(f)
                        .zip(gg.iter().zip(o))
                    {
                        *c = sigmoid(f) * *c + sigmoid(i) * gg.tanh();
                        *h = sigmoid(o) * c.tanh();
                    }
                }
                if let Some(w_hr_t) = &w.w_hr_t {
                    product(h, &full, w_hr_t, n, hidden, h_out)?;
                }
            }
            Cell::Gru => return Err(script("the GRU does not step through these cells")),
        }
        for (b, h) in h.chunks_exact(h_out).take(n).enumerate() {
            let at = (offset + b) * out_w + column;
            output[at..at + h_out].copy_from_slice(h);
        }
    }
    Ok(())
}

/// Runs `stack` (a tanh, relu or LSTM cell with f32 weights on the CPU, see [`fits`]) over
/// packed rows `x` `(rows, input_size)` from `h0` `(layers · directions, batch, h_out)` and,
/// for an LSTM, `c0` `(layers · directions, batch, hidden)`.
pub(super) fn run(
    stack: &Stack,
    packing: &Packing,
    x: &CTensor,
    h0: &CTensor,
    c0: Option<&CTensor>,
) -> Result<Run> {
    let lstm = stack.cell == Cell::Lstm;
    if lstm != c0.is_some() {
        return Err(script("an LSTM, and only an LSTM, steps with a cell state"));
    }
    // Every tensor read: `x`, `h0`, `c0`, then each cell's weights in `_flat_weights` order.
    let leading: Vec<&CTensor> = [Some(x), Some(h0), c0].into_iter().flatten().collect();
    let tensors = contiguous_operands(stack, &leading)?;
    let guards: Vec<_> = tensors.iter().map(CTensor::storage_and_layout).collect();
    let floats = f32_slices(&guards, "the recurrent cells' loop")?;
    let (rows, batch, dirs) = (packing.rows(), packing.batch(), stack.directions);
    let (hidden, h_out) = (stack.hidden, stack.h_out);
    let g_w = stack.cell.gates() * hidden;
    let out_w = dirs * h_out;
    let cells = stack.layers * dirs;
    let (x, h0) = (floats[0], floats[1]);
    let c0 = if lstm { floats[2] } else { &[] };
    let mut next = floats[2 + usize::from(lstm)..].iter().copied();
    let mut take = |len: usize| -> Result<&[f32]> {
        next.next()
            .filter(|s| s.len() == len)
            .ok_or_else(|| script("the recurrent weights do not match their sizes"))
    };
    if x.len() != rows * stack.input_size
        || h0.len() != cells * batch * h_out
        || c0.len() != usize::from(lstm) * cells * batch * hidden
    {
        return Err(script("the recurrent inputs do not match their sizes"));
    }
    let mut weights = Vec::with_capacity(cells);
    for (k, w) in stack.weights.iter().enumerate() {
        let input = if k < dirs { stack.input_size } else { out_w };
        let w_ih = take(g_w * input)?;
        let w_hh = take(g_w * h_out)?;
        let (b_ih, b_hh) = if stack.has_biases {
            (Some(take(g_w)?), Some(take(g_w)?))
        } else {
            (None, None)
        };
        let w_hr_t = match &w.w_hr {
            Some(_) => Some(transposed(take(h_out * hidden)?, h_out, hidden)),
            None => None,
        };
        weights.push(Weights {
            w_ih,
            w_hh_t: transposed(w_hh, g_w, h_out),
            b_ih,
            b_hh,
            w_hr_t,
        });
    }
    let mut h_n = h0.to_vec();
    let mut c_n = c0.to_vec();
    let mut input: Vec<f32>;
    let mut output = vec![0.0f32; rows * out_w];
    for layer in 0..stack.layers {
        let (x, features) = if layer == 0 {
            (x, stack.input_size)
        } else {
            input = std::mem::replace(&mut output, vec![0.0f32; rows * out_w]);
            (input.as_slice(), out_w)
        };
        let dims = Dims {
            input: features,
            gates: g_w,
            hidden,
            h_out,
            out_w,
        };
        for d in 0..dirs {
            let k = layer * dirs + d;
            let h = &mut h_n[k * batch * h_out..(k + 1) * batch * h_out];
            let c = if lstm {
                &mut c_n[k * batch * hidden..(k + 1) * batch * hidden]
            } else {
                &mut [][..]
            };
            direction(
                stack.cell,
                &weights[k],
                dims,
                packing,
                d == 1,
                x,
                h,
                c,
                &mut output,
                d * h_out,
            )?;
        }
    }
    Ok(Run {
        output: CTensor::from_vec(output, (rows, out_w), &Device::Cpu)?,
        h_n: CTensor::from_vec(h_n, (cells, batch, h_out), &Device::Cpu)?,
        c_n: if lstm {
            Some(CTensor::from_vec(
                c_n,
                (cells, batch, hidden),
                &Device::Cpu,
            )?)
        } else {
            None
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::nn::testing::{call, cast, close, f, f64s, i, item, t_f32, t_i64, tensors};
    use crate::ops::rnn::{steps, Common};
    use crate::ops::tensor::Tensor;
    use crate::ops::Value;

    /// Pseudo-random values in `[-scale, scale)` from `seed` (a linear congruential sequence).
    fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
            })
            .collect()
    }

    fn tensor(data: Vec<f32>, dims: &[usize]) -> Tensor {
        Tensor::new(CTensor::from_vec(data, dims, &Device::Cpu).unwrap()).unwrap()
    }

    /// Largest difference relative to `1 + |b|`.
    fn distance(a: &CTensor, b: &CTensor) -> f32 {
        assert_eq!(a.dims(), b.dims());
        let (a, b) = (
            a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            b.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        a.iter()
            .zip(&b)
            .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
            .fold(0.0, f32::max)
    }

    /// One random case: the cell, `(layers, bidirectional, biases, nonzero states)`,
    /// `(input, hidden, h_out)`, `batch_sizes`.
    type Case = (
        Cell,
        (usize, bool, bool, bool),
        (usize, usize, usize),
        Vec<usize>,
    );

    /// `_flat_weights` of a random stack (PyTorch's initialisation: uniform in ±1/√H).
    fn params(case: &Case, seed: u64) -> Vec<Tensor> {
        let (cell, (layers, bidirectional, biases, _), (input, hidden, h_out), _) = case;
        let directions = if *bidirectional { 2 } else { 1 };
        let (g_w, scale) = (cell.gates() * hidden, 1.0 / (*hidden as f32).sqrt());
        let mut params = Vec::new();
        for k in 0..layers * directions {
            let layer_in = if k < directions {
                *input
            } else {
                directions * h_out
            };
            let seed = seed * 100 + 10 * k as u64;
            params.push(tensor(
                values(g_w * layer_in, seed, scale),
                &[g_w, layer_in],
            ));
            params.push(tensor(values(g_w * h_out, seed + 1, scale), &[g_w, *h_out]));
            if *biases {
                params.push(tensor(values(g_w, seed + 2, scale), &[g_w]));
                params.push(tensor(values(g_w, seed + 3, scale), &[g_w]));
            }
            if h_out != hidden {
                params.push(tensor(
                    values(h_out * hidden, seed + 4, scale),
                    &[*h_out, *hidden],
                ));
            }
        }
        params
    }

    /// Random cases of every shape the cells take.
    fn cases() -> Vec<Case> {
        let sizes: [&[usize]; 5] = [
            &[1],
            &[3, 2, 2, 1],
            &[4, 4, 1],
            &[2, 2, 2, 2],
            &[5, 3, 3, 2, 1],
        ];
        let mut cases = Vec::new();
        let mut k = 0;
        for cell in [Cell::Tanh, Cell::Relu, Cell::Lstm] {
            for layers in [1, 2] {
                for bidirectional in [false, true] {
                    for biases in [false, true] {
                        for nonzero in [false, true] {
                            k += 1;
                            let (input, hidden) = (1 + k % 6, 1 + (k * 7) % 13);
                            // Projections for half the LSTMs.
                            let h_out = if cell == Cell::Lstm && hidden > 1 && k % 2 == 0 {
                                1 + k % (hidden - 1)
                            } else {
                                hidden
                            };
                            let flags = (layers, bidirectional, biases, nonzero);
                            cases.push((
                                cell,
                                flags,
                                (input, hidden, h_out),
                                sizes[k % 5].to_vec(),
                            ));
                        }
                    }
                }
            }
        }
        // Weights past `GEMM_MIN_WEIGHTS`, multiplied by the matrix product each step.
        for (cell, hidden, h_out) in [
            (Cell::Tanh, 80, 80),
            (Cell::Lstm, 40, 40),
            (Cell::Lstm, 70, 66),
        ] {
            cases.push((
                cell,
                (2, true, true, true),
                (9, hidden, h_out),
                vec![6, 6, 4, 1, 1],
            ));
        }
        cases
    }

    /// The cells against the candle-op cells every other device and dtype steps (PyTorch's
    /// order of operations in both): they differ only in the products' summation order.
    #[test]
    fn the_cells_match_the_stepped_cells() {
        for (k, case) in cases().into_iter().enumerate() {
            let (cell, (layers, bidirectional, biases, nonzero), (input, hidden, h_out), sizes) =
                &case;
            let params = params(&case, k as u64);
            let (rows, batch) = (sizes.iter().sum::<usize>(), sizes[0]);
            let cells = layers * if *bidirectional { 2 } else { 1 };
            let x = tensor(values(rows * input, 1000 + k as u64, 1.0), &[rows, *input]);
            let state = |width: usize, seed: u64| {
                let n = cells * batch * width;
                let v = if *nonzero {
                    values(n, seed, 0.9)
                } else {
                    vec![0.0; n]
                };
                CTensor::from_vec(v, (cells, batch, width), &Device::Cpu).unwrap()
            };
            let h0 = state(*h_out, 2000 + k as u64);
            let c0 = (*cell == Cell::Lstm).then(|| state(*hidden, 3000 + k as u64));
            let common = Common {
                has_biases: *biases,
                layers: *layers,
                bidirectional: *bidirectional,
            };
            let stack = Stack::new(*cell, &params, &common, &x, *hidden, *h_out).unwrap();
            let sizes: Vec<i64> = sizes.iter().map(|&n| n as i64).collect();
            let sizes = Tensor::new(CTensor::new(sizes, &Device::Cpu).unwrap()).unwrap();
            let packing = Packing::from_batch_sizes(&sizes, rows).unwrap();
            let stepped = steps::run(&stack, &packing, x.inner(), &h0, c0.as_ref()).unwrap();
            let ours = run(&stack, &packing, x.inner(), &h0, c0.as_ref()).unwrap();
            let mut pairs = vec![
                ("output", &ours.output, &stepped.output),
                ("h_n", &ours.h_n, &stepped.h_n),
            ];
            if let (Some(a), Some(b)) = (&ours.c_n, &stepped.c_n) {
                pairs.push(("c_n", a, b));
            }
            assert_eq!(ours.c_n.is_some(), stepped.c_n.is_some());
            for (what, a, b) in pairs {
                let distance = distance(a, b);
                assert!(distance < 2e-6, "case {k} {case:?}: {what} {distance}");
            }
        }
    }

    /// The operators, `.input` (time-major and `batch_first`) and `.data`, in f32 (these
    /// cells) against f64 (the stepped cells).
    #[test]
    fn the_operators_match_in_f32_and_f64() {
        for (k, case) in cases().into_iter().enumerate() {
            let (cell, (layers, bidirectional, biases, nonzero), (input, hidden, h_out), sizes) =
                &case;
            if !nonzero && *cell == Cell::Lstm {
                // From zero states the LSTM runs the project's `MaskedLstm`.
                continue;
            }
            let name = match cell {
                Cell::Tanh => "aten::rnn_tanh",
                Cell::Relu => "aten::rnn_relu",
                _ => "aten::lstm",
            };
            let params: Vec<Value> = params(&case, k as u64)
                .into_iter()
                .map(Value::Tensor)
                .collect();
            let cells = layers * if *bidirectional { 2 } else { 1 };
            let (rows, batch, time) = (sizes.iter().sum::<usize>(), sizes[0], sizes.len());
            let state = |width: usize, seed: u64| {
                t_f32(
                    &values(cells * batch * width, seed, 0.9),
                    &[cells, batch, width],
                )
            };
            let hx = if *cell == Cell::Lstm {
                tensors(&[state(*h_out, k as u64), state(*hidden, 50 + k as u64)])
            } else {
                state(*h_out, k as u64)
            };
            let flags = |batch_first: Option<bool>| {
                let mut v = vec![
                    Value::Bool(*biases),
                    i(*layers as i64),
                    f(0.0),
                    Value::Bool(false),
                    Value::Bool(*bidirectional),
                ];
                v.extend(batch_first.map(Value::Bool));
                v
            };
            let in_f64 = |v: &Value| -> Value {
                match v.as_tensor() {
                    Some(_) => cast(v, 7),
                    None => tensors(
                        &v.items()
                            .unwrap()
                            .iter()
                            .map(|t| cast(t, 7))
                            .collect::<Vec<_>>(),
                    ),
                }
            };
            let params_f64: Vec<Value> = params.iter().map(in_f64).collect();
            let both = |first: Vec<Value>, batch_first: Option<bool>| {
                let mut args32 = first.clone();
                args32.extend([hx.clone(), tensors(&params)]);
                args32.extend(flags(batch_first));
                let mut args64: Vec<Value> = first
                    .iter()
                    .map(|v| {
                        if v.as_tensor().is_some_and(|t| t.dtype().is_float()) {
                            in_f64(v)
                        } else {
                            v.clone()
                        }
                    })
                    .collect();
                args64.extend([in_f64(&hx), tensors(&params_f64)]);
                args64.extend(flags(batch_first));
                let overload = if batch_first.is_some() {
                    "input"
                } else {
                    "data"
                };
                let (a, b) = (
                    call(&format!("{name}.{overload}"), &args32),
                    call(&format!("{name}.{overload}"), &args64),
                );
                let outputs = if *cell == Cell::Lstm { 3 } else { 2 };
                for o in 0..outputs {
                    close(&f64s(&item(&a, o)), &f64s(&item(&b, o)), 2e-6);
                }
            };
            let packed = values(rows * input, 500 + k as u64, 1.0);
            let sizes_i64: Vec<i64> = sizes.iter().map(|&n| n as i64).collect();
            both(
                vec![t_f32(&packed, &[rows, *input]), t_i64(&sizes_i64, &[time])],
                None,
            );
            let padded = values(time * batch * input, 600 + k as u64, 1.0);
            both(vec![t_f32(&padded, &[time, batch, *input])], Some(false));
            both(vec![t_f32(&padded, &[batch, time, *input])], Some(true));
        }
    }
}
