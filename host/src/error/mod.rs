//! The API's error type and its one mapping to HTTP.
//!
//! Every refusal is a stable `code`, an HTTP status and a message; the body is
//! the original's envelope `{"data": message, "type": "error"|"forbidden"}` plus
//! `code` (and `file`/`detail` where they help). The host's codes are typed
//! ([`Code`], one catalogue in `codes.rs`); the layers below have their own error
//! types, turned into answers here by `From` and nowhere else.

mod codes;

pub use codes::Code;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Optional fields, boxed to keep `Result<_, ApiError>` small.
    more: Option<Box<More>>,
}

/// The optional parts of an error answer.
#[derive(Debug, Clone, Default)]
struct More {
    /// The uploaded file the error is about, if any (its client-side name).
    file: Option<String>,
    /// More detail for people (never secrets or server paths).
    detail: Option<String>,
    /// Extra top-level fields some original clients read (e.g. `token` on get_token).
    extra: Vec<(&'static str, serde_json::Value)>,
    /// Seconds for a `Retry-After` header.
    retry_after: Option<u64>,
}

impl ApiError {
    /// The catalogue's error `code` with its default message.
    pub fn of(code: Code) -> Self {
        ApiError { status: code.status(), code: code.as_str().into(), message: code.message().into(), more: None }
    }

    /// A refusal a policy made: its own status (a 4xx or 5xx; anything else is a 403),
    /// code and message.
    pub fn refusal(status: u16, code: &str, message: impl Into<String>) -> Self {
        let status = StatusCode::from_u16(status)
            .ok()
            .filter(|s| s.is_client_error() || s.is_server_error())
            .unwrap_or(StatusCode::FORBIDDEN);
        ApiError { status, code: code.into(), message: message.into(), more: None }
    }

    /// Replaces the default message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    fn more(&mut self) -> &mut More {
        self.more.get_or_insert_with(Default::default)
    }

    /// Names the uploaded file the error is about.
    pub fn with_file(mut self, file: impl Into<String>) -> Self {
        self.more().file = Some(file.into());
        self
    }

    /// Adds detail for people (never secrets or server paths).
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.more().detail = Some(detail.into());
        self
    }

    /// A 429's wait: `Retry-After` and the detail say it.
    pub fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::of(Code::RateLimited).with_detail(format!("retry after {retry_after} s"));
        e.more().retry_after = Some(retry_after);
        e
    }

    /// Adds a top-level field to the answer.
    pub fn with_field(mut self, key: &'static str, value: serde_json::Value) -> Self {
        self.more().extra.push((key, value));
        self
    }

    pub fn invalid_token() -> Self {
        Self::of(Code::InvalidToken)
    }
    pub fn too_large(limit: u64) -> Self {
        Self::of(Code::TooLarge).with_message(format!("文件过大: 上限 {limit} 字节"))
    }
    pub fn too_many_files(limit: u32) -> Self {
        Self::of(Code::TooManyFiles).with_message(format!("文件数量超出限制: 每次最多 {limit} 个"))
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::of(Code::BadRequest).with_detail(detail)
    }
    pub fn bad_json(detail: impl Into<String>) -> Self {
        Self::of(Code::BadJson).with_detail(detail)
    }
    pub fn body_unreadable(detail: impl Into<String>) -> Self {
        Self::of(Code::BadBody).with_detail(detail)
    }
    pub fn internal() -> Self {
        Self::of(Code::Internal)
    }

    /// `type` of the envelope: the original answered auth failures as "forbidden".
    fn kind(&self) -> &'static str {
        if self.status == StatusCode::UNAUTHORIZED || self.status == StatusCode::FORBIDDEN {
            "forbidden"
        } else {
            "error"
        }
    }
}

impl From<Code> for ApiError {
    fn from(code: Code) -> Self {
        ApiError::of(code)
    }
}

impl From<crate::policy::Rejection> for ApiError {
    fn from(r: crate::policy::Rejection) -> Self {
        ApiError::refusal(r.status, &r.code, r.message)
    }
}

/// A failed policy call (logged with its cause).
impl From<crate::policy::PolicyError> for ApiError {
    fn from(e: crate::policy::PolicyError) -> Self {
        use crate::policy::PolicyError;
        tracing::error!(error = %e, code = e.code(), "policy call failed");
        ApiError::of(match e {
            PolicyError::Timeout => Code::PolicyTimeout,
            PolicyError::Unavailable(_) => Code::PolicyBusy,
            PolicyError::Trap(_) => Code::PolicyTrap,
            PolicyError::Invalid(_) | PolicyError::Refused(_) => Code::PolicyInvalid,
            PolicyError::Signature(crate::signing::Refusal::Missing) => Code::PolicyUnsigned,
            PolicyError::Signature(_) => Code::PolicyBadSignature,
        })
    }
}

impl From<crate::ingest::JudgeError> for ApiError {
    fn from(e: crate::ingest::JudgeError) -> Self {
        use crate::ingest::JudgeError;
        match e {
            JudgeError::Refused(r) => r.into(),
            JudgeError::Policy(e) => e.into(),
            JudgeError::Io(e) => e.into(),
        }
    }
}

/// A metadata store failure (logged with its cause).
impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        if let StoreError::BadCursor = e {
            return ApiError::bad_request("after must be a cursor from an earlier page's `next`");
        }
        tracing::error!(error = %e, "metadata store failed");
        ApiError::of(match e {
            StoreError::Backend(_) => Code::StoreUnavailable,
            StoreError::OwnerGone => Code::AccountRemoved,
            _ => Code::Internal,
        })
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::StorageFull {
            tracing::error!(error = %e, "storage full");
            ApiError::of(Code::StorageFull)
        } else if matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::NotConnected) {
            tracing::error!(error = %e, "storage did not answer in time or cannot be reached");
            ApiError::of(Code::StorageUnavailable)
        } else {
            tracing::error!(error = %e, "i/o error");
            ApiError::internal()
        }
    }
}

impl ApiError {
    /// A candidate policy that was not loaded: its signature missing or not trusted, or
    /// the component refused (the reason in the detail; the running policy stays).
    pub fn refused_candidate(e: crate::policy::PolicyError) -> Self {
        use crate::policy::PolicyError;
        let code = match &e {
            PolicyError::Signature(crate::signing::Refusal::Missing) => Code::PolicyUnsigned,
            PolicyError::Signature(_) => Code::PolicyBadSignature,
            _ => Code::PolicyRefused,
        };
        ApiError::of(code).with_detail(e.to_string())
    }

    /// An I/O error reading a stored file: the file being gone (deleted meanwhile, or a
    /// record whose file is missing) is a 404; anything else as any I/O error.
    pub fn from_read(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound => ApiError::of(Code::NotFound),
            _ => e.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "data": self.message, "type": self.kind(), "code": self.code });
        if let Some(more) = &self.more {
            if let Some(file) = &more.file {
                body["file"] = json!(file);
            }
            if let Some(detail) = &more.detail {
                body["detail"] = json!(detail);
            }
            for (k, v) in &more.extra {
                body[*k] = v.clone();
            }
        }
        let retry_after = self.more.as_ref().and_then(|m| m.retry_after);
        let mut res = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
