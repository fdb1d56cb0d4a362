// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! `kubeseal keys ...` against the fake API server: the key inventory, KEY matching,
//! dependents, the retire dry run and the retire itself, backup and restore.

mod support;

use base64::Engine;
use serde_json::{Value, json};
use std::time::{Duration, UNIX_EPOCH};
use support::fake_api::{
    FakeApi, Recorded, Reply, Script, Store, online_kubeseal, without_proxies,
};
use support::*;

const LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";
const SEALED_LIST: &str = "GET /apis/bitnami.com/v1alpha1/sealedsecrets";
const SERVICE: &str = "GET /api/v1/namespaces/kube-system/services/sealed-secrets-controller";

fn fingerprint(which: &str) -> String {
    std::fs::read_to_string(vector(&format!("keys/{which}.fingerprint")))
        .unwrap()
        .trim()
        .to_owned()
}

/// The fixture key Secret `which` as the API server returns it (server fields added).
fn key_secret(which: &str) -> Value {
    let mut secret = parse_all(
        &std::fs::read_to_string(vector(&format!("keys/{which}.sealed-secrets-key.yaml"))).unwrap(),
    )
    .remove(0);
    let meta = secret["metadata"].as_object_mut().unwrap();
    meta.insert("uid".into(), json!(format!("uid-{which}")));
    meta.insert("resourceVersion".into(), json!("100"));
    meta.insert("creationTimestamp".into(), json!("2026-11-22T04:44:40Z"));
    meta.insert(
        "managedFields".into(),
        json!([{"manager": "controller", "operation": "Update"}]),
    );
    meta.insert(
        "ownerReferences".into(),
        json!([{"apiVersion": "v1", "kind": "Namespace", "name": "kube-system", "uid": "ns"}]),
    );
    secret
}

fn renamed(mut secret: Value, name: &str) -> Value {
    secret["metadata"]["name"] = json!(name);
    secret
}

/// A SealedSecret with `status` (generation 1).
fn sealed(ns: &str, name: &str, generation: i64, status: Value) -> Value {
    json!({
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"namespace": ns, "name": name, "generation": generation, "uid": format!("u-{name}")},
        "spec": {"encryptedData": {"k": "AgB..."}},
        "status": status,
    })
}

fn opened_by(fp: &str) -> Value {
    json!({"observedGeneration": 1, "keyFingerprint": fp,
           "conditions": [{"type": "Synced", "status": "True"}]})
}

/// Two on A, one on B, one whose CRD dropped the fingerprint, one stale, one that does
/// not open, and one on a key the controller no longer has.
fn cluster_sealed_secrets(store: Store) -> Store {
    store
        .with_sealed_secret(sealed("prod", "db", 1, opened_by(&fingerprint("A"))))
        .with_sealed_secret(sealed("dev", "api", 1, opened_by(&fingerprint("A"))))
        .with_sealed_secret(sealed("prod", "web", 1, opened_by(&fingerprint("B"))))
        .with_sealed_secret(sealed(
            "prod",
            "upstream-crd",
            1,
            json!({"observedGeneration": 1, "conditions": [{"type": "Synced", "status": "True"}]}),
        ))
        .with_sealed_secret(sealed("prod", "edited", 2, opened_by(&fingerprint("A"))))
        .with_sealed_secret(sealed(
            "prod",
            "broken",
            1,
            json!({"observedGeneration": 1, "keyFingerprint": fingerprint("A"),
                   "conditions": [{"type": "Synced", "status": "False", "message": "no key could decrypt secret (k)"}]}),
        ))
        .with_sealed_secret(sealed("prod", "gone-key", 1, opened_by("SHA256:retiredkeyxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")))
}

fn served_key(which: &str, name: &str, active: bool) -> Value {
    json!({
        "fingerprint": fingerprint(which), "secretName": name,
        "created": "2026-11-22T04:44:36Z", "expires": "2036-11-19T04:44:36Z",
        "active": active, "heldBackUntil": null,
        "certificate": std::fs::read_to_string(vector(&format!("keys/{which}.tls.crt"))).unwrap(),
    })
}

/// Our controller: B (newest, active) and A.
fn our_controller(store: &Store) -> Script {
    served(
        json!({"keys": [served_key("B", "sealed-secrets-keybxxxx", true), served_key("A", "sealed-secrets-keyaxxxx", false)]}),
        store,
    )
}

fn served(keys: Value, store: &Store) -> Script {
    Script::new()
        .on(move |endpoint, _| match endpoint {
            "/v1/keys" => Reply::json(200, &keys),
            _ => Reply::text(404, "404 page not found\n"),
        })
        .api(store.handler())
}

/// kubeseal with the connection flags after the verb.
fn keys(api: &FakeApi, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = online_kubeseal();
    cmd.arg("keys")
        .args(args)
        .arg("--kubeconfig")
        .arg(api.kubeconfig());
    cmd
}

fn rows(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

#[test]
fn list_counts_what_each_key_opens_and_what_cannot_be_attributed() {
    let store = cluster_sealed_secrets(Store::new());
    let api = FakeApi::start(our_controller(&store));
    let out = ok(&mut keys(&api, &["list"]), "");
    let table = rows(&out);
    assert_eq!(
        table[0],
        [
            "FINGERPRINT",
            "SECRET",
            "CREATED",
            "EXPIRES",
            "ACTIVE",
            "SEALEDSECRETS"
        ]
    );
    assert_eq!(
        table[1],
        [
            fingerprint("B").as_str(),
            "sealed-secrets-keybxxxx",
            "2026-11-22T04:44:36Z",
            "2036-11-19T04:44:36Z",
            "yes",
            "1"
        ]
    );
    assert_eq!(table[2][0], fingerprint("A"));
    assert_eq!(table[2][4..], ["no", "2"]);
    assert!(
        out.contains("Not attributed to a key: 3 SealedSecrets (1 without status.keyFingerprint, 2 not current or not Synced)"),
        "{out}"
    );
    assert!(
        out.contains("Opened by a key not listed here: 1 SealedSecret "),
        "{out}"
    );
    let proxy = "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy";
    let requests = api.requests();
    let lines = api.lines();
    assert_eq!(
        lines,
        [
            SERVICE.to_owned(),
            format!("GET {proxy}/v1/keys"),
            SEALED_LIST.to_owned()
        ]
    );
    assert_eq!(requests[2].query, "limit=500");

    // JSON and YAML say the same.
    let doc: Value =
        serde_json::from_str(&ok(&mut keys(&api, &["list", "-o", "json"]), "")).unwrap();
    assert_eq!(doc["source"], "controller");
    assert_eq!(doc["keys"][0]["fingerprint"], fingerprint("B"));
    assert_eq!(doc["keys"][0]["active"], true);
    assert_eq!(doc["keys"][0]["sealedSecrets"], 1);
    assert_eq!(doc["keys"][1]["sealedSecrets"], 2);
    assert_eq!(doc["unattributed"], 3);
    assert_eq!(doc["openedByOtherKeys"], 1);
    let yaml = parse_all(&ok(&mut keys(&api, &["list", "-o", "yaml"]), "")).remove(0);
    assert_eq!(yaml, doc);
}

#[test]
fn held_back_keys_are_shown_so() {
    let store = Store::new();
    let mut newest = served_key("B", "sealed-secrets-keybxxxx", false);
    newest["heldBackUntil"] = json!("2026-11-24T10:00:00Z");
    let api = FakeApi::start(served(
        json!({"keys": [newest, served_key("A", "sealed-secrets-keyaxxxx", true)]}),
        &store,
    ));
    let out = ok(&mut keys(&api, &["list"]), "");
    let table = rows(&out);
    assert_eq!(table[1][4], "held back until 2026-11-24T10:00:00Z");
    assert_eq!(table[2][4], "yes");
    assert!(
        out.contains("Not attributed to a key: 0 SealedSecrets"),
        "{out}"
    );
}

#[test]
fn connection_flags_work_before_keys_and_after_the_verb() {
    let store = Store::new();
    let keys_json = json!({"keys": [served_key("A", "sealed-secrets-keyaxxxx", true)]});
    let api = FakeApi::start(
        Script::new()
            .controller_at("security", "sealer")
            .on(move |endpoint, _| match endpoint {
                "/v1/keys" => Reply::json(200, &keys_json),
                _ => Reply::text(404, ""),
            })
            .api(store.handler()),
    );
    ok(
        &mut keys(
            &api,
            &[
                "list",
                "--controller-namespace",
                "security",
                "--controller-name",
                "sealer",
            ],
        ),
        "",
    );
    assert_eq!(
        api.lines()[..2],
        [
            "GET /api/v1/namespaces/security/services/sealer",
            "GET /api/v1/namespaces/security/services/http:sealer:http/proxy/v1/keys",
        ]
    );
    // Before `keys`, as for every other mode.
    ok(
        api.kubeseal().args([
            "--controller-namespace",
            "security",
            "--controller-name",
            "sealer",
            "keys",
            "list",
        ]),
        "",
    );
    assert_eq!(
        api.lines()[3],
        "GET /api/v1/namespaces/security/services/sealer"
    );
}

#[test]
fn list_without_rights_on_sealed_secrets_still_lists_the_keys() {
    let store = cluster_sealed_secrets(Store::new()).fail(
        SEALED_LIST,
        Reply::status(
            403,
            "Forbidden",
            "sealedsecrets.bitnami.com is forbidden: User \"bob\" cannot list resource \"sealedsecrets\" in API group \"bitnami.com\" at the cluster scope",
        ),
    );
    let api = FakeApi::start(our_controller(&store));
    let r = run(&mut keys(&api, &["list"]), "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let table = rows(&r.stdout);
    assert_eq!(table[1][5], "?");
    assert_eq!(table[2][5], "?");
    assert!(
        r.stdout.contains("Not attributed to a key: ?"),
        "{}",
        r.stdout
    );
    let warnings: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(warnings.len(), 1, "{}", r.stderr);
    assert!(
        warnings[0].starts_with(
            "warning: not allowed to list SealedSecrets in all namespaces (403 Forbidden: "
        ),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].contains("\"list\" on sealedsecrets.bitnami.com in all namespaces"),
        "{}",
        warnings[0]
    );

    let doc: Value =
        serde_json::from_str(&ok(&mut keys(&api, &["list", "-o", "json"]), "")).unwrap();
    assert_eq!(doc["keys"][0]["sealedSecrets"], Value::Null);
    assert_eq!(doc["unattributed"], Value::Null);

    // dependents and retire cannot answer without them.
    let err = fails(
        &mut keys(&api, &["dependents", "sealed-secrets-keyaxxxx"]),
        "",
    );
    assert!(
        err.starts_with(&format!(
            "error: cannot tell which SealedSecrets depend on {}: not allowed",
            fingerprint("A")
        )),
        "{err}"
    );
}

/// A's key with a certificate that starts in 2027, so newer than B's.
fn key_secret_a_renewed() -> Value {
    let pem = std::fs::read(key_a()).unwrap();
    let key = sealed_common::keys::parse_private_key_pem(&pem).unwrap();
    let spec = sealed_common::keys::CertificateSpec {
        common_name: String::new(),
        not_before: UNIX_EPOCH + Duration::from_secs(1_798_761_600), // 2027-01-01
        validity: Duration::from_secs(3600 * 24 * 365),
    };
    let cert = sealed_common::keys::self_signed_certificate(&key, &spec).unwrap();
    let mut secret = key_secret("A");
    secret["data"]["tls.crt"] =
        json!(base64::engine::general_purpose::STANDARD.encode(cert.to_pem()));
    secret["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
    secret
}

#[test]
fn an_upstream_controller_is_listed_from_its_key_secrets() {
    let mut retired = renamed(key_secret("B"), "sealed-secrets-keyretir");
    retired["metadata"]["labels"][LABEL] = json!("compromised");
    let mut broken = renamed(key_secret("B"), "sealed-secrets-keybroke");
    broken["data"]["tls.key"] = json!("bm90IGEga2V5");
    let mut unrelated = renamed(key_secret("B"), "unrelated");
    unrelated["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("labels");
    let store = cluster_sealed_secrets(Store::new())
        .with_secret(key_secret_a_renewed())
        .with_secret(key_secret("B"))
        .with_secret(retired)
        .with_secret(broken)
        .with_secret(unrelated);
    // No /v1/keys: upstream's 404.
    let api = FakeApi::start(Script::new().api(store.handler()));
    let r = run(&mut keys(&api, &["list"]), "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let table = rows(&r.stdout);
    assert_eq!(table.len(), 1 + 3 + 2, "{}", r.stdout);
    assert_eq!(
        table[1][..2],
        [fingerprint("A").as_str(), "sealed-secrets-keyaxxxx"]
    );
    assert_eq!(
        table[1][2..5],
        ["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z", "yes"]
    );
    assert_eq!(table[1][5], "2");
    let b_rows: Vec<&Vec<String>> = table.iter().filter(|r| r[0] == fingerprint("B")).collect();
    assert_eq!(b_rows.len(), 2);
    assert!(
        b_rows.iter().all(|r| r[4] == "no" && r[5] == "1"),
        "{b_rows:?}"
    );
    assert!(r.stdout.contains("sealed-secrets-keyretir"), "{}", r.stdout);
    assert!(!r.stdout.contains("unrelated"), "{}", r.stdout);
    assert!(r.stderr.contains("does not serve /v1/keys (an upstream controller?); reading the key Secrets in namespace \"kube-system\""), "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "warning: skipped: key Secret kube-system/sealed-secrets-keybroke, item \"tls.key\""
        ),
        "{}",
        r.stderr
    );
    let list = api
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/v1/namespaces/kube-system/secrets")
        .unwrap();
    assert_eq!(
        list.query,
        "labelSelector=sealedsecrets.bitnami.com%2Fsealed-secrets-key"
    );
    assert!(
        api.lines()
            .contains(&"GET /api/v1/namespaces/kube-system/secrets/sealed-secrets-key".to_owned())
    );

    // The relabelled key is already retired.
    let out = ok(&mut keys(&api, &["retire", "sealed-secrets-keyretir"]), "");
    assert!(out.contains("already retired"), "{out}");
    assert!(!api.lines().iter().any(|l| l.starts_with("PATCH")));
}

/// Keys whose fingerprints share prefixes.
fn lookalikes() -> Value {
    let key = |fp: &str, name: &str| json!({"fingerprint": fp, "secretName": name, "created": null, "expires": null, "active": false, "heldBackUntil": null, "certificate": null});
    json!({"keys": [
        key("SHA256:abcdefgh1111111111111111111111111111111111", "sealed-secrets-key11111"),
        key("SHA256:abcdefgh2222222222222222222222222222222222", "sealed-secrets-key22222"),
        key("SHA256:zzzzzzzz3333333333333333333333333333333333", "sealed-secrets-key33333"),
    ]})
}

#[test]
fn key_arguments_match_fingerprints_prefixes_and_secret_names() {
    let store = cluster_sealed_secrets(Store::new());
    let api = FakeApi::start(our_controller(&store));
    let a = fingerprint("A");
    let bare = a.trim_start_matches("SHA256:").to_owned();
    for given in [
        a.clone(),
        bare.clone(),
        bare[..8].to_owned(),
        format!("SHA256:{}", &bare[..10]),
        "sealed-secrets-keyaxxxx".to_owned(),
    ] {
        let doc: Value = serde_json::from_str(&ok(
            &mut keys(&api, &["dependents", &given, "-o", "json"]),
            "",
        ))
        .unwrap();
        assert_eq!(doc["key"]["fingerprint"], a, "{given}");
    }

    let api = FakeApi::start(served(lookalikes(), &store));
    let err = fails(&mut keys(&api, &["dependents", "abcdefgh"]), "");
    assert_eq!(
        err,
        "error: KEY \"abcdefgh\" matches 2 keys, give more of the fingerprint: SHA256:abcdefgh1111111111111111111111111111111111 (Secret sealed-secrets-key11111), SHA256:abcdefgh2222222222222222222222222222222222 (Secret sealed-secrets-key22222)"
    );
    let out = ok(&mut keys(&api, &["dependents", "SHA256:abcdefgh2"]), "");
    assert!(out.starts_with("Opened by SHA256:abcdefgh2222"), "{out}");
    let err = fails(&mut keys(&api, &["retire", "--dry-run", "nomatch12"]), "");
    assert!(
        err.starts_with(
            "error: no key matches KEY \"nomatch12\"; the keys are: SHA256:abcdefgh1111"
        ),
        "{err}"
    );
    assert!(err.contains("sealed-secrets-key33333"), "{err}");
    let err = fails(&mut keys(&api, &["dependents", "abc"]), "");
    assert!(err.contains("at least 8 characters"), "{err}");
}

#[test]
fn dependents_lists_the_sealed_secrets_a_key_opens_and_the_unknown_ones() {
    let store = cluster_sealed_secrets(Store::new());
    let api = FakeApi::start(our_controller(&store));
    let out = ok(
        &mut keys(&api, &["dependents", "sealed-secrets-keyaxxxx"]),
        "",
    );
    assert_eq!(
        out,
        format!(
            "Opened by {} (Secret sealed-secrets-keyaxxxx): 2\n  dev/api\n  prod/db\nNot attributed to any key: 3\n  prod/broken: not Synced (no key could decrypt secret (k))\n  prod/edited: status not current (observedGeneration 1, generation 2)\n  prod/upstream-crd: no status.keyFingerprint (a CRD without the field, such as upstream's, drops it)\n",
            fingerprint("A")
        )
    );
    let doc = parse_all(&ok(
        &mut keys(
            &api,
            &["dependents", "sealed-secrets-keybxxxx", "-o", "yaml"],
        ),
        "",
    ))
    .remove(0);
    assert_eq!(
        doc["dependents"],
        json!([{"namespace": "prod", "name": "web"}])
    );
    assert_eq!(doc["unattributed"].as_array().unwrap().len(), 3);
    assert_eq!(doc["key"]["active"], true);
}

#[test]
fn retire_dry_run_exits_0_only_when_nothing_depends_on_the_key() {
    // A: two dependents, unknown ones too.
    let store = cluster_sealed_secrets(Store::new());
    let api = FakeApi::start(our_controller(&store));
    let r = run(
        &mut keys(&api, &["retire", "sealed-secrets-keyaxxxx", "--dry-run"]),
        "",
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.contains("Active (sealing) key: no\nWould no longer open: 2 SealedSecrets\n  dev/api\n  prod/db\nUnknown (not attributed to any key): 3\n"), "{}", r.stdout);
    assert!(r.stdout.ends_with("Safe to retire: no\n"), "{}", r.stdout);
    assert_eq!(
        r.stderr,
        format!(
            "error: not safe to retire {}: 2 SealedSecrets depend on it (re-encrypt them: kubeseal --re-encrypt); 3 SealedSecrets cannot be attributed to a key, so they may need it\n",
            fingerprint("A")
        )
    );

    // Nothing on A, nothing unknown: safe.
    let clean = Store::new()
        .with_sealed_secret(sealed("prod", "web", 1, opened_by(&fingerprint("B"))))
        .with_secret(key_secret("A"))
        .with_secret(key_secret("B"));
    let api = FakeApi::start(our_controller(&clean));
    let r = run(
        &mut keys(&api, &["retire", &fingerprint("A"), "--dry-run"]),
        "",
    );
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{}", r.stdout);
    assert!(
        r.stdout.contains("Would no longer open: 0 SealedSecrets\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Safe to retire: yes"), "{}", r.stdout);

    // B seals, and one depends on it.
    let r = run(
        &mut keys(&api, &["retire", "sealed-secrets-keybxxxx", "--dry-run"]),
        "",
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("Active (sealing) key: yes"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.starts_with(&format!(
            "error: not safe to retire {}: it is the active (sealing) key",
            fingerprint("B")
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("1 SealedSecret depends on it"),
        "{}",
        r.stderr
    );

    // A dry run never writes.
    assert!(
        api.requests().iter().all(|r| r.method == "GET"),
        "{:?}",
        api.lines()
    );
}

#[test]
fn retire_refuses_when_something_depends_on_the_key_unless_forced() {
    let store = cluster_sealed_secrets(Store::new())
        .with_secret(key_secret("A"))
        .with_secret(key_secret("B"));
    let api = FakeApi::start(our_controller(&store));
    let err = fails(&mut keys(&api, &["retire", "sealed-secrets-keyaxxxx"]), "");
    assert!(
        err.starts_with(&format!(
            "error: refusing to retire {}: 2 SealedSecrets depend on it",
            fingerprint("A")
        )),
        "{err}"
    );
    assert!(err.ends_with("nothing changed (details: kubeseal keys retire SHA256:herC7hcDSfrTWg8z740vUXgO26eiQVqrTI5p+NtSL7c --dry-run; override with --force)"), "{err}");
    let err = fails(&mut keys(&api, &["retire", "sealed-secrets-keybxxxx"]), "");
    assert!(err.contains("it is the active (sealing) key"), "{err}");
    assert!(
        !api.lines().iter().any(|l| !l.starts_with("GET ")),
        "{:?}",
        api.lines()
    );
    assert_eq!(
        store
            .secret("kube-system", "sealed-secrets-keyaxxxx")
            .unwrap()["metadata"]["labels"][LABEL],
        "active"
    );

    let r = run(
        &mut keys(&api, &["retire", "sealed-secrets-keyaxxxx", "--force"]),
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.starts_with("warning: retiring SHA256:herC7hcD"),
        "{}",
        r.stderr
    );
    assert_eq!(
        store
            .secret("kube-system", "sealed-secrets-keyaxxxx")
            .unwrap()["metadata"]["labels"][LABEL],
        "retired"
    );
}

#[test]
fn retire_relabels_the_secret_and_says_how_to_undo_it() {
    let store = Store::new()
        .with_sealed_secret(sealed("prod", "web", 1, opened_by(&fingerprint("B"))))
        .with_secret(key_secret("A"))
        .with_secret(key_secret("B"));
    let api = FakeApi::start(our_controller(&store));
    let out = ok(&mut keys(&api, &["retire", "herC7hcDSfrT"]), "");
    let patch: Vec<Recorded> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(patch.len(), 1);
    assert_eq!(
        patch[0].path,
        "/api/v1/namespaces/kube-system/secrets/sealed-secrets-keyaxxxx"
    );
    assert_eq!(
        patch[0].header("content-type"),
        Some("application/merge-patch+json")
    );
    assert_eq!(
        patch[0].json(),
        json!({"metadata": {"labels": {LABEL: "retired"}}})
    );
    let secret = store
        .secret("kube-system", "sealed-secrets-keyaxxxx")
        .unwrap();
    assert_eq!(secret["metadata"]["labels"][LABEL], "retired");
    assert_eq!(
        secret["data"],
        key_secret("A")["data"],
        "only the label changes"
    );
    assert_eq!(
        out,
        format!(
            "Retired {}: Secret kube-system/sealed-secrets-keyaxxxx labelled {LABEL}=retired\nThe controller drops it without a restart.\nUndo:            kubectl -n kube-system label secret sealed-secrets-keyaxxxx {LABEL}=active --overwrite\nDelete for good: kubectl -n kube-system delete secret sealed-secrets-keyaxxxx   (keep a backup: kubeseal keys backup -w keys.yaml)\n",
            fingerprint("A")
        )
    );

    // Not allowed to patch: one line, naming the permission.
    let store = Store::new()
        .with_secret(key_secret("A"))
        .fail(
            "PATCH /api/v1/namespaces/kube-system/secrets/sealed-secrets-keyaxxxx",
            Reply::status(403, "Forbidden", "secrets \"sealed-secrets-keyaxxxx\" is forbidden: User \"bob\" cannot patch resource \"secrets\""),
        );
    let api = FakeApi::start(our_controller(&store));
    let err = fails(&mut keys(&api, &["retire", "sealed-secrets-keyaxxxx"]), "");
    assert!(
        err.starts_with(
            "error: cannot relabel Secret kube-system/sealed-secrets-keyaxxxx (403 Forbidden: "
        ),
        "{err}"
    );
    assert!(err.ends_with("you need permission to \"patch\" secrets in namespace \"kube-system\" (ask a cluster admin)"), "{err}");
}

#[test]
fn retiring_for_an_upstream_controller_says_it_needs_a_restart() {
    let store = Store::new()
        .with_secret(key_secret_a_renewed())
        .with_secret(key_secret("B"));
    let api = FakeApi::start(Script::new().api(store.handler()));
    let out = ok(&mut keys(&api, &["retire", "sealed-secrets-keybxxxx"]), "");
    assert!(out.contains("An upstream controller drops it at its next start: kubectl -n kube-system delete pod -l name=sealed-secrets-controller"), "{out}");
    assert_eq!(
        store
            .secret("kube-system", "sealed-secrets-keybxxxx")
            .unwrap()["metadata"]["labels"][LABEL],
        "retired"
    );
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn backup_store() -> Store {
    let legacy = {
        let mut s = renamed(key_secret("B"), "sealed-secrets-key");
        let meta = s["metadata"].as_object_mut().unwrap();
        meta.remove("labels");
        meta.remove("generateName");
        s
    };
    let mut unrelated = renamed(key_secret("A"), "app-tls");
    unrelated["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("labels");
    Store::new()
        .with_secret(key_secret("A"))
        .with_secret(legacy)
        .with_secret(unrelated)
}

#[test]
fn backup_writes_every_key_secret_stripped_with_mode_0600() {
    let store = backup_store();
    let api = FakeApi::start(Script::new().api(store.handler()));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.yaml");
    let r = run(
        &mut keys(&api, &["backup", "-w", file.to_str().unwrap()]),
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "");
    assert_eq!(mode(&file), 0o600);
    assert!(
        r.stderr
            .starts_with("Backed up 2 keys from namespace kube-system to "),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "  {}  kube-system/sealed-secrets-keyaxxxx\n",
            fingerprint("A")
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "  {}  kube-system/sealed-secrets-key\n",
            fingerprint("B")
        )),
        "{}",
        r.stderr
    );
    // The API server alone: no controller Service needed.
    assert!(
        !api.lines().iter().any(|l| l.contains("/services/")),
        "{:?}",
        api.lines()
    );

    let text = std::fs::read_to_string(&file).unwrap();
    let doc = parse_all(&text).remove(0);
    assert_eq!(
        (doc["apiVersion"].as_str(), doc["kind"].as_str()),
        (Some("v1"), Some("List"))
    );
    let items = doc["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        assert_eq!(item["kind"], "Secret");
        assert_eq!(item["apiVersion"], "v1");
        assert_eq!(item["type"], "kubernetes.io/tls");
        assert_eq!(item["metadata"]["namespace"], "kube-system");
        let meta = item["metadata"].as_object().unwrap();
        for field in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "managedFields",
            "selfLink",
            "generation",
            "ownerReferences",
        ] {
            assert!(!meta.contains_key(field), "{field} kept: {item}");
        }
    }
    assert_eq!(items[0]["metadata"]["labels"][LABEL], "active");
    assert_eq!(items[0]["data"], key_secret("A")["data"]);
    assert_eq!(items[1]["metadata"]["name"], "sealed-secrets-key");
    assert_eq!(items[1]["data"], key_secret("B")["data"]);

    // kubeseal --recovery-unseal reads it: B (the legacy Secret) opens the B vector.
    let out = ok(
        recovery(file.to_str().unwrap()).args(["-o", "yaml"]),
        std::fs::read(vector("rotation/sealed-with-B/sealed.yaml")).unwrap(),
    );
    assert_eq!(
        out,
        std::fs::read_to_string(vector("rotation/sealed-with-B/expected-secret.yaml")).unwrap()
    );

    // An existing, wider file ends up 0600 too; stdout works when it is not a terminal.
    std::fs::write(&file, "old").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    ok(
        &mut keys(&api, &["backup", "--file", file.to_str().unwrap()]),
        "",
    );
    assert_eq!(mode(&file), 0o600);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    let out = ok(&mut keys(&api, &["backup"]), "");
    assert_eq!(out, text);
    assert_eq!(dir.path().read_dir().unwrap().count(), 1, "no leftovers");
}

#[test]
fn backup_is_0600_under_a_permissive_umask_and_keeps_a_stricter_mode() {
    let store = backup_store();
    let api = FakeApi::start(Script::new().api(store.handler()));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.yaml");
    let backup = || {
        let mut cmd = without_proxies(kubeseal_with_umask("000"));
        cmd.args(["keys", "backup", "-w"])
            .arg(&file)
            .arg("--kubeconfig")
            .arg(api.kubeconfig());
        cmd
    };
    ok(&mut backup(), "");
    assert_eq!(mode(&file), 0o600);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("tls.key"), "{text}");

    // A read-only backup stays read-only; a wider one is narrowed.
    for (before, after) in [(0o400, 0o400), (0o660, 0o600)] {
        std::fs::write(&file, "old").unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(before)).unwrap();
        }
        ok(&mut backup(), "");
        assert_eq!(mode(&file), after, "existing mode {before:o}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    }
    assert_eq!(dir.path().read_dir().unwrap().count(), 1, "no leftovers");
}

#[test]
fn backup_writes_nothing_when_a_key_does_not_parse() {
    let mut broken = renamed(key_secret("B"), "sealed-secrets-keybroke");
    broken["data"]["tls.key"] = json!("bm90IGEga2V5");
    let store = backup_store().with_secret(broken);
    let api = FakeApi::start(Script::new().api(store.handler()));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.yaml");
    let err = fails(
        &mut keys(&api, &["backup", "-w", file.to_str().unwrap()]),
        "",
    );
    assert!(
        err.starts_with(
            "error: key Secret kube-system/sealed-secrets-keybroke, item \"tls.key\": "
        ),
        "{err}"
    );
    assert!(err.ends_with("; nothing written"), "{err}");
    assert!(!file.exists());
    assert_eq!(dir.path().read_dir().unwrap().count(), 0);

    // No key Secrets at all, or no right to list them.
    let api = FakeApi::start(Script::new().api(Store::new().handler()));
    let err = fails(
        &mut keys(&api, &["backup", "-w", file.to_str().unwrap()]),
        "",
    );
    assert!(
        err.starts_with("error: no key Secrets in namespace \"kube-system\""),
        "{err}"
    );
    let store = Store::new().fail(
        "GET /api/v1/namespaces/kube-system/secrets",
        Reply::status(
            403,
            "Forbidden",
            "secrets is forbidden: User \"bob\" cannot list resource \"secrets\"",
        ),
    );
    let api = FakeApi::start(Script::new().api(store.handler()));
    let err = fails(
        &mut keys(&api, &["backup", "-w", file.to_str().unwrap()]),
        "",
    );
    assert!(
        err.starts_with(
            "error: cannot list the key Secrets in namespace \"kube-system\" (403 Forbidden:"
        ),
        "{err}"
    );
    assert!(err.ends_with("you need permission to \"list\" secrets in namespace \"kube-system\" (ask a cluster admin)"), "{err}");
    assert!(!file.exists());
}

/// A backup file made by `keys backup` from [`backup_store`].
fn backup_file(dir: &std::path::Path) -> std::path::PathBuf {
    let api = FakeApi::start(Script::new().api(backup_store().handler()));
    let file = dir.join("keys.yaml");
    ok(
        &mut keys(&api, &["backup", "-w", file.to_str().unwrap()]),
        "",
    );
    file
}

fn posts(api: &FakeApi) -> Vec<Recorded> {
    api.requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect()
}

#[test]
fn restore_creates_the_key_secrets_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let file = backup_file(dir.path());
    let store = Store::new();
    let api = FakeApi::start(Script::new().api(store.handler()));
    let r = run(
        &mut keys(
            &api,
            &[
                "restore",
                "-f",
                file.to_str().unwrap(),
                "--controller-namespace",
                "security",
            ],
        ),
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "");
    assert_eq!(
        store.secret_names(),
        [
            "security/sealed-secrets-key",
            "security/sealed-secrets-keyaxxxx"
        ]
    );
    let created = store.secret("security", "sealed-secrets-keyaxxxx").unwrap();
    assert_eq!(created["data"], key_secret("A")["data"]);
    assert_eq!(created["metadata"]["labels"][LABEL], "active");
    assert_eq!(posts(&api).len(), 2);
    assert!(
        posts(&api)
            .iter()
            .all(|p| p.path == "/api/v1/namespaces/security/secrets")
    );
    assert!(
        r.stderr.contains(&format!(
            "security/sealed-secrets-keyaxxxx ({}): created\n",
            fingerprint("A")
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("2 created, 0 already present, 0 failed\n"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("an upstream controller reads keys only at start: kubectl -n security delete pod -l name=sealed-secrets-controller"), "{}", r.stderr);

    // Again: already present, not an error.
    let r = run(
        &mut keys(
            &api,
            &[
                "restore",
                "-f",
                file.to_str().unwrap(),
                "--controller-namespace",
                "security",
            ],
        ),
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("0 created, 2 already present, 0 failed"),
        "{}",
        r.stderr
    );

    // Same name, other key: that Secret fails, the other is created, nothing is overwritten.
    let squatter = renamed(key_secret("B"), "sealed-secrets-keyaxxxx");
    let store = Store::new().with_secret(squatter.clone());
    let api = FakeApi::start(Script::new().api(store.handler()));
    let r = run(
        &mut keys(&api, &["restore", "-f", file.to_str().unwrap()]),
        "",
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("error: kube-system/sealed-secrets-keyaxxxx (SHA256:herC7hcD"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("a different Secret of this name exists in the cluster; not overwritten"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("kube-system/sealed-secrets-key (SHA256:cXEF"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .ends_with("error: 1 of 2 key Secrets not restored\n"),
        "{}",
        r.stderr
    );
    assert_eq!(
        store
            .secret("kube-system", "sealed-secrets-keyaxxxx")
            .unwrap(),
        squatter
    );
    assert!(store.secret("kube-system", "sealed-secrets-key").is_some());
}

#[test]
fn restore_dry_run_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = backup_file(dir.path());
    let store = Store::new().with_secret(key_secret("A"));
    let api = FakeApi::start(Script::new().api(store.handler()));
    let r = run(
        &mut keys(
            &api,
            &["restore", "-f", file.to_str().unwrap(), "--dry-run"],
        ),
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(posts(&api).is_empty(), "{:?}", api.lines());
    assert!(
        r.stderr
            .contains("kube-system/sealed-secrets-key (SHA256:cXEF"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("): would be created\n"), "{}", r.stderr);
    assert!(r.stderr.contains("sealed-secrets-keyaxxxx (SHA256:herC7hcDSfrTWg8z740vUXgO26eiQVqrTI5p+NtSL7c): already present"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("1 to create, 1 already present, 0 failed"),
        "{}",
        r.stderr
    );
    assert_eq!(
        store.secret_names(),
        ["kube-system/sealed-secrets-keyaxxxx"]
    );
}

#[test]
fn restore_reads_every_backup_form_and_refuses_what_is_not_a_key() {
    let dir = tempfile::tempdir().unwrap();
    // kubectl get secret -o yaml of one key, server fields and all; and JSON.
    let yaml = dir.path().join("one.yaml");
    std::fs::write(
        &yaml,
        sealed_common::codec::to_go_yaml(&key_secret("A")).unwrap(),
    )
    .unwrap();
    let json_file = dir.path().join("two.json");
    std::fs::write(
        &json_file,
        format!(
            "{}\n{}",
            key_secret("A"),
            renamed(key_secret("B"), "sealed-secrets-keybxxxx")
        ),
    )
    .unwrap();
    for (file, count) in [(&yaml, 1), (&json_file, 2)] {
        let store = Store::new();
        let api = FakeApi::start(Script::new().api(store.handler()));
        let r = run(
            &mut keys(&api, &["restore", "-f", file.to_str().unwrap()]),
            "",
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(store.secret_names().len(), count);
    }

    // A Secret that is not a key, or a key that does not parse: nothing is created.
    let mut plain = renamed(key_secret("B"), "app-tls");
    plain["metadata"].as_object_mut().unwrap().remove("labels");
    let mut broken = renamed(key_secret("B"), "sealed-secrets-keybroke");
    broken["data"]["tls.key"] = json!("bm90IGEga2V5");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, format!("{}\n{plain}\n{broken}", key_secret("A"))).unwrap();
    let store = Store::new();
    let api = FakeApi::start(Script::new().api(store.handler()));
    let r = run(
        &mut keys(&api, &["restore", "-f", bad.to_str().unwrap()]),
        "",
    );
    assert_eq!(r.code, 1);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{}", r.stderr);
    assert!(lines[0].starts_with("error: kube-system/app-tls is not a key Secret: it has no label sealedsecrets.bitnami.com/sealed-secrets-key"), "{}", lines[0]);
    assert!(
        lines[1]
            .starts_with("error: key Secret kube-system/sealed-secrets-keybroke, item \"tls.key\""),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].ends_with("cannot be restored; nothing created"),
        "{}",
        lines[2]
    );
    assert!(api.requests().is_empty());

    let err = fails(&mut keys(&api, &["restore", "-f", &key_a()]), "");
    assert!(err.contains("holds a PEM key, not key Secrets"), "{err}");
    let err = fails(
        &mut keys(
            &api,
            &[
                "restore",
                "-f",
                vector("rotation/sealed-with-B/sealed.yaml")
                    .to_str()
                    .unwrap(),
            ],
        ),
        "",
    );
    assert!(
        err.contains("kind is \"SealedSecret\"; expected key Secrets or a v1 List of them"),
        "{err}"
    );
}

#[test]
fn a_controller_that_cannot_answer_is_one_line() {
    let store = Store::new();
    let api = FakeApi::start(
        Script::new()
            .on(|_, _| Reply::text(503, "no keys yet: the controller is still loading its keys"))
            .api(store.handler()),
    );
    let err = fails(&mut keys(&api, &["list"]), "");
    assert_eq!(
        err,
        "error: cannot list the controller's keys: the controller is not ready (503 Service Unavailable: no keys yet: the controller is still loading its keys); wait for it to start, or see its logs: kubectl -n kube-system logs service/sealed-secrets-controller"
    );
    // No cluster at all.
    let err = fails(online_kubeseal().args(["keys", "list"]), "");
    assert!(
        err.starts_with("error: no Kubernetes cluster configured"),
        "{err}"
    );
}
