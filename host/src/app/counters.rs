//! Counters the HTTP layer keeps and `/metrics` shows.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use crate::policy::LATENCY_BUCKETS;

/// (method, route template, status).
pub type RequestKey = (String, String, u16);
/// (count, latency sum in seconds, latency buckets).
pub type RequestStats = (u64, f64, Vec<u64>);

/// Request counters of the HTTP layer.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    pub(crate) requests: Mutex<BTreeMap<RequestKey, RequestStats>>,
    pub uploads: AtomicU64,
    pub bytes_stored: AtomicU64,
    pub rate_limited: AtomicU64,
    pub upload_phases: UploadPhases,
}

impl HttpMetrics {
    pub(crate) fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let e = map
            .entry((method.to_string(), route.to_string(), status))
            .or_insert_with(|| (0, 0.0, vec![0; LATENCY_BUCKETS.len() + 1]));
        e.0 += 1;
        e.1 += seconds;
        let i = LATENCY_BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(LATENCY_BUCKETS.len());
        e.2[i] += 1;
    }
}

/// Where the time of uploads goes: per phase, the number of timings and their sum.
#[derive(Debug, Default)]
pub struct UploadPhases {
    /// (count, nanoseconds) per phase, in [`UploadPhases::NAMES`] order.
    phases: [(AtomicU64, AtomicU64); 4],
}

impl UploadPhases {
    /// Receiving a file (streamed to disk, hashed, synced); judging it in the sandbox
    /// (waiting for capacity included); storing (blob and record); the whole request.
    pub const NAMES: [&'static str; 4] = ["receive", "judge", "store", "request"];

    /// Adds one timing of phase `i` (an index into [`UploadPhases::NAMES`]).
    pub fn add(&self, i: usize, took: std::time::Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        if let Some((count, sum)) = self.phases.get(i) {
            count.fetch_add(1, Relaxed);
            sum.fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Relaxed);
        }
    }

    /// (name, count, seconds) per phase.
    pub fn snapshot(&self) -> Vec<(&'static str, u64, f64)> {
        use std::sync::atomic::Ordering::Relaxed;
        Self::NAMES
            .iter()
            .zip(&self.phases)
            .map(|(name, (count, sum))| (*name, count.load(Relaxed), sum.load(Relaxed) as f64 / 1e9))
            .collect()
    }
}

/// Counters of refused connections, for the metrics.
#[derive(Debug, Default)]
pub struct ConnStats {
    pub open: std::sync::atomic::AtomicU64,
    pub refused_global: std::sync::atomic::AtomicU64,
    pub refused_per_ip: std::sync::atomic::AtomicU64,
}
