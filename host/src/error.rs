//! The API's error type and its one mapping to HTTP.
//!
//! Every refusal is a stable `code`, an HTTP status and a message; the body is
//! the original's envelope `{"data": message, "type": "error"|"forbidden"}` plus
//! `code` (and `file`/`detail` where they help).

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
}

impl ApiError {
    /// An error with a code and message from the catalogue below.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError { status, code: code.into(), message: message.into(), more: None }
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

    /// Adds a top-level field to the answer.
    pub fn with_field(mut self, key: &'static str, value: serde_json::Value) -> Self {
        self.more().extra.push((key, value));
        self
    }

    pub fn invalid_token() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token", "无效的密钥")
    }
    pub fn mail_failed() -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "mail_failed", "请求找回错误")
    }

    pub fn empty_upload() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "empty_upload", "空的上传文件")
    }
    pub fn no_authority() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "no_authority", "401 No Authority")
    }
    pub fn too_large(limit: u64) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("文件过大: 上限 {limit} 字节"))
    }
    pub fn too_many_files(limit: u32) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_many_files", format!("文件数量超出限制: 每次最多 {limit} 个"))
    }
    pub fn upload_failed() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "upload_failed", "文件上传失败")
    }
    pub fn image_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "图片信息获取失败")
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", "请求参数错误").with_detail(detail)
    }
    pub fn bad_json(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_json", "请求的JSON格式错误").with_detail(detail)
    }
    pub fn route_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "no_route", "接口不存在")
    }
    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "请求方法不允许")
    }
    pub fn storage_full() -> Self {
        Self::new(StatusCode::INSUFFICIENT_STORAGE, "storage_full", "存储空间不足")
    }
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "服务器内部错误")
    }
    pub fn policy_unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "policy_busy", "策略暂时不可用, 请稍后重试")
    }
    pub fn policy_failed(code: &str) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, code, "策略执行失败")
    }
    /// The uploader's account was removed (or banned) while the upload was being stored.
    pub fn account_gone() -> Self {
        Self::new(StatusCode::FORBIDDEN, "account_removed", "账户已删除, 上传未保存")
    }
    pub fn body_unreadable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_body", "请求体读取失败").with_detail(detail)
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

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::StorageFull {
            tracing::error!(error = %e, "storage full");
            ApiError::storage_full()
        } else if matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::NotConnected) {
            tracing::error!(error = %e, "storage did not answer in time or cannot be reached");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable", "存储暂时不可用")
        } else {
            tracing::error!(error = %e, "i/o error");
            ApiError::internal()
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
        let mut res = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
