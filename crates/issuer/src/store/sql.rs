//! What the SQLite and PostgreSQL stores share: row decoding, error mapping,
//! conversions between the issuer's types and SQL columns, the audit queue.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use token_core::{BoxFuture, Scopes};

use super::StoreError;
use crate::audit::{AuditEvent, AuditSink};
use crate::client::{Client, ClientKind, SecretHash};
use crate::family::{Family, FamilySalt, Revocation, RevokeReason};
use crate::password::PasswordHash;
use crate::transport::RefreshTransport;
use crate::user::User;

/// Reading one column of a row, the same way for both drivers.
pub(crate) trait SqlRow {
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError>;
    fn text(&self, column: &str) -> Result<String, StoreError>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError>;
    fn flag(&self, column: &str) -> Result<bool, StoreError>;
}

macro_rules! impl_sql_row {
    ($row:ty) => {
        impl $crate::store::sql::SqlRow for $row {
            fn int(&self, column: &str) -> Result<i64, StoreError> {
                sqlx::Row::try_get(self, column).map_err($crate::store::sql::decode_error)
            }
            fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
                sqlx::Row::try_get(self, column).map_err($crate::store::sql::decode_error)
            }
            fn text(&self, column: &str) -> Result<String, StoreError> {
                sqlx::Row::try_get(self, column).map_err($crate::store::sql::decode_error)
            }
            fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
                sqlx::Row::try_get(self, column).map_err($crate::store::sql::decode_error)
            }
            fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError> {
                sqlx::Row::try_get(self, column).map_err($crate::store::sql::decode_error)
            }
            fn flag(&self, column: &str) -> Result<bool, StoreError> {
                sqlx::Row::try_get(self, column).map_err($crate::store::sql::decode_error)
            }
        }
    };
}
pub(crate) use impl_sql_row;

pub(crate) fn decode_error(error: sqlx::Error) -> StoreError {
    StoreError::Unavailable(format!("unexpected data in the store: {error}"))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(format!("unexpected data in the store: {what}"))
}

/// A stored integer as `u64` (generations, versions).
pub(crate) fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(what))
}

/// A `u64` as a stored integer; values past `i64::MAX` cannot be stored.
pub(crate) fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Unavailable(format!("{what} is out of range for the store")))
}

fn to_u32(value: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| corrupt(what))
}

/// Maps a driver error; `context` says what was being done.
pub(crate) fn error(context: &str, error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation => {
            StoreError::Conflict
        }
        other => StoreError::Unavailable(format!("{context}: {other}")),
    }
}

/// A family from a row selecting every column of `issuer_families`.
pub(crate) fn family_from_row(row: &impl SqlRow) -> Result<Family, StoreError> {
    let salt = row.bytes("salt")?;
    let revoked = match (row.opt_int("revoked_at")?, row.opt_text("revoked_reason")?) {
        (Some(at), Some(reason)) => Some(Revocation {
            at,
            reason: RevokeReason::parse(&reason).ok_or_else(|| corrupt("revocation reason"))?,
        }),
        (None, _) => None,
        (Some(_), None) => return Err(corrupt("revocation without a reason")),
    };
    let ip = match row.opt_text("ip")? {
        Some(ip) => Some(ip.parse::<IpAddr>().map_err(|_| corrupt("ip"))?),
        None => None,
    };
    Ok(Family {
        id: row.text("id")?,
        user_id: row.text("user_id")?,
        client_id: row.opt_text("client_id")?,
        generation: to_u64(row.int("generation")?, "generation")?,
        salt: FamilySalt::from_slice(&salt).ok_or_else(|| corrupt("salt"))?,
        scopes: parse_scopes(&row.text("scopes")?)?,
        token_version: to_u64(row.int("token_version")?, "token version")?,
        created: row.int("created")?,
        last_used: row.int("last_used")?,
        rotated_at: row.int("rotated_at")?,
        replays: to_u32(row.int("replays")?, "replays")?,
        idle_expires: row.int("idle_expires")?,
        absolute_expires: row.int("absolute_expires")?,
        revoked,
        user_agent: row.opt_text("user_agent")?,
        ip,
    })
}

pub(crate) fn parse_scopes(text: &str) -> Result<Scopes, StoreError> {
    text.parse().map_err(|_| corrupt("scopes"))
}

pub(crate) fn user_from_row(row: &impl SqlRow) -> Result<User, StoreError> {
    Ok(User {
        id: row.text("id")?,
        login: row.text("login")?,
        password_hash: PasswordHash::from_phc(row.text("password_hash")?),
        active: row.flag("active")?,
        scopes: parse_scopes(&row.text("scopes")?)?,
    })
}

/// A client as stored: kind, transport, secret hash, scopes.
pub(crate) struct ClientColumns {
    pub(crate) kind: &'static str,
    pub(crate) transport: Option<&'static str>,
    pub(crate) secret_hash: Option<String>,
    pub(crate) scopes: Option<String>,
}

pub(crate) fn client_columns(client: &Client) -> ClientColumns {
    match &client.kind {
        ClientKind::Public { transport } => ClientColumns {
            kind: "public",
            transport: Some(match transport {
                RefreshTransport::Cookie => "cookie",
                RefreshTransport::Body => "body",
            }),
            secret_hash: None,
            scopes: None,
        },
        ClientKind::Confidential {
            secret_hash,
            scopes,
        } => ClientColumns {
            kind: "confidential",
            transport: None,
            secret_hash: Some(secret_hash.as_str().to_owned()),
            scopes: Some(scopes.as_str().to_owned()),
        },
    }
}

pub(crate) fn client_from_row(row: &impl SqlRow) -> Result<Client, StoreError> {
    let kind = match row.text("kind")?.as_str() {
        "public" => ClientKind::Public {
            transport: match row.opt_text("transport")?.as_deref() {
                Some("cookie") => RefreshTransport::Cookie,
                Some("body") => RefreshTransport::Body,
                _ => return Err(corrupt("client transport")),
            },
        },
        "confidential" => ClientKind::Confidential {
            secret_hash: SecretHash::from_stored(
                row.opt_text("secret_hash")?
                    .ok_or_else(|| corrupt("client secret hash"))?,
            ),
            scopes: parse_scopes(&row.opt_text("scopes")?.unwrap_or_default())?,
        },
        _ => return Err(corrupt("client kind")),
    };
    Ok(Client {
        id: row.text("id")?,
        kind,
    })
}

/// The embedded migrations of one backend: `(version, description, sql)`, named and
/// numbered like the files under `migrations/<backend>/` (which a test compares).
pub(crate) fn migrator(
    migrations: &[(i64, &'static str, &'static str)],
) -> sqlx::migrate::Migrator {
    use sqlx::SqlSafeStr;
    sqlx::migrate::Migrator::with_migrations(
        migrations
            .iter()
            .map(|&(version, description, sql)| {
                sqlx::migrate::Migration::new(
                    version,
                    Cow::Borrowed(description),
                    sqlx::migrate::MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

pub(crate) fn migration_error(error: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Migration(error.to_string())
}

/// Writes queued audit events in batches.
pub(crate) trait AuditWriter: Send + Sync + 'static {
    fn write<'a>(&'a self, events: &'a [AuditEvent]) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// An [`AuditSink`] that never waits for the database: events go to a bounded queue
/// that a background task writes out; a full queue drops events (and says so).
pub(crate) struct QueuedAudit {
    queue: tokio::sync::mpsc::Sender<AuditEvent>,
    dropped: AtomicU64,
}

const AUDIT_QUEUE: usize = 10_000;
const AUDIT_BATCH: usize = 256;

impl QueuedAudit {
    /// Starts the writer task; `None` outside a tokio runtime (there is nothing to
    /// run it on).
    pub(crate) fn start(writer: impl AuditWriter) -> Option<Arc<dyn AuditSink>> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no tokio runtime: audit events are not stored");
            return None;
        };
        let (queue, mut rx) = tokio::sync::mpsc::channel::<AuditEvent>(AUDIT_QUEUE);
        runtime.spawn(async move {
            let mut batch = Vec::with_capacity(AUDIT_BATCH);
            while rx.recv_many(&mut batch, AUDIT_BATCH).await > 0 {
                if let Err(error) = writer.write(&batch).await {
                    tracing::warn!(%error, events = batch.len(), "could not store audit events");
                }
                batch.clear();
            }
        });
        Some(Arc::new(QueuedAudit {
            queue,
            dropped: AtomicU64::new(0),
        }))
    }
}

impl AuditSink for QueuedAudit {
    fn record<'a>(&'a self, event: AuditEvent) -> BoxFuture<'a, ()> {
        if self.queue.try_send(event).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "audit queue full or closed; events dropped");
            }
        }
        Box::pin(std::future::ready(()))
    }
}

impl fmt::Debug for QueuedAudit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueuedAudit")
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish()
    }
}

/// The window length of a limit, as [`ThrottleEntry::hit`](crate::ThrottleEntry::hit)
/// computes it.
pub(crate) fn window_secs(limit: crate::throttle::RateLimit) -> i64 {
    i64::try_from(limit.window_secs).unwrap_or(i64::MAX).max(1)
}

/// What [`ThrottleEntry::hit`](crate::ThrottleEntry::hit) answers, from the state a
/// counting statement returned.
pub(crate) fn hit_answer(
    now: i64,
    window_start: i64,
    count: i64,
    limit: crate::throttle::RateLimit,
) -> Option<u64> {
    let count = u32::try_from(count).unwrap_or(u32::MAX);
    (count > limit.limit).then(|| {
        let end = window_start.saturating_add(window_secs(limit));
        u64::try_from(end.saturating_sub(now)).unwrap_or(0).max(1)
    })
}

/// The text of an event's address, for storage.
pub(crate) fn ip_text(ip: Option<IpAddr>) -> Option<String> {
    ip.map(|ip| ip.to_string())
}

#[cfg(test)]
pub(crate) mod tests_support {
    /// The embedded list names every file under `migrations/<backend>/`, in order,
    /// with the same text (as `sqlx::migrate!` would have embedded them).
    pub(crate) fn check_migrations(backend: &str, embedded: &[(i64, &str, &str)]) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert_eq!(
            files.len(),
            embedded.len(),
            "every migration file is embedded"
        );
        for (path, &(version, description, sql)) in files.iter().zip(embedded) {
            let name = path.file_name().unwrap().to_str().unwrap();
            assert_eq!(name, format!("{version:04}_{description}.sql"));
            assert_eq!(std::fs::read_to_string(path).unwrap(), sql);
        }
    }
}
