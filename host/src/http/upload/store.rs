//! Storing judged files: each file (and thumbnail) under a free name, synced, then its
//! record — only while the uploader's account exists. A request whose client went
//! away while its files were being stored takes back what it stored.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::NAME_ATTEMPTS;
use crate::error::{ApiError, ApiResult, Code};
use crate::http::Shared;
use crate::ingest::Judged;
use crate::store::{ImageRecord, StoreError};

/// Asks the policy for another name after a clash.
async fn rename(state: &Shared, judged: &Judged, attempt: u32) -> ApiResult<String> {
    let rule = state.settings.config.server.image_rule.clone();
    let upload = judged.upload.clone();
    let media = judged.media.clone();
    let filename = upload.filename.clone();
    state
        .policy
        .run(move |s| s.name(&upload, &media, &rule, attempt))
        .await
        .map_err(|e| ApiError::from(e).with_file(filename.clone()))?
        .map_err(|r| ApiError::from(r).with_file(filename))
}

/// Stores one judged file: its file (and thumbnail) under a free name, then its record
/// with the hash of a new deletion key. Returns the record and that key — `None` when the
/// file was already stored (same owner, same bytes): the record is the earlier one.
async fn store(state: &Shared, judged: Judged, jti: Option<&str>) -> ApiResult<(ImageRecord, Option<String>)> {
    let mut record = crate::ingest::record(judged.name.clone(), &judged.upload, &judged.media);
    let (key, key_hash) = super::super::ui::delete_link::new_key();
    record.delete_key = Some(key_hash);
    // Stripping changed the bytes: this owner may have stored these already (the handler
    // only looked up the received bytes). Checked before any file is written.
    if judged.stripped.is_some() {
        if let Some(existing) =
            state.store.find_by_digest(&record.owner, &record.digest).await.map_err(ApiError::from)?
        {
            return Ok((existing, None));
        }
    }
    // The blob first, then the record: a record never points at a missing blob, and a
    // blob left without a record by a crash is moved to quarantine by reconciliation.
    let mut attempt = 0;
    loop {
        match crate::ingest::put_files(state.blobs.as_ref(), state.thumbs.as_deref(), &judged, &record.name).await {
            // The record keeps where the store put the file (S3: its object's key).
            Ok(stored) => stored.mark(&mut record),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                attempt += 1;
                if attempt >= NAME_ATTEMPTS {
                    return Err(ApiError::of(Code::UploadFailed).with_detail("no free name"));
                }
                record.name = rename(state, &judged, attempt).await?;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        let inserted = match state.store.insert_for(&record, jti).await {
            // The outcome is unknown (a lost connection, a timeout): look before undoing.
            Err(StoreError::Backend(e)) => settle_unknown(state, &record, jti, e).await,
            other => other,
        };
        if let Err(e) = &inserted {
            if !matches!(e, StoreError::Backend(_)) {
                // Certainly not recorded: the files go.
                if let Err(e) = state.remove_files(&record.name).await {
                    tracing::error!(error = %e, name = %record.name, "removing the files of an unrecorded upload");
                }
            }
        }
        match inserted {
            Ok(()) => {
                eager_variants(state, &record);
                return Ok((record, Some(key)));
            }
            Err(StoreError::Duplicate(existing)) => {
                let found = state
                    .store
                    .get(&existing)
                    .await
                    .map_err(ApiError::from)?
                    .ok_or_else(|| ApiError::of(Code::UploadFailed))?;
                return Ok((found, None));
            }
            Err(StoreError::NameTaken) if attempt + 1 < NAME_ATTEMPTS => {
                attempt += 1;
                record.name = rename(state, &judged, attempt).await?;
            }
            Err(StoreError::NameTaken) => return Err(ApiError::of(Code::UploadFailed).with_detail("no free name")),
            Err(StoreError::OwnerGone) => return Err(ApiError::of(Code::AccountRemoved)),
            Err(e) => return Err(ApiError::from(e)),
        }
    }
}

/// Makes the variants `variants.eager` lists, in the background (the answer does not wait).
fn eager_variants(state: &Shared, record: &ImageRecord) {
    if let Some(variants) = state.variants.clone().filter(|v| !v.config.eager.is_empty()) {
        let record = record.clone();
        tokio::spawn(async move { variants.make_eager(&record).await });
    }
}

/// The insert failed without saying why (a lost connection, a timeout): the record may
/// have been written all the same — or may still be. `Ok` if it is there and its account
/// too; `OwnerGone` (record taken back) if its account went meanwhile; otherwise the
/// error stays and the files are kept: a late insert then finds its file, and a file
/// that never gets a record is moved to quarantine at the next start, never deleted.
async fn settle_unknown(
    state: &Shared,
    record: &ImageRecord,
    jti: Option<&str>,
    error: String,
) -> Result<(), StoreError> {
    let found = state.store.get(&record.name).await;
    let Ok(Some(r)) = found else {
        tracing::error!(name = %record.name, error = %error, "the insert's outcome is unknown: files kept");
        return Err(StoreError::Backend(error));
    };
    if r.digest != record.digest || r.owner != record.owner {
        return Err(StoreError::NameTaken);
    }
    let alive = match jti {
        None => true,
        Some(jti) => match state.store.get_user(&record.owner).await {
            Ok(user) => user.is_some_and(|u| u.jti == jti),
            Err(_) => return Err(StoreError::Backend(error)),
        },
    };
    if !alive {
        if let Ok(deleted) = state.store.delete_images(std::slice::from_ref(&record.name)).await {
            state.finish_deletes(&deleted).await;
        }
        return Err(StoreError::OwnerGone);
    }
    tracing::warn!(name = %record.name, error = %error, "the insert reported a failure but the record is there");
    Ok(())
}

/// Undoes what a failed request stored: the records (as pending deletes), then the files.
pub(super) async fn roll_back(state: &Shared, stored: &[ImageRecord]) {
    let names: Vec<String> = stored.iter().map(|r| r.name.clone()).collect();
    match state.store.delete_images(&names).await {
        Ok(deleted) => state.finish_deletes(&deleted).await,
        Err(e) => tracing::error!(error = %e, names = ?names, "rolling back an upload: the records stay"),
    }
}

/// Stores every judged file (a known duplicate is answered with its record), all or
/// nothing; each newly stored file with its deletion key (`None`: a duplicate). Runs in a
/// task of its own: if the request is dropped half-way, `cancelled` is set and what was
/// stored is taken back when the task sees it.
pub(super) async fn store_all(
    state: Shared,
    plan: Vec<Result<Judged, ImageRecord>>,
    jti: Option<String>,
    cancelled: Arc<AtomicBool>,
) -> ApiResult<Vec<(ImageRecord, Option<String>)>> {
    let mut stored: Vec<ImageRecord> = Vec::new();
    let mut out = Vec::with_capacity(plan.len());
    for item in plan {
        let done = match item {
            Err(existing) => Ok((existing, None)),
            Ok(judged) => store(&state, judged, jti.as_deref()).await,
        };
        let (record, key) = match done {
            Ok(done) => done,
            Err(e) => {
                roll_back(&state, &stored).await;
                return Err(e);
            }
        };
        if key.is_some() {
            stored.push(record.clone());
        }
        out.push((record, key));
        if cancelled.load(Ordering::Acquire) {
            break;
        }
    }
    if cancelled.load(Ordering::Acquire) {
        tracing::info!(files = stored.len(), "upload request dropped while storing: taking its files back");
        roll_back(&state, &stored).await;
        return Err(ApiError::of(Code::UploadFailed).with_detail("the request was dropped"));
    }
    Ok(out)
}

/// Sets its flag when dropped, unless disarmed: tells a spawned task that the request
/// it works for is gone.
pub(super) struct CancelOnDrop(pub Arc<AtomicBool>, pub bool);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.1 {
            self.0.store(true, Ordering::Release);
        }
    }
}
