//! The controller's HTTP API: directly (`/healthz`, `/v1/cert.pem`, `/v1/verify`,
//! `/v1/rotate`, the rate limit, `/metrics`), and our `kubeseal` reaching it through the
//! API server's service proxy as it reaches an in-cluster controller.

use anyhow::{Context, Result, bail, ensure};
use sealed_common::Scope;
use sealed_common::codec::{Format, SEALED_SECRET, to_text};
use sealed_e2e::http::{self, ControllerApi, matching, post_patiently, samples};
use sealed_e2e::kubeseal::{self, CONTROLLER_NAME, one_document};
use sealed_e2e::objects::{bytes_map, show_bytes_map};
use sealed_e2e::rotation::{Mixed, encrypted_data, open_with};
use sealed_e2e::sealing::{
    CLUSTER_WIDE, certificate_from_pem, foreign_key_pair, seal_items, sealed_secret,
};
use sealed_e2e::service_proxy::{self, Reach, Unreachable};
use sealed_e2e::vectors::{self, UpstreamKey, install_keys, newest_and_other};
use sealed_e2e::{ControllerSpec, Ctx, Poll, run};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Applies `object` and waits until it unseals with `newest` to `expected`.
async fn expect_unseals(
    ctx: &Ctx,
    object: &Value,
    newest: &UpstreamKey,
    expected: &BTreeMap<String, Vec<u8>>,
) -> Result<()> {
    ctx.apply_and_wait_unsealed(object, &newest.fingerprint, expected)
        .await
        .with_context(|| format!("the newest key is {}", newest.letter))?;
    Ok(())
}

/// `--kubeconfig KUBECONFIG --controller-namespace NS EXTRA...`: the controller's
/// Service found under kubeseal's default name.
fn online<'a>(kubeconfig: &'a str, ns: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--kubeconfig", kubeconfig, "--controller-namespace", ns];
    args.extend_from_slice(extra);
    args
}

#[tokio::test]
async fn http_api_verify_rotate_and_metrics() -> Result<()> {
    run("httpapi", |ctx| async move {
        let home = ctx.namespace("home").await?;
        install_keys(ctx.client(), &home, &["A", "B"]).await?;
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
        let (vector, vector_yaml) = vectors::rotation_vector("B")?;
        let r = post_patiently(api, "/v1/verify", "application/yaml", &vector_yaml).await?;
        ensure!(r.status == 200, "verify of {}/sealed.yaml: {}", vector.rel, r.describe());
        let r = post_patiently(api, "/v1/verify", "application/json", &serde_json::to_vec(&vector.sealed)?).await?;
        ensure!(r.status == 200, "verify of {} as JSON: {}", vector.rel, r.describe());
        let mut renamed = vector.sealed.clone();
        renamed["metadata"]["name"] = Value::from("renamed");
        let r = post_patiently(api, "/v1/verify", "application/json", &serde_json::to_vec(&renamed)?).await?;
        ensure!(
            r.status == 409 && r.text().contains("no key could decrypt secret"),
            "verify of the renamed strict vector: expected 409 `no key could decrypt secret`, got {}",
            r.describe()
        );
        let r = post_patiently(api, "/v1/verify", "application/json", br#"{"apiVersion":"v1","kind":"Secret"}"#).await?;
        ensure!(r.status == 400, "verify of a Secret: expected 400, got {}", r.describe());

        // /v1/rotate: values sealed with the older key are sealed again with the newest,
        // values already on it are kept byte for byte, the template is kept, server
        // fields and the status are dropped.
        let name = "rotate-me";
        let older = bytes_map(&[("old", b"sealed-with-the-older-key")]);
        let fresh = bytes_map(&[("fresh", b"already-on-the-newest-key")]);
        let mixed = Mixed::new(&home, name, &newest, &other, older, fresh)?;
        let mut input = mixed.object.clone();
        input["metadata"]["uid"] = json!("0b0e9c36-4a0e-4c4c-9a43-0d6f0c3f1e11");
        input["metadata"]["resourceVersion"] = json!("12345");
        input["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        input["metadata"]["generation"] = json!(3);
        input["status"] = json!({
            "observedGeneration": 3,
            "conditions": [{ "type": "Synced", "status": "True" }],
        });
        let r = post_patiently(api, "/v1/rotate", "application/json", &serde_json::to_vec(&input)?).await?;
        ensure!(
            r.status == 200
                && r
                    .header("content-type")
                    .is_some_and(|c| c.starts_with("application/json")),
            "rotate: {}",
            r.describe()
        );
        let rotated = r.json("rotate")?;
        mixed
            .check_reencrypted(&rotated, &newest, &other)
            .with_context(|| format!("rotate answered {rotated}"))?;
        for field in ["uid", "resourceVersion", "creationTimestamp", "generation"] {
            ensure!(
                rotated["metadata"][field].is_null(),
                "rotate kept metadata.{field}: {rotated}"
            );
        }
        ensure!(rotated["status"].is_null(), "rotate kept the status: {rotated}");
        let expected = mixed.plaintext();
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
        let r = post_patiently(api, "/v1/rotate", "application/json", &serde_json::to_vec(&attack)?).await?;
        ensure!(r.status == 200, "rotate of the template-widened object: {}", r.describe());
        let out = r.json("rotate of the template-widened object")?;
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
        let r = post_patiently(api, "/v1/rotate", "application/json", &serde_json::to_vec(&claimed)?).await?;
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
        install_keys(ctx.client(), &limited_home, &["A"]).await?;
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

#[tokio::test]
async fn kubeseal_through_the_service_proxy() -> Result<()> {
    run("ksproxy", |ctx| async move {
        let ns = ctx.namespace("ctl").await?;
        install_keys(ctx.client(), &ns, &["A", "B"]).await?;
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

        // No such Service: the error says which flags name it.
        let args = online(&kubeconfig, &ns, &["--controller-name", "nope", "--fetch-cert"]);
        let out = kubeseal::run(&ctx, &args, b"").await?;
        ensure!(
            out.code != Some(0)
                && out.stderr.contains("--controller-name")
                && out.stderr.contains("--controller-namespace")
                && out.stderr.contains("nope"),
            "kubeseal --controller-name nope: expected a failure naming --controller-name and --controller-namespace, got {:?}\nstderr: {}",
            out.code,
            out.stderr
        );

        let exposure = match service_proxy::expose_and_probe(&ctx, &ns, CONTROLLER_NAME, "web", api.port()).await? {
            Reach::Proxied { exposure, backend } => {
                println!(
                    "controller exposed as Service {ns}/{CONTROLLER_NAME} (port `web`) -> {backend}, answering through {}",
                    exposure.proxy_id
                );
                exposure
            }
            Reach::Unreachable(why) => {
                let why = match why {
                    Unreachable::NoEndpoint { code, message, pod_problem } => format!(
                        "the API server found no usable endpoint ({code} {message}); it wants addresses that belong to a Pod and the placeholder Pod could not be written ({pod_problem})"
                    ),
                    other => other.to_string(),
                };
                println!("skipped part: {why}; kubeseal's service-proxy path not checked");
                return Ok(());
            }
        };

        // --fetch-cert: what the controller serves.
        let local = http::get(api, "/v1/cert.pem").await?;
        ensure!(local.status == 200, "GET /v1/cert.pem: {}", local.describe());
        let out = kubeseal::run_ok(&ctx, &online(&kubeconfig, &ns, &["--fetch-cert"]), b"").await?;
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
        let out = kubeseal::run_ok(&ctx, &online(&kubeconfig, &ns, &["-o", "yaml"]), &serde_json::to_vec(&secret)?).await?;
        let sealed = one_document(&out.stdout, "kubeseal -o yaml")?;
        let expected = bytes_map(&[("user", b"alice"), ("password", b"through the service proxy")]);
        expect_unseals(&ctx, &sealed, &newest, &expected).await?;

        // --validate: silent success for what opens; exit 1 naming what does not.
        kubeseal::run_ok(&ctx, &online(&kubeconfig, &ns, &["--validate"]), out.stdout.as_bytes()).await?;
        let foreign = foreign_key_pair()?;
        let items = bytes_map(&[("k", b"sealed with a key no controller has")]);
        let enc = seal_items(&foreign.certificate, Scope::Strict, &ns, "foreign", &items)?;
        let stranger = sealed_secret(&ns, "foreign", Scope::Strict, &enc, json!({}));
        let out = kubeseal::run(&ctx, &online(&kubeconfig, &ns, &["--validate"]), &serde_json::to_vec(&stranger)?).await?;
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
        let mixed = Mixed::new(&ns, "rotate-file", &newest, &other, older, fresh)?;
        let path = ctx.tmp_dir().join("rotate-file.yaml");
        let before_text = to_text(&mixed.object, &SEALED_SECRET, Format::Yaml)?;
        std::fs::write(&path, &before_text)?;
        let file = path.display().to_string();
        let out = kubeseal::run_ok(&ctx, &online(&kubeconfig, &ns, &["--re-encrypt", "-f", &file]), b"").await?;
        ensure!(
            out.stdout.trim().is_empty(),
            "kubeseal --re-encrypt -f FILE printed to stdout instead of rewriting the file:\n{}",
            out.stdout
        );
        let after_text = std::fs::read_to_string(&path)?;
        ensure!(after_text != before_text, "kubeseal --re-encrypt -f {file} left the file unchanged");
        let rewritten = one_document(&after_text, "the re-encrypted file")?;
        mixed
            .check_reencrypted(&rewritten, &newest, &other)
            .with_context(|| format!("the re-encrypted file:\n{after_text}"))?;
        let expected = mixed.plaintext();
        expect_unseals(&ctx, &rewritten, &newest, &expected).await?;
        println!(
            "kubeseal through {}: --fetch-cert, sealing, --validate and --re-encrypt checked",
            exposure.proxy_id
        );
        Ok(())
    })
    .await
}
