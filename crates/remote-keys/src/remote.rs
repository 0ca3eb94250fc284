//! [`RemoteKeys`]: the key source, its builder, the single-flight fetch and the
//! background refresher.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Response, StatusCode, Uri};
use serde::de::DeserializeOwned;
use token_core::{Clock, KeyRing, NoExtra, SharedKeyRing, SourceError, Verifier, VerifierBuilder};
use tokio::sync::{Notify, OwnedMutexGuard};
use tower_bearer::{BearerAuthBuilder, BearerAuthLayer};

use crate::cache_control;
use crate::document;
use crate::error::Error;
use crate::fetch::{GetRequest, HttpGet, HyperClient};
use crate::refresh::Refresher;
use crate::source::{self, Resolved, Source};
use crate::time::{Time, ms, until};

/// Default floor on a document's `max-age`: 30 seconds.
pub const DEFAULT_MIN_REFRESH: Duration = Duration::from_secs(30);
/// Default ceiling on a document's `max-age`: one hour.
pub const DEFAULT_MAX_REFRESH: Duration = Duration::from_secs(3600);
/// Default freshness of a document without `Cache-Control`: five minutes.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
/// Default time between two fetches caused by unknown `kid`s: ten seconds.
pub const DEFAULT_UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(10);
/// Default time the last good keys keep serving once stale while fetches fail:
/// one day.
pub const DEFAULT_STALE_FOR: Duration = Duration::from_secs(24 * 3600);
/// Default bound on each HTTP request: five seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default bound on a document's size: 256 KiB.
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// The first retry after a failed fetch; each further failure doubles it, up to
/// the refresh floor.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// A verifier's keys, fetched from an issuer's JWKS and kept fresh.
///
/// - **Reads are lock-free.** [`key_ring`](Self::key_ring) is a [`SharedKeyRing`]:
///   a verifier built on it loads an atomically swapped snapshot per token and
///   never waits for a fetch.
/// - **One fetch at a time.** Background refreshes, unknown-`kid` refetches and
///   [`refresh_now`](Self::refresh_now) share one in-flight fetch; callers that
///   arrive while it runs wait for its outcome instead of starting another.
/// - **Refreshed before stale.** A document is fresh for its `Cache-Control:
///   max-age` (less `Age`; `no-cache` and `no-store` count as zero), clamped to
///   [`min_refresh`](RemoteKeysBuilder::min_refresh) and
///   [`max_refresh`](RemoteKeysBuilder::max_refresh), or
///   [`default_refresh`](RemoteKeysBuilder::default_refresh) without one. The
///   background task fetches again at 80 to 90 % of that (spread, so many
///   verifiers do not ask at the same moment); a failed fetch is retried after
///   1 s, 2 s, 4 s ... up to the floor.
/// - **Unknown `kid`s are rate-limited.** The [`refresher`](Self::refresher) a
///   layer calls on an unknown `kid` fetches at most once per
///   [`unknown_kid_cooldown`](RemoteKeysBuilder::unknown_kid_cooldown), so
///   made-up `kid`s cannot turn into requests to the issuer.
/// - **Failures keep the last good keys, for a bounded time.** A failed fetch, a
///   malformed document or one without a usable key changes nothing; once the set
///   has been stale for [`stale_for`](RemoteKeysBuilder::stale_for) with every
///   fetch failing, the ring is emptied and requests get 503 until a fetch
///   succeeds, rather than trusting keys past the bound.
/// - **Changes are swapped in only when the set changed**, so the layer's
///   verified-token cache (invalidated by a swap) survives routine refreshes.
///
/// Background refresh runs on the tokio runtime that started the source, until
/// [`RefreshHandle::stop`] or until every clone of the `RemoteKeys` and of its
/// refreshers has been dropped.
///
/// ```
/// use std::time::Duration;
/// use remote_keys::{RemoteKeys, Source};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Fetches in the background: 503 until the first fetch succeeds.
/// // (`.start().await?` waits for that fetch instead, and fails if it fails.)
/// let remote = RemoteKeys::builder(Source::discovery("https://idp.example")).spawn()?;
/// let layer = remote.layer(remote.verifier().audience("api").build()?); // issuer preset
/// // Router::new().route("/reports", get(reports)).layer(layer)
/// # let _ = layer;
/// # remote.handle().stop();
///
/// // Every bound can be set; these are the defaults but two.
/// let tuned = RemoteKeys::builder(Source::jwks_url("https://idp.example/jwks.json"))
///     .min_refresh(Duration::from_secs(30))
///     .max_refresh(Duration::from_secs(3600))
///     .default_refresh(Duration::from_secs(300))
///     .unknown_kid_cooldown(Duration::from_secs(30))
///     .stale_for(Duration::from_secs(6 * 3600))
///     .timeout(Duration::from_secs(5))
///     .max_document_bytes(256 * 1024)
///     .spawn()?;
/// tuned.handle().stop();
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RemoteKeys {
    inner: Arc<Inner>,
}

/// Configures a [`RemoteKeys`]; made by [`RemoteKeys::builder`].
#[must_use]
pub struct RemoteKeysBuilder {
    source: Source,
    config: Config,
    allow_http: bool,
    http: Option<Arc<dyn HttpGet>>,
    clock: Option<Arc<dyn Clock>>,
}

#[derive(Clone, Debug)]
struct Config {
    min_refresh: Duration,
    max_refresh: Duration,
    default_refresh: Duration,
    cooldown: Duration,
    stale_for: Duration,
    timeout: Duration,
    max_document_bytes: usize,
}

impl RemoteKeys {
    /// Starts configuring a source of keys fetched from `source`.
    pub fn builder(source: Source) -> RemoteKeysBuilder {
        RemoteKeysBuilder {
            source,
            config: Config {
                min_refresh: DEFAULT_MIN_REFRESH,
                max_refresh: DEFAULT_MAX_REFRESH,
                default_refresh: DEFAULT_REFRESH,
                cooldown: DEFAULT_UNKNOWN_KID_COOLDOWN,
                stale_for: DEFAULT_STALE_FOR,
                timeout: DEFAULT_TIMEOUT,
                max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
            },
            allow_http: false,
            http: None,
            clock: None,
        }
    }

    /// The keys, for [`Verifier::builder`]: always the latest good set, swapped
    /// without locks. Empty until the first fetch succeeds and after the
    /// staleness bound.
    pub fn key_ring(&self) -> SharedKeyRing {
        self.inner.ring.clone()
    }

    /// The hook for
    /// [`BearerAuthBuilder::on_unknown_key`](tower_bearer::BearerAuthBuilder::on_unknown_key):
    /// on an unknown `kid`, fetches again (at most once per cooldown) and answers
    /// whether the keys changed. See [`Refresher`].
    pub fn refresher(&self) -> Refresher {
        Refresher::new(Arc::clone(&self.inner))
    }

    /// A [`VerifierBuilder`] over these keys, requiring the discovered issuer
    /// (for [`Source::discovery`] sources) and using the injected clock, if any.
    /// Add the audience and build.
    pub fn verifier(&self) -> VerifierBuilder<NoExtra> {
        let mut builder = Verifier::builder(self.key_ring());
        if let Some(issuer) = self.inner.issuer() {
            builder = builder.issuer(issuer);
        }
        if let Some(clock) = self.inner.time.clock() {
            builder = builder.shared_clock(Arc::clone(clock));
        }
        builder
    }

    /// A [`BearerAuthLayer`] for `verifier` (built on [`key_ring`](Self::key_ring),
    /// as [`verifier`](Self::verifier) does) that refreshes these keys on an
    /// unknown `kid`: `remote.layer(remote.verifier().audience("api").build()?)`.
    pub fn layer<E>(&self, verifier: Verifier<E>) -> BearerAuthLayer<E>
    where
        E: Clone + DeserializeOwned + Send + Sync + 'static,
    {
        self.layer_builder(verifier).build()
    }

    /// Like [`layer`](Self::layer), for configuring the layer further.
    pub fn layer_builder<E>(&self, verifier: Verifier<E>) -> BearerAuthBuilder<E>
    where
        E: Clone + DeserializeOwned + Send + Sync + 'static,
    {
        BearerAuthLayer::builder(verifier).on_unknown_key(self.refresher())
    }

    /// Fetches now, or waits for the fetch in flight, whatever the cooldown.
    /// `Ok(true)` when the set changed. A failure keeps the current keys.
    pub async fn refresh_now(&self) -> Result<bool, Error> {
        self.inner.refresh_now().await
    }

    /// Where the source stands: keys, fetches, last error, deadlines.
    pub fn status(&self) -> Status {
        self.inner.status()
    }

    /// A handle that stops background refresh. It does not keep the source alive.
    pub fn handle(&self) -> RefreshHandle {
        RefreshHandle {
            control: Arc::clone(&self.inner.control),
        }
    }
}

impl fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("source", &self.inner.source)
            .field("config", &self.inner.config)
            .field("keys", &self.inner.ring.load().len())
            .field("running", &self.inner.control.is_running())
            .finish()
    }
}

impl RemoteKeysBuilder {
    /// The shortest freshness a document's `max-age` can claim (a floor, so an
    /// issuer answering `max-age=0` is not asked in a loop). Default 30 s.
    pub fn min_refresh(mut self, floor: Duration) -> Self {
        self.config.min_refresh = floor;
        self
    }

    /// The longest freshness a document's `max-age` can claim (a ceiling, so a
    /// removed key does not linger for days). Default 1 h.
    pub fn max_refresh(mut self, ceiling: Duration) -> Self {
        self.config.max_refresh = ceiling;
        self
    }

    /// How long a document without `Cache-Control` stays fresh (clamped to the
    /// floor and ceiling). Default 5 min.
    pub fn default_refresh(mut self, refresh: Duration) -> Self {
        self.config.default_refresh = refresh;
        self
    }

    /// The least time between a fetch and one caused by an unknown `kid`. Default
    /// 10 s. A token naming a key published in the meantime is refused (401)
    /// until the cooldown ends or the background refresh finds the key.
    pub fn unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.config.cooldown = cooldown;
        self
    }

    /// How long the last good keys keep serving after they went stale (their
    /// freshness ran out) while every fetch fails. Past it the ring is emptied and
    /// requests get 503 until a fetch succeeds. Default 24 h.
    pub fn stale_for(mut self, bound: Duration) -> Self {
        self.config.stale_for = bound;
        self
    }

    /// The bound on each HTTP request (a metadata document, a JWKS), whatever
    /// the client. Default 5 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// The largest document read. Default 256 KiB.
    pub fn max_document_bytes(mut self, bytes: usize) -> Self {
        self.config.max_document_bytes = bytes;
        self
    }

    /// Fetches over plain `http` from any host. Off by default: only `https`, and
    /// `http` to loopback addresses (a sidecar, tests), are fetched.
    pub fn allow_http(mut self, on: bool) -> Self {
        self.allow_http = on;
        self
    }

    /// The HTTP client. Default: [`HyperClient::new`] (rustls, Mozilla's roots).
    pub fn http_client(mut self, client: impl HttpGet) -> Self {
        self.http = Some(Arc::new(client));
        self
    }

    /// Takes cooldown, freshness and staleness decisions on `clock` (whole
    /// seconds) instead of the monotonic clock, and hands it to
    /// [`RemoteKeys::verifier`]. For tests; the background task re-reads an
    /// injected clock every second.
    pub fn clock(self, clock: impl Clock) -> Self {
        self.shared_clock(Arc::new(clock))
    }

    /// Like [`clock`](Self::clock), with a clock already shared.
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Fetches the keys once, then refreshes them in the background. Fails, with
    /// nothing left running, when the first fetch fails: for services that would
    /// rather not start than answer 503.
    pub async fn start(self) -> Result<RemoteKeys, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let inner = self.into_inner()?;
        inner.refresh_now().await?;
        Ok(RemoteKeys::run(inner, &runtime))
    }

    /// Returns at once and fetches in the background (retrying with backoff).
    /// Until the first fetch succeeds the ring is empty, and a layer wired with
    /// [`RemoteKeys::layer`] answers 503. Fails only on configuration errors and
    /// outside a tokio runtime.
    pub fn spawn(self) -> Result<RemoteKeys, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let inner = self.into_inner()?;
        Ok(RemoteKeys::run(inner, &runtime))
    }

    fn into_inner(self) -> Result<Arc<Inner>, Error> {
        let config = self.config;
        if config.min_refresh > config.max_refresh {
            return Err(Error::Config("min_refresh is above max_refresh"));
        }
        if config.timeout.is_zero() {
            return Err(Error::Config("the timeout is zero"));
        }
        if config.max_document_bytes == 0 {
            return Err(Error::Config("max_document_bytes is zero"));
        }
        let source = self.source.resolve(self.allow_http)?;
        let time = match self.clock {
            Some(clock) => Time::Clock(clock),
            None => Time::Monotonic(Instant::now()),
        };
        let http = self
            .http
            .unwrap_or_else(|| Arc::new(HyperClient::new()) as Arc<dyn HttpGet>);
        let now = time.now();
        Ok(Arc::new(Inner {
            source,
            config,
            allow_http: self.allow_http,
            http,
            ring: SharedKeyRing::new(KeyRing::new()),
            time,
            fetch: Arc::new(tokio::sync::Mutex::new(())),
            generation: AtomicU64::new(0),
            state: Mutex::new(State::new(now)),
            control: Arc::new(Control::default()),
        }))
    }
}

impl fmt::Debug for RemoteKeysBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKeysBuilder")
            .field("source", &self.source)
            .field("config", &self.config)
            .field("allow_http", &self.allow_http)
            .field("custom_http_client", &self.http.is_some())
            .field("clock", &self.clock)
            .finish()
    }
}

impl RemoteKeys {
    fn run(inner: Arc<Inner>, runtime: &tokio::runtime::Handle) -> RemoteKeys {
        inner.control.running.store(true, Ordering::SeqCst);
        runtime.spawn(background(
            Arc::downgrade(&inner),
            Arc::clone(&inner.control),
        ));
        RemoteKeys { inner }
    }
}

/// Stops a source's background refresh. Cloning is cheap; holding one does not
/// keep the source alive.
#[derive(Clone)]
pub struct RefreshHandle {
    control: Arc<Control>,
}

impl RefreshHandle {
    /// Stops background refresh (at once if it is sleeping, after the fetch in
    /// flight otherwise). The keys stay as they are, and the staleness bound is
    /// no longer enforced; a layer's refresher still fetches on unknown `kid`s.
    pub fn stop(&self) {
        self.control.stop();
    }

    /// True while the background task runs.
    pub fn is_running(&self) -> bool {
        self.control.is_running()
    }
}

impl fmt::Debug for RefreshHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshHandle")
            .field("running", &self.is_running())
            .finish()
    }
}

/// Where a [`RemoteKeys`] stands, for health checks and logs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Status {
    /// Keys in the ring now.
    pub keys: usize,
    /// The JWKS URL (for discovery sources, once resolved).
    pub jwks_uri: Option<String>,
    /// Fetches attempted so far.
    pub fetches: u64,
    /// Fetches failed in a row.
    pub consecutive_failures: u32,
    /// The last failure, while fetches fail.
    pub last_error: Option<Error>,
    /// How long ago the last successful fetch was.
    pub since_success: Option<Duration>,
    /// How long the keys stay fresh (zero once stale).
    pub fresh_for: Option<Duration>,
    /// How long the keys keep serving if every fetch fails from now on.
    pub serving_for: Option<Duration>,
    /// When the background task fetches next.
    pub next_refresh: Duration,
    /// True while the background task runs.
    pub running: bool,
}

/// The stop switch shared by the source, its handles and its background task.
#[derive(Default)]
struct Control {
    stopped: AtomicBool,
    running: AtomicBool,
    wake: Notify,
}

impl Control {
    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    fn is_running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }
}

/// What the last fetch brought.
#[derive(Clone, Debug)]
pub(crate) enum Outcome {
    NotYet,
    Changed,
    Unchanged,
    Failed(Error),
}

/// Everything about fetches, behind a mutex held only for bookkeeping (never
/// across an await, never by a verification).
struct State {
    /// The `jwks_uri` discovery found; forgotten after a failed fetch, so the
    /// next one discovers again.
    jwks_uri: Option<Uri>,
    attempts: u64,
    /// When the last fetch caused by an unknown `kid` started: the cooldown
    /// counts from it.
    last_unknown_kid_fetch: Option<i64>,
    last_success: Option<i64>,
    last_change: Option<i64>,
    fresh_until: Option<i64>,
    serve_until: Option<i64>,
    refresh_at: i64,
    failures: u32,
    last_error: Option<Error>,
    last_outcome: Outcome,
    expired: bool,
}

impl State {
    fn new(now: i64) -> Self {
        State {
            jwks_uri: None,
            attempts: 0,
            last_unknown_kid_fetch: None,
            last_success: None,
            last_change: None,
            fresh_until: None,
            serve_until: None,
            refresh_at: now,
            failures: 0,
            last_error: None,
            last_outcome: Outcome::NotYet,
            expired: false,
        }
    }
}

/// Shared by the [`RemoteKeys`] clones, their refreshers and (weakly) the
/// background task.
pub(crate) struct Inner {
    source: Resolved,
    config: Config,
    allow_http: bool,
    http: Arc<dyn HttpGet>,
    ring: SharedKeyRing,
    time: Time,
    /// Held for the whole of a fetch: the single flight.
    fetch: Arc<tokio::sync::Mutex<()>>,
    /// Bumped when a fetch completes, so a caller that waited on the lock knows a
    /// fetch ran meanwhile and takes its outcome instead of fetching again.
    generation: AtomicU64,
    state: Mutex<State>,
    control: Arc<Control>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.control.stop();
    }
}

/// The background refresher: sleeps until the next refresh (or the staleness
/// bound), fetches, repeats. Holds the source only while working.
async fn background(inner: Weak<Inner>, control: Arc<Control>) {
    struct Running<'a>(&'a Control);
    impl Drop for Running<'_> {
        fn drop(&mut self) {
            self.0.running.store(false, Ordering::SeqCst);
        }
    }
    let _running = Running(&control);
    loop {
        if control.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Some(delay) = inner.upgrade().map(|inner| inner.next_wake()) else {
            return;
        };
        // Either the delay passes or `stop` wakes us.
        let _ = tokio::time::timeout(delay, control.wake.notified()).await;
        if control.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Some(inner) = inner.upgrade() else {
            return;
        };
        inner.background_tick().await;
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn issuer(&self) -> Option<&str> {
        match &self.source {
            Resolved::Jwks(_) => None,
            Resolved::Discovery { issuer, .. } => Some(issuer),
        }
    }

    /// For logs: the JWKS URL or the issuer.
    fn describe(&self) -> String {
        match &self.source {
            Resolved::Jwks(url) => url.to_string(),
            Resolved::Discovery { issuer, .. } => issuer.clone(),
        }
    }

    /// How long the background task may sleep.
    fn next_wake(&self) -> Duration {
        let now = self.time.now();
        let state = self.state();
        let mut wake = state.refresh_at;
        if let Some(until) = state.serve_until
            && !state.expired
        {
            wake = wake.min(until);
        }
        drop(state);
        let delay = until(now, wake);
        if self.time.is_injected() {
            delay.min(Duration::from_secs(1))
        } else {
            delay
        }
    }

    async fn background_tick(&self) {
        if self.time.now() >= self.state().refresh_at {
            let _flight = self.fetch.lock().await;
            // A fetch that ran while we waited has moved the schedule.
            if self.time.now() >= self.state().refresh_at {
                self.fetch_locked().await;
            }
        }
        self.enforce_expiry(self.time.now());
    }

    pub(crate) async fn refresh_now(&self) -> Result<bool, Error> {
        let seen = self.generation.load(Ordering::Acquire);
        let flight = self.fetch.lock().await;
        let outcome = if self.generation.load(Ordering::Acquire) == seen {
            self.fetch_locked().await
        } else {
            self.state().last_outcome.clone()
        };
        drop(flight);
        match outcome {
            Outcome::Changed => Ok(true),
            Outcome::Unchanged | Outcome::NotYet => Ok(false),
            Outcome::Failed(error) => Err(error),
        }
    }

    /// The unknown-`kid` path: join the fetch in flight, or fetch if the cooldown
    /// allows, or answer from what the last fetch found.
    pub(crate) async fn on_unknown_kid(self: &Arc<Self>) -> Result<bool, SourceError> {
        let seen = self.generation.load(Ordering::Acquire);
        // Waits for a fetch in flight, whatever started it: its outcome is ours too.
        let flight = Arc::clone(&self.fetch).lock_owned().await;
        let outcome = if self.generation.load(Ordering::Acquire) != seen {
            // A fetch completed after this token failed to verify.
            drop(flight);
            self.state().last_outcome.clone()
        } else if self.in_cooldown(self.time.now()) {
            drop(flight);
            return self.answer_in_cooldown();
        } else {
            self.state().last_unknown_kid_fetch = Some(self.time.now());
            self.fetch_detached(flight).await
        };
        self.answer(&outcome)
    }

    /// Runs a fetch to its end on the runtime even if the request that started it
    /// goes away: a client hanging up must not cancel the fetch that other
    /// requests wait on.
    async fn fetch_detached(self: &Arc<Self>, flight: OwnedMutexGuard<()>) -> Outcome {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            let outcome = self.fetch_locked().await;
            drop(flight);
            return outcome;
        };
        let inner = Arc::clone(self);
        let task = runtime.spawn(async move {
            let outcome = inner.fetch_locked().await;
            drop(flight);
            outcome
        });
        match task.await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Failed(Error::Transport {
                url: self.describe(),
                source: Arc::new(std::io::Error::other("the fetch task failed")),
            }),
        }
    }

    fn in_cooldown(&self, now: i64) -> bool {
        self.state()
            .last_unknown_kid_fetch
            .is_some_and(|last| now < last.saturating_add(ms(self.config.cooldown)))
    }

    /// The answer to a request whose token named an unknown `kid`, after `outcome`
    /// (of a fetch it caused or joined, or of the last one within the cooldown).
    ///
    /// "Verify again" also when the set changed less than a cooldown ago: the
    /// token may have been checked against the ring just before that swap.
    fn answer(&self, outcome: &Outcome) -> Result<bool, SourceError> {
        if self.ring.load().is_empty() {
            return Err(self.no_keys());
        }
        match outcome {
            Outcome::Changed => Ok(true),
            Outcome::Unchanged | Outcome::NotYet => Ok(self.changed_lately()),
            Outcome::Failed(error) => Err(SourceError::new(error.clone())),
        }
    }

    /// The answer within the cooldown: no fetch, the last outcome stands.
    fn answer_in_cooldown(&self) -> Result<bool, SourceError> {
        let last = self.state().last_outcome.clone();
        self.answer(&last)
    }

    fn changed_lately(&self) -> bool {
        let now = self.time.now();
        self.state()
            .last_change
            .is_some_and(|at| now < at.saturating_add(ms(self.config.cooldown)))
    }

    fn no_keys(&self) -> SourceError {
        match &self.state().last_error {
            Some(error) => SourceError::new(error.clone()),
            None => SourceError::msg("no keys have been fetched yet"),
        }
    }

    /// One fetch, with the flight lock held by the caller.
    async fn fetch_locked(&self) -> Outcome {
        self.state().attempts += 1;
        let fetched = self.fetch_keys().await;
        let now = self.time.now();
        let outcome = match fetched {
            Ok((ring, fresh_for)) => self.install(ring, fresh_for, now),
            Err(error) => self.failed(error, now),
        };
        self.state().last_outcome = outcome.clone();
        self.generation.fetch_add(1, Ordering::AcqRel);
        outcome
    }

    /// Fetches and reads the JWKS (discovering it first if needed): the usable
    /// keys and how long they stay fresh.
    async fn fetch_keys(&self) -> Result<(KeyRing, Duration), Error> {
        let jwks_uri = match &self.source {
            Resolved::Jwks(uri) => uri.clone(),
            Resolved::Discovery { issuer, documents } => {
                let known = self.state().jwks_uri.clone();
                match known {
                    Some(uri) => uri,
                    None => {
                        let uri = self.discover(issuer, documents).await?;
                        self.state().jwks_uri = Some(uri.clone());
                        uri
                    }
                }
            }
        };
        let url = jwks_uri.to_string();
        let response = self.get(&jwks_uri).await?;
        let (ring, skipped) = document::parse_jwks(response.body(), &url)?;
        for key in &skipped {
            tracing::debug!(
                jwks_uri = %url,
                kid = key.kid.as_deref().unwrap_or("<none>"),
                reason = %key.reason,
                "skipped a key of the JWKS"
            );
        }
        if ring.is_empty() {
            return Err(Error::NoUsableKeys {
                url,
                skipped: skipped.len(),
            });
        }
        let fresh_for = match cache_control::freshness(response.headers()) {
            Some(max_age) => max_age.clamp(self.config.min_refresh, self.config.max_refresh),
            None => self
                .config
                .default_refresh
                .clamp(self.config.min_refresh, self.config.max_refresh),
        };
        Ok((ring, fresh_for))
    }

    /// The `jwks_uri` from the first metadata document that is served. The next
    /// document is asked for only when one answers but is unusable (not found,
    /// not metadata, another issuer's); an issuer that is down or slow is not
    /// asked twice.
    async fn discover(&self, issuer: &str, documents: &[Uri]) -> Result<Uri, Error> {
        let mut errors = Vec::new();
        for document in documents {
            let url = document.to_string();
            let found = match self.get(document).await {
                Ok(response) => document::parse_metadata(response.body(), &url, issuer)
                    .and_then(|jwks_uri| source::checked_url(&jwks_uri, self.allow_http)),
                Err(error) => Err(error),
            };
            match found {
                Ok(jwks_uri) => {
                    tracing::debug!(metadata = %url, %jwks_uri, "discovered the JWKS");
                    return Ok(jwks_uri);
                }
                Err(error @ (Error::Timeout { .. } | Error::Transport { .. })) => {
                    errors.push(error);
                    break;
                }
                Err(error) => errors.push(error),
            }
        }
        match errors.len() {
            1 => Err(errors.remove(0)),
            _ => Err(Error::Discovery(errors)),
        }
    }

    /// One GET through the client, bounded by the timeout and the size limit.
    async fn get(&self, url: &Uri) -> Result<Response<Bytes>, Error> {
        let request = GetRequest {
            url: url.clone(),
            max_body_bytes: self.config.max_document_bytes,
        };
        let text = url.to_string();
        let response = tokio::time::timeout(self.config.timeout, self.http.get(&request))
            .await
            .map_err(|_| Error::Timeout {
                url: text.clone(),
                after: self.config.timeout,
            })?
            .map_err(|e| e.into_error(&text))?;
        if response.status() != StatusCode::OK {
            return Err(Error::Status {
                url: text,
                status: response.status(),
            });
        }
        if response.body().len() > self.config.max_document_bytes {
            return Err(Error::TooLarge {
                url: text,
                limit: self.config.max_document_bytes,
            });
        }
        Ok(response)
    }

    /// A successful fetch: swap the ring in if it changed, move the deadlines.
    fn install(&self, ring: KeyRing, fresh_for: Duration, now: i64) -> Outcome {
        let mut state = self.state();
        // Stores happen under the state lock, so an expiry cannot empty the ring
        // just after fresh keys went in.
        let changed = fingerprint(&ring) != fingerprint(&self.ring.load());
        if changed {
            let kids: Vec<&str> = ring.iter().map(|k| k.kid()).collect();
            tracing::info!(source = %self.describe(), ?kids, "verification keys changed");
            self.ring.store(ring);
            state.last_change = Some(now);
        }
        let fresh = ms(fresh_for);
        state.last_success = Some(now);
        state.fresh_until = Some(now.saturating_add(fresh));
        state.serve_until = Some(
            now.saturating_add(fresh)
                .saturating_add(ms(self.config.stale_for)),
        );
        state.refresh_at = now.saturating_add(refresh_delay(fresh));
        state.failures = 0;
        state.last_error = None;
        state.expired = false;
        if changed {
            Outcome::Changed
        } else {
            Outcome::Unchanged
        }
    }

    /// A failed fetch: keep the keys, retry with backoff, enforce the bound.
    fn failed(&self, error: Error, now: i64) -> Outcome {
        let mut state = self.state();
        state.failures = state.failures.saturating_add(1);
        let serving = !self.ring.load().is_empty();
        tracing::warn!(
            source = %self.describe(),
            %error,
            failures = state.failures,
            serving_last_good_keys = serving,
            "fetching verification keys failed"
        );
        state.last_error = Some(error.clone());
        state.jwks_uri = None;
        let cap = ms(self.config.min_refresh.max(FIRST_RETRY));
        let exponent = state.failures.saturating_sub(1).min(20);
        let retry = ms(FIRST_RETRY).saturating_mul(1 << exponent).min(cap);
        state.refresh_at = now.saturating_add(retry);
        drop(state);
        self.enforce_expiry(now);
        Outcome::Failed(error)
    }

    /// Empties the ring once the last good keys have been stale for longer than
    /// `stale_for`.
    fn enforce_expiry(&self, now: i64) {
        let mut state = self.state();
        if state.expired || state.serve_until.is_none_or(|until| now < until) {
            return;
        }
        state.expired = true;
        self.ring.store(KeyRing::new());
        tracing::warn!(
            source = %self.describe(),
            stale_for = ?self.config.stale_for,
            "verification keys stale past their bound: refusing tokens until a fetch succeeds"
        );
    }

    fn status(&self) -> Status {
        let now = self.time.now();
        let state = self.state();
        let jwks_uri = match &self.source {
            Resolved::Jwks(uri) => Some(uri.to_string()),
            Resolved::Discovery { .. } => state.jwks_uri.as_ref().map(ToString::to_string),
        };
        Status {
            keys: self.ring.load().len(),
            jwks_uri,
            fetches: state.attempts,
            consecutive_failures: state.failures,
            last_error: state.last_error.clone(),
            since_success: state.last_success.map(|at| until(at, now)),
            fresh_for: state.fresh_until.map(|at| until(now, at)),
            serving_for: state
                .serve_until
                .filter(|_| !state.expired)
                .map(|at| until(now, at)),
            next_refresh: until(now, state.refresh_at),
            running: self.control.is_running(),
        }
    }
}

/// When to fetch again: at 80 to 90 % of the freshness, chosen at random so
/// verifiers that started together do not ask the issuer together.
fn refresh_delay(fresh: i64) -> i64 {
    let spread = i64::try_from(RandomState::new().hash_one(0u8) % 101).unwrap_or(0);
    let permille = 800 + spread;
    i64::try_from(i128::from(fresh) * i128::from(permille) / 1000).unwrap_or(fresh)
}

/// What identifies a ring's keys: each key's `kid`, algorithm and public JWK.
fn fingerprint(ring: &KeyRing) -> Vec<(String, Option<String>)> {
    let mut keys: Vec<_> = ring
        .iter()
        .map(|key| {
            let public = key
                .to_jwk()
                .and_then(|jwk| serde_json::to_string(&jwk).ok());
            (format!("{}/{}", key.kid(), key.algorithm()), public)
        })
        .collect();
    keys.sort();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_comes_at_80_to_90_percent() {
        for _ in 0..1000 {
            let delay = refresh_delay(100_000);
            assert!((80_000..=90_000).contains(&delay), "{delay}");
        }
        assert_eq!(refresh_delay(0), 0);
    }
}
