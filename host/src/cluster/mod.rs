//! State shared by several hosts on one MongoDB database: the active policy and the
//! shadow policy.
//!
//! A host that swaps its policy (admin API, rollback, SIGHUP, file watch) or loads,
//! promotes or drops a shadow publishes it; every host polls the published fingerprints
//! and follows within a few seconds (`follow.rs`). The published policy goes through the
//! same checks as any other (signature when `policy.trusted_keys` is set, compile,
//! contract, configure, self-test): a host that refuses it keeps its own, says so in
//! the log and shows it in the admin API.

use std::time::Duration;

use mongodb::bson::{doc, spec::BinarySubtype, Binary, Bson, Document};
use mongodb::{Collection, Database};
use sha2::{Digest, Sha256};

use std::sync::{Arc, Mutex};

use crate::policy::{LoadedPolicy, PolicyRuntime};

/// Largest policy shared through the database (MongoDB documents hold at most 16 MiB).
const MAX_SHARED_POLICY: usize = 15 * 1024 * 1024;
mod follow;

/// The pointer document of the active policy.
const ACTIVE: &str = "active";
/// The pointer document of the shadow policy (`sha256: null` when dropped).
const SHADOW: &str = "shadow";

/// The policies published in the database: components in `policy_components` (keyed
/// by fingerprint, written once), and pointers `policy {_id: "active" | "shadow", sha256,
/// signature}` (the signature the publishing host got with the component, if any).
#[derive(Clone)]
pub struct SharedPolicy {
    coll: Collection<Document>,
    components: Collection<Document>,
    /// Bound on one database operation (`database.timeout_ms`).
    limit: Duration,
    /// The published policy this host refused, and why (until it follows another one).
    refused: Arc<Mutex<Option<serde_json::Value>>>,
    /// The same for the published shadow.
    shadow_refused: Arc<Mutex<Option<serde_json::Value>>>,
}

/// What the pointer names: a fingerprint and a signature.
type Published = (String, Option<String>);

impl SharedPolicy {
    pub fn new(db: &Database, limit: Duration) -> Self {
        SharedPolicy {
            coll: db.collection("policy"),
            components: db.collection("policy_components"),
            limit,
            refused: Default::default(),
            shadow_refused: Default::default(),
        }
    }

    /// The published policy this host refused (`sha256`, `code`, `reason`), if it has not
    /// followed another one since.
    pub fn refused(&self) -> Option<serde_json::Value> {
        self.refused.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The published shadow this host refused, and why.
    pub fn shadow_refused(&self) -> Option<serde_json::Value> {
        self.shadow_refused.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Publishes `policy` as the one every host should run (`slot` "active") or shadow.
    async fn publish(&self, slot: &str, policy: &LoadedPolicy) -> Result<(), String> {
        if policy.bytes.len() > MAX_SHARED_POLICY {
            return Err(format!("{} bytes is too large to share (at most {MAX_SHARED_POLICY})", policy.bytes.len()));
        }
        // The component first (once per fingerprint), then the pointer: a host that sees
        // the pointer always finds the bytes.
        let known = self.components.count_documents(doc! {"_id": &policy.sha256}).await.map_err(|e| e.to_string())?;
        if known == 0 {
            let bytes = Binary { subtype: BinarySubtype::Generic, bytes: policy.bytes.to_vec() };
            let component = doc! {"_id": &policy.sha256, "name": &*policy.name, "bytes": bytes};
            if let Err(e) = self.components.insert_one(component).await {
                // Another host may have published the same component at the same moment.
                let there = self.components.count_documents(doc! {"_id": &policy.sha256}).await.unwrap_or(0);
                if there == 0 {
                    return Err(e.to_string());
                }
            }
        }
        let set = doc! {"sha256": &policy.sha256, "name": &*policy.name, "source": &policy.source,
        "signature": policy.signature.as_deref()};
        self.coll.update_one(doc! {"_id": slot}, doc! {"$set": set}).upsert(true).await.map_err(|e| e.to_string())?;
        Ok(())
    }

    /// What the pointer `slot` names: `None` when never published, `Some(None)` when
    /// cleared (a dropped shadow), else the fingerprint and signature.
    async fn pointer(&self, slot: &str) -> Result<Option<Option<Published>>, mongodb::error::Error> {
        let found = self.coll.find_one(doc! {"_id": slot}).projection(doc! {"sha256": 1, "signature": 1}).await?;
        Ok(found.map(|d| {
            let sha = d.get_str("sha256").ok()?.to_string();
            Some((sha, d.get_str("signature").ok().map(str::to_string)))
        }))
    }

    /// The fingerprint and signature of the published active policy, if one was published.
    pub async fn current(&self) -> Result<Option<Published>, mongodb::error::Error> {
        Ok(self.pointer(ACTIVE).await?.flatten())
    }

    /// The published component `sha` (checked against its fingerprint).
    async fn fetch(&self, published: Published) -> Result<(Published, Vec<u8>), String> {
        let sha = &published.0;
        let Some(d) = self.components.find_one(doc! {"_id": sha}).await.map_err(|e| e.to_string())? else {
            return Err(format!("the shared policy {sha} has no component"));
        };
        let bytes = match d.get("bytes") {
            Some(Bson::Binary(b)) => b.bytes.clone(),
            _ => return Err("the shared policy has no bytes".into()),
        };
        if hex::encode(Sha256::digest(&bytes)) != *sha {
            return Err("the shared policy does not match its fingerprint".into());
        }
        Ok((published, bytes))
    }

    /// Publishes this host's active policy (after a swap here), logging a failure.
    pub async fn publish_active(&self, policy: &PolicyRuntime) -> Result<(), String> {
        let active = policy.active();
        let result = self.bounded(self.publish(ACTIVE, &active)).await;
        match &result {
            Ok(()) => tracing::info!(sha256 = %active.sha256, "policy published to the other hosts"),
            Err(e) => tracing::error!(error = %e, "could not publish the policy to the other hosts"),
        }
        result
    }

    /// Publishes this host's shadow (after a load, promotion or drop here): its
    /// component, or a cleared pointer when there is none. Logs a failure.
    pub async fn publish_shadow(&self, policy: &PolicyRuntime) -> Result<(), String> {
        let shadow = policy.shadow();
        let work = async {
            match &shadow {
                Some(s) => self.publish(SHADOW, &s.policy).await,
                None => {
                    let clear = doc! {"$set": {"sha256": Bson::Null, "signature": Bson::Null}};
                    self.coll
                        .update_one(doc! {"_id": SHADOW}, clear)
                        .upsert(true)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
            }
        };
        let result = self.bounded(work).await;
        match &result {
            Ok(()) => {
                tracing::info!(shadow = ?shadow.map(|s| s.policy.sha256.clone()), "shadow published to the other hosts")
            }
            Err(e) => tracing::error!(error = %e, "could not publish the shadow to the other hosts"),
        }
        result
    }

    /// `work` within the database time limit.
    async fn bounded(&self, work: impl std::future::Future<Output = Result<(), String>>) -> Result<(), String> {
        match tokio::time::timeout(self.limit, work).await {
            Ok(done) => done,
            Err(_) => Err(format!("MongoDB did not answer within {} ms", self.limit.as_millis())),
        }
    }
}
