//! A `.pt2` file is a program too: a graph whose schema version, operators, argument kinds,
//! specs, names or structure scriptless does not run gets a clear error naming what it is, at
//! load or at the call, never a panic. Each archive is a real one
//! (`not_seed/two_input_product/weights.pt2`: `linear(tensor1 * tensor2)`) with its program's
//! JSON edited.

use std::io::{Read, Write};
use std::path::Path;

use scriptless::script::{Options, Program, Value};
use serde_json::{json, Value as Json};

const PROGRAM: &str = "weights/models/model.json";

fn original() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/not_seed/two_input_product/weights.pt2"),
    )
    .unwrap()
}

/// The archive's program as JSON.
fn program() -> Json {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(original())).unwrap();
    let mut text = String::new();
    zip.by_name(PROGRAM)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The archive with its program replaced by `bytes`.
fn archive_with(bytes: &[u8]) -> Vec<u8> {
    let mut input = zip::ZipArchive::new(std::io::Cursor::new(original())).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..input.len() {
        let mut entry = input.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        if name == PROGRAM {
            data = bytes.to_vec();
        }
        out.start_file(name, stored).unwrap();
        out.write_all(&data).unwrap();
    }
    out.finish().unwrap().into_inner()
}

fn tensor(values: &[f32]) -> Value {
    let t = candle_core::Tensor::new(values, &candle_core::Device::Cpu)
        .unwrap()
        .reshape((1, values.len()))
        .unwrap();
    Value::Tensor(scriptless::ops::Tensor::new(t).unwrap())
}

/// Loads the edited program and calls it on a good request: `Ok` with the output's type, or
/// the error's message.
fn run_json(program: &Json) -> Result<&'static str, String> {
    run_bytes(&serde_json::to_vec(program).unwrap())
}

fn run_bytes(bytes: &[u8]) -> Result<&'static str, String> {
    let program = Program::from_bytes(&archive_with(bytes), "hostile.pt2", &Options::default())
        .map_err(|e| e.to_string())?;
    let x = tensor(&[0.5; 10]);
    program
        .forward(vec![("tensor1".into(), x.clone()), ("tensor2".into(), x)])
        .map(|v| v.type_name())
        .map_err(|e| e.to_string())
}

/// The error of the edited program, which must fail, holding every one of `parts`.
fn fails(edit: impl FnOnce(&mut Json), parts: &[&str]) {
    let mut p = program();
    edit(&mut p);
    match run_json(&p) {
        Ok(v) => panic!("the edited program returned a {v}; expected an error with {parts:?}"),
        Err(e) => {
            for part in parts {
                assert!(e.contains(part), "`{e}` does not mention `{part}`");
            }
            assert!(!e.contains('\n'), "not one line: {e}");
        }
    }
}

fn nodes(p: &mut Json) -> &mut Vec<Json> {
    p["graph_module"]["graph"]["nodes"].as_array_mut().unwrap()
}

#[test]
fn the_unedited_program_runs() {
    assert_eq!(run_json(&program()), Ok("Tensor"));
}

#[test]
fn another_schema_version_is_refused_naming_it() {
    fails(
        |p| p["schema_version"] = json!({"major": 9, "minor": 1}),
        &["version 9.1", "reads version 8"],
    );
    // Any minor of version 8 is read.
    let mut p = program();
    p["schema_version"]["minor"] = json!(99);
    assert_eq!(run_json(&p), Ok("Tensor"));
}

#[test]
fn unsupported_targets_are_refused_by_name() {
    fails(
        |p| nodes(p)[0]["target"] = json!("torch.ops.higher_order.cond"),
        &[
            "node 0",
            "higher-order operator torch.ops.higher_order.cond",
        ],
    );
    fails(
        |p| nodes(p)[0]["target"] = json!("torch.ops.aten.no_such_op.default"),
        &["node 0", "aten::no_such_op", "not supported"],
    );
    fails(
        |p| nodes(p)[0]["target"] = json!("torch.ops.my_lib.custom.default"),
        &["torch.ops.my_lib.custom.default", "ATen operators"],
    );
    fails(
        |p| nodes(p)[1]["target"] = json!("torch.ops.aten.randn.default"),
        &["aten::randn", "not supported"],
    );
}

#[test]
fn unknown_argument_and_spec_kinds_are_refused_by_name() {
    fails(
        |p| nodes(p)[0]["inputs"][1]["arg"] = json!({"as_graph": {"name": "g"}}),
        &["argument `other`", "as_graph"],
    );
    fails(
        |p| nodes(p)[0]["inputs"][1]["arg"] = json!({"as_complex": {"real": 1, "imag": 2}}),
        &["as_complex"],
    );
    fails(
        |p| {
            let specs = p["graph_module"]["signature"]["output_specs"]
                .as_array_mut()
                .unwrap();
            specs.push(json!({"loss_output": {"arg": {"as_tensor": {"name": "linear"}}}}));
        },
        &["loss_output", "training program"],
    );
    fails(
        |p| {
            let specs = p["graph_module"]["signature"]["input_specs"]
                .as_array_mut()
                .unwrap();
            specs.push(json!({"custom_obj": {"arg": {"name": "obj"}, "custom_obj_name": "c"}}));
        },
        &["custom_obj"],
    );
    fails(
        |p| {
            p["graph_module"]["module_call_graph"][0]["signature"]["out_spec"] =
                json!(r#"[1, {"type": "mylib.Pair", "context": "null", "children_spec": []}]"#)
        },
        &["out_spec", "mylib.Pair"],
    );
    fails(
        |p| p["graph_module"]["graph"]["tensor_values"]["tensor1"]["dtype"] = json!(10),
        &["tensor1", "complex"],
    );
}

#[test]
fn broken_structure_is_an_error() {
    fails(
        |p| nodes(p)[0]["inputs"][0]["arg"] = json!({"as_tensor": {"name": "nowhere"}}),
        &["`nowhere`", "before it is defined"],
    );
    fails(
        |p| nodes(p)[1]["outputs"] = json!([{"as_tensor": {"name": "mul"}}]),
        &["`mul`", "defined twice"],
    );
    fails(
        |p| {
            nodes(p)[1]["outputs"] =
                json!([{"as_tensor": {"name": "linear"}}, {"as_tensor": {"name": "b"}}])
        },
        &["node 1", "graph expects 2 outputs"],
    );
    fails(
        |p| {
            p["graph_module"]["module_call_graph"][0]["signature"]["forward_arg_names"] =
                json!(["tensor1"])
        },
        &["arguments"],
    );
    fails(
        |p| p["graph_module"]["module_call_graph"] = json!([]),
        &["no signature for forward"],
    );
    fails(
        |p| nodes(p)[0]["inputs"] = json!(7),
        &["`inputs` is not a list"],
    );
    fails(
        |p| nodes(p)[0]["inputs"][1]["arg"] = json!({"as_int": 3, "as_float": 2.0}),
        &["one-key union"],
    );
    let deep = format!(
        "[1, {}{{\"type\": null, \"context\": null, \"children_spec\": []}}{}]",
        "{\"type\": \"builtins.list\", \"context\": \"null\", \"children_spec\": [".repeat(40),
        "]}".repeat(40)
    );
    fails(
        |p| p["graph_module"]["module_call_graph"][0]["signature"]["out_spec"] = json!(deep),
        &["nested deeper"],
    );
}

#[test]
fn malformed_json_is_an_error() {
    let text = serde_json::to_vec(&program()).unwrap();
    for cut in [0, 1, text.len() / 3, text.len() / 2, text.len() - 1] {
        let e = run_bytes(&text[..cut]).unwrap_err();
        assert!(e.contains("hostile.pt2"), "{e}");
    }
    assert!(run_bytes(b"[1, 2, 3]").is_err());
    assert!(run_bytes(b"null").is_err());
}

/// Every value of the program replaced, one at a time, by values of other kinds: each load
/// and call gives a result or an error, never a panic.
#[test]
fn any_value_replaced_gives_a_result_or_an_error() {
    fn paths(v: &Json, at: &mut Vec<Json>, out: &mut Vec<Vec<Json>>) {
        out.push(at.clone());
        match v {
            Json::Object(map) => {
                for (k, v) in map {
                    at.push(json!(k));
                    paths(v, at, out);
                    at.pop();
                }
            }
            Json::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    at.push(json!(i));
                    paths(v, at, out);
                    at.pop();
                }
            }
            _ => {}
        }
    }
    fn at<'a>(v: &'a mut Json, path: &[Json]) -> &'a mut Json {
        path.iter().fold(v, |v, k| match k {
            Json::String(k) => &mut v[k.as_str()],
            Json::Number(i) => &mut v[i.as_u64().unwrap() as usize],
            _ => unreachable!(),
        })
    }
    let original = program();
    let mut all = Vec::new();
    paths(&original, &mut Vec::new(), &mut all);
    let replacements = [
        json!(null),
        json!(-1),
        json!("x"),
        json!([]),
        json!({}),
        json!(1e300),
    ];
    let mut errors = 0;
    for (i, path) in all.iter().enumerate() {
        let mut p = original.clone();
        *at(&mut p, path) = replacements[i % replacements.len()].clone();
        if run_json(&p).is_err() {
            errors += 1;
        }
    }
    assert!(all.len() > 200, "{}", all.len());
    assert!(errors > 50, "{errors} of {}", all.len());
}
