//! The JOSE header: how the minter writes it and how the verifier reads it.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serialize};

use crate::algorithm::Algorithm;
use crate::b64;

/// The `typ` of access tokens (RFC 9068 section 2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Encodes the header this crate mints: `{"alg":..,"kid":..,"typ":..}` in base64url.
/// The verifier recognises these exact bytes, so the two must share this function.
pub(crate) fn encode(alg: Algorithm, kid: &str, typ: Option<&str>) -> String {
    #[derive(Serialize)]
    struct Minted<'a> {
        alg: &'a str,
        kid: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        typ: Option<&'a str>,
    }
    let json = serde_json::to_vec(&Minted {
        alg: alg.as_str(),
        kid,
        typ,
    })
    .unwrap_or_default();
    b64::encode(&json)
}

/// A header as it arrives. Duplicate members are refused by the parser; members
/// not named here (`jku`, `x5u`, `x5c`, `jwk`, ...) are ignored and never used to
/// find a key.
#[derive(Deserialize)]
pub(crate) struct Header<'a> {
    #[serde(borrow)]
    pub(crate) alg: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(crate) kid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) typ: Option<Cow<'a, str>>,
    /// Any `crit` at all: this crate understands no extension.
    #[serde(default)]
    pub(crate) crit: Present,
    /// RFC 7797 unencoded payloads are not supported.
    #[serde(default)]
    pub(crate) b64: Option<bool>,
    /// Compression is a JWE feature and has no place in a JWS.
    #[serde(default)]
    pub(crate) zip: Present,
}

/// Records that a member was there, whatever its value (even `null`).
#[derive(Default)]
pub(crate) struct Present(pub(crate) bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer).map(|_| Present(true))
    }
}

/// True when a header `typ` names `expected`, comparing as media types do:
/// case-insensitively, with the `application/` prefix optional (RFC 7515 4.1.9).
pub(crate) fn typ_matches(typ: &str, expected: &str) -> bool {
    let bare = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    bare.eq_ignore_ascii_case(expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_header_is_compact_json() {
        let encoded = encode(Algorithm::HS256, "k1", Some(ACCESS_TOKEN_TYP));
        let json = b64::decode(encoded.as_bytes()).unwrap();
        assert_eq!(json, br#"{"alg":"HS256","kid":"k1","typ":"at+jwt"}"#);
    }

    #[test]
    fn typ_comparison() {
        assert!(typ_matches("at+jwt", "at+jwt"));
        assert!(typ_matches("AT+JWT", "at+jwt"));
        assert!(typ_matches("application/at+jwt", "at+jwt"));
        assert!(!typ_matches("JWT", "at+jwt"));
        assert!(!typ_matches("application/", "at+jwt"));
    }

    #[test]
    fn duplicate_members_are_refused() {
        assert!(serde_json::from_str::<Header<'_>>(r#"{"alg":"HS256","alg":"none"}"#).is_err());
        assert!(
            serde_json::from_str::<Header<'_>>(r#"{"alg":"HS256","kid":"a","kid":"b"}"#).is_err()
        );
    }
}
