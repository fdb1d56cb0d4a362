// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! `spec.template.data` through the libraries, as the controller and
//! `kubeseal --recovery-unseal` wire them: `sealed_common::unseal` with the Go
//! text/template + Sprig engine of `gotemplate` over the items.

mod support;

use support::vectors;

use sealed_common::RsaPrivateKey;
use sealed_common::SealedSecret;
use sealed_common::codec::decode_stream;
use sealed_common::crypto::{decode_base64, seal_value};
use sealed_common::keys::parse_private_key_pem;
use sealed_common::unseal::{UnsealError, UnsealOptions, unseal};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn read(path: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(path.as_ref()).unwrap()
}

/// Upstream key `A`.
fn key_a() -> RsaPrivateKey {
    parse_private_key_pem(&read(support::key_a())).unwrap()
}

fn vector() -> SealedSecret {
    let docs: Vec<SealedSecret> =
        decode_stream(&read(vectors().join("template-data/strict/sealed.yaml"))).unwrap();
    docs.into_iter().next().unwrap()
}

fn open(sealed: &SealedSecret) -> Result<BTreeMap<String, Vec<u8>>, UnsealError> {
    let a = key_a();
    let engine = gotemplate::Engine::new();
    let options = UnsealOptions {
        templates: Some(&engine),
        ..UnsealOptions::default()
    };
    unseal(sealed, &[&a], options).map(|u| {
        u.secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect()
    })
}

fn with_templates(pairs: &[(&str, Option<&str>)]) -> SealedSecret {
    let mut sealed = vector();
    sealed.spec.template.data = Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_owned)))
            .collect(),
    );
    sealed
}

fn text(data: &BTreeMap<String, Vec<u8>>, key: &str) -> String {
    String::from_utf8(data[key].clone()).unwrap()
}

#[test]
fn the_vector_renders_exactly_as_upstream() {
    let v: Value =
        serde_json::from_slice(&read(vectors().join("template-data/strict/vector.json"))).unwrap();
    let expected: BTreeMap<String, Vec<u8>> = v["expected_plaintext_b64"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), decode_base64(v.as_str().unwrap()).unwrap()))
        .collect();
    assert_eq!(open(&vector()).unwrap(), expected);
}

#[test]
fn missing_keys_print_no_value_and_templates_see_only_items() {
    let data = open(&with_templates(&[
        (
            "m",
            Some(r#"{{ .nope }}|{{ index . "nope" }}|{{ .nope | default "d" }}"#),
        ),
        ("x", Some("{{ .a }}")),
        ("y", Some("{{ .x }}")),
    ]))
    .unwrap();
    assert_eq!(text(&data, "m"), "<no value>||d");
    assert_eq!(text(&data, "x"), "from-data");
    assert_eq!(text(&data, "y"), "<no value>");
}

#[test]
fn templates_override_items_and_null_drops_them() {
    let data = open(&with_templates(&[
        ("a", Some("{{ .a | upper }}")),
        ("b", None),
    ]))
    .unwrap();
    assert_eq!(text(&data, "a"), "FROM-DATA");
    assert!(!data.contains_key("b"));
}

#[test]
fn binary_items_pass_through_byte_for_byte() {
    let a = key_a();
    let mut sealed = with_templates(&[
        ("copy", Some("{{ .bin }}")),
        ("enc", Some("{{ .bin | b64enc }}")),
    ]);
    let bin = vec![0xff, 0x00, 0xfe, 0x80];
    let value = seal_value(a.public_key(), &bin, &sealed.label()).unwrap();
    sealed.spec.encrypted_data.insert("bin".into(), value);
    let data = open(&sealed).unwrap();
    assert_eq!(data["copy"], bin);
    assert_eq!(text(&data, "enc"), "/wD+gA==");
}

#[test]
fn removed_functions_are_refused_by_name() {
    for name in ["env", "expandenv", "getHostByName"] {
        let err = open(&with_templates(&[(
            "e",
            Some(&format!("{{{{ {name} \"x\" }}}}")),
        )]))
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            format!("template: e:1: function \"{name}\" not defined (e)")
        );
    }
}

#[test]
fn template_errors_name_the_key_and_hide_values() {
    let err = open(&with_templates(&[
        ("k", Some("{{ .a | int | upper }}")),
        ("f", Some("{{ fail .b }}")),
    ]))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(r#"template: k:1:14: executing "k" at <upper>: wrong type for value; expected string; got int (k)"#),
        "{err}"
    );
    assert!(err.contains("error calling fail"), "{err}");
    assert!(
        !err.contains("from-data") && !err.contains("from-stringData"),
        "{err}"
    );
}

/// The budgets are the object's: nine values of one `htpasswd` each fail at the ninth,
/// and 20 values of 100,000 loop steps each at the tenth (upstream has no budget).
#[test]
fn template_budgets_hold_per_sealed_secret() {
    let hashes: Vec<(String, Option<&str>)> = (1..=9)
        .map(|i| (format!("h{i}"), Some(r#"{{ htpasswd "u" .a }}"#)))
        .collect();
    let pairs: Vec<(&str, Option<&str>)> = hashes.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let err = open(&with_templates(&pairs)).unwrap_err();
    assert_eq!(
        err,
        UnsealError::TemplateBudget {
            key: "h9".into(),
            what: "more than 8 bcrypt/htpasswd calls".into()
        }
    );
    assert_eq!(
        err.to_string(),
        r#"template "h9": more than 8 bcrypt/htpasswd calls in one SealedSecret"#
    );
    assert_eq!(open(&with_templates(&pairs[..8])).unwrap().len(), 8 + 2);

    let loops: Vec<(String, Option<&str>)> = (10..30)
        .map(|i| (format!("l{i}"), Some("{{ range until 100000 }}{{ end }}")))
        .collect();
    let pairs: Vec<(&str, Option<&str>)> = loops.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let err = open(&with_templates(&pairs)).unwrap_err().to_string();
    assert_eq!(
        err,
        r#"template "l19": more than 1000000 template steps in one SealedSecret"#
    );
}
