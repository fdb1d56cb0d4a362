//! `keys list`, `keys dependents KEY` and `keys retire KEY [--dry-run] [--force]`.

use super::api::{Cluster, LEGACY_KEY_SECRET, SealedSecrets};
use super::inventory::{Census, Inventory, Key, SealedRef, Source, Unattributed};
use crate::online::{Connection, Controller};
use anyhow::{Result, anyhow, bail};
use sealed_common::key_secret::{KEY_LABEL, KEY_LABEL_ACTIVE};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::io::Write as _;

/// How `list` and `dependents` print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
    Yaml,
}

/// The label value `keys retire` sets.
const RETIRED: &str = "retired";

fn connect(connection: &Connection) -> Result<Cluster> {
    Ok(Cluster {
        controller: Controller::connect(connection, "")?,
    })
}

fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| anyhow!("cannot write standard output: {e}"))
}

fn render(value: &Value, output: Output) -> Result<String> {
    Ok(match output {
        Output::Yaml => sealed_common::codec::to_go_yaml(value)?,
        _ => {
            let mut text = serde_json::to_string_pretty(value)?;
            text.push('\n');
            text
        }
    })
}

/// The census, or `None` (with a warning) when SealedSecrets cannot be listed.
fn census_or_warn(cluster: &Cluster) -> Result<Option<Census>> {
    match cluster.sealed_secrets()? {
        SealedSecrets::Listed(items) => Ok(Some(Census::of(&items))),
        SealedSecrets::Unavailable(why) => {
            eprintln!("warning: {why}; SealedSecret counts are shown as \"?\"");
            Ok(None)
        }
    }
}

/// The census, or an error when SealedSecrets cannot be listed: without them there is
/// no answer.
fn census_or_fail(cluster: &Cluster, key: &Key) -> Result<Census> {
    match cluster.sealed_secrets()? {
        SealedSecrets::Listed(items) => Ok(Census::of(&items)),
        SealedSecrets::Unavailable(why) => Err(anyhow!(
            "cannot tell which SealedSecrets depend on {}: {why}",
            key.fingerprint
        )),
    }
}

pub fn list(connection: &Connection, output: Output) -> Result<()> {
    let cluster = connect(connection)?;
    let inventory = Inventory::load(&cluster)?;
    let census = census_or_warn(&cluster)?;
    let count = |key: &Key| census.as_ref().map(|c| c.dependents(key).len());
    if output != Output::Table {
        let keys: Vec<Value> = inventory
            .keys
            .iter()
            .map(|k| {
                json!({
                    "fingerprint": k.fingerprint,
                    "secretName": k.secret_name,
                    "created": k.created,
                    "expires": k.expires,
                    "active": k.active,
                    "heldBackUntil": k.held_back_until,
                    "sealedSecrets": count(k),
                })
            })
            .collect();
        let value = json!({
            "source": inventory.source.name(),
            "keys": keys,
            "unattributed": census.as_ref().map(|c| c.unattributed.len()),
            "openedByOtherKeys": census.as_ref().map(|c| c.on_other_keys(&inventory.keys)),
        });
        return print(&render(&value, output)?);
    }
    let mut rows = vec![[
        "FINGERPRINT".to_owned(),
        "SECRET".to_owned(),
        "CREATED".to_owned(),
        "EXPIRES".to_owned(),
        "ACTIVE".to_owned(),
        "SEALEDSECRETS".to_owned(),
    ]];
    for k in &inventory.keys {
        rows.push([
            k.fingerprint.clone(),
            k.secret_name.clone(),
            k.created.clone().unwrap_or_else(|| "-".into()),
            k.expires.clone().unwrap_or_else(|| "-".into()),
            k.active_text(),
            count(k).map_or("?".to_owned(), |n| n.to_string()),
        ]);
    }
    let mut text = table(&rows);
    match &census {
        Some(census) => {
            let total = census.unattributed.len();
            let no_fp = census
                .unattributed
                .iter()
                .filter(|(_, why)| why.lacks_fingerprint())
                .count();
            let _ = writeln!(
                text,
                "Not attributed to a key: {total} SealedSecret{} ({no_fp} without status.keyFingerprint, {} not current or not Synced)",
                plural(total),
                total - no_fp
            );
            let other = census.on_other_keys(&inventory.keys);
            if other > 0 {
                let _ = writeln!(
                    text,
                    "Opened by a key not listed here: {other} SealedSecret{} (see kubectl get sealedsecrets -A -o custom-columns=NS:.metadata.namespace,NAME:.metadata.name,KEY:.status.keyFingerprint)",
                    plural(other)
                );
            }
        }
        None => text.push_str("Not attributed to a key: ?\n"),
    }
    print(&text)
}

pub fn dependents(connection: &Connection, wanted: &str, output: Output) -> Result<()> {
    let cluster = connect(connection)?;
    let inventory = Inventory::load(&cluster)?;
    let key = inventory.find(wanted)?;
    let census = census_or_fail(&cluster, key)?;
    let dependents = census.dependents(key);
    if output != Output::Table {
        let value = json!({
            "key": {"fingerprint": key.fingerprint, "secretName": key.secret_name, "active": key.active},
            "dependents": dependents.iter().map(|r| json!({"namespace": r.namespace, "name": r.name})).collect::<Vec<_>>(),
            "unattributed": unattributed_json(&census.unattributed),
        });
        return print(&render(&value, output)?);
    }
    let mut text = String::new();
    let _ = writeln!(text, "Opened by {}: {}", key.describe(), dependents.len());
    list_refs(&mut text, dependents);
    let _ = writeln!(
        text,
        "Not attributed to any key: {}",
        census.unattributed.len()
    );
    list_unattributed(&mut text, &census.unattributed);
    print(&text)
}

pub fn retire(connection: &Connection, wanted: &str, dry_run: bool, force: bool) -> Result<()> {
    let cluster = connect(connection)?;
    let inventory = Inventory::load(&cluster)?;
    let key = inventory.find(wanted)?;
    let ns = cluster.namespace().to_owned();
    let upstream = inventory.source == Source::Secrets;
    if let Some(label) = key.label.as_deref()
        && label != KEY_LABEL_ACTIVE
        && key.secret_name != LEGACY_KEY_SECRET
    {
        print(&format!(
            "{} is already retired: Secret {ns}/{} is labelled {KEY_LABEL}={label}\n",
            key.fingerprint, key.secret_name
        ))?;
        return Ok(());
    }
    let census = census_or_fail(&cluster, key)?;
    let dependents = census.dependents(key);
    let blockers = blockers(key, dependents.len(), census.unattributed.len());
    let legacy = key.secret_name == LEGACY_KEY_SECRET;
    let legacy_hint = format!(
        "Secret {ns}/{LEGACY_KEY_SECRET} is the legacy key, which the controller loads by its name whatever its label: retire it by deleting it, after a backup (kubeseal keys backup -w keys.yaml): kubectl -n {ns} delete secret {LEGACY_KEY_SECRET}"
    );

    if dry_run {
        let mut text = String::new();
        let _ = writeln!(text, "Key: {} in namespace {ns}", key.describe());
        let _ = writeln!(text, "Active (sealing) key: {}", key.active_text());
        let _ = writeln!(
            text,
            "Would no longer open: {} SealedSecret{}",
            dependents.len(),
            plural(dependents.len())
        );
        list_refs(&mut text, dependents);
        let _ = writeln!(
            text,
            "Unknown (not attributed to any key): {}",
            census.unattributed.len()
        );
        list_unattributed(&mut text, &census.unattributed);
        if legacy {
            let _ = writeln!(text, "Note: {legacy_hint}");
        }
        match &blockers {
            None => {
                let _ = writeln!(
                    text,
                    "Safe to retire: yes (nothing in the cluster depends on it and it does not seal; SealedSecrets kept only in Git are not covered)"
                );
                print(&text)?;
                Ok(())
            }
            Some(why) => {
                let _ = writeln!(text, "Safe to retire: no");
                print(&text)?;
                bail!("not safe to retire {}: {why}", key.fingerprint)
            }
        }
    } else {
        if let Some(why) = &blockers {
            if !force {
                bail!(
                    "refusing to retire {}: {why}; nothing changed (details: kubeseal keys retire {} --dry-run; override with --force)",
                    key.fingerprint,
                    key.fingerprint
                );
            }
            eprintln!(
                "warning: retiring {} although {why} (--force)",
                key.fingerprint
            );
        }
        if legacy {
            bail!("{legacy_hint}");
        }
        cluster.relabel(&key.secret_name, RETIRED)?;
        let name = &key.secret_name;
        let mut text = format!(
            "Retired {}: Secret {ns}/{name} labelled {KEY_LABEL}={RETIRED}\n",
            key.fingerprint
        );
        if upstream {
            let _ = writeln!(
                text,
                "An upstream controller drops it at its next start: kubectl -n {ns} delete pod -l name=sealed-secrets-controller"
            );
        } else {
            text.push_str("The controller drops it without a restart.\n");
        }
        let _ = writeln!(
            text,
            "Undo:            kubectl -n {ns} label secret {name} {KEY_LABEL}={KEY_LABEL_ACTIVE} --overwrite"
        );
        let _ = writeln!(
            text,
            "Delete for good: kubectl -n {ns} delete secret {name}   (keep a backup: kubeseal keys backup -w keys.yaml)"
        );
        print(&text)
    }
}

/// Why retiring `key` is not safe, on one line; `None` when it is.
fn blockers(key: &Key, dependents: usize, unknown: usize) -> Option<String> {
    let mut why = Vec::new();
    if key.active {
        why.push(
            "it is the active (sealing) key; wait for a newer key, or force one (docs/key-rotation.md)"
                .to_owned(),
        );
    }
    if dependents > 0 {
        why.push(format!(
            "{dependents} SealedSecret{} depend{} on it (re-encrypt them: kubeseal --re-encrypt)",
            plural(dependents),
            if dependents == 1 { "s" } else { "" }
        ));
    }
    if unknown > 0 {
        why.push(format!(
            "{unknown} SealedSecret{} cannot be attributed to a key, so {} may need it",
            plural(unknown),
            if unknown == 1 { "it" } else { "they" }
        ));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn list_refs(text: &mut String, refs: &[SealedRef]) {
    for r in refs {
        let _ = writeln!(text, "  {}", r.display());
    }
}

fn list_unattributed(text: &mut String, items: &[(SealedRef, Unattributed)]) {
    for (r, why) in items {
        let _ = writeln!(text, "  {}: {}", r.display(), why.reason());
    }
}

fn unattributed_json(items: &[(SealedRef, Unattributed)]) -> Vec<Value> {
    items
        .iter()
        .map(|(r, why)| json!({"namespace": r.namespace, "name": r.name, "reason": why.reason()}))
        .collect()
}

/// Left-aligned columns, two spaces apart.
fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                let _ = write!(
                    line,
                    "{cell:<width$}  ",
                    width = widths.get(i).copied().unwrap_or(0)
                );
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let rows = [
            ["A".to_owned(), "BB".to_owned(), "C".to_owned()],
            ["long".to_owned(), "x".to_owned(), "y".to_owned()],
        ];
        assert_eq!(table(&rows), "A     BB  C\nlong  x   y\n");
    }
}
