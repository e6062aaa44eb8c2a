//! Ingesting files: what a received file is (judged in the sandbox: metadata
//! stripped, inspected, named, thumbnailed) and the record stored for it. Uploads
//! (`http/upload`) and imports of the original service's files (`migrate`) both judge
//! and record here, so an imported file gets the same checks as an uploaded one.

mod judge;
mod shadow;
mod store;

pub use judge::{judge, JudgeError, Judged, Naming, Options, Received};
pub use shadow::{judge_shadowed, JUDGE_ACTION};
pub use store::{put_files, Stored};

use crate::policy::{media_kind_name, Media, Upload};
use crate::store::{ImageFacts, ImageRecord};

/// The record of an upload the policy accepted as `media`, stored as `name`. `upload`
/// describes the stored bytes (size and digest after any stripping).
pub fn record(name: String, upload: &Upload, media: &Media) -> ImageRecord {
    let facts = ImageFacts {
        name,
        time: upload.received_at,
        size: upload.size,
        kind: media_kind_name(media.kind).into(),
        format: media.format.clone(),
        mime: media.mime.clone(),
        width: media.width,
        height: media.height,
        frames: media.frames,
        digest: upload.digest.clone(),
        original_name: upload.filename.clone(),
        duration_ms: media.duration_ms,
        codec: media.codec.clone(),
    };
    ImageRecord::new(facts, upload.owner.clone())
}
