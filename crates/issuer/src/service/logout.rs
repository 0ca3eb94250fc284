//! `POST /logout` with `scope=local|others|global`: 204, idempotent.

use http::request::Parts;

use super::request::{Params, origin_allowed};
use super::response::{self, HttpResponse};
use crate::error::Error;
use crate::grant::LogoutScope;
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
    let scope = match params.get("scope") {
        None => LogoutScope::Local,
        Some(text) => LogoutScope::parse(text).ok_or(Error::InvalidRequest(
            "scope must be local, others or global",
        ))?,
    };
    let token = match cookie {
        Some(token) => {
            if !origin_allowed(&parts.headers, config) {
                return Err(Error::OriginNotAllowed);
            }
            Some(token)
        }
        None => params.get("refresh_token"),
    };
    if let Some(token) = token {
        issuer.logout(token, scope, meta).await?;
    }
    let done = response::no_content();
    Ok(match scope {
        // This session goes on: its cookie stays.
        LogoutScope::Others => done,
        LogoutScope::Local | LogoutScope::Global => response::clear_cookie(issuer, done),
    })
}
