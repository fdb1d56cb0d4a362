//! `--re-encrypt` (`--rotate`): have the controller seal each SealedSecret of the input
//! again with its newest key. The output is written only when every one succeeded:
//! `-w FILE`, else the `-f FILE` itself (replaced atomically, in its own format unless
//! `-o` is given), else stdout.

use super::seal::render;
use super::validate::read_sealed_secrets;
use super::{Options, report_failures};
use crate::io::{Access, write_atomically, write_output};
use crate::online::{Controller, OFFLINE_RE_ENCRYPT, Verdict};
use anyhow::{Context, Result, anyhow};
use sealed_common::SealedSecret;
use sealed_common::codec::{Format, looks_like_json};
use sealed_common::reseal::strip_server_fields;
use std::path::{Path, PathBuf};

pub fn run(options: &Options) -> Result<()> {
    let (input, documents) = read_sealed_secrets(options)?;
    let in_place = in_place_target(options);
    let format = match (&in_place, options.explicit_format()?) {
        (Some(_), Some(format)) => format,
        (Some(_), None) if looks_like_json(&String::from_utf8_lossy(&input)) => Format::Json,
        (Some(_), None) => Format::Yaml,
        (None, _) => options.output_format()?,
    };
    let controller = Controller::connect(&options.connection, OFFLINE_RE_ENCRYPT)?;
    let mut out = String::new();
    let mut failures = Vec::new();
    for document in &documents {
        let name = document.display_name();
        let body = serde_json::to_vec(document)?;
        let verdict = controller
            .rotate(body)
            .with_context(|| format!("cannot re-encrypt secret {name}"))?;
        match verdict {
            Verdict::Opens(answer) => {
                let mut rotated: SealedSecret = serde_json::from_slice(&answer).map_err(|e| {
                    anyhow!(
                        "cannot re-encrypt secret {name}: the controller's answer is not a SealedSecret ({e})"
                    )
                })?;
                strip_server_fields(&mut rotated);
                out.push_str(&render(&rotated, format)?);
            }
            Verdict::DoesNotOpen(reason) => failures.push(format!(
                "unable to rotate secret: {name}{}",
                reason.map(|r| format!(" ({r})")).unwrap_or_default()
            )),
        }
    }
    report_failures(failures)?;
    match in_place {
        Some(path) => write_atomically(&path, out.as_bytes(), Access::Shared)
            .with_context(|| format!("cannot write {path:?}")),
        None => write_output(options.output.as_deref(), out.as_bytes(), Access::Shared),
    }
}

/// `-f FILE` without `-w`: the file to rewrite, if it is a regular file (followed
/// through symlinks, so a link keeps pointing at the new file). `/dev/stdin`, pipes
/// and other special files go to stdout instead.
fn in_place_target(options: &Options) -> Option<PathBuf> {
    if options.output.is_some() {
        return None;
    }
    let given = Path::new(options.input.as_deref()?);
    let path = std::fs::canonicalize(given).ok()?;
    let special = |p: &Path| p.starts_with("/dev") || p.starts_with("/proc");
    let regular = std::fs::metadata(&path).is_ok_and(|m| m.is_file());
    (regular && !special(given) && !special(&path)).then_some(path)
}
