//! [`Program`]: a TorchScript archive loaded to run by its own code, and its [`Signature`].

use std::collections::BTreeSet;
use std::path::Path;

use candle_core::{DType, Device};

use super::ast::{Function, Type};
use super::code::Code;
use super::interp::{Budget, Interp};
use super::value::{from_obj, to_runtime, Value};
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::ops::{Ctx, Registry};
use crate::pytorch::script_archive::{self, Obj};

/// The most statements and loop turns one call may run, unless [`Options::max_steps`] says
/// otherwise: far more than any real model's call, few enough that a `while True:` stops in
/// about a minute.
pub const DEFAULT_MAX_STEPS: u64 = 100_000_000;
/// The deepest calls may nest, unless [`Options::max_depth`] says otherwise. TorchScript has no
/// recursion: real models nest as deep as their module tree, a few dozen at most.
pub const DEFAULT_MAX_DEPTH: usize = 200;

/// The stack a call runs on: deep enough for [`DEFAULT_MAX_DEPTH`] calls of the deepest code
/// the parser accepts.
const STACK_BYTES: usize = 256 << 20;

/// How a program is loaded and run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where tensors live. Default: the CPU.
    pub device: Device,
    /// The floating-point type parameters, buffers and float inputs are converted to, as
    /// PyTorch's `model.to(dtype)`; `None` keeps the archive's. Types the code names stay.
    pub dtype: Option<DType>,
    /// The limits on what loading reads and a call allocates.
    pub limits: Limits,
    /// The most statements and loop turns one call runs ([`DEFAULT_MAX_STEPS`]).
    pub max_steps: u64,
    /// The deepest calls nest ([`DEFAULT_MAX_DEPTH`]).
    pub max_depth: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            dtype: None,
            limits: Limits::default(),
            max_steps: DEFAULT_MAX_STEPS,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

/// One argument of `forward`.
#[derive(Debug, Clone)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// Its type as the code writes it (`Tensor`, `List[Tensor]`, `Optional[int]`).
    pub ty: Type,
    /// Whether it has a default (and may be left out).
    pub has_default: bool,
}

/// What `forward` takes and returns.
#[derive(Debug, Clone)]
pub struct Signature {
    /// Its arguments after `self`.
    pub params: Vec<Param>,
    /// Its return type, where the code writes one.
    pub returns: Option<Type>,
}

/// A TorchScript module loaded to run by its own code: its classes and functions parsed, its
/// module tree and constants with every tensor on the device. Loaded once, called from any
/// number of threads: each call builds its own objects, so attributes a call writes are its
/// own.
#[derive(Debug)]
pub struct Program {
    code: Code,
    root: Obj,
    constants: Vec<Obj>,
    root_class: String,
    signature: Signature,
    options: Options,
    notice: Option<String>,
    operators: Vec<Operator>,
    refusal: Option<String>,
}

/// An operator the code names, for `inspect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// Its name (`aten::linear`, `prim::min`).
    pub name: String,
    /// Whether the registry has it.
    pub supported: bool,
    /// Whether a call of it can run: false where every call sits on a branch that constants
    /// known at load rule out.
    pub reached: bool,
}

impl Program {
    /// Loads a TorchScript archive (`torch.jit.save`) with the default [`Options`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::load_with(path, &Options::default())
    }

    /// Loads a TorchScript archive with `options`.
    pub fn load_with(path: impl AsRef<Path>, options: &Options) -> Result<Self> {
        let (bytes, what) = read_archive(path.as_ref(), options)?;
        Self::from_bytes(&bytes, &what, options)
    }

    /// Loads a TorchScript archive from its bytes; `what` names it in errors. An archive whose
    /// code can reach an operator scriptless does not support is refused, naming the operator
    /// and the line.
    pub fn from_bytes(bytes: &[u8], what: &str, options: &Options) -> Result<Self> {
        let program = Self::inspect_bytes(bytes, what, options)?;
        match &program.refusal {
            Some(refusal) => Err(Error::Script(refusal.clone())),
            None => Ok(program),
        }
    }

    /// Loads a TorchScript archive to list what it holds and needs ([`signature`],
    /// [`modules`], [`operators`]) even when it cannot run; [`refusal`] says why not, and
    /// [`forward`] refuses it.
    ///
    /// [`signature`]: Self::signature
    /// [`modules`]: Self::modules
    /// [`operators`]: Self::operators
    /// [`refusal`]: Self::refusal
    /// [`forward`]: Self::forward
    pub fn inspect(path: impl AsRef<Path>, options: &Options) -> Result<Self> {
        let (bytes, what) = read_archive(path.as_ref(), options)?;
        Self::inspect_bytes(&bytes, &what, options)
    }

    fn inspect_bytes(bytes: &[u8], what: &str, options: &Options) -> Result<Self> {
        let archive =
            script_archive::read(bytes, &options.limits).map_err(|m| Error::format(what, m))?;
        if let Some(unread) = archive.code.unread() {
            return Err(Error::format(what, unread));
        }
        let code = Code::parse(archive.code.files().iter())?;
        let Obj::Object { class, .. } = &archive.root else {
            return Err(Error::format(what, "data.pkl does not hold a module"));
        };
        let root_class = class.clone();
        let (forward, _) = code.method(&root_class, "forward").ok_or_else(|| {
            Error::Script(format!(
                "{root_class} has no forward method in the archive's code"
            ))
        })?;
        let signature = signature_of(forward);
        let mut trained = Vec::new();
        let root = prepare(archive.root, options, "", &mut trained)?;
        let constants = archive
            .constants
            .into_iter()
            .map(|c| move_tensors(c, options))
            .collect::<Result<Vec<_>>>()?;
        let notice = (!trained.is_empty()).then(|| {
            format!(
                "the archive was saved in training mode ({} modules); it runs as after \
                 model.eval()",
                trained.len()
            )
        });
        let reach = super::check::reach(&code, &root, &root_class);
        let refusal = super::check::unsupported(&reach);
        let operators = operators_of(&code, &reach);
        Ok(Self {
            code,
            root,
            constants,
            root_class,
            signature,
            options: options.clone(),
            notice,
            operators,
            refusal,
        })
    }

    /// What `forward` takes and returns.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The root module's class (`__torch__.Model`).
    pub fn class(&self) -> &str {
        &self.root_class
    }

    /// A one-line notice about how the archive was saved, if one is due (saved in training
    /// mode).
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// Every operator the code names (`aten::linear`), with whether scriptless supports it and
    /// whether it can be reached. A program loads only when every reachable one is supported.
    pub fn operators(&self) -> &[Operator] {
        &self.operators
    }

    /// The module tree: each module's path (`""` for the root, `rnn`, `layers.0`) and class.
    pub fn modules(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        walk_modules(&self.root, "", &mut out);
        out
    }

    /// Why it cannot run, for a program loaded by [`inspect`](Self::inspect): the first
    /// unsupported operator its code can reach, and where.
    pub fn refusal(&self) -> Option<&str> {
        self.refusal.as_deref()
    }

    /// The options it was loaded with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Runs `forward` on `args`, named as in its [`Signature`] (arguments with defaults may be
    /// left out). Each argument is checked against its type; the result mirrors what `forward`
    /// returns.
    pub fn forward(&self, args: Vec<(String, Value)>) -> Result<Value> {
        if let Some(refusal) = &self.refusal {
            return Err(Error::Script(refusal.clone()));
        }
        let args = super::value::check_args(&self.signature, args, &self.options)?;
        // Deeply nested code recurses deeply: run on a stack sized for the limits. Where no
        // thread can be made (WebAssembly), run here.
        let run = || self.run(&args);
        std::thread::scope(|s| {
            match std::thread::Builder::new()
                .name("scriptless-forward".into())
                .stack_size(STACK_BYTES)
                .spawn_scoped(s, run)
            {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|_| Err(Error::Script("the interpreter panicked".into()))),
                Err(_) => self.run(&args),
            }
        })
    }

    fn run(&self, args: &[(String, Value)]) -> Result<Value> {
        let cx = Ctx {
            limits: &self.options.limits,
            device: &self.options.device,
        };
        let constants = self.constants.iter().map(to_runtime_obj).collect();
        let mut interp = Interp::new(
            &self.code,
            constants,
            cx,
            Budget {
                steps: self.options.max_steps,
                depth: self.options.max_depth,
            },
        );
        let root = to_runtime_obj(&self.root);
        let (forward, file) = self
            .code
            .method(&self.root_class, "forward")
            .ok_or_else(|| Error::Script("the root module has no forward".into()))?;
        let named = args
            .iter()
            .map(|(n, v)| (n.clone(), to_runtime(v)))
            .collect();
        let out = interp.call_function(forward, file, vec![root], named)?;
        from_obj_runtime(out)
    }
}

fn to_runtime_obj(o: &Obj) -> crate::ops::Value {
    super::value::obj_to_runtime(o)
}

fn from_obj_runtime(v: crate::ops::Value) -> Result<Value> {
    from_obj(v)
}

/// The file's bytes, within `max_weights_bytes`, and its name for errors.
fn read_archive(path: &Path, options: &Options) -> Result<(Vec<u8>, String)> {
    let what = format!("weights file {}", path.display());
    let mut source = crate::source::Source::open(
        path,
        what.clone(),
        options.limits.max_weights_bytes,
        "max_weights_bytes",
    )?;
    Ok((source.read_to_end()?, what))
}

/// `forward`'s signature, `self` left out.
fn signature_of(forward: &Function) -> Signature {
    Signature {
        params: forward
            .params
            .iter()
            .skip(1)
            .map(|p| Param {
                name: p.name.clone(),
                ty: p.ty.clone().unwrap_or(Type {
                    name: "Tensor".into(),
                    args: Vec::new(),
                }),
                has_default: p.default.is_some(),
            })
            .collect(),
        returns: forward.returns.clone(),
    }
}

/// The tree with tensors on the device and floats converted, every `training` flag False
/// (each module that had it True listed in `trained`).
fn prepare(o: Obj, options: &Options, path: &str, trained: &mut Vec<String>) -> Result<Obj> {
    Ok(match o {
        Obj::Object { class, fields } => {
            let mut out = Vec::with_capacity(fields.len());
            for (name, v) in fields {
                let v = match v {
                    Obj::Bool(true) if name == "training" => {
                        trained.push(path.to_string());
                        Obj::Bool(false)
                    }
                    Obj::Object { .. } => {
                        let sub = if path.is_empty() {
                            name.clone()
                        } else {
                            format!("{path}.{name}")
                        };
                        prepare(v, options, &sub, trained)?
                    }
                    other => move_tensors(other, options)?,
                };
                out.push((name, v));
            }
            Obj::Object { class, fields: out }
        }
        other => move_tensors(other, options)?,
    })
}

/// `o` with every tensor on the device, float tensors in the options' dtype.
fn move_tensors(o: Obj, options: &Options) -> Result<Obj> {
    Ok(match o {
        Obj::Tensor { tensor, bool } => {
            let tensor = match options.dtype {
                Some(dtype) if tensor.dtype().is_float() => tensor.to_dtype(dtype)?,
                _ => tensor,
            };
            Obj::Tensor {
                tensor: tensor.to_device(&options.device)?,
                bool,
            }
        }
        Obj::List(items) => Obj::List(
            items
                .into_iter()
                .map(|i| move_tensors(i, options))
                .collect::<Result<_>>()?,
        ),
        Obj::Tuple(items) => Obj::Tuple(
            items
                .into_iter()
                .map(|i| move_tensors(i, options))
                .collect::<Result<_>>()?,
        ),
        Obj::Dict(items) => Obj::Dict(
            items
                .into_iter()
                .map(|(k, v)| Ok((k, move_tensors(v, options)?)))
                .collect::<Result<_>>()?,
        ),
        Obj::Object { class, fields } => Obj::Object {
            class,
            fields: fields
                .into_iter()
                .map(|(k, v)| Ok((k, move_tensors(v, options)?)))
                .collect::<Result<_>>()?,
        },
        other => other,
    })
}

fn walk_modules(o: &Obj, path: &str, out: &mut Vec<(String, String)>) {
    if let Obj::Object { class, fields } = o {
        out.push((path.to_string(), class.clone()));
        for (name, v) in fields {
            if matches!(v, Obj::Object { .. }) {
                let sub = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                walk_modules(v, &sub, out);
            }
        }
    }
}

/// Every operator the code calls by name, sorted, with whether the registry has it and
/// whether it can be reached.
fn operators_of(code: &Code, reach: &super::check::Reach) -> Vec<Operator> {
    let mut names = BTreeSet::new();
    let functions = code
        .functions
        .values()
        .map(|f| &f.item)
        .chain(code.classes.values().flat_map(|c| c.item.methods.iter()));
    for f in functions {
        super::walk::calls(&f.body, &mut |path| {
            if let Some(op) = super::calls::operator_name(path) {
                if !super::walk::is_builtin(path) {
                    names.insert(op);
                }
            }
        });
    }
    let registry = Registry::get();
    names
        .into_iter()
        .map(|name| Operator {
            supported: registry.has(&name),
            reached: reach.reached.contains_key(&name),
            name,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_program_is_shared_between_threads() {
        fn is<T: Send + Sync>() {}
        is::<super::Program>();
    }
}
