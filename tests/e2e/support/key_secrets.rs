//! The controller's key Secrets as the key runbook handles them: a [`Key`] read from its
//! Secret, waiting for exactly `n` active keys, a key made in the past, and the cutoff
//! time (`date -R`) that forces a new key.

use crate::harness::Ctx;
use crate::objects::{self, describe_secret};
use crate::sealing::certificate_from_pem;
use crate::wait::Poll;
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use sealed_common::key_secret::{KEY_LABEL, KEY_LABEL_ACTIVE, TLS_CERT, key_to_secret};
use sealed_common::keys::{CertificateSpec, generate_key_pair};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// A key as its Secret holds it.
#[derive(Debug, Clone)]
pub struct Key {
    pub secret: String,
    /// `tls.crt`.
    pub pem: Vec<u8>,
    pub fingerprint: String,
    pub not_before: SystemTime,
}

/// The certificate (`tls.crt`, PEM) of a key Secret.
pub fn tls_crt(secret: &Secret) -> Result<Vec<u8>> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(TLS_CERT))
        .map(|b| b.0.clone())
        .with_context(|| {
            format!(
                "expected {TLS_CERT} in the key Secret: {}",
                describe_secret(secret)
            )
        })
}

impl Key {
    /// The key of a key Secret (its certificate).
    pub fn of(secret: &Secret) -> Result<Key> {
        let pem = tls_crt(secret)?;
        let cert = certificate_from_pem(&pem)?;
        Ok(Key {
            secret: secret.metadata.name.clone().unwrap_or_default(),
            fingerprint: cert.fingerprint(),
            not_before: cert.not_before(),
            pem,
        })
    }
}

/// Waits until `home` holds `n` key Secrets labelled `active`; fails if it holds more.
/// Newest first.
pub async fn wait_active(ctx: &Ctx, home: &str, n: usize) -> Result<Vec<Key>> {
    let secrets = ctx
        .wait_for(
            ctx.timeout(),
            &format!("{n} key Secret(s) labelled {KEY_LABEL}={KEY_LABEL_ACTIVE} in {home}"),
            || async {
                let keys = ctx.active_keys(home).await?;
                Ok(if keys.len() >= n {
                    Poll::Ready(keys)
                } else {
                    Poll::Pending(format!(
                        "{} key Secret(s): {:?}",
                        keys.len(),
                        keys.iter().map(describe_secret).collect::<Vec<_>>()
                    ))
                })
            },
        )
        .await?;
    ensure!(
        secrets.len() == n,
        "expected {n} active key Secret(s) in {home}, found {}: {:?}",
        secrets.len(),
        secrets.iter().map(describe_secret).collect::<Vec<_>>()
    );
    let mut keys = secrets.iter().map(Key::of).collect::<Result<Vec<_>>>()?;
    keys.sort_by(|a, b| {
        b.not_before
            .cmp(&a.not_before)
            .then(a.secret.cmp(&b.secret))
    });
    Ok(keys)
}

/// Waits for exactly one key besides `old` in `home` (a cutoff's), and returns it.
pub async fn wait_new_next_to(ctx: &Ctx, home: &str, old: &Key) -> Result<Key> {
    let keys = wait_active(ctx, home, 2).await?;
    let new = keys[0].clone();
    ensure!(
        keys[1].fingerprint == old.fingerprint && new.fingerprint != old.fingerprint,
        "after the rollout with a cutoff: expected a new key next to {}, found {:?}",
        old.fingerprint,
        keys.iter().map(|k| &k.fingerprint).collect::<Vec<_>>()
    );
    Ok(new)
}

/// Every key Secret of `home`, whatever its label value.
pub async fn all(ctx: &Ctx, home: &str) -> Result<Vec<Secret>> {
    Ok(objects::secrets(ctx.client(), home)
        .list(&ListParams::default().labels(KEY_LABEL))
        .await
        .with_context(|| format!("listing key Secrets in {home}"))?
        .items)
}

/// A 2048-bit key whose certificate starts `age` ago, stored in `home` as the
/// controller stores its keys (as the current key of a cluster that has run a while).
pub async fn create_aged(ctx: &Ctx, home: &str, age: Duration) -> Result<Key> {
    let pair = generate_key_pair(
        2048,
        &CertificateSpec {
            common_name: String::new(),
            not_before: SystemTime::now() - age,
            validity: Duration::from_secs(87600 * 3600),
        },
    )
    .context("generating a key pair")?;
    let secret = key_to_secret(
        &pair,
        home,
        "sealed-secrets-key",
        &BTreeMap::new(),
        &BTreeMap::new(),
    )?;
    Key::of(&objects::create_secret(ctx.client(), &secret).await?)
}

/// `date -R`, as the runbook computes the cutoff.
fn date_r() -> Result<String> {
    let out = std::process::Command::new("date")
        .arg("-R")
        .output()
        .context("cannot run `date -R` (the runbook's cutoff time)")?;
    ensure!(
        out.status.success(),
        "`date -R` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// A cutoff (`date -R`, whole seconds) later than `newest`'s certificate time: waits
/// until the clock is a second past it first.
pub async fn cutoff_after(newest: &Key) -> Result<String> {
    let due = newest.not_before + Duration::from_secs(1);
    if let Ok(wait) = due.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait + Duration::from_millis(50)).await;
    }
    date_r()
}
