//! Media: thumbnails, video uploads and streaming, metadata stripping, content limits.

mod common;

use common::{assert_error, fixtures, Server};
use fixtures::{find, CAMERA, GPS_TAG, SECRET};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Width and height of a PNG, by decoding it.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).expect("decodes");
    (info.width, info.height)
}

async fn thumb_of(s: &Server, file: &str, bytes: Vec<u8>) -> (String, Vec<u8>) {
    let (status, body) = s.upload(&[(file, bytes, "application/octet-stream")]).await;
    assert_eq!(status, 200, "{body}");
    let f = &body["files"][0];
    let url = f["thumb_url"].as_str().unwrap_or_else(|| panic!("no thumb_url: {f}"));
    let path = &url[url.find("/thumbs/").unwrap()..];
    let res = s.http.get(s.at(path)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    (f["name"].as_str().unwrap().to_string(), res.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn thumbnails_are_made_for_every_format_keeping_aspect_and_never_enlarged() {
    let s = Server::start(json!({"server": {"image_zip": true, "thumb_width": 120}}));
    let cases = [
        ("wide.png", fixtures::png(600, 300, 1), (120, 60)),
        ("photo.jpg", fixtures::jpeg(480, 360, 2), (120, 90)),
        ("anim.gif", fixtures::gif(240, 100, 4, 3), (120, 50)),
        ("pic.webp", fixtures::webp(360, 240, 4), (120, 80)),
        ("small.png", fixtures::png(50, 40, 5), (50, 40)),
    ];
    for (file, bytes, want) in cases {
        let (_, thumb) = thumb_of(&s, file, bytes).await;
        assert_eq!(png_size(&thumb), want, "{file}");
    }
    // info and list show the thumbnail too.
    let (_, list) = s.get("/api/image_list").await;
    assert!(list["data"].as_array().unwrap().iter().all(|r| r["thumb_url"].is_string()), "{list}");
}

#[tokio::test]
async fn deleting_an_image_deletes_its_thumbnail() {
    let s = Server::start(json!({"server": {"image_zip": true}}));
    let (name, _) = thumb_of(&s, "a.png", fixtures::png(400, 400, 9)).await;
    let thumb = format!("{name}.png");
    assert!(common::stored_bytes(s.path(), "thumbs", &thumb).is_some());
    assert_eq!(s.post_json("/api/image_delete", &json!({"name": name})).await.0, 200);
    assert!(common::stored_bytes(s.path(), "thumbs", &thumb).is_none());
    let res = s.http.get(s.at(&format!("/thumbs/{name}.png"))).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn without_image_zip_there_are_no_thumbnails() {
    let s = Server::start(json!({}));
    let (status, body) = s.upload(&[("a.png", fixtures::png(400, 200, 10), "image/png")]).await;
    assert_eq!(status, 200);
    assert!(body["files"][0].get("thumb_url").is_none(), "{body}");
    assert!(!s.path().join("thumbs").exists());
}

#[tokio::test]
async fn orphan_thumbnails_are_moved_to_quarantine_at_start() {
    let s = Server::start(json!({"server": {"image_zip": true}}));
    let (name, _) = thumb_of(&s, "k.png", fixtures::png(200, 200, 11)).await;
    let dir = s.stop();
    common::plant(dir.path(), "thumbs", "gone.png.png", b"orphan");
    let s = Server::start_in(dir);
    assert_eq!(s.reconciled().await["quarantined"], 1);
    assert!(common::stored_bytes(s.path(), "thumbs", "gone.png.png").is_none());
    assert_eq!(common::quarantined_bytes(s.path(), "thumbs", "gone.png.png").unwrap(), b"orphan");
    assert!(common::stored_bytes(s.path(), "thumbs", &format!("{name}.png")).is_some());
}

/// Uploads one file and returns the answer's file entry, asserting success.
async fn stored(s: &Server, file: &str, bytes: Vec<u8>) -> Value {
    let (status, body) = s.upload(&[(file, bytes, "application/octet-stream")]).await;
    assert_eq!(status, 200, "{file}: {body}");
    body["files"][0].clone()
}

/// The bytes served for a stored name.
async fn served(s: &Server, name: &str) -> Vec<u8> {
    let res = s.http.get(s.at(&format!("/images/{name}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.bytes().await.unwrap().to_vec()
}

/// What every stripped file must show: no camera, GPS, XMP or comment; the answer's
/// size and digest are those of the stored bytes; the orientation is kept.
fn assert_clean(what: &str, bytes: &[u8], info: &Value, orientation: u16) {
    assert!(find(bytes, CAMERA).is_none(), "{what}: camera make survived");
    assert!(find(bytes, GPS_TAG).is_none(), "{what}: GPS pointer survived");
    assert!(find(bytes, SECRET).is_none(), "{what}: XMP/comment/text survived");
    assert_eq!(info["size"], bytes.len() as u64, "{what}");
    assert_eq!(info["digest"], hex::encode(Sha256::digest(bytes)), "{what}");
    assert!(find(bytes, &fixtures::orientation_entry(orientation)).is_some(), "{what}: orientation lost");
    assert!(find(bytes, &fixtures::icc_profile()[..64]).is_some(), "{what}: ICC profile lost");
}

#[tokio::test]
async fn metadata_is_stripped_keeping_pixels_orientation_and_colour() {
    let s = Server::start(json!({"server": {"image_zip": true, "thumb_width": 300}}));

    // JPEG: everything from the quantisation tables on (the coded pixels) is byte for byte the same.
    let jpeg = fixtures::jpeg_with_metadata(64, 32, 1, 6);
    assert!(find(&jpeg, CAMERA).is_some() && find(&jpeg, SECRET).is_some());
    let info = stored(&s, "gps.jpg", jpeg.clone()).await;
    let name = info["name"].as_str().unwrap().to_string();
    let bytes = served(&s, &name).await;
    assert_clean("jpeg", &bytes, &info, 6);
    let dqt = [0xFF, 0xDB];
    assert_eq!(&bytes[find(&bytes, &dqt).unwrap()..], &jpeg[find(&jpeg, &dqt).unwrap()..]);
    assert!(find(&bytes, b"ICC_PROFILE\0").is_some());
    assert!(bytes.len() < jpeg.len());
    // The thumbnail is turned the way orientation 6 shows the picture: 32 wide, 64 high.
    let thumb = s.http.get(info["thumb_url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(png_size(&thumb), (32, 64));
    // The same original again, and the stored bytes themselves, are the same image.
    let again = stored(&s, "again.jpg", jpeg).await;
    assert_eq!((again["name"].as_str(), again["duplicate"].as_bool()), (Some(name.as_str()), Some(true)));
    let clean = stored(&s, "clean.jpg", bytes).await;
    assert_eq!((clean["name"].as_str(), clean["duplicate"].as_bool()), (Some(name.as_str()), Some(true)));

    // PNG: image data chunks unchanged, text and EXIF gone, iCCP kept.
    let png = fixtures::png_with_metadata(40, 20, 2, 8);
    let info = stored(&s, "meta.png", png.clone()).await;
    let bytes = served(&s, info["name"].as_str().unwrap()).await;
    assert!(find(&bytes, b"tEXt").is_none() && find(&bytes, b"iTXt").is_none());
    assert!(find(&bytes, b"iCCP").is_some());
    let idat = |b: &[u8]| b[find(b, b"IDAT").unwrap() - 4..].to_vec();
    assert_eq!(idat(&bytes), idat(&png));
    let decoded = png::Decoder::new(std::io::Cursor::new(&bytes)).read_info().expect("stripped PNG decodes");
    assert_eq!(decoded.info().exif_metadata.as_deref().map(|e| e.len()), Some(26));
    drop(decoded);
    // PNG keeps no compressed ICC bytes verbatim, so check the orientation and the rest by hand.
    assert!(find(&bytes, CAMERA).is_none() && find(&bytes, SECRET).is_none() && find(&bytes, GPS_TAG).is_none());
    assert!(find(&bytes, &fixtures::orientation_entry(8)).is_some());
    assert_eq!(info["digest"], hex::encode(Sha256::digest(&bytes)));
    let thumb = s.http.get(info["thumb_url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(png_size(&thumb), (20, 40));

    // WebP: the image chunk unchanged, the RIFF size right, EXIF reduced, XMP gone, ICC kept.
    let webp = fixtures::webp_with_metadata(30, 10, 3, 3);
    let info = stored(&s, "meta.webp", webp.clone()).await;
    let bytes = served(&s, info["name"].as_str().unwrap()).await;
    assert_clean("webp", &bytes, &info, 3);
    assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize, bytes.len() - 8);
    let vp8l = |b: &[u8]| {
        let at = find(b, b"VP8L").unwrap();
        let len = u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
        b[at..at + 8 + len].to_vec()
    };
    assert_eq!(vp8l(&bytes), vp8l(&webp));
    let mut d = image_webp::WebPDecoder::new(std::io::Cursor::new(&bytes)).expect("stripped WebP decodes");
    assert_eq!(d.dimensions(), (30, 10));
    assert!(d.exif_metadata().unwrap().is_some_and(|e| e.len() == 26));
}

#[tokio::test]
async fn with_strip_metadata_off_files_are_stored_as_sent() {
    let s = Server::start(json!({"server": {"strip_metadata": false}}));
    let jpeg = fixtures::jpeg_with_metadata(16, 16, 4, 6);
    let info = stored(&s, "keep.jpg", jpeg.clone()).await;
    assert_eq!(served(&s, info["name"].as_str().unwrap()).await, jpeg);
}

#[tokio::test]
async fn videos_are_inspected_served_with_ranges_and_formatted() {
    let s = Server::start(json!({"video": {"enabled": true}}));
    let cases = [
        ("tiny.mp4", "mp4", "video/mp4", "h264"),
        ("tiny.mov", "mov", "video/quicktime", "h264"),
        ("tiny.webm", "webm", "video/webm", "vp9"),
    ];
    for (file, format, mime, codec) in cases {
        let bytes = fixtures::video(file);
        // The name and Content-Type lie; the bytes decide.
        let (status, body) = s.upload(&[("holiday.png", bytes.clone(), "image/png")]).await;
        assert_eq!(status, 200, "{file}: {body}");
        let f = &body["files"][0];
        assert_eq!(
            (f["kind"].as_str(), f["format"].as_str(), f["mime"].as_str()),
            (Some("video"), Some(format), Some(mime))
        );
        assert_eq!((f["width"].as_u64(), f["height"].as_u64(), f["codec"].as_str()), (Some(64), Some(48), Some(codec)));
        let ms = f["duration_ms"].as_u64().unwrap_or_else(|| panic!("{file}: no duration: {f}"));
        assert!((900..=1100).contains(&ms), "{file}: {ms} ms");
        let name = f["name"].as_str().unwrap();
        assert!(name.ends_with(&format!(".{format}")), "{name}");
        // Stored as sent (nothing to strip in a video).
        let res = s.http.get(s.at(&format!("/images/{name}"))).send().await.unwrap();
        assert_eq!(res.headers()["content-type"], mime);
        assert_eq!(res.headers()["accept-ranges"], "bytes");
        assert_eq!(res.bytes().await.unwrap().to_vec(), bytes);
        // Seeking: one range, a suffix, an open end, and one past the end.
        let len = bytes.len();
        for (range, want) in [
            ("bytes=0-99".to_string(), &bytes[..100]),
            ("bytes=-100".to_string(), &bytes[len - 100..]),
            (format!("bytes={}-", len - 10), &bytes[len - 10..]),
        ] {
            let res = s.http.get(s.at(&format!("/images/{name}"))).header("range", &range).send().await.unwrap();
            assert_eq!(res.status(), 206, "{range}");
            assert!(res.headers()["content-range"].to_str().unwrap().ends_with(&format!("/{len}")));
            assert_eq!(res.bytes().await.unwrap().to_vec(), want, "{range}");
        }
        let res =
            s.http.get(s.at(&format!("/images/{name}"))).header("range", format!("bytes={len}-")).send().await.unwrap();
        assert_eq!(res.status(), 416);
        assert_eq!(res.headers()["content-range"], format!("bytes */{len}"));
        // A <video> snippet instead of <img>.
        let (status, fmt) = s.get(&format!("/api/image_format?name={name}")).await;
        assert_eq!(status, 200);
        let html = fmt["data"]["html"].as_str().unwrap();
        assert!(html.starts_with("<video src=") && html.contains("controls"), "{html}");
        assert!(fmt["data"]["bbcode"].as_str().unwrap().starts_with("[video]"));
    }
    let (_, list) = s.get("/api/image_list").await;
    assert_eq!(list["data"].as_array().unwrap().iter().filter(|r| r["kind"] == "video").count(), 3);
}

#[tokio::test]
async fn broken_or_over_limit_videos_are_refused_and_leave_nothing() {
    let s = Server::start(json!({"video": {"enabled": true, "max_duration_s": 60}, "server": {"max_frames": 3}}));
    let mp4 = fixtures::video("tiny.mp4");
    let webm = fixtures::video("tiny.webm");
    let cases = [
        ("cut.mp4", fixtures::truncated(&mp4, mp4.len() - 100), 422, "corrupt_video"),
        ("cut-moov.mp4", fixtures::truncated(&mp4, 900), 422, "corrupt_video"),
        ("cut.webm", fixtures::truncated(&webm, webm.len() - 7), 422, "corrupt_video"),
        ("huge-box.mp4", fixtures::mp4_with_huge_box(1 << 62), 422, "corrupt_video"),
        ("huge-box32.mp4", fixtures::mp4_with_huge_box(u64::from(u32::MAX) * 4), 422, "corrupt_video"),
        ("long.mp4", fixtures::mp4_lasting(120), 422, "video_too_large"),
        ("anim.gif", fixtures::gif(8, 8, 5, 1), 422, "image_too_large"),
        ("tall.png", fixtures::png_declaring(1, 60_000), 422, "image_too_large"),
        ("bomb.png", fixtures::png_bomb(7_000, 7_000), 422, "image_too_large"),
    ];
    for (file, bytes, status, code) in cases {
        let got = s.upload(&[(file, bytes, "video/mp4")]).await;
        assert_error(&got, status, code);
        assert_eq!(got.1["file"], file);
    }
    assert!(s.stored_files().is_empty(), "{:?}", s.stored_files());
    assert!(s.temp_files().is_empty(), "{:?}", s.temp_files());
    let (_, list) = s.get("/api/image_list").await;
    assert_eq!(list["data"], json!([]));
}

#[tokio::test]
async fn video_switch_size_limits_and_dimension_limits_come_from_config() {
    // Videos are off by default: refused by content, whatever the name says.
    let s = Server::start(json!({}));
    let got = s.upload(&[("a.mp4", fixtures::video("tiny.mp4"), "video/mp4")]).await;
    assert_error(&got, 415, "unsupported_type");
    assert!(got.1["data"].as_str().unwrap().contains("video.enabled"), "{}", got.1);
    drop(s);

    // The image limit applies as soon as the first bytes show an image; videos get their own.
    let s = Server::start(json!({"server": {"image_size": 5000},
                                 "video": {"enabled": true, "size": 7000, "max_width": 32, "formats": ["mp4", "mov"]}}));
    let got = s.upload(&[("big.png", fixtures::png_of_size(6000, 1), "video/mp4")]).await;
    assert_error(&got, 413, "too_large");
    assert!(got.1["data"].as_str().unwrap().contains("5000"), "{}", got.1);
    let mut padded = fixtures::video("tiny.mov");
    padded.resize(7001, 0);
    assert_error(&s.upload(&[("big.mov", padded, "video/quicktime")]).await, 413, "too_large");
    assert_error(&s.upload(&[("wide.mp4", fixtures::video("tiny.mp4"), "video/mp4")]).await, 422, "video_too_large");
    assert_error(&s.upload(&[("a.webm", fixtures::video("tiny.webm"), "video/webm")]).await, 415, "unsupported_video");
    assert!(s.stored_files().is_empty());
}

#[tokio::test]
async fn a_policy_rewriting_files_wrongly_is_caught_by_the_host() {
    let policy = concat!(env!("IMGBED_POLICIES_DIR"), "/imgbed_test_policy.wasm");
    let s = Server::start(json!({"policy": {"path": policy}}));
    // Ranges outside the upload, too many new bytes, bytes kept twice: refused by the host.
    for file in ["strip-range.png", "strip-grow.png", "strip-tail.png"] {
        let got = s.upload(&[(file, fixtures::png(8, 8, 1), "image/png")]).await;
        assert_error(&got, 500, "policy_invalid");
    }
    // Another kind of file: what is stored is inspected, so it is refused like an upload of it.
    let got = s.upload(&[("strip-swap.png", fixtures::png(8, 8, 1), "image/png")]).await;
    assert_error(&got, 415, "unsupported_type");
    assert!(s.stored_files().is_empty(), "{:?}", s.stored_files());
    assert!(s.temp_files().is_empty(), "{:?}", s.temp_files());
    // The same policy stores a file it leaves alone.
    let info = stored(&s, "fine.png", fixtures::png(8, 8, 2)).await;
    assert_eq!(served(&s, info["name"].as_str().unwrap()).await, fixtures::png(8, 8, 2));
}
