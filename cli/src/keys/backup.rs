//! `keys backup`: the key Secrets of the controller namespace as one `v1` `List`, each
//! key parsed first, written with mode 0600. `keys restore`: the key Secrets of a
//! backup created in the controller namespace, never overwriting one.

use super::api::{Cluster, Created, LEGACY_KEY_SECRET};
use super::inventory::stored_fingerprint;
use crate::io::{Access, write_atomically};
use crate::online::{Connection, Controller};
use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sealed_common::codec::{decode_stream, read_limited};
use sealed_common::key_secret::{KEY_LABEL, key_from_secret};
use sealed_common::secret::{wipe_json, wipe_secret};
use serde::Deserialize;
use std::io::{IsTerminal, Write};
use std::path::Path;
use zeroize::Zeroizing;

fn connect(connection: &Connection) -> Result<Cluster> {
    Ok(Cluster {
        controller: Controller::connect_api(connection, "")?,
    })
}

/// Drops what the API server sets, so the Secret can be created anew elsewhere.
fn strip_server_fields(meta: &mut ObjectMeta) {
    meta.uid = None;
    meta.resource_version = None;
    meta.creation_timestamp = None;
    meta.managed_fields = None;
    meta.self_link = None;
    meta.generation = None;
    meta.owner_references = None;
    meta.deletion_timestamp = None;
    meta.deletion_grace_period_seconds = None;
}

fn display(secret: &Secret) -> String {
    sealed_common::sealed_secret::object_display_name(
        secret.metadata.namespace.as_deref().unwrap_or_default(),
        secret.metadata.name.as_deref().unwrap_or_default(),
    )
}

pub fn backup(connection: &Connection, file: Option<&str>) -> Result<()> {
    if file.is_none() && std::io::stdout().is_terminal() {
        bail!(
            "refusing to print private keys to a terminal: write them to a file with -w FILE (mode 0600), or redirect standard output"
        );
    }
    let cluster = connect(connection)?;
    let ns = cluster.namespace().to_owned();
    let mut secrets = cluster.key_secrets()?;
    if secrets.is_empty() {
        bail!(
            "no key Secrets in namespace {ns:?} (label {KEY_LABEL}, or the legacy Secret {LEGACY_KEY_SECRET}): nothing to back up; is --controller-namespace right?"
        );
    }
    let mut fingerprints = Vec::new();
    for secret in &mut secrets {
        let stored = key_from_secret(secret).map_err(|e| anyhow!("{e}; nothing written"))?;
        fingerprints.push((display(secret), stored_fingerprint(&stored)));
        strip_server_fields(&mut secret.metadata);
    }
    let mut list = serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": secrets,
    });
    secrets.iter_mut().for_each(wipe_secret);
    let text = sealed_common::codec::to_go_yaml(&list).map(Zeroizing::new);
    wipe_json(&mut list);
    let text = text.context("cannot encode the backup")?;
    match file {
        Some(path) => write_atomically(Path::new(path), text.as_bytes(), Access::Private)
            .with_context(|| format!("cannot write {path:?}"))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|_| out.flush())
                .context("cannot write standard output")?;
        }
    }
    let target = file.map_or("standard output".to_owned(), |f| format!("{f:?}"));
    eprintln!(
        "Backed up {} key{} from namespace {ns} to {target}; it opens every SealedSecret sealed with them: keep it encrypted and offline",
        fingerprints.len(),
        if fingerprints.len() == 1 { "" } else { "s" }
    );
    for (name, fp) in &fingerprints {
        eprintln!("  {fp}  {name}");
    }
    Ok(())
}

#[derive(Deserialize)]
struct KindProbe {
    #[serde(default)]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct SecretList {
    #[serde(default)]
    items: Vec<Secret>,
}

/// The Secrets of a backup: a `v1` `List`, or Secrets (YAML or JSON, several documents).
fn read_backup(file: &str, bytes: &[u8]) -> Result<Vec<Secret>> {
    if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        bail!(
            "{file:?} holds a PEM key, not key Secrets: restore needs the Secrets, as `kubeseal keys backup` or `kubectl get secret -o yaml` write them"
        );
    }
    let probes: Vec<KindProbe> =
        decode_stream(bytes).map_err(|e| anyhow!("cannot read {file:?}: {e}"))?;
    for (i, probe) in probes.iter().enumerate() {
        match probe.kind.as_deref() {
            Some("Secret") | Some("List") | None => {}
            Some(other) => bail!(
                "{file:?}, document {}: kind is {other:?}; expected key Secrets or a v1 List of them",
                i + 1
            ),
        }
    }
    let mut secrets = Vec::new();
    if probes.iter().any(|p| p.kind.as_deref() == Some("List")) {
        let lists: Vec<SecretList> = decode_stream(bytes)
            .map_err(|e| anyhow!("cannot read {file:?} as a List of Secrets: {e}"))?;
        secrets.extend(lists.into_iter().flat_map(|l| l.items));
    } else {
        secrets =
            decode_stream(bytes).map_err(|e| anyhow!("cannot read {file:?} as Secrets: {e}"))?;
    }
    if secrets.is_empty() {
        bail!("{file:?} holds no Secret");
    }
    Ok(secrets)
}

/// The item names a key Secret's sameness is judged on.
fn same_key(a: &Secret, b: &Secret) -> bool {
    let item = |s: &Secret, name: &str| s.data.as_ref().and_then(|d| d.get(name)).cloned();
    ["tls.key", "tls.crt"]
        .iter()
        .all(|name| item(a, name) == item(b, name))
}

pub fn restore(connection: &Connection, file: &str, dry_run: bool) -> Result<()> {
    let bytes = Zeroizing::new(if file == "-" {
        read_limited(std::io::stdin().lock()).context("cannot read standard input")?
    } else {
        let f = std::fs::File::open(file).with_context(|| format!("cannot read {file:?}"))?;
        read_limited(f).with_context(|| format!("cannot read {file:?}"))?
    });
    let mut secrets = read_backup(file, &bytes)?;
    // Every Secret is checked before anything is created.
    let mut problems = Vec::new();
    let mut fingerprints = Vec::new();
    for secret in &secrets {
        let name = display(secret);
        let labelled = secret
            .metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(KEY_LABEL));
        let check = if secret
            .metadata
            .name
            .as_deref()
            .unwrap_or_default()
            .is_empty()
        {
            Err(anyhow!("a Secret in {file:?} has no metadata.name"))
        } else if !labelled && secret.metadata.name.as_deref() != Some(LEGACY_KEY_SECRET) {
            Err(anyhow!(
                "{name} is not a key Secret: it has no label {KEY_LABEL} (the controller would not load it; add the label with the value active)"
            ))
        } else {
            key_from_secret(secret)
                .map(|stored| stored_fingerprint(&stored))
                .map_err(anyhow::Error::from)
        };
        match check {
            Ok(fp) => fingerprints.push(fp),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if !problems.is_empty() {
        let count = problems.len();
        for p in &problems {
            eprintln!("error: {p}");
        }
        bail!(
            "{count} Secret{} of {file:?} cannot be restored; nothing created",
            if count == 1 { "" } else { "s" }
        );
    }

    let cluster = connect(connection)?;
    let ns = cluster.namespace().to_owned();
    let (mut created, mut present, mut failed) = (0, 0, 0);
    for (secret, fp) in secrets.iter_mut().zip(&fingerprints) {
        strip_server_fields(&mut secret.metadata);
        secret.metadata.namespace = Some(ns.clone());
        let name = secret.metadata.name.clone().unwrap_or_default();
        let label = format!("{ns}/{name} ({fp})");
        let conflict = || {
            format!(
                "{label}: a different Secret of this name exists in the cluster; not overwritten (compare: kubectl -n {ns} get secret {name} -o yaml)"
            )
        };
        let outcome = if dry_run {
            cluster.secret(&name).map(|existing| match existing {
                None => Ok("would be created"),
                Some(existing) if same_key(&existing, secret) => Ok("already present"),
                Some(_) => Err(conflict()),
            })
        } else {
            cluster.create_secret(secret).map(|c| match c {
                Created::Created => Ok("created"),
                Created::Exists(existing) if same_key(&existing, secret) => Ok("already present"),
                Created::Exists(_) => Err(conflict()),
            })
        };
        match outcome {
            Ok(Ok(what)) => {
                eprintln!("{label}: {what}");
                match what {
                    "already present" => present += 1,
                    _ => created += 1,
                }
            }
            Ok(Err(line)) => {
                eprintln!("error: {line}");
                failed += 1;
            }
            Err(e) => {
                eprintln!(
                    "error: {label}: {}",
                    sealed_common::codec::one_line(&format!("{e:#}"))
                );
                failed += 1;
            }
        }
    }
    let verb = if dry_run { "to create" } else { "created" };
    eprintln!("{created} {verb}, {present} already present, {failed} failed");
    if created > 0 && !dry_run {
        eprintln!(
            "This project's controller loads the restored keys by itself, without a restart; an upstream controller reads keys only at start: kubectl -n {ns} delete pod -l name=sealed-secrets-controller"
        );
    }
    if failed > 0 {
        bail!(
            "{failed} of {} key Secret{} not restored",
            secrets.len(),
            if secrets.len() == 1 { "" } else { "s" }
        );
    }
    Ok(())
}
