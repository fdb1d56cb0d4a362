//! The key runbook (`docs/key-rotation.md`), part one: routine renewal and backup,
//! forcing a new key with a cutoff, re-encrypting a repository, retiring the old key;
//! with two `--leader-elect` replicas behind the controller's Service (see
//! `sealed_e2e::replicas` and `sealed_e2e::controller_service` for how a Deployment,
//! its rollout and its Service are played by local processes).
//!
//! When the API server cannot reach this machine, the steps that need only the API
//! server still run, the controller's HTTP API is asked directly where that can stand
//! in for kubeseal, and the rest prints `skipped part: ...`.

use anyhow::{Context, Result, ensure};
use sealed_common::key_secret::KEY_LABEL;
use sealed_e2e::controller_service::ControllerService;
use sealed_e2e::key_secrets::{self, Key};
use sealed_e2e::kubeseal_keys::{self, in_namespaces};
use sealed_e2e::objects::{self, labels_of};
use sealed_e2e::replicas::{self, Replica};
use sealed_e2e::repository::{Repository, write_file};
use sealed_e2e::{ControllerSpec, Ctx, run};
use std::time::Duration;

#[tokio::test]
async fn rotate_reencrypt_and_retire() -> Result<()> {
    run("runbook-rotate", |ctx| async move {
        let home = ctx.namespace("home").await?;
        let app = ctx.namespace("app").await?;
        let ours = [home.as_str(), app.as_str()];
        let spec = ControllerSpec::new(&home)
            .watch(&app)
            .listen_on("0.0.0.0:0")
            .arg("--leader-elect");
        let tmp = ctx.tmp_dir().to_path_buf();

        // Two replicas, as deploy/overlays/ha: one key.
        let first = replicas::start(&ctx, &spec, 2).await?;
        let old = key_secrets::wait_active(&ctx, &home, 1).await?.remove(0);
        let mut service = ControllerService::expose(&ctx, &home, first[0].api, None).await?;

        // ---- Routine renewal: fetch the certificate, seal a repository with it.
        let cert_path = tmp.join("cert.pem");
        let served = service.fetch_cert_of(&ctx, &old.fingerprint, "").await?;
        write_file(&cert_path, &served)?;
        let repo = Repository::write(&ctx, &tmp.join("repo"), &app, &cert_path).await?;
        repo.apply(&ctx).await?;
        repo.wait_opened_with(&ctx, &old.fingerprint).await?;

        // kubeseal keys list: one key, active, opening the 4 SealedSecrets.
        if service.proxied() {
            let rows = kubeseal_keys::wait_list(&ctx, &service, "the one key with 4 SealedSecrets", |rows| {
                rows.len() == 1 && rows[0].sealed_secrets == Some(4)
            })
            .await?;
            ensure!(
                rows[0].fingerprint == old.fingerprint && rows[0].secret == old.secret && rows[0].active == "yes",
                "kubeseal keys list: expected {} (Secret {}) with ACTIVE yes, got {:?}",
                old.fingerprint,
                old.secret,
                rows[0]
            );
        } else {
            service.skip("kubeseal keys list");
        }

        // kubeseal keys backup -w keys-backup-$(date +%F).yaml: mode 0600, the one key.
        kubeseal_keys::backup(&ctx, &home, &tmp.join("keys-backup.yaml"), &[&old]).await?;

        // ---- Force a new key now: SEALED_SECRETS_KEY_CUTOFF_TIME="$(date -R)", rolled.
        let cutoff = key_secrets::cutoff_after(&old).await?;
        println!("rolling the replicas with --key-cutoff-time {cutoff:?}");
        let written_before = replicas::count_in_logs(&first, "New key written");
        let cutoff_spec = spec.clone().arg("--key-cutoff-time").arg(&cutoff);
        let second = replicas::roll(&ctx, &mut service, first, &cutoff_spec, 2).await?;
        let new = key_secrets::wait_new_next_to(&ctx, &home, &old).await?;
        ensure!(
            written_before == 1,
            "expected `New key written` once by the first replicas (the first key), found {written_before}"
        );
        replicas::wait_logged(&ctx, &second, "New key written", 1).await?;
        let rows = kubeseal_keys::wait_list(&ctx, &service, "the new key on top", |rows| {
            rows.len() == 2 && rows[0].fingerprint == new.fingerprint
        })
        .await?;
        kubeseal_keys::expect_new_then_old(&rows, &new, &old, "after the cutoff")?;
        if service.proxied() {
            ensure!(
                rows[1].sealed_secrets == Some(4) && rows[0].sealed_secrets == Some(0),
                "kubeseal keys list after the cutoff: expected 4 SealedSecrets on the old key and 0 on the new one, got {rows:?}"
            );
        }
        let served = service.fetch_cert_of(&ctx, &new.fingerprint, " after the cutoff").await?;
        write_file(&cert_path, &served)?;

        if service.proxied() {
            let keys = OldAndNew { old: &old, new: &new };
            reencrypt_and_retire(&ctx, &service, &repo, &ours, keys, &second).await?;
        } else {
            service.skip("kubeseal reencrypt, keys dependents and keys retire (they need the controller)");
        }
        replicas::check_running(&second)
    })
    .await
}

/// The key being retired and the one that replaces it.
#[derive(Clone, Copy)]
struct OldAndNew<'a> {
    old: &'a Key,
    new: &'a Key,
}

/// The re-encrypt and retire procedures (they need kubeseal to reach the controller).
async fn reencrypt_and_retire(
    ctx: &Ctx,
    service: &ControllerService,
    repo: &Repository,
    ours: &[&str],
    OldAndNew { old, new }: OldAndNew<'_>,
    replicas: &[Replica],
) -> Result<()> {
    let home = service.home.as_str();
    let root = repo.root.display().to_string();

    // kubeseal reencrypt --dry-run: what would change; writes nothing.
    let before = repo.snapshot()?;
    let out = service
        .kubeseal_ok(ctx, &["reencrypt", "--dry-run", &root], b"")
        .await?;
    let want = repo.reencrypt_report(
        "would update",
        "dry run: 3 would be updated, 0 unchanged, 0 failed, 1 skipped; nothing written",
    );
    ensure!(
        out.stdout == want,
        "kubeseal reencrypt --dry-run: expected\n{want}got:\n{}",
        out.stdout
    );
    ensure!(
        repo.snapshot()? == before,
        "kubeseal reencrypt --dry-run changed files in {root}"
    );

    // Retire a key: what depends on it; the dry run refuses.
    let out = service
        .kubeseal_ok(ctx, &["keys", "dependents", &old.fingerprint], b"")
        .await?;
    let mut names = repo.names();
    ensure!(
        out.stdout.contains(&format!(
            "Opened by {} (Secret {}): 4",
            old.fingerprint, old.secret
        )) && names
            .iter()
            .all(|n| out.stdout.contains(&format!("  {n}\n"))),
        "kubeseal keys dependents {}: expected 4 dependents {names:?}, got:\n{}",
        old.fingerprint,
        out.stdout
    );
    let dry = kubeseal_keys::retire_dry_run(ctx, home, &old.fingerprint).await?;
    let mut listed = dry.dependents.clone();
    listed.sort();
    names.sort();
    ensure!(
        dry.code == Some(1)
            && listed == names
            && dry.stdout.contains("Safe to retire: no")
            && dry.stderr.contains(&format!(
                "not safe to retire {}: 4 SealedSecrets depend on it",
                old.fingerprint
            )),
        "kubeseal keys retire {} --dry-run with dependents: expected exit 1 naming {names:?}, got {:?}, dependents {listed:?}\nstdout: {}\nstderr: {}",
        old.fingerprint,
        dry.code,
        dry.stdout,
        dry.stderr
    );

    // kubeseal reencrypt: the files re-encrypted, comments and other documents kept.
    let out = service.kubeseal_ok(ctx, &["reencrypt", &root], b"").await?;
    let want = repo.reencrypt_report(
        "updated",
        "done: 3 updated, 0 unchanged, 0 failed, 1 skipped",
    );
    ensure!(
        out.stdout == want,
        "kubeseal reencrypt: expected\n{want}got:\n{}",
        out.stdout
    );
    repo.check_reencrypted(&before)?;

    // Let GitOps apply them: the controller records the new key.
    repo.apply(ctx).await?;
    repo.wait_opened_with(ctx, &new.fingerprint).await?;
    let rows = kubeseal_keys::wait_list(ctx, service, "the counts moved to the new key", |rows| {
        rows.len() == 2 && rows[0].sealed_secrets == Some(4) && rows[1].sealed_secrets == Some(0)
    })
    .await?;
    ensure!(
        rows[0].fingerprint == new.fingerprint,
        "kubeseal keys list after re-encryption: expected {} on top with 4 SealedSecrets, got {rows:?}",
        new.fingerprint
    );

    // Nothing depends on the old key any more.
    let out = service
        .kubeseal_ok(ctx, &["keys", "dependents", &old.fingerprint], b"")
        .await?;
    let ours_listed: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| in_namespaces(l.trim(), ours))
        .collect();
    ensure!(
        out.stdout.contains(&format!(
            "Opened by {} (Secret {}): 0",
            old.fingerprint, old.secret
        )) && ours_listed.is_empty(),
        "kubeseal keys dependents {} after re-encryption: expected none (and none of {ours:?} unattributed), got:\n{}",
        old.fingerprint,
        out.stdout
    );
    let safe = kubeseal_keys::expect_safe_to_retire(ctx, home, &old.fingerprint, ours).await?;

    // kubeseal keys retire: the Secret relabelled, dropped by every replica.
    let out = kubeseal_keys::retire(ctx, home, &old.fingerprint, safe).await?;
    let retired = format!(
        "Retired {}: Secret {home}/{} labelled {KEY_LABEL}=retired",
        old.fingerprint, old.secret
    );
    ensure!(
        out.stdout.starts_with(&format!("{retired}\n")),
        "kubeseal keys retire {}: expected `{retired}`, got:\n{}",
        old.fingerprint,
        out.stdout
    );
    let secret = objects::secrets(ctx.client(), home)
        .get(&old.secret)
        .await
        .with_context(|| format!("reading key Secret {home}/{}", old.secret))?;
    ensure!(
        labels_of(&secret).get(KEY_LABEL).map(String::as_str) == Some("retired"),
        "after kubeseal keys retire: expected the label {KEY_LABEL}=retired on {}, got {:?}",
        old.secret,
        labels_of(&secret)
    );
    // Dropped at once, on every replica, without a restart.
    replicas::wait_each_logged(ctx, replicas, &["removed private key", &old.secret]).await?;
    let rows =
        kubeseal_keys::wait_list(ctx, service, "the old key dropped", |rows| rows.len() == 1)
            .await?;
    ensure!(
        rows[0].fingerprint == new.fingerprint
            && rows[0].active == "yes"
            && rows[0].sealed_secrets == Some(4),
        "kubeseal keys list after retiring: expected only {} ACTIVE yes with 4 SealedSecrets, got {rows:?}",
        new.fingerprint
    );
    // The SealedSecrets stay Synced, on the new key.
    tokio::time::sleep(Duration::from_secs(2)).await;
    repo.check_still_opened_with(ctx, &new.fingerprint, "after the old key was retired")
        .await
}
