// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! kubeseal's online modes against a fake Kubernetes API server that proxies to a
//! scripted controller: the real binary, a real kubeconfig, plain HTTP on 127.0.0.1.

mod support;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::fake_api::{FakeApi, Recorded, Reply, Script, ServiceMode, TOKEN, online_kubeseal};
use support::*;

const SERVICE: &str = "GET /api/v1/namespaces/kube-system/services/sealed-secrets-controller";
const PROXY: &str =
    "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy";

fn cert_pem(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// A controller that serves fixture certificate A.
fn serving_cert_a() -> Script {
    let pem = cert_pem(&cert_a());
    Script::new().on(move |endpoint, _| match endpoint {
        "/v1/cert.pem" => Reply::pem(pem.clone()),
        _ => Reply::text(404, "404 page not found\n"),
    })
}

/// A Secret named `name` in `prod`.
fn secret(name: &str) -> String {
    SECRET.replace("name: db", &format!("name: {name}"))
}

/// The Secret `name` sealed offline with `cert`, in `format`.
fn sealed(name: &str, cert: &str, format: &str) -> String {
    ok(
        kubeseal().args(["--cert", cert, "-o", format]),
        secret(name),
    )
}

/// What the controller answers to a rotate: the Secret sealed with B, plus the fields
/// the API server adds to stored objects.
fn rotated_answers(names: &[&str]) -> BTreeMap<String, Value> {
    names
        .iter()
        .map(|name| {
            let mut doc = parse_all(&sealed(name, &cert_b(), "json")).remove(0);
            let meta = doc["metadata"].as_object_mut().unwrap();
            meta.insert("creationTimestamp".into(), json!("2024-05-01T10:00:00Z"));
            meta.insert("resourceVersion".into(), json!("1234"));
            meta.insert("uid".into(), json!("6f1d6c8e-0000-4000-8000-000000000000"));
            meta.insert("generation".into(), json!(2));
            meta.insert(
                "managedFields".into(),
                json!([{"manager": "kubectl", "operation": "Update"}]),
            );
            meta.insert(
                "annotations".into(),
                json!({"kubectl.kubernetes.io/last-applied-configuration": "{\"kind\":\"SealedSecret\"}"}),
            );
            doc["status"] = json!({"conditions": [{"type": "Synced", "status": "True"}]});
            (name.to_string(), doc)
        })
        .collect()
}

/// A controller whose rotate answers from `answers` by name, and 409 for others.
fn rotating(answers: BTreeMap<String, Value>) -> Script {
    Script::new().on(move |endpoint, request: &Recorded| {
        let name = request.json()["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match (endpoint, answers.get(&name)) {
            ("/v1/rotate", Some(doc)) => Reply::json(200, doc),
            ("/v1/rotate", None) => {
                Reply::text(409, "no key could decrypt secret (password, user)")
            }
            _ => Reply::text(404, "404 page not found\n"),
        }
    })
}

fn no_server_fields(doc: &Value) {
    let meta = doc["metadata"].as_object().unwrap();
    for field in [
        "creationTimestamp",
        "resourceVersion",
        "uid",
        "generation",
        "managedFields",
        "annotations",
    ] {
        assert!(!meta.contains_key(field), "{field} kept: {doc}");
    }
    assert!(doc.get("status").is_none(), "status kept: {doc}");
}

fn opens_with(sealed: &str, key: &str) {
    let secrets = unseal_with(sealed, &[key.to_owned()]);
    assert!(!secrets.is_empty());
    for secret in &secrets {
        let items = items(secret);
        assert_eq!(items["password"], b"s3cr3t-value-42", "{secret}");
        assert_eq!(items["user"], b"admin-user-77", "{secret}");
    }
}

#[test]
fn sealing_without_cert_uses_the_controllers_certificate() {
    let api = FakeApi::start(serving_cert_a());
    let out = ok(api.kubeseal().args(["-o", "yaml"]), SECRET);
    opens_with(&out, &key_a());
    assert_eq!(
        api.lines(),
        [SERVICE.to_owned(), format!("GET {PROXY}/v1/cert.pem")]
    );
    let requests = api.requests();
    let auth = format!("Bearer {TOKEN}");
    assert_eq!(requests[0].header("authorization"), Some(auth.as_str()));
    assert_eq!(
        requests[1].header("accept"),
        Some("application/x-pem-file, */*")
    );
    assert_eq!(requests[1].header("authorization"), Some(auth.as_str()));

    // --raw and --merge-into fetch it the same way.
    let raw = ok(
        api.kubeseal().args([
            "--raw",
            "--name",
            "db",
            "-n",
            "prod",
            "--from-file=/dev/stdin",
        ]),
        "s3cr3t",
    );
    assert!(raw.starts_with("Ag"), "{raw}");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("db.yaml");
    std::fs::write(&target, &out).unwrap();
    let extra = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\nstringData:\n  extra: more\n";
    ok(
        api.kubeseal()
            .args(["--merge-into", target.to_str().unwrap()]),
        extra,
    );
    let merged = std::fs::read_to_string(&target).unwrap();
    let secret = unseal_with(&merged, &[key_a()]).remove(0);
    assert_eq!(items(&secret)["extra"], b"more");
}

#[test]
fn fetch_cert_prints_the_certificate_as_received() {
    let mut bundle = cert_pem(&cert_a());
    bundle.extend_from_slice(b"\n");
    bundle.extend_from_slice(&cert_pem(&cert_b()));
    let served = bundle.clone();
    let api = FakeApi::start(Script::new().on(move |endpoint, _| match endpoint {
        "/v1/cert.pem" => Reply::pem(served.clone()),
        _ => Reply::text(404, ""),
    }));
    let out = api.kubeseal().arg("--fetch-cert").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, bundle);
    assert_eq!(api.lines()[1], format!("GET {PROXY}/v1/cert.pem"));

    // With --cert, no cluster is contacted.
    let before = api.requests().len();
    ok(
        api.kubeseal().args(["--fetch-cert", "--cert", &cert_a()]),
        "",
    );
    assert_eq!(api.requests().len(), before);
}

#[test]
fn the_proxy_path_uses_the_name_of_the_services_first_port() {
    for (port, segment) in [
        ("http", "http:sealed-secrets-controller:http"),
        ("web-8080", "http:sealed-secrets-controller:web-8080"),
        ("", "http:sealed-secrets-controller:"),
    ] {
        let pem = cert_pem(&cert_a());
        let api = FakeApi::start(
            Script::new()
                .service(ServiceMode::Port(port.into()))
                .on(move |_, _| Reply::pem(pem.clone())),
        );
        ok(api.kubeseal().arg("--fetch-cert"), "");
        assert_eq!(
            api.lines(),
            [
                SERVICE.to_owned(),
                format!("GET /api/v1/namespaces/kube-system/services/{segment}/proxy/v1/cert.pem")
            ],
            "port {port:?}"
        );
    }
}

#[test]
fn controller_name_and_namespace_flags_choose_the_service() {
    let pem = cert_pem(&cert_a());
    let api = FakeApi::start(
        Script::new()
            .controller_at("security", "sealer")
            .on(move |_, _| Reply::pem(pem.clone())),
    );
    ok(
        api.kubeseal().args([
            "--fetch-cert",
            "--controller-name",
            "sealer",
            "--controller-namespace",
            "security",
        ]),
        "",
    );
    assert_eq!(
        api.lines(),
        [
            "GET /api/v1/namespaces/security/services/sealer",
            "GET /api/v1/namespaces/security/services/http:sealer:http/proxy/v1/cert.pem",
        ]
    );
    // The defaults then find nothing, and say which flags to use.
    let err = fails(api.kubeseal().arg("--fetch-cert"), "");
    assert!(
        err.contains("--controller-name and --controller-namespace"),
        "{err}"
    );
}

#[test]
fn a_missing_service_says_which_flags_to_set() {
    let api = FakeApi::start(Script::new().service(ServiceMode::Missing));
    let err = fails(&mut api.kubeseal(), SECRET);
    assert!(
        err.starts_with("error: cannot get sealed secret service: services \"sealed-secrets-controller\" not found. Please, use the flag --controller-name and --controller-namespace to set up the name and namespace of the sealed secrets controller"),
        "{err}"
    );
    assert!(err.contains("namespace \"kube-system\""), "{err}");
}

#[test]
fn service_problems_are_explained() {
    let api = FakeApi::start(Script::new().service(ServiceMode::NoPorts));
    let err = fails(api.kubeseal().arg("--fetch-cert"), "");
    assert!(
        err.contains("service kube-system/sealed-secrets-controller has no ports"),
        "{err}"
    );

    let forbidden = Reply::status(
        403,
        "Forbidden",
        "services \"sealed-secrets-controller\" is forbidden: User \"bob\" cannot get resource \"services\" in API group \"\" in the namespace \"kube-system\"",
    );
    let api = FakeApi::start(Script::new().service(ServiceMode::Reply(forbidden)));
    let err = fails(api.kubeseal().arg("--fetch-cert"), "");
    assert!(err.starts_with("error: cannot get sealed secret service: services \"sealed-secrets-controller\" is forbidden"), "{err}");
    assert!(
        err.contains("permission to \"get\" services in namespace \"kube-system\""),
        "{err}"
    );
    assert!(err.ends_with("or seal offline with --cert FILE"), "{err}");
}

#[test]
fn validate_is_silent_when_the_controller_opens_it() {
    let api = FakeApi::start(Script::new().on(|endpoint, _| match endpoint {
        "/v1/verify" => Reply::text(200, ""),
        _ => Reply::text(404, ""),
    }));
    let input = sealed("db", &cert_a(), "yaml");
    let r = run(api.kubeseal().arg("--validate"), input.clone());
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (0, "", ""));
    let requests = api.requests();
    assert_eq!(
        api.lines(),
        [SERVICE.to_owned(), format!("POST {PROXY}/v1/verify")]
    );
    // The document goes as JSON, whatever the input format.
    assert_eq!(requests[1].header("content-type"), Some("application/json"));
    assert_eq!(requests[1].json(), parse_all(&input).remove(0));
}

#[test]
fn validate_names_the_sealed_secret_that_does_not_open() {
    for (body, expected) in [
        (
            "no key could decrypt secret (password, user)\n",
            "error: unable to decrypt sealed secret: prod/db (no key could decrypt secret (password, user))",
        ),
        // The upstream controller answers 409 with no body.
        ("", "error: unable to decrypt sealed secret: prod/db"),
    ] {
        let api = FakeApi::start(Script::new().on(move |endpoint, _| match endpoint {
            "/v1/verify" => Reply::text(409, body),
            _ => Reply::text(404, ""),
        }));
        let err = fails(
            api.kubeseal().arg("--validate"),
            sealed("db", &cert_a(), "json"),
        );
        assert_eq!(err, expected);
    }
}

#[test]
fn validate_reports_every_bad_document_of_a_stream() {
    let api = FakeApi::start(Script::new().on(|endpoint, request: &Recorded| {
        let name = request.json()["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_owned();
        match (endpoint, name.as_str()) {
            ("/v1/verify", "good") => Reply::text(200, ""),
            ("/v1/verify", _) => Reply::text(409, "no key could decrypt secret (password)"),
            _ => Reply::text(404, ""),
        }
    }));
    let input = [
        sealed("good", &cert_a(), "yaml"),
        sealed("bad1", &cert_a(), "yaml"),
        sealed("bad2", &cert_a(), "yaml"),
    ]
    .concat();
    let r = run(api.kubeseal().arg("--validate"), input);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr.lines().collect::<Vec<_>>(),
        [
            "error: unable to decrypt sealed secret: prod/bad1 (no key could decrypt secret (password))",
            "error: unable to decrypt sealed secret: prod/bad2 (no key could decrypt secret (password))",
        ]
    );
    assert_eq!(api.requests().len(), 4);

    // Not a SealedSecret: refused before any request.
    let api = FakeApi::start(Script::new());
    let err = fails(api.kubeseal().arg("--validate"), SECRET);
    assert!(err.contains("expected \"SealedSecret\""), "{err}");
    assert!(api.requests().is_empty());
}

#[test]
fn re_encrypt_prints_the_rotated_sealed_secret_without_server_fields() {
    let api = FakeApi::start(rotating(rotated_answers(&["db"])));
    let input = sealed("db", &cert_a(), "json");
    let out = ok(
        api.kubeseal().args(["--re-encrypt", "-o", "yaml"]),
        input.clone(),
    );
    assert!(out.starts_with("---\n"), "{out}");
    let doc = parse_all(&out).remove(0);
    no_server_fields(&doc);
    opens_with(&out, &key_b());
    assert_eq!(
        api.lines(),
        [SERVICE.to_owned(), format!("POST {PROXY}/v1/rotate")]
    );
    assert_eq!(api.requests()[1].json(), parse_all(&input).remove(0));

    // --rotate is the same flag; JSON by default.
    let out = ok(api.kubeseal().arg("--rotate"), input);
    assert!(out.starts_with('{'), "{out}");
    opens_with(&out, &key_b());
}

#[test]
fn re_encrypt_rewrites_the_input_file_in_place_keeping_its_format() {
    let api = FakeApi::start(rotating(rotated_answers(&["db", "other"])));
    let dir = tempfile::tempdir().unwrap();
    for (file, format) in [("db.yaml", "yaml"), ("db.json", "json")] {
        let path = dir.path().join(file);
        let original = [
            sealed("db", &cert_a(), format),
            sealed("other", &cert_a(), format),
        ]
        .concat();
        std::fs::write(&path, &original).unwrap();
        let out = ok(
            api.kubeseal()
                .args(["--re-encrypt", "-f", path.to_str().unwrap()]),
            "",
        );
        assert_eq!(out, "", "nothing on stdout when rewriting in place");
        let rewritten = std::fs::read_to_string(&path).unwrap();
        assert_ne!(rewritten, original);
        if format == "yaml" {
            assert!(rewritten.starts_with("---\n"), "{rewritten}");
        } else {
            assert!(rewritten.starts_with('{'), "{rewritten}");
        }
        let docs = parse_all(&rewritten);
        assert_eq!(docs.len(), 2);
        docs.iter().for_each(no_server_fields);
        opens_with(&rewritten, &key_b());
    }

    // -o wins over the file's own format; -w writes elsewhere and leaves -f alone.
    let path = dir.path().join("db.yaml");
    std::fs::write(&path, sealed("db", &cert_a(), "yaml")).unwrap();
    ok(
        api.kubeseal()
            .args(["--re-encrypt", "-o", "json", "-f", path.to_str().unwrap()]),
        "",
    );
    assert!(std::fs::read_to_string(&path).unwrap().starts_with('{'));
    let before = std::fs::read_to_string(&path).unwrap();
    let out_path = dir.path().join("out.yaml");
    ok(
        api.kubeseal().args([
            "--re-encrypt",
            "-f",
            path.to_str().unwrap(),
            "-w",
            out_path.to_str().unwrap(),
        ]),
        "",
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    assert!(
        std::fs::read_to_string(&out_path)
            .unwrap()
            .starts_with("---\n")
    );
}

#[test]
fn re_encrypt_writes_nothing_when_a_document_fails() {
    // "other" does not open: 409.
    let api = FakeApi::start(rotating(rotated_answers(&["db"])));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("both.yaml");
    let original = [
        sealed("db", &cert_a(), "yaml"),
        sealed("other", &cert_a(), "yaml"),
    ]
    .concat();
    std::fs::write(&path, &original).unwrap();
    let err = fails(
        api.kubeseal()
            .args(["--re-encrypt", "-f", path.to_str().unwrap()]),
        "",
    );
    assert_eq!(
        err,
        "error: unable to rotate secret: prod/other (no key could decrypt secret (password, user))"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), original);

    // Rate limited: nothing written either.
    let api = FakeApi::start(
        Script::new()
            .on(|_, _| Reply::text(429, "rate limit exceeded\n").with_header("retry-after", "3")),
    );
    let err = fails(
        api.kubeseal()
            .args(["--re-encrypt", "-f", path.to_str().unwrap()]),
        "",
    );
    assert_eq!(
        err,
        "error: cannot re-encrypt secret prod/db: rate limited by the controller (--rate-limit); retry in 3 s (the controller said: rate limit exceeded)"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), original);
    assert_eq!(dir.path().read_dir().unwrap().count(), 1, "no leftovers");
}

#[test]
fn re_encrypt_against_the_upstream_controller_explains_its_500() {
    let api = FakeApi::start(Script::new().on(|_, _| Reply::text(500, "")));
    let err = fails(
        api.kubeseal().arg("--re-encrypt"),
        sealed("db", &cert_a(), "yaml"),
    );
    assert_eq!(
        err,
        "error: unable to rotate secret: prod/db (the controller answered 500 with no details; check that the SealedSecret opens: kubeseal --validate)"
    );
}

#[test]
fn rate_limits_and_size_limits_are_one_clear_line() {
    let api = FakeApi::start(
        Script::new().on(|_, _| Reply::text(429, "").with_header("retry-after", "5")),
    );
    let err = fails(
        api.kubeseal().arg("--validate"),
        sealed("db", &cert_a(), "yaml"),
    );
    assert_eq!(
        err,
        "error: cannot validate sealed secret prod/db: rate limited by the controller (--rate-limit); retry in 5 s"
    );

    let api = FakeApi::start(
        Script::new().on(|_, _| Reply::text(413, "request body larger than 2097152 bytes\n")),
    );
    let err = fails(
        api.kubeseal().arg("--validate"),
        sealed("db", &cert_a(), "yaml"),
    );
    assert_eq!(
        err,
        "error: cannot validate sealed secret prod/db: too large for the controller (413 Payload Too Large: request body larger than 2097152 bytes); the controller limits the size of a request"
    );
}

#[test]
fn a_controller_without_ready_endpoints_is_named_with_what_to_check() {
    let api =
        FakeApi::start(Script::new().on(|_, _| Reply::no_endpoints("sealed-secrets-controller")));
    let err = fails(&mut api.kubeseal(), SECRET);
    assert_eq!(
        err,
        "error: cannot fetch certificate: the controller is not reachable (503 Service Unavailable from the API server: no endpoints available for service \"sealed-secrets-controller\"); check that it runs and has ready endpoints: kubectl -n kube-system get pods,endpoints sealed-secrets-controller"
    );
    let err = fails(
        api.kubeseal().arg("--validate"),
        sealed("db", &cert_a(), "yaml"),
    );
    assert!(
        err.starts_with(
            "error: cannot validate sealed secret prod/db: the controller is not reachable (503"
        ),
        "{err}"
    );

    // Our controller before it has a key: 503 with a text body.
    let api = FakeApi::start(Script::new().on(|_, _| Reply::text(503, "no sealing key yet\n")));
    let err = fails(api.kubeseal().arg("--fetch-cert"), "");
    assert!(
        err.starts_with("error: cannot fetch certificate: the controller is not ready (503 Service Unavailable: no sealing key yet); wait for it to start, or see its logs: kubectl -n kube-system logs service/sealed-secrets-controller"),
        "{err}"
    );
}

#[test]
fn request_timeout_is_honoured() {
    let api = FakeApi::start(Script::new().service(ServiceMode::Reply(Reply::hang())));
    let start = Instant::now();
    let err = fails(
        api.kubeseal()
            .args(["--fetch-cert", "--request-timeout", "1s"]),
        "",
    );
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(
        err,
        format!(
            "error: the Kubernetes API server at {} did not answer within 1s (--request-timeout); check that it is reachable (kubeconfig, --context, --server) or allow more time; or seal offline with --cert FILE",
            api.url
        )
    );
}

#[test]
fn an_unreachable_api_server_is_named() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        support::fake_api::kubeconfig(&format!("http://127.0.0.1:{port}")),
    )
    .unwrap();
    let err = fails(
        online_kubeseal()
            .arg("--kubeconfig")
            .arg(&config)
            .arg("--validate"),
        sealed("db", &cert_a(), "yaml"),
    );
    assert!(
        err.starts_with(&format!(
            "error: cannot reach the Kubernetes API server at http://127.0.0.1:{port}: "
        )),
        "{err}"
    );
    assert!(
        err.contains("check the kubeconfig and its context"),
        "{err}"
    );
    assert!(err.contains("--recovery-unseal"), "{err}");
}

#[test]
fn client_flags_override_the_kubeconfig() {
    let api = FakeApi::start(serving_cert_a());
    // A kubeconfig whose server is dead: --server sends the requests to the fake.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(&config, support::fake_api::kubeconfig("http://127.0.0.1:9")).unwrap();
    ok(
        online_kubeseal().arg("--kubeconfig").arg(&config).args([
            "--fetch-cert",
            "--server",
            &api.url,
            "--token",
            "other-token",
            "--as",
            "alice",
            "--as-group",
            "team-a",
            "--as-group",
            "team-b",
        ]),
        "",
    );
    let requests = api.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.header("authorization"), Some("Bearer other-token"));
        assert_eq!(request.header("impersonate-user"), Some("alice"));
        let groups: Vec<&str> = request
            .headers
            .iter()
            .filter(|(k, _)| k == "impersonate-group")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(groups, ["team-a", "team-b"]);
    }

    // --server alone, with no kubeconfig at all, is enough.
    let out = online_kubeseal()
        .args(["--fetch-cert", "--server", &api.url])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, cert_pem(&cert_a()));
    assert_eq!(api.requests().last().unwrap().header("authorization"), None);
}

#[test]
fn without_any_cluster_the_message_says_what_to_do() {
    for (args, input, hint) in [
        (
            vec![],
            SECRET.to_owned(),
            "or seal offline with --cert FILE",
        ),
        (
            vec!["--fetch-cert"],
            String::new(),
            "or seal offline with --cert FILE",
        ),
        (
            vec!["--validate"],
            sealed("db", &cert_a(), "yaml"),
            "--recovery-unseal",
        ),
        (
            vec!["--re-encrypt"],
            sealed("db", &cert_a(), "yaml"),
            "seal the original Secret again with --cert FILE",
        ),
    ] {
        let err = fails(online_kubeseal().args(&args), input);
        assert!(
            err.starts_with("error: no Kubernetes cluster configured: set KUBECONFIG or pass --kubeconfig FILE (or --server URL)"),
            "{args:?}: {err}"
        );
        assert!(err.contains(hint), "{args:?}: {err}");
    }
}
