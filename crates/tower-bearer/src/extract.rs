//! Where tokens are read from: the `Authorization` header, a cookie, a custom
//! header, or (when switched on) the `access_token` query parameter.
//!
//! Every configured source is looked at on every request, so credentials sent in
//! two places are always noticed and refused (RFC 6750 section 3.1,
//! `invalid_request`), whatever the order.

use std::borrow::Cow;

use http::header::{self, HeaderMap, HeaderName};
use http::{HeaderValue, Uri};

use crate::error::InvalidRequest;

/// A place a bearer token may be taken from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSource {
    /// `Authorization: Bearer <token>` (RFC 6750 section 2.1). The scheme is matched
    /// case-insensitively and may be followed by one space or more.
    Authorization,
    /// The value of the cookie with this name.
    Cookie(String),
    /// The whole value of this header, such as `x-api-token`.
    Header(HeaderName),
    /// The `access_token` URI query parameter (RFC 6750 section 2.3). Tokens in URLs
    /// end up in logs and browser history; use it only when nothing else works.
    Query,
}

impl TokenSource {
    /// The `Authorization: Bearer` header.
    pub fn authorization() -> Self {
        TokenSource::Authorization
    }

    /// The cookie named `name`.
    pub fn cookie(name: impl Into<String>) -> Self {
        TokenSource::Cookie(name.into())
    }

    /// The header `name`, whose whole value is the token.
    pub fn header(name: HeaderName) -> Self {
        TokenSource::Header(name)
    }

    /// The `access_token` query parameter.
    pub fn query() -> Self {
        TokenSource::Query
    }

    fn is_cookie(&self) -> bool {
        matches!(self, TokenSource::Cookie(_))
    }
}

/// A token found in a request, and whether it came from a cookie (which a browser
/// attaches on its own, so it needs the CSRF check).
#[derive(Debug)]
pub(crate) struct Found<'r> {
    pub(crate) token: Cow<'r, str>,
    pub(crate) from_cookie: bool,
}

/// Finds the one token of the request, if any, in `sources`.
pub(crate) fn find<'r>(
    sources: &[TokenSource],
    headers: &'r HeaderMap,
    uri: &'r Uri,
) -> Result<Option<Found<'r>>, InvalidRequest> {
    let mut found: Option<Found<'r>> = None;
    for source in sources {
        let token = match source {
            TokenSource::Authorization => authorization(headers)?.map(Cow::Borrowed),
            TokenSource::Cookie(name) => cookie(headers, name)?.map(Cow::Borrowed),
            TokenSource::Header(name) => custom_header(headers, name)?.map(Cow::Borrowed),
            TokenSource::Query => query(uri)?,
        };
        if let Some(token) = token {
            if found.is_some() {
                return Err(InvalidRequest::SeveralSources);
            }
            found = Some(Found {
                token,
                from_cookie: source.is_cookie(),
            });
        }
    }
    Ok(found)
}

/// The token of `Authorization: Bearer <token>`. Another scheme (`Basic`, say) is
/// not a bearer credential and counts as none; two `Authorization` headers are
/// refused whatever their schemes.
fn authorization(headers: &HeaderMap) -> Result<Option<&str>, InvalidRequest> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(InvalidRequest::Repeated);
    }
    let bytes = trim_ows(value.as_bytes());
    let scheme_end = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
    if !bytes[..scheme_end].eq_ignore_ascii_case(b"bearer") {
        return Ok(None);
    }
    let rest = &bytes[scheme_end..];
    let token = trim_ows(rest);
    if token.len() == rest.len() {
        // `Bearer` alone, with nothing after the scheme.
        return Err(InvalidRequest::Malformed);
    }
    token68(token).map(Some).ok_or(InvalidRequest::Malformed)
}

/// The value of the cookie `name` across every `Cookie` header (HTTP/2 may split
/// them). The same cookie twice is ambiguous and refused.
fn cookie<'r>(headers: &'r HeaderMap, name: &str) -> Result<Option<&'r str>, InvalidRequest> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        for pair in value.as_bytes().split(|&b| b == b';') {
            let pair = trim_ows(pair);
            let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                continue;
            };
            if trim_ows(&pair[..eq]) != name.as_bytes() {
                continue;
            }
            if found.is_some() {
                return Err(InvalidRequest::Repeated);
            }
            let mut value = trim_ows(&pair[eq + 1..]);
            if let [b'"', inner @ .., b'"'] = value {
                value = inner;
            }
            found = Some(token68(value).ok_or(InvalidRequest::Malformed)?);
        }
    }
    Ok(found)
}

fn custom_header<'r>(
    headers: &'r HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'r str>, InvalidRequest> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(InvalidRequest::Repeated);
    }
    token68(trim_ows(value.as_bytes()))
        .map(Some)
        .ok_or(InvalidRequest::Malformed)
}

/// The `access_token` query parameter, percent-decoded.
fn query(uri: &Uri) -> Result<Option<Cow<'_, str>>, InvalidRequest> {
    let Some(query) = uri.query() else {
        return Ok(None);
    };
    let mut found = None;
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != "access_token" {
            continue;
        }
        if found.is_some() {
            return Err(InvalidRequest::Repeated);
        }
        let decoded = percent_decode(value).ok_or(InvalidRequest::Malformed)?;
        if token68(decoded.as_bytes()).is_none() {
            return Err(InvalidRequest::Malformed);
        }
        found = Some(decoded);
    }
    Ok(found)
}

/// Decodes `%XX` escapes; `None` for a broken escape or a result that is not
/// UTF-8. Borrows when there is nothing to decode, as for every JWT.
fn percent_decode(value: &str) -> Option<Cow<'_, str>> {
    if !value.contains(['%', '+']) {
        return Some(Cow::Borrowed(value));
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            // Form encoding writes spaces as `+`; a space is never part of a token.
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// `bytes` as a `&str` when it is a non-empty token68 (RFC 9110 section 11.2):
/// `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn token68(bytes: &[u8]) -> Option<&str> {
    let body_len = bytes.len() - bytes.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &bytes[..body_len];
    let ok = !body.is_empty() && body.iter().fold(true, |ok, &b| ok & is_token68_byte(b));
    if ok {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}

/// True for the bytes of token68 before its `=` padding. Written without
/// short-circuits so the scan over a whole token compiles to vector compares: it
/// runs on every token of every request.
#[inline]
fn is_token68_byte(b: u8) -> bool {
    b.is_ascii_lowercase()
        | b.is_ascii_uppercase()
        | b.is_ascii_digit()
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

/// Strips optional whitespace (spaces and tabs) from both ends.
fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// True when the request has a header `name` (for the CSRF custom-header check).
pub(crate) fn has_header(headers: &HeaderMap, name: &HeaderName) -> bool {
    headers
        .get(name)
        .is_some_and(|v: &HeaderValue| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn find_in(
        sources: &[TokenSource],
        pairs: &[(&str, &str)],
        uri: &str,
    ) -> Result<Option<String>, InvalidRequest> {
        let headers = headers(pairs);
        let uri: Uri = uri.parse().unwrap();
        find(sources, &headers, &uri).map(|f| f.map(|f| f.token.into_owned()))
    }

    fn auth(value: &str) -> Result<Option<String>, InvalidRequest> {
        find_in(
            &[TokenSource::Authorization],
            &[("authorization", value)],
            "/",
        )
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_with_one_space_or_more() {
        assert_eq!(auth("Bearer a.b.c"), Ok(Some("a.b.c".into())));
        assert_eq!(auth("bearer a.b.c"), Ok(Some("a.b.c".into())));
        assert_eq!(auth("BEARER    a.b.c "), Ok(Some("a.b.c".into())));
        assert_eq!(
            auth("Bearer mF_9.B5f-4.1JqM=="),
            Ok(Some("mF_9.B5f-4.1JqM==".into()))
        );
    }

    #[test]
    fn malformed_bearer_credentials() {
        assert_eq!(auth("Bearer"), Err(InvalidRequest::Malformed));
        assert_eq!(auth("Bearer   "), Err(InvalidRequest::Malformed));
        assert_eq!(auth("Bearer a b"), Err(InvalidRequest::Malformed));
        assert_eq!(auth("Bearer a=b"), Err(InvalidRequest::Malformed));
        assert_eq!(auth("Bearer \"abc\""), Err(InvalidRequest::Malformed));
        assert_eq!(auth("Bearera.b.c"), Ok(None));
        assert_eq!(auth("Basic dXNlcjpwYXNz"), Ok(None));
    }

    #[test]
    fn two_authorization_headers_are_refused() {
        let found = find_in(
            &[TokenSource::Authorization],
            &[("authorization", "Bearer a"), ("authorization", "Basic b")],
            "/",
        );
        assert_eq!(found, Err(InvalidRequest::Repeated));
    }

    #[test]
    fn cookies() {
        let sources = [TokenSource::cookie("at")];
        let found = find_in(&sources, &[("cookie", "x=1; at=a.b.c; y=2")], "/");
        assert_eq!(found, Ok(Some("a.b.c".into())));
        let split = [("cookie", "x=1"), ("cookie", "at=\"a.b\"")];
        assert_eq!(find_in(&sources, &split, "/"), Ok(Some("a.b".into())));
        let twice = [("cookie", "at=a; at=b")];
        assert_eq!(
            find_in(&sources, &twice, "/"),
            Err(InvalidRequest::Repeated)
        );
        assert_eq!(find_in(&sources, &[("cookie", "att=a")], "/"), Ok(None));
    }

    #[test]
    fn custom_header_and_query() {
        let sources = [
            TokenSource::header(HeaderName::from_static("x-token")),
            TokenSource::query(),
        ];
        assert_eq!(
            find_in(&sources, &[("x-token", "abc")], "/"),
            Ok(Some("abc".into()))
        );
        assert_eq!(
            find_in(&sources, &[], "/p?x=1&access_token=a%2Eb&y"),
            Ok(Some("a.b".into()))
        );
        assert_eq!(
            find_in(&sources, &[], "/p?access_token=a&access_token=b"),
            Err(InvalidRequest::Repeated)
        );
        assert_eq!(
            find_in(&sources, &[], "/p?access_token=%zz"),
            Err(InvalidRequest::Malformed)
        );
        // The query is not read unless switched on.
        let only_header = [TokenSource::Authorization];
        assert_eq!(find_in(&only_header, &[], "/p?access_token=abc"), Ok(None));
    }

    #[test]
    fn credentials_in_two_places_are_refused() {
        let sources = [TokenSource::Authorization, TokenSource::cookie("at")];
        let both = [("authorization", "Bearer a"), ("cookie", "at=b")];
        assert_eq!(
            find_in(&sources, &both, "/"),
            Err(InvalidRequest::SeveralSources)
        );
    }

    proptest::proptest! {
        /// Whatever a client sends, finding the token never panics, and a token
        /// found is always a token68.
        #[test]
        fn arbitrary_credentials_never_panic(
            authorization in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120),
            cookie in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120),
            query in "[ -~]{0,80}",
        ) {
            let mut headers = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_bytes(&authorization) {
                headers.insert(header::AUTHORIZATION, value);
            }
            if let Ok(value) = HeaderValue::from_bytes(&cookie) {
                headers.insert(header::COOKIE, value);
            }
            let uri: Uri = format!("/p?{}", query.replace(' ', "+"))
                .parse()
                .unwrap_or_else(|_| Uri::from_static("/"));
            let sources = [
                TokenSource::authorization(),
                TokenSource::cookie("at"),
                TokenSource::query(),
            ];
            if let Ok(Some(found)) = find(&sources, &headers, &uri) {
                proptest::prop_assert!(token68(found.token.as_bytes()).is_some());
            }
        }
    }
}
