//! The controller's Service as our `kubeseal` reaches it: a selector-less Service
//! `sealed-secrets-controller` with a port `http` (as `deploy/` names them) in the home
//! namespace, pointing at one local replica, reached through the API server's service
//! proxy ([`crate::service_proxy`]).
//!
//! A test probes the proxy once. When the API server cannot reach this machine, the
//! replica's HTTP API is asked directly where that can stand in for kubeseal
//! (`/v1/cert.pem` for `--fetch-cert`, `/v1/keys` for `keys list`), and the rest is
//! reported with [`ControllerService::skip`] as `skipped part: ...`.

use crate::harness::Ctx;
use crate::http;
use crate::kubeseal::{self, CONTROLLER_NAME};
use crate::sealing::certificate_from_pem;
use crate::service_proxy::{self, ProxyAnswer, Reach};
use crate::wait::Poll;
use anyhow::{Result, ensure};
use std::net::SocketAddr;

/// The Service's port name, as `deploy/` names it.
pub const PORT_NAME: &str = "http";

/// The controller of one home namespace, as the test reaches it.
#[derive(Debug)]
pub struct ControllerService {
    pub home: String,
    /// `None`: kubeseal reaches it through the service proxy. `Some(why)`: the API
    /// server cannot reach this machine; the replica is asked directly.
    unreachable: Option<String>,
    /// The replica the Service points at (and that is asked directly).
    pub api: SocketAddr,
}

impl ControllerService {
    /// Exposes the replica at `api` as the Service of `home` and probes the service
    /// proxy, unless `known` already found that the API server cannot reach this machine.
    pub async fn expose(
        ctx: &Ctx,
        home: &str,
        api: SocketAddr,
        known: Option<&ControllerService>,
    ) -> Result<ControllerService> {
        let unreachable = match known.and_then(|s| s.unreachable.clone()) {
            Some(why) => Some(why),
            None => {
                match service_proxy::expose_and_probe(
                    ctx,
                    home,
                    CONTROLLER_NAME,
                    PORT_NAME,
                    api.port(),
                )
                .await?
                {
                    Reach::Proxied { backend, .. } => {
                        println!(
                            "controller of {home} exposed as Service {CONTROLLER_NAME} (port {PORT_NAME}) -> {backend}"
                        );
                        None
                    }
                    Reach::Unreachable(why) => {
                        println!(
                            "skipped part: {why}; kubeseal's service-proxy path not checked: the controllers' /v1/keys and /v1/cert.pem are asked directly instead of `kubeseal keys list` and `kubeseal --fetch-cert`"
                        );
                        Some(why.to_string())
                    }
                }
            }
        };
        Ok(ControllerService {
            home: home.to_owned(),
            unreachable,
            api,
        })
    }

    /// Whether kubeseal reaches the controller through the service proxy.
    pub fn proxied(&self) -> bool {
        self.unreachable.is_none()
    }

    /// Prints `skipped part: ...` for `what` when kubeseal cannot reach the controller.
    pub fn skip(&self, what: &str) {
        if let Some(why) = &self.unreachable {
            println!("skipped part: {why}; {what} not checked");
        }
    }

    /// Points the Service at the replica at `api` (a rolling update's new pod), and
    /// waits until the service proxy reaches it.
    pub async fn repoint(&mut self, ctx: &Ctx, api: SocketAddr) -> Result<()> {
        self.api = api;
        if !self.proxied() {
            return Ok(());
        }
        let home = &self.home;
        service_proxy::repoint(ctx, home, CONTROLLER_NAME, PORT_NAME, api.port()).await?;
        let proxy_id = format!("http:{CONTROLLER_NAME}:{PORT_NAME}");
        ctx.wait_for(
            ctx.timeout(),
            &format!(
                "the service proxy of {home}/{CONTROLLER_NAME} to answer /healthz from port {}",
                api.port()
            ),
            || async {
                Ok(
                    match service_proxy::get(ctx, home, &proxy_id, "/healthz").await? {
                        ProxyAnswer::Ok(body) if body == "ok\n" => Poll::Ready(()),
                        other => Poll::Pending(format!("{other:?}")),
                    },
                )
            },
        )
        .await
    }

    /// `kubeseal ARGS` against this controller; exit 0 required.
    pub async fn kubeseal_ok(
        &self,
        ctx: &Ctx,
        args: &[&str],
        stdin: &[u8],
    ) -> Result<kubeseal::Output> {
        kubeseal::run_for_ok(ctx, &self.home, args, stdin).await
    }

    /// `kubeseal --fetch-cert` (the runbook's `> cert.pem`), or `/v1/cert.pem` directly.
    pub async fn fetch_cert(&self, ctx: &Ctx) -> Result<Vec<u8>> {
        if self.proxied() {
            let out = self.kubeseal_ok(ctx, &["--fetch-cert"], b"").await?;
            return Ok(out.stdout.into_bytes());
        }
        let r = http::get(self.api, "/v1/cert.pem").await?;
        ensure!(
            r.status == 200,
            "GET http://{}/v1/cert.pem: expected 200, got {}",
            self.api,
            r.describe()
        );
        Ok(r.body)
    }

    /// [`ControllerService::fetch_cert`], which must give the certificate of
    /// `fingerprint`; `when` completes the error message.
    pub async fn fetch_cert_of(&self, ctx: &Ctx, fingerprint: &str, when: &str) -> Result<Vec<u8>> {
        let served = self.fetch_cert(ctx).await?;
        let got = certificate_from_pem(&served)?.fingerprint();
        ensure!(
            got == fingerprint,
            "kubeseal --fetch-cert{when}: expected the certificate of {fingerprint}, got the certificate of {got}"
        );
        Ok(served)
    }
}
