// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! Bad input: every case ends in one clear line on stderr, exit code 1 (2 for a bad
//! command line), nothing on stdout, no partial file, no panic, no secret in the text.

mod support;

use sealed_common::keys::{CertificateSpec, parse_private_key_pem, self_signed_certificate};
use std::time::{Duration, UNIX_EPOCH};
use support::*;

/// The plaintext values used below must never show up in an error.
const SECRET_VALUES: [&str; 3] = ["s3cr3t-value-42", "czNjcjN0LXZhbHVlLTQy", "admin-user-77"];

fn assert_no_secret(text: &str) {
    for value in SECRET_VALUES {
        assert!(!text.contains(value), "secret value leaked: {text}");
    }
}

fn cert_file(dir: &tempfile::TempDir, name: &str, pem: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, pem).unwrap();
    path.display().to_string()
}

#[test]
fn upstream_cli_cases_give_the_same_codes_and_messages() {
    let cases: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vector("cli-cases.json")).unwrap()).unwrap();
    for case in cases.as_array().unwrap() {
        let mut cmd = kubeseal();
        cmd.args(["--cert", &cert_a(), "-o", "yaml"]);
        for arg in case["args"].as_array().unwrap() {
            cmd.arg(arg.as_str().unwrap());
        }
        let r = run(&mut cmd, case["input"].as_str().unwrap());
        let name = case["case"].as_str().unwrap();
        assert_eq!(
            r.code as i64,
            case["rc"].as_i64().unwrap(),
            "{name}: {}",
            r.stderr
        );
        let expected_err = case["stderr"].as_str().unwrap();
        assert!(
            r.stderr.contains(expected_err),
            "{name}: stderr {:?} lacks {expected_err:?}",
            r.stderr
        );
        if r.code == 0 {
            assert_eq!(r.stdout, case["stdout"].as_str().unwrap(), "{name}");
        } else if r.code == 2 {
            // pflag printed the reason after the usage text.
            let reason = case["stdout"].as_str().unwrap().lines().last().unwrap();
            assert!(
                r.stderr.contains(reason),
                "{name}: {:?} lacks {reason:?}",
                r.stderr
            );
        }
    }
}

#[test]
fn invalid_base64_names_the_document_and_item() {
    let input = SECRET.replace("czNjcjN0LXZhbHVlLTQy", "czNjcjN0LXZhbHVlLTQy!");
    let err = fails(kubeseal().args(["--cert", &cert_a()]), input);
    assert!(
        err.starts_with("error: data.password: invalid base64"),
        "{err}"
    );
    assert!(err.contains("input document 1: prod/db"), "{err}");
    assert_no_secret(&err);
}

#[test]
fn second_document_errors_name_it_and_print_nothing() {
    let input = format!(
        "{SECRET}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  k: v\n"
    );
    let err = fails(kubeseal().args(["--cert", &cert_a()]), input);
    assert_eq!(
        err,
        "error: input document 2: kind is \"ConfigMap\", expected \"Secret\""
    );
}

#[test]
fn missing_kind_and_wrong_api_version_are_refused() {
    let err = fails(
        kubeseal().args(["--cert", &cert_a()]),
        "metadata:\n  name: x\n  namespace: y\nstringData:\n  k: v\n",
    );
    assert_eq!(
        err,
        "error: input document 1: missing kind, expected \"kind: Secret\""
    );
    let err = fails(
        kubeseal().args(["--cert", &cert_a()]),
        SECRET.replace("apiVersion: v1", "apiVersion: v2"),
    );
    assert_eq!(
        err,
        "error: input document 1: apiVersion is \"v2\", expected \"v1\""
    );
}

#[test]
fn empty_or_broken_input() {
    let err = fails(kubeseal().args(["--cert", &cert_a()]), "");
    assert!(err.starts_with("error: no Secret in the input"), "{err}");
    let err = fails(
        kubeseal().args(["--cert", &cert_a()]),
        "kind: Secret\nmetadata: [unclosed\n",
    );
    assert!(
        err.starts_with("error: cannot read the input: invalid YAML"),
        "{err}"
    );
    let err = fails(
        kubeseal().args(["--cert", &cert_a()]),
        "{\"kind\": \"Secret\", ",
    );
    assert!(
        err.starts_with("error: cannot read the input: invalid JSON"),
        "{err}"
    );
    let err = fails(
        kubeseal().args(["--cert", &cert_a()]),
        vec![0xff, 0xfe, 0x00, 0x01],
    );
    assert!(err.contains("not valid UTF-8"), "{err}");
    let dup = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n  name: b\n";
    let err = fails(kubeseal().args(["--cert", &cert_a()]), dup);
    assert!(err.contains("invalid YAML"), "{err}");
}

#[test]
fn yaml_alias_bombs_and_oversized_input_are_refused() {
    let mut bomb = String::from(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: b, namespace: n}\nx0: &x0 [a,a,a,a,a,a,a,a,a,a]\n",
    );
    for i in 1..15 {
        let p = i - 1;
        bomb.push_str(&format!(
            "x{i}: &x{i} [*x{p},*x{p},*x{p},*x{p},*x{p},*x{p},*x{p},*x{p},*x{p},*x{p}]\n"
        ));
    }
    let err = fails(kubeseal().args(["--cert", &cert_a()]), bomb);
    assert!(err.contains("safety limits (YAML alias bomb"), "{err}");

    let huge = vec![b'#'; 64 * 1024 * 1024 + 10];
    let err = fails(kubeseal().args(["--cert", &cert_a()]), huge);
    assert!(err.contains("larger than 64 MiB"), "{err}");
}

#[test]
fn missing_name_namespace_and_data() {
    let err = fails(
        kubeseal().args(["--cert", &cert_a()]),
        SECRET.replace("  name: db\n", ""),
    );
    assert!(
        err.starts_with("error: missing metadata.name in input Secret"),
        "{err}"
    );
    let err = fails(
        kubeseal().args(["--cert", &cert_a()]),
        SECRET.replace("  namespace: prod\n", ""),
    );
    assert!(
        err.starts_with("error: secret must declare a namespace"),
        "{err}"
    );
    let empty = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: e\n  namespace: n\n";
    let err = fails(kubeseal().args(["--cert", &cert_a()]), empty);
    assert!(
        err.starts_with("error: secret.data is empty in input Secret"),
        "{err}"
    );
}

#[test]
fn bad_command_lines_exit_2() {
    for args in [
        vec!["--scope", "global"],
        vec!["--no-such-flag"],
        vec!["--raw=maybe"],
    ] {
        let r = run(kubeseal().args(&args), "");
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert_eq!(r.stdout, "");
        assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    }
    // Upstream checks -o at run time: exit 1, its message.
    let err = fails(
        kubeseal().args(["--cert", &cert_a(), "--format", "xml"]),
        SECRET,
    );
    assert_eq!(err, "error: unsupported output format: xml");
    let r = run(kubeseal().args(["--scope", "global"]), "");
    assert!(r.stderr.contains(
        "invalid argument \"global\" for \"--scope\" flag: must be one of: strict, namespace-wide, cluster-wide"
    ));
}

#[test]
fn unusable_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(kubeseal().args(["--cert", "/nonexistent/cert.pem"]), SECRET);
    assert!(
        err.starts_with("error: cannot read --cert \"/nonexistent/cert.pem\""),
        "{err}"
    );

    let garbage = cert_file(
        &dir,
        "garbage.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    let err = fails(kubeseal().args(["--cert", &garbage]), SECRET);
    assert!(err.contains("invalid certificate"), "{err}");

    let not_pem = cert_file(&dir, "plain.txt", "hello");
    let err = fails(kubeseal().args(["--cert", &not_pem]), SECRET);
    assert!(err.contains("no certificate found"), "{err}");

    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let ec_cert = rcgen::CertificateParams::new(vec!["x".into()])
        .unwrap()
        .self_signed(&ec)
        .unwrap();
    let ec_file = cert_file(&dir, "ec.pem", &ec_cert.pem());
    let err = fails(kubeseal().args(["--cert", &ec_file]), SECRET);
    assert!(
        err.ends_with("expected RSA public key but found an EC key"),
        "{err}"
    );

    let key = parse_private_key_pem(&std::fs::read(key_a()).unwrap()).unwrap();
    let spec = CertificateSpec {
        common_name: String::new(),
        not_before: UNIX_EPOCH + Duration::from_secs(1_000_000_000),
        validity: Duration::from_secs(86400),
    };
    let expired = self_signed_certificate(&key, &spec).unwrap();
    let expired_file = cert_file(&dir, "expired.pem", &expired.to_pem());
    let err = fails(kubeseal().args(["--cert", &expired_file]), SECRET);
    assert_eq!(
        err,
        "error: failed to encrypt using an expired certificate on September 10, 2001"
    );

    let err = fails(
        kubeseal().args(["--cert", "ftp://example.com/cert.pem"]),
        SECRET,
    );
    assert!(err.contains("unsupported URL scheme"), "{err}");
    // Nothing listens on port 9 of the loopback.
    let r = run(
        kubeseal().args(["--cert", "http://127.0.0.1:9/v1/cert.pem"]),
        SECRET,
    );
    assert_eq!((r.code, r.stdout.as_str()), (1, ""));
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.stderr);
    assert!(lines[0].starts_with("warning: --cert "), "{}", r.stderr);
    assert!(
        lines[1].starts_with("error: cannot fetch \"http://127.0.0.1:9/v1/cert.pem\""),
        "{}",
        r.stderr
    );
}

#[test]
fn unreadable_input_file() {
    let err = fails(
        kubeseal().args(["--cert", &cert_a(), "-f", "/nonexistent/secret.yaml"]),
        "",
    );
    assert!(
        err.starts_with("error: cannot read --secret-file \"/nonexistent/secret.yaml\""),
        "{err}"
    );
}

#[test]
fn version_help_and_completion() {
    let out = ok(kubeseal().arg("--version"), "");
    assert!(out.starts_with("kubeseal version: v"), "{out}");
    let help = ok(kubeseal().arg("--help"), "");
    for needle in [
        "--cert",
        "--recovery-unseal",
        "--merge-into",
        "Examples:",
        "SEALED_SECRETS_CERT",
    ] {
        assert!(help.contains(needle), "help lacks {needle}");
    }
    let bash = ok(kubeseal().args(["completion", "bash"]), "");
    assert!(bash.contains("kubeseal") && bash.contains("--recovery-unseal"));
    let zsh = ok(kubeseal().args(["completion", "zsh"]), "");
    assert!(zsh.contains("#compdef kubeseal"));
}
