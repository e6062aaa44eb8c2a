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
    // Only the kept characters are lower-cased: the cost is bounded by what is kept,
    // not by how long a name the client sent.
    let lower: String = filename.chars().take(keep_chars).flat_map(char::to_lowercase).collect();
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
            // Base64 makes 4 characters of 3 bytes: at most this many input bytes fit.
            let fits = MAX_STEM / 4 * 3;
            let mut keep = usize::MAX;
            loop {
                let s = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(seed_input(filename, time, attempt, keep).as_bytes());
                if s.len() <= MAX_STEM {
                    break s;
                }
                // Straight to a size that can fit, then a few characters at a time
                // (characters may take several bytes): a handful of rounds, whatever the name.
                keep = keep.min(fits).saturating_sub(8);
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
