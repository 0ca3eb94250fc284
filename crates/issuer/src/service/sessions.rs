//! `GET /sessions` and `DELETE /sessions/{id}`: the caller's own devices, for a
//! bearer of one of our access tokens.

use std::net::IpAddr;

use http::StatusCode;
use http::request::Parts;
use serde::Serialize;

use super::request::bearer_token;
use super::response::{self, HttpResponse};
use crate::error::Error;
use crate::issuer::Issuer;

#[derive(Serialize)]
struct Session<'a> {
    id: &'a str,
    user_agent: Option<&'a str>,
    ip: Option<IpAddr>,
    created: i64,
    last_used: i64,
    expires: i64,
    current: bool,
}

#[derive(Serialize)]
struct Sessions<'a> {
    sessions: Vec<Session<'a>>,
}

pub(super) async fn list(issuer: &Issuer, parts: &Parts) -> Result<HttpResponse, Error> {
    let claims = issuer
        .check_access_token(bearer_token(&parts.headers)?)
        .await?;
    let sub = claims
        .sub
        .as_deref()
        .ok_or(Error::InvalidToken("token has no subject"))?;
    let families = issuer.sessions_of(sub).await.map_err(admin_error)?;
    let sessions = families
        .iter()
        .map(|f| Session {
            id: &f.id,
            user_agent: f.user_agent.as_deref(),
            ip: f.ip,
            created: f.created,
            last_used: f.last_used,
            expires: f.expires(),
            current: claims.sid.as_deref() == Some(f.id.as_str()),
        })
        .collect();
    response::json(StatusCode::OK, &Sessions { sessions })
}

pub(super) async fn delete(
    issuer: &Issuer,
    parts: &Parts,
    id: &str,
) -> Result<HttpResponse, Error> {
    let claims = issuer
        .check_access_token(bearer_token(&parts.headers)?)
        .await?;
    let sub = claims
        .sub
        .as_deref()
        .ok_or(Error::InvalidToken("token has no subject"))?;
    // Someone else's session and no session at all look the same.
    if issuer.revoke_session(sub, id).await.map_err(admin_error)? {
        Ok(response::no_content())
    } else {
        Err(Error::NotFound)
    }
}

fn admin_error(error: crate::admin::AdminError) -> Error {
    match error {
        crate::admin::AdminError::Store(store) => store.into(),
        _ => Error::Server,
    }
}
