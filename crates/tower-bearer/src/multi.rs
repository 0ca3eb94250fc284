//! Choosing the verifier: one, or one per issuer chosen by the token's unverified
//! `iss`. The chosen verifier then finds the key by `kid`. Verifiers are never tried
//! one after another: that would multiply the cost of every bad token and blur
//! which issuer refused it.
//!
//! The seam for keys fetched at run time is [`KeyRefresh`]: when the chosen
//! verifier knows no key by the token's `kid`, the layer may ask it to refresh the
//! keys (asynchronously) and verifies once more.

use std::fmt;

use serde::de::DeserializeOwned;

use token_core::{BoxFuture, NoExtra, SourceError, Verifier, VerifyError, unverified_issuer};

/// Verifiers for several issuers, chosen by the token's `iss`.
///
/// ```
/// use token_core::{Algorithm, SigningKey, Verifier};
/// use tower_bearer::{BearerAuthLayer, MultiIssuer};
///
/// let a = SigningKey::generate(Algorithm::ES256)?.into_signing_key();
/// let b = SigningKey::generate(Algorithm::EdDSA)?.into_signing_key();
/// let issuers = MultiIssuer::new()
///     .issuer("https://a.example", Verifier::builder(a).issuer("https://a.example").build()?)
///     .issuer("https://b.example", Verifier::builder(b).issuer("https://b.example").build()?);
/// let layer = BearerAuthLayer::new(issuers);
/// # let _ = layer;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MultiIssuer<E = NoExtra> {
    issuers: Vec<String>,
    verifiers: Vec<Verifier<E>>,
}

impl<E> MultiIssuer<E> {
    /// No issuer yet.
    pub fn new() -> Self {
        MultiIssuer {
            issuers: Vec::new(),
            verifiers: Vec::new(),
        }
    }

    /// Verifies tokens whose `iss` is `issuer` with `verifier`. Configure the
    /// verifier to require that issuer too: the `iss` used to choose it is read
    /// before anything is verified.
    pub fn issuer(mut self, issuer: impl Into<String>, verifier: Verifier<E>) -> Self {
        self.issuers.push(issuer.into());
        self.verifiers.push(verifier);
        self
    }
}

impl<E> Default for MultiIssuer<E> {
    fn default() -> Self {
        MultiIssuer::new()
    }
}

impl<E> fmt::Debug for MultiIssuer<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiIssuer")
            .field("issuers", &self.issuers)
            .finish()
    }
}

/// The verifiers a layer chooses from: a single [`Verifier`] or a [`MultiIssuer`].
pub struct Verifiers<E = NoExtra> {
    /// Empty for a single verifier, which takes every token.
    issuers: Vec<String>,
    verifiers: Vec<Verifier<E>>,
}

impl<E> Verifiers<E> {
    /// The verifiers, by slot.
    pub(crate) fn all(&self) -> &[Verifier<E>] {
        &self.verifiers
    }

    /// The issuer a slot serves, if the layer routes by issuer.
    pub(crate) fn issuer(&self, slot: usize) -> Option<&str> {
        self.issuers.get(slot).map(String::as_str)
    }
}

impl<E: DeserializeOwned + 'static> Verifiers<E> {
    /// The slot of the verifier that must judge `token`.
    pub(crate) fn select(&self, token: &str) -> Result<usize, VerifyError> {
        if self.issuers.is_empty() {
            return if self.verifiers.is_empty() {
                Err(VerifyError::UnknownKey)
            } else {
                Ok(0)
            };
        }
        let max_len = self
            .verifiers
            .iter()
            .map(Verifier::max_token_len)
            .max()
            .unwrap_or(0);
        let iss = unverified_issuer(token, max_len)?.ok_or(VerifyError::MissingClaim("iss"))?;
        self.issuers
            .iter()
            .position(|known| *known == iss)
            .ok_or(VerifyError::InvalidIssuer)
    }
}

impl<E> From<Verifier<E>> for Verifiers<E> {
    fn from(verifier: Verifier<E>) -> Self {
        Verifiers {
            issuers: Vec::new(),
            verifiers: vec![verifier],
        }
    }
}

impl<E> From<MultiIssuer<E>> for Verifiers<E> {
    fn from(multi: MultiIssuer<E>) -> Self {
        Verifiers {
            issuers: multi.issuers,
            verifiers: multi.verifiers,
        }
    }
}

impl<E> fmt::Debug for Verifiers<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifiers")
            .field("issuers", &self.issuers)
            .field("verifiers", &self.verifiers)
            .finish()
    }
}

/// Refreshes a verifier's keys when a token names a `kid` it does not know: the
/// hook a remote JWKS key source plugs into. The layer calls it at most once per
/// request and, when it answers `true` (the keys changed), verifies once more.
/// Rate-limiting refreshes is the hook's business: any client can send unknown
/// `kid`s.
pub trait KeyRefresh: Send + Sync + 'static {
    /// Refreshes the keys of `issuer` (`None` when the layer has a single
    /// verifier). `Ok(true)` when there may be new keys to try.
    fn refresh<'a>(&'a self, issuer: Option<&'a str>) -> BoxFuture<'a, Result<bool, SourceError>>;
}

#[cfg(test)]
mod tests {
    use token_core::{Algorithm, Claims, Minter, SigningKey};

    use super::*;

    #[test]
    fn routes_by_issuer_without_trying_others() {
        let key = || SigningKey::from_hmac_secret(Algorithm::HS256, &[1; 32]).unwrap();
        let verifier = |iss: &str| Verifier::builder(key()).issuer(iss).build().unwrap();
        let verifiers: Verifiers = MultiIssuer::new()
            .issuer("a", verifier("a"))
            .issuer("b", verifier("b"))
            .into();
        let mint = |iss: &str| {
            let minter = Minter::builder(key()).issuer(iss).build().unwrap();
            minter.mint(Claims::for_subject("x")).unwrap().token
        };
        assert_eq!(verifiers.select(&mint("b")), Ok(1));
        assert_eq!(
            verifiers.select(&mint("c")),
            Err(VerifyError::InvalidIssuer)
        );
        let no_iss = Minter::builder(key()).build().unwrap();
        let token = no_iss.mint(Claims::for_subject("x")).unwrap().token;
        assert_eq!(
            verifiers.select(&token),
            Err(VerifyError::MissingClaim("iss"))
        );
        assert!(verifiers.select("garbage").is_err());
    }
}
