//! Configuring a [`Verifier`].

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::claims::Claims;
use crate::clock::{Clock, SystemClock, secs};
use crate::header::{self, ACCESS_TOKEN_TYP};
use crate::keyring::KeySource;

use super::{BuildError, ClaimsCheck, Config, Verifier};

/// The default bound on a token's length: 8 KiB, far above any sane access token and
/// small enough that garbage costs nothing.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

const MAX_LEEWAY: Duration = Duration::from_secs(3600);

/// Builds a [`Verifier`]. Mistakes in the configuration are errors of
/// [`build`](VerifierBuilder::build), not surprises at verification time.
pub struct VerifierBuilder<E> {
    keys: KeySource,
    issuers: Vec<Arc<str>>,
    audiences: Vec<Arc<str>>,
    leeway: Duration,
    max_age: Option<Duration>,
    typ: Option<String>,
    max_len: usize,
    clock: Arc<dyn Clock>,
    check: Option<Arc<ClaimsCheck<E>>>,
}

impl<E> VerifierBuilder<E> {
    pub(super) fn new(keys: KeySource) -> Self {
        VerifierBuilder {
            keys,
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway: Duration::ZERO,
            max_age: None,
            typ: Some(ACCESS_TOKEN_TYP.to_owned()),
            max_len: DEFAULT_MAX_TOKEN_LEN,
            clock: Arc::new(SystemClock),
            check: None,
        }
    }

    /// Requires `iss` to be `issuer`. May be called again to accept several.
    pub fn issuer(mut self, issuer: impl Into<Arc<str>>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Requires `aud` to contain `audience`. May be called again to accept any of
    /// several.
    pub fn audience(mut self, audience: impl Into<Arc<str>>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Seconds of clock skew tolerated on `exp`, `nbf` and `iat`. Default: none.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Refuses tokens whose `iat` is older than `max_age` (and tokens without `iat`).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// The header `typ` tokens must carry. Default `at+jwt` (RFC 9068).
    pub fn token_type(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// Accepts tokens with any `typ`, or none (plain JWTs from other issuers).
    pub fn any_token_type(mut self) -> Self {
        self.typ = None;
        self
    }

    /// Refuses tokens longer than `bytes` before decoding anything. Default 8 KiB.
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.max_len = bytes;
        self
    }

    /// Reads time from `clock` instead of the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Reads time from a shared clock.
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Declares the type of the caller's extra claims, decoded with every token.
    /// Call it before [`check`](Self::check), which is typed by the claims.
    pub fn extra_claims<F>(self) -> VerifierBuilder<F> {
        VerifierBuilder {
            keys: self.keys,
            issuers: self.issuers,
            audiences: self.audiences,
            leeway: self.leeway,
            max_age: self.max_age,
            typ: self.typ,
            max_len: self.max_len,
            clock: self.clock,
            check: None,
        }
    }

    /// Adds the caller's own check, run after every built-in one passed.
    ///
    /// ```
    /// use token_core::{Algorithm, Claims, Minter, SigningKey, Verifier, VerifyError};
    ///
    /// let ring = token_core::KeyRing::with_signing_key(
    ///     SigningKey::generate(Algorithm::EdDSA)?.into_signing_key(),
    /// );
    /// let verifier = Verifier::builder(ring.clone())
    ///     .check(|claims: &Claims| match claims.sub.as_deref() {
    ///         Some(sub) if sub.starts_with("svc-") => Ok(()),
    ///         _ => Err("only service accounts".into()),
    ///     })
    ///     .build()?;
    /// let minter = Minter::builder(ring).build()?;
    /// let token = minter.mint(Claims::for_subject("alice"))?.token;
    /// assert_eq!(
    ///     verifier.verify(&token),
    ///     Err(VerifyError::Rejected("only service accounts".into()))
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check(
        mut self,
        check: impl Fn(&Claims<E>) -> Result<(), Cow<'static, str>> + Send + Sync + 'static,
    ) -> Self {
        self.check = Some(Arc::new(check));
        self
    }

    /// Checks the configuration and builds the verifier.
    pub fn build(self) -> Result<Verifier<E>, BuildError>
    where
        E: DeserializeOwned + 'static,
    {
        if let KeySource::Static(ring) = &self.keys
            && ring.is_empty()
        {
            return Err(BuildError::NoKeys);
        }
        if self.issuers.iter().any(|i| i.is_empty()) {
            return Err(BuildError::EmptyIssuer);
        }
        if self.audiences.iter().any(|a| a.is_empty()) {
            return Err(BuildError::EmptyAudience);
        }
        if self.typ.as_deref() == Some("") {
            return Err(BuildError::EmptyType);
        }
        if self.leeway > MAX_LEEWAY {
            return Err(BuildError::LeewayTooLarge);
        }
        if !(64..=1024 * 1024).contains(&self.max_len) {
            return Err(BuildError::MaxLength);
        }
        let minted_header_acceptable = self
            .typ
            .as_deref()
            .is_none_or(|typ| header::typ_matches(ACCESS_TOKEN_TYP, typ));
        Ok(Verifier {
            inner: Arc::new(Config {
                keys: self.keys,
                issuers: self.issuers,
                audiences: self.audiences,
                leeway: secs(self.leeway),
                max_age: self.max_age.map(secs),
                typ: self.typ,
                minted_header_acceptable,
                max_len: self.max_len,
                clock: self.clock,
                check: self.check,
            }),
        })
    }
}

impl<E> fmt::Debug for VerifierBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("keys", &self.keys)
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("leeway", &self.leeway)
            .field("max_age", &self.max_age)
            .field("typ", &self.typ)
            .field("max_len", &self.max_len)
            .finish_non_exhaustive()
    }
}
