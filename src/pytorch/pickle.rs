//! A restricted pickle reader for the `data.pkl` of a PyTorch archive.
//!
//! It understands the opcodes PyTorch's picklers emit (protocol 2 to 5, without the
//! out-of-band buffers) and rebuilds only what a weights file holds: numbers, strings,
//! tuples, lists, dicts, tensors (`torch._utils._rebuild_tensor_v2`, `_rebuild_parameter`),
//! their storages (persistent ids), the list helpers of `torch.jit._pickle`, and TorchScript
//! module objects (`__torch__.*` classes, built with `NEWOBJ` and `BUILD`). Any other global is
//! refused by name. Nothing is imported, called or executed: a "call" is a match on an
//! allowed global.
//!
//! Memory is bounded by the pickle's size: every opcode pushes at most one value, and shared
//! values are reference-counted rather than copied. Nothing recurses over the pickle's
//! structure (see [`Unpickled`]), so its nesting depth is not limited.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A reading failure: the message says what and where (byte offset in `data.pkl`).
pub(crate) type PickleResult<T> = std::result::Result<T, String>;

/// A list, shared and mutable as in Python.
pub(crate) type List = Rc<RefCell<Vec<Value>>>;
/// A dict's items in insertion order, shared and mutable as in Python.
pub(crate) type Dict = Rc<RefCell<Vec<(Value, Value)>>>;

/// A value on the pickle machine's stack.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    None,
    /// A bool (a module's `training` flag).
    Bool(bool),
    Int(i64),
    /// A float (a module's `eps`, a TorchScript constant).
    Float(f64),
    Str(Rc<str>),
    Tuple(Rc<[Value]>),
    List(List),
    Dict(Dict),
    Object(Rc<RefCell<Object>>),
    Global(Global),
    Storage(Rc<StorageRef>),
    Tensor(Rc<TensorRef>),
}

impl Value {
    /// The value's type, for error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Object(_) => "TorchScript object",
            Value::Global(_) => "class or function",
            Value::Storage(_) => "storage",
            Value::Tensor(_) => "tensor",
        }
    }
}

/// The globals a weights pickle may name. Everything else is refused.
#[derive(Debug, Clone)]
pub(crate) enum Global {
    /// `collections.OrderedDict`: the state_dict itself and each tensor's backward hooks.
    OrderedDict,
    /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`.
    RebuildTensor,
    /// `torch._utils._rebuild_parameter(tensor, requires_grad, hooks)`.
    RebuildParameter,
    /// `torch.FloatStorage` and the other typed storages, named in persistent ids.
    StorageType(Rc<str>),
    /// `torch.jit._pickle.restore_type_tag(value, type)`: returns `value`.
    RestoreTypeTag,
    /// `torch.jit._pickle.build_{tensor,int,double,bool}list(list)`: returns `list`.
    BuildList,
    /// A TorchScript class, `__torch__.<module path>.<Class>`.
    ScriptClass(Rc<str>),
}

impl Global {
    /// The global's Python name, for error messages.
    fn name(&self) -> String {
        match self {
            Global::OrderedDict => "collections.OrderedDict".into(),
            Global::RebuildTensor => "torch._utils._rebuild_tensor_v2".into(),
            Global::RebuildParameter => "torch._utils._rebuild_parameter".into(),
            Global::StorageType(name) => format!("torch.{name}"),
            Global::RestoreTypeTag => "torch.jit._pickle.restore_type_tag".into(),
            Global::BuildList => "torch.jit._pickle.build_*list".into(),
            Global::ScriptClass(class) => class.to_string(),
        }
    }
}

/// A TorchScript object: its class and the attribute dict `BUILD` gave it.
#[derive(Debug)]
pub(crate) struct Object {
    pub class: Rc<str>,
    pub state: Option<Value>,
}

/// A storage named by a persistent id `('storage', torch.<Type>Storage, key, location, numel)`;
/// its bytes are the archive's `data/<key>`.
#[derive(Debug)]
pub(crate) struct StorageRef {
    pub type_name: Rc<str>,
    pub key: Rc<str>,
    pub numel: usize,
}

/// A tensor: a strided view of a storage.
#[derive(Debug)]
pub(crate) struct TensorRef {
    pub storage: Rc<StorageRef>,
    pub offset: usize,
    pub size: Vec<usize>,
    pub stride: Vec<usize>,
}

/// The unpickled root value. Every container and tuple the pickle built is also kept here, in
/// the order built, so that dropping them never recurses: a pickle can nest a million lists,
/// or put a list inside itself.
pub(crate) struct Unpickled {
    pub root: Value,
    built: Vec<Value>,
}

impl Drop for Unpickled {
    fn drop(&mut self) {
        self.root = Value::None;
        teardown(std::mem::take(&mut self.built));
    }
}

/// Empties the mutable containers (which breaks any cycle), then releases every value newest
/// first: a value can only hold older ones once the containers are empty, so each release
/// frees at most one level.
fn teardown(mut built: Vec<Value>) {
    for value in &built {
        match value {
            Value::List(l) => {
                if let Ok(mut l) = l.try_borrow_mut() {
                    l.clear();
                }
            }
            Value::Dict(d) => {
                if let Ok(mut d) = d.try_borrow_mut() {
                    d.clear();
                }
            }
            Value::Object(o) => {
                if let Ok(mut o) = o.try_borrow_mut() {
                    o.state = None;
                }
            }
            _ => {}
        }
    }
    while let Some(value) = built.pop() {
        drop(value);
    }
}

/// Reads a whole pickle and returns the value `STOP` leaves on the stack.
pub(crate) fn unpickle(data: &[u8]) -> PickleResult<Unpickled> {
    let mut m = Machine {
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        built: Vec::new(),
    };
    let result = m.run();
    // The stack and memo go first, while `built` still holds every value they reach.
    let Machine {
        stack, memo, built, ..
    } = m;
    drop(stack);
    drop(memo);
    match result {
        Ok(root) => Ok(Unpickled { root, built }),
        Err(e) => {
            teardown(built);
            Err(e)
        }
    }
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    built: Vec<Value>,
}

impl Machine<'_> {
    fn run(&mut self) -> PickleResult<Value> {
        loop {
            let at = self.pos;
            let op = self.byte()?;
            self.step(op)
                .map_err(|e| format!("{e} (opcode 0x{op:02x} at byte {at})"))?;
            if op == b'.' {
                let root = self.pop()?;
                if !self.stack.is_empty() || !self.marks.is_empty() {
                    return Err(format!(
                        "the pickle stops at byte {at} with values left over"
                    ));
                }
                return Ok(root);
            }
        }
    }

    fn step(&mut self, op: u8) -> PickleResult<()> {
        match op {
            0x80 => {
                // PROTO
                let proto = self.byte()?;
                if proto > 5 {
                    return Err(format!("unknown pickle protocol {proto}"));
                }
            }
            0x95 => {
                // FRAME: a length hint only.
                self.take(8)?;
            }
            b'.' => {} // STOP: handled by the caller.
            b'(' => self.marks.push(self.stack.len()),
            b'0' => {
                self.pop()?;
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let top = self.top()?.clone();
                self.stack.push(top);
            }
            b'N' => self.stack.push(Value::None),
            0x88 => self.stack.push(Value::Bool(true)),
            0x89 => self.stack.push(Value::Bool(false)),
            b'J' => {
                let b = self.array::<4>()?;
                self.stack.push(Value::Int(i32::from_le_bytes(b).into()));
            }
            b'K' => {
                let b = self.byte()?;
                self.stack.push(Value::Int(b.into()));
            }
            b'M' => {
                let b = self.array::<2>()?;
                self.stack.push(Value::Int(u16::from_le_bytes(b).into()));
            }
            0x8a => {
                // LONG1: a little-endian two's complement integer of n bytes.
                let n = usize::from(self.byte()?);
                if n > 8 {
                    return Err(format!("an integer of {n} bytes does not fit in 64 bits"));
                }
                let bytes = self.take(n)?;
                let mut buf = if bytes.last().is_some_and(|b| b & 0x80 != 0) {
                    [0xff; 8]
                } else {
                    [0; 8]
                };
                buf[..n].copy_from_slice(bytes);
                self.stack.push(Value::Int(i64::from_le_bytes(buf)));
            }
            b'G' => {
                let x = f64::from_be_bytes(self.array::<8>()?);
                self.stack.push(Value::Float(x));
            }
            b'X' => {
                let n = u32::from_le_bytes(self.array::<4>()?) as usize;
                let s = self.string(n)?;
                self.stack.push(s);
            }
            0x8c => {
                let n = usize::from(self.byte()?);
                let s = self.string(n)?;
                self.stack.push(s);
            }
            0x8d => {
                let n = usize::try_from(u64::from_le_bytes(self.array::<8>()?))
                    .map_err(|_| "a string longer than memory".to_string())?;
                let s = self.string(n)?;
                self.stack.push(s);
            }
            b')' => self.push_built(Value::Tuple(Rc::from(Vec::new()))),
            b't' => {
                let items = self.pop_mark()?;
                self.push_built(Value::Tuple(Rc::from(items)));
            }
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                let items = self.pop_n(n)?;
                self.push_built(Value::Tuple(Rc::from(items)));
            }
            b']' => self.push_built(Value::List(Rc::default())),
            b'l' => {
                let items = self.pop_mark()?;
                self.push_built(Value::List(Rc::new(RefCell::new(items))));
            }
            b'a' => {
                let item = self.pop()?;
                self.list_top()?.borrow_mut().push(item);
            }
            b'e' => {
                let items = self.pop_mark()?;
                self.list_top()?.borrow_mut().extend(items);
            }
            b'}' => self.push_built(Value::Dict(Rc::default())),
            b'd' => {
                let items = self.pop_mark()?;
                let pairs = pairs(items)?;
                self.push_built(Value::Dict(Rc::new(RefCell::new(pairs))));
            }
            b's' => {
                let value = self.pop()?;
                let key = self.pop()?;
                self.dict_top()?.borrow_mut().push((key, value));
            }
            b'u' => {
                let items = self.pop_mark()?;
                let pairs = pairs(items)?;
                self.dict_top()?.borrow_mut().extend(pairs);
            }
            b'c' => {
                let module = self.line()?;
                let name = self.line()?;
                let global = global(&module, &name)?;
                self.stack.push(Value::Global(global));
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (Value::Str(module), Value::Str(name)) = (module, name) else {
                    return Err("STACK_GLOBAL needs two strings".into());
                };
                let global = global(&module, &name)?;
                self.stack.push(Value::Global(global));
            }
            b'q' => {
                let i = self.byte()?;
                self.memoize(i.into())?;
            }
            b'r' => {
                let i = u32::from_le_bytes(self.array::<4>()?);
                self.memoize(i)?;
            }
            0x94 => {
                let i = u32::try_from(self.memo.len())
                    .map_err(|_| "too many memoized values".to_string())?;
                self.memoize(i)?;
            }
            b'h' => {
                let i = self.byte()?;
                self.recall(i.into())?;
            }
            b'j' => {
                let i = u32::from_le_bytes(self.array::<4>()?);
                self.recall(i)?;
            }
            b'R' => {
                let args = self.pop()?;
                let callable = self.pop()?;
                let value = self.call(callable, args)?;
                self.stack.push(value);
            }
            0x81 => {
                // NEWOBJ: cls.__new__(cls, *args); only TorchScript classes, with no args.
                let args = self.pop()?;
                let cls = self.pop()?;
                match (cls, args) {
                    (Value::Global(Global::ScriptClass(class)), Value::Tuple(args))
                        if args.is_empty() =>
                    {
                        let obj = Object { class, state: None };
                        self.push_built(Value::Object(Rc::new(RefCell::new(obj))));
                    }
                    (cls, _) => {
                        return Err(format!(
                            "NEWOBJ of a {} is not allowed (only TorchScript classes)",
                            cls.type_name()
                        ))
                    }
                }
            }
            b'b' => {
                let state = self.pop()?;
                match self.top()? {
                    Value::Object(obj) => {
                        let mut obj = obj.borrow_mut();
                        if obj.state.is_some() {
                            return Err(format!("object of class `{}` built twice", obj.class));
                        }
                        obj.state = Some(state);
                    }
                    // An OrderedDict's instance attributes: a state_dict's `_metadata` (the
                    // modules' versions). Not needed.
                    Value::Dict(_) if matches!(state, Value::Dict(_) | Value::None) => {}
                    other => {
                        return Err(format!("BUILD of a {} is not allowed", other.type_name()))
                    }
                }
            }
            b'Q' => {
                let pid = self.pop()?;
                let storage = persistent_load(&pid)?;
                self.stack.push(Value::Storage(Rc::new(storage)));
            }
            _ => return Err("unsupported pickle opcode".into()),
        }
        Ok(())
    }

    fn byte(&mut self) -> PickleResult<u8> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or_else(|| format!("the pickle ends at byte {} without STOP", self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> PickleResult<&[u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.data.len())
            .ok_or_else(|| format!("the pickle ends inside a {n}-byte argument"))?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> PickleResult<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn string(&mut self, n: usize) -> PickleResult<Value> {
        let bytes = self.take(n)?;
        let s = std::str::from_utf8(bytes).map_err(|_| "a string is not UTF-8".to_string())?;
        Ok(Value::Str(Rc::from(s)))
    }

    /// A newline-terminated argument of `GLOBAL`.
    fn line(&mut self) -> PickleResult<String> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| "GLOBAL's name is not terminated".to_string())?;
        let s = std::str::from_utf8(&rest[..n])
            .map_err(|_| "GLOBAL's name is not UTF-8".to_string())?
            .to_string();
        self.pos += n + 1;
        Ok(s)
    }

    fn pop(&mut self) -> PickleResult<Value> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err("a value is taken from below a MARK".into());
        }
        self.stack
            .pop()
            .ok_or_else(|| "the stack is empty".to_string())
    }

    fn pop_n(&mut self, n: usize) -> PickleResult<Vec<Value>> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() < floor + n {
            return Err(format!("{n} values needed, fewer on the stack"));
        }
        Ok(self.stack.split_off(self.stack.len() - n))
    }

    fn pop_mark(&mut self) -> PickleResult<Vec<Value>> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| "no MARK to pop to".to_string())?;
        Ok(self.stack.split_off(mark))
    }

    fn top(&self) -> PickleResult<&Value> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err("a value is taken from below a MARK".into());
        }
        self.stack
            .last()
            .ok_or_else(|| "the stack is empty".to_string())
    }

    fn list_top(&self) -> PickleResult<List> {
        match self.top()? {
            Value::List(l) => Ok(l.clone()),
            other => Err(format!("APPEND to a {}, not a list", other.type_name())),
        }
    }

    fn dict_top(&self) -> PickleResult<Dict> {
        match self.top()? {
            Value::Dict(d) => Ok(d.clone()),
            other => Err(format!("SETITEM on a {}, not a dict", other.type_name())),
        }
    }

    fn push_built(&mut self, value: Value) {
        self.built.push(value.clone());
        self.stack.push(value);
    }

    fn memoize(&mut self, i: u32) -> PickleResult<()> {
        let top = self.top()?.clone();
        self.memo.insert(i, top);
        Ok(())
    }

    fn recall(&mut self, i: u32) -> PickleResult<()> {
        let value = self
            .memo
            .get(&i)
            .ok_or_else(|| format!("memo entry {i} was never stored"))?
            .clone();
        self.stack.push(value);
        Ok(())
    }

    /// `REDUCE`: a call of an allowed global.
    fn call(&mut self, callable: Value, args: Value) -> PickleResult<Value> {
        let Value::Tuple(args) = args else {
            return Err("REDUCE's arguments are not a tuple".into());
        };
        let Value::Global(global) = callable else {
            return Err(format!("REDUCE calls a {}", callable.type_name()));
        };
        match global {
            Global::OrderedDict if args.is_empty() => {
                let dict = Value::Dict(Rc::default());
                self.built.push(dict.clone());
                Ok(dict)
            }
            Global::RebuildTensor => rebuild_tensor(&args),
            Global::RebuildParameter => match args.first() {
                Some(Value::Tensor(t)) => Ok(Value::Tensor(t.clone())),
                _ => Err("_rebuild_parameter needs a tensor".into()),
            },
            Global::RestoreTypeTag | Global::BuildList if !args.is_empty() => Ok(args[0].clone()),
            other => Err(format!(
                "calling `{}` with these arguments is not allowed",
                other.name()
            )),
        }
    }
}

/// Pairs up `k, v, k, v, ...` as `SETITEMS` and `DICT` lay them out.
fn pairs(items: Vec<Value>) -> PickleResult<Vec<(Value, Value)>> {
    if !items.len().is_multiple_of(2) {
        return Err("a dict's items come in an odd number".into());
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

/// Resolves `module.name` to an allowed global, or refuses it by name.
fn global(module: &str, name: &str) -> PickleResult<Global> {
    Ok(match (module, name) {
        ("collections", "OrderedDict") => Global::OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensor,
        ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
        ("torch", n) if n.ends_with("Storage") && n.len() > "Storage".len() => {
            Global::StorageType(Rc::from(n))
        }
        ("torch.jit._pickle", "restore_type_tag") => Global::RestoreTypeTag,
        (
            "torch.jit._pickle",
            "build_tensorlist" | "build_intlist" | "build_doublelist" | "build_boollist",
        ) => Global::BuildList,
        (m, n) if m == "__torch__" || m.starts_with("__torch__.") => {
            Global::ScriptClass(Rc::from(format!("{m}.{n}")))
        }
        (m, n) => {
            let hint = if m.starts_with("torch.nn") || !m.starts_with("torch") {
                " (a whole pickled object, such as torch.save(model)? save model.state_dict() \
                 instead, or a TorchScript archive)"
            } else {
                ""
            };
            return Err(format!(
                "the pickle names the global `{m}.{n}`, which a weights file may not use{hint}"
            ));
        }
    })
}

/// `('storage', torch.<Type>Storage, key, location, numel)`.
fn persistent_load(pid: &Value) -> PickleResult<StorageRef> {
    let Value::Tuple(items) = pid else {
        return Err(format!(
            "a persistent id is a {}, not a tuple",
            pid.type_name()
        ));
    };
    match &items[..] {
        [Value::Str(tag), Value::Global(Global::StorageType(type_name)), Value::Str(key), Value::Str(_location), Value::Int(numel)]
            if &**tag == "storage" =>
        {
            let numel = usize::try_from(*numel)
                .map_err(|_| format!("storage `{key}` has {numel} elements"))?;
            Ok(StorageRef {
                type_name: type_name.clone(),
                key: key.clone(),
                numel,
            })
        }
        _ => Err(
            "a persistent id is not ('storage', torch.<Type>Storage, key, location, numel)".into(),
        ),
    }
}

/// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks,
/// [metadata])`.
fn rebuild_tensor(args: &[Value]) -> PickleResult<Value> {
    let [Value::Storage(storage), Value::Int(offset), size, stride, rest @ ..] = args else {
        return Err("_rebuild_tensor_v2 needs (storage, offset, size, stride, ...)".into());
    };
    if rest.len() > 3 {
        return Err("_rebuild_tensor_v2 has too many arguments".into());
    }
    let offset =
        usize::try_from(*offset).map_err(|_| format!("a tensor's storage offset is {offset}"))?;
    let size = ints(size, "size")?;
    let stride = ints(stride, "stride")?;
    if size.len() != stride.len() {
        return Err(format!(
            "a tensor has {} sizes but {} strides",
            size.len(),
            stride.len()
        ));
    }
    Ok(Value::Tensor(Rc::new(TensorRef {
        storage: storage.clone(),
        offset,
        size,
        stride,
    })))
}

/// A tuple of non-negative integers.
fn ints(v: &Value, what: &str) -> PickleResult<Vec<usize>> {
    let Value::Tuple(items) = v else {
        return Err(format!(
            "a tensor's {what} is a {}, not a tuple",
            v.type_name()
        ));
    };
    items
        .iter()
        .map(|i| match i {
            Value::Int(n) => {
                usize::try_from(*n).map_err(|_| format!("a tensor's {what} holds {n}"))
            }
            other => Err(format!("a tensor's {what} holds a {}", other.type_name())),
        })
        .collect()
}
