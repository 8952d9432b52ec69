//! `torch.save(model.state_dict(), path)` files and TorchScript archives (`torch.jit.save`).
//!
//! Both hold `<name>/data.pkl`, a pickle, and one `<name>/data/<key>` entry per storage. The
//! pickle is read by [`pickle`](super::pickle), a restricted reader that rebuilds tensors, dicts
//! and TorchScript module objects and refuses anything else; no code runs. A state_dict's keys
//! are the tensor names; a TorchScript module tree is walked from the root, and its tensor
//! attributes get the same dotted names as the module's `state_dict()` (`rnn.weight_ih_l0`,
//! `linear.bias`).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use candle_core::{DType, Tensor};

use super::code::ScriptCode;
use super::entries::Entries;
use super::pickle::{unpickle, Object, TensorRef, Value};
use super::view::{self, Budget, View};
use super::Archive;
use crate::limits::Limits;

/// How deep a TorchScript module tree may nest.
const MAX_DEPTH: usize = 64;
/// How many attributes a TorchScript module tree may hold in all (shared submodules count
/// once per path, as in `state_dict()`).
const MAX_ATTRIBUTES: usize = 1 << 20;

/// Reads the tensors of a `torch.save` or `torch.jit.save` archive whose pickle is
/// `<prefix>data.pkl`.
pub(crate) fn read(
    entries: &mut Entries,
    prefix: &str,
    limits: &Limits,
) -> Result<(Archive, BTreeMap<String, Tensor>), String> {
    // Archives from before PyTorch 1.10 have no byteorder entry; they are little-endian.
    let byteorder = format!("{prefix}byteorder");
    if entries.contains(&byteorder) {
        super::check_byteorder(&entries.read(&byteorder)?)?;
    }
    let pkl = entries.read(&format!("{prefix}data.pkl"))?;
    let unpickled = unpickle(&pkl).map_err(|e| format!("{prefix}data.pkl: {e}"))?;
    let (archive, refs) = match &unpickled.root {
        Value::Dict(entries) => (Archive::StateDict, state_dict_tensors(&entries.borrow())?),
        Value::Object(root) => {
            let class = root.borrow().class.clone();
            let mut found = Found::default();
            let mut budget = MAX_ATTRIBUTES;
            module_tensors(root, "", &mut Vec::new(), &mut budget, &mut found)?;
            let code = ScriptCode::read(entries, prefix, &class, found.training)?;
            (
                Archive::TorchScript {
                    class: script_class_name(&class),
                    code,
                },
                found.tensors,
            )
        }
        other => {
            return Err(format!(
                "data.pkl holds a {}, not a state_dict or a TorchScript module",
                other.type_name()
            ))
        }
    };
    let mut budget = Budget::new(limits, entries.file_len());
    let mut tensors = BTreeMap::new();
    // One tensor object pickled under several names is built once.
    let mut built: HashMap<*const TensorRef, Tensor> = HashMap::new();
    for (name, r) in refs {
        let tensor = match built.get(&Rc::as_ptr(&r)) {
            Some(t) => t.clone(),
            None => {
                let t = tensor(entries, prefix, &r, &mut budget)
                    .map_err(|e| format!("tensor `{name}`: {e}"))?;
                built.insert(Rc::as_ptr(&r), t.clone());
                t
            }
        };
        if tensors.insert(name.clone(), tensor).is_some() {
            return Err(format!("tensor `{name}` appears twice"));
        }
    }
    Ok((archive, tensors))
}

/// The entries of a state_dict: every key a string, every value a tensor.
fn state_dict_tensors(entries: &[(Value, Value)]) -> Result<Vec<(String, Rc<TensorRef>)>, String> {
    entries
        .iter()
        .map(|(k, v)| {
            let Value::Str(name) = k else {
                return Err(format!(
                    "a state_dict key is a {}, not a string",
                    k.type_name()
                ));
            };
            match v {
                Value::Tensor(t) => Ok((name.to_string(), t.clone())),
                other => Err(format!(
                    "entry `{name}` is a {}, not a tensor: save `model.state_dict()` itself, \
                     not a checkpoint dict holding it",
                    other.type_name()
                )),
            }
        })
        .collect()
}
/// What a TorchScript module tree holds that scriptless reads.
#[derive(Default)]
struct Found {
    /// The tensors, named as in `state_dict()`.
    tensors: Vec<(String, Rc<TensorRef>)>,
    /// Each module's `training` flag, by its path (`""` for the root).
    training: BTreeMap<String, bool>,
}

/// The tensor attributes of a TorchScript module and its submodules, named as in
/// `state_dict()`, and each module's `training` flag. Other attributes (flags, lists such as an
/// LSTM's `_flat_weights`, which repeats its parameters) are not weights and are skipped.
/// `path` holds the modules above this one: a module found among its own ancestors is a
/// cycle, refused.
fn module_tensors(
    module: &Rc<RefCell<Object>>,
    prefix: &str,
    path: &mut Vec<*const RefCell<Object>>,
    budget: &mut usize,
    out: &mut Found,
) -> Result<(), String> {
    let attributes = match &module.borrow().state {
        Some(Value::Dict(d)) => d.clone(),
        None => return Ok(()),
        Some(other) => {
            return Err(format!(
                "module `{}` has a {} for its attributes, not a dict",
                prefix.trim_end_matches('.'),
                other.type_name()
            ))
        }
    };
    path.push(Rc::as_ptr(module));
    for (k, v) in attributes.borrow().iter() {
        *budget = budget
            .checked_sub(1)
            .ok_or_else(|| format!("the module tree has over {MAX_ATTRIBUTES} attributes"))?;
        let Value::Str(name) = k else {
            return Err(format!("an attribute name is a {}", k.type_name()));
        };
        match v {
            Value::Tensor(t) => out.tensors.push((format!("{prefix}{name}"), t.clone())),
            Value::Bool(training) if &**name == "training" => {
                out.training
                    .insert(prefix.trim_end_matches('.').to_string(), *training);
            }
            Value::Object(sub) => {
                if path.contains(&Rc::as_ptr(sub)) {
                    return Err(format!(
                        "module `{prefix}{name}` is its own ancestor: the module tree has a cycle"
                    ));
                }
                if path.len() >= MAX_DEPTH {
                    return Err(format!("the module tree is deeper than {MAX_DEPTH}"));
                }
                module_tensors(sub, &format!("{prefix}{name}."), path, budget, out)?;
            }
            _ => {}
        }
    }
    path.pop();
    Ok(())
}

/// `__torch__.export.___torch_mangle_3.GeneralSequence` → `export.GeneralSequence`.
fn script_class_name(class: &str) -> String {
    class
        .split('.')
        .filter(|s| *s != "__torch__" && !s.starts_with("___torch_mangle_"))
        .collect::<Vec<_>>()
        .join(".")
}

/// Tensor `r` as a contiguous CPU tensor, its storage the entry `<prefix>data/<key>`, which must
/// hold exactly the storage's elements.
fn tensor(
    entries: &mut Entries,
    prefix: &str,
    r: &TensorRef,
    budget: &mut Budget,
) -> Result<Tensor, String> {
    let storage = &r.storage;
    let dtype = storage_dtype(&storage.type_name)?;
    let elem = dtype.size_in_bytes();
    let name = format!("{prefix}data/{}", storage.key);
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
    view::tensor(&bytes, dtype, view, budget)
}

/// The dtype of `torch.<Type>Storage`; weights are floating point.
fn storage_dtype(type_name: &str) -> Result<DType, String> {
    Ok(match type_name {
        "FloatStorage" => DType::F32,
        "DoubleStorage" => DType::F64,
        "HalfStorage" => DType::F16,
        "BFloat16Storage" => DType::BF16,
        other => {
            return Err(format!(
                "is stored as torch.{other}; weights must be float16, bfloat16, float32 or \
                 float64"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mangled_class_names_are_cleaned() {
        assert_eq!(
            script_class_name("__torch__.export.___torch_mangle_3.GeneralSequence"),
            "export.GeneralSequence"
        );
        assert_eq!(script_class_name("__torch__.M"), "M");
    }
}
