//! Configuring an [`Issuer`].

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use token_core::{
    Clock, KeyError, KeyRing, KeySource, Minter, Scopes, SigningKey, SystemClock, Verifier,
};

use crate::audit::{AuditSink, TracingAuditSink};
use crate::issuer::{Config, Inner, Issuer};
use crate::keys::Keys;
use crate::password::{HashPriority, Hasher, PasswordError, PasswordPolicy};
use crate::refresh_token::{RefreshKey, RefreshKeyError, RefreshKeys};
use crate::store::{
    ClientStore, EpochFeed, MemoryClientStore, MemorySessionStore, MemoryThrottleStore,
    MemoryUserStore, SessionStore, Stores, ThrottleStore, UserStore,
};
use crate::throttle::ThrottlePolicy;
use crate::transport::{CookieSettings, RefreshTransport};

/// Why an issuer could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No signing keys were given, or the ring has no active signing key.
    #[error("an active signing key is required")]
    MissingSigningKey,
    /// The key ring refused a key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The minter or verifier configuration is invalid.
    #[error(transparent)]
    Token(#[from] token_core::BuildError),
    /// The password hashing configuration is invalid.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The refresh key could not be made.
    #[error(transparent)]
    RefreshKey(#[from] RefreshKeyError),
    /// A setting is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(&'static str),
}

/// Builds an [`Issuer`]. Only a signing key is required; everything else has a
/// default (memory stores, OWASP password parameters, cookie transport, 15-minute
/// access tokens, 7-day idle and 30-day absolute session lifetimes, 10 s grace).
pub struct IssuerBuilder {
    keys: Option<KeyRing>,
    next_key: Option<SigningKey>,
    users: Arc<dyn UserStore>,
    sessions: Arc<dyn SessionStore>,
    clients: Arc<dyn ClientStore>,
    throttle_store: Arc<dyn ThrottleStore>,
    audit: Arc<dyn AuditSink>,
    store_audit: Option<Arc<dyn AuditSink>>,
    epochs: Option<EpochFeed>,
    refresh_key: Option<RefreshKey>,
    previous_refresh_keys: Vec<RefreshKey>,
    issuer: Option<String>,
    audience: Option<String>,
    access_ttl: Duration,
    idle_ttl: Duration,
    absolute_ttl: Duration,
    grace: Duration,
    max_replays: u32,
    default_scopes: Scopes,
    grantable: Option<Scopes>,
    transport: RefreshTransport,
    mount_path: String,
    insecure_dev_cookies: bool,
    allowed_origins: Vec<String>,
    trusted_proxies: Vec<IpAddr>,
    max_body: usize,
    throttle: ThrottlePolicy,
    password_policy: PasswordPolicy,
    hash_workers: Option<usize>,
    hash_queue: Option<usize>,
    hash_priority: HashPriority,
    clock: Arc<dyn Clock>,
    jwks_max_age: u64,
}

impl Issuer {
    /// Starts configuring an issuer.
    pub fn builder() -> IssuerBuilder {
        IssuerBuilder {
            keys: None,
            next_key: None,
            users: Arc::new(MemoryUserStore::new()),
            sessions: Arc::new(MemorySessionStore::new()),
            clients: Arc::new(MemoryClientStore::new()),
            throttle_store: Arc::new(MemoryThrottleStore::new()),
            audit: Arc::new(TracingAuditSink),
            store_audit: None,
            epochs: None,
            refresh_key: None,
            previous_refresh_keys: Vec::new(),
            issuer: None,
            audience: None,
            access_ttl: Duration::from_secs(15 * 60),
            idle_ttl: Duration::from_secs(7 * 24 * 3600),
            absolute_ttl: Duration::from_secs(30 * 24 * 3600),
            grace: Duration::from_secs(10),
            max_replays: 64,
            default_scopes: Scopes::empty(),
            grantable: None,
            transport: RefreshTransport::Cookie,
            mount_path: String::new(),
            insecure_dev_cookies: false,
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            max_body: 16 * 1024,
            throttle: ThrottlePolicy::default(),
            password_policy: PasswordPolicy::OWASP,
            hash_workers: None,
            hash_queue: None,
            hash_priority: HashPriority::default(),
            clock: Arc::new(SystemClock),
            jwks_max_age: 300,
        }
    }
}

impl IssuerBuilder {
    /// The key ring to sign with; its active signing key signs access tokens.
    pub fn signing_keys(mut self, keys: KeyRing) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Signs with `key` (a ring holding just it).
    pub fn signing_key(self, key: SigningKey) -> Self {
        self.signing_keys(KeyRing::with_signing_key(key))
    }

    /// The key published as "next" and promoted by the first
    /// [`rotate_keys`](Issuer::rotate_keys). Default: one generated with the active
    /// key's algorithm (except RSA, which cannot be generated here).
    pub fn next_signing_key(mut self, key: SigningKey) -> Self {
        self.next_key = Some(key);
        self
    }

    /// The users. Default: an empty [`MemoryUserStore`].
    pub fn users(mut self, users: impl UserStore) -> Self {
        self.users = Arc::new(users);
        self
    }

    /// The session families and epochs. Default: a [`MemorySessionStore`].
    pub fn sessions(mut self, sessions: impl SessionStore) -> Self {
        self.sessions = Arc::new(sessions);
        self
    }

    /// The registered clients. Default: an empty [`MemoryClientStore`].
    pub fn clients(mut self, clients: impl ClientStore) -> Self {
        self.clients = Arc::new(clients);
        self
    }

    /// The throttle counters. Default: a [`MemoryThrottleStore`].
    pub fn throttle_store(mut self, store: impl ThrottleStore) -> Self {
        self.throttle_store = Arc::new(store);
        self
    }

    /// Where audit events go. Default: [`TracingAuditSink`]. Stores that persist
    /// audit events (see [`stores`](Self::stores)) get every event as well.
    pub fn audit(mut self, sink: impl AuditSink) -> Self {
        self.audit = Arc::new(sink);
        self
    }

    /// Every store at once, as [`store::open`](crate::store::open) made them: users,
    /// clients, sessions, throttle counters, the store's audit log (written besides
    /// the [`audit`](Self::audit) sink) and epoch propagation, so that
    /// [`Issuer::epoch_source`] sees token-version bumps made by other instances
    /// sharing the store within the configured bound.
    pub fn stores(mut self, stores: Stores) -> Self {
        self.users = stores.users;
        self.clients = stores.clients;
        self.sessions = stores.sessions;
        self.throttle_store = stores.throttle;
        self.store_audit = stores.audit;
        self.epochs = stores.epochs;
        self
    }

    /// The key refresh tokens are authenticated with. Default: a random one, which
    /// ends every session at restart; set it whenever sessions outlive the process.
    pub fn refresh_key(mut self, key: RefreshKey) -> Self {
        self.refresh_key = Some(key);
        self
    }

    /// An older refresh key that still verifies (during a refresh-key rotation).
    pub fn previous_refresh_key(mut self, key: RefreshKey) -> Self {
        self.previous_refresh_keys.push(key);
        self
    }

    /// The `iss` of every access token.
    pub fn issuer_url(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The `aud` of every access token.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Access-token lifetime. Default 15 minutes.
    pub fn access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl;
        self
    }

    /// A session dies after this long without a refresh. Default 7 days.
    pub fn idle_ttl(mut self, ttl: Duration) -> Self {
        self.idle_ttl = ttl;
        self
    }

    /// A session dies this long after login, however often it refreshes. Default 30
    /// days.
    pub fn absolute_ttl(mut self, ttl: Duration) -> Self {
        self.absolute_ttl = ttl;
        self
    }

    /// How long after a rotation the previous token may still be replayed (tabs
    /// refreshing at once) and get the same current token. Default 10 s.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The most grace replays per generation. Default 64.
    pub fn max_grace_replays(mut self, n: u32) -> Self {
        self.max_replays = n;
        self
    }

    /// What a login that asks for no scope gets (cut to the ceilings). Default none.
    pub fn default_scopes(mut self, scopes: Scopes) -> Self {
        self.default_scopes = scopes;
        self
    }

    /// The issuer-wide ceiling on every grant. Default: none (user and client
    /// ceilings only). Can be changed later with
    /// [`Issuer::set_grantable_scopes`].
    pub fn grantable_scopes(mut self, scopes: Scopes) -> Self {
        self.grantable = Some(scopes);
        self
    }

    /// The refresh transport for requests that name no registered client. Default
    /// [`RefreshTransport::Cookie`].
    pub fn transport(mut self, transport: RefreshTransport) -> Self {
        self.transport = transport;
        self
    }

    /// The path the service is mounted under (such as `/auth`): the refresh cookie's
    /// `Path`, and a prefix the service strips when it sees it (plain hyper); under
    /// axum's `nest_service` the prefix is already gone. Default: the root.
    pub fn mount_path(mut self, path: impl Into<String>) -> Self {
        self.mount_path = path.into();
        self
    }

    /// Plain-HTTP development mode: the refresh cookie loses `Secure` and its
    /// `__Secure-` prefix (browsers refuse both over `http://`). Never in production.
    pub fn insecure_dev_cookies(mut self, on: bool) -> Self {
        self.insecure_dev_cookies = on;
        self
    }

    /// An origin (`https://app.example`) allowed to send cookie-borne refresh and
    /// logout requests. Without any, only same-origin requests (Origin matching Host)
    /// pass.
    pub fn allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// A proxy whose `X-Forwarded-For` is believed: when the connection comes from
    /// one of these addresses, the client address is the right-most forwarded one
    /// that is not a trusted proxy. Off by default: the header is ignored.
    pub fn trusted_proxy(mut self, proxy: IpAddr) -> Self {
        self.trusted_proxies.push(proxy);
        self
    }

    /// The largest request body read, in bytes. Default 16 KiB.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Throttling. Default [`ThrottlePolicy::default`].
    pub fn throttle(mut self, policy: ThrottlePolicy) -> Self {
        self.throttle = policy;
        self
    }

    /// Argon2id parameters for new hashes. Default [`PasswordPolicy::OWASP`].
    pub fn password_policy(mut self, policy: PasswordPolicy) -> Self {
        self.password_policy = policy;
        self
    }

    /// Password-hashing threads. Default: one per core.
    pub fn hash_workers(mut self, n: usize) -> Self {
        self.hash_workers = Some(n);
        self
    }

    /// Hash jobs that may wait before logins get 503. Default 64 per worker.
    pub fn hash_queue(mut self, n: usize) -> Self {
        self.hash_queue = Some(n);
        self
    }

    /// Scheduling priority of the hashing threads. Default [`HashPriority::Low`].
    pub fn hash_priority(mut self, priority: HashPriority) -> Self {
        self.hash_priority = priority;
        self
    }

    /// Where time comes from (every expiry, lockout and token date).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// `Cache-Control: max-age` of the JWKS, in seconds. Default 300.
    pub fn jwks_max_age(mut self, secs: u64) -> Self {
        self.jwks_max_age = secs;
        self
    }

    /// Checks the configuration, publishes the next key, starts the hashing workers.
    pub fn build(self) -> Result<Issuer, BuildError> {
        let ring = self.keys.ok_or(BuildError::MissingSigningKey)?;
        if ring.signing_key().is_none() {
            return Err(BuildError::MissingSigningKey);
        }
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let (access_ttl, idle_ttl, absolute_ttl) = (
            secs(self.access_ttl),
            secs(self.idle_ttl),
            secs(self.absolute_ttl),
        );
        if access_ttl == 0 || idle_ttl == 0 || absolute_ttl == 0 {
            return Err(BuildError::Invalid("lifetimes must be at least one second"));
        }
        if self.max_body < 256 {
            return Err(BuildError::Invalid("max_body must be at least 256 bytes"));
        }
        let mount_path = normalize_mount(&self.mount_path)?;

        let keys = Keys::new(ring, self.next_key)?;
        let source = KeySource::from(keys.ring().clone());
        let mut minter = Minter::builder(source.clone())
            .ttl(self.access_ttl)
            .shared_clock(Arc::clone(&self.clock));
        let mut verifier = Verifier::builder(source).clock(Arc::clone(&self.clock));
        if let Some(iss) = &self.issuer {
            minter = minter.issuer(iss.clone());
            verifier = verifier.issuer(iss.clone());
        }
        if let Some(aud) = &self.audience {
            minter = minter.audience(aud.as_str());
            verifier = verifier.audience(aud.clone());
        }
        let refresh_key = match self.refresh_key {
            Some(key) => key,
            None => {
                tracing::warn!(
                    "no refresh key configured: a random one is used and sessions end at restart"
                );
                RefreshKey::generate()?.0
            }
        };
        let workers = self.hash_workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        let queue = self.hash_queue.unwrap_or(workers.saturating_mul(64));
        let hasher = Hasher::start(self.password_policy, workers, queue, self.hash_priority)?;

        let config = Config {
            access_ttl,
            idle_ttl,
            absolute_ttl,
            grace: secs(self.grace),
            max_replays: self.max_replays,
            default_scopes: self.default_scopes,
            default_transport: self.transport,
            cookie: CookieSettings::new(&mount_path, self.insecure_dev_cookies),
            mount_path,
            allowed_origins: self.allowed_origins,
            trusted_proxies: self.trusted_proxies,
            max_body: self.max_body,
            throttle: self.throttle,
            jwks_max_age: self.jwks_max_age,
        };
        Ok(Issuer {
            inner: Arc::new(Inner {
                config,
                grantable: ArcSwapOption::from(self.grantable.map(Arc::new)),
                minter: minter.build()?,
                verifier: verifier.build()?,
                keys,
                refresh_keys: RefreshKeys::new(refresh_key, self.previous_refresh_keys),
                users: self.users,
                sessions: self.sessions,
                clients: self.clients,
                throttle: self.throttle_store,
                audit: match self.store_audit {
                    Some(store) => Arc::new(vec![self.audit, store]),
                    None => self.audit,
                },
                epochs: self.epochs,
                hasher,
                clock: self.clock,
            }),
        })
    }
}

/// `/auth/` and `auth` become `/auth`; the root becomes the empty string.
fn normalize_mount(path: &str) -> Result<String, BuildError> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    if !trimmed
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b))
    {
        return Err(BuildError::Invalid(
            "mount path has characters a cookie path cannot hold",
        ));
    }
    Ok(format!("/{trimmed}"))
}

impl fmt::Debug for IssuerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerBuilder")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("access_ttl", &self.access_ttl)
            .field("transport", &self.transport)
            .field("mount_path", &self.mount_path)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths() {
        assert_eq!(normalize_mount("").unwrap(), "");
        assert_eq!(normalize_mount("/").unwrap(), "");
        assert_eq!(normalize_mount("auth/").unwrap(), "/auth");
        assert_eq!(normalize_mount("/api/auth").unwrap(), "/api/auth");
        assert!(normalize_mount("/a;b").is_err());
    }
}
