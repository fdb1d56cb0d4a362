//! Where bytes come from and go to: stdin or `-f`, stdout or an atomically replaced
//! file, and certificates from files or URLs.

use anyhow::{Context, Result, anyhow, bail};
use sealed_common::codec::read_limited;
use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::time::Duration;
use zeroize::Zeroizing;

/// Largest certificate document accepted from a file or URL.
const MAX_CERT_BYTES: u64 = 1024 * 1024;

/// Reads the input document(s) from `-f FILE` or stdin; they may be plaintext Secrets,
/// so the buffer is wiped when dropped.
pub fn read_input(secret_file: Option<&str>, what: &str) -> Result<Zeroizing<Vec<u8>>> {
    let bytes = match secret_file {
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
    };
    bytes.map(Zeroizing::new)
}

/// Who may read a file kubeseal writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Sealed output and certificates: a new file gets the usual mode (0666 less the
    /// umask), an existing file keeps its mode.
    Shared,
    /// Plaintext and private keys: mode 0600 (less the umask) from the first byte; an
    /// existing file keeps its mode only when that is stricter (no bit outside 0600).
    Private,
}

/// Writes `bytes` to `-w FILE` (atomically) or to stdout.
pub fn write_output(target: Option<&str>, bytes: &[u8], access: Access) -> Result<()> {
    match target {
        Some(path) => write_atomically(Path::new(path), bytes, access)
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
/// half of one. The temporary file has its final mode, or a stricter one, from its
/// first byte: [`Access`] says which.
pub fn write_atomically(path: &Path, bytes: &[u8], access: Access) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let existing = std::fs::metadata(path).ok().map(|m| m.permissions());
    let mut tmp = temp_file(dir, access, existing.is_some())?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    if let Some(existing) = existing {
        tmp.as_file()
            .set_permissions(kept_permissions(existing, access))?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// An empty temporary file in `dir`, created with the mode a new file of `access` gets.
fn temp_file(
    dir: &Path,
    access: Access,
    replacing: bool,
) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".kubeseal-").suffix(".tmp");
    #[cfg(unix)]
    if access == Access::Shared && !replacing {
        // What a plain create gives: the open(2) mode 0666 narrowed by the umask.
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    // Otherwise tempfile's own 0600 (narrowed by the umask) until the final mode is set.
    builder.tempfile_in(dir)
}

/// The mode the replacement takes over from the file it replaces: all of it for shared
/// output; for private output only a mode within 0600 (0400, 0200, 0000), else 0600.
#[cfg(unix)]
fn kept_permissions(existing: std::fs::Permissions, access: Access) -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    let mode = existing.mode() & 0o7777;
    match access {
        Access::Private if mode & !0o600 != 0 => std::fs::Permissions::from_mode(0o600),
        _ => std::fs::Permissions::from_mode(mode),
    }
}

#[cfg(not(unix))]
fn kept_permissions(existing: std::fs::Permissions, _access: Access) -> std::fs::Permissions {
    existing
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
    if lower.starts_with("https://") {
        return fetch_url(source, timeout, true);
    }
    if lower.starts_with("http://") {
        eprintln!(
            "warning: --cert {source:?} is fetched over plain http: the certificate can be tampered with in transit; use https:// or a file"
        );
        return fetch_url(source, timeout, false);
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

/// `https_only`: the request, and every redirect it follows, must be https (ureq
/// refuses the rest), so an https URL cannot be downgraded to plain http.
fn fetch_url(url: &str, timeout: Option<Duration>, https_only: bool) -> Result<Vec<u8>> {
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
        .https_only(https_only)
        .build()
        .into();
    let response = agent.get(url).call().map_err(|e| match e {
        ureq::Error::RequireHttpsOnly(to) => anyhow!(
            "cannot fetch {url:?}: refused the redirect to {to:?}: an https --cert URL is followed to https only"
        ),
        e => anyhow!("cannot fetch {url:?}: {e}"),
    })?;
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

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[cfg(unix)]
    fn set_mode(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn temporary_files_are_never_wider_than_their_final_mode() {
        let dir = tempfile::tempdir().unwrap();
        // Private data, and any replacement: within 0600 before the first byte.
        for (access, replacing) in [
            (Access::Private, false),
            (Access::Private, true),
            (Access::Shared, true),
        ] {
            let tmp = temp_file(dir.path(), access, replacing).unwrap();
            let m = mode(tmp.path());
            assert_eq!(m & !0o600, 0, "{access:?} replacing={replacing}: {m:o}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn private_writes_keep_only_a_stricter_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain.yaml");
        write_atomically(&path, b"one", Access::Private).unwrap();
        assert_eq!(mode(&path) & !0o600, 0);
        for (before, after) in [
            (0o644, 0o600),
            (0o640, 0o600),
            (0o755, 0o600),
            (0o400, 0o400),
        ] {
            set_mode(&path, before);
            write_atomically(&path, b"two", Access::Private).unwrap();
            assert_eq!(mode(&path), after, "{before:o}");
            assert_eq!(std::fs::read(&path).unwrap(), b"two");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn atomic_write_replaces_and_keeps_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.yaml");
        std::fs::write(&path, "old").unwrap();
        #[cfg(unix)]
        set_mode(&path, 0o640);
        write_atomically(&path, b"new", Access::Shared).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o640);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }
}
