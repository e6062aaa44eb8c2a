//! Opening storage: the metadata store and the blob stores the config names, after
//! the checks that keep a wrong layout from touching anything.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::blob::{marker, BlobStore, LocalBlobs, MongoBlobs, S3Blobs, TempArea};
use crate::config::Settings;
use crate::store::{MetaStore, MongoStore, SqliteStore, TimedStore};

/// The key under which the database keeps the id of its image folder.
const STORE_ID: &str = "store_id";

/// The metadata store and the blob stores the config names.
pub struct Storage {
    pub store: Arc<dyn MetaStore>,
    pub blobs: Arc<dyn BlobStore>,
    /// Present when `server.image_zip` is on.
    pub thumbs: Option<Arc<dyn BlobStore>>,
    /// The variant cache, when `variants.enabled` is on.
    pub variants: Option<Arc<dyn BlobStore>>,
    pub temp: TempArea,
    /// The MongoDB database, with `database.engine: "mongo"`.
    pub mongo: Option<mongodb::Database>,
}

type Blobs = Arc<dyn BlobStore>;

/// How long a blob without a record is left alone in a store shared by several hosts.
const SHARED_BLOB_GRACE: Duration = Duration::from_secs(15 * 60);

/// Opens the metadata store and the blob stores the config names, after checking the
/// layout on disk: overlapping places, and an image folder that is not the one the
/// records were made in (no store marker), are refused before anything is touched.
pub async fn open_storage(settings: &Settings) -> anyhow::Result<Storage> {
    crate::config::layout::check(settings).map_err(anyhow::Error::msg)?;
    let db = &settings.config.database;
    let (store, mongo): (Arc<dyn MetaStore>, _) = match db.engine.as_str() {
        "mongo" => {
            let timeout = Duration::from_millis(db.timeout_ms);
            let store = MongoStore::connect(&db.mongo, timeout)
                .await
                .with_context(|| format!("connecting to MongoDB at {}", crate::store::redact_uri(&db.mongo)))?;
            let database = store.database();
            (Arc::new(TimedStore::new(Arc::new(store), timeout)), Some(database))
        }
        _ => (
            Arc::new(
                SqliteStore::open(&settings.sqlite_path)
                    .with_context(|| format!("opening database {}", settings.sqlite_path.display()))?,
            ),
            None,
        ),
    };
    check_image_folder(settings, store.as_ref()).await?;
    // Uploads are received next to the local image folder (same file system: stored by a link).
    let temp = TempArea::open(&settings.image_dir.join(".tmp"))
        .with_context(|| format!("opening the upload folder {}", settings.image_dir.display()))?;
    let image_zip = settings.config.server.image_zip;
    let with_variants = settings.config.variants.enabled;
    let (blobs, thumbs, variants): (Arc<dyn BlobStore>, Option<Blobs>, Option<Blobs>) = match (db.blob.as_str(), &mongo)
    {
        ("s3", _) => {
            let s3 = &db.s3;
            let blobs = S3Blobs::open(s3, "images").await.map_err(anyhow::Error::msg)?;
            check_bucket(store.as_ref(), &blobs, s3).await?;
            let open = |prefix: &'static str, on: bool| async move {
                match on {
                    true => {
                        S3Blobs::open(s3, prefix).await.map(|b| Some(Arc::new(b) as Blobs)).map_err(anyhow::Error::msg)
                    }
                    false => Ok(None),
                }
            };
            let thumbs = open("thumbs", image_zip).await?;
            let variants = open("variants", with_variants).await?;
            (Arc::new(blobs), thumbs, variants)
        }
        (kind @ ("mongo" | "gridfs"), Some(database)) => {
            if kind == "gridfs" {
                tracing::warn!(
                    "database.blob \"gridfs\" is deprecated: the files are in chunk collections of imgbed's own, \
                     not GridFS; say \"mongo\" (same store, nothing to migrate)"
                );
            }
            let limit = Duration::from_millis(db.timeout_ms);
            let open = |bucket: &'static str| MongoBlobs::open(database, bucket, SHARED_BLOB_GRACE, limit);
            let blobs = open("images").await.context("opening the blob store in MongoDB")?;
            let thumbs = match image_zip {
                true => {
                    Some(Arc::new(open("thumbs").await.context("opening the thumbnail store")?) as Arc<dyn BlobStore>)
                }
                false => None,
            };
            let variants = match with_variants {
                true => {
                    Some(Arc::new(open("variants").await.context("opening the variant store")?) as Arc<dyn BlobStore>)
                }
                false => None,
            };
            (Arc::new(blobs), thumbs, variants)
        }
        _ => {
            let blobs = LocalBlobs::open(&settings.image_dir)
                .with_context(|| format!("opening image directory {}", settings.image_dir.display()))?;
            let thumbs = match image_zip {
                true => {
                    if marker::read(&settings.thumb_dir).is_none() {
                        marker::write(&settings.thumb_dir, &marker::new_id())
                            .with_context(|| format!("creating {}", settings.thumb_dir.display()))?;
                    }
                    Some(Arc::new(
                        LocalBlobs::open(&settings.thumb_dir)
                            .with_context(|| format!("opening {}", settings.thumb_dir.display()))?,
                    ) as Arc<dyn BlobStore>)
                }
                false => None,
            };
            let variants = match with_variants {
                true => Some(local_cache(&settings.variant_dir)? as Arc<dyn BlobStore>),
                false => None,
            };
            (Arc::new(blobs), thumbs, variants)
        }
    };
    Ok(Storage { store, blobs, thumbs, variants, temp, mongo })
}

/// A local folder of derived files (variants), created with its marker when missing.
fn local_cache(dir: &std::path::Path) -> anyhow::Result<Arc<LocalBlobs>> {
    if marker::read(dir).is_none() {
        marker::write(dir, &marker::new_id()).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(Arc::new(LocalBlobs::open(dir).with_context(|| format!("opening {}", dir.display()))?))
}

/// The image folder and the database must belong together (see [`blob::marker`]): the
/// folder's marker names a store id, which the database keeps too. Refused: records but
/// no marker (an unmounted disk, a wrong folder); a marker and stored files but an empty
/// database that never saw this store (a wrong `database.sqlite`); two different ids.
async fn check_image_folder(settings: &Settings, store: &dyn MetaStore) -> anyhow::Result<()> {
    let dir = &settings.image_dir;
    // With files in MongoDB the folder only receives uploads: any folder will do.
    if settings.config.database.blob != "local" {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        return Ok(());
    }
    let known = store.get_meta(STORE_ID).await?;
    let refuse = |why: String| {
        anyhow::anyhow!("{why} Refusing to start rather than judge files and records that do not belong together; `imgbed fsck` reports what it finds")
    };
    match (marker::read(dir), known) {
        (Some(id), Some(known)) if id == known => Ok(()),
        (Some(id), Some(known)) => Err(refuse(format!(
            "the image folder {} belongs to store {id}, but the database to store {known}: is this the right folder \
             (server.image_path) and the right database?",
            dir.display()
        ))),
        (Some(id), None) => {
            let files = marker::stored_files(dir);
            if !store.has_images().await? && files > 0 {
                return Err(refuse(format!(
                    "the image folder {} holds {files} stored files but the database has no records and has never \
                     seen this folder: is the database the right one (database.sqlite / database.mongo), is its disk \
                     mounted?",
                    dir.display()
                )));
            }
            // The records' own folder, from a version before store ids: remember it.
            store.set_meta(STORE_ID, &id).await?;
            Ok(())
        }
        (None, known) => {
            let has_records = store.has_images().await?;
            let names = if has_records { store.all_names().await? } else { Vec::new() };
            let id = marker::ensure(dir, has_records, known.as_deref(), || names).map_err(anyhow::Error::msg)?;
            if has_records {
                tracing::info!(folder = %dir.display(), "image folder of an earlier version: store marker written");
            }
            store.set_meta(STORE_ID, &id).await?;
            Ok(())
        }
    }
}

/// The bucket prefix and the database must belong together, as a local folder and its
/// database do: the prefix's marker names the store id the database keeps. Refused: a
/// database with records and a prefix without a marker (a wrong prefix or bucket); a
/// prefix with a marker and stored files and a database that never saw it; two ids.
async fn check_bucket(store: &dyn MetaStore, blobs: &S3Blobs, s3: &crate::config::S3Config) -> anyhow::Result<()> {
    let place = format!("bucket {:?}, prefix {:?}", s3.bucket, s3.prefix);
    let refuse = |why: String| {
        anyhow::anyhow!("{why} Refusing to start rather than judge files and records that do not belong together; `imgbed fsck` reports what it finds")
    };
    let known = store.get_meta(STORE_ID).await?;
    match (blobs.store_id().await?, known) {
        (Some(id), Some(known)) if id == known => Ok(()),
        (Some(id), Some(known)) => Err(refuse(format!(
            "{place} belongs to store {id}, but the database to store {known}: is this the right prefix \
             (database.s3.prefix) and the right database?"
        ))),
        (Some(id), None) => {
            if !store.has_images().await? && blobs.holds_names().await? {
                return Err(refuse(format!(
                    "{place} holds stored files but the database has no records and has never seen this store: \
                     is the database the right one?"
                )));
            }
            store.set_meta(STORE_ID, &id).await?;
            Ok(())
        }
        (None, known) => {
            if store.has_images().await? && known.is_some() {
                return Err(refuse(format!(
                    "{place} has no store marker, but the database holds records of store {}: is this the right \
                     bucket and prefix (database.s3.bucket, database.s3.prefix)?",
                    known.unwrap_or_default()
                )));
            }
            let id = blobs.mark(&known.unwrap_or_else(marker::new_id)).await?;
            store.set_meta(STORE_ID, &id).await?;
            Ok(())
        }
    }
}

/// The server's own files, which reconciliation never touches whatever the layout.
pub fn protected_files(settings: &Settings) -> Vec<std::path::PathBuf> {
    let mut out = crate::config::layout::private_files(settings);
    out.extend([settings.log_dir.clone(), settings.base_dir.join("policy"), settings.cache_dir.clone()]);
    out.extend(settings.policy_file.clone());
    out
}
