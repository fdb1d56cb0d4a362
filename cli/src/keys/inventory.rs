//! The controller's keys (from `/v1/keys`, or read from the key Secrets when the
//! controller is upstream's), KEY arguments matched against them, and the SealedSecrets
//! of the cluster attributed to the key that opened them.

use super::api::{Cluster, LEGACY_KEY_SECRET, SealedItem};
use anyhow::{Result, anyhow, bail};
use k8s_openapi::api::core::v1::Secret;
use sealed_common::key_secret::{KEY_LABEL, KEY_LABEL_ACTIVE, StoredKey, key_from_secret};
use sealed_common::keys::fingerprint;
use sealed_common::sealed_secret::object_display_name;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// Shortest fingerprint prefix a KEY may be.
const MIN_PREFIX: usize = 8;
const SHA256: &str = "SHA256:";

/// One key of the controller.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Key {
    pub fingerprint: String,
    pub secret_name: String,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub expires: Option<String>,
    pub active: bool,
    #[serde(default)]
    pub held_back_until: Option<String>,
    /// The value of the Secret's key label, when the key was read from its Secret.
    #[serde(skip)]
    pub label: Option<String>,
}

impl Key {
    /// `yes`, `held back until T` or `no`.
    pub fn active_text(&self) -> String {
        match (&self.active, &self.held_back_until) {
            (true, _) => "yes".to_owned(),
            (false, Some(until)) => format!("held back until {until}"),
            (false, None) => "no".to_owned(),
        }
    }

    /// `SHA256:... (Secret NAME)`.
    pub fn describe(&self) -> String {
        format!("{} (Secret {})", self.fingerprint, self.secret_name)
    }
}

/// Where the key list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `/v1/keys` of this project's controller.
    Controller,
    /// The key Secrets, read because the controller does not serve `/v1/keys`.
    Secrets,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Controller => "controller",
            Source::Secrets => "secrets",
        }
    }
}

pub struct Inventory {
    pub keys: Vec<Key>,
    pub source: Source,
}

#[derive(Deserialize)]
struct ServedKeys {
    keys: Vec<Key>,
}

impl Inventory {
    /// Asks the controller; falls back to the key Secrets when it is upstream's.
    pub fn load(cluster: &Cluster) -> Result<Inventory> {
        match cluster.controller.keys()? {
            Some(body) => Ok(Inventory {
                keys: parse_served(&body, &cluster.controller.name())?,
                source: Source::Controller,
            }),
            None => {
                eprintln!(
                    "warning: the controller {} does not serve /v1/keys (an upstream controller?); reading the key Secrets in namespace {:?} instead, the newest active one (by certificate NotBefore) taken as the sealing key",
                    cluster.controller.name(),
                    cluster.namespace()
                );
                let secrets = cluster.key_secrets()?;
                let mut keys = Vec::new();
                let mut dated = Vec::new();
                for secret in &secrets {
                    match key_of_secret(secret) {
                        Ok((key, not_before)) => {
                            dated.push((not_before, created_at(secret), key.secret_name.clone()));
                            keys.push(key);
                        }
                        Err(e) => eprintln!("warning: skipped: {e}"),
                    }
                }
                mark_newest_active(&mut keys, &dated);
                Ok(Inventory {
                    keys,
                    source: Source::Secrets,
                })
            }
        }
    }

    /// The key that KEY names: a fingerprint (with or without `SHA256:`), a unique prefix
    /// of at least 8 characters of one, or a key Secret's name.
    pub fn find(&self, wanted: &str) -> Result<&Key> {
        let wanted = wanted.trim();
        let bare = wanted.strip_prefix(SHA256).unwrap_or(wanted);
        let body = |k: &Key| -> String {
            k.fingerprint
                .strip_prefix(SHA256)
                .unwrap_or(&k.fingerprint)
                .to_owned()
        };
        if let Some(key) = self
            .keys
            .iter()
            .find(|k| body(k) == bare || k.secret_name == wanted)
        {
            return Ok(key);
        }
        let candidates = || {
            let all: Vec<String> = self.keys.iter().map(Key::describe).collect();
            if all.is_empty() {
                "the controller has no keys".to_owned()
            } else {
                format!("the keys are: {}", all.join(", "))
            }
        };
        if bare.chars().count() < MIN_PREFIX {
            bail!(
                "no key matches KEY {wanted:?}: give a fingerprint, a prefix of at least {MIN_PREFIX} characters of one, or a key Secret's name; {}",
                candidates()
            );
        }
        let matching: Vec<&Key> = self
            .keys
            .iter()
            .filter(|k| body(k).starts_with(bare))
            .collect();
        match matching.as_slice() {
            [key] => Ok(key),
            [] => Err(anyhow!("no key matches KEY {wanted:?}; {}", candidates())),
            many => Err(anyhow!(
                "KEY {wanted:?} matches {} keys, give more of the fingerprint: {}",
                many.len(),
                many.iter()
                    .map(|k| k.describe())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

/// Reads `/v1/keys`.
fn parse_served(body: &[u8], controller: &str) -> Result<Vec<Key>> {
    let served: ServedKeys = serde_json::from_slice(body).map_err(|e| {
        anyhow!(
            "the answer of the controller {controller} to /v1/keys is not the expected JSON ({e})"
        )
    })?;
    Ok(served.keys)
}

/// The fingerprint of a parsed key Secret: of its certificate, else of its key.
pub fn stored_fingerprint(stored: &StoredKey) -> String {
    match &stored.certificate {
        Some(cert) => cert.fingerprint(),
        None => fingerprint(stored.private_key.public_key()),
    }
}

/// A key Secret, parsed, as a [`Key`]; with its certificate's NotBefore.
fn key_of_secret(secret: &Secret) -> Result<(Key, Option<SystemTime>)> {
    let stored = key_from_secret(secret)?;
    let name = secret.metadata.name.clone().unwrap_or_default();
    let label = secret
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(KEY_LABEL))
        .cloned();
    let time = |t: SystemTime| jiff::Timestamp::try_from(t).ok().map(|t| t.to_string());
    let not_before = stored.certificate.as_ref().map(|c| c.not_before());
    let created = not_before
        .and_then(time)
        .or_else(|| created_at(secret).map(|t| t.to_string()));
    let key = Key {
        fingerprint: stored_fingerprint(&stored),
        secret_name: name,
        created,
        expires: stored
            .certificate
            .as_ref()
            .and_then(|c| time(c.not_after())),
        active: false,
        held_back_until: None,
        label,
    };
    Ok((key, not_before))
}

fn created_at(secret: &Secret) -> Option<jiff::Timestamp> {
    secret.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// Upstream seals with the newest key it loaded: those labelled `active`, and the legacy
/// one. Newest by certificate NotBefore, then creation, then name. Sorted newest first.
fn mark_newest_active(
    keys: &mut [Key],
    dated: &[(Option<SystemTime>, Option<jiff::Timestamp>, String)],
) {
    let order = |k: &Key| {
        dated
            .iter()
            .find(|(_, _, name)| *name == k.secret_name)
            .map(|(nb, created, name)| (*nb, *created, name.clone()))
    };
    keys.sort_by_key(|k| std::cmp::Reverse(order(k)));
    let loaded = |k: &Key| {
        k.label.as_deref() == Some(KEY_LABEL_ACTIVE) || k.secret_name == LEGACY_KEY_SECRET
    };
    if let Some(newest) = keys.iter_mut().find(|k| loaded(k)) {
        newest.active = true;
    }
}

/// `namespace/name` of a SealedSecret.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SealedRef {
    pub namespace: String,
    pub name: String,
}

impl SealedRef {
    pub fn display(&self) -> String {
        object_display_name(&self.namespace, &self.name)
    }
}

/// Why a SealedSecret cannot be attributed to a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unattributed {
    /// No status, or no observedGeneration: the controller has not acted on it.
    NoStatus,
    /// The status is of an older generation.
    Stale {
        observed: i64,
        generation: Option<i64>,
    },
    /// `Synced` is not `True`.
    NotSynced(String),
    /// Current and synced, but no `status.keyFingerprint` (upstream's CRD prunes it).
    NoFingerprint,
}

impl Unattributed {
    pub fn reason(&self) -> String {
        match self {
            Unattributed::NoStatus => "no status yet (the controller has not acted on it)".into(),
            Unattributed::Stale {
                observed,
                generation,
            } => format!(
                "status not current (observedGeneration {observed}, generation {})",
                generation.map_or("unset".to_owned(), |g| g.to_string())
            ),
            Unattributed::NotSynced(why) => format!("not Synced ({why})"),
            Unattributed::NoFingerprint => {
                "no status.keyFingerprint (a CRD without the field, such as upstream's, drops it)"
                    .into()
            }
        }
    }

    pub fn lacks_fingerprint(&self) -> bool {
        matches!(self, Unattributed::NoFingerprint)
    }
}

/// The SealedSecrets of the cluster by the key whose fingerprint their current status
/// names, and those it names none for.
#[derive(Debug, Default)]
pub struct Census {
    pub by_key: BTreeMap<String, Vec<SealedRef>>,
    pub unattributed: Vec<(SealedRef, Unattributed)>,
}

impl Census {
    pub fn of(items: &[SealedItem]) -> Census {
        let mut census = Census::default();
        for item in items {
            let meta = &item.metadata;
            let at = SealedRef {
                namespace: meta.namespace.clone().unwrap_or_default(),
                name: meta.name.clone().unwrap_or_default(),
            };
            match attribute(item) {
                Ok(fp) => census.by_key.entry(fp).or_default().push(at),
                Err(why) => census.unattributed.push((at, why)),
            }
        }
        census.by_key.values_mut().for_each(|v| v.sort());
        census.unattributed.sort_by(|a, b| a.0.cmp(&b.0));
        census
    }

    /// The SealedSecrets whose current status says `key` opened them.
    pub fn dependents(&self, key: &Key) -> &[SealedRef] {
        self.by_key
            .get(&key.fingerprint)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// How many are attributed to a fingerprint that is not among `keys`.
    pub fn on_other_keys(&self, keys: &[Key]) -> usize {
        self.by_key
            .iter()
            .filter(|(fp, _)| !keys.iter().any(|k| k.fingerprint == **fp))
            .map(|(_, v)| v.len())
            .sum()
    }
}

/// The fingerprint a SealedSecret's status names, when that status is current (of this
/// generation) and `Synced` is `True`.
fn attribute(item: &SealedItem) -> Result<String, Unattributed> {
    let status = item.status.as_ref().ok_or(Unattributed::NoStatus)?;
    let observed = status.observed_generation.ok_or(Unattributed::NoStatus)?;
    let generation = item.metadata.generation;
    if generation != Some(observed) {
        return Err(Unattributed::Stale {
            observed,
            generation,
        });
    }
    let synced = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Synced");
    match synced {
        Some(c) if c.status == "True" => {}
        Some(c) => {
            let why = c
                .message
                .as_deref()
                .filter(|m| !m.is_empty())
                .map(sealed_common::codec::one_line)
                .unwrap_or_else(|| format!("Synced is {:?}", c.status));
            return Err(Unattributed::NotSynced(why));
        }
        None => return Err(Unattributed::NotSynced("no Synced condition".into())),
    }
    status
        .key_fingerprint
        .clone()
        .filter(|f| !f.is_empty())
        .ok_or(Unattributed::NoFingerprint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(fp: &str, name: &str) -> Key {
        Key {
            fingerprint: fp.into(),
            secret_name: name.into(),
            created: None,
            expires: None,
            active: false,
            held_back_until: None,
            label: None,
        }
    }

    fn inventory() -> Inventory {
        Inventory {
            keys: vec![
                key("SHA256:abcdefgh111", "sealed-secrets-key11111"),
                key("SHA256:abcdefgh222", "sealed-secrets-key22222"),
                key("SHA256:zzzzzzzz333", "sealed-secrets-key33333"),
            ],
            source: Source::Controller,
        }
    }

    #[test]
    fn keys_are_found_by_fingerprint_prefix_or_secret_name() {
        let inv = inventory();
        assert_eq!(
            inv.find("SHA256:abcdefgh111").unwrap().secret_name,
            "sealed-secrets-key11111"
        );
        assert_eq!(
            inv.find("abcdefgh222").unwrap().secret_name,
            "sealed-secrets-key22222"
        );
        assert_eq!(
            inv.find("zzzzzzzz").unwrap().secret_name,
            "sealed-secrets-key33333"
        );
        assert_eq!(
            inv.find("SHA256:zzzzzzzz3").unwrap().secret_name,
            "sealed-secrets-key33333"
        );
        assert_eq!(
            inv.find("sealed-secrets-key11111").unwrap().fingerprint,
            "SHA256:abcdefgh111"
        );
        let e = inv.find("abcdefgh").unwrap_err().to_string();
        assert!(
            e.contains("matches 2 keys") && e.contains("key11111") && e.contains("key22222"),
            "{e}"
        );
        assert!(!e.contains("key33333"), "{e}");
        let e = inv.find("abc").unwrap_err().to_string();
        assert!(e.contains("at least 8 characters"), "{e}");
        let e = inv.find("nothing-like-it").unwrap_err().to_string();
        assert!(e.starts_with("no key matches KEY \"nothing-like-it\"; the keys are: SHA256:abcdefgh111 (Secret sealed-secrets-key11111)"), "{e}");
    }

    #[test]
    fn only_current_synced_statuses_with_a_fingerprint_count() {
        let item = |generation: i64, status: serde_json::Value| -> SealedItem {
            serde_json::from_value(serde_json::json!({
                "metadata": {"namespace": "ns", "name": format!("g{generation}"), "generation": generation},
                "status": status,
            }))
            .unwrap()
        };
        let synced = |s: &str| serde_json::json!([{"type": "Synced", "status": s, "message": "no key could decrypt secret"}]);
        let items = vec![
            item(
                1,
                serde_json::json!({"observedGeneration": 1, "conditions": synced("True"), "keyFingerprint": "SHA256:a"}),
            ),
            item(
                2,
                serde_json::json!({"observedGeneration": 1, "conditions": synced("True"), "keyFingerprint": "SHA256:a"}),
            ),
            item(
                3,
                serde_json::json!({"observedGeneration": 3, "conditions": synced("False"), "keyFingerprint": "SHA256:a"}),
            ),
            item(
                4,
                serde_json::json!({"observedGeneration": 4, "conditions": synced("True")}),
            ),
            item(5, serde_json::Value::Null),
        ];
        let census = Census::of(&items);
        assert_eq!(census.by_key["SHA256:a"].len(), 1);
        let reasons: Vec<_> = census.unattributed.iter().map(|(_, r)| r.clone()).collect();
        assert_eq!(
            reasons,
            [
                Unattributed::Stale {
                    observed: 1,
                    generation: Some(2)
                },
                Unattributed::NotSynced("no key could decrypt secret".into()),
                Unattributed::NoFingerprint,
                Unattributed::NoStatus,
            ]
        );
    }
}
