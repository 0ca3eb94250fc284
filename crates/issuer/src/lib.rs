//! Issue bearer tokens from a tower `Service`: password login, rotating refresh
//! tokens with theft detection, token-version epochs, scopes, logout, client
//! credentials, revocation, introspection and the JWKS.
//!
//! ```
//! use std::time::Duration;
//! use issuer::{Issuer, RefreshTransport, RequestMeta};
//! use token_core::{Algorithm, Scopes, SigningKey};
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let issuer = Issuer::builder()
//!     .signing_key(SigningKey::generate(Algorithm::EdDSA)?.into_signing_key())
//!     .issuer_url("https://auth.example")
//!     .audience("api")
//!     .access_ttl(Duration::from_secs(900))
//!     .transport(RefreshTransport::Body)
//!     # .password_policy(issuer::PasswordPolicy::INSECURE_FAST)
//!     .build()?;
//! issuer.add_user("alice", "correct horse", "reports:read".parse()?).await?;
//!
//! // What `POST /token` does with `grant_type=password`:
//! let meta = RequestMeta::default();
//! let login = issuer.login("alice", "correct horse", &Scopes::empty(), None, &meta).await?;
//! let refresh = login.refresh.as_ref().expect("password logins get a refresh token");
//!
//! // The access token verifies like any other; its `ver` and `sid` tie it to the session.
//! let claims = issuer.verifier().verify(&login.access_token)?;
//! assert_eq!(claims.sid.as_deref(), Some(refresh.session_id.as_str()));
//!
//! // Refreshing rotates: the old refresh token is now spent.
//! let next = issuer.refresh(refresh.token.expose(), &Scopes::empty(), &meta).await?;
//! assert_ne!(next.refresh.unwrap().token, refresh.token);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Mount the endpoints with `Router::new().nest_service("/auth", issuer.service())`
//! in axum, or under any prefix in hyper (set
//! [`IssuerBuilder::mount_path`] so the refresh cookie's `Path` matches). In plain
//! hyper, put the peer address in the request's extensions as a [`ClientAddr`] so
//! throttling and audit see it:
//!
//! ```no_run
//! use hyper::service::service_fn;
//! use hyper_util::rt::TokioIo;
//! use issuer::{ClientAddr, Issuer};
//! use tower_service::Service;
//!
//! async fn serve(issuer: Issuer) -> std::io::Result<()> {
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//!     loop {
//!         let (stream, peer) = listener.accept().await?;
//!         let service = issuer.service();
//!         tokio::spawn(async move {
//!             let svc = service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
//!                 request.extensions_mut().insert(ClientAddr(peer));
//!                 // Anything outside /auth would be routed elsewhere here.
//!                 service.clone().call(request)
//!             });
//!             let _ = hyper::server::conn::http1::Builder::new()
//!                 .serve_connection(TokioIo::new(stream), svc)
//!                 .await;
//!         });
//!     }
//! }
//! ```
//!
//! # How refresh works
//!
//! Every login starts a session *family* (one row: [`Family`]). Its refresh token is
//! `rt1.<family>.<generation>.<mac>` with `mac = HMAC-SHA256(refresh key,
//! family | generation | family_salt)`. A refresh is one compare-and-swap on the row
//! ([`SessionStore::rotate`]): the current generation rotates; the previous one,
//! replayed within the grace interval, gets the same current token again (tabs
//! refreshing at once never fork the family); any other replay revokes the family and
//! emits [`AuditKind::ReuseDetected`]. Idle and absolute lifetimes bound every family;
//! rotation never extends the absolute one.
//!
//! # Epochs
//!
//! Every access token carries `ver`, the user's token version. [`Issuer::bump_token_version`]
//! (a password reset) kills every earlier access token at layers that consult
//! [`Issuer::epoch_source`], and every refresh family of the user.
//!
//! # Stores
//!
//! [`UserStore`], [`ClientStore`], [`SessionStore`] and [`ThrottleStore`] are async,
//! object-safe traits; the memory implementations are always here, and the
//! `conformance` feature exposes the suite every backend must pass. Persistent
//! backends are cargo features: `sqlite`, `postgres` and `redis`;
//! [`store::open`] makes every store from one URL and
//! [`IssuerBuilder::stores`] hands them to the issuer (see [`store`] for which URL
//! keeps what, and how several instances share one store).
#![deny(missing_docs)]

mod admin;
mod audit;
mod builder;
mod client;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod epoch;
mod error;
mod family;
mod grant;
mod issuer;
mod keys;
mod password;
mod refresh_token;
mod service;
pub mod store;
mod throttle;
mod transport;
mod user;

pub use admin::{AdminError, Purged};
pub use audit::{AuditEvent, AuditKind, AuditSink, MemoryAuditSink, TracingAuditSink};
pub use builder::{BuildError, IssuerBuilder};
pub use client::{Client, ClientKind, ClientSecret, SecretHash};
pub use error::Error;
pub use family::{
    DeadFamily, Family, FamilySalt, Revocation, RevokeReason, RotateOutcome, RotateRequest,
};
pub use grant::{Issued, IssuedRefresh, LogoutScope};
pub use issuer::{Issuer, RequestMeta};
pub use keys::{KeyRotationError, RotatedKeys};
pub use password::{
    HashPriority, MAX_PASSWORD_LEN, PasswordError, PasswordHash, PasswordPolicy, hash_password,
};
pub use refresh_token::{RefreshKey, RefreshKeyError, RefreshToken};
pub use service::{ClientAddr, IssuerService};
pub use store::{ClientStore, SessionStore, StoreError, StoreFuture, ThrottleStore, UserStore};
pub use throttle::{LockoutPolicy, RateLimit, ThrottleEntry, ThrottlePolicy};
pub use transport::RefreshTransport;
pub use user::{User, normalize_login};
