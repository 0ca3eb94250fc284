//! `POST /logout` with `scope=local|others|global`: 204, idempotent.

use http::request::Parts;

use super::request::{Params, presented_refresh_token};
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
    let params = Params::any(&parts.headers, body)?;
    let scope = match params.get("scope") {
        None => LogoutScope::Local,
        Some(text) => LogoutScope::parse(text).ok_or(Error::InvalidRequest(
            "scope must be local, others or global",
        ))?,
    };
    let presented = presented_refresh_token(&parts.headers, &params, &issuer.inner.config)?;
    if let Some((token, _)) = presented {
        issuer.logout(token, scope, meta).await?;
    }
    let done = response::no_content();
    Ok(match scope {
        // This session goes on: its cookie stays.
        LogoutScope::Others => done,
        LogoutScope::Local | LogoutScope::Global => response::clear_cookie(issuer, done),
    })
}
