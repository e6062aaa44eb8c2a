//! Thumbnails: made in the sandbox, stored, served, listed and deleted with their image.

mod common;

use common::{fixtures, Server};
use serde_json::json;

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
    let thumb = s.path().join("thumbs").join(format!("{name}.png"));
    assert!(thumb.exists());
    assert_eq!(s.post_json("/api/image_delete", &json!({"name": name})).await.0, 200);
    assert!(!thumb.exists());
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
async fn orphan_thumbnails_are_removed_at_start() {
    let s = Server::start(json!({"server": {"image_zip": true}}));
    let (name, _) = thumb_of(&s, "k.png", fixtures::png(200, 200, 11)).await;
    let dir = s.stop();
    std::fs::write(dir.path().join("thumbs/gone.png.png"), b"orphan").unwrap();
    let s = Server::start_in(dir);
    assert!(!s.path().join("thumbs/gone.png.png").exists());
    assert!(s.path().join("thumbs").join(format!("{name}.png")).exists());
}
