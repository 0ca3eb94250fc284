//! `POST /introspect` (RFC 7662), for authenticated confidential clients.

use http::StatusCode;
use http::request::Parts;
use serde_json::{Value, json};

use super::request::{ClientCredentials, Params, client_credentials};
use super::response::{self, HttpResponse};
use crate::error::Error;
use crate::issuer::{Issuer, RequestMeta};
use crate::refresh_token::PREFIX;

pub(super) async fn handle(
    issuer: &Issuer,
    parts: &Parts,
    body: &[u8],
    meta: &RequestMeta,
) -> Result<HttpResponse, Error> {
    let params = Params::require_form(&parts.headers, body)?;
    let ClientCredentials::Secret { id, secret } = client_credentials(&parts.headers, &params)?
    else {
        return Err(Error::InvalidClient("client authentication required"));
    };
    issuer.authenticate_client(&id, &secret, meta).await?;
    let token = params.require("token", "token is required")?;
    let answer = if token.starts_with(PREFIX) {
        refresh_token(issuer, token).await?
    } else {
        access_token(issuer, token).await?
    };
    response::json(StatusCode::OK, &answer)
}

fn inactive() -> Value {
    json!({ "active": false })
}

async fn refresh_token(issuer: &Issuer, token: &str) -> Result<Value, Error> {
    let Some((generation, family)) = issuer.authenticate_refresh(token).await? else {
        return Ok(inactive());
    };
    let now = issuer.now();
    let epoch = issuer.inner.sessions.epoch(&family.user_id).await?;
    // Only the current generation can refresh; older ones are spent.
    if !family.is_live(now) || generation != family.generation || family.token_version < epoch {
        return Ok(inactive());
    }
    Ok(json!({
        "active": true,
        "token_type": "refresh_token",
        "sub": family.user_id,
        "scope": family.scopes.as_str(),
        "client_id": family.client_id,
        "sid": family.id,
        "iat": family.created,
        "exp": family.expires(),
    }))
}

async fn access_token(issuer: &Issuer, token: &str) -> Result<Value, Error> {
    let claims = match issuer.check_access_token(token).await {
        Ok(claims) => claims,
        Err(Error::InvalidToken(_)) => return Ok(inactive()),
        Err(other) => return Err(other),
    };
    let mut answer = serde_json::to_value(&claims).map_err(|_| Error::Server)?;
    if let Value::Object(map) = &mut answer {
        map.insert("active".into(), Value::Bool(true));
        map.insert("token_type".into(), Value::String("Bearer".into()));
    }
    Ok(answer)
}
