// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! The binary's surface: version, flag errors, and a clear one-line error when there is
//! no cluster to talk to.

use assert_cmd::Command;

fn controller() -> Command {
    let mut cmd = Command::cargo_bin("sealed-secrets-controller").expect("binary built");
    // Keep the environment from choosing a cluster for us.
    cmd.env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("POD_NAMESPACE")
        .env("HOME", std::env::temp_dir());
    cmd
}

#[test]
fn version_as_upstream_prints_it() {
    let out = controller()
        .arg("--version")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.starts_with("controller version: "), "{text}");
}

#[test]
fn unknown_flag_is_a_usage_error() {
    controller().arg("--no-such-flag").assert().code(2);
    controller()
        .args(["--key-renew-period", "30d"])
        .assert()
        .code(2);
    controller()
        .args(["--all-namespaces=maybe"])
        .assert()
        .code(2);
}

#[test]
fn help_lists_upstream_flags() {
    let out = controller()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).expect("utf-8");
    for flag in [
        "--key-prefix",
        "--key-size",
        "--key-ttl",
        "--my-cn",
        "--key-renew-period",
        "--key-cutoff-time",
        "--key-order-priority",
        "--accept-deprecated-v1-data",
        "--all-namespaces",
        "--additional-namespaces",
        "--label-selector",
        "--update-status",
        "--skip-recreate",
        "--max-unseal-retries",
        "--privatekey-labels",
        "--privatekey-annotations",
        "--log-level",
        "--log-format",
        "--listen-addr",
        "--listen-metrics-addr",
        "--rate-limit",
        "--rate-limit-burst",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn missing_kubeconfig_is_one_clear_line() {
    let assert = controller()
        .args(["--kubeconfig", "/nonexistent/kubeconfig"])
        .assert()
        .code(1);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).expect("utf-8");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: cannot read --kubeconfig /nonexistent/kubeconfig"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn no_cluster_at_all_says_what_to_do() {
    let assert = controller().assert().code(1);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).expect("utf-8");
    assert!(stderr.contains("pass --kubeconfig PATH"), "{stderr}");
}

#[test]
fn env_variables_set_flags() {
    // A bad value from the environment is rejected like a bad flag.
    controller()
        .env("SEALED_SECRETS_KEY_TTL", "ten years")
        .assert()
        .code(2);
}

#[test]
fn bad_values_fail_before_connecting() {
    for (flag, value, says) in [
        ("--key-cutoff-time", "2026-01-01", "--key-cutoff-time"),
        ("--privatekey-labels", "novalue", "--privatekey-labels"),
        ("--key-size", "1024", "--key-size 1024"),
        (
            "--leader-elect-renew-deadline",
            "20s",
            "--leader-elect-lease-duration",
        ),
    ] {
        let assert = controller()
            .args(["--leader-elect", flag, value])
            .assert()
            .code(1);
        let stderr = String::from_utf8(assert.get_output().stderr.clone()).expect("utf-8");
        assert!(stderr.contains(says), "{flag}: {stderr}");
        assert!(
            !stderr.contains("kubeconfig"),
            "{flag} checked before connecting: {stderr}"
        );
    }
}
