//! The operators on plain values that TorchScript code calls like any other (`torch.eq(n, 3)`
//! is `aten::eq.int`, `torch.len(xs)` is `aten::len.t`, `ops.prim.min(a, b)` is
//! `prim::min.int`): int, float, bool and str arithmetic and comparisons, lists and dicts,
//! and the conversions between tensors and numbers. Registered last, after every tensor
//! overload.

use std::cell::RefCell;
use std::rc::Rc;

use super::registry::{Args, Builder, Scalar};
use super::value::Value;
use crate::error::{Error, Result};

fn err(m: impl Into<String>) -> Error {
    Error::Script(m.into())
}

/// Python's `//` on ints (floor), refusing a zero divisor.
fn floordiv(a: i64, b: i64) -> Result<i64> {
    if b == 0 {
        return Err(err("ZeroDivisionError: integer division or modulo by zero"));
    }
    let q = a.wrapping_div(b);
    Ok(if (a % b != 0) && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    })
}

/// Python's `%` on ints (the sign of the divisor).
fn remainder(a: i64, b: i64) -> Result<i64> {
    if b == 0 {
        return Err(err("ZeroDivisionError: integer division or modulo by zero"));
    }
    let r = a.wrapping_rem(b);
    Ok(if r != 0 && ((r < 0) != (b < 0)) {
        r + b
    } else {
        r
    })
}

fn fmod_py(a: f64, b: f64) -> f64 {
    let r = a % b;
    if r != 0.0 && ((r < 0.0) != (b < 0.0)) {
        r + b
    } else {
        r
    }
}

fn cmp_values(a: &Args, op: fn(std::cmp::Ordering) -> bool) -> Result<Value> {
    let x = a.scalar(0)?.f64();
    let y = a.scalar(1)?.f64();
    Ok(Value::Bool(x.partial_cmp(&y).is_some_and(op)))
}

fn int_list(a: &Args, i: usize) -> Result<Vec<Value>> {
    a.value(i)
        .items()
        .ok_or_else(|| err(format!("argument {i} must be a list")))
}

/// Registers this family's operators.
pub(super) fn register(b: &mut Builder) {
    use std::cmp::Ordering::*;
    // Comparisons of numbers (int, float and mixed, bool as a number), strings and lists.
    b.add("aten::eq.int(int a, int b) -> bool", |_, a| {
        Ok(Value::Bool(a.int(0)? == a.int(1)?))
    });
    b.add("aten::ne.int(int a, int b) -> bool", |_, a| {
        Ok(Value::Bool(a.int(0)? != a.int(1)?))
    });
    b.add("aten::lt.int(int a, int b) -> bool", |_, a| {
        Ok(Value::Bool(a.int(0)? < a.int(1)?))
    });
    b.add("aten::le.int(int a, int b) -> bool", |_, a| {
        Ok(Value::Bool(a.int(0)? <= a.int(1)?))
    });
    b.add("aten::gt.int(int a, int b) -> bool", |_, a| {
        Ok(Value::Bool(a.int(0)? > a.int(1)?))
    });
    b.add("aten::ge.int(int a, int b) -> bool", |_, a| {
        Ok(Value::Bool(a.int(0)? >= a.int(1)?))
    });
    b.add("aten::eq(Scalar a, Scalar b) -> bool", |_, a| {
        cmp_values(a, |o| o == Equal)
    });
    b.add("aten::ne(Scalar a, Scalar b) -> bool", |_, a| {
        let x = a.scalar(0)?.f64();
        let y = a.scalar(1)?.f64();
        Ok(Value::Bool(x != y))
    });
    b.add("aten::lt(Scalar a, Scalar b) -> bool", |_, a| {
        cmp_values(a, |o| o == Less)
    });
    b.add("aten::le(Scalar a, Scalar b) -> bool", |_, a| {
        cmp_values(a, |o| o != Greater)
    });
    b.add("aten::gt(Scalar a, Scalar b) -> bool", |_, a| {
        cmp_values(a, |o| o == Greater)
    });
    b.add("aten::ge(Scalar a, Scalar b) -> bool", |_, a| {
        cmp_values(a, |o| o != Less)
    });
    b.add("aten::eq.str(str a, str b) -> bool", |_, a| {
        Ok(Value::Bool(a.str(0)? == a.str(1)?))
    });
    b.add("aten::ne.str(str a, str b) -> bool", |_, a| {
        Ok(Value::Bool(a.str(0)? != a.str(1)?))
    });
    b.add("aten::eq.int_list(int[] a, int[] b) -> bool", |_, a| {
        Ok(Value::Bool(a.value(0).equals(a.value(1))))
    });
    b.add("aten::ne.int_list(int[] a, int[] b) -> bool", |_, a| {
        Ok(Value::Bool(!a.value(0).equals(a.value(1))))
    });
    b.add("aten::eq.str_list(str[] a, str[] b) -> bool", |_, a| {
        Ok(Value::Bool(a.value(0).equals(a.value(1))))
    });
    b.add("aten::eq.device(Device a, Device b) -> bool", |_, a| {
        Ok(Value::Bool(a.value(0).equals(a.value(1))))
    });
    b.add("aten::ne.device(Device a, Device b) -> bool", |_, a| {
        Ok(Value::Bool(!a.value(0).equals(a.value(1))))
    });
    b.add("aten::__is__(t1 self, t2 obj) -> bool", |_, a| {
        Ok(Value::Bool(a.value(0).is(a.value(1))))
    });
    b.add("aten::__isnot__(t1 self, t2 obj) -> bool", |_, a| {
        Ok(Value::Bool(!a.value(0).is(a.value(1))))
    });
    b.add("aten::__not__(bool self) -> bool", |_, a| {
        Ok(Value::Bool(!a.bool(0)?))
    });
    b.add("aten::__and__.bool(bool a, bool b) -> bool", |_, a| {
        Ok(Value::Bool(a.bool(0)? & a.bool(1)?))
    });
    b.add("aten::__or__.bool(bool a, bool b) -> bool", |_, a| {
        Ok(Value::Bool(a.bool(0)? | a.bool(1)?))
    });
    b.add("aten::__xor__.bool(bool a, bool b) -> bool", |_, a| {
        Ok(Value::Bool(a.bool(0)? ^ a.bool(1)?))
    });
    b.add("aten::__and__.int(int a, int b) -> int", |_, a| {
        Ok(Value::Int(a.int(0)? & a.int(1)?))
    });
    b.add("aten::__or__.int(int a, int b) -> int", |_, a| {
        Ok(Value::Int(a.int(0)? | a.int(1)?))
    });
    b.add("aten::__xor__.int(int a, int b) -> int", |_, a| {
        Ok(Value::Int(a.int(0)? ^ a.int(1)?))
    });
    b.add(
        "aten::__contains__.int_list(int[] l, int item) -> bool",
        |_, a| {
            let item = a.value(1).clone();
            Ok(Value::Bool(int_list(a, 0)?.iter().any(|v| v.equals(&item))))
        },
    );
    b.add(
        "aten::__contains__.str_list(str[] l, str item) -> bool",
        |_, a| {
            let item = a.value(1).clone();
            Ok(Value::Bool(int_list(a, 0)?.iter().any(|v| v.equals(&item))))
        },
    );
    b.add(
        "aten::__contains__.float_list(float[] l, float item) -> bool",
        |_, a| {
            let item = a.value(1).clone();
            Ok(Value::Bool(int_list(a, 0)?.iter().any(|v| v.equals(&item))))
        },
    );
    b.add(
        "aten::__contains__.str(Dict(str, t) dict, str key) -> bool",
        |_, a| {
            let key = a.value(1).clone();
            match a.value(0) {
                Value::Dict(d) => Ok(Value::Bool(d.borrow().iter().any(|(k, _)| k.equals(&key)))),
                _ => Err(err("__contains__ takes a dict")),
            }
        },
    );

    // Arithmetic on ints and floats, as Python's.
    b.add("aten::add.int(int a, int b) -> int", |_, a| {
        Ok(Value::Int(a.int(0)?.wrapping_add(a.int(1)?)))
    });
    b.add("aten::sub.int(int a, int b) -> int", |_, a| {
        Ok(Value::Int(a.int(0)?.wrapping_sub(a.int(1)?)))
    });
    b.add("aten::mul.int(int a, int b) -> int", |_, a| {
        Ok(Value::Int(a.int(0)?.wrapping_mul(a.int(1)?)))
    });
    b.add("aten::floordiv.int(int a, int b) -> int", |_, a| {
        Ok(Value::Int(floordiv(a.int(0)?, a.int(1)?)?))
    });
    b.add("aten::remainder.int(int a, int b) -> int", |_, a| {
        Ok(Value::Int(remainder(a.int(0)?, a.int(1)?)?))
    });
    b.add("aten::add(Scalar a, Scalar b) -> Scalar", |_, a| {
        float2(a, |x, y| x + y)
    });
    b.add("aten::sub(Scalar a, Scalar b) -> Scalar", |_, a| {
        float2(a, |x, y| x - y)
    });
    b.add("aten::mul(Scalar a, Scalar b) -> Scalar", |_, a| {
        float2(a, |x, y| x * y)
    });
    b.add("aten::div(Scalar a, Scalar b) -> float", |_, a| {
        let y = a.scalar(1)?.f64();
        if y == 0.0 {
            return Err(err("ZeroDivisionError: float division by zero"));
        }
        Ok(Value::Float(a.scalar(0)?.f64() / y))
    });
    b.add("aten::floordiv(Scalar a, Scalar b) -> Scalar", |_, a| {
        let y = a.scalar(1)?.f64();
        if y == 0.0 {
            return Err(err("ZeroDivisionError: float divmod()"));
        }
        Ok(Value::Float((a.scalar(0)?.f64() / y).floor()))
    });
    b.add("aten::remainder(Scalar a, Scalar b) -> Scalar", |_, a| {
        float2(a, fmod_py)
    });
    b.add("aten::pow.int(int a, int b) -> float", |_, a| {
        Ok(Value::Float((a.int(0)? as f64).powf(a.int(1)? as f64)))
    });
    b.add("aten::pow(Scalar a, Scalar b) -> Scalar", |_, a| {
        float2(a, f64::powf)
    });
    b.add("aten::neg.int(int a) -> int", |_, a| {
        Ok(Value::Int(a.int(0)?.wrapping_neg()))
    });
    b.add("aten::neg.float(float a) -> float", |_, a| {
        Ok(Value::Float(-a.float(0)?))
    });
    b.add("aten::floor.float(float a) -> int", |_, a| {
        Ok(Value::Int(a.float(0)?.floor() as i64))
    });
    b.add("aten::ceil.float(float a) -> int", |_, a| {
        Ok(Value::Int(a.float(0)?.ceil() as i64))
    });
    b.add("aten::sqrt.float(float a) -> float", |_, a| {
        Ok(Value::Float(a.float(0)?.sqrt()))
    });
    b.add("aten::log.float(float a) -> float", |_, a| {
        Ok(Value::Float(a.float(0)?.ln()))
    });
    b.add("aten::exp.float(float a) -> float", |_, a| {
        Ok(Value::Float(a.float(0)?.exp()))
    });
    b.add("aten::abs.int(int a) -> int", |_, a| {
        Ok(Value::Int(a.int(0)?.wrapping_abs()))
    });
    b.add("aten::abs.float(float a) -> float", |_, a| {
        Ok(Value::Float(a.float(0)?.abs()))
    });
    b.add("prim::min.int(int a, int b) -> int", |_, a| {
        Ok(Value::Int(a.int(0)?.min(a.int(1)?)))
    });
    b.add("prim::max.int(int a, int b) -> int", |_, a| {
        Ok(Value::Int(a.int(0)?.max(a.int(1)?)))
    });
    b.add("prim::min.float(float a, float b) -> float", |_, a| {
        Ok(Value::Float(a.float(0)?.min(a.float(1)?)))
    });
    b.add("prim::max.float(float a, float b) -> float", |_, a| {
        Ok(Value::Float(a.float(0)?.max(a.float(1)?)))
    });
    b.add("prim::min.self_int(int[] self) -> int", |_, a| {
        a.ints(0)?
            .into_iter()
            .min()
            .map(Value::Int)
            .ok_or_else(|| err("min() of an empty list"))
    });
    b.add("prim::max.self_int(int[] self) -> int", |_, a| {
        a.ints(0)?
            .into_iter()
            .max()
            .map(Value::Int)
            .ok_or_else(|| err("max() of an empty list"))
    });
    b.add(
        "aten::__range_length(int lo, int hi, int step) -> int",
        |_, a| {
            let (lo, hi, step) = (a.int(0)?, a.int(1)?, a.int(2)?);
            if step == 0 {
                return Err(err("range() arg 3 must not be zero"));
            }
            let n = if step > 0 && lo < hi {
                1 + (hi - 1 - lo) / step
            } else if step < 0 && lo > hi {
                1 + (lo - 1 - hi) / (-step)
            } else {
                0
            };
            Ok(Value::Int(n))
        },
    );
    b.add(
        "aten::__derive_index(int index, int start, int step) -> int",
        |_, a| {
            Ok(Value::Int(
                a.int(1)?.wrapping_add(a.int(0)?.wrapping_mul(a.int(2)?)),
            ))
        },
    );

    // Conversions between tensors and numbers.
    b.add("aten::Int.Tensor(Tensor a) -> int", |_, a| {
        Ok(Value::Int(a.tensor(0)?.scalar_i64()?))
    });
    b.add("aten::Int.float(float a) -> int", |_, a| {
        let x = a.float(0)?;
        if !x.is_finite() {
            return Err(err("cannot convert a non-finite float to an integer"));
        }
        Ok(Value::Int(x.trunc() as i64))
    });
    b.add("aten::Int.bool(bool a) -> int", |_, a| {
        Ok(Value::Int(a.bool(0)? as i64))
    });
    b.add("aten::Float.Tensor(Tensor a) -> float", |_, a| {
        Ok(Value::Float(a.tensor(0)?.scalar_f64()?))
    });
    b.add("aten::Float.Scalar(Scalar a) -> float", |_, a| {
        Ok(Value::Float(a.scalar(0)?.f64()))
    });
    b.add("aten::Bool.Tensor(Tensor a) -> bool", |_, a| {
        Ok(Value::Bool(a.tensor(0)?.scalar_f64()? != 0.0))
    });
    b.add("aten::Bool.int(int a) -> bool", |_, a| {
        Ok(Value::Bool(a.int(0)? != 0))
    });
    b.add("aten::ScalarImplicit(Tensor a) -> Scalar", |_, a| {
        let t = a.tensor(0)?;
        Ok(if t.dtype().is_float() {
            Value::Float(t.scalar_f64()?)
        } else if t.dtype() == super::ScalarType::Bool {
            Value::Bool(t.scalar_f64()? != 0.0)
        } else {
            Value::Int(t.scalar_i64()?)
        })
    });

    b.add("aten::cpu(Tensor(a) self) -> Tensor(a|b)", |_, a| {
        Ok(Value::Tensor(
            a.tensor(0)?.to_device(&candle_core::Device::Cpu)?,
        ))
    });

    // Lists, strings and dicts.
    b.add("aten::any.bool(bool[] self) -> bool", |_, a| {
        Ok(Value::Bool(
            int_list(a, 0)?
                .iter()
                .any(|v| matches!(v, Value::Bool(true))),
        ))
    });
    b.add("aten::any.int(int[] self) -> bool", |_, a| {
        Ok(Value::Bool(a.ints(0)?.iter().any(|&n| n != 0)))
    });
    b.add("aten::all.int(int[] self) -> bool", |_, a| {
        Ok(Value::Bool(a.ints(0)?.iter().all(|&n| n != 0)))
    });
    b.add("aten::all.bool(bool[] self) -> bool", |_, a| {
        Ok(Value::Bool(
            int_list(a, 0)?
                .iter()
                .all(|v| matches!(v, Value::Bool(true))),
        ))
    });
    b.add("aten::len.t(t[] a) -> int", |_, a| {
        Ok(Value::Int(int_list(a, 0)?.len() as i64))
    });
    b.add("aten::len.str(str s) -> int", |_, a| {
        Ok(Value::Int(a.str(0)?.chars().count() as i64))
    });
    b.add(
        "aten::len.Dict_str(Dict(str, t) self) -> int",
        |_, a| match a.value(0) {
            Value::Dict(d) => Ok(Value::Int(d.borrow().len() as i64)),
            _ => Err(err("len() takes a dict here")),
        },
    );
    b.add(
        "aten::append.t(t[](a!) self, t(c -> *) el) -> t[](a!)",
        |cx, a| {
            let Value::List(l) = a.value(0) else {
                return Err(err("append() takes a list"));
            };
            let n = l.borrow().len() + 1;
            cx.check_items("a list", n)?;
            l.borrow_mut().push(a.value(1).clone());
            Ok(Value::List(l.clone()))
        },
    );
    b.add("aten::list.t(t[] l) -> t[]", |_, a| {
        Ok(Value::list(int_list(a, 0)?))
    });
    b.add(
        "aten::__getitem__.t(t[](a) list, int idx) -> t(*)",
        |_, a| {
            let items = int_list(a, 0)?;
            let i = a.int(1)?;
            let n = items.len() as i64;
            let j = if i < 0 { i + n } else { i };
            if j < 0 || j >= n {
                return Err(err(format!(
                    "list index {i} out of range for a list of {n}"
                )));
            }
            Ok(items[j as usize].clone())
        },
    );
    b.add(
        "aten::__getitem__.Dict_str(Dict(str, t) self, str key) -> t(*)",
        |_, a| {
            let Value::Dict(d) = a.value(0) else {
                return Err(err("__getitem__ takes a dict here"));
            };
            let key = a.value(1);
            d.borrow()
                .iter()
                .find(|(k, _)| k.equals(key))
                .map(|(_, v)| v.clone())
                .ok_or_else(|| err(format!("KeyError: '{}'", a.str(1).unwrap_or(""))))
        },
    );
    b.add(
        "aten::slice.t(t[] l, int? start=None, int? end=None, int step=1) -> t[]",
        |_, a| {
            let items = int_list(a, 0)?;
            let n = items.len() as i64;
            let step = a.int(3)?;
            if step <= 0 {
                return Err(err("list slice step must be positive"));
            }
            let clamp = |i: i64| (if i < 0 { i + n } else { i }).clamp(0, n);
            let start = a.opt_int(1)?.map_or(0, clamp);
            let end = a.opt_int(2)?.map_or(n, clamp);
            let mut out = Vec::new();
            let mut i = start;
            while i < end {
                out.push(items[i as usize].clone());
                i += step;
            }
            Ok(Value::list(out))
        },
    );
    b.add("aten::add.t(t[] a, t[] b) -> t[]", |cx, a| {
        let mut out = int_list(a, 0)?;
        out.extend(int_list(a, 1)?);
        cx.check_items("a list", out.len())?;
        Ok(Value::list(out))
    });
    b.add("aten::add.str(str a, str b) -> str", |cx, a| {
        let s = format!("{}{}", a.str(0)?, a.str(1)?);
        cx.check_items("a string", s.len())?;
        Ok(Value::Str(s.into()))
    });
    b.add(
        "aten::_set_item.t(t[](a!) l, int idx, t(b -> *) el) -> t[](a!)",
        |_, a| {
            let Value::List(l) = a.value(0) else {
                return Err(err("_set_item takes a list"));
            };
            let i = a.int(1)?;
            let n = l.borrow().len() as i64;
            let j = if i < 0 { i + n } else { i };
            if j < 0 || j >= n {
                return Err(err(format!(
                    "list index {i} out of range for a list of {n}"
                )));
            }
            l.borrow_mut()[j as usize] = a.value(2).clone();
            Ok(Value::List(l.clone()))
        },
    );
    b.add(
        "aten::_set_item.str(Dict(str, t)(a!) l, str(b -> *) idx, t(c -> *) v) -> ()",
        |_, a| {
            let Value::Dict(d) = a.value(0) else {
                return Err(err("_set_item takes a dict here"));
            };
            let key = a.value(1).clone();
            let mut d = d.borrow_mut();
            match d.iter_mut().find(|(k, _)| k.equals(&key)) {
                Some((_, v)) => *v = a.value(2).clone(),
                None => d.push((key, a.value(2).clone())),
            }
            Ok(Value::None)
        },
    );
    b.add("aten::dict() -> Dict(str, Tensor)", |_, _| {
        Ok(Value::Dict(Rc::new(RefCell::new(Vec::new()))))
    });
    b.add("aten::keys.str(Dict(str, t) self) -> str[](*)", |_, a| {
        dict_part(a, |k, _| k.clone())
    });
    b.add("aten::values.str(Dict(str, t) self) -> t[](*)", |_, a| {
        dict_part(a, |_, v| v.clone())
    });
    b.add(
        "aten::items.str(Dict(str, t) self) -> ((str, t)[])",
        |_, a| dict_part(a, |k, v| Value::tuple(vec![k.clone(), v.clone()])),
    );
    b.add(
        "aten::get.str(Dict(str, t) self, str key, t default_value=None) -> t(*)",
        |_, a| {
            let Value::Dict(d) = a.value(0) else {
                return Err(err("get() takes a dict here"));
            };
            let key = a.value(1);
            Ok(d.borrow()
                .iter()
                .find(|(k, _)| k.equals(key))
                .map_or_else(|| a.value(2).clone(), |(_, v)| v.clone()))
        },
    );
}

fn dict_part(a: &Args, f: fn(&Value, &Value) -> Value) -> Result<Value> {
    match a.value(0) {
        Value::Dict(d) => Ok(Value::list(
            d.borrow().iter().map(|(k, v)| f(k, v)).collect(),
        )),
        _ => Err(err("takes a dict here")),
    }
}

/// A binary operator on two numbers: int with int stays int where exact, otherwise float.
fn float2(a: &Args, f: fn(f64, f64) -> f64) -> Result<Value> {
    let (x, y) = (a.scalar(0)?, a.scalar(1)?);
    let r = f(x.f64(), y.f64());
    Ok(match (x, y) {
        (Scalar::Float(_), _) | (_, Scalar::Float(_)) => Value::Float(r),
        _ => Value::Int(r as i64),
    })
}
