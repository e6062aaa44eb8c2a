//! The WASI a policy gets: enough that what Rust's `std` calls routinely answers
//! (an empty environment, frozen clocks, no preopened folders, random bytes, stderr),
//! and nothing that could block a worker or reach out. Waiting — `poll`, a pollable's
//! `block`, clock subscriptions — traps at once: epoch interruption cannot stop a host
//! call, so a guest sleeping in one would hold a worker (or, in `self-test`, the swap
//! lock) for as long as it liked. Sockets are off; there is nothing to open.
//! stderr goes to the log, capped.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wasmtime::component::Linker;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use super::bindings::State;

/// The WASI version wasmtime-wasi links (guests importing any 0.2.x match it).
const WASI: &str = "0.2.12";

/// Functions that wait, by interface: they trap instead.
const WAITING: &[(&str, &[&str])] = &[
    ("wasi:io/poll", &["poll", "[method]pollable.block"]),
    ("wasi:clocks/monotonic-clock", &["subscribe-instant", "subscribe-duration"]),
];

/// Adds WASI with the waiting functions replaced by traps.
pub fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    for (interface, functions) in WAITING {
        let mut instance = linker.instance(&format!("{interface}@{WASI}"))?;
        for name in *functions {
            let what = format!("{interface}#{name}");
            instance.func_new(name, move |_store, _ty, _params, _results| {
                Err(wasmtime::Error::msg(format!(
                    "{what} is not available in the imgbed sandbox: policies may not wait"
                )))
            })?;
        }
    }
    linker.allow_shadowing(false);
    Ok(())
}

/// Most stderr bytes one policy call keeps for the log.
pub const MAX_STDERR: usize = 8 * 1024;

/// A guest's stderr: kept up to [`MAX_STDERR`] bytes, the rest dropped (never an error,
/// which Rust's `eprintln!` would turn into a panic).
#[derive(Clone, Default)]
pub struct CappedStderr(Arc<Mutex<Vec<u8>>>);

impl CappedStderr {
    /// What was written, as text, and forgets it.
    pub fn take(&self) -> String {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl IsTerminal for CappedStderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedStderr {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(tokio::io::sink())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for CappedStderr {
    async fn ready(&mut self) {}
}

impl OutputStream for CappedStderr {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let room = MAX_STDERR.saturating_sub(kept.len());
        kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(4096)
    }
}
