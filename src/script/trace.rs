//! Traces: a TorchScript `forward` recorded as the operator calls it made, replayed on later
//! calls with arguments of the same shapes, types and values, without the interpreter.
//!
//! The first call with a new [`Key`] (every tensor argument's type and shape, every other
//! argument's value) runs the interpreter with a [`Recorder`]: every operator call that takes
//! or returns a tensor becomes a [`Step`], its arguments as bound to the schema (or as given,
//! bound again on replay, where binding turned a 0-dim tensor into a number), whose tensors
//! are slots (an argument, a parameter or
//! buffer of the program, or an earlier step's result), and every value the code read from a
//! tensor's data (a condition, `int(t)`, `float(t)`) a guard. A replay runs the steps, checking
//! as it goes that each result has the type and shape it had when recorded, that each result
//! that is not a tensor (a size, a count, a flag an operator computed) is the one recorded, and
//! that each guarded value reads the same. Every decision the code made depended on no more
//! than those (the key's values, the results' shapes and types, the guarded reads and the
//! program's constants), so where they all hold, the code would have called the same operators
//! on the same arguments: the replay's result is the interpreter's. Where one does not hold, or
//! an operator fails, the call is interpreted instead (so errors name the code's line).
//!
//! A recording is given up (the key is then always interpreted) where the code passes an
//! operator something the trace cannot name (a module object, a function, a tensor that is
//! neither an argument, the program's, an operator's result, nor made from numbers alone by
//! `NumToTensor`), or reads data from such a tensor.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use candle_core::{Device, TensorId};

use super::fuse::Fused;
use super::value::Value as Arg;
use crate::ops::{self, Ctx, Op, ScalarType, Tensor, Value};

/// The most keys a program keeps traces (or the note that none can be made) for.
const MAX_KEYS: usize = 8;
/// Replays of a trace that may fail in a row before its key is interpreted for good.
const MAX_MISSES: u32 = 3;
/// The most steps a trace holds: code that runs more operators than this (a long loop) is
/// interpreted, and its recording stops growing.
const MAX_STEPS: usize = 1 << 16;
/// The most slots a replay keeps on the stack.
const ON_STACK: usize = 8;

/// The slots of a replay: the call's and the program's tensors, borrowed (not counted again),
/// and those the steps made. Two arrays rather than one of `Cow`s: a borrowed slot is written
/// in one store, which the CPU then reads back without stalling.
pub(super) struct Slots<'a, 'b> {
    given: &'b mut [Option<&'a Tensor>],
    made: &'b mut [Option<Tensor>],
}

impl<'a> Slots<'a, '_> {
    /// The tensor in slot `s`, if any.
    pub(super) fn get(&self, s: usize) -> Option<&Tensor> {
        match self.given.get(s) {
            Some(Some(t)) => Some(t),
            _ => self.made.get(s)?.as_ref(),
        }
    }

    fn give(&mut self, s: usize, t: &'a Tensor) {
        if let Some(g) = self.given.get_mut(s) {
            *g = Some(t);
        }
    }

    /// Puts a step's result in slot `s`: false for a slot past the end.
    fn set(&mut self, s: usize, t: Tensor) -> bool {
        match self.made.get_mut(s) {
            Some(m) => {
                *m = Some(t);
                true
            }
            None => false,
        }
    }
}

/// A value in a step's arguments or results, its tensors named by slot.
#[derive(Debug, Clone)]
pub(super) enum Tmpl {
    Slot(usize),
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Arc<str>),
    Device(Device),
    List(Vec<Tmpl>),
    Tuple(Vec<Tmpl>),
    Dict(Vec<(Tmpl, Tmpl)>),
}

/// What the code read from a tensor's data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Read {
    /// Its truth (a condition): `value != 0`.
    Truth(bool),
    /// `int(t)`.
    Int(i64),
    /// `float(t)`, by bits (NaN reads as itself).
    Float(u64),
}

impl Read {
    /// The same read of `t`.
    fn of(self, t: &Tensor) -> Option<Read> {
        Some(match self {
            Read::Truth(_) => Read::Truth(t.scalar_f64().ok()? != 0.0),
            Read::Int(_) => Read::Int(t.scalar_i64().ok()?),
            Read::Float(_) => Read::Float(t.scalar_f64().ok()?.to_bits()),
        })
    }
}

/// One recorded event.
pub(super) enum Step {
    /// An operator call: its arguments and its result.
    Op {
        op: &'static Op,
        args: Call,
        out: Tmpl,
    },
    /// A read of slot `slot`'s data.
    Read { slot: usize, read: Read },
    /// Steps done in one pass (`super::fuse`), into slots `outs`; the `original` steps run
    /// where the fused pass does not apply.
    Fused {
        fused: Fused,
        outs: Vec<usize>,
        original: Vec<Step>,
    },
}

/// A call's arguments.
pub(super) enum Call {
    /// As bound to the schema.
    Bound(Vec<Tmpl>),
    /// As given, to bind again on replay: binding converted a 0-dim tensor where the schema
    /// takes a number, and the replay's own tensor must give it.
    Given(Vec<Tmpl>, Vec<(String, Tmpl)>),
}

/// A recorded `forward`.
pub(crate) struct Trace {
    /// Slots in all.
    slots: usize,
    /// The slots the call's tensor arguments fill, in the order [`Key::of`] walks them.
    inputs: Vec<usize>,
    /// The program's tensors the steps use.
    constants: Vec<(usize, Tensor)>,
    steps: Vec<Step>,
    /// Each result slot's type and shape when recorded, by slot.
    specs: Vec<Option<(ScalarType, Vec<usize>)>>,
    output: Tmpl,
    /// Whether the trace is one fused step whose one result is the output (the seed's small
    /// models): a replay runs it and returns its result (which nothing after it reads).
    single: bool,
    /// Replays that failed in a row.
    misses: AtomicU32,
}

/// What a call is keyed by: `forward`'s arguments, their tensors by type, shape and device.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Key(Vec<KeyItem>);

#[derive(Debug, Clone, PartialEq)]
enum KeyItem {
    Name(String),
    Tensor(ScalarType, Vec<usize>, bool),
    None,
    Bool(bool),
    Int(i64),
    Float(u64),
    Str(String),
    Open(u8, usize),
}

impl Key {
    /// Whether `args` have this key.
    pub(crate) fn matches<N: AsRef<str>>(&self, args: &[(N, Arg)]) -> bool {
        fn walk<'a>(v: &Arg, key: &mut impl Iterator<Item = &'a KeyItem>) -> bool {
            let Some(item) = key.next() else {
                return false;
            };
            match (item, v) {
                (KeyItem::Tensor(dtype, dims, cpu), Arg::Tensor(t)) => {
                    // Element by element: shorter than a call to `memcmp` for a few dims.
                    let d = t.dims();
                    *dtype == t.dtype()
                        && dims.len() == d.len()
                        && dims.iter().zip(d).all(|(a, b)| a == b)
                        && *cpu == t.device().is_cpu()
                }
                (KeyItem::None, Arg::None) => true,
                (KeyItem::Bool(a), Arg::Bool(b)) => a == b,
                (KeyItem::Int(a), Arg::Int(b)) => a == b,
                (KeyItem::Float(a), Arg::Float(b)) => *a == b.to_bits(),
                (KeyItem::Str(a), Arg::Str(b)) => a == b,
                (KeyItem::Open(kind, n), Arg::List(items) | Arg::Tuple(items)) => {
                    *kind == matches!(v, Arg::List(_)) as u8
                        && *n == items.len()
                        && items.iter().all(|i| walk(i, key))
                }
                (KeyItem::Open(2, n), Arg::Dict(items)) => {
                    *n == items.len()
                        && items.iter().all(|(k, v)| {
                            matches!(key.next(), Some(KeyItem::Str(s)) if s == k) && walk(v, key)
                        })
                }
                _ => false,
            }
        }
        let mut key = self.0.iter();
        args.iter().all(|(name, v)| {
            matches!(key.next(), Some(KeyItem::Name(n)) if n == name.as_ref()) && walk(v, &mut key)
        }) && key.next().is_none()
    }

    /// The key of `args`, and their tensors in order.
    pub(crate) fn of(args: &[(String, Arg)]) -> (Key, Vec<Tensor>) {
        fn walk(v: &Arg, key: &mut Vec<KeyItem>, tensors: &mut Vec<Tensor>) {
            match v {
                Arg::Tensor(t) => {
                    key.push(KeyItem::Tensor(
                        t.dtype(),
                        t.dims().to_vec(),
                        t.device().is_cpu(),
                    ));
                    tensors.push(t.clone());
                }
                Arg::None => key.push(KeyItem::None),
                Arg::Bool(b) => key.push(KeyItem::Bool(*b)),
                Arg::Int(n) => key.push(KeyItem::Int(*n)),
                Arg::Float(x) => key.push(KeyItem::Float(x.to_bits())),
                Arg::Str(s) => key.push(KeyItem::Str(s.clone())),
                Arg::List(items) | Arg::Tuple(items) => {
                    key.push(KeyItem::Open(matches!(v, Arg::List(_)) as u8, items.len()));
                    items.iter().for_each(|i| walk(i, key, tensors));
                }
                Arg::Dict(items) => {
                    key.push(KeyItem::Open(2, items.len()));
                    for (k, v) in items {
                        key.push(KeyItem::Str(k.clone()));
                        walk(v, key, tensors);
                    }
                }
            }
        }
        let (mut key, mut tensors) = (Vec::new(), Vec::new());
        for (name, v) in args {
            key.push(KeyItem::Name(name.clone()));
            walk(v, &mut key, &mut tensors);
        }
        (Key(key), tensors)
    }
}

/// A program's traces, by key. Looking one up takes no lock: keys are only ever added (up to
/// [`MAX_KEYS`], under `adding`), and a trace that keeps failing is marked dropped.
#[derive(Default)]
pub(crate) struct Traces {
    entries: Box<[OnceLock<Entry>; MAX_KEYS]>,
    adding: Mutex<()>,
}

impl std::fmt::Debug for Traces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Traces({} keys)", self.entries().count())
    }
}

struct Entry {
    key: Key,
    /// `None` where the key cannot be traced.
    trace: Option<Arc<Trace>>,
    /// Set once the trace's replays kept failing: the key is interpreted from then on.
    dropped: AtomicBool,
}

impl Entry {
    fn live(&self) -> Option<&Arc<Trace>> {
        self.trace
            .as_ref()
            .filter(|_| !self.dropped.load(Ordering::Relaxed))
    }
}

/// What to do with a call.
pub(crate) enum Plan {
    /// Replay this trace.
    Replay(Arc<Trace>),
    /// Interpret with a recorder, and keep what it records.
    Record,
    /// Interpret.
    Interpret,
}

impl Traces {
    fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().map_while(OnceLock::get)
    }

    /// What to do with a call on `args`.
    pub(crate) fn plan(&self, args: &[(String, Arg)]) -> Plan {
        let mut n = 0;
        for e in self.entries() {
            if e.key.matches(args) {
                return match e.live() {
                    Some(t) => Plan::Replay(t.clone()),
                    None => Plan::Interpret,
                };
            }
            n += 1;
        }
        if n < MAX_KEYS {
            Plan::Record
        } else {
            Plan::Interpret
        }
    }

    /// The trace of `args`' key, if there is one.
    pub(crate) fn replay_of<N: AsRef<str>>(&self, args: &[(N, Arg)]) -> Option<&Arc<Trace>> {
        self.entries().find(|e| e.key.matches(args))?.live()
    }

    /// Keeps what recording `key` gave (`None`: it cannot be traced).
    pub(crate) fn keep(&self, key: Key, trace: Option<Trace>) {
        let Ok(_adding) = self.adding.lock() else {
            return;
        };
        if self.entries().any(|e| e.key == key) {
            return;
        }
        if let Some(free) = self.entries.iter().find(|e| e.get().is_none()) {
            let _ = free.set(Entry {
                key,
                trace: trace.map(Arc::new),
                dropped: AtomicBool::new(false),
            });
        }
    }

    /// How many keys have a trace.
    pub(crate) fn len(&self) -> usize {
        self.entries().filter(|e| e.live().is_some()).count()
    }

    /// Notes how a replay of `trace` went: a trace whose replays keep failing is dropped, and
    /// its key interpreted from then on.
    pub(crate) fn replayed(&self, trace: &Arc<Trace>, hit: bool) {
        if hit {
            if trace.misses.load(Ordering::Relaxed) != 0 {
                trace.misses.store(0, Ordering::Relaxed);
            }
            return;
        }
        if trace.misses.fetch_add(1, Ordering::Relaxed) + 1 < MAX_MISSES {
            return;
        }
        for e in self.entries() {
            if e.trace.as_ref().is_some_and(|t| Arc::ptr_eq(t, trace)) {
                e.dropped.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// Records one interpreted call.
pub(crate) struct Recorder {
    /// Which slot holds each tensor the trace can name.
    slot_of: HashMap<TensorId, usize>,
    /// The program's tensors, which a step may use as constants.
    known: Arc<HashSet<TensorId>>,
    slots: usize,
    inputs: Vec<usize>,
    constants: Vec<(usize, Tensor)>,
    steps: Vec<Step>,
    specs: HashMap<usize, (ScalarType, Vec<usize>)>,
    /// Set when the call cannot be traced.
    failed: bool,
}

impl Recorder {
    /// A recorder for a call whose tensor arguments are `inputs` (as [`Key::of`] gives them),
    /// of a program whose own tensors are `known`; `None` where an argument tensor is passed
    /// twice (a trace could not tell which a later use means).
    pub(crate) fn new(inputs: &[Tensor], known: Arc<HashSet<TensorId>>) -> Option<Self> {
        let mut r = Recorder {
            slot_of: HashMap::default(),
            known,
            slots: 0,
            inputs: Vec::new(),
            constants: Vec::new(),
            steps: Vec::new(),
            specs: HashMap::default(),
            failed: false,
        };
        for t in inputs {
            let slot = r.fresh();
            if r.slot_of.insert(t.inner().id(), slot).is_some() {
                return None;
            }
            r.inputs.push(slot);
        }
        Some(r)
    }

    fn fresh(&mut self) -> usize {
        self.slots += 1;
        self.slots - 1
    }

    /// The slot of `t`: its own, or a new one for a program tensor; `None` (and the
    /// recording given up) for a tensor the trace cannot name.
    fn slot(&mut self, t: &Tensor) -> Option<usize> {
        let id = t.inner().id();
        if let Some(&s) = self.slot_of.get(&id) {
            return Some(s);
        }
        if self.known.contains(&id) {
            let s = self.fresh();
            self.slot_of.insert(id, s);
            self.constants.push((s, t.clone()));
            return Some(s);
        }
        self.failed = true;
        None
    }

    /// `v` with its tensors as slots (`None`, and the recording given up, where it holds
    /// what a trace cannot: a module, a function, an unnamed tensor).
    fn tmpl(&mut self, v: &Value) -> Option<Tmpl> {
        let t = match v {
            Value::Tensor(t) => Tmpl::Slot(self.slot(t)?),
            Value::None => Tmpl::None,
            Value::Bool(b) => Tmpl::Bool(*b),
            Value::Int(n) => Tmpl::Int(*n),
            Value::Float(x) => Tmpl::Float(*x),
            Value::Str(s) => Tmpl::Str(Arc::from(&**s)),
            Value::Device(d) => Tmpl::Device(d.clone()),
            Value::List(l) => {
                let items = l.borrow().clone();
                Tmpl::List(items.iter().map(|i| self.tmpl(i)).collect::<Option<_>>()?)
            }
            Value::Tuple(items) => {
                Tmpl::Tuple(items.iter().map(|i| self.tmpl(i)).collect::<Option<_>>()?)
            }
            Value::Dict(d) => {
                let items = d.borrow().clone();
                let mut out = Vec::with_capacity(items.len());
                for (k, v) in &items {
                    out.push((self.tmpl(k)?, self.tmpl(v)?));
                }
                Tmpl::Dict(out)
            }
            Value::Object(_) | Value::Function(..) => {
                self.failed = true;
                return None;
            }
        };
        Some(t)
    }

    /// A result: each tensor a new slot, with its type and shape.
    fn result(&mut self, v: &Value) -> Option<Tmpl> {
        Some(match v {
            Value::Tensor(t) => {
                let s = self.fresh();
                self.slot_of.insert(t.inner().id(), s);
                self.specs.insert(s, (t.dtype(), t.dims().to_vec()));
                Tmpl::Slot(s)
            }
            Value::List(l) => {
                let items = l.borrow().clone();
                Tmpl::List(
                    items
                        .iter()
                        .map(|i| self.result(i))
                        .collect::<Option<_>>()?,
                )
            }
            Value::Tuple(items) => Tmpl::Tuple(
                items
                    .iter()
                    .map(|i| self.result(i))
                    .collect::<Option<_>>()?,
            ),
            other if !holds_tensor(other) => self.tmpl(other)?,
            _ => {
                self.failed = true;
                return None;
            }
        })
    }

    /// The arguments of a call about to run, as a step will hold them, where they hold a
    /// tensor: taken before the call, which may change a list it is given (`pop`).
    pub(crate) fn before<K: AsRef<str>>(
        &mut self,
        bound: &ops::Args,
        args: &[Value],
        kwargs: &[(K, Value)],
    ) -> Option<Call> {
        if self.failed
            || !(args.iter().any(holds_tensor) || kwargs.iter().any(|(_, v)| holds_tensor(v)))
        {
            return None;
        }
        let call = self.call(bound, args, kwargs);
        if call.is_none() {
            self.failed = true;
        }
        call
    }

    /// `bound` (or, where binding turned a 0-dim tensor into a number, `args` and `kwargs`)
    /// as templates.
    fn call<K: AsRef<str>>(
        &mut self,
        bound: &ops::Args,
        args: &[Value],
        kwargs: &[(K, Value)],
    ) -> Option<Call> {
        let given = args.iter().map(tensors).sum::<usize>()
            + kwargs.iter().map(|(_, v)| tensors(v)).sum::<usize>();
        Some(
            if bound.values().iter().map(tensors).sum::<usize>() == given {
                Call::Bound(
                    bound
                        .values()
                        .iter()
                        .map(|v| self.tmpl(v))
                        .collect::<Option<_>>()?,
                )
            } else {
                let a = args.iter().map(|v| self.tmpl(v)).collect::<Option<_>>()?;
                let mut k = Vec::with_capacity(kwargs.len());
                for (name, v) in kwargs {
                    k.push((name.as_ref().to_string(), self.tmpl(v)?));
                }
                Call::Given(a, k)
            },
        )
    }

    /// Records the call of `op` that returned `out`, its arguments as [`before`](Self::before)
    /// took them. A call that neither takes nor returns a tensor computes from what the key and
    /// the guards fix, and is left out.
    pub(crate) fn after<K: AsRef<str>>(
        &mut self,
        op: &'static Op,
        before: Option<Call>,
        bound: &ops::Args,
        args: &[Value],
        kwargs: &[(K, Value)],
        out: &Value,
    ) {
        if self.failed {
            return;
        }
        let call = match before {
            Some(call) => call,
            // No tensor went in: the arguments are numbers, strings and lists of them.
            None if holds_tensor(out) => match self.call(bound, args, kwargs) {
                Some(call) => call,
                None => {
                    self.failed = true;
                    return;
                }
            },
            None => return,
        };
        match self.result(out) {
            Some(out) => self.push(Step::Op {
                op,
                args: call,
                out,
            }),
            None => self.failed = true,
        }
    }

    /// Adds `step`, or gives the recording up past [`MAX_STEPS`].
    fn push(&mut self, step: Step) {
        if self.steps.len() >= MAX_STEPS {
            self.failed = true;
            self.steps = Vec::new();
            self.slot_of = HashMap::default();
            self.constants = Vec::new();
        } else {
            self.steps.push(step);
        }
    }

    /// Records a tensor the code made from numbers alone (`NumToTensor(n)`): each of those
    /// is fixed by the key and the guards, so the trace holds it as a constant.
    pub(crate) fn made(&mut self, t: &Tensor) {
        if self.failed {
            return;
        }
        let s = self.fresh();
        self.slot_of.insert(t.inner().id(), s);
        self.constants.push((s, t.clone()));
    }

    /// Records that the code read `read` from `t`.
    pub(crate) fn read(&mut self, t: &Tensor, read: Read) {
        if self.failed {
            return;
        }
        if let Some(slot) = self.slot(t) {
            self.push(Step::Read { slot, read });
        }
    }

    /// The trace, given the call's result; `None` where it cannot be traced.
    pub(crate) fn finish(mut self, out: &Value) -> Option<Trace> {
        let output = self.tmpl(out)?;
        if self.failed {
            return None;
        }
        // The program's own tensors; not those made from numbers, which the key may change.
        let known: HashSet<usize> = self
            .constants
            .iter()
            .filter(|(_, t)| self.known.contains(&t.inner().id()))
            .map(|(s, _)| *s)
            .collect();
        let steps = super::prune::prune(self.steps);
        let steps = super::fuse::fuse(steps, &output, &self.specs, &|s| known.contains(&s));
        let single = matches!(
            (&steps[..], &output),
            ([Step::Fused { outs, .. }], Tmpl::Slot(out)) if outs[..] == [*out]
        );
        Some(Trace {
            slots: self.slots,
            inputs: self.inputs,
            constants: self.constants,
            single,
            steps,
            specs: (0..self.slots).map(|s| self.specs.remove(&s)).collect(),
            output,
            misses: AtomicU32::new(0),
        })
    }
}

/// `out` of each tensor `v` holds, in order.
fn walk<'a>(v: &'a Arg, out: &mut impl FnMut(&'a Tensor)) {
    match v {
        Arg::Tensor(t) => out(t),
        Arg::List(items) | Arg::Tuple(items) => items.iter().for_each(|i| walk(i, out)),
        Arg::Dict(items) => items.iter().for_each(|(_, v)| walk(v, out)),
        _ => {}
    }
}

/// How many tensors `v` holds, at any depth.
fn tensors(v: &Value) -> usize {
    match v {
        Value::Tensor(_) => 1,
        Value::List(l) => l.borrow().iter().map(tensors).sum(),
        Value::Tuple(t) => t.iter().map(tensors).sum(),
        Value::Dict(d) => d
            .borrow()
            .iter()
            .map(|(k, v)| tensors(k) + tensors(v))
            .sum(),
        _ => 0,
    }
}

/// Whether `v` holds a tensor at any depth.
fn holds_tensor(v: &Value) -> bool {
    match v {
        Value::Tensor(_) => true,
        Value::List(l) => l.borrow().iter().any(holds_tensor),
        Value::Tuple(t) => t.iter().any(holds_tensor),
        Value::Dict(d) => d
            .borrow()
            .iter()
            .any(|(k, v)| holds_tensor(k) || holds_tensor(v)),
        _ => false,
    }
}

impl Trace {
    /// Replays the trace on a call's arguments (of its key): the result,
    /// or `None` where a check fails or an operator does (the call is then interpreted).
    /// Whether the trace is one fused step whose result is the output.
    pub(crate) fn single(&self) -> bool {
        self.single
    }

    /// A [`single`](Self::single) trace's fused step on a call's arguments (of its key): its
    /// result, or `None` where its fast path does not apply (then [`replay`](Self::replay)
    /// runs the steps it stands for). A tensor comes back in registers, where a [`Value`]
    /// would make a round trip through memory.
    pub(crate) fn replay_single<N>(&self, cx: &Ctx, args: &[(N, Arg)]) -> Option<Tensor> {
        let ([Step::Fused { fused, .. }], true, true) =
            (&self.steps[..], self.single, self.slots <= ON_STACK)
        else {
            return None;
        };
        let mut given = [None; ON_STACK];
        let mut made: [Option<Tensor>; ON_STACK] = Default::default();
        let mut slots = Slots {
            given: &mut given[..self.slots],
            made: &mut made[..self.slots],
        };
        self.fill_inputs(args, &mut slots);
        let [out, ..] = fused.run(cx, &slots).ok()??;
        out
    }

    /// Puts the call's tensors and the program's in their slots.
    fn fill_inputs<'a, N>(&'a self, args: &'a [(N, Arg)], slots: &mut Slots<'a, '_>) {
        let mut inputs = self.inputs.iter();
        for (_, v) in args {
            match v {
                Arg::Tensor(t) => {
                    if let Some(&s) = inputs.next() {
                        slots.give(s, t);
                    }
                }
                Arg::List(_) | Arg::Tuple(_) | Arg::Dict(_) => walk(v, &mut |t| {
                    if let Some(&s) = inputs.next() {
                        slots.give(s, t);
                    }
                }),
                _ => {}
            }
        }
        for (s, t) in &self.constants {
            slots.give(*s, t);
        }
    }

    pub(crate) fn replay<N>(&self, cx: &Ctx, args: &[(N, Arg)]) -> Option<Value> {
        if self.slots <= ON_STACK {
            let mut given = [None; ON_STACK];
            let mut made: [Option<Tensor>; ON_STACK] = Default::default();
            let slots = Slots {
                given: &mut given[..self.slots],
                made: &mut made[..self.slots],
            };
            self.replay_in(cx, args, slots)
        } else {
            let (mut given, mut made) = (vec![None; self.slots], vec![None; self.slots]);
            let slots = Slots {
                given: &mut given,
                made: &mut made,
            };
            self.replay_in(cx, args, slots)
        }
    }

    fn replay_in<'a, N>(
        &'a self,
        cx: &Ctx,
        args: &'a [(N, Arg)],
        mut slots: Slots<'a, '_>,
    ) -> Option<Value> {
        self.fill_inputs(args, &mut slots);
        for step in &self.steps {
            self.run(step, cx, &mut slots)?;
        }
        // A tensor result a step made is moved out rather than shared.
        if let Tmpl::Slot(s) = self.output {
            if let Some(t) = slots.made.get_mut(s)?.take() {
                return Some(Value::Tensor(t));
            }
        }
        build(&self.output, &slots)
    }

    /// Runs one step: `None` where a check or an operator fails.
    fn run(&self, step: &Step, cx: &Ctx, slots: &mut Slots) -> Option<()> {
        match step {
            Step::Op { op, args, out } => {
                let bound = match args {
                    Call::Bound(values) => ops::Args::bound(
                        &op.schema,
                        values
                            .iter()
                            .map(|t| build(t, slots))
                            .collect::<Option<_>>()?,
                    ),
                    Call::Given(args, kwargs) => {
                        let a = args
                            .iter()
                            .map(|t| build(t, slots))
                            .collect::<Option<Vec<_>>>()?;
                        let mut k = Vec::with_capacity(kwargs.len());
                        for (name, t) in kwargs {
                            k.push((name.as_str(), build(t, slots)?));
                        }
                        ops::bind(&op.schema, &a, &k).ok()?
                    }
                };
                let result = ops::profile::call(op, || (op.f)(cx, &bound)).ok()?;
                self.fill(out, result, slots).then_some(())
            }
            Step::Read { slot, read } => {
                let t = slots.get(*slot)?;
                (read.of(t) == Some(*read)).then_some(())
            }
            Step::Fused {
                fused,
                outs,
                original,
            } => match fused.run(cx, slots).ok()? {
                // A result the code never reads is not made.
                Some(results) => (outs.len() <= results.len()
                    && outs.iter().zip(results).all(|(&s, t)| match t {
                        Some(t) => self.fill(&Tmpl::Slot(s), Value::Tensor(t), slots),
                        None => true,
                    }))
                .then_some(()),
                None => original.iter().try_for_each(|s| self.run(s, cx, slots)),
            },
        }
    }

    /// Stores `v`'s tensors in `out`'s slots: false where `v` differs from what was recorded
    /// (a tensor's type or shape, a value that is not a tensor, the structure).
    fn fill(&self, out: &Tmpl, v: Value, slots: &mut Slots) -> bool {
        match (out, v) {
            (Tmpl::Slot(s), Value::Tensor(t)) => {
                let same =
                    self.specs
                        .get(*s)
                        .and_then(Option::as_ref)
                        .is_some_and(|(dtype, dims)| {
                            let d = t.dims();
                            t.dtype() == *dtype
                                && d.len() == dims.len()
                                && d.iter().zip(dims).all(|(a, b)| a == b)
                        });
                same && slots.set(*s, t)
            }
            (Tmpl::List(items), Value::List(l)) => {
                let l = l.borrow().clone();
                l.len() == items.len() && items.iter().zip(l).all(|(t, v)| self.fill(t, v, slots))
            }
            (Tmpl::Tuple(items), Value::Tuple(t)) => {
                t.len() == items.len()
                    && items
                        .iter()
                        .zip(t.iter().cloned())
                        .all(|(t, v)| self.fill(t, v, slots))
            }
            (t, v) => same(t, &v),
        }
    }
}

/// The value a template names on replay.
fn build(t: &Tmpl, slots: &Slots) -> Option<Value> {
    Some(match t {
        Tmpl::Slot(s) => Value::Tensor(slots.get(*s)?.clone()),
        Tmpl::None => Value::None,
        Tmpl::Bool(b) => Value::Bool(*b),
        Tmpl::Int(n) => Value::Int(*n),
        Tmpl::Float(x) => Value::Float(*x),
        Tmpl::Str(s) => Value::Str(Rc::from(&**s)),
        Tmpl::Device(d) => Value::Device(d.clone()),
        Tmpl::List(items) => Value::list(
            items
                .iter()
                .map(|i| build(i, slots))
                .collect::<Option<_>>()?,
        ),
        Tmpl::Tuple(items) => Value::tuple(
            items
                .iter()
                .map(|i| build(i, slots))
                .collect::<Option<_>>()?,
        ),
        Tmpl::Dict(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (k, v) in items {
                out.push((build(k, slots)?, build(v, slots)?));
            }
            Value::Dict(Rc::new(RefCell::new(out)))
        }
    })
}

/// Whether a result that holds no tensor is the recorded one (floats by bits).
fn same(t: &Tmpl, v: &Value) -> bool {
    match (t, v) {
        (Tmpl::None, Value::None) => true,
        (Tmpl::Bool(a), Value::Bool(b)) => a == b,
        (Tmpl::Int(a), Value::Int(b)) => a == b,
        (Tmpl::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
        (Tmpl::Str(a), Value::Str(b)) => **a == **b,
        (Tmpl::Device(a), Value::Device(b)) => a.same_device(b),
        (Tmpl::List(a), Value::List(b)) => {
            let b = b.borrow();
            a.len() == b.len() && a.iter().zip(b.iter()).all(|(a, b)| same(a, b))
        }
        (Tmpl::Tuple(a), Value::Tuple(b)) => {
            a.len() == b.len() && a.iter().zip(b.iter()).all(|(a, b)| same(a, b))
        }
        (Tmpl::Dict(a), Value::Dict(b)) => {
            let b = b.borrow();
            a.len() == b.len()
                && a.iter()
                    .zip(b.iter())
                    .all(|((ak, av), (bk, bv))| same(ak, bk) && same(av, bv))
        }
        _ => false,
    }
}
