// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! Secret <-> SealedSecret rules beyond the wire format: template metadata, the
//! ownerReference rule, template data, the legacy `spec.data` format, and sealing options.

mod support;

use sealed_common::crypto::{encode_base64, hybrid_encrypt};
use sealed_common::keys::Certificate;
use sealed_common::scope::{CLUSTER_WIDE_ANNOTATION, SKIP_SET_OWNER_REFERENCES_ANNOTATION};
use sealed_common::seal::{SealError, SealOptions, seal_secret};
use sealed_common::secret::PlainSecret;
use sealed_common::unseal::{
    TemplateBatch, TemplateEngine, TemplateError, UnsealError, UnsealOptions, unseal,
};
use sealed_common::{RsaPrivateKey, Scope};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

fn keys() -> (RsaPrivateKey, Certificate) {
    (support::key("A"), support::cert("A"))
}

fn plain(name: &str, namespace: &str, items: &[(&str, &str)]) -> PlainSecret {
    let mut s = PlainSecret::default();
    s.metadata.name = Some(name.into()).filter(|n: &String| !n.is_empty());
    s.metadata.namespace = Some(namespace.into()).filter(|n: &String| !n.is_empty());
    s.items = items
        .iter()
        .map(|(k, v)| (k.to_string(), Zeroizing::new(v.as_bytes().to_vec())))
        .collect();
    s
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn unsealed_secret_takes_template_metadata_and_forced_identity() {
    let (key, cert) = keys();
    let mut secret = plain("app", "prod", &[("k", "v")]);
    secret.metadata.labels = Some(map(&[("team", "a")]));
    secret.metadata.annotations = Some(map(&[("note", "x")]));
    secret.type_ = Some("kubernetes.io/basic-auth".into());
    secret.immutable = Some(true);
    let mut sealed = seal_secret(&secret, cert.public_key(), &SealOptions::default()).unwrap();
    sealed.metadata.uid = Some("uid-123".into());
    // A template that claims another identity does not win.
    sealed.spec.template.metadata.as_mut().unwrap().name = Some("other".into());

    let out = unseal(&sealed, &[&key], UnsealOptions::default())
        .unwrap()
        .secret;
    assert_eq!(out.metadata.name.as_deref(), Some("app"));
    assert_eq!(out.metadata.namespace.as_deref(), Some("prod"));
    assert_eq!(out.metadata.labels, Some(map(&[("team", "a")])));
    assert_eq!(out.metadata.annotations, Some(map(&[("note", "x")])));
    assert_eq!(out.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_eq!(out.immutable, Some(true));
    let owner = &out.metadata.owner_references.unwrap()[0];
    assert_eq!(
        (
            owner.api_version.as_str(),
            owner.kind.as_str(),
            owner.name.as_str(),
            owner.uid.as_str(),
            owner.controller
        ),
        (
            "bitnami.com/v1alpha1",
            "SealedSecret",
            "app",
            "uid-123",
            Some(true)
        )
    );
}

#[test]
fn skip_set_owner_references_annotation_leaves_the_secret_unowned() {
    let (key, cert) = keys();
    let mut secret = plain("app", "prod", &[("k", "v")]);
    secret.metadata.annotations = Some(map(&[(SKIP_SET_OWNER_REFERENCES_ANNOTATION, "true")]));
    let sealed = seal_secret(&secret, cert.public_key(), &SealOptions::default()).unwrap();
    let out = unseal(&sealed, &[&key], UnsealOptions::default())
        .unwrap()
        .secret;
    assert!(out.metadata.owner_references.is_none());

    let mut not_exactly_true = plain("app", "prod", &[("k", "v")]);
    not_exactly_true.metadata.annotations =
        Some(map(&[(SKIP_SET_OWNER_REFERENCES_ANNOTATION, "True")]));
    let sealed = seal_secret(
        &not_exactly_true,
        cert.public_key(),
        &SealOptions::default(),
    )
    .unwrap();
    let out = unseal(&sealed, &[&key], UnsealOptions::default())
        .unwrap()
        .secret;
    assert!(out.metadata.owner_references.is_some());
}

#[test]
fn scope_comes_from_the_object_not_the_template() {
    let (key, cert) = keys();
    let mut sealed = seal_secret(
        &plain("app", "prod", &[("k", "v")]),
        cert.public_key(),
        &SealOptions::default(),
    )
    .unwrap();
    // Widening through the template must not change the label used to open.
    sealed.spec.template.metadata.as_mut().unwrap().annotations =
        Some(map(&[(CLUSTER_WIDE_ANNOTATION, "true")]));
    assert_eq!(sealed.scope(), Scope::Strict);
    assert!(unseal(&sealed, &[&key], UnsealOptions::default()).is_ok());
    sealed.metadata.namespace = Some("elsewhere".into());
    assert!(unseal(&sealed, &[&key], UnsealOptions::default()).is_err());
}

/// Replaces `{{ .k }}` with the item `k` in capitals; a batch may render `budget`
/// templates, then runs out.
struct Upper {
    budget: usize,
}

struct UpperBatch<'a> {
    items: &'a BTreeMap<String, Vec<u8>>,
    left: usize,
}

impl TemplateEngine for Upper {
    fn batch<'a>(&'a self, items: &'a BTreeMap<String, Vec<u8>>) -> Box<dyn TemplateBatch + 'a> {
        Box::new(UpperBatch {
            items,
            left: self.budget,
        })
    }
}

impl TemplateBatch for UpperBatch<'_> {
    fn render(&mut self, _key: &str, template: &str) -> Result<Vec<u8>, TemplateError> {
        if template.contains("fail") {
            return Err(TemplateError::Failed("it says fail".into()));
        }
        let Some(left) = self.left.checked_sub(1) else {
            return Err(TemplateError::OverBudget("more than a few renders".into()));
        };
        self.left = left;
        let k = String::from_utf8_lossy(&self.items["k"]).to_uppercase();
        Ok(template.replace("{{ .k }}", &k).into_bytes())
    }
}

#[test]
fn template_data_literals_nulls_and_engine() {
    let (key, cert) = keys();
    let mut sealed = seal_secret(
        &plain("app", "prod", &[("k", "v"), ("drop", "x")]),
        cert.public_key(),
        &SealOptions::default(),
    )
    .unwrap();
    let mut data = BTreeMap::new();
    data.insert("literal".to_owned(), Some("plain text".to_owned()));
    data.insert("drop".to_owned(), None);
    sealed.spec.template.data = Some(data.clone());
    let out = unseal(&sealed, &[&key], UnsealOptions::default())
        .unwrap()
        .secret
        .data
        .unwrap();
    assert_eq!(out.keys().collect::<Vec<_>>(), ["k", "literal"]);
    assert_eq!(out["literal"].0, b"plain text");

    data.insert("rendered".to_owned(), Some("[{{ .k }}]".to_owned()));
    sealed.spec.template.data = Some(data);
    let err = unseal(&sealed, &[&key], UnsealOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.ends_with("(rendered)"), "{err}");
    let engine = Upper { budget: 3 };
    let options = UnsealOptions {
        templates: Some(&engine),
        ..UnsealOptions::default()
    };
    let out = unseal(&sealed, &[&key], options)
        .unwrap()
        .secret
        .data
        .unwrap();
    assert_eq!(out["rendered"].0, b"[V]");
}

/// One budget per SealedSecret: failures are gathered, but once the budget runs out the
/// object fails at that key and nothing more is rendered.
#[test]
fn template_budget_is_per_object_and_stops_rendering() {
    let (key, cert) = keys();
    let mut sealed = seal_secret(
        &plain("app", "prod", &[("k", "v")]),
        cert.public_key(),
        &SealOptions::default(),
    )
    .unwrap();
    let engine = Upper { budget: 2 };
    let options = UnsealOptions {
        templates: Some(&engine),
        ..UnsealOptions::default()
    };
    let templates = |n: usize| {
        (0..n)
            .map(|i| (format!("t{i}"), Some("{{ .k }}".to_owned())))
            .collect::<BTreeMap<_, _>>()
    };
    sealed.spec.template.data = Some(templates(2));
    assert!(unseal(&sealed, &[&key], options).is_ok());

    let mut data = templates(3);
    data.insert("a-fails".into(), Some("fail".into()));
    data.insert("b-fails".into(), Some("fail".into()));
    sealed.spec.template.data = Some(data);
    let err = unseal(&sealed, &[&key], options).unwrap_err();
    assert_eq!(
        err,
        UnsealError::TemplateBudget {
            key: "t2".into(),
            what: "more than a few renders".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "template \"t2\": more than a few renders in one SealedSecret"
    );

    sealed.spec.template.data = Some(
        [
            ("a".to_owned(), Some("fail".to_owned())),
            ("b".to_owned(), Some("fail".to_owned())),
        ]
        .into(),
    );
    assert_eq!(
        unseal(&sealed, &[&key], options).unwrap_err().to_string(),
        "it says fail (a, b)"
    );
}

fn legacy_sealed(key_cert: &Certificate, both: bool) -> sealed_common::SealedSecret {
    let json = br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"old","namespace":"ns","labels":{"l":"1"}},"data":{"k":"dg=="},"type":"Opaque"}"#;
    let blob = hybrid_encrypt(key_cert.public_key(), json, b"ns/old").unwrap();
    let mut sealed = sealed_common::SealedSecret::new("old", Default::default());
    sealed.metadata.namespace = Some("ns".into());
    sealed.spec.data = Some(encode_base64(&blob));
    if both {
        sealed.spec.encrypted_data.insert("x".into(), "AgA=".into());
    }
    sealed
}

#[test]
fn legacy_whole_object_data_needs_the_flag() {
    let (key, cert) = keys();
    let sealed = legacy_sealed(&cert, false);
    assert_eq!(
        unseal(&sealed, &[&key], UnsealOptions::default()).unwrap_err(),
        UnsealError::DeprecatedData
    );
    let options = UnsealOptions {
        accept_v1_data: true,
        ..UnsealOptions::default()
    };
    let out = unseal(&sealed, &[&key], options).unwrap();
    assert_eq!(out.key_index, Some(0));
    let secret = out.secret;
    assert_eq!(secret.data.unwrap()["k"].0, b"v");
    assert_eq!(secret.metadata.labels, Some(map(&[("l", "1")])));
    assert_eq!(secret.type_.as_deref(), Some("Opaque"));
    assert_eq!(
        unseal(&legacy_sealed(&cert, true), &[&key], options)
            .unwrap_err()
            .to_string(),
        "cannot use the field 'encryptedData' and the deprecated field 'data' at the same time"
    );
}

#[test]
fn sealing_rules() {
    let (_, cert) = keys();
    let pk = cert.public_key();
    let base = plain("app", "prod", &[("k", "v")]);
    let flag = |ns: &str| SealOptions {
        namespace_flag: Some(ns.into()),
        ..SealOptions::default()
    };
    assert!(matches!(
        seal_secret(&base, pk, &flag("dev")),
        Err(SealError::NamespaceMismatch { .. })
    ));
    assert!(seal_secret(&base, pk, &flag("prod")).is_ok());
    let unnamespaced = plain("app", "", &[("k", "v")]);
    let sealed = seal_secret(&unnamespaced, pk, &flag("dev")).unwrap();
    assert_eq!(sealed.namespace(), "dev");
    let defaulted = SealOptions {
        default_namespace: Some("ctx".into()),
        ..SealOptions::default()
    };
    assert_eq!(
        seal_secret(&unnamespaced, pk, &defaulted)
            .unwrap()
            .namespace(),
        "ctx"
    );
    assert_eq!(
        seal_secret(&unnamespaced, pk, &SealOptions::default()).unwrap_err(),
        SealError::MissingNamespace
    );
    let forced = SealOptions {
        force_namespace: Some("forced".into()),
        namespace_flag: Some("x".into()),
        ..SealOptions::default()
    };
    assert_eq!(
        seal_secret(&base, pk, &forced).unwrap().namespace(),
        "forced"
    );
    let mut empty = base.clone();
    empty.items.clear();
    empty.declared_empty = true;
    assert_eq!(
        seal_secret(&empty, pk, &SealOptions::default()).unwrap_err(),
        SealError::EmptyData
    );
    let allow = SealOptions {
        allow_empty_data: true,
        ..SealOptions::default()
    };
    assert!(
        seal_secret(&empty, pk, &allow)
            .unwrap()
            .spec
            .encrypted_data
            .is_empty()
    );
    let renamed = SealOptions {
        name: Some("new".into()),
        ..SealOptions::default()
    };
    let sealed = seal_secret(&plain("", "prod", &[("k", "v")]), pk, &renamed).unwrap();
    assert_eq!(sealed.name(), "new");
    assert_eq!(
        sealed.spec.template.metadata.unwrap().name.as_deref(),
        Some("new")
    );
    assert_eq!(
        seal_secret(
            &plain("", "prod", &[("k", "v")]),
            pk,
            &SealOptions::default()
        )
        .unwrap_err(),
        SealError::MissingName
    );
}

#[test]
fn unsealing_reports_every_value_within_the_rsa_budget_and_names_the_object_past_it() {
    use sealed_common::crypto::RsaBudget;
    use sealed_common::unseal::unseal_within;
    let (a, b) = (support::key("A"), support::key("B"));
    let mut sealed = sealed_common::SealedSecret::new("big", Default::default());
    sealed.metadata.namespace = Some("ns".into());
    let size = a.size_bytes();
    for i in 0..10 {
        let mut raw = u16::try_from(size).unwrap().to_be_bytes().to_vec();
        raw.extend((0..size + 16).map(|j| ((i * 13 + j * 5) % 251) as u8));
        sealed
            .spec
            .encrypted_data
            .insert(format!("v{i}"), encode_base64(&raw));
    }
    // The controller tries every value so its status names all that do not open.
    let budget = RsaBudget::default();
    let err = unseal_within(&sealed, &[&a, &b], UnsealOptions::default(), &budget).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("no key could decrypt secret (v0, v1,"),
        "{err}"
    );
    assert_eq!(budget.used(), 20);
    let budget = RsaBudget::new(7);
    let err = unseal_within(&sealed, &[&a, &b], UnsealOptions::default(), &budget).unwrap_err();
    assert_eq!(
        err.to_string(),
        "SealedSecret \"ns/big\" has 10 sealed values and 2 keys to try: opening it needs more than 7 RSA decryptions, the limit per SealedSecret"
    );
    assert_eq!(budget.used(), 7);
    // The legacy blob draws from the same budget.
    let (_, cert) = keys();
    let legacy = legacy_sealed(&cert, false);
    let options = UnsealOptions {
        accept_v1_data: true,
        ..UnsealOptions::default()
    };
    let err = unseal_within(&legacy, &[&b, &a], options, &RsaBudget::new(1)).unwrap_err();
    assert!(matches!(
        err,
        UnsealError::OverBudget {
            items: 1,
            keys: 2,
            limit: 1,
            ..
        }
    ));
}
