//! A configuration with its paths and URLs resolved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Config;

/// A loaded configuration with its paths resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    /// Folder relative paths resolve against.
    pub base_dir: PathBuf,
    pub image_dir: PathBuf,
    pub thumb_dir: PathBuf,
    /// Folder of the variant cache (local blob store).
    pub variant_dir: PathBuf,
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
    let variant_dir = dir(&config.variants.path, "variants");
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
        variant_dir,
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
        // The address and port the server listens on (so links work out of the box and are
        // of the same origin as the web UI); listening on every address, `localhost`.
        None => match c.bind.parse::<std::net::IpAddr>() {
            Ok(ip) if ip.is_unspecified() => format!("http://localhost:{}", c.port),
            Ok(std::net::IpAddr::V6(ip)) => format!("http://[{ip}]:{}", c.port),
            Ok(ip) => format!("http://{ip}:{}", c.port),
            Err(_) => format!("http://localhost:{}", c.port),
        },
    }
}

fn with_slash(mut s: String) -> String {
    if !s.ends_with('/') {
        s.push('/');
    }
    s
}
