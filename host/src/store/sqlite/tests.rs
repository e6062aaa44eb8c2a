//! The per-owner counters: kept by triggers through every write, and filled in from
//! the records when an older database gets them. Group commit of upload records.

use super::SqliteStore;
use crate::store::{AccountStore, ImageFacts, ImageRecord, ImageStore, MetaStore, Start, StoreError, User};

fn record(name: &str, owner: &str, size: u64) -> ImageRecord {
    let facts = ImageFacts {
        name: name.into(),
        size,
        digest: format!("digest-{name}"),
        kind: "image".into(),
        format: "png".into(),
        mime: "image/png".into(),
        width: 1,
        height: 1,
        frames: 1,
        duration_ms: None,
        codec: None,
        original_name: name.into(),
        time: 1.0,
    };
    ImageRecord::new(facts, owner.into())
}

async fn usage(store: &SqliteStore, owner: &str) -> (u64, u64) {
    let list_total = store.list(owner, &Start::Offset(0), 1).await.unwrap().total;
    let usage = store.usage_blocking(owner).unwrap();
    assert_eq!(list_total, usage.0, "the listing's total and the usage agree");
    usage
}

#[tokio::test]
async fn owner_counters_follow_every_write_and_are_filled_for_old_databases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = SqliteStore::open(&path).unwrap();
    store.create_user(&User { mail: "a@x".into(), jti: "j".into(), issued_at: 1, created: 1.0 }).await.unwrap();
    for (name, owner, size) in [("a1", "a@x", 10), ("a2", "a@x", 20), ("b1", "b@x", 5)] {
        store.insert(&record(name, owner, size)).await.unwrap();
    }
    assert_eq!(usage(&store, "a@x").await, (2, 30));
    assert_eq!(usage(&store, "nobody").await, (0, 0));
    store.delete_images(&["a1".to_string()]).await.unwrap();
    assert_eq!(usage(&store, "a@x").await, (1, 20));
    let users = store.users().await.unwrap();
    assert_eq!((users.len(), users[0].images, users[0].bytes), (1, 1, 20));
    drop(store);

    // A database from before the counters: the table and triggers are made and filled.
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(
        "DROP TRIGGER owners_on_insert; DROP TRIGGER owners_on_delete; DROP TRIGGER owners_on_update;
         DROP TABLE owners;",
    )
    .unwrap();
    drop(c);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(usage(&store, "a@x").await, (1, 20));
    assert_eq!(usage(&store, "b@x").await, (1, 5));
    // A trigger lost (the table kept, its counts drifted): remade and recounted.
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch("DROP TRIGGER owners_on_delete; UPDATE owners SET images = 99;").unwrap();
    drop(c);
    store.init().await.unwrap();
    assert_eq!(usage(&store, "b@x").await, (1, 5));
    store.delete_images(&["b1".to_string()]).await.unwrap();
    assert_eq!(usage(&store, "b@x").await, (0, 0));
    store.remove_account("a@x").await.unwrap();
    assert_eq!(usage(&store, "a@x").await, (0, 0));
}

#[tokio::test]
async fn a_database_from_before_blob_keys_gets_the_column_with_its_rows_keyless() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = SqliteStore::open(&path).unwrap();
    store.insert(&record("old", "a@x", 10)).await.unwrap();
    drop(store);
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch("ALTER TABLE images DROP COLUMN blob_key").unwrap();
    drop(c);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.get("old").await.unwrap().unwrap().blob_key, None);
    let mut new = record("new", "a@x", 20);
    new.blob_key = Some("objects/new/00".into());
    store.insert(&new).await.unwrap();
    assert_eq!(store.get("new").await.unwrap(), Some(new));
    store.init().await.unwrap();
    assert_eq!(usage(&store, "a@x").await, (2, 30));
}

#[tokio::test]
async fn a_deep_page_is_the_same_slice_of_the_listing() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.db")).unwrap();
    store.init().await.unwrap();
    let n = super::list::DEEP_PAGE + 20;
    {
        // One transaction: a thousand synced inserts would take a while.
        let conn = store.conn.lock().unwrap();
        let tx = rusqlite::Transaction::new_unchecked(&conn, rusqlite::TransactionBehavior::Immediate).unwrap();
        for i in 0..n {
            // Equal times in pairs: the order falls back to insertion (later first).
            let mut r = record(&format!("r{i:05}"), "deep", 1);
            r.time = (i / 2) as f64;
            super::insert_row(&tx, &r).unwrap();
        }
        tx.commit().unwrap();
    }
    let names = |p: &crate::store::Page| p.items.iter().map(|r| r.facts.name.clone()).collect::<Vec<_>>();
    let all = names(&store.list("deep", &Start::Offset(0), n).await.unwrap());
    assert_eq!(all.len() as u64, n);
    for offset in [super::list::DEEP_PAGE - 3, super::list::DEEP_PAGE, super::list::DEEP_PAGE + 7] {
        let page = store.list("deep", &Start::Offset(offset), 10).await.unwrap();
        let end = (offset as usize + 10).min(all.len());
        assert_eq!(names(&page), all[offset as usize..end], "offset {offset}");
        assert_eq!(page.total, n);
    }
    // Walking by cursor gives the same listing, page after page (pairs of equal times
    // split across pages included), and the last page has no next.
    let (mut walked, mut start) = (Vec::new(), Start::Offset(0));
    loop {
        let page = store.list("deep", &start, 7).await.unwrap();
        walked.extend(names(&page));
        match page.next {
            Some(c) => start = Start::After(c),
            None => break,
        }
    }
    assert_eq!(walked, all);
    // A cursor of another engine, or whose tie-break is not a row id, is not this engine's.
    for (engine, tie) in [("mongo", serde_json::json!(3)), ("sqlite", serde_json::json!("65a1b2c3"))] {
        let foreign = Start::After(crate::store::Cursor { engine: engine.into(), time: 1.0, tie });
        assert!(matches!(store.list("deep", &foreign, 7).await, Err(StoreError::BadCursor)), "{engine}");
    }
}

/// Inserts that queue while the writer is busy are committed in one transaction, each
/// with its own outcome: a clash or a gone account fails that insert only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_queued_behind_the_writer_commit_as_one_group_each_with_its_own_outcome() {
    use crate::store::StoreError;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.db")).unwrap();
    store.create_user(&User { mail: "a@x".into(), jti: "j".into(), issued_at: 1, created: 1.0 }).await.unwrap();
    store.insert(&record("taken", "b@x", 1)).await.unwrap();
    let mut duplicate = record("dup", "b@x", 1);
    duplicate.digest = "digest-taken".into();
    let attempts = [
        (record("g1", "a@x", 10), Some("j")),
        (record("g2", "a@x", 20), Some("an-older-token")),
        (record("taken", "a@x", 30), Some("j")),
        (duplicate, None),
        (record("g3", "b@x", 40), None),
    ];
    let writer = store.conn.lock().unwrap();
    let tasks: Vec<_> = attempts
        .into_iter()
        .map(|(r, jti)| {
            let store = store.clone();
            tokio::spawn(async move { store.insert_for(&r, jti).await })
        })
        .collect();
    // (A blocking wait: the tasks run on the runtime's workers, not on this thread.)
    while store.inserts.waiting() < tasks.len() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    drop(writer);
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    assert!(outcomes[0].is_ok(), "{outcomes:?}");
    assert!(matches!(outcomes[1], Err(StoreError::OwnerGone)), "{outcomes:?}");
    assert!(matches!(outcomes[2], Err(StoreError::NameTaken)), "{outcomes:?}");
    assert!(matches!(&outcomes[3], Err(StoreError::Duplicate(n)) if n == "taken"), "{outcomes:?}");
    assert!(outcomes[4].is_ok(), "{outcomes:?}");
    assert_eq!(store.inserts.groups(), 1, "one transaction for the five");
    assert_eq!(usage(&store, "a@x").await, (1, 10));
    assert_eq!(usage(&store, "b@x").await, (2, 41));
    assert_eq!(store.get("taken").await.unwrap().unwrap().owner, "b@x");

    // Alone, an insert commits at once, in a group of its own.
    store.insert_for(&record("g4", "a@x", 1), Some("j")).await.unwrap();
    assert_eq!(store.inserts.groups(), 2);
}
