//! Mint and verify JWT access tokens, fast and fail-closed.
//!
//! `token-core` is the pure heart of the project: no I/O, no async runtime, no tower.
//! It knows
//!
//! - [`Scopes`]: RFC 6749 scope sets, with [`Scopes::grant`] and [`Scopes::narrow`]
//!   so a token can never widen its own authority;
//! - [`Claims`]: the registered claims, `scope`, `ver` (the token-version epoch),
//!   `sid`, `client_id` and your own typed extra claims;
//! - keys: [`SigningKey`] and [`VerifyingKey`], each bound to one [`Algorithm`] and
//!   named by a `kid` (the RFC 7638 thumbprint unless you choose one), loaded from
//!   PEM, DER or JWK, gathered in a [`KeyRing`] and published as a [`JwkSet`];
//! - [`Minter`] and [`Verifier`], which take time from an injectable [`Clock`];
//! - [`EpochSource`] and [`RevocationCheck`]: what a verifier may ask an issuer's
//!   state, answered by the `issuer` crate and asked by `tower-bearer`.
//!
//! ```
//! use std::time::Duration;
//! use token_core::{Algorithm, Claims, KeyRing, Minter, Scopes, SigningKey, Verifier};
//!
//! // Keys are parsed once; the ring holds the active signing key.
//! let ring = KeyRing::with_signing_key(SigningKey::generate(Algorithm::EdDSA)?.into_signing_key());
//!
//! let minter = Minter::builder(ring.clone())
//!     .issuer("https://auth.example")
//!     .audience("api")
//!     .ttl(Duration::from_secs(900))
//!     .build()?;
//! let verifier = Verifier::builder(ring)
//!     .issuer("https://auth.example")
//!     .audience("api")
//!     .build()?;
//!
//! let scopes: Scopes = "reports:read me:read".parse()?;
//! let token = minter.mint(Claims::for_subject("alice").with_scope(scopes))?.token;
//!
//! let claims = verifier.verify(&token)?;
//! assert!(claims.has_scope("reports:read"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Verification never trusts the token about how to verify it: the key comes from the
//! ring by `kid`, the algorithm from the key, and every failure is one
//! [`VerifyError`] variant you can match on.
#![deny(missing_docs)]

mod algorithm;
mod b64;
mod claims;
mod clock;
mod header;
mod key;
mod keyring;
mod mint;
mod scope;
mod source;
mod verify;

pub use algorithm::{Algorithm, KeyType, UnknownAlgorithm};
pub use claims::{Audience, Claims, NoExtra};
pub use clock::{Clock, ManualClock, SystemClock};
pub use header::ACCESS_TOKEN_TYP;
pub use key::{
    GeneratedKey, InvalidSignature, Jwk, JwkSecret, JwkSet, KeyError, MAX_KID_LEN, SignError,
    SigningKey, SkippedKey, VerifyingKey,
};
pub use keyring::{KeyRing, KeyRingGuard, KeySource, SharedKeyRing};
pub use mint::{DEFAULT_TTL, MintError, Minted, Minter, MinterBuilder};
pub use scope::{ScopeError, Scopes};
pub use source::{BoxFuture, EpochSource, RevocationCheck, RevocationQuery, SourceError};
pub use verify::{
    BuildError, ClaimsCheck, DEFAULT_MAX_TOKEN_LEN, Malformed, Verifier, VerifierBuilder,
    VerifyError, unverified_issuer,
};
