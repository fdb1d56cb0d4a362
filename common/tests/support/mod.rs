//! Fixture keys made by upstream, shared by the integration tests.
#![allow(dead_code)]

use sealed_common::RsaPrivateKey;
use sealed_common::keys::{Certificate, parse_private_key_pem};
use std::path::{Path, PathBuf};

/// `testdata/vectors/kubeseal-0.36.6`, a copy of `../shared/vectors`.
pub fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/vectors/kubeseal-0.36.6")
}

pub fn read(path: impl AsRef<Path>) -> Vec<u8> {
    let path = path.as_ref();
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A file of `keys/`, e.g. `A.tls.key`.
pub fn fixture(name: &str) -> Vec<u8> {
    read(vectors().join("keys").join(name))
}

/// Upstream key `A` or `B`.
pub fn key(name: &str) -> RsaPrivateKey {
    parse_private_key_pem(&fixture(&format!("{name}.tls.key"))).unwrap()
}

/// Upstream certificate `A` or `B`.
pub fn cert(name: &str) -> Certificate {
    Certificate::from_pem(&fixture(&format!("{name}.tls.crt"))).unwrap()
}
