//! Key generation and renewal: a first key when there is none, a new one every
//! `--key-renew-period` counted from the newest key, one at start when the newest is
//! older than `--key-cutoff-time`, and one on SIGUSR1.

use super::{KeyEntry, KeyRegistry, Source};
use crate::leader::Leadership;
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use kube::{Api, Client};
use sealed_common::key_secret::key_to_secret;
use sealed_common::keys::{CertificateSpec, generate_key_pair};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;

/// What the renewal job does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenewalPlan {
    GenerateNow,
    WaitUntil(SystemTime),
    /// Renewal is off and a key exists: only a manual trigger generates.
    Idle,
}

/// Decides from the newest key's time. The cutoff only counts at start, as upstream:
/// a cutoff in the future would otherwise renew forever.
pub fn plan_renewal(
    now: SystemTime,
    newest: Option<SystemTime>,
    period: Duration,
    cutoff: Option<SystemTime>,
    at_start: bool,
) -> RenewalPlan {
    let Some(newest) = newest else {
        return RenewalPlan::GenerateNow;
    };
    if at_start && cutoff.is_some_and(|c| newest < c) {
        return RenewalPlan::GenerateNow;
    }
    if period.is_zero() {
        return RenewalPlan::Idle;
    }
    let due = newest + period;
    if due <= now {
        RenewalPlan::GenerateNow
    } else {
        RenewalPlan::WaitUntil(due)
    }
}

/// Parses `--key-cutoff-time`: RFC 1123 with a numeric zone, e.g.
/// `Mon, 02 Jan 2006 15:04:05 -0700`.
pub fn parse_cutoff_time(text: &str) -> Result<Option<SystemTime>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    jiff::fmt::rfc2822::parse(text.trim())
        .map(|zoned| Some(SystemTime::from(zoned.timestamp())))
        .map_err(|e| {
            format!(
                "--key-cutoff-time {text:?}: expected RFC 1123 with a numeric zone, like \"Mon, 02 Jan 2006 15:04:05 -0700\" ({e})"
            )
        })
}

/// Makes new key pairs and stores them as upstream does.
#[derive(Clone)]
pub struct KeyGenerator {
    pub client: Client,
    pub namespace: String,
    pub prefix: String,
    pub bits: usize,
    pub validity: Duration,
    pub common_name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Checked right before the key Secret is created: only the leader stores keys.
    pub leader: Arc<Leadership>,
}

impl KeyGenerator {
    /// Generates a key (off the async runtime), creates its Secret, and returns the
    /// entry read back from what the API server stored.
    pub async fn generate(&self, registry: &KeyRegistry) -> anyhow::Result<KeyEntry> {
        let spec = CertificateSpec {
            common_name: self.common_name.clone(),
            not_before: SystemTime::now(),
            validity: self.validity,
        };
        let bits = self.bits;
        let pair = tokio::task::spawn_blocking(move || generate_key_pair(bits, &spec)).await??;
        let secret = key_to_secret(
            &pair,
            &self.namespace,
            &self.prefix,
            &self.labels,
            &self.annotations,
        )?;
        if !self.leader.is_leader() {
            anyhow::bail!("no longer the leader; the new key was not stored");
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let stored = api
            .create(&PostParams::default(), &secret)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot store the new key Secret in namespace {}: {e}",
                    self.namespace
                )
            })?;
        let entry = KeyEntry::from_secret(&stored, registry.order())?;
        tracing::info!(secretname = %entry.secret_name, fingerprint = %entry.fingerprint, "New key written");
        Ok(entry)
    }
}

/// The renewal job for one leadership term: first the key Secrets are listed afresh,
/// so that the decision rests on what the API server holds now and not on a watch that
/// may lag behind a key the previous leader just wrote (no duplicate key on takeover).
pub async fn renew_as_leader(
    generator: KeyGenerator,
    registry: Arc<KeyRegistry>,
    period: Duration,
    cutoff: Option<SystemTime>,
    manual: &mut mpsc::Receiver<()>,
) {
    if let Err(error) = super::list_keys(
        generator.client.clone(),
        &generator.namespace,
        &generator.prefix,
        &registry,
    )
    .await
    {
        tracing::warn!(namespace = %generator.namespace, %error, "cannot list the key Secrets before deciding on renewal; using the watched ones");
    }
    run_renewal(generator, registry, period, cutoff, manual).await;
}

/// The renewal job. Runs until the process stops.
pub async fn run_renewal(
    generator: KeyGenerator,
    registry: Arc<KeyRegistry>,
    period: Duration,
    cutoff: Option<SystemTime>,
    manual: &mut mpsc::Receiver<()>,
) {
    registry.wait_ready().await;
    let mut changes = registry.subscribe();
    let mut at_start = true;
    let mut failures: u32 = 0;
    loop {
        let plan = plan_renewal(
            SystemTime::now(),
            registry.newest_time(),
            period,
            cutoff,
            at_start,
        );
        let generate = match plan {
            RenewalPlan::GenerateNow => true,
            RenewalPlan::WaitUntil(due) => {
                let wait = due.duration_since(SystemTime::now()).unwrap_or_default();
                // Re-plan when the key set changes (a key added by hand or a peer).
                tokio::select! {
                    _ = tokio::time::sleep(wait) => false,
                    _ = changes.changed() => false,
                    Some(()) = manual.recv() => true,
                }
            }
            RenewalPlan::Idle => {
                tokio::select! {
                    _ = changes.changed() => false,
                    Some(()) = manual.recv() => true,
                }
            }
        };
        if !generate {
            at_start = false;
            continue;
        }
        match generator.generate(&registry).await {
            Ok(entry) => {
                failures = 0;
                at_start = false;
                registry.insert(Source::Labelled, entry);
            }
            Err(error) => {
                failures += 1;
                let delay = Duration::from_secs(5u64.saturating_mul(1 << failures.min(6)));
                tracing::error!(%error, retry_in = ?delay, "Failed to generate new key");
                // `at_start` stays as it was, so a failed cutoff renewal is retried.
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86400);

    fn t(days: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + DAY * 20000 + DAY * days as u32
    }

    #[test]
    fn no_key_generates_now() {
        assert_eq!(
            plan_renewal(t(0), None, DAY * 30, None, false),
            RenewalPlan::GenerateNow
        );
        assert_eq!(
            plan_renewal(t(0), None, Duration::ZERO, None, true),
            RenewalPlan::GenerateNow
        );
    }

    #[test]
    fn renewal_counts_from_the_newest_key() {
        assert_eq!(
            plan_renewal(t(10), Some(t(0)), DAY * 30, None, true),
            RenewalPlan::WaitUntil(t(30))
        );
        assert_eq!(
            plan_renewal(t(30), Some(t(0)), DAY * 30, None, false),
            RenewalPlan::GenerateNow
        );
        assert_eq!(
            plan_renewal(t(45), Some(t(0)), DAY * 30, None, false),
            RenewalPlan::GenerateNow
        );
    }

    #[test]
    fn zero_period_disables_renewal() {
        assert_eq!(
            plan_renewal(t(900), Some(t(0)), Duration::ZERO, None, false),
            RenewalPlan::Idle
        );
    }

    #[test]
    fn cutoff_forces_a_key_at_start_only() {
        let cutoff = Some(t(5));
        assert_eq!(
            plan_renewal(t(6), Some(t(0)), DAY * 30, cutoff, true),
            RenewalPlan::GenerateNow
        );
        assert_eq!(
            plan_renewal(t(6), Some(t(0)), DAY * 30, cutoff, false),
            RenewalPlan::WaitUntil(t(30))
        );
        // A cutoff in the future would otherwise regenerate forever.
        assert_eq!(
            plan_renewal(t(6), Some(t(6)), DAY * 30, Some(t(100)), false),
            RenewalPlan::WaitUntil(t(36))
        );
        assert_eq!(
            plan_renewal(t(6), Some(t(6)), DAY * 30, Some(t(1)), true),
            RenewalPlan::WaitUntil(t(36))
        );
    }

    #[test]
    fn cutoff_time_format() {
        let parsed = parse_cutoff_time("Mon, 02 Jan 2006 15:04:05 -0700").expect("RFC 1123Z");
        let expected = SystemTime::UNIX_EPOCH + Duration::from_secs(1136239445);
        assert_eq!(parsed, Some(expected));
        assert_eq!(parse_cutoff_time(""), Ok(None));
        assert!(parse_cutoff_time("2006-01-02").is_err());
    }
}
