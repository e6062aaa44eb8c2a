//! Read connections beside the one writer. In WAL mode readers never wait for the
//! writer and each statement sees every committed write, so point reads (serving an
//! image, checking a token, the policy's usage questions) run on their own connections
//! instead of queueing behind uploads on the writer's lock.
//!
//! A point read runs on the calling thread only with an idle connection and a short
//! busy wait; otherwise (no idle connection, the database busy: another process
//! recovering it, say) it moves to a blocking thread, so a stuck database never holds
//! an async worker. Connections are bounded.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use super::backend;
use crate::store::StoreError;

/// Busy wait of a read on the calling thread.
const INLINE_BUSY: Duration = Duration::from_millis(20);
/// Busy wait of a read on a blocking thread.
const BLOCKING_BUSY: Duration = Duration::from_secs(5);

/// A bounded pool of read connections to one database file.
pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection that may be open.
    open: Arc<Semaphore>,
}

impl Readers {
    pub fn new(path: &Path) -> Self {
        let max = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
        Readers { path: path.to_path_buf(), idle: Mutex::new(Vec::new()), open: Arc::new(Semaphore::new(max)) }
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        // Never creates a file: a database that went away is an error, not a new empty one.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(backend)?;
        conn.pragma_update(None, "query_only", true).map_err(backend)?;
        Ok(conn)
    }

    fn take_idle(&self) -> Option<Connection> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn give_back(&self, conn: Connection) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
    }

    /// Runs the point read `f` (an index look-up: microseconds), on the calling thread when
    /// an idle connection is at hand and the database is not busy, else on a blocking thread.
    pub async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl Fn(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        if let Some(conn) = self.take_idle() {
            conn.busy_timeout(INLINE_BUSY).map_err(backend)?;
            let out = f(&conn);
            self.give_back(conn);
            match out {
                Err(StoreError::Backend(e)) if e.contains("locked") || e.contains("busy") => {}
                done => return done,
            }
        }
        self.clone().read_blocking(f).await
    }

    /// Runs the read `f` on a blocking thread (reads that may take a while: pages of a
    /// listing), waiting for a free connection.
    pub async fn read_blocking<T: Send + 'static>(
        self: Arc<Self>,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let permit = self.open.clone().acquire_owned().await.map_err(backend)?;
        tokio::task::spawn_blocking(move || {
            let out = self.read_here(f);
            drop(permit);
            out
        })
        .await
        .map_err(backend)?
    }

    /// Runs `f` on a reader from a thread that may block (the policy's questions).
    pub fn read_here<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let conn = match self.take_idle() {
            Some(c) => c,
            None => self.connect()?,
        };
        conn.busy_timeout(BLOCKING_BUSY).map_err(backend)?;
        let out = f(&conn);
        self.give_back(conn);
        out
    }
}
