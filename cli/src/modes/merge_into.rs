//! `--merge-into FILE`: seal the input Secret and merge its items and template labels
//! and annotations into an existing SealedSecret file, replacing it atomically.
//!
//! Better than upstream: the file keeps its own scope (upstream would seal the new items
//! strict and leave them unopenable in a wider-scoped file), its own format unless `-o`
//! is given, and its permissions; missing maps in the file do not crash.

use super::seal::{render, seal_document, seal_options};
use super::{decode_kind, explicit_format, load_certificate};
use crate::flags::Flags;
use crate::io::{read_input, write_atomically};
use anyhow::{Context, Result, anyhow, bail};
use sealed_common::codec::{Format, looks_like_json};
use sealed_common::sealed_secret::{API_VERSION, KIND};
use sealed_common::secret::SecretDocument;
use sealed_common::{SealedSecret, SecretTemplateSpec};
use std::path::Path;

pub fn run(flags: &Flags, target: &str) -> Result<()> {
    if flags.sealed_secret_file.is_some() {
        bail!(
            "--merge-into rewrites {target:?} in place; do not combine it with --sealed-secret-file"
        );
    }
    let cert = load_certificate(flags)?;
    let original_bytes =
        std::fs::read(target).with_context(|| format!("cannot read --merge-into {target:?}"))?;
    let mut originals: Vec<SealedSecret> = decode_kind(&original_bytes, KIND, API_VERSION)
        .with_context(|| format!("in --merge-into {target:?}"))?;
    if originals.len() != 1 {
        bail!(
            "--merge-into {target:?} must hold exactly one SealedSecret, found {}",
            originals.len()
        );
    }
    let mut original = originals.remove(0);
    let file_scope = original.scope();
    if let Some(flag_scope) = flags.scope
        && flag_scope != file_scope
    {
        bail!(
            "scope mismatch: {target:?} is {file_scope} but --scope is {flag_scope}; items of one SealedSecret must share its scope"
        );
    }

    let input = read_input(flags.secret_file.as_deref(), "json/yaml k8s resource")?;
    let mut documents: Vec<SecretDocument> = decode_kind(&input, "Secret", "v1")?;
    if documents.len() != 1 {
        bail!(
            "--merge-into needs exactly one input Secret, found {}",
            documents.len()
        );
    }
    let mut options = seal_options(flags);
    options.name = original.metadata.name.clone();
    options.force_namespace = original.metadata.namespace.clone();
    options.namespace_flag = None;
    options.scope = file_scope;
    let update = seal_document(1, documents.remove(0), cert.public_key(), &options, flags)?;

    merge(&mut original, update);

    let format = match explicit_format(flags)? {
        Some(format) => format,
        None if looks_like_json(&String::from_utf8_lossy(&original_bytes)) => Format::Json,
        None => Format::Yaml,
    };
    let text = render(&original, format)?;
    write_atomically(Path::new(target), text.as_bytes())
        .map_err(|e| anyhow!("cannot write {target:?}: {e}"))
}

/// Upstream's merge: new items replace old ones; template labels, annotations and data
/// are added or replaced key by key.
fn merge(original: &mut SealedSecret, update: SealedSecret) {
    original
        .spec
        .encrypted_data
        .extend(update.spec.encrypted_data);
    let SecretTemplateSpec { metadata, data, .. } = update.spec.template;
    let template = &mut original.spec.template;
    if let Some(meta) = metadata {
        let target = template.metadata.get_or_insert_with(Default::default);
        if let Some(labels) = meta.labels {
            target
                .labels
                .get_or_insert_with(Default::default)
                .extend(labels);
        }
        if let Some(annotations) = meta.annotations {
            target
                .annotations
                .get_or_insert_with(Default::default)
                .extend(annotations);
        }
    }
    if let Some(data) = data {
        template
            .data
            .get_or_insert_with(Default::default)
            .extend(data);
    }
}
