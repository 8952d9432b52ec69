//! Every class of bad input gets a clear error that names the tensor or field: never a panic.

mod common;

use candle_core::{DType, Device, Tensor};
use common::root;
use scriptless::{
    one_hot, pad_sequences, parse_device, request_from_json, request_from_safetensors, Error,
    Limits, Model, ModelKind, Pooling, Weights,
};

fn weights(file: &str) -> Weights {
    Weights::read(root().join("weights").join(file)).unwrap()
}

fn model(kind: ModelKind) -> Model {
    let file = match kind {
        ModelKind::TwoInput => "two_input.safetensors",
        ModelKind::Categorical => "categorical.safetensors",
        ModelKind::Sequence => "sequence.safetensors",
    };
    Model::from_weights(&weights(file), kind, DType::F32, &Device::Cpu).unwrap()
}

/// Decodes `json` for `kind` and runs it; returns the error's text.
fn run_json(kind: ModelKind, json: &str) -> String {
    let result = request_from_json(json, kind, DType::F32, "request", &Limits::default())
        .and_then(|inputs| model(kind).forward(&inputs, Pooling::PaddedLast));
    match result {
        Ok(out) => panic!(
            "expected an error for {json}, got output of shape {:?}",
            out.dims()
        ),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "error `{message}` does not mention `{part}`"
        );
    }
}

fn row(v: f32, n: usize) -> String {
    format!("[{}]", vec![v.to_string(); n].join(","))
}

fn seq_json(lengths: &str) -> String {
    let steps = format!("[{}]", vec![row(0.5, 10); 4].join(","));
    format!(r#"{{"padded_seq": [{steps},{steps}], "seq_lengths": {lengths}}}"#)
}

// --- categories ---------------------------------------------------------------------------

#[test]
fn category_index_negative() {
    let msg = run_json(
        ModelKind::Categorical,
        &format!(
            r#"{{"tensor_input": [{}], "category_index": [-1]}}"#,
            row(0.1, 10)
        ),
    );
    assert_mentions(&msg, &["category_index[0]", "-1", "0..3"]);
}

#[test]
fn category_index_too_large() {
    let msg = run_json(
        ModelKind::Categorical,
        &format!(
            r#"{{"tensor_input": [{r},{r}], "category_index": [0, 3]}}"#,
            r = row(0.1, 10)
        ),
    );
    assert_mentions(&msg, &["category_index[1]", "is 3", "0..3"]);
}

#[test]
fn category_count_differs_from_batch() {
    let msg = run_json(
        ModelKind::Categorical,
        &format!(
            r#"{{"tensor_input": [{}], "category_index": [0, 1]}}"#,
            row(0.1, 10)
        ),
    );
    assert_mentions(&msg, &["category_index", "[2]", "[1]"]);
}

#[test]
fn category_index_not_integer() {
    let msg = run_json(
        ModelKind::Categorical,
        &format!(
            r#"{{"tensor_input": [{}], "category_index": [1.5]}}"#,
            row(0.1, 10)
        ),
    );
    assert_mentions(&msg, &["category_index[0]", "integer"]);
    // A float tensor is refused too, as F.one_hot refuses it.
    let err = one_hot(&Tensor::new(&[1f32], &Device::Cpu).unwrap(), 3, DType::F32).unwrap_err();
    assert_mentions(&err.to_string(), &["category_index", "integers"]);
}

#[test]
fn categorical_wrong_feature_width() {
    let msg = run_json(
        ModelKind::Categorical,
        &format!(
            r#"{{"tensor_input": [{}], "category_index": [0]}}"#,
            row(0.1, 9)
        ),
    );
    assert_mentions(&msg, &["tensor_input", "9 features", "expected 10"]);
}

// --- lengths --------------------------------------------------------------------------------

#[test]
fn length_zero() {
    assert_mentions(
        &run_json(ModelKind::Sequence, &seq_json("[4, 0]")),
        &["seq_lengths[1]", "at least 1"],
    );
}

#[test]
fn length_negative() {
    assert_mentions(
        &run_json(ModelKind::Sequence, &seq_json("[-2, 4]")),
        &["seq_lengths[0]", "-2"],
    );
}

#[test]
fn length_beyond_time_axis() {
    assert_mentions(
        &run_json(ModelKind::Sequence, &seq_json("[4, 5]")),
        &["seq_lengths[1]", "is 5", "time axis (4)"],
    );
}

#[test]
fn length_count_differs_from_batch() {
    assert_mentions(
        &run_json(ModelKind::Sequence, &seq_json("[4, 3, 2]")),
        &["seq_lengths", "3 entries", "(2)"],
    );
}

#[test]
fn length_not_integer() {
    assert_mentions(
        &run_json(ModelKind::Sequence, &seq_json("[4, 2.5]")),
        &["seq_lengths[1]", "integer"],
    );
    assert_mentions(
        &run_json(ModelKind::Sequence, &seq_json("[4, 18446744073709551615]")),
        &[
            "seq_lengths[1]",
            "is 18446744073709551615, out of the range of a 64-bit integer",
        ],
    );
    let padded = Tensor::zeros((1, 2, 10), DType::F32, &Device::Cpu).unwrap();
    let lengths = Tensor::new(&[2f32], &Device::Cpu).unwrap();
    let inputs = scriptless::ModelInputs::Sequence {
        padded_seq: padded,
        seq_lengths: lengths,
    };
    let err = model(ModelKind::Sequence)
        .forward(&inputs, Pooling::PaddedLast)
        .unwrap_err();
    assert_mentions(&err.to_string(), &["seq_lengths", "integers", "F32"]);
}

// --- shapes ---------------------------------------------------------------------------------

#[test]
fn ragged_padded_seq() {
    let a = format!("[{}]", vec![row(0.5, 10); 3].join(","));
    let b = format!("[{}]", vec![row(0.5, 10); 2].join(","));
    let msg = run_json(
        ModelKind::Sequence,
        &format!(r#"{{"padded_seq": [{a},{b}], "seq_lengths": [3, 2]}}"#),
    );
    assert_mentions(&msg, &["padded_seq[1]", "ragged"]);
}

#[test]
fn ragged_feature_width_in_sequences() {
    let msg = run_json(
        ModelKind::Sequence,
        &format!(
            r#"{{"sequences": [[{}], [{}]]}}"#,
            row(1.0, 10),
            row(1.0, 9)
        ),
    );
    assert_mentions(&msg, &["sequences[1]", "9 features", "expected 10"]);
}

#[test]
fn wrong_feature_width_for_the_lstm() {
    let msg = run_json(
        ModelKind::Sequence,
        &format!(r#"{{"sequences": [[{}]]}}"#, row(1.0, 7)),
    );
    assert_mentions(&msg, &["padded_seq", "7 features", "input_size 10"]);
}

#[test]
fn empty_batch() {
    assert_mentions(
        &run_json(ModelKind::Sequence, r#"{"sequences": []}"#),
        &["sequences", "empty"],
    );
    assert_mentions(
        &run_json(
            ModelKind::Sequence,
            r#"{"padded_seq": [], "seq_lengths": []}"#,
        ),
        &["padded_seq"],
    );
    assert_mentions(
        &run_json(ModelKind::TwoInput, r#"{"tensor1": [], "tensor2": []}"#),
        &["tensor1", "empty"],
    );
    assert!(pad_sequences(&[]).is_err());
}

#[test]
fn empty_sequence() {
    let msg = run_json(
        ModelKind::Sequence,
        &format!(r#"{{"sequences": [[{}], []]}}"#, row(1.0, 10)),
    );
    assert_mentions(&msg, &["sequences[1]", "empty"]);
}

#[test]
fn shapes_that_do_not_broadcast() {
    let msg = run_json(
        ModelKind::TwoInput,
        &format!(
            r#"{{"tensor1": [{r},{r}], "tensor2": [{r},{r},{r}]}}"#,
            r = row(1.0, 10)
        ),
    );
    assert_mentions(
        &msg,
        &["tensor1 + tensor2", "[2, 10]", "[3, 10]", "broadcast"],
    );
    let msg = run_json(
        ModelKind::TwoInput,
        &format!(
            r#"{{"tensor1": [{}], "tensor2": [{}]}}"#,
            row(1.0, 4),
            row(1.0, 4)
        ),
    );
    assert_mentions(&msg, &["in_features (10)"]);
}

#[test]
fn broadcast_too_large_is_refused_before_allocating() {
    // (20000, 1, 10) + (1, 20000, 10) would be 4e9 elements.
    let a = Tensor::zeros((20000, 1, 10), DType::F32, &Device::Cpu).unwrap();
    let b = Tensor::zeros((1, 20000, 10), DType::F32, &Device::Cpu).unwrap();
    let inputs = scriptless::ModelInputs::TwoInput {
        tensor1: a,
        tensor2: b,
    };
    let err = model(ModelKind::TwoInput)
        .forward(&inputs, Pooling::PaddedLast)
        .unwrap_err();
    assert_mentions(&err.to_string(), &["tensor1 + tensor2", "more than"]);
}

// --- JSON -----------------------------------------------------------------------------------

#[test]
fn malformed_json() {
    let err = request_from_json(
        "{\"tensor1\": [1, 2",
        ModelKind::TwoInput,
        DType::F32,
        "input file x.json",
        &Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Format { .. }));
    assert_mentions(&err.to_string(), &["x.json", "malformed JSON"]);
}

#[test]
fn not_an_object() {
    let err = request_from_json(
        "[1, 2]",
        ModelKind::TwoInput,
        DType::F32,
        "input file x.json",
        &Limits::default(),
    )
    .unwrap_err();
    assert_mentions(&err.to_string(), &["tensor1", "tensor2"]);
}

#[test]
fn missing_key() {
    let msg = run_json(
        ModelKind::TwoInput,
        &format!(r#"{{"tensor1": [{}]}}"#, row(1.0, 10)),
    );
    assert_mentions(&msg, &["tensor2", "missing"]);
}

#[test]
fn unknown_key() {
    let msg = run_json(
        ModelKind::TwoInput,
        &format!(
            r#"{{"tensor1": [{r}], "tensor2": [{r}], "tensor3": 1}}"#,
            r = row(1.0, 10)
        ),
    );
    assert_mentions(&msg, &["tensor3", "not an input"]);
}

#[test]
fn non_numbers() {
    let msg = run_json(
        ModelKind::TwoInput,
        &format!(
            r#"{{"tensor1": [[1, 2, "x", 4, 5, 6, 7, 8, 9, 10]], "tensor2": [{}]}}"#,
            row(1.0, 10)
        ),
    );
    assert_mentions(&msg, &["tensor1[0][2]", "a string"]);
    let msg = run_json(
        ModelKind::TwoInput,
        &format!(r#"{{"tensor1": [[null]], "tensor2": [{}]}}"#, row(1.0, 10)),
    );
    assert_mentions(&msg, &["tensor1[0][0]", "null"]);
}

// --- safetensors inputs ---------------------------------------------------------------------

fn safetensors_bytes(tensors: &[(&str, Tensor)]) -> Vec<u8> {
    let map: std::collections::HashMap<String, Tensor> = tensors
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    safetensors::serialize(&map, None).unwrap()
}

#[test]
fn safetensors_input_wrong_dtypes() {
    let padded = Tensor::zeros((1, 2, 10), DType::F32, &Device::Cpu).unwrap();
    let lengths = Tensor::new(&[2f32], &Device::Cpu).unwrap();
    let bytes = safetensors_bytes(&[("padded_seq", padded.clone()), ("seq_lengths", lengths)]);
    let err = request_from_safetensors(&bytes, ModelKind::Sequence, "in", &Limits::default())
        .unwrap_err();
    assert_mentions(&err.to_string(), &["seq_lengths", "I64 or I32", "F32"]);
    let lengths = Tensor::new(&[2i64], &Device::Cpu).unwrap();
    let bytes = safetensors_bytes(&[
        ("padded_seq", padded.to_dtype(DType::I64).unwrap()),
        ("seq_lengths", lengths),
    ]);
    let err = request_from_safetensors(&bytes, ModelKind::Sequence, "in", &Limits::default())
        .unwrap_err();
    assert_mentions(&err.to_string(), &["padded_seq", "float"]);
}

// --- weights --------------------------------------------------------------------------------

fn seq_weight_tensors() -> std::collections::HashMap<String, Tensor> {
    candle_core::safetensors::load(root().join("weights/sequence.safetensors"), &Device::Cpu)
        .unwrap()
}

/// The error of loading `tensors`, as a safetensors file, into the `kind` model, without the
/// advice every weights error of a file without code ends with (checked to be there).
fn load_err(tensors: std::collections::HashMap<String, Tensor>, kind: ModelKind) -> String {
    let bytes = safetensors::serialize(&tensors, None).unwrap();
    let w = match Weights::from_safetensors(&bytes, "weights file w") {
        Ok(w) => w,
        Err(e) => return e.to_string(),
    };
    let e = Model::from_weights(&w, kind, DType::F32, &Device::Cpu).unwrap_err();
    let advice = "; a file without code (safetensors, a torch.save state_dict) loads only into \
                  the seed's three models: a model of your own is saved with its code \
                  (torch.jit.save(torch.jit.script(model)) or torch.export.save), which \
                  scriptless cannot run yet";
    let e = e.to_string();
    match e.strip_suffix(advice) {
        Some(message) => message.to_string(),
        None => {
            assert!(
                !e.starts_with("weights:"),
                "a weights error without the advice: {e}"
            );
            e
        }
    }
}

#[test]
fn weights_missing_tensor() {
    let mut t = seq_weight_tensors();
    t.remove("rnn.bias_hh_l0");
    assert_mentions(
        &load_err(t, ModelKind::Sequence),
        &["missing", "rnn.bias_hh_l0"],
    );
}

#[test]
fn weights_missing_tensors_are_all_named() {
    let dir = common::fixtures().join("sequence_3layer_bidir");
    let mut t =
        candle_core::safetensors::load(dir.join("weights.safetensors"), &Device::Cpu).unwrap();
    for name in [
        "rnn.weight_hh_l1_reverse",
        "rnn.bias_ih_l2",
        "rnn.bias_hh_l0_reverse",
    ] {
        t.remove(name).unwrap();
    }
    let msg = load_err(t, ModelKind::Sequence);
    assert_mentions(
        &msg,
        &[
            "missing",
            "rnn.weight_hh_l1_reverse",
            "rnn.bias_ih_l2",
            "rnn.bias_hh_l0_reverse",
        ],
    );
}

#[test]
fn weights_unexpected_tensor() {
    let mut t = seq_weight_tensors();
    t.insert(
        "rnn.extra".into(),
        Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
    );
    t.insert(
        "head.weight".into(),
        Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
    );
    assert_mentions(
        &load_err(t, ModelKind::Sequence),
        &["unexpected", "rnn.extra", "head.weight"],
    );
}

#[test]
fn weights_missing_and_unexpected_reported_together() {
    let mut t = seq_weight_tensors();
    let b = t.remove("linear.bias").unwrap();
    t.insert("linear.b".into(), b);
    assert_mentions(
        &load_err(t, ModelKind::Sequence),
        &["linear.bias", "missing"],
    );
}

#[test]
fn weights_wrong_shape() {
    let mut t = seq_weight_tensors();
    t.insert(
        "rnn.bias_ih_l0".into(),
        Tensor::zeros(79, DType::F32, &Device::Cpu).unwrap(),
    );
    assert_mentions(
        &load_err(t, ModelKind::Sequence),
        &["rnn.bias_ih_l0", "[79]", "[80]"],
    );
    let mut t = seq_weight_tensors();
    t.insert(
        "linear.weight".into(),
        Tensor::zeros((10, 21), DType::F32, &Device::Cpu).unwrap(),
    );
    assert_mentions(&load_err(t, ModelKind::Sequence), &["linear.weight", "21"]);
}

#[test]
fn weights_of_another_model() {
    let t =
        candle_core::safetensors::load(root().join("weights/two_input.safetensors"), &Device::Cpu)
            .unwrap();
    assert_mentions(
        &load_err(t, ModelKind::Sequence),
        &["missing tensor", "rnn.weight_ih_l0"],
    );
}

#[test]
fn weights_integer_dtype() {
    let mut t = seq_weight_tensors();
    t.insert(
        "linear.bias".into(),
        Tensor::zeros(10, DType::I64, &Device::Cpu).unwrap(),
    );
    assert_mentions(&load_err(t, ModelKind::Sequence), &["linear.bias", "I64"]);
}

#[test]
fn weights_not_safetensors() {
    let err = Weights::from_safetensors(
        b"PK\x03\x04 this is a zip, not safetensors",
        "weights file m.pth",
    )
    .unwrap_err();
    assert_mentions(&err.to_string(), &["m.pth", "not a valid safetensors file"]);
    assert!(Weights::from_safetensors(b"", "empty").is_err());
}

#[test]
fn weights_truncated() {
    let bytes = std::fs::read(root().join("weights/sequence.safetensors")).unwrap();
    for cut in [4, 8, 20, bytes.len() / 2, bytes.len() - 1] {
        let err = Weights::from_safetensors(&bytes[..cut], "weights file w").unwrap_err();
        assert_mentions(
            &err.to_string(),
            &["weights file w", "not a valid safetensors file"],
        );
    }
}

#[test]
fn weights_header_lies_about_sizes() {
    // A header claiming a huge tensor backed by 4 bytes, and one claiming a huge header.
    let header =
        r#"{"linear.weight":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,4]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0; 4]);
    let err = Weights::from_safetensors(&bytes, "weights file w").unwrap_err();
    assert_mentions(&err.to_string(), &["not a valid safetensors file"]);
    let mut bytes = u64::MAX.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    assert!(Weights::from_safetensors(&bytes, "weights file w").is_err());
}

#[test]
fn weights_metadata_names_an_unknown_model() {
    let t = seq_weight_tensors();
    let meta = std::collections::HashMap::from([("model".to_string(), "transformer".to_string())]);
    let bytes = safetensors::serialize(&t, Some(meta)).unwrap();
    let w = Weights::from_safetensors(&bytes, "w").unwrap();
    assert_mentions(
        &w.model_kind().unwrap_err().to_string(),
        &["metadata", "transformer"],
    );
}

// --- devices --------------------------------------------------------------------------------

#[test]
fn devices_this_build_lacks() {
    assert!(matches!(parse_device("cpu"), Ok(Device::Cpu)));
    if !candle_core::utils::cuda_is_available() {
        assert_mentions(
            &parse_device("cuda").unwrap_err().to_string(),
            &["no CUDA support", "--features cuda"],
        );
        assert_mentions(
            &parse_device("cuda:1").unwrap_err().to_string(),
            &["no CUDA support"],
        );
    }
    if !candle_core::utils::metal_is_available() {
        assert_mentions(
            &parse_device("metal").unwrap_err().to_string(),
            &["no Metal support"],
        );
    }
    assert_mentions(
        &parse_device("cuda:x").unwrap_err().to_string(),
        &["cuda:x"],
    );
    assert_mentions(
        &parse_device("tpu").unwrap_err().to_string(),
        &["unknown device `tpu`"],
    );
}

#[test]
fn lengths_and_padding_need_a_batch_axis() {
    let m = match model(ModelKind::Sequence) {
        Model::Sequence(m) => m,
        _ => unreachable!(),
    };
    let flat = Tensor::zeros((4, 10), DType::F32, &Device::Cpu).unwrap();
    let err = m
        .forward_lengths(&flat, &[4], Pooling::PaddedLast)
        .unwrap_err();
    assert_mentions(&err.to_string(), &["padded_seq", "3 dims"]);
    let padded = Tensor::zeros((1, 4, 10), DType::F32, &Device::Cpu).unwrap();
    let lengths = Tensor::new(&[[4i64]], &Device::Cpu).unwrap();
    let err = m
        .forward(&padded, &lengths, Pooling::PaddedLast)
        .unwrap_err();
    assert_mentions(&err.to_string(), &["seq_lengths", "1 dim"]);
}

// --- Limits ---------------------------------------------------------------------------------

fn small(max_elements: usize) -> Limits {
    Limits {
        max_elements,
        ..Limits::default()
    }
}

#[test]
fn files_over_their_limit_are_refused_before_reading() {
    let file = root().join("weights/sequence.safetensors");
    let size = std::fs::metadata(&file).unwrap().len();
    let limits = Limits {
        max_weights_bytes: size - 1,
        max_input_bytes: 10,
        ..Limits::default()
    };
    let err = Weights::read_within(&file, &limits).unwrap_err();
    assert!(matches!(err, Error::Limit { .. }), "{err:?}");
    assert_mentions(
        &err.to_string(),
        &[
            "sequence.safetensors",
            &format!("is {size} bytes"),
            "max_weights_bytes",
        ],
    );
    assert!(Weights::read_within(
        &file,
        &Limits {
            max_weights_bytes: size,
            ..limits
        }
    )
    .is_ok());

    let input = root().join("examples/sequence.json");
    let err =
        scriptless::read_request(&input, ModelKind::Sequence, DType::F32, &limits).unwrap_err();
    assert!(matches!(err, Error::Limit { .. }), "{err:?}");
    assert_mentions(&err.to_string(), &["sequence.json", "max_input_bytes"]);
}

#[test]
fn decoded_inputs_over_max_elements_are_refused() {
    // 3 sequences padded to (3, 7, 10) = 210 elements.
    let text = std::fs::read_to_string(root().join("examples/sequence.json")).unwrap();
    let err =
        request_from_json(&text, ModelKind::Sequence, DType::F32, "in", &small(209)).unwrap_err();
    assert!(matches!(err, Error::Limit { .. }), "{err:?}");
    assert_mentions(
        &err.to_string(),
        &["sequences", "[3, 7, 10]", "209 elements"],
    );
    assert!(request_from_json(&text, ModelKind::Sequence, DType::F32, "in", &small(210)).is_ok());

    let err = request_from_json(
        r#"{"tensor1": [[1, 2, 3], [4, 5, 6]], "tensor2": [1, 2, 3]}"#,
        ModelKind::TwoInput,
        DType::F32,
        "in",
        &small(5),
    )
    .unwrap_err();
    // Counted while reading: refused before the list is read to its end.
    assert_mentions(
        &err.to_string(),
        &["input `tensor1`", "limit of 5 elements", "max_elements"],
    );

    let padded = Tensor::zeros((2, 4, 10), DType::F32, &Device::Cpu).unwrap();
    let lengths = Tensor::new(&[4i64, 2], &Device::Cpu).unwrap();
    let bytes = safetensors_bytes(&[("padded_seq", padded), ("seq_lengths", lengths)]);
    let err = request_from_safetensors(&bytes, ModelKind::Sequence, "in", &small(79)).unwrap_err();
    assert_mentions(&err.to_string(), &["input `padded_seq`", "[2, 4, 10]"]);
}

#[test]
fn working_tensors_over_max_elements_are_refused_before_running() {
    // The seed's LSTM (hidden 20, one direction) over lengths 4 and 2: 6 packed rows × 80 gates.
    let padded = Tensor::zeros((2, 4, 10), DType::F32, &Device::Cpu).unwrap();
    let lengths = Tensor::new(&[4i64, 2], &Device::Cpu).unwrap();
    let inputs = scriptless::ModelInputs::Sequence {
        padded_seq: padded,
        seq_lengths: lengths,
    };
    let seq = model(ModelKind::Sequence);
    let err = seq
        .clone()
        .with_limits(small(6 * 80 - 1))
        .forward(&inputs, Pooling::PaddedLast)
        .unwrap_err();
    assert!(matches!(err, Error::Limit { .. }), "{err:?}");
    assert_mentions(&err.to_string(), &["padded_seq", "gates", "[6, 80]"]);
    assert!(seq
        .with_limits(small(6 * 80))
        .forward(&inputs, Pooling::PaddedLast)
        .is_ok());

    // The categorical model's features and one-hot rows: (5, 10 + 3).
    let inputs = scriptless::ModelInputs::Categorical {
        tensor_input: Tensor::zeros((5, 10), DType::F32, &Device::Cpu).unwrap(),
        category_index: Tensor::new(&[0i64, 1, 2, 0, 1], &Device::Cpu).unwrap(),
    };
    let err = model(ModelKind::Categorical)
        .with_limits(small(64))
        .forward(&inputs, Pooling::PaddedLast)
        .unwrap_err();
    assert_mentions(&err.to_string(), &["tensor_input", "one-hot", "[5, 13]"]);

    // A small broadcast under the limit whose output is over it: (4, 10) from weights 10 → 10
    // fits in 40, (4, 10) + (4, 10) too, but a limit of 39 refuses both.
    let inputs = scriptless::ModelInputs::TwoInput {
        tensor1: Tensor::zeros((4, 1), DType::F32, &Device::Cpu).unwrap(),
        tensor2: Tensor::zeros(10, DType::F32, &Device::Cpu).unwrap(),
    };
    let two = model(ModelKind::TwoInput);
    assert!(two
        .clone()
        .with_limits(small(40))
        .forward(&inputs, Pooling::PaddedLast)
        .is_ok());
    let err = two
        .with_limits(small(39))
        .forward(&inputs, Pooling::PaddedLast)
        .unwrap_err();
    assert_mentions(&err.to_string(), &["tensor1 + tensor2", "[4, 10]"]);
}

#[test]
fn json_key_given_twice() {
    let err = request_from_json(
        r#"{"tensor1": [1], "tensor2": [2], "tensor1": [3]}"#,
        ModelKind::TwoInput,
        DType::F32,
        "input file x.json",
        &Limits::default(),
    )
    .unwrap_err();
    assert_mentions(&err.to_string(), &["x.json", "`tensor1` is given twice"]);
}

#[test]
fn json_number_out_of_range() {
    let msg = run_json(
        ModelKind::TwoInput,
        r#"{"tensor1": [1e400], "tensor2": [1]}"#,
    );
    assert_mentions(&msg, &["tensor1", "number out of range"]);
    assert!(!msg.contains("line 1"), "{msg}");
}

#[cfg(unix)]
#[test]
fn endless_files_are_refused_from_their_first_bytes() {
    // /dev/zero reports a size of 0 and never ends: its first 8 bytes give a safetensors
    // header length of 0, and reading stops there.
    let err = Weights::read_within("/dev/zero", &Limits::default()).unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err:?}");
    assert_mentions(&err.to_string(), &["/dev/zero", "header length of 0 bytes"]);
    let input = tempfile::tempdir().unwrap();
    let zeros = input.path().join("zeros.safetensors");
    std::os::unix::fs::symlink("/dev/zero", &zeros).unwrap();
    let err = scriptless::read_request(&zeros, ModelKind::Sequence, DType::F32, &Limits::default())
        .unwrap_err();
    assert_mentions(
        &err.to_string(),
        &["zeros.safetensors", "header length of 0 bytes"],
    );
}

#[test]
fn a_wide_sequence_output_is_refused_before_running() {
    // An LSTM of one unit under a 1000-wide Linear: the output is the largest tensor.
    let config = scriptless::LstmConfig {
        input_size: 1,
        hidden_size: 1,
        proj_size: 0,
        num_layers: 1,
        bidirectional: false,
        bias: true,
    };
    let mut tensors: std::collections::HashMap<String, Tensor> = config
        .tensor_shapes("rnn")
        .into_iter()
        .map(|(name, shape)| {
            (
                name,
                Tensor::zeros(shape, DType::F32, &Device::Cpu).unwrap(),
            )
        })
        .collect();
    tensors.insert(
        "linear.weight".into(),
        Tensor::zeros((1000, 1), DType::F32, &Device::Cpu).unwrap(),
    );
    tensors.insert(
        "linear.bias".into(),
        Tensor::zeros(1000, DType::F32, &Device::Cpu).unwrap(),
    );
    let weights = Weights::from_tensors(tensors, Default::default());
    let model =
        Model::from_weights(&weights, ModelKind::Sequence, DType::F32, &Device::Cpu).unwrap();
    let inputs = scriptless::ModelInputs::Sequence {
        padded_seq: Tensor::zeros((2, 1, 1), DType::F32, &Device::Cpu).unwrap(),
        seq_lengths: Tensor::new(&[1i64, 1], &Device::Cpu).unwrap(),
    };
    let err = model
        .clone()
        .with_limits(small(1999))
        .forward(&inputs, Pooling::LastValid)
        .unwrap_err();
    assert_mentions(&err.to_string(), &["the output", "[2, 1000]"]);
    assert!(model
        .with_limits(small(2000))
        .forward(&inputs, Pooling::LastValid)
        .is_ok());
}

// --- issue 15: numbers, feature widths and misshapen weights named exactly ------------------

/// Decodes `json` for `kind` in `dtype` and returns the error's text.
fn json_err(kind: ModelKind, dtype: DType, json: &str) -> String {
    match request_from_json(json, kind, dtype, "request", &Limits::default()) {
        Ok(_) => panic!("expected an error for {json}"),
        Err(e) => e.to_string(),
    }
}

/// `tensor1` and `tensor2` of a two-input JSON request decoded for a `dtype` run.
fn two_input_json(json: &str, dtype: DType) -> (Tensor, Tensor) {
    match request_from_json(json, ModelKind::TwoInput, dtype, "r", &Limits::default()).unwrap() {
        scriptless::ModelInputs::TwoInput { tensor1, tensor2 } => (tensor1, tensor2),
        _ => panic!("two-input inputs expected"),
    }
}

#[test]
fn json_integer_literal_beyond_i64_is_out_of_range_not_a_float() {
    // serde_json reads these as f64 (1e23): the message shows the literal as written.
    for (lengths, literal) in [
        ("[99999999999999999999999, 4]", "99999999999999999999999"),
        ("[-99999999999999999999999, 4]", "-99999999999999999999999"),
    ] {
        let msg = run_json(ModelKind::Sequence, &seq_json(lengths));
        assert_mentions(
            &msg,
            &[&format!(
                "input `seq_lengths[0]`: is {literal}, out of the range of a 64-bit integer"
            )],
        );
        assert!(
            !msg.contains("e+23") && !msg.contains("expected an integer"),
            "{msg}"
        );
    }
    // Not an integer literal: still "expected an integer", shown as written.
    for (lengths, literal) in [("[4, 1e23]", "1e23"), ("[4, 2.0]", "2.0")] {
        assert_mentions(
            &run_json(ModelKind::Sequence, &seq_json(lengths)),
            &[&format!(
                "input `seq_lengths[1]`: is {literal}, expected an integer"
            )],
        );
    }
    // A long literal is cut to keep the message short; it is still found by its path.
    let digits = "9".repeat(60);
    let msg = json_err(
        ModelKind::Categorical,
        DType::F32,
        &format!(r#"{{"tensor_input": [[0.5]], "category_index": [[1, {digits}]]}}"#),
    );
    assert_mentions(
        &msg,
        &[
            "input `category_index[0][1]`: is 99999999999999999999999999999999... (60 characters), out of the range of a 64-bit integer",
        ],
    );
    assert!(msg.len() < 200, "{msg}");
}

#[test]
fn json_float_outside_f32_is_refused_naming_the_element() {
    let steps = format!("[{}, [0, 0, 1e39, 0, 0, 0, 0, 0, 0, 0]]", row(0.5, 10));
    let msg = run_json(
        ModelKind::Sequence,
        &format!(r#"{{"padded_seq": [{steps}], "seq_lengths": [2]}}"#),
    );
    assert_mentions(
        &msg,
        &["input `padded_seq[0][1][2]`: is 1e39, outside the range of f32"],
    );
    let msg = json_err(
        ModelKind::Sequence,
        DType::F32,
        r#"{"sequences": [[[1, 2]], [[3, -4.5E+40]]]}"#,
    );
    assert_mentions(
        &msg,
        &["input `sequences[1][0][1]`: is -4.5E+40, outside the range of f32"],
    );
    // f32's largest value, and values that round to it, are not out of range.
    for edge in ["3.4028235e38", "-3.4028235e38", "3.40282356e38"] {
        let json = format!(r#"{{"tensor1": [{edge}], "tensor2": [0]}}"#);
        let (tensor1, _) = two_input_json(&json, DType::F32);
        let v = tensor1.to_vec1::<f32>().unwrap()[0];
        assert_eq!(v.abs(), f32::MAX, "{edge}");
    }
    // Read for an f64 run, 1e39 is an ordinary number.
    let (tensor1, _) = two_input_json(r#"{"tensor1": [1e39], "tensor2": [0]}"#, DType::F64);
    assert_eq!(tensor1.to_vec1::<f64>().unwrap(), [1e39]);
}

#[test]
fn json_floats_are_decoded_in_the_run_dtype() {
    let json = r#"{"tensor1": [0.1, 3], "tensor2": [[0.1, -2]]}"#;
    let decode = |dtype| two_input_json(json, dtype);
    let (t1, t2) = decode(DType::F64);
    assert_eq!((t1.dtype(), t2.dtype()), (DType::F64, DType::F64));
    // Exactly the f64 nearest 0.1, not the f32 nearest 0.1 widened.
    assert_eq!(t1.to_vec1::<f64>().unwrap(), [0.1f64, 3.0]);
    assert_ne!(0.1f64, f64::from(0.1f32));
    assert_eq!(t2.to_vec2::<f64>().unwrap(), [[0.1f64, -2.0]]);
    for dtype in [DType::F32, DType::F16, DType::BF16] {
        let (t1, _) = decode(dtype);
        assert_eq!(t1.dtype(), DType::F32, "{dtype:?} runs read f32");
        assert_eq!(t1.to_vec1::<f32>().unwrap(), [0.1f32, 3.0]);
    }
    // The ragged form too, and an f64 model runs on what it decodes.
    let json = r#"{"sequences": [[[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]]]}"#;
    let inputs = request_from_json(
        json,
        ModelKind::Sequence,
        DType::F64,
        "r",
        &Limits::default(),
    )
    .unwrap();
    let scriptless::ModelInputs::Sequence { padded_seq, .. } = &inputs else {
        panic!("sequence inputs expected")
    };
    assert_eq!(padded_seq.dtype(), DType::F64);
    assert_eq!(
        padded_seq.flatten_all().unwrap().to_vec1::<f64>().unwrap()[0],
        0.1f64
    );
    let model = Model::from_weights(
        &weights("sequence.safetensors"),
        ModelKind::Sequence,
        DType::F64,
        &Device::Cpu,
    )
    .unwrap();
    assert_eq!(model.dtype(), DType::F64);
    let out = model.forward(&inputs, Pooling::PaddedLast).unwrap();
    assert_eq!((out.dims(), out.dtype()), (&[1, 10][..], DType::F64));
    // A request file is decoded the same way.
    let file = root().join("examples/sequence.json");
    for (dtype, read) in [(DType::F64, DType::F64), (DType::F16, DType::F32)] {
        let inputs =
            scriptless::read_request(&file, ModelKind::Sequence, dtype, &Limits::default())
                .unwrap();
        let scriptless::ModelInputs::Sequence { padded_seq, .. } = &inputs else {
            panic!("sequence inputs expected")
        };
        assert_eq!(padded_seq.dtype(), read, "{dtype:?} run");
    }
}

#[test]
fn json_nan_and_infinity_are_explained() {
    for (token, json) in [
        ("NaN", r#"{"tensor1": [1, NaN], "tensor2": [1]}"#),
        ("Infinity", r#"{"tensor1": [Infinity], "tensor2": [1]}"#),
        (
            "-Infinity",
            "{\"tensor1\": [1],\n \"tensor2\": [\n  -Infinity]}",
        ),
        ("nan", r#"{"tensor1": [nan], "tensor2": [1]}"#),
        ("-inf", r#"{"tensor1": [-inf], "tensor2": [1]}"#),
    ] {
        let msg = json_err(ModelKind::TwoInput, DType::F32, json);
        assert_mentions(
            &msg,
            &[
                "request: malformed JSON: ",
                &format!("`{token}` is not a JSON number"),
                "JSON has no NaN or infinity",
                "pass such values in a .safetensors input",
            ],
        );
    }
    // Other syntax errors get no such advice.
    for json in [
        r#"{"tensor1": [1, 2"#,
        r#"{"tensor1": [1, Nope], "tensor2": [1]}"#,
        r#"{"tensor1": [1, null,], "tensor2": [1]}"#,
    ] {
        let msg = json_err(ModelKind::TwoInput, DType::F32, json);
        assert_mentions(&msg, &["malformed JSON"]);
        assert!(!msg.contains("NaN"), "{msg}");
    }
}

fn linear_tensors(weight: &[usize], bias: &[usize]) -> std::collections::HashMap<String, Tensor> {
    std::collections::HashMap::from([
        (
            "linear.weight".to_string(),
            Tensor::zeros(weight, DType::F32, &Device::Cpu).unwrap(),
        ),
        (
            "linear.bias".to_string(),
            Tensor::zeros(bias, DType::F32, &Device::Cpu).unwrap(),
        ),
    ])
}

fn load_err_with(
    tensors: std::collections::HashMap<String, Tensor>,
    metadata: &[(&str, &str)],
    kind: ModelKind,
) -> String {
    let metadata = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let weights = Weights::from_tensors(tensors, metadata);
    match Model::from_weights(&weights, kind, DType::F32, &Device::Cpu) {
        Ok(_) => panic!("expected a load error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn categorical_feature_width_zero_or_too_wide() {
    let cat = ModelKind::Categorical;
    // 13 input features: feature width 0 is the problem, not the categories.
    let msg = load_err_with(
        linear_tensors(&[10, 13], &[10]),
        &[("feature_width", "0")],
        cat,
    );
    assert_mentions(
        &msg,
        &["weights: the feature width (metadata `feature_width`) is 0, but it must be at least 1"],
    );
    assert!(!msg.contains("no room"), "{msg}");
    for width in ["13", "20"] {
        let msg = load_err_with(
            linear_tensors(&[10, 13], &[10]),
            &[("feature_width", width)],
            cat,
        );
        assert_mentions(
            &msg,
            &[&format!(
                "`linear.weight` has 13 input features, which leaves no room for categories \
                 after {width} features (metadata `feature_width`); the feature width must be 1 \
                 to 12"
            )],
        );
    }
    // Without metadata the seed's 10 is used, and the message says so.
    let msg = load_err_with(linear_tensors(&[10, 10], &[10]), &[], cat);
    assert_mentions(
        &msg,
        &[
            "no room for categories after 10 features",
            "the seed's default, as the weights have no metadata `feature_width`",
            "must be 1 to 9",
        ],
    );
    let msg = load_err_with(
        linear_tensors(&[4, 1], &[4]),
        &[("feature_width", "1")],
        cat,
    );
    assert_mentions(
        &msg,
        &[
            "has 1 input feature, ",
            "at least 2, 1 feature and 1 category",
        ],
    );
    // The bounds themselves load.
    for (width, categories) in [("1", 12), ("12", 1)] {
        let weights = Weights::from_tensors(
            linear_tensors(&[10, 13], &[10]),
            [("feature_width".to_string(), width.to_string())].into(),
        );
        let config = scriptless::CategoricalConfig::from_weights(&weights).unwrap();
        assert_eq!(config.num_categories, categories);
    }
}

#[test]
fn a_misshapen_linear_weight_is_named_not_its_bias() {
    let seq = ModelKind::Sequence;
    // Transposed: [in, out] = [20, 10] for the seed's LSTM (output 20) and bias [10].
    let mut t = seq_weight_tensors();
    t.extend(linear_tensors(&[20, 10], &[10]));
    let msg = load_err(t, seq);
    assert_mentions(
        &msg,
        &["tensor `linear.weight` has shape [20, 10], expected [10, 20] (it is transposed)"],
    );
    assert!(!msg.contains("`linear.bias` has shape"), "{msg}");
    // Taking the wrong width, whatever its rows.
    for weight in [[10, 19], [7, 19]] {
        let mut t = seq_weight_tensors();
        t.extend(linear_tensors(&weight, &[10]));
        let msg = load_err(t, seq);
        assert_mentions(
            &msg,
            &[
                &format!("tensor `linear.weight` has shape {weight:?}, expected [10, 20]: "),
                "in_features the LSTM's output width",
            ],
        );
    }
    // The right width but rows that disagree with the bias: either may be at fault.
    let mut t = seq_weight_tensors();
    t.extend(linear_tensors(&[11, 20], &[10]));
    assert_mentions(
        &load_err(t, seq),
        &["tensors `linear.weight` (shape [11, 20]) and `linear.bias` (shape [10]) disagree on out_features: 11 and 10"],
    );
    // A bias that is not a vector is the bias's fault.
    let mut t = seq_weight_tensors();
    t.extend(linear_tensors(&[10, 20], &[10, 1]));
    assert_mentions(
        &load_err(t, seq),
        &["tensor `linear.bias` has shape [10, 1], expected [out_features]"],
    );
    // Where the input width is free (categorical, two-input), a transposed weight is told.
    for kind in [ModelKind::Categorical, ModelKind::TwoInput] {
        let msg = load_err_with(linear_tensors(&[13, 10], &[10]), &[], kind);
        assert_mentions(
            &msg,
            &["tensor `linear.weight` has shape [13, 10], expected [10, 13] (it is transposed)"],
        );
        assert!(!msg.contains("`linear.bias` has shape"), "{msg}");
    }
}

#[test]
fn a_stray_layer_tensor_is_unexpected_not_a_layer_missing_the_rest() {
    let mut t = seq_weight_tensors();
    t.insert(
        "rnn.weight_ih_l1".into(),
        Tensor::zeros((80, 20), DType::F32, &Device::Cpu).unwrap(),
    );
    let msg = load_err(t, ModelKind::Sequence);
    assert_eq!(msg, "weights: unexpected tensor `rnn.weight_ih_l1`");
    // A top layer holding most of its tensors is still a layer missing the rest.
    let dir = common::fixtures().join("sequence_2layer");
    let load = || candle_core::safetensors::load(dir.join("weights.safetensors"), &Device::Cpu);
    let mut t = load().unwrap();
    t.remove("rnn.bias_hh_l1").unwrap();
    assert_eq!(
        load_err(t, ModelKind::Sequence),
        "weights: missing tensor `rnn.bias_hh_l1`"
    );
    let mut t = load().unwrap();
    t.remove("rnn.bias_hh_l1").unwrap();
    t.remove("rnn.bias_ih_l1").unwrap();
    assert_mentions(
        &load_err(t, ModelKind::Sequence),
        &["missing tensors `rnn.bias_hh_l1`, `rnn.bias_ih_l1`"],
    );
    // With three layers, a stray tensor of a fourth is unexpected too.
    let dir = common::fixtures().join("sequence_3layer_bidir");
    let mut t =
        candle_core::safetensors::load(dir.join("weights.safetensors"), &Device::Cpu).unwrap();
    let stray = t["rnn.weight_ih_l2"].clone();
    t.insert("rnn.weight_ih_l3".into(), stray);
    assert_eq!(
        load_err(t, ModelKind::Sequence),
        "weights: unexpected tensor `rnn.weight_ih_l3`"
    );
}
