//! The shape of `config.json`: one struct per section, every key documented.
//! Defaults are in `defaults.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ConnectionsConfig;

/// The whole configuration file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// TCP port; 0 lets the OS pick one (the chosen address is printed at start).
    pub port: u16,
    /// Address to listen on.
    pub bind: String,
    /// Debug logging (the original's Flask debug switch).
    pub debug: bool,
    /// `host[:port]` used in links when `public_url` is empty.
    pub server_name: Option<String>,
    /// `scheme://host[:port]` used in links; empty means `http://{server_name}`.
    pub public_url: String,
    /// Accepted for compatibility with the original; has no effect.
    pub multiroutine: bool,
    pub server: ServerConfig,
    pub video: VideoConfig,
    pub variants: VariantsConfig,
    pub database: DatabaseConfig,
    pub policy: PolicyConfig,
    pub auth: AuthConfig,
    pub mail: MailConfig,
    pub metrics: MetricsConfig,
    pub ip_filter: IpFilterConfig,
    pub cors: CorsConfig,
    pub log: LogConfig,
    pub connections: ConnectionsConfig,
}

/// Cross-origin requests from browser front-ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Allowed origins; `"*"` allows any (as the original did); empty disables CORS.
    pub origins: Vec<String>,
}

/// Allow/deny lists and rate limits per client address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IpFilterConfig {
    pub enabled: bool,
    /// Default rate: "N/S" = N requests per S seconds per client (per route with its own rule).
    pub rule: String,
    /// Ban after going over a rule, seconds.
    pub ban_s: u64,
    /// Rules for single routes (route template → "N/S"), counted on their own.
    pub routes: BTreeMap<String, String>,
    /// If not empty, only these addresses/CIDR ranges are served.
    pub allow: Vec<String>,
    /// Never served.
    pub deny: Vec<String>,
    /// Our own reverse proxies: only from them is a forwarding header believed.
    pub trusted_proxies: Vec<String>,
    /// The header those proxies write: "x-forwarded-for" (nginx's
    /// `$proxy_add_x_forwarded_for`), "forwarded" (RFC 7239) or "x-real-ip". The
    /// right-most address in it that is not a trusted proxy is the client.
    pub forwarded_header: String,
    /// `/images/*` and `/thumbs/*` are not rate limited.
    pub exempt_images: bool,
    /// Most clients tracked at once (memory bound).
    pub max_tracked: usize,
}

/// Prometheus metrics at `/metrics`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// Bearer token for `/metrics`; empty means open to loopback clients only.
    pub token: String,
}

/// Tokens and secrets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Require a token on image routes (the original's `JWT` switch). Off: requests
    /// without a token act as one local user.
    pub jwt: bool,
    /// HS256 secret for tokens. Empty: generated at first start and kept in
    /// `secrets.json`; hosts sharing a database must share it.
    pub secret: String,
    /// Admin token for `init_db` and moderation. Empty: generated like `secret`.
    pub admin_token: String,
    /// Lifetime of a mailed removal code, seconds.
    pub check_ttl_s: u64,
}

/// Outgoing mail (recovery and removal links).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// SMTP server; empty disables mail (`mail_for_reset` answers 502).
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// Sender address; empty → `user`.
    pub from: String,
    /// "implicit" (TLS from the first byte, port 465), "starttls" or "none".
    pub tls: String,
    pub subject: String,
    /// Body text; `{mail}`, `{token}`, `{link}` and `{minutes}` are replaced.
    pub template: String,
    /// A file holding the body template instead of `template` (relative to the config).
    pub template_file: String,
    /// Seconds to wait for the SMTP server.
    pub timeout_s: u64,
}

/// Storage and upload limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Image directory; empty means `images/` next to the config.
    pub image_path: String,
    /// Largest accepted image in bytes.
    pub image_size: u64,
    /// Base URL of stored images; empty means `{public_url}/images/`.
    pub image_url: String,
    /// Naming rule passed to the policy: "base64", "md5" (seed rules) or "content".
    pub image_rule: String,
    /// Make a thumbnail of every stored image (in the sandbox).
    pub image_zip: bool,
    /// Thumbnail directory; empty means `thumbs/` next to the config.
    pub image_zip_path: String,
    /// Thumbnail width in pixels (aspect kept, never enlarged).
    pub thumb_width: u32,
    pub max_width: u32,
    pub max_height: u32,
    pub max_pixels: u64,
    pub max_frames: u32,
    pub max_files_per_request: u32,
    pub max_per_page: u32,
    /// Remove EXIF (except the orientation), XMP, comments and text chunks from
    /// JPEG, PNG and WebP before storing; pixels are not re-encoded.
    pub strip_metadata: bool,
    /// Memory for hot files, MiB: small stored files (and thumbnails) are answered from
    /// memory once read (least recently used go first). 0 turns the cache off.
    pub file_cache_mb: u64,
    /// Largest file kept in that cache, KiB.
    pub file_cache_max_kb: u64,
}

/// Image variants by URL (`/images/{name}?w=640&format=webp`), made in the sandbox and cached.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VariantsConfig {
    /// Answer `?w=` / `?format=` on `/images/{name}`; off: such requests are a 400.
    pub enabled: bool,
    /// Widths that may be asked for (pixels); anything else is a 400.
    pub widths: Vec<u32>,
    /// Formats that may be asked for: any of "jpeg", "png", "webp" (WebP is lossless).
    pub formats: Vec<String>,
    /// JPEG quality, 1 to 100.
    pub quality: u8,
    /// Most bytes of variants kept, MiB; the least recently used go first.
    pub cache_mb: u64,
    /// Variant folder (local blob store); empty means `variants/` next to the config.
    pub path: String,
    /// Variants made at upload time, e.g. `[{"width": 320, "format": "webp"}]`
    /// (each in `widths` and `formats`).
    pub eager: Vec<EagerVariant>,
    /// Variants a client may have made (cache misses), "N/S": N per S seconds.
    pub miss_rate: String,
    /// Most `width × height × frames decoded` of a source a variant may cost; over it: 422.
    pub max_cost: u64,
}

/// One variant made at upload time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EagerVariant {
    pub width: u32,
    pub format: String,
}

/// Video uploads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VideoConfig {
    /// Accept video uploads (the containers in `formats`).
    pub enabled: bool,
    /// Largest accepted video in bytes. A file whose first bytes show an image
    /// is held to `server.image_size` instead.
    pub size: u64,
    /// Video containers accepted: any of "mp4", "mov", "webm".
    pub formats: Vec<String>,
    /// Longest accepted video, seconds.
    pub max_duration_s: u64,
    pub max_width: u32,
    pub max_height: u32,
}

/// Metadata storage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// "sqlite" or "mongo".
    pub engine: String,
    /// SQLite file: a path or the original's `sqlite:///file.db` URL.
    pub sqlite: String,
    /// MongoDB connection string (`mongodb://…/dbname`; database `imgbed` if none).
    pub mongo: String,
    /// Milliseconds every MongoDB operation may take before it fails (a 503 for a request;
    /// whole-collection scans get 100 times this); also the start-up wait for a server.
    pub timeout_ms: u64,
    /// Where stored files live: "local" (the image folder), "mongo" (chunk collections
    /// in the MongoDB database, shared by every host; needs `engine: "mongo"`; "gridfs" is
    /// an old name for it) or "s3" (an S3-compatible bucket, see `s3`).
    pub blob: String,
    /// With `engine: "mongo"` and `blob: "local"`: the operator states only one host runs
    /// (several hosts would each keep part of the files in their own folder). Refused otherwise.
    pub single_host: bool,
    /// The bucket, with `blob: "s3"`.
    pub s3: super::S3Config,
}

/// The policy component and its sandbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// A policy component (.wasm); empty means the built-in default policy.
    pub path: String,
    /// Reload the policy when the file at `path` changes.
    pub watch: bool,
    /// Compiled-policy cache folder; empty means `cache/` next to the config.
    pub cache_dir: String,
    /// Linear-memory cap per policy call, MiB.
    pub memory_mb: u32,
    /// Wall-clock deadline per policy call, milliseconds.
    pub deadline_ms: u64,
    /// Concurrent cheap policy calls (`authorize`, naming), on as many dedicated threads;
    /// 0 means one per CPU core.
    pub workers: u32,
    /// Concurrent heavy policy calls (reading an upload: stripping, inspecting,
    /// thumbnailing), shared round-robin between clients, on threads of lower priority
    /// than everything else; 0 means one per CPU core.
    pub heavy_workers: u32,
    /// Extra settings handed to the policy (`setting(key)`), overriding the host's.
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Ed25519 public keys (base64): when any is set, every policy that arrives (admin
    /// API, SIGHUP, file watch, `path` and the kept one at start-up, the one shared
    /// through MongoDB) needs a detached signature by one of them. Empty: not checked.
    pub trusted_keys: Vec<String>,
    /// Shadow mode: the share of decisions (0 to 1) a loaded shadow policy is asked about.
    pub shadow_sample: f64,
    /// Shadow mode: the share (0 to 1) of the heavy capacity the shadow may use at once
    /// (at least one slot when above 0); with none free, a shadow call is skipped.
    pub shadow_share: f64,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Level filter: "error", "warn", "info", "debug", "trace" (or a tracing filter string).
    pub level: String,
    /// Folder for daily log files; empty means `logs/` next to the config.
    pub dir: String,
    /// Daily files kept; older ones are removed.
    pub keep_days: usize,
    /// Also write daily files (stdout/stderr always get the log).
    pub files: bool,
}
