//! The caller of a request, as an extractor: the token is read (header first, then
//! `?token=`) and checked once, before any body is read.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::{query_map, Shared};
use crate::auth::{self, Caller, IdentityError};
use crate::error::ApiError;

impl FromRequestParts<Shared> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        let query = query_map(&parts.uri)?;
        let token = auth::request_token(&parts.headers, query.get("token").map(String::as_str));
        auth::identify(state.store.as_ref(), &state.secrets, state.settings.config.auth.jwt, token.as_deref())
            .await
            .map_err(|e| match e {
                IdentityError::InvalidToken => ApiError::invalid_token(),
                IdentityError::Store(e) => e.into(),
            })
    }
}
