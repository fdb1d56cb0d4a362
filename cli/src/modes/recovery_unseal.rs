//! `--recovery-unseal`: open SealedSecrets offline with backed-up controller keys and
//! print the Secrets, as upstream prints them (a 0-byte value shows as `null`), with
//! `spec.template.data` rendered as the controller renders it.

use super::{Options, at_document, decode_kind};
use crate::io::read_input;
use anyhow::{Context, Result, anyhow, bail};
use sealed_common::codec::{SECRET, to_text};
use sealed_common::key_secret::parse_key_backup;
use sealed_common::keys::fingerprint;
use sealed_common::sealed_secret::{API_VERSION, KIND};
use sealed_common::secret::{wipe_json, wipe_secret};
use sealed_common::unseal::{UnsealOptions, unseal};
use sealed_common::{RsaPrivateKey, SealedSecret};
use serde_json::Value;
use zeroize::Zeroizing;

/// Reads every key of every `--recovery-private-key` file, dropping duplicates.
pub fn load_keys(files: &[String]) -> Result<Vec<RsaPrivateKey>> {
    if files.is_empty() {
        bail!(
            "--recovery-unseal needs --recovery-private-key FILE: a PEM private key, a key Secret backup, or a v1 List of them"
        );
    }
    let mut keys: Vec<RsaPrivateKey> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for file in files {
        let bytes = std::fs::read(file)
            .map(Zeroizing::new)
            .with_context(|| format!("cannot read --recovery-private-key {file:?}"))?;
        let found = parse_key_backup(&bytes)
            .map_err(|e| anyhow!("--recovery-private-key {file:?}: {e}"))?;
        for key in found {
            if seen.insert(fingerprint(key.public_key())) {
                keys.push(key);
            }
        }
    }
    Ok(keys)
}

/// The Secrets as text, wiped when dropped. Copies made while serialising (inside
/// serde, k8s-openapi's base64 of `ByteString`, the YAML/JSON printers) are not.
pub fn run(options: &Options) -> Result<Zeroizing<Vec<u8>>> {
    let keys = load_keys(&options.recovery_private_key)?;
    let key_refs: Vec<&RsaPrivateKey> = keys.iter().collect();
    let input = read_input(options.input.as_deref(), "a json/yaml SealedSecret")?;
    let documents: Vec<SealedSecret> = decode_kind(&input, KIND, API_VERSION)?;
    if documents.is_empty() {
        bail!(
            "no SealedSecret in the input: expected a YAML or JSON SealedSecret on stdin or in --secret-file"
        );
    }
    let format = options.output_format()?;
    // spec.template.data is rendered exactly as the controller renders it.
    let engine = gotemplate::Engine::new();
    let unseal_options = UnsealOptions {
        templates: Some(&engine),
        ..UnsealOptions::default()
    };
    let mut out = Zeroizing::new(String::new());
    for (i, sealed) in documents.iter().enumerate() {
        let mut opened = unseal(sealed, &key_refs, unseal_options)
            .map_err(|e| anyhow!("{e} ({})", at_document(i + 1, &sealed.display_name())))?;
        let value = serde_json::to_value(&opened.secret);
        wipe_secret(&mut opened.secret);
        let mut value = WipedValue(value?);
        empty_values_as_null(&mut value.0);
        let text = Zeroizing::new(to_text(&value.0, &SECRET, format)?);
        out.push_str(&text);
    }
    Ok(Zeroizing::new(std::mem::take(&mut *out).into_bytes()))
}

/// A Secret as JSON, wiped when dropped.
struct WipedValue(Value);

impl Drop for WipedValue {
    fn drop(&mut self) {
        wipe_json(&mut self.0);
    }
}

/// Go prints a nil `[]byte` as `null`, and upstream's decryption yields nil for a
/// 0-byte value.
fn empty_values_as_null(secret: &mut Value) {
    if let Some(Value::Object(data)) = secret.get_mut("data") {
        for value in data.values_mut() {
            if value.as_str() == Some("") {
                *value = Value::Null;
            }
        }
    }
}
