//! Writing answers: token responses (body or cookie) and JSON with `no-store`.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA, SET_COOKIE};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;

use crate::error::Error;
use crate::grant::Issued;
use crate::issuer::Issuer;
use crate::transport::RefreshTransport;

pub(crate) type HttpResponse = Response<Full<Bytes>>;

/// JSON that must not be cached (RFC 6749 section 5.1).
pub(crate) fn json(status: StatusCode, value: &impl Serialize) -> Result<HttpResponse, Error> {
    let body = serde_json::to_vec(value).map_err(|_| Error::Server)?;
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// 204, not cacheable.
pub(crate) fn no_content() -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Serialize)]
struct TokenBody<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
}

/// The RFC 6749 section 5.1 answer, with the refresh token in the body or in a
/// cookie as its transport says.
pub(crate) fn token(issuer: &Issuer, issued: &Issued) -> Result<HttpResponse, Error> {
    let refresh = issued.refresh.as_ref();
    let in_body = refresh
        .filter(|r| r.transport == RefreshTransport::Body)
        .map(|r| r.token.expose());
    let mut response = json(
        StatusCode::OK,
        &TokenBody {
            access_token: &issued.access_token,
            token_type: "bearer",
            expires_in: issued.expires_in,
            scope: issued.scope.as_str(),
            refresh_token: in_body,
        },
    )?;
    if let Some(r) = refresh.filter(|r| r.transport == RefreshTransport::Cookie) {
        let cookie = issuer.inner.config.cookie.set(r.token.expose(), r.max_age);
        set_cookie(&mut response, &cookie)?;
    }
    Ok(response)
}

pub(crate) fn set_cookie(response: &mut HttpResponse, cookie: &str) -> Result<(), Error> {
    let value = HeaderValue::from_str(cookie).map_err(|_| Error::Server)?;
    response.headers_mut().append(SET_COOKIE, value);
    Ok(())
}

/// Adds a `Set-Cookie` that deletes the refresh cookie.
pub(crate) fn clear_cookie(issuer: &Issuer, mut response: HttpResponse) -> HttpResponse {
    let cookie = issuer.inner.config.cookie.clear();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}
