//! The policy runtime: one wasmtime engine, a loaded policy component, and a
//! fresh sandboxed instance per request on a bounded pool of blocking threads.
//!
//! Every call gets a memory cap and an epoch deadline; a trap, a timeout or an
//! exhausted memory fails that one request and nothing else.

mod actions;
mod arrival;
mod bindings;
mod cache;
pub mod compiler;
mod contract;
mod engine;
mod error;
pub mod gate;
mod limiter;
pub mod pieces;
mod pool;
mod sandbox;
mod session;
mod shadow;
mod stats;
mod v1;
mod variants;
mod wasi;

pub use actions::{
    action_name, facts, facts_from_pairs, kind_name, media_kind_name, parse_action, parse_kind, ACTIONS,
};
use arrival::admit;
pub use arrival::{read_kept, Candidate, KEPT};
use engine::engine;
pub use error::PolicyError;
use sandbox::spawn_ticker;
pub use sandbox::Sandbox;
pub use session::Session;
pub use shadow::{Disagreement, Observed, Outcome, Shadow, ShadowAnswer, ShadowConfig, ShadowCounts};

pub use cache::ArtifactCache;
pub use stats::{Histogram, PolicyStats, StatsSnapshot, LATENCY_BUCKETS};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio::sync::Semaphore;
use wasmtime::component::Linker;

use crate::signing::TrustedKeys;
pub use bindings::{
    Action, BodyFile, ExistsFn, Facts, Judgement, Media, MediaKind, Piece, PolicyInfo, Principal, PrincipalKind, Proof,
    Rejection, RequestedAction, Span, StorageView, Thumbnail, Upload, Usage, Verdict, Wanted,
};
use bindings::{Policy as Bindings, State};
pub use contract::Contract;
pub use variants::{MadeVariant, VariantFormat, VariantRequest};

/// A storage view that knows no images and no usage (tools and tests).
pub fn no_storage() -> ExistsFn {
    Arc::new(|_: &str| false)
}

/// The default policy, built from `guest/default` by the build script.
pub static BUILTIN_POLICY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/imgbed_policy_default.wasm"));

/// The contract this host speaks (the WIT package in `wit/`); components built against
/// `imgbed:policy@1.0.0` run through an adapter.
pub const CONTRACT: &str = "imgbed:policy@2.1.0";

/// Largest thumbnail the host accepts from a policy.
pub const MAX_THUMBNAIL_BYTES: usize = 16 * 1024 * 1024;

/// Most bytes the host copies out of the guest in one transfer (a call's answer, an
/// import's arguments): a thumbnail plus room. Counted by wasmtime *before* it copies,
/// so a policy answering with many pieces that alias the same memory cannot make the
/// host allocate more than this.
pub const MAX_TRANSFER: usize = MAX_THUMBNAIL_BYTES + (1 << 20);

/// Host resources (streams, bodies…) one instance may hold at once.
const MAX_TABLE_ENTRIES: usize = 1024;

/// Milliseconds per epoch tick.
const TICK_MS: u64 = 10;

/// Sandbox limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub memory_bytes: usize,
    pub deadline: Duration,
    /// Cheap decisions (`authorize`, naming) at once.
    pub workers: usize,
    /// Heavy work (stripping, inspecting, thumbnailing an upload) at once, shared fairly
    /// between clients; separate from `workers`, so uploads never starve reads.
    pub heavy_workers: usize,
}

/// A compiled, checked policy ready to instantiate.
pub struct LoadedPolicy {
    /// The contract it speaks (1.0 runs through the adapter).
    pub contract: Contract,
    pre: contract::Pre,
    pub info: PolicyInfo,
    pub sha256: String,
    /// `name@version`, as logs and metrics show it.
    pub name: Arc<str>,
    /// Where it came from: "built-in", "file", "admin-api", "sighup", "watch", "stored".
    pub source: String,
    pub loaded_at: SystemTime,
    /// Who compiled it: "cache" (nobody: a cached artifact), "child" (a compiler child
    /// process, see [`compiler`]) or "server" (in process).
    pub compiled_by: &'static str,
    pub bytes: Arc<[u8]>,
    /// Counters, shared by every load of the same component (same SHA-256).
    pub stats: Arc<PolicyStats>,
    /// The detached signature it came with (kept and shared with it), if any.
    pub signature: Option<String>,
    /// The trusted key that verified that signature; `None` when `policy.trusted_keys`
    /// is empty (signatures are then carried, not checked) or for the built-in policy.
    pub signed_by: Option<String>,
}

impl std::fmt::Debug for LoadedPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPolicy").field("name", &self.name).field("sha256", &self.sha256).finish_non_exhaustive()
    }
}

impl LoadedPolicy {
    /// A description for the admin API.
    pub fn describe(&self) -> serde_json::Value {
        let loaded = self.loaded_at.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        serde_json::json!({
            "name": self.info.name,
            "version": self.info.version,
            "contract": self.package(),
            "sha256": self.sha256,
            "size": self.bytes.len(),
            "source": self.source,
            "loaded_at": loaded,
            "from_cache": self.compiled_by == "cache",
            "compiled_by": self.compiled_by,
            "signed_by": self.signed_by,
            "stats": self.stats.snapshot(),
        })
    }
}

/// The sandbox, the active policy and the one before it.
pub struct PolicyRuntime {
    sandbox: Sandbox,
    /// Capacity for heavy work, handed out round-robin between clients.
    heavy: Arc<gate::FairGate>,
    /// Capacity for cheap decisions (as many as light threads).
    permits: Arc<Semaphore>,
    /// The low-priority threads heavy work runs on.
    heavy_threads: pool::PolicyThreads,
    /// The threads cheap decisions run on (`workers` of them).
    light_threads: pool::PolicyThreads,
    active: ArcSwap<LoadedPolicy>,
    previous: ArcSwapOption<LoadedPolicy>,
    /// One swap at a time.
    swapping: tokio::sync::Mutex<()>,
    /// Where the active policy is kept so it survives a restart.
    store_dir: Option<PathBuf>,
    /// Keys a candidate's signature must verify with (none: not checked).
    trusted: TrustedKeys,
    /// The shadow policy, if one is loaded, and its capacity and counters.
    shadow: shadow::ShadowSlot,
}

/// Optional parts of the runtime.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Compiled-artifact cache folder.
    pub cache_dir: Option<PathBuf>,
    /// Folder where the active policy is kept across restarts (`active.wasm`).
    pub store_dir: Option<PathBuf>,
    /// Key authenticating the compiled-artifact cache (kept in `secrets.json`); without
    /// one, nothing is read from the cache.
    pub cache_key: Option<Vec<u8>>,
    /// `policy.trusted_keys`: when not empty, every component but the built-in one needs
    /// a signature by one of them, at start-up as in a swap.
    pub trusted: TrustedKeys,
    /// `policy.shadow_sample` and `policy.shadow_share`.
    pub shadow: ShadowConfig,
    /// Compile in a child run of this executable (the `imgbed` binary: see
    /// [`compiler`]) instead of in process; in process when it fails.
    pub compiler: Option<PathBuf>,
}

impl PolicyRuntime {
    /// Builds the engine, starts the epoch ticker, loads `component` and activates it.
    pub fn new(
        component: &[u8],
        limits: Limits,
        settings: BTreeMap<String, String>,
        exists: ExistsFn,
    ) -> Result<Self, PolicyError> {
        let candidate = Candidate::new(component.to_vec(), "built-in");
        Self::with_options(&candidate, limits, settings, exists, Options::default())
    }

    /// Like [`PolicyRuntime::new`], with a cache and a folder to keep the active policy in.
    pub fn with_options(
        candidate: &Candidate,
        limits: Limits,
        settings: BTreeMap<String, String>,
        exists: ExistsFn,
        options: Options,
    ) -> Result<Self, PolicyError> {
        let engine = engine(&limits)?;
        let mut linker = Linker::new(&engine);
        wasi::add_to_linker(&mut linker).map_err(|e| PolicyError::Refused(format!("{e:#}")))?;
        Bindings::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s: &mut State| s)
            .map_err(|e| PolicyError::Refused(format!("{e:#}")))?;
        v1::Policy::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s: &mut State| s)
            .map_err(|e| PolicyError::Refused(format!("{e:#}")))?;
        spawn_ticker(&engine);
        let cache = match (options.cache_dir.as_deref(), options.cache_key.as_deref()) {
            (Some(dir), Some(key)) => Some(ArtifactCache::new(dir, &engine, key)),
            _ => None,
        };
        let sandbox = Sandbox {
            engine,
            linker,
            limits,
            settings: Arc::new(settings),
            exists,
            cache,
            compiler: options.compiler.clone(),
            stats: Default::default(),
        };
        let signed = admit(&options.trusted, candidate)?;
        let mut loaded = sandbox.load(&candidate.bytes, &candidate.source)?;
        (loaded.signature, loaded.signed_by) = signed;
        Ok(PolicyRuntime {
            sandbox,
            heavy: gate::FairGate::new(limits.heavy_workers.max(1)),
            permits: Arc::new(Semaphore::new(limits.workers.max(1))),
            heavy_threads: pool::PolicyThreads::new("heavy", limits.heavy_workers.max(1), pool::Priority::Low),
            light_threads: pool::PolicyThreads::new("light", limits.workers.max(1), pool::Priority::Normal),
            active: ArcSwap::from_pointee(loaded),
            previous: ArcSwapOption::empty(),
            swapping: tokio::sync::Mutex::new(()),
            store_dir: options.store_dir,
            trusted: options.trusted,
            shadow: shadow::ShadowSlot::new(options.shadow, limits.heavy_workers.max(1)),
        })
    }

    /// The policy before the active one, if any.
    pub fn previous(&self) -> Option<Arc<LoadedPolicy>> {
        self.previous.load_full()
    }

    /// Loads a candidate (compile off the async workers, type-check, configure,
    /// self-test) and, if it passes, makes it active. Requests in flight finish on
    /// the old policy; requests that start afterwards use the new one. A refused
    /// candidate changes nothing.
    pub async fn swap(self: &Arc<Self>, bytes: Vec<u8>, source: &str) -> Result<Arc<LoadedPolicy>, PolicyError> {
        self.swap_candidate(Candidate::new(bytes, source)).await
    }

    /// Verifies `candidate`'s signature (with `policy.trusted_keys`), then compiles,
    /// type-checks, configures and self-tests it, on a blocking thread.
    pub(crate) async fn admit_and_load(self: &Arc<Self>, candidate: Candidate) -> Result<LoadedPolicy, PolicyError> {
        let rt = self.clone();
        tokio::task::spawn_blocking(move || {
            let signed = admit(&rt.trusted, &candidate)?;
            let mut loaded = rt.sandbox.load(&candidate.bytes, &candidate.source)?;
            (loaded.signature, loaded.signed_by) = signed;
            Ok::<_, PolicyError>(loaded)
        })
        .await
        .map_err(|e| PolicyError::Refused(format!("loader thread: {e}")))?
    }

    /// Like [`PolicyRuntime::swap`], for a candidate that may come with a signature: with
    /// `policy.trusted_keys` set, it must verify before anything else is done with it.
    pub async fn swap_candidate(self: &Arc<Self>, candidate: Candidate) -> Result<Arc<LoadedPolicy>, PolicyError> {
        let _one_at_a_time = self.swapping.lock().await;
        let loaded = Arc::new(self.admit_and_load(candidate).await?);
        let old = self.active.swap(loaded.clone());
        self.previous.store(Some(old.clone()));
        self.keep(&loaded);
        tracing::info!(from = %old.name, to = %loaded.name, sha256 = %loaded.sha256, source = %loaded.source, "policy swapped");
        Ok(loaded)
    }

    /// Makes the previous policy active again (and the active one previous).
    pub async fn rollback(&self) -> Result<Arc<LoadedPolicy>, PolicyError> {
        let _one_at_a_time = self.swapping.lock().await;
        let prev =
            self.previous.load_full().ok_or_else(|| PolicyError::Refused("there is no previous policy".into()))?;
        let old = self.active.swap(prev.clone());
        self.previous.store(Some(old.clone()));
        self.keep(&prev);
        tracing::info!(from = %old.name, to = %prev.name, "policy rolled back");
        Ok(prev)
    }

    /// Keeps the active policy (and its signature) so a restart comes back with it.
    fn keep(&self, policy: &LoadedPolicy) {
        if let Some(dir) = &self.store_dir {
            arrival::keep(dir, policy);
        }
    }

    /// Whether candidates need a signature (`policy.trusted_keys` is set).
    pub fn checks_signatures(&self) -> bool {
        !self.trusted.is_empty()
    }

    /// The active policy.
    pub fn active(&self) -> Arc<LoadedPolicy> {
        self.active.load_full()
    }

    /// Runs `f` (a cheap decision: `authorize`, a name) with a fresh instance of the active
    /// policy on one of the `workers` light policy threads (jobs wait in arrival order).
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, PolicyError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Session) -> Result<T, PolicyError> + Send + 'static,
    {
        // The permit (held while the call runs) lets the shadow see whether cheap
        // capacity is free; waiting for it costs nothing when it is.
        let permit = self.permits.clone().acquire_owned().await.map_err(|e| PolicyError::Unavailable(e.to_string()))?;
        let rt = self.clone();
        self.light_threads.run(move || rt.call(permit, f)).await?
    }

    /// Runs heavy work `f` (reading an upload) for `client`, within the capacity for heavy
    /// work, which goes to the waiting clients in turn.
    pub async fn run_heavy<T, F>(self: &Arc<Self>, client: &str, f: F) -> Result<T, PolicyError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Session) -> Result<T, PolicyError> + Send + 'static,
    {
        let slot = self.heavy.acquire(client).await;
        let rt = self.clone();
        self.heavy_threads.run(move || rt.call(slot, f)).await?
    }

    /// One policy session on the calling (blocking) thread, counted in the stats.
    fn call<T, F, P>(&self, permit: P, f: F) -> Result<T, PolicyError>
    where
        F: FnOnce(&mut Session) -> Result<T, PolicyError>,
    {
        {
            let rt = self;
            let _permit = permit;
            let policy = rt.active();
            let started = Instant::now();
            let out = Session::start(&rt.sandbox, &policy.pre, policy.name.clone()).and_then(|mut session| {
                let out = f(&mut session);
                for code in &session.rejections {
                    policy.stats.rejected(code);
                }
                session.log_stderr();
                out
            });
            policy.stats.observe(started.elapsed());
            let counter = match &out {
                Err(PolicyError::Trap(_)) => Some(&policy.stats.traps),
                Err(PolicyError::Timeout) => Some(&policy.stats.timeouts),
                Err(PolicyError::Invalid(_)) => Some(&policy.stats.invalid),
                _ => None,
            };
            if let Some(c) = counter {
                c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            out
        }
    }

    /// A fresh instance of the active policy on the calling thread (blocking; for
    /// tools and benchmarks — servers use [`PolicyRuntime::run`]).
    pub fn instantiate_blocking(&self) -> Result<Session, PolicyError> {
        let policy = self.active();
        Session::start(&self.sandbox, &policy.pre, policy.name.clone())
    }

    /// The sandbox policies run in.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }
}
