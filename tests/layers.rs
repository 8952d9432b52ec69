//! The library's layers, as `docs/ARCHITECTURE.md` tables them, are the ones its code keeps: a
//! module of `src/` may use modules of its own layer or below, never above, and no modules use
//! each other in a circle. Read from the `crate::` paths of every `src/` file (imports and inline
//! paths; `super::` chains that climb to the crate root count too), so a new upward import fails
//! here, naming the file, the line and the two layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The table's rows: each library module (a file `src/NAME.rs` or a folder `src/NAME/`) with
/// its layer. Rows sit between the `<!-- layers -->` marker and the next blank line; the first
/// cell is the layer's number, and the backquoted bare names of the second are its modules
/// (paths such as `cli/` or `capi/` name the doors, other crates that use the public API only).
fn layer_table(architecture: &str) -> Result<BTreeMap<String, usize>, String> {
    let start = architecture
        .find("<!-- layers -->")
        .ok_or("docs/ARCHITECTURE.md has no `<!-- layers -->` marker before its layer table")?;
    let mut layers = BTreeMap::new();
    let rows = architecture[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty());
    for row in rows.filter(|r| r.starts_with('|')) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let Some(Ok(layer)) = cells.get(1).map(|c| c.parse::<usize>()) else {
            continue; // the header and the separator
        };
        let modules = cells.get(2).ok_or(format!("row without modules: {row}"))?;
        for name in modules.split('`').skip(1).step_by(2) {
            if name.contains('/') || name.contains('.') {
                continue;
            }
            if layers.insert(name.to_string(), layer).is_some() {
                return Err(format!("`{name}` is in the layer table twice"));
            }
        }
    }
    Ok(layers)
}

/// Every `.rs` file of `src/` with its text, by path relative to `src/`.
fn sources(src: &Path) -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, src: &Path, out: &mut Vec<(PathBuf, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, src, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path.strip_prefix(src).unwrap().to_path_buf(), text));
            }
        }
    }
    let mut out = Vec::new();
    walk(src, src, &mut out);
    out
}

/// The library module a file of `src/` belongs to (`weights` for `weights/seed_code.rs`), and
/// how many `super::` climb from it to the crate root. `None` for the crate roots and the
/// binary (`lib.rs`, `main.rs`, `cli/`).
fn module_of(path: &Path) -> Option<(String, usize)> {
    let parts: Vec<String> = path
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let top = parts[0].trim_end_matches(".rs").to_string();
    if ["lib", "main", "cli"].contains(&top.as_str()) {
        return None;
    }
    let file = parts.last()?;
    // `a.rs` and `a/mod.rs` are module `a`, one level below the root; `a/b.rs` is `a::b`.
    let depth = parts.len() - usize::from(file == "mod.rs");
    Some((top, depth))
}

/// The top-level modules a line of code names: `crate::x`, `crate::{x, y::z}`, and `super::`
/// chains that reach the crate root, counted from the file (an inline `mod` within it needs one
/// `super::` more, which this does not see). Comments are dropped first.
fn named_modules(line: &str, depth: usize) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    let mut out = Vec::new();
    let mut push_after = |rest: &str| {
        let rest = rest.trim_start();
        let names: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => group.split([',', '}']).collect(),
            None => vec![rest],
        };
        for name in names {
            let ident: String = name
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !ident.is_empty() && ident != "self" {
                out.push(ident);
            }
        }
    };
    for (i, _) in code.match_indices("crate::") {
        let before = code[..i].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `extern crate` never has `::`; this is `my_crate::`
        }
        push_after(&code[i + "crate::".len()..]);
    }
    let climb = "super::".repeat(depth);
    for (i, _) in code.match_indices(&climb) {
        let before = code[..i].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        push_after(&code[i + climb.len()..]);
    }
    out
}

/// What breaks the layers: a module used from a lower layer, a module missing from the table
/// (or tabled but gone), a name used from the crate root instead of its module, and circles.
fn violations(files: &[(PathBuf, String)], layers: &BTreeMap<String, usize>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut modules = BTreeSet::new();
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in files {
        let Some((module, depth)) = module_of(path) else {
            continue;
        };
        modules.insert(module.clone());
        let Some(&own) = layers.get(&module) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            for used in named_modules(line, depth) {
                let at = format!("src/{}:{}", path.display(), n + 1);
                if used == module {
                    continue;
                }
                match layers.get(&used) {
                    Some(&layer) if layer > own => problems.push(format!(
                        "{at}: `{module}` (layer {own}) uses `{used}` (layer {layer}), a layer \
                         above it"
                    )),
                    Some(_) => {
                        uses.entry(module.clone()).or_default().insert(used);
                    }
                    None if used.starts_with(char::is_uppercase) => problems.push(format!(
                        "{at}: `{module}` names `crate::{used}`, a re-export of lib.rs; use the \
                         module that defines it"
                    )),
                    None => {}
                }
            }
        }
    }
    for module in &modules {
        if !layers.contains_key(module) {
            problems.push(format!("`{module}` is in no layer of docs/ARCHITECTURE.md"));
        }
    }
    for tabled in layers.keys() {
        if !modules.contains(tabled) {
            problems.push(format!("`{tabled}` is tabled, but src/ has no such module"));
        }
    }
    // A circle within a layer: take away the modules that use none of those left, until none
    // can go; what stays uses itself through a circle (or reaches one).
    let mut left = modules.clone();
    loop {
        let free: Vec<String> = left
            .iter()
            .filter(|m| {
                uses.get(*m)
                    .is_none_or(|u| u.iter().all(|x| !left.contains(x)))
            })
            .cloned()
            .collect();
        if free.is_empty() {
            break;
        }
        for module in free {
            left.remove(&module);
        }
    }
    if !left.is_empty() {
        let circle: Vec<&str> = left.iter().map(String::as_str).collect();
        problems.push(format!(
            "these modules use each other in a circle: {circle:?}"
        ));
    }
    problems
}

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read_layers() -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(repository().join("docs/ARCHITECTURE.md")).unwrap();
    layer_table(&text).unwrap()
}

#[test]
fn every_module_uses_only_its_layer_and_those_below() {
    let problems = violations(&sources(&repository().join("src")), &read_layers());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn an_upward_import_or_a_circle_is_found() {
    let layers = read_layers();
    let files = sources(&repository().join("src"));
    let plant = |path: &str, line: &str| {
        let mut planted = files.clone();
        let (_, text) = planted
            .iter_mut()
            .find(|(p, _)| p == Path::new(path))
            .unwrap();
        text.push_str(line);
        violations(&planted, &layers)
    };
    // `kind` is a leaf; `models` is layers above it.
    let found = plant("kind.rs", "\nuse crate::models::Model;\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("src/kind.rs:"), "{found:?}");
    assert!(
        found[0].contains("`kind` (layer 0) uses `models`"),
        "{found:?}"
    );
    // Inline paths, groups and `super::` chains to the root count too.
    assert_eq!(
        plant("weights/seed_code.rs", "\nfn f() { crate::lstm::x() }\n").len(),
        1
    );
    assert_eq!(
        plant("request/npz.rs", "\nuse crate::{error, models};\n").len(),
        1
    );
    assert_eq!(
        plant("request/npz.rs", "\nuse super::super::models;\n").len(),
        1
    );
    assert_eq!(plant("request/npz.rs", "\nuse super::lines;\n").len(), 0);
    assert_eq!(
        plant("request/npz.rs", "\n// crate::models in a comment\n").len(),
        0
    );
    // A name from the crate root hides where it lives.
    assert_eq!(plant("lstm/mod.rs", "\nuse crate::Model;\n").len(), 1);
    // Two modules of one layer that use each other: `limits` already uses `error`.
    let circle = plant("error.rs", "\nuse crate::limits::Limits;\n");
    assert!(circle.iter().any(|p| p.contains("circle")), "{circle:?}");
}
