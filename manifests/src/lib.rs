//! The Kubernetes manifests this project ships, and what keeps them true: the
//! SealedSecret CRD generated from `common`'s types (`crds/`) and the Kustomize
//! renderings in `deploy/`. `cargo run -p sealed-manifests` regenerates all of them; the
//! tests in `tests/` fail when a committed file differs from what it would write.

pub mod diff;

use kube::CustomResourceExt;
use sealed_common::SealedSecret;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The command that rewrites every generated file.
pub const REGENERATE: &str = "cargo run -p sealed-manifests";

/// The generated CRD, relative to the workspace root.
pub const CRD_FILE: &str = "crds/bitnami.com_sealedsecrets.yaml";

/// Kustomize directories and their committed renderings, relative to the workspace root.
pub const RENDERINGS: &[(&str, &str)] = &[
    ("deploy/base", "deploy/controller.yaml"),
    (
        "deploy/overlays/namespaced",
        "deploy/controller-namespaced.yaml",
    ),
    ("deploy/overlays/ha", "deploy/controller-ha.yaml"),
];

/// The workspace root (this crate's parent directory).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// The CRD as `common`'s types define it, as YAML with sorted keys (stable output).
pub fn crd_yaml() -> Result<String, String> {
    let value = serde_json::to_value(SealedSecret::crd())
        .map_err(|e| format!("cannot serialise the CRD: {e}"))?;
    let body = sealed_common::codec::to_go_yaml(&value)
        .map_err(|e| format!("cannot print the CRD as YAML: {e}"))?;
    Ok(format!(
        "# Generated from common/src/sealed_secret.rs by `{REGENERATE}`; do not edit.\n{body}"
    ))
}

/// `kubectl kustomize DIR` (DIR relative to the workspace root), behind a header that
/// says how the file is made.
pub fn render(dir: &str) -> Result<String, String> {
    let root = workspace_root();
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(root.join(dir))
        .output()
        .map_err(|e| {
            format!(
                "cannot run `kubectl kustomize {dir}` ({e}): the deploy/ manifests are rendered \
                 with kubectl (1.32 or newer, for its built-in kustomize); install it and put it \
                 on PATH"
            )
        })?;
    if !output.status.success() {
        return Err(format!(
            "`kubectl kustomize {dir}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let body = String::from_utf8(output.stdout)
        .map_err(|_| format!("`kubectl kustomize {dir}` printed something that is not UTF-8"))?;
    Ok(format!(
        "# Rendered from {dir} by `{REGENERATE}` (kubectl kustomize); do not edit.\n{body}"
    ))
}

/// The first line where `committed` and `generated` differ, for a failure message.
pub fn first_difference(committed: &str, generated: &str) -> String {
    let mut committed_lines = committed.lines();
    let mut generated_lines = generated.lines();
    for number in 1.. {
        match (committed_lines.next(), generated_lines.next()) {
            (Some(a), Some(b)) if a == b => {}
            (None, None) => break,
            (a, b) => {
                return format!(
                    "line {number}:\n  committed: {}\n  generated: {}",
                    a.unwrap_or("(end of file)"),
                    b.unwrap_or("(end of file)")
                );
            }
        }
    }
    "no line differs (line endings?)".to_owned()
}
