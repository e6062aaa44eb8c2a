//! Receiving one part of an upload into a temp file, hashed and size-checked as it
//! streams. A small part is gathered in memory and written (and synced) in one go on a
//! blocking thread, instead of one hand-off per network chunk (in no more memory than the
//! request's body length); memory for that is bounded over all requests ([`BUDGET`]), and a
//! part that outgrows [`SMALL`] (or finds the budget spent) streams to its file as it arrives.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::multipart::Field;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{client_name, limit_for, multipart_error, HEAD_LEN};
use crate::blob::TempBlob;
use crate::clock::now;
use crate::error::{ApiError, ApiResult, Code};
use crate::http::AppState;
use crate::ingest::Received;
use crate::policy::Upload;

/// Parts up to this size are gathered in memory before they are written.
const SMALL: usize = 512 * 1024;
/// Bytes gathered in memory at once, over all requests.
const BUDGET: usize = 32 << 20;
static GATHERED: AtomicUsize = AtomicUsize::new(0);

/// A share of [`BUDGET`], given back on drop.
struct Share(usize);

impl Share {
    fn take(n: usize) -> Option<Share> {
        GATHERED
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| (used + n <= BUDGET).then_some(used + n))
            .ok()
            .map(|_| Share(n))
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        GATHERED.fetch_sub(self.0, Ordering::AcqRel);
    }
}

/// Where the bytes go so far, with the temp file they are for.
enum Sink {
    Memory(TempBlob, Vec<u8>, Share),
    File(TempBlob, tokio::fs::File),
}

impl Sink {
    /// The temp file made with what was gathered so far (`bytes`), to stream the rest into.
    async fn file(temp: TempBlob, bytes: Vec<u8>, share: Option<Share>) -> ApiResult<Sink> {
        let (temp, file) = write_new(temp, bytes, share, false).await?;
        Ok(Sink::File(temp, tokio::fs::File::from_std(file)))
    }
}

fn thread_gone(e: tokio::task::JoinError) -> ApiError {
    ApiError::internal().with_detail(e.to_string())
}

/// Creates the temp file (and writes `bytes` into it) on a blocking thread that owns the
/// temp name until the file exists — a request dropped meanwhile cannot leave a file
/// behind its removed name — and the bytes' share of the budget until they are freed.
/// With `sync`, the file is also synced.
async fn write_new(
    temp: TempBlob,
    bytes: Vec<u8>,
    share: Option<Share>,
    sync: bool,
) -> ApiResult<(TempBlob, std::fs::File)> {
    let made = tokio::task::spawn_blocking(move || {
        let mut f = std::fs::File::create(temp.path())?;
        std::io::Write::write_all(&mut f, &bytes)?;
        drop((bytes, share));
        if sync {
            f.sync_all()?;
        }
        Ok::<_, std::io::Error>((temp, f))
    })
    .await
    .map_err(thread_gone)?;
    Ok(made?)
}

/// Streams one part to a temp file, hashing it and enforcing the size limit. A part is no
/// larger than its request's body (`body_len`, when the client said it): what is gathered
/// in memory is bounded by that too.
pub(super) async fn receive(
    state: &AppState,
    mut field: Field<'_>,
    owner: &str,
    request_cap: u64,
    body_len: Option<u64>,
) -> ApiResult<Received> {
    let filename = client_name(field.file_name().unwrap_or(""));
    let declared_type = field.content_type().unwrap_or("").to_string();
    let config = &state.settings.config;
    // Until the first bytes are seen, the larger limit holds.
    let mut limit = state.settings.max_file_size();
    let mut head: Vec<u8> = Vec::with_capacity(HEAD_LEN);
    let temp = state.temp.temp();
    let gather = body_len.map_or(SMALL, |n| usize::try_from(n).unwrap_or(SMALL).min(SMALL));
    let mut sink = match Share::take(gather) {
        Some(share) => Sink::Memory(temp, Vec::with_capacity(gather), share),
        None => Sink::file(temp, Vec::new(), None).await?,
    };
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
        sink = match sink {
            Sink::Memory(temp, mut buf, share) if buf.len() + chunk.len() <= gather => {
                buf.extend_from_slice(&chunk);
                Sink::Memory(temp, buf, share)
            }
            // Outgrown: what was gathered goes to the file, the rest streams.
            Sink::Memory(temp, buf, share) => Sink::file(temp, buf, Some(share)).await?,
            file => file,
        };
        if let Sink::File(_, file) = &mut sink {
            file.write_all(&chunk).await?;
        }
    }
    if size == 0 {
        return Err(ApiError::of(Code::EmptyUpload).with_file(filename));
    }
    let limit = limit_for(config, &head);
    if size > limit {
        return Err(ApiError::too_large(limit).with_file(filename));
    }
    // On disk before anything records it: a power loss never leaves a record whose file
    // is cut short (the file is linked, not copied, into the store).
    let temp = match sink {
        Sink::Memory(temp, buf, share) => write_new(temp, buf, Some(share), true).await?.0,
        Sink::File(temp, mut file) => {
            file.flush().await?;
            file.sync_all().await?;
            temp
        }
    };
    let upload = Upload {
        filename,
        declared_type,
        size,
        digest: hex::encode(hasher.finalize()),
        owner: owner.to_string(),
        received_at: now(),
    };
    Ok(Received { temp, upload })
}
