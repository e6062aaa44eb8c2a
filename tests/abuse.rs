//! Hostile clients: bodies read only after the token is checked (and an upload only after
//! the policy saw its declared length), forwarded addresses believed only as a trusted
//! proxy wrote them, private metrics, bounded labels, part headers and file names, and
//! connections that cannot be held open for free.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{assert_error, fixtures, Server};
use serde_json::{json, Value};

const TEST_POLICY: &str = concat!(env!("IMGBED_POLICIES_DIR"), "/imgbed_test_policy.wasm");

/// A raw connection to the server, with a read deadline.
fn connect(s: &Server) -> TcpStream {
    let addr = s.url.trim_start_matches("http://").to_string();
    let c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

/// What the server sends back before closing (or until the read deadline).
fn read_answer(c: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.windows(4).any(|w| w == b"\r\n\r\n") && out.ends_with(b"}") {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Status and JSON body of a raw answer (what `common::answer` gives for a reqwest one).
fn parse_answer(text: &str) -> (u16, Value) {
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no answer: {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"));
    (status, json)
}

/// A multipart upload of one PNG named `name`: the request head, announcing `declared`
/// bytes (the body's real length when `None`), and the body.
fn upload_request(name: &str, png: &[u8], declared: Option<usize>) -> (String, Vec<u8>) {
    let boundary = "XyZbOuNdArY";
    let part = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: image/png\r\n\r\n"
    );
    let mut body = part.into_bytes();
    body.extend_from_slice(png);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let length = declared.unwrap_or(body.len());
    let head = format!(
        "POST /api/image_upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\
         Content-Length: {length}\r\n\r\n"
    );
    (head, body)
}

#[tokio::test]
async fn an_upload_without_a_token_is_refused_before_its_body_is_read() {
    let s = Server::start(json!({"auth": {"jwt": true}}));
    let mut c = connect(&s);
    // Announces 150 MiB (under the request cap), sends the start of the part, then waits:
    // the answer must not wait for the rest (the idle timeout is 30 s, the read deadline 5 s).
    let (head, body) = upload_request("a.png", &fixtures::png(8, 8, 1), Some(150 << 20));
    c.write_all(&[head.as_bytes(), &body[..body.len() / 2]].concat()).unwrap();
    let started = Instant::now();
    let got = parse_answer(&read_answer(&mut c));
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_error(&got, 401, "no_authority");
    assert!(s.temp_files().is_empty(), "{:?}", s.temp_files());
    assert!(s.stored_files().is_empty(), "{:?}", s.stored_files());
}

#[tokio::test]
async fn the_policy_sees_the_declared_length_and_refuses_before_the_body_is_sent() {
    let png = fixtures::png(8, 8, 2);
    let (head, body) = upload_request("fits.png", &png, None);
    // The test policy's `authorize` refuses an upload whose `content-length` fact is over
    // `test.max_content_length`: here exactly the length of the request that fits.
    let limit = body.len();
    let settings = json!({"test.max_content_length": limit.to_string()});
    let s = Server::start(json!({"policy": {"path": TEST_POLICY, "settings": settings}}));
    // One byte more announced, and none of the body sent: refused from the head alone.
    let over = limit + 1;
    let (over_head, _) = upload_request("fits.png", &png, Some(over));
    let mut c = connect(&s);
    c.write_all(over_head.as_bytes()).unwrap();
    let started = Instant::now();
    let got = parse_answer(&read_answer(&mut c));
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_error(&got, 413, "declared_too_large");
    let told = got.1["data"].as_str().unwrap_or_default();
    assert!(told.contains(&format!("content-length {over} over {limit}")), "the policy was told {told:?}");
    assert!(s.temp_files().is_empty() && s.stored_files().is_empty(), "{:?}", s.stored_files());
    // Far over, with the start of the body sent: the same, at once.
    let (far_head, _) = upload_request("fits.png", &png, Some(100 << 20));
    let mut c = connect(&s);
    c.write_all(&[far_head.as_bytes(), &body[..body.len() / 2]].concat()).unwrap();
    let got = parse_answer(&read_answer(&mut c));
    assert_error(&got, 413, "declared_too_large");
    // Exactly at the limit: authorized, received, judged and stored as usual.
    let mut c = connect(&s);
    c.write_all(&[head.as_bytes(), &body[..]].concat()).unwrap();
    let (status, answer) = parse_answer(&read_answer(&mut c));
    assert_eq!(status, 200, "{answer}");
    let name = answer["files"][0]["name"].as_str().unwrap_or_default();
    assert!(name.starts_with("t-"), "stored under the test policy's name: {answer}");
    assert_eq!(s.stored_files().len(), 1, "{:?}", s.stored_files());
}

#[tokio::test]
async fn a_policy_upload_without_the_admin_token_is_refused_before_its_body_is_read() {
    let s = Server::start(json!({"auth": {"jwt": true}}));
    let mut c = connect(&s);
    // Announces 60 MiB, sends a few bytes, then waits: the answer must not wait for the rest.
    let head = format!("PUT /api/admin/policy HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", 60 << 20);
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(&[0u8; 1024]).unwrap();
    let started = Instant::now();
    let answer = read_answer(&mut c);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    // A user token is no better; the admin token gets to the body (an empty one is a 400).
    let got = common::answer(s.http.put(s.at("/api/admin/policy")).body(vec![0u8; 10]).send().await.unwrap()).await;
    assert_error(&got, 401, "no_authority");
    let admin = s.admin_token();
    let got = s.http.put(s.at("/api/admin/policy")).bearer_auth(&admin).send().await.unwrap();
    assert_error(&common::answer(got).await, 400, "bad_request");
    // Over the limit: 413 from the declared length, before reading.
    let mut c = connect(&s);
    let head = format!(
        "PUT /api/admin/policy HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\nContent-Length: {}\r\n\r\n",
        65 << 20
    );
    c.write_all(head.as_bytes()).unwrap();
    assert!(read_answer(&mut c).starts_with("HTTP/1.1 413"));
}

#[tokio::test]
async fn only_the_header_our_proxy_writes_names_the_client() {
    let s = Server::start(json!({"ip_filter": {"enabled": true, "rule": "5/60", "trusted_proxies": ["127.0.0.1"],
                                               "deny": ["198.51.100.9"]}}));
    // Behind nginx: it appends the address it saw. Whatever the client sent is further left.
    let mut statuses = Vec::new();
    for i in 0..8 {
        let res = s
            .http
            .get(s.at("/healthz"))
            .header("x-forwarded-for", format!("10.0.0.{i}, 203.0.113.7"))
            .header("forwarded", format!("for=192.0.2.{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(&statuses[..5], &[200; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "a made-up Forwarded header escaped the limit: {statuses:?}");
    // Bytes that are not text, or an entry that is not an address, never make the client
    // disappear behind the proxy's own address: refused.
    let res = s
        .http
        .get(s.at("/healthz"))
        .header("x-forwarded-for", reqwest::header::HeaderValue::from_bytes(b"\xff, 192.0.2.55").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the proxy's entry (right-most) is well formed: it names the client");
    let res = s
        .http
        .get(s.at("/healthz"))
        .header("x-forwarded-for", reqwest::header::HeaderValue::from_bytes(b"192.0.2.56, \xff").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // A port after the address is the address.
    let res = s.http.get(s.at("/healthz")).header("x-forwarded-for", "198.51.100.9:4711").send().await.unwrap();
    assert_eq!(res.status(), 403);
    // The deny list holds whatever else the client claims.
    let res = s
        .http
        .get(s.at("/healthz"))
        .header("x-forwarded-for", "192.0.2.1, 198.51.100.9")
        .header("forwarded", "for=192.0.2.200")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn metrics_through_a_local_proxy_need_the_token_and_labels_stay_bounded() {
    let s = Server::start(json!({}));
    assert_eq!(s.http.get(s.at("/metrics")).send().await.unwrap().status(), 200);
    for header in ["x-forwarded-for", "x-real-ip", "forwarded"] {
        let value = if header == "forwarded" { "for=192.0.2.1" } else { "192.0.2.1" };
        let res = s.http.get(s.at("/metrics")).header(header, value).send().await.unwrap();
        assert_eq!(res.status(), 403, "{header}");
    }
    // Made-up methods are counted under one label.
    for i in 0..40 {
        let mut c = connect(&s);
        c.write_all(format!("BREW{i} /api/image_list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
            .unwrap();
        read_answer(&mut c);
    }
    let text = s.http.get(s.at("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains("BREW"), "a method label per made-up method");
    assert!(text.contains("method=\"OTHER\""), "{text}");
}

#[tokio::test]
async fn part_headers_and_client_file_names_are_bounded() {
    let s = Server::start(json!({}));
    // An unterminated part header: refused once it passes the limit, without waiting for more.
    let mut c = connect(&s);
    let head = "POST /api/image_upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n\
                Content-Length: 157286400\r\n\r\n";
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nX-Pad: ").unwrap();
    c.write_all(&vec![b'p'; 64 * 1024]).unwrap();
    let started = Instant::now();
    let answer = read_answer(&mut c);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("headers are longer"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(s.temp_files().is_empty(), "{:?}", s.temp_files());
    // A boundary hidden in a quoted parameter: the guard reads the one the parser uses.
    let mut c = connect(&s);
    let head = "POST /api/image_upload HTTP/1.1\r\nHost: x\r\n\
                Content-Type: multipart/form-data; x=\"; boundary=EVIL\"; boundary=REAL\r\n\
                Content-Length: 157286400\r\n\r\n";
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(b"--EVIL\r\nA: b\r\n\r\n--REAL\r\nContent-Disposition: form-data; name=\"file\"\r\nX-Pad: ").unwrap();
    c.write_all(&vec![b'p'; 64 * 1024]).unwrap();
    let answer = read_answer(&mut c);
    assert!(answer.starts_with("HTTP/1.1 400") && answer.contains("headers are longer"), "{answer}");
    // A 10,000-character file name is kept cut short, with its extension.
    let long = format!("{}.png", "n".repeat(10_000));
    let (status, body) = s.upload(&[(long.as_str(), fixtures::png(8, 8, 3), "image/png")]).await;
    assert_eq!(status, 200, "{body}");
    let kept = body["files"][0]["original_name"].as_str().unwrap();
    assert_eq!(kept.chars().count(), 255);
    assert!(kept.ends_with(".png"), "{kept}");
}

#[tokio::test]
async fn slow_and_idle_connections_are_closed_and_one_address_cannot_take_them_all() {
    let s = Server::start(json!({"connections": {"header_timeout_s": 1, "body_idle_timeout_s": 1, "max_per_ip": 4}}));
    // A connection that sends nothing: closed after the header timeout.
    let mut silent = connect(&s);
    let started = Instant::now();
    assert_eq!(read_answer(&mut silent), "");
    assert!(started.elapsed() < Duration::from_secs(4), "a silent connection stayed {:?}", started.elapsed());
    // Headers that never end: closed after the header timeout.
    let mut c = connect(&s);
    c.write_all(b"GET /api/image_list HTTP/1.1\r\nHost: x\r\n").unwrap();
    let started = Instant::now();
    let answer = read_answer(&mut c);
    assert!(started.elapsed() < Duration::from_secs(4), "still open after {:?}: {answer}", started.elapsed());
    // An upload that pauses: refused, its temp file gone.
    let mut c = connect(&s);
    let head = "POST /api/image_upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n\
                Content-Length: 1000000\r\n\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; \
                filename=\"a.png\"\r\n\r\n";
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(&fixtures::png(8, 8, 4)[..40]).unwrap();
    let answer = read_answer(&mut c);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(s.temp_files().is_empty(), "{:?}", s.temp_files());
    // Four connections from one address are its share: all four are served, a fifth is
    // closed at once.
    let mut held: Vec<TcpStream> = (0..4).map(|_| connect(&s)).collect();
    for c in &mut held {
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert!(read_answer(c).starts_with("HTTP/1.1 200"));
    }
    let mut fifth = connect(&s);
    let _ = fifth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(read_answer(&mut fifth), "", "a fifth connection was served");
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.get("/healthz").await.0, 200);
    let metrics = s.http.get(s.at("/metrics")).send().await.unwrap().text().await.unwrap();
    let refused = metrics
        .lines()
        .find_map(|l| l.strip_prefix("imgbed_connections_refused_total{reason=\"per_ip\"} "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(refused.is_some_and(|n| n >= 1), "{metrics}");
}

#[tokio::test]
async fn a_flood_of_addresses_does_not_reset_a_clients_rate_limit() {
    // A small table (16 clients) behind a trusted proxy: each made-up address is a client.
    let s = Server::start(json!({"ip_filter": {"enabled": true, "rule": "5/60", "max_tracked": 16,
                                               "trusted_proxies": ["127.0.0.1"]}}));
    let get = |client: String| {
        let req = s.http.get(s.at("/healthz")).header("x-forwarded-for", client);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    for _ in 0..5 {
        assert_eq!(get("192.0.2.7".into()).await, 200);
    }
    for i in 0..100 {
        get(format!("10.9.{}.{}", i / 200, i % 200 + 1)).await;
    }
    // Its count survived the flood: the sixth request in the window is still refused.
    assert_eq!(get("192.0.2.7".into()).await, 429);
}
