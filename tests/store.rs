//! The metadata store's contract, on the engine under test (`IMGBED_TEST_ENGINE`):
//! the same answers, errors and order from SQLite and MongoDB.

mod common;

use std::sync::Arc;
use std::time::Duration;

use imgbed::store::{ImageFacts, ImageRecord, ImageStore, MetaStore, MongoStore, SqliteStore, Start, StoreError, User};

/// A fresh, empty store of the engine under test (and the folder a SQLite file lives in).
async fn fresh() -> (Arc<dyn MetaStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn MetaStore> = match common::engine() {
        "mongo" => Arc::new(MongoStore::connect(&common::fresh_mongo_uri(), Duration::from_secs(5)).await.unwrap()),
        _ => Arc::new(SqliteStore::open(&dir.path().join("t.db")).unwrap()),
    };
    store.init().await.unwrap();
    (store, dir)
}

fn record(name: &str, owner: &str, digest: &str, time: f64) -> ImageRecord {
    let facts = ImageFacts {
        name: name.into(),
        size: 1000 + name.len() as u64,
        digest: digest.into(),
        kind: "image".into(),
        format: "png".into(),
        mime: "image/png".into(),
        width: 3,
        height: 2,
        frames: 1,
        duration_ms: None,
        codec: None,
        original_name: format!("{name}.orig"),
        time,
    };
    ImageRecord::new(facts, owner.into())
}

#[tokio::test]
async fn records_keys_pages_and_deletes() {
    let (s, _dir) = fresh().await;
    s.ping().await.unwrap();
    let a = record("a.png", "alice", "d1", 10.0);
    s.insert(&a).await.unwrap();
    assert_eq!(s.get("a.png").await.unwrap(), Some(a.clone()));
    assert_eq!(s.get("zzz").await.unwrap(), None);
    // Same name: taken. Same owner and bytes: a duplicate naming the stored record.
    assert!(matches!(s.insert(&record("a.png", "bob", "d9", 11.0)).await, Err(StoreError::NameTaken)));
    match s.insert(&record("other.png", "alice", "d1", 12.0)).await {
        Err(StoreError::Duplicate(name)) => assert_eq!(name, "a.png"),
        other => panic!("{other:?}"),
    }
    // Another owner may store the same bytes.
    s.insert(&record("b.png", "bob", "d1", 13.0)).await.unwrap();
    assert_eq!(s.find_by_digest("bob", "d1").await.unwrap().unwrap().name, "b.png");
    assert_eq!(s.find_by_digest("carol", "d1").await.unwrap(), None);

    // Video facts survive the round trip.
    let mut v = record("v.mp4", "alice", "d2", 20.0);
    (v.kind, v.format, v.mime, v.duration_ms, v.codec, v.frames) =
        ("video".into(), "mp4".into(), "video/mp4".into(), Some(1234), Some("h264".into()), 0);
    s.insert(&v).await.unwrap();
    assert_eq!(s.get("v.mp4").await.unwrap(), Some(v));
    // So does where the blob store put the file (S3: the object's key), through both inserts.
    let mut k = record("k.png", "carol", "d3", 21.0);
    k.blob_key = Some(format!("objects/k.png/{:032x}", 5));
    // And whether a thumbnail was stored with it.
    k.thumb = Some(true);
    s.insert_for(&k, None).await.unwrap();
    assert_eq!(s.get("k.png").await.unwrap(), Some(k.clone()));
    assert_eq!(s.list("carol", &Start::Offset(0), 5).await.unwrap().items, vec![k.clone()]);
    s.delete("k.png").await.unwrap();
    let mut n = record("n.png", "carol", "d4", 22.0);
    n.thumb = Some(false);
    s.insert(&n).await.unwrap();
    assert_eq!(s.get("n.png").await.unwrap().unwrap().thumb, Some(false));
    s.delete("n.png").await.unwrap();

    // Newest first; equal times keep insertion order (later first).
    for (i, t) in [(1, 30.0), (2, 30.0), (3, 25.0)] {
        s.insert(&record(&format!("p{i}.png"), "alice", &format!("e{i}"), t)).await.unwrap();
    }
    let page = s.list("alice", &Start::Offset(0), 3).await.unwrap();
    assert_eq!(page.total, 5);
    let names: Vec<&str> = page.items.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["p2.png", "p1.png", "p3.png"]);
    let rest = s.list("alice", &Start::Offset(3), 10).await.unwrap();
    let rest_names: Vec<&str> = rest.items.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(rest_names, ["v.mp4", "a.png"]);
    assert!(rest.next.is_none(), "the last page has no next");
    assert!(s.list("alice", &Start::Offset(50), 10).await.unwrap().items.is_empty());
    // Pages by cursor: the same order, a cursor in the middle of equal times included, and
    // a record deleted meanwhile does not shift the pages after it.
    let first = s.list("alice", &Start::Offset(0), 1).await.unwrap();
    assert_eq!(first.items[0].name, "p2.png");
    let after_p2 = Start::After(first.next.expect("more pages"));
    let second = s.list("alice", &after_p2, 2).await.unwrap();
    let second_names: Vec<&str> = second.items.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(second_names, ["p1.png", "p3.png"]);
    assert_eq!(second.total, 5);
    assert!(s.delete("p2.png").await.unwrap());
    let last = s.list("alice", &Start::After(second.next.expect("more pages")), 2).await.unwrap();
    let last_names: Vec<&str> = last.items.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(last_names, ["v.mp4", "a.png"]);
    assert!(last.next.is_none());
    assert_eq!(s.list("alice", &after_p2, 1).await.unwrap().items[0].name, "p1.png", "a cursor outlives its record");
    s.insert(&record("p2.png", "alice", "e2", 30.0)).await.unwrap();

    let mut all = s.all_names().await.unwrap();
    all.sort();
    assert_eq!(all, ["a.png", "b.png", "p1.png", "p2.png", "p3.png", "v.mp4"]);
    let mut mine = s.names_of_owner("bob").await.unwrap();
    mine.sort();
    assert_eq!(mine, ["b.png"]);

    assert!(s.delete("a.png").await.unwrap());
    assert!(!s.delete("a.png").await.unwrap());
    assert_eq!(s.get("a.png").await.unwrap(), None);
    // The freed name and bytes can be stored again.
    s.insert(&record("a.png", "alice", "d1", 40.0)).await.unwrap();
}

/// On MongoDB runs only: a fresh store, the database beside it (for documents written by
/// hand) and its address.
async fn mongo_with_raw() -> Option<(MongoStore, mongodb::Database, String)> {
    if common::engine() != "mongo" {
        return None;
    }
    let uri = common::fresh_mongo_uri();
    let store = MongoStore::connect(&uri, Duration::from_secs(5)).await.unwrap();
    let db = mongodb::Client::with_uri_str(&uri).await.unwrap().database(uri.rsplit('/').next().unwrap());
    Some((store, db, uri))
}

/// MongoDB documents written by hand may lack a time: they list last (below every time),
/// by page number and by cursor alike, none skipped or repeated.
#[tokio::test]
async fn mongo_records_without_a_time_list_last_by_cursor_too() {
    let Some((store, db, _)) = mongo_with_raw().await else { return };
    for (i, t) in [(1, 10.0), (2, 20.0)] {
        store.insert(&record(&format!("t{i}.png"), "u", &format!("d{i}"), t)).await.unwrap();
    }
    for i in 1..=3 {
        let mut d = mongodb::bson::to_document(&record(&format!("n{i}.png"), "u", &format!("e{i}"), 0.0)).unwrap();
        d.remove("time");
        db.collection::<mongodb::bson::Document>("images").insert_one(d).await.unwrap();
    }
    let names = |p: &imgbed::store::Page| p.items.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
    let all = names(&store.list("u", &Start::Offset(0), 10).await.unwrap());
    assert_eq!(all, ["t2.png", "t1.png", "n3.png", "n2.png", "n1.png"]);
    for size in [1, 2] {
        let (mut walked, mut start) = (Vec::new(), Start::Offset(0));
        loop {
            let page = store.list("u", &start, size).await.unwrap();
            walked.extend(names(&page));
            match page.next {
                Some(c) => start = Start::After(c),
                None => break,
            }
        }
        assert_eq!(walked, all, "pages of {size}");
    }
}

#[tokio::test]
async fn blocking_queries_answer_from_policy_threads() {
    let (s, _dir) = fresh().await;
    s.insert(&record("x.png", "alice", "d1", 1.0)).await.unwrap();
    s.insert(&record("y.png", "alice", "d2", 2.0)).await.unwrap();
    let store = s.clone();
    let (exists, missing, usage, none) = tokio::task::spawn_blocking(move || {
        (
            store.exists_blocking("x.png").unwrap(),
            store.exists_blocking("nope").unwrap(),
            store.usage_blocking("alice").unwrap(),
            store.usage_blocking("bob").unwrap(),
        )
    })
    .await
    .unwrap();
    assert!(exists && !missing);
    assert_eq!(usage, (2, 1005 + 1005));
    assert_eq!(none, (0, 0));
}

/// The per-owner counts and bytes (quotas, listing totals, the admin list) follow every
/// insert and delete, are untouched by refused inserts, and a recount agrees with them.
#[tokio::test]
async fn usage_follows_inserts_and_deletes() {
    let (s, _dir) = fresh().await;
    let size = |n: &str| 1000 + n.len() as u64;
    for (n, owner, d) in
        [("a1.png", "alice", "d1"), ("a22.png", "alice", "d2"), ("a333.png", "alice", "d3"), ("b.png", "bob", "d4")]
    {
        s.insert(&record(n, owner, d, 1.0)).await.unwrap();
    }
    let alice = (3, size("a1.png") + size("a22.png") + size("a333.png"));
    assert_eq!(s.usage("alice").await.unwrap(), alice);
    // Refused inserts count nothing: the same bytes again, a taken name, a gone account.
    assert!(matches!(s.insert(&record("again.png", "alice", "d1", 2.0)).await, Err(StoreError::Duplicate(_))));
    assert!(matches!(s.insert(&record("a1.png", "alice", "d9", 2.0)).await, Err(StoreError::NameTaken)));
    assert!(matches!(
        s.insert_for(&record("z.png", "alice", "d8", 2.0), Some("no-such-jti")).await,
        Err(StoreError::OwnerGone)
    ));
    assert_eq!(s.usage("alice").await.unwrap(), alice);
    assert_eq!(s.delete_images(&["a22.png".into(), "nope.png".into()]).await.unwrap(), ["a22.png"]);
    assert!(s.delete("a1.png").await.unwrap() && !s.delete("a1.png").await.unwrap());
    assert_eq!(s.usage("alice").await.unwrap(), (1, size("a333.png")));
    assert_eq!(s.list("alice", &Start::Offset(0), 10).await.unwrap().total, 1);
    s.remove_account("bob").await.unwrap();
    assert_eq!(s.usage("bob").await.unwrap(), (0, 0));
    s.recount_usage().await.unwrap();
    assert_eq!((s.usage("alice").await.unwrap(), s.usage("bob").await.unwrap()), ((1, size("a333.png")), (0, 0)));
}

/// MongoDB's counters (no transactions: a crash between a record and its counter leaves
/// them a record off) are set from the records by a recount, and made at the first start
/// of a database that has none.
#[tokio::test]
async fn mongo_counters_are_recounted_and_made_for_older_databases() {
    use mongodb::bson::{doc, Document};
    let Some((store, db, uri)) = mongo_with_raw().await else { return };
    store.insert(&record("m1.png", "mo", "d1", 1.0)).await.unwrap();
    store.insert(&record("m2.png", "mo", "d2", 2.0)).await.unwrap();
    let owners = db.collection::<Document>("owners");
    owners.update_one(doc! {"_id": "mo"}, doc! {"$set": {"images": 7_i64}}).await.unwrap();
    assert_eq!(store.usage("mo").await.unwrap().0, 7, "the counter is what is read");
    store.recount_usage().await.unwrap();
    assert_eq!(store.usage("mo").await.unwrap(), (2, 2012));
    // A database of an earlier version: records, no counters.
    owners.delete_many(doc! {}).await.unwrap();
    db.collection::<Document>("meta").delete_one(doc! {"_id": "owners_counted"}).await.unwrap();
    let again = MongoStore::connect(&uri, Duration::from_secs(5)).await.unwrap();
    assert_eq!(again.usage("mo").await.unwrap(), (2, 2012));
}

#[tokio::test]
async fn accounts_check_codes_and_bans() {
    let (s, _dir) = fresh().await;
    let u = User { mail: "a@example.org".into(), jti: "j1".into(), issued_at: 1_700_000_000, created: 5.5 };
    s.create_user(&u).await.unwrap();
    assert!(matches!(s.create_user(&u).await, Err(StoreError::UserExists)));
    assert_eq!(s.get_user("a@example.org").await.unwrap(), Some(u.clone()));
    assert_eq!(s.get_user("b@example.org").await.unwrap(), None);

    // A removal code: valid until used once or expired.
    s.set_check("a@example.org", "h1", 100.0).await.unwrap();
    assert!(s.check_valid("a@example.org", "h1", 50.0).await.unwrap());
    assert!(!s.check_valid("a@example.org", "h2", 50.0).await.unwrap());
    assert!(!s.check_valid("a@example.org", "h1", 150.0).await.unwrap());
    assert!(!s.take_check("a@example.org", "h1", 150.0).await.unwrap());
    assert!(s.take_check("a@example.org", "h1", 50.0).await.unwrap());
    assert!(!s.take_check("a@example.org", "h1", 50.0).await.unwrap(), "a code works once");
    // Two confirmations at once: only one wins.
    s.set_check("a@example.org", "h3", 100.0).await.unwrap();
    let (x, y) = tokio::join!(s.take_check("a@example.org", "h3", 1.0), s.take_check("a@example.org", "h3", 1.0));
    assert_eq!(u8::from(x.unwrap()) + u8::from(y.unwrap()), 1);

    // Usage per account, oldest account first.
    let v = User { mail: "v@example.org".into(), jti: "j2".into(), issued_at: 1, created: 1.0 };
    s.create_user(&v).await.unwrap();
    s.insert(&record("m.png", "a@example.org", "d1", 1.0)).await.unwrap();
    let users = s.users().await.unwrap();
    let got: Vec<(&str, u64, u64)> = users.iter().map(|u| (u.mail.as_str(), u.images, u.bytes)).collect();
    assert_eq!(got, [("v@example.org", 0, 0), ("a@example.org", 1, 1005)]);

    assert!(!s.is_banned("x@example.org").await.unwrap());
    s.ban("x@example.org", 1.0).await.unwrap();
    s.ban("x@example.org", 2.0).await.unwrap();
    assert!(s.is_banned("x@example.org").await.unwrap());
    // Everything a migration reads.
    let mails: Vec<String> = s.all_users().await.unwrap().into_iter().map(|u| u.mail).collect();
    assert_eq!(mails, ["v@example.org", "a@example.org"]);
    assert_eq!(s.all_users().await.unwrap()[1], u);
    assert_eq!(s.all_bans().await.unwrap(), [("x@example.org".to_string(), 2.0)]);
    // Tokens of the original service: kept by hash, gone with the account.
    s.add_legacy_token("a@example.org", "ab12").await.unwrap();
    s.add_legacy_token("a@example.org", "ab12").await.unwrap();
    assert_eq!(s.legacy_owner("ab12").await.unwrap().as_deref(), Some("a@example.org"));
    assert_eq!(s.legacy_owner("ab13").await.unwrap(), None);
    assert_eq!(s.all_legacy_tokens().await.unwrap(), [("a@example.org".to_string(), "ab12".to_string())]);
    assert!(s.delete_user("a@example.org").await.unwrap());
    assert!(!s.delete_user("a@example.org").await.unwrap());
    assert_eq!(s.legacy_owner("ab12").await.unwrap(), None);
    // init is idempotent.
    s.init().await.unwrap();
}

#[tokio::test]
async fn deletion_key_hashes_are_kept_and_replaced() {
    let (store, _dir) = fresh().await;
    let mut r = record("keyed.png", "k@x.org", "d1", 1.0);
    r.delete_key = Some("ab".repeat(32));
    store.insert(&r).await.unwrap();
    assert_eq!(store.get("keyed.png").await.unwrap().unwrap().delete_key, r.delete_key);
    let plain = record("plain.png", "k@x.org", "d2", 2.0);
    store.insert(&plain).await.unwrap();
    assert_eq!(store.get("plain.png").await.unwrap().unwrap().delete_key, None);
    assert!(store.set_delete_key("plain.png", &"cd".repeat(32)).await.unwrap());
    assert_eq!(store.get("plain.png").await.unwrap().unwrap().delete_key, Some("cd".repeat(32)));
    assert!(store.set_delete_key("keyed.png", &"ef".repeat(32)).await.unwrap());
    assert_eq!(store.get("keyed.png").await.unwrap().unwrap().delete_key, Some("ef".repeat(32)));
    assert!(!store.set_delete_key("missing.png", &"ef".repeat(32)).await.unwrap());
    // Listed records carry it too (the same row shape).
    let page = store.list("k@x.org", &Start::Offset(0), 10).await.unwrap();
    assert_eq!(page.items.iter().filter(|i| i.delete_key.is_some()).count(), 2);
}

/// A database file made before deletion links (no `delete_key` column) opens, keeps its
/// records (without keys) and takes keys from then on.
#[tokio::test]
async fn sqlite_files_without_the_deletion_key_column_are_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store.init().await.unwrap();
        store.insert(&record("old.png", "o@x.org", "d1", 1.0)).await.unwrap();
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("ALTER TABLE images DROP COLUMN delete_key").unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).unwrap();
    store.init().await.unwrap();
    let old = store.get("old.png").await.unwrap().unwrap();
    assert_eq!(old.delete_key, None);
    assert_eq!(old.original_name, "old.png.orig");
    assert!(store.set_delete_key("old.png", &"12".repeat(32)).await.unwrap());
    assert_eq!(store.get("old.png").await.unwrap().unwrap().delete_key, Some("12".repeat(32)));
}
