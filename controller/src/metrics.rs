//! Prometheus metrics under upstream's names and labels, so existing dashboards and
//! alerts keep working, plus the key inventory upstream users ask for.
//!
//! `condition_info` and the per-key figures are computed at scrape time from the
//! watched SealedSecrets and the key registry: nothing to keep in step by hand, and a
//! deleted SealedSecret disappears from the metrics with it.

use crate::keys::{KeyRegistry, KeyUsage};
use kube::runtime::reflector::{ObjectRef, Store};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sealed_common::SealedSecret;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Prometheus' default histogram buckets (client_golang's DefBuckets), as upstream uses.
const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub reason: String,
    pub namespace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub path: String,
    pub code: String,
    pub method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpDurationLabels {
    pub path: String,
    pub method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OriginLabels {
    origin: &'static str,
}

/// Who asked for RSA work: a request to `/v1/verify` or `/v1/rotate`, or a reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Http,
    Reconcile,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Http => "http",
            Origin::Reconcile => "reconcile",
        }
    }
}

/// Why an unseal failed, as upstream labels `unseal_errors_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorReason {
    Unseal,
    Unmanaged,
    Update,
    Status,
}

impl ErrorReason {
    fn as_str(self) -> &'static str {
        match self {
            ErrorReason::Unseal => "unseal",
            ErrorReason::Unmanaged => "unmanaged",
            ErrorReason::Update => "update",
            ErrorReason::Status => "status",
        }
    }
}

/// Every metric the controller exposes.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    unseal_requests: Counter,
    unseal_errors: Family<ErrorLabels, Counter>,
    unseal_duration: Histogram,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<HttpDurationLabels, Histogram>,
    rsa_decryptions: Family<OriginLabels, Counter>,
    observed: Arc<Observed>,
}

impl Metrics {
    /// `omit_secret_labels` (`--metrics-omit-secret-labels`) leaves `condition_info`
    /// out, so the endpoint does not list SealedSecret names.
    pub fn new(keys: Arc<KeyRegistry>, usage: Arc<KeyUsage>, omit_secret_labels: bool) -> Metrics {
        let mut registry = Registry::with_prefix("sealed_secrets_controller");
        let build_info = Family::<Vec<(String, String)>, Gauge>::default();
        build_info
            .get_or_create(&vec![(
                "revision".to_owned(),
                env!("CARGO_PKG_VERSION").to_owned(),
            )])
            .set(1);
        registry.register("build_info", "Build information.", build_info);
        let unseal_requests = Counter::default();
        registry.register(
            "unseal_requests",
            "Total number of sealed secret unseal requests",
            unseal_requests.clone(),
        );
        let unseal_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "unseal_errors",
            "Total number of sealed secret unseal errors by reason",
            unseal_errors.clone(),
        );
        let unseal_duration = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        registry.register(
            "unseal_duration_seconds",
            "Time to decrypt one SealedSecret (RSA and AES work only).",
            unseal_duration.clone(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "A counter for requests to the wrapped handler.",
            http_requests.clone(),
        );
        let http_duration = Family::<HttpDurationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(DEFAULT_BUCKETS)
        });
        registry.register(
            "http_request_duration_seconds",
            "A histogram of latencies for requests.",
            http_duration.clone(),
        );
        let rsa_decryptions = Family::<OriginLabels, Counter>::default();
        registry.register(
            "rsa_decryptions",
            "RSA decryptions made, by origin (http: /v1/verify and /v1/rotate; reconcile).",
            rsa_decryptions.clone(),
        );
        let observed = Arc::new(Observed {
            stores: Mutex::new(std::collections::BTreeMap::new()),
            keys,
            usage,
            omit_secret_labels,
        });
        registry.register_collector(Box::new(Arc::clone(&observed)));
        Metrics {
            registry,
            unseal_requests,
            unseal_errors,
            unseal_duration,
            http_requests,
            http_duration,
            rsa_decryptions,
            observed,
        }
    }

    /// Adds the SealedSecrets one reconcile loop watches.
    /// The store of one reconcile loop (`scope`: its namespace, or all). A loop started
    /// again (a new leadership term) replaces its old, no longer updated store.
    pub fn watch_store(&self, scope: &str, store: Store<SealedSecret>) {
        self.observed
            .stores
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(scope.to_owned(), store);
    }

    pub fn unseal_request(&self) {
        self.unseal_requests.inc();
    }

    pub fn unseal_error(&self, reason: ErrorReason, namespace: &str) {
        self.unseal_errors
            .get_or_create(&ErrorLabels {
                reason: reason.as_str().to_owned(),
                namespace: namespace.to_owned(),
            })
            .inc();
    }

    pub fn unseal_duration(&self, seconds: f64) {
        self.unseal_duration.observe(seconds);
    }

    pub fn http_request(&self, path: &str, method: &str, code: u16, seconds: f64) {
        self.http_requests
            .get_or_create(&HttpLabels {
                path: path.to_owned(),
                code: code.to_string(),
                method: method.to_owned(),
            })
            .inc();
        self.http_duration
            .get_or_create(&HttpDurationLabels {
                path: path.to_owned(),
                method: method.to_owned(),
            })
            .observe(seconds);
    }

    pub fn rsa_decryptions(&self, origin: Origin, count: usize) {
        let counter = self.rsa_decryptions.get_or_create(&OriginLabels {
            origin: origin.as_str(),
        });
        counter.inc_by(u64::try_from(count).unwrap_or(u64::MAX));
    }

    /// RSA decryptions made so far for `origin`.
    pub fn rsa_decryptions_total(&self, origin: Origin) -> u64 {
        self.rsa_decryptions
            .get_or_create(&OriginLabels {
                origin: origin.as_str(),
            })
            .get()
    }

    /// The text exposition (OpenMetrics) of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Figures read at scrape time.
struct Observed {
    stores: Mutex<std::collections::BTreeMap<String, Store<SealedSecret>>>,
    keys: Arc<KeyRegistry>,
    usage: Arc<KeyUsage>,
    omit_secret_labels: bool,
}

impl std::fmt::Debug for Observed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observed")
            .field("omit_secret_labels", &self.omit_secret_labels)
            .finish_non_exhaustive()
    }
}

/// Upstream's gauge values for a condition status.
fn condition_value(status: &str) -> i64 {
    match status {
        "True" => 1,
        "False" => -1,
        _ => 0,
    }
}

/// Seconds since the Unix epoch (negative before it).
fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

impl Observed {
    fn objects(&self) -> Vec<Arc<SealedSecret>> {
        let stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        stores.values().flat_map(|s| s.state()).collect()
    }
}

impl Collector for Observed {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let objects = self.objects();
        if !self.omit_secret_labels {
            let mut family = encoder.encode_descriptor(
                "condition_info",
                "Current SealedSecret condition status. Values are -1 (false), 0 (unknown or absent), 1 (true)",
                None,
                MetricType::Gauge,
            )?;
            for sealed in &objects {
                let conditions = sealed.status.as_ref().and_then(|s| s.conditions.as_ref());
                for condition in conditions.into_iter().flatten() {
                    let labels = [
                        ("namespace", sealed.namespace()),
                        ("name", sealed.name()),
                        ("condition", condition.type_.as_str()),
                    ];
                    family
                        .encode_family(&labels)?
                        .encode_gauge(&condition_value(&condition.status))?;
                }
            }
        }

        let inventory = self.keys.inventory();
        let keys: Vec<_> = inventory.iter().map(|s| Arc::clone(&s.key)).collect();
        let count = ConstGauge::new(i64::try_from(keys.len()).unwrap_or(i64::MAX));
        count.encode(encoder.encode_descriptor(
            "keys",
            "Number of sealing keys held (active or not).",
            None,
            count.metric_type(),
        )?)?;
        if let Some(newest) = keys.first() {
            let age = SystemTime::now()
                .duration_since(newest.ordering_time)
                .map_or(0.0, |d| d.as_secs_f64());
            let gauge = ConstGauge::new(age);
            gauge.encode(encoder.encode_descriptor(
                "newest_key_age_seconds",
                "Age of the newest key (by --key-order-priority); alert when it exceeds the renewal period.",
                None,
                gauge.metric_type(),
            )?)?;
        }

        // SealedSecrets per key (the last key that opened each, even if it fails now):
        // from status.keyFingerprint, else from what this process saw. Keys that open
        // nothing are listed with 0: candidates for retirement.
        let mut per_key: BTreeMap<String, i64> =
            keys.iter().map(|k| (k.fingerprint.clone(), 0)).collect();
        for sealed in &objects {
            let fingerprint = sealed
                .status
                .as_ref()
                .and_then(|s| s.key_fingerprint.clone())
                .or_else(|| self.usage.get(&ObjectRef::from_obj(sealed.as_ref())));
            if let Some(fingerprint) = fingerprint {
                *per_key.entry(fingerprint).or_insert(0) += 1;
            }
        }
        let mut family = encoder.encode_descriptor(
            "sealed_secrets_by_key",
            "SealedSecrets last opened by each key (by key fingerprint).",
            None,
            MetricType::Gauge,
        )?;
        for (fingerprint, count) in per_key {
            family
                .encode_family(&[("fingerprint", fingerprint.as_str())])?
                .encode_gauge(&count)?;
        }

        let mut family = encoder.encode_descriptor(
            "key_expiry_timestamp_seconds",
            "When each key's certificate expires, as a Unix time (keys without a certificate are left out).",
            None,
            MetricType::Gauge,
        )?;
        for key in &keys {
            if let Some(certificate) = &key.certificate {
                family
                    .encode_family(&[("fingerprint", key.fingerprint.as_str())])?
                    .encode_gauge(&unix_seconds(certificate.not_after()))?;
            }
        }

        let mut family = encoder.encode_descriptor(
            "key_info",
            "1 for each key held; active is \"true\" for the key new SealedSecrets are sealed with.",
            None,
            MetricType::Gauge,
        )?;
        for status in &inventory {
            let labels = [
                ("fingerprint", status.key.fingerprint.as_str()),
                ("secret", status.key.secret_name.as_str()),
                ("active", if status.active { "true" } else { "false" }),
            ];
            family.encode_family(&labels)?.encode_gauge(&1_i64)?;
        }
        Ok(())
    }
}
