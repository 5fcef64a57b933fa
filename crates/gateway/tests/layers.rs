//! The layout rules of ARCHITECTURE.md, checked on the source text of every
//! crate in the workspace, so a change that breaks them fails here instead of
//! slowly growing back into one import cycle:
//!
//! - no import cycle between source files (`mod` declarations aside);
//! - in the gateway, no import points back up the layer order;
//! - no source file over 700 lines, and each opens with a `//!` comment;
//! - `mod.rs` files under `src/` only declare modules (and re-export for
//!   other crates).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 700;

/// The gateway's layers, lowest first: a module may import from its own rank
/// or a lower one. The longest matching prefix decides a module's rank.
const GATEWAY_LAYERS: &[(&str, u8)] = &[
    ("core", 0),
    ("metering", 1),
    ("tenancy", 1),
    ("events::catalog", 1),
    ("events::keys", 1),
    ("events::marks", 1),
    ("webhooks::store", 1),
    ("webhooks::signing", 1),
    ("webhooks::examples", 1),
    ("webhooks::deliveries", 2),
    ("webhooks::claims", 2),
    ("events::outbox", 3),
    ("events::wake", 3),
    ("accounts", 4),
    ("fansly", 5),
    ("media", 5),
    ("broadcasts", 5),
    ("exports", 5),
    ("webhooks::endpoints", 5),
    ("workers", 6),
    ("http", 7),
    ("startup", 8),
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` → `a::b`; `lib.rs`/`main.rs` → ``.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

/// The text that counts for imports: line comments and the trailing
/// `#[cfg(test)]` module (whose `super::*` is the file itself) removed.
fn code_of(text: &str) -> String {
    let body = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    body.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands `a::{b, c::{d}}` into `a::b`, `a::c::d`.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    match tree.find('{') {
        None => out.push(format!("{prefix}{tree}")),
        Some(open) => {
            let head = &tree[..open];
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let mut depth = 0;
            let mut start = 0;
            for (i, ch) in inner.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&format!("{prefix}{head}"), &inner[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            if !inner[start..].trim().is_empty() {
                expand(&format!("{prefix}{head}"), &inner[start..], out);
            }
        }
    }
}

/// Every `crate::…` path the code names, as module-path segments.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut raw = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        let after = &rest[i + "crate::".len()..];
        // `$crate::` and identifiers ending in `crate` are not ours.
        if matches!(before, Some(c) if c.is_alphanumeric() || c == '_' || c == '$') {
            rest = after;
            continue;
        }
        if after.starts_with('{') || after.contains("::{") && is_grouped(after) {
            let end = matching_end(after);
            expand("", &after[..end], &mut raw);
            rest = &after[end..];
        } else {
            let end = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(after.len());
            raw.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    raw.iter()
        .map(|p| {
            p.split("::")
                .map(|s| s.split_whitespace().next().unwrap_or("").to_owned())
                .filter(|s| !s.is_empty() && s != "self")
                .collect()
        })
        .collect()
}

/// Whether the path right at the start of `s` opens a `{…}` group.
fn is_grouped(s: &str) -> bool {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(s.len());
    s[end..].starts_with('{')
}

fn matching_end(s: &str) -> usize {
    let mut depth = 0;
    for (i, ch) in s.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    s.len()
}

struct Crate {
    name: String,
    /// Module path → file.
    files: BTreeMap<String, PathBuf>,
    /// Module path → modules it imports from (files, not `mod` children).
    edges: BTreeMap<String, BTreeSet<String>>,
}

fn load(name: &str, dir: &str) -> Crate {
    let src = workspace().join(dir).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files: BTreeMap<String, PathBuf> = paths
        .into_iter()
        .filter(|p| !p.ends_with("main.rs") || dir.ends_with("gateway"))
        .map(|p| (module_of(&src, &p), p))
        .collect();
    let mut edges = BTreeMap::new();
    for (module, path) in &files {
        let code = code_of(&std::fs::read_to_string(path).unwrap());
        let mut to = BTreeSet::new();
        if !path.ends_with("main.rs") {
            for segments in crate_paths(&code) {
                // The longest prefix that is a module file.
                let target = (1..=segments.len())
                    .rev()
                    .map(|n| segments[..n].join("::"))
                    .find(|m| files.contains_key(m));
                if let Some(target) = target {
                    if &target != module && !module.starts_with(&format!("{target}::")) {
                        to.insert(target);
                    }
                }
            }
        }
        edges.insert(module.clone(), to);
    }
    Crate {
        name: name.to_owned(),
        files,
        edges,
    }
}

fn crates() -> Vec<Crate> {
    vec![
        load("fansly-gateway", "crates/gateway"),
        load("fansly-sandbox", "crates/fansly-sandbox"),
        load("fansly-upstream", "crates/fansly-upstream"),
    ]
}

/// A cycle through `start`, if any (depth-first search).
fn cycle(c: &Crate) -> Option<Vec<String>> {
    fn visit(
        c: &Crate,
        node: &str,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in c.edges.get(node).into_iter().flatten() {
            if let Some(found) = visit(c, next, stack, done) {
                return Some(found);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in c.edges.keys() {
        if let Some(found) = visit(c, node, &mut Vec::new(), &mut done) {
            return Some(found);
        }
    }
    None
}

#[test]
fn no_import_cycle_between_source_files() {
    for c in crates() {
        assert!(c.files.len() > 5, "{}: found no sources", c.name);
        if let Some(found) = cycle(&c) {
            panic!("{}: import cycle {}", c.name, found.join(" → "));
        }
    }
}

fn rank(module: &str) -> Option<u8> {
    GATEWAY_LAYERS
        .iter()
        .filter(|(prefix, _)| module == *prefix || module.starts_with(&format!("{prefix}::")))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, r)| *r)
}

#[test]
fn gateway_imports_point_down_the_layers() {
    let c = load("fansly-gateway", "crates/gateway");
    let mut wrong = Vec::new();
    for (from, targets) in &c.edges {
        if from.is_empty() {
            continue; // lib.rs / main.rs: the crate root re-exports.
        }
        if targets.is_empty() {
            continue;
        }
        let from_rank = rank(from).unwrap_or_else(|| panic!("{from} is in no layer"));
        for to in targets {
            let to_rank = rank(to).unwrap_or_else(|| panic!("{to} is in no layer"));
            if to_rank > from_rank {
                wrong.push(format!(
                    "{from} (layer {from_rank}) imports {to} (layer {to_rank})"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports pointing up:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn files_are_short_and_say_what_they_own() {
    let root = workspace().join("crates");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.retain(|f| !f.components().any(|c| c.as_os_str() == "target"));
    assert!(files.len() > 50);
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.strip_prefix(&root).unwrap().display().to_string();
        let lines = text.lines().count();
        if lines > MAX_LINES {
            problems.push(format!("{name}: {lines} lines (over {MAX_LINES})"));
        }
        if !text.starts_with("//!") {
            problems.push(format!("{name}: does not open with a //! comment"));
        }
        if file.ends_with("mod.rs") && file.components().any(|c| c.as_os_str() == "src") {
            let code = text.lines().map(str::trim).filter(|l| {
                !(l.is_empty()
                    || l.starts_with("//")
                    || l.starts_with("#[")
                    || l.starts_with("pub mod ")
                    || l.starts_with("mod ")
                    || l.starts_with("pub(crate) mod ")
                    || l.starts_with("pub use "))
            });
            if let Some(line) = code.into_iter().next() {
                problems.push(format!("{name}: a mod.rs with code: `{line}`"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_scanner_sees_grouped_and_inline_imports() {
    let code = "use crate::a::{b::C, d};\nfn f() { crate::e::g(); let x = $crate::h::i; }";
    let paths = crate_paths(code);
    let joined: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(joined, vec!["a::b::C", "a::d", "e::g"]);
}
