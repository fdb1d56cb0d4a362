//! The per-test context and the runner that guarantees cleanup.
//!
//! [`run`] skips the test without `SEALED_E2E_KUBECONFIG`; otherwise it connects,
//! installs the CRD, runs the body, prints diagnostics if the body failed or panicked
//! (controller log tails, every SealedSecret / Secret / event of the test's namespaces),
//! and always cleans up: controllers killed, objects deleted, owned namespaces deleted
//! (without waiting: a cluster without a namespace controller never finishes that).

use crate::cluster::{self, SKIP_LINE};
use crate::controller::{Controller, ControllerSpec, Proc};
use crate::faults::{FakeFaults, server_has_fault_endpoints};
use crate::forwarder::ApiForwarder;
use crate::objects::{self, describe_events, describe_sealed, describe_secret};
use crate::wait::{Poll, default_timeout, wait_every, wait_for_with};
use anyhow::{Context, Result, anyhow};
use futures::FutureExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use kube::{Client, ResourceExt};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Held shared by every test, and exclusively by a test that injects faults into the
/// fake API server (they act on the whole server, so on every test running meanwhile).
/// Fair: once such a test waits for it, tests starting later wait for that test.
static SERVER_WIDE_FAULTS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Runs one end-to-end test. `name` is a short name used in object names.
pub async fn run<F, Fut>(name: &str, body: F) -> Result<()>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    run_test(name, false, body).await
}

/// [`run`] for a test that injects faults into the fake API server when it has the
/// `/_fault/*` endpoints ([`Ctx::fake_faults`]): there, it runs alone (no other test of
/// this process runs meanwhile) and every fault is cleared at the end. Against a real
/// API server it runs like any other test, and [`Ctx::fake_faults`] is `None`.
pub async fn run_alone_on_fake<F, Fut>(name: &str, body: F) -> Result<()>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    run_test(name, true, body).await
}

async fn run_test<F, Fut>(name: &str, may_inject_faults: bool, body: F) -> Result<()>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let Some(kubeconfig) = cluster::kubeconfig_path()? else {
        println!("{SKIP_LINE} [{name}]");
        return Ok(());
    };
    let client = cluster::client_from(&kubeconfig).await?;
    crate::crd::ensure_crd(&client).await?;
    let warning = cluster::other_controllers_warning(&client).await;
    let faults = if may_inject_faults && server_has_fault_endpoints(&client).await {
        Some(FakeFaults::new(client.clone()))
    } else {
        None
    };
    // Dropped after the cleanup below, so faults are cleared before others run.
    let (_alone, _shared) = if faults.is_some() {
        let started = std::time::Instant::now();
        let guard = SERVER_WIDE_FAULTS.write().await;
        eprintln!(
            "sealed-e2e: {name} injects faults into the fake API server: running alone (waited {:.1}s for the other tests)",
            started.elapsed().as_secs_f64()
        );
        (Some(guard), None)
    } else {
        (None, Some(SERVER_WIDE_FAULTS.read().await))
    };
    let ctx = Ctx::new(name, kubeconfig, client, faults)?;

    // The body's future is consumed here, so its locals (controllers) are dropped, and
    // their processes killed, before the cleanup below.
    let outcome = AssertUnwindSafe(body(ctx.clone())).catch_unwind().await;
    let failed = !matches!(outcome, Ok(Ok(())));
    if failed {
        if let Some(warning) = &warning {
            eprintln!("{warning}");
        }
        ctx.print_diagnostics().await;
    }
    ctx.cleanup().await;
    match outcome {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

struct Tracked {
    resource: ApiResource,
    namespace: String,
    name: String,
}

struct Inner {
    test: String,
    kubeconfig: PathBuf,
    client: Client,
    tmp: tempfile::TempDir,
    /// Namespaces this test created: emptied and deleted at the end.
    owned_namespaces: Mutex<Vec<String>>,
    /// Namespaces this test uses but did not create (diagnostics only).
    used_namespaces: Mutex<Vec<String>>,
    /// Fixed-name namespaces this test created (deleted only if the cluster can finish
    /// deleting them, see [`Ctx::cleanup`]).
    created_fixed_namespaces: Mutex<Vec<String>>,
    /// Objects in namespaces the test does not own: deleted at the end.
    tracked: Mutex<Vec<Tracked>>,
    procs: Mutex<Vec<Arc<Proc>>>,
    /// The fake API server's fault switches, for a test run alone on it.
    faults: Option<FakeFaults>,
}

/// What a test body gets: the client, the kubeconfig, namespaces, controllers, waits.
/// Cheap to clone.
#[derive(Clone)]
pub struct Ctx {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Ctx {
    fn new(
        test: &str,
        kubeconfig: PathBuf,
        client: Client,
        faults: Option<FakeFaults>,
    ) -> Result<Ctx> {
        let tmp = tempfile::Builder::new()
            .prefix(&format!("sealed-e2e-{test}-"))
            .tempdir()
            .context("cannot create a temporary directory")?;
        Ok(Ctx {
            inner: Arc::new(Inner {
                test: test.to_owned(),
                kubeconfig,
                client,
                tmp,
                owned_namespaces: Mutex::new(Vec::new()),
                used_namespaces: Mutex::new(Vec::new()),
                created_fixed_namespaces: Mutex::new(Vec::new()),
                tracked: Mutex::new(Vec::new()),
                procs: Mutex::new(Vec::new()),
                faults,
            }),
        })
    }

    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.inner.kubeconfig
    }

    pub fn test_name(&self) -> &str {
        &self.inner.test
    }

    /// A private temporary directory, removed at the end.
    pub fn tmp_dir(&self) -> &Path {
        self.inner.tmp.path()
    }

    /// Deadline for anything the controller has to do.
    pub fn timeout(&self) -> Duration {
        default_timeout()
    }

    /// `e2e-<test>-<part>-<random>`.
    pub fn unique(&self, part: &str) -> String {
        crate::names::unique(&self.inner.test, part)
    }

    /// Creates a fresh namespace `e2e-<test>-<part>-<random>`, deleted at the end.
    pub async fn namespace(&self, part: &str) -> Result<String> {
        let name = self.unique(part);
        let api: Api<Namespace> = Api::all(self.client().clone());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(objects::string_map(&[(
                    "app.kubernetes.io/created-by",
                    "sealed-e2e",
                )])),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        api.create(&PostParams::default(), &ns)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        lock(&self.inner.owned_namespaces).push(name.clone());
        Ok(name)
    }

    /// Makes sure the fixed namespace `name` exists. One this call creates is deleted at
    /// the end if the cluster can finish deleting it; an existing one is left alone.
    pub async fn ensure_namespace(&self, name: &str) -> Result<()> {
        let api: Api<Namespace> = Api::all(self.client().clone());
        let existing = self
            .wait_for(
                Duration::from_secs(60),
                &format!("namespace {name} to finish terminating"),
                || async {
                    let ns = api
                        .get_opt(name)
                        .await
                        .with_context(|| format!("reading namespace {name}"))?;
                    Ok(match ns {
                        Some(ns) if ns.metadata.deletion_timestamp.is_some() => Poll::Pending(
                            format!("namespace {name} is Terminating: {:?}", ns.status),
                        ),
                        other => Poll::Ready(other),
                    })
                },
            )
            .await
            .with_context(|| {
                format!(
                    "namespace {name} is stuck Terminating (a cluster without kube-controller-manager never \
                     finishes deleting namespaces); remove its finalizer, e.g. \
                     kubectl get ns {name} -o json | jq '.spec.finalizers=[]' | \
                     kubectl replace --raw /api/v1/namespaces/{name}/finalize -f -"
                )
            })?;
        if existing.is_some() {
            lock(&self.inner.used_namespaces).push(name.to_owned());
            return Ok(());
        }
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                labels: Some(objects::string_map(&[(
                    "app.kubernetes.io/created-by",
                    "sealed-e2e",
                )])),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        api.create(&PostParams::default(), &ns)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        lock(&self.inner.created_fixed_namespaces).push(name.to_owned());
        Ok(())
    }

    /// Deletes `namespace/name` of `resource` at the end (for objects in namespaces the
    /// test does not own; owned namespaces are emptied wholesale).
    pub fn track(&self, resource: ApiResource, namespace: &str, name: &str) {
        lock(&self.inner.tracked).push(Tracked {
            resource,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        });
    }

    /// Starts a controller as a local process; it is killed when the returned handle
    /// is dropped or stopped, and at the end of the test in any case.
    pub fn start_controller(&self, spec: ControllerSpec) -> Result<Controller> {
        let binaries = crate::binaries::binaries()?;
        let n = lock(&self.inner.procs).len() + 1;
        let label = format!("controller #{n} (home {})", spec.home);
        let log_path = self.tmp_dir().join(format!("controller-{n}.log"));
        let kubeconfig = spec.kubeconfig.as_deref().unwrap_or(self.kubeconfig());
        let controller =
            Controller::spawn(&binaries.controller, kubeconfig, &spec, label, log_path)?;
        lock(&self.inner.procs).push(controller.proc());
        Ok(controller)
    }

    /// The fake API server's fault switches: `Some` only against the fake with
    /// `/_fault/*` endpoints, in a test run with [`run_alone_on_fake`].
    pub fn fake_faults(&self) -> Option<&FakeFaults> {
        self.inner.faults.as_ref()
    }

    /// A forwarder to the API server that can cut a controller off from it (see
    /// [`crate::forwarder`]); start the controller with
    /// `ControllerSpec::new(..).kubeconfig(forwarder.kubeconfig())`.
    pub fn api_forwarder(&self) -> Result<ApiForwarder> {
        ApiForwarder::start(self.kubeconfig(), self.tmp_dir())
    }

    /// The test deleted its namespace `name` itself: the cleanup leaves it alone (it is
    /// gone, or Terminating), the diagnostics still look at it.
    pub fn namespace_deleted(&self, name: &str) {
        lock(&self.inner.owned_namespaces).retain(|ns| ns != name);
        lock(&self.inner.used_namespaces).push(name.to_owned());
    }

    /// `Err` if a controller of this test died without being stopped.
    pub fn check_controllers(&self) -> Result<()> {
        for proc in lock(&self.inner.procs).iter() {
            proc.check_running()?;
        }
        Ok(())
    }

    /// The log tails of this test's controllers, framed.
    pub fn controller_logs(&self, lines: usize) -> String {
        let procs = lock(&self.inner.procs);
        if procs.is_empty() {
            return "(no controller started)".to_owned();
        }
        procs
            .iter()
            .map(|p| p.log_tail_block(lines))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Bounded polling that also fails at once if a controller dies, and prints the
    /// controllers' log tails on timeout.
    pub async fn wait_for<T, F, Fut>(&self, timeout: Duration, what: &str, check: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Poll<T>>>,
    {
        wait_for_with(
            timeout,
            what,
            check,
            || self.check_controllers(),
            || self.controller_logs(40),
        )
        .await
    }

    /// [`Ctx::wait_for`] checking every `interval` (for checks that list many objects).
    pub async fn wait_every<T, F, Fut>(
        &self,
        interval: Duration,
        timeout: Duration,
        what: &str,
        check: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Poll<T>>>,
    {
        wait_every(
            interval,
            timeout,
            what,
            check,
            || self.check_controllers(),
            || self.controller_logs(40),
        )
        .await
    }

    fn all_namespaces(&self) -> Vec<String> {
        let mut all = lock(&self.inner.owned_namespaces).clone();
        all.extend(lock(&self.inner.created_fixed_namespaces).iter().cloned());
        all.extend(lock(&self.inner.used_namespaces).iter().cloned());
        all
    }

    /// Everything that helps understand a failure, on stderr. Secret values are never
    /// printed (only item names).
    async fn print_diagnostics(&self) {
        let mut out = format!(
            "\n===== sealed-e2e diagnostics for failed test {} =====\n",
            self.inner.test
        );
        out.push_str(&self.controller_logs(80));
        out.push('\n');
        out.push_str(&self.keep_logs());
        let client = self.client();
        for ns in self.all_namespaces() {
            out.push_str(&format!("--- namespace {ns} ---\n"));
            match objects::sealed_secrets(client, &ns)
                .list(&ListParams::default())
                .await
            {
                Ok(list) => {
                    for ss in &list.items {
                        out.push_str(&describe_sealed(ss));
                        out.push('\n');
                    }
                }
                Err(e) => out.push_str(&format!("(cannot list SealedSecrets: {e})\n")),
            }
            match objects::secrets(client, &ns)
                .list(&ListParams::default())
                .await
            {
                Ok(list) => {
                    for s in &list.items {
                        out.push_str(&describe_secret(s));
                        out.push('\n');
                    }
                }
                Err(e) => out.push_str(&format!("(cannot list Secrets: {e})\n")),
            }
            let events: Api<Event> = Api::namespaced(client.clone(), &ns);
            match events.list(&ListParams::default()).await {
                Ok(list) => {
                    for e in &list.items {
                        let about = e
                            .regarding
                            .as_ref()
                            .map(|r| {
                                format!(
                                    "{}/{}",
                                    r.kind.as_deref().unwrap_or("-"),
                                    r.name.as_deref().unwrap_or("-")
                                )
                            })
                            .unwrap_or_default();
                        out.push_str(&format!(
                            "event about {about}: {}\n",
                            describe_events(std::slice::from_ref(e))
                        ));
                    }
                }
                Err(e) => out.push_str(&format!("(cannot list events: {e})\n")),
            }
        }
        out.push_str("===== end of diagnostics =====\n");
        eprintln!("{out}");
    }

    /// Copies the controllers' full logs out of the temporary directory (which goes away
    /// at the end) and says where they are.
    fn keep_logs(&self) -> String {
        let procs = lock(&self.inner.procs).clone();
        if procs.is_empty() {
            return String::new();
        }
        let dir = std::env::temp_dir().join(crate::names::unique(&self.inner.test, "logs"));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            return format!(
                "(cannot keep the controller logs in {}: {e})\n",
                dir.display()
            );
        }
        let mut out = String::new();
        for proc in procs {
            let Some(file) = proc.log_path.file_name() else {
                continue;
            };
            let target = dir.join(file);
            match std::fs::copy(&proc.log_path, &target) {
                Ok(_) => out.push_str(&format!(
                    "full log of {}: {}\n",
                    proc.label,
                    target.display()
                )),
                Err(e) => {
                    out.push_str(&format!("(cannot copy {}: {e})\n", proc.log_path.display()))
                }
            }
        }
        out
    }

    /// Kills controllers, deletes tracked objects, empties and deletes owned namespaces.
    /// Problems are reported, never raised: cleanup must not hide the test's result.
    async fn cleanup(&self) {
        for proc in lock(&self.inner.procs).iter() {
            proc.kill();
        }
        if let Some(faults) = &self.inner.faults
            && let Err(e) = faults.clear().await
        {
            eprintln!("sealed-e2e cleanup: cannot clear the fake API server's faults: {e:#}");
        }
        let client = self.client();
        let tracked: Vec<Tracked> = lock(&self.inner.tracked).drain(..).rev().collect();
        for t in tracked {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), &t.namespace, &t.resource);
            if let Err(e) = objects::delete_if_present(&api, &t.name).await {
                eprintln!(
                    "sealed-e2e cleanup: cannot delete {} {}/{}: {e:#}",
                    t.resource.kind, t.namespace, t.name
                );
            }
        }
        let owned: Vec<String> = lock(&self.inner.owned_namespaces).drain(..).collect();
        let fixed: Vec<String> = lock(&self.inner.created_fixed_namespaces)
            .drain(..)
            .collect();
        // A deleted namespace only goes away if kube-controller-manager runs; otherwise
        // it stays Terminating forever and a fixed name could never be used again.
        // kube-controller-manager publishes the ConfigMap kube-root-ca.crt in every
        // namespace within seconds: its presence in one of ours is the probe.
        let mut deletable = Vec::new();
        if !fixed.is_empty() {
            let mut manager_runs = false;
            for ns in owned.iter().chain(fixed.iter()) {
                let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
                if matches!(api.get_opt("kube-root-ca.crt").await, Ok(Some(_))) {
                    manager_runs = true;
                    break;
                }
            }
            for ns in fixed {
                if manager_runs {
                    deletable.push(ns);
                } else {
                    eprintln!(
                        "sealed-e2e cleanup: left the namespace {ns} (created by this test, its objects deleted) \
                         in place: without kube-controller-manager a deleted namespace stays Terminating \
                         forever and {ns} could not be used by the next run"
                    );
                }
            }
        }
        for ns in owned.into_iter().chain(deletable) {
            // Without kube-controller-manager nothing empties a deleted namespace, so
            // delete what the test may have put there first.
            let results = [
                delete_all(&objects::sealed_secrets(client, &ns)).await,
                delete_all(&Api::<Secret>::namespaced(client.clone(), &ns)).await,
                delete_all(&Api::<ConfigMap>::namespaced(client.clone(), &ns)).await,
            ];
            for r in results {
                if let Err(e) = r {
                    eprintln!("sealed-e2e cleanup: namespace {ns}: {e:#}");
                }
            }
            let api: Api<Namespace> = Api::all(client.clone());
            if let Err(e) = objects::delete_if_present(&api, &ns).await {
                eprintln!("sealed-e2e cleanup: cannot delete namespace {ns}: {e:#}");
            }
        }
    }
}

async fn delete_all<K>(api: &Api<K>) -> Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| anyhow!(e).context("listing objects to delete"))?;
    for item in list.items {
        objects::delete_if_present(api, &item.name_any()).await?;
    }
    Ok(())
}
