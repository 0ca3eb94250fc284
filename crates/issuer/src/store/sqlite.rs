//! SQLite: everything in one file (feature `sqlite`), the `bearer` binary's default.
//! Sessions, users, clients, epochs, throttle counters and audit events survive a
//! restart; one host only (several processes on it may share the file).
//!
//! ```no_run
//! use issuer::Issuer;
//! use issuer::store::{self, StoreConfig};
//! # async fn run(key: token_core::SigningKey) -> Result<(), Box<dyn std::error::Error>> {
//! // Creates the file and its tables if missing.
//! let stores = store::open(&StoreConfig::new("sqlite:/var/lib/bearer/issuer.db")).await?;
//! let issuer = Issuer::builder().signing_key(key).stores(stores).build()?;
//! # Ok(()) }
//! ```
//!
//! Writes go through one connection (SQLite has one writer at a time anyway, and
//! queueing in the process beats SQLite's busy-wait); reads use a pool. A refresh is
//! a compare-and-swap with the decision of [`Family::rotate`] made in Rust: read the
//! family and the user's epoch (on the read pool, in parallel with writes), decide,
//! then one `UPDATE ... WHERE` every field the decision read is unchanged, retried on
//! a lost race. Two statements, and only the write is serialised. Multi-statement
//! changes (an epoch bump, a throttle lockout) are `BEGIN IMMEDIATE` transactions.
//! The file runs in WAL mode with `synchronous = NORMAL`: a power cut may lose the
//! last commits, never corrupt the file.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use token_core::{BoxFuture, Scopes};

use super::config::{Backend, StoreConfig, Stores};
use super::sql::{
    self, AuditWriter, QueuedAudit, SqlRow, client_columns, client_from_row, family_from_row,
    hit_answer, impl_sql_row, ip_text, to_i64, to_u64, user_from_row, window_secs,
};
use super::{
    ClientStore, EpochFeed, SessionStore, StoreError, StoreFuture, ThrottleStore, UserStore,
};
use crate::audit::AuditEvent;
use crate::client::Client;
use crate::family::{DeadFamily, Family, RevokeReason, RotateOutcome, RotateRequest};
use crate::password::PasswordHash;
use crate::throttle::{LockoutPolicy, RateLimit, ThrottleEntry};
use crate::user::User;

impl_sql_row!(SqliteRow);

/// The migrations under `migrations/sqlite/`, embedded.
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "init",
    include_str!("../../migrations/sqlite/0001_init.sql"),
)];

/// Every issuer store in one SQLite database. Cloning is cheap and clones share the
/// connections.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// One connection: every write queues here.
    writer: SqlitePool,
    /// Reads (the same pool as `writer` for an in-memory database).
    reader: SqlitePool,
    /// Versions are cached for at most the bound (another process may bump them).
    feed: EpochFeed,
}

impl SqliteStore {
    /// Opens (creating if missing) the database named by `config.url` and runs the
    /// migrations unless told not to.
    pub async fn open(config: &StoreConfig) -> Result<SqliteStore, StoreError> {
        let store = Self::connect(config).await?;
        if config.migrates_on_open() {
            store.run_migrations().await?;
        }
        Ok(store)
    }

    /// Runs the migrations of the database named by `config.url`, and nothing else.
    pub async fn migrate(config: &StoreConfig) -> Result<(), StoreError> {
        let store = Self::connect(config).await?;
        let result = store.run_migrations().await;
        store.inner.writer.close().await;
        store.inner.reader.close().await;
        result
    }

    async fn connect(config: &StoreConfig) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(&config.url)
            .map_err(|e| StoreError::Config(format!("bad SQLite URL: {e}")))?
            .create_if_missing(true)
            .busy_timeout(Duration::from_secs(5))
            .synchronous(SqliteSynchronous::Normal);
        let in_memory = config.url.contains(":memory:") || config.url.contains("mode=memory");
        let unreachable = |e: sqlx::Error| {
            StoreError::Unavailable(format!(
                "could not open the SQLite database {}: {e}",
                config.url
            ))
        };
        let timeout = config.connect_timeout_value();
        if in_memory {
            // The database lives as long as its one connection: keep it forever.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(timeout)
                .test_before_acquire(false)
                .connect_with(options)
                .await
                .map_err(unreachable)?;
            return Ok(Self::with_pools(pool.clone(), pool, config));
        }
        let options = options.journal_mode(SqliteJournalMode::Wal);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(timeout)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(unreachable)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(config.pool_size().unwrap_or(4))
            .acquire_timeout(timeout)
            .test_before_acquire(false)
            .connect_lazy_with(options);
        Ok(Self::with_pools(writer, reader, config))
    }

    fn with_pools(writer: SqlitePool, reader: SqlitePool, config: &StoreConfig) -> SqliteStore {
        SqliteStore {
            inner: Arc::new(Inner {
                writer,
                reader,
                feed: EpochFeed::new(config.bound()),
            }),
        }
    }

    async fn run_migrations(&self) -> Result<(), StoreError> {
        sql::migrator(MIGRATIONS)
            .run(&self.inner.writer)
            .await
            .map_err(sql::migration_error)
    }

    /// The pool every write goes through (one connection), for an application's own
    /// queries next to the issuer's.
    pub fn pool(&self) -> &SqlitePool {
        &self.inner.writer
    }

    /// Every store of an issuer, all kept here, audit events included (written by a
    /// background task on the current tokio runtime).
    pub fn into_stores(self) -> Stores {
        let store = Arc::new(self);
        Stores {
            users: store.clone(),
            clients: store.clone(),
            sessions: store.clone(),
            throttle: store.clone(),
            audit: QueuedAudit::start(SqliteStore::clone(&store)),
            epochs: Some(store.inner.feed.clone()),
            backend: Backend::Sqlite,
        }
    }

    fn writer(&self) -> &SqlitePool {
        &self.inner.writer
    }

    fn reader(&self) -> &SqlitePool {
        &self.inner.reader
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("connections", &self.inner.reader.size())
            .finish_non_exhaustive()
    }
}

fn err(context: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| sql::error(context, e)
}

fn not_found_unless_changed(rows: u64) -> Result<(), StoreError> {
    if rows == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

impl UserStore for SqliteStore {
    fn find_by_login<'a>(&'a self, login: &'a str) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT * FROM issuer_users WHERE login = ?")
                .bind(login)
                .fetch_optional(self.reader())
                .await
                .map_err(err("reading a user"))?;
            row.as_ref().map(user_from_row).transpose()
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT * FROM issuer_users WHERE id = ?")
                .bind(id)
                .fetch_optional(self.reader())
                .await
                .map_err(err("reading a user"))?;
            row.as_ref().map(user_from_row).transpose()
        })
    }

    fn set_password_hash<'a>(&'a self, id: &'a str, hash: &'a PasswordHash) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let done = sqlx::query("UPDATE issuer_users SET password_hash = ? WHERE id = ?")
                .bind(hash.as_phc())
                .bind(id)
                .execute(self.writer())
                .await
                .map_err(err("updating a user"))?;
            not_found_unless_changed(done.rows_affected())
        })
    }

    fn create<'a>(&'a self, user: &'a User) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO issuer_users (id, login, password_hash, active, scopes) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(&user.id)
            .bind(&user.login)
            .bind(user.password_hash.as_phc())
            .bind(user.active)
            .bind(user.scopes.as_str())
            .execute(self.writer())
            .await
            .map_err(err("adding a user"))?;
            Ok(())
        })
    }

    fn set_active<'a>(&'a self, id: &'a str, active: bool) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let done = sqlx::query("UPDATE issuer_users SET active = ? WHERE id = ?")
                .bind(active)
                .bind(id)
                .execute(self.writer())
                .await
                .map_err(err("updating a user"))?;
            not_found_unless_changed(done.rows_affected())
        })
    }

    fn set_scopes<'a>(&'a self, id: &'a str, scopes: &'a Scopes) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let done = sqlx::query("UPDATE issuer_users SET scopes = ? WHERE id = ?")
                .bind(scopes.as_str())
                .bind(id)
                .execute(self.writer())
                .await
                .map_err(err("updating a user"))?;
            not_found_unless_changed(done.rows_affected())
        })
    }

    fn list<'a>(&'a self) -> StoreFuture<'a, Vec<User>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT * FROM issuer_users ORDER BY login")
                .fetch_all(self.reader())
                .await
                .map_err(err("listing users"))?;
            rows.iter().map(user_from_row).collect()
        })
    }
}

impl ClientStore for SqliteStore {
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Client>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT * FROM issuer_clients WHERE id = ?")
                .bind(id)
                .fetch_optional(self.reader())
                .await
                .map_err(err("reading a client"))?;
            row.as_ref().map(client_from_row).transpose()
        })
    }

    fn put<'a>(&'a self, client: &'a Client) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let c = client_columns(client);
            sqlx::query(
                "INSERT INTO issuer_clients (id, kind, transport, secret_hash, scopes) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, \
                 transport = excluded.transport, secret_hash = excluded.secret_hash, \
                 scopes = excluded.scopes",
            )
            .bind(&client.id)
            .bind(c.kind)
            .bind(c.transport)
            .bind(c.secret_hash)
            .bind(c.scopes)
            .execute(self.writer())
            .await
            .map_err(err("storing a client"))?;
            Ok(())
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let done = sqlx::query("DELETE FROM issuer_clients WHERE id = ?")
                .bind(id)
                .execute(self.writer())
                .await
                .map_err(err("removing a client"))?;
            Ok(done.rows_affected() > 0)
        })
    }

    fn list<'a>(&'a self) -> StoreFuture<'a, Vec<Client>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT * FROM issuer_clients ORDER BY id")
                .fetch_all(self.reader())
                .await
                .map_err(err("listing clients"))?;
            rows.iter().map(client_from_row).collect()
        })
    }
}

const SELECT_FAMILY: &str = "SELECT id, user_id, client_id, generation, salt, scopes, \
     token_version, created, last_used, rotated_at, replays, idle_expires, absolute_expires, \
     revoked_at, revoked_reason, user_agent, ip FROM issuer_families WHERE id = ?";

/// The row and the user's epoch, for a rotation.
const ROTATE_READ: &str = "SELECT f.id, f.user_id, f.client_id, f.generation, f.salt, \
     f.scopes, f.token_version, f.created, f.last_used, f.rotated_at, f.replays, \
     f.idle_expires, f.absolute_expires, f.revoked_at, f.revoked_reason, f.user_agent, f.ip, \
     coalesce(v.version, 0) AS epoch FROM issuer_families f \
     LEFT JOIN issuer_token_versions v ON v.user_id = f.user_id WHERE f.id = ?";

/// Writes back what [`Family::rotate`] changed, if every field (and the epoch) it
/// decided on is still as read: the compare-and-swap.
const ROTATE_WRITE: &str = "UPDATE issuer_families SET generation = ?, last_used = ?, \
     rotated_at = ?, replays = ?, idle_expires = ?, revoked_at = ?, revoked_reason = ? \
     WHERE id = ? AND generation = ? AND replays = ? AND rotated_at = ? AND last_used = ? \
     AND idle_expires = ? AND revoked_at IS NULL AND token_version = ? \
     AND coalesce((SELECT version FROM issuer_token_versions WHERE user_id = ?), 0) = ?";

/// Compare-and-swap rounds before a rotation gives up (never reached in practice:
/// every round, one contender wins).
const MAX_CAS_ROUNDS: usize = 1000;

impl SessionStore for SqliteStore {
    fn create<'a>(&'a self, f: &'a Family) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO issuer_families (id, user_id, client_id, generation, salt, scopes, \
                 token_version, created, last_used, rotated_at, replays, idle_expires, \
                 absolute_expires, revoked_at, revoked_reason, user_agent, ip) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&f.id)
            .bind(&f.user_id)
            .bind(&f.client_id)
            .bind(to_i64(f.generation, "generation")?)
            .bind(&f.salt.as_bytes()[..])
            .bind(f.scopes.as_str())
            .bind(to_i64(f.token_version, "token version")?)
            .bind(f.created)
            .bind(f.last_used)
            .bind(f.rotated_at)
            .bind(i64::from(f.replays))
            .bind(f.idle_expires)
            .bind(f.absolute_expires)
            .bind(f.revoked.map(|r| r.at))
            .bind(f.revoked.map(|r| r.reason.as_str()))
            .bind(&f.user_agent)
            .bind(ip_text(f.ip))
            .execute(self.writer())
            .await
            .map_err(err("creating a session"))?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Family>> {
        Box::pin(async move {
            let row = sqlx::query(SELECT_FAMILY)
                .bind(id)
                .fetch_optional(self.reader())
                .await
                .map_err(err("reading a session"))?;
            row.as_ref().map(family_from_row).transpose()
        })
    }

    fn rotate<'a>(&'a self, request: RotateRequest<'a>) -> StoreFuture<'a, RotateOutcome> {
        Box::pin(async move {
            let e = err("rotating a session");
            // Optimistic compare-and-swap: read the row and the epoch (reader pool,
            // in parallel with writes), decide with `Family::rotate`, and write back
            // only if nothing the decision read has changed since; otherwise decide
            // again on the new row. Outcomes that write nothing take effect at the
            // read. Losers retry at once; someone wins every round.
            // Both statements run on the writer connection: in this process nothing
            // else writes meanwhile, so the swap only fails against other processes.
            let mut conn = self.writer().acquire().await.map_err(&e)?;
            for _ in 0..MAX_CAS_ROUNDS {
                let row = sqlx::query(ROTATE_READ)
                    .bind(request.family_id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(&e)?;
                let Some(row) = row else {
                    return Ok(RotateOutcome::Dead(DeadFamily::Unknown));
                };
                let mut family = family_from_row(&row)?;
                let epoch = row.int("epoch")?;
                let before = family.clone();
                let outcome = family.rotate(&request, to_u64(epoch, "token version")?);
                if family == before {
                    return Ok(outcome);
                }
                let done = sqlx::query(ROTATE_WRITE)
                    .bind(to_i64(family.generation, "generation")?)
                    .bind(family.last_used)
                    .bind(family.rotated_at)
                    .bind(i64::from(family.replays))
                    .bind(family.idle_expires)
                    .bind(family.revoked.map(|r| r.at))
                    .bind(family.revoked.map(|r| r.reason.as_str()))
                    .bind(&family.id)
                    .bind(to_i64(before.generation, "generation")?)
                    .bind(i64::from(before.replays))
                    .bind(before.rotated_at)
                    .bind(before.last_used)
                    .bind(before.idle_expires)
                    .bind(to_i64(before.token_version, "token version")?)
                    .bind(&family.user_id)
                    .bind(epoch)
                    .execute(&mut *conn)
                    .await
                    .map_err(&e)?;
                if done.rows_affected() == 1 {
                    return Ok(outcome);
                }
            }
            Err(StoreError::Unavailable(
                "rotating a session: too much contention on one family".to_owned(),
            ))
        })
    }

    fn list_by_user<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Vec<Family>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT id, user_id, client_id, generation, salt, scopes, token_version, \
                 created, last_used, rotated_at, replays, idle_expires, absolute_expires, \
                 revoked_at, revoked_reason, user_agent, ip FROM issuer_families \
                 WHERE user_id = ? ORDER BY created, id",
            )
            .bind(user_id)
            .fetch_all(self.reader())
            .await
            .map_err(err("listing sessions"))?;
            rows.iter().map(family_from_row).collect()
        })
    }

    fn revoke<'a>(&'a self, id: &'a str, now: i64, reason: RevokeReason) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let done = sqlx::query(
                "UPDATE issuer_families SET revoked_at = ?, revoked_reason = ? \
                 WHERE id = ? AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(reason.as_str())
            .bind(id)
            .execute(self.writer())
            .await
            .map_err(err("revoking a session"))?;
            Ok(done.rows_affected() > 0)
        })
    }

    fn revoke_all<'a>(
        &'a self,
        user_id: &'a str,
        keep: Option<&'a str>,
        now: i64,
        reason: RevokeReason,
    ) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let done = sqlx::query(
                "UPDATE issuer_families SET revoked_at = ?, revoked_reason = ? \
                 WHERE user_id = ? AND revoked_at IS NULL AND (? IS NULL OR id <> ?)",
            )
            .bind(now)
            .bind(reason.as_str())
            .bind(user_id)
            .bind(keep)
            .bind(keep)
            .execute(self.writer())
            .await
            .map_err(err("revoking sessions"))?;
            Ok(done.rows_affected())
        })
    }

    fn purge<'a>(&'a self, ended_before: i64, batch: usize) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            let e = err("purging sessions");
            let limit = i64::try_from(batch).unwrap_or(i64::MAX);
            let families = sqlx::query(
                "DELETE FROM issuer_families WHERE id IN \
                 (SELECT id FROM issuer_families WHERE ends_at < ? LIMIT ?)",
            )
            .bind(ended_before)
            .bind(limit)
            .execute(self.writer())
            .await
            .map_err(&e)?
            .rows_affected();
            let room = limit.saturating_sub(i64::try_from(families).unwrap_or(i64::MAX));
            let tokens = if room > 0 {
                sqlx::query(
                    "DELETE FROM issuer_denied_tokens WHERE jti IN \
                     (SELECT jti FROM issuer_denied_tokens WHERE expires < ? LIMIT ?)",
                )
                .bind(ended_before)
                .bind(room)
                .execute(self.writer())
                .await
                .map_err(&e)?
                .rows_affected()
            } else {
                0
            };
            Ok(usize::try_from(families.saturating_add(tokens)).unwrap_or(usize::MAX))
        })
    }

    fn epoch<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let row = sqlx::query("SELECT version FROM issuer_token_versions WHERE user_id = ?")
                .bind(user_id)
                .fetch_optional(self.reader())
                .await
                .map_err(err("reading a token version"))?;
            match row {
                Some(row) => to_u64(row.int("version")?, "token version"),
                None => Ok(0),
            }
        })
    }

    fn bump_epoch<'a>(
        &'a self,
        user_id: &'a str,
        keep: Option<&'a str>,
        now: i64,
    ) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let e = err("bumping a token version");
            let mut tx = self
                .writer()
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(&e)?;
            let row = sqlx::query(
                "INSERT INTO issuer_token_versions (user_id, version) VALUES (?, 1) \
                 ON CONFLICT (user_id) DO UPDATE SET version = version + 1 RETURNING version",
            )
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(&e)?;
            let version = row.int("version")?;
            sqlx::query(
                "UPDATE issuer_families SET revoked_at = ?, revoked_reason = 'version_bumped' \
                 WHERE user_id = ? AND revoked_at IS NULL AND (? IS NULL OR id <> ?)",
            )
            .bind(now)
            .bind(user_id)
            .bind(keep)
            .bind(keep)
            .execute(&mut *tx)
            .await
            .map_err(&e)?;
            if let Some(keep) = keep {
                sqlx::query(
                    "UPDATE issuer_families SET token_version = ? \
                     WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
                )
                .bind(version)
                .bind(keep)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(&e)?;
            }
            tx.commit().await.map_err(&e)?;
            self.inner.feed.invalidate(user_id);
            to_u64(version, "token version")
        })
    }

    fn deny_token<'a>(&'a self, jti: &'a str, expires: i64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO issuer_denied_tokens (jti, expires) VALUES (?, ?) \
                 ON CONFLICT (jti) DO UPDATE SET expires = max(expires, excluded.expires)",
            )
            .bind(jti)
            .bind(expires)
            .execute(self.writer())
            .await
            .map_err(err("revoking a token"))?;
            Ok(())
        })
    }

    fn is_token_denied<'a>(&'a self, jti: &'a str, now: i64) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT 1 AS x FROM issuer_denied_tokens WHERE jti = ? AND expires > ?",
            )
            .bind(jti)
            .bind(now)
            .fetch_optional(self.reader())
            .await
            .map_err(err("checking a revoked token"))?;
            Ok(row.is_some())
        })
    }
}

fn throttle_from_row(row: &SqliteRow) -> Result<ThrottleEntry, StoreError> {
    let small = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    Ok(ThrottleEntry {
        window_start: row.int("window_start")?,
        count: small(row.int("count")?),
        failures: small(row.int("failures")?),
        last_failure: row.int("last_failure")?,
        locked_until: row.int("locked_until")?,
        touched: row.int("touched")?,
    })
}

/// The counting upsert: [`ThrottleEntry::hit`] as one statement (a new key starts
/// from the default entry, exactly as the memory store does).
const HIT: &str = "INSERT INTO issuer_throttle (key, window_start, count, touched) \
     VALUES (?1, CASE WHEN ?2 >= ?3 OR ?2 < 0 THEN ?2 ELSE 0 END, 1, ?2) \
     ON CONFLICT (key) DO UPDATE SET \
     count = CASE WHEN ?2 < window_start OR ?2 - window_start >= ?3 THEN 1 \
             ELSE min(count + 1, 4294967295) END, \
     window_start = CASE WHEN ?2 < window_start OR ?2 - window_start >= ?3 THEN ?2 \
             ELSE window_start END, \
     touched = ?2 \
     RETURNING window_start, count";

impl ThrottleStore for SqliteStore {
    fn hit<'a>(&'a self, key: &'a str, now: i64, limit: RateLimit) -> StoreFuture<'a, Option<u64>> {
        Box::pin(async move {
            if limit == RateLimit::UNLIMITED {
                return Ok(None);
            }
            let row = sqlx::query(HIT)
                .bind(key)
                .bind(now)
                .bind(window_secs(limit))
                .fetch_one(self.writer())
                .await
                .map_err(err("counting an attempt"))?;
            Ok(hit_answer(
                now,
                row.int("window_start")?,
                row.int("count")?,
                limit,
            ))
        })
    }

    fn locked<'a>(&'a self, key: &'a str, now: i64) -> StoreFuture<'a, Option<u64>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT * FROM issuer_throttle WHERE key = ?")
                .bind(key)
                .fetch_optional(self.reader())
                .await
                .map_err(err("reading a lockout"))?;
            Ok(match row {
                Some(row) => throttle_from_row(&row)?.locked(now),
                None => None,
            })
        })
    }

    fn record_failure<'a>(
        &'a self,
        key: &'a str,
        now: i64,
        policy: LockoutPolicy,
    ) -> StoreFuture<'a, Option<u64>> {
        Box::pin(async move {
            if policy == LockoutPolicy::NEVER {
                return Ok(None);
            }
            let e = err("recording a failure");
            let mut tx = self
                .writer()
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(&e)?;
            let row = sqlx::query("SELECT * FROM issuer_throttle WHERE key = ?")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(&e)?;
            let mut entry = match row {
                Some(row) => throttle_from_row(&row)?,
                None => ThrottleEntry::default(),
            };
            let lock = entry.record_failure(now, policy);
            sqlx::query(
                "INSERT INTO issuer_throttle (key, window_start, count, failures, last_failure, \
                 locked_until, touched) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE \
                 SET failures = excluded.failures, last_failure = excluded.last_failure, \
                 locked_until = excluded.locked_until, touched = excluded.touched",
            )
            .bind(key)
            .bind(entry.window_start)
            .bind(i64::from(entry.count))
            .bind(i64::from(entry.failures))
            .bind(entry.last_failure)
            .bind(entry.locked_until)
            .bind(entry.touched)
            .execute(&mut *tx)
            .await
            .map_err(&e)?;
            tx.commit().await.map_err(&e)?;
            Ok(lock)
        })
    }

    fn reset<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query("DELETE FROM issuer_throttle WHERE key = ?")
                .bind(key)
                .execute(self.writer())
                .await
                .map_err(err("resetting a throttle"))?;
            Ok(())
        })
    }

    fn purge<'a>(&'a self, idle_before: i64, batch: usize) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            let done = sqlx::query(
                "DELETE FROM issuer_throttle WHERE key IN (SELECT key FROM issuer_throttle \
                 WHERE touched < ?1 AND locked_until < ?1 LIMIT ?2)",
            )
            .bind(idle_before)
            .bind(i64::try_from(batch).unwrap_or(i64::MAX))
            .execute(self.writer())
            .await
            .map_err(err("purging throttle entries"))?;
            Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
        })
    }
}

impl AuditWriter for SqliteStore {
    fn write<'a>(&'a self, events: &'a [AuditEvent]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let e = err("storing audit events");
            let mut tx = self.writer().begin().await.map_err(&e)?;
            for event in events {
                sqlx::query(
                    "INSERT INTO issuer_audit_events (kind, at, user_id, family_id, client_id, \
                     ip, user_agent, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(event.kind.as_str())
                .bind(event.at)
                .bind(&event.user)
                .bind(&event.family)
                .bind(&event.client_id)
                .bind(ip_text(event.ip))
                .bind(&event.user_agent)
                .bind(event.reason)
                .execute(&mut *tx)
                .await
                .map_err(&e)?;
            }
            tx.commit().await.map_err(&e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_migrations_match_the_files() {
        sql::tests_support::check_migrations("sqlite", MIGRATIONS);
    }
}
