//! The bucket's store marker: `{prefix}images/.imgbed-store`, created only if absent, with
//! the store id the database keeps too (as a local image folder has, see `blob::marker`).
//! A database and a bucket prefix that do not belong together — a wrong prefix, a second
//! install pointed at the first one's objects — are refused at start-up instead of having
//! each other's files judged unrecorded and moved to quarantine.

use std::io;

use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::client::bounded;
use super::S3Blobs;

impl S3Blobs {
    /// The store id in the bucket's marker, if it has one.
    pub async fn store_id(&self) -> io::Result<Option<String>> {
        let at = self.keys.marker();
        match bounded(self.limit, async { self.client.get(&at).await?.bytes().await }).await {
            Ok(bytes) => {
                let value: serde_json::Value = serde_json::from_slice(&bytes)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{at}: {e}")))?;
                Ok(value["imgbed_store"].as_str().map(str::to_string))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes the marker with `id` unless one exists; the id the bucket has afterwards.
    pub async fn mark(&self, id: &str) -> io::Result<String> {
        let body = serde_json::json!({"imgbed_store": id, "created": crate::clock::now(),
            "note": "Marks this prefix as an imgbed store. Do not delete: without it, start-up refuses to run with existing records."});
        let opts = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        let at = self.keys.marker();
        let put = self.client.put_opts(&at, PutPayload::from(body.to_string().into_bytes()), opts);
        match bounded(self.limit, put).await {
            Ok(_) => Ok(id.to_string()),
            // Another host marked it first: that id holds.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.store_id().await?.ok_or_else(|| io::Error::other("the store marker vanished"))
            }
            Err(e) => Err(e),
        }
    }

    /// Whether any name is stored (a quick look: one listing page).
    pub async fn holds_names(&self) -> io::Result<bool> {
        use futures_util::StreamExt;
        let names = self.keys.names();
        let first = bounded(self.limit, async { self.client.list(Some(&names)).next().await.transpose() });
        Ok(first.await?.is_some())
    }
}
