//! Black-box tests of `image_list`: pages by number and by cursor, over real HTTP (on
//! SQLite, and on MongoDB with `IMGBED_TEST_ENGINE=mongo`).

mod common;

use common::{assert_error, Server};
use serde_json::{json, Value};

#[tokio::test]
async fn list_is_paginated_newest_first() {
    let s = Server::start(json!({"server": {"max_per_page": 3}}));
    let mut names = Vec::new();
    for i in 0..5 {
        names.push(s.upload_png(200 + i).await);
    }
    names.reverse();
    let (status, p1) = s.get("/api/image_list?page=1&per_page=2").await;
    assert_eq!(status, 200);
    assert_eq!((p1["total"].as_u64(), p1["pages"].as_u64(), p1["per_page"].as_u64()), (Some(5), Some(3), Some(2)));
    let page = |v: &Value| {
        v["data"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(page(&p1), names[0..2]);
    assert_eq!(page(&s.get("/api/image_list?page=2&per_page=2").await.1), names[2..4]);
    assert_eq!(page(&s.get("/api/image_list?page=3&per_page=2").await.1), names[4..5]);
    assert!(page(&s.get("/api/image_list?page=9&per_page=2").await.1).is_empty());
    // per_page is capped at max_per_page.
    let (_, capped) = s.get("/api/image_list?per_page=1000").await;
    assert_eq!(capped["per_page"], 3);
    assert_eq!(page(&capped), names[0..3]);
    for bad in ["page=0", "page=-1", "page=abc", "per_page=0", "per_page=1.5"] {
        assert_error(&s.get(&format!("/api/image_list?{bad}")).await, 400, "bad_request");
    }
    // Or page by cursor: `next` is the `after` of the following page, null on the last;
    // a record deleted between two pages does not shift the next one.
    let after = p1["next"].as_str().expect("a next page").to_string();
    assert_eq!(p1["page"], 1);
    let (status, p2) = s.get(&format!("/api/image_list?after={after}&per_page=2")).await;
    assert_eq!(status, 200, "{p2}");
    assert_eq!((page(&p2), p2["page"].clone(), p2["total"].as_u64()), (names[2..4].to_vec(), Value::Null, Some(5)));
    let (status, _) = s.post_json("/api/image_delete", &json!({"name": names[1]})).await;
    assert_eq!(status, 200);
    let after = p2["next"].as_str().expect("a next page");
    let (_, p3) = s.get(&format!("/api/image_list?after={after}&per_page=2")).await;
    assert_eq!(page(&p3), names[4..5]);
    assert_eq!(p3["next"], Value::Null, "the last page has no next");
    assert_eq!(s.get("/api/image_list?page=2&per_page=2").await.1["next"], Value::Null);
    // Not a cursor; a tie-break that is not a plain value (`{"$gt": 1}`, one cursor for each
    // engine: the other one's is refused too); page with after.
    let (sqlite, mongo) = (
        "after=WyJzcWxpdGUiLDQ2MDcxODI0MTg4MDAwMTc0MDgseyIkZ3QiOjF9XQ",
        "after=WyJtb25nbyIsNDYwNzE4MjQxODgwMDAxNzQwOCx7IiRndCI6MX1d",
    );
    let twice = [format!("after={after}&after={after}"), format!("after={after}&after="), "page=1&page=2".into()];
    for bad in ["after=garbage", sqlite, mongo, &format!("page=2&after={after}"), &twice[0], &twice[1], &twice[2]] {
        let got = s.get(&format!("/api/image_list?{bad}")).await;
        assert_error(&got, 400, "bad_request");
    }
}

/// On MongoDB the listing's total is the owner's counter (no scan per request); a counter a
/// crash left off is set from the records by the next start.
#[tokio::test]
async fn a_counter_left_off_is_recounted_at_the_next_start() {
    if common::engine() != "mongo" {
        return;
    }
    let s = Server::start(json!({}));
    s.upload_png(600).await;
    s.upload_png(601).await;
    let dir = s.stop();
    let config: Value = serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    let uri = config["database"]["mongo"].as_str().unwrap().to_string();
    let db = mongodb::Client::with_uri_str(&uri).await.unwrap().database(uri.rsplit('/').next().unwrap());
    let owners = db.collection::<mongodb::bson::Document>("owners");
    let changed = owners.update_many(mongodb::bson::doc! {}, mongodb::bson::doc! {"$inc": {"images": 5}}).await;
    assert_eq!(changed.unwrap().modified_count, 1, "one owner's counter");
    let s = Server::start_in(dir);
    s.reconciled().await;
    let (status, list) = s.get("/api/image_list").await;
    assert_eq!((status, list["total"].as_u64()), (200, Some(2)), "{list}");
}
