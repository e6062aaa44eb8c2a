//! Writing one file to a new object: one PUT when it fits in a part, else a multipart
//! upload sending one part at a time. Every upload draws the bytes it holds from one
//! budget (`database.s3.parts_in_flight` parts), so uploads to S3 take bounded memory
//! however many run at once.

use std::io;
use std::path::Path;

use object_store::{Attributes, ObjectStore, PutMultipartOptions, PutOptions, PutPayload};
use tokio::io::AsyncReadExt;

use super::client::bounded;
use super::S3Blobs;

/// Writes the file at `path` to a new object: one PUT when it fits in a part, else a
/// multipart upload that holds one part in memory at a time. Returns its length.
pub async fn write_object(store: &S3Blobs, path: &Path, object: &str, attributes: Attributes) -> io::Result<u64> {
    let at = store.keys.object(object);
    let mut file = tokio::fs::File::open(path).await?;
    let len = file.metadata().await?.len();
    if len <= store.part_size as u64 {
        let _sending = store.sending.acquire_many(len.div_ceil(1 << 20).max(1) as u32).await;
        let _sending = _sending.map_err(io::Error::other)?;
        let mut bytes = vec![0; len as usize];
        file.read_exact(&mut bytes).await?;
        let opts = PutOptions { attributes, ..PutOptions::default() };
        bounded(store.limit, store.client.put_opts(&at, PutPayload::from(bytes), opts)).await?;
        return Ok(len);
    }
    let opts = PutMultipartOptions { attributes, ..PutMultipartOptions::default() };
    let mut upload = bounded(store.limit, store.client.put_multipart_opts(&at, opts)).await?;
    let written: io::Result<()> = async {
        loop {
            let _sending = store.sending.acquire_many((store.part_size >> 20) as u32).await;
            let _sending = _sending.map_err(io::Error::other)?;
            // Filled in place: `read_to_end` would double a full buffer's capacity.
            let mut part = vec![0; store.part_size];
            let mut filled = 0;
            while filled < part.len() {
                match file.read(&mut part[filled..]).await? {
                    0 => break,
                    n => filled += n,
                }
            }
            if filled == 0 {
                break;
            }
            part.truncate(filled);
            bounded(store.limit, upload.put_part(PutPayload::from(part))).await?;
        }
        bounded(store.limit, upload.complete()).await.map(|_| ())
    }
    .await;
    if let Err(e) = written {
        // Parts of an aborted upload are not objects; the service drops them.
        let _ = tokio::time::timeout(store.limit, upload.abort()).await;
        return Err(e);
    }
    Ok(len)
}
