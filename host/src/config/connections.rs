//! Connection hygiene settings: how long a client may take and how many connections it
//! may hold, so slow or idle clients cannot tie up the server.

use serde::{Deserialize, Serialize};

/// `connections` in the config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionsConfig {
    /// Seconds a client has to send a request's headers — also how long a kept-alive
    /// connection may stay idle before the next request.
    pub header_timeout_s: u64,
    /// Seconds a request body may go without a byte arriving (a paused upload fails and
    /// its temp file goes).
    pub body_idle_timeout_s: u64,
    /// Open connections in all (new ones beyond it are closed at once).
    pub max: usize,
    /// Open connections from one client address (not for trusted proxies, behind which
    /// every client shares one address).
    pub max_per_ip: usize,
    /// Bytes of one multipart part's headers (and of the preamble before the first part).
    pub part_header_bytes: usize,
}

impl Default for ConnectionsConfig {
    fn default() -> Self {
        ConnectionsConfig {
            header_timeout_s: 10,
            body_idle_timeout_s: 30,
            max: 1000,
            max_per_ip: 64,
            part_header_bytes: 16 * 1024,
        }
    }
}

impl ConnectionsConfig {
    /// Values that make no sense, as (key, message).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let positive = [
            ("connections.header_timeout_s", self.header_timeout_s as u128),
            ("connections.body_idle_timeout_s", self.body_idle_timeout_s as u128),
            ("connections.max", self.max as u128),
            ("connections.max_per_ip", self.max_per_ip as u128),
        ];
        for (key, v) in positive {
            if v == 0 {
                return Err((key.into(), "must be greater than 0".into()));
            }
        }
        if self.part_header_bytes < 1024 {
            return Err(("connections.part_header_bytes".into(), "must be at least 1024".into()));
        }
        Ok(())
    }
}
