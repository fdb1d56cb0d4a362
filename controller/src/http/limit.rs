//! The rate limit of `/v1/verify` and `/v1/rotate`, per client and path.
//!
//! The client is the peer address of the connection. `X-Forwarded-For` is believed only
//! when the peer is a trusted proxy, and then read from the right: entries further left
//! were written by the client and prove nothing. Trusted are the addresses of
//! `--rate-limit-trusted-proxies` and, without any setting, the API server's own
//! addresses (read from its EndpointSlice, see `apiserver.rs`): its service proxy, which
//! `kubeseal` goes through, appends the real client's address. Upstream keys its
//! limiter on the whole header, so a client that sends a new value each time is never
//! limited.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::RwLock;
use std::time::Duration;

/// Past this many tracked clients, idle entries are dropped.
const MAX_TRACKED: usize = 16_384;

/// Per-client rate limiter; `None` inside when `--rate-limit 0` turns it off.
pub struct ClientLimiter {
    limiter: Option<DefaultKeyedRateLimiter<(IpAddr, &'static str)>>,
    trusted: Vec<IpNet>,
    /// The API server's addresses, as last read; trusted like `trusted`.
    api_servers: RwLock<Vec<IpNet>>,
}

impl ClientLimiter {
    /// `rate` requests per second sustained, `burst` more at once (upstream's GCRA
    /// `MaxBurst`: the number of requests allowed in excess of the rate).
    pub fn new(rate: u32, burst: u32, trusted: Vec<IpNet>) -> ClientLimiter {
        let limiter = NonZeroU32::new(rate).map(|rate| {
            let burst = NonZeroU32::new(burst.saturating_add(1)).unwrap_or(NonZeroU32::MIN);
            DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        ClientLimiter {
            limiter,
            trusted,
            api_servers: RwLock::new(Vec::new()),
        }
    }

    /// Trusts `X-Forwarded-For` from these addresses (and no longer from the previous
    /// ones), besides `--rate-limit-trusted-proxies`.
    pub fn set_api_servers(&self, addresses: &[IpAddr]) {
        let nets = addresses
            .iter()
            .map(|ip| IpNet::from(canonical(*ip)))
            .collect();
        *self.api_servers.write().unwrap_or_else(|p| p.into_inner()) = nets;
    }

    /// The API server addresses trusted now.
    pub fn api_servers(&self) -> Vec<IpNet> {
        self.api_servers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Admits one request to `path` from `client`, or says how long to wait.
    pub fn check(&self, client: IpAddr, path: &'static str) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if limiter.len() > MAX_TRACKED {
            limiter.retain_recent();
        }
        limiter
            .check_key(&(client, path))
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// The client a request comes from.
    pub fn client(&self, peer: Option<IpAddr>, forwarded_for: Option<&str>) -> IpAddr {
        let api_servers = self.api_servers.read().unwrap_or_else(|p| p.into_inner());
        if api_servers.is_empty() {
            return client_address(peer, forwarded_for, &self.trusted);
        }
        let trusted: Vec<IpNet> = self
            .trusted
            .iter()
            .chain(api_servers.iter())
            .copied()
            .collect();
        client_address(peer, forwarded_for, &trusted)
    }
}

/// The peer, or, when the peer is a trusted proxy, the right-most address in
/// `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[IpNet],
) -> IpAddr {
    let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), canonical);
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for entry in forwarded_for.unwrap_or_default().rsplit(',') {
        let Some(ip) = parse_entry(entry) else {
            // Garbage from here on was not written by a proxy we trust.
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, possibly with a port or brackets.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    entry
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|s| canonical(s.ip()))
}

/// IPv4-mapped IPv6 addresses count as their IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::parse_trusted_proxies;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let peer = Some(ip("10.0.0.7"));
        assert_eq!(client_address(peer, Some("1.2.3.4"), &[]), ip("10.0.0.7"));
        assert_eq!(client_address(None, Some("1.2.3.4"), &[]), ip("0.0.0.0"));
    }

    #[test]
    fn trusted_proxy_yields_the_rightmost_untrusted_entry() {
        let trusted = parse_trusted_proxies("10.0.0.0/8, 192.168.1.1").unwrap();
        let peer = Some(ip("10.0.0.7"));
        // The client forged "6.6.6.6"; the API server appended the real address.
        assert_eq!(
            client_address(peer, Some("6.6.6.6, 203.0.113.9"), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(peer, Some("203.0.113.9, 192.168.1.1"), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(client_address(peer, None, &trusted), ip("10.0.0.7"));
        assert_eq!(
            client_address(peer, Some("[2001:db8::1]:443"), &trusted),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_address(peer, Some("6.6.6.6, junk"), &trusted),
            ip("10.0.0.7")
        );
    }

    #[test]
    fn limiter_allows_rate_plus_burst_then_refuses_per_client_and_path() {
        let limiter = ClientLimiter::new(2, 2, Vec::new());
        let a = ip("10.0.0.1");
        for _ in 0..3 {
            assert!(limiter.check(a, "/v1/verify").is_ok());
        }
        let wait = limiter.check(a, "/v1/verify").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        assert!(limiter.check(a, "/v1/rotate").is_ok());
        assert!(limiter.check(ip("10.0.0.2"), "/v1/verify").is_ok());
        let off = ClientLimiter::new(0, 0, Vec::new());
        for _ in 0..100 {
            assert!(off.check(a, "/v1/verify").is_ok());
        }
    }

    #[test]
    fn api_server_addresses_are_trusted_besides_the_flag_and_replaced_on_refresh() {
        let limiter = ClientLimiter::new(2, 2, parse_trusted_proxies("192.168.1.0/24").unwrap());
        let via = |peer: &str| limiter.client(Some(ip(peer)), Some("6.6.6.6, 203.0.113.9"));
        assert_eq!(via("10.0.0.1"), ip("10.0.0.1"));
        assert_eq!(via("192.168.1.5"), ip("203.0.113.9"));
        limiter.set_api_servers(&[ip("10.0.0.1"), ip("::ffff:10.0.0.2")]);
        assert_eq!(via("10.0.0.1"), ip("203.0.113.9"));
        assert_eq!(via("::ffff:10.0.0.2"), ip("203.0.113.9"));
        assert_eq!(via("10.0.0.3"), ip("10.0.0.3"));
        assert_eq!(via("192.168.1.5"), ip("203.0.113.9"));
        limiter.set_api_servers(&[ip("10.0.0.2")]);
        assert_eq!(via("10.0.0.1"), ip("10.0.0.1"));
    }
}
