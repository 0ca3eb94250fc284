//! The [`Issuer`]: configuration, stores and keys, shared by the service and the
//! administration helpers.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use token_core::{
    Clock, EpochSource, JwkSet, Minter, RevocationCheck, Scopes, SharedKeyRing, Verifier,
};

use crate::audit::{AuditEvent, AuditKind, AuditSink};
use crate::epoch::{IssuerEpochs, IssuerRevocations};
use crate::keys::Keys;
use crate::password::Hasher;
use crate::refresh_token::RefreshKeys;
use crate::service::IssuerService;
use crate::store::{CachedEpochs, ClientStore, EpochFeed, SessionStore, ThrottleStore, UserStore};
use crate::throttle::ThrottlePolicy;
use crate::transport::{CookieSettings, RefreshTransport};

/// Issues tokens: password logins, rotating refresh tokens, client credentials,
/// logout, revocation, introspection, the user's device list and the JWKS.
///
/// Build one with [`Issuer::builder`]; mount [`Issuer::service`] under any prefix.
/// Cloning is cheap and clones share everything.
#[derive(Clone)]
pub struct Issuer {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) grantable: ArcSwapOption<Scopes>,
    pub(crate) minter: Minter,
    pub(crate) verifier: Verifier,
    pub(crate) keys: Keys,
    pub(crate) refresh_keys: RefreshKeys,
    pub(crate) users: Arc<dyn UserStore>,
    pub(crate) sessions: Arc<dyn SessionStore>,
    pub(crate) clients: Arc<dyn ClientStore>,
    pub(crate) throttle: Arc<dyn ThrottleStore>,
    pub(crate) audit: Arc<dyn AuditSink>,
    /// Epoch propagation, when the stores came from `store::open`.
    pub(crate) epochs: Option<EpochFeed>,
    pub(crate) hasher: Hasher,
    pub(crate) clock: Arc<dyn Clock>,
}

/// Settings fixed at build time.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) access_ttl: i64,
    pub(crate) idle_ttl: i64,
    pub(crate) absolute_ttl: i64,
    pub(crate) grace: i64,
    pub(crate) max_replays: u32,
    pub(crate) default_scopes: Scopes,
    pub(crate) default_transport: RefreshTransport,
    pub(crate) cookie: CookieSettings,
    pub(crate) mount_path: String,
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) trusted_proxies: Vec<IpAddr>,
    pub(crate) max_body: usize,
    pub(crate) throttle: ThrottlePolicy,
    pub(crate) jwks_max_age: u64,
}

/// Where a request came from, for throttling, audit and the device list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestMeta {
    /// The client address.
    pub ip: Option<IpAddr>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
}

impl Issuer {
    /// The tower `Service` with every endpoint, for `nest_service("/auth", ..)` in axum
    /// or any prefix in hyper (configure it with
    /// [`IssuerBuilder::mount_path`](crate::IssuerBuilder::mount_path)).
    pub fn service(&self) -> IssuerService {
        IssuerService::new(self.clone())
    }

    /// Answers "what is this user's current token version?" for a verifying layer:
    /// access tokens whose `ver` is lower were minted before the user's last bump.
    ///
    /// With stores from [`store::open`](crate::store::open), versions are cached per
    /// instance and a bump made by any instance sharing the store is seen within the
    /// configured bound ([`EpochFeed`]); otherwise every lookup reads the store.
    pub fn epoch_source(&self) -> Arc<dyn EpochSource> {
        match &self.inner.epochs {
            Some(feed) => Arc::new(CachedEpochs {
                feed: feed.clone(),
                sessions: Arc::clone(&self.inner.sessions),
            }),
            None => Arc::new(IssuerEpochs::new(Arc::clone(&self.inner.sessions))),
        }
    }

    /// Answers "was this token or its session revoked?" for a verifying layer.
    pub fn revocation_check(&self) -> Arc<dyn RevocationCheck> {
        Arc::new(IssuerRevocations::new(
            Arc::clone(&self.inner.sessions),
            Arc::clone(&self.inner.clock),
        ))
    }

    /// The key ring the issuer signs with (active, next and retired keys). Verifiers
    /// in the same process can share it, and see rotations at once.
    pub fn key_ring(&self) -> SharedKeyRing {
        self.inner.keys.ring().clone()
    }

    /// A verifier for the issuer's own access tokens (issuer, audience and clock as
    /// configured).
    pub fn verifier(&self) -> Verifier {
        self.inner.verifier.clone()
    }

    /// The public keys, as served at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> JwkSet {
        self.inner.keys.ring().load().to_jwks()
    }

    /// The issuer-wide scope ceiling, if one is set.
    pub fn grantable_scopes(&self) -> Option<Scopes> {
        self.inner.grantable.load_full().map(|s| Scopes::clone(&s))
    }

    /// Replaces the issuer-wide scope ceiling (`None`: only user and client ceilings
    /// apply). Takes effect at the next login or refresh: a scope removed here drops
    /// out of tokens minted from existing refresh tokens.
    pub fn set_grantable_scopes(&self, scopes: Option<Scopes>) {
        self.inner.grantable.store(scopes.map(Arc::new));
    }

    /// How long access tokens live, in seconds.
    pub fn access_ttl_secs(&self) -> u64 {
        self.inner.config.access_ttl.unsigned_abs()
    }

    /// The number of password-hashing worker threads.
    pub fn hashing_workers(&self) -> usize {
        self.inner.hasher.workers()
    }

    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    /// `ceiling ∩ grantable`.
    pub(crate) fn cap(&self, ceiling: &Scopes) -> Scopes {
        match &*self.inner.grantable.load() {
            Some(grantable) => ceiling.intersection(grantable),
            None => ceiling.clone(),
        }
    }

    pub(crate) async fn audit(&self, event: AuditEvent) {
        self.inner.audit.record(event).await;
    }

    pub(crate) fn event(&self, kind: AuditKind, meta: &RequestMeta) -> AuditEvent {
        let mut event = AuditEvent::new(kind, self.now());
        event.ip = meta.ip;
        event.user_agent.clone_from(&meta.user_agent);
        event
    }
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("Issuer")
            .field("config", &inner.config)
            .field("minter", &inner.minter)
            .field("refresh_keys", &inner.refresh_keys)
            .field("hasher", &inner.hasher)
            .finish_non_exhaustive()
    }
}
