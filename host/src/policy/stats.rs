//! Per-policy counters: calls, rejections by code, traps, deadline hits, call latency.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

/// Upper bounds (seconds) of the call-latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 12] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5];

/// Counters of one loaded policy.
#[derive(Debug, Default)]
pub struct PolicyStats {
    pub calls: AtomicU64,
    pub traps: AtomicU64,
    pub timeouts: AtomicU64,
    pub invalid: AtomicU64,
    rejections: Mutex<BTreeMap<String, u64>>,
    latency: Mutex<Histogram>,
}

/// A cumulative latency histogram.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Histogram {
    /// Count per bucket of [`LATENCY_BUCKETS`] (not cumulative), plus one for +Inf.
    pub buckets: Vec<u64>,
    pub sum_seconds: f64,
    pub count: u64,
}

/// A snapshot for answers and metrics.
#[derive(Debug, Clone, Serialize)]
pub struct StatsSnapshot {
    pub calls: u64,
    pub rejections: BTreeMap<String, u64>,
    pub traps: u64,
    pub timeouts: u64,
    pub invalid_answers: u64,
    pub latency: Histogram,
}

impl PolicyStats {
    pub fn rejected(&self, code: &str) {
        let mut map = self.rejections.lock().unwrap_or_else(|p| p.into_inner());
        // Codes come from the guest: bound how many distinct ones we keep.
        if map.len() < 64 || map.contains_key(code) {
            *map.entry(code.to_string()).or_default() += 1;
        } else {
            *map.entry("other".into()).or_default() += 1;
        }
    }

    pub fn observe(&self, elapsed: Duration) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        let mut h = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        if h.buckets.is_empty() {
            h.buckets = vec![0; LATENCY_BUCKETS.len() + 1];
        }
        let i = LATENCY_BUCKETS.iter().position(|b| secs <= *b).unwrap_or(LATENCY_BUCKETS.len());
        h.buckets[i] += 1;
        h.sum_seconds += secs;
        h.count += 1;
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let mut latency = self.latency.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if latency.buckets.is_empty() {
            latency.buckets = vec![0; LATENCY_BUCKETS.len() + 1];
        }
        StatsSnapshot {
            calls: self.calls.load(Ordering::Relaxed),
            rejections: self.rejections.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            traps: self.traps.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            invalid_answers: self.invalid.load(Ordering::Relaxed),
            latency,
        }
    }
}
