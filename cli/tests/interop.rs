// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! Our output opened by an independent implementation: Python's `cryptography`
//! (OpenSSL), through `tests/interop/open_with_python.py`, which shares no code with us.
//! `.ci/run` installs the package and sets SEALED_INTEROP_REQUIRED=1, so CI cannot skip.

mod support;

use base64::Engine;
use std::path::Path;
use std::process::Command;
use support::*;

fn python_ready() -> bool {
    Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn python_cryptography_opens_what_we_seal() {
    if !python_ready() {
        assert!(
            std::env::var("SEALED_INTEROP_REQUIRED").is_err(),
            "python3 with the `cryptography` package is required (pip install cryptography)"
        );
        eprintln!("skipped: python3 with the `cryptography` package is not installed");
        return;
    }
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let binary: Vec<u8> = (0..=255u8).collect();
    let big = vec![b'x'; 65536];
    let mut input = String::new();
    let mut expected = Vec::new();
    for (name, scope) in [
        ("strict", ""),
        ("nsw", "namespace-wide"),
        ("cw", "cluster-wide"),
    ] {
        let annotation = match scope {
            "" => String::new(),
            s => format!("  annotations:\n    sealedsecrets.bitnami.com/{s}: \"true\"\n"),
        };
        input.push_str(&format!(
            "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: team\n{annotation}data:\n  binary: {}\n  big: {}\n  empty: ''\n",
            b64(&binary),
            b64(&big)
        ));
        for (item, value) in [
            ("big", &big[..]),
            ("binary", &binary[..]),
            ("empty", &b""[..]),
        ] {
            expected.push(format!("team/{name} {item} {}", b64(value)));
        }
    }
    let sealed = ok(kubeseal().args(["--cert", &cert_a()]), input);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/open_with_python.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(key_a())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sealed.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines, expected);
}
