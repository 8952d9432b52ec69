//! `torch.export.save` archives (`.pt2`), as PyTorch 2.9 and later write them.
//!
//! One root folder holds `archive_format` (`pt2`), `archive_version` (`0`), the exported
//! program as JSON (`models/<name>.json`), and its weights as raw bytes: one
//! `data/weights/<path>` entry per storage (tensors that share a storage share the entry),
//! described by `data/weights/<name>_weights_config.json`, which gives each `state_dict` name
//! its entry, dtype, sizes, strides and storage offset. Tensor constants of the program are laid
//! out the same way under `data/constants/`. The layout's names are PyTorch's
//! (`torch/export/pt2_archive/constants.py`). Nothing pickled is read: a weight saved with
//! `use_pickle` (a tensor subclass), a pickled constant, and archives whose weights are one
//! pickle (the layouts before PyTorch 2.9) are refused by name. For weights, the program is
//! read only for what it says about the model (its `forward` arguments, their example shapes,
//! its operators); [`read_program`] hands the program and its tensors of every dtype to
//! `crate::script`, which runs it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

use candle_core::{DType, Tensor};
use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::entries::Entries;
use super::view::{self, Budget, View};
use super::Archive;
use crate::limits::Limits;

/// The content of `archive_format` in a `.pt2`.
const ARCHIVE_FORMAT: &str = "pt2";
/// The `archive_version` PyTorch writes and reads (`torch.export.pt2_archive.constants`).
const ARCHIVE_VERSION: &str = "0";
/// The `layout` of a dense tensor in the export schema (`Layout.Strided`).
const LAYOUT_STRIDED: i64 = 7;

/// What the exported program in a `torch.export` archive says about the model it came from,
/// for weights: its graph is compared with the seed's (see [`ArchiveCode`](crate::ArchiveCode)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportedProgram {
    /// The program's name in the archive: `model` for `torch.export.save(ep, path)`.
    pub name: String,
    /// The PyTorch that exported it (`2.15.0+cu132`), when the program records it.
    pub torch_version: Option<String>,
    /// `forward`'s arguments, in order.
    pub inputs: Vec<ProgramInput>,
    /// How many values `forward` returns.
    pub outputs: usize,
    /// The operators the graph calls, each once, in order of first use
    /// (`torch.ops.aten.linear.default`).
    pub operators: Vec<String>,
    /// The graph as code, or why it is not written out.
    graph: Result<String, String>,
}

/// One argument of an exported program's `forward`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProgramInput {
    /// The argument's name (`padded_seq`).
    pub name: String,
    /// The shape of the example it was exported with, `None` for a dimension exported as
    /// dynamic; `None` altogether when the argument is not a tensor.
    pub shape: Option<Vec<Option<usize>>>,
}

impl ExportedProgram {
    /// The graph written as code ([`graph`](super::graph)), or why it is not.
    pub(crate) fn graph(&self) -> Result<&str, &str> {
        self.graph.as_deref().map_err(String::as_str)
    }
}

/// Reads the weights (and tensor constants) of the `.pt2` archive under `root`.
pub(crate) fn read(
    entries: &mut Entries,
    root: &str,
    limits: &Limits,
) -> Result<(Archive, BTreeMap<String, Tensor>), String> {
    let (name, json, tensors) = read_parts(entries, root, limits, false)?;
    let program_path = format!("{root}models/{name}.json");
    let program = program(&name, &json).map_err(|e| format!("{program_path}: {e}"))?;
    let tensors = tensors.into_iter().map(|(k, (t, _))| (k, t)).collect();
    Ok((Archive::Export(program), tensors))
}

/// A `.pt2` archive as a program to run: its program's JSON and every tensor it holds, of any
/// dtype, by `state_dict` or constant name.
#[derive(Debug)]
pub(crate) struct ProgramArchive {
    /// The program's name (`model`).
    pub name: String,
    /// The bytes of `models/<name>.json`.
    pub json: Vec<u8>,
    /// Parameters, buffers and tensor constants, each with whether it holds bools (as `u8`).
    pub tensors: BTreeMap<String, (Tensor, bool)>,
}

/// Reads a `.pt2` archive (`torch.export.save`) as a program to run.
pub(crate) fn read_program(bytes: &[u8], limits: &Limits) -> Result<ProgramArchive, String> {
    let mut entries = Entries::open(bytes)?;
    let root = match &super::top(&entries, "archive_format")[..] {
        [root] => root.clone(),
        [] => return Err("not a torch.export archive (no archive_format)".into()),
        _ => return Err("the archive holds more than one archive_format".into()),
    };
    let (name, json, tensors) = read_parts(&mut entries, &root, limits, true)?;
    Ok(ProgramArchive {
        name,
        json,
        tensors,
    })
}

/// The program's name and JSON, and its tensors (each with whether it holds bools): floating
/// point only unless `any_dtype`.
#[allow(clippy::type_complexity)]
fn read_parts(
    entries: &mut Entries,
    root: &str,
    limits: &Limits,
    any_dtype: bool,
) -> Result<(String, Vec<u8>, BTreeMap<String, (Tensor, bool)>), String> {
    check_format(entries, root)?;
    let name = program_name(entries, root)?;
    let program_path = format!("{root}models/{name}.json");
    let json = entries.read(&program_path)?;
    for legacy in [
        format!("{root}data/weights/{name}.pt"),
        format!("{root}data/constants/{name}.pt"),
    ] {
        if entries.contains(&legacy) {
            let written_by = match torch_version(&json) {
                Some(v) => format!("torch {v}"),
                None => "a PyTorch that does not record its version".to_string(),
            };
            return Err(format!(
                "a torch.export archive written by {written_by} in the layout before PyTorch \
                 2.9, whose weights are one pickle ({legacy}), which is not read: load it with \
                 torch.export.load and save it again with PyTorch 2.9 or later, or save its \
                 state_dict with safetensors"
            ));
        }
    }
    let mut storages = Storages {
        budget: Budget::new(limits, entries.file_len()),
        entries,
        dtypes: HashMap::new(),
        any_dtype,
    };
    let mut tensors = BTreeMap::new();
    let configs = [
        (
            format!("{root}data/weights/"),
            format!("{name}_weights_config.json"),
        ),
        (
            format!("{root}data/constants/"),
            format!("{name}_constants_config.json"),
        ),
    ];
    for (dir, config) in configs {
        let path = format!("{dir}{config}");
        if !storages.entries.contains(&path) {
            return Err(format!("{path} is missing"));
        }
        let payloads =
            payload_config(&storages.entries.read(&path)?).map_err(|e| format!("{path}: {e}"))?;
        for (fqn, payload) in payloads {
            let tensor = storages
                .tensor(&dir, &payload)
                .map_err(|e| format!("tensor `{fqn}` ({path}): {e}"))?;
            if tensors.insert(fqn.clone(), tensor).is_some() {
                return Err(format!("tensor `{fqn}` is both a weight and a constant"));
            }
        }
    }
    Ok((name, json, tensors))
}

/// The `torch_version` a program records, if it does.
fn torch_version(json: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Version {
        torch_version: Option<String>,
    }
    serde_json::from_slice::<Version>(json).ok()?.torch_version
}

/// Refuses an archive whose `archive_format` is not `pt2` or whose `archive_version` is not
/// the one PyTorch reads, and a big-endian one.
fn check_format(entries: &mut Entries, root: &str) -> Result<(), String> {
    let format = entries.read(&format!("{root}archive_format"))?;
    if format != ARCHIVE_FORMAT.as_bytes() {
        return Err(format!(
            "archive_format is `{}`, not `{ARCHIVE_FORMAT}`",
            String::from_utf8_lossy(&format)
        ));
    }
    let version_path = format!("{root}archive_version");
    if !entries.contains(&version_path) {
        return Err(format!("a .pt2 archive without {version_path}"));
    }
    let version = entries.read(&version_path)?;
    if version != ARCHIVE_VERSION.as_bytes() {
        return Err(format!(
            "archive_version is `{}`; PyTorch 2.9 to 2.15 write and read version \
             {ARCHIVE_VERSION} only",
            String::from_utf8_lossy(&version)
        ));
    }
    let byteorder = format!("{root}byteorder");
    if entries.contains(&byteorder) {
        super::check_byteorder(&entries.read(&byteorder)?)?;
    }
    Ok(())
}

/// The name of the archive's one exported program, from `models/<name>.json`.
fn program_name(entries: &Entries, root: &str) -> Result<String, String> {
    let models = format!("{root}models/");
    let mut names: Vec<&str> = entries
        .names()
        .filter_map(|n| n.strip_prefix(&models)?.strip_suffix(".json"))
        .filter(|n| !n.is_empty() && !n.contains('/'))
        .collect();
    names.sort_unstable();
    match names[..] {
        [name] => Ok(name.to_string()),
        [] if entries
            .names()
            .any(|n| n.starts_with(&format!("{root}data/aotinductor/"))) =>
        {
            Err("an AOTInductor package (compiled code, from \
                 torch._inductor.aoti_compile_and_package), which holds no exported program: \
                 save the program itself with torch.export.save"
                .into())
        }
        [] => Err(format!(
            "a .pt2 archive without an exported program ({models}<name>.json)"
        )),
        _ => Err(format!(
            "the archive holds {} exported programs ({}); scriptless reads an archive of one",
            names.len(),
            names.join(", ")
        )),
    }
}

/// The archive's storages, the dtype each is read as, and the budget the tensors built from
/// them share.
struct Storages<'e, 'b> {
    entries: &'e mut Entries<'b>,
    budget: Budget,
    /// Each storage entry read so far, with the dtype its first tensor gave it.
    dtypes: HashMap<String, DType>,
    /// Whether tensors of any dtype are read (a program's), or floating point only (weights).
    any_dtype: bool,
}

impl Storages<'_, '_> {
    /// The tensor `payload` describes, its storage an entry of `dir`.
    fn tensor(&mut self, dir: &str, payload: &PayloadMeta) -> Result<(Tensor, bool), String> {
        if payload.use_pickle {
            return Err(format!(
                "is pickled ({}, use_pickle: a tensor subclass or a custom object), which is \
                 not read; export plain tensors",
                payload.path_name
            ));
        }
        let meta = payload
            .tensor_meta
            .as_ref()
            .ok_or("has no tensor_meta, so it is not a tensor")?;
        let (dtype, bool) = if self.any_dtype {
            any_dtype(meta.dtype)?
        } else {
            (dtype(meta.dtype)?, false)
        };
        if let Some(layout) = meta.layout.filter(|&l| l != LAYOUT_STRIDED) {
            return Err(format!(
                "has layout {layout}, not a dense strided tensor (layout {LAYOUT_STRIDED})"
            ));
        }
        let size = sizes(&meta.sizes, "size")?;
        let stride = sizes(&meta.strides, "stride")?;
        let offset = meta.storage_offset.size("storage offset")?;
        let bytes = self.storage(dir, &payload.path_name, dtype)?;
        let view = View {
            offset,
            size: &size,
            stride: &stride,
        };
        Ok((view::tensor(&bytes, dtype, view, &mut self.budget)?, bool))
    }

    /// The bytes of storage entry `dir/path`, read as elements of `dtype`: a whole number of
    /// them, and the dtype every tensor of that storage has.
    fn storage(&mut self, dir: &str, path: &str, dtype: DType) -> Result<Rc<Vec<u8>>, String> {
        if path.is_empty() || path.contains(['/', '\\']) || path == "." || path == ".." {
            return Err(format!("its path_name `{path}` is not a file name"));
        }
        let name = format!("{dir}{path}");
        match self.dtypes.get(&name) {
            Some(&stored) if stored != dtype => {
                return Err(format!(
                    "it reads {name} as {dtype:?}, which another tensor reads as {stored:?}"
                ))
            }
            Some(_) => {}
            None if !self.entries.contains(&name) => {
                return Err(format!("its storage {name} is missing"))
            }
            None => {
                self.dtypes.insert(name.clone(), dtype);
            }
        }
        let bytes = self.entries.storage(&name)?;
        let elem = dtype.size_in_bytes();
        if bytes.len() % elem != 0 {
            return Err(format!(
                "{name} holds {} bytes, not a whole number of {dtype:?} elements ({elem} bytes)",
                bytes.len()
            ));
        }
        Ok(bytes)
    }
}

/// The candle dtype of export-schema `ScalarType` `code`; weights are floating point.
fn dtype(code: i64) -> Result<DType, String> {
    let other = match code {
        6 => return Ok(DType::F16),
        7 => return Ok(DType::F32),
        8 => return Ok(DType::F64),
        13 => return Ok(DType::BF16),
        1 => "uint8",
        2 => "int8",
        3 => "int16",
        4 => "int32",
        5 => "int64",
        9 => "complex32",
        10 => "complex64",
        11 => "complex128",
        12 => "bool",
        28 => "uint16",
        29..=33 => "a float8 type",
        34 => "uint32",
        35 => "uint64",
        _ => return Err(format!("has dtype code {code}, which is not a torch dtype")),
    };
    Err(format!(
        "has dtype {other}; weights must be float16, bfloat16, float32 or float64"
    ))
}

/// The candle dtype of export-schema `ScalarType` `code` for a program's tensor, and whether it
/// holds bools (as `u8`).
fn any_dtype(code: i64) -> Result<(DType, bool), String> {
    Ok(match code {
        1 => (DType::U8, false),
        3 => (DType::I16, false),
        4 => (DType::I32, false),
        5 => (DType::I64, false),
        12 => (DType::U8, true),
        _ => (
            dtype(code).map_err(|_| match code {
                2 => "has dtype int8, which scriptless does not hold".to_string(),
                _ => format!("has dtype code {code}, which scriptless does not hold"),
            })?,
            false,
        ),
    })
}

/// An export-schema `SymInt`: `{"as_int": n}`, or a symbolic expression (`as_expr`), which is
/// read as none.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SymInt {
    as_int: Option<i64>,
}

impl SymInt {
    /// The integer as a size: refused when negative or symbolic; `what` names it in errors.
    fn size(&self, what: &str) -> Result<usize, String> {
        match self.as_int {
            Some(n) => usize::try_from(n).map_err(|_| format!("has {what} {n}, not a size")),
            None => Err(format!(
                "has a {what} that is not an integer: weights with symbolic shapes are not read"
            )),
        }
    }
}

/// The sizes of a list of `SymInt`s.
fn sizes(values: &[SymInt], what: &str) -> Result<Vec<usize>, String> {
    values.iter().map(|v| v.size(what)).collect()
}

/// One entry of a payload config (`schema.PayloadMeta`).
#[derive(Debug, Deserialize)]
struct PayloadMeta {
    path_name: String,
    #[serde(default)]
    use_pickle: bool,
    tensor_meta: Option<TensorMeta>,
}

/// The tensor fields of a `schema.TensorMeta` that say where its elements are.
#[derive(Debug, Deserialize)]
struct TensorMeta {
    dtype: i64,
    sizes: Vec<SymInt>,
    strides: Vec<SymInt>,
    storage_offset: SymInt,
    layout: Option<i64>,
}

/// A payload config, `{"config": {name: PayloadMeta, ...}}`, in file order; a name given twice
/// is refused (a JSON map would keep the last silently).
fn payload_config(bytes: &[u8]) -> Result<Vec<(String, PayloadMeta)>, String> {
    #[derive(Deserialize)]
    struct Config {
        config: Unique,
    }
    struct Unique(Vec<(String, PayloadMeta)>);
    impl<'de> Deserialize<'de> for Unique {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Entries;
            impl<'de> Visitor<'de> for Entries {
                type Value = Unique;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a map from tensor names to payloads")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
                    let mut out: Vec<(String, PayloadMeta)> = Vec::new();
                    let mut seen = HashSet::new();
                    while let Some((name, meta)) = map.next_entry::<String, PayloadMeta>()? {
                        if !seen.insert(name.clone()) {
                            return Err(serde::de::Error::custom(format!(
                                "tensor `{name}` is given twice"
                            )));
                        }
                        out.push((name, meta));
                    }
                    Ok(Unique(out))
                }
            }
            d.deserialize_map(Entries)
        }
    }
    let config: Config = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    Ok(config.config.0)
}

/// The parts of `models/<name>.json` (`schema.ExportedProgram`) that describe the model. Lists
/// are read element by element and only what is needed is kept ([`Kept`]), and the graph's
/// `tensor_values` only for the user's inputs ([`example_shapes`]), so that however the program
/// is padded, it takes about its own size in memory.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ProgramJson<'a> {
    #[serde(borrow)]
    graph_module: GraphModuleJson<'a>,
    torch_version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GraphModuleJson<'a> {
    #[serde(borrow)]
    graph: GraphJson<'a>,
    signature: SignatureJson,
    module_call_graph: Kept<RootCall>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GraphJson<'a> {
    nodes: Kept<Target>,
    #[serde(borrow)]
    tensor_values: Option<&'a RawValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SignatureJson {
    input_specs: Kept<UserInput>,
    output_specs: Kept<UserOutput>,
}

/// A JSON list read element by element, keeping what [`Keep::keep`] returns for each.
#[derive(Debug)]
struct Kept<K: Keep>(Vec<K::Out>);

impl<K: Keep> Default for Kept<K> {
    fn default() -> Self {
        Kept(Vec::new())
    }
}

/// What to keep of each element of a [`Kept`] list.
trait Keep {
    /// An element as read.
    type Item: DeserializeOwned;
    /// What is kept of it.
    type Out: std::fmt::Debug;
    fn keep(item: Self::Item) -> Option<Self::Out>;
}

impl<'de, K: Keep> Deserialize<'de> for Kept<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Elements<K>(std::marker::PhantomData<K>);
        impl<'de, K: Keep> Visitor<'de> for Elements<K> {
            type Value = Kept<K>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kept<K>, A::Error> {
                let mut kept = Vec::new();
                while let Some(item) = seq.next_element::<K::Item>()? {
                    kept.extend(K::keep(item));
                }
                Ok(Kept(kept))
            }
        }
        d.deserialize_seq(Elements(std::marker::PhantomData))
    }
}

/// A graph node's operator (`torch.ops.aten.linear.default`).
#[derive(Debug)]
struct Target;

impl Keep for Target {
    type Item = NodeJson;
    type Out = String;
    fn keep(node: NodeJson) -> Option<String> {
        Some(node.target)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NodeJson {
    target: String,
}

/// An input spec that is the user's (`user_input`), as the graph's name of its tensor (`None`
/// for an argument that is not a tensor); the parameters' specs are dropped.
#[derive(Debug)]
struct UserInput;

impl Keep for UserInput {
    type Item = InputSpecJson;
    type Out = Option<String>;
    fn keep(spec: InputSpecJson) -> Option<Option<String>> {
        Some(spec.user_input?.arg.as_tensor.map(|t| t.name))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct InputSpecJson {
    user_input: Option<UserInputJson>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UserInputJson {
    arg: ArgJson,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ArgJson {
    as_tensor: Option<NameJson>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NameJson {
    name: String,
}

/// An output spec that is the user's (`user_output`); nothing of it is kept but that it is.
#[derive(Debug)]
struct UserOutput;

impl Keep for UserOutput {
    type Item = OutputSpecJson;
    type Out = ();
    fn keep(spec: OutputSpecJson) -> Option<()> {
        spec.user_output.map(|_| ())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OutputSpecJson {
    user_output: Option<IgnoredAny>,
}

/// The root module's call (`fqn` empty), as `forward`'s argument names.
#[derive(Debug)]
struct RootCall;

impl Keep for RootCall {
    type Item = ModuleCallJson;
    type Out = Vec<String>;
    fn keep(call: ModuleCallJson) -> Option<Vec<String>> {
        call.fqn
            .is_empty()
            .then_some(call.signature?.forward_arg_names)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ModuleCallJson {
    fqn: String,
    signature: Option<ModuleSignatureJson>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ModuleSignatureJson {
    forward_arg_names: Vec<String>,
}

/// The example shapes of the graph's tensors named in `wanted`, from its `tensor_values` map
/// (each `{"sizes": [SymInt, ...], ...}`); the others are skipped unread.
fn example_shapes(
    tensor_values: &RawValue,
    wanted: &HashSet<&str>,
) -> serde_json::Result<HashMap<String, Vec<Option<usize>>>> {
    struct Shapes<'w>(&'w HashSet<&'w str>);
    impl<'de> DeserializeSeed<'de> for Shapes<'_> {
        type Value = HashMap<String, Vec<Option<usize>>>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for Shapes<'_> {
        type Value = HashMap<String, Vec<Option<usize>>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map from tensor names to tensor metadata")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            #[derive(Deserialize)]
            struct TensorValue {
                #[serde(default)]
                sizes: Vec<SymInt>,
            }
            let mut shapes = HashMap::new();
            while let Some(name) = map.next_key::<String>()? {
                if self.0.contains(name.as_str()) {
                    let value: TensorValue = map.next_value()?;
                    let shape = value.sizes.iter().map(|s| s.size("size").ok()).collect();
                    shapes.insert(name, shape);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(shapes)
        }
    }
    Shapes(wanted).deserialize(&mut serde_json::Deserializer::from_str(tensor_values.get()))
}

/// What program `name` (the bytes of `models/<name>.json`) says about the model.
fn program(name: &str, bytes: &[u8]) -> Result<ExportedProgram, String> {
    let json: ProgramJson = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let graph = &json.graph_module.graph;
    // The user's inputs, by their names in the graph (the parameters are inputs too).
    let user_inputs = &json.graph_module.signature.input_specs.0;
    let wanted: HashSet<&str> = user_inputs.iter().flatten().map(String::as_str).collect();
    let shapes = match graph.tensor_values {
        Some(values) => example_shapes(values, &wanted)
            .map_err(|e| format!("graph_module.graph.tensor_values: {e}"))?,
        None => HashMap::new(),
    };
    let forward_names = json
        .graph_module
        .module_call_graph
        .0
        .first()
        .filter(|names| names.len() == user_inputs.len());
    let inputs = user_inputs
        .iter()
        .enumerate()
        .map(|(i, graph_name)| {
            let shape = graph_name.as_ref().and_then(|n| shapes.get(n)).cloned();
            let name = match (forward_names, graph_name) {
                (Some(names), _) => names[i].clone(),
                (None, Some(n)) => n.clone(),
                (None, None) => format!("argument {i}"),
            };
            ProgramInput { name, shape }
        })
        .collect::<Vec<_>>();
    let names: Vec<String> = inputs.iter().map(|i| i.name.clone()).collect();
    let mut seen = HashSet::new();
    let operators = graph
        .nodes
        .0
        .iter()
        .filter(|target| seen.insert(target.as_str()))
        .cloned()
        .collect();
    Ok(ExportedProgram {
        name: name.to_string(),
        torch_version: json.torch_version,
        inputs,
        outputs: json.graph_module.signature.output_specs.0.len(),
        operators,
        graph: super::graph::render(bytes, &names),
    })
}
