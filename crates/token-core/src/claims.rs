//! The claims of an access token: registered (RFC 7519), the access-token ones this
//! project relies on, and the caller's own.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeOwned, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use crate::scope::Scopes;

/// The claims of an access token.
///
/// String claims are `Arc<str>`: cloning claims (into request extensions, out of a
/// cache) copies no text, and a verifier hands out its configured issuer and
/// audience instead of allocating them again.
///
/// `E` holds the caller's own claims: any serde type whose fields sit next to the
/// registered ones in the JSON payload. Its field names must not repeat the ones
/// below. Without extra claims, `E` is [`NoExtra`], which costs nothing to decode.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use token_core::{Claims, Scopes};
///
/// #[derive(Clone, Debug, Serialize, Deserialize)]
/// struct Tenant {
///     tenant: String,
/// }
///
/// let claims = Claims::for_subject("user-42")
///     .with_scope("reports:read".parse::<Scopes>()?)
///     .with_extra(Tenant { tenant: "acme".into() });
/// assert_eq!(claims.sub.as_deref(), Some("user-42"));
/// assert_eq!(claims.extra.tenant, "acme");
/// # Ok::<(), token_core::ScopeError>(())
/// ```
#[derive(Clone, PartialEq, Serialize)]
pub struct Claims<E = NoExtra> {
    /// Issuer (`iss`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<Arc<str>>,
    /// Subject (`sub`): the user, or the client for client-credentials tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<Arc<str>>,
    /// Audience (`aud`), a string or an array of strings on the wire.
    #[serde(skip_serializing_if = "Audience::is_empty")]
    pub aud: Audience,
    /// Expiry (`exp`), seconds since the epoch. Always present in a verified token;
    /// set by the minter from its time-to-live.
    pub exp: i64,
    /// Not before (`nbf`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Issued at (`iat`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Token id (`jti`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<Arc<str>>,
    /// Granted scopes (`scope`, space-separated on the wire).
    #[serde(skip_serializing_if = "Scopes::is_empty")]
    pub scope: Scopes,
    /// The subject's token-version epoch (`ver`) when the token was minted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ver: Option<u64>,
    /// The session (refresh family) the token was minted for (`sid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<Arc<str>>,
    /// The OAuth client the token was issued to (`client_id`, RFC 9068).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<Arc<str>>,
    /// The caller's own claims.
    #[serde(flatten)]
    pub extra: E,
}

impl Claims<NoExtra> {
    /// Empty claims: no subject, no scope, no extra claims.
    pub fn new() -> Self {
        Claims::default()
    }

    /// Claims for `sub`, ready to be filled in and minted.
    pub fn for_subject(sub: impl Into<Arc<str>>) -> Self {
        Claims {
            sub: Some(sub.into()),
            ..Claims::default()
        }
    }
}

impl<E> Claims<E> {
    /// Replaces the extra claims, changing their type.
    pub fn with_extra<F>(self, extra: F) -> Claims<F> {
        Claims {
            iss: self.iss,
            sub: self.sub,
            aud: self.aud,
            exp: self.exp,
            nbf: self.nbf,
            iat: self.iat,
            jti: self.jti,
            scope: self.scope,
            ver: self.ver,
            sid: self.sid,
            client_id: self.client_id,
            extra,
        }
    }

    /// Sets the scopes.
    pub fn with_scope(mut self, scope: Scopes) -> Self {
        self.scope = scope;
        self
    }

    /// Sets the audience.
    pub fn with_audience(mut self, aud: impl Into<Audience>) -> Self {
        self.aud = aud.into();
        self
    }

    /// Sets the token-version epoch.
    pub fn with_version(mut self, ver: u64) -> Self {
        self.ver = Some(ver);
        self
    }

    /// Sets the session id.
    pub fn with_session(mut self, sid: impl Into<Arc<str>>) -> Self {
        self.sid = Some(sid.into());
        self
    }

    /// Sets the client id.
    pub fn with_client_id(mut self, client_id: impl Into<Arc<str>>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// True when the token was granted `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.contains(scope)
    }
}

impl<E: Default> Default for Claims<E> {
    fn default() -> Self {
        Claims {
            iss: None,
            sub: None,
            aud: Audience::None,
            exp: 0,
            nbf: None,
            iat: None,
            jti: None,
            scope: Scopes::empty(),
            ver: None,
            sid: None,
            client_id: None,
            extra: E::default(),
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for Claims<E> {
    // Claims are not secret, but the `jti` of a live token is an identifier an
    // attacker could use against a revocation endpoint, so it stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("iss", &self.iss)
            .field("sub", &self.sub)
            .field("aud", &self.aud)
            .field("exp", &self.exp)
            .field("nbf", &self.nbf)
            .field("iat", &self.iat)
            .field("jti", &self.jti.as_ref().map(|_| "<redacted>"))
            .field("scope", &self.scope)
            .field("ver", &self.ver)
            .field("sid", &self.sid)
            .field("client_id", &self.client_id)
            .field("extra", &self.extra)
            .finish()
    }
}

/// The placeholder for "no extra claims". Decoding it never touches the payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct NoExtra;

impl<'de> Deserialize<'de> for NoExtra {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        de::IgnoredAny::deserialize(deserializer).map(|_| NoExtra)
    }
}

/// The `aud` claim: absent, one audience, or several.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Audience {
    /// No `aud` claim.
    #[default]
    None,
    /// `"aud": "api"`.
    One(Arc<str>),
    /// `"aud": ["api", "admin"]`.
    Many(Vec<Arc<str>>),
}

impl Audience {
    /// True when there is no audience at all.
    pub fn is_empty(&self) -> bool {
        match self {
            Audience::None => true,
            Audience::One(_) => false,
            Audience::Many(all) => all.is_empty(),
        }
    }

    /// The audiences, one by one.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        let (one, many): (Option<&Arc<str>>, &[Arc<str>]) = match self {
            Audience::None => (None, &[]),
            Audience::One(aud) => (Some(aud), &[]),
            Audience::Many(all) => (None, all),
        };
        one.into_iter().chain(many).map(|aud| &**aud)
    }

    /// True when `aud` is one of the audiences.
    pub fn contains(&self, aud: &str) -> bool {
        self.iter().any(|a| a == aud)
    }
}

impl From<&str> for Audience {
    fn from(aud: &str) -> Self {
        Audience::One(aud.into())
    }
}

impl From<String> for Audience {
    fn from(aud: String) -> Self {
        Audience::One(aud.into())
    }
}

impl From<Arc<str>> for Audience {
    fn from(aud: Arc<str>) -> Self {
        Audience::One(aud)
    }
}

impl From<Vec<String>> for Audience {
    fn from(all: Vec<String>) -> Self {
        Audience::Many(all.into_iter().map(Arc::from).collect())
    }
}

impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Audience::None => serializer.serialize_none(),
            Audience::One(aud) => serializer.serialize_str(aud),
            Audience::Many(all) => {
                let mut seq = serializer.serialize_seq(Some(all.len()))?;
                for aud in all {
                    seq.serialize_element(aud)?;
                }
                seq.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AudienceVisitor;

        impl<'de> Visitor<'de> for AudienceVisitor {
            type Value = Audience;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }

            fn visit_str<Er: de::Error>(self, aud: &str) -> Result<Audience, Er> {
                Ok(Audience::One(aud.into()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut all = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(16));
                while let Some(aud) = seq.next_element::<std::borrow::Cow<'de, str>>()? {
                    all.push(Arc::from(aud.as_ref()));
                }
                Ok(Audience::Many(all))
            }
        }

        deserializer.deserialize_any(AudienceVisitor)
    }
}

/// Decodes the caller's extra claims from the payload, skipping the second parse
/// entirely when there are none.
pub(crate) fn decode_extra<E: DeserializeOwned + 'static>(
    payload: &[u8],
) -> Result<E, serde_json::Error> {
    // `NoExtra` needs nothing from the payload; hand one out without parsing.
    let mut none = Some(NoExtra);
    if let Some(extra) = (&mut none as &mut dyn Any)
        .downcast_mut::<Option<E>>()
        .and_then(Option::take)
    {
        return Ok(extra);
    }
    serde_json::from_slice(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_accepts_string_or_array_only() {
        let one: Audience = serde_json::from_str("\"api\"").unwrap();
        assert_eq!(one, Audience::One("api".into()));
        let many: Audience = serde_json::from_str("[\"a\",\"b\"]").unwrap();
        assert!(many.contains("b"));
        for bad in ["1", "[1]", "null", "{}", "true"] {
            assert!(serde_json::from_str::<Audience>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serializes_only_what_is_set() {
        let claims = Claims::for_subject("u").with_audience("api");
        let json = serde_json::to_string(&claims).unwrap();
        assert_eq!(json, r#"{"sub":"u","aud":"api","exp":0}"#);
    }

    #[test]
    fn extra_claims_sit_beside_the_registered_ones() {
        #[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
        struct Extra {
            tenant: String,
        }
        let claims = Claims::for_subject("u").with_extra(Extra {
            tenant: "acme".into(),
        });
        let json = serde_json::to_vec(&claims).unwrap();
        assert_eq!(json, br#"{"sub":"u","exp":0,"tenant":"acme"}"#);
        let extra: Extra = decode_extra(&json).unwrap();
        assert_eq!(extra.tenant, "acme");
        let none: NoExtra = decode_extra(b"not even json").unwrap();
        assert_eq!(none, NoExtra);
    }

    #[test]
    fn debug_hides_the_token_id() {
        let mut claims = Claims::for_subject("u");
        claims.jti = Some("secret-id".into());
        assert_eq!(claims.sub.as_deref(), Some("u"));
        assert!(!format!("{claims:?}").contains("secret-id"));
    }
}
