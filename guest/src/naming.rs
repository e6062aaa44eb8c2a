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
fn seed_input(filename: &str, time: f64, attempt: u32) -> String {
    format!("{}{}", filename.to_lowercase(), seed_tail(time, attempt))
}

fn seed_tail(time: f64, attempt: u32) -> String {
    let mut s = py_time(time);
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
            // URL- and path-safe one, without padding. Long client names are cut to fit,
            // eight characters at a time; the cut is found on byte offsets, not by encoding
            // every candidate (which took quadratic time in the name's length).
            let lower = filename.to_lowercase();
            let tail = seed_tail(time, attempt);
            let starts: Vec<usize> = lower.char_indices().map(|(i, _)| i).collect();
            let prefix = |keep: usize| &lower[..starts.get(keep).copied().unwrap_or(lower.len())];
            // Unpadded base64 of n bytes is ceil(4n / 3) characters.
            let fits = |keep: usize| (prefix(keep).len() + tail.len()) * 4 <= MAX_STEM * 3;
            let count = filename.chars().count();
            let mut keep = usize::MAX;
            while keep > 0 && !fits(keep) {
                keep = count.min(keep).saturating_sub(8);
            }
            let s = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}{tail}", prefix(keep)));
            // Even without the name an absurd time may be too long: keep the end of the
            // encoding, which still tells retries apart.
            s[s.len().saturating_sub(MAX_STEM)..].to_string()
        }
        "md5" => {
            let hash = Md5::digest(seed_input(filename, time, attempt).as_bytes());
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

    /// The cut the seed-compatible loop made: encode, and while too long drop eight more characters.
    fn cut_by_encoding(filename: &str, time: f64, attempt: u32) -> String {
        let mut keep = usize::MAX;
        loop {
            let lower: String = filename.to_lowercase().chars().take(keep).collect();
            let s = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(format!("{lower}{}", seed_tail(time, attempt)).as_bytes());
            if s.len() <= MAX_STEM || keep == 0 {
                break s;
            }
            keep = filename.chars().count().min(keep).saturating_sub(8);
        }
    }

    /// Found by fuzzing: cutting a long name took quadratic time. The cut is still the same.
    #[test]
    fn long_names_are_cut_as_before_in_linear_time() {
        for len in [0, 1, 7, 8, 9, 60, 80, 85, 86, 87, 95, 96, 97, 150, 1000] {
            for unit in ["a", "é", "İ", "名", "ǅx"] {
                let filename = unit.repeat(len);
                for (time, attempt) in [(1_700_000_000.25, 0), (1.5, 12), (1e15, 4_000_000_000)] {
                    let got = name("base64", &filename, time, attempt, "", "png").unwrap();
                    assert_eq!(got, format!("{}.png", cut_by_encoding(&filename, time, attempt)), "{len} x {unit}");
                }
            }
        }
        let started = std::time::Instant::now();
        let huge = "Ab".repeat(500_000);
        assert!(name("base64", &huge, 1_700_000_000.0, 0, "", "png").unwrap().len() <= MAX_STEM + 4);
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
    }
}
