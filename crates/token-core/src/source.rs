//! Questions a verifier may ask the issuer's state: "what is this subject's current
//! token version?" and "has this token or session been revoked?".
//!
//! The traits live here, in the pure crate, so that the issuer can answer them and a
//! tower layer can ask them without either depending on the other. They return boxed
//! futures, so any runtime (or none) can drive them.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed, sendable future, as the source traits return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A source could not answer (its store is down, say). Callers fail closed.
#[derive(Debug, Clone)]
pub struct SourceError {
    inner: Arc<dyn StdError + Send + Sync>,
}

impl SourceError {
    /// Wraps the underlying failure. Its message must not contain secrets.
    pub fn new(err: impl StdError + Send + Sync + 'static) -> Self {
        SourceError {
            inner: Arc::new(err),
        }
    }

    /// A failure described by a message.
    pub fn msg(message: impl Into<String>) -> Self {
        #[derive(Debug)]
        struct Message(String);
        impl fmt::Display for Message {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl StdError for Message {}
        SourceError::new(Message(message.into()))
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "source unavailable: {}", self.inner)
    }
}

impl StdError for SourceError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.inner)
    }
}

/// Tells the current token-version epoch of a subject. A token whose `ver` is lower
/// was minted before the subject's last password reset (or "log out everywhere") and
/// must be refused.
///
/// ```
/// use std::collections::HashMap;
/// use token_core::{BoxFuture, EpochSource, SourceError};
///
/// struct Fixed(HashMap<String, u64>);
///
/// impl EpochSource for Fixed {
///     fn current_version<'a>(&'a self, subject: &'a str) -> BoxFuture<'a, Result<u64, SourceError>> {
///         let version = self.0.get(subject).copied().unwrap_or(0);
///         Box::pin(async move { Ok(version) })
///     }
/// }
/// ```
pub trait EpochSource: Send + Sync + 'static {
    /// The subject's current token version (0 for a subject never bumped).
    fn current_version<'a>(&'a self, subject: &'a str) -> BoxFuture<'a, Result<u64, SourceError>>;
}

/// What a revocation check is asked about: the token's id and its session.
#[derive(Clone, Copy, Debug)]
pub struct RevocationQuery<'a> {
    /// The token's `jti`.
    pub jti: Option<&'a str>,
    /// The token's `sid` (its refresh family).
    pub sid: Option<&'a str>,
    /// The token's `sub`.
    pub sub: Option<&'a str>,
}

/// Tells whether a token, or the session it belongs to, has been revoked.
pub trait RevocationCheck: Send + Sync + 'static {
    /// True when the token must be refused.
    fn is_revoked<'a>(
        &'a self,
        query: RevocationQuery<'a>,
    ) -> BoxFuture<'a, Result<bool, SourceError>>;
}

impl<T: EpochSource + ?Sized> EpochSource for Arc<T> {
    fn current_version<'a>(&'a self, subject: &'a str) -> BoxFuture<'a, Result<u64, SourceError>> {
        (**self).current_version(subject)
    }
}

impl<T: RevocationCheck + ?Sized> RevocationCheck for Arc<T> {
    fn is_revoked<'a>(
        &'a self,
        query: RevocationQuery<'a>,
    ) -> BoxFuture<'a, Result<bool, SourceError>> {
        (**self).is_revoked(query)
    }
}
