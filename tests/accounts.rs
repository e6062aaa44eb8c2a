//! Accounts, tokens and mail: the real binary, a real SMTP server on loopback.

mod common;

use common::{assert_error, fixtures, Server};
use serde_json::{json, Value};

fn with_auth(extra: Value) -> Value {
    let mut config = common::mail_config();
    config["auth"] = json!({"jwt": true});
    if let (Value::Object(c), Value::Object(e)) = (&mut config, extra) {
        for (k, v) in e {
            c.insert(k, v);
        }
    }
    config
}

/// Registers `mail` and returns its token.
async fn register(s: &Server, mail: &str) -> String {
    let (status, body) = s.post_json("/api/get_token", &json!({"mail": mail})).await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    token
}

async fn upload_as(s: &Server, token: &str, seed: u64) -> (u16, Value) {
    let part = reqwest::multipart::Part::bytes(fixtures::png(6, 6, seed)).file_name("p.png");
    let form = reqwest::multipart::Form::new().part("file", part);
    let res = s.http.post(s.at(&format!("/api/image_upload?token={token}"))).multipart(form).send().await.unwrap();
    common::answer(res).await
}

async fn get_as(s: &Server, token: &str, path: &str) -> (u16, Value) {
    common::answer(s.http.get(s.at(path)).bearer_auth(token).send().await.unwrap()).await
}

#[tokio::test]
async fn tokens_are_issued_once_per_mail() {
    let s = Server::start(with_auth(json!({})));
    let token = register(&s, "alice@example.org").await;
    let again = s.post_json("/api/get_token", &json!({"mail": "Alice@Example.ORG "})).await;
    assert_eq!(again.0, 409, "{}", again.1);
    assert_eq!(again.1["token"], "already exist");
    assert_eq!(again.1["code"], "token_exists");
    // The token works from the query (the original's clients) and from the header.
    assert_eq!(upload_as(&s, &token, 1).await.0, 200);
    let (status, list) = get_as(&s, &token, "/api/image_list").await;
    assert_eq!((status, list["total"].as_u64()), (200, Some(1)));
    // The token is not stored in plain text anywhere in the database.
    let hay = s.database_bytes();
    assert!(hay.windows(b"alice@example.org".len()).any(|w| w == b"alice@example.org"), "account not in the database");
    assert!(!hay.windows(token.len()).any(|w| w == token.as_bytes()), "plaintext token in the database");
}

#[tokio::test]
async fn bad_mail_input_is_refused_clearly() {
    let s = Server::start(with_auth(json!({})));
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"".to_vec(), 400, "bad_json"),
        (b"{not json".to_vec(), 400, "bad_json"),
        (b"[\"a@b.org\"]".to_vec(), 400, "bad_json"),
        (br#"{"mail": 5}"#.to_vec(), 400, "bad_json"),
        (br#"{"mail": ["a@b.org"]}"#.to_vec(), 400, "bad_json"),
        (br#"{}"#.to_vec(), 400, "invalid_mail"),
        (br#"{"mail": ""}"#.to_vec(), 400, "invalid_mail"),
        (br#"{"mail": "no-at-sign"}"#.to_vec(), 400, "invalid_mail"),
        (br#"{"mail": "a@b"}"#.to_vec(), 400, "invalid_mail"),
        (r#"{"mail": "用户@例子.公司"}"#.as_bytes().to_vec(), 400, "invalid_mail"),
        (br#"{"mail": "a'; DROP TABLE users;--@x.org"}"#.to_vec(), 400, "invalid_mail"),
        (br#"{"mail": "x@y.org' OR '1'='1"}"#.to_vec(), 400, "invalid_mail"),
        (format!(r#"{{"mail": "{}@example.org"}}"#, "a".repeat(10_000)).into_bytes(), 400, "invalid_mail"),
    ];
    for (body, status, code) in cases {
        let res = s
            .http
            .post(s.at("/api/get_token"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let got = common::answer(res).await;
        assert_error(&got, status, code);
        assert_eq!(got.1["token"], "", "the original's empty token on bad input: {}", String::from_utf8_lossy(&body));
    }
    // Nothing was registered, and the tables are intact.
    let token = register(&s, "ok@example.org").await;
    assert_eq!(upload_as(&s, &token, 2).await.0, 200);
}

#[tokio::test]
async fn image_routes_need_a_valid_token() {
    let s = Server::start(with_auth(json!({})));
    let token = register(&s, "bob@example.org").await;
    for path in ["/api/image_list", "/api/image_info?name=x.png", "/api/image_format?name=x.png"] {
        let got = s.get(path).await;
        assert_error(&got, 401, "no_authority");
        assert_eq!(got.1["data"], "401 No Authority");
    }
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(fixtures::png(3, 3, 3)).file_name("a.png"));
    let res = s.http.post(s.at("/api/image_upload")).multipart(form).send().await.unwrap();
    assert_error(&common::answer(res).await, 401, "no_authority");
    assert!(s.stored_files().is_empty());

    // Malformed, forged, and signed with another secret.
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let claims: Value = {
        use base64::Engine as _;
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    };
    let other_secret = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"another server's secret, 32 bytes"),
    )
    .unwrap();
    let none_alg = {
        use base64::Engine as _;
        let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims))
    };
    for bad in ["garbage", "a.b.c", forged.as_str(), other_secret.as_str(), none_alg.as_str(), "just_for_test"] {
        assert_error(&get_as(&s, bad, "/api/image_list").await, 401, "invalid_token");
        let res = s.http.get(s.at(&format!("/api/image_list?token={bad}"))).send().await.unwrap();
        assert_error(&common::answer(res).await, 401, "invalid_token");
    }
    // A token from another server (its own secret) is refused too.
    let other = Server::start(with_auth(json!({})));
    let foreign = register(&other, "bob@example.org").await;
    assert_ne!(foreign, token);
    assert_error(&get_as(&s, &foreign, "/api/image_list").await, 401, "invalid_token");
    assert_eq!(get_as(&s, &token, "/api/image_list").await.0, 200);
}

#[tokio::test]
async fn users_see_and_touch_only_their_own_images() {
    let s = Server::start(with_auth(json!({})));
    let a = register(&s, "a@example.org").await;
    let b = register(&s, "b@example.org").await;
    let (_, up) = upload_as(&s, &a, 10).await;
    let name = up["files"][0]["name"].as_str().unwrap().to_string();
    upload_as(&s, &b, 11).await;

    let (_, list_b) = get_as(&s, &b, "/api/image_list").await;
    assert_eq!(list_b["total"], 1);
    assert_ne!(list_b["data"][0]["name"], name.as_str());
    assert_error(&get_as(&s, &b, &format!("/api/image_info?name={name}")).await, 404, "not_found");
    assert_error(&get_as(&s, &b, &format!("/api/image_format?name={name}")).await, 404, "not_found");
    let res = s.http.post(s.at("/api/image_delete")).bearer_auth(&b).json(&json!({"name": name})).send().await.unwrap();
    assert_error(&common::answer(res).await, 404, "not_found");
    assert!(s.stored_files().contains(&name));
    // The same bytes uploaded by B are B's own copy, not a link to A's record.
    let (_, dup) = upload_as(&s, &b, 10).await;
    assert_ne!(dup["files"][0]["name"], name.as_str());
    assert_eq!(dup["files"][0]["duplicate"], false);

    assert_eq!(get_as(&s, &a, &format!("/api/image_info?name={name}")).await.0, 200);
    let res =
        s.http.post(s.at(&format!("/api/image_delete?token={a}"))).json(&json!({"name": name})).send().await.unwrap();
    assert_eq!(common::answer(res).await.0, 200);
    assert!(!s.stored_files().contains(&name));
}

#[tokio::test]
async fn remove_token_with_the_token_deletes_the_account_and_its_images() {
    let s = Server::start(with_auth(json!({})));
    let token = register(&s, "carol@example.org").await;
    upload_as(&s, &token, 20).await;
    upload_as(&s, &token, 21).await;
    assert_eq!(s.stored_files().len(), 2);

    let got = s.get("/api/remove_token?mail=carol@example.org").await;
    assert_error(&got, 400, "missing_fields");
    assert_eq!(got.1["data"], "密钥删除失败,信息不全");
    let got = s.get("/api/remove_token?mail=carol@example.org&token=wrong").await;
    assert_error(&got, 403, "remove_failed");
    assert_eq!(got.1["data"], "密钥删除失败");
    let other = register(&s, "dave@example.org").await;
    assert_error(
        &s.get(&format!("/api/remove_token?mail=carol@example.org&token={other}")).await,
        403,
        "remove_failed",
    );

    let (status, body) = s.get(&format!("/api/remove_token?mail=carol@example.org&token={token}")).await;
    assert_eq!((status, body["data"].as_str()), (200, Some("密钥删除成功")));
    assert!(s.stored_files().is_empty());
    assert_error(&get_as(&s, &token, "/api/image_list").await, 401, "invalid_token");
    // Registering again gives a new token; the old one stays revoked.
    let fresh = register(&s, "carol@example.org").await;
    assert_ne!(fresh, token);
    assert_error(&get_as(&s, &token, "/api/image_list").await, 401, "invalid_token");
    assert_eq!(get_as(&s, &fresh, "/api/image_list").await.1["total"], 0);
}

fn link_in(body: &str) -> String {
    let start = body.find("http://").expect("a link in the mail");
    body[start..].split_whitespace().next().unwrap().to_string()
}

#[tokio::test]
async fn recovery_mail_link_confirms_removal_once() {
    let s = Server::start(with_auth(json!({"public_url": "https://img.example.org"})));
    let mail = "erin@example.org";
    let token = register(&s, mail).await;
    upload_as(&s, &token, 30).await;

    let (status, body) = s.post_json("/api/mail_for_reset", &json!({"mail": mail})).await;
    assert_eq!((status, body["data"].as_str()), (200, Some("找回邮件已发送")), "{body}");
    let (subject, text) = common::wait_for_mail(mail);
    assert_eq!(subject, "Mgek_ImgBed认证密钥找回服务");
    assert!(text.contains(&token), "the mail holds the same token: {text}");
    let start = text.find("https://img.example.org/api/remove_token?").expect("link built from public_url");
    let link = text[start..].split_whitespace().next().unwrap().to_string();
    let path = link.trim_start_matches("https://img.example.org");
    assert!(path.contains("mail=erin%40example.org") && path.contains("check="), "{link}");

    // A mail scanner opening the link deletes nothing: it gets a confirmation page.
    let res = s.http.get(s.at(path)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = res.text().await.unwrap();
    assert!(page.contains("<form method=\"post\" action=\"/api/remove_token\">"), "{page}");
    assert_eq!(get_as(&s, &token, "/api/image_list").await.0, 200, "still there after GET");

    // The form's POST deletes.
    let check = path.split("check=").nth(1).unwrap().to_string();
    let form = [("mail", mail), ("check", check.as_str())];
    let res = s.http.post(s.at("/api/remove_token")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("密钥删除成功"));
    assert_error(&get_as(&s, &token, "/api/image_list").await, 401, "invalid_token");
    assert!(s.stored_files().is_empty());

    // The same code a second time fails (JSON client this time), and the link page says so.
    let got = s.post_json("/api/remove_token", &json!({"mail": mail, "check": check})).await;
    assert_error(&got, 403, "remove_failed");
    let res = s.http.get(s.at(path)).send().await.unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn an_expired_check_code_fails() {
    let s = Server::start(with_auth(json!({"auth": {"jwt": true, "check_ttl_s": 1}})));
    let mail = "frank@example.org";
    let token = register(&s, mail).await;
    assert_eq!(s.post_json("/api/mail_for_reset", &json!({"mail": mail})).await.0, 200);
    let (_, text) = common::wait_for_mail(mail);
    let link = link_in(&text);
    let check = link.split("check=").nth(1).unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let got = s.post_json("/api/remove_token", &json!({"mail": mail, "check": check})).await;
    assert_error(&got, 403, "remove_failed");
    assert_eq!(get_as(&s, &token, "/api/image_list").await.0, 200, "the account is untouched");
    // A wrong code never works either.
    let got = s.post_json("/api/remove_token", &json!({"mail": mail, "check": "0".repeat(48)})).await;
    assert_error(&got, 403, "remove_failed");
}

#[tokio::test]
async fn reset_answers_the_same_for_known_and_unknown_addresses_whatever_the_smtp_set_up() {
    let s = Server::start(with_auth(json!({})));
    register(&s, "known@example.org").await;
    let known = s.post_json("/api/mail_for_reset", &json!({"mail": "known@example.org"})).await;
    let unknown = s.post_json("/api/mail_for_reset", &json!({"mail": "nobody@example.org"})).await;
    assert_eq!(known, unknown);
    assert_eq!((known.0, known.1["data"].as_str()), (200, Some("找回邮件已发送")));
    common::wait_for_mail("known@example.org");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(!common::has_mail("nobody@example.org"));
    assert_error(&s.post_json("/api/mail_for_reset", &json!({"mail": 7})).await, 400, "bad_json");
    assert_error(&s.post_json("/api/mail_for_reset", &json!({"mail": "bad"})).await, 400, "invalid_mail");

    // An SMTP server that is not there: the same answer for both (the failure is logged).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = Server::start(json!({
        "auth": {"jwt": true},
        "mail": {"host": "127.0.0.1", "port": closed, "tls": "none", "from": "imgbed@example.org", "timeout_s": 2}
    }));
    register(&down, "gina@example.org").await;
    let known = down.post_json("/api/mail_for_reset", &json!({"mail": "gina@example.org"})).await;
    let unknown = down.post_json("/api/mail_for_reset", &json!({"mail": "nobody@example.org"})).await;
    assert_eq!(known, unknown);
    assert_eq!(known.0, 200);

    // No mail configured (the default): the same refusal for both, before any look-up.
    let none = Server::start(json!({"auth": {"jwt": true}}));
    register(&none, "hal@example.org").await;
    let known = none.post_json("/api/mail_for_reset", &json!({"mail": "hal@example.org"})).await;
    let unknown = none.post_json("/api/mail_for_reset", &json!({"mail": "nobody@example.org"})).await;
    assert_error(&known, 501, "mail_not_configured");
    assert_eq!(known, unknown);
}

#[tokio::test]
async fn a_new_recovery_mail_never_cancels_a_pending_link_and_mails_are_throttled() {
    let s = Server::start(with_auth(json!({})));
    let mail = "ivan@example.org";
    let token = register(&s, mail).await;
    assert_eq!(s.post_json("/api/mail_for_reset", &json!({"mail": mail})).await.0, 200);
    let (_, first) = common::wait_for_mail(mail);
    // Someone else asks again: a second mail, with its own code.
    assert_eq!(s.post_json("/api/mail_for_reset", &json!({"mail": mail})).await.0, 200);
    let (_, second) = common::wait_for_mail(mail);
    let code = |text: &str| link_in(text).split("check=").nth(1).unwrap().to_string();
    assert_ne!(code(&first), code(&second));
    // A third is sent; a fourth in the same hour is answered alike but not sent.
    assert_eq!(s.post_json("/api/mail_for_reset", &json!({"mail": mail})).await.0, 200);
    common::wait_for_mail(mail);
    assert_eq!(s.post_json("/api/mail_for_reset", &json!({"mail": mail})).await.0, 200);
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert!(!common::has_mail(mail), "a fourth mail within the hour");
    // The first link still works.
    let got = s.post_json("/api/remove_token", &json!({"mail": mail, "check": code(&first)})).await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_error(&get_as(&s, &token, "/api/image_list").await, 401, "invalid_token");
}

#[tokio::test]
async fn admin_lists_users_removes_and_bans() {
    let s = Server::start(with_auth(json!({})));
    let admin = s.admin_token();
    let h = register(&s, "henry@example.org").await;
    let i = register(&s, "iris@example.org").await;
    let (_, up) = upload_as(&s, &h, 40).await;
    upload_as(&s, &h, 41).await;
    let name = up["files"][0]["name"].as_str().unwrap().to_string();

    assert_error(&get_as(&s, &h, "/api/admin/users").await, 403, "forbidden");
    assert_error(&s.get("/api/admin/users").await, 401, "no_authority");
    let (status, users) = get_as(&s, &admin, "/api/admin/users").await;
    assert_eq!(status, 200);
    let henry = users["data"].as_array().unwrap().iter().find(|u| u["mail"] == "henry@example.org").unwrap();
    assert_eq!(henry["images"], 2);
    assert!(henry["bytes"].as_u64().unwrap() > 0);
    assert_eq!(users["total"], 2);

    // The admin deletes any image.
    let res =
        s.http.post(s.at("/api/image_delete")).bearer_auth(&admin).json(&json!({"name": name})).send().await.unwrap();
    assert_eq!(common::answer(res).await.0, 200);
    assert_eq!(get_as(&s, &h, "/api/image_list").await.1["total"], 1);

    // Non-admins cannot remove users; the admin removes and bans.
    let res = s
        .http
        .post(s.at("/api/admin/remove_user"))
        .bearer_auth(&i)
        .json(&json!({"mail": "henry@example.org"}))
        .send()
        .await
        .unwrap();
    assert_error(&common::answer(res).await, 403, "forbidden");
    let res = s
        .http
        .post(s.at("/api/admin/remove_user"))
        .bearer_auth(&admin)
        .json(&json!({"mail": "henry@example.org", "ban": true}))
        .send()
        .await
        .unwrap();
    let (status, body) = common::answer(res).await;
    assert_eq!((status, body["images_deleted"].as_u64()), (200, Some(1)), "{body}");
    assert!(s.stored_files().is_empty());
    assert_error(&get_as(&s, &h, "/api/image_list").await, 401, "invalid_token");
    let got = s.post_json("/api/get_token", &json!({"mail": "henry@example.org"})).await;
    assert_error(&got, 403, "banned");
    let res = s
        .http
        .post(s.at("/api/admin/remove_user"))
        .bearer_auth(&admin)
        .json(&json!({"mail": "nobody@example.org"}))
        .send()
        .await
        .unwrap();
    assert_error(&common::answer(res).await, 404, "no_user");
    // init_db with the admin token, via the query like the original's clients.
    let res = s.http.post(s.at(&format!("/api/init_db?token={admin}"))).send().await.unwrap();
    assert_eq!(common::answer(res).await.0, 200);
    assert_eq!(get_as(&s, &i, "/api/image_list").await.0, 200);
}

#[tokio::test]
async fn policy_settings_restrict_mail_domains() {
    let s = Server::start(with_auth(json!({"policy": {"settings": {"mail_domains": "example.org, Example.NET"}}})));
    assert_error(&s.post_json("/api/get_token", &json!({"mail": "x@gmail.com"})).await, 403, "mail_domain");
    register(&s, "x@example.org").await;
    register(&s, "y@example.net").await;
}
