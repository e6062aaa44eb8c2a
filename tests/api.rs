//! Black-box tests of the image API: the real binary over real HTTP, on SQLite and local files.

mod common;

use common::{assert_error, fixtures, Server};
use serde_json::json;

#[tokio::test]
async fn upload_list_info_format_delete_round_trip() {
    let s = Server::start(json!({}));
    let png = fixtures::png(20, 10, 1);
    let (status, body) = s.upload(&[("Hello.PNG", png.clone(), "image/png")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], "文件上传成功");
    assert_eq!(body["type"], "ok");
    let file = &body["files"][0];
    let name = file["name"].as_str().unwrap().to_string();
    assert!(name.ends_with(".png"), "{name}");
    assert_eq!(file["width"], 20);
    assert_eq!(file["height"], 10);
    assert_eq!(file["mime"], "image/png");
    // Links use the address and port the server listens on.
    assert_eq!(file["url"], format!("{}/images/{name}", s.url));
    assert_eq!(s.stored_files(), vec![name.clone()]);

    let (status, list) = s.get("/api/image_list").await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 1);
    assert_eq!(list["data"][0]["name"], name.as_str());
    // No server paths in answers.
    assert!(!list.to_string().contains(s.path().to_str().unwrap()));

    let (status, info) = s.get(&format!("/api/image_info?name={name}")).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["data"]["name"], name.as_str());
    assert_eq!(info["data"]["size"], png.len());
    // The README's original documented a JSON body; both work.
    let res = s.http.get(s.at("/api/image_info")).json(&json!({"name": name})).send().await.unwrap();
    let (status, info2) = common::answer(res).await;
    assert_eq!(status, 200);
    assert_eq!(info2["data"], info["data"]);

    let (status, fmt) = s.get(&format!("/api/image_format?name={name}")).await;
    assert_eq!(status, 200);
    let url = info["data"]["url"].as_str().unwrap();
    assert_eq!(fmt["data"]["raw"], name.as_str());
    assert_eq!(fmt["data"]["link"], url);
    assert_eq!(fmt["data"]["html"], format!("<img src=\"{url}\" alt=\"image\">"));
    assert_eq!(fmt["data"]["markdown"], format!("![image]({url})"));
    assert_eq!(fmt["data"]["bbcode"], format!("[img]{url}[/img]"));

    let served = s.http.get(s.at(&format!("/images/{name}"))).send().await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().to_vec(), png);

    let (status, del) = s.post_json("/api/image_delete", &json!({"name": name})).await;
    assert_eq!(status, 200, "{del}");
    assert_eq!(del["data"], "文件删除成功");
    assert!(s.stored_files().is_empty(), "file must be gone");
    assert_error(&s.get(&format!("/api/image_info?name={name}")).await, 404, "not_found");
    assert_error(&s.post_json("/api/image_delete", &json!({"name": name})).await, 404, "not_found");
    let gone = s.http.get(s.at(&format!("/images/{name}"))).send().await.unwrap();
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn every_accepted_format_is_decoded_and_described() {
    let s = Server::start(json!({}));
    type Case = (&'static str, Vec<u8>, &'static str, &'static str, u32, u32, u32);
    let cases: Vec<Case> = vec![
        ("a.png", fixtures::png(33, 17, 2), "png", "image", 33, 17, 1),
        ("b.jpg", fixtures::jpeg(40, 30, 3), "jpg", "image", 40, 30, 1),
        ("c.gif", fixtures::gif(12, 9, 1, 4), "gif", "image", 12, 9, 1),
        ("d.gif", fixtures::gif(12, 9, 5, 5), "gif", "animation", 12, 9, 5),
        ("e.webp", fixtures::webp(21, 11, 6), "webp", "image", 21, 11, 1),
    ];
    for (file, bytes, ext, kind, w, h, frames) in cases {
        // The client's Content-Type is ignored: send them all as octet-stream.
        let (status, body) = s.upload(&[(file, bytes, "application/octet-stream")]).await;
        assert_eq!(status, 200, "{file}: {body}");
        let f = &body["files"][0];
        assert!(f["name"].as_str().unwrap().ends_with(&format!(".{ext}")), "{file}: {f}");
        assert_eq!((f["kind"].as_str().unwrap(), f["width"].as_u64().unwrap()), (kind, u64::from(w)), "{file}");
        assert_eq!((f["height"].as_u64().unwrap(), f["frames"].as_u64().unwrap()), (u64::from(h), u64::from(frames)));
    }
    assert_eq!(s.get("/api/image_list").await.1["total"], 5);
}

#[tokio::test]
async fn disguised_truncated_corrupt_and_oversized_files_are_refused() {
    let s = Server::start(json!({}));
    let png = fixtures::png(64, 64, 7);
    let jpeg = fixtures::jpeg(64, 64, 8);
    let gif = fixtures::gif(32, 32, 3, 9);
    let webp = fixtures::webp(64, 64, 10);
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("shell.png", b"<?php system($_GET['c']); ?>".to_vec(), 415, "unsupported_type"),
        ("page.png", b"<!DOCTYPE html><html><script>alert(1)</script></html>".to_vec(), 415, "unsupported_type"),
        ("fake.jpg", b"\xFF\xD8\xFFthis is not a jpeg at all".to_vec(), 422, "corrupt_image"),
        ("cut.png", fixtures::truncated(&png, png.len() / 2), 422, "corrupt_image"),
        ("cut-tail.png", fixtures::truncated(&png, png.len() - 12), 422, "corrupt_image"),
        ("cut.jpg", fixtures::truncated(&jpeg, jpeg.len() / 2), 422, "corrupt_image"),
        ("cut.gif", fixtures::truncated(&gif, gif.len() / 2), 422, "corrupt_image"),
        ("cut.webp", fixtures::truncated(&webp, webp.len() / 2), 422, "corrupt_image"),
        ("flipped.png", fixtures::png_corrupt_data(11), 422, "corrupt_image"),
        ("bomb.png", fixtures::png_declaring(100_000, 100_000), 422, "image_too_large"),
        ("wide.png", fixtures::png_declaring(10_001, 1), 422, "image_too_large"),
    ];
    for (file, bytes, status, code) in cases {
        let got = s.upload(&[(file, bytes, "image/png")]).await;
        assert_error(&got, status, code);
        assert_eq!(got.1["file"], file, "the refusal names the file");
    }
    assert_error(&s.upload(&[("empty.png", Vec::new(), "image/png")]).await, 400, "empty_upload");
    assert!(s.stored_files().is_empty(), "{:?}", s.stored_files());
    assert!(s.temp_files().is_empty(), "{:?}", s.temp_files());
    assert_eq!(s.get("/api/image_list").await.1["total"], 0);
}

#[tokio::test]
async fn size_limit_is_exact_and_answered_in_json() {
    let limit = 4096u64;
    let s = Server::start(json!({"server": {"image_size": limit}}));
    // Pad a valid PNG with an ancillary chunk to hit the limit exactly, then one byte over.
    let base = fixtures::png(4, 4, 12);
    let pad = |total: usize| {
        let extra = total - base.len() - 12;
        let mut out = base[..33].to_vec();
        let mut chunk = (extra as u32).to_be_bytes().to_vec();
        chunk.extend_from_slice(b"teXt");
        chunk.extend(std::iter::repeat_n(b'a', extra));
        let crc_input: Vec<u8> = chunk[4..].to_vec();
        chunk.extend_from_slice(&fixtures::crc32(&crc_input).to_be_bytes());
        out.extend(chunk);
        out.extend_from_slice(&base[33..]);
        assert_eq!(out.len(), total);
        out
    };
    let (status, body) = s.upload(&[("exact.png", pad(limit as usize), "image/png")]).await;
    assert_eq!(status, 200, "{body}");
    let got = s.upload(&[("over.png", pad(limit as usize + 1), "image/png")]).await;
    assert_error(&got, 413, "too_large");
    assert_eq!(got.1["file"], "over.png");
    // A body far over the whole-request cap is refused in JSON too.
    let huge = vec![0u8; (limit as usize) * 30];
    assert_error(&s.upload(&[("huge.png", huge, "image/png")]).await, 413, "too_large");
    assert_eq!(s.stored_files().len(), 1);
    assert!(s.temp_files().is_empty());
}

#[tokio::test]
async fn hostile_file_names_never_reach_the_file_system() {
    let s = Server::start(json!({}));
    let names = ["../../etc/passwd.png", "a/b/c.png", "图片 Ä.PNG", "..", "/absolute.png", "x\\y.png", ""];
    for (i, file) in names.iter().enumerate() {
        let (status, body) = s.upload(&[(file, fixtures::png(5, 5, 100 + i as u64), "image/png")]).await;
        assert_eq!(status, 200, "{file:?}: {body}");
        let name = body["files"][0]["name"].as_str().unwrap();
        assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)), "{name}");
        assert!(!name.starts_with('.') && !name.contains(".."), "{name}");
    }
    assert_eq!(s.stored_files().len(), names.len());
    assert!(!s.path().join("etc").exists());
    // A NUL in the part headers is malformed multipart: a JSON 400, nothing stored.
    let got = s.upload(&[("x\u{0}y.png", fixtures::png(5, 5, 199), "image/png")]).await;
    assert_error(&got, 400, "bad_body");
    assert_eq!(s.stored_files().len(), names.len());
}

#[tokio::test]
async fn same_bytes_again_return_the_existing_record() {
    let s = Server::start(json!({}));
    let png = fixtures::png(9, 9, 13);
    let (_, first) = s.upload(&[("one.png", png.clone(), "image/png")]).await;
    let (status, second) = s.upload(&[("two.png", png.clone(), "image/png")]).await;
    assert_eq!(status, 200);
    assert_eq!(second["files"][0]["name"], first["files"][0]["name"]);
    assert_eq!(second["files"][0]["duplicate"], true);
    // Twice in one request: one copy.
    let (status, both) = s
        .upload(&[("a.png", fixtures::png(9, 9, 14), "image/png"), ("b.png", fixtures::png(9, 9, 14), "image/png")])
        .await;
    assert_eq!(status, 200, "{both}");
    assert_eq!(both["files"][0]["name"], both["files"][1]["name"]);
    assert_eq!(s.stored_files().len(), 2);
    assert_eq!(s.get("/api/image_list").await.1["total"], 2);
}

#[tokio::test]
async fn a_multi_file_upload_is_all_or_nothing() {
    let s = Server::start(json!({"server": {"max_files_per_request": 3}}));
    let good = || fixtures::png(6, 6, rand_seed());
    let got = s
        .upload(&[
            ("ok1.png", good(), "image/png"),
            ("evil.gif", b"GIF89a<script>".to_vec(), "image/gif"),
            ("ok2.png", good(), "image/png"),
        ])
        .await;
    assert_error(&got, 422, "corrupt_image");
    assert_eq!(got.1["file"], "evil.gif");
    assert!(s.stored_files().is_empty());
    assert!(s.temp_files().is_empty());

    let four: Vec<_> = (0..4).map(|i| (["a.png", "b.png", "c.png", "d.png"][i], good(), "image/png")).collect();
    assert_error(&s.upload(&four).await, 413, "too_many_files");
    assert!(s.stored_files().is_empty());

    let (status, body) = s.upload(&four[..3]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["files"].as_array().unwrap().len(), 3);
    assert_eq!(s.stored_files().len(), 3);
}

fn rand_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1000);
    N.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn requests_without_a_file_or_with_a_bad_body_get_json_errors() {
    let s = Server::start(json!({}));
    let empty_form = reqwest::multipart::Form::new().text("other", "x");
    let res = s.http.post(s.at("/api/image_upload")).multipart(empty_form).send().await.unwrap();
    let got = common::answer(res).await;
    assert_error(&got, 400, "empty_upload");
    assert_eq!(got.1["data"], "空的上传文件");
    let res = s.http.post(s.at("/api/image_upload")).body("not multipart").send().await.unwrap();
    assert_error(&common::answer(res).await, 400, "empty_upload");

    let res = s.http.post(s.at("/api/image_delete")).body("{not json").send().await.unwrap();
    assert_error(&common::answer(res).await, 400, "bad_json");
    let res = s.http.post(s.at("/api/image_delete")).body("[1,2]").send().await.unwrap();
    assert_error(&common::answer(res).await, 400, "bad_json");
    assert_error(&s.post_json("/api/image_delete", &json!({"name": 5})).await, 400, "bad_json");
    assert_error(&s.post_json("/api/image_delete", &json!({})).await, 400, "bad_request");
    let res = s.http.get(s.at("/api/image_info")).json(&json!({"name": [1]})).send().await.unwrap();
    assert_error(&common::answer(res).await, 400, "bad_json");
    let big = json!({"name": "x".repeat(100_000)});
    assert_error(&s.post_json("/api/image_delete", &big).await, 413, "too_large");

    let res = s.http.get(s.at("/api/image_upload")).send().await.unwrap();
    assert_error(&common::answer(res).await, 405, "method_not_allowed");
    let res = s.http.delete(s.at("/api/image_list")).send().await.unwrap();
    assert_error(&common::answer(res).await, 405, "method_not_allowed");
    assert_error(&s.get("/api/nothing_here").await, 404, "no_route");
    assert_error(&s.get("/images/..%2F..%2Fconfig.json").await, 404, "not_found");
    assert_error(&s.get("/images/missing.png").await, 404, "not_found");
}

#[tokio::test]
async fn bulk_delete_removes_rows_and_files_or_nothing() {
    let s = Server::start(json!({}));
    let a = s.upload_png(300).await;
    let b = s.upload_png(301).await;
    let c = s.upload_png(302).await;
    let got = s.post_json("/api/image_delete", &json!({"names": [a, "nope.png"]})).await;
    assert_error(&got, 404, "not_found");
    assert_eq!(got.1["file"], "nope.png");
    assert_eq!(s.stored_files().len(), 3, "an unknown name deletes nothing");
    let (status, body) = s.post_json("/api/image_delete", &json!({"names": [a, b]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.stored_files(), vec![c.clone()]);
    assert_eq!(s.get("/api/image_list").await.1["total"], 1);
    // Query form, like the original's clients.
    let res = s.http.post(s.at(&format!("/api/image_delete?name={c}"))).send().await.unwrap();
    assert_eq!(common::answer(res).await.0, 200);
    assert!(s.stored_files().is_empty());
}

#[tokio::test]
async fn served_images_have_types_validators_caching_and_ranges() {
    // From the hot-file cache (the default), read whole with the cache off, and streamed
    // (over 1 MiB, the cache off).
    let small = (fixtures::jpeg(30, 20, 400), "image/jpeg");
    let large = (fixtures::png_of_size(1_300_000, 401), "image/png");
    for (server, (bytes, mime)) in
        [(json!({}), &small), (json!({"file_cache_mb": 0}), &small), (json!({"file_cache_mb": 0}), &large)]
    {
        serves_with_validators_and_ranges(Server::start(json!({ "server": server })), bytes, mime).await;
    }
}

async fn serves_with_validators_and_ranges(s: Server, jpeg: &[u8], mime: &str) {
    let jpeg = jpeg.to_vec();
    let (_, body) = s.upload(&[("p.jpg", jpeg.clone(), "text/html")]).await;
    let name = body["files"][0]["name"].as_str().unwrap().to_string();
    let url = s.at(&format!("/images/{name}"));
    let res = s.http.get(&url).send().await.unwrap();
    let h = res.headers().clone();
    assert_eq!(h["content-type"], mime);
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    assert!(h["cache-control"].to_str().unwrap().contains("max-age=31536000"));
    assert_eq!(h["accept-ranges"], "bytes");
    let etag = h["etag"].to_str().unwrap().to_string();
    assert_eq!(res.bytes().await.unwrap().to_vec(), jpeg);

    let res = s.http.get(&url).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(res.status(), 304);
    let res = s.http.get(&url).header("If-None-Match", "\"other\"").send().await.unwrap();
    assert_eq!(res.status(), 200);

    let res = s.http.get(&url).header("Range", "bytes=10-19").send().await.unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(res.headers()["content-range"], format!("bytes 10-19/{}", jpeg.len()));
    assert_eq!(res.bytes().await.unwrap().to_vec(), jpeg[10..20]);
    let res = s.http.get(&url).header("Range", "bytes=-5").send().await.unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(res.bytes().await.unwrap().to_vec(), jpeg[jpeg.len() - 5..]);
    let res = s.http.get(&url).header("Range", format!("bytes={}-", jpeg.len() - 3)).send().await.unwrap();
    assert_eq!(res.bytes().await.unwrap().to_vec(), jpeg[jpeg.len() - 3..]);
    let res = s.http.get(&url).header("Range", format!("bytes={}-", jpeg.len() + 10)).send().await.unwrap();
    assert_eq!(res.status(), 416);
    assert_eq!(res.headers()["content-range"], format!("bytes */{}", jpeg.len()));
    // A stale If-Range gets the whole file.
    let res = s.http.get(&url).header("Range", "bytes=0-1").header("If-Range", "\"old\"").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = s.http.head(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-length"], jpeg.len().to_string());
    // Once deleted, never served again (not from memory either).
    let res = s.http.post(s.at("/api/image_delete")).json(&json!({"name": name})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(s.http.get(&url).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn md5_rule_and_image_url_from_config() {
    let s = Server::start(json!({"server": {"image_rule": "md5", "image_url": "https://cdn.example.org/i/"}}));
    let (status, body) = s.upload(&[("Pic.PNG", fixtures::png(4, 4, 500), "image/png")]).await;
    assert_eq!(status, 200);
    let name = body["files"][0]["name"].as_str().unwrap();
    let (stem, ext) = name.split_once('.').unwrap();
    assert_eq!(ext, "png");
    assert!(stem.len() == 32 && stem.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
    assert_eq!(body["files"][0]["url"], format!("https://cdn.example.org/i/{name}"));
    let (_, fmt) = s.get(&format!("/api/image_format?name={name}")).await;
    assert_eq!(fmt["data"]["html"], format!("<img src=\"https://cdn.example.org/i/{name}\" alt=\"image\">"));
}

#[tokio::test]
async fn public_url_with_quotes_is_escaped_in_snippets() {
    let s = Server::start(json!({"public_url": "https://img.example.org/a\"b<c>(d)"}));
    let name = s.upload_png(600).await;
    let (_, fmt) = s.get(&format!("/api/image_format?name={name}")).await;
    let html = fmt["data"]["html"].as_str().unwrap();
    assert_eq!(html, format!("<img src=\"https://img.example.org/a&quot;b&lt;c&gt;(d)/images/{name}\" alt=\"image\">"));
    let md = fmt["data"]["markdown"].as_str().unwrap();
    assert_eq!(md, format!("![image](https://img.example.org/a%22b%3Cc%3E%28d%29/images/{name})"));
}

#[tokio::test]
async fn init_db_is_admin_only_and_idempotent() {
    let s = Server::start(json!({}));
    let name = s.upload_png(700).await;
    let res = s.http.post(s.at("/api/init_db")).send().await.unwrap();
    assert_error(&common::answer(res).await, 403, "forbidden");
    let res = s.http.post(s.at("/api/init_db?token=wrong")).send().await.unwrap();
    assert_error(&common::answer(res).await, 401, "invalid_token");
    for _ in 0..2 {
        let res = s.http.post(s.at("/api/init_db")).bearer_auth(s.admin_token()).send().await.unwrap();
        let (status, body) = common::answer(res).await;
        assert_eq!((status, body["data"].as_str()), (200, Some("database init success")));
    }
    let res = s.http.post(s.at(&format!("/api/init_db?token={}", s.admin_token()))).send().await.unwrap();
    assert_eq!(common::answer(res).await.0, 200);
    assert_eq!(s.get(&format!("/api/image_info?name={name}")).await.0, 200, "data survives init_db");
}
