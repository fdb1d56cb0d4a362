//! One module per kubeseal mode. Each returns the bytes to write; `main` writes them
//! only when the whole mode succeeded, so a failure never leaves half an output.

pub mod fetch_cert;
pub mod merge_into;
pub mod raw;
pub mod recovery_unseal;
pub mod reencrypt;
pub mod seal;
pub mod validate;

use crate::io::read_cert_source;
use crate::online::{Connection, Controller, OFFLINE_SEAL};
use anyhow::{Context, Result, bail};
use sealed_common::Scope;
use sealed_common::codec::{Format, one_line};
use sealed_common::keys::Certificate;
use serde::de::DeserializeOwned;
use std::time::SystemTime;

/// What the modes take from the command line, as plain values.
#[derive(Debug, Default)]
pub struct Options {
    /// `-f`: the input file; standard input when `None`.
    pub input: Option<String>,
    /// `-w`: the output file; standard output when `None`.
    pub output: Option<String>,
    /// `-o` as given; checked only by the modes that print.
    pub format: Option<String>,
    /// `--cert`: a file or URL; the controller's certificate when `None` or empty.
    pub cert: Option<String>,
    /// `--recipient`: more certificates (files or URLs) to seal every value for.
    pub recipients: Vec<String>,
    pub scope: Option<Scope>,
    /// `--name`
    pub name: Option<String>,
    pub allow_empty_data: bool,
    /// `--from-file` (`--raw`)
    pub from_file: Vec<String>,
    /// `--recovery-private-key` (`--recovery-unseal`)
    pub recovery_private_key: Vec<String>,
    /// The API server and the controller, for the certificate and the online modes.
    pub connection: Connection,
}

impl Options {
    /// `-o/--format` as given (case-insensitive, as upstream); `None` when not given.
    pub fn explicit_format(&self) -> Result<Option<Format>> {
        match self
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
                self.format.as_deref().unwrap_or_default()
            ),
        }
    }

    /// The output format: `-o`, except that a `-w` file ending in `.yaml`/`.yml` forces
    /// YAML, as upstream does. JSON by default.
    pub fn output_format(&self) -> Result<Format> {
        let explicit = self.explicit_format()?;
        let forced_yaml = self
            .output
            .as_deref()
            .and_then(|f| std::path::Path::new(f).extension())
            .is_some_and(|e| e == "yaml" || e == "yml");
        Ok(if forced_yaml {
            Format::Yaml
        } else {
            explicit.unwrap_or(Format::Json)
        })
    }

    /// `--cert`, when given and not empty.
    pub fn cert(&self) -> Option<&str> {
        self.cert.as_deref().filter(|c| !c.is_empty())
    }
}

/// Reads a certificate from a file or URL (`flag` names where it came from in errors)
/// and refuses an expired one.
pub fn read_certificate(source: &str, flag: &str, options: &Options) -> Result<Certificate> {
    let bytes = read_cert_source(source, options.connection.kube.request_timeout()?)?;
    let cert =
        Certificate::from_pem(&bytes).with_context(|| format!("cannot use {flag} {source:?}"))?;
    cert.check_not_expired(SystemTime::now())?;
    Ok(cert)
}

/// The `--recipient` certificates, in the order given.
pub fn load_recipients(options: &Options) -> Result<Vec<Certificate>> {
    options
        .recipients
        .iter()
        .filter(|r| !r.is_empty())
        .map(|source| read_certificate(source, "--recipient", options))
        .collect()
}

/// Loads the sealing certificate from `--cert`, or without it from the controller, and
/// refuses an expired one.
pub fn load_certificate(options: &Options) -> Result<Certificate> {
    if let Some(source) = options.cert() {
        return read_certificate(source, "--cert", options);
    }
    let controller = Controller::connect(&options.connection, OFFLINE_SEAL)?;
    let bytes = controller.certificate()?;
    let cert = Certificate::from_pem(&bytes).with_context(|| {
        format!(
            "cannot use the certificate of the controller {}",
            controller.name()
        )
    })?;
    cert.check_not_expired(SystemTime::now())?;
    Ok(cert)
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

    #[test]
    fn yaml_extension_of_the_output_file_forces_yaml() {
        let mut options = Options::default();
        assert_eq!(options.output_format().unwrap(), Format::Json);
        options.format = Some("YAML".into());
        assert_eq!(options.output_format().unwrap(), Format::Yaml);
        options.format = Some("json".into());
        options.output = Some("out.yml".into());
        assert_eq!(options.output_format().unwrap(), Format::Yaml);
    }
}
