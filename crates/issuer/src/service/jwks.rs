//! `GET /.well-known/jwks.json`: the public keys, cacheable.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Response};
use http_body_util::Full;

use super::response::HttpResponse;
use crate::error::Error;
use crate::issuer::Issuer;

pub(super) fn handle(issuer: &Issuer) -> Result<HttpResponse, Error> {
    let mut response = Response::new(Full::new(Bytes::from(issuer.jwks().to_json())));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // The next key is published before it signs, so a cache this old still knows
    // every key that may sign.
    let cache = format!("public, max-age={}", issuer.inner.config.jwks_max_age);
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_str(&cache).map_err(|_| Error::Server)?,
    );
    Ok(response)
}
