//! PostgreSQL (feature `postgres`): everything, shared by any number of issuer
//! instances.
//!
//! ```no_run
//! use std::time::Duration;
//! use issuer::Issuer;
//! use issuer::store::{self, StoreConfig};
//! # async fn run(key: token_core::SigningKey) -> Result<(), Box<dyn std::error::Error>> {
//! let config = StoreConfig::new("postgres://issuer@db.internal/auth")
//!     .schema("issuer")                       // optional: its own schema
//!     .max_connections(20)
//!     .epoch_bound(Duration::from_secs(1));   // the default
//! let stores = store::open(&config).await?;   // runs the migrations
//! let issuer = Issuer::builder().signing_key(key).stores(stores).build()?;
//! # Ok(()) }
//! ```
//!
//! - **Refresh in one round trip.** The migration creates `issuer_rotate(...)`, a
//!   PL/pgSQL function that locks the family row (`SELECT ... FOR UPDATE`), reads the
//!   user's epoch, makes the decision of [`Family::rotate`](crate::Family::rotate)
//!   and writes the row back; the store calls it once per refresh. The conformance
//!   suite runs every branch of it against the Rust decision.
//! - **Epochs.** A bump runs in one transaction with `NOTIFY` on the channel
//!   `issuer_epochs` (per schema); every instance's listener invalidates its cache
//!   ([`EpochFeed`] states the bound and how it holds when the channel drops).
//! - **Purge** deletes in batches with `FOR UPDATE SKIP LOCKED`, so it never waits
//!   for (or blocks) a refresh.
//! - **Failures**: an unreachable server fails the request with 503 after the
//!   connect timeout; nothing is half-applied (every change is one statement or one
//!   transaction), and the pool reconnects by itself.
//!
//! TLS is not compiled in: reach the server over a local network or socket.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Connection};
use token_core::{BoxFuture, Scopes};

use super::config::{Backend, StoreConfig, Stores};
use super::epochs::{self, WeakFeed};
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

impl_sql_row!(PgRow);

/// The migrations under `migrations/postgres/`, embedded.
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "init",
    include_str!("../../migrations/postgres/0001_init.sql"),
)];

/// `NOTIFY` payloads are limited to 8000 bytes; longer user ids invalidate everything.
const MAX_PAYLOAD: usize = 7000;

/// Every issuer store in one PostgreSQL database (or schema). Cloning is cheap and
/// clones share the pool.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    /// The bump notification channel (per schema).
    channel: String,
    /// Absent for a users-only store (the users of a Redis configuration).
    feed: Option<EpochFeed>,
}

impl PgStore {
    /// Connects, runs the migrations unless told not to, and starts the epoch
    /// listener.
    pub async fn open(config: &StoreConfig) -> Result<PgStore, StoreError> {
        Self::open_with(config, true).await
    }

    /// Like [`open`](Self::open) without epoch propagation: users and clients only.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) async fn open_users_only(config: &StoreConfig) -> Result<PgStore, StoreError> {
        Self::open_with(config, false).await
    }

    /// Runs the migrations (creating the schema if one is configured), and nothing
    /// else.
    pub async fn migrate(config: &StoreConfig) -> Result<(), StoreError> {
        let (options, schema) = options(config)?;
        let pool = pool(config, options.clone(), 1).await?;
        let result = run_migrations(&pool, schema).await;
        pool.close().await;
        result
    }

    async fn open_with(config: &StoreConfig, listen: bool) -> Result<PgStore, StoreError> {
        let (options, schema) = options(config)?;
        let size = config.pool_size().unwrap_or(10);
        let pool = pool(config, options.clone(), size).await?;
        if config.migrates_on_open() {
            run_migrations(&pool, schema).await?;
        }
        let channel = match schema {
            Some(schema) => format!("issuer_epochs_{schema}"),
            None => "issuer_epochs".to_owned(),
        };
        let feed = listen.then(|| {
            let feed = EpochFeed::new(config.bound());
            start_listener(config, options, &pool, &channel, &feed);
            feed
        });
        Ok(PgStore {
            inner: Arc::new(Inner {
                pool,
                channel,
                feed,
            }),
        })
    }

    /// The pool, for an application's own queries next to the issuer's.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Every store of an issuer, all kept here, audit events included (written by a
    /// background task on the current tokio runtime).
    pub fn into_stores(self) -> Stores {
        let epochs = self.inner.feed.clone();
        let store = Arc::new(self);
        Stores {
            users: store.clone(),
            clients: store.clone(),
            sessions: store.clone(),
            throttle: store.clone(),
            audit: QueuedAudit::start(PgStore::clone(&store)),
            epochs,
            backend: Backend::Postgres,
        }
    }

    fn pool_ref(&self) -> &PgPool {
        &self.inner.pool
    }
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("connections", &self.inner.pool.size())
            .field("channel", &self.inner.channel)
            .field("epochs", &self.inner.feed)
            .finish()
    }
}

fn options(config: &StoreConfig) -> Result<(PgConnectOptions, Option<&str>), StoreError> {
    let schema = config.schema_name()?;
    let mut options = PgConnectOptions::from_str(&config.url)
        .map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?
        .application_name("issuer");
    if let Some(schema) = schema {
        options = options.options([("search_path", schema)]);
    }
    Ok((options, schema))
}

async fn pool(
    config: &StoreConfig,
    options: PgConnectOptions,
    size: u32,
) -> Result<PgPool, StoreError> {
    let where_ = format!("{}:{}", options.get_host(), options.get_port());
    PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(config.connect_timeout_value())
        // One round trip per query: connections are pinged only after being idle a
        // while; a connection that died under a query is dropped by the pool.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > Duration::from_secs(10) {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_with(options)
        .await
        .map_err(|e| {
            StoreError::Unavailable(format!("could not connect to PostgreSQL at {where_}: {e}"))
        })
}

async fn run_migrations(pool: &PgPool, schema: Option<&str>) -> Result<(), StoreError> {
    if let Some(schema) = schema {
        // The name was checked to be a plain lowercase identifier.
        sqlx::query(AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}"
        )))
        .execute(pool)
        .await
        .map_err(|e| StoreError::Migration(format!("could not create schema {schema}: {e}")))?;
    }
    sql::migrator(MIGRATIONS)
        .run(pool)
        .await
        .map_err(sql::migration_error)
}

/// Starts the two tasks that keep `feed` honest: the listener (its own connection,
/// reconnecting forever) and the heartbeat sender.
fn start_listener(
    config: &StoreConfig,
    options: PgConnectOptions,
    pool: &PgPool,
    channel: &str,
    feed: &EpochFeed,
) {
    let instance = crate::refresh_token::random_b64(9).unwrap_or_else(|_| "instance".to_owned());
    let heartbeat = format!("issuer_hb_{instance}");
    let listen_pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(config.connect_timeout_value())
        .connect_lazy_with(options.application_name("issuer-epochs"));
    tokio::spawn(listen(
        listen_pool,
        channel.to_owned(),
        heartbeat.clone(),
        feed.downgrade(),
    ));
    let pool = pool.clone();
    tokio::spawn(epochs::send_heartbeats(feed.downgrade(), move |payload| {
        let (pool, heartbeat) = (pool.clone(), heartbeat.clone());
        async move {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(heartbeat)
                .bind(payload)
                .execute(&pool)
                .await
                .map(drop)
        }
    }));
}

async fn listen(pool: PgPool, channel: String, heartbeat: String, mut weak: WeakFeed) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let Some(silence) = weak.upgrade().map(|f| f.silence_limit()) else {
            return;
        };
        let subscribe = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.eager_reconnect(false);
            listener.ignore_pool_close_event(true);
            listener
                .listen_all([channel.as_str(), heartbeat.as_str()])
                .await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let subscribed = tokio::select! {
            () = weak.stopped() => return,
            result = subscribe => result,
        };
        match subscribed {
            Ok(mut listener) => {
                match weak.upgrade() {
                    Some(feed) => feed.connected(),
                    None => return,
                };
                backoff = Duration::from_millis(50);
                loop {
                    let next = tokio::select! {
                        () = weak.stopped() => return,
                        next = tokio::time::timeout(silence, listener.try_recv()) => next,
                    };
                    let Some(feed) = weak.upgrade() else { return };
                    match next {
                        Ok(Ok(Some(note))) if note.channel() == heartbeat => {
                            feed.heartbeat_received(note.payload());
                        }
                        Ok(Ok(Some(note))) if note.payload() == "*" => feed.invalidate_all(),
                        Ok(Ok(Some(note))) => feed.invalidate(note.payload()),
                        other => {
                            feed.disconnected();
                            if let Ok(Err(error)) = other {
                                tracing::debug!(%error, "epoch listener lost its connection");
                            }
                            break;
                        }
                    }
                }
            }
            Err(error) => {
                if let Some(feed) = weak.upgrade() {
                    feed.disconnected();
                }
                tracing::debug!(%error, "epoch listener could not subscribe");
            }
        }
        tokio::select! {
            () = weak.stopped() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
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

impl UserStore for PgStore {
    fn find_by_login<'a>(&'a self, login: &'a str) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT * FROM issuer_users WHERE login = $1")
                .bind(login)
                .fetch_optional(self.pool_ref())
                .await
                .map_err(err("reading a user"))?;
            row.as_ref().map(user_from_row).transpose()
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT * FROM issuer_users WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool_ref())
                .await
                .map_err(err("reading a user"))?;
            row.as_ref().map(user_from_row).transpose()
        })
    }

    fn set_password_hash<'a>(&'a self, id: &'a str, hash: &'a PasswordHash) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let done = sqlx::query("UPDATE issuer_users SET password_hash = $1 WHERE id = $2")
                .bind(hash.as_phc())
                .bind(id)
                .execute(self.pool_ref())
                .await
                .map_err(err("updating a user"))?;
            not_found_unless_changed(done.rows_affected())
        })
    }

    fn create<'a>(&'a self, user: &'a User) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO issuer_users (id, login, password_hash, active, scopes) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&user.id)
            .bind(&user.login)
            .bind(user.password_hash.as_phc())
            .bind(user.active)
            .bind(user.scopes.as_str())
            .execute(self.pool_ref())
            .await
            .map_err(err("adding a user"))?;
            Ok(())
        })
    }

    fn set_active<'a>(&'a self, id: &'a str, active: bool) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let done = sqlx::query("UPDATE issuer_users SET active = $1 WHERE id = $2")
                .bind(active)
                .bind(id)
                .execute(self.pool_ref())
                .await
                .map_err(err("updating a user"))?;
            not_found_unless_changed(done.rows_affected())
        })
    }

    fn set_scopes<'a>(&'a self, id: &'a str, scopes: &'a Scopes) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let done = sqlx::query("UPDATE issuer_users SET scopes = $1 WHERE id = $2")
                .bind(scopes.as_str())
                .bind(id)
                .execute(self.pool_ref())
                .await
                .map_err(err("updating a user"))?;
            not_found_unless_changed(done.rows_affected())
        })
    }

    fn list<'a>(&'a self) -> StoreFuture<'a, Vec<User>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT * FROM issuer_users ORDER BY login")
                .fetch_all(self.pool_ref())
                .await
                .map_err(err("listing users"))?;
            rows.iter().map(user_from_row).collect()
        })
    }
}

impl ClientStore for PgStore {
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Client>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT * FROM issuer_clients WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool_ref())
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
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET \
                 kind = excluded.kind, transport = excluded.transport, \
                 secret_hash = excluded.secret_hash, scopes = excluded.scopes",
            )
            .bind(&client.id)
            .bind(c.kind)
            .bind(c.transport)
            .bind(c.secret_hash)
            .bind(c.scopes)
            .execute(self.pool_ref())
            .await
            .map_err(err("storing a client"))?;
            Ok(())
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let done = sqlx::query("DELETE FROM issuer_clients WHERE id = $1")
                .bind(id)
                .execute(self.pool_ref())
                .await
                .map_err(err("removing a client"))?;
            Ok(done.rows_affected() > 0)
        })
    }

    fn list<'a>(&'a self) -> StoreFuture<'a, Vec<Client>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT * FROM issuer_clients ORDER BY id")
                .fetch_all(self.pool_ref())
                .await
                .map_err(err("listing clients"))?;
            rows.iter().map(client_from_row).collect()
        })
    }
}

impl SessionStore for PgStore {
    fn create<'a>(&'a self, f: &'a Family) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO issuer_families (id, user_id, client_id, generation, salt, scopes, \
                 token_version, created, last_used, rotated_at, replays, idle_expires, \
                 absolute_expires, revoked_at, revoked_reason, user_agent, ip) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
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
            .execute(self.pool_ref())
            .await
            .map_err(err("creating a session"))?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Family>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT * FROM issuer_families WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool_ref())
                .await
                .map_err(err("reading a session"))?;
            row.as_ref().map(family_from_row).transpose()
        })
    }

    fn rotate<'a>(&'a self, request: RotateRequest<'a>) -> StoreFuture<'a, RotateOutcome> {
        Box::pin(async move {
            // Presented generations past i64::MAX match nothing, as -1 matches nothing.
            let presented = i64::try_from(request.presented).unwrap_or(-1);
            let row = sqlx::query(
                "SELECT outcome, (family).* FROM issuer_rotate($1, $2, $3, $4, $5, $6)",
            )
            .bind(request.family_id)
            .bind(presented)
            .bind(request.now)
            .bind(request.idle_ttl)
            .bind(request.grace)
            .bind(i64::from(request.max_replays))
            .fetch_one(self.pool_ref())
            .await
            .map_err(err("rotating a session"))?;
            Ok(match row.text("outcome")?.as_str() {
                "unknown" => RotateOutcome::Dead(DeadFamily::Unknown),
                "expired" => RotateOutcome::Dead(DeadFamily::Expired),
                "stale" => RotateOutcome::Dead(DeadFamily::Stale),
                "revoked" => match family_from_row(&row)?.revoked {
                    Some(r) => RotateOutcome::Dead(DeadFamily::Revoked(r.reason)),
                    None => {
                        return Err(StoreError::Unavailable(
                            "rotation answer without its revocation".into(),
                        ));
                    }
                },
                "rotated" => RotateOutcome::Rotated(family_from_row(&row)?),
                "replay" => RotateOutcome::GraceReplay(family_from_row(&row)?),
                "reuse" => RotateOutcome::Reuse(family_from_row(&row)?),
                _ => return Err(StoreError::Unavailable("unknown rotation outcome".into())),
            })
        })
    }

    fn list_by_user<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Vec<Family>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT * FROM issuer_families WHERE user_id = $1 ORDER BY created, id",
            )
            .bind(user_id)
            .fetch_all(self.pool_ref())
            .await
            .map_err(err("listing sessions"))?;
            rows.iter().map(family_from_row).collect()
        })
    }

    fn revoke<'a>(&'a self, id: &'a str, now: i64, reason: RevokeReason) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let done = sqlx::query(
                "UPDATE issuer_families SET revoked_at = $1, revoked_reason = $2 \
                 WHERE id = $3 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(reason.as_str())
            .bind(id)
            .execute(self.pool_ref())
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
            // Rows are locked in id order, as bump_epoch does: no deadlock between them.
            let done = sqlx::query(
                "UPDATE issuer_families SET revoked_at = $1, revoked_reason = $2 \
                 WHERE revoked_at IS NULL AND id IN (SELECT id FROM issuer_families \
                 WHERE user_id = $3 AND revoked_at IS NULL AND ($4::text IS NULL OR id <> $4) \
                 ORDER BY id FOR UPDATE)",
            )
            .bind(now)
            .bind(reason.as_str())
            .bind(user_id)
            .bind(keep)
            .execute(self.pool_ref())
            .await
            .map_err(err("revoking sessions"))?;
            Ok(done.rows_affected())
        })
    }

    fn purge<'a>(&'a self, ended_before: i64, batch: usize) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            let e = err("purging sessions");
            let limit = i64::try_from(batch).unwrap_or(i64::MAX);
            // SKIP LOCKED: rows a refresh holds are left for the next pass.
            let families = sqlx::query(
                "DELETE FROM issuer_families WHERE id IN (SELECT id FROM issuer_families \
                 WHERE ends_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
            )
            .bind(ended_before)
            .bind(limit)
            .execute(self.pool_ref())
            .await
            .map_err(&e)?
            .rows_affected();
            let room = limit.saturating_sub(i64::try_from(families).unwrap_or(i64::MAX));
            let tokens = if room > 0 {
                sqlx::query(
                    "DELETE FROM issuer_denied_tokens WHERE jti IN (SELECT jti FROM \
                     issuer_denied_tokens WHERE expires < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
                )
                .bind(ended_before)
                .bind(room)
                .execute(self.pool_ref())
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
            let row = sqlx::query("SELECT version FROM issuer_token_versions WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(self.pool_ref())
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
            let mut tx = self.pool_ref().begin().await.map_err(&e)?;
            let row = sqlx::query(
                "INSERT INTO issuer_token_versions (user_id, version) VALUES ($1, 1) \
                 ON CONFLICT (user_id) DO UPDATE \
                 SET version = issuer_token_versions.version + 1 RETURNING version",
            )
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(&e)?;
            let version = row.int("version")?;
            sqlx::query(
                "UPDATE issuer_families SET revoked_at = $1, revoked_reason = 'version_bumped' \
                 WHERE revoked_at IS NULL AND id IN (SELECT id FROM issuer_families \
                 WHERE user_id = $2 AND revoked_at IS NULL AND ($3::text IS NULL OR id <> $3) \
                 ORDER BY id FOR UPDATE)",
            )
            .bind(now)
            .bind(user_id)
            .bind(keep)
            .execute(&mut *tx)
            .await
            .map_err(&e)?;
            if let Some(keep) = keep {
                sqlx::query(
                    "UPDATE issuer_families SET token_version = $1 \
                     WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
                )
                .bind(version)
                .bind(keep)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(&e)?;
            }
            // Delivered at commit, in commit order, to every instance's listener.
            let payload = if user_id.len() <= MAX_PAYLOAD {
                user_id
            } else {
                "*"
            };
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(&self.inner.channel)
                .bind(payload)
                .execute(&mut *tx)
                .await
                .map_err(&e)?;
            tx.commit().await.map_err(&e)?;
            if let Some(feed) = &self.inner.feed {
                feed.invalidate(user_id);
            }
            to_u64(version, "token version")
        })
    }

    fn deny_token<'a>(&'a self, jti: &'a str, expires: i64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO issuer_denied_tokens (jti, expires) VALUES ($1, $2) \
                 ON CONFLICT (jti) DO UPDATE \
                 SET expires = GREATEST(issuer_denied_tokens.expires, excluded.expires)",
            )
            .bind(jti)
            .bind(expires)
            .execute(self.pool_ref())
            .await
            .map_err(err("revoking a token"))?;
            Ok(())
        })
    }

    fn is_token_denied<'a>(&'a self, jti: &'a str, now: i64) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT 1 AS x FROM issuer_denied_tokens WHERE jti = $1 AND expires > $2",
            )
            .bind(jti)
            .bind(now)
            .fetch_optional(self.pool_ref())
            .await
            .map_err(err("checking a revoked token"))?;
            Ok(row.is_some())
        })
    }
}

fn throttle_from_row(row: &PgRow) -> Result<ThrottleEntry, StoreError> {
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

/// [`ThrottleEntry::hit`] as one statement (a new key starts from the default
/// entry, exactly as the memory store does).
const HIT: &str = "INSERT INTO issuer_throttle AS t (key, window_start, count, touched) \
     VALUES ($1, CASE WHEN $2 >= $3 OR $2 < 0 THEN $2 ELSE 0 END, 1, $2) \
     ON CONFLICT (key) DO UPDATE SET \
     count = CASE WHEN $2 < t.window_start OR $2 - t.window_start >= $3 THEN 1 \
             ELSE LEAST(t.count + 1, 4294967295) END, \
     window_start = CASE WHEN $2 < t.window_start OR $2 - t.window_start >= $3 THEN $2 \
             ELSE t.window_start END, \
     touched = $2 \
     RETURNING window_start, count";

impl ThrottleStore for PgStore {
    fn hit<'a>(&'a self, key: &'a str, now: i64, limit: RateLimit) -> StoreFuture<'a, Option<u64>> {
        Box::pin(async move {
            if limit == RateLimit::UNLIMITED {
                return Ok(None);
            }
            let row = sqlx::query(HIT)
                .bind(key)
                .bind(now)
                .bind(window_secs(limit))
                .fetch_one(self.pool_ref())
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
            let row = sqlx::query("SELECT * FROM issuer_throttle WHERE key = $1")
                .bind(key)
                .fetch_optional(self.pool_ref())
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
            let mut tx = self.pool_ref().begin().await.map_err(&e)?;
            sqlx::query("INSERT INTO issuer_throttle (key) VALUES ($1) ON CONFLICT DO NOTHING")
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(&e)?;
            let row = sqlx::query("SELECT * FROM issuer_throttle WHERE key = $1 FOR UPDATE")
                .bind(key)
                .fetch_one(&mut *tx)
                .await
                .map_err(&e)?;
            let mut entry = throttle_from_row(&row)?;
            let lock = entry.record_failure(now, policy);
            sqlx::query(
                "UPDATE issuer_throttle SET failures = $1, last_failure = $2, locked_until = $3, \
                 touched = $4 WHERE key = $5",
            )
            .bind(i64::from(entry.failures))
            .bind(entry.last_failure)
            .bind(entry.locked_until)
            .bind(entry.touched)
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(&e)?;
            tx.commit().await.map_err(&e)?;
            Ok(lock)
        })
    }

    fn reset<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query("DELETE FROM issuer_throttle WHERE key = $1")
                .bind(key)
                .execute(self.pool_ref())
                .await
                .map_err(err("resetting a throttle"))?;
            Ok(())
        })
    }

    fn purge<'a>(&'a self, idle_before: i64, batch: usize) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            let done = sqlx::query(
                "DELETE FROM issuer_throttle WHERE key IN (SELECT key FROM issuer_throttle \
                 WHERE touched < $1 AND locked_until < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
            )
            .bind(idle_before)
            .bind(i64::try_from(batch).unwrap_or(i64::MAX))
            .execute(self.pool_ref())
            .await
            .map_err(err("purging throttle entries"))?;
            Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
        })
    }
}

impl AuditWriter for PgStore {
    fn write<'a>(&'a self, events: &'a [AuditEvent]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let column = |f: fn(&AuditEvent) -> Option<String>| -> Vec<Option<String>> {
                events.iter().map(f).collect()
            };
            // One statement for the whole batch.
            sqlx::query(
                "INSERT INTO issuer_audit_events (kind, at, user_id, family_id, client_id, ip, \
                 user_agent, reason) SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], \
                 $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])",
            )
            .bind(
                events
                    .iter()
                    .map(|e| e.kind.as_str().to_owned())
                    .collect::<Vec<_>>(),
            )
            .bind(events.iter().map(|e| e.at).collect::<Vec<_>>())
            .bind(column(|e| e.user.clone()))
            .bind(column(|e| e.family.clone()))
            .bind(column(|e| e.client_id.clone()))
            .bind(column(|e| ip_text(e.ip)))
            .bind(column(|e| e.user_agent.clone()))
            .bind(column(|e| e.reason.map(str::to_owned)))
            .execute(self.pool_ref())
            .await
            .map_err(err("storing audit events"))?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_migrations_match_the_files() {
        sql::tests_support::check_migrations("postgres", MIGRATIONS);
    }
}
