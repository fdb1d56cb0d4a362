//! Our `kubeseal` end to end: seal with the controller's certificate (taken from its
//! key Secret) in each scope, apply, and check what opens where.

use anyhow::{Result, ensure};
use base64::Engine;
use sealed_common::Scope;
use sealed_e2e::checks::{assert_data, assert_owned_by};
use sealed_e2e::objects::{self, apply_sealed_secret, bytes_map, show_bytes_map};
use sealed_e2e::sealing::{CLUSTER_WIDE, NAMESPACE_WIDE};
use sealed_e2e::{ControllerSpec, Ctx, kubeseal, run};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Moves a kubeseal output to another name/namespace, as a user editing the YAML would
/// (only `metadata`; the template keeps what kubeseal wrote).
fn moved(sealed: &Value, ns: &str, name: &str) -> Value {
    let mut out = sealed.clone();
    out["metadata"]["namespace"] = Value::from(ns);
    out["metadata"]["name"] = Value::from(name);
    out
}

async fn expect_opens(
    ctx: &Ctx,
    object: &Value,
    expected: &BTreeMap<String, Vec<u8>>,
    fingerprint: &str,
) -> Result<()> {
    let (sealed, secret) = ctx
        .apply_and_wait_unsealed(object, fingerprint, expected)
        .await?;
    assert_data(&secret, expected)?;
    assert_owned_by(&secret, &sealed)?;
    Ok(())
}

async fn expect_refused(ctx: &Ctx, object: &Value) -> Result<()> {
    let applied = apply_sealed_secret(ctx.client(), object).await?;
    let ns = applied.metadata.namespace.clone().unwrap_or_default();
    let name = applied.metadata.name.clone().unwrap_or_default();
    let sealed = ctx
        .wait_not_synced(&ns, &name, "no key could decrypt secret")
        .await?;
    let event = ctx
        .wait_event(&sealed, "ErrUnsealFailed", "Warning")
        .await?;
    let note = event.note.unwrap_or_default();
    ensure!(
        note.starts_with("Failed to unseal: ") && note.contains("no key could decrypt secret"),
        "{ns}/{name}: ErrUnsealFailed note is {note:?}"
    );
    ctx.assert_secret_stays_absent(&ns, &name, Duration::from_secs(1))
        .await
}

#[tokio::test]
async fn kubeseal_output_unseals_in_every_scope() -> Result<()> {
    run("kubeseal", |ctx| async move {
        let home = ctx.namespace("home").await?;
        let other = ctx.namespace("other").await?;
        let _controller = ctx.start_controller(ControllerSpec::new(&home).watch(&other))?;
        let (cert, cert_path) = ctx.controller_cert(&home).await?;
        let fingerprint = cert.fingerprint();

        let binary: &[u8] = &[0, 1, 2, 0x7f, 0x80, 0xfe, 0xff];
        let expected = bytes_map(&[
            ("user", b"alice"),
            ("bin", binary),
            ("note", b"from stringData"),
        ]);
        let mut outputs = BTreeMap::new();
        for (scope, name) in [
            (Scope::Strict, "ks-strict"),
            (Scope::NamespaceWide, "ks-nsw"),
            (Scope::ClusterWide, "ks-cw"),
        ] {
            let secret = json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": { "name": name, "namespace": home },
                "type": "Opaque",
                "data": { "user": b64(b"alice"), "bin": b64(binary) },
                "stringData": { "note": "from stringData" },
            });
            let sealed = kubeseal::seal(&ctx, &cert_path, scope, &secret).await?;
            ensure!(
                sealed["apiVersion"] == "bitnami.com/v1alpha1"
                    && sealed["kind"] == "SealedSecret"
                    && sealed["metadata"]["name"] == name
                    && sealed["metadata"]["namespace"] == home.as_str(),
                "kubeseal --scope {scope}: unexpected header: {sealed}"
            );
            let items: BTreeSet<&str> = sealed["spec"]["encryptedData"]
                .as_object()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            ensure!(
                items == BTreeSet::from(["user", "bin", "note"]),
                "kubeseal --scope {scope}: encryptedData items {items:?}"
            );
            let annotation = |key: &str| sealed["metadata"]["annotations"][key].as_str().map(str::to_owned);
            let (nsw, cw) = (annotation(NAMESPACE_WIDE), annotation(CLUSTER_WIDE));
            let want = match scope {
                Scope::Strict => (None, None),
                Scope::NamespaceWide => (Some("true".to_owned()), None),
                Scope::ClusterWide => (None, Some("true".to_owned())),
            };
            ensure!(
                (nsw.clone(), cw.clone()) == want,
                "kubeseal --scope {scope}: scope annotations namespace-wide={nsw:?} cluster-wide={cw:?}"
            );
            expect_opens(&ctx, &sealed, &expected, &fingerprint).await?;
            outputs.insert(scope, sealed);
        }
        println!(
            "kubeseal output unsealed in all three scopes: {}",
            show_bytes_map(&expected)
        );

        // Namespace-wide: any name in the same namespace.
        expect_opens(
            &ctx,
            &moved(&outputs[&Scope::NamespaceWide], &home, "ks-nsw-renamed"),
            &expected,
            &fingerprint,
        )
        .await?;
        // Cluster-wide: any name in any namespace.
        expect_opens(
            &ctx,
            &moved(&outputs[&Scope::ClusterWide], &other, "ks-cw-moved"),
            &expected,
            &fingerprint,
        )
        .await?;
        // Strict: bound to its name and namespace.
        expect_refused(&ctx, &moved(&outputs[&Scope::Strict], &home, "ks-strict-renamed")).await?;
        expect_refused(&ctx, &moved(&outputs[&Scope::Strict], &other, "ks-strict")).await?;
        // Namespace-wide: bound to its namespace.
        expect_refused(&ctx, &moved(&outputs[&Scope::NamespaceWide], &other, "ks-nsw")).await?;

        // The originals are untouched by all this.
        for name in ["ks-strict", "ks-nsw", "ks-cw"] {
            let secret = objects::secrets(ctx.client(), &home).get(name).await?;
            assert_data(&secret, &expected)?;
        }
        Ok(())
    })
    .await
}
