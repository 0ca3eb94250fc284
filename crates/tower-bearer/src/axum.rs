//! axum extractors: [`Claims<T>`] for handlers that need a verified token and
//! `Option<Claims<T>>` for handlers behind an optional layer.
//!
//! ```
//! use axum::{Router, routing::get};
//! use token_core::{Algorithm, SigningKey, Verifier};
//! use tower_bearer::{BearerAuthLayer, RequireScopes, axum::Claims};
//!
//! async fn me(Claims(claims): Claims) -> String {
//!     claims.sub.as_deref().unwrap_or_default().to_owned()
//! }
//!
//! async fn reports(Claims(claims): Claims) -> String {
//!     format!("reports for {}", claims.sub.unwrap_or_default())
//! }
//!
//! let key = SigningKey::generate(Algorithm::ES256)?.into_signing_key();
//! let verifier = Verifier::builder(key).audience("api").build()?;
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .route("/reports", get(reports).route_layer(RequireScopes::all(["reports:read"])))
//!     .layer(BearerAuthLayer::new(verifier));
//! # let _ = app;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ops::{Deref, DerefMut};

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use token_core::NoExtra;

use crate::context::answer_of;
use crate::error::AuthError;

/// The verified claims of the request's token. Extraction fails with the layer's
/// RFC 6750 answer (401, no error code) when the request has none: no layer in
/// front, or an optional layer let it through anonymously.
#[derive(Clone, Debug)]
pub struct Claims<E = NoExtra>(pub token_core::Claims<E>);

impl<E> Deref for Claims<E> {
    type Target = token_core::Claims<E>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<E> DerefMut for Claims<E> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// The answer when a handler needs claims the request does not have.
#[derive(Debug)]
pub struct MissingClaims(http::Response<Bytes>);

impl IntoResponse for MissingClaims {
    fn into_response(self) -> Response {
        self.0.map(axum::body::Body::from).into_response()
    }
}

impl<S, E> FromRequestParts<S> for Claims<E>
where
    S: Send + Sync,
    E: Clone + Send + Sync + 'static,
{
    type Rejection = MissingClaims;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, MissingClaims> {
        match parts.extensions.get::<token_core::Claims<E>>() {
            Some(claims) => Ok(Claims(claims.clone())),
            None => {
                let answer = answer_of(&parts.extensions);
                Err(MissingClaims(
                    answer.respond(&AuthError::MissingCredentials, &parts.headers),
                ))
            }
        }
    }
}

impl<S, E> OptionalFromRequestParts<S> for Claims<E>
where
    S: Send + Sync,
    E: Clone + Send + Sync + 'static,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<token_core::Claims<E>>()
            .cloned()
            .map(Claims))
    }
}
