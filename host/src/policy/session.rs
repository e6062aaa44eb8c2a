//! One sandboxed instance of the active policy (a [`Session`]): a fresh store with the
//! sandbox's limits, the calls of one request, and the host's checks of every answer —
//! the guest proposes, the host checks.

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime::Store;
use wasmtime_wasi::WasiCtxBuilder;

use super::bindings::State;
use super::contract::{Exports, Pre};
use super::{
    limiter, pieces, wasi, BodyFile, Facts, Judgement, Media, MediaKind, PolicyError, Principal, Rejection,
    RequestedAction, Sandbox, Thumbnail, Upload, Usage, Verdict, Wanted, MAX_TABLE_ENTRIES, MAX_THUMBNAIL_BYTES,
    MAX_TRANSFER, TICK_MS,
};

/// One sandboxed instance: a fresh store, used for the calls of one request.
pub struct Session {
    pub(super) store: Store<State>,
    pub(super) exports: Exports,
    /// Codes of the rejections this session's calls returned (counted per policy).
    pub(super) rejections: Vec<String>,
    /// Epoch ticks each call may run: the deadline is per call, not per session.
    ticks: u64,
    stderr: wasi::CappedStderr,
}

/// The host re-checks a name from the policy: never trusted for path safety.
fn checked_name(name: String) -> Result<String, PolicyError> {
    if crate::names::is_safe_name(&name) {
        Ok(name)
    } else {
        let shown: String = name.chars().take(64).collect();
        Err(PolicyError::Invalid(format!("unsafe name {shown:?} ({} bytes)", name.len())))
    }
}

/// Types a stored file may be served as: images and videos browsers show without running
/// anything (no SVG, no HTML), and never another kind's type.
const SERVABLE: &[(&str, MediaKind)] = &[
    ("image/png", MediaKind::Image),
    ("image/jpeg", MediaKind::Image),
    ("image/gif", MediaKind::Image),
    ("image/webp", MediaKind::Image),
    ("image/avif", MediaKind::Image),
    ("image/bmp", MediaKind::Image),
    ("video/mp4", MediaKind::Video),
    ("video/quicktime", MediaKind::Video),
    ("video/webm", MediaKind::Video),
    ("video/ogg", MediaKind::Video),
];

/// The host re-checks what the policy says a file is: its MIME type is what the file
/// will be served as, so it must be a harmless image or video type matching its kind.
fn checked_media(media: Media) -> Result<Media, PolicyError> {
    let wanted = |k: MediaKind| matches!(k, MediaKind::Video) == matches!(media.kind, MediaKind::Video);
    let ok = SERVABLE.iter().any(|(mime, kind)| *mime == media.mime && wanted(*kind));
    let short = |s: &str| s.chars().take(32).collect::<String>();
    if !ok {
        return Err(PolicyError::Invalid(format!(
            "MIME type {:?} is not a servable image or video type",
            short(&media.mime)
        )));
    }
    let simple = |s: &str| !s.is_empty() && s.len() <= 16 && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if !simple(&media.format) || !simple(&media.extension) {
        return Err(PolicyError::Invalid(format!(
            "format {:?} or extension {:?} malformed",
            short(&media.format),
            short(&media.extension)
        )));
    }
    Ok(media)
}

/// The host re-checks a thumbnail: a PNG of sane size.
fn checked_thumbnail(png: Vec<u8>) -> Result<Vec<u8>, PolicyError> {
    if png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() <= MAX_THUMBNAIL_BYTES {
        Ok(png)
    } else {
        Err(PolicyError::Invalid(format!(
            "thumbnail is not a PNG of at most {MAX_THUMBNAIL_BYTES} bytes ({} bytes)",
            png.len()
        )))
    }
}

/// The host re-checks a rejection: status must be an HTTP error status.
fn checked_rejection(r: Rejection) -> Result<Rejection, PolicyError> {
    if !(400..=599).contains(&r.status) {
        return Err(PolicyError::Invalid(format!("rejection status {} outside 400..=599", r.status)));
    }
    let code_ok = !r.code.is_empty()
        && r.code.len() <= 64
        && r.code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if !code_ok || r.message.len() > 1024 {
        return Err(PolicyError::Invalid("rejection code or message malformed".into()));
    }
    Ok(r)
}

impl Session {
    pub(super) fn start(rt: &Sandbox, pre: &Pre, name: Arc<str>) -> Result<Self, PolicyError> {
        // No preopens, no environment, no arguments, no stdio, and a clock frozen at zero:
        // the guest sees only what the contract grants.
        // stderr goes to the log (capped); no network of any kind. Waiting is cut off in
        // the linker (see `wasi`).
        let stderr = wasi::CappedStderr::default();
        let wasi = WasiCtxBuilder::new()
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            // Random bytes from the host's generator, at most 64 KiB a call (the host
            // allocates what is asked for).
            .max_random_size(64 * 1024)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_TABLE_ENTRIES);
        let state = State {
            wasi,
            table,
            limits: limiter::SandboxLimits::new(rt.limits.memory_bytes),
            settings: rt.settings.clone(),
            exists: rt.exists.clone(),
            policy_name: name,
            log_lines: 0,
        };
        let mut store = Store::new(&rt.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_hostcall_fuel(MAX_TRANSFER);
        let ticks = (rt.limits.deadline.as_millis() as u64).div_ceil(TICK_MS).max(1);
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        let exports = pre.instantiate(&mut store).map_err(|e| {
            let msg = format!("{e:#}");
            if msg.contains("pooling") || msg.contains("maximum concurrent") {
                PolicyError::Unavailable(msg)
            } else {
                PolicyError::from_call(e)
            }
        })?;
        Ok(Session { store, exports, rejections: Vec::new(), ticks, stderr })
    }

    /// Writes what the guest printed to stderr to the log (capped).
    pub(super) fn log_stderr(&self) {
        let text = self.stderr.take();
        if !text.is_empty() {
            let policy = &*self.store.data().policy_name;
            // Escaped: a policy must not be able to write whole log lines of its own.
            tracing::warn!(target: "policy", policy, stderr = ?text.trim_end(), "the policy wrote to stderr");
        }
    }

    /// Gives the next call the full deadline again.
    pub(super) fn rearm(&mut self) {
        self.store.set_epoch_deadline(self.ticks);
    }

    pub(super) fn body(&mut self, file: &File, size: u64) -> Result<Resource<BodyFile>, PolicyError> {
        let file = file.try_clone().map_err(|e| PolicyError::Unavailable(format!("body: {e}")))?;
        self.store
            .data_mut()
            .table
            .push(BodyFile { file, size })
            .map_err(|e| PolicyError::Unavailable(format!("body: {e}")))
    }

    /// `judge`: lends the file as a body for the call (with the full deadline) and checks
    /// the answer — pieces against the file's size (see [`pieces::check`]), the media
    /// type, the thumbnail. `stripped` is refused when stripping was not asked for (the
    /// host is judging a file stripped already).
    pub fn judge(
        &mut self,
        upload: &Upload,
        file: &File,
        wanted: Wanted,
    ) -> Result<Result<Judgement, Rejection>, PolicyError> {
        let body = self.body(file, upload.size)?;
        self.rearm();
        let ticks = self.ticks;
        let rearm = move |store: &mut Store<State>| store.set_epoch_deadline(ticks);
        let out = self.exports.judge(&mut self.store, upload, &body, &wanted, &rearm);
        let _ = self.store.data_mut().table.delete(body);
        match out.map_err(PolicyError::from_call)? {
            Ok(Judgement::Stripped(pieces)) if wanted.strip => {
                pieces::check(&pieces, upload.size)?;
                Ok(Ok(Judgement::Stripped(pieces)))
            }
            Ok(Judgement::Stripped(_)) => {
                Err(PolicyError::Invalid("judge answered `stripped` when stripping was not asked for".into()))
            }
            Ok(Judgement::Judged(verdict)) => {
                let media = checked_media(verdict.media)?;
                let thumbnail = match verdict.thumbnail {
                    Thumbnail::Made(png) if wanted.thumbnail_width.is_none() => {
                        drop(png);
                        Thumbnail::NotAsked
                    }
                    // A bad thumbnail does not fail the upload: it gets none.
                    Thumbnail::Made(png) => match checked_thumbnail(png) {
                        Ok(png) => Thumbnail::Made(png),
                        Err(e) => {
                            tracing::warn!(error = %e, "thumbnail refused");
                            Thumbnail::NotSupported
                        }
                    },
                    other => other,
                };
                Ok(Ok(Judgement::Judged(Verdict { media, thumbnail })))
            }
            Err(r) => Ok(Err(self.rejected(r)?)),
        }
    }

    /// What the file really is: `judge` without stripping or a thumbnail (tools, tests).
    pub fn inspect(&mut self, upload: &Upload, file: &File) -> Result<Result<Media, Rejection>, PolicyError> {
        let wanted = Wanted { strip: false, thumbnail_width: None };
        Ok(match self.judge(upload, file, wanted)? {
            Ok(Judgement::Judged(verdict)) => Ok(verdict.media),
            Ok(Judgement::Stripped(_)) => unreachable!("refused by judge when not asked for"),
            Err(r) => Err(r),
        })
    }

    /// `name`: the stored name for an accepted upload, re-checked for path safety.
    pub fn name(
        &mut self,
        upload: &Upload,
        media: &Media,
        rule: &str,
        attempt: u32,
    ) -> Result<Result<String, Rejection>, PolicyError> {
        self.rearm();
        let out = self.exports.name(&mut self.store, upload, media, rule, attempt);
        match out.map_err(PolicyError::from_call)? {
            Ok(name) => Ok(Ok(checked_name(name)?)),
            Err(r) => Ok(Err(self.rejected(r)?)),
        }
    }

    /// `authorize`: may `principal` do `action`?
    pub fn authorize(
        &mut self,
        action: &RequestedAction,
        principal: &Principal,
        facts: &Facts,
    ) -> Result<Result<(), Rejection>, PolicyError> {
        self.rearm();
        let out = self.exports.authorize(&mut self.store, action, principal, facts);
        match out.map_err(PolicyError::from_call)? {
            Ok(()) => Ok(Ok(())),
            Err(r) => Ok(Err(self.rejected(r)?)),
        }
    }

    /// `admit`: may this received file be kept, given its owner's usage?
    pub fn admit(
        &mut self,
        principal: &Principal,
        upload: &Upload,
        usage: Usage,
    ) -> Result<Result<(), Rejection>, PolicyError> {
        self.rearm();
        let out = self.exports.admit(&mut self.store, principal, upload, usage);
        match out.map_err(PolicyError::from_call)? {
            Ok(()) => Ok(Ok(())),
            Err(r) => Ok(Err(self.rejected(r)?)),
        }
    }

    pub(super) fn rejected(&mut self, r: Rejection) -> Result<Rejection, PolicyError> {
        let r = checked_rejection(r)?;
        self.rejections.push(r.code.clone());
        Ok(r)
    }
}

/// A clock that always says zero: policies get time only from the upload record.
struct FrozenClock;

impl wasmtime_wasi::HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}
