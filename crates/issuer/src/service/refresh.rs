//! `POST /refresh`: the refresh cookie first, else `{"refresh_token", "scope"}` in a
//! JSON (or form) body.

use http::request::Parts;

use super::request::{Params, TokenFrom, presented_refresh_token};
use super::response::{self, HttpResponse};
use crate::error::Error;
use crate::issuer::{Issuer, RequestMeta};

pub(super) async fn handle(
    issuer: &Issuer,
    parts: &Parts,
    body: &[u8],
    meta: &RequestMeta,
) -> Result<HttpResponse, Error> {
    let params = Params::any(&parts.headers, body)?;
    let scope = params.scope()?;
    let (token, from) = presented_refresh_token(&parts.headers, &params, &issuer.inner.config)?
        .ok_or(Error::InvalidRequest("refresh_token is required"))?;
    match issuer.refresh_inner(token, &scope, None, meta).await {
        Ok(issued) => response::token(issuer, &issued),
        // Clear the cookie only when the family is dead: a grace replay or a
        // throttled or mis-scoped request keeps it.
        Err(failure) if failure.family_dead && from == TokenFrom::Cookie => Ok(
            response::clear_cookie(issuer, failure.error.into_response()),
        ),
        Err(failure) => Err(failure.error),
    }
}
