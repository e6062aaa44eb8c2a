//! Background work on the shared state: policy reloads (SIGHUP, file watch, the
//! policy another host published) and the reconciliation of files with records.

use std::time::Duration;

use anyhow::Context;

use super::Shared;
use crate::config::Settings;
use crate::{policy, reconcile};

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
        );
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
    });
}

/// The policy to start with: the one kept from the last swap (it survives
/// restarts), else `policy.path`, else the built-in one.
pub fn initial_policy(settings: &Settings) -> anyhow::Result<(Vec<u8>, String)> {
    let kept = settings.base_dir.join("policy/active.wasm");
    match std::fs::read(&kept) {
        Ok(bytes) => Ok((bytes, "stored".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => policy_file_bytes(settings),
        Err(e) => Err(e).with_context(|| format!("reading {}", kept.display())),
    }
}

/// The configured policy (`policy.path`), or the built-in one.
pub fn policy_file_bytes(settings: &Settings) -> anyhow::Result<(Vec<u8>, String)> {
    match &settings.policy_file {
        None => Ok((policy::BUILTIN_POLICY.to_vec(), "built-in".into())),
        Some(p) => {
            let bytes = std::fs::read(p).with_context(|| format!("reading policy component {}", p.display()))?;
            Ok((bytes, "file".into()))
        }
    }
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
        tokio::spawn(async move {
            let stamp = |p: &std::path::Path| std::fs::metadata(p).ok().map(|m| (m.modified().ok(), m.len()));
            let mut seen = stamp(&path);
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
    let bytes = match policy_file_bytes(&state.settings) {
        Ok((bytes, _)) => bytes,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), source, "policy reload: cannot read the policy; keeping the active one");
            return;
        }
    };
    match state.policy.swap(bytes, source).await {
        Ok(_) => {
            let _ = state.publish_policy().await;
        }
        Err(e) => tracing::error!(error = %e, source, "policy reload refused; keeping the active one"),
    }
}
