//! imgbed: a self-hosted image host. The native host serves HTTP and owns
//! storage; a WebAssembly policy component decides validation, naming and access.

pub mod auth;
pub mod blob;
pub mod cluster;
pub mod config;
pub mod error;
pub mod http;
pub mod ipfilter;
pub mod mail;
pub mod migrate;
pub mod policy;
pub mod store;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::blob::{BlobStore, LocalBlobs, MongoBlobs, TempArea};
use crate::config::Settings;
use crate::http::{AppState, Shared};
use crate::policy::{Limits, PolicyRuntime};
use crate::store::{MetaStore, MongoStore, SqliteStore};

/// The metadata store and the blob stores the config names.
pub struct Storage {
    pub store: Arc<dyn MetaStore>,
    pub blobs: Arc<dyn BlobStore>,
    /// Present when `server.image_zip` is on.
    pub thumbs: Option<Arc<dyn BlobStore>>,
    pub temp: TempArea,
    /// The MongoDB database, with `database.engine: "mongo"`.
    pub mongo: Option<mongodb::Database>,
}

/// How often a host sharing a MongoDB database checks for a policy another host published.
const SHARED_POLICY_POLL: Duration = Duration::from_secs(2);

/// How long a blob without a record is left alone in a store shared by several hosts.
const SHARED_BLOB_GRACE: Duration = Duration::from_secs(15 * 60);

/// Opens the metadata store and the blob stores the config names.
pub async fn open_storage(settings: &Settings) -> anyhow::Result<Storage> {
    let db = &settings.config.database;
    let (store, mongo): (Arc<dyn MetaStore>, _) = match db.engine.as_str() {
        "mongo" => {
            let timeout = Duration::from_millis(db.timeout_ms);
            let store = MongoStore::connect(&db.mongo, timeout)
                .await
                .with_context(|| format!("connecting to MongoDB at {}", store::redact_uri(&db.mongo)))?;
            let database = store.database();
            (Arc::new(store), Some(database))
        }
        _ => (
            Arc::new(
                SqliteStore::open(&settings.sqlite_path)
                    .with_context(|| format!("opening database {}", settings.sqlite_path.display()))?,
            ),
            None,
        ),
    };
    // Uploads are received next to the local image folder (same file system: stored by a link).
    let temp = TempArea::open(&settings.image_dir.join(".tmp"))
        .with_context(|| format!("opening the upload folder {}", settings.image_dir.display()))?;
    let image_zip = settings.config.server.image_zip;
    let (blobs, thumbs): (Arc<dyn BlobStore>, Option<Arc<dyn BlobStore>>) = match (db.blob.as_str(), &mongo) {
        ("gridfs", Some(database)) => {
            let open = |bucket: &'static str| MongoBlobs::open(database, bucket, SHARED_BLOB_GRACE);
            let blobs = open("images").await.context("opening the blob store in MongoDB")?;
            let thumbs = match image_zip {
                true => {
                    Some(Arc::new(open("thumbs").await.context("opening the thumbnail store")?) as Arc<dyn BlobStore>)
                }
                false => None,
            };
            (Arc::new(blobs), thumbs)
        }
        _ => {
            let blobs = LocalBlobs::open(&settings.image_dir)
                .with_context(|| format!("opening image directory {}", settings.image_dir.display()))?;
            let thumbs = match image_zip {
                true => Some(Arc::new(
                    LocalBlobs::open(&settings.thumb_dir)
                        .with_context(|| format!("opening {}", settings.thumb_dir.display()))?,
                ) as Arc<dyn BlobStore>),
                false => None,
            };
            (Arc::new(blobs), thumbs)
        }
    };
    Ok(Storage { store, blobs, thumbs, temp, mongo })
}

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
    };
    let exists: policy::ExistsFn = Arc::new(StoreView(store.clone()));
    let policy_settings = settings.policy_settings();
    let options = policy::Options {
        cache_dir: Some(settings.cache_dir.clone()),
        store_dir: Some(settings.base_dir.join("policy")),
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
    reconcile(store.as_ref(), &temp, blobs.as_ref(), thumbs.as_deref()).await?;
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

/// Removes what a crash can leave behind: temp files, blobs without records (older
/// than the store's grace period: another host may be between the two writes),
/// records without blobs, and thumbnails without images.
pub async fn reconcile(
    store: &dyn MetaStore,
    temp: &TempArea,
    blobs: &dyn BlobStore,
    thumbs: Option<&dyn BlobStore>,
) -> anyhow::Result<()> {
    let temps = temp.clear()?;
    let mut swept = blobs.sweep().await?;
    let names: HashSet<String> = store.all_names().await?.into_iter().collect();
    if let Some(thumbs) = thumbs {
        swept += thumbs.sweep().await?;
        let wanted: HashSet<String> = names.iter().map(|n| blob::thumb_name(n)).collect();
        for (t, age) in thumbs.list().await? {
            if !wanted.contains(&t) && age >= thumbs.grace() {
                thumbs.remove(&t).await?;
            }
        }
    }
    let listed = blobs.list().await?;
    let files: HashSet<String> = listed.iter().map(|(n, _)| n.clone()).collect();
    let mut orphans = 0;
    for (f, age) in &listed {
        if !names.contains(f) && *age >= blobs.grace() {
            blobs.remove(f).await?;
            orphans += 1;
        }
    }
    let mut missing = 0;
    for n in names.difference(&files) {
        store.delete(n).await?;
        missing += 1;
    }
    if temps + swept + orphans + missing > 0 {
        tracing::warn!(temps, swept, orphans, missing, "start-up reconciliation cleaned up after an earlier crash");
    }
    Ok(())
}
