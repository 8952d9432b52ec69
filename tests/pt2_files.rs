//! `torch.export.save` archives (`.pt2`) as weights, built here byte by byte: a well-formed one
//! reads with its views' values and what its program says; hostile ones (pickled payloads,
//! symbolic or huge shapes, views past their storage, missing or malformed entries, other
//! layouts and versions, truncations, corrupted bytes) are refused with a message that names
//! the culprit, never a panic or a huge allocation. The fixtures' real archives are read in
//! `pytorch_files.rs` and `parity.rs`.

mod common;

use std::io::Write;

use scriptless::{ArchiveCode, Error, Limits, Model, ModelKind, Weights, WeightsFormat};
use serde_json::{json, Value};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// A `.pt2` archive's entries, under the root folder `w/` as torch.export.save lays them out
/// (it names the folder after the file).
#[derive(Clone)]
struct Pt2 {
    entries: Vec<(String, Vec<u8>)>,
}

/// `{"as_int": n}`, the export schema's integer.
fn int(n: i64) -> Value {
    json!({ "as_int": n })
}

/// A payload config entry: tensor `dtype` (a schema ScalarType code) of `sizes` and `strides`
/// at `offset` in storage `path`.
fn payload(path: &str, dtype: i64, sizes: &[i64], strides: &[i64], offset: i64) -> Value {
    json!({
        "path_name": path,
        "is_param": true,
        "use_pickle": false,
        "tensor_meta": {
            "dtype": dtype,
            "sizes": sizes.iter().map(|&n| int(n)).collect::<Vec<_>>(),
            "requires_grad": true,
            "device": {"type": "cpu", "index": null},
            "strides": strides.iter().map(|&n| int(n)).collect::<Vec<_>>(),
            "storage_offset": int(offset),
            "layout": 7,
        },
    })
}

/// A graph node calling `target` on `inputs` (schema argument name, argument), its one output
/// named `out`.
fn node(target: &str, inputs: &[(&str, Value)], out: &str) -> Value {
    let inputs: Vec<Value> = inputs
        .iter()
        .map(|(name, arg)| json!({"name": name, "arg": arg, "kind": 1}))
        .collect();
    json!({"target": target, "inputs": inputs, "outputs": [{"as_tensor": {"name": out}}]})
}

fn tensor(name: &str) -> Value {
    json!({"as_tensor": {"name": name}})
}

/// The seed's two-input graph, `linear(a + b)`, on the graph's tensors `a` and `b`.
fn two_input_graph(a: &str, b: &str) -> Vec<Value> {
    vec![
        node(
            "torch.ops.aten.add.Tensor",
            &[("self", tensor(a)), ("other", tensor(b))],
            "add",
        ),
        node(
            "torch.ops.aten.linear.default",
            &[
                ("input", tensor("add")),
                ("weight", tensor("p_linear_weight")),
                ("bias", tensor("p_linear_bias")),
            ],
            "linear",
        ),
    ]
}

/// The exported program of the seed's two-input model with these forward arguments (a minimal
/// `models/<name>.json`: the parts the reader looks at).
fn program(args: &[&str], torch_version: &str) -> Vec<u8> {
    let arg = |i: usize| args.get(i).copied().unwrap_or("missing");
    program_with(args, two_input_graph(arg(0), arg(1)), torch_version)
}

/// The exported program of these forward arguments and graph nodes, which read the linear's
/// parameters as `p_linear_weight` and `p_linear_bias` and return `linear`.
fn program_with(args: &[&str], nodes: Vec<Value>, torch_version: &str) -> Vec<u8> {
    let mut specs: Vec<Value> = ["weight", "bias"]
        .iter()
        .map(|p| {
            json!({"parameter": {"arg": {"name": format!("p_linear_{p}")},
                                 "parameter_name": format!("linear.{p}")}})
        })
        .collect();
    specs.extend(
        args.iter()
            .map(|a| json!({"user_input": {"arg": {"as_tensor": {"name": a}}}})),
    );
    let values: serde_json::Map<String, Value> = args
        .iter()
        .map(|a| {
            (
                a.to_string(),
                json!({"dtype": 7, "sizes": [int(1), int(3)]}),
            )
        })
        .collect();
    serde_json::to_vec(&json!({
        "graph_module": {
            "graph": {
                "nodes": nodes,
                "tensor_values": values,
                "outputs": [tensor("linear")],
            },
            "signature": {
                "input_specs": specs,
                "output_specs": [{"user_output": {"arg": {"as_tensor": {"name": "linear"}}}}],
            },
            "module_call_graph": [
                {"fqn": "", "signature": {"forward_arg_names": args}},
            ],
        },
        "torch_version": torch_version,
        "schema_version": {"major": 8, "minor": 20},
    }))
    .unwrap()
}

fn config(entries: &[(&str, Value)]) -> Vec<u8> {
    let map: serde_json::Map<String, Value> = entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    serde_json::to_vec(&json!({ "config": map })).unwrap()
}

fn floats(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect()
}

impl Pt2 {
    /// A two-input model (3 features in, 2 out): `linear.weight` a transposed view of
    /// storage `weight_0`, `linear.bias` a slice of the same storage after it.
    fn good() -> Self {
        let weights = config(&[
            ("linear.weight", payload("weight_0", 7, &[2, 3], &[1, 2], 0)),
            ("linear.bias", payload("weight_0", 7, &[2], &[1], 6)),
        ]);
        Pt2 {
            entries: vec![
                ("archive_format".into(), b"pt2".to_vec()),
                ("archive_version".into(), b"0".to_vec()),
                ("byteorder".into(), b"little".to_vec()),
                (
                    "models/model.json".into(),
                    program(&["tensor1", "tensor2"], "2.15.0"),
                ),
                ("data/weights/weight_0".into(), floats(8)),
                ("data/weights/model_weights_config.json".into(), weights),
                (
                    "data/constants/model_constants_config.json".into(),
                    config(&[]),
                ),
            ],
        }
    }

    fn set(mut self, name: &str, bytes: &[u8]) -> Self {
        match self.entries.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = bytes.to_vec(),
            None => self.entries.push((name.to_string(), bytes.to_vec())),
        }
        self
    }

    fn remove(mut self, name: &str) -> Self {
        self.entries.retain(|(n, _)| n != name);
        self
    }

    fn weights(self, entries: &[(&str, Value)]) -> Self {
        self.set("data/weights/model_weights_config.json", &config(entries))
    }

    fn zip(&self) -> Vec<u8> {
        let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        for (name, bytes) in &self.entries {
            zip.start_file(format!("w/{name}"), options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }
}

fn read(bytes: &[u8], limits: &Limits) -> Result<Weights, Error> {
    Weights::from_bytes(bytes, "w.pt2", limits)
}

/// The archive's error, which must be a format error naming the file.
fn refused(pt2: &Pt2) -> String {
    match read(&pt2.zip(), &Limits::default()) {
        Ok(w) => panic!("accepted, with tensors {:?}", w.names().collect::<Vec<_>>()),
        Err(e @ Error::Format { .. }) => {
            let e = e.to_string();
            assert!(e.contains("w.pt2"), "{e}");
            e
        }
        Err(other) => panic!("not a format error: {other}"),
    }
}

#[test]
fn a_hand_built_archive_reads_with_its_views_values_and_its_program() {
    let w = read(&Pt2::good().zip(), &Limits::default()).unwrap();
    // The transposed view: element (i, j) is storage[i + 2j].
    let weight = w.tensor("linear.weight").unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(weight, [[0., 2., 4.], [1., 3., 5.]]);
    let bias = w.tensor("linear.bias").unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(bias, [6., 7.]);
    let WeightsFormat::TorchExport { program } = w.format() else {
        panic!("{:?}", w.format());
    };
    assert_eq!(program.name, "model");
    assert_eq!(program.torch_version.as_deref(), Some("2.15.0"));
    let inputs: Vec<(&str, Option<Vec<Option<usize>>>)> = program
        .inputs
        .iter()
        .map(|i| (i.name.as_str(), i.shape.clone()))
        .collect();
    let example = Some(vec![Some(1), Some(3)]);
    assert_eq!(inputs, [("tensor1", example.clone()), ("tensor2", example)]);
    assert_eq!(program.outputs, 1);
    assert_eq!(
        program.operators,
        ["torch.ops.aten.add.Tensor", "torch.ops.aten.linear.default"]
    );
    assert_eq!(w.model_kind().unwrap(), Some(ModelKind::TwoInput));
    assert_eq!(w.metadata()["torch_version"], "2.15.0");
    // The model builds and runs from it.
    let model = Model::from_weights(
        &w,
        ModelKind::TwoInput,
        candle_core::DType::F32,
        &candle_core::Device::Cpu,
    );
    assert!(model.is_ok(), "{:?}", model.err());
}

#[test]
fn the_graph_names_the_model_not_the_arguments() {
    let code = |pt2: Pt2| {
        let w = read(&pt2.zip(), &Limits::default()).unwrap();
        assert_eq!(w.model_kind().unwrap(), None);
        assert!(!w.metadata().contains_key("feature_width"));
        match w.code() {
            Some(ArchiveCode::NotSeed { reason }) => reason.clone(),
            other => panic!("{other:?}"),
        }
    };
    // Arguments of none of the seed's models.
    let reason = code(Pt2::good().set("models/model.json", &program(&["x", "y"], "2.15.0")));
    assert!(
        reason.starts_with("w.pt2: models/model.json: its forward takes (x, y), which are not"),
        "{reason}"
    );
    // The categorical model's arguments, on the two-input model's graph.
    let pt2 = Pt2::good().set(
        "models/model.json",
        &program(&["tensor_input", "category_index"], "2.15.0"),
    );
    let reason = code(pt2);
    assert!(
        reason.contains("the graph is not the seed's CategoricalInputModule: node 1 is `add = "),
        "{reason}"
    );
    // Another operator, another argument, one node more or less.
    let mut product = two_input_graph("tensor1", "tensor2");
    product[0]["target"] = json!("torch.ops.aten.mul.Tensor");
    product[0]["outputs"][0]["as_tensor"]["name"] = json!("mul");
    product[1]["inputs"][0]["arg"] = tensor("mul");
    let mut weight_twice = two_input_graph("tensor1", "tensor2");
    weight_twice[1]["inputs"][2]["arg"] = tensor("p_linear_weight");
    let mut longer = two_input_graph("tensor1", "tensor2");
    longer.push(node(
        "torch.ops.aten.relu.default",
        &[("self", tensor("linear"))],
        "relu",
    ));
    let shorter = two_input_graph("tensor1", "tensor2")[1..].to_vec();
    for (nodes, want) in [
        (
            product,
            "node 1 is `mul = torch.ops.aten.mul.Tensor(self=tensor1, other=tensor2)`",
        ),
        (
            weight_twice,
            "node 2 is `linear = torch.ops.aten.linear.default(input=add, \
             weight=self.linear.weight, bias=self.linear.weight)`",
        ),
        (
            longer,
            "node 3 is `relu = torch.ops.aten.relu.default(self=linear)`, where the seed's is \
             `return linear`",
        ),
        (
            shorter,
            "node 1 is `linear = torch.ops.aten.linear.default(input=add, ",
        ),
    ] {
        let json = program_with(&["tensor1", "tensor2"], nodes, "2.15.0");
        let reason = code(Pt2::good().set("models/model.json", &json));
        assert!(reason.contains(want), "{reason}");
    }
}

#[test]
fn pickled_payloads_are_refused_by_name() {
    let mut pickled = payload("weight_0", 7, &[2], &[1], 0);
    pickled["use_pickle"] = json!(true);
    let e = refused(&Pt2::good().weights(&[("linear.bias", pickled)]));
    assert!(e.contains("`linear.bias`") && e.contains("pickled"), "{e}");
    // A custom object among the constants: pickled, no tensor_meta.
    let object = json!({"path_name": "custom_obj_0", "is_param": false, "use_pickle": true,
                        "tensor_meta": null});
    let pt2 = Pt2::good()
        .set(
            "data/constants/model_constants_config.json",
            &config(&[("obj", object)]),
        )
        .set("data/constants/custom_obj_0", b"\x80\x04N.");
    let e = refused(&pt2);
    assert!(e.contains("`obj`") && e.contains("use_pickle"), "{e}");
    // A payload that is not a tensor at all.
    let none = json!({"path_name": "weight_0", "is_param": true, "use_pickle": false,
                      "tensor_meta": null});
    let e = refused(&Pt2::good().weights(&[("linear.bias", none)]));
    assert!(
        e.contains("`linear.bias`") && e.contains("tensor_meta"),
        "{e}"
    );
}

#[test]
fn dtypes_layouts_and_shapes_weights_cannot_have_are_refused() {
    let cases: Vec<(Value, &str)> = vec![
        (payload("weight_0", 5, &[2], &[1], 0), "int64"),
        (payload("weight_0", 12, &[2], &[1], 0), "bool"),
        (payload("weight_0", 99, &[2], &[1], 0), "dtype code 99"),
        (payload("weight_0", 7, &[-2], &[1], 0), "size -2"),
        (payload("weight_0", 7, &[2], &[-1], 0), "stride -1"),
        (payload("weight_0", 7, &[2], &[1], -4), "storage offset -4"),
        (
            payload("weight_0", 7, &[1 << 40, 1 << 40], &[1, 1], 0),
            "overflows",
        ),
        // A zero size first must not hide the overflow after it (the strides are that product).
        (
            payload("weight_0", 7, &[0, 1 << 40, 1 << 40], &[1, 1, 1], 0),
            "overflows",
        ),
        (payload("weight_0", 10, &[2], &[1], 0), "complex64"),
        (
            payload("weight_0", 7, &[1 << 40], &[1], 0),
            "more than its storage's 8",
        ),
        (
            payload("weight_0", 7, &[2, 3], &[3, 1], 3),
            "reaches past its storage",
        ),
        (
            payload("weight_0", 7, &[1000, 8], &[0, 1], 0),
            "it is expanded",
        ),
        (
            payload("weight_0", 7, &[2, 3], &[1], 0),
            "2 sizes but 1 strides",
        ),
    ];
    for (p, want) in cases {
        let e = refused(&Pt2::good().weights(&[("linear.bias", p.clone())]));
        assert!(e.contains("`linear.bias`") && e.contains(want), "{p}: {e}");
    }
    let mut sparse = payload("weight_0", 7, &[2], &[1], 0);
    sparse["tensor_meta"]["layout"] = json!(1);
    let e = refused(&Pt2::good().weights(&[("linear.bias", sparse)]));
    assert!(e.contains("layout 1"), "{e}");
    let mut symbolic = payload("weight_0", 7, &[2], &[1], 0);
    symbolic["tensor_meta"]["sizes"] = json!([{"as_expr": {"expr_str": "s0"}}]);
    let e = refused(&Pt2::good().weights(&[("linear.bias", symbolic)]));
    assert!(e.contains("symbolic"), "{e}");
}

#[test]
fn storages_must_exist_fit_their_dtype_and_be_read_one_way() {
    let e = refused(&Pt2::good().remove("data/weights/weight_0"));
    assert!(
        e.contains("`linear.weight`") && e.contains("w/data/weights/weight_0 is missing"),
        "{e}"
    );
    let e = refused(&Pt2::good().set("data/weights/weight_0", &[0; 7]));
    assert!(e.contains("7 bytes, not a whole number of F32"), "{e}");
    // One storage read as f32 by one tensor and f64 by another.
    let e = refused(&Pt2::good().weights(&[
        ("a", payload("weight_0", 7, &[2], &[1], 0)),
        ("b", payload("weight_0", 8, &[2], &[1], 0)),
    ]));
    assert!(
        e.contains("`b`") && e.contains("another tensor reads as F32"),
        "{e}"
    );
    for path in ["../weight_0", "a/b", "", ".."] {
        let e = refused(&Pt2::good().weights(&[("w", payload(path, 7, &[2], &[1], 0))]));
        assert!(e.contains("not a file name"), "{path}: {e}");
    }
    // An empty storage (what a fake tensor leaves) for a tensor with elements.
    let e = refused(&Pt2::good().set("data/weights/weight_0", b""));
    assert!(e.contains("more than its storage's 0"), "{e}");
}

#[test]
fn configs_must_be_there_well_formed_and_name_each_tensor_once() {
    for entry in [
        "data/weights/model_weights_config.json",
        "data/constants/model_constants_config.json",
    ] {
        let e = refused(&Pt2::good().remove(entry));
        assert!(e.contains(&format!("w/{entry} is missing")), "{e}");
        let e = refused(&Pt2::good().set(entry, b"{\"config\": [1, 2]}"));
        assert!(e.contains(&format!("w/{entry}:")), "{e}");
    }
    let text = br#"{"config": {"a": {"path_name": "weight_0", "use_pickle": false, "tensor_meta": null},
                                "a": {"path_name": "weight_0", "use_pickle": false, "tensor_meta": null}}}"#;
    let e = refused(&Pt2::good().set("data/weights/model_weights_config.json", text));
    assert!(e.contains("`a` is given twice"), "{e}");
    // A tensor constant is read like a weight; one named like a weight is refused.
    let constants = config(&[("linear.bias", payload("weight_0", 7, &[2], &[1], 0))]);
    let pt2 = Pt2::good()
        .set("data/constants/model_constants_config.json", &constants)
        .set("data/constants/weight_0", &floats(2));
    let e = refused(&pt2);
    assert!(
        e.contains("`linear.bias` is both a weight and a constant"),
        "{e}"
    );
    // Any other constant reaches the model, which reports it as unexpected.
    let constants = config(&[("lifted_tensor_0", payload("tensor_0", 7, &[2], &[1], 0))]);
    let pt2 = Pt2::good()
        .set("data/constants/model_constants_config.json", &constants)
        .set("data/constants/tensor_0", &floats(2));
    let w = read(&pt2.zip(), &Limits::default()).unwrap();
    let e = Model::from_weights(
        &w,
        ModelKind::TwoInput,
        candle_core::DType::F32,
        &candle_core::Device::Cpu,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("unexpected tensor `lifted_tensor_0`"), "{e}");
    // The program must be JSON, though only some of it is read.
    let e = refused(&Pt2::good().set("models/model.json", b"{\"graph_module\": 3}"));
    assert!(e.contains("w/models/model.json:"), "{e}");
}

#[test]
fn other_formats_versions_and_layouts_are_refused_with_what_wrote_them() {
    let e = refused(&Pt2::good().set("archive_format", b"pt3"));
    assert!(e.contains("archive_format is `pt3`"), "{e}");
    let e = refused(&Pt2::good().set("archive_version", b"1"));
    assert!(e.contains("archive_version is `1`"), "{e}");
    let e = refused(&Pt2::good().remove("archive_version"));
    assert!(e.contains("without w/archive_version"), "{e}");
    let e = refused(&Pt2::good().set("byteorder", b"big"));
    assert!(e.contains("byte order is `big`"), "{e}");
    // No program, two programs, an AOTInductor package.
    let e = refused(&Pt2::good().remove("models/model.json"));
    assert!(e.contains("without an exported program"), "{e}");
    let e = refused(&Pt2::good().set("models/other.json", &program(&["a"], "2.15.0")));
    assert!(e.contains("2 exported programs (model, other)"), "{e}");
    let e = refused(
        &Pt2::good()
            .remove("models/model.json")
            .set("data/aotinductor/model/model.so", b"\x7fELF"),
    );
    assert!(e.contains("AOTInductor"), "{e}");
    // The layout before 2.9: the weights one pickle, data/weights/<name>.pt.
    let legacy = Pt2::good()
        .remove("data/weights/model_weights_config.json")
        .set(
            "models/model.json",
            &program(&["tensor1", "tensor2"], "2.8.0"),
        )
        .set("data/weights/model.pt", b"PK\x05\x06");
    let e = refused(&legacy);
    assert!(
        e.contains("written by torch 2.8.0") && e.contains("before PyTorch 2.9"),
        "{e}"
    );
    // The first layout: serialized_exported_program.json and pickles, no archive_format.
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for name in [
        "serialized_exported_program.json",
        "serialized_state_dict.pt",
        "version",
    ] {
        zip.start_file(name, SimpleFileOptions::default()).unwrap();
        zip.write_all(b"{}").unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    let e = read(&bytes, &Limits::default()).err().unwrap().to_string();
    assert!(
        e.contains("before 2.8") && e.contains("serialized_state_dict.pt"),
        "{e}"
    );
}

#[test]
fn duplicate_names_and_entries_sharing_data_are_refused() {
    // Two entries named weight_0: the zip crate would read the second, PyTorch the first. The
    // second is written as `weight_9` and renamed in both its headers.
    let pt2 = Pt2::good().set("data/weights/weight_9", &floats(8));
    let mut bytes = pt2.zip();
    let (from, to) = (b"w/data/weights/weight_9", b"w/data/weights/weight_0");
    let mut renamed = 0;
    while let Some(at) = bytes.windows(from.len()).position(|w| w == from) {
        bytes[at..at + from.len()].copy_from_slice(to);
        renamed += 1;
    }
    assert_eq!(renamed, 2);
    let e = read(&bytes, &Limits::default()).err().unwrap().to_string();
    assert!(
        e.contains("holds entry `w/data/weights/weight_0` twice"),
        "{e}"
    );
    // A second entry whose data is the first's: many such make a small file hold much more.
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for (name, bytes) in &Pt2::good().entries {
        zip.start_file(format!("w/{name}"), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.shallow_copy_file("w/data/weights/weight_0", "w/data/weights/weight_1")
        .unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    let e = read(&bytes, &Limits::default()).err().unwrap().to_string();
    assert!(
        e.contains("two of the archive's entries share their data"),
        "{e}"
    );
}

#[test]
fn a_padded_program_reads_only_what_it_needs() {
    // Lists padded with entries that say nothing, and tensor values of no user input: the
    // facts are read as from the plain program.
    let mut doc: Value =
        serde_json::from_slice(&program(&["tensor1", "tensor2"], "2.15.0")).unwrap();
    let padding = 20_000;
    {
        let module = &mut doc["graph_module"];
        for list in ["input_specs", "output_specs"] {
            let specs = module["signature"][list].as_array_mut().unwrap();
            specs.extend(std::iter::repeat_n(json!({}), padding));
        }
        let calls = module["module_call_graph"].as_array_mut().unwrap();
        calls.extend(std::iter::repeat_n(json!({"fqn": "sub"}), padding));
        let values = module["graph"]["tensor_values"].as_object_mut().unwrap();
        for i in 0..padding {
            values.insert(format!("t{i}"), json!({"sizes": [int(1 << 40)]}));
        }
    }
    let pt2 = Pt2::good().set("models/model.json", &serde_json::to_vec(&doc).unwrap());
    let w = read(&pt2.zip(), &Limits::default()).unwrap();
    let WeightsFormat::TorchExport { program } = w.format() else {
        panic!("{:?}", w.format());
    };
    let names: Vec<&str> = program.inputs.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["tensor1", "tensor2"]);
    assert_eq!(program.inputs[0].shape, Some(vec![Some(1), Some(3)]));
    assert_eq!(program.outputs, 1);
    // A list that holds something other than specs is refused, naming the file.
    doc["graph_module"]["signature"]["input_specs"] = json!([0]);
    let pt2 = Pt2::good().set("models/model.json", &serde_json::to_vec(&doc).unwrap());
    let e = refused(&pt2);
    assert!(e.contains("w/models/model.json:"), "{e}");
}

#[test]
fn tensors_are_bounded_by_the_file_and_the_weights_limit() {
    // A hundred names for the whole storage: more than twice the file, refused before the
    // copies are made.
    let many: Vec<(String, Value)> = (0..100)
        .map(|i| (format!("t{i}"), payload("weight_0", 7, &[256], &[1], 0)))
        .collect();
    let many: Vec<(&str, Value)> = many.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
    let pt2 = Pt2::good()
        .set("data/weights/weight_0", &floats(256))
        .weights(&many);
    let e = refused(&pt2);
    assert!(e.contains("add up to more than"), "{e}");
    // A few names for the whole storage, more than the file, fit in twice the file, but not in
    // a max_weights_bytes of the file's size.
    let (n, bytes) = (1..many.len())
        .map(|n| {
            let bytes = Pt2::good()
                .set("data/weights/weight_0", &floats(256))
                .weights(&many[..n])
                .zip();
            (n, bytes)
        })
        .find(|(n, bytes)| n * 1024 > bytes.len())
        .unwrap();
    assert!(n * 1024 < 2 * bytes.len());
    assert!(read(&bytes, &Limits::default()).is_ok());
    let limits = Limits {
        max_weights_bytes: bytes.len() as u64,
        ..Limits::default()
    };
    let e = read(&bytes, &limits).err().unwrap().to_string();
    assert!(
        e.contains(&format!("add up to more than {} bytes", bytes.len())),
        "{e}"
    );
}

#[test]
fn truncated_corrupted_and_compressed_archives_are_refused() {
    let good = Pt2::good().zip();
    for cut in 4..good.len() {
        if let Ok(w) = read(&good[..cut], &Limits::default()) {
            panic!(
                "cut at {cut} of {}: accepted {:?}",
                good.len(),
                w.names().collect::<Vec<_>>()
            );
        }
    }
    let config = config(&[
        ("linear.weight", payload("weight_0", 7, &[2, 3], &[1, 2], 0)),
        ("linear.bias", payload("weight_0", 7, &[2], &[1], 6)),
    ]);
    for cut in 0..config.len() {
        refused(&Pt2::good().set("data/weights/model_weights_config.json", &config[..cut]));
    }
    // A flipped byte in the storage fails its CRC.
    let data = floats(8);
    let at = good
        .windows(data.len())
        .position(|w| w == data.as_slice())
        .unwrap();
    let mut bad = good.clone();
    bad[at + 5] ^= 0xff;
    let e = read(&bad, &Limits::default()).err().unwrap().to_string();
    assert!(
        e.contains("w/data/weights/weight_0: Invalid checksum"),
        "{e}"
    );
    // A compressed entry (PyTorch stores its entries), which could inflate past the file.
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in &Pt2::good().entries {
        let method = if name.ends_with("weight_0") {
            CompressionMethod::Deflated
        } else {
            CompressionMethod::Stored
        };
        let options = SimpleFileOptions::default().compression_method(method);
        zip.start_file(format!("w/{name}"), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    let deflated = zip.finish().unwrap().into_inner();
    let e = read(&deflated, &Limits::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("w/data/weights/weight_0 is compressed (Deflated)"),
        "{e}"
    );
}

#[test]
fn an_archive_holding_another_zip_reads() {
    // torch.export.save stores its example inputs as a torch.save zip inside the archive. The
    // zip crate's offset detection misreads some such archives (weights/sequence.pt2 is one);
    // PyTorch's archives start at their first byte, and are read so.
    let path = common::root().join("weights/sequence.pt2");
    let bytes = std::fs::read(&path).unwrap();
    assert!(zip::ZipArchive::new(std::io::Cursor::new(&bytes[..])).is_err());
    let w = Weights::read(&path).unwrap();
    assert_eq!(w.names().count(), 6);
    let inner = Pt2::good().zip();
    let w = read(
        &Pt2::good().set("data/sample_inputs/model.pt", &inner).zip(),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(w.names().count(), 2);
}
