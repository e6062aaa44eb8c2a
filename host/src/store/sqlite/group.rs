//! Group commit of upload records: inserts that arrive while the writer is busy wait
//! in a queue, and the next writer commits all of them in one transaction — one WAL
//! sync makes many uploads durable. An insert that arrives alone commits at once (no
//! timer, no added latency).
//!
//! Each insert is its own statement inside the shared transaction: a clash (name
//! taken, duplicate bytes) or a gone account fails that statement only, never its
//! neighbours. If the transaction itself fails, every insert in it gets a backend
//! error — "outcome unknown" — which the upload settles by looking (as for a lost
//! connection).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{backend, durable};
use crate::store::{ImageRecord, StoreError};

/// At most this many inserts share one transaction.
const MOST: usize = 64;

/// One queued insert and where its outcome goes.
struct Insert {
    record: ImageRecord,
    jti: Option<String>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The inserts waiting for the writer.
#[derive(Default)]
pub(super) struct Queue {
    waiting: Mutex<Vec<Insert>>,
    /// Transactions committed (a group each).
    groups: AtomicU64,
}

impl Queue {
    /// Inserts `record` (while the account with token id `jti` exists) in the next group.
    /// Every queued insert comes with one turn at the writer, and a turn commits up to
    /// [`MOST`] waiting inserts, so nothing is left in the queue once the turns are over.
    pub(super) async fn insert_for(
        self: &Arc<Self>,
        conn: &Arc<Mutex<Connection>>,
        record: ImageRecord,
        jti: Option<String>,
    ) -> Result<(), StoreError> {
        let (done, outcome) = oneshot::channel();
        lock(&self.waiting).push(Insert { record, jti, done });
        let (queue, conn) = (self.clone(), conn.clone());
        // The turn runs on its own (its handle is not awaited): the outcome may come from
        // an earlier turn, and a turn that panics drops the senders of its group.
        drop(tokio::task::spawn_blocking(move || {
            let writer = lock(&conn);
            let group: Vec<Insert> = {
                let mut waiting = lock(&queue.waiting);
                let n = waiting.len().min(MOST);
                waiting.drain(..n).collect()
            };
            if !group.is_empty() {
                // Counted before the answers go out (a caller may look right after its own).
                queue.groups.fetch_add(1, Ordering::Relaxed);
                commit(&writer, group);
            }
        }));
        // Ours is committed by this turn, an earlier or a later one.
        outcome.await.map_err(|_| backend("the group commit was cut short"))?
    }

    /// Inserts waiting for the writer.
    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        lock(&self.waiting).len()
    }

    /// Groups committed so far.
    #[cfg(test)]
    pub(super) fn groups(&self) -> u64 {
        self.groups.load(Ordering::Relaxed)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Commits a group in one transaction and answers each insert.
fn commit(c: &Connection, group: Vec<Insert>) {
    let tx = match durable::write_tx(c) {
        Ok(tx) => tx,
        Err(e) => return answer_all(group, &e.to_string()),
    };
    let mut outcomes = Vec::with_capacity(group.len());
    for insert in &group {
        // SQLite rolls the whole transaction back on some errors (disk full, I/O):
        // what follows would run outside it, so the rest of the group stops here.
        if tx.is_autocommit() {
            outcomes.push(Err(backend("the group's transaction was rolled back")));
            continue;
        }
        outcomes.push(durable::check_and_insert(&tx, &insert.record, insert.jti.as_deref()));
    }
    if let Err(e) = tx.commit() {
        return answer_all(group, &e.to_string());
    }
    for (insert, outcome) in group.into_iter().zip(outcomes) {
        // The upload may have gone (its client dropped the request): nobody to tell.
        let _ = insert.done.send(outcome);
    }
}

/// The outcome of every insert in the group is unknown.
fn answer_all(group: Vec<Insert>, error: &str) {
    for insert in group {
        let _ = insert.done.send(Err(StoreError::Backend(error.to_string())));
    }
}
