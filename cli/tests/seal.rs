// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! `kubeseal` sealing modes, run as a user runs them: the real binary on real files.

mod support;

use serde_json::{Value, json};
use support::*;

/// Replaces every `encryptedData` value by its item name, to compare structure.
fn masked(mut doc: Value) -> Value {
    if let Some(Value::Object(items)) = doc.pointer_mut("/spec/encryptedData") {
        for (k, v) in items.iter_mut() {
            *v = Value::String(format!("<{k}>"));
        }
    }
    doc
}

#[test]
fn every_upstream_vector_is_reproduced_except_for_ciphertexts() {
    for dir in vector_dirs() {
        let dir = dir.as_str();
        if !vector(dir).join("secret.yaml").exists() {
            continue;
        }
        let meta: Value =
            serde_json::from_slice(&std::fs::read(vector(dir).join("vector.json")).unwrap())
                .unwrap();
        let command = meta["command"].as_str().unwrap();
        // e.g. "kubeseal --cert keys/A.tls.crt -o yaml --scope strict < secret.yaml"
        let args: Vec<String> = command
            .split(" < ")
            .next()
            .unwrap()
            .split_whitespace()
            .skip(1)
            .map(|a| {
                if a.starts_with("keys/") {
                    vector(a).display().to_string()
                } else {
                    a.to_owned()
                }
            })
            .collect();
        let input = std::fs::read(vector(dir).join("secret.yaml")).unwrap();
        let ours = ok(kubeseal().args(&args), input);
        let upstream_file = if dir.starts_with("format-json") {
            "sealed.json"
        } else {
            "sealed.yaml"
        };
        let upstream = std::fs::read_to_string(vector(dir).join(upstream_file)).unwrap();
        assert_eq!(
            masked(parse_all(&ours).remove(0)),
            masked(parse_all(&upstream).remove(0)),
            "{dir}"
        );
        // Same layout line by line, apart from the ciphertexts themselves.
        let shape = |text: &str| -> Vec<String> {
            text.lines()
                .map(|l| {
                    l.split_once(": Ag")
                        .map_or(l.to_owned(), |(k, _)| k.to_owned())
                })
                .collect()
        };
        let shape_json = |text: &str| -> Vec<String> {
            text.lines()
                .map(|l| {
                    l.split_once(": \"Ag")
                        .map_or(l.to_owned(), |(k, _)| k.to_owned())
                })
                .collect()
        };
        if upstream_file.ends_with(".json") {
            assert_eq!(shape_json(&ours), shape_json(&upstream), "{dir}");
        } else {
            assert_eq!(shape(&ours), shape(&upstream), "{dir}");
        }
        // And it opens to the vector's plaintext.
        let key = if meta["sealing_key"] == "B" {
            key_b()
        } else {
            key_a()
        };
        let secret = unseal_with(&ours, &[key]).remove(0);
        let expected: std::collections::BTreeMap<String, Vec<u8>> = meta["expected_plaintext_b64"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    sealed_common::crypto::decode_base64(v.as_str().unwrap()).unwrap(),
                )
            })
            .collect();
        assert_eq!(items(&secret), expected, "{dir}");
    }
}

#[test]
fn json_is_the_default_and_follows_gos_field_order() {
    let out = ok(kubeseal().args(["--cert", &cert_a()]), SECRET);
    assert!(
        out.starts_with(
            "{\n  \"kind\": \"SealedSecret\",\n  \"apiVersion\": \"bitnami.com/v1alpha1\",\n"
        ),
        "{out}"
    );
    assert!(out.ends_with("}\n"));
    let doc = parse_all(&out).remove(0);
    assert_eq!(
        doc["spec"]["template"]["metadata"],
        json!({"name": "db", "namespace": "prod"})
    );
    let secret = unseal_with(&out, &[key_a()]).remove(0);
    let got = items(&secret);
    assert_eq!(got["password"], b"s3cr3t-value-42");
    assert_eq!(got["user"], b"admin-user-77");
}

#[test]
fn template_keeps_metadata_but_drops_server_fields_owners_and_last_applied() {
    let input = r#"{"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/basic-auth","immutable":true,
      "metadata":{"name":"db","namespace":"prod","uid":"u-1","resourceVersion":"7","generation":3,
        "creationTimestamp":"2024-01-01T00:00:00Z","selfLink":"/x",
        "managedFields":[{"manager":"kubectl","operation":"Update"}],
        "labels":{"app":"db","off":"no"},
        "annotations":{"note":"<kept & escaped>","kubectl.kubernetes.io/last-applied-configuration":"{\"data\":\"leak\"}",
                       "kubecfg.ksonnet.io/last-applied-configuration":"leak"},
        "ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"x","uid":"y"}]},
      "data":{"username":"YWRtaW4=","password":"cGFzcw=="}}"#;
    let out = ok(kubeseal().args(["--cert", &cert_a()]), input);
    assert!(
        out.contains("\\u003ckept \\u0026 escaped\\u003e"),
        "Go escapes HTML characters: {out}"
    );
    assert!(!out.contains("leak"));
    let doc = parse_all(&out).remove(0);
    assert_eq!(
        doc["spec"]["template"],
        json!({
            "metadata": {"name": "db", "namespace": "prod", "labels": {"app": "db", "off": "no"},
                         "annotations": {"note": "<kept & escaped>"}},
            "type": "kubernetes.io/basic-auth",
            "immutable": true
        })
    );
    assert_eq!(doc["metadata"], json!({"name": "db", "namespace": "prod"}));
}

#[test]
fn yaml_values_that_look_like_other_types_stay_strings() {
    let input = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: n\n  labels:\n    a: no\n    b: on\n    c: 0777\n    d: 1e3\nstringData:\n  flag: yes\n  mode: 0777\n";
    let out = ok(kubeseal().args(["--cert", &cert_a(), "-o", "yaml"]), input);
    let doc = parse_all(&out).remove(0);
    assert_eq!(
        doc["spec"]["template"]["metadata"]["labels"],
        json!({"a": "no", "b": "on", "c": "0777", "d": "1e3"})
    );
    assert!(out.contains("a: \"no\""), "{out}");
    let secret = unseal_with(&out, &[key_a()]).remove(0);
    assert_eq!(items(&secret)["flag"], b"yes");
    assert_eq!(items(&secret)["mode"], b"0777");
}

#[test]
fn a_stream_of_secrets_gives_one_sealed_secret_each() {
    let yaml = format!(
        "{SECRET}---\n{}\n---\n",
        SECRET.replace("name: db", "name: cache")
    );
    let out = ok(kubeseal().args(["--cert", &cert_a(), "-o", "yaml"]), yaml);
    assert_eq!(out.matches("---\n").count(), 2);
    let docs = parse_all(&out);
    assert_eq!(
        docs.iter()
            .map(|d| d["metadata"]["name"].clone())
            .collect::<Vec<_>>(),
        [json!("db"), json!("cache")]
    );
    assert_eq!(unseal_with(&out, &[key_a()]).len(), 2);

    let json_stream = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a","namespace":"n"},"stringData":{"k":"1"}}
{"apiVersion":"v1","kind":"Secret","metadata":{"name":"b","namespace":"n"},"stringData":{"k":"2"}}"#;
    let out = ok(kubeseal().args(["--cert", &cert_a()]), json_stream);
    assert_eq!(parse_all(&out).len(), 2);
}

#[test]
fn scope_flag_and_annotations() {
    for (flag, annotation) in [
        (
            "namespace-wide",
            Some("sealedsecrets.bitnami.com/namespace-wide"),
        ),
        (
            "cluster-wide",
            Some("sealedsecrets.bitnami.com/cluster-wide"),
        ),
        ("strict", None),
    ] {
        let out = ok(
            kubeseal().args(["--cert", &cert_a(), "--scope", flag]),
            SECRET,
        );
        let doc = parse_all(&out).remove(0);
        match annotation {
            Some(a) => assert_eq!(doc["metadata"]["annotations"][a], "true"),
            None => assert!(doc["metadata"].get("annotations").is_none()),
        }
    }
    // Upstream quirk: an explicit --scope strict does not override the annotation.
    let annotated = SECRET.replace(
        "  namespace: prod\n",
        "  namespace: prod\n  annotations:\n    sealedsecrets.bitnami.com/cluster-wide: \"true\"\n",
    );
    let out = ok(
        kubeseal().args(["--cert", &cert_a(), "--scope", "strict"]),
        annotated.clone(),
    );
    assert_eq!(
        parse_all(&out)[0]["metadata"]["annotations"]["sealedsecrets.bitnami.com/cluster-wide"],
        "true"
    );
    // A non-default flag replaces it.
    let out = ok(
        kubeseal().args(["--cert", &cert_a(), "--scope", "namespace-wide"]),
        annotated,
    );
    let annotations = &parse_all(&out)[0]["metadata"]["annotations"];
    assert_eq!(
        annotations,
        &json!({"sealedsecrets.bitnami.com/namespace-wide": "true"})
    );
}

#[test]
fn cluster_wide_secret_needs_no_namespace() {
    let input = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: shared\nstringData:\n  k: v\n";
    let out = ok(
        kubeseal().args(["--cert", &cert_a(), "--scope", "cluster-wide"]),
        input,
    );
    let doc = parse_all(&out).remove(0);
    assert!(doc["metadata"].get("namespace").is_none());
    let secret = unseal_with(&out, &[key_a()]).remove(0);
    assert_eq!(items(&secret)["k"], b"v");
}

#[test]
fn name_flag_renames_and_namespace_comes_from_flag_or_kubeconfig() {
    let input = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: orig\nstringData:\n  k: v\n";
    let out = ok(
        kubeseal().args(["--cert", &cert_a(), "--name", "renamed", "-n", "team"]),
        input,
    );
    let doc = parse_all(&out).remove(0);
    assert_eq!(
        doc["metadata"],
        json!({"name": "renamed", "namespace": "team"})
    );

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: dev\ncontexts:\n- name: dev\n  context:\n    cluster: c\n    namespace: from-context\n- name: bare\n  context:\n    cluster: c\nclusters: []\nusers: []\n",
    )
    .unwrap();
    let out = ok(
        kubeseal()
            .env("KUBECONFIG", &kubeconfig)
            .args(["--cert", &cert_a()]),
        input,
    );
    assert_eq!(parse_all(&out)[0]["metadata"]["namespace"], "from-context");
    let out = ok(
        kubeseal().args([
            "--cert",
            &cert_a(),
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--context",
            "bare",
        ]),
        input,
    );
    assert_eq!(parse_all(&out)[0]["metadata"]["namespace"], "default");
}

#[test]
fn namespace_flag_must_agree_with_the_secret() {
    let err = fails(
        kubeseal().args(["--cert", &cert_a(), "-n", "staging"]),
        SECRET,
    );
    assert!(err.starts_with("error: namespace mismatch"), "{err}");
    assert!(
        err.contains("\"prod\"") && err.contains("\"staging\""),
        "{err}"
    );
    ok(kubeseal().args(["--cert", &cert_a(), "-n", "prod"]), SECRET);
}

#[test]
fn output_file_is_written_only_on_success_and_yaml_extension_forces_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sealed.yaml");
    let r = run(
        kubeseal().args([
            "--cert",
            &cert_a(),
            "-o",
            "json",
            "-w",
            target.to_str().unwrap(),
        ]),
        SECRET,
    );
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    let written = std::fs::read_to_string(&target).unwrap();
    assert!(
        written.starts_with("---\napiVersion: bitnami.com/v1alpha1\n"),
        "{written}"
    );

    // A failing run leaves the old file exactly as it was, and no temporary file.
    let bad = format!(
        "{SECRET}---\napiVersion: v1\nkind: Secret\nmetadata:\n  namespace: x\ndata:\n  k: dg==\n"
    );
    fails(
        kubeseal().args(["--cert", &cert_a(), "-w", target.to_str().unwrap()]),
        bad.clone(),
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), written);
    let fresh = dir.path().join("new.json");
    fails(
        kubeseal().args(["--cert", &cert_a(), "-w", fresh.to_str().unwrap()]),
        bad,
    );
    assert!(!fresh.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn secret_file_flag_reads_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("secret.yaml");
    std::fs::write(&input, SECRET).unwrap();
    let out = ok(
        kubeseal().args(["--cert", &cert_a(), "-f", input.to_str().unwrap()]),
        "",
    );
    assert_eq!(parse_all(&out)[0]["metadata"]["name"], "db");
}

#[test]
fn allow_empty_data_matches_upstream_output_exactly() {
    let input = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: demo-secret\n  namespace: demo-ns\ntype: Opaque\ndata: {}\n";
    let out = ok(
        kubeseal().args(["--cert", &cert_a(), "-o", "yaml", "--allow-empty-data"]),
        input,
    );
    assert_eq!(
        out,
        "---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: demo-secret\n  namespace: demo-ns\nspec:\n  encryptedData: {}\n  template:\n    metadata:\n      name: demo-secret\n      namespace: demo-ns\n    type: Opaque\n"
    );
}

#[test]
fn flags_come_from_sealed_secrets_environment_variables() {
    let out = ok(
        kubeseal()
            .env("SEALED_SECRETS_CERT", cert_a())
            .env("SEALED_SECRETS_FORMAT", "yaml")
            .env("SEALED_SECRETS_SCOPE", "namespace-wide")
            .env("SEALED_SECRETS_ALLOW_EMPTY_DATA", "true"),
        SECRET,
    );
    assert!(out.starts_with("---\n"));
    assert!(out.contains("sealedsecrets.bitnami.com/namespace-wide: \"true\""));
}

#[test]
fn boolean_flags_take_go_style_values() {
    let input = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: e\n  namespace: n\n";
    ok(
        kubeseal().args(["--cert", &cert_a(), "--allow-empty-data=true"]),
        input,
    );
    fails(
        kubeseal().args(["--cert", &cert_a(), "--allow-empty-data=false"]),
        input,
    );
}

#[test]
fn certificate_from_an_http_url() {
    let cert = std::fs::read(cert_a()).unwrap();
    let server = support_http::serve(vec![(200, cert.clone()), (404, b"not here".to_vec())]);
    let url = format!("http://{}/v1/cert.pem", server);
    let out = ok(kubeseal().args(["--cert", &url]), SECRET);
    assert_eq!(
        items(&unseal_with(&out, &[key_a()])[0])["user"],
        b"admin-user-77"
    );
    // Plain http warns on its own line before the error.
    let r = run(kubeseal().args(["--cert", &url]), SECRET);
    assert_eq!((r.code, r.stdout.as_str()), (1, ""));
    assert_eq!(
        r.stderr.lines().collect::<Vec<_>>(),
        [
            format!(
                "warning: --cert {url:?} is fetched over plain http: the certificate can be tampered with in transit; use https:// or a file"
            ),
            format!("error: cannot fetch \"{url}\": 404 Not Found")
        ]
    );
}

#[test]
fn fetch_cert_prints_the_certificate_as_is() {
    let out = ok(kubeseal().args(["--fetch-cert", "--cert", &cert_a()]), "");
    assert_eq!(out.as_bytes(), std::fs::read(cert_a()).unwrap());
    let file_url = format!("file://{}", cert_a());
    assert_eq!(
        ok(kubeseal().args(["--fetch-cert", "--cert", &file_url]), "").as_bytes(),
        out.as_bytes()
    );
}

#[test]
fn raw_mode_seals_one_value_under_the_scope_label() {
    let dir = tempfile::tempdir().unwrap();
    let payload = dir.path().join("value.bin");
    std::fs::write(&payload, b"raw \x00 value").unwrap();
    let key = sealed_common::keys::parse_private_key_pem(&std::fs::read(key_a()).unwrap()).unwrap();
    for (scope, extra, label) in [
        (
            "strict",
            vec!["--name", "db", "--namespace", "prod"],
            "prod/db",
        ),
        ("namespace-wide", vec!["--namespace", "prod"], "prod"),
        ("cluster-wide", vec![], ""),
    ] {
        let mut cmd = kubeseal();
        cmd.args(["--raw", "--cert", &cert_a(), "--scope", scope])
            .args(&extra);
        cmd.arg(format!("--from-file=item={}", payload.display()));
        let out = ok(&mut cmd, "");
        assert!(!out.ends_with('\n'));
        let (plain, _) = sealed_common::crypto::open_value([&key], &out, label.as_bytes()).unwrap();
        assert_eq!(plain.as_slice(), b"raw \x00 value", "{scope}");
    }
    // From stdin, strict is the default scope.
    let out = ok(
        kubeseal().args(["--raw", "--cert", &cert_a(), "--name", "db", "-n", "prod"]),
        "piped",
    );
    let (plain, _) = sealed_common::crypto::open_value([&key], &out, b"prod/db").unwrap();
    assert_eq!(plain.as_slice(), b"piped");
}

#[test]
fn raw_mode_errors_are_upstreams() {
    let err = fails(
        kubeseal().args(["--raw", "--cert", &cert_a(), "--name", "db"]),
        "x",
    );
    assert_eq!(
        err,
        "error: must provide the --namespace flag with --raw and --scope strict"
    );
    let err = fails(
        kubeseal().args(["--raw", "--cert", &cert_a(), "-n", "prod"]),
        "x",
    );
    assert_eq!(
        err,
        "error: must provide the --name flag with --raw and --scope strict"
    );
    let err = fails(
        kubeseal().args(["--raw", "--cert", &cert_a(), "--scope", "namespace-wide"]),
        "x",
    );
    assert_eq!(
        err,
        "error: must provide the --namespace flag with --raw and --scope namespace-wide"
    );
    let err = fails(
        kubeseal().args([
            "--raw",
            "--cert",
            &cert_a(),
            "--scope",
            "cluster-wide",
            "--from-file",
            "a",
            "--from-file",
            "b",
        ]),
        "",
    );
    assert_eq!(
        err,
        "error: must provide only one --from-file when encrypting a single item with --raw"
    );
    let err = fails(
        kubeseal().args(["--cert", &cert_a(), "--from-file", "a"]),
        "",
    );
    assert_eq!(err, "error: --from-file requires --raw");
}

#[test]
fn merge_into_adds_items_and_keeps_scope_format_and_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sealed.yaml");
    let first = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  namespace: prod\n  labels:\n    team: a\nstringData:\n  one: \"1\"\n";
    let sealed = ok(
        kubeseal().args([
            "--cert",
            &cert_a(),
            "-o",
            "yaml",
            "--scope",
            "namespace-wide",
        ]),
        first,
    );
    std::fs::write(&file, &sealed).unwrap();

    // No scope annotation on the new Secret, different name: the file decides.
    let update = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: whatever\n  annotations:\n    owner: b\nstringData:\n  two: \"2\"\n  one: \"uno\"\n";
    let r = run(
        kubeseal().args(["--cert", &cert_a(), "--merge-into", file.to_str().unwrap()]),
        update,
    );
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (0, "", ""));
    let merged = std::fs::read_to_string(&file).unwrap();
    assert!(merged.starts_with("---\n"), "format kept: {merged}");
    let doc = parse_all(&merged).remove(0);
    assert_eq!(doc["metadata"]["name"], "app");
    assert_eq!(
        doc["metadata"]["annotations"]["sealedsecrets.bitnami.com/namespace-wide"],
        "true"
    );
    assert_eq!(
        doc["spec"]["template"]["metadata"]["labels"],
        json!({"team": "a"})
    );
    assert_eq!(
        doc["spec"]["template"]["metadata"]["annotations"]["owner"],
        "b"
    );
    let secret = unseal_with(&merged, &[key_a()]).remove(0);
    let got = items(&secret);
    assert_eq!(
        (got["one"].as_slice(), got["two"].as_slice()),
        (b"uno".as_slice(), b"2".as_slice())
    );

    let err = fails(
        kubeseal().args([
            "--cert",
            &cert_a(),
            "--scope",
            "strict",
            "--merge-into",
            file.to_str().unwrap(),
        ]),
        update,
    );
    assert!(err.starts_with("error: scope mismatch"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), merged);
}

#[test]
fn merge_into_a_json_file_stays_json_and_handles_missing_maps() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sealed.json");
    std::fs::write(
        &file,
        r#"{"apiVersion":"bitnami.com/v1alpha1","kind":"SealedSecret","metadata":{"name":"app","namespace":"prod"},"spec":{"encryptedData":{}}}"#,
    )
    .unwrap();
    let update = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  labels: {x: y}\n  annotations: {a: b}\nstringData:\n  k: v\n";
    ok(
        kubeseal().args(["--cert", &cert_a(), "--merge-into", file.to_str().unwrap()]),
        update,
    );
    let merged = std::fs::read_to_string(&file).unwrap();
    assert!(
        merged.starts_with("{\n  \"kind\": \"SealedSecret\""),
        "{merged}"
    );
    assert_eq!(items(&unseal_with(&merged, &[key_a()])[0])["k"], b"v");
}

mod support_http {
    //! A tiny HTTP server answering canned responses in order.
    use std::io::{Read, Write};
    use std::net::TcpListener;

    pub fn serve(responses: Vec<(u16, Vec<u8>)>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for (status, body) in responses {
                let Ok((mut stream, _)) = listener.accept() else {
                    return;
                };
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let reason = if status == 200 { "OK" } else { "Not Found" };
                let head = format!(
                    "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        addr
    }
}
