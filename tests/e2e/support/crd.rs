//! The SealedSecret CRD, installed from our Rust type (a superset of upstream's, so
//! applying it over an upstream installation is safe).

use crate::objects::{FIELD_MANAGER, sealed_secret_resource};
use crate::wait::{Poll, wait_for};
use anyhow::{Context, Result, anyhow};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Client, CustomResourceExt};
use sealed_common::SealedSecret;
use std::time::Duration;
use tokio::sync::OnceCell;

static INSTALLED: OnceCell<Result<(), String>> = OnceCell::const_new();

/// Installs the CRD once per test process (server-side apply, forced) and waits until it
/// is `Established` and its API is served.
pub async fn ensure_crd(client: &Client) -> Result<()> {
    INSTALLED
        .get_or_init(|| async { install(client).await.map_err(|e| format!("{e:#}")) })
        .await
        .clone()
        .map_err(|e| anyhow!("installing the SealedSecret CRD failed: {e}"))
}

async fn install(client: &Client) -> Result<()> {
    let crd = SealedSecret::crd();
    let name = crd
        .metadata
        .name
        .clone()
        .context("the generated CRD has no name")?;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&crd),
    )
    .await
    .with_context(|| format!("server-side apply of CRD {name} (needs cluster-admin rights)"))?;

    wait_for(
        Duration::from_secs(60),
        &format!("CRD {name} to be Established"),
        || async {
            let crd = api.get(&name).await?;
            let conditions = crd
                .status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default();
            let established = conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            Ok(if established {
                Poll::Ready(())
            } else {
                Poll::Pending(format!(
                    "conditions: {}",
                    serde_json::to_string(&conditions)?
                ))
            })
        },
    )
    .await?;

    // Established can precede the endpoint being served for a moment.
    let sealed: Api<DynamicObject> = Api::all_with(client.clone(), &sealed_secret_resource());
    wait_for(
        Duration::from_secs(60),
        "the bitnami.com/v1alpha1 sealedsecrets API to be served",
        || async {
            sealed.list(&ListParams::default().limit(1)).await?;
            Ok(Poll::Ready(()))
        },
    )
    .await
}

/// Fields of `object` (a SealedSecret) that the CRD's schema does not declare, or
/// declares with another JSON type. Server-side apply refuses undeclared fields
/// ("field not declared in schema"), so everything the suite applies must pass this.
pub fn schema_violations(object: &serde_json::Value) -> Vec<String> {
    let crd = SealedSecret::crd();
    let schema = crd
        .spec
        .versions
        .first()
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or_default();
    let mut out = Vec::new();
    if let Some(map) = object.as_object() {
        for (key, value) in map {
            // Every object has these; the API server handles them itself.
            if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            check(&schema, key, value, key, &mut out);
        }
    }
    out
}

fn check(
    schema: &serde_json::Value,
    key: &str,
    value: &serde_json::Value,
    path: &str,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    let declared = schema
        .get("properties")
        .and_then(|p| p.get(key))
        .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()));
    let Some(field) = declared else {
        if schema.get("x-kubernetes-preserve-unknown-fields") != Some(&Value::Bool(true)) {
            out.push(format!("{path}: not declared in the CRD schema"));
        }
        return;
    };
    if field.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
        && field.get("properties").is_none()
    {
        return;
    }
    let want = field.get("type").and_then(Value::as_str).unwrap_or("");
    let ok = match value {
        // Kept where the schema says `nullable: true`; elsewhere the API server prunes
        // the field before validating, so null is never refused.
        Value::Null => true,
        Value::Bool(_) => want == "boolean",
        Value::Number(n) => want == "number" || (want == "integer" && n.is_i64()),
        Value::String(_) => want == "string",
        Value::Array(_) => want == "array",
        Value::Object(_) => want == "object",
    };
    if !ok && !want.is_empty() {
        out.push(format!("{path}: the schema wants {want}, found {value}"));
        return;
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                check(field, k, v, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = field.get("items") {
                for (i, v) in items.iter().enumerate() {
                    let wrapper = serde_json::json!({ "properties": { "item": item_schema } });
                    check(&wrapper, "item", v, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::schema_violations;
    use crate::objects::bytes_map;
    use crate::sealing::{certificate_from_pem, legacy_spec_data, seal_items, sealed_secret};
    use sealed_common::Scope;
    use serde_json::json;

    #[test]
    fn everything_the_suite_applies_is_declared_in_the_crd() {
        let cert = certificate_from_pem(&crate::vectors::cert_pem("A").expect("cert A"))
            .expect("parse cert A");
        let items = bytes_map(&[("k", b"v")]);
        let enc = seal_items(&cert, Scope::Strict, "ns", "n", &items).expect("seal");
        let mut objects = vec![
            sealed_secret("ns", "n", Scope::Strict, &enc, json!({})),
            sealed_secret(
                "ns",
                "n",
                Scope::ClusterWide,
                &enc,
                json!({ "type": "Opaque" }),
            ),
            sealed_secret(
                "ns",
                "n",
                Scope::NamespaceWide,
                &enc,
                json!({
                    "type": "Opaque",
                    "immutable": true,
                    "metadata": { "labels": { "a": "b" }, "annotations": { "c": "d" } },
                    "data": { "x": "{{ .k }}", "dropped": null },
                }),
            ),
        ];
        let mut legacy = sealed_secret("ns", "n", Scope::Strict, &Default::default(), json!({}));
        legacy["spec"]["data"] =
            json!(legacy_spec_data(&cert, "ns", "n", &items).expect("legacy blob"));
        objects.push(legacy);
        for vector in crate::vectors::all().expect("vectors") {
            objects.push(vector.sealed);
        }
        for object in &objects {
            let violations = schema_violations(object);
            assert!(violations.is_empty(), "{violations:?} in {object}");
        }
        // The checker does catch what server-side apply would refuse.
        let mut bad = objects[0].clone();
        bad["spec"]["encryptedDta"] = json!({});
        bad["spec"]["template"]["immutable"] = json!("yes");
        assert_eq!(
            schema_violations(&bad),
            vec![
                "spec.template.immutable: the schema wants boolean, found \"yes\"".to_owned(),
                "spec.encryptedDta: not declared in the CRD schema".to_owned(),
            ]
        );
    }
}
