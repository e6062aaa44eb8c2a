//! Values that parse but make no sense are refused before anything starts.

use super::{parse_net, Config, Rule};

/// Most `policy.trusted_keys` (each candidate is checked against each key in turn).
const MAX_TRUSTED_KEYS: usize = 16;

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
        "mongo" | "gridfs" if c.database.engine == "mongo" => {}
        "mongo" | "gridfs" => return bad("database.blob", "\"mongo\" needs database.engine \"mongo\"".into()),
        "s3" => super::s3::validate(&c.database.s3)?,
        other => return bad("database.blob", format!("must be \"local\", \"mongo\" or \"s3\", got {other:?}")),
    }
    if c.database.engine == "mongo" && c.database.blob == "local" && !c.database.single_host {
        return bad(
            "database.blob",
            "MongoDB with files in a local folder is only safe on one host: several hosts would each \
             hold part of the files. Use \"mongo\" or \"s3\", or set database.single_host to true if only one host runs"
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
    if c.server.file_cache_mb > 64 * 1024 {
        return bad("server.file_cache_mb", "must be at most 65536 (64 GiB)".into());
    }
    if c.server.file_cache_max_kb > 16 * 1024 {
        return bad("server.file_cache_max_kb", "must be at most 16384 (16 MiB): larger files are streamed".into());
    }
    if c.policy.memory_mb > 4096 {
        return bad("policy.memory_mb", "must be at most 4096".into());
    }
    for (key, v) in [("policy.shadow_sample", c.policy.shadow_sample), ("policy.shadow_share", c.policy.shadow_share)] {
        if !(0.0..=1.0).contains(&v) {
            return bad(key, format!("must be between 0 and 1, got {v}"));
        }
    }
    if c.policy.trusted_keys.len() > MAX_TRUSTED_KEYS {
        return bad("policy.trusted_keys", format!("at most {MAX_TRUSTED_KEYS} keys"));
    }
    if let Err(e) = crate::signing::TrustedKeys::parse(&c.policy.trusted_keys) {
        return bad("policy.trusted_keys", format!("{e} (base64 of a 32-byte Ed25519 public key)"));
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
    if let Err(e) = f.rule.parse::<Rule>() {
        return bad("ip_filter.rule", e);
    }
    for (route, rule) in &f.routes {
        if let Err(e) = rule.parse::<Rule>() {
            return bad(&format!("ip_filter.routes.{route}"), e);
        }
    }
    for (key, list) in
        [("ip_filter.allow", &f.allow), ("ip_filter.deny", &f.deny), ("ip_filter.trusted_proxies", &f.trusted_proxies)]
    {
        for entry in list {
            if let Err(e) = parse_net(entry) {
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
    super::variants::validate(&c.variants)?;
    if c.bind.parse::<std::net::IpAddr>().is_err() {
        return bad("bind", format!("not an IP address: {:?}", c.bind));
    }
    if tracing_subscriber::EnvFilter::try_new(&c.log.level).is_err() {
        return bad("log.level", format!("not a log level: {:?}", c.log.level));
    }
    Ok(())
}
