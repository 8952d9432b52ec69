//! PyTorch's own files as weights: every fixture's `weights.pth` (`torch.save(state_dict)`) and
//! `weights.pt` (`torch.jit.save`) hold exactly the tensors of its `weights.safetensors`; and
//! hostile archives (unknown globals, huge views, missing storages, truncated zips) are refused
//! with an error, never a panic or a huge allocation.

mod common;

use std::io::Write;

use common::{cases, fixtures, root};
use scriptless::{ArchiveCode, Error, Limits, ModelKind, Weights, WeightsFormat};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// Asserts that two weights hold the same names, dtypes, shapes and bits.
fn assert_same_tensors(a: &Weights, b: &Weights, what: &str) {
    let names: Vec<&str> = a.names().collect();
    assert_eq!(names, b.names().collect::<Vec<_>>(), "{what}: names");
    for name in names {
        let (x, y) = (a.tensor(name).unwrap(), b.tensor(name).unwrap());
        assert_eq!(x.dtype(), y.dtype(), "{what}: {name} dtype");
        assert_eq!(x.dims(), y.dims(), "{what}: {name} shape");
        assert_eq!(
            common::flat_f64(x),
            common::flat_f64(y),
            "{what}: {name} values"
        );
    }
}

#[test]
fn every_fixtures_pth_and_pt_hold_its_safetensors_tensors() {
    let cases = cases();
    assert!(cases.len() >= 20);
    for (name, kind, config) in &cases {
        let dir = fixtures().join(name);
        let reference = Weights::read(dir.join("weights.safetensors")).unwrap();
        let pth = Weights::read(dir.join("weights.pth")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pth.format(), &WeightsFormat::TorchSave, "{name}");
        assert!(pth.metadata().is_empty());
        assert_same_tensors(&reference, &pth, &format!("{name}/weights.pth"));
        let pt = Weights::read(dir.join("weights.pt")).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(pt.format(), WeightsFormat::TorchScript { .. }),
            "{name}: {:?}",
            pt.format()
        );
        assert_same_tensors(&reference, &pt, &format!("{name}/weights.pt"));
        // Its code is the seed's (export.py's generalised classes print as the seed's), which
        // names the model and, for the categorical model, the feature width (the one-hot's).
        let kind: ModelKind = kind.parse().unwrap();
        assert_eq!(pt.code(), Some(&ArchiveCode::Seed(kind)), "{name}");
        assert_eq!(pt.model_kind().unwrap(), Some(kind), "{name}");
        let width = pt.metadata().get("feature_width").cloned();
        let want = (kind == ModelKind::Categorical).then(|| config["feature_width"].to_string());
        assert_eq!(width, want, "{name}");
    }
}

#[test]
fn every_fixtures_pt2_holds_its_safetensors_tensors_and_its_graph_names_its_model() {
    let cases = cases();
    for (name, kind, config) in &cases {
        let dir = fixtures().join(name);
        let reference = Weights::read(dir.join("weights.safetensors")).unwrap();
        let pt2 = Weights::read(dir.join("weights.pt2")).unwrap_or_else(|e| panic!("{e}"));
        assert_same_tensors(&reference, &pt2, &format!("{name}/weights.pt2"));
        let WeightsFormat::TorchExport { program } = pt2.format() else {
            panic!("{name}: {:?}", pt2.format());
        };
        // What the program says: the seed's forward arguments; for the Linear models a graph
        // that is the seed's, so the model, and the categorical model's feature width, which a
        // state_dict cannot say; the torch that exported it. The sequence model's graph cannot
        // be the seed's: export.py exports a variant without the packing.
        let kind: ModelKind = kind.parse().unwrap();
        let names: Vec<&str> = program.inputs.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, kind.input_names(), "{name}");
        if kind == ModelKind::Sequence {
            assert_eq!(pt2.model_kind().unwrap(), None, "{name}");
            let Some(ArchiveCode::NotSeed { reason }) = pt2.code() else {
                panic!("{name}: {:?}", pt2.code());
            };
            assert!(
                reason.contains("no torch.export graph is the seed's sequence model")
                    && reason.contains("never reads `seq_lengths`"),
                "{name}: {reason}"
            );
        } else {
            assert_eq!(pt2.code(), Some(&ArchiveCode::Seed(kind)), "{name}");
            assert_eq!(pt2.model_kind().unwrap(), Some(kind), "{name}");
        }
        let width = pt2.metadata().get("feature_width").cloned();
        let want = (kind == ModelKind::Categorical).then(|| config["feature_width"].to_string());
        assert_eq!(width, want, "{name}");
        assert_eq!(
            pt2.metadata().get("torch_version"),
            common::manifest()["torch_version"]
                .as_str()
                .map(String::from)
                .as_ref(),
            "{name}"
        );
        assert_eq!(program.outputs, 1, "{name}");
        // The sequence archives are the variant without packing, which torch.export can trace.
        let lstm = program
            .operators
            .iter()
            .any(|o| o.ends_with("aten.lstm.input"));
        assert_eq!(
            lstm,
            kind == ModelKind::Sequence,
            "{name}: {:?}",
            program.operators
        );
        assert!(
            !program.operators.iter().any(|o| o.contains("pack")),
            "{name}: {:?}",
            program.operators
        );
    }
}

#[test]
fn shared_and_strided_storages_read_as_pytorch_wrote_them() {
    // two_input_views: the weight is a transposed view at offset 3 of one storage, the bias a
    // slice after it. torch.save and torch.export.save both keep that storage once.
    let dir = fixtures().join("two_input_views");
    let reference = Weights::read(dir.join("weights.safetensors")).unwrap();
    for file in ["weights.pth", "weights.pt2"] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let w = Weights::from_bytes(&bytes, file, &Limits::default()).unwrap();
        assert_same_tensors(&reference, &w, file);
    }
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(
        std::fs::read(dir.join("weights.pt2")).unwrap(),
    ))
    .unwrap();
    let storages = (0..zip.len())
        .filter(|&i| {
            let entry = zip.by_index(i).unwrap();
            entry.name().unwrap().contains("data/weights/weight_")
        })
        .count();
    assert_eq!(storages, 1);
}

#[test]
fn weights_stored_in_f16_bf16_and_f64_read_from_torch_save_files() {
    let stored = common::manifest()["stored_precision"].clone();
    let mut checked = 0;
    for (name, tags) in stored.as_object().unwrap() {
        for tag in tags.as_array().unwrap() {
            let tag = tag.as_str().unwrap();
            let dir = fixtures().join(name);
            let st = Weights::read(dir.join(format!("weights_{tag}.safetensors"))).unwrap();
            let pth = Weights::read(dir.join(format!("weights_{tag}.pth"))).unwrap();
            assert_same_tensors(&st, &pth, &format!("{name}/weights_{tag}.pth"));
            checked += 1;
        }
    }
    assert!(checked >= 15, "{checked}");
}

#[test]
fn the_seed_code_names_its_model_in_torchscript_and_export_archives() {
    for (file, kind) in [
        ("two_input", ModelKind::TwoInput),
        ("categorical", ModelKind::Categorical),
        ("sequence", ModelKind::Sequence),
    ] {
        let pt = Weights::read(root().join(format!("weights/{file}.pt"))).unwrap();
        // export.py runs as `__main__`, so TorchScript gives its classes no module path.
        let class = kind.seed_class().to_string();
        assert_eq!(pt.format(), &WeightsFormat::TorchScript { class });
        assert_eq!(pt.code(), Some(&ArchiveCode::Seed(kind)));
        assert_eq!(pt.model_kind().unwrap(), Some(kind));
        // A state_dict file cannot say which model it is.
        let pth = Weights::read(root().join(format!("weights/{file}.pth"))).unwrap();
        assert_eq!(pth.model_kind().unwrap(), None);
        let st = Weights::read(root().join(format!("weights/{file}.safetensors"))).unwrap();
        assert_same_tensors(&st, &pt, file);
        assert_same_tensors(&st, &pth, file);
        // A .pt2 names its model by its graph, which only the Linear models' can be.
        let pt2 = Weights::read(root().join(format!("weights/{file}.pt2"))).unwrap();
        let named = (kind != ModelKind::Sequence).then_some(kind);
        assert_eq!(pt2.model_kind().unwrap(), named);
        assert_same_tensors(&st, &pt2, file);
    }
    // The class's name does not matter, the code does: export.py's GeneralSequence is the seed's
    // code with other sizes.
    let pt = Weights::read(fixtures().join("sequence_proj/weights.pt")).unwrap();
    assert!(
        matches!(pt.format(), WeightsFormat::TorchScript { class } if class.ends_with("GeneralSequence"))
    );
    assert_eq!(pt.model_kind().unwrap(), Some(ModelKind::Sequence));
}

// ---------------------------------------------------------------------------------------------
// Hostile archives, built here byte by byte.
// ---------------------------------------------------------------------------------------------

/// A pickle written opcode by opcode (protocol 2, as torch.save writes).
#[derive(Default)]
struct Pickle(Vec<u8>);

impl Pickle {
    fn new() -> Self {
        Self(vec![0x80, 2])
    }
    fn op(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
    fn global(self, module: &str, name: &str) -> Self {
        self.op(format!("c{module}\n{name}\n").as_bytes())
    }
    fn str(self, s: &str) -> Self {
        let len = (s.len() as u32).to_le_bytes();
        self.op(b"X").op(&len).op(s.as_bytes())
    }
    fn int(self, n: i64) -> Self {
        self.op(&[0x8a, 8]).op(&n.to_le_bytes())
    }
    fn ints(mut self, ns: &[i64]) -> Self {
        self = self.op(b"(");
        for &n in ns {
            self = self.int(n);
        }
        self.op(b"t")
    }
    /// `_rebuild_tensor_v2(('storage', torch.<ty>, key, 'cpu', numel), offset, size, stride,
    /// False, OrderedDict())`.
    fn tensor(
        self,
        ty: &str,
        key: &str,
        numel: i64,
        offset: i64,
        size: &[i64],
        stride: &[i64],
    ) -> Self {
        self.global("torch._utils", "_rebuild_tensor_v2")
            .tensor_args(ty, key, numel, offset, size, stride)
            .op(b"R")
    }
    /// The argument tuple of [`tensor`](Self::tensor).
    fn tensor_args(
        self,
        ty: &str,
        key: &str,
        numel: i64,
        offset: i64,
        size: &[i64],
        stride: &[i64],
    ) -> Self {
        self.op(b"((")
            .str("storage")
            .global("torch", ty)
            .str(key)
            .str("cpu")
            .int(numel)
            .op(b"tQ")
            .int(offset)
            .ints(size)
            .ints(stride)
            .op(&[0x89])
            .global("collections", "OrderedDict")
            .op(b")R")
            .op(b"t")
    }
    fn stop(self) -> Vec<u8> {
        self.op(b".").0
    }
}

/// A state_dict `{name: tensor}` whose tensor is described by the arguments.
fn state_dict(name: &str, numel: i64, offset: i64, size: &[i64], stride: &[i64]) -> Vec<u8> {
    Pickle::new()
        .op(b"}")
        .str(name)
        .tensor("FloatStorage", "0", numel, offset, size, stride)
        .op(b"s")
        .stop()
}

/// A zip archive as torch.save lays it out: `archive/<entry>` for each entry, stored.
fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for (name, bytes) in entries {
        zip.start_file(format!("archive/{name}"), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn floats(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect()
}

/// Reads `bytes` as a weights file and returns the error's text, which must be a format error.
fn refused(bytes: &[u8]) -> String {
    match Weights::from_bytes(bytes, "w.pth", &Limits::default()) {
        Ok(w) => panic!("accepted, with tensors {:?}", w.names().collect::<Vec<_>>()),
        Err(e @ Error::Format { .. }) => e.to_string(),
        Err(other) => panic!("not a format error: {other}"),
    }
}

#[test]
fn a_hand_built_archive_reads() {
    // The builder itself is right: a well-formed 2×3 tensor and its transpose (a strided view)
    // read back with PyTorch's values.
    let pkl = Pickle::new()
        .op(b"}")
        .str("w")
        .tensor("FloatStorage", "0", 6, 0, &[2, 3], &[3, 1])
        .op(b"s")
        .str("w_t")
        .tensor("FloatStorage", "0", 6, 0, &[3, 2], &[1, 3])
        .op(b"s")
        .stop();
    let data = floats(6);
    let w = Weights::from_bytes(
        &archive(&[("data.pkl", &pkl), ("data/0", &data)]),
        "w.pth",
        &Limits::default(),
    )
    .unwrap();
    let t = w.tensor("w").unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(t, [[0., 1., 2.], [3., 4., 5.]]);
    let t = w.tensor("w_t").unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(t, [[0., 3.], [1., 4.], [2., 5.]]);
}

#[test]
fn globals_other_than_tensor_rebuilders_are_refused_by_name() {
    let pkl = Pickle::new()
        .global("os", "system")
        .str("echo pwned")
        .op(&[0x85])
        .op(b"R")
        .stop();
    let e = refused(&archive(&[("data.pkl", &pkl)]));
    assert!(e.contains("`os.system`"), "{e}");
    // A whole pickled module (torch.save(model)) names its class: refused with a hint.
    let pkl = Pickle::new()
        .global("export", "SequenceInputModule")
        .op(b")\x81")
        .stop();
    let e = refused(&archive(&[("data.pkl", &pkl)]));
    assert!(
        e.contains("`export.SequenceInputModule`") && e.contains("state_dict()"),
        "{e}"
    );
    // An allowed global used in a way PyTorch never does.
    let pkl = Pickle::new()
        .global("collections", "OrderedDict")
        .str("x")
        .op(&[0x85])
        .op(b"R")
        .stop();
    let e = refused(&archive(&[("data.pkl", &pkl)]));
    assert!(e.contains("calling `collections.OrderedDict`"), "{e}");
}

#[test]
fn views_past_their_storage_and_huge_sizes_are_refused_before_allocating() {
    let data = floats(6);
    let cases: [(&[i64], &[i64], i64, &str); 5] = [
        (&[1 << 40, 1 << 40], &[1, 1], 0, "overflows"),
        (&[1 << 40], &[1], 0, "more than its storage"),
        (&[2, 3], &[3, 1], 1, "reaches past its storage"),
        (&[1000, 6], &[0, 1], 0, "more than its storage"),
        (&[-1], &[1], 0, "holds -1"),
    ];
    for (size, stride, offset, want) in cases {
        let pkl = state_dict("w", 6, offset, size, stride);
        let e = refused(&archive(&[("data.pkl", &pkl), ("data/0", &data)]));
        assert!(e.contains("`w`") || e.contains("size"), "{e}");
        assert!(e.contains(want), "{size:?} {stride:?}: {e}");
    }
    // A storage that claims more elements than its entry holds.
    let pkl = state_dict("w", 1 << 40, 0, &[6], &[1]);
    let e = refused(&archive(&[("data.pkl", &pkl), ("data/0", &data)]));
    assert!(e.contains("archive/data/0 holds 24 bytes"), "{e}");
}

#[test]
fn missing_storages_and_missing_data_pkl_are_refused() {
    let pkl = state_dict("w", 6, 0, &[6], &[1]);
    let e = refused(&archive(&[("data.pkl", &pkl)]));
    assert!(e.contains("`w`") && e.contains("archive/data/0"), "{e}");
    let e = refused(&archive(&[("other.txt", b"hello")]));
    assert!(e.contains("without data.pkl"), "{e}");
}

#[test]
fn truncated_and_corrupted_archives_are_refused() {
    let data = floats(6);
    let pkl = state_dict("w", 6, 0, &[2, 3], &[3, 1]);
    let good = archive(&[("data.pkl", &pkl), ("data/0", &data)]);
    assert!(Weights::from_bytes(&good, "w", &Limits::default()).is_ok());
    // Every truncation of the file, and of the pickle inside it.
    for cut in 4..good.len() {
        if let Ok(w) = Weights::from_bytes(&good[..cut], "w", &Limits::default()) {
            panic!(
                "cut at {cut} of {}: accepted {:?}",
                good.len(),
                w.names().collect::<Vec<_>>()
            );
        }
    }
    for cut in 0..pkl.len() {
        refused(&archive(&[("data.pkl", &pkl[..cut]), ("data/0", &data)]));
    }
    // A flipped byte in a storage fails its CRC.
    let at = good
        .windows(data.len())
        .position(|w| w == data.as_slice())
        .unwrap();
    let mut bad = good.clone();
    bad[at + 5] ^= 0xff;
    let e = refused(&bad);
    assert!(e.contains("archive/data/0: Invalid checksum"), "{e}");
    // A compressed entry (torch.save stores them uncompressed): the method is patched to
    // deflate in both headers.
    let mut deflated = good.clone();
    for sig in [&b"PK\x03\x04"[..], &b"PK\x01\x02"[..]] {
        let offset = if sig[2] == 3 { 8 } else { 10 };
        let mut i = 0;
        while let Some(p) = deflated[i..].windows(4).position(|w| w == sig) {
            deflated[i + p + offset] = 8;
            i += p + 4;
        }
    }
    let e = refused(&deflated);
    assert!(e.contains("is compressed (Deflated)"), "{e}");
}

#[test]
fn other_pickle_contents_are_refused() {
    let data = floats(6);
    // A checkpoint dict holding more than tensors.
    let pkl = Pickle::new().op(b"}").str("epoch").int(3).op(b"s").stop();
    let e = refused(&archive(&[("data.pkl", &pkl)]));
    assert!(
        e.contains("entry `epoch` is a int") || e.contains("`epoch`"),
        "{e}"
    );
    // A list at the root.
    let pkl = Pickle::new().op(b"]").stop();
    assert!(refused(&archive(&[("data.pkl", &pkl)])).contains("holds a list"));
    // A list appended to itself: read without leaking, then refused as the root.
    let pkl = Pickle::new().op(b"]q\x00h\x00a").stop();
    refused(&archive(&[("data.pkl", &pkl)]));
    // A big-endian archive.
    let pkl = state_dict("w", 6, 0, &[6], &[1]);
    let e = refused(&archive(&[
        ("data.pkl", &pkl),
        ("data/0", &data),
        ("byteorder", b"big"),
    ]));
    assert!(e.contains("byte order"), "{e}");
    // Integer tensors are not weights.
    let pkl = Pickle::new()
        .op(b"}")
        .str("steps")
        .tensor("LongStorage", "0", 3, 0, &[3], &[1])
        .op(b"s")
        .stop();
    let e = refused(&archive(&[("data.pkl", &pkl), ("data/0", &data)]));
    assert!(e.contains("`steps`") && e.contains("LongStorage"), "{e}");
    // The same name twice.
    let pkl = Pickle::new()
        .op(b"}")
        .str("w")
        .tensor("FloatStorage", "0", 6, 0, &[6], &[1])
        .op(b"s")
        .str("w")
        .tensor("FloatStorage", "0", 6, 0, &[6], &[1])
        .op(b"s")
        .stop();
    let e = refused(&archive(&[("data.pkl", &pkl), ("data/0", &data)]));
    assert!(e.contains("appears twice"), "{e}");
}

#[test]
fn deep_and_repeated_structures_are_bounded() {
    // A million nested lists: the reader is iterative, so no stack overflow.
    let mut p = Pickle::new();
    for _ in 0..1_000_000 {
        p = p.op(b"]");
    }
    for _ in 0..999_999 {
        p = p.op(b"a");
    }
    refused(&archive(&[("data.pkl", &p.stop())]));
    // TorchScript modules nested 100 deep.
    let mut p = Pickle::new();
    for _ in 0..100 {
        p = p.global("__torch__", "M").op(b")\x81}").str("sub");
    }
    p = p.global("__torch__", "M").op(b")\x81");
    for _ in 0..100 {
        p = p.op(b"sb");
    }
    let e = refused(&archive(&[("data.pkl", &p.stop())]));
    assert!(e.contains("deeper than"), "{e}");
    // A module among its own attributes, and one inside its child: cycles, named as such
    // (not run into the depth limit).
    let own = Pickle::new()
        .global("__torch__", "M")
        .op(b")\x81q\x00}")
        .str("me")
        .op(b"h\x00sb")
        .stop();
    let e = refused(&archive(&[("data.pkl", &own)]));
    assert!(e.contains("module `me` is its own ancestor"), "{e}");
    let child = Pickle::new()
        .global("__torch__", "M")
        .op(b")\x81q\x00}")
        .str("child")
        .global("__torch__", "M")
        .op(b")\x81}")
        .str("parent")
        .op(b"h\x00sbsb")
        .stop();
    let e = refused(&archive(&[("data.pkl", &child)]));
    assert!(
        e.contains("module `child.parent` is its own ancestor"),
        "{e}"
    );
    // One 256 KiB storage viewed by 1000 names, each a new tensor made from memoized
    // arguments in a few bytes, would build 256 MiB from a 270 KB file.
    let n = 1 << 16;
    let data = floats(n);
    let mut p = Pickle::new()
        .op(b"}")
        .global("torch._utils", "_rebuild_tensor_v2")
        .op(b"q\x000")
        .tensor_args("FloatStorage", "0", n as i64, 0, &[n as i64], &[1])
        .op(b"q\x010");
    for i in 0..1000 {
        p = p.str(&format!("w{i}")).op(b"h\x00h\x01Rs");
    }
    let pkl = p.stop();
    let e = refused(&archive(&[("data.pkl", &pkl), ("data/0", &data)]));
    assert!(e.contains("add up to more than"), "{e}");
}

#[test]
fn the_legacy_torch_save_format_is_refused_with_advice() {
    let legacy = [
        0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8,
    ];
    let e = refused(&legacy);
    assert!(e.contains("legacy format"), "{e}");
}
