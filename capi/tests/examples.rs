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
//!   F64.
//!
//! The library is built by `cargo build -p scriptless-capi` in this test's profile and with
//! its features: `cargo test` builds no `cdylib` or `staticlib` for a crate's tests. The
//! programs run without the `LD_LIBRARY_PATH` cargo sets for tests, so that each finds the
//! library its link names (through an rpath), or none when it is linked statically.
//!
//! Linux only: the programs use glibc's sanitizers, `pthread_barrier_t` and `readelf`; on
//! other systems the library is compile-checked (`scripts/check-macos.sh`).
#![cfg(target_os = "linux")]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use candle_core::{DType, Device, Tensor};

/// The repository root, where the programs run (they open `weights/...`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn capi() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The flag that finds `scriptless.h` in the checkout.
fn include() -> String {
    format!("-I{}", capi().join("include").display())
}

/// Where the compiled programs go.
fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("capi");
    std::fs::create_dir_all(&dir).expect("create the programs' folder");
    dir
}

/// The built library: (`libscriptless.so`'s folder, `libscriptless.a`).
struct Library {
    dir: PathBuf,
    archive: PathBuf,
}

/// The crate features this test was built with, which the library is built with too.
const FEATURES: &[&str] = &[
    #[cfg(feature = "cuda")]
    "cuda",
    #[cfg(feature = "metal")]
    "metal",
];

/// Builds the library once per test run, in the profile these tests were built in.
fn library() -> &'static Library {
    static LIBRARY: OnceLock<Library> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test's path");
        // target/<profile dir>/deps/examples-<hash>; the dev and test profiles build in `debug`.
        let profile = exe
            .parent()
            .and_then(Path::parent)
            .and_then(Path::file_name)
            .and_then(|p| p.to_str())
            .expect("the test runs from target/<profile>/deps")
            .to_string();
        let mut command = Command::new(env!("CARGO"));
        command
            .args(["build", "--locked", "-p", "scriptless-capi"])
            .arg("--message-format=json-render-diagnostics")
            .current_dir(capi());
        if profile != "debug" {
            command.args(["--profile", &profile]);
        }
        for feature in FEATURES {
            command.args(["--features", feature]);
        }
        let output = command.output().expect("run cargo build");
        assert!(
            output.status.success(),
            "cargo build -p scriptless-capi failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut files = Vec::new();
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let ours = message["package_id"]
                .as_str()
                .is_some_and(|id| id.contains("scriptless-capi"));
            if message["reason"] == "compiler-artifact" && ours {
                for f in message["filenames"].as_array().into_iter().flatten() {
                    files.extend(f.as_str().map(PathBuf::from));
                }
            }
        }
        let find = |suffix: &str| {
            files
                .iter()
                .find(|f| f.to_string_lossy().ends_with(suffix))
                .cloned()
                .unwrap_or_else(|| panic!("no {suffix} among the build's artifacts: {files:?}"))
        };
        let shared = find("libscriptless.so");
        Library {
            dir: shared.parent().expect("a folder").to_path_buf(),
            archive: find("libscriptless.a"),
        }
    })
}

/// Compiles `sources` with `compiler` and `flags` into `name`, with the checkout's header,
/// linked with the shared library built from this checkout (found at run time through an
/// rpath).
fn compile(compiler: &str, sources: &[&str], flags: &[&str], name: &str) -> PathBuf {
    let lib = library();
    let link = [
        include(),
        format!("-L{}", lib.dir.display()),
        "-lscriptless".to_string(),
        format!("-Wl,-rpath,{}", lib.dir.display()),
    ];
    let flags: Vec<&str> = flags
        .iter()
        .copied()
        .chain(link.iter().map(String::as_str))
        .collect();
    build(compiler, sources, &flags, name)
}

/// Compiles C `sources` with `flags`, which say how to link the library, into `name`.
fn compile_with(sources: &[&str], flags: &[&str], name: &str) -> PathBuf {
    build("cc", sources, flags, name)
}

fn build(compiler: &str, sources: &[&str], flags: &[&str], name: &str) -> PathBuf {
    let exe = out_dir().join(name);
    let mut command = Command::new(compiler);
    command
        .current_dir(root())
        .args(["-Wall", "-Wextra", "-Werror", "-g"])
        .arg(format!("-I{}", capi().join("examples").display()))
        .args(sources)
        .args(flags)
        .arg("-o")
        .arg(&exe)
        .arg("-lm");
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{compiler}` (a C/C++ compiler is required): {e}"));
    assert!(
        output.status.success(),
        "{compiler} {sources:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    exe
}

/// Runs `exe` from the repository root and prints its output (cargo shows it with
/// `--nocapture`), failing on a non-zero exit or on any sanitizer report.
fn run(exe: &Path, env: &[(&str, &str)]) {
    let output = Command::new(exe)
        .current_dir(root())
        .env_remove("LD_LIBRARY_PATH")
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} exited with {}:\n{stdout}\n{stderr}",
        exe.display(),
        output.status
    );
    for report in ["AddressSanitizer", "LeakSanitizer", "runtime error:"] {
        assert!(
            !stderr.contains(report),
            "{}: a sanitizer report:\n{stderr}",
            exe.display()
        );
    }
    print!("{stdout}");
}

/// AddressSanitizer (leaks included) and UndefinedBehaviorSanitizer on the C side, every report
/// fatal.
const SANITIZE: &[&str] = &[
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
];
const SANITIZER_ENV: &[(&str, &str)] = &[
    (
        "ASAN_OPTIONS",
        "detect_leaks=1:abort_on_error=0:exitcode=86",
    ),
    ("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1"),
];

/// Compiles the C program `source` as C11 with both sanitizers and runs it under them.
fn run_sanitized(source: &str, name: &str) {
    let flags = [&["-std=c11", "-pthread"], SANITIZE].concat();
    let exe = compile("cc", &[source], &flags, name);
    run(&exe, SANITIZER_ENV);
}

#[test]
fn c_example_matches_pytorch() {
    let exe = compile("cc", &["capi/examples/seed.c"], &["-std=c11"], "seed");
    run(&exe, &[]);
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
