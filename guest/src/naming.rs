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
                if keep == 0 {
                    // Even without the name the time is too long (an absurd time): keep the
                    // end of the encoding, which still tells retries apart.
                    break s[s.len() - MAX_STEM..].to_string();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing: a time whose decimal form alone is over the stem limit made
    /// the `base64` rule loop forever.
    #[test]
    fn absurd_time_still_gets_a_short_name() {
        for time in [2.66e184, f64::MAX, f64::MIN_POSITIVE, 5e-324] {
            let a = name("base64", "a.png", time, 0, "", "png").unwrap();
            let b = name("base64", "a.png", time, 1, "", "png").unwrap();
            assert!(a.len() <= MAX_STEM + 4 && b.len() <= MAX_STEM + 4, "{a} {b}");
            assert_ne!(a, b);
        }
    }
}
