//! Background work on the shared state: policy reloads (SIGHUP, file watch, the
//! policy another host published) and the reconciliation of files with records.

use std::time::Duration;

use anyhow::Context;

use super::Shared;
use crate::config::Settings;
use crate::policy::Candidate;
use crate::signing::TrustedKeys;
use crate::{policy, reconcile, signing};

/// How often a host sharing a MongoDB database checks for a policy another host published.
const SHARED_POLICY_POLL: Duration = Duration::from_secs(2);

/// Reconciles files with records in the background, once the server is ready
/// (`/readyz` shows where it is): see [`reconcile`].
pub fn spawn_reconciliation(state: Shared) {
    tokio::spawn(async move {
        state.reconciliation.set(reconcile::Phase::Running);
        let before = state.first_report.lock().unwrap_or_else(|p| p.into_inner()).take().unwrap_or_default();
        let stores = reconcile::Stores::new(
            state.store.as_ref(),
            state.blobs.as_ref(),
            state.thumbs.as_deref(),
            &state.settings,
        )
        .with_variants(state.variants.as_ref().map(|v| v.store.as_ref()));
        let phase = match reconcile::after_ready(&stores, state.started, before).await {
            Ok(report) => {
                tracing::info!(
                    quarantined = report.quarantined.len(),
                    missing_files = report.missing_files,
                    temp_files = report.temp_files_removed,
                    deletes_finished = report.deletes_finished,
                    "reconciliation done"
                );
                reconcile::Phase::Done(report)
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "reconciliation failed; nothing was changed by it");
                reconcile::Phase::Failed(format!("{e:#}"))
            }
        };
        state.reconciliation.set(phase);
        // The lists of names it compared are gone: their memory goes back too.
        tokio::task::spawn_blocking(crate::memory::give_back_freed);
    });
}

/// The policy to start with: the one kept from the last swap (it survives
/// restarts), else `policy.path`, else the built-in one; each with the signature
/// beside it, if any.
pub fn initial_policy(settings: &Settings) -> anyhow::Result<Candidate> {
    let dir = settings.base_dir.join("policy");
    match policy::read_kept(&dir).with_context(|| format!("reading {}", dir.join(policy::KEPT).display()))? {
        Some(kept) => Ok(kept),
        None => policy_file_bytes(settings),
    }
}

/// The configured policy (`policy.path`, with `policy.path.sig` if there is one), or
/// the built-in one.
pub fn policy_file_bytes(settings: &Settings) -> anyhow::Result<Candidate> {
    match &settings.policy_file {
        None => Ok(Candidate::new(policy::BUILTIN_POLICY.to_vec(), "built-in")),
        Some(p) => Candidate::read_file(p, "file").with_context(|| format!("reading policy component {}", p.display())),
    }
}

/// `policy.trusted_keys`, parsed (the config was validated: an error here names the entry).
pub fn trusted_keys(settings: &Settings) -> anyhow::Result<TrustedKeys> {
    TrustedKeys::parse(&settings.config.policy.trusted_keys).map_err(|e| anyhow::anyhow!("policy.trusted_keys: {e}"))
}

/// Reloads the policy on SIGHUP, and when `policy.watch` is on, when the file changes.
pub fn spawn_reloaders(state: Shared) {
    if let Some(shared) = &state.shared_policy {
        shared.spawn_follower(state.policy.clone(), SHARED_POLICY_POLL);
    }
    let on_hup = state.clone();
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
        while hup.recv().await.is_some() {
            reload(&on_hup, "sighup").await;
        }
    });
    if let (true, Some(path)) = (state.settings.config.policy.watch, state.settings.policy_file.clone()) {
        // With signatures checked, the `.sig` beside the file is watched too: a new pair is
        // tried whichever of the two is replaced last.
        let sig = state.policy.checks_signatures().then(|| signing::sig_path(&path));
        let one = |p: &std::path::Path| std::fs::metadata(p).ok().map(|m| (m.modified().ok(), m.len()));
        let stamp = move |p: &std::path::Path| one(p).map(|file| (file, sig.as_deref().and_then(one)));
        // Taken now, before the server says it is listening: a change made right after
        // start-up is never mistaken for the state at start.
        let mut seen = stamp(&path);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let now = stamp(&path);
                if now.is_none() || now == seen {
                    continue;
                }
                // Let a writer finish: act once the file has stopped changing.
                tokio::time::sleep(Duration::from_millis(300)).await;
                if stamp(&path) != now {
                    continue;
                }
                seen = now;
                reload(&state, "watch").await;
            }
        });
    }
}

async fn reload(state: &Shared, source: &str) {
    let candidate = match policy_file_bytes(&state.settings) {
        Ok(c) => Candidate { source: source.to_string(), ..c },
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), source, "policy reload: cannot read the policy; keeping the active one");
            return;
        }
    };
    match state.policy.swap_candidate(candidate).await {
        Ok(_) => {
            let _ = state.publish_policy().await;
        }
        Err(e) => tracing::error!(error = %e, source, "policy reload refused; keeping the active one"),
    }
}
