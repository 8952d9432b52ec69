//! `arange`, `linspace` and `eye`, with the values PyTorch's CPU kernels compute: `arange`
//! steps from `start` in the type's accumulation type (int64 for integers, double for float32
//! and float64, float for float16 and bfloat16), eight float32 (four float64, sixteen
//! half-precision) values at a time from a rounded base as its vectorized loop does;
//! `linspace` from both ends toward the middle with a fused multiply-add.

use half::{bf16, f16};

use super::{check_fill, err, from_f64s, from_i64s, new_dims, options};
use crate::error::Result;
use crate::ops::dtype::ScalarType;
use crate::ops::registry::{Args, Builder, Ctx, Scalar};
use crate::ops::value::Value;

/// Registers `arange`, `linspace` and `eye`, the overloads with the most positional
/// arguments first.
pub(super) fn register(b: &mut Builder) {
    const OPTS: &str = "*, ScalarType? dtype=None, Layout? layout=None, Device? device=None, \
                        bool? pin_memory=None) -> Tensor";
    let mut add = |head: &str, f| b.add(&format!("{head}, {OPTS}"), f);
    add(
        "aten::arange.start_step(Scalar start, Scalar end, Scalar step=1",
        arange_start_step,
    );
    add("aten::arange.start(Scalar start, Scalar end", arange_start);
    add("aten::arange(Scalar end", arange_end);
    add(
        "aten::linspace(Scalar start, Scalar end, int steps",
        linspace,
    );
    add(
        "aten::linspace.Tensor_Tensor(Tensor start, Tensor end, int steps",
        linspace,
    );
    add(
        "aten::linspace.Tensor_Scalar(Tensor start, Scalar end, int steps",
        linspace,
    );
    add(
        "aten::linspace.Scalar_Tensor(Scalar start, Tensor end, int steps",
        linspace,
    );
    add("aten::eye.m(SymInt n, SymInt m", eye_m);
    add("aten::eye(SymInt n", eye);
}

fn arange_end(cx: &Ctx, args: &Args) -> Result<Value> {
    arange(cx, args, Scalar::Int(0), args.scalar(0)?, Scalar::Int(1), 1)
}

fn arange_start(cx: &Ctx, args: &Args) -> Result<Value> {
    arange(
        cx,
        args,
        args.scalar(0)?,
        args.scalar(1)?,
        Scalar::Int(1),
        2,
    )
}

fn arange_start_step(cx: &Ctx, args: &Args) -> Result<Value> {
    arange(
        cx,
        args,
        args.scalar(0)?,
        args.scalar(1)?,
        args.scalar(2)?,
        3,
    )
}

/// A double as C++'s streams print it in PyTorch's messages (`nan`, `inf`).
fn c_double(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    } else {
        format!("{x}")
    }
}

/// `arange`'s length, as `compute_arange_size` computes it: bounds checked in double, the
/// length exact for int64 over ints, `ceil((end - start) / step)` in double otherwise.
fn arange_len(start: Scalar, end: Scalar, step: Scalar, dtype: ScalarType) -> Result<usize> {
    let (s, e, st) = (start.f64(), end.f64(), step.f64());
    if st == 0.0 || st.is_nan() {
        return Err(err("step must be nonzero"));
    }
    if !(s.is_finite() && e.is_finite()) {
        return Err(err(format!(
            "unsupported range: {} -> {}",
            c_double(s),
            c_double(e)
        )));
    }
    if !((st > 0.0 && e >= s) || (st < 0.0 && e <= s)) {
        return Err(err(
            "upper bound and lower bound inconsistent with step sign",
        ));
    }
    let len = match (start, end, step) {
        (Scalar::Int(s), Scalar::Int(e), Scalar::Int(st)) if dtype == ScalarType::Int64 => {
            let (s, e, st) = (i128::from(s), i128::from(e), i128::from(st));
            ((e - s + st - st.signum()) / st) as f64
        }
        _ => ((e - s) / st).ceil(),
    };
    if !(len >= 0.0 && len <= i64::MAX as f64) {
        return Err(err("invalid size, possible overflow?"));
    }
    usize::try_from(len as i64).map_err(|_| err("invalid size, possible overflow?"))
}

fn arange(
    cx: &Ctx,
    args: &Args,
    start: Scalar,
    end: Scalar,
    step: Scalar,
    opts: usize,
) -> Result<Value> {
    let (dtype, device) = options(cx, args, opts)?;
    let any_float = [start, end, step]
        .iter()
        .any(|s| matches!(s, Scalar::Float(_)));
    let dtype = dtype.unwrap_or(if any_float {
        ScalarType::Float32
    } else {
        ScalarType::Int64
    });
    if dtype == ScalarType::Bool {
        return Err(err("\"arange_cpu\" not implemented for 'Bool'"));
    }
    let n = arange_len(start, end, step, dtype)?;
    cx.check("aten::arange", &[n])?;
    let t = if dtype.is_float() {
        from_f64s(
            arange_floats(start.f64(), step.f64(), n, dtype),
            &[n],
            dtype,
            &device,
        )?
    } else {
        // The start and step are converted to int64 (refusing what it cannot hold); the
        // values wrap into narrower types.
        check_fill(start, ScalarType::Int64)?;
        check_fill(step, ScalarType::Int64)?;
        let (s, st) = (int_of(start), int_of(step));
        let values = (0..n as i64).map(|i| s.wrapping_add(st.wrapping_mul(i)));
        from_i64s(values.collect(), &[n], dtype, &device)?
    };
    Ok(Value::Tensor(t))
}

/// A number as int64, as C++ converts it (floats truncated; checked by the caller).
fn int_of(s: Scalar) -> i64 {
    match s {
        Scalar::Int(n) => n,
        Scalar::Bool(b) => i64::from(b),
        Scalar::Float(x) => x as i64,
    }
}

/// `x` rounded to `dtype`, a float type.
fn round_to(x: f64, dtype: ScalarType) -> f64 {
    match dtype {
        ScalarType::Float16 => f16::from_f32(x as f32).to_f64(),
        ScalarType::BFloat16 => bf16::from_f32(x as f32).to_f64(),
        ScalarType::Float64 => x,
        _ => x as f32 as f64,
    }
}

/// `arange`'s float values: `start + step * i` in the accumulation type (double for float32
/// and float64, float for the half types), rounded to the type; in runs of two vectors of 32
/// bytes, each vector's lanes are its rounded first value plus `lane * step`.
fn arange_floats(start: f64, step: f64, n: usize, dtype: ScalarType) -> Vec<f64> {
    let half = matches!(dtype, ScalarType::Float16 | ScalarType::BFloat16);
    let lanes = match dtype {
        ScalarType::Float64 => 4,
        ScalarType::Float32 => 8,
        _ => 16,
    };
    // In the accumulation type: `a * b + c`, fused.
    let fma = |a: f64, b: f64, c: f64| {
        if half {
            f64::from((a as f32).mul_add(b as f32, c as f32))
        } else {
            a.mul_add(b, c)
        }
    };
    let (start, step) = if half {
        (start as f32 as f64, step as f32 as f64)
    } else {
        (start, step)
    };
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while i + 2 * lanes <= n {
        for _ in 0..2 {
            let base = round_to(fma(step, i as f64, start), dtype);
            out.extend((0..lanes).map(|lane| round_to(fma(lane as f64, step, base), dtype)));
            i += lanes;
        }
    }
    out.extend((i..n).map(|i| round_to(fma(step, i as f64, start), dtype)));
    out
}

fn linspace(cx: &Ctx, args: &Args) -> Result<Value> {
    let start = bound(args, 0, "start")?;
    let end = bound(args, 1, "end")?;
    let steps = args.int(2)?;
    let (dtype, device) = options(cx, args, 3)?;
    let dtype = dtype.unwrap_or(ScalarType::Float32);
    if steps < 0 {
        return Err(err("number of steps must be non-negative"));
    }
    if dtype == ScalarType::Bool {
        return Err(err("\"linspace_cpu\" not implemented for 'Bool'"));
    }
    let n = new_dims(cx, "aten::linspace", &[steps])?[0];
    check_fill(start, dtype)?;
    if n > 1 {
        check_fill(end, dtype)?;
    }
    let t = if dtype.is_float() {
        from_f64s(
            linspace_floats(start.f64(), end.f64(), n, dtype),
            &[n],
            dtype,
            &device,
        )?
    } else {
        from_f64s(
            linspace_ints(int_of(start), int_of(end), n),
            &[n],
            dtype,
            &device,
        )?
    };
    Ok(Value::Tensor(t))
}

/// `linspace`'s `start` or `end`: a number, or a 0-dim tensor's value.
fn bound(args: &Args, i: usize, name: &str) -> Result<Scalar> {
    match args.value(i) {
        Value::Tensor(t) => {
            if t.rank() != 0 {
                return Err(err(format!(
                    "linspace only supports 0-dimensional start and end tensors, but got {name} \
                     with {} dimension(s).",
                    t.rank()
                )));
            }
            Ok(if t.dtype().is_float() {
                Scalar::Float(t.scalar_f64()?)
            } else {
                Scalar::Int(t.scalar_i64()?)
            })
        }
        _ => args.scalar(i),
    }
}

/// `linspace` over an integer type: the step in double, each value truncated.
fn linspace_ints(start: i64, end: i64, n: usize) -> Vec<f64> {
    match n {
        0 => return Vec::new(),
        1 => return vec![start as f64],
        _ => {}
    }
    let step = (end as f64 - start as f64) / (n - 1) as f64;
    linspace_values(
        n,
        |i| step.mul_add(i as f64, start as f64),
        |k| (-step).mul_add(k as f64, end as f64),
    )
    .into_iter()
    .map(f64::trunc)
    .collect()
}

/// `linspace` over a float type: in the type itself (fused for float32 and float64; rounded
/// after each operation for the half types, whose arithmetic goes through float32).
fn linspace_floats(start: f64, end: f64, n: usize, dtype: ScalarType) -> Vec<f64> {
    let (s, e) = (round_to(start, dtype), round_to(end, dtype));
    match n {
        0 => return Vec::new(),
        1 => return vec![s],
        _ => {}
    }
    let r = |x: f64| round_to(x, dtype);
    match dtype {
        ScalarType::Float16 | ScalarType::BFloat16 => {
            let step = r(r(e - s) / r((n - 1) as f64));
            linspace_values(
                n,
                |i| r(s + r(step * r(i as f64))),
                |k| r(e - r(step * r(k as f64))),
            )
        }
        ScalarType::Float32 => {
            let (s, e) = (s as f32, e as f32);
            let step = (e - s) / (n - 1) as f32;
            linspace_values(
                n,
                |i| f64::from(step.mul_add(i as f32, s)),
                |k| f64::from((-step).mul_add(k as f32, e)),
            )
        }
        _ => {
            let step = (e - s) / (n - 1) as f64;
            linspace_values(
                n,
                |i| step.mul_add(i as f64, s),
                |k| (-step).mul_add(k as f64, e),
            )
        }
    }
}

/// The first half of the values from the start (`from_start(i)`), the rest from the end
/// (`from_end(k)`, `k` steps before it).
fn linspace_values(
    n: usize,
    from_start: impl Fn(usize) -> f64,
    from_end: impl Fn(usize) -> f64,
) -> Vec<f64> {
    let halfway = n / 2;
    (0..n)
        .map(|i| {
            if i < halfway {
                from_start(i)
            } else {
                from_end(n - i - 1)
            }
        })
        .collect()
}

fn eye(cx: &Ctx, args: &Args) -> Result<Value> {
    let n = args.int(0)?;
    make_eye(cx, args, n, n, 1)
}

fn eye_m(cx: &Ctx, args: &Args) -> Result<Value> {
    make_eye(cx, args, args.int(0)?, args.int(1)?, 2)
}

fn make_eye(cx: &Ctx, args: &Args, n: i64, m: i64, opts: usize) -> Result<Value> {
    for (name, v) in [("n", n), ("m", m)] {
        if v < 0 {
            return Err(err(format!(
                "{name} must be greater or equal to 0, got {v}"
            )));
        }
    }
    let (dtype, device) = options(cx, args, opts)?;
    let dims = new_dims(cx, "aten::eye", &[n, m])?;
    let (rows, cols) = (dims[0], dims[1]);
    let values = (0..rows * cols)
        .map(|k| i64::from(k / cols == k % cols))
        .collect();
    let t = from_i64s(values, &dims, dtype.unwrap_or(ScalarType::Float32), &device)?;
    Ok(Value::Tensor(t))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{call, err_of, f64s, tensor};
    use crate::ops::dtype::ScalarType;
    use crate::ops::value::Value;

    fn dtype_kw(t: ScalarType) -> (&'static str, Value) {
        ("dtype", Value::Int(t.code()))
    }

    #[test]
    fn arange_infers_int64_or_float32_and_follows_the_length_rule() {
        let t = tensor(call("aten::arange", &[Value::Int(5)], &[]).unwrap());
        assert_eq!(
            (t.dtype(), f64s(&t)),
            (ScalarType::Int64, vec![0.0, 1.0, 2.0, 3.0, 4.0])
        );
        let t = tensor(
            call(
                "aten::arange",
                &[Value::Int(10), Value::Int(0), Value::Int(-3)],
                &[],
            )
            .unwrap(),
        );
        assert_eq!(f64s(&t), vec![10.0, 7.0, 4.0, 1.0]);
        let t = tensor(call("aten::arange", &[Value::Float(0.5), Value::Int(3)], &[]).unwrap());
        assert_eq!(
            (t.dtype(), f64s(&t)),
            (ScalarType::Float32, vec![0.5, 1.5, 2.5])
        );
        // torch.arange(-1.5, 2.3, 0.7, dtype=torch.int64): six values, start -1, step 0.
        let args = [Value::Float(-1.5), Value::Float(2.3), Value::Float(0.7)];
        let t = tensor(call("aten::arange", &args, &[dtype_kw(ScalarType::Int64)]).unwrap());
        assert_eq!(f64s(&t), vec![-1.0; 6]);
        // torch.arange(300, dtype=torch.uint8)[-3:] is [41, 42, 43]: the values wrap.
        let t = tensor(
            call(
                "aten::arange",
                &[Value::Int(300)],
                &[dtype_kw(ScalarType::UInt8)],
            )
            .unwrap(),
        );
        assert_eq!(f64s(&t)[297..], [41.0, 42.0, 43.0]);
        let t = tensor(
            call(
                "aten::arange",
                &[Value::Int(5)],
                &[dtype_kw(ScalarType::Float16)],
            )
            .unwrap(),
        );
        assert_eq!(
            (t.dtype(), f64s(&t)),
            (ScalarType::Float16, vec![0.0, 1.0, 2.0, 3.0, 4.0])
        );
    }

    #[test]
    fn arange_floats_match_pytorchs_cpu_kernel() {
        // torch.arange(0, 1, 0.01) and torch.arange(0, 1, 0.1, dtype=torch.float64), from
        // torch 2.15.0 (float32 values printed as float64).
        let t = tensor(
            call(
                "aten::arange",
                &[Value::Int(0), Value::Int(1), Value::Float(0.01)],
                &[],
            )
            .unwrap(),
        );
        let v = f64s(&t);
        assert_eq!(v.len(), 100);
        let expected = [
            (3, 0.029999999329447746),
            (7, 0.07000000029802322),
            (29, 0.28999999165534973),
            (57, 0.5699999928474426),
            (99, 0.9900000095367432),
        ];
        for (i, x) in expected {
            assert_eq!(v[i], x, "value {i}");
        }
        let args = [Value::Int(0), Value::Int(1), Value::Float(0.1)];
        let t = tensor(call("aten::arange", &args, &[dtype_kw(ScalarType::Float64)]).unwrap());
        assert_eq!(f64s(&t)[3], 0.30000000000000004);
        // torch.arange(-5, 5, 0.013, dtype=torch.float64).tolist()[100:104].
        let args = [Value::Int(-5), Value::Int(5), Value::Float(0.013)];
        let t = tensor(call("aten::arange", &args, &[dtype_kw(ScalarType::Float64)]).unwrap());
        let v = f64s(&t);
        assert_eq!(v.len(), 770);
        assert_eq!(
            v[100..104],
            [-3.7, -3.6870000000000003, -3.6740000000000004, -3.661]
        );
        // torch.arange(0.1, 30, 0.37, dtype=torch.float16).tolist(): 81 values.
        let args = [Value::Float(0.1), Value::Int(30), Value::Float(0.37)];
        let t = tensor(call("aten::arange", &args, &[dtype_kw(ScalarType::Float16)]).unwrap());
        let v = f64s(&t);
        assert_eq!(v.len(), 81);
        let expected = [
            (0, 0.0999755859375),
            (1, 0.469970703125),
            (7, 2.689453125),
            (15, 5.6484375),
            (16, 6.01953125),
            (31, 11.5703125),
            (47, 17.484375),
            (80, 29.703125),
        ];
        for (i, x) in expected {
            assert_eq!(v[i], x, "value {i}");
        }
    }

    #[test]
    fn arange_refuses_what_pytorch_refuses() {
        // Messages from torch 2.15.0.
        let cases = [
            (
                vec![Value::Int(0), Value::Int(10), Value::Int(0)],
                "step must be nonzero",
            ),
            (
                vec![Value::Int(10), Value::Int(0), Value::Int(1)],
                "upper bound and lower bound inconsistent with step sign",
            ),
            (
                vec![Value::Int(0), Value::Int(10), Value::Int(-1)],
                "upper bound and lower bound inconsistent with step sign",
            ),
            (vec![Value::Float(f64::NAN)], "unsupported range: 0 -> nan"),
            (
                vec![Value::Float(f64::INFINITY)],
                "unsupported range: 0 -> inf",
            ),
        ];
        for (args, message) in cases {
            let e = err_of(call("aten::arange", &args, &[]));
            assert!(e.ends_with(message), "{e}");
        }
        let e = err_of(call("aten::arange", &[Value::Int(1 << 40)], &[]));
        assert!(e.contains("max_elements"), "{e}");
        let e = err_of(call(
            "aten::arange",
            &[Value::Int(3)],
            &[dtype_kw(ScalarType::Bool)],
        ));
        assert!(
            e.ends_with("\"arange_cpu\" not implemented for 'Bool'"),
            "{e}"
        );
    }

    #[test]
    fn linspace_matches_pytorch() {
        // torch.linspace(-3, 7, 7).tolist() (torch 2.15.0).
        let t = tensor(
            call(
                "aten::linspace",
                &[Value::Int(-3), Value::Int(7), Value::Int(7)],
                &[],
            )
            .unwrap(),
        );
        assert_eq!(
            f64s(&t),
            vec![
                -3.0,
                -1.3333333730697632,
                0.33333325386047363,
                2.0,
                3.6666667461395264,
                5.333333492279053,
                7.0
            ]
        );
        // torch.linspace(0, 10, 5, dtype=torch.int64) -> [0, 2, 5, 7, 10].
        let t = tensor(
            call(
                "aten::linspace",
                &[Value::Int(0), Value::Int(10), Value::Int(5)],
                &[dtype_kw(ScalarType::Int64)],
            )
            .unwrap(),
        );
        assert_eq!(f64s(&t), vec![0.0, 2.0, 5.0, 7.0, 10.0]);
        // torch.linspace(-3, 7, 1000, dtype=torch.float64).tolist()[200:203].
        let args = [Value::Int(-3), Value::Int(7), Value::Int(1000)];
        let t = tensor(call("aten::linspace", &args, &[dtype_kw(ScalarType::Float64)]).unwrap());
        assert_eq!(
            f64s(&t)[200..203],
            [-0.997997997997998, -0.987987987987988, -0.977977977977978]
        );
        // The same over 100 steps in float16 ([10:14]) and bfloat16 ([60:64]).
        let args = [Value::Int(-3), Value::Int(7), Value::Int(100)];
        let t = tensor(call("aten::linspace", &args, &[dtype_kw(ScalarType::Float16)]).unwrap());
        assert_eq!(
            f64s(&t)[10..14],
            [-1.990234375, -1.888671875, -1.7880859375, -1.6865234375]
        );
        let t = tensor(call("aten::linspace", &args, &[dtype_kw(ScalarType::BFloat16)]).unwrap());
        assert_eq!(f64s(&t)[60..64], [3.0625, 3.15625, 3.265625, 3.359375]);
        // torch.linspace(-3, 7, 9, dtype=torch.int32).
        let args = [Value::Int(-3), Value::Int(7), Value::Int(9)];
        let t = tensor(call("aten::linspace", &args, &[dtype_kw(ScalarType::Int32)]).unwrap());
        assert_eq!(
            f64s(&t),
            vec![-3.0, -1.0, 0.0, 0.0, 2.0, 3.0, 4.0, 5.0, 7.0]
        );
        let t = tensor(
            call(
                "aten::linspace",
                &[Value::Int(0), Value::Int(1), Value::Int(1)],
                &[],
            )
            .unwrap(),
        );
        assert_eq!(f64s(&t), vec![0.0]);
        let t = tensor(
            call(
                "aten::linspace",
                &[Value::Int(0), Value::Int(1), Value::Int(0)],
                &[],
            )
            .unwrap(),
        );
        assert_eq!(t.dims(), &[0]);
        let e = err_of(call(
            "aten::linspace",
            &[Value::Int(0), Value::Int(1), Value::Int(-1)],
            &[],
        ));
        assert!(e.ends_with("number of steps must be non-negative"), "{e}");
    }

    #[test]
    fn eye_is_square_or_rectangular() {
        let t = tensor(call("aten::eye", &[Value::Int(2), Value::Int(3)], &[]).unwrap());
        assert_eq!(
            (t.dims(), f64s(&t)),
            (&[2, 3][..], vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
        );
        let t = tensor(call("aten::eye", &[Value::Int(2)], &[dtype_kw(ScalarType::Bool)]).unwrap());
        assert_eq!(
            (t.dtype(), f64s(&t)),
            (ScalarType::Bool, vec![1.0, 0.0, 0.0, 1.0])
        );
        let e = err_of(call("aten::eye", &[Value::Int(-1)], &[]));
        assert!(
            e.ends_with("n must be greater or equal to 0, got -1"),
            "{e}"
        );
        let e = err_of(call("aten::eye", &[Value::Int(2), Value::Int(-1)], &[]));
        assert!(
            e.ends_with("m must be greater or equal to 0, got -1"),
            "{e}"
        );
    }
}
