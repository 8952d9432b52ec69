//! An archive's own code is the model. The seed's archives run as the seed's models (their
//! code is the seed's; `pytorch_files.rs` checks every fixture's); archives whose classes are
//! named like the seed's and that hold its tensors, but whose code is not the seed's
//! (`tests/fixtures/not_seed`, written by `python/export.py`), are refused unless a kind is
//! asked for, naming the file and line where they depart; asked for one, they run the seed's
//! model, not their own code. Copies of the seed's archive edited here are refused at the edit.

mod common;

use std::io::{Read, Write};

use candle_core::{DType, Device, Tensor};
use common::{compare, fixtures, load, manifest, root, ATOL, RTOL};
use scriptless::{
    request_from_safetensors, ArchiveCode, Error, Limits, Model, ModelKind, Pooling, Weights,
};
use zip::write::SimpleFileOptions;
use zip::ZipWriter;

/// The `not_seed` cases of the manifest: (name, kind, weights files).
fn not_seed() -> Vec<(String, ModelKind, Vec<String>)> {
    manifest()["not_seed"]
        .as_array()
        .expect("not_seed")
        .iter()
        .map(|c| {
            let formats = c["formats"].as_array().unwrap().iter();
            (
                c["name"].as_str().unwrap().to_string(),
                c["model"].as_str().unwrap().parse().unwrap(),
                formats
                    .map(|f| format!("weights.{}", f.as_str().unwrap()))
                    .collect(),
            )
        })
        .collect()
}

fn reason(weights: &Weights) -> &str {
    match weights.code() {
        Some(ArchiveCode::NotSeed { reason }) => reason,
        other => panic!("{other:?}"),
    }
}

#[test]
fn archives_whose_code_is_not_the_seeds_are_refused_where_it_departs() {
    // What each departure looks like: the first line of the code (or node of the graph) that is
    // not the seed's.
    let departs = [
        (
            "sequence_final_hidden/weights.pt",
            // It unpacks h_n and never pads the output back: it hoists no pad_packed_sequence.
            "SequenceInputModule.forward is not the seed's SequenceInputModule.forward: line 12 \
             reads `packed_seq = _0(padded_seq, seq_lengths, True, False, )`, where the seed's \
             reads `_1 = __torch__.torch.nn.utils.rnn.pad_packed_sequence`",
        ),
        (
            "sequence_relu/weights.pt",
            "line 20 reads `_6 = (linear).forward(torch.relu(torch.slice(_5, 1)), )`, where the \
             seed's reads `_6 = (linear).forward(torch.slice(_5, 1), )`",
        ),
        (
            "sequence_last_valid/weights.pt",
            "line 18 reads `_4 = torch.arange(torch.size(unpacked_seq, 0))`, where the seed's \
             reads `linear = self.linear`",
        ),
        (
            "two_input_product/weights.pt",
            "TwoInputModule.forward is not the seed's TwoInputModule.forward: line 11 reads \
             `_0 = (linear).forward(torch.mul(tensor1, tensor2), )`, where the seed's reads \
             `_0 = (linear).forward(torch.add(tensor1, tensor2), )`",
        ),
        (
            "two_input_product/weights.pt2",
            "models/model.json: the graph is not the seed's TwoInputModule: node 1 is `mul = \
             torch.ops.aten.mul.Tensor(self=tensor1, other=tensor2)`, where the seed's is `add = \
             torch.ops.aten.add.Tensor(self=tensor1, other=tensor2)`",
        ),
    ];
    let files: Vec<String> = not_seed()
        .into_iter()
        .flat_map(|(name, _, files)| files.into_iter().map(move |f| format!("{name}/{f}")))
        .collect();
    assert_eq!(files, departs.map(|(f, _)| f.to_string()));
    for (file, want) in departs {
        let path = fixtures().join("not_seed").join(file);
        let w = Weights::read(&path).unwrap();
        let reason = reason(&w);
        assert!(
            reason.starts_with(&format!("weights file {}: ", path.display())),
            "{reason}"
        );
        assert!(reason.contains(want), "{file}: {reason}");
        // The class is named like the seed's, and the tensors are the seed's: neither counts.
        assert_eq!(w.model_kind().unwrap(), None, "{file}");
        let e = ModelKind::resolve(None, &w, "--model").unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)), "{e:?}");
        let e = e.to_string();
        assert!(e.starts_with(reason), "{e}");
        let own = if file.ends_with(".pt2") {
            "scriptless cannot run a .pt2's own graph yet, only the seed's three models"
        } else {
            "the seed's models cannot run it; it runs by its own code \
             (scriptless::script::Program, or `scriptless run` without --model)"
        };
        assert!(
            e.ends_with(&format!(
                "{own} (--model KIND loads the archive's tensors into the seed's KIND model and \
                 ignores its code)"
            )),
            "{e}"
        );
    }
}

/// `(model(inputs), the case's expected outputs)` for a not-seed case run as the seed's `kind`.
fn run_as_seed(name: &str, file: &str, kind: ModelKind, pooling: Pooling) -> Tensor {
    let dir = fixtures().join("not_seed").join(name);
    let w = Weights::read(dir.join(file)).unwrap();
    assert_eq!(ModelKind::resolve(Some(kind), &w, "--model").unwrap(), kind);
    let model = Model::from_weights(&w, kind, DType::F32, &Device::Cpu).unwrap();
    let bytes = std::fs::read(dir.join("input.safetensors")).unwrap();
    let inputs = request_from_safetensors(&bytes, kind, name, &Limits::default()).unwrap();
    model.forward(&inputs, pooling).unwrap()
}

#[test]
fn asked_for_a_kind_they_run_the_seeds_model_not_their_own_code() {
    for (name, kind, files) in not_seed() {
        let expected = load(
            &fixtures()
                .join("not_seed")
                .join(&name)
                .join("expected.safetensors"),
        );
        for file in &files {
            let got = run_as_seed(&name, file, kind, Pooling::PaddedLast);
            // PyTorch's output of the seed's model on the same tensors...
            compare(&got, &expected["seed_output"], ATOL, RTOL)
                .unwrap_or_else(|e| panic!("{name}/{file}: {e}"));
            // ...which is not what the archive's own code computes (export.py checks the two
            // differ).
            assert!(
                compare(&got, &expected["output"], ATOL, RTOL).is_err(),
                "{name}/{file}"
            );
        }
    }
    // Picking each row's last valid step by hand is what --pool last-valid does.
    let got = run_as_seed(
        "sequence_last_valid",
        "weights.pt",
        ModelKind::Sequence,
        Pooling::LastValid,
    );
    let expected = load(&fixtures().join("not_seed/sequence_last_valid/expected.safetensors"));
    compare(&got, &expected["output"], ATOL, RTOL).unwrap();
}

#[test]
fn a_kind_the_seeds_code_contradicts_is_refused() {
    let w = Weights::read(root().join("weights/sequence.pt")).unwrap();
    let e = ModelKind::resolve(Some(ModelKind::TwoInput), &w, "--model").unwrap_err();
    assert_eq!(
        e.to_string(),
        "--model two-input contradicts the archive, whose code is the seed's sequence model"
    );
}

/// `weights/sequence.pt` with the text of code entry `name` (under the archive's folder)
/// changed by `edit`, or the entry removed when `edit` returns `None`; other entries copied as
/// they are, deflated or stored.
fn edited(name: &str, edit: impl Fn(&str) -> Option<String>) -> Vec<u8> {
    let bytes = std::fs::read(root().join("weights/sequence.pt")).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut found = false;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let entry_name = entry.name().unwrap().to_string();
        let options = SimpleFileOptions::default().compression_method(entry.compression());
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        if entry_name == format!("sequence/{name}") {
            found = true;
            match edit(std::str::from_utf8(&data).unwrap()) {
                Some(text) => data = text.into_bytes(),
                None => continue,
            }
        }
        out.start_file(entry_name, options).unwrap();
        out.write_all(&data).unwrap();
    }
    assert!(found, "no entry {name}");
    out.finish().unwrap().into_inner()
}

/// The code of `bytes`, read as `edited.pt`.
fn code_of(bytes: &[u8]) -> ArchiveCode {
    let w = Weights::from_bytes(bytes, "edited.pt", &Limits::default()).unwrap();
    w.code().cloned().unwrap()
}

/// `text` with `from` replaced by `to`, which must occur in it.
fn replace(from: &'static str, to: &'static str) -> impl Fn(&str) -> Option<String> {
    move |text: &str| {
        assert!(text.contains(from), "no `{from}`");
        Some(text.replacen(from, to, 1))
    }
}

#[test]
fn edited_copies_of_the_seeds_archive_are_refused_at_the_edit() {
    // Copied as it is, the archive is still the seed's.
    let same = edited("code/__torch__.py", |t| Some(t.to_string()));
    assert_eq!(code_of(&same), ArchiveCode::Seed(ModelKind::Sequence));
    // Renaming a local variable, and a blank line, change nothing computed.
    let renamed = edited(
        "code/__torch__.py",
        replace_all(&[
            ("packed_seq = _0(", "\n    packed = _0("),
            (
                "forward__1(packed_seq, None, )",
                "forward__1(packed, None, )",
            ),
        ]),
    );
    assert_eq!(code_of(&renamed), ArchiveCode::Seed(ModelKind::Sequence));
    // A dropout between layers does nothing to a one-layer LSTM.
    let dropout = edited(
        "code/__torch__/torch/nn/modules/rnn.py",
        replace(
            "_flat_weights, True, 1, 0., training, False)",
            "_flat_weights, True, 1, 0.5, training, False)",
        ),
    );
    assert_eq!(code_of(&dropout), ArchiveCode::Seed(ModelKind::Sequence));

    let rnn = "code/__torch__/torch/nn/modules/rnn.py";
    let utils = "code/__torch__/torch/nn/utils/rnn.py";
    for (bytes, want) in [
        // The LSTM's code and its tensors disagree.
        (
            edited(rnn, replace("_flat_weights, True, 1, 0., training, False)", "_flat_weights, True, 2, 0., training, False)")),
            "the code's LSTM has num_layers 2, but its tensors make 1".to_string(),
        ),
        (
            edited(rnn, replace("_flat_weights, True, 1, 0., training, False)", "_flat_weights, True, 1, 0., training, True)")),
            "the code's LSTM has bidirectional true, but its tensors make false".to_string(),
        ),
        // The packing sorts the other way.
        (
            edited(utils, replace("torch.sort(lengths0, -1, True)", "torch.sort(lengths0, -1, False)")),
            format!("{utils}: pack_padded_sequence is not the seed's: line 17 reads `lengths5, sorted_indices0 = torch.sort(lengths0, -1, False)`"),
        ),
        // The Linear drops its bias.
        (
            edited(
                "code/__torch__/torch/nn/modules/linear/___torch_mangle_1.py",
                replace("torch.linear(input, weight, bias)", "torch.linear(input, weight, None)"),
            ),
            "Linear.forward is not the seed's: line 14 reads `return torch.linear(input, weight, None)`".to_string(),
        ),
        // The packing's code is gone.
        (
            edited(utils, |_| None),
            "code/__torch__.py: SequenceInputModule.forward refers to \
             __torch__.torch.nn.utils.rnn.pack_padded_sequence, whose code is not in the archive"
                .to_string(),
        ),
        // A forward hook, which PyTorch runs on the output of every call (torch.jit.save keeps
        // the root module's hooks).
        (
            edited(
                "code/__torch__.py",
                replace("  __buffers__ = []\n", "  __buffers__ = []\n  __forward_hooks__ = [\"hook\", ]\n"),
            ),
            "code/__torch__.py: SequenceInputModule has forward hooks \
             (__forward_hooks__ = [\"hook\", ]), which PyTorch runs around its forward"
                .to_string(),
        ),
        // Code that is not the printer's Python.
        (
            edited("code/__torch__.py", |t| Some(format!("€{t}"))),
            "code/__torch__.py, line 1: unexpected character `€`".to_string(),
        ),
        // More code than is read.
        (
            edited("code/__torch__.py", |t| Some(format!("{t}\n{}", "x = 1\n".repeat(3_000_000)))),
            "its code is over 16777216 bytes, which is not read".to_string(),
        ),
    ] {
        match code_of(&bytes) {
            ArchiveCode::NotSeed { reason } => {
                assert!(reason.starts_with("edited.pt: "), "{reason}");
                assert!(reason.contains(&want), "{reason}\nwants {want}");
            }
            seed => panic!("{seed:?}, wanted {want}"),
        }
    }
}

/// `text` with each `(from, to)` replaced, each of which must occur in it.
fn replace_all(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |text: &str| {
        let mut text = text.to_string();
        for (from, to) in pairs {
            assert!(text.contains(from), "no `{from}`");
            text = text.replacen(from, to, 1);
        }
        Some(text)
    }
}
