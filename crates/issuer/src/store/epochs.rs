//! Epoch propagation between issuer instances: a per-instance cache of token
//! versions in front of the session store, kept honest by the store's notification
//! channel (PostgreSQL `LISTEN`/`NOTIFY`, Redis pub/sub). [`EpochFeed`] states the
//! bound and how it holds.
// Which of these helpers are used depends on the backends compiled in.
#![cfg_attr(
    not(all(feature = "sqlite", feature = "postgres", feature = "redis")),
    allow(dead_code, unused_variables)
)]

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use token_core::{BoxFuture, EpochSource, SourceError};

use super::{SessionStore, StoreError};

/// Entries kept before the cache is emptied and starts over.
const MAX_ENTRIES: usize = 100_000;
/// Heartbeats sent but not yet seen back, at most.
const MAX_PENDING: usize = 64;

/// The epoch-propagation state of one [`Stores`](super::Stores): the version cache
/// and what the store's notification listener knows about its channel. Cloning is
/// cheap and clones share everything; background tasks stop when the last clone is
/// dropped.
///
/// # The bound
///
/// With bound `B` ([`StoreConfig::epoch_bound`](super::StoreConfig::epoch_bound),
/// 1 s by default): **a token-version bump committed at time `t` is seen by every
/// lookup that starts after `t + B`**, on every instance, whatever happens to the
/// notification channel. While the channel is up, a bump is usually seen within a
/// few milliseconds (the time its notification takes to arrive).
///
/// How: a cached version is served only while one of these holds,
/// - it was read from the store less than `B` ago; or
/// - it was read while the channel was subscribed, no notification for its user (or
///   for any user, while the read was in flight) arrived since, and the channel has
///   proven within the last `B` that it delivers everything: every `B / 4` the
///   listener sends a heartbeat through the store on its own private channel, and a
///   heartbeat sent at `h` that came back proves that every bump committed before
///   `h` has been delivered (both stores deliver notifications in commit order).
///
/// A dropped connection starts a new listening session, so nothing read under the
/// old one is trusted past `B`; a silent one stops the heartbeats, with the same
/// effect. Every lookup that finds no valid entry reads the store. SQLite has no
/// channel: there, every entry lives at most `B` (another process on the host may
/// bump a version in the shared file).
#[derive(Clone)]
pub struct EpochFeed {
    inner: Arc<FeedState>,
}

struct FeedState {
    bound: Duration,
    /// Bumped by every invalidation, so a read racing one is not trusted.
    seq: AtomicU64,
    cache: DashMap<String, Entry>,
    channel: Mutex<Channel>,
    /// Dropped with the feed: the background tasks watch it and stop.
    _stop: tokio::sync::watch::Sender<()>,
    stop: tokio::sync::watch::Receiver<()>,
}

#[derive(Clone, Copy)]
struct Entry {
    version: u64,
    fetched: Instant,
    /// The listening session it was read under, if it may outlive `bound`.
    session: Option<u64>,
}

#[derive(Default)]
struct Channel {
    /// Incremented at every connect and disconnect.
    session: u64,
    connected: bool,
    /// Every bump committed before this instant has been delivered (this session).
    confirmed: Option<Instant>,
    next_nonce: u64,
    pending: VecDeque<(u64, Instant)>,
}

impl EpochFeed {
    /// A feed with no channel yet: every entry lives at most `bound`.
    pub(crate) fn new(bound: Duration) -> Self {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
        EpochFeed {
            inner: Arc::new(FeedState {
                bound: bound.max(Duration::from_millis(1)),
                seq: AtomicU64::new(0),
                cache: DashMap::new(),
                channel: Mutex::new(Channel::default()),
                _stop: stop_tx,
                stop: stop_rx,
            }),
        }
    }

    /// The stated bound: a bump is seen by every lookup starting this long after it.
    pub fn bound(&self) -> Duration {
        self.inner.bound
    }

    /// True while the notification channel is subscribed and its heartbeats come
    /// back within the bound (cached versions may then live longer than it).
    pub fn is_listening(&self) -> bool {
        let channel = self.inner.lock();
        channel.connected
            && channel
                .confirmed
                .is_some_and(|c| c.elapsed() < self.inner.bound)
    }

    /// How often the listener sends a heartbeat.
    pub(crate) fn heartbeat_every(&self) -> Duration {
        (self.inner.bound / 4).max(Duration::from_millis(1))
    }

    /// How long a listener waits for any message before it reconnects.
    pub(crate) fn silence_limit(&self) -> Duration {
        (self.inner.bound * 4).max(Duration::from_secs(1))
    }

    /// A handle the background tasks hold: it does not keep the feed alive.
    pub(crate) fn downgrade(&self) -> WeakFeed {
        WeakFeed {
            inner: Arc::downgrade(&self.inner),
            stop: self.inner.stop.clone(),
        }
    }

    /// A bump of `user` happened (here, or elsewhere and was notified).
    pub(crate) fn invalidate(&self, user: &str) {
        self.inner.seq.fetch_add(1, Ordering::SeqCst);
        self.inner.cache.remove(user);
    }

    /// Forget every cached version (a notification too large to name its user).
    pub(crate) fn invalidate_all(&self) {
        self.inner.seq.fetch_add(1, Ordering::SeqCst);
        self.inner.cache.clear();
    }

    /// The listener subscribed: a new session starts.
    pub(crate) fn connected(&self) -> u64 {
        let mut channel = self.inner.lock();
        channel.session = channel.session.wrapping_add(1);
        channel.connected = true;
        channel.confirmed = None;
        channel.pending.clear();
        channel.session
    }

    /// The listener lost its connection: nothing read under the old session is
    /// trusted past the bound any more.
    pub(crate) fn disconnected(&self) {
        let mut channel = self.inner.lock();
        if channel.connected {
            tracing::debug!("epoch notification channel lost; versions expire after the bound");
        }
        channel.session = channel.session.wrapping_add(1);
        channel.connected = false;
        channel.confirmed = None;
        channel.pending.clear();
    }

    /// The payload of the next heartbeat to send, if the channel is subscribed. The
    /// time is taken before sending, so it is no later than the heartbeat's commit.
    pub(crate) fn next_heartbeat(&self) -> Option<String> {
        let mut channel = self.inner.lock();
        if !channel.connected {
            return None;
        }
        let nonce = channel.next_nonce;
        channel.next_nonce = nonce.wrapping_add(1);
        if channel.pending.len() >= MAX_PENDING {
            channel.pending.pop_front();
        }
        channel.pending.push_back((nonce, Instant::now()));
        Some(format!("{}:{nonce}", channel.session))
    }

    /// A heartbeat came back through the channel.
    pub(crate) fn heartbeat_received(&self, payload: &str) {
        let Some((session, nonce)) = payload.split_once(':') else {
            return;
        };
        let (Ok(session), Ok(nonce)) = (session.parse::<u64>(), nonce.parse::<u64>()) else {
            return;
        };
        let mut channel = self.inner.lock();
        if !channel.connected || channel.session != session {
            return;
        }
        while let Some(&(n, sent)) = channel.pending.front() {
            if n > nonce {
                break;
            }
            channel.pending.pop_front();
            if n == nonce {
                channel.confirmed = Some(channel.confirmed.map_or(sent, |c| c.max(sent)));
            }
        }
    }

    /// The user's version: from the cache while it is valid, else from `sessions`.
    pub(crate) async fn version(
        &self,
        sessions: &dyn SessionStore,
        user: &str,
    ) -> Result<u64, StoreError> {
        let state = &*self.inner;
        let now = Instant::now();
        if let Some(entry) = state.cache.get(user).map(|e| *e)
            && self.valid(entry, now)
        {
            return Ok(entry.version);
        }
        let seq = state.seq.load(Ordering::SeqCst);
        let session = {
            let channel = state.lock();
            channel.connected.then_some(channel.session)
        };
        let fetched = Instant::now();
        let version = sessions.epoch(user).await?;
        if state.cache.len() >= MAX_ENTRIES {
            state.cache.clear();
        }
        let unchanged = state.seq.load(Ordering::SeqCst) == seq;
        state.cache.insert(
            user.to_owned(),
            Entry {
                version,
                fetched,
                session: session.filter(|_| unchanged),
            },
        );
        // An invalidation that slipped in between the check and the insert: drop the
        // entry (one that comes later removes it itself).
        if unchanged && state.seq.load(Ordering::SeqCst) != seq {
            state.cache.remove(user);
        }
        Ok(version)
    }

    fn valid(&self, entry: Entry, now: Instant) -> bool {
        let bound = self.inner.bound;
        if now.saturating_duration_since(entry.fetched) < bound {
            return true;
        }
        let Some(session) = entry.session else {
            return false;
        };
        let channel = self.inner.lock();
        channel.connected
            && channel.session == session
            && channel
                .confirmed
                .is_some_and(|c| now.saturating_duration_since(c) < bound)
    }
}

impl FeedState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Channel> {
        self.channel.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for EpochFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EpochFeed")
            .field("bound", &self.inner.bound)
            .field("listening", &self.is_listening())
            .field("cached", &self.inner.cache.len())
            .finish()
    }
}

/// What a background task holds: upgrades while the feed lives, and tells when it
/// is gone.
#[derive(Clone)]
pub(crate) struct WeakFeed {
    inner: std::sync::Weak<FeedState>,
    stop: tokio::sync::watch::Receiver<()>,
}

impl WeakFeed {
    pub(crate) fn upgrade(&self) -> Option<EpochFeed> {
        self.inner.upgrade().map(|inner| EpochFeed { inner })
    }

    /// Resolves once the feed is dropped.
    pub(crate) async fn stopped(&mut self) {
        while self.stop.changed().await.is_ok() {}
    }
}

/// Publishes the feed's next heartbeat every [`EpochFeed::heartbeat_every`] until
/// the feed is dropped; `publish` sends one payload on the backend's heartbeat
/// channel (a failed send is only logged: the listener notices the silence).
#[cfg(any(feature = "postgres", feature = "redis"))]
pub(crate) async fn send_heartbeats<F, Fut, E>(mut weak: WeakFeed, mut publish: F)
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: fmt::Display,
{
    let Some(every) = weak.upgrade().map(|f| f.heartbeat_every()) else {
        return;
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = weak.stopped() => return,
            _ = tick.tick() => {}
        }
        let Some(payload) = weak.upgrade().and_then(|f| f.next_heartbeat()) else {
            continue;
        };
        tokio::select! {
            () = weak.stopped() => return,
            result = publish(payload) => if let Err(error) = result {
                tracing::debug!(%error, "epoch heartbeat not sent");
            },
        }
    }
}

/// The issuer's [`EpochSource`] when its stores propagate epochs.
pub(crate) struct CachedEpochs {
    pub(crate) feed: EpochFeed,
    pub(crate) sessions: Arc<dyn SessionStore>,
}

impl EpochSource for CachedEpochs {
    fn current_version<'a>(&'a self, subject: &'a str) -> BoxFuture<'a, Result<u64, SourceError>> {
        Box::pin(async move {
            self.feed
                .version(&*self.sessions, subject)
                .await
                .map_err(SourceError::new)
        })
    }
}

impl fmt::Debug for CachedEpochs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedEpochs")
            .field("feed", &self.feed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemorySessionStore;

    fn feed(bound_ms: u64) -> EpochFeed {
        EpochFeed::new(Duration::from_millis(bound_ms))
    }

    #[tokio::test]
    async fn without_a_channel_entries_live_at_most_the_bound() {
        let store = MemorySessionStore::new();
        let feed = feed(50);
        assert_eq!(feed.version(&store, "u").await.unwrap(), 0);
        store.bump_epoch("u", None, 0).await.unwrap();
        assert_eq!(feed.version(&store, "u").await.unwrap(), 0, "cached");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(
            feed.version(&store, "u").await.unwrap(),
            1,
            "past the bound"
        );
    }

    #[tokio::test]
    async fn a_confirmed_channel_keeps_entries_until_notified() {
        let store = MemorySessionStore::new();
        let feed = feed(50);
        feed.connected();
        assert_eq!(feed.version(&store, "u").await.unwrap(), 0);
        let beat = feed.next_heartbeat().unwrap();
        feed.heartbeat_received(&beat);
        assert!(feed.is_listening());
        tokio::time::sleep(Duration::from_millis(40)).await;
        let beat = feed.next_heartbeat().unwrap();
        feed.heartbeat_received(&beat);
        tokio::time::sleep(Duration::from_millis(30)).await;
        store.bump_epoch("u", None, 0).await.unwrap();
        // Older than the bound, but the channel proved itself since: still served.
        assert_eq!(feed.version(&store, "u").await.unwrap(), 0);
        feed.invalidate("u");
        assert_eq!(feed.version(&store, "u").await.unwrap(), 1, "notified");
    }

    #[tokio::test]
    async fn silent_or_lost_channels_fall_back_to_the_bound() {
        let store = MemorySessionStore::new();
        let feed = feed(50);
        feed.connected();
        let beat = feed.next_heartbeat().unwrap();
        feed.heartbeat_received(&beat);
        assert_eq!(feed.version(&store, "u").await.unwrap(), 0);
        store.bump_epoch("u", None, 0).await.unwrap();
        // Silent: heartbeats stop coming back. Past the bound the store is read again.
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(!feed.is_listening());
        assert_eq!(feed.version(&store, "u").await.unwrap(), 1);

        // Lost: a reconnect starts a new session; the old session's entries and
        // heartbeats count for nothing.
        let beat = feed.next_heartbeat().unwrap();
        feed.disconnected();
        feed.connected();
        feed.heartbeat_received(&beat);
        assert!(!feed.is_listening(), "a heartbeat of the old session");
        store.bump_epoch("u", None, 0).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        let beat = feed.next_heartbeat().unwrap();
        feed.heartbeat_received(&beat);
        assert_eq!(feed.version(&store, "u").await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_read_racing_an_invalidation_is_not_trusted_past_the_bound() {
        let store = MemorySessionStore::new();
        let feed = feed(50);
        feed.connected();
        let beat = feed.next_heartbeat().unwrap();
        feed.heartbeat_received(&beat);
        let seq = feed.inner.seq.load(Ordering::SeqCst);
        feed.version(&store, "u").await.unwrap();
        assert!(feed.inner.cache.get("u").unwrap().session.is_some());
        feed.invalidate_all();
        assert!(feed.inner.seq.load(Ordering::SeqCst) > seq);
        assert!(feed.inner.cache.is_empty());
    }
}
