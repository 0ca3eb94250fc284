//! The signature check of a public key, by crypto library.
//!
//! *ring* is the default. With the `aws-lc-rs` feature, public keys are parsed once
//! by aws-lc instead, whose Ed25519, P-256 and RSA verification measured faster on
//! the bench machine (see BENCHMARKS.md); HMAC, signing and randomness stay on ring.
//! Both libraries refuse non-canonical Ed25519 `S` values and ECDSA signatures that
//! are not fixed-width `r || s`.

use crate::algorithm::Algorithm;

use super::KeyError;
use super::material::PublicMaterial;

pub(crate) use imp::PublicCheck;

#[cfg(not(feature = "aws-lc-rs"))]
mod imp {
    use ring::signature::{self, RsaPublicKeyComponents, VerificationAlgorithm};

    use super::{Algorithm, KeyError, PublicMaterial};

    /// ring verifies from the raw public values each time.
    #[derive(Clone)]
    pub(crate) struct PublicCheck {
        algorithm: Algorithm,
    }

    impl PublicCheck {
        pub(crate) fn new(alg: Algorithm, _material: &PublicMaterial) -> Result<Self, KeyError> {
            Ok(PublicCheck { algorithm: alg })
        }

        pub(crate) fn verify(
            &self,
            material: &PublicMaterial,
            message: &[u8],
            signature: &[u8],
        ) -> bool {
            match material {
                PublicMaterial::Rsa { n, e } => {
                    rsa_parameters(self.algorithm).is_some_and(|params| {
                        RsaPublicKeyComponents { n, e }
                            .verify(params, message, signature)
                            .is_ok()
                    })
                }
                PublicMaterial::Ec { point, .. } => {
                    ecdsa_algorithm(self.algorithm).is_some_and(|alg| {
                        signature::UnparsedPublicKey::new(alg, point)
                            .verify(message, signature)
                            .is_ok()
                    })
                }
                PublicMaterial::Ed25519(public) => {
                    signature::UnparsedPublicKey::new(&signature::ED25519, public)
                        .verify(message, signature)
                        .is_ok()
                }
            }
        }
    }

    fn rsa_parameters(alg: Algorithm) -> Option<&'static signature::RsaParameters> {
        match alg {
            Algorithm::RS256 => Some(&signature::RSA_PKCS1_2048_8192_SHA256),
            Algorithm::RS384 => Some(&signature::RSA_PKCS1_2048_8192_SHA384),
            Algorithm::RS512 => Some(&signature::RSA_PKCS1_2048_8192_SHA512),
            Algorithm::PS256 => Some(&signature::RSA_PSS_2048_8192_SHA256),
            Algorithm::PS384 => Some(&signature::RSA_PSS_2048_8192_SHA384),
            Algorithm::PS512 => Some(&signature::RSA_PSS_2048_8192_SHA512),
            _ => None,
        }
    }

    fn ecdsa_algorithm(alg: Algorithm) -> Option<&'static dyn VerificationAlgorithm> {
        match alg {
            Algorithm::ES256 => Some(&signature::ECDSA_P256_SHA256_FIXED),
            Algorithm::ES384 => Some(&signature::ECDSA_P384_SHA384_FIXED),
            _ => None,
        }
    }
}

#[cfg(feature = "aws-lc-rs")]
mod imp {
    use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
    use pkcs1::der::Encode as _;

    use super::{Algorithm, KeyError, PublicMaterial};

    /// aws-lc parses the key once, here.
    #[derive(Clone)]
    pub(crate) struct PublicCheck {
        parsed: ParsedPublicKey,
    }

    impl PublicCheck {
        pub(crate) fn new(alg: Algorithm, material: &PublicMaterial) -> Result<Self, KeyError> {
            let algorithm = verification(alg).ok_or(KeyError::WrongKeyType(alg))?;
            let parsed = match material {
                PublicMaterial::Rsa { n, e } => {
                    let der = pkcs1::RsaPublicKey {
                        modulus: pkcs1::UintRef::new(n)
                            .map_err(|_| KeyError::Malformed("RSA modulus"))?,
                        public_exponent: pkcs1::UintRef::new(e)
                            .map_err(|_| KeyError::Malformed("RSA exponent"))?,
                    }
                    .to_der()
                    .map_err(|_| KeyError::Malformed("RSA public key"))?;
                    ParsedPublicKey::new(algorithm, der)
                }
                PublicMaterial::Ec { point, .. } => ParsedPublicKey::new(algorithm, point),
                PublicMaterial::Ed25519(public) => ParsedPublicKey::new(algorithm, public),
            }
            .map_err(|rejected| KeyError::Rejected(rejected.to_string()))?;
            Ok(PublicCheck { parsed })
        }

        pub(crate) fn verify(
            &self,
            _material: &PublicMaterial,
            message: &[u8],
            signature: &[u8],
        ) -> bool {
            self.parsed.verify_sig(message, signature).is_ok()
        }
    }

    fn verification(alg: Algorithm) -> Option<&'static dyn VerificationAlgorithm> {
        Some(match alg {
            Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
            Algorithm::EdDSA => &signature::ED25519,
            _ => return None,
        })
    }
}
