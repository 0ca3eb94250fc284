//! `POST /refresh`: the refresh cookie first, else `{"refresh_token", "scope"}` in a
//! JSON (or form) body.

use http::request::Parts;

use super::request::{Params, origin_allowed};
use super::response::{self, HttpResponse};
use crate::error::Error;
use crate::issuer::{Issuer, RequestMeta};

pub(super) async fn handle(
    issuer: &Issuer,
    parts: &Parts,
    body: &[u8],
    meta: &RequestMeta,
) -> Result<HttpResponse, Error> {
    let config = &issuer.inner.config;
    let cookie = config
        .cookie
        .read(&parts.headers)
        .map_err(|_| Error::InvalidRequest("refresh cookie sent twice"))?;
    let params = Params::any(&parts.headers, body)?;
    let scope = params.scope()?;
    let (token, from_cookie) = match cookie {
        Some(token) => {
            // Browsers attach cookies on their own: make sure the page asking is ours.
            if !origin_allowed(&parts.headers, config) {
                return Err(Error::OriginNotAllowed);
            }
            (token, true)
        }
        None => (
            params.require("refresh_token", "refresh_token is required")?,
            false,
        ),
    };
    match issuer.refresh_inner(token, &scope, None, meta).await {
        Ok(issued) => response::token(issuer, &issued),
        // Clear the cookie only when the family is dead: a grace replay or a
        // throttled or mis-scoped request keeps it.
        Err(failure) if failure.family_dead && from_cookie => Ok(response::clear_cookie(
            issuer,
            failure.error.into_response(),
        )),
        Err(failure) => Err(failure.error),
    }
}
