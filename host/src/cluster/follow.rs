//! Following what the other hosts publish: every few seconds, the pointers to the active
//! policy and the shadow are read; when one has **moved** since the last look (or at the
//! first look) and names something else than this host runs, that is loaded — through the
//! same checks as any candidate (signature, contract, configure, self-test). Acting on
//! moves, not on differences, means a local change whose publishing failed is not undone,
//! and a change made here is never raced by a step of the follower (both hold the
//! `sharing` lock). A refusal is shown in the admin API; a passing failure (no capacity,
//! a timeout) is retried at the next look.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Published, SharedPolicy, ACTIVE, SHADOW};
use crate::policy::{Candidate, PolicyError, PolicyRuntime};

/// What a follow step did with one pointer.
enum Step {
    Nothing,
    Followed(String),
    Refused(Published, PolicyError),
    /// Try again at the next look (the database or the component could not be read).
    Later,
}

/// A pointer as last looked at (`None` before the first look).
type Seen = Option<Option<Option<Published>>>;

impl SharedPolicy {
    /// Follows the published policy and shadow: checks every `every`.
    pub fn spawn_follower(&self, policy: Arc<PolicyRuntime>, every: Duration) {
        let shared = self.clone();
        tokio::spawn(async move {
            let (mut seen_active, mut seen_shadow): (Seen, Seen) = (None, None);
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                {
                    let _one_at_a_time = shared.sharing.lock().await;
                    if let Some(pointer) = shared.read(ACTIVE).await {
                        if seen_active.as_ref() != Some(&pointer) {
                            let step = shared.follow_active(&policy, pointer.clone().flatten()).await;
                            if note(step, &shared.refused, "policy") {
                                seen_active = Some(pointer);
                            }
                        }
                    }
                    if let Some(pointer) = shared.read(SHADOW).await {
                        if seen_shadow.as_ref() != Some(&pointer) {
                            let step = shared.follow_shadow(&policy, pointer.clone()).await;
                            if note(step, &shared.shadow_refused, "shadow policy") {
                                seen_shadow = Some(pointer);
                            }
                        }
                    }
                }
            }
        });
    }

    /// The pointer `slot`, within the time limit (`None` when unreadable: try again later).
    async fn read(&self, slot: &str) -> Option<Option<Option<Published>>> {
        match tokio::time::timeout(self.limit, self.pointer(slot)).await {
            Ok(Ok(p)) => Some(p),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, slot, "cannot read the shared policy");
                None
            }
            Err(_) => None,
        }
    }

    /// The component a pointer names, as a candidate from `source`.
    async fn candidate(&self, published: Published, source: &str) -> Option<Candidate> {
        match tokio::time::timeout(self.limit * 10, self.fetch(published)).await {
            Ok(Ok(((_, signature), bytes))) => Some(Candidate::new(bytes, source).signed(signature)),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot load the shared policy");
                None
            }
            Err(_) => None,
        }
    }

    async fn follow_active(&self, policy: &Arc<PolicyRuntime>, pointer: Option<Published>) -> Step {
        let Some(published) = pointer else { return Step::Nothing };
        if published.0 == policy.active().sha256 {
            return Step::Nothing;
        }
        let Some(candidate) = self.candidate(published.clone(), "shared").await else { return Step::Later };
        match policy.swap_candidate(candidate).await {
            Ok(p) => Step::Followed(p.name.to_string()),
            Err(e) => Step::Refused(published, e),
        }
    }

    async fn follow_shadow(&self, policy: &Arc<PolicyRuntime>, pointer: Option<Option<Published>>) -> Step {
        let Some(pointer) = pointer else { return Step::Nothing };
        let Some(published) = pointer else {
            // Dropped (or promoted) on another host.
            return match policy.drop_shadow() {
                Some(s) => Step::Followed(format!("no shadow (dropped {})", s.policy.name)),
                None => Step::Nothing,
            };
        };
        if policy.shadow().is_some_and(|s| s.policy.sha256 == published.0) {
            return Step::Nothing;
        }
        let Some(candidate) = self.candidate(published.clone(), "shared-shadow").await else { return Step::Later };
        match policy.load_shadow(candidate).await {
            Ok(s) => Step::Followed(s.policy.name.to_string()),
            Err(e) => Step::Refused(published, e),
        }
    }
}

/// Logs a step; shows a refusal in the admin API (until something is followed). False
/// when the step is to be tried again: a passing failure is not a refusal.
fn note(step: Step, shown: &Mutex<Option<serde_json::Value>>, what: &str) -> bool {
    match step {
        Step::Nothing => true,
        Step::Later => false,
        Step::Followed(name) => {
            tracing::info!(policy = %name, "following the {what} another host published");
            *shown.lock().unwrap_or_else(|p| p.into_inner()) = None;
            true
        }
        Step::Refused(published, e) if matches!(e, PolicyError::Unavailable(_) | PolicyError::Timeout) => {
            tracing::warn!(error = %e, sha256 = %published.0, "the published {what} could not be loaded now; trying again");
            false
        }
        Step::Refused(published, e) => {
            tracing::error!(error = %e, sha256 = %published.0, "the published {what} was refused here; keeping ours");
            let why = serde_json::json!({"sha256": published.0, "code": e.code(), "reason": e.to_string()});
            *shown.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
            true
        }
    }
}
