//! Read connections beside the one writer. In WAL mode readers never wait for the
//! writer and each sees every committed write, so point reads (serving an image,
//! checking a token, the policy's usage questions) run on their own connections
//! instead of queueing behind uploads on the writer's lock.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::Connection;

use super::backend;
use crate::store::StoreError;

/// A small pool of read connections to one database file.
pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Most idle connections kept (more may be open for a moment under load).
    keep: usize,
}

impl Readers {
    pub fn new(path: &Path) -> Self {
        let keep = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
        Readers { path: path.to_path_buf(), idle: Mutex::new(Vec::new()), keep }
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open(&self.path).map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(backend)?;
        conn.pragma_update(None, "query_only", true).map_err(backend)?;
        Ok(conn)
    }

    /// Runs the read `f` on a pooled connection, on the calling thread. For point reads
    /// that take microseconds (an index look-up in pages the cache holds).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let taken = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match taken {
            Some(c) => c,
            None => self.open()?,
        };
        let out = f(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.keep {
            idle.push(conn);
        }
        out
    }

    /// Like [`Readers::read`], on a blocking thread: for reads that may take a while
    /// (pages of a listing).
    pub async fn read_blocking<T: Send + 'static>(
        self: std::sync::Arc<Self>,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        tokio::task::spawn_blocking(move || self.read(f)).await.map_err(backend)?
    }
}
