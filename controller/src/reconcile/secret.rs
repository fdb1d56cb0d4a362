//! Writes the unsealed Secret: create, update in place, or delete and create anew when
//! the API server cannot change it in place. Every write is fenced by the leadership.

use super::failure::Failure;
use super::write::{WritePlan, immutable_message, plan_update};
use super::{Context, MANAGER};
use crate::api_error::{CallError, Class, call};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, PostParams, Preconditions};
use sealed_common::SealedSecret;

/// What was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    Created,
    Updated,
    /// Deleted and created anew (new type, or no longer immutable).
    Recreated,
}

/// Makes the Secret match `desired`; `None` when it already did.
pub async fn write_secret(
    sealed: &SealedSecret,
    ctx: &Context,
    desired: Secret,
) -> Result<Option<Written>, Failure> {
    let key = sealed.display_name();
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), sealed.namespace());
    let name = sealed.name();
    let Some(existing) = call(api.get_opt(name)).await? else {
        create(&api, ctx, &desired).await?;
        tracing::info!(secret = %key, "created Secret");
        return Ok(Some(Written::Created));
    };
    let uid = sealed.metadata.uid.as_deref().unwrap_or_default();
    match plan_update(&existing, &desired, uid) {
        WritePlan::Unchanged => Ok(None),
        WritePlan::Unmanaged(message) => Err(Failure::Unmanaged(message)),
        WritePlan::Immutable => Err(Failure::Immutable(immutable_message(&key))),
        WritePlan::Update(updated) => {
            ctx.check_leader()?;
            match call(api.replace(name, &post_params(), &updated)).await {
                Ok(_) => {
                    tracing::info!(secret = %key, "updated Secret");
                    Ok(Some(Written::Updated))
                }
                Err(error) if immutable_refusal(&error) => {
                    Err(Failure::Immutable(immutable_message(&key)))
                }
                Err(error) => Err(error.into()),
            }
        }
        WritePlan::Recreate => {
            ctx.check_leader()?;
            // The preconditions make sure that what goes is the Secret just compared,
            // not one that changed or was replaced since.
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: existing.metadata.uid.clone(),
                    resource_version: existing.metadata.resource_version.clone(),
                }),
                ..DeleteParams::default()
            };
            match call(api.delete(name, &params)).await {
                Ok(_) => {}
                Err(error) if error.class() == Class::NotFound => {}
                Err(error) => return Err(error.into()),
            }
            create(&api, ctx, &desired).await?;
            tracing::info!(secret = %key, "replaced Secret (its type or immutability changed)");
            Ok(Some(Written::Recreated))
        }
    }
}

async fn create(api: &Api<Secret>, ctx: &Context, desired: &Secret) -> Result<(), Failure> {
    ctx.check_leader()?;
    call(api.create(&post_params(), desired)).await?;
    Ok(())
}

fn post_params() -> PostParams {
    PostParams {
        field_manager: Some(MANAGER.to_owned()),
        ..PostParams::default()
    }
}

/// The API server's refusal to change an immutable Secret (when our own comparison
/// did not see it coming, e.g. the Secret was made immutable since).
fn immutable_refusal(error: &CallError) -> bool {
    error.code() == Some(422)
        && error
            .to_string()
            .ends_with("field is immutable when `immutable` is set")
}
