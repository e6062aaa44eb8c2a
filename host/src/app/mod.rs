//! The application: the state every request handler shares, built once at start-up
//! (storage, secrets, mail, the policy, the IP filter), and the background tasks
//! that keep it current (policy reloads, reconciliation). The HTTP layer uses it;
//! nothing below it does.

mod counters;
mod reload;
mod startup;

pub use counters::{ConnStats, HttpMetrics, RequestKey, RequestStats, UploadPhases};
pub use reload::{initial_policy, policy_file_bytes, spawn_reconciliation, spawn_reloaders, trusted_keys};
pub use startup::build_state;

use std::sync::Arc;

use crate::auth::Secrets;
use crate::blob::{BlobStore, HotFiles, TempArea};
use crate::config::Settings;
use crate::mail::Mailer;
use crate::policy::PolicyRuntime;
use crate::store::MetaStore;

/// Everything a handler needs.
pub struct AppState {
    pub settings: Settings,
    pub store: Arc<dyn MetaStore>,
    /// Stored files.
    pub blobs: Arc<dyn BlobStore>,
    /// Small stored files kept in memory (`server.file_cache_mb`).
    pub hot: HotFiles,
    /// Thumbnail storage, when `server.image_zip` is on.
    pub thumbs: Option<Arc<dyn BlobStore>>,
    /// The variant cache and its maker, when `variants.enabled` is on.
    pub variants: Option<Arc<crate::variants::Variants>>,
    /// Where uploads are received (always local).
    pub temp: TempArea,
    /// The policy shared by every host on the same MongoDB database.
    pub shared_policy: Option<crate::cluster::SharedPolicy>,
    pub policy: Arc<PolicyRuntime>,
    pub secrets: Secrets,
    pub mailer: Mailer,
    pub http_metrics: HttpMetrics,
    pub ip_filter: Arc<crate::ipfilter::IpFilter>,
    /// Where the background reconciliation of files and records is.
    pub reconciliation: crate::reconcile::Status,
    /// When this process started serving: a file made since may be an upload in flight.
    pub started: std::time::SystemTime,
    /// Open and refused connections.
    pub conn_stats: Arc<ConnStats>,
    /// What reconciliation did before serving, until the background part reports it all.
    pub first_report: std::sync::Mutex<Option<crate::reconcile::Report>>,
}

impl AppState {
    /// Removes a stored file, its variants and its thumbnail (a missing file is not an
    /// error). The derived files go first: another upload can take the name only once the
    /// image file is gone, and must not lose its new thumbnail to this removal.
    pub async fn remove_files(&self, name: &str) -> std::io::Result<()> {
        self.hot.evict(name);
        if let Some(variants) = &self.variants {
            variants.remove_for(name).await?;
        }
        if let Some(thumbs) = &self.thumbs {
            thumbs.remove(&crate::blob::thumb_name(name)).await?;
        }
        self.blobs.remove(name).await
    }

    /// Removes the files of deleted records and forgets their pending deletes. A failure
    /// leaves the pending delete, which the next start finishes.
    pub async fn finish_deletes(&self, names: &[String]) {
        for name in names {
            match self.remove_files(name).await {
                Ok(()) => {
                    if let Err(e) = self.store.clear_pending(name).await {
                        tracing::warn!(error = %e, name, "pending delete stays (finished at the next start)");
                    }
                }
                Err(e) => tracing::error!(error = %e, name, "removing a deleted image's files; the next start retries"),
            }
        }
    }

    /// Removes the account `mail`, its records and then their files; the number of
    /// images it had. A file that cannot be removed now is left as a pending delete.
    pub async fn remove_account(&self, mail: &str) -> Result<usize, crate::store::StoreError> {
        let (_, names) = self.store.remove_account(mail).await?;
        self.finish_deletes(&names).await;
        tracing::info!(mail = %mail, images = names.len(), "account removed");
        Ok(names.len())
    }

    /// Publishes the active policy to the other hosts on the same MongoDB database (when
    /// there are any), logging a failure.
    pub async fn publish_policy(&self) -> Result<(), String> {
        match &self.shared_policy {
            Some(shared) => shared.publish_active(&self.policy).await,
            None => Ok(()),
        }
    }

    /// Publishes this host's shadow policy (or that there is none) to the other hosts on
    /// the same MongoDB database, when there are any.
    pub async fn publish_shadow(&self) -> Result<(), String> {
        match &self.shared_policy {
            Some(shared) => shared.publish_shadow(&self.policy).await,
            None => Ok(()),
        }
    }

    /// Where answers link a stored image: with `database.s3.public_links`, its object at
    /// `database.s3.public_url` (from the key its record keeps: no request to the store),
    /// else `/images/{name}` here (`server.image_url`). A record without a key (made
    /// before keys) keeps the link here, which redirects with `database.s3.redirect`.
    pub fn image_url(&self, record: &crate::store::ImageRecord) -> String {
        // Only the S3 store has public links: the others answer None.
        let public = self.settings.config.database.s3.public_links;
        public
            .then(|| self.blobs.public_link(record.blob()))
            .flatten()
            .unwrap_or_else(|| self.settings.image_url(&record.name))
    }

    /// The thumbnail URL of a stored name, if it has a thumbnail.
    pub async fn thumb_url(&self, record: &crate::store::ImageRecord) -> Option<String> {
        let thumbs = self.thumbs.as_ref()?;
        let thumb = crate::blob::thumb_name(&record.name);
        match record.thumb {
            Some(stored) => stored.then_some(())?,
            // An older record: the store knows.
            None => thumbs.size(&thumb).await.ok().flatten().map(drop)?,
        }
        Some(format!("{}/thumbs/{thumb}", crate::config::site_url(&self.settings.config)))
    }
}

/// Shared state handle.
pub type Shared = Arc<AppState>;
