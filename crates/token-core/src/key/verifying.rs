//! Keys that check signatures.

use std::fmt;

use ring::hmac;

use crate::algorithm::{Algorithm, KeyType};
use crate::header;

use super::backend::PublicCheck;
use super::der::{self, PemKey};
use super::material::PublicMaterial;
use super::{KeyError, check_kid, thumbprint};

/// A key that verifies signatures for exactly one [`Algorithm`], named by its `kid`.
///
/// The key is parsed and checked once, when it is built. Its `Debug` output shows the
/// algorithm and key id only.
///
/// ```
/// use token_core::{Algorithm, SigningKey};
///
/// let signing = SigningKey::generate(Algorithm::ES256)?.into_signing_key();
/// let verifying = signing.verifying_key();
/// assert_eq!(verifying.algorithm(), Algorithm::ES256);
/// assert_eq!(verifying.kid(), signing.kid()); // the RFC 7638 thumbprint
/// # Ok::<(), token_core::KeyError>(())
/// ```
#[derive(Clone)]
pub struct VerifyingKey {
    alg: Algorithm,
    kid: Box<str>,
    check: Check,
    /// The encoded header this crate's minter writes for this key, so verifying our
    /// own tokens can skip decoding the header (see `header`).
    minted_header: Box<str>,
}

/// How a key checks a signature, with everything parsed up front.
#[derive(Clone)]
enum Check {
    Hmac(hmac::Key),
    Public {
        material: PublicMaterial,
        check: PublicCheck,
    },
}

/// A signature did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid signature")]
pub struct InvalidSignature;

impl VerifyingKey {
    /// A key for an HMAC algorithm from its shared secret.
    pub fn from_hmac_secret(alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        let hmac_alg = hmac_algorithm(alg).ok_or(KeyError::WrongKeyType(alg))?;
        let min = alg.min_secret_len();
        if secret.len() < min {
            return Err(KeyError::SecretTooShort { alg, min });
        }
        let kid = thumbprint::of_secret(secret);
        Ok(Self::assemble(
            alg,
            kid,
            Check::Hmac(hmac::Key::new(hmac_alg, secret)),
        ))
    }

    /// A public key from PEM: `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY`
    /// (PKCS#1).
    ///
    /// ```
    /// use token_core::{Algorithm, VerifyingKey};
    ///
    /// let pem = "-----BEGIN PUBLIC KEY-----\n\
    ///            MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n\
    ///            -----END PUBLIC KEY-----\n";
    /// let key = VerifyingKey::from_pem(Algorithm::EdDSA, pem)?;
    /// assert_eq!(key.algorithm(), Algorithm::EdDSA);
    /// assert!(VerifyingKey::from_pem(Algorithm::ES256, pem).is_err());
    /// # Ok::<(), token_core::KeyError>(())
    /// ```
    pub fn from_pem(alg: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        match der::read_pem(pem.as_ref())? {
            PemKey::Spki(der) => Self::from_public_material(alg, der::spki(&der)?),
            PemKey::Pkcs1Public(der) => Self::from_public_material(alg, der::pkcs1_public(&der)?),
            PemKey::Pkcs8(_) | PemKey::Pkcs1Private(_) => Err(KeyError::Unsupported(
                "private keys here; load a SigningKey and take its verifying key",
            )),
        }
    }

    /// A public key from DER: SubjectPublicKeyInfo, or PKCS#1 `RSAPublicKey` for RSA.
    pub fn from_der(alg: Algorithm, der: &[u8]) -> Result<Self, KeyError> {
        let material = match der::spki(der) {
            Ok(material) => material,
            Err(spki_err) if alg.key_type() == KeyType::Rsa => {
                der::pkcs1_public(der).map_err(|_| spki_err)?
            }
            Err(err) => return Err(err),
        };
        Self::from_public_material(alg, material)
    }

    /// Binds public material to `alg`, after checking it fits.
    pub(crate) fn from_public_material(
        alg: Algorithm,
        material: PublicMaterial,
    ) -> Result<Self, KeyError> {
        material.check_fits(alg)?;
        let kid = thumbprint::of_public(&material);
        let check = Check::Public {
            check: PublicCheck::new(alg, &material)?,
            material,
        };
        Ok(Self::assemble(alg, kid, check))
    }

    fn assemble(alg: Algorithm, kid: String, check: Check) -> Self {
        let minted_header = header::encode(alg, &kid, Some(header::ACCESS_TOKEN_TYP)).into();
        VerifyingKey {
            alg,
            kid: kid.into(),
            check,
            minted_header,
        }
    }

    /// Replaces the key id (by default the RFC 7638 thumbprint).
    pub fn with_kid(mut self, kid: impl Into<String>) -> Result<Self, KeyError> {
        let kid = kid.into();
        check_kid(&kid)?;
        self.minted_header = header::encode(self.alg, &kid, Some(header::ACCESS_TOKEN_TYP)).into();
        self.kid = kid.into();
        Ok(self)
    }

    /// The algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// True for an HMAC key, which must never be published.
    pub fn is_symmetric(&self) -> bool {
        matches!(self.check, Check::Hmac(_))
    }

    /// The header segment our minter writes for this key with the default `typ`.
    pub(crate) fn minted_header(&self) -> &str {
        &self.minted_header
    }

    /// The public material, for JWK export. `None` for HMAC keys.
    pub(crate) fn public_material(&self) -> Option<&PublicMaterial> {
        match &self.check {
            Check::Hmac(_) => None,
            Check::Public { material, .. } => Some(material),
        }
    }

    /// Checks `signature` over `message` with this key's algorithm. This is the raw
    /// JWS signature check; [`Verifier`](crate::Verifier) adds everything else.
    ///
    /// ECDSA signatures must be in the fixed-width `r || s` form JWS uses, never DER.
    /// Ed25519 signatures with a non-canonical `S` are refused. HMAC tags are
    /// compared in constant time.
    pub fn verify_signature(
        &self,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let ok = match &self.check {
            Check::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
            Check::Public { material, check } => check.verify(material, message, signature),
        };
        if ok { Ok(()) } else { Err(InvalidSignature) }
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

pub(crate) fn hmac_algorithm(alg: Algorithm) -> Option<hmac::Algorithm> {
    match alg {
        Algorithm::HS256 => Some(hmac::HMAC_SHA256),
        Algorithm::HS384 => Some(hmac::HMAC_SHA384),
        Algorithm::HS512 => Some(hmac::HMAC_SHA512),
        _ => None,
    }
}
