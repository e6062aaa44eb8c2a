//! Folder syncs shared by concurrent writers of one folder. A writer that has made a
//! name needs a sync of the folder that *starts after* its change; one sync serves every
//! writer that asked before it started, so many uploads landing at once cost one folder
//! sync, not one each.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Mutex;

use super::sync_dir;

#[derive(Debug, Default)]
pub struct SharedSync {
    /// Tickets handed out: one per writer that asked.
    asked: AtomicU64,
    /// The highest ticket a finished sync covered.
    covered: Mutex<u64>,
    /// Syncs done.
    done: AtomicU64,
}

impl SharedSync {
    /// Returns once `dir` was synced by a sync that started after this call.
    pub fn sync(&self, dir: &Path) -> io::Result<()> {
        let mine = self.asked.fetch_add(1, SeqCst) + 1;
        let mut covered = self.covered.lock().unwrap_or_else(|p| p.into_inner());
        if *covered >= mine {
            return Ok(());
        }
        // Every ticket taken until now was taken after its writer's change: covered.
        let upto = self.asked.load(SeqCst);
        sync_dir(dir)?;
        *covered = upto;
        self.done.fetch_add(1, SeqCst);
        Ok(())
    }

    /// Folder syncs done so far.
    pub fn done(&self) -> u64 {
        self.done.load(SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn writers_waiting_behind_a_sync_share_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let syncs = Arc::new(SharedSync::default());
        syncs.sync(dir.path()).unwrap();
        syncs.sync(dir.path()).unwrap();
        assert_eq!(syncs.done(), 2, "one after the other: a sync each");

        // Eight writers ask while a sync is running (the lock is held): one sync serves them.
        let running = syncs.covered.lock().unwrap();
        let writers: Vec<_> = (0..8)
            .map(|_| {
                let (syncs, dir) = (syncs.clone(), dir.path().to_path_buf());
                std::thread::spawn(move || syncs.sync(&dir))
            })
            .collect();
        while syncs.asked.load(SeqCst) < 10 {
            std::thread::yield_now();
        }
        drop(running);
        for w in writers {
            w.join().unwrap().unwrap();
        }
        assert_eq!(syncs.done(), 3);

        // A folder that cannot be synced fails the writer, and the next one tries again.
        let gone = dir.path().join("missing");
        assert!(syncs.sync(&gone).is_err());
        assert!(syncs.sync(&gone).is_err());
        syncs.sync(dir.path()).unwrap();
        assert_eq!(syncs.done(), 4);
    }
}
