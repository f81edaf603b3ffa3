//! `cargo xtask tidy`: the invariants ARCHITECTURE.md states as absences, checked.
//!
//! - The crate graph, from `cargo tree` (the workspace's crates from `cargo metadata`): the control core depends on nothing but the few crates
//!   it is allowed (no I/O, no clock); the twin, the hardware and the recorded data never depend
//!   on the controller or the binaries; the Pi's build has no polars, Bevy or PostgreSQL client.
//! - No module cycles: within each module, its child modules (each with all below it) reference
//!   each other along no cycle. References are read from the source: `crate::` and `super::`
//!   paths, `use` trees expanded.
//! - No source file over `MAX_LINES` lines before its tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Everything the control core may depend on, transitively: serde, chrono without its clock,
/// num-complex, thiserror, the shared types, and what they build with.
const CORE_ALLOWED: [&str; 13] = [
    "control-core",
    "grid-types",
    "serde",
    "serde_core",
    "serde_derive",
    "chrono",
    "num-complex",
    "num-traits",
    "thiserror",
    "thiserror-impl",
    "proc-macro2",
    "quote",
    "syn",
];
/// Build-time helpers of the above, which never reach the compiled code.
const BUILD_ONLY: [&str; 2] = ["unicode-ident", "autocfg"];

/// Crates that must never reach the twin, the hardware or the recorded data.
const ABOVE_THE_MODELS: [&str; 4] = ["controller", "control-core", "gridtwin", "viz"];

/// What the Pi's build must not compile.
const NOT_ON_A_PI: [&str; 5] = [
    "polars",
    "bevy",
    "tokio-postgres",
    "postgres-protocol",
    "plotters",
];

/// A source file longer than this (before its `#[cfg(test)]` module) wants splitting.
pub const MAX_LINES: usize = 800;

pub fn tidy(root: &Path) -> Result<(), String> {
    let mut problems = Vec::new();
    problems.extend(crate_graph(root)?);
    for krate in crates(root)? {
        problems.extend(module_cycles(&krate));
        problems.extend(long_files(&krate));
    }
    if problems.is_empty() {
        eprintln!("    tidy: the crate graph, module graph and file lengths hold their invariants");
        Ok(())
    } else {
        Err(format!("tidy:\n  {}", problems.join("\n  ")))
    }
}

/// The packages `cargo tree` resolves for `args` (normal dependencies only).
fn tree(root: &Path, args: &[&str]) -> Result<BTreeSet<String>, String> {
    let out = crate::cargo()
        .current_dir(root)
        .args([
            "tree", "-e", "normal", "--prefix", "none", "--format", "{p}",
        ])
        .args(args)
        .output()
        .map_err(|e| format!("cargo tree: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo tree {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

fn crate_graph(root: &Path) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    for dep in tree(root, &["-p", "control-core"])? {
        if !CORE_ALLOWED.contains(&dep.as_str()) && !BUILD_ONLY.contains(&dep.as_str()) {
            problems.push(format!(
                "control-core depends on {dep}: the core takes nothing heavier than serde, \
                 chrono without its clock, num-complex and thiserror"
            ));
        }
    }
    for model in ["grid-types", "sim", "hil", "record", "reports"] {
        let deps = tree(root, &["-p", model])?;
        for above in ABOVE_THE_MODELS {
            if deps.contains(above) {
                problems.push(format!("{model} depends on {above}"));
            }
        }
        if model == "hil" && deps.contains("sim") {
            problems.push(
                "hil depends on sim: the emulated devices take their inputs as functions".into(),
            );
        }
    }
    let pi = tree(
        root,
        &[
            "-p",
            "gridtwin",
            "--no-default-features",
            "--features",
            "rpi",
        ],
    )?;
    for dep in &pi {
        if NOT_ON_A_PI.iter().any(|n| {
            dep == n || dep.starts_with(&format!("{n}-")) || dep.starts_with(&format!("{n}_"))
        }) {
            problems.push(format!(
                "the Pi's build (--no-default-features --features rpi) compiles {dep}"
            ));
        }
    }
    Ok(problems)
}

/// A workspace crate: its name and its `src` folder.
struct Krate {
    name: String,
    src: PathBuf,
}

/// The workspace's packages, as `cargo metadata` lists them.
fn crates(root: &Path) -> Result<Vec<Krate>, String> {
    let out = crate::cargo()
        .current_dir(root)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    let packages = meta["packages"]
        .as_array()
        .ok_or("cargo metadata: no packages")?;
    Ok(packages
        .iter()
        .filter_map(|p| {
            let manifest = Path::new(p["manifest_path"].as_str()?);
            Some(Krate {
                name: p["name"].as_str()?.to_string(),
                src: manifest.parent()?.join("src"),
            })
        })
        .filter(|k| k.src.exists())
        .collect())
}

/// Every `.rs` file under `src` with its module path (`run/feeder.rs` is `["run", "feeder"]`;
/// `lib.rs`, `main.rs` and `mod.rs` stand for their folder).
fn modules(src: &Path) -> Vec<(Vec<String>, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = p.strip_prefix(src).unwrap_or(&p);
            let mut path: Vec<String> = rel
                .iter()
                .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            if matches!(
                path.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                path.pop();
            }
            out.push((path, p));
        }
    }
    out
}

/// The text before a file's unit tests: `super::` inside `mod tests` means the file itself.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// The module paths a file refers to, absolute within its crate.
fn references(module: &[String], text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect();
    let text = lines.join("\n");
    // `use` trees first (braces expanded), then paths written inline.
    for stmt in text.split(';') {
        let s = stmt.trim_start();
        let s = s.strip_prefix("pub ").unwrap_or(s);
        let s = s
            .strip_prefix("pub(crate) ")
            .or_else(|| s.strip_prefix("pub(super) "))
            .unwrap_or(s);
        if let Some(tree) = s.strip_prefix("use ") {
            for p in expand(tree.trim()) {
                out.extend(absolute(module, &p));
            }
        }
    }
    let bytes = text.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = text[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
                continue;
            }
            let end = text[at..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(text.len(), |e| at + e);
            let path: Vec<String> = text[at..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            out.extend(absolute(module, &path));
        }
    }
    out
}

/// A `use` tree as its paths: `a::{b, c::{d, e}}` is `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<Vec<String>> {
    let tree: String = tree.split_whitespace().collect();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(&tree);
        return vec![path.split("::").map(str::to_string).collect()];
    };
    let prefix: Vec<String> = tree[..open]
        .split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let inner = tree[open + 1..]
        .strip_suffix('}')
        .unwrap_or(&tree[open + 1..]);
    let mut parts = Vec::new();
    let (mut depth, mut last) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[last..i]);
                last = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[last..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(expand)
        .map(|rest| {
            let mut p = prefix.clone();
            p.extend(rest.into_iter().filter(|s| s != "self"));
            p
        })
        .collect()
}

/// A path as written in `module` made absolute, when it is a path inside the crate.
fn absolute(module: &[String], path: &[String]) -> Option<Vec<String>> {
    match path.first().map(String::as_str) {
        Some("crate") => Some(path[1..].to_vec()),
        Some("super") => {
            let mut base = module.to_vec();
            let mut rest = path;
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            Some(base)
        }
        _ => None,
    }
}

fn module_cycles(k: &Krate) -> Vec<String> {
    let files = modules(&k.src);
    let known: BTreeSet<Vec<String>> = files.iter().map(|(m, _)| m.clone()).collect();
    // For each parent module: edges between its children.
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (module, path) in &files {
        for r in references(module, &code(path)) {
            // The longest prefix that is a module of the crate.
            let Some(target) = (0..=r.len())
                .rev()
                .map(|n| r[..n].to_vec())
                .find(|p| known.contains(p))
            else {
                continue;
            };
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            // An ancestor and its descendants are one module, not two.
            if common == module.len() || common == target.len() {
                continue;
            }
            graphs
                .entry(module[..common].to_vec())
                .or_default()
                .entry(module[common].clone())
                .or_default()
                .insert(target[common].clone());
        }
    }
    let mut problems = Vec::new();
    for (parent, g) in graphs {
        for cycle in cycles(&g) {
            let at = if parent.is_empty() {
                k.name.clone()
            } else {
                format!("{}::{}", k.name, parent.join("::"))
            };
            problems.push(format!("module cycle in {at}: {}", cycle.join(" -> ")));
        }
    }
    problems
}

/// One cycle through each strongly connected component of more than one node, as a path
/// that comes back to where it started.
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_string()];
        while let Some(n) = stack.pop() {
            for m in g.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    stack.push(m.clone());
                }
            }
        }
        seen
    };
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for start in g.keys() {
        if done.contains(start) || !reach(start).contains(start) {
            continue;
        }
        // A shortest way back, breadth first.
        let mut prev: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start.clone()]);
        'search: while let Some(n) = queue.pop_front() {
            for m in g.get(&n).into_iter().flatten() {
                if m == start {
                    // From `n` back to the start through the breadth-first tree, then around.
                    let mut path = vec![n.clone()];
                    while let Some(p) = prev.get(path.last().expect("not empty")) {
                        path.push(p.clone());
                    }
                    path.reverse();
                    path.push(start.clone());
                    done.extend(path.iter().cloned());
                    out.push(path);
                    break 'search;
                }
                if !prev.contains_key(m) && m != start {
                    prev.insert(m.clone(), n.clone());
                    queue.push_back(m.clone());
                }
            }
        }
    }
    out
}

fn long_files(k: &Krate) -> Vec<String> {
    modules(&k.src)
        .into_iter()
        .filter_map(|(_, path)| {
            let n = code(&path).lines().count();
            (n > MAX_LINES).then(|| {
                format!(
                    "{} has {n} lines before its tests (at most {MAX_LINES}): split it along its seams",
                    path.display()
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &str)]) -> BTreeMap<String, BTreeSet<String>> {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
        }
        g
    }

    #[test]
    fn a_cycle_is_found_and_a_tree_is_not() {
        assert!(cycles(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])).is_empty());
        assert_eq!(
            cycles(&graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])),
            [["a", "b", "c", "a"]]
        );
    }

    #[test]
    fn use_trees_expand_and_resolve_against_the_module() {
        let m = vec!["run".to_string(), "feeder".to_string()];
        let text = "use crate::{scenario::{Loaded, load::parse}, backend};\nuse super::twin::PduLoop;\nlet x = crate::core::time::Instant::ZERO;";
        let mut r: Vec<String> = references(&m, text).iter().map(|p| p.join("::")).collect();
        r.sort();
        r.dedup();
        assert_eq!(
            r,
            [
                // `crate::{` written inline: the crate root, which is every module's ancestor.
                "",
                "backend",
                "core::time::Instant::ZERO",
                "run::twin::PduLoop",
                "scenario::Loaded",
                "scenario::load::parse",
            ]
        );
    }
}
