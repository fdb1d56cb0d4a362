// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! The committed CRD is what `common`'s types generate, and it keeps upstream's contract
//! (testdata/upstream/, sealed-secrets v0.36.6) except for the differences listed here.

use sealed_manifests::diff::crd_differences;
use sealed_manifests::{CRD_FILE, REGENERATE, crd_yaml, first_difference, workspace_root};
use serde_json::Value;

const UPSTREAM_CRD: &str = "testdata/upstream/bitnami.com_sealedsecrets.yaml";

/// Where our CRD intentionally differs from upstream's, and why. Each is an addition or a
/// relaxation: applying ours over upstream's (and back) keeps every stored object.
const INTENDED: &[&str] = &[
    // kube-derive leaves the fields every object has to the API server, which validates
    // them whatever the schema says.
    r#"spec.versions[v1alpha1].schema.openAPIV3Schema.properties.apiVersion removed: {"type":"string"}"#,
    r#"spec.versions[v1alpha1].schema.openAPIV3Schema.properties.kind removed: {"type":"string"}"#,
    r#"spec.versions[v1alpha1].schema.openAPIV3Schema.properties.metadata removed: {"type":"object"}"#,
    // kube-derive's `status: Option<_>`; the controller never writes a null status.
    r#"spec.versions[v1alpha1].schema.openAPIV3Schema.properties.status.nullable added: true"#,
    // Our addition: the key that opened the object last (docs/controller.md).
    r#"spec.versions[v1alpha1].schema.openAPIV3Schema.properties.status.properties.keyFingerprint added: {"type":"string"}"#,
    // kube-derive does not set it; the API server defaults it to the same `SealedSecretList`.
    r#"spec.names.listKind removed: "SealedSecretList""#,
];

fn read(relative: &str) -> String {
    let path = workspace_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn parse(name: &str, text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{name} is not YAML: {e}"))
}

#[test]
fn committed_crd_is_generated_from_the_types() {
    let committed = read(CRD_FILE);
    let generated = crd_yaml().expect("the CRD renders");
    assert!(
        committed == generated,
        "{CRD_FILE} differs from what common/src/sealed_secret.rs generates; run `{REGENERATE}` \
         and commit the result. First difference at {}",
        first_difference(&committed, &generated)
    );
}

#[test]
fn crd_keeps_upstream_contract() {
    let upstream = parse(UPSTREAM_CRD, &read(UPSTREAM_CRD));
    let ours = parse("the generated CRD", &crd_yaml().expect("the CRD renders"));
    let found = crd_differences(&upstream, &ours);
    let unexpected: Vec<&String> = found
        .iter()
        .filter(|d| !INTENDED.contains(&d.as_str()))
        .collect();
    let missing: Vec<&&str> = INTENDED
        .iter()
        .filter(|d| !found.iter().any(|f| f == *d))
        .collect();
    let list = |items: &[String]| -> String { items.iter().map(|d| format!("\n  {d}")).collect() };
    assert!(
        unexpected.is_empty() && missing.is_empty(),
        "the CRD from common's types differs from upstream's ({UPSTREAM_CRD}) otherwise than \
         intended.\nUnexpected differences (fix the #[schemars] attributes in \
         common/src/sealed_secret.rs, or add them to INTENDED with the reason):{}\nIntended \
         differences no longer found (remove them from INTENDED):{}",
        list(&unexpected.into_iter().cloned().collect::<Vec<_>>()),
        list(
            &missing
                .into_iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
        ),
    );
}

/// The comparison is not vacuous: breaking one attribute of upstream's contract shows.
#[test]
fn comparison_sees_a_lost_format() {
    let upstream = parse(UPSTREAM_CRD, &read(UPSTREAM_CRD));
    let mut changed = upstream.clone();
    let data = changed
        .pointer_mut("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/data")
        .expect("upstream has spec.data");
    data.as_object_mut().expect("an object").remove("format");
    assert_eq!(
        crd_differences(&upstream, &changed),
        [
            r#"spec.versions[v1alpha1].schema.openAPIV3Schema.properties.spec.properties.data.format removed: "byte""#
        ]
    );
}

/// Every intended difference only adds or relaxes: nothing upstream's CRD stores is pruned
/// or rejected by ours.
#[test]
fn intended_differences_are_additive() {
    for difference in INTENDED {
        let relaxes = difference.contains(" added: ")
            && !difference.contains(".required added: ")
            || difference.ends_with(".nullable added: true")
            // The API server handles these itself, and defaults listKind to the same value.
            || difference.contains(".properties.apiVersion removed")
            || difference.contains(".properties.kind removed")
            || difference.contains(".properties.metadata removed")
            || difference.contains("names.listKind removed");
        assert!(relaxes, "not additive: {difference}");
    }
}
