//! The controller's own HTTP servers, reached directly (not through the API server): a
//! tiny HTTP/1.1 client, the addresses the controller logs when it binds port 0, and
//! reading Prometheus/OpenMetrics text.

use crate::controller::Controller;
use crate::harness::Ctx;
use crate::wait::Poll;
use anyhow::{Context, Result, bail};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Longest a direct request to the controller may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The log message of the API server (`--listen-addr`) once bound.
pub const API_SERVER_MESSAGE: &str = "HTTP server serving";
/// The log message of the metrics server (`--listen-metrics-addr`) once bound.
pub const METRICS_SERVER_MESSAGE: &str = "HTTP metrics server serving";

/// One HTTP answer, read whole.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; `what` names the request in the error.
    pub fn json(&self, what: &str) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("{what}: the answer is not JSON: {}", self.describe()))
    }

    /// `status content-type "body"` (body cut at 300 characters), for messages.
    pub fn describe(&self) -> String {
        let text = self.text();
        let cut: String = text.chars().take(300).collect();
        format!(
            "{} (Content-Type {:?}) {:?}{}",
            self.status,
            self.header("content-type").unwrap_or(""),
            cut,
            if cut.len() < text.len() { "..." } else { "" }
        )
    }
}

/// One request on a fresh connection (`Connection: close`), within [`REQUEST_TIMEOUT`].
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response> {
    let shown = format!("{method} http://{addr}{path}");
    tokio::time::timeout(REQUEST_TIMEOUT, exchange(addr, method, path, headers, body))
        .await
        .with_context(|| format!("{shown}: no answer within {}s", REQUEST_TIMEOUT.as_secs()))?
        .with_context(|| shown)
}

pub async fn get(addr: SocketAddr, path: &str) -> Result<Response> {
    request(addr, "GET", path, &[], &[]).await
}

/// `POST` with a `Content-Type` and extra headers.
pub async fn post(
    addr: SocketAddr,
    path: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response> {
    let mut all = vec![("Content-Type", content_type)];
    all.extend_from_slice(headers);
    request(addr, "POST", path, &all, body).await
}

/// [`post`] without extra headers, waiting out the controller's rate limit (429 +
/// `Retry-After`, 1 to 5 s) up to five times as a polite client would.
pub async fn post_patiently(
    addr: SocketAddr,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> Result<Response> {
    let mut response = post(addr, path, content_type, &[], body).await?;
    for _ in 0..5 {
        if response.status != 429 {
            break;
        }
        let wait = response
            .header("retry-after")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1)
            .clamp(1, 5);
        tokio::time::sleep(Duration::from_secs(wait)).await;
        response = post(addr, path, content_type, &[], body).await?;
    }
    Ok(response)
}

async fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .context("cannot connect")?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method != "GET" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .await
        .context("reading the answer")?;
    parse_response(&raw)
}

/// Parses a whole HTTP/1.1 answer (`Content-Length`, chunked, or up to the end).
pub fn parse_response(raw: &[u8]) -> Result<Response> {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        bail!(
            "not an HTTP answer (no end of headers): {:?}",
            String::from_utf8_lossy(&raw[..raw.len().min(200)])
        );
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(length) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        if rest.len() < length {
            bail!(
                "the answer ended after {} of {length} body bytes",
                rest.len()
            );
        }
        rest[..length].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("truncated chunked body")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

// ---------- where the controller listens ----------

/// The address in the log line holding `message` (`... INFO HTTP server serving
/// addr=127.0.0.1:38911` in the text format, `"addr":"..."` in JSON), the last one if
/// the controller logged several. An unspecified address (`0.0.0.0`, `::`) is given as
/// the matching loopback address, to connect to.
pub fn served_address(log: &str, message: &str) -> Option<SocketAddr> {
    log.lines()
        .filter(|line| {
            // "HTTP server serving" is not a prefix of "HTTP metrics server serving",
            // but guard against one message containing the other anyway.
            line.contains(message)
                && (message == METRICS_SERVER_MESSAGE || !line.contains(METRICS_SERVER_MESSAGE))
        })
        .filter_map(address_field)
        .next_back()
        .map(connectable)
}

fn address_field(line: &str) -> Option<SocketAddr> {
    let value = if let Some(i) = line.find("\"addr\":\"") {
        let rest = &line[i + 8..];
        &rest[..rest.find('"')?]
    } else {
        let i = line.find(" addr=")?;
        let rest = &line[i + 6..];
        rest.split_whitespace().next()?.trim_matches('"')
    };
    value.parse().ok()
}

fn connectable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

/// A controller's API and metrics servers.
#[derive(Debug, Clone, Copy)]
pub struct ControllerApi {
    /// `--listen-addr`, as bound (port 0 resolved); loopback when bound to all interfaces.
    pub api: SocketAddr,
    /// `--listen-metrics-addr`, as bound.
    pub metrics: SocketAddr,
}

impl Ctx {
    /// Waits until `controller` has logged where its two servers listen and its
    /// `/healthz` answers `200 ok` (keys loaded).
    pub async fn controller_api(&self, controller: &Controller) -> Result<ControllerApi> {
        let api = self
            .wait_for(
                self.timeout(),
                "the controller to log the addresses of its HTTP servers",
                || async {
                    let log = controller.log();
                    Ok(
                        match (
                            served_address(&log, API_SERVER_MESSAGE),
                            served_address(&log, METRICS_SERVER_MESSAGE),
                        ) {
                            (Some(api), Some(metrics)) => Poll::Ready(ControllerApi { api, metrics }),
                            (api, metrics) => Poll::Pending(format!(
                                "no log line with {API_SERVER_MESSAGE:?} / {METRICS_SERVER_MESSAGE:?} and addr=... yet (API {api:?}, metrics {metrics:?})"
                            )),
                        },
                    )
                },
            )
            .await?;
        self.wait_for(
            self.timeout(),
            &format!("GET http://{}/healthz to answer 200 (keys loaded)", api.api),
            || async {
                let response = get(api.api, "/healthz").await?;
                Ok(if response.status == 200 {
                    Poll::Ready(())
                } else {
                    Poll::Pending(format!("/healthz answered {}", response.describe()))
                })
            },
        )
        .await?;
        Ok(api)
    }
}

// ---------- metrics ----------

/// One sample of a metric: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// The samples of metric `name` (exactly that name: `x_total`, not `x_total_created`)
/// in Prometheus or OpenMetrics text.
pub fn samples(text: &str, name: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = if let Some(inner) = rest.strip_prefix('{') {
                let close = inner.rfind('}')?;
                (parse_labels(&inner[..close]), &inner[close + 1..])
            } else if rest.starts_with(' ') {
                (BTreeMap::new(), rest)
            } else {
                return None;
            };
            let value = value.split_whitespace().next()?.parse::<f64>().ok()?;
            Some(Sample { labels, value })
        })
        .collect()
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = text;
    while let Some(eq) = rest.find("=\"") {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_owned();
        let mut value = String::new();
        let mut chars = rest[eq + 2..].char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(match escaped {
                            'n' => '\n',
                            other => other,
                        });
                    }
                }
                '"' => {
                    end = Some(eq + 2 + i + 1);
                    break;
                }
                other => value.push(other),
            }
        }
        out.insert(key, value);
        match end {
            Some(e) => rest = &rest[e..],
            None => break,
        }
    }
    out
}

/// `GET /metrics` of a controller's metrics server: the text, or an error naming the
/// answer.
pub async fn scrape(metrics: SocketAddr) -> Result<String> {
    let response = get(metrics, "/metrics").await?;
    if response.status != 200 {
        bail!(
            "GET http://{metrics}/metrics answered {}",
            response.describe()
        );
    }
    Ok(response.text())
}

impl Ctx {
    /// Waits until the counter `name` on the metrics server `metrics` has reached
    /// `at_least` and not moved for `stays`; returns when it last moved.
    pub async fn wait_counter_settled(
        &self,
        metrics: SocketAddr,
        name: &str,
        at_least: f64,
        stays: Duration,
    ) -> Result<Instant> {
        let last: Cell<(f64, Instant)> = Cell::new((-1.0, Instant::now()));
        self.wait_for(
            self.timeout(),
            &format!(
                "{name} to reach {at_least} and stay for {}s",
                stays.as_secs()
            ),
            || async {
                let value = total(&scrape(metrics).await?, name);
                let (previous, since) = last.get();
                if value != previous {
                    last.set((value, Instant::now()));
                    return Ok(Poll::Pending(format!("{name} = {value}")));
                }
                Ok(if value >= at_least && since.elapsed() >= stays {
                    Poll::Ready(since)
                } else {
                    Poll::Pending(format!(
                        "{name} = {value} for {:.1}s",
                        since.elapsed().as_secs_f64()
                    ))
                })
            },
        )
        .await
    }
}

/// The sum of the samples of `name` (0 when there is none).
pub fn total(text: &str, name: &str) -> f64 {
    samples(text, name).iter().map(|s| s.value).sum()
}

/// The samples of `name` whose labels include every pair of `want`.
pub fn matching(text: &str, name: &str, want: &[(&str, &str)]) -> Vec<Sample> {
    samples(text, name)
        .into_iter()
        .filter(|s| {
            want.iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_addresses_are_read_from_text_and_json_logs() {
        let text = "2026-11-22T10:11:36.677624Z  INFO Starting sealed-secrets controller home=h\n\
                    2026-11-22T10:11:36.9Z  INFO HTTP server serving addr=0.0.0.0:38911\n\
                    2026-11-22T10:11:36.9Z  INFO HTTP metrics server serving addr=127.0.0.1:40001\n";
        assert_eq!(
            served_address(text, API_SERVER_MESSAGE),
            Some("127.0.0.1:38911".parse().unwrap())
        );
        assert_eq!(
            served_address(text, METRICS_SERVER_MESSAGE),
            Some("127.0.0.1:40001".parse().unwrap())
        );
        let json = r#"{"timestamp":"x","level":"INFO","fields":{"message":"HTTP metrics server serving","addr":"[::1]:9"}}"#;
        assert_eq!(
            served_address(json, METRICS_SERVER_MESSAGE),
            Some("[::1]:9".parse().unwrap())
        );
        assert_eq!(served_address(json, API_SERVER_MESSAGE), None);
        assert_eq!(served_address("", API_SERVER_MESSAGE), None);
    }

    #[test]
    fn answers_are_parsed_whole() {
        let r = parse_response(
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\ncontent-length: 3\r\n\r\nabcdef",
        )
        .unwrap();
        assert_eq!(
            (r.status, r.header("retry-after"), r.body.as_slice()),
            (429, Some("1"), b"abc".as_slice())
        );
        let r = parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!(r.body, b"abcde");
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn metric_samples_and_labels() {
        let text = "# HELP x_total help\n# TYPE x counter\n\
                    x_total{path=\"/v1/verify\",code=\"200\",method=\"post\"} 2\n\
                    x_total_created 1.5\n\
                    y{a=\"q\\\"uote\",b=\"\"} 1\n\
                    x_total 7\n";
        let s = samples(text, "x_total");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].labels["path"], "/v1/verify");
        assert_eq!(s[0].value, 2.0);
        assert_eq!(s[1].value, 7.0);
        assert_eq!(matching(text, "x_total", &[("code", "200")]).len(), 1);
        let y = samples(text, "y");
        assert_eq!(y[0].labels["a"], "q\"uote");
        assert_eq!(y[0].labels["b"], "");
    }
}
