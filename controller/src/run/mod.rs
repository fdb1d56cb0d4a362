//! Wiring: connect, load keys, serve the HTTP API, run one reconcile loop per watched
//! namespace (or one for all) and key renewal while leading, stop gracefully on SIGTERM.
//! `terms` holds the leadership terms, `loops` the reconcile loops, `triggers` what
//! wakes them besides SealedSecret changes.

mod loops;
mod outage;
mod signals;
mod terms;
pub mod triggers;

pub use loops::{LoopSpec, run_loop};

use crate::flags::{Flags, parse_key_values, parse_trusted_proxies};
use crate::http::limit::ClientLimiter;
use crate::http::{
    ApiState, Timeouts, apiserver, listen_address, metrics_router, router, rsa_pool, spawn_server,
};
use crate::keys::{KeyGenerator, KeyOrder, KeyRegistry, parse_cutoff_time, run_key_watch};
use crate::leader::{ElectionConfig, Leadership, default_identity, release, run_election};
use crate::reconcile::{Context, Settings};
use anyhow::{Context as _, Result, anyhow};
use k8s_openapi::api::coordination::v1::Lease;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use signals::{shutdown_signal, spawn_key_signal, stopped};
use std::sync::Arc;
use std::time::Duration;
use terms::{Renewal, renew_while_leading};
use tokio::sync::{mpsc, watch};

/// How long the reconcile loops get to finish on shutdown.
const LOOPS_GRACE: Duration = Duration::from_secs(10);

const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// The cluster connection and the home namespace.
pub struct Connection {
    pub client: Client,
    pub home: String,
}

/// In-cluster config, else the kubeconfig (`--kubeconfig`, `$KUBECONFIG`, `~/.kube/config`).
pub async fn connect(flags: &Flags) -> Result<Connection> {
    let config = match &flags.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read --kubeconfig {path}"))?;
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .with_context(|| format!("cannot use --kubeconfig {path}"))?
        }
        None => match Config::incluster() {
            Ok(config) => config,
            Err(in_cluster) => Config::from_kubeconfig(&KubeConfigOptions::default())
                .await
                .map_err(|e| {
                    anyhow!("no cluster configuration: not in a cluster ({in_cluster}) and no usable kubeconfig ({e}); pass --kubeconfig PATH")
                })?,
        },
    };
    let client = Client::try_from(config).context("cannot build the Kubernetes client")?;
    Ok(Connection {
        client,
        home: home_namespace(flags.namespace.as_deref()),
    })
}

/// `--namespace`, else `$POD_NAMESPACE`, else the service account's namespace, else
/// `kube-system` (where upstream's manifests install the controller).
pub fn home_namespace(flag: Option<&str>) -> String {
    let from_env = std::env::var("POD_NAMESPACE").ok();
    let from_file = std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE).ok();
    [flag.map(str::to_owned), from_env, from_file]
        .into_iter()
        .flatten()
        .map(|ns| ns.trim().to_owned())
        .find(|ns| !ns.is_empty())
        .unwrap_or_else(|| "kube-system".to_owned())
}

/// Flag values that need parsing beyond clap, checked before connecting.
pub struct Checked {
    pub cutoff: Option<std::time::SystemTime>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub labels: std::collections::BTreeMap<String, String>,
    pub annotations: std::collections::BTreeMap<String, String>,
    /// `--leader-elect` settings; `None` when election is off.
    pub election: Option<ElectionConfig>,
}

/// Checks the flags clap cannot, so a typo fails at once with the flag's name.
pub fn check(flags: &Flags) -> Result<Checked> {
    if !(2048..=8192).contains(&flags.key_size) {
        return Err(anyhow!(
            "--key-size {}: must be between 2048 and 8192 bits",
            flags.key_size
        ));
    }
    for (flag, value) in [
        ("--listen-addr", &flags.listen_addr),
        ("--listen-metrics-addr", &flags.listen_metrics_addr),
    ] {
        listen_address(value).map_err(|e| anyhow!("{flag}: {e}"))?;
    }
    Ok(Checked {
        cutoff: parse_cutoff_time(&flags.key_cutoff_time).map_err(|e| anyhow!(e))?,
        trusted_proxies: parse_trusted_proxies(&flags.rate_limit_trusted_proxies)
            .map_err(|e| anyhow!(e))?,
        labels: parse_key_values("privatekey-labels", &flags.privatekey_labels)
            .map_err(|e| anyhow!(e))?,
        annotations: parse_key_values("privatekey-annotations", &flags.privatekey_annotations)
            .map_err(|e| anyhow!(e))?,
        election: election_config(flags)?,
    })
}

/// Runs the controller until SIGTERM/SIGINT.
pub async fn run(flags: Flags, checked: Checked, connection: Connection) -> Result<()> {
    let Connection { client, home } = connection;
    let Checked {
        cutoff,
        trusted_proxies,
        labels,
        annotations,
        election,
    } = checked;
    let namespaces = watched_namespaces(&flags, &home);
    tracing::info!(home = %home, namespaces = ?namespaces.as_deref().unwrap_or(&["<all>".to_owned()]), "Starting sealed-secrets controller");

    let registry = KeyRegistry::with_activation_delay(
        KeyOrder::from_flag(&flags.key_order_priority),
        flags.key_activation_delay,
    );
    tokio::spawn(run_key_watch(
        client.clone(),
        home.clone(),
        flags.key_prefix.clone(),
        Arc::clone(&registry),
    ));

    let (manual_tx, mut manual_rx) = mpsc::channel(1);
    spawn_key_signal(manual_tx);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    });

    let leadership = match &election {
        Some(config) => {
            let leadership = Leadership::candidate();
            tokio::spawn(run_election(
                Api::namespaced(client.clone(), &home),
                config.clone(),
                Arc::clone(&leadership),
                stop_rx.clone(),
            ));
            tracing::info!(identity = %config.identity, lease = %format!("{home}/{}", config.lease_name), "leader election on; waiting to lead before writing");
            leadership
        }
        None => Leadership::sole(),
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        Arc::clone(&registry),
        Arc::clone(&leadership),
        settings(&flags),
    ));

    // The HTTP API starts before the keys are loaded: /healthz says not ready until then.
    // Every replica serves it, leader or not.
    start_http(&flags, trusted_proxies, &ctx, stop_rx.clone()).await?;

    // The watches and their stores live as long as the process, on every replica.
    let scopes: Vec<Option<String>> = match namespaces {
        None => vec![None],
        Some(list) => list.into_iter().map(Some).collect(),
    };
    let loops = futures::future::join_all(scopes.into_iter().map(|namespace| {
        run_loop(LoopSpec {
            client: client.clone(),
            namespace,
            label_selector: flags.label_selector.clone(),
            recreate: !flags.skip_recreate,
            ctx: Arc::clone(&ctx),
            stop: stop_rx.clone(),
        })
    }));
    let loops = tokio::spawn(loops);
    tokio::spawn(outage::watch_for_recovery(
        Arc::clone(&ctx),
        stop_rx.clone(),
    ));

    if flags.renew_period().is_zero() {
        tracing::info!("Key renewal disabled");
    }
    let renewal = Renewal {
        generator: KeyGenerator {
            client: client.clone(),
            namespace: home.clone(),
            prefix: flags.key_prefix.clone(),
            bits: flags.key_size,
            validity: flags.key_ttl,
            common_name: flags.my_cn.clone(),
            labels,
            annotations,
            leader: Arc::clone(&leadership),
        },
        period: flags.renew_period(),
        cutoff,
        registry,
    };
    renew_while_leading(&leadership, &renewal, &mut manual_rx, stop_rx.clone()).await;
    stopped(stop_rx).await;

    // A loop whose first list never succeeded (CRD missing, RBAC) does not stop on its
    // own; do not make the pod wait out its grace period.
    if tokio::time::timeout(LOOPS_GRACE, loops).await.is_err() {
        tracing::warn!("reconcile loops did not stop within 10 s; going on");
    }
    if let Some(config) = election {
        let api: Api<Lease> = Api::namespaced(client.clone(), &home);
        if let Err(error) = release(&api, &config).await {
            tracing::warn!(error = %crate::api_error::message(&error), "cannot release the leader Lease; another replica takes over when it expires");
        }
    }
    Ok(())
}

/// The reconciler's settings from the flags.
fn settings(flags: &Flags) -> Settings {
    Settings {
        accept_v1_data: flags.accept_deprecated_v1_data,
        update_status: flags.update_status,
        max_unseal_retries: flags.max_unseal_retries,
        templates: Some(Arc::new(gotemplate::Engine::new())),
        omit_secret_labels: flags.metrics_omit_secret_labels,
        instance: std::env::var("POD_NAME").ok(),
        max_rsa_decryptions: sealed_common::crypto::MAX_RSA_DECRYPTIONS,
    }
}

/// `--leader-elect` settings, checked; `None` when election is off.
pub fn election_config(flags: &Flags) -> Result<Option<ElectionConfig>> {
    if !flags.leader_elect {
        return Ok(None);
    }
    let config = ElectionConfig {
        lease_name: flags.leader_elect_lease_name.clone(),
        identity: default_identity(),
        lease_duration: flags.leader_elect_lease_duration,
        renew_deadline: flags.leader_elect_renew_deadline,
        retry_period: flags.leader_elect_retry_period,
    };
    config.check().map_err(|e| anyhow!(e))?;
    Ok(Some(config))
}

/// Serves the HTTP API and the metrics until `stop`.
async fn start_http(
    flags: &Flags,
    trusted_proxies: Vec<ipnet::IpNet>,
    ctx: &Context,
    stop: watch::Receiver<bool>,
) -> Result<()> {
    let timeouts = Timeouts {
        read: go_timeout(flags.read_timeout),
        write: go_timeout(flags.write_timeout),
    };
    let limiter = Arc::new(ClientLimiter::new(
        flags.rate_limit,
        flags.rate_limit_burst,
        trusted_proxies,
    ));
    if flags.rate_limit > 0 {
        tokio::spawn(apiserver::keep_current(
            ctx.client.clone(),
            Arc::clone(&limiter),
            apiserver::REFRESH,
            stop.clone(),
        ));
    }
    let state = ApiState {
        registry: Arc::clone(&ctx.registry),
        limiter,
        metrics: Arc::clone(&ctx.metrics),
        cpu: rsa_pool(),
        max_rsa_decryptions: sealed_common::crypto::MAX_RSA_DECRYPTIONS,
        accept_v1_data: flags.accept_deprecated_v1_data,
        read_timeout: timeouts.read,
    };
    spawn_server(
        "HTTP server",
        &flags.listen_addr,
        router(state, timeouts),
        timeouts.read,
        stop.clone(),
    )
    .await?;
    spawn_server(
        "HTTP metrics server",
        &flags.listen_metrics_addr,
        metrics_router(Arc::clone(&ctx.metrics)),
        timeouts.read,
        stop,
    )
    .await?;
    Ok(())
}

/// Go's http.Server reads a zero timeout as "none".
fn go_timeout(duration: Duration) -> Duration {
    if duration.is_zero() {
        Duration::from_secs(365 * 24 * 3600)
    } else {
        duration
    }
}

/// `None` for all namespaces; else the home namespace plus `--additional-namespaces`.
pub fn watched_namespaces(flags: &Flags, home: &str) -> Option<Vec<String>> {
    if flags.all_namespaces {
        return None;
    }
    let mut list = vec![home.to_owned()];
    for ns in flags.additional_namespaces() {
        if !list.contains(&ns) {
            list.push(ns);
        }
    }
    Some(list)
}
