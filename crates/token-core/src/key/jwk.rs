//! JSON Web Keys (RFC 7517, RFC 7518 section 6, RFC 8037) and key sets.

use std::fmt;

use ring::rsa;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::algorithm::{Algorithm, KeyType};
use crate::b64;

use super::material::{Curve, PublicMaterial};
use super::signing::{SigningKey, ecdsa_signing, rsa_rejected};
use super::verifying::VerifyingKey;
use super::{KeyError, check_kid, rng};

/// One JSON Web Key. Members this crate does not use (`x5c`, `x5t`, ...) are ignored
/// on input and never used to find or trust a key.
///
/// Private members are [`JwkSecret`]s: wiped on drop and hidden from `Debug`.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `RSA`, `EC`, `OKP` or `oct`.
    pub kty: String,
    /// Intended use; only `sig` (or none) is accepted for signatures.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Permitted operations; when present it must include `verify` (or `sign`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    /// The algorithm the key is meant for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Curve (`EC`, `OKP`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// X coordinate (`EC`) or public key (`OKP`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// Y coordinate (`EC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Private exponent (`RSA`), private scalar (`EC`) or seed (`OKP`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<JwkSecret>,
    /// RSA first prime factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<JwkSecret>,
    /// RSA second prime factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<JwkSecret>,
    /// RSA first factor CRT exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dp: Option<JwkSecret>,
    /// RSA second factor CRT exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dq: Option<JwkSecret>,
    /// RSA first CRT coefficient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qi: Option<JwkSecret>,
    /// Shared secret (`oct`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<JwkSecret>,
}

/// A private JWK member: wiped from memory on drop, never printed.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JwkSecret(Zeroizing<String>);

impl JwkSecret {
    /// Wraps a base64url value.
    pub fn new(value: impl Into<String>) -> Self {
        JwkSecret(Zeroizing::new(value.into()))
    }

    /// The base64url value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for JwkSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty)
            .field("use", &self.use_)
            .field("key_ops", &self.key_ops)
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("crv", &self.crv)
            .field("private", &self.is_private())
            .finish_non_exhaustive()
    }
}

/// A JWK Set document: `{"keys": [...]}`.
///
/// ```
/// use token_core::{Algorithm, JwkSet, KeyRing, SigningKey};
///
/// let key = SigningKey::generate(Algorithm::EdDSA)?.into_signing_key();
/// let ring = KeyRing::with_signing_key(key);
/// let published = ring.to_jwks().to_json();
///
/// // A verifier elsewhere builds its ring from the published document.
/// let (remote, skipped) = KeyRing::from_jwks(&JwkSet::from_json(published.as_bytes())?);
/// assert!(skipped.is_empty());
/// assert_eq!(remote.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// Parses a JWKS document.
    pub fn from_json(json: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(json)
    }

    /// Prints the document.
    pub fn to_json(&self) -> String {
        // Serialising plain strings into a map cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| String::from(r#"{"keys":[]}"#))
    }
}

/// A key of a JWKS that was left out of a ring, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedKey {
    /// The key's `kid`, if it had one.
    pub kid: Option<String>,
    /// Why it is not usable for verifying signatures.
    pub reason: KeyError,
}

/// Which operation a JWK is being loaded for.
#[derive(Clone, Copy)]
enum Operation {
    Sign,
    Verify,
}

impl Jwk {
    /// True when the key holds private members.
    pub fn is_private(&self) -> bool {
        self.d.is_some() || self.k.is_some()
    }

    /// The algorithm the key serves: its `alg`, or for keys without one the only
    /// algorithm its type and curve allow (`RS256` for RSA keys, as identity
    /// providers that omit `alg` mean). `oct` keys must name their algorithm.
    pub fn algorithm(&self) -> Result<Algorithm, KeyError> {
        let alg = match (&self.alg, self.kty.as_str()) {
            (Some(alg), _) => alg
                .parse()
                .map_err(|_| KeyError::Unsupported("JWK algorithm"))?,
            (None, "RSA") => Algorithm::RS256,
            (None, "EC") => match self.crv.as_deref().and_then(Curve::from_name) {
                Some(Curve::P256) => Algorithm::ES256,
                Some(Curve::P384) => Algorithm::ES384,
                None => return Err(KeyError::Unsupported("JWK curve")),
            },
            (None, "OKP") => Algorithm::EdDSA,
            (None, "oct") => return Err(KeyError::Unsupported("oct JWK without alg")),
            (None, _) => return Err(KeyError::Unsupported("JWK key type")),
        };
        if alg.key_type().as_str() != self.kty {
            return Err(KeyError::WrongKeyType(alg));
        }
        Ok(alg)
    }

    fn check_use(&self, op: Operation) -> Result<(), KeyError> {
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return Err(KeyError::NotForSignatures);
        }
        let wanted = match op {
            Operation::Sign => "sign",
            Operation::Verify => "verify",
        };
        if let Some(ops) = &self.key_ops
            && !ops.iter().any(|o| o == wanted)
        {
            return Err(KeyError::NotForSignatures);
        }
        Ok(())
    }

    fn public_material(&self, alg: Algorithm) -> Result<PublicMaterial, KeyError> {
        match alg.key_type() {
            KeyType::Rsa => PublicMaterial::rsa(&member(&self.n)?, &member(&self.e)?),
            KeyType::Ec => {
                let curve = Curve::of(alg).ok_or(KeyError::WrongKeyType(alg))?;
                if self.crv.as_deref() != Some(curve.name()) {
                    return Err(KeyError::WrongKeyType(alg));
                }
                PublicMaterial::ec_from_coordinates(curve, &member(&self.x)?, &member(&self.y)?)
            }
            KeyType::Okp => {
                if self.crv.as_deref() != Some("Ed25519") {
                    return Err(KeyError::Unsupported("OKP curve other than Ed25519"));
                }
                PublicMaterial::ed25519(&member(&self.x)?)
            }
            KeyType::Oct => Err(KeyError::WrongKeyType(alg)),
        }
    }

    fn kid_or_default<K>(
        &self,
        key: K,
        with_kid: impl FnOnce(K, String) -> Result<K, KeyError>,
    ) -> Result<K, KeyError> {
        match &self.kid {
            Some(kid) => {
                check_kid(kid)?;
                with_kid(key, kid.clone())
            }
            None => Ok(key),
        }
    }
}

/// Decodes a required public member.
fn member(value: &Option<String>) -> Result<Vec<u8>, KeyError> {
    let text = value
        .as_deref()
        .ok_or(KeyError::Malformed("a required JWK member is missing"))?;
    b64::decode(text.as_bytes()).map_err(|_| KeyError::Malformed("JWK member is not base64url"))
}

/// Decodes a required private member.
fn secret(value: &Option<JwkSecret>) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let text = value.as_ref().ok_or(KeyError::Malformed(
        "a required private JWK member is missing",
    ))?;
    b64::decode(text.expose().as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| KeyError::Malformed("JWK member is not base64url"))
}

impl VerifyingKey {
    /// A verifying key from a JWK (public or private; only the public part is kept).
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        jwk.check_use(Operation::Verify)?;
        let alg = jwk.algorithm()?;
        let key = match alg.key_type() {
            KeyType::Oct => VerifyingKey::from_hmac_secret(alg, &secret(&jwk.k)?)?,
            _ => VerifyingKey::from_public_material(alg, jwk.public_material(alg)?)?,
        };
        jwk.kid_or_default(key, VerifyingKey::with_kid)
    }

    /// The public JWK of this key, with `kid`, `alg` and `use: sig`. `None` for HMAC
    /// keys, whose secret must never be published.
    pub fn to_jwk(&self) -> Option<Jwk> {
        let material = self.public_material()?;
        let mut jwk = Jwk {
            kty: self.algorithm().key_type().as_str().to_owned(),
            use_: Some("sig".to_owned()),
            alg: Some(self.algorithm().as_str().to_owned()),
            kid: Some(self.kid().to_owned()),
            ..Jwk::default()
        };
        match material {
            PublicMaterial::Rsa { n, e } => {
                jwk.n = Some(b64::encode(n));
                jwk.e = Some(b64::encode(e));
            }
            PublicMaterial::Ec { curve, point } => {
                let (x, y) = PublicMaterial::ec_coordinates(*curve, point);
                jwk.crv = Some(curve.name().to_owned());
                jwk.x = Some(b64::encode(x));
                jwk.y = Some(b64::encode(y));
            }
            PublicMaterial::Ed25519(x) => {
                jwk.crv = Some("Ed25519".to_owned());
                jwk.x = Some(b64::encode(x));
            }
        }
        Some(jwk)
    }
}

impl SigningKey {
    /// A signing key from a private JWK.
    ///
    /// ```
    /// use token_core::{Jwk, SigningKey};
    ///
    /// // RFC 7515 appendix A.1's HMAC key.
    /// let jwk: Jwk = serde_json::from_str(r#"{"kty":"oct","alg":"HS256",
    ///     "k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#)?;
    /// let key = SigningKey::from_jwk(&jwk)?;
    /// assert_eq!(key.algorithm().as_str(), "HS256");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        jwk.check_use(Operation::Sign)?;
        let alg = jwk.algorithm()?;
        let key = match alg.key_type() {
            KeyType::Oct => SigningKey::from_hmac_secret(alg, &secret(&jwk.k)?)?,
            KeyType::Rsa => {
                let (n, e) = (member(&jwk.n)?, member(&jwk.e)?);
                let components = rsa::KeyPairComponents {
                    public_key: rsa::PublicKeyComponents {
                        n: &n[..],
                        e: &e[..],
                    },
                    d: &secret(&jwk.d)?[..],
                    p: &secret(&jwk.p)?[..],
                    q: &secret(&jwk.q)?[..],
                    dP: &secret(&jwk.dp)?[..],
                    dQ: &secret(&jwk.dq)?[..],
                    qInv: &secret(&jwk.qi)?[..],
                };
                SigningKey::rsa(
                    alg,
                    RsaKeyPair::from_components(&components).map_err(rsa_rejected)?,
                )?
            }
            KeyType::Ec => {
                let PublicMaterial::Ec { point, .. } = jwk.public_material(alg)? else {
                    return Err(KeyError::WrongKeyType(alg));
                };
                let signing = ecdsa_signing(alg).ok_or(KeyError::WrongKeyType(alg))?;
                let pair = EcdsaKeyPair::from_private_key_and_public_key(
                    signing,
                    &secret(&jwk.d)?,
                    &point,
                    rng(),
                )?;
                SigningKey::ecdsa(alg, pair)?
            }
            KeyType::Okp => {
                let PublicMaterial::Ed25519(x) = jwk.public_material(alg)? else {
                    return Err(KeyError::WrongKeyType(alg));
                };
                let pair = Ed25519KeyPair::from_seed_and_public_key(&secret(&jwk.d)?, &x)?;
                SigningKey::ed25519(pair)?
            }
        };
        jwk.kid_or_default(key, SigningKey::with_kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwk(json: &str) -> Jwk {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn refuses_keys_not_meant_for_signatures() {
        let mut key = SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .into_signing_key()
            .verifying_key()
            .to_jwk()
            .unwrap();
        key.use_ = Some("enc".into());
        assert_eq!(
            VerifyingKey::from_jwk(&key).unwrap_err(),
            KeyError::NotForSignatures
        );
        key.use_ = None;
        key.key_ops = Some(vec!["encrypt".into()]);
        assert_eq!(
            VerifyingKey::from_jwk(&key).unwrap_err(),
            KeyError::NotForSignatures
        );
        key.key_ops = Some(vec!["verify".into()]);
        assert!(VerifyingKey::from_jwk(&key).is_ok());
    }

    #[test]
    fn algorithm_and_type_must_agree() {
        let okp_as_es = jwk(
            r#"{"kty":"OKP","crv":"Ed25519","alg":"ES256","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
        );
        assert_eq!(
            VerifyingKey::from_jwk(&okp_as_es).unwrap_err(),
            KeyError::WrongKeyType(Algorithm::ES256)
        );
        let oct_without_alg = jwk(r#"{"kty":"oct","k":"AAAA"}"#);
        assert!(matches!(
            VerifyingKey::from_jwk(&oct_without_alg),
            Err(KeyError::Unsupported(_))
        ));
        let p521 = jwk(r#"{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}"#);
        assert!(matches!(
            VerifyingKey::from_jwk(&p521),
            Err(KeyError::Unsupported(_))
        ));
    }

    #[test]
    fn public_export_round_trips_and_keeps_the_kid() {
        for alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::ES384] {
            let key = SigningKey::generate(alg).unwrap().into_signing_key();
            let exported = key.verifying_key().to_jwk().unwrap();
            assert!(!exported.is_private());
            let back = VerifyingKey::from_jwk(&exported).unwrap();
            assert_eq!(back.kid(), key.kid());
            let sig = key.sign(b"m").unwrap();
            assert!(back.verify_signature(b"m", &sig).is_ok());
        }
    }

    #[test]
    fn hmac_keys_are_never_exported() {
        let key = SigningKey::from_hmac_secret(Algorithm::HS256, &[1; 32]).unwrap();
        assert!(key.verifying_key().to_jwk().is_none());
    }

    #[test]
    fn debug_hides_private_members() {
        let key = jwk(r#"{"kty":"oct","alg":"HS256","k":"c2VjcmV0LXZhbHVl"}"#);
        let shown = format!("{key:?}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
    }
}
