//! Which files `kubeseal reencrypt PATH...` looks at: files named on the command line
//! (any extension, symbolic links followed), and below each directory every `.yaml`,
//! `.yml` and `.json` file, in name order, without entering hidden directories and
//! without following symbolic links. Each file is visited once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// Extensions looked at inside directories (case-insensitive).
const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// One file to consider, or a path that cannot be looked at.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    File {
        /// As the user will recognise it: the argument, or the argument joined with the
        /// path below it.
        shown: PathBuf,
        /// The file itself (symbolic links resolved): read and replaced.
        real: PathBuf,
    },
    Unusable {
        shown: PathBuf,
        reason: String,
    },
}

/// Every file to consider, in the order of the arguments, then by name.
pub fn entries(paths: &[PathBuf]) -> Vec<Entry> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for path in paths {
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) => {
                out.push(unusable(path, format!("cannot read: {e}")));
                continue;
            }
        };
        if meta.is_dir() {
            walk(path, &mut seen, &mut out);
        } else if meta.is_file() {
            push_file(path, &mut seen, &mut out);
        } else {
            out.push(unusable(path, "not a regular file or directory".to_owned()));
        }
    }
    out
}

fn walk(root: &Path, seen: &mut HashSet<PathBuf>, out: &mut Vec<Entry>) {
    let walker = WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !(e.file_type().is_dir() && hidden(e.file_name())));
    for entry in walker {
        match entry {
            Ok(entry) => {
                // Symbolic links have their own file type here: neither followed nor taken.
                if entry.file_type().is_file() && wanted_extension(entry.path()) {
                    push_file(entry.path(), seen, out);
                }
            }
            Err(e) => {
                let shown = e.path().unwrap_or(root).to_path_buf();
                let reason = match e.io_error() {
                    Some(io) => format!("cannot read directory: {io}"),
                    None => format!("cannot read directory: {e}"),
                };
                out.push(Entry::Unusable { shown, reason });
            }
        }
    }
}

fn push_file(path: &Path, seen: &mut HashSet<PathBuf>, out: &mut Vec<Entry>) {
    match std::fs::canonicalize(path) {
        Ok(real) => {
            if seen.insert(real.clone()) {
                out.push(Entry::File {
                    shown: path.to_path_buf(),
                    real,
                });
            }
        }
        Err(e) => out.push(unusable(path, format!("cannot read: {e}"))),
    }
}

fn unusable(path: &Path, reason: String) -> Entry {
    Entry::Unusable {
        shown: path.to_path_buf(),
        reason,
    }
}

fn hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str()
        .is_some_and(|n| n.starts_with('.') && n != "." && n != "..")
}

fn wanted_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|w| w.eq_ignore_ascii_case(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(entries: &[Entry], root: &Path) -> Vec<String> {
        entries
            .iter()
            .map(|e| match e {
                Entry::File { shown, .. } => shown
                    .strip_prefix(root)
                    .unwrap_or(shown)
                    .display()
                    .to_string(),
                Entry::Unusable { shown, reason } => format!("{} ! {reason}", shown.display()),
            })
            .collect()
    }

    #[test]
    fn walks_sorted_skipping_hidden_dirs_links_and_other_extensions() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for rel in [
            "b/z.yaml",
            "b/a.YML",
            "a.json",
            "notes.txt",
            ".git/config.yaml",
            "c/.hidden-file.yaml",
            "c/d/e.yml",
        ] {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "x").unwrap();
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root.join("b"), root.join("linked-dir")).unwrap();
            std::os::unix::fs::symlink(root.join("a.json"), root.join("linked.yaml")).unwrap();
        }
        let found = entries(&[
            root.to_path_buf(),
            root.join("b/z.yaml"),
            root.join("notes.txt"),
        ]);
        assert_eq!(
            shown(&found, root),
            [
                "a.json",
                "b/a.YML",
                "b/z.yaml",
                "c/.hidden-file.yaml",
                "c/d/e.yml",
                // Named on the command line: taken whatever its extension.
                "notes.txt",
            ]
        );
        let missing = entries(&[root.join("nope")]);
        assert!(
            matches!(&missing[..], [Entry::Unusable { reason, .. }] if reason.starts_with("cannot read: ")),
            "{missing:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_linked_file_named_on_the_command_line_is_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.yaml");
        std::fs::write(&target, "x").unwrap();
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let found = entries(std::slice::from_ref(&link));
        assert_eq!(
            found,
            [Entry::File {
                shown: link,
                real: std::fs::canonicalize(&target).unwrap()
            }]
        );
    }
}
