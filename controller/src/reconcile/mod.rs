//! One SealedSecret -> one Secret, its status and its events, with upstream's write
//! rules. Unlike upstream: failures are retried by what they are (see [`Next`]), events
//! and status writes happen only when something changed, and a follower defers its
//! work to its next leadership term.

mod context;
mod events;
mod failure;
mod open;
mod secret;
pub mod status;
pub mod write;

pub use context::{Context, Settings};
pub use events::{REASON_UNSEAL_FAILED, REASON_UNSEALED, REASON_UPDATE_FAILED};
pub use failure::{Failure, Next, retry_delay};
pub use secret::Written;

use crate::api_error::{Class, call};
use crate::metrics::ErrorReason;
use events::publish;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use sealed_common::SealedSecret;
use sealed_common::sealed_secret::SealedSecretStatus;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The field manager of our writes, and the events' reporting controller.
pub const MANAGER: &str = "sealed-secrets-controller";

/// The error handed to `error_policy`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReconcileError(pub Failure);

/// Reconciles one SealedSecret.
pub async fn reconcile(
    sealed: Arc<SealedSecret>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    if sealed.metadata.deletion_timestamp.is_some() {
        tracing::debug!(sealedsecret = %sealed.display_name(), "being deleted; not unsealed");
        return Ok(Action::await_change());
    }
    if !ctx.leader.is_leader() {
        return Ok(ctx.defer(ObjectRef::from_obj(sealed.as_ref())));
    }
    tracing::info!(sealedsecret = %sealed.display_name(), "Updating");
    ctx.metrics.unseal_request();
    let outcome = async {
        let (desired, fingerprint) = open::open(&sealed, &ctx).await?;
        let written = secret::write_secret(&sealed, &ctx, desired).await?;
        Ok((written, fingerprint))
    }
    .await;
    let result = match outcome {
        Ok((written, fingerprint)) => succeeded(&sealed, &ctx, written, fingerprint).await,
        Err(failure) => failed(&sealed, &ctx, failure).await,
    };
    match result {
        Err(ReconcileError(Failure::NotLeader)) => {
            tracing::info!(sealedsecret = %sealed.display_name(), "lost the lead before writing; deferred to the next leader");
            Ok(ctx.defer(ObjectRef::from_obj(sealed.as_ref())))
        }
        other => other,
    }
}

/// Requeues by what failed: see [`Next`] and [`retry_delay`].
pub fn error_policy(
    sealed: Arc<SealedSecret>,
    error: &ReconcileError,
    ctx: Arc<Context>,
) -> Action {
    let next = error.0.next();
    if error.0.is_outage() {
        ctx.failed_in_outage(&sealed);
    }
    let limited = next == Next::RetryLimited;
    let attempts = ctx.count_failure(&sealed, limited);
    if limited && attempts > ctx.settings.max_unseal_retries {
        tracing::error!(sealedsecret = %sealed.display_name(), %error, attempts, "giving up; waiting for the SealedSecret or its keys to change");
        return Action::await_change();
    }
    match retry_delay(next, attempts) {
        Some(delay) => Action::requeue(delay),
        None => Action::await_change(),
    }
}

async fn succeeded(
    sealed: &SealedSecret,
    ctx: &Context,
    written: Option<Written>,
    fingerprint: Option<String>,
) -> Result<Action, ReconcileError> {
    // Quiet when nothing changed: a restart re-checks every Secret without a trace.
    if written.is_some() {
        publish(
            ctx,
            sealed,
            EventType::Normal,
            REASON_UNSEALED,
            "Unseal",
            "SealedSecret unsealed successfully".into(),
        )
        .await;
    }
    if let Some(next) = next_status(sealed, ctx, Ok(fingerprint.as_deref())) {
        write_status(sealed, ctx, &next).await?;
    }
    ctx.forget_failures(sealed);
    Ok(Action::await_change())
}

async fn failed(
    sealed: &SealedSecret,
    ctx: &Context,
    failure: Failure,
) -> Result<Action, ReconcileError> {
    let key = sealed.display_name();
    let next = failure.next();
    match next {
        Next::Drop if matches!(failure, Failure::NotLeader) => {
            return Err(ReconcileError(failure));
        }
        Next::Drop => {
            tracing::debug!(sealedsecret = %key, error = %failure, "namespace going away; nothing to do");
            return Ok(Action::await_change());
        }
        Next::RetryQuietly => {
            tracing::debug!(sealedsecret = %key, error = %failure, "changed meanwhile; retrying");
            return Err(ReconcileError(failure));
        }
        Next::RetryForever { .. } | Next::RetryLimited | Next::WaitForChange => {}
    }
    tracing::warn!(sealedsecret = %key, error = %failure, "unseal failed");
    ctx.metrics
        .unseal_error(failure.metric_reason(), sealed.namespace());
    let message = failure.to_string();
    let status = next_status(sealed, ctx, Err(&message));
    // One event per new failure: not again while the status already says it.
    if status.is_some() || !ctx.settings.update_status {
        let (reason, action, note) = match &failure {
            Failure::Unseal(_) | Failure::OverBudget(_) => (
                REASON_UNSEAL_FAILED,
                "Unseal",
                format!("Failed to unseal: {message}"),
            ),
            Failure::Unmanaged(text) => (REASON_UPDATE_FAILED, "Update", text.clone()),
            _ => (REASON_UPDATE_FAILED, "Update", message),
        };
        publish(ctx, sealed, EventType::Warning, reason, action, note).await;
    }
    if let Some(status) = status {
        write_status(sealed, ctx, &status).await?;
    }
    match next {
        Next::WaitForChange => Ok(Action::await_change()),
        _ => Err(ReconcileError(failure)),
    }
}

/// The status to write, or `None` when it would say what it says now (or status
/// updates are off).
fn next_status(
    sealed: &SealedSecret,
    ctx: &Context,
    outcome: Result<Option<&str>, &str>,
) -> Option<SealedSecretStatus> {
    if !ctx.settings.update_status {
        return None;
    }
    status::next_status(
        sealed.status.as_ref(),
        sealed.metadata.generation,
        outcome,
        Time(jiff::Timestamp::now()),
        !ctx.fingerprint_pruned.load(Ordering::Relaxed),
    )
}

/// Patches the status. A status that cannot be written is retried like any API
/// failure (a stale `Synced=False` would stay for good otherwise).
async fn write_status(
    sealed: &SealedSecret,
    ctx: &Context,
    next: &SealedSecretStatus,
) -> Result<(), ReconcileError> {
    ctx.check_leader().map_err(ReconcileError)?;
    let api: Api<SealedSecret> = Api::namespaced(ctx.client.clone(), sealed.namespace());
    let patch = Patch::Merge(json!({ "status": next }));
    let stored = match call(api.patch_status(sealed.name(), &PatchParams::apply(MANAGER), &patch))
        .await
    {
        Ok(stored) => stored,
        // The SealedSecret or its namespace is going away.
        Err(error) if matches!(error.class(), Class::NotFound | Class::NamespaceGone) => {
            return Ok(());
        }
        Err(error) => {
            tracing::error!(sealedsecret = %sealed.display_name(), %error, "Error updating SealedSecret status");
            ctx.metrics
                .unseal_error(ErrorReason::Status, sealed.namespace());
            return Err(ReconcileError(Failure::Api(error)));
        }
    };
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
