//! Stored files in an S3-compatible bucket (`database.blob: "s3"`), shared by every host
//! using it. See [`layout`] for the keys: each blob's bytes go to an object key of its
//! own, and its name becomes visible through a small pointer created only if absent
//! (the claim on the name that hosts sharing the bucket agree on). The image's record
//! keeps the object's key, so reads go straight to the object ([`located`]); the pointer
//! is read only for blobs no record locates (thumbnails, records older than keys).
//! Uploads are streamed in parts (`database.s3.part_size_mb`), downloads and ranges are
//! ranged GETs, every request is bounded in time.

mod client;
mod layout;
mod located;
mod marker;
mod sweep;
mod upload;

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3;
use object_store::{Attribute, Attributes, GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::{is_safe_name, unsafe_name, BlobStore, ByteStream, Fetched, Located, QUARANTINE};
use crate::clock::{now, seconds};
use crate::config::S3Config;
use client::{bounded, io_error};
use layout::{headers_for, Layout, Pointer};

/// One store (images or thumbnails) in the bucket.
#[derive(Clone)]
pub struct S3Blobs {
    client: Arc<AmazonS3>,
    keys: Layout,
    /// Bound on each request.
    limit: Duration,
    part_size: usize,
    /// MiB of parts (or of whole small files) being sent at once, over all uploads: the
    /// bound on the memory uploads to S3 take, however many run.
    sending: Arc<tokio::sync::Semaphore>,
    grace: Duration,
    public_url: String,
}

fn not_found() -> io::Error {
    io::Error::from(io::ErrorKind::NotFound)
}

fn taken(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::AlreadyExists, format!("{name} exists"))
}

impl S3Blobs {
    /// The store `part` ("images", "thumbs") of the configured bucket, checked by a write:
    /// a missing bucket, refused credentials or an unreachable service are refused here,
    /// in words the operator can act on.
    pub async fn open(config: &S3Config, part: &str) -> Result<Self, String> {
        let client = client::build(config).map_err(|e| format!("database.s3: {e}"))?;
        let store = S3Blobs {
            client,
            keys: Layout::new(&config.prefix, part),
            limit: Duration::from_millis(config.timeout_ms),
            part_size: (config.part_size_mb as usize) << 20,
            sending: Arc::new(tokio::sync::Semaphore::new(
                (config.parts_in_flight.max(1) as usize) * (config.part_size_mb as usize),
            )),
            grace: Duration::from_secs(config.grace_s),
            public_url: config.public_url.clone(),
        };
        store.probe().await.map_err(|e| client::explain(&e, config))?;
        store.check_conditional_put().await.map_err(|e| client::explain(&e, config))?;
        Ok(store)
    }

    /// Names are only safe if the service refuses to create an object that exists
    /// (`If-None-Match: *`): checked once, on a probe key of its own.
    async fn check_conditional_put(&self) -> io::Result<()> {
        let at = self.keys.entry(&format!(".probe-{:032x}", rand::random::<u128>()));
        let pointer = Pointer { object: String::new(), length: 0, created: now() };
        self.create_pointer(&at, &pointer).await?;
        let second = self.create_pointer(&at, &pointer).await;
        self.delete(&at).await?;
        match second {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Ok(()) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the service replaced an existing object despite If-None-Match: * (conditional writes are \
                 needed so that no stored file is ever overwritten; AWS S3, MinIO, Ceph RGW, R2 and SeaweedFS have them)",
            )),
            Err(e) => Err(e),
        }
    }

    /// The pointer of `name` (or of a quarantine entry, `at`), None if there is none.
    async fn pointer_at(&self, at: &object_store::path::Path) -> io::Result<Option<Pointer>> {
        let got = bounded(self.limit, async { self.client.get(at).await?.bytes().await }).await;
        match got {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("pointer {at}: {e}"))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn pointer(&self, name: &str) -> io::Result<Option<Pointer>> {
        if !is_safe_name(name) {
            return Ok(None);
        }
        self.pointer_at(&self.keys.name(name)).await
    }

    /// Creates the pointer at `at` if nothing is there (`AlreadyExists` otherwise).
    async fn create_pointer(&self, at: &object_store::path::Path, pointer: &Pointer) -> io::Result<()> {
        let body = serde_json::to_vec(pointer).map_err(io::Error::other)?;
        let opts = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        bounded(self.limit, self.client.put_opts(at, PutPayload::from(body), opts)).await.map(|_| ())
    }

    async fn delete(&self, at: &object_store::path::Path) -> io::Result<()> {
        match bounded(self.limit, self.client.delete(at)).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn attributes(name: &str, mime: Option<&str>) -> Attributes {
        let (content_type, disposition) = headers_for(name, mime);
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, content_type.into());
        attributes.insert(Attribute::ContentDisposition, disposition.into());
        attributes
    }

    /// Makes the object visible as `name`, or removes it when the name is taken.
    async fn publish(&self, name: &str, object: String, length: u64) -> io::Result<()> {
        let pointer = Pointer { object: object.clone(), length, created: now() };
        match self.create_pointer(&self.keys.name(name), &pointer).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = self.delete(&self.keys.object(&object)).await;
                Err(taken(name))
            }
            // The outcome is unknown (a timeout): the name may be published. The object
            // stays; if no name points at it, start-up moves it to quarantine after the grace.
            Err(e) => Err(e),
        }
    }

    /// Removes the pointer at `at` and then its object, if the pointer was stored before
    /// `before` (any age when None).
    async fn remove_at(&self, at: &object_store::path::Path, before: Option<SystemTime>) -> io::Result<()> {
        let Some(pointer) = self.pointer_at(at).await? else { return Ok(()) };
        if before.is_some_and(|b| pointer.created >= seconds(b)) {
            return Ok(());
        }
        // The name first: from then on the blob is invisible, whatever happens to its object.
        self.delete(at).await?;
        self.delete(&self.keys.object(&pointer.object)).await
    }

    /// Stores the file under a new object and publishes its name; returns the object's key.
    async fn put_file_typed(&self, path: &Path, name: &str, mime: Option<&str>) -> io::Result<String> {
        if !is_safe_name(name) {
            return Err(unsafe_name());
        }
        if self.pointer(name).await?.is_some() {
            return Err(taken(name));
        }
        let object = Layout::new_object(name);
        let length = upload::write_object(self, path, &object, Self::attributes(name, mime)).await?;
        self.publish(name, object.clone(), length).await?;
        Ok(object)
    }
}

#[async_trait::async_trait]
impl BlobStore for S3Blobs {
    async fn put_file(&self, path: &Path, name: &str) -> io::Result<()> {
        self.put_file_typed(path, name, None).await.map(|_| ())
    }

    async fn put_file_as(&self, path: &Path, name: &str, mime: &str) -> io::Result<Option<String>> {
        self.put_file_typed(path, name, Some(mime)).await.map(Some)
    }

    async fn put_bytes(&self, name: &str, bytes: Vec<u8>) -> io::Result<()> {
        if !is_safe_name(name) {
            return Err(unsafe_name());
        }
        if self.pointer(name).await?.is_some() {
            return Err(taken(name));
        }
        let object = Layout::new_object(name);
        // Small files only (thumbnails, which are PNG).
        let mime = name.ends_with(".png").then_some("image/png");
        let opts = PutOptions { attributes: Self::attributes(name, mime), ..PutOptions::default() };
        let length = bytes.len() as u64;
        bounded(self.limit, self.client.put_opts(&self.keys.object(&object), PutPayload::from(bytes), opts)).await?;
        self.publish(name, object, length).await
    }

    async fn remove(&self, name: &str) -> io::Result<()> {
        if !is_safe_name(name) {
            return Ok(());
        }
        self.remove_at(&self.keys.name(name), None).await
    }

    async fn remove_before(&self, name: &str, before: SystemTime) -> io::Result<()> {
        if !is_safe_name(name) {
            return Ok(());
        }
        self.remove_at(&self.keys.name(name), Some(before)).await
    }

    async fn size(&self, name: &str) -> io::Result<Option<u64>> {
        Ok(self.pointer(name).await?.map(|p| p.length))
    }

    async fn read(&self, name: &str, start: u64, len: u64) -> io::Result<ByteStream> {
        let pointer = self.pointer(name).await?.ok_or_else(not_found)?;
        if len == 0 {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let opts = GetOptions::new().with_range(Some(start..start + len));
        let got = bounded(self.limit, self.client.get_opts(&self.keys.object(&pointer.object), opts)).await?;
        // Each piece must come within the client's read timeout: a stalled service ends the stream.
        Ok(Box::pin(got.into_stream().map_err(io_error)))
    }

    async fn fetch(&self, name: &str, small: u64) -> io::Result<Option<Fetched>> {
        let Some(pointer) = self.pointer(name).await? else { return Ok(None) };
        if pointer.length > small {
            return Ok(Some(Fetched::Large(pointer.length)));
        }
        if pointer.length == 0 {
            return Ok(Some(Fetched::Small(Bytes::new())));
        }
        let at = self.keys.object(&pointer.object);
        let bytes = bounded(self.limit, async { self.client.get(&at).await?.bytes().await }).await?;
        Ok(Some(Fetched::Small(bytes)))
    }

    async fn size_located(&self, blob: Located<'_>) -> io::Result<Option<u64>> {
        self.size_keyed(blob).await
    }

    async fn read_located(&self, blob: Located<'_>, start: u64, len: u64) -> io::Result<ByteStream> {
        self.read_keyed(blob, start, len).await
    }

    async fn fetch_located(&self, blob: Located<'_>, small: u64) -> io::Result<Option<Fetched>> {
        self.fetch_keyed(blob, small).await
    }

    async fn list(&self) -> io::Result<Vec<(String, Duration)>> {
        let now = now();
        let listed = self.list_under(&self.keys.names()).await?;
        Ok(listed
            .into_iter()
            .filter_map(|(rel, modified)| {
                let name = rel.strip_prefix("names/")?.to_string();
                Some((name, Duration::from_secs_f64((now - modified).max(0.0))))
            })
            .collect())
    }

    async fn probe(&self) -> io::Result<()> {
        // A write, with the store's credentials: reachable, the bucket there, writes allowed.
        bounded(self.limit, self.client.put(&self.keys.probe(), PutPayload::from_static(b"ready"))).await.map(|_| ())
    }

    async fn sweep(&self) -> io::Result<usize> {
        sweep::quarantine_unpublished(self).await
    }

    fn grace(&self) -> Duration {
        self.grace
    }

    async fn quarantine(&self, name: &str, older_than: SystemTime) -> io::Result<String> {
        if !is_safe_name(name) {
            return Err(unsafe_name());
        }
        let at = self.keys.name(name);
        let pointer = self.pointer_at(&at).await?.ok_or_else(not_found)?;
        if pointer.created >= seconds(older_than) {
            return Err(not_found());
        }
        let entry = self.new_entry(name, &pointer).await?;
        self.delete(&at).await?;
        Ok(entry)
    }

    async fn restore(&self, entry: &str, name: &str) -> io::Result<()> {
        if !entry.starts_with(&format!("{QUARANTINE}/")) || !is_safe_name(name) {
            return Err(unsafe_name());
        }
        let at = self.keys.entry(entry);
        let pointer = self.pointer_at(&at).await?.ok_or_else(not_found)?;
        // Never over a name stored meanwhile: `AlreadyExists`.
        self.create_pointer(&self.keys.name(name), &pointer).await?;
        self.delete(&at).await
    }

    async fn quarantined(&self) -> io::Result<Vec<String>> {
        let mut out: Vec<String> =
            self.list_under(&self.keys.quarantine()).await?.into_iter().map(|(rel, _)| rel).collect();
        out.sort();
        Ok(out)
    }

    async fn purge_quarantined(&self, entry: &str) -> io::Result<()> {
        if !entry.starts_with(&format!("{QUARANTINE}/")) || entry.contains("..") {
            return Err(unsafe_name());
        }
        self.remove_at(&self.keys.entry(entry), None).await
    }

    fn public_link(&self, blob: Located<'_>) -> Option<String> {
        self.link(blob)
    }

    async fn public_url(&self, blob: Located<'_>) -> io::Result<Option<String>> {
        if self.public_url.is_empty() {
            return Ok(None);
        }
        if let Some(link) = self.link(blob) {
            return Ok(Some(link));
        }
        // A record older than keys: its name's pointer says where.
        Ok(self.pointer(blob.name).await?.map(|p| self.keys.public_url(&self.public_url, &p.object)))
    }
}

impl S3Blobs {
    /// Every key under `prefix`, relative to this store's part, with its last-modified
    /// time (seconds) — a scan: a longer bound.
    async fn list_under(&self, prefix: &object_store::path::Path) -> io::Result<Vec<(String, f64)>> {
        Ok(self.list_sized(prefix).await?.into_iter().map(|(rel, modified, _)| (rel, modified)).collect())
    }

    /// Like [`S3Blobs::list_under`], with each object's size.
    async fn list_sized(&self, prefix: &object_store::path::Path) -> io::Result<Vec<(String, f64, u64)>> {
        let scan = async {
            let mut listed = self.client.list(Some(prefix));
            let mut out = Vec::new();
            while let Some(meta) = listed.next().await {
                let meta = meta?;
                if let Some(rel) = self.keys.relative(&meta.location) {
                    out.push((rel.to_string(), meta.last_modified.timestamp_millis() as f64 / 1000.0, meta.size));
                }
            }
            Ok(out)
        };
        bounded(self.limit * 100, scan).await
    }

    /// Copies `pointer` to a new quarantine entry for `name` (numbered, never replacing one).
    async fn new_entry(&self, name: &str, pointer: &Pointer) -> io::Result<String> {
        for n in 0..1000 {
            let entry = match n {
                0 => format!("{QUARANTINE}/{name}"),
                n => format!("{QUARANTINE}/{name}.{n}"),
            };
            match self.create_pointer(&self.keys.entry(&entry), pointer).await {
                Ok(()) => return Ok(entry),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(format!("{name}: too many quarantined copies")))
    }
}
