//! The controller's HTTP API (`--listen-addr`): health, the sealing certificate, the
//! key inventory, and the verify and rotate checks `kubeseal` reaches through the API
//! server's service proxy; and the metrics server (`--listen-metrics-addr`).

pub mod apiserver;
mod handlers;
pub mod limit;

use crate::keys::KeyRegistry;
use crate::metrics::Metrics;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use limit::ClientLimiter;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;
use tower_http::timeout::TimeoutLayer;

/// Largest request body accepted. A SealedSecret is stored in etcd, which caps objects
/// at 1.5 MiB; anything larger cannot be a real one.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Connections served at once by one server. Each may hold a request body of up to
/// [`MAX_BODY_BYTES`], so this also bounds the memory requests can take (128 MiB).
/// `kubeseal` makes one request at a time, and the API server's proxy reuses its
/// connections: 64 is far above real use.
pub const MAX_CONNECTIONS: usize = 64;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub registry: Arc<KeyRegistry>,
    pub limiter: Arc<ClientLimiter>,
    pub metrics: Arc<Metrics>,
    /// Bounds the RSA work of `/v1/verify` and `/v1/rotate`: the API's own pool
    /// ([`rsa_pool`]), never the reconcilers', so requests cannot starve unsealing.
    pub cpu: Arc<Semaphore>,
    /// RSA decryptions one request may take
    /// (`sealed_common::crypto::MAX_RSA_DECRYPTIONS`, as a reconcile).
    pub max_rsa_decryptions: usize,
    pub accept_v1_data: bool,
    /// Time allowed to receive a request body (`--read-timeout`).
    pub read_timeout: Duration,
}

/// The API's pool for RSA work: half the cores, at least one. The reconcilers keep
/// their own pool of one job per core; on two cores a flood of requests then takes at
/// most one core from them.
pub fn rsa_pool() -> Arc<Semaphore> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Arc::new(Semaphore::new((cores / 2).max(1)))
}

/// `--read-timeout` and `--write-timeout`, as Go's http.Server applies them.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub read: Duration,
    pub write: Duration,
}

/// The API routes. Requests past `--write-timeout` get 503.
pub fn router(state: ApiState, timeouts: Timeouts) -> Router {
    let metrics = Arc::clone(&state.metrics);
    Router::new()
        .route("/healthz", get(handlers::healthz))
        .route("/readyz", get(handlers::healthz))
        .route("/v1/cert.pem", get(handlers::cert))
        .route("/v1/keys", get(handlers::keys))
        .route("/v1/verify", post(handlers::verify))
        .route("/v1/rotate", post(handlers::rotate))
        .route_layer(middleware::from_fn_with_state(metrics, instrument))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeouts.write,
        ))
        .with_state(state)
}

/// The metrics route.
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(serve_metrics))
        .with_state(metrics)
}

async fn serve_metrics(State(metrics): State<Arc<Metrics>>) -> Response {
    match metrics.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => handlers::text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the metrics",
        ),
    }
}

/// Counts and times the API calls as upstream's `Instrument` does (health checks are
/// not counted, as upstream).
async fn instrument(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let start = Instant::now();
    let response = next.run(request).await;
    if let Some(path) = path.filter(|p| p.starts_with("/v1/")) {
        metrics.http_request(
            &path,
            &method.to_ascii_lowercase(),
            response.status().as_u16(),
            start.elapsed().as_secs_f64(),
        );
    }
    response
}

/// Parses a Go-style listen address: `:8080` means all interfaces.
pub fn listen_address(text: &str) -> Result<SocketAddr, String> {
    let full = if text.starts_with(':') {
        format!("0.0.0.0{text}")
    } else {
        text.to_owned()
    };
    full.parse()
        .or_else(|_| {
            use std::net::ToSocketAddrs;
            full.to_socket_addrs()
                .ok()
                .and_then(|mut addrs| addrs.next())
                .ok_or(())
        })
        .map_err(|_| format!("{text:?} is not a listen address (expected HOST:PORT or :PORT)"))
}

/// Serves `app` on `listener` until `stop` turns true, then lets open requests finish.
/// Each connection gets the peer address (for the rate limiter) and a header read
/// timeout, which `axum::serve` lacks (slow clients could hold connections forever).
///
/// At most `max_connections` are served at once. A connection past that is answered
/// 503 at once and closed, rather than left waiting: a connection not accepted waits in
/// the kernel's backlog with no answer until the client gives up, and the kubelet's
/// probes would wait behind the flood; refusing costs one write and tells the client
/// to retry.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    read_timeout: Duration,
    max_connections: usize,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let (closing_tx, closing_rx) = watch::channel(false);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = turned_true(&mut stop) => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(%error, "cannot accept an HTTP connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            refuse(&stream, peer);
            continue;
        };
        let service =
            app.clone()
                .map_request(move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    request.map(axum::body::Body::new)
                });
        let mut closing = closing_rx.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(read_timeout)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = turned_true(&mut closing) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    let _ = closing_tx.send(true);
}

/// Answers a connection past [`MAX_CONNECTIONS`] without reading it. A fresh socket's
/// send buffer takes these few bytes at once; if not, it is just closed.
fn refuse(stream: &tokio::net::TcpStream, peer: SocketAddr) {
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 41\r\n\r\ntoo many connections; retry in a second\r\n";
    tracing::debug!(%peer, "too many connections: refused");
    // Closing a socket with unread input resets it, and the client may then lose the
    // answer: drop what has arrived first.
    let mut sink = [0u8; 4096];
    let _ = stream.try_read(&mut sink);
    let _ = stream.try_write(BUSY);
}

async fn turned_true(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|v| *v).await;
}

/// Binds `addr` and serves `app` in the background; fails at once if the port is taken.
pub async fn spawn_server(
    what: &'static str,
    addr: &str,
    app: Router,
    read_timeout: Duration,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<SocketAddr> {
    let socket = listen_address(addr).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    let listener = TcpListener::bind(socket)
        .await
        .map_err(|e| anyhow::anyhow!("{what}: cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    tracing::info!(addr = %bound, "{what} serving");
    tokio::spawn(serve(listener, app, read_timeout, MAX_CONNECTIONS, stop));
    Ok(bound)
}
