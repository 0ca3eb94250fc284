//! Reading the fetched documents: a JWKS into a verifying [`KeyRing`], and
//! authorization server metadata into its `jwks_uri`.

use serde::Deserialize;
use serde_json::Value;
use token_core::{Jwk, JwkSet, KeyRing};

use crate::error::Error;

/// A key of the document left out of the ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Skipped {
    pub(crate) kid: Option<String>,
    pub(crate) reason: String,
}

/// The usable signature keys of a JWKS, and the ones left out with why.
///
/// One bad key never fails the set: a key that does not even deserialise as a JWK,
/// an encryption key, a key whose `key_ops` lack `verify`, an unsupported type,
/// algorithm or curve, an RSA modulus under 2048 bits and a repeated `kid` are all
/// skipped. So are keys no verifier should take from a URL: symmetric (`oct`) keys,
/// whose secret anyone who can read the document would share, and keys that carry
/// private members. Only a document that is not a JSON object with a `keys` array
/// is malformed.
pub(crate) fn parse_jwks(body: &[u8], url: &str) -> Result<(KeyRing, Vec<Skipped>), Error> {
    #[derive(Deserialize)]
    struct Raw {
        keys: Vec<Value>,
    }
    let raw: Raw = serde_json::from_slice(body).map_err(|e| Error::Malformed {
        url: url.to_owned(),
        reason: json_reason(&e),
    })?;
    let mut usable = JwkSet::default();
    let mut skipped = Vec::new();
    for value in raw.keys {
        let kid = value.get("kid").and_then(Value::as_str).map(str::to_owned);
        let jwk: Jwk = match serde_json::from_value(value) {
            Ok(jwk) => jwk,
            Err(_) => {
                skipped.push(Skipped {
                    kid,
                    reason: "not a well-formed JWK".to_owned(),
                });
                continue;
            }
        };
        let refused = if jwk.kty == "oct" {
            Some("symmetric keys are never taken from a key set document")
        } else if jwk.is_private() || jwk.p.is_some() || jwk.q.is_some() {
            Some("the key set document publishes private key material")
        } else {
            None
        };
        match refused {
            Some(reason) => skipped.push(Skipped {
                kid: jwk.kid.clone(),
                reason: reason.to_owned(),
            }),
            None => usable.keys.push(jwk),
        }
    }
    let (ring, refused) = KeyRing::from_jwks(&usable);
    skipped.extend(refused.into_iter().map(|s| Skipped {
        kid: s.kid,
        reason: s.reason.to_string(),
    }));
    Ok((ring, skipped))
}

/// The `jwks_uri` of an authorization server metadata document whose `issuer` is
/// exactly `issuer`.
pub(crate) fn parse_metadata(body: &[u8], url: &str, issuer: &str) -> Result<String, Error> {
    #[derive(Deserialize)]
    struct Metadata {
        #[serde(default)]
        issuer: Option<String>,
        #[serde(default)]
        jwks_uri: Option<String>,
    }
    let metadata: Metadata = serde_json::from_slice(body).map_err(|e| Error::Malformed {
        url: url.to_owned(),
        reason: json_reason(&e),
    })?;
    let found = metadata.issuer.unwrap_or_default();
    if found != issuer {
        return Err(Error::IssuerMismatch {
            url: url.to_owned(),
            expected: issuer.to_owned(),
            found,
        });
    }
    metadata.jwks_uri.ok_or_else(|| Error::MissingJwksUri {
        url: url.to_owned(),
    })
}

/// Where the JSON broke, without quoting the document.
fn json_reason(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Io => "unreadable",
        Category::Syntax => "not JSON",
        Category::Data => "not the expected shape",
        Category::Eof => "truncated JSON",
    };
    format!("{what} (line {}, column {})", e.line(), e.column())
}

#[cfg(test)]
mod tests {
    use token_core::{Algorithm, SigningKey};

    use super::*;

    fn public_jwk(alg: Algorithm) -> Value {
        let key = SigningKey::generate(alg).unwrap().into_signing_key();
        serde_json::to_value(key.verifying_key().to_jwk().unwrap()).unwrap()
    }

    #[test]
    fn unusable_keys_are_skipped_one_by_one() {
        let good = public_jwk(Algorithm::ES256);
        let good_kid = good["kid"].as_str().unwrap().to_owned();
        let mut enc = public_jwk(Algorithm::ES256);
        enc["use"] = "enc".into();
        enc["kid"] = "enc".into();
        let mut wrap = public_jwk(Algorithm::EdDSA);
        wrap["key_ops"] = serde_json::json!(["wrapKey"]);
        wrap["kid"] = "wrap".into();
        let mut dup = public_jwk(Algorithm::EdDSA);
        dup["kid"] = good_kid.clone().into();
        let doc = serde_json::json!({ "keys": [
            good,
            enc,
            wrap,
            { "kty": "oct", "alg": "HS256", "kid": "hmac", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI" },
            { "kty": "EC", "crv": "secp256k1", "kid": "k1", "x": "AA", "y": "AA" },
            { "kty": "RSA", "kid": "small", "n": "AQAB", "e": "AQAB" },
            { "kty": "OKP", "crv": "X25519", "kid": "x25519", "x": "AA" },
            { "kty": "EC", "alg": "ES999", "kid": "alg" },
            { "kty": 7, "kid": "shape" },
            "not even an object",
            dup,
        ]});
        let (ring, skipped) = parse_jwks(doc.to_string().as_bytes(), "u").unwrap();
        assert_eq!(ring.len(), 1);
        assert!(ring.find(&good_kid).is_some());
        let kids: Vec<_> = skipped.iter().map(|s| s.kid.as_deref()).collect();
        assert_eq!(
            kids,
            [
                Some("hmac"),
                Some("shape"),
                None,
                Some("enc"),
                Some("wrap"),
                Some("k1"),
                Some("small"),
                Some("x25519"),
                Some("alg"),
                Some(good_kid.as_str()),
            ]
        );
    }

    #[test]
    fn private_members_are_refused() {
        let mut jwk = public_jwk(Algorithm::ES256);
        jwk["d"] = "c2VjcmV0".into();
        let doc = serde_json::json!({ "keys": [jwk] });
        let (ring, skipped) = parse_jwks(doc.to_string().as_bytes(), "u").unwrap();
        assert!(ring.is_empty());
        assert!(skipped[0].reason.contains("private"));
    }

    #[test]
    fn only_a_broken_document_is_malformed() {
        for bad in [
            &b"{"[..],
            b"[]",
            b"{\"keys\": {}}",
            b"{\"nokeys\": []}",
            b"\xff",
        ] {
            assert!(matches!(parse_jwks(bad, "u"), Err(Error::Malformed { .. })));
        }
        let (ring, skipped) = parse_jwks(br#"{"keys": []}"#, "u").unwrap();
        assert!(ring.is_empty() && skipped.is_empty());
    }

    #[test]
    fn metadata_must_name_the_issuer() {
        let doc = br#"{"issuer": "https://a.example", "jwks_uri": "https://a.example/jwks"}"#;
        assert_eq!(
            parse_metadata(doc, "u", "https://a.example").unwrap(),
            "https://a.example/jwks"
        );
        assert!(matches!(
            parse_metadata(doc, "u", "https://a.example/"),
            Err(Error::IssuerMismatch { .. })
        ));
        assert!(matches!(
            parse_metadata(
                br#"{"issuer": "https://a.example"}"#,
                "u",
                "https://a.example"
            ),
            Err(Error::MissingJwksUri { .. })
        ));
        assert!(matches!(
            parse_metadata(b"<html>", "u", "https://a.example"),
            Err(Error::Malformed { .. })
        ));
    }
}
