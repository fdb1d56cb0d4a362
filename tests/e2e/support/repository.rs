//! A GitOps repository of SealedSecrets on disk, as the key runbook re-encrypts it: four
//! SealedSecrets of one application namespace in three files, sealed by our `kubeseal
//! --cert`, with what must survive `kubeseal reencrypt` (a comment, a ConfigMap between
//! two SealedSecrets, a kustomization without SealedSecrets); applying its files, and
//! checking `kubeseal reencrypt`'s report and rewrite.

use crate::checks::assert_synced_true;
use crate::harness::Ctx;
use crate::kubeseal::{self, plain_secret};
use crate::objects::{
    self, apply_sealed_secret, bytes_map, describe_sealed, key_fingerprint, secret_data,
    show_bytes_map,
};
use anyhow::{Context, Result, ensure};
use sealed_common::Scope;
use sealed_common::codec::decode_stream;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The files holding SealedSecrets, relative to the root, with how many each holds.
const SEALED_FILES: [(&str, usize); 3] = [
    ("apps/dev/api.yaml", 1),
    ("apps/prod/db.yaml", 1),
    ("clusters/main/tokens.yaml", 2),
];
const DB_COMMENT: &str = "# Database credentials of prod. Re-encrypt, never edit by hand.\n";
const KUSTOMIZATION: &str = "resources:\n- tokens.yaml\n";

/// Writes `bytes` to `path`, creating its directory.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Applies every SealedSecret of the file `path` (as GitOps would); other documents are
/// left alone. Returns how many it applied.
pub async fn apply_file(ctx: &Ctx, path: &Path) -> Result<usize> {
    let text = read_file(path)?;
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

/// One SealedSecret of the repository.
pub struct Item {
    /// File, relative to the repository root.
    pub file: &'static str,
    pub name: &'static str,
    pub scope: Scope,
    pub values: BTreeMap<String, Vec<u8>>,
}

/// The repository: its root, the application namespace and its SealedSecrets.
pub struct Repository {
    pub root: PathBuf,
    pub app: String,
    pub items: Vec<Item>,
}

impl Repository {
    /// Writes the repository under `root`: every item sealed with `cert` by `kubeseal
    /// --cert`, a comment above `db`, a ConfigMap between the two tokens, a
    /// kustomization without SealedSecrets.
    pub async fn write(ctx: &Ctx, root: &Path, app: &str, cert: &Path) -> Result<Repository> {
        let repo = Repository {
            root: root.to_path_buf(),
            app: app.to_owned(),
            items: items(),
        };
        let mut files: BTreeMap<&str, String> = BTreeMap::new();
        for item in &repo.items {
            let secret = plain_secret(app, item.name, &item.values, json!({}), json!({}));
            let sealed = kubeseal::seal_text(ctx, cert, item.scope, &secret).await?;
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
            write_file(&root.join(file), text.as_bytes())?;
        }
        Ok(repo)
    }

    /// `namespace/name` of every SealedSecret.
    pub fn names(&self) -> Vec<String> {
        self.items
            .iter()
            .map(|i| format!("{}/{}", self.app, i.name))
            .collect()
    }

    /// Applies the SealedSecrets of every file, as GitOps would.
    pub async fn apply(&self, ctx: &Ctx) -> Result<()> {
        for file in [
            "apps/prod/db.yaml",
            "apps/dev/api.yaml",
            "clusters/main/tokens.yaml",
        ] {
            apply_file(ctx, &self.root.join(file)).await?;
        }
        Ok(())
    }

    /// Waits until every SealedSecret is Synced on the key `fingerprint` and its Secret
    /// holds its values.
    pub async fn wait_opened_with(&self, ctx: &Ctx, fingerprint: &str) -> Result<()> {
        for item in &self.items {
            ctx.wait_opened_with(&self.app, item.name, fingerprint, &item.values)
                .await?;
        }
        Ok(())
    }

    /// Checks, without waiting, that every SealedSecret is still Synced on the key
    /// `fingerprint` and its Secret holds its values; `when` names the moment.
    pub async fn check_still_opened_with(
        &self,
        ctx: &Ctx,
        fingerprint: &str,
        when: &str,
    ) -> Result<()> {
        let app = &self.app;
        let api = objects::sealed_secrets(ctx.client(), app);
        for item in &self.items {
            let sealed = api
                .get(item.name)
                .await
                .with_context(|| format!("reading SealedSecret {app}/{}", item.name))?;
            assert_synced_true(&sealed).with_context(|| format!("{app}/{} {when}", item.name))?;
            ensure!(
                key_fingerprint(&sealed).as_deref() == Some(fingerprint),
                "{when}: expected {app}/{} on {fingerprint}, got {}",
                item.name,
                describe_sealed(&sealed)
            );
            let secret = objects::secrets(ctx.client(), app)
                .get(item.name)
                .await
                .with_context(|| format!("reading Secret {app}/{}", item.name))?;
            ensure!(
                secret_data(&secret) == item.values,
                "{when}: expected Secret {app}/{} to hold {}, got {}",
                item.name,
                show_bytes_map(&item.values),
                show_bytes_map(&secret_data(&secret))
            );
        }
        Ok(())
    }

    /// Every file of the repository and its bytes.
    pub fn snapshot(&self) -> Result<BTreeMap<PathBuf, Vec<u8>>> {
        let mut out = BTreeMap::new();
        let mut dirs = vec![self.root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in
                std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
            {
                let path = entry?.path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    out.insert(path.clone(), read_file(&path)?);
                }
            }
        }
        Ok(out)
    }

    /// `kubeseal reencrypt`'s report for the repository: one line per file with
    /// SealedSecrets (in name order) saying `verb`, then `summary`.
    pub fn reencrypt_report(&self, verb: &str, summary: &str) -> String {
        let mut text = String::new();
        for (file, n) in SEALED_FILES {
            let path = self.root.join(file);
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

    /// After `kubeseal reencrypt`: the files with SealedSecrets rewritten, the others as
    /// in `before`; the comment above `db` and the ConfigMap in `tokens.yaml` kept.
    pub fn check_reencrypted(&self, before: &BTreeMap<PathBuf, Vec<u8>>) -> Result<()> {
        for (path, bytes) in &self.snapshot()? {
            let was = before.get(path).map(Vec::as_slice).unwrap_or_default();
            let is_sealed = SEALED_FILES.iter().any(|(file, _)| path.ends_with(file));
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
        let db = String::from_utf8(read_file(&self.root.join("apps/prod/db.yaml"))?)?;
        ensure!(
            db.starts_with(DB_COMMENT),
            "kubeseal reencrypt: expected the comment above db kept, got:\n{db}"
        );
        let tokens = String::from_utf8(read_file(&self.root.join("clusters/main/tokens.yaml"))?)?;
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
        Ok(())
    }
}

fn items() -> Vec<Item> {
    vec![
        Item {
            file: "apps/prod/db.yaml",
            name: "db",
            scope: Scope::Strict,
            values: bytes_map(&[
                ("user", b"app"),
                ("password", b"db password, sealed with the old key"),
            ]),
        },
        Item {
            file: "apps/dev/api.yaml",
            name: "api",
            scope: Scope::NamespaceWide,
            values: bytes_map(&[("token", b"api token")]),
        },
        Item {
            file: "clusters/main/tokens.yaml",
            name: "token-a",
            scope: Scope::ClusterWide,
            values: bytes_map(&[("key", b"token a")]),
        },
        Item {
            file: "clusters/main/tokens.yaml",
            name: "token-b",
            scope: Scope::Strict,
            values: bytes_map(&[("key", b"token b")]),
        },
    ]
}
