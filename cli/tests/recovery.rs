// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! `kubeseal --recovery-unseal`: upstream vectors open to upstream's exact output, with
//! every key backup form upstream accepts.

mod support;

use support::*;

#[test]
fn every_vector_prints_exactly_what_upstream_printed() {
    let keys = format!("{},{}", key_a(), key_b());
    for dir in vector_dirs() {
        let dir = dir.as_str();
        for input in ["sealed.yaml", "sealed.json"] {
            let path = vector(dir).join(input);
            if !path.exists() {
                continue;
            }
            let out = ok(
                recovery(&keys).args(["-o", "yaml"]),
                std::fs::read(&path).unwrap(),
            );
            let expected =
                std::fs::read_to_string(vector(dir).join("expected-secret.yaml")).unwrap();
            assert_eq!(out, expected, "{dir}/{input}");
        }
    }
}

#[test]
fn json_output_is_gos() {
    let out = ok(
        &mut recovery(&key_a()),
        std::fs::read(vector("stringdata-and-metadata/strict/sealed.yaml")).unwrap(),
    );
    let expected = "{\n  \"kind\": \"Secret\",\n  \"apiVersion\": \"v1\",\n  \"metadata\": {\n    \"name\": \"demo-secret\",\n    \"namespace\": \"demo-ns\",\n    \"labels\": {\n      \"app\": \"demo\"\n    },\n    \"annotations\": {\n      \"note\": \"kept-in-template\"\n    },\n    \"ownerReferences\": [\n      {\n        \"apiVersion\": \"bitnami.com/v1alpha1\",\n        \"kind\": \"SealedSecret\",\n        \"name\": \"demo-secret\",\n        \"uid\": \"\",\n        \"controller\": true\n      }\n    ]\n  },\n  \"data\": {\n    \"a\": \"ZnJvbS1kYXRh\",\n    \"b\": \"ZnJvbS1zdHJpbmdEYXRh\"\n  },\n  \"type\": \"Opaque\"\n}\n";
    assert_eq!(out, expected);
}

#[test]
fn keys_load_from_pem_secret_list_and_json_backups() {
    let dir = tempfile::tempdir().unwrap();
    let secret_b = std::fs::read_to_string(vector("keys/B.sealed-secrets-key.yaml")).unwrap();
    let secret_a = std::fs::read_to_string(vector("keys/A.sealed-secrets-key.yaml")).unwrap();
    let indent = |s: &str| {
        s.lines()
            .map(|l| format!("  {l}\n"))
            .collect::<String>()
            .replacen("  ", "- ", 1)
    };
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n{}{}",
        indent(&secret_a),
        indent(&secret_b)
    );
    let list_file = dir.path().join("keys-list.yaml");
    std::fs::write(&list_file, list).unwrap();
    let json_file = dir.path().join("key-b.json");
    let json: serde_json::Value = parse_all(&secret_b).remove(0);
    std::fs::write(&json_file, serde_json::to_string(&json).unwrap()).unwrap();
    let multi_doc = dir.path().join("keys.yaml");
    std::fs::write(&multi_doc, format!("{secret_a}---\n{secret_b}")).unwrap();

    let sealed_b = std::fs::read(vector("rotation/sealed-with-B/sealed.yaml")).unwrap();
    for keys in [
        key_b(),
        list_file.display().to_string(),
        json_file.display().to_string(),
        multi_doc.display().to_string(),
        vector("keys/B.sealed-secrets-key.yaml")
            .display()
            .to_string(),
    ] {
        let out = ok(recovery(&keys).args(["-o", "yaml"]), sealed_b.clone());
        assert!(out.contains("k: cm90YXRlZA=="), "{keys}: {out}");
    }
    // Repeated flags and comma lists combine.
    let out = ok(
        recovery(&key_a()).args(["--recovery-private-key", &key_b()]),
        sealed_b,
    );
    assert!(out.contains("cm90YXRlZA=="));
}

#[test]
fn a_stream_of_sealed_secrets_is_opened_document_by_document() {
    let a = std::fs::read_to_string(vector("scope-flag/strict/sealed.yaml")).unwrap();
    let b = std::fs::read_to_string(vector("rotation/sealed-with-B/sealed.yaml")).unwrap();
    let keys = format!("{},{}", key_a(), key_b());
    let out = ok(recovery(&keys).args(["-o", "yaml"]), format!("{a}{b}"));
    assert_eq!(out.matches("kind: Secret").count(), 2);
}

#[test]
fn wrong_key_names_the_items_and_the_object() {
    let err = fails(
        &mut recovery(&key_a()),
        std::fs::read(vector("rotation/sealed-with-B/sealed.yaml")).unwrap(),
    );
    assert_eq!(
        err,
        "error: no key could decrypt secret (k) (input document 1: demo-ns/demo-secret)"
    );
}

#[test]
fn moved_strict_secret_does_not_open() {
    let moved = std::fs::read_to_string(vector("scope-flag/strict/sealed.yaml"))
        .unwrap()
        .replacen("  namespace: demo-ns\n", "  namespace: attacker\n", 1);
    let err = fails(&mut recovery(&key_a()), moved);
    assert!(err.starts_with("error: no key could decrypt secret (big64k, binary, empty, multiline, password, unicode, username)"), "{err}");
}

#[test]
fn recovery_refusals_are_clear() {
    let sealed = std::fs::read(vector("scope-flag/strict/sealed.yaml")).unwrap();
    let err = fails(kubeseal().args(["--recovery-unseal"]), sealed.clone());
    assert!(err.contains("needs --recovery-private-key"), "{err}");
    let err = fails(&mut recovery("/nonexistent.pem"), sealed.clone());
    assert!(
        err.starts_with("error: cannot read --recovery-private-key \"/nonexistent.pem\""),
        "{err}"
    );
    let err = fails(&mut recovery(&cert_a()), sealed.clone());
    assert!(err.contains("no RSA private key found"), "{err}");
    let err = fails(&mut recovery(&key_a()), SECRET);
    assert_eq!(
        err,
        "error: input document 1: kind is \"Secret\", expected \"SealedSecret\""
    );
    let legacy = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: old\n  namespace: ns\nspec:\n  data: AAAA\n  encryptedData: {}\n";
    let err = fails(&mut recovery(&key_a()), legacy);
    assert!(
        err.starts_with("error: using deprecated 'data' field"),
        "{err}"
    );
    let mut corrupt = String::from_utf8(sealed).unwrap();
    corrupt = corrupt.replacen("password: AgA", "password: Ag%A", 1);
    let err = fails(&mut recovery(&key_a()), corrupt);
    assert!(err.starts_with("error: invalid base64"), "{err}");
    assert!(err.contains("(password)"), "{err}");
}

/// The template-data vector with its `literal` key replaced by `lines` (YAML, indented
/// as keys of `spec.template.data`).
fn template_vector_with(lines: &str) -> String {
    let dir = vector_dirs()
        .into_iter()
        .find(|d| has_templates(d))
        .unwrap();
    let sealed = std::fs::read_to_string(vector(&dir).join("sealed.yaml")).unwrap();
    assert!(sealed.contains("      literal: no template actions\n"));
    sealed.replacen("      literal: no template actions\n", lines, 1)
}

#[test]
fn template_data_is_rendered_as_the_controller_renders_it() {
    let dir = vector_dirs()
        .into_iter()
        .find(|d| has_templates(d))
        .unwrap();
    let out = ok(
        recovery(&key_a()).args(["-o", "yaml"]),
        std::fs::read(vector(&dir).join("sealed.yaml")).unwrap(),
    );
    let expected = std::fs::read_to_string(vector(&dir).join("expected-secret.yaml")).unwrap();
    assert_eq!(out, expected);

    let sealed = template_vector_with(
        "      missing: '{{ .nope }}|{{ index . \"nope\" }}'\n      json: '{{ dict \"a\" .a | toJson }}'\n",
    );
    let secrets = unseal_with(&sealed, &[key_a()]);
    let data = items(&secrets[0]);
    assert_eq!(data["missing"], b"<no value>|");
    assert_eq!(data["json"], br#"{"a":"from-data"}"#);
}

#[test]
fn template_errors_are_one_line_name_the_key_and_hide_values() {
    let sealed = template_vector_with("      leak: '{{ env \"HOME\" }}'\n");
    let err = fails(&mut recovery(&key_a()), sealed);
    assert_eq!(
        err,
        "error: template: leak:1: function \"env\" not defined (leak) (input document 1: demo-ns/demo-secret)"
    );
    let sealed = template_vector_with("      bad: '{{ .a | int | upper }}{{ fail .b }}'\n");
    let err = fails(&mut recovery(&key_a()), sealed);
    assert!(
        err.contains("executing \"bad\" at <upper>") && err.contains("(bad)"),
        "{err}"
    );
    assert!(
        !err.contains("from-data") && !err.contains("from-stringData"),
        "{err}"
    );
}
