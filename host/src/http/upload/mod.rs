//! `POST /api/image_upload`: stream, inspect in the sandbox, name, store.
//!
//! All or nothing: every file is received (and synced) and judged before anything
//! is stored, and a failure while storing — or the client going away — undoes what
//! this request stored.

pub(super) mod guard;
mod receive;
mod store;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{ConnectInfo, Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::view::ImageView;
use super::{authorize, AppState, Shared};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Code};
use crate::ingest::{judge_shadowed, Judged, Naming, Options};
use crate::policy::{facts, Action, Facts, MediaKind, Usage};
use crate::store::ImageRecord;

/// How uploads are judged: named by the configured rule, stripped and thumbnailed as
/// configured.
fn judge_options(state: &AppState) -> Options {
    let server = &state.settings.config.server;
    Options {
        naming: Naming::Rule(server.image_rule.clone()),
        strip: server.strip_metadata,
        thumb_width: state.thumbs.is_some().then_some(server.thumb_width),
        admit: None,
    }
}

/// Naming attempts before giving up on a free name.
const NAME_ATTEMPTS: u32 = 8;

fn multipart_error(e: MultipartError, cap: u64) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::too_large(cap);
    }
    // The cause (e.g. the part guard's or the idle timeout's reason) is worth showing.
    let mut detail = e.body_text();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !detail.contains(&text) {
            detail = format!("{detail}: {text}");
        }
        cause = c.source();
    }
    ApiError::body_unreadable(detail)
}

/// Longest client file name kept, in characters.
pub const MAX_CLIENT_NAME: usize = 255;

/// The client's file name as it is kept, shown and given to the policy: without control
/// characters, at most [`MAX_CLIENT_NAME`] characters (a long name keeps its extension).
fn client_name(raw: &str) -> String {
    let clean: String = raw.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() <= MAX_CLIENT_NAME {
        return clean;
    }
    let ext = clean.rsplit_once('.').map(|(_, e)| e).filter(|e| e.chars().count() <= 16).unwrap_or("");
    let stem_chars = MAX_CLIENT_NAME - if ext.is_empty() { 0 } else { ext.chars().count() + 1 };
    let stem: String = clean.chars().take(stem_chars).collect();
    if ext.is_empty() {
        stem
    } else {
        format!("{stem}.{ext}")
    }
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

/// The deletion link of a stored file: with its new key, or — for a file the owner had
/// already stored, whose key only exists hashed — a new key replacing the earlier one
/// (the earlier link stops working). `None` if the new key could not be stored.
async fn deletion_link(state: &AppState, record: &ImageRecord, key: Option<&str>) -> Option<String> {
    let name = &record.name;
    if let Some(key) = key {
        return Some(super::ui::delete_link::delete_url(&state.settings, name, key));
    }
    let (key, hash) = super::ui::delete_link::new_key();
    match state.store.set_delete_key(name, &hash).await {
        Ok(true) => Some(super::ui::delete_link::delete_url(&state.settings, name, &key)),
        Ok(false) => None,
        Err(e) => {
            tracing::warn!(error = %e, name = %name, "a new deletion key was not stored: no deletion link");
            None
        }
    }
}

/// The handler.
#[utoipa::path(post, path = "/api/image_upload", params(("token" = Option<String>, Query, description = "account token (or Authorization: Bearer)")), request_body(content = super::schema::UploadForm, content_type = "multipart/form-data"), responses((status = 200, description = "stored", body = super::schema::UploadAnswer), crate::http::schema::BadInput, crate::http::schema::NoToken, crate::http::schema::NotAllowed, crate::http::schema::TooLarge, crate::http::schema::UnsupportedType, crate::http::schema::RefusedContent, crate::http::schema::RateLimited, crate::http::schema::PolicyFailure, crate::http::schema::Unavailable, crate::http::schema::StorageFull))]
pub async fn upload(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    caller: Caller,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<Value>> {
    // Heavy policy work is shared fairly between client addresses.
    let client = crate::ipfilter::client_key(state.ip_filter.client_or_peer(peer.ip(), &headers)).to_string();
    // With the token id of the uploader's account: storing fails if the account is
    // removed (or banned) meanwhile.
    let Caller { principal: who, jti } = caller;
    let content_length = headers.get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok());
    authorize(&state, Action::ImageUpload, &who, Facts { content_length, ..facts() }).await?;
    let mut multipart = multipart.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(state.settings.max_file_size())
        } else {
            ApiError::of(Code::EmptyUpload).with_detail(e.body_text())
        }
    })?;
    let server = &state.settings.config.server;
    let request_cap = state.settings.max_file_size().saturating_mul(u64::from(server.max_files_per_request));

    let phases = &state.http_metrics.upload_phases;
    let started = std::time::Instant::now();
    let mut received = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|e| multipart_error(e, request_cap))? {
        if field.name() != Some("file") {
            continue;
        }
        if received.len() >= server.max_files_per_request as usize {
            return Err(ApiError::too_many_files(server.max_files_per_request));
        }
        let t = std::time::Instant::now();
        received.push(receive::receive(&state, field, &who.id, request_cap, content_length).await?);
        phases.add(0, t.elapsed());
    }
    if received.is_empty() {
        return Err(ApiError::of(Code::EmptyUpload));
    }

    // Judge everything before storing anything. Bytes this owner already stored
    // skip the sandbox: they were judged when first stored.
    // The policy admits each file knowing what its owner stored, plus the earlier files
    // of this request.
    let (images, bytes) = state.store.usage(&who.id).await.map_err(ApiError::from)?;
    let mut usage = Usage { images, bytes };
    // The same bytes twice in one request are stored once: counted once.
    let mut counted = std::collections::HashSet::new();
    let mut plan: Vec<Result<Judged, ImageRecord>> = Vec::with_capacity(received.len());
    for r in received {
        match state.store.find_by_digest(&who.id, &r.upload.digest).await.map_err(ApiError::from)? {
            Some(existing) => plan.push(Err(existing)),
            None => {
                let t = std::time::Instant::now();
                let filename = r.upload.filename.clone();
                let options = Options { admit: Some((who.clone(), usage)), ..judge_options(&state) };
                let judged = judge_shadowed(&state.policy, &state.temp, &client, who.kind, r, options).await;
                phases.add(1, t.elapsed());
                let judged = judged.map_err(|e| ApiError::from(e).with_file(filename.clone()))?;
                // The limit was picked from the first bytes; the judged kind decides.
                let config = &state.settings.config;
                let is_video = judged.media.kind == MediaKind::Video;
                let limit = if is_video { config.video.size } else { config.server.image_size };
                if judged.upload.size > limit {
                    return Err(ApiError::too_large(limit).with_file(filename));
                }
                if counted.insert(judged.upload.digest.clone()) {
                    usage.images += 1;
                    usage.bytes = usage.bytes.saturating_add(judged.upload.size);
                }
                plan.push(Ok(judged));
            }
        }
    }

    // Stored in a task of its own, so that a client going away cannot stop it half-way:
    // the task then takes back what it stored.
    let cancelled = Arc::new(AtomicBool::new(false));
    let mut guard = store::CancelOnDrop(cancelled.clone(), true);
    let t = std::time::Instant::now();
    let task = tokio::spawn(store::store_all(state.clone(), plan, jti, cancelled));
    let done = task.await.map_err(|e| ApiError::internal().with_detail(e.to_string()));
    guard.1 = false;
    let done = done??;
    phases.add(2, t.elapsed());

    let mut files = Vec::with_capacity(done.len());
    let (mut count, mut bytes) = (0, 0);
    for (record, key) in &done {
        let duplicate = key.is_none();
        if !duplicate {
            count += 1;
            bytes += record.size;
        }
        let delete_url = deletion_link(&state, record, key.as_deref()).await;
        files.push(ImageView { duplicate: Some(duplicate), delete_url, ..ImageView::of(&state, record).await });
    }
    let counters = &state.http_metrics;
    counters.uploads.fetch_add(count, std::sync::atomic::Ordering::Relaxed);
    counters.bytes_stored.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
    phases.add(3, started.elapsed());
    Ok(Json(json!({"data": "文件上传成功", "type": "ok", "files": files})))
}
