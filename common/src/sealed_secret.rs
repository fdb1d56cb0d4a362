//! The `bitnami.com/v1alpha1` `SealedSecret` custom resource, field for field as upstream
//! defines it, so that objects pass through our types without losing anything.
//!
//! The `#[schemars(...)]` attributes shape the generated CRD (`crds/`) to upstream's schema:
//! optional fields are plain, not `nullable`, unless upstream says otherwise. They describe
//! the schema only; serialization is the `#[serde(...)]` attributes' business alone.
//! `manifests/tests/crd.rs` compares the result with upstream's CRD.

use crate::scope::Scope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const GROUP: &str = "bitnami.com";
pub const VERSION: &str = "v1alpha1";
pub const API_VERSION: &str = "bitnami.com/v1alpha1";
pub const KIND: &str = "SealedSecret";

/// SealedSecretSpec is the specification of a SealedSecret.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "bitnami.com",
    version = "v1alpha1",
    kind = "SealedSecret",
    plural = "sealedsecrets",
    singular = "sealedsecret",
    namespaced,
    status = "SealedSecretStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "SealedSecret is the K8s representation of a \"sealed Secret\" - a regular k8s Secret that has been sealed (encrypted) using the controller's key.",
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[0].message"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[0].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
// Upstream requires `encryptedData` (we always write it; reading tolerates its absence).
#[schemars(extend("required" = ["encryptedData"]))]
pub struct SealedSecretSpec {
    /// Template defines the structure of the Secret that will be created from this sealed secret.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "SecretTemplateSpec::is_empty"
    )]
    pub template: SecretTemplateSpec,

    /// Data is deprecated and will be removed eventually. Use per-value EncryptedData instead.
    /// Base64 of one sealed blob holding a whole JSON-encoded Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", extend("format" = "byte"))]
    pub data: Option<String>,

    /// Item name to base64 of the sealed value.
    #[serde(
        rename = "encryptedData",
        default,
        deserialize_with = "null_as_default"
    )]
    // Required in upstream's schema, so no `default` there either (serde's `default` would
    // put one in, and the API server would then fill it in instead of rejecting).
    #[schemars(
        extend("x-kubernetes-preserve-unknown-fields" = true),
        transform = without_default
    )]
    pub encrypted_data: BTreeMap<String, String>,
}

/// SecretTemplateSpec describes the structure a Secret should have when created from a template.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct SecretTemplateSpec {
    /// Standard object's metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "template_metadata_schema")]
    pub metadata: Option<ObjectMeta>,

    /// Used to facilitate programmatic handling of secret data.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub type_: Option<String>,

    /// Immutable, if set to true, ensures that data stored in the Secret cannot be updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    pub immutable: Option<bool>,

    /// Keys that should be templated using decrypted data. A `null` value drops the key.
    // Upstream's schema: string values (the API server prunes a `null` value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    pub data: Option<BTreeMap<String, Option<String>>>,
}

impl SecretTemplateSpec {
    pub fn is_empty(&self) -> bool {
        self == &SecretTemplateSpec::default()
    }

    pub fn annotations(&self) -> Option<&BTreeMap<String, String>> {
        self.metadata.as_ref().and_then(|m| m.annotations.as_ref())
    }
}

/// SealedSecretStatus is the most recently observed status of the SealedSecret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretStatus {
    /// ObservedGeneration reflects the generation most recently observed by the controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "i64")]
    pub observed_generation: Option<i64>,

    /// Represents the latest available observations of a sealed secret's current state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<SealedSecretCondition>")]
    pub conditions: Option<Vec<SealedSecretCondition>>,

    /// Fingerprint of the controller key that opened the SealedSecret last (not in
    /// upstream's CRD; an addition for key inventory and rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub key_fingerprint: Option<String>,
}

/// SealedSecretCondition describes the state of a sealed secret at a certain point.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretCondition {
    /// Type of condition for a sealed secret. Valid value: "Synced".
    #[serde(rename = "type")]
    pub type_: String,
    /// Status of the condition: "True", "False", or "Unknown".
    pub status: String,
    /// The last time this condition was updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Time")]
    pub last_update_time: Option<Time>,
    /// Last time the condition transitioned from one status to another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Time")]
    pub last_transition_time: Option<Time>,
    /// The reason for the condition's last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub reason: Option<String>,
    /// A human readable message indicating details about the transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub message: Option<String>,
}

impl SealedSecret {
    /// The scope the object declares in its own `metadata.annotations`. This is what the
    /// controller honours; the template's annotations never widen it.
    pub fn scope(&self) -> Scope {
        Scope::from_annotations(self.metadata.annotations.as_ref())
    }

    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }

    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or_default()
    }

    /// `namespace/name`, or just `name` without a namespace: how errors name the object.
    pub fn display_name(&self) -> String {
        object_display_name(self.namespace(), self.name())
    }

    /// The RSA-OAEP label this object's values must have been sealed with.
    pub fn label(&self) -> Vec<u8> {
        self.scope().label(self.namespace(), self.name())
    }
}

/// The schema of `spec.template.metadata`, as upstream's CRD has it: the fields a template
/// sets, and any other field kept (not the whole `ObjectMeta`, whose server-set fields make
/// no sense in a template).
fn template_metadata_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let string_map =
        serde_json::json!({"type": "object", "additionalProperties": {"type": "string"}});
    schemars::json_schema!({
        "type": "object",
        "nullable": true,
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "annotations": string_map,
            "finalizers": {"type": "array", "items": {"type": "string"}},
            "labels": string_map,
            "name": {"type": "string"},
            "namespace": {"type": "string"},
        },
    })
}

fn without_default(schema: &mut schemars::Schema) {
    schema.remove("default");
}

/// Reads an explicit `null` as the default, as Go's decoder does for structs and maps.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// How errors name an object: `namespace/name`, `name`, or `(unnamed)`.
pub fn object_display_name(namespace: &str, name: &str) -> String {
    match (namespace, name) {
        ("", "") => "(unnamed)".to_owned(),
        ("", name) => name.to_owned(),
        (ns, "") => format!("{ns}/(unnamed)"),
        (ns, name) => format!("{ns}/{name}"),
    }
}
