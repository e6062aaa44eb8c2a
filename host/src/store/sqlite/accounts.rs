//! Accounts on SQLite: token claims, removal codes, bans, legacy tokens.

use rusqlite::{params, OptionalExtension};

use super::{backend, codes, SqliteStore};
use crate::store::{AccountStore, StoreError, User, UserUsage};

#[async_trait::async_trait]
impl AccountStore for SqliteStore {
    async fn create_user(&self, u: &User) -> Result<(), StoreError> {
        let u = u.clone();
        self.with(move |c| {
            let res = c.execute(
                "INSERT INTO users (mail, jti, issued_at, created) VALUES (?1, ?2, ?3, ?4)",
                params![u.mail, u.jti, u.issued_at, u.created],
            );
            match res {
                Ok(_) => Ok(()),
                Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                    Err(StoreError::UserExists)
                }
                Err(e) => Err(backend(e)),
            }
        })
        .await
    }

    async fn get_user(&self, mail: &str) -> Result<Option<User>, StoreError> {
        // Every request with a token asks this: a point read on a read connection.
        let mail = mail.to_string();
        self.readers
            .read(move |c| {
                let mut stmt = c
                    .prepare_cached("SELECT mail, jti, issued_at, created FROM users WHERE mail = ?1")
                    .map_err(backend)?;
                stmt.query_row([&mail], |r| {
                    Ok(User { mail: r.get(0)?, jti: r.get(1)?, issued_at: r.get(2)?, created: r.get(3)? })
                })
                .optional()
                .map_err(backend)
            })
            .await
    }

    async fn delete_user(&self, mail: &str) -> Result<bool, StoreError> {
        let mail = mail.to_string();
        self.with(move |c| {
            c.execute("DELETE FROM legacy_tokens WHERE mail = ?1", [&mail]).map_err(backend)?;
            Ok(c.execute("DELETE FROM users WHERE mail = ?1", [&mail]).map_err(backend)? > 0)
        })
        .await
    }

    async fn set_check(&self, mail: &str, check_hash: &str, expires: f64) -> Result<(), StoreError> {
        let (mail, hash) = (mail.to_string(), check_hash.to_string());
        self.with(move |c| codes::add(c, &mail, &hash, expires)).await
    }

    async fn recent_checks(&self, mail: &str, since: f64) -> Result<u64, StoreError> {
        let mail = mail.to_string();
        self.with(move |c| codes::recent(c, &mail, since)).await
    }

    async fn check_valid(&self, mail: &str, check_hash: &str, now: f64) -> Result<bool, StoreError> {
        let (mail, hash) = (mail.to_string(), check_hash.to_string());
        self.with(move |c| codes::valid(c, &mail, &hash, now)).await
    }

    async fn take_check(&self, mail: &str, check_hash: &str, now: f64) -> Result<bool, StoreError> {
        let (mail, hash) = (mail.to_string(), check_hash.to_string());
        self.with(move |c| codes::take(c, &mail, &hash, now)).await
    }

    async fn ban(&self, mail: &str, time: f64) -> Result<(), StoreError> {
        let mail = mail.to_string();
        self.with(move |c| {
            c.execute("INSERT OR REPLACE INTO bans (mail, time) VALUES (?1, ?2)", params![mail, time])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn is_banned(&self, mail: &str) -> Result<bool, StoreError> {
        let mail = mail.to_string();
        self.with(move |c| {
            let n: i64 =
                c.query_row("SELECT COUNT(*) FROM bans WHERE mail = ?1", [&mail], |r| r.get(0)).map_err(backend)?;
            Ok(n > 0)
        })
        .await
    }

    async fn users(&self) -> Result<Vec<UserUsage>, StoreError> {
        self.with(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT u.mail, u.created, COALESCE(o.images, 0), COALESCE(o.bytes, 0)
                     FROM users u LEFT JOIN owners o ON o.owner = u.mail
                     ORDER BY u.created, u.mail",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(UserUsage {
                        mail: r.get(0)?,
                        created: r.get(1)?,
                        images: r.get::<_, i64>(2)? as u64,
                        bytes: r.get::<_, i64>(3)? as u64,
                    })
                })
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>();
            rows.map_err(backend)
        })
        .await
    }

    async fn all_users(&self) -> Result<Vec<User>, StoreError> {
        self.with(|c| {
            let mut stmt =
                c.prepare("SELECT mail, jti, issued_at, created FROM users ORDER BY created, mail").map_err(backend)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(User { mail: r.get(0)?, jti: r.get(1)?, issued_at: r.get(2)?, created: r.get(3)? })
                })
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>();
            rows.map_err(backend)
        })
        .await
    }

    async fn all_bans(&self) -> Result<Vec<(String, f64)>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT mail, time FROM bans ORDER BY mail").map_err(backend)?;
            let rows =
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(backend)?.collect::<Result<Vec<_>, _>>();
            rows.map_err(backend)
        })
        .await
    }

    async fn add_legacy_token(&self, mail: &str, token_sha256: &str) -> Result<(), StoreError> {
        let (mail, hash) = (mail.to_string(), token_sha256.to_string());
        self.with(move |c| {
            c.execute("INSERT OR REPLACE INTO legacy_tokens (token_sha256, mail) VALUES (?1, ?2)", params![hash, mail])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn legacy_owner(&self, token_sha256: &str) -> Result<Option<String>, StoreError> {
        let hash = token_sha256.to_string();
        self.with(move |c| {
            c.query_row("SELECT mail FROM legacy_tokens WHERE token_sha256 = ?1", [&hash], |r| r.get(0))
                .optional()
                .map_err(backend)
        })
        .await
    }

    async fn all_legacy_tokens(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT mail, token_sha256 FROM legacy_tokens ORDER BY mail").map_err(backend)?;
            let rows =
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(backend)?.collect::<Result<Vec<_>, _>>();
            rows.map_err(backend)
        })
        .await
    }
}
