//! The fault-injection endpoints of `bench/fake_apiserver.py` (`/_fault/*`), which a
//! real API server does not have.
//!
//! Detection: `POST /_fault/clear` answers 200 only on a fake that has them (a real API
//! server answers 404, or 403 without the rights for non-resource URLs). It is asked
//! once per test process, before any fault can be active.
//!
//! Faults act on the whole fake API server, so every test's client and controller sees
//! them: only tests run through [`crate::harness::run_alone_on_fake`] get a
//! [`FakeFaults`] handle, and they run alone while they hold it.

use anyhow::{Result, anyhow};
use kube::Client;
use kube::api::PostParams;
use serde_json::{Value, json};

/// Whether the API server is the fake with `/_fault/*`, asked once per process.
static DETECTED: tokio::sync::OnceCell<bool> = tokio::sync::OnceCell::const_new();

/// The fake API server's fault switches.
#[derive(Clone)]
pub struct FakeFaults {
    client: Client,
}

impl std::fmt::Debug for FakeFaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FakeFaults")
    }
}

/// `true` when the API server serves `POST /_fault/clear` (the fake), remembered for
/// the rest of the process.
pub async fn server_has_fault_endpoints(client: &Client) -> bool {
    *DETECTED
        .get_or_init(|| async {
            let answer = match request(client, "/_fault/clear", &json!({})).await {
                Ok(_) => return true,
                Err(kube::Error::Api(status)) => format!("{} {}", status.code, status.reason),
                Err(e) => e.to_string(),
            };
            eprintln!(
                "sealed-e2e: no fault-injection endpoints (POST /_fault/clear: {answer}): \
                 treating the API server as a real one"
            );
            false
        })
        .await
}

async fn request(client: &Client, path: &str, body: &Value) -> Result<String, kube::Error> {
    let request = kube::core::Request::new(path)
        .create(&PostParams::default(), body.to_string().into_bytes())
        .map_err(kube::Error::BuildRequest)?;
    client.request_text(request).await
}

async fn post(client: &Client, path: &str, body: &Value) -> Result<String> {
    request(client, path, body)
        .await
        .map_err(|e| anyhow!(e).context(format!("POST {path} {body}")))
}

impl FakeFaults {
    pub(crate) fn new(client: Client) -> FakeFaults {
        FakeFaults { client }
    }

    /// Every request answered with `code` for `seconds` (the fake ends it by itself).
    pub async fn fail_with_status(&self, code: u16, seconds: u64) -> Result<()> {
        post(
            &self.client,
            "/_fault/fail",
            &json!({ "code": code, "seconds": seconds }),
        )
        .await
        .map(drop)
    }

    /// Ends every fault.
    pub async fn clear(&self) -> Result<()> {
        post(&self.client, "/_fault/clear", &json!({}))
            .await
            .map(drop)
    }

    /// Deletes the Secrets `(namespace, name)` without any watcher seeing it, ends every
    /// watch and makes resumed watches fail with 410 Gone: clients must list again.
    pub async fn relist_deleting_secrets(&self, secrets: &[(String, String)]) -> Result<()> {
        let delete: Vec<Value> = secrets
            .iter()
            .map(|(ns, name)| json!({ "resource": "secrets", "namespace": ns, "name": name }))
            .collect();
        post(&self.client, "/_fault/relist", &json!({ "delete": delete }))
            .await
            .map(drop)
    }
}
