//! An outage switch that works against any API server: a TCP forwarder on
//! `127.0.0.1:0` between a controller and the API server.
//!
//! The controller gets a copy of the suite's kubeconfig whose current cluster points at
//! the forwarder ([`ApiForwarder::kubeconfig`], passed with
//! [`crate::ControllerSpec::kubeconfig`]); for `https` the copy names the original host
//! in `tls-server-name`, so certificate verification still holds. The test's own client
//! stays direct. [`ApiForwarder::cut`] closes every forwarded connection and closes each
//! new one as soon as it is accepted; [`ApiForwarder::restore`] forwards again.
//!
//! The forwarder runs on its own thread and runtime, so it keeps working while a test
//! blocks its own thread (e.g. waiting for a process to exit).

use crate::service_proxy::host_port;
use anyhow::{Context, Result, bail};
use kube::config::Kubeconfig;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Longest wait for the API server to accept a forwarded connection.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the forwarder does with connections. `cuts` counts [`ApiForwarder::cut`] calls:
/// a connection opened before a cut ends at it, even if the forwarder is restored before
/// the connection's task looks.
#[derive(Debug, Clone, Copy)]
struct Gate {
    open: bool,
    cuts: u64,
    shutdown: bool,
}

#[derive(Debug, Default)]
struct Counters {
    forwarded: AtomicU64,
    refused: AtomicU64,
    severed: AtomicU64,
    upstream_failures: AtomicU64,
}

/// What the forwarder did so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ForwarderStats {
    /// Connections accepted while open and forwarded.
    pub forwarded: u64,
    /// Connections accepted while cut and closed at once.
    pub refused: u64,
    /// Forwarded connections closed by a cut.
    pub severed: u64,
    /// Forwarded connections the API server did not accept.
    pub upstream_failures: u64,
}

impl std::fmt::Display for ForwarderStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} connections forwarded, {} closed by a cut, {} refused while cut, {} not accepted by the API server",
            self.forwarded, self.severed, self.refused, self.upstream_failures
        )
    }
}

/// The server of a kubeconfig cluster, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// Everything after the authority (a path prefix, often empty).
    pub path: String,
}

impl ServerUrl {
    pub fn parse(url: &str) -> Result<ServerUrl> {
        let (scheme, rest) = url
            .split_once("://")
            .with_context(|| format!("server {url:?} has no scheme"))?;
        let (host, port) = host_port(url).with_context(|| format!("server {url:?}"))?;
        let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
        Ok(ServerUrl {
            scheme: scheme.to_ascii_lowercase(),
            host,
            port,
            path: path.trim_end_matches('/').to_owned(),
        })
    }
}

/// A TCP forwarder to the API server of a kubeconfig, with its rewritten kubeconfig.
/// Stops (and closes every connection) when dropped.
pub struct ApiForwarder {
    local: SocketAddr,
    upstream: ServerUrl,
    kubeconfig: PathBuf,
    gate: watch::Sender<Gate>,
    counters: Arc<Counters>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for ApiForwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiForwarder")
            .field("local", &self.local)
            .field("upstream", &self.upstream)
            .field("kubeconfig", &self.kubeconfig)
            .finish_non_exhaustive()
    }
}

impl ApiForwarder {
    /// Starts forwarding to the API server of `kubeconfig`'s current context and writes
    /// the rewritten kubeconfig to `dir`.
    pub fn start(kubeconfig: &Path, dir: &Path) -> Result<ApiForwarder> {
        let mut config = Kubeconfig::read_from(kubeconfig)
            .with_context(|| format!("reading kubeconfig {}", kubeconfig.display()))?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .context("binding the API forwarder on 127.0.0.1:0")?;
        let local = listener
            .local_addr()
            .context("the API forwarder's address")?;
        listener
            .set_nonblocking(true)
            .context("making the API forwarder's socket non-blocking")?;
        let upstream = point_at(&mut config, local)
            .with_context(|| format!("rewriting kubeconfig {}", kubeconfig.display()))?;
        let path = dir.join(format!("kubeconfig-via-{}", local.port()));
        let text = serde_json::to_string_pretty(&config).context("serializing the kubeconfig")?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;

        let (gate, gate_rx) = watch::channel(Gate {
            open: true,
            cuts: 0,
            shutdown: false,
        });
        let counters = Arc::new(Counters::default());
        let thread_counters = Arc::clone(&counters);
        let target = (upstream.host.clone(), upstream.port);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building the API forwarder's runtime")?;
        let thread = std::thread::Builder::new()
            .name(format!("api-forwarder-{}", local.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => serve(listener, target, gate_rx, thread_counters).await,
                        Err(e) => eprintln!("sealed-e2e: the API forwarder cannot listen: {e}"),
                    }
                });
            })
            .context("starting the API forwarder's thread")?;
        eprintln!(
            "sealed-e2e: API forwarder 127.0.0.1:{} -> {}:{} ({})",
            local.port(),
            upstream.host,
            upstream.port,
            path.display()
        );
        Ok(ApiForwarder {
            local,
            upstream,
            kubeconfig: path,
            gate,
            counters,
            thread: Some(thread),
        })
    }

    /// The kubeconfig that reaches the API server through this forwarder.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Where the forwarder listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// `host:port` of the API server.
    pub fn upstream(&self) -> String {
        format!("{}:{}", self.upstream.host, self.upstream.port)
    }

    /// Closes every forwarded connection; from now on connections are closed as soon as
    /// they are accepted.
    pub fn cut(&self) {
        self.gate.send_modify(|g| {
            g.open = false;
            g.cuts += 1;
        });
    }

    /// Forwards new connections again.
    pub fn restore(&self) {
        self.gate.send_modify(|g| g.open = true);
    }

    pub fn is_cut(&self) -> bool {
        !self.gate.borrow().open
    }

    pub fn stats(&self) -> ForwarderStats {
        let c = &self.counters;
        ForwarderStats {
            forwarded: c.forwarded.load(Ordering::SeqCst),
            refused: c.refused.load(Ordering::SeqCst),
            severed: c.severed.load(Ordering::SeqCst),
            upstream_failures: c.upstream_failures.load(Ordering::SeqCst),
        }
    }
}

impl Drop for ApiForwarder {
    fn drop(&mut self) {
        self.gate.send_modify(|g| {
            g.open = false;
            g.shutdown = true;
        });
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Points the current context's cluster of `config` at `local`; returns where it
/// pointed before.
fn point_at(config: &mut Kubeconfig, local: SocketAddr) -> Result<ServerUrl> {
    let context_name = config
        .current_context
        .clone()
        .context("the kubeconfig has no current-context")?;
    let cluster_name = config
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .with_context(|| format!("the kubeconfig has no context {context_name:?}"))?;
    let cluster = config
        .clusters
        .iter_mut()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_mut())
        .with_context(|| format!("the kubeconfig has no cluster {cluster_name:?}"))?;
    let server = cluster
        .server
        .clone()
        .with_context(|| format!("cluster {cluster_name:?} of the kubeconfig has no server"))?;
    let upstream = ServerUrl::parse(&server)?;
    if upstream.scheme != "http" && upstream.scheme != "https" {
        bail!("cluster {cluster_name:?}: cannot forward a {server:?} server");
    }
    if cluster.proxy_url.is_some() {
        bail!(
            "cluster {cluster_name:?} is reached through a proxy-url: the forwarder cannot stand in for it"
        );
    }
    cluster.server = Some(format!("{}://{local}{}", upstream.scheme, upstream.path));
    if upstream.scheme == "https" && cluster.tls_server_name.is_none() {
        cluster.tls_server_name = Some(upstream.host.clone());
    }
    Ok(upstream)
}

async fn serve(
    listener: TcpListener,
    target: (String, u16),
    mut changes: watch::Receiver<Gate>,
    counters: Arc<Counters>,
) {
    let gate = changes.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let socket = match accepted {
                    Ok((socket, _)) => socket,
                    Err(_) => {
                        // Out of file descriptors or the like: try again shortly.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let now = *gate.borrow();
                if now.shutdown {
                    return;
                }
                if !now.open {
                    counters.refused.fetch_add(1, Ordering::SeqCst);
                    drop(socket);
                    continue;
                }
                counters.forwarded.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(forward(
                    socket,
                    target.clone(),
                    gate.clone(),
                    now.cuts,
                    Arc::clone(&counters),
                ));
            }
            changed = changes.changed() => {
                if changed.is_err() || changes.borrow().shutdown {
                    return;
                }
            }
        }
    }
}

/// Copies both ways until either side closes or a cut after `cuts`.
async fn forward(
    mut client: TcpStream,
    target: (String, u16),
    mut gate: watch::Receiver<Gate>,
    cuts: u64,
    counters: Arc<Counters>,
) {
    let pipe = async {
        let connect = TcpStream::connect((target.0.as_str(), target.1));
        let mut server = match tokio::time::timeout(UPSTREAM_CONNECT_TIMEOUT, connect).await {
            Ok(Ok(server)) => server,
            _ => {
                counters.upstream_failures.fetch_add(1, Ordering::SeqCst);
                return;
            }
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    };
    tokio::select! {
        () = pipe => {}
        _ = gate.wait_for(|g| g.cuts != cuts || g.shutdown) => {
            counters.severed.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn server_urls_keep_their_path() {
        assert_eq!(
            ServerUrl::parse("https://10.1.2.3:6443").unwrap(),
            ServerUrl {
                scheme: "https".into(),
                host: "10.1.2.3".into(),
                port: 6443,
                path: String::new()
            }
        );
        let u = ServerUrl::parse("HTTPS://api.example.com/k8s/clusters/c-1/").unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.host.as_str(), u.port, u.path.as_str()),
            ("https", "api.example.com", 443, "/k8s/clusters/c-1")
        );
        let u = ServerUrl::parse("http://[::1]:8080").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 8080));
        assert!(ServerUrl::parse("no-scheme").is_err());
    }

    fn kubeconfig(server: &str) -> Kubeconfig {
        let text = format!(
            "apiVersion: v1\nkind: Config\n\
             clusters: [{{name: other, cluster: {{server: 'https://other:1'}}}}, {{name: c, cluster: {{server: '{server}', certificate-authority-data: QUJD}}}}]\n\
             users: [{{name: u, user: {{token: secret-token}}}}]\n\
             contexts: [{{name: x, context: {{cluster: c, user: u}}}}]\n\
             current-context: x\n"
        );
        Kubeconfig::from_yaml(&text).unwrap()
    }

    #[test]
    fn only_the_current_cluster_is_pointed_at_the_forwarder() {
        let local: SocketAddr = "127.0.0.1:4321".parse().unwrap();
        let mut config = kubeconfig("https://10.1.2.3:6443");
        let before = point_at(&mut config, local).unwrap();
        assert_eq!((before.host.as_str(), before.port), ("10.1.2.3", 6443));
        let c = config.clusters[1].cluster.as_ref().unwrap();
        assert_eq!(c.server.as_deref(), Some("https://127.0.0.1:4321"));
        assert_eq!(c.tls_server_name.as_deref(), Some("10.1.2.3"));
        assert_eq!(c.certificate_authority_data.as_deref(), Some("QUJD"));
        let other = config.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(other.server.as_deref(), Some("https://other:1"));
        // The token survives serialization (it is hidden in Debug output only).
        let text = serde_json::to_string(&config).unwrap();
        assert!(text.contains("secret-token"), "{text}");

        let mut plain = kubeconfig("http://127.0.0.1:8001");
        point_at(&mut plain, local).unwrap();
        let c = plain.clusters[1].cluster.as_ref().unwrap();
        assert_eq!(c.server.as_deref(), Some("http://127.0.0.1:4321"));
        assert_eq!(c.tls_server_name, None);
    }

    /// An echo server behind the forwarder: forwarded, severed by a cut, refused while
    /// cut, forwarded again after a restore.
    #[test]
    fn cut_and_restore() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let echo_addr = echo.local_addr().unwrap();
            tokio::spawn(async move {
                while let Ok((mut s, _)) = echo.accept().await {
                    tokio::spawn(async move {
                        let (mut r, mut w) = s.split();
                        let _ = tokio::io::copy(&mut r, &mut w).await;
                    });
                }
            });
            let dir = tempfile::tempdir().unwrap();
            let source = dir.path().join("kubeconfig");
            std::fs::write(
                &source,
                format!(
                    "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'http://{echo_addr}'}}}}]\n\
                     users: [{{name: u, user: {{}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n"
                ),
            )
            .unwrap();
            let fwd = ApiForwarder::start(&source, dir.path()).unwrap();
            let written = Kubeconfig::read_from(fwd.kubeconfig()).unwrap();
            assert_eq!(
                written.clusters[0].cluster.as_ref().unwrap().server.as_deref(),
                Some(format!("http://{}", fwd.local_addr()).as_str())
            );

            let mut open = TcpStream::connect(fwd.local_addr()).await.unwrap();
            open.write_all(b"ping").await.unwrap();
            let mut buf = [0u8; 4];
            open.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"ping");

            fwd.cut();
            let mut rest = Vec::new();
            let n = tokio::time::timeout(Duration::from_secs(5), open.read_to_end(&mut rest))
                .await
                .expect("a cut closes open connections")
                .unwrap_or(0);
            assert_eq!(n, 0);
            let mut refused = TcpStream::connect(fwd.local_addr()).await.unwrap();
            let _ = refused.write_all(b"ping").await;
            let mut rest = Vec::new();
            let n = tokio::time::timeout(Duration::from_secs(5), refused.read_to_end(&mut rest))
                .await
                .expect("a connection made while cut is closed at once")
                .unwrap_or(0);
            assert_eq!(n, 0);

            fwd.restore();
            let mut again = TcpStream::connect(fwd.local_addr()).await.unwrap();
            again.write_all(b"pong").await.unwrap();
            again.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"pong");
            let stats = fwd.stats();
            assert_eq!((stats.forwarded, stats.refused, stats.severed), (2, 1, 1), "{stats}");
        });
    }
}
