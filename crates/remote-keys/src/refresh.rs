//! The hooks tower-bearer calls on an unknown `kid`: [`Refresher`] for one source,
//! [`RefreshByIssuer`] for a layer that routes by issuer.

use std::fmt;
use std::sync::Arc;

use token_core::{BoxFuture, SourceError};
use tower_bearer::KeyRefresh;

use crate::remote::{Inner, RemoteKeys};

/// Refetches a [`RemoteKeys`] source when a token names a `kid` it does not know;
/// made by [`RemoteKeys::refresher`] and plugged into
/// [`BearerAuthBuilder::on_unknown_key`](tower_bearer::BearerAuthBuilder::on_unknown_key)
/// (which [`RemoteKeys::layer`] does for you).
///
/// What the layer is told, and so what the client gets:
///
/// | situation | answer | client gets |
/// |---|---|---|
/// | a fetch (this one, or one in flight it joined) brought a changed set | `Ok(true)` | the token verified once more: 200, or 401 if the `kid` is still unknown |
/// | the set changed less than a cooldown ago (this token may have been checked just before the swap) | `Ok(true)` | verified once more |
/// | a fetch brought the same set, or within the cooldown the last one did | `Ok(false)` | 401 `invalid_token` |
/// | the fetch failed, or within the cooldown the last one did | `Err` | 503: the key may exist, the issuer could not say |
/// | no keys (never fetched, or past the staleness bound) | `Err` | 503 |
///
/// Fetches caused by unknown `kid`s are at least a cooldown apart (background
/// refreshes do not count against it, so a key rotated just after a routine
/// refresh is still fetched at once), so a flood of made-up `kid`s causes at
/// most one request to the issuer per cooldown. Requests that arrive while a
/// fetch is in flight, whatever started it, wait for it (at most the timeout)
/// instead of starting another. The `issuer` the layer passes is not looked at:
/// one `Refresher` serves one source (see [`RefreshByIssuer`] for several).
#[derive(Clone)]
pub struct Refresher {
    inner: Arc<Inner>,
}

impl Refresher {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Refresher { inner }
    }
}

impl KeyRefresh for Refresher {
    fn refresh<'a>(&'a self, _issuer: Option<&'a str>) -> BoxFuture<'a, Result<bool, SourceError>> {
        Box::pin(self.inner.on_unknown_kid())
    }
}

impl fmt::Debug for Refresher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refresher")
            .field("issuer", &self.inner.issuer())
            .finish_non_exhaustive()
    }
}

/// One [`Refresher`] per issuer, for a layer over a
/// [`MultiIssuer`](tower_bearer::MultiIssuer): the layer names the issuer whose
/// verifier met the unknown `kid`, and only that issuer's source is refetched.
/// An issuer without a source answers `Ok(false)` (401).
///
/// ```
/// use remote_keys::{RefreshByIssuer, RemoteKeys, Source};
/// use token_core::Verifier;
/// use tower_bearer::{BearerAuthLayer, MultiIssuer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let a = RemoteKeys::builder(Source::discovery("https://a.example")).spawn()?;
/// let b = RemoteKeys::builder(Source::discovery("https://b.example")).spawn()?;
/// let layer = BearerAuthLayer::builder(
///     MultiIssuer::new()
///         .issuer("https://a.example", a.verifier().audience("api").build()?)
///         .issuer("https://b.example", b.verifier().audience("api").build()?),
/// )
/// .on_unknown_key(RefreshByIssuer::new().issuer(&a).issuer(&b))
/// .build();
/// # let _ = layer;
/// # a.handle().stop();
/// # b.handle().stop();
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct RefreshByIssuer {
    sources: Vec<(String, Refresher)>,
}

impl RefreshByIssuer {
    /// No source yet.
    pub fn new() -> Self {
        RefreshByIssuer::default()
    }

    /// Routes the issuer of `remote` (a [`Source::discovery`](crate::Source::discovery)
    /// source) to it. For a JWKS URL source, use [`source`](Self::source).
    pub fn issuer(self, remote: &RemoteKeys) -> Self {
        match remote.refresher().inner.issuer().map(str::to_owned) {
            Some(issuer) => self.source(issuer, remote),
            None => self,
        }
    }

    /// Routes tokens whose `iss` is `issuer` to `remote`.
    pub fn source(mut self, issuer: impl Into<String>, remote: &RemoteKeys) -> Self {
        self.sources.push((issuer.into(), remote.refresher()));
        self
    }
}

impl KeyRefresh for RefreshByIssuer {
    fn refresh<'a>(&'a self, issuer: Option<&'a str>) -> BoxFuture<'a, Result<bool, SourceError>> {
        let found = issuer.and_then(|issuer| {
            self.sources
                .iter()
                .find(|(known, _)| known == issuer)
                .map(|(_, refresher)| refresher)
        });
        match found {
            Some(refresher) => refresher.refresh(issuer),
            None => Box::pin(async { Ok(false) }),
        }
    }
}

impl fmt::Debug for RefreshByIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.sources.iter().map(|(issuer, _)| issuer))
            .finish()
    }
}
