//! Judging a received file: one sandbox session strips its metadata, inspects it,
//! names it and makes its thumbnail.

use std::fs::File;

use super::{Judged, Received};
use crate::error::{ApiError, ApiResult};
use crate::http::Shared;
use crate::policy::{pieces, Media, MediaKind, PolicyError, Rejection, Upload};

/// A file the policy accepted, with what it found and made.
struct Accepted {
    media: Media,
    upload: Upload,
    stripped: bool,
    name: String,
    thumbnail: Option<Vec<u8>>,
}

/// What one sandbox session decided about a file.
enum Verdict {
    Accepted(Box<Accepted>),
    Refused(Rejection),
    /// Writing the stripped file failed (e.g. the disk is full).
    Io(std::io::Error),
}

/// Strips, inspects, names and thumbnails one file in one sandbox session.
/// Stripping comes first, so what `inspect` decodes is exactly what is stored.
fn decide(
    s: &mut crate::policy::Session,
    mut upload: Upload,
    path: &std::path::Path,
    stripped_path: Option<&std::path::Path>,
    rule: &str,
    thumb_width: Option<u32>,
) -> Result<Verdict, PolicyError> {
    let original = File::open(path).map_err(|e| PolicyError::Unavailable(format!("open upload: {e}")))?;
    let mut stored = original;
    let mut stripped = false;
    if let Some(out_path) = stripped_path {
        match s.strip_metadata(&upload, &stored)? {
            Err(r) => return Ok(Verdict::Refused(r)),
            Ok(None) => {}
            Ok(Some(pieces)) => {
                let out = match File::options().read(true).write(true).create_new(true).open(out_path) {
                    Ok(f) => f,
                    Err(e) => return Ok(Verdict::Io(e)),
                };
                // Synced like a received file: it is what gets stored.
                let done = match pieces::assemble(&stored, &pieces, &out).and_then(|d| out.sync_all().map(|()| d)) {
                    Ok(d) => d,
                    Err(e) => return Ok(Verdict::Io(e)),
                };
                upload.size = done.size;
                upload.digest = done.digest;
                stored = out;
                stripped = true;
            }
        }
    }
    let media = match s.inspect(&upload, &stored)? {
        Ok(m) => m,
        Err(r) => return Ok(Verdict::Refused(r)),
    };
    let name = match s.name(&upload, &media, rule)? {
        Ok(n) => n,
        Err(r) => return Ok(Verdict::Refused(r)),
    };
    // A thumbnail the policy cannot make does not fail the upload.
    let thumbnail = match thumb_width {
        Some(w) if media.kind != MediaKind::Video => match s.thumbnail(&upload, &stored, w) {
            Ok(Ok(png)) => Some(png),
            Ok(Err(r)) => {
                tracing::warn!(code = %r.code, "no thumbnail: {}", r.message);
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "no thumbnail");
                None
            }
        },
        _ => None,
    };
    Ok(Verdict::Accepted(Box::new(Accepted { media, upload, stripped, name, thumbnail })))
}

/// Judges one file in one sandbox session.
pub(super) async fn judge(state: &Shared, client: &str, received: Received) -> ApiResult<Judged> {
    let server = &state.settings.config.server;
    let rule = server.image_rule.clone();
    let thumb_width = state.thumbs.is_some().then_some(server.thumb_width);
    let stripped_temp = server.strip_metadata.then(|| state.temp.temp());
    let stripped_path = stripped_temp.as_ref().map(|t| t.path().to_path_buf());
    let upload = received.upload.clone();
    let path = received.temp.path().to_path_buf();
    let filename = upload.filename.clone();
    let verdict = state
        .policy
        .run_heavy(client, move |s| decide(s, upload, &path, stripped_path.as_deref(), &rule, thumb_width))
        .await
        .map_err(|e| ApiError::from(e).with_file(filename.clone()))?;
    match verdict {
        Verdict::Accepted(a) => Ok(Judged {
            received,
            stripped: if a.stripped { stripped_temp } else { None },
            upload: a.upload,
            media: a.media,
            name: a.name,
            thumbnail: a.thumbnail,
        }),
        Verdict::Refused(r) => Err(ApiError::from(r).with_file(filename)),
        Verdict::Io(e) => Err(ApiError::from(e).with_file(filename)),
    }
}
