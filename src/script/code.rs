//! Every class and function of an archive's code, parsed and indexed by qualified name
//! (`__torch__.torch.nn.modules.rnn.LSTM`, `__torch__.torch.nn.utils.rnn.pack_padded_sequence`).

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use super::ast::{Class, Function};
use super::parse::parse;
use crate::error::Result;

/// A function with the file it is in.
#[derive(Debug)]
pub(crate) struct Located<T> {
    pub item: T,
    pub file: Arc<str>,
}

/// The parsed code of an archive.
#[derive(Debug, Default)]
pub(crate) struct Code {
    pub classes: HashMap<String, Located<Class>>,
    pub functions: HashMap<String, Located<Function>>,
}

impl Code {
    /// Parses every file (`code/__torch__/m.py` → its text).
    pub(crate) fn parse<'a>(files: impl Iterator<Item = (&'a String, &'a String)>) -> Result<Self> {
        let mut code = Code::default();
        for (path, text) in files {
            let module = parse(path, text)?;
            for class in module.classes {
                let name = format!("{}.{}", module.name, class.name);
                code.classes.insert(
                    name,
                    Located {
                        item: class,
                        file: module.path.clone(),
                    },
                );
            }
            for function in module.functions {
                let name = format!("{}.{}", module.name, function.name);
                code.functions.insert(
                    name,
                    Located {
                        item: function,
                        file: module.path.clone(),
                    },
                );
            }
        }
        Ok(code)
    }

    /// The method `name` of class `class`.
    pub(crate) fn method(&self, class: &str, name: &str) -> Option<(&Function, &Arc<str>)> {
        let c = self.classes.get(class)?;
        c.item
            .methods
            .iter()
            .find(|m| m.name == name)
            .map(|m| (m, &c.file))
    }
}
