//! The seed's archives, run by their own code through the interpreter (what `run --interpret`
//! does), give what the dedicated models give: bit for bit in f32 where `aten::linear` and
//! `aten::lstm` run on the same kernels (the two-input and sequence models), within the parity
//! tolerance for the categorical one; and the archives the seed-code check refuses (not the
//! seed's code) now run by their own code, with PyTorch's outputs.

mod common;

use common::{cases, fixtures, flat_f64};
use scriptless::script::{self, Program, Value};
use scriptless::{read_request, Model, ModelKind, Pooling, Weights};

/// The program's output on the fixture's `input.safetensors`, as a tensor.
fn interpreted(dir: &std::path::Path) -> candle_core::Tensor {
    let program =
        Program::load(dir.join("weights.pt")).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let bytes = std::fs::read(dir.join("input.safetensors")).unwrap();
    let tensors = script::tensors_from_safetensors(&bytes, "input").unwrap();
    let args = script::args_from_tensors(program.signature(), tensors).unwrap();
    match program
        .forward(args)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
    {
        Value::Tensor(t) => t.into_inner(),
        other => panic!(
            "{}: forward returned a {}",
            dir.display(),
            other.type_name()
        ),
    }
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
        let ours = interpreted(&dir);
        assert_eq!(ours.dims(), dedicated.dims(), "{name}");
        let (ours, dedicated) = (flat_f64(&ours), flat_f64(&dedicated));
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
    assert!(checked >= 20, "{checked}");
}

#[test]
fn archives_that_are_not_the_seeds_run_by_their_own_code() {
    let dir = fixtures().join("not_seed");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let case = entry.unwrap().path();
        let ours = flat_f64(&interpreted(&case));
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
    assert!(checked >= 4);
}
