//! Waits and assertions on SealedSecrets, their Secrets, events and key Secrets.
//! Every wait is bounded and its timeout message shows the object's current state and
//! the controllers' log tails.

use crate::harness::Ctx;
use crate::objects::{
    self, describe_events, describe_sealed, describe_secret, expected_owner_reference, get_opt,
    key_fingerprint, observed_generation, secret_data, show_bytes_map, synced, synced_conditions,
};
use crate::sealing::certificate_from_pem;
use crate::wait::{Poll, wait_for};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{DynamicObject, ListParams, Patch, PatchParams};
use sealed_common::key_secret::{KEY_LABEL, KEY_LABEL_ACTIVE};
use sealed_common::keys::Certificate;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Secrets of this type are made by Kubernetes itself in old clusters; never ours.
const SERVICE_ACCOUNT_TOKEN: &str = "kubernetes.io/service-account-token";

/// `Ok` if `sealed` has exactly one `Synced` condition, `True`, without a message,
/// with both timestamps, and `status.observedGeneration == metadata.generation`.
pub fn assert_synced_true(sealed: &DynamicObject) -> Result<()> {
    let conditions = synced_conditions(sealed);
    ensure!(
        conditions.len() == 1,
        "expected exactly one Synced condition, found {}: {}",
        conditions.len(),
        describe_sealed(sealed)
    );
    let c = &conditions[0];
    ensure!(
        c.status == "True",
        "Synced is {:?}, expected \"True\": {}",
        c.status,
        describe_sealed(sealed)
    );
    ensure!(
        c.message.as_deref().unwrap_or("").is_empty(),
        "Synced=True must carry no message, found {:?}: {}",
        c.message,
        describe_sealed(sealed)
    );
    ensure!(
        c.last_update_time.is_some() && c.last_transition_time.is_some(),
        "Synced condition lacks lastUpdateTime/lastTransitionTime: {}",
        describe_sealed(sealed)
    );
    ensure!(
        observed_generation(sealed).is_some()
            && observed_generation(sealed) == sealed.metadata.generation,
        "status.observedGeneration {:?} != metadata.generation {:?}: {}",
        observed_generation(sealed),
        sealed.metadata.generation,
        describe_sealed(sealed)
    );
    Ok(())
}

/// `Ok` if the Secret has exactly one ownerReference, the controller one to `sealed`.
pub fn assert_owned_by(secret: &Secret, sealed: &DynamicObject) -> Result<()> {
    let want = vec![expected_owner_reference(sealed)];
    let got = secret.metadata.owner_references.clone().unwrap_or_default();
    ensure!(
        got == want,
        "ownerReferences of the Secret:\n  got  {}\n  want {}",
        serde_json::to_string(&got)?,
        serde_json::to_string(&want)?
    );
    Ok(())
}

/// `Ok` if the Secret's `data` is exactly `expected`.
pub fn assert_data(secret: &Secret, expected: &BTreeMap<String, Vec<u8>>) -> Result<()> {
    let got = secret_data(secret);
    ensure!(
        &got == expected,
        "data of {}:\n  got  {}\n  want {}",
        describe_secret(secret),
        show_bytes_map(&got),
        show_bytes_map(expected)
    );
    Ok(())
}

fn none_if_empty(map: BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    Some(map).filter(|m| !m.is_empty())
}

impl Ctx {
    /// Waits until SealedSecret `ns/name` is `Synced=True` for its current generation,
    /// then checks the condition in full ([`assert_synced_true`]).
    pub async fn wait_synced(&self, ns: &str, name: &str) -> Result<DynamicObject> {
        self.wait_synced_where(ns, name, "", |_| true).await
    }

    /// [`Ctx::wait_synced`], also waiting for `status.keyFingerprint` to be `fingerprint`.
    pub async fn wait_synced_with_key(
        &self,
        ns: &str,
        name: &str,
        fingerprint: &str,
    ) -> Result<DynamicObject> {
        self.wait_synced_where(
            ns,
            name,
            &format!(" with status.keyFingerprint {fingerprint}"),
            |obj| key_fingerprint(obj).as_deref() == Some(fingerprint),
        )
        .await
    }

    /// Waits until SealedSecret `ns/name` is Synced on the key `fingerprint` and its
    /// Secret holds exactly `expected`; returns the Secret.
    pub async fn wait_opened_with(
        &self,
        ns: &str,
        name: &str,
        fingerprint: &str,
        expected: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Secret> {
        self.wait_synced_with_key(ns, name, fingerprint).await?;
        self.wait_secret_data(ns, name, expected).await
    }

    /// Applies the SealedSecret `object`, waits until it is Synced on the key
    /// `fingerprint` and its Secret holds exactly `expected`; returns both.
    pub async fn apply_and_wait_unsealed(
        &self,
        object: &serde_json::Value,
        fingerprint: &str,
        expected: &BTreeMap<String, Vec<u8>>,
    ) -> Result<(DynamicObject, Secret)> {
        let applied = objects::apply_sealed_secret(self.client(), object).await?;
        let ns = applied.metadata.namespace.clone().unwrap_or_default();
        let name = applied.metadata.name.clone().unwrap_or_default();
        let sealed = self.wait_synced(&ns, &name).await?;
        ensure!(
            key_fingerprint(&sealed).as_deref() == Some(fingerprint),
            "{ns}/{name}: status.keyFingerprint is {:?}, expected {fingerprint}",
            key_fingerprint(&sealed)
        );
        let secret = self.wait_secret_data(&ns, &name, expected).await?;
        Ok((sealed, secret))
    }

    /// Waits until SealedSecret `ns/name` is `Synced=True` for its current generation
    /// and `more` holds (`also` says what it asks for), then checks the condition in full.
    async fn wait_synced_where<P>(
        &self,
        ns: &str,
        name: &str,
        also: &str,
        more: P,
    ) -> Result<DynamicObject>
    where
        P: Fn(&DynamicObject) -> bool,
    {
        let api = objects::sealed_secrets(self.client(), ns);
        let sealed = self
            .wait_for(
                self.timeout(),
                &format!(
                    "SealedSecret {ns}/{name} to be Synced=True for its current generation{also}"
                ),
                || async {
                    let Some(obj) = get_opt(&api, name).await? else {
                        return Ok(Poll::Pending(format!(
                            "SealedSecret {ns}/{name} does not exist"
                        )));
                    };
                    let done = synced(&obj).is_some_and(|c| c.status == "True")
                        && observed_generation(&obj) == obj.metadata.generation
                        && more(&obj);
                    Ok(if done {
                        Poll::Ready(obj)
                    } else {
                        Poll::Pending(self.describe_with_events(&obj).await)
                    })
                },
            )
            .await?;
        assert_synced_true(&sealed)?;
        Ok(sealed)
    }

    /// Waits until SealedSecret `ns/name` is `Synced=False` for its current generation
    /// with a message containing `needle`.
    pub async fn wait_not_synced(
        &self,
        ns: &str,
        name: &str,
        needle: &str,
    ) -> Result<DynamicObject> {
        let api = objects::sealed_secrets(self.client(), ns);
        let sealed = self
            .wait_for(
                self.timeout(),
                &format!(
                    "SealedSecret {ns}/{name} to be Synced=False with a message containing {needle:?}"
                ),
                || async {
                    let Some(obj) = get_opt(&api, name).await? else {
                        return Ok(Poll::Pending(format!("SealedSecret {ns}/{name} does not exist")));
                    };
                    let done = synced(&obj).is_some_and(|c| {
                        c.status == "False" && c.message.as_deref().unwrap_or("").contains(needle)
                    }) && observed_generation(&obj) == obj.metadata.generation;
                    Ok(if done {
                        Poll::Ready(obj)
                    } else {
                        Poll::Pending(self.describe_with_events(&obj).await)
                    })
                },
            )
            .await?;
        let conditions = synced_conditions(&sealed);
        ensure!(
            conditions.len() == 1,
            "expected exactly one Synced condition: {}",
            describe_sealed(&sealed)
        );
        Ok(sealed)
    }

    async fn describe_with_events(&self, obj: &DynamicObject) -> String {
        let ns = obj.metadata.namespace.clone().unwrap_or_default();
        let name = obj.metadata.name.clone().unwrap_or_default();
        let events = objects::events_about(self.client(), &ns, &name, obj.metadata.uid.as_deref())
            .await
            .map(|e| describe_events(&e))
            .unwrap_or_else(|e| format!("(cannot list events: {e:#})"));
        format!("{}; events: {events}", describe_sealed(obj))
    }

    /// Waits until Secret `ns/name` exists and satisfies `pred` (described by `what`).
    pub async fn wait_secret<P>(&self, ns: &str, name: &str, what: &str, pred: P) -> Result<Secret>
    where
        P: Fn(&Secret) -> bool,
    {
        let api = objects::secrets(self.client(), ns);
        self.wait_for(
            self.timeout(),
            &format!("Secret {ns}/{name} to {what}"),
            || async {
                Ok(match get_opt(&api, name).await? {
                    None => Poll::Pending(format!("Secret {ns}/{name} does not exist")),
                    Some(s) if pred(&s) => Poll::Ready(s),
                    Some(s) => Poll::Pending(format!(
                        "{}; data {}",
                        describe_secret(&s),
                        show_bytes_map(&secret_data(&s))
                    )),
                })
            },
        )
        .await
    }

    /// Waits until Secret `ns/name` has exactly `expected` as data.
    pub async fn wait_secret_data(
        &self,
        ns: &str,
        name: &str,
        expected: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Secret> {
        self.wait_secret(
            ns,
            name,
            &format!("hold exactly {}", show_bytes_map(expected)),
            |s| &secret_data(s) == expected,
        )
        .await
    }

    /// Waits until Secret `ns/name` does not exist.
    pub async fn wait_secret_gone(&self, ns: &str, name: &str, timeout: Duration) -> Result<()> {
        let api = objects::secrets(self.client(), ns);
        let what = format!("Secret {ns}/{name} to be gone");
        self.wait_absent(&api, name, timeout, &what, describe_secret)
            .await
    }

    /// Waits up to `timeout` until `name` of `api` does not exist (`what` says so);
    /// `describe` shows it meanwhile.
    async fn wait_absent<K>(
        &self,
        api: &kube::Api<K>,
        name: &str,
        timeout: Duration,
        what: &str,
        describe: fn(&K) -> String,
    ) -> Result<()>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        self.wait_for(timeout, what, || async {
            Ok(match get_opt(api, name).await? {
                None => Poll::Ready(()),
                Some(o) => Poll::Pending(describe(&o)),
            })
        })
        .await
    }

    /// Checks that Secret `ns/name` does not exist now nor at any time over `period`.
    pub async fn assert_secret_stays_absent(
        &self,
        ns: &str,
        name: &str,
        period: Duration,
    ) -> Result<()> {
        let api = objects::secrets(self.client(), ns);
        let deadline = tokio::time::Instant::now() + period;
        loop {
            self.check_controllers()?;
            if let Some(s) = get_opt(&api, name).await? {
                bail!(
                    "Secret {ns}/{name} must not exist, but it does: {}\n{}",
                    describe_secret(&s),
                    self.controller_logs(40)
                );
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Checks that neither SealedSecret `ns/name` nor its Secret (if `with_secret`)
    /// changes (same resourceVersion) over `period`: no write loop.
    pub async fn assert_stable(
        &self,
        ns: &str,
        name: &str,
        with_secret: bool,
        period: Duration,
    ) -> Result<()> {
        let ss_api = objects::sealed_secrets(self.client(), ns);
        let secret_api = objects::secrets(self.client(), ns);
        let sealed_before = ss_api.get(name).await?;
        let secret_before = if with_secret {
            Some(secret_api.get(name).await?)
        } else {
            None
        };
        tokio::time::sleep(period).await;
        self.check_controllers()?;
        let sealed_after = ss_api.get(name).await?;
        ensure!(
            sealed_after.metadata.resource_version == sealed_before.metadata.resource_version,
            "SealedSecret {ns}/{name} was rewritten within {}s although nothing changed (write loop?)\n  before: {}\n  after:  {}\n{}",
            period.as_secs(),
            describe_sealed(&sealed_before),
            describe_sealed(&sealed_after),
            self.controller_logs(40)
        );
        if let Some(before) = secret_before {
            let after = secret_api.get(name).await?;
            ensure!(
                after.metadata.resource_version == before.metadata.resource_version,
                "Secret {ns}/{name} was rewritten within {}s although nothing changed (write loop?)\n  before: {}\n  after:  {}\n{}",
                period.as_secs(),
                describe_secret(&before),
                describe_secret(&after),
                self.controller_logs(40)
            );
        }
        Ok(())
    }

    /// Waits for an event with `reason` and `type_` about `sealed`.
    pub async fn wait_event(
        &self,
        sealed: &DynamicObject,
        reason: &str,
        type_: &str,
    ) -> Result<Event> {
        let ns = sealed.metadata.namespace.clone().unwrap_or_default();
        let name = sealed.metadata.name.clone().unwrap_or_default();
        let uid = sealed.metadata.uid.clone();
        self.wait_for(
            self.timeout(),
            &format!("a {type_} event {reason} about SealedSecret {ns}/{name}"),
            || async {
                let events =
                    objects::events_about(self.client(), &ns, &name, uid.as_deref()).await?;
                Ok(
                    match events.iter().find(|e| {
                        e.reason.as_deref() == Some(reason) && e.type_.as_deref() == Some(type_)
                    }) {
                        Some(e) => Poll::Ready(e.clone()),
                        None => Poll::Pending(format!("events: {}", describe_events(&events))),
                    },
                )
            },
        )
        .await
    }

    /// Every Secret of `home` except service-account tokens.
    pub async fn secrets_in(&self, home: &str) -> Result<Vec<Secret>> {
        Ok(objects::secrets(self.client(), home)
            .list(&ListParams::default())
            .await
            .with_context(|| format!("listing Secrets in {home}"))?
            .items
            .into_iter()
            .filter(|s| s.type_.as_deref() != Some(SERVICE_ACCOUNT_TOKEN))
            .collect())
    }

    /// Secrets of `home` labelled `sealedsecrets.bitnami.com/sealed-secrets-key=active`.
    pub async fn active_keys(&self, home: &str) -> Result<Vec<Secret>> {
        Ok(objects::secrets(self.client(), home)
            .list(&ListParams::default().labels(&format!("{KEY_LABEL}={KEY_LABEL_ACTIVE}")))
            .await
            .with_context(|| format!("listing key Secrets in {home}"))?
            .items)
    }

    /// Waits until `home` holds at least one active key Secret; returns them all.
    pub async fn wait_for_keys(&self, home: &str) -> Result<Vec<Secret>> {
        self.wait_for(
            self.timeout(),
            &format!("an active key Secret in {home} ({KEY_LABEL}={KEY_LABEL_ACTIVE})"),
            || async {
                let keys = self.active_keys(home).await?;
                Ok(if keys.is_empty() {
                    let all: Vec<String> = self
                        .secrets_in(home)
                        .await?
                        .iter()
                        .map(describe_secret)
                        .collect();
                    Poll::Pending(format!("no key Secret yet; Secrets in {home}: {all:?}"))
                } else {
                    Poll::Ready(keys)
                })
            },
        )
        .await
    }

    /// The controller's certificate: waits for its (single) key Secret in `home` and
    /// writes `tls.crt` to a file in the test's temporary directory.
    pub async fn controller_cert(&self, home: &str) -> Result<(Certificate, PathBuf)> {
        let keys = self.wait_for_keys(home).await?;
        ensure!(
            keys.len() == 1,
            "expected one active key Secret in {home}, found {}: {:?}",
            keys.len(),
            keys.iter().map(describe_secret).collect::<Vec<_>>()
        );
        let pem = crate::key_secrets::tls_crt(&keys[0])?;
        let cert = certificate_from_pem(&pem)?;
        let path = self.tmp_dir().join(format!("{home}.crt"));
        std::fs::write(&path, &pem).with_context(|| format!("writing {}", path.display()))?;
        Ok((cert, path))
    }

    /// Deletes SealedSecret `ns/name` and its Secret and makes sure both stay gone (a
    /// controller may recreate the Secret while it still sees the SealedSecret).
    pub async fn remove_sealed_and_secret(&self, ns: &str, name: &str) -> Result<()> {
        let ss_api = objects::sealed_secrets(self.client(), ns);
        let secret_api = objects::secrets(self.client(), ns);
        objects::delete_if_present(&ss_api, name).await?;
        wait_for(
            Duration::from_secs(30),
            &format!("SealedSecret {ns}/{name} to be deleted"),
            || async {
                Ok(match get_opt(&ss_api, name).await? {
                    None => Poll::Ready(()),
                    Some(o) => Poll::Pending(describe_sealed(&o)),
                })
            },
        )
        .await?;
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            objects::delete_if_present(&secret_api, name).await?;
            tokio::time::sleep(Duration::from_millis(1500)).await;
            if get_opt(&secret_api, name).await?.is_none() {
                return Ok(());
            }
        }
        bail!("Secret {ns}/{name} keeps coming back after its SealedSecret was deleted")
    }

    /// Removes the finalizers of SealedSecret `ns/name` (if it is still there) and waits
    /// until it is gone.
    pub async fn remove_finalizers_and_wait_gone(&self, ns: &str, name: &str) -> Result<()> {
        let api = objects::sealed_secrets(self.client(), ns);
        if get_opt(&api, name).await?.is_none() {
            return Ok(());
        }
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "metadata": { "finalizers": null } })),
        )
        .await
        .with_context(|| format!("removing the finalizer of SealedSecret {ns}/{name}"))?;
        let what = format!("SealedSecret {ns}/{name} to be gone once its finalizer is removed");
        self.wait_absent(&api, name, Duration::from_secs(30), &what, describe_sealed)
            .await
    }

    /// Creates a Secret `ns/name` that no SealedSecret owns.
    pub async fn create_plain_secret(
        &self,
        ns: &str,
        name: &str,
        data: &BTreeMap<String, Vec<u8>>,
        labels: BTreeMap<String, String>,
        annotations: BTreeMap<String, String>,
    ) -> Result<Secret> {
        let secret = Secret {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(ns.to_owned()),
                labels: none_if_empty(labels),
                annotations: none_if_empty(annotations),
                ..Default::default()
            },
            type_: Some("Opaque".to_owned()),
            data: Some(objects::byte_strings(data)),
            ..Secret::default()
        };
        objects::create_secret(self.client(), &secret).await
    }
}
