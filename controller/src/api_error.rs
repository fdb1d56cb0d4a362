//! What a failed call to the API server means for the caller: try again soon, try again
//! later, or wait until something changes. Shared by the reconciler, the leader
//! election and the key renewal; it knows nothing of SealedSecrets.

use std::time::Duration;

/// How long one API call of a reconcile may take before it counts as failed. Watches
/// are long polls and do not go through this.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A failed API call, with what the API server said (code, reason, causes) kept.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{}", message(.0))]
    Kube(#[from] kube::Error),
    #[error("the API server did not answer within {} s", .0.as_secs())]
    TimedOut(Duration),
}

/// What to do about a [`CallError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// 409: the object changed under us (or appeared); read it again and retry, quietly.
    Conflict,
    /// The namespace is being deleted or is gone: nothing to do and nothing to report.
    NamespaceGone,
    /// 404 for the object itself: it went away between two calls.
    NotFound,
    /// Worth retrying as it is: 5xx, 429, timeouts, connection errors, and 401/403
    /// (credentials and RBAC get fixed without the object changing).
    Transient { retry_after: Option<Duration> },
    /// The API server refused the request itself (400, 422, ...): the same request will
    /// be refused again.
    Permanent,
}

impl CallError {
    pub fn class(&self) -> Class {
        match self {
            CallError::TimedOut(_) => Class::Transient { retry_after: None },
            CallError::Kube(error) => classify(error),
        }
    }

    /// The API server is unreachable or failing as a whole (no answer, 5xx), as
    /// opposed to refusing this request (4xx).
    pub fn is_outage(&self) -> bool {
        match self {
            CallError::TimedOut(_) => true,
            CallError::Kube(kube::Error::Api(status)) => status.code >= 500,
            CallError::Kube(_) => true,
        }
    }

    /// The HTTP status code, when the API server answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            CallError::Kube(kube::Error::Api(status)) => Some(status.code),
            _ => None,
        }
    }
}

/// Runs one API call with [`CALL_TIMEOUT`].
pub async fn call<T>(
    request: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, CallError> {
    match tokio::time::timeout(CALL_TIMEOUT, request).await {
        Ok(result) => result.map_err(CallError::Kube),
        Err(_) => Err(CallError::TimedOut(CALL_TIMEOUT)),
    }
}

/// A kube error as one line: the API server's message, not the debug dump.
pub fn message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        kube::Error::Api(status) => format!("the API server answered {}", status.code),
        other => other.to_string(),
    }
}

/// Sorts a kube error into a [`Class`].
pub fn classify(error: &kube::Error) -> Class {
    let kube::Error::Api(status) = error else {
        // Connection refused or reset, TLS, a body cut short: the API server was not
        // reachable or went away mid-call.
        return Class::Transient { retry_after: None };
    };
    let details = status.details.as_ref();
    let retry_after = details
        .map(|d| d.retry_after_seconds)
        .filter(|s| *s > 0)
        .map(|s| Duration::from_secs(u64::from(s)));
    match status.code {
        409 => Class::Conflict,
        403 if namespace_terminating(status) => Class::NamespaceGone,
        404 if details.is_some_and(|d| d.kind == "namespaces") => Class::NamespaceGone,
        404 => Class::NotFound,
        401 | 403 | 408 | 429 => Class::Transient { retry_after },
        code if code >= 500 => Class::Transient { retry_after },
        // A status without a code is a client-side decode problem, not a refusal.
        0 => Class::Transient { retry_after },
        _ => Class::Permanent,
    }
}

/// The NamespaceLifecycle admission answer for a namespace being deleted.
fn namespace_terminating(status: &kube::core::Status) -> bool {
    let by_cause = status
        .details
        .as_ref()
        .is_some_and(|d| d.causes.iter().any(|c| c.reason == "NamespaceTerminating"));
    by_cause || status.message.contains("because it is being terminated")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn api(code: u16, reason: &str, message: &str, details: Value) -> kube::Error {
        let status =
            json!({"code": code, "reason": reason, "message": message, "details": details});
        kube::Error::Api(Box::new(serde_json::from_value(status).expect("Status")))
    }

    #[test]
    fn classes_follow_the_code_and_details() {
        let terminating = json!({"name": "x", "kind": "secrets", "causes": [{
            "reason": "NamespaceTerminating",
            "message": "namespace ns is being terminated",
            "field": "metadata.namespace"}]});
        let transient = Class::Transient { retry_after: None };
        let cases = [
            (
                api(409, "Conflict", "modified", Value::Null),
                Class::Conflict,
            ),
            (
                api(409, "AlreadyExists", "exists", Value::Null),
                Class::Conflict,
            ),
            (
                api(403, "Forbidden", "unable to create", terminating),
                Class::NamespaceGone,
            ),
            (
                api(
                    403,
                    "Forbidden",
                    "secrets \"x\" is forbidden: unable to create new content in namespace ns because it is being terminated",
                    Value::Null,
                ),
                Class::NamespaceGone,
            ),
            (
                api(
                    404,
                    "NotFound",
                    "namespaces \"ns\" not found",
                    json!({"name": "ns", "kind": "namespaces"}),
                ),
                Class::NamespaceGone,
            ),
            (
                api(404, "NotFound", "secrets \"x\" not found", Value::Null),
                Class::NotFound,
            ),
            (
                api(403, "Forbidden", "cannot create resource", Value::Null),
                transient,
            ),
            (
                api(
                    429,
                    "TooManyRequests",
                    "slow down",
                    json!({"retryAfterSeconds": 7}),
                ),
                Class::Transient {
                    retry_after: Some(Duration::from_secs(7)),
                },
            ),
            (
                api(503, "ServiceUnavailable", "down", Value::Null),
                transient,
            ),
            (api(422, "Invalid", "bad", Value::Null), Class::Permanent),
            (api(400, "BadRequest", "bad", Value::Null), Class::Permanent),
        ];
        for (error, class) in cases {
            assert_eq!(classify(&error), class, "{error:?}");
        }
        assert_eq!(CallError::TimedOut(CALL_TIMEOUT).class(), transient);
        let outage = |e: kube::Error| CallError::Kube(e).is_outage();
        assert!(outage(api(503, "ServiceUnavailable", "down", Value::Null)));
        assert!(!outage(api(429, "TooManyRequests", "slow", Value::Null)));
        assert!(!outage(api(403, "Forbidden", "no", Value::Null)));
        assert!(CallError::TimedOut(CALL_TIMEOUT).is_outage());
    }

    #[test]
    fn message_is_the_api_servers_text() {
        assert_eq!(
            message(&api(422, "Invalid", "Secret \"x\" is invalid", Value::Null)),
            "Secret \"x\" is invalid"
        );
        assert_eq!(
            message(&api(500, "", "", Value::Null)),
            "the API server answered 500"
        );
    }
}
