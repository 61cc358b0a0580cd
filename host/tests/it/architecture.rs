//! The shape of the code base, checked:
//! - the workspace's crates depend one way, down a declared stack of layers (read from
//!   `cargo metadata`, so a new dependency that points up fails here before review);
//! - inside every crate, sibling modules import each other in no cycle (`crate::`,
//!   `super::` and `self::` paths resolved to the module they name);
//! - no source file outgrows 700 lines of non-test code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Each workspace crate's layer: a crate may depend only on crates of lower layers.
const LAYERS: &[(&str, u32)] = &[
    ("facelab-plugin-api", 0),
    ("facelab-testpg", 0),
    ("facelab-plugin-kit", 1),
    ("facelab-cluster", 1),
    ("facelab-models", 1),
    ("facelab-engine", 2),
    ("facelab-library", 3),
    ("facelab-web", 4),
    ("facelab-eval", 4),
    ("facelab-report", 5),
    ("facelab", 6),
    ("facelab-dlib", 2),
    ("facelab-example", 2),
    ("facelab-onnx-runtime", 2),
    ("facelab-opencv-dnn", 2),
    ("facelab-benches", 7),
];

/// Workspace crate → the workspace crates it depends on (normal and build dependencies).
fn crate_dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(repo())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let names: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].as_str() != Some("dev"))
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .filter(|d| names.contains(d))
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

/// The dependencies that do not point down the stack, as readable lines.
fn upward(deps: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let layer: BTreeMap<&str, u32> = LAYERS.iter().copied().collect();
    let mut bad = Vec::new();
    for (krate, uses) in deps {
        let Some(&own) = layer.get(krate.as_str()) else {
            bad.push(format!("{krate} has no layer: add it to LAYERS"));
            continue;
        };
        for dep in uses {
            match layer.get(dep.as_str()) {
                Some(&l) if l < own => {}
                Some(&l) => bad.push(format!("{krate} (layer {own}) → {dep} (layer {l})")),
                None => bad.push(format!("{dep} has no layer: add it to LAYERS")),
            }
        }
    }
    bad
}

#[test]
fn crates_depend_one_way_down_the_layers() {
    let deps = crate_dependencies();
    assert!(deps.len() >= 14, "{deps:?}");
    assert!(deps["facelab"].contains("facelab-report"), "{deps:?}");
    let bad = upward(&deps);
    assert!(bad.is_empty(), "dependencies that point up: {bad:#?}");
}

#[test]
fn an_upward_dependency_is_found() {
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    deps.entry("facelab-engine".into())
        .or_default()
        .insert("facelab-models".into());
    assert!(upward(&deps).is_empty());
    deps.entry("facelab-engine".into())
        .or_default()
        .insert("facelab-library".into());
    assert_eq!(upward(&deps).len(), 1);
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !matches!(
                path.file_name().and_then(|n| n.to_str()),
                Some("target" | "tests" | "examples" | "benches" | ".git")
            ) {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text before the file's `#[cfg(test)]` module.
fn non_test(text: &str) -> &str {
    text.split("#[cfg(test)]").next().unwrap_or(text)
}

/// The code of a file without its test module and comments (doc links name modules too).
fn code(text: &str) -> String {
    non_test(text)
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

type Module = Vec<String>;

/// A file's module path inside its crate (`src/bench/scan/mod.rs` → `bench::scan`).
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Module = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("lib" | "main" | "mod")
    ) {
        parts.pop();
    }
    parts
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The module paths a file's code names through `crate::`, `super::` and `self::`, each
/// resolved from `from` (a `use x::{a, b}` group gives one path per member).
fn named_paths(code: &str, from: &Module) -> Vec<Module> {
    let mut out = Vec::new();
    for head in ["crate::", "super::", "self::"] {
        for (i, _) in code.match_indices(head) {
            let before = code[..i].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut base: Module = match head {
                "crate::" => Vec::new(),
                "super::" => from[..from.len().saturating_sub(1)].to_vec(),
                _ => from.clone(),
            };
            let mut rest = &code[i + head.len()..];
            loop {
                if let Some(r) = rest.strip_prefix("super::") {
                    base.pop();
                    rest = r;
                } else if let Some(group) = rest.strip_prefix('{') {
                    let inner = &group[..group.find('}').unwrap_or(group.len())];
                    for member in inner.split(',') {
                        let name = ident(member.trim());
                        if !name.is_empty() && name != "self" {
                            let mut path = base.clone();
                            path.push(name.to_owned());
                            out.push(path);
                        }
                    }
                    break;
                } else {
                    let name = ident(rest);
                    if name.is_empty() {
                        out.push(base);
                        break;
                    }
                    base.push(name.to_owned());
                    rest = &rest[name.len()..];
                    match rest.strip_prefix("::") {
                        Some(r) => rest = r,
                        None => {
                            out.push(base);
                            break;
                        }
                    }
                }
            }
        }
    }
    out
}

/// Sibling-module edges of one crate: for a file in module `a::b::c` naming `a::d::e`, the
/// edge `a::b → a::d` (where the two paths part). A module naming its parent or its own
/// children is not an edge: that is how Rust nests.
fn module_edges(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeMap<Module, PathBuf> = files
        .iter()
        .map(|f| (module_of(src, f), f.clone()))
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, file) in &modules {
        let text = code(&std::fs::read_to_string(file).unwrap());
        for mut to in named_paths(&text, from) {
            while !to.is_empty() && !modules.contains_key(&to) {
                to.pop();
            }
            let k = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if k < from.len() && k < to.len() {
                edges
                    .entry(from[..=k].join("::"))
                    .or_default()
                    .insert(to[..=k].join("::"));
            }
        }
    }
    edges
}

/// A cycle in `edges`, if there is one.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_owned(), 1);
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let at = stack.iter().position(|n| n == next).unwrap();
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, edges, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if !state.contains_key(node.as_str()) {
            if let Some(c) = visit(node, edges, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// Every crate's source folder.
fn crate_sources() -> Vec<PathBuf> {
    let root = repo();
    let mut dirs: Vec<PathBuf> = ["plugin-api", "cluster", "host", "benches"]
        .iter()
        .map(|d| root.join(d).join("src"))
        .collect();
    for group in ["crates", "plugins"] {
        for entry in std::fs::read_dir(root.join(group)).unwrap().flatten() {
            if entry.path().join("src").is_dir() {
                dirs.push(entry.path().join("src"));
            }
        }
    }
    dirs
}

#[test]
fn no_crate_has_an_import_cycle_between_its_modules() {
    let dirs = crate_sources();
    assert!(dirs.len() >= 13, "{dirs:?}");
    // The resolver sees the bench's layering, so this test checks something.
    let eval = module_edges(&repo().join("crates/eval/src"));
    assert!(eval["bench::scan"].contains("bench::suite"), "{eval:?}");
    for dir in dirs {
        let edges = module_edges(&dir);
        if let Some(cycle) = find_cycle(&edges) {
            panic!(
                "{}: modules import each other in a cycle: {}",
                dir.display(),
                cycle.join(" → ")
            );
        }
    }
}

#[test]
fn paths_resolve_to_sibling_edges() {
    let from: Module = vec!["bench".into(), "scan".into(), "render".into()];
    let paths = named_paths(
        "use super::super::report::{Report, Task};\nlet c = crate::palette::colour(1);\nuse self::x;",
        &from,
    );
    assert!(paths.contains(&vec!["bench".into(), "report".into(), "Report".into()]));
    assert!(paths.contains(&vec!["palette".into(), "colour".into()]));
    assert!(paths.contains(&vec![
        "bench".into(),
        "scan".into(),
        "render".into(),
        "x".into()
    ]));
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&edges), None);
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(find_cycle(&edges).map(|c| c.len()), Some(4));
}

#[test]
fn no_source_file_is_over_700_lines_of_non_test_code() {
    let mut files = Vec::new();
    for dir in crate_sources() {
        rust_files(&dir, &mut files);
    }
    assert!(files.len() > 60, "found {} files", files.len());
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = non_test(&std::fs::read_to_string(f).unwrap())
                .lines()
                .count();
            (lines > 700).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these files: {long:?}");
}
