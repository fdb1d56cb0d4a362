//! The API server's service proxy to the controller: the paths upstream kubeseal uses,
//! and what each answer means, worded as one line that says what to do.

use anyhow::{Result, anyhow, bail};
use http::StatusCode;
use k8s_openapi::api::core::v1::Service;
use sealed_common::codec::one_line;

/// Longest piece of an answer's body quoted in an error.
const MAX_DETAIL_CHARS: usize = 300;

/// Where the controller is, and how to talk about it in errors.
#[derive(Debug, Clone)]
pub struct Target {
    pub namespace: String,
    pub name: String,
    /// The API server's URL, as errors name it.
    pub api_url: String,
    /// The end of an error that says what works without a cluster, or "".
    pub offline: String,
}

/// `GET` path of the controller's Service.
pub fn service_path(namespace: &str, name: &str) -> String {
    format!(
        "/api/v1/namespaces/{}/services/{}",
        escape(namespace),
        escape(name)
    )
}

/// Path prefix of the controller's endpoints through the service proxy. The Service is
/// named as Go's `net.JoinSchemeNamePort("http", name, port)`: `http:name:port`, with
/// the trailing colon kept when the port has no name.
pub fn proxy_base(namespace: &str, name: &str, port_name: &str) -> String {
    format!(
        "/api/v1/namespaces/{}/services/http:{}:{}/proxy",
        escape(namespace),
        escape(name),
        escape(port_name)
    )
}

/// Percent-encodes what may not appear raw in one path segment (`:` may).
fn escape(segment: &str) -> String {
    percent_encode(segment, b":@!$&'()*+,;=")
}

/// Percent-encodes `text`, leaving unreserved characters (RFC 3986) and `raw` as
/// they are.
pub fn percent_encode(text: &str, raw: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || raw.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One HTTP answer, read whole. `Debug` prints the body's length only: it may hold
/// the controller's key Secrets.
#[derive(Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
    pub retry_after: Option<String>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("status", &self.status)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

impl Answer {
    /// The `message` of a Kubernetes `Status` body: the API server, not the controller,
    /// answered.
    pub fn status_message(&self) -> Option<String> {
        let value: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        if value.get("kind").and_then(|k| k.as_str()) != Some("Status") {
            return None;
        }
        let message = value.get("message").and_then(|m| m.as_str()).unwrap_or("");
        Some(cap(&one_line(message)))
    }

    /// What the body says, on one line and capped; `None` when it says nothing.
    pub fn detail(&self) -> Option<String> {
        if let Some(message) = self.status_message() {
            return Some(message).filter(|m| !m.is_empty());
        }
        let text = one_line(&String::from_utf8_lossy(&self.body));
        Some(cap(&text)).filter(|t| !t.is_empty())
    }

    /// `" (detail)"`, or "".
    fn detail_suffix(&self, sep: &str) -> String {
        self.detail()
            .map(|d| format!("{sep}{d}"))
            .unwrap_or_default()
    }

    /// `409 Conflict`.
    fn code(&self) -> String {
        format!(
            "{} {}",
            self.status.as_u16(),
            self.status.canonical_reason().unwrap_or("")
        )
        .trim_end()
        .to_owned()
    }
}

fn cap(text: &str) -> String {
    match text.char_indices().nth(MAX_DETAIL_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// The name of the Service's first port, from the answer to [`service_path`].
pub fn port_name(answer: &Answer, target: &Target) -> Result<String> {
    let Target {
        namespace, name, ..
    } = target;
    let prefix = "cannot get sealed secret service";
    let flags = "Please, use the flag --controller-name and --controller-namespace to set up the name and namespace of the sealed secrets controller";
    let message = || {
        answer
            .detail()
            .unwrap_or_else(|| format!("the API server answered {}", answer.code()))
    };
    match answer.status {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => {
            let message = answer
                .status_message()
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| format!("services {name:?} not found"));
            bail!("{prefix}: {message}. {flags} (looked in namespace {namespace:?})");
        }
        StatusCode::FORBIDDEN => bail!(
            "{prefix}: {}; you need permission to \"get\" services in namespace {namespace:?} (ask a cluster admin){}",
            message(),
            target.offline
        ),
        StatusCode::UNAUTHORIZED => bail!("{prefix}: {}", unauthorized(answer, target)),
        _ => bail!("{prefix}: {} ({}). {flags}", message(), answer.code()),
    }
    let service: Service = serde_json::from_slice(&answer.body).map_err(|e| {
        anyhow!(
            "{prefix}: the API server's answer for service {namespace}/{name} is not a Service ({e}); check --server and the kubeconfig"
        )
    })?;
    let first = service
        .spec
        .and_then(|s| s.ports)
        .and_then(|ports| ports.into_iter().next());
    match first {
        Some(port) => Ok(port.name.unwrap_or_default()),
        None => bail!(
            "service {namespace}/{name} has no ports, so the controller cannot be reached through it; check it with: kubectl -n {namespace} get service {name} -o yaml"
        ),
    }
}

fn unauthorized(answer: &Answer, target: &Target) -> String {
    format!(
        "the API server at {} did not accept the credentials ({}{}); log in again or check the user of the kubeconfig context (--user, --token)",
        target.api_url,
        answer.code(),
        answer.detail_suffix(": ")
    )
}

/// The controller's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Cert,
    Verify,
    Rotate,
    Keys,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Cert => "/v1/cert.pem",
            Endpoint::Verify => "/v1/verify",
            Endpoint::Rotate => "/v1/rotate",
            Endpoint::Keys => "/v1/keys",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Endpoint::Cert | Endpoint::Keys => "get",
            Endpoint::Verify | Endpoint::Rotate => "create",
        }
    }
}

/// A 429 answer: the message users see, and how long the server asked to wait
/// (`Retry-After` in seconds or as an HTTP date; `None` when it named no time).
#[derive(Debug)]
pub struct RateLimited {
    pub message: String,
    pub retry_after: Option<std::time::Duration>,
}

impl std::fmt::Display for RateLimited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RateLimited {}

/// `Retry-After` as a wait from now: delay-seconds or an HTTP date.
fn retry_after(value: &str) -> Option<std::time::Duration> {
    if let Ok(secs) = value.parse::<u64>() {
        return Some(std::time::Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()?;
    let left = when.duration_since(jiff::Timestamp::now());
    Some(std::time::Duration::try_from(left).unwrap_or_default())
}

/// The error for an answer the caller does not handle itself (anything but 200, and
/// 409 for verify and rotate).
pub fn failure(endpoint: Endpoint, answer: &Answer, target: &Target) -> anyhow::Error {
    let Target {
        namespace, name, ..
    } = target;
    let check = format!(
        "check that it runs and has ready endpoints: kubectl -n {namespace} get pods,endpoints {name}"
    );
    let from_api_server = answer.status_message().is_some();
    let text = match answer.status.as_u16() {
        401 => unauthorized(answer, target),
        403 => format!(
            "not allowed to reach the controller through the API server ({}{}); you need permission to \"{}\" services/proxy in namespace {namespace:?} (ask a cluster admin){}",
            answer.code(),
            answer.detail_suffix(": "),
            endpoint.verb(),
            target.offline
        ),
        429 => {
            let header = answer.retry_after.as_deref().map(str::trim);
            let wait = match header {
                Some(secs) if secs.parse::<u64>().is_ok() => format!("retry in {secs} s"),
                Some(other) if !other.is_empty() => format!("retry after {other}"),
                _ => "retry later".to_owned(),
            };
            let message = if from_api_server {
                format!(
                    "rate limited by the Kubernetes API server{}; {wait}",
                    answer.detail_suffix(": ")
                )
            } else {
                let said = answer
                    .detail()
                    .map(|d| format!(" (the controller said: {d})"))
                    .unwrap_or_default();
                format!("rate limited by the controller (--rate-limit); {wait}{said}")
            };
            return anyhow::Error::new(RateLimited {
                message,
                retry_after: header.and_then(retry_after),
            });
        }
        413 => format!(
            "too large for the controller ({}{}); the controller limits the size of a request",
            answer.code(),
            answer.detail_suffix(": ")
        ),
        400 => format!(
            "the controller refused the request ({}{})",
            answer.code(),
            answer.detail_suffix(": ")
        ),
        404 if from_api_server => format!(
            "the controller is not reachable ({}{}); {check}",
            answer.code(),
            answer.detail_suffix(": ")
        ),
        404 => format!(
            "the controller behind service {namespace}/{name} does not serve {} ({}); is it a sealed-secrets controller? Set --controller-name and --controller-namespace",
            endpoint.path(),
            answer.code()
        ),
        // The controller's own 503 (no key loaded yet) has a text body.
        503 if !from_api_server && answer.detail().is_some() && !proxy_error(answer) => format!(
            "the controller is not ready ({}{}); wait for it to start, or see its logs: kubectl -n {namespace} logs service/{name}",
            answer.code(),
            answer.detail_suffix(": ")
        ),
        // 500 too when the API server could not dial the pod (plain text, not a Status).
        502..=504 | 500 if answer.status.as_u16() != 500 || proxy_error(answer) => format!(
            "the controller is not reachable ({} from the API server{}); {check}",
            answer.code(),
            answer.detail_suffix(": ")
        ),
        500..=599 => format!(
            "the controller failed ({}{}); see its logs: kubectl -n {namespace} logs service/{name}",
            answer.code(),
            answer.detail_suffix(": ")
        ),
        _ => format!(
            "unexpected answer from the controller through the API server ({}{})",
            answer.code(),
            answer.detail_suffix(": ")
        ),
    };
    anyhow!(text)
}

/// The API server's proxy writes some failures as plain text.
fn proxy_error(answer: &Answer) -> bool {
    answer.detail().is_some_and(|d| {
        d.to_ascii_lowercase()
            .contains("error trying to reach service")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_print_no_body() {
        let answer = Answer {
            status: StatusCode::OK,
            body: b"tls.key: MARKER-private".to_vec(),
            retry_after: None,
        };
        for text in [format!("{answer:?}"), format!("{answer:#?}")] {
            assert!(!text.contains("MARKER"), "{text}");
            assert!(!text.contains("116, 108, 115"), "{text}");
            assert!(text.contains("<23 bytes>"), "{text}");
        }
    }

    fn target() -> Target {
        Target {
            namespace: "kube-system".into(),
            name: "sealed-secrets-controller".into(),
            api_url: "https://api.example:6443".into(),
            offline: "; or seal offline with --cert FILE".into(),
        }
    }

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            body: body.as_bytes().to_vec(),
            retry_after: None,
        }
    }

    #[test]
    fn paths_are_upstreams() {
        assert_eq!(
            service_path("kube-system", "sealed-secrets-controller"),
            "/api/v1/namespaces/kube-system/services/sealed-secrets-controller"
        );
        assert_eq!(
            proxy_base("kube-system", "sealed-secrets-controller", "http"),
            "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy"
        );
        assert_eq!(
            proxy_base("ns", "ctl", ""),
            "/api/v1/namespaces/ns/services/http:ctl:/proxy"
        );
        assert_eq!(escape("a b/c?"), "a%20b%2Fc%3F");
    }

    #[test]
    fn the_first_port_name_is_taken() {
        let body = r#"{"kind":"Service","apiVersion":"v1","metadata":{"name":"s"},"spec":{"ports":[{"name":"web","port":8080},{"name":"x","port":1}]}}"#;
        assert_eq!(port_name(&answer(200, body), &target()).unwrap(), "web");
        let unnamed = r#"{"kind":"Service","apiVersion":"v1","metadata":{"name":"s"},"spec":{"ports":[{"port":8080}]}}"#;
        assert_eq!(port_name(&answer(200, unnamed), &target()).unwrap(), "");
        let none = r#"{"kind":"Service","apiVersion":"v1","metadata":{"name":"s"},"spec":{}}"#;
        let e = port_name(&answer(200, none), &target()).unwrap_err();
        assert!(e.to_string().contains("has no ports"), "{e}");
    }

    #[test]
    fn a_missing_service_names_the_flags() {
        let body = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"services \"sealed-secrets-controller\" not found","reason":"NotFound","details":{"name":"sealed-secrets-controller","kind":"services"},"code":404}"#;
        let e = port_name(&answer(404, body), &target())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("cannot get sealed secret service: services \"sealed-secrets-controller\" not found. Please, use the flag --controller-name and --controller-namespace to set up the name and namespace of the sealed secrets controller"),
            "{e}"
        );
        let e = port_name(&answer(403, r#"{"kind":"Status","message":"services \"s\" is forbidden: User \"bob\" cannot get resource"}"#), &target())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("User \"bob\"")
                && e.contains("\"get\" services in namespace \"kube-system\""),
            "{e}"
        );
    }

    #[test]
    fn answers_become_one_line_with_what_to_do() {
        let mut limited = answer(429, "");
        limited.retry_after = Some("7".into());
        let e = failure(Endpoint::Verify, &limited, &target()).to_string();
        assert_eq!(
            e,
            "rate limited by the controller (--rate-limit); retry in 7 s"
        );
        let typed = failure(Endpoint::Rotate, &limited, &target());
        let typed = typed
            .downcast_ref::<RateLimited>()
            .expect("a RateLimited error");
        assert_eq!(typed.retry_after, Some(std::time::Duration::from_secs(7)));
        let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(20);
        limited.retry_after = Some(
            jiff::fmt::rfc2822::DateTimePrinter::new()
                .timestamp_to_rfc9110_string(&soon)
                .expect("date"),
        );
        let dated = failure(Endpoint::Rotate, &limited, &target());
        let wait = dated
            .downcast_ref::<RateLimited>()
            .and_then(|r| r.retry_after)
            .expect("a wait");
        assert!(
            wait > std::time::Duration::from_secs(15) && wait <= std::time::Duration::from_secs(20),
            "{wait:?}"
        );
        limited.retry_after = Some("Sun, 06 Nov 1994 08:49:37 GMT".into());
        let past = failure(Endpoint::Rotate, &limited, &target());
        assert_eq!(
            past.downcast_ref::<RateLimited>()
                .and_then(|r| r.retry_after),
            Some(std::time::Duration::ZERO)
        );

        let no_endpoints = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"no endpoints available for service \"sealed-secrets-controller\"","reason":"ServiceUnavailable","code":503}"#;
        let e = failure(Endpoint::Cert, &answer(503, no_endpoints), &target()).to_string();
        assert!(e.starts_with("the controller is not reachable (503 Service Unavailable from the API server: no endpoints available"), "{e}");
        assert!(
            e.ends_with("kubectl -n kube-system get pods,endpoints sealed-secrets-controller"),
            "{e}"
        );

        let e = failure(Endpoint::Cert, &answer(503, "no key yet\n"), &target()).to_string();
        assert!(
            e.starts_with("the controller is not ready (503 Service Unavailable: no key yet)"),
            "{e}"
        );
        let e = failure(Endpoint::Verify, &answer(503, ""), &target()).to_string();
        assert!(
            e.starts_with(
                "the controller is not reachable (503 Service Unavailable from the API server)"
            ),
            "{e}"
        );

        let dial =
            "error trying to reach service: dial tcp 10.0.0.9:8080: connect: connection refused";
        let e = failure(Endpoint::Verify, &answer(500, dial), &target()).to_string();
        assert!(e.starts_with("the controller is not reachable (500"), "{e}");
        let e = failure(Endpoint::Rotate, &answer(500, ""), &target()).to_string();
        assert!(e.starts_with("the controller failed (500"), "{e}");

        let long = "x".repeat(1000);
        let e = failure(Endpoint::Rotate, &answer(413, &long), &target()).to_string();
        assert!(
            e.starts_with("too large for the controller (413 Payload Too Large: xxx"),
            "{e}"
        );
        assert!(e.len() < 450, "{}", e.len());

        let e = failure(Endpoint::Rotate, &answer(403, ""), &target()).to_string();
        assert!(e.contains("\"create\" services/proxy"), "{e}");
    }
}
