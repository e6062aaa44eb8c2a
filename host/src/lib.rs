//! imgbed: a self-hosted image host. The native host serves HTTP and owns
//! storage; a WebAssembly policy component decides validation, naming and access.

pub mod auth;
pub mod blob;
pub mod config;
pub mod error;
pub mod http;
pub mod mail;
pub mod policy;
pub mod store;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::blob::LocalBlobs;
use crate::config::Settings;
use crate::http::{AppState, Shared};
use crate::policy::{Limits, PolicyRuntime};
use crate::store::{MetaStore, SqliteStore};

/// Opens storage, loads the policy and reconciles files with records.
pub async fn build_state(settings: Settings) -> anyhow::Result<Shared> {
    let store = SqliteStore::open(&settings.sqlite_path)
        .with_context(|| format!("opening database {}", settings.sqlite_path.display()))?;
    let store: Arc<dyn MetaStore> = Arc::new(store);
    let blobs = LocalBlobs::open(&settings.image_dir)
        .with_context(|| format!("opening image directory {}", settings.image_dir.display()))?;
    let auth_config = &settings.config.auth;
    let secrets = auth::load_secrets(&settings.base_dir, &auth_config.secret, &auth_config.admin_token)?;
    let mailer = mail::Mailer::new(&settings.config.mail, mail_template(&settings)?)?;

    let component = policy_bytes(&settings)?;
    let limits = Limits {
        memory_bytes: settings.config.policy.memory_mb as usize * 1024 * 1024,
        deadline: Duration::from_millis(settings.config.policy.deadline_ms),
        workers: settings.policy_workers(),
    };
    let exists_store = store.clone();
    let exists: policy::ExistsFn = Arc::new(move |name: &str| exists_store.exists_blocking(name).unwrap_or(true));
    let policy_settings = settings.policy_settings();
    let policy = tokio::task::spawn_blocking(move || PolicyRuntime::new(&component, limits, policy_settings, exists))
        .await?
        .context("loading the policy component")?;
    let active = policy.active();
    tracing::info!(policy = %active.name, sha256 = %active.sha256, "policy loaded");

    reconcile(store.as_ref(), &blobs).await?;
    Ok(Arc::new(AppState { settings, store, blobs, policy: Arc::new(policy), secrets, mailer }))
}

fn mail_template(settings: &Settings) -> anyhow::Result<String> {
    let mail = &settings.config.mail;
    if mail.template_file.is_empty() {
        return Ok(mail.template.clone());
    }
    let p = settings.base_dir.join(&mail.template_file);
    std::fs::read_to_string(&p).with_context(|| format!("reading mail.template_file {}", p.display()))
}

fn policy_bytes(settings: &Settings) -> anyhow::Result<Vec<u8>> {
    let path = &settings.config.policy.path;
    if path.is_empty() {
        return Ok(policy::BUILTIN_POLICY.to_vec());
    }
    let p = settings.base_dir.join(path);
    std::fs::read(&p).with_context(|| format!("reading policy component {}", p.display()))
}

/// Removes what a crash can leave behind: temp files, files without records,
/// and records without files.
pub async fn reconcile(store: &dyn MetaStore, blobs: &LocalBlobs) -> anyhow::Result<()> {
    let temps = blobs.clear_temp()?;
    let names: HashSet<String> = store.all_names().await?.into_iter().collect();
    let files: HashSet<String> = blobs.names()?.into_iter().filter(|n| blob::is_safe_name(n)).collect();
    let mut orphans = 0;
    for f in files.difference(&names) {
        blobs.remove(f)?;
        orphans += 1;
    }
    let mut missing = 0;
    for n in names.difference(&files) {
        store.delete(n).await?;
        missing += 1;
    }
    if temps + orphans + missing > 0 {
        tracing::warn!(temps, orphans, missing, "start-up reconciliation cleaned up after an earlier crash");
    }
    Ok(())
}
