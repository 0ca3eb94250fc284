//! Epochs and revocation: after a token verifies, optionally ask the issuer's state
//! whether its subject's token version has moved on (password reset, "log out
//! everywhere") and whether the token or its session was revoked.
//!
//! Answers are cached for a configured time, never past the expiry of the token
//! that asked, so a cached "fine" cannot outlive what it vouched for. A source that
//! fails makes the request fail closed with 503; it never lets a token through.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use token_core::{
    BoxFuture, Claims, Clock, EpochSource, RevocationCheck, RevocationQuery, SourceError,
};

use crate::error::AuthError;

/// The default time answers are kept: 5 seconds, so an epoch bump or a revocation
/// takes effect within that bound without a source call per request.
pub const DEFAULT_STATUS_TTL: Duration = Duration::from_secs(5);

/// Most subjects (and most tokens) whose answers are remembered at once.
const MAX_CACHED: usize = 100_000;

/// The optional status sources and what they last said.
pub(crate) struct StatusChecks {
    epochs: Option<Arc<dyn EpochSource>>,
    revocation: Option<Arc<dyn RevocationCheck>>,
    ttl: i64,
    versions: DashMap<Box<str>, Cached<u64>>,
    revoked: DashMap<Box<str>, Cached<bool>>,
    clock: Arc<dyn Clock>,
}

#[derive(Clone, Copy)]
struct Cached<T> {
    value: T,
    /// Fresh while now < until.
    until: i64,
}

/// What must still be asked of the sources, owned so it can cross an await.
#[derive(Debug)]
pub(crate) struct Pending {
    subject: Option<Arc<str>>,
    version: u64,
    jti: Option<Arc<str>>,
    sid: Option<Arc<str>>,
    exp: i64,
    ask_epoch: bool,
    ask_revocation: bool,
}

/// The answer from the caches alone.
pub(crate) enum Status {
    Pass,
    Refused(AuthError),
    Ask(Pending),
}

impl StatusChecks {
    pub(crate) fn new(
        epochs: Option<Arc<dyn EpochSource>>,
        revocation: Option<Arc<dyn RevocationCheck>>,
        ttl: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        StatusChecks {
            epochs,
            revocation,
            ttl: i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
            versions: DashMap::new(),
            revoked: DashMap::new(),
            clock,
        }
    }

    /// True when there is nothing to ask, so the layer can skip this step.
    pub(crate) fn is_empty(&self) -> bool {
        self.epochs.is_none() && self.revocation.is_none()
    }

    /// Decides from cached answers, or says what must be asked.
    pub(crate) fn check<E>(&self, claims: &Claims<E>) -> Status {
        let now = self.clock.now();
        let version = claims.ver.unwrap_or(0);
        let mut ask_epoch = false;
        if self.epochs.is_some()
            && let Some(subject) = claims.sub.as_deref()
        {
            match self.versions.get(subject).map(|c| *c) {
                Some(cached) if now < cached.until => {
                    if version < cached.value {
                        return Status::Refused(AuthError::StaleVersion);
                    }
                }
                _ => ask_epoch = true,
            }
        }
        let mut ask_revocation = false;
        if self.revocation.is_some() {
            let key = revocation_key(
                claims.jti.as_deref(),
                claims.sid.as_deref(),
                claims.sub.as_deref(),
            );
            match self.revoked.get(key.as_str()).map(|c| *c) {
                Some(cached) if now < cached.until => {
                    if cached.value {
                        return Status::Refused(AuthError::Revoked);
                    }
                }
                _ => ask_revocation = true,
            }
        }
        if !ask_epoch && !ask_revocation {
            return Status::Pass;
        }
        Status::Ask(Pending {
            subject: claims.sub.clone(),
            version,
            jti: claims.jti.clone(),
            sid: claims.sid.clone(),
            exp: claims.exp,
            ask_epoch,
            ask_revocation,
        })
    }

    /// Asks the sources. No lock is held across the awaits: the caches are only
    /// touched before and after.
    pub(crate) fn ask(
        self: Arc<Self>,
        pending: Pending,
    ) -> BoxFuture<'static, Result<(), AuthError>> {
        Box::pin(async move {
            if pending.ask_epoch
                && let (Some(source), Some(subject)) = (&self.epochs, &pending.subject)
            {
                let current = source.current_version(subject).await.map_err(unavailable)?;
                self.remember(&self.versions, subject, current, pending.exp);
                if pending.version < current {
                    return Err(AuthError::StaleVersion);
                }
            }
            if pending.ask_revocation
                && let Some(check) = &self.revocation
            {
                let query = RevocationQuery {
                    jti: pending.jti.as_deref(),
                    sid: pending.sid.as_deref(),
                    sub: pending.subject.as_deref(),
                };
                let revoked = check.is_revoked(query).await.map_err(unavailable)?;
                let key = revocation_key(
                    pending.jti.as_deref(),
                    pending.sid.as_deref(),
                    pending.subject.as_deref(),
                );
                self.remember(&self.revoked, &key, revoked, pending.exp);
                if revoked {
                    return Err(AuthError::Revoked);
                }
            }
            Ok(())
        })
    }

    fn remember<T: Copy>(
        &self,
        cache: &DashMap<Box<str>, Cached<T>>,
        key: &str,
        value: T,
        exp: i64,
    ) {
        if self.ttl == 0 {
            return;
        }
        let now = self.clock.now();
        let until = now.saturating_add(self.ttl).min(exp);
        if until <= now {
            return;
        }
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, cached| now < cached.until);
            if cache.len() >= MAX_CACHED {
                return;
            }
        }
        cache.insert(key.into(), Cached { value, until });
    }
}

impl fmt::Debug for StatusChecks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatusChecks")
            .field("epochs", &self.epochs.is_some())
            .field("revocation", &self.revocation.is_some())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn unavailable(error: SourceError) -> AuthError {
    tracing::warn!(%error, "token status source failed; refusing the request");
    AuthError::Unavailable(error)
}

/// Revocation answers are remembered per token id, session and subject: exactly
/// what the check was asked about.
fn revocation_key(jti: Option<&str>, sid: Option<&str>, sub: Option<&str>) -> String {
    let parts = [jti.unwrap_or(""), sid.unwrap_or(""), sub.unwrap_or("")];
    parts.join("\0")
}
