// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! `kubeseal reencrypt PATH...` against this project's own controller HTTP API (in
//! process, fixture keys A and B, A the newest) behind a fake API server's Service and
//! service proxy, so the rotation is real: files sealed with B come back sealed with A.

mod support;

use axum::Json;
use axum::response::Response;
use axum::routing::get;
use k8s_openapi::api::core::v1::Secret;
use sealed_controller::http::limit::ClientLimiter;
use sealed_controller::http::{ApiState, Timeouts, router};
use sealed_controller::keys::{KeyOrder, KeyRegistry, KeyUsage, Source};
use sealed_controller::metrics::Metrics;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};
use support::fake_api::{kubeconfig, online_kubeseal};
use support::*;

const PROXY: &str =
    "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy";
const SERVICE: &str = "/api/v1/namespaces/kube-system/services/sealed-secrets-controller";

fn key_secret(which: &str) -> Secret {
    let text =
        std::fs::read_to_string(vector(&format!("keys/{which}.sealed-secrets-key.yaml"))).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

/// A running controller (keys A and B) behind a fake API server.
struct Cluster {
    dir: tempfile::TempDir,
    /// 429 answers sent so far.
    limited: Arc<AtomicUsize>,
}

impl Cluster {
    /// `rate` requests per second (0: no limit) with no burst.
    fn start(rate: u32) -> Cluster {
        let registry = KeyRegistry::new(KeyOrder::CertNotBefore);
        registry.replace(Source::Labelled, &[key_secret("A"), key_secret("B")]);
        registry.replace(Source::Legacy, &[]);
        let state = ApiState {
            metrics: Arc::new(Metrics::new(
                Arc::clone(&registry),
                Arc::new(KeyUsage::default()),
                false,
            )),
            registry,
            limiter: Arc::new(ClientLimiter::new(rate, 0, Vec::new())),
            cpu: Arc::new(tokio::sync::Semaphore::new(2)),
            max_rsa_decryptions: sealed_common::crypto::MAX_RSA_DECRYPTIONS,
            accept_v1_data: true,
            read_timeout: Duration::from_secs(5),
        };
        let limited = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&limited);
        let controller = router(
            state,
            Timeouts {
                read: Duration::from_secs(5),
                write: Duration::from_secs(30),
            },
        )
        .layer(axum::middleware::map_response(move |r: Response| {
            let counter = Arc::clone(&counter);
            async move {
                if r.status() == 429 {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                r
            }
        }));
        let service = json!({
            "kind": "Service", "apiVersion": "v1",
            "metadata": {"name": "sealed-secrets-controller", "namespace": "kube-system"},
            "spec": {"ports": [{"name": "http", "port": 8080, "targetPort": 8080}]}
        });
        let app = axum::Router::new()
            .route(SERVICE, get(move || async move { Json(service) }))
            .nest_service(PROXY, controller);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    axum::serve(listener, app).await.unwrap();
                });
        });
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config"), kubeconfig(&url)).unwrap();
        Cluster { dir, limited }
    }

    /// `kubeseal reencrypt --no-progress` with the connection flags after the subcommand.
    fn reencrypt(&self, extra: &[&str], paths: &[&Path]) -> Run {
        let mut cmd = online_kubeseal();
        cmd.args(["reencrypt", "--no-progress"])
            .args(extra)
            .arg("--kubeconfig")
            .arg(self.dir.path().join("config"))
            .args(paths);
        run(&mut cmd, "")
    }
}

/// `kubeseal --cert` (offline) of a Secret in `namespace`, YAML or JSON.
fn seal(cert: &str, name: &str, namespace: &str, format: &str) -> String {
    let secret = SECRET
        .replace("name: db", &format!("name: {name}"))
        .replace("namespace: prod", &format!("namespace: {namespace}"));
    ok(kubeseal().args(["--cert", cert, "-o", format]), secret)
}

fn write(root: &Path, rel: &str, text: &str) -> PathBuf {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// Sets a file's modification time an hour back, to see whether it is written.
fn age(path: &Path) -> SystemTime {
    let past = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(past)
        .unwrap();
    std::fs::metadata(path).unwrap().modified().unwrap()
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

/// The SealedSecrets of a file (YAML, JSON or a List), as JSON text for kubeseal.
fn sealed_secrets_of(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for doc in parse_all(text) {
        if doc["kind"] == "SealedSecret" {
            out.push(doc);
        } else if let Some(items) = doc["items"].as_array() {
            out.extend(
                items
                    .iter()
                    .filter(|i| i["kind"] == "SealedSecret")
                    .cloned(),
            );
        }
    }
    out
}

fn as_json_stream(docs: &[Value]) -> String {
    docs.iter().map(|d| format!("{d}\n")).collect()
}

/// Every ciphertext of `before` that differs in `after`, old to new, in order.
fn ciphertext_changes(before: &str, after: &str) -> Vec<(String, String)> {
    let (old, new) = (sealed_secrets_of(before), sealed_secrets_of(after));
    assert_eq!(old.len(), new.len());
    let mut out = Vec::new();
    for (o, n) in old.iter().zip(&new) {
        let (o, n) = (&o["spec"]["encryptedData"], &n["spec"]["encryptedData"]);
        assert_eq!(
            o.as_object().unwrap().keys().collect::<Vec<_>>(),
            n.as_object().unwrap().keys().collect::<Vec<_>>()
        );
        for (k, v) in o.as_object().unwrap() {
            if v != &n[k] {
                out.push((
                    v.as_str().unwrap().to_owned(),
                    n[k].as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    out
}

/// Checks that `after` is `before` with only ciphertexts replaced, that it opens with
/// key A alone, and no longer with key B alone.
fn only_ciphertexts_changed_and_open_with_a(before: &str, after: &str) {
    let changes = ciphertext_changes(before, after);
    assert!(!changes.is_empty(), "nothing re-encrypted");
    let mut expected = before.to_owned();
    for (old, new) in &changes {
        expected = expected.replace(old, new);
    }
    assert_eq!(after, expected, "more than the ciphertexts changed");
    let docs = as_json_stream(&sealed_secrets_of(after));
    let secrets = unseal_with(&docs, &[key_a()]);
    for secret in &secrets {
        assert_eq!(items(secret)["password"], b"s3cr3t-value-42");
        assert_eq!(items(secret)["user"], b"admin-user-77");
    }
    let r = run(&mut recovery(&key_b()), docs);
    assert_eq!(r.code, 1, "still opens with the old key B alone");
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn a_tree_is_re_encrypted_in_place() {
    let cluster = Cluster::start(0);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();

    let with_b = seal(&cert_b(), "db", "prod", "yaml");
    let mixed = format!(
        "# Database settings and credentials.\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db-config # not a secret\n  namespace: prod\ndata:\n  port: \"5432\"\n  on: no\n\n# the credentials, sealed\n{}# trailing comment\n",
        with_b.replace("spec:\n", "spec: # sealed with B\n")
    );
    let mixed_path = write(root, "apps/prod/db.yaml", &mixed);
    let current = seal(&cert_a(), "web", "prod", "yaml");
    let current_path = write(root, "apps/prod/web.yaml", &current);
    let current_time = age(&current_path);
    let broken_text =
        seal(&cert_b(), "db", "prod", "yaml").replace("namespace: prod", "namespace: staging");
    let broken_path = write(root, "apps/staging/db.yaml", &broken_text);
    let json_text = seal(&cert_b(), "api", "prod", "json");
    let json_path = write(root, "apps/api.json", &json_text);
    let list = json!({
        "apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
        "items": [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "prod"}},
            serde_json::from_str::<Value>(&seal(&cert_b(), "listed", "prod", "json")).unwrap(),
        ]
    });
    let list_text = serde_json::to_string_pretty(&list).unwrap() + "\n";
    let list_path = write(root, "apps/list.json", &list_text);
    let templated_text =
        std::fs::read_to_string(vector("rotation/sealed-with-B/sealed.yaml")).unwrap();
    let templated_path = write(root, "apps/templated.yml", &templated_text);
    let plain = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n";
    write(root, "apps/notes/plain.yaml", plain);
    let bad_path = write(
        root,
        "apps/bad.yaml",
        "kind: SealedSecret\n  spec: [unclosed\n",
    );
    write(root, "apps/other-bad.yaml", "key: [unclosed\n");
    write(root, "apps/README.md", "kind: SealedSecret\n");
    let hidden_path = write(root, ".git/sealed.yaml", &with_b);

    let r = cluster.reencrypt(&[], &[root]);
    let p = |path: &Path| path.display().to_string();
    assert_eq!(
        lines(&r.stdout),
        [
            format!(
                "updated {} (1 of 1 SealedSecrets re-encrypted)",
                p(&json_path)
            ),
            format!(
                "skipped {}: not valid YAML or JSON: invalid YAML: {}",
                p(&bad_path),
                r.stdout
                    .split("invalid YAML: ")
                    .nth(1)
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or_default()
            ),
            format!(
                "updated {} (1 of 1 SealedSecrets re-encrypted)",
                p(&list_path)
            ),
            format!(
                "updated {} (1 of 1 SealedSecrets re-encrypted)",
                p(&mixed_path)
            ),
            format!("unchanged {}", p(&current_path)),
            format!(
                "failed {}: unable to rotate secret: staging/db ({}",
                p(&broken_path),
                r.stdout
                    .split("unable to rotate secret: staging/db (")
                    .nth(1)
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or_default()
            ),
            format!(
                "updated {} (1 of 1 SealedSecrets re-encrypted)",
                p(&templated_path)
            ),
            "done: 4 updated, 1 unchanged, 1 failed, 3 skipped".to_owned(),
        ],
        "stdout: {}\nstderr: {}",
        r.stdout,
        r.stderr
    );
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "error: 1 of 6 files failed; see the failed lines\n"
    );

    // Comments, layout and the ConfigMap kept; only ciphertexts changed, now A's.
    only_ciphertexts_changed_and_open_with_a(
        &mixed,
        &std::fs::read_to_string(&mixed_path).unwrap(),
    );
    only_ciphertexts_changed_and_open_with_a(
        &json_text,
        &std::fs::read_to_string(&json_path).unwrap(),
    );
    only_ciphertexts_changed_and_open_with_a(
        &list_text,
        &std::fs::read_to_string(&list_path).unwrap(),
    );
    let templated_after = std::fs::read_to_string(&templated_path).unwrap();
    assert_eq!(
        ciphertext_changes(&templated_text, &templated_after).len(),
        1
    );
    let mut expected = templated_text.clone();
    for (old, new) in ciphertext_changes(&templated_text, &templated_after) {
        expected = expected.replace(&old, &new);
    }
    assert_eq!(templated_after, expected, "template kept as it was");
    unseal_with(&templated_after, &[key_a()]);

    // Already on the newest key: not written at all. Failed, skipped and hidden: untouched.
    assert_eq!(std::fs::read_to_string(&current_path).unwrap(), current);
    assert_eq!(modified(&current_path), current_time);
    assert_eq!(std::fs::read_to_string(&broken_path).unwrap(), broken_text);
    assert_eq!(
        std::fs::read_to_string(root.join("apps/notes/plain.yaml")).unwrap(),
        plain
    );
    assert_eq!(std::fs::read_to_string(&hidden_path).unwrap(), with_b);
    let leftovers: Vec<_> = walkdir(root)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".kubeseal-")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Once more: everything is current now.
    let again = cluster.reencrypt(&[], &[&root.join("apps/prod"), &json_path, &mixed_path]);
    assert_eq!(
        lines(&again.stdout),
        [
            format!("unchanged {}", p(&mixed_path)),
            format!("unchanged {}", p(&current_path)),
            format!("unchanged {}", p(&json_path)),
            "done: 0 updated, 3 unchanged, 0 failed, 0 skipped".to_owned(),
        ]
    );
    assert_eq!((again.code, again.stderr.as_str()), (0, ""));
}

fn walkdir(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walkdir(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn dry_run_writes_nothing() {
    let cluster = Cluster::start(0);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let yaml = write(root, "a/db.yaml", &seal(&cert_b(), "db", "prod", "yaml"));
    let json = write(root, "b/api.json", &seal(&cert_b(), "api", "prod", "json"));
    let before: Vec<(PathBuf, Vec<u8>, SystemTime)> = [&yaml, &json]
        .iter()
        .map(|p| ((*p).clone(), std::fs::read(p).unwrap(), age(p)))
        .collect();

    let r = cluster.reencrypt(&["--dry-run"], &[root]);
    assert_eq!(
        lines(&r.stdout),
        [
            format!(
                "would update {} (1 of 1 SealedSecrets re-encrypted)",
                yaml.display()
            ),
            format!(
                "would update {} (1 of 1 SealedSecrets re-encrypted)",
                json.display()
            ),
            "dry run: 2 would be updated, 0 unchanged, 0 failed, 0 skipped; nothing written"
                .to_owned(),
        ]
    );
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    for (path, bytes, time) in before {
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        assert_eq!(modified(&path), time);
    }
}

#[test]
fn rate_limited_requests_wait_and_retry() {
    // One request per second, no burst: every file after the first meets a 429 first.
    let cluster = Cluster::start(1);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let names = ["one", "two", "three"];
    let originals: Vec<(PathBuf, String)> = names
        .iter()
        .map(|n| {
            let text = seal(&cert_b(), n, "prod", "yaml");
            (write(root, &format!("{n}.yaml"), &text), text)
        })
        .collect();

    let r = cluster.reencrypt(&[], &[root]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{}", r.stdout);
    assert!(
        r.stdout
            .ends_with("done: 3 updated, 0 unchanged, 0 failed, 0 skipped\n"),
        "{}",
        r.stdout
    );
    assert!(
        cluster.limited.load(Ordering::SeqCst) >= 1,
        "the controller never rate limited"
    );
    for (path, text) in originals {
        only_ciphertexts_changed_and_open_with_a(&text, &std::fs::read_to_string(path).unwrap());
    }
}

#[test]
fn files_named_and_flags_before_the_subcommand() {
    let cluster = Cluster::start(0);
    let dir = tempfile::tempdir().unwrap();
    let text = seal(&cert_b(), "db", "prod", "yaml");
    // Any extension when named on the command line.
    let file = write(dir.path(), "db.sealed", &text);
    let missing = dir.path().join("missing.yaml");
    let mut cmd = online_kubeseal();
    cmd.arg("--kubeconfig")
        .arg(cluster.dir.path().join("config"))
        .args(["reencrypt", "--no-progress"])
        .arg(&file)
        .arg(&missing);
    let r = run(&mut cmd, "");
    let out = lines(&r.stdout);
    assert_eq!(
        out[0],
        format!(
            "updated {} (1 of 1 SealedSecrets re-encrypted)",
            file.display()
        )
    );
    assert!(
        out[1].starts_with(&format!("failed {}: cannot read: ", missing.display())),
        "{}",
        out[1]
    );
    assert_eq!(out[2], "done: 1 updated, 0 unchanged, 1 failed, 0 skipped");
    assert_eq!(r.code, 1);
    only_ciphertexts_changed_and_open_with_a(&text, &std::fs::read_to_string(&file).unwrap());
}

#[test]
fn no_sealed_secrets_needs_no_cluster() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    );
    let r = run(
        online_kubeseal()
            .args(["reencrypt", "--no-progress"])
            .arg(dir.path()),
        "",
    );
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (0, "done: 0 updated, 0 unchanged, 0 failed, 1 skipped\n", "")
    );

    // With SealedSecrets and no cluster: one error line, nothing written.
    let text = seal(&cert_b(), "db", "prod", "yaml");
    let file = write(dir.path(), "db.yaml", &text);
    let r = run(
        online_kubeseal()
            .args(["reencrypt", "--no-progress"])
            .arg(dir.path()),
        "",
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .starts_with("error: no Kubernetes cluster configured"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read_to_string(file).unwrap(), text);
}

#[test]
fn usage_without_a_path() {
    let r = run(kubeseal().arg("reencrypt"), "");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("error: the following required arguments were not provided"),
        "{}",
        r.stderr
    );
}
