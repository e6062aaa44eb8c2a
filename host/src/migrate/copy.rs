//! Copying one blob between stores, checked against its record's digest on the way.

use std::io::Write;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::blob::{BlobStore, Located, TempArea};

/// What copying one blob found.
pub(super) enum Copied {
    /// Stored (or already there), with the key the target keeps it under, if it said.
    Done(Option<String>),
    Missing,
    /// The source's bytes do not hash to the record's digest: not copied.
    WrongDigest(String),
}

/// Copies a blob between stores through a local temp file, checking its SHA-256 against
/// `digest` (when given) before the target stores it, with its type `mime`. The source
/// is read where its record locates it (S3: by the object's key).
pub(super) async fn copy_blob(
    from: &dyn BlobStore,
    to: &dyn BlobStore,
    temp: &TempArea,
    blob: Located<'_>,
    check: Option<(&str, &str)>,
) -> anyhow::Result<Copied> {
    let name = blob.name;
    let Some(len) = from.size_located(blob).await? else { return Ok(Copied::Missing) };
    let file = temp.temp();
    let mut hash = Sha256::new();
    {
        let mut out = std::fs::File::create(file.path())?;
        let mut stream = match from.read_located(blob, 0, len).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Copied::Missing),
            other => other?,
        };
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            hash.update(&chunk);
            out.write_all(&chunk)?;
        }
        out.sync_all()?;
    }
    let stored = match check {
        Some((digest, mime)) => {
            let found = hex::encode(hash.finalize());
            if found != digest {
                return Ok(Copied::WrongDigest(found));
            }
            to.put_file_as(file.path(), name, mime).await
        }
        None => to.put_file(file.path(), name).await.map(|()| None),
    };
    match stored {
        Ok(key) => Ok(Copied::Done(key)),
        // An earlier run stored it: found by name (its record will have no key).
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Copied::Done(None)),
        Err(e) => Err(e.into()),
    }
}
