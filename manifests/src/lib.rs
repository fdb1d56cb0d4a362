//! The Kubernetes manifests this project ships, and what keeps them true: the
//! SealedSecret CRD generated from `common`'s types (`crds/`, and the Helm chart's copy),
//! the Kustomize renderings in `deploy/`, and the Helm chart in `deploy/helm/`.
//! `cargo run -p sealed-manifests` regenerates the generated files; the tests in `tests/`
//! fail when a committed file differs from what it would write.

pub mod diff;

use kube::CustomResourceExt;
use sealed_common::SealedSecret;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The command that rewrites every generated file.
pub const REGENERATE: &str = "cargo run -p sealed-manifests";

/// The generated CRD, relative to the workspace root.
pub const CRD_FILE: &str = "crds/bitnami.com_sealedsecrets.yaml";

/// The Helm chart's copy of the CRD (Helm installs `crds/` before the templates).
pub const HELM_CRD_FILE: &str = "deploy/helm/sealed-secrets/crds/bitnami.com_sealedsecrets.yaml";

/// Every file the CRD is written to.
pub const CRD_FILES: &[&str] = &[CRD_FILE, HELM_CRD_FILE];

/// The Helm chart and the script that renders it, relative to the workspace root.
pub const HELM_CHART: &str = "deploy/helm/sealed-secrets";
pub const HELM_SCRIPT: &str = "deploy/helm/render.py";

/// The PyPI package `deploy/helm/render.py` needs (Helm 4's engine as a library).
pub const HELM_PYTHON_PACKAGE: &str = "helm-python-sdk==0.2.2";

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

/// Runs `python3 deploy/helm/render.py ARGS...` from the workspace root and returns what
/// it printed; an error tells how to install helm-python-sdk when it is missing.
pub fn helm_script(args: &[&str]) -> Result<String, String> {
    let root = workspace_root();
    let output = Command::new("python3")
        .arg(root.join(HELM_SCRIPT))
        .args(args)
        .current_dir(&root)
        .output()
        .map_err(|e| format!("cannot run python3 {HELM_SCRIPT} ({e}): python3 must be on PATH"))?;
    match output.status.code() {
        Some(0) => String::from_utf8(output.stdout)
            .map_err(|_| format!("{HELM_SCRIPT} printed something that is not UTF-8")),
        Some(3) => Err(format!(
            "the Helm chart is rendered with PyPI's helm-python-sdk, which python3 cannot \
             import: run `python3 -m pip install {HELM_PYTHON_PACKAGE}`"
        )),
        _ => Err(format!(
            "python3 {HELM_SCRIPT} {} failed ({}): {}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim(),
            String::from_utf8_lossy(&output.stdout).trim()
        )),
    }
}

/// The objects the chart renders for a values file (relative to the workspace root, or
/// `-` for the defaults), as `(template, object)` pairs.
pub fn helm_render(
    values: &str,
    release: &str,
    namespace: &str,
) -> Result<Vec<(String, serde_json::Value)>, String> {
    let text = helm_script(&["render", HELM_CHART, values, release, namespace, "--json"])?;
    let list: Vec<serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| format!("{HELM_SCRIPT} printed something that is not JSON: {e}"))?;
    Ok(list
        .into_iter()
        .map(|mut item| {
            let source = item
                .get("source")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let object = item
                .get_mut("object")
                .map(serde_json::Value::take)
                .unwrap_or_default();
            (source, object)
        })
        .collect())
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
