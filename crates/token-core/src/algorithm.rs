//! The JWS algorithms this crate signs and verifies with.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A JWS signature algorithm (RFC 7518 section 3, RFC 8037 for `EdDSA`).
///
/// Every key carries exactly one algorithm. A verifier never takes the algorithm
/// from a token's header: the header's `alg` must merely agree with the key's.
/// `none` is not an algorithm here, in any letter case.
///
/// ```
/// use token_core::Algorithm;
///
/// let alg: Algorithm = "ES256".parse()?;
/// assert_eq!(alg, Algorithm::ES256);
/// assert!("none".parse::<Algorithm>().is_err());
/// assert!("es256".parse::<Algorithm>().is_err()); // names are case-sensitive
/// # Ok::<(), token_core::UnknownAlgorithm>(())
/// ```
#[allow(clippy::upper_case_acronyms)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384 and MGF1 with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512 and MGF1 with SHA-512.
    PS512,
    /// ECDSA over P-256 with SHA-256.
    ES256,
    /// ECDSA over P-384 with SHA-384.
    ES384,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

/// The kind of key an [`Algorithm`] needs, named by its JWK `kty`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// A shared secret (`oct`).
    Oct,
    /// An RSA key pair (`RSA`).
    Rsa,
    /// An elliptic-curve key pair (`EC`).
    Ec,
    /// An octet key pair such as Ed25519 (`OKP`).
    Okp,
}

impl KeyType {
    /// The JWK `kty` value.
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyType::Oct => "oct",
            KeyType::Rsa => "RSA",
            KeyType::Ec => "EC",
            KeyType::Okp => "OKP",
        }
    }
}

impl Algorithm {
    /// Every supported algorithm, in a stable order.
    pub const ALL: [Algorithm; 12] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The registered `alg` name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The key type this algorithm needs.
    pub const fn key_type(self) -> KeyType {
        match self {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => KeyType::Oct,
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => KeyType::Rsa,
            Algorithm::ES256 | Algorithm::ES384 => KeyType::Ec,
            Algorithm::EdDSA => KeyType::Okp,
        }
    }

    /// True for the HMAC algorithms, whose key is a shared secret.
    pub const fn is_symmetric(self) -> bool {
        matches!(self.key_type(), KeyType::Oct)
    }

    /// The smallest HMAC key this algorithm accepts, in bytes: the hash output size,
    /// as RFC 7518 section 3.2 requires. Zero for asymmetric algorithms.
    pub const fn min_secret_len(self) -> usize {
        match self {
            Algorithm::HS256 => 32,
            Algorithm::HS384 => 48,
            Algorithm::HS512 => 64,
            _ => 0,
        }
    }

    /// The JWK `crv` of the curve an elliptic-curve or OKP algorithm is bound to.
    pub const fn curve(self) -> Option<&'static str> {
        match self {
            Algorithm::ES256 => Some("P-256"),
            Algorithm::ES384 => Some("P-384"),
            Algorithm::EdDSA => Some("Ed25519"),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for an `alg` name this crate does not support (including `none`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unsupported algorithm")]
pub struct UnknownAlgorithm;

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|alg| alg.as_str() == name)
            .ok_or(UnknownAlgorithm)
    }
}

impl Serialize for Algorithm {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Algorithm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.as_str().parse::<Algorithm>(), Ok(alg));
        }
    }

    #[test]
    fn none_and_lowercase_are_unknown() {
        for name in ["none", "None", "NONE", "hs256", "Ed25519", ""] {
            assert_eq!(name.parse::<Algorithm>(), Err(UnknownAlgorithm), "{name}");
        }
    }

    #[test]
    fn hmac_minimum_is_the_hash_size() {
        assert_eq!(Algorithm::HS256.min_secret_len(), 32);
        assert_eq!(Algorithm::HS384.min_secret_len(), 48);
        assert_eq!(Algorithm::HS512.min_secret_len(), 64);
    }
}
