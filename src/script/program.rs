//! [`Program`]: a user's model loaded to run by its own code (a TorchScript archive's code or a
//! `torch.export` archive's graph), and its [`Signature`].

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use rustc_hash::FxHashSet;

use candle_core::{DType, Device};

use super::ast::{Function, Type};
use super::code::Code;
use super::graph::{self, Expr, Graph, Leaf};
use super::interp::{Budget, Interp};
use super::trace::{Key, Plan, Recorder, Trace, Traces};
use super::value::{from_obj, to_runtime, Value};
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::ops::Constants;
use crate::ops::{Ctx, Registry, ScalarType};
use crate::pytorch::export as export_archive;
use crate::pytorch::script_archive::{self, Obj};

/// The most statements and loop turns one call may run, unless [`Options::max_steps`] says
/// otherwise: far more than any real model's call, few enough that a `while True:` stops in
/// about a minute.
pub const DEFAULT_MAX_STEPS: u64 = 100_000_000;
/// The deepest calls may nest, unless [`Options::max_depth`] says otherwise. TorchScript has no
/// recursion: real models nest as deep as their module tree, a few dozen at most.
pub const DEFAULT_MAX_DEPTH: usize = 200;

/// How a program is loaded and run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where tensors live. Default: the CPU.
    pub device: Device,
    /// The floating-point type parameters, buffers and float inputs are converted to, as
    /// PyTorch's `model.to(dtype)`; `None` keeps the archive's. Types the code names stay.
    /// A `.pt2` program's graph fixes its dtypes: it loads only with `None` or the dtype it
    /// was exported in.
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
    /// Its default where the code writes a literal (`3`, `None`, `"mean"`, `[1, 2]`).
    pub default: Option<Value>,
    /// A `.pt2` program's baked value of a scalar argument: `torch.export` specialises `int`,
    /// `float` and `bool` arguments into the graph. It may be left out; given, it must equal
    /// this.
    pub baked: Option<Value>,
    /// A `.pt2` program's declared tensors for this argument, in order (one for a `Tensor`, one
    /// per item of a `List[Tensor]`); empty for a TorchScript program, which declares none.
    pub tensors: Vec<TensorSpec>,
}

/// A tensor argument as a `.pt2` program declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    /// Its dtype: a tensor of another dtype is converted where that is exact, else refused.
    pub dtype: ScalarType,
    /// Its sizes.
    pub dims: Vec<Dim>,
}

/// One size of a [`TensorSpec`].
#[derive(Debug, Clone, PartialEq)]
pub enum Dim {
    /// Fixed when the program was exported.
    Static(usize),
    /// Dynamic: any size in `min..=max` (`max` `None`: no upper bound), the same wherever the
    /// symbol appears (`s77`; the archive keeps PyTorch's symbol, not the user's `Dim` name).
    Dynamic {
        /// The symbol.
        symbol: String,
        /// The least size.
        min: i64,
        /// The greatest size, if bounded.
        max: Option<i64>,
    },
    /// Computed from other sizes (`2*s77`).
    Derived(String),
}

/// Where a [`Program`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramKind {
    /// A TorchScript archive (`torch.jit.save`): its code is interpreted.
    TorchScript,
    /// A `torch.export` archive (`.pt2`): its graph is run.
    Export,
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
    body: Body,
    signature: Signature,
    options: Options,
    notice: Option<String>,
    operators: Vec<Operator>,
    refusal: Option<String>,
    /// Its parameters, buffers and constants, and what operators prepared from them.
    constants: Constants,
}

/// What runs a program.
#[derive(Debug)]
enum Body {
    Script(Script),
    Graph(Graph),
}

/// A TorchScript program: its code, module tree and constants.
#[derive(Debug)]
struct Script {
    code: Code,
    root: Obj,
    constants: Vec<Obj>,
    root_class: String,
    /// Its tensors (parameters, buffers, constants), which a trace may use.
    known: Arc<FxHashSet<candle_core::TensorId>>,
    /// Its calls recorded, by their arguments' key.
    traces: Traces,
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
    /// Loads a TorchScript (`torch.jit.save`) or `torch.export` (`.pt2`) archive with the
    /// default [`Options`]; which one it is follows from its entries, whatever its name.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::load_with(path, &Options::default())
    }

    /// Loads a TorchScript or `torch.export` archive with `options`.
    pub fn load_with(path: impl AsRef<Path>, options: &Options) -> Result<Self> {
        let (bytes, what) = read_archive(path.as_ref(), options)?;
        Self::from_bytes(&bytes, &what, options)
    }

    /// Loads a TorchScript or `torch.export` archive from its bytes; `what` names it in errors.
    /// An archive whose code can reach an operator scriptless does not support is refused,
    /// naming the operator and the line (the node, in a graph).
    pub fn from_bytes(bytes: &[u8], what: &str, options: &Options) -> Result<Self> {
        let program = Self::inspect_bytes(bytes, what, options)?;
        match &program.refusal {
            Some(refusal) => Err(Error::Unsupported(refusal.clone())),
            None => Ok(program),
        }
    }

    /// Loads an archive to list what it holds and needs ([`signature`],
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
        if crate::pytorch::is_export_archive(bytes) {
            Self::inspect_graph(bytes, what, options)
        } else {
            Self::inspect_script(bytes, what, options)
        }
    }

    fn inspect_script(bytes: &[u8], what: &str, options: &Options) -> Result<Self> {
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
        let mut held = Vec::new();
        for o in std::iter::once(&root).chain(&constants) {
            obj_tensors(o, &mut held);
        }
        let known = Arc::new(held.iter().map(|t| t.id()).collect());
        Ok(Self {
            constants: Constants::new(held),
            body: Body::Script(Script {
                code,
                root,
                constants,
                root_class,
                known,
                traces: Traces::default(),
            }),
            signature,
            options: options.clone(),
            notice,
            operators,
            refusal,
        })
    }

    fn inspect_graph(bytes: &[u8], what: &str, options: &Options) -> Result<Self> {
        let archive = export_archive::read_program(bytes, &options.limits)
            .map_err(|m| Error::format(what, m))?;
        let program_path = format!("models/{}.json", archive.name);
        check_graph_dtype(&archive.tensors, options)?;
        let tensors = archive
            .tensors
            .into_iter()
            .map(|(k, (t, bool))| {
                let t = t.to_device(&options.device)?;
                let t = if bool {
                    crate::ops::Tensor::from_mask(t)
                } else {
                    crate::ops::Tensor::new(t)
                };
                Ok((k, t?))
            })
            .collect::<Result<_>>()?;
        let graph = Graph::load(&archive.name, &archive.json, &tensors)
            .map_err(|m| Error::format(what, format!("{program_path}: {m}")))?;
        let signature = graph_signature(&graph);
        if let Some(dtype) = options.dtype {
            for p in &signature.params {
                for t in &p.tensors {
                    if t.dtype.is_float() && t.dtype.candle() != dtype {
                        return Err(graph_dtype_refusal(dtype, t.dtype.candle()));
                    }
                }
            }
        }
        let operators = graph
            .operators
            .iter()
            .map(|(name, supported)| Operator {
                name: name.clone(),
                supported: *supported,
                reached: true,
            })
            .collect();
        Ok(Self {
            constants: Constants::new(graph.stored_tensors()),
            refusal: graph.refusal.clone(),
            body: Body::Graph(graph),
            signature,
            options: options.clone(),
            notice: None,
            operators,
        })
    }

    /// What `forward` takes and returns.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The root module's class (`__torch__.Model`); a `.pt2` program's name (`model`).
    pub fn class(&self) -> &str {
        match &self.body {
            Body::Script(s) => &s.root_class,
            Body::Graph(g) => &g.name,
        }
    }

    /// Which kind of archive it came from.
    pub fn kind(&self) -> ProgramKind {
        match &self.body {
            Body::Script(_) => ProgramKind::TorchScript,
            Body::Graph(_) => ProgramKind::Export,
        }
    }

    /// The PyTorch that exported a `.pt2` program, where it says (`2.15.0+cu132`).
    pub fn torch_version(&self) -> Option<&str> {
        match &self.body {
            Body::Script(_) => None,
            Body::Graph(g) => g.torch_version.as_deref(),
        }
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

    /// The module tree: each module's path (`""` for the root, `rnn`, `layers.0`) and class;
    /// empty for a `.pt2` program, whose graph keeps no modules.
    pub fn modules(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Body::Script(s) = &self.body {
            walk_modules(&s.root, "", &mut out);
        }
        out
    }

    /// Why it cannot run, for a program loaded by [`inspect`](Self::inspect): the first
    /// unsupported operator its code can reach, and where.
    pub fn refusal(&self) -> Option<&str> {
        self.refusal.as_deref()
    }

    /// How many argument keys (the tensors' types and shapes, the other arguments' values)
    /// have a trace: a call like an earlier one replays the operators that call made instead
    /// of interpreting the code again (see the guide's performance page). Always 0 for a
    /// `.pt2` graph, which runs as a plan already.
    pub fn traced_keys(&self) -> usize {
        match &self.body {
            Body::Script(s) => s.traces.len(),
            Body::Graph(_) => 0,
        }
    }

    /// The options it was loaded with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Runs `forward` on `args`, named as in its [`Signature`] (arguments with defaults may be
    /// left out). Each argument is checked against its type; the result mirrors what `forward`
    /// returns.
    pub fn forward(&self, args: Vec<(String, Value)>) -> Result<Value> {
        if let Some(out) = self.replay_unchecked(&args) {
            return out;
        }
        self.forward_checked(args)
    }

    /// [`forward`](Self::forward) on borrowed arguments, for a loop that calls the model
    /// again and again on arguments it keeps: a call like an earlier one (the same names in
    /// the same order, tensors of the same types and shapes, the same other values) copies
    /// nothing; any other is checked as `forward` checks it.
    pub fn forward_ref<N: AsRef<str>>(&self, args: &[(N, Value)]) -> Result<Value> {
        if let Some(out) = self.replay_unchecked(args) {
            return out;
        }
        let owned = args
            .iter()
            .map(|(n, v)| (n.as_ref().to_string(), v.clone()));
        self.forward_checked(owned.collect())
    }

    /// The replay of `args`' trace where they already have a recorded key's names, types,
    /// shapes and values, on the CPU: checking made the key, and leaves what it made as it
    /// is, so these are as checking would leave them. `None`: check them and go on.
    fn replay_unchecked<N: AsRef<str>>(&self, args: &[(N, Value)]) -> Option<Result<Value>> {
        let Body::Script(script) = &self.body else {
            return None;
        };
        if self.refusal.is_some() || !self.options.device.is_cpu() {
            return None;
        }
        let trace = script.traces.replay_of(args)?;
        if trace.single() {
            let cx = self.cx();
            let single = std::panic::AssertUnwindSafe(|| trace.replay_single(&cx, args));
            if let Ok(Some(t)) = std::panic::catch_unwind(single) {
                script.traces.replayed(trace, true);
                return Some(Ok(Value::Tensor(t)));
            }
        }
        self.replay(script, trace, args).map(from_obj)
    }

    /// `forward` once the trace of unchecked arguments did not replay.
    fn forward_checked(&self, args: Vec<(String, Value)>) -> Result<Value> {
        if let Some(refusal) = &self.refusal {
            return Err(Error::Unsupported(refusal.clone()));
        }
        let script = match &self.body {
            Body::Script(s) => s,
            Body::Graph(g) => {
                // The graph converts tensors to the dtypes it declares, where that is exact.
                let options = Options {
                    dtype: None,
                    ..self.options.clone()
                };
                let args = super::value::check_args(&self.signature, args, &options)?;
                let cx = Ctx {
                    limits: &self.options.limits,
                    device: &self.options.device,
                    constants: Some(&self.constants),
                };
                return g.run(&cx, &args);
            }
        };
        let args = super::value::check_args(&self.signature, args, &self.options)?;
        // A call like one before replays its trace (`super::trace`); the first of its key is
        // interpreted and recorded.
        let plan = script.traces.plan(&args);
        // The key a recording is kept under.
        let mut key = None;
        let recorder = match plan {
            Plan::Replay(trace) => {
                if let Some(out) = self.replay(script, &trace, &args) {
                    return from_obj(out);
                }
                None
            }
            Plan::Record => {
                let (k, tensors) = Key::of(&args);
                key = Some(k);
                Recorder::new(&tensors, script.known.clone())
            }
            Plan::Interpret => None,
        };
        // On the caller's thread: deep code continues on heap segments (`super::stack`). A
        // panic would be a bug in scriptless; it becomes an error, not the caller's crash.
        let (out, trace) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.run(script, &args, recorder)
        }))
        .unwrap_or_else(|_| Err(Error::Script("the interpreter panicked".into())))?;
        if let Some(key) = key {
            script.traces.keep(key, trace);
        }
        from_obj(out)
    }

    /// `trace` replayed on `args` (of its key); `None` where the call must be interpreted.
    fn replay<N: AsRef<str>>(
        &self,
        script: &Script,
        trace: &Arc<Trace>,
        args: &[(N, Value)],
    ) -> Option<crate::ops::Value> {
        let cx = self.cx();
        let replayed =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| trace.replay(&cx, args)))
                .ok()
                .flatten();
        script.traces.replayed(trace, replayed.is_some());
        replayed
    }

    /// What operators are called with.
    fn cx(&self) -> Ctx<'_> {
        Ctx {
            limits: &self.options.limits,
            device: &self.options.device,
            constants: Some(&self.constants),
        }
    }

    /// Interprets `forward` on `args`, recording it with `recorder` if given: its result, and
    /// the trace recorded.
    fn run(
        &self,
        script: &Script,
        args: &[(String, Value)],
        recorder: Option<Recorder>,
    ) -> Result<(crate::ops::Value, Option<Trace>)> {
        let cx = self.cx();
        let constants = script.constants.iter().map(to_runtime_obj).collect();
        let mut interp = Interp::new(
            &script.code,
            constants,
            cx,
            Budget {
                steps: self.options.max_steps,
                depth: self.options.max_depth,
            },
        );
        let root = to_runtime_obj(&script.root);
        let (forward, file) = script
            .code
            .method(&script.root_class, "forward")
            .ok_or_else(|| Error::Script("the root module has no forward".into()))?;
        let named = args
            .iter()
            .map(|(n, v)| (n.clone(), to_runtime(v)))
            .collect();
        interp.recorder = recorder;
        let out = interp.call_function(forward, file, vec![root], named)?;
        let trace = interp.recorder.take().and_then(|r| r.finish(&out));
        Ok((out, trace))
    }
}

/// Every tensor `o` holds, at any depth.
fn obj_tensors(o: &Obj, out: &mut Vec<candle_core::Tensor>) {
    match o {
        Obj::Tensor { tensor, .. } => out.push(tensor.clone()),
        Obj::List(items) | Obj::Tuple(items) => items.iter().for_each(|i| obj_tensors(i, out)),
        Obj::Dict(items) => items.iter().for_each(|(k, v)| {
            obj_tensors(k, out);
            obj_tensors(v, out);
        }),
        Obj::Object { fields, .. } => fields.iter().for_each(|(_, v)| obj_tensors(v, out)),
        Obj::None | Obj::Bool(_) | Obj::Int(_) | Obj::Float(_) | Obj::Str(_) => {}
    }
}

fn to_runtime_obj(o: &Obj) -> crate::ops::Value {
    super::value::obj_to_runtime(o)
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
pub(crate) fn signature_of(forward: &Function) -> Signature {
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
                default: p.default.as_ref().and_then(literal),
                baked: None,
                tensors: Vec::new(),
            })
            .collect(),
        returns: forward.returns.clone(),
    }
}

/// The value of a literal default (`3`, `-1.5`, `None`, `"mean"`, `[1, 2]`).
fn literal(e: &super::ast::Expr) -> Option<Value> {
    use super::ast::Expr;
    Some(match e {
        Expr::None => Value::None,
        Expr::Bool(b) => Value::Bool(*b),
        Expr::Int(n) => Value::Int(*n),
        Expr::Float(x) => Value::Float(*x),
        Expr::Str(s) => Value::Str(s.clone()),
        Expr::List(items) => Value::List(items.iter().map(literal).collect::<Option<_>>()?),
        Expr::Tuple(items) => Value::Tuple(items.iter().map(literal).collect::<Option<_>>()?),
        _ => return None,
    })
}

/// Refuses `options.dtype` where it differs from the floating-point tensors of a `.pt2`.
fn check_graph_dtype(
    tensors: &std::collections::BTreeMap<String, (candle_core::Tensor, bool)>,
    options: &Options,
) -> Result<()> {
    let Some(dtype) = options.dtype else {
        return Ok(());
    };
    match tensors
        .values()
        .map(|(t, _)| t.dtype())
        .find(|d| d.is_float() && *d != dtype)
    {
        Some(have) => Err(graph_dtype_refusal(dtype, have)),
        None => Ok(()),
    }
}

fn graph_dtype_refusal(want: DType, have: DType) -> Error {
    let name = |d: DType| ScalarType::from_candle(d).map_or("?", ScalarType::name);
    Error::Unsupported(format!(
        "a .pt2 program runs in the dtypes its graph was exported with ({}), not {}: export \
         the model after model.to(torch.{}) to run it in {}",
        name(have),
        name(want),
        name(want),
        name(want)
    ))
}

/// The type of a graph input's or output's structure, its leaves' kinds from `leaves` (a
/// tensor where they run out).
fn tree_type(tree: &graph::Tree, leaves: &mut std::slice::Iter<Leaf>) -> Type {
    let ty = |name: &str, args: Vec<Type>| Type {
        name: name.into(),
        args,
    };
    match tree {
        graph::Tree::Leaf => match leaves.next() {
            Some(Leaf::Tensor { .. }) | None => ty("Tensor", vec![]),
            Some(Leaf::Scalar { kind, .. }) => ty(kind, vec![]),
            Some(Leaf::Constant(c)) => ty(graph::const_type(c), vec![]),
        },
        graph::Tree::None => ty("NoneType", vec![]),
        graph::Tree::Tuple(items) => ty(
            "Tuple",
            items.iter().map(|t| tree_type(t, leaves)).collect(),
        ),
        graph::Tree::List(items) => {
            let inner: Vec<Type> = items.iter().map(|t| tree_type(t, leaves)).collect();
            ty(
                "List",
                vec![inner
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| ty("Tensor", vec![]))],
            )
        }
        graph::Tree::Dict(items) => {
            let inner: Vec<Type> = items.iter().map(|(_, t)| tree_type(t, leaves)).collect();
            ty(
                "Dict",
                vec![
                    ty("str", vec![]),
                    inner
                        .into_iter()
                        .next()
                        .unwrap_or_else(|| ty("Tensor", vec![])),
                ],
            )
        }
    }
}

/// `forward`'s signature as a `.pt2` program records it.
fn graph_signature(graph: &Graph) -> Signature {
    let params = graph
        .inputs
        .iter()
        .map(|input| {
            let ty = tree_type(&input.tree, &mut input.leaves.iter());
            let all_baked = input.leaves.iter().all(|l| matches!(l, Leaf::Constant(_)));
            let baked = match (&input.tree, &input.leaves[..]) {
                (graph::Tree::Leaf, [Leaf::Constant(c)]) => Some(graph::const_value(c)),
                _ => None,
            };
            let tensors = input
                .leaves
                .iter()
                .filter_map(|l| match l {
                    Leaf::Tensor { dtype, dims, .. } => Some(TensorSpec {
                        dtype: *dtype,
                        dims: dims.iter().map(|e| dim_of(e, graph)).collect(),
                    }),
                    _ => None,
                })
                .collect();
            Param {
                name: input.name.clone(),
                ty,
                has_default: all_baked,
                default: None,
                baked,
                tensors,
            }
        })
        .collect();
    Signature {
        params,
        returns: Some(tree_type(graph.out_tree(), &mut [].iter())),
    }
}

fn dim_of(e: &Expr, graph: &Graph) -> Dim {
    match e {
        Expr::Int(n) => Dim::Static((*n).max(0) as usize),
        Expr::Symbol(s) => {
            let (min, max) = graph.ranges.get(s).copied().unwrap_or((0, None));
            Dim::Dynamic {
                symbol: s.clone(),
                min,
                max,
            }
        }
        other => Dim::Derived(other.display()),
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
