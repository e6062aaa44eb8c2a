//! Moving installs: `imgbed migrate` copies everything from one configured storage
//! to another (e.g. SQLite + files → MongoDB); `imgbed import-original` brings in an
//! install of the original Flask service, keeping its users' tokens working.
//!
//! Both are idempotent: what the target already has is skipped, so an interrupted
//! run can simply be run again. Each file is written before its record.

mod copy;

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::blob::{is_safe_name, thumb_name, Located, TempArea};
use crate::clock::now;
use crate::config::Settings;
use crate::ingest::{judge, JudgeError, Naming, Options, Received};
use crate::policy::{Limits, PolicyRuntime, Upload};
use crate::store::{StoreError, User};
use crate::Storage;
use copy::{copy_blob, Copied};

/// What a run copied, skipped and refused.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub users: u64,
    pub bans: u64,
    pub legacy_tokens: u64,
    pub images: u64,
    /// Already in the target (an earlier run).
    pub already_there: u64,
    /// (name, why) of what was not brought over.
    pub skipped: Vec<(String, String)>,
}

/// Copies every account, ban, legacy token, record, file and thumbnail from `from` to `to`,
/// then checks that `to` holds every record and account of `from`.
pub async fn migrate(from: &Storage, to: &Storage) -> anyhow::Result<Report> {
    let mut report = Report::default();
    for u in from.store.all_users().await? {
        match to.store.create_user(&u).await {
            Ok(()) => report.users += 1,
            Err(StoreError::UserExists) => report.already_there += 1,
            Err(e) => return Err(e.into()),
        }
    }
    for (mail, time) in from.store.all_bans().await? {
        to.store.ban(&mail, time).await?;
        report.bans += 1;
    }
    for (mail, hash) in from.store.all_legacy_tokens().await? {
        to.store.add_legacy_token(&mail, &hash).await?;
        report.legacy_tokens += 1;
    }
    for name in from.store.all_names().await? {
        let Some(mut record) = from.store.get(&name).await? else { continue };
        if to.store.get(&name).await?.is_some() {
            report.already_there += 1;
            continue;
        }
        let check = Some((record.digest.as_str(), record.mime.as_str()));
        let copied = copy_blob(from.blobs.as_ref(), to.blobs.as_ref(), &to.temp, record.blob(), check).await?;
        // The target's record keeps where the target put the file, never the source's key.
        record.blob_key = match copied {
            Copied::Done(key) => key,
            Copied::Missing => {
                report.skipped.push((name, "its file is missing".into()));
                continue;
            }
            Copied::WrongDigest(found) => {
                report.skipped.push((name, format!("its file's SHA-256 is {found}, not the recorded one")));
                continue;
            }
        };
        // The target's record says whether the target has a thumbnail, whatever the source said.
        record.thumb = Some(match (&from.thumbs, &to.thumbs) {
            (Some(a), Some(b)) => matches!(
                copy_blob(a.as_ref(), b.as_ref(), &to.temp, Located::by_name(&thumb_name(&name)), None).await?,
                Copied::Done(_)
            ),
            _ => false,
        });
        match to.store.insert(&record).await {
            Ok(()) => report.images += 1,
            Err(StoreError::Duplicate(_) | StoreError::NameTaken) => {
                report.skipped.push((name, "the target has another record with this name or these bytes".into()))
            }
            Err(e) => return Err(e.into()),
        }
    }
    // Check: every record and account of the source is in the target.
    let there: HashSet<String> = to.store.all_names().await?.into_iter().collect();
    let skipped: HashSet<&String> = report.skipped.iter().map(|(n, _)| n).collect();
    let lost: Vec<String> =
        from.store.all_names().await?.into_iter().filter(|n| !there.contains(n) && !skipped.contains(n)).collect();
    if !lost.is_empty() {
        bail!("{} records did not arrive: {:?}", lost.len(), &lost[..lost.len().min(10)]);
    }
    let accounts: HashSet<String> = to.store.all_users().await?.into_iter().map(|u| u.mail).collect();
    let missing = from.store.all_users().await?.into_iter().filter(|u| !accounts.contains(&u.mail)).count();
    if missing > 0 {
        bail!("{missing} accounts did not arrive");
    }
    Ok(report)
}

/// Where the original's data is.
pub enum OriginalSource<'a> {
    /// Its SQLite file (`test.db`): tables `image` and `token`.
    Sqlite(&'a Path),
    /// Its MongoDB database (connection string with the database name): collections `images` and `token`.
    Mongo(&'a str),
}

/// What the original's database holds: (mail, token) pairs and image rows.
struct Original {
    tokens: Vec<(String, String)>,
    images: Vec<OriginalImage>,
}

/// One image row of the original.
struct OriginalImage {
    name: String,
    mail: String,
    time: f64,
}

fn parse_time(v: Option<String>) -> f64 {
    v.and_then(|t| t.trim().parse::<f64>().ok()).filter(|t| t.is_finite() && *t > 0.0).unwrap_or_else(now)
}

fn read_sqlite(path: &Path) -> anyhow::Result<Original> {
    use rusqlite::{Connection, OpenFlags};
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", path.display()))?;
    // Columns are read as text whatever type SQLite stored them with.
    let text = |r: &rusqlite::Row<'_>, i: usize| -> rusqlite::Result<Option<String>> {
        Ok(match r.get_ref(i)? {
            rusqlite::types::ValueRef::Null => None,
            rusqlite::types::ValueRef::Integer(n) => Some(n.to_string()),
            rusqlite::types::ValueRef::Real(f) => Some(f.to_string()),
            rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                Some(String::from_utf8_lossy(t).into_owned())
            }
        })
    };
    let mut tokens = Vec::new();
    let mut stmt = conn.prepare("SELECT mail, token FROM token").context("reading the original's token table")?;
    let rows = stmt.query_map([], |r| Ok((text(r, 0)?, text(r, 1)?)))?;
    for row in rows {
        if let (Some(mail), Some(token)) = row? {
            tokens.push((mail, token));
        }
    }
    let mut images = Vec::new();
    let mut stmt = conn.prepare("SELECT name, mail, time FROM image").context("reading the original's image table")?;
    let rows = stmt.query_map([], |r| Ok((text(r, 0)?, text(r, 1)?, text(r, 2)?)))?;
    for row in rows {
        if let (Some(name), Some(mail), time) = row? {
            images.push(OriginalImage { name, mail, time: parse_time(time) });
        }
    }
    Ok(Original { tokens, images })
}

async fn read_mongo(uri: &str) -> anyhow::Result<Original> {
    use mongodb::bson::{doc, Bson, Document};
    let mut options = mongodb::options::ClientOptions::parse(uri).await?;
    options.server_selection_timeout = Some(Duration::from_secs(5));
    let db_name = options.default_database.clone().context("the connection string must name the database")?;
    let db = mongodb::Client::with_options(options)?.database(&db_name);
    let as_text = |d: &Document, k: &str| match d.get(k) {
        Some(Bson::String(s)) => Some(s.clone()),
        Some(Bson::Double(f)) => Some(f.to_string()),
        Some(Bson::Int32(n)) => Some(n.to_string()),
        Some(Bson::Int64(n)) => Some(n.to_string()),
        _ => None,
    };
    let mut tokens = Vec::new();
    let mut cursor = db.collection::<Document>("token").find(doc! {}).await?;
    while cursor.advance().await? {
        let d = cursor.deserialize_current()?;
        if let (Some(mail), Some(token)) = (as_text(&d, "mail"), as_text(&d, "token")) {
            tokens.push((mail, token));
        }
    }
    let mut images = Vec::new();
    let mut cursor = db.collection::<Document>("images").find(doc! {}).await?;
    while cursor.advance().await? {
        let d = cursor.deserialize_current()?;
        if let (Some(name), Some(mail)) = (as_text(&d, "name"), as_text(&d, "mail")) {
            images.push(OriginalImage { name, mail, time: parse_time(as_text(&d, "time")) });
        }
    }
    Ok(Original { tokens, images })
}

/// The original's base64 names used `+` and `/`; stored names use the URL-safe alphabet.
fn safe_name(name: &str) -> Option<String> {
    let mapped: String = name
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            '=' => '_',
            c => c,
        })
        .collect();
    is_safe_name(&mapped).then_some(mapped)
}

/// Brings in the original's accounts (their tokens keep working) and images (each
/// judged by the policy like an upload; refused files are reported, not imported).
pub async fn import_original(
    settings: &Settings,
    to: &Storage,
    source: OriginalSource<'_>,
    images_dir: &Path,
) -> anyhow::Result<Report> {
    let Original { tokens, images } = match source {
        OriginalSource::Sqlite(p) => read_sqlite(p)?,
        OriginalSource::Mongo(uri) => read_mongo(uri).await?,
    };
    let mut report = Report::default();
    let mut accounts = HashSet::new();
    for (raw_mail, token) in tokens {
        let Some(mail) = crate::auth::normalise_mail(&raw_mail).filter(|_| !token.is_empty()) else {
            report.skipped.push((raw_mail, "an empty, too long or malformed mail, or an empty token".into()));
            continue;
        };
        let user = User {
            mail: mail.clone(),
            jti: hex::encode(rand::random::<[u8; 16]>()),
            issued_at: now() as i64,
            created: now(),
        };
        match to.store.create_user(&user).await {
            Ok(()) => report.users += 1,
            Err(StoreError::UserExists) => report.already_there += 1,
            Err(e) => return Err(e.into()),
        }
        to.store.add_legacy_token(&mail, &hex::encode(Sha256::digest(token.as_bytes()))).await?;
        report.legacy_tokens += 1;
        accounts.insert(mail);
    }

    // The policy a server would start with, checked the same way (`policy.trusted_keys`).
    let component = crate::initial_policy(settings)?;
    let options = crate::policy::Options { trusted: crate::app::trusted_keys(settings)?, ..Default::default() };
    let limits = Limits {
        memory_bytes: settings.config.policy.memory_mb as usize * 1024 * 1024,
        deadline: Duration::from_millis(settings.config.policy.deadline_ms),
        workers: 1,
        heavy_workers: 1,
    };
    let policy_settings = settings.policy_settings();
    let policy = tokio::task::spawn_blocking(move || {
        PolicyRuntime::with_options(&component, limits, policy_settings, crate::policy::no_storage(), options)
    })
    .await??;
    let policy = Arc::new(policy);
    let server = &settings.config.server;
    let strip = server.strip_metadata;
    let thumb_width = to.thumbs.is_some().then_some(server.thumb_width);

    for img in images {
        let Some(mail) = crate::auth::normalise_mail(&img.mail) else {
            report.skipped.push((img.name, "an empty, too long or malformed mail".into()));
            continue;
        };
        let Some(name) = safe_name(&img.name) else {
            report.skipped.push((img.name, "a name that cannot be stored safely".into()));
            continue;
        };
        if !accounts.contains(&mail) && to.store.get_user(&mail).await?.is_none() {
            report.skipped.push((img.name, format!("no account {mail}")));
            continue;
        }
        if to.store.get(&name).await?.is_some() {
            report.already_there += 1;
            continue;
        }
        // Only plain names are looked up in the folder: never a path from the database.
        let path = images_dir.join(&img.name);
        if img.name.contains('/') || img.name.contains('\\') || img.name.starts_with('.') || !path.is_file() {
            report.skipped.push((img.name, "its file is missing".into()));
            continue;
        }
        // Judged like an upload (stripped, inspected, thumbnailed), keeping its name.
        let received = receive(&to.temp, &path, &img.name, &mail, img.time).await?;
        let options = Options { naming: Naming::Keep(name.clone()), strip, thumb_width, admit: None };
        let judged = match judge(&policy, &to.temp, "import", received, options).await {
            Ok(j) => j,
            Err(JudgeError::Io(e)) => return Err(e.into()),
            Err(e) => {
                report.skipped.push((img.name, e.to_string()));
                continue;
            }
        };
        if let Some(existing) = to.store.find_by_digest(&mail, &judged.upload.digest).await? {
            report.skipped.push((img.name, format!("the same bytes as {}", existing.name)));
            continue;
        }
        let stored = match crate::ingest::put_files(to.blobs.as_ref(), to.thumbs.as_deref(), &judged, &name).await {
            Ok(stored) => stored,
            // An earlier run stored it (found by name); its thumbnail too, unless that run
            // stopped before it.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let thumb = match (&to.thumbs, judged.thumbnail.clone()) {
                    (Some(thumbs), Some(png)) => match thumbs.put_bytes(&thumb_name(&name), png).await {
                        Ok(()) => true,
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => true,
                        Err(e) => return Err(e.into()),
                    },
                    _ => false,
                };
                crate::ingest::Stored { key: None, thumb }
            }
            Err(e) => return Err(e.into()),
        };
        let mut record = crate::ingest::record(name.clone(), &judged.upload, &judged.media);
        stored.mark(&mut record);
        match to.store.insert(&record).await {
            Ok(()) => report.images += 1,
            Err(StoreError::Duplicate(existing)) => {
                let _ = to.blobs.remove(&name).await;
                report.skipped.push((img.name, format!("the same bytes as {existing}")));
            }
            Err(StoreError::NameTaken) => report.skipped.push((img.name, "the name is taken".into())),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(report)
}

/// A file of the original service as a received upload: copied into the temp area
/// (synced), with its size and digest.
async fn receive(temp: &TempArea, path: &Path, filename: &str, owner: &str, time: f64) -> anyhow::Result<Received> {
    let blob = temp.temp();
    let (from, to) = (path.to_path_buf(), blob.path().to_path_buf());
    let (size, digest) = tokio::task::spawn_blocking(move || -> std::io::Result<(u64, String)> {
        let bytes = std::fs::read(&from)?;
        let mut out = std::fs::File::options().write(true).create_new(true).open(&to)?;
        out.write_all(&bytes)?;
        out.sync_all()?;
        Ok((bytes.len() as u64, hex::encode(Sha256::digest(&bytes))))
    })
    .await??;
    let upload = Upload {
        filename: filename.to_string(),
        declared_type: String::new(),
        size,
        digest,
        owner: owner.to_string(),
        received_at: time,
    };
    Ok(Received { temp: blob, upload })
}
