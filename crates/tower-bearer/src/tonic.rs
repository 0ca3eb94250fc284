//! tonic integration: the layer goes on a `tonic::transport::Server` with
//! `.layer(BearerAuthLayer::new(verifier))`, handlers read the claims from the
//! `tonic::Request` extensions, and [`RequireScopes`](crate::RequireScopes) wraps
//! one gRPC service at a time (it keeps the service's name for the router).
//!
//! ```ignore
//! Server::builder()
//!     .layer(BearerAuthLayer::new(verifier))
//!     .add_service(RequireScopes::all(["reports:read"]).layer(ReportsServer::new(svc)))
//!     .serve(addr)
//!     .await?;
//!
//! // in the handler:
//! let claims = request.claims::<NoExtra>().ok_or_else(|| Status::unauthenticated(""))?;
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
