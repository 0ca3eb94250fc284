//! tonic integration: the layer goes on a `tonic::transport::Server` with
//! `.layer(BearerAuthLayer::new(verifier))`, handlers read the claims from the
//! `tonic::Request` extensions, and [`RequireScopes`](crate::RequireScopes) wraps
//! one gRPC service at a time (it keeps the service's name for the router).
//!
//! ```
//! use std::convert::Infallible;
//! use std::task::{Context, Poll};
//!
//! use token_core::{Algorithm, Claims, NoExtra, SigningKey, Verifier};
//! use tonic::server::NamedService;
//! use tonic::transport::Server;
//! use tower_bearer::{BearerAuthLayer, RequestClaimsExt, RequireScopes};
//! use tower_layer::Layer;
//!
//! // In a handler: the claims the layer verified.
//! fn owner(request: &tonic::Request<()>) -> Result<String, tonic::Status> {
//!     let claims = request
//!         .claims::<NoExtra>()
//!         .ok_or_else(|| tonic::Status::unauthenticated("no token"))?;
//!     Ok(claims.sub.as_deref().unwrap_or_default().to_owned())
//! }
//!
//! // What tonic-build would generate for `service reports.Reports`, cut short.
//! #[derive(Clone)]
//! struct ReportsServer;
//! impl NamedService for ReportsServer {
//!     const NAME: &'static str = "reports.Reports";
//! }
//! impl tower_service::Service<http::Request<tonic::body::Body>> for ReportsServer {
//!     type Response = http::Response<tonic::body::Body>;
//!     type Error = Infallible;
//!     type Future = std::future::Ready<Result<Self::Response, Infallible>>;
//!     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
//!         Poll::Ready(Ok(()))
//!     }
//!     fn call(&mut self, _: http::Request<tonic::body::Body>) -> Self::Future {
//!         std::future::ready(Ok(tonic::Status::unimplemented("").into_http()))
//!     }
//! }
//!
//! let key = SigningKey::generate(Algorithm::ES256)?.into_signing_key();
//! let verifier = Verifier::builder(key).audience("reports").build()?;
//! let router = Server::builder()
//!     .layer(BearerAuthLayer::new(verifier))
//!     .add_service(RequireScopes::all(["reports:read"]).layer(ReportsServer));
//! // router.serve(addr).await?;
//! # let _ = router;
//!
//! let mut request = tonic::Request::new(());
//! request.extensions_mut().insert(Claims::for_subject("alice"));
//! assert_eq!(owner(&request)?, "alice");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use token_core::Claims;
use tonic::server::NamedService;

use crate::context::{Anonymous, RequestClaimsExt};
use crate::error::AuthError;
use crate::scopes::RequireScopesService;
use crate::service::BearerAuth;

impl<T> RequestClaimsExt for tonic::Request<T> {
    fn claims<E: Send + Sync + 'static>(&self) -> Option<&Claims<E>> {
        self.extensions().get::<Claims<E>>()
    }

    fn is_anonymous(&self) -> bool {
        self.extensions().get::<Anonymous>().is_some()
    }
}

impl<S: NamedService> NamedService for RequireScopesService<S> {
    const NAME: &'static str = S::NAME;
}

impl<S: NamedService, E> NamedService for BearerAuth<S, E> {
    const NAME: &'static str = S::NAME;
}

impl From<AuthError> for tonic::Status {
    /// The status the layer would answer with, for handlers that refuse on their
    /// own terms.
    fn from(error: AuthError) -> Self {
        let message = error.to_string();
        match error.grpc_code() {
            7 => tonic::Status::permission_denied(message),
            14 => tonic::Status::unavailable(message),
            _ => tonic::Status::unauthenticated(message),
        }
    }
}
