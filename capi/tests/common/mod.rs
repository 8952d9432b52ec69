//! What the C API's tests share: the library built from this checkout, and C and C++ programs
//! compiled with the system's `cc` and `c++` against it and run from the repository root.
//!
//! The library is built by `cargo build -p scriptless-capi` in the tests' profile and with
//! their features: `cargo test` builds no `cdylib` or `staticlib` for a crate's tests. The
//! programs run without the `LD_LIBRARY_PATH` cargo sets for tests, so that each finds the
//! library its link names (through an rpath), or none when it is linked statically.

// Each test file uses part of this.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository root, where the programs run (they open `weights/...`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn capi() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The flag that finds `scriptless.h` in the checkout.
pub fn include() -> String {
    format!("-I{}", capi().join("include").display())
}

/// Where the compiled programs go.
pub fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("capi");
    std::fs::create_dir_all(&dir).expect("create the programs' folder");
    dir
}

/// The built library: (`libscriptless.so`'s folder, `libscriptless.a`).
pub struct Library {
    /// The folder of `libscriptless.so`.
    pub dir: PathBuf,
    /// `libscriptless.a`.
    pub archive: PathBuf,
}

/// The crate features this test was built with, which the library is built with too.
const FEATURES: &[&str] = &[
    #[cfg(feature = "cuda")]
    "cuda",
    #[cfg(feature = "metal")]
    "metal",
];

/// Builds the library once per test run, in the profile these tests were built in.
pub fn library() -> &'static Library {
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
pub fn compile(compiler: &str, sources: &[&str], flags: &[&str], name: &str) -> PathBuf {
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
pub fn compile_with(sources: &[&str], flags: &[&str], name: &str) -> PathBuf {
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
/// `--nocapture`), failing on a non-zero exit or on any sanitizer report; returns its stdout.
pub fn run(exe: &Path, env: &[(&str, &str)]) -> String {
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
    stdout.into_owned()
}

/// AddressSanitizer (leaks included) and UndefinedBehaviorSanitizer on the C side, every report
/// fatal.
pub const SANITIZE: &[&str] = &[
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
];
pub const SANITIZER_ENV: &[(&str, &str)] = &[
    (
        "ASAN_OPTIONS",
        "detect_leaks=1:abort_on_error=0:exitcode=86",
    ),
    ("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1"),
];

/// Compiles the C program `source` as C11 with both sanitizers and runs it under them; returns
/// its stdout.
pub fn run_sanitized(source: &str, name: &str) -> String {
    let flags = [&["-std=c11", "-pthread"], SANITIZE].concat();
    let exe = compile("cc", &[source], &flags, name);
    run(&exe, SANITIZER_ENV)
}
