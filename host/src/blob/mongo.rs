//! Stored files in MongoDB, shared by every host using the same database.
//!
//! A collection of our own rather than GridFS (the test server mishandles
//! GridFS's dotted collection names): `{bucket}_chunks` holds 1 MiB pieces keyed
//! by a random blob id, `{bucket}_files` maps a name to a complete blob. The
//! files document is written last, so a blob becomes visible whole or not at
//! all; a unique index on the name settles two hosts racing for one name.

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt;
use mongodb::bson::{doc, spec::BinarySubtype, Binary, Bson, Document};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use tokio::io::AsyncReadExt;

use super::{is_safe_name, unsafe_name, BlobStore, ByteStream, QUARANTINE};
use crate::clock::{now, seconds};
use crate::mongo::{is_duplicate, number};

/// Bytes per chunk document (well under MongoDB's 16 MiB document limit).
const CHUNK: usize = 1024 * 1024;
/// Chunk documents fetched per round trip while serving (bounds memory per reader).
const BATCH: u32 = 4;

/// A blob bucket in a MongoDB database.
#[derive(Clone)]
pub struct MongoBlobs {
    files: Collection<Document>,
    chunks: Collection<Document>,
    grace: Duration,
    /// Bound on each database operation (`database.timeout_ms`).
    limit: Duration,
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "MongoDB did not answer in time")
}

/// `op`, or a `TimedOut` error once `limit` has passed.
async fn bounded<T>(limit: Duration, op: impl std::future::Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::time::timeout(limit, op).await.unwrap_or_else(|_| Err(timed_out()))
}

/// A driver error as an I/O error: a server that cannot be reached is `NotConnected`
/// (answered 503, like a timeout), anything else `Other`.
fn io_error(e: mongodb::error::Error) -> io::Error {
    use mongodb::error::ErrorKind;
    let kind = match &*e.kind {
        ErrorKind::Io(_) | ErrorKind::ServerSelection { .. } | ErrorKind::ConnectionPoolCleared { .. } => {
            io::ErrorKind::NotConnected
        }
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e.to_string())
}

impl MongoBlobs {
    /// The bucket `bucket` (e.g. "images", "thumbs") in `db`, with its indexes. Blobs
    /// without a record are left alone for `grace` (uploads in flight on other hosts).
    /// Each operation gives up after `limit`.
    pub async fn open(db: &Database, bucket: &str, grace: Duration, limit: Duration) -> io::Result<Self> {
        let files: Collection<Document> = db.collection(&format!("{bucket}_files"));
        let chunks: Collection<Document> = db.collection(&format!("{bucket}_chunks"));
        let unique = IndexOptions::builder().unique(true).build();
        files
            .create_index(IndexModel::builder().keys(doc! {"name": 1}).options(unique.clone()).build())
            .await
            .map_err(io_error)?;
        chunks
            .create_index(IndexModel::builder().keys(doc! {"blob": 1, "n": 1}).options(unique).build())
            .await
            .map_err(io_error)?;
        Ok(MongoBlobs { files, chunks, grace, limit })
    }

    async fn blob_of(&self, name: &str) -> io::Result<Option<(String, u64)>> {
        let found = bounded(self.limit, async { self.files.find_one(doc! {"name": name}).await.map_err(io_error) });
        Ok(found.await?.map(|d| (d.get_str("blob").unwrap_or_default().to_string(), number(&d, "length"))))
    }

    async fn insert_chunk(&self, blob: &str, n: u64, data: &[u8], created: f64) -> io::Result<()> {
        let bytes = Binary { subtype: BinarySubtype::Generic, bytes: data.to_vec() };
        let insert = self.chunks.insert_one(doc! {"blob": blob, "n": n as i64, "data": bytes, "created": created});
        bounded(self.limit, async { insert.await.map_err(io_error) }).await?;
        Ok(())
    }

    /// Every files entry (name, uploaded) — a scan, so a longer bound.
    async fn entries(&self) -> io::Result<Vec<(String, f64)>> {
        bounded(self.limit * 100, async {
            let mut cursor =
                self.files.find(doc! {}).projection(doc! {"name": 1, "uploaded": 1}).await.map_err(io_error)?;
            let mut out = Vec::new();
            while cursor.advance().await.map_err(io_error)? {
                let d = cursor.deserialize_current().map_err(io_error)?;
                out.push((d.get_str("name").unwrap_or_default().to_string(), d.get_f64("uploaded").unwrap_or(0.0)));
            }
            Ok(out)
        })
        .await
    }

    /// Makes `blob` (its chunks already written) visible as `name`, or removes the
    /// chunks when the name is taken or the write fails.
    async fn publish(&self, name: &str, blob: &str, length: u64) -> io::Result<()> {
        let doc =
            doc! {"name": name, "blob": blob, "length": length as i64, "chunk_size": CHUNK as i64, "uploaded": now()};
        let inserted = tokio::time::timeout(self.limit, self.files.insert_one(doc)).await;
        let Ok(inserted) = inserted else {
            // The outcome is unknown: the name may be published. Leave the chunks; if the
            // name was not published, the sweep removes them after the grace period.
            return Err(timed_out());
        };
        match inserted {
            Ok(_) => Ok(()),
            Err(e) => {
                self.drop_chunks(blob).await;
                if is_duplicate(&e) {
                    Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{name} exists")))
                } else {
                    Err(io_error(e))
                }
            }
        }
    }

    async fn sweep_unpublished(&self) -> io::Result<usize> {
        let cutoff = now() - self.grace.as_secs_f64();
        let mut cursor = self
            .chunks
            .find(doc! {"n": 0_i64, "created": {"$lt": cutoff}})
            .projection(doc! {"blob": 1})
            .await
            .map_err(io_error)?;
        let mut blobs = Vec::new();
        while cursor.advance().await.map_err(io_error)? {
            let d = cursor.deserialize_current().map_err(io_error)?;
            blobs.push(d.get_str("blob").unwrap_or_default().to_string());
        }
        let mut removed = 0;
        for blob in blobs {
            if self.files.count_documents(doc! {"blob": &blob}).await.map_err(io_error)? == 0 {
                self.chunks.delete_many(doc! {"blob": &blob}).await.map_err(io_error)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Best-effort removal of an unpublished blob's chunks (bounded; the sweep removes
    /// whatever is left once the grace period is over).
    async fn drop_chunks(&self, blob: &str) {
        let _ = tokio::time::timeout(self.limit, self.chunks.delete_many(doc! {"blob": blob})).await;
    }

    /// Removes the files entry matching `filter` and its chunks (the blob id read from
    /// that very entry, so a blob stored later under the same name is never touched).
    async fn remove_matching(&self, filter: Document) -> io::Result<()> {
        let found = bounded(self.limit, async { self.files.find_one(filter).await.map_err(io_error) }).await?;
        let Some(d) = found else { return Ok(()) };
        let (id, blob) =
            (d.get("_id").cloned().unwrap_or(Bson::Null), d.get_str("blob").unwrap_or_default().to_string());
        // The name first: from then on the blob is invisible, whatever happens to its chunks.
        bounded(self.limit, async { self.files.delete_one(doc! {"_id": id}).await.map_err(io_error) }).await?;
        bounded(self.limit, async { self.chunks.delete_many(doc! {"blob": blob}).await.map_err(io_error) }).await?;
        Ok(())
    }

    async fn taken(&self, name: &str) -> io::Result<()> {
        if self.blob_of(name).await?.is_some() {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{name} exists")));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl BlobStore for MongoBlobs {
    async fn put_file(&self, path: &Path, name: &str) -> io::Result<()> {
        if !is_safe_name(name) {
            return Err(unsafe_name());
        }
        self.taken(name).await?;
        let blob = format!("{:032x}", rand::random::<u128>());
        let created = now();
        let mut file = tokio::fs::File::open(path).await?;
        let mut buf = vec![0u8; CHUNK];
        let (mut n, mut length) = (0u64, 0u64);
        let written: io::Result<()> = async {
            loop {
                let mut filled = 0;
                while filled < CHUNK {
                    let got = file.read(&mut buf[filled..]).await?;
                    if got == 0 {
                        break;
                    }
                    filled += got;
                }
                if filled == 0 {
                    return Ok(());
                }
                self.insert_chunk(&blob, n, &buf[..filled], created).await?;
                n += 1;
                length += filled as u64;
                if filled < CHUNK {
                    return Ok(());
                }
            }
        }
        .await;
        if let Err(e) = written {
            self.drop_chunks(&blob).await;
            return Err(e);
        }
        self.publish(name, &blob, length).await
    }

    async fn put_bytes(&self, name: &str, bytes: Vec<u8>) -> io::Result<()> {
        if !is_safe_name(name) {
            return Err(unsafe_name());
        }
        self.taken(name).await?;
        let blob = format!("{:032x}", rand::random::<u128>());
        let created = now();
        for (n, piece) in bytes.chunks(CHUNK).enumerate() {
            if let Err(e) = self.insert_chunk(&blob, n as u64, piece, created).await {
                self.drop_chunks(&blob).await;
                return Err(e);
            }
        }
        self.publish(name, &blob, bytes.len() as u64).await
    }

    async fn remove(&self, name: &str) -> io::Result<()> {
        self.remove_matching(doc! {"name": name}).await
    }

    async fn remove_before(&self, name: &str, before: SystemTime) -> io::Result<()> {
        self.remove_matching(doc! {"name": name, "uploaded": {"$lt": seconds(before)}}).await
    }

    async fn size(&self, name: &str) -> io::Result<Option<u64>> {
        Ok(self.blob_of(name).await?.map(|(_, len)| len))
    }

    async fn read(&self, name: &str, start: u64, len: u64) -> io::Result<ByteStream> {
        let (blob, _) = self.blob_of(name).await?.ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        if len == 0 {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let end = start + len; // exclusive
        let (first, last) = (start / CHUNK as u64, (end - 1) / CHUNK as u64);
        let find = self
            .chunks
            .find(doc! {"blob": &blob, "n": {"$gte": first as i64, "$lte": last as i64}})
            .sort(doc! {"n": 1})
            .batch_size(BATCH);
        let cursor = bounded(self.limit, async { find.await.map_err(io_error) }).await?;
        let limit = self.limit;
        // Each batch must arrive within the bound: a server that stops answering ends the stream.
        let items = futures_util::stream::unfold(Some(cursor), move |cursor| async move {
            let mut cursor = cursor?;
            match tokio::time::timeout(limit, cursor.next()).await {
                Ok(Some(item)) => Some((item.map_err(io_error), Some(cursor))),
                Ok(None) => None,
                Err(_) => Some((Err(timed_out()), None)),
            }
        });
        let mut expected = first;
        let stream = items.map(move |item| {
            let d = item?;
            let n = number(&d, "n");
            if n != expected {
                return Err(io::Error::other(format!("blob {blob}: chunk {expected} missing")));
            }
            expected += 1;
            let data = match d.get("data") {
                Some(Bson::Binary(b)) => b.bytes.clone(),
                _ => return Err(io::Error::other(format!("blob {blob}: chunk {n} has no data"))),
            };
            let at = n * CHUNK as u64;
            let from = start.saturating_sub(at).min(data.len() as u64) as usize;
            let to = (end - at).min(data.len() as u64) as usize;
            Ok(Bytes::copy_from_slice(&data[from..to.max(from)]))
        });
        Ok(Box::pin(stream))
    }

    async fn list(&self) -> io::Result<Vec<(String, Duration)>> {
        let t = now();
        let entries = self.entries().await?.into_iter();
        let stored = entries.filter(|(name, _)| !name.starts_with(&format!("{QUARANTINE}/")));
        Ok(stored.map(|(name, uploaded)| (name, Duration::from_secs_f64((t - uploaded).max(0.0)))).collect())
    }

    async fn probe(&self) -> io::Result<()> {
        bounded(self.limit, async { self.files.count_documents(doc! {"name": ".probe"}).await.map_err(io_error) })
            .await?;
        Ok(())
    }

    async fn sweep(&self) -> io::Result<usize> {
        // Chunks of blobs never published (an upload that died half-way), once old enough:
        // no record can name them, so they are garbage. A scan: a longer bound.
        bounded(self.limit * 100, self.sweep_unpublished()).await
    }

    fn grace(&self) -> Duration {
        self.grace
    }

    async fn quarantine(&self, name: &str, older_than: SystemTime) -> io::Result<String> {
        if !is_safe_name(name) {
            return Err(unsafe_name());
        }
        let before = seconds(older_than);
        // Renamed, never replaced: a name already in quarantine gets a number.
        for n in 0..1000 {
            let entry = match n {
                0 => format!("{QUARANTINE}/{name}"),
                n => format!("{QUARANTINE}/{name}.{n}"),
            };
            let renamed = bounded(self.limit, async {
                let filter = doc! {"name": name, "uploaded": {"$lt": before}};
                match self.files.update_one(filter, doc! {"$set": {"name": &entry}}).await {
                    Ok(r) => Ok(r.matched_count > 0),
                    Err(e) if is_duplicate(&e) => Err(io::Error::new(io::ErrorKind::AlreadyExists, "taken")),
                    Err(e) => Err(io_error(e)),
                }
            });
            match renamed.await {
                Ok(true) => return Ok(entry),
                Ok(false) => return Err(io::Error::from(io::ErrorKind::NotFound)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(format!("{name}: too many quarantined copies")))
    }

    async fn restore(&self, entry: &str, name: &str) -> io::Result<()> {
        if !entry.starts_with(&format!("{QUARANTINE}/")) || !is_safe_name(name) {
            return Err(unsafe_name());
        }
        let renamed = bounded(self.limit, async {
            match self.files.update_one(doc! {"name": entry}, doc! {"$set": {"name": name}}).await {
                Ok(r) if r.matched_count > 0 => Ok(()),
                Ok(_) => Err(io::Error::from(io::ErrorKind::NotFound)),
                Err(e) if is_duplicate(&e) => {
                    Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{name} exists")))
                }
                Err(e) => Err(io_error(e)),
            }
        });
        renamed.await
    }

    async fn quarantined(&self) -> io::Result<Vec<String>> {
        let prefix = format!("{QUARANTINE}/");
        Ok(self.entries().await?.into_iter().map(|(name, _)| name).filter(|n| n.starts_with(&prefix)).collect())
    }

    async fn purge_quarantined(&self, entry: &str) -> io::Result<()> {
        if !entry.starts_with(&format!("{QUARANTINE}/")) {
            return Err(unsafe_name());
        }
        let found = bounded(self.limit, async { self.files.find_one(doc! {"name": entry}).await.map_err(io_error) });
        if let Some(d) = found.await? {
            let blob = d.get_str("blob").unwrap_or_default().to_string();
            bounded(self.limit, async { self.files.delete_one(doc! {"name": entry}).await.map_err(io_error) }).await?;
            bounded(self.limit, async { self.chunks.delete_many(doc! {"blob": blob}).await.map_err(io_error) }).await?;
        }
        Ok(())
    }
}
