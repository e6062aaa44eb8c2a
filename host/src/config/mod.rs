//! Configuration: `config.json`, written with every default at first start.
//!
//! The original's keys keep their meaning (an original config loads unchanged).
//! The file is parsed once into [`Config`]; nothing else reads JSON keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod connections;
pub mod layout;

pub use connections::ConnectionsConfig;

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write default config {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("config {path}: key `{key}`: {message}")]
    Invalid { path: PathBuf, key: String, message: String },
}

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

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig { origins: vec!["*".into()] }
    }
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

impl Default for IpFilterConfig {
    fn default() -> Self {
        IpFilterConfig {
            enabled: true,
            rule: "120/60".into(),
            ban_s: 300,
            routes: BTreeMap::from([
                ("/api/get_token".to_string(), "10/60".to_string()),
                ("/api/mail_for_reset".to_string(), "5/300".to_string()),
            ]),
            allow: Vec::new(),
            deny: Vec::new(),
            trusted_proxies: Vec::new(),
            forwarded_header: "x-forwarded-for".into(),
            exempt_images: true,
            max_tracked: 100_000,
        }
    }
}

/// Prometheus metrics at `/metrics`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// Bearer token for `/metrics`; empty means open to loopback clients only.
    pub token: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { enabled: true, token: String::new() }
    }
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

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig { jwt: true, secret: String::new(), admin_token: String::new(), check_ttl_s: 1800 }
    }
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

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            host: String::new(),
            port: 465,
            user: String::new(),
            password: String::new(),
            from: String::new(),
            tls: "implicit".into(),
            subject: "Mgek_ImgBed认证密钥找回服务".into(),
            template: "您好 {mail}:\n\n您的密钥(token)是:\n{token}\n\n如需删除账户及其全部图片, 请在 {minutes} 分钟内打开:\n{link}\n\n如果不是您本人操作, 请忽略此邮件。\n".into(),
            template_file: String::new(),
            timeout_s: 15,
        }
    }
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

impl Default for VideoConfig {
    fn default() -> Self {
        VideoConfig {
            enabled: false,
            size: 100 * 1024 * 1024,
            formats: vec!["mp4".into(), "mov".into(), "webm".into()],
            max_duration_s: 3600,
            max_width: 7680,
            max_height: 4320,
        }
    }
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
    /// Where stored files live: "local" (the image folder) or "gridfs" (chunk collections
    /// in the MongoDB database, shared by every host; needs `engine: "mongo"`).
    pub blob: String,
    /// With `engine: "mongo"` and `blob: "local"`: the operator states only one host runs
    /// (several hosts would each keep part of the files in their own folder). Refused otherwise.
    pub single_host: bool,
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
    /// Concurrent cheap policy calls (`authorize`, naming); 0 means one per CPU core.
    pub workers: u32,
    /// Concurrent heavy policy calls (reading an upload: stripping, inspecting,
    /// thumbnailing), shared round-robin between clients, on threads of lower priority
    /// than everything else; 0 means one per CPU core.
    pub heavy_workers: u32,
    /// Extra settings handed to the policy (`setting(key)`), overriding the host's.
    pub settings: BTreeMap<String, serde_json::Value>,
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

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 5000,
            bind: "127.0.0.1".into(),
            debug: false,
            server_name: None,
            public_url: String::new(),
            multiroutine: false,
            server: ServerConfig::default(),
            video: VideoConfig::default(),
            database: DatabaseConfig::default(),
            policy: PolicyConfig::default(),
            auth: AuthConfig::default(),
            mail: MailConfig::default(),
            metrics: MetricsConfig::default(),
            ip_filter: IpFilterConfig::default(),
            cors: CorsConfig::default(),
            log: LogConfig::default(),
            connections: ConnectionsConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            image_path: String::new(),
            image_size: 10 * 1024 * 1024,
            image_url: String::new(),
            image_rule: "base64".into(),
            image_zip: false,
            image_zip_path: String::new(),
            thumb_width: 300,
            max_width: 10_000,
            max_height: 10_000,
            max_pixels: 40_000_000,
            max_frames: 900,
            max_files_per_request: 20,
            max_per_page: 100,
            strip_metadata: true,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            engine: "sqlite".into(),
            sqlite: "imgbed.db".into(),
            mongo: String::new(),
            timeout_ms: 3000,
            blob: "local".into(),
            single_host: false,
        }
    }
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            path: String::new(),
            watch: false,
            cache_dir: String::new(),
            memory_mb: 256,
            deadline_ms: 2000,
            workers: 0,
            heavy_workers: 0,
            settings: BTreeMap::new(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info".into(), dir: String::new(), keep_days: 14, files: true }
    }
}

/// A loaded configuration with its paths resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    /// Folder relative paths resolve against.
    pub base_dir: PathBuf,
    pub image_dir: PathBuf,
    pub thumb_dir: PathBuf,
    pub sqlite_path: PathBuf,
    /// Compiled-policy cache folder.
    pub cache_dir: PathBuf,
    /// Folder of the daily log files.
    pub log_dir: PathBuf,
    /// The policy file (`policy.path`), if one is configured.
    pub policy_file: Option<PathBuf>,
    /// Base URL that stored names are appended to (ends with `/`).
    pub image_base_url: String,
    /// The config file this was loaded from (None when built in code).
    pub config_file: Option<PathBuf>,
}

impl Settings {
    /// Largest single file: the video limit when videos are on and larger.
    pub fn max_file_size(&self) -> u64 {
        let (s, v) = (&self.config.server, &self.config.video);
        if v.enabled {
            s.image_size.max(v.size)
        } else {
            s.image_size
        }
    }

    /// The public URL of a stored image.
    pub fn image_url(&self, name: &str) -> String {
        format!("{}{}", self.image_base_url, name)
    }

    /// Concurrent policy calls.
    pub fn policy_workers(&self) -> usize {
        match self.config.policy.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n as usize,
        }
    }

    /// Concurrent heavy policy calls.
    pub fn policy_heavy_workers(&self) -> usize {
        match self.config.policy.heavy_workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n as usize,
        }
    }

    /// Settings the policy sees through `setting(key)`: the host's limits, then `policy.settings`.
    pub fn policy_settings(&self) -> BTreeMap<String, String> {
        let (s, v) = (&self.config.server, &self.config.video);
        let mut map = BTreeMap::from([
            ("image_rule".to_string(), s.image_rule.clone()),
            ("max_width".to_string(), s.max_width.to_string()),
            ("max_height".to_string(), s.max_height.to_string()),
            ("max_pixels".to_string(), s.max_pixels.to_string()),
            ("max_frames".to_string(), s.max_frames.to_string()),
            ("image_size".to_string(), s.image_size.to_string()),
            ("video".to_string(), v.enabled.to_string()),
            ("video_size".to_string(), v.size.to_string()),
            ("video_formats".to_string(), v.formats.join(",")),
            ("video_max_width".to_string(), v.max_width.to_string()),
            ("video_max_height".to_string(), v.max_height.to_string()),
            ("video_max_duration_s".to_string(), v.max_duration_s.to_string()),
        ]);
        for (k, v) in &self.config.policy.settings {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            map.insert(k.clone(), text);
        }
        map
    }
}

/// Prefix of environment variables that override config keys:
/// `IMGBED__SERVER__IMAGE_SIZE=1000` sets `server.image_size`.
pub const ENV_PREFIX: &str = "IMGBED__";

/// Reads `path`, writing it with every default first if it does not exist, then
/// applies `IMGBED__SECTION__KEY` environment overrides.
/// `data_dir` replaces the config's folder as the base of relative paths.
pub fn load(path: &Path, data_dir: Option<&Path>) -> Result<Settings, ConfigError> {
    let invalid = |(key, message)| ConfigError::Invalid { path: path.into(), key, message };
    let text = if path.exists() {
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?
    } else {
        let config = Config::default();
        write_default(path, &config)?;
        serde_json::to_string(&config).expect("config serialises")
    };
    let overrides: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with(ENV_PREFIX)).collect();
    let config = parse_with_overrides(&text, &overrides).map_err(invalid)?;
    validate(&config).map_err(invalid)?;
    let base_dir = match data_dir {
        Some(d) => d.to_path_buf(),
        None => {
            path.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        }
    };
    let mut settings = resolve(config, base_dir);
    settings.config_file = Some(path.to_path_buf());
    Ok(settings)
}

fn write_default(path: &Path, config: &Config) -> Result<(), ConfigError> {
    let text = serde_json::to_string_pretty(config).expect("config serialises");
    // Whole or not at all, and readable by its owner only: it may come to hold the mail
    // password, the token secret, the admin token.
    layout::write_private(path, (text + "\n").as_bytes())
        .map_err(|source| ConfigError::Write { path: path.into(), source })
}

/// Parses config text; on failure gives the offending key path and the reason.
pub fn parse(text: &str) -> Result<Config, (String, String)> {
    parse_with_overrides(text, &[])
}

/// Parses config text with `IMGBED__SECTION__KEY=value` overrides applied. A value
/// is read as JSON when it parses as JSON (numbers, booleans, lists), else as a string.
pub fn parse_with_overrides(text: &str, overrides: &[(String, String)]) -> Result<Config, (String, String)> {
    let mut value: serde_json::Value = serde_json::from_str(text).map_err(|e| ("(file)".to_string(), e.to_string()))?;
    for (var, raw) in overrides {
        let Some(path) = var.strip_prefix(ENV_PREFIX) else { continue };
        let keys: Vec<String> = path.split("__").map(str::to_lowercase).collect();
        if keys.iter().any(String::is_empty) {
            return Err((var.clone(), "malformed override name".into()));
        }
        let parsed = serde_json::from_str(raw).unwrap_or_else(|_| serde_json::Value::String(raw.clone()));
        let mut slot = &mut value;
        for key in &keys {
            if !slot.is_object() {
                return Err((var.clone(), format!("{} is not a section", keys.join("."))));
            }
            slot = slot.as_object_mut().expect("checked").entry(key.clone()).or_insert(serde_json::json!({}));
        }
        *slot = parsed;
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { "(file)".to_string() } else { key };
        (key, e.into_inner().to_string())
    })
}

/// Checks values that parse but make no sense.
pub fn validate(c: &Config) -> Result<(), (String, String)> {
    let bad = |key: &str, message: String| Err((key.to_string(), message));
    const RULES: &[&str] = &["base64", "md5", "content"];
    if !RULES.contains(&c.server.image_rule.as_str()) {
        return bad("server.image_rule", format!("must be one of {RULES:?}, got {:?}", c.server.image_rule));
    }
    match c.database.engine.as_str() {
        "sqlite" => {}
        "mongo" => {
            let uri = &c.database.mongo;
            if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
                return bad("database.mongo", "must be a mongodb:// or mongodb+srv:// connection string".into());
            }
        }
        other => return bad("database.engine", format!("must be \"sqlite\" or \"mongo\", got {other:?}")),
    }
    match c.database.blob.as_str() {
        "local" => {}
        "gridfs" if c.database.engine == "mongo" => {}
        "gridfs" => return bad("database.blob", "\"gridfs\" needs database.engine \"mongo\"".into()),
        other => return bad("database.blob", format!("must be \"local\" or \"gridfs\", got {other:?}")),
    }
    if c.database.engine == "mongo" && c.database.blob == "local" && !c.database.single_host {
        return bad(
            "database.blob",
            "MongoDB with files in a local folder is only safe on one host: several hosts would each \
             hold part of the files. Use \"gridfs\", or set database.single_host to true if only one host runs"
                .into(),
        );
    }
    let positive = [
        ("server.image_size", c.server.image_size),
        ("server.max_width", u64::from(c.server.max_width)),
        ("server.max_height", u64::from(c.server.max_height)),
        ("server.max_pixels", c.server.max_pixels),
        ("server.max_frames", u64::from(c.server.max_frames)),
        ("server.max_files_per_request", u64::from(c.server.max_files_per_request)),
        ("server.max_per_page", u64::from(c.server.max_per_page)),
        ("server.thumb_width", u64::from(c.server.thumb_width)),
        ("video.size", c.video.size),
        ("video.max_width", u64::from(c.video.max_width)),
        ("video.max_height", u64::from(c.video.max_height)),
        ("video.max_duration_s", c.video.max_duration_s),
        ("policy.memory_mb", u64::from(c.policy.memory_mb)),
        ("policy.deadline_ms", c.policy.deadline_ms),
        ("database.timeout_ms", c.database.timeout_ms),
    ];
    for (key, v) in positive {
        if v == 0 {
            return bad(key, "must be greater than 0".into());
        }
    }
    if c.server.image_size > 4 * 1024 * 1024 * 1024 {
        return bad("server.image_size", "must be at most 4 GiB".into());
    }
    if c.video.size > 64 * 1024 * 1024 * 1024 {
        return bad("video.size", "must be at most 64 GiB".into());
    }
    for f in &c.video.formats {
        if !["mp4", "mov", "webm"].contains(&f.as_str()) {
            return bad("video.formats", format!("unknown format {f:?}; use \"mp4\", \"mov\" or \"webm\""));
        }
    }
    if c.policy.memory_mb > 4096 {
        return bad("policy.memory_mb", "must be at most 4096".into());
    }
    if c.server.max_files_per_request > 1000 {
        return bad("server.max_files_per_request", "must be at most 1000".into());
    }
    for (key, url) in [("public_url", &c.public_url), ("server.image_url", &c.server.image_url)] {
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return bad(key, format!("must start with http:// or https://, got {url:?}"));
        }
    }
    if !["implicit", "starttls", "none"].contains(&c.mail.tls.as_str()) {
        return bad("mail.tls", format!("must be \"implicit\", \"starttls\" or \"none\", got {:?}", c.mail.tls));
    }
    if c.auth.check_ttl_s == 0 {
        return bad("auth.check_ttl_s", "must be greater than 0".into());
    }
    if !c.auth.secret.is_empty() && c.auth.secret.len() < 16 {
        return bad("auth.secret", "must be at least 16 characters (or empty to generate one)".into());
    }
    let f = &c.ip_filter;
    if let Err(e) = f.rule.parse::<crate::ipfilter::Rule>() {
        return bad("ip_filter.rule", e);
    }
    for (route, rule) in &f.routes {
        if let Err(e) = rule.parse::<crate::ipfilter::Rule>() {
            return bad(&format!("ip_filter.routes.{route}"), e);
        }
    }
    for (key, list) in
        [("ip_filter.allow", &f.allow), ("ip_filter.deny", &f.deny), ("ip_filter.trusted_proxies", &f.trusted_proxies)]
    {
        for entry in list {
            if let Err(e) = crate::ipfilter::parse_net(entry) {
                return bad(key, e);
            }
        }
    }
    if !["x-forwarded-for", "forwarded", "x-real-ip"].contains(&f.forwarded_header.to_ascii_lowercase().as_str()) {
        return bad(
            "ip_filter.forwarded_header",
            format!("must be \"x-forwarded-for\", \"forwarded\" or \"x-real-ip\", got {:?}", f.forwarded_header),
        );
    }
    for origin in &c.cors.origins {
        if origin != "*" && axum::http::HeaderValue::from_str(origin).is_err() {
            return bad("cors.origins", format!("not a valid origin: {origin:?}"));
        }
    }
    c.connections.validate()?;
    if c.bind.parse::<std::net::IpAddr>().is_err() {
        return bad("bind", format!("not an IP address: {:?}", c.bind));
    }
    if tracing_subscriber::EnvFilter::try_new(&c.log.level).is_err() {
        return bad("log.level", format!("not a log level: {:?}", c.log.level));
    }
    Ok(())
}

/// Resolves paths and URLs against `base_dir`.
pub fn resolve(config: Config, base_dir: PathBuf) -> Settings {
    let dir = |value: &str, default: &str| -> PathBuf {
        let p = if value.is_empty() { Path::new(default) } else { Path::new(value) };
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base_dir.join(p)
        }
    };
    let image_dir = dir(&config.server.image_path, "images");
    let thumb_dir = dir(&config.server.image_zip_path, "thumbs");
    // The original's SQLAlchemy URL: sqlite:///relative.db or sqlite:////absolute.db.
    let sqlite = config.database.sqlite.strip_prefix("sqlite:///").unwrap_or(&config.database.sqlite);
    let sqlite_path = dir(sqlite, "imgbed.db");
    let cache_dir = dir(&config.policy.cache_dir, "cache");
    let log_dir = dir(&config.log.dir, "logs");
    let policy_file = (!config.policy.path.is_empty()).then(|| dir(&config.policy.path, ""));
    let image_base_url = if !config.server.image_url.is_empty() {
        with_slash(config.server.image_url.clone())
    } else {
        format!("{}/images/", site_url(&config))
    };
    Settings {
        config,
        base_dir,
        image_dir,
        thumb_dir,
        sqlite_path,
        cache_dir,
        log_dir,
        policy_file,
        image_base_url,
        config_file: None,
    }
}

/// `scheme://host[:port]` for links, without a trailing slash.
pub fn site_url(c: &Config) -> String {
    if !c.public_url.is_empty() {
        return c.public_url.trim_end_matches('/').to_string();
    }
    match c.server_name.as_deref().filter(|s| !s.is_empty()) {
        Some(name) => format!("http://{name}"),
        None => format!("http://localhost:{}", c.port),
    }
}

fn with_slash(mut s: String) -> String {
    if !s.ends_with('/') {
        s.push('/');
    }
    s
}
