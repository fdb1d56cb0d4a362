//! Wiring: connect, load keys, start renewal, run one reconcile loop per watched
//! namespace (or one for all), stop gracefully on SIGTERM.

use crate::flags::{Flags, parse_key_values};
use crate::http::limit::{ClientLimiter, parse_trusted_proxies};
use crate::http::{ApiState, Timeouts, listen_address, metrics_router, router, spawn_server};
use crate::keys::{
    KeyGenerator, KeyOrder, KeyRegistry, parse_cutoff_time, renew_as_leader, run_key_watch,
};
use crate::leader::{ElectionConfig, Leadership, default_identity, release, run_election};
use crate::metrics::Metrics;
use crate::reconcile::{Context, error_policy, reconcile};
use anyhow::{Context as _, Result, anyhow};
use futures::{Stream, StreamExt, stream};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, predicates};
use kube::{Api, Client, Config};
use sealed_common::SealedSecret;
use sealed_common::sealed_secret::KIND;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

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
    let generator = KeyGenerator {
        client: client.clone(),
        namespace: home.clone(),
        prefix: flags.key_prefix.clone(),
        bits: flags.key_size,
        validity: flags.key_ttl,
        common_name: flags.my_cn.clone(),
        labels,
        annotations,
        leader: Arc::clone(&leadership),
    };
    if flags.renew_period().is_zero() {
        tracing::info!("Key renewal disabled");
    }

    let mut ctx = Context::new(
        client.clone(),
        Arc::clone(&registry),
        Recorder::new(
            client.clone(),
            Reporter {
                controller: "sealed-secrets-controller".into(),
                instance: std::env::var("POD_NAME").ok(),
            },
        ),
    );
    ctx.accept_v1_data = flags.accept_deprecated_v1_data;
    ctx.update_status = flags.update_status;
    ctx.max_retries = flags.max_unseal_retries;
    ctx.templates = Some(Arc::new(gotemplate::render));
    ctx.metrics = Arc::new(Metrics::new(
        Arc::clone(&registry),
        Arc::clone(&ctx.usage),
        flags.metrics_omit_secret_labels,
    ));
    ctx.leader = Arc::clone(&leadership);
    let ctx = Arc::new(ctx);

    // The HTTP API starts before the keys are loaded: /healthz says not ready until then.
    // Every replica serves it, leader or not.
    start_http(&flags, trusted_proxies, &ctx, stop_rx.clone()).await?;

    let scopes: Vec<Option<String>> = match namespaces {
        None => vec![None],
        Some(list) => list.into_iter().map(Some).collect(),
    };
    let renewal = Renewal {
        generator,
        period: flags.renew_period(),
        cutoff,
    };
    loop {
        tokio::select! {
            () = leadership.until_leading() => {}
            () = stopped(stop_rx.clone()) => break,
        }
        lead(Term {
            flags: &flags,
            scopes: &scopes,
            ctx: &ctx,
            renewal: &renewal,
            manual: &mut manual_rx,
            stop: stop_rx.clone(),
        })
        .await;
        if *stop_rx.borrow() {
            break;
        }
        tracing::warn!(
            "no longer the leader: key renewal and reconcile loops stopped; serving the HTTP API and waiting to lead again"
        );
    }
    if let Some(config) = election {
        let api: Api<Lease> = Api::namespaced(client.clone(), &home);
        if let Err(error) = release(&api, &config).await {
            tracing::warn!(error = %crate::reconcile::api_message(&error), "cannot release the leader Lease; another replica takes over when it expires");
        }
    }
    Ok(())
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

/// What the renewal job needs, kept across leadership terms.
struct Renewal {
    generator: KeyGenerator,
    period: std::time::Duration,
    cutoff: Option<std::time::SystemTime>,
}

/// One leadership term's inputs.
struct Term<'a> {
    flags: &'a Flags,
    scopes: &'a [Option<String>],
    ctx: &'a Arc<Context>,
    renewal: &'a Renewal,
    manual: &'a mut mpsc::Receiver<()>,
    stop: watch::Receiver<bool>,
}

/// While this replica leads: renew keys and run the reconcile loops. Returns when the
/// process stops or the lead is lost (the loops get up to 10 s to finish).
async fn lead(term: Term<'_>) {
    let Term {
        flags,
        scopes,
        ctx,
        renewal,
        manual,
        stop,
    } = term;
    let registry = &ctx.registry;
    let (term_tx, term_rx) = watch::channel(false);
    let end = async {
        tokio::select! {
            () = stopped(stop) => {}
            () = ctx.leader.until_not_leading() => {}
        }
        let _ = term_tx.send(true);
    };
    let renew = async {
        tokio::select! {
            () = renew_as_leader(
                renewal.generator.clone(),
                Arc::clone(registry),
                renewal.period,
                renewal.cutoff,
                manual,
            ) => {}
            () = stopped(term_rx.clone()) => {}
        }
    };
    let reconcile = async {
        tokio::select! {
            () = wait_for_first_key(registry) => {}
            () = stopped(term_rx.clone()) => return,
        }
        let loops = scopes.iter().cloned().map(|namespace| {
            run_loop(LoopSpec {
                client: ctx.client.clone(),
                namespace,
                label_selector: flags.label_selector.clone(),
                recreate: !flags.skip_recreate,
                ctx: Arc::clone(ctx),
                stop: term_rx.clone(),
            })
        });
        let all = futures::future::join_all(loops);
        tokio::pin!(all);
        tokio::select! {
            _ = &mut all => {}
            () = stopped(term_rx.clone()) => {
                // A loop whose first list never succeeded (CRD missing, RBAC) does not
                // stop on its own; do not make the pod wait out its grace period.
                if tokio::time::timeout(std::time::Duration::from_secs(10), all).await.is_err() {
                    tracing::warn!("reconcile loops did not stop within 10 s; going on");
                }
            }
        }
    };
    tokio::join!(end, renew, reconcile);
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
    let state = ApiState {
        registry: Arc::clone(&ctx.registry),
        limiter: Arc::new(ClientLimiter::new(
            flags.rate_limit,
            flags.rate_limit_burst,
            trusted_proxies,
        )),
        metrics: Arc::clone(&ctx.metrics),
        cpu: Arc::clone(&ctx.cpu),
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
fn go_timeout(duration: std::time::Duration) -> std::time::Duration {
    if duration.is_zero() {
        std::time::Duration::from_secs(365 * 24 * 3600)
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

async fn wait_for_first_key(registry: &KeyRegistry) {
    let mut changes = registry.subscribe();
    while registry.keys().is_empty() || !registry.is_ready() {
        if changes.changed().await.is_err() {
            return;
        }
    }
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// One reconcile loop's inputs.
pub struct LoopSpec {
    pub client: Client,
    /// `None`: all namespaces.
    pub namespace: Option<String>,
    pub label_selector: String,
    pub recreate: bool,
    pub ctx: Arc<Context>,
    pub stop: watch::Receiver<bool>,
}

fn api_for<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Watches SealedSecrets (spec changes only), deletions of owned Secrets, and key
/// additions (to retry objects that did not open), and reconciles.
pub async fn run_loop(spec: LoopSpec) {
    let LoopSpec {
        client,
        namespace,
        label_selector,
        recreate,
        ctx,
        stop,
    } = spec;
    let mut config = watcher::Config::default();
    if !label_selector.is_empty() {
        config = config.labels(&label_selector);
    }
    let (reader, writer) = reflector::store();
    let sealed_secrets = watcher::watcher(
        api_for::<SealedSecret>(&client, namespace.as_deref()),
        config,
    )
    .default_backoff()
    .reflect(writer)
    .inspect({
        let ctx = Arc::clone(&ctx);
        let store = reader.clone();
        move |event| forget_deleted(&ctx, &store, event)
    })
    .applied_objects()
    .predicate_filter(predicates::generation, Default::default());

    let scope = namespace.clone().unwrap_or_else(|| "<all>".to_owned());
    ctx.metrics.watch_store(&scope, reader.clone());
    let mut controller = Controller::for_stream(sealed_secrets, reader.clone())
        .with_config(ControllerConfig::default().concurrency(16))
        .reconcile_on(retry_on_new_keys(ctx.registry.subscribe(), reader));
    if recreate {
        controller =
            controller.reconcile_on(deleted_owned_secrets(api_for::<PartialObjectMeta<Secret>>(
                &client,
                namespace.as_deref(),
            )));
    }
    controller
        .graceful_shutdown_on(stopped(stop))
        .run(reconcile, error_policy, ctx)
        .for_each(|result| {
            if let Err(error) = result {
                match error {
                    kube::runtime::controller::Error::ReconcilerFailed(..) => {}
                    other => tracing::warn!(namespace = %scope, error = %other, "controller loop"),
                }
            }
            std::future::ready(())
        })
        .await;
}

/// Drops what is remembered about deleted SealedSecrets (after a relist, about every
/// object no longer listed).
fn forget_deleted(
    ctx: &Context,
    store: &Store<SealedSecret>,
    event: &Result<Event<SealedSecret>, watcher::Error>,
) {
    match event {
        Ok(Event::Delete(sealed)) => ctx.forget(&ObjectRef::from_obj(sealed)),
        Ok(Event::InitDone) => ctx.forget_all_but(|object| store.get(object).is_some()),
        _ => {}
    }
}

/// When a key appears, the SealedSecrets whose last unseal failed are tried again.
fn retry_on_new_keys(
    revisions: watch::Receiver<crate::keys::Revision>,
    store: Store<SealedSecret>,
) -> impl Stream<Item = ObjectRef<SealedSecret>> + Send {
    let added = stream::unfold((revisions, None::<u64>), |(mut rx, seen)| async move {
        let seen = seen.unwrap_or_else(|| rx.borrow_and_update().added);
        loop {
            rx.changed().await.ok()?;
            let now = rx.borrow_and_update().added;
            if now != seen {
                return Some(((), (rx, Some(now))));
            }
        }
    });
    added.flat_map(move |_| {
        let failing: Vec<ObjectRef<SealedSecret>> = store
            .state()
            .iter()
            .filter(|s| !is_synced(s))
            .map(|s| ObjectRef::from_obj(s.as_ref()))
            .collect();
        stream::iter(failing)
    })
}

fn is_synced(sealed: &SealedSecret) -> bool {
    sealed
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| {
            c.iter()
                .any(|c| c.type_ == crate::reconcile::status::SYNCED && c.status == "True")
        })
}

/// Deleted Secrets controlled by a SealedSecret: their owner reconciles (recreates them).
/// A metadata-only watch, and nothing cached: memory does not grow with the cluster's
/// Secrets.
fn deleted_owned_secrets(
    api: Api<PartialObjectMeta<Secret>>,
) -> impl Stream<Item = ObjectRef<SealedSecret>> + Send {
    watcher::watcher(api, watcher::Config::default().page_size(500))
        .default_backoff()
        .filter_map(|event| {
            let owner = match event {
                Ok(Event::Delete(meta)) => {
                    let namespace = meta.metadata.namespace.clone().unwrap_or_default();
                    meta.metadata
                        .owner_references
                        .unwrap_or_default()
                        .into_iter()
                        .find(|r| {
                            r.controller == Some(true)
                                && r.kind == KIND
                                && r.api_version.starts_with("bitnami.com/")
                        })
                        .map(|r| ObjectRef::new(&r.name).within(&namespace))
                }
                Err(error) => {
                    tracing::warn!(%error, "watching Secrets (to recreate deleted ones) failed; retrying");
                    None
                }
                _ => None,
            };
            std::future::ready(owner)
        })
}

/// SIGUSR1 generates a new key at once, as upstream.
fn spawn_key_signal(trigger: mpsc::Sender<()>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut usr1) = signal(SignalKind::user_defined1()) else {
            return;
        };
        while usr1.recv().await.is_some() {
            tracing::info!("SIGUSR1: generating a new key");
            let _ = trigger.try_send(());
        }
    });
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
