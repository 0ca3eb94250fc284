//! What the issuer keeps, as traits a backend implements.
//!
//! Every method is async and returns a [`BoxFuture`], so the traits stay object-safe:
//! the issuer holds `Arc<dyn UserStore>` and friends, and a backend may be swapped at
//! build time without generics leaking into the service type. The memory backend
//! ([`memory`]) is always here; persistent ones implement the same traits and pass the
//! same [conformance suite](crate::conformance).
//!
//! Rules every backend follows:
//! - [`SessionStore::rotate`] is one atomic compare-and-swap on the family row, with
//!   the decision made by [`Family::rotate`] (memory, SQLite), or re-expressed where
//!   one round trip demands it (PostgreSQL's PL/pgSQL function, Redis's Lua script)
//!   and held equal to it by the conformance suite (`issuer::conformance`, feature
//!   `conformance`), which runs every branch; nothing slow (hashing, signing, I/O to other systems) happens
//!   while the row is held.
//! - Epochs and families live in the same store, so bumping an epoch and refusing
//!   families minted under an older one cannot disagree.
//! - Errors never carry secrets (passwords, hashes, salts, tokens, connection
//!   passwords).
//!
//! # Persistent backends
//!
//! [`open`] makes every store an issuer needs from one [`StoreConfig`], whose URL
//! names the backend; [`IssuerBuilder::stores`](crate::IssuerBuilder::stores) hands
//! them to an issuer:
//!
//! | URL | cargo feature | keeps | survives a restart | shared by several instances |
//! |---|---|---|---|---|
//! | `memory:` | (always) | everything | no | no |
//! | `sqlite:PATH`, `sqlite::memory:` | `sqlite` | everything, and audit events | yes (a file) | no (one host) |
//! | `postgres://...`, `postgresql://...` | `postgres` | everything, and audit events | yes | yes |
//! | `redis://...` (+ `users_url`) | `redis` | sessions, epochs, throttling | as Redis is configured | yes |
//!
//! The SQL backends create their tables on open (embedded migrations; [`migrate`]
//! runs them alone). Redis keeps no users: [`StoreConfig::users_url`] names the SQL
//! (or memory) store that does.
//!
//! ```no_run
//! use issuer::Issuer;
//! use issuer::store::{self, StoreConfig};
//! # async fn run(key: token_core::SigningKey) -> Result<(), Box<dyn std::error::Error>> {
//! let stores = store::open(&StoreConfig::new("postgres://issuer@db.internal/auth")).await?;
//! let issuer = Issuer::builder().signing_key(key).stores(stores).build()?;
//! # Ok(()) }
//! ```
//!
//! Several issuer instances may share one PostgreSQL database or one Redis: a token
//! version bumped on one instance reaches every other instance's
//! [`epoch_source`](crate::Issuer::epoch_source) through the store (PostgreSQL
//! `LISTEN`/`NOTIFY`, Redis pub/sub), within [`StoreConfig::epoch_bound`] (see
//! [`EpochFeed`]).

mod config;
mod epochs;
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use token_core::{BoxFuture, Scopes};

use crate::client::Client;
use crate::family::{Family, RevokeReason, RotateOutcome, RotateRequest};
use crate::password::PasswordHash;
use crate::throttle::{LockoutPolicy, RateLimit};
use crate::user::User;

pub use config::{StoreConfig, Stores, migrate, open};
pub(crate) use epochs::CachedEpochs;
pub use epochs::EpochFeed;
pub use memory::{MemoryClientStore, MemorySessionStore, MemoryThrottleStore, MemoryUserStore};

/// A store could not do what was asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend is down or failed; the message says how, without secrets.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A row with the same unique key exists (a login name, a client id).
    #[error("already exists")]
    Conflict,
    /// The row to change does not exist.
    #[error("not found")]
    NotFound,
    /// This backend does not offer the operation (an application's read-only view of
    /// its own users, say).
    #[error("operation not supported by this store: {0}")]
    Unsupported(&'static str),
    /// The store configuration is wrong: an unknown URL scheme, a backend whose cargo
    /// feature is not compiled in, a missing option. The message says which, without
    /// secrets.
    #[error("store configuration: {0}")]
    Config(String),
    /// The schema migrations failed; the message says which and why.
    #[error("store migration failed: {0}")]
    Migration(String),
}

/// What every store method returns: a boxed, sendable future of a result.
pub type StoreFuture<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

fn unsupported<'a, T: Send + 'a>(what: &'static str) -> StoreFuture<'a, T> {
    Box::pin(async move { Err(StoreError::Unsupported(what)) })
}

/// The application's users. Only the first three methods are needed to log people
/// in; the rest serve administration (the `bearer` CLI) and default to
/// [`StoreError::Unsupported`].
pub trait UserStore: Send + Sync + 'static {
    /// The user whose normalised login name is `login`.
    fn find_by_login<'a>(&'a self, login: &'a str) -> StoreFuture<'a, Option<User>>;

    /// The user with id `id`.
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<User>>;

    /// Replaces a user's password hash (a password change, or a rehash at login
    /// when the hashing parameters changed).
    fn set_password_hash<'a>(&'a self, id: &'a str, hash: &'a PasswordHash) -> StoreFuture<'a, ()> {
        let _ = (id, hash);
        unsupported("set_password_hash")
    }

    /// Adds a user; [`StoreError::Conflict`] when the id or login is taken.
    fn create<'a>(&'a self, user: &'a User) -> StoreFuture<'a, ()> {
        let _ = user;
        unsupported("create")
    }

    /// Enables or disables a user.
    fn set_active<'a>(&'a self, id: &'a str, active: bool) -> StoreFuture<'a, ()> {
        let _ = (id, active);
        unsupported("set_active")
    }

    /// Replaces a user's scope ceiling.
    fn set_scopes<'a>(&'a self, id: &'a str, scopes: &'a Scopes) -> StoreFuture<'a, ()> {
        let _ = (id, scopes);
        unsupported("set_scopes")
    }

    /// Every user, for listings.
    fn list<'a>(&'a self) -> StoreFuture<'a, Vec<User>> {
        unsupported("list")
    }
}

/// Registered OAuth clients.
pub trait ClientStore: Send + Sync + 'static {
    /// The client with `id`.
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Client>>;

    /// Adds or replaces a client.
    fn put<'a>(&'a self, client: &'a Client) -> StoreFuture<'a, ()>;

    /// Removes a client; true when it existed.
    fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool>;

    /// Every client, sorted by id.
    fn list<'a>(&'a self) -> StoreFuture<'a, Vec<Client>>;
}

/// Session families, token-version epochs and revoked access-token ids.
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new family; [`StoreError::Conflict`] if its id exists.
    fn create<'a>(&'a self, family: &'a Family) -> StoreFuture<'a, ()>;

    /// The family with `id`, whatever its state.
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Family>>;

    /// The one atomic step of a refresh: loads the family, applies
    /// [`Family::rotate`] with the user's current epoch, and writes the row back, as
    /// one compare-and-swap. A missing family is [`DeadFamily::Unknown`](crate::DeadFamily::Unknown).
    fn rotate<'a>(&'a self, request: RotateRequest<'a>) -> StoreFuture<'a, RotateOutcome>;

    /// Every family of `user_id`, live or not, oldest first.
    fn list_by_user<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Vec<Family>>;

    /// Revokes one family; true when it was live before.
    fn revoke<'a>(&'a self, id: &'a str, now: i64, reason: RevokeReason) -> StoreFuture<'a, bool>;

    /// Revokes every family of `user_id` except `keep`; returns how many changed.
    fn revoke_all<'a>(
        &'a self,
        user_id: &'a str,
        keep: Option<&'a str>,
        now: i64,
        reason: RevokeReason,
    ) -> StoreFuture<'a, u64>;

    /// Deletes up to `batch` families that ended (revoked or expired) before
    /// `ended_before`, and revoked token ids that expired before it; returns how many
    /// rows went. Callers loop until it returns less than `batch`.
    fn purge<'a>(&'a self, ended_before: i64, batch: usize) -> StoreFuture<'a, usize>;

    /// The user's current token version (0 if never bumped).
    fn epoch<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, u64>;

    /// Increments the user's token version and revokes every family of the user
    /// except `keep`, which is moved to the new version so it keeps refreshing.
    /// Returns the new version.
    fn bump_epoch<'a>(
        &'a self,
        user_id: &'a str,
        keep: Option<&'a str>,
        now: i64,
    ) -> StoreFuture<'a, u64>;

    /// Records that the access token `jti` is revoked until `expires` (its `exp`).
    fn deny_token<'a>(&'a self, jti: &'a str, expires: i64) -> StoreFuture<'a, ()>;

    /// True when `jti` was revoked and its token has not expired by `now`.
    fn is_token_denied<'a>(&'a self, jti: &'a str, now: i64) -> StoreFuture<'a, bool>;
}

/// Counters for throttling. Keys are opaque strings made by the issuer.
pub trait ThrottleStore: Send + Sync + 'static {
    /// Counts one attempt against `limit` in the current fixed window. Returns the
    /// seconds until the window resets when the attempt is over the limit.
    fn hit<'a>(&'a self, key: &'a str, now: i64, limit: RateLimit) -> StoreFuture<'a, Option<u64>>;

    /// Seconds until `key`'s lockout ends, if it is locked now.
    fn locked<'a>(&'a self, key: &'a str, now: i64) -> StoreFuture<'a, Option<u64>>;

    /// Records a failure under `policy`; returns the lockout it caused, if any.
    fn record_failure<'a>(
        &'a self,
        key: &'a str,
        now: i64,
        policy: LockoutPolicy,
    ) -> StoreFuture<'a, Option<u64>>;

    /// Forgets `key`'s failures and lockout.
    fn reset<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;

    /// Deletes up to `batch` entries idle since before `idle_before`.
    fn purge<'a>(&'a self, idle_before: i64, batch: usize) -> StoreFuture<'a, usize>;
}
