//! A TorchScript archive as a program's data: the module tree of `data.pkl` with every attribute
//! (tensors of any dtype, numbers, strings, lists, dicts, submodules), the constants of
//! `constants.pkl` (tensors stored under `constants/`), and the code, for `crate::script` to run.
//! Nothing here runs code: the pickles go through the same restricted reader as weights, and
//! every tensor through the same view and budget checks.

use std::collections::HashMap;
use std::rc::Rc;

use candle_core::{DType, Tensor};

use super::code::ScriptCode;
use super::entries::Entries;
use super::pickle::{unpickle, Object, TensorRef, Value};
use super::view::{self, Budget, View};
use crate::limits::Limits;

/// How deeply values may nest (modules in modules, lists in lists).
const MAX_DEPTH: usize = 128;
/// How many values the module tree and constants may hold in all (a submodule shared by two
/// parents counts twice, so a tree of shared references cannot grow without bound).
const MAX_VALUES: usize = 1 << 20;

/// A value of the archive, owned and thread-safe.
#[derive(Debug, Clone)]
pub(crate) enum Obj {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A tensor on the CPU; `bool` marks a `torch.bool` tensor (held as `u8`).
    Tensor {
        tensor: Tensor,
        bool: bool,
    },
    List(Vec<Obj>),
    Tuple(Vec<Obj>),
    Dict(Vec<(Obj, Obj)>),
    /// A module or class instance: its qualified class and its attributes in order.
    Object {
        class: String,
        fields: Vec<(String, Obj)>,
    },
}

/// What a TorchScript archive holds for running it.
#[derive(Debug)]
pub(crate) struct ScriptArchive {
    /// The root module.
    pub root: Obj,
    /// `constants.pkl`'s values, `CONSTANTS.c0` first.
    pub constants: Vec<Obj>,
    /// The code files.
    pub code: ScriptCode,
}

/// Reads a TorchScript archive (`torch.jit.save`) as a program's data.
pub(crate) fn read(bytes: &[u8], limits: &Limits) -> Result<ScriptArchive, String> {
    let mut entries = Entries::open(bytes)?;
    let prefixes: Vec<String> = entries
        .names()
        .filter_map(|n| n.strip_suffix("data.pkl"))
        .filter(|p| p.is_empty() || (p.ends_with('/') && p.matches('/').count() == 1))
        .map(str::to_string)
        .collect();
    let [prefix] = &prefixes[..] else {
        return Err(if prefixes.is_empty() {
            "not a TorchScript archive: it has no data.pkl".into()
        } else {
            "the archive holds more than one data.pkl".into()
        });
    };
    let code_dir = format!("{prefix}code/");
    if !entries.names().any(|n| n.starts_with(&code_dir)) {
        return Err(
            "not a TorchScript archive (torch.jit.save): it has no code/ folder, so it holds \
             weights only (a torch.save file)"
                .into(),
        );
    }
    let byteorder = format!("{prefix}byteorder");
    if entries.contains(&byteorder) {
        super::check_byteorder(&entries.read(&byteorder)?)?;
    }
    let mut reader = Reader {
        budget: Budget::new(limits, entries.file_len()),
        values_left: MAX_VALUES,
        built: HashMap::new(),
        path: Vec::new(),
    };
    let pkl = entries.read(&format!("{prefix}data.pkl"))?;
    let unpickled = unpickle(&pkl).map_err(|e| format!("{prefix}data.pkl: {e}"))?;
    let root = reader.obj(&mut entries, &format!("{prefix}data/"), &unpickled.root, 0)?;
    let Obj::Object { class, .. } = &root else {
        return Err("data.pkl does not hold a TorchScript module".into());
    };
    let class = class.clone();
    let constants_pkl = format!("{prefix}constants.pkl");
    let constants = if entries.contains(&constants_pkl) {
        let pkl = entries.read(&constants_pkl)?;
        let unpickled = unpickle(&pkl).map_err(|e| format!("{constants_pkl}: {e}"))?;
        match reader.obj(
            &mut entries,
            &format!("{prefix}constants/"),
            &unpickled.root,
            0,
        )? {
            Obj::Tuple(items) | Obj::List(items) => items,
            _ => return Err(format!("{constants_pkl} does not hold a tuple")),
        }
    } else {
        Vec::new()
    };
    let code = ScriptCode::read(&mut entries, prefix, &class, Default::default())?;
    Ok(ScriptArchive {
        root,
        constants,
        code,
    })
}

/// Turns pickled values into [`Obj`]s, building each tensor once.
struct Reader {
    budget: Budget,
    values_left: usize,
    built: HashMap<*const TensorRef, Obj>,
    /// The objects being built, to refuse one inside itself.
    path: Vec<*const std::cell::RefCell<Object>>,
}

impl Reader {
    fn obj(
        &mut self,
        entries: &mut Entries,
        storages: &str,
        v: &Value,
        depth: usize,
    ) -> Result<Obj, String> {
        if depth > MAX_DEPTH {
            return Err(format!("values nest deeper than {MAX_DEPTH}"));
        }
        self.values_left = self
            .values_left
            .checked_sub(1)
            .ok_or_else(|| format!("the module tree holds over {MAX_VALUES} values"))?;
        let mut all = |items: &[Value], me: &mut Self| -> Result<Vec<Obj>, String> {
            items
                .iter()
                .map(|i| me.obj(entries, storages, i, depth + 1))
                .collect()
        };
        Ok(match v {
            Value::None => Obj::None,
            Value::Bool(b) => Obj::Bool(*b),
            Value::Int(n) => Obj::Int(*n),
            Value::Float(x) => Obj::Float(*x),
            Value::Str(s) => Obj::Str(s.to_string()),
            Value::Tuple(items) => Obj::Tuple(all(items, self)?),
            Value::List(items) => {
                let items = items.borrow().clone();
                Obj::List(all(&items, self)?)
            }
            Value::Dict(items) => {
                let items = items.borrow().clone();
                let mut out = Vec::with_capacity(items.len());
                for (k, v) in &items {
                    let k = self.obj(entries, storages, k, depth + 1)?;
                    let v = self.obj(entries, storages, v, depth + 1)?;
                    out.push((k, v));
                }
                Obj::Dict(out)
            }
            Value::Object(o) => {
                let ptr = Rc::as_ptr(o);
                if self.path.contains(&ptr) {
                    return Err("an object holds itself: the module tree has a cycle".into());
                }
                let (class, state) = {
                    let o = o.borrow();
                    (o.class.to_string(), o.state.clone())
                };
                self.path.push(ptr);
                let fields = match &state {
                    None => Vec::new(),
                    Some(Value::Dict(d)) => {
                        let items = d.borrow().clone();
                        let mut fields = Vec::with_capacity(items.len());
                        for (k, v) in &items {
                            let Value::Str(name) = k else {
                                return Err(format!(
                                    "an attribute name of a `{class}` is a {}",
                                    k.type_name()
                                ));
                            };
                            let v = self.obj(entries, storages, v, depth + 1)?;
                            fields.push((name.to_string(), v));
                        }
                        fields
                    }
                    Some(other) => {
                        return Err(format!(
                            "a `{class}` has a {} for its state, not an attribute dict \
                             (classes with __getstate__ are not read)",
                            other.type_name()
                        ))
                    }
                };
                self.path.pop();
                Obj::Object { class, fields }
            }
            Value::Tensor(r) => {
                if let Some(t) = self.built.get(&Rc::as_ptr(r)) {
                    return Ok(t.clone());
                }
                let t = self.tensor(entries, storages, r)?;
                self.built.insert(Rc::as_ptr(r), t.clone());
                t
            }
            Value::Global(_) | Value::Storage(_) => {
                return Err(format!("a {} where a value belongs", v.type_name()))
            }
        })
    }

    fn tensor(
        &mut self,
        entries: &mut Entries,
        storages: &str,
        r: &TensorRef,
    ) -> Result<Obj, String> {
        let storage = &r.storage;
        let (dtype, bool) = storage_dtype(&storage.type_name)?;
        let elem = dtype.size_in_bytes();
        let name = format!("{storages}{}", storage.key);
        let bytes = entries.storage(&name)?;
        if storage.numel.checked_mul(elem) != Some(bytes.len()) {
            return Err(format!(
                "{name} holds {} bytes, but its {} has {} elements of {elem} bytes",
                bytes.len(),
                storage.type_name,
                storage.numel
            ));
        }
        let view = View {
            offset: r.offset,
            size: &r.size,
            stride: &r.stride,
        };
        let tensor = view::tensor(&bytes, dtype, view, &mut self.budget)
            .map_err(|e| format!("{name}: {e}"))?;
        Ok(Obj::Tensor { tensor, bool })
    }
}

/// The dtype of `torch.<Type>Storage`, and whether it holds bools.
fn storage_dtype(type_name: &str) -> Result<(DType, bool), String> {
    Ok(match type_name {
        "FloatStorage" => (DType::F32, false),
        "DoubleStorage" => (DType::F64, false),
        "HalfStorage" => (DType::F16, false),
        "BFloat16Storage" => (DType::BF16, false),
        "LongStorage" => (DType::I64, false),
        "IntStorage" => (DType::I32, false),
        "ShortStorage" => (DType::I16, false),
        "ByteStorage" => (DType::U8, false),
        "BoolStorage" => (DType::U8, true),
        other => return Err(format!("tensors stored as torch.{other} are not supported")),
    })
}
