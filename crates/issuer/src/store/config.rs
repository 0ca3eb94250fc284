//! Opening every store an issuer needs from one URL.
// Which of these helpers are used depends on the backends compiled in.
#![cfg_attr(
    not(all(feature = "sqlite", feature = "postgres", feature = "redis")),
    allow(dead_code, unused_variables)
)]

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{
    ClientStore, EpochFeed, MemoryClientStore, MemorySessionStore, MemoryThrottleStore,
    MemoryUserStore, SessionStore, StoreError, ThrottleStore, UserStore,
};
use crate::audit::AuditSink;

/// Where the stores live, and how to reach them.
///
/// `url` names the backend:
/// - `memory:`: in this process only (tests, demos);
/// - `sqlite:PATH` (the file is created if missing), `sqlite::memory:`: feature
///   `sqlite`;
/// - `postgres://...`, `postgresql://...`: feature `postgres`;
/// - `redis://...`: feature `redis`, for sessions, epochs and throttling; users and
///   clients live in the store named by `users_url` (`memory:`, `sqlite:` or
///   `postgres://`), which is required.
///
/// `Debug` shows the URLs with their passwords replaced by `***`.
///
/// ```
/// use std::time::Duration;
/// use issuer::store::StoreConfig;
///
/// let config = StoreConfig::new("redis://cache.internal:6379")
///     .users_url("postgres://issuer:s3cret@db.internal/auth")
///     .key_prefix("auth:")
///     .connect_timeout(Duration::from_secs(2));
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct StoreConfig {
    /// The store's URL.
    pub url: String,
    /// For Redis: the store keeping users and clients (required there).
    pub users_url: Option<String>,
    max_connections: Option<u32>,
    connect_timeout: Duration,
    request_timeout: Duration,
    key_prefix: String,
    schema: Option<String>,
    epoch_bound: Duration,
    migrate_on_open: bool,
}

impl StoreConfig {
    /// A configuration for `url` with every option at its default.
    pub fn new(url: impl Into<String>) -> Self {
        StoreConfig {
            url: url.into(),
            users_url: None,
            max_connections: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            key_prefix: "issuer:".to_owned(),
            schema: None,
            epoch_bound: Duration::from_secs(1),
            migrate_on_open: true,
        }
    }

    /// The store keeping users and clients when `url` is Redis.
    pub fn users_url(mut self, url: impl Into<String>) -> Self {
        self.users_url = Some(url.into());
        self
    }

    /// Connections per pool. Default: 10 for PostgreSQL, 4 for an SQLite file (one
    /// for `sqlite::memory:`, which lives in that connection).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = Some(n.max(1));
        self
    }

    /// How long to wait for a connection (to connect, or for a free one in the
    /// pool) before the request fails with 503. Default 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a Redis command may take before it fails (the request gets 503).
    /// Default 5 s.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The prefix of every Redis key and channel, so several issuers (or test runs)
    /// can share one Redis. Default `issuer:`.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// The PostgreSQL schema holding the issuer's tables (created if missing;
    /// lowercase letters, digits and `_`, at most 40 characters). Default: the
    /// connection's `search_path` (usually `public`).
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The epoch-propagation bound: a token-version bump on one instance is seen by
    /// every other instance's epoch source within this long. Default 1 s. See
    /// [`EpochFeed`].
    pub fn epoch_bound(mut self, bound: Duration) -> Self {
        self.epoch_bound = bound;
        self
    }

    /// Whether [`open`] runs the migrations (default true). Turn it off when they run
    /// separately ([`migrate`]), say with other credentials.
    pub fn migrate_on_open(mut self, on: bool) -> Self {
        self.migrate_on_open = on;
        self
    }

    pub(crate) fn pool_size(&self) -> Option<u32> {
        self.max_connections
    }

    pub(crate) fn connect_timeout_value(&self) -> Duration {
        self.connect_timeout
    }

    pub(crate) fn request_timeout_value(&self) -> Duration {
        self.request_timeout
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.key_prefix
    }

    pub(crate) fn schema_name(&self) -> Result<Option<&str>, StoreError> {
        match self.schema.as_deref() {
            None => Ok(None),
            Some(s)
                if !s.is_empty()
                    && s.len() <= 40
                    && s.bytes()
                        .next()
                        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
                    && s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') =>
            {
                Ok(Some(s))
            }
            Some(_) => Err(StoreError::Config(
                "a PostgreSQL schema name must be 1 to 40 lowercase letters, digits or `_`, \
                 not starting with a digit"
                    .to_owned(),
            )),
        }
    }

    pub(crate) fn bound(&self) -> Duration {
        self.epoch_bound
    }

    pub(crate) fn migrates_on_open(&self) -> bool {
        self.migrate_on_open
    }

    /// The same options with another URL (the users store of a Redis config).
    fn with_url(&self, url: &str) -> StoreConfig {
        let mut config = self.clone();
        config.url = url.to_owned();
        config.users_url = None;
        config
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &redact_url(&self.url))
            .field("users_url", &self.users_url.as_deref().map(redact_url))
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("key_prefix", &self.key_prefix)
            .field("schema", &self.schema)
            .field("epoch_bound", &self.epoch_bound)
            .field("migrate_on_open", &self.migrate_on_open)
            .finish()
    }
}

/// `url` with the password of its user info replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let user_info = &authority[..at];
    let redacted = match user_info.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        // A bare user info may be a password alone (`redis://:pw@` or `redis://pw@`).
        None if url.starts_with("redis") => "***".to_owned(),
        None => user_info.to_owned(),
    };
    format!("{}{redacted}{}", &url[..start], &rest[at..])
}

/// The password in `url`'s user info, if any, raw and percent-decoded: error texts are
/// scrubbed of both.
fn url_secrets(url: &str) -> Vec<String> {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return Vec::new();
    };
    let rest = &url[start..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let Some(at) = authority.rfind('@') else {
        return Vec::new();
    };
    let user_info = &authority[..at];
    let password = user_info.split_once(':').map_or(user_info, |(_, p)| p);
    if password.is_empty() {
        return Vec::new();
    }
    let decoded: String = form_urlencoded::parse(format!("p={password}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let mut secrets = vec![password.to_owned()];
    if !decoded.is_empty() && decoded != password {
        secrets.push(decoded);
    }
    secrets
}

/// Replaces the URL's password in an error's message, should a driver ever echo it.
pub(crate) fn scrub(error: StoreError, url: &str) -> StoreError {
    let secrets = url_secrets(url);
    if secrets.is_empty() {
        return error;
    }
    let clean = |mut text: String| {
        for secret in &secrets {
            text = text.replace(secret.as_str(), "***");
        }
        text
    };
    match error {
        StoreError::Unavailable(m) => StoreError::Unavailable(clean(m)),
        StoreError::Config(m) => StoreError::Config(clean(m)),
        StoreError::Migration(m) => StoreError::Migration(clean(m)),
        other => other,
    }
}

/// The backends a URL may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Memory,
    Sqlite,
    Postgres,
    Redis,
}

impl Backend {
    fn of(url: &str) -> Result<Backend, StoreError> {
        let scheme = url.split_once(':').map_or("", |(s, _)| s);
        match scheme.to_ascii_lowercase().as_str() {
            "memory" => Ok(Backend::Memory),
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            "redis" | "rediss" => Ok(Backend::Redis),
            _ => {
                let shown: String = scheme
                    .chars()
                    .take(20)
                    .filter(|c| c.is_ascii_alphanumeric() || "+-.".contains(*c))
                    .collect();
                Err(StoreError::Config(format!(
                    "unsupported store URL scheme `{shown}`: expected memory:, sqlite:PATH, \
                     postgres://, postgresql:// or redis://"
                )))
            }
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Redis => "redis",
        }
    }
}

#[allow(dead_code)] // which backends use it depends on the features
fn missing_feature(backend: Backend) -> StoreError {
    let (urls, feature) = match backend {
        Backend::Sqlite => ("`sqlite:` store URLs", "sqlite"),
        Backend::Postgres => ("`postgres://` store URLs", "postgres"),
        Backend::Redis => ("`redis://` store URLs", "redis"),
        Backend::Memory => ("`memory:` store URLs", "(none)"),
    };
    StoreError::Config(format!(
        "{urls} need the `{feature}` feature of the issuer crate, which this build does not have"
    ))
}

/// Every store an issuer needs, opened from one [`StoreConfig`] by [`open`]. Hand
/// them to [`IssuerBuilder::stores`](crate::IssuerBuilder::stores).
///
/// `Debug` names the backend only.
pub struct Stores {
    /// Users.
    pub users: Arc<dyn UserStore>,
    /// Registered clients.
    pub clients: Arc<dyn ClientStore>,
    /// Session families, token-version epochs, revoked token ids.
    pub sessions: Arc<dyn SessionStore>,
    /// Throttle counters.
    pub throttle: Arc<dyn ThrottleStore>,
    /// Where the store persists audit events (SQL backends, and Redis with a SQL
    /// users store); the issuer writes to it besides its own audit sink.
    pub audit: Option<Arc<dyn AuditSink>>,
    /// Epoch propagation between instances sharing the store (SQLite: versions are
    /// cached for at most the bound; memory: no cache at all).
    pub epochs: Option<EpochFeed>,
    pub(crate) backend: Backend,
}

impl Stores {
    /// Fresh, empty memory stores.
    pub fn memory() -> Stores {
        Stores {
            users: Arc::new(MemoryUserStore::new()),
            clients: Arc::new(MemoryClientStore::new()),
            sessions: Arc::new(MemorySessionStore::new()),
            throttle: Arc::new(MemoryThrottleStore::new()),
            audit: None,
            epochs: None,
            backend: Backend::Memory,
        }
    }

    /// The backend keeping the sessions: `memory`, `sqlite`, `postgres` or `redis`.
    pub fn backend(&self) -> &'static str {
        self.backend.name()
    }
}

impl fmt::Debug for Stores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stores")
            .field("backend", &self.backend.name())
            .field("audit", &self.audit.is_some())
            .field("epochs", &self.epochs)
            .finish_non_exhaustive()
    }
}

/// Opens every store named by `config`, running the migrations first (unless
/// [`StoreConfig::migrate_on_open`] is off) and starting the epoch listener of the
/// shared backends.
///
/// Fails with [`StoreError::Config`] for an unknown URL scheme, a backend whose cargo
/// feature is not compiled in, or a Redis URL without `users_url`;
/// [`StoreError::Unavailable`] when the server cannot be reached;
/// [`StoreError::Migration`] when the schema cannot be brought up to date. Messages
/// never carry passwords.
pub async fn open(config: &StoreConfig) -> Result<Stores, StoreError> {
    let result = open_inner(config).await;
    result.map_err(|e| {
        let e = scrub(e, &config.url);
        match &config.users_url {
            Some(users) => scrub(e, users),
            None => e,
        }
    })
}

async fn open_inner(config: &StoreConfig) -> Result<Stores, StoreError> {
    match Backend::of(&config.url)? {
        Backend::Memory => Ok(Stores::memory()),
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => Ok(super::sqlite::SqliteStore::open(config)
            .await?
            .into_stores()),
        #[cfg(feature = "postgres")]
        Backend::Postgres => Ok(super::postgres::PgStore::open(config).await?.into_stores()),
        #[cfg(feature = "redis")]
        Backend::Redis => {
            let users = open_users(config).await?;
            let redis = super::redis::RedisStore::open(config).await?;
            Ok(redis.into_stores(users))
        }
        #[allow(unreachable_patterns)]
        other => Err(missing_feature(other)),
    }
}

/// The users store of a Redis configuration: users, clients and audit, no sessions.
#[cfg(feature = "redis")]
async fn open_users(config: &StoreConfig) -> Result<Stores, StoreError> {
    let url = config.users_url.as_deref().ok_or_else(|| {
        StoreError::Config(
            "a redis:// store keeps no users: set `users_url` to the memory:, sqlite: or \
             postgres:// store that does"
                .to_owned(),
        )
    })?;
    let users_config = config.with_url(url);
    match Backend::of(url)? {
        Backend::Memory => Ok(Stores::memory()),
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => Ok(super::sqlite::SqliteStore::open(&users_config)
            .await?
            .into_stores()),
        #[cfg(feature = "postgres")]
        Backend::Postgres => Ok(super::postgres::PgStore::open_users_only(&users_config)
            .await?
            .into_stores()),
        Backend::Redis => Err(StoreError::Config(
            "`users_url` must name a memory:, sqlite: or postgres:// store, not Redis".to_owned(),
        )),
        #[allow(unreachable_patterns)]
        other => Err(missing_feature(other)),
    }
}

/// Runs the migrations of the store named by `config` (for Redis: of its users
/// store) and nothing else.
pub async fn migrate(config: &StoreConfig) -> Result<(), StoreError> {
    let result = migrate_inner(config).await;
    result.map_err(|e| {
        let e = scrub(e, &config.url);
        match &config.users_url {
            Some(users) => scrub(e, users),
            None => e,
        }
    })
}

async fn migrate_inner(config: &StoreConfig) -> Result<(), StoreError> {
    match Backend::of(&config.url)? {
        Backend::Memory => Ok(()),
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => super::sqlite::SqliteStore::migrate(config).await,
        #[cfg(feature = "postgres")]
        Backend::Postgres => super::postgres::PgStore::migrate(config).await,
        #[cfg(feature = "redis")]
        Backend::Redis => {
            let url = config.users_url.as_deref().ok_or_else(|| {
                StoreError::Config(
                    "a redis:// store keeps no users: set `users_url` to the store that does"
                        .to_owned(),
                )
            })?;
            if Backend::of(url)? == Backend::Redis {
                return Err(StoreError::Config(
                    "`users_url` must name a memory:, sqlite: or postgres:// store, not Redis"
                        .to_owned(),
                ));
            }
            Box::pin(migrate_inner(&config.with_url(url))).await
        }
        #[allow(unreachable_patterns)]
        other => Err(missing_feature(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://me:hunter2@db:5432/x?sslmode=disable"),
            "postgres://me:***@db:5432/x?sslmode=disable"
        );
        assert_eq!(redact_url("redis://:pw@cache/0"), "redis://:***@cache/0");
        assert_eq!(redact_url("redis://pw@cache"), "redis://***@cache");
        assert_eq!(redact_url("postgres://me@db/x"), "postgres://me@db/x");
        assert_eq!(redact_url("sqlite:/var/lib/x.db"), "sqlite:/var/lib/x.db");
        assert_eq!(
            redact_url("postgres://a:b@c@d/x"),
            "postgres://a:***@d/x",
            "the last @ ends the user info"
        );
        let scrubbed = scrub(
            StoreError::Unavailable("failed for p%40ss and p@ss".into()),
            "postgres://u:p%40ss@h/db",
        );
        assert_eq!(
            scrubbed,
            StoreError::Unavailable("failed for *** and ***".into())
        );
    }

    #[test]
    fn schemes() {
        assert_eq!(Backend::of("memory:").unwrap(), Backend::Memory);
        assert_eq!(Backend::of("sqlite::memory:").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of("postgresql://x").unwrap(), Backend::Postgres);
        assert_eq!(Backend::of("REDIS://x").unwrap(), Backend::Redis);
        let Err(StoreError::Config(message)) = Backend::of("mysql://root:pw@db") else {
            panic!("unknown scheme");
        };
        assert!(message.contains("`mysql`") && !message.contains("pw"));
        assert!(Backend::of("no scheme").is_err());
    }

    #[test]
    fn schema_names() {
        let ok = StoreConfig::new("postgres://x").schema("tenant_1");
        assert_eq!(ok.schema_name().unwrap(), Some("tenant_1"));
        for bad in ["", "1abc", "Upper", "a-b", "a\"b"] {
            assert!(StoreConfig::new("x").schema(bad).schema_name().is_err());
        }
    }

    #[test]
    fn a_missing_feature_is_named() {
        for (backend, feature) in [
            (Backend::Sqlite, "`sqlite` feature"),
            (Backend::Postgres, "`postgres` feature"),
            (Backend::Redis, "`redis` feature"),
        ] {
            let StoreError::Config(message) = missing_feature(backend) else {
                panic!("a configuration error");
            };
            assert!(message.contains(feature), "{message}");
        }
    }

    /// Built without the backends, `open` says which feature a URL needs.
    #[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "redis")))]
    #[tokio::test]
    async fn urls_of_backends_not_compiled_in() {
        for (url, feature) in [
            ("sqlite::memory:", "sqlite"),
            ("postgres://u:pw@db/x", "postgres"),
            ("redis://127.0.0.1", "redis"),
        ] {
            let Err(StoreError::Config(message)) = open(&StoreConfig::new(url)).await else {
                panic!("{url} needs a feature");
            };
            assert!(
                message.contains(&format!("`{feature}` feature")),
                "{message}"
            );
            assert!(!message.contains("pw"), "{message}");
        }
    }

    #[tokio::test]
    async fn memory_and_errors() {
        let stores = open(&StoreConfig::new("memory:")).await.unwrap();
        assert_eq!(stores.backend(), "memory");
        assert!(format!("{stores:?}").contains("memory"));
        assert!(matches!(
            open(&StoreConfig::new("ftp://u:secret@x")).await,
            Err(StoreError::Config(m)) if !m.contains("secret")
        ));
        migrate(&StoreConfig::new("memory:")).await.unwrap();
    }
}
