//! The key runbook (`docs/key-rotation.md`), procedure by procedure, with its commands
//! adapted to controllers running as local processes:
//!
//! - "the Deployment rolls" is: new replicas started with the changed flag (the
//!   runbook's `SEALED_SECRETS_*` variable as its flag), the Service pointed at a new
//!   replica once it serves, then the old replicas stopped with SIGTERM (they release
//!   the leader Lease, as a pod being replaced does);
//! - the controller's Service is a selector-less Service in the home namespace pointing
//!   at one replica, reached by our `kubeseal` through the API server's service proxy
//!   (as in `http_api::kubeseal_through_the_service_proxy`);
//! - "a new cluster" or "another cluster" is a new home namespace with its own
//!   controller, which watches the application namespace once the previous controller
//!   watching it is gone (a strict SealedSecret keeps its namespace and name).
//!
//! When the API server cannot reach this machine, the steps that need only the API
//! server (backup, restore, recovery, re-sealing) still run, the controller's HTTP API
//! is asked directly where that can stand in for kubeseal, and the rest prints
//! `skipped part: ...`.

use anyhow::{Context, Result, bail, ensure};
use base64::Engine;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DynamicObject, ListParams};
use sealed_common::codec::decode_stream;
use sealed_common::key_secret::{
    KEY_LABEL, KEY_LABEL_ACTIVE, TLS_CERT, TLS_KEY, TLS_SECRET_TYPE, key_to_secret,
};
use sealed_common::keys::{CertificateSpec, generate_key_pair};
use sealed_e2e::checks::assert_synced_true;
use sealed_e2e::objects::{
    self, apply_sealed_secret, bytes_map, describe_sealed, describe_secret, get_opt,
    key_fingerprint, labels_of, observed_generation, secret_data, show_bytes_map, synced,
};
use sealed_e2e::sealing::certificate_from_pem;
use sealed_e2e::service_proxy::{self, ProxyAnswer};
use sealed_e2e::{Controller, ControllerSpec, Ctx, Poll, http, kubeseal, run};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The Service kubeseal looks for (`--controller-name`) and its port's name, as
/// `deploy/` names them.
const SERVICE: &str = "sealed-secrets-controller";
const PORT_NAME: &str = "http";
/// The leader Lease in the home namespace.
const LEASE: &str = "sealed-secrets-controller";
/// How long a replica may take to exit after SIGTERM.
const SIGTERM_GRACE: Duration = Duration::from_secs(20);
/// How long `keys retire` may wait for SealedSecrets of others (other tests, other
/// tenants) that cannot be attributed to a key: they block it cluster-wide, rightly.
const FOREIGN_PATIENCE: Duration = Duration::from_secs(30);

// ---------- reaching the controller ----------

/// The controller of one home namespace, as the test reaches it.
struct Front {
    home: String,
    /// `None`: kubeseal reaches it through the service proxy. `Some(why)`: the API
    /// server cannot reach this machine; the controller is asked directly.
    unreachable: Option<String>,
    /// The replica the Service points at (and that is asked directly).
    api: SocketAddr,
}

impl Front {
    fn proxied(&self) -> bool {
        self.unreachable.is_none()
    }

    /// Prints `skipped part: ...` for `what` when kubeseal cannot reach the controller.
    fn skip(&self, what: &str) {
        if let Some(why) = &self.unreachable {
            println!("skipped part: {why}; {what} not checked");
        }
    }

    /// Exposes the replica at `api` as the Service `sealed-secrets-controller` (port
    /// `http`) of `home` and probes the service proxy. A test probes once: `known`
    /// carries an earlier finding that the API server cannot reach this machine.
    async fn expose(
        ctx: &Ctx,
        home: &str,
        api: SocketAddr,
        known: Option<&Front>,
    ) -> Result<Front> {
        if let Some(why) = known.and_then(|f| f.unreachable.clone()) {
            return Ok(Front {
                home: home.to_owned(),
                unreachable: Some(why),
                api,
            });
        }
        let direct = |why: String| {
            println!(
                "skipped part: {why}; kubeseal's service-proxy path not checked: the controllers' /v1/keys and /v1/cert.pem are asked directly instead of `kubeseal keys list` and `kubeseal --fetch-cert`"
            );
            Front {
                home: home.to_owned(),
                unreachable: Some(why),
                api,
            }
        };
        let (host, port) = service_proxy::api_server_host_port(ctx.kubeconfig()).await?;
        let ip = match service_proxy::advertise_ip(&host, port) {
            Ok(ip) => ip,
            Err(e) => return Ok(direct(format!("{e:#}"))),
        };
        let backend = SocketAddr::new(ip.into(), api.port());
        let exposure = service_proxy::expose(ctx, home, SERVICE, PORT_NAME, backend).await?;
        match service_proxy::get(ctx, home, &exposure.proxy_id, "/healthz").await? {
            ProxyAnswer::Ok(body) => {
                ensure!(
                    body == "ok\n",
                    "GET .../services/{}/proxy/healthz in {home}: expected \"ok\\n\" from the controller at {backend}, got {body:?}",
                    exposure.proxy_id
                );
                println!(
                    "controller of {home} exposed as Service {SERVICE} (port {PORT_NAME}) -> {backend}"
                );
                Ok(Front {
                    home: home.to_owned(),
                    unreachable: None,
                    api,
                })
            }
            ProxyAnswer::Unreachable(message) => Ok(direct(format!(
                "the API server cannot reach this machine ({message})"
            ))),
            ProxyAnswer::Failed(code, message)
                if message.contains("no endpoints available") && exposure.pod_problem.is_some() =>
            {
                Ok(direct(format!(
                    "the API server found no usable endpoint ({code} {message}; the placeholder Pod could not be written: {})",
                    exposure.pod_problem.as_deref().unwrap_or_default()
                )))
            }
            ProxyAnswer::Failed(code, message) => bail!(
                "GET /api/v1/namespaces/{home}/services/{}/proxy/healthz: expected 200 from the controller at {backend}, got {code}: {message}",
                exposure.proxy_id
            ),
        }
    }

    /// Points the Service at the replica at `api` (a rolling update's new pod), and
    /// waits until the service proxy reaches it.
    async fn repoint(&mut self, ctx: &Ctx, api: SocketAddr) -> Result<()> {
        self.api = api;
        if !self.proxied() {
            return Ok(());
        }
        service_proxy::repoint(ctx, &self.home, SERVICE, PORT_NAME, api.port()).await?;
        let proxy_id = format!("http:{SERVICE}:{PORT_NAME}");
        ctx.wait_for(
            ctx.timeout(),
            &format!(
                "the service proxy of {}/{SERVICE} to answer /healthz from port {}",
                self.home,
                api.port()
            ),
            || async {
                Ok(
                    match service_proxy::get(ctx, &self.home, &proxy_id, "/healthz").await? {
                        ProxyAnswer::Ok(body) if body == "ok\n" => Poll::Ready(()),
                        other => Poll::Pending(format!("{other:?}")),
                    },
                )
            },
        )
        .await
    }
}

/// `kubeseal ARGS --controller-name sealed-secrets-controller --controller-namespace HOME`
/// (connection flags after the verb, where `keys` and `reencrypt` take them).
async fn ks(ctx: &Ctx, home: &str, args: &[&str], stdin: &[u8]) -> Result<kubeseal::Output> {
    let mut all = args.to_vec();
    all.extend(["--controller-name", SERVICE, "--controller-namespace", home]);
    kubeseal::run(ctx, &all, stdin).await
}

fn shown(args: &[&str]) -> String {
    format!("kubeseal {}", args.join(" "))
}

/// Fails with kubeseal's output unless it exited 0.
fn expect_ok(args: &[&str], out: kubeseal::Output) -> Result<kubeseal::Output> {
    ensure!(
        out.code == Some(0),
        "{}: expected exit 0, got {:?}\nstdout: {}\nstderr: {}",
        shown(args),
        out.code,
        out.stdout,
        out.stderr
    );
    Ok(out)
}

async fn ks_ok(ctx: &Ctx, home: &str, args: &[&str], stdin: &[u8]) -> Result<kubeseal::Output> {
    let out = ks(ctx, home, args, stdin).await?;
    expect_ok(args, out)
}

/// Our kubeseal without controller flags (offline modes); exit 0 required.
async fn offline_ok(ctx: &Ctx, args: &[&str], stdin: &[u8]) -> Result<kubeseal::Output> {
    let out = kubeseal::run(ctx, args, stdin).await?;
    expect_ok(args, out)
}

/// `kubeseal --fetch-cert` (the runbook's `> cert.pem`), or `/v1/cert.pem` directly.
async fn fetch_cert(ctx: &Ctx, front: &Front) -> Result<Vec<u8>> {
    if front.proxied() {
        return Ok(ks_ok(ctx, &front.home, &["--fetch-cert"], b"")
            .await?
            .stdout
            .into_bytes());
    }
    let r = http::get(front.api, "/v1/cert.pem").await?;
    ensure!(
        r.status == 200,
        "GET http://{}/v1/cert.pem: expected 200, got {}",
        front.api,
        r.describe()
    );
    Ok(r.body)
}

/// `kubeseal --fetch-cert`, which must give the certificate of `fingerprint`.
async fn fetch_cert_of(ctx: &Ctx, front: &Front, fingerprint: &str, when: &str) -> Result<Vec<u8>> {
    let served = fetch_cert(ctx, front).await?;
    let got = certificate_from_pem(&served)?.fingerprint();
    ensure!(
        got == fingerprint,
        "kubeseal --fetch-cert{when}: expected the certificate of {fingerprint}, got the certificate of {got}"
    );
    Ok(served)
}

/// One row of `kubeseal keys list`.
#[derive(Debug, Clone, PartialEq)]
struct KeyRow {
    fingerprint: String,
    secret: String,
    created: String,
    /// `yes`, `no` or `held back until <time>`.
    active: String,
    /// SEALEDSECRETS; `None` when asked directly (the controller does not count).
    sealed_secrets: Option<usize>,
}

/// The rows of `kubeseal keys list` as the runbook shows it (a table, newest first).
fn parse_key_table(text: &str) -> Result<Vec<KeyRow>> {
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
async fn list_keys(ctx: &Ctx, front: &Front) -> Result<(Vec<KeyRow>, String)> {
    if front.proxied() {
        let out = ks_ok(ctx, &front.home, &["keys", "list"], b"").await?;
        return Ok((parse_key_table(&out.stdout)?, out.stdout));
    }
    let r = http::get(front.api, "/v1/keys").await?;
    ensure!(
        r.status == 200,
        "GET http://{}/v1/keys: expected 200, got {}",
        front.api,
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
        .map(|r: &KeyRow| {
            format!(
                "{}  {}  {}  {}\n",
                r.fingerprint, r.secret, r.created, r.active
            )
        })
        .collect();
    Ok((rows, shown))
}

/// Waits until the key list (as served by the replica the Service points at, which
/// learns keys from its watch) satisfies `check`; `what` describes it.
async fn wait_key_list<P>(ctx: &Ctx, front: &Front, what: &str, check: P) -> Result<Vec<KeyRow>>
where
    P: Fn(&[KeyRow]) -> bool,
{
    let how = if front.proxied() {
        "`kubeseal keys list`"
    } else {
        "GET /v1/keys"
    };
    let rows = ctx
        .wait_for(
            ctx.timeout(),
            &format!("{how} for {} to show {what}", front.home),
            || async {
                let (rows, text) = list_keys(ctx, front).await?;
                Ok(if check(&rows) {
                    Poll::Ready((rows, text))
                } else {
                    Poll::Pending(text)
                })
            },
        )
        .await?;
    println!("{how} in {}:\n{}", front.home, rows.1.trim_end());
    Ok(rows.0)
}

// ---------- keys and their Secrets ----------

/// A key as its Secret holds it.
#[derive(Debug, Clone)]
struct Key {
    secret: String,
    pem: Vec<u8>,
    fingerprint: String,
    not_before: SystemTime,
}

fn key_of(secret: &Secret) -> Result<Key> {
    let pem = secret
        .data
        .as_ref()
        .and_then(|d| d.get(TLS_CERT))
        .map(|b| b.0.clone())
        .with_context(|| {
            format!(
                "expected {TLS_CERT} in the key Secret: {}",
                describe_secret(secret)
            )
        })?;
    let cert = certificate_from_pem(&pem)?;
    Ok(Key {
        secret: secret.metadata.name.clone().unwrap_or_default(),
        fingerprint: cert.fingerprint(),
        not_before: cert.not_before(),
        pem,
    })
}

/// Waits until `home` holds `n` key Secrets labelled `active`; fails if it holds more.
/// Newest first.
async fn wait_keys(ctx: &Ctx, home: &str, n: usize) -> Result<Vec<Key>> {
    let secrets = ctx
        .wait_for(
            ctx.timeout(),
            &format!("{n} key Secret(s) labelled {KEY_LABEL}={KEY_LABEL_ACTIVE} in {home}"),
            || async {
                let keys = ctx.active_keys(home).await?;
                Ok(if keys.len() >= n {
                    Poll::Ready(keys)
                } else {
                    Poll::Pending(format!(
                        "{} key Secret(s): {:?}",
                        keys.len(),
                        keys.iter().map(describe_secret).collect::<Vec<_>>()
                    ))
                })
            },
        )
        .await?;
    ensure!(
        secrets.len() == n,
        "expected {n} active key Secret(s) in {home}, found {}: {:?}",
        secrets.len(),
        secrets.iter().map(describe_secret).collect::<Vec<_>>()
    );
    let mut keys = secrets.iter().map(key_of).collect::<Result<Vec<_>>>()?;
    keys.sort_by(|a, b| {
        b.not_before
            .cmp(&a.not_before)
            .then(a.secret.cmp(&b.secret))
    });
    Ok(keys)
}

/// Every key Secret of `home`, whatever its label value.
async fn all_key_secrets(ctx: &Ctx, home: &str) -> Result<Vec<Secret>> {
    Ok(objects::secrets(ctx.client(), home)
        .list(&ListParams::default().labels(KEY_LABEL))
        .await
        .with_context(|| format!("listing key Secrets in {home}"))?
        .items)
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Checks a `kubeseal keys backup -w` file: mode 0600, one `v1` `List` of exactly
/// `keys` (by fingerprint), labelled `active`, with their private keys, without the
/// fields the API server sets. Returns its items.
fn check_backup(path: &Path, keys: &[&Key]) -> Result<Vec<Value>> {
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
    let text = String::from_utf8(read(path)?)?;
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
        let pem = base64::engine::general_purpose::STANDARD
            .decode(item["data"][TLS_CERT].as_str().unwrap_or_default())
            .with_context(|| format!("the backup's item {name}: data.{TLS_CERT} is not base64"))?;
        found.insert(certificate_from_pem(&pem)?.fingerprint());
    }
    let expected: BTreeSet<String> = keys.iter().map(|k| k.fingerprint.clone()).collect();
    ensure!(
        found == expected,
        "the backup: expected the keys {expected:?}, found {found:?}"
    );
    Ok(items)
}

// ---------- SealedSecrets ----------

/// A Secret to seal, as `kubectl create secret generic --dry-run=client -o yaml` gives it.
fn plain_secret(
    ns: &str,
    name: &str,
    items: &BTreeMap<String, Vec<u8>>,
    labels: Value,
    annotations: Value,
) -> Value {
    let data: BTreeMap<&String, String> = items
        .iter()
        .map(|(k, v)| (k, base64::engine::general_purpose::STANDARD.encode(v)))
        .collect();
    let mut metadata = json!({ "name": name, "namespace": ns });
    for (field, value) in [("labels", labels), ("annotations", annotations)] {
        if value.as_object().is_some_and(|m| !m.is_empty()) {
            metadata[field] = value;
        }
    }
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "data": data,
    })
}

/// `kubeseal --cert CERT -o yaml [--scope SCOPE]` of `secret`: the text as kubeseal prints it.
async fn seal_text(ctx: &Ctx, cert: &Path, scope: &str, secret: &Value) -> Result<String> {
    let cert = cert.display().to_string();
    let args = ["--cert", cert.as_str(), "-o", "yaml", "--scope", scope];
    Ok(offline_ok(ctx, &args, &serde_json::to_vec(secret)?)
        .await?
        .stdout)
}

/// Applies every SealedSecret of `path` (as GitOps would); other documents are left
/// alone.
async fn apply_file(ctx: &Ctx, path: &Path) -> Result<usize> {
    let text = read(path)?;
    let docs: Vec<Value> =
        decode_stream(&text).with_context(|| format!("{} is not YAML", path.display()))?;
    let mut applied = 0;
    for doc in docs.iter().filter(|d| d["kind"] == "SealedSecret") {
        apply_sealed_secret(ctx.client(), doc)
            .await
            .with_context(|| format!("applying {}", path.display()))?;
        applied += 1;
    }
    Ok(applied)
}

/// Waits until SealedSecret `ns/name` is Synced for its current generation with
/// `status.keyFingerprint` `fingerprint`.
async fn wait_opened_with(
    ctx: &Ctx,
    ns: &str,
    name: &str,
    fingerprint: &str,
) -> Result<DynamicObject> {
    let api = objects::sealed_secrets(ctx.client(), ns);
    let sealed = ctx
        .wait_for(
            ctx.timeout(),
            &format!("SealedSecret {ns}/{name} to be Synced=True for its current generation with status.keyFingerprint {fingerprint}"),
            || async {
                let Some(obj) = get_opt(&api, name).await? else {
                    return Ok(Poll::Pending(format!("SealedSecret {ns}/{name} does not exist")));
                };
                let done = synced(&obj).is_some_and(|c| c.status == "True")
                    && observed_generation(&obj) == obj.metadata.generation
                    && key_fingerprint(&obj).as_deref() == Some(fingerprint);
                Ok(if done { Poll::Ready(obj) } else { Poll::Pending(describe_sealed(&obj)) })
            },
        )
        .await?;
    assert_synced_true(&sealed)?;
    Ok(sealed)
}

/// The `data` of a Secret printed as YAML (e.g. by `--recovery-unseal`), decoded.
fn printed_secret_data(secret: &Value) -> Result<BTreeMap<String, Vec<u8>>> {
    secret["data"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(v.as_str().unwrap_or_default())
                        .with_context(|| format!("data.{k} is not base64: {v}"))?;
                    Ok((k.clone(), bytes))
                })
                .collect()
        })
        .unwrap_or_else(|| Ok(BTreeMap::new()))
}

fn one_document(text: &str, what: &str) -> Result<Value> {
    let mut docs: Vec<Value> =
        decode_stream(text.as_bytes()).with_context(|| format!("{what}: not YAML:\n{text}"))?;
    ensure!(
        docs.len() == 1,
        "{what}: expected one document, found {}:\n{text}",
        docs.len()
    );
    Ok(docs.remove(0))
}

// ---------- time ----------

/// `date -R`, as the runbook computes the cutoff.
fn date_r() -> Result<String> {
    let out = std::process::Command::new("date")
        .arg("-R")
        .output()
        .context("cannot run `date -R` (the runbook's cutoff time)")?;
    ensure!(
        out.status.success(),
        "`date -R` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// A cutoff (`date -R`, whole seconds) later than `newest`'s certificate time: waits
/// until the clock is a second past it first.
async fn cutoff_after(newest: &Key) -> Result<String> {
    let due = newest.not_before + Duration::from_secs(1);
    if let Ok(wait) = due.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait + Duration::from_millis(50)).await;
    }
    date_r()
}

/// `YYYY-MM-DDTHH:MM:SSZ` (how `kubeseal keys list` prints times) as a time.
fn parse_utc(text: &str) -> Option<SystemTime> {
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

// ---------- replicas ----------

/// Starts `n` replicas of `spec` and waits until each serves (keys loaded), as a
/// rollout waits for ready pods. Returns them with their API addresses.
async fn start_replicas(
    ctx: &Ctx,
    spec: &ControllerSpec,
    n: usize,
) -> Result<Vec<(Controller, SocketAddr)>> {
    let mut replicas = Vec::new();
    for _ in 0..n {
        replicas.push(ctx.start_controller(spec.clone())?);
    }
    let mut out = Vec::new();
    for replica in replicas {
        let api = ctx.controller_api(&replica).await?.api;
        out.push((replica, api));
    }
    Ok(out)
}

/// A rolling update: `n` new replicas of `spec` serve, the Service moves to them, and
/// the old ones get SIGTERM (releasing the Lease).
async fn roll(
    ctx: &Ctx,
    front: &mut Front,
    old: Vec<(Controller, SocketAddr)>,
    spec: &ControllerSpec,
    n: usize,
) -> Result<Vec<(Controller, SocketAddr)>> {
    let new = start_replicas(ctx, spec, n).await?;
    front.repoint(ctx, new[0].1).await?;
    stop_replicas(old)?;
    Ok(new)
}

/// Waits for exactly one key besides `old` in `home` (the cutoff's), and returns it.
async fn new_key_next_to(ctx: &Ctx, home: &str, old: &Key) -> Result<Key> {
    let keys = wait_keys(ctx, home, 2).await?;
    let new = keys[0].clone();
    ensure!(
        keys[1].fingerprint == old.fingerprint && new.fingerprint != old.fingerprint,
        "after the rollout with a cutoff: expected a new key next to {}, found {:?}",
        old.fingerprint,
        keys.iter().map(|k| &k.fingerprint).collect::<Vec<_>>()
    );
    Ok(new)
}

/// Stops replicas as pods being replaced are stopped: SIGTERM, which releases the
/// leader Lease.
fn stop_replicas(replicas: Vec<(Controller, SocketAddr)>) -> Result<()> {
    for (replica, _) in replicas {
        let took = replica.proc().terminate(SIGTERM_GRACE)?;
        eprintln!(
            "sealed-e2e: {} exited {:.1} s after SIGTERM",
            replica.proc().label,
            took.as_secs_f64()
        );
    }
    Ok(())
}

fn count_in_logs(replicas: &[(Controller, SocketAddr)], needle: &str) -> usize {
    replicas
        .iter()
        .map(|(r, _)| r.log().matches(needle).count())
        .sum()
}

/// Waits until the replicas' logs hold `needle` `n` times in all; fails if more.
async fn wait_logged(
    ctx: &Ctx,
    replicas: &[(Controller, SocketAddr)],
    needle: &str,
    n: usize,
) -> Result<()> {
    let seen = ctx
        .wait_for(
            ctx.timeout(),
            &format!("{n} `{needle}` log line(s) from the replicas"),
            || async {
                let seen = count_in_logs(replicas, needle);
                Ok(if seen >= n {
                    Poll::Ready(seen)
                } else {
                    Poll::Pending(format!("{seen} so far"))
                })
            },
        )
        .await?;
    ensure!(
        seen == n,
        "expected `{needle}` {n} time(s) in the replicas' logs, found {seen}"
    );
    Ok(())
}

async fn wait_leader(ctx: &Ctx, home: &str) -> Result<String> {
    let api: Api<Lease> = Api::namespaced(ctx.client().clone(), home);
    ctx.wait_for(
        ctx.timeout(),
        &format!("the Lease {home}/{LEASE} to have a holder"),
        || async {
            let holder = get_opt(&api, LEASE)
                .await?
                .and_then(|l| l.spec)
                .and_then(|s| s.holder_identity)
                .filter(|h| !h.is_empty());
            Ok(match holder {
                Some(h) => Poll::Ready(h),
                None => Poll::Pending("no holder".to_owned()),
            })
        },
    )
    .await
}

// ---------- keys retire ----------

/// What `kubeseal keys retire KEY --dry-run` printed, parsed.
#[derive(Debug)]
struct RetireDryRun {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// `namespace/name` under "Would no longer open".
    dependents: Vec<String>,
    /// `namespace/name` under "Unknown (not attributed to any key)".
    unattributed: Vec<String>,
}

async fn retire_dry_run(ctx: &Ctx, home: &str, fingerprint: &str) -> Result<RetireDryRun> {
    let out = ks(
        ctx,
        home,
        &["keys", "retire", fingerprint, "--dry-run"],
        b"",
    )
    .await?;
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
    Ok(RetireDryRun {
        code: out.code,
        stdout: out.stdout,
        stderr: out.stderr,
        dependents,
        unattributed,
    })
}

fn in_namespaces(item: &str, namespaces: &[&str]) -> bool {
    namespaces
        .iter()
        .any(|ns| item.starts_with(&format!("{ns}/")))
}

/// `kubeseal keys retire KEY --dry-run` once nothing of this test depends on KEY:
/// exit 0 and `Safe to retire: yes`. Only SealedSecrets outside `ours` (other tests',
/// other tenants') that cannot be attributed may keep it at exit 1 (the census covers
/// every namespace, rightly): waited out for [`FOREIGN_PATIENCE`]. Returns whether it
/// said safe.
async fn expect_safe_to_retire(
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
/// SealedSecrets keep refusing it (see [`expect_safe_to_retire`]).
async fn retire(ctx: &Ctx, home: &str, fingerprint: &str, safe: bool) -> Result<kubeseal::Output> {
    let started = Instant::now();
    let mut force = !safe;
    loop {
        let mut args = vec!["keys", "retire", fingerprint];
        if force {
            args.push("--force");
        }
        let out = ks(ctx, home, &args, b"").await?;
        if out.code == Some(0) {
            return Ok(out);
        }
        // Only other namespaces' SealedSecrets, appearing since the dry run, may block.
        let foreign_only = out.stderr.contains("cannot be attributed")
            && !out.stderr.contains("depend")
            && !out.stderr.contains("active (sealing) key");
        ensure!(
            foreign_only && !force,
            "{}: expected exit 0, got {:?}\nstdout: {}\nstderr: {}",
            shown(&args),
            out.code,
            out.stdout,
            out.stderr
        );
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

// ---------- the repository ----------

/// One SealedSecret of the test repository.
struct Item {
    /// File, relative to the repository root.
    file: &'static str,
    name: &'static str,
    scope: &'static str,
    values: BTreeMap<String, Vec<u8>>,
}

fn repository_items() -> Vec<Item> {
    vec![
        Item {
            file: "apps/prod/db.yaml",
            name: "db",
            scope: "strict",
            values: bytes_map(&[
                ("user", b"app"),
                ("password", b"db password, sealed with the old key"),
            ]),
        },
        Item {
            file: "apps/dev/api.yaml",
            name: "api",
            scope: "namespace-wide",
            values: bytes_map(&[("token", b"api token")]),
        },
        Item {
            file: "clusters/main/tokens.yaml",
            name: "token-a",
            scope: "cluster-wide",
            values: bytes_map(&[("key", b"token a")]),
        },
        Item {
            file: "clusters/main/tokens.yaml",
            name: "token-b",
            scope: "strict",
            values: bytes_map(&[("key", b"token b")]),
        },
    ]
}

const DB_COMMENT: &str = "# Database credentials of prod. Re-encrypt, never edit by hand.\n";
const KUSTOMIZATION: &str = "resources:\n- tokens.yaml\n";

/// Writes the repository: every item sealed with `cert` by `kubeseal --cert`, a comment
/// above `db`, a ConfigMap between the two tokens, a kustomization without
/// SealedSecrets.
async fn write_repository(
    ctx: &Ctx,
    root: &Path,
    app: &str,
    cert: &Path,
    items: &[Item],
) -> Result<()> {
    let mut files: BTreeMap<&str, String> = BTreeMap::new();
    for item in items {
        let sealed = seal_text(
            ctx,
            cert,
            item.scope,
            &plain_secret(app, item.name, &item.values, json!({}), json!({})),
        )
        .await?;
        let text = files.entry(item.file).or_default();
        if item.name == "db" {
            text.push_str(DB_COMMENT);
        }
        if item.name == "token-b" {
            text.push_str(&format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tokens-settings\n  namespace: {app}\ndata:\n  mode: strict\n"
            ));
        }
        text.push_str(&sealed);
    }
    files.insert("clusters/main/kustomization.yaml", KUSTOMIZATION.to_owned());
    for (file, text) in files {
        write(&root.join(file), text.as_bytes())?;
    }
    Ok(())
}

/// Every file of the repository and its bytes.
fn snapshot(root: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.insert(path.clone(), read(&path)?);
            }
        }
    }
    Ok(out)
}

/// `kubeseal reencrypt`'s report for the repository: one line per file with
/// SealedSecrets (in name order), then the summary.
fn reencrypt_report(root: &Path, verb: &str, summary: &str) -> String {
    let files = [
        ("apps/dev/api.yaml", 1),
        ("apps/prod/db.yaml", 1),
        ("clusters/main/tokens.yaml", 2),
    ];
    let mut text = String::new();
    for (file, n) in files {
        let path = root.join(file);
        if verb == "unchanged" {
            text.push_str(&format!("unchanged {}\n", path.display()));
        } else {
            text.push_str(&format!(
                "{verb} {} ({n} of {n} SealedSecrets re-encrypted)\n",
                path.display()
            ));
        }
    }
    text.push_str(summary);
    text.push('\n');
    text
}

// ---------- the tests ----------

/// Routine renewal and backup, forcing a new key with a cutoff (two replicas rolled),
/// re-encrypting a repository, and retiring the old key.
#[tokio::test]
async fn rotate_reencrypt_and_retire() -> Result<()> {
    run("runbook-rotate", |ctx| async move {
        let home = ctx.namespace("home").await?;
        let app = ctx.namespace("app").await?;
        let ours = [home.as_str(), app.as_str()];
        let spec = ControllerSpec::new(&home)
            .watch(&app)
            .listen_on("0.0.0.0:0")
            .arg("--leader-elect");
        let tmp = ctx.tmp_dir().to_path_buf();

        // Two replicas, as deploy/overlays/ha: one key.
        let first = start_replicas(&ctx, &spec, 2).await?;
        let old = wait_keys(&ctx, &home, 1).await?.remove(0);
        let mut front = Front::expose(&ctx, &home, first[0].1, None).await?;

        // ---- Routine renewal: fetch the certificate, seal a repository with it.
        let cert_path = tmp.join("cert.pem");
        let served = fetch_cert_of(&ctx, &front, &old.fingerprint, "").await?;
        write(&cert_path, &served)?;
        let repo = tmp.join("repo");
        let items = repository_items();
        write_repository(&ctx, &repo, &app, &cert_path, &items).await?;
        for file in ["apps/prod/db.yaml", "apps/dev/api.yaml", "clusters/main/tokens.yaml"] {
            apply_file(&ctx, &repo.join(file)).await?;
        }
        for item in &items {
            wait_opened_with(&ctx, &app, item.name, &old.fingerprint).await?;
            ctx.wait_secret_data(&app, item.name, &item.values).await?;
        }

        // kubeseal keys list: one key, active, opening the 4 SealedSecrets.
        if front.proxied() {
            let rows = wait_key_list(&ctx, &front, "the one key with 4 SealedSecrets", |rows| {
                rows.len() == 1 && rows[0].sealed_secrets == Some(4)
            })
            .await?;
            ensure!(
                rows[0].fingerprint == old.fingerprint && rows[0].secret == old.secret && rows[0].active == "yes",
                "kubeseal keys list: expected {} (Secret {}) with ACTIVE yes, got {:?}",
                old.fingerprint,
                old.secret,
                rows[0]
            );
        } else {
            front.skip("kubeseal keys list");
        }

        // kubeseal keys backup -w keys-backup-$(date +%F).yaml: mode 0600, the one key.
        let backup = tmp.join("keys-backup.yaml");
        let backup_arg = backup.display().to_string();
        let out = ks_ok(&ctx, &home, &["keys", "backup", "-w", &backup_arg], b"").await?;
        ensure!(
            out.stdout.is_empty() && out.stderr.contains(&format!("Backed up 1 key from namespace {home}")) && out.stderr.contains(&old.fingerprint),
            "kubeseal keys backup -w FILE: expected nothing on stdout and `Backed up 1 key from namespace {home}` with {} on stderr, got\nstdout: {}\nstderr: {}",
            old.fingerprint,
            out.stdout,
            out.stderr
        );
        check_backup(&backup, &[&old])?;

        // ---- Force a new key now: SEALED_SECRETS_KEY_CUTOFF_TIME="$(date -R)", rolled.
        let cutoff = cutoff_after(&old).await?;
        println!("rolling the replicas with --key-cutoff-time {cutoff:?}");
        let written_before = count_in_logs(&first, "New key written");
        let second = roll(&ctx, &mut front, first, &spec.clone().arg("--key-cutoff-time").arg(&cutoff), 2).await?;
        let new = new_key_next_to(&ctx, &home, &old).await?;
        ensure!(
            written_before == 1,
            "expected `New key written` once by the first replicas (the first key), found {written_before}"
        );
        wait_logged(&ctx, &second, "New key written", 1).await?;
        let rows = wait_key_list(&ctx, &front, "the new key on top", |rows| {
            rows.len() == 2 && rows[0].fingerprint == new.fingerprint
        })
        .await?;
        ensure!(
            rows[0].active == "yes" && rows[1].fingerprint == old.fingerprint && rows[1].active == "no",
            "keys list after the cutoff: expected {} ACTIVE yes, then {} ACTIVE no, got {rows:?}",
            new.fingerprint,
            old.fingerprint
        );
        if front.proxied() {
            ensure!(
                rows[1].sealed_secrets == Some(4) && rows[0].sealed_secrets == Some(0),
                "kubeseal keys list after the cutoff: expected 4 SealedSecrets on the old key and 0 on the new one, got {rows:?}"
            );
        }
        let served = fetch_cert_of(&ctx, &front, &new.fingerprint, " after the cutoff").await?;
        write(&cert_path, &served)?;

        if front.proxied() {
            reencrypt_and_retire(&ctx, &front, &repo, &items, &app, &ours, &old, &new, &second).await?;
        } else {
            front.skip("kubeseal reencrypt, keys dependents and keys retire (they need the controller)");
        }
        for (replica, _) in &second {
            replica.check_running()?;
        }

        Ok(())
    })
    .await
}

/// The re-encrypt and retire procedures (they need kubeseal to reach the controller).
#[allow(clippy::too_many_arguments)]
async fn reencrypt_and_retire(
    ctx: &Ctx,
    front: &Front,
    repo: &Path,
    items: &[Item],
    app: &str,
    ours: &[&str],
    old: &Key,
    new: &Key,
    replicas: &[(Controller, SocketAddr)],
) -> Result<()> {
    let home = front.home.as_str();
    let root = repo.display().to_string();

    // kubeseal reencrypt --dry-run: what would change; writes nothing.
    let before = snapshot(repo)?;
    let out = ks_ok(ctx, home, &["reencrypt", "--dry-run", &root], b"").await?;
    let want = reencrypt_report(
        repo,
        "would update",
        "dry run: 3 would be updated, 0 unchanged, 0 failed, 1 skipped; nothing written",
    );
    ensure!(
        out.stdout == want,
        "kubeseal reencrypt --dry-run: expected\n{want}got:\n{}",
        out.stdout
    );
    ensure!(
        snapshot(repo)? == before,
        "kubeseal reencrypt --dry-run changed files in {root}"
    );

    // Retire a key: what depends on it; the dry run refuses.
    let out = ks_ok(ctx, home, &["keys", "dependents", &old.fingerprint], b"").await?;
    let names: Vec<String> = items.iter().map(|i| format!("{app}/{}", i.name)).collect();
    ensure!(
        out.stdout.contains(&format!(
            "Opened by {} (Secret {}): 4",
            old.fingerprint, old.secret
        )) && names
            .iter()
            .all(|n| out.stdout.contains(&format!("  {n}\n"))),
        "kubeseal keys dependents {}: expected 4 dependents {names:?}, got:\n{}",
        old.fingerprint,
        out.stdout
    );
    let dry = retire_dry_run(ctx, home, &old.fingerprint).await?;
    let mut listed = dry.dependents.clone();
    listed.sort();
    let mut expected = names.clone();
    expected.sort();
    ensure!(
        dry.code == Some(1)
            && listed == expected
            && dry.stdout.contains("Safe to retire: no")
            && dry.stderr.contains(&format!(
                "not safe to retire {}: 4 SealedSecrets depend on it",
                old.fingerprint
            )),
        "kubeseal keys retire {} --dry-run with dependents: expected exit 1 naming {expected:?}, got {:?}, dependents {listed:?}\nstdout: {}\nstderr: {}",
        old.fingerprint,
        dry.code,
        dry.stdout,
        dry.stderr
    );

    // kubeseal reencrypt: the files re-encrypted, comments and other documents kept.
    let out = ks_ok(ctx, home, &["reencrypt", &root], b"").await?;
    let want = reencrypt_report(
        repo,
        "updated",
        "done: 3 updated, 0 unchanged, 0 failed, 1 skipped",
    );
    ensure!(
        out.stdout == want,
        "kubeseal reencrypt: expected\n{want}got:\n{}",
        out.stdout
    );
    let after = snapshot(repo)?;
    for (path, bytes) in &after {
        let was = before.get(path).map(Vec::as_slice).unwrap_or_default();
        let is_sealed = path.ends_with("db.yaml")
            || path.ends_with("api.yaml")
            || path.ends_with("tokens.yaml");
        ensure!(
            (bytes.as_slice() != was) == is_sealed,
            "kubeseal reencrypt: {} expected {}, but it {}",
            path.display(),
            if is_sealed { "rewritten" } else { "untouched" },
            if bytes.as_slice() != was {
                "changed"
            } else {
                "did not change"
            }
        );
    }
    let db = String::from_utf8(read(&repo.join("apps/prod/db.yaml"))?)?;
    ensure!(
        db.starts_with(DB_COMMENT),
        "kubeseal reencrypt: expected the comment above db kept, got:\n{db}"
    );
    let tokens = String::from_utf8(read(&repo.join("clusters/main/tokens.yaml"))?)?;
    let docs: Vec<Value> = decode_stream(tokens.as_bytes())?;
    let kinds: Vec<&str> = docs
        .iter()
        .map(|d| d["kind"].as_str().unwrap_or_default())
        .collect();
    ensure!(
        kinds == ["SealedSecret", "ConfigMap", "SealedSecret"]
            && docs[1]["data"]["mode"] == "strict",
        "kubeseal reencrypt: expected tokens.yaml to keep its three documents (the ConfigMap untouched), got {kinds:?}:\n{tokens}"
    );

    // Let GitOps apply them: the controller records the new key.
    for file in [
        "apps/prod/db.yaml",
        "apps/dev/api.yaml",
        "clusters/main/tokens.yaml",
    ] {
        apply_file(ctx, &repo.join(file)).await?;
    }
    for item in items {
        wait_opened_with(ctx, app, item.name, &new.fingerprint).await?;
        ctx.wait_secret_data(app, item.name, &item.values).await?;
    }
    let rows = wait_key_list(ctx, front, "the counts moved to the new key", |rows| {
        rows.len() == 2 && rows[0].sealed_secrets == Some(4) && rows[1].sealed_secrets == Some(0)
    })
    .await?;
    ensure!(
        rows[0].fingerprint == new.fingerprint,
        "kubeseal keys list after re-encryption: expected {} on top with 4 SealedSecrets, got {rows:?}",
        new.fingerprint
    );

    // Nothing depends on the old key any more.
    let out = ks_ok(ctx, home, &["keys", "dependents", &old.fingerprint], b"").await?;
    let ours_listed: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| in_namespaces(l.trim(), ours))
        .collect();
    ensure!(
        out.stdout.contains(&format!(
            "Opened by {} (Secret {}): 0",
            old.fingerprint, old.secret
        )) && ours_listed.is_empty(),
        "kubeseal keys dependents {} after re-encryption: expected none (and none of {ours:?} unattributed), got:\n{}",
        old.fingerprint,
        out.stdout
    );
    let safe = expect_safe_to_retire(ctx, home, &old.fingerprint, ours).await?;

    // kubeseal keys retire: the Secret relabelled, dropped by every replica.
    let out = retire(ctx, home, &old.fingerprint, safe).await?;
    ensure!(
        out.stdout.starts_with(&format!(
            "Retired {}: Secret {home}/{} labelled {KEY_LABEL}=retired\n",
            old.fingerprint, old.secret
        )),
        "kubeseal keys retire {}: expected `Retired {}: Secret {home}/{} labelled {KEY_LABEL}=retired`, got:\n{}",
        old.fingerprint,
        old.fingerprint,
        old.secret,
        out.stdout
    );
    let secret = objects::secrets(ctx.client(), home)
        .get(&old.secret)
        .await?;
    ensure!(
        labels_of(&secret).get(KEY_LABEL).map(String::as_str) == Some("retired"),
        "after kubeseal keys retire: expected the label {KEY_LABEL}=retired on {}, got {:?}",
        old.secret,
        labels_of(&secret)
    );
    // Dropped at once, on every replica, without a restart.
    for (replica, _) in replicas {
        ctx.wait_for(
            ctx.timeout(),
            &format!(
                "{} to log `removed private key` for {}",
                replica.proc().label,
                old.secret
            ),
            || async {
                let dropped = replica
                    .log()
                    .lines()
                    .any(|l| l.contains("removed private key") && l.contains(&old.secret));
                Ok(if dropped {
                    Poll::Ready(())
                } else {
                    Poll::Pending(replica.log_tail(5))
                })
            },
        )
        .await?;
    }
    let rows = wait_key_list(ctx, front, "the old key dropped", |rows| rows.len() == 1).await?;
    ensure!(
        rows[0].fingerprint == new.fingerprint
            && rows[0].active == "yes"
            && rows[0].sealed_secrets == Some(4),
        "kubeseal keys list after retiring: expected only {} ACTIVE yes with 4 SealedSecrets, got {rows:?}",
        new.fingerprint
    );
    // The SealedSecrets stay Synced, on the new key.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let api = objects::sealed_secrets(ctx.client(), app);
    for item in items {
        let sealed = api.get(item.name).await?;
        assert_synced_true(&sealed)
            .with_context(|| format!("{app}/{} after the old key was retired", item.name))?;
        ensure!(
            key_fingerprint(&sealed).as_deref() == Some(new.fingerprint.as_str()),
            "after retiring: expected {app}/{} on {}, got {}",
            item.name,
            new.fingerprint,
            describe_sealed(&sealed)
        );
        let secret = objects::secrets(ctx.client(), app).get(item.name).await?;
        ensure!(
            secret_data(&secret) == item.values,
            "after retiring: expected Secret {app}/{} to hold {}, got {}",
            item.name,
            show_bytes_map(&item.values),
            show_bytes_map(&secret_data(&secret))
        );
    }
    Ok(())
}

/// A key made two hours ago, as the current key of a cluster that has run for a while
/// (the hold-back keeps a new key from sealing only while an older key has waited out
/// the delay), stored as the controller stores its keys.
async fn create_aged_key(ctx: &Ctx, home: &str, age: Duration) -> Result<Key> {
    let pair = generate_key_pair(
        2048,
        &CertificateSpec {
            common_name: String::new(),
            not_before: SystemTime::now() - age,
            validity: Duration::from_secs(87600 * 3600),
        },
    )
    .context("generating a key pair")?;
    let secret = key_to_secret(
        &pair,
        home,
        "sealed-secrets-key",
        &BTreeMap::new(),
        &BTreeMap::new(),
    )?;
    key_of(&objects::create_secret(ctx.client(), &secret).await?)
}

/// Holding a new key back until the backup has it, backing up, restoring into a new
/// cluster (a new home namespace), and moving a SealedSecret to another cluster by
/// re-sealing it with the backup and the target's certificate.
#[tokio::test]
async fn hold_back_backup_restore_and_move() -> Result<()> {
    run("runbook-restore", |ctx| async move {
        let src = ctx.namespace("src").await?;
        let app = ctx.namespace("app").await?;
        let moving = ctx.namespace("move").await?;
        let tmp = ctx.tmp_dir().to_path_buf();
        let old = create_aged_key(&ctx, &src, Duration::from_secs(2 * 3600)).await?;
        // SEALED_SECRETS_KEY_ACTIVATION_DELAY above the backup interval.
        let spec = ControllerSpec::new(&src)
            .watch(&app)
            .watch(&moving)
            .listen_on("0.0.0.0:0")
            .arg("--leader-elect")
            .arg("--key-activation-delay")
            .arg("1h");
        let first = start_replicas(&ctx, &spec, 1).await?;
        let mut front = Front::expose(&ctx, &src, first[0].1, None).await?;

        // The repository: db in app, mover in move, sealed offline with cert.pem.
        let cert_path = tmp.join("cert.pem");
        let served = fetch_cert_of(&ctx, &front, &old.fingerprint, "").await?;
        write(&cert_path, &served)?;
        let db_values = bytes_map(&[("user", b"app"), ("password", b"db password")]);
        let db_sealed = seal_text(&ctx, &cert_path, "strict", &plain_secret(&app, "db", &db_values, json!({}), json!({}))).await?;
        write(&tmp.join("db-sealed.yaml"), db_sealed.as_bytes())?;
        let mover_values = bytes_map(&[("token", b"moves to another cluster")]);
        let mover_labels = json!({ "app": "mover" });
        let mover_annotations = json!({ "team": "payments" });
        let mover_sealed = seal_text(
            &ctx,
            &cert_path,
            "strict",
            &plain_secret(&moving, "mover", &mover_values, mover_labels.clone(), mover_annotations.clone()),
        )
        .await?;
        write(&tmp.join("mover-sealed.yaml"), mover_sealed.as_bytes())?;
        apply_file(&ctx, &tmp.join("db-sealed.yaml")).await?;
        apply_file(&ctx, &tmp.join("mover-sealed.yaml")).await?;
        wait_opened_with(&ctx, &app, "db", &old.fingerprint).await?;
        ctx.wait_secret_data(&app, "db", &db_values).await?;
        wait_opened_with(&ctx, &moving, "mover", &old.fingerprint).await?;
        ctx.wait_secret_data(&moving, "mover", &mover_values).await?;

        // ---- A new key (a cutoff), held back by the delay: it does not seal yet.
        let cutoff = cutoff_after(&old).await?;
        println!("rolling the controller with --key-activation-delay 1h --key-cutoff-time {cutoff:?}");
        let second = roll(&ctx, &mut front, first, &spec.clone().arg("--key-cutoff-time").arg(&cutoff), 1).await?;
        let new = new_key_next_to(&ctx, &src, &old).await?;
        wait_logged(&ctx, &second, "New key written", 1).await?;
        let rows = wait_key_list(&ctx, &front, "the new key on top", |rows| {
            rows.len() == 2 && rows[0].fingerprint == new.fingerprint
        })
        .await?;
        let until = new.not_before + Duration::from_secs(3600);
        ensure!(
            rows[0].active.strip_prefix("held back until ").and_then(parse_utc) == Some(until)
                && parse_utc(&rows[0].created) == Some(new.not_before),
            "keys list: expected the new key {} created at its certificate's NotBefore and `held back until` one hour later, got {:?}",
            new.fingerprint,
            rows[0]
        );
        ensure!(
            rows[1].fingerprint == old.fingerprint && rows[1].active == "yes",
            "keys list with a held-back key: expected the previous key {} still ACTIVE yes, got {rows:?}",
            old.fingerprint
        );
        fetch_cert_of(&ctx, &front, &old.fingerprint, " with a held-back key").await?;
        if front.proxied() {
            // /v1/rotate keeps sealing with the previous key too.
            let out = ks_ok(&ctx, &src, &["--re-encrypt"], db_sealed.as_bytes()).await?;
            let rotated = one_document(&out.stdout, "kubeseal --re-encrypt")?;
            let original = one_document(&db_sealed, "db-sealed.yaml")?;
            ensure!(
                rotated["spec"]["encryptedData"] == original["spec"]["encryptedData"],
                "kubeseal --re-encrypt with a held-back key: expected db's values kept byte for byte (already on the sealing key {}), got:\n{}",
                old.fingerprint,
                out.stdout
            );
        }
        // It decrypts at once.
        let new_cert = tmp.join("new.pem");
        write(&new_cert, &new.pem)?;
        let early = bytes_map(&[("v", b"sealed with the held-back key")]);
        let sealed = seal_text(&ctx, &new_cert, "strict", &plain_secret(&app, "early", &early, json!({}), json!({}))).await?;
        apply_sealed_secret(ctx.client(), &one_document(&sealed, "kubeseal --cert new.pem")?).await?;
        wait_opened_with(&ctx, &app, "early", &new.fingerprint).await?;
        ctx.wait_secret_data(&app, "early", &early).await?;

        // ---- Back up the keys: both, and check the backup.
        let backup = tmp.join("keys-backup.yaml");
        let backup_arg = backup.display().to_string();
        let out = ks_ok(&ctx, &src, &["keys", "backup", "-w", &backup_arg], b"").await?;
        ensure!(
            out.stdout.is_empty()
                && out.stderr.contains(&format!("Backed up 2 keys from namespace {src}"))
                && out.stderr.contains(&old.fingerprint)
                && out.stderr.contains(&new.fingerprint),
            "kubeseal keys backup -w FILE: expected nothing on stdout and `Backed up 2 keys from namespace {src}` with both fingerprints on stderr, got\nstdout: {}\nstderr: {}",
            out.stdout,
            out.stderr
        );
        let items = check_backup(&backup, &[&new, &old])?;
        if front.proxied() {
            // It must list every fingerprint of `kubeseal keys list`.
            let rows = wait_key_list(&ctx, &front, "both keys with their SealedSecrets", |rows| {
                rows.len() == 2 && rows[0].sealed_secrets == Some(1) && rows[1].sealed_secrets == Some(2)
            })
            .await?;
            let listed: BTreeSet<&String> = rows.iter().map(|r| &r.fingerprint).collect();
            ensure!(
                listed == BTreeSet::from([&new.fingerprint, &old.fingerprint]),
                "kubeseal keys list: expected exactly the fingerprints of the backup, {} and {}, got {rows:?}",
                new.fingerprint,
                old.fingerprint
            );
        } else {
            front.skip("comparing the backup with kubeseal keys list");
        }
        // ... and open a SealedSecret without any cluster.
        let recover = ["--recovery-unseal", "--recovery-private-key", backup_arg.as_str(), "-o", "yaml"];
        let out = offline_ok(&ctx, &recover, db_sealed.as_bytes()).await?;
        let opened = one_document(&out.stdout, "kubeseal --recovery-unseal")?;
        ensure!(
            opened["kind"] == "Secret" && printed_secret_data(&opened)? == db_values,
            "kubeseal --recovery-unseal with the backup: expected Secret db holding {}, got:\n{}",
            show_bytes_map(&db_values),
            out.stdout
        );

        // ---- The backup has it: roll without the delay. The cutoff left set is harmless.
        let third = roll(
            &ctx,
            &mut front,
            second,
            &ControllerSpec::new(&src)
                .watch(&app)
                .watch(&moving)
                .listen_on("0.0.0.0:0")
                .arg("--leader-elect")
                .arg("--key-cutoff-time")
                .arg(&cutoff),
            1,
        )
        .await?;
        wait_logged(&ctx, &third, "became the leader", 1).await?;
        let rows = wait_key_list(&ctx, &front, "the new key sealing", |rows| {
            rows.len() == 2 && rows[0].active == "yes"
        })
        .await?;
        ensure!(
            rows[0].fingerprint == new.fingerprint && rows[1].fingerprint == old.fingerprint && rows[1].active == "no",
            "keys list without the delay: expected {} ACTIVE yes, then {} ACTIVE no, got {rows:?}",
            new.fingerprint,
            old.fingerprint
        );
        fetch_cert_of(&ctx, &front, &new.fingerprint, " without the delay").await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let present = all_key_secrets(&ctx, &src).await?;
        ensure!(
            present.len() == 2 && count_in_logs(&third, "New key written") == 0,
            "the cutoff left set: expected no new key at the next start, found {} key Secrets and {} `New key written`",
            present.len(),
            count_in_logs(&third, "New key written")
        );

        // The source cluster is gone.
        stop_replicas(third)?;

        // ---- Restore the keys into a new cluster, before installing the controller.
        let newhome = ctx.namespace("newhome").await?;
        let restore = ["keys", "restore", "-f", backup_arg.as_str()];
        let labels: Vec<String> = [&new, &old]
            .iter()
            .map(|k| format!("{newhome}/{} ({})", k.secret, k.fingerprint))
            .collect();
        let out = ks_ok(&ctx, &newhome, &[&restore[..], &["--dry-run"][..]].concat(), b"").await?;
        ensure!(
            labels.iter().all(|l| out.stderr.contains(&format!("{l}: would be created")))
                && out.stderr.contains("2 to create, 0 already present, 0 failed"),
            "kubeseal keys restore --dry-run into {newhome}: expected `<key>: would be created` for {labels:?} and `2 to create, 0 already present, 0 failed`, got:\n{}",
            out.stderr
        );
        let present = all_key_secrets(&ctx, &newhome).await?;
        ensure!(
            present.is_empty(),
            "kubeseal keys restore --dry-run: expected nothing created in {newhome}, found {:?}",
            present.iter().map(describe_secret).collect::<Vec<_>>()
        );
        let out = ks_ok(&ctx, &newhome, &restore, b"").await?;
        ensure!(
            labels.iter().all(|l| out.stderr.contains(&format!("{l}: created")))
                && out.stderr.contains("2 created, 0 already present, 0 failed"),
            "kubeseal keys restore into {newhome}: expected `<key>: created` for {labels:?} and `2 created, 0 already present, 0 failed`, got:\n{}",
            out.stderr
        );
        for key in [&new, &old] {
            let restored = objects::secrets(ctx.client(), &newhome).get(&key.secret).await?;
            ensure!(
                labels_of(&restored).get(KEY_LABEL).map(String::as_str) == Some(KEY_LABEL_ACTIVE)
                    && key_of(&restored)?.fingerprint == key.fingerprint,
                "the restored Secret {}: expected {KEY_LABEL}={KEY_LABEL_ACTIVE} and the key {}, got {}",
                key.secret,
                key.fingerprint,
                describe_secret(&restored)
            );
        }

        // Install the controller: it starts with the restored keys and makes none.
        let restored = ctx.start_controller(
            ControllerSpec::new(&newhome)
                .watch(&app)
                .listen_on("0.0.0.0:0")
                .arg("--leader-elect"),
        )?;
        let api = ctx.controller_api(&restored).await?.api;
        wait_leader(&ctx, &newhome).await?;
        let newest_backed_up = items
            .iter()
            .map(|i| {
                base64::engine::general_purpose::STANDARD
                    .decode(i["data"][TLS_CERT].as_str().unwrap_or_default())
                    .map_err(anyhow::Error::from)
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .find(|pem| certificate_from_pem(pem).is_ok_and(|c| c.fingerprint() == new.fingerprint))
            .with_context(|| format!("the backup lacks the certificate of {}", new.fingerprint))?;
        let backed_cert = tmp.join("backed-up.pem");
        write(&backed_cert, &newest_backed_up)?;
        let values = bytes_map(&[("password", b"sealed after the restore")]);
        let sealed = seal_text(&ctx, &backed_cert, "strict", &plain_secret(&app, "db-restored", &values, json!({}), json!({}))).await?;
        apply_sealed_secret(ctx.client(), &one_document(&sealed, "kubeseal --cert backed-up.pem")?).await?;
        wait_opened_with(&ctx, &app, "db-restored", &new.fingerprint).await?;
        ctx.wait_secret_data(&app, "db-restored", &values).await?;
        // What the source cluster's controller had opened opens here too.
        ctx.remove_sealed_and_secret(&app, "db").await?;
        apply_file(&ctx, &tmp.join("db-sealed.yaml")).await?;
        wait_opened_with(&ctx, &app, "db", &old.fingerprint).await?;
        ctx.wait_secret_data(&app, "db", &db_values).await?;
        ctx.wait_for(ctx.timeout(), "the restored controller to log `became the leader`", || async {
            Ok(if restored.log().contains("became the leader") {
                Poll::Ready(())
            } else {
                Poll::Pending(restored.log_tail(10))
            })
        })
        .await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let present = all_key_secrets(&ctx, &newhome).await?;
        ensure!(
            present.len() == 2 && !restored.log().contains("New key written"),
            "the controller over the restored keys (the newest younger than --key-renew-period): expected no new key, found {:?}\n{}",
            present.iter().map(describe_secret).collect::<Vec<_>>(),
            restored.log_tail(30)
        );
        let newfront = Front::expose(&ctx, &newhome, api, Some(&front)).await?;
        let rows = wait_key_list(&ctx, &newfront, "the restored keys", |rows| rows.len() == 2).await?;
        ensure!(
            rows[0].fingerprint == new.fingerprint
                && rows[0].active == "yes"
                && rows[1].fingerprint == old.fingerprint
                && rows[1].active == "no",
            "keys list in {newhome}: expected the restored {} ACTIVE yes (the newest), then {} ACTIVE no, got {rows:?}",
            new.fingerprint,
            old.fingerprint
        );
        if newfront.proxied() {
            ensure!(
                rows[0].sealed_secrets == Some(2) && rows[1].sealed_secrets == Some(2),
                "kubeseal keys list in {newhome}: expected 2 SealedSecrets on each key (early, db-restored; db, mover), got {rows:?}"
            );
        }
        // Restoring again: already present.
        let out = ks_ok(&ctx, &newhome, &restore, b"").await?;
        ensure!(
            labels.iter().all(|l| out.stderr.contains(&format!("{l}: already present")))
                && out.stderr.contains("0 created, 2 already present, 0 failed"),
            "kubeseal keys restore again: expected `<key>: already present` for {labels:?} and `0 created, 2 already present, 0 failed`, got:\n{}",
            out.stderr
        );
        restored.proc().terminate(SIGTERM_GRACE)?;
        drop(restored);

        // ---- Move a SealedSecret to another cluster by re-sealing it.
        // The other cluster has the namespace, not the source's objects.
        ctx.remove_sealed_and_secret(&moving, "mover").await?;
        let target = ctx.namespace("target").await?;
        let target_controller = ctx.start_controller(
            ControllerSpec::new(&target)
                .watch(&moving)
                .listen_on("0.0.0.0:0")
                .arg("--leader-elect"),
        )?;
        let target_key = wait_keys(&ctx, &target, 1).await?.remove(0);
        let api = ctx.controller_api(&target_controller).await?.api;
        let target_front = Front::expose(&ctx, &target, api, Some(&front)).await?;
        let target_cert = tmp.join("target-cert.pem");
        let served = fetch_cert_of(&ctx, &target_front, &target_key.fingerprint, " of the target").await?;
        write(&target_cert, &served)?;
        // kubeseal --recovery-unseal --recovery-private-key keys-backup.yaml -o yaml < mover-sealed.yaml \
        //   | kubeseal --cert target-cert.pem -o yaml > mover-sealed-target.yaml
        let opened = offline_ok(&ctx, &recover, mover_sealed.as_bytes()).await?;
        let target_cert_arg = target_cert.display().to_string();
        let resealed = offline_ok(&ctx, &["--cert", &target_cert_arg, "-o", "yaml"], opened.stdout.as_bytes()).await?;
        let moved = one_document(&resealed.stdout, "the re-sealed SealedSecret")?;
        let template_meta = &moved["spec"]["template"]["metadata"];
        let encrypted: BTreeSet<&String> = moved["spec"]["encryptedData"].as_object().map(|m| m.keys().collect()).unwrap_or_default();
        ensure!(
            moved["kind"] == "SealedSecret"
                && moved["metadata"]["namespace"] == moving.as_str()
                && moved["metadata"]["name"] == "mover"
                && template_meta["labels"] == mover_labels
                && template_meta["annotations"] == mover_annotations
                && encrypted == mover_values.keys().collect(),
            "the re-sealed SealedSecret: expected {moving}/mover with the template labels {mover_labels} and annotations {mover_annotations} and items {:?}, got:\n{}",
            mover_values.keys().collect::<Vec<_>>(),
            resealed.stdout
        );
        write(&tmp.join("mover-sealed-target.yaml"), resealed.stdout.as_bytes())?;
        apply_file(&ctx, &tmp.join("mover-sealed-target.yaml")).await?;
        wait_opened_with(&ctx, &moving, "mover", &target_key.fingerprint).await?;
        let secret = ctx.wait_secret_data(&moving, "mover", &mover_values).await?;
        ensure!(
            labels_of(&secret).get("app").map(String::as_str) == Some("mover")
                && objects::annotations_of(&secret).get("team").map(String::as_str) == Some("payments"),
            "the moved Secret: expected the label app=mover and the annotation team=payments, got {}",
            describe_secret(&secret)
        );
        Ok(())
    })
    .await
}
