//! `Model::forward_many`: many requests in few calls give each request exactly the result, or
//! the error, that it gives alone.

mod common;

use std::collections::HashMap;

use candle_core::{DType, Device, IndexOp, Tensor};
use common::{cases, compare, fixtures};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use scriptless::{
    request_from_safetensors, Limits, Model, ModelInputs, ModelKind, Pooling, Weights,
};

/// The fixture's request, and requests cut from it: row ranges of every batched input, and
/// requests each model refuses.
fn requests(inputs: &ModelInputs) -> Vec<ModelInputs> {
    let mut out = vec![inputs.clone()];
    let f32s = |shape: &[usize]| Tensor::zeros(shape, DType::F32, &Device::Cpu).unwrap();
    let i64s = |v: &[i64]| Tensor::new(v, &Device::Cpu).unwrap();
    match inputs {
        ModelInputs::Sequence {
            padded_seq,
            seq_lengths,
        } => {
            let batch = padded_seq.dim(0).unwrap();
            let mut start = 0;
            for n in [1, 3, 2].into_iter().cycle() {
                if start >= batch {
                    break;
                }
                let n = n.min(batch - start);
                out.push(ModelInputs::Sequence {
                    padded_seq: padded_seq.narrow(0, start, n).unwrap(),
                    seq_lengths: seq_lengths.narrow(0, start, n).unwrap(),
                });
                start += n;
            }
            let (_, time, features) = padded_seq.dims3().unwrap();
            // A length past the time axis, a length of 0, the wrong feature width.
            out.insert(
                2,
                ModelInputs::Sequence {
                    padded_seq: f32s(&[1, time, features]),
                    seq_lengths: i64s(&[time as i64 + 1]),
                },
            );
            out.push(ModelInputs::Sequence {
                padded_seq: f32s(&[2, time, features]),
                seq_lengths: i64s(&[1, 0]),
            });
            out.push(ModelInputs::Sequence {
                padded_seq: f32s(&[1, 2, features + 1]),
                seq_lengths: i64s(&[2]),
            });
        }
        ModelInputs::TwoInput { tensor1, tensor2 } => {
            out.push(ModelInputs::TwoInput {
                tensor1: tensor2.clone(),
                tensor2: tensor1.clone(),
            });
            let width = *tensor1.dims().last().unwrap();
            out.insert(
                1,
                ModelInputs::TwoInput {
                    tensor1: f32s(&[3, width + 1]),
                    tensor2: f32s(&[width + 1]),
                },
            );
            out.push(ModelInputs::TwoInput {
                tensor1: f32s(&[0, width]),
                tensor2: f32s(&[width]),
            });
            out.push(inputs.clone());
        }
        ModelInputs::Categorical {
            tensor_input,
            category_index,
        } => {
            let rows = tensor_input.dim(0).unwrap();
            for r in 0..rows {
                out.push(ModelInputs::Categorical {
                    tensor_input: tensor_input.i(r).unwrap(),
                    category_index: category_index.i(r).unwrap(),
                });
            }
            let width = *tensor_input.dims().last().unwrap();
            out.insert(
                1,
                ModelInputs::Categorical {
                    tensor_input: f32s(&[2, width]),
                    category_index: i64s(&[0, 1000]),
                },
            );
            out.push(ModelInputs::Categorical {
                tensor_input: f32s(&[2, width]),
                category_index: i64s(&[0]),
            });
        }
    }
    out
}

#[test]
fn forward_many_gives_every_request_its_own_result_or_error() {
    let mut checked = (0, 0);
    for (name, kind, _) in cases() {
        let dir = fixtures().join(&name);
        let kind: ModelKind = kind.parse().unwrap();
        let weights = Weights::read(dir.join("weights.safetensors")).unwrap();
        let model = Model::from_weights(&weights, kind, DType::F32, &Device::Cpu).unwrap();
        let bytes = std::fs::read(dir.join("input.safetensors")).unwrap();
        let inputs = request_from_safetensors(&bytes, kind, &name, &Limits::default()).unwrap();
        let requests = requests(&inputs);
        for pooling in [Pooling::PaddedLast, Pooling::LastValid] {
            let many = model.forward_many(&requests, pooling);
            assert_eq!(many.len(), requests.len());
            for (i, (got, request)) in many.iter().zip(&requests).enumerate() {
                let alone = model.forward(request, pooling);
                match (got, &alone) {
                    (Ok(got), Ok(want)) => {
                        // Stacking changes only the matrix sizes the kernels see (on the
                        // machine of the guide's figures the results are the same bits).
                        compare(got, want, 1e-6, 1e-6)
                            .unwrap_or_else(|e| panic!("{name} request {i}: {e}"));
                        checked.0 += 1;
                    }
                    (Err(got), Err(want)) => {
                        assert_eq!(got.to_string(), want.to_string(), "{name} request {i}");
                        checked.1 += 1;
                    }
                    _ => panic!("{name} request {i}: together {got:?}, alone {alone:?}"),
                }
            }
        }
    }
    assert!(checked.0 > 150 && checked.1 > 100, "{checked:?}");
}

#[test]
fn no_requests_give_no_results() {
    for kind in ModelKind::ALL {
        let file = match kind {
            ModelKind::TwoInput => "two_input",
            ModelKind::Categorical => "categorical",
            ModelKind::Sequence => "sequence",
        };
        let weights =
            Weights::read(common::root().join(format!("weights/{file}.safetensors"))).unwrap();
        let model = Model::from_weights(&weights, kind, DType::F32, &Device::Cpu).unwrap();
        assert!(model.forward_many(&[], Pooling::PaddedLast).is_empty());
    }
}

#[test]
fn sequence_requests_are_grouped_across_very_different_lengths() {
    // sequence_long holds lengths 230, 201, 57 and 1; with short requests from another
    // fixture's shape, groups must split by length and still give each its own result.
    let dir = fixtures().join("sequence_long");
    let weights = Weights::read(dir.join("weights.safetensors")).unwrap();
    let model =
        Model::from_weights(&weights, ModelKind::Sequence, DType::F32, &Device::Cpu).unwrap();
    let bytes = std::fs::read(dir.join("input.safetensors")).unwrap();
    let ModelInputs::Sequence {
        padded_seq,
        seq_lengths,
    } = request_from_safetensors(&bytes, ModelKind::Sequence, "long", &Limits::default()).unwrap()
    else {
        unreachable!()
    };
    let mut requests = Vec::new();
    for row in (0..4).cycle().take(300) {
        let len = seq_lengths.i(row).unwrap().to_scalar::<i64>().unwrap() as usize;
        requests.push(ModelInputs::Sequence {
            padded_seq: padded_seq
                .narrow(0, row, 1)
                .unwrap()
                .narrow(1, 0, len)
                .unwrap(),
            seq_lengths: seq_lengths.narrow(0, row, 1).unwrap(),
        });
    }
    let many = model.forward_many(&requests, Pooling::LastValid);
    for (got, request) in many.iter().zip(&requests) {
        let want = model.forward(request, Pooling::LastValid).unwrap();
        compare(got.as_ref().unwrap(), &want, 1e-6, 1e-6).unwrap();
    }
}

/// A state_dict of the `kind` model with random weights: a Linear of `out` outputs, over 10
/// features (and 3 categories); the sequence model's LSTM has 2 bidirectional layers of 20
/// units projected to 7.
fn random_state(kind: ModelKind, out: usize, rng: &mut StdRng) -> HashMap<String, Tensor> {
    let mut state = HashMap::new();
    let mut put = |name: String, shape: &[usize]| {
        state.insert(name, common::uniform(rng, shape, 0.3));
    };
    let linear_in = match kind {
        ModelKind::TwoInput => 10,
        ModelKind::Categorical => 13,
        ModelKind::Sequence => {
            let (hidden, proj) = (20, 7);
            for layer in 0..2 {
                for suffix in ["", "_reverse"] {
                    let input = if layer == 0 { 10 } else { 2 * proj };
                    put(
                        format!("rnn.weight_ih_l{layer}{suffix}"),
                        &[4 * hidden, input],
                    );
                    put(
                        format!("rnn.weight_hh_l{layer}{suffix}"),
                        &[4 * hidden, proj],
                    );
                    put(format!("rnn.bias_ih_l{layer}{suffix}"), &[4 * hidden]);
                    put(format!("rnn.bias_hh_l{layer}{suffix}"), &[4 * hidden]);
                    put(format!("rnn.weight_hr_l{layer}{suffix}"), &[proj, hidden]);
                }
            }
            2 * proj
        }
    };
    put("linear.weight".into(), &[out, linear_in]);
    put("linear.bias".into(), &[out]);
    state
}

/// One request of `rows` rows (the sequence model: `rows` sequences of 1 to 9 steps).
fn random_request(kind: ModelKind, rows: usize, rng: &mut StdRng) -> ModelInputs {
    let floats = |rng: &mut StdRng, shape: &[usize]| common::uniform(rng, shape, 2.0);
    match kind {
        ModelKind::TwoInput => ModelInputs::TwoInput {
            tensor1: floats(rng, &[rows, 10]),
            tensor2: floats(rng, &[10]),
        },
        ModelKind::Categorical => {
            let categories: Vec<i64> = (0..rows).map(|_| rng.random_range(0..3)).collect();
            ModelInputs::Categorical {
                tensor_input: floats(rng, &[rows, 10]),
                category_index: Tensor::new(categories, &Device::Cpu).unwrap(),
            }
        }
        ModelKind::Sequence => {
            let lengths: Vec<i64> = (0..rows).map(|_| rng.random_range(1..10)).collect();
            let time = *lengths.iter().max().unwrap() as usize;
            ModelInputs::Sequence {
                padded_seq: floats(rng, &[rows, time, 10]),
                seq_lengths: Tensor::new(lengths, &Device::Cpu).unwrap(),
            }
        }
    }
}

/// Every request, of one row or many, gets the same bits in a batch as alone, in every dtype:
/// no product of one row (a one-row request, an LSTM step with one sequence left) is computed
/// in another order than the rows of a larger one (`gemm`'s one-row path gave f64 and f16
/// results, and f32 ones past the narrow kernel's widths, that differed in the last bits).
#[test]
fn batched_requests_are_bit_for_bit_their_single_calls_in_every_dtype() {
    let mut rng = StdRng::seed_from_u64(31);
    for kind in ModelKind::ALL {
        // 10 outputs take the narrow kernel in f32 where it applies; 64 the matrix product; 1
        // a product of one column.
        for out in [1, 10, 64] {
            let mut metadata = HashMap::new();
            metadata.insert("model".to_string(), kind.name().to_string());
            let weights = Weights::from_tensors(random_state(kind, out, &mut rng), metadata);
            let requests: Vec<ModelInputs> = [1, 1, 2, 1, 5, 1, 1, 3, 1, 1]
                .into_iter()
                .map(|rows| random_request(kind, rows, &mut rng))
                .collect();
            // On aarch64, gemm's bf16 products still depend on the number of rows (found under
            // qemu; not yet fixed): bf16 is checked on x86-64 only.
            let dtypes: &[DType] = if cfg!(target_arch = "aarch64") {
                &[DType::F32, DType::F64, DType::F16]
            } else {
                &[DType::F32, DType::F64, DType::F16, DType::BF16]
            };
            for &dtype in dtypes {
                let model = Model::from_weights(&weights, kind, dtype, &Device::Cpu).unwrap();
                for pooling in [Pooling::PaddedLast, Pooling::LastValid] {
                    let batched = model.forward_many(&requests, pooling);
                    for (i, (request, got)) in requests.iter().zip(batched).enumerate() {
                        let alone = model.forward(request, pooling).unwrap();
                        let bits = |t: &Tensor| {
                            t.to_dtype(DType::F64)
                                .unwrap()
                                .flatten_all()
                                .unwrap()
                                .to_vec1::<f64>()
                                .unwrap()
                        };
                        assert_eq!(
                            bits(&got.unwrap()),
                            bits(&alone),
                            "{kind} with {out} outputs in {dtype:?}, {pooling:?}: request {i}"
                        );
                    }
                }
            }
        }
    }
}
