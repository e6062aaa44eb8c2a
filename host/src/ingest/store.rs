//! Storing a judged file: its bytes (the stripped copy when the policy removed metadata)
//! and its thumbnail, then the record that points at them. Uploads (`http/upload`) and
//! imports (`migrate`) both store here; what they do on a clash differs (an upload asks
//! the policy for another name, an import keeps its name and skips).

use std::io;

use super::Judged;
use crate::blob::{thumb_name, BlobStore};
use crate::store::ImageRecord;

/// Where a judged file went.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// The file's key in the blob store, if it keeps one ([`crate::blob::Located`]).
    pub key: Option<String>,
    /// Whether a thumbnail was stored with it.
    pub thumb: bool,
}

/// Stores `judged`'s bytes under `name` in `blobs`, and its thumbnail in `thumbs` (when
/// both exist); neither stays if either fails. A name already taken in `blobs` is
/// `AlreadyExists`, nothing written; a leftover thumbnail under the name is replaced.
pub async fn put_files(
    blobs: &dyn BlobStore,
    thumbs: Option<&dyn BlobStore>,
    judged: &Judged,
    name: &str,
) -> io::Result<Stored> {
    let path = judged.stripped.as_ref().unwrap_or(&judged.received.temp).path();
    let key = blobs.put_file_as(path, name, &judged.media.mime).await?;
    let mut thumb = false;
    if let (Some(thumbs), Some(png)) = (thumbs, judged.thumbnail.as_deref()) {
        let thumb_name = thumb_name(name);
        // A thumbnail left over under this name belongs to nothing: replace it.
        let _ = thumbs.remove(&thumb_name).await;
        if let Err(e) = thumbs.put_bytes(&thumb_name, png.to_vec()).await {
            let _ = blobs.remove(name).await;
            // `AlreadyExists` means the file's name is taken; a thumbnail's is something else.
            return Err(match e.kind() {
                io::ErrorKind::AlreadyExists => io::Error::other(e),
                _ => e,
            });
        }
        thumb = true;
    }
    Ok(Stored { key, thumb })
}

impl Stored {
    /// Writes where the file went into its record.
    pub fn mark(self, record: &mut ImageRecord) {
        record.blob_key = self.key;
        record.thumb = Some(self.thumb);
    }
}
