//! Reading keys from DER and PEM: SubjectPublicKeyInfo and PKCS#1 for public keys;
//! PKCS#8 and PKCS#1 for private keys (those go straight to the crypto library).

use pkcs1::RsaPublicKeyRef;
use spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};

use super::KeyError;
use super::material::{Curve, PublicMaterial};

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// A PEM block's contents, by label.
pub(crate) enum PemKey {
    /// `PUBLIC KEY`: SubjectPublicKeyInfo.
    Spki(Vec<u8>),
    /// `RSA PUBLIC KEY`: PKCS#1.
    Pkcs1Public(Vec<u8>),
    /// `PRIVATE KEY`: PKCS#8.
    Pkcs8(zeroize::Zeroizing<Vec<u8>>),
    /// `RSA PRIVATE KEY`: PKCS#1.
    Pkcs1Private(zeroize::Zeroizing<Vec<u8>>),
}

/// Reads the first PEM block of `text`.
pub(crate) fn read_pem(text: &[u8]) -> Result<PemKey, KeyError> {
    // Tolerate the whitespace editors and `echo` leave around a key; the block itself
    // must follow RFC 7468 strictly.
    let text = text.trim_ascii();
    let (label, contents) =
        pem_rfc7468::decode_vec(text).map_err(|_| KeyError::Malformed("not a PEM document"))?;
    match label {
        "PUBLIC KEY" => Ok(PemKey::Spki(contents)),
        "RSA PUBLIC KEY" => Ok(PemKey::Pkcs1Public(contents)),
        "PRIVATE KEY" => Ok(PemKey::Pkcs8(contents.into())),
        "RSA PRIVATE KEY" => Ok(PemKey::Pkcs1Private(contents.into())),
        "EC PRIVATE KEY" => Err(KeyError::Unsupported(
            "SEC1 EC private keys; convert with `openssl pkcs8 -topk8 -nocrypt`",
        )),
        "ENCRYPTED PRIVATE KEY" => Err(KeyError::Unsupported("encrypted private keys")),
        "CERTIFICATE" => Err(KeyError::Unsupported(
            "certificates; extract the key with `openssl x509 -pubkey -noout`",
        )),
        _ => Err(KeyError::Malformed("unexpected PEM label")),
    }
}

/// Reads a DER SubjectPublicKeyInfo.
pub(crate) fn spki(der: &[u8]) -> Result<PublicMaterial, KeyError> {
    let info = SubjectPublicKeyInfoRef::try_from(der)
        .map_err(|_| KeyError::Malformed("not a SubjectPublicKeyInfo"))?;
    let key = info
        .subject_public_key
        .as_bytes()
        .ok_or(KeyError::Malformed(
            "public key bit string is not whole bytes",
        ))?;
    let oid = info.algorithm.oid;
    if oid == RSA_ENCRYPTION {
        pkcs1_public(key)
    } else if oid == EC_PUBLIC_KEY {
        let curve = match info.algorithm.parameters_oid() {
            Ok(c) if c == SECP256R1 => Curve::P256,
            Ok(c) if c == SECP384R1 => Curve::P384,
            _ => {
                return Err(KeyError::Unsupported(
                    "elliptic curve other than P-256 or P-384",
                ));
            }
        };
        if key.len() != 1 + 2 * curve.coordinate_len() || key.first() != Some(&0x04) {
            return Err(KeyError::Malformed("EC point is not uncompressed"));
        }
        Ok(PublicMaterial::Ec {
            curve,
            point: key.to_vec(),
        })
    } else if oid == ED25519 {
        PublicMaterial::ed25519(key)
    } else {
        Err(KeyError::Unsupported("public key algorithm"))
    }
}

/// Reads a DER PKCS#1 `RSAPublicKey`.
pub(crate) fn pkcs1_public(der: &[u8]) -> Result<PublicMaterial, KeyError> {
    let key = RsaPublicKeyRef::try_from(der)
        .map_err(|_| KeyError::Malformed("not a PKCS#1 RSA public key"))?;
    PublicMaterial::rsa(key.modulus.as_bytes(), key.public_exponent.as_bytes())
}
