//! `--label-selector`: only matching SealedSecrets are the controller's business.

use anyhow::{Result, ensure};
use sealed_common::Scope;
use sealed_e2e::checks::assert_owned_by;
use sealed_e2e::objects::{self, apply_sealed_secret, bytes_map, describe_sealed, status_of};
use sealed_e2e::sealing::{seal_items, sealed_secret};
use sealed_e2e::{ControllerSpec, run};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn label_selector_limits_what_is_unsealed() -> Result<()> {
    run("selector", |ctx| async move {
        let ns = ctx.namespace("home").await?;
        let _controller = ctx.start_controller(
            ControllerSpec::new(&ns)
                .arg("--label-selector")
                .arg("app=x"),
        )?;
        let (cert, _) = ctx.controller_cert(&ns).await?;
        let items = bytes_map(&[("k", b"selected")]);

        // Applied first, so the controller would have met it before the labelled one.
        let enc = seal_items(&cert, Scope::Strict, &ns, "ignored", &items)?;
        let mut ignored = sealed_secret(&ns, "ignored", Scope::Strict, &enc, json!({}));
        ignored["metadata"]["labels"] = json!({ "app": "y" });
        apply_sealed_secret(ctx.client(), &ignored).await?;

        let enc = seal_items(&cert, Scope::Strict, &ns, "selected", &items)?;
        let mut selected = sealed_secret(&ns, "selected", Scope::Strict, &enc, json!({}));
        selected["metadata"]["labels"] = json!({ "app": "x" });
        apply_sealed_secret(ctx.client(), &selected).await?;
        let sealed = ctx.wait_synced(&ns, "selected").await?;
        let secret = ctx.wait_secret_data(&ns, "selected", &items).await?;
        assert_owned_by(&secret, &sealed)?;

        ctx.assert_secret_stays_absent(&ns, "ignored", Duration::from_secs(3))
            .await?;
        let ignored = objects::sealed_secrets(ctx.client(), &ns)
            .get("ignored")
            .await?;
        ensure!(
            status_of(&ignored).is_none(),
            "a SealedSecret outside --label-selector must get no status: {}",
            describe_sealed(&ignored)
        );
        let events = objects::events_about(
            ctx.client(),
            &ns,
            "ignored",
            ignored.metadata.uid.as_deref(),
        )
        .await?;
        ensure!(
            events.is_empty(),
            "a SealedSecret outside --label-selector must get no events: {}",
            objects::describe_events(&events)
        );
        Ok(())
    })
    .await
}
