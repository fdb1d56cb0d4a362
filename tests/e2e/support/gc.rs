//! Does the cluster run kube-controller-manager (garbage collector, namespace
//! controller)? A bare kube-apiserver + etcd does not: ownerReferences never delete
//! anything and deleted namespaces stay Terminating; a test then empties a deleted
//! namespace itself, as the namespace controller would.

use crate::harness::Ctx;
use crate::objects::{delete_if_present, get_opt, string_map};
use crate::wait::{Poll, wait_for};
use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, PostParams};
use std::time::Duration;

/// How long the probe's dependent may take to disappear.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// Creates a ConfigMap owned by another ConfigMap in `ns`, deletes the owner and
/// reports whether the dependent is gone within [`PROBE_TIMEOUT`]. Cleans up after itself.
pub async fn has_garbage_collector(ctx: &Ctx, ns: &str) -> Result<bool> {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client().clone(), ns);
    let owner_name = ctx.unique("gc-owner");
    let dependent_name = ctx.unique("gc-dependent");
    let owner = api
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some(owner_name.clone()),
                    ..ObjectMeta::default()
                },
                data: Some(string_map(&[("probe", "owner")])),
                ..ConfigMap::default()
            },
        )
        .await
        .context("creating the garbage-collector probe's owner ConfigMap")?;
    let uid = owner
        .metadata
        .uid
        .clone()
        .context("the API server returned the probe owner without a uid")?;
    api.create(
        &PostParams::default(),
        &ConfigMap {
            metadata: ObjectMeta {
                name: Some(dependent_name.clone()),
                owner_references: Some(vec![OwnerReference {
                    api_version: "v1".to_owned(),
                    kind: "ConfigMap".to_owned(),
                    name: owner_name.clone(),
                    uid,
                    controller: None,
                    block_owner_deletion: None,
                }]),
                ..ObjectMeta::default()
            },
            data: Some(string_map(&[("probe", "dependent")])),
            ..ConfigMap::default()
        },
    )
    .await
    .context("creating the garbage-collector probe's dependent ConfigMap")?;
    delete_if_present(&api, &owner_name).await?;
    let collected = wait_for(
        PROBE_TIMEOUT,
        "the probe's dependent ConfigMap to be garbage-collected",
        || async {
            Ok(match get_opt(&api, &dependent_name).await? {
                None => Poll::Ready(()),
                Some(_) => Poll::Pending("dependent still present".to_owned()),
            })
        },
    )
    .await
    .is_ok();
    if !collected {
        delete_if_present(&api, &dependent_name).await?;
    }
    Ok(collected)
}

/// The ConfigMap kube-controller-manager publishes in every namespace within seconds.
pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";

/// Does kube-controller-manager run (and so its namespace controller, which empties a
/// deleted namespace and removes it)? Probe: its root-CA publisher puts the ConfigMap
/// [`ROOT_CA_CONFIGMAP`] into `ns` (created at least a moment ago) within `within`.
pub async fn has_controller_manager(ctx: &Ctx, ns: &str, within: Duration) -> Result<bool> {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client().clone(), ns);
    Ok(wait_for(
        within,
        &format!("ConfigMap {ns}/{ROOT_CA_CONFIGMAP} (published by kube-controller-manager)"),
        || async {
            Ok(match get_opt(&api, ROOT_CA_CONFIGMAP).await? {
                Some(_) => Poll::Ready(()),
                None => Poll::Pending("absent".to_owned()),
            })
        },
    )
    .await
    .is_ok())
}

/// Deletes every Secret, then every SealedSecret of `ns`, as the namespace controller
/// does with a deleted namespace's contents.
pub async fn empty_like_the_namespace_controller(ctx: &Ctx, ns: &str) -> Result<()> {
    let secrets = crate::objects::secrets(ctx.client(), ns);
    for name in ctx.secrets_by_name(ns).await?.keys() {
        delete_if_present(&secrets, name).await?;
    }
    // Give the controller a moment to see its Secrets gone while the SealedSecrets are
    // still there: recreating them is refused (403, the namespace is terminating).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let sealed = crate::objects::sealed_secrets(ctx.client(), ns);
    for name in ctx.sealed_by_name(ns).await?.keys() {
        delete_if_present(&sealed, name).await?;
    }
    Ok(())
}
