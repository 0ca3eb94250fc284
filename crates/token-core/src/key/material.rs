//! The public half of a key in one shape, whichever encoding it came from.

use crate::algorithm::Algorithm;

use super::KeyError;

/// Bit-length bounds for RSA moduli, matching what the crypto library verifies.
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 8192;

/// A public key as raw values, before it is bound to an algorithm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PublicMaterial {
    /// Modulus and exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed SEC1 point (`04 || x || y`) on the named curve.
    Ec { curve: Curve, point: Vec<u8> },
    /// An Ed25519 public key.
    Ed25519([u8; 32]),
}

/// The elliptic curves in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
}

impl Curve {
    /// The byte length of one coordinate.
    pub(crate) const fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }

    /// The JWK `crv` name.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
        }
    }

    /// The curve an ECDSA algorithm is defined over.
    pub(crate) const fn of(alg: Algorithm) -> Option<Curve> {
        match alg {
            Algorithm::ES256 => Some(Curve::P256),
            Algorithm::ES384 => Some(Curve::P384),
            _ => None,
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Curve> {
        match name {
            "P-256" => Some(Curve::P256),
            "P-384" => Some(Curve::P384),
            _ => None,
        }
    }
}

impl PublicMaterial {
    /// Builds EC material from JWK-style coordinates.
    pub(crate) fn ec_from_coordinates(curve: Curve, x: &[u8], y: &[u8]) -> Result<Self, KeyError> {
        let len = curve.coordinate_len();
        if x.len() != len || y.len() != len {
            return Err(KeyError::Malformed("EC coordinates have the wrong length"));
        }
        let mut point = Vec::with_capacity(1 + 2 * len);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        Ok(PublicMaterial::Ec { curve, point })
    }

    /// Builds RSA material, normalising the integers and checking the modulus size.
    pub(crate) fn rsa(n: &[u8], e: &[u8]) -> Result<Self, KeyError> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        if e.is_empty() || e.len() > 8 {
            return Err(KeyError::Malformed("RSA public exponent out of range"));
        }
        let bits = bit_len(n);
        if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
            return Err(KeyError::RsaKeySize);
        }
        Ok(PublicMaterial::Rsa {
            n: n.to_vec(),
            e: e.to_vec(),
        })
    }

    /// Builds Ed25519 material.
    pub(crate) fn ed25519(x: &[u8]) -> Result<Self, KeyError> {
        let bytes: [u8; 32] = x
            .try_into()
            .map_err(|_| KeyError::Malformed("Ed25519 public keys are 32 bytes"))?;
        Ok(PublicMaterial::Ed25519(bytes))
    }

    /// Refuses material that cannot serve `alg`.
    pub(crate) fn check_fits(&self, alg: Algorithm) -> Result<(), KeyError> {
        let fits = match self {
            PublicMaterial::Rsa { .. } => alg.key_type() == crate::KeyType::Rsa,
            PublicMaterial::Ec { curve, .. } => Curve::of(alg) == Some(*curve),
            PublicMaterial::Ed25519(_) => alg == Algorithm::EdDSA,
        };
        if fits {
            Ok(())
        } else {
            Err(KeyError::WrongKeyType(alg))
        }
    }

    /// EC coordinates `(x, y)` of an uncompressed point.
    pub(crate) fn ec_coordinates(curve: Curve, point: &[u8]) -> (&[u8], &[u8]) {
        let len = curve.coordinate_len();
        let coords = point.get(1..).unwrap_or_default();
        coords.split_at(len.min(coords.len()))
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn bit_len(bytes: &[u8]) -> usize {
    match bytes.first() {
        None => 0,
        Some(first) => (bytes.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_size_is_enforced_after_stripping_zeros() {
        let mut n = vec![0u8; 1];
        n.extend(std::iter::repeat_n(0xff, 255)); // 2040 bits behind a zero byte
        assert_eq!(
            PublicMaterial::rsa(&n, &[1, 0, 1]),
            Err(KeyError::RsaKeySize)
        );
        let n = vec![0x80; 256]; // exactly 2048 bits
        assert!(PublicMaterial::rsa(&n, &[1, 0, 1]).is_ok());
    }

    #[test]
    fn ec_coordinates_must_fit_the_curve() {
        assert!(PublicMaterial::ec_from_coordinates(Curve::P256, &[1; 32], &[2; 32]).is_ok());
        assert!(PublicMaterial::ec_from_coordinates(Curve::P256, &[1; 48], &[2; 48]).is_err());
    }
}
