//! `spec.template.data`: Go text/template with Sprig, rendered by the controller. The
//! upstream template-data vector's template, with its items re-sealed by our kubeseal
//! to this test's own controller.

use anyhow::{Context, Result, ensure};
use base64::Engine;
use sealed_common::Scope;
use sealed_e2e::checks::{assert_data, assert_owned_by};
use sealed_e2e::objects::{annotations_of, apply_sealed_secret, labels_of, string_map};
use sealed_e2e::vectors;
use sealed_e2e::{ControllerSpec, kubeseal, run};
use serde_json::json;

#[tokio::test]
async fn template_data_is_rendered_like_upstream() -> Result<()> {
    run("templates", |ctx| async move {
        let vector = vectors::all()?
            .into_iter()
            .find(|v| v.rel.starts_with("template-data"))
            .context("the template-data vector is missing")?;
        let ns = ctx.namespace("home").await?;
        let _controller = ctx.start_controller(ControllerSpec::new(&ns))?;
        let (_, cert_path) = ctx.controller_cert(&ns).await?;

        let name = "rendered";
        let secret = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": { "app": "demo" },
                "annotations": { "note": "kept-in-template" },
            },
            "type": "Opaque",
            "data": { "a": base64::engine::general_purpose::STANDARD.encode("from-data") },
            "stringData": { "b": "from-stringData" },
        });
        let mut sealed = kubeseal::seal(&ctx, &cert_path, Scope::Strict, &secret).await?;
        let template_data = vector
            .sealed
            .pointer("/spec/template/data")
            .cloned()
            .context("the template-data vector has no spec.template.data")?;
        sealed["spec"]["template"]["data"] = template_data;
        apply_sealed_secret(ctx.client(), &sealed).await?;

        let ss = ctx.wait_synced(&ns, name).await?;
        let out = ctx.wait_secret_data(&ns, name, &vector.expected).await?;
        assert_data(&out, &vector.expected)?;
        ensure!(
            out.data
                .as_ref()
                .and_then(|d| d.get("combined"))
                .map(|b| b.0.as_slice())
                == Some(b"from-data:FROM-STRINGDATA".as_slice())
                && out
                    .data
                    .as_ref()
                    .and_then(|d| d.get("camel"))
                    .map(|b| b.0.as_slice())
                    == Some(b"HelloWorldFoo".as_slice()),
            "combined/camel not rendered as upstream"
        );
        assert_owned_by(&out, &ss)?;
        ensure!(
            labels_of(&out) == string_map(&[("app", "demo")]),
            "labels {:?}",
            labels_of(&out)
        );
        ensure!(
            annotations_of(&out) == string_map(&[("note", "kept-in-template")]),
            "annotations {:?}",
            annotations_of(&out)
        );
        Ok(())
    })
    .await
}
