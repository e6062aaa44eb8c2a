//! Start-up: storage, secrets, mail and the policy become the shared [`AppState`].

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::reload::{initial_policy, policy_file_bytes, trusted_keys};
use super::{AppState, Shared};
use crate::cluster::SharedPolicy;
use crate::config::Settings;
use crate::policy::{self, Limits, PolicyRuntime};
use crate::store::MetaStore;
use crate::{auth, ipfilter, mail, open_storage, reconcile, Storage};

/// Opens storage, loads the policy and reconciles files with records.
pub async fn build_state(settings: Settings) -> anyhow::Result<Shared> {
    let Storage { store, blobs, thumbs, variants, temp, mongo } = open_storage(&settings).await?;
    let auth_config = &settings.config.auth;
    let secrets = auth::load_secrets(&settings.base_dir, &auth_config.secret, &auth_config.admin_token)?;
    let mailer = mail::Mailer::new(&settings.config.mail, mail_template(&settings)?)?;

    let first = initial_policy(&settings)?;
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
        trusted: trusted_keys(&settings)?,
        shadow: policy::ShadowConfig {
            sample: settings.config.policy.shadow_sample,
            share: settings.config.policy.shadow_share,
        },
        // The compiler's memory stays in a child process (when the binary enabled it).
        compiler: policy::compiler::executable(),
    };
    let fallback = (first.source == "stored").then(|| (policy_file_bytes(&settings), options.clone()));
    let configured = match &settings.policy_file {
        Some(p) => format!("policy.path {}, signature {}", p.display(), crate::signing::sig_path(p).display()),
        None => "the built-in policy".into(),
    };
    let policy = tokio::task::spawn_blocking(move || {
        match PolicyRuntime::with_options(&first, limits, policy_settings.clone(), exists.clone(), options) {
            Err(e) if fallback.is_some() => {
                // A kept policy that no longer loads (or whose signature no longer verifies)
                // must not keep the server down: the configured one, checked the same way.
                tracing::error!(error = %e, "the kept active policy does not load; using the configured one");
                let (candidate, options) = fallback.expect("checked");
                PolicyRuntime::with_options(&candidate?, limits, policy_settings, exists, options).map_err(Into::into)
            }
            other => other.map_err(anyhow::Error::from),
        }
    })
    .await?
    .with_context(|| format!("loading the policy component ({configured})"))?;
    let active = policy.active();
    tracing::info!(policy = %active.name, sha256 = %active.sha256, signed_by = ?active.signed_by, "policy loaded");
    give_back_memory();

    let ip_filter = Arc::new(ipfilter::IpFilter::new(&settings.config.ip_filter).map_err(anyhow::Error::msg)?);
    let stores = reconcile::Stores::new(store.as_ref(), blobs.as_ref(), thumbs.as_deref(), &settings)
        .with_variants(variants.as_deref());
    let before = reconcile::before_serving(&stores, &temp).await.context("finishing interrupted deletes")?;
    let db_limit = Duration::from_millis(settings.config.database.timeout_ms);
    let shared_policy = mongo.as_ref().map(|db| SharedPolicy::new(db, db_limit));
    let server = &settings.config.server;
    let hot = crate::blob::HotFiles::new(
        server.file_cache_mb.saturating_mul(1 << 20),
        server.file_cache_max_kb.saturating_mul(1 << 10),
    );
    let policy = Arc::new(policy);
    let variants = variants.map(|cache| {
        let maker = crate::variants::maker_for(&policy);
        let config = settings.config.variants.clone();
        Arc::new(crate::variants::Variants::new(cache, blobs.clone(), store.clone(), temp.clone(), maker, config))
    });
    if let Some(v) = variants.clone() {
        tokio::spawn(async move {
            match v.load().await {
                Ok(n) => tracing::info!(variants = n, "variant cache read"),
                Err(e) => tracing::warn!(error = %e, "reading the variant cache"),
            }
        });
    }
    Ok(Arc::new(AppState {
        settings,
        store,
        blobs,
        thumbs,
        variants,
        hot,
        temp,
        shared_policy,
        policy,
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

/// Returns the heap that compiling the policy used and freed to the system (glibc keeps
/// freed memory otherwise: ~30 MB after a compile, resident for the whole run).
fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
