//! `torch.export` archives (`.pt2`) as weights. Random bytes rarely get past a zip's CRCs, so
//! most inputs are structured: payload configs (dtype codes, sizes, strides, offsets, storage
//! names, pickled flags), programs (forward arguments, example shapes), storages and the
//! format entries are drawn and written into a valid archive, whose configs may also be cut or
//! flipped. The rest are read as raw bytes. Whatever reads is built into every model and run,
//! as in `pytorch_weights`. Errors are expected; a panic, an abort, a leak or an allocation
//! past the limits is a finding.

#![no_main]

use std::io::Write;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use scriptless::Weights;
use serde_json::{json, Value};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

#[path = "common.rs"]
mod common;

#[derive(Arbitrary, Debug)]
enum Input {
    Raw(Vec<u8>),
    Archive(Archive),
}

#[derive(Arbitrary, Debug)]
struct Archive {
    format: Option<String>,
    version: Option<String>,
    byteorder: Option<String>,
    /// Which seed model's arguments forward takes (0-2), or these names.
    kind: u8,
    args: Vec<String>,
    example: Vec<i64>,
    weights: Vec<Payload>,
    constants: Vec<Payload>,
    storages: Vec<Vec<u8>>,
    /// Cuts the weights config's text at this byte, when set.
    cut: Option<u16>,
    /// Flips a byte of the weights config's text, when set.
    flip: Option<(u16, u8)>,
    legacy: bool,
}

#[derive(Arbitrary, Debug)]
struct Payload {
    name: String,
    /// `weight_<n>` for a small `n`, or this text.
    storage: Result<u8, String>,
    use_pickle: bool,
    meta: Option<Meta>,
}

#[derive(Arbitrary, Debug)]
struct Meta {
    dtype: i8,
    sizes: Vec<i64>,
    strides: Vec<i64>,
    offset: i64,
    layout: Option<i8>,
    symbolic: bool,
}

const SEED_ARGS: [[&str; 2]; 3] = [
    ["tensor1", "tensor2"],
    ["tensor_input", "category_index"],
    ["padded_seq", "seq_lengths"],
];

fn int(n: i64, symbolic: bool) -> Value {
    if symbolic {
        json!({"as_expr": {"expr_str": "s0"}})
    } else {
        json!({ "as_int": n })
    }
}

fn config(payloads: &[Payload]) -> Vec<u8> {
    let mut map = serde_json::Map::new();
    for p in payloads {
        let path = match &p.storage {
            Ok(n) => format!("weight_{}", n % 4),
            Err(s) => s.clone(),
        };
        let meta = p.meta.as_ref().map(|m| {
            json!({
                "dtype": m.dtype,
                "sizes": m.sizes.iter().map(|&n| int(n, false)).collect::<Vec<_>>(),
                "strides": m.strides.iter().map(|&n| int(n, false)).collect::<Vec<_>>(),
                "storage_offset": int(m.offset, m.symbolic),
                "layout": m.layout,
            })
        });
        map.insert(
            p.name.clone(),
            json!({"path_name": path, "is_param": true, "use_pickle": p.use_pickle,
                   "tensor_meta": meta}),
        );
    }
    serde_json::to_vec(&json!({ "config": map })).unwrap_or_default()
}

fn program(a: &Archive) -> Vec<u8> {
    let args: Vec<String> = match SEED_ARGS.get(a.kind as usize) {
        Some(names) => names.iter().map(|s| s.to_string()).collect(),
        None => a.args.clone(),
    };
    let specs: Vec<Value> = args
        .iter()
        .map(|n| json!({"user_input": {"arg": {"as_tensor": {"name": n}}}}))
        .collect();
    let values: serde_json::Map<String, Value> = args
        .iter()
        .map(|n| {
            let sizes: Vec<Value> = a.example.iter().map(|&d| int(d, false)).collect();
            (n.clone(), json!({"sizes": sizes}))
        })
        .collect();
    serde_json::to_vec(&json!({
        "graph_module": {
            "graph": {"nodes": [{"target": "torch.ops.aten.linear.default"}], "tensor_values": values},
            "signature": {"input_specs": specs, "output_specs": [{"user_output": {}}]},
            "module_call_graph": [{"fqn": "", "signature": {"forward_arg_names": args}}],
        },
        "torch_version": "2.15.0",
    }))
    .unwrap_or_default()
}

fn zip(a: &Archive) -> Vec<u8> {
    let mut entries: Vec<(String, Vec<u8>)> = vec![
        ("archive_format".into(), a.format.clone().unwrap_or("pt2".into()).into_bytes()),
        ("archive_version".into(), a.version.clone().unwrap_or("0".into()).into_bytes()),
        ("byteorder".into(), a.byteorder.clone().unwrap_or("little".into()).into_bytes()),
        ("models/model.json".into(), program(a)),
        ("data/constants/model_constants_config.json".into(), config(&a.constants)),
    ];
    let mut weights = config(&a.weights);
    if let Some(cut) = a.cut {
        weights.truncate(cut as usize);
    }
    if let Some((at, bits)) = a.flip {
        if let Some(b) = weights.get_mut(at as usize) {
            *b ^= bits;
        }
    }
    entries.push(("data/weights/model_weights_config.json".into(), weights));
    for (i, s) in a.storages.iter().take(4).enumerate() {
        entries.push((format!("data/weights/weight_{i}"), s.clone()));
        entries.push((format!("data/constants/weight_{i}"), s.clone()));
    }
    if a.legacy {
        entries.push(("data/weights/model.pt".into(), Vec::new()));
    }
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for (name, bytes) in entries {
        if zip.start_file(format!("f/{name}"), options).is_err() || zip.write_all(&bytes).is_err() {
            return Vec::new();
        }
    }
    zip.finish().map(|c| c.into_inner()).unwrap_or_default()
}

fuzz_target!(|input: Input| {
    let bytes = match &input {
        Input::Raw(bytes) => bytes.clone(),
        Input::Archive(a) => zip(a),
    };
    let Ok(weights) = Weights::from_pytorch(&bytes, "fuzz input", &common::LIMITS) else {
        return;
    };
    common::build_and_run_every_model(&weights);
});
