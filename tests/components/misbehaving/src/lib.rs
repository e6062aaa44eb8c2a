//! A test policy. It accepts anything that starts like a PNG, names files
//! `t-<digest>.png`, lets anyone (also anonymous callers) upload and list, and
//! misbehaves when the upload's file name asks it to:
//!
//! | file name starts with | `judge` does (after any stripping below) |
//! |---|---|
//! | `trap`  | traps (`unreachable`) |
//! | `loop`  | loops forever |
//! | `hog`   | allocates memory without bound |
//! | `slow`  | spins for `test.slow_ms` ms (setting), then accepts |
//! | `sleep` | sleeps an hour (`std::thread::sleep`: WASI poll) |
//! | `yell`  | writes 1 MiB to stderr, then accepts |
//! | `mime-html` | accepts the file as `text/html` |
//! | `thumb-trap` | traps when a thumbnail is wanted, else accepts |
//!
//! | file name starts with | `name` returns |
//! |---|---|
//! | `slash` | `a/b.png` |
//! | `dots`  | `../../etc/passwd` |
//! | `nul`   | a name with a NUL byte |
//! | `long`  | a 10 KB name |
//! | `status`| a rejection with status 200 |
//! | `clash` | `t-clash.png` at the first attempt; later attempts spin `test.slow_ms` first |
//! | `peek`  | a rejection describing what it could see: files, environment, clock |
//! | `memo`  | `t-memo-N.png`, N the bytes earlier code left in its memory (see `leftovers`) |
//!
//! | file name starts with | `judge` with `strip` answers `stripped` with |
//! |---|---|
//! | `strip-range` | a kept range past the end of the upload |
//! | `strip-grow`  | 8 MiB of inserted bytes |
//! | `strip-swap`  | an HTML page instead of the image |
//! | `strip-tail`  | the upload plus 20 more bytes |
//! | `strip-huge` | 64 inserted pieces of 1 MiB each (far over what the host copies) |
//! | `strip-overlap` | the first bytes twice, in two ranges that overlap (same total size) |
//! | `strip-again` | all but the last byte — also when the host did not ask to strip |
//!
//! `admit` refuses files whose name starts with `admit-` (403 `not_admitted`, the usage it
//! was given in the message).
//!
//! `authorize` refuses the admin actions (403 `forbidden`) and allows the rest; with the
//! setting `test.max_content_length` (bytes) it also refuses an `image-upload` whose
//! `content-length` fact is above it (413 `declared_too_large`, the length it was told in
//! the message). Without the setting, or without a Content-Length, uploads are allowed.
//!
//! The setting `test.self_test` = `fail` makes `self-test` fail, `sleep` makes it sleep an
//! hour; `test.version` sets the
//! version `info` reports.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "policy",
});

use exports::imgbed::policy::api::Guest;
use imgbed::policy::host::{self, Body};
use imgbed::policy::types::{
    Action, Facts, Judgement, Media, MediaKind, Piece, PolicyInfo, Principal, Rejection, RequestedAction, Span,
    Thumbnail, Upload, Usage, Verdict, Wanted,
};

struct TestPolicy;

/// No clock in the sandbox: spins a calibrated amount of work instead (about `ms` ms).
fn spin(ms: u64) {
    let mut x = 0u64;
    for i in 0..ms * 200_000 {
        x = std::hint::black_box(x ^ i);
    }
}

/// Counts the bytes that differ from their initial value in three probes of linear memory,
/// then overwrites them all (0xAB): a zeroed static buffer and a static initialised to 0x5A
/// (data, after the stack), and the lowest 64 KiB of the stack (the first pages of linear
/// memory, which calls never reach). A fresh instance finds nothing changed; a second call
/// in the same instance finds the marks.
fn leftovers() -> usize {
    const N: usize = 64 * 1024;
    static mut SCRATCH: [u8; N] = [0; N];
    static mut INITIAL: [u8; N] = [0x5A; N];
    let mut seen = 0;
    // SAFETY: a test component probing its own linear memory; the ranges are in bounds and
    // used by nothing else: the stack is [0, 1 MiB) growing down (rustc links wasm with
    // `--stack-first`), checked by the statics lying above it.
    unsafe {
        let scratch = core::ptr::addr_of_mut!(SCRATCH).cast::<u8>();
        let initial = core::ptr::addr_of_mut!(INITIAL).cast::<u8>();
        assert!(scratch as usize >= 1 << 20 && initial as usize >= 1 << 20, "the stack is not first");
        let low = 1024usize as *mut u8;
        for (base, fresh) in [(scratch, 0), (initial, 0x5A), (low, 0)] {
            for i in 0..N {
                let p = base.add(i);
                if p.read_volatile() != fresh {
                    seen += 1;
                }
                p.write_volatile(0xAB);
            }
        }
    }
    seen
}

fn reject(status: u16, code: &str, message: &str) -> Rejection {
    Rejection { status, code: code.into(), message: message.into() }
}

impl Guest for TestPolicy {
    fn info() -> PolicyInfo {
        PolicyInfo {
            name: "imgbed-test".into(),
            version: host::setting("test.version").unwrap_or_else(|| "0.1.0".into()),
        }
    }

    fn configure(_settings: Vec<(String, String)>) -> Result<(), String> {
        Ok(())
    }

    fn self_test() -> Result<(), String> {
        match host::setting("test.self_test").as_deref() {
            Some("fail") => Err("self-test failed on purpose".into()),
            Some("sleep") => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn judge(upload: Upload, data: &Body, wanted: Wanted) -> Result<Judgement, Rejection> {
        if wanted.strip || upload.filename.starts_with("strip-again") {
            if let Some(pieces) = strip(&upload, data) {
                return Ok(Judgement::Stripped(pieces));
            }
        }
        let f = upload.filename.as_str();
        if f.starts_with("trap") {
            unreachable!("trap requested");
        }
        if f.starts_with("loop") {
            let mut n = 0u64;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        if f.starts_with("hog") {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        if f.starts_with("sleep") {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
        if f.starts_with("yell") {
            let line = "x".repeat(1023);
            for _ in 0..1024 {
                eprintln!("{line}");
            }
        }
        if f.starts_with("thumb-trap") && wanted.thumbnail_width.is_some() {
            unreachable!("trap while making a thumbnail");
        }
        if f.starts_with("slow") {
            spin(host::setting("test.slow_ms").and_then(|v| v.parse().ok()).unwrap_or(100));
        }
        let head = data.read(0, 8);
        if head != b"\x89PNG\r\n\x1a\n" {
            return Err(reject(415, "unsupported_type", "test policy: PNG only"));
        }
        let media = Media {
            kind: MediaKind::Image,
            format: "png".into(),
            extension: "png".into(),
            mime: if f.starts_with("mime-html") { "text/html".into() } else { "image/png".into() },
            width: 1,
            height: 1,
            frames: 1,
            duration_ms: None,
            codec: None,
        };
        let thumbnail = if wanted.thumbnail_width.is_some() { Thumbnail::NotSupported } else { Thumbnail::NotAsked };
        Ok(Judgement::Judged(Verdict { media, thumbnail }))
    }

    fn name(upload: Upload, _media: Media, _rule: String, attempt: u32) -> Result<String, Rejection> {
        let f = upload.filename.as_str();
        let short: String = upload.digest.chars().take(24).collect();
        Ok(match f {
            _ if f.starts_with("slash") => "a/b.png".into(),
            _ if f.starts_with("dots") => "../../etc/passwd".into(),
            _ if f.starts_with("nul") => "a\0b.png".into(),
            _ if f.starts_with("long") => "x".repeat(10_000),
            _ if f.starts_with("status") => return Err(reject(200, "fine", "not an error status")),
            _ if f.starts_with("peek") => {
                let files = std::fs::read_dir("/").is_ok() || std::fs::read("/etc/passwd").is_ok();
                let env = std::env::vars().count() + std::env::args().count();
                let time =
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                return Err(reject(400, "peek", &format!("files={files} env={env} time={time}")));
            }
            _ if f.starts_with("memo") => format!("t-memo-{}.png", leftovers()),
            _ if f.starts_with("clash") && attempt == 0 => "t-clash.png".into(),
            _ if f.starts_with("clash") => {
                spin(host::setting("test.slow_ms").and_then(|v| v.parse().ok()).unwrap_or(100));
                format!("t-{short}-{}.png", attempt)
            }
            _ if attempt > 0 => format!("t-{short}-{}.png", attempt),
            _ => format!("t-{short}.png"),
        })
    }

    fn authorize(action: RequestedAction, _principal: Principal, facts: Facts) -> Result<(), Rejection> {
        match action {
            RequestedAction::Known(Action::AdminUsers | Action::AdminRemoveUser | Action::AdminInitDb) => {
                Err(reject(403, "forbidden", "test policy: no admin"))
            }
            RequestedAction::Known(Action::ImageUpload) => declared_length_allowed(&facts),
            _ => Ok(()),
        }
    }

    fn admit(_principal: Principal, upload: Upload, usage: Usage) -> Result<(), Rejection> {
        if upload.filename.starts_with("admit-") {
            return Err(reject(403, "not_admitted", &format!("usage images={} bytes={}", usage.images, usage.bytes)));
        }
        Ok(())
    }
}

/// An upload whose `content-length` fact is above the setting `test.max_content_length`
/// is refused (413 `declared_too_large`); no setting or no length: allowed.
fn declared_length_allowed(facts: &Facts) -> Result<(), Rejection> {
    let limit = host::setting("test.max_content_length").and_then(|v| v.parse::<u64>().ok());
    match (facts.content_length, limit) {
        (Some(declared), Some(limit)) if declared > limit => {
            Err(reject(413, "declared_too_large", &format!("test policy: content-length {declared} over {limit}")))
        }
        _ => Ok(()),
    }
}

/// The misbehaving strips the file name asks for.
fn strip(upload: &Upload, data: &Body) -> Option<Vec<Piece>> {
    let f = upload.filename.as_str();
    let size = data.size();
    if f.starts_with("strip-range") {
        return Some(vec![Piece::Keep(Span { offset: size, len: 10 })]);
    }
    if f.starts_with("strip-grow") {
        return Some(vec![Piece::Insert(vec![0; 8 << 20])]);
    }
    if f.starts_with("strip-swap") {
        return Some(vec![Piece::Insert(b"<html><script>alert(1)</script></html>".to_vec())]);
    }
    if f.starts_with("strip-huge") {
        return Some((0..64).map(|i| Piece::Insert(vec![i as u8; 1 << 20])).collect());
    }
    if f.starts_with("strip-overlap") {
        // The same total as the upload, so only an overlap check can tell.
        return Some(vec![Piece::Keep(Span { offset: 0, len: size - 20 }), Piece::Keep(Span { offset: 0, len: 20 })]);
    }
    if f.starts_with("strip-tail") {
        // Keeps the first 20 bytes twice: a different file that still starts like a PNG.
        return Some(vec![Piece::Keep(Span { offset: 0, len: size }), Piece::Keep(Span { offset: 0, len: 20 })]);
    }
    if f.starts_with("strip-again") && upload.size > 20 {
        // Strips on every call, also when asked to judge the stripped file: the host
        // must not loop.
        return Some(vec![Piece::Keep(Span { offset: 0, len: size - 1 })]);
    }
    None
}

export!(TestPolicy);
