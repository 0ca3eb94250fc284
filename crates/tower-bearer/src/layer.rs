//! [`BearerAuthLayer`] and its builder: everything the layer is configured with.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use token_core::{Clock, EpochSource, NoExtra, RevocationCheck, SystemClock};
use tower_layer::Layer;

use crate::cache::{TokenCache, TokenCacheConfig};
use crate::csrf::CsrfPolicy;
use crate::epoch::{DEFAULT_STATUS_TTL, StatusChecks};
use crate::extract::TokenSource;
use crate::multi::{KeyRefresh, Verifiers};
use crate::response::{Answer, Responder};
use crate::service::BearerAuth;

/// The realm named in challenges unless configured: `api`.
pub const DEFAULT_REALM: &str = "api";

/// Authenticates every request with a bearer token and puts the verified
/// [`Claims`](token_core::Claims) into its extensions.
///
/// `BearerAuthLayer::new(verifier)` reads `Authorization: Bearer`, requires a
/// token, and answers refusals as RFC 6750 section 3 says; [`builder`](Self::builder)
/// configures the rest. Cloning is cheap: clones share one configuration and one
/// set of caches.
///
/// ```
/// use std::time::Duration;
/// use http::HeaderName;
/// use token_core::{Algorithm, SigningKey, Verifier};
/// use tower_bearer::{BearerAuthLayer, CsrfPolicy, TokenSource};
///
/// let key = SigningKey::generate(Algorithm::ES256)?.into_signing_key();
/// let verifier = Verifier::builder(key).issuer("https://auth.example").audience("api").build()?;
/// let layer = BearerAuthLayer::builder(verifier)
///     .realm("reports")
///     .sources([TokenSource::authorization(), TokenSource::cookie("access_token")])
///     .csrf(CsrfPolicy::new().allow_origin("https://app.example"))
///     .status_ttl(Duration::from_secs(2))
///     .build();
/// # let _ = layer;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BearerAuthLayer<E = NoExtra> {
    shared: Arc<Shared<E>>,
}

/// The configuration and caches every clone of the layer and its services share.
pub(crate) struct Shared<E> {
    pub(crate) verifiers: Verifiers<E>,
    pub(crate) sources: Vec<TokenSource>,
    pub(crate) optional: bool,
    pub(crate) csrf: CsrfPolicy,
    pub(crate) cors_preflight: bool,
    pub(crate) answer: Answer,
    pub(crate) cache: Option<TokenCache<E>>,
    pub(crate) status: Arc<StatusChecks>,
    pub(crate) key_refresh: Option<Arc<dyn KeyRefresh>>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl<E> BearerAuthLayer<E>
where
    E: Clone + DeserializeOwned + Send + Sync + 'static,
{
    /// A layer with the defaults: `Authorization: Bearer` only, token required,
    /// realm `api`, verified-token cache on (it is used for asymmetric keys only).
    pub fn new(verifiers: impl Into<Verifiers<E>>) -> Self {
        BearerAuthLayer::builder(verifiers).build()
    }

    /// Starts configuring a layer that verifies with `verifiers`: a
    /// [`Verifier`](token_core::Verifier) or a [`MultiIssuer`](crate::MultiIssuer).
    pub fn builder(verifiers: impl Into<Verifiers<E>>) -> BearerAuthBuilder<E> {
        BearerAuthBuilder {
            verifiers: verifiers.into(),
            sources: vec![TokenSource::Authorization],
            optional: false,
            csrf: CsrfPolicy::new(),
            cors_preflight: false,
            realm: DEFAULT_REALM.to_owned(),
            responder: None,
            cache: Some(TokenCacheConfig::default()),
            epochs: None,
            revocation: None,
            status_ttl: DEFAULT_STATUS_TTL,
            key_refresh: None,
        }
    }
}

impl<E> Clone for BearerAuthLayer<E> {
    fn clone(&self) -> Self {
        BearerAuthLayer {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S, E> Layer<S> for BearerAuthLayer<E> {
    type Service = BearerAuth<S, E>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerAuth::new(inner, Arc::clone(&self.shared))
    }
}

impl<E> fmt::Debug for BearerAuthLayer<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BearerAuthLayer")
            .field(&self.shared)
            .finish()
    }
}

impl<E> fmt::Debug for Shared<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuth")
            .field("verifiers", &self.verifiers)
            .field("sources", &self.sources)
            .field("optional", &self.optional)
            .field("csrf", &self.csrf)
            .field("cors_preflight", &self.cors_preflight)
            .field("answer", &self.answer)
            .field("token_cache", &self.cache.is_some())
            .field("status", &self.status)
            .field("key_refresh", &self.key_refresh.is_some())
            .finish()
    }
}

/// Configures a [`BearerAuthLayer`].
#[must_use]
pub struct BearerAuthBuilder<E> {
    verifiers: Verifiers<E>,
    sources: Vec<TokenSource>,
    optional: bool,
    csrf: CsrfPolicy,
    cors_preflight: bool,
    realm: String,
    responder: Option<Arc<dyn Responder>>,
    cache: Option<TokenCacheConfig>,
    epochs: Option<Arc<dyn EpochSource>>,
    revocation: Option<Arc<dyn RevocationCheck>>,
    status_ttl: Duration,
    key_refresh: Option<Arc<dyn KeyRefresh>>,
}

impl<E> BearerAuthBuilder<E>
where
    E: Clone + DeserializeOwned + Send + Sync + 'static,
{
    /// Where tokens are read from, replacing the default (`Authorization` only).
    /// Every source listed is looked at; credentials found in two are refused.
    pub fn sources(mut self, sources: impl IntoIterator<Item = TokenSource>) -> Self {
        self.sources = sources.into_iter().collect();
        self
    }

    /// Also reads the `access_token` query parameter (off by default).
    pub fn query_parameter(mut self, on: bool) -> Self {
        self.sources.retain(|s| *s != TokenSource::Query);
        if on {
            self.sources.push(TokenSource::Query);
        }
        self
    }

    /// Lets requests without credentials through, marked
    /// [`Anonymous`](crate::Anonymous). A token that is present must still be
    /// valid.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// Which cookie-authenticated unsafe requests may pass. The default allows none.
    pub fn csrf(mut self, policy: CsrfPolicy) -> Self {
        self.csrf = policy;
        self
    }

    /// Lets CORS preflights (`OPTIONS` with `Access-Control-Request-Method`) through
    /// without credentials, as browsers never send any on them. Off by default.
    pub fn allow_cors_preflight(mut self, on: bool) -> Self {
        self.cors_preflight = on;
        self
    }

    /// The `realm` of `WWW-Authenticate` challenges. Default `api`.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Replaces the body and headers of every refusal (see [`Responder`]).
    pub fn responder(mut self, responder: impl Responder) -> Self {
        self.responder = Some(Arc::new(responder));
        self
    }

    /// Bounds of the verified-token cache (on by default, used only for verifiers
    /// whose keys are all asymmetric unless
    /// [`include_symmetric`](TokenCacheConfig::include_symmetric) says otherwise).
    pub fn token_cache(mut self, config: TokenCacheConfig) -> Self {
        self.cache = Some(config);
        self
    }

    /// Verifies every token afresh.
    pub fn no_token_cache(mut self) -> Self {
        self.cache = None;
        self
    }

    /// Refuses tokens whose `ver` is below their subject's current token version.
    /// A token without `ver` counts as version 0; a token without `sub` has no
    /// subject to ask about and is not checked. If the source fails, the request
    /// is refused with 503.
    pub fn epoch_source(mut self, source: impl EpochSource) -> Self {
        self.epochs = Some(Arc::new(source));
        self
    }

    /// Refuses tokens that `check` says were revoked (by `jti` or `sid`). If the
    /// check fails, the request is refused with 503.
    pub fn revocation_check(mut self, check: impl RevocationCheck) -> Self {
        self.revocation = Some(Arc::new(check));
        self
    }

    /// How long epoch and revocation answers are reused (never past the expiry of
    /// the token that asked). Default 5 seconds; zero asks on every request.
    pub fn status_ttl(mut self, ttl: Duration) -> Self {
        self.status_ttl = ttl;
        self
    }

    /// Asks `hook` to refresh keys when a token names an unknown `kid`, then
    /// verifies once more.
    pub fn on_unknown_key(mut self, hook: impl KeyRefresh) -> Self {
        self.key_refresh = Some(Arc::new(hook));
        self
    }

    /// The layer.
    pub fn build(self) -> BearerAuthLayer<E> {
        // Time for the caches comes from the verifiers' clock, so tests that move
        // a manual clock move every bound at once.
        let clock: Arc<dyn Clock> = self.verifiers.all().first().map_or_else(
            || Arc::new(SystemClock) as Arc<dyn Clock>,
            |v| Arc::clone(v.clock()),
        );
        let status = StatusChecks::new(
            self.epochs,
            self.revocation,
            self.status_ttl,
            Arc::clone(&clock),
        );
        BearerAuthLayer {
            shared: Arc::new(Shared {
                verifiers: self.verifiers,
                sources: self.sources,
                optional: self.optional,
                csrf: self.csrf,
                cors_preflight: self.cors_preflight,
                answer: Answer::new(&self.realm, self.responder),
                cache: self.cache.map(TokenCache::new),
                status: Arc::new(status),
                key_refresh: self.key_refresh,
                clock,
            }),
        }
    }
}

impl<E> fmt::Debug for BearerAuthBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuthBuilder")
            .field("verifiers", &self.verifiers)
            .field("sources", &self.sources)
            .field("optional", &self.optional)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}
