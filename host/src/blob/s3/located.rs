//! Reading a blob its record locates: the record keeps the object's key (what
//! `put_file_as` answered) and size, so serving it is one request — no look-up of the
//! name's pointer. A key that is not this name's (a record edited by hand) is ignored
//! and the name looked up; so is a key whose object is gone (the name may point at
//! another object, e.g. after a restore), which costs the look-up only then.

use std::io;

use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::{GetOptions, ObjectStore, ObjectStoreExt};

use super::client::{bounded, io_error};
use super::layout::Layout;
use super::S3Blobs;
use crate::blob::{BlobStore, ByteStream, Fetched, Located};

impl S3Blobs {
    /// The object key (relative, as records keep it) of `blob`, if its record has one
    /// that belongs to its name.
    fn key_of<'a>(&self, blob: Located<'a>) -> Option<&'a str> {
        let key = blob.key?;
        if Layout::is_object_of(blob.name, key) {
            return Some(key);
        }
        tracing::warn!(name = blob.name, key, "a record's object key does not belong to its name: ignored");
        None
    }

    pub(super) async fn size_keyed(&self, blob: Located<'_>) -> io::Result<Option<u64>> {
        match self.key_of(blob) {
            Some(_) => Ok(Some(blob.size)),
            None => self.size(blob.name).await,
        }
    }

    pub(super) async fn read_keyed(&self, blob: Located<'_>, start: u64, len: u64) -> io::Result<ByteStream> {
        let Some(key) = self.key_of(blob) else { return self.read(blob.name, start, len).await };
        if len == 0 {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let opts = GetOptions::new().with_range(Some(start..start + len));
        match bounded(self.limit, self.client.get_opts(&self.keys.object(key), opts)).await {
            // Each piece must come within the client's read timeout: a stalled service ends the stream.
            Ok(got) => Ok(Box::pin(got.into_stream().map_err(io_error))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.read(blob.name, start, len).await,
            Err(e) => Err(e),
        }
    }

    pub(super) async fn fetch_keyed(&self, blob: Located<'_>, small: u64) -> io::Result<Option<Fetched>> {
        let Some(key) = self.key_of(blob) else { return self.fetch(blob.name, small).await };
        if blob.size > small {
            return Ok(Some(Fetched::Large(blob.size)));
        }
        if blob.size == 0 {
            return Ok(Some(Fetched::Small(Bytes::new())));
        }
        let at = self.keys.object(key);
        match bounded(self.limit, async { self.client.get(&at).await?.bytes().await }).await {
            Ok(bytes) => Ok(Some(Fetched::Small(bytes))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.fetch(blob.name, small).await,
            Err(e) => Err(e),
        }
    }

    /// The object's address below `database.s3.public_url`, from the record's key alone.
    pub(super) fn link(&self, blob: Located<'_>) -> Option<String> {
        if self.public_url.is_empty() {
            return None;
        }
        self.key_of(blob).map(|key| self.keys.public_url(&self.public_url, key))
    }
}
