//! The IP filter: allow and deny lists (CIDR, IPv4 and IPv6) and rate limits
//! per client address, with bans. The original's `"10/60"` rule form (N requests
//! per S seconds), answered with 429 and `Retry-After` instead of a 500.
//!
//! The client address is the socket peer — unless the peer is a configured trusted
//! proxy. Then one header is believed, the one the proxy writes
//! (`ip_filter.forwarded_header`, `X-Forwarded-For` by default), read from the right:
//! the right-most address that is not one of our own proxies is the client. Whatever
//! the client itself sent (further left, or in another forwarding header) counts for
//! nothing. The same address is used by rate limits, deny lists and logs. IPv6
//! clients are counted per /64, and the table of counters is bounded, so a flood of
//! addresses cannot exhaust memory.

mod limiter;

pub use limiter::{client_key, Limiter, Verdict};

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

pub use crate::config::{parse_net, IpFilterConfig, Rule};

/// Why a request is not served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The trusted proxy's forwarding header holds something that is not an address.
    Malformed(String),
    /// On the deny list, or not on the allow list.
    Denied,
    /// Over the route's rate (or banned for it) for `retry_after` more seconds.
    Limited { retry_after: u64 },
}

/// The compiled filter.
pub struct IpFilter {
    pub enabled: bool,
    /// The one forwarding header believed from trusted proxies (lower case).
    header: String,
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
    trusted: Vec<IpNet>,
    exempt_images: bool,
    limiter: Limiter,
}

impl IpFilter {
    /// Builds the filter from a validated config.
    pub fn new(c: &IpFilterConfig) -> Result<Self, String> {
        let nets = |list: &[String]| list.iter().map(|s| parse_net(s)).collect::<Result<Vec<_>, _>>();
        let default_rule: Rule = c.rule.parse()?;
        let mut routes = Vec::new();
        for (route, rule) in &c.routes {
            routes.push((route.clone(), rule.parse::<Rule>()?));
        }
        Ok(IpFilter {
            enabled: c.enabled,
            header: c.forwarded_header.to_ascii_lowercase(),
            allow: nets(&c.allow)?,
            deny: nets(&c.deny)?,
            trusted: nets(&c.trusted_proxies)?,
            exempt_images: c.exempt_images,
            limiter: Limiter::new(default_rule, routes, c.ban_s, c.max_tracked),
        })
    }

    /// Whether `ip` is one of our own reverse proxies.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(&canonical(ip)))
    }

    /// The client address: the peer, or — only when the peer is a trusted proxy — the
    /// right-most entry of the configured forwarding header that is not a trusted proxy.
    /// Every entry up to that one must be a well-formed address (a port may follow): one
    /// that is not is an error, never skipped (what is left of it is the client's text).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> Result<IpAddr, String> {
        let peer = canonical(peer);
        if !self.is_trusted(peer) {
            return Ok(peer);
        }
        for entry in forwarded_entries(headers, &self.header).iter().rev() {
            match entry {
                Some(ip) if self.is_trusted(canonical(*ip)) => continue,
                Some(ip) => return Ok(canonical(*ip)),
                None => return Err(format!("a malformed address in the {} header", self.header)),
            }
        }
        // No header (the proxy's own request), or only our proxies in it.
        Ok(peer)
    }

    /// Like [`IpFilter::client_ip`], the peer when the header is malformed (for logs and keys).
    pub fn client_or_peer(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        self.client_ip(peer, headers).unwrap_or(canonical(peer))
    }

    /// Whether `route` may be served to the client behind `peer` now: the forwarding
    /// header must be well formed, the client admitted and within the route's rate
    /// (files are exempt with `exempt_images`: a page of thumbnails must not use up a
    /// client's API rate; so are routes the caller says are `unlimited`, such as the web
    /// UI's static pages). Always `Ok` when the filter is off.
    pub fn check(&self, peer: IpAddr, headers: &HeaderMap, route: &str, unlimited: bool) -> Result<(), Refused> {
        if !self.enabled {
            return Ok(());
        }
        let ip = self.client_ip(peer, headers).map_err(Refused::Malformed)?;
        if !self.admitted(ip) {
            return Err(Refused::Denied);
        }
        let file_route = route.starts_with("/images/") || route.starts_with("/thumbs/");
        if !(unlimited || self.exempt_images && file_route) {
            if let Verdict::Limited { retry_after } = self.limiter.check(route, ip) {
                tracing::warn!(client = %ip, route, "rate limited");
                return Err(Refused::Limited { retry_after });
            }
        }
        Ok(())
    }

    /// Whether the client may be served at all.
    pub fn admitted(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if self.deny.iter().any(|n| n.contains(&ip)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|n| n.contains(&ip))
    }
}

/// IPv4-mapped IPv6 addresses count as the IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:567`, `2001:db8::1`, `[2001:db8::1]:567`.
fn parse_hop(text: &str) -> Option<IpAddr> {
    let t = text.trim().trim_matches('"');
    t.parse::<IpAddr>()
        .ok()
        .or_else(|| t.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| t.strip_prefix('[').and_then(|r| r.strip_suffix(']')).and_then(|r| r.parse().ok()))
}

/// The entries of the forwarding header `name`, client side first; `None` for an entry
/// that is not an address (bytes that are not text included: the line is never dropped).
fn forwarded_entries(headers: &HeaderMap, name: &str) -> Vec<Option<IpAddr>> {
    let values: Vec<String> =
        headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect();
    match name {
        "forwarded" => values
            .iter()
            .flat_map(|v| v.split(','))
            .filter_map(|element| {
                let value = element.split(';').find_map(|pair| {
                    let (k, v) = pair.trim().split_once('=')?;
                    k.trim().eq_ignore_ascii_case("for").then_some(v)
                });
                // An element without `for=` says nothing about the client.
                value.map(parse_hop)
            })
            .collect(),
        "x-real-ip" => values.last().map(|v| parse_hop(v)).into_iter().collect(),
        _ => values.iter().flat_map(|v| v.split(',')).map(parse_hop).collect(),
    }
}
