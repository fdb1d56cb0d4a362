//! The Helm chart's default render (deploy/helm/sealed-secrets, rendered offline by
//! deploy/helm/render.py) is accepted by the API server: every object is applied with
//! server-side dry run, so the API server's own validation judges it and nothing is
//! kept. Needs PyPI `helm-python-sdk` (`.ci/run` installs it) and an API server that
//! serves the built-in kinds (the fake one serves only what the controller uses).

use anyhow::{Context, Result, bail};
use kube::api::{Api, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::discovery::{Scope, oneshot};
use sealed_e2e::run;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// The chart's default objects for release `sealed-secrets` in `namespace`; `None`
/// when helm_python is not installed (render.py exits 3).
fn render(namespace: &str) -> Result<Option<Vec<Value>>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new("python3")
        .arg(root.join("deploy/helm/render.py"))
        .args(["render"])
        .arg(root.join("deploy/helm/sealed-secrets"))
        .args(["-", "sealed-secrets", namespace, "--json"])
        .output()
        .context("running python3 deploy/helm/render.py")?;
    match output.status.code() {
        Some(0) => {}
        Some(3) => return Ok(None),
        _ => bail!(
            "render.py failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    }
    let rendered: Vec<Value> = serde_json::from_slice(&output.stdout)
        .context("render.py --json printed something that is not a JSON list")?;
    Ok(Some(
        rendered
            .into_iter()
            .map(|entry| entry["object"].clone())
            .collect(),
    ))
}

fn gvk_of(object: &Value) -> Result<GroupVersionKind> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    if kind.is_empty() || version.is_empty() {
        bail!("a rendered object has no apiVersion or kind: {object}");
    }
    Ok(GroupVersionKind::gvk(group, version, kind))
}

#[tokio::test]
async fn helm_default_render_passes_server_side_dry_run() -> Result<()> {
    run("helm", |ctx| async move {
        let ns = ctx.namespace("helm").await?;
        let Some(objects) = render(&ns)? else {
            println!(
                "skipped: python3 cannot import helm_python (`.ci/run` installs helm-python-sdk)"
            );
            return Ok(());
        };
        let client = ctx.client().clone();
        // Every kind of the render first: a kube-apiserver serves them all (they are
        // built in); a server that lacks one (the fake) is not what this test is about.
        let mut resolved = Vec::new();
        let mut missing = std::collections::BTreeSet::new();
        for object in &objects {
            let gvk = gvk_of(object)?;
            match oneshot::pinned_kind(&client, &gvk).await {
                Ok(found) => resolved.push((object, gvk, found)),
                Err(_) => {
                    missing.insert(format!("{}/{}", gvk.api_version(), gvk.kind));
                }
            }
        }
        if !missing.is_empty() {
            println!(
                "skipped: the API server does not serve {}; a kube-apiserver serves every one",
                missing.into_iter().collect::<Vec<_>>().join(", ")
            );
            return Ok(());
        }
        let params = PatchParams::apply("sealed-e2e-helm").force().dry_run();
        let mut failures = Vec::new();
        let mut kinds = Vec::new();
        for (object, gvk, (resource, caps)) in resolved {
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let api: Api<DynamicObject> = match caps.scope {
                Scope::Namespaced => {
                    let at = object["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or(&ns)
                        .to_owned();
                    Api::namespaced_with(client.clone(), &at, &resource)
                }
                Scope::Cluster => Api::all_with(client.clone(), &resource),
            };
            match api.patch(&name, &params, &Patch::Apply(object)).await {
                Ok(_) => kinds.push(format!("{}/{name}", gvk.kind)),
                Err(e) => failures.push(format!("{} {name}: {e}", gvk.kind)),
            }
        }
        if !failures.is_empty() {
            bail!(
                "the API server refused rendered objects:\n  {}",
                failures.join("\n  ")
            );
        }
        if !kinds.iter().any(|k| k.starts_with("Deployment/")) {
            bail!("the default render has no Deployment: {kinds:?}");
        }
        println!(
            "helm default render accepted (dry run): {}",
            kinds.join(", ")
        );
        Ok(())
    })
    .await
}
