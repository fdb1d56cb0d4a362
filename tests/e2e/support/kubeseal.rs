//! Running our `kubeseal` binary.

use crate::harness::Ctx;
use anyhow::{Context, Result, bail};
use sealed_common::Scope;
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

/// What a `kubeseal` run gave.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
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

/// `kubeseal --cert CERT -o yaml --scope SCOPE` of `secret` (given as JSON), parsed.
/// Fails with kubeseal's stderr if it does not exit 0 with exactly one document.
pub async fn seal(ctx: &Ctx, cert: &Path, scope: Scope, secret: &Value) -> Result<Value> {
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
    let input = serde_json::to_vec(secret)?;
    let out = run(ctx, &args, &input).await?;
    if out.code != Some(0) {
        bail!(
            "kubeseal {} exited with {:?}\nstderr: {}",
            args.join(" "),
            out.code,
            out.stderr
        );
    }
    if !out.stdout.starts_with("---") {
        bail!(
            "kubeseal -o yaml output does not start with `---` (upstream's format):\n{}",
            out.stdout
        );
    }
    let mut docs: Vec<Value> = sealed_common::codec::decode_stream(out.stdout.as_bytes())
        .with_context(|| format!("kubeseal printed unreadable YAML:\n{}", out.stdout))?;
    if docs.len() != 1 {
        bail!(
            "kubeseal printed {} documents for one Secret:\n{}",
            docs.len(),
            out.stdout
        );
    }
    Ok(docs.remove(0))
}
