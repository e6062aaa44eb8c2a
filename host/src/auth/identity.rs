//! Establishing who is asking from the request's token: the admin token, a
//! token this host signed for an account that still exists (same token id and
//! issue time), or a token of the original service brought in by
//! `imgbed import-original`. No token: anonymous, or the local user when
//! `auth.jwt` is off.

use super::{admin, anonymous, secret_eq, user, verify, Secrets, LOCAL_OWNER};
use crate::policy::Principal;
use crate::store::{AccountStore, StoreError, User};

/// Who made a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// The token id (`jti`) of the caller's account, as found when the token was checked
    /// (an upload stores only while that account still exists).
    pub jti: Option<String>,
}

/// Why no identity could be established.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Forged, malformed, revoked, or for an account that no longer exists.
    #[error("invalid token")]
    InvalidToken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The caller a request's `token` (if any) stands for. `jwt`: whether accounts are on
/// (`auth.jwt`); without them a request without a token is the local user.
pub async fn identify(
    store: &dyn AccountStore,
    secrets: &Secrets,
    jwt: bool,
    token: Option<&str>,
) -> Result<Caller, IdentityError> {
    let Some(token) = token else {
        let principal = if jwt { anonymous() } else { user(LOCAL_OWNER) };
        return Ok(Caller { principal, jti: None });
    };
    if secret_eq(token, &secrets.admin_token) {
        return Ok(Caller { principal: admin(), jti: None });
    }
    let Ok(claims) = verify(token, &secrets.jwt_secret) else {
        return match legacy_account(store, token).await? {
            Some(account) => Ok(Caller { principal: user(&account.mail), jti: Some(account.jti) }),
            None => Err(IdentityError::InvalidToken),
        };
    };
    let account = store.get_user(&claims.sub).await?.ok_or(IdentityError::InvalidToken)?;
    if !secret_eq(&account.jti, &claims.jti) || account.issued_at != claims.iat {
        return Err(IdentityError::InvalidToken);
    }
    Ok(Caller { principal: user(&account.mail), jti: Some(account.jti) })
}

/// The account an imported token of the original service belongs to, if any (and if
/// the account still exists). Only the token's SHA-256 is stored.
pub async fn legacy_account(store: &dyn AccountStore, token: &str) -> Result<Option<User>, StoreError> {
    if token.is_empty() || token.len() > 1024 {
        return Ok(None);
    }
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()));
    let Some(mail) = store.legacy_owner(&hash).await? else { return Ok(None) };
    store.get_user(&mail).await
}
