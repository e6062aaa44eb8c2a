//! One sandboxed instance of the active policy (a [`Session`]): a fresh store with the
//! sandbox's limits, the calls of one request, and the host's checks of every answer —
//! the guest proposes, the host checks.

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime::Store;
use wasmtime_wasi::WasiCtxBuilder;

use super::bindings::{self, Policy as Bindings, PolicyPre, State};
use super::{
    limiter, pieces, wasi, BodyFile, Decision, Media, MediaKind, Piece, PolicyError, Principal, Rejection, Sandbox,
    Upload, MAX_TABLE_ENTRIES, MAX_THUMBNAIL_BYTES, MAX_TRANSFER, TICK_MS,
};

/// One sandboxed instance: a fresh store, used for the calls of one request.
pub struct Session {
    pub(super) store: Store<State>,
    pub(super) bindings: Bindings,
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
    pub(super) fn start(rt: &Sandbox, pre: &PolicyPre<State>, name: Arc<str>) -> Result<Self, PolicyError> {
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
        let bindings = pre.instantiate(&mut store).map_err(|e| {
            let msg = format!("{e:#}");
            if msg.contains("pooling") || msg.contains("maximum concurrent") {
                PolicyError::Unavailable(msg)
            } else {
                PolicyError::from_call(e)
            }
        })?;
        Ok(Session { store, bindings, rejections: Vec::new(), ticks, stderr })
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

    fn body(&mut self, file: &File, size: u64) -> Result<Resource<BodyFile>, PolicyError> {
        let file = file.try_clone().map_err(|e| PolicyError::Unavailable(format!("body: {e}")))?;
        self.store
            .data_mut()
            .table
            .push(BodyFile { file, size })
            .map_err(|e| PolicyError::Unavailable(format!("body: {e}")))
    }

    /// Calls an export that reads the upload in `file`: lends it as a body resource for
    /// the call (with the full deadline) and takes it back afterwards.
    fn call_with_body<T>(
        &mut self,
        file: &File,
        size: u64,
        call: impl FnOnce(
            &bindings::exports::imgbed::policy::api::Guest,
            &mut Store<State>,
            Resource<BodyFile>,
        ) -> wasmtime::Result<T>,
    ) -> Result<T, PolicyError> {
        let body = self.body(file, size)?;
        let borrowed = Resource::<BodyFile>::new_borrow(body.rep());
        self.rearm();
        let out = call(self.bindings.imgbed_policy_api(), &mut self.store, borrowed);
        let _ = self.store.data_mut().table.delete(body);
        out.map_err(PolicyError::from_call)
    }

    /// `inspect`: what the upload in `file` really is.
    pub fn inspect(&mut self, upload: &Upload, file: &File) -> Result<Result<Media, Rejection>, PolicyError> {
        match self.call_with_body(file, upload.size, |api, store, body| api.call_inspect(store, upload, body))? {
            Ok(media) => Ok(Ok(checked_media(media)?)),
            Err(r) => Ok(Err(self.rejected(r)?)),
        }
    }

    /// `name`: the stored name for an accepted upload, re-checked for path safety.
    pub fn name(
        &mut self,
        upload: &Upload,
        media: &Media,
        rule: &str,
    ) -> Result<Result<String, Rejection>, PolicyError> {
        self.rearm();
        let out = self.bindings.imgbed_policy_api().call_name(&mut self.store, upload, media, rule);
        match out.map_err(PolicyError::from_call)? {
            Ok(name) => Ok(Ok(checked_name(name)?)),
            Err(r) => Ok(Err(self.rejected(r)?)),
        }
    }

    /// `strip-metadata`: the pieces of the file to store instead of the upload, checked
    /// against the upload's size (see [`pieces::check`]); None when nothing is removed.
    pub fn strip_metadata(
        &mut self,
        upload: &Upload,
        file: &File,
    ) -> Result<Result<Option<Vec<Piece>>, Rejection>, PolicyError> {
        match self.call_with_body(file, upload.size, |api, store, body| api.call_strip_metadata(store, upload, body))? {
            Ok(Some(pieces)) => {
                pieces::check(&pieces, upload.size)?;
                Ok(Ok(Some(pieces)))
            }
            Ok(None) => Ok(Ok(None)),
            Err(r) => Ok(Err(self.rejected(r)?)),
        }
    }

    /// `thumbnail`: a PNG at most `max_width` wide. The host checks it is a PNG of sane size.
    pub fn thumbnail(
        &mut self,
        upload: &Upload,
        file: &File,
        max_width: u32,
    ) -> Result<Result<Vec<u8>, Rejection>, PolicyError> {
        let out = self
            .call_with_body(file, upload.size, |api, store, body| api.call_thumbnail(store, upload, body, max_width))?;
        match out {
            Ok(png) if png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() <= MAX_THUMBNAIL_BYTES => Ok(Ok(png)),
            Ok(png) => Err(PolicyError::Invalid(format!(
                "thumbnail is not a PNG of at most {MAX_THUMBNAIL_BYTES} bytes ({} bytes)",
                png.len()
            ))),
            Err(r) => Ok(Err(self.rejected(r)?)),
        }
    }

    /// `authorize`: may `principal` do `action`?
    pub fn authorize(
        &mut self,
        action: &str,
        principal: &Principal,
        facts: &[(String, String)],
    ) -> Result<Result<(), Rejection>, PolicyError> {
        self.rearm();
        let out = self.bindings.imgbed_policy_api().call_authorize(&mut self.store, action, principal, facts);
        match out.map_err(PolicyError::from_call)? {
            Decision::Allow => Ok(Ok(())),
            Decision::Deny(r) => Ok(Err(self.rejected(r)?)),
        }
    }

    fn rejected(&mut self, r: Rejection) -> Result<Rejection, PolicyError> {
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
