//! Who is asking: tokens from `Authorization: Bearer` or `?token=`, the
//! secrets they are checked against, and mail addresses. Decisions are the
//! policy's (`authorize`); this module only establishes identity.

mod identity;
mod secrets;
mod token;

pub use identity::{identify, legacy_account, Caller, IdentityError};
pub use secrets::{load_secrets, Secrets, SecretsError};
pub use token::{sign, verify, Claims, TokenError};

use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

use crate::policy::{Principal, PrincipalKind};

/// Owner of uploads made without a token when `auth.jwt` is off.
pub const LOCAL_OWNER: &str = "local";

/// Longest mail address accepted (RFC 5321 path limit).
pub const MAX_MAIL_LEN: usize = 254;

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

/// A mail address in the form accounts are keyed by: trimmed and lower-cased.
/// Only the host's hard limits are checked here; what counts as valid is the policy's.
pub fn normalise_mail(mail: &str) -> Option<String> {
    let m = mail.trim().to_lowercase();
    (!m.is_empty() && m.len() <= MAX_MAIL_LEN && !m.chars().any(char::is_control)).then_some(m)
}

/// Principal for a verified account.
pub fn user(mail: &str) -> Principal {
    Principal { kind: PrincipalKind::User, id: mail.into(), attributes: Vec::new() }
}

/// Principal for the admin token.
pub fn admin() -> Principal {
    Principal { kind: PrincipalKind::Admin, id: "admin".into(), attributes: Vec::new() }
}

/// Principal for a request without a token.
pub fn anonymous() -> Principal {
    Principal { kind: PrincipalKind::Anonymous, id: String::new(), attributes: Vec::new() }
}
