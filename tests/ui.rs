//! The web UI's server side, black-box: pages and their headers, embedded assets, the
//! rate-limit exemption of pages and assets, deletion links and their errors, uploader
//! config errors. (The pages themselves are driven in Chromium by `tests/browser/`.)

mod common;

use common::{answer, assert_error, fixtures, Server};
use serde_json::{json, Value};

async fn token(s: &Server, mail: &str) -> String {
    let (status, body) = s.post_json("/api/get_token", &json!({"mail": mail})).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_string()
}

async fn upload_as(s: &Server, token: &str, name: &str, bytes: Vec<u8>) -> Value {
    let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_string());
    let res = s
        .http
        .post(s.at("/api/image_upload"))
        .bearer_auth(token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    let (status, body) = answer(res).await;
    assert_eq!(status, 200, "{body}");
    body["files"][0].clone()
}

#[tokio::test]
async fn pages_have_a_strict_policy_and_speak_the_browsers_language() {
    let s = Server::start(json!({}));
    for path in ["/", "/gallery", "/account", "/admin"] {
        let res = s.http.get(s.at(path)).header("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.5").send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let h = res.headers().clone();
        assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self';"), "{csp}");
        assert!(csp.contains("style-src 'self';") && !csp.contains("unsafe"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        let html = res.text().await.unwrap();
        assert!(html.contains("<html lang=\"zh-CN\">"), "{html}");
        // No inline script or style: only the embedded files.
        assert!(!html.contains("<script>") && !html.contains("style="), "{html}");
        assert!(html.contains("<script src=\"/ui/app.js?v="), "{html}");
    }
    let html = s.http.get(s.at("/")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("<html lang=\"en\">"));
    // Images are shown from where the links point, even when that is another origin.
    let s2 = Server::start(json!({"server": {"image_url": "https://cdn.example.org/i/"}}));
    let res = s2.http.get(s2.at("/gallery")).send().await.unwrap();
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("img-src 'self' data: blob: ") && csp.contains("https://cdn.example.org"), "{csp}");
}

#[tokio::test]
async fn assets_are_embedded_cached_and_unknown_ones_are_json_404() {
    let s = Server::start(json!({}));
    for (file, ctype) in [
        ("app.js", "text/javascript"),
        ("i18n.js", "text/javascript"),
        ("app.css", "text/css"),
        ("icon.svg", "image/svg+xml"),
    ] {
        let res = s.http.get(s.at(&format!("/ui/{file}"))).send().await.unwrap();
        assert_eq!(res.status(), 200, "{file}");
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with(ctype), "{file}");
        let etag = res.headers()["etag"].to_str().unwrap().to_string();
        assert!(!res.bytes().await.unwrap().is_empty());
        let again = s.http.get(s.at(&format!("/ui/{file}"))).header("If-None-Match", &etag).send().await.unwrap();
        assert_eq!(again.status(), 304, "{file}");
    }
    let got = answer(s.http.get(s.at("/ui/../../config.json")).send().await.unwrap()).await;
    assert_eq!(got.0, 404, "{}", got.1);
    assert_error(&s.get("/ui/nothing.js").await, 404, "no_route");
}

#[tokio::test]
async fn pages_and_assets_do_not_use_up_the_rate() {
    let s = Server::start(json!({"ip_filter": {"enabled": true, "rule": "5/60"}}));
    for _ in 0..4 {
        for path in ["/", "/gallery", "/ui/app.js", "/ui/app.css", "/ui/i18n.js", "/ui/icon.svg"] {
            assert_eq!(s.http.get(s.at(path)).send().await.unwrap().status(), 200, "{path}");
        }
    }
    // The API still has its whole allowance, and is limited as before.
    for _ in 0..5 {
        assert_eq!(s.get("/healthz").await.0, 200);
    }
    assert_error(&s.get("/healthz").await, 429, "rate_limited");
    assert_eq!(s.http.get(s.at("/account")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn deletion_links_delete_one_image_after_a_confirmation() {
    let s = Server::start(json!({"auth": {"jwt": true}}));
    let alice = token(&s, "alice@example.org").await;
    let file = upload_as(&s, &alice, "a.png", fixtures::png(9, 9, 1)).await;
    let other = upload_as(&s, &alice, "b.png", fixtures::png(9, 9, 2)).await;
    let link = file["delete_url"].as_str().unwrap().to_string();
    let name = file["name"].as_str().unwrap();
    assert!(link.starts_with(&format!("{}/delete/{name}?key=", s.url)), "{link}");
    let key = link.split("key=").nth(1).unwrap().to_string();
    assert_eq!(key.len(), 64);
    assert_ne!(other["delete_url"], file["delete_url"]);
    // Only a hash is stored.
    let db = s.database_bytes();
    assert!(!db.windows(key.len()).any(|w| w == key.as_bytes()), "the key is stored in the clear");

    // Opening the link shows a page and deletes nothing.
    let res = s.http.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    let page = res.text().await.unwrap();
    assert!(page.contains("<form method=\"post\" action=\"/delete/") && page.contains(&key), "{page}");
    assert_eq!(s.http.get(file["url"].as_str().unwrap()).send().await.unwrap().status(), 200);

    // Wrong, missing and foreign keys: the API's errors, nothing deleted.
    let path = format!("/delete/{name}");
    let post = |body: Value| {
        let (http, url) = (s.http.clone(), s.at(&path));
        async move { answer(http.post(url).json(&body).send().await.unwrap()).await }
    };
    assert_error(&post(json!({"key": "0".repeat(64)})).await, 403, "invalid_delete_key");
    assert_error(&post(json!({})).await, 400, "bad_request");
    assert_error(&post(json!({"key": 7})).await, 400, "bad_json");
    let other_key = other["delete_url"].as_str().unwrap().split("key=").nth(1).unwrap();
    assert_error(&post(json!({"key": other_key})).await, 403, "invalid_delete_key");
    assert_error(&s.get(&format!("{path}?key=abc")).await, 403, "invalid_delete_key");
    assert_error(&s.get(&path).await, 400, "bad_request");
    assert_error(&s.get(&format!("/delete/nothing.png?key={key}")).await, 404, "not_found");
    assert_eq!(s.http.get(file["url"].as_str().unwrap()).send().await.unwrap().status(), 200);

    // The form's POST deletes this image only (and the key is no account token).
    let res = s.http.post(s.at(&path)).form(&[("key", key.as_str())]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Deleted"));
    assert_eq!(s.http.get(file["url"].as_str().unwrap()).send().await.unwrap().status(), 404);
    assert_eq!(s.http.get(other["url"].as_str().unwrap()).send().await.unwrap().status(), 200);
    assert_error(&post(json!({"key": key})).await, 404, "not_found");
    let res = s.http.get(s.at("/api/image_list")).query(&[("token", key.as_str())]).send().await.unwrap();
    assert_error(&answer(res).await, 401, "invalid_token");
    // JSON answers for API clients.
    let (status, body) = post_other(&s, other["name"].as_str().unwrap(), other_key).await;
    assert_eq!((status, body["type"].as_str()), (200, Some("ok")), "{body}");
}

async fn post_other(s: &Server, name: &str, key: &str) -> (u16, Value) {
    answer(s.http.post(s.at(&format!("/delete/{name}"))).json(&json!({"key": key})).send().await.unwrap()).await
}

#[tokio::test]
async fn uploading_the_same_bytes_again_gives_a_new_link_and_retires_the_old() {
    let s = Server::start(json!({"auth": {"jwt": true}}));
    let bob = token(&s, "bob@example.org").await;
    let first = upload_as(&s, &bob, "c.png", fixtures::png(7, 7, 3)).await;
    let again = upload_as(&s, &bob, "c-again.png", fixtures::png(7, 7, 3)).await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["name"], first["name"]);
    assert_ne!(again["delete_url"], first["delete_url"]);
    let old = first["delete_url"].as_str().unwrap();
    assert_error(&answer(s.http.get(old).send().await.unwrap()).await, 403, "invalid_delete_key");
    assert_eq!(s.http.get(again["delete_url"].as_str().unwrap()).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn uploader_configs_need_an_account_and_a_known_client() {
    let s = Server::start(json!({"auth": {"jwt": true}}));
    assert_error(&s.get("/api/uploader_config?client=sharex").await, 401, "no_authority");
    let carol = token(&s, "carol@example.org").await;
    let get = |q: &str, t: String| {
        let (http, url) = (s.http.clone(), s.at(&format!("/api/uploader_config{q}")));
        async move { answer(http.get(url).bearer_auth(t).send().await.unwrap()).await }
    };
    assert_error(&get("?client=nope", carol.clone()).await, 400, "bad_client");
    assert_error(&get("", carol.clone()).await, 400, "bad_client");
    assert_error(&get("?client=sharex", s.admin_token()).await, 403, "forbidden");
    let (status, sx) = get("?client=sharex", carol.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(sx["Headers"]["Authorization"], format!("Bearer {carol}"));
    assert_eq!(sx["RequestURL"], format!("{}/api/image_upload", s.url));
    // Without tokens (a private install) the configs carry none.
    let open = Server::start(json!({}));
    let (status, sx) = open.get("/api/uploader_config?client=sharex").await;
    assert_eq!(status, 200);
    assert!(sx.get("Headers").is_none(), "{sx}");
}
