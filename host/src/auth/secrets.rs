//! Secrets generated at first start and kept beside the data (mode 0600).

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The token-signing secret and the admin token.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Secrets {
    #[serde(default)]
    pub jwt_secret: String,
    #[serde(default)]
    pub admin_token: String,
    /// Key of the compiled-policy cache's HMAC (hex): never configured, always generated.
    #[serde(default)]
    pub cache_key: String,
}

/// Errors reading or writing the secrets file.
#[derive(Debug, thiserror::Error)]
#[error("secrets file {path}: {source}")]
pub struct SecretsError {
    path: String,
    source: std::io::Error,
}

fn random_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// Uses the configured secrets, else those in `dir/secrets.json`, generating
/// any that are missing the first time. No default secret lives in code.
pub fn load_secrets(dir: &Path, configured_jwt: &str, configured_admin: &str) -> Result<Secrets, SecretsError> {
    let path = dir.join("secrets.json");
    let err = |source| SecretsError { path: path.display().to_string(), source };
    let mut stored: Secrets = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| err(std::io::Error::other(e)))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Secrets::default(),
        Err(e) => return Err(err(e)),
    };
    let mut changed = false;
    for secret in [&mut stored.jwt_secret, &mut stored.admin_token, &mut stored.cache_key] {
        if secret.is_empty() {
            *secret = random_secret();
            changed = true;
        }
    }
    if changed {
        // Synced with its folder: after a power loss a lost name would make new secrets, and
        // every token would die.
        let text = serde_json::to_string_pretty(&stored).expect("serialise secrets");
        crate::config::layout::write_private(&path, text.as_bytes()).map_err(err)?;
        tracing::info!(path = %path.display(), "generated secrets");
    }
    if !configured_jwt.is_empty() {
        stored.jwt_secret = configured_jwt.to_string();
    }
    if !configured_admin.is_empty() {
        stored.admin_token = configured_admin.to_string();
    }
    Ok(stored)
}
