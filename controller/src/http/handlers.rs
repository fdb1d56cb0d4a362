//! The API handlers. Errors answer with a one-line text body that says what is wrong
//! (upstream answers 500 with an empty body).

use super::{ApiState, MAX_BODY_BYTES};
use crate::metrics::Origin;
use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use sealed_common::codec::{Format, KindError, SEALED_SECRET, decode_kind, to_text};
use sealed_common::crypto::RsaBudget;
use sealed_common::reseal::{ResealError, check_opens, reseal};
use sealed_common::sealed_secret::{API_VERSION, KIND};
use sealed_common::unseal::UnsealError;
use sealed_common::{RsaPrivateKey, SealedSecret};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

const VERIFY: &str = "/v1/verify";
const ROTATE: &str = "/v1/rotate";

/// A plain-text answer, one line.
pub fn text(status: StatusCode, message: impl AsRef<str>) -> Response {
    let body = format!("{}\n", sealed_common::codec::one_line(message.as_ref()));
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn ready(state: &ApiState) -> bool {
    state.registry.is_ready() && state.registry.sealing_key().is_some()
}

/// `/healthz` and `/readyz`: `ok` once the keys are loaded, 503 before.
pub async fn healthz(State(state): State<ApiState>) -> Response {
    if ready(&state) {
        text(StatusCode::OK, "ok")
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the sealing keys are not loaded yet",
        )
    }
}

/// `/v1/cert.pem`: the certificate new SealedSecrets are sealed with.
pub async fn cert(State(state): State<ApiState>) -> Response {
    let certificate = state
        .registry
        .sealing_key()
        .and_then(|k| k.certificate.as_ref().map(|c| c.to_pem()));
    match certificate {
        Some(pem) => ([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response(),
        None => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "no sealing key yet: the controller is still loading or generating its key",
        ),
    }
}

/// One key in the `/v1/keys` answer: public data only.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyView {
    fingerprint: String,
    secret_name: String,
    created: String,
    expires: Option<String>,
    active: bool,
    held_back_until: Option<String>,
    certificate: Option<String>,
}

#[derive(Serialize)]
struct KeyList {
    keys: Vec<KeyView>,
}

/// RFC 3339 in UTC, whole seconds (as Kubernetes writes times).
fn rfc3339(time: SystemTime) -> String {
    let timestamp = jiff::Timestamp::try_from(time).unwrap_or_else(|_| {
        // Out of jiff's range (years past 9999): clamp.
        if time > SystemTime::UNIX_EPOCH {
            jiff::Timestamp::MAX
        } else {
            jiff::Timestamp::MIN
        }
    });
    format!("{timestamp:.0}")
}

/// `/v1/keys`: every key, newest first, with which one seals now and which are held
/// back (`--key-activation-delay`).
pub async fn keys(State(state): State<ApiState>) -> Response {
    if !state.registry.is_ready() {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "no keys yet: the controller is still loading its keys",
        );
    }
    let keys = state
        .registry
        .inventory()
        .into_iter()
        .map(|status| {
            let key = &status.key;
            KeyView {
                fingerprint: key.fingerprint.clone(),
                secret_name: key.secret_name.clone(),
                created: rfc3339(key.ordering_time),
                expires: key.certificate.as_ref().map(|c| rfc3339(c.not_after())),
                active: status.active,
                held_back_until: status.held_back_until.map(rfc3339),
                certificate: key.certificate.as_ref().map(|c| c.to_pem()),
            }
        })
        .collect();
    Json(KeyList { keys }).into_response()
}

/// An error answer made off the runtime: status and one-line text (small, unlike a
/// `Response`).
type Refusal = (StatusCode, String);

/// The answer for a SealedSecret that does not open: 409 (as upstream), or 413 when it
/// needs more RSA work than one SealedSecret may take.
fn refused(error: &UnsealError) -> Refusal {
    match error {
        UnsealError::OverBudget { .. } => (StatusCode::PAYLOAD_TOO_LARGE, error.to_string()),
        _ => (StatusCode::CONFLICT, error.to_string()),
    }
}

/// `/v1/verify`: 200 when every sealed value opens, 409 when one does not (the first
/// such value named). Templates are not rendered (that would make this an oracle on the
/// plaintext).
pub async fn verify(State(state): State<ApiState>, request: Request) -> Response {
    let body = match admit_and_read(&state, request, VERIFY).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let registry = Arc::clone(&state.registry);
    let accept_v1_data = state.accept_v1_data;
    let outcome = run_blocking(&state, move |budget| {
        let sealed = decode_one(&body).map_err(|e| (StatusCode::BAD_REQUEST, e))?;
        let hint = sealed
            .status
            .as_ref()
            .and_then(|s| s.key_fingerprint.clone());
        let keys = registry.keys_for(hint.as_deref());
        let private: Vec<&RsaPrivateKey> = keys.iter().map(|k| &k.private_key).collect();
        check_opens(&sealed, &private, accept_v1_data, budget).map_err(|e| refused(&e))
    })
    .await;
    match outcome {
        Ok(Ok(_)) => StatusCode::OK.into_response(),
        Ok(Err((status, reason))) => text(status, reason),
        Err(response) => response,
    }
}

/// `/v1/rotate`: the same SealedSecret with every value sealed with the newest key,
/// templates and metadata kept, scope from the object's own annotations.
pub async fn rotate(State(state): State<ApiState>, request: Request) -> Response {
    let body = match admit_and_read(&state, request, ROTATE).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Some(sealing) = state.registry.sealing_key() else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "no sealing key yet");
    };
    let keys = state.registry.keys_for(Some(&sealing.fingerprint));
    let accept_v1_data = state.accept_v1_data;
    let outcome = run_blocking(&state, move |budget| {
        let sealed = decode_one(&body).map_err(|e| (StatusCode::BAD_REQUEST, e))?;
        let private: Vec<&RsaPrivateKey> = keys.iter().map(|k| &k.private_key).collect();
        // keys_for puts the hinted (sealing) key first.
        reseal(&sealed, &private, 0, accept_v1_data, budget).map_err(|e| match e {
            ResealError::Unseal(e) => refused(&e),
            e => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        })
    })
    .await;
    let resealed = match outcome {
        Ok(Ok(resealed)) => resealed,
        Ok(Err((status, reason))) => return text(status, reason),
        Err(response) => return response,
    };
    let rendered = serde_json::to_value(&resealed.sealed)
        .map_err(|e| e.to_string())
        .and_then(|v| to_text(&v, &SEALED_SECRET, Format::Json).map_err(|e| e.to_string()));
    match rendered {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the result: {e}"),
        ),
    }
}

/// Rate limit, readiness, then the body (capped). Decoding it is CPU work in
/// proportion to its size, so it is done in the RSA pool with the rest.
async fn admit_and_read(
    state: &ApiState,
    request: Request,
    path: &'static str,
) -> Result<Vec<u8>, Response> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let forwarded = request
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let client = state.limiter.client(peer, forwarded);
    if let Err(wait) = state.limiter.check(client, path) {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut response = text(
            StatusCode::TOO_MANY_REQUESTS,
            format!("rate limit exceeded for {client} on {path}; retry in {seconds} s"),
        );
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Err(response);
    }
    if !ready(state) {
        return Err(text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the sealing keys are not loaded yet",
        ));
    }
    read_body(state, request).await
}

async fn read_body(state: &ApiState, request: Request) -> Result<Vec<u8>, Response> {
    let too_large = || {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request body larger than {} MiB; send one SealedSecret per request",
                MAX_BODY_BYTES / (1024 * 1024)
            ),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let limited = Limited::new(request.into_body(), MAX_BODY_BYTES);
    match tokio::time::timeout(state.read_timeout, limited.collect()).await {
        Err(_) => Err(text(
            StatusCode::REQUEST_TIMEOUT,
            "request body not received within --read-timeout",
        )),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(error)) => Err(text(
            StatusCode::BAD_REQUEST,
            format!("cannot read the request body: {error}"),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes().to_vec()),
    }
}

/// Exactly one `bitnami.com/v1alpha1` SealedSecret, JSON or YAML.
fn decode_one(body: &[u8]) -> Result<SealedSecret, String> {
    let mut documents: Vec<SealedSecret> =
        decode_kind(body, KIND, API_VERSION, true).map_err(|e| match e {
            KindError::Unreadable(e) => format!("cannot read the SealedSecret: {e}"),
            KindError::Invalid(e) => format!("invalid SealedSecret: {e}"),
            other => format!("expected apiVersion {API_VERSION:?} and kind {KIND:?}: {other}"),
        })?;
    match documents.len() {
        1 => Ok(documents.remove(0)),
        n => Err(format!(
            "expected one SealedSecret, got {n} documents; send them one per request"
        )),
    }
}

/// Runs RSA work on the blocking pool under the API's own semaphore (not the
/// reconcilers'), within the RSA budget of one SealedSecret, and counts the decryptions.
/// The job holds its permit to the end even when the request times out and is dropped.
async fn run_blocking<T: Send + 'static>(
    state: &ApiState,
    job: impl FnOnce(&RsaBudget) -> T + Send + 'static,
) -> Result<T, Response> {
    let failed = |e: String| text(StatusCode::INTERNAL_SERVER_ERROR, e);
    let permit = Arc::clone(&state.cpu)
        .acquire_owned()
        .await
        .map_err(|e| failed(e.to_string()))?;
    let metrics = Arc::clone(&state.metrics);
    let limit = state.max_rsa_decryptions;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let budget = RsaBudget::new(limit);
        let out = job(&budget);
        metrics.rsa_decryptions(Origin::Http, budget.used());
        out
    })
    .await
    .map_err(|e| failed(format!("worker failed: {e}")))
}
