//! Minting access tokens.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ring::rand::SecureRandom;
use serde::Serialize;

use crate::b64;
use crate::claims::{Audience, Claims};
use crate::clock::{Clock, SystemClock, secs};
use crate::header::{self, ACCESS_TOKEN_TYP};
use crate::key::{SignError, rng};
use crate::keyring::KeySource;
use crate::verify::BuildError;

/// The default access-token lifetime: 15 minutes.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

/// Mints access tokens with the active signing key of its ring.
///
/// The header is `{"alg":..,"kid":..,"typ":"at+jwt"}` with the key's own algorithm
/// and id. `iat` and `nbf` are set to now, `exp` to now plus the time-to-live, and
/// `jti` to 128 random bits unless the claims carry one; `iss` and `aud` come from
/// the configuration unless the claims set their own. Cloning is cheap.
///
/// ```
/// use token_core::{Algorithm, Claims, KeyRing, Minter, SigningKey};
///
/// let ring = KeyRing::with_signing_key(SigningKey::generate(Algorithm::EdDSA)?.into_signing_key());
/// let minter = Minter::builder(ring).issuer("https://auth.example").build()?;
/// let minted = minter.mint(Claims::for_subject("alice").with_version(3))?;
/// assert_eq!(minted.token.matches('.').count(), 2);
/// assert_eq!(minted.claims.iss.as_deref(), Some("https://auth.example"));
/// assert_eq!(minted.claims.exp - minted.claims.iat.unwrap(), 900);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Minter {
    inner: Arc<MintConfig>,
}

struct MintConfig {
    keys: KeySource,
    issuer: Option<Arc<str>>,
    audience: Audience,
    ttl: i64,
    typ: Option<String>,
    clock: Arc<dyn Clock>,
}

/// A freshly minted token and the claims it carries (with `iat`, `exp` and `jti`
/// filled in).
#[derive(Clone, Debug)]
pub struct Minted<E> {
    /// The compact JWS.
    pub token: String,
    /// The claims as signed.
    pub claims: Claims<E>,
}

/// Why a token could not be minted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MintError {
    /// The key ring has no active signing key.
    #[error("no active signing key")]
    NoSigningKey,
    /// The claims could not be serialised (a failing `Serialize` of extra claims).
    #[error("claims could not be serialised")]
    Serialize,
    /// The crypto library or the random source failed.
    #[error(transparent)]
    Sign(#[from] SignError),
}

impl Minter {
    /// Starts a minter that signs with the active key of `keys`.
    pub fn builder(keys: impl Into<KeySource>) -> MinterBuilder {
        MinterBuilder {
            keys: keys.into(),
            issuer: None,
            audience: Audience::None,
            ttl: DEFAULT_TTL,
            typ: Some(ACCESS_TOKEN_TYP.to_owned()),
            clock: Arc::new(SystemClock),
        }
    }

    /// Mints a token with the configured time-to-live.
    pub fn mint<E: Serialize>(&self, claims: Claims<E>) -> Result<Minted<E>, MintError> {
        self.mint_for(claims, self.inner.ttl)
    }

    /// Mints a token that lives for `ttl` instead of the configured time.
    pub fn mint_with_ttl<E: Serialize>(
        &self,
        claims: Claims<E>,
        ttl: Duration,
    ) -> Result<Minted<E>, MintError> {
        self.mint_for(claims, secs(ttl))
    }

    /// The configured time-to-live.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.inner.ttl.unsigned_abs())
    }

    /// The keys this minter signs with.
    pub fn keys(&self) -> &KeySource {
        &self.inner.keys
    }

    fn mint_for<E: Serialize>(
        &self,
        mut claims: Claims<E>,
        ttl: i64,
    ) -> Result<Minted<E>, MintError> {
        let config = &*self.inner;
        let now = config.clock.now();
        claims.iat = Some(now);
        claims.nbf = Some(now);
        claims.exp = now.saturating_add(ttl);
        if claims.iss.is_none() {
            claims.iss.clone_from(&config.issuer);
        }
        if claims.aud.is_empty() {
            claims.aud.clone_from(&config.audience);
        }
        if claims.jti.is_none() {
            claims.jti = Some(random_id()?);
        }
        let payload = serde_json::to_vec(&claims).map_err(|_| MintError::Serialize)?;

        let token = config.keys.with_ring(|ring| {
            let key = ring.signing_key().ok_or(MintError::NoSigningKey)?;
            let written;
            let header = match config.typ.as_deref() {
                Some(ACCESS_TOKEN_TYP) => key.verifying_key().minted_header(),
                typ => {
                    written = header::encode(key.algorithm(), key.kid(), typ);
                    written.as_str()
                }
            };
            let mut token = String::with_capacity(
                header.len() + 2 + b64::encoded_len(payload.len()) + b64::encoded_len(512),
            );
            token.push_str(header);
            token.push('.');
            b64::encode_into(&payload, &mut token);
            let mut signature = Vec::with_capacity(512);
            key.sign_into(token.as_bytes(), &mut signature)?;
            token.push('.');
            b64::encode_into(&signature, &mut token);
            Ok::<_, MintError>(token)
        })?;
        Ok(Minted { token, claims })
    }
}

/// A fresh token id: 128 random bits, base64url.
fn random_id() -> Result<Arc<str>, MintError> {
    let mut bytes = [0u8; 16];
    rng().fill(&mut bytes).map_err(|_| SignError)?;
    Ok(Arc::from(b64::encode(&bytes)))
}

impl fmt::Debug for Minter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &*self.inner;
        f.debug_struct("Minter")
            .field("keys", &c.keys)
            .field("issuer", &c.issuer)
            .field("audience", &c.audience)
            .field("ttl", &c.ttl)
            .field("typ", &c.typ)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Minter`].
pub struct MinterBuilder {
    keys: KeySource,
    issuer: Option<Arc<str>>,
    audience: Audience,
    ttl: Duration,
    typ: Option<String>,
    clock: Arc<dyn Clock>,
}

impl MinterBuilder {
    /// The `iss` of every token.
    pub fn issuer(mut self, issuer: impl Into<Arc<str>>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The `aud` of tokens whose claims name none.
    pub fn audience(mut self, audience: impl Into<Audience>) -> Self {
        self.audience = audience.into();
        self
    }

    /// How long tokens live. Default 15 minutes.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The header `typ`. Default `at+jwt`; `None` leaves it out.
    pub fn token_type(mut self, typ: Option<String>) -> Self {
        self.typ = typ;
        self
    }

    /// Reads time from `clock`.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Reads time from a shared clock.
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the configuration and builds the minter.
    pub fn build(self) -> Result<Minter, BuildError> {
        if self.ttl.as_secs() == 0 {
            return Err(BuildError::ZeroTtl);
        }
        if self.issuer.as_deref() == Some("") {
            return Err(BuildError::EmptyIssuer);
        }
        if self.audience.iter().any(str::is_empty) {
            return Err(BuildError::EmptyAudience);
        }
        if self.typ.as_deref() == Some("") {
            return Err(BuildError::EmptyType);
        }
        Ok(Minter {
            inner: Arc::new(MintConfig {
                keys: self.keys,
                issuer: self.issuer,
                audience: self.audience,
                ttl: secs(self.ttl),
                typ: self.typ,
                clock: self.clock,
            }),
        })
    }
}

impl fmt::Debug for MinterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MinterBuilder")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}
