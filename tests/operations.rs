//! Operating imgbed on the internet: the IP filter (rates, bans, allow/deny,
//! trusted proxies), health and metrics of rate limiting.

mod common;

use std::net::IpAddr;

use common::{assert_error, Server};
use serde_json::json;

/// A client whose requests come from `source` (any 127.0.0.0/8 address works on Linux).
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(source.parse::<IpAddr>().unwrap()).build().unwrap()
}

async fn status_of(c: &reqwest::Client, url: &str, xff: Option<&str>) -> (u16, Option<String>) {
    let mut req = c.get(url);
    if let Some(x) = xff {
        req = req.header("X-Forwarded-For", x);
    }
    let res = req.send().await.unwrap();
    let retry = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    let status = res.status().as_u16();
    let _ = res.text().await;
    (status, retry)
}

#[tokio::test]
async fn the_request_over_the_rule_gets_429_with_retry_after_and_a_ban() {
    let s = Server::start(json!({"ip_filter": {"enabled": true, "rule": "3/60", "ban_s": 120}}));
    let c = client_from("127.0.0.1");
    let url = s.at("/api/image_list");
    for _ in 0..3 {
        assert_eq!(status_of(&c, &url, None).await.0, 200);
    }
    let res = c.get(&url).send().await.unwrap();
    assert_eq!(res.headers()["retry-after"], "120");
    assert_error(&common::answer(res).await, 429, "rate_limited");
    // Banned: other routes too (they share the default rule), and a spoofed
    // X-Forwarded-For from an untrusted peer changes nothing.
    for i in 0..5 {
        let (status, _) = status_of(&c, &s.at("/api/image_info?name=x"), Some(&format!("198.51.100.{i}"))).await;
        assert_eq!(status, 429);
    }
    // Another client is not affected; images are exempt.
    assert_eq!(status_of(&client_from("127.0.0.9"), &url, None).await.0, 200);
    assert_eq!(status_of(&c, &s.at("/images/none.png"), None).await.0, 404);
    // Ask from another loopback address: the banned client is refused everywhere.
    let metrics = client_from("127.0.0.10").get(s.at("/metrics")).send().await.unwrap().text().await.unwrap();
    let limited: u64 = metrics
        .lines()
        .find(|l| l.starts_with("imgbed_rate_limited_total"))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .unwrap_or(0);
    assert!(limited >= 6, "{metrics}");
}

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    let s = Server::start(json!({"ip_filter": {"enabled": true, "rule": "2/60", "trusted_proxies": ["127.0.0.2/32"]}}));
    let url = s.at("/api/image_list");
    let proxy = client_from("127.0.0.2");
    // Two clients behind the proxy are counted apart.
    for _ in 0..2 {
        assert_eq!(status_of(&proxy, &url, Some("203.0.113.7")).await.0, 200);
    }
    assert_eq!(status_of(&proxy, &url, Some("203.0.113.7")).await.0, 429);
    assert_eq!(status_of(&proxy, &url, Some("203.0.113.8")).await.0, 200);
    // A client-supplied entry before the real one does not help: the nearest untrusted hop counts.
    assert_eq!(status_of(&proxy, &url, Some("10.9.9.9, 203.0.113.7")).await.0, 429);
    // The standard Forwarded header works too.
    let res = proxy.get(&url).header("Forwarded", "for=\"[2001:db8::5]:4711\"").send().await.unwrap();
    assert_eq!(res.status(), 200);
    // An untrusted peer's headers are ignored: it is counted as itself.
    let direct = client_from("127.0.0.3");
    for i in 0..2 {
        assert_eq!(status_of(&direct, &url, Some(&format!("192.0.2.{i}"))).await.0, 200);
    }
    assert_eq!(status_of(&direct, &url, Some("192.0.2.99")).await.0, 429);
}

#[tokio::test]
async fn deny_and_allow_lists() {
    let s = Server::start(
        json!({"ip_filter": {"enabled": true, "deny": ["127.0.0.5/32"], "allow": ["127.0.0.0/29", "::1"]}}),
    );
    let url = s.at("/api/image_list");
    let res = client_from("127.0.0.5").get(&url).send().await.unwrap();
    assert_error(&common::answer(res).await, 403, "ip_denied");
    assert_eq!(status_of(&client_from("127.0.0.4"), &url, None).await.0, 200);
    assert_eq!(status_of(&client_from("127.0.0.20"), &url, None).await.0, 403, "outside the allow list");
}

#[tokio::test]
async fn per_route_rules_are_stricter_on_account_routes() {
    let s = Server::start(json!({"auth": {"jwt": true}, "ip_filter": {"enabled": true}}));
    let c = client_from("127.0.0.1");
    for i in 0..10 {
        let res =
            c.post(s.at("/api/get_token")).json(&json!({"mail": format!("u{i}@example.org")})).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }
    let res = c.post(s.at("/api/get_token")).json(&json!({"mail": "u10@example.org"})).send().await.unwrap();
    assert_error(&common::answer(res).await, 429, "rate_limited");
    // The general rule still lets this client list.
    let res = c.get(s.at("/api/image_list")).send().await.unwrap();
    assert_eq!(res.status(), 401, "not rate limited, just no token");
}

#[test]
fn bad_ip_filter_config_is_refused_naming_the_key() {
    for (config, key) in [
        (r#"{"ip_filter": {"rule": "ten per minute"}}"#, "ip_filter.rule"),
        (r#"{"ip_filter": {"deny": ["300.1.1.1"]}}"#, "ip_filter.deny"),
        (r#"{"ip_filter": {"routes": {"/api/get_token": "0/60"}}}"#, "ip_filter.routes./api/get_token"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), config).unwrap();
        let out = std::process::Command::new(common::binary())
            .arg("--config")
            .arg(dir.path().join("config.json"))
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{key}: {err}");
    }
}

#[tokio::test]
async fn health_and_readiness() {
    let s = Server::start(json!({}));
    let (status, body) = s.get("/healthz").await;
    assert_eq!((status, body["data"].as_str()), (200, Some("ok")));
    let (status, body) = s.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["database"], "ok");
    assert_eq!(body["data"]["storage"], "ok");
    assert_eq!(body["data"]["policy"], "imgbed-default@2.1.0");
    // Storage that refuses writes makes the server not ready (and says why).
    let tmp = s.images_dir().join(".tmp");
    std::fs::remove_dir_all(&tmp).unwrap();
    std::fs::write(&tmp, b"not a folder").unwrap();
    let (status, body) = s.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["data"]["database"], "ok");
    assert_ne!(body["data"]["storage"], "ok");
    std::fs::remove_file(&tmp).unwrap();
    std::fs::create_dir(&tmp).unwrap();
    assert_eq!(s.get("/readyz").await.0, 200);
}

#[tokio::test]
async fn cors_for_browser_front_ends() {
    let s = Server::start(json!({"cors": {"origins": ["https://app.example.org"]}}));
    let res = s
        .http
        .request(reqwest::Method::OPTIONS, s.at("/api/image_upload"))
        .header("Origin", "https://app.example.org")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    assert_eq!(res.headers()["access-control-allow-origin"], "https://app.example.org");
    let res = s.http.get(s.at("/api/image_list")).header("Origin", "https://evil.example").send().await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    let any = Server::start(json!({}));
    let res =
        any.http.get(any.at("/api/image_list")).header("Origin", "https://anything.example").send().await.unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn environment_overrides_any_key_and_config_check_validates() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(&config, r#"{"port": 0, "auth": {"jwt": false}, "ip_filter": {"enabled": false}}"#).unwrap();
    let bin = common::binary();
    let check = |envs: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(bin);
        cmd.args(["config", "check", "--config"]).arg(&config);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = check(&[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"ok\":true"));
    let out = check(&[("IMGBED__SERVER__IMAGE_SIZE", "lots")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.image_size"));
    let out = check(&[("IMGBED__SERVER__NO_SUCH_KEY", "1")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_such_key"));
    let missing = std::process::Command::new(bin)
        .args(["config", "check", "--config", "/nonexistent/config.json"])
        .output()
        .unwrap();
    assert!(!missing.status.success());

    // A real server picks the overrides up.
    let mut child = std::process::Command::new(bin)
        .arg("--config")
        .arg(&config)
        .env("IMGBED__SERVER__IMAGE_SIZE", "500")
        .env("IMGBED__SERVER__IMAGE_RULE", "md5")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let url = line.trim().strip_prefix("imgbed listening on ").unwrap().to_string();
    let http = reqwest::Client::new();
    let upload = |bytes: Vec<u8>| {
        let form =
            reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name("a.png"));
        http.post(format!("{url}/api/image_upload")).multipart(form).send()
    };
    let res = upload(common::fixtures::png(40, 40, 1)).await.unwrap();
    assert_eq!(res.status(), 413);
    let res = upload(common::fixtures::png(2, 2, 1)).await.unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["files"][0]["name"].as_str().unwrap().len(), 36, "md5 name: {body}");
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn access_log_files_hold_request_lines_and_never_tokens() {
    let s = Server::start(json!({"log": {"level": "info"}, "auth": {"jwt": true}}));
    let (_, reg) = s.post_json("/api/get_token", &json!({"mail": "log@example.org"})).await;
    let token = reg["token"].as_str().unwrap().to_string();
    let res = s
        .http
        .get(s.at(&format!("/api/image_list?token={token}")))
        .header("x-request-id", "req-12345")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "req-12345");
    let admin = s.admin_token();
    s.http.get(s.at(&format!("/api/admin/users?token={admin}"))).send().await.unwrap();
    let logs = s.path().join("logs");
    let mut text = String::new();
    for _ in 0..50 {
        text = std::fs::read_dir(&logs)
            .map(|d| d.flatten().map(|e| std::fs::read_to_string(e.path()).unwrap_or_default()).collect())
            .unwrap_or_default();
        if text.contains("req-12345") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let line = text.lines().find(|l| l.contains("req-12345")).unwrap_or_else(|| panic!("no request line in {text}"));
    assert!(
        line.contains("/api/image_list") && line.contains("status=200") && line.contains("client=127.0.0.1"),
        "{line}"
    );
    assert!(line.contains("imgbed-default@2.1.0"), "{line}");
    assert!(!text.contains(&token), "a token leaked into the log");
    assert!(!text.contains(&admin), "the admin token leaked into the log");
    let name = std::fs::read_dir(&logs).unwrap().flatten().next().unwrap().file_name().into_string().unwrap();
    assert!(name.starts_with("imgbed.") && name.ends_with(".log"), "{name}");
}

#[tokio::test]
async fn sigterm_lets_an_upload_in_flight_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Server::start(json!({}));
    let png = common::fixtures::png_of_size(200_000, 77);
    let boundary = "b0undary";
    let head = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.png\"\r\nContent-Type: image/png\r\n\r\n");
    let tail = format!("\r\n--{boundary}--\r\n");
    let total = head.len() + png.len() + tail.len();
    let addr = s.url.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let req = format!("POST /api/image_upload HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n{head}");
    conn.write_all(req.as_bytes()).await.unwrap();
    conn.write_all(&png[..png.len() / 2]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    s.signal("TERM");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    conn.write_all(&png[png.len() / 2..]).await.unwrap();
    conn.write_all(tail.as_bytes()).await.unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("文件上传成功"));
    // New connections are refused once it has stopped.
    let mut gone = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(&addr).await.is_err() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(gone, "the server stopped after finishing");
    assert_eq!(s.stored_files().len(), 1);
}

#[tokio::test]
async fn openapi_documents_every_route() {
    let s = Server::start(json!({}));
    let (status, doc) = s.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let routes = [
        ("post", "/api/image_upload"),
        ("get", "/api/image_list"),
        ("get", "/api/image_info"),
        ("get", "/api/image_format"),
        ("post", "/api/image_delete"),
        ("post", "/api/init_db"),
        ("post", "/api/get_token"),
        ("get", "/api/remove_token"),
        ("post", "/api/remove_token"),
        ("post", "/api/mail_for_reset"),
        ("get", "/api/admin/users"),
        ("post", "/api/admin/remove_user"),
        ("get", "/api/admin/policy"),
        ("put", "/api/admin/policy"),
        ("post", "/api/admin/policy/rollback"),
        ("get", "/api/admin/policy/shadow"),
        ("put", "/api/admin/policy/shadow"),
        ("delete", "/api/admin/policy/shadow"),
        ("post", "/api/admin/policy/shadow/promote"),
        ("get", "/images/{name}"),
        ("get", "/thumbs/{name}"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("get", "/api/openapi.json"),
        ("get", "/api/uploader_config"),
        ("get", "/delete/{name}"),
        ("post", "/delete/{name}"),
    ];
    for (method, path) in routes {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path} has no responses");
        // And the route really exists.
        let url = s.at(&path.replace("{name}", "missing.png"));
        // Thumbnails are off in this server: the route answers 404 JSON (not_found), not no_route.
        let res = s.http.request(method.to_uppercase().parse().unwrap(), url).send().await.unwrap();
        let text = res.text().await.unwrap();
        assert!(!text.contains("\"no_route\""), "{method} {path} is documented but not served");
    }
    // Nothing documented that is not served.
    let documented: usize = doc["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, routes.len(), "{}", doc["paths"]);
}

/// Regression guard for the ~40 ms wait of every answer (Nagle's algorithm meeting the
/// client's delayed ACK when `TCP_NODELAY` is off): 50 sequential GETs of a 200 KB image on
/// one keep-alive connection take 2 s or more with the wait, a few tens of ms without it.
#[tokio::test]
async fn sequential_gets_on_one_connection_do_not_wait_for_delayed_acks() {
    let s = Server::start(json!({}));
    let big = common::fixtures::png_of_size(200_000, 11);
    let (status, body) = s.upload(&[("big.png", big.clone(), "image/png")]).await;
    assert_eq!(status, 200, "{body}");
    let url = s.at(&format!("/images/{}", body["files"][0]["name"].as_str().unwrap()));
    let one = reqwest::Client::builder().pool_max_idle_per_host(1).http1_only().build().unwrap();
    assert_eq!(one.get(&url).send().await.unwrap().bytes().await.unwrap().len(), big.len());
    let started = std::time::Instant::now();
    for _ in 0..50 {
        let res = one.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.bytes().await.unwrap().len(), big.len());
    }
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(1), "50 GETs took {took:?}: is TCP_NODELAY off again?");
}
