//! What every reconcile shares, built once from the settings.

use crate::keys::{KeyRegistry, KeyUsage};
use crate::leader::Leadership;
use crate::metrics::Metrics;
use kube::Client;
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use sealed_common::SealedSecret;
use sealed_common::unseal::TemplateEngine;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Semaphore;

/// The reconciler's settings (from the flags).
#[derive(Clone)]
pub struct Settings {
    /// `--accept-deprecated-v1-data`.
    pub accept_v1_data: bool,
    /// `--update-status`.
    pub update_status: bool,
    /// `--max-unseal-retries`: attempts per generation when the keys cannot open it.
    pub max_unseal_retries: u32,
    /// Renders `spec.template.data`; without it such templates fail.
    pub templates: Option<Arc<dyn TemplateEngine + Send + Sync>>,
    /// `--metrics-omit-secret-labels`.
    pub omit_secret_labels: bool,
    /// The `reportingInstance` of events (the pod's name).
    pub instance: Option<String>,
    /// RSA decryptions one SealedSecret may take per reconcile
    /// (`sealed_common::crypto::MAX_RSA_DECRYPTIONS`; lower in tests).
    pub max_rsa_decryptions: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            accept_v1_data: true,
            update_status: true,
            max_unseal_retries: 5,
            templates: None,
            omit_secret_labels: false,
            instance: None,
            max_rsa_decryptions: sealed_common::crypto::MAX_RSA_DECRYPTIONS,
        }
    }
}

/// Consecutive failures per object: the generation and kind (decryption or not) they
/// count for, and how many.
type Attempts = HashMap<ObjectRef<SealedSecret>, ((Option<i64>, bool), u32)>;

/// What a reconcile needs; shared by all reconciles and the HTTP API.
pub struct Context {
    pub client: Client,
    pub registry: Arc<KeyRegistry>,
    /// Only the leader writes; checked right before every write.
    pub leader: Arc<Leadership>,
    pub metrics: Arc<Metrics>,
    /// The key that last opened each object, for when the CRD prunes the status field.
    pub usage: Arc<KeyUsage>,
    /// Bounds concurrent RSA work to the number of cores.
    pub cpu: Arc<Semaphore>,
    pub(super) recorder: Recorder,
    pub(super) settings: Settings,
    attempts: Mutex<Attempts>,
    /// Objects a follower was asked to reconcile: the next leadership term starts
    /// with them.
    deferred: Mutex<HashSet<ObjectRef<SealedSecret>>>,
    /// Objects whose last reconcile failed because the API server was down: retried
    /// together as soon as it answers again (see `run::outage`).
    after_outage: Mutex<HashSet<ObjectRef<SealedSecret>>>,
    /// Bumped each time the API server answers again after an outage.
    recovered: tokio::sync::watch::Sender<u64>,
    /// Set once a status write shows that the installed CRD drops `keyFingerprint`.
    pub(super) fingerprint_pruned: AtomicBool,
}

impl Context {
    pub fn new(
        client: Client,
        registry: Arc<KeyRegistry>,
        leader: Arc<Leadership>,
        settings: Settings,
    ) -> Context {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let usage = Arc::new(KeyUsage::default());
        let metrics = Arc::new(Metrics::new(
            Arc::clone(&registry),
            Arc::clone(&usage),
            settings.omit_secret_labels,
        ));
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: super::MANAGER.into(),
                instance: settings.instance.clone(),
            },
        );
        Context {
            client,
            registry,
            leader,
            metrics,
            usage,
            cpu: Arc::new(Semaphore::new(cores)),
            recorder,
            settings,
            attempts: Mutex::new(HashMap::new()),
            deferred: Mutex::new(HashSet::new()),
            after_outage: Mutex::new(HashSet::new()),
            recovered: tokio::sync::watch::Sender::new(0),
            fingerprint_pruned: AtomicBool::new(false),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Forgets a deleted SealedSecret: its failures and the key that opened it.
    pub fn forget(&self, object: &ObjectRef<SealedSecret>) {
        self.usage.forget(object);
        lock(&self.attempts).remove(object);
        lock(&self.deferred).remove(object);
        lock(&self.after_outage).remove(object);
    }

    /// Keeps only what `exists` still holds (after a relist).
    pub fn forget_all_but(&self, exists: impl Fn(&ObjectRef<SealedSecret>) -> bool) {
        self.usage.retain(&exists);
        lock(&self.attempts).retain(|object, _| exists(object));
        lock(&self.deferred).retain(|object| exists(object));
        lock(&self.after_outage).retain(|object| exists(object));
    }

    /// Counts one more failure of `sealed` and returns the count; it starts again with
    /// a new generation, and when decryption failures follow others or the reverse (an
    /// outage does not use up `--max-unseal-retries`).
    pub(super) fn count_failure(&self, sealed: &SealedSecret, decryption: bool) -> u32 {
        let kind = (sealed.metadata.generation, decryption);
        let mut attempts = lock(&self.attempts);
        let entry = attempts
            .entry(ObjectRef::from_obj(sealed))
            .or_insert((kind, 0));
        if entry.0 != kind {
            *entry = (kind, 0);
        }
        entry.1 += 1;
        entry.1
    }

    /// `Err(NotLeader)` once this replica may no longer write.
    pub(super) fn check_leader(&self) -> Result<(), super::Failure> {
        if self.leader.is_leader() {
            Ok(())
        } else {
            Err(super::Failure::NotLeader)
        }
    }

    pub(super) fn forget_failures(&self, sealed: &SealedSecret) {
        let object = ObjectRef::from_obj(sealed);
        lock(&self.attempts).remove(&object);
        lock(&self.after_outage).remove(&object);
    }

    /// Remembers that `sealed` failed because the API server was down.
    pub(super) fn failed_in_outage(&self, sealed: &SealedSecret) {
        lock(&self.after_outage).insert(ObjectRef::from_obj(sealed));
    }

    /// Whether some object waits for the API server to answer again.
    pub fn outage_pending(&self) -> bool {
        !lock(&self.after_outage).is_empty()
    }

    /// Says that the API server answers again after an outage.
    pub fn api_recovered(&self) {
        self.recovered.send_modify(|n| *n += 1);
    }

    /// Follows [`Context::api_recovered`].
    pub fn subscribe_recovered(&self) -> tokio::sync::watch::Receiver<u64> {
        self.recovered.subscribe()
    }

    /// Takes the objects that wait for the API server and that `mine` accepts.
    pub fn take_after_outage(
        &self,
        mine: impl Fn(&ObjectRef<SealedSecret>) -> bool,
    ) -> Vec<ObjectRef<SealedSecret>> {
        take(&self.after_outage, mine)
    }

    /// A follower's answer to a reconcile: remember the object for the next term. If the
    /// lead arrived meanwhile (and the term's start already took the deferred ones), the
    /// object is requeued at once instead.
    pub(super) fn defer(&self, object: ObjectRef<SealedSecret>) -> Action {
        lock(&self.deferred).insert(object.clone());
        if self.leader.is_leader() && lock(&self.deferred).remove(&object) {
            return Action::requeue(Duration::ZERO);
        }
        Action::await_change()
    }

    /// Takes the deferred objects that `mine` accepts (one reconcile loop's).
    pub fn take_deferred(
        &self,
        mine: impl Fn(&ObjectRef<SealedSecret>) -> bool,
    ) -> Vec<ObjectRef<SealedSecret>> {
        take(&self.deferred, mine)
    }
}

fn take(
    set: &Mutex<HashSet<ObjectRef<SealedSecret>>>,
    mine: impl Fn(&ObjectRef<SealedSecret>) -> bool,
) -> Vec<ObjectRef<SealedSecret>> {
    let mut set = lock(set);
    let taken: Vec<_> = set.iter().filter(|o| mine(o)).cloned().collect();
    for object in &taken {
        set.remove(object);
    }
    taken
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
