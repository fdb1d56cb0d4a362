//! Shared helpers for the kubeseal black-box tests: the real binary, real files.
#![allow(dead_code)]

pub mod fake_api;

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/vectors/kubeseal-0.36.6")
}

pub fn vector(rel: &str) -> PathBuf {
    vectors().join(rel)
}

/// Every vector directory (one holding a `vector.json`), relative to `vectors()`, sorted.
pub fn vector_dirs() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.join("vector.json").exists() {
                    out.push(path.clone());
                }
                walk(&path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&vectors(), &mut out);
    let mut dirs: Vec<String> = out
        .iter()
        .map(|p| p.strip_prefix(vectors()).unwrap().display().to_string())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 11, "vectors missing: {dirs:?}");
    dirs
}

/// Vectors whose `spec.template.data` holds Go template actions.
pub fn has_templates(dir: &str) -> bool {
    std::fs::read_to_string(vector(dir).join("sealed.yaml")).is_ok_and(|s| s.contains("{{"))
}

pub fn cert_a() -> String {
    vector("keys/A.tls.crt").display().to_string()
}

pub fn cert_b() -> String {
    vector("keys/B.tls.crt").display().to_string()
}

pub fn key_a() -> String {
    vector("keys/A.tls.key").display().to_string()
}

pub fn key_b() -> String {
    vector("keys/B.tls.key").display().to_string()
}

/// kubeseal with no kubeconfig and no SEALED_SECRETS_* variables leaking in.
pub fn kubeseal() -> Command {
    isolated(Command::cargo_bin("kubeseal").unwrap())
}

/// [`kubeseal`] started by `sh` under `umask` (octal), for the modes of the files it
/// creates; arguments added later go to kubeseal.
pub fn kubeseal_with_umask(umask: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(assert_cmd::cargo::cargo_bin("kubeseal"));
    isolated(cmd)
}

fn isolated(mut cmd: Command) -> Command {
    for (key, _) in std::env::vars() {
        if key.starts_with("SEALED_SECRETS_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env("HOME", "/nonexistent-home");
    cmd
}

/// `kubeseal --recovery-unseal --recovery-private-key KEYS`.
pub fn recovery(keys: &str) -> Command {
    let mut cmd = kubeseal();
    cmd.args(["--recovery-unseal", "--recovery-private-key", keys]);
    cmd
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command, stdin: impl Into<Vec<u8>>) -> Run {
    let out = cmd.write_stdin(stdin.into()).output().unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "kubeseal panicked: {}",
        run.stderr
    );
    run
}

/// Runs and expects success.
pub fn ok(cmd: &mut Command, stdin: impl Into<Vec<u8>>) -> String {
    let r = run(cmd, stdin);
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    r.stdout
}

/// Runs and expects failure with a one-line error; returns that line.
pub fn fails(cmd: &mut Command, stdin: impl Into<Vec<u8>>) -> String {
    let r = run(cmd, stdin);
    assert_eq!(
        r.code, 1,
        "expected exit 1, stdout: {} stderr: {}",
        r.stdout, r.stderr
    );
    assert_eq!(r.stdout, "", "nothing may be printed on failure");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one-line error expected: {:?}", r.stderr);
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    lines[0].to_owned()
}

/// Parses a JSON or YAML stream into values.
pub fn parse_all(text: &str) -> Vec<Value> {
    sealed_common::codec::decode_stream::<Value>(text.as_bytes()).unwrap()
}

/// Opens sealed output with the given keys through kubeseal itself and returns the
/// Secrets as JSON values.
pub fn unseal_with(sealed: &str, keys: &[String]) -> Vec<Value> {
    let out = ok(
        kubeseal().args([
            "--recovery-unseal",
            "--recovery-private-key",
            &keys.join(","),
            "-o",
            "json",
        ]),
        sealed,
    );
    parse_all(&out)
}

/// Decoded data items of an unsealed Secret.
pub fn items(secret: &Value) -> std::collections::BTreeMap<String, Vec<u8>> {
    use base64::Engine;
    secret["data"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let bytes = match v.as_str() {
                        Some(s) => base64::engine::general_purpose::STANDARD.decode(s).unwrap(),
                        None => Vec::new(),
                    };
                    (k.clone(), bytes)
                })
                .collect()
        })
        .unwrap_or_default()
}

pub const SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: prod
type: Opaque
data:
  password: czNjcjN0LXZhbHVlLTQy
stringData:
  user: admin-user-77
";
