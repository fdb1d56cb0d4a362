// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! Keys and certificates: PEM forms, the certificate upstream's controller makes,
//! fingerprints, the key Secret form, and every refusal.

mod support;
use support::fixture;

use sealed_common::key_secret::{
    KEY_LABEL, KeySecretError, TLS_CERT, TLS_KEY, key_from_secret, key_to_secret,
    private_key_from_secret,
};
use sealed_common::keys::{
    Certificate, CertificateSpec, KeyError, KeyPair, fingerprint, parse_private_key_pem,
    private_key_to_pkcs1_pem, self_signed_certificate, subject_key_id,
};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use x509_cert::der::{Decode, Encode};

/// `(oid, critical, value)` of every extension.
fn extensions(der: &[u8]) -> BTreeMap<String, (bool, Vec<u8>)> {
    let cert = x509_cert::Certificate::from_der(der).unwrap();
    cert.tbs_certificate()
        .extensions()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e.extn_id.to_string(),
                (e.critical, e.extn_value.as_bytes().to_vec()),
            )
        })
        .collect()
}

const KEY_USAGE: &str = "2.5.29.15";
const BASIC_CONSTRAINTS: &str = "2.5.29.19";
const SUBJECT_KEY_ID: &str = "2.5.29.14";

#[test]
fn pkcs1_pem_round_trips_byte_for_byte() {
    let pem = fixture("A.tls.key");
    let key = parse_private_key_pem(&pem).unwrap();
    assert_eq!(
        private_key_to_pkcs1_pem(&key).unwrap().as_bytes(),
        pem.as_slice()
    );
}

#[test]
fn pkcs8_pem_is_accepted() {
    let key = parse_private_key_pem(&fixture("A.tls.key")).unwrap();
    let text = pem::encode(&pem::Pem::new(
        "PRIVATE KEY",
        key.to_pkcs8_der().unwrap().to_vec(),
    ));
    let again = parse_private_key_pem(text.as_bytes()).unwrap();
    assert_eq!(
        fingerprint(again.public_key()),
        fingerprint(key.public_key())
    );
}

#[test]
fn a_certificate_before_the_key_in_one_file_is_skipped() {
    let mut both = fixture("A.tls.crt");
    both.extend_from_slice(&fixture("A.tls.key"));
    assert!(parse_private_key_pem(&both).is_ok());
    assert!(Certificate::from_pem(&both).is_ok());
}

#[test]
fn bad_private_keys_are_refused_clearly() {
    assert_eq!(
        parse_private_key_pem(b"hello").unwrap_err(),
        KeyError::NoPrivateKey
    );
    assert_eq!(
        parse_private_key_pem(&fixture("A.tls.crt")).unwrap_err(),
        KeyError::NoPrivateKey
    );
    let broken = b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
    assert!(matches!(
        parse_private_key_pem(broken),
        Err(KeyError::InvalidPrivateKey(_))
    ));
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let err = parse_private_key_pem(ec.serialize_pem().as_bytes()).unwrap_err();
    assert_eq!(err, KeyError::PrivateKeyNotRsa("an EC key".into()));
    let garbled = b"-----BEGIN RSA PRIVATE KEY-----\n!!!\n-----END RSA PRIVATE KEY-----\n";
    assert!(parse_private_key_pem(garbled).is_err());
}

#[test]
fn bad_certificates_are_refused_clearly() {
    assert_eq!(
        Certificate::from_pem(b"not a cert").unwrap_err(),
        KeyError::NoCertificate
    );
    let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert!(matches!(
        Certificate::from_pem(garbage),
        Err(KeyError::InvalidCertificate(_))
    ));
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["x".to_owned()])
        .unwrap()
        .self_signed(&ec)
        .unwrap();
    let err = Certificate::from_pem(cert.pem().as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected RSA public key but found an EC key"
    );
}

#[test]
fn upstream_certificate_is_valid_ten_years() {
    let cert = Certificate::from_pem(&fixture("A.tls.crt")).unwrap();
    let life = cert.not_after().duration_since(cert.not_before()).unwrap();
    assert_eq!(life, Duration::from_secs(3650 * 24 * 3600));
    assert!(cert.check_not_expired(cert.not_before()).is_ok());
}

fn spec(cn: &str, not_before_secs: u64, days: u64) -> CertificateSpec {
    CertificateSpec {
        common_name: cn.to_owned(),
        not_before: UNIX_EPOCH + Duration::from_secs(not_before_secs),
        validity: Duration::from_secs(days * 24 * 3600),
    }
}

#[test]
fn our_certificate_has_upstreams_shape() {
    let key = parse_private_key_pem(&fixture("A.tls.key")).unwrap();
    let upstream = Certificate::from_pem(&fixture("A.tls.crt")).unwrap();
    let ours = self_signed_certificate(&key, &spec("", 1_800_000_000, 3650)).unwrap();

    let theirs_ext = extensions(upstream.der());
    let ours_ext = extensions(ours.der());
    assert_eq!(
        ours_ext.keys().collect::<Vec<_>>(),
        theirs_ext.keys().collect::<Vec<_>>()
    );
    assert_eq!(ours_ext[KEY_USAGE], theirs_ext[KEY_USAGE]);
    assert_eq!(ours_ext[BASIC_CONSTRAINTS], theirs_ext[BASIC_CONSTRAINTS]);
    // Same key, same SKI derivation: byte-identical.
    assert_eq!(ours_ext[SUBJECT_KEY_ID], theirs_ext[SUBJECT_KEY_ID]);
    let ski = &ours_ext[SUBJECT_KEY_ID].1;
    assert_eq!(&ski[2..], subject_key_id(key.public_key()).as_slice());

    let parsed = x509_cert::Certificate::from_der(ours.der()).unwrap();
    let tbs = parsed.tbs_certificate();
    let upstream_parsed = x509_cert::Certificate::from_der(upstream.der()).unwrap();
    assert_eq!(
        parsed.signature_algorithm(),
        upstream_parsed.signature_algorithm()
    );
    assert_eq!(tbs.version(), upstream_parsed.tbs_certificate().version());
    assert_eq!(
        tbs.issuer().to_der().unwrap(),
        upstream_parsed.tbs_certificate().issuer().to_der().unwrap()
    );
    assert_eq!(
        tbs.subject().to_der().unwrap(),
        tbs.issuer().to_der().unwrap()
    );
    let serial = tbs.serial_number().as_bytes();
    assert!(serial.len() <= 17 && serial[0] & 0x80 == 0, "{serial:?}");
    assert_eq!(
        ours.not_before(),
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    );
    assert_eq!(
        ours.not_after().duration_since(ours.not_before()).unwrap(),
        Duration::from_secs(3650 * 86400)
    );
    assert_eq!(ours.fingerprint(), upstream.fingerprint());
}

#[test]
fn common_name_goes_into_subject_and_issuer() {
    let key = parse_private_key_pem(&fixture("B.tls.key")).unwrap();
    let cert =
        self_signed_certificate(&key, &spec("sealed-secrets.example", 1_800_000_000, 30)).unwrap();
    let parsed = x509_cert::Certificate::from_der(cert.der()).unwrap();
    assert_eq!(
        parsed.tbs_certificate().subject().to_string(),
        "CN=sealed-secrets.example"
    );
    assert_eq!(
        parsed.tbs_certificate().issuer().to_string(),
        "CN=sealed-secrets.example"
    );
}

#[test]
fn expired_certificate_is_refused_with_upstreams_message() {
    let key = parse_private_key_pem(&fixture("A.tls.key")).unwrap();
    // 2001-09-09T01:46:40Z, valid for one day.
    let cert = self_signed_certificate(&key, &spec("", 1_000_000_000, 1)).unwrap();
    let err = cert.check_not_expired(SystemTime::now()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to encrypt using an expired certificate on September 10, 2001"
    );
}

#[test]
fn key_secret_round_trips_and_matches_upstreams_form() {
    let pair = KeyPair {
        private_key: parse_private_key_pem(&fixture("A.tls.key")).unwrap(),
        certificate: Certificate::from_pem(&fixture("A.tls.crt")).unwrap(),
    };
    let labels = BTreeMap::from([("team".to_owned(), "platform".to_owned())]);
    let secret = key_to_secret(
        &pair,
        "kube-system",
        "sealed-secrets-key",
        &labels,
        &BTreeMap::new(),
    )
    .unwrap();
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    assert_eq!(
        secret.metadata.generate_name.as_deref(),
        Some("sealed-secrets-key")
    );
    let got_labels = secret.metadata.labels.clone().unwrap();
    assert_eq!(got_labels[KEY_LABEL], "active");
    assert_eq!(got_labels["team"], "platform");
    let data = secret.data.clone().unwrap();
    assert_eq!(data[TLS_KEY].0, fixture("A.tls.key"));
    assert_eq!(data[TLS_CERT].0, fixture("A.tls.crt"));
    let back = key_from_secret(&secret).unwrap();
    assert_eq!(
        fingerprint(back.private_key.public_key()),
        pair.certificate.fingerprint()
    );
}

#[test]
fn broken_key_secrets_name_the_secret() {
    let mut secret = k8s_openapi::api::core::v1::Secret::default();
    secret.metadata.name = Some("sealed-secrets-keyabcde".into());
    secret.metadata.namespace = Some("kube-system".into());
    assert_eq!(
        key_from_secret(&secret).unwrap_err().to_string(),
        "key Secret kube-system/sealed-secrets-keyabcde has no \"tls.key\" item"
    );
    secret.data = Some(BTreeMap::from([
        (
            TLS_KEY.to_owned(),
            k8s_openapi::ByteString(fixture("A.tls.key")),
        ),
        (
            TLS_CERT.to_owned(),
            k8s_openapi::ByteString(fixture("B.tls.crt")),
        ),
    ]));
    assert!(matches!(
        key_from_secret(&secret),
        Err(KeySecretError::CertificateMismatch { .. })
    ));
    // Recovery needs only the private key.
    assert!(private_key_from_secret(&secret).is_ok());
    secret.data = Some(BTreeMap::from([(
        TLS_KEY.to_owned(),
        k8s_openapi::ByteString(b"junk".to_vec()),
    )]));
    let err = key_from_secret(&secret).unwrap_err().to_string();
    assert!(err.starts_with("key Secret kube-system/sealed-secrets-keyabcde, item \"tls.key\": no RSA private key found"), "{err}");
}

#[test]
fn generated_2048_bit_key_pair_works() {
    let pair = sealed_common::keys::generate_key_pair(2048, &spec("", 1_800_000_000, 1)).unwrap();
    assert_eq!(pair.certificate.public_key().bits(), 2048);
    assert_eq!(
        pair.certificate.fingerprint(),
        fingerprint(pair.private_key.public_key())
    );
    let sealed =
        sealed_common::crypto::hybrid_encrypt(pair.certificate.public_key(), b"x", b"l").unwrap();
    let (plain, _) =
        sealed_common::crypto::hybrid_decrypt([&pair.private_key], &sealed, b"l").unwrap();
    assert_eq!(plain.as_slice(), b"x");
    assert!(matches!(
        sealed_common::keys::generate_key_pair(1000, &spec("", 0, 1)),
        Err(KeyError::Generate(_))
    ));
}

/// Found by the `pem_keys` fuzz target: the PEM parser quotes a damaged END line whole,
/// and in a key file that line can run into the key's own base64.
#[test]
fn a_damaged_pem_line_is_not_quoted_into_the_error() {
    let pem = String::from_utf8(fixture("A.tls.key")).unwrap();
    let secret_line = pem.lines().nth(5).unwrap().to_owned();
    let damaged = pem.replace(
        "-----END RSA PRIVATE KEY-----",
        &format!("-----END RSA PRIVATE KEY\n{secret_line}\n-----"),
    );
    for message in [
        parse_private_key_pem(damaged.as_bytes())
            .unwrap_err()
            .to_string(),
        Certificate::from_pem(damaged.as_bytes())
            .unwrap_err()
            .to_string(),
        sealed_common::key_secret::parse_key_backup(damaged.as_bytes())
            .unwrap_err()
            .to_string(),
    ] {
        assert!(!message.contains(&secret_line[..20]), "{message}");
        assert!(!message.contains('\n'), "{message}");
        assert!(message.contains("BEGIN line does not match"), "{message}");
    }
    // A plain mismatch still names both labels.
    let swapped = pem.replace("-----END RSA PRIVATE KEY-----", "-----END CERTIFICATE-----");
    assert_eq!(
        parse_private_key_pem(swapped.as_bytes())
            .unwrap_err()
            .to_string(),
        "malformed PEM: mismatching BEGIN (\"RSA PRIVATE KEY\") and END (\"CERTIFICATE\") tags"
    );
}
