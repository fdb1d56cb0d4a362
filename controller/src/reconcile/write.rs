//! What to do with the Secret: the rules upstream's controller applies when a Secret of
//! that name already exists (controlled, `managed`, `patch`, or someone else's).

use k8s_openapi::api::core::v1::Secret;
use sealed_common::scope::{
    MANAGED_ANNOTATION, PATCH_ANNOTATION, SKIP_SET_OWNER_REFERENCES_ANNOTATION,
};
use std::collections::BTreeMap;

/// The outcome of comparing the existing Secret with the unsealed one.
#[derive(Debug, Clone, PartialEq)]
pub enum WritePlan {
    /// Nothing differs: no write.
    Unchanged,
    /// Replace the existing Secret with this one (same resourceVersion).
    Update(Box<Secret>),
    /// The Secret belongs to someone else; the event text.
    Unmanaged(String),
    /// Delete the existing Secret and create the unsealed one: its `type` differs, or it
    /// is immutable and the template no longer is (neither can change in place).
    Recreate,
    /// The existing Secret is immutable and its data would change.
    Immutable,
}

fn annotated(secret: &Secret, annotation: &str) -> bool {
    secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(annotation))
        .is_some_and(|v| v == "true")
}

/// True when an ownerReference with `controller: true` points at `owner_uid`.
pub fn is_controlled_by(secret: &Secret, owner_uid: &str) -> bool {
    secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && !owner_uid.is_empty() && r.uid == owner_uid)
}

/// The upstream event text for a Secret this SealedSecret may not touch.
pub fn unmanaged_message(name: &str) -> String {
    format!("Resource {name:?} already exists and is not managed by SealedSecret")
}

fn non_empty<K: Ord, V>(map: Option<BTreeMap<K, V>>) -> Option<BTreeMap<K, V>> {
    map.filter(|m| !m.is_empty())
}

/// Applies upstream's update rules to `existing`, given the freshly unsealed `desired`.
pub fn plan_update(existing: &Secret, desired: &Secret, owner_uid: &str) -> WritePlan {
    let name = existing.metadata.name.as_deref().unwrap_or_default();
    let managed = annotated(existing, MANAGED_ANNOTATION);
    let patch = annotated(existing, PATCH_ANNOTATION);
    // A Secret made from a template that asks for no ownerReference carries that
    // annotation from the template: it is ours even though nothing says so.
    let controlled = is_controlled_by(existing, owner_uid)
        || (annotated(existing, SKIP_SET_OWNER_REFERENCES_ANNOTATION)
            && annotated(desired, SKIP_SET_OWNER_REFERENCES_ANNOTATION));
    if !controlled && !managed && !patch {
        return WritePlan::Unmanaged(unmanaged_message(name));
    }
    // A patched Secret is someone else's and only gets our items merged in.
    if (controlled || managed) && !patch && cannot_change_in_place(existing, desired) {
        return WritePlan::Recreate;
    }

    let mut updated = existing.clone();
    let meta = &mut updated.metadata;
    if patch {
        let mut data = existing.data.clone().unwrap_or_default();
        data.extend(desired.data.clone().unwrap_or_default());
        updated.data = Some(data);
        let mut labels = meta.labels.take().unwrap_or_default();
        labels.extend(desired.metadata.labels.clone().unwrap_or_default());
        meta.labels = Some(labels);
        let mut annotations = meta.annotations.take().unwrap_or_default();
        annotations.extend(desired.metadata.annotations.clone().unwrap_or_default());
        meta.annotations = Some(annotations);
        if managed {
            meta.owner_references = desired.metadata.owner_references.clone();
        }
    } else {
        updated.data = desired.data.clone();
        meta.labels = desired.metadata.labels.clone();
        meta.annotations = desired.metadata.annotations.clone();
        meta.owner_references = desired.metadata.owner_references.clone();
    }
    // A template without a type keeps the existing one: the type of a Secret cannot
    // change, and upstream's empty type would fail the update.
    if desired.type_.is_some() {
        updated.type_ = desired.type_.clone();
    }
    if desired.immutable == Some(true) {
        updated.immutable = Some(true);
    }

    let normalize = |s: &Secret| {
        let mut s = s.clone();
        s.data = non_empty(s.data.take());
        s.metadata.labels = non_empty(s.metadata.labels.take());
        s.metadata.annotations = non_empty(s.metadata.annotations.take());
        s.metadata.owner_references = s.metadata.owner_references.take().filter(|o| !o.is_empty());
        s.type_ = s.type_.take().or_else(|| Some("Opaque".to_owned()));
        s
    };
    let (before, after) = (normalize(existing), normalize(&updated));
    if before == after {
        return WritePlan::Unchanged;
    }
    if existing.immutable == Some(true)
        && (before.data != after.data || before.type_ != after.type_)
    {
        return WritePlan::Immutable;
    }
    WritePlan::Update(Box::new(after))
}

/// The API server refuses to change a Secret's `type`, and to make an immutable Secret
/// mutable again.
fn cannot_change_in_place(existing: &Secret, desired: &Secret) -> bool {
    let type_of = |s: &Secret| s.type_.clone().unwrap_or_else(|| "Opaque".to_owned());
    // A template without a type keeps the existing one.
    let new_type = desired.type_.is_some() && type_of(desired) != type_of(existing);
    let made_mutable = existing.immutable == Some(true) && desired.immutable != Some(true);
    new_type || made_mutable
}

/// Upstream's message for an immutable Secret whose data would change.
pub fn immutable_message(key: &str) -> String {
    format!(
        "Error updating {key}: the target Secret is immutable. Once a Secret is marked as immutable, it is not possible to revert this change nor to mutate the contents of the data field. You can only delete and recreate the Secret."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    fn owner(uid: &str) -> OwnerReference {
        OwnerReference {
            api_version: "bitnami.com/v1alpha1".into(),
            kind: "SealedSecret".into(),
            name: "s".into(),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: None,
        }
    }

    fn secret(
        data: &[(&str, &str)],
        annotations: &[(&str, &str)],
        owner_uid: Option<&str>,
    ) -> Secret {
        let map = |pairs: &[(&str, &str)]| {
            Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            )
            .filter(|m| !m.is_empty())
        };
        Secret {
            metadata: ObjectMeta {
                name: Some("s".into()),
                namespace: Some("ns".into()),
                resource_version: Some("7".into()),
                annotations: map(annotations),
                owner_references: owner_uid.map(|u| vec![owner(u)]),
                ..ObjectMeta::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            type_: Some("Opaque".into()),
            ..Secret::default()
        }
    }

    #[test]
    fn controlled_and_equal_is_unchanged() {
        let existing = secret(&[("a", "1")], &[], Some("u1"));
        let desired = secret(&[("a", "1")], &[], Some("u1"));
        assert_eq!(plan_update(&existing, &desired, "u1"), WritePlan::Unchanged);
    }

    #[test]
    fn controlled_and_different_updates_keeping_resource_version() {
        let existing = secret(&[("a", "1")], &[], Some("u1"));
        let desired = secret(&[("a", "2")], &[], Some("u1"));
        let WritePlan::Update(updated) = plan_update(&existing, &desired, "u1") else {
            panic!("expected an update");
        };
        assert_eq!(updated.metadata.resource_version.as_deref(), Some("7"));
        assert_eq!(updated.data, desired.data);
    }

    #[test]
    fn someone_elses_secret_is_refused() {
        let existing = secret(&[("a", "1")], &[], None);
        let desired = secret(&[("a", "2")], &[], Some("u1"));
        assert_eq!(
            plan_update(&existing, &desired, "u1"),
            WritePlan::Unmanaged(
                r#"Resource "s" already exists and is not managed by SealedSecret"#.into()
            )
        );
        // Owned by another SealedSecret (other uid) is refused too.
        let other = secret(&[("a", "1")], &[], Some("u2"));
        assert!(matches!(
            plan_update(&other, &desired, "u1"),
            WritePlan::Unmanaged(_)
        ));
    }

    #[test]
    fn a_secret_made_without_owner_reference_stays_ours() {
        let skip = [(SKIP_SET_OWNER_REFERENCES_ANNOTATION, "true")];
        let existing = secret(&[("a", "1")], &skip, None);
        let desired = secret(&[("a", "1")], &skip, None);
        assert_eq!(plan_update(&existing, &desired, "u1"), WritePlan::Unchanged);
        let changed = secret(&[("a", "2")], &skip, None);
        assert!(matches!(
            plan_update(&existing, &changed, "u1"),
            WritePlan::Update(_)
        ));
        // Only when the template still asks for it.
        let plain = secret(&[("a", "2")], &[], Some("u1"));
        assert!(matches!(
            plan_update(&existing, &plain, "u1"),
            WritePlan::Unmanaged(_)
        ));
    }

    #[test]
    fn managed_is_taken_over() {
        let existing = secret(&[("old", "1")], &[(MANAGED_ANNOTATION, "true")], None);
        let desired = secret(&[("a", "2")], &[], Some("u1"));
        let WritePlan::Update(updated) = plan_update(&existing, &desired, "u1") else {
            panic!("expected an update");
        };
        assert_eq!(updated.data, desired.data);
        assert_eq!(updated.metadata.owner_references, Some(vec![owner("u1")]));
        assert_eq!(updated.metadata.annotations, None);
    }

    #[test]
    fn patch_merges_without_ownership() {
        let existing = secret(
            &[("old", "1"), ("a", "0")],
            &[(PATCH_ANNOTATION, "true"), ("x", "y")],
            None,
        );
        let desired = secret(&[("a", "2")], &[("note", "n")], Some("u1"));
        let WritePlan::Update(updated) = plan_update(&existing, &desired, "u1") else {
            panic!("expected an update");
        };
        let data = updated.data.expect("data");
        assert_eq!(data.get("old").map(|b| b.0.as_slice()), Some(&b"1"[..]));
        assert_eq!(data.get("a").map(|b| b.0.as_slice()), Some(&b"2"[..]));
        let annotations = updated.metadata.annotations.expect("annotations");
        assert_eq!(annotations.len(), 3);
        assert_eq!(updated.metadata.owner_references, None);
    }

    #[test]
    fn patch_and_managed_takes_ownership() {
        let existing = secret(
            &[("old", "1")],
            &[(PATCH_ANNOTATION, "true"), (MANAGED_ANNOTATION, "true")],
            None,
        );
        let desired = secret(&[("a", "2")], &[], Some("u1"));
        let WritePlan::Update(updated) = plan_update(&existing, &desired, "u1") else {
            panic!("expected an update");
        };
        assert_eq!(updated.metadata.owner_references, Some(vec![owner("u1")]));
        assert_eq!(updated.data.expect("data").len(), 2);
    }

    #[test]
    fn immutable_with_new_data_is_refused() {
        let mut existing = secret(&[("a", "1")], &[], Some("u1"));
        existing.immutable = Some(true);
        let mut desired = secret(&[("a", "2")], &[], Some("u1"));
        desired.immutable = Some(true);
        assert_eq!(plan_update(&existing, &desired, "u1"), WritePlan::Immutable);
        // Same data: nothing to do, no error.
        let mut same = secret(&[("a", "1")], &[], Some("u1"));
        same.immutable = Some(true);
        assert_eq!(plan_update(&existing, &same, "u1"), WritePlan::Unchanged);
    }

    #[test]
    fn type_change_of_a_controlled_secret_recreates_it() {
        let existing = secret(&[("a", "1")], &[], Some("u1"));
        let mut desired = secret(&[("a", "1")], &[], Some("u1"));
        desired.type_ = Some("kubernetes.io/basic-auth".into());
        assert_eq!(plan_update(&existing, &desired, "u1"), WritePlan::Recreate);
        // Managed (given to the SealedSecret) too; patched or foreign Secrets never.
        let managed = secret(&[("a", "1")], &[(MANAGED_ANNOTATION, "true")], None);
        assert_eq!(plan_update(&managed, &desired, "u1"), WritePlan::Recreate);
        let patched = secret(&[("a", "1")], &[(PATCH_ANNOTATION, "true")], None);
        assert!(matches!(
            plan_update(&patched, &desired, "u1"),
            WritePlan::Update(_)
        ));
        let foreign = secret(&[("a", "1")], &[], None);
        assert!(matches!(
            plan_update(&foreign, &desired, "u1"),
            WritePlan::Unmanaged(_)
        ));
        // An explicit Opaque over a Secret without a type is no change.
        let mut untyped = existing.clone();
        untyped.type_ = None;
        desired.type_ = Some("Opaque".into());
        assert_eq!(plan_update(&untyped, &desired, "u1"), WritePlan::Unchanged);
    }

    #[test]
    fn immutability_dropped_from_the_template_recreates() {
        let mut existing = secret(&[("a", "1")], &[], Some("u1"));
        existing.immutable = Some(true);
        let desired = secret(&[("a", "2")], &[], Some("u1"));
        assert_eq!(plan_update(&existing, &desired, "u1"), WritePlan::Recreate);
        // Mutable to immutable is an ordinary update.
        let mutable = secret(&[("a", "1")], &[], Some("u1"));
        let mut frozen = secret(&[("a", "2")], &[], Some("u1"));
        frozen.immutable = Some(true);
        let WritePlan::Update(updated) = plan_update(&mutable, &frozen, "u1") else {
            panic!("expected an update");
        };
        assert_eq!(updated.immutable, Some(true));
    }

    #[test]
    fn missing_template_type_keeps_the_existing_type() {
        let mut existing = secret(&[("a", "1")], &[], Some("u1"));
        existing.type_ = Some("kubernetes.io/tls".into());
        let mut desired = secret(&[("a", "1")], &[], Some("u1"));
        desired.type_ = None;
        assert_eq!(plan_update(&existing, &desired, "u1"), WritePlan::Unchanged);
    }
}
