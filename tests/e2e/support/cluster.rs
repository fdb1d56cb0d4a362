//! Which cluster to test against, and a client for it.

use anyhow::{Context, Result, bail};
use kube::Client;
use kube::config::{Config, KubeConfigOptions, Kubeconfig};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Names the kubeconfig file of the cluster to test against. Unset: every test skips.
pub const KUBECONFIG_ENV: &str = "SEALED_E2E_KUBECONFIG";

/// The line every test prints when the suite is not configured.
pub const SKIP_LINE: &str =
    "skipped: SEALED_E2E_KUBECONFIG is not set (end-to-end tests need a real cluster)";

/// The kubeconfig named by [`KUBECONFIG_ENV`], as an absolute path; `Ok(None)` when the
/// variable is unset or empty (the suite is skipped), an error when it names nothing.
pub fn kubeconfig_path() -> Result<Option<PathBuf>> {
    let raw = match std::env::var_os(KUBECONFIG_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => return Ok(None),
    };
    // `SEALED_E2E_KUBECONFIG="~/.kube/config"` (quoted) reaches us unexpanded.
    let expanded = match raw.to_str().and_then(|s| s.strip_prefix("~/")) {
        Some(rest) => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(rest),
            None => raw.clone(),
        },
        None => raw.clone(),
    };
    // cargo runs test binaries from the package directory (tests/), while the user
    // probably wrote the path relative to where they ran cargo: try both.
    let candidates: Vec<PathBuf> = if expanded.is_absolute() {
        vec![expanded.clone()]
    } else {
        let mut c = Vec::new();
        if let Ok(cwd) = std::env::current_dir() {
            c.push(cwd.join(&expanded));
        }
        c.push(crate::workspace_root().join(&expanded));
        c
    };
    for candidate in &candidates {
        if candidate.is_file() {
            return Ok(Some(
                candidate
                    .canonicalize()
                    .unwrap_or_else(|_| candidate.clone()),
            ));
        }
    }
    bail!(
        "{KUBECONFIG_ENV}={} does not name a readable file (looked at: {})",
        raw.display(),
        candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A client for the kubeconfig's current context, checked to reach the API server.
pub async fn client_from(path: &Path) -> Result<Client> {
    let kubeconfig = Kubeconfig::read_from(path).with_context(|| {
        format!(
            "cannot read kubeconfig {} ({KUBECONFIG_ENV})",
            path.display()
        )
    })?;
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .with_context(|| {
            format!(
                "cannot load kubeconfig {} ({KUBECONFIG_ENV}): no usable current context?",
                path.display()
            )
        })?;
    config.connect_timeout = Some(Duration::from_secs(15));
    config.read_timeout = Some(Duration::from_secs(60));
    config.write_timeout = Some(Duration::from_secs(60));
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config)
        .with_context(|| format!("cannot build a Kubernetes client for {server}"))?;
    client.apiserver_version().await.with_context(|| {
        format!(
            "cannot reach the API server {server} named in {} ({KUBECONFIG_ENV})",
            path.display()
        )
    })?;
    Ok(client)
}

static OTHER_CONTROLLERS: tokio::sync::OnceCell<Option<String>> =
    tokio::sync::OnceCell::const_new();

/// A warning when the cluster runs another sealed-secrets controller (a ready
/// Deployment whose name contains `sealed-secrets`): one that watches all namespaces
/// also processes this suite's SealedSecrets, fails to open them (it lacks the test
/// keys) and overwrites their status. Looked up once per test process; printed at
/// start and in every failure's diagnostics.
pub async fn other_controllers_warning(client: &Client) -> Option<String> {
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::ResourceExt;
    use kube::api::{Api, ListParams};
    OTHER_CONTROLLERS
        .get_or_init(|| async {
            let api: Api<Deployment> = Api::all(client.clone());
            let list = api.list(&ListParams::default()).await.ok()?;
            let found: Vec<String> = list
                .items
                .iter()
                .filter(|d| {
                    d.name_any().contains("sealed-secrets")
                        && d.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0) > 0
                })
                .map(|d| format!("{}/{}", d.namespace().unwrap_or_default(), d.name_any()))
                .collect();
            if found.is_empty() {
                return None;
            }
            let warning = format!(
                "sealed-e2e WARNING: the cluster runs another sealed-secrets controller ({}); \
                 if it watches all namespaces it also processes this suite's SealedSecrets, \
                 fails to open them and overwrites their status. Scale it to 0 while the suite runs.",
                found.join(", ")
            );
            eprintln!("{warning}");
            Some(warning)
        })
        .await
        .clone()
}
