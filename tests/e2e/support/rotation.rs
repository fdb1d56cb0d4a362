//! What re-encryption (`/v1/rotate`, `kubeseal --re-encrypt`) must make of a strict
//! SealedSecret whose items were sealed partly with an older key: the items on the
//! older key sealed anew so that only the newest key opens them, the others kept byte
//! for byte, the header and template kept.

use crate::objects::string_map_at;
use crate::sealing::{seal_items, sealed_secret};
use crate::vectors::UpstreamKey;
use anyhow::{Result, ensure};
use sealed_common::RsaPrivateKey;
use sealed_common::Scope;
use sealed_common::crypto::open_value;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// `spec.encryptedData` of a SealedSecret given as JSON (empty when it has none).
pub fn encrypted_data(object: &Value) -> BTreeMap<String, String> {
    string_map_at(object, "/spec/encryptedData")
}

/// Opens `value` with `key` alone under `label`; `None` if it does not open.
pub fn open_with(key: &RsaPrivateKey, value: &str, label: &[u8]) -> Option<Vec<u8>> {
    open_value([key], value, label)
        .ok()
        .map(|(plain, _)| plain.to_vec())
}

/// `value` without object members that are null (recursively): Go-style output may
/// spell absent fields as null (`creationTimestamp: null`).
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// A strict SealedSecret with the items `older` sealed with the `other` key and `fresh`
/// with the `newest`, and a template worth keeping.
pub struct Mixed {
    pub object: Value,
    pub older: BTreeMap<String, Vec<u8>>,
    pub fresh: BTreeMap<String, Vec<u8>>,
}

impl Mixed {
    pub fn new(
        ns: &str,
        name: &str,
        newest: &UpstreamKey,
        other: &UpstreamKey,
        older: BTreeMap<String, Vec<u8>>,
        fresh: BTreeMap<String, Vec<u8>>,
    ) -> Result<Mixed> {
        let mut encrypted = seal_items(&other.cert, Scope::Strict, ns, name, &older)?;
        encrypted.extend(seal_items(&newest.cert, Scope::Strict, ns, name, &fresh)?);
        let object = sealed_secret(
            ns,
            name,
            Scope::Strict,
            &encrypted,
            json!({
                "type": "Opaque",
                "metadata": {
                    "labels": { "app": "rotated" },
                    "annotations": { "note": "kept by rotate" },
                },
                "data": { "static": "literal" },
            }),
        );
        Ok(Mixed {
            object,
            older,
            fresh,
        })
    }

    /// The Secret's data once unsealed: every item and the template's literal.
    pub fn plaintext(&self) -> BTreeMap<String, Vec<u8>> {
        let mut all = self.older.clone();
        all.extend(self.fresh.clone());
        all.insert("static".to_owned(), b"literal".to_vec());
        all
    }

    /// Checks a re-encrypted `after` against [`Mixed::object`]: same header and
    /// template, `fresh` items byte for byte, `older` items sealed anew so that only
    /// `newest` opens them, under the strict label.
    pub fn check_reencrypted(
        &self,
        after: &Value,
        newest: &UpstreamKey,
        other: &UpstreamKey,
    ) -> Result<()> {
        let before = &self.object;
        for pointer in [
            "/apiVersion",
            "/kind",
            "/metadata/name",
            "/metadata/namespace",
        ] {
            ensure!(
                after.pointer(pointer) == before.pointer(pointer),
                "{pointer} changed: {:?} -> {:?}",
                before.pointer(pointer),
                after.pointer(pointer)
            );
        }
        let (template_before, template_after) = (
            without_nulls(&before["spec"]["template"]),
            without_nulls(&after["spec"]["template"]),
        );
        ensure!(
            template_after == template_before,
            "spec.template changed:\n  before {template_before}\n  after  {template_after}"
        );
        let (was, now) = (encrypted_data(before), encrypted_data(after));
        ensure!(
            was.keys().eq(now.keys()),
            "encryptedData items {:?} -> {:?}",
            was.keys().collect::<Vec<_>>(),
            now.keys().collect::<Vec<_>>()
        );
        let ns = before["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = before["metadata"]["name"].as_str().unwrap_or_default();
        let label = Scope::Strict.label(ns, name);
        for (item, plain) in &self.fresh {
            ensure!(
                now[item] == was[item],
                "item {item} was already sealed with the newest key {} and must be kept byte for byte",
                newest.letter
            );
            ensure!(
                open_with(&newest.private, &now[item], &label).as_deref() == Some(plain.as_slice()),
                "item {item} does not open with key {} any more",
                newest.letter
            );
        }
        for (item, plain) in &self.older {
            ensure!(
                now[item] != was[item],
                "item {item}, sealed with key {}, was not re-encrypted",
                other.letter
            );
            ensure!(
                open_with(&newest.private, &now[item], &label).as_deref() == Some(plain.as_slice()),
                "re-encrypted item {item} does not open with the newest key {} under the strict label {:?}",
                newest.letter,
                String::from_utf8_lossy(&label)
            );
            ensure!(
                open_with(&other.private, &now[item], &label).is_none(),
                "re-encrypted item {item} still opens with the older key {}",
                other.letter
            );
        }
        Ok(())
    }
}
