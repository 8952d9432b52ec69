//! The same mistake through every door (`tests/fixtures/doors/errors.json`, tabled in
//! `docs/errors.md`), through C: each case's request, given to its model by a C program through
//! `scriptless_model_load` and `scriptless_model_run`, returns the case's status
//! (`SCRIPTLESS_ERROR_INPUT`, `SCRIPTLESS_ERROR_MODEL`) and, from `scriptless_last_error()`,
//! its message word for word, as the command line prints it (`tests/doors.rs`) and Python
//! raises it (`python-package/tests/test_door_errors.py`).
//!
//! The C program is written here from the table: each request's values as a C program gives
//! them, by the kind `forward` declares for the argument (`scriptless_model_arg_info`): nested
//! lists where a tensor or a list of tensors is declared become C buffers as `torch.tensor`
//! types them (all integers int64, any float float32, all booleans bool), lists where a list of
//! numbers is declared become `SCRIPTLESS_ARG_*_LIST`, and numbers, strings, bools and `null`
//! become `SCRIPTLESS_ARG_INT`, `_FLOAT`, `_STR`, `_BOOL` and `_NONE`. Two mistakes cannot be
//! made in C, whose buffers are rectangular and of one type: a ragged nested list and booleans
//! mixed with numbers in one tensor; the test requires that exactly those are left out.
//!
//! Linux only, as `examples.rs`.
#![cfg(target_os = "linux")]

mod common;

use std::fmt::Write as _;

use scriptless_core::script::{ArgKind, Program};
use serde_json::Value;

use common::{out_dir, root, run_sanitized};

fn cases() -> Vec<Value> {
    let path = root().join("tests/fixtures/doors/errors.json");
    let text = std::fs::read_to_string(&path).expect("tests/fixtures/doors/errors.json");
    let doc: Value = serde_json::from_str(&text).expect("errors.json is JSON");
    doc["cases"].as_array().expect("cases").clone()
}

/// `s` as a C string literal.
fn c_string(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b' '..=b'~' => out.push(b as char),
            other => write!(out, "\\{other:03o}").unwrap(),
        }
    }
    out.push('"');
    out
}

/// A C buffer built from nested JSON lists: its C type, shape and element literals.
struct Buffer {
    dtype: &'static str,
    c_type: &'static str,
    shape: Vec<usize>,
    values: Vec<String>,
}

/// The buffer nested lists make, typed as `torch.tensor` types them; `None` for lists no C
/// buffer holds (ragged, or booleans mixed with numbers).
fn buffer(v: &Value) -> Option<Buffer> {
    fn walk<'v>(
        v: &'v Value,
        depth: usize,
        shape: &mut Vec<usize>,
        leaves: &mut Vec<&'v Value>,
    ) -> bool {
        match v {
            Value::Array(items) => {
                if shape.len() == depth {
                    shape.push(items.len());
                } else if shape[depth] != items.len() {
                    return false;
                }
                items
                    .iter()
                    .all(|item| walk(item, depth + 1, shape, leaves))
            }
            leaf => {
                leaves.push(leaf);
                shape.len() == depth
            }
        }
    }
    let mut shape = Vec::new();
    let mut leaves = Vec::new();
    if !walk(v, 0, &mut shape, &mut leaves) {
        return None;
    }
    if !leaves.is_empty() && leaves.iter().all(|l| l.is_boolean()) {
        let values = leaves
            .iter()
            .map(|l| u8::from(l.as_bool() == Some(true)).to_string())
            .collect();
        return Some(Buffer {
            dtype: "SCRIPTLESS_DTYPE_BOOL",
            c_type: "uint8_t",
            shape,
            values,
        });
    }
    if leaves.iter().any(|l| !l.is_number()) {
        return None;
    }
    if leaves.iter().any(|l| l.is_f64()) {
        let values = leaves
            .iter()
            .map(|l| format!("{:?}f", l.as_f64().unwrap_or(f64::NAN) as f32))
            .collect();
        Some(Buffer {
            dtype: "SCRIPTLESS_DTYPE_F32",
            c_type: "float",
            shape,
            values,
        })
    } else {
        let values = leaves
            .iter()
            .map(|l| format!("INT64_C({})", l.as_i64().unwrap_or(0)))
            .collect();
        Some(Buffer {
            dtype: "SCRIPTLESS_DTYPE_I64",
            c_type: "int64_t",
            shape,
            values,
        })
    }
}

/// Writes `buffer`'s data and shape as `{prefix}_data` and `{prefix}_shape`, and returns the
/// `ScriptlessInput` initializer over them.
fn write_buffer(c: &mut String, prefix: &str, buffer: &Buffer) -> String {
    let values = if buffer.values.is_empty() {
        "0".to_string()
    } else {
        buffer.values.join(", ")
    };
    writeln!(
        c,
        "static const {} {prefix}_data[] = {{{values}}};",
        buffer.c_type
    )
    .unwrap();
    let dims: Vec<String> = buffer.shape.iter().map(usize::to_string).collect();
    let dims = if dims.is_empty() {
        "0".to_string()
    } else {
        dims.join(", ")
    };
    writeln!(c, "static const size_t {prefix}_shape[] = {{{dims}}};").unwrap();
    format!(
        "(ScriptlessInput){{NULL, {}, {}, {prefix}_shape, {prefix}_data}}",
        buffer.dtype,
        buffer.shape.len()
    )
}

/// The C statements that set `args[{i}]` to the argument `name` = `value`, for an argument
/// `forward` declares of `kind` (none for a name it does not take); `None` where C cannot give
/// the value.
fn argument(
    c: &mut String,
    case: usize,
    i: usize,
    name: &str,
    value: &Value,
    kind: Option<ArgKind>,
) -> Option<String> {
    let prefix = format!("case{case}_arg{i}");
    let mut set = format!("    args[{i}].name = {};\n", c_string(name));
    let mut field = |kind: &str, rest: String| {
        write!(set, "    args[{i}].kind = SCRIPTLESS_ARG_{kind};\n{rest}").unwrap();
    };
    match (value, kind) {
        (Value::Array(items), Some(ArgKind::TensorList)) => {
            let mut inputs = Vec::new();
            for (j, item) in items.iter().enumerate() {
                inputs.push(write_buffer(c, &format!("{prefix}_{j}"), &buffer(item)?));
            }
            writeln!(
                c,
                "static const ScriptlessInput {prefix}_list[] = {{{}}};",
                inputs.join(", ")
            )
            .unwrap();
            field(
                "TENSOR_LIST",
                format!(
                    "    args[{i}].tensors = {prefix}_list;\n    args[{i}].count = {};\n",
                    items.len()
                ),
            );
        }
        (
            Value::Array(items),
            Some(list @ (ArgKind::IntList | ArgKind::FloatList | ArgKind::BoolList)),
        ) => {
            let (kind, c_type, member, values): (&str, &str, &str, Vec<String>) = match list {
                ArgKind::IntList => (
                    "INT_LIST",
                    "int64_t",
                    "ints",
                    items
                        .iter()
                        .map(|v| Some(format!("INT64_C({})", v.as_i64()?)))
                        .collect::<Option<_>>()?,
                ),
                ArgKind::FloatList => (
                    "FLOAT_LIST",
                    "double",
                    "floats",
                    items
                        .iter()
                        .map(|v| Some(format!("{:?}", v.as_f64()?)))
                        .collect::<Option<_>>()?,
                ),
                _ => (
                    "BOOL_LIST",
                    "bool",
                    "bools",
                    items
                        .iter()
                        .map(|v| Some(v.as_bool()?.to_string()))
                        .collect::<Option<_>>()?,
                ),
            };
            let values = if values.is_empty() {
                "0".to_string()
            } else {
                values.join(", ")
            };
            writeln!(c, "static const {c_type} {prefix}_items[] = {{{values}}};").unwrap();
            field(
                kind,
                format!(
                    "    args[{i}].{member} = {prefix}_items;\n    args[{i}].count = {};\n",
                    items.len()
                ),
            );
        }
        (Value::Array(_), _) => {
            let input = write_buffer(c, &prefix, &buffer(value)?);
            field("TENSOR", format!("    args[{i}].tensor = {input};\n"));
        }
        (Value::Null, _) => field("NONE", String::new()),
        (Value::Bool(b), _) => field(
            "BOOL",
            format!("    args[{i}].bool_value = {};\n", u8::from(*b)),
        ),
        (Value::String(s), _) => field(
            "STR",
            format!("    args[{i}].str_value = {};\n", c_string(s)),
        ),
        (Value::Number(n), _) => match n.as_i64() {
            Some(k) => field("INT", format!("    args[{i}].int_value = INT64_C({k});\n")),
            None => field(
                "FLOAT",
                format!("    args[{i}].float_value = {:?};\n", n.as_f64()?),
            ),
        },
        (Value::Object(_), _) => return None,
    }
    Some(set)
}

/// The start of the C program: `expect`, which loads a model, runs it on arguments and checks
/// the status and the message.
const PREAMBLE: &str = r#"/* Written by capi/tests/door_errors.rs from errors.json. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "scriptless.h"

static int n_fail;

static void expect(const char *mistake, const char *model_path, const ScriptlessArg *args,
                   size_t n, const char *status, const char *message) {
    ScriptlessModel *model = NULL;
    ScriptlessStatus st = scriptless_model_load(model_path, NULL, &model);
    if (st != SCRIPTLESS_OK) {
        printf("FAIL %s: %s did not load: %s\n", mistake, model_path, scriptless_last_error());
        n_fail++;
        return;
    }
    ScriptlessOutputs *outputs = NULL;
    st = scriptless_model_run(model, args, n, &outputs);
    const char *name = scriptless_status_name(st);
    const char *got = st == SCRIPTLESS_OK ? "(none)" : scriptless_last_error();
    if (strcmp(name, status) != 0 || got == NULL || strcmp(got, message) != 0) {
        printf("FAIL %s: %s `%s`, expected %s `%s`\n", mistake, name, got ? got : "(NULL)",
               status, message);
        n_fail++;
    } else if (outputs != NULL) {
        printf("FAIL %s: outputs set on failure\n", mistake);
        n_fail++;
    } else {
        printf("ok   %s: [%s] %s\n", mistake, status, got);
    }
    scriptless_outputs_destroy(&outputs);
    scriptless_model_destroy(&model);
}

"#;

/// The C program that gives every case C can give to its model, and the mistakes it left out.
fn program(cases: &[Value]) -> (String, Vec<String>) {
    let mut c = String::from(PREAMBLE);
    let mut calls = String::new();
    let mut left_out = Vec::new();
    for (k, case) in cases.iter().enumerate() {
        let mistake = case["mistake"].as_str().expect("mistake");
        let model = case["model"].as_str().expect("model");
        let program = Program::load(root().join(model)).unwrap_or_else(|e| panic!("{model}: {e}"));
        let request = case["request"].as_object().expect("a request is an object");
        let mut sets = String::new();
        let mut ok = true;
        for (i, (name, value)) in request.iter().enumerate() {
            let kind = program.signature().param(name).map(|p| p.kind());
            match argument(&mut c, k, i, name, value, kind) {
                Some(set) => sets.push_str(&set),
                None => ok = false,
            }
        }
        if !ok {
            left_out.push(mistake.to_string());
            continue;
        }
        writeln!(
            c,
            "static void case{k}(void) {{\n    ScriptlessArg args[{n}];\n    \
             memset(args, 0, sizeof args);\n{sets}    expect({}, {}, args, {len}, {}, {});\n}}\n",
            c_string(mistake),
            c_string(model),
            c_string(case["c"].as_str().expect("c")),
            c_string(case["message"].as_str().expect("message")),
            n = request.len().max(1),
            len = request.len(),
        )
        .unwrap();
        writeln!(calls, "    case{k}();").unwrap();
    }
    c.push_str("int main(void) {\n");
    c.push_str(&calls);
    c.push_str("    printf(\"\\n%d failed\\n\", n_fail);\n    return n_fail == 0 ? 0 : 1;\n}\n");
    (c, left_out)
}

#[test]
fn every_mistake_c_can_make_gets_the_tables_status_and_message() {
    let cases = cases();
    assert!(cases.len() >= 15, "the table has {} mistakes", cases.len());
    let (source, left_out) = program(&cases);
    // The table marks the mistakes C cannot make with a null status: exactly those.
    let not_in_c: Vec<String> = cases
        .iter()
        .filter(|c| c["c"].is_null())
        .map(|c| c["mistake"].as_str().expect("mistake").to_string())
        .collect();
    assert_eq!(left_out, not_in_c, "the mistakes a C program cannot make");
    let path = out_dir().join("door_errors.c");
    std::fs::write(&path, source).expect("write door_errors.c");
    let stdout = run_sanitized(path.to_str().expect("a UTF-8 path"), "door_errors");
    let ok = stdout.lines().filter(|l| l.starts_with("ok   ")).count();
    assert_eq!(ok, cases.len() - not_in_c.len(), "{stdout}");
}
