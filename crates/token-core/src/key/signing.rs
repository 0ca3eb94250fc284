//! Keys that sign.

use std::fmt;

use ring::hmac;
use ring::rand::SecureRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaEncoding, RsaKeyPair};
use zeroize::Zeroizing;

use crate::algorithm::{Algorithm, KeyType};

use super::der::{self, PemKey};
use super::material::PublicMaterial;
use super::verifying::{VerifyingKey, hmac_algorithm};
use super::{KeyError, rng};

/// A private key (or HMAC secret) that signs for exactly one [`Algorithm`].
///
/// It carries its [`VerifyingKey`], so a ring holding it verifies what it signs. The
/// private part is never printed: `Debug` shows the algorithm and key id only.
///
/// ```
/// use token_core::{Algorithm, SigningKey};
///
/// let key = SigningKey::from_hmac_secret(Algorithm::HS256, &[7u8; 32])?;
/// assert_eq!(key.algorithm(), Algorithm::HS256);
/// assert!(!format!("{key:?}").contains("7, 7"));
///
/// // Secrets shorter than the hash are refused (RFC 7518 section 3.2).
/// assert!(SigningKey::from_hmac_secret(Algorithm::HS256, b"short").is_err());
/// # Ok::<(), token_core::KeyError>(())
/// ```
pub struct SigningKey {
    alg: Algorithm,
    sign: Sign,
    verifying: VerifyingKey,
}

enum Sign {
    Hmac(hmac::Key),
    Rsa(RsaKeyPair, &'static dyn RsaEncoding),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl SigningKey {
    /// An HMAC key from its shared secret (at least as long as the hash output).
    pub fn from_hmac_secret(alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        let verifying = VerifyingKey::from_hmac_secret(alg, secret)?;
        let hmac_alg = hmac_algorithm(alg).ok_or(KeyError::WrongKeyType(alg))?;
        Ok(SigningKey {
            alg,
            sign: Sign::Hmac(hmac::Key::new(hmac_alg, secret)),
            verifying,
        })
    }

    /// A private key from PEM: `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1).
    pub fn from_pem(alg: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        match der::read_pem(pem.as_ref())? {
            PemKey::Pkcs8(der) => Self::from_pkcs8_der(alg, &der),
            PemKey::Pkcs1Private(der) => Self::from_pkcs1_der(alg, &der),
            PemKey::Spki(_) | PemKey::Pkcs1Public(_) => Err(KeyError::Unsupported(
                "public keys cannot sign; use VerifyingKey::from_pem",
            )),
        }
    }

    /// A private key from DER: PKCS#8, or PKCS#1 `RSAPrivateKey` for RSA.
    pub fn from_der(alg: Algorithm, der: &[u8]) -> Result<Self, KeyError> {
        match Self::from_pkcs8_der(alg, der) {
            Err(pkcs8_err) if alg.key_type() == KeyType::Rsa => {
                Self::from_pkcs1_der(alg, der).map_err(|_| pkcs8_err)
            }
            other => other,
        }
    }

    fn from_pkcs8_der(alg: Algorithm, der: &[u8]) -> Result<Self, KeyError> {
        match alg.key_type() {
            KeyType::Oct => Err(KeyError::WrongKeyType(alg)),
            KeyType::Rsa => Self::rsa(alg, RsaKeyPair::from_pkcs8(der).map_err(rsa_rejected)?),
            KeyType::Ec => {
                let signing = ecdsa_signing(alg).ok_or(KeyError::WrongKeyType(alg))?;
                Self::ecdsa(alg, EcdsaKeyPair::from_pkcs8(signing, der, rng())?)
            }
            KeyType::Okp => Self::ed25519(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)?),
        }
    }

    fn from_pkcs1_der(alg: Algorithm, der: &[u8]) -> Result<Self, KeyError> {
        if alg.key_type() != KeyType::Rsa {
            return Err(KeyError::WrongKeyType(alg));
        }
        Self::rsa(alg, RsaKeyPair::from_der(der).map_err(rsa_rejected)?)
    }

    pub(crate) fn rsa(alg: Algorithm, pair: RsaKeyPair) -> Result<Self, KeyError> {
        let encoding = rsa_encoding(alg).ok_or(KeyError::WrongKeyType(alg))?;
        let public: signature::RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
        let material = PublicMaterial::rsa(&public.n, &public.e)?;
        Ok(SigningKey {
            alg,
            verifying: VerifyingKey::from_public_material(alg, material)?,
            sign: Sign::Rsa(pair, encoding),
        })
    }

    pub(crate) fn ecdsa(alg: Algorithm, pair: EcdsaKeyPair) -> Result<Self, KeyError> {
        let curve = super::material::Curve::of(alg).ok_or(KeyError::WrongKeyType(alg))?;
        let material = PublicMaterial::Ec {
            curve,
            point: pair.public_key().as_ref().to_vec(),
        };
        Ok(SigningKey {
            alg,
            verifying: VerifyingKey::from_public_material(alg, material)?,
            sign: Sign::Ecdsa(pair),
        })
    }

    pub(crate) fn ed25519(pair: Ed25519KeyPair) -> Result<Self, KeyError> {
        let material = PublicMaterial::ed25519(pair.public_key().as_ref())?;
        Ok(SigningKey {
            alg: Algorithm::EdDSA,
            verifying: VerifyingKey::from_public_material(Algorithm::EdDSA, material)?,
            sign: Sign::Ed25519(pair),
        })
    }

    /// Generates a new key: EdDSA, ES256, ES384 or an HMAC secret of the hash's size.
    /// (RSA keys cannot be generated here; bring one made by `openssl genpkey`.)
    ///
    /// ```
    /// use token_core::{Algorithm, SigningKey};
    ///
    /// let generated = SigningKey::generate(Algorithm::EdDSA)?;
    /// let pem = generated.pkcs8_pem().expect("asymmetric keys export as PKCS#8");
    /// let reloaded = SigningKey::from_pem(Algorithm::EdDSA, pem.as_bytes())?;
    /// assert_eq!(reloaded.kid(), generated.signing_key().kid());
    /// # Ok::<(), token_core::KeyError>(())
    /// ```
    pub fn generate(alg: Algorithm) -> Result<GeneratedKey, KeyError> {
        let (key, secret) = match alg.key_type() {
            KeyType::Oct => {
                let mut bytes = Zeroizing::new(vec![0u8; alg.min_secret_len()]);
                rng()
                    .fill(&mut bytes)
                    .map_err(|_| KeyError::Rejected("the system random source failed".into()))?;
                (Self::from_hmac_secret(alg, &bytes)?, Secret::Hmac(bytes))
            }
            KeyType::Okp => {
                let doc = Ed25519KeyPair::generate_pkcs8(rng())
                    .map_err(|_| KeyError::Rejected("the system random source failed".into()))?;
                let der = Zeroizing::new(doc.as_ref().to_vec());
                (Self::from_pkcs8_der(alg, &der)?, Secret::Pkcs8(der))
            }
            KeyType::Ec => {
                let signing = ecdsa_signing(alg).ok_or(KeyError::WrongKeyType(alg))?;
                let doc = EcdsaKeyPair::generate_pkcs8(signing, rng())
                    .map_err(|_| KeyError::Rejected("the system random source failed".into()))?;
                let der = Zeroizing::new(doc.as_ref().to_vec());
                (Self::from_pkcs8_der(alg, &der)?, Secret::Pkcs8(der))
            }
            KeyType::Rsa => return Err(KeyError::Unsupported("RSA key generation")),
        };
        Ok(GeneratedKey { key, secret })
    }

    /// Replaces the key id (by default the RFC 7638 thumbprint of the public key).
    pub fn with_kid(mut self, kid: impl Into<String>) -> Result<Self, KeyError> {
        self.verifying = self.verifying.with_kid(kid)?;
        Ok(self)
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        self.verifying.kid()
    }

    /// The key that verifies this key's signatures.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
    }

    /// Signs `message`, appending the JWS signature bytes to `out`.
    pub(crate) fn sign_into(&self, message: &[u8], out: &mut Vec<u8>) -> Result<(), SignError> {
        match &self.sign {
            Sign::Hmac(key) => out.extend_from_slice(hmac::sign(key, message).as_ref()),
            Sign::Ed25519(pair) => out.extend_from_slice(pair.sign(message).as_ref()),
            Sign::Ecdsa(pair) => {
                let sig = pair.sign(rng(), message).map_err(|_| SignError)?;
                out.extend_from_slice(sig.as_ref());
            }
            Sign::Rsa(pair, encoding) => {
                let start = out.len();
                out.resize(start + pair.public().modulus_len(), 0);
                pair.sign(*encoding, rng(), message, &mut out[start..])
                    .map_err(|_| SignError)?;
            }
        }
        Ok(())
    }

    /// Signs `message` and returns the raw signature.
    ///
    /// ```
    /// use token_core::{Algorithm, SigningKey};
    ///
    /// let key = SigningKey::generate(Algorithm::ES256)?.into_signing_key();
    /// let sig = key.sign(b"hello").expect("signing works");
    /// assert_eq!(sig.len(), 64); // r || s, as JWS wants
    /// assert!(key.verifying_key().verify_signature(b"hello", &sig).is_ok());
    /// # Ok::<(), token_core::KeyError>(())
    /// ```
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut out = Vec::new();
        self.sign_into(message, &mut out)?;
        Ok(out)
    }
}

/// Signing failed: the system random source (ECDSA and RSA-PSS need fresh randomness)
/// or the crypto library refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("signing failed")]
pub struct SignError;

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

/// A freshly generated key with its private encoding, to be stored by the caller.
pub struct GeneratedKey {
    key: SigningKey,
    secret: Secret,
}

enum Secret {
    Pkcs8(Zeroizing<Vec<u8>>),
    Hmac(Zeroizing<Vec<u8>>),
}

impl GeneratedKey {
    /// The key, ready to sign.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// Takes the key, dropping the private encoding.
    pub fn into_signing_key(self) -> SigningKey {
        self.key
    }

    /// The private key as PKCS#8 PEM, for asymmetric keys. Store it with care.
    pub fn pkcs8_pem(&self) -> Option<Zeroizing<String>> {
        match &self.secret {
            Secret::Pkcs8(der) => {
                pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, der)
                    .ok()
                    .map(Zeroizing::new)
            }
            Secret::Hmac(_) => None,
        }
    }

    /// The raw shared secret, for HMAC keys. Store it with care.
    pub fn hmac_secret(&self) -> Option<&[u8]> {
        match &self.secret {
            Secret::Hmac(bytes) => Some(bytes),
            Secret::Pkcs8(_) => None,
        }
    }
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The crypto library reports RSA moduli outside its range as "too small" or "too
/// large"; say which rule was broken.
pub(crate) fn rsa_rejected(rejected: ring::error::KeyRejected) -> KeyError {
    match rejected.to_string().as_str() {
        "TooSmall" | "TooLarge" => KeyError::RsaKeySize,
        _ => rejected.into(),
    }
}

fn rsa_encoding(alg: Algorithm) -> Option<&'static dyn RsaEncoding> {
    match alg {
        Algorithm::RS256 => Some(&signature::RSA_PKCS1_SHA256),
        Algorithm::RS384 => Some(&signature::RSA_PKCS1_SHA384),
        Algorithm::RS512 => Some(&signature::RSA_PKCS1_SHA512),
        Algorithm::PS256 => Some(&signature::RSA_PSS_SHA256),
        Algorithm::PS384 => Some(&signature::RSA_PSS_SHA384),
        Algorithm::PS512 => Some(&signature::RSA_PSS_SHA512),
        _ => None,
    }
}

pub(crate) fn ecdsa_signing(alg: Algorithm) -> Option<&'static signature::EcdsaSigningAlgorithm> {
    match alg {
        Algorithm::ES256 => Some(&signature::ECDSA_P256_SHA256_FIXED_SIGNING),
        Algorithm::ES384 => Some(&signature::ECDSA_P384_SHA384_FIXED_SIGNING),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_sign_and_verify() {
        for alg in [
            Algorithm::EdDSA,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::HS256,
            Algorithm::HS384,
            Algorithm::HS512,
        ] {
            let key = SigningKey::generate(alg).unwrap().into_signing_key();
            let sig = key.sign(b"message").unwrap();
            assert!(
                key.verifying_key()
                    .verify_signature(b"message", &sig)
                    .is_ok()
            );
            assert!(
                key.verifying_key()
                    .verify_signature(b"massage", &sig)
                    .is_err()
            );
        }
    }

    #[test]
    fn rsa_generation_is_refused_clearly() {
        assert!(matches!(
            SigningKey::generate(Algorithm::RS256),
            Err(KeyError::Unsupported(_))
        ));
    }

    #[test]
    fn a_key_cannot_serve_another_family() {
        let generated = SigningKey::generate(Algorithm::ES256).unwrap();
        let pem = generated.pkcs8_pem().unwrap();
        assert!(SigningKey::from_pem(Algorithm::ES384, pem.as_bytes()).is_err());
        assert!(SigningKey::from_pem(Algorithm::EdDSA, pem.as_bytes()).is_err());
        assert!(SigningKey::from_pem(Algorithm::HS256, pem.as_bytes()).is_err());
    }
}
