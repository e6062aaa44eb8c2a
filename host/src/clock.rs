//! Wall-clock time as records keep it: seconds since the Unix epoch, as a float (the
//! original's `time.time()`).

use std::time::{SystemTime, UNIX_EPOCH};

/// `t` in seconds since the epoch (0 before it).
pub fn seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Now, in seconds since the epoch.
pub fn now() -> f64 {
    seconds(SystemTime::now())
}
