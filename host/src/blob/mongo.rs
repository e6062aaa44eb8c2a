//! Stored files in MongoDB, shared by every host using the same database.
//!
//! A collection of our own rather than GridFS (the test server mishandles
//! GridFS's dotted collection names): `{bucket}_chunks` holds 1 MiB pieces keyed
//! by a random blob id, `{bucket}_files` maps a name to a complete blob. The
//! files document is written last, so a blob becomes visible whole or not at
//! all; a unique index on the name settles two hosts racing for one name.

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::StreamExt;
use mongodb::bson::{doc, spec::BinarySubtype, Binary, Bson, Document};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use tokio::io::AsyncReadExt;

use super::{is_safe_name, unsafe_name, BlobStore, ByteStream};
use crate::store::mongo::{is_duplicate, number};

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
}

fn io_error(e: mongodb::error::Error) -> io::Error {
    io::Error::other(e.to_string())
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

impl MongoBlobs {
    /// The bucket `bucket` (e.g. "images", "thumbs") in `db`, with its indexes. Blobs
    /// without a record are left alone for `grace` (uploads in flight on other hosts).
    pub async fn open(db: &Database, bucket: &str, grace: Duration) -> io::Result<Self> {
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
        Ok(MongoBlobs { files, chunks, grace })
    }

    async fn blob_of(&self, name: &str) -> io::Result<Option<(String, u64)>> {
        let found = self.files.find_one(doc! {"name": name}).await.map_err(io_error)?;
        Ok(found.map(|d| (d.get_str("blob").unwrap_or_default().to_string(), number(&d, "length"))))
    }

    async fn insert_chunk(&self, blob: &str, n: u64, data: &[u8], created: f64) -> io::Result<()> {
        let bytes = Binary { subtype: BinarySubtype::Generic, bytes: data.to_vec() };
        self.chunks
            .insert_one(doc! {"blob": blob, "n": n as i64, "data": bytes, "created": created})
            .await
            .map_err(io_error)?;
        Ok(())
    }

    /// Makes `blob` (its chunks already written) visible as `name`, or removes the
    /// chunks when the name is taken or the write fails.
    async fn publish(&self, name: &str, blob: &str, length: u64) -> io::Result<()> {
        let doc =
            doc! {"name": name, "blob": blob, "length": length as i64, "chunk_size": CHUNK as i64, "uploaded": now()};
        match self.files.insert_one(doc).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let _ = self.chunks.delete_many(doc! {"blob": blob}).await;
                if is_duplicate(&e) {
                    Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{name} exists")))
                } else {
                    Err(io_error(e))
                }
            }
        }
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
            let _ = self.chunks.delete_many(doc! {"blob": &blob}).await;
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
                let _ = self.chunks.delete_many(doc! {"blob": &blob}).await;
                return Err(e);
            }
        }
        self.publish(name, &blob, bytes.len() as u64).await
    }

    async fn remove(&self, name: &str) -> io::Result<()> {
        // The name first: from then on the blob is invisible, whatever happens to its chunks.
        if let Some((blob, _)) = self.blob_of(name).await? {
            self.files.delete_many(doc! {"name": name}).await.map_err(io_error)?;
            self.chunks.delete_many(doc! {"blob": blob}).await.map_err(io_error)?;
        }
        Ok(())
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
        let cursor = self
            .chunks
            .find(doc! {"blob": &blob, "n": {"$gte": first as i64, "$lte": last as i64}})
            .sort(doc! {"n": 1})
            .batch_size(BATCH)
            .await
            .map_err(io_error)?;
        let mut expected = first;
        let stream = cursor.map(move |item| {
            let d = item.map_err(io_error)?;
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
        let mut cursor =
            self.files.find(doc! {}).projection(doc! {"name": 1, "uploaded": 1}).await.map_err(io_error)?;
        let t = now();
        let mut out = Vec::new();
        while cursor.advance().await.map_err(io_error)? {
            let d = cursor.deserialize_current().map_err(io_error)?;
            let uploaded = d.get_f64("uploaded").unwrap_or(0.0);
            out.push((
                d.get_str("name").unwrap_or_default().to_string(),
                Duration::from_secs_f64((t - uploaded).max(0.0)),
            ));
        }
        Ok(out)
    }

    async fn probe(&self) -> io::Result<()> {
        self.files.count_documents(doc! {"name": ".probe"}).await.map_err(io_error)?;
        Ok(())
    }

    async fn sweep(&self) -> io::Result<usize> {
        // Chunks of blobs never published (an upload that died half-way), once old enough.
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

    fn grace(&self) -> Duration {
        self.grace
    }
}
