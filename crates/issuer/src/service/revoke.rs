//! `POST /revoke` (RFC 7009): 200 whether or not the token was known.

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::Full;

use super::request::{Params, client_credentials};
use super::response::HttpResponse;
use super::token::resolve;
use crate::error::Error;
use crate::issuer::{Issuer, RequestMeta};

pub(super) async fn handle(
    issuer: &Issuer,
    parts: &Parts,
    body: &[u8],
    meta: &RequestMeta,
) -> Result<HttpResponse, Error> {
    let params = Params::require_form(&parts.headers, body)?;
    // Clients that present credentials must present good ones (RFC 7009 section 2.1).
    resolve(issuer, client_credentials(&parts.headers, &params)?, meta).await?;
    let token = params.require("token", "token is required")?;
    // `token_type_hint` only speeds up a lookup, and both kinds are told apart by
    // their shape, so it is accepted and ignored (section 2.1 allows that).
    issuer.revoke_token(token, meta).await?;
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}
