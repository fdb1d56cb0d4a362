// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! Crypto benchmarks: opening and sealing items, unsealing a whole `SealedSecret`, and
//! 4096-bit key generation. See docs/benchmarks.md for what the figures mean.
//!
//! `cargo bench -p sealed-common --bench crypto [-- FILTER]`
//!
//! Every RSA key is 4096 bits. A and B are upstream's fixture keys; the 12-key lists add
//! 10 more keys, generated on the first run and cached as PEM under
//! `target/bench-keys/` (delete that directory to regenerate them).

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use sealed_common::crypto::{open_value, seal_value};
use sealed_common::keys::{
    Certificate, CertificateSpec, generate_key_pair, parse_private_key_pem,
    private_key_to_pkcs1_pem,
};
use sealed_common::recipients::seal_value_for;
use sealed_common::seal::{SealOptions, seal_secret};
use sealed_common::secret::PlainSecret;
use sealed_common::unseal::{UnsealOptions, unseal};
use sealed_common::{RsaPrivateKey, SealedSecret};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};
use zeroize::Zeroizing;

const EXTRA_KEYS: usize = 10;
const NAMESPACE: &str = "bench-ns";
const NAME: &str = "bench-secret";
/// Strict scope: the label is `namespace/name`.
const LABEL: &[u8] = b"bench-ns/bench-secret";
/// A typical secret value: a password.
const SMALL: &[u8] = b"correct horse battery staple";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = repo_root()
        .join("testdata/vectors/kubeseal-0.36.6/keys")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

struct Fixtures {
    a: RsaPrivateKey,
    b: RsaPrivateKey,
    cert_a: Certificate,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| Fixtures {
        a: parse_private_key_pem(&fixture("A.tls.key")).expect("A.tls.key"),
        b: parse_private_key_pem(&fixture("B.tls.key")).expect("B.tls.key"),
        cert_a: Certificate::from_pem(&fixture("A.tls.crt")).expect("A.tls.crt"),
    })
}

fn bench_keys_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo_root().join("target"), PathBuf::from)
        .join("bench-keys")
}

/// The 10 extra keys, read from the cache or generated once (up to seconds per key,
/// so spread over the cores and kept between runs).
fn extra_keys() -> &'static [RsaPrivateKey] {
    static K: OnceLock<Vec<RsaPrivateKey>> = OnceLock::new();
    K.get_or_init(|| {
        let dir = bench_keys_dir();
        std::fs::create_dir_all(&dir).expect("create target/bench-keys");
        let paths: Vec<PathBuf> = (0..EXTRA_KEYS)
            .map(|i| dir.join(format!("extra-{i:02}.key")))
            .collect();
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let chunk = EXTRA_KEYS.div_ceil(threads);
        let keys: Vec<RsaPrivateKey> = std::thread::scope(|s| {
            let handles: Vec<_> = paths
                .chunks(chunk)
                .map(|chunk| {
                    s.spawn(move || {
                        chunk
                            .iter()
                            .map(|p| load_or_generate(p))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("key thread"))
                .collect()
        });
        // The 12-key figures are only honest if no key repeats.
        let f = fixtures();
        let mut spkis: Vec<&[u8]> = keys.iter().map(|k| k.public_key().spki_der()).collect();
        spkis.push(f.a.public_key().spki_der());
        spkis.push(f.b.public_key().spki_der());
        spkis.sort();
        spkis.dedup();
        assert_eq!(
            spkis.len(),
            EXTRA_KEYS + 2,
            "bench keys are not all distinct"
        );
        keys
    })
}

fn load_or_generate(path: &Path) -> RsaPrivateKey {
    if let Ok(pem) = std::fs::read(path).map(Zeroizing::new)
        && let Ok(key) = parse_private_key_pem(&pem)
        && key.public_key().bits() == 4096
    {
        return key;
    }
    let spec = CertificateSpec {
        common_name: String::new(),
        not_before: SystemTime::now(),
        validity: Duration::from_secs(10 * 365 * 24 * 3600),
    };
    let pair = generate_key_pair(4096, &spec).expect("generate bench key");
    let pem = private_key_to_pkcs1_pem(&pair.private_key).expect("encode bench key");
    // Write then rename, so an interrupted run never leaves half a key behind.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, pem.as_bytes()).expect("write bench key");
    std::fs::rename(&tmp, path).expect("store bench key");
    pair.private_key
}

/// 12 distinct keys with A, the one that opens everything sealed here, last or first.
fn twelve_keys(right_first: bool) -> Vec<&'static RsaPrivateKey> {
    let f = fixtures();
    let mut list: Vec<&RsaPrivateKey> = std::iter::once(&f.b).chain(extra_keys()).collect();
    if right_first {
        list.insert(0, &f.a);
    } else {
        list.push(&f.a);
    }
    assert_eq!(list.len(), 12);
    list
}

fn bench_unseal_item(c: &mut Criterion) {
    let mut g = c.benchmark_group("unseal_item");
    // Flat sampling: the 12-key case takes tens of ms per iteration.
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));

    let sealed = || {
        static S: OnceLock<String> = OnceLock::new();
        S.get_or_init(|| seal_value(fixtures().a.public_key(), SMALL, LABEL).expect("seal"))
    };

    // What the item costs beyond one RSA private-key operation.
    g.bench_function("rsa_oaep_only", |b| {
        let f = fixtures();
        let raw = sealed_common::crypto::decode_base64(sealed()).expect("base64");
        let (rsa, _) = sealed_common::envelope::split(&raw).expect("split");
        b.iter(|| {
            f.a.oaep_decrypt_session_key(black_box(rsa), LABEL)
                .expect("open")
        });
    });
    g.bench_function("1_key", |b| {
        let keys = [&fixtures().a];
        b.iter(|| open_value(keys, black_box(sealed()), LABEL).expect("open"));
    });
    for (id, right_first) in [("12_keys_right_first", true), ("12_keys_right_last", false)] {
        g.bench_function(id, |b| {
            let keys = twelve_keys(right_first);
            // Untimed: make sure the key order is the one the name claims.
            let (_, index) = open_value(keys.iter().copied(), sealed(), LABEL).expect("open");
            assert_eq!(index, if right_first { 0 } else { 11 });
            b.iter(|| open_value(keys.iter().copied(), black_box(sealed()), LABEL).expect("open"));
        });
    }
    // Sealed for two other clusters' keys (testdata/multi-recipient C and D) and A, held
    // last of 12: each wrap names its key, so still one RSA decryption.
    g.bench_function("3_recipients_12_keys_right_last", |b| {
        let keys = twelve_keys(false);
        let (c, d) = (multi_recipient_cert("C"), multi_recipient_cert("D"));
        let recipients = [
            c.public_key(),
            d.public_key(),
            fixtures().cert_a.public_key(),
        ];
        let value = seal_value_for(&recipients, SMALL, LABEL).expect("seal");
        let (_, index) = open_value(keys.iter().copied(), &value, LABEL).expect("open");
        assert_eq!(index, 11);
        b.iter(|| open_value(keys.iter().copied(), black_box(&value), LABEL).expect("open"));
    });
    g.finish();
}

fn multi_recipient_cert(name: &str) -> Certificate {
    let path = repo_root().join(format!("testdata/multi-recipient/{name}.tls.crt"));
    let pem = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Certificate::from_pem(&pem).expect("certificate")
}

fn bench_seal_item(c: &mut Criterion) {
    let mut g = c.benchmark_group("seal_item");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let key = fixtures().cert_a.public_key();
    g.throughput(Throughput::Elements(1));
    g.bench_function("small", |b| {
        b.iter(|| seal_value(key, black_box(SMALL), LABEL).expect("seal"));
    });
    g.bench_function("small_3_recipients", |b| {
        let (c, d) = (multi_recipient_cert("C"), multi_recipient_cert("D"));
        let recipients = [key, c.public_key(), d.public_key()];
        b.iter(|| seal_value_for(&recipients, black_box(SMALL), LABEL).expect("seal"));
    });
    for (id, len) in [("64KiB", 64 << 10), ("1MiB", 1 << 20)] {
        // AES-GCM cost does not depend on the bytes.
        let payload = vec![0x5a_u8; len];
        g.throughput(Throughput::Bytes(payload.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(id), &payload, |b, p| {
            b.iter(|| seal_value(key, black_box(p), LABEL).expect("seal"));
        });
    }
    g.finish();
}

/// A 3-item Secret as users write them: user name, password, a small config file.
fn three_item_sealed_secret() -> SealedSecret {
    let mut secret = PlainSecret::default();
    secret.metadata.name = Some(NAME.to_owned());
    secret.metadata.namespace = Some(NAMESPACE.to_owned());
    let config = "host: db.example.com\nport: 5432\nsslmode: verify-full\n".repeat(4);
    for (k, v) in [
        ("username", b"admin".to_vec()),
        ("password", SMALL.to_vec()),
        ("config.yaml", config.into_bytes()),
    ] {
        secret.items.insert(k.to_owned(), Zeroizing::new(v));
    }
    seal_secret(
        &secret,
        fixtures().cert_a.public_key(),
        &SealOptions::default(),
    )
    .expect("seal")
}

fn bench_unseal_sealed_secret(c: &mut Criterion) {
    let mut g = c.benchmark_group("unseal_sealed_secret");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        // Counted in items, so that the rate compares with `unseal_item`.
        .throughput(Throughput::Elements(3));
    let sealed = || {
        static S: OnceLock<SealedSecret> = OnceLock::new();
        S.get_or_init(three_item_sealed_secret)
    };
    // `unseal` tries first the key that opened the previous item, so with the right
    // key last only the first item walks the whole list: 12 + 1 + 1 RSA operations.
    for (id, n, right_first) in [
        ("3_items_1_key", 1, true),
        ("3_items_12_keys_right_first", 12, true),
        ("3_items_12_keys_right_last", 12, false),
    ] {
        g.bench_function(id, |b| {
            let keys = if n == 1 {
                vec![&fixtures().a]
            } else {
                twelve_keys(right_first)
            };
            let out = unseal(sealed(), &keys, UnsealOptions::default()).expect("unseal");
            assert_eq!(out.secret.data.map(|d| d.len()), Some(3));
            assert_eq!(out.key_index, Some(if right_first { 0 } else { n - 1 }));
            b.iter(|| {
                unseal(black_box(sealed()), &keys, UnsealOptions::default()).expect("unseal")
            });
        });
    }
    g.finish();
}

fn bench_keygen(c: &mut Criterion) {
    let mut g = c.benchmark_group("keygen_4096");
    // Up to seconds per key and highly variable (prime search): the minimum sample count.
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(1));
    let spec = CertificateSpec {
        common_name: String::new(),
        not_before: SystemTime::now(),
        validity: Duration::from_secs(10 * 365 * 24 * 3600),
    };
    // Key plus self-signed certificate, as the controller makes them.
    g.bench_function("key_pair", |b| {
        b.iter(|| generate_key_pair(4096, black_box(&spec)).expect("generate"));
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_unseal_item(&mut c);
    bench_seal_item(&mut c);
    bench_unseal_sealed_secret(&mut c);
    bench_keygen(&mut c);
    c.final_summary();
}
