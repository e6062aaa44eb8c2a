//! Dedicated threads for heavy policy work (reading uploads), at a lower scheduling
//! priority than everything else: when the cores are busy, cheap decisions and the
//! async workers go first, so a flood of uploads cannot slow down reads. They get the
//! whole machine when nothing else wants it.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use super::PolicyError;

type Job = Box<dyn FnOnce() + Send>;

/// How much nicer (in `nice` steps) heavy threads are than the rest of the server.
const NICER: i32 = 10;

/// A fixed set of low-priority threads.
pub struct HeavyPool {
    jobs: mpsc::Sender<Job>,
}

/// Makes the calling thread nicer (Linux applies `setpriority` to the calling thread).
fn lower_priority() {
    // SAFETY: plain system calls on the calling thread; failures are harmless.
    unsafe {
        let now = libc::getpriority(libc::PRIO_PROCESS, 0);
        libc::setpriority(libc::PRIO_PROCESS, 0, (now + NICER).min(19));
    }
}

impl HeavyPool {
    pub fn new(threads: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("policy-heavy-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match job {
                            // A panicking job must not take the thread with it.
                            Ok(job) => drop(std::panic::catch_unwind(AssertUnwindSafe(job))),
                            Err(_) => break,
                        }
                    }
                })
                .expect("spawn a heavy policy thread");
        }
        HeavyPool { jobs }
    }

    /// Runs `f` on one of the threads and waits for its result.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, PolicyError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .map_err(|_| PolicyError::Unavailable("the heavy policy threads are gone".into()))?;
        rx.await.map_err(|_| PolicyError::Trap("the policy thread panicked".into()))
    }
}
