//! The C and C++ programs of the C API, compiled with the system's `cc` and `c++` against the
//! library built from this checkout, and run from the repository root:
//!
//! - `examples/seed.c` and `examples/seed.cpp`: the seed's three models from the shipped
//!   weights, checked against PyTorch's outputs (`examples/seed_data.h`, generated here from
//!   the golden fixtures; a stale copy fails);
//! - `seed.c` again under AddressSanitizer (with leak detection) and UndefinedBehaviorSanitizer,
//!   and linked statically through the `scriptless.pc` that `scripts/install-capi.sh` writes;
//! - `tests/c/bad_inputs.c` (under both sanitizers): NULL pointers, wrong ranks, dtypes and
//!   names, truncated weights, each an error status and a message, never a crash;
//! - `tests/c/threads.c` (under both sanitizers): one model on eight threads at once gives
//!   the sequential results, bit for bit;
//! - `tests/c/dtypes.c` (under both sanitizers): F64, BF16 and F16 inputs and I32 lengths give
//!   bit for bit what the model gives on the same values in F32 and I64; an F64 model returns
//!   F64;
//! - `examples/own_model.c` (also under both sanitizers) and `examples/own_model.cpp`: a user's
//!   model (`examples/dict_output.pt`), its signature and every output, bit for bit what the
//!   command line's path (the request `examples/dict_output.json` typed by the signature, the
//!   program's forward, its outputs flattened and named) computes;
//! - `tests/c/any_model.c` (under both sanitizers): users' models and the seed's through
//!   `scriptless_model_run`, the signature queries and the outputs, and hostile calls on them
//!   (NULL pointers, unknown kinds, names that are not arguments, wrong kinds, NULL data, a
//!   model's own exception), each an exact status and a message, never a crash.
//!
//! How the programs are built and run: `common/mod.rs`.
//!
//! Linux only: the programs use glibc's sanitizers, `pthread_barrier_t` and `readelf`; on
//! other systems the library is compile-checked (`scripts/check-macos.sh`).
#![cfg(target_os = "linux")]

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use candle_core::{DType, Device, Tensor};

use common::{capi, compile, compile_with, library, out_dir, root, run, run_sanitized};

#[test]
fn c_example_matches_pytorch() {
    let exe = compile("cc", &["capi/examples/seed.c"], &["-std=c11"], "seed");
    run(&exe, &[]);
}

#[test]
fn own_model_c_example_prints_the_command_lines_outputs() {
    let exe = compile(
        "cc",
        &["capi/examples/own_model.c"],
        &["-std=c11"],
        "own_model",
    );
    check_own_model_output(&run(&exe, &[]));
}

#[test]
fn own_model_c_example_is_clean_under_address_and_undefined_behavior_sanitizers() {
    check_own_model_output(&run_sanitized(
        "capi/examples/own_model.c",
        "own_model_sanitized",
    ));
}

#[test]
fn own_model_cpp_example_prints_the_command_lines_outputs() {
    let exe = compile(
        "c++",
        &["capi/examples/own_model.cpp"],
        &["-std=c++17"],
        "own_model_cpp",
    );
    check_own_model_output(&run(&exe, &[]));
}

#[test]
fn any_model_calls_get_their_results_and_bad_ones_a_status_and_a_message() {
    run_sanitized("capi/tests/c/any_model.c", "any_model");
}

/// Checks what `own_model.c` (or `.cpp`) printed against what the command line's path computes
/// for `examples/dict_output.pt` on `examples/dict_output.json`: the signature's JSON, the
/// argument, and every output's name, dtype, shape and values, bit for bit.
fn check_own_model_output(stdout: &str) {
    use scriptless_core::ops::ScalarType;
    use scriptless_core::script::{self, Program};

    let program = Program::load(root().join("examples/dict_output.pt")).expect("dict_output.pt");
    let request = std::fs::read_to_string(root().join("examples/dict_output.json"))
        .expect("examples/dict_output.json");
    let limits = scriptless_core::Limits::default();
    let args = script::args_from_json(program.signature(), &request, &limits).expect("request");
    let value = program.forward(args).expect("forward");
    let expected = script::output_tensors(&value).expect("the outputs");

    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some(format!("signature: {}", program.signature().to_json()).as_str()),
        "the signature line"
    );
    assert_eq!(lines.next(), Some("argument 0: x: Tensor"));
    for (name, tensor) in &expected {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("no line for `{name}`:\n{stdout}"));
        let (head, values) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("`{line}` is not `name DTYPE [dims]: values`"));
        let dims: Vec<String> = tensor.dims().iter().map(usize::to_string).collect();
        let flat = tensor.inner().flatten_all().expect("flatten");
        let (dtype, want): (&str, Vec<String>) = match tensor.dtype() {
            // Compared as bits: the C program prints 9 significant digits, which read back as
            // the same f32.
            ScalarType::Float32 => (
                "F32",
                flat.to_vec1::<f32>()
                    .expect("f32 values")
                    .iter()
                    .map(|v| v.to_bits().to_string())
                    .collect(),
            ),
            ScalarType::Int64 => (
                "I64",
                flat.to_vec1::<i64>()
                    .expect("i64 values")
                    .iter()
                    .map(i64::to_string)
                    .collect(),
            ),
            other => panic!("`{name}` is {other:?}, which this test does not compare"),
        };
        assert_eq!(head, format!("{name} {dtype} [{}]", dims.join(", ")));
        let got: Vec<String> = values
            .split_whitespace()
            .map(|v| match dtype {
                "F32" => v
                    .parse::<f32>()
                    .unwrap_or_else(|e| panic!("`{v}` in `{line}`: {e}"))
                    .to_bits()
                    .to_string(),
                _ => v.to_string(),
            })
            .collect();
        assert_eq!(got, want, "`{name}`: the C program's values (bits for F32)");
    }
    // The label looked up by name: row 0's.
    let label = expected
        .iter()
        .find(|(n, _)| n == "output.label")
        .map(|(_, t)| t.inner().flatten_all().and_then(|t| t.to_vec1::<i64>()))
        .expect("an output.label")
        .expect("i64 labels");
    assert_eq!(
        lines.next(),
        Some(format!("label of row 0: {}", label[0]).as_str())
    );
    assert_eq!(lines.next(), None, "more lines than expected:\n{stdout}");
}

#[test]
fn cpp_example_matches_pytorch() {
    let exe = compile(
        "c++",
        &["capi/examples/seed.cpp"],
        &["-std=c++17"],
        "seed_cpp",
    );
    run(&exe, &[]);
}

#[test]
fn c_example_is_clean_under_address_and_undefined_behavior_sanitizers() {
    run_sanitized("capi/examples/seed.c", "seed_sanitized");
}

#[test]
fn bad_inputs_get_an_error_status_and_a_message_not_a_crash() {
    run_sanitized("capi/tests/c/bad_inputs.c", "bad_inputs");
}

#[test]
fn one_model_on_eight_threads_gives_the_sequential_results() {
    run_sanitized("capi/tests/c/threads.c", "threads");
}

#[test]
fn every_input_dtype_gives_the_models_result_on_the_same_values() {
    run_sanitized("capi/tests/c/dtypes.c", "dtypes");
}

/// `scripts/install-capi.sh` into a temporary prefix, then `seed.c` built with the flags its
/// `scriptless.pc` gives: linked with the shared library, and statically with the archive and
/// the system libraries `Libs.private` lists (no `libscriptless.so` needed at run time).
#[test]
fn c_example_builds_with_pkg_config_shared_and_static() {
    let lib = library();
    let prefix = out_dir().join("prefix");
    let status = Command::new("bash")
        .arg(root().join("scripts/install-capi.sh"))
        .arg("--prefix")
        .arg(&prefix)
        .arg("--lib-dir")
        .arg(&lib.dir)
        .status()
        .expect("run scripts/install-capi.sh");
    assert!(status.success(), "scripts/install-capi.sh failed");
    assert_eq!(
        std::fs::read(prefix.join("lib/libscriptless.a")).expect("the installed archive"),
        std::fs::read(&lib.archive).expect("the built archive"),
    );
    let pkg_config = |args: &[&str]| -> Vec<String> {
        let output = Command::new("pkg-config")
            .args(args)
            .arg("scriptless")
            .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
            .output()
            .expect("run pkg-config (it is required)");
        assert!(output.status.success(), "pkg-config {args:?} failed");
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let cflags = pkg_config(&["--cflags"]);
    let include = format!("-I{}", prefix.join("include").display());
    assert_eq!(cflags, [include.as_str()]);

    let mut shared = cflags.clone();
    shared.extend(pkg_config(&["--libs"]));
    shared.push(format!("-Wl,-rpath,{}", prefix.join("lib").display()));
    let flags: Vec<&str> = [
        &["-std=c11"][..],
        &shared.iter().map(String::as_str).collect::<Vec<_>>(),
    ]
    .concat();
    let exe = compile_with(&["capi/examples/seed.c"], &flags, "seed_pkg_config");
    run(&exe, &[]);

    // The archive in place of `-lscriptless`, then the system libraries it needs.
    let archive = prefix.join("lib/libscriptless.a").display().to_string();
    let mut fixed = cflags;
    fixed.extend(pkg_config(&["--libs", "--static"]).into_iter().map(|flag| {
        if flag == "-lscriptless" {
            archive.clone()
        } else {
            flag
        }
    }));
    let flags: Vec<&str> = [
        &["-std=c11"][..],
        &fixed.iter().map(String::as_str).collect::<Vec<_>>(),
    ]
    .concat();
    let exe = compile_with(&["capi/examples/seed.c"], &flags, "seed_static");
    let readelf = Command::new("readelf")
        .arg("-d")
        .arg(&exe)
        .output()
        .expect("run readelf (binutils, which cc needs anyway)");
    let needed = String::from_utf8_lossy(&readelf.stdout);
    assert!(
        needed.contains("NEEDED"),
        "readelf -d printed no NEEDED: {needed}"
    );
    assert!(
        !needed.contains("libscriptless"),
        "the static build still needs the shared library:\n{needed}"
    );
    run(&exe, &[]);
}

/// The generated test data of the examples: the seed fixtures' inputs and PyTorch's outputs.
#[test]
fn the_seed_data_header_is_current() {
    let generated = seed_data_header();
    let path = capi().join("examples/seed_data.h");
    if std::env::var_os("SCRIPTLESS_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write examples/seed_data.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "capi/examples/seed_data.h is stale: regenerate it with \
         `SCRIPTLESS_BLESS=1 cargo test --release -p scriptless-capi --test examples`"
    );
}

/// The seed cases the examples run, each with the shipped weights file that must hold the
/// same tensors as the fixture's.
const SEED_CASES: [(&str, &str, &str); 3] = [
    (
        "two_input_seed",
        "two_input",
        "weights/two_input.safetensors",
    ),
    (
        "categorical_seed",
        "categorical",
        "weights/categorical.safetensors",
    ),
    ("sequence_seed", "sequence", "weights/sequence.safetensors"),
];

fn load(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn seed_data_header() -> String {
    let fixtures = root().join("tests/fixtures");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("manifest.json")).expect("manifest.json"),
    )
    .expect("manifest.json is JSON");
    let mut h = format!(
        "/* Generated by capi/tests/examples.rs from tests/fixtures/{{two_input,categorical,sequence}}_seed,\n \
         * which {} wrote with torch {}, seed {}; do not edit. Regenerate with\n \
         * `SCRIPTLESS_BLESS=1 cargo test --release -p scriptless-capi --test examples`.\n \
         *\n \
         * The seed's inputs and PyTorch's outputs for them, for examples/seed.c and seed.cpp. */\n\
         #ifndef SCRIPTLESS_SEED_DATA_H\n#define SCRIPTLESS_SEED_DATA_H\n\n\
         #include <stddef.h>\n#include <stdint.h>\n",
        manifest["script"].as_str().expect("script"),
        manifest["torch_version"].as_str().expect("torch_version"),
        manifest["seed"],
    );
    for (case, prefix, weights) in SEED_CASES {
        let dir = fixtures.join(case);
        // The examples load the shipped weights; they must be the fixture's.
        let fixture_weights = load(&dir.join("weights.safetensors"));
        let shipped = load(&root().join(weights));
        assert_eq!(
            sorted_keys(&fixture_weights),
            sorted_keys(&shipped),
            "{weights} and {case}'s weights"
        );
        for (name, t) in &fixture_weights {
            assert_eq!(
                flat_f64(t),
                flat_f64(&shipped[name]),
                "{weights} and {case}'s weights differ in `{name}`"
            );
        }
        let inputs = load(&dir.join("input.safetensors"));
        let expected = load(&dir.join("expected.safetensors"));
        writeln!(h, "\n/* {case} */").unwrap();
        for name in sorted_keys(&inputs) {
            array(&mut h, &format!("seed_{prefix}_{name}"), &inputs[&name]);
        }
        for name in ["output", "output_last_valid"] {
            if let Some(t) = expected.get(name) {
                array(&mut h, &format!("seed_{prefix}_expected_{name}"), t);
            }
        }
    }
    h.push_str("\n#endif /* SCRIPTLESS_SEED_DATA_H */\n");
    h
}

fn sorted_keys(map: &HashMap<String, Tensor>) -> Vec<String> {
    let mut keys: Vec<String> = map.keys().cloned().collect();
    keys.sort();
    keys
}

fn flat_f64(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1())
        .expect("a tensor's values")
}

/// `name_shape[]` and `name[]`: the tensor's dims and its values, exactly (floats as the
/// shortest literal that reads back as the same f32).
fn array(h: &mut String, name: &str, t: &Tensor) {
    let dims: Vec<String> = t.dims().iter().map(usize::to_string).collect();
    writeln!(
        h,
        "static const size_t {name}_shape[{}] = {{{}}};",
        dims.len(),
        dims.join(", ")
    )
    .unwrap();
    let flat = t.flatten_all().expect("flatten");
    let (ty, values): (&str, Vec<String>) = match t.dtype() {
        DType::F32 => (
            "float",
            flat.to_vec1::<f32>()
                .expect("f32 values")
                .iter()
                .map(|v| format!("{v:?}f"))
                .collect(),
        ),
        DType::I64 => (
            "int64_t",
            flat.to_vec1::<i64>()
                .expect("i64 values")
                .iter()
                .map(|v| v.to_string())
                .collect(),
        ),
        other => panic!("{name}: a fixture tensor of dtype {other:?}"),
    };
    writeln!(h, "static const {ty} {name}[{}] = {{", values.len()).unwrap();
    for row in values.chunks(6) {
        writeln!(h, "    {},", row.join(", ")).unwrap();
    }
    h.push_str("};\n");
}
