//! Configuration: `config.json`, written with every default at first start.
//!
//! The original's keys keep their meaning (an original config loads unchanged).
//! The file is parsed once into [`Config`]; nothing else reads JSON keys. The
//! schema (`schema`), its defaults (`defaults`), environment overrides (`env`),
//! checks (`validate`) and resolved paths (`settings`) live apart.

use std::path::{Path, PathBuf};

mod connections;
mod defaults;
mod env;
pub mod layout;
mod rules;
mod s3;
mod schema;
mod settings;
mod validate;
mod variants;

pub use connections::ConnectionsConfig;
pub use env::{parse, parse_with_overrides, ENV_PREFIX};
pub use rules::{parse_net, Rule};
pub use s3::S3Config;
pub use schema::*;
pub use settings::{resolve, site_url, Settings};
pub use validate::validate;
pub use variants::VARIANT_FORMATS;

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

/// Reads `path`, writing it with every default first if it does not exist, then
/// applies `IMGBED__SECTION__KEY` environment overrides.
/// `data_dir` replaces the config's folder as the base of relative paths.
pub fn load(path: &Path, data_dir: Option<&Path>) -> Result<Settings, ConfigError> {
    let invalid = |(key, message)| ConfigError::Invalid { path: path.into(), key, message };
    let text = if path.exists() {
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?
    } else {
        let mut config = Config::default();
        // New installs make thumbnails: the web UI's gallery shows them, not every original.
        // (A file without the key, such as the original's, keeps thumbnails off.)
        config.server.image_zip = true;
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
