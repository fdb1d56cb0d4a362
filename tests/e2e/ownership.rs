//! Who owns the Secret: an existing unmanaged Secret is refused, `managed: "true"`
//! hands it over, `patch: "true"` merges into it; and the template can ask for no
//! ownerReference at all.

use anyhow::{Result, ensure};
use sealed_common::Scope;
use sealed_common::scope::{
    MANAGED_ANNOTATION, PATCH_ANNOTATION, SKIP_SET_OWNER_REFERENCES_ANNOTATION,
};
use sealed_e2e::checks::{assert_data, assert_owned_by};
use sealed_e2e::objects::{
    self, annotations_of, apply_sealed_secret, bytes_map, describe_secret, labels_of, secret_data,
    string_map,
};
use sealed_e2e::sealing::{seal_items, sealed_secret};
use sealed_e2e::{ControllerSpec, run};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn existing_secrets_refused_taken_over_or_patched() -> Result<()> {
    run("ownership", |ctx| async move {
        let ns = ctx.namespace("home").await?;
        let _controller = ctx.start_controller(ControllerSpec::new(&ns))?;
        let (cert, _) = ctx.controller_cert(&ns).await?;
        let new_items = bytes_map(&[("a", b"new-a"), ("b", b"new-b")]);
        let template = json!({
            "type": "Opaque",
            "metadata": {
                "labels": { "shared": "from-template", "new-label": "n" },
                "annotations": { "new-annotation": "n" },
            },
        });
        let seal = |name: &str| -> Result<serde_json::Value> {
            let enc = seal_items(&cert, Scope::Strict, &ns, name, &new_items)?;
            Ok(sealed_secret(&ns, name, Scope::Strict, &enc, template.clone()))
        };
        let old_items = bytes_map(&[("a", b"old-a"), ("keep", b"old-keep")]);
        let old_labels = string_map(&[("shared", "old"), ("old-label", "o")]);

        // 1. Unmanaged: refused, untouched.
        let plain = ctx
            .create_plain_secret(
                &ns,
                "unmanaged",
                &old_items,
                old_labels.clone(),
                string_map(&[("old-annotation", "o")]),
            )
            .await?;
        apply_sealed_secret(ctx.client(), &seal("unmanaged")?).await?;
        let refusal = r#"Resource "unmanaged" already exists and is not managed by SealedSecret"#;
        let sealed = ctx.wait_not_synced(&ns, "unmanaged", refusal).await?;
        let event = ctx.wait_event(&sealed, "ErrUpdateFailed", "Warning").await?;
        ensure!(
            event.note.as_deref().unwrap_or("").contains(refusal),
            "ErrUpdateFailed note is {:?}, expected it to contain {refusal:?}",
            event.note
        );
        // Give retries their chance to do damage, then check nothing changed.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let after = objects::secrets(ctx.client(), &ns).get("unmanaged").await?;
        ensure!(
            after.metadata.resource_version == plain.metadata.resource_version,
            "the unmanaged Secret was modified:\n  before {}\n  after  {}",
            describe_secret(&plain),
            describe_secret(&after)
        );
        assert_data(&after, &old_items)?;

        // 2. managed: "true": taken over, data/labels/annotations replaced, owner set.
        ctx.create_plain_secret(
            &ns,
            "managed",
            &old_items,
            old_labels.clone(),
            string_map(&[(MANAGED_ANNOTATION, "true"), ("old-annotation", "o")]),
        )
        .await?;
        apply_sealed_secret(ctx.client(), &seal("managed")?).await?;
        let sealed = ctx.wait_synced(&ns, "managed").await?;
        let secret = ctx.wait_secret_data(&ns, "managed", &new_items).await?;
        assert_owned_by(&secret, &sealed)?;
        let want_labels = string_map(&[("shared", "from-template"), ("new-label", "n")]);
        ensure!(
            labels_of(&secret) == want_labels,
            "managed takeover: labels {:?}, expected exactly the template's {want_labels:?}",
            labels_of(&secret)
        );
        let want_annotations = string_map(&[("new-annotation", "n")]);
        ensure!(
            annotations_of(&secret) == want_annotations,
            "managed takeover: annotations {:?}, expected exactly the template's {want_annotations:?}",
            annotations_of(&secret)
        );
        ensure!(
            secret.type_.as_deref() == Some("Opaque"),
            "managed takeover: type {:?}",
            secret.type_
        );
        ctx.wait_event(&sealed, "Unsealed", "Normal").await?;

        // 3. patch: "true": merged into, not owned.
        ctx.create_plain_secret(
            &ns,
            "patched",
            &old_items,
            old_labels.clone(),
            string_map(&[(PATCH_ANNOTATION, "true"), ("old-annotation", "o")]),
        )
        .await?;
        apply_sealed_secret(ctx.client(), &seal("patched")?).await?;
        let merged = bytes_map(&[("a", b"new-a"), ("b", b"new-b"), ("keep", b"old-keep")]);
        ctx.wait_synced(&ns, "patched").await?;
        let secret = ctx.wait_secret_data(&ns, "patched", &merged).await?;
        let want_labels = string_map(&[
            ("shared", "from-template"),
            ("new-label", "n"),
            ("old-label", "o"),
        ]);
        ensure!(
            labels_of(&secret) == want_labels,
            "patch: labels {:?}, expected the merge {want_labels:?}",
            labels_of(&secret)
        );
        let want_annotations = string_map(&[
            (PATCH_ANNOTATION, "true"),
            ("old-annotation", "o"),
            ("new-annotation", "n"),
        ]);
        ensure!(
            annotations_of(&secret) == want_annotations,
            "patch: annotations {:?}, expected the merge {want_annotations:?}",
            annotations_of(&secret)
        );
        ensure!(
            secret.metadata.owner_references.as_deref().unwrap_or_default().is_empty(),
            "patch without managed: no ownerReference expected, found {:?}",
            secret.metadata.owner_references
        );

        // 4. patch + managed: merged and owned.
        ctx.create_plain_secret(
            &ns,
            "patched-managed",
            &old_items,
            old_labels.clone(),
            string_map(&[(PATCH_ANNOTATION, "true"), (MANAGED_ANNOTATION, "true")]),
        )
        .await?;
        apply_sealed_secret(ctx.client(), &seal("patched-managed")?).await?;
        let sealed = ctx.wait_synced(&ns, "patched-managed").await?;
        let secret = ctx
            .wait_secret_data(&ns, "patched-managed", &merged)
            .await?;
        assert_owned_by(&secret, &sealed)?;
        ensure!(
            annotations_of(&secret)
                == string_map(&[
                    (PATCH_ANNOTATION, "true"),
                    (MANAGED_ANNOTATION, "true"),
                    ("new-annotation", "n"),
                ]),
            "patch+managed: annotations {:?}",
            annotations_of(&secret)
        );
        println!(
            "refused/managed/patched/patched+managed all as expected; patched data {}",
            objects::show_bytes_map(&secret_data(&secret))
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn skip_set_owner_references_annotation() -> Result<()> {
    run("skipowner", |ctx| async move {
        let ns = ctx.namespace("home").await?;
        let _controller = ctx.start_controller(ControllerSpec::new(&ns))?;
        let (cert, _) = ctx.controller_cert(&ns).await?;
        let items = bytes_map(&[("k", b"unowned")]);
        let enc = seal_items(&cert, Scope::Strict, &ns, "unowned", &items)?;
        let annotations = string_map(&[(SKIP_SET_OWNER_REFERENCES_ANNOTATION, "true")]);
        apply_sealed_secret(
            ctx.client(),
            &sealed_secret(
                &ns,
                "unowned",
                Scope::Strict,
                &enc,
                json!({ "type": "Opaque", "metadata": { "annotations": annotations } }),
            ),
        )
        .await?;
        ctx.wait_synced(&ns, "unowned").await?;
        let secret = ctx.wait_secret_data(&ns, "unowned", &items).await?;
        ensure!(
            secret.metadata.owner_references.as_deref().unwrap_or_default().is_empty(),
            "{SKIP_SET_OWNER_REFERENCES_ANNOTATION}: \"true\" in the template: expected no ownerReferences, found {:?}",
            secret.metadata.owner_references
        );
        ensure!(
            annotations_of(&secret) == annotations,
            "the template's annotations are the Secret's: {:?}",
            annotations_of(&secret)
        );
        Ok(())
    })
    .await
}
