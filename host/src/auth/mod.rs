//! Who is asking: tokens from `Authorization: Bearer` or `?token=`, and the
//! secrets they are checked against. Decisions are the policy's (`authorize`).

use std::path::Path;

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::policy::Principal;

/// Owner of every upload until accounts exist.
pub const LOCAL_OWNER: &str = "local";

/// Secrets generated at first start, kept beside the data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Secrets {
    pub admin_token: String,
}

/// Errors reading or writing the secrets file.
#[derive(Debug, thiserror::Error)]
#[error("secrets file {path}: {source}")]
pub struct SecretsError {
    path: String,
    source: std::io::Error,
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// Uses the configured admin token, or the one in `dir/secrets.json`, creating it
/// with a fresh random token (mode 0600) the first time. No default lives in code.
pub fn load_secrets(dir: &Path, configured_admin: &str) -> Result<Secrets, SecretsError> {
    let path = dir.join("secrets.json");
    let err = |source| SecretsError { path: path.display().to_string(), source };
    let stored: Option<Secrets> = match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).map_err(|e| err(std::io::Error::other(e)))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(err(e)),
    };
    let mut secrets = match stored {
        Some(s) => s,
        None => {
            let s = Secrets { admin_token: random_token() };
            write_private(&path, &serde_json::to_string_pretty(&s).expect("serialise secrets")).map_err(err)?;
            tracing::info!(path = %path.display(), "generated the admin token");
            s
        }
    };
    if !configured_admin.is_empty() {
        secrets.admin_token = configured_admin.to_string();
    }
    Ok(secrets)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

/// Compares two secrets in constant time (for equal lengths).
pub fn secret_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The token of a request: `Authorization: Bearer …` first, then `?token=`.
pub fn request_token(headers: &HeaderMap, query_token: Option<&str>) -> Option<String> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    bearer.or_else(|| query_token.map(str::to_string).filter(|t| !t.is_empty()))
}

/// Resolves who is asking. The admin token makes an admin; anyone else is the
/// single local owner (accounts and per-user tokens arrive with their own issue).
pub fn principal(token: Option<&str>, secrets: &Secrets) -> Principal {
    match token {
        Some(t) if secret_eq(t, &secrets.admin_token) => {
            Principal { kind: "admin".into(), id: "admin".into(), attributes: Vec::new() }
        }
        _ => Principal { kind: "user".into(), id: LOCAL_OWNER.into(), attributes: Vec::new() },
    }
}
