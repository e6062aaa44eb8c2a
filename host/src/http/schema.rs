//! The shapes of answers and request bodies, as the OpenAPI document describes them.

use serde::Serialize;
use utoipa::ToSchema;

pub use super::view::ImageView;

/// Every answer's envelope.
#[derive(Serialize, ToSchema)]
pub struct Envelope {
    /// The payload (a message, a record, a list…).
    pub data: serde_json::Value,
    /// "ok", "error" or "forbidden".
    #[serde(rename = "type")]
    pub kind: String,
}

/// An error answer: the envelope plus a stable code.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// The message (the original's texts are kept).
    pub data: String,
    /// "error", or "forbidden" for 401/403.
    #[serde(rename = "type")]
    pub kind: String,
    /// Stable machine-readable code, e.g. `unsupported_type`.
    pub code: String,
    /// The uploaded file the error is about.
    pub file: Option<String>,
    /// More detail for people.
    pub detail: Option<String>,
}

/// `image_upload` answer.
#[derive(Serialize, ToSchema)]
pub struct UploadAnswer {
    /// "文件上传成功"
    pub data: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub files: Vec<ImageView>,
}

/// `image_list` answer.
#[derive(Serialize, ToSchema)]
pub struct ListAnswer {
    pub data: Vec<ImageView>,
    #[serde(rename = "type")]
    pub kind: String,
    /// The page asked for (`null` when paging with `after`).
    #[schema(required = true)]
    pub page: Option<u64>,
    pub per_page: u64,
    pub total: u64,
    pub pages: u64,
    /// `after` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub next: Option<String>,
}

/// `image_info` answer.
#[derive(Serialize, ToSchema)]
pub struct InfoAnswer {
    pub data: ImageView,
    #[serde(rename = "type")]
    pub kind: String,
}

/// Ready-to-paste snippets.
#[derive(Serialize, ToSchema)]
pub struct Snippets {
    pub raw: String,
    pub link: String,
    pub html: String,
    pub markdown: String,
    pub bbcode: String,
    /// A `srcset` of the allowed variant widths below the image's own, then the original
    /// (images only, with variants on).
    pub srcset: Option<String>,
    /// An `<img>` with that `srcset` (images only, with variants on).
    pub html_srcset: Option<String>,
}

/// `image_format` answer.
#[derive(Serialize, ToSchema)]
pub struct FormatAnswer {
    pub data: Snippets,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `get_token` answer (the original's `{"token"}` plus the envelope).
#[derive(Serialize, ToSchema)]
pub struct TokenAnswer {
    pub token: String,
    pub data: serde_json::Value,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `{"mail"}`
#[derive(Serialize, ToSchema)]
pub struct MailBody {
    pub mail: String,
}

/// `{"name"}` or `{"names": [...]}`
#[derive(Serialize, ToSchema)]
pub struct NamesBody {
    pub name: Option<String>,
    pub names: Option<Vec<String>>,
}

/// `{"mail", "check"}` or `{"mail", "token"}`
#[derive(Serialize, ToSchema)]
pub struct RemoveBody {
    pub mail: String,
    pub check: Option<String>,
    pub token: Option<String>,
}

/// `{"mail", "ban"}`
#[derive(Serialize, ToSchema)]
pub struct RemoveUserBody {
    pub mail: String,
    pub ban: Option<bool>,
}

/// Multipart upload: one or more `file` parts.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    #[schema(value_type = Vec<String>, format = Binary)]
    pub file: Vec<Vec<u8>>,
}

/// A candidate policy as a form: the component and, instead of the header, its signature.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PolicyForm {
    /// The component (`.wasm`).
    #[schema(value_type = String, format = Binary)]
    pub policy: Vec<u8>,
    /// Its detached Ed25519 signature (base64), when `policy.trusted_keys` is set.
    pub signature: Option<String>,
}

// The error answers routes share, one type per status, so the OpenAPI document lists
// them by name instead of each route repeating them (`responses(..., BadInput, NoToken)`).

/// 400: bad input.
#[derive(utoipa::IntoResponses)]
#[response(status = 400, description = "bad input")]
pub struct BadInput(#[allow(dead_code)] ErrorBody);

/// 401: no or invalid token.
#[derive(utoipa::IntoResponses)]
#[response(status = 401, description = "no or invalid token")]
pub struct NoToken(#[allow(dead_code)] ErrorBody);

/// 403: not allowed.
#[derive(utoipa::IntoResponses)]
#[response(status = 403, description = "not allowed")]
pub struct NotAllowed(#[allow(dead_code)] ErrorBody);

/// 404: not found.
#[derive(utoipa::IntoResponses)]
#[response(status = 404, description = "not found")]
pub struct NotFound(#[allow(dead_code)] ErrorBody);

/// 413: too large.
#[derive(utoipa::IntoResponses)]
#[response(status = 413, description = "too large")]
pub struct TooLarge(#[allow(dead_code)] ErrorBody);

/// 429: rate limited.
#[derive(utoipa::IntoResponses)]
#[response(status = 429, description = "rate limited")]
pub struct RateLimited(#[allow(dead_code)] ErrorBody);

/// 503: policy or database unavailable.
#[derive(utoipa::IntoResponses)]
#[response(status = 503, description = "policy or database unavailable")]
pub struct Unavailable(#[allow(dead_code)] ErrorBody);

/// 503: database unavailable.
#[derive(utoipa::IntoResponses)]
#[response(status = 503, description = "database unavailable")]
pub struct DatabaseUnavailable(#[allow(dead_code)] ErrorBody);

/// 422: refused content.
#[derive(utoipa::IntoResponses)]
#[response(status = 422, description = "refused content")]
pub struct RefusedContent(#[allow(dead_code)] ErrorBody);

/// 500: policy failure.
#[derive(utoipa::IntoResponses)]
#[response(status = 500, description = "policy failure")]
pub struct PolicyFailure(#[allow(dead_code)] ErrorBody);

/// 409: conflicts with the current state (the route's doc says which).
#[derive(utoipa::IntoResponses)]
#[response(status = 409, description = "conflict")]
pub struct Conflict(#[allow(dead_code)] ErrorBody);

/// 415: unsupported type.
#[derive(utoipa::IntoResponses)]
#[response(status = 415, description = "unsupported type")]
pub struct UnsupportedType(#[allow(dead_code)] ErrorBody);

/// 416: range not satisfiable.
#[derive(utoipa::IntoResponses)]
#[response(status = 416, description = "range not satisfiable")]
pub struct RangeNotSatisfiable(#[allow(dead_code)] ErrorBody);

/// 501: not available here (the route's doc says when).
#[derive(utoipa::IntoResponses)]
#[response(status = 501, description = "not configured or not supported")]
pub struct NotImplemented(#[allow(dead_code)] ErrorBody);

/// 507: storage full.
#[derive(utoipa::IntoResponses)]
#[response(status = 507, description = "storage full")]
pub struct StorageFull(#[allow(dead_code)] ErrorBody);

/// 503: not ready (the readiness probe's envelope, not an `ErrorBody`).
#[derive(utoipa::IntoResponses)]
#[response(status = 503, description = "not ready")]
pub struct NotReady(#[allow(dead_code)] Envelope);

/// The content of [`BadInputOrPage`]: JSON for the API, a page for a link opened in a
/// browser. (`IntoResponses` takes one body; a `ToResponse` enum gives a response two.)
#[derive(utoipa::ToResponse)]
#[response(description = "bad input, or an invalid link (a page)")]
#[allow(dead_code)]
pub enum ErrorOrPage {
    Json(#[content("application/json")] ErrorBody),
    Page(#[content("text/html")] String),
}

/// 400: bad input (JSON), or an invalid link (an HTML page).
#[derive(utoipa::IntoResponses)]
#[response(status = 400)]
pub struct BadInputOrPage(
    #[allow(dead_code)]
    #[to_response]
    ErrorOrPage,
);
