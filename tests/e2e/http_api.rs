//! The controller's HTTP API: directly (`/healthz`, `/v1/cert.pem`, `/v1/verify`,
//! `/v1/rotate`, the rate limit, `/metrics`), and our `kubeseal` reaching it through the
//! API server's service proxy as it reaches an in-cluster controller.

use anyhow::{Context, Result, bail, ensure};
use sealed_common::RsaPrivateKey;
use sealed_common::Scope;
use sealed_common::codec::{Format, SEALED_SECRET, decode_stream, to_text};
use sealed_common::crypto::open_value;
use sealed_common::keys::Certificate;
use sealed_e2e::http::{self, ControllerApi, Response, matching, samples};
use sealed_e2e::objects::{self, apply_sealed_secret, bytes_map, key_fingerprint, show_bytes_map};
use sealed_e2e::sealing::{
    CLUSTER_WIDE, certificate_from_pem, foreign_key_pair, seal_items, sealed_secret,
};
use sealed_e2e::service_proxy::{self, ProxyAnswer};
use sealed_e2e::vectors::{self, Vector};
use sealed_e2e::{ControllerSpec, Ctx, Poll, kubeseal, run};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// The Service name kubeseal looks for by default (`--controller-name`).
const SERVICE: &str = "sealed-secrets-controller";

/// One upstream key: its letter, certificate, private key and fingerprint.
struct FixtureKey {
    letter: &'static str,
    cert: Certificate,
    private: RsaPrivateKey,
    fingerprint: String,
}

impl FixtureKey {
    fn load(letter: &'static str) -> Result<FixtureKey> {
        Ok(FixtureKey {
            letter,
            cert: certificate_from_pem(&vectors::cert_pem(letter)?)?,
            private: vectors::private_key(letter)?,
            fingerprint: vectors::fingerprint(letter)?,
        })
    }
}

/// Upstream's keys A and B as (newest, other), as a controller holding both orders
/// them: the later certificate NotBefore first; on a tie (they have the same one), the
/// key Secret whose name sorts first.
fn newest_and_other() -> Result<(FixtureKey, FixtureKey)> {
    let a = FixtureKey::load("A")?;
    let b = FixtureKey::load("B")?;
    let name = |letter| -> Result<String> {
        vectors::key_secret(letter, "x")?
            .metadata
            .name
            .context("key Secret without a name")
    };
    let a_first = match a.cert.not_before().cmp(&b.cert.not_before()) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => name("A")? < name("B")?,
    };
    Ok(if a_first { (a, b) } else { (b, a) })
}

/// Creates upstream's key Secrets `letters` in `home`.
async fn install_keys(ctx: &Ctx, home: &str, letters: &[&str]) -> Result<()> {
    for letter in letters {
        objects::create_secret(ctx.client(), &vectors::key_secret(letter, home)?).await?;
    }
    Ok(())
}

/// The upstream vector sealed with key B (`rotation/sealed-with-B`) and its
/// `sealed.yaml` exactly as upstream's kubeseal wrote it.
fn vector_sealed_with_b() -> Result<(Vector, Vec<u8>)> {
    let vector = vectors::all()?
        .into_iter()
        .find(|v| v.rel.starts_with("rotation/") && v.sealing_key == "B")
        .context("the rotation/sealed-with-B vector is missing")?;
    let path = vectors::root().join(&vector.rel).join("sealed.yaml");
    let yaml = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok((vector, yaml))
}

/// `POST` to the controller, waiting out its rate limit (429 + Retry-After) a few times
/// as a polite client would: only the rate-limit check counts 429s.
async fn post(api: SocketAddr, path: &str, content_type: &str, body: &[u8]) -> Result<Response> {
    let mut response = http::post(api, path, content_type, &[], body).await?;
    for _ in 0..5 {
        if response.status != 429 {
            break;
        }
        let wait = response
            .header("retry-after")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1)
            .clamp(1, 5);
        tokio::time::sleep(Duration::from_secs(wait)).await;
        response = http::post(api, path, content_type, &[], body).await?;
    }
    Ok(response)
}

fn json_body(response: &Response, what: &str) -> Result<Value> {
    serde_json::from_slice(&response.body)
        .with_context(|| format!("{what}: the answer is not JSON: {}", response.describe()))
}

fn encrypted_data(object: &Value) -> BTreeMap<String, String> {
    object
        .pointer("/spec/encryptedData")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Opens `value` with `key` alone under `label`; `None` if it does not open.
fn open_with(key: &RsaPrivateKey, value: &str, label: &[u8]) -> Option<Vec<u8>> {
    open_value([key], value, label)
        .ok()
        .map(|(plain, _)| plain.to_vec())
}

/// A SealedSecret for `ns/name` (strict) with the items `older` sealed with `other`
/// and `fresh` with `newest`, and a template worth keeping.
fn mixed_object(
    ns: &str,
    name: &str,
    newest: &FixtureKey,
    other: &FixtureKey,
    older: &BTreeMap<String, Vec<u8>>,
    fresh: &BTreeMap<String, Vec<u8>>,
) -> Result<Value> {
    let mut encrypted = seal_items(&other.cert, Scope::Strict, ns, name, older)?;
    encrypted.extend(seal_items(&newest.cert, Scope::Strict, ns, name, fresh)?);
    Ok(sealed_secret(
        ns,
        name,
        Scope::Strict,
        &encrypted,
        json!({
            "type": "Opaque",
            "metadata": {
                "labels": { "app": "rotated" },
                "annotations": { "note": "kept by rotate" },
            },
            "data": { "static": "literal" },
        }),
    ))
}

/// Checks a re-encrypted `after` against the `before` it came from: same header and
/// template, `fresh` items byte for byte, `older` items sealed anew so that only
/// `newest` opens them, under the strict label.
fn check_rotated(
    before: &Value,
    after: &Value,
    newest: &FixtureKey,
    other: &FixtureKey,
    older: &BTreeMap<String, Vec<u8>>,
    fresh: &BTreeMap<String, Vec<u8>>,
) -> Result<()> {
    for pointer in [
        "/apiVersion",
        "/kind",
        "/metadata/name",
        "/metadata/namespace",
    ] {
        ensure!(
            after.pointer(pointer) == before.pointer(pointer),
            "{pointer} changed: {:?} -> {:?}",
            before.pointer(pointer),
            after.pointer(pointer)
        );
    }
    // Go-style output may spell absent fields as null (`creationTimestamp: null`).
    let (template_before, template_after) = (
        without_nulls(&before["spec"]["template"]),
        without_nulls(&after["spec"]["template"]),
    );
    ensure!(
        template_after == template_before,
        "spec.template changed:\n  before {template_before}\n  after  {template_after}"
    );
    let (was, now) = (encrypted_data(before), encrypted_data(after));
    ensure!(
        was.keys().eq(now.keys()),
        "encryptedData items {:?} -> {:?}",
        was.keys().collect::<Vec<_>>(),
        now.keys().collect::<Vec<_>>()
    );
    let ns = before["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = before["metadata"]["name"].as_str().unwrap_or_default();
    let label = Scope::Strict.label(ns, name);
    for (item, plain) in fresh {
        ensure!(
            now[item] == was[item],
            "item {item} was already sealed with the newest key {} and must be kept byte for byte",
            newest.letter
        );
        ensure!(
            open_with(&newest.private, &now[item], &label).as_deref() == Some(plain.as_slice()),
            "item {item} does not open with key {} any more",
            newest.letter
        );
    }
    for (item, plain) in older {
        ensure!(
            now[item] != was[item],
            "item {item}, sealed with key {}, was not re-encrypted",
            other.letter
        );
        ensure!(
            open_with(&newest.private, &now[item], &label).as_deref() == Some(plain.as_slice()),
            "re-encrypted item {item} does not open with the newest key {} under the strict label {:?}",
            newest.letter,
            String::from_utf8_lossy(&label)
        );
        ensure!(
            open_with(&other.private, &now[item], &label).is_none(),
            "re-encrypted item {item} still opens with the older key {}",
            other.letter
        );
    }
    Ok(())
}

/// `value` without object members that are null (recursively).
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Applies `object` and waits until it unseals with `newest` to `expected`.
async fn expect_unseals(
    ctx: &Ctx,
    object: &Value,
    newest: &FixtureKey,
    expected: &BTreeMap<String, Vec<u8>>,
) -> Result<()> {
    let applied = apply_sealed_secret(ctx.client(), object).await?;
    let ns = applied.metadata.namespace.clone().unwrap_or_default();
    let name = applied.metadata.name.clone().unwrap_or_default();
    let sealed = ctx.wait_synced(&ns, &name).await?;
    ensure!(
        key_fingerprint(&sealed).as_deref() == Some(newest.fingerprint.as_str()),
        "{ns}/{name}: status.keyFingerprint is {:?}, expected key {}'s {}",
        key_fingerprint(&sealed),
        newest.letter,
        newest.fingerprint
    );
    ctx.wait_secret_data(&ns, &name, expected).await?;
    Ok(())
}

#[tokio::test]
async fn http_api_verify_rotate_and_metrics() -> Result<()> {
    run("httpapi", |ctx| async move {
        let home = ctx.namespace("home").await?;
        install_keys(&ctx, &home, &["A", "B"]).await?;
        let controller = ctx.start_controller(
            ControllerSpec::new(&home)
                .arg("--key-renew-period")
                .arg("0"),
        )?;
        let ControllerApi { api, metrics } = ctx.controller_api(&controller).await?;
        println!("controller API on {api}, metrics on {metrics}");

        for path in ["/healthz", "/readyz"] {
            let r = http::get(api, path).await?;
            ensure!(
                r.status == 200 && r.body == b"ok\n",
                "GET {path}: {}",
                r.describe()
            );
        }

        // The sealing certificate is the newest key's.
        let (newest, other) = newest_and_other()?;
        let r = http::get(api, "/v1/cert.pem").await?;
        ensure!(
            r.status == 200
                && r
                    .header("content-type")
                    .is_some_and(|c| c.starts_with("application/x-pem-file")),
            "GET /v1/cert.pem: {}",
            r.describe()
        );
        let served = certificate_from_pem(&r.body)?;
        let letter_of = |fp: &str| match fp {
            f if f == newest.fingerprint => newest.letter,
            f if f == other.fingerprint => other.letter,
            _ => "neither A nor B",
        };
        ensure!(
            served.der() == newest.cert.der(),
            "GET /v1/cert.pem serves {} (key {}); the newest key is {} ({}): same NotBefore, the key Secret whose name sorts first",
            served.fingerprint(),
            letter_of(&served.fingerprint()),
            newest.letter,
            newest.fingerprint
        );
        println!("/v1/cert.pem is key {}'s certificate", newest.letter);

        // /v1/verify: upstream's object sealed with B opens (sent as upstream wrote it,
        // YAML, and as JSON); renamed, its strict label no longer matches.
        let (vector, vector_yaml) = vector_sealed_with_b()?;
        let r = post(api, "/v1/verify", "application/yaml", &vector_yaml).await?;
        ensure!(r.status == 200, "verify of {}/sealed.yaml: {}", vector.rel, r.describe());
        let r = post(api, "/v1/verify", "application/json", &serde_json::to_vec(&vector.sealed)?).await?;
        ensure!(r.status == 200, "verify of {} as JSON: {}", vector.rel, r.describe());
        let mut renamed = vector.sealed.clone();
        renamed["metadata"]["name"] = Value::from("renamed");
        let r = post(api, "/v1/verify", "application/json", &serde_json::to_vec(&renamed)?).await?;
        ensure!(
            r.status == 409 && r.text().contains("no key could decrypt secret"),
            "verify of the renamed strict vector: expected 409 `no key could decrypt secret`, got {}",
            r.describe()
        );
        let r = post(api, "/v1/verify", "application/json", br#"{"apiVersion":"v1","kind":"Secret"}"#).await?;
        ensure!(r.status == 400, "verify of a Secret: expected 400, got {}", r.describe());

        // /v1/rotate: values sealed with the older key are sealed again with the newest,
        // values already on it are kept byte for byte, the template is kept, server
        // fields and the status are dropped.
        let older = bytes_map(&[("old", b"sealed-with-the-older-key")]);
        let fresh = bytes_map(&[("fresh", b"already-on-the-newest-key")]);
        let name = "rotate-me";
        let original = mixed_object(&home, name, &newest, &other, &older, &fresh)?;
        let mut input = original.clone();
        input["metadata"]["uid"] = json!("0b0e9c36-4a0e-4c4c-9a43-0d6f0c3f1e11");
        input["metadata"]["resourceVersion"] = json!("12345");
        input["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        input["metadata"]["generation"] = json!(3);
        input["status"] = json!({
            "observedGeneration": 3,
            "conditions": [{ "type": "Synced", "status": "True" }],
        });
        let r = post(api, "/v1/rotate", "application/json", &serde_json::to_vec(&input)?).await?;
        ensure!(
            r.status == 200
                && r
                    .header("content-type")
                    .is_some_and(|c| c.starts_with("application/json")),
            "rotate: {}",
            r.describe()
        );
        let rotated = json_body(&r, "rotate")?;
        check_rotated(&original, &rotated, &newest, &other, &older, &fresh)
            .with_context(|| format!("rotate answered {rotated}"))?;
        for field in ["uid", "resourceVersion", "creationTimestamp", "generation"] {
            ensure!(
                rotated["metadata"][field].is_null(),
                "rotate kept metadata.{field}: {rotated}"
            );
        }
        ensure!(rotated["status"].is_null(), "rotate kept the status: {rotated}");
        let mut expected = older.clone();
        expected.extend(fresh.clone());
        expected.insert("static".to_owned(), b"literal".to_vec());
        expect_unseals(&ctx, &rotated, &newest, &expected).await?;
        println!(
            "rotate: re-encrypted with key {}, unsealed to {}",
            newest.letter,
            show_bytes_map(&expected)
        );

        // CVE-2026-22728: a cluster-wide annotation slipped into the template does not
        // widen a strict SealedSecret; the scope comes from the object's own metadata.
        let victim = "victim";
        let secret = bytes_map(&[("k", b"strict-only")]);
        let enc = seal_items(&other.cert, Scope::Strict, &home, victim, &secret)?;
        let attack = sealed_secret(
            &home,
            victim,
            Scope::Strict,
            &enc,
            json!({ "metadata": { "annotations": { CLUSTER_WIDE: "true" } } }),
        );
        let r = post(api, "/v1/rotate", "application/json", &serde_json::to_vec(&attack)?).await?;
        ensure!(r.status == 200, "rotate of the template-widened object: {}", r.describe());
        let out = json_body(&r, "rotate of the template-widened object")?;
        ensure!(
            out["metadata"]["annotations"][CLUSTER_WIDE].is_null(),
            "rotate added the cluster-wide annotation to the object: {out}"
        );
        let value = encrypted_data(&out).remove("k").context("rotate dropped item k")?;
        ensure!(
            open_with(&newest.private, &value, &Scope::Strict.label(&home, victim)).as_deref()
                == Some(b"strict-only".as_slice()),
            "the re-encrypted value does not open under its strict label {home}/{victim}: {out}"
        );
        for scope in [Scope::ClusterWide, Scope::NamespaceWide] {
            ensure!(
                open_with(&newest.private, &value, &scope.label(&home, victim)).is_none(),
                "CVE-2026-22728: the re-encrypted strict value opens under the {scope} label"
            );
        }
        let mut claimed = attack.clone();
        claimed["metadata"]["annotations"] = json!({ CLUSTER_WIDE: "true" });
        let r = post(api, "/v1/rotate", "application/json", &serde_json::to_vec(&claimed)?).await?;
        ensure!(
            r.status == 409 && r.text().contains("no key could decrypt secret"),
            "rotate of a strict value whose object claims cluster-wide: expected 409 `no key could decrypt secret`, got {}",
            r.describe()
        );

        // Metrics (the condition appears once the controller has reconciled).
        let condition = [
            ("namespace", home.as_str()),
            ("name", name),
            ("condition", "Synced"),
        ];
        ctx.wait_for(ctx.timeout(), "the expected samples on /metrics", || async {
            let r = http::get(metrics, "/metrics").await?;
            if r.status != 200 {
                return Ok(Poll::Pending(format!("GET /metrics: {}", r.describe())));
            }
            let text = r.text();
            let mut missing = Vec::new();
            if !samples(&text, "sealed_secrets_controller_build_info").iter().any(|s| s.value == 1.0) {
                missing.push("sealed_secrets_controller_build_info 1".to_owned());
            }
            if !samples(&text, "sealed_secrets_controller_unseal_requests_total").iter().any(|s| s.value >= 1.0) {
                missing.push("sealed_secrets_controller_unseal_requests_total >= 1".to_owned());
            }
            if !matching(&text, "sealed_secrets_controller_condition_info", &condition).iter().any(|s| s.value == 1.0) {
                missing.push(format!("sealed_secrets_controller_condition_info{condition:?} 1"));
            }
            for (path, code, at_least) in [("/v1/verify", "200", 2.0), ("/v1/verify", "409", 1.0), ("/v1/rotate", "200", 2.0)] {
                let want = [("path", path), ("code", code), ("method", "post")];
                if !matching(&text, "sealed_secrets_controller_http_requests_total", &want).iter().any(|s| s.value >= at_least) {
                    missing.push(format!("sealed_secrets_controller_http_requests_total{want:?} >= {at_least}"));
                }
            }
            if !samples(&text, "sealed_secrets_controller_keys").iter().any(|s| s.value == 2.0) {
                missing.push("sealed_secrets_controller_keys 2".to_owned());
            }
            Ok(if missing.is_empty() {
                Poll::Ready(())
            } else {
                let shown: Vec<&str> = text.lines().filter(|l| !l.starts_with('#') && !l.contains("_bucket")).collect();
                Poll::Pending(format!("missing {missing:?} in:\n{}", shown.join("\n")))
            })
        })
        .await?;

        // A controller holding key A only, limited to 1 request per second and client,
        // no burst.
        let limited_home = ctx.namespace("limited").await?;
        install_keys(&ctx, &limited_home, &["A"]).await?;
        let limited = ctx.start_controller(
            ControllerSpec::new(&limited_home)
                .arg("--key-renew-period")
                .arg("0")
                .arg("--rate-limit")
                .arg("1")
                .arg("--rate-limit-burst")
                .arg("0"),
        )?;
        let limited_api = ctx.controller_api(&limited).await?.api;
        // Sealed with B, which this controller lacks.
        let r = http::post(limited_api, "/v1/verify", "application/yaml", &[], &vector_yaml).await?;
        ensure!(
            r.status == 409
                && r.text().contains("no key could decrypt secret")
                && r.header("content-type").is_some_and(|c| c.starts_with("text/plain")),
            "verify of the B-sealed vector by a controller holding only A: expected 409 text `no key could decrypt secret`, got {}",
            r.describe()
        );
        // X-Forwarded-For from a peer that is not a trusted proxy is not believed: a new
        // value per request does not escape the limit.
        let body = serde_json::to_vec(&vector.sealed)?;
        let mut seen = Vec::new();
        let mut limited_answer = None;
        for i in 1..=3 {
            let forwarded = format!("203.0.113.{i}");
            let started = std::time::Instant::now();
            let r = http::post(
                limited_api,
                "/v1/rotate",
                "application/json",
                &[("X-Forwarded-For", forwarded.as_str())],
                &body,
            )
            .await?;
            seen.push(format!("{} after {:?}", r.status, started.elapsed()));
            if i == 1 {
                ensure!(r.status != 429, "the first rotate request was already limited: {}", r.describe());
            } else if r.status == 429 {
                limited_answer = Some(r);
                break;
            }
        }
        let Some(r) = limited_answer else {
            bail!("no 429 from a controller with --rate-limit 1 --rate-limit-burst 0 after {} quick requests: {seen:?}", seen.len());
        };
        let retry_after = r.header("retry-after").and_then(|v| v.parse::<u64>().ok());
        ensure!(
            retry_after.is_some_and(|s| (1..=2).contains(&s)) && r.text().contains("rate limit exceeded"),
            "429 answer: Retry-After {:?}, {}",
            r.header("retry-after"),
            r.describe()
        );
        println!("rate limit: {seen:?}, Retry-After {retry_after:?}");
        Ok(())
    })
    .await
}

/// Runs our kubeseal; fails with its output unless it exits 0.
async fn kubeseal_ok(ctx: &Ctx, args: &[&str], stdin: &[u8]) -> Result<kubeseal::Output> {
    let out = kubeseal::run(ctx, args, stdin).await?;
    if out.code != Some(0) {
        bail!(
            "kubeseal {} exited with {:?}\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.code,
            out.stdout,
            out.stderr
        );
    }
    Ok(out)
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn one_document(text: &str, what: &str) -> Result<Value> {
    let mut docs: Vec<Value> =
        decode_stream(text.as_bytes()).with_context(|| format!("{what}: unreadable:\n{text}"))?;
    ensure!(docs.len() == 1, "{what}: {} documents:\n{text}", docs.len());
    Ok(docs.remove(0))
}

#[tokio::test]
async fn kubeseal_through_the_service_proxy() -> Result<()> {
    run("ksproxy", |ctx| async move {
        let ns = ctx.namespace("ctl").await?;
        install_keys(&ctx, &ns, &["A", "B"]).await?;
        // All interfaces: the API server connects to this machine's address.
        let controller = ctx.start_controller(
            ControllerSpec::new(&ns)
                .listen_on("0.0.0.0:0")
                .arg("--key-renew-period")
                .arg("0"),
        )?;
        let api = ctx.controller_api(&controller).await?.api;
        let (newest, other) = newest_and_other()?;
        let kubeconfig = ctx.kubeconfig().display().to_string();
        let online = |extra: &[&str]| -> Vec<String> {
            let mut args = vec![
                "--kubeconfig".to_owned(),
                kubeconfig.clone(),
                "--controller-namespace".to_owned(),
                ns.clone(),
            ];
            args.extend(extra.iter().map(|s| (*s).to_owned()));
            args
        };

        // No such Service: the error says which flags name it.
        let args = online(&["--controller-name", "nope", "--fetch-cert"]);
        let out = kubeseal::run(&ctx, &strs(&args), b"").await?;
        ensure!(
            out.code != Some(0)
                && out.stderr.contains("--controller-name")
                && out.stderr.contains("--controller-namespace")
                && out.stderr.contains("nope"),
            "kubeseal --controller-name nope: expected a failure naming --controller-name and --controller-namespace, got {:?}\nstderr: {}",
            out.code,
            out.stderr
        );

        let (host, port) = service_proxy::api_server_host_port(ctx.kubeconfig()).await?;
        let ip = match service_proxy::advertise_ip(&host, port) {
            Ok(ip) => ip,
            Err(e) => {
                println!("skipped part: {e:#}; kubeseal's service-proxy path not checked");
                return Ok(());
            }
        };
        let backend = SocketAddr::new(ip.into(), api.port());
        let exposure = service_proxy::expose(&ctx, &ns, SERVICE, "web", backend).await?;
        println!(
            "controller exposed as Service {ns}/{SERVICE} (port `web`) -> {backend}; probing {}",
            exposure.proxy_id
        );
        match service_proxy::get(&ctx, &ns, &exposure.proxy_id, "/healthz").await? {
            ProxyAnswer::Ok(body) => ensure!(
                body == "ok\n",
                "GET .../proxy/healthz through the API server: {body:?}"
            ),
            ProxyAnswer::Unreachable(message) => {
                println!(
                    "skipped part: the API server cannot reach this machine ({message}); kubeseal's service-proxy path not checked"
                );
                return Ok(());
            }
            ProxyAnswer::Failed(code, message)
                if message.contains("no endpoints available") && exposure.pod_problem.is_some() =>
            {
                println!(
                    "skipped part: the API server found no usable endpoint ({code} {message}); it wants addresses that belong to a Pod and the placeholder Pod could not be written ({}); kubeseal's service-proxy path not checked",
                    exposure.pod_problem.as_deref().unwrap_or_default()
                );
                return Ok(());
            }
            ProxyAnswer::Failed(code, message) => bail!(
                "GET /api/v1/namespaces/{ns}/services/{}/proxy/healthz answered {code}: {message} (Service, Endpoints, EndpointSlice and placeholder Pod point at {backend})",
                exposure.proxy_id
            ),
        }

        // --fetch-cert: what the controller serves.
        let local = http::get(api, "/v1/cert.pem").await?;
        ensure!(local.status == 200, "GET /v1/cert.pem: {}", local.describe());
        let out = kubeseal_ok(&ctx, &strs(&online(&["--fetch-cert"])), b"").await?;
        ensure!(
            out.stdout.as_bytes() == local.body.as_slice(),
            "kubeseal --fetch-cert printed:\n{}\nthe controller serves:\n{}",
            out.stdout,
            local.text()
        );
        ensure!(
            certificate_from_pem(out.stdout.as_bytes())?.fingerprint() == newest.fingerprint,
            "kubeseal --fetch-cert did not give key {}'s certificate",
            newest.letter
        );

        // Sealing without --cert: the certificate comes through the proxy.
        let name = "via-proxy";
        let secret = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": { "name": name, "namespace": ns },
            "type": "Opaque",
            "stringData": { "user": "alice", "password": "through the service proxy" },
        });
        let out = kubeseal_ok(&ctx, &strs(&online(&["-o", "yaml"])), &serde_json::to_vec(&secret)?).await?;
        let sealed = one_document(&out.stdout, "kubeseal -o yaml")?;
        let expected = bytes_map(&[("user", b"alice"), ("password", b"through the service proxy")]);
        expect_unseals(&ctx, &sealed, &newest, &expected).await?;

        // --validate: silent success for what opens; exit 1 naming what does not.
        kubeseal_ok(&ctx, &strs(&online(&["--validate"])), out.stdout.as_bytes()).await?;
        let foreign = foreign_key_pair()?;
        let items = bytes_map(&[("k", b"sealed with a key no controller has")]);
        let enc = seal_items(&foreign.certificate, Scope::Strict, &ns, "foreign", &items)?;
        let stranger = sealed_secret(&ns, "foreign", Scope::Strict, &enc, json!({}));
        let out = kubeseal::run(&ctx, &strs(&online(&["--validate"])), &serde_json::to_vec(&stranger)?).await?;
        ensure!(
            out.code == Some(1)
                && out.stderr.contains(&format!("unable to decrypt sealed secret: {ns}/foreign")),
            "kubeseal --validate of a foreign-key SealedSecret: expected exit 1 and `unable to decrypt sealed secret: {ns}/foreign`, got {:?}\nstderr: {}",
            out.code,
            out.stderr
        );

        // --re-encrypt -f FILE (no -w): the file is rewritten in place.
        let older = bytes_map(&[("old", b"from the older key")]);
        let fresh = bytes_map(&[("fresh", b"already on the newest key")]);
        let original = mixed_object(&ns, "rotate-file", &newest, &other, &older, &fresh)?;
        let path = ctx.tmp_dir().join("rotate-file.yaml");
        let before_text = to_text(&original, &SEALED_SECRET, Format::Yaml)?;
        std::fs::write(&path, &before_text)?;
        let file = path.display().to_string();
        let out = kubeseal_ok(&ctx, &strs(&online(&["--re-encrypt", "-f", &file])), b"").await?;
        ensure!(
            out.stdout.trim().is_empty(),
            "kubeseal --re-encrypt -f FILE printed to stdout instead of rewriting the file:\n{}",
            out.stdout
        );
        let after_text = std::fs::read_to_string(&path)?;
        ensure!(after_text != before_text, "kubeseal --re-encrypt -f {file} left the file unchanged");
        let rewritten = one_document(&after_text, "the re-encrypted file")?;
        check_rotated(&original, &rewritten, &newest, &other, &older, &fresh)
            .with_context(|| format!("the re-encrypted file:\n{after_text}"))?;
        let mut expected = older.clone();
        expected.extend(fresh.clone());
        expected.insert("static".to_owned(), b"literal".to_vec());
        expect_unseals(&ctx, &rewritten, &newest, &expected).await?;
        println!(
            "kubeseal through {}: --fetch-cert, sealing, --validate and --re-encrypt checked",
            exposure.proxy_id
        );
        Ok(())
    })
    .await
}
