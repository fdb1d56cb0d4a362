//! The life of a SealedSecret: updates, the owned Secret deleted behind the
//! controller's back, and garbage collection when the SealedSecret goes.

use anyhow::{Context, Result, ensure};
use sealed_common::Scope;
use sealed_e2e::checks::{assert_data, assert_owned_by};
use sealed_e2e::gc::has_garbage_collector;
use sealed_e2e::objects::{
    self, apply_sealed_secret, bytes_map, delete_if_present, describe_sealed, describe_secret,
    generation, observed_generation,
};
use sealed_e2e::sealing::{seal_items, sealed_secret};
use sealed_e2e::{ControllerSpec, run};
use serde_json::json;
use std::time::Duration;

/// How long "nothing happens" is watched.
const QUIET: Duration = Duration::from_secs(5);

#[tokio::test]
async fn update_follows_spec_and_ignores_metadata_only_changes() -> Result<()> {
    run("update", |ctx| async move {
        let ns = ctx.namespace("home").await?;
        let _controller = ctx.start_controller(ControllerSpec::new(&ns))?;
        let (cert, _) = ctx.controller_cert(&ns).await?;
        let name = "updated";
        let template = json!({ "type": "Opaque" });

        let v1 = bytes_map(&[("a", b"one"), ("b", b"two"), ("c", b"three")]);
        let enc1 = seal_items(&cert, Scope::Strict, &ns, name, &v1)?;
        let applied = apply_sealed_secret(
            ctx.client(),
            &sealed_secret(&ns, name, Scope::Strict, &enc1, template.clone()),
        )
        .await?;
        let gen1 = generation(&applied).context("no metadata.generation")?;
        let ss1 = ctx.wait_synced(&ns, name).await?;
        ensure!(observed_generation(&ss1) == Some(gen1), "{}", describe_sealed(&ss1));
        let secret1 = ctx.wait_secret_data(&ns, name, &v1).await?;
        assert_owned_by(&secret1, &ss1)?;

        // Re-seal one item (the others keep their ciphertext).
        let mut enc2 = enc1.clone();
        let b2 = bytes_map(&[("b", b"two, changed")]);
        enc2.extend(seal_items(&cert, Scope::Strict, &ns, name, &b2)?);
        let applied = apply_sealed_secret(
            ctx.client(),
            &sealed_secret(&ns, name, Scope::Strict, &enc2, template.clone()),
        )
        .await?;
        let gen2 = generation(&applied).context("no metadata.generation")?;
        ensure!(gen2 == gen1 + 1, "a spec change must bump generation: {gen1} -> {gen2}");
        let v2 = bytes_map(&[("a", b"one"), ("b", b"two, changed"), ("c", b"three")]);
        let secret2 = ctx.wait_secret_data(&ns, name, &v2).await?;
        let ss2 = ctx.wait_synced(&ns, name).await?;
        ensure!(observed_generation(&ss2) == Some(gen2), "{}", describe_sealed(&ss2));
        ensure!(
            secret2.metadata.uid == secret1.metadata.uid,
            "the Secret must be updated in place, not recreated: uid {:?} -> {:?}",
            secret1.metadata.uid,
            secret2.metadata.uid
        );
        assert_owned_by(&secret2, &ss2)?;
        // Settled: nothing is written any more.
        ctx.assert_stable(&ns, name, true, QUIET).await?;

        // Drop an item: the Secret loses it.
        let mut enc3 = enc2.clone();
        enc3.remove("c");
        let applied = apply_sealed_secret(
            ctx.client(),
            &sealed_secret(&ns, name, Scope::Strict, &enc3, template.clone()),
        )
        .await?;
        let gen3 = generation(&applied).context("no metadata.generation")?;
        let v3 = bytes_map(&[("a", b"one"), ("b", b"two, changed")]);
        ctx.wait_secret_data(&ns, name, &v3).await?;
        let ss3 = ctx.wait_synced(&ns, name).await?;
        ensure!(observed_generation(&ss3) == Some(gen3), "{}", describe_sealed(&ss3));
        ctx.assert_stable(&ns, name, true, QUIET).await?;

        // Metadata only (a label on the SealedSecret): same generation, no Secret write,
        // no status write.
        let secret_before = objects::secrets(ctx.client(), &ns).get(name).await?;
        let mut labelled = sealed_secret(&ns, name, Scope::Strict, &enc3, template.clone());
        labelled["metadata"]["labels"] = json!({ "e2e.example/extra": "metadata-only" });
        let applied = apply_sealed_secret(ctx.client(), &labelled).await?;
        ensure!(
            generation(&applied) == Some(gen3),
            "a label change must not bump generation: {gen3} -> {:?}",
            generation(&applied)
        );
        let ss_rv = applied.metadata.resource_version.clone();
        tokio::time::sleep(QUIET).await;
        ctx.check_controllers()?;
        let secret_after = objects::secrets(ctx.client(), &ns).get(name).await?;
        ensure!(
            secret_after.metadata.resource_version == secret_before.metadata.resource_version,
            "a metadata-only change of the SealedSecret rewrote the Secret:\n  before {}\n  after  {}",
            describe_secret(&secret_before),
            describe_secret(&secret_after)
        );
        assert_data(&secret_after, &v3)?;
        let ss_after = objects::sealed_secrets(ctx.client(), &ns).get(name).await?;
        ensure!(
            ss_after.metadata.resource_version == ss_rv,
            "a metadata-only change made the controller write the SealedSecret (status unchanged, nothing to write): {}",
            describe_sealed(&ss_after)
        );
        sealed_e2e::checks::assert_synced_true(&ss_after)?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn deleted_secret_is_recreated_unless_skip_recreate() -> Result<()> {
    run("recreate", |ctx| async move {
        let items = bytes_map(&[("k", b"recreate me")]);

        // Default: the controller recreates its Secret.
        let ns = ctx.namespace("home").await?;
        let controller = ctx.start_controller(ControllerSpec::new(&ns))?;
        let (cert, _) = ctx.controller_cert(&ns).await?;
        let enc = seal_items(&cert, Scope::Strict, &ns, "owned", &items)?;
        apply_sealed_secret(
            ctx.client(),
            &sealed_secret(&ns, "owned", Scope::Strict, &enc, json!({})),
        )
        .await?;
        let ss = ctx.wait_synced(&ns, "owned").await?;
        let first = ctx.wait_secret_data(&ns, "owned", &items).await?;
        let secrets = objects::secrets(ctx.client(), &ns);
        delete_if_present(&secrets, "owned").await?;
        let again = ctx
            .wait_secret(&ns, "owned", "be recreated (a new uid)", |s| {
                s.metadata.uid.is_some() && s.metadata.uid != first.metadata.uid
            })
            .await?;
        assert_data(&again, &items)?;
        assert_owned_by(&again, &ss)?;
        controller.stop();

        // --skip-recreate: the deleted Secret stays deleted.
        let ns2 = ctx.namespace("skip").await?;
        let _controller = ctx.start_controller(ControllerSpec::new(&ns2).arg("--skip-recreate"))?;
        let (cert2, _) = ctx.controller_cert(&ns2).await?;
        let enc2 = seal_items(&cert2, Scope::Strict, &ns2, "owned", &items)?;
        apply_sealed_secret(
            ctx.client(),
            &sealed_secret(&ns2, "owned", Scope::Strict, &enc2, json!({})),
        )
        .await?;
        ctx.wait_synced(&ns2, "owned").await?;
        ctx.wait_secret_data(&ns2, "owned", &items).await?;
        delete_if_present(&objects::secrets(ctx.client(), &ns2), "owned").await?;
        ctx.assert_secret_stays_absent(&ns2, "owned", QUIET).await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn secret_is_garbage_collected_with_its_sealed_secret() -> Result<()> {
    run("gc", |ctx| async move {
        let ns = ctx.namespace("home").await?;
        let _controller = ctx.start_controller(ControllerSpec::new(&ns))?;
        let (cert, _) = ctx.controller_cert(&ns).await?;
        let items = bytes_map(&[("k", b"collect me")]);
        let enc = seal_items(&cert, Scope::Strict, &ns, "collected", &items)?;
        apply_sealed_secret(
            ctx.client(),
            &sealed_secret(&ns, "collected", Scope::Strict, &enc, json!({})),
        )
        .await?;
        let ss = ctx.wait_synced(&ns, "collected").await?;
        let secret = ctx.wait_secret_data(&ns, "collected", &items).await?;
        // What garbage collection relies on: a controller ownerReference with the uid.
        assert_owned_by(&secret, &ss)?;

        let gc = has_garbage_collector(&ctx, &ns).await?;
        delete_if_present(&objects::sealed_secrets(ctx.client(), &ns), "collected").await?;
        if gc {
            ctx.wait_secret_gone(&ns, "collected", ctx.timeout()).await?;
        } else {
            println!(
                "skipped part: no garbage collector in this cluster (kube-controller-manager not running); \
                 checked the ownerReference instead"
            );
        }
        Ok(())
    })
    .await
}
