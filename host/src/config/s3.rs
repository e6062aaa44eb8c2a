//! The `database.s3` section: an S3-compatible bucket for stored files
//! (`database.blob: "s3"`). The secret never appears in `Debug` output or logs.

use serde::{Deserialize, Serialize};

/// Where and how to reach the bucket.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// `http(s)://host[:port]` of an S3-compatible service; empty means AWS S3 itself.
    pub endpoint: String,
    /// Region the requests are signed for.
    pub region: String,
    /// The bucket (it must exist: imgbed never creates one).
    pub bucket: String,
    /// Key prefix every object of this install goes under, e.g. "imgbed/" (lets
    /// several installs, or other data, share a bucket).
    pub prefix: String,
    /// Path-style addressing (`endpoint/bucket/key`), which most self-hosted services
    /// need; false for virtual-hosted style (`bucket.endpoint/key`).
    pub path_style: bool,
    /// Access key id; with `secret_key` empty too, requests are sent unsigned.
    pub access_key: String,
    /// Secret access key (never logged; set it through `IMGBED__DATABASE__S3__SECRET_KEY`).
    pub secret_key: String,
    /// Milliseconds one request may take (to its answer's headers; each part of an
    /// upload; each piece of a download) before it fails: a 503 for the request.
    pub timeout_ms: u64,
    /// Milliseconds to open a connection.
    pub connect_timeout_ms: u64,
    /// Retries of a failed request (within `timeout_ms`).
    pub retries: u32,
    /// Upload part size, MiB (5–512): the most of a file held in memory per upload.
    pub part_size_mb: u64,
    /// Parts' worth of bytes sent at once over all uploads (small files count by their
    /// size): uploads to S3 hold at most this many parts in memory, however many run.
    pub parts_in_flight: u32,
    /// Seconds an object without a name (an upload between its object and its name on
    /// some host) is left alone before start-up moves it to quarantine.
    pub grace_s: u64,
    /// Public base URL of the bucket's objects (a CDN or the bucket's own address),
    /// e.g. "https://cdn.example.com/"; empty: files are served through imgbed only.
    pub public_url: String,
    /// With `public_url`: `GET /images/{name}` answers with a redirect there.
    pub redirect: bool,
    /// With `public_url`: the links answers give (`url`, the web UI's, the snippets) point
    /// at the object there (`public_url` + its key, which the record keeps) instead of
    /// at `/images/{name}`.
    pub public_links: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: String::new(),
            region: "us-east-1".into(),
            bucket: String::new(),
            prefix: "imgbed/".into(),
            path_style: true,
            access_key: String::new(),
            secret_key: String::new(),
            timeout_ms: 10_000,
            connect_timeout_ms: 2_000,
            retries: 2,
            part_size_mb: 8,
            parts_in_flight: 4,
            grace_s: 900,
            public_url: String::new(),
            redirect: false,
            public_links: false,
        }
    }
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("path_style", &self.path_style)
            .field("access_key", &self.access_key)
            .field("secret_key", &if self.secret_key.is_empty() { "" } else { "***" })
            .field("timeout_ms", &self.timeout_ms)
            .finish_non_exhaustive()
    }
}

/// Checks the section when the files are in S3.
pub fn validate(s: &S3Config) -> Result<(), (String, String)> {
    let bad = |key: &str, message: &str| Err((format!("database.s3.{key}"), message.to_string()));
    if s.bucket.is_empty() {
        return bad("bucket", "is required with database.blob \"s3\"");
    }
    let http = |url: &str| url.starts_with("http://") || url.starts_with("https://");
    if !s.endpoint.is_empty() && !http(&s.endpoint) {
        return bad("endpoint", "must be an http:// or https:// URL (or empty for AWS)");
    }
    let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.');
    if !s.prefix.chars().all(safe) || s.prefix.starts_with('/') || s.prefix.contains("//") || s.prefix.contains("..") {
        return bad("prefix", "may hold only letters, digits and / - _ . (no leading /, no // or ..)");
    }
    if s.access_key.is_empty() != s.secret_key.is_empty() {
        return bad("secret_key", "access_key and secret_key go together (both empty: unsigned requests)");
    }
    if s.timeout_ms == 0 || s.connect_timeout_ms == 0 {
        return bad("timeout_ms", "timeouts must be above 0");
    }
    if s.parts_in_flight == 0 {
        return bad("parts_in_flight", "must be at least 1");
    }
    if !(5..=512).contains(&s.part_size_mb) {
        return bad("part_size_mb", "must be between 5 and 512 (S3's smallest part is 5 MiB)");
    }
    if !s.public_url.is_empty() && !http(&s.public_url) {
        return bad("public_url", "must be an http:// or https:// URL");
    }
    if s.redirect && s.public_url.is_empty() {
        return bad("redirect", "needs public_url");
    }
    if s.public_links && s.public_url.is_empty() {
        return bad("public_links", "needs public_url");
    }
    Ok(())
}
