//! Talking to the controller the way upstream kubeseal does: through the Kubernetes API
//! server's service proxy, `/api/v1/namespaces/NS/services/http:NAME:PORT/proxy/v1/...`,
//! where PORT is the name of the first port of the controller's Service.
//!
//! kubeseal is synchronous; a current-thread runtime lives as long as the session.

mod client;
mod proxy;

use crate::cluster::KubeOptions;
use anyhow::{Context, Result, anyhow};
use http::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use http::{Method, StatusCode};
pub use proxy::{Answer, RateLimited, percent_encode};
use proxy::{Endpoint, Target};
use std::time::Duration;

/// Ends of error lines: what works without a cluster.
pub const OFFLINE_SEAL: &str = "; or seal offline with --cert FILE";
pub const OFFLINE_VALIDATE: &str = "; offline, --recovery-unseal with a backup of the controller's keys checks that a SealedSecret opens";
pub const OFFLINE_RE_ENCRYPT: &str =
    "; offline, seal the original Secret again with --cert FILE and the current certificate";

/// Where the controller is (`--controller-name`, `--controller-namespace`) and how to
/// reach the API server.
#[derive(Clone, Debug, Default)]
pub struct Connection {
    pub controller_name: String,
    pub controller_namespace: String,
    pub kube: KubeOptions,
}

/// A connection to the controller, its Service found.
pub struct Controller {
    runtime: tokio::runtime::Runtime,
    client: kube::Client,
    target: Target,
    /// `/api/v1/namespaces/NS/services/http:NAME:PORT/proxy`.
    base: String,
    timeout: Option<Duration>,
    timeout_flag: String,
}

/// What the controller said about one SealedSecret.
#[derive(Debug)]
pub enum Verdict {
    /// It opens; the body of the answer.
    Opens(Vec<u8>),
    /// It does not open; the controller's reason, when it gave one.
    DoesNotOpen(Option<String>),
}

impl Controller {
    /// Builds the client from the kubeconfig and flags and finds the controller's
    /// Service (`--controller-name`, `--controller-namespace`). `offline` ends errors
    /// that mean there is no usable cluster.
    pub fn connect(connection: &Connection, offline: &str) -> Result<Controller> {
        let mut controller = Controller::connect_api(connection, offline)?;
        let service = proxy::service_path(&controller.target.namespace, &controller.target.name);
        let answer = controller.send(Method::GET, &service, "application/json, */*", None)?;
        let port = proxy::port_name(&answer, &controller.target)?;
        controller.base =
            proxy::proxy_base(&controller.target.namespace, &controller.target.name, &port);
        Ok(controller)
    }

    /// A connection to the Kubernetes API server only, for calls that do not need the
    /// controller's Service ([`Controller::api`]); the controller's endpoints are not
    /// reachable through it.
    pub fn connect_api(connection: &Connection, offline: &str) -> Result<Controller> {
        // kube's TLS is rustls on aws-lc-rs; a second install is a harmless no-op.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let kube = &connection.kube;
        let timeout = kube.request_timeout()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the network runtime")?;
        let config = runtime.block_on(client::config(kube, timeout, offline))?;
        let api_url = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_owned();
        let client = {
            // The client spawns its worker on the runtime it is built in.
            let _entered = runtime.enter();
            kube::Client::try_from(config).map_err(|e| {
                anyhow!(
                    "cannot set up the connection to the Kubernetes API server at {api_url}: {e}"
                )
            })?
        };
        let target = Target {
            namespace: connection.controller_namespace.clone(),
            name: connection.controller_name.clone(),
            api_url,
            offline: offline.to_owned(),
        };
        Ok(Controller {
            runtime,
            client,
            target,
            base: String::new(),
            timeout,
            timeout_flag: kube.request_timeout.clone(),
        })
    }

    /// `GET /v1/cert.pem`: the certificate(s), as the controller sent them.
    pub fn certificate(&self) -> Result<Vec<u8>> {
        let answer = self.call(Endpoint::Cert, "application/x-pem-file, */*", None)?;
        match answer.status {
            StatusCode::OK => Ok(answer.body),
            _ => Err(proxy::failure(Endpoint::Cert, &answer, &self.target))
                .context("cannot fetch certificate"),
        }
    }

    /// `POST /v1/verify` with one SealedSecret as JSON.
    pub fn verify(&self, sealed_json: Vec<u8>) -> Result<Verdict> {
        let answer = self.call(Endpoint::Verify, "*/*", Some(sealed_json))?;
        match answer.status {
            StatusCode::OK => Ok(Verdict::Opens(answer.body)),
            StatusCode::CONFLICT => Ok(Verdict::DoesNotOpen(answer.detail())),
            _ => Err(proxy::failure(Endpoint::Verify, &answer, &self.target)),
        }
    }

    /// `POST /v1/rotate` with one SealedSecret as JSON; the answer is the SealedSecret
    /// sealed again with the newest key.
    pub fn rotate(&self, sealed_json: Vec<u8>) -> Result<Verdict> {
        let answer = self.call(Endpoint::Rotate, "application/json, */*", Some(sealed_json))?;
        match answer.status {
            StatusCode::OK => Ok(Verdict::Opens(answer.body)),
            StatusCode::CONFLICT => Ok(Verdict::DoesNotOpen(answer.detail())),
            // Upstream's controller answers a SealedSecret it cannot open this way.
            StatusCode::INTERNAL_SERVER_ERROR if answer.detail().is_none() => {
                Ok(Verdict::DoesNotOpen(Some(
                    "the controller answered 500 with no details; check that the SealedSecret opens: kubeseal --validate".to_owned(),
                )))
            }
            _ => Err(proxy::failure(Endpoint::Rotate, &answer, &self.target)),
        }
    }

    /// `--controller-namespace/--controller-name`, for messages.
    pub fn name(&self) -> String {
        format!("{}/{}", self.target.namespace, self.target.name)
    }

    /// `--controller-namespace`.
    pub fn namespace(&self) -> &str {
        &self.target.namespace
    }

    /// `GET /v1/keys`: the controller's keys as JSON, or `None` when the controller does
    /// not serve that endpoint (an upstream controller answers its own 404).
    pub fn keys(&self) -> Result<Option<Vec<u8>>> {
        let answer = self.call(Endpoint::Keys, "application/json, */*", None)?;
        match answer.status {
            StatusCode::OK => Ok(Some(answer.body)),
            StatusCode::NOT_FOUND if answer.status_message().is_none() => Ok(None),
            _ => Err(proxy::failure(Endpoint::Keys, &answer, &self.target))
                .context("cannot list the controller's keys"),
        }
    }

    /// One request to the Kubernetes API itself (`/api/...`, `/apis/...`), not through
    /// the service proxy; `body` is its content type and bytes. Any status is returned:
    /// the caller words what it means.
    pub fn api(&self, method: Method, path: &str, body: Option<(&str, Vec<u8>)>) -> Result<Answer> {
        let (content_type, body) = match body {
            Some((content_type, bytes)) => (Some(content_type), Some(bytes)),
            None => (None, None),
        };
        self.send_typed(method, path, "application/json", body, content_type)
    }

    fn call(&self, endpoint: Endpoint, accept: &str, body: Option<Vec<u8>>) -> Result<Answer> {
        let method = if body.is_some() {
            Method::POST
        } else {
            Method::GET
        };
        let path = format!("{}{}", self.base, endpoint.path());
        self.send(method, &path, accept, body)
    }

    /// One request, read whole, within `--request-timeout`.
    fn send(
        &self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer> {
        self.send_typed(method, path, accept, body, None)
    }

    /// [`Controller::send`] with the body's content type (JSON unless given).
    fn send_typed(
        &self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
    ) -> Result<Answer> {
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(ACCEPT, accept);
        if body.is_some() {
            request = request.header(CONTENT_TYPE, content_type.unwrap_or("application/json"));
        }
        let request = request
            .body(kube::client::Body::from(body.unwrap_or_default()))
            .with_context(|| format!("cannot build the request for {path}"))?;
        let exchange = async {
            let response = self.client.send(request).await?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = response.into_body().collect_bytes().await?;
            Ok::<_, kube::Error>(Answer {
                status,
                body: body.to_vec(),
                retry_after,
            })
        };
        let outcome = match self.timeout {
            Some(limit) => self
                .runtime
                .block_on(async { tokio::time::timeout(limit, exchange).await })
                .map_err(|_| self.timed_out())?,
            None => self.runtime.block_on(exchange),
        };
        outcome.map_err(|e| self.unreachable(&e))
    }

    fn timed_out(&self) -> anyhow::Error {
        anyhow!(
            "the Kubernetes API server at {} did not answer within {} (--request-timeout); check that it is reachable (kubeconfig, --context, --server) or allow more time{}",
            self.target.api_url,
            self.timeout_flag,
            self.target.offline
        )
    }

    fn unreachable(&self, error: &kube::Error) -> anyhow::Error {
        let url = &self.target.api_url;
        let offline = &self.target.offline;
        if let kube::Error::Auth(e) = error {
            return anyhow!(
                "cannot authenticate to the Kubernetes API server at {url}: {}; check the user of the kubeconfig context (--user, --token){offline}",
                cause_chain(e)
            );
        }
        if timed_out(error) {
            return self.timed_out();
        }
        let cause = cause_chain(error);
        let check = if cause.contains("certificate") {
            "check the server's CA (certificate-authority in the kubeconfig, --certificate-authority) and name (--tls-server-name)"
        } else {
            "check the kubeconfig and its context (--kubeconfig, --context, --server)"
        };
        anyhow!("cannot reach the Kubernetes API server at {url}: {cause}; {check}{offline}")
    }
}

/// True when a timeout of the connection (connect, read or write) ended the request.
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// An error and its causes on one line, without the library's own labels and
/// without repeating a cause that the previous message already quotes.
fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let mut text = e.to_string();
        for label in ["ServiceError: ", "HyperError: ", "HttpError: "] {
            if let Some(rest) = text.strip_prefix(label) {
                text = rest.to_owned();
            }
        }
        let repeated = parts.last().is_some_and(|last| last.contains(&text));
        if !text.is_empty() && !repeated {
            if let Some(last) = parts.last_mut()
                && text.contains(last.as_str())
            {
                *last = text;
            } else {
                parts.push(text);
            }
        }
        next = e.source();
    }
    sealed_common::codec::one_line(&parts.join(": "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<dyn std::error::Error + 'static>>);
    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref()
        }
    }

    #[test]
    fn causes_are_joined_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let e = Layer(
            "ServiceError: client error (Connect)",
            Some(Box::new(Layer(
                "client error (Connect)",
                Some(Box::new(Layer("tcp connect error", Some(Box::new(io))))),
            ))),
        );
        assert_eq!(
            cause_chain(&e),
            "client error (Connect): tcp connect error: connection refused"
        );
        assert!(!timed_out(&e));
        let slow = Layer(
            "client error",
            Some(Box::new(std::io::Error::from(std::io::ErrorKind::TimedOut))),
        );
        assert!(timed_out(&slow));
    }
}
