//! Key management: generation on an empty home namespace, restart without a new key,
//! and the key watch (keys added and compromised while the controller runs).

use anyhow::{Context, Result, ensure};
use sealed_common::Scope;
use sealed_common::key_secret::{
    KEY_LABEL, KEY_LABEL_ACTIVE, KEY_LABEL_COMPROMISED, TLS_CERT, TLS_KEY, TLS_SECRET_TYPE,
    key_from_secret,
};
use sealed_e2e::checks::assert_owned_by;
use sealed_e2e::objects::{
    self, apply_sealed_secret, bytes_map, describe_secret, key_fingerprint, secret_data,
};
use sealed_e2e::sealing::{certificate_from_pem, seal_items, sealed_secret};
use sealed_e2e::{ControllerSpec, run, vectors};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

/// Upstream's default `--key-ttl`: certificates valid for 10 x 365 days.
const UPSTREAM_KEY_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
const KEY_PREFIX: &str = "sealed-secrets-key";

#[tokio::test]
async fn key_generation_on_empty_home_namespace() -> Result<()> {
    run("keygen", |ctx| async move {
        let home = ctx.namespace("home").await?;
        // Default --key-size: the generated key must be 4096 bits.
        let spec = ControllerSpec::new(&home).default_key_size();
        let first = ctx.start_controller(spec.clone())?;
        ctx.wait_for_keys(&home).await?;
        // Give a buggy controller the chance to write a second key before counting.
        tokio::time::sleep(Duration::from_secs(3)).await;
        ctx.check_controllers()?;

        let all = ctx.secrets_in(&home).await?;
        ensure!(
            all.len() == 1,
            "expected exactly one Secret (the key) in the empty home namespace {home}, found {}: {:#?}",
            all.len(),
            all.iter().map(describe_secret).collect::<Vec<_>>()
        );
        let key = &all[0];
        let name = key.metadata.name.clone().unwrap_or_default();
        ensure!(
            name.starts_with(KEY_PREFIX) && name.len() > KEY_PREFIX.len(),
            "key Secret name {name:?} must be generated from the prefix {KEY_PREFIX:?}"
        );
        ensure!(
            key.metadata.generate_name.as_deref() == Some(KEY_PREFIX),
            "key Secret metadata.generateName is {:?}, expected {KEY_PREFIX:?}",
            key.metadata.generate_name
        );
        ensure!(
            key.type_.as_deref() == Some(TLS_SECRET_TYPE),
            "key Secret type is {:?}, expected {TLS_SECRET_TYPE}",
            key.type_
        );
        let label = objects::labels_of(key).get(KEY_LABEL).cloned();
        ensure!(
            label.as_deref() == Some(KEY_LABEL_ACTIVE),
            "key Secret label {KEY_LABEL} is {label:?}, expected {KEY_LABEL_ACTIVE:?}"
        );
        let data = secret_data(key);
        let items: BTreeSet<&str> = data.keys().map(String::as_str).collect();
        ensure!(
            items == BTreeSet::from([TLS_CERT, TLS_KEY]),
            "key Secret items are {items:?}, expected exactly {TLS_CERT} and {TLS_KEY}"
        );
        ensure!(
            data[TLS_KEY].starts_with(b"-----BEGIN RSA PRIVATE KEY-----"),
            "{TLS_KEY} must be a PKCS#1 PEM (-----BEGIN RSA PRIVATE KEY-----), starts with {:?}",
            String::from_utf8_lossy(&data[TLS_KEY][..data[TLS_KEY].len().min(32)])
        );
        ensure!(
            data[TLS_CERT].starts_with(b"-----BEGIN CERTIFICATE-----"),
            "{TLS_CERT} must be a PEM certificate"
        );
        let stored = key_from_secret(key).context("the generated key Secret does not parse")?;
        let cert = stored
            .certificate
            .context("key_from_secret found no certificate")?;
        ensure!(
            stored.private_key.public_key().bits() == 4096 && cert.public_key().bits() == 4096,
            "default --key-size must give a 4096-bit key, got {} bits",
            cert.public_key().bits()
        );
        let now = SystemTime::now();
        ensure!(
            cert.not_before() <= now + Duration::from_secs(300)
                && cert.not_before() >= now - Duration::from_secs(3600),
            "certificate NotBefore {:?} is not around now {now:?}",
            cert.not_before()
        );
        let validity = cert
            .not_after()
            .duration_since(cert.not_before())
            .unwrap_or_default();
        ensure!(
            validity == UPSTREAM_KEY_TTL,
            "certificate validity is {validity:?}, upstream's default --key-ttl is {UPSTREAM_KEY_TTL:?} (87600h)"
        );
        let uid = key.metadata.uid.clone();

        // Restart: the key is younger than the renew period, so no new key.
        first.stop();
        let second = ctx.start_controller(spec)?;
        // Readiness of the second controller: it unseals something sealed to the key.
        let (cert_now, _) = ctx.controller_cert(&home).await?;
        ensure!(
            cert_now.der() == cert.der(),
            "the key Secret's certificate changed across the restart"
        );
        let items = bytes_map(&[("probe", b"after-restart")]);
        let sealed = seal_items(&cert, Scope::Strict, &home, "restart-probe", &items)?;
        apply_sealed_secret(
            ctx.client(),
            &sealed_secret(&home, "restart-probe", Scope::Strict, &sealed, json!({})),
        )
        .await?;
        let ss = ctx.wait_synced(&home, "restart-probe").await?;
        let secret = ctx.wait_secret_data(&home, "restart-probe", &items).await?;
        assert_owned_by(&secret, &ss)?;
        ensure!(
            key_fingerprint(&ss).as_deref() == Some(cert.fingerprint().as_str()),
            "status.keyFingerprint is {:?}, expected the generated key's {}",
            key_fingerprint(&ss),
            cert.fingerprint()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        let keys = ctx.active_keys(&home).await?;
        ensure!(
            keys.len() == 1 && keys[0].metadata.uid == uid,
            "the restarted controller must not generate a key while the existing one is younger than --key-renew-period; key Secrets now: {:#?}",
            keys.iter().map(describe_secret).collect::<Vec<_>>()
        );
        drop(second);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn key_watch_adds_and_compromises_keys_without_restart() -> Result<()> {
    run("keywatch", |ctx| async move {
        let home = ctx.namespace("home").await?;
        let key_a = vectors::key_secret("A", &home)?;
        let key_b = vectors::key_secret("B", &home)?;
        let b_name = key_b.metadata.name.clone().context("key B has no name")?;
        objects::create_secret(ctx.client(), &key_a).await?;
        let _controller = ctx.start_controller(
            ControllerSpec::new(&home)
                .arg("--key-renew-period")
                .arg("0"),
        )?;
        let cert_b = certificate_from_pem(&vectors::cert_pem("B")?)?;
        let fingerprint_b = vectors::fingerprint("B")?;

        // Sealed with B while only A is loaded: no key opens it.
        let items = bytes_map(&[("k", b"sealed-with-B")]);
        let sealed = seal_items(&cert_b, Scope::Strict, &home, "rotated", &items)?;
        apply_sealed_secret(
            ctx.client(),
            &sealed_secret(&home, "rotated", Scope::Strict, &sealed, json!({})),
        )
        .await?;
        ctx.wait_not_synced(&home, "rotated", "no key could decrypt secret")
            .await?;

        // Key B appears: the controller loads it and retries the failed SealedSecret.
        objects::create_secret(ctx.client(), &key_b).await?;
        let ss = ctx.wait_synced(&home, "rotated").await?;
        let secret = ctx.wait_secret_data(&home, "rotated", &items).await?;
        assert_owned_by(&secret, &ss)?;
        ensure!(
            key_fingerprint(&ss).as_deref() == Some(fingerprint_b.as_str()),
            "status.keyFingerprint is {:?}, expected key B's {fingerprint_b}",
            key_fingerprint(&ss)
        );

        // B is marked compromised: it leaves the registry.
        let secrets = objects::secrets(ctx.client(), &home);
        secrets
            .patch(
                &b_name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(json!({
                    "metadata": { "labels": { KEY_LABEL: KEY_LABEL_COMPROMISED } }
                })),
            )
            .await
            .context("relabelling key B as compromised")?;
        // The relabel is only observable through its effect; give the watch a moment.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let items2 = bytes_map(&[("k", b"sealed-with-B-again")]);
        let sealed2 = seal_items(&cert_b, Scope::Strict, &home, "after-compromise", &items2)?;
        apply_sealed_secret(
            ctx.client(),
            &sealed_secret(&home, "after-compromise", Scope::Strict, &sealed2, json!({})),
        )
        .await?;
        ctx.wait_not_synced(&home, "after-compromise", "no key could decrypt secret")
            .await?;
        ctx.assert_secret_stays_absent(&home, "after-compromise", Duration::from_secs(1))
            .await?;

        // No key was generated along the way (renewal disabled, A always present).
        let mut active: Vec<String> = ctx
            .active_keys(&home)
            .await?
            .iter()
            .filter_map(|s| s.metadata.name.clone())
            .collect();
        active.sort();
        let a_name = key_a.metadata.name.clone().unwrap_or_default();
        ensure!(
            active == vec![a_name.clone()],
            "active key Secrets should be exactly [{a_name}] (B compromised, none generated), found {active:?}"
        );
        Ok(())
    })
    .await
}
