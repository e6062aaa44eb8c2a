//! The web UI: four pages (upload, gallery, account, admin) served as small HTML shells
//! with one embedded script and one style sheet, which call the JSON API with the token
//! kept in the browser's `localStorage` (sent as `Authorization: Bearer`, never in a
//! cookie or a URL). No inline script or style: every page has a strict CSP.
//!
//! Also here: the uploader configs (`/api/uploader_config`) and the per-image deletion
//! links (`/delete/{name}?key=`).

mod assets;
pub mod delete_link;
pub mod uploader;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::app::Shared;
use crate::config::Config;

/// The UI's routes, merged into the application's router.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(|s: State<Shared>, h: HeaderMap| page(s, h, Page::Upload)))
        .route("/gallery", get(|s: State<Shared>, h: HeaderMap| page(s, h, Page::Gallery)))
        .route("/account", get(|s: State<Shared>, h: HeaderMap| page(s, h, Page::Account)))
        .route("/admin", get(|s: State<Shared>, h: HeaderMap| page(s, h, Page::Admin)))
        .route("/ui/{file}", get(assets::asset))
        .route("/api/uploader_config", get(uploader::uploader_config))
        .route("/delete/{name}", get(delete_link::show).post(delete_link::confirm))
}

/// Routes of the UI that are static (pages and assets): not rate limited, so opening and
/// browsing pages never uses up a client's API rate.
pub fn is_static_route(route: &str) -> bool {
    matches!(route, "/" | "/gallery" | "/account" | "/admin" | "/ui/{file}")
}

#[derive(Clone, Copy)]
enum Page {
    Upload,
    Gallery,
    Account,
    Admin,
}

impl Page {
    fn id(self) -> &'static str {
        match self {
            Page::Upload => "upload",
            Page::Gallery => "gallery",
            Page::Account => "account",
            Page::Admin => "admin",
        }
    }
}

/// The two languages of the UI.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
}

/// The language a browser prefers among Chinese and English (`Accept-Language`, by
/// quality, then order). Neither named: English.
pub fn negotiate(accept: Option<&str>) -> Lang {
    let mut best: Option<(f32, Lang)> = None;
    for item in accept.unwrap_or("").split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q =
            parts.find_map(|p| p.trim().strip_prefix("q=").and_then(|v| v.trim().parse::<f32>().ok())).unwrap_or(1.0);
        let lang = if tag == "zh" || tag.starts_with("zh-") {
            Lang::Zh
        } else if tag == "en" || tag.starts_with("en-") {
            Lang::En
        } else {
            continue;
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, lang));
        }
    }
    best.map_or(Lang::En, |(_, l)| l)
}

/// `scheme://host[:port]` of a URL, if it has one made of the characters a CSP source
/// may hold (anything else is left out of the policy, never copied into it).
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let ok = |s: &str, extra: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
    (ok(scheme, "+-.") && ok(host, ".-:[]_")).then(|| format!("{}://{host}", scheme.to_ascii_lowercase()))
}

/// The pages' Content-Security-Policy: scripts and styles only from this server; images
/// and videos also from where the links point (`public_url`, `server.image_url`, and
/// `database.s3.public_url` when links or redirects go there), which may be another
/// origin than the one the page was opened with.
pub fn page_csp(config: &Config) -> String {
    let mut media = vec!["'self'".to_string(), "data:".into(), "blob:".into()];
    let s3 = &config.database.s3;
    let bucket = (config.database.blob == "s3" && (s3.public_links || s3.redirect)).then(|| s3.public_url.clone());
    for url in [crate::config::site_url(config), config.server.image_url.clone()].into_iter().chain(bucket) {
        if let Some(o) = origin_of(&url) {
            if !media.contains(&o) {
                media.push(o);
            }
        }
    }
    let media = media.join(" ");
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src {media}; media-src {media}; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// Headers every UI page carries.
pub fn page_headers(config: &Config, res: &mut Response) {
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&page_csp(config)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

const SHELL: &str = include_str!("../../../assets/ui/page.html");

async fn page(state: State<Shared>, headers: HeaderMap, which: Page) -> Response {
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    let lang = negotiate(accept);
    let html = SHELL
        .replace("{lang}", lang.code())
        .replace("{page}", which.id())
        .replace("{version}", assets::version())
        .replace("{jwt}", if state.settings.config.auth.jwt { "on" } else { "off" })
        .replace("{mail}", if state.mailer.configured() { "on" } else { "off" });
    let mut res = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::VARY, "Accept-Language"),
        ],
        html,
    )
        .into_response();
    page_headers(&state.settings.config, &mut res);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_are_negotiated() {
        assert_eq!(negotiate(None), Lang::En);
        assert_eq!(negotiate(Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::Zh);
        assert_eq!(negotiate(Some("en-US,en;q=0.9,zh;q=0.8")), Lang::En);
        assert_eq!(negotiate(Some("fr, zh-TW;q=0.5")), Lang::Zh);
        assert_eq!(negotiate(Some("de")), Lang::En);
        assert_eq!(negotiate(Some("en;q=0.2, zh;q=0.7")), Lang::Zh);
    }

    #[test]
    fn origins_for_the_policy() {
        assert_eq!(origin_of("http://localhost:5000/images/").as_deref(), Some("http://localhost:5000"));
        assert_eq!(origin_of("https://cdn.example.org").as_deref(), Some("https://cdn.example.org"));
        assert_eq!(origin_of("http://[::1]:8080/x").as_deref(), Some("http://[::1]:8080"));
        assert_eq!(origin_of("http://a.org; script-src *"), None);
        assert_eq!(origin_of(""), None);
    }
}
