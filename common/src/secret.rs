//! A `v1` `Secret` as users write it, read leniently and checked field by field, so
//! that every error names the document and the item.

use crate::crypto::decode_base64;
use crate::sealed_secret::object_display_name;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// A Secret document exactly as written; nothing is interpreted yet.
#[derive(Deserialize, Debug, Default, Clone)]
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

/// A Secret whose values are decoded and in memory, wiped when dropped.
#[derive(Debug, Clone, Default)]
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
    pub fn into_plain(self) -> Result<PlainSecret, SecretError> {
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
        let data = self.data.unwrap_or_default();
        let string_data = self.string_data.unwrap_or_default();
        let declared_empty = data.is_empty() && string_data.is_empty();
        let mut items = BTreeMap::new();
        for (item, value) in data {
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
            items.insert(item, Zeroizing::new(bytes));
        }
        for (item, value) in string_data {
            items.insert(item, Zeroizing::new(value.unwrap_or_default().into_bytes()));
        }
        Ok(PlainSecret {
            metadata: self.metadata.unwrap_or_default(),
            items,
            type_: self.type_,
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
