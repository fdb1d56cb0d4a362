//! Every upstream controller flag, with its name and default. Each can also be set as
//! `SEALED_SECRETS_<FLAG>` (upper case, `-` as `_`), as upstream allows.

use clap::Parser;
use ipnet::IpNet;
use sealed_common::goflag::{parse_bool, parse_duration};
use std::net::IpAddr;
use std::time::Duration;

const EXAMPLES: &str = "\
Examples:
  # In a cluster (the Deployment in deploy/): no flags needed
  sealed-secrets-controller

  # As a local process against a cluster, keys in kube-system
  sealed-secrets-controller --kubeconfig ~/.kube/config

  # Only the home namespace and two more, JSON logs
  sealed-secrets-controller --all-namespaces=false --additional-namespaces team-a,team-b --log-format json

  # Renew keys weekly; at start, make a new key if the newest is older than the cutoff
  # (RFC 1123 with a numeric zone, as `date -R` prints it)
  sealed-secrets-controller --key-renew-period 168h --key-cutoff-time \"$(date -R)\"

  # A new key now, in the cluster: the Deployment restarts with a cutoff of now
  # (every flag is also an environment variable, SEALED_SECRETS_<FLAG>)
  kubectl -n kube-system set env deployment/sealed-secrets-controller \\
    SEALED_SECRETS_KEY_CUTOFF_TIME=\"$(date -R)\"

Send SIGUSR1 to generate a new key at once; SIGTERM stops gracefully.
Key renewal, backups and rotation: docs/key-rotation.md.";

/// Sealed Secrets controller: holds the sealing key pairs and turns SealedSecrets into
/// Secrets.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "sealed-secrets-controller",
    disable_version_flag = true,
    after_long_help = EXAMPLES
)]
pub struct Flags {
    /// Print version information and exit.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_bool, value_name = "BOOL")]
    pub version: bool,

    /// Path to a kubeconfig, to run outside the cluster (default: in-cluster config, else $KUBECONFIG or ~/.kube/config).
    #[arg(
        long,
        env = "SEALED_SECRETS_KUBECONFIG",
        value_name = "PATH",
        help_heading = "Cluster"
    )]
    pub kubeconfig: Option<String>,

    /// Home namespace, where the key Secrets live (default: $POD_NAMESPACE, the service account's namespace, else kube-system).
    #[arg(
        long,
        env = "SEALED_SECRETS_NAMESPACE",
        value_name = "NAMESPACE",
        help_heading = "Cluster"
    )]
    pub namespace: Option<String>,

    /// Scan all namespaces or only the current namespace (default=true).
    #[arg(long, env = "SEALED_SECRETS_ALL_NAMESPACES", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true", value_parser = parse_bool, value_name = "BOOL", help_heading = "Watching")]
    pub all_namespaces: bool,

    /// Comma-separated list of additional namespaces to be scanned.
    #[arg(
        long,
        env = "SEALED_SECRETS_ADDITIONAL_NAMESPACES",
        default_value = "",
        hide_default_value = true,
        value_name = "NS,...",
        help_heading = "Watching"
    )]
    pub additional_namespaces: String,

    /// Label selector which can be used to filter sealed secrets.
    #[arg(
        long,
        env = "SEALED_SECRETS_LABEL_SELECTOR",
        default_value = "",
        hide_default_value = true,
        value_name = "SELECTOR",
        help_heading = "Watching"
    )]
    pub label_selector: String,

    /// if true, the controller will update the status sub-resource whenever it processes a sealed secret.
    #[arg(long, env = "SEALED_SECRETS_UPDATE_STATUS", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true", value_parser = parse_bool, value_name = "BOOL", help_heading = "Watching")]
    pub update_status: bool,

    /// if true the controller will skip listening for managed secret changes to recreate them.
    #[arg(long, env = "SEALED_SECRETS_SKIP_RECREATE", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_bool, value_name = "BOOL", help_heading = "Watching")]
    pub skip_recreate: bool,

    /// Accepted for compatibility: key Secrets are always watched here.
    #[arg(long, env = "SEALED_SECRETS_WATCH_FOR_SECRETS", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_bool, value_name = "BOOL", help_heading = "Watching")]
    pub watch_for_secrets: bool,

    /// Accepted for compatibility: deletion is always left to Kubernetes garbage collection.
    #[arg(long, env = "SEALED_SECRETS_OLD_GC_BEHAVIOR", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_bool, value_name = "BOOL", help_heading = "Watching")]
    pub old_gc_behavior: bool,

    /// Max unseal retries.
    #[arg(
        long,
        env = "SEALED_SECRETS_MAX_UNSEAL_RETRIES",
        default_value_t = 5,
        value_name = "N",
        help_heading = "Unsealing"
    )]
    pub max_unseal_retries: u32,

    /// Accept deprecated V1 data field.
    #[arg(long, env = "SEALED_SECRETS_ACCEPT_DEPRECATED_V1_DATA", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true", value_parser = parse_bool, value_name = "BOOL", help_heading = "Unsealing")]
    pub accept_deprecated_v1_data: bool,

    /// Prefix used to name keys.
    #[arg(
        long,
        env = "SEALED_SECRETS_KEY_PREFIX",
        default_value = "sealed-secrets-key",
        value_name = "PREFIX",
        help_heading = "Keys"
    )]
    pub key_prefix: String,

    /// Size of encryption key.
    #[arg(
        long,
        env = "SEALED_SECRETS_KEY_SIZE",
        default_value_t = 4096,
        value_name = "BITS",
        help_heading = "Keys"
    )]
    pub key_size: usize,

    /// Duration that certificate is valid for.
    #[arg(long, env = "SEALED_SECRETS_KEY_TTL", default_value = "87600h", value_parser = parse_duration, value_name = "DURATION", help_heading = "Keys")]
    pub key_ttl: Duration,

    /// Common name to be used as issuer/subject DN in generated certificate.
    #[arg(
        long,
        env = "SEALED_SECRETS_MY_CN",
        default_value = "",
        hide_default_value = true,
        value_name = "CN",
        help_heading = "Keys"
    )]
    pub my_cn: String,

    /// New key generation period (automatic rotation deactivated if 0).
    #[arg(long, env = "SEALED_SECRETS_KEY_RENEW_PERIOD", default_value = "720h", value_parser = parse_duration, value_name = "DURATION", help_heading = "Keys")]
    pub key_renew_period: Duration,

    /// Deprecated: please use key-renew-period instead.
    #[arg(long, env = "SEALED_SECRETS_ROTATE_PERIOD", value_parser = parse_duration, value_name = "DURATION", hide = true)]
    pub rotate_period: Option<Duration>,

    /// Create a new key if latest one is older than this cutoff time. RFC1123 format with numeric timezone expected.
    #[arg(
        long,
        env = "SEALED_SECRETS_KEY_CUTOFF_TIME",
        default_value = "",
        hide_default_value = true,
        value_name = "TIME",
        help_heading = "Keys"
    )]
    pub key_cutoff_time: String,

    /// Ordering of keys based on NotBefore certificate attribute or secret creation timestamp.
    #[arg(long, env = "SEALED_SECRETS_KEY_ORDER_PRIORITY", default_value = "CertNotBefore", value_parser = ["CertNotBefore", "SecretCreationTimestamp"], value_name = "ORDER", help_heading = "Keys")]
    pub key_order_priority: String,

    /// Hold a new key back from sealing for this long: it decrypts at once, but /v1/cert.pem and /v1/rotate keep using the previous key until then, so backups can catch up. 0 = seal with a new key at once (upstream).
    #[arg(long, env = "SEALED_SECRETS_KEY_ACTIVATION_DELAY", default_value = "0s", value_parser = parse_duration, value_name = "DURATION", help_heading = "Keys")]
    pub key_activation_delay: Duration,

    /// Comma-separated list of additional annotations to be put on renewed sealing keys.
    #[arg(
        long,
        env = "SEALED_SECRETS_PRIVATEKEY_ANNOTATIONS",
        default_value = "",
        hide_default_value = true,
        value_name = "K=V,...",
        help_heading = "Keys"
    )]
    pub privatekey_annotations: String,

    /// Comma-separated list of additional labels to be put on renewed sealing keys.
    #[arg(
        long,
        env = "SEALED_SECRETS_PRIVATEKEY_LABELS",
        default_value = "",
        hide_default_value = true,
        value_name = "K=V,...",
        help_heading = "Keys"
    )]
    pub privatekey_labels: String,

    /// HTTP serving address.
    #[arg(
        long,
        env = "SEALED_SECRETS_LISTEN_ADDR",
        default_value = ":8080",
        value_name = "ADDR",
        help_heading = "HTTP"
    )]
    pub listen_addr: String,

    /// HTTP metrics serving address.
    #[arg(
        long,
        env = "SEALED_SECRETS_LISTEN_METRICS_ADDR",
        default_value = ":8081",
        value_name = "ADDR",
        help_heading = "HTTP"
    )]
    pub listen_metrics_addr: String,

    /// Number of allowed sustained requests per second for the verify and rotate endpoints.
    #[arg(
        long,
        env = "SEALED_SECRETS_RATE_LIMIT",
        default_value_t = 2,
        value_name = "N",
        help_heading = "HTTP"
    )]
    pub rate_limit: u32,

    /// Number of requests allowed to exceed the rate limit per second for the verify and rotate endpoints.
    #[arg(
        long,
        env = "SEALED_SECRETS_RATE_LIMIT_BURST",
        default_value_t = 2,
        value_name = "N",
        help_heading = "HTTP"
    )]
    pub rate_limit_burst: u32,

    /// Addresses or CIDR ranges of proxies whose X-Forwarded-For is believed when rate limiting (e.g. the API server's address, so users reaching the controller through its service proxy are limited one by one). Empty: the limit is per connecting address and X-Forwarded-For is ignored.
    #[arg(
        long,
        env = "SEALED_SECRETS_RATE_LIMIT_TRUSTED_PROXIES",
        default_value = "",
        hide_default_value = true,
        value_name = "CIDR,...",
        help_heading = "HTTP"
    )]
    pub rate_limit_trusted_proxies: String,

    /// HTTP request timeout.
    #[arg(long, env = "SEALED_SECRETS_READ_TIMEOUT", default_value = "2m", value_parser = parse_duration, value_name = "DURATION", help_heading = "HTTP")]
    pub read_timeout: Duration,

    /// HTTP response timeout.
    #[arg(long, env = "SEALED_SECRETS_WRITE_TIMEOUT", default_value = "2m", value_parser = parse_duration, value_name = "DURATION", help_heading = "HTTP")]
    pub write_timeout: Duration,

    /// When true, the sealed_secrets_controller_condition_info metric is not exposed, so the metrics endpoint does not list SealedSecret namespaces and names.
    #[arg(long, env = "SEALED_SECRETS_METRICS_OMIT_SECRET_LABELS", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_bool, value_name = "BOOL", help_heading = "HTTP")]
    pub metrics_omit_secret_labels: bool,

    /// Elect a leader among replicas with a coordination.k8s.io/v1 Lease in the controller's namespace: only the leader generates keys and writes Secrets and status; every replica serves the HTTP API.
    #[arg(long, env = "SEALED_SECRETS_LEADER_ELECT", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_bool, value_name = "BOOL", help_heading = "High availability")]
    pub leader_elect: bool,

    /// Name of the Lease used for leader election.
    #[arg(
        long,
        env = "SEALED_SECRETS_LEADER_ELECT_LEASE_NAME",
        default_value = "sealed-secrets-controller",
        value_name = "NAME",
        help_heading = "High availability"
    )]
    pub leader_elect_lease_name: String,

    /// How long a leader's Lease lasts without renewal; a replica takes over this long after the leader stops renewing.
    #[arg(long, env = "SEALED_SECRETS_LEADER_ELECT_LEASE_DURATION", default_value = "15s", value_parser = parse_duration, value_name = "DURATION", help_heading = "High availability")]
    pub leader_elect_lease_duration: Duration,

    /// The leader stops writing when it has not renewed its Lease for this long (less than the lease duration).
    #[arg(long, env = "SEALED_SECRETS_LEADER_ELECT_RENEW_DEADLINE", default_value = "10s", value_parser = parse_duration, value_name = "DURATION", help_heading = "High availability")]
    pub leader_elect_renew_deadline: Duration,

    /// How often replicas try to acquire, and the leader renews, the Lease.
    #[arg(long, env = "SEALED_SECRETS_LEADER_ELECT_RETRY_PERIOD", default_value = "2s", value_parser = parse_duration, value_name = "DURATION", help_heading = "High availability")]
    pub leader_elect_retry_period: Duration,

    /// Log level (INFO|ERROR; also DEBUG, WARN).
    #[arg(
        long,
        env = "SEALED_SECRETS_LOG_LEVEL",
        default_value = "INFO",
        value_name = "LEVEL",
        help_heading = "Logging"
    )]
    pub log_level: String,

    /// Log format (text|json).
    #[arg(long, env = "SEALED_SECRETS_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"], value_name = "FORMAT", help_heading = "Logging")]
    pub log_format: String,

    /// if true the controller will log info to stdout and error/warn to stderr.
    #[arg(long, env = "SEALED_SECRETS_LOG_INFO_STDOUT", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true", value_parser = parse_bool, value_name = "BOOL", help_heading = "Logging")]
    pub log_info_stdout: bool,

    /// Ignored (a Go client-go setting); kube-rs has no client-side rate limiter.
    #[arg(
        long,
        env = "SEALED_SECRETS_KUBECLIENT_QPS",
        default_value_t = 5.0,
        value_name = "QPS",
        hide = true
    )]
    pub kubeclient_qps: f32,

    /// Ignored (a Go client-go setting).
    #[arg(
        long,
        env = "SEALED_SECRETS_KUBECLIENT_BURST",
        default_value_t = 10,
        value_name = "N",
        hide = true
    )]
    pub kubeclient_burst: i32,
}

impl Flags {
    /// `--key-renew-period`, or the deprecated `--rotate-period` when only it is given.
    pub fn renew_period(&self) -> Duration {
        self.rotate_period.unwrap_or(self.key_renew_period)
    }

    /// `--additional-namespaces` as a list, blanks dropped.
    pub fn additional_namespaces(&self) -> Vec<String> {
        split_list(&self.additional_namespaces)
    }
}

/// Splits a comma-separated list, trimming blanks.
/// Parses `--rate-limit-trusted-proxies`: addresses or CIDR ranges, comma-separated.
pub fn parse_trusted_proxies(list: &str) -> Result<Vec<IpNet>, String> {
    split_list(list)
        .into_iter()
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!(
                        "--rate-limit-trusted-proxies: {item:?} is not an IP address or CIDR range"
                    )
                })
        })
        .collect()
}

pub fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parses `k=v,k2=v2` as upstream's `--privatekey-labels`/`--privatekey-annotations`.
pub fn parse_key_values(
    flag: &str,
    text: &str,
) -> Result<std::collections::BTreeMap<String, String>, String> {
    split_list(text)
        .into_iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
            _ => Err(format!("--{flag}: {pair:?} is not of the form key=value")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        assert_eq!(
            parse_trusted_proxies("10.0.0.0/8, 192.168.1.1").map(|l| l.len()),
            Ok(2)
        );
        assert!(parse_trusted_proxies("10.0.0.0/33").is_err());
        assert!(parse_trusted_proxies("").expect("empty").is_empty());
    }

    #[test]
    fn defaults_match_upstream() {
        let f = Flags::try_parse_from(["c"]).expect("no flags");
        assert_eq!(f.key_prefix, "sealed-secrets-key");
        assert_eq!(f.key_size, 4096);
        assert_eq!(f.key_ttl, Duration::from_secs(87600 * 3600));
        assert_eq!(f.renew_period(), Duration::from_secs(720 * 3600));
        assert_eq!(f.key_order_priority, "CertNotBefore");
        assert!(f.all_namespaces && f.update_status && f.accept_deprecated_v1_data);
        assert!(!f.skip_recreate);
        assert_eq!(f.max_unseal_retries, 5);
        assert_eq!((f.rate_limit, f.rate_limit_burst), (2, 2));
        assert_eq!(
            (f.listen_addr.as_str(), f.listen_metrics_addr.as_str()),
            (":8080", ":8081")
        );
        assert_eq!(
            (f.log_level.as_str(), f.log_format.as_str()),
            ("INFO", "text")
        );
    }

    #[test]
    fn go_style_values() {
        let f = Flags::try_parse_from([
            "c",
            "--all-namespaces=false",
            "--additional-namespaces",
            "a, b,,c",
            "--key-renew-period=0",
            "--skip-recreate",
        ])
        .expect("valid flags");
        assert!(!f.all_namespaces && f.skip_recreate);
        assert_eq!(f.additional_namespaces(), ["a", "b", "c"]);
        assert_eq!(f.renew_period(), Duration::ZERO);
        let f = Flags::try_parse_from(["c", "--rotate-period", "1h"]).expect("deprecated alias");
        assert_eq!(f.renew_period(), Duration::from_secs(3600));
        assert!(Flags::try_parse_from(["c", "--key-order-priority", "Random"]).is_err());
    }

    #[test]
    fn key_value_lists() {
        let m = parse_key_values("privatekey-labels", "a=1, b=x=y").expect("valid");
        assert_eq!(m.get("a").map(String::as_str), Some("1"));
        assert_eq!(m.get("b").map(String::as_str), Some("x=y"));
        assert!(parse_key_values("privatekey-labels", "novalue").is_err());
    }
}
