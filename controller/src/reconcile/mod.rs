//! One SealedSecret -> one Secret, its status and its events, as upstream's controller
//! does it; RSA work off the async runtime, keys tried in the order that usually hits.

pub mod status;
pub mod write;

use crate::keys::{KeyRegistry, KeyUsage};
use crate::leader::Leadership;
use crate::metrics::{ErrorReason, Metrics};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Client, Resource};
use sealed_common::SealedSecret;
use sealed_common::unseal::{TemplateEngine, UnsealOptions, unseal};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use write::{WritePlan, immutable_message, plan_update};

/// Upstream's event reasons.
pub const REASON_UNSEALED: &str = "Unsealed";
pub const REASON_UNSEAL_FAILED: &str = "ErrUnsealFailed";
pub const REASON_UPDATE_FAILED: &str = "ErrUpdateFailed";

/// The field manager for our writes.
pub const MANAGER: &str = "sealed-secrets-controller";

/// Failed attempts per object, with the generation they count for.
type RetryCounts = HashMap<ObjectRef<SealedSecret>, (Option<i64>, u32)>;

/// What a reconcile needs; shared by all reconciles.
pub struct Context {
    pub client: Client,
    pub registry: Arc<KeyRegistry>,
    pub recorder: Recorder,
    pub templates: Option<Arc<dyn TemplateEngine + Send + Sync>>,
    pub accept_v1_data: bool,
    pub update_status: bool,
    pub max_retries: u32,
    /// Bounds concurrent RSA work to the number of cores.
    pub cpu: Arc<Semaphore>,
    retries: Mutex<RetryCounts>,
    /// The key that last opened each object, for when the CRD prunes the status field.
    pub usage: Arc<KeyUsage>,
    pub metrics: Arc<Metrics>,
    /// Set once a status write shows that the installed CRD drops `keyFingerprint`.
    fingerprint_pruned: AtomicBool,
    /// Only the leader writes; checked right before every write.
    pub leader: Arc<Leadership>,
}

impl Context {
    pub fn new(client: Client, registry: Arc<KeyRegistry>, recorder: Recorder) -> Context {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let usage = Arc::new(KeyUsage::default());
        let metrics = Arc::new(Metrics::new(
            Arc::clone(&registry),
            Arc::clone(&usage),
            false,
        ));
        Context {
            client,
            registry,
            recorder,
            templates: None,
            accept_v1_data: true,
            update_status: true,
            max_retries: 5,
            cpu: Arc::new(Semaphore::new(cores)),
            retries: Mutex::new(HashMap::new()),
            usage,
            metrics,
            fingerprint_pruned: AtomicBool::new(false),
            leader: Leadership::sole(),
        }
    }
}

impl Context {
    /// Forgets a deleted SealedSecret: its retry count and the key that opened it.
    pub fn forget(&self, object: &ObjectRef<SealedSecret>) {
        self.usage.forget(object);
        self.lock_retries().remove(object);
    }

    /// Keeps only what `exists` still holds (after a relist).
    pub fn forget_all_but(&self, exists: impl Fn(&ObjectRef<SealedSecret>) -> bool) {
        self.usage.retain(&exists);
        self.lock_retries().retain(|object, _| exists(object));
    }

    /// `Err(NotLeader)` once this replica may no longer write.
    fn check_leader(&self) -> Result<(), Failure> {
        if self.leader.is_leader() {
            Ok(())
        } else {
            Err(Failure::NotLeader)
        }
    }

    fn lock_retries(&self) -> std::sync::MutexGuard<'_, RetryCounts> {
        self.retries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Why a reconcile failed. The Display text is what the status and events show.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Decryption or template failure (upstream's texts).
    #[error("{0}")]
    Unseal(String),
    /// A Secret of that name belongs to someone else.
    #[error("failed update: {0}")]
    Unmanaged(String),
    /// The Secret is immutable and its data would change; retrying cannot help.
    #[error("{0}")]
    Immutable(String),
    /// The API server refused or failed a call.
    #[error("{0}")]
    Api(String),
    /// This replica lost the lead before writing; the new leader reconciles.
    #[error("not the leader")]
    NotLeader,
}

impl Failure {
    fn retry(&self) -> bool {
        !matches!(self, Failure::Immutable(_))
    }

    /// The `reason` label of `unseal_errors_total`.
    fn metric_reason(&self) -> ErrorReason {
        match self {
            Failure::Unseal(_) => ErrorReason::Unseal,
            Failure::Unmanaged(_) => ErrorReason::Unmanaged,
            Failure::Immutable(_) | Failure::Api(_) | Failure::NotLeader => ErrorReason::Update,
        }
    }
}

/// The error handed to `error_policy`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReconcileError(pub Failure);

/// A kube error as one line: the API server's message, not the debug dump.
pub fn api_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

/// Reconciles one SealedSecret.
pub async fn reconcile(
    sealed: Arc<SealedSecret>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let key = sealed.display_name();
    if !ctx.leader.is_leader() {
        return Ok(Action::await_change());
    }
    tracing::info!(sealedsecret = %key, "Updating");
    ctx.metrics.unseal_request();
    let outcome = unseal_and_write(&sealed, &ctx).await;
    if matches!(outcome, Err(Failure::NotLeader)) {
        tracing::info!(sealedsecret = %key, "lost the lead before writing; the new leader will unseal it");
        return Ok(Action::await_change());
    }
    match &outcome {
        Ok(_) => {
            publish(
                &ctx,
                &sealed,
                EventType::Normal,
                REASON_UNSEALED,
                "Unseal",
                "SealedSecret unsealed successfully".into(),
            )
            .await;
        }
        Err(failure) => {
            tracing::warn!(sealedsecret = %key, error = %failure, "unseal failed");
            ctx.metrics
                .unseal_error(failure.metric_reason(), sealed.namespace());
        }
    }
    if ctx.update_status {
        let message = outcome.as_ref().err().map(ToString::to_string);
        let shown = match &outcome {
            Ok(fingerprint) => Ok(fingerprint.as_deref()),
            Err(_) => Err(message.as_deref().unwrap_or_default()),
        };
        if let Err(error) = write_status(&sealed, &ctx, shown).await {
            tracing::error!(sealedsecret = %key, error = %api_message(&error), "Error updating SealedSecret status");
            ctx.metrics
                .unseal_error(ErrorReason::Status, sealed.namespace());
        }
    }
    match outcome {
        Ok(_) => {
            forget_retries(&ctx, &sealed);
            Ok(Action::await_change())
        }
        Err(failure) if failure.retry() => Err(ReconcileError(failure)),
        Err(_) => Ok(Action::await_change()),
    }
}

/// Requeues with exponential backoff (1 s, 2 s, 4 s, ... capped at 5 min) up to
/// `--max-unseal-retries` times per generation, then waits for a change.
pub fn error_policy(
    sealed: Arc<SealedSecret>,
    error: &ReconcileError,
    ctx: Arc<Context>,
) -> Action {
    let attempts = {
        let mut retries = ctx.lock_retries();
        let entry = retries
            .entry(ObjectRef::from_obj(sealed.as_ref()))
            .or_insert((sealed.metadata.generation, 0));
        if entry.0 != sealed.metadata.generation {
            *entry = (sealed.metadata.generation, 0);
        }
        entry.1 += 1;
        entry.1
    };
    if attempts > ctx.max_retries {
        tracing::error!(sealedsecret = %sealed.display_name(), %error, attempts, "giving up; waiting for the SealedSecret or its keys to change");
        return Action::await_change();
    }
    let delay = Duration::from_secs(1u64 << (attempts - 1).min(8)).min(Duration::from_secs(300));
    Action::requeue(delay)
}

fn forget_retries(ctx: &Context, sealed: &SealedSecret) {
    ctx.lock_retries().remove(&ObjectRef::from_obj(sealed));
}

/// Unseals and writes the Secret; returns the fingerprint of the key that opened it.
async fn unseal_and_write(
    sealed: &Arc<SealedSecret>,
    ctx: &Context,
) -> Result<Option<String>, Failure> {
    let (desired, fingerprint) = match open(sealed, ctx).await {
        Ok(opened) => opened,
        Err(failure) => {
            publish(
                ctx,
                sealed,
                EventType::Warning,
                REASON_UNSEAL_FAILED,
                "Unseal",
                format!("Failed to unseal: {failure}"),
            )
            .await;
            return Err(failure);
        }
    };
    match write_secret(sealed, ctx, desired).await {
        Ok(()) => Ok(fingerprint),
        Err(failure) => {
            let note = match &failure {
                Failure::Unmanaged(message) => message.clone(),
                other => other.to_string(),
            };
            publish(
                ctx,
                sealed,
                EventType::Warning,
                REASON_UPDATE_FAILED,
                "Update",
                note,
            )
            .await;
            Err(failure)
        }
    }
}

/// Decrypts on the blocking pool, at most one RSA job per core.
async fn open(
    sealed: &Arc<SealedSecret>,
    ctx: &Context,
) -> Result<(Secret, Option<String>), Failure> {
    let object = ObjectRef::from_obj(sealed.as_ref());
    let remembered = ctx.usage.get(&object);
    let hint = sealed
        .status
        .as_ref()
        .and_then(|s| s.key_fingerprint.clone())
        .or(remembered);
    let keys = ctx.registry.keys_for(hint.as_deref());
    let permit = Arc::clone(&ctx.cpu)
        .acquire_owned()
        .await
        .map_err(|e| Failure::Unseal(e.to_string()))?;
    let sealed = Arc::clone(sealed);
    let templates = ctx.templates.clone();
    let accept_v1_data = ctx.accept_v1_data;
    let job = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let started = std::time::Instant::now();
        let private: Vec<&sealed_common::RsaPrivateKey> =
            keys.iter().map(|k| &k.private_key).collect();
        let engine = templates.as_deref().map(|t| t as &dyn TemplateEngine);
        let options = UnsealOptions {
            accept_v1_data,
            templates: engine,
        };
        let result = unseal(&sealed, &private, options).map(|u| {
            let fingerprint = u.key_index.and_then(|i| keys.get(i));
            (u.secret, fingerprint.map(|k| k.fingerprint.clone()))
        });
        (started.elapsed(), result)
    });
    let (took, result) = job
        .await
        .map_err(|e| Failure::Unseal(format!("unseal task failed: {e}")))?;
    ctx.metrics.unseal_duration(took.as_secs_f64());
    let opened = result.map_err(|e| Failure::Unseal(e.to_string()))?;
    if let Some(fingerprint) = &opened.1 {
        ctx.usage.record(object, fingerprint);
    }
    Ok(opened)
}

async fn write_secret(
    sealed: &SealedSecret,
    ctx: &Context,
    desired: Secret,
) -> Result<(), Failure> {
    let namespace = sealed.namespace();
    let name = sealed.name();
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let params = PostParams {
        field_manager: Some(MANAGER.to_owned()),
        ..PostParams::default()
    };
    let api_failure = |e: kube::Error| Failure::Api(api_message(&e));
    let Some(existing) = api.get_opt(name).await.map_err(api_failure)? else {
        ctx.check_leader()?;
        api.create(&params, &desired).await.map_err(api_failure)?;
        tracing::info!(secret = %sealed.display_name(), "created Secret");
        return Ok(());
    };
    let uid = sealed.metadata.uid.as_deref().unwrap_or_default();
    match plan_update(&existing, &desired, uid) {
        WritePlan::Unchanged => Ok(()),
        WritePlan::Unmanaged(message) => Err(Failure::Unmanaged(message)),
        WritePlan::Immutable => Err(Failure::Immutable(immutable_message(
            &sealed.display_name(),
        ))),
        WritePlan::Update(updated) => match ctx
            .check_leader()
            .map(|()| api.replace(name, &params, &updated))?
            .await
        {
            Ok(_) => {
                tracing::info!(secret = %sealed.display_name(), "updated Secret");
                Ok(())
            }
            Err(e) if api_message(&e).ends_with("field is immutable when `immutable` is set") => {
                Err(Failure::Immutable(immutable_message(
                    &sealed.display_name(),
                )))
            }
            Err(e) => Err(api_failure(e)),
        },
    }
}

async fn write_status(
    sealed: &SealedSecret,
    ctx: &Context,
    outcome: Result<Option<&str>, &str>,
) -> Result<(), kube::Error> {
    let compare_fingerprint = !ctx.fingerprint_pruned.load(Ordering::Relaxed);
    let now = Time(jiff::Timestamp::now());
    let Some(next) = status::next_status(
        sealed.status.as_ref(),
        sealed.metadata.generation,
        outcome,
        now,
        compare_fingerprint,
    ) else {
        return Ok(());
    };
    if !ctx.leader.is_leader() {
        return Ok(());
    }
    let api: Api<SealedSecret> = Api::namespaced(ctx.client.clone(), sealed.namespace());
    let params = PatchParams::apply(MANAGER);
    let patch = Patch::Merge(json!({ "status": next }));
    let stored = api
        .patch_status(
            sealed.name(),
            &PatchParams {
                force: false,
                ..params
            },
            &patch,
        )
        .await?;
    if next.key_fingerprint.is_some()
        && stored
            .status
            .as_ref()
            .and_then(|s| s.key_fingerprint.as_ref())
            .is_none()
        && !ctx.fingerprint_pruned.swap(true, Ordering::Relaxed)
    {
        tracing::info!(
            "the installed SealedSecret CRD has no status.keyFingerprint (upstream's CRD); key usage is not recorded in status"
        );
    }
    Ok(())
}

/// Publishes an event; a failure to publish is logged, never fatal.
async fn publish(
    ctx: &Context,
    sealed: &SealedSecret,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    if !ctx.leader.is_leader() {
        return;
    }
    let reference = sealed.object_ref(&());
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(truncate(note, 1024)),
        action: action.to_owned(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &reference).await {
        tracing::warn!(sealedsecret = %sealed.display_name(), error = %api_message(&error), "cannot publish event");
    }
}

/// Events carry at most 1 kB of note.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
