//! Keys: parsed once, each bound to exactly one algorithm and named by a `kid`.
//!
//! Every way in (PEM, DER, JWK, generation) ends in the same checks: the key type
//! must fit the algorithm, RSA moduli have at least 2048 bits, elliptic curves match
//! their algorithm and HMAC secrets are at least as long as the hash.

mod backend;
mod der;
mod jwk;
mod material;
mod signing;
mod thumbprint;
mod verifying;

pub use jwk::{Jwk, JwkSecret, JwkSet, SkippedKey};
pub use signing::{GeneratedKey, SignError, SigningKey};
pub use verifying::{InvalidSignature, VerifyingKey};

use crate::algorithm::Algorithm;

/// The longest `kid` a key may carry. Longer ids are refused when a key is loaded,
/// so a lookup never compares against attacker-sized strings of ours.
pub const MAX_KID_LEN: usize = 256;

/// Why a key could not be loaded or generated. Messages never contain key material.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is of a different type than the algorithm needs (say, an EC key for RS256).
    #[error("the key does not fit algorithm {0}")]
    WrongKeyType(Algorithm),
    /// An HMAC secret shorter than the algorithm's hash output.
    #[error("{alg} needs a secret of at least {min} bytes")]
    SecretTooShort {
        /// The algorithm.
        alg: Algorithm,
        /// Its minimum secret length in bytes.
        min: usize,
    },
    /// An RSA modulus below 2048 bits (or above what the crypto library accepts).
    #[error("RSA keys must have between 2048 and 8192 bits")]
    RsaKeySize,
    /// The key is well-formed but of a kind this crate does not support.
    #[error("unsupported key: {0}")]
    Unsupported(&'static str),
    /// The key's encoding is broken.
    #[error("malformed key: {0}")]
    Malformed(&'static str),
    /// The crypto library rejected the key (inconsistent or invalid values).
    #[error("key rejected: {0}")]
    Rejected(String),
    /// The key id is empty or longer than [`MAX_KID_LEN`].
    #[error("key id must be between 1 and 256 bytes")]
    InvalidKid,
    /// Two keys in one ring share a key id.
    #[error("two keys share the key id {0:?}")]
    DuplicateKid(String),
    /// The JWK's `use` or `key_ops` forbid signatures.
    #[error("the key is not meant for signatures")]
    NotForSignatures,
}

impl From<ring::error::KeyRejected> for KeyError {
    fn from(rejected: ring::error::KeyRejected) -> Self {
        KeyError::Rejected(rejected.to_string())
    }
}

/// Checks a key id a caller chose.
fn check_kid(kid: &str) -> Result<(), KeyError> {
    if kid.is_empty() || kid.len() > MAX_KID_LEN {
        Err(KeyError::InvalidKid)
    } else {
        Ok(())
    }
}

/// The process-wide random source for key generation, nonces and token ids.
pub(crate) fn rng() -> &'static ring::rand::SystemRandom {
    static RNG: std::sync::OnceLock<ring::rand::SystemRandom> = std::sync::OnceLock::new();
    RNG.get_or_init(ring::rand::SystemRandom::new)
}
