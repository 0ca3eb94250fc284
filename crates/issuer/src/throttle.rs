//! Throttling: escalating lockouts for failed logins and fixed-window rate limits.
//!
//! A login is refused with 429 and `Retry-After` when the pair (client ip, normalised
//! username) is locked, when the username alone is locked (a distributed guess at one
//! account), or when the ip sent too many attempts. Lockouts double with every failure
//! past a threshold, are capped, and are forgotten after a quiet period: nobody is
//! ever locked out for good. Refreshes have their own, looser, per-ip limit.

use std::net::IpAddr;

/// At most `limit` events per fixed window of `window_secs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Events allowed per window.
    pub limit: u32,
    /// Window length in seconds.
    pub window_secs: u64,
}

impl RateLimit {
    /// No limit.
    pub const UNLIMITED: RateLimit = RateLimit {
        limit: u32::MAX,
        window_secs: 1,
    };
}

/// Escalating lockout after repeated failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures allowed before the first lockout.
    pub threshold: u32,
    /// The first lockout, in seconds; each further failure doubles it.
    pub base_secs: u64,
    /// The longest lockout.
    pub max_secs: u64,
    /// Failures are forgotten after this long without one.
    pub forget_after_secs: u64,
}

impl LockoutPolicy {
    /// Never locks.
    pub const NEVER: LockoutPolicy = LockoutPolicy {
        threshold: u32::MAX,
        base_secs: 0,
        max_secs: 0,
        forget_after_secs: 1,
    };

    /// The lockout after `failures` failures, if any.
    pub fn lockout_for(&self, failures: u32) -> Option<u64> {
        if failures < self.threshold {
            return None;
        }
        let doublings = (failures - self.threshold).min(32);
        Some(
            self.base_secs
                .saturating_mul(1u64 << doublings)
                .min(self.max_secs),
        )
    }
}

/// Every throttle the issuer applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failed logins per (client ip, username).
    pub pair: LockoutPolicy,
    /// Failed logins per username, from anywhere.
    pub user: LockoutPolicy,
    /// Login attempts per client ip.
    pub ip: RateLimit,
    /// Refreshes per client ip.
    pub refresh_ip: RateLimit,
}

impl Default for ThrottlePolicy {
    /// Five free failures per (ip, user), then 1 s, 2 s, 4 s... up to 15 minutes;
    /// twenty per username, then 30 s doubling up to 15 minutes; both forgotten after
    /// an hour of quiet. 60 login attempts and 600 refreshes per ip per minute.
    fn default() -> Self {
        ThrottlePolicy {
            pair: LockoutPolicy {
                threshold: 5,
                base_secs: 1,
                max_secs: 15 * 60,
                forget_after_secs: 3600,
            },
            user: LockoutPolicy {
                threshold: 20,
                base_secs: 30,
                max_secs: 15 * 60,
                forget_after_secs: 3600,
            },
            ip: RateLimit {
                limit: 60,
                window_secs: 60,
            },
            refresh_ip: RateLimit {
                limit: 600,
                window_secs: 60,
            },
        }
    }
}

impl ThrottlePolicy {
    /// No throttling at all (benchmarks, tests of other things).
    pub const DISABLED: ThrottlePolicy = ThrottlePolicy {
        pair: LockoutPolicy::NEVER,
        user: LockoutPolicy::NEVER,
        ip: RateLimit::UNLIMITED,
        refresh_ip: RateLimit::UNLIMITED,
    };
}

/// The state one throttle key keeps. Backends that can run code under a row lock may
/// store this and use its methods, so they decide exactly as the memory store does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThrottleEntry {
    /// Start of the current rate window.
    pub window_start: i64,
    /// Events in the current window.
    pub count: u32,
    /// Failures since they were last forgotten.
    pub failures: u32,
    /// Time of the last failure.
    pub last_failure: i64,
    /// Locked while `now < locked_until`.
    pub locked_until: i64,
    /// Last time the entry changed, for purging.
    pub touched: i64,
}

impl ThrottleEntry {
    /// Counts an event; the seconds to wait when over the limit.
    pub fn hit(&mut self, now: i64, limit: RateLimit) -> Option<u64> {
        let window = i64::try_from(limit.window_secs).unwrap_or(i64::MAX).max(1);
        if now >= self.window_start.saturating_add(window) || now < self.window_start {
            self.window_start = now;
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        self.touched = now;
        (self.count > limit.limit)
            .then(|| secs_until(now, self.window_start.saturating_add(window)))
    }

    /// Seconds left in the lockout, if locked.
    pub fn locked(&self, now: i64) -> Option<u64> {
        (now < self.locked_until).then(|| secs_until(now, self.locked_until))
    }

    /// Records a failure; the lockout it starts, if any.
    pub fn record_failure(&mut self, now: i64, policy: LockoutPolicy) -> Option<u64> {
        let forget = i64::try_from(policy.forget_after_secs).unwrap_or(i64::MAX);
        if now.saturating_sub(self.last_failure) > forget {
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        self.last_failure = now;
        self.touched = now;
        let lock = policy.lockout_for(self.failures)?;
        self.locked_until = now.saturating_add(i64::try_from(lock).unwrap_or(i64::MAX));
        Some(lock)
    }
}

fn secs_until(now: i64, then: i64) -> u64 {
    u64::try_from(then.saturating_sub(now)).unwrap_or(0).max(1)
}

/// Throttle keys. Opaque to stores; kept here so every backend sees the same ones.
pub(crate) mod keys {
    use super::IpAddr;

    fn ip_text(ip: Option<IpAddr>) -> String {
        ip.map_or_else(|| "-".to_owned(), |ip| ip.to_string())
    }

    pub(crate) fn pair(ip: Option<IpAddr>, login: &str) -> String {
        format!("login-pair|{}|{login}", ip_text(ip))
    }

    pub(crate) fn user(login: &str) -> String {
        format!("login-user|{login}")
    }

    pub(crate) fn ip(ip: Option<IpAddr>) -> String {
        format!("login-ip|{}", ip_text(ip))
    }

    pub(crate) fn refresh(ip: Option<IpAddr>) -> String {
        format!("refresh-ip|{}", ip_text(ip))
    }

    pub(crate) fn client(ip: Option<IpAddr>, client_id: &str) -> String {
        format!("client-pair|{}|{client_id}", ip_text(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockouts_escalate_are_capped_and_forgotten() {
        let policy = ThrottlePolicy::default().pair;
        let mut e = ThrottleEntry::default();
        for t in 0..4 {
            assert_eq!(e.record_failure(1000 + t, policy), None);
        }
        assert_eq!(e.record_failure(1004, policy), Some(1));
        assert_eq!(e.locked(1004), Some(1));
        assert_eq!(e.locked(1005), None);
        assert_eq!(e.record_failure(1005, policy), Some(2));
        assert_eq!(e.record_failure(1007, policy), Some(4));
        for t in 0..40 {
            e.record_failure(2000 + t, policy);
        }
        assert_eq!(e.record_failure(3000, policy), Some(900));
        // An hour of quiet and it starts over.
        assert_eq!(e.record_failure(3000 + 3601 + 900, policy), None);
    }

    #[test]
    fn fixed_windows() {
        let limit = RateLimit {
            limit: 2,
            window_secs: 10,
        };
        let mut e = ThrottleEntry::default();
        assert_eq!(e.hit(100, limit), None);
        assert_eq!(e.hit(101, limit), None);
        assert_eq!(e.hit(103, limit), Some(7));
        assert_eq!(e.hit(110, limit), None);
    }
}
