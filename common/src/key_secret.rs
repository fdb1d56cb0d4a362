//! The Secret form the controller stores its keys in: `kubernetes.io/tls`, `tls.key`
//! (PKCS#1 PEM) and `tls.crt`, labelled `sealedsecrets.bitnami.com/sealed-secrets-key`.

use crate::backend::RsaPrivateKey;
use crate::keys::{
    Certificate, KeyError, KeyPair, parse_private_key_pem, private_key_to_pkcs1_pem,
};
use crate::sealed_secret::object_display_name;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

pub const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";
pub const KEY_LABEL_ACTIVE: &str = "active";
pub const KEY_LABEL_COMPROMISED: &str = "compromised";
pub const TLS_SECRET_TYPE: &str = "kubernetes.io/tls";
pub const TLS_KEY: &str = "tls.key";
pub const TLS_CERT: &str = "tls.crt";

/// What is wrong with a key Secret. Names the Secret, never its bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySecretError {
    #[error("key Secret {secret} has no {TLS_KEY:?} item")]
    MissingKey { secret: String },
    #[error("key Secret {secret}, item {item:?}: {source}")]
    Invalid {
        secret: String,
        item: &'static str,
        source: KeyError,
    },
    #[error("key Secret {secret}: {TLS_CERT:?} does not belong to the private key in {TLS_KEY:?}")]
    CertificateMismatch { secret: String },
}

/// A key read back from its Secret.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub private_key: RsaPrivateKey,
    /// The certificate, when `tls.crt` is present (upstream always writes it).
    pub certificate: Option<Certificate>,
}

/// Builds the Secret upstream's controller writes for a new key.
pub fn key_to_secret(
    pair: &KeyPair,
    namespace: &str,
    generate_name: &str,
    extra_labels: &BTreeMap<String, String>,
    extra_annotations: &BTreeMap<String, String>,
) -> Result<Secret, KeyError> {
    let mut labels = extra_labels.clone();
    labels.insert(KEY_LABEL.to_owned(), KEY_LABEL_ACTIVE.to_owned());
    let key_pem = private_key_to_pkcs1_pem(&pair.private_key)?;
    let data = BTreeMap::from([
        (TLS_KEY.to_owned(), ByteString(key_pem.as_bytes().to_vec())),
        (
            TLS_CERT.to_owned(),
            ByteString(pair.certificate.to_pem().into_bytes()),
        ),
    ]);
    Ok(Secret {
        metadata: ObjectMeta {
            namespace: Some(namespace.to_owned()),
            generate_name: Some(generate_name.to_owned()),
            labels: Some(labels),
            annotations: Some(extra_annotations.clone()).filter(|a| !a.is_empty()),
            ..ObjectMeta::default()
        },
        type_: Some(TLS_SECRET_TYPE.to_owned()),
        data: Some(data),
        ..Secret::default()
    })
}

/// Reads a key Secret, as made by upstream or by us.
pub fn key_from_secret(secret: &Secret) -> Result<StoredKey, KeySecretError> {
    let name = object_display_name(
        secret.metadata.namespace.as_deref().unwrap_or_default(),
        secret.metadata.name.as_deref().unwrap_or_default(),
    );
    let data = secret.data.as_ref();
    let key_pem = data
        .and_then(|d| d.get(TLS_KEY))
        .ok_or_else(|| KeySecretError::MissingKey {
            secret: name.clone(),
        })?;
    let private_key =
        parse_private_key_pem(&key_pem.0).map_err(|source| KeySecretError::Invalid {
            secret: name.clone(),
            item: TLS_KEY,
            source,
        })?;
    let certificate = match data.and_then(|d| d.get(TLS_CERT)) {
        None => None,
        Some(pem) => {
            let cert = Certificate::from_pem(&pem.0).map_err(|source| KeySecretError::Invalid {
                secret: name.clone(),
                item: TLS_CERT,
                source,
            })?;
            if cert.public_key().spki_der() != private_key.public_key().spki_der() {
                return Err(KeySecretError::CertificateMismatch { secret: name });
            }
            Some(cert)
        }
    };
    Ok(StoredKey {
        private_key,
        certificate,
    })
}

/// Reads only the private key of a key Secret: all that disaster recovery needs.
pub fn private_key_from_secret(secret: &Secret) -> Result<RsaPrivateKey, KeySecretError> {
    let name = object_display_name(
        secret.metadata.namespace.as_deref().unwrap_or_default(),
        secret.metadata.name.as_deref().unwrap_or_default(),
    );
    let key_pem = secret
        .data
        .as_ref()
        .and_then(|d| d.get(TLS_KEY))
        .ok_or_else(|| KeySecretError::MissingKey {
            secret: name.clone(),
        })?;
    parse_private_key_pem(&key_pem.0).map_err(|source| KeySecretError::Invalid {
        secret: name,
        item: TLS_KEY,
        source,
    })
}

/// Why a key backup could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyBackupError {
    #[error("{0}")]
    Key(#[from] KeySecretError),
    #[error("{0}")]
    Pem(KeyError),
    #[error("{0}")]
    Decode(#[from] crate::codec::DecodeError),
    #[error(
        "expected a PEM private key, a key Secret or a v1 List of key Secrets, found kind {0:?}"
    )]
    WrongKind(String),
    #[error("holds no key")]
    Empty,
}

#[derive(serde::Deserialize)]
struct KindProbe {
    #[serde(default)]
    kind: Option<String>,
}

#[derive(serde::Deserialize)]
struct SecretList {
    #[serde(default)]
    items: Vec<crate::secret::SecretDocument>,
}

/// Reads the private keys of a backup, in every form upstream accepts: a PEM key, a
/// key Secret (YAML or JSON, several documents allowed), or a `v1` `List` of them.
pub fn parse_key_backup(bytes: &[u8]) -> Result<Vec<RsaPrivateKey>, KeyBackupError> {
    if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return parse_private_key_pem(bytes)
            .map(|k| vec![k])
            .map_err(KeyBackupError::Pem);
    }
    let probes: Vec<KindProbe> = crate::codec::decode_stream(bytes)?;
    let mut documents = Vec::new();
    if probes.iter().any(|p| p.kind.as_deref() == Some("List")) {
        let lists: Vec<SecretList> = crate::codec::decode_stream(bytes)?;
        documents.extend(lists.into_iter().flat_map(|l| l.items));
    } else {
        documents = crate::codec::decode_stream(bytes)?;
    }
    let mut keys = Vec::new();
    for document in documents {
        match document.kind.as_deref() {
            Some("Secret") | None => {}
            Some(other) => return Err(KeyBackupError::WrongKind(other.to_owned())),
        }
        let name = document.display_name();
        let pem_b64 = document
            .data
            .as_ref()
            .and_then(|d| d.get(TLS_KEY))
            .and_then(|v| v.as_deref())
            .ok_or_else(|| KeySecretError::MissingKey {
                secret: name.clone(),
            })?;
        let pem = crate::crypto::decode_base64(pem_b64)
            .map(Zeroizing::new)
            .map_err(|e| KeySecretError::Invalid {
                secret: name.clone(),
                item: TLS_KEY,
                source: KeyError::Pem(e.to_string()),
            })?;
        let key = parse_private_key_pem(&pem).map_err(|source| KeySecretError::Invalid {
            secret: name,
            item: TLS_KEY,
            source,
        })?;
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(KeyBackupError::Empty);
    }
    Ok(keys)
}
