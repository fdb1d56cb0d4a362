//! The key registry: every sealing key the controller holds, kept current by watching
//! the key Secrets, and renewed on schedule.

mod activation;
mod renewal;
mod usage;
mod watch;

pub use activation::KeyStatus;
pub use renewal::{
    KeyGenerator, RenewalPlan, parse_cutoff_time, plan_renewal, renew_as_leader, run_renewal,
};
pub use usage::KeyUsage;
pub use watch::{KEY_SELECTOR, list_keys, run_key_watch};

use k8s_openapi::api::core::v1::Secret;
use sealed_common::RsaPrivateKey;
use sealed_common::key_secret::{KeySecretError, key_from_secret};
use sealed_common::keys::{Certificate, fingerprint};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio::sync::watch as tokio_watch;

/// Which time orders keys (`--key-order-priority`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOrder {
    CertNotBefore,
    SecretCreationTimestamp,
}

impl KeyOrder {
    pub fn from_flag(value: &str) -> KeyOrder {
        match value {
            "SecretCreationTimestamp" => KeyOrder::SecretCreationTimestamp,
            _ => KeyOrder::CertNotBefore,
        }
    }
}

/// One key pair, as read from its Secret.
#[derive(Debug)]
pub struct KeyEntry {
    pub secret_name: String,
    pub resource_version: Option<String>,
    pub private_key: RsaPrivateKey,
    /// Missing only for hand-made key Secrets without `tls.crt`: such a key still
    /// decrypts but is never used to seal.
    pub certificate: Option<Certificate>,
    pub fingerprint: String,
    /// The time keys are ordered by (certificate NotBefore or Secret creation).
    pub ordering_time: SystemTime,
}

impl KeyEntry {
    /// Reads a key Secret.
    pub fn from_secret(secret: &Secret, order: KeyOrder) -> Result<KeyEntry, KeySecretError> {
        let stored = key_from_secret(secret)?;
        let created = secret
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| SystemTime::from(t.0));
        let not_before = stored.certificate.as_ref().map(Certificate::not_before);
        let ordering_time = match order {
            KeyOrder::CertNotBefore => not_before.or(created),
            KeyOrder::SecretCreationTimestamp => created.or(not_before),
        }
        .unwrap_or(SystemTime::UNIX_EPOCH);
        Ok(KeyEntry {
            secret_name: secret.metadata.name.clone().unwrap_or_default(),
            resource_version: secret.metadata.resource_version.clone(),
            fingerprint: fingerprint(stored.private_key.public_key()),
            private_key: stored.private_key,
            certificate: stored.certificate,
            ordering_time,
        })
    }
}

/// Where a key Secret was found: by label, or the legacy Secret named like the prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Labelled,
    Legacy,
}

/// One `T` per [`Source`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerSource<T> {
    pub labelled: T,
    pub legacy: T,
}

impl<T> PerSource<T> {
    pub fn get_mut(&mut self, source: Source) -> &mut T {
        match source {
            Source::Labelled => &mut self.labelled,
            Source::Legacy => &mut self.legacy,
        }
    }

    pub fn get(&self, source: Source) -> &T {
        match source {
            Source::Labelled => &self.labelled,
            Source::Legacy => &self.legacy,
        }
    }

    pub fn both(&self) -> [&T; 2] {
        [&self.labelled, &self.legacy]
    }
}

/// Changes observers can wait for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Revision {
    /// Bumped on every change of the key set.
    pub changed: u64,
    /// Bumped when a key not seen before appears (objects that failed may open now).
    pub added: u64,
}

#[derive(Default)]
struct State {
    by_source: PerSource<BTreeMap<String, Arc<KeyEntry>>>,
    ready: PerSource<bool>,
    /// Newest first, one entry per fingerprint.
    sorted: Arc<Vec<Arc<KeyEntry>>>,
}

/// The keys, shared by the reconcilers, the renewal job and (later) the HTTP API.
pub struct KeyRegistry {
    order: KeyOrder,
    /// `--key-activation-delay`.
    activation_delay: Duration,
    state: RwLock<State>,
    revision: tokio_watch::Sender<Revision>,
    /// The sealing key last reported in the log, to log each change once.
    logged_sealing: Mutex<Option<String>>,
    /// The key that most recently opened any object: objects sealed with one
    /// certificate usually arrive together.
    last_opened: Mutex<Option<String>>,
}

impl KeyRegistry {
    /// A registry whose new keys seal at once.
    pub fn new(order: KeyOrder) -> Arc<KeyRegistry> {
        KeyRegistry::with_activation_delay(order, Duration::ZERO)
    }

    /// A registry whose new keys seal only `delay` after their ordering time.
    pub fn with_activation_delay(order: KeyOrder, delay: Duration) -> Arc<KeyRegistry> {
        Arc::new(KeyRegistry {
            order,
            activation_delay: delay,
            state: RwLock::new(State::default()),
            revision: tokio_watch::Sender::new(Revision::default()),
            logged_sealing: Mutex::new(None),
            last_opened: Mutex::new(None),
        })
    }

    pub fn order(&self) -> KeyOrder {
        self.order
    }

    pub fn activation_delay(&self) -> Duration {
        self.activation_delay
    }

    /// Wakes on every change of the key set.
    pub fn subscribe(&self) -> tokio_watch::Receiver<Revision> {
        self.revision.subscribe()
    }

    /// True once both watches have listed their Secrets.
    pub fn is_ready(&self) -> bool {
        self.read(|s| s.ready.both().into_iter().all(|r| *r))
    }

    /// Waits until both watches have listed their Secrets.
    pub async fn wait_ready(&self) {
        let mut rx = self.subscribe();
        while !self.is_ready() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// All keys, newest first.
    pub fn keys(&self) -> Arc<Vec<Arc<KeyEntry>>> {
        self.read(|s| Arc::clone(&s.sorted))
    }

    /// Keys in the order to try them: the key that opened the object last time (by
    /// fingerprint), then the key that most recently opened any object, then newest
    /// first. Upstream tries them in random order.
    pub fn keys_for(&self, hint: Option<&str>) -> Vec<Arc<KeyEntry>> {
        let keys = self.keys();
        let last = self
            .last_opened
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut ordered: Vec<Arc<KeyEntry>> = Vec::with_capacity(keys.len());
        for first in [hint, last.as_deref()].into_iter().flatten() {
            let hit = keys.iter().find(|k| k.fingerprint == first);
            if let Some(hit) = hit.filter(|h| !ordered.iter().any(|o| Arc::ptr_eq(o, h))) {
                ordered.push(Arc::clone(hit));
            }
        }
        let rest: Vec<Arc<KeyEntry>> = keys
            .iter()
            .filter(|k| !ordered.iter().any(|o| Arc::ptr_eq(o, k)))
            .cloned()
            .collect();
        ordered.extend(rest);
        ordered
    }

    /// Records the key that just opened an object (see [`KeyRegistry::keys_for`]).
    pub fn opened_with(&self, fingerprint: &str) {
        let mut last = self.last_opened.lock().unwrap_or_else(|p| p.into_inner());
        if last.as_deref() != Some(fingerprint) {
            *last = Some(fingerprint.to_owned());
        }
    }

    /// The time of the newest key, which renewal counts from.
    pub fn newest_time(&self) -> Option<SystemTime> {
        self.keys().first().map(|k| k.ordering_time)
    }

    /// The key to seal with now (see [`KeyRegistry::sealing_key_at`]).
    pub fn sealing_key(&self) -> Option<Arc<KeyEntry>> {
        let key = self.sealing_key_at(SystemTime::now());
        self.note_sealing(key.as_deref());
        key
    }

    /// The key to seal with at `now`: the newest key with a certificate whose ordering
    /// time plus the activation delay has passed; if none has, the oldest key with a
    /// certificate. A held-back key still decrypts (it is in [`KeyRegistry::keys`]).
    pub fn sealing_key_at(&self, now: SystemTime) -> Option<Arc<KeyEntry>> {
        let keys = self.keys();
        activation::sealing_index(&keys, self.activation_delay, now)
            .and_then(|i| keys.get(i))
            .cloned()
    }

    /// Every key, newest first, with whether it seals now and until when it is held back.
    pub fn inventory(&self) -> Vec<KeyStatus> {
        let statuses = self.inventory_at(SystemTime::now());
        self.note_sealing(statuses.iter().find(|s| s.active).map(|s| s.key.as_ref()));
        statuses
    }

    /// [`KeyRegistry::inventory`] at `now`, from one snapshot of the keys.
    pub fn inventory_at(&self, now: SystemTime) -> Vec<KeyStatus> {
        activation::statuses(&self.keys(), self.activation_delay, now)
    }

    /// Logs the sealing key when it changes. Checked when it is asked for (probes,
    /// scrapes, requests) rather than on a timer: a held-back key starts sealing
    /// without anything happening to the key set.
    fn note_sealing(&self, key: Option<&KeyEntry>) {
        let Some(key) = key else { return };
        let mut logged = self
            .logged_sealing
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if logged.as_deref() != Some(key.fingerprint.as_str()) {
            tracing::info!(secretname = %key.secret_name, fingerprint = %key.fingerprint, "sealing with key");
            *logged = Some(key.fingerprint.clone());
        }
    }

    /// Adds or replaces the key in `secret`; a malformed Secret is logged and dropped.
    pub fn apply(&self, source: Source, secret: &Secret) {
        let name = secret.metadata.name.clone().unwrap_or_default();
        match self.entry_for(source, secret) {
            // An unchanged Secret yields the same entry, and `update` signals nothing.
            Some(entry) => self.update(|s| {
                s.by_source.get_mut(source).insert(name, entry);
            }),
            None => self.remove(source, &name),
        }
    }

    /// The entry for `secret`: the one already held when its resourceVersion is the
    /// same (no re-parse), else freshly read; `None` (logged) when it does not parse.
    fn entry_for(&self, source: Source, secret: &Secret) -> Option<Arc<KeyEntry>> {
        let name = secret.metadata.name.as_deref().unwrap_or_default();
        let held = self.read(|s| {
            s.by_source
                .get(source)
                .get(name)
                .filter(|k| k.resource_version == secret.metadata.resource_version)
                .cloned()
        });
        if held.is_some() {
            return held;
        }
        match KeyEntry::from_secret(secret, self.order) {
            Ok(entry) => Some(Arc::new(entry)),
            Err(error) => {
                tracing::error!(secret = %name, %error, "Error reading key; skipping it");
                None
            }
        }
    }

    /// Registers a key whose Secret the API server just accepted.
    pub fn insert(&self, source: Source, entry: KeyEntry) {
        let entry = Arc::new(entry);
        self.update(|s| {
            s.by_source
                .get_mut(source)
                .insert(entry.secret_name.clone(), entry);
        });
    }

    pub fn remove(&self, source: Source, name: &str) {
        self.update(|s| {
            s.by_source.get_mut(source).remove(name);
        });
    }

    /// Replaces everything from `source` with `secrets` (after a (re)list).
    pub fn replace(&self, source: Source, secrets: &[Secret]) {
        let fresh: BTreeMap<String, Arc<KeyEntry>> = secrets
            .iter()
            .filter_map(|secret| {
                let entry = self.entry_for(source, secret)?;
                Some((secret.metadata.name.clone().unwrap_or_default(), entry))
            })
            .collect();
        self.update(|s| {
            *s.by_source.get_mut(source) = fresh;
            *s.ready.get_mut(source) = true;
        });
    }

    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        match self.state.read() {
            Ok(guard) => f(&guard),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        let mut guard = match self.state.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let before: Vec<String> = guard.sorted.iter().map(|k| k.secret_name.clone()).collect();
        let before_fingerprints: Vec<String> =
            guard.sorted.iter().map(|k| k.fingerprint.clone()).collect();
        let was_ready = guard.ready;
        f(&mut guard);
        let mut all: Vec<Arc<KeyEntry>> = Vec::new();
        for entry in guard.by_source.both().into_iter().flat_map(|m| m.values()) {
            if !all.iter().any(|k| k.fingerprint == entry.fingerprint) {
                all.push(Arc::clone(entry));
            }
        }
        all.sort_by(|a, b| {
            b.ordering_time
                .cmp(&a.ordering_time)
                .then_with(|| a.secret_name.cmp(&b.secret_name))
        });
        let mut added = false;
        for entry in &all {
            if !before_fingerprints.contains(&entry.fingerprint) {
                added = true;
                tracing::info!(secretname = %entry.secret_name, fingerprint = %entry.fingerprint, "registered private key");
            }
        }
        let after: Vec<String> = all.iter().map(|k| k.secret_name.clone()).collect();
        for gone in before.iter().filter(|n| !after.contains(n)) {
            tracing::info!(secretname = %gone, "removed private key");
        }
        let changed = before != after
            || was_ready != guard.ready
            || all
                .iter()
                .zip(guard.sorted.iter())
                .any(|(a, b)| !Arc::ptr_eq(a, b));
        guard.sorted = Arc::new(all);
        if !guard.ready.both().into_iter().all(|r| *r) {
            // Keys seen during the first list are not "added" for retry purposes.
            added = false;
        }
        drop(guard);
        if changed {
            self.revision.send_modify(|r| {
                r.changed += 1;
                if added {
                    r.added += 1;
                }
            });
        }
    }
}

#[cfg(test)]
mod tests;
