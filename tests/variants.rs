//! Variants by URL (`/images/{name}?w=&format=`): made in the sandbox, upright, never
//! enlarged, cached (one made for many first requests), refused outside the allow-lists,
//! deleted with their image; on each blob store the test command runs.

mod common;

use std::time::Duration;

use common::poll::until;
use common::{assert_error, fixtures, Server};
use fixtures::find;
use imgbed_policy::inspect::Limits;
use serde_json::{json, Value};

const ROTATED: &[u8] = include_bytes!("fixtures/rotated.jpg");
const CHROME_ACCEPT: &str = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";

/// A server with variants on; with MongoDB under test, files in MongoDB chunks too.
fn server(extra: Value) -> Server {
    let mut config = json!({"variants": {"enabled": true}});
    if common::engine() == "mongo" {
        config["database"] = json!({"blob": "gridfs"});
    }
    merge(&mut config, extra);
    Server::start(config)
}

fn merge(base: &mut Value, extra: Value) {
    if let (Value::Object(b), Value::Object(e)) = (base, extra) {
        for (k, v) in e {
            match b.get_mut(&k) {
                Some(slot @ Value::Object(_)) => merge(slot, v),
                _ => {
                    b.insert(k, v);
                }
            }
        }
    }
}

async fn upload(s: &Server, file: &str, bytes: Vec<u8>) -> String {
    let (status, body) = s.upload(&[(file, bytes, "application/octet-stream")]).await;
    assert_eq!(status, 200, "{body}");
    body["files"][0]["name"].as_str().unwrap().to_string()
}

/// A metric's value from `/metrics` (0 when absent).
async fn metric(s: &Server, name: &str) -> u64 {
    let text = s.http.get(s.at("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).map(|v| v.trim().parse().unwrap()))
        .unwrap_or(0)
}

/// GET a variant: (status, content type, bytes, headers).
async fn get(s: &Server, path: &str, accept: Option<&str>) -> (u16, String, Vec<u8>, reqwest::header::HeaderMap) {
    let mut req = s.http.get(s.at(path));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let ctype = headers.get("content-type").map_or(String::new(), |v| v.to_str().unwrap().to_string());
    (status, ctype, res.bytes().await.unwrap().to_vec(), headers)
}

/// Whether a `Vary` header names `Accept` (CORS adds its own `Vary` values beside it).
fn varies_by_accept(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get_all("vary")
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("accept"))
}

fn close(px: [u8; 4], want: [u8; 3]) -> bool {
    px.iter().zip(want).all(|(&a, b)| a.abs_diff(b) < 60)
}

#[tokio::test]
async fn a_turned_photo_comes_out_upright_at_the_asked_width_in_each_format() {
    let s = server(json!({}));
    let name = upload(&s, "turned.jpg", ROTATED.to_vec()).await;
    for (format, mime) in [("png", "image/png"), ("webp", "image/webp"), ("jpeg", "image/jpeg")] {
        let (status, ctype, bytes, headers) = get(&s, &format!("/images/{name}?w=160&format={format}"), None).await;
        assert_eq!((status, ctype.as_str()), (200, mime), "{format}: {}", String::from_utf8_lossy(&bytes));
        assert_eq!(headers["cache-control"], "public, max-age=31536000, immutable");
        assert!(!varies_by_accept(&headers), "an explicit format does not vary");
        let found = imgbed_policy::inspect::inspect(&bytes[..], &Limits::default()).expect("a valid image");
        assert_eq!((found.format, found.width, found.height), (format, 160, 320), "{format}: shown 200x400, halved");
        let pixels = imgbed_policy::variant::decode(&bytes[..], &Limits::default(), u64::MAX).unwrap().image.to_rgba8();
        assert!(close(pixels.get_pixel(80, 20).0, [255, 0, 0]), "{format} top is red: {:?}", pixels.get_pixel(80, 20));
        assert!(close(pixels.get_pixel(80, 300).0, [0, 0, 255]), "{format} bottom is blue");
    }
    // Never enlarged: 1920 asked of a 200-wide (shown) image.
    let (status, _, bytes, _) = get(&s, &format!("/images/{name}?w=1920&format=png"), None).await;
    assert_eq!(status, 200);
    let found = imgbed_policy::inspect::inspect(&bytes[..], &Limits::default()).unwrap();
    assert_eq!((found.width, found.height), (200, 400));
    // An animation gives its first frame, as a still image.
    let anim = upload(&s, "anim.gif", fixtures::gif(320, 160, 4, 7)).await;
    let (status, ctype, bytes, _) = get(&s, &format!("/images/{anim}?w=160"), None).await;
    assert_eq!((status, ctype.as_str()), (200, "image/png"), "a GIF's variant is a PNG by default");
    let found = imgbed_policy::inspect::inspect(&bytes[..], &Limits::default()).unwrap();
    assert_eq!((found.width, found.height, found.frames), (160, 80, 1));
}

#[tokio::test]
async fn made_once_then_served_from_the_cache_like_an_original() {
    let s = server(json!({}));
    let name = upload(&s, "photo.jpg", fixtures::jpeg(900, 600, 3)).await;
    let path = format!("/images/{name}?w=320&format=webp");
    let asks = (0..10).map(|_| get(&s, &path, None));
    let answers = futures_util::future::join_all(asks).await;
    assert!(answers.iter().all(|a| a.0 == 200 && a.2 == answers[0].2), "ten equal answers");
    assert_eq!(metric(&s, "imgbed_variants_made_total").await, 1, "ten first requests made one variant");
    let hits = metric(&s, "imgbed_variant_hits_total").await;
    let (status, _, bytes, headers) = get(&s, &path, None).await;
    assert_eq!((status, bytes.len()), (200, answers[0].2.len()));
    assert_eq!(metric(&s, "imgbed_variant_hits_total").await, hits + 1, "the second request is a hit");
    assert_eq!(metric(&s, "imgbed_variants_made_total").await, 1);
    // ETag, 304 and ranges as for originals.
    let etag = headers["etag"].to_str().unwrap().to_string();
    let original_etag = s.http.get(s.at(&format!("/images/{name}"))).send().await.unwrap().headers()["etag"].clone();
    assert_ne!(etag, original_etag.to_str().unwrap());
    let res = s.http.get(s.at(&path)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(res.status(), 304);
    let res = s.http.get(s.at(&path)).header("range", "bytes=0-9").send().await.unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(res.bytes().await.unwrap().to_vec(), bytes[..10].to_vec());
    // Another width is another variant.
    assert_eq!(get(&s, &format!("/images/{name}?w=160&format=webp"), None).await.0, 200);
    assert_eq!(metric(&s, "imgbed_variants_made_total").await, 2);
    assert_eq!(metric(&s, "imgbed_variant_cache_files").await, 2);
}

#[tokio::test]
async fn auto_picks_from_accept_and_says_it_varies() {
    let s = server(json!({}));
    // A drawing (PNG): lossless WebP for a browser that takes it, else PNG.
    let drawing = upload(&s, "drawing.png", fixtures::png(400, 300, 5)).await;
    let path = format!("/images/{drawing}?w=160&format=auto");
    let (status, ctype, _, headers) = get(&s, &path, Some(CHROME_ACCEPT)).await;
    assert_eq!((status, ctype.as_str()), (200, "image/webp"));
    assert!(varies_by_accept(&headers), "{headers:?}");
    let (status, ctype, _, headers) = get(&s, &path, Some("image/png,image/jpeg")).await;
    assert_eq!((status, ctype.as_str()), (200, "image/png"), "its own format when WebP is not taken");
    assert!(varies_by_accept(&headers));
    // A photo (JPEG) stays JPEG even for WebP browsers (WebP variants are lossless).
    let photo = upload(&s, "photo.jpg", fixtures::jpeg(400, 300, 6)).await;
    let (status, ctype, _, headers) = get(&s, &format!("/images/{photo}?w=160&format=auto"), Some(CHROME_ACCEPT)).await;
    assert_eq!((status, ctype.as_str()), (200, "image/jpeg"));
    assert!(varies_by_accept(&headers));
}

#[tokio::test]
async fn sizes_and_formats_outside_the_allow_lists_are_400_and_costly_ones_422() {
    let s = server(json!({"variants": {"widths": [100, 200], "formats": ["png"], "max_cost": 50_000}}));
    let name = upload(&s, "photo.jpg", fixtures::jpeg(300, 200, 6)).await;
    for query in ["w=150", "w=0", "w=-1", "w=100000000000", "w=abc", "w=100&format=webp", "format=avif", "format=gif"] {
        let res = s.http.get(s.at(&format!("/images/{name}?{query}"))).send().await.unwrap();
        assert_error(&common::answer(res).await, 400, "variant_not_allowed");
    }
    assert_eq!(metric(&s, "imgbed_variant_misses_total").await, 0, "nothing was attempted");
    // 300x200 = 60 000 pixels over a cost limit of 50 000: refused by the host before
    // anything is made (no miss counted, no policy asked), not stuck.
    let res = s.http.get(s.at(&format!("/images/{name}?w=100"))).send().await.unwrap();
    assert_error(&common::answer(res).await, 422, "variant_too_costly");
    assert_eq!(metric(&s, "imgbed_variant_misses_total").await, 0, "the host refused it itself");
    let small = upload(&s, "small.jpg", fixtures::jpeg(200, 100, 7)).await;
    assert_eq!(get(&s, &format!("/images/{small}?w=100"), None).await.0, 200);
    // With variants off, asking is a 400 too; other query keys still give the original.
    let off = Server::start(json!({"variants": {"enabled": false}}));
    let name = off.upload_png(1).await;
    let res = off.http.get(off.at(&format!("/images/{name}?w=160"))).send().await.unwrap();
    assert_error(&common::answer(res).await, 400, "variant_not_allowed");
    assert_eq!(off.http.get(off.at(&format!("/images/{name}?v=2"))).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn deleting_an_image_deletes_its_variants_and_snippets_offer_a_srcset() {
    let s = server(json!({}));
    let name = upload(&s, "photo.jpg", fixtures::jpeg(1000, 500, 8)).await;
    let (_, format) = s.get(&format!("/api/image_format?name={name}")).await;
    let srcset = format["data"]["srcset"].as_str().unwrap().to_string();
    assert!(srcset.contains("?w=320&format=auto 320w") && srcset.ends_with(" 1000w"), "{srcset}");
    assert!(!srcset.contains("1280w"), "no width above the image's own: {srcset}");
    let html = format["data"]["html_srcset"].as_str().unwrap();
    assert!(
        html.starts_with("<img src=\"") && html.contains(&format!("srcset=\"{}\"", srcset.replace('&', "&amp;"))),
        "{html}"
    );
    let (_, list) = s.get("/api/image_list").await;
    assert_eq!(list["data"][0]["srcset"], srcset.as_str());
    for w in [160, 320] {
        assert_eq!(get(&s, &format!("/images/{name}?w={w}&format=jpeg"), None).await.0, 200);
    }
    assert_eq!(metric(&s, "imgbed_variant_cache_files").await, 2);
    assert_eq!(stored(&s).await, 2);
    assert_eq!(s.post_json("/api/image_delete", &json!({"name": name})).await.0, 200);
    assert_eq!(metric(&s, "imgbed_variant_cache_files").await, 0);
    assert_eq!(stored(&s).await, 0, "the variant files are gone");
    assert_eq!(get(&s, &format!("/images/{name}?w=160&format=jpeg"), None).await.0, 404);
}

/// Variant files in the local variant folder, named in the bucket, or in MongoDB's
/// `variants` chunk store.
async fn stored(s: &Server) -> usize {
    if let Some(names) = s.s3_names("variants") {
        return names.len();
    }
    if common::engine() == "mongo" {
        let uri = s.config()["database"]["mongo"].as_str().unwrap().to_string();
        let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
        let files =
            client.database(uri.rsplit('/').next().unwrap()).collection::<mongodb::bson::Document>("variants_files");
        return files.count_documents(mongodb::bson::doc! {}).await.unwrap() as usize;
    }
    std::fs::read_dir(s.path().join("variants"))
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .count()
}

#[tokio::test]
async fn removing_an_account_removes_its_variants() {
    let mut extra = common::mail_config();
    extra["auth"] = json!({"jwt": true});
    let s = server(extra);
    let (status, body) = s.post_json("/api/get_token", &json!({"mail": "vee@example.org"})).await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    let part = reqwest::multipart::Part::bytes(fixtures::jpeg(600, 400, 4)).file_name("p.jpg");
    let form = reqwest::multipart::Form::new().part("file", part);
    let res = s.http.post(s.at("/api/image_upload")).bearer_auth(&token).multipart(form).send().await.unwrap();
    let (status, body) = common::answer(res).await;
    assert_eq!(status, 200, "{body}");
    let name = body["files"][0]["name"].as_str().unwrap().to_string();
    for w in [160, 320] {
        assert_eq!(get(&s, &format!("/images/{name}?w={w}&format=jpeg"), None).await.0, 200);
    }
    assert_eq!(stored(&s).await, 2);
    let (status, body) = s.get(&format!("/api/remove_token?mail=vee@example.org&token={token}")).await;
    assert_eq!(status, 200, "{body}");
    let gone = until(Duration::from_secs(10), async || stored(&s).await == 0).await;
    assert!(gone, "the account's variants are deleted with it: {} left", stored(&s).await);
    assert_eq!(metric(&s, "imgbed_variant_cache_files").await, 0);
    assert_eq!(get(&s, &format!("/images/{name}?w=160&format=jpeg"), None).await.0, 404);
}

#[tokio::test]
async fn eager_variants_are_made_at_upload_and_new_ones_are_limited_per_client() {
    let s = server(json!({"variants": {"eager": [{"width": 320, "format": "webp"}], "miss_rate": "2/60"}}));
    let name = upload(&s, "photo.jpg", fixtures::jpeg(800, 600, 9)).await;
    let made = until(Duration::from_secs(10), async || metric(&s, "imgbed_variants_made_total").await == 1).await;
    assert!(made, "the eager variant is made after the upload without anyone asking");
    assert_eq!(stored(&s).await, 1);
    let hits = metric(&s, "imgbed_variant_hits_total").await;
    let (status, ctype, _, _) = get(&s, &format!("/images/{name}?w=320&format=webp"), None).await;
    assert_eq!((status, ctype.as_str()), (200, "image/webp"));
    assert_eq!(metric(&s, "imgbed_variant_hits_total").await, hits + 1, "the first viewer does not wait");
    // Two new variants a minute for this client (the eager one was the server's own).
    for w in [160, 640] {
        assert_eq!(get(&s, &format!("/images/{name}?w={w}&format=jpeg"), None).await.0, 200);
    }
    let res = s.http.get(s.at(&format!("/images/{name}?w=160&format=png"))).send().await.unwrap();
    assert_eq!(res.headers()["retry-after"], "60");
    assert_error(&common::answer(res).await, 429, "rate_limited");
    // And so on for the rest of the window, however many are asked for.
    for w in [640, 320] {
        let res = s.http.get(s.at(&format!("/images/{name}?w={w}&format=png"))).send().await.unwrap();
        assert_error(&common::answer(res).await, 429, "rate_limited");
    }
    assert_eq!(metric(&s, "imgbed_variants_made_total").await, 3);
    // Variants already made are never limited, nor are originals.
    assert_eq!(get(&s, &format!("/images/{name}?w=160&format=jpeg"), None).await.0, 200);
    assert_eq!(get(&s, &format!("/images/{name}"), None).await.0, 200);
}

const TEST_POLICY: &str = concat!(env!("IMGBED_POLICIES_DIR"), "/imgbed_test_policy.wasm");
const V1_POLICY: &str = concat!(env!("IMGBED_POLICIES_DIR"), "/imgbed_policy_v1_test.wasm");

/// A policy without the variant maker (one built against the 2.x `policy` world alone, a
/// 1.0 one through the adapter) still loads; its variants are a clear 501, its originals
/// and the cached variants of the policy before it are served as ever.
#[tokio::test]
async fn a_policy_without_the_variant_export_loads_and_answers_501() {
    let s = server(json!({}));
    let name = s.upload_png(3).await;
    assert_eq!(get(&s, &format!("/images/{name}?w=160&format=png"), None).await.0, 200, "the built-in one makes it");
    // The test policy as a component built against 2.0.0 would be: the same bytes with every
    // `@2.1.0` of its import and export names written `@2.0.0` (the host finds `api@2.0.0`
    // and lends `host@2.1.0` for `host@2.0.0`: same major version).
    let test_policy = std::fs::read(TEST_POLICY).unwrap();
    let as_2_0 = replace_all(&test_policy, b"@2.1.0", b"@2.0.0");
    assert!(find(&as_2_0, b"imgbed:policy/api@2.0.0").is_some() && find(&as_2_0, b"@2.1.0").is_none());
    let cases = [
        (test_policy, "imgbed:policy@2.0.0"),
        (as_2_0, "imgbed:policy@2.0.0"),
        (std::fs::read(V1_POLICY).unwrap(), "imgbed:policy@1.0.0"),
    ];
    for (component, contract) in cases {
        let res =
            s.http.put(s.at("/api/admin/policy")).bearer_auth(s.admin_token()).body(component).send().await.unwrap();
        let (status, body) = common::answer(res).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["policy"]["active"]["contract"], contract, "{body}");
        let res = s.http.get(s.at(&format!("/images/{name}?w=320&format=png"))).send().await.unwrap();
        assert_error(&common::answer(res).await, 501, "variants_unsupported");
        assert_eq!(get(&s, &format!("/images/{name}"), None).await.0, 200);
        assert_eq!(get(&s, &format!("/images/{name}?w=160&format=png"), None).await.0, 200, "cached before");
    }
}

/// `hay` with every `from` replaced by `to` (of the same length).
fn replace_all(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = hay.to_vec();
    let mut at = 0;
    while let Some(i) = find(&out[at..], from) {
        out[at + i..at + i + from.len()].copy_from_slice(to);
        at += i + from.len();
    }
    out
}

/// `imgbed fsck` with `args` on the server folder `dir`: its output.
fn fsck(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(common::binary())
        .arg("--config")
        .arg(dir.join("config.json"))
        .args(["fsck", "--min-age-s", "0"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test]
async fn fsck_removes_variants_whose_image_has_no_record() {
    if common::engine() != "sqlite" || common::s3::blob() == "s3" {
        return; // Shared stores (MongoDB, S3) leave young blobs alone for 15 minutes.
    }
    let s = server(json!({}));
    let name = upload(&s, "photo.jpg", fixtures::jpeg(600, 400, 5)).await;
    assert_eq!(get(&s, &format!("/images/{name}?w=160&format=jpeg"), None).await.0, 200);
    let dir = s.stop();
    let variants = dir.path().join("variants");
    let orphan = format!("{}.0123456789abcdef.160.jpg", "ab".repeat(16));
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    // An orphan variant, and a file that is no variant at all (not the server's to remove).
    for file in [orphan.as_str(), "notes.txt"] {
        std::fs::write(variants.join(file), b"left behind").unwrap();
        std::fs::File::options().write(true).open(variants.join(file)).unwrap().set_modified(an_hour_ago).unwrap();
    }
    let dry = fsck(dir.path(), &[]);
    assert!(dry.contains(&format!("would remove the variant {orphan}")), "{dry}");
    assert!(variants.join(&orphan).exists(), "a dry run changes nothing");
    let repaired = fsck(dir.path(), &["--repair"]);
    assert!(repaired.contains(&format!("removed the variant {orphan}")), "{repaired}");
    assert!(!variants.join(&orphan).exists());
    assert!(variants.join("notes.txt").exists() && !repaired.contains("notes.txt"), "{repaired}");
    std::fs::remove_file(variants.join("notes.txt")).unwrap();
    let s = Server::start_in(dir);
    assert_eq!(stored(&s).await, 1, "the variant of a recorded image stays");
    assert_eq!(get(&s, &format!("/images/{name}?w=160&format=jpeg"), None).await.0, 200);
}
