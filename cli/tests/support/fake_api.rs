//! A stand-in for the Kubernetes API server, on 127.0.0.1 over plain HTTP: it serves
//! the controller's Service and the service proxy to a scripted controller, and records
//! every request so that tests can check the exact paths, headers and bodies.

use assert_cmd::Command;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the fake API server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// The raw (still percent-encoded) path.
    pub path: String,
    /// The raw query string, "" when there is none.
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// `METHOD path`, for compact assertions.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    /// Never answer (until the test process ends).
    pub hang: bool,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            content_type: content_type.to_owned(),
            body: body.into(),
            headers: Vec::new(),
            hang: false,
        }
    }

    pub fn text(status: u16, body: &str) -> Reply {
        Reply::new(status, "text/plain; charset=utf-8", body)
    }

    pub fn json(status: u16, value: &Value) -> Reply {
        Reply::new(
            status,
            "application/json",
            serde_json::to_vec(value).unwrap(),
        )
    }

    pub fn pem(body: impl Into<Vec<u8>>) -> Reply {
        Reply::new(200, "application/x-pem-file", body)
    }

    /// A Kubernetes `Status`, as the API server writes its own failures.
    pub fn status(code: u16, reason: &str, message: &str) -> Reply {
        Reply::json(
            code,
            &json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Failure", "message": message, "reason": reason, "code": code
            }),
        )
    }

    /// What the API server answers through the proxy when no controller pod is ready.
    pub fn no_endpoints(service: &str) -> Reply {
        Reply::status(
            503,
            "ServiceUnavailable",
            &format!("no endpoints available for service \"{service}\""),
        )
    }

    pub fn hang() -> Reply {
        Reply {
            hang: true,
            ..Reply::text(200, "")
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// How the controller's Service looks.
#[derive(Clone, Debug)]
pub enum ServiceMode {
    /// One port with this name ("" for a port without a name).
    Port(String),
    /// A Service with no ports at all.
    NoPorts,
    /// No such Service: 404 as the API server writes it.
    Missing,
    /// Any other answer to the Service GET.
    Reply(Reply),
}

type ControllerFn = dyn Fn(&str, &Recorded) -> Reply + Send + Sync;
type ApiFn = dyn Fn(&Recorded) -> Option<Reply> + Send + Sync;

/// What the fake serves.
pub struct Script {
    pub namespace: String,
    pub name: String,
    pub service: ServiceMode,
    /// Called with the endpoint path (`/v1/cert.pem`) and the request.
    pub controller: Arc<ControllerFn>,
    /// Called for every other request (the Kubernetes API itself); `None` falls through
    /// to the API server's 404.
    pub api: Option<Arc<ApiFn>>,
}

impl Script {
    /// `kube-system/sealed-secrets-controller` with port `http`; a controller that
    /// answers 404 to everything until told otherwise.
    pub fn new() -> Script {
        Script {
            namespace: "kube-system".into(),
            name: "sealed-secrets-controller".into(),
            service: ServiceMode::Port("http".into()),
            controller: Arc::new(|_, _| Reply::text(404, "404 page not found\n")),
            api: None,
        }
    }

    pub fn service(mut self, mode: ServiceMode) -> Script {
        self.service = mode;
        self
    }

    pub fn controller_at(mut self, namespace: &str, name: &str) -> Script {
        self.namespace = namespace.into();
        self.name = name.into();
        self
    }

    pub fn on(mut self, f: impl Fn(&str, &Recorded) -> Reply + Send + Sync + 'static) -> Script {
        self.controller = Arc::new(f);
        self
    }

    /// Answers requests to the Kubernetes API (anything but the controller's Service and
    /// its proxy) with `f`, e.g. a [`Store`].
    pub fn api(mut self, f: impl Fn(&Recorded) -> Option<Reply> + Send + Sync + 'static) -> Script {
        self.api = Some(Arc::new(f));
        self
    }
}

struct Shared {
    script: Script,
    requests: Mutex<Vec<Recorded>>,
}

/// A running fake API server and a kubeconfig that points at it.
pub struct FakeApi {
    pub url: String,
    shared: Arc<Shared>,
    dir: tempfile::TempDir,
}

pub const TOKEN: &str = "fake-token";

impl FakeApi {
    pub fn start(script: Script) -> FakeApi {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            script,
            requests: Mutex::new(Vec::new()),
        });
        let state = shared.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(handle).with_state(state);
                axum::serve(listener, app).await.unwrap();
            });
        });
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config"), kubeconfig(&url)).unwrap();
        FakeApi { url, shared, dir }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// `METHOD path` of every request so far.
    pub fn lines(&self) -> Vec<String> {
        self.requests().iter().map(Recorded::line).collect()
    }

    /// kubeseal pointed at this server with `--kubeconfig`.
    pub fn kubeseal(&self) -> Command {
        let mut cmd = online_kubeseal();
        cmd.arg("--kubeconfig").arg(self.kubeconfig());
        cmd
    }
}

/// `support::kubeseal()` without proxy variables, which would send kube elsewhere.
pub fn online_kubeseal() -> Command {
    without_proxies(super::kubeseal())
}

/// `cmd` without proxy variables.
pub fn without_proxies(mut cmd: Command) -> Command {
    for var in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// A kubeconfig with one context that uses `server` and a bearer token.
pub fn kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\nclusters:\n- name: fake\n  cluster:\n    server: {server}\nusers:\n- name: fake\n  user:\n    token: {TOKEN}\n"
    )
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: body.to_vec(),
    };
    shared.requests.lock().unwrap().push(request.clone());
    let reply = route(&shared.script, &request);
    if reply.hang {
        tokio::time::sleep(Duration::from_secs(120)).await;
    }
    let mut response = Response::builder()
        .status(reply.status)
        .header("content-type", reply.content_type);
    for (k, v) in reply.headers {
        response = response.header(k, v);
    }
    response.body(Body::from(reply.body)).unwrap()
}

fn route(script: &Script, request: &Recorded) -> Reply {
    let Script {
        namespace, name, ..
    } = script;
    let services = format!("/api/v1/namespaces/{namespace}/services/");
    let Some(rest) = request.path.strip_prefix(&services) else {
        return script
            .api
            .as_ref()
            .and_then(|api| api(request))
            .unwrap_or_else(not_found_path);
    };
    if rest == name && request.method == "GET" {
        return match &script.service {
            ServiceMode::Port(port) => {
                let mut entry = json!({"port": 8080, "protocol": "TCP", "targetPort": 8080});
                if !port.is_empty() {
                    entry["name"] = json!(port);
                }
                Reply::json(200, &service(namespace, name, json!({"ports": [entry]})))
            }
            ServiceMode::NoPorts => {
                Reply::json(200, &service(namespace, name, json!({"type": "ClusterIP"})))
            }
            ServiceMode::Missing => missing(name),
            ServiceMode::Reply(reply) => reply.clone(),
        };
    }
    if let ServiceMode::Port(port) = &script.service
        && let Some(endpoint) = rest.strip_prefix(&format!("http:{name}:{port}/proxy"))
    {
        return (script.controller)(endpoint, request);
    }
    not_found_path()
}

fn service(namespace: &str, name: &str, spec: Value) -> Value {
    json!({
        "kind": "Service", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace, "uid": "0b9e", "resourceVersion": "42"},
        "spec": spec,
        "status": {"loadBalancer": {}}
    })
}

/// The real API server's answer for a Service that does not exist.
pub fn missing(name: &str) -> Reply {
    Reply::json(
        404,
        &json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("services \"{name}\" not found"), "reason": "NotFound",
            "details": {"name": name, "kind": "services"}, "code": 404
        }),
    )
}

fn not_found_path() -> Reply {
    Reply::status(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

/// A little of the Kubernetes API in memory, for [`Script::api`]: Secrets (list with a
/// label selector, get, create, JSON merge patch) and a list of SealedSecrets in all
/// namespaces. Any `METHOD path` can be scripted to fail instead.
#[derive(Clone, Default)]
pub struct Store {
    inner: Arc<Mutex<StoreData>>,
}

#[derive(Default)]
struct StoreData {
    secrets: std::collections::BTreeMap<(String, String), Value>,
    sealed_secrets: Vec<Value>,
    failures: Vec<(String, Reply)>,
    versions: u64,
}

impl Store {
    pub fn new() -> Store {
        Store::default()
    }

    /// Stores a Secret as given (its `metadata.namespace` and `metadata.name` place it).
    pub fn with_secret(self, secret: Value) -> Store {
        let key = (
            secret["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_owned(),
            secret["metadata"]["name"].as_str().unwrap().to_owned(),
        );
        self.inner.lock().unwrap().secrets.insert(key, secret);
        self
    }

    pub fn with_sealed_secret(self, sealed: Value) -> Store {
        self.inner.lock().unwrap().sealed_secrets.push(sealed);
        self
    }

    /// Answers `line` (`METHOD path`, no query) with `reply`.
    pub fn fail(self, line: &str, reply: Reply) -> Store {
        self.inner
            .lock()
            .unwrap()
            .failures
            .push((line.to_owned(), reply));
        self
    }

    pub fn secret(&self, namespace: &str, name: &str) -> Option<Value> {
        self.inner
            .lock()
            .unwrap()
            .secrets
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    pub fn secret_names(&self) -> Vec<String> {
        self.inner
            .lock()
            .unwrap()
            .secrets
            .keys()
            .map(|(ns, name)| format!("{ns}/{name}"))
            .collect()
    }

    /// The handler for [`Script::api`].
    pub fn handler(&self) -> impl Fn(&Recorded) -> Option<Reply> + Send + Sync + 'static {
        let store = self.clone();
        move |request| store.handle(request)
    }

    fn handle(&self, request: &Recorded) -> Option<Reply> {
        let mut data = self.inner.lock().unwrap();
        let line = request.line();
        if let Some((_, reply)) = data.failures.iter().find(|(l, _)| *l == line) {
            return Some(reply.clone());
        }
        let method = request.method.as_str();
        if request.path == "/apis/bitnami.com/v1alpha1/sealedsecrets" && method == "GET" {
            return Some(Reply::json(
                200,
                &json!({
                    "kind": "SealedSecretList", "apiVersion": "bitnami.com/v1alpha1",
                    "metadata": {"resourceVersion": "77"}, "items": data.sealed_secrets
                }),
            ));
        }
        let rest = request.path.strip_prefix("/api/v1/namespaces/")?;
        let (namespace, rest) = rest.split_once('/')?;
        let rest = rest.strip_prefix("secrets")?;
        let namespace = namespace.to_owned();
        match (method, rest) {
            ("GET", "") => {
                let selector = query_param(&request.query, "labelSelector");
                let items: Vec<Value> = data
                    .secrets
                    .iter()
                    .filter(|((ns, _), _)| *ns == namespace)
                    .map(|(_, secret)| secret)
                    .filter(|secret| selector.as_deref().is_none_or(|s| selects(s, secret)))
                    .map(|secret| {
                        // Items of a list carry no kind or apiVersion.
                        let mut item = secret.clone();
                        let object = item.as_object_mut().unwrap();
                        object.remove("kind");
                        object.remove("apiVersion");
                        item
                    })
                    .collect();
                Some(Reply::json(
                    200,
                    &json!({"kind": "SecretList", "apiVersion": "v1",
                            "metadata": {"resourceVersion": "78"}, "items": items}),
                ))
            }
            ("POST", "") => {
                let mut secret: Value = match serde_json::from_slice(&request.body) {
                    Ok(v) => v,
                    Err(e) => return Some(Reply::status(400, "BadRequest", &e.to_string())),
                };
                let name = secret["metadata"]["name"].as_str().unwrap_or("").to_owned();
                if secret["metadata"].get("resourceVersion").is_some() {
                    return Some(Reply::status(
                        400,
                        "BadRequest",
                        "resourceVersion should not be set on objects to be created",
                    ));
                }
                if secret["metadata"]["namespace"]
                    .as_str()
                    .is_some_and(|ns| ns != namespace)
                {
                    return Some(Reply::status(
                        400,
                        "BadRequest",
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                let key = (namespace.clone(), name.clone());
                if data.secrets.contains_key(&key) {
                    return Some(Reply::status(
                        409,
                        "AlreadyExists",
                        &format!("secrets \"{name}\" already exists"),
                    ));
                }
                data.versions += 1;
                let meta = secret["metadata"].as_object_mut().unwrap();
                meta.insert("namespace".into(), json!(namespace));
                meta.insert("uid".into(), json!(format!("uid-{}", data.versions)));
                meta.insert("resourceVersion".into(), json!(data.versions.to_string()));
                meta.insert("creationTimestamp".into(), json!("2026-11-23T08:00:00Z"));
                data.secrets.insert(key, secret.clone());
                Some(Reply::json(201, &secret))
            }
            ("GET", name) | ("PATCH", name) if name.starts_with('/') => {
                let key = (namespace.clone(), name[1..].to_owned());
                let Some(secret) = data.secrets.get_mut(&key) else {
                    return Some(Reply::status(
                        404,
                        "NotFound",
                        &format!("secrets \"{}\" not found", &name[1..]),
                    ));
                };
                if method == "PATCH" {
                    if request.header("content-type") != Some("application/merge-patch+json") {
                        return Some(Reply::status(
                            415,
                            "UnsupportedMediaType",
                            "the body of the request was in an unknown format",
                        ));
                    }
                    let patch: Value = serde_json::from_slice(&request.body).unwrap();
                    merge_patch(secret, &patch);
                }
                let mut secret = secret.clone();
                secret["kind"] = json!("Secret");
                secret["apiVersion"] = json!("v1");
                Some(Reply::json(200, &secret))
            }
            _ => None,
        }
    }
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(fields) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let object = target.as_object_mut().unwrap();
    for (key, value) in fields {
        if value.is_null() {
            object.remove(key);
        } else {
            merge_patch(object.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// `key` or `key=value` (comma-separated: all must hold).
fn selects(selector: &str, object: &Value) -> bool {
    let labels = &object["metadata"]["labels"];
    selector.split(',').all(|term| match term.split_once('=') {
        Some((key, value)) => labels[key].as_str() == Some(value),
        None => labels.get(term).is_some(),
    })
}
