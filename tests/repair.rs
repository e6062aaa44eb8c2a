//! `imgbed fsck --repair` puts back what reconciliation moved to quarantine while a
//! record was away: the file and its thumbnail.

mod common;

use common::Server;
use serde_json::json;
use std::path::Path;

fn sql(dir: &Path, statements: &str, name: &str) {
    let conn = rusqlite::Connection::open(dir.join("imgbed.db")).unwrap();
    for statement in statements.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let mut stmt = conn.prepare(statement).unwrap();
        let wanted = stmt.parameter_count();
        let params: Vec<&dyn rusqlite::ToSql> = if wanted == 1 { vec![&name] } else { Vec::new() };
        stmt.execute(params.as_slice()).unwrap();
    }
}

#[tokio::test]
async fn a_record_that_comes_back_gets_its_file_and_thumbnail_back_from_quarantine() {
    if common::engine() != "sqlite" || common::s3::blob() == "s3" {
        return; // The record is taken away and put back in the SQLite file itself.
    }
    let s = Server::start(json!({"server": {"image_zip": true}}));
    let png = common::fixtures::png(400, 300, 11);
    let (status, body) = s.upload(&[("big.png", png.clone(), "image/png")]).await;
    assert_eq!(status, 200, "{body}");
    let name = body["files"][0]["name"].as_str().unwrap().to_string();
    let (_, info) = s.get(&format!("/api/image_info?name={name}")).await;
    let thumb_url = info["data"]["thumb_url"].as_str().unwrap_or_else(|| panic!("no thumbnail: {info}")).to_string();
    let thumb = s.http.get(&thumb_url).send().await.unwrap().bytes().await.unwrap();
    // The record goes away (a database restored from an older dump, say)…
    let dir = s.stop();
    sql(
        dir.path(),
        "CREATE TABLE away AS SELECT * FROM images WHERE name = ?1; DELETE FROM images WHERE name = ?1",
        &name,
    );
    let s = Server::start_in(dir);
    assert_eq!(s.reconciled().await["quarantined"], 2, "the file and its thumbnail");
    assert_eq!(s.quarantined_files(), vec![name.clone()]);
    // …and comes back: the repair puts both back where the record expects them.
    let dir = s.stop();
    sql(dir.path(), "INSERT INTO images SELECT * FROM away; DROP TABLE away", &name);
    let s = Server::start_in(dir);
    let repaired = repair(s.path());
    assert!(repaired.contains(&format!("restored {name} from quarantine")), "{repaired}");
    let image = s.http.get(s.at(&format!("/images/{name}"))).send().await.unwrap();
    assert_eq!(image.status(), 200);
    assert_eq!(image.bytes().await.unwrap().to_vec(), png);
    let (_, info) = s.get(&format!("/api/image_info?name={name}")).await;
    let linked = info["data"]["thumb_url"].as_str().unwrap_or_else(|| panic!("no thumbnail: {info}"));
    let path = |url: &str| url.splitn(4, '/').nth(3).unwrap_or_default().to_string();
    assert_eq!(path(linked), path(&thumb_url), "{info}");
    let again = s.http.get(linked).send().await.unwrap();
    assert_eq!(again.status(), 200, "the thumbnail the record links is there");
    assert_eq!(again.bytes().await.unwrap(), thumb);
}

/// `imgbed fsck --repair` on the server's folder; its output.
fn repair(dir: &Path) -> String {
    let out = std::process::Command::new(common::binary())
        .arg("--config")
        .arg(dir.join("config.json"))
        .args(["fsck", "--min-age-s", "0", "--repair"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}
