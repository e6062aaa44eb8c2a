//! Shadow mode: a candidate policy that runs beside the active one on a sample of live
//! decisions. Its answers are never used: each sampled call runs after the real
//! decision, in the background, only when capacity is free at that moment (within
//! `policy.shadow_share` of the heavy capacity) — else it is skipped and counted, never
//! waited for. Where the two decide differently is recorded (action, principal kind,
//! both outcomes, the image name; never a token, and the principal only as a keyed hash).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::{Candidate, LoadedPolicy, PolicyError, PolicyRuntime, Session};

/// Disagreements kept per shadow (the oldest go first).
pub const RECENT: usize = 100;

/// `policy.shadow_sample` and `policy.shadow_share`.
#[derive(Debug, Clone, Copy)]
pub struct ShadowConfig {
    /// Share of decisions the shadow is asked about (0 to 1).
    pub sample: f64,
    /// Share of the heavy capacity the shadow may use at once (0 to 1; at least one slot
    /// when above 0).
    pub share: f64,
}

impl Default for ShadowConfig {
    fn default() -> Self {
        ShadowConfig { sample: 0.1, share: 0.25 }
    }
}

impl ShadowConfig {
    /// Shadow calls at once, out of `heavy` slots.
    pub(super) fn slots(&self, heavy: usize) -> usize {
        if self.share <= 0.0 {
            0
        } else {
            ((heavy as f64 * self.share.min(1.0)).ceil() as usize).max(1)
        }
    }
}

/// What one policy decided: "allow" (an upload: accepted), "refuse" with the rejection's
/// code, or "error" with the failure's code (trap, timeout…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub outcome: &'static str,
    pub code: Option<String>,
}

impl Outcome {
    pub fn allow() -> Self {
        Outcome { outcome: "allow", code: None }
    }
    pub fn refuse(code: &str) -> Self {
        Outcome { outcome: "refuse", code: Some(code.to_string()) }
    }
    pub fn error(e: &PolicyError) -> Self {
        Outcome { outcome: "error", code: Some(e.code().to_string()) }
    }
}

/// The real decision a shadow call is compared with.
#[derive(Debug, Clone)]
pub struct Observed {
    /// "image.upload", "image.delete"…, or "upload.judge" for the judgement of a file.
    pub action: String,
    pub principal_kind: String,
    /// The principal's id (a mail address): only its keyed hash is kept.
    pub principal_id: String,
    /// The image concerned: the stored name, or the client's file name.
    pub image: Option<String>,
    pub active: Outcome,
}

/// What the shadow answered: its outcome and, for an accepted upload, the name it chose.
#[derive(Debug, Clone)]
pub struct ShadowAnswer {
    pub outcome: Outcome,
    pub name: Option<String>,
}

/// One decision where the shadow differed from the active policy.
#[derive(Debug, Clone, Serialize)]
pub struct Disagreement {
    /// Seconds since the epoch.
    pub at: f64,
    pub action: String,
    pub principal_kind: String,
    /// Keyed hash of the principal's id (groups one principal's decisions; not reversible).
    pub principal: String,
    pub image: Option<String>,
    pub active: Outcome,
    pub shadow: Outcome,
    /// The name the shadow would have given an accepted upload.
    pub shadow_name: Option<String>,
}

/// Counts of shadow calls: made, agreeing, disagreeing (per action), skipped.
#[derive(Debug, Default)]
pub struct ShadowCounts {
    pub calls: AtomicU64,
    pub agreements: AtomicU64,
    pub skipped: AtomicU64,
    pub disagreements: Mutex<BTreeMap<String, u64>>,
}

impl ShadowCounts {
    /// Disagreements per action.
    pub fn by_action(&self) -> BTreeMap<String, u64> {
        self.disagreements.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn snapshot(&self) -> serde_json::Value {
        let by_action = self.by_action();
        serde_json::json!({
            "calls": self.calls.load(Ordering::Relaxed),
            "agreements": self.agreements.load(Ordering::Relaxed),
            "disagreements": by_action.values().sum::<u64>(),
            "disagreements_by_action": by_action,
            "skipped": self.skipped.load(Ordering::Relaxed),
        })
    }
}

/// A loaded shadow and what it found.
pub struct Shadow {
    pub policy: Arc<LoadedPolicy>,
    pub counts: ShadowCounts,
    recent: Mutex<VecDeque<Disagreement>>,
    /// Key of the principal hashes (per shadow, never shown).
    salt: [u8; 16],
}

impl Shadow {
    /// A description for the admin API.
    pub fn describe(&self) -> serde_json::Value {
        let recent: Vec<Disagreement> = self.recent.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect();
        serde_json::json!({"policy": self.policy.describe(), "counts": self.counts.snapshot(), "recent": recent})
    }

    fn hash(&self, id: &str) -> String {
        let digest = Sha256::new().chain_update(self.salt).chain_update(id.as_bytes()).finalize();
        hex::encode(&digest[..8])
    }

    fn record(&self, totals: &ShadowCounts, observed: Observed, answer: ShadowAnswer) {
        for counts in [&self.counts, totals] {
            counts.calls.fetch_add(1, Ordering::Relaxed);
        }
        if answer.outcome == observed.active {
            for counts in [&self.counts, totals] {
                counts.agreements.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        for counts in [&self.counts, totals] {
            *counts
                .disagreements
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(observed.action.clone())
                .or_default() += 1;
        }
        let at = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        tracing::info!(action = %observed.action, kind = %observed.principal_kind, active = ?observed.active,
            shadow = ?answer.outcome, "the shadow policy decided differently");
        let entry = Disagreement {
            at,
            principal: self.hash(&observed.principal_id),
            action: observed.action,
            principal_kind: observed.principal_kind,
            image: observed.image,
            active: observed.active,
            shadow: answer.outcome,
            shadow_name: answer.name,
        };
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() >= RECENT {
            recent.pop_front();
        }
        recent.push_back(entry);
    }
}

/// The shadow's state in the runtime: the loaded one, the config, its capacity, totals.
pub(super) struct ShadowSlot {
    pub(super) current: arc_swap::ArcSwapOption<Shadow>,
    pub(super) config: ShadowConfig,
    /// Shadow calls at once (a share of the heavy capacity).
    pub(super) slots: Arc<Semaphore>,
    /// Counts over every shadow this runtime had (for metrics).
    pub(super) totals: ShadowCounts,
}

impl ShadowSlot {
    pub(super) fn new(config: ShadowConfig, heavy: usize) -> Self {
        ShadowSlot {
            current: Default::default(),
            config,
            slots: Arc::new(Semaphore::new(config.slots(heavy))),
            totals: ShadowCounts::default(),
        }
    }
}

/// Capacity held by one shadow call: a shadow slot and a slot of the real capacity.
/// Never read: held until dropped.
#[allow(dead_code)]
enum Held {
    Cheap(tokio::sync::OwnedSemaphorePermit),
    Heavy(super::gate::Slot),
}

impl PolicyRuntime {
    /// Loads `candidate` as the shadow (the same checks as a swap: signature, contract,
    /// configure, self-test), replacing any shadow; the active policy is not touched.
    pub async fn load_shadow(self: &Arc<Self>, candidate: Candidate) -> Result<Arc<Shadow>, PolicyError> {
        let _one_at_a_time = self.swapping.lock().await;
        let loaded = self.admit_and_load(candidate).await?;
        let shadow = Arc::new(Shadow {
            policy: Arc::new(loaded),
            counts: ShadowCounts::default(),
            recent: Mutex::new(VecDeque::new()),
            salt: rand::random(),
        });
        self.shadow.current.store(Some(shadow.clone()));
        tracing::info!(shadow = %shadow.policy.name, sha256 = %shadow.policy.sha256, "shadow policy loaded");
        Ok(shadow)
    }

    /// The shadow, if one is loaded.
    pub fn shadow(&self) -> Option<Arc<Shadow>> {
        self.shadow.current.load_full()
    }

    /// Drops the shadow; the one dropped, if there was one.
    pub fn drop_shadow(&self) -> Option<Arc<Shadow>> {
        let old = self.shadow.current.swap(None);
        if let Some(s) = &old {
            tracing::info!(shadow = %s.policy.name, "shadow policy dropped");
        }
        old
    }

    /// Makes the shadow the active policy (the active one becomes the previous one, the
    /// new one is kept for restarts, like a swap); there is no shadow afterwards.
    pub async fn promote_shadow(&self) -> Result<Arc<LoadedPolicy>, PolicyError> {
        let _one_at_a_time = self.swapping.lock().await;
        let shadow =
            self.shadow.current.swap(None).ok_or_else(|| PolicyError::Refused("there is no shadow policy".into()))?;
        let loaded = shadow.policy.clone();
        let old = self.active.swap(loaded.clone());
        self.previous.store(Some(old.clone()));
        self.keep(&loaded);
        tracing::info!(from = %old.name, to = %loaded.name, sha256 = %loaded.sha256, "shadow policy promoted");
        Ok(loaded)
    }

    /// Counts over every shadow so far (for metrics).
    pub fn shadow_totals(&self) -> &ShadowCounts {
        &self.shadow.totals
    }

    /// `policy.shadow_sample` and `policy.shadow_share`.
    pub fn shadow_config(&self) -> ShadowConfig {
        self.shadow.config
    }

    /// The shadow to ask about one decision: when one is loaded and the decision is sampled.
    pub fn shadow_sampled(&self) -> Option<Arc<Shadow>> {
        let shadow = self.shadow()?;
        let sample = self.shadow.config.sample;
        (sample >= 1.0 || rand::random::<f64>() < sample).then_some(shadow)
    }

    /// Capacity for one shadow call, if free right now (never waited for).
    fn shadow_capacity(&self, heavy: bool) -> Option<(tokio::sync::OwnedSemaphorePermit, Held)> {
        let own = self.shadow.slots.clone().try_acquire_owned().ok()?;
        let held = if heavy {
            Held::Heavy(self.heavy.try_acquire()?)
        } else {
            Held::Cheap(self.permits.clone().try_acquire_owned().ok()?)
        };
        Some((own, held))
    }

    /// Asks `shadow` in the background (`f` in a fresh instance of it) and records how its
    /// answer compares with `observed`; skipped (and counted) when no capacity is free.
    pub fn consult_shadow<F>(self: &Arc<Self>, shadow: Arc<Shadow>, heavy: bool, observed: Observed, f: F)
    where
        F: FnOnce(&mut Session) -> Result<ShadowAnswer, PolicyError> + Send + 'static,
    {
        let Some(capacity) = self.shadow_capacity(heavy) else {
            shadow.counts.skipped.fetch_add(1, Ordering::Relaxed);
            self.shadow.totals.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let rt = self.clone();
        let job = move || {
            let _capacity = capacity;
            let policy = &shadow.policy;
            let answer = Session::start(&rt.sandbox, &policy.pre, policy.name.clone()).and_then(|mut session| {
                let out = f(&mut session);
                session.log_stderr();
                out
            });
            let answer = answer.unwrap_or_else(|e| ShadowAnswer { outcome: Outcome::error(&e), name: None });
            shadow.record(&rt.shadow.totals, observed, answer);
        };
        let rt = self.clone();
        tokio::spawn(async move {
            let threads = if heavy { &rt.heavy_threads } else { &rt.light_threads };
            let _ = threads.run(job).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::ShadowConfig;

    #[test]
    fn the_shadow_gets_its_share_of_the_heavy_slots() {
        let slots = |share, heavy| ShadowConfig { sample: 1.0, share }.slots(heavy);
        assert_eq!(slots(0.25, 8), 2);
        assert_eq!(slots(0.25, 2), 1, "at least one when above 0");
        assert_eq!(slots(1.0, 4), 4);
        assert_eq!(slots(0.0, 8), 0, "0: never asked");
    }
}
