//! Following what the other hosts publish: every few seconds, the active policy and the
//! shadow named in the database are compared with this host's and loaded when they
//! differ — through the same checks as any candidate (signature, contract, configure,
//! self-test). A refused one is remembered (and shown in the admin API) until the
//! pointer moves on; this host keeps what it runs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Published, SharedPolicy, ACTIVE, SHADOW};
use crate::policy::{Candidate, PolicyError, PolicyRuntime};

/// What a follow step did with one pointer.
enum Step {
    Nothing,
    Followed(String),
    Refused(Published, PolicyError),
}

impl SharedPolicy {
    /// Follows the published policy and shadow: checks every `every`.
    pub fn spawn_follower(&self, policy: Arc<PolicyRuntime>, every: Duration) {
        let shared = self.clone();
        tokio::spawn(async move {
            let (mut refused_active, mut refused_shadow): (Option<Published>, Option<Published>) = (None, None);
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let step = shared.follow_active(&policy, refused_active.as_ref()).await;
                note(step, &shared.refused, &mut refused_active, "policy");
                let step = shared.follow_shadow(&policy, refused_shadow.as_ref()).await;
                note(step, &shared.shadow_refused, &mut refused_shadow, "shadow policy");
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

    async fn follow_active(&self, policy: &Arc<PolicyRuntime>, refused: Option<&Published>) -> Step {
        let Some(Some(Some(published))) = self.read(ACTIVE).await else { return Step::Nothing };
        if published.0 == policy.active().sha256 || refused == Some(&published) {
            return Step::Nothing;
        }
        let Some(candidate) = self.candidate(published.clone(), "shared").await else { return Step::Nothing };
        match policy.swap_candidate(candidate).await {
            Ok(p) => Step::Followed(p.name.to_string()),
            Err(e) => Step::Refused(published, e),
        }
    }

    async fn follow_shadow(&self, policy: &Arc<PolicyRuntime>, refused: Option<&Published>) -> Step {
        let Some(Some(pointer)) = self.read(SHADOW).await else { return Step::Nothing };
        let ours = policy.shadow().map(|s| s.policy.sha256.clone());
        let Some(published) = pointer else {
            // Dropped (or promoted) on another host.
            return match policy.drop_shadow() {
                Some(s) => Step::Followed(format!("no shadow (dropped {})", s.policy.name)),
                None => Step::Nothing,
            };
        };
        if ours.as_deref() == Some(&*published.0) || refused == Some(&published) {
            return Step::Nothing;
        }
        let Some(candidate) = self.candidate(published.clone(), "shared-shadow").await else { return Step::Nothing };
        match policy.load_shadow(candidate).await {
            Ok(s) => Step::Followed(s.policy.name.to_string()),
            Err(e) => Step::Refused(published, e),
        }
    }
}

/// Logs a step and keeps what was refused (shown in the admin API until the pointer moves).
fn note(step: Step, shown: &Mutex<Option<serde_json::Value>>, refused: &mut Option<Published>, what: &str) {
    match step {
        Step::Nothing => {}
        Step::Followed(name) => {
            tracing::info!(policy = %name, "following the {what} another host published");
            *shown.lock().unwrap_or_else(|p| p.into_inner()) = None;
            *refused = None;
        }
        Step::Refused(published, e) => {
            tracing::error!(error = %e, sha256 = %published.0, "the published {what} was refused here; keeping ours");
            let why = serde_json::json!({"sha256": published.0, "code": e.code(), "reason": e.to_string()});
            *shown.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
            *refused = Some(published);
        }
    }
}
