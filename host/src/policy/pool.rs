//! Dedicated policy threads, started once: one set for cheap decisions (no hand-off to
//! tokio's blocking pool, which costs more than the call), and one for heavy work
//! (reading uploads) at a lower scheduling priority than everything else: when the
//! cores are busy, cheap decisions and the async workers go first, so a flood of
//! uploads cannot slow down reads. Heavy threads get the whole machine when nothing
//! else wants it.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use super::PolicyError;

type Job = Box<dyn FnOnce() + Send>;

/// How much nicer (in `nice` steps) heavy threads are than the rest of the server.
const NICER: i32 = 10;

/// A fixed set of threads taking jobs in arrival order.
pub struct PolicyThreads {
    jobs: mpsc::Sender<Job>,
    kind: &'static str,
}

/// The scheduling priority of a set of threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Normal,
    /// [`NICER`] steps below the rest of the server.
    Low,
}

/// Makes the calling thread nicer (Linux applies `setpriority` to the calling thread).
fn lower_priority() {
    // SAFETY: plain system calls on the calling thread; failures are harmless.
    unsafe {
        let now = libc::getpriority(libc::PRIO_PROCESS, 0);
        libc::setpriority(libc::PRIO_PROCESS, 0, (now + NICER).min(19));
    }
}

impl PolicyThreads {
    /// `threads` threads named `policy-{kind}-{i}`.
    pub fn new(kind: &'static str, threads: usize, priority: Priority) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("policy-{kind}-{i}"))
                .spawn(move || {
                    if priority == Priority::Low {
                        lower_priority();
                    }
                    loop {
                        let job = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match job {
                            // A panicking job must not take the thread with it.
                            Ok(job) => drop(std::panic::catch_unwind(AssertUnwindSafe(job))),
                            Err(_) => break,
                        }
                    }
                })
                .expect("spawn a policy thread");
        }
        PolicyThreads { jobs, kind }
    }

    /// Runs `f` on one of the threads and waits for its result.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, PolicyError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .map_err(|_| PolicyError::Unavailable(format!("the {} policy threads are gone", self.kind)))?;
        rx.await.map_err(|_| PolicyError::Trap("the policy thread panicked".into()))
    }
}
