//! What an accepted upload becomes: the record stored for it. Uploads and imports
//! of the original service's files both make their records here.

use crate::policy::{kind_name, Media, Upload};
use crate::store::ImageRecord;

/// The record of an upload the policy accepted as `media`, stored as `name`. `upload`
/// describes the stored bytes (size and digest after any stripping).
pub fn record(name: String, upload: &Upload, media: &Media) -> ImageRecord {
    ImageRecord {
        name,
        owner: upload.owner.clone(),
        size: upload.size,
        digest: upload.digest.clone(),
        kind: kind_name(media.kind).into(),
        format: media.format.clone(),
        mime: media.mime.clone(),
        width: media.width,
        height: media.height,
        frames: media.frames,
        duration_ms: media.duration_ms,
        codec: media.codec.clone(),
        original_name: upload.filename.clone(),
        time: upload.received_at,
        delete_key: None,
    }
}
