//! The Kubernetes API calls of `kubeseal keys`: key Secrets in the controller namespace,
//! SealedSecrets in all namespaces, and `/v1/keys` through the service proxy. Every
//! refusal is worded as one line that names the object and the permission it needs.

use crate::online::{Answer, Controller};
use anyhow::{Context, Result, anyhow};
use http::{Method, StatusCode};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sealed_common::SealedSecretStatus;
use sealed_common::key_secret::KEY_LABEL;
use serde::Deserialize;

/// The name of the key Secret upstream used before v0.9, loaded by name whatever its
/// labels (`--key-prefix`).
pub const LEGACY_KEY_SECRET: &str = "sealed-secrets-key";

/// How many SealedSecrets one list request asks for.
const PAGE: usize = 500;

/// A SealedSecret as far as attribution needs it.
#[derive(Deserialize, Debug, Default)]
pub struct SealedItem {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub status: Option<SealedSecretStatus>,
}

#[derive(Deserialize)]
struct ItemList<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
    #[serde(default)]
    metadata: ListMeta,
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(default, rename = "continue")]
    next: Option<String>,
}

/// The SealedSecrets of the cluster, or why they could not be listed.
pub enum SealedSecrets {
    Listed(Vec<SealedItem>),
    /// Not allowed (403) or no such resource (404): the one-line reason.
    Unavailable(String),
}

/// What creating a Secret gave.
pub enum Created {
    Created,
    /// A Secret of that name exists; here it is.
    Exists(Box<Secret>),
}

/// The API server, with the controller's namespace.
pub struct Cluster {
    pub controller: Controller,
}

impl Cluster {
    pub fn namespace(&self) -> &str {
        self.controller.namespace()
    }

    fn secrets_path(&self) -> String {
        format!("/api/v1/namespaces/{}/secrets", escape(self.namespace()))
    }

    fn secret_path(&self, name: &str) -> String {
        format!("{}/{}", self.secrets_path(), escape(name))
    }

    /// Every key Secret of the controller namespace: those with the key label (any
    /// value), then the legacy `sealed-secrets-key` when it exists without the label.
    pub fn key_secrets(&self) -> Result<Vec<Secret>> {
        let ns = self.namespace().to_owned();
        let path = format!(
            "{}?labelSelector={}",
            self.secrets_path(),
            escape(KEY_LABEL)
        );
        let action = format!("list the key Secrets in namespace {ns:?}");
        let answer = self.controller.api(Method::GET, &path, None)?;
        if answer.status != StatusCode::OK {
            return Err(refused(
                &answer,
                &action,
                &format!("\"list\" secrets in namespace {ns:?}"),
            ));
        }
        let list: ItemList<Secret> = serde_json::from_slice(&answer.body).map_err(|e| {
            anyhow!("cannot {action}: the API server's answer is not a SecretList ({e})")
        })?;
        let mut secrets = list.items;
        if !secrets
            .iter()
            .any(|s| s.metadata.name.as_deref() == Some(LEGACY_KEY_SECRET))
            && let Some(legacy) = self.secret(LEGACY_KEY_SECRET)?
        {
            secrets.push(legacy);
        }
        for secret in &mut secrets {
            // Items of a list come without them; a backup needs them.
            secret.metadata.namespace.get_or_insert_with(|| ns.clone());
        }
        Ok(secrets)
    }

    /// One Secret of the controller namespace; `None` when there is none of that name.
    pub fn secret(&self, name: &str) -> Result<Option<Secret>> {
        let ns = self.namespace();
        let answer = self
            .controller
            .api(Method::GET, &self.secret_path(name), None)?;
        let action = format!("read Secret {ns}/{name}");
        match answer.status {
            StatusCode::OK => serde_json::from_slice(&answer.body).map(Some).map_err(|e| {
                anyhow!("cannot {action}: the API server's answer is not a Secret ({e})")
            }),
            StatusCode::NOT_FOUND if answer.status_message().is_some() => Ok(None),
            _ => Err(refused(
                &answer,
                &action,
                &format!("\"get\" secrets in namespace {ns:?}"),
            )),
        }
    }

    /// Creates `secret` in the controller namespace; an existing one of the same name is
    /// returned, never replaced.
    pub fn create_secret(&self, secret: &Secret) -> Result<Created> {
        let ns = self.namespace();
        let name = secret.metadata.name.as_deref().unwrap_or_default();
        let body = serde_json::to_vec(secret).context("cannot encode the Secret")?;
        let answer = self.controller.api(
            Method::POST,
            &self.secrets_path(),
            Some(("application/json", body)),
        )?;
        match answer.status {
            StatusCode::OK | StatusCode::CREATED => Ok(Created::Created),
            StatusCode::CONFLICT => match self.secret(name)? {
                Some(existing) => Ok(Created::Exists(Box::new(existing))),
                None => Err(anyhow!(
                    "cannot create Secret {ns}/{name}: the API server says it exists, yet it cannot be read; try again"
                )),
            },
            _ => Err(refused(
                &answer,
                &format!("create Secret {ns}/{name}"),
                &format!("\"create\" secrets in namespace {ns:?}"),
            )),
        }
    }

    /// Sets the key label of Secret `name` to `value` with a JSON merge patch.
    pub fn relabel(&self, name: &str, value: &str) -> Result<()> {
        let ns = self.namespace();
        let body = serde_json::json!({"metadata": {"labels": {KEY_LABEL: value}}});
        let answer = self.controller.api(
            Method::PATCH,
            &self.secret_path(name),
            Some((
                "application/merge-patch+json",
                body.to_string().into_bytes(),
            )),
        )?;
        match answer.status {
            StatusCode::OK => Ok(()),
            _ => Err(refused(
                &answer,
                &format!("relabel Secret {ns}/{name}"),
                &format!("\"patch\" secrets in namespace {ns:?}"),
            )),
        }
    }

    /// The SealedSecrets of all namespaces, page by page.
    pub fn sealed_secrets(&self) -> Result<SealedSecrets> {
        let action = "list SealedSecrets in all namespaces";
        let mut items = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let mut path = format!("/apis/bitnami.com/v1alpha1/sealedsecrets?limit={PAGE}");
            if let Some(token) = &next {
                path.push_str("&continue=");
                path.push_str(&escape(token));
            }
            let answer = self.controller.api(Method::GET, &path, None)?;
            match answer.status {
                StatusCode::OK => {}
                StatusCode::FORBIDDEN => {
                    return Ok(SealedSecrets::Unavailable(format!(
                        "not allowed to {action}{}; this needs \"list\" on sealedsecrets.bitnami.com in all namespaces (a ClusterRole)",
                        detail(&answer)
                    )));
                }
                StatusCode::NOT_FOUND => {
                    return Ok(SealedSecrets::Unavailable(format!(
                        "cannot {action}{}: is the SealedSecret CRD installed? (kubectl get crd sealedsecrets.bitnami.com)",
                        detail(&answer)
                    )));
                }
                _ => {
                    return Err(refused(
                        &answer,
                        action,
                        "\"list\" sealedsecrets.bitnami.com in all namespaces",
                    ));
                }
            }
            let page: ItemList<SealedItem> = serde_json::from_slice(&answer.body).map_err(|e| {
                anyhow!("cannot {action}: the API server's answer is not a SealedSecret list ({e})")
            })?;
            items.extend(page.items);
            match page.metadata.next.filter(|t| !t.is_empty()) {
                Some(token) => next = Some(token),
                None => return Ok(SealedSecrets::Listed(items)),
            }
        }
    }
}

/// ` (403 Forbidden: message)`.
fn detail(answer: &Answer) -> String {
    let code = format!(
        "{} {}",
        answer.status.as_u16(),
        answer.status.canonical_reason().unwrap_or_default()
    );
    match answer.detail() {
        Some(d) => format!(" ({}: {d})", code.trim_end()),
        None => format!(" ({})", code.trim_end()),
    }
}

/// The error for an answer other than the expected one: what failed, the API server's
/// words, and for 401/403 what to do.
pub fn refused(answer: &Answer, action: &str, permission: &str) -> anyhow::Error {
    match answer.status {
        StatusCode::UNAUTHORIZED => anyhow!(
            "cannot {action}: the API server did not accept the credentials{}; log in again or check the user of the kubeconfig context (--user, --token)",
            detail(answer)
        ),
        StatusCode::FORBIDDEN => anyhow!(
            "cannot {action}{}; you need permission to {permission} (ask a cluster admin)",
            detail(answer)
        ),
        _ => anyhow!("cannot {action}: the API server answered{}", detail(answer)),
    }
}

/// Percent-encodes one path segment or query value.
pub fn escape(text: &str) -> String {
    crate::online::percent_encode(text, b"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_and_names_are_escaped() {
        assert_eq!(
            escape(KEY_LABEL),
            "sealedsecrets.bitnami.com%2Fsealed-secrets-key"
        );
        assert_eq!(escape("a=b c"), "a%3Db%20c");
    }
}
