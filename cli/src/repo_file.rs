//! `.sealed-secrets.yaml`: sealing rules for a repository, in the spirit of `.sops.yaml`
//! creation rules. The file is found by walking up from the input file (`-f`), else the
//! output file (`-w`, `--merge-into`), else the working directory. The first rule whose
//! `path` matches that file gives the certificate, the extra recipients and the scope;
//! flags and their environment variables win over it.
//!
//! ```yaml
//! rules:
//!   - path: "clusters/prod/**"          # glob, relative to this file's folder
//!     cert: certs/prod.pem              # file (relative to this folder) or URL
//!     recipients: [certs/dr.pem, certs/escrow.pem]
//!     scope: strict
//!   - cert: certs/staging.pem           # no path: matches everything, stdin too
//! ```

use crate::modes::Options;
use anyhow::{Context, Result, anyhow};
use globset::GlobBuilder;
use sealed_common::Scope;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The file's name.
pub const FILE_NAME: &str = ".sealed-secrets.yaml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RepoFile {
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    path: Option<String>,
    cert: Option<String>,
    #[serde(default)]
    recipients: Vec<String>,
    scope: Option<String>,
}

/// The nearest `.sealed-secrets.yaml` at or above `dir`.
fn find(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join(FILE_NAME))
        .find(|candidate| candidate.is_file())
}

/// `source` as given when it is a URL, else relative to the rules file's folder.
fn resolve(source: &str, base: &Path) -> String {
    if source.contains("://") {
        source.to_owned()
    } else {
        base.join(source).display().to_string()
    }
}

/// Whether `rule` applies to `file` (relative to the rules folder; `None` for stdin).
fn matches(rule: &Rule, file: Option<&Path>, at: &str) -> Result<bool> {
    let Some(pattern) = rule.path.as_deref() else {
        return Ok(true);
    };
    let glob = GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| anyhow!("{at}: path {pattern:?} is not a valid pattern ({e})"))?;
    Ok(file.is_some_and(|f| glob.compile_matcher().is_match(f)))
}

/// Fills what the flags left unset from the first matching rule of the nearest rules
/// file. `merge_into` is the `--merge-into` target, if any.
pub fn apply(options: &mut Options, merge_into: Option<&str>) -> Result<()> {
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let file = [
        options.input.as_deref(),
        options.output.as_deref(),
        merge_into,
    ]
    .into_iter()
    .flatten()
    .find(|f| !f.is_empty() && *f != "-" && !f.starts_with("/dev/"))
    .map(|f| cwd.join(f));
    let start = file.as_deref().and_then(Path::parent).unwrap_or(&cwd);
    let Some(rules_path) = find(start) else {
        return Ok(());
    };
    let shown = rules_path.display().to_string();
    let text =
        std::fs::read_to_string(&rules_path).with_context(|| format!("cannot read {shown}"))?;
    let parsed: RepoFile = serde_saphyr::from_str(&text)
        .map_err(|e| anyhow!("{shown} is not a valid rules file: {e}"))?;
    let base = rules_path.parent().unwrap_or(&cwd).to_path_buf();
    let relative = file.as_deref().and_then(|f| f.strip_prefix(&base).ok());
    for (index, rule) in parsed.rules.iter().enumerate() {
        let at = format!("{shown}: rules[{index}]");
        if !matches(rule, relative, &at)? {
            continue;
        }
        if options.cert().is_none()
            && let Some(cert) = &rule.cert
        {
            options.cert = Some(resolve(cert, &base));
        }
        if options.recipients.iter().all(|r| r.is_empty()) {
            options.recipients = rule.recipients.iter().map(|r| resolve(r, &base)).collect();
        }
        if options.scope.is_none()
            && let Some(scope) = &rule.scope
        {
            let scope = scope
                .parse::<Scope>()
                .map_err(|e| anyhow!("{at}: scope {scope:?}: {e}"))?;
            options.scope = Some(scope);
        }
        return Ok(());
    }
    Ok(())
}
