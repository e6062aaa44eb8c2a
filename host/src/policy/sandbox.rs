//! The sandbox every policy instance is made in: one wasmtime engine (pooling
//! allocator, epoch interruption), the linker with the host's imports, and the
//! loading of a candidate (compile or cached artifact, contract check, configure,
//! self-test).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::Engine;

use super::bindings::State;
use super::contract::{Contract, Pre};
use super::{ArtifactCache, ExistsFn, Limits, LoadedPolicy, PolicyError, PolicyStats, Session, TICK_MS};

/// A policy's `name@version` and its counters.
type NamedStats = (Arc<str>, Arc<PolicyStats>);

/// What every instance is made from: engine, linker, limits and capabilities.
pub struct Sandbox {
    pub(super) engine: Engine,
    pub(super) linker: Linker<State>,
    pub(super) limits: Limits,
    pub(super) settings: Arc<BTreeMap<String, String>>,
    pub(super) exists: ExistsFn,
    pub(super) cache: Option<ArtifactCache>,
    /// The executable that compiles components out of process, if any.
    pub(super) compiler: Option<std::path::PathBuf>,
    /// Counters per component SHA-256 (with its name), kept across swaps for metrics.
    pub(super) stats: std::sync::Mutex<BTreeMap<String, NamedStats>>,
}

impl Sandbox {
    pub(super) fn stats_for(&self, sha256: &str, name: &Arc<str>) -> Arc<PolicyStats> {
        let mut map = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(sha256.to_string()).or_insert_with(|| (name.clone(), Arc::default())).1.clone()
    }

    /// Counters of every policy loaded so far: (sha256, name@version, stats).
    pub fn all_stats(&self) -> Vec<(String, Arc<str>, Arc<PolicyStats>)> {
        let map = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(sha, (name, stats))| (sha.clone(), name.clone(), stats.clone())).collect()
    }

    /// `bytes` compiled by the compiler child (and put in the cache as it came), if there
    /// is one: `None` when no child could do it (then the caller compiles here), an error
    /// when the child refused it.
    fn compiled_in_child(&self, bytes: &[u8], sha256: &str) -> Result<Option<Component>, PolicyError> {
        use super::compiler::{in_child, Outcome};
        let Some(exe) = self.compiler.as_deref() else { return Ok(None) };
        let artifact = match in_child(exe, &self.limits, bytes) {
            Outcome::Compiled(artifact) => artifact,
            Outcome::Refused(why) => return Err(PolicyError::Refused(format!("not a valid component: {why}"))),
            Outcome::Unavailable(why) => {
                tracing::warn!(error = %why, "compiling the policy out of process failed; compiling here");
                return Ok(None);
            }
        };
        // SAFETY: the artifact is what this very executable's compiler wrote for an engine
        // built from the same limits, just now, through a pipe only we hold; wasmtime
        // checks its header (version and settings) before using it.
        match unsafe { Component::deserialize(&self.engine, &artifact) } {
            Ok(component) => {
                if let Some(cache) = &self.cache {
                    cache.put_serialized(sha256, &artifact);
                }
                Ok(Some(component))
            }
            Err(e) => {
                tracing::warn!(error = %e, "the compiled policy does not load; compiling here");
                Ok(None)
            }
        }
    }

    /// Compiles, type-checks, configures and self-tests a candidate (blocking).
    pub fn load(&self, bytes: &[u8], source: &str) -> Result<LoadedPolicy, PolicyError> {
        let refused = |what: &str, e: &dyn std::fmt::Display| PolicyError::Refused(format!("{what}: {e}"));
        let sha256 = hex::encode(Sha256::digest(bytes));
        let cached = self.cache.as_ref().and_then(|c| c.get(&self.engine, &sha256));
        let (component, compiled_by) = match cached {
            Some(c) => (c, "cache"),
            None => {
                let c = match self.compiled_in_child(bytes, &sha256)? {
                    Some(c) => (c, "child"),
                    None => {
                        let c = Component::new(&self.engine, bytes)
                            .map_err(|e| refused("not a valid component", &format!("{e:#}")))?;
                        if let Some(cache) = &self.cache {
                            cache.put(&sha256, &c);
                        }
                        (c, "server")
                    }
                };
                crate::memory::give_back_freed();
                c
            }
        };
        let contract = Contract::of(&self.engine, &component)?;
        let pre =
            self.linker.instantiate_pre(&component).map_err(|e| refused("imports do not match", &format!("{e:#}")))?;
        let pre = Pre::new(contract, pre).map_err(|e| refused("exports do not match", &format!("{e:#}")))?;
        let name: Arc<str> = Arc::from(format!("candidate-{}", &sha256[..12]));
        let mut session = Session::start(self, &pre, name)?;
        let info = session.exports.info(&mut session.store).map_err(PolicyError::from_call)?;
        pre.checked(&session.exports, &mut session.store);
        // The variant maker (2.1), if the component exports one, must have the contract's shape.
        session
            .exports
            .makes_variants(&mut session.store)
            .map_err(|e| refused("the variants export does not match", &format!("{e:#}")))?;
        let settings: Vec<(String, String)> = self.settings.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        session.rearm();
        session
            .exports
            .configure(&mut session.store, &settings)
            .map_err(PolicyError::from_call)?
            .map_err(|m| PolicyError::Refused(format!("configure: {m}")))?;
        session.rearm();
        session
            .exports
            .self_test(&mut session.store)
            .map_err(PolicyError::from_call)?
            .map_err(|m| PolicyError::Refused(format!("self-test: {m}")))?;
        let name: Arc<str> = Arc::from(format!("{}@{}", info.name, info.version));
        Ok(LoadedPolicy {
            contract,
            pre,
            info,
            sha256: sha256.clone(),
            source: source.to_string(),
            loaded_at: SystemTime::now(),
            compiled_by,
            bytes: Arc::from(bytes),
            stats: self.stats_for(&sha256, &name),
            name,
            signature: None,
            signed_by: None,
        })
    }
}

pub(super) fn spawn_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("policy-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(TICK_MS));
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        })
        .expect("spawn epoch ticker");
}
