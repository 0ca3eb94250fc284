//! Bearer-token authentication for any tower stack: hyper, axum, tonic.
//!
//! ```
//! use http::{Request, Response, StatusCode, header};
//! use token_core::{Algorithm, Claims, KeyRing, Minter, SigningKey, Verifier};
//! use tower::{ServiceExt, service_fn};
//! use tower_bearer::{BearerAuthLayer, RequestClaimsExt};
//! use tower_layer::Layer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ring = KeyRing::with_signing_key(SigningKey::generate(Algorithm::ES256)?.into_signing_key());
//! let minter = Minter::builder(ring.clone()).audience("api").build()?;
//! let verifier = Verifier::builder(ring).audience("api").build()?;
//!
//! // Your service reads the verified claims from the request extensions.
//! let hello = service_fn(|request: Request<String>| async move {
//!     let who = request.claims::<token_core::NoExtra>().and_then(|c| c.sub.clone());
//!     Ok::<_, std::convert::Infallible>(Response::new(format!("hello {}", who.unwrap_or_default())))
//! });
//! let service = BearerAuthLayer::new(verifier).layer(hello);
//!
//! let token = minter.mint(Claims::for_subject("alice"))?.token;
//! let request = Request::get("/")
//!     .header(header::AUTHORIZATION, format!("Bearer {token}"))
//!     .body(String::new())?;
//! let response = service.clone().oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//!
//! // No token: 401 with `WWW-Authenticate: Bearer realm="api"` and no error code.
//! let response = service.oneshot(Request::new(String::new())).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(response.headers()[header::WWW_AUTHENTICATE], r#"Bearer realm="api""#);
//! # Ok(())
//! # }
//! ```
//!
//! What the layer does, in order:
//!
//! 1. finds the token in the configured [`TokenSource`]s; credentials in two
//!    places, or two `Authorization` headers, are a 400 `invalid_request`;
//! 2. for a token from a cookie on an unsafe method, applies the [`CsrfPolicy`];
//! 3. verifies it: from the verified-token cache for asymmetric keys, otherwise
//!    with the [`Verifier`](token_core::Verifier) chosen by its issuer
//!    ([`MultiIssuer`]); never one verifier after another;
//! 4. optionally asks an [`EpochSource`](token_core::EpochSource) and a
//!    [`RevocationCheck`](token_core::RevocationCheck), with cached answers;
//! 5. puts the [`Claims`](token_core::Claims) into the request extensions and calls
//!    your service. [`RequireScopes`] behind it checks scopes per route.
//!
//! Refusals are answered in one place ([`response`] module): RFC 6750 section 3 for
//! HTTP, trailers-only `grpc-status` 16 or 7 for gRPC, replaceable with a
//! [`Responder`]. Nothing about tokens is logged; each request gets one
//! `bearer_auth` span (debug level) with its `outcome` and `reason`.
#![deny(missing_docs)]

mod body;
mod cache;
mod context;
mod csrf;
mod epoch;
mod error;
mod extract;
mod future;
mod layer;
mod multi;
pub mod response;
mod scopes;
mod service;

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "tonic")]
pub mod tonic;

pub use body::ResponseBody;
pub use cache::TokenCacheConfig;
pub use context::{Anonymous, RequestClaimsExt};
pub use csrf::CsrfPolicy;
pub use epoch::DEFAULT_STATUS_TTL;
pub use error::{AuthError, InvalidRequest, ScopeRequirement};
pub use extract::TokenSource;
pub use future::ResponseFuture;
pub use layer::{BearerAuthBuilder, BearerAuthLayer, DEFAULT_REALM};
pub use multi::{KeyRefresh, MultiIssuer, Verifiers};
pub use response::{Failure, Responder};
pub use scopes::{RequireScopes, RequireScopesService, ScopeFuture};
pub use service::BearerAuth;
