//! Decrypts a SealedSecret on the blocking pool, at most one RSA job per core, trying
//! first the keys most likely to open it, within the RSA budget of one SealedSecret
//! (`sealed_common::crypto::MAX_RSA_DECRYPTIONS`).

use super::Context;
use super::failure::Failure;
use crate::metrics::Origin;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::ObjectRef;
use sealed_common::SealedSecret;
use sealed_common::crypto::RsaBudget;
use sealed_common::unseal::{TemplateEngine, UnsealError, UnsealOptions, unseal_within};
use std::sync::Arc;

/// The unsealed Secret and the fingerprint of the key that opened it.
pub async fn open(
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
    let permit = Arc::clone(&ctx.cpu)
        .acquire_owned()
        .await
        .map_err(|e| Failure::Unseal(e.to_string()))?;
    // Ordered once the permit is held: the key that most recently opened anything is
    // then the latest one, not the one of when this object started waiting.
    let keys = ctx.registry.keys_for(hint.as_deref());
    let sealed = Arc::clone(sealed);
    let templates = ctx.settings.templates.clone();
    let accept_v1_data = ctx.settings.accept_v1_data;
    let limit = ctx.settings.max_rsa_decryptions;
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
        let budget = RsaBudget::new(limit);
        let result = unseal_within(&sealed, &private, options, &budget).map(|u| {
            let fingerprint = u.key_index.and_then(|i| keys.get(i));
            (u.secret, fingerprint.map(|k| k.fingerprint.clone()))
        });
        (started.elapsed(), budget.used(), result)
    });
    let (took, decryptions, result) = job
        .await
        .map_err(|e| Failure::Unseal(format!("unseal task failed: {e}")))?;
    ctx.metrics.unseal_duration(took.as_secs_f64());
    ctx.metrics.rsa_decryptions(Origin::Reconcile, decryptions);
    // A budget that ran out runs out again the same way: wait for a change, no retries.
    let opened = result.map_err(|e| match e {
        UnsealError::TemplateBudget { .. } | UnsealError::OverBudget { .. } => {
            Failure::OverBudget(e.to_string())
        }
        e => Failure::Unseal(e.to_string()),
    })?;
    if let Some(fingerprint) = &opened.1 {
        ctx.usage.record(object, fingerprint);
        ctx.registry.opened_with(fingerprint);
    }
    Ok(opened)
}
