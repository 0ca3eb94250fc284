//! Claims as they arrive, before the verifier has judged them.
//!
//! Dates, `aud`, `scope` and `ver` are read leniently into [`WireValue`] so that a
//! wrong type (a string `exp`, a numeric `aud`) is reported as that claim being
//! invalid rather than as an anonymous parse failure. Duplicate members are still
//! refused by the parser.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The registered claims and ours, as found in the payload. Strings borrow from the
/// decoded payload where they can, so each is copied once, into the claims.
#[derive(Debug, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct WireClaims<'a> {
    #[serde(default, borrow)]
    pub(crate) iss: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) sub: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) aud: WireValue<'a>,
    #[serde(default, borrow)]
    pub(crate) exp: WireValue<'a>,
    #[serde(default, borrow)]
    pub(crate) nbf: WireValue<'a>,
    #[serde(default, borrow)]
    pub(crate) iat: WireValue<'a>,
    #[serde(default, borrow)]
    pub(crate) jti: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) scope: WireValue<'a>,
    #[serde(default, borrow)]
    pub(crate) ver: WireValue<'a>,
    #[serde(default, borrow)]
    pub(crate) sid: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) client_id: Option<Cow<'a, str>>,
}

/// A claim value in the shapes claims may take; anything else (`null` included) is
/// `Other`, and a claim that is not there at all is `Absent`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) enum WireValue<'a> {
    #[default]
    Absent,
    Int(i64),
    Str(Cow<'a, str>),
    Strs(Vec<Cow<'a, str>>),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for WireValue<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor(PhantomData))
    }
}

struct ValueVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ValueVisitor<'a> {
    type Value = WireValue<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a claim value")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<WireValue<'a>, E> {
        Ok(WireValue::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<WireValue<'a>, E> {
        Ok(i64::try_from(v).map_or(WireValue::Other, WireValue::Int))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<WireValue<'a>, E> {
        Ok(WireValue::Other)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<WireValue<'a>, E> {
        Ok(WireValue::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<WireValue<'a>, E> {
        Ok(WireValue::Other)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<WireValue<'a>, E> {
        Ok(WireValue::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<WireValue<'a>, E> {
        Ok(WireValue::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<WireValue<'a>, E> {
        Ok(WireValue::Str(Cow::Owned(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WireValue<'a>, A::Error> {
        let mut all = Vec::new();
        let mut only_strings = true;
        while let Some(item) = seq.next_element::<WireValue<'a>>()? {
            match item {
                WireValue::Str(s) if only_strings => all.push(s),
                _ => only_strings = false,
            }
        }
        Ok(if only_strings {
            WireValue::Strs(all)
        } else {
            WireValue::Other
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireValue<'a>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(WireValue::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(json: &str) -> WireValue<'_> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn shapes() {
        assert_eq!(value("12"), WireValue::Int(12));
        assert_eq!(value("-3"), WireValue::Int(-3));
        assert_eq!(value("\"a\""), WireValue::Str("a".into()));
        assert!(matches!(value("\"a\""), WireValue::Str(Cow::Borrowed("a"))));
        assert_eq!(
            value("[\"a\",\"b\"]"),
            WireValue::Strs(vec!["a".into(), "b".into()])
        );
        for other in [
            "1.5",
            "1e3",
            "true",
            "null",
            "{\"a\":[1]}",
            "[1]",
            "[\"a\",2]",
            "18446744073709551616",
            "9223372036854775808",
        ] {
            assert_eq!(value(other), WireValue::Other, "{other}");
        }
    }

    #[test]
    fn duplicate_claims_are_refused() {
        assert!(serde_json::from_str::<WireClaims<'_>>(r#"{"exp":1,"exp":2}"#).is_err());
        assert!(serde_json::from_str::<WireClaims<'_>>(r#"{"sub":"a","sub":"b"}"#).is_err());
    }
}
