//! Stored names: which are safe as file names, and the names derived from them.
//! The policy proposes names; the host accepts only these.

/// Longest stored name, in bytes.
pub const MAX_NAME_LEN: usize = 200;

/// Whether `name` is safe to use as a file name in the storage directory:
/// 1–200 bytes of `[A-Za-z0-9._-]`, not starting with a dot.
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('.')
        && !name.contains("..")
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The thumbnail file name of a stored name.
pub fn thumb_name(name: &str) -> String {
    format!("{name}.png")
}
