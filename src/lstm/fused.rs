//! The fused LSTM layer for the CPU: one candle `CustomOp` per layer runs every step of every
//! direction in place, with no allocation or tensor op per step.
//!
//! Per step `t` and direction, for the `n = batch_sizes[t]` active rows (a prefix of the
//! sorted batch): copy the precomputed input projection's rows into a gate buffer, add
//! `h · W_hhᵀ` with one matrix product, apply the cell ([`Float::lstm_cell`]) in place, project
//! `h` if the LSTM has `proj_size`, and copy `h` into the packed output. Rows that finished keep
//! their state in the buffer, which ends as `h_n`/`c_n`; rows joining the reverse pass find the
//! zeros they start from.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor};

use super::tiled::{self, PackedLayer};
use super::{LayerParams, LayerRun, LayerShape};
use crate::cpu::{self, gemm, Float};
use crate::error::Result;

/// Runs one layer (both directions) over the packed input `x` `(rows, layer input)`: the
/// tiled kernel when the layer has [`PackedLayer`] weights, else the input projection as one
/// matrix product and the generic kernel over it.
pub(super) fn run_layer(x: &Tensor, params: &LayerParams, shape: LayerShape) -> Result<LayerRun> {
    let flat = match (&params.packed, &params.w_hr_t) {
        (Some(packed), _) if x.dtype() == DType::F32 => x
            .contiguous()?
            .apply_op1_no_bwd(&PackedLayerOp { shape, packed })?,
        (_, None) => params
            .input
            .forward(x)?
            .apply_op2_no_bwd(&params.w_hh_t, &LayerOp { shape })?,
        (_, Some(w_hr_t)) => {
            params
                .input
                .forward(x)?
                .apply_op3_no_bwd(&params.w_hh_t, w_hr_t, &LayerOp { shape })?
        }
    };
    let (out_len, h_len, c_len) = flat_sizes(shape);
    let LayerShape {
        plan,
        hidden,
        h_out,
        directions,
        ..
    } = shape;
    Ok(LayerRun {
        output: flat
            .narrow(0, 0, out_len)?
            .reshape((plan.rows(), directions * h_out))?,
        h_n: flat
            .narrow(0, out_len, h_len)?
            .reshape((directions, plan.batch(), h_out))?,
        c_n: flat
            .narrow(0, out_len + h_len, c_len)?
            .reshape((directions, plan.batch(), hidden))?,
    })
}

/// Lengths of the packed output, `h_n` and `c_n` in a kernel's flat result.
fn flat_sizes(shape: LayerShape) -> (usize, usize, usize) {
    let (d, b) = (shape.directions, shape.plan.batch());
    (
        shape.plan.rows() * d * shape.h_out,
        d * b * shape.h_out,
        d * b * shape.hidden,
    )
}

/// `(xp, W_hhᵀ [, W_hrᵀ]) → [output | h_n | c_n]` flattened into one buffer.
struct LayerOp<'a> {
    shape: LayerShape<'a>,
}

impl LayerOp<'_> {
    fn run<T: Float>(
        &self,
        xp: (&CpuStorage, &Layout),
        w_hh_t: (&CpuStorage, &Layout),
        w_hr_t: Option<(&CpuStorage, &Layout)>,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let xp = cpu::contiguous::<T>(xp.0, xp.1)?;
        let w_hh_t = cpu::contiguous::<T>(w_hh_t.0, w_hh_t.1)?;
        let w_hr_t = w_hr_t
            .map(|(s, l)| cpu::contiguous::<T>(s, l))
            .transpose()?;
        let LayerShape {
            plan,
            hidden,
            h_out,
            directions: dirs,
            ..
        } = self.shape;
        let (batch, g4, out_w) = (plan.batch(), 4 * hidden, dirs * h_out);
        if xp.len() != plan.rows() * dirs * g4
            || w_hh_t.len() != dirs * h_out * g4
            || w_hr_t.is_some_and(|w| w.len() != dirs * hidden * h_out)
        {
            candle_core::bail!("scriptless-lstm-layer: inputs do not match the plan");
        }

        let (out_len, h_len, c_len) = flat_sizes(self.shape);
        let mut flat = vec![T::ZERO; out_len + h_len + c_len];
        let (out, state) = flat.split_at_mut(out_len);
        let (h_n, c_n) = state.split_at_mut(h_len);
        let mut gates = vec![T::ZERO; batch * g4];
        // With a projection the cell writes the unprojected h here first.
        let mut h_full = vec![T::ZERO; if w_hr_t.is_some() { batch * hidden } else { 0 }];

        for d in 0..dirs {
            let h = &mut h_n[d * batch * h_out..(d + 1) * batch * h_out];
            let c = &mut c_n[d * batch * hidden..(d + 1) * batch * hidden];
            let w_hh = gemm::Mat::row_major(&w_hh_t[d * h_out * g4..][..h_out * g4], h_out, g4);
            let steps = plan.batch_sizes().len();
            for k in 0..steps {
                let t = if d == 0 { k } else { steps - 1 - k };
                let (n, row0) = (plan.batch_sizes()[t], plan.offsets()[t]);
                for r in 0..n {
                    let src = (row0 + r) * dirs * g4 + d * g4;
                    gates[r * g4..(r + 1) * g4].copy_from_slice(&xp[src..src + g4]);
                }
                gemm::matmul(
                    &mut gates[..n * g4],
                    g4,
                    gemm::Mat::row_major(&h[..n * h_out], n, h_out),
                    w_hh,
                    true,
                    T::ONE,
                )?;
                match w_hr_t {
                    None => T::lstm_cell(
                        self.shape.isa,
                        &gates[..n * g4],
                        &mut c[..n * hidden],
                        &mut h[..n * h_out],
                        hidden,
                    ),
                    Some(w_hr_t) => {
                        T::lstm_cell(
                            self.shape.isa,
                            &gates[..n * g4],
                            &mut c[..n * hidden],
                            &mut h_full[..n * hidden],
                            hidden,
                        );
                        gemm::matmul(
                            &mut h[..n * h_out],
                            h_out,
                            gemm::Mat::row_major(&h_full[..n * hidden], n, hidden),
                            gemm::Mat::row_major(
                                &w_hr_t[d * hidden * h_out..][..hidden * h_out],
                                hidden,
                                h_out,
                            ),
                            false,
                            T::ONE,
                        )?;
                    }
                }
                for r in 0..n {
                    let dst = (row0 + r) * out_w + d * h_out;
                    out[dst..dst + h_out].copy_from_slice(&h[r * h_out..(r + 1) * h_out]);
                }
            }
        }
        let len = flat.len();
        Ok((T::to_cpu_storage_owned(flat), Shape::from(len)))
    }

    fn dispatch(
        &self,
        xp: (&CpuStorage, &Layout),
        w_hh_t: (&CpuStorage, &Layout),
        w_hr_t: Option<(&CpuStorage, &Layout)>,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        match xp.0 {
            CpuStorage::F32(_) => self.run::<f32>(xp, w_hh_t, w_hr_t),
            CpuStorage::F64(_) => self.run::<f64>(xp, w_hh_t, w_hr_t),
            _ => candle_core::bail!("scriptless-lstm-layer: only f32 and f64"),
        }
    }
}

impl CustomOp2 for LayerOp<'_> {
    fn name(&self) -> &'static str {
        "scriptless-lstm-layer"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.dispatch((s1, l1), (s2, l2), None)
    }
}

impl CustomOp3 for LayerOp<'_> {
    fn name(&self) -> &'static str {
        "scriptless-lstm-layer"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.dispatch((s1, l1), (s2, l2), Some((s3, l3)))
    }
}

/// `x → [output | h_n | c_n]` through [`tiled::run_layer`], same flat layout as [`LayerOp`].
struct PackedLayerOp<'a> {
    shape: LayerShape<'a>,
    packed: &'a PackedLayer,
}

impl CustomOp1 for PackedLayerOp<'_> {
    fn name(&self) -> &'static str {
        "scriptless-lstm-layer-tiled"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let shape = self.shape;
        let x = cpu::contiguous::<f32>(s, l)?;
        if l.shape().dims() != [shape.plan.rows(), self.packed.input()]
            || shape.directions != self.packed.directions()
        {
            candle_core::bail!("scriptless-lstm-layer-tiled: input does not match the plan");
        }
        let (out_len, h_len, c_len) = flat_sizes(shape);
        let mut flat = vec![0.0f32; out_len + h_len + c_len];
        let (out, state) = flat.split_at_mut(out_len);
        let (h_n, c_n) = state.split_at_mut(h_len);
        let threads = tiled::threads_for(self.packed, shape.plan, cpu::threads());
        tiled::run_layer(x, self.packed, shape.plan, threads, out, h_n, c_n)?;
        let len = flat.len();
        Ok((CpuStorage::F32(flat), Shape::from(len)))
    }
}
