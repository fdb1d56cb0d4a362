//! One SealedSecret for two clusters: two controllers (two home namespaces, each with
//! its own key) and one kubeseal output sealed for both with `--recipient`. Each
//! controller opens it with its own key; a third object sealed for the second
//! controller alone is refused by the first, with upstream's reason.

use anyhow::{Result, ensure};
use sealed_e2e::checks::{assert_data, assert_owned_by};
use sealed_e2e::objects::{apply_sealed_secret, bytes_map};
use sealed_e2e::{ControllerSpec, kubeseal, run};
use serde_json::{Value, json};
use std::time::Duration;

/// The kubeseal output moved to namespace `ns` (cluster-wide scope: any namespace).
fn into_namespace(sealed: &Value, ns: &str) -> Value {
    let mut out = sealed.clone();
    out["metadata"]["namespace"] = Value::from(ns);
    out
}

#[tokio::test]
async fn one_sealed_secret_opens_in_two_clusters() -> Result<()> {
    run("recipients", |ctx| async move {
        let one = ctx.namespace("one").await?;
        let two = ctx.namespace("two").await?;
        let _first = ctx.start_controller(ControllerSpec::new(&one))?;
        let _second = ctx.start_controller(ControllerSpec::new(&two))?;
        let (cert_one, path_one) = ctx.controller_cert(&one).await?;
        let (cert_two, path_two) = ctx.controller_cert(&two).await?;
        ensure!(
            cert_one.fingerprint() != cert_two.fingerprint(),
            "the two controllers must hold different keys"
        );

        let expected = bytes_map(&[("password", b"s3cr3t"), ("bin", &[0, 0xff, 1])]);
        let secret = kubeseal::plain_secret(&one, "shared", &expected, json!({}), json!({}));
        let (first, second) = (
            path_one.display().to_string(),
            path_two.display().to_string(),
        );
        let args = [
            "--cert",
            first.as_str(),
            "--recipient",
            second.as_str(),
            "--scope",
            "cluster-wide",
            "-o",
            "yaml",
        ];
        let text = kubeseal::run_ok(&ctx, &args, &serde_json::to_vec(&secret)?)
            .await?
            .stdout;
        let sealed = kubeseal::one_document(&text, "kubeseal --recipient output")?;

        for (ns, cert) in [(&one, &cert_one), (&two, &cert_two)] {
            let (object, unsealed) = ctx
                .apply_and_wait_unsealed(
                    &into_namespace(&sealed, ns),
                    &cert.fingerprint(),
                    &expected,
                )
                .await?;
            assert_data(&unsealed, &expected)?;
            assert_owned_by(&unsealed, &object)?;
        }

        // Sealed for the second cluster alone: the first one refuses it as upstream does.
        let args = [
            "--cert",
            second.as_str(),
            "--scope",
            "cluster-wide",
            "-o",
            "yaml",
        ];
        let secret = kubeseal::plain_secret(&one, "not-for-one", &expected, json!({}), json!({}));
        let text = kubeseal::run_ok(&ctx, &args, &serde_json::to_vec(&secret)?)
            .await?
            .stdout;
        let other = kubeseal::one_document(&text, "kubeseal output")?;
        apply_sealed_secret(ctx.client(), &other).await?;
        ctx.wait_not_synced(&one, "not-for-one", "no key could decrypt secret")
            .await?;
        ctx.assert_secret_stays_absent(&one, "not-for-one", Duration::from_secs(1))
            .await?;
        Ok(())
    })
    .await
}
