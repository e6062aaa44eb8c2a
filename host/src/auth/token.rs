//! Account tokens: HS256 JWTs whose claims are stored, so the same token can
//! be re-signed byte for byte and revoked by deleting the account row.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The claims of an account token. No expiry: like the original's tokens they
/// last until revoked (account removal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The account's mail.
    pub sub: String,
    /// Token id, stored with the account.
    pub jti: String,
    /// Issue time, seconds since the epoch.
    pub iat: i64,
}

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("malformed or forged token: {0}")]
    Invalid(String),
}

/// Signs `claims` with `secret` (deterministic: same claims, same token).
pub fn sign(claims: &Claims, secret: &str) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes()))
        .expect("HS256 signing of plain claims cannot fail")
}

/// Checks the signature (HS256 only) and returns the claims.
pub fn verify(token: &str, secret: &str) -> Result<Claims, TokenError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.required_spec_claims.insert("sub".into());
    validation.validate_exp = false;
    decode::<Claims>(token, &DecodingKey::from_secret(secret.as_bytes()), &validation)
        .map(|d| d.claims)
        .map_err(|e| TokenError::Invalid(e.to_string()))
}
