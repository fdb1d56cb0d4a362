//! The kubeconfig plus the kubectl flags, turned into a `kube::Config`, the way
//! client-go's loader does it: pick the context (`--context` or the current one), its
//! cluster and user (or `--cluster` / `--user`), then let each flag override one field.

use crate::cluster::{KubeOptions, load_kubeconfig};
use anyhow::{Context as _, Result, anyhow, bail};
use kube::config::{
    AuthInfo, Cluster, Context, KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster,
    NamedContext,
};
use std::time::Duration;

/// The name of the one context, cluster and user of the kubeconfig handed to kube.
const SELECTED: &str = "kubeseal";

/// Builds the client configuration; `offline` ends the error when no cluster is set up.
pub async fn config(
    options: &KubeOptions,
    timeout: Option<Duration>,
    offline: &str,
) -> Result<kube::Config> {
    let server_flag = nonempty(&options.server);
    let loaded = load_kubeconfig(options)?;
    if loaded.is_none() && server_flag.is_none() {
        bail!(
            "no Kubernetes cluster configured: set KUBECONFIG or pass --kubeconfig FILE (or --server URL){offline}"
        );
    }
    let (context, mut cluster, mut user) = select(loaded.unwrap_or_default(), options)?;
    override_cluster(&mut cluster, options);
    override_user(&mut user, options)?;
    if cluster.server.as_deref().is_none_or(str::is_empty) {
        match context {
            None => bail!(
                "the kubeconfig has no current-context: pass --context NAME or --server URL{offline}"
            ),
            Some(name) => bail!(
                "context {name:?} of the kubeconfig names no API server: pass --context NAME or --server URL{offline}"
            ),
        }
    }
    let server = cluster.server.clone().unwrap_or_default();
    let kubeconfig = Kubeconfig {
        clusters: vec![NamedCluster {
            name: SELECTED.to_owned(),
            cluster: Some(cluster),
            other: Default::default(),
        }],
        auth_infos: vec![NamedAuthInfo {
            name: SELECTED.to_owned(),
            auth_info: Some(user),
            other: Default::default(),
        }],
        contexts: vec![NamedContext {
            name: SELECTED.to_owned(),
            context: Some(Context {
                cluster: SELECTED.to_owned(),
                user: Some(SELECTED.to_owned()),
                namespace: None,
                extensions: None,
                other: Default::default(),
            }),
            other: Default::default(),
        }],
        current_context: Some(SELECTED.to_owned()),
        ..Default::default()
    };
    let options = KubeConfigOptions {
        context: Some(SELECTED.to_owned()),
        cluster: None,
        user: None,
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| anyhow!("cannot use the kubeconfig for API server {server}: {e}"))?;
    // kubeseal maps 429 and 503 itself; kube's retries would only hide them.
    config.default_retry = false;
    if let Some(t) = timeout {
        config.connect_timeout = Some(t);
        config.write_timeout = Some(t);
    }
    Ok(config)
}

fn nonempty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// The name of the chosen context and its cluster and user, as client-go picks them.
fn select(
    mut kubeconfig: Kubeconfig,
    options: &KubeOptions,
) -> Result<(Option<String>, Cluster, AuthInfo)> {
    let context_name = nonempty(&options.context)
        .map(str::to_owned)
        .or(kubeconfig.current_context.clone().filter(|c| !c.is_empty()));
    let context = match context_name.as_deref() {
        Some(name) => Some(
            kubeconfig
                .contexts
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.context.clone().unwrap_or_else(empty_context))
                .ok_or_else(|| {
                    anyhow!(
                        "context {name:?} not found in the kubeconfig: pass --context with one of {}",
                        names(kubeconfig.contexts.iter().map(|c| c.name.as_str()))
                    )
                })?,
        ),
        None => None,
    };
    let cluster_name = nonempty(&options.cluster)
        .map(str::to_owned)
        .or_else(|| context.as_ref().map(|c| c.cluster.clone()))
        .filter(|c| !c.is_empty());
    let cluster = match cluster_name {
        Some(name) => {
            let found = kubeconfig
                .clusters
                .iter_mut()
                .find(|c| c.name == name)
                .map(|c| c.cluster.take().unwrap_or_default());
            match found {
                Some(cluster) => cluster,
                None if nonempty(&options.server).is_some() => Cluster::default(),
                None => bail!(
                    "cluster {name:?} not found in the kubeconfig: pass --cluster with one of {}",
                    names(kubeconfig.clusters.iter().map(|c| c.name.as_str()))
                ),
            }
        }
        None => Cluster::default(),
    };
    let user_name = nonempty(&options.user)
        .map(str::to_owned)
        .or_else(|| context.as_ref().and_then(|c| c.user.clone()))
        .filter(|u| !u.is_empty());
    // client-go does not fail on a missing user, except one named by --user.
    let user = match user_name {
        Some(name) => {
            let found = kubeconfig
                .auth_infos
                .iter_mut()
                .find(|u| u.name == name)
                .map(|u| u.auth_info.take().unwrap_or_default());
            match found {
                Some(user) => user,
                None if nonempty(&options.user).is_some() => bail!(
                    "user {name:?} not found in the kubeconfig: pass --user with one of {}",
                    names(kubeconfig.auth_infos.iter().map(|u| u.name.as_str()))
                ),
                None => AuthInfo::default(),
            }
        }
        None => AuthInfo::default(),
    };
    Ok((context_name, cluster, user))
}

fn empty_context() -> Context {
    Context {
        cluster: String::new(),
        user: None,
        namespace: None,
        extensions: None,
        other: Default::default(),
    }
}

fn names<'a>(all: impl Iterator<Item = &'a str>) -> String {
    let list: Vec<String> = all.map(|n| format!("{n:?}")).collect();
    if list.is_empty() {
        "(none defined)".to_owned()
    } else {
        list.join(", ")
    }
}

/// `--server`, `--certificate-authority`, `--insecure-skip-tls-verify`,
/// `--tls-server-name`, `--proxy-url`, `--disable-compression`.
fn override_cluster(cluster: &mut Cluster, options: &KubeOptions) {
    if let Some(server) = nonempty(&options.server) {
        // client-go reads a bare host[:port] as https.
        cluster.server = Some(if server.contains("://") {
            server.to_owned()
        } else {
            format!("https://{server}")
        });
    }
    if let Some(ca) = nonempty(&options.certificate_authority) {
        cluster.certificate_authority = Some(ca.to_owned());
        cluster.certificate_authority_data = None;
    }
    if options.insecure_skip_tls_verify {
        cluster.insecure_skip_tls_verify = Some(true);
        if nonempty(&options.certificate_authority).is_none() {
            cluster.certificate_authority = None;
            cluster.certificate_authority_data = None;
        }
    }
    if let Some(name) = nonempty(&options.tls_server_name) {
        cluster.tls_server_name = Some(name.to_owned());
    }
    if let Some(proxy) = nonempty(&options.proxy_url) {
        cluster.proxy_url = Some(proxy.to_owned());
    }
    if options.disable_compression {
        cluster.disable_compression = Some(true);
    }
}

/// `--token`, `--client-certificate`, `--client-key`, `--username`, `--password`,
/// `--as`, `--as-group`, `--as-uid`.
fn override_user(user: &mut AuthInfo, options: &KubeOptions) -> Result<()> {
    if let Some(token) = nonempty(&options.token) {
        user.token = credentials("token", token)?.token;
        user.token_file = None;
        user.username = None;
        user.password = None;
        user.exec = None;
        user.auth_provider = None;
    }
    if let Some(username) = nonempty(&options.username) {
        user.username = Some(username.to_owned());
        if nonempty(&options.token).is_none() {
            user.token = None;
            user.token_file = None;
            user.exec = None;
            user.auth_provider = None;
        }
    }
    if let Some(password) = nonempty(&options.password) {
        user.password = credentials("password", password)?.password;
    }
    if let Some(cert) = nonempty(&options.client_certificate) {
        user.client_certificate = Some(cert.to_owned());
        user.client_certificate_data = None;
    }
    if let Some(key) = nonempty(&options.client_key) {
        user.client_key = Some(key.to_owned());
        user.client_key_data = None;
    }
    if let Some(name) = nonempty(&options.as_user) {
        user.impersonate = Some(name.to_owned());
    }
    if !options.as_group.is_empty() {
        user.impersonate_groups = Some(options.as_group.clone());
    }
    if let Some(uid) = nonempty(&options.as_uid) {
        user.impersonate_uid = Some(uid.to_owned());
    }
    Ok(())
}

/// An `AuthInfo` holding one credential field, so that kube keeps it in its own secret
/// type (which this crate does not name).
fn credentials(field: &str, value: &str) -> Result<AuthInfo> {
    let mut object = serde_json::Map::new();
    object.insert(
        field.to_owned(),
        serde_json::Value::String(value.to_owned()),
    );
    serde_json::from_value(serde_json::Value::Object(object))
        .with_context(|| format!("cannot use --{field}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options_with(kubeconfig: &str) -> (tempfile::TempDir, KubeOptions) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, kubeconfig).unwrap();
        let options = KubeOptions {
            kubeconfig: Some(path.display().to_string()),
            ..Default::default()
        };
        (dir, options)
    }

    const TWO: &str = "apiVersion: v1\nkind: Config\ncurrent-context: a\ncontexts:\n- name: a\n  context: {cluster: ca, user: ua}\n- name: b\n  context: {cluster: cb, user: ub}\nclusters:\n- name: ca\n  cluster: {server: 'http://a.example:80'}\n- name: cb\n  cluster: {server: 'http://b.example:80'}\nusers:\n- name: ua\n  user: {token: ta}\n- name: ub\n  user: {username: bob, password: pw}\n";

    fn build(options: &KubeOptions) -> Result<kube::Config> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(config(options, Some(Duration::from_secs(3)), ""))
    }

    #[test]
    fn the_current_context_or_the_flags_choose() {
        let (_dir, mut options) = options_with(TWO);
        let c = build(&options).unwrap();
        assert_eq!(c.cluster_url.to_string(), "http://a.example:80/");
        assert!(c.auth_info.token.is_some());
        assert!(!c.default_retry);
        assert_eq!(c.connect_timeout, Some(Duration::from_secs(3)));

        options.context = Some("b".into());
        let c = build(&options).unwrap();
        assert_eq!(c.cluster_url.to_string(), "http://b.example:80/");
        assert_eq!(c.auth_info.username.as_deref(), Some("bob"));

        options.context = None;
        options.cluster = Some("cb".into());
        options.user = Some("ub".into());
        let c = build(&options).unwrap();
        assert_eq!(c.cluster_url.to_string(), "http://b.example:80/");
        assert_eq!(c.auth_info.username.as_deref(), Some("bob"));
    }

    #[test]
    fn flags_override_single_fields() {
        let (_dir, mut options) = options_with(TWO);
        options.server = Some("other.example:6443".into());
        options.token = Some("tok".into());
        options.as_user = Some("alice".into());
        options.as_group = vec!["g1".into(), "g2".into()];
        options.as_uid = Some("42".into());
        options.tls_server_name = Some("api.internal".into());
        options.insecure_skip_tls_verify = true;
        let c = build(&options).unwrap();
        assert_eq!(c.cluster_url.to_string(), "https://other.example:6443/");
        assert!(c.auth_info.token.is_some() && c.auth_info.username.is_none());
        assert_eq!(c.auth_info.impersonate.as_deref(), Some("alice"));
        assert_eq!(
            c.auth_info.impersonate_groups,
            Some(vec!["g1".to_owned(), "g2".to_owned()])
        );
        assert_eq!(c.auth_info.impersonate_uid.as_deref(), Some("42"));
        assert_eq!(c.tls_server_name.as_deref(), Some("api.internal"));
        assert!(c.accept_invalid_certs);
    }

    #[test]
    fn unknown_names_and_missing_servers_are_explained() {
        let (_dir, mut options) = options_with(TWO);
        options.context = Some("nope".into());
        let e = build(&options).unwrap_err().to_string();
        assert!(e.contains("context \"nope\" not found") && e.contains("\"a\", \"b\""));
        options.context = None;
        options.user = Some("nobody".into());
        let e = build(&options).unwrap_err().to_string();
        assert!(e.contains("user \"nobody\" not found"), "{e}");

        let (_dir, options) = options_with("apiVersion: v1\nkind: Config\n");
        let e = build(&options).unwrap_err().to_string();
        assert!(e.contains("has no current-context"), "{e}");
    }
}
