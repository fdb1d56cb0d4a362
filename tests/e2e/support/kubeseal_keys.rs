//! `kubeseal keys ...` as the key runbook runs it, with what it prints parsed and
//! checked: `list` (or the controller's `/v1/keys` when kubeseal cannot reach it),
//! `backup -w` and the backup file, `restore`, and `retire` with its dry run, waiting
//! out SealedSecrets of other namespaces that block it cluster-wide.

use crate::controller_service::ControllerService;
use crate::harness::Ctx;
use crate::http;
use crate::key_secrets::{self, Key};
use crate::kubeseal::{self, Output};
use crate::objects::{self, describe_secret, labels_of};
use crate::sealing::certificate_from_pem;
use crate::wait::Poll;
use anyhow::{Context, Result, ensure};
use base64::Engine;
use sealed_common::codec::decode_stream;
use sealed_common::key_secret::{KEY_LABEL, KEY_LABEL_ACTIVE, TLS_CERT, TLS_KEY, TLS_SECRET_TYPE};
use serde_json::Value;
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long `keys retire` may wait for SealedSecrets of others (other tests, other
/// tenants) that cannot be attributed to a key: they block it cluster-wide, rightly.
pub const FOREIGN_PATIENCE: Duration = Duration::from_secs(30);

// ---------- keys list ----------

/// One row of `kubeseal keys list`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRow {
    pub fingerprint: String,
    pub secret: String,
    pub created: String,
    /// `yes`, `no` or `held back until <time>`.
    pub active: String,
    /// SEALEDSECRETS; `None` when asked directly (the controller does not count).
    pub sealed_secrets: Option<usize>,
}

/// The rows of `kubeseal keys list` as the runbook shows it (a table, newest first).
pub fn parse_key_table(text: &str) -> Result<Vec<KeyRow>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    ensure!(
        header
            == [
                "FINGERPRINT",
                "SECRET",
                "CREATED",
                "EXPIRES",
                "ACTIVE",
                "SEALEDSECRETS"
            ],
        "kubeseal keys list: expected the header FINGERPRINT SECRET CREATED EXPIRES ACTIVE SEALEDSECRETS, got:\n{text}"
    );
    let mut rows = Vec::new();
    for line in lines.take_while(|l| l.starts_with("SHA256:")) {
        let f: Vec<&str> = line.split_whitespace().collect();
        ensure!(
            f.len() >= 6,
            "kubeseal keys list: a row with fewer than 6 columns: {line:?}"
        );
        rows.push(KeyRow {
            fingerprint: f[0].to_owned(),
            secret: f[1].to_owned(),
            created: f[2].to_owned(),
            active: f[4..f.len() - 1].join(" "),
            sealed_secrets: f[f.len() - 1].parse().ok(),
        });
    }
    Ok(rows)
}

/// `kubeseal keys list`, parsed, with its text; or `/v1/keys` asked directly.
pub async fn list(ctx: &Ctx, service: &ControllerService) -> Result<(Vec<KeyRow>, String)> {
    if service.proxied() {
        let out = service.kubeseal_ok(ctx, &["keys", "list"], b"").await?;
        return Ok((parse_key_table(&out.stdout)?, out.stdout));
    }
    let r = http::get(service.api, "/v1/keys").await?;
    ensure!(
        r.status == 200,
        "GET http://{}/v1/keys: expected 200, got {}",
        service.api,
        r.describe()
    );
    let body: Value = serde_json::from_slice(&r.body)
        .with_context(|| format!("/v1/keys is not JSON: {}", r.describe()))?;
    let text = |k: &Value, f: &str| k[f].as_str().unwrap_or_default().to_owned();
    let rows: Vec<KeyRow> = body["keys"]
        .as_array()
        .with_context(|| format!("/v1/keys without keys: {body}"))?
        .iter()
        .map(|k| KeyRow {
            fingerprint: text(k, "fingerprint"),
            secret: text(k, "secretName"),
            created: text(k, "created"),
            active: match (k["active"].as_bool(), k["heldBackUntil"].as_str()) {
                (Some(true), _) => "yes".to_owned(),
                (_, Some(until)) => format!("held back until {until}"),
                _ => "no".to_owned(),
            },
            sealed_secrets: None,
        })
        .collect();
    let shown = rows
        .iter()
        .map(|r| {
            format!(
                "{}  {}  {}  {}\n",
                r.fingerprint, r.secret, r.created, r.active
            )
        })
        .collect();
    Ok((rows, shown))
}

/// Waits until the key list (as served by the replica the Service points at, which
/// learns keys from its watch) satisfies `check`, which `what` describes; prints it.
pub async fn wait_list<P>(
    ctx: &Ctx,
    service: &ControllerService,
    what: &str,
    check: P,
) -> Result<Vec<KeyRow>>
where
    P: Fn(&[KeyRow]) -> bool,
{
    let how = if service.proxied() {
        "`kubeseal keys list`"
    } else {
        "GET /v1/keys"
    };
    let (rows, text) = ctx
        .wait_for(
            ctx.timeout(),
            &format!("{how} for {} to show {what}", service.home),
            || async {
                let (rows, text) = list(ctx, service).await?;
                Ok(if check(&rows) {
                    Poll::Ready((rows, text))
                } else {
                    Poll::Pending(text)
                })
            },
        )
        .await?;
    println!("{how} in {}:\n{}", service.home, text.trim_end());
    Ok(rows)
}

/// `Err` unless `rows` are exactly `new` ACTIVE yes, then `old` ACTIVE no; `what` names
/// the moment.
pub fn expect_new_then_old(rows: &[KeyRow], new: &Key, old: &Key, what: &str) -> Result<()> {
    let shape = |row: Option<&KeyRow>, key: &Key, active: &str| {
        row.is_some_and(|r| r.fingerprint == key.fingerprint && r.active == active)
    };
    ensure!(
        rows.len() == 2 && shape(rows.first(), new, "yes") && shape(rows.get(1), old, "no"),
        "keys list {what}: expected {} ACTIVE yes, then {} ACTIVE no, got {rows:?}",
        new.fingerprint,
        old.fingerprint
    );
    Ok(())
}

/// `YYYY-MM-DDTHH:MM:SSZ` (how `kubeseal keys list` prints times) as a time.
pub fn parse_utc(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    let shape = b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z';
    if !shape {
        return None;
    }
    let num = |from: usize, to: usize| text.get(from..to)?.parse::<u64>().ok();
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if year < 1970 || !(1..=12).contains(&month) {
        return None;
    }
    let leap = |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    const MONTH_DAYS: [u64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut days: u64 = (1970..year).map(|y| if leap(y) { 366 } else { 365 }).sum();
    for m in 1..month {
        days += MONTH_DAYS[(m - 1) as usize] + u64::from(m == 2 && leap(year));
    }
    days += day.checked_sub(1)?;
    Some(UNIX_EPOCH + Duration::from_secs(days * 86400 + hour * 3600 + minute * 60 + second))
}

// ---------- keys backup / restore ----------

/// `kubeseal keys backup -w PATH` of `home`: nothing on stdout, `Backed up N key(s)
/// from namespace HOME` with every fingerprint on stderr, and a file holding exactly
/// `keys` ([`check_backup`]). Returns the backup's items.
pub async fn backup(ctx: &Ctx, home: &str, path: &Path, keys: &[&Key]) -> Result<Vec<Value>> {
    let arg = path.display().to_string();
    let out = kubeseal::run_for_ok(ctx, home, &["keys", "backup", "-w", &arg], b"").await?;
    let summary = match keys.len() {
        1 => format!("Backed up 1 key from namespace {home}"),
        n => format!("Backed up {n} keys from namespace {home}"),
    };
    ensure!(
        out.stdout.is_empty()
            && out.stderr.contains(&summary)
            && keys.iter().all(|k| out.stderr.contains(&k.fingerprint)),
        "kubeseal keys backup -w FILE: expected nothing on stdout and `{summary}` with {:?} on stderr, got\nstdout: {}\nstderr: {}",
        keys.iter().map(|k| &k.fingerprint).collect::<Vec<_>>(),
        out.stdout,
        out.stderr
    );
    check_backup(path, keys)
}

/// Checks a `kubeseal keys backup -w` file: mode 0600, one `v1` `List` of exactly
/// `keys` (by fingerprint), labelled `active`, with their private keys, without the
/// fields the API server sets. Returns its items.
pub fn check_backup(path: &Path, keys: &[&Key]) -> Result<Vec<Value>> {
    let mode = std::fs::metadata(path)
        .with_context(|| format!("the backup {}", path.display()))?
        .permissions()
        .mode()
        & 0o777;
    ensure!(
        mode == 0o600,
        "the backup {}: expected mode 0600, found {mode:o}",
        path.display()
    );
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the backup {}", path.display()))?;
    let mut docs: Vec<Value> = decode_stream(text.as_bytes())
        .with_context(|| format!("the backup is not YAML:\n{text}"))?;
    ensure!(
        docs.len() == 1,
        "the backup: expected one document (a v1 List), found {}",
        docs.len()
    );
    let list = docs.remove(0);
    ensure!(
        list["apiVersion"] == "v1" && list["kind"] == "List",
        "the backup: expected apiVersion v1, kind List, got apiVersion {} kind {}",
        list["apiVersion"],
        list["kind"]
    );
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let mut found = BTreeSet::new();
    for item in &items {
        let name = item["metadata"]["name"].as_str().unwrap_or_default();
        ensure!(
            item["kind"] == "Secret" && item["type"] == TLS_SECRET_TYPE,
            "the backup's item {name}: expected a Secret of type {TLS_SECRET_TYPE}, got kind {} type {}",
            item["kind"],
            item["type"]
        );
        for field in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "managedFields",
            "selfLink",
            "generation",
            "ownerReferences",
        ] {
            ensure!(
                item["metadata"].get(field).is_none(),
                "the backup's item {name}: expected no metadata.{field} (set by the API server), found {}",
                item["metadata"][field]
            );
        }
        ensure!(
            item["metadata"]["labels"][KEY_LABEL] == KEY_LABEL_ACTIVE,
            "the backup's item {name}: expected the label {KEY_LABEL}={KEY_LABEL_ACTIVE}, got labels {}",
            item["metadata"]["labels"]
        );
        ensure!(
            item["data"][TLS_KEY]
                .as_str()
                .is_some_and(|k| !k.is_empty()),
            "the backup's item {name}: expected the private key in data.{TLS_KEY}, found none"
        );
        found.insert(certificate_from_pem(&item_certificate(item)?)?.fingerprint());
    }
    let expected: BTreeSet<String> = keys.iter().map(|k| k.fingerprint.clone()).collect();
    ensure!(
        found == expected,
        "the backup: expected the keys {expected:?}, found {found:?}"
    );
    Ok(items)
}

/// `data.tls.crt` of a backup's item, decoded.
fn item_certificate(item: &Value) -> Result<Vec<u8>> {
    let name = item["metadata"]["name"].as_str().unwrap_or_default();
    base64::engine::general_purpose::STANDARD
        .decode(item["data"][TLS_CERT].as_str().unwrap_or_default())
        .with_context(|| format!("the backup's item {name}: data.{TLS_CERT} is not base64"))
}

/// The certificate (PEM) of the key `fingerprint` among a backup's `items`.
pub fn backed_up_certificate(items: &[Value], fingerprint: &str) -> Result<Vec<u8>> {
    items
        .iter()
        .map(item_certificate)
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .find(|pem| certificate_from_pem(pem).is_ok_and(|c| c.fingerprint() == fingerprint))
        .with_context(|| format!("the backup lacks the certificate of {fingerprint}"))
}

/// Which `kubeseal keys restore` run, and what it must report for each key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Restore {
    /// `--dry-run` into an empty namespace: `would be created`, nothing created.
    DryRun,
    /// Into an empty namespace: `created`, each key labelled `active`.
    Create,
    /// Again: `already present`.
    Again,
}

/// `kubeseal keys restore -f BACKUP [--dry-run] --controller-namespace HOME` of a backup
/// holding `keys`, and its checks (see [`Restore`]).
pub async fn restore(
    ctx: &Ctx,
    home: &str,
    backup: &Path,
    keys: &[&Key],
    run: Restore,
) -> Result<()> {
    let file = backup.display().to_string();
    let mut args = vec!["keys", "restore", "-f", file.as_str()];
    let n = keys.len();
    let (each, summary) = match run {
        Restore::DryRun => {
            args.push("--dry-run");
            (
                "would be created",
                format!("{n} to create, 0 already present, 0 failed"),
            )
        }
        Restore::Create => (
            "created",
            format!("{n} created, 0 already present, 0 failed"),
        ),
        Restore::Again => (
            "already present",
            format!("0 created, {n} already present, 0 failed"),
        ),
    };
    let out = kubeseal::run_for_ok(ctx, home, &args, b"").await?;
    let labels: Vec<String> = keys
        .iter()
        .map(|k| format!("{home}/{} ({})", k.secret, k.fingerprint))
        .collect();
    ensure!(
        labels
            .iter()
            .all(|l| out.stderr.contains(&format!("{l}: {each}")))
            && out.stderr.contains(&summary),
        "kubeseal {} into {home}: expected `<key>: {each}` for {labels:?} and `{summary}`, got:\n{}",
        args.join(" "),
        out.stderr
    );
    match run {
        Restore::DryRun => {
            let present = key_secrets::all(ctx, home).await?;
            ensure!(
                present.is_empty(),
                "kubeseal keys restore --dry-run: expected nothing created in {home}, found {:?}",
                present.iter().map(describe_secret).collect::<Vec<_>>()
            );
        }
        Restore::Create => {
            for key in keys {
                let restored = objects::secrets(ctx.client(), home)
                    .get(&key.secret)
                    .await
                    .with_context(|| {
                        format!("reading the restored Secret {home}/{}", key.secret)
                    })?;
                ensure!(
                    labels_of(&restored).get(KEY_LABEL).map(String::as_str)
                        == Some(KEY_LABEL_ACTIVE)
                        && Key::of(&restored)?.fingerprint == key.fingerprint,
                    "the restored Secret {}: expected {KEY_LABEL}={KEY_LABEL_ACTIVE} and the key {}, got {}",
                    key.secret,
                    key.fingerprint,
                    describe_secret(&restored)
                );
            }
        }
        Restore::Again => {}
    }
    Ok(())
}

// ---------- keys retire ----------

/// What `kubeseal keys retire KEY --dry-run` printed, parsed.
#[derive(Debug)]
pub struct RetireDryRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// `namespace/name` under "Would no longer open".
    pub dependents: Vec<String>,
    /// `namespace/name` under "Unknown (not attributed to any key)".
    pub unattributed: Vec<String>,
}

impl RetireDryRun {
    /// Reads the two lists out of kubeseal's output.
    pub fn parse(out: Output) -> RetireDryRun {
        let (mut dependents, mut unattributed) = (Vec::new(), Vec::new());
        let mut section = 0;
        for line in out.stdout.lines() {
            if line.starts_with("Would no longer open:") {
                section = 1;
            } else if line.starts_with("Unknown (not attributed to any key):") {
                section = 2;
            } else if let Some(item) = line.strip_prefix("  ") {
                let item = item.split(':').next().unwrap_or_default().trim().to_owned();
                match section {
                    1 => dependents.push(item),
                    2 => unattributed.push(item),
                    _ => {}
                }
            } else {
                section = 0;
            }
        }
        RetireDryRun {
            code: out.code,
            stdout: out.stdout,
            stderr: out.stderr,
            dependents,
            unattributed,
        }
    }
}

/// `kubeseal keys retire KEY --dry-run` against the controller of `home` (any exit).
pub async fn retire_dry_run(ctx: &Ctx, home: &str, fingerprint: &str) -> Result<RetireDryRun> {
    let args = ["keys", "retire", fingerprint, "--dry-run"];
    let out = kubeseal::run_for(ctx, home, &args, b"").await?;
    Ok(RetireDryRun::parse(out))
}

/// Whether `item` (`namespace/name`, or a line starting so) is in one of `namespaces`.
pub fn in_namespaces(item: &str, namespaces: &[&str]) -> bool {
    namespaces
        .iter()
        .any(|ns| item.starts_with(&format!("{ns}/")))
}

/// `kubeseal keys retire KEY --dry-run` once nothing of this test depends on KEY:
/// exit 0 and `Safe to retire: yes`. Only SealedSecrets outside `ours` (other tests',
/// other tenants') that cannot be attributed may keep it at exit 1 (the census covers
/// every namespace, rightly): waited out for [`FOREIGN_PATIENCE`]. Returns whether it
/// said safe.
pub async fn expect_safe_to_retire(
    ctx: &Ctx,
    home: &str,
    fingerprint: &str,
    ours: &[&str],
) -> Result<bool> {
    let started = Instant::now();
    loop {
        let dry = retire_dry_run(ctx, home, fingerprint).await?;
        if dry.code == Some(0) {
            ensure!(
                dry.stdout.contains("Safe to retire: yes")
                    && dry.dependents.is_empty()
                    && dry.unattributed.is_empty(),
                "kubeseal keys retire {fingerprint} --dry-run exited 0: expected `Safe to retire: yes` and nothing listed, got:\n{}",
                dry.stdout
            );
            println!(
                "kubeseal keys retire {fingerprint} --dry-run:\n{}",
                dry.stdout.trim_end()
            );
            return Ok(true);
        }
        let ours_blocking: Vec<&String> = dry
            .unattributed
            .iter()
            .filter(|i| in_namespaces(i, ours))
            .collect();
        ensure!(
            dry.code == Some(1)
                && dry.dependents.is_empty()
                && ours_blocking.is_empty()
                && !dry.unattributed.is_empty()
                && !dry.stderr.contains("active (sealing) key"),
            "kubeseal keys retire {fingerprint} --dry-run: expected exit 0 (nothing depends on the key, none of this test's SealedSecrets unattributed), got {:?}; dependents {:?}, this test's unattributed {ours_blocking:?}\nstdout: {}\nstderr: {}",
            dry.code,
            dry.dependents,
            dry.stdout,
            dry.stderr
        );
        if started.elapsed() >= FOREIGN_PATIENCE {
            println!(
                "note: kubeseal keys retire --dry-run still refuses after {}s, only for SealedSecrets of other namespaces that cannot be attributed to a key ({:?}); nothing of this test depends on {fingerprint}",
                FOREIGN_PATIENCE.as_secs(),
                dry.unattributed
            );
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `kubeseal keys retire KEY`. `--force` only when other namespaces' unattributed
/// SealedSecrets keep refusing it (see [`expect_safe_to_retire`], whose answer is `safe`).
pub async fn retire(ctx: &Ctx, home: &str, fingerprint: &str, safe: bool) -> Result<Output> {
    let started = Instant::now();
    let mut force = !safe;
    loop {
        let mut args = vec!["keys", "retire", fingerprint];
        if force {
            args.push("--force");
        }
        let out = kubeseal::run_for(ctx, home, &args, b"").await?;
        if out.code == Some(0) {
            return Ok(out);
        }
        // Only other namespaces' SealedSecrets, appearing since the dry run, may block.
        let foreign_only = out.stderr.contains("cannot be attributed")
            && !out.stderr.contains("depend")
            && !out.stderr.contains("active (sealing) key");
        if !foreign_only || force {
            return out.expect_ok(&args);
        }
        if started.elapsed() >= FOREIGN_PATIENCE {
            println!(
                "note: kubeseal keys retire refused for SealedSecrets of other namespaces: {}; retiring with --force",
                out.stderr.trim()
            );
            force = true;
        } else {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_tables_are_read_with_held_back_rows() {
        let text = "FINGERPRINT  SECRET  CREATED  EXPIRES  ACTIVE  SEALEDSECRETS\n\
                    SHA256:new  key-b  2026-12-03T15:27:14Z  2036-11-30T15:27:14Z  held back until 2026-12-03T16:27:14Z  1\n\
                    SHA256:old  key-a  2026-12-03T13:22:01Z  2036-11-30T13:22:01Z  yes  2\n\
                    Not attributed to a key: 0 SealedSecrets\n";
        let rows = parse_key_table(text).unwrap_or_default();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].active, "held back until 2026-12-03T16:27:14Z");
        assert_eq!(rows[0].sealed_secrets, Some(1));
        assert_eq!(
            (rows[1].secret.as_str(), rows[1].active.as_str()),
            ("key-a", "yes")
        );
        assert!(parse_key_table("NAME\n").is_err());
    }

    #[test]
    fn list_times_are_utc() {
        let t = parse_utc("2000-03-01T00:00:01Z").and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        assert_eq!(t, Some(Duration::from_secs(951_868_801)));
        assert_eq!(parse_utc("2000-13-01T00:00:01Z"), None);
        assert_eq!(parse_utc("2000-03-01 00:00:01"), None);
    }

    #[test]
    fn retire_dry_runs_list_dependents_and_unknowns() {
        let out = Output {
            code: Some(1),
            stdout: "Key: SHA256:x\nWould no longer open: 1 SealedSecrets\n  app/db: strict\n\
                     Unknown (not attributed to any key): 1\n  other/y: no status\nSafe to retire: no\n"
                .to_owned(),
            stderr: String::new(),
        };
        let dry = RetireDryRun::parse(out);
        assert_eq!(dry.dependents, ["app/db"]);
        assert_eq!(dry.unattributed, ["other/y"]);
        assert!(in_namespaces("app/db", &["app"]) && !in_namespaces("application/db", &["app"]));
    }
}
