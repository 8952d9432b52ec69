//! A plain f64 LSTM, written from PyTorch's equations independently of the library: the
//! reference that the property tests, the differential fuzz target (`fuzz/`) and the AVX-512
//! kernel's unit tests (`src/lstm/avx512.rs`) check the masked LSTM against. It runs one unpadded sequence at a time, so it knows nothing of
//! packing, masking, sorting or kernels.

use scriptless::LstmConfig;

/// Vectors of f64, one per time step (or per layer and direction).
pub type Rows = Vec<Vec<f64>>;

/// One sequence `x` (len, input) through the LSTM described by `config`, whose tensors
/// `weight(name)` returns flattened row-major under PyTorch's names (`weight_ih_l0`, ...).
/// Returns the per-step output (len, D·h_out) and the final `h` and `c` per layer and
/// direction, in `h_n`'s order (`layer * D + direction`).
pub fn lstm(
    weight: &dyn Fn(&str) -> Vec<f64>,
    config: &LstmConfig,
    x: &[Vec<f64>],
) -> (Rows, Rows, Rows) {
    let (h_size, h_out) = (config.hidden_size, config.h_out());
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    let dirs: &[&str] = if config.bidirectional {
        &["", "_reverse"]
    } else {
        &[""]
    };
    let mut layer_in: Rows = x.to_vec();
    let (mut hs, mut cs) = (Vec::new(), Vec::new());
    for layer in 0..config.num_layers {
        let mut outs = Vec::new();
        for suffix in dirs {
            let w_ih = weight(&format!("weight_ih_l{layer}{suffix}"));
            let w_hh = weight(&format!("weight_hh_l{layer}{suffix}"));
            let (b_ih, b_hh) = if config.bias {
                (
                    weight(&format!("bias_ih_l{layer}{suffix}")),
                    weight(&format!("bias_hh_l{layer}{suffix}")),
                )
            } else {
                (vec![0.0; 4 * h_size], vec![0.0; 4 * h_size])
            };
            let w_hr =
                (config.proj_size > 0).then(|| weight(&format!("weight_hr_l{layer}{suffix}")));
            let n_in = layer_in.first().map_or(0, Vec::len);
            let (mut h, mut cell) = (vec![0.0; h_out], vec![0.0; h_size]);
            let mut out = vec![vec![0.0; h_out]; layer_in.len()];
            let steps: Vec<usize> = if suffix.is_empty() {
                (0..layer_in.len()).collect()
            } else {
                (0..layer_in.len()).rev().collect()
            };
            for t in steps {
                // Gate rows in PyTorch's order: input, forget, cell (g), output.
                let gate = |r: usize| {
                    let mut g = b_ih[r] + b_hh[r];
                    for j in 0..n_in {
                        g += w_ih[r * n_in + j] * layer_in[t][j];
                    }
                    for j in 0..h_out {
                        g += w_hh[r * h_out + j] * h[j];
                    }
                    g
                };
                let mut full_h = vec![0.0; h_size];
                for r in 0..h_size {
                    let (i, f) = (sig(gate(r)), sig(gate(h_size + r)));
                    let (g, o) = (gate(2 * h_size + r).tanh(), sig(gate(3 * h_size + r)));
                    cell[r] = f * cell[r] + i * g;
                    full_h[r] = o * cell[r].tanh();
                }
                h = match &w_hr {
                    Some(w_hr) => (0..h_out)
                        .map(|p| (0..h_size).map(|r| w_hr[p * h_size + r] * full_h[r]).sum())
                        .collect(),
                    None => full_h,
                };
                out[t] = h.clone();
            }
            outs.push(out);
            hs.push(h);
            cs.push(cell);
        }
        layer_in = (0..layer_in.len())
            .map(|t| outs.iter().flat_map(|o| o[t].clone()).collect())
            .collect();
    }
    (layer_in, hs, cs)
}
