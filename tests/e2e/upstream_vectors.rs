//! Upstream compatibility: the key Secrets written by the upstream controller load, and
//! every SealedSecret made by upstream kubeseal unseals to exactly the expected Secret.
//!
//! The vectors are sealed for fixed namespaces (`demo-ns`); all work in fixed namespaces
//! is in this one test, so no two tests ever touch the same namespace.

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::Secret;
use kube::api::ApiResource;
use sealed_e2e::checks::{assert_data, assert_owned_by};
use sealed_e2e::objects::{
    self, annotations_of, apply_sealed_secret, describe_secret, get_opt, key_fingerprint,
    labels_of, sealed_secret_resource, string_map_at,
};
use sealed_e2e::vectors::{self, Vector};
use sealed_e2e::{ControllerSpec, Ctx, run};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

#[tokio::test]
async fn upstream_keys_load_and_every_vector_unseals() -> Result<()> {
    run("vectors", |ctx| async move {
        let all = vectors::all()?;
        ensure!(
            all.len() >= 10,
            "expected the upstream vectors under {}, found {}",
            vectors::root().display(),
            all.len()
        );
        let home = ctx.namespace("home").await?;
        let key_names: BTreeSet<String> = vectors::install_keys(ctx.client(), &home, &["A", "B"])
            .await?
            .into_iter()
            .collect();
        let fixed: BTreeSet<String> = all.iter().filter_map(|v| v.namespace.clone()).collect();
        let mut spec = ControllerSpec::new(&home)
            .arg("--key-renew-period")
            .arg("0");
        for ns in &fixed {
            ctx.ensure_namespace(ns).await?;
            spec = spec.watch(ns);
            let names: BTreeSet<&str> = all
                .iter()
                .filter(|v| v.namespace.as_deref() == Some(ns.as_str()))
                .map(|v| v.name.as_str())
                .collect();
            for name in names {
                clear_leftovers(&ctx, ns, name).await?;
            }
        }
        let _controller = ctx.start_controller(spec)?;

        let mut failures = Vec::new();
        for v in &all {
            let ns = v.namespace.clone().unwrap_or_else(|| home.clone());
            if ns != home {
                ctx.track(sealed_secret_resource(), &ns, &v.name);
                ctx.track(ApiResource::erase::<Secret>(&()), &ns, &v.name);
            }
            let result = check_vector(&ctx, v, &ns).await;
            let removed = ctx.remove_sealed_and_secret(&ns, &v.name).await;
            if let Err(e) = result {
                eprintln!("vector {} FAILED: {e:#}", v.rel);
                failures.push(format!("vector {}: {e:#}", v.rel));
                if failures.len() >= 2 {
                    failures.push("(stopping after 2 failed vectors)".to_owned());
                    break;
                }
            } else {
                println!("vector {} ok", v.rel);
            }
            removed.with_context(|| format!("cleaning up after vector {}", v.rel))?;
        }
        if !failures.is_empty() {
            bail!("{}", failures.join("\n\n"));
        }

        // The upstream keys were used as they are: no key generated.
        let active: BTreeSet<String> = ctx
            .active_keys(&home)
            .await?
            .iter()
            .filter_map(|s| s.metadata.name.clone())
            .collect();
        ensure!(
            active == key_names,
            "active key Secrets should be exactly the upstream keys {key_names:?} (--key-renew-period 0, keys present), found {active:?}"
        );
        Ok(())
    })
    .await
}

/// A SealedSecret or owned Secret left in a fixed namespace by an aborted earlier run
/// would make the vector fail; remove ours, refuse to touch anything else.
async fn clear_leftovers(ctx: &Ctx, ns: &str, name: &str) -> Result<()> {
    let secret = get_opt(&objects::secrets(ctx.client(), ns), name).await?;
    if let Some(s) = &secret {
        let owned = s
            .metadata
            .owner_references
            .as_ref()
            .is_some_and(|refs| refs.iter().any(|r| r.kind == objects::SS_KIND));
        let has_sealed = get_opt(&objects::sealed_secrets(ctx.client(), ns), name)
            .await?
            .is_some();
        if !owned && !has_sealed {
            bail!(
                "{ns}/{name} already exists and does not come from a SealedSecret: {}; \
                 the vectors need that name, remove it (or use another cluster)",
                describe_secret(s)
            );
        }
    }
    ctx.remove_sealed_and_secret(ns, name).await
}

async fn check_vector(ctx: &Ctx, v: &Vector, ns: &str) -> Result<()> {
    let mut object = v.sealed.clone();
    object["metadata"]["namespace"] = Value::from(ns);
    apply_sealed_secret(ctx.client(), &object).await?;
    if v.negative {
        ctx.wait_not_synced(ns, &v.name, "").await?;
        ctx.assert_secret_stays_absent(ns, &v.name, Duration::from_secs(2))
            .await?;
        return Ok(());
    }
    let sealed = ctx.wait_synced(ns, &v.name).await?;
    let want_fp = vectors::fingerprint(&v.sealing_key)?;
    ensure!(
        key_fingerprint(&sealed).as_deref() == Some(want_fp.as_str()),
        "status.keyFingerprint is {:?}, expected key {}'s {want_fp}",
        key_fingerprint(&sealed),
        v.sealing_key
    );
    let secret = objects::secrets(ctx.client(), ns)
        .get(&v.name)
        .await
        .with_context(|| format!("Secret {ns}/{} after Synced=True", v.name))?;
    assert_data(&secret, &v.expected)?;
    assert_owned_by(&secret, &sealed)?;
    let want_type = v
        .expected_secret
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_owned);
    ensure!(
        secret.type_ == want_type,
        "type is {:?}, upstream gives {want_type:?}",
        secret.type_
    );
    let want_labels = string_map_at(&v.expected_secret, "/metadata/labels");
    ensure!(
        labels_of(&secret) == want_labels,
        "labels are {:?}, upstream gives {want_labels:?}",
        labels_of(&secret)
    );
    let want_annotations = string_map_at(&v.expected_secret, "/metadata/annotations");
    ensure!(
        annotations_of(&secret) == want_annotations,
        "annotations are {:?}, upstream gives {want_annotations:?}",
        annotations_of(&secret)
    );
    Ok(())
}
