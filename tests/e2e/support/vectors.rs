//! The upstream compatibility vectors (`testdata/vectors/kubeseal-0.36.6/`), made by
//! the upstream Go implementation: its keys, its sealed objects, the expected results.

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use sealed_common::RsaPrivateKey;
use sealed_common::crypto::decode_base64;
use sealed_common::keys::Certificate;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    crate::workspace_root().join("testdata/vectors/kubeseal-0.36.6")
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn read_yaml_one(path: &Path) -> Result<Value> {
    let bytes = read(path)?;
    let mut docs: Vec<Value> = sealed_common::codec::decode_stream(&bytes)
        .with_context(|| format!("parsing {}", path.display()))?;
    if docs.len() != 1 {
        bail!(
            "{}: expected one document, found {}",
            path.display(),
            docs.len()
        );
    }
    Ok(docs.remove(0))
}

/// One vector directory.
#[derive(Debug, Clone)]
pub struct Vector {
    /// Path relative to [`root`], e.g. `scope-flag/strict`.
    pub rel: String,
    pub name: String,
    /// `None` for the cluster-wide vector sealed without a namespace.
    pub namespace: Option<String>,
    pub scope: String,
    /// `A` or `B`: the key in `keys/` that sealed it.
    pub sealing_key: String,
    pub negative: bool,
    /// `expected_plaintext_b64`, decoded: the Secret's exact `data`.
    pub expected: BTreeMap<String, Vec<u8>>,
    /// `sealed.yaml`, parsed.
    pub sealed: Value,
    /// `expected-secret.yaml` (upstream `--recovery-unseal` output), parsed.
    pub expected_secret: Value,
}

/// Every directory under [`root`] holding both `vector.json` and `sealed.yaml`, sorted.
pub fn all() -> Result<Vec<Vector>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                if path.join("vector.json").is_file() && path.join("sealed.yaml").is_file() {
                    out.push(path.clone());
                }
                walk(&path, out)?;
            }
        }
        Ok(())
    }
    let mut dirs = Vec::new();
    walk(&root(), &mut dirs)?;
    dirs.sort();
    dirs.iter().map(|d| load(d)).collect()
}

fn load(dir: &Path) -> Result<Vector> {
    let rel = dir
        .strip_prefix(root())
        .unwrap_or(dir)
        .display()
        .to_string();
    let meta: Value = serde_json::from_slice(&read(&dir.join("vector.json"))?)
        .with_context(|| format!("parsing {rel}/vector.json"))?;
    let text = |k: &str| meta.get(k).and_then(Value::as_str).map(str::to_owned);
    let expected = meta
        .get("expected_plaintext_b64")
        .and_then(Value::as_object)
        .with_context(|| format!("{rel}/vector.json has no expected_plaintext_b64"))?
        .iter()
        .map(|(k, v)| {
            let b64 = v.as_str().unwrap_or_default();
            decode_base64(b64)
                .map(|bytes| (k.clone(), bytes))
                .with_context(|| format!("{rel}: expected_plaintext_b64.{k}"))
        })
        .collect::<Result<BTreeMap<_, _>>>()?;
    Ok(Vector {
        name: text("name").with_context(|| format!("{rel}/vector.json has no name"))?,
        namespace: text("namespace"),
        scope: text("scope").unwrap_or_default(),
        sealing_key: text("sealing_key")
            .with_context(|| format!("{rel}/vector.json has no sealing_key"))?,
        negative: meta
            .get("negative")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        expected,
        sealed: read_yaml_one(&dir.join("sealed.yaml"))?,
        expected_secret: read_yaml_one(&dir.join("expected-secret.yaml"))?,
        rel,
    })
}

/// `keys/<letter>.tls.crt`.
pub fn cert_path(letter: &str) -> PathBuf {
    root().join(format!("keys/{letter}.tls.crt"))
}

pub fn cert_pem(letter: &str) -> Result<Vec<u8>> {
    read(&cert_path(letter))
}

/// `keys/<letter>.tls.key`, the private key (PKCS#1 PEM).
pub fn private_key(letter: &str) -> Result<sealed_common::RsaPrivateKey> {
    let path = root().join(format!("keys/{letter}.tls.key"));
    sealed_common::keys::parse_private_key_pem(&read(&path)?)
        .with_context(|| format!("parsing {}", path.display()))
}

/// `keys/<letter>.fingerprint`, trimmed.
pub fn fingerprint(letter: &str) -> Result<String> {
    let bytes = read(&root().join(format!("keys/{letter}.fingerprint")))?;
    Ok(String::from_utf8_lossy(&bytes).trim().to_owned())
}

/// The key Secret `keys/<letter>.sealed-secrets-key.yaml` (as the upstream controller
/// stored it), moved to `namespace`, without server-set fields.
pub fn key_secret(letter: &str, namespace: &str) -> Result<Secret> {
    let path = root().join(format!("keys/{letter}.sealed-secrets-key.yaml"));
    let bytes = read(&path)?;
    let mut docs: Vec<Secret> = sealed_common::codec::decode_stream(&bytes)
        .with_context(|| format!("parsing {}", path.display()))?;
    if docs.len() != 1 {
        bail!(
            "{}: expected one Secret, found {}",
            path.display(),
            docs.len()
        );
    }
    let mut secret = docs.remove(0);
    let meta = &mut secret.metadata;
    meta.namespace = Some(namespace.to_owned());
    meta.uid = None;
    meta.resource_version = None;
    meta.creation_timestamp = None;
    meta.managed_fields = None;
    meta.generation = None;
    meta.self_link = None;
    meta.owner_references = None;
    if meta.name.is_none() {
        bail!("{}: the key Secret has no name", path.display());
    }
    Ok(secret)
}

/// Creates the key Secrets of upstream's keys `letters` in `namespace`; returns their
/// names.
pub async fn install_keys(
    client: &Client,
    namespace: &str,
    letters: &[&str],
) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for letter in letters {
        let secret = key_secret(letter, namespace)?;
        names.push(secret.metadata.name.clone().unwrap_or_default());
        crate::objects::create_secret(client, &secret).await?;
    }
    Ok(names)
}

/// The vector of `rotation/` sealed with key `letter`, and its `sealed.yaml` exactly as
/// upstream's kubeseal wrote it.
pub fn rotation_vector(letter: &str) -> Result<(Vector, Vec<u8>)> {
    let vector = all()?
        .into_iter()
        .find(|v| v.rel.starts_with("rotation/") && v.sealing_key == letter)
        .with_context(|| format!("the rotation/sealed-with-{letter} vector is missing"))?;
    let yaml = read(&root().join(&vector.rel).join("sealed.yaml"))?;
    Ok((vector, yaml))
}

/// One of upstream's keys: its letter, certificate, private key and fingerprint.
pub struct UpstreamKey {
    pub letter: &'static str,
    pub cert: Certificate,
    pub private: RsaPrivateKey,
    pub fingerprint: String,
}

impl UpstreamKey {
    pub fn load(letter: &'static str) -> Result<UpstreamKey> {
        Ok(UpstreamKey {
            letter,
            cert: crate::sealing::certificate_from_pem(&cert_pem(letter)?)?,
            private: private_key(letter)?,
            fingerprint: fingerprint(letter)?,
        })
    }
}

/// Upstream's keys A and B as (newest, other), as a controller holding both orders
/// them: the later certificate NotBefore first; on a tie (they have the same one), the
/// key Secret whose name sorts first.
pub fn newest_and_other() -> Result<(UpstreamKey, UpstreamKey)> {
    let a = UpstreamKey::load("A")?;
    let b = UpstreamKey::load("B")?;
    let name = |letter| -> Result<String> {
        key_secret(letter, "x")?
            .metadata
            .name
            .context("key Secret without a name")
    };
    let a_first = match a.cert.not_before().cmp(&b.cert.not_before()) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => name("A")? < name("B")?,
    };
    Ok(if a_first { (a, b) } else { (b, a) })
}
