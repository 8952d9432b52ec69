//! PyTorch's own files as weights: a `torch.save(model.state_dict(), path)` file and a
//! TorchScript archive from `torch.jit.save`.
//!
//! Both are zip archives holding `<name>/data.pkl`, a pickle, and one `<name>/data/<key>`
//! entry per storage. The pickle is read by [`pickle`], a restricted reader that rebuilds
//! tensors, dicts and TorchScript module objects and refuses anything else; no code runs. A
//! state_dict's keys are the tensor names; a TorchScript module tree is walked from the root,
//! and its tensor attributes get the same dotted names as the module's `state_dict()`
//! (`rnn.weight_ih_l0`, `linear.bias`).

mod pickle;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::{Cursor, Read};
use std::rc::Rc;

use candle_core::{DType, Device, Tensor};
use zip::ZipArchive;

use crate::limits::Limits;
use pickle::{unpickle, Object, StorageRef, TensorRef, Value};

/// How deep a TorchScript module tree may nest.
const MAX_DEPTH: usize = 64;
/// How many attributes a TorchScript module tree may hold in all (shared submodules count
/// once per path, as in `state_dict()`).
const MAX_ATTRIBUTES: usize = 1 << 20;

/// What kind of PyTorch file an archive is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Archive {
    /// `torch.save(state_dict)`.
    StateDict,
    /// `torch.jit.save(scripted)`, whose root module has this class.
    TorchScript { class: String },
}

/// Whether `bytes` start like a zip archive (what `torch.save` and `torch.jit.save` write).
pub(crate) fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// Whether `bytes` start like the pre-1.6 `torch.save` format (a bare pickle whose first value
/// is the magic number 0x1950a86a20f9469cfc6c).
pub(crate) fn is_legacy_torch_save(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20])
}

/// Reads the tensors of a PyTorch zip archive. The error is a message for [`Error::format`];
/// the tensors, however strided in the file, come back contiguous, and their total size is at
/// most `limits.max_weights_bytes`.
///
/// [`Error::format`]: crate::Error
pub(crate) fn read_archive(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(Archive, BTreeMap<String, Tensor>), String> {
    let mut zip = ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| format!("not a readable zip archive: {e}"))?;
    let prefix = data_pkl_prefix(&zip)?;
    // Archives from before PyTorch 1.10 have no byteorder entry; they are little-endian.
    let byteorder = format!("{prefix}byteorder");
    if zip.index_for_name(&byteorder).is_some() {
        let order = read_entry(&mut zip, &byteorder, bytes.len())?;
        if order != b"little" {
            return Err(format!(
                "the archive's byte order is `{}`; only little-endian archives are read",
                String::from_utf8_lossy(&order)
            ));
        }
    }
    let pkl = read_entry(&mut zip, &format!("{prefix}data.pkl"), bytes.len())?;
    let unpickled = unpickle(&pkl).map_err(|e| format!("{prefix}data.pkl: {e}"))?;
    let (archive, refs) = match &unpickled.root {
        Value::Dict(entries) => (Archive::StateDict, state_dict_tensors(&entries.borrow())?),
        Value::Object(root) => {
            let class = root.borrow().class.clone();
            let mut refs = Vec::new();
            let mut budget = MAX_ATTRIBUTES;
            module_tensors(root, "", &mut Vec::new(), &mut budget, &mut refs)?;
            (
                Archive::TorchScript {
                    class: script_class_name(&class),
                },
                refs,
            )
        }
        other => {
            return Err(format!(
                "data.pkl holds a {}, not a state_dict or a TorchScript module",
                other.type_name()
            ))
        }
    };
    let mut storages = Storages {
        zip: &mut zip,
        prefix: &prefix,
        file_len: bytes.len(),
        cache: HashMap::new(),
    };
    let mut tensors = BTreeMap::new();
    // One tensor object pickled under several names is built once.
    let mut built: HashMap<*const TensorRef, Tensor> = HashMap::new();
    let mut total: u64 = 0;
    for (name, r) in refs {
        let tensor = match built.get(&Rc::as_ptr(&r)) {
            Some(t) => t.clone(),
            None => {
                let t = storages
                    .tensor(&r, limits, &mut total)
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

/// The folder holding `data.pkl` (`archive/` in what PyTorch writes), with its slash.
fn data_pkl_prefix(zip: &ZipArchive<Cursor<&[u8]>>) -> Result<String, String> {
    let mut found = zip.file_names().filter_map(|n| {
        let n = n.ok()?;
        let prefix = n.strip_suffix("data.pkl")?;
        (prefix.is_empty() || (prefix.ends_with('/') && prefix.matches('/').count() == 1))
            .then(|| prefix.to_string())
    });
    match (found.next(), found.next()) {
        (Some(prefix), None) => Ok(prefix),
        (None, _) => Err(
            "a zip archive without data.pkl: not a file written by torch.save or torch.jit.save"
                .into(),
        ),
        (Some(_), Some(_)) => Err("the archive holds more than one data.pkl".into()),
    }
}

/// The bytes of entry `name`, checked against its declared size and CRC.
fn read_entry(
    zip: &mut ZipArchive<Cursor<&[u8]>>,
    name: &str,
    file_len: usize,
) -> Result<Vec<u8>, String> {
    let mut entry = zip.by_name(name).map_err(|e| format!("{name}: {e}"))?;
    let size = entry.size();
    if size > file_len as u64 {
        return Err(format!(
            "{name}: declares {size} bytes, more than the whole file ({file_len} bytes)"
        ));
    }
    let mut out = Vec::with_capacity(size as usize);
    // Read to the end, not just `size` bytes: the CRC is checked at the end.
    entry
        .read_to_end(&mut out)
        .map_err(|e| format!("{name}: {e}"))?;
    if out.len() as u64 != size {
        return Err(format!(
            "{name}: holds {} bytes, declares {size}",
            out.len()
        ));
    }
    Ok(out)
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

/// The tensor attributes of a TorchScript module and its submodules, named as in
/// `state_dict()`. Other attributes (flags, lists such as an LSTM's `_flat_weights`, which
/// repeats its parameters) are not weights and are skipped. `path` holds the modules above
/// this one: a module found among its own ancestors is a cycle, refused.
fn module_tensors(
    module: &Rc<RefCell<Object>>,
    prefix: &str,
    path: &mut Vec<*const RefCell<Object>>,
    budget: &mut usize,
    out: &mut Vec<(String, Rc<TensorRef>)>,
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
            Value::Tensor(t) => out.push((format!("{prefix}{name}"), t.clone())),
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

/// The archive's storages, each read once.
struct Storages<'z, 'b> {
    zip: &'z mut ZipArchive<Cursor<&'b [u8]>>,
    prefix: &'z str,
    file_len: usize,
    cache: HashMap<Rc<str>, Rc<Vec<u8>>>,
}

impl Storages<'_, '_> {
    /// Tensor `r` as a contiguous CPU tensor. `total` counts the bytes built so far.
    fn tensor(
        &mut self,
        r: &TensorRef,
        limits: &Limits,
        total: &mut u64,
    ) -> Result<Tensor, String> {
        let storage = &r.storage;
        let dtype = storage_dtype(&storage.type_name)?;
        let elem = dtype.size_in_bytes();
        let bytes = self.storage(storage, elem)?;
        let numel = r
            .size
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or("its size overflows")?;
        if numel > storage.numel {
            return Err(format!(
                "its view has {numel} elements, more than its storage's {}",
                storage.numel
            ));
        }
        *total = total.saturating_add((numel * elem) as u64);
        // Views may overlap (two names for one storage), but a small file must not expand
        // into a huge allocation: all tensors together may be at most twice the file.
        let cap = limits.max_weights_bytes.min(2 * self.file_len as u64);
        if *total > cap {
            return Err(format!(
                "the tensors add up to more than {cap} bytes (twice the file, or \
                 max_weights_bytes if smaller)"
            ));
        }
        let data = view_bytes(&bytes, elem, storage.numel, r)?;
        Tensor::from_raw_buffer(&data, dtype, &r.size, &Device::Cpu).map_err(|e| e.to_string())
    }

    /// The bytes of `data/<key>`, which must hold exactly `numel` elements of `elem` bytes.
    fn storage(&mut self, storage: &StorageRef, elem: usize) -> Result<Rc<Vec<u8>>, String> {
        if let Some(bytes) = self.cache.get(&storage.key) {
            return Ok(bytes.clone());
        }
        let name = format!("{}data/{}", self.prefix, storage.key);
        let bytes = read_entry(self.zip, &name, self.file_len)?;
        let want = storage.numel.checked_mul(elem);
        if want != Some(bytes.len()) {
            return Err(format!(
                "{name} holds {} bytes, but its {} has {} elements of {elem} bytes",
                bytes.len(),
                storage.type_name,
                storage.numel
            ));
        }
        let bytes = Rc::new(bytes);
        self.cache.insert(storage.key.clone(), bytes.clone());
        Ok(bytes)
    }
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

/// The elements of view `r` of a storage, in C order, as bytes. Every element the view can
/// address is checked to lie inside the storage.
fn view_bytes(storage: &[u8], elem: usize, numel: usize, r: &TensorRef) -> Result<Vec<u8>, String> {
    if r.size.contains(&0) {
        return Ok(Vec::new());
    }
    let last = r
        .size
        .iter()
        .zip(&r.stride)
        .try_fold(r.offset, |acc, (&n, &s)| {
            acc.checked_add((n - 1).checked_mul(s)?)
        })
        .filter(|&last| last < numel)
        .ok_or_else(|| {
            format!(
                "its view (offset {}, size {:?}, stride {:?}) reaches past its storage of {numel} \
                 elements",
                r.offset, r.size, r.stride
            )
        })?;
    let contiguous = {
        let mut expect = 1;
        let mut ok = true;
        for (&n, &s) in r.size.iter().zip(&r.stride).rev() {
            ok &= n == 1 || s == expect;
            expect *= n;
        }
        ok
    };
    if contiguous {
        return Ok(storage[r.offset * elem..(last + 1) * elem].to_vec());
    }
    // A general strided view: walk its indices in C order.
    let count: usize = r.size.iter().product();
    let mut out = Vec::with_capacity(count * elem);
    let mut index = vec![0usize; r.size.len()];
    for _ in 0..count {
        let at = r.offset
            + index
                .iter()
                .zip(&r.stride)
                .map(|(i, s)| i * s)
                .sum::<usize>();
        out.extend_from_slice(&storage[at * elem..(at + 1) * elem]);
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < r.size[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(out)
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
