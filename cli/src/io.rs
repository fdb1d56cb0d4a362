//! Where bytes come from and go to: stdin or `-f`, stdout or an atomically replaced
//! file, and certificates from files or URLs.

use anyhow::{Context, Result, anyhow, bail};
use sealed_common::codec::read_limited;
use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::time::Duration;

/// Largest certificate document accepted from a file or URL.
const MAX_CERT_BYTES: u64 = 1024 * 1024;

/// Reads the input document(s) from `-f FILE` or stdin.
pub fn read_input(secret_file: Option<&str>, what: &str) -> Result<Vec<u8>> {
    match secret_file {
        Some(path) => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot read --secret-file {path:?}"))?;
            read_limited(file).with_context(|| format!("cannot read --secret-file {path:?}"))
        }
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("(tty detected: expecting {what} in stdin)");
            }
            read_limited(stdin.lock()).context("cannot read standard input")
        }
    }
}

/// Writes `bytes` to `-w FILE` (atomically) or to stdout.
pub fn write_output(target: Option<&str>, bytes: &[u8]) -> Result<()> {
    match target {
        Some(path) => write_atomically(Path::new(path), bytes)
            .with_context(|| format!("cannot write {path:?}")),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)
                .and_then(|_| out.flush())
                .context("cannot write standard output")
        }
    }
}

/// Replaces `path` with `bytes` in one step: a temporary file in the same directory,
/// synced, then renamed over the target. Readers see the old or the new file, never
/// half of one. An existing file keeps its permissions.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".kubeseal-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    match std::fs::metadata(path) {
        Ok(meta) => std::fs::set_permissions(tmp.path(), meta.permissions())?,
        Err(_) => set_default_permissions(tmp.path())?,
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(unix)]
fn set_default_permissions(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // What a plain create would give under the usual umask 022.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn set_default_permissions(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// True when `--cert` names a local file rather than a URL (upstream's rule: no URL
/// scheme, or a one-letter Windows drive).
pub fn is_filename(name: &str) -> bool {
    match name.split_once("://") {
        None => match name.split_once(':') {
            Some((scheme, _)) => {
                scheme.len() == 1 && scheme.chars().all(|c| c.is_ascii_alphabetic())
            }
            None => true,
        },
        Some(_) => false,
    }
}

/// Reads a certificate from a file path, a `file://` URL or an `http(s)://` URL.
pub fn read_cert_source(source: &str, timeout: Option<Duration>) -> Result<Vec<u8>> {
    if is_filename(source) {
        return read_small_file(Path::new(source))
            .with_context(|| format!("cannot read --cert {source:?}"));
    }
    let lower = source.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("file://") {
        let path = &source[source.len() - rest.len()..];
        return read_small_file(Path::new(path))
            .with_context(|| format!("cannot read --cert {source:?}"));
    }
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return fetch_url(source, timeout);
    }
    bail!(
        "cannot read --cert {source:?}: unsupported URL scheme (use a file path, file://, http:// or https://)"
    )
}

fn read_small_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_CERT_BYTES)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

fn fetch_url(url: &str, timeout: Option<Duration>) -> Result<Vec<u8>> {
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    // The platform verifier looks up the process-wide provider; a second install is a no-op.
    let _ = rustls::crypto::CryptoProvider::install_default(
        rustls::crypto::aws_lc_rs::default_provider(),
    );
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .unversioned_rustls_crypto_provider(provider)
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(timeout.unwrap_or(Duration::from_secs(30))))
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent
        .get(url)
        .call()
        .map_err(|e| anyhow!("cannot fetch {url:?}: {e}"))?;
    let status = response.status();
    if status != 200 {
        bail!(
            "cannot fetch {url:?}: {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or_default()
        );
    }
    let mut body = Vec::new();
    response
        .into_body()
        .into_reader()
        .take(MAX_CERT_BYTES)
        .read_to_end(&mut body)
        .map_err(|e| anyhow!("cannot fetch {url:?}: {e}"))?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_and_urls_are_told_apart_like_upstream() {
        assert!(is_filename("cert.pem"));
        assert!(is_filename("/etc/cert.pem"));
        assert!(is_filename("C:\\certs\\cert.pem"));
        assert!(!is_filename("https://example.com/v1/cert.pem"));
        assert!(!is_filename("file:///tmp/cert.pem"));
    }

    #[test]
    fn atomic_write_replaces_and_keeps_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.yaml");
        std::fs::write(&path, "old").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }
}
