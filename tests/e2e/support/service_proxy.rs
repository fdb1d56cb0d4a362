//! A controller running on this machine, exposed through the API server's service proxy
//! the way kubeseal reaches an in-cluster controller:
//! `/api/v1/namespaces/NS/services/http:NAME:PORT/proxy/...`.
//!
//! The Service has no selector; its addresses are written by hand. How the API server
//! picks an address differs by version, so everything any version needs is written:
//! - up to Kubernetes 1.34 it reads the Endpoints object named after the Service, takes
//!   the port whose name is the Service port's name, and only uses an address whose
//!   `targetRef` names a Pod of the namespace whose `status.podIPs` holds that address;
//!   hence a placeholder Pod that is never scheduled (unknown `schedulerName`), its
//!   status written by the test;
//! - from 1.35 on it reads the EndpointSlices labelled `kubernetes.io/service-name`.
//!
//! Endpoint addresses may not be loopback, so the controller listens on all interfaces
//! and is advertised at this machine's address towards the API server. [`repoint`]
//! moves the Service to a controller restarted on another port (a rolling update).

use crate::harness::Ctx;
use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ApiResource, GetParams, Patch, PatchParams, PostParams};
use kube::config::{Config, KubeConfigOptions, Kubeconfig};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::Path;
use std::time::Duration;

/// Sets the address the API server should use to reach this machine (default: the
/// local address of the route towards the API server, or of the default route when the
/// API server is on loopback).
pub const ADVERTISE_IP_ENV: &str = "SEALED_E2E_ADVERTISE_IP";

/// How long one request through the proxy may take. kube-apiserver gives up dialling a
/// backend after 30 s.
pub const PROXY_TIMEOUT: Duration = Duration::from_secs(45);

/// Label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The API server's host and port, from the kubeconfig's current context.
pub async fn api_server_host_port(kubeconfig: &Path) -> Result<(String, u16)> {
    let config = Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("reading {}", kubeconfig.display()))?;
    let config = Config::from_custom_kubeconfig(config, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("loading {}", kubeconfig.display()))?;
    let url = config.cluster_url.to_string();
    host_port(&url).with_context(|| format!("the API server URL {url:?}"))
}

/// `https://host:port/...` -> (host, port), the port defaulting to the scheme's.
pub fn host_port(url: &str) -> Result<(String, u16)> {
    let (scheme, rest) = url.split_once("://").context("no scheme")?;
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let default_port = if scheme.eq_ignore_ascii_case("http") {
        80
    } else {
        443
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').context("unclosed [")?;
        let port = after.strip_prefix(':').map(str::parse).transpose()?;
        (host.to_owned(), port.unwrap_or(default_port))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), port.parse()?),
            None => (authority.to_owned(), default_port),
        }
    };
    if host.is_empty() {
        bail!("no host");
    }
    Ok((host, port))
}

fn usable(ip: Ipv4Addr) -> bool {
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_link_local() || ip.is_multicast())
}

/// The local IPv4 address of the route to `target` (no packet is sent).
fn route_source(target: SocketAddr) -> Option<Ipv4Addr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect(target).ok()?;
    match socket.local_addr().ok()?.ip() {
        IpAddr::V4(ip) => Some(ip),
        IpAddr::V6(_) => None,
    }
}

/// This machine's IPv4 address as the API server at `host:port` should reach it:
/// [`ADVERTISE_IP_ENV`] if set; else the source address of the route to the API server;
/// when that is loopback (API server on this machine or port-forwarded, as with kind),
/// the source address of the default route.
pub fn advertise_ip(host: &str, port: u16) -> Result<Ipv4Addr> {
    if let Some(value) = std::env::var(ADVERTISE_IP_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        let ip: Ipv4Addr = value
            .trim()
            .parse()
            .with_context(|| format!("{ADVERTISE_IP_ENV}={value:?} is not an IPv4 address"))?;
        if !usable(ip) {
            bail!(
                "{ADVERTISE_IP_ENV}={ip}: endpoint addresses may not be loopback, link-local or unspecified"
            );
        }
        return Ok(ip);
    }
    let targets: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve the API server host {host:?}"))?
        .filter(SocketAddr::is_ipv4)
        .collect();
    let towards_api = targets.iter().find_map(|t| route_source(*t));
    if let Some(ip) = towards_api.filter(|ip| usable(*ip)) {
        return Ok(ip);
    }
    // A well-known public address, only to ask the routing table (UDP connect).
    let default_route = route_source(SocketAddr::from(([8, 8, 8, 8], 53)));
    match default_route.filter(|ip| usable(*ip)) {
        Some(ip) => Ok(ip),
        None => Err(anyhow!(
            "no non-loopback IPv4 address of this machine found (route to the API server {host}:{port} from {towards_api:?}, default route from {default_route:?}); set {ADVERTISE_IP_ENV}"
        )),
    }
}

fn typed<T: DeserializeOwned>(value: Value) -> Result<T> {
    serde_json::from_value(value).context("building an object")
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// What [`expose`] wrote.
#[derive(Debug, Clone)]
pub struct Exposure {
    /// `http:NAME:PORTNAME`, as kubeseal names the Service in the proxy path.
    pub proxy_id: String,
    /// Why the placeholder Pod could not be written, if it could not (API servers up to
    /// 1.34 then find no usable address).
    pub pod_problem: Option<String>,
}

/// Creates, in `ns`, a selector-less Service `name` with one port named `port_name`
/// (port 8080, targetPort `addr`'s port), the placeholder Pod, the Endpoints and an
/// EndpointSlice pointing at `addr`. Everything is deleted at the end of the test.
pub async fn expose(
    ctx: &Ctx,
    ns: &str,
    name: &str,
    port_name: &str,
    addr: SocketAddr,
) -> Result<Exposure> {
    let client = ctx.client().clone();
    let ip = addr.ip().to_string();
    let port = addr.port();
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let service: Service = typed(json!({
        "metadata": { "name": name, "labels": { "app.kubernetes.io/created-by": "sealed-e2e" } },
        "spec": {
            "type": "ClusterIP",
            "ports": [{ "name": port_name, "port": 8080, "protocol": "TCP", "targetPort": port }],
        },
    }))?;
    services
        .create(&PostParams::default(), &service)
        .await
        .with_context(|| format!("creating Service {ns}/{name}"))?;
    ctx.track(ApiResource::erase::<Service>(&()), ns, name);

    let pod_name = format!("{name}-e2e-placeholder");
    let pod_problem = match placeholder_pod(ctx, ns, &pod_name, &ip).await {
        Ok(()) => None,
        Err(e) => {
            let text = format!("{e:#}");
            println!(
                "note: cannot write the placeholder Pod {ns}/{pod_name} ({text}); API servers up to 1.34 will find no usable endpoint"
            );
            Some(text)
        }
    };
    let target_ref = pod_problem
        .is_none()
        .then(|| json!({ "kind": "Pod", "namespace": ns, "name": pod_name }));
    let mut address = json!({ "ip": ip });
    if let Some(r) = &target_ref {
        address["targetRef"] = r.clone();
    }
    let endpoints: Endpoints = typed(json!({
        "metadata": { "name": name, "labels": { "app.kubernetes.io/created-by": "sealed-e2e" } },
        "subsets": [{
            "addresses": [address],
            "ports": [{ "name": port_name, "port": port, "protocol": "TCP" }],
        }],
    }))?;
    Api::<Endpoints>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &endpoints)
        .await
        .with_context(|| format!("creating Endpoints {ns}/{name} -> {addr}"))?;
    ctx.track(ApiResource::erase::<Endpoints>(&()), ns, name);

    let slice_name = format!("{name}-e2e");
    let mut endpoint = json!({ "addresses": [ip], "conditions": { "ready": true } });
    if let Some(r) = &target_ref {
        endpoint["targetRef"] = r.clone();
    }
    let slice: EndpointSlice = typed(json!({
        "metadata": {
            "name": slice_name,
            "labels": {
                SERVICE_NAME_LABEL: name,
                // Not the endpointslice controller's: it leaves the slice alone.
                "endpointslice.kubernetes.io/managed-by": "sealed-e2e",
            },
        },
        "addressType": "IPv4",
        "endpoints": [endpoint],
        "ports": [{ "name": port_name, "port": port, "protocol": "TCP" }],
    }))?;
    Api::<EndpointSlice>::namespaced(client, ns)
        .create(&PostParams::default(), &slice)
        .await
        .with_context(|| format!("creating EndpointSlice {ns}/{slice_name} -> {addr}"))?;
    ctx.track(ApiResource::erase::<EndpointSlice>(&()), ns, &slice_name);

    Ok(Exposure {
        proxy_id: format!("http:{name}:{port_name}"),
        pod_problem,
    })
}

/// Points the Service `name` that [`expose`] wrote in `ns` at another port of the same
/// address, e.g. a controller restarted on a new port 0 (as a rolling update replaces
/// the pods behind a Service): the Service's targetPort and the port named `port_name`
/// of its Endpoints and EndpointSlice become `port`. The placeholder Pod stays valid
/// (it holds the address, not the port).
pub async fn repoint(ctx: &Ctx, ns: &str, name: &str, port_name: &str, port: u16) -> Result<()> {
    let client = ctx.client().clone();
    let number = i32::from(port);
    let named = |n: &Option<String>| n.as_deref().unwrap_or_default() == port_name;

    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let mut service = services
        .get(name)
        .await
        .with_context(|| format!("reading Service {ns}/{name}"))?;
    for p in service
        .spec
        .iter_mut()
        .flat_map(|s| s.ports.iter_mut().flatten())
        .filter(|p| named(&p.name))
    {
        p.target_port =
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(number));
    }
    services
        .replace(name, &PostParams::default(), &service)
        .await
        .with_context(|| format!("repointing Service {ns}/{name} to port {port}"))?;

    let endpoints_api: Api<Endpoints> = Api::namespaced(client.clone(), ns);
    let mut endpoints = endpoints_api
        .get(name)
        .await
        .with_context(|| format!("reading Endpoints {ns}/{name}"))?;
    let mut found = false;
    for p in endpoints
        .subsets
        .iter_mut()
        .flatten()
        .flat_map(|s| s.ports.iter_mut().flatten())
        .filter(|p| named(&p.name))
    {
        p.port = number;
        found = true;
    }
    if !found {
        bail!("Endpoints {ns}/{name} have no port named {port_name:?}");
    }
    endpoints_api
        .replace(name, &PostParams::default(), &endpoints)
        .await
        .with_context(|| format!("repointing Endpoints {ns}/{name} to port {port}"))?;

    let slice_name = format!("{name}-e2e");
    let slices: Api<EndpointSlice> = Api::namespaced(client, ns);
    let mut slice = slices
        .get(&slice_name)
        .await
        .with_context(|| format!("reading EndpointSlice {ns}/{slice_name}"))?;
    for p in slice.ports.iter_mut().flatten().filter(|p| named(&p.name)) {
        p.port = Some(number);
    }
    slices
        .replace(&slice_name, &PostParams::default(), &slice)
        .await
        .with_context(|| format!("repointing EndpointSlice {ns}/{slice_name} to port {port}"))?;
    Ok(())
}

/// A Pod that never runs (no scheduler takes it), with `ip` as its address.
async fn placeholder_pod(ctx: &Ctx, ns: &str, name: &str, ip: &str) -> Result<()> {
    let client = ctx.client().clone();
    // The ServiceAccount admission plugin wants the namespace's `default` account,
    // which only kube-controller-manager creates.
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let account: ServiceAccount = typed(json!({ "metadata": { "name": "default" } }))?;
    match accounts.create(&PostParams::default(), &account).await {
        Ok(_) => ctx.track(ApiResource::erase::<ServiceAccount>(&()), ns, "default"),
        Err(e) if is_status(&e, 409) => {}
        Err(e) => return Err(anyhow!(e).context("creating ServiceAccount default")),
    }
    let pods: Api<Pod> = Api::namespaced(client, ns);
    let pod: Pod = typed(json!({
        "metadata": { "name": name, "labels": { "app.kubernetes.io/created-by": "sealed-e2e" } },
        "spec": {
            "schedulerName": "sealed-e2e-never-scheduled",
            "automountServiceAccountToken": false,
            "securityContext": {
                "runAsNonRoot": true,
                "runAsUser": 65532,
                "seccompProfile": { "type": "RuntimeDefault" },
            },
            "containers": [{
                "name": "placeholder",
                "image": "registry.k8s.io/pause:3.10",
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "capabilities": { "drop": ["ALL"] },
                },
            }],
        },
    }))?;
    pods.create(&PostParams::default(), &pod)
        .await
        .with_context(|| format!("creating Pod {ns}/{name}"))?;
    ctx.track(ApiResource::erase::<Pod>(&()), ns, name);
    pods.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": { "podIP": ip, "podIPs": [{ "ip": ip }] } })),
    )
    .await
    .with_context(|| format!("writing status.podIPs of Pod {ns}/{name}"))?;
    Ok(())
}

/// What one request through the service proxy gave.
#[derive(Debug)]
pub enum ProxyAnswer {
    /// 2xx, with the body.
    Ok(String),
    /// The API server could not reach the backend (a dial error, or no answer in time).
    Unreachable(String),
    /// Anything else: status code and message.
    Failed(u16, String),
}

/// Whether a failed proxy request means "the API server cannot reach the backend".
pub fn is_unreachable(code: u16, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    (500..=504).contains(&code)
        && !m.contains("no endpoints available")
        && (m.contains("error trying to reach service")
            || m.contains("dial tcp")
            || m.contains("connection refused")
            || m.contains("i/o timeout")
            || m.contains("no route to host")
            || m.contains("network is unreachable")
            || m.contains("context deadline exceeded"))
}

/// `GET` of `path` on the Service `proxy_id` in `ns`, through the API server.
pub async fn get(ctx: &Ctx, ns: &str, proxy_id: &str, path: &str) -> Result<ProxyAnswer> {
    let request = kube::core::Request::new(format!("/api/v1/namespaces/{ns}/services"))
        .get(&format!("{proxy_id}/proxy{path}"), &GetParams::default())
        .context("building the proxy request")?;
    match tokio::time::timeout(PROXY_TIMEOUT, ctx.client().request_text(request)).await {
        Err(_) => Ok(ProxyAnswer::Unreachable(format!(
            "no answer within {}s",
            PROXY_TIMEOUT.as_secs()
        ))),
        Ok(Ok(text)) => Ok(ProxyAnswer::Ok(text)),
        Ok(Err(kube::Error::Api(status))) => {
            let message = format!("{} {}", status.code, status.message);
            Ok(if is_unreachable(status.code, &status.message) {
                ProxyAnswer::Unreachable(message)
            } else {
                ProxyAnswer::Failed(status.code, status.message)
            })
        }
        Ok(Err(e)) => Err(anyhow!(e).context(format!(
            "GET /api/v1/namespaces/{ns}/services/{proxy_id}/proxy{path}"
        ))),
    }
}

/// Why kubeseal cannot reach a local controller through the service proxy.
#[derive(Debug, Clone)]
pub enum Unreachable {
    /// No address of this machine to advertise (the error, shown in full).
    NoAddress(String),
    /// The API server could not connect to this machine (its message).
    NoRoute(String),
    /// The API server found no usable endpoint, and the placeholder Pod that older API
    /// servers want behind an address could not be written.
    NoEndpoint {
        code: u16,
        message: String,
        pod_problem: String,
    },
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unreachable::NoAddress(why) => f.write_str(why),
            Unreachable::NoRoute(message) => {
                write!(f, "the API server cannot reach this machine ({message})")
            }
            Unreachable::NoEndpoint {
                code,
                message,
                pod_problem,
            } => write!(
                f,
                "the API server found no usable endpoint ({code} {message}; the placeholder Pod could not be written: {pod_problem})"
            ),
        }
    }
}

/// What [`expose_and_probe`] found.
#[derive(Debug)]
pub enum Reach {
    /// `GET .../proxy/healthz` answered the controller's `ok`.
    Proxied {
        exposure: Exposure,
        /// The address the Service points at.
        backend: SocketAddr,
    },
    Unreachable(Unreachable),
}

/// Exposes the controller listening on port `api_port` of all interfaces as the Service
/// `name` (port `port_name`) of `ns`, at this machine's address (see [`expose`]), and
/// asks its `/healthz` through the service proxy. Any answer but `ok` or "cannot reach"
/// fails.
pub async fn expose_and_probe(
    ctx: &Ctx,
    ns: &str,
    name: &str,
    port_name: &str,
    api_port: u16,
) -> Result<Reach> {
    let (host, port) = api_server_host_port(ctx.kubeconfig()).await?;
    let ip = match advertise_ip(&host, port) {
        Ok(ip) => ip,
        Err(e) => return Ok(Reach::Unreachable(Unreachable::NoAddress(format!("{e:#}")))),
    };
    let backend = SocketAddr::new(ip.into(), api_port);
    let exposure = expose(ctx, ns, name, port_name, backend).await?;
    let path = format!(
        "/api/v1/namespaces/{ns}/services/{}/proxy/healthz",
        exposure.proxy_id
    );
    match get(ctx, ns, &exposure.proxy_id, "/healthz").await? {
        ProxyAnswer::Ok(body) => {
            if body != "ok\n" {
                bail!(
                    "GET {path}: expected \"ok\\n\" from the controller at {backend}, got {body:?}"
                );
            }
            Ok(Reach::Proxied { exposure, backend })
        }
        ProxyAnswer::Unreachable(message) => Ok(Reach::Unreachable(Unreachable::NoRoute(message))),
        ProxyAnswer::Failed(code, message)
            if message.contains("no endpoints available") && exposure.pod_problem.is_some() =>
        {
            Ok(Reach::Unreachable(Unreachable::NoEndpoint {
                code,
                message,
                pod_problem: exposure.pod_problem.unwrap_or_default(),
            }))
        }
        ProxyAnswer::Failed(code, message) => bail!(
            "GET {path}: expected 200 from the controller at {backend} (Service, Endpoints, EndpointSlice and placeholder Pod point there), got {code}: {message}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_server_urls() {
        assert_eq!(
            host_port("https://10.0.0.1:6443/").unwrap(),
            ("10.0.0.1".to_owned(), 6443)
        );
        assert_eq!(
            host_port("http://127.0.0.1:41000").unwrap(),
            ("127.0.0.1".to_owned(), 41000)
        );
        assert_eq!(
            host_port("https://api.example.com/prefix").unwrap(),
            ("api.example.com".to_owned(), 443)
        );
        assert_eq!(
            host_port("https://[fd00::1]:6443").unwrap(),
            ("fd00::1".to_owned(), 6443)
        );
        assert!(host_port("nonsense").is_err());
    }

    #[test]
    fn unreachable_backends_are_told_apart() {
        assert!(is_unreachable(
            500,
            "error trying to reach service: dial tcp 192.0.2.2:1: connect: connection refused"
        ));
        assert!(is_unreachable(
            503,
            "error trying to reach service: dial tcp 10.0.0.9:8080: i/o timeout"
        ));
        assert!(!is_unreachable(
            503,
            "no endpoints available for service \"sealed-secrets-controller\""
        ));
        assert!(!is_unreachable(404, "services \"x\" not found"));
        assert!(!is_unreachable(
            503,
            "not ready: the sealing keys are not loaded yet"
        ));
    }

    #[test]
    fn an_advertised_address_is_never_loopback() {
        if let Ok(ip) = advertise_ip("127.0.0.1", 6443) {
            assert!(usable(ip), "{ip}");
        }
    }
}
