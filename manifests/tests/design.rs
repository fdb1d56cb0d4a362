// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! docs/design.md draws each crate's modules and what each uses; this test reads the
//! sources and fails when the drawing is no longer true, or when two modules of a
//! crate use each other (a cycle).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The top-level module a source file belongs to (`main`/`lib` for the crate root).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("file under src");
    let first = relative
        .components()
        .next()
        .expect("non-empty path")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_owned()
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// Which top-level modules each top-level module uses, from `crate::x` paths (and,
/// in the crate root, `x::` paths of its own modules). Test-only modules are skipped.
fn actual_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(src, f)).collect();
    let mut graph = Graph::new();
    for file in &files {
        let from = module_of(src, file);
        if from == "tests" || file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("source");
        // Code after `#[cfg(test)]` is the file's test module.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let root_file = from == "main" || from == "lib";
        let used = graph.entry(from.clone()).or_default();
        for to in &modules {
            if *to == from || to == "main" || to == "lib" {
                continue;
            }
            let by_crate_path = code.contains(&format!("crate::{to}::"))
                || code.contains(&format!("crate::{to}}}"))
                || code.contains(&format!("crate::{to};"));
            // A crate root names its modules directly, or (a binary over its library)
            // as `library::{module, ...}`.
            let by_root_path = root_file
                && [
                    format!(" {to}::"),
                    format!("({to}::"),
                    format!("::{to}::"),
                    format!("{{{to},"),
                    format!(", {to}}}"),
                    format!(", {to},"),
                    format!("{{{to}}}"),
                ]
                .iter()
                .any(|p| code.contains(p.as_str()));
            if by_crate_path || by_root_path {
                used.insert(to.clone());
            }
        }
    }
    graph
}

/// The table in docs/design.md headed `| module (`DIR/src`) | ... | uses |`: for each
/// row, the top-level module of its first cell, and the modules named in its last.
fn documented_graph(design: &str, dir: &str) -> Graph {
    let header = format!("| module (`{dir}/src`) |");
    let start = design
        .find(&header)
        .unwrap_or_else(|| panic!("docs/design.md has no table {header}"));
    let mut graph = Graph::new();
    for line in design[start..].lines().skip(2) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let uses = cells.last().copied().unwrap_or_default();
        for name in backticked(cells[0]) {
            let module = name
                .split('/')
                .next()
                .unwrap_or_default()
                .trim_end_matches(".rs")
                .to_owned();
            let entry = graph.entry(module).or_default();
            for used in backticked(uses) {
                entry.insert(used.split("::").next().unwrap_or_default().to_owned());
            }
        }
    }
    graph
}

fn backticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn assert_acyclic(graph: &Graph) {
    fn visit(node: &str, graph: &Graph, path: &mut Vec<String>, done: &mut BTreeSet<String>) {
        if done.contains(node) {
            return;
        }
        if let Some(at) = path.iter().position(|n| n == node) {
            panic!("module cycle: {} -> {node}", path[at..].join(" -> "));
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(node.to_owned());
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, graph, &mut Vec::new(), &mut done);
    }
}

fn check(dir: &str) {
    let design = std::fs::read_to_string(root().join("docs/design.md")).expect("design.md");
    let actual = actual_graph(&root().join(dir).join("src"));
    let documented = documented_graph(&design, dir);
    assert_acyclic(&actual);
    let mut wrong = Vec::new();
    for module in actual
        .keys()
        .chain(documented.keys())
        .collect::<BTreeSet<_>>()
    {
        let (is, says) = (actual.get(module), documented.get(module));
        if module == "lib" && says.is_none() {
            continue; // lib.rs only declares the modules
        }
        if is != says {
            wrong.push(format!("  {module}: uses {is:?}, design.md says {says:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/design.md's `{dir}/src` table is not true any more:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn design_md_draws_the_controller_as_it_is() {
    check("controller");
}

#[test]
fn design_md_draws_kubeseal_as_it_is() {
    check("cli");
}

#[test]
fn design_md_draws_common_as_it_is() {
    check("common");
}

#[test]
fn the_reader_sees_a_cycle() {
    let mut graph = Graph::new();
    graph.insert("a".into(), ["b".to_owned()].into());
    graph.insert("b".into(), ["a".to_owned()].into());
    let caught = std::panic::catch_unwind(|| assert_acyclic(&graph));
    assert!(caught.is_err());
    assert!(
        backticked("`a`, `b::c` (types)")
            .iter()
            .eq(["a", "b::c"].iter())
    );
}
