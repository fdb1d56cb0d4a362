//! `--validate`: ask the controller whether each SealedSecret of the input opens.
//! Silent on success, as upstream; one line per SealedSecret that does not open.

use super::{Options, decode_kind, report_failures};
use crate::io::read_input;
use crate::online::{Controller, OFFLINE_VALIDATE, Verdict};
use anyhow::{Context, Result, bail};
use sealed_common::SealedSecret;
use sealed_common::sealed_secret::{API_VERSION, KIND};

pub fn run(options: &Options) -> Result<()> {
    let (_, documents) = read_sealed_secrets(options)?;
    let controller = Controller::connect(&options.connection, OFFLINE_VALIDATE)?;
    let mut failures = Vec::new();
    for document in &documents {
        let name = document.display_name();
        let body = serde_json::to_vec(document)?;
        let verdict = controller
            .verify(body)
            .with_context(|| format!("cannot validate sealed secret {name}"))?;
        if let Verdict::DoesNotOpen(reason) = verdict {
            failures.push(format!(
                "unable to decrypt sealed secret: {name}{}",
                reason.map(|r| format!(" ({r})")).unwrap_or_default()
            ));
        }
    }
    report_failures(failures)
}

/// The input (`-f FILE` or stdin) and its SealedSecrets; at least one.
pub fn read_sealed_secrets(options: &Options) -> Result<(Vec<u8>, Vec<SealedSecret>)> {
    let input = read_input(options.input.as_deref(), "sealed secret")?;
    let documents: Vec<SealedSecret> = decode_kind(&input, KIND, API_VERSION)?;
    if documents.is_empty() {
        bail!(
            "no SealedSecret in the input: expected YAML or JSON {API_VERSION} SealedSecrets on stdin or in --secret-file"
        );
    }
    // Sealed text, nothing to wipe.
    Ok((input.to_vec(), documents))
}
