//! Compiling a component in a child process: the server runs its own binary with
//! [`CHILD_ARG`], hands it the component on stdin and takes the compiled artifact from
//! stdout. The compiler's peak and its arenas live and die with the child, so after a
//! start or a swap the server's resident memory is what loading a cached artifact
//! gives, and a component that blows the compiler up kills only the child. The child
//! builds its engine from the same [`Limits`], so the artifact fits the server's engine
//! (wasmtime checks that again when it is loaded).
//!
//! Only the `imgbed` binary turns this on ([`enable`], from `main`): a library user's
//! executable is not a compiler.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::Limits;

/// The first argument that makes the binary a compiler child instead of the CLI.
pub const CHILD_ARG: &str = "__compile-policy";

/// The child's exit status for a component that does not compile (its reason on stderr).
const NOT_A_COMPONENT: i32 = 2;

/// Longest a compile may take; a child still running then is killed and the candidate
/// refused.
const COMPILE_LIMIT: Duration = Duration::from_secs(300);

static EXECUTABLE: OnceLock<PathBuf> = OnceLock::new();

/// Compile out of process from now on, in children of the running executable (on Linux
/// `/proc/self/exe`: the very file that runs, even if an upgrade replaced it on disk).
pub fn enable() {
    let exe = Path::new("/proc/self/exe");
    let exe = if exe.exists() { Some(exe.to_path_buf()) } else { std::env::current_exe().ok() };
    if let Some(exe) = exe {
        let _ = EXECUTABLE.set(exe);
    }
}

/// The executable that compiles out of process, once [`enable`]d.
pub fn executable() -> Option<PathBuf> {
    EXECUTABLE.get().cloned()
}

/// How compiling in a child went.
#[derive(Debug)]
pub enum Outcome {
    /// The compiled artifact.
    Compiled(Vec<u8>),
    /// The child compiled and said no, died, or ran out of time: the candidate is refused.
    Refused(String),
    /// No child could do the work (could not start, or broke down before compiling).
    Unavailable(String),
}

/// Compiles `wasm` in a child run of `exe` under the engine `limits` make.
pub fn in_child(exe: &Path, limits: &Limits, wasm: &[u8]) -> Outcome {
    let child = Command::new(exe)
        .arg(CHILD_ARG)
        .args([limits.memory_bytes, limits.workers, limits.heavy_workers].map(|n| n.to_string()))
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Outcome::Unavailable(format!("starting {}: {e}", exe.display())),
    };
    let (mut stdin, mut stdout, mut stderr) =
        (child.stdin.take().expect("piped"), child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
    let (written, out, err, status) = std::thread::scope(|scope| {
        // Written and read beside each other: neither side of a pipe may block the other.
        let writer = scope.spawn(move || stdin.write_all(wasm));
        let reader = scope.spawn(move || {
            let mut out = Vec::new();
            stdout.read_to_end(&mut out).map(|_| out)
        });
        let errors = scope.spawn(move || {
            let mut err = Vec::new();
            let _ = stderr.read_to_end(&mut err);
            err.truncate(64 * 1024);
            err
        });
        let status = wait_at_most(&mut child, COMPILE_LIMIT);
        (writer.join(), reader.join(), errors.join(), status)
    });
    let why = String::from_utf8_lossy(&err.unwrap_or_default()).trim().to_string();
    let status = match status {
        Ok(Some(status)) => status,
        Ok(None) => return Outcome::Refused(format!("compiling took over {} s", COMPILE_LIMIT.as_secs())),
        Err(e) => return Outcome::Unavailable(format!("waiting for the compiler: {e}")),
    };
    if status.code() == Some(NOT_A_COMPONENT) {
        return Outcome::Refused(why);
    }
    if !status.success() {
        return match status.code() {
            // Killed by a signal (out of memory, say): compiling here would meet the same end.
            None => Outcome::Refused(format!("the compiler died ({status}) {why}")),
            Some(_) => Outcome::Unavailable(format!("the compiler {status}: {why}")),
        };
    }
    match (written, out) {
        (Ok(Ok(())), Ok(Ok(artifact))) => Outcome::Compiled(artifact),
        _ => Outcome::Unavailable("the pipe to the compiler broke".into()),
    }
}

/// Waits for `child` at most `limit`: its status, or `None` when it was killed then.
fn wait_at_most(child: &mut std::process::Child, limit: Duration) -> std::io::Result<Option<std::process::ExitStatus>> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The child's side: `memory_bytes workers heavy_workers` in `args`, a component on
/// stdin; writes the artifact to stdout. Returns the exit status.
pub fn child_main(args: &[std::ffi::OsString]) -> i32 {
    let n = |i: usize| -> Result<usize, String> {
        args.get(i).and_then(|a| a.to_str()?.parse().ok()).ok_or_else(|| format!("argument {i}: a number"))
    };
    let setup = || -> Result<(wasmtime::Engine, Vec<u8>), String> {
        let limits =
            Limits { memory_bytes: n(0)?, workers: n(1)?, heavy_workers: n(2)?, deadline: Duration::from_secs(1) };
        let mut wasm = Vec::new();
        std::io::stdin().read_to_end(&mut wasm).map_err(|e| e.to_string())?;
        let engine = super::engine::engine(&limits).map_err(|e| e.to_string())?;
        Ok((engine, wasm))
    };
    let (engine, wasm) = match setup() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    match engine.precompile_component(&wasm) {
        Ok(artifact) => match std::io::stdout().write_all(&artifact) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("{e}");
                1
            }
        },
        Err(e) => {
            eprintln!("{e:#}");
            NOT_A_COMPONENT
        }
    }
}
