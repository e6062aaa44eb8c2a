//! Compiling a component in a child process: the server runs its own binary with
//! [`CHILD_ARG`], hands it the component on stdin and takes the compiled artifact from
//! stdout. The compiler's peak and its arenas live and die with the child, so after a
//! start or a swap the server's resident memory is what loading a cached artifact
//! gives. The child builds its engine from the same [`Limits`], so the artifact fits
//! the server's engine (wasmtime checks that again when it is loaded); any failure
//! makes the caller compile in process instead.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use super::Limits;

/// The first argument that makes the binary a compiler child instead of the CLI.
pub const CHILD_ARG: &str = "__compile-policy";

/// Compiles `wasm` in a child run of `exe` under the engine `limits` make: the artifact.
pub fn in_child(exe: &Path, limits: &Limits, wasm: &[u8]) -> Result<Vec<u8>, String> {
    let mut child = Command::new(exe)
        .arg(CHILD_ARG)
        .args([limits.memory_bytes, limits.workers, limits.heavy_workers].map(|n| n.to_string()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", exe.display()))?;
    let mut stdin = child.stdin.take().expect("piped");
    let out = std::thread::scope(|scope| {
        // Written beside the reading: a child that answers early must not block us.
        let writer = scope.spawn(move || stdin.write_all(wasm));
        let out = child.wait_with_output();
        let _ = writer.join();
        out
    })
    .map_err(|e| format!("waiting for the compiler: {e}"))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        return Err(format!("the compiler {}: {}", out.status, why.trim()));
    }
    Ok(out.stdout)
}

/// The child's side: `memory_bytes workers heavy_workers` in `args`, a component on
/// stdin; writes the artifact to stdout. Returns the exit status.
pub fn child_main(args: &[String]) -> i32 {
    let run = || -> Result<(), String> {
        let n = |i: usize| -> Result<usize, String> {
            args.get(i).and_then(|a| a.parse().ok()).ok_or_else(|| format!("argument {i}: a number"))
        };
        let limits = Limits {
            memory_bytes: n(0)?,
            workers: n(1)?,
            heavy_workers: n(2)?,
            deadline: std::time::Duration::from_secs(1),
        };
        let mut wasm = Vec::new();
        std::io::stdin().read_to_end(&mut wasm).map_err(|e| e.to_string())?;
        let engine = super::engine::engine(&limits).map_err(|e| e.to_string())?;
        let artifact = engine.precompile_component(&wasm).map_err(|e| format!("{e:#}"))?;
        std::io::stdout().write_all(&artifact).map_err(|e| e.to_string())
    };
    match run() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}
