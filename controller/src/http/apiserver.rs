//! The API server's own addresses, from the EndpointSlice `default/kubernetes` that the
//! API servers keep up to date themselves, read at start and every minute after. The
//! rate limiter believes `X-Forwarded-For` from them: the service proxy, which
//! `kubeseal` goes through, connects from the API server and appends the real client.
//! Without them (no RBAC to read the slice, an API server that connects through a
//! tunnel from another address) every client behind the proxy shares one bucket, as
//! before, unless `--rate-limit-trusted-proxies` names the proxy.

use super::limit::ClientLimiter;
use crate::api_error::{CallError, call};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::{Api, Client};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the addresses are read again (API servers come and go with upgrades).
pub const REFRESH: Duration = Duration::from_secs(60);

/// Where the API servers publish their addresses (the Service `default/kubernetes`).
pub const NAMESPACE: &str = "default";
pub const NAME: &str = "kubernetes";

/// The addresses in the EndpointSlice `default/kubernetes`.
pub async fn addresses(client: &Client) -> Result<Vec<IpAddr>, CallError> {
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), NAMESPACE);
    let slice = call(api.get(NAME)).await?;
    let mut found: Vec<IpAddr> = slice
        .endpoints
        .iter()
        .flatten()
        .flat_map(|endpoint| endpoint.addresses.iter())
        .filter_map(|address| address.parse().ok())
        .collect();
    found.sort();
    found.dedup();
    Ok(found)
}

/// Keeps `limiter`'s API server addresses current until `stop`. A failed read keeps
/// the addresses last read, and is logged once until a read works again.
pub async fn keep_current(
    client: Client,
    limiter: Arc<ClientLimiter>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut last: Option<Vec<IpAddr>> = None;
    let mut failing = false;
    loop {
        match addresses(&client).await {
            Ok(found) => {
                if last.as_ref() != Some(&found) {
                    let list: Vec<String> = found.iter().map(IpAddr::to_string).collect();
                    tracing::info!(
                        addresses = %list.join(","),
                        "rate limit: X-Forwarded-For trusted from the API server's addresses (EndpointSlice {NAMESPACE}/{NAME})"
                    );
                }
                limiter.set_api_servers(&found);
                last = Some(found);
                failing = false;
            }
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(
                    %error,
                    "rate limit: cannot read the API server's addresses (EndpointSlice {NAMESPACE}/{NAME}); X-Forwarded-For is trusted only from --rate-limit-trusted-proxies{}",
                    if last.is_some() { " and the addresses last read" } else { "" }
                );
            }
            Err(_) => {}
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|v| *v) => return,
        }
    }
}
