//! State shared by several hosts on one MongoDB database: the active policy.
//!
//! A host that swaps its policy (admin API, rollback, SIGHUP, file watch)
//! publishes the component; every host polls the published fingerprint and
//! loads a new one within a few seconds. The published policy goes through the
//! same checks as any other (signature when `policy.trusted_keys` is set, compile,
//! contract, configure, self-test): a host that refuses it keeps its own, says so in
//! the log and shows it in the admin API.

use std::time::Duration;

use mongodb::bson::{doc, spec::BinarySubtype, Binary, Bson, Document};
use mongodb::{Collection, Database};
use sha2::{Digest, Sha256};

use std::sync::{Arc, Mutex};

use crate::policy::{Candidate, LoadedPolicy, PolicyRuntime};

/// Largest policy shared through the database (MongoDB documents hold at most 16 MiB).
const MAX_SHARED_POLICY: usize = 15 * 1024 * 1024;
/// The document holding the active policy.
const ACTIVE: &str = "active";

/// The policy published in the database: components in `policy_components` (keyed
/// by fingerprint, written once), and a pointer `policy {_id: "active", sha256,
/// signature}` (the signature the publishing host got with the component, if any).
#[derive(Clone)]
pub struct SharedPolicy {
    coll: Collection<Document>,
    components: Collection<Document>,
    /// Bound on one database operation (`database.timeout_ms`).
    limit: Duration,
    /// The published policy this host refused, and why (until it follows another one).
    refused: Arc<Mutex<Option<serde_json::Value>>>,
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
        }
    }

    /// The published policy this host refused (`sha256`, `code`, `reason`), if it has not
    /// followed another one since.
    pub fn refused(&self) -> Option<serde_json::Value> {
        self.refused.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Publishes `policy` as the one every host should run.
    pub async fn publish(&self, policy: &LoadedPolicy) -> Result<(), String> {
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
        self.coll.update_one(doc! {"_id": ACTIVE}, doc! {"$set": set}).upsert(true).await.map_err(|e| e.to_string())?;
        Ok(())
    }

    /// The fingerprint and signature of the published policy, if one was published.
    pub async fn current(&self) -> Result<Option<Published>, mongodb::error::Error> {
        let found = self.coll.find_one(doc! {"_id": ACTIVE}).projection(doc! {"sha256": 1, "signature": 1}).await?;
        Ok(found.and_then(|d| {
            let sha = d.get_str("sha256").ok()?.to_string();
            Some((sha, d.get_str("signature").ok().map(str::to_string)))
        }))
    }

    /// The published component (checked against its fingerprint) and its signature.
    pub async fn fetch(&self) -> Result<Option<(Published, Vec<u8>)>, String> {
        let Some((sha, signature)) = self.current().await.map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let Some(d) = self.components.find_one(doc! {"_id": &sha}).await.map_err(|e| e.to_string())? else {
            return Err(format!("the shared policy {sha} has no component"));
        };
        let bytes = match d.get("bytes") {
            Some(Bson::Binary(b)) => b.bytes.clone(),
            _ => return Err("the shared policy has no bytes".into()),
        };
        if hex::encode(Sha256::digest(&bytes)) != sha {
            return Err("the shared policy does not match its fingerprint".into());
        }
        Ok(Some(((sha, signature), bytes)))
    }

    /// Publishes this host's active policy (after a swap here), logging a failure.
    pub async fn publish_active(&self, policy: &PolicyRuntime) -> Result<(), String> {
        let active = policy.active();
        let limit = self.limit;
        let result = match tokio::time::timeout(limit, self.publish(&active)).await {
            Ok(done) => done,
            Err(_) => Err(format!("MongoDB did not answer within {} ms", limit.as_millis())),
        };
        match &result {
            Ok(()) => tracing::info!(sha256 = %active.sha256, "policy published to the other hosts"),
            Err(e) => tracing::error!(error = %e, "could not publish the policy to the other hosts"),
        }
        result
    }

    /// Follows the published policy: checks every `every` and loads a new one into `policy`.
    pub fn spawn_follower(&self, policy: Arc<PolicyRuntime>, every: Duration) {
        let shared = self.clone();
        let limit = self.limit;
        tokio::spawn(async move {
            let mut refused: Option<Published> = None;
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let published = match tokio::time::timeout(limit, shared.current()).await {
                    Ok(Ok(Some(published))) => published,
                    Ok(Ok(None)) | Err(_) => continue,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "cannot read the shared policy");
                        continue;
                    }
                };
                if published.0 == policy.active().sha256 || refused.as_ref() == Some(&published) {
                    continue;
                }
                let Ok(fetched) = tokio::time::timeout(limit * 10, shared.fetch()).await else { continue };
                match fetched {
                    Ok(Some((published, bytes))) => {
                        let sha = published.0.clone();
                        let candidate = Candidate::new(bytes, "shared").signed(published.1.clone());
                        match policy.swap_candidate(candidate).await {
                            Ok(p) => {
                                tracing::info!(policy = %p.name, sha256 = %sha, "following the policy another host published");
                                *shared.refused.lock().unwrap_or_else(|p| p.into_inner()) = None;
                            }
                            Err(e) => {
                                tracing::error!(error = %e, sha256 = %sha, "the published policy was refused here; keeping ours");
                                let why = serde_json::json!({"sha256": sha, "code": e.code(), "reason": e.to_string()});
                                *shared.refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
                                refused = Some(published);
                            }
                        }
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "cannot load the shared policy"),
                }
            }
        });
    }
}
