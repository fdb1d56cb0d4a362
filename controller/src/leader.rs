//! Leader election on a `coordination.k8s.io/v1` Lease, the way client-go's
//! `leaderelection` does it: optimistic concurrency on the Lease's resourceVersion, and
//! expiry judged by this replica's own clock (how long since the record last changed),
//! never by comparing clocks across nodes.
//!
//! Why not `kube-lease-manager`: after a failed renewal it keeps reporting "leader"
//! until a later call succeeds, so a leader cut off from the API server would not know
//! when to stop writing. Here the leader holds a fence: it may write only until
//! `renew_deadline` after the start of its last successful renewal, which ends before
//! any other replica can take the Lease (`lease_duration` after it last saw it change).

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// The election's settings.
#[derive(Clone, Debug)]
pub struct ElectionConfig {
    pub lease_name: String,
    /// Unique per process: a restarted pod is a new candidate.
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl ElectionConfig {
    /// The timings must nest: retry < renew deadline < lease duration.
    pub fn check(&self) -> Result<(), String> {
        if self.retry_period.is_zero() {
            return Err("--leader-elect-retry-period must be more than 0".into());
        }
        if self.renew_deadline <= self.retry_period {
            return Err(format!(
                "--leader-elect-renew-deadline ({:?}) must be longer than --leader-elect-retry-period ({:?})",
                self.renew_deadline, self.retry_period
            ));
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(format!(
                "--leader-elect-lease-duration ({:?}) must be longer than --leader-elect-renew-deadline ({:?})",
                self.lease_duration, self.renew_deadline
            ));
        }
        if self.lease_duration.as_secs() < 1 || self.lease_duration.as_secs() > i32::MAX as u64 {
            return Err("--leader-elect-lease-duration must be whole seconds, at least 1s".into());
        }
        Ok(())
    }
}

/// `$POD_NAME` (or the host name) plus a per-process suffix.
pub fn default_identity() -> String {
    let base = std::env::var("POD_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "sealed-secrets-controller".to_owned());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{base}_{:x}{:05x}", std::process::id(), nanos & 0xfffff)
}

/// Whether this replica may write now. Shared by the reconcilers and the key renewal.
pub struct Leadership {
    /// `false`: no election, this process always leads.
    elected: bool,
    /// Leading until this instant (exclusive).
    fence: Mutex<Option<Instant>>,
    leading: watch::Sender<bool>,
}

impl Leadership {
    /// A single replica without election: always the leader.
    pub fn sole() -> Arc<Leadership> {
        Arc::new(Leadership {
            elected: false,
            fence: Mutex::new(None),
            leading: watch::Sender::new(true),
        })
    }

    /// A candidate: not leading until the election says so.
    pub fn candidate() -> Arc<Leadership> {
        Arc::new(Leadership {
            elected: true,
            fence: Mutex::new(None),
            leading: watch::Sender::new(false),
        })
    }

    /// True while this replica holds the Lease (by its own clock, with margin).
    pub fn is_leader(&self) -> bool {
        !self.elected || self.fence().is_some_and(|until| Instant::now() < until)
    }

    /// Follows gaining (`true`) and losing (`false`) the lead.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.leading.subscribe()
    }

    /// Resolves once this replica leads.
    pub async fn until_leading(&self) {
        let mut rx = self.subscribe();
        let _ = rx.wait_for(|leading| *leading).await;
    }

    /// Resolves once this replica no longer leads.
    pub async fn until_not_leading(&self) {
        let mut rx = self.subscribe();
        let _ = rx.wait_for(|leading| !*leading).await;
    }

    fn fence(&self) -> Option<Instant> {
        *self.fence.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lead_until(&self, until: Instant) {
        *self.fence.lock().unwrap_or_else(|p| p.into_inner()) = Some(until);
        self.leading
            .send_if_modified(|leading| !std::mem::replace(leading, true));
    }

    fn step_down(&self) {
        *self.fence.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.leading
            .send_if_modified(|leading| std::mem::replace(leading, false));
    }

    /// Steps down when the fence has passed; true if it did.
    fn expire(&self) -> bool {
        match self.fence() {
            Some(until) if Instant::now() >= until => {
                self.step_down();
                true
            }
            _ => false,
        }
    }
}

/// The last Lease record seen, and when (by this replica's clock) it last changed.
#[derive(Default)]
struct Observed {
    record: Option<LeaseSpec>,
    changed_at: Option<Instant>,
}

impl Observed {
    fn see(&mut self, spec: &LeaseSpec) {
        if self.record.as_ref() != Some(spec) {
            self.record = Some(spec.clone());
            self.changed_at = Some(Instant::now());
        }
    }
}

/// Runs the election until `stop`; then steps down (the caller releases the Lease once
/// its writers have stopped: [`release`]).
pub async fn run_election(
    api: Api<Lease>,
    config: ElectionConfig,
    leadership: Arc<Leadership>,
    mut stop: watch::Receiver<bool>,
) {
    let mut observed = Observed::default();
    loop {
        let started = Instant::now();
        let attempt = tokio::time::timeout(
            config.renew_deadline,
            acquire_or_renew(&api, &config, &mut observed),
        );
        let outcome = tokio::select! {
            outcome = attempt => outcome,
            _ = stop.wait_for(|s| *s) => {
                leadership.step_down();
                return;
            }
        };
        let was_leader = leadership.is_leader();
        match outcome {
            Ok(Ok(true)) => {
                leadership.lead_until(started + config.renew_deadline);
                if !was_leader {
                    tracing::info!(identity = %config.identity, lease = %config.lease_name, "became the leader");
                }
            }
            Ok(Ok(false)) => {
                if was_leader {
                    tracing::warn!(identity = %config.identity, "another replica holds the Lease; stopped writing");
                }
                leadership.step_down();
            }
            Ok(Err(error)) => {
                tracing::warn!(lease = %config.lease_name, error = %crate::api_error::message(&error), "cannot read or update the leader Lease; retrying");
            }
            Err(_) => {
                tracing::warn!(lease = %config.lease_name, "the leader Lease call did not finish within the renew deadline; retrying");
            }
        }
        // Wait for the next attempt, but stop writing the moment the fence passes.
        let next = Instant::now() + config.retry_period;
        loop {
            let wake = leadership.fence().filter(|f| *f < next).unwrap_or(next);
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                _ = stop.wait_for(|s| *s) => {
                    leadership.step_down();
                    return;
                }
            }
            if leadership.expire() {
                tracing::warn!(identity = %config.identity, "could not renew the leader Lease within the renew deadline; stopped writing");
            }
            if Instant::now() >= next {
                break;
            }
        }
    }
}

fn seconds(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs()).unwrap_or(i32::MAX)
}

/// One round: true when this replica holds the Lease afterwards.
async fn acquire_or_renew(
    api: &Api<Lease>,
    config: &ElectionConfig,
    observed: &mut Observed,
) -> Result<bool, kube::Error> {
    let now = MicroTime(jiff::Timestamp::now());
    let Some(lease) = api.get_opt(&config.lease_name).await? else {
        let fresh = Lease {
            metadata: ObjectMeta {
                name: Some(config.lease_name.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(config.identity.clone()),
                lease_duration_seconds: Some(seconds(config.lease_duration)),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &fresh).await {
            Ok(created) => {
                observed.see(&created.spec.unwrap_or_default());
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(error) => Err(error),
        };
    };
    let spec = lease.spec.clone().unwrap_or_default();
    observed.see(&spec);
    let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
    let mine = holder == Some(config.identity.as_str());
    if holder.is_some() && !mine {
        let lasts = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(config.lease_duration, Duration::from_secs);
        let changed_at = observed.changed_at.unwrap_or_else(Instant::now);
        if Instant::now() < changed_at + lasts {
            return Ok(false);
        }
    }
    let mut next = lease;
    next.spec = Some(LeaseSpec {
        holder_identity: Some(config.identity.clone()),
        lease_duration_seconds: Some(seconds(config.lease_duration)),
        acquire_time: if mine {
            spec.acquire_time.clone()
        } else {
            Some(now.clone())
        },
        renew_time: Some(now),
        lease_transitions: Some(spec.lease_transitions.unwrap_or(0) + i32::from(!mine)),
        ..spec
    });
    // The resourceVersion read above makes this a compare-and-swap.
    match api
        .replace(&config.lease_name, &PostParams::default(), &next)
        .await
    {
        Ok(stored) => {
            observed.see(&stored.spec.unwrap_or_default());
            if !mine {
                tracing::info!(identity = %config.identity, previous = holder.unwrap_or("<none>"), "acquired the leader Lease");
            }
            Ok(true)
        }
        // Someone else wrote the Lease first: when taking it, they won; when renewing
        // ours, it is a failed renewal like any other, retried until the fence passes
        // (client-go keeps trying until the renew deadline too).
        Err(kube::Error::Api(status)) if status.code == 409 && !mine => Ok(false),
        Err(error) => Err(error),
    }
}

/// Gives the Lease up (if still ours) so another replica takes over at its next try
/// instead of waiting for the Lease to expire. Call after the writers have stopped.
pub async fn release(api: &Api<Lease>, config: &ElectionConfig) -> Result<(), kube::Error> {
    let Some(mut lease) = api.get_opt(&config.lease_name).await? else {
        return Ok(());
    };
    let Some(spec) = lease.spec.as_mut() else {
        return Ok(());
    };
    if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
        return Ok(());
    }
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
    api.replace(&config.lease_name, &PostParams::default(), &lease)
        .await?;
    tracing::info!(identity = %config.identity, "released the leader Lease");
    Ok(())
}
