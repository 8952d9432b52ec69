//! What the C door adds to a call: the corpus MLP (`tests/fixtures/corpus/mlp/scripted.pt`) on
//! one batch-1 float32 row, run through the Rust API (`Program::forward`) and through the C API
//! (`scriptless_model_load` + `scriptless_model_run`, called through its `extern "C"` functions
//! exactly as a C program calls them), in the same process, in interleaved rounds. Prints the
//! median time per call of each, and the difference.
//!
//! ```sh
//! cargo run --release -p scriptless-capi --example call_overhead [ROUNDS] [CALLS_PER_ROUND]
//! ```
//!
//! The C API's crate builds no Rust library (its library is `libscriptless.so`, whose name the
//! main crate's rlib has), so this example compiles the C API's own source files as its
//! modules: the functions it calls are the ones `libscriptless.so` exports, built the same way.

// The C API's rules, as in its lib.rs.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
// Most of the C API is not called here.
#![allow(dead_code)]

#[path = "../src/args.rs"]
mod args;
#[path = "../src/call.rs"]
mod call;
#[path = "../src/dtype.rs"]
mod dtype;
#[path = "../src/inputs.rs"]
mod inputs;
#[path = "../src/model.rs"]
mod model;
#[path = "../src/options.rs"]
mod options;
#[path = "../src/outputs.rs"]
mod outputs;
#[path = "../src/run.rs"]
mod run;
#[path = "../src/signature.rs"]
mod signature;
#[path = "../src/status.rs"]
mod status;
#[path = "../src/tensor.rs"]
mod tensor;

use std::ffi::{CStr, CString};
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use candle_core::Device;
use scriptless_core::ops;
use scriptless_core::script::{Program, Value};

use call::{scriptless_model_run, ScriptlessArg};
use inputs::ScriptlessInput;
use model::{scriptless_model_destroy, scriptless_model_load, ScriptlessModel};
use outputs::{scriptless_outputs_destroy, scriptless_outputs_get, ScriptlessOutputs};
use tensor::ScriptlessTensorView;

const MODEL: &str = "tests/fixtures/corpus/mlp/scripted.pt";
const FEATURES: usize = 12;

type Failure = Box<dyn std::error::Error>;

/// The median of `values`.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The mean time per call, in µs, of `calls` calls of `f`.
fn time_per_call(calls: usize, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..calls {
        f();
    }
    start.elapsed().as_secs_f64() * 1e6 / calls as f64
}

/// The C API's last error, for a failed call.
fn last_error() -> String {
    let p = status::scriptless_last_error();
    if p.is_null() {
        return "no message".into();
    }
    // SAFETY: a non-NULL last error is a live NUL-terminated string of this thread.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Runs `model` on `arg` through the C API and returns the one output's values.
fn c_call(model: *const ScriptlessModel, arg: &ScriptlessArg) -> Result<Vec<f32>, Failure> {
    let mut outputs: *mut ScriptlessOutputs = std::ptr::null_mut();
    // SAFETY: a live model, one argument whose pointers live for the call, a place for outputs.
    let status = unsafe { scriptless_model_run(model, arg, 1, &mut outputs) };
    if status != status::SCRIPTLESS_OK {
        return Err(format!("scriptless_model_run: {}", last_error()).into());
    }
    let mut view = std::mem::MaybeUninit::<ScriptlessTensorView>::uninit();
    // SAFETY: live outputs, a place for a view, no name wanted.
    let status =
        unsafe { scriptless_outputs_get(outputs, 0, view.as_mut_ptr(), std::ptr::null_mut()) };
    let values = if status == status::SCRIPTLESS_OK {
        // SAFETY: written by the successful call.
        let view = unsafe { view.assume_init() };
        if view.dtype != dtype::SCRIPTLESS_DTYPE_F32 {
            return Err("the MLP's output is not F32".into());
        }
        // SAFETY: `len` f32s at `data`, owned by `outputs`, which lives until destroyed below.
        Ok(unsafe { std::slice::from_raw_parts(view.data.cast::<f32>(), view.len) }.to_vec())
    } else {
        Err(format!("scriptless_outputs_get: {}", last_error()).into())
    };
    // SAFETY: outputs from the run above, freed once.
    unsafe { scriptless_outputs_destroy(&mut outputs) };
    values
}

fn main() -> Result<(), Failure> {
    let mut cli = std::env::args().skip(1);
    let rounds: usize = cli.next().map_or(Ok(41), |s| s.parse())?;
    let calls: usize = cli.next().map_or(Ok(2000), |s| s.parse())?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = root.join(MODEL);
    let x: Vec<f32> = (0..FEATURES).map(|i| (i as f32 * 0.37).sin()).collect();

    // The Rust API: the program, and the input as a tensor made once.
    let program = Program::load(&path)?;
    let tensor = ops::Tensor::new(candle_core::Tensor::from_slice(
        &x,
        (1, FEATURES),
        &Device::Cpu,
    )?)?;
    let rust_call = || -> Result<Value, Failure> {
        Ok(program.forward(vec![("x".to_string(), Value::Tensor(tensor.clone()))])?)
    };
    // The Rust API from the caller's slice, as the C call starts: the tensor made per call.
    let rust_slice_call = || -> Result<Value, Failure> {
        let t = candle_core::Tensor::from_slice(&x, (1, FEATURES), &Device::Cpu)?;
        Ok(program.forward(vec![("x".to_string(), Value::Tensor(ops::Tensor::new(t)?))])?)
    };

    // The C API, called as C calls it.
    let c_path = CString::new(path.to_string_lossy().as_bytes())?;
    let mut model: *mut ScriptlessModel = std::ptr::null_mut();
    // SAFETY: a NUL-terminated path, NULL options, a place for the model.
    let status = unsafe { scriptless_model_load(c_path.as_ptr(), std::ptr::null(), &mut model) };
    if status != status::SCRIPTLESS_OK {
        return Err(format!("scriptless_model_load: {}", last_error()).into());
    }
    let shape = [1usize, FEATURES];
    let arg = ScriptlessArg {
        name: c"x".as_ptr(),
        kind: signature::SCRIPTLESS_ARG_TENSOR,
        tensor: ScriptlessInput {
            name: std::ptr::null(),
            dtype: dtype::SCRIPTLESS_DTYPE_F32,
            rank: 2,
            shape: shape.as_ptr(),
            data: x.as_ptr().cast(),
        },
        tensors: std::ptr::null(),
        ints: std::ptr::null(),
        floats: std::ptr::null(),
        bools: std::ptr::null(),
        count: 0,
        int_value: 0,
        float_value: 0.0,
        bool_value: 0,
        str_value: std::ptr::null(),
    };

    // Both compute the same output, bit for bit.
    let Value::Tensor(rust_out) = rust_call()? else {
        return Err("the MLP returned something other than a tensor".into());
    };
    let rust_values = rust_out.inner().flatten_all()?.to_vec1::<f32>()?;
    let c_values = c_call(model, &arg)?;
    let same = rust_values.len() == c_values.len()
        && rust_values
            .iter()
            .zip(&c_values)
            .all(|(a, b)| a.to_bits() == b.to_bits());
    if !same {
        return Err(format!("the outputs differ: Rust {rust_values:?}, C {c_values:?}").into());
    }

    // Warm up, then interleaved rounds, each variant in turn.
    for _ in 0..calls {
        black_box(rust_call()?);
        black_box(c_call(model, &arg)?);
    }
    let (mut rust, mut rust_slice, mut c) = (Vec::new(), Vec::new(), Vec::new());
    let mut failed: Option<Failure> = None;
    for round in 0..rounds {
        let mut measure = |which: usize| match which {
            0 => rust.push(time_per_call(calls, || {
                if let Err(e) = rust_call().map(black_box) {
                    failed.get_or_insert(e);
                }
            })),
            1 => rust_slice.push(time_per_call(calls, || {
                if let Err(e) = rust_slice_call().map(black_box) {
                    failed.get_or_insert(e);
                }
            })),
            _ => c.push(time_per_call(calls, || {
                if let Err(e) = c_call(model, &arg).map(black_box) {
                    failed.get_or_insert(e);
                }
            })),
        };
        // Rotate the order, so that no variant always runs first.
        for k in 0..3 {
            measure((round + k) % 3);
        }
    }
    // SAFETY: the model from the load above, freed once.
    unsafe { scriptless_model_destroy(&mut model) };
    if let Some(e) = failed {
        return Err(e);
    }
    let (rust, rust_slice, c) = (median(&mut rust), median(&mut rust_slice), median(&mut c));
    println!(
        "{MODEL}, batch 1, float32 [1, {FEATURES}]: median of {rounds} interleaved rounds of \
         {calls} calls, per call"
    );
    println!("  Rust API, Program::forward on a tensor made once:     {rust:8.3} µs");
    println!("  Rust API, tensor made from the slice + forward:       {rust_slice:8.3} µs");
    println!("  C API, scriptless_model_run + outputs_get + destroy:  {c:8.3} µs");
    println!(
        "  C call over the Rust forward: {:+.3} µs (over it from the slice: {:+.3} µs)",
        c - rust,
        c - rust_slice
    );
    Ok(())
}
