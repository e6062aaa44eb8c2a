//! The small syntaxes inside config values: rate rules (`"10/60"`) and address
//! ranges (CIDR or a bare address).

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// A rate rule: `count` requests per `window_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub count: u32,
    pub window_s: u64,
}

/// Longest window a rate may have: a year.
const MAX_WINDOW_S: u64 = 365 * 24 * 3600;

impl FromStr for Rule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (n, w) =
            s.split_once('/').ok_or_else(|| format!("expected \"N/S\" (N requests per S seconds), got {s:?}"))?;
        let count = n.trim().parse::<u32>().map_err(|_| format!("bad request count in {s:?}"))?;
        let window_s = w.trim().parse::<u64>().map_err(|_| format!("bad window in {s:?}"))?;
        if count == 0 || window_s == 0 {
            return Err(format!("both numbers must be positive in {s:?}"));
        }
        if window_s > MAX_WINDOW_S {
            return Err(format!("the window is at most {MAX_WINDOW_S} s (a year) in {s:?}"));
        }
        Ok(Rule { count, window_s })
    }
}

/// Parses a CIDR list entry; a bare address is a /32 or /128.
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("not an address or CIDR range: {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_positive_and_bounded() {
        let r: Rule = "3/60".parse().unwrap();
        assert_eq!((r.count, r.window_s), (3, 60));
        assert!(format!("1/{MAX_WINDOW_S}").parse::<Rule>().is_ok());
        for bad in ["0/60", "3/0", "3/31536001", "3/18446744073709551615", "x/1", "3"] {
            assert!(bad.parse::<Rule>().is_err(), "{bad}");
        }
    }
}
