//! RFC 7638 JWK thumbprints, the default key id.

use ring::digest;

use crate::b64;

use super::material::PublicMaterial;

/// The SHA-256 thumbprint of a public key, base64url-encoded.
pub(crate) fn of_public(material: &PublicMaterial) -> String {
    // Members in lexicographic order, no whitespace (RFC 7638 section 3.2). The
    // values are base64url or fixed names, so nothing needs escaping.
    let json = match material {
        PublicMaterial::Rsa { n, e } => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            b64::encode(e),
            b64::encode(n)
        ),
        PublicMaterial::Ec { curve, point } => {
            let (x, y) = PublicMaterial::ec_coordinates(*curve, point);
            format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                curve.name(),
                b64::encode(x),
                b64::encode(y)
            )
        }
        PublicMaterial::Ed25519(x) => format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            b64::encode(x)
        ),
    };
    hash(json.as_bytes())
}

/// The thumbprint of a shared secret. It reveals nothing a token signed with the
/// secret does not already: both are one-way functions of it.
pub(crate) fn of_secret(secret: &[u8]) -> String {
    let json = format!(r#"{{"k":"{}","kty":"oct"}}"#, b64::encode(secret));
    hash(json.as_bytes())
}

fn hash(json: &[u8]) -> String {
    b64::encode(digest::digest(&digest::SHA256, json).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of RFC 7638 section 3.1.
    #[test]
    fn rfc7638_example() {
        let n = b64::decode(
            b"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        )
        .unwrap();
        let e = b64::decode(b"AQAB").unwrap();
        let material = PublicMaterial::Rsa { n, e };
        assert_eq!(
            of_public(&material),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
