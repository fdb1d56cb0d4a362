//! A `v1` `Secret` as users write it, read leniently and checked field by field, so
//! that every error names the document and the item.

use crate::crypto::decode_base64;
use crate::sealed_secret::object_display_name;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// Annotations that carry a full copy of the object, secrets included: never sealed
/// into the template (upstream issue #227), redacted by `Debug`.
pub const LAST_APPLIED_ANNOTATIONS: [&str; 2] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration",
];

/// A Secret document exactly as written; nothing is interpreted yet. Its values are
/// wiped when it is dropped; `Debug` prints their lengths only.
#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct SecretDocument {
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: Option<ObjectMeta>,
    #[serde(default)]
    pub data: Option<BTreeMap<String, Option<String>>>,
    #[serde(default)]
    pub string_data: Option<BTreeMap<String, Option<String>>>,
    #[serde(rename = "type", default)]
    pub type_: Option<String>,
    #[serde(default)]
    pub immutable: Option<bool>,
}

/// A Secret whose values are decoded and in memory, wiped when dropped. `Debug` prints
/// item names and lengths only.
#[derive(Clone, Default)]
pub struct PlainSecret {
    pub metadata: ObjectMeta,
    /// `data` and `stringData` merged; `stringData` wins on a shared key, as in Kubernetes.
    pub items: BTreeMap<String, Zeroizing<Vec<u8>>>,
    pub type_: Option<String>,
    pub immutable: Option<bool>,
    /// Whether the document had neither `data` nor `stringData` entries.
    pub declared_empty: bool,
}

/// What is wrong with an input Secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("kind is {0:?}, not \"Secret\"; kubeseal seals v1 Secrets only")]
    WrongKind(String),
    #[error("missing kind: expected \"kind: Secret\"")]
    MissingKind,
    #[error("apiVersion is {0:?}, not \"v1\"")]
    WrongApiVersion(String),
    #[error(
        "data.{item}: invalid base64 ({reason}); data values must be base64, use stringData for plain text"
    )]
    Base64 { item: String, reason: String },
}

impl SecretDocument {
    /// `namespace/name` as far as the document tells.
    pub fn display_name(&self) -> String {
        let meta = self.metadata.as_ref();
        object_display_name(
            meta.and_then(|m| m.namespace.as_deref())
                .unwrap_or_default(),
            meta.and_then(|m| m.name.as_deref()).unwrap_or_default(),
        )
    }

    /// Checks the type fields and decodes the values.
    pub fn into_plain(mut self) -> Result<PlainSecret, SecretError> {
        match self.kind.as_deref() {
            Some("Secret") => {}
            Some(other) => return Err(SecretError::WrongKind(other.to_owned())),
            None => return Err(SecretError::MissingKind),
        }
        if let Some(v) = self.api_version.as_deref()
            && v != "v1"
        {
            return Err(SecretError::WrongApiVersion(v.to_owned()));
        }
        // The values stay in `self` while decoded, so `Drop` wipes them even when
        // decoding fails half-way.
        let declared_empty = self.data.as_ref().is_none_or(BTreeMap::is_empty)
            && self.string_data.as_ref().is_none_or(BTreeMap::is_empty);
        let mut items = BTreeMap::new();
        for (item, value) in self.data.iter().flatten() {
            let bytes = match value.as_deref() {
                None | Some("") => Vec::new(),
                Some(text) => decode_base64(text).map_err(|e| SecretError::Base64 {
                    item: item.clone(),
                    reason: match e {
                        crate::crypto::DecryptError::Base64(r) => r,
                        other => other.to_string(),
                    },
                })?,
            };
            items.insert(item.clone(), Zeroizing::new(bytes));
        }
        for (item, value) in self.string_data.iter_mut().flatten() {
            // The String's buffer moves into the Vec: no copy is left behind.
            let bytes = value.take().unwrap_or_default().into_bytes();
            items.insert(item.clone(), Zeroizing::new(bytes));
        }
        Ok(PlainSecret {
            metadata: self.metadata.take().unwrap_or_default(),
            items,
            type_: self.type_.take(),
            immutable: self.immutable,
            declared_empty,
        })
    }
}

impl PlainSecret {
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }

    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or_default()
    }

    pub fn display_name(&self) -> String {
        object_display_name(self.namespace(), self.name())
    }
}

impl Drop for SecretDocument {
    fn drop(&mut self) {
        for map in [self.data.as_mut(), self.string_data.as_mut()]
            .into_iter()
            .flatten()
        {
            map.values_mut().flatten().for_each(Zeroize::zeroize);
        }
    }
}

/// Wipes the values of a Secret built by unsealing (or read from the
/// API), for callers done with it: `ByteString` does not wipe itself.
pub fn wipe_secret(secret: &mut Secret) {
    if let Some(data) = secret.data.as_mut() {
        data.values_mut().for_each(|v| v.0.zeroize());
    }
    if let Some(data) = secret.string_data.as_mut() {
        data.values_mut().for_each(Zeroize::zeroize);
    }
}

/// Wipes every string of a JSON value (a Secret serialised for printing), for callers
/// done with it.
pub fn wipe_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(text) => text.zeroize(),
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(map) => stack.extend(map.values_mut()),
            _ => {}
        }
    }
}

/// What `Debug` shows of a secret value: its length (`None` for a null value).
struct Redacted(Option<usize>);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(len) => write!(f, "<redacted {len} bytes>"),
            None => f.write_str("None"),
        }
    }
}

/// A value whose length may be shown but not its bytes.
trait SecretValue {
    fn secret_len(&self) -> Option<usize>;
}

impl SecretValue for Zeroizing<Vec<u8>> {
    fn secret_len(&self) -> Option<usize> {
        Some(self.len())
    }
}

impl SecretValue for Option<String> {
    fn secret_len(&self) -> Option<usize> {
        self.as_ref().map(String::len)
    }
}

impl SecretValue for String {
    fn secret_len(&self) -> Option<usize> {
        Some(self.len())
    }
}

impl SecretValue for ByteString {
    fn secret_len(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// Item names, each with `<redacted N bytes>` (or `None`) for its value.
struct RedactedMap<'a, V>(&'a BTreeMap<String, V>);

impl<V: SecretValue> fmt::Debug for RedactedMap<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, Redacted(v.secret_len()))))
            .finish()
    }
}

/// Metadata with the last-applied annotations' values redacted: kubectl puts the
/// whole Secret, values included, in them.
struct RedactedMeta<'a>(&'a ObjectMeta);

impl fmt::Debug for RedactedMeta<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut meta = self.0.clone();
        if let Some(annotations) = meta.annotations.as_mut() {
            for key in LAST_APPLIED_ANNOTATIONS {
                if let Some(value) = annotations.get_mut(key) {
                    *value = format!("{:?}", Redacted(Some(value.len())));
                }
            }
        }
        meta.fmt(f)
    }
}

/// `Debug` for a `v1` `Secret` holding plaintext: names and lengths, never values.
pub struct SecretDebug<'a>(pub &'a Secret);

impl fmt::Debug for SecretDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        f.debug_struct("Secret")
            .field("metadata", &RedactedMeta(&s.metadata))
            .field("data", &s.data.as_ref().map(RedactedMap))
            .field("string_data", &s.string_data.as_ref().map(RedactedMap))
            .field("type_", &s.type_)
            .field("immutable", &s.immutable)
            .finish()
    }
}

impl fmt::Debug for SecretDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretDocument")
            .field("api_version", &self.api_version)
            .field("kind", &self.kind)
            .field("metadata", &self.metadata.as_ref().map(RedactedMeta))
            .field("data", &self.data.as_ref().map(RedactedMap))
            .field("string_data", &self.string_data.as_ref().map(RedactedMap))
            .field("type_", &self.type_)
            .field("immutable", &self.immutable)
            .finish()
    }
}

impl fmt::Debug for PlainSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainSecret")
            .field("metadata", &RedactedMeta(&self.metadata))
            .field("items", &RedactedMap(&self.items))
            .field("type_", &self.type_)
            .field("immutable", &self.immutable)
            .field("declared_empty", &self.declared_empty)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_stream;

    #[test]
    fn string_data_wins_and_values_decode() {
        let docs: Vec<SecretDocument> = decode_stream(
            b"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: YQ==, b: Yg==, e: ''}\nstringData: {b: plain}\n",
        )
        .unwrap();
        let plain = docs[0].clone().into_plain().unwrap();
        assert_eq!(plain.items["a"].as_slice(), b"a");
        assert_eq!(plain.items["b"].as_slice(), b"plain");
        assert_eq!(plain.items["e"].as_slice(), b"");
        assert!(!plain.declared_empty);
    }

    #[test]
    fn errors_name_the_item_and_never_the_value() {
        let docs: Vec<SecretDocument> =
            decode_stream(b"kind: Secret\nmetadata: {name: s}\ndata: {token: 'c2VjcmV0!!'}\n")
                .unwrap();
        let err = docs[0].clone().into_plain().unwrap_err().to_string();
        assert!(err.starts_with("data.token: invalid base64"), "{err}");
        assert!(!err.contains("c2VjcmV0"), "{err}");
    }

    #[test]
    fn non_secret_kinds_are_refused() {
        let docs: Vec<SecretDocument> =
            decode_stream(b"kind: ConfigMap\nmetadata: {name: c}\n").unwrap();
        assert_eq!(
            docs[0].clone().into_plain().unwrap_err(),
            SecretError::WrongKind("ConfigMap".to_owned())
        );
    }
}
