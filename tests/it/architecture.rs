//! The crate's module graph, read from its sources: no cycles between top-level modules, and
//! the pure stages never reach the modules that do I/O or drive it.
//!
//! `cargo test --test it architecture -- --nocapture` prints each module's crate-internal
//! imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The stages that compute without I/O: they must not import a module that talks to a
/// backend, reads files, or wires the stages together.
const PURE: &[&str] = &[
    "clock", "codec", "crypto", "envelope", "error", "id", "sealer",
];
const IMPURE: &[&str] = &[
    "backend",
    "config",
    "conformance",
    "integrations",
    "migrate",
    "rotation",
    "store",
];

/// Exported macros, which live at the crate root without a module.
const MACROS: &[&str] = &["store_conformance"];

type Graph = BTreeMap<String, BTreeSet<String>>;

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let graph = module_graph();
    for (module, imports) in &graph {
        println!("{module:<13} -> {}", joined(imports));
    }
    if let Some(cycle) = find_cycle(&graph) {
        panic!("module cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_pure_stages_import_nothing_that_does_io() {
    let graph = module_graph();
    for module in PURE {
        let imports = graph.get(*module).cloned().unwrap_or_default();
        let bad: Vec<&String> = imports
            .iter()
            .filter(|m| IMPURE.contains(&m.as_str()))
            .collect();
        assert!(bad.is_empty(), "{module} imports {bad:?}");
    }
    // The error types depend on the codec's (a decoding refusal keeps its category) and on
    // nothing else: every other module may use them.
    assert_eq!(joined(&graph["error"]), "codec");
    // Edges that exist, so a parser that saw nothing would fail here.
    for (from, to) in [
        ("store", "rotation"),
        ("store", "backend"),
        ("sealer", "crypto"),
    ] {
        assert!(graph[from].contains(to), "{from} -> {to} not seen");
    }
}

/// The checker sees what it must: a cycle the sources would have, it reports.
#[test]
fn the_cycle_finder_finds_a_cycle() {
    let mut graph = module_graph();
    assert!(find_cycle(&graph).is_none());
    graph
        .entry("codec".to_owned())
        .or_default()
        .insert("store".to_owned());
    let cycle = find_cycle(&graph).expect("codec -> store -> codec is a cycle");
    assert!(cycle.contains(&"codec".to_owned()) && cycle.contains(&"store".to_owned()));
}

/// Paths in comments, strings and character literals are not imports; the ones around them
/// are.
#[test]
fn only_code_is_read_for_imports() {
    let code = code_only(
        "use crate::a; // crate::b\n\
         let s = \"crate::c // \\\" crate::x\"; let q = '\"'; /* crate::d /* crate::y */ */\n\
         let r = r#\"crate::e\"#; let l: &'static str = \"\"; crate::{f, g::h}\n",
    );
    assert_eq!(names_after(&code, "crate::"), ["a", "f", "g"]);
    assert_eq!(code.lines().count(), 3, "lines are kept");
}

fn joined(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Top-level module -> the top-level modules its files name (`crate::x`, `super::x` from a file
/// directly under `src/`, or in the conformance suite, which is written as a user would,
/// `sealed_session::x`). A name the crate root re-exports counts for the module it comes
/// from; any other name fails the test rather than go unseen. Comments, doc links and string
/// literals are not imports and are skipped; so is the binary, a crate of its own, and so are
/// `super::` paths inside inline modules (test modules, whose `super` is their own file).
fn module_graph() -> Graph {
    let src = src();
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let modules: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| {
            let l = without_attributes(l.trim());
            ["pub mod ", "pub(crate) mod ", "mod "]
                .iter()
                .find_map(|p| l.strip_prefix(p))
                .map(|rest| rest.trim_end_matches(';').trim().to_owned())
        })
        .collect();
    let reexports = root_reexports(&lib, &modules);
    let mut graph = Graph::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative
            .iter()
            .next()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let module = first.trim_end_matches(".rs").to_owned();
        if !modules.contains(&module) {
            continue; // lib.rs itself, and src/bin
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = code_only(&text);
        let depth = relative.iter().count();
        let imports = graph.entry(module.clone()).or_default();
        let mut names = Vec::new();
        for root in ["crate::", "sealed_session::"] {
            names.extend(names_after(&code, root));
        }
        // `super::` as many times as the file is deep reaches the crate root (a file directly
        // under src/ is one deep), in the file's own items: lines that start at column 0.
        // Inside an inline module (`mod tests { … }`, indented) `super::` means something else.
        let file_level: String = code
            .lines()
            .filter(|l| !l.starts_with(char::is_whitespace))
            .collect::<Vec<_>>()
            .join("\n");
        names.extend(names_after(&file_level, &"super::".repeat(depth)));
        for name in names {
            let target = if modules.contains(&name) {
                name
            } else if let Some(module) = reexports.get(&name) {
                module.clone()
            } else if MACROS.contains(&name.as_str()) {
                continue;
            } else {
                panic!(
                    "{}: `{name}` is neither a module nor a root re-export",
                    file.display()
                );
            };
            if target != module {
                imports.insert(target);
            }
        }
    }
    for module in PURE.iter().chain(IMPURE) {
        assert!(graph.contains_key(*module), "no module {module} under src/");
    }
    graph
}

/// The first path segment after each `root` in `code`, including each member of a
/// `root{a, b::c}` group.
fn names_after(code: &str, root: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names = Vec::new();
    for (at, _) in code.match_indices(root) {
        // `sealed_session::` inside a longer name is not this crate.
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + root.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            // Top-level members only: split at commas outside nested braces.
            let mut level = 0;
            let mut start = 0;
            for (i, c) in group[..end].char_indices() {
                match c {
                    '{' => level += 1,
                    '}' => level -= 1,
                    ',' if level == 0 => {
                        names.push(ident(group[start..i].trim()));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            names.push(ident(group[start..end].trim()));
        } else {
            names.push(ident(rest));
        }
    }
    names.retain(|n| !n.is_empty() && n != "self");
    names
}

/// Each name `lib.rs` re-exports from a module (`pub use store::{Store, …}`), with its module.
fn root_reexports(lib: &str, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let flat = code_only(lib).replace('\n', " ");
    for statement in flat.split(';') {
        let Some(rest) = without_attributes(statement.trim()).strip_prefix("pub use ") else {
            continue;
        };
        let rest = rest.trim();
        let Some((module, items)) = rest.split_once("::") else {
            continue;
        };
        if !modules.contains(module) {
            continue;
        }
        let items = items.trim().trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            // `path::Item` or `path::Item as Alias`: the name the root exports.
            let item = item.trim();
            let item = item.rsplit_once(" as ").map_or(item, |(_, alias)| alias);
            let name = item.rsplit("::").next().unwrap_or("").trim();
            if !name.is_empty() {
                map.insert(name.to_owned(), module.to_owned());
            }
        }
    }
    map
}

/// `text` with comments removed and the contents of string and character literals emptied,
/// lines kept: what is left is the code whose paths are imports.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied();
    while let Some(c) = at(i) {
        match (c, at(i + 1)) {
            ('/', Some('/')) => {
                while at(i).is_some_and(|c| c != '\n') {
                    i += 1;
                }
            }
            ('/', Some('*')) => {
                let mut depth = 0;
                loop {
                    match (at(i), at(i + 1)) {
                        (Some('/'), Some('*')) => {
                            depth += 1;
                            i += 2;
                        }
                        (Some('*'), Some('/')) => {
                            depth -= 1;
                            i += 2;
                            if depth == 0 {
                                break;
                            }
                        }
                        (Some('\n'), _) => {
                            out.push('\n');
                            i += 1;
                        }
                        (Some(_), _) => i += 1,
                        (None, _) => break,
                    }
                }
            }
            ('r', Some('"' | '#')) if !at(i.wrapping_sub(1)).is_some_and(is_ident) => {
                // A raw string: r"…", r#"…"#, …
                let mut j = i + 1;
                let mut hashes = 0;
                while at(j) == Some('#') {
                    hashes += 1;
                    j += 1;
                }
                if at(j) != Some('"') {
                    out.push(c);
                    i += 1;
                    continue;
                }
                j += 1;
                let closing: Vec<char> = std::iter::once('"')
                    .chain((0..hashes).map(|_| '#'))
                    .collect();
                while j < chars.len() && !chars[j..].starts_with(&closing) {
                    if chars[j] == '\n' {
                        out.push('\n');
                    }
                    j += 1;
                }
                out.push_str("\"\"");
                i = j + closing.len();
            }
            ('"', _) => {
                i += 1;
                while let Some(c) = at(i) {
                    match c {
                        '\\' => i += 2,
                        '"' => break,
                        '\n' => {
                            out.push('\n');
                            i += 1;
                        }
                        _ => i += 1,
                    }
                }
                out.push_str("\"\"");
                i += 1;
            }
            ('\'', Some('\\')) => {
                // An escaped character literal: skip to its closing quote.
                i += 2;
                while at(i).is_some_and(|c| c != '\'') {
                    i += 1;
                }
                i += 1;
            }
            ('\'', Some(_)) if at(i + 2) == Some('\'') => i += 3, // 'x'
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `statement` without the `#[...]` attributes in front of it.
fn without_attributes(mut statement: &str) -> &str {
    while let Some(rest) = statement.strip_prefix("#[") {
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map_or(rest.len(), |(i, _)| i + 1);
        statement = rest[end..].trim_start();
    }
    statement
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// A cycle, as the modules along it, if the graph has one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}
