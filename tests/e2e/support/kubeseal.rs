//! Running our `kubeseal` binary: as given, against the controller of a home
//! namespace (`--controller-name` / `--controller-namespace`), or to seal a Secret with
//! a certificate file; and reading what it prints.

use crate::harness::Ctx;
use anyhow::{Context, Result, bail, ensure};
use base64::Engine;
use sealed_common::Scope;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

/// The Service kubeseal looks for by default (`--controller-name`), as `deploy/` names it.
pub const CONTROLLER_NAME: &str = "sealed-secrets-controller";

/// What a `kubeseal` run gave.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// `self` if kubeseal exited 0; otherwise an error with the command and its output.
    pub fn expect_ok(self, args: &[&str]) -> Result<Output> {
        ensure!(
            self.code == Some(0),
            "kubeseal {}: expected exit 0, got {:?}\nstdout: {}\nstderr: {}",
            args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        );
        Ok(self)
    }
}

/// Runs `kubeseal args...` with `stdin`. No `SEALED_SECRETS_*` variable leaks in;
/// `KUBECONFIG` is the suite's kubeconfig.
pub async fn run(ctx: &Ctx, args: &[&str], stdin: &[u8]) -> Result<Output> {
    let binaries = crate::binaries::binaries()?;
    let mut cmd = tokio::process::Command::new(&binaries.kubeseal);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SEALED_SECRETS_") {
            cmd.env_remove(key);
        }
    }
    cmd.args(args)
        .env("KUBECONFIG", ctx.kubeconfig())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let shown = format!("{} {}", binaries.kubeseal.display(), args.join(" "));
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {shown}"))?;
    let mut input = child.stdin.take().context("kubeseal stdin")?;
    let data = stdin.to_vec();
    let writer = tokio::spawn(async move {
        let result = input.write_all(&data).await;
        drop(input);
        result
    });
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .with_context(|| format!("{shown} did not finish within 60s"))?
        .with_context(|| format!("waiting for {shown}"))?;
    // A write error only matters if kubeseal also failed (it may exit before reading).
    let write_result = writer.await.context("kubeseal stdin writer")?;
    let out = Output {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    if out.code != Some(0)
        && let Err(e) = write_result
    {
        bail!(
            "{shown}: writing stdin failed ({e}); stderr: {}",
            out.stderr
        );
    }
    Ok(out)
}

/// [`run`], failing with kubeseal's output unless it exits 0.
pub async fn run_ok(ctx: &Ctx, args: &[&str], stdin: &[u8]) -> Result<Output> {
    run(ctx, args, stdin).await?.expect_ok(args)
}

/// `kubeseal ARGS --controller-name sealed-secrets-controller --controller-namespace
/// HOME` (the connection flags last, where `keys` and `reencrypt` take them).
pub async fn run_for(ctx: &Ctx, home: &str, args: &[&str], stdin: &[u8]) -> Result<Output> {
    let mut all = args.to_vec();
    all.extend([
        "--controller-name",
        CONTROLLER_NAME,
        "--controller-namespace",
        home,
    ]);
    run(ctx, &all, stdin).await
}

/// [`run_for`], failing with kubeseal's output unless it exits 0.
pub async fn run_for_ok(ctx: &Ctx, home: &str, args: &[&str], stdin: &[u8]) -> Result<Output> {
    run_for(ctx, home, args, stdin).await?.expect_ok(args)
}

/// A Secret to seal (JSON), as `kubectl create secret generic --dry-run=client -o yaml`
/// gives it; empty `labels` / `annotations` are left out.
pub fn plain_secret(
    ns: &str,
    name: &str,
    items: &BTreeMap<String, Vec<u8>>,
    labels: Value,
    annotations: Value,
) -> Value {
    let data: BTreeMap<&String, String> = items
        .iter()
        .map(|(k, v)| (k, base64::engine::general_purpose::STANDARD.encode(v)))
        .collect();
    let mut metadata = json!({ "name": name, "namespace": ns });
    for (field, value) in [("labels", labels), ("annotations", annotations)] {
        if value.as_object().is_some_and(|m| !m.is_empty()) {
            metadata[field] = value;
        }
    }
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "data": data,
    })
}

/// `kubeseal --cert CERT -o yaml --scope SCOPE` of `secret` (given as JSON): the text as
/// kubeseal prints it. Fails with kubeseal's output unless it exits 0.
pub async fn seal_text(ctx: &Ctx, cert: &Path, scope: Scope, secret: &Value) -> Result<String> {
    let cert = cert.display().to_string();
    let scope = scope.to_string();
    let args = [
        "--cert",
        cert.as_str(),
        "-o",
        "yaml",
        "--scope",
        scope.as_str(),
    ];
    Ok(run_ok(ctx, &args, &serde_json::to_vec(secret)?)
        .await?
        .stdout)
}

/// [`seal_text`], parsed. Fails unless kubeseal printed exactly one document starting
/// with `---` (upstream's format).
pub async fn seal(ctx: &Ctx, cert: &Path, scope: Scope, secret: &Value) -> Result<Value> {
    let text = seal_text(ctx, cert, scope, secret).await?;
    if !text.starts_with("---") {
        bail!("kubeseal -o yaml output does not start with `---` (upstream's format):\n{text}");
    }
    one_document(&text, "kubeseal -o yaml of one Secret")
}

/// The one YAML (or JSON) document of `text`, which `what` names in errors.
pub fn one_document(text: &str, what: &str) -> Result<Value> {
    let mut docs: Vec<Value> = sealed_common::codec::decode_stream(text.as_bytes())
        .with_context(|| format!("{what}: not YAML:\n{text}"))?;
    ensure!(
        docs.len() == 1,
        "{what}: expected one document, found {}:\n{text}",
        docs.len()
    );
    Ok(docs.remove(0))
}
