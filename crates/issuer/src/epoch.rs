//! The issuer's answers to token-core's [`EpochSource`] and [`RevocationCheck`], which
//! a verifying layer (such as `tower-bearer`) consults after a signature verifies.

use std::fmt;
use std::sync::Arc;

use token_core::{BoxFuture, Clock, EpochSource, RevocationCheck, RevocationQuery, SourceError};

use crate::store::SessionStore;

/// Token-version epochs, read from the session store.
pub(crate) struct IssuerEpochs {
    sessions: Arc<dyn SessionStore>,
}

impl IssuerEpochs {
    pub(crate) fn new(sessions: Arc<dyn SessionStore>) -> Self {
        IssuerEpochs { sessions }
    }
}

impl EpochSource for IssuerEpochs {
    fn current_version<'a>(&'a self, subject: &'a str) -> BoxFuture<'a, Result<u64, SourceError>> {
        Box::pin(async move { self.sessions.epoch(subject).await.map_err(SourceError::new) })
    }
}

impl fmt::Debug for IssuerEpochs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IssuerEpochs")
    }
}

/// Revocation: a token is refused when its `jti` was revoked (RFC 7009) or its
/// session family is revoked or gone.
pub(crate) struct IssuerRevocations {
    sessions: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
}

impl IssuerRevocations {
    pub(crate) fn new(sessions: Arc<dyn SessionStore>, clock: Arc<dyn Clock>) -> Self {
        IssuerRevocations { sessions, clock }
    }
}

impl RevocationCheck for IssuerRevocations {
    fn is_revoked<'a>(
        &'a self,
        query: RevocationQuery<'a>,
    ) -> BoxFuture<'a, Result<bool, SourceError>> {
        Box::pin(async move {
            let now = self.clock.now();
            if let Some(jti) = query.jti
                && self
                    .sessions
                    .is_token_denied(jti, now)
                    .await
                    .map_err(SourceError::new)?
            {
                return Ok(true);
            }
            if let Some(sid) = query.sid {
                let family = self.sessions.get(sid).await.map_err(SourceError::new)?;
                // A family that is gone was purged after it ended: fail closed.
                return Ok(match family {
                    None => true,
                    Some(f) => f.revoked.is_some() || query.sub.is_some_and(|sub| sub != f.user_id),
                });
            }
            Ok(false)
        })
    }
}

impl fmt::Debug for IssuerRevocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IssuerRevocations")
    }
}
