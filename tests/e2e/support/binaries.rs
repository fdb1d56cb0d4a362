//! Where the binaries under test are.
//!
//! `SEALED_E2E_CONTROLLER_BIN` / `SEALED_E2E_KUBESEAL_BIN` when set (used as they are);
//! otherwise `<target dir>/debug/{sealed-secrets-controller,kubeseal}`, where the target
//! dir is `CARGO_TARGET_DIR` or `<workspace>/target`. Those default binaries are built
//! with `cargo build -p sealed-controller -p sealed-cli` (once per test process)
//! when missing or older than the sources, so a run never tests stale code.

use anyhow::{Result, anyhow};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

pub const CONTROLLER_BIN_ENV: &str = "SEALED_E2E_CONTROLLER_BIN";
pub const KUBESEAL_BIN_ENV: &str = "SEALED_E2E_KUBESEAL_BIN";

const CONTROLLER_NAME: &str = "sealed-secrets-controller";
const KUBESEAL_NAME: &str = "kubeseal";
/// The packages that build them.
const CONTROLLER_PACKAGE: &str = "sealed-controller";
const KUBESEAL_PACKAGE: &str = "sealed-cli";

#[derive(Debug, Clone)]
pub struct Binaries {
    pub controller: PathBuf,
    pub kubeseal: PathBuf,
}

static BINARIES: OnceLock<Result<Binaries, String>> = OnceLock::new();

/// The binaries, built first if needed. Blocks the calling thread while cargo runs
/// (each test has its own runtime thread, so nothing else stalls).
pub fn binaries() -> Result<&'static Binaries> {
    BINARIES
        .get_or_init(locate_or_build)
        .as_ref()
        .map_err(|e| anyhow!("{e}"))
}

/// `CARGO_TARGET_DIR` (relative to the workspace root if relative) or `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                crate::workspace_root().join(dir)
            }
        }
        None => crate::workspace_root().join("target"),
    }
}

fn from_env(var: &str) -> Option<Result<PathBuf, String>> {
    let value = std::env::var_os(var).filter(|v| !v.is_empty())?;
    let path = PathBuf::from(value);
    Some(if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{var}={} is not a file", path.display()))
    })
}

fn locate_or_build() -> Result<Binaries, String> {
    let debug = target_dir().join("debug");
    let controller_env = from_env(CONTROLLER_BIN_ENV).transpose()?;
    let kubeseal_env = from_env(KUBESEAL_BIN_ENV).transpose()?;
    let controller = controller_env
        .clone()
        .unwrap_or_else(|| debug.join(CONTROLLER_NAME));
    let kubeseal = kubeseal_env
        .clone()
        .unwrap_or_else(|| debug.join(KUBESEAL_NAME));

    let mut packages = Vec::new();
    if controller_env.is_none() && needs_build(&controller, &["controller", "common", "gotemplate"])
    {
        packages.push(CONTROLLER_PACKAGE);
    }
    if kubeseal_env.is_none() && needs_build(&kubeseal, &["cli", "common", "gotemplate"]) {
        packages.push(KUBESEAL_PACKAGE);
    }
    if !packages.is_empty() {
        build(&packages)?;
    }
    for (path, var) in [
        (&controller, CONTROLLER_BIN_ENV),
        (&kubeseal, KUBESEAL_BIN_ENV),
    ] {
        if !path.is_file() {
            return Err(format!(
                "{} does not exist even after building it; set {var} to the binary to test",
                path.display()
            ));
        }
    }
    Ok(Binaries {
        controller,
        kubeseal,
    })
}

/// Missing, or older than any source file of `crates` (or the workspace manifests).
fn needs_build(binary: &Path, crates: &[&str]) -> bool {
    let Ok(built) = binary.metadata().and_then(|m| m.modified()) else {
        return true;
    };
    let root = crate::workspace_root();
    let mut newest = SystemTime::UNIX_EPOCH;
    for file in ["Cargo.toml", "Cargo.lock"] {
        newest = newest.max(mtime(&root.join(file)));
    }
    for dir in crates {
        newest = newest.max(newest_in(&root.join(dir).join("src")));
        newest = newest.max(mtime(&root.join(dir).join("Cargo.toml")));
    }
    newest > built
}

fn mtime(path: &Path) -> SystemTime {
    path.metadata()
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn newest_in(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return newest;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let t = if path.is_dir() {
            newest_in(&path)
        } else {
            mtime(&path)
        };
        newest = newest.max(t);
    }
    newest
}

fn build(packages: &[&str]) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.arg("build");
    for p in packages {
        cmd.args(["-p", p]);
    }
    cmd.current_dir(crate::workspace_root())
        .env("CARGO_TARGET_DIR", target_dir());
    let shown = format!(
        "CARGO_TARGET_DIR={} cargo build -p {}",
        target_dir().display(),
        packages.join(" -p ")
    );
    eprintln!("sealed-e2e: building the binaries under test: {shown}");
    let output = cmd
        .output()
        .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "`{shown}` failed ({}); set {CONTROLLER_BIN_ENV}/{KUBESEAL_BIN_ENV} to prebuilt binaries or fix the build:\n{}",
            output.status,
            tail.join("\n")
        ));
    }
    Ok(())
}
