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

/// What the fake serves.
pub struct Script {
    pub namespace: String,
    pub name: String,
    pub service: ServiceMode,
    /// Called with the endpoint path (`/v1/cert.pem`) and the request.
    pub controller: Arc<ControllerFn>,
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
    let mut cmd = super::kubeseal();
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
        return not_found_path();
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
