//! Host side of contract 2.0 (`wit/`): generated bindings and the imports the guest may
//! call. The types of 2.0 are the host's own; 1.0 components are adapted (`v1.rs`).

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "policy",
    with: { "imgbed:policy/host.body": BodyFile },
});

use imgbed::policy::host::LogLevel;
pub use imgbed::policy::types::{
    Action, Facts, Judgement, Media, MediaKind, Piece, PolicyInfo, Principal, PrincipalKind, Proof, Rejection,
    RequestedAction, Span, Thumbnail, Upload, Usage, Verdict, Wanted,
};

/// Largest single `read` the guest gets, whatever it asks for.
pub const MAX_READ: u32 = 1024 * 1024;
/// Log lines one policy call may write before the rest are dropped.
const MAX_LOG_LINES: u32 = 100;
/// Longest log line kept.
const MAX_LOG_LEN: usize = 2048;

/// The storage queries a contract 1.0 policy may make (its `image-exists` and `owner-usage`
/// imports; 2.0 gets the usage as an argument of `admit`).
/// Called from the policy's blocking thread.
pub trait StorageView: Send + Sync {
    /// Whether a stored image has this name.
    fn image_exists(&self, name: &str) -> bool;
    /// (images, bytes) stored by `owner`.
    fn owner_usage(&self, owner: &str) -> (u64, u64);
}

/// A bare name check (tests and tools): no usage known.
impl<F: Fn(&str) -> bool + Send + Sync> StorageView for F {
    fn image_exists(&self, name: &str) -> bool {
        self(name)
    }
    fn owner_usage(&self, _owner: &str) -> (u64, u64) {
        (0, 0)
    }
}

/// The storage handle the runtime passes to every instance.
pub type ExistsFn = Arc<dyn StorageView>;

/// An upload body handed to the guest: read with positioned I/O, clamped to its size.
pub struct BodyFile {
    pub file: File,
    pub size: u64,
}

/// Per-call state of a policy instance.
pub struct State {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limits: super::limiter::SandboxLimits,
    pub settings: Arc<BTreeMap<String, String>>,
    pub exists: ExistsFn,
    pub policy_name: Arc<str>,
    pub log_lines: u32,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl imgbed::policy::types::Host for State {}

impl State {
    /// A line of the policy's log: at most `MAX_LOG_LINES` a call, each cut to `MAX_LOG_LEN`.
    pub(super) fn log_line(&mut self, level: tracing::Level, message: String) {
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES {
            return;
        }
        let mut message = message;
        if message.len() > MAX_LOG_LEN {
            let mut cut = MAX_LOG_LEN;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        let policy = &*self.policy_name;
        match level {
            tracing::Level::TRACE => tracing::trace!(target: "policy", policy, "{message}"),
            tracing::Level::DEBUG => tracing::debug!(target: "policy", policy, "{message}"),
            tracing::Level::INFO => tracing::info!(target: "policy", policy, "{message}"),
            tracing::Level::WARN => tracing::warn!(target: "policy", policy, "{message}"),
            tracing::Level::ERROR => tracing::error!(target: "policy", policy, "{message}"),
        }
    }

    pub(super) fn body_size(&self, body: &Resource<BodyFile>) -> u64 {
        self.table.get(body).map_or(0, |b| b.size)
    }

    /// Up to `len` bytes (at most `MAX_READ`) from `offset`, clamped to the body's size.
    pub(super) fn body_read(&self, body: &Resource<BodyFile>, offset: u64, len: u32) -> Vec<u8> {
        let Ok(b) = self.table.get(body) else {
            return Vec::new();
        };
        if offset >= b.size {
            return Vec::new();
        }
        let len = u64::from(len.min(MAX_READ)).min(b.size - offset) as usize;
        let mut buf = vec![0u8; len];
        let mut filled = 0;
        while filled < len {
            match b.file.read_at(&mut buf[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::error!(error = %e, "reading upload body for the policy");
                    break;
                }
            }
        }
        buf.truncate(filled);
        buf
    }
}

impl imgbed::policy::host::Host for State {
    fn log(&mut self, level: LogLevel, message: String) {
        let level = match level {
            LogLevel::Trace => tracing::Level::TRACE,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Error => tracing::Level::ERROR,
        };
        self.log_line(level, message);
    }

    fn setting(&mut self, key: String) -> Option<String> {
        self.settings.get(&key).cloned()
    }
}

impl imgbed::policy::host::HostBody for State {
    fn size(&mut self, body: Resource<BodyFile>) -> u64 {
        self.body_size(&body)
    }

    fn read(&mut self, body: Resource<BodyFile>, offset: u64, len: u32) -> Vec<u8> {
        self.body_read(&body, offset, len)
    }

    fn drop(&mut self, body: Resource<BodyFile>) -> wasmtime::Result<()> {
        self.table.delete(body)?;
        Ok(())
    }
}
