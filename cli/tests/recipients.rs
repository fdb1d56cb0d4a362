// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! Several recipients from the command line: `--recipient` in every sealing mode,
//! `SEALED_SECRETS_RECIPIENT`, `.sealed-secrets.yaml`, `--recovery-unseal`, and the
//! offline `kubeseal reencrypt` (`--recovery-private-key` with `--cert`/`--recipient` or
//! `--add-recipient`).

mod support;

use std::path::{Path, PathBuf};
use support::*;

/// Test keys C, D and E (2048 bits) of testdata/multi-recipient.
fn multi(file: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/multi-recipient")
        .join(file)
        .display()
        .to_string()
}

fn cert(name: &str) -> String {
    if name == "A" {
        cert_a()
    } else if name == "B" {
        cert_b()
    } else {
        multi(&format!("{name}.tls.crt"))
    }
}

fn key(name: &str) -> String {
    if name == "A" {
        key_a()
    } else if name == "B" {
        key_b()
    } else {
        multi(&format!("{name}.tls.key"))
    }
}

const SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: prod
data:
  password: czNjcjN0
";

/// Whether kubeseal --recovery-unseal opens `sealed` with `name`'s key alone, and to
/// what password.
fn opens_with(sealed: &str, name: &str) -> Option<Vec<u8>> {
    let r = run(
        kubeseal().args([
            "--recovery-unseal",
            "--recovery-private-key",
            &key(name),
            "-o",
            "json",
        ]),
        sealed,
    );
    if r.code != 0 {
        assert!(
            r.stderr.contains("no key could decrypt secret"),
            "{}",
            r.stderr
        );
        return None;
    }
    Some(items(&parse_all(&r.stdout)[0])["password"].clone())
}

fn assert_recipients(sealed: &str, yes: &[&str], no: &[&str]) {
    for name in yes {
        assert_eq!(
            opens_with(sealed, name).as_deref(),
            Some(&b"s3cr3t"[..]),
            "{name}"
        );
    }
    for name in no {
        assert_eq!(opens_with(sealed, name), None, "{name} must not open it");
    }
}

#[test]
fn recipient_flag_and_environment_in_the_default_mode() {
    let out = ok(
        kubeseal().args([
            "--cert",
            &cert("A"),
            "--recipient",
            &cert("C"),
            "--recipient",
            &cert("D"),
        ]),
        SECRET,
    );
    assert_recipients(&out, &["A", "C", "D"], &["B", "E"]);
    // A comma list, from the environment.
    let out = ok(
        kubeseal().args(["--cert", &cert("C")]).env(
            "SEALED_SECRETS_RECIPIENT",
            format!("{},{}", cert("E"), cert("A")),
        ),
        SECRET,
    );
    assert_recipients(&out, &["A", "C", "E"], &["D"]);
    // Without --recipient: upstream's layout (values start with the RSA length, "Ag"
    // in base64 for a 4096-bit key).
    let out = ok(
        kubeseal().args(["--cert", &cert("A"), "-o", "yaml"]),
        SECRET,
    );
    assert!(out.contains("password: Ag"), "{out}");
}

#[test]
fn recipient_in_raw_mode() {
    let out = ok(
        kubeseal().args([
            "--raw",
            "--cert",
            &cert("A"),
            "--recipient",
            &cert("D"),
            "--namespace",
            "prod",
            "--name",
            "db",
            "--from-file",
            "/dev/stdin",
        ]),
        "s3cr3t",
    );
    for name in ["A", "D"] {
        let private =
            sealed_common::keys::parse_private_key_pem(&std::fs::read(key(name)).unwrap()).unwrap();
        let (plain, _) = sealed_common::crypto::open_value([&private], &out, b"prod/db").unwrap();
        assert_eq!(plain.as_slice(), b"s3cr3t");
    }
}

#[test]
fn recipient_with_merge_into() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("db.yaml");
    let first = ok(
        kubeseal().args(["--cert", &cert("A"), "-o", "yaml"]),
        SECRET,
    );
    std::fs::write(&target, &first).unwrap();
    let more = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\ndata:\n  user: YWRtaW4=\n";
    ok(
        kubeseal().args([
            "--cert",
            &cert("A"),
            "--recipient",
            &cert("E"),
            "--merge-into",
            target.to_str().unwrap(),
        ]),
        more,
    );
    let merged = std::fs::read_to_string(&target).unwrap();
    let with_e = unseal_with(&merged, &[key("A")]);
    assert_eq!(items(&with_e[0])["user"], b"admin");
    // The new item opens with E too; the old one was sealed for A alone.
    let r = run(
        kubeseal().args(["--recovery-unseal", "--recovery-private-key", &key("E")]),
        merged,
    );
    assert!(
        r.stderr.contains("no key could decrypt secret (password)"),
        "{}",
        r.stderr
    );
}

#[test]
fn recovery_unseal_opens_the_independent_vectors_with_any_recipient() {
    let sealed = std::fs::read_to_string(multi("strict/sealed.yaml")).unwrap();
    for name in ["A", "C", "D"] {
        let secrets = unseal_with(&sealed, &[key(name)]);
        assert_eq!(items(&secrets[0])["password"], b"s3cr3t", "{name}");
    }
    let r = run(
        kubeseal().args(["--recovery-unseal", "--recovery-private-key", &key("E")]),
        sealed,
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("no key could decrypt secret"),
        "{}",
        r.stderr
    );
}

fn write(root: &Path, rel: &str, text: &str) -> PathBuf {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// A repository with certificates and a rules file.
fn repository() -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    for name in ["A", "C", "D", "E"] {
        std::fs::copy(cert(name), repo.path().join(format!("certs/{name}.pem")))
            .or_else(|_| {
                std::fs::create_dir_all(repo.path().join("certs"))?;
                std::fs::copy(cert(name), repo.path().join(format!("certs/{name}.pem")))
            })
            .unwrap();
    }
    write(
        repo.path(),
        ".sealed-secrets.yaml",
        "rules:
  - path: \"clusters/prod/**\"
    cert: certs/A.pem
    recipients: [certs/C.pem, certs/D.pem]
  - path: \"clusters/staging/*.yaml\"
    cert: certs/C.pem
    scope: namespace-wide
  - cert: certs/E.pem
",
    );
    repo
}

#[test]
fn the_repository_file_chooses_by_path_and_flags_win() {
    let repo = repository();
    let root = repo.path();
    let prod = write(root, "clusters/prod/apps/db-secret.yaml", SECRET);
    let out = ok(
        kubeseal()
            .current_dir(root)
            .args(["-f", prod.to_str().unwrap()]),
        "",
    );
    assert_recipients(&out, &["A", "C", "D"], &["E"]);

    // Found by walking up from the output file too; relative paths work.
    let staging = write(root, "clusters/staging/db-secret.yaml", SECRET);
    let out_path = root.join("clusters/staging/db-sealed.yaml");
    ok(
        kubeseal().current_dir(root.join("clusters")).args([
            "-f",
            "staging/db-secret.yaml",
            "-w",
            out_path.to_str().unwrap(),
        ]),
        "",
    );
    let out = std::fs::read_to_string(&out_path).unwrap();
    assert!(
        out.contains("sealedsecrets.bitnami.com/namespace-wide"),
        "{out}"
    );
    assert_recipients(&out, &["C"], &["A", "E"]);
    let _ = staging;

    // stdin from inside the repository: only the rule without a path applies.
    let out = ok(kubeseal().current_dir(root.join("clusters/prod")), SECRET);
    assert_recipients(&out, &["E"], &["A", "C"]);

    // Flags win over the file: --cert, and --recipient replaces the rule's list.
    let out = ok(
        kubeseal().current_dir(root).args([
            "-f",
            prod.to_str().unwrap(),
            "--cert",
            &cert("B"),
            "--recipient",
            &cert("E"),
        ]),
        "",
    );
    assert_recipients(&out, &["B", "E"], &["A", "C", "D"]);
}

#[test]
fn a_bad_repository_file_is_a_one_line_error() {
    let repo = tempfile::tempdir().unwrap();
    write(
        repo.path(),
        ".sealed-secrets.yaml",
        "rules:\n  - cert: x.pem\n    recipent: [y.pem]\n",
    );
    let err = fails(kubeseal().current_dir(repo.path()), SECRET);
    assert!(
        err.contains(".sealed-secrets.yaml is not a valid rules file"),
        "{err}"
    );
    assert!(err.contains("recipent"), "{err}");
    write(
        repo.path(),
        ".sealed-secrets.yaml",
        "rules:\n  - path: \"a/[\"\n    cert: x.pem\n",
    );
    let err = fails(
        kubeseal().current_dir(repo.path()).args(["-f", "s.yaml"]),
        SECRET,
    );
    assert!(
        err.contains("rules[0]: path \"a/[\" is not a valid pattern"),
        "{err}"
    );
    write(
        repo.path(),
        ".sealed-secrets.yaml",
        "rules:\n  - cert: missing.pem\n",
    );
    let err = fails(kubeseal().current_dir(repo.path()), SECRET);
    assert!(err.contains("missing.pem"), "{err}");
}

/// A file with a comment, a Secret that is not sealed, and two SealedSecrets.
fn tree(root: &Path) -> PathBuf {
    let one = ok(
        kubeseal().args(["--cert", &cert("A"), "-o", "yaml"]),
        SECRET,
    );
    let other = SECRET.replace("name: db", "name: api");
    let two = ok(kubeseal().args(["--cert", &cert("A"), "-o", "yaml"]), other);
    let text = format!(
        "# prod database: keep this comment\n{one}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n---\n{two}"
    );
    write(root, "apps/db.yaml", &text)
}

/// The SealedSecrets of a tree file, without its ConfigMap.
fn sealed_only(text: &str) -> String {
    text.split("---\n")
        .filter(|doc| !doc.contains("kind: ConfigMap"))
        .collect::<Vec<_>>()
        .join("---\n")
}

fn reencrypt(args: &[&str], dir: &Path) -> Run {
    let mut cmd = kubeseal();
    cmd.arg("reencrypt").args(args).arg(dir);
    run(&mut cmd, "")
}

#[test]
fn offline_reencrypt_moves_a_tree_to_new_recipients() {
    let repo = tempfile::tempdir().unwrap();
    let file = tree(repo.path());
    let before = std::fs::read_to_string(&file).unwrap();
    let keys = key("A");
    let flags = [
        "--recovery-private-key",
        &keys,
        "--cert",
        &cert("C"),
        "--recipient",
        &cert("D"),
    ];

    let dry = reencrypt(&[&flags[..], &["--dry-run"]].concat(), repo.path());
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stdout.contains("would update"), "{}", dry.stdout);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);

    let done = reencrypt(&flags, repo.path());
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(
        done.stdout.contains("(2 of 2 SealedSecrets re-encrypted)"),
        "{}",
        done.stdout
    );
    let after = std::fs::read_to_string(&file).unwrap();
    assert!(after.starts_with("# prod database: keep this comment\n"));
    assert!(after.contains("kind: ConfigMap"));
    assert_eq!(after.lines().count(), before.lines().count(), "layout kept");
    for name in ["C", "D"] {
        let secrets = unseal_with(&sealed_only(&after), &[key(name)]);
        assert_eq!(secrets.len(), 2);
        assert_eq!(items(&secrets[1])["password"], b"s3cr3t");
    }
    let with_a = run(
        kubeseal().args(["--recovery-unseal", "--recovery-private-key", &key("A")]),
        sealed_only(&after),
    );
    assert!(
        with_a.stderr.contains("no key could decrypt secret"),
        "{}",
        with_a.stderr
    );

    // Again: nothing to do, the file is not touched.
    let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
    let again = reencrypt(
        &[
            "--recovery-private-key",
            &key("D"),
            "--cert",
            &cert("D"),
            "--recipient",
            &cert("C"),
        ],
        repo.path(),
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("unchanged"), "{}", again.stdout);
    assert_eq!(
        std::fs::metadata(&file).unwrap().modified().unwrap(),
        modified
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), after);
}

#[test]
fn offline_reencrypt_adds_an_escrow_key_and_keeps_the_rest() {
    let repo = tempfile::tempdir().unwrap();
    let file = tree(repo.path());
    let before = std::fs::read_to_string(&file).unwrap();
    let done = reencrypt(
        &[
            "--recovery-private-key",
            &key("A"),
            "--add-recipient",
            &cert("E"),
        ],
        repo.path(),
    );
    assert_eq!(done.code, 0, "{}", done.stderr);
    let after = std::fs::read_to_string(&file).unwrap();
    assert_ne!(after, before);
    for name in ["A", "E"] {
        assert_eq!(
            unseal_with(&sealed_only(&after), &[key(name)]).len(),
            2,
            "{name}"
        );
    }
    // A key that opens nothing: the file fails, and is left as it was.
    let failed = reencrypt(
        &[
            "--recovery-private-key",
            &key("D"),
            "--add-recipient",
            &cert("C"),
        ],
        repo.path(),
    );
    assert_eq!(failed.code, 1);
    assert!(
        failed.stdout.contains("unable to rotate secret: prod/db"),
        "{}",
        failed.stdout
    );
    assert!(
        failed
            .stdout
            .contains("no key could decrypt secret (password)"),
        "{}",
        failed.stdout
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), after);
}

#[test]
fn offline_reencrypt_flag_mistakes_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let keys = key("A");
    let cases: [(&[&str], &str); 4] = [
        (&["--cert", &cert("C")], "need --recovery-private-key"),
        (&["--recovery-private-key", &keys], "say for whom"),
        (
            &["--recovery-private-key", &keys, "--recipient", &cert("C")],
            "--recipient needs --cert",
        ),
        (
            &[
                "--recovery-private-key",
                &keys,
                "--cert",
                &cert("C"),
                "--add-recipient",
                &cert("D"),
            ],
            "do not combine it",
        ),
    ];
    for (args, want) in cases {
        let r = reencrypt(args, dir.path());
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    }
}
