//! Verifier keys fetched from an issuer: a JWKS URL, or an issuer resolved through
//! OpenID Connect discovery or RFC 8414 metadata; refreshed before they go stale,
//! refetched on an unknown `kid` (rate-limited), swapped without locks.
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::Duration;
//!
//! use http::{Request, Response, StatusCode};
//! use remote_keys::{RemoteKeys, Source};
//! use token_core::{Algorithm, Claims, KeyRing, Minter, SigningKey};
//! use tower::{ServiceExt, service_fn};
//! use tower_layer::Layer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Somewhere else, an issuer signs tokens and publishes its public keys.
//! let issuer_keys = KeyRing::with_signing_key(SigningKey::generate(Algorithm::ES256)?.into_signing_key());
//! let minter = Minter::builder(issuer_keys.clone()).audience("api").build()?;
//! let jwks_url = serve_jwks(issuer_keys.to_jwks().to_json()).await?; // a loopback server
//!
//! // The verifier: keys from the issuer's JWKS, a layer that refetches on unknown kids.
//! let remote = RemoteKeys::builder(Source::jwks_url(jwks_url))
//!     .unknown_kid_cooldown(Duration::from_secs(30))
//!     .start() // the first fetch must succeed; `spawn()` would not wait
//!     .await?;
//! let layer = remote.layer(remote.verifier().audience("api").build()?);
//!
//! let api = layer.layer(service_fn(|_: Request<String>| async {
//!     Ok::<_, Infallible>(Response::new(String::from("hello")))
//! }));
//! let token = minter.mint(Claims::for_subject("alice"))?.token;
//! let request = Request::get("/reports")
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(String::new())?;
//! assert_eq!(api.oneshot(request).await?.status(), StatusCode::OK);
//! assert_eq!(remote.status().fetches, 1);
//! # Ok(())
//! # }
//! #
//! # /// Serves `body` at `/.well-known/jwks.json` on a loopback port.
//! # async fn serve_jwks(body: String) -> std::io::Result<String> {
//! #     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! #     let url = format!("http://{}/.well-known/jwks.json", listener.local_addr()?);
//! #     tokio::spawn(async move {
//! #         while let Ok((stream, _)) = listener.accept().await {
//! #             let body = body.clone();
//! #             let service = hyper::service::service_fn(move |_| {
//! #                 let body = bytes::Bytes::from(body.clone());
//! #                 async move {
//! #                     Ok::<_, Infallible>(Response::new(http_body_util::Full::new(body)))
//! #                 }
//! #             });
//! #             let io = hyper_util::rt::TokioIo::new(stream);
//! #             tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(io, service));
//! #         }
//! #     });
//! #     Ok(url)
//! # }
//! ```
//!
//! # How it behaves
//!
//! - **Sources.** [`Source::jwks_url`], or [`Source::discovery`]: the issuer's
//!   `/.well-known/openid-configuration`, else its RFC 8414
//!   `/.well-known/oauth-authorization-server` document, whose `issuer` must be
//!   the configured one and whose `jwks_uri` is then fetched. URLs must be `https`
//!   (plain `http` only to loopback, or with
//!   [`allow_http`](RemoteKeysBuilder::allow_http)).
//! - **Reads are lock-free**: verifiers hold the [`SharedKeyRing`](token_core::SharedKeyRing)
//!   of [`RemoteKeys::key_ring`], an atomically swapped snapshot; no verification
//!   ever waits for the network.
//! - **Freshness**: `Cache-Control: max-age` (less `Age`) clamped between a floor
//!   and a ceiling, a default without it; the background task refetches at 80 to
//!   90 % of it.
//! - **Unknown `kid`s**: the layer's [`Refresher`] refetches at most once per
//!   cooldown and joins a fetch in flight, so made-up `kid`s do not reach the
//!   issuer. After a refetch, a still unknown `kid` is 401 `invalid_token`.
//! - **Failures**: a fetch that fails, times out, or brings a malformed document or
//!   one without usable keys keeps the last good keys, for at most
//!   [`stale_for`](RemoteKeysBuilder::stale_for) past their freshness; no keys at
//!   all (never fetched, or past that bound) is 503.
//! - **Keys not for signatures are skipped**, each logged at debug with its `kid`
//!   and the reason: `use: enc`, `key_ops` without `verify`, unsupported
//!   `kty`/`alg`/curve, RSA under 2048 bits, duplicate `kid`s, and keys no verifier
//!   should take from a URL (symmetric `oct` keys, keys with private members).
//! - **The HTTP client** is an [`HttpGet`]; [`HyperClient`] (hyper, rustls with
//!   *ring*, Mozilla's roots) is the default. The timeout applies whatever the
//!   client.
//! - **Stopping**: [`RemoteKeys::handle`] gives a [`RefreshHandle`]; dropping every
//!   `RemoteKeys` clone and refresher stops the background task too.
//!
//! token-core stays free of I/O: this crate does the fetching and hands token-core
//! a [`KeyRing`](token_core::KeyRing) to swap in.
#![deny(missing_docs)]

mod cache_control;
mod document;
mod error;
mod fetch;
mod refresh;
mod remote;
mod source;
mod time;

pub use error::{Error, HttpError};
pub use fetch::{GetRequest, HttpGet, HyperClient};
pub use refresh::{RefreshByIssuer, Refresher};
pub use remote::{
    DEFAULT_MAX_DOCUMENT_BYTES, DEFAULT_MAX_REFRESH, DEFAULT_MIN_REFRESH, DEFAULT_REFRESH,
    DEFAULT_STALE_FOR, DEFAULT_TIMEOUT, DEFAULT_UNKNOWN_KID_COOLDOWN, RefreshHandle, RemoteKeys,
    RemoteKeysBuilder, Status,
};
pub use source::{OAUTH_WELL_KNOWN, OIDC_WELL_KNOWN, Source};
