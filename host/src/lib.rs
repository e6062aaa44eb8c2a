//! imgbed: a self-hosted image host. The native host serves HTTP and owns
//! storage; a WebAssembly policy component decides validation, naming and access.

pub mod auth;
pub mod backup;
pub mod blob;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod error;
pub mod fsck;
pub mod http;
pub mod ipfilter;
pub mod mail;
pub mod migrate;
pub mod policy;
pub mod reconcile;
mod storage;
pub mod store;

pub use storage::{open_storage, protected_files, Storage};

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::Settings;
use crate::http::{AppState, Shared};
use crate::policy::{Limits, PolicyRuntime};
use crate::store::MetaStore;

/// How often a host sharing a MongoDB database checks for a policy another host published.
const SHARED_POLICY_POLL: Duration = Duration::from_secs(2);

/// Opens storage, loads the policy and reconciles files with records.
pub async fn build_state(settings: Settings) -> anyhow::Result<Shared> {
    let Storage { store, blobs, thumbs, temp, mongo } = open_storage(&settings).await?;
    let auth_config = &settings.config.auth;
    let secrets = auth::load_secrets(&settings.base_dir, &auth_config.secret, &auth_config.admin_token)?;
    let mailer = mail::Mailer::new(&settings.config.mail, mail_template(&settings)?)?;

    let (component, source) = initial_policy(&settings)?;
    let limits = Limits {
        memory_bytes: settings.config.policy.memory_mb as usize * 1024 * 1024,
        deadline: Duration::from_millis(settings.config.policy.deadline_ms),
        workers: settings.policy_workers(),
        heavy_workers: settings.policy_heavy_workers(),
    };
    let exists: policy::ExistsFn = Arc::new(StoreView(store.clone()));
    let policy_settings = settings.policy_settings();
    let options = policy::Options {
        cache_dir: Some(settings.cache_dir.clone()),
        store_dir: Some(settings.base_dir.join("policy")),
        cache_key: hex::decode(&secrets.cache_key).ok(),
    };
    let fallback = (source == "stored").then(|| (policy_file_bytes(&settings), options.clone()));
    let policy = tokio::task::spawn_blocking(move || {
        match PolicyRuntime::with_options(&component, &source, limits, policy_settings.clone(), exists.clone(), options)
        {
            Err(e) if fallback.is_some() => {
                // A kept policy that no longer loads must not keep the server down.
                tracing::error!(error = %e, "the kept active policy does not load; using the configured one");
                let (bytes, options) = fallback.expect("checked");
                let (bytes, source) = bytes?;
                PolicyRuntime::with_options(&bytes, &source, limits, policy_settings, exists, options)
                    .map_err(Into::into)
            }
            other => other.map_err(anyhow::Error::from),
        }
    })
    .await?
    .context("loading the policy component")?;
    let active = policy.active();
    tracing::info!(policy = %active.name, sha256 = %active.sha256, "policy loaded");

    let ip_filter = Arc::new(ipfilter::IpFilter::new(&settings.config.ip_filter).map_err(anyhow::Error::msg)?);
    let stores = reconcile::Stores::new(store.as_ref(), blobs.as_ref(), thumbs.as_deref(), &settings);
    let before = reconcile::before_serving(&stores, &temp).await.context("finishing interrupted deletes")?;
    Ok(Arc::new(AppState {
        settings,
        store,
        blobs,
        thumbs,
        temp,
        shared_policy: mongo.as_ref().map(cluster::SharedPolicy::new),
        policy: Arc::new(policy),
        secrets,
        mailer,
        http_metrics: Default::default(),
        ip_filter,
        reconciliation: Default::default(),
        conn_stats: Default::default(),
        started: std::time::SystemTime::now(),
        first_report: std::sync::Mutex::new(Some(before)),
    }))
}

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

fn mail_template(settings: &Settings) -> anyhow::Result<String> {
    let mail = &settings.config.mail;
    if mail.template_file.is_empty() {
        return Ok(mail.template.clone());
    }
    let p = settings.base_dir.join(&mail.template_file);
    std::fs::read_to_string(&p).with_context(|| format!("reading mail.template_file {}", p.display()))
}

/// The policy's view of storage. Errors answer conservatively (fail closed):
/// a name "exists", usage is "full".
struct StoreView(Arc<dyn MetaStore>);

impl policy::StorageView for StoreView {
    fn image_exists(&self, name: &str) -> bool {
        self.0.exists_blocking(name).unwrap_or(true)
    }
    fn owner_usage(&self, owner: &str) -> (u64, u64) {
        self.0.usage_blocking(owner).unwrap_or_else(|e| {
            tracing::error!(error = %e, "owner usage for the policy");
            (u64::MAX, u64::MAX)
        })
    }
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
    cluster::spawn_follower(state.clone(), SHARED_POLICY_POLL);
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
            let _ = cluster::publish_active(state).await;
        }
        Err(e) => tracing::error!(error = %e, source, "policy reload refused; keeping the active one"),
    }
}
