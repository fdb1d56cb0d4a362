//! Decrypts a SealedSecret on the blocking pool, at most one RSA job per core, trying
//! first the keys most likely to open it.

use super::Context;
use super::failure::Failure;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::ObjectRef;
use sealed_common::SealedSecret;
use sealed_common::unseal::{TemplateEngine, UnsealOptions, unseal};
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
        ctx.registry.opened_with(fingerprint);
    }
    Ok(opened)
}
