//! Bodies of the `fuzz/` targets over sealed-common, one plain function per target.
//! The fuzz crate (`fuzz/fuzz_targets/*.rs`, nightly) and `tests/fuzz_corpus.rs`
//! (stable, every corpus file) both include this file, so CI replays the corpus
//! without a nightly toolchain. A panic here is a finding: either the code panicked or
//! one of the properties checked below does not hold.
#![allow(dead_code)]

use k8s_openapi::api::core::v1::Secret;
use sealed_common::codec::{self, Format, SEALED_SECRET, decode_kind, decode_stream, to_text};
use sealed_common::crypto::{self, DecryptError, LastHitFirst};
use sealed_common::envelope::{self, KEY_ID_LEN, LayoutError};
use sealed_common::key_secret::{key_from_secret, parse_key_backup};
use sealed_common::keys::{
    Certificate, go_long_date, parse_private_key_pem, private_key_from_pkcs1_der,
    private_key_from_pkcs8_der, private_key_to_pkcs1_pem,
};
use sealed_common::seal::{SealOptions, seal_secret};
use sealed_common::sealed_secret::{API_VERSION, KIND};
use sealed_common::secret::SecretDocument;
use sealed_common::unseal::{TemplateEngine, UnsealOptions, unseal};
use sealed_common::{RsaPrivateKey, SealedSecret};
use std::path::Path;
use std::sync::OnceLock;

/// A fixed 2048-bit key (`fuzz/fixtures/tls.key`): fast enough to run thousands of
/// decryptions a second, and the key the corpus seeds are sealed to.
const KEY_PEM: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fuzz/fixtures/tls.key"
));
/// A second key, so that key order and "no key could decrypt" are exercised.
const OTHER_KEY_PEM: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fuzz/fixtures/other.key"
));

/// The most documents of one input that go through the costly steps (RSA, templates):
/// a corpus of huge streams would only slow the fuzzer down.
const MAX_OPENED: usize = 4;

fn key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| parse_private_key_pem(KEY_PEM).expect("fuzz/fixtures/tls.key"))
}

fn other_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| parse_private_key_pem(OTHER_KEY_PEM).expect("fuzz/fixtures/other.key"))
}

fn assert_one_line(what: &str, message: &str) {
    assert!(
        !message.contains(['\n', '\r']),
        "{what}: the error is not one line: {message:?}"
    );
}

/// Target `sealed_blob`: the binary sealed-value format (length prefix, RSA part,
/// AES-GCM part) and its base64 form.
pub fn sealed_blob(data: &[u8]) {
    match envelope::split(data) {
        Ok((rsa, aes)) => {
            let announced = usize::from(u16::from_be_bytes([data[0], data[1]]));
            assert_eq!(rsa.len(), announced);
            assert_eq!(2 + rsa.len() + aes.len(), data.len());
        }
        Err(LayoutError::TooShort(n)) => assert!(n < 2 && n == data.len()),
        Err(LayoutError::Truncated {
            announced,
            available,
        }) => assert!(available < announced && available + 2 == data.len()),
        Err(other) => panic!("split cannot fail with {other:?}"),
    }
    // Either layout: what parses accounts for every byte.
    if let Ok(parsed) = envelope::parse(data) {
        let per_wrap = if parsed.several { KEY_ID_LEN + 2 } else { 2 };
        let header = if parsed.several { 4 } else { 0 };
        let wrapped: usize = parsed.wraps.iter().map(|w| per_wrap + w.rsa.len()).sum();
        assert_eq!(header + wrapped + parsed.payload.len(), data.len());
    }

    // Arbitrary bytes as a sealed value: only the right key may open it.
    let keys = [other_key(), key()];
    if let Ok((plain, index)) = crypto::hybrid_decrypt(keys, data, b"") {
        // Forging RSA-OAEP is out of the fuzzer's reach; this means a seed was sealed
        // to a fixture key on purpose.
        assert!(index < keys.len());
        drop(plain);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let budget = crypto::RsaBudget::default();
        let mut opener = LastHitFirst::new(&keys, &budget);
        if let Err(e) = opener.open(text, b"fuzz") {
            assert_one_line("open", &e.to_string());
        }
    }

    // The bytes as a plaintext: sealing then opening gives them back, under the same
    // label only.
    let label: &[u8] = data.get(..data.len().min(16)).unwrap_or_default();
    let sealed = crypto::hybrid_encrypt(key().public_key(), data, label).expect("seal");
    let (plain, index) = crypto::hybrid_decrypt([other_key(), key()], &sealed, label)
        .expect("open what was just sealed");
    assert_eq!((plain.as_slice(), index), (data, 1));
    let mut wrong = label.to_vec();
    wrong.push(b'!');
    assert_eq!(
        crypto::hybrid_decrypt([key()], &sealed, &wrong).err(),
        Some(DecryptError::NoKey)
    );
}

/// Target `pem_keys`: PEM and DER private keys and certificates, key Secrets and key
/// backups (`kubeseal --recovery-private-key`).
pub fn pem_keys(data: &[u8]) {
    if let Ok(key) = parse_private_key_pem(data) {
        // What the controller writes back must read back as the same key.
        let pem = private_key_to_pkcs1_pem(&key).expect("re-encode a parsed key");
        let again = parse_private_key_pem(pem.as_bytes()).expect("parse a re-encoded key");
        assert_eq!(
            again.public_key().spki_der(),
            key.public_key().spki_der(),
            "a key changed through PKCS#1 PEM"
        );
    }
    if let Ok(cert) = Certificate::from_pem(data) {
        let again = Certificate::from_pem(cert.to_pem().as_bytes()).expect("re-read a cert");
        assert_eq!(again.der(), cert.der());
        assert!(!cert.fingerprint().is_empty());
        assert!(!go_long_date(cert.not_after()).is_empty());
        assert!(!go_long_date(cert.not_before()).is_empty());
        let _ = cert.check_not_expired(std::time::SystemTime::now());
    }
    // The same bytes as DER.
    let _ = private_key_from_pkcs1_der(data);
    let _ = private_key_from_pkcs8_der(data);
    let _ = Certificate::from_der(data);

    match parse_key_backup(data) {
        Ok(keys) => assert!(!keys.is_empty()),
        Err(e) => assert_one_line("key backup", &e.to_string()),
    }
    if let Ok(secrets) = decode_stream::<Secret>(data) {
        for secret in secrets.iter().take(MAX_OPENED) {
            if let Err(e) = key_from_secret(secret) {
                assert_one_line("key Secret", &e.to_string());
            }
        }
    }
}

/// Target `decode`: the YAML/JSON stream decoder as `kubeseal` uses it, and the
/// Secret -> SealedSecret -> text -> SealedSecret -> Secret round trip for every
/// Secret that decodes.
pub fn decode(data: &[u8]) {
    if let Err(e) = decode_stream::<serde_json::Value>(data) {
        assert_one_line("decode_stream", &e.to_string());
    }
    if let Err(e) = decode_kind::<SealedSecret>(data, KIND, API_VERSION, false) {
        assert_one_line("decode_kind SealedSecret", &e.to_string());
    }
    let documents = match decode_kind::<SecretDocument>(data, "Secret", "v1", false) {
        Ok(documents) => documents,
        Err(e) => return assert_one_line("decode_kind Secret", &e.to_string()),
    };
    let options = SealOptions {
        default_namespace: Some("fuzz".to_owned()),
        allow_empty_data: true,
        ..SealOptions::default()
    };
    for document in documents.into_iter().take(MAX_OPENED) {
        let Ok(plain) = document.into_plain() else {
            continue;
        };
        let Ok(sealed) = seal_secret(&plain, key().public_key(), &options) else {
            continue;
        };
        for format in [Format::Json, Format::Yaml] {
            let value = serde_json::to_value(&sealed).expect("a SealedSecret is JSON");
            let text = to_text(&value, &SEALED_SECRET, format).expect("print a SealedSecret");
            let read: Vec<SealedSecret> = decode_kind(text.as_bytes(), KIND, API_VERSION, true)
                .unwrap_or_else(|e| {
                    panic!("our own {format:?} output does not read back: {e}\n{text}")
                });
            assert_eq!(read.len(), 1, "{text}");
            let opened = unseal(&read[0], &[key()], UnsealOptions::default())
                .unwrap_or_else(|e| panic!("our own SealedSecret does not open: {e}\n{text}"));
            let data = opened.secret.data.unwrap_or_default();
            assert_eq!(data.len(), plain.items.len());
            for (item, value) in &plain.items {
                assert_eq!(
                    data.get(item).map(|b| b.0.as_slice()),
                    Some(value.as_slice()),
                    "item {item:?} changed through sealing"
                );
            }
        }
    }
    let _ = codec::looks_like_json(&String::from_utf8_lossy(data));
}

/// Target `unseal`: SealedSecret -> Secret with `spec.template.data` rendered by
/// `engine`, as the controller and `kubeseal --recovery-unseal` do it. The callers pass
/// `gotemplate::Engine` (this crate does not depend on gotemplate).
pub fn unseal_templates(data: &[u8], engine: &dyn TemplateEngine) {
    let Ok(documents) = decode_kind::<SealedSecret>(data, KIND, API_VERSION, false) else {
        return;
    };
    let keys = [other_key(), key()];
    for accept_v1_data in [false, true] {
        let options = UnsealOptions {
            accept_v1_data,
            templates: Some(engine),
        };
        for sealed in documents.iter().take(MAX_OPENED) {
            match unseal(sealed, &keys, options) {
                Ok(opened) => {
                    assert!(opened.key_index.is_none_or(|i| i < keys.len()));
                    assert_eq!(opened.secret.metadata.name, sealed.metadata.name);
                }
                Err(e) => {
                    let message = e.to_string();
                    assert!(!message.is_empty());
                }
            }
        }
    }
}

/// Runs `body` over every file of `fuzz/corpus/TARGET` (sorted), on stable: a panic in
/// any of them fails the test and names the file.
pub fn replay(target: &str, body: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no corpus files", dir.display());
    for file in files {
        let data = std::fs::read(&file).unwrap();
        let outcome = std::panic::catch_unwind(|| body(&data));
        assert!(outcome.is_ok(), "{} fails", file.display());
    }
}
