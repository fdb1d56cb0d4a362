//! `--merge-into FILE`: seal the input Secret and merge its items and template labels
//! and annotations into an existing SealedSecret file, replacing it atomically.
//!
//! Better than upstream: the file keeps its own scope (upstream would seal the new items
//! strict and leave them unopenable in a wider-scoped file), its own format unless `-o`
//! is given, and its permissions; missing maps in the file do not crash.

use super::seal::{render, seal_document, seal_options};
use super::{Options, decode_kind, load_certificate};
use crate::io::{Access, read_input, write_atomically};
use anyhow::{Context, Result, anyhow, bail};
use sealed_common::codec::{Format, looks_like_json};
use sealed_common::sealed_secret::{API_VERSION, KIND};
use sealed_common::secret::SecretDocument;
use sealed_common::{SealedSecret, SecretTemplateSpec};
use std::path::Path;

pub fn run(options: &Options, target: &str) -> Result<()> {
    if options.output.is_some() {
        bail!(
            "--merge-into rewrites {target:?} in place; do not combine it with --sealed-secret-file"
        );
    }
    let cert = load_certificate(options)?;
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
    if let Some(flag_scope) = options.scope
        && flag_scope != file_scope
    {
        bail!(
            "scope mismatch: {target:?} is {file_scope} but --scope is {flag_scope}; items of one SealedSecret must share its scope"
        );
    }

    let input = read_input(options.input.as_deref(), "json/yaml k8s resource")?;
    let mut documents: Vec<SecretDocument> = decode_kind(&input, "Secret", "v1")?;
    if documents.len() != 1 {
        bail!(
            "--merge-into needs exactly one input Secret, found {}",
            documents.len()
        );
    }
    let mut seal = seal_options(options)?;
    seal.name = original.metadata.name.clone();
    seal.force_namespace = original.metadata.namespace.clone();
    seal.namespace_flag = None;
    seal.scope = file_scope;
    let kube = &options.connection.kube;
    let update = seal_document(1, documents.remove(0), cert.public_key(), &seal, kube)?;

    merge(&mut original, update);

    let format = match options.explicit_format()? {
        Some(format) => format,
        None if looks_like_json(&String::from_utf8_lossy(&original_bytes)) => Format::Json,
        None => Format::Yaml,
    };
    let text = render(&original, format)?;
    write_atomically(Path::new(target), text.as_bytes(), Access::Shared)
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
