//! The seed's archives, run by their own code (what `run --interpret` does: the TorchScript
//! interpreter for `weights.pt`, the graph executor for `weights.pt2`), give what the dedicated
//! models give: bit for bit in f32 where `aten::linear` and `aten::lstm` run on the same kernels
//! (the two-input and sequence models), within the parity tolerance for the categorical one; and
//! the archives the seed-code check refuses (not the seed's code) now run by their own code,
//! with PyTorch's outputs. A `.pt`'s second call replays its trace (`Program::traced_keys`),
//! whose fusions run the dedicated models' kernels: bit for bit theirs, the categorical one too.

mod common;

use common::{cases, fixtures, flat_f64};
use scriptless::script::{self, Program, Value};
use scriptless::{read_request, Model, ModelKind, Pooling, Weights};

/// The program's output on the fixture's `input.safetensors`, as a tensor.
fn interpreted(dir: &std::path::Path, file: &str) -> candle_core::Tensor {
    calls(dir, file).0
}

/// The program's outputs on the fixture's `input.safetensors` on its first call (interpreted)
/// and its second (a `.pt`'s replays its trace, with its fusions).
fn calls(dir: &std::path::Path, file: &str) -> (candle_core::Tensor, candle_core::Tensor) {
    let program =
        Program::load(dir.join(file)).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let bytes = std::fs::read(dir.join("input.safetensors")).unwrap();
    let tensors = script::tensors_from_safetensors(&bytes, "input").unwrap();
    let args = script::args_from_tensors(program.signature(), tensors).unwrap();
    let call = || match program
        .forward(args.clone())
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
    {
        Value::Tensor(t) => t.into_inner(),
        other => panic!(
            "{}: forward returned a {}",
            dir.display(),
            other.type_name()
        ),
    };
    let first = call();
    let second = call();
    if file.ends_with(".pt") {
        assert_eq!(program.traced_keys(), 1, "{}: no trace", dir.display());
    }
    (first, second)
}

/// The fixture's sequence request with every length set to the padded length, as a temporary
/// safetensors file.
fn full_lengths(dir: &std::path::Path) -> tempfile::NamedTempFile {
    let mut tensors =
        candle_core::safetensors::load(dir.join("input.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    let steps = tensors["padded_seq"].dims()[1] as i64;
    let lengths = &tensors["seq_lengths"];
    let full = candle_core::Tensor::full(steps, lengths.dims(), &candle_core::Device::Cpu)
        .unwrap()
        .to_dtype(lengths.dtype())
        .unwrap();
    tensors.insert("seq_lengths".into(), full);
    let file = tempfile::Builder::new()
        .suffix(".safetensors")
        .tempfile()
        .unwrap();
    candle_core::safetensors::save(&tensors, file.path()).unwrap();
    file
}

#[test]
fn the_seeds_archives_run_by_their_code_as_the_dedicated_models_do() {
    let mut checked = 0;
    for (name, kind, _) in cases() {
        let dir = fixtures().join(&name);
        let kind: ModelKind = kind.parse().unwrap();
        let weights = Weights::read(dir.join("weights.pt")).unwrap();
        let model = Model::from_weights(
            &weights,
            kind,
            candle_core::DType::F32,
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let inputs = read_request(
            &dir.join("input.safetensors"),
            kind,
            candle_core::DType::F32,
            &Default::default(),
        )
        .unwrap();
        let dedicated = model.forward(&inputs, Pooling::PaddedLast).unwrap();
        for file in ["weights.pt", "weights.pt2"] {
            if !dir.join(file).exists() {
                continue;
            }
            let name = format!("{name}/{file}");
            let (ours, replayed) = calls(&dir, file);
            // No .pt2 is the seed's sequence model (torch.export cannot trace the packing):
            // the exporter writes a variant that runs the LSTM over the padding, which is the
            // seed's model on sequences that all fill the padded length.
            let dedicated = if kind == ModelKind::Sequence && file == "weights.pt2" {
                let full = full_lengths(&dir);
                let inputs = read_request(
                    full.path(),
                    kind,
                    candle_core::DType::F32,
                    &Default::default(),
                )
                .unwrap();
                model.forward(&inputs, Pooling::PaddedLast).unwrap()
            } else {
                dedicated.clone()
            };
            assert_eq!(ours.dims(), dedicated.dims(), "{name}");
            let (ours, replayed, dedicated) =
                (flat_f64(&ours), flat_f64(&replayed), flat_f64(&dedicated));
            if file == "weights.pt" {
                // The replay fuses `linear(a + b)` and `linear(cat([x, one_hot(c).float()]))`
                // into the kernels the dedicated models run: bit for bit theirs.
                assert_eq!(
                    replayed, dedicated,
                    "{name}: the replay differs from the dedicated model"
                );
            } else {
                assert_eq!(
                    replayed, ours,
                    "{name}: the second call differs from the first"
                );
            }
            if kind == ModelKind::Categorical {
                // The dedicated model adds the category's weight column instead of multiplying by
                // the one-hot vector (which `torch.cat` + `aten::linear` do): the same sum in
                // another order, so within the parity tolerance rather than bit for bit.
                for (i, (a, b)) in ours.iter().zip(&dedicated).enumerate() {
                    assert!(
                        (a - b).abs() <= 2e-5 + 1e-4 * b.abs(),
                        "{name}: element {i}: {a} vs {b}"
                    );
                }
            } else {
                assert_eq!(
                    ours, dedicated,
                    "{name}: the interpreter differs from the dedicated model"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 40, "{checked}");
}

#[test]
fn archives_that_are_not_the_seeds_run_by_their_own_code() {
    let dir = fixtures().join("not_seed");
    let mut checked = 0;
    for (entry, file) in std::fs::read_dir(&dir).unwrap().flat_map(|e| {
        [
            (e.as_ref().unwrap().path(), "weights.pt"),
            (e.unwrap().path(), "weights.pt2"),
        ]
    }) {
        let case = entry;
        if !case.join(file).exists() {
            continue;
        }
        let ours = flat_f64(&interpreted(&case, file));
        let expected = candle_core::safetensors::load(
            case.join("expected.safetensors"),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let want = flat_f64(&expected["output"]);
        assert_eq!(ours.len(), want.len(), "{}", case.display());
        for (i, (a, b)) in ours.iter().zip(&want).enumerate() {
            assert!(
                (a - b).abs() <= 2e-5 + 1e-4 * b.abs(),
                "{}: element {i} is {a}, PyTorch's is {b}",
                case.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 5, "{checked}");
}

#[test]
fn a_replay_whose_fusion_does_not_apply_gives_the_interpreters_error() {
    // A category past `num_classes` on a categorical model's second call (same shapes: its
    // trace replays): the fused one-hot Linear declines, the operators it stands for run and
    // fail, and the call is interpreted, with one_hot's error at the code's line.
    let mut checked = 0;
    for (name, kind, _) in cases() {
        if kind != "categorical" {
            continue;
        }
        let dir = fixtures().join(&name);
        let program = Program::load(dir.join("weights.pt")).unwrap();
        let bytes = std::fs::read(dir.join("input.safetensors")).unwrap();
        let tensors = script::tensors_from_safetensors(&bytes, "input").unwrap();
        let args = script::args_from_tensors(program.signature(), tensors).unwrap();
        program.forward(args.clone()).unwrap();
        let bad: Vec<(String, Value)> = args
            .into_iter()
            .map(|(n, v)| match v {
                Value::Tensor(t) if !t.dtype().is_float() => {
                    let big = (t.inner().ones_like().unwrap() * 7.0).unwrap();
                    (n, Value::Tensor(scriptless::ops::Tensor::new(big).unwrap()))
                }
                other => (n, other),
            })
            .collect();
        let warm = program.forward(bad.clone()).unwrap_err().to_string();
        let fresh = Program::load(dir.join("weights.pt"))
            .unwrap()
            .forward(bad)
            .unwrap_err()
            .to_string();
        assert_eq!(warm, fresh, "{name}");
        assert!(
            warm.contains("one_hot") || warm.contains("class"),
            "{name}: {warm}"
        );
        checked += 1;
    }
    assert!(checked >= 1, "{checked}");
}

/// `args` with `seq_lengths` set to `lengths` and `padded_seq` scaled by `scale`.
fn with_lengths(args: &[(String, Value)], lengths: &[i64], scale: f64) -> Vec<(String, Value)> {
    let wrap = |t: candle_core::Tensor| Value::Tensor(scriptless::ops::Tensor::new(t).unwrap());
    args.iter()
        .map(|(n, v)| match (n.as_str(), v) {
            ("seq_lengths", Value::Tensor(t)) => {
                let dims = t.dims().to_vec();
                let l = candle_core::Tensor::from_vec(
                    lengths.to_vec(),
                    dims,
                    &candle_core::Device::Cpu,
                );
                (n.clone(), wrap(l.unwrap()))
            }
            ("padded_seq", Value::Tensor(t)) => (n.clone(), wrap((t.inner() * scale).unwrap())),
            _ => (n.clone(), v.clone()),
        })
        .collect()
}

#[test]
fn the_packed_lstm_replays_in_one_pass_as_the_interpreter_runs_it() {
    // `pack_padded_sequence` → LSTM → `pad_packed_sequence` replays as one fused pass. On other
    // lengths (the longest kept, so the shapes are the recorded ones) and other data, the
    // replay is bit for bit a fresh program's interpretation, for every sequence archive:
    // the seed's, more layers, both directions, and code that reads `h_n` or the lengths. A
    // length the packing refuses gives the interpreter's error.
    let mut dirs: Vec<std::path::PathBuf> = cases()
        .into_iter()
        .filter(|(_, kind, _)| kind == "sequence")
        .map(|(name, _, _)| fixtures().join(name))
        .collect();
    for name in [
        "sequence_final_hidden",
        "sequence_last_valid",
        "sequence_relu",
    ] {
        dirs.push(fixtures().join("not_seed").join(name));
    }
    let (mut fused, mut runs) = (0, 0);
    for dir in dirs {
        let name = dir.display().to_string();
        let program = Program::load(dir.join("weights.pt")).unwrap();
        let bytes = std::fs::read(dir.join("input.safetensors")).unwrap();
        let tensors = script::tensors_from_safetensors(&bytes, "input").unwrap();
        let args = script::args_from_tensors(program.signature(), tensors).unwrap();
        let lengths: Vec<i64> = args
            .iter()
            .find_map(|(n, v)| match v {
                Value::Tensor(t) if n == "seq_lengths" => Some(t.inner().to_vec1::<i64>().unwrap()),
                _ => None,
            })
            .unwrap();
        let steps = args
            .iter()
            .find_map(|(n, v)| match v {
                Value::Tensor(t) if n == "padded_seq" => Some(t.dims()[1] as i64),
                _ => None,
            })
            .unwrap();
        program.forward(args.clone()).unwrap();
        let longest = *lengths.iter().max().unwrap();
        // Reversed order, the longest kept, the others as short as they go.
        let mut other: Vec<i64> = lengths.iter().rev().map(|&l| (l / 2).max(1)).collect();
        other[lengths.len() / 2] = longest;
        for (lengths, scale) in [(other.clone(), 0.5), (lengths.clone(), -1.5)] {
            let call = with_lengths(&args, &lengths, scale);
            scriptless::ops::profile::start();
            let replayed = program.forward(call.clone());
            let rows = scriptless::ops::profile::stop();
            let fresh = Program::load(dir.join("weights.pt")).unwrap().forward(call);
            let flat = |v: scriptless::Result<Value>| match v.unwrap() {
                Value::Tensor(t) => flat_f64(t.inner()),
                other => panic!("{name}: forward returned a {}", other.type_name()),
            };
            assert_eq!(flat(replayed), flat(fresh), "{name}: lengths {lengths:?}");
            runs += 1;
            fused += rows
                .iter()
                .filter(|r| r.name.contains("aten::lstm.data"))
                .count();
        }
        for bad in [0, steps + 1] {
            let mut lengths = lengths.clone();
            lengths[0] = bad;
            let call = with_lengths(&args, &lengths, 1.0);
            let warm = program.forward(call.clone()).unwrap_err().to_string();
            let fresh = Program::load(dir.join("weights.pt"))
                .unwrap()
                .forward(call)
                .unwrap_err()
                .to_string();
            assert_eq!(warm, fresh, "{name}: length {bad}");
        }
    }
    assert!(runs >= 10, "{runs}");
    assert_eq!(
        fused, runs,
        "the fused pass ran on {fused} of {runs} replays"
    );
}

#[test]
fn borrowed_arguments_give_what_owned_ones_give() {
    // `forward_ref` replays a recorded key without copying the arguments, and checks any other
    // call as `forward` does: the same results and the same errors.
    for (name, _, _) in cases().into_iter().take(8) {
        let dir = fixtures().join(&name);
        let program = Program::load(dir.join("weights.pt")).unwrap();
        let fresh = Program::load(dir.join("weights.pt")).unwrap();
        let bytes = std::fs::read(dir.join("input.safetensors")).unwrap();
        let tensors = script::tensors_from_safetensors(&bytes, "input").unwrap();
        let args = script::args_from_tensors(program.signature(), tensors).unwrap();
        let borrowed: Vec<(&str, Value)> =
            args.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        let tensor = |v: Value| match v {
            Value::Tensor(t) => flat_f64(t.inner()),
            other => panic!("{name}: forward returned a {}", other.type_name()),
        };
        // The first call is interpreted and recorded, the next replay (the categorical
        // model's replay fuses its one-hot Linear, which sums in another order).
        let interpreted = tensor(fresh.forward(args.clone()).unwrap());
        let replayed = tensor(fresh.forward(args.clone()).unwrap());
        for call in 0..3 {
            let out = tensor(program.forward_ref(&borrowed).unwrap());
            let owned = if call == 0 { &interpreted } else { &replayed };
            assert_eq!(&out, owned, "{name}: call {call}");
        }
        assert_eq!(program.traced_keys(), 1, "{name}");
        let mut misnamed = borrowed.clone();
        misnamed[0].0 = "nothing";
        let mut owned_misnamed = args.clone();
        owned_misnamed[0].0 = "nothing".into();
        assert_eq!(
            program.forward_ref(&misnamed).unwrap_err().to_string(),
            fresh.forward(owned_misnamed).unwrap_err().to_string(),
            "{name}"
        );
    }
}
