//! The key runbook (`docs/key-rotation.md`), part two: holding a new key back until the
//! backup has it, backing up, restoring into a new cluster, and moving a SealedSecret
//! to another cluster by re-sealing it with the backup and the target's certificate.
//!
//! "A new cluster" or "another cluster" is a new home namespace with its own
//! controller, which watches the application namespace once the previous controller
//! watching it is gone (a strict SealedSecret keeps its namespace and name). Without the
//! service proxy, `/v1/keys` and `/v1/cert.pem` are asked directly (see
//! `sealed_e2e::controller_service`).

use anyhow::{Result, ensure};
use sealed_common::Scope;
use sealed_e2e::controller_service::ControllerService;
use sealed_e2e::key_secrets;
use sealed_e2e::kubeseal::{self, one_document, plain_secret};
use sealed_e2e::kubeseal_keys::{self, Restore, parse_utc};
use sealed_e2e::objects::{
    annotations_of, apply_sealed_secret, bytes_map, describe_secret, json_secret_data, labels_of,
    show_bytes_map,
};
use sealed_e2e::replicas;
use sealed_e2e::repository::{apply_file, write_file};
use sealed_e2e::{ControllerSpec, run};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

#[tokio::test]
async fn hold_back_backup_restore_and_move() -> Result<()> {
    run("runbook-restore", |ctx| async move {
        let src = ctx.namespace("src").await?;
        let app = ctx.namespace("app").await?;
        let moving = ctx.namespace("move").await?;
        let tmp = ctx.tmp_dir().to_path_buf();
        // The current key of a cluster that has run a while: the hold-back keeps a new
        // key from sealing only while an older key has waited out the delay.
        let old = key_secrets::create_aged(&ctx, &src, Duration::from_secs(2 * 3600)).await?;
        let spec = ControllerSpec::new(&src)
            .watch(&app)
            .watch(&moving)
            .listen_on("0.0.0.0:0")
            .arg("--leader-elect");
        // SEALED_SECRETS_KEY_ACTIVATION_DELAY above the backup interval.
        let delayed = spec.clone().arg("--key-activation-delay").arg("1h");
        let first = replicas::start(&ctx, &delayed, 1).await?;
        let mut service = ControllerService::expose(&ctx, &src, first[0].api, None).await?;

        // The repository: db in app, mover in move, sealed offline with cert.pem.
        let cert_path = tmp.join("cert.pem");
        let served = service.fetch_cert_of(&ctx, &old.fingerprint, "").await?;
        write_file(&cert_path, &served)?;
        let db_values = bytes_map(&[("user", b"app"), ("password", b"db password")]);
        let db_secret = plain_secret(&app, "db", &db_values, json!({}), json!({}));
        let db_sealed = kubeseal::seal_text(&ctx, &cert_path, Scope::Strict, &db_secret).await?;
        write_file(&tmp.join("db-sealed.yaml"), db_sealed.as_bytes())?;
        let mover_values = bytes_map(&[("token", b"moves to another cluster")]);
        let mover_labels = json!({ "app": "mover" });
        let mover_annotations = json!({ "team": "payments" });
        let mover_secret = plain_secret(&moving, "mover", &mover_values, mover_labels.clone(), mover_annotations.clone());
        let mover_sealed = kubeseal::seal_text(&ctx, &cert_path, Scope::Strict, &mover_secret).await?;
        write_file(&tmp.join("mover-sealed.yaml"), mover_sealed.as_bytes())?;
        apply_file(&ctx, &tmp.join("db-sealed.yaml")).await?;
        apply_file(&ctx, &tmp.join("mover-sealed.yaml")).await?;
        ctx.wait_opened_with(&app, "db", &old.fingerprint, &db_values).await?;
        ctx.wait_opened_with(&moving, "mover", &old.fingerprint, &mover_values).await?;

        // ---- A new key (a cutoff), held back by the delay: it does not seal yet.
        let cutoff = key_secrets::cutoff_after(&old).await?;
        println!("rolling the controller with --key-activation-delay 1h --key-cutoff-time {cutoff:?}");
        let cutoff_spec = delayed.arg("--key-cutoff-time").arg(&cutoff);
        let second = replicas::roll(&ctx, &mut service, first, &cutoff_spec, 1).await?;
        let new = key_secrets::wait_new_next_to(&ctx, &src, &old).await?;
        replicas::wait_logged(&ctx, &second, "New key written", 1).await?;
        let rows = kubeseal_keys::wait_list(&ctx, &service, "the new key on top", |rows| {
            rows.len() == 2 && rows[0].fingerprint == new.fingerprint
        })
        .await?;
        let until = new.not_before + Duration::from_secs(3600);
        ensure!(
            rows[0].active.strip_prefix("held back until ").and_then(parse_utc) == Some(until)
                && parse_utc(&rows[0].created) == Some(new.not_before),
            "keys list: expected the new key {} created at its certificate's NotBefore and `held back until` one hour later, got {:?}",
            new.fingerprint,
            rows[0]
        );
        ensure!(
            rows[1].fingerprint == old.fingerprint && rows[1].active == "yes",
            "keys list with a held-back key: expected the previous key {} still ACTIVE yes, got {rows:?}",
            old.fingerprint
        );
        service.fetch_cert_of(&ctx, &old.fingerprint, " with a held-back key").await?;
        if service.proxied() {
            // /v1/rotate keeps sealing with the previous key too.
            let out = service.kubeseal_ok(&ctx, &["--re-encrypt"], db_sealed.as_bytes()).await?;
            let rotated = one_document(&out.stdout, "kubeseal --re-encrypt")?;
            let original = one_document(&db_sealed, "db-sealed.yaml")?;
            ensure!(
                rotated["spec"]["encryptedData"] == original["spec"]["encryptedData"],
                "kubeseal --re-encrypt with a held-back key: expected db's values kept byte for byte (already on the sealing key {}), got:\n{}",
                old.fingerprint,
                out.stdout
            );
        }
        // It decrypts at once.
        let new_cert = tmp.join("new.pem");
        write_file(&new_cert, &new.pem)?;
        let early = bytes_map(&[("v", b"sealed with the held-back key")]);
        let early_secret = plain_secret(&app, "early", &early, json!({}), json!({}));
        let sealed = kubeseal::seal_text(&ctx, &new_cert, Scope::Strict, &early_secret).await?;
        apply_sealed_secret(ctx.client(), &one_document(&sealed, "kubeseal --cert new.pem")?).await?;
        ctx.wait_opened_with(&app, "early", &new.fingerprint, &early).await?;

        // ---- Back up the keys: both, and check the backup.
        let backup = tmp.join("keys-backup.yaml");
        let items = kubeseal_keys::backup(&ctx, &src, &backup, &[&new, &old]).await?;
        if service.proxied() {
            // It must list every fingerprint of `kubeseal keys list`.
            let rows = kubeseal_keys::wait_list(&ctx, &service, "both keys with their SealedSecrets", |rows| {
                rows.len() == 2 && rows[0].sealed_secrets == Some(1) && rows[1].sealed_secrets == Some(2)
            })
            .await?;
            let listed: BTreeSet<&String> = rows.iter().map(|r| &r.fingerprint).collect();
            ensure!(
                listed == BTreeSet::from([&new.fingerprint, &old.fingerprint]),
                "kubeseal keys list: expected exactly the fingerprints of the backup, {} and {}, got {rows:?}",
                new.fingerprint,
                old.fingerprint
            );
        } else {
            service.skip("comparing the backup with kubeseal keys list");
        }
        // ... and open a SealedSecret without any cluster.
        let backup_arg = backup.display().to_string();
        let recover = ["--recovery-unseal", "--recovery-private-key", backup_arg.as_str(), "-o", "yaml"];
        let out = kubeseal::run_ok(&ctx, &recover, db_sealed.as_bytes()).await?;
        let opened = one_document(&out.stdout, "kubeseal --recovery-unseal")?;
        ensure!(
            opened["kind"] == "Secret" && json_secret_data(&opened)? == db_values,
            "kubeseal --recovery-unseal with the backup: expected Secret db holding {}, got:\n{}",
            show_bytes_map(&db_values),
            out.stdout
        );

        // ---- The backup has it: roll without the delay. The cutoff left set is harmless.
        let undelayed = spec.arg("--key-cutoff-time").arg(&cutoff);
        let third = replicas::roll(&ctx, &mut service, second, &undelayed, 1).await?;
        replicas::wait_logged(&ctx, &third, "became the leader", 1).await?;
        let rows = kubeseal_keys::wait_list(&ctx, &service, "the new key sealing", |rows| {
            rows.len() == 2 && rows[0].active == "yes"
        })
        .await?;
        kubeseal_keys::expect_new_then_old(&rows, &new, &old, "without the delay")?;
        service.fetch_cert_of(&ctx, &new.fingerprint, " without the delay").await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let present = key_secrets::all(&ctx, &src).await?;
        let written = replicas::count_in_logs(&third, "New key written");
        ensure!(
            present.len() == 2 && written == 0,
            "the cutoff left set: expected no new key at the next start, found {} key Secrets and {written} `New key written`",
            present.len()
        );

        // The source cluster is gone.
        replicas::stop(third)?;

        // ---- Restore the keys into a new cluster, before installing the controller.
        let newhome = ctx.namespace("newhome").await?;
        kubeseal_keys::restore(&ctx, &newhome, &backup, &[&new, &old], Restore::DryRun).await?;
        kubeseal_keys::restore(&ctx, &newhome, &backup, &[&new, &old], Restore::Create).await?;

        // Install the controller: it starts with the restored keys and makes none.
        let restored_spec = ControllerSpec::new(&newhome)
            .watch(&app)
            .listen_on("0.0.0.0:0")
            .arg("--leader-elect");
        let restored = replicas::start(&ctx, &restored_spec, 1).await?;
        replicas::wait_holder(&ctx, &newhome, None).await?;
        let backed_cert = tmp.join("backed-up.pem");
        write_file(&backed_cert, &kubeseal_keys::backed_up_certificate(&items, &new.fingerprint)?)?;
        let values = bytes_map(&[("password", b"sealed after the restore")]);
        let after_restore = plain_secret(&app, "db-restored", &values, json!({}), json!({}));
        let sealed = kubeseal::seal_text(&ctx, &backed_cert, Scope::Strict, &after_restore).await?;
        apply_sealed_secret(ctx.client(), &one_document(&sealed, "kubeseal --cert backed-up.pem")?).await?;
        ctx.wait_opened_with(&app, "db-restored", &new.fingerprint, &values).await?;
        // What the source cluster's controller had opened opens here too.
        ctx.remove_sealed_and_secret(&app, "db").await?;
        apply_file(&ctx, &tmp.join("db-sealed.yaml")).await?;
        ctx.wait_opened_with(&app, "db", &old.fingerprint, &db_values).await?;
        replicas::wait_each_logged(&ctx, &restored, &["became the leader"]).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let present = key_secrets::all(&ctx, &newhome).await?;
        ensure!(
            present.len() == 2 && replicas::count_in_logs(&restored, "New key written") == 0,
            "the controller over the restored keys (the newest younger than --key-renew-period): expected no new key, found {:?}\n{}",
            present.iter().map(describe_secret).collect::<Vec<_>>(),
            restored[0].controller.log_tail(30)
        );
        let new_service = ControllerService::expose(&ctx, &newhome, restored[0].api, Some(&service)).await?;
        let rows = kubeseal_keys::wait_list(&ctx, &new_service, "the restored keys", |rows| rows.len() == 2).await?;
        kubeseal_keys::expect_new_then_old(&rows, &new, &old, &format!("in {newhome}, restored"))?;
        if new_service.proxied() {
            ensure!(
                rows[0].sealed_secrets == Some(2) && rows[1].sealed_secrets == Some(2),
                "kubeseal keys list in {newhome}: expected 2 SealedSecrets on each key (early, db-restored; db, mover), got {rows:?}"
            );
        }
        // Restoring again: already present.
        kubeseal_keys::restore(&ctx, &newhome, &backup, &[&new, &old], Restore::Again).await?;
        replicas::stop(restored)?;

        // ---- Move a SealedSecret to another cluster by re-sealing it.
        // The other cluster has the namespace, not the source's objects.
        ctx.remove_sealed_and_secret(&moving, "mover").await?;
        let target = ctx.namespace("target").await?;
        let target_spec = ControllerSpec::new(&target)
            .watch(&moving)
            .listen_on("0.0.0.0:0")
            .arg("--leader-elect");
        let target_replicas = replicas::start(&ctx, &target_spec, 1).await?;
        let target_key = key_secrets::wait_active(&ctx, &target, 1).await?.remove(0);
        let target_service = ControllerService::expose(&ctx, &target, target_replicas[0].api, Some(&service)).await?;
        let target_cert = tmp.join("target-cert.pem");
        let served = target_service.fetch_cert_of(&ctx, &target_key.fingerprint, " of the target").await?;
        write_file(&target_cert, &served)?;
        // kubeseal --recovery-unseal --recovery-private-key keys-backup.yaml -o yaml < mover-sealed.yaml \
        //   | kubeseal --cert target-cert.pem -o yaml > mover-sealed-target.yaml
        let opened = kubeseal::run_ok(&ctx, &recover, mover_sealed.as_bytes()).await?;
        let target_cert_arg = target_cert.display().to_string();
        let resealed = kubeseal::run_ok(&ctx, &["--cert", &target_cert_arg, "-o", "yaml"], opened.stdout.as_bytes()).await?;
        let moved = one_document(&resealed.stdout, "the re-sealed SealedSecret")?;
        let template_meta = &moved["spec"]["template"]["metadata"];
        let encrypted: BTreeSet<&String> = moved["spec"]["encryptedData"].as_object().map(|m| m.keys().collect()).unwrap_or_default();
        ensure!(
            moved["kind"] == "SealedSecret"
                && moved["metadata"]["namespace"] == moving.as_str()
                && moved["metadata"]["name"] == "mover"
                && template_meta["labels"] == mover_labels
                && template_meta["annotations"] == mover_annotations
                && encrypted == mover_values.keys().collect(),
            "the re-sealed SealedSecret: expected {moving}/mover with the template labels {mover_labels} and annotations {mover_annotations} and items {:?}, got:\n{}",
            mover_values.keys().collect::<Vec<_>>(),
            resealed.stdout
        );
        write_file(&tmp.join("mover-sealed-target.yaml"), resealed.stdout.as_bytes())?;
        apply_file(&ctx, &tmp.join("mover-sealed-target.yaml")).await?;
        let secret = ctx.wait_opened_with(&moving, "mover", &target_key.fingerprint, &mover_values).await?;
        ensure!(
            labels_of(&secret).get("app").map(String::as_str) == Some("mover")
                && annotations_of(&secret).get("team").map(String::as_str) == Some("payments"),
            "the moved Secret: expected the label app=mover and the annotation team=payments, got {}",
            describe_secret(&secret)
        );
        Ok(())
    })
    .await
}
