// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! The modes of the files kubeseal writes with `-w`: plaintext (`--recovery-unseal`) is
//! 0600 whatever the umask, and a file it replaces keeps its mode only when stricter;
//! sealed output follows the umask and keeps the mode of the file it replaces.
#![cfg(unix)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use support::*;

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\nstringData:\n  password: s3cr3t-marker\n";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn sealed_input() -> Vec<u8> {
    std::fs::read(vector("stringdata-and-metadata/strict/sealed.yaml")).unwrap()
}

fn expected_secret() -> String {
    std::fs::read_to_string(vector(
        "stringdata-and-metadata/strict/expected-secret.yaml",
    ))
    .unwrap()
}

/// `kubeseal --recovery-unseal -w FILE` under `umask`.
fn unseal_to(file: &Path, umask: &str) {
    let mut cmd = kubeseal_with_umask(umask);
    cmd.args(["--recovery-unseal", "--recovery-private-key", &key_a()])
        .arg("-w")
        .arg(file);
    ok(&mut cmd, sealed_input());
    assert_eq!(std::fs::read_to_string(file).unwrap(), expected_secret());
}

/// `kubeseal --cert A -w FILE` under `umask`.
fn seal_to(file: &Path, umask: &str) {
    let mut cmd = kubeseal_with_umask(umask);
    cmd.args(["--cert", &cert_a()]).arg("-w").arg(file);
    ok(&mut cmd, SECRET);
    let text = std::fs::read_to_string(file).unwrap();
    assert_eq!(
        items(&unseal_with(&text, &[key_a()])[0])["password"],
        b"s3cr3t-marker"
    );
}

fn no_leftovers(dir: &Path, expected: usize) {
    let names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), expected, "temporary files left: {names:?}");
}

#[test]
fn recovered_plaintext_is_0600_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    for (i, umask) in ["000", "002", "022", "077"].iter().enumerate() {
        let file = dir.path().join(format!("secret-{i}.yaml"));
        unseal_to(&file, umask);
        assert_eq!(mode(&file), 0o600, "umask {umask}");
    }
    no_leftovers(dir.path(), 4);
}

#[test]
fn recovered_plaintext_over_a_file_keeps_only_a_stricter_mode() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret.yaml");
    // (mode of the existing file, mode after the write)
    for (before, after) in [
        (0o644, 0o600),
        (0o666, 0o600),
        (0o640, 0o600),
        (0o604, 0o600),
        (0o700, 0o600),
        (0o4600, 0o600),
        (0o600, 0o600),
        (0o400, 0o400),
    ] {
        std::fs::write(&file, "old").unwrap();
        set_mode(&file, before);
        unseal_to(&file, "000");
        assert_eq!(mode(&file), after, "existing mode {before:o}");
    }
    no_leftovers(dir.path(), 1);
}

#[test]
fn sealed_output_follows_the_umask_and_keeps_the_mode_it_finds() {
    let dir = tempfile::tempdir().unwrap();
    for (umask, expected) in [("000", 0o666), ("022", 0o644), ("077", 0o600)] {
        let file = dir.path().join(format!("sealed-{umask}.json"));
        seal_to(&file, umask);
        assert_eq!(mode(&file), expected, "umask {umask}");
    }
    // A file it replaces keeps its mode, wider or narrower than the umask's: sealing
    // loosens nothing.
    let file = dir.path().join("existing.yaml");
    for existing in [0o600, 0o640, 0o644] {
        std::fs::write(&file, "old").unwrap();
        set_mode(&file, existing);
        seal_to(&file, "000");
        assert_eq!(mode(&file), existing);
    }
    no_leftovers(dir.path(), 4);
}
