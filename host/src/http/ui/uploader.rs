//! `GET /api/uploader_config?client=sharex|picgo|upic|flameshot`: a ready-made
//! configuration of a desktop uploader for the signed-in user, carrying the user's token
//! (as an `Authorization: Bearer` header wherever the client can send one).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::app::Shared;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Code};
use crate::http::query_map;
use crate::policy::{facts, Action, PrincipalKind};

/// The clients a config can be made for.
pub const CLIENTS: [&str; 4] = ["sharex", "picgo", "upic", "flameshot"];

/// What a config is made from.
pub struct Target<'a> {
    /// `scheme://host[:port]` of this server.
    pub site: &'a str,
    /// The caller's token; `None` when tokens are off (`auth.jwt: false`).
    pub token: Option<&'a str>,
}

impl Target<'_> {
    fn upload_url(&self) -> String {
        format!("{}/api/image_upload", self.site)
    }

    fn host(&self) -> &str {
        self.site.split_once("://").map_or(self.site, |(_, h)| h)
    }

    fn bearer(&self) -> Option<String> {
        self.token.map(|t| format!("Bearer {t}"))
    }
}

/// A ShareX custom uploader (`.sxcu`, the syntax of ShareX 14 and later).
pub fn sharex(t: &Target) -> Value {
    let mut v = json!({
        "Version": "17.0.0",
        "Name": format!("imgbed ({})", t.host()),
        "DestinationType": "ImageUploader, FileUploader",
        "RequestMethod": "POST",
        "RequestURL": t.upload_url(),
        "Body": "MultipartFormData",
        "FileFormName": "file",
        "URL": "{json:files[0].url}",
        "ThumbnailURL": "{json:files[0].thumb_url}",
        "DeletionURL": "{json:files[0].delete_url}",
        "ErrorMessage": "{json:data}",
    });
    if let Some(b) = t.bearer() {
        v["Headers"] = json!({ "Authorization": b });
    }
    v
}

/// PicGo with its "web-uploader" plugin (自定义Web图床): the part of PicGo's
/// `data.json` to merge in (`picBed.web-uploader`).
pub fn picgo(t: &Target) -> Value {
    let headers = match t.bearer() {
        Some(b) => json!({ "Authorization": b }).to_string(),
        None => String::new(),
    };
    json!({
        "picBed": {
            "uploader": "web-uploader",
            "current": "web-uploader",
            "web-uploader": {
                "url": t.upload_url(),
                "paramName": "file",
                "jsonPath": "files.0.url",
                "customHeader": headers,
                "customBody": "",
            },
        },
        "picgoPlugins": { "picgo-plugin-web-uploader": true },
    })
}

/// uPic's custom host export: a list of JSON-encoded hosts, each with its settings as a
/// JSON string (uPic's own format).
pub fn upic(t: &Target) -> Value {
    let mut headers = vec![json!({"key": "Content-Type", "value": "multipart/form-data"})];
    if let Some(b) = t.bearer() {
        headers.push(json!({"key": "Authorization", "value": b}));
    }
    let data = json!({
        "url": t.upload_url(),
        "method": "POST",
        "field": "file",
        "headers": Value::Array(headers).to_string(),
        "bodys": "[]",
        "resultPath": json!(["files", 0, "url"]).to_string(),
        "domain": t.site,
        "saveKeyPath": "",
        "suffix": "",
        "useBase64": false,
    });
    let host = json!({
        "id": "imgbed",
        "name": format!("imgbed ({})", t.host()),
        "type": "custom",
        "data": data.to_string(),
    });
    json!([host.to_string()])
}

/// Single-quotes a value for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A shell script for Flameshot (or any file): uploads with curl, prints the link and
/// the deletion link, and copies the link to the clipboard when it can.
pub fn flameshot(t: &Target) -> String {
    include_str!("../../../assets/ui/flameshot.sh")
        .replace("@SITE@", &sh_quote(t.site))
        .replace("@TOKEN@", &sh_quote(t.token.unwrap_or("")))
}

/// `GET /api/uploader_config?client=…`.
#[utoipa::path(get, path = "/api/uploader_config", params(("client" = String, Query, description = "sharex, picgo, upic or flameshot"), ("token" = Option<String>, Query, description = "account token (or Authorization: Bearer)")), responses((status = 200, description = "the config file (JSON; a shell script for flameshot)", content((serde_json::Value = "application/json"), (String = "text/x-shellscript"))), crate::http::schema::BadInput, crate::http::schema::NoToken, crate::http::schema::NotAllowed, crate::http::schema::RateLimited, crate::http::schema::DatabaseUnavailable))]
pub async fn uploader_config(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    uri: Uri,
) -> ApiResult<Response> {
    match caller.principal.kind {
        PrincipalKind::User => {}
        PrincipalKind::Anonymous => return Err(ApiError::of(Code::NoAuthority)),
        PrincipalKind::Admin => {
            return Err(ApiError::of(Code::Forbidden)
                .with_detail("uploader configs are made for accounts, not for the admin token"))
        }
    }
    super::super::authorize(&state, Action::AccountUploaderConfig, &caller.principal, facts()).await?;
    let query = query_map(&uri)?;
    let client = query.get("client").map(|c| c.trim().to_ascii_lowercase()).unwrap_or_default();
    if !CLIENTS.contains(&client.as_str()) {
        return Err(ApiError::of(Code::BadClient).with_detail(format!("client must be one of {}", CLIENTS.join(", "))));
    }
    let token = crate::auth::request_token(&headers, query.get("token").map(String::as_str));
    let site = crate::config::site_url(&state.settings.config);
    let target = Target { site: &site, token: token.as_deref() };
    let slug = target.host().replace(|c: char| !c.is_ascii_alphanumeric(), "-");
    let (body, ctype, file) = match client.as_str() {
        "sharex" => (pretty(&sharex(&target)), "application/json", format!("imgbed-{slug}.sxcu")),
        "picgo" => (pretty(&picgo(&target)), "application/json", format!("imgbed-{slug}-picgo.json")),
        "upic" => (pretty(&upic(&target)), "application/json", format!("imgbed-{slug}-upic.json")),
        _ => (flameshot(&target), "text/x-shellscript; charset=utf-8", format!("imgbed-{slug}-upload.sh")),
    };
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    // It holds the token: never cached.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_values_are_quoted() {
        assert_eq!(sh_quote("a'b"), "'a'\\''b'");
        let script = flameshot(&Target { site: "http://h:1", token: Some("t.k") });
        assert!(script.contains("'http://h:1'") && script.contains("'t.k'"), "{script}");
        assert!(!script.contains("@SITE@") && !script.contains("@TOKEN@"), "a placeholder is left: {script}");
    }

    #[test]
    fn no_token_no_header() {
        let t = Target { site: "http://h:1", token: None };
        assert!(sharex(&t).get("Headers").is_none());
        assert_eq!(picgo(&t)["picBed"]["web-uploader"]["customHeader"], "");
    }
}
