//! What kubeseal takes from the kubeconfig: the namespace of the chosen context, used
//! when a Secret names none (as kubectl does).

use crate::flags::KubeFlags;
use anyhow::{Context, Result};
use kube::config::Kubeconfig;
use std::path::PathBuf;

/// Loads the kubeconfig as client-go does: `--kubeconfig`, else every existing file
/// listed in `KUBECONFIG`, else `~/.kube/config`. `None` when there is none at all.
pub fn load_kubeconfig(flags: &KubeFlags) -> Result<Option<Kubeconfig>> {
    if let Some(path) = flags.kubeconfig.as_deref().filter(|p| !p.is_empty()) {
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
pub fn default_namespace(flags: &KubeFlags) -> Result<Option<String>> {
    if let Some(ns) = flags.namespace.as_deref().filter(|n| !n.is_empty()) {
        return Ok(Some(ns.to_owned()));
    }
    let Some(config) = load_kubeconfig(flags)? else {
        return Ok(None);
    };
    let wanted = flags.context.clone().or(config.current_context.clone());
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
