//! Verifying access tokens.

mod builder;
mod error;
mod fast_claims;
mod peek;
mod wire;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;

pub use builder::{DEFAULT_MAX_TOKEN_LEN, VerifierBuilder};
pub use error::{BuildError, Malformed, VerifyError};
pub use peek::unverified_issuer;

use crate::algorithm::Algorithm;
use crate::b64;
use crate::claims::{Audience, Claims, NoExtra, decode_extra};
use crate::clock::Clock;
use crate::header::{self, Header};
use crate::key::VerifyingKey;
use crate::keyring::{KeyRing, KeySource};
use crate::scope::Scopes;
use wire::{WireClaims, WireValue};

/// The largest `NumericDate` accepted: 9999-12-31T23:59:59Z. Anything later is not a
/// date anyone meant.
const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

/// The longest header segment decoded, in base64url characters (1 KiB decoded).
const MAX_HEADER_SEGMENT: usize = 1368;

/// The caller's own check on verified claims. The message becomes the token's
/// `error_description`, so keep it short and free of token contents.
pub type ClaimsCheck<E> = dyn Fn(&Claims<E>) -> Result<(), Cow<'static, str>> + Send + Sync;

/// Verifies access tokens: signature, header and claims, with nothing taken on trust
/// from the token itself.
///
/// - The key is found by `kid` in the verifier's ring; a token without `kid` is
///   accepted only when the ring holds exactly one key. `jku`, `x5u`, `x5c` and `jwk`
///   headers are never used to find a key.
/// - The algorithm is the key's own. The header's `alg` must match it; `none`, in any
///   letter case, never verifies.
/// - `exp` is required; `nbf` and `iat` are checked when present; configured issuers
///   and audiences make `iss` and `aud` required. Time comes from the injected clock.
/// - `typ` must be `at+jwt` unless configured otherwise; any `crit` is refused; tokens
///   over the size bound are refused before any decoding.
///
/// Cloning is cheap: clones share one configuration.
///
/// ```
/// use std::time::Duration;
/// use token_core::{Algorithm, Claims, ManualClock, Minter, SigningKey, Verifier, VerifyError};
///
/// let key = SigningKey::generate(Algorithm::ES256)?.into_signing_key();
/// let ring = token_core::KeyRing::with_signing_key(key);
/// let clock = ManualClock::new(1_700_000_000);
///
/// let minter = Minter::builder(ring.clone())
///     .issuer("https://auth.example")
///     .audience("reports-api")
///     .ttl(Duration::from_secs(900))
///     .clock(clock.clone())
///     .build()?;
/// let verifier = Verifier::builder(ring)
///     .issuer("https://auth.example")
///     .audience("reports-api")
///     .clock(clock.clone())
///     .build()?;
///
/// let token = minter.mint(Claims::for_subject("alice"))?.token;
/// let claims = verifier.verify(&token)?;
/// assert_eq!(claims.sub.as_deref(), Some("alice"));
///
/// clock.advance(Duration::from_secs(900));
/// assert_eq!(verifier.verify(&token), Err(VerifyError::Expired));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Verifier<E = NoExtra> {
    inner: Arc<Config<E>>,
}

/// Everything a verifier was built with.
struct Config<E> {
    keys: KeySource,
    issuers: Vec<Arc<str>>,
    audiences: Vec<Arc<str>>,
    leeway: i64,
    max_age: Option<i64>,
    typ: Option<String>,
    /// True when the configured `typ` accepts the header our minter writes, so a
    /// byte-identical header may skip decoding.
    minted_header_acceptable: bool,
    max_len: usize,
    clock: Arc<dyn Clock>,
    check: Option<Arc<ClaimsCheck<E>>>,
}

impl Verifier<NoExtra> {
    /// Starts a verifier that trusts the keys of `keys` (a [`KeyRing`], a
    /// [`SharedKeyRing`](crate::SharedKeyRing), or a single key).
    pub fn builder(keys: impl Into<KeySource>) -> VerifierBuilder<NoExtra> {
        VerifierBuilder::new(keys.into())
    }
}

impl<E> Verifier<E>
where
    E: DeserializeOwned + 'static,
{
    /// Verifies `token` and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims<E>, VerifyError> {
        let config = &*self.inner;
        let token = token.as_bytes();
        if token.len() > config.max_len {
            return Err(VerifyError::TooLarge);
        }
        let segments = Segments::split(token)?;
        config.keys.with_ring(|ring| {
            let key = config.select_key(ring, segments.header)?;
            b64::with_decoded(segments.signature, |sig| {
                key.verify_signature(segments.signing_input, sig)
            })
            .map_err(|_| VerifyError::Malformed(Malformed::Base64))?
            .map_err(|_| VerifyError::InvalidSignature)
        })?;
        b64::with_decoded(segments.payload, |json| config.claims(json))
            .map_err(|_| VerifyError::Malformed(Malformed::Base64))?
    }

    /// Checks expiry, not-before and maximum age of already-verified claims against
    /// the clock now. Caches of verified tokens call this on every hit.
    pub fn check_times(&self, claims: &Claims<E>) -> Result<(), VerifyError> {
        self.inner.check_times(claims.exp, claims.nbf, claims.iat)
    }

    /// The keys this verifier trusts.
    pub fn keys(&self) -> &KeySource {
        &self.inner.keys
    }

    /// The clock this verifier reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The configured bound on token length.
    pub fn max_token_len(&self) -> usize {
        self.inner.max_len
    }
}

impl<E> Clone for Verifier<E> {
    fn clone(&self) -> Self {
        Verifier {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<E> fmt::Debug for Verifier<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &*self.inner;
        f.debug_struct("Verifier")
            .field("keys", &c.keys)
            .field("issuers", &c.issuers)
            .field("audiences", &c.audiences)
            .field("leeway", &c.leeway)
            .field("max_age", &c.max_age)
            .field("typ", &c.typ)
            .field("max_len", &c.max_len)
            .field("custom_check", &c.check.is_some())
            .finish()
    }
}

/// The three segments of a compact JWS.
struct Segments<'t> {
    header: &'t [u8],
    payload: &'t [u8],
    signature: &'t [u8],
    /// `header.payload`, what the signature covers.
    signing_input: &'t [u8],
}

impl<'t> Segments<'t> {
    fn split(token: &'t [u8]) -> Result<Self, VerifyError> {
        // Vectorised searches: a byte loop over the token cost 8% of an HS256 verify.
        let bad = || VerifyError::Malformed(Malformed::Segments);
        let first = memchr::memchr(b'.', token).ok_or_else(bad)?;
        let last = memchr::memrchr(b'.', token).ok_or_else(bad)?;
        if last == first || memchr::memchr(b'.', &token[first + 1..last]).is_some() {
            return Err(bad());
        }
        let (second, signature) = (last, &token[last + 1..]);
        Ok(Segments {
            header: &token[..first],
            payload: &token[first + 1..second],
            signature,
            signing_input: &token[..second],
        })
    }
}

impl<E> Config<E>
where
    E: DeserializeOwned + 'static,
{
    /// Finds the key that must have signed the token, judging the header.
    fn select_key<'r>(
        &self,
        ring: &'r KeyRing,
        header: &[u8],
    ) -> Result<&'r VerifyingKey, VerifyError> {
        if self.minted_header_acceptable
            && let Some(key) = ring.find_by_minted_header(header)
        {
            // Byte-identical to a header we mint for this key: its alg is the key's,
            // its typ is acceptable and it carries nothing else.
            return Ok(key);
        }
        if header.len() > MAX_HEADER_SEGMENT {
            return Err(VerifyError::TooLarge);
        }
        b64::with_decoded(header, |json| {
            let header: Header<'_> = serde_json::from_slice(json)
                .map_err(|_| VerifyError::Malformed(Malformed::Header))?;
            self.judge_header(ring, &header)
        })
        .map_err(|_| VerifyError::Malformed(Malformed::Base64))?
    }

    fn judge_header<'r>(
        &self,
        ring: &'r KeyRing,
        header: &Header<'_>,
    ) -> Result<&'r VerifyingKey, VerifyError> {
        let alg: Algorithm = header
            .alg
            .parse()
            .map_err(|_| VerifyError::UnsupportedAlgorithm)?;
        if header.crit.0 {
            return Err(VerifyError::UnsupportedCritical);
        }
        if header.b64 == Some(false) {
            return Err(VerifyError::UnsupportedHeader("b64"));
        }
        if header.zip.0 {
            return Err(VerifyError::UnsupportedHeader("zip"));
        }
        if let Some(expected) = &self.typ {
            match &header.typ {
                Some(typ) if header::typ_matches(typ, expected) => {}
                _ => return Err(VerifyError::InvalidType),
            }
        }
        let key = match &header.kid {
            Some(kid) => ring.find(kid),
            None => ring.only_key(),
        }
        .ok_or(VerifyError::UnknownKey)?;
        if key.algorithm() != alg {
            return Err(VerifyError::AlgorithmMismatch);
        }
        Ok(key)
    }

    /// Decodes and judges the claims of a token whose signature has verified.
    fn claims(&self, json: &[u8]) -> Result<Claims<E>, VerifyError> {
        let wire: WireClaims<'_> = match fast_claims::read(json) {
            Some(wire) => wire,
            None => serde_json::from_slice(json)
                .map_err(|_| VerifyError::Malformed(Malformed::Claims))?,
        };
        let exp = date(wire.exp, "exp")?.ok_or(VerifyError::MissingClaim("exp"))?;
        let nbf = date(wire.nbf, "nbf")?;
        let iat = date(wire.iat, "iat")?;
        self.check_times(exp, nbf, iat)?;

        let iss = match wire.iss {
            // The configured issuer's own string: equal, and no allocation.
            Some(iss) if !self.issuers.is_empty() => Some(Arc::clone(
                known(&self.issuers, &iss).ok_or(VerifyError::InvalidIssuer)?,
            )),
            Some(iss) => Some(Arc::from(iss)),
            None if !self.issuers.is_empty() => return Err(VerifyError::MissingClaim("iss")),
            None => None,
        };
        let aud = match wire.aud {
            WireValue::Absent => Audience::None,
            WireValue::Str(one) => Audience::One(self.audience(one)),
            WireValue::Strs(many) => {
                Audience::Many(many.into_iter().map(|aud| self.audience(aud)).collect())
            }
            _ => return Err(VerifyError::InvalidClaim("aud")),
        };
        if !self.audiences.is_empty() {
            if aud.is_empty() {
                return Err(VerifyError::MissingClaim("aud"));
            }
            if !self.audiences.iter().any(|allowed| aud.contains(allowed)) {
                return Err(VerifyError::InvalidAudience);
            }
        }
        let scope = match wire.scope {
            WireValue::Absent => Scopes::empty(),
            WireValue::Str(text) => {
                Scopes::parse(&text).map_err(|_| VerifyError::InvalidClaim("scope"))?
            }
            _ => return Err(VerifyError::InvalidClaim("scope")),
        };
        let ver = match wire.ver {
            WireValue::Absent => None,
            WireValue::Int(v) => {
                Some(u64::try_from(v).map_err(|_| VerifyError::InvalidClaim("ver"))?)
            }
            _ => return Err(VerifyError::InvalidClaim("ver")),
        };
        let extra =
            decode_extra::<E>(json).map_err(|_| VerifyError::Malformed(Malformed::Claims))?;

        let claims = Claims {
            iss,
            sub: wire.sub.map(Arc::from),
            aud,
            exp,
            nbf,
            iat,
            jti: wire.jti.map(Arc::from),
            scope,
            ver,
            sid: wire.sid.map(Arc::from),
            client_id: wire.client_id.map(Arc::from),
            extra,
        };
        if let Some(check) = &self.check {
            check(&claims).map_err(VerifyError::Rejected)?;
        }
        Ok(claims)
    }

    /// An audience, as the configured string when it is one of ours.
    fn audience(&self, aud: Cow<'_, str>) -> Arc<str> {
        match known(&self.audiences, &aud) {
            Some(ours) => Arc::clone(ours),
            None => Arc::from(aud),
        }
    }

    fn check_times(&self, exp: i64, nbf: Option<i64>, iat: Option<i64>) -> Result<(), VerifyError> {
        let now = self.clock.now();
        // A token is good strictly before `exp` (RFC 7519 section 4.1.4).
        if now >= exp.saturating_add(self.leeway) {
            return Err(VerifyError::Expired);
        }
        if let Some(nbf) = nbf
            && now.saturating_add(self.leeway) < nbf
        {
            return Err(VerifyError::NotYetValid);
        }
        if let Some(iat) = iat
            && now.saturating_add(self.leeway) < iat
        {
            return Err(VerifyError::NotYetValid);
        }
        if let Some(max_age) = self.max_age {
            let iat = iat.ok_or(VerifyError::MissingClaim("iat"))?;
            if now.saturating_sub(iat) > max_age.saturating_add(self.leeway) {
                return Err(VerifyError::TooOld);
            }
        }
        Ok(())
    }
}

/// The configured string equal to `value`, if any.
fn known<'c>(configured: &'c [Arc<str>], value: &str) -> Option<&'c Arc<str>> {
    configured.iter().find(|c| &***c == value)
}

/// Reads a `NumericDate` claim: a whole number of seconds between the epoch and the
/// year 9999. Floats, strings and anything huge are invalid.
fn date(value: WireValue<'_>, name: &'static str) -> Result<Option<i64>, VerifyError> {
    match value {
        WireValue::Absent => Ok(None),
        WireValue::Int(v) if (0..=MAX_NUMERIC_DATE).contains(&v) => Ok(Some(v)),
        _ => Err(VerifyError::InvalidClaim(name)),
    }
}
