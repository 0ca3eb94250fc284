//! The HTTP face of the issuer: one tower [`Service`] routing every endpoint.
//!
//! It is written against `http`, `http-body` and `tower-service` only, so it mounts
//! in axum (`Router::nest_service`), in plain hyper (through `hyper-util`'s
//! `TowerToHyperService`, or by calling it from a `service_fn`), or behind any tower
//! middleware.

mod introspect;
mod jwks;
mod logout;
mod refresh;
pub(crate) mod request;
pub(crate) mod response;
mod revoke;
mod sessions;
mod token;

use std::convert::Infallible;
use std::fmt;
use std::task::{Context, Poll};

use http::{Method, Request};
use http_body::Body;
use token_core::BoxFuture;
use tower_service::Service;

use crate::error::Error;
use crate::issuer::Issuer;
use request::{read_body, request_meta};
use response::HttpResponse;

pub use request::ClientAddr;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The issuer as a tower `Service`: `POST /token`, `POST /refresh`, `POST /logout`,
/// `POST /revoke`, `POST /introspect`, `GET /sessions`, `DELETE /sessions/{id}`,
/// `GET /.well-known/jwks.json`. Never fails as a service: every error is an HTTP
/// answer. Cloning is cheap.
#[derive(Clone)]
pub struct IssuerService {
    issuer: Issuer,
}

impl IssuerService {
    pub(crate) fn new(issuer: Issuer) -> Self {
        IssuerService { issuer }
    }
}

impl fmt::Debug for IssuerService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerService").finish_non_exhaustive()
    }
}

impl<B> Service<Request<B>> for IssuerService
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = HttpResponse;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<HttpResponse, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let issuer = self.issuer.clone();
        Box::pin(async move {
            Ok(route(issuer, request)
                .await
                .unwrap_or_else(Error::into_response))
        })
    }
}

/// Dispatches on the path below the mount point.
async fn route<B>(issuer: Issuer, request: Request<B>) -> Result<HttpResponse, Error>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let (parts, body) = request.into_parts();
    let config = &issuer.inner.config;
    let full = parts.uri.path();
    // Under axum's nest_service the prefix is already gone; under plain hyper it is
    // still there. Either way the remainder is the route.
    let path = match full.strip_prefix(config.mount_path.as_str()) {
        Some(rest)
            if !config.mount_path.is_empty() && (rest.is_empty() || rest.starts_with('/')) =>
        {
            rest
        }
        _ => full,
    };
    let meta = request_meta(&parts.headers, &parts.extensions, config);
    let post = |allowed: &'static str| {
        if parts.method == Method::POST {
            Ok(())
        } else {
            Err(Error::MethodNotAllowed(allowed))
        }
    };
    match path {
        "/token" | "/refresh" | "/logout" | "/revoke" | "/introspect" => {
            post("POST")?;
            let body = read_body(body, &parts.headers, config.max_body).await?;
            match path {
                "/token" => token::handle(&issuer, &parts, &body, &meta).await,
                "/refresh" => refresh::handle(&issuer, &parts, &body, &meta).await,
                "/logout" => logout::handle(&issuer, &parts, &body, &meta).await,
                "/revoke" => revoke::handle(&issuer, &parts, &body, &meta).await,
                _ => introspect::handle(&issuer, &parts, &body, &meta).await,
            }
        }
        "/sessions" => match parts.method {
            Method::GET => sessions::list(&issuer, &parts).await,
            _ => Err(Error::MethodNotAllowed("GET")),
        },
        "/.well-known/jwks.json" => match parts.method {
            Method::GET | Method::HEAD => jwks::handle(&issuer),
            _ => Err(Error::MethodNotAllowed("GET, HEAD")),
        },
        _ => match path.strip_prefix("/sessions/") {
            Some(id) if !id.is_empty() && !id.contains('/') => match parts.method {
                Method::DELETE => sessions::delete(&issuer, &parts, id).await,
                _ => Err(Error::MethodNotAllowed("DELETE")),
            },
            _ => Err(Error::NotFound),
        },
    }
}
