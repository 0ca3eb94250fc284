//! Where "now" comes from. Every time check takes its clock from here, so tests can
//! move time instead of sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time, in whole seconds since the Unix epoch (the JWT
/// `NumericDate`).
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Seconds since 1970-01-01T00:00:00Z.
    fn now(&self) -> i64;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            // A clock set before 1970 is broken; report the epoch so every token with a
            // real `nbf` or `iat` is refused rather than accepted.
            Err(_) => 0,
        }
    }
}

/// A clock that only moves when told to. Clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use token_core::{Clock, ManualClock};
///
/// let clock = ManualClock::new(1_700_000_000);
/// let seen_by_verifier = clock.clone();
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(seen_by_verifier.now(), 1_700_000_060);
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock stopped at `now` (seconds since the epoch).
    pub fn new(now: i64) -> Self {
        ManualClock {
            now: Arc::new(AtomicI64::new(now)),
        }
    }

    /// A clock stopped at the current system time.
    pub fn starting_now() -> Self {
        ManualClock::new(SystemClock.now())
    }

    /// Sets the time.
    pub fn set(&self, now: i64) {
        self.now.store(now, Ordering::SeqCst);
    }

    /// Moves the time forward.
    pub fn advance(&self, by: Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        self.now.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> i64 {
        (**self).now()
    }
}

/// A duration as whole seconds for `NumericDate` arithmetic, saturating.
pub(crate) fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}
