//! `POST /token` (RFC 6749): password, refresh_token and client_credentials grants.

use http::request::Parts;

use super::request::{ClientCredentials, Params, client_credentials};
use super::response::{self, HttpResponse};
use crate::client::Client;
use crate::error::Error;
use crate::issuer::{Issuer, RequestMeta};

pub(super) async fn handle(
    issuer: &Issuer,
    parts: &Parts,
    body: &[u8],
    meta: &RequestMeta,
) -> Result<HttpResponse, Error> {
    let params = Params::require_form(&parts.headers, body)?;
    let credentials = client_credentials(&parts.headers, &params)?;
    let scope = params.scope()?;
    // A missing grant_type means a password login, for clients that predate it.
    let grant = params.map_grant();
    match grant {
        Some("password") | None => {
            let username = params.require("username", "username is required")?;
            let password = params.require("password", "password is required")?;
            let client = resolve(issuer, credentials, meta).await?;
            let issued = issuer
                .login_as(username, password, &scope, client.as_ref(), meta)
                .await?;
            response::token(issuer, &issued)
        }
        Some("refresh_token") => {
            let token = params.require("refresh_token", "refresh_token is required")?;
            let client = resolve(issuer, credentials, meta).await?;
            let issued = issuer
                .refresh_inner(token, &scope, client.as_ref(), meta)
                .await
                .map_err(|failure| failure.error)?;
            response::token(issuer, &issued)
        }
        Some("client_credentials") => {
            let ClientCredentials::Secret { id, secret } = credentials else {
                return Err(Error::InvalidClient("client authentication required"));
            };
            let client = issuer.authenticate_client(&id, &secret, meta).await?;
            let issued = issuer.client_credentials_for(&client, &scope, meta).await?;
            response::token(issuer, &issued)
        }
        Some(_) => Err(Error::UnsupportedGrantType),
    }
}

/// The client behind a request: none, a public client naming itself, or a
/// confidential client that authenticated.
pub(super) async fn resolve(
    issuer: &Issuer,
    credentials: ClientCredentials<'_>,
    meta: &RequestMeta,
) -> Result<Option<Client>, Error> {
    match credentials {
        ClientCredentials::None => Ok(None),
        ClientCredentials::Id(id) => issuer.public_client(id).await.map(Some),
        ClientCredentials::Secret { id, secret } => issuer
            .authenticate_client(&id, &secret, meta)
            .await
            .map(Some),
    }
}

impl Params {
    /// `grant_type`, distinguishing "absent" from "present but empty" (the latter is
    /// an unsupported grant, not a password login).
    fn map_grant(&self) -> Option<&str> {
        match self.get("grant_type") {
            Some(grant) => Some(grant),
            None if self.has("grant_type") => Some(""),
            None => None,
        }
    }
}
