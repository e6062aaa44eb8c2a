//! Fixed-window request counters with bans, in a bounded table.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Rule;

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Refused; try again after this many seconds.
    Limited {
        retry_after: u64,
    },
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    window_start: Instant,
    count: u32,
    banned_until: Option<Instant>,
}

/// Counters per (rule, client).
pub struct Limiter {
    default_rule: Rule,
    routes: Vec<(String, Rule)>,
    ban: Duration,
    max_tracked: usize,
    table: Mutex<HashMap<(usize, IpAddr), Entry>>,
    /// When the table was last cleaned (a full scan: at most once a second).
    cleaned: Mutex<Option<Instant>>,
}

/// Rule ids of the overflow counters are shifted by this, so they never meet a client's.
const OVERFLOW: usize = 1 << 32;
/// How many clients' worth of requests the overflow counter allows.
const OVERFLOW_SHARE: u32 = 64;

/// IPv6 clients are counted per /64: one subscriber usually holds a whole /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

impl Limiter {
    pub fn new(default_rule: Rule, routes: Vec<(String, Rule)>, ban_s: u64, max_tracked: usize) -> Self {
        Limiter {
            default_rule,
            routes,
            ban: Duration::from_secs(ban_s),
            max_tracked: max_tracked.max(16),
            table: Mutex::default(),
            cleaned: Mutex::default(),
        }
    }

    /// Counts a request of `ip` on `route` and says whether it may proceed.
    pub fn check(&self, route: &str, ip: IpAddr) -> Verdict {
        self.check_at(route, ip, Instant::now())
    }

    fn check_at(&self, route: &str, ip: IpAddr, now: Instant) -> Verdict {
        // A route with its own rule is counted on its own; others share the default.
        let (rule_id, rule) = match self.routes.iter().position(|(r, _)| r == route) {
            Some(i) => (i + 1, self.routes[i].1),
            None => (0, self.default_rule),
        };
        let window = Duration::from_secs(rule.window_s);
        let mut key = (rule_id, client_key(ip));
        let mut rule = rule;
        // Newcomers sharing the overflow counter are never banned together: only counted.
        let mut shared = false;
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if !table.contains_key(&key) && table.len() >= self.max_tracked {
            self.make_room(&mut table, now);
            if table.len() >= self.max_tracked {
                // Full of clients still in their window: none of their counts is dropped
                // (that would let a flood of addresses reset someone's limit). Newcomers
                // share one overflow counter until room comes back.
                key = (rule_id + OVERFLOW, IpAddr::V6(Ipv6Addr::UNSPECIFIED));
                rule.count = rule.count.saturating_mul(OVERFLOW_SHARE);
                shared = true;
            }
        }
        let e = table.entry(key).or_insert(Entry { window_start: now, count: 0, banned_until: None });
        if let Some(until) = e.banned_until {
            if until > now {
                return Verdict::Limited { retry_after: (until - now).as_secs().max(1) };
            }
            *e = Entry { window_start: now, count: 0, banned_until: None };
        }
        if now.duration_since(e.window_start) >= window {
            e.window_start = now;
            e.count = 0;
        }
        e.count += 1;
        if e.count > rule.count {
            if shared {
                let rest = window.saturating_sub(now.duration_since(e.window_start));
                return Verdict::Limited { retry_after: rest.as_secs().max(1) };
            }
            e.banned_until = now.checked_add(self.ban);
            return Verdict::Limited { retry_after: self.ban.as_secs().max(1) };
        }
        Verdict::Allowed
    }

    /// Drops the entries that no longer matter: windows that ended, bans that ran out. A
    /// full scan, so at most once a second (a flood of new addresses must not make every
    /// request scan the table).
    fn make_room(&self, table: &mut HashMap<(usize, IpAddr), Entry>, now: Instant) {
        let mut cleaned = self.cleaned.lock().unwrap_or_else(|p| p.into_inner());
        if cleaned.is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1)) {
            return;
        }
        *cleaned = Some(now);
        let longest =
            self.routes.iter().map(|(_, r)| r.window_s).chain([self.default_rule.window_s]).max().unwrap_or(1);
        let horizon = Duration::from_secs(longest);
        table.retain(|_, e| e.banned_until.is_some_and(|u| u > now) || now.duration_since(e.window_start) < horizon);
    }

    /// Entries currently tracked.
    pub fn tracked(&self) -> usize {
        self.table.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_n_plus_first_request_in_a_window_is_refused_and_banned() {
        let l = Limiter::new(Rule { count: 3, window_s: 60 }, vec![], 300, 100);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.check_at("/a", ip("192.0.2.1"), t0), Verdict::Allowed);
        }
        assert_eq!(l.check_at("/a", ip("192.0.2.1"), t0), Verdict::Limited { retry_after: 300 });
        // Another client is unaffected; the ban outlives the window.
        assert_eq!(l.check_at("/a", ip("192.0.2.2"), t0), Verdict::Allowed);
        let later = t0 + Duration::from_secs(100);
        assert_eq!(l.check_at("/a", ip("192.0.2.1"), later), Verdict::Limited { retry_after: 200 });
        assert_eq!(l.check_at("/a", ip("192.0.2.1"), t0 + Duration::from_secs(301)), Verdict::Allowed);
    }

    #[test]
    fn a_new_window_resets_the_count() {
        let l = Limiter::new(Rule { count: 2, window_s: 10 }, vec![], 300, 100);
        let t0 = Instant::now();
        assert_eq!(l.check_at("/a", ip("192.0.2.1"), t0), Verdict::Allowed);
        assert_eq!(l.check_at("/a", ip("192.0.2.1"), t0), Verdict::Allowed);
        assert_eq!(l.check_at("/a", ip("192.0.2.1"), t0 + Duration::from_secs(11)), Verdict::Allowed);
    }

    #[test]
    fn route_rules_are_counted_separately() {
        let l = Limiter::new(
            Rule { count: 100, window_s: 60 },
            vec![("/api/get_token".into(), Rule { count: 1, window_s: 60 })],
            60,
            100,
        );
        let t0 = Instant::now();
        assert_eq!(l.check_at("/api/get_token", ip("192.0.2.1"), t0), Verdict::Allowed);
        assert!(matches!(l.check_at("/api/get_token", ip("192.0.2.1"), t0), Verdict::Limited { .. }));
        assert_eq!(l.check_at("/api/image_list", ip("192.0.2.1"), t0), Verdict::Allowed);
    }

    #[test]
    fn ipv6_is_counted_per_64_and_the_table_stays_bounded() {
        let l = Limiter::new(Rule { count: 2, window_s: 60 }, vec![], 60, 1000);
        let t0 = Instant::now();
        assert_eq!(l.check_at("/a", ip("2001:db8::1"), t0), Verdict::Allowed);
        assert_eq!(l.check_at("/a", ip("2001:db8::2"), t0), Verdict::Allowed);
        assert!(matches!(l.check_at("/a", ip("2001:db8::3"), t0), Verdict::Limited { .. }));
        for i in 0..50_000u32 {
            let addr = IpAddr::V4(std::net::Ipv4Addr::from(0x0A00_0000 + i));
            l.check_at("/a", addr, t0);
        }
        assert!(l.tracked() <= 1001, "{}", l.tracked());
        // The ban survived the flood.
        assert!(matches!(l.check_at("/a", ip("2001:db8::4"), t0), Verdict::Limited { .. }));
    }

    #[test]
    fn a_flood_of_addresses_never_resets_a_clients_count() {
        let l = Limiter::new(Rule { count: 5, window_s: 60 }, vec![], 60, 100);
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(l.check_at("/a", ip("192.0.2.7"), t0), Verdict::Allowed);
        }
        for i in 0..10_000u32 {
            l.check_at("/a", IpAddr::V4(std::net::Ipv4Addr::from(0x0A00_0000 + i)), t0);
        }
        assert!(l.tracked() <= 101, "{}", l.tracked());
        // Still over its limit: its count survived.
        assert!(matches!(l.check_at("/a", ip("192.0.2.7"), t0), Verdict::Limited { .. }));
        // Once the windows are over, newcomers get their own counters again.
        let later = t0 + Duration::from_secs(61);
        assert_eq!(l.check_at("/a", ip("192.0.2.8"), later), Verdict::Allowed);
    }
}
