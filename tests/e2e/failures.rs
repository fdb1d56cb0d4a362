//! What does not unseal, and how the controller says so: a foreign key, both data
//! fields, an immutable Secret that would change, the legacy `spec.data` behind its flag.

use anyhow::{Context, Result, ensure};
use sealed_common::Scope;
use sealed_common::unseal::UnsealError;
use sealed_e2e::checks::{assert_data, assert_owned_by};
use sealed_e2e::objects::{
    self, apply_sealed_secret, bytes_map, describe_sealed, describe_secret, event_counts,
    events_about, generation, observed_generation,
};
use sealed_e2e::sealing::{foreign_key_pair, legacy_spec_data, seal_items, sealed_secret};
use sealed_e2e::{ControllerSpec, run};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn wrong_key_and_both_data_fields_fail_then_recover() -> Result<()> {
    run("unsealerr", |ctx| async move {
        let ns = ctx.namespace("home").await?;
        let _controller = ctx.start_controller(ControllerSpec::new(&ns))?;
        let (cert, _) = ctx.controller_cert(&ns).await?;
        let items = bytes_map(&[("k", b"right key at last")]);

        // Sealed to a key the controller does not have.
        let foreign = foreign_key_pair()?;
        let enc = seal_items(
            &foreign.certificate,
            Scope::Strict,
            &ns,
            "wrong-key",
            &items,
        )?;
        apply_sealed_secret(
            ctx.client(),
            &sealed_secret(&ns, "wrong-key", Scope::Strict, &enc, json!({})),
        )
        .await?;
        let sealed = ctx
            .wait_not_synced(&ns, "wrong-key", "no key could decrypt secret")
            .await?;
        let event = ctx
            .wait_event(&sealed, "ErrUnsealFailed", "Warning")
            .await?;
        let note = event.note.clone().unwrap_or_default();
        ensure!(
            note.starts_with("Failed to unseal: ") && note.contains("no key could decrypt secret"),
            "ErrUnsealFailed note is {note:?}"
        );
        ctx.assert_secret_stays_absent(&ns, "wrong-key", Duration::from_secs(1))
            .await?;

        // Fixed: sealed to the controller's key.
        let enc = seal_items(&cert, Scope::Strict, &ns, "wrong-key", &items)?;
        let applied = apply_sealed_secret(
            ctx.client(),
            &sealed_secret(&ns, "wrong-key", Scope::Strict, &enc, json!({})),
        )
        .await?;
        let fixed = ctx.wait_synced(&ns, "wrong-key").await?;
        ensure!(
            observed_generation(&fixed) == generation(&applied),
            "{}",
            describe_sealed(&fixed)
        );
        let secret = ctx.wait_secret_data(&ns, "wrong-key", &items).await?;
        assert_owned_by(&secret, &fixed)?;
        ctx.wait_event(&fixed, "Unsealed", "Normal").await?;

        // Both spec.data and spec.encryptedData: refused with upstream's error.
        let enc = seal_items(&cert, Scope::Strict, &ns, "both-fields", &items)?;
        let legacy = legacy_spec_data(&cert, &ns, "both-fields", &items)?;
        let mut both = sealed_secret(&ns, "both-fields", Scope::Strict, &enc, json!({}));
        both["spec"]["data"] = json!(legacy);
        apply_sealed_secret(ctx.client(), &both).await?;
        let both_error = UnsealError::BothDataFields.to_string();
        let sealed = ctx.wait_not_synced(&ns, "both-fields", &both_error).await?;
        let event = ctx
            .wait_event(&sealed, "ErrUnsealFailed", "Warning")
            .await?;
        ensure!(
            event.note.as_deref().unwrap_or("").contains(&both_error),
            "ErrUnsealFailed note is {:?}, expected it to contain {both_error:?}",
            event.note
        );
        ctx.assert_secret_stays_absent(&ns, "both-fields", Duration::from_secs(1))
            .await?;

        // Fixed: spec.data dropped (server-side apply removes the field we no longer set).
        let applied = apply_sealed_secret(
            ctx.client(),
            &sealed_secret(&ns, "both-fields", Scope::Strict, &enc, json!({})),
        )
        .await?;
        ensure!(
            applied.data.pointer("/spec/data").is_none(),
            "server-side apply did not remove spec.data: {}",
            describe_sealed(&applied)
        );
        let fixed = ctx.wait_synced(&ns, "both-fields").await?;
        let secret = ctx.wait_secret_data(&ns, "both-fields", &items).await?;
        assert_owned_by(&secret, &fixed)?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn immutable_secret_is_not_changed() -> Result<()> {
    run("immutable", |ctx| async move {
        let ns = ctx.namespace("home").await?;
        let _controller = ctx.start_controller(ControllerSpec::new(&ns))?;
        let (cert, _) = ctx.controller_cert(&ns).await?;
        let name = "frozen";
        let template = json!({ "type": "Opaque", "immutable": true });
        let v1 = bytes_map(&[("k", b"first")]);
        let enc1 = seal_items(&cert, Scope::Strict, &ns, name, &v1)?;
        apply_sealed_secret(
            ctx.client(),
            &sealed_secret(&ns, name, Scope::Strict, &enc1, template.clone()),
        )
        .await?;
        ctx.wait_synced(&ns, name).await?;
        let before = ctx.wait_secret_data(&ns, name, &v1).await?;
        ensure!(
            before.immutable == Some(true),
            "template immutable: true must give an immutable Secret: {}",
            describe_secret(&before)
        );

        let v2 = bytes_map(&[("k", b"second")]);
        let enc2 = seal_items(&cert, Scope::Strict, &ns, name, &v2)?;
        let applied = apply_sealed_secret(
            ctx.client(),
            &sealed_secret(&ns, name, Scope::Strict, &enc2, template.clone()),
        )
        .await?;
        let failed = ctx.wait_not_synced(&ns, name, "immutable").await?;
        ensure!(
            observed_generation(&failed) == generation(&applied),
            "{}",
            describe_sealed(&failed)
        );
        // Not retried: no new event (retries would repeat the failure's event), nothing
        // written any more, and the Secret unchanged.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let uid = failed.metadata.uid.clone();
        let events_before =
            event_counts(&events_about(ctx.client(), &ns, name, uid.as_deref()).await?);
        ctx.assert_stable(&ns, name, true, Duration::from_secs(5))
            .await?;
        let events_after =
            event_counts(&events_about(ctx.client(), &ns, name, uid.as_deref()).await?);
        ensure!(
            events_after == events_before,
            "the failed update of an immutable Secret was retried (upstream does not retry it): \
             events (name -> reason, count) before {events_before:?}, 5 s later {events_after:?}"
        );
        let after = objects::secrets(ctx.client(), &ns).get(name).await?;
        ensure!(
            after.metadata.resource_version == before.metadata.resource_version,
            "the immutable Secret was rewritten:\n  before {}\n  after  {}",
            describe_secret(&before),
            describe_secret(&after)
        );
        assert_data(&after, &v1)?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn legacy_spec_data_unseals_only_when_accepted() -> Result<()> {
    run("legacy", |ctx| async move {
        let items = bytes_map(&[("legacy", b"v1 data"), ("other", b"\x00\x01")]);

        // Default: --accept-deprecated-v1-data=true.
        let ns = ctx.namespace("accept").await?;
        let controller = ctx.start_controller(ControllerSpec::new(&ns))?;
        let (cert, _) = ctx.controller_cert(&ns).await?;
        let blob = legacy_spec_data(&cert, &ns, "old-style", &items)?;
        let object = json!({
            "apiVersion": "bitnami.com/v1alpha1",
            "kind": "SealedSecret",
            "metadata": { "name": "old-style", "namespace": ns },
            // encryptedData stays (empty): upstream's CRD marks it required.
            "spec": { "data": blob, "encryptedData": {} },
        });
        apply_sealed_secret(ctx.client(), &object).await?;
        let sealed = ctx.wait_synced(&ns, "old-style").await?;
        let secret = ctx.wait_secret_data(&ns, "old-style", &items).await?;
        assert_owned_by(&secret, &sealed)?;
        ensure!(
            secret.type_.as_deref() == Some("Opaque"),
            "the legacy blob's type is Opaque, the Secret has {:?}",
            secret.type_
        );
        controller.stop();

        // --accept-deprecated-v1-data=false: refused with upstream's message.
        let ns2 = ctx.namespace("refuse").await?;
        let _controller = ctx
            .start_controller(ControllerSpec::new(&ns2).arg("--accept-deprecated-v1-data=false"))?;
        let (cert2, _) = ctx.controller_cert(&ns2).await?;
        let blob2 = legacy_spec_data(&cert2, &ns2, "old-style", &items)?;
        let mut object2 = object.clone();
        object2["metadata"]["namespace"] = json!(ns2);
        object2["spec"]["data"] = json!(blob2);
        apply_sealed_secret(ctx.client(), &object2)
            .await
            .context("applying the legacy SealedSecret in the refusing namespace")?;
        let refused = UnsealError::DeprecatedData.to_string();
        let sealed = ctx.wait_not_synced(&ns2, "old-style", &refused).await?;
        ctx.wait_event(&sealed, "ErrUnsealFailed", "Warning")
            .await?;
        ctx.assert_secret_stays_absent(&ns2, "old-style", Duration::from_secs(1))
            .await?;
        Ok(())
    })
    .await
}
