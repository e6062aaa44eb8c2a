//! Naming rules. The seed's `base64` and `md5` rules hash the lower-cased
//! client file name plus the receive time; `content` names by the file's digest.

use base64::Engine as _;
use md5::{Digest, Md5};

use crate::refusal::Refusal;

/// The rules this policy knows.
pub const RULES: &[&str] = &["base64", "md5", "content"];

/// Longest stem we produce; the host refuses names over 200 bytes.
const MAX_STEM: usize = 128;

/// Python's `str(float)` for the times we get (shortest round-trip digits, always a dot).
pub fn py_time(t: f64) -> String {
    let s = format!("{t}");
    if s.contains('.') || s.contains('e') || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

/// The string the seed rules hash: `lower(filename) + str(time)`, plus `-N` on retries.
fn seed_input(filename: &str, time: f64, attempt: u32, keep_chars: usize) -> String {
    let lower: String = filename.to_lowercase().chars().take(keep_chars).collect();
    let mut s = format!("{lower}{}", py_time(time));
    if attempt > 0 {
        s.push_str(&format!("-{attempt}"));
    }
    s
}

/// The stored name for an upload under `rule`.
pub fn name(
    rule: &str,
    filename: &str,
    time: f64,
    attempt: u32,
    digest: &str,
    extension: &str,
) -> Result<String, Refusal> {
    let stem = match rule {
        "base64" => {
            // The seed used the standard alphabet, whose '/' and '+' broke saving; use the
            // URL- and path-safe one, without padding. Long client names are cut to fit.
            let mut keep = usize::MAX;
            loop {
                let s = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(seed_input(filename, time, attempt, keep).as_bytes());
                if s.len() <= MAX_STEM {
                    break s;
                }
                keep = filename.chars().count().min(keep).saturating_sub(8);
            }
        }
        "md5" => {
            let hash = Md5::digest(seed_input(filename, time, attempt, usize::MAX).as_bytes());
            hex(&hash)
        }
        "content" => {
            let short: String = digest.chars().filter(|c| c.is_ascii_hexdigit()).take(32).collect();
            if attempt > 0 {
                format!("{short}-{attempt}")
            } else {
                short
            }
        }
        other => return Err(Refusal::unknown_rule(other)),
    };
    Ok(format!("{stem}.{extension}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
