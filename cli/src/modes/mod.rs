//! One module per kubeseal mode. Each returns the bytes to write; `main` writes them
//! only when the whole mode succeeded, so a failure never leaves half an output.

pub mod fetch_cert;
pub mod merge_into;
pub mod raw;
pub mod recovery_unseal;
pub mod reencrypt;
pub mod seal;
pub mod validate;

use crate::flags::Flags;
use crate::io::read_cert_source;
use crate::online::{Controller, OFFLINE_SEAL};
use anyhow::{Context, Result, bail};
use sealed_common::codec::{Format, one_line};
use sealed_common::keys::Certificate;
use serde::de::DeserializeOwned;
use std::time::{Duration, SystemTime};

/// `-o/--format` as given (case-insensitive, as upstream); `None` when not given.
pub fn explicit_format(flags: &Flags) -> Result<Option<Format>> {
    match flags
        .format
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => Ok(None),
        Some("json") | Some("") => Ok(Some(Format::Json)),
        Some("yaml") => Ok(Some(Format::Yaml)),
        Some(_) => bail!(
            "unsupported output format: {}",
            flags.format.as_deref().unwrap_or_default()
        ),
    }
}

/// The output format: `-o`, except that a `-w` file ending in `.yaml`/`.yml` forces
/// YAML, as upstream does. JSON by default.
pub fn output_format(flags: &Flags) -> Result<Format> {
    let explicit = explicit_format(flags)?;
    let forced_yaml = flags
        .sealed_secret_file
        .as_deref()
        .and_then(|f| std::path::Path::new(f).extension())
        .is_some_and(|e| e == "yaml" || e == "yml");
    Ok(if forced_yaml {
        Format::Yaml
    } else {
        explicit.unwrap_or(Format::Json)
    })
}

/// `--request-timeout` as a duration; `0` means none.
pub fn request_timeout(flags: &Flags) -> Result<Option<Duration>> {
    let text = flags.kube.request_timeout.trim();
    if text.is_empty() || text == "0" {
        return Ok(None);
    }
    let parsed = if let Ok(secs) = text.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let span: jiff::Span = text.parse().with_context(|| {
            format!("invalid --request-timeout {text:?}: use a number with a unit, such as 30s, 2m or 1h")
        })?;
        let secs = span.total(jiff::Unit::Second).unwrap_or(0.0).max(0.0);
        Duration::from_secs_f64(secs)
    };
    Ok(Some(parsed).filter(|d| !d.is_zero()))
}

/// Loads the sealing certificate from `--cert`, or without it from the controller, and
/// refuses an expired one.
pub fn load_certificate(flags: &Flags) -> Result<Certificate> {
    let cert = match cert_flag(flags) {
        Some(source) => {
            let bytes = read_cert_source(source, request_timeout(flags)?)?;
            Certificate::from_pem(&bytes)
                .with_context(|| format!("cannot use --cert {source:?}"))?
        }
        None => {
            let controller = Controller::connect(flags, OFFLINE_SEAL)?;
            let bytes = controller.certificate()?;
            Certificate::from_pem(&bytes).with_context(|| {
                format!(
                    "cannot use the certificate of the controller {}",
                    controller.name()
                )
            })?
        }
    };
    cert.check_not_expired(SystemTime::now())?;
    Ok(cert)
}

/// `--cert`, when given and not empty.
pub fn cert_flag(flags: &Flags) -> Option<&str> {
    flags.cert.as_deref().filter(|c| !c.is_empty())
}

/// Reports every failure, one line each, and fails with the last one; succeeds when
/// there is none.
pub fn report_failures(mut failures: Vec<String>) -> Result<()> {
    let Some(last) = failures.pop() else {
        return Ok(());
    };
    for line in &failures {
        eprintln!("error: {}", one_line(line));
    }
    bail!(last)
}

/// Decodes every document of the input as `T` after checking that each one declares
/// `kind` (and `apiVersion`, when given). Errors name the document by position.
pub fn decode_kind<T: DeserializeOwned>(
    bytes: &[u8],
    kind: &str,
    api_version: &str,
) -> Result<Vec<T>> {
    Ok(sealed_common::codec::decode_kind(
        bytes,
        kind,
        api_version,
        false,
    )?)
}

/// Where an error happened, for the end of a one-line message.
pub fn at_document(index: usize, name: &str) -> String {
    format!("input document {index}: {name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout(text: &str) -> Result<Option<Duration>> {
        let mut flags = Flags::default();
        flags.kube.request_timeout = text.to_owned();
        request_timeout(&flags)
    }

    #[test]
    fn request_timeout_reads_go_durations() {
        assert_eq!(timeout("0").unwrap(), None);
        assert_eq!(timeout("").unwrap(), None);
        assert_eq!(timeout("30").unwrap(), Some(Duration::from_secs(30)));
        assert_eq!(timeout("30s").unwrap(), Some(Duration::from_secs(30)));
        assert_eq!(timeout("2m").unwrap(), Some(Duration::from_secs(120)));
        assert_eq!(timeout("1h30m").unwrap(), Some(Duration::from_secs(5400)));
        assert_eq!(
            timeout("1500ms").unwrap(),
            Some(Duration::from_millis(1500))
        );
        assert!(
            timeout("soon")
                .unwrap_err()
                .to_string()
                .contains("--request-timeout")
        );
    }

    #[test]
    fn yaml_extension_of_the_output_file_forces_yaml() {
        let mut flags = Flags::default();
        assert_eq!(output_format(&flags).unwrap(), Format::Json);
        flags.format = Some("YAML".into());
        assert_eq!(output_format(&flags).unwrap(), Format::Yaml);
        flags.format = Some("json".into());
        flags.sealed_secret_file = Some("out.yml".into());
        assert_eq!(output_format(&flags).unwrap(), Format::Yaml);
    }
}
