//! A `.pt` file is a program: hostile code (endless loops, recursion, deep nesting, huge ranges,
//! string and list blow-ups, names of things that do not exist) gets a clear error within the
//! step budget, the depth limit and the memory limits, never a hang, a crash or a panic. Each
//! archive is a real one (`not_seed/two_input_product`) with its `forward` rewritten. The last
//! tests run code whose operators the data decides, which a trace must not replay blindly.

use std::io::{Read, Write};
use std::path::Path;

use scriptless::script::{Options, Program, Value};

const FORWARD: &str = "weights/code/__torch__/___torch_mangle_42.py";

const HEADER: &str = "class TwoInputModule(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  _is_full_backward_hook : Optional[bool]
  linear : __torch__.torch.nn.modules.linear.Linear
  def forward(self: __torch__.___torch_mangle_42.TwoInputModule,
    tensor1: Tensor,
    tensor2: Tensor) -> Tensor:
";

/// The archive with its root module's code replaced by `code`.
fn archive_with(code: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/not_seed/two_input_product/weights.pt");
    let bytes = std::fs::read(path).unwrap();
    let mut input = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..input.len() {
        let mut entry = input.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        if name == FORWARD {
            data = code.as_bytes().to_vec();
        }
        out.start_file(name, stored).unwrap();
        out.write_all(&data).unwrap();
    }
    out.finish().unwrap().into_inner()
}

fn options() -> Options {
    Options {
        max_steps: 200_000,
        ..Options::default()
    }
}

fn tensor(v: f32) -> Value {
    let t = candle_core::Tensor::new(&[v, v], &candle_core::Device::Cpu).unwrap();
    Value::Tensor(scriptless::ops::Tensor::new(t).unwrap())
}

/// Loads the archive whose `forward` has `body` and runs it; the error's message.
fn run_body(body: &str) -> String {
    let code = format!("{HEADER}{body}");
    run_code(&code)
}

fn run_code(code: &str) -> String {
    let bytes = archive_with(code);
    let program = match Program::from_bytes(&bytes, "hostile.pt", &options()) {
        Ok(p) => p,
        Err(e) => return e.to_string(),
    };
    match program.forward(vec![
        ("tensor1".into(), tensor(1.0)),
        ("tensor2".into(), tensor(2.0)),
    ]) {
        Ok(v) => panic!("the hostile program returned {v:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn an_endless_loop_runs_out_of_steps() {
    let e = run_body("    while True:\n      pass\n    return tensor1\n");
    assert!(e.contains("over 200000 steps"), "{e}");
    assert!(e.contains("--max-steps"), "{e}");
}

#[test]
fn a_huge_range_runs_out_of_steps() {
    let e = run_body("    for i in range(4611686018427387904):\n      pass\n    return tensor1\n");
    assert!(e.contains("steps"), "{e}");
}

#[test]
fn recursion_stops_at_the_depth_limit() {
    let e = run_body("    return (self).forward(tensor1, tensor2, )\n");
    assert!(e.contains("calls nest deeper than"), "{e}");
}

#[test]
fn deep_nesting_is_refused_by_the_parser() {
    let deep = format!(
        "    return {}tensor1{}\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let e = run_body(&deep);
    assert!(e.contains("code/__torch__/___torch_mangle_42.py"), "{e}");
    let mut blocks = String::new();
    for i in 0..600 {
        blocks.push_str(&" ".repeat(4 + 2 * i));
        blocks.push_str("if True:\n");
    }
    blocks.push_str(&" ".repeat(4 + 2 * 600));
    blocks.push_str("pass\n    return tensor1\n");
    let e = run_body(&blocks);
    assert!(e.contains("code/__torch__/___torch_mangle_42.py"), "{e}");
}

#[test]
fn string_and_list_blow_ups_hit_the_limits() {
    let e = run_body("    s = \"ab\"\n    while True:\n      s = s + s\n    return tensor1\n");
    assert!(e.contains("max_elements / 64"), "{e}");
    let e = run_body("    l = [1, 2]\n    while True:\n      l = l + l\n    return tensor1\n");
    assert!(e.contains("max_elements / 64"), "{e}");
}

#[test]
fn names_of_things_that_do_not_exist_are_errors() {
    let e = run_body("    return self.no_such_tensor\n");
    assert!(e.contains("no attribute `no_such_tensor`"), "{e}");
    let e = run_body("    return no_such_name\n");
    assert!(e.contains("`no_such_name` is not defined"), "{e}");
    let e = run_body("    return __torch__.nowhere.f(tensor1)\n");
    assert!(e.contains("not defined"), "{e}");
    let e = run_body("    return CONSTANTS.c99\n");
    assert!(e.contains("constants.pkl has"), "{e}");
}

#[test]
fn classes_that_name_each_other_load_and_fail_cleanly() {
    let code = format!(
        "{HEADER}    a = __torch__.___torch_mangle_42.A()\n    return a.b.a.b\n\
         class A(object):\n  b : __torch__.___torch_mangle_42.B\n\
         class B(object):\n  a : __torch__.___torch_mangle_42.A\n"
    );
    let e = run_code(&code);
    assert!(e.contains("has no attribute `b`"), "{e}");
}

#[test]
fn a_models_own_exception_carries_its_class_and_message() {
    let e = run_body(
        "    ops.prim.RaiseException(\"lengths must be positive\", \"builtins.ValueError\")\n    return tensor1\n",
    );
    assert!(e.contains("ValueError: lengths must be positive"), "{e}");
    assert!(e.contains("code/__torch__/___torch_mangle_42.py:10"), "{e}");
}

#[test]
fn malformed_code_is_refused_at_load_with_its_line() {
    let e = run_body("    return (tensor1\n");
    assert!(e.contains("code/__torch__/___torch_mangle_42.py"), "{e}");
    let e = run_body("    return tensor1 +* tensor2\n");
    assert!(e.contains("code/__torch__/___torch_mangle_42.py:10"), "{e}");
}

#[test]
fn arbitrary_bytes_as_code_never_panic() {
    // A fixed pseudo-random stream (xorshift), cut into code-like pieces.
    let pieces = [
        "(", ")", "[", "]", ":", ",", "if ", "else", "while ", "for ", " in ", "return ", "x", "1",
        "\n", "  ", "def ", "class ", "=", "+", ".", "torch", "\"s\"", "None", "not ", "lambda",
    ];
    let mut state = 0x2545F4914F6CDD1Du64;
    for _ in 0..200 {
        let mut body = String::new();
        for _ in 0..40 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            body.push_str(pieces[(state % pieces.len() as u64) as usize]);
        }
        let code = format!("{HEADER}    {body}\n    return tensor1\n");
        let bytes = archive_with(&code);
        if let Ok(p) = Program::from_bytes(&bytes, "hostile.pt", &options()) {
            let _ = p.forward(vec![
                ("tensor1".into(), tensor(1.0)),
                ("tensor2".into(), tensor(2.0)),
            ]);
        }
    }
}

#[test]
fn an_unsupported_operator_that_can_run_refuses_the_model_at_load() {
    let code = format!("{HEADER}    return torch.stft(tensor1, 4)\n");
    let e = match Program::from_bytes(&archive_with(&code), "hostile.pt", &options()) {
        Ok(_) => panic!("loaded"),
        Err(e) => e.to_string(),
    };
    assert_eq!(
        e,
        "code/__torch__/___torch_mangle_42.py:10: aten::stft is not supported"
    );
    // On a branch the constants rule out, it is listed and does not refuse the model.
    let code = format!(
        "{HEADER}    if torch.jit.is_scripting():\n      return torch.mul(tensor1, tensor2)\n    \
         else:\n      return torch.stft(tensor1, 4)\n"
    );
    let program = Program::from_bytes(&archive_with(&code), "ok.pt", &options()).unwrap();
    let stft = program
        .operators()
        .iter()
        .find(|o| o.name == "aten::stft")
        .unwrap();
    assert!(!stft.supported && !stft.reached, "{stft:?}");
    let out = program
        .forward(vec![
            ("tensor1".into(), tensor(3.0)),
            ("tensor2".into(), tensor(2.0)),
        ])
        .unwrap();
    let Value::Tensor(t) = out else {
        panic!("{out:?}")
    };
    assert_eq!(t.inner().to_vec1::<f32>().unwrap(), vec![6.0, 6.0]);
}

/// The program whose `forward` has `body`, with the default step budget.
fn program(body: &str) -> Program {
    let bytes = archive_with(&format!("{HEADER}{body}"));
    Program::from_bytes(&bytes, "traced.pt", &Options::default()).unwrap()
}

/// `forward(tensor1=[a, a], tensor2=[b, b])`'s values.
fn call(program: &Program, a: f32, b: f32) -> Vec<f32> {
    let out = program
        .forward(vec![
            ("tensor1".into(), tensor(a)),
            ("tensor2".into(), tensor(b)),
        ])
        .unwrap();
    match out {
        Value::Tensor(t) => t.inner().to_vec1::<f32>().unwrap(),
        other => panic!("returned {other:?}"),
    }
}

#[test]
fn a_replay_takes_the_branch_the_data_decides() {
    // Same shapes, so the second and third calls replay the first's trace: its guard on the
    // condition fails for the negative input, which is interpreted, taking the other branch.
    let p = program(
        "    if bool(torch.gt(torch.sum(tensor1), 0)):\n      return torch.add(tensor1, tensor2)\n    else:\n      return torch.sub(tensor1, tensor2)\n",
    );
    assert_eq!(call(&p, 1.0, 2.0), [3.0, 3.0]);
    assert_eq!(p.traced_keys(), 1);
    assert_eq!(call(&p, 1.5, 2.0), [3.5, 3.5]);
    assert_eq!(call(&p, -1.0, 2.0), [-3.0, -3.0]);
    assert_eq!(call(&p, 4.0, 1.0), [5.0, 5.0]);
}

#[test]
fn a_replay_runs_the_loop_the_data_counts() {
    // `int(t)` is guarded: another count is interpreted, not replayed with the first's.
    let p = program(
        "    x = tensor2\n    for i in range(int(torch.sum(tensor1))):\n      x = torch.add(x, tensor2)\n    return x\n",
    );
    assert_eq!(call(&p, 1.0, 1.0), [3.0, 3.0]);
    assert_eq!(call(&p, 1.0, 1.0), [3.0, 3.0]);
    assert_eq!(call(&p, 2.0, 1.0), [5.0, 5.0]);
    assert_eq!(call(&p, 0.0, 1.0), [1.0, 1.0]);
}

#[test]
fn code_that_runs_too_many_operators_is_interpreted_every_call() {
    // Past 65536 steps a recording gives up: the key keeps no trace, and calls stay right.
    let p = program(
        "    x = tensor1\n    for i in range(70000):\n      x = torch.add(x, tensor2)\n    return x\n",
    );
    assert_eq!(call(&p, 0.0, 1.0), [70000.0, 70000.0]);
    assert_eq!(p.traced_keys(), 0);
    assert_eq!(call(&p, 1.0, 1.0), [70001.0, 70001.0]);
}

#[test]
fn a_replay_gives_an_operator_its_list_as_it_was_before_the_call() {
    // `append` changes the list it is given: a step must hold the list it was called on, or
    // every replay would append twice, fail its check and, three failures on, lose its trace.
    let p = program(
        "    xs = [tensor1]\n    ys = torch.append(xs, tensor2)\n    return torch.cat(ys)\n",
    );
    for _ in 0..4 {
        assert_eq!(call(&p, 1.0, 2.0), [1.0, 1.0, 2.0, 2.0]);
    }
    assert_eq!(p.traced_keys(), 1);
}
