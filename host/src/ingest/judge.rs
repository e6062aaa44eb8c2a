//! Judging a received file: one sandbox session admits it (quotas), judges it (the
//! metadata to strip; then what it is and its thumbnail — judged again when stripped,
//! so what is stored is what was judged) and names it.

use std::fs::File;
use std::sync::Arc;

use crate::blob::{TempArea, TempBlob};
use crate::policy::{
    pieces, Judgement, Media, PolicyError, PolicyRuntime, Principal, Rejection, Thumbnail, Upload, Usage, Wanted,
};

/// One received file, not yet stored: its bytes in the temp area (synced) and the facts
/// of the upload (size and digest of those bytes).
pub struct Received {
    pub temp: TempBlob,
    pub upload: Upload,
}

/// A file judged by the policy, ready to store.
pub struct Judged {
    pub received: Received,
    /// The file to store when the policy removed metadata (else the received one).
    pub stripped: Option<TempBlob>,
    /// Facts of the file to store: size and digest are those of the stored bytes.
    pub upload: Upload,
    pub media: Media,
    pub name: String,
    /// PNG thumbnail, when thumbnails are on and the policy made one.
    pub thumbnail: Option<Vec<u8>>,
}

/// How the stored name is chosen.
#[derive(Debug, Clone)]
pub enum Naming {
    /// By the policy's naming rule (`server.image_rule`).
    Rule(String),
    /// This name, kept (an import keeps the original service's names, so its links live on).
    Keep(String),
}

/// What the judging does besides inspecting.
#[derive(Debug, Clone)]
pub struct Options {
    pub naming: Naming,
    /// Remove metadata first (`server.strip_metadata`).
    pub strip: bool,
    /// Make a thumbnail this wide (thumbnails on).
    pub thumb_width: Option<u32>,
    /// Ask the policy's `admit` first, for this uploader with this usage (the owner's
    /// stored files and the earlier files of the request). Imports are not asked.
    pub admit: Option<(Principal, Usage)>,
}

/// Why a file was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    /// The policy refused it.
    #[error("refused by the policy: {} ({})", .0.message, .0.code)]
    Refused(Rejection),
    /// The policy failed (trap, deadline, no capacity).
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// Writing the stripped file failed (e.g. the disk is full).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A file the policy accepted, with what it found and made.
pub(super) struct Accepted {
    media: Media,
    upload: Upload,
    stripped: bool,
    pub(super) name: String,
    thumbnail: Option<Vec<u8>>,
}

/// What one sandbox session decided about a file.
pub(super) enum Verdict {
    Accepted(Box<Accepted>),
    Refused(Rejection),
    /// Writing the stripped file failed (e.g. the disk is full).
    Io(std::io::Error),
}

/// Admits, judges (twice when stripped) and names one file in one sandbox session.
pub(super) fn decide(
    s: &mut crate::policy::Session,
    mut upload: Upload,
    path: &std::path::Path,
    stripped_path: Option<&std::path::Path>,
    options: &Options,
) -> Result<Verdict, PolicyError> {
    if let Some((who, usage)) = &options.admit {
        if let Err(r) = s.admit(who, &upload, *usage)? {
            return Ok(Verdict::Refused(r));
        }
    }
    let mut stored = File::open(path).map_err(|e| PolicyError::Unavailable(format!("open upload: {e}")))?;
    let wanted = Wanted { strip: stripped_path.is_some(), thumbnail_width: options.thumb_width };
    let mut judgement = s.judge(&upload, &stored, wanted)?;
    let mut stripped = false;
    if let (Ok(Judgement::Stripped(pieces)), Some(out_path)) = (&judgement, stripped_path) {
        let out = match File::options().read(true).write(true).create_new(true).open(out_path) {
            Ok(f) => f,
            Err(e) => return Ok(Verdict::Io(e)),
        };
        // Synced like a received file: it is what gets stored.
        let done = match pieces::assemble(&stored, pieces, &out).and_then(|d| out.sync_all().map(|()| d)) {
            Ok(d) => d,
            Err(e) => return Ok(Verdict::Io(e)),
        };
        upload.size = done.size;
        upload.digest = done.digest;
        stored = out;
        stripped = true;
        judgement = s.judge(&upload, &stored, Wanted { strip: false, ..wanted })?;
    }
    let verdict = match judgement {
        Ok(Judgement::Judged(verdict)) => verdict,
        Ok(Judgement::Stripped(_)) => {
            return Err(PolicyError::Invalid("judge answered `stripped` for a stripped file".into()))
        }
        Err(r) => return Ok(Verdict::Refused(r)),
    };
    let media = verdict.media;
    let name = match &options.naming {
        Naming::Keep(name) => name.clone(),
        Naming::Rule(rule) => match s.name(&upload, &media, rule, 0)? {
            Ok(n) => n,
            Err(r) => return Ok(Verdict::Refused(r)),
        },
    };
    let thumbnail = match verdict.thumbnail {
        Thumbnail::Made(png) => Some(png),
        Thumbnail::NotAsked | Thumbnail::NotSupported => None,
    };
    Ok(Verdict::Accepted(Box::new(Accepted { media, upload, stripped, name, thumbnail })))
}

/// Judges one file in one sandbox session, on the policy's heavy capacity (shared
/// fairly between `client`s). The stripped copy, if any, is made in `temp`. A thumbnail
/// the policy cannot make does not fail the upload: when judging with a thumbnail traps or
/// runs out of time, the file is judged once more without one (the thumbnail shares the
/// judgement's deadline and memory cap).
pub async fn judge(
    policy: &Arc<PolicyRuntime>,
    temp: &TempArea,
    client: &str,
    received: Received,
    options: Options,
) -> Result<Judged, JudgeError> {
    let first = attempt(policy, temp, client, &received, options.clone()).await;
    let (verdict, stripped_temp) = match first {
        Err(e @ (PolicyError::Trap(_) | PolicyError::Timeout)) if options.thumb_width.is_some() => {
            tracing::warn!(error = %e, "judging with a thumbnail failed; judging again without one");
            attempt(policy, temp, client, &received, Options { thumb_width: None, ..options }).await?
        }
        other => other?,
    };
    match verdict {
        Verdict::Accepted(a) => Ok(Judged {
            received,
            stripped: if a.stripped { stripped_temp } else { None },
            upload: a.upload,
            media: a.media,
            name: a.name,
            thumbnail: a.thumbnail,
        }),
        Verdict::Refused(r) => Err(JudgeError::Refused(r)),
        Verdict::Io(e) => Err(JudgeError::Io(e)),
    }
}

/// One judging session, with a new temp file for the stripped copy.
async fn attempt(
    policy: &Arc<PolicyRuntime>,
    temp: &TempArea,
    client: &str,
    received: &Received,
    options: Options,
) -> Result<(Verdict, Option<TempBlob>), PolicyError> {
    let stripped_temp = options.strip.then(|| temp.temp());
    let upload = received.upload.clone();
    let path = received.temp.path().to_path_buf();
    // The stripped copy's temp file belongs to the policy thread until it is done with it:
    // a request dropped meanwhile cannot remove the name before the thread writes the file.
    policy
        .run_heavy(client, move |s| {
            let stripped_path = stripped_temp.as_ref().map(|t| t.path().to_path_buf());
            decide(s, upload, &path, stripped_path.as_deref(), &options).map(|v| (v, stripped_temp))
        })
        .await
}
