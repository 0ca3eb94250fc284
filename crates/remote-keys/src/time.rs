//! Time for the source's decisions (cooldown, freshness, staleness), in
//! milliseconds: the monotonic clock by default, or an injected
//! [`Clock`](token_core::Clock) so tests can move time instead of sleeping.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use token_core::Clock;

#[derive(Clone)]
pub(crate) enum Time {
    /// Milliseconds since the source was built, from `Instant`: immune to the
    /// wall clock being set back or forward.
    Monotonic(Instant),
    /// An injected clock; its whole seconds are read as milliseconds.
    Clock(Arc<dyn Clock>),
}

impl Time {
    pub(crate) fn now(&self) -> i64 {
        match self {
            Time::Monotonic(start) => ms(start.elapsed()),
            Time::Clock(clock) => clock.now().saturating_mul(1000),
        }
    }

    /// True for an injected clock, which may jump: the background task then
    /// re-reads it at least every second instead of sleeping until a deadline.
    pub(crate) fn is_injected(&self) -> bool {
        matches!(self, Time::Clock(_))
    }

    pub(crate) fn clock(&self) -> Option<&Arc<dyn Clock>> {
        match self {
            Time::Monotonic(_) => None,
            Time::Clock(clock) => Some(clock),
        }
    }
}

impl fmt::Debug for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Time::Monotonic(_) => f.write_str("monotonic"),
            Time::Clock(clock) => write!(f, "{clock:?}"),
        }
    }
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The duration from `now` until `then` (zero if past).
pub(crate) fn until(now: i64, then: i64) -> Duration {
    Duration::from_millis(u64::try_from(then.saturating_sub(now)).unwrap_or(0))
}
