//! Reading requests: bounded bodies, forms and JSON, client credentials, the client
//! address and the origin check.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN, USER_AGENT};
use http::{Extensions, HeaderMap};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use token_core::Scopes;

use crate::error::Error;
use crate::issuer::{Config, RequestMeta};

/// The peer address of the connection, for servers to put into request extensions
/// (hyper: insert it in your `service_fn`; axum: `ConnectInfo` is read as well with
/// the `axum` feature). Without it, throttling keys on "unknown address".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Reads at most `max` bytes of body. A `Content-Length` over the bound is refused
/// before reading anything; a body that grows past it is cut off at the bound.
pub(crate) async fn read_body<B>(body: B, headers: &HeaderMap, max: usize) -> Result<Bytes, Error>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    if let Some(len) = headers.get(CONTENT_LENGTH) {
        let len: u64 = len
            .to_str()
            .ok()
            .and_then(|l| l.parse().ok())
            .ok_or(Error::InvalidRequest("malformed content length"))?;
        if len > max as u64 {
            return Err(Error::PayloadTooLarge);
        }
    }
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(Error::PayloadTooLarge)
        }
        Err(_) => Err(Error::InvalidRequest("could not read the request body")),
    }
}

/// What the body claims to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyType {
    Form,
    Json,
    Other,
    Missing,
}

pub(crate) fn body_type(headers: &HeaderMap) -> BodyType {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return BodyType::Missing;
    };
    let Ok(text) = value.to_str() else {
        return BodyType::Other;
    };
    let essence = text.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        BodyType::Form
    } else if essence.eq_ignore_ascii_case("application/json") {
        BodyType::Json
    } else {
        BodyType::Other
    }
}

/// Request parameters, each present at most once (RFC 6749 section 3.1).
#[derive(Default)]
pub(crate) struct Params {
    map: HashMap<String, String>,
}

impl fmt::Debug for Params {
    // Values include passwords, secrets and tokens: only the names are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.map.keys()).finish()
    }
}

impl Params {
    /// Parses `application/x-www-form-urlencoded`.
    pub(crate) fn form(body: &[u8]) -> Result<Self, Error> {
        if std::str::from_utf8(body).is_err() {
            return Err(Error::InvalidRequest("form body is not UTF-8"));
        }
        let mut map = HashMap::new();
        for (name, value) in form_urlencoded::parse(body) {
            if map.insert(name.into_owned(), value.into_owned()).is_some() {
                return Err(Error::InvalidRequest("a parameter is repeated"));
            }
        }
        Ok(Params { map })
    }

    /// Parses a JSON object whose values are strings (or null, meaning absent).
    pub(crate) fn json(body: &[u8]) -> Result<Self, Error> {
        let malformed = Error::InvalidRequest("malformed JSON body");
        let value: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(body).map_err(|_| malformed.clone())?;
        let mut map = HashMap::new();
        for (name, value) in value {
            match value {
                serde_json::Value::String(s) => {
                    map.insert(name, s);
                }
                serde_json::Value::Null => {}
                _ => return Err(malformed),
            }
        }
        Ok(Params { map })
    }

    /// Parses by content type: form or JSON; an empty body without a type is empty.
    pub(crate) fn any(headers: &HeaderMap, body: &[u8]) -> Result<Self, Error> {
        match body_type(headers) {
            BodyType::Form => Self::form(body),
            BodyType::Json => Self::json(body),
            BodyType::Missing if body.is_empty() => Ok(Params::default()),
            BodyType::Missing | BodyType::Other => Err(Error::UnsupportedMediaType),
        }
    }

    /// Requires a form body.
    pub(crate) fn require_form(headers: &HeaderMap, body: &[u8]) -> Result<Self, Error> {
        match body_type(headers) {
            BodyType::Form => Self::form(body),
            _ => Err(Error::UnsupportedMediaType),
        }
    }

    /// A parameter; empty values count as absent (RFC 6749 section 3.1).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.map
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// True when the parameter was sent, even empty.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub(crate) fn require(&self, name: &str, missing: &'static str) -> Result<&str, Error> {
        self.get(name).ok_or(Error::InvalidRequest(missing))
    }

    /// The `scope` parameter, parsed (absent: empty).
    pub(crate) fn scope(&self) -> Result<Scopes, Error> {
        match self.get("scope") {
            None => Ok(Scopes::empty()),
            Some(text) => Scopes::parse(text).map_err(|_| Error::InvalidScope("malformed scope")),
        }
    }
}

/// How the client identified itself.
pub(crate) enum ClientCredentials<'a> {
    /// Not at all.
    None,
    /// A public client naming itself.
    Id(&'a str),
    /// A secret, by HTTP Basic or in the form.
    Secret { id: String, secret: String },
}

impl fmt::Debug for ClientCredentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientCredentials::None => f.write_str("None"),
            ClientCredentials::Id(id) => f.debug_tuple("Id").field(id).finish(),
            ClientCredentials::Secret { id, .. } => f
                .debug_struct("Secret")
                .field("id", id)
                .field("secret", &"<redacted>")
                .finish(),
        }
    }
}

/// Client authentication per RFC 6749 section 2.3.1: HTTP Basic (with both parts
/// form-urlencoded) or `client_id` and `client_secret` in the body, never both.
pub(crate) fn client_credentials<'a>(
    headers: &HeaderMap,
    params: &'a Params,
) -> Result<ClientCredentials<'a>, Error> {
    let basic = basic_credentials(headers)?;
    let form_secret = params.get("client_secret");
    match (basic, form_secret) {
        (Some(_), Some(_)) => Err(Error::InvalidRequest(
            "more than one client authentication method",
        )),
        (Some((id, secret)), None) => {
            if params.get("client_id").is_some_and(|form_id| form_id != id) {
                return Err(Error::InvalidRequest(
                    "client_id does not match the authenticated client",
                ));
            }
            Ok(ClientCredentials::Secret { id, secret })
        }
        (None, Some(secret)) => {
            let id = params.require("client_id", "client_id is required with client_secret")?;
            Ok(ClientCredentials::Secret {
                id: id.to_owned(),
                secret: secret.to_owned(),
            })
        }
        (None, None) => Ok(params
            .get("client_id")
            .map_or(ClientCredentials::None, ClientCredentials::Id)),
    }
}

fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, Error> {
    let bad = Error::InvalidClient("malformed client credentials");
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| bad.clone())?;
    let Some((scheme, rest)) = text.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD.decode(rest.trim()).map_err(|_| bad.clone())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad.clone())?;
    let (id, secret) = decoded.split_once(':').ok_or(bad)?;
    Ok(Some((form_decode(id), form_decode(secret))))
}

/// Undoes `application/x-www-form-urlencoded` encoding of one value.
fn form_decode(text: &str) -> String {
    let mut out = String::new();
    for (name, value) in form_urlencoded::parse(format!("v={text}").as_bytes()) {
        if name == "v" {
            out = value.into_owned();
        }
    }
    out
}

/// The bearer token of an `Authorization` header.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, Error> {
    let value = headers.get(AUTHORIZATION).ok_or(Error::MissingToken)?;
    let text = value
        .to_str()
        .map_err(|_| Error::InvalidToken("malformed authorization header"))?;
    let (scheme, token) = text.split_once(' ').ok_or(Error::MissingToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Error::MissingToken);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(Error::InvalidToken("empty token"));
    }
    Ok(token)
}

/// Who is asking: the client address (from the connection, or from `X-Forwarded-For`
/// when the connection is a trusted proxy) and the user agent.
pub(crate) fn request_meta(
    headers: &HeaderMap,
    extensions: &Extensions,
    config: &Config,
) -> RequestMeta {
    let peer = peer_addr(extensions);
    let ip = match peer {
        Some(peer) if config.trusted_proxies.contains(&peer) => {
            forwarded_client(headers, &config.trusted_proxies).or(Some(peer))
        }
        other => other,
    };
    let user_agent = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(256).collect());
    RequestMeta { ip, user_agent }
}

fn peer_addr(extensions: &Extensions) -> Option<IpAddr> {
    if let Some(ClientAddr(addr)) = extensions.get::<ClientAddr>() {
        return Some(addr.ip());
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) =
        extensions.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(addr.ip());
    }
    None
}

/// The right-most `X-Forwarded-For` address that is not one of our proxies: the
/// first hop a trusted proxy saw. Addresses left of it may be forged by the client.
fn forwarded_client(headers: &HeaderMap, trusted: &[IpAddr]) -> Option<IpAddr> {
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let text = value.to_str().ok()?;
        for hop in text.split(',') {
            hops.push(hop.trim().parse().ok()?);
        }
    }
    hops.into_iter().rev().find(|ip| !trusted.contains(ip))
}

/// True when a cookie-borne request comes from an allowed origin: one of the
/// configured ones, or, when none are configured, the request's own host.
pub(crate) fn origin_allowed(headers: &HeaderMap, config: &Config) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    if !config.allowed_origins.is_empty() {
        return config
            .allowed_origins
            .iter()
            .any(|allowed| allowed == origin);
    }
    let host = headers.get(HOST).and_then(|v| v.to_str().ok());
    let rest = match origin.strip_prefix("https://") {
        Some(rest) => Some(rest),
        // Plain-HTTP origins only in development mode, where cookies are not Secure.
        None if !config.cookie.secure => origin.strip_prefix("http://"),
        None => None,
    };
    matches!((rest, host), (Some(rest), Some(host)) if rest.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn forms_refuse_repeats_and_keep_empty_as_absent() {
        assert!(Params::form(b"a=1&a=2").is_err());
        let p = Params::form(b"a=&b=x+y%21").unwrap();
        assert_eq!(p.get("a"), None);
        assert_eq!(p.get("b"), Some("x y!"));
        assert!(Params::json(b"{\"a\":1}").is_err());
        assert!(Params::json(b"[").is_err());
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut headers = HeaderMap::new();
        let encoded = STANDARD.encode("my%20client:s%3Acret");
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        let params = Params::default();
        match client_credentials(&headers, &params).unwrap() {
            ClientCredentials::Secret { id, secret } => {
                assert_eq!(id, "my client");
                assert_eq!(secret, "s:cret");
            }
            other => panic!("{other:?}"),
        }
        let shown = format!("{:?}", client_credentials(&headers, &params).unwrap());
        assert!(!shown.contains("s:cret"), "{shown}");
        assert!(!format!("{:?}", Params::form(b"password=hunter2").unwrap()).contains("hunter2"));
        let both = Params::form(b"client_secret=x&client_id=my+client").unwrap();
        assert!(client_credentials(&headers, &both).is_err());
    }

    #[test]
    fn forwarded_for_takes_the_first_untrusted_hop_from_the_right() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 1.2.3.4, 10.0.0.1"),
        );
        assert_eq!(
            forwarded_client(&headers, &[proxy]),
            Some("1.2.3.4".parse().unwrap())
        );
    }
}

/// Where a request's refresh token came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenFrom {
    /// The refresh cookie.
    Cookie,
    /// The `refresh_token` parameter of the body.
    Body,
}

/// The refresh token a request presents: the cookie first, else the `refresh_token`
/// parameter. Browsers attach cookies on their own, so a cookie-borne token counts
/// only when the request's `Origin` is one of ours.
pub(crate) fn presented_refresh_token<'a>(
    headers: &'a HeaderMap,
    params: &'a Params,
    config: &Config,
) -> Result<Option<(&'a str, TokenFrom)>, Error> {
    let cookie = config
        .cookie
        .read(headers)
        .map_err(|_| Error::InvalidRequest("refresh cookie sent twice"))?;
    match cookie {
        Some(token) if origin_allowed(headers, config) => Ok(Some((token, TokenFrom::Cookie))),
        Some(_) => Err(Error::OriginNotAllowed),
        None => Ok(params
            .get("refresh_token")
            .map(|token| (token, TokenFrom::Body))),
    }
}
