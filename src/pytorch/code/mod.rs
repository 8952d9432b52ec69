//! The code a TorchScript archive carries (`code/**.py`, as PyTorch's printer writes it), and
//! whether it is a given set of templates' code: the root module's `forward`, then every
//! function, method and `NamedTuple` it reaches, each compared with the template of the same
//! (demangled) name by [`compare()`]. Nothing here runs code.

mod compare;
mod lexer;
mod units;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

pub(crate) use compare::{compare, Bindings};
pub(crate) use lexer::{lex, Line, Token, I64_MIN_MAGNITUDE};
pub(crate) use units::{File, Unit};

use units::Class;

use compare::{demangle, Mismatch, ROOT};
use units::qualified_name;

use super::entries::Entries;

/// The most code read from an archive, inflated: 16 MiB. The seed's is about 15 KB and an
/// `nn.TransformerEncoderLayer`'s about 100 KB; more is not read.
const MAX_CODE_BYTES: u64 = 16 << 20;

/// The code of a TorchScript archive, and the module flags it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScriptCode {
    /// The root module's class as pickled (`__torch__.export.___torch_mangle_3.Model`).
    pub root_class: String,
    /// The text of every `code/**.py` entry, by its path under the archive's folder.
    files: BTreeMap<String, String>,
    /// Each module's `training` flag, by its path in the module tree (`""` for the root).
    pub training: BTreeMap<String, bool>,
    /// Why the code was not read, when it was not.
    unread: Option<String>,
}

impl ScriptCode {
    /// The text of every `code/**.py` entry, by its path under the archive's folder
    /// (`code/__torch__/m.py`); empty where the code was not read (see [`unread`]).
    ///
    /// [`unread`]: Self::unread
    pub(crate) fn files(&self) -> &BTreeMap<String, String> {
        &self.files
    }

    /// Why the code was not read, when it was not.
    pub(crate) fn unread(&self) -> Option<&str> {
        self.unread.as_deref()
    }

    /// Reads the code entries under `prefix` (the archive's folder).
    pub(crate) fn read(
        entries: &mut Entries,
        prefix: &str,
        root_class: &str,
        training: BTreeMap<String, bool>,
    ) -> Result<Self, String> {
        let code = format!("{prefix}code/");
        let names: Vec<String> = entries
            .names()
            .filter(|n| n.starts_with(&code) && n.ends_with(".py"))
            .map(str::to_string)
            .collect();
        let mut files = BTreeMap::new();
        let mut left = MAX_CODE_BYTES;
        let mut unread = None;
        for name in names {
            let size = entries.declared_size(&name)?;
            if size > left {
                unread = Some(format!(
                    "its code is over {MAX_CODE_BYTES} bytes, which is not read"
                ));
                files.clear();
                break;
            }
            left -= size;
            let bytes = entries.read_inflated(&name, size)?;
            let path = name[prefix.len()..].to_string();
            files.insert(path, String::from_utf8_lossy(&bytes).into_owned());
        }
        Ok(Self {
            root_class: root_class.to_string(),
            files,
            training,
            unread,
        })
    }

    /// The root module's `forward`, its file parsed (and every other file as it is needed);
    /// refused when the code was not read or has no such method.
    pub(crate) fn root(&self) -> Result<Root<'_>, String> {
        if let Some(unread) = &self.unread {
            return Err(unread.clone());
        }
        let files = Files::new(self);
        let path = module_path(split(&self.root_class).0);
        let forward = files.class(&self.root_class, |c| c.method("forward").cloned())?;
        let class = short(&self.root_class);
        let forward = forward
            .ok_or_else(|| format!("{path} does not define the root module's class {class}"))?
            .ok_or_else(|| format!("{path}: {class} has no forward method"))?;
        Ok(Root {
            code: self,
            files,
            path,
            forward,
        })
    }
}

/// The root module's `forward`, found in its archive's code.
pub(crate) struct Root<'c> {
    code: &'c ScriptCode,
    files: Files<'c>,
    path: String,
    forward: Unit,
}

impl Root<'_> {
    /// Where it is: `code/__torch__.py: Model.forward`.
    pub(crate) fn place(&self) -> String {
        format!("{}: {}.forward", self.path, short(&self.code.root_class))
    }

    /// The names of its arguments after `self`.
    pub(crate) fn arguments(&self) -> Vec<String> {
        self.forward.params().into_iter().skip(1).collect()
    }

    /// Whether it is `template` and all it reaches is in `templates` (keyed by demangled
    /// qualified name: `__torch__.torch.nn.modules.linear.Linear.forward`,
    /// `__torch__.torch.nn.utils.rnn.pack_padded_sequence`); the holes' bindings, or what
    /// differs first, as a message that names the file and line.
    pub(crate) fn check(
        self,
        template: &Unit,
        templates: &HashMap<String, Unit>,
        seed_class: &str,
    ) -> Result<Bindings, String> {
        let root_class = self.code.root_class.as_str();
        let root_key = format!("{ROOT}.forward");
        let mut bindings = Bindings::new();
        let mut queue = vec![Reached {
            path: self.path,
            class: Some(root_class.to_string()),
            unit: self.forward,
            key: root_key.clone(),
        }];
        let mut seen = HashSet::new();
        while let Some(reached) = queue.pop() {
            let identity = (
                reached.path.clone(),
                reached.class.clone(),
                reached.unit.name.clone(),
            );
            if !seen.insert(identity) {
                continue;
            }
            let is_root = reached.key == root_key;
            let expected = if is_root {
                template
            } else {
                templates.get(&reached.key).ok_or_else(|| {
                    format!(
                        "{}: {} is not code of the seed's models",
                        reached.path,
                        reached.describe()
                    )
                })?
            };
            if let Some(class) = &reached.class {
                self.files.refuse_hooks(&reached.path, class)?;
            }
            let root = is_root.then_some(root_class);
            let found = compare(&reached.unit, expected, root).map_err(|m| {
                let seed = match is_root {
                    true => format!("the seed's {seed_class}.forward"),
                    false => "the seed's".to_string(),
                };
                mismatch(&reached.path, &reached.describe(), &seed, &m)
            })?;
            for (hole, value) in found {
                match bindings.get(&hole) {
                    Some(bound) if *bound != value => {
                        return Err(format!(
                            "{}: {} sets `{hole}` to {value}, elsewhere {bound}",
                            reached.path,
                            reached.describe()
                        ))
                    }
                    _ => {
                        bindings.insert(hole, value);
                    }
                }
            }
            queue.extend(self.files.references(&reached)?);
        }
        Ok(bindings)
    }
}

/// Refuses `class` when it has forward hooks or pre-hooks, which PyTorch runs around every
/// call of its `forward` (a TorchScript archive keeps them: `__forward_hooks__ = [...]`).
fn hooks(path: &str, class: &Class) -> Result<(), String> {
    for line in &class.attributes {
        if let [Token::Ident(list), eq, open, rest @ ..] = &line.tokens[..] {
            let hooks = matches!(list.as_str(), "__forward_hooks__" | "__forward_pre_hooks__");
            if hooks
                && eq.is_op("=")
                && open.is_op("[")
                && !rest.first().is_some_and(|t| t.is_op("]"))
            {
                return Err(format!(
                    "{path}: {} has {} ({}), which PyTorch runs around its forward",
                    class.name,
                    if list == "__forward_hooks__" {
                        "forward hooks"
                    } else {
                        "forward pre-hooks"
                    },
                    line.text
                ));
            }
        }
    }
    Ok(())
}

/// The message for a unit that departs from its template.
fn mismatch(path: &str, name: &str, seed: &str, m: &Mismatch) -> String {
    let shown = |text: &str| {
        let mut text = text.to_string();
        if text.chars().count() > 120 {
            text = text.chars().take(119).collect::<String>() + "…";
        }
        format!("`{text}`")
    };
    match (&m.actual, &m.expected) {
        (Some((line, got)), Some(want)) => format!(
            "{path}: {name} is not {seed}: line {line} reads {}, where the seed's reads {}",
            shown(got),
            shown(want)
        ),
        (Some((line, got)), None) => format!(
            "{path}: {name} is not {seed}: line {line}, {}, is past the end of the seed's",
            shown(got)
        ),
        (None, want) => format!(
            "{path}: {name} is not {seed}: it ends where the seed's goes on with {}",
            shown(want.as_deref().unwrap_or_default())
        ),
    }
}

/// A unit reached from the root's `forward`.
struct Reached {
    /// Its file (`code/__torch__/torch/nn/utils/rnn.py`).
    path: String,
    /// Its class, as named in the code, for a method.
    class: Option<String>,
    unit: Unit,
    /// Its template's key: the demangled qualified name.
    key: String,
}

impl Reached {
    /// `LSTM.forward__1`, `pack_padded_sequence`.
    fn describe(&self) -> String {
        match &self.class {
            Some(class) => format!("{}.{}", short(class), self.unit.name),
            None => self.unit.name.clone(),
        }
    }
}

/// The last component of a dotted name.
fn short(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// `a.b.C` → (`a.b`, `C`).
fn split(name: &str) -> (&str, &str) {
    name.rsplit_once('.').unwrap_or(("", name))
}

/// The file that holds module `module`'s code: `__torch__.a.b` → `code/__torch__/a/b.py`.
fn module_path(module: &str) -> String {
    format!("code/{}.py", module.replace('.', "/"))
}

/// The archive's code files, each parsed once, when first needed.
struct Files<'c> {
    code: &'c ScriptCode,
    parsed: RefCell<HashMap<String, Rc<File>>>,
}

impl<'c> Files<'c> {
    fn new(code: &'c ScriptCode) -> Self {
        Self {
            code,
            parsed: RefCell::new(HashMap::new()),
        }
    }

    /// The parsed file of `module`, `None` if the archive has none.
    fn file(&self, module: &str) -> Result<Option<Rc<File>>, String> {
        let path = module_path(module);
        if let Some(file) = self.parsed.borrow().get(&path) {
            return Ok(Some(file.clone()));
        }
        let Some(text) = self.code.files.get(&path) else {
            return Ok(None);
        };
        let file = Rc::new(File::parse(
            lex(text, false).map_err(|e| format!("{path}, {e}"))?,
        ));
        self.parsed.borrow_mut().insert(path, file.clone());
        Ok(Some(file))
    }

    /// `f` of the class `qualified` names, `None` if the archive does not define it.
    fn class<T>(&self, qualified: &str, f: impl FnOnce(&Class) -> T) -> Result<Option<T>, String> {
        let (module, name) = split(qualified);
        Ok(self.file(module)?.and_then(|file| file.class(name).map(f)))
    }

    /// Refuses the class `class` names when it has forward hooks ([`hooks`]).
    fn refuse_hooks(&self, path: &str, class: &str) -> Result<(), String> {
        self.class(class, |class| hooks(path, class))?
            .unwrap_or(Ok(()))
    }

    /// The functions, methods and `NamedTuple`s `from` refers to.
    fn references(&self, from: &Reached) -> Result<Vec<Reached>, String> {
        let mut out = Vec::new();
        let cant = |what: String| format!("{}: {} {what}", from.path, from.describe());
        // Locals bound to a submodule: `rnn = self.rnn`.
        let mut submodules: HashMap<&str, &str> = HashMap::new();
        for line in &from.unit.lines {
            if let [Token::Ident(local), eq, Token::Ident(this), dot, Token::Ident(attr)] =
                &line.tokens[..]
            {
                if eq.is_op("=") && this == "self" && dot.is_op(".") {
                    submodules.insert(local, attr);
                }
            }
        }
        for line in &from.unit.lines {
            let tokens = &line.tokens;
            for i in 0..tokens.len() {
                // A qualified name: a function, or a class.
                if tokens[i].ident() == Some("__torch__") && (i == 0 || !tokens[i - 1].is_op(".")) {
                    let Some(name) = qualified_name(&tokens[i..]) else {
                        continue;
                    };
                    let (module, item) = split(&name);
                    let file = self.file(module)?;
                    if let Some(f) = file.as_ref().and_then(|f| f.function(item)) {
                        out.push(Reached {
                            path: module_path(module),
                            class: None,
                            unit: f.clone(),
                            key: demangle(&name),
                        });
                    } else if let Some(class) = file.as_ref().and_then(|f| f.class(item)) {
                        if class.is_named_tuple() {
                            out.push(Reached {
                                path: module_path(module),
                                class: None,
                                unit: class.declaration(),
                                key: demangle(&name),
                            });
                        }
                        // A module class is reached through the methods called on it.
                    } else {
                        return Err(cant(format!(
                            "refers to {name}, whose code is not in the archive"
                        )));
                    }
                }
                // A method call: `(self).m(` or `(local).m(`.
                if let [open, Token::Ident(receiver), close, dot, Token::Ident(method), call, ..] =
                    &tokens[i..]
                {
                    if !(open.is_op("(") && close.is_op(")") && dot.is_op(".") && call.is_op("(")) {
                        continue;
                    }
                    let Some(class) = &from.class else {
                        return Err(cant(format!(
                            "calls ({receiver}).{method}, outside a class"
                        )));
                    };
                    let class = if receiver == "self" {
                        class.clone()
                    } else {
                        let attr = submodules.get(receiver.as_str()).ok_or_else(|| {
                            cant(format!(
                                "calls ({receiver}).{method}, on a value scriptless cannot follow"
                            ))
                        })?;
                        self.class(class, |c| c.attribute_types.get(*attr).cloned())?
                            .flatten()
                            .ok_or_else(|| {
                                cant(format!(
                                    "calls self.{attr}.{method}, whose class is not declared"
                                ))
                            })?
                    };
                    let unit = self
                        .class(&class, |c| c.method(method).cloned())?
                        .flatten()
                        .ok_or_else(|| {
                            cant(format!(
                                "calls {}.{method}, whose code is not in the archive",
                                short(&class)
                            ))
                        })?;
                    out.push(Reached {
                        path: module_path(split(&class).0),
                        key: format!("{}.{method}", demangle(&class)),
                        class: Some(class),
                        unit,
                    });
                }
            }
        }
        Ok(out)
    }
}
