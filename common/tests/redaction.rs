// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! `Debug` of every type that holds plaintext or a private key prints names and
//! lengths, never a value: each is built around a known marker and formatted with
//! `{:?}` and `{:#?}`.

mod support;

use sealed_common::codec::decode_stream;
use sealed_common::crypto::encode_base64;
use sealed_common::key_secret::{StoredKey, key_from_secret, key_to_secret};
use sealed_common::keys::{KeyPair, private_key_to_pkcs1_pem};
use sealed_common::seal::{SealOptions, seal_secret};
use sealed_common::secret::{PlainSecret, SecretDebug, SecretDocument, wipe_json, wipe_secret};
use sealed_common::unseal::{
    TemplateBatch, TemplateEngine, TemplateError, UnsealOptions, Unsealed, unseal,
};
use std::collections::BTreeMap;
use std::fmt::Debug;

const MARKER: &str = "MARKER-7f3c-plaintext";

/// Everything a value could show up as in `Debug` output: as text, as base64, and as
/// the byte list a derived `Debug` of `Vec<u8>` prints.
fn forms(value: &[u8]) -> Vec<String> {
    let bytes: Vec<String> = value.iter().map(u8::to_string).collect();
    vec![
        String::from_utf8_lossy(value).into_owned(),
        encode_base64(value),
        bytes.join(", "),
    ]
}

fn assert_redacted(what: &str, holder: &impl Debug, secrets: &[Vec<u8>]) {
    for text in [format!("{holder:?}"), format!("{holder:#?}")] {
        for secret in secrets {
            for form in forms(secret) {
                assert!(!text.contains(&form), "{what} prints {form:?}: {text}");
            }
        }
        assert!(
            text.contains("redacted") || what.contains("key"),
            "{what}: {text}"
        );
    }
}

fn document() -> SecretDocument {
    let last_applied = format!(r#"{{"stringData":{{"token":"{MARKER}"}}}}"#);
    let yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  namespace: prod\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{last_applied}'\ndata:\n  password: {}\nstringData:\n  token: {MARKER}\n",
        encode_base64(MARKER.as_bytes())
    );
    let mut docs: Vec<SecretDocument> = decode_stream(yaml.as_bytes()).unwrap();
    docs.remove(0)
}

#[test]
fn secret_document_and_plain_secret_print_no_value() {
    let doc = document();
    let text = format!("{doc:?}");
    assert!(
        text.contains("password") && text.contains("token"),
        "{text}"
    );
    assert!(text.contains("<redacted 21 bytes>"), "{text}");
    assert_redacted("SecretDocument", &doc, &[MARKER.as_bytes().to_vec()]);

    let plain: PlainSecret = doc.into_plain().unwrap();
    assert_eq!(plain.items["password"].as_slice(), MARKER.as_bytes());
    let text = format!("{plain:?}");
    assert!(text.contains("\"password\": <redacted 21 bytes>"), "{text}");
    assert!(text.contains("name: Some(\"app\")"), "{text}");
    assert_redacted("PlainSecret", &plain, &[MARKER.as_bytes().to_vec()]);
}

#[test]
fn unsealed_secrets_print_no_value() {
    let key = support::key("A");
    let cert = support::cert("A");
    let mut plain = PlainSecret::default();
    plain.metadata.name = Some("app".into());
    plain.metadata.namespace = Some("prod".into());
    plain
        .items
        .insert("password".into(), MARKER.as_bytes().to_vec().into());
    let mut sealed = seal_secret(&plain, cert.public_key(), &SealOptions::default()).unwrap();
    let render = Suffix;
    sealed.spec.template.data = Some(BTreeMap::from([(
        "derived".to_owned(),
        Some("{{ .password }}-rendered".to_owned()),
    )]));
    let options = UnsealOptions {
        templates: Some(&render),
        ..UnsealOptions::default()
    };
    let mut opened: Unsealed = unseal(&sealed, &[&key], options).unwrap();
    let data = opened.secret.data.clone().unwrap();
    assert_eq!(data["password"].0, MARKER.as_bytes());
    let rendered = format!("{MARKER}-rendered").into_bytes();
    assert_eq!(data["derived"].0, rendered);
    let secrets = [MARKER.as_bytes().to_vec(), rendered];
    assert_redacted("Unsealed", &opened, &secrets);
    assert_redacted("SecretDebug", &SecretDebug(&opened.secret), &secrets);

    let mut json = serde_json::to_value(&opened.secret).unwrap();
    wipe_secret(&mut opened.secret);
    let wiped = opened.secret.data.as_ref().unwrap();
    assert!(wiped.values().all(|v| v.0.is_empty()), "{wiped:?}");
    wipe_json(&mut json);
    assert!(!json.to_string().contains(&encode_base64(MARKER.as_bytes())));
}

#[test]
fn key_holders_print_no_key_material() {
    let pair = KeyPair {
        private_key: support::key("A"),
        certificate: support::cert("A"),
    };
    let pem = private_key_to_pkcs1_pem(&pair.private_key).unwrap();
    // Every base64 line of the PEM body is a piece of the key.
    let lines: Vec<Vec<u8>> = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(|l| l.as_bytes().to_vec())
        .collect();
    assert!(lines.len() > 10);
    let der = pem::parse(pem.as_bytes()).unwrap().into_contents();
    let mut secrets = lines.clone();
    // The end of the DER is the CRT coefficient: private, unlike the modulus.
    secrets.push(der[der.len() - 64..].to_vec());
    assert_redacted("KeyPair key", &pair, &secrets);

    let secret = key_to_secret(
        &pair,
        "kube-system",
        "sealed-secrets-key",
        &BTreeMap::new(),
        &BTreeMap::new(),
    )
    .unwrap();
    let mut with_pem = secrets.clone();
    with_pem.push(pem.as_bytes().to_vec());
    assert_redacted("key Secret", &SecretDebug(&secret), &with_pem);
    let stored: StoredKey = key_from_secret(&secret).unwrap();
    assert_redacted("StoredKey key", &stored, &secrets);
}

/// A template engine that appends `-rendered` to the item `password`.
struct Suffix;

struct SuffixBatch<'a>(&'a BTreeMap<String, Vec<u8>>);

impl TemplateEngine for Suffix {
    fn batch<'a>(&'a self, items: &'a BTreeMap<String, Vec<u8>>) -> Box<dyn TemplateBatch + 'a> {
        Box::new(SuffixBatch(items))
    }
}

impl TemplateBatch for SuffixBatch<'_> {
    fn render(&mut self, _key: &str, _template: &str) -> Result<Vec<u8>, TemplateError> {
        let mut out = self.0["password"].clone();
        out.extend_from_slice(b"-rendered");
        Ok(out)
    }
}
