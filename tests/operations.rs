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
