//! The kubectl client options, and what kubeseal takes from the kubeconfig: the
//! namespace of the chosen context, used when a Secret names none (as kubectl does).

use anyhow::{Context, Result};
use kube::config::Kubeconfig;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The kubectl client options (`--kubeconfig`, `--context`, `--server`, ...) as given
/// on the command line; an empty value counts as not given.
#[derive(Clone, Default)]
pub struct KubeOptions {
    pub kubeconfig: Option<String>,
    pub namespace: Option<String>,
    pub context: Option<String>,
    pub cluster: Option<String>,
    pub user: Option<String>,
    pub server: Option<String>,
    pub token: Option<String>,
    pub certificate_authority: Option<String>,
    pub client_certificate: Option<String>,
    pub client_key: Option<String>,
    pub insecure_skip_tls_verify: bool,
    pub tls_server_name: Option<String>,
    /// `--request-timeout` as written; read only when a request is made, so a bad value
    /// does not stop offline work.
    pub request_timeout: String,
    pub as_user: Option<String>,
    pub as_group: Vec<String>,
    pub as_uid: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub proxy_url: Option<String>,
    pub disable_compression: bool,
}

/// `--token` and `--password` are credentials: `Debug` says only whether they are set.
pub(crate) fn redacted(value: &Option<String>) -> Option<&'static str> {
    value.as_ref().map(|_| "<redacted>")
}

impl fmt::Debug for KubeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeOptions")
            .field("kubeconfig", &self.kubeconfig)
            .field("context", &self.context)
            .field("cluster", &self.cluster)
            .field("user", &self.user)
            .field("server", &self.server)
            .field("namespace", &self.namespace)
            .field("token", &redacted(&self.token))
            .field("username", &self.username)
            .field("password", &redacted(&self.password))
            .finish_non_exhaustive()
    }
}

impl KubeOptions {
    /// `--request-timeout` as a duration; `0` means none.
    pub fn request_timeout(&self) -> Result<Option<Duration>> {
        let text = self.request_timeout.trim();
        if text.is_empty() || text == "0" {
            return Ok(None);
        }
        let parsed = if let Ok(secs) = text.parse::<u64>() {
            Duration::from_secs(secs)
        } else {
            let span: jiff::Span = text.parse().with_context(|| {
                format!("invalid --request-timeout {text:?}: use a number with a unit, such as 30s, 2m or 1h")
            })?;
            let secs = span.total(jiff::Unit::Second).unwrap_or(0.0).max(0.0);
            Duration::from_secs_f64(secs)
        };
        Ok(Some(parsed).filter(|d| !d.is_zero()))
    }
}

/// Loads the kubeconfig as client-go does: `--kubeconfig`, else every existing file
/// listed in `KUBECONFIG`, else `~/.kube/config`. `None` when there is none at all.
pub fn load_kubeconfig(options: &KubeOptions) -> Result<Option<Kubeconfig>> {
    if let Some(path) = options.kubeconfig.as_deref().filter(|p| !p.is_empty()) {
        let config = Kubeconfig::read_from(path)
            .with_context(|| format!("cannot read --kubeconfig {path:?}"))?;
        return Ok(Some(config));
    }
    let paths: Vec<PathBuf> = match std::env::var_os("KUBECONFIG") {
        Some(list) if !list.is_empty() => std::env::split_paths(&list)
            .filter(|p| p.is_file())
            .collect(),
        _ => home_config().into_iter().filter(|p| p.is_file()).collect(),
    };
    let mut merged: Option<Kubeconfig> = None;
    for path in paths {
        let config = Kubeconfig::read_from(&path)
            .with_context(|| format!("cannot read kubeconfig {path:?}"))?;
        merged = Some(match merged {
            None => config,
            Some(m) => m
                .merge(config)
                .with_context(|| format!("cannot merge kubeconfig {path:?}"))?,
        });
    }
    Ok(merged)
}

fn home_config() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube").join("config"))
}

/// The namespace kubeseal uses for a Secret that has none: `-n`, else the current (or
/// `--context`) context's namespace, else `default` when a context exists. `None` when
/// no kubeconfig is available.
pub fn default_namespace(options: &KubeOptions) -> Result<Option<String>> {
    if let Some(ns) = options.namespace.as_deref().filter(|n| !n.is_empty()) {
        return Ok(Some(ns.to_owned()));
    }
    let Some(config) = load_kubeconfig(options)? else {
        return Ok(None);
    };
    let wanted = options.context.clone().or(config.current_context.clone());
    let Some(wanted) = wanted.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let context = config.contexts.iter().find(|c| c.name == wanted);
    Ok(context.map(|named| {
        named
            .context
            .as_ref()
            .and_then(|c| c.namespace.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".to_owned())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout(text: &str) -> Result<Option<Duration>> {
        KubeOptions {
            request_timeout: text.to_owned(),
            ..KubeOptions::default()
        }
        .request_timeout()
    }

    #[test]
    fn request_timeout_reads_go_durations() {
        assert_eq!(timeout("0").unwrap(), None);
        assert_eq!(timeout("").unwrap(), None);
        assert_eq!(timeout("30").unwrap(), Some(Duration::from_secs(30)));
        assert_eq!(timeout("30s").unwrap(), Some(Duration::from_secs(30)));
        assert_eq!(timeout("2m").unwrap(), Some(Duration::from_secs(120)));
        assert_eq!(timeout("1h30m").unwrap(), Some(Duration::from_secs(5400)));
        assert_eq!(
            timeout("1500ms").unwrap(),
            Some(Duration::from_millis(1500))
        );
        assert!(
            timeout("soon")
                .unwrap_err()
                .to_string()
                .contains("--request-timeout")
        );
    }
}

#[cfg(test)]
mod debug_tests {
    use super::KubeOptions;

    #[test]
    fn debug_hides_the_token_and_password() {
        let options = KubeOptions {
            server: Some("https://api.example".into()),
            token: Some("tok-3f9a".into()),
            password: Some("pw-77c1".into()),
            ..KubeOptions::default()
        };
        let shown = format!("{options:?} {options:#?}");
        assert!(shown.contains("https://api.example"), "{shown}");
        assert!(
            !shown.contains("tok-3f9a") && !shown.contains("pw-77c1"),
            "{shown}"
        );
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
