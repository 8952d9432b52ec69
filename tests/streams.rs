//! Sources of unknown or endless length: devices (`/dev/zero`, `/dev/urandom`), pipes, and
//! streams that start well and never end. Whatever the source, `scriptless run` must stop as
//! soon as the bytes are known to be bad, within the limits' memory, with one line naming the
//! file and the limit: never hang, never be killed for memory.
//!
//! Every run here has a deadline; a run that outlives it is killed and the test fails.

#![cfg(unix)]

mod common;

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::root;

/// How long any run here may take. The slowest reads at most a few MB.
const DEADLINE: Duration = Duration::from_secs(30);

/// What a finished run printed.
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs `scriptless ARGS`, feeding `stdin` from a thread (see [`Feed`]; until the process
/// stops reading), and kills it at the deadline.
fn scriptless(args: &[&str], stdin: Feed) -> Run {
    let mut child = common::command::scriptless()
        .args(args)
        .current_dir(root())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start scriptless");
    let feeder = stdin.map(|(bytes, endless)| {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        std::thread::spawn(move || {
            // The process may stop reading at any point: a broken pipe ends the feed.
            if pipe.write_all(&bytes).is_err() {
                return;
            }
            if let Some(byte) = endless {
                let chunk = vec![byte; 1 << 16];
                while pipe.write_all(&chunk).is_ok() {}
            }
        })
    });
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).map(|_| s)
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for scriptless") {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("scriptless {args:?} still runs after {DEADLINE:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if let Some(feeder) = feeder {
        feeder.join().expect("the feeder thread");
    }
    Run {
        success: status.success(),
        stdout: out.join().expect("stdout thread").expect("read stdout"),
        stderr: err.join().expect("stderr thread").expect("read stderr"),
    }
}

/// Asserts a failure with one line on stderr holding every one of `needles`.
fn assert_refused(run: &Run, needles: &[&str]) {
    assert!(!run.success, "expected a failure; stdout: {}", run.stdout);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got: {}", run.stderr);
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "stderr should mention {needle:?}: {}",
            lines[0]
        );
    }
}

/// A temporary directory holding `name` as a symbolic link to `target`, so that a device gets
/// the extension that picks the input format. The link lives as long as the directory.
fn link(name: &str, target: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join(name);
    std::os::unix::fs::symlink(target, &path).expect("make a symbolic link");
    let path = path.to_str().expect("a UTF-8 path").to_string();
    (dir, path)
}

/// The bytes a test feeds on stdin: these, then, if given, that byte forever.
type Feed = Option<(Vec<u8>, Option<u8>)>;

/// `scriptless run` of the shipped sequence weights on `input`, then `extra`.
fn run_input(input: &str, extra: &[&str], stdin: Feed) -> Run {
    let mut args = vec![
        "run",
        "--weights",
        "weights/sequence.safetensors",
        "--input",
        input,
    ];
    args.extend_from_slice(extra);
    scriptless(&args, stdin)
}

/// `scriptless run --model sequence` of `weights` on the seed's example, then `extra`.
fn run_weights(weights: &str, extra: &[&str], stdin: Feed) -> Run {
    let mut args = vec![
        "run",
        "--model",
        "sequence",
        "--weights",
        weights,
        "--input",
        "examples/sequence.json",
    ];
    args.extend_from_slice(extra);
    scriptless(&args, stdin)
}

/// The shipped sequence weights' bytes.
fn seed_weights() -> Vec<u8> {
    std::fs::read(root().join("weights/sequence.safetensors")).expect("weights")
}

#[test]
fn weights_from_dev_zero_are_refused_from_the_first_8_bytes() {
    // On main before this test this ran until the out-of-memory killer stopped it.
    let run = run_weights("/dev/zero", &[], None);
    assert_refused(
        &run,
        &["weights file /dev/zero", "header length of 0 bytes"],
    );
}

#[test]
fn weights_from_dev_urandom_are_refused_from_the_first_bytes() {
    let run = run_weights("/dev/urandom", &[], None);
    // Random bytes give an absurd header length (a zip or legacy magic number is 2^-32
    // likely); either way the file is refused as not a weights file.
    assert_refused(
        &run,
        &["weights file /dev/urandom", "not a valid safetensors file"],
    );
}

#[test]
fn weights_piped_through_stdin_give_the_files_output() {
    let piped = run_weights("/dev/stdin", &[], Some((seed_weights(), None)));
    assert!(piped.success, "{}", piped.stderr);
    let file = run_weights("weights/sequence.safetensors", &[], None);
    assert!(file.success, "{}", file.stderr);
    assert_eq!(piped.stdout, file.stdout);
}

#[test]
fn a_weights_stream_that_goes_on_past_its_header_is_refused_there() {
    let bytes = seed_weights();
    let size = bytes.len();
    let run = run_weights("/dev/stdin", &[], Some((bytes, Some(0))));
    assert_refused(
        &run,
        &[
            "weights file /dev/stdin",
            &format!("goes on after the {size} bytes its header describes"),
        ],
    );
}

#[test]
fn a_zip_stream_that_never_ends_stops_at_the_limit() {
    // A PyTorch archive is read whole (its index is at the end): an endless one is read to
    // the limit and refused, naming the flag that raises it.
    let run = run_weights(
        "/dev/stdin",
        &["--max-weights-bytes", "1M"],
        Some((b"PK\x03\x04".to_vec(), Some(0))),
    );
    assert_refused(
        &run,
        &[
            "weights file /dev/stdin",
            "more than the limit of 1048576 bytes (--max-weights-bytes)",
        ],
    );
}

#[test]
fn a_jsonl_file_without_newlines_ends_the_run_at_the_limit() {
    // On main before this test this spun forever, looking for the end of the first line.
    let (_dir, input) = link("zeros.jsonl", "/dev/zero");
    let limit = ["--max-input-bytes", "1K"];
    let run = run_input(&input, &[&limit[..], &["--keep-going"]].concat(), None);
    assert_refused(
        &run,
        &[
            "zeros.jsonl line 1",
            "longer than the limit of 1024 bytes (--max-input-bytes)",
        ],
    );
    // Without --keep-going the run ends at the first bad line: at its first byte here.
    let run = run_input(&input, &limit, None);
    assert_refused(
        &run,
        &["zeros.jsonl line 1", "not a JSON request", "byte 0x00"],
    );
}

#[test]
fn an_endless_jsonl_line_after_good_ones_is_refused_after_their_results() {
    let request = std::fs::read_to_string(root().join("examples/sequence.json")).expect("input");
    let mut first = request.replace('\n', " ");
    first.push('\n');
    let (_dir, input) = link("stdin.jsonl", "/dev/stdin");
    let run = run_input(
        &input,
        &["--max-input-bytes", "64K", "--batch-size", "1"],
        Some((first.into_bytes(), Some(b' '))),
    );
    assert_refused(
        &run,
        &["stdin.jsonl line 2", "longer than the limit of 65536 bytes"],
    );
    assert_eq!(
        run.stdout.lines().count(),
        1,
        "line 1's result: {}",
        run.stdout
    );
}

#[test]
fn a_json_input_from_dev_zero_is_refused_from_its_first_byte() {
    let (_dir, input) = link("zeros.json", "/dev/zero");
    let run = run_input(&input, &[], None);
    assert_refused(&run, &["zeros.json", "not a JSON request", "byte 0x00"]);
}

#[test]
fn an_endless_json_object_stops_at_the_limit() {
    let (_dir, input) = link("stdin.json", "/dev/stdin");
    let run = run_input(
        &input,
        &["--max-input-bytes", "1M"],
        Some((b"{\"padded_seq\": [".to_vec(), Some(b' '))),
    );
    assert_refused(
        &run,
        &[
            "stdin.json",
            "more than the limit of 1048576 bytes (--max-input-bytes)",
        ],
    );
}

#[test]
fn a_safetensors_input_from_dev_zero_is_refused_from_its_first_8_bytes() {
    let (_dir, input) = link("zeros.safetensors", "/dev/zero");
    let run = run_input(&input, &[], None);
    assert_refused(
        &run,
        &[
            "input file",
            "zeros.safetensors",
            "header length of 0 bytes",
        ],
    );
}

#[test]
fn a_safetensors_input_piped_gives_the_files_output() {
    let case = root().join("tests/fixtures/sequence_long");
    let file = case.join("input.safetensors");
    let bytes = std::fs::read(&file).expect("input");
    let (_dir, input) = link("stdin.safetensors", "/dev/stdin");
    let weights = case.join("weights.safetensors");
    let weights = weights.to_str().expect("UTF-8");
    let run = |input: &str, stdin: Feed| {
        scriptless(&["run", "--weights", weights, "--input", input], stdin)
    };
    let piped = run(&input, Some((bytes, None)));
    assert!(piped.success, "{}", piped.stderr);
    let file = run(file.to_str().expect("UTF-8"), None);
    assert_eq!(piped.stdout, file.stdout);
}

#[test]
fn a_directory_or_a_missing_file_is_named_once_with_its_role() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let d = dir.path().to_str().expect("UTF-8");
    let missing = dir.path().join("nope.safetensors");
    let missing = missing.to_str().expect("UTF-8");
    let missing_json = format!("{d}/x.json");
    let cases = [
        (
            run_weights(d, &[], None),
            format!("weights file {d}: is a directory, not a file"),
            "",
        ),
        (
            run_weights(missing, &[], None),
            format!("weights file {missing}: "),
            "No such file",
        ),
        (
            run_input(missing, &[], None),
            format!("input file {missing}: "),
            "No such file",
        ),
        (
            run_input(&missing_json, &[], None),
            format!("input file {missing_json}: "),
            "No such file",
        ),
    ];
    for (run, prefix, cause) in cases {
        assert_refused(&run, &[&prefix, cause]);
        let line = run.stderr.trim_end();
        // Said once: the cause is not repeated by the error chain.
        if !cause.is_empty() {
            assert_eq!(line.matches(cause).count(), 1, "{line}");
        }
    }
    // A directory as a `.jsonl` input, too.
    let jsonl = dir.path().join("batch.jsonl");
    std::fs::create_dir(&jsonl).expect("make a directory");
    let jsonl = jsonl.to_str().expect("UTF-8");
    let run = run_input(jsonl, &[], None);
    assert_refused(
        &run,
        &[&format!("input file {jsonl}: is a directory, not a file")],
    );
}
