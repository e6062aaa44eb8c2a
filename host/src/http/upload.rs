//! `POST /api/image_upload`: stream, inspect in the sandbox, name, store.
//!
//! All or nothing: every file is received and judged before anything is
//! stored, and a failure while storing undoes what this request stored.

use std::fs::File;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Json;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{authorize, policy_error, principal_of, query_map, record_json, rejection, store_error, AppState, Shared};
use crate::blob::TempBlob;
use crate::error::{ApiError, ApiResult};
use crate::policy::{pieces, Media, MediaKind, PolicyError, Rejection, Upload};
use crate::store::{ImageRecord, StoreError};

/// Naming attempts before giving up on a free name.
const NAME_ATTEMPTS: u32 = 8;

/// One received file, not yet stored.
struct Received {
    temp: TempBlob,
    upload: Upload,
}

/// A file judged by the policy, ready to store.
struct Judged {
    received: Received,
    /// The file to store when the policy removed metadata (else the received one).
    stripped: Option<TempBlob>,
    /// Facts of the file to store: size and digest are those of the stored bytes.
    upload: Upload,
    media: Media,
    name: String,
    /// PNG thumbnail, when thumbnails are on and the policy made one.
    thumbnail: Option<Vec<u8>>,
}

fn multipart_error(e: MultipartError, cap: u64) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(cap)
    } else {
        ApiError::body_unreadable(e.body_text())
    }
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Bytes looked at to choose a file's size limit.
const HEAD_LEN: usize = 16;

/// Whether the first bytes look like a video container (ISO base media or EBML).
/// Only picks the size limit; the policy decides what the file really is.
fn looks_like_video(head: &[u8]) -> bool {
    (head.len() >= 8 && &head[4..8] == b"ftyp") || head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3])
}

/// The size limit for a file starting with `head`: the video limit for what looks
/// like video (when videos are on), the image limit for everything else.
fn limit_for(config: &crate::config::Config, head: &[u8]) -> u64 {
    if config.video.enabled && looks_like_video(head) {
        config.video.size
    } else {
        config.server.image_size
    }
}

/// Streams one part to a temp file, hashing it and enforcing the size limit.
async fn receive(state: &AppState, mut field: Field<'_>, owner: &str, request_cap: u64) -> ApiResult<Received> {
    let filename = field.file_name().unwrap_or("").to_string();
    let declared_type = field.content_type().unwrap_or("").to_string();
    let config = &state.settings.config;
    // Until the first bytes are seen, the larger limit holds.
    let mut limit = state.settings.max_file_size();
    let mut head: Vec<u8> = Vec::with_capacity(HEAD_LEN);
    let temp = state.temp.temp();
    let mut file = tokio::fs::File::create(temp.path()).await?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) =
        field.chunk().await.map_err(|e| multipart_error(e, request_cap).with_file(filename.clone()))?
    {
        if head.len() < HEAD_LEN {
            let take = (HEAD_LEN - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
            if head.len() == HEAD_LEN {
                limit = limit_for(config, &head);
            }
        }
        size += chunk.len() as u64;
        if size > limit {
            return Err(ApiError::too_large(limit).with_file(filename));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    if size == 0 {
        return Err(ApiError::empty_upload().with_file(filename));
    }
    let limit = limit_for(config, &head);
    if size > limit {
        return Err(ApiError::too_large(limit).with_file(filename));
    }
    let upload = Upload {
        filename,
        declared_type,
        size,
        digest: hex::encode(hasher.finalize()),
        owner: owner.to_string(),
        received_at: now(),
        attempt: 0,
    };
    Ok(Received { temp, upload })
}

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
                let done = match pieces::assemble(&stored, &pieces, &out) {
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
async fn judge(state: &Shared, received: Received) -> ApiResult<Judged> {
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
        .run(move |s| decide(s, upload, &path, stripped_path.as_deref(), &rule, thumb_width))
        .await
        .map_err(|e| policy_error(e).with_file(filename.clone()))?;
    match verdict {
        Verdict::Accepted(a) => Ok(Judged {
            received,
            stripped: if a.stripped { stripped_temp } else { None },
            upload: a.upload,
            media: a.media,
            name: a.name,
            thumbnail: a.thumbnail,
        }),
        Verdict::Refused(r) => Err(rejection(r).with_file(filename)),
        Verdict::Io(e) => Err(ApiError::from(e).with_file(filename)),
    }
}

/// Asks the policy for another name after a clash.
async fn rename(state: &Shared, judged: &Judged, attempt: u32) -> ApiResult<String> {
    let rule = state.settings.config.server.image_rule.clone();
    let mut upload = judged.upload.clone();
    upload.attempt = attempt;
    let media = judged.media.clone();
    let filename = upload.filename.clone();
    state
        .policy
        .run(move |s| s.name(&upload, &media, &rule))
        .await
        .map_err(|e| policy_error(e).with_file(filename.clone()))?
        .map_err(|r| rejection(r).with_file(filename))
}

/// Stores one judged file: its file (and thumbnail) under a free name, then its record.
/// Returns the record and whether it was already stored (same owner, same bytes).
async fn store(state: &Shared, judged: Judged) -> ApiResult<(ImageRecord, bool)> {
    let mut record = ImageRecord::accepted(judged.name.clone(), &judged.upload, &judged.media);
    // Stripping changed the bytes: this owner may have stored these already (the handler
    // only looked up the received bytes). Checked before any file is written.
    if judged.stripped.is_some() {
        if let Some(existing) = state.store.find_by_digest(&record.owner, &record.digest).await.map_err(store_error)? {
            return Ok((existing, true));
        }
    }
    // The blob first, then the record: a record never points at a missing blob, and a
    // blob left without a record by a crash is removed by the start-up sweep.
    let path = judged.stripped.as_ref().unwrap_or(&judged.received.temp).path().to_path_buf();
    let mut attempt = 0;
    loop {
        match put_files(state, &path, &record.name, judged.thumbnail.as_deref()).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                attempt += 1;
                if attempt >= NAME_ATTEMPTS {
                    return Err(ApiError::upload_failed().with_detail("no free name"));
                }
                record.name = rename(state, &judged, attempt).await?;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        let inserted = state.store.insert(&record).await;
        if inserted.is_err() {
            if let Err(e) = state.remove_files(&record.name).await {
                tracing::error!(error = %e, name = %record.name, "removing the files of an unrecorded upload");
            }
        }
        match inserted {
            Ok(()) => return Ok((record, false)),
            Err(StoreError::Duplicate(existing)) => {
                let found =
                    state.store.get(&existing).await.map_err(store_error)?.ok_or_else(ApiError::upload_failed)?;
                return Ok((found, true));
            }
            Err(StoreError::NameTaken) if attempt + 1 < NAME_ATTEMPTS => {
                attempt += 1;
                record.name = rename(state, &judged, attempt).await?;
            }
            Err(StoreError::NameTaken) => return Err(ApiError::upload_failed().with_detail("no free name")),
            Err(e) => return Err(store_error(e)),
        }
    }
}

/// Stores the file and its thumbnail under `name`; neither stays if either fails.
async fn put_files(
    state: &Shared,
    path: &std::path::Path,
    name: &str,
    thumbnail: Option<&[u8]>,
) -> std::io::Result<()> {
    state.blobs.put_file(path, name).await?;
    if let (Some(thumbs), Some(png)) = (&state.thumbs, thumbnail) {
        let thumb = crate::blob::thumb_name(name);
        // A thumbnail left over under this name belongs to nothing: replace it.
        let _ = thumbs.remove(&thumb).await;
        if let Err(e) = thumbs.put_bytes(&thumb, png.to_vec()).await {
            let _ = state.blobs.remove(name).await;
            return Err(e);
        }
    }
    Ok(())
}

/// Undoes what a failed request stored.
async fn roll_back(state: &Shared, stored: &[ImageRecord]) {
    for r in stored {
        if let Err(e) = state.store.delete(&r.name).await {
            tracing::error!(error = %e, name = %r.name, "rolling back an upload");
        }
        if let Err(e) = state.remove_files(&r.name).await {
            tracing::error!(error = %e, name = %r.name, "rolling back an upload");
        }
    }
}

/// The handler.
#[utoipa::path(post, path = "/api/image_upload", params(("token" = Option<String>, Query, description = "account token (or Authorization: Bearer)")), request_body(content = super::openapi::UploadForm, content_type = "multipart/form-data"), responses((status = 200, description = "stored", body = super::openapi::UploadAnswer), (status = 400, description = "bad input", body = super::openapi::ErrorBody), (status = 401, description = "no or invalid token", body = super::openapi::ErrorBody), (status = 403, description = "not allowed", body = super::openapi::ErrorBody), (status = 413, description = "too large", body = super::openapi::ErrorBody), (status = 415, description = "unsupported type", body = super::openapi::ErrorBody), (status = 422, description = "refused content", body = super::openapi::ErrorBody), (status = 429, description = "rate limited", body = super::openapi::ErrorBody), (status = 500, description = "policy failure", body = super::openapi::ErrorBody), (status = 503, description = "policy or database unavailable", body = super::openapi::ErrorBody), (status = 507, description = "storage full", body = super::openapi::ErrorBody)))]
pub async fn upload(
    State(state): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<Value>> {
    let query = query_map(&uri)?;
    let who = principal_of(&state, &headers, &query).await?;
    authorize(&state, "image.upload", &who, Vec::new()).await?;
    let mut multipart = multipart.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(state.settings.max_file_size())
        } else {
            ApiError::empty_upload().with_detail(e.body_text())
        }
    })?;
    let server = &state.settings.config.server;
    let request_cap = state.settings.max_file_size().saturating_mul(u64::from(server.max_files_per_request));

    let mut received = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|e| multipart_error(e, request_cap))? {
        if field.name() != Some("file") {
            continue;
        }
        if received.len() >= server.max_files_per_request as usize {
            return Err(ApiError::too_many_files(server.max_files_per_request));
        }
        received.push(receive(&state, field, &who.id, request_cap).await?);
    }
    if received.is_empty() {
        return Err(ApiError::empty_upload());
    }

    // Judge everything before storing anything. Bytes this owner already stored
    // skip the sandbox: they were judged when first stored.
    let mut plan: Vec<Result<Judged, ImageRecord>> = Vec::with_capacity(received.len());
    for r in received {
        match state.store.find_by_digest(&who.id, &r.upload.digest).await.map_err(store_error)? {
            Some(existing) => plan.push(Err(existing)),
            None => plan.push(Ok(judge(&state, r).await?)),
        }
    }

    let mut stored: Vec<ImageRecord> = Vec::new();
    let mut files = Vec::new();
    for item in plan {
        let (record, duplicate) = match item {
            Err(existing) => (existing, true),
            Ok(judged) => match store(&state, judged).await {
                Ok(done) => done,
                Err(e) => {
                    roll_back(&state, &stored).await;
                    return Err(e);
                }
            },
        };
        if !duplicate {
            stored.push(record.clone());
        }
        let mut v = record_json(&state, &record).await;
        v["duplicate"] = json!(duplicate);
        files.push(v);
    }
    let counters = &state.http_metrics;
    counters.uploads.fetch_add(stored.len() as u64, std::sync::atomic::Ordering::Relaxed);
    counters.bytes_stored.fetch_add(stored.iter().map(|r| r.size).sum(), std::sync::atomic::Ordering::Relaxed);
    Ok(Json(json!({"data": "文件上传成功", "type": "ok", "files": files})))
}
