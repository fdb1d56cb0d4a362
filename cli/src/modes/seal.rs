//! The default mode: a stream of Secrets in, one SealedSecret per Secret out.

use super::{Options, at_document, decode_kind, load_certificate, load_recipients};
use crate::cluster::{KubeOptions, default_namespace};
use crate::io::read_input;
use anyhow::{Result, anyhow, bail};
use sealed_common::codec::{Format, SEALED_SECRET, to_text};
use sealed_common::seal::{SealError, SealOptions, seal_secret};
use sealed_common::secret::SecretDocument;
use sealed_common::{RsaPublicKey, SealedSecret};

/// Seal options from the command line, with the `--recipient` certificates read; the
/// kubeconfig is read only if a Secret needs it.
pub fn seal_options(options: &Options) -> Result<SealOptions> {
    let recipients = load_recipients(options)?
        .into_iter()
        .map(|c| c.public_key().clone())
        .collect();
    Ok(SealOptions {
        scope: options.scope.unwrap_or_default(),
        allow_empty_data: options.allow_empty_data,
        name: options.name.clone(),
        namespace_flag: options.connection.kube.namespace.clone(),
        default_namespace: None,
        force_namespace: None,
        recipients,
    })
}

/// Seals one decoded document; the error names it. `kube` gives the default namespace.
pub fn seal_document(
    index: usize,
    document: SecretDocument,
    key: &RsaPublicKey,
    options: &SealOptions,
    kube: &KubeOptions,
) -> Result<SealedSecret> {
    let name = document.display_name();
    let plain = document
        .into_plain()
        .map_err(|e| anyhow!("{e} ({})", at_document(index, &name)))?;
    match seal_secret(&plain, key, options) {
        Err(SealError::MissingNamespace) if options.default_namespace.is_none() => {
            // Only now is the kubeconfig worth reading.
            let mut with_default = options.clone();
            with_default.default_namespace = default_namespace(kube)?;
            seal_secret(&plain, key, &with_default).map_err(|e| describe(e, index, &name))
        }
        other => other.map_err(|e| describe(e, index, &name)),
    }
}

fn describe(e: SealError, index: usize, name: &str) -> anyhow::Error {
    let hint = match e {
        SealError::MissingNamespace => {
            "; set metadata.namespace, pass --namespace, or choose a kubeconfig context with a namespace"
        }
        _ => "",
    };
    anyhow!("{e} ({}){hint}", at_document(index, name))
}

/// Serialises one SealedSecret as upstream prints it.
pub fn render(sealed: &SealedSecret, format: Format) -> Result<String> {
    let value = serde_json::to_value(sealed)?;
    Ok(to_text(&value, &SEALED_SECRET, format)?)
}

pub fn run(options: &Options) -> Result<Vec<u8>> {
    let cert = load_certificate(options)?;
    let input = read_input(options.input.as_deref(), "json/yaml k8s resource")?;
    let documents: Vec<SecretDocument> = decode_kind(&input, "Secret", "v1")?;
    if documents.is_empty() {
        bail!(
            "no Secret in the input: expected a YAML or JSON v1 Secret on stdin or in --secret-file"
        );
    }
    let seal = seal_options(options)?;
    let format = options.output_format()?;
    let kube = &options.connection.kube;
    let mut out = String::new();
    for (i, document) in documents.into_iter().enumerate() {
        let sealed = seal_document(i + 1, document, cert.public_key(), &seal, kube)?;
        out.push_str(&render(&sealed, format)?);
    }
    Ok(out.into_bytes())
}
